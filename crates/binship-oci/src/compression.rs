//! How a layer blob is encoded ([`Compression`]) and the media type that says so (OCI image
//! spec v1.1 §"Image Layer Filesystem Changeset": tar, tar+gzip, tar+zstd).

use serde::{Deserialize, Serialize};

use crate::media_type;

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

/// A compression name or level that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompressionError {
    #[error("unknown compression `{0}` (expected none, gzip or zstd{tip})", tip = Compression::meant_by(.0).map(|m| format!("; tip: did you mean {m}?")).unwrap_or_default())]
    Unknown(String),
    #[error("gzip level must be 1-9, got {0}")]
    GzipLevel(i32),
    #[error("zstd level must be 1-19, got {0}")]
    ZstdLevel(i32),
}

impl Compression {
    /// The layer media type of a blob in this encoding.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::None => media_type::LAYER_TAR,
            Compression::Gzip { .. } => media_type::LAYER_GZIP,
            Compression::Zstd { .. } => media_type::LAYER_ZSTD,
        }
    }
    /// `none`, `gzip` or `zstd`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip { .. } => "gzip",
            Compression::Zstd { .. } => "zstd",
        }
    }
    /// The name meant by a word users try that is not one of ours (`gz`, `zst`, `off`), for an
    /// error's tip.
    pub fn meant_by(word: &str) -> Option<&'static str> {
        match word.to_ascii_lowercase().as_str() {
            "gzip" | "gz" | "z" | "gunzip" | "tgz" => Some("gzip"),
            "zstd" | "zst" | "zstandard" => Some("zstd"),
            "none" | "no" | "off" | "false" | "uncompressed" | "tar" | "raw" => Some("none"),
            _ => None,
        }
    }
    /// Parses `none`, `gzip`, `zstd` with an optional level (default gzip 4, zstd 3).
    ///
    /// # Errors
    /// [`CompressionError`] for another name or a level out of range.
    pub fn parse(name: &str, level: Option<i32>) -> Result<Compression, CompressionError> {
        match name {
            "none" => Ok(Compression::None),
            "gzip" => match level.unwrap_or(DEFAULT_GZIP_LEVEL as i32) {
                l @ 1..=9 => Ok(Compression::Gzip { level: l as u32 }),
                l => Err(CompressionError::GzipLevel(l)),
            },
            "zstd" => match level.unwrap_or(DEFAULT_ZSTD_LEVEL) {
                l @ 1..=19 => Ok(Compression::Zstd { level: l }),
                l => Err(CompressionError::ZstdLevel(l)),
            },
            other => Err(CompressionError::Unknown(other.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_names_and_levels() {
        assert_eq!(
            Compression::parse("gzip", None),
            Ok(Compression::Gzip {
                level: DEFAULT_GZIP_LEVEL
            })
        );
        assert_eq!(
            Compression::parse("gzip", Some(11)),
            Err(CompressionError::GzipLevel(11))
        );
        assert!(Compression::parse("brotli", None)
            .unwrap_err()
            .to_string()
            .contains("unknown compression `brotli`"));
        assert!(Compression::parse("gz", None)
            .unwrap_err()
            .to_string()
            .ends_with("(expected none, gzip or zstd; tip: did you mean gzip?)"));
        assert_eq!(
            Compression::Zstd { level: 3 }.media_type(),
            media_type::LAYER_ZSTD
        );
    }
}
