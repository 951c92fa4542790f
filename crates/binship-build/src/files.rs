//! The recipe's `[[container.files]]` on the host: [`walk`] lists what the entries put in an
//! image (sorted; symlinks kept as links, never followed), [`content_key`] hashes that for the
//! build's cache key, and [`populate`] lays it out under a test root, so the binary's tests see
//! the files the image will hold (`{root}/srv/...` for `target = "/srv"`).

use std::path::{Path, PathBuf};

use binship_recipe::ContainerFile;
use sha2::{Digest, Sha256};

/// What a placed entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlacedKind {
    Dir,
    /// A host file of this many bytes.
    File {
        host: PathBuf,
        size: u64,
    },
    Symlink(String),
}

/// One path an entry puts in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// Absolute, normalized path in the image (`/srv/index.html`).
    pub target: String,
    pub kind: PlacedKind,
    /// Permission bits.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

/// Lists what `files` (sources resolved against `recipe_dir`) put in the image, in entry
/// order, each directory's contents sorted by name.
///
/// # Errors
/// A missing or unreadable source, or a name that is not UTF-8, as one line naming the
/// recipe key and the path.
pub fn walk(files: &[ContainerFile], recipe_dir: &Path) -> Result<Vec<Placed>, String> {
    let mut out = Vec::new();
    for f in files {
        let src = f.source_path(recipe_dir);
        // The source itself is followed when it is a link (what it names is copied); links
        // inside a directory are kept as links.
        let meta = std::fs::metadata(&src).map_err(|e| {
            format!(
                "container.files: source `{}` ({}): {e}",
                f.source,
                src.display()
            )
        })?;
        let target = format!("/{}", f.target.trim_matches('/'));
        let (uid, gid) = f.owner_ids();
        place(&src, &meta, &target, f, uid, gid, &mut out)?;
    }
    Ok(out)
}

fn place(
    host: &Path,
    meta: &std::fs::Metadata,
    target: &str,
    f: &ContainerFile,
    uid: u64,
    gid: u64,
    out: &mut Vec<Placed>,
) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let err = |e: std::io::Error| format!("container.files: {}: {e}", host.display());
    let ft = meta.file_type();
    if ft.is_symlink() {
        let t = std::fs::read_link(host).map_err(err)?;
        let t = t
            .to_str()
            .ok_or_else(|| format!("container.files: the link {} is not UTF-8", host.display()))?
            .to_string();
        out.push(Placed {
            target: target.into(),
            kind: PlacedKind::Symlink(t),
            mode: 0o777,
            uid,
            gid,
        });
    } else if ft.is_dir() {
        out.push(Placed {
            target: target.into(),
            kind: PlacedKind::Dir,
            mode: 0o755,
            uid,
            gid,
        });
        let mut names: Vec<(String, PathBuf)> = Vec::new();
        for e in std::fs::read_dir(host).map_err(err)? {
            let e = e.map_err(err)?;
            let name = e.file_name().into_string().map_err(|n| {
                format!(
                    "container.files: {}/{} is not a UTF-8 name",
                    host.display(),
                    n.to_string_lossy()
                )
            })?;
            names.push((name, e.path()));
        }
        names.sort();
        for (name, path) in names {
            let m = std::fs::symlink_metadata(&path).map_err(err)?;
            place(&path, &m, &format!("{target}/{name}"), f, uid, gid, out)?;
        }
    } else if ft.is_file() {
        let exec = meta.permissions().mode() & 0o111 != 0;
        out.push(Placed {
            target: target.into(),
            kind: PlacedKind::File {
                host: host.to_path_buf(),
                size: meta.len(),
            },
            mode: f.mode_bits().unwrap_or(if exec { 0o755 } else { 0o644 }),
            uid,
            gid,
        });
    } else {
        return Err(format!(
            "container.files: {} is not a file, directory or symlink",
            host.display()
        ));
    }
    Ok(())
}

/// [`content_key`] of what a recipe places, `None` when it places nothing: the value a
/// version records as `files_key`, and a scaffold compares against.
///
/// # Errors
/// A file that cannot be read.
pub fn files_key(placed: &[Placed]) -> Result<Option<String>, String> {
    if placed.is_empty() {
        return Ok(None);
    }
    content_key(placed).map(Some)
}

/// A sha256 over every placed path, kind, mode, owner, link target and content: part of the
/// build's cache key, so a changed file builds (and tests) a new version.
///
/// # Errors
/// A file that cannot be read.
pub fn content_key(placed: &[Placed]) -> Result<String, String> {
    let mut h = Sha256::new();
    for p in placed {
        h.update(p.target.as_bytes());
        h.update([0]);
        h.update(format!("{:o} {} {}", p.mode, p.uid, p.gid).as_bytes());
        h.update([0]);
        match &p.kind {
            PlacedKind::Dir => h.update(b"dir"),
            PlacedKind::Symlink(t) => {
                h.update(b"symlink ");
                h.update(t.as_bytes());
            }
            PlacedKind::File { host, .. } => {
                h.update(b"file ");
                let mut f = std::fs::File::open(host)
                    .map_err(|e| format!("container.files: {}: {e}", host.display()))?;
                std::io::copy(&mut f, &mut h)
                    .map_err(|e| format!("container.files: {}: {e}", host.display()))?;
            }
        }
        h.update([0]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Lays the placed entries out under `root` (`/srv/x` at `root/srv/x`), with their modes (the
/// tests run as the invoking user, so owners are not set).
///
/// # Errors
/// I/O errors, naming the path.
pub fn populate(root: &Path, placed: &[Placed]) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    for p in placed {
        let dst = root.join(p.target.trim_start_matches('/'));
        let err = |e: std::io::Error| format!("{}: {e}", dst.display());
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        match &p.kind {
            PlacedKind::Dir => std::fs::create_dir_all(&dst).map_err(err)?,
            PlacedKind::File { host, .. } => {
                let _ = std::fs::remove_file(&dst);
                std::fs::copy(host, &dst).map_err(err)?;
                std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(p.mode))
                    .map_err(err)?;
            }
            PlacedKind::Symlink(t) => {
                let _ = std::fs::remove_file(&dst);
                std::os::unix::fs::symlink(t, &dst).map_err(err)?;
            }
        }
    }
    Ok(())
}
