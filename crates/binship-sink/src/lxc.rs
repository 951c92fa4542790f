//! LXC images: the pair `lxc-create -t local -- --metadata meta.tar.xz --fstree rootfs.tar.xz`
//! takes, written into a directory (`images/lxc/<app>-<base>/`). `rootfs.tar.xz` is the
//! flattened root filesystem; `meta.tar.xz` holds `config` (lxc.arch and the distro's common
//! include), `expiry`, `create-message` and `excludes`. Both xz, multi-threaded with fixed blocks.

use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};

use binship_image::flat::{write_flat, xz_writer};
use binship_image::validate::{ImageReader, LayerRef, OpenedImage, ValidationError};
use binship_image::Compression;

use crate::tarfile;
use crate::{io, lxc_arch, Sink, SinkError, TempPath, WriteRequest, Written};

pub struct Lxc;

/// The distro's common config that `LXC_TEMPLATE_CONFIG` (`/usr/share/lxc/config`) holds,
/// by os-release `ID`: every distro LXC ships a `<name>.common.conf` for (LXC 5), with the IDs
/// whose file is named otherwise (arch, ol, opensuse-*, void); `common.conf` for the rest.
pub fn common_include(distro: &str) -> &'static str {
    match distro {
        "alpine" => "alpine.common.conf",
        "arch" | "archlinux" => "archlinux.common.conf",
        "centos" | "rhel" | "rocky" | "almalinux" => "centos.common.conf",
        "debian" | "raspbian" => "debian.common.conf",
        "devuan" => "devuan.common.conf",
        "fedora" => "fedora.common.conf",
        "gentoo" => "gentoo.common.conf",
        "kali" => "kali.common.conf",
        "ol" | "oracle" => "oracle.common.conf",
        "opensuse" | "opensuse-leap" | "opensuse-tumbleweed" | "sles" => "opensuse.common.conf",
        "openwrt" => "openwrt.common.conf",
        "plamo" => "plamo.common.conf",
        "sabayon" => "sabayon.common.conf",
        "slackware" => "slackware.common.conf",
        "ubuntu" => "ubuntu.common.conf",
        "void" | "voidlinux" => "voidlinux.common.conf",
        _ => "common.conf",
    }
}

/// The os-release IDs [`common_include`] maps to a distro's own file.
pub const DISTROS_WITH_CONFIG: &[&str] = &[
    "alpine",
    "arch",
    "archlinux",
    "centos",
    "rhel",
    "rocky",
    "almalinux",
    "debian",
    "raspbian",
    "devuan",
    "fedora",
    "gentoo",
    "kali",
    "ol",
    "oracle",
    "opensuse",
    "opensuse-leap",
    "opensuse-tumbleweed",
    "sles",
    "openwrt",
    "plamo",
    "sabayon",
    "slackware",
    "ubuntu",
    "void",
    "voidlinux",
];

/// The root filesystem's encoder: xz (the preset of `req.system`), or zstd where the format
/// takes it (Incus); both multi-threaded with fixed blocks, so the bytes do not depend on the
/// machine.
pub(crate) enum RootfsWriter {
    Xz(liblzma::write::XzEncoder<BufWriter<File>>),
    Zstd(zstd::stream::write::Encoder<'static, BufWriter<File>>),
}

impl RootfsWriter {
    /// Creates `path` and its encoder for `req.compression` (None: xz).
    pub(crate) fn create(req: &WriteRequest, path: &Path) -> Result<RootfsWriter, SinkError> {
        let f =
            BufWriter::with_capacity(1 << 20, File::create(path).map_err(io("creating", path))?);
        let threads = binship_image::compress::threads();
        Ok(match req.compression {
            Compression::Zstd { level } => RootfsWriter::Zstd(
                binship_image::compress::zstd_writer(f, level, threads)
                    .map_err(io("writing", path))?,
            ),
            _ => RootfsWriter::Xz(binship_image::flat::xz_writer_preset(
                f,
                threads,
                req.system
                    .as_ref()
                    .map_or(binship_image::flat::DEFAULT_XZ_PRESET, |s| s.xz_preset),
            )?),
        })
    }

    /// Ends the stream; returns the file's size.
    pub(crate) fn finish(self, path: &Path) -> Result<u64, SinkError> {
        let w = match self {
            RootfsWriter::Xz(x) => x.finish(),
            RootfsWriter::Zstd(z) => z.finish(),
        }
        .map_err(io("writing", path))?;
        let f = w
            .into_inner()
            .map_err(|e| e.into_error())
            .map_err(io("writing", path))?;
        Ok(f.metadata().map_err(io("writing", path))?.len())
    }
}

impl std::io::Write for RootfsWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            RootfsWriter::Xz(x) => x.write(buf),
            RootfsWriter::Zstd(z) => z.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            RootfsWriter::Xz(x) => x.flush(),
            RootfsWriter::Zstd(z) => z.flush(),
        }
    }
}

