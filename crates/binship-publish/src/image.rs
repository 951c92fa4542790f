//! Images after packing, wherever they are: [`verify_image`] runs the shared validator on a
//! local medium and checks the minisign signature attached to the manifest digest (in an OCI
//! layout or a registry); [`inspect`] reads the provenance labels of each platform's config.

use std::path::{Path, PathBuf};

use binship_registry::{Puller, Reference};
use binship_sign::image as att;
use binship_sign::keys;
use binship_sink::{oci_layout, Format};
use serde_json::{json, Value};

use crate::{ErrorClass, PublishError, Result};

/// Where an image is: a local medium or a registry reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `oci:DIR[:TAG]`, `oci-archive:FILE` or `docker-archive:FILE`.
    Local {
        format: Format,
        path: PathBuf,
        tag: Option<String>,
    },
    /// `REGISTRY/REPO[:TAG|@DIGEST]`.
    Remote(Reference),
}

impl std::str::FromStr for Target {
    type Err = PublishError;

    /// Parses a target, the local media by their transport prefix (as skopeo names them).
    ///
    /// # Errors
    /// Usage: neither a local medium nor a registry reference.
    fn from_str(s: &str) -> Result<Target> {
        for format in [Format::Oci, Format::OciArchive, Format::DockerArchive] {
            if let Some(rest) = s.strip_prefix(&format!("{}:", format.name())) {
                let (path, tag) = match (format, rest.rsplit_once(':')) {
                    (Format::Oci, Some((p, t))) if !t.contains('/') => (p, Some(t.to_string())),
                    _ => (rest, None),
                };
                return Ok(Target::Local {
                    format,
                    path: path.into(),
                    tag,
                });
            }
        }
        Reference::parse(s, "latest")
            .map(Target::Remote)
            .map_err(|e| {
                PublishError::new(
                    ErrorClass::Usage,
                    format!("{e} (or oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE)"),
                )
            })
    }
}

/// A verified image (`verify IMAGE`'s answer).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verified {
    /// "verified".
    pub status: &'static str,
    /// The target as given.
    pub image: String,
    /// The manifest (or index) digest the signature covers.
    pub digest: String,
    /// The signature's trusted comment (app, version, reference).
    pub trusted_comment: String,
    /// How many images the shared validator checked (0 for a registry).
    pub images_validated: usize,
}

fn failed(m: impl std::fmt::Display) -> PublishError {
    PublishError::new(ErrorClass::VerifyFailed, m.to_string())
}

/// Verifies `target`: for a local medium the shared validator first (every digest, size and
/// member), then the signature tagged `sha256-HEX.sig` against `public_key` (default: the
/// key in [`keys::default_dir`]).
///
/// # Errors
/// Usage: `image` is not a target, the public key cannot be read, or the tag is not in the layout. Verify failed: the
/// medium is invalid, holds no signatures (archives), has no signature, or it does not verify.
/// Other: the registry or the layout cannot be read.
pub fn verify_image(image: &str, public_key: Option<&Path>, insecure: bool) -> Result<Verified> {
    let target: Target = image.parse()?;
    let pk_path = public_key
        .map(Path::to_path_buf)
        .unwrap_or_else(|| keys::default_dir().join(keys::PUBLIC_NAME));
    let pk = keys::load_public(&pk_path)
        .map_err(|e| PublishError::new(ErrorClass::Usage, e.to_string()))?;
    let (digest, trusted_comment, images_validated) = match &target {
        Target::Local { format, path, tag } => {
            let reader = format.sink().open(path).map_err(failed)?;
            let images = binship_image::validate::validate(&*reader, &Default::default())
                .map_err(failed)?
                .len();
            if *format != Format::Oci {
                return Err(failed(format!(
                    "{}: valid, but signatures are stored only in OCI layouts and registries",
                    path.display()
                )));
            }
            let (digest, _, _) = oci_layout::resolve(path, tag.as_deref())
                .map_err(|e| PublishError::new(ErrorClass::Usage, e.to_string()))?;
            let sig_tag = att::tag_for(&digest, "sig");
            let m = oci_layout::read_tagged(path, &sig_tag)
                .map_err(PublishError::other)?
                .ok_or_else(|| {
                    failed(format!(
                        "{}: no signature for {digest} (no {sig_tag}); sign with scaffold --sign",
                        path.display()
                    ))
                })?;
            let what = format!("{}:{sig_tag}", path.display());
            let comment = att::verify_signature(&pk, &digest, &m, &what, |d, _| {
                oci_layout::read_blob(path, d).map_err(|e| e.to_string())
            })
            .map_err(failed)?;
            (digest, comment, images)
        }
        Target::Remote(r) => {
            let mut p = Puller::open(r, insecure, None).map_err(PublishError::other)?;
            let (_, _, digest) = p.manifest(&r.tag).map_err(PublishError::other)?;
            let sig_tag = att::tag_for(&digest, "sig");
            let (m, _, _) = p
                .manifest_opt(&sig_tag)
                .map_err(PublishError::other)?
                .ok_or_else(|| {
                    failed(format!("{r}: no signature for {digest} (no tag {sig_tag})"))
                })?;
            let what = format!("{}:{sig_tag}", r.repo());
            let comment = att::verify_signature(&pk, &digest, &m, &what, |d, size| {
                p.blob_vec(d, size).map_err(|e| e.to_string())
            })
            .map_err(failed)?;
            (digest, comment, 0)
        }
    };
    Ok(Verified {
        status: "verified",
        image: image.into(),
        digest,
        trusted_comment,
        images_validated,
    })
}

