//! Images after packing, wherever they are: [`verify_image`] runs the shared validator on a
//! local medium and checks the signature attached to the manifest digest (cosign's or binship's,
//! in an OCI layout or a registry); [`sign_image`] signs an image already there; [`inspect`]
//! reads the provenance labels of each platform's config.

use std::path::{Path, PathBuf};

use binship_registry::{Puller, Reference};
use binship_sign::image as att;
use binship_sign::keys;
use binship_sink::{oci_layout, Format};
use serde_json::{json, Value};

use crate::attach::Reader;
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
    /// The signature's format: "cosign" (a PEM public key) or "binship" (a minisign key).
    pub format: &'static str,
    /// binship's format: the signature's trusted comment (app, version, reference).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_comment: Option<String>,
    /// cosign's format: the repository the signed payload names (`docker-reference`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_reference: Option<String>,
    /// With `--attestations`: each verified attestation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestations: Option<Vec<crate::attest::Attested>>,
    /// With `--attestations`, when the image has attestation referrers: how many, and how they
    /// were listed (the referrers API or the tag schema).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrers: Option<String>,
    /// How many images the shared validator checked (0 for a registry).
    pub images_validated: usize,
}

fn failed(m: impl std::fmt::Display) -> PublishError {
    PublishError::new(ErrorClass::VerifyFailed, m.to_string())
}

/// A public key that checks image signatures, by its file: a PEM `PUBLIC KEY` is cosign's, else
/// a minisign public key (binship's format).
pub enum PublicKey {
    Minisign(binship_sign::PublicKey),
    Cosign(binship_sign::cosign::PublicKey),
}

impl PublicKey {
    /// Reads the key at `path`: with `cosign` (the `--key` flag) it must be a PEM public key;
    /// otherwise a PEM public key is cosign's and anything else a minisign key. Without a path:
    /// `binship.pub` in [`keys::default_dir`], or `cosign.pub` there when only that exists.
    ///
    /// # Errors
    /// Usage: missing, not a key, a secret key, or (with `cosign`) not a PEM public key.
    pub fn load(path: Option<&Path>, cosign: bool) -> Result<PublicKey> {
        use binship_sign::cosign as c;
        let usage = |m: String| PublishError::new(ErrorClass::Usage, m);
        let dir = keys::default_dir();
        let path = match path {
            Some(p) => p.to_path_buf(),
            None if cosign => dir.join(c::PUBLIC_NAME),
            None if !dir.join(keys::PUBLIC_NAME).exists() && dir.join(c::PUBLIC_NAME).exists() => {
                dir.join(c::PUBLIC_NAME)
            }
            None => dir.join(keys::PUBLIC_NAME),
        };
        let secret_of = if c::is_secret_key_file(&path) {
            Some(c::PUBLIC_NAME)
        } else if keys::is_secret_key_file(&path) {
            Some(keys::PUBLIC_NAME)
        } else {
            None
        };
        if let Some(public) = secret_of {
            return Err(usage(format!(
                "{}: a secret key; verify with its public key ({public})",
                path.display()
            )));
        }
        if c::is_public_key_file(&path) {
            return c::load_public(&path)
                .map(PublicKey::Cosign)
                .map_err(|e| usage(e.to_string()));
        }
        if cosign {
            return Err(usage(match std::fs::metadata(&path) {
                Err(_) => format!(
                    "{}: no key here (binship key generate --format cosign, or --key FILE)",
                    path.display()
                ),
                Ok(_) => format!(
                    "{}: not a PEM public key (--key takes cosign.pub; a minisign binship.pub goes with --pub)",
                    path.display()
                ),
            }));
        }
        keys::load_public(&path)
            .map(PublicKey::Minisign)
            .map_err(|e| usage(e.to_string()))
    }

    fn format(&self) -> &'static str {
        match self {
            PublicKey::Minisign(_) => "binship",
            PublicKey::Cosign(_) => "cosign",
        }
    }

    /// Checks the signature manifest `m` (from `what`) for the image `digest`.
    fn check(
        &self,
        digest: &str,
        m: &[u8],
        what: &str,
        blob: impl FnMut(&str, u64) -> std::result::Result<Vec<u8>, String>,
    ) -> Result<String> {
        match self {
            PublicKey::Minisign(pk) => att::verify_signature(pk, digest, m, what, blob),
            PublicKey::Cosign(pk) => att::verify_cosign(pk, digest, m, what, blob),
        }
        .map_err(failed)
    }
}

