//! Layers: [`write_layer`] streams a [`Rootfs`] as tar -> sha256 (diff_id) -> compression ->
//! sha256 (digest) -> output in one pass and returns its [`LayerDescriptor`].

use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::compress::{threads, zstd_writer, Compressor, ParGzWriter};
use crate::config::{BlobLayer, Layer, ProgressHook};
use crate::hash::HashWriter;
use crate::{ImageError, Rootfs};

pub const MEDIA_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MEDIA_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const MEDIA_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// The default gzip level: zlib-rs at 4 is smaller than umoci's gzip output on the benchmark
/// payload (8.72 vs 8.81 MB) and faster (docs/performance.md); `--level 6` for gzip's usual.
pub const DEFAULT_GZIP_LEVEL: u32 = 4;
/// The default zstd level.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

/// How a layer blob is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "type")]
pub enum Compression {
    None,
    Gzip { level: u32 },
    Zstd { level: i32 },
}

impl Compression {
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::None => MEDIA_LAYER_TAR,
            Compression::Gzip { .. } => MEDIA_LAYER_GZIP,
            Compression::Zstd { .. } => MEDIA_LAYER_ZSTD,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip { .. } => "gzip",
            Compression::Zstd { .. } => "zstd",
        }
    }
    /// Parses `none`, `gzip`, `zstd` with an optional level (default gzip 4, zstd 3).
    pub fn parse(name: &str, level: Option<i32>) -> Result<Compression, String> {
        match name {
            "none" => Ok(Compression::None),
            "gzip" => match level.unwrap_or(DEFAULT_GZIP_LEVEL as i32) {
                l @ 1..=9 => Ok(Compression::Gzip { level: l as u32 }),
                l => Err(format!("gzip level must be 1-9, got {l}")),
            },
            "zstd" => match level.unwrap_or(DEFAULT_ZSTD_LEVEL) {
                l @ 1..=19 => Ok(Compression::Zstd { level: l }),
                l => Err(format!("zstd level must be 1-19, got {l}")),
            },
            other => Err(format!(
                "unknown compression `{other}` (expected none, gzip or zstd)"
            )),
        }
    }
}

/// What one written layer is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerDescriptor {
    pub media_type: String,
    /// sha256 of the blob as written.
    pub digest: String,
    pub size: u64,
    /// sha256 of the uncompressed tar.
    pub diff_id: String,
    pub uncompressed_size: u64,
}

/// Passes bytes through, telling a [`ProgressHook`] the running total about every MiB.
struct Progress<'a, W> {
    inner: W,
    hook: &'a ProgressHook,
    done: u64,
    told: u64,
}

impl<W: Write> Write for Progress<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.done += n as u64;
        if self.done - self.told >= 1 << 20 {
            self.told = self.done;
            (self.hook.0)(self.done);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `rootfs` to `out` as one layer blob; returns its descriptor and `out`.
pub fn write_layer<W: Write>(
    rootfs: &Rootfs,
    compression: Compression,
    mtime: u64,
    out: W,
) -> Result<(LayerDescriptor, W), ImageError> {
    write_layer_reporting(rootfs, compression, mtime, out, None)
}

/// Writes the tar of `rootfs` to `w`, through a progress counter when a hook is given
/// (`base` = bytes of earlier layers, so one bar spans the image).
fn tar_into(
    rootfs: &Rootfs,
    w: &mut dyn Write,
    mtime: u64,
    progress: Option<(&ProgressHook, u64)>,
) -> Result<(), ImageError> {
    match progress {
        None => rootfs.write_tar(w, mtime),
        Some((hook, base)) => {
            let mut p = Progress {
                inner: w,
                hook,
                done: base,
                told: base,
            };
            rootfs.write_tar(&mut p, mtime)?;
            (hook.0)(p.done);
            Ok(())
        }
    }
}

/// As [`write_layer`], telling `progress` how many uncompressed bytes were written.
pub fn write_layer_reporting<W: Write>(
    rootfs: &Rootfs,
    compression: Compression,
    mtime: u64,
    out: W,
    progress: Option<(&ProgressHook, u64)>,
) -> Result<(LayerDescriptor, W), ImageError> {
    if compression == Compression::None {
        // The blob is the tar: one hash serves as digest and diff_id.
        let mut hw = HashWriter::new(out);
        tar_into(rootfs, &mut hw, mtime, progress)?;
        let (digest, size, out) = hw.finish();
        return Ok((
            LayerDescriptor {
                media_type: compression.media_type().into(),
                diff_id: digest.clone(),
                digest,
                size,
                uncompressed_size: size,
            },
            out,
        ));
    }
    let outer = HashWriter::new(out);
    let comp = match compression {
        Compression::None => Compressor::None(outer),
        Compression::Gzip { level } => {
            Compressor::Gzip(ParGzWriter::new(outer, level, threads()).map_err(ImageError::Write)?)
        }
        Compression::Zstd { level } => {
            Compressor::Zstd(zstd_writer(outer, level, threads()).map_err(ImageError::Write)?)
        }
    };
    let mut inner = HashWriter::new(comp);
    tar_into(rootfs, &mut inner, mtime, progress)?;
    let (diff_id, uncompressed_size, comp) = inner.finish();
    let outer = comp.finish().map_err(ImageError::Write)?;
    let (digest, size, out) = outer.finish();
    Ok((
        LayerDescriptor {
            media_type: compression.media_type().into(),
            digest,
            size,
            diff_id,
            uncompressed_size,
        },
        out,
    ))
}

/// Reads through, hashing and counting.
struct HashRead<R> {
    inner: R,
    h: sha2::Sha256,
    n: u64,
}

impl<R: std::io::Read> std::io::Read for HashRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.read(buf)?;
        self.h.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
}

