//! [`Destination`]: where an image goes, a file or directory that a [`Format`]'s sink writes, or
//! a registry repository that takes it as an OCI image (OCI distribution spec, "Push"), with
//! the rule of which formats each takes.

use std::fmt;
use std::path::{Path, PathBuf};

use binship_oci::Reference;

use crate::Format;

/// Where one image of a scaffold or an `update` output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A file or directory written by the format's sink (`-o`, or an `[[outputs]]` path;
    /// `None`: the format's default output).
    File(Option<PathBuf>),
    /// A registry repository (`--push REGISTRY/REPO[:TAG]`, or `docker://REGISTRY/REPO[:TAG]`
    /// in `[[outputs]]`). It takes application images only, pushed as OCI.
    Registry(Repository),
}

/// A checked `REGISTRY/REPO[:TAG]` whose tag, when absent, is the version's `v.N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository(String);

/// A destination that cannot be used: a malformed reference, or a format the destination
/// cannot take. The message names the destination.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DestinationError(pub String);

impl Repository {
    /// Checks `s` with docker's reference grammar (a registry host is required).
    ///
    /// # Errors
    /// [`DestinationError`] naming the reference and the part that is wrong.
    pub fn parse(s: &str) -> Result<Repository, DestinationError> {
        Reference::parse(s, "v.1").map_err(|e| DestinationError(e.to_string()))?;
        Ok(Repository(s.to_string()))
    }

    /// The reference `version` is pushed to: the given tag, or `v.N`.
    pub fn reference(&self, version: u32) -> Reference {
        Reference::parse(&self.0, &format!("v.{version}"))
            .expect("checked by Repository::parse; the default tag is valid")
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Destination {
    /// Parses an `[[outputs]]` destination: `docker://REF` is a registry, anything else a path
    /// relative to `base_dir` (the recipe's dir).
    ///
    /// # Errors
    /// [`DestinationError`] for a malformed reference.
    pub fn parse(s: &str, base_dir: &Path) -> Result<Destination, DestinationError> {
        match s.strip_prefix("docker://") {
            Some(r) => Ok(Destination::Registry(Repository::parse(r)?)),
            None => Ok(Destination::File(Some(base_dir.join(s)))),
        }
    }

    /// Whether this destination takes `format`: a file takes every format; a registry takes
    /// application images (a system container's rootfs and metadata tarballs are not an OCI
    /// image), which it receives as OCI whatever the format written beside it.
    ///
    /// # Errors
    /// [`DestinationError`] saying which format to use instead.
    pub fn check(&self, format: Format) -> Result<(), DestinationError> {
        match self {
            Destination::Registry(r) if format.is_system() => Err(DestinationError(format!(
                "{r}: a registry takes an OCI application image; {format} images are not pushed (use format oci or docker-archive)"
            ))),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_take_application_images_only() {
        let d = Destination::parse("docker://127.0.0.1:5000/x/y", Path::new("/r")).unwrap();
        assert!(matches!(d, Destination::Registry(_)));
        for f in Format::ALL {
            assert_eq!(d.check(f).is_ok(), !f.is_system(), "{f}");
            assert!(Destination::File(None).check(f).is_ok());
        }
        let e = d.check(Format::Lxc).unwrap_err().to_string();
        assert!(e.contains("lxc images are not pushed"), "{e}");
    }

    #[test]
    fn paths_are_relative_to_the_recipe() {
        assert_eq!(
            Destination::parse("out/x.tar", Path::new("/r")).unwrap(),
            Destination::File(Some(PathBuf::from("/r/out/x.tar")))
        );
        assert!(Destination::parse("docker://x", Path::new("/r")).is_err());
    }

    #[test]
    fn the_tag_defaults_to_the_version() {
        let r = Repository::parse("127.0.0.1:5000/a/b").unwrap();
        assert_eq!(r.reference(7).tag, "v.7");
        let r = Repository::parse("127.0.0.1:5000/a/b:stable").unwrap();
        assert_eq!(r.reference(7).tag, "stable");
    }
}
