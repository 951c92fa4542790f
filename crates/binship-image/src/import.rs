//! Importing untrusted bases: [`scan_tar`] checks every member of a base layer (a rootfs tarball
//! or an image's layer) before anything is written, computing its digests and folding it into a
//! merged [`View`] (whiteouts applied) from which the distro and /etc/passwd are read;
//! [`import_dir`] turns a directory into a [`Rootfs`] without following any symlink.
//!
//! Refused, with a one-line error naming the member: absolute or `..` names, a member written
//! through a symlink (of this layer or a lower one), hard links whose target is not an earlier
//! regular file of the same layer, duplicate entries, unsupported entry types, absurd names,
//! sizes, depths or member counts, and truncated or corrupt streams.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use binship_oci::HashReader;
use serde::Serialize;

use crate::rootfs::{Entry, EntryKind};
use crate::Rootfs;

/// How a base tar is compressed, detected by magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TarCompression {
    None,
    Gzip,
    Xz,
    Zstd,
}

impl TarCompression {
    pub fn sniff(head: &[u8]) -> TarCompression {
        if head.starts_with(&[0x1f, 0x8b]) {
            TarCompression::Gzip
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            TarCompression::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            TarCompression::Zstd
        } else {
            TarCompression::None
        }
    }

    /// A decoder for this compression over `r`.
    pub fn decoder<'a>(
        self,
        r: impl Read + Send + 'a,
    ) -> std::io::Result<Box<dyn Read + Send + 'a>> {
        Ok(match self {
            TarCompression::None => Box::new(r),
            TarCompression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
            TarCompression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(r)),
            TarCompression::Zstd => Box::new(zstd::stream::read::Decoder::new(r)?),
        })
    }

    /// The OCI layer media type, if OCI has one for it.
    pub fn media_type(self) -> Option<&'static str> {
        match self {
            TarCompression::None => Some(binship_oci::media_type::LAYER_TAR),
            TarCompression::Gzip => Some(binship_oci::media_type::LAYER_GZIP),
            TarCompression::Zstd => Some(binship_oci::media_type::LAYER_ZSTD),
            TarCompression::Xz => None,
        }
    }
}

/// Limits against absurd input.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_members: usize,
    pub max_name: usize,
    pub max_depth: usize,
    pub max_file_size: u64,
    pub max_total: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_members: 1_000_000,
            max_name: 4096,
            max_depth: 256,
            max_file_size: 16 << 30,
            max_total: 64 << 30,
        }
    }
}

/// Why a base was refused, or could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reading {base}: {message}")]
pub struct ImportError {
    pub base: String,
    pub message: String,
    /// The operating system failed a read of the base (a disk error, a directory where a file
    /// is needed): an I/O error, not bad input.
    pub io: bool,
}

/// Passes reads through and notes whether the source failed at the OS level (an error with
/// an errno), so a disk error is told apart from a corrupt stream.
struct NoteOsErrors<R> {
    inner: R,
    failed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl<R: Read> Read for NoteOsErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if e.raw_os_error().is_some() {
                self.failed
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
        })
    }
}

/// What the merged base holds at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewEntry {
    Dir,
    /// A file; the content is kept only for the few files binship reads.
    File(Option<Vec<u8>>),
    Symlink(String),
    Other,
}

/// Files whose content the view keeps.
pub const KEEP: &[&str] = &[
    "etc/os-release",
    "usr/lib/os-release",
    "etc/passwd",
    "etc/group",
    "etc/shadow",
];

/// Whether the view keeps `path`'s content: a [`KEEP`] path, or a file those may link to
/// (nix images link /etc/passwd into /nix/store: a file named like `passwd`, `group`, `shadow`
/// or `os-release`, `*-passwd` included).
pub fn keeps(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    KEEP.contains(&path)
        || ["passwd", "group", "shadow", "os-release"]
            .iter()
            .any(|k| name.ends_with(k))
}

