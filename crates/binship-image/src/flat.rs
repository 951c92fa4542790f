//! Flattening for system-container formats (LXC, Incus), which take one root filesystem, not
//! layers: [`write_flat`] streams the base layer's entries (already checked by the importer)
//! minus what the layers above replace, then those layers' entries, into one deterministic tar
//! (every mtime fixed, owner names cleared), optionally under a prefix such as `rootfs/`.
//! And [`xz_writer`]: liblzma's multi-threaded encoder with a fixed block size, so the bytes do
//! not depend on the core count.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};

use crate::config::Layer;
use crate::import::{scan_members, Limits, View, ViewEntry};
use crate::{EntryKind, ImageError, Rootfs};

/// xz's default preset.
pub const DEFAULT_XZ_PRESET: u32 = 6;

/// An xz encoder: always the multi-threaded one (>= 1 thread), 8 MiB blocks, preset 6.
pub fn xz_writer<W: Write>(
    w: W,
    threads: usize,
) -> Result<liblzma::write::XzEncoder<W>, ImageError> {
    xz_writer_preset(w, threads, DEFAULT_XZ_PRESET)
}

/// As [`xz_writer`] with a preset (0-9).
pub fn xz_writer_preset<W: Write>(
    w: W,
    threads: usize,
    preset: u32,
) -> Result<liblzma::write::XzEncoder<W>, ImageError> {
    let stream = liblzma::stream::MtStreamBuilder::new()
        .threads(threads.max(1) as u32)
        .block_size(8 << 20)
        .preset(preset.min(9))
        .check(liblzma::stream::Check::Crc64)
        .encoder()
        .map_err(|e| ImageError::Invalid {
            what: "xz encoder".into(),
            message: e.to_string(),
        })?;
    Ok(liblzma::write::XzEncoder::new_stream(w, stream))
}

