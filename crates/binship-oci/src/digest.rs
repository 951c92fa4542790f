//! Content digests (OCI image spec v1.1 §"Digests"): [`Digest`] (`sha256:<64 hex>`), and
//! streams that hash what passes through them: [`HashWriter`], [`HashReader`].

use std::fmt;
use std::io::{self, Read, Write};
use std::path::Path;

/// sha256 by ring (BoringSSL's assembly: SHA-NI, AVX2 or SSSE3, picked at run time; about
/// 1.8x sha2's portable code on a CPU without SHA-NI).
type Sha256 = ring::digest::Context;
fn sha256() -> Sha256 {
    ring::digest::Context::new(&ring::digest::SHA256)
}

/// A `sha256:<hex>` content digest; the only algorithm binship writes and accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

/// A string that is not a `sha256:` digest of 64 lowercase hex digits.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a sha256 digest (sha256:<64 lowercase hex digits>)")]
pub struct DigestError(pub String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_hash(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
    }

    fn from_hash(hash: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex::encode(hash)))
    }

    /// Parses `sha256:<64 lowercase hex>`.
    ///
    /// # Errors
    /// [`DigestError`] for another algorithm, length or alphabet.
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        match s.strip_prefix("sha256:") {
            Some(h)
                if h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
            {
                Ok(Digest(s.to_string()))
            }
            _ => Err(DigestError(s.to_string())),
        }
    }

    /// The 64 hex digits, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// `sha256:<hex>` of `bytes`, as a string (what JSON documents and descriptors hold).
pub fn digest_string(bytes: &[u8]) -> String {
    Digest::of(bytes).into()
}

