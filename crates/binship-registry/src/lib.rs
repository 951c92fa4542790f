//! binship's registry client over the OCI distribution API: [`push`] / [`push_image`] send an
//! image or artifact (HEAD to skip, cross-repository mount, monolithic or chunked upload,
//! manifest PUT, every digest checked), [`Puller`] reads tags, manifests and blobs, [`push_attached`] and
//! [`Puller::referrers`] write and read OCI 1.1 referrers (the API, else the tag schema), and
//! [`BinaryArtifact`] is a stored version as an OCI artifact. [`Reference`] parses references.
//!
//! Transport and auth live in [`client`]: HTTPS with rustls and the system roots, plain HTTP for
//! loopback registries or `--insecure`, Basic and Bearer auth from docker's config.json, and
//! retries with backoff for failures in transit.

pub mod artifact;
pub mod client;
pub mod pull;
pub mod push;
pub mod referrers;
pub use artifact::{ArtifactFile, BinaryArtifact};
pub use binship_oci::Reference;
pub use client::{docker_auth, idle_timeout, Retry, TIMEOUT_ENV};
pub use pull::{list_tags, version_of_tag, Puller};
pub use push::{
    push, push_image, retag, Blob, BlobOutcome, BlobSource, Progress, PushImage, PushOptions,
    Pushed, TagPush,
};
pub use referrers::{push_attached, Attached, Via};

/// Why a registry operation failed; each names the registry, the blob or the file.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    BadReference(String),
    #[error("{registry}: {message}")]
    Http { registry: String, message: String },
    #[error("{registry}: {request}: {message} (after {attempts} attempt(s); is the registry up?)")]
    Unreachable {
        registry: String,
        request: String,
        message: String,
        attempts: u32,
    },
    #[error("{registry}: {what}: the registry answered digest {got}, but binship sent {sent}")]
    DigestMismatch {
        registry: String,
        what: String,
        sent: String,
        got: String,
    },
    /// What the registry sent does not match its digest.
    #[error("{registry}: {what}: the content has digest {got}, expected {expected}")]
    Corrupt {
        registry: String,
        what: String,
        expected: String,
        got: String,
    },
    /// The registry has no such tag or manifest (HTTP 404 on the manifest).
    #[error("{registry}: {reference} does not exist")]
    NotFound { registry: String, reference: String },
    #[error("reading {path}: {message}")]
    Layout { path: String, message: String },
    #[error("{what}: {message}")]
    BadArtifact { what: String, message: String },
    /// Stopped by the caller's stop flag (Ctrl-C) between attempts or during a blob read.
    #[error("{registry}: interrupted")]
    Interrupted { registry: String },
}

impl From<binship_oci::ReferenceError> for RegistryError {
    fn from(e: binship_oci::ReferenceError) -> RegistryError {
        RegistryError::BadReference(e.to_string())
    }
}
