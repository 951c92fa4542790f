//! binship's supply chain: [`keys`] (minisign key pairs), [`cosign`] (cosign's ECDSA P-256
//! keys and signatures), [`attest`] (in-toto statements in DSSE envelopes), [`sign`] (detached `.minisig`
//! signatures of files and of image digests), [`sbom`] (Go build info and cargo-auditable data
//! read from binaries, written as SPDX 2.3 and CycloneDX 1.5) and [`osv`] (known-vulnerable Go
//! modules from an OSV database). Its main type is [`SignError`]; the formats are documented in
//! docs/supply-chain.md.

pub use minisign::{PublicKey, SecretKey};

pub mod attest;
pub mod cosign;
pub mod image;
pub mod keys;
pub mod osv;
pub mod sbom;
pub mod sign;

use std::path::PathBuf;

/// A key that signs images: binship's own signature format (a minisign key) or cosign's (an
/// ECDSA P-256 key, [`cosign`]).
pub enum ImageKey {
    Minisign(SecretKey),
    Cosign(cosign::SecretKey),
}

impl ImageKey {
    /// The format it writes: "binship" or "cosign".
    pub fn format(&self) -> &'static str {
        match self {
            ImageKey::Minisign(_) => "binship",
            ImageKey::Cosign(_) => "cosign",
        }
    }
}

/// What went wrong; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{path}: {message}")]
    Key { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    BadSignature { path: PathBuf, message: String },
    #[error("{path}: signature does not verify: {message}")]
    Verify { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Sbom { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Osv { path: PathBuf, message: String },
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub(crate) fn io(
    context: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> SignError {
    let path = path.to_path_buf();
    move |source| SignError::Io {
        context,
        path,
        source,
    }
}

/// Writes `bytes` to `path` through a temp file in the same dir and a rename.
pub(crate) fn write_atomic(
    path: &std::path::Path,
    bytes: &[u8],
    mode: u32,
) -> Result<(), SignError> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_file_name(format!(
        ".{}.tmp.{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).map_err(io("writing", &tmp))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
        .map_err(io("chmod", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("writing", path))
}