/// Passes bytes to `inner`, hashing (sha256) and counting them.
pub struct HashWriter<W> {
    pub inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashWriter<W> {
    pub fn new(inner: W) -> Self {
        HashWriter {
            inner,
            hasher: sha256(),
            count: 0,
        }
    }
    /// The digest and the byte count so far, with the inner writer.
    pub fn finish(self) -> (Digest, u64, W) {
        (
            Digest::from_hash(self.hasher.finish().as_ref()),
            self.count,
            self.inner,
        )
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads from `inner`, hashing (sha256) and counting what was read.
pub struct HashReader<R> {
    pub inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashReader<R> {
    pub fn new(inner: R) -> Self {
        HashReader {
            inner,
            hasher: sha256(),
            count: 0,
        }
    }
    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }
    /// The digest and the byte count of what was read, with the inner reader.
    pub fn finish(self) -> (Digest, u64, R) {
        (
            Digest::from_hash(self.hasher.finish().as_ref()),
            self.count,
            self.inner,
        )
    }
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// The digest and size in bytes of a file, read in a stream.
///
/// # Errors
/// The file's I/O error.
pub fn sha256_file(path: &Path) -> io::Result<(Digest, u64)> {
    let mut r = HashReader::new(std::fs::File::open(path)?);
    io::copy(&mut r, &mut io::sink())?;
    let (d, n, _) = r.finish();
    Ok((d, n))
}

/// A file's identity on disk: device, inode, size, mtime and ctime to the nanosecond (what
/// git's index compares). Any write changes the ctime, which no process can set back.
pub fn identity(m: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    format!(
        "{} {} {} {}.{} {}.{}",
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec()
    )
}

/// sha256 of files, remembered by their [`identity`] on disk, as git's index does, so a file
/// read before is not read again while it is unchanged. A changed file is hashed again. On disk,
/// a file changed within the last 2 s is hashed but not remembered (its timestamps may not have
/// moved yet); within one process (clones share it), every file hashed is remembered while its
/// identity holds, as the bytes read a moment later would be anyway. One small file per path
/// under `dir`, written to a temp name and renamed; a cache that cannot be written costs a
/// re-read only.
#[derive(Debug, Clone)]
pub struct FileDigests {
    dir: std::path::PathBuf,
    seen: std::sync::Arc<std::sync::Mutex<Seen>>,
}

/// Digests hashed in this process: path -> (identity, digest, size).
type Seen = std::collections::HashMap<std::path::PathBuf, (String, Digest, u64)>;

impl FileDigests {
    /// A cache in `dir` (created on the first write).
    pub fn new(dir: impl Into<std::path::PathBuf>) -> FileDigests {
        FileDigests {
            dir: dir.into(),
            seen: Default::default(),
        }
    }

    /// The digest and size of the file at `path`, as [`sha256_file`] gives them.
    ///
    /// # Errors
    /// The file's I/O error.
    pub fn sha256(&self, path: &Path) -> io::Result<(Digest, u64)> {
        let abs = std::path::absolute(path)?;
        let entry = self
            .dir
            .join(Digest::of(abs.as_os_str().as_encoded_bytes()).hex());
        let before = std::fs::metadata(&abs)?;
        let stamp = identity(&before);
        if let Some((_, d, n)) = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&abs)
            .filter(|(s, _, _)| *s == stamp)
        {
            return Ok((d.clone(), *n));
        }
        if let Ok(text) = std::fs::read_to_string(&entry) {
            if let Some((s, d)) = text.trim_end().rsplit_once(' ') {
                if s == stamp {
                    if let Ok(d) = Digest::parse(d) {
                        return Ok((d, before.len()));
                    }
                }
            }
        }
        let (d, n) = sha256_file(&abs)?;
        let after = std::fs::metadata(&abs)?;
        let settled = |t: io::Result<std::time::SystemTime>| {
            t.ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() >= 2)
        };
        use std::os::unix::fs::MetadataExt;
        let ctime = std::time::UNIX_EPOCH
            + std::time::Duration::new(after.ctime().max(0) as u64, after.ctime_nsec() as u32);
        if identity(&after) != stamp {
            return Ok((d, n));
        }
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(abs.clone(), (stamp.clone(), d.clone(), n));
        if settled(after.modified()) && settled(Ok(ctime)) {
            let _ = std::fs::create_dir_all(&self.dir).and_then(|_| {
                let tmp = entry.with_extension(format!("tmp.{}", std::process::id()));
                std::fs::write(&tmp, format!("{stamp} {d}\n"))?;
                std::fs::rename(&tmp, &entry)
            });
        }
        Ok((d, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_of_known_bytes_and_bad_strings() {
        let d = Digest::of(b"");
        assert_eq!(
            d.as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Digest::parse(d.as_str()).unwrap(), d);
        assert_eq!(d.hex().len(), 64);
        for bad in [
            "sha512:00",
            "sha256:E3B0",
            "e3b0",
            &format!("sha256:{}", "g".repeat(64)),
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad}");
        }
        let mut w = HashWriter::new(Vec::new());
        w.write_all(b"abc").unwrap();
        let (wd, n, out) = w.finish();
        assert_eq!((wd, n, out), (Digest::of(b"abc"), 3, b"abc".to_vec()));
        let mut r = HashReader::new(&b"abc"[..]);
        io::copy(&mut r, &mut io::sink()).unwrap();
        assert_eq!(r.finish().0, Digest::of(b"abc"));
    }

    #[test]
    fn file_digests_remember_an_unchanged_file_and_see_a_changed_one() {
        let dir = std::env::temp_dir().join(format!("binship-fd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("bin");
        std::fs::write(&f, b"one").unwrap();
        // Settled: two seconds old.
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(old)
            .unwrap();
        // A new cache each time the disk is what is checked (one cache remembers what it hashed).
        let cache = || FileDigests::new(dir.join("cache"));
        let (d, n) = cache().sha256(&f).unwrap();
        assert_eq!((d.clone(), n), (Digest::of(b"one"), 3));
        // Its ctime is new (set_modified just changed it): not remembered yet.
        assert!(std::fs::read_dir(dir.join("cache")).map_or(true, |mut r| r.next().is_none()));
        // A remembered entry whose stamp no longer matches is not believed.
        std::fs::create_dir_all(dir.join("cache")).unwrap();
        let abs = std::path::absolute(&f).unwrap();
        let entry = dir
            .join("cache")
            .join(Digest::of(abs.as_os_str().as_encoded_bytes()).hex());
        std::fs::write(&entry, format!("0 0 3 0.0 0.0 {}\n", Digest::of(b"two"))).unwrap();
        assert_eq!(cache().sha256(&f).unwrap().0, Digest::of(b"one"));
        // One whose stamp matches is (the file is not read).
        let m = std::fs::metadata(&f).unwrap();
        std::fs::write(&entry, format!("{} {}\n", identity(&m), Digest::of(b"two"))).unwrap();
        assert_eq!(cache().sha256(&f).unwrap().0, Digest::of(b"two"));
        // A write changes the stamp: hashed again.
        std::fs::write(&f, b"three").unwrap();
        assert_eq!(cache().sha256(&f).unwrap().0, Digest::of(b"three"));
        // One cache remembers what it hashed while the file's identity holds, settled or not.
        let one = cache();
        assert_eq!(one.sha256(&f).unwrap().0, Digest::of(b"three"));
        let m = std::fs::metadata(&f).unwrap();
        std::fs::write(&entry, format!("{} {}\n", identity(&m), Digest::of(b"two"))).unwrap();
        assert_eq!(one.sha256(&f).unwrap().0, Digest::of(b"three"));
        std::fs::write(&f, b"four").unwrap();
        assert_eq!(one.sha256(&f).unwrap().0, Digest::of(b"four"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
