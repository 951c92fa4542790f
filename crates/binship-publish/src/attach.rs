//! Attachments beside an image, stored in an OCI layout or pushed to a registry: a signature
//! of the manifest digest — cosign's signature image with a cosign key (earlier signatures by
//! other keys kept), else binship's minisign one — and the version's SBOMs, as OCI 1.1 artifact
//! manifests whose `subject` is the image (image-spec v1.1 "Manifest" `subject`), found by the
//! `sha256-HEX.sig` / `.sbom` tags; attestations also as untagged OCI 1.1 referrers, listed by
//! the registry's referrers API or under the referrers tag schema (`sha256-HEX`, always in a
//! layout).

use std::collections::BTreeMap;
use std::path::Path;

use binship_oci::referrers;
use binship_registry::{push_attached, Blob, Puller, PushOptions, Pushed, Reference, TagPush, Via};
use binship_sign::image::{self as att, Attachment, CosignLayer, Subject};
use binship_sign::ImageKey;
use binship_sink::oci_layout;
use binship_store::Store;

use crate::supply::sbom_version;
use crate::{PublishError, Result};

/// Where attachments go: an OCI layout or a registry repository.
pub enum Place<'a> {
    Layout(&'a Path),
    Registry { to: &'a Reference, insecure: bool },
}

/// A manifest read, and how to name it in a message.
pub type Named = (Vec<u8>, String);

/// Tagged manifests and blobs at a [`Place`], the registry connection opened once.
pub enum Reader<'a> {
    Layout(&'a Path),
    Registry(Box<Puller>, String),
}

impl Reader<'_> {
    /// The manifest tagged `tag`, or None.
    ///
    /// # Errors
    /// Other: the layout or registry cannot be read.
    pub fn tagged(&mut self, tag: &str) -> Result<Option<Vec<u8>>> {
        match self {
            Reader::Layout(dir) => oci_layout::read_tagged(dir, tag).map_err(PublishError::other),
            Reader::Registry(p, _) => Ok(p
                .manifest_opt(tag)
                .map_err(PublishError::other)?
                .map(|(m, _, _)| m)),
        }
    }

    /// A blob by digest and size.
    ///
    /// # Errors
    /// A one-line reason: missing, unreadable, or (registry) another digest.
    pub fn blob(&mut self, digest: &str, size: u64) -> std::result::Result<Vec<u8>, String> {
        match self {
            Reader::Layout(dir) => oci_layout::read_blob(dir, digest).map_err(|e| e.to_string()),
            Reader::Registry(p, _) => p.blob_vec(digest, size).map_err(|e| e.to_string()),
        }
    }

    /// How to name `tag` here in a message (`oci:DIR:TAG` or `REGISTRY/REPO:TAG`).
    pub fn what(&self, tag: &str) -> String {
        match self {
            Reader::Layout(dir) => format!("oci:{}:{tag}", dir.display()),
            Reader::Registry(_, repo) => format!("{repo}:{tag}"),
        }
    }

    /// The layers of the manifest tagged `tag`, read by `parse` (with a blob reader); none
    /// without the tag.
    ///
    /// # Errors
    /// Other: the manifest cannot be read, or `parse` fails (named with the tag).
    pub fn layers<T>(
        &mut self,
        tag: &str,
        parse: impl FnOnce(
            &[u8],
            &mut dyn FnMut(&str, u64) -> std::result::Result<Vec<u8>, String>,
        ) -> std::result::Result<Vec<T>, String>,
    ) -> Result<Vec<T>> {
        let Some(m) = self.tagged(tag)? else {
            return Ok(Vec::new());
        };
        let what = self.what(tag);
        parse(&m, &mut |d, size| self.blob(d, size))
            .map_err(|e| PublishError::other(format!("{what}: {e}")))
    }

    /// The manifests that name `subject` (a digest) here, of `artifact_type`: each with how to
    /// name it (`REPO@DIGEST`, `oci:DIR@DIGEST`), each once, checked against its digest and
    /// size; and how they were found (a layout has only the tag schema).
    ///
    /// # Errors
    /// Verify failed: the list is not a referrers index, or a manifest it names is missing or
    /// not what its descriptor says. Other: the layout or registry cannot be read.
    pub fn referrers(&mut self, subject: &str, artifact_type: &str) -> Result<(Vec<Named>, Via)> {
        let bad = |m: String| PublishError::new(crate::ErrorClass::VerifyFailed, m);
        let (list, via) = match self {
            Reader::Layout(dir) => {
                let tag = referrers::tag(subject);
                let tagged = oci_layout::read_tagged(dir, &tag).map_err(PublishError::other)?;
                let list = match tagged {
                    None => Vec::new(),
                    Some(index) => referrers::parse(&index, Some(artifact_type))
                        .map_err(|m| bad(format!("oci:{}:{tag}: {m}", dir.display())))?,
                };
                (list, Via::TagSchema)
            }
            Reader::Registry(p, _) => {
                p.referrers(subject, Some(artifact_type))
                    .map_err(|e| match e {
                        binship_registry::RegistryError::BadArtifact { .. } => bad(e.to_string()),
                        e => PublishError::other(e),
                    })?
            }
        };
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for d in list {
            let digest = d["digest"].as_str().unwrap_or_default().to_string();
            // A registry may list one referrer more than once.
            if !seen.insert(digest.clone()) {
                continue;
            }
            let what = match self {
                Reader::Layout(dir) => format!("oci:{}@{digest}", dir.display()),
                Reader::Registry(_, repo) => format!("{repo}@{digest}"),
            };
            let bytes = match self {
                Reader::Layout(dir) => oci_layout::read_blob(dir, &digest).map_err(|_| {
                    bad(format!(
                        "{what}: listed as a referrer, but not in the layout"
                    ))
                }),
                Reader::Registry(p, _) => {
                    p.manifest(&digest).map(|(m, _, _)| m).map_err(|e| match e {
                        binship_registry::RegistryError::NotFound { .. }
                        | binship_registry::RegistryError::Corrupt { .. } => {
                            bad(format!("{what}: {e}"))
                        }
                        e => PublishError::other(format!("{what}: {e}")),
                    })
                }
            }?;
            if binship_oci::digest_string(&bytes) != digest {
                return Err(bad(format!("{what}: the manifest read has another digest")));
            }
            if d["size"].as_u64() != Some(bytes.len() as u64) {
                return Err(bad(format!(
                    "{what}: the referrers list says {} bytes, the manifest has {}",
                    d["size"],
                    bytes.len()
                )));
            }
            out.push((bytes, what));
        }
        Ok((out, via))
    }

    /// The cosign signatures already tagged `tag` here (none when there is no such tag or it
    /// is binship's own format).
    ///
    /// # Errors
    /// Other: the layout or registry cannot be read, or a blob is damaged.
    pub fn cosign_layers(&mut self, tag: &str) -> Result<Vec<CosignLayer>> {
        self.layers(tag, |m, blob| att::cosign_layers(m, blob))
    }

    /// The attestations already tagged `tag` here (cosign's `.att` image; none without one).
    ///
    /// # Errors
    /// Other: the layout or registry cannot be read, or a blob is damaged.
    pub fn attestation_layers(&mut self, tag: &str) -> Result<Vec<att::AttestationLayer>> {
        self.layers(tag, |m, blob| att::attestation_layers(m, blob))
    }
}

