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
}