/// The path a symlink at `at` pointing to `target` leads to, inside the view's root.
fn join_link(at: &str, target: &str) -> String {
    let joined = if target.starts_with('/') {
        target.trim_start_matches('/').to_string()
    } else {
        let parent = at.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        format!("{parent}/{target}")
    };
    let mut out: Vec<&str> = Vec::new();
    for c in joined.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

/// The merged view of a base's layers, as an engine would see it after applying them in order.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub entries: BTreeMap<String, ViewEntry>,
    /// Which layer (0-based, in the order scanned) supplies each entry: flattening emits an
    /// entry from that layer only.
    pub origin: BTreeMap<String, usize>,
    /// How many layers were scanned into this view.
    pub layers: usize,
    /// For each regular file that hard links name (by layer and path): the mode, uid and gid
    /// of the last header naming it. Engines apply a link header's metadata to the inode it
    /// shares with its target (docker's and containers/storage's layer unpacking chmod and
    /// chown every name), so a flattened tree uses these.
    pub link_meta: BTreeMap<(usize, String), (u32, u64, u64)>,
}

impl View {
    /// The first ancestor of `path` (not `path` itself) that is a symlink.
    pub fn symlink_ancestor(&self, path: &str) -> Option<String> {
        let mut prefix = String::new();
        let comps: Vec<&str> = path.split('/').collect();
        for c in &comps[..comps.len().saturating_sub(1)] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(c);
            if matches!(self.entries.get(&prefix), Some(ViewEntry::Symlink(_))) {
                return Some(prefix);
            }
        }
        None
    }

    /// Reads a kept file, following symlinks inside the view (at most 8).
    pub fn read(&self, path: &str) -> Option<&[u8]> {
        match self.resolve(path)? {
            ViewEntry::File(c) => c.as_deref(),
            _ => None,
        }
    }

    /// What `path` is once symlinks are followed inside the view (at most 8; an absolute
    /// target is taken from the view's root, never the host's): `None` when it is missing or
    /// a link leads nowhere.
    pub fn resolve(&self, path: &str) -> Option<&ViewEntry> {
        let mut p = path.trim_start_matches('/').to_string();
        for _ in 0..8 {
            // A link in a parent directory (lib64 -> usr/lib64) is followed too.
            if let Some(link) = self.symlink_ancestor(&p) {
                if let Some(ViewEntry::Symlink(t)) = self.entries.get(&link) {
                    let rest = p[link.len()..].to_string();
                    p = format!("{}{rest}", join_link(&link, t))
                        .trim_start_matches('/')
                        .to_string();
                    continue;
                }
            }
            match self.entries.get(&p)? {
                ViewEntry::Symlink(t) => p = join_link(&p, t),
                e => return Some(e),
            }
        }
        None
    }
    fn remove_tree(&mut self, dir: &str) {
        let prefix = format!("{dir}/");
        let doomed: Vec<String> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.remove(&k);
        }
    }

    fn remove(&mut self, path: &str) {
        self.entries.remove(path);
        self.origin.remove(path);
    }

    /// Applies a whiteout of the layer being scanned: everything under `path` (the whole view
    /// for ""), and `path` itself when `itself`, disappears, but only what lower layers
    /// supplied: a whiteout never hides an entry of its own layer, wherever it sorts.
    fn white_out(&mut self, path: &str, itself: bool) {
        let current = self.layers;
        let lower = |o: Option<&usize>| o.is_none_or(|&o| o < current);
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let mut doomed: Vec<String> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| lower(self.origin.get(*k)))
            .map(|(k, _)| k.clone())
            .collect();
        if itself && self.entries.contains_key(path) && lower(self.origin.get(path)) {
            doomed.push(path.to_string());
        }
        for k in doomed {
            self.remove(&k);
        }
    }

    fn insert(&mut self, path: String, entry: ViewEntry) {
        self.origin.insert(path.clone(), self.layers);
        self.entries.insert(path, entry);
    }
}

