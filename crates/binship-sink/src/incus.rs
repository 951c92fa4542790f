//! Incus (and LXD) images: one unified tarball (`metadata.yaml`, `templates/`, `rootfs/`) or,
//! with `--split`, a directory with `metadata.tar.xz` and `rootfs.tar.xz`; xz by default, or
//! zstd (`incus.tar.zst`, `rootfs.tar.zst`), which Incus and LXD read too and which packs in a
//! second where xz takes most of a minute. `incus image import` takes either form; the alias
//! follows the seed (`go-id-alpine`).

use std::path::Path;

use binship_image::flat::write_flat;
use binship_image::validate::ImageReader;
use binship_image::Compression;

use crate::lxc::{
    rootfs_name, system_preflight, write_rootfs, write_small_xz, FlatReader, RootfsWriter,
};
use crate::tarfile;
use crate::{io, Sink, SinkError, TempPath, WriteRequest, Written};

pub struct Incus;

const HOSTNAME_TPL: &str = "{{ container.name }}\n";
const HOSTS_TPL: &str = "127.0.0.1   localhost\n127.0.1.1   {{ container.name }}\n::1         localhost ip6-localhost ip6-loopback\n";

/// An Incus image alias binship refuses (exit class usage); the message names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("alias `{0}` is not a valid Incus alias (1-255 characters, no `/`, `:` or spaces, not starting with `.`)")]
pub struct BadAlias(pub String);

/// Checks an Incus image alias: 1-255 chars, no `/`, `:` or white space, not starting with `.`.
///
/// # Errors
/// [`BadAlias`].
pub fn check_alias(a: &str) -> Result<(), BadAlias> {
    if a.is_empty()
        || a.len() > 255
        || a.starts_with('.')
        || a.contains(['/', ':'])
        || a.chars().any(char::is_whitespace)
    {
        return Err(BadAlias(a.into()));
    }
    Ok(())
}

fn metadata_yaml(req: &WriteRequest, arch: &str) -> String {
    let sys = req.system.as_ref().expect("checked");
    let q = |s: &str| serde_json::to_string(s).expect("json"); // JSON strings are valid YAML scalars
    format!(
        "architecture: {arch}\ncreation_date: {created}\nexpiry_date: {expiry}\nproperties:\n  os: {os}\n  release: {rel}\n  description: {desc}\n  variant: {variant}\n  serial: {serial}\n  name: {alias}\ntemplates:\n  /etc/hostname:\n    when:\n    - create\n    - copy\n    template: hostname.tpl\n  /etc/hosts:\n    when:\n    - create\n    - copy\n    template: hosts.tpl\n",
        created = req.spec.created,
        expiry = req.spec.created + 90 * 86400,
        os = q(&sys.distro),
        rel = q(&sys.release),
        desc = q(&sys.description),
        variant = q("binship"),
        serial = q(&sys.serial),
        alias = q(&sys.alias),
    )
}

impl Sink for Incus {
    fn format(&self) -> crate::Format {
        crate::Format::Incus
    }

    fn write(&self, req: &WriteRequest) -> Result<Written, SinkError> {
        crate::single_platform(req, crate::Format::Incus)?;
        let out = req.out;
        let refuse = |m: String| SinkError::Refused {
            path: out.into(),
            message: m,
        };
        let (sys, arch) = system_preflight(req, "Incus")?;
        check_alias(&sys.alias).map_err(|e| refuse(e.to_string()))?;
        if matches!(req.compression, Compression::Gzip { .. }) {
            return Err(refuse(
                "Incus images here are xz (default) or zstd: use --compress xz or zstd".into(),
            ));
        }
        crate::require_parent(out)?;
        let meta = metadata_yaml(req, arch);
        let mtime = req.spec.created;
        let tmp = TempPath::beside(out);
        let (bytes, flat_bytes) = if sys.split {
            std::fs::create_dir(&tmp.0).map_err(io("creating", &tmp.0))?;
            let files = [
                ("metadata.yaml", meta.into_bytes()),
                ("templates/hostname.tpl", HOSTNAME_TPL.as_bytes().to_vec()),
                ("templates/hosts.tpl", HOSTS_TPL.as_bytes().to_vec()),
            ];
            let meta_bytes = write_small_xz(&tmp.0.join("metadata.tar.xz"), &files, mtime)?;
            let (rootfs, flat) = write_rootfs(req, &tmp.0.join(rootfs_name(req.compression)), "")?;
            (meta_bytes + rootfs, flat)
        } else {
            let mut xz = RootfsWriter::create(req, &tmp.0)?;
            let werr = |e: std::io::Error| SinkError::Io {
                context: "writing",
                path: out.into(),
                source: e,
            };
            tarfile::member(&mut xz, "metadata.yaml", meta.as_bytes(), mtime).map_err(werr)?;
            tarfile::dir(&mut xz, "templates/", mtime).map_err(werr)?;
            tarfile::member(
                &mut xz,
                "templates/hostname.tpl",
                HOSTNAME_TPL.as_bytes(),
                mtime,
            )
            .map_err(werr)?;
            tarfile::member(&mut xz, "templates/hosts.tpl", HOSTS_TPL.as_bytes(), mtime)
                .map_err(werr)?;
            // The rootfs under rootfs/, then the end-of-archive marker write_flat adds.
            let flat = match &req.spec.progress {
                Some(hook) => write_flat(
                    &req.spec.layers,
                    "rootfs/",
                    mtime,
                    &mut binship_image::layer::Progress::new(&mut xz, hook),
                )?,
                None => write_flat(&req.spec.layers, "rootfs/", mtime, &mut xz)?,
            };
            (xz.finish(&tmp.0)?, flat)
        };
        let previous = crate::put(tmp, out)?;
        Ok(Written {
            format: crate::Format::Incus,
            path: out.into(),
            tag: sys.alias.clone(),
            manifest_digest: None,
            config_digest: String::new(),
            layers: vec![],
            bytes,
            flat_bytes: Some(flat_bytes),
            pushable: None,
            previous,
        })
    }

    fn open(&self, path: &Path) -> Result<Box<dyn ImageReader>, SinkError> {
        let p = if path.is_dir() {
            let zst = path.join("rootfs.tar.zst");
            if zst.is_file() {
                zst
            } else {
                path.join("rootfs.tar.xz")
            }
        } else {
            path.to_path_buf()
        };
        Ok(Box::new(FlatReader::new(
            p,
            format!("incus {}", path.display()),
        )?))
    }
}
