//! Typed errors of the image model: [`ImageError`].

use std::path::PathBuf;

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
