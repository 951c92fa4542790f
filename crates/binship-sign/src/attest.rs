//! in-toto attestations in DSSE envelopes: [`statement`] makes an in-toto Statement v1
//! (in-toto attestation framework, spec v1.0 "Statement"), [`envelope`] signs it as a DSSE v1
//! envelope (secure-systems-lab/dsse "Protocol": the signature is over the pre-authentication
//! encoding [`pae`]) with a cosign ECDSA P-256 key, and [`open_envelope`] checks one and returns
//! its statement. The envelope's `keyid` is empty, as cosign writes it.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

/// DSSE's payload type for in-toto statements.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The in-toto Statement v1 `_type`.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// The in-toto Statement v0.1 `_type`, which cosign's own attestations use; read, not written.
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";
/// SLSA provenance v1's predicate type.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// An SPDX document as a predicate (in-toto's SPDX predicate type).
pub const SPDX_DOCUMENT: &str = "https://spdx.dev/Document";
/// A CycloneDX BOM as a predicate (in-toto's CycloneDX predicate type).
pub const CYCLONEDX_BOM: &str = "https://cyclonedx.org/bom";
/// The media type of a layer holding a DSSE envelope (cosign's `.att` images).
pub const DSSE_MEDIA: &str = binship_oci::media_type::DSSE_ENVELOPE;

/// A statement's subject: a name and its sha256 (hex, no prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub name: String,
    pub sha256: String,
}

/// DSSE's pre-authentication encoding: `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`,
/// lengths in ASCII decimal bytes.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// An in-toto Statement v1 about `subjects`, as JSON bytes.
pub fn statement(subjects: &[Subject], predicate_type: &str, predicate: Value) -> Vec<u8> {
    let subject: Vec<Value> = subjects
        .iter()
        .map(|s| json!({ "name": s.name, "digest": { "sha256": s.sha256 } }))
        .collect();
    serde_json::to_vec(&json!({
        "_type": STATEMENT_V1,
        "subject": subject,
        "predicateType": predicate_type,
        "predicate": predicate,
    }))
    .expect("json")
}

/// The DSSE envelope (JSON bytes) of `statement`, signed with `sk` (ECDSA-SHA256 over
/// [`pae`], base64 of the ASN.1 DER), `keyid` empty.
pub fn envelope(statement: &[u8], sk: &crate::cosign::SecretKey) -> Vec<u8> {
    let sig = crate::cosign::sign(sk, &pae(PAYLOAD_TYPE, statement));
    serde_json::to_vec(&json!({
        "payloadType": PAYLOAD_TYPE,
        "payload": B64.encode(statement),
        "signatures": [{ "keyid": "", "sig": sig }],
    }))
    .expect("json")
}

/// Checks a DSSE envelope: an in-toto payload some signature of which verifies with `pk`, a
/// Statement v1. Returns the statement.
///
/// # Errors
/// A one-line reason: not an envelope, another payload type, no signature by `pk`, or the
/// payload is not a Statement v1.
pub fn open_envelope(bytes: &[u8], pk: &crate::cosign::PublicKey) -> Result<Value, String> {
    let env: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not a DSSE envelope: {e}"))?;
    if env["payloadType"] != PAYLOAD_TYPE {
        return Err(format!(
            "payload type {}, not {PAYLOAD_TYPE}",
            env["payloadType"]
        ));
    }
    let payload = B64
        .decode(env["payload"].as_str().unwrap_or_default())
        .map_err(|e| format!("the payload is not base64 ({e})"))?;
    let signed = pae(PAYLOAD_TYPE, &payload);
    let sigs = env["signatures"].as_array().cloned().unwrap_or_default();
    if !sigs
        .iter()
        .any(|s| crate::cosign::verify(pk, &signed, s["sig"].as_str().unwrap_or_default()).is_ok())
    {
        return Err(format!(
            "none of its {} signature(s) verifies with this key",
            sigs.len()
        ));
    }
    let st: Value =
        serde_json::from_slice(&payload).map_err(|e| format!("the statement is not JSON: {e}"))?;
    if st["_type"] != STATEMENT_V1 && st["_type"] != STATEMENT_V01 {
        return Err(format!(
            "statement type {}, not {STATEMENT_V1} (or v0.1)",
            st["_type"]
        ));
    }
    Ok(st)
}

/// Whether `statement` names the sha256 `hex` among its subjects.
pub fn names_subject(statement: &Value, hex: &str) -> bool {
    statement["subject"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| s["digest"]["sha256"] == hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_the_specs_example_and_envelopes_verify_for_their_key_only() {
        // The DSSE spec's test vector.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        let d = tempfile::tempdir().unwrap();
        let a = crate::cosign::generate(&d.path().join("a"), "", false).unwrap();
        let b = crate::cosign::generate(&d.path().join("b"), "", false).unwrap();
        let sk = crate::cosign::load_secret(&a.secret_key, || unreachable!()).unwrap();
        let pka = crate::cosign::load_public(&a.public_key).unwrap();
        let pkb = crate::cosign::load_public(&b.public_key).unwrap();
        let subject = Subject {
            name: "go-id".into(),
            sha256: "ab".repeat(32),
        };
        let st = statement(
            std::slice::from_ref(&subject),
            SLSA_PROVENANCE_V1,
            json!({"x": 1}),
        );
        let env = envelope(&st, &sk);
        let opened = open_envelope(&env, &pka).unwrap();
        assert!(names_subject(&opened, &subject.sha256));
        assert!(!names_subject(&opened, &"cd".repeat(32)));
        let e = open_envelope(&env, &pkb).unwrap_err();
        assert!(e.contains("verifies with this key"), "{e}");
        // A payload changed after signing.
        let mut v: Value = serde_json::from_slice(&env).unwrap();
        let other = statement(&[subject], SLSA_PROVENANCE_V1, json!({"x": 2}));
        v["payload"] = json!(B64.encode(other));
        let e = open_envelope(&serde_json::to_vec(&v).unwrap(), &pka).unwrap_err();
        assert!(e.contains("verifies with this key"), "{e}");
    }
}