impl Place<'_> {
    /// A reader of what is already here.
    ///
    /// # Errors
    /// Other: the registry cannot be reached.
    pub fn reader(&self) -> Result<Reader<'_>> {
        Ok(match self {
            Place::Layout(dir) => Reader::Layout(dir),
            Place::Registry { to, insecure } => Reader::Registry(
                Box::new(Puller::open(to, *insecure, None).map_err(PublishError::other)?),
                to.repo(),
            ),
        })
    }

    /// Stores `atts` here; returns their tags (a layout) or references (a registry).
    ///
    /// # Errors
    /// Other: the layout cannot be written, or the registry refuses or cannot be reached.
    pub fn store(&self, atts: &[Attachment]) -> Result<Vec<String>> {
        match self {
            Place::Layout(dir) => attach_to_layout(dir, atts),
            Place::Registry { to, insecure } => attach_to_registry(to, atts, *insecure),
        }
    }
}

/// The signature of `subject` (known as `reference`) by `key`, for the place `beside` reads:
/// cosign's signature image (the signatures already there kept, the payload naming
/// `reference`'s repository) or binship's own.
///
/// # Errors
/// Conflict: a minisign key where cosign signatures are. Other: signing fails, or the existing
/// signature cannot be read.
pub fn signature(
    subject: &Subject,
    reference: &str,
    key: &ImageKey,
    beside: &mut Reader,
) -> Result<Attachment> {
    match key {
        ImageKey::Minisign(sk) => {
            // binship's own format would take the tag and drop cosign's signatures with it.
            let tag = att::tag_for(&subject.digest, "sig");
            let cosign = beside.cosign_layers(&tag)?;
            if !cosign.is_empty() {
                return Err(PublishError::new(
                    crate::ErrorClass::Conflict,
                    format!(
                        "{} already has {} cosign signature(s) under {tag}; a minisign key's signature would replace them: sign with a cosign key (--key cosign.key)",
                        subject.digest,
                        cosign.len()
                    ),
                ));
            }
            att::signature(subject, reference, sk).map_err(PublishError::other)
        }
        ImageKey::Cosign(sk) => {
            let earlier = beside.cosign_layers(&att::tag_for(&subject.digest, "sig"))?;
            Ok(att::cosign_signature(
                &subject.digest,
                docker_reference(reference),
                sk,
                earlier,
            ))
        }
    }
}