/// One checked base layer.
#[derive(Debug, Clone, Serialize)]
pub struct ScannedLayer {
    pub compression: TarCompression,
    /// sha256 of the raw (possibly compressed) bytes.
    pub digest: String,
    pub size: u64,
    /// sha256 of the uncompressed tar.
    pub diff_id: String,
    pub uncompressed_size: u64,
    pub members: usize,
}

/// Normalizes a member name: strips `./` and trailing `/`; refuses absolute and `..` names.
fn member_path(raw: &[u8], limits: &Limits) -> Result<Option<String>, String> {
    let name = utf8_name(raw, |n| format!("the name of member {n}"))?;
    let shown: String = name.chars().take(120).collect();
    if raw.len() > limits.max_name {
        return Err(format!(
            "member {shown}... has a name of {} bytes (limit {})",
            raw.len(),
            limits.max_name
        ));
    }
    if name.starts_with('/') {
        return Err(format!("member {shown} is an absolute path"));
    }
    let mut parts = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(format!("member {shown} escapes the root")),
            c => parts.push(c),
        }
    }
    if parts.len() > limits.max_depth {
        return Err(format!(
            "member {shown}... is {} directories deep (limit {})",
            parts.len(),
            limits.max_depth
        ));
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// A name or link target as text: binship keeps names byte for byte only as UTF-8 (its paths,
/// labels, SBOMs and JSON are text), so any other name is refused, never renamed. `what` turns
/// the bytes, shown escaped (`opt/\xfe.conf`), into the start of the one-line error.
pub fn utf8_name(raw: &[u8], what: impl Fn(&str) -> String) -> Result<&str, String> {
    std::str::from_utf8(raw).map_err(|_| {
        let shown: String = raw.escape_ascii().to_string().chars().take(160).collect();
        format!(
            "{} is not UTF-8 (binship keeps names byte for byte only as UTF-8 and never renames: rename it in the base)",
            what(&shown)
        )
    })
}

/// Checks every member of one layer read from `raw` and folds it into `view`.
pub fn scan_tar(
    raw: impl Read + Send,
    base: &str,
    view: &mut View,
    limits: &Limits,
) -> Result<ScannedLayer, ImportError> {
    let failed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let err = |m: String| ImportError {
        base: base.into(),
        message: m,
        io: failed.load(std::sync::atomic::Ordering::Relaxed),
    };
    let raw = NoteOsErrors {
        inner: raw,
        failed: failed.clone(),
    };
    let mut raw = HashReader::new(std::io::BufReader::with_capacity(1 << 20, raw));
    let head = {
        use std::io::BufRead;
        raw.inner
            .fill_buf()
            .map_err(|e| err(e.to_string()))?
            .iter()
            .take(8)
            .copied()
            .collect::<Vec<u8>>()
    };
    if head.is_empty() {
        return Err(err("empty file".into()));
    }
    let compression = TarCompression::sniff(&head);
    let (diff_id, uncompressed_size, members) = {
        let dec = compression
            .decoder(&mut raw)
            .map_err(|e| err(format!("{compression:?} stream: {e}")))?;
        let mut tee = HashReader::new(dec);
        let members = scan_members(&mut tee, view, limits).map_err(err)?;
        std::io::copy(&mut tee, &mut std::io::sink())
            .map_err(|e| err(format!("corrupt or truncated stream: {e}")))?;
        let (diff_id, n, _) = tee.finish();
        (String::from(diff_id), n, members)
    };
    std::io::copy(&mut raw, &mut std::io::sink()).map_err(|e| err(e.to_string()))?;
    let (digest, size, _) = raw.finish();
    Ok(ScannedLayer {
        compression,
        digest: digest.into(),
        size,
        diff_id,
        uncompressed_size,
        members,
    })
}

/// Checks every member of one layer's tar and applies it to `view` (whiteouts included).
pub(crate) fn scan_members(
    r: &mut dyn Read,
    view: &mut View,
    limits: &Limits,
) -> Result<usize, String> {
    use tar::EntryType as T;
    let mut a = tar::Archive::new(r);
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut files: BTreeSet<String> = BTreeSet::new();
    let mut symlinks_here: BTreeMap<String, String> = BTreeMap::new();
    let mut total = 0u64;
    let mut count = 0usize;
    let mut any = false;
    for e in a.entries().map_err(|e| format!("not a tar: {e}"))? {
        let mut e = e.map_err(|e| format!("corrupt or truncated tar: {e}"))?;
        any = true;
        count += 1;
        if count > limits.max_members {
            return Err(format!("more than {} members", limits.max_members));
        }
        let raw_name = e.path_bytes().into_owned();
        let Some(path) = member_path(&raw_name, limits)? else {
            // The root itself: only a directory entry may name it.
            if e.header().entry_type() != tar::EntryType::Directory {
                return Err(format!(
                    "member {} names the root but is not a directory",
                    String::from_utf8_lossy(&raw_name)
                ));
            }
            continue;
        };
        let kind = e.header().entry_type();
        let size = e
            .header()
            .size()
            .map_err(|er| format!("member {path}: bad size: {er}"))?;
        if size > limits.max_file_size {
            return Err(format!(
                "member {path} claims {size} bytes (limit {})",
                limits.max_file_size
            ));
        }
        total += size;
        if total > limits.max_total {
            return Err(format!(
                "members add up to more than {} bytes",
                limits.max_total
            ));
        }
        if !seen.insert(path.clone()) {
            return Err(format!("member {path} appears twice"));
        }
        // Written through a symlink of this layer or a lower one?
        let mut prefix = String::new();
        let comps: Vec<&str> = path.split('/').collect();
        for c in &comps[..comps.len() - 1] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(c);
            if symlinks_here.contains_key(&prefix)
                || matches!(view.entries.get(&prefix), Some(ViewEntry::Symlink(_)))
            {
                return Err(format!(
                    "member {path} is written through the symlink {prefix}"
                ));
            }
        }
        let name = path.rsplit('/').next().unwrap_or(&path).to_string();
        let parent = path
            .rsplit_once('/')
            .map(|(d, _)| d.to_string())
            .unwrap_or_default();
        // Whiteouts (OCI/AUFS): remove from the lower layers' view.
        if let Some(hidden) = name.strip_prefix(".wh.") {
            if hidden == ".wh..opq" {
                view.white_out(&parent, false);
            } else if parent.is_empty() {
                view.white_out(hidden, true);
            } else {
                view.white_out(&format!("{parent}/{hidden}"), true);
            }
            continue;
        }
        let entry = match kind {
            T::Regular | T::Continuous => {
                files.insert(path.clone());
                if keeps(&path) && size <= 1 << 20 {
                    let mut c = Vec::new();
                    e.read_to_end(&mut c)
                        .map_err(|er| format!("member {path}: {er}"))?;
                    ViewEntry::File(Some(c))
                } else {
                    ViewEntry::File(None)
                }
            }
            T::Directory => ViewEntry::Dir,
            T::Symlink => {
                let target = e.link_name_bytes().unwrap_or_default();
                let target = utf8_name(&target, |t| {
                    format!("the target {t} of symlink member {path}")
                })?
                .to_string();
                if target.is_empty() {
                    return Err(format!("member {path} is a symlink with no target"));
                }
                symlinks_here.insert(path.clone(), target.clone());
                ViewEntry::Symlink(target)
            }
            T::Link => {
                let target = e
                    .link_name_bytes()
                    .map(|b| b.into_owned())
                    .unwrap_or_default();
                let t = member_path(&target, limits).map_err(|m| {
                    format!(
                        "member {path} is a hard link whose target {}",
                        m.trim_start_matches("member ")
                    )
                })?;
                match t {
                    Some(t) if files.contains(&t) => {
                        let h = e.header();
                        let meta = (
                            h.mode().unwrap_or(0o644) & 0o7777,
                            h.uid().unwrap_or(0),
                            h.gid().unwrap_or(0),
                        );
                        view.link_meta.insert((view.layers, t), meta);
                        ViewEntry::File(None)
                    }
                    _ => {
                        return Err(format!(
                            "member {path} is a hard link to {}, which is not an earlier regular file of this layer",
                            String::from_utf8_lossy(&target)
                        ))
                    }
                }
            }
            T::Char | T::Block | T::Fifo => ViewEntry::Other,
            other => {
                return Err(format!(
                    "member {path} has an unsupported entry type {:?}",
                    other
                ))
            }
        };
        if entry == ViewEntry::Dir {
            // A dir replaces a non-dir below it; it keeps what is inside an existing dir, also
            // one no member declared yet (a parent created for an earlier member).
            if view
                .entries
                .get(&path)
                .is_some_and(|e| *e != ViewEntry::Dir)
            {
                view.remove_tree(&path);
            }
        } else {
            view.remove_tree(&path);
        }
        view.insert(path, entry);
    }
    if !any {
        return Err("not a tar (no members)".into());
    }
    view.layers += 1;
    Ok(count)
}

