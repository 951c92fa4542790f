//! Layers: [`write_layer`] streams a [`Rootfs`] as tar -> sha256 (diff_id) -> compression ->
//! sha256 (digest) -> output in one pass and returns its [`LayerDescriptor`].

use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::compress::{threads, zstd_writer, Compressor, ParGzWriter};
use crate::config::{BlobLayer, Layer, ProgressHook};
use crate::{ImageError, Rootfs};
use binship_oci::{media_type, HashReader, HashWriter};

pub use binship_oci::{Compression, DEFAULT_GZIP_LEVEL, DEFAULT_ZSTD_LEVEL};

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
pub struct Progress<'a, W> {
    inner: W,
    hook: &'a ProgressHook,
    done: u64,
    told: u64,
}

impl<'a, W: Write> Progress<'a, W> {
    /// Counts what goes through to `inner`, from 0.
    pub fn new(inner: W, hook: &'a ProgressHook) -> Progress<'a, W> {
        Progress {
            inner,
            hook,
            done: 0,
            told: 0,
        }
    }
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
        let digest = String::from(digest);
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
            digest: digest.into(),
            size,
            diff_id: diff_id.into(),
            uncompressed_size,
        },
        out,
    ))
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
        let mut src = HashReader::new(raw);
        let mut out = out;
        std::io::copy(&mut src, &mut out).map_err(ImageError::Write)?;
        if let Some((hook, base)) = progress {
            (hook.0)(base + b.uncompressed_size);
        }
        let (digest, size, _) = src.finish();
        let digest = String::from(digest);
        if digest != b.digest || size != b.size {
            return Err(changed("its content", b));
        }
        return Ok((
            LayerDescriptor {
                media_type: b
                    .compression
                    .media_type()
                    .unwrap_or(media_type::LAYER_TAR)
                    .into(),
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
    let mut src = HashReader::new(dec);
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
    let (diff_id, uncompressed_size, _) = src.finish();
    let diff_id = String::from(diff_id);
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
            digest: digest.into(),
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
        assert_eq!(d.digest, binship_oci::Digest::of(&out).as_str());
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
            assert_eq!(d.digest, binship_oci::Digest::of(&out).as_str());
            let raw = match c {
                Compression::Gzip { .. } => {
                    let mut v = Vec::new();
                    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&out[..]), &mut v)
                        .unwrap();
                    v
                }
                _ => zstd::decode_all(&out[..]).unwrap(),
            };
            assert_eq!(binship_oci::Digest::of(&raw).as_str(), d.diff_id);
            assert_eq!(raw.len() as u64, d.uncompressed_size);
            // Same input, same bytes.
            assert_eq!(out, write_layer(&r, c, 0, Vec::new()).unwrap().1);
        }
    }
}
