//! Image attachments: [`signature`] makes a signature artifact for an image (manifest or
//! index) digest — an OCI image manifest with artifactType `application/vnd.binship.signature.v1`,
//! the empty config, one layer holding a cosign-style "simple signing" payload that names the
//! digest, the minisign signature of that payload in the layer's annotation, and `subject`
//! pointing at the image — tagged `sha256-<hex>.sig` (the cosign tag scheme, for registries
//! without a referrers API). [`sbom`] attaches SBOM documents the same way (`sha256-<hex>.sbom`).
//! [`verify_signature`] checks one. The format is binship's own; it is not claimed to be read
//! by cosign.

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
    pub tag: String,
    pub manifest: Vec<u8>,
    pub blobs: Vec<Vec<u8>>,
}

/// `sha256-<hex>.<suffix>`
pub fn tag_for(subject_digest: &str, suffix: &str) -> String {
    format!("{}.{suffix}", subject_digest.replace(':', "-"))
}

fn artifact(
    subject: &Subject,
    artifact_type: &str,
    layers: Vec<(Value, Vec<u8>)>,
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
    let m = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA,
        "artifactType": artifact_type,
        "config": { "mediaType": EMPTY_MEDIA, "digest": digest_string(&empty), "size": 2 },
        "layers": descs,
        "subject": { "mediaType": subject.media_type, "digest": subject.digest, "size": subject.size },
    });
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
    );
    Ok(Attachment {
        tag: tag_for(&subject.digest, "sig"),
        manifest,
        blobs,
    })
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
    let (manifest, blobs) = artifact(subject, SBOM_ARTIFACT, layers);
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
}