impl<R> HashRead<R> {
    fn digest(self) -> (String, u64) {
        use sha2::Digest;
        (format!("sha256:{}", hex::encode(self.h.finalize())), self.n)
    }
}

fn changed(what: &str, b: &BlobLayer) -> ImageError {
    ImageError::Invalid {
        what: format!("base layer {}", b.digest),
        message: format!("{what} changed since it was checked"),
    }
}

/// Writes any [`Layer`]. `uncompressed_only` (docker-archive): blobs are decompressed into a
/// plain tar. Otherwise a blob whose compression OCI knows (none, gzip, zstd) is copied byte
/// for byte, and any other (xz) is recompressed with `compression`. Reused bytes are hashed
/// again while copied and must still match what was checked.
pub fn write_any_layer<W: Write>(
    layer: &Layer,
    compression: Compression,
    mtime: u64,
    out: W,
    progress: Option<(&ProgressHook, u64)>,
    uncompressed_only: bool,
) -> Result<(LayerDescriptor, W), ImageError> {
    let b = match layer {
        Layer::Rootfs(r) => {
            let c = if uncompressed_only {
                Compression::None
            } else {
                compression
            };
            return write_layer_reporting(r, c, mtime, out, progress);
        }
        Layer::Blob(b) => b,
    };
    let raw = (b.open)().map_err(ImageError::Write)?;
    let keep = !uncompressed_only && b.compression.media_type().is_some();
    if keep {
        let mut src = HashRead {
            inner: raw,
            h: Default::default(),
            n: 0,
        };
        let mut out = out;
        std::io::copy(&mut src, &mut out).map_err(ImageError::Write)?;
        if let Some((hook, base)) = progress {
            (hook.0)(base + b.uncompressed_size);
        }
        let (digest, size) = src.digest();
        if digest != b.digest || size != b.size {
            return Err(changed("its content", b));
        }
        return Ok((
            LayerDescriptor {
                media_type: b.compression.media_type().unwrap_or(MEDIA_LAYER_TAR).into(),
                digest,
                size,
                diff_id: b.diff_id.clone(),
                uncompressed_size: b.uncompressed_size,
            },
            out,
        ));
    }
    // Decompress, and recompress unless a plain tar is wanted.
    let target = if uncompressed_only {
        Compression::None
    } else {
        compression
    };
    let dec = b.compression.decoder(raw).map_err(ImageError::Write)?;
    let mut src = HashRead {
        inner: dec,
        h: Default::default(),
        n: 0,
    };
    let outer = HashWriter::new(out);
    let mut comp = match target {
        Compression::None => Compressor::None(outer),
        Compression::Gzip { level } => {
            Compressor::Gzip(ParGzWriter::new(outer, level, threads()).map_err(ImageError::Write)?)
        }
        Compression::Zstd { level } => {
            Compressor::Zstd(zstd_writer(outer, level, threads()).map_err(ImageError::Write)?)
        }
    };
    std::io::copy(&mut src, &mut comp).map_err(ImageError::Write)?;
    let (diff_id, uncompressed_size) = src.digest();
    if diff_id != b.diff_id {
        return Err(changed("its tar", b));
    }
    if let Some((hook, base)) = progress {
        (hook.0)(base + uncompressed_size);
    }
    let (digest, size, out) = comp.finish().map_err(ImageError::Write)?.finish();
    Ok((
        LayerDescriptor {
            media_type: target.media_type().into(),
            digest,
            size,
            diff_id,
            uncompressed_size,
        },
        out,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncompressed_layer_digest_is_its_diff_id() {
        let mut r = Rootfs::new();
        r.file("a", "hello", 0o644).unwrap();
        let (d, out) = write_layer(&r, Compression::None, 0, Vec::new()).unwrap();
        assert_eq!(d.digest, d.diff_id);
        assert_eq!(d.size, out.len() as u64);
        assert_eq!(d.size, r.tar_size());
        assert_eq!(d.digest, crate::hash::digest(&out));
    }

    #[test]
    fn compressed_layers_decompress_to_the_diff_id() {
        let mut r = Rootfs::new();
        r.file("big", vec![42u8; 3 << 20], 0o644).unwrap();
        for c in [
            Compression::Gzip { level: 6 },
            Compression::Zstd { level: 3 },
        ] {
            let (d, out) = write_layer(&r, c, 0, Vec::new()).unwrap();
            assert_eq!(d.digest, crate::hash::digest(&out));
            let raw = match c {
                Compression::Gzip { .. } => {
                    let mut v = Vec::new();
                    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&out[..]), &mut v)
                        .unwrap();
                    v
                }
                _ => zstd::decode_all(&out[..]).unwrap(),
            };
            assert_eq!(crate::hash::digest(&raw), d.diff_id);
            assert_eq!(raw.len() as u64, d.uncompressed_size);
            // Same input, same bytes.
            assert_eq!(out, write_layer(&r, c, 0, Vec::new()).unwrap().1);
        }
    }

    #[test]
    fn compression_names_and_levels() {
        assert_eq!(
            Compression::parse("gzip", None),
            Ok(Compression::Gzip {
                level: DEFAULT_GZIP_LEVEL
            })
        );
        assert!(Compression::parse("gzip", Some(11)).is_err());
        assert!(Compression::parse("brotli", None)
            .unwrap_err()
            .contains("unknown compression"));
    }
}
