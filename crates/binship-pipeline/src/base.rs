//! Bases under the binary: [`BaseSpec`] names one (`scratch`, `static`, `rootfs:PATH`,
//! `oci:DIR[:TAG]`, `oci-archive:FILE`, `docker-archive:FILE`); [`import`] turns it into layers,
//! a merged view of its files (distro, passwd), and the base image's config. Foreign bases are
//! never trusted: every member of every layer is checked before anything is written, and image
//! blobs must match their digests.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use binship_image::bases::{self, Input, StaticOptions};
use binship_image::config::{BaseConfig, BlobLayer, Layer};
use binship_image::import::{self, detect_distro, Distro, Limits, View, ViewEntry};
use binship_image::validate::ImageReader;
use binship_image::{EntryKind, Rootfs};
use binship_sink::Format;

/// Why a base could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaseError {
    /// The base could not be read: the operating system failed a read (a disk error, a
    /// directory where a file is needed). Exit class: other (1).
    #[error("{0}")]
    Io(String),
    /// The base is refused: not found, malformed, hostile or not what it claims. Exit class:
    /// usage / bad input (2).
    #[error("{0}")]
    Invalid(String),
}

impl From<import::ImportError> for BaseError {
    fn from(e: import::ImportError) -> BaseError {
        if e.io {
            BaseError::Io(e.to_string())
        } else {
            BaseError::Invalid(e.to_string())
        }
    }
}

impl From<String> for BaseError {
    fn from(m: String) -> BaseError {
        BaseError::Invalid(m)
    }
}

/// A failed read of `path` (named by `label`): not found is bad input, anything else I/O.
fn read_error(label: &str, e: std::io::Error) -> BaseError {
    let m = format!("reading {label}: {e}");
    if e.kind() == std::io::ErrorKind::NotFound {
        BaseError::Invalid(m)
    } else {
        BaseError::Io(m)
    }
}

/// Which base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseSpec {
    Scratch,
    Static,
    /// A rootfs tarball (any of none/gzip/xz/zstd, by magic) or a directory.
    Rootfs(PathBuf),
    /// An image: format (oci, oci-archive, docker-archive), path, optional tag.
    Image {
        format: Format,
        path: PathBuf,
        tag: Option<String>,
    },
}

impl BaseSpec {
    /// Parses a `--base` value: scratch, static, rootfs:PATH, oci:DIR[:TAG],
    /// oci-archive:FILE or docker-archive:FILE (the image transports as skopeo names them).
    ///
    /// # Errors
    /// [`BaseError::Invalid`] naming the value.
    pub fn parse(s: &str) -> Result<BaseSpec, BaseError> {
        let bad = |m: String| BaseError::Invalid(m);
        match s {
            "scratch" => return Ok(BaseSpec::Scratch),
            "static" => return Ok(BaseSpec::Static),
            _ => {}
        }
        let (kind, rest) = s.split_once(':').ok_or_else(|| {
            bad(format!("unknown base `{s}` (expected scratch, static, rootfs:PATH, oci:DIR[:TAG], oci-archive:FILE or docker-archive:FILE)"))
        })?;
        if rest.is_empty() {
            return Err(bad(format!("base `{s}` names no path")));
        }
        let format = match kind {
            "rootfs" => return Ok(BaseSpec::Rootfs(rest.into())),
            "oci" => Format::Oci,
            "oci-archive" => Format::OciArchive,
            "docker-archive" => Format::DockerArchive,
            other => return Err(bad(format!("unknown base kind `{other}:` (expected rootfs:, oci:, oci-archive: or docker-archive:)"))),
        };
        let (path, tag) = match rest.rsplit_once(':') {
            Some((p, t)) if !t.contains('/') && !Path::new(rest).exists() => {
                (p.to_string(), Some(t.to_string()))
            }
            _ => (rest.to_string(), None),
        };
        Ok(BaseSpec::Image {
            format,
            path: path.into(),
            tag,
        })
    }

    pub fn is_builtin(&self) -> bool {
        matches!(self, BaseSpec::Scratch | BaseSpec::Static)
    }
}

/// A base ready to go under the binary.
pub struct ImportedBase {
    /// For the default output dir and messages: scratch, static, or the distro id.
    pub name: String,
    /// The base by its content, for the `io.binship.base` label: `scratch`, `static`,
    /// `rootfs@sha256:HEX` (a tarball's bytes, or a directory's tree: every path, type, mode,
    /// owner, link target and content) or `image@sha256:HEX` (its config digest, the same in
    /// every medium). Never a host path.
    pub id: String,
    pub layers: Vec<Layer>,
    pub view: View,
    pub distro: Option<Distro>,
    pub config: Option<BaseConfig>,
    pub inputs: Vec<Input>,
}

