//! Image model: a [`Rootfs`] (sorted entries) becomes a deterministic tar layer
//! ([`layer::write_layer`], with none/gzip/zstd compression in one streaming pass); an
//! [`ImageSpec`] (layers + container config) becomes OCI/docker config JSON; [`bases`] holds the
//! built-in bases; [`validate`] is the one validator every sink's reader and `binship verify` use.

pub mod accounts;
pub mod bases;
pub mod compress;
pub mod config;
pub mod error;
pub mod flat;
pub mod import;
pub mod layer;
pub mod layer_store;
pub mod rootfs;
pub mod services;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod validate;

pub use config::{ContainerConfig, ImageSpec, Platform};
pub use error::ImageError;
pub use layer::{Compression, LayerDescriptor};
pub use rootfs::{Entry, EntryKind, Rootfs};
