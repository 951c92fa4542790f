//! A store of compressed layer blobs, [`LayerStore`], keyed by the layer's diff_id, its
//! compression and level, so a layer binship writes is compressed once: a second write of the
//! same layer (a push to another repository or registry, the fleet cache, a re-scaffold) copies
//! the stored blob instead of compressing the tar again.
//!
//! One entry is a directory `<dir>/<sha256 of "diff_id compression level">/` holding `blob`
//! (the compressed bytes) and `layer.json` (its [`LayerDescriptor`]). Entries are written to a
//! temp dir and renamed into place, so a reader sees a whole entry or none. The store is bounded
//! by size: after each insertion the least recently used entries (a hit touches its blob's
//! mtime) are removed until the blobs fit.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use crate::config::BlobLayer;
use crate::import::TarCompression;
use crate::layer::{Compression, LayerDescriptor};
use crate::{ImageError, Rootfs};

/// The size bound when none is given: 2 GiB of compressed blobs.
pub const DEFAULT_MAX_BYTES: u64 = 2 << 30;

/// Compressed layers on disk, found by diff_id (see the module docs).
#[derive(Debug, Clone)]
pub struct LayerStore {
    dir: PathBuf,
    max_bytes: u64,
    files: binship_oci::FileDigests,
}

/// The diff_id (`sha256:<hex>` of the uncompressed tar, OCI image-spec config.md,
/// "Layer DiffID") and tar size of `rootfs` with every mtime `mtime`: one pass of tar and
/// sha256, no compression.
///
/// # Errors
/// A host file of the rootfs cannot be read.
pub fn diff_id(rootfs: &Rootfs, mtime: u64) -> Result<(String, u64), ImageError> {
    let mut hw = binship_oci::HashWriter::new(std::io::sink());
    rootfs.write_tar(&mut hw, mtime)?;
    let (d, size, _) = hw.finish();
    Ok((d.into(), size))
}

impl LayerStore {
    /// A store in `dir` (created on the first insertion) holding at most `max_bytes` of blobs.
    pub fn new(dir: impl Into<PathBuf>, max_bytes: u64) -> LayerStore {
        let dir = dir.into();
        LayerStore {
            files: binship_oci::FileDigests::new(dir.join(".files")),
            dir,
            max_bytes,
        }
    }

    /// The same store, reading host files' digests through `files` (a cache shared with the
    /// rest of the store) instead of its own.
    pub fn with_file_digests(mut self, files: binship_oci::FileDigests) -> LayerStore {
        self.files = files;
        self
    }