/// Turns a directory into a [`Rootfs`]: dirs, files, symlinks (never followed), hard links
/// (by inode), device nodes and fifos, with modes, owners and xattrs.
pub fn import_dir(dir: &Path, base: &str) -> Result<Rootfs, ImportError> {
    let err = |m: String| ImportError {
        base: base.into(),
        message: m,
        io: false,
    };
    let meta = std::fs::symlink_metadata(dir).map_err(|e| err(e.to_string()))?;
    if !meta.is_dir() {
        return Err(err("not a directory".into()));
    }
    let mut found: Found = BTreeMap::new();
    walk(dir, dir, &mut found).map_err(err)?;
    // Hard links: in each group of names for one inode, the first in path order (the order the
    // layer is written in) holds the content and the others link to it.
    let mut first: BTreeMap<(u64, u64), String> = BTreeMap::new();
    let mut r = Rootfs::new();
    for (rel, (mut e, inode)) in found {
        if let Some(key) = inode {
            match first.get(&key) {
                Some(f) => e.kind = EntryKind::Hardlink(f.clone()),
                None => {
                    first.insert(key, rel.clone());
                }
            }
        }
        r.add(&rel, e).map_err(|e| err(e.to_string()))?;
    }
    Ok(r)
}

fn xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let mut out = BTreeMap::new();
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return out;
    };
    let mut names = vec![0u8; 64 * 1024];
    // SAFETY: c is NUL-terminated; names is a writable buffer of the given length.
    let n = unsafe {
        libc::llistxattr(
            c.as_ptr(),
            names.as_mut_ptr() as *mut libc::c_char,
            names.len(),
        )
    };
    if n <= 0 {
        return out;
    }
    for name in names[..n as usize]
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
    {
        let Ok(cn) = CString::new(name) else { continue };
        let mut val = vec![0u8; 64 * 1024];
        // SAFETY: as above, for one attribute's value.
        let m = unsafe {
            libc::lgetxattr(
                c.as_ptr(),
                cn.as_ptr(),
                val.as_mut_ptr() as *mut libc::c_void,
                val.len(),
            )
        };
        if m >= 0 {
            val.truncate(m as usize);
            out.insert(String::from_utf8_lossy(name).into_owned(), val);
        }
    }
    out
}