/// The rootfs file name for `req.compression`: rootfs.tar.xz or rootfs.tar.zst.
pub(crate) fn rootfs_name(c: Compression) -> &'static str {
    match c {
        Compression::Zstd { .. } => "rootfs.tar.zst",
        _ => "rootfs.tar.xz",
    }
}

/// Writes a flat rootfs (optionally under `prefix`) as `path`; returns the file's bytes and
/// the tar's (uncompressed) bytes.
pub(crate) fn write_rootfs(
    req: &WriteRequest,
    path: &Path,
    prefix: &str,
) -> Result<(u64, u64), SinkError> {
    let mut w = RootfsWriter::create(req, path)?;
    // The compressor is the slow part (xz: about a minute for a Debian root filesystem): the
    // spec's progress hook hears of the bytes that go in.
    let flat = match &req.spec.progress {
        Some(hook) => write_flat(
            &req.spec.layers,
            prefix,
            req.spec.created,
            &mut binship_image::layer::Progress::new(&mut w, hook),
        )?,
        None => write_flat(&req.spec.layers, prefix, req.spec.created, &mut w)?,
    };
    Ok((w.finish(path)?, flat))
}

/// A deterministic .tar.xz of small in-memory files.
pub(crate) fn write_small_xz(
    path: &Path,
    files: &[(&str, Vec<u8>)],
    mtime: u64,
) -> Result<u64, SinkError> {
    let f = File::create(path).map_err(io("creating", path))?;
    let mut xz = xz_writer(BufWriter::new(f), 1)?;
    let mut dirs = std::collections::BTreeSet::new();
    for (name, data) in files {
        if let Some((d, _)) = name.rsplit_once('/') {
            if dirs.insert(d.to_string()) {
                tarfile::dir(&mut xz, &format!("{d}/"), mtime).map_err(io("writing", path))?;
            }
        }
        tarfile::member(&mut xz, name, data, mtime).map_err(io("writing", path))?;
    }
    tarfile::finish(&mut xz).map_err(io("writing", path))?;
    let w = xz.finish().map_err(io("writing", path))?;
    let f = w
        .into_inner()
        .map_err(|e| e.into_error())
        .map_err(io("writing", path))?;
    Ok(f.metadata().map_err(io("writing", path))?.len())
}

/// What both system-container sinks check first: the system metadata and the LXC arch name.
pub(crate) fn system_preflight<'a>(
    req: &'a WriteRequest,
    format: &str,
) -> Result<(&'a crate::SystemImage, &'static str), SinkError> {
    let sys = req.system.as_ref().ok_or_else(|| {
        refuse(
            req.out,
            format!("an {format} image needs a base with an init"),
        )
    })?;
    let arch = lxc_arch(&req.spec.platform.architecture).ok_or_else(|| {
        refuse(
            req.out,
            format!(
                "unsupported architecture {} for {format}",
                req.spec.platform.architecture
            ),
        )
    })?;
    Ok((sys, arch))
}

fn refuse(out: &Path, m: impl Into<String>) -> SinkError {
    SinkError::Refused {
        path: out.into(),
        message: m.into(),
    }
}

impl Sink for Lxc {
    fn format(&self) -> crate::Format {
        crate::Format::Lxc
    }