    /// The diff_id and tar size of `rootfs` with every mtime `mtime`, as [`diff_id`] gives
    /// them, remembered under the rootfs's content key ([`Rootfs::content_key`], host files'
    /// digests from the file-digest cache) in `.keys/`: a layer is tarred and hashed once, not
    /// on every write. A rootfs that cannot be keyed is hashed as [`diff_id`] does.
    ///
    /// # Errors
    /// A host file of the rootfs cannot be read.
    pub fn diff_id(&self, rootfs: &Rootfs, mtime: u64) -> Result<(String, u64), ImageError> {
        let key = rootfs.content_key(mtime, |p| {
            self.files.sha256(p).map(|(d, n)| (d.hex().to_string(), n))
        });
        let Some(key) = key else {
            return diff_id(rootfs, mtime);
        };
        let path = self
            .dir
            .join(".keys")
            .join(key.trim_start_matches("sha256:"));
        if let Some((id, size)) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| {
                let (id, size) = t.trim_end().split_once(' ')?;
                Some((id.to_string(), size.parse().ok()?))
            })
            // A damaged or planted entry: the tar's size is known without writing it.
            .filter(|(id, size)| {
                binship_oci::Digest::parse(id).is_ok() && *size == rootfs.tar_size()
            })
        {
            return Ok((id, size));
        }
        let (id, size) = diff_id(rootfs, mtime)?;
        let _ = std::fs::create_dir_all(self.dir.join(".keys")).and_then(|_| {
            let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
            std::fs::write(&tmp, format!("{id} {size}\n"))?;
            std::fs::rename(&tmp, &path)
        });
        Ok((id, size))
    }

    /// Where the store is.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, diff_id: &str, c: Compression) -> PathBuf {
        let level = match c {
            Compression::None => 0,
            Compression::Gzip { level } => i64::from(level),
            Compression::Zstd { level } => i64::from(level),
        };
        let key = Sha256::digest(format!("{diff_id} {} {level}", c.name()).as_bytes());
        self.dir.join(hex::encode(key))
    }

    /// The stored blob of the layer with `diff_id` compressed as `c`, as a layer a sink copies
    /// byte for byte (the sink hashes it again while copying and fails on a changed blob).
    /// `None`: not stored, uncompressed (`c` is none: nothing to save), or an entry whose blob
    /// is not the size its descriptor says (removed).
    pub fn get(&self, diff_id: &str, c: Compression) -> Option<BlobLayer> {
        let compression = match c {
            Compression::None => return None,
            Compression::Gzip { .. } => TarCompression::Gzip,
            Compression::Zstd { .. } => TarCompression::Zstd,
        };
        let entry = self.entry(diff_id, c);
        let desc: LayerDescriptor =
            serde_json::from_slice(&std::fs::read(entry.join("layer.json")).ok()?).ok()?;
        let blob = entry.join("blob");
        let file = std::fs::File::options().append(true).open(&blob).ok()?;
        // The size here; the bytes where they are copied (a sink hashes what it copies and
        // fails on a changed blob: LayerCached then drops the entry and writes again).
        if file.metadata().ok()?.len() != desc.size || desc.diff_id != diff_id {
            let _ = std::fs::remove_dir_all(&entry);
            return None;
        }
        // Used now: the last to be evicted.
        let _ = file.set_modified(std::time::SystemTime::now());
        Some(BlobLayer {
            open: Arc::new(move || {
                std::fs::File::open(&blob)
                    .map(|f| Box::new(std::io::BufReader::new(f)) as Box<dyn std::io::Read + Send>)
            }),
            compression,
            digest: desc.digest,
            size: desc.size,
            diff_id: desc.diff_id,
            uncompressed_size: desc.uncompressed_size,
        })
    }

    /// Stores `blob` (a file holding the layer `desc` describes, compressed as `c`; hard-linked
    /// when it can be, else copied), then evicts down to the size bound. An entry already there
    /// is kept.
    ///
    /// # Errors
    /// The store's dir cannot be written.
    pub fn put(&self, desc: &LayerDescriptor, c: Compression, blob: &Path) -> std::io::Result<()> {
        if c == Compression::None || desc.size > self.max_bytes {
            return Ok(());
        }
        let entry = self.entry(&desc.diff_id, c);
        if entry.join("layer.json").is_file() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir)?;
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempdir_in(&self.dir)?;
        let to = tmp.path().join("blob");
        if std::fs::hard_link(blob, &to).is_err() {
            std::fs::copy(blob, &to)?;
        }
        let mut f = std::fs::File::create(tmp.path().join("layer.json"))?;
        f.write_all(&serde_json::to_vec(desc).expect("json"))?;
        f.sync_all()?;
        let tmp = tmp.keep();
        if std::fs::rename(&tmp, &entry).is_err() {
            // Another writer stored it meanwhile.
            let _ = std::fs::remove_dir_all(&tmp);
        }
        self.evict()?;
        Ok(())
    }

    /// Drops the entry of `diff_id` as `c` (a damaged one a sink refused).
    pub fn forget(&self, diff_id: &str, c: Compression) {
        let _ = std::fs::remove_dir_all(self.entry(diff_id, c));
    }

    /// Removes the least recently used entries until the blobs take at most the bound;
    /// returns the bytes removed.
    ///
    /// # Errors
    /// The store's dir cannot be listed.
    pub fn evict(&self) -> std::io::Result<u64> {
        let mut entries = Vec::new();
        let mut total = 0u64;
        for e in std::fs::read_dir(&self.dir)? {
            let e = e?;
            if e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let Ok(meta) = std::fs::metadata(e.path().join("blob")) else {
                continue;
            };
            total += meta.len();
            let used = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            entries.push((used, meta.len(), e.path()));
        }
        entries.sort();
        let mut removed = 0;
        for (_, len, path) in entries {
            if total <= self.max_bytes {
                break;
            }
            if std::fs::remove_dir_all(&path).is_ok() {
                total -= len;
                removed += len;
            }
        }
        Ok(removed)
    }

    /// Bytes of the stored blobs.
    pub fn bytes(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::metadata(e.path().join("blob")).ok())
            .map(|m| m.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::write_layer;

    fn layer(content: &[u8]) -> (Rootfs, LayerDescriptor, Vec<u8>) {
        let mut r = Rootfs::new();
        r.file("data", content.to_vec(), 0o644).unwrap();
        let (d, out) = write_layer(&r, Compression::Gzip { level: 4 }, 7, Vec::new()).unwrap();
        (r, d, out)
    }

    #[test]
    fn diff_ids_are_remembered_by_content_key_and_a_changed_file_is_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("bin");
        std::fs::write(&host, vec![7u8; 100_000]).unwrap();
        let mut r = Rootfs::new();
        r.host_file("usr/local/bin/app", &host, 0o555).unwrap();
        r.file("etc/x", b"x".to_vec(), 0o644).unwrap();
        let store = LayerStore::new(dir.path().join("layers"), 1 << 30);
        let first = store.diff_id(&r, 7).unwrap();
        assert_eq!(first, diff_id(&r, 7).unwrap());
        // Remembered: the key file is what a second call reads (a planted answer proves it).
        let keys: Vec<_> = std::fs::read_dir(dir.path().join("layers/.keys"))
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(keys.len(), 1);
        let size = first.1;
        let planted = format!("sha256:{} {size}\n", "0".repeat(64));
        std::fs::write(keys[0].path(), &planted).unwrap();
        assert_eq!(
            store.diff_id(&r, 7).unwrap().0,
            format!("sha256:{}", "0".repeat(64))
        );
        // One whose size is not the tar's is not believed.
        std::fs::write(keys[0].path(), format!("sha256:{} 1\n", "0".repeat(64))).unwrap();
        assert_eq!(store.diff_id(&r, 7).unwrap(), first);
        // Another mtime or another mode: another key, the true diff_id.
        assert_eq!(store.diff_id(&r, 8).unwrap(), diff_id(&r, 8).unwrap());
        // The host file rewritten with other bytes of the same size: another key.
        std::fs::write(&host, vec![8u8; 100_000]).unwrap();
        let mut r2 = Rootfs::new();
        r2.host_file("usr/local/bin/app", &host, 0o555).unwrap();
        r2.file("etc/x", b"x".to_vec(), 0o644).unwrap();
        let changed = store.diff_id(&r2, 7).unwrap();
        assert_eq!(changed, diff_id(&r2, 7).unwrap());
        assert_ne!(changed.0, first.0);
        // A host file no longer the size recorded: not keyed, hashed (and refused) as before.
        std::fs::write(&host, b"short").unwrap();
        assert!(store.diff_id(&r2, 7).is_err());
    }

    #[test]
    fn a_stored_layer_is_found_by_diff_id_compression_and_level() {
        let d = tempfile::tempdir().unwrap();
        let store = LayerStore::new(d.path().join("layers"), DEFAULT_MAX_BYTES);
        let (r, desc, bytes) = layer(&[7u8; 100_000]);
        assert_eq!(
            diff_id(&r, 7).unwrap(),
            (desc.diff_id.clone(), desc.uncompressed_size)
        );
        let gz = Compression::Gzip { level: 4 };
        assert!(store.get(&desc.diff_id, gz).is_none());
        let f = d.path().join("blob");
        std::fs::write(&f, &bytes).unwrap();
        store.put(&desc, gz, &f).unwrap();
        let hit = store.get(&desc.diff_id, gz).unwrap();
        assert_eq!(
            (hit.digest.as_str(), hit.size),
            (desc.digest.as_str(), desc.size)
        );
        let mut read = Vec::new();
        std::io::Read::read_to_end(&mut (hit.open)().unwrap(), &mut read).unwrap();
        assert_eq!(read, bytes);
        // Another level or compression is another entry; none is never stored.
        assert!(store
            .get(&desc.diff_id, Compression::Gzip { level: 6 })
            .is_none());
        assert!(store
            .get(&desc.diff_id, Compression::Zstd { level: 4 })
            .is_none());
        assert!(store.get(&desc.diff_id, Compression::None).is_none());
        // A truncated blob is no entry, and is removed (other bytes of the same size are
        // caught by the sink that copies them: tests/scaffold_cli.rs).
        let entry = store.entry(&desc.diff_id, gz);
        std::fs::remove_file(entry.join("blob")).unwrap();
        std::fs::write(entry.join("blob"), &bytes[..10]).unwrap();
        assert!(store.get(&desc.diff_id, gz).is_none());
        assert!(!entry.exists());
        // forget() drops an entry.
        let f2 = d.path().join("blob2");
        std::fs::write(&f2, &bytes).unwrap();
        store.put(&desc, gz, &f2).unwrap();
        store.forget(&desc.diff_id, gz);
        assert!(store.get(&desc.diff_id, gz).is_none());
    }

    #[test]
    fn the_least_recently_used_layers_go_past_the_bound() {
        let d = tempfile::tempdir().unwrap();
        let gz = Compression::Gzip { level: 4 };
        let layers: Vec<_> = (0..3u8)
            .map(|i| {
                // Incompressible-ish content: each blob a little over 20 kB.
                let content: Vec<u8> = (0..20_000u32)
                    .map(|n| (n.wrapping_mul(2_654_435_761).rotate_left(i as u32 + 3) >> 24) as u8)
                    .collect();
                layer(&content)
            })
            .collect();
        let one = layers[0].1.size;
        let store = LayerStore::new(d.path().join("layers"), one * 2 + one / 2);
        for (i, (_, desc, bytes)) in layers.iter().enumerate() {
            let f = d.path().join(format!("b{i}"));
            std::fs::write(&f, bytes).unwrap();
            if i == 2 {
                // The first was used again after the second: the second is the oldest.
                std::thread::sleep(std::time::Duration::from_millis(20));
                assert!(store.get(&layers[0].1.diff_id, gz).is_some());
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            store.put(desc, gz, &f).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(store.bytes() <= one * 2 + one / 2);
        assert!(store.get(&layers[0].1.diff_id, gz).is_some());
        assert!(store.get(&layers[1].1.diff_id, gz).is_none());
        assert!(store.get(&layers[2].1.diff_id, gz).is_some());
    }
}
