//! Media types: the only place under `crates/*/src` where these strings are written (OCI image
//! spec v1.1 §"Media Types", cosign's and binship's artifact types).

/// An OCI image manifest (image spec §"Image Manifest").
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image index (image spec §"Image Index").
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// An OCI image configuration (image spec §"Image Configuration").
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The empty descriptor's media type, `{}` (image spec §"Guidance for an Empty Descriptor").
pub const EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// An uncompressed layer tar (image spec §"Image Layer Filesystem Changeset").
pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// A gzip-compressed layer tar.
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// A zstd-compressed layer tar.
pub const LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker's schema 2 manifest (docker image manifest v2, schema 2).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker's manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// cosign's simple-signing payload layer.
pub const COSIGN_SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// A DSSE envelope (in-toto attestations: cosign's `.att` layers, and the `artifactType` of
/// binship's attestation referrers).
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
/// binship's image signature artifact.
pub const BINSHIP_SIGNATURE: &str = "application/vnd.binship.signature.v1";
/// binship's SBOM artifact.
pub const BINSHIP_SBOM: &str = "application/vnd.binship.sbom.v1";
/// A stored version pushed as an OCI artifact (`push-binary`): the manifest's `artifactType`.
pub const BINSHIP_BINARY: &str = "application/vnd.binship.binary.v1";
/// One file of a stored version inside that artifact.
pub const BINSHIP_BINARY_LAYER: &str = "application/vnd.binship.binary.layer.v1";
/// A CycloneDX JSON document.
pub const CYCLONEDX_JSON: &str = "application/vnd.cyclonedx+json";
/// An SPDX JSON document.
pub const SPDX_JSON: &str = "application/spdx+json";
/// Plain JSON (a file of a stored version, e.g. test-results.json).
pub const JSON: &str = "application/json";
/// Bytes of no particular type (blob uploads, binaries).
pub const OCTET_STREAM: &str = "application/octet-stream";