/// The repository part of `reference` (`REGISTRY/REPO:TAG` or `REPO@DIGEST` -> `REGISTRY/REPO`),
/// which cosign's payload names as `docker-reference`.
pub fn docker_reference(reference: &str) -> &str {
    let no_digest = reference.split_once('@').map_or(reference, |(r, _)| r);
    match no_digest.rsplit_once(':') {
        Some((r, tag)) if !tag.contains('/') => r,
        _ => no_digest,
    }
}

/// The signature (with `key`; a cosign key adds the attestation image, `.att`) and/or SBOM
/// (when `sbom`; written first) attachments for
/// `subject`, the image of `app` v.`version` known as `reference`, to be stored at `place`.
///
/// # Errors
/// Not found: no such version. Other: signing fails or an SBOM cannot be written or read.
#[allow(clippy::too_many_arguments)]
pub fn attachments(
    store: &Store,
    app: &str,
    version: u32,
    subject: &Subject,
    reference: &str,
    key: Option<&ImageKey>,
    sbom: bool,
    place: &Place,
) -> Result<Vec<Attachment>> {
    let mut out = Vec::new();
    if let Some(key) = key {
        // What is already there, read over one connection for both.
        let mut beside = place.reader()?;
        out.push(signature(subject, reference, key, &mut beside)?);
        // With a cosign key, the version's provenance and SBOMs as in-toto attestations too.
        if let ImageKey::Cosign(sk) = key {
            out.extend(crate::attest::image_attestations(
                store,
                app,
                version,
                subject,
                docker_reference(reference),
                sk,
                &mut beside,
            )?);
        }
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

/// Stores attachments in the OCI layout at `dir`: each tagged one under its tag, and every one
/// that names a `subject` in the referrers index of the tag schema (`sha256-HEX`; an image
/// layout has no referrers API), which also holds the untagged ones. Returns the tags written.
///
/// # Errors
/// Other: the layout cannot be written.
pub fn attach_to_layout(dir: &Path, atts: &[Attachment]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for a in atts.iter().filter(|a| !a.is_untagged()) {
        oci_layout::attach(dir, &a.tag, &a.manifest, &a.blobs).map_err(PublishError::other)?;
        out.push(a.tag.clone());
    }
    for (subject, with) in by_subject(atts) {
        let tag = referrers::tag(&subject);
        let existing = oci_layout::read_tagged(dir, &tag).map_err(PublishError::other)?;
        let manifests: Vec<&[u8]> = with.iter().map(|a| a.manifest.as_slice()).collect();
        if let Some(index) = referrers::add(existing.as_deref(), &manifests) {
            // The untagged manifests live only as blobs the index names.
            let mut blobs = Vec::new();
            for a in with.iter().filter(|a| a.is_untagged()) {
                blobs.extend(a.blobs.iter().cloned());
                blobs.push(a.manifest.clone());
            }
            oci_layout::attach(dir, &tag, &index, &blobs).map_err(PublishError::other)?;
        }
        out.push(tag);
    }
    Ok(out)
}

/// The attachments that name a subject, by subject digest.
fn by_subject(atts: &[Attachment]) -> BTreeMap<String, Vec<&Attachment>> {
    let mut m: BTreeMap<String, Vec<&Attachment>> = BTreeMap::new();
    for a in atts {
        if let Some(s) = referrers::subject_of(&a.manifest) {
            m.entry(s).or_default().push(a);
        }
    }
    m
}

/// Pushes attachments beside `to`'s image: tagged ones under their tags, untagged referrers by
/// digest; those naming a subject the registry did not index are listed under the referrers
/// tag schema ([`binship_registry::push_attached`]). Returns their references, then the tag
/// schema's.
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
    let done = push_attached(to, &items, &opts).map_err(PublishError::other)?;
    let mut out: Vec<String> = done.pushed.into_iter().map(|p| p.reference).collect();
    out.extend(done.tag_schema);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn docker_reference_drops_the_tag_or_digest_only() {
        use super::docker_reference as r;
        assert_eq!(r("127.0.0.1:5000/go-id:v.1"), "127.0.0.1:5000/go-id");
        assert_eq!(r("127.0.0.1:5000/go-id"), "127.0.0.1:5000/go-id");
        assert_eq!(
            r("127.0.0.1:5000/team/go-id@sha256:ab"),
            "127.0.0.1:5000/team/go-id"
        );
        assert_eq!(r("go-id:v.1"), "go-id");
    }
}