fn norm(p: &str) -> String {
    p.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// Counts what passes through.
struct Counting<'a> {
    inner: &'a mut dyn Write,
    n: u64,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `layers` as one root filesystem tar into `w`: the base (a rootfs, or any number of
/// checked blob layers, applied as an engine would: later layers win, whiteouts and opaque
/// directories hide what is below) under binship's own layers. Returns the tar's size.
pub fn write_flat(
    layers: &[Layer],
    prefix: &str,
    mtime: u64,
    w: &mut dyn Write,
) -> Result<u64, ImageError> {
    let mut counting = Counting { inner: w, n: 0 };
    let bad = |m: String| ImageError::Invalid {
        what: "flattening the image".into(),
        message: m,
    };
    let blobs = layers
        .iter()
        .take_while(|l| matches!(l, Layer::Blob(_)))
        .count();
    let (base_rootfs, ours): (Option<&Rootfs>, &[Layer]) = match (blobs, layers.first()) {
        (0, Some(Layer::Rootfs(r))) if layers.len() > 1 => (Some(r), &layers[1..]),
        _ => (None, &layers[blobs..]),
    };
    let mut top = Rootfs::new();
    for l in ours {
        match l {
            Layer::Rootfs(r) => top.merge(r)?,
            Layer::Blob(_) => {
                return Err(bad(
                    "a base image layer above binship's own layers cannot be flattened".into(),
                ))
            }
        }
    }
    let replaced: BTreeSet<String> = top
        .entries()
        .filter(|(_, e)| e.kind != EntryKind::Dir)
        .map(|(p, _)| p.clone())
        .collect();
    // Dirs already in the output: binship's own layer adds only the dirs the base lacks.
    let mut emitted_dirs: BTreeSet<String> = BTreeSet::new();
    let mut b = tar::Builder::new(&mut counting);
    b.mode(tar::HeaderMode::Deterministic);
    if !prefix.is_empty() {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_mtime(mtime);
        h.set_size(0);
        b.append_data(&mut h, prefix.trim_end_matches('/'), std::io::empty())
            .map_err(ImageError::Write)?;
    }
    if let Some(r) = base_rootfs {
        for (p, e) in r.entries() {
            if e.kind == EntryKind::Dir {
                emitted_dirs.insert(p.clone());
            }
        }
        let r = keep_orphaned_links(r, &replaced)?;
        r.write_entries(b.get_mut(), mtime, prefix, &|p| !replaced.contains(p))?;
    }
    if blobs > 0 {
        // Pass 1: which layer supplies each path once every layer is applied (a whiteout
        // hides only what is below it), and which dirs some layer declares.
        let mut view = View::default();
        for l in &layers[..blobs] {
            let Layer::Blob(blob) = l else { unreachable!() };
            let raw = (blob.open)().map_err(ImageError::Write)?;
            let mut dec = blob.compression.decoder(raw).map_err(ImageError::Write)?;
            scan_members(&mut dec, &mut view, &Limits::default()).map_err(bad)?;
        }
        let supplies = |i: usize, path: &str| view.origin.get(path) == Some(&i);
        // Hard links whose target a later layer (or binship's) replaces: the first link kept
        // becomes a file with the old content, as in an engine's merged tree, and later links
        // to the same target point at it. Keyed by (layer, target).
        let mut orphans: BTreeMap<(usize, String), String> = BTreeMap::new();
        // Pass 2: each layer's entries that survive, in layer order.
        for (i, l) in layers[..blobs].iter().enumerate() {
            let Layer::Blob(blob) = l else { unreachable!() };
            let raw = (blob.open)().map_err(ImageError::Write)?;
            let dec = blob.compression.decoder(raw).map_err(ImageError::Write)?;
            let mut a = tar::Archive::new(dec);
            for e in a.entries().map_err(ImageError::Write)? {
                let mut e = e.map_err(ImageError::Write)?;
                let path = norm(&String::from_utf8_lossy(&e.path_bytes()));
                if path.is_empty() || replaced.contains(&path) || !supplies(i, &path) {
                    // The root, ours, a whiteout (never in the view) or hidden by a later layer.
                    continue;
                }
                // A parent no layer declares: an engine creates it as a root-owned 0755 dir.
                for parent in ancestors(&path) {
                    if !emitted_dirs.contains(parent)
                        && !matches!(view.entries.get(parent), Some(ViewEntry::Dir))
                        && top.get(parent).is_none()
                    {
                        append_dir(&mut b, prefix, parent, mtime)?;
                        emitted_dirs.insert(parent.to_string());
                    }
                }
                let kind = e.header().entry_type();
                if kind == tar::EntryType::Directory {
                    emitted_dirs.insert(path.clone());
                }
                let link = e
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned());
                let name = if kind == tar::EntryType::Directory {
                    format!("{prefix}{path}/")
                } else {
                    format!("{prefix}{path}")
                };
                // A file that hard links name takes the last link header's mode and owner.
                let meta_key = (
                    i,
                    if kind == tar::EntryType::Link {
                        norm(link.as_deref().unwrap_or_default())
                    } else {
                        path.clone()
                    },
                );
                let meta = view.link_meta.get(&meta_key).copied();
                if kind == tar::EntryType::Link {
                    let target = norm(link.as_deref().unwrap_or_default());
                    if !supplies(i, &target) || replaced.contains(&target) {
                        let key = (i, target);
                        if let Some(first) = orphans.get(&key) {
                            let mut h = fresh_header(e.header(), mtime, meta);
                            b.append_link(&mut h, &name, format!("{prefix}{first}"))
                                .map_err(ImageError::Write)?;
                        } else {
                            copy_member(&mut b, blob, &key.1, &name, mtime, meta)?;
                            orphans.insert(key, path.clone());
                        }
                        continue;
                    }
                }
                let xattrs = xattrs_of(&mut e)?;
                let mut h = fresh_header(e.header(), mtime, meta);
                if !xattrs.is_empty() {
                    b.append_pax_extensions(xattrs.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                        .map_err(ImageError::Write)?;
                }
                match (kind, link) {
                    (tar::EntryType::Link, Some(target)) => {
                        b.append_link(&mut h, &name, format!("{prefix}{}", norm(&target)))
                            .map_err(ImageError::Write)?;
                    }
                    (tar::EntryType::Symlink, Some(target)) => {
                        b.append_link(&mut h, &name, &target)
                            .map_err(ImageError::Write)?;
                    }
                    _ => {
                        let size = h.size().unwrap_or(0);
                        b.append_data(&mut h, &name, (&mut e).take(size))
                            .map_err(ImageError::Write)?;
                    }
                }
            }
        }
    }
    top.write_entries(b.get_mut(), mtime, prefix, &|p| {
        !emitted_dirs.contains(p) || top.get(p).is_some_and(|e| e.kind != EntryKind::Dir)
    })?;
    b.into_inner().map_err(ImageError::Write)?;
    Ok(counting.n)
}

/// `a/b/c` -> `a`, `a/b`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// A new header with `orig`'s type, mode, owner, size and device numbers, the fixed mtime and
/// no owner names: the same bytes on every machine. Never `orig` itself: its name fields (a
/// ustar prefix, a truncated GNU name) would leak into the new name. `meta` (mode, uid, gid)
/// replaces the mode and owner (see [`View::link_meta`]).
fn fresh_header(orig: &tar::Header, mtime: u64, meta: Option<(u32, u64, u64)>) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(orig.entry_type());
    let (mode, uid, gid) = meta.unwrap_or((
        orig.mode().unwrap_or(0o644),
        orig.uid().unwrap_or(0),
        orig.gid().unwrap_or(0),
    ));
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_size(orig.size().unwrap_or(0));
    if let (Ok(Some(major)), Ok(Some(minor))) = (orig.device_major(), orig.device_minor()) {
        let _ = h.set_device_major(major);
        let _ = h.set_device_minor(minor);
    }
    h.set_mtime(mtime);
    h
}

/// A root-owned 0755 dir entry, as an engine creates for a parent no layer declares.
fn append_dir(
    b: &mut tar::Builder<&mut Counting<'_>>,
    prefix: &str,
    path: &str,
    mtime: u64,
) -> Result<(), ImageError> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_size(0);
    b.append_data(&mut h, format!("{prefix}{path}/"), std::io::empty())
        .map_err(ImageError::Write)
}

