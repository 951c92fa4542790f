//! Image attachments: [`signature`] makes a signature artifact for an image (manifest or
//! index) digest — an OCI image manifest with artifactType `application/vnd.binship.signature.v1`,
//! the empty config, one layer holding a cosign-style "simple signing" payload that names the
//! digest, the minisign signature of that payload in the layer's annotation, and `subject`
//! pointing at the image — tagged `sha256-<hex>.sig` (the cosign tag scheme, for registries
//! without a referrers API). [`sbom`] attaches SBOM documents the same way (`sha256-<hex>.sbom`).
//! [`verify_signature`] checks one. That format is binship's own (minisign keys); cosign does
//! not read it.
//!
//! With a cosign key ([`crate::cosign`]) the signature is cosign's own: [`cosign_signature`]
//! makes the signature image cosign writes under the same `sha256-<hex>.sig` tag (an OCI image
//! manifest; each layer a simple-signing payload of media type
//! `application/vnd.dev.cosign.simplesigning.v1+json` whose ECDSA signature is the layer's
//! `dev.cosignproject.cosign/signature` annotation; earlier signatures kept), and
//! [`verify_cosign`] checks one as `cosign verify --key` does. In-toto attestations go in
//! cosign's `.att` image ([`cosign_attestations`]) and each also as an OCI 1.1 referrer
//! ([`attestation_referrer`]).

use std::path::Path;

use binship_oci::digest_string;
use serde_json::{json, Value};

use crate::sign::{sign_bytes, verify_bytes};
use crate::{SecretKey, SignError};

pub use binship_oci::media_type::{
    BINSHIP_SBOM as SBOM_ARTIFACT, BINSHIP_SIGNATURE as SIGNATURE_ARTIFACT,
    COSIGN_SIMPLESIGNING as PAYLOAD_MEDIA, EMPTY as EMPTY_MEDIA, MANIFEST as MANIFEST_MEDIA,
};
pub const SIGNATURE_ANNOTATION: &str = "dev.binship.minisign.signature";
/// The annotation holding a cosign signature (base64 of ECDSA ASN.1 DER).
pub const COSIGN_SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The `type` of cosign's simple-signing payload.
pub const COSIGN_PAYLOAD_TYPE: &str = "cosign container image signature";

/// The image an attachment refers to.
#[derive(Debug, Clone)]
pub struct Subject {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
}

/// An artifact to store beside an image: its manifest and every blob it references.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// Its tag, or for an untagged referrer ([`attestation_referrer`]) the manifest's own
    /// digest ([`Attachment::is_untagged`]): found through its `subject` alone.
    pub tag: String,
    pub manifest: Vec<u8>,
    pub blobs: Vec<Vec<u8>>,
}

impl Attachment {
    /// Whether it is stored by digest only (its `tag` is a digest), found through the
    /// referrers API or the referrers tag schema.
    pub fn is_untagged(&self) -> bool {
        self.tag.starts_with("sha256:")
    }
}

/// `sha256-<hex>.<suffix>`
pub fn tag_for(subject_digest: &str, suffix: &str) -> String {
    format!("{}.{suffix}", subject_digest.replace(':', "-"))
}

fn artifact(
    subject: &Subject,
    artifact_type: &str,
    layers: Vec<(Value, Vec<u8>)>,
    annotations: Option<Value>,
) -> (Vec<u8>, Vec<Vec<u8>>) {
    let empty = b"{}".to_vec();
    let mut blobs = vec![empty.clone()];
    let descs: Vec<Value> = layers
        .into_iter()
        .map(|(mut d, bytes)| {
            d["digest"] = json!(digest_string(&bytes));
            d["size"] = json!(bytes.len());
            blobs.push(bytes);
            d
        })
        .collect();
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA,
        "artifactType": artifact_type,
        "config": { "mediaType": EMPTY_MEDIA, "digest": digest_string(&empty), "size": 2 },
        "layers": descs,
        "subject": { "mediaType": subject.media_type, "digest": subject.digest, "size": subject.size },
    });
    if let Some(a) = annotations {
        m["annotations"] = a;
    }
    (serde_json::to_vec(&m).expect("json"), blobs)
}

