//! Attachments beside an image: a minisign signature of the manifest digest and the version's
//! SBOMs, as OCI 1.1 artifact manifests whose `subject` is the image (image-spec v1.1
//! "Manifest" `subject`, found by the `sha256-HEX.sig` / `.sbom` tag schema), stored in an OCI
//! layout or pushed to a registry.

use std::path::Path;

use binship_registry::{push_tags, Blob, PushOptions, Pushed, Reference, TagPush};
use binship_sign::image::{self as att, Attachment, Subject};
use binship_sink::oci_layout;
use binship_store::Store;

use crate::supply::sbom_version;
use crate::{PublishError, Result};

/// The signature (with `sk`) and/or SBOM (when `sbom`; written first) attachments for
/// `subject`, the image of `app` v.`version` known as `reference`.
///
/// # Errors
/// Not found: no such version. Other: signing fails or an SBOM cannot be written or read.
pub fn attachments(
    store: &Store,
    app: &str,
    version: u32,
    subject: &Subject,
    reference: &str,
    sk: Option<&binship_sign::SecretKey>,
    sbom: bool,
) -> Result<Vec<Attachment>> {
    let mut out = Vec::new();
    if let Some(sk) = sk {
        out.push(att::signature(subject, reference, sk).map_err(PublishError::other)?);
    }
    if sbom {
        let dir = store.version_dir(app, version);
        let mut docs = Vec::new();
        for w in sbom_version(store, app, version)? {
            for (p, media) in [
                (&w.spdx, binship_oci::media_type::SPDX_JSON),
                (&w.cyclonedx, binship_oci::media_type::CYCLONEDX_JSON),
            ] {
                let bytes = std::fs::read(p)
                    .map_err(|e| PublishError::other(format!("{}: {e}", p.display())))?;
                let name = p.strip_prefix(&dir).unwrap_or(p).display().to_string();
                docs.push((name, media.to_string(), bytes));
            }
        }
        out.push(att::sbom(subject, docs));
    }
    Ok(out)
}

/// The image tagged `tag` in the OCI layout at `dir`, as an attachment's subject.
///
/// # Errors
/// Other: the layout cannot be read or has no such tag.
pub fn layout_subject(dir: &Path, tag: &str) -> Result<Subject> {
    let (digest, size, media_type) =
        oci_layout::resolve(dir, Some(tag)).map_err(PublishError::other)?;
    Ok(Subject {
        digest,
        size,
        media_type,
    })
}

/// The pushed image, as an attachment's subject.
pub fn pushed_subject(p: &Pushed) -> Subject {
    Subject {
        digest: p.manifest_digest.clone(),
        size: p.manifest_size,
        media_type: p.media_type.clone(),
    }
}

/// Stores attachments in the OCI layout at `dir`; returns their tags.
///
/// # Errors
/// Other: the layout cannot be written.
pub fn attach_to_layout(dir: &Path, atts: &[Attachment]) -> Result<Vec<String>> {
    atts.iter()
        .map(|a| {
            oci_layout::attach(dir, &a.tag, &a.manifest, &a.blobs)
                .map(|_| a.tag.clone())
                .map_err(PublishError::other)
        })
        .collect()
}

/// Pushes attachments beside `to`'s image; returns their references.
///
/// # Errors
/// Other: the registry refuses or cannot be reached.
pub fn attach_to_registry(
    to: &Reference,
    atts: &[Attachment],
    insecure: bool,
) -> Result<Vec<String>> {
    let items: Vec<TagPush> = atts
        .iter()
        .map(|a| TagPush {
            tag: &a.tag,
            manifest: &a.manifest,
            media_type: att::MANIFEST_MEDIA,
            blobs: a
                .blobs
                .iter()
                .map(|b| Blob::from_bytes(b.clone()))
                .collect(),
        })
        .collect();
    let opts = PushOptions {
        insecure,
        ..Default::default()
    };
    let pushed = push_tags(to, &items, &opts).map_err(PublishError::other)?;
    Ok(pushed.into_iter().map(|p| p.reference).collect())
}