/// What `verify IMAGE` checks with which key.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions<'a> {
    /// The public key file (see [`PublicKey::load`]).
    pub public_key: Option<&'a Path>,
    /// It was given as a cosign key (`--key`): a PEM public key is required.
    pub cosign: bool,
    /// Also check the in-toto attestations (`.att`; a cosign key).
    pub attestations: bool,
    /// Plain HTTP (and any certificate) for a registry.
    pub insecure: bool,
}

/// Verifies `target`: for a local medium the shared validator first (every digest, size and
/// member), then the signature tagged `sha256-HEX.sig` against the public key (read by
/// [`PublicKey::load`]), and with `attestations` the in-toto attestations: cosign's
/// `sha256-HEX.att` image and the image's OCI 1.1 referrers (see `image_attestations`).
///
/// # Errors
/// Usage: `image` is not a target, the public key cannot be read, or `attestations` without a
/// cosign key. Not found: no such layout, tag or repository. Verify failed: the medium is
/// invalid, holds no signatures (archives), has no signature or attestations, or they do not
/// verify. Other: the registry or the layout cannot be read.
pub fn verify_image(image: &str, o: &VerifyOptions) -> Result<Verified> {
    let target: Target = image.parse()?;
    let pk = PublicKey::load(o.public_key, o.cosign)?;
    if o.attestations && !matches!(pk, PublicKey::Cosign(_)) {
        return Err(PublishError::new(
            ErrorClass::Usage,
            "--attestations checks cosign's attestations: give the cosign public key (--key cosign.pub)",
        ));
    }
    let (digest, images_validated, mut beside) = match &target {
        Target::Local { format, path, tag } => {
            if !path.exists() {
                return Err(PublishError::new(
                    ErrorClass::NotFound,
                    format!("{}: no such file or directory", path.display()),
                ));
            }
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
            let (digest, _, _) =
                oci_layout::resolve(path, tag.as_deref()).map_err(PublishError::layout)?;
            (digest, images, Reader::Layout(path))
        }
        Target::Remote(r) => {
            let mut p = Puller::open(r, o.insecure, None).map_err(PublishError::other)?;
            let (_, _, digest) = p.manifest(&r.tag).map_err(PublishError::registry)?;
            (digest, 0, Reader::Registry(Box::new(p), r.repo()))
        }
    };
    let sig_tag = att::tag_for(&digest, "sig");
    let m = beside.tagged(&sig_tag)?.ok_or_else(|| {
        failed(format!(
            "{}: no signature for {digest}; sign with scaffold --sign or binship sign-image",
            beside.what(&sig_tag)
        ))
    })?;
    let what = beside.what(&sig_tag);
    let signed = pk.check(&digest, &m, &what, |d, size| beside.blob(d, size))?;
    let (attestations, referrers) = match (&pk, o.attestations) {
        (PublicKey::Cosign(k), true) => {
            let (found, via) = image_attestations(k, &digest, &mut beside)?;
            (Some(found), via)
        }
        _ => (None, None),
    };
    let (trusted_comment, docker_reference) = match pk {
        PublicKey::Minisign(_) => (Some(signed), None),
        PublicKey::Cosign(_) => (None, Some(signed)),
    };
    Ok(Verified {
        status: "verified",
        image: image.into(),
        digest,
        format: pk.format(),
        trusted_comment,
        docker_reference,
        attestations,
        referrers,
        images_validated,
    })
}