/// Entries by path relative to the base's root, with the (device, inode) of each regular file
/// that has other names.
type Found = BTreeMap<String, (Entry, Option<(u64, u64)>)>;

/// Collects every entry under `dir` into `found`.
fn walk(root: &Path, dir: &Path, found: &mut Found) -> Result<(), String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        let rel = {
            use std::os::unix::ffi::OsStrExt;
            let rel = p.strip_prefix(root).map_err(|e| e.to_string())?;
            utf8_name(rel.as_os_str().as_bytes(), |n| {
                format!("the name of file {n}")
            })?
            .to_string()
        };
        let m = std::fs::symlink_metadata(&p).map_err(|e| format!("{rel}: {e}"))?;
        let ft = m.file_type();
        let mode = m.mode() & 0o7777;
        let kind = if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            let t = std::fs::read_link(&p).map_err(|e| format!("{rel}: {e}"))?;
            let t = {
                use std::os::unix::ffi::OsStrExt;
                utf8_name(t.as_os_str().as_bytes(), |t| {
                    format!("the target {t} of symlink {rel}")
                })?
                .to_string()
            };
            EntryKind::Symlink(t)
        } else if ft.is_file() {
            EntryKind::HostFile {
                path: p.clone(),
                size: m.len(),
            }
        } else if ft.is_char_device() || ft.is_block_device() {
            let rdev = m.rdev();
            let (major, minor) = (libc::major(rdev), libc::minor(rdev));
            if ft.is_char_device() {
                EntryKind::CharDev { major, minor }
            } else {
                EntryKind::BlockDev { major, minor }
            }
        } else if ft.is_fifo() {
            EntryKind::Fifo
        } else {
            continue; // sockets are not kept
        };
        let inode = (ft.is_file() && m.nlink() > 1).then(|| (m.dev(), m.ino()));
        let mut e = Entry::new(kind, mode, m.uid() as u64, m.gid() as u64);
        e.xattrs = xattrs(&p);
        let is_dir = e.kind == EntryKind::Dir;
        if rel.len() > crate::rootfs::PATH_MAX {
            return Err(format!(
                "file {}...: path longer than {} bytes (PATH_MAX)",
                rel.chars().take(120).collect::<String>(),
                crate::rootfs::PATH_MAX
            ));
        }
        found.insert(rel, (e, inode));
        if is_dir {
            walk(root, &p, found)?;
        }
    }
    Ok(())
}