/// What the view holds of a rootfs built in memory or from a directory.
fn view_of(r: &Rootfs) -> View {
    let mut v = View::default();
    for (p, e) in r.entries() {
        let entry = match &e.kind {
            EntryKind::Dir => ViewEntry::Dir,
            EntryKind::Bytes(b) => ViewEntry::File(Some(b.clone())),
            EntryKind::HostFile { path, size } => {
                let keep = import::keeps(p);
                let content = (keep && *size <= 1 << 20)
                    .then(|| read_nofollow(path))
                    .flatten();
                ViewEntry::File(content)
            }
            EntryKind::Symlink(t) => ViewEntry::Symlink(t.clone()),
            EntryKind::Hardlink(_) => ViewEntry::File(None),
            _ => ViewEntry::Other,
        };
        v.entries.insert(p.clone(), entry);
    }
    v
}

fn read_nofollow(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    let mut v = Vec::new();
    f.read_to_end(&mut v).ok()?;
    Some(v)
}

/// Imports a base; `label` names it in errors ("base rootfs:alpine.tar.gz").
pub fn import(
    spec: &BaseSpec,
    opts: &StaticOptions,
    limits: &Limits,
) -> Result<ImportedBase, BaseError> {
    let label = match spec {
        BaseSpec::Scratch => "base scratch".to_string(),
        BaseSpec::Static => "base static".to_string(),
        BaseSpec::Rootfs(p) => format!("base {}", p.display()),
        BaseSpec::Image { format, path, .. } => format!("base {format}:{}", path.display()),
    };
    match spec {
        BaseSpec::Scratch => Ok(ImportedBase {
            name: "scratch".into(),
            id: "scratch".into(),
            layers: vec![],
            view: View::default(),
            distro: None,
            config: None,
            inputs: vec![],
        }),
        BaseSpec::Static => {
            let (r, inputs) = bases::static_base(opts).map_err(|e| match &e {
                binship_image::ImageError::Io { source, .. }
                    if source.kind() != std::io::ErrorKind::NotFound =>
                {
                    BaseError::Io(e.to_string())
                }
                _ => BaseError::Invalid(e.to_string()),
            })?;
            let view = view_of(&r);
            Ok(ImportedBase {
                name: "static".into(),
                id: "static".into(),
                layers: vec![Layer::Rootfs(r)],
                view,
                distro: None,
                config: None,
                inputs,
            })
        }
        BaseSpec::Rootfs(path) => {
            let meta = std::fs::metadata(path).map_err(|e| read_error(&label, e))?;
            if meta.is_dir() {
                let r = import::import_dir(path, &label)?;
                let view = view_of(&r);
                let distro = detect_distro(&view);
                let tree = tree_digest(&r).map_err(|e| read_error(&label, e))?;
                return Ok(ImportedBase {
                    name: distro_dir_name(&distro, "rootfs"),
                    id: format!("rootfs@sha256:{tree}"),
                    layers: vec![Layer::Rootfs(r)],
                    view,
                    distro: Some(distro),
                    config: None,
                    inputs: vec![Input {
                        role: "base".into(),
                        path: path.clone(),
                        sha256: tree,
                    }],
                });
            }
            let mut view = View::default();
            let f = std::fs::File::open(path).map_err(|e| read_error(&label, e))?;
            let scanned = import::scan_tar(f, &label, &mut view, limits)?;
            let p = path.clone();
            let blob = BlobLayer {
                open: Arc::new(move || {
                    Ok(Box::new(std::fs::File::open(&p)?) as Box<dyn std::io::Read + Send>)
                }),
                compression: scanned.compression,
                digest: scanned.digest.clone(),
                size: scanned.size,
                diff_id: scanned.diff_id.clone(),
                uncompressed_size: scanned.uncompressed_size,
            };
            let distro = detect_distro(&view);
            Ok(ImportedBase {
                name: distro_dir_name(&distro, "rootfs"),
                id: format!("rootfs@{}", scanned.digest),
                layers: vec![Layer::Blob(blob)],
                view,
                distro: Some(distro),
                config: None,
                inputs: vec![Input {
                    role: "base".into(),
                    path: path.clone(),
                    sha256: scanned.digest.trim_start_matches("sha256:").into(),
                }],
            })
        }
        BaseSpec::Image { format, path, tag } => {
            let sink = format.sink();
            if !path.exists() {
                return Err(BaseError::Invalid(format!("reading {label}: not found")));
            }
            if *format != Format::Oci {
                // An archive: a read that the OS refuses (a directory, a disk error) is I/O.
                use std::io::Read;
                std::fs::File::open(path)
                    .and_then(|mut f| f.read(&mut [0u8; 1]))
                    .map_err(|e| read_error(&label, e))?;
            }
            let reader: Arc<dyn ImageReader> =
                Arc::from(sink.open(path).map_err(|e| e.to_string())?);
            let images = reader.images().map_err(|e| e.to_string())?;
            let img = match tag {
                Some(t) => images
                    .into_iter()
                    .find(|i| {
                        i.tags
                            .iter()
                            .any(|x| x == t || x.rsplit(':').next() == Some(t.as_str()))
                    })
                    .ok_or_else(|| format!("{label}: no image tagged {t}"))?,
                None if images.len() == 1 => images.into_iter().next().expect("one"),
                None => {
                    let tags: Vec<String> = images.iter().flat_map(|i| i.tags.clone()).collect();
                    return Err(BaseError::Invalid(format!(
                        "{label} holds {} images ({}); name one as {format}:PATH:TAG",
                        images.len(),
                        tags.join(", ")
                    )));
                }
            };
            let actual = binship_oci::digest_string(&img.config);
            let config_digest = actual.clone();
            if actual != img.config_digest {
                return Err(BaseError::Invalid(format!(
                    "reading {label}: config is {actual}, but {} is claimed",
                    img.config_digest
                )));
            }
            let config: serde_json::Value = serde_json::from_slice(&img.config)
                .map_err(|e| format!("reading {label}: config is not JSON: {e}"))?;
            let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            if diff_ids.len() != img.layers.len() {
                return Err(BaseError::Invalid(format!(
                    "reading {label}: {} diff_ids for {} layers",
                    diff_ids.len(),
                    img.layers.len()
                )));
            }
            let mut view = View::default();
            let mut layers = Vec::new();
            for (l, want) in img.layers.iter().zip(&diff_ids) {
                let what = format!("{label} layer {}", l.digest.as_deref().unwrap_or(&l.key));
                let raw = reader.open_layer(l).map_err(|e| e.to_string())?;
                let s = import::scan_tar(raw, &what, &mut view, limits)?;
                if let Some(d) = &l.digest {
                    if &s.digest != d {
                        return Err(BaseError::Invalid(format!(
                            "reading {what}: content is {}, the manifest says {d}",
                            s.digest
                        )));
                    }
                }
                if &s.diff_id != want {
                    return Err(BaseError::Invalid(format!(
                        "reading {what}: diff_id is {}, the config says {want}",
                        s.diff_id
                    )));
                }
                let (r, lr) = (reader.clone(), l.clone());
                layers.push(Layer::Blob(BlobLayer {
                    open: Arc::new(move || {
                        r.open_layer(&lr)
                            .map_err(|e| std::io::Error::other(e.to_string()))
                    }),
                    compression: s.compression,
                    digest: s.digest,
                    size: s.size,
                    diff_id: s.diff_id,
                    uncompressed_size: s.uncompressed_size,
                }));
            }
            let distro = detect_distro(&view);
            let input = binship_oci::sha256_file(path)
                .map(|(d, _)| d.hex().to_string())
                .unwrap_or_else(|_| "directory".into());
            Ok(ImportedBase {
                name: distro_dir_name(&distro, "image"),
                id: format!("image@{config_digest}"),
                config: Some(BaseConfig {
                    config,
                    layers: layers.len(),
                }),
                layers,
                view,
                distro: Some(distro),
                inputs: vec![Input {
                    role: "base".into(),
                    path: path.clone(),
                    sha256: input,
                }],
            })
        }
    }
}

