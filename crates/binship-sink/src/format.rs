//! [`Format`]: the output formats binship writes, each stating its own rules (compressions,
//! platforms, init, default output, which flags apply). Adding a format is one sink module and
//! one arm here; every `match` on `Format` then tells what else has to handle it.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use binship_image::Compression;
use serde::{Deserialize, Serialize};

use crate::{docker_archive, incus, lxc, oci_archive, oci_layout, Sink};

/// An output format of `binship scaffold` (and `update`'s `[[outputs]]`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// `docker save`'s tar (docker load, podman load): one platform, uncompressed layers. The
    /// default (the seed's "docker" type).
    #[default]
    DockerArchive,
    /// An OCI image layout directory (image-layout spec v1.1), merged into when it exists.
    Oci,
    /// A tar of an OCI image layout (`podman save --format oci-archive`).
    OciArchive,
    /// `lxc-create -t local`'s rootfs and meta tarballs (xz).
    Lxc,
    /// Incus/LXD's unified (or split) image tarball (xz or zstd).
    Incus,
}

/// A format name that binship does not write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format `{0}` (expected one of docker-archive, oci, oci-archive, lxc, incus)")]
pub struct UnknownFormat(pub String);

impl Format {
    /// Every format, in the order help and errors list them.
    pub const ALL: [Format; 5] = [
        Format::DockerArchive,
        Format::Oci,
        Format::OciArchive,
        Format::Lxc,
        Format::Incus,
    ];

    /// The name users type (`--format`) and the JSON answers carry.
    pub fn name(self) -> &'static str {
        match self {
            Format::DockerArchive => "docker-archive",
            Format::Oci => "oci",
            Format::OciArchive => "oci-archive",
            Format::Lxc => "lxc",
            Format::Incus => "incus",
        }
    }

    /// The sink that writes and reads this format.
    pub fn sink(self) -> Box<dyn Sink> {
        match self {
            Format::DockerArchive => Box::new(docker_archive::DockerArchive),
            Format::Oci => Box::new(oci_layout::OciLayout),
            Format::OciArchive => Box::new(oci_archive::OciArchive),
            Format::Lxc => Box::new(lxc::Lxc),
            Format::Incus => Box::new(incus::Incus),
        }
    }

    /// A system-container image: it boots the base's init, so it needs an init and a service
    /// manager (systemd or OpenRC) in the base, and one root filesystem (flattened).
    pub fn is_system(self) -> bool {
        matches!(self, Format::Lxc | Format::Incus)
    }

    /// Whether it holds an image index of several platforms (OCI image spec §"Image Index").
    pub fn multi_platform(self) -> bool {
        matches!(self, Format::Oci | Format::OciArchive)
    }

    /// The `--compress` names it takes; the first is the default.
    pub fn compressions(self) -> &'static [&'static str] {
        match self {
            Format::DockerArchive => &["none"],
            Format::Oci | Format::OciArchive => &["gzip", "none", "zstd"],
            Format::Lxc => &["xz"],
            Format::Incus => &["xz", "zstd"],
        }
    }

    /// What `--level` sets: the gzip/zstd level of layers, or the xz preset (0-9) of a
    /// system image's root filesystem.
    pub fn level_is_xz_preset(self) -> bool {
        self.is_system()
    }

    /// Where the image goes when `-o` is not given, relative to the `images/` directory
    /// beside the store: `(dir, output)`, the dir being `docker/<app>-<base>` or
    /// `lxc/<app>-<base>` (created by the caller) and the output inside it (the dir itself for
    /// LXC; for Incus `incus.tar.xz`, `incus.tar.zst` or, split, `incus/`).
    pub fn default_output(
        self,
        app: &str,
        base: &str,
        compression: Compression,
        split: bool,
    ) -> (PathBuf, PathBuf) {
        let kind = if self.is_system() { "lxc" } else { "docker" };
        let dir = PathBuf::from(kind).join(format!("{app}-{base}"));
        let out = match self {
            Format::DockerArchive => dir.join(format!("{app}.tar")),
            Format::Oci => dir.join("oci"),
            Format::OciArchive => dir.join(format!("{app}.oci.tar")),
            Format::Lxc => dir.clone(),
            Format::Incus if split => dir.join("incus"),
            Format::Incus if matches!(compression, Compression::Zstd { .. }) => {
                dir.join("incus.tar.zst")
            }
            Format::Incus => dir.join("incus.tar.xz"),
        };
        (dir, out)
    }

    /// The layer compression when none is asked for (system formats compress their rootfs
    /// themselves: the layers they flatten are plain).
    pub fn default_compression(self) -> Compression {
        match self {
            Format::Oci | Format::OciArchive => Compression::Gzip {
                level: binship_image::layer::DEFAULT_GZIP_LEVEL,
            },
            Format::DockerArchive | Format::Lxc | Format::Incus => Compression::None,
        }
    }

    /// Whether `--split` (metadata and rootfs as two tarballs) applies.
    pub fn takes_split(self) -> bool {
        self == Format::Incus
    }

    /// Whether the image carries an alias (`--alias`: Incus's image alias, in its metadata).
    /// An LXC image carries no name (`lxc-create -n` names the container); application
    /// images carry tags (`--tag`).
    /// The formats meant by a name users try that is none of [`Format::ALL`] and is not
    /// spelled like one (`tar`, `docker`, `podman`, `layout`, `lxd`), for an error's tip.
    pub fn meant_by(name: &str) -> &'static [Format] {
        match name.to_ascii_lowercase().as_str() {
            "tar" | "tarball" | "archive" => &[Format::DockerArchive, Format::OciArchive],
            "docker" | "docker-save" | "docker-tar" => &[Format::DockerArchive],
            "podman" | "oci-tar" | "ocitar" => &[Format::OciArchive],
            "layout" | "oci-layout" | "dir" | "directory" => &[Format::Oci],
            "lxd" | "lxc-image" => &[Format::Lxc, Format::Incus],
            _ => &[],
        }
    }

    /// Whether `path` holds an image of this format, which a new one may replace or keep (a
    /// file that is something else is not replaced without `--force`). An LXC dir is checked
    /// for its two tarballs without decompressing them; the other formats are opened.
    pub fn holds_image(self, path: &std::path::Path) -> bool {
        match self {
            Format::Lxc => {
                path.join("rootfs.tar.xz").is_file() && path.join("meta.tar.xz").is_file()
            }
            _ => self.sink().open(path).is_ok(),
        }
    }

    pub fn named_by_alias(self) -> bool {
        self == Format::Incus
    }

    /// Whether signatures and SBOMs can be attached beside the image (`--sign`, `--sbom`
    /// without `--push`): an OCI layout holds referrers and `sha256-<hex>.sig` tags.
    pub fn holds_attachments(self) -> bool {
        self == Format::Oci
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Format, UnknownFormat> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| UnknownFormat(s.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_users_try_are_meant_as_formats() {
        assert_eq!(
            Format::meant_by("tar"),
            [Format::DockerArchive, Format::OciArchive]
        );
        assert!(Format::meant_by("docker-archive").is_empty());
    }

    #[test]
    fn names_round_trip_and_sinks_agree() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
            assert_eq!(f.sink().format(), f);
            assert_eq!(
                serde_json::to_value(f).unwrap(),
                serde_json::Value::String(f.name().into())
            );
        }
        assert!("docker"
            .parse::<Format>()
            .unwrap_err()
            .to_string()
            .contains("unknown format `docker`"));
    }
}