/// The base's distribution, from /etc/os-release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Distro {
    /// alpine, debian, ubuntu, or what ID= says ("other" when there is no os-release).
    pub id: String,
    pub version: String,
    pub pretty: String,
}

/// Reads /etc/os-release (or /usr/lib/os-release) from the view.
pub fn detect_distro(view: &View) -> Distro {
    let text = view
        .read("etc/os-release")
        .or_else(|| view.read("usr/lib/os-release"))
        .map(|b| String::from_utf8_lossy(b).into_owned());
    let Some(text) = text else {
        return Distro {
            id: "other".into(),
            version: String::new(),
            pretty: "unknown (no /etc/os-release)".into(),
        };
    };
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_string())
            .unwrap_or_default()
    };
    let id = get("ID").to_ascii_lowercase();
    let id = match id.as_str() {
        "alpine" | "debian" | "ubuntu" => id,
        "" => "other".into(),
        other => other
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect(),
    };
    let pretty = get("PRETTY_NAME");
    Distro {
        id,
        version: get("VERSION_ID"),
        pretty,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::raw_tar;

    fn scan(bytes: &[u8]) -> Result<ScannedLayer, String> {
        scan_tar(
            bytes,
            "base t.tar",
            &mut View::default(),
            &Limits::default(),
        )
        .map_err(|e| e.to_string())
    }

    use tar::EntryType as T;

    #[test]
    fn hostile_members_are_refused_by_name() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                raw_tar(&[("../etc/passwd", T::Regular, b"x", None)]),
                "member ../etc/passwd escapes the root",
            ),
            (
                raw_tar(&[("/etc/shadow", T::Regular, b"x", None)]),
                "member /etc/shadow is an absolute path",
            ),
            (
                raw_tar(&[("a/../../b", T::Regular, b"x", None)]),
                "escapes the root",
            ),
            (
                raw_tar(&[
                    ("lnk", T::Symlink, b"", Some("/etc")),
                    ("lnk/passwd", T::Regular, b"x", None),
                ]),
                "member lnk/passwd is written through the symlink lnk",
            ),
            (
                raw_tar(&[("h", T::Link, b"", Some("/etc/shadow"))]),
                "hard link",
            ),
            (
                raw_tar(&[
                    ("h", T::Link, b"", Some("later")),
                    ("later", T::Regular, b"x", None),
                ]),
                "not an earlier regular file",
            ),
            (
                raw_tar(&[
                    ("a", T::Regular, b"x", None),
                    ("./a", T::Regular, b"y", None),
                ]),
                "member a appears twice",
            ),
        ];
        for (bytes, want) in cases {
            let e = scan(&bytes).unwrap_err();
            assert!(e.contains(want), "{e} (wanted {want})");
            assert!(e.starts_with("reading base t.tar: "), "{e}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn truncated_and_corrupt_streams_are_refused() {
        let good = raw_tar(&[("a", T::Regular, &[7u8; 5000], None)]);
        assert!(scan(&good).is_ok());
        assert!(scan(&good[..1500]).unwrap_err().contains("truncated"));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &good).unwrap();
        let gz = gz.finish().unwrap();
        let s = scan(&gz).unwrap();
        assert_eq!(s.compression, TarCompression::Gzip);
        assert_eq!(s.diff_id, binship_oci::Digest::of(&good).as_str());
        assert_eq!(s.digest, binship_oci::Digest::of(&gz).as_str());
        let mut bad = gz.clone();
        let n = bad.len();
        bad[n / 2] ^= 0x55;
        assert!(scan(&bad).is_err());
        assert!(scan(&gz[..gz.len() / 2]).is_err());
        assert!(scan(b"").unwrap_err().contains("empty"));
        assert!(scan(&[0x42; 3000]).is_err());
    }

    #[test]
    fn limits_cut_absurd_input() {
        let deep = "d/".repeat(300) + "f";
        let t = crate::testing::tar_of(&[crate::testing::Member::file(deep, "", 0o644)]);
        assert!(scan(&t).unwrap_err().contains("directories deep"));
        let small = Limits {
            max_members: 2,
            ..Limits::default()
        };
        let three = raw_tar(&[
            ("a", T::Regular, b"", None),
            ("b", T::Regular, b"", None),
            ("c", T::Regular, b"", None),
        ]);
        assert!(scan_tar(&three[..], "b", &mut View::default(), &small)
            .unwrap_err()
            .to_string()
            .contains("more than 2 members"));
    }

    #[test]
    fn whiteouts_and_symlinked_os_release_in_the_view() {
        let mut v = View::default();
        let lower = raw_tar(&[
            (
                "usr/lib/os-release",
                T::Regular,
                b"ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
                None,
            ),
            (
                "etc/os-release",
                T::Symlink,
                b"",
                Some("../usr/lib/os-release"),
            ),
            ("opt/x/file", T::Regular, b"x", None),
            ("gone", T::Regular, b"x", None),
        ]);
        scan_tar(&lower[..], "l", &mut v, &Limits::default()).unwrap();
        let d = detect_distro(&v);
        assert_eq!((d.id.as_str(), d.version.as_str()), ("debian", "12"));
        let upper = raw_tar(&[
            (".wh.gone", T::Regular, b"", None),
            ("opt/x/.wh..wh..opq", T::Regular, b"", None),
        ]);
        scan_tar(&upper[..], "u", &mut v, &Limits::default()).unwrap();
        assert!(!v.entries.contains_key("gone"));
        assert!(!v.entries.contains_key("opt/x/file"));
        // A whiteout hides lower layers only: this layer's entries stay, whether they sort
        // before the opaque marker (`-new` < `.wh..wh..opq`) or share the whited-out name.
        let own = raw_tar(&[
            ("opt/y/-new", T::Regular, b"n", None),
            ("opt/y/.wh..wh..opq", T::Regular, b"", None),
            ("back", T::Regular, b"b", None),
            (".wh.back", T::Regular, b"", None),
        ]);
        scan_tar(&own[..], "own", &mut v, &Limits::default()).unwrap();
        assert!(
            v.entries.contains_key("opt/y/-new"),
            "{:?}",
            v.entries.keys()
        );
        assert!(v.entries.contains_key("back"));
        assert_eq!(v.origin.get("back"), Some(&2));
        // A later layer may not write through the lower layer's symlink.
        let through = raw_tar(&[("etc/os-release/x", T::Regular, b"x", None)]);
        assert!(scan_tar(&through[..], "u2", &mut v, &Limits::default()).is_err());
    }

    #[test]
    fn a_directory_keeps_xattrs_fifos_modes_and_devices() {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("r");
        std::fs::create_dir(&root).unwrap();
        let f = root.join("tool");
        std::fs::write(&f, "x").unwrap();
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o4711)).unwrap();
        let cf = CString::new(f.as_os_str().as_bytes()).unwrap();
        let name = CString::new("user.binship").unwrap();
        // SAFETY: valid C strings and a 3-byte value.
        let xattr_ok = unsafe {
            libc::setxattr(
                cf.as_ptr(),
                name.as_ptr(),
                b"yes".as_ptr() as *const libc::c_void,
                3,
                0,
            )
        } == 0;
        let fifo = CString::new(root.join("fifo").as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let is_root = unsafe { libc::geteuid() } == 0;
        if is_root {
            let dev = CString::new(root.join("null").as_os_str().as_bytes()).unwrap();
            // SAFETY: a valid path; makedev(1, 3) is /dev/null's number.
            assert_eq!(
                unsafe { libc::mknod(dev.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) },
                0
            );
        }
        let r = import_dir(&root, "base dir").unwrap();
        let tool = r.get("tool").unwrap();
        assert_eq!(tool.mode, 0o4711);
        if xattr_ok {
            assert_eq!(
                tool.xattrs.get("user.binship").map(Vec::as_slice),
                Some(&b"yes"[..])
            );
        }
        assert_eq!(r.get("fifo").unwrap().kind, EntryKind::Fifo);
        if is_root {
            assert_eq!(
                r.get("null").unwrap().kind,
                EntryKind::CharDev { major: 1, minor: 3 }
            );
        }
        let mut out = Vec::new();
        r.write_tar(&mut out, 0).unwrap();
        assert!(scan_tar(&out[..], "dir", &mut View::default(), &Limits::default()).is_ok());
    }

    #[test]
    fn a_directory_imports_without_following_symlinks() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/os-release"), "ID=alpine\n").unwrap();
        std::os::unix::fs::symlink("/etc/shadow", root.join("etc/shadow-link")).unwrap();
        std::fs::write(root.join("a"), "A").unwrap();
        std::fs::hard_link(root.join("a"), root.join("b")).unwrap();
        let r = import_dir(&root, "base dir").unwrap();
        assert_eq!(
            r.get("etc/shadow-link").unwrap().kind,
            EntryKind::Symlink("/etc/shadow".into())
        );
        assert_eq!(r.get("b").unwrap().kind, EntryKind::Hardlink("a".into()));
        let mut out = Vec::new();
        r.write_tar(&mut out, 0).unwrap();
        // The symlink's target content never went in.
        let shadow_marker = b"root:";
        assert!(!out.windows(5).any(|w| w == shadow_marker) || !Path::new("/etc/shadow").exists());
        let mut v = View::default();
        scan_tar(&out[..], "again", &mut v, &Limits::default()).unwrap();
        assert_eq!(detect_distro(&v).id, "alpine");
    }
}
