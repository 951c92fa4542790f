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
                let keep = import::KEEP.contains(&p.as_str());
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
                return Ok(ImportedBase {
                    name: distro_dir_name(&distro, "rootfs"),
                    layers: vec![Layer::Rootfs(r)],
                    view,
                    distro: Some(distro),
                    config: None,
                    inputs: vec![Input {
                        path: path.clone(),
                        sha256: "directory".into(),
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
                layers: vec![Layer::Blob(blob)],
                view,
                distro: Some(distro),
                config: None,
                inputs: vec![Input {
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
                config: Some(BaseConfig {
                    config,
                    layers: layers.len(),
                }),
                layers,
                view,
                distro: Some(distro),
                inputs: vec![Input {
                    path: path.clone(),
                    sha256: input,
                }],
            })
        }
    }
}

fn distro_dir_name(d: &Distro, fallback: &str) -> String {
    if d.id == "other" {
        fallback.into()
    } else {
        d.id.clone()
    }
}

/// Makes sure the base's /etc/passwd and /etc/group know `uid:gid` (existing entries kept).
/// `named`: the user asked for this name (e.g. `--user nonroot`), so a uid held by another
/// name, or the name held by another uid, is refused; a numeric user that the base already
/// has is used as it is; otherwise `name` is added. Returns the new files.
/// The new /etc/shadow (a locked entry) is returned too when the base has one: PAM account
/// checks (OpenRC's supervise-daemon on Debian) need it.
pub fn add_user(
    view: &View,
    name: &str,
    uid: u32,
    gid: u32,
    named: bool,
) -> Result<(String, String, Option<String>), String> {
    let text = |p: &str| {
        view.read(p)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };
    let mut passwd =
        text("etc/passwd").unwrap_or_else(|| "root:x:0:0:root:/root:/sbin/nologin\n".into());
    let mut group = text("etc/group").unwrap_or_else(|| "root:x:0:\n".into());
    if !passwd.ends_with('\n') && !passwd.is_empty() {
        passwd.push('\n');
    }
    if !group.ends_with('\n') && !group.is_empty() {
        group.push('\n');
    }
    let mut have_user = false;
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 {
            continue;
        }
        let (n, u) = (f[0], f[2].parse::<u32>().ok());
        if u == Some(uid) && !named {
            have_user = true;
            break;
        }
        if u == Some(uid) && n != name {
            return Err(format!(
                "base /etc/passwd: uid {uid} is taken by `{n}`; choose another --user"
            ));
        }
        if n == name && u != Some(uid) {
            return Err(format!(
                "base /etc/passwd: user `{name}` exists with uid {}; choose --user {}:{}",
                f[2], f[2], f[3]
            ));
        }
        have_user |= n == name;
    }
    let mut shadow = None;
    if !have_user {
        passwd.push_str(&format!(
            "{name}:x:{uid}:{gid}:{name}:/nonexistent:/sbin/nologin\n"
        ));
        if let Some(mut sh) = text("etc/shadow") {
            if !sh.lines().any(|l| l.split(':').next() == Some(name)) {
                if !sh.ends_with('\n') && !sh.is_empty() {
                    sh.push('\n');
                }
                sh.push_str(&format!("{name}:!*:::::::\n"));
                shadow = Some(sh);
            }
        }
    }
    let gid_taken = group
        .lines()
        .any(|l| l.split(':').nth(2).and_then(|g| g.parse::<u32>().ok()) == Some(gid));
    if !gid_taken {
        if group.lines().any(|l| l.split(':').next() == Some(name)) {
            return Err(format!(
                "base /etc/group: group `{name}` exists with another gid; choose another --user"
            ));
        }
        group.push_str(&format!("{name}:x:{gid}:\n"));
    }
    Ok((passwd, group, shadow))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(passwd: &str, group: &str) -> View {
        let mut v = View::default();
        v.entries.insert(
            "etc/passwd".into(),
            ViewEntry::File(Some(passwd.as_bytes().to_vec())),
        );
        v.entries.insert(
            "etc/group".into(),
            ViewEntry::File(Some(group.as_bytes().to_vec())),
        );
        v
    }

    #[test]
    fn users_are_added_and_conflicts_refused() {
        let v = view(
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/sbin/nologin\n",
            "root:x:0:\n",
        );
        let (p, g, sh) = add_user(&v, "go-id", 65532, 65532, false).unwrap();
        assert_eq!(sh, None, "no shadow in this base");
        assert!(p.starts_with("root:x:0:0:root:/root:/bin/sh\nnobody:"));
        assert!(p.ends_with("go-id:x:65532:65532:go-id:/nonexistent:/sbin/nologin\n"));
        assert!(g.ends_with("go-id:x:65532:\n"));
        let e = add_user(&v, "nonroot", 65534, 65534, true).unwrap_err();
        assert!(e.contains("uid 65534 is taken by `nobody`"), "{e}");
        // A numeric uid the base has already: used as it is.
        let (p3, _, _) = add_user(&v, "go-id", 65534, 65534, false).unwrap();
        assert!(!p3.contains("go-id"));
        // Already there with the same uid: kept, not duplicated.
        let (p2, _, _) = add_user(&view(&p, &g), "go-id", 65532, 65532, true).unwrap();
        let mut with_shadow = view(&p, &g);
        with_shadow.entries.insert(
            "etc/shadow".into(),
            ViewEntry::File(Some(b"root:*:19000:0:99999:7:::\n".to_vec())),
        );
        let (_, _, sh) = add_user(&with_shadow, "svc", 1000, 1000, false).unwrap();
        assert_eq!(
            sh.as_deref(),
            Some("root:*:19000:0:99999:7:::\nsvc:!*:::::::\n")
        );
        assert_eq!(p2, p);
    }

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
