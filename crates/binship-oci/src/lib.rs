//! The OCI vocabulary every binship crate speaks, written once: [`media_type`] constants,
//! [`Digest`] and hashing streams, image [`Reference`]s with docker's normalisation, layer
//! [`Compression`], [`referrers`] by the tag schema, and [`rfc3339`] times (OCI image spec v1.1, OCI distribution spec v1.1).
//!
//! This crate sits at the bottom of the graph: it depends on no other binship crate.

pub mod compression;
pub mod digest;
pub mod media_type;
pub mod reference;
pub mod referrers;
pub mod time;

pub use compression::{Compression, CompressionError, DEFAULT_GZIP_LEVEL, DEFAULT_ZSTD_LEVEL};
pub use digest::{
    digest_string, identity, sha256_file, Digest, DigestError, FileDigests, HashReader, HashWriter,
};
pub use reference::{Reference, ReferenceError};
pub use time::{parse_rfc3339, rfc3339};
