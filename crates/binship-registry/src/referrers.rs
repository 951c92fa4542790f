//! Manifests that name a `subject` in a registry (distribution spec v1.1): [`push_attached`]
//! pushes them, tagged or by digest, and lists those the registry did not index (no
//! `OCI-Subject` answer) under the referrers tag schema; [`Puller::referrers`] reads the
//! referrers API ("Listing Referrers"), else the tag schema.

use std::collections::BTreeMap;

use binship_oci::{media_type, referrers};
use serde_json::Value;

use crate::client::Body;
use crate::push::{push_with, PushOptions, Pushed, TagPush};
use crate::{Puller, Reference, RegistryError};

/// How a registry lists an image's referrers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    /// `GET /v2/<name>/referrers/<digest>` answers (and manifest PUTs answer `OCI-Subject`).
    Api,
    /// The index tagged `<alg>-<ref>`, which clients keep.
    TagSchema,
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Via::Api => "the referrers API",
            Via::TagSchema => "the referrers tag schema",
        })
    }
}

/// What [`push_attached`] did.
#[derive(Debug, Clone)]
pub struct Attached {
    /// Each item, in order.
    pub pushed: Vec<Pushed>,
    /// The referrers indexes written (or found complete) under the tag schema, as references;
    /// empty when the registry indexed every subject itself.
    pub tag_schema: Vec<String>,
}

/// Pushes `items` to tags of `to`'s repository (an item whose tag is a digest is pushed by
/// digest, untagged) through one client; then, for each subject that some item names and the
/// registry did not acknowledge with `OCI-Subject`, adds those items to the index tagged
/// [`referrers::tag`] (distribution spec v1.1, "Pushing Manifests with Subject": pull the
/// list, add what it lacks, push it). Two clients updating one list at once can lose an
/// entry, as the spec says of the schema.
///
/// # Errors
/// The registry refuses a blob or manifest, or cannot be reached.
pub fn push_attached(
    to: &Reference,
    items: &[TagPush<'_>],
    opts: &PushOptions<'_>,
) -> Result<Attached, RegistryError> {
    let mut p = Puller::open(to, opts.insecure, opts.retry)?;
    let mut pushed = Vec::new();
    let mut there = Vec::new();
    for i in items {
        // A manifest pushed by digest that the registry holds already is not put again: some
        // registries list a referrer once per PUT.
        let by_digest = to.with_tag(i.tag).is_digest();
        if by_digest && p.has_manifest(i.tag)? {
            pushed.push(Pushed {
                reference: to.with_tag(i.tag).to_string(),
                manifest_digest: i.tag.to_string(),
                uploaded: vec![],
                mounted: vec![],
                skipped: vec![],
                bytes_uploaded: 0,
                manifest_size: i.manifest.len() as u64,
                media_type: i.media_type.to_string(),
                oci_subject: None,
            });
            there.push(true);
            continue;
        }
        pushed.push(push_with(
            p.client(),
            &to.with_tag(i.tag),
            i.manifest,
            i.media_type,
            &i.blobs,
            opts,
        )?);
        there.push(false);
    }
    // The registry has the referrers API when it acknowledged a subject; when every manifest
    // with one was there already, its referrers list says.
    let acknowledged = pushed.iter().any(|d| d.oci_subject.is_some());
    let mut unindexed: BTreeMap<String, Vec<&[u8]>> = BTreeMap::new();
    for ((i, done), was_there) in items.iter().zip(&pushed).zip(&there) {
        if let Some(subject) = referrers::subject_of(i.manifest) {
            let indexed = match (was_there, acknowledged) {
                (false, _) => done.oci_subject.as_deref() == Some(subject.as_str()),
                (true, true) => true,
                // (A tag-schema index that is not one is replaced below.)
                (true, false) => p
                    .referrers(&subject, None)
                    .is_ok_and(|(_, via)| via == Via::Api),
            };
            if !indexed {
                unindexed.entry(subject).or_default().push(i.manifest);
            }
        }
    }
    let mut tag_schema = Vec::new();
    for (subject, manifests) in unindexed {
        let tag = referrers::tag(&subject);
        let existing = p.manifest_opt(&tag)?.map(|(bytes, _, _)| bytes);
        if let Some(index) = referrers::add(existing.as_deref(), &manifests) {
            push_with(
                p.client(),
                &to.with_tag(&tag),
                &index,
                media_type::INDEX,
                &[],
                opts,
            )?;
        }
        tag_schema.push(to.with_tag(&tag).to_string());
    }
    Ok(Attached { pushed, tag_schema })
}

/// Referrers lists larger than this are refused (a manifest's limit).
const LIST_LIMIT: u64 = 4 << 20;

impl Puller {
    /// Whether the repository holds the manifest `digest` (`HEAD`, distribution spec "Checking
    /// if content exists in the registry").
    ///
    /// # Errors
    /// The registry answers neither 200 nor 404, or cannot be reached.
    pub fn has_manifest(&mut self, digest: &str) -> Result<bool, RegistryError> {
        let path = format!("/v2/{}/manifests/{digest}", self.repository());
        let accept = [media_type::MANIFEST, media_type::INDEX].join(", ");
        let c = self.client();
        let r = c.send("HEAD", &path, &[("Accept", &accept)], Body::Empty)?;
        match r.status().as_u16() {
            404 => Ok(false),
            _ => c
                .expect(r, 200, || format!("checking {digest}"))
                .map(|_| true),
        }
    }

    /// The descriptors of the manifests whose `subject` is `subject` (a digest), of
    /// `artifact_type` only when given: from the referrers API (`GET
    /// /v2/<name>/referrers/<digest>?artifactType=...`, filtered here too, since a registry may
    /// ignore the filter), or, when the registry answers 404 there, from the index under the
    /// tag schema (none without it). Says which.
    ///
    /// # Errors
    /// The registry answers anything else, or cannot be reached.
    pub fn referrers(
        &mut self,
        subject: &str,
        artifact_type: Option<&str>,
    ) -> Result<(Vec<Value>, Via), RegistryError> {
        let mut path = format!("/v2/{}/referrers/{subject}", self.repository());
        if let Some(t) = artifact_type {
            path.push_str("?artifactType=");
            path.push_str(&t.replace('%', "%25").replace('+', "%2B"));
        }
        let c = self.client();
        let r = c.send("GET", &path, &[("Accept", media_type::INDEX)], Body::Empty)?;
        let bad = |what: String, message: String| RegistryError::BadArtifact { what, message };
        if r.status().as_u16() == 404 {
            let tag = referrers::tag(subject);
            let list = match self.manifest_opt(&tag)? {
                None => Vec::new(),
                Some((bytes, _, _)) => referrers::parse(&bytes, artifact_type)
                    .map_err(|m| bad(format!("{}:{tag}", self.repo_name()), m))?,
            };
            return Ok((list, Via::TagSchema));
        }
        let mut r = c.expect(r, 200, || format!("listing the referrers of {subject}"))?;
        let bytes = r
            .body_mut()
            .with_config()
            .limit(LIST_LIMIT)
            .read_to_vec()
            .map_err(|e| c.err(format!("reading the referrers of {subject}: {e}")))?;
        let list = referrers::parse(&bytes, artifact_type)
            .map_err(|m| bad(format!("{}'s referrers of {subject}", self.repo_name()), m))?;
        Ok((list, Via::Api))
    }
}
