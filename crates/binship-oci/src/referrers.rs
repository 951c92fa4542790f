//! OCI 1.1 referrers by the tag schema (distribution spec v1.1, "Referrers Tag Schema"): the
//! fallback tag `<alg>-<ref>` of a subject digest ([`tag`]) names an image index whose
//! `manifests` are descriptors of the manifests that name the subject ([`add`] keeps it), for
//! registries without the referrers API and for OCI layouts, which have none.

use serde_json::{json, Value};

use crate::media_type;

/// The tag schema's tag for `subject` (`sha256:HEX` -> `sha256-HEX`); a digest of another form
/// keeps its characters but `:`.
pub fn tag(subject: &str) -> String {
    subject.replacen(':', "-", 1)
}

/// Whether `t` is a referrers tag: `sha256-` and 64 lowercase hex digits, nothing after.
pub fn is_tag(t: &str) -> bool {
    t.strip_prefix("sha256-").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The `subject` digest of a manifest, if it names one (image spec v1.1, "Image Manifest
/// Property Descriptions", `subject`).
pub fn subject_of(manifest: &[u8]) -> Option<String> {
    let m: Value = serde_json::from_slice(manifest).ok()?;
    m["subject"]["digest"].as_str().map(str::to_string)
}

/// The descriptor of `manifest` as a referrers list holds it (distribution spec v1.1, "Listing
/// Referrers"): media type, digest, size, its `artifactType` (else its config's media type)
/// and its annotations.
pub fn descriptor(manifest: &[u8]) -> Value {
    let m: Value = serde_json::from_slice(manifest).unwrap_or(Value::Null);
    let mut d = json!({
        "mediaType": m["mediaType"].as_str().unwrap_or(media_type::MANIFEST),
        "digest": crate::digest_string(manifest),
        "size": manifest.len(),
    });
    let artifact_type = m["artifactType"]
        .as_str()
        .or_else(|| m["config"]["mediaType"].as_str());
    if let Some(t) = artifact_type {
        d["artifactType"] = json!(t);
    }
    if m["annotations"].is_object() {
        d["annotations"] = m["annotations"].clone();
    }
    d
}

/// The referrers index `existing` (the bytes tagged [`tag`], or None when the tag is not there
/// or holds no index) with a descriptor of each of `manifests` it lacks added (by digest), or
/// None when it lists them all already and nothing needs writing.
pub fn add(existing: Option<&[u8]>, manifests: &[&[u8]]) -> Option<Vec<u8>> {
    let mut index: Value = existing
        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
        .filter(|v| v["manifests"].is_array())
        .unwrap_or_else(
            || json!({ "schemaVersion": 2, "mediaType": media_type::INDEX, "manifests": [] }),
        );
    let list = index["manifests"].as_array_mut().expect("checked above");
    let before = list.len();
    for m in manifests {
        let d = descriptor(m);
        if !list.iter().any(|x| x["digest"] == d["digest"]) {
            list.push(d);
        }
    }
    (list.len() != before || existing.is_none()).then(|| serde_json::to_vec(&index).expect("json"))
}

/// The descriptors a referrers index (from the referrers API or the tag schema) lists, those of
/// `artifact_type` only when one is given; none when `index` is not an index.
pub fn list(index: &[u8], artifact_type: Option<&str>) -> Vec<Value> {
    parse(index, artifact_type).unwrap_or_default()
}

/// [`list`], refusing what is not a referrers index: not JSON, no `manifests` array, or a
/// descriptor without a `sha256:` digest and a size.
///
/// # Errors
/// A one-line reason.
pub fn parse(index: &[u8], artifact_type: Option<&str>) -> Result<Vec<Value>, String> {
    let v: Value = serde_json::from_slice(index)
        .map_err(|e| format!("not a referrers index (not JSON: {e})"))?;
    let all = v["manifests"]
        .as_array()
        .ok_or("not a referrers index (no `manifests` list)")?;
    for d in all {
        let digest_ok = d["digest"]
            .as_str()
            .is_some_and(|x| crate::Digest::parse(x).is_ok());
        if !digest_ok || d["size"].as_u64().is_none() {
            return Err(format!(
                "not a referrers index (a descriptor without a sha256 digest and size: {d})"
            ));
        }
    }
    Ok(all
        .iter()
        .filter(|d| artifact_type.is_none_or(|t| d["artifactType"] == t))
        .cloned()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn referrer(n: u8) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": media_type::MANIFEST,
            "artifactType": "application/example",
            "config": { "mediaType": media_type::EMPTY, "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2 },
            "layers": [],
            "subject": { "mediaType": media_type::MANIFEST, "digest": format!("sha256:{}", "a".repeat(64)), "size": n },
            "annotations": { "n": n.to_string() },
        }))
        .unwrap()
    }

    #[test]
    fn tag_schema_tags() {
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(tag(&d), format!("sha256-{}", "ab".repeat(32)));
        assert!(is_tag(&tag(&d)));
        assert!(!is_tag(&format!("{}.sig", tag(&d))));
        assert!(!is_tag("sha256-abc"));
        assert!(!is_tag(&format!("sha256-{}", "AB".repeat(32))));
    }

    #[test]
    fn add_appends_what_is_missing_once() {
        let (a, b) = (referrer(1), referrer(2));
        let first = add(None, &[&a]).expect("a new index is written");
        let l = list(&first, None);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0]["digest"], crate::digest_string(&a));
        assert_eq!(l[0]["artifactType"], "application/example");
        assert_eq!(l[0]["annotations"]["n"], "1");
        assert_eq!(
            add(Some(&first), &[&a]),
            None,
            "nothing new: nothing to write"
        );
        let second = add(Some(&first), &[&a, &b]).unwrap();
        assert_eq!(list(&second, None).len(), 2);
        assert_eq!(list(&second, Some("application/example")).len(), 2);
        assert_eq!(list(&second, Some("application/other")).len(), 0);
        assert_eq!(subject_of(&a), Some(format!("sha256:{}", "a".repeat(64))));
        // A tag holding something else than an index is replaced by a new index; read, it is
        // refused.
        assert_eq!(list(&add(Some(b"{}"), &[&b]).unwrap(), None).len(), 1);
        assert!(parse(b"{}", None).unwrap_err().contains("no `manifests`"));
        assert!(parse(b"{not json", None).unwrap_err().contains("not JSON"));
        assert!(parse(br#"{"manifests":[{"digest":"x"}]}"#, None).is_err());
    }
}