/// A member's `SCHILY.xattr.*` PAX records.
fn xattrs_of<R: Read>(e: &mut tar::Entry<'_, R>) -> Result<Vec<(String, Vec<u8>)>, ImageError> {
    Ok(e.pax_extensions()
        .map_err(ImageError::Write)?
        .map(|x| {
            x.filter_map(|x| x.ok())
                .filter(|x| x.key().is_ok_and(|k| k.starts_with("SCHILY.xattr.")))
                .map(|x| {
                    (
                        x.key().unwrap_or_default().to_string(),
                        x.value_bytes().to_vec(),
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Writes `blob`'s regular file `target` (its header, xattrs and content) as the file `name`:
/// what a hard link keeps once a later layer replaces the name it linked to. Reads the layer
/// again (rare: only for such links).
fn copy_member(
    b: &mut tar::Builder<&mut Counting<'_>>,
    blob: &crate::config::BlobLayer,
    target: &str,
    name: &str,
    mtime: u64,
    meta: Option<(u32, u64, u64)>,
) -> Result<(), ImageError> {
    let raw = (blob.open)().map_err(ImageError::Write)?;
    let dec = blob.compression.decoder(raw).map_err(ImageError::Write)?;
    let mut a = tar::Archive::new(dec);
    for e in a.entries().map_err(ImageError::Write)? {
        let mut e = e.map_err(ImageError::Write)?;
        if norm(&String::from_utf8_lossy(&e.path_bytes())) != target
            || !e.header().entry_type().is_file()
        {
            continue;
        }
        let xattrs = xattrs_of(&mut e)?;
        if !xattrs.is_empty() {
            b.append_pax_extensions(xattrs.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .map_err(ImageError::Write)?;
        }
        let mut h = fresh_header(e.header(), mtime, meta);
        let size = h.size().unwrap_or(0);
        return b
            .append_data(&mut h, name, (&mut e).take(size))
            .map_err(ImageError::Write);
    }
    Err(ImageError::Invalid {
        what: "flattening the image".into(),
        message: format!("hard link target {target} vanished from its layer"),
    })
}

/// A rootfs base whose hard links to a path binship's layer replaces are turned into what an
/// engine leaves: the first such link (in path order) a copy of the old file, later ones links
/// to it. Borrowed unchanged when there is none.
fn keep_orphaned_links<'a>(
    r: &'a Rootfs,
    replaced: &BTreeSet<String>,
) -> Result<std::borrow::Cow<'a, Rootfs>, ImageError> {
    let orphaned = |e: &crate::rootfs::Entry| matches!(&e.kind, EntryKind::Hardlink(t) if replaced.contains(t));
    if !r.entries().any(|(_, e)| orphaned(e)) {
        return Ok(std::borrow::Cow::Borrowed(r));
    }
    let mut out = Rootfs::new();
    let mut first: BTreeMap<String, String> = BTreeMap::new();
    for (p, e) in r.entries() {
        let mut e = e.clone();
        if let EntryKind::Hardlink(t) = &e.kind {
            if replaced.contains(t) {
                if let Some(f) = first.get(t) {
                    e.kind = EntryKind::Hardlink(f.clone());
                } else if let Some(old) = r.get(t) {
                    first.insert(t.clone(), p.clone());
                    e.kind = old.kind.clone();
                    e.xattrs = old.xattrs.clone();
                }
            }
        }
        out.add(p, e)?;
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// Reads a flat tar back (any compression) and lists its regular files with sizes; refuses
/// members that escape. For the LXC/Incus readers and tests.
pub fn list_files(r: impl Read + Send) -> Result<Vec<(String, u64)>, ImageError> {
    let mut r = std::io::BufReader::new(r);
    let head = std::io::BufRead::fill_buf(&mut r)
        .map_err(ImageError::Write)?
        .to_vec();
    let dec = crate::import::TarCompression::sniff(&head)
        .decoder(r)
        .map_err(ImageError::Write)?;
    let mut a = tar::Archive::new(dec);
    let mut out = Vec::new();
    for e in a.entries().map_err(ImageError::Write)? {
        let e = e.map_err(ImageError::Write)?;
        let p = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        if p.starts_with('/') || p.split('/').any(|c| c == "..") {
            return Err(ImageError::BadEntry {
                path: p,
                message: "escapes the root".into(),
            });
        }
        if e.header().entry_type().is_file() {
            out.push((norm(&p), e.size()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BlobLayer;
    use std::sync::Arc;

    #[test]
    fn flattening_replaces_base_files_and_keeps_base_dirs() {
        let layer = blob(&[
            ("etc/", ""),
            ("etc/passwd", "root:x:0:0::/:/bin/sh\n"),
            ("bin/", ""),
            ("bin/sh", "SH"),
        ]);
        let mut ours = Rootfs::new();
        ours.file(
            "etc/passwd",
            "root:x:0:0::/:/bin/sh\napp:x:65532:65532::/:/sbin/nologin\n",
            0o644,
        )
        .unwrap();
        ours.file("usr/local/bin/app", "APP", 0o555).unwrap();
        let layers = vec![layer, Layer::Rootfs(ours)];
        let mut out = Vec::new();
        write_flat(&layers, "rootfs/", 7, &mut out).unwrap();
        let mut a = tar::Archive::new(&out[..]);
        let mut names = Vec::new();
        let mut passwd = String::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            assert_eq!(e.header().mtime().unwrap(), 7);
            let n = e.path().unwrap().display().to_string();
            if n == "rootfs/etc/passwd" {
                e.read_to_string(&mut passwd).unwrap();
            }
            names.push(n);
        }
        assert_eq!(
            names.iter().filter(|n| *n == "rootfs/etc/passwd").count(),
            1,
            "{names:?}"
        );
        assert_eq!(
            names.iter().filter(|n| *n == "rootfs/etc/").count(),
            1,
            "{names:?}"
        );
        assert!(passwd.contains("app:x:65532"));
        assert!(
            names.contains(&"rootfs/usr/local/bin/app".to_string())
                && names.contains(&"rootfs/bin/sh".to_string())
        );
        // Same input, same bytes.
        let mut again = Vec::new();
        write_flat(&layers, "rootfs/", 7, &mut again).unwrap();
        assert_eq!(out, again);
    }

    /// A blob layer of (name, data): names ending in `/` are dirs, `a->b` symlinks and `a=>b`
    /// hard links.
    fn blob(entries: &[(&str, &str)]) -> Layer {
        use crate::testing::{tar_of, Member as M};
        let members: Vec<M> = entries
            .iter()
            .map(|(name, data)| {
                if name.ends_with('/') {
                    M::dir(*name)
                } else if let Some((n, t)) = name.split_once("=>") {
                    M::hardlink(n, t)
                } else if let Some((n, t)) = name.split_once("->") {
                    M::symlink(n, t)
                } else {
                    M::file(*name, *data, 0o644)
                }
            })
            .collect();
        let bytes = Arc::new(tar_of(&members));
        let len = bytes.len() as u64;
        Layer::Blob(BlobLayer {
            open: Arc::new(move || {
                Ok(Box::new(std::io::Cursor::new(bytes.as_ref().clone())) as Box<dyn Read + Send>)
            }),
            compression: crate::import::TarCompression::None,
            digest: String::new(),
            size: len,
            diff_id: String::new(),
            uncompressed_size: len,
        })
    }

    fn flat_files(layers: &[Layer]) -> Result<Vec<(String, String)>, ImageError> {
        let mut out = Vec::new();
        write_flat(layers, "", 1, &mut out)?;
        let mut a = tar::Archive::new(&out[..]);
        let mut files = Vec::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let n = e.path().unwrap().display().to_string();
            let mut c = String::new();
            if e.header().entry_type().is_file() {
                e.read_to_string(&mut c).unwrap();
            } else if let Some(l) = e.link_name().unwrap() {
                c = format!("link {}", l.display());
            }
            files.push((n, c));
        }
        Ok(files)
    }

    #[test]
    fn several_base_layers_apply_in_order_with_whiteouts_and_opaque_dirs() {
        let lower = blob(&[
            ("etc/", ""),
            ("etc/a", "a1"),
            ("etc/b", "b1"),
            ("etc/gone/", ""),
            ("etc/gone/x", "x"),
            ("usr/", ""),
            ("usr/x/", ""),
            ("usr/x/f", "f1"),
            ("lib/", ""),
            ("lib/l1", "L"),
            ("lib/l2=>lib/l1", ""),
            ("bin->usr/bin", ""),
        ]);
        let upper = blob(&[
            ("etc/", ""),
            // Sorts before the opaque marker below: kept (a whiteout hides lower layers only).
            ("usr/x/-first", "own"),
            ("etc/.wh.a", ""),
            ("etc/.wh.gone", ""),
            ("etc/b", "b2"),
            ("usr/x/", ""),
            ("usr/x/.wh..wh..opq", ""),
            ("usr/x/g", "g2"),
            ("etc/a2", "new"),
        ]);
        let mut ours = Rootfs::new();
        ours.file("usr/local/bin/app", "APP", 0o555).unwrap();
        let files = flat_files(&[lower, upper, Layer::Rootfs(ours)]).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        let content = |n: &str| files.iter().find(|(f, _)| f == n).map(|(_, c)| c.as_str());
        assert_eq!(content("etc/b"), Some("b2"), "{names:?}");
        assert_eq!(content("usr/x/g"), Some("g2"));
        assert_eq!(content("usr/x/-first"), Some("own"));
        assert_eq!(content("etc/a2"), Some("new"));
        assert_eq!(content("lib/l2"), Some("link lib/l1"));
        assert_eq!(content("bin"), Some("link usr/bin"));
        assert_eq!(content("usr/local/bin/app"), Some("APP"));
        for hidden in ["etc/a", "etc/gone", "etc/gone/x", "usr/x/f"] {
            assert!(
                !names.iter().any(|n| n.trim_end_matches('/') == hidden),
                "{hidden} survived: {names:?}"
            );
        }
        assert!(names.iter().any(|n| n.trim_end_matches('/') == "usr/x"));
        assert!(!names.iter().any(|n| n.contains(".wh.")), "{names:?}");
        // Each path once: the upper layer's dirs replace the lower's entries.
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "{names:?}");
        // A hard link whose target a later layer replaces keeps the old content, as in an
        // engine's merged tree: the first kept link becomes the file, later ones link to it.
        let files = flat_files(&[
            blob(&[
                ("lib/", ""),
                ("lib/l1", "L"),
                ("lib/l2=>lib/l1", ""),
                ("lib/l3=>lib/l1", ""),
            ]),
            blob(&[("lib/", ""), ("lib/.wh.l1", "")]),
        ])
        .unwrap();
        let content = |n: &str| files.iter().find(|(f, _)| f == n).map(|(_, c)| c.clone());
        assert_eq!(content("lib/l1"), None, "{files:?}");
        assert_eq!(content("lib/l2").as_deref(), Some("L"), "{files:?}");
        assert_eq!(
            content("lib/l3").as_deref(),
            Some("link lib/l2"),
            "{files:?}"
        );
        let files = flat_files(&[
            blob(&[("lib/", ""), ("lib/l1", "L"), ("lib/l2=>lib/l1", "")]),
            blob(&[("lib/", ""), ("lib/l1", "L2")]),
        ])
        .unwrap();
        let content = |n: &str| files.iter().find(|(f, _)| f == n).map(|(_, c)| c.clone());
        assert_eq!(content("lib/l1").as_deref(), Some("L2"), "{files:?}");
        assert_eq!(content("lib/l2").as_deref(), Some("L"), "{files:?}");
    }

    #[test]
    fn parents_no_layer_declares_are_root_owned_0755_dirs() {
        let files = flat_files(&[blob(&[("a/b/c", "C"), ("d/", ""), ("d/e", "E")])]).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a/", "a/b/", "a/b/c", "d/", "d/e"]);
    }

    #[test]
    fn a_directory_base_with_links_to_a_replaced_file_keeps_the_old_content() {
        let mut base = Rootfs::new();
        base.file("etc/passwd", "old", 0o644).unwrap();
        base.add(
            "etc/passwd-",
            crate::rootfs::Entry::new(EntryKind::Hardlink("etc/passwd".into()), 0o644, 0, 0),
        )
        .unwrap();
        let mut ours = Rootfs::new();
        ours.file("etc/passwd", "new", 0o644).unwrap();
        let mut out = Vec::new();
        write_flat(
            &[Layer::Rootfs(base), Layer::Rootfs(ours)],
            "rootfs/",
            1,
            &mut out,
        )
        .unwrap();
        let mut a = tar::Archive::new(&out[..]);
        let mut seen = BTreeMap::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let mut c = String::new();
            e.read_to_string(&mut c).unwrap();
            seen.insert(
                e.path().unwrap().display().to_string(),
                (e.header().entry_type(), c),
            );
        }
        assert_eq!(
            seen["rootfs/etc/passwd"],
            (tar::EntryType::Regular, "new".into())
        );
        assert_eq!(
            seen["rootfs/etc/passwd-"],
            (tar::EntryType::Regular, "old".into())
        );
    }

    #[test]
    fn xz_is_independent_of_threads() {
        let data: Vec<u8> = (0..20_000_000u32)
            .map(|i| (i % 251) as u8 ^ (i >> 13) as u8)
            .collect();
        let enc = |t| {
            let mut w = xz_writer(Vec::new(), t).unwrap();
            w.write_all(&data).unwrap();
            w.finish().unwrap()
        };
        assert_eq!(enc(1), enc(2));
    }
}