/// The attestations of the image `digest` by `pk`, from cosign's `.att` image and from the
/// image's referrers of artifactType `application/vnd.dsse.envelope.v1+json` (the referrers
/// API, else the tag schema), each checked by [`crate::attest::check_attestations`]; together
/// they must hold the provenance and both SBOMs. Also says how referrers were listed, when
/// some were.
///
/// # Errors
/// Verify failed: neither holds an attestation, one by this key names another image, or a
/// predicate type is missing. Other: the layout or registry cannot be read.
fn image_attestations(
    pk: &binship_sign::cosign::PublicKey,
    digest: &str,
    beside: &mut Reader,
) -> Result<(Vec<crate::attest::Attested>, Option<String>)> {
    use crate::attest::{check_attestations, require_attached};
    let att_tag = att::tag_for(digest, "att");
    let mut found = Vec::new();
    let mut layers = 0;
    let mut read = Vec::new();
    if let Some(m) = beside.tagged(&att_tag)? {
        let what = beside.what(&att_tag);
        let (f, n) = check_attestations(pk, digest, &m, &what, |d, size| beside.blob(d, size))
            .map_err(failed)?;
        found.extend(f);
        layers += n;
        read.push(what);
    }
    let (refs, via) = beside.referrers(digest, binship_oci::media_type::DSSE_ENVELOPE)?;
    for (m, what) in &refs {
        // A referrer lists under the image it names; one listed under another is smuggled.
        let named = binship_oci::referrers::subject_of(m).unwrap_or_default();
        if named != digest {
            return Err(failed(format!(
                "{what}: a referrer whose subject is {}, not the image {digest}",
                if named.is_empty() { "missing" } else { &named }
            )));
        }
        let (f, n) = check_attestations(pk, digest, m, what, |d, size| beside.blob(d, size))
            .map_err(failed)?;
        found.extend(f);
        layers += n;
    }
    let via = (!refs.is_empty()).then(|| format!("{} referrer(s) through {via}", refs.len()));
    if let Some(v) = &via {
        read.push(v.clone());
    }
    if read.is_empty() {
        return Err(failed(format!(
            "{}: no attestations for {digest} (no .att image, no referrers); scaffold --sign with a cosign key attaches them (sign-image signs only)",
            beside.what(&att_tag)
        )));
    }
    require_attached(
        &found,
        layers,
        &format!("{digest}'s attestations ({})", read.join(", ")),
    )
    .map_err(failed)?;
    Ok((found, via))
}

/// A signed image (`sign-image`'s answer).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SignedImage {
    /// "signed".
    pub status: &'static str,
    /// The target as given.
    pub image: String,
    /// The manifest (or index) digest signed.
    pub digest: String,
    /// "cosign" or "binship".
    pub format: &'static str,
    /// Where the signature is: its tag in the layout, or its reference in the registry.
    pub signature: String,
}

/// Signs the image at `image` (an OCI layout `oci:DIR[:TAG]` or `REGISTRY/REPO[:TAG|@DIGEST]`)
/// with `key`, beside it under `sha256-HEX.sig`: cosign's signature image (signatures by
/// other keys kept) or binship's own.
///
/// # Errors
/// Usage: not a target, or an archive (it holds no signatures). Other: the layout or registry
/// cannot be read or written.
pub fn sign_image(
    image: &str,
    key: &binship_sign::ImageKey,
    insecure: bool,
) -> Result<SignedImage> {
    let target: Target = image.parse()?;
    let (subject, reference, place) = match &target {
        Target::Local {
            format: Format::Oci,
            path,
            tag,
        } => {
            let (digest, size, media_type) =
                oci_layout::resolve(path, tag.as_deref()).map_err(PublishError::layout)?;
            // The name scaffold wrote for the image (as it signs it), else the dir's.
            let reference = match oci_layout::image_name(path, tag.as_deref())
                .map_err(PublishError::layout)?
            {
                Some(name) => name,
                None => {
                    let dir = path
                        .file_name()
                        .map_or_else(|| "image".to_string(), |n| n.to_string_lossy().into_owned());
                    format!("{dir}:{}", tag.as_deref().unwrap_or("latest"))
                }
            };
            (
                att::Subject {
                    digest,
                    size,
                    media_type,
                },
                reference,
                crate::attach::Place::Layout(path),
            )
        }
        Target::Local { path, .. } => {
            return Err(PublishError::new(
                ErrorClass::Usage,
                format!(
                    "{}: signatures are stored only in OCI layouts (oci:DIR) and registries",
                    path.display()
                ),
            ))
        }
        Target::Remote(r) => {
            let mut p = Puller::open(r, insecure, None).map_err(PublishError::other)?;
            let (bytes, media_type, digest) = p.manifest(&r.tag).map_err(PublishError::registry)?;
            (
                att::Subject {
                    digest,
                    size: bytes.len() as u64,
                    media_type,
                },
                r.to_string(),
                crate::attach::Place::Registry { to: r, insecure },
            )
        }
    };
    let a = crate::attach::signature(&subject, &reference, key, &mut place.reader()?)?;
    let stored = place.store(std::slice::from_ref(&a))?;
    Ok(SignedImage {
        status: "signed",
        image: image.into(),
        digest: subject.digest,
        format: key.format(),
        signature: stored.into_iter().next().unwrap_or(a.tag),
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