/// A signature of `subject` (known to users as `reference`).
pub fn signature(
    subject: &Subject,
    reference: &str,
    sk: &SecretKey,
) -> Result<Attachment, SignError> {
    let payload = serde_json::to_vec(&json!({
        "critical": {
            "identity": { "docker-reference": reference },
            "image": { "docker-manifest-digest": subject.digest },
            "type": "binship container image signature",
        },
        "optional": { "creator": format!("binship {}", env!("CARGO_PKG_VERSION")) },
    }))
    .expect("json");
    let sig = sign_bytes(
        sk,
        &payload,
        &format!("binship image {reference} {}", subject.digest),
        Path::new(reference),
    )?;
    let (manifest, blobs) = artifact(
        subject,
        SIGNATURE_ARTIFACT,
        vec![(
            json!({ "mediaType": PAYLOAD_MEDIA, "annotations": { SIGNATURE_ANNOTATION: sig } }),
            payload,
        )],
        None,
    );
    Ok(Attachment {
        tag: tag_for(&subject.digest, "sig"),
        manifest,
        blobs,
    })
}

/// One signature in a cosign signature image: the simple-signing payload and its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignLayer {
    pub payload: Vec<u8>,
    /// Base64 of the ASN.1 DER ECDSA signature.
    pub signature: String,
}

/// cosign's simple-signing payload for the image `digest` of the repository `docker_reference`
/// (`REGISTRY/REPO`, no tag, as cosign writes it).
pub fn simple_signing(docker_reference: &str, digest: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "critical": {
            "identity": { "docker-reference": docker_reference },
            "image": { "docker-manifest-digest": digest },
            "type": COSIGN_PAYLOAD_TYPE,
        },
        "optional": null,
    }))
    .expect("json")
}

/// The cosign signature layers of an existing `.sig` manifest (none when it is binship's own
/// format or holds other layers). `blob` fetches a blob by digest and size.
///
/// # Errors
/// A one-line reason: the manifest is not JSON, or a layer cannot be fetched or has another
/// digest than its descriptor says.
pub fn cosign_layers(
    manifest: &[u8],
    blob: impl FnMut(&str, u64) -> Result<Vec<u8>, String>,
) -> Result<Vec<CosignLayer>, String> {
    let cosign = |l: &Value| {
        l["mediaType"] == PAYLOAD_MEDIA && l["annotations"][COSIGN_SIGNATURE_ANNOTATION].is_string()
    };
    Ok(layers_of(manifest, cosign, blob)?
        .into_iter()
        .map(|(d, payload)| CosignLayer {
            payload,
            signature: d["annotations"][COSIGN_SIGNATURE_ANNOTATION]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        })
        .collect())
}

/// The layers of the image manifest `manifest` that `keep` selects by their descriptor: each
/// descriptor and its blob, fetched by `blob` (digest, size) and checked against the
/// descriptor's digest (the others are not fetched).
fn layers_of(
    manifest: &[u8],
    keep: impl Fn(&Value) -> bool,
    mut blob: impl FnMut(&str, u64) -> Result<Vec<u8>, String>,
) -> Result<Vec<(Value, Vec<u8>)>, String> {
    let m: Value = serde_json::from_slice(manifest).map_err(|e| format!("not JSON: {e}"))?;
    let mut out = Vec::new();
    for l in m["layers"].as_array().into_iter().flatten() {
        if !keep(l) {
            continue;
        }
        let d = l["digest"].as_str().unwrap_or_default();
        let bytes = blob(d, l["size"].as_u64().unwrap_or(0))?;
        if digest_string(&bytes) != d {
            return Err(format!("layer blob is not {d}"));
        }
        out.push((l.clone(), bytes));
    }
    Ok(out)
}

