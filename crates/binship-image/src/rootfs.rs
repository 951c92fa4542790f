//! A [`Rootfs`]: the sorted set of entries (dirs, files, symlinks, hard links, device nodes,
//! with xattrs) one layer holds, written as a deterministic ustar stream (fixed mtime, numeric
//! owners, no user names, sorted paths; xattrs as PAX records). Host files are opened with
//! O_NOFOLLOW, so a symlink swapped in is never read through.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::ImageError;

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    /// A file with content from memory.
    Bytes(Vec<u8>),
    /// A file with content read from the host at write time (must still be `size` bytes).
    HostFile {
        path: PathBuf,
        size: u64,
    },
    Symlink(String),
    /// A hard link to an earlier entry (normalized path).
    Hardlink(String),
    CharDev {
        major: u32,
        minor: u32,
    },
    BlockDev {
        major: u32,
        minor: u32,
    },
    Fifo,
}

/// One entry of a rootfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: EntryKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Extended attributes (name -> value), written as PAX `SCHILY.xattr.*` records.
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

impl Entry {
    pub fn new(kind: EntryKind, mode: u32, uid: u64, gid: u64) -> Entry {
        Entry {
            kind,
            mode,
            uid,
            gid,
            xattrs: BTreeMap::new(),
        }
    }
}

/// The longest path binship keeps, in bytes: Linux's PATH_MAX less its NUL. Names that do not
/// fit a ustar header (POSIX.1-2001 `pax`, "ustar Interchange Format") go into PAX `path` and
/// `linkpath` records, as the Go and GNU tar writers do.
pub const PATH_MAX: usize = 4095;

/// One PAX extended-header record: `"<len> <key>=<value>\n"`, the length counting itself.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let body_len = format!(" {key}=").len() + value.len() + 1;
    let mut len = body_len + 1;
    while len != body_len + len.to_string().len() {
        len = body_len + len.to_string().len();
    }
    out.extend_from_slice(format!("{len} {key}=").as_bytes());
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// Whether `name` fits a ustar header's name and prefix fields.
fn fits_ustar_name(name: &str) -> bool {
    tar::Header::new_ustar().set_path(name).is_ok()
}

/// Whether a link target fits a ustar header's 100-byte linkname field.
fn fits_ustar_link(target: &str) -> bool {
    target.len() <= 100
}

/// The PAX extended header content for an entry written as `name`: its `path` and `linkpath`
/// when they do not fit ustar, and its xattrs (empty when none of these applies).
fn pax_records(name: &str, link: Option<&str>, e: &Entry) -> Vec<u8> {
    let mut out = Vec::new();
    if !fits_ustar_name(name) {
        pax_record(&mut out, "path", name.as_bytes());
    }
    if let Some(t) = link.filter(|t| !fits_ustar_link(t)) {
        pax_record(&mut out, "linkpath", t.as_bytes());
    }
    for (k, v) in &e.xattrs {
        pax_record(&mut out, &format!("SCHILY.xattr.{k}"), v);
    }
    out
}

/// The name an entry at `path` is written under (dirs end in `/`), and its link target: a
/// symlink's as stored, a hard link's under the same prefix as every name.
fn tar_name(prefix: &str, path: &str, e: &Entry) -> (String, Option<String>) {
    let name = if e.kind == EntryKind::Dir {
        format!("{prefix}{path}/")
    } else {
        format!("{prefix}{path}")
    };
    let link = match &e.kind {
        EntryKind::Symlink(t) => Some(t.clone()),
        EntryKind::Hardlink(t) => Some(format!("{prefix}{t}")),
        _ => None,
    };
    (name, link)
}

impl Entry {
    fn size(&self) -> u64 {
        match &self.kind {
            EntryKind::Bytes(b) => b.len() as u64,
            EntryKind::HostFile { size, .. } => *size,
            _ => 0,
        }
    }
}

/// The entries of one layer, keyed by normalized path (no leading `/`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rootfs {
    entries: BTreeMap<String, Entry>,
}

/// Normalizes `/usr/local/bin/x` to `usr/local/bin/x`; refuses `..`, NUL, empty paths and
/// paths longer than [`PATH_MAX`] bytes.
pub fn normalize(path: &str) -> Result<String, ImageError> {
    let bad = |m: &str| ImageError::BadEntry {
        path: path.into(),
        message: m.into(),
    };
    let mut parts = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(bad("`..` is not allowed")),
            c if c.contains('\0') => return Err(bad("NUL in path")),
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err(bad("empty path"));
    }
    let p = parts.join("/");
    if p.len() > PATH_MAX {
        return Err(bad(&format!(
            "path longer than {PATH_MAX} bytes (PATH_MAX)"
        )));
    }
    Ok(p)
}

