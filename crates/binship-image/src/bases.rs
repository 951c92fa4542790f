//! Built-in bases: `scratch` (nothing) and `static` (distroless-like: passwd/group with root and
//! nonroot 65532, nsswitch.conf, a CA bundle, /tmp 1777, optional zoneinfo). Host files that go
//! in are returned as [`Input`]s with their sha256, so they are recorded as inputs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{ImageError, Rootfs};

/// The uid/gid of the non-root user of the `static` base (as distroless).
pub const NONROOT: u64 = 65532;
/// Where Debian keeps the CA bundle.
pub const HOST_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A host file that went into the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    /// What it is to the image: `ca-bundle`, `zoneinfo` or `base` (labels name it so, never by
    /// its host path).
    pub role: String,
    pub path: PathBuf,
    /// Hex sha256 of its content (a tree's: every path and content).
    pub sha256: String,
}

/// Which built-in base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    Scratch,
    Static,
}

impl Base {
    /// Parses scratch or static.
    ///
    /// # Errors
    /// [`BadSetting`](crate::error::BadSetting) for anything else.
    pub fn parse(s: &str) -> Result<Base, crate::error::BadSetting> {
        match s {
            "scratch" => Ok(Base::Scratch),
            "static" => Ok(Base::Static),
            other => Err(crate::error::BadSetting(format!(
                "unknown base `{other}` (expected scratch or static)"
            ))),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Base::Scratch => "scratch",
            Base::Static => "static",
        }
    }
}

/// Options of the `static` base.
#[derive(Debug, Clone, Default)]
pub struct StaticOptions {
    /// CA bundle to include (default: the host's, when present).
    pub ca_bundle: Option<PathBuf>,
    /// Copy the host's /usr/share/zoneinfo.
    pub zoneinfo: bool,
}

fn sha256_file(path: &Path) -> Result<String, ImageError> {
    let (d, _) = binship_oci::sha256_file(path).map_err(ImageError::io("reading", path))?;
    Ok(d.hex().to_string())
}

/// The `static` base layer and the host inputs it took.
pub fn static_base(opts: &StaticOptions) -> Result<(Rootfs, Vec<Input>), ImageError> {
    let mut r = Rootfs::new();
    let mut inputs = Vec::new();
    r.file("etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n", 0o644)?;
    r.file("etc/group", "root:x:0:\nnonroot:x:65532:\n", 0o644)?;
    r.file(
        "etc/nsswitch.conf",
        "hosts: files dns\nnetworks: files\npasswd: files\ngroup: files\n",
        0o644,
    )?;
    r.dir("tmp", 0o1777, 0, 0)?;
    r.dir("root", 0o700, 0, 0)?;
    r.dir("home/nonroot", 0o700, NONROOT, NONROOT)?;
    let ca = opts.ca_bundle.clone().or_else(|| {
        Path::new(HOST_CA_BUNDLE)
            .is_file()
            .then(|| HOST_CA_BUNDLE.into())
    });
    match ca {
        Some(ca) => {
            if !ca.is_file() {
                return Err(ImageError::Invalid {
                    what: ca.display().to_string(),
                    message: "CA bundle not found".into(),
                });
            }
            r.host_file("etc/ssl/certs/ca-certificates.crt", &ca, 0o644)?;
            inputs.push(Input {
                role: "ca-bundle".into(),
                sha256: sha256_file(&ca)?,
                path: ca,
            });
        }
        None => return Err(ImageError::Invalid {
            what: HOST_CA_BUNDLE.into(),
            message:
                "no CA bundle on this host: install Debian's ca-certificates or pass --ca-bundle"
                    .into(),
        }),
    }
    if opts.zoneinfo {
        let root = Path::new("/usr/share/zoneinfo");
        if !root.is_dir() {
            return Err(ImageError::Invalid {
                what: root.display().to_string(),
                message: "not found: install Debian's tzdata".into(),
            });
        }
        let mut h = Sha256::new();
        add_tree(&mut r, root, "usr/share/zoneinfo", &mut h)?;
        inputs.push(Input {
            role: "zoneinfo".into(),
            path: root.into(),
            sha256: hex::encode(h.finalize()),
        });
    }
    Ok((r, inputs))
}

/// Adds a host directory tree (files and symlinks), hashing paths and contents into `h`.
fn add_tree(r: &mut Rootfs, host: &Path, at: &str, h: &mut Sha256) -> Result<(), ImageError> {
    let mut entries: Vec<_> = std::fs::read_dir(host)
        .map_err(ImageError::io("reading", host))?
        .filter_map(|e| e.ok())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        let dest = format!("{at}/{name}");
        let ft = e.file_type().map_err(ImageError::io("reading", &path))?;
        h.update(dest.as_bytes());
        if ft.is_symlink() {
            let t = std::fs::read_link(&path).map_err(ImageError::io("reading", &path))?;
            let t = t.to_string_lossy();
            if t.starts_with('/')
                || t.split('/').filter(|c| *c == "..").count() > dest.matches('/').count()
            {
                continue; // never point outside the tree
            }
            h.update(t.as_bytes());
            r.symlink(&dest, &t)?;
        } else if ft.is_dir() {
            r.dir(&dest, 0o755, 0, 0)?;
            add_tree(r, &path, &dest, h)?;
        } else if ft.is_file() {
            h.update(sha256_file(&path)?.as_bytes());
            r.host_file(&dest, &path, 0o644)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_base_has_nonroot_and_tmp() {
        let d = tempfile::tempdir().unwrap();
        let ca = d.path().join("ca.crt");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let (r, inputs) = static_base(&StaticOptions {
            ca_bundle: Some(ca.clone()),
            zoneinfo: false,
        })
        .unwrap();
        let passwd = r.get("etc/passwd").unwrap();
        assert!(
            matches!(&passwd.kind, crate::EntryKind::Bytes(b) if String::from_utf8_lossy(b).contains("nonroot:x:65532:65532"))
        );
        assert_eq!(r.get("tmp").unwrap().mode, 0o1777);
        assert_eq!(r.get("home/nonroot").unwrap().uid, NONROOT);
        assert_eq!(inputs[0].path, ca);
        assert_eq!(inputs[0].sha256.len(), 64);
        let e = static_base(&StaticOptions {
            ca_bundle: Some(d.path().join("missing")),
            zoneinfo: false,
        })
        .unwrap_err();
        assert!(e.to_string().contains("CA bundle not found"), "{e}");
    }
}
