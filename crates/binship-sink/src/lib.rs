//! Sinks: each medium is a module with `write` and `open` (a reader the shared validator
//! checks). [`Sink`] is the common face; [`Format`] names each medium, states its rules and
//! picks its sink; [`Destination`] is where an image goes (a file a sink writes, or a registry).
//! Adding a format adds a module here and an arm to [`Format`], and touches
//! neither the builders nor the image model.

mod destination;
pub mod docker_archive;
mod format;
pub mod incus;
pub mod layer_cached;
pub mod lxc;
pub mod oci_archive;
pub mod oci_layout;
mod tarfile;

use std::path::{Path, PathBuf};

use binship_image::validate::{ImageReader, ValidationError};
use binship_image::{Compression, ImageError, ImageSpec, LayerDescriptor};
use serde::Serialize;

pub use destination::{Destination, DestinationError, Repository};
pub use format::{Format, UnknownFormat};

/// Typed errors of writing or opening a medium; each names the path.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Refused { path: PathBuf, message: String },
    /// No such image: a layout without `index.json`, or without the tag asked for.
    #[error("{path}: {message}")]
    NotFound { path: PathBuf, message: String },
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

pub(crate) fn io(context: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SinkError {
    let path = path.to_path_buf();
    move |source| SinkError::Io {
        context,
        path,
        source,
    }
}

/// What to write.
pub struct WriteRequest<'a> {
    pub spec: &'a ImageSpec,
    /// The same image for other platforms: OCI formats write an image index of `spec` and
    /// these; the others refuse them.
    pub others: &'a [ImageSpec],
    /// "go-id:v.1"
    pub tag: &'a str,
    pub compression: Compression,
    /// Where it goes; an existing output is kept when it holds the same bytes and replaced
    /// otherwise ([`Previous`]).
    pub out: &'a Path,
    /// Annotations for the manifest (OCI) — labels already live in the config.
    pub annotations: std::collections::BTreeMap<String, String>,
    /// For system-container formats (LXC, Incus): what the image is.
    pub system: Option<SystemImage>,
}

/// What LXC and Incus metadata say about a system container image.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SystemImage {
    /// The app, whose service and env file (`/etc/<app>/<app>.env`) the image holds.
    pub app: String,
    /// Distro id (alpine, debian, ubuntu, ...).
    pub distro: String,
    pub release: String,
    pub description: String,
    /// The alias the seed launches it by (`go-id-alpine`).
    pub alias: String,
    /// YYYYMMDD_HHMM from the image's fixed time.
    pub serial: String,
    /// Incus two-file form (metadata tarball + rootfs tarball) instead of one unified tarball.
    pub split: bool,
    /// xz preset for the rootfs (0-9).
    pub xz_preset: u32,
}

/// LXC/Incus architecture names.
pub fn lxc_arch(oci: &str) -> Option<&'static str> {
    match oci {
        "amd64" => Some("x86_64"),
        "arm64" => Some("aarch64"),
        "386" => Some("i686"),
        "arm" => Some("armv7l"),
        "riscv64" => Some("riscv64"),
        "ppc64le" => Some("ppc64le"),
        "s390x" => Some("s390x"),
        _ => None,
    }
}

/// Refuses other platforms for a medium that holds one image.
pub(crate) fn single_platform(req: &WriteRequest, format: Format) -> Result<(), SinkError> {
    if req.others.is_empty() {
        return Ok(());
    }
    Err(SinkError::Refused {
        path: req.out.into(),
        message: format!(
            "{format} holds one platform; choose one with --platform (or use oci / oci-archive for an index)"
        ),
    })
}

/// What an output path held before a write replaced or kept it. One rule for every format
/// (as ko and docker overwrite): an output that already holds exactly the bytes written is kept
/// as it is, and one that holds other bytes is replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Previous {
    /// It already held exactly this output: nothing was replaced.
    pub unchanged: bool,
    /// What it held: `sha256:<hex>` of the file (an LXC dir: of its rootfs.tar.xz; an Incus
    /// split dir: of the lines `<sha256>  <name>` of its files, sorted by name; an OCI layout:
    /// the manifest digest of the tag).
    pub digest: String,
}

/// `sha256:<hex>` of a file, or of a dir as [`Previous::digest`] describes.
fn digest_of(path: &Path) -> Result<String, SinkError> {
    if path.is_dir() {
        let mut lines = Vec::new();
        let mut names: Vec<_> = std::fs::read_dir(path)
            .map_err(io("reading", path))?
            .flatten()
            .map(|e| e.path())
            .collect();
        names.sort();
        for n in names {
            let d = digest_of(&n)?;
            let name = n
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            lines.push(format!("{}  {name}\n", d.trim_start_matches("sha256:")));
        }
        return Ok(binship_oci::Digest::of(lines.concat().as_bytes()).to_string());
    }
    binship_oci::digest::sha256_file(path)
        .map(|(d, _)| d.to_string())
        .map_err(io("reading", path))
}