/// The signature image cosign writes for `subject_digest` (tag `sha256-<hex>.sig`): `earlier`
/// signatures first, then one by `sk` of the simple-signing payload naming `docker_reference`
/// unless an identical one is there (ECDSA signing is deterministic, RFC 6979, so re-signing
/// the same image with the same key changes nothing). An OCI image manifest whose config is
/// the one go-containerregistry writes for such images (a diff_id and a history entry per
/// layer, zero time), no subject.
pub fn cosign_signature(
    subject_digest: &str,
    docker_reference: &str,
    sk: &crate::cosign::SecretKey,
    earlier: Vec<CosignLayer>,
) -> Attachment {
    let payload = simple_signing(docker_reference, subject_digest);
    let signature = crate::cosign::sign(sk, &payload);
    let mut layers = earlier;
    let new = CosignLayer { payload, signature };
    if !layers.contains(&new) {
        layers.push(new);
    }
    let descs = layers
        .into_iter()
        .map(|l| {
            (
                json!({
                    "mediaType": PAYLOAD_MEDIA,
                    "annotations": { COSIGN_SIGNATURE_ANNOTATION: l.signature },
                }),
                l.payload,
            )
        })
        .collect();
    cosign_image(subject_digest, "sig", descs)
}

/// An image in cosign's tag scheme (`sha256-<hex>.<suffix>`) holding `layers` (a descriptor
/// without digest and size, and the bytes): an OCI image manifest whose config is the one
/// go-containerregistry writes for such images (a diff_id and a history entry per layer, zero
/// time), no subject.
fn cosign_image(subject_digest: &str, suffix: &str, layers: Vec<(Value, Vec<u8>)>) -> Attachment {
    let zero = "0001-01-01T00:00:00Z";
    let config = serde_json::to_vec(&json!({
        "architecture": "",
        "created": zero,
        "history": layers.iter().map(|_| json!({ "created": zero })).collect::<Vec<_>>(),
        "os": "",
        "rootfs": {
            "type": "layers",
            "diff_ids": layers.iter().map(|l| digest_string(&l.1)).collect::<Vec<_>>(),
        },
        "config": {},
    }))
    .expect("json");
    let descs: Vec<Value> = layers
        .iter()
        .map(|(d, bytes)| {
            let mut d = d.clone();
            d["size"] = json!(bytes.len());
            d["digest"] = json!(digest_string(bytes));
            d
        })
        .collect();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA,
        "config": {
            "mediaType": binship_oci::media_type::CONFIG,
            "size": config.len(),
            "digest": digest_string(&config),
        },
        "layers": descs,
    }))
    .expect("json");
    let mut blobs = vec![config];
    blobs.extend(layers.into_iter().map(|l| l.1));
    Attachment {
        tag: tag_for(subject_digest, suffix),
        manifest,
        blobs,
    }
}

/// One attestation in a cosign attestation image: its predicate type and DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationLayer {
    pub predicate_type: String,
    pub envelope: Vec<u8>,
}