/// The provenance labels binship writes, by the short names [`inspect`] gives them.
pub const PROVENANCE: &[(&str, &str)] = &[
    ("title", "org.opencontainers.image.title"),
    ("version", "org.opencontainers.image.version"),
    ("commit", "org.opencontainers.image.revision"),
    ("dirty", "io.binship.git.dirty"),
    ("toolchain", "io.binship.toolchain"),
    ("build_command", "io.binship.build.command"),
    ("tests", "io.binship.tests"),
    ("binary_sha256", "io.binship.binary.sha256"),
    ("created", "org.opencontainers.image.created"),
    ("base", "io.binship.base"),
];

fn provenance(config: &Value) -> Value {
    let labels = &config["config"]["Labels"];
    let mut o = serde_json::Map::new();
    let platform = format!(
        "{}/{}",
        config["os"].as_str().unwrap_or("?"),
        config["architecture"].as_str().unwrap_or("?")
    );
    o.insert("platform".into(), json!(platform));
    for (k, label) in PROVENANCE {
        o.insert((*k).into(), labels[*label].clone());
    }
    Value::Object(o)
}

/// `inspect`'s answer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Inspected {
    /// The target as given.
    pub image: String,
    /// One provenance object per platform.
    pub images: Vec<Value>,
}

/// The provenance of every image at `image` (a [`Target`]) (one per platform): `platform` plus the
/// [`PROVENANCE`] labels (null when absent).
///
/// # Errors
/// Usage: not a target. Other: the medium or registry cannot be read, or a manifest or config is not JSON.
pub fn inspect(image: &str, insecure: bool) -> Result<Inspected> {
    let target: Target = image.parse()?;
    let configs: std::result::Result<Vec<Value>, String> = match &target {
        Target::Local { format, path, .. } => (|| {
            let reader = format.sink().open(path).map_err(|e| e.to_string())?;
            reader
                .images()
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|i| serde_json::from_slice(&i.config).map_err(|e| e.to_string()))
                .collect()
        })(),
        Target::Remote(r) => (|| {
            let mut p = Puller::open(r, insecure, None).map_err(|e| e.to_string())?;
            let mut json_of = |d: &str| -> std::result::Result<Value, String> {
                let (b, _, _) = p.manifest(d).map_err(|e| e.to_string())?;
                serde_json::from_slice(&b).map_err(|e| e.to_string())
            };
            let top = json_of(&r.tag)?;
            let manifests: Vec<Value> = match top["manifests"].as_array() {
                Some(children) => children
                    .iter()
                    .map(|c| json_of(c["digest"].as_str().unwrap_or_default()))
                    .collect::<std::result::Result<_, _>>()?,
                None => vec![top],
            };
            manifests
                .iter()
                .map(|m| {
                    let d = m["config"]["digest"].as_str().unwrap_or_default();
                    let size = m["config"]["size"].as_u64().unwrap_or(0);
                    p.blob_vec(d, size)
                        .map_err(|e| e.to_string())
                        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
                })
                .collect()
        })(),
    };
    let images = configs
        .map(|cs| cs.iter().map(provenance).collect())
        .map_err(PublishError::other)?;
    Ok(Inspected {
        image: image.into(),
        images,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            "oci:out/x:v.1".parse::<Target>(),
            Ok(Target::Local {
                format: Format::Oci,
                path: "out/x".into(),
                tag: Some("v.1".into())
            })
        );
        assert!(matches!(
            "docker-archive:a/b.tar".parse::<Target>(),
            Ok(Target::Local {
                format: Format::DockerArchive,
                tag: None,
                ..
            })
        ));
        assert!(matches!(
            "127.0.0.1:5000/go-id:v.2".parse::<Target>(),
            Ok(Target::Remote(_))
        ));
        assert_eq!(
            "not a ref".parse::<Target>().map_err(|e| e.class),
            Err(ErrorClass::Usage)
        );
    }
}