impl Rootfs {
    pub fn new() -> Rootfs {
        Rootfs::default()
    }

    pub fn entries(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.entries.iter()
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        normalize(path).ok().and_then(|p| self.entries.get(&p))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn insert(&mut self, path: &str, entry: Entry) -> Result<(), ImageError> {
        let p = normalize(path)?;
        // Parents default to root-owned 0755 dirs.
        let mut parent = String::new();
        let comps: Vec<&str> = p.split('/').collect();
        for c in &comps[..comps.len() - 1] {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(c);
            match self.entries.get(&parent) {
                Some(Entry {
                    kind: EntryKind::Dir,
                    ..
                }) => {}
                Some(_) => {
                    return Err(ImageError::BadEntry {
                        path: path.into(),
                        message: format!("parent {parent} is not a directory"),
                    })
                }
                None => {
                    self.entries
                        .insert(parent.clone(), Entry::new(EntryKind::Dir, 0o755, 0, 0));
                }
            }
        }
        self.entries.insert(p, entry);
        Ok(())
    }

    pub fn dir(
        &mut self,
        path: &str,
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> Result<&mut Self, ImageError> {
        self.insert(path, Entry::new(EntryKind::Dir, mode, uid, gid))?;
        Ok(self)
    }

    pub fn file(
        &mut self,
        path: &str,
        bytes: impl Into<Vec<u8>>,
        mode: u32,
    ) -> Result<&mut Self, ImageError> {
        self.insert(path, Entry::new(EntryKind::Bytes(bytes.into()), mode, 0, 0))?;
        Ok(self)
    }

    /// A file whose content is read from `host` when the layer is written.
    pub fn host_file(
        &mut self,
        path: &str,
        host: impl Into<PathBuf>,
        mode: u32,
    ) -> Result<&mut Self, ImageError> {
        let host = host.into();
        let size = std::fs::metadata(&host)
            .map_err(ImageError::io("reading", &host))?
            .len();
        self.insert(
            path,
            Entry::new(EntryKind::HostFile { path: host, size }, mode, 0, 0),
        )?;
        Ok(self)
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> Result<&mut Self, ImageError> {
        self.insert(
            path,
            Entry::new(EntryKind::Symlink(target.into()), 0o777, 0, 0),
        )?;
        Ok(self)
    }

    /// Adds any entry (a hard link's target must already be a regular file here).
    pub fn add(&mut self, path: &str, entry: Entry) -> Result<&mut Self, ImageError> {
        if let EntryKind::Hardlink(t) = &entry.kind {
            let t = normalize(t)?;
            match self.entries.get(&t) {
                Some(Entry {
                    kind: EntryKind::Bytes(_) | EntryKind::HostFile { .. },
                    ..
                }) => {}
                _ => {
                    return Err(ImageError::BadEntry {
                        path: path.into(),
                        message: format!("hard link to {t}, which is not an earlier regular file"),
                    })
                }
            }
            let mut e = entry;
            e.kind = EntryKind::Hardlink(t);
            self.insert(path, e)?;
        } else {
            self.insert(path, entry)?;
        }
        Ok(self)
    }

    /// Sets an extended attribute (written as a PAX `SCHILY.xattr.NAME` record) on an entry.
    ///
    /// # Errors
    /// [`ImageError::BadEntry`] when there is no entry at `path`.
    pub fn set_xattr(&mut self, path: &str, name: &str, value: &[u8]) -> Result<(), ImageError> {
        let p = normalize(path)?;
        let e = self
            .entries
            .get_mut(&p)
            .ok_or_else(|| ImageError::BadEntry {
                path: path.into(),
                message: "no such entry for an extended attribute".into(),
            })?;
        e.xattrs.insert(name.into(), value.to_vec());
        Ok(())
    }

    /// Adds every entry of `other` (overriding same paths).
    pub fn merge(&mut self, other: &Rootfs) -> Result<(), ImageError> {
        for (p, e) in &other.entries {
            self.insert(p, e.clone())?;
        }
        Ok(())
    }

    /// The exact size of the tar stream [`Rootfs::write_tar`] writes.
    pub fn tar_size(&self) -> u64 {
        self.entries
            .iter()
            .map(|(p, e)| {
                let (name, link) = tar_name("", p, e);
                let pax = pax_records(&name, link.as_deref(), e).len() as u64;
                let pax = if pax > 0 {
                    512 + pax.div_ceil(512) * 512
                } else {
                    0
                };
                pax + 512 + e.size().div_ceil(512) * 512
            })
            .sum::<u64>()
            + 1024
    }

    /// Writes the rootfs as a ustar stream with every mtime set to `mtime`.
    pub fn write_tar(&self, w: &mut dyn Write, mtime: u64) -> Result<(), ImageError> {
        self.write_entries(w, mtime, "", &|_| true)?;
        w.write_all(&[0u8; 1024]).map_err(ImageError::Write)?;
        Ok(())
    }

    /// A key of what [`Rootfs::write_tar`] writes with every mtime `mtime`, made from the
    /// entries and their contents' digests without writing the tar (`file` gives a host file's
    /// sha256 hex and size, e.g. from [`binship_oci::FileDigests`]): equal keys, equal tars, for
    /// one binship version (its version is in the key; the tar writer is fixed within it). None
    /// when a host file cannot be read or is no longer the size recorded (the tar then says
    /// why).
    pub fn content_key(
        &self,
        mtime: u64,
        mut file: impl FnMut(&Path) -> std::io::Result<(String, u64)>,
    ) -> Option<String> {
        use std::fmt::Write as _;
        let mut text = format!(
            "binship {} rootfs tar, mtime {mtime}\n",
            env!("CARGO_PKG_VERSION")
        );
        for (path, e) in &self.entries {
            let content = match &e.kind {
                EntryKind::Bytes(b) => format!("bytes {}", binship_oci::Digest::of(b)),
                EntryKind::HostFile { path: host, size } => match file(host) {
                    Ok((hex, n)) if n == *size => format!("file {size} sha256:{hex}"),
                    _ => return None,
                },
                other => format!("{other:?}"),
            };
            let _ = writeln!(
                text,
                "{path:?} {:o} {} {} {:?} {content}",
                e.mode, e.uid, e.gid, e.xattrs
            );
        }
        Some(binship_oci::Digest::of(text.as_bytes()).to_string())
    }

    /// Writes the entries `keep` accepts, each name prefixed by `prefix` (e.g. `rootfs/`), with
    /// no end-of-archive marker (for flattening into a larger tar).
    pub fn write_entries(
        &self,
        w: &mut dyn Write,
        mtime: u64,
        prefix: &str,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<(), ImageError> {
        let mut buf = vec![0u8; 1 << 20];
        let bad = |path: &str, err: std::io::Error| ImageError::BadEntry {
            path: path.into(),
            message: err.to_string(),
        };
        for (path, e) in self.entries.iter().filter(|(p, _)| keep(p)) {
            let (name, link) = tar_name(prefix, path, e);
            let pax = pax_records(&name, link.as_deref(), e);
            if !pax.is_empty() {
                let mut h = tar::Header::new_ustar();
                let base = path.rsplit('/').next().unwrap_or(path);
                let base: String = base.chars().take(80).collect();
                h.set_path(format!("PaxHeaders.0/{base}"))
                    .map_err(|err| bad(path, err))?;
                h.set_mode(0o644);
                h.set_uid(0);
                h.set_gid(0);
                h.set_mtime(mtime);
                h.set_size(pax.len() as u64);
                h.set_entry_type(tar::EntryType::XHeader);
                h.set_cksum();
                w.write_all(h.as_bytes()).map_err(ImageError::Write)?;
                w.write_all(&pax).map_err(ImageError::Write)?;
                let pad = (512 - pax.len() % 512) % 512;
                w.write_all(&[0u8; 512][..pad]).map_err(ImageError::Write)?;
            }
            let mut h = tar::Header::new_ustar();
            if fits_ustar_name(&name) {
                h.set_path(&name).map_err(|err| bad(path, err))?;
            } else {
                // The PAX `path` record above holds the name; the header keeps a short stand-in.
                let short: String = path
                    .rsplit('/')
                    .next()
                    .unwrap_or(path)
                    .chars()
                    .take(90)
                    .collect();
                h.set_path(&short).map_err(|err| bad(path, err))?;
            }
            h.set_mode(e.mode & 0o7777);
            h.set_uid(e.uid);
            h.set_gid(e.gid);
            h.set_mtime(mtime);
            h.set_size(e.size());
            let _ = h.set_username("");
            let _ = h.set_groupname("");
            let (major, minor) = match &e.kind {
                EntryKind::CharDev { major, minor } | EntryKind::BlockDev { major, minor } => {
                    (*major, *minor)
                }
                _ => (0, 0),
            };
            h.set_device_major(major).map_err(|err| bad(path, err))?;
            h.set_device_minor(minor).map_err(|err| bad(path, err))?;
            match &e.kind {
                EntryKind::Dir => h.set_entry_type(tar::EntryType::Directory),
                EntryKind::Bytes(_) | EntryKind::HostFile { .. } => {
                    h.set_entry_type(tar::EntryType::Regular)
                }
                EntryKind::Symlink(_) | EntryKind::Hardlink(_) => {
                    h.set_entry_type(if matches!(e.kind, EntryKind::Symlink(_)) {
                        tar::EntryType::Symlink
                    } else {
                        tar::EntryType::Link
                    });
                    // A longer target is in the PAX `linkpath` record.
                    if let Some(t) = link.as_deref().filter(|t| fits_ustar_link(t)) {
                        h.set_link_name(t).map_err(|err| bad(path, err))?;
                    }
                }
                EntryKind::CharDev { .. } => h.set_entry_type(tar::EntryType::Char),
                EntryKind::BlockDev { .. } => h.set_entry_type(tar::EntryType::Block),
                EntryKind::Fifo => h.set_entry_type(tar::EntryType::Fifo),
            }
            h.set_cksum();
            w.write_all(h.as_bytes()).map_err(ImageError::Write)?;
            match &e.kind {
                EntryKind::Bytes(b) => w.write_all(b).map_err(ImageError::Write)?,
                EntryKind::HostFile { path: host, size } => {
                    use std::os::unix::fs::OpenOptionsExt;
                    let mut f = std::fs::OpenOptions::new()
                        .read(true)
                        .custom_flags(libc::O_NOFOLLOW)
                        .open(host)
                        .map_err(ImageError::io("reading", host))?;
                    let mut left = *size;
                    while left > 0 {
                        let want = left.min(buf.len() as u64) as usize;
                        let n = f
                            .read(&mut buf[..want])
                            .map_err(ImageError::io("reading", host))?;
                        if n == 0 {
                            return Err(ImageError::BadEntry {
                                path: path.clone(),
                                message: format!("{} shrank while being read", host.display()),
                            });
                        }
                        w.write_all(&buf[..n]).map_err(ImageError::Write)?;
                        left -= n as u64;
                    }
                }
                _ => {}
            }
            let pad = (512 - (e.size() % 512) as usize) % 512;
            w.write_all(&[0u8; 512][..pad]).map_err(ImageError::Write)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_and_checked() {
        assert_eq!(normalize("/usr//local/./bin/x").unwrap(), "usr/local/bin/x");
        assert!(normalize("../etc/passwd").is_err());
        assert!(normalize("a/../../b").is_err());
        assert!(normalize("/").is_err());
    }

    #[test]
    fn tar_is_sorted_sized_and_readable() {
        let mut r = Rootfs::new();
        r.file("/usr/local/bin/app", vec![7u8; 1000], 0o555)
            .unwrap();
        r.file("/etc/passwd", "root:x:0:0::/:/sbin/nologin\n", 0o644)
            .unwrap();
        r.dir("/tmp", 0o1777, 0, 0).unwrap();
        r.symlink("/bin", "usr/local/bin").unwrap();
        let mut out = Vec::new();
        r.write_tar(&mut out, 1_700_000_000).unwrap();
        assert_eq!(out.len() as u64, r.tar_size());
        let mut a = tar::Archive::new(&out[..]);
        let names: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "bin",
                "etc/",
                "etc/passwd",
                "tmp/",
                "usr/",
                "usr/local/",
                "usr/local/bin/",
                "usr/local/bin/app"
            ]
        );
        let mut a = tar::Archive::new(&out[..]);
        for e in a.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            assert_eq!(h.mtime().unwrap(), 1_700_000_000);
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
            if e.path().unwrap().ends_with("app") {
                assert_eq!(h.mode().unwrap(), 0o555);
                assert_eq!(h.size().unwrap(), 1000);
            }
            if e.path().unwrap().to_str() == Some("tmp/") {
                assert_eq!(h.mode().unwrap(), 0o1777);
            }
        }
    }

    #[test]
    fn links_devices_and_xattrs_round_trip() {
        let mut r = Rootfs::new();
        r.file("bin/busybox", "BB", 0o4755).unwrap();
        r.add(
            "bin/sh",
            Entry::new(EntryKind::Hardlink("/bin/busybox".into()), 0o755, 0, 0),
        )
        .unwrap();
        r.add(
            "dev/null",
            Entry::new(EntryKind::CharDev { major: 1, minor: 3 }, 0o666, 0, 0),
        )
        .unwrap();
        r.add("run/fifo", Entry::new(EntryKind::Fifo, 0o600, 0, 0))
            .unwrap();
        let mut e = Entry::new(EntryKind::Bytes(b"x".to_vec()), 0o755, 0, 0);
        e.xattrs
            .insert("security.capability".into(), vec![1, 0, 0, 2]);
        r.add("usr/bin/ping", e).unwrap();
        assert!(r
            .add(
                "bin/bad",
                Entry::new(EntryKind::Hardlink("nope".into()), 0o755, 0, 0)
            )
            .is_err());
        let mut out = Vec::new();
        r.write_tar(&mut out, 0).unwrap();
        assert_eq!(out.len() as u64, r.tar_size());
        let mut a = tar::Archive::new(&out[..]);
        let mut seen = BTreeMap::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().display().to_string();
            let kind = e.header().entry_type();
            let xattr = e.pax_extensions().unwrap().and_then(|mut x| {
                x.find_map(|x| {
                    x.ok()
                        .filter(|x| x.key() == Ok("SCHILY.xattr.security.capability"))
                        .map(|x| x.value_bytes().to_vec())
                })
            });
            seen.insert(
                path,
                (
                    kind,
                    e.header()
                        .link_name()
                        .unwrap()
                        .map(|l| l.display().to_string()),
                    xattr,
                    e.header().mode().unwrap(),
                ),
            );
        }
        assert_eq!(seen["bin/sh"].0, tar::EntryType::Link);
        assert_eq!(seen["bin/sh"].1.as_deref(), Some("bin/busybox"));
        assert_eq!(seen["bin/busybox"].3, 0o4755);
        assert_eq!(seen["dev/null"].0, tar::EntryType::Char);
        assert_eq!(seen["run/fifo"].0, tar::EntryType::Fifo);
        assert_eq!(seen["usr/bin/ping"].2.as_deref(), Some(&[1u8, 0, 0, 2][..]));
    }

    #[test]
    fn long_names_and_link_targets_go_into_pax_records_up_to_path_max() {
        let deep = format!("{}/f.conf", vec!["d".repeat(60); 5].join("/"));
        assert_eq!(deep.len(), 311);
        let long_leaf = format!("opt/{}", "n".repeat(180));
        let mut r = Rootfs::new();
        r.file(&deep, "deep", 0o644).unwrap();
        r.file(&long_leaf, "leaf", 0o600).unwrap();
        r.symlink("opt/to-deep", &format!("/{deep}")).unwrap();
        r.add(
            "opt/hard",
            Entry::new(EntryKind::Hardlink(deep.clone()), 0o644, 0, 0),
        )
        .unwrap();
        assert!(normalize(&"x/".repeat(2100)).is_err());
        assert!(normalize(&"x/".repeat(2000)).is_ok());
        for prefix in ["", "rootfs/"] {
            let mut out = Vec::new();
            r.write_entries(&mut out, 5, prefix, &|_| true).unwrap();
            out.extend_from_slice(&[0u8; 1024]);
            if prefix.is_empty() {
                assert_eq!(out.len() as u64, r.tar_size());
            }
            let mut a = tar::Archive::new(&out[..]);
            let mut seen = BTreeMap::new();
            for e in a.entries().unwrap() {
                let e = e.unwrap();
                let link = e.link_name().unwrap().map(|l| l.display().to_string());
                seen.insert(e.path().unwrap().display().to_string(), link);
            }
            assert!(seen.contains_key(&format!("{prefix}{deep}")), "{seen:?}");
            assert!(seen.contains_key(&format!("{prefix}{long_leaf}")));
            assert_eq!(
                seen[&format!("{prefix}opt/to-deep")],
                Some(format!("/{deep}"))
            );
            assert_eq!(
                seen[&format!("{prefix}opt/hard")],
                Some(format!("{prefix}{deep}")),
                "a hard link names its target under the same prefix"
            );
        }
    }

    #[test]
    fn a_file_cannot_be_a_parent() {
        let mut r = Rootfs::new();
        r.file("a", "x", 0o644).unwrap();
        assert!(r.file("a/b", "y", 0o644).is_err());
    }
}