/// Puts the finished temp file or dir `tmp` at `out` by the rule of [`Previous`]: kept when
/// `out` holds the same bytes (the temp is removed), replaced otherwise; `None` when `out` was
/// new.
pub(crate) fn put(tmp: TempPath, out: &Path) -> Result<Option<Previous>, SinkError> {
    if std::fs::symlink_metadata(out).is_err() {
        tmp.persist(out)?;
        return Ok(None);
    }
    let old = digest_of(out)?;
    if digest_of(&tmp.0)? == old {
        return Ok(Some(Previous {
            unchanged: true,
            digest: old,
        }));
    }
    let away = TempPath::beside(out);
    std::fs::rename(out, &away.0).map_err(io("moving away", out))?;
    tmp.persist(out)?;
    drop(away);
    Ok(Some(Previous {
        unchanged: false,
        digest: old,
    }))
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    pub format: Format,
    pub path: PathBuf,
    pub tag: String,
    /// The manifest digest (OCI formats).
    pub manifest_digest: Option<String>,
    /// The config digest (docker's image id).
    pub config_digest: String,
    pub layers: Vec<LayerDescriptor>,
    /// Bytes of the output on disk (for a layout dir, of the blobs this image uses + index).
    pub bytes: u64,
    /// Flat formats (LXC, Incus): bytes of the root filesystem tar before compression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flat_bytes: Option<u64>,
    /// OCI layout: the image as a registry takes it (its manifests as written, and the blobs
    /// each names), so a push needs no second reading of the layout.
    #[serde(skip)]
    pub pushable: Option<Pushable>,
    /// What the output held before (`None`: it was new).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<Previous>,
}

/// A written OCI image as the distribution spec pushes it ("Pushing blobs", then "Pushing
/// manifests"): the top manifest (an image manifest, or an image index whose platform
/// manifests are `children`) and the blobs it names, in the layout at [`Written::path`]
/// (`blobs/sha256/<hex>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pushable {
    /// The manifest's bytes, exactly as written (its digest is the image's).
    pub manifest: Vec<u8>,
    pub digest: String,
    pub media_type: String,
    /// The config and layers this manifest names: (digest, size). Empty for an index.
    pub blobs: Vec<(String, u64)>,
    /// An index's platform manifests.
    pub children: Vec<Pushable>,
}

/// A medium images are written to and read back from.
pub trait Sink {
    /// The format this sink writes (whose rules [`Format`] states).
    fn format(&self) -> Format;
    fn write(&self, req: &WriteRequest) -> Result<Written, SinkError>;
    fn open(&self, path: &Path) -> Result<Box<dyn ImageReader>, SinkError>;
}

/// The sink for a format name (`None` for a name [`Format`] does not know).
pub fn sink_for(format: &str) -> Option<Box<dyn Sink>> {
    format.parse::<Format>().ok().map(Format::sink)
}

/// Refuses a file output that is a directory, and a missing parent dir.
pub(crate) fn check_file_output(out: &Path) -> Result<(), SinkError> {
    if out.is_dir() {
        return Err(SinkError::Refused {
            path: out.into(),
            message: "is a directory".into(),
        });
    }
    require_parent(out)
}

/// Refuses an output whose parent directory does not exist (nothing is created for it).
pub(crate) fn require_parent(out: &Path) -> Result<(), SinkError> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(SinkError::Refused {
            path: out.into(),
            message: format!("directory {} does not exist", parent.display()),
        });
    }
    Ok(())
}

/// A temp path beside `out` (same filesystem, so rename is atomic), removed on drop.
pub(crate) struct TempPath(pub PathBuf);

impl TempPath {
    pub fn beside(out: &Path) -> TempPath {
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        sweep_dead(out.parent().unwrap_or(Path::new(".")));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        TempPath(out.with_file_name(format!(
            ".{name}.binship-tmp-{}-{nanos}",
            std::process::id()
        )))
    }
    /// Renames into place; the temp path is then gone.
    pub fn persist(mut self, to: &Path) -> Result<(), SinkError> {
        std::fs::rename(&self.0, to).map_err(io("renaming into", to))?;
        self.0 = PathBuf::new();
        Ok(())
    }
}

/// Removes temp files and dirs (`.<name>.binship-tmp-<pid>-<nanos>`) of binship processes that
/// were killed before they could rename or remove them.
fn sweep_dead(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((_, rest)) = name.split_once(".binship-tmp-") else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let alive = pid > 0
            && (unsafe { libc::kill(pid, 0) } == 0
                || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM));
        if !alive {
            let _ = std::fs::remove_file(e.path());
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.0);
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lxc_architectures() {
        assert_eq!(super::lxc_arch("amd64"), Some("x86_64"));
        assert_eq!(super::lxc_arch("arm64"), Some("aarch64"));
        assert_eq!(super::lxc_arch("mips64"), None);
        assert!(super::incus::check_alias("go-id-alpine").is_ok());
        for bad in ["", "a/b", "a:b", ".x", "a b"] {
            assert!(super::incus::check_alias(bad).is_err(), "{bad}");
        }
    }
}