/// The DSSE layers of an existing `.att` manifest. `blob` fetches a blob by digest and size.
///
/// # Errors
/// A one-line reason: not JSON, or a layer cannot be fetched or has another digest.
pub fn attestation_layers(
    manifest: &[u8],
    blob: impl FnMut(&str, u64) -> Result<Vec<u8>, String>,
) -> Result<Vec<AttestationLayer>, String> {
    let dsse = |l: &Value| l["mediaType"] == crate::attest::DSSE_MEDIA;
    Ok(layers_of(manifest, dsse, blob)?
        .into_iter()
        .map(|(d, envelope)| AttestationLayer {
            predicate_type: d["annotations"]["predicateType"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            envelope,
        })
        .collect())
}

/// The annotation naming an attestation's predicate type on a referrer manifest (and so in
/// its referrers list entry), as in-toto attestation layers carry it.
pub const PREDICATE_TYPE_ANNOTATION: &str = "in-toto.io/predicate-type";

/// One attestation as an OCI 1.1 referrer of `subject` (image spec v1.1, "Guidelines for
/// Artifact Usage"): an image manifest of artifactType `application/vnd.dsse.envelope.v1+json`,
/// the empty config, one layer holding the DSSE envelope (annotated as in cosign's `.att`
/// image, so either is read the same way), `subject` the image, and the predicate type in
/// [`PREDICATE_TYPE_ANNOTATION`] for clients that filter the referrers list. Untagged: its
/// `tag` is its digest. The same envelope gives the same manifest (ECDSA is deterministic,
/// RFC 6979), so signing again adds no referrer.
pub fn attestation_referrer(subject: &Subject, layer: &AttestationLayer) -> Attachment {
    let (manifest, blobs) = artifact(
        subject,
        crate::attest::DSSE_MEDIA,
        vec![(
            json!({
                "mediaType": crate::attest::DSSE_MEDIA,
                "annotations": {
                    COSIGN_SIGNATURE_ANNOTATION: "",
                    "predicateType": layer.predicate_type,
                },
            }),
            layer.envelope.clone(),
        )],
        Some(json!({ PREDICATE_TYPE_ANNOTATION: layer.predicate_type })),
    );
    Attachment {
        tag: digest_string(&manifest),
        manifest,
        blobs,
    }
}

/// The attestation image cosign writes for `subject_digest` (tag `sha256-<hex>.att`): each DSSE
/// envelope a layer of media type `application/vnd.dsse.envelope.v1+json` with the annotations
/// cosign gives it (`predicateType`, an empty `dev.cosignproject.cosign/signature`): `kept`
/// (earlier layers the caller keeps), then `new`.
pub fn cosign_attestations(
    subject_digest: &str,
    kept: Vec<AttestationLayer>,
    new: Vec<AttestationLayer>,
) -> Attachment {
    let mut layers = kept;
    layers.extend(new);
    let descs = layers
        .into_iter()
        .map(|l| {
            (
                json!({
                    "mediaType": crate::attest::DSSE_MEDIA,
                    "annotations": {
                        COSIGN_SIGNATURE_ANNOTATION: "",
                        "predicateType": l.predicate_type,
                    },
                }),
                l.envelope,
            )
        })
        .collect();
    cosign_image(subject_digest, "att", descs)
}

/// Checks a cosign signature image (`manifest`, read from `what`) for the image
/// `subject_digest` with `pk`, as `cosign verify --key` does: some simple-signing layer's
/// signature verifies with `pk` and its payload names `subject_digest`. Returns that payload's
/// `docker-reference`.
///
/// # Errors
/// [`SignError::BadSignature`]: no cosign signature layers, none by this key, or the one by
/// this key names another image.
pub fn verify_cosign(
    pk: &crate::cosign::PublicKey,
    subject_digest: &str,
    manifest: &[u8],
    what: &str,
    blob: impl FnMut(&str, u64) -> Result<Vec<u8>, String>,
) -> Result<String, SignError> {
    let bad = |m: String| SignError::BadSignature {
        path: what.into(),
        message: m,
    };
    let layers = cosign_layers(manifest, blob).map_err(bad)?;
    if layers.is_empty() {
        return Err(bad(
            "no cosign signatures here (a binship minisign signature? verify it with --pub)".into(),
        ));
    }
    let mut named_other = None;
    for l in &layers {
        if crate::cosign::verify(pk, &l.payload, &l.signature).is_err() {
            continue;
        }
        let p: Value = serde_json::from_slice(&l.payload)
            .map_err(|e| bad(format!("signed payload is not JSON: {e}")))?;
        let named = &p["critical"]["image"]["docker-manifest-digest"];
        if named == subject_digest && p["critical"]["type"] == COSIGN_PAYLOAD_TYPE {
            return Ok(p["critical"]["identity"]["docker-reference"]
                .as_str()
                .unwrap_or_default()
                .to_string());
        }
        named_other = Some(named.to_string());
    }
    Err(bad(match named_other {
        Some(d) => format!("the signature by this key names {d}, not the image {subject_digest}"),
        None => format!(
            "none of its {} signature(s) verifies with this key",
            layers.len()
        ),
    }))
}

/// SBOM documents (name, media type, bytes) attached to `subject`.
pub fn sbom(subject: &Subject, docs: Vec<(String, String, Vec<u8>)>) -> Attachment {
    let layers = docs
        .into_iter()
        .map(|(name, media, bytes)| {
            (
                json!({ "mediaType": media, "annotations": { "org.opencontainers.image.title": name } }),
                bytes,
            )
        })
        .collect();
    let (manifest, blobs) = artifact(subject, SBOM_ARTIFACT, layers, None);
    Attachment {
        tag: tag_for(&subject.digest, "sbom"),
        manifest,
        blobs,
    }
}

/// Checks a signature artifact (`manifest`, read from `what`) for the image `subject_digest`;
/// `blob` fetches a blob by digest and size. Returns the trusted comment.
pub fn verify_signature(
    pk: &crate::PublicKey,
    subject_digest: &str,
    manifest: &[u8],
    what: &str,
    mut blob: impl FnMut(&str, u64) -> Result<Vec<u8>, String>,
) -> Result<String, SignError> {
    let bad = |m: String| SignError::BadSignature {
        path: what.into(),
        message: m,
    };
    let m: Value = serde_json::from_slice(manifest).map_err(|e| bad(format!("not JSON: {e}")))?;
    if m["artifactType"] != SIGNATURE_ARTIFACT {
        return Err(bad(format!(
            "not a binship signature (artifactType {})",
            m["artifactType"]
        )));
    }
    if m["subject"]["digest"] != subject_digest {
        return Err(bad(format!(
            "signs {}, not the image {subject_digest}",
            m["subject"]["digest"]
        )));
    }
    let layer = &m["layers"][0];
    let sig = layer["annotations"][SIGNATURE_ANNOTATION]
        .as_str()
        .ok_or_else(|| bad("the signature annotation is missing".into()))?;
    let d = layer["digest"].as_str().unwrap_or_default();
    let payload = blob(d, layer["size"].as_u64().unwrap_or(0)).map_err(bad)?;
    if digest_string(&payload) != d {
        return Err(bad(format!("payload blob is not {d}")));
    }
    let comment = verify_bytes(pk, &payload, sig, Path::new(what))?;
    let p: Value =
        serde_json::from_slice(&payload).map_err(|e| bad(format!("payload is not JSON: {e}")))?;
    if p["critical"]["image"]["docker-manifest-digest"] != subject_digest {
        return Err(bad(format!(
            "the signed payload names {}, not {subject_digest}",
            p["critical"]["image"]["docker-manifest-digest"]
        )));
    }
    Ok(comment)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{generate, load_public, load_secret};

    #[test]
    fn a_signature_verifies_for_its_image_only() {
        let d = tempfile::tempdir().unwrap();
        let g = generate(d.path(), None, false).unwrap();
        let sk = load_secret(&g.secret_key, || unreachable!()).unwrap();
        let pk = load_public(&g.public_key).unwrap();
        let subject = Subject {
            digest: digest_string(b"manifest"),
            size: 8,
            media_type: MANIFEST_MEDIA.into(),
        };
        let a = signature(&subject, "go-id:v.1", &sk).unwrap();
        assert!(a.tag.starts_with("sha256-") && a.tag.ends_with(".sig"));
        let blobs = a.blobs.clone();
        let fetch = |dg: &str, _: u64| {
            blobs
                .iter()
                .find(|b| digest_string(b) == dg)
                .cloned()
                .ok_or_else(|| "missing".to_string())
        };
        let c = verify_signature(&pk, &subject.digest, &a.manifest, "t", fetch).unwrap();
        assert!(c.contains("go-id:v.1"));
        let e = verify_signature(&pk, &digest_string(b"other"), &a.manifest, "t", fetch)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not the image"), "{e}");
        // A payload swapped for another image's: the digest check or the signature fails.
        let other = signature(
            &Subject {
                digest: digest_string(b"other"),
                ..subject.clone()
            },
            "x",
            &sk,
        )
        .unwrap();
        let mut m: Value = serde_json::from_slice(&a.manifest).unwrap();
        let om: Value = serde_json::from_slice(&other.manifest).unwrap();
        m["layers"][0]["annotations"] = om["layers"][0]["annotations"].clone();
        let e = verify_signature(
            &pk,
            &subject.digest,
            &serde_json::to_vec(&m).unwrap(),
            "t",
            fetch,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("does not verify"), "{e}");
    }

    #[test]
    fn cosign_signatures_accumulate_and_verify_for_their_key_and_image_only() {
        let d = tempfile::tempdir().unwrap();
        let a = crate::cosign::generate(&d.path().join("a"), "", false).unwrap();
        let b = crate::cosign::generate(&d.path().join("b"), "", false).unwrap();
        let c = crate::cosign::generate(&d.path().join("c"), "", false).unwrap();
        let ska = crate::cosign::load_secret(&a.secret_key, || unreachable!()).unwrap();
        let skb = crate::cosign::load_secret(&b.secret_key, || unreachable!()).unwrap();
        let pk = |g: &crate::keys::Generated| crate::cosign::load_public(&g.public_key).unwrap();
        let digest = digest_string(b"manifest");
        let first = cosign_signature(&digest, "127.0.0.1:5000/go-id", &ska, vec![]);
        let fetch_from = |blobs: Vec<Vec<u8>>| {
            move |dg: &str, _: u64| {
                blobs
                    .iter()
                    .find(|b| digest_string(b) == dg)
                    .cloned()
                    .ok_or_else(|| "missing".to_string())
            }
        };
        let earlier = cosign_layers(&first.manifest, fetch_from(first.blobs.clone())).unwrap();
        // Re-signing with the same key adds nothing; another key adds a layer.
        let again = cosign_signature(&digest, "127.0.0.1:5000/go-id", &ska, earlier.clone());
        assert_eq!(again.manifest, first.manifest);
        let both = cosign_signature(&digest, "127.0.0.1:5000/go-id", &skb, earlier);
        let m: Value = serde_json::from_slice(&both.manifest).unwrap();
        assert_eq!(m["layers"].as_array().unwrap().len(), 2);
        assert_eq!(both.tag, tag_for(&digest, "sig"));
        for g in [&a, &b] {
            let r = verify_cosign(
                &pk(g),
                &digest,
                &both.manifest,
                "t",
                fetch_from(both.blobs.clone()),
            )
            .unwrap();
            assert_eq!(r, "127.0.0.1:5000/go-id");
        }
        let e = verify_cosign(
            &pk(&c),
            &digest,
            &both.manifest,
            "t",
            fetch_from(both.blobs.clone()),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("none of its 2 signature(s) verifies"), "{e}");
        let e = verify_cosign(
            &pk(&a),
            &digest_string(b"other"),
            &both.manifest,
            "t",
            fetch_from(both.blobs.clone()),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not the image"), "{e}");
        // A payload changed after signing (its digest updated too) no longer verifies.
        let forged = simple_signing("127.0.0.1:5000/evil", &digest);
        let mut fm = m.clone();
        fm["layers"][0]["digest"] = json!(digest_string(&forged));
        fm["layers"][0]["size"] = json!(forged.len());
        let mut blobs = both.blobs.clone();
        blobs.push(forged);
        let e = verify_cosign(
            &pk(&a),
            &digest,
            &serde_json::to_vec(&fm).unwrap(),
            "t",
            fetch_from(blobs),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("verifies with this key"), "{e}");
    }
}
