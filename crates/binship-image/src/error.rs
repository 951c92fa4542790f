//! Typed errors of the image model: [`ImageError`].

use std::path::PathBuf;

/// A setting binship does not take (base name, service manager, restart policy, an env value
/// a service format cannot carry); the message names it and says what is expected. Exit class:
/// usage (2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadSetting(pub String);

impl From<BadSetting> for String {
    fn from(e: BadSetting) -> String {
        e.0
    }
}

/// Why the image model could not be built or written.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing layer: {0}")]
    Write(#[source] std::io::Error),
    #[error("rootfs entry {path}: {message}")]
    BadEntry { path: String, message: String },
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },
}

impl ImageError {
    pub fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> ImageError {
        let path = path.into();
        move |source| ImageError::Io {
            context,
            path,
            source,
        }
    }
}