    fn write(&self, req: &WriteRequest) -> Result<Written, SinkError> {
        crate::single_platform(req, crate::Format::Lxc)?;
        let out = req.out;
        let (sys, arch) = system_preflight(req, "LXC")?;
        if req.compression != Compression::None {
            return Err(refuse(
                out,
                "lxc-create's local template reads xz only: use --compress xz (the default)",
            ));
        }
        // `out` is a directory holding the two files; each is written to a temp name and renamed.
        if out.exists() && !out.is_dir() {
            return Err(refuse(out, "exists and is not a directory"));
        }
        if !out.exists() {
            crate::require_parent(out)?;
        }
        let (rootfs, meta_path) = (out.join("rootfs.tar.xz"), out.join("meta.tar.xz"));
        std::fs::create_dir_all(out).map_err(io("creating", out))?;
        let tmp_rootfs = TempPath::beside(&rootfs);
        let (rootfs_bytes, flat_bytes) = write_rootfs(req, &tmp_rootfs.0, "")?;
        let config = format!(
            "# {desc} (written by binship)\nlxc.include = LXC_TEMPLATE_CONFIG/{inc}\nlxc.arch = {arch}\n",
            desc = sys.description,
            inc = common_include(&sys.distro),
        );
        let expiry = (req.spec.created + 90 * 86400).to_string();
        let message = format!(
            "{}\nThe service starts with the container's init; its environment is in /etc/{app}/{app}.env.\n",
            sys.description,
            app = sys.app
        );
        let meta = [
            ("config", config.into_bytes()),
            ("create-message", message.into_bytes()),
            ("excludes", b"dev/*\n".to_vec()),
            ("expiry", expiry.into_bytes()),
        ];
        let tmp_meta = TempPath::beside(&meta_path);
        let meta_bytes = write_small_xz(&tmp_meta.0, &meta, req.spec.created)?;
        let previous = match (
            crate::put(tmp_rootfs, &rootfs)?,
            crate::put(tmp_meta, &meta_path)?,
        ) {
            (None, None) => None,
            (r, m) => Some(crate::Previous {
                unchanged: [&r, &m]
                    .iter()
                    .all(|p| p.as_ref().is_some_and(|p| p.unchanged)),
                digest: r.or(m).map(|p| p.digest).unwrap_or_default(),
            }),
        };
        Ok(Written {
            format: crate::Format::Lxc,
            path: out.into(),
            tag: sys.alias.clone(),
            manifest_digest: None,
            config_digest: String::new(),
            layers: vec![],
            bytes: rootfs_bytes + meta_bytes,
            flat_bytes: Some(flat_bytes),
            pushable: None,
            previous,
        })
    }

    fn open(&self, path: &Path) -> Result<Box<dyn ImageReader>, SinkError> {
        Ok(Box::new(FlatReader::new(
            path.join("rootfs.tar.xz"),
            format!("lxc {}", path.display()),
        )?))
    }
}

/// Reads a flat rootfs tarball back as a one-layer image for the shared validator: its
/// config is synthesized from the tar's own digest, so the validator re-checks the content.
pub struct FlatReader {
    path: PathBuf,
    medium: String,
    config: Vec<u8>,
}

/// The tar inside `path`, decompressed by what its magic bytes say (xz, zstd, gzip or none).
fn open_decoded(path: &Path) -> std::io::Result<Box<dyn Read + Send>> {
    use std::io::BufRead;
    let mut r = std::io::BufReader::with_capacity(1 << 20, File::open(path)?);
    let kind = binship_image::import::TarCompression::sniff(r.fill_buf()?);
    kind.decoder(r)
}

impl FlatReader {
    pub fn new(path: PathBuf, medium: String) -> Result<FlatReader, SinkError> {
        use sha2::Digest;
        let mut dec = open_decoded(&path).map_err(io("reading", &path))?;
        let mut h = sha2::Sha256::new();
        std::io::copy(&mut dec, &mut h).map_err(io("reading", &path))?;
        let diff = format!("sha256:{}", hex::encode(h.finalize()));
        let config = serde_json::to_vec(&serde_json::json!({
            "os": "linux", "architecture": "flat", "rootfs": { "type": "layers", "diff_ids": [diff] }
        }))
        .expect("json");
        Ok(FlatReader {
            path,
            medium,
            config,
        })
    }
}

impl ImageReader for FlatReader {
    fn describe(&self) -> String {
        self.medium.clone()
    }
    fn images(&self) -> Result<Vec<OpenedImage>, ValidationError> {
        Ok(vec![OpenedImage {
            tags: vec![],
            manifest_digest: None,
            config_digest: binship_oci::digest_string(&self.config),
            config: self.config.clone(),
            layers: vec![LayerRef {
                key: "rootfs".into(),
                digest: None,
                size: None,
                media_type: None,
            }],
        }])
    }
    fn open_layer(&self, _layer: &LayerRef) -> Result<Box<dyn Read + Send>, ValidationError> {
        open_decoded(&self.path)
            .map_err(|e| ValidationError::new(self.medium.clone(), "rootfs", e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_include_binship_picks_exists_in_lxcs_config_dir() {
        let dir = Path::new("/usr/share/lxc/config");
        if !dir.is_dir() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI: {} is missing (install lxc-templates)",
                dir.display()
            );
            eprintln!(
                "skipped: {} is missing (install lxc-templates)",
                dir.display()
            );
            return;
        }
        for id in DISTROS_WITH_CONFIG {
            let f = common_include(id);
            assert_ne!(f, "common.conf", "{id}");
            assert!(
                dir.join(f).is_file(),
                "{id}: {f} is not in {}",
                dir.display()
            );
        }
        assert_eq!(common_include("nixos"), "common.conf");
        assert!(dir.join("common.conf").is_file());
    }
}