/// A directory tree's content digest (hex sha256): for every entry in path order, its path,
/// type, mode, owner and link target or content digest.
fn tree_digest(r: &Rootfs) -> std::io::Result<String> {
    use sha2::{Digest as _, Sha256};
    let mut h = Sha256::new();
    for (p, e) in r.entries() {
        let what = match &e.kind {
            EntryKind::Dir => "dir".to_string(),
            EntryKind::Bytes(b) => format!("file {}", binship_oci::digest_string(b)),
            EntryKind::HostFile { path, .. } => {
                let (d, _) = binship_oci::sha256_file(path)?;
                format!("file {}", String::from(d))
            }
            EntryKind::Symlink(t) => format!("symlink {t}"),
            EntryKind::Hardlink(t) => format!("hardlink {t}"),
            other => format!("{other:?}"),
        };
        h.update(format!("{p}\0{:o} {}:{} {what}\n", e.mode, e.uid, e.gid));
    }
    Ok(hex::encode(h.finalize()))
}

fn distro_dir_name(d: &Distro, fallback: &str) -> String {
    if d.id == "other" {
        fallback.into()
    } else {
        d.id.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_specs_parse() {
        assert_eq!(BaseSpec::parse("static").unwrap(), BaseSpec::Static);
        assert_eq!(
            BaseSpec::parse("rootfs:/x/alpine.tar.gz").unwrap(),
            BaseSpec::Rootfs("/x/alpine.tar.gz".into())
        );
        assert_eq!(
            BaseSpec::parse("oci:/nonexistent/layout:v.1").unwrap(),
            BaseSpec::Image {
                format: Format::Oci,
                path: "/nonexistent/layout".into(),
                tag: Some("v.1".into())
            }
        );
        assert!(BaseSpec::parse("ubuntu")
            .unwrap_err()
            .to_string()
            .contains("unknown base `ubuntu`"));
        assert!(BaseSpec::parse("rootfs:").is_err());
        assert!(BaseSpec::parse("qcow:x").is_err());
    }
}
