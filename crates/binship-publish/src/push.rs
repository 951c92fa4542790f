//! Pushing an image of a stored version: [`pack_and_push`] packs it as an OCI layout (the
//! scaffold pipeline) in the store's temp dir, pushes it (OCI distribution spec, "Pushing
//! blobs" and "Pushing manifests") and records the publication beside the version.

use binship_pipeline::scaffold::{scaffold, ScaffoldOutcome, ScaffoldRequest};
use binship_registry::{
    push_image, Blob, BlobSource, Progress, PushImage, PushOptions, Pushed, Reference,
};
use binship_store::Store;

use crate::{ErrorClass, PublishError, Result};

/// The registry settings of push, push-binary, update and scaffold --push.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Plain HTTP and any certificate.
    pub insecure: bool,
    /// Upload in chunks of this many bytes.
    pub chunk_size: Option<u64>,
    /// Repositories of the same registry to mount blobs from, besides those recorded.
    pub mount_from: Vec<String>,
}

impl RegistryOptions {
    /// The push options for `to`: these settings, plus every repository of `to`'s registry
    /// where this app's versions were pushed before (cross-repository mounts).
    pub fn push_options<'a>(
        &self,
        store: &Store,
        app: &str,
        to: &Reference,
        progress: Option<&'a dyn Progress>,
    ) -> PushOptions<'a> {
        PushOptions {
            insecure: self.insecure,
            chunk_size: self.chunk_size,
            mount_from: known_repos(store, app, to, &self.mount_from),
            progress,
            retry: None,
        }
    }
}

/// Parses a size: `64M`, `512K`, `1G` (powers of 1024) or a number of bytes.
///
/// # Errors
/// Usage: not a positive number of bytes.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&t[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            PublishError::new(
                ErrorClass::Usage,
                format!("size `{s}` is not a positive number of bytes (e.g. 5M, 512K)"),
            )
        })
}

/// Repositories on `to`'s registry to mount this app's blobs from, in the order they are tried:
/// `extra` (`--mount-from`) first, then where its versions were pushed before, the newest
/// version and the latest push first (the likeliest to hold the same blobs); at most
/// [`MOUNT_CANDIDATES`], each once.
pub fn known_repos(store: &Store, app: &str, to: &Reference, extra: &[String]) -> Vec<String> {
    let mut repos: Vec<String> = extra.to_vec();
    let mut versions = store.versions(app).unwrap_or_default();
    versions.sort_unstable_by(|a, b| b.cmp(a));
    for v in versions {
        for p in store.publications(app, v).into_iter().rev() {
            if let Ok(r) = Reference::parse(&p.reference, "x") {
                if r.registry == to.registry && r.repository != to.repository {
                    repos.push(r.repository);
                }
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    repos.retain(|r| seen.insert(r.clone()));
    repos.truncate(MOUNT_CANDIDATES);
    repos
}

/// How many repositories a push tries to mount a blob from before it uploads it (each failed
/// try costs the registry a POST and a DELETE).
pub const MOUNT_CANDIDATES: usize = 8;

/// Records a push (`kind` "image" or "binary") in the version's publications.json.
///
/// # Errors
/// A message for a warning: the push happened, the record did not.
pub fn record(
    store: &Store,
    app: &str,
    version: u32,
    p: &Pushed,
    kind: &str,
) -> std::result::Result<(), String> {
    store
        .lock(app, || {})
        .and_then(|lock| {
            store.record_publication(
                &lock,
                version,
                binship_store::Publication {
                    reference: p.reference.clone(),
                    digest: p.manifest_digest.clone(),
                    at: binship_store::record::now_rfc3339(),
                    kind: kind.into(),
                },
            )
        })
        .map_err(|e| format!("pushed, but the publication was not recorded: {e}"))
}

/// `push`'s and `push-binary`'s answer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PushAnswer<'a> {
    /// "pushed".
    pub status: &'static str,
    /// "image" or "binary".
    pub kind: &'static str,
    pub app: &'a str,
    pub version: u32,
    pub pushed: &'a Pushed,
    /// The image test of an image push (which runner, what passed); none for a binary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_tests: Option<&'a binship_pipeline::image_test::ImageTests>,
}

impl<'a> PushAnswer<'a> {
    /// The answer for a push of `kind`.
    pub fn new(kind: &'static str, app: &'a str, version: u32, pushed: &'a Pushed) -> Self {
        PushAnswer {
            status: "pushed",
            kind,
            app,
            version,
            pushed,
            image_tests: None,
        }
    }

    /// With the image test's result.
    pub fn with_image_tests(
        mut self,
        t: Option<&'a binship_pipeline::image_test::ImageTests>,
    ) -> Self {
        self.image_tests = t;
        self
    }
}

/// What [`pack_and_push`] or a scaffold's push did.
#[derive(Debug, Clone)]
pub struct ImagePush {
    pub pushed: Pushed,
    /// zstd layers some clients cannot pull; a publication not recorded.
    pub warnings: Vec<String>,
    /// The image test run before the push.
    pub image_tests: Option<binship_pipeline::image_test::ImageTests>,
}

/// Packs `req` (its format and output replaced: an OCI layout in the store's temp dir, tagged
/// `APP:TAG`) and pushes it to `to`, then records the publication.
///
/// # Errors
/// The scaffold's class when packing fails; other (exit 1) for the store and the registry.
pub fn pack_and_push(
    store: &Store,
    req: ScaffoldRequest,
    to: &Reference,
    registry: &RegistryOptions,
    progress: Option<&dyn Progress>,
) -> Result<ImagePush> {
    let tmp = temp_dir(store, "push", &req.app)?;
    let app = req.app.clone();
    let req = ScaffoldRequest {
        format: binship_sink::Format::Oci,
        out: Some(tmp.clone()),
        tag: Some(format!("{app}:{}", to.tag)),
        ..req
    };
    let result = scaffold(store, &req)
        .map_err(|e| PublishError::new(e.class(), e.to_string()))
        .and_then(|o| push_outcome(store, &o, to, registry, progress).map(|p| (o, p)));
    let _ = std::fs::remove_dir_all(&tmp);
    let (outcome, pushed) = result?;
    Ok(recorded(store, &outcome, pushed))
}

/// A path in the store's temp dir for this process's `what` of `app` (`what@PID-APP`, which
/// `Store::sweep_tmp` removes once the process is gone; what killed runs left is swept first).
///
/// # Errors
/// Other: the store cannot be created.
pub fn temp_dir(store: &Store, what: &str, app: &str) -> Result<std::path::PathBuf> {
    store.ensure().map_err(PublishError::other)?;
    let _ = store.sweep_tmp();
    let dir = store
        .root()
        .join(".binship/tmp")
        .join(format!("{what}@{}-{app}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(dir)
}

/// Records a push of `outcome`'s image and gathers what the user should know: zstd layers some
/// clients cannot pull, a publication not recorded.
pub fn recorded(store: &Store, outcome: &ScaffoldOutcome, pushed: Pushed) -> ImagePush {
    let mut warnings = Vec::new();
    let w = outcome.push_written.as_ref().unwrap_or(&outcome.written);
    if w.layers.iter().any(|l| l.media_type.contains("zstd")) {
        warnings.push("zstd layers: docker before 23.0 and umoci cannot pull this image".into());
    }
    if let Err(m) = record(store, &outcome.app, outcome.version, &pushed, "image") {
        warnings.push(m);
    }
    ImagePush {
        pushed,
        warnings,
        image_tests: outcome.image_tests.clone(),
    }
}

/// The image a registry takes, from what the writer produced: the manifests as written and
/// each blob's file in the layout at `dir`.
pub fn push_image_of(p: &binship_sink::Pushable, dir: &std::path::Path) -> PushImage {
    PushImage {
        manifest: p.manifest.clone(),
        media_type: p.media_type.clone(),
        blobs: p
            .blobs
            .iter()
            .map(|(digest, size)| Blob {
                digest: digest.clone(),
                size: *size,
                source: BlobSource::File(
                    dir.join("blobs/sha256")
                        .join(digest.trim_start_matches("sha256:")),
                ),
            })
            .collect(),
        children: p.children.iter().map(|c| push_image_of(c, dir)).collect(),
    }
}

/// Pushes the image `outcome` wrote (its OCI output, or the layout staged beside another
/// format) to `to`: no layout is read back, the writer's manifests and blob list are pushed.
///
/// # Errors
/// Other: nothing was staged for a push, or the registry refuses.
pub fn push_outcome(
    store: &Store,
    outcome: &ScaffoldOutcome,
    to: &Reference,
    registry: &RegistryOptions,
    progress: Option<&dyn Progress>,
) -> Result<Pushed> {
    let (p, dir) = outcome.pushable().ok_or_else(|| {
        PublishError::other(format!(
            "{} v.{}: no OCI image was staged for the push",
            outcome.app, outcome.version
        ))
    })?;
    let opts = registry.push_options(store, &outcome.app, to, progress);
    push_image(to, &push_image_of(p, dir), &opts).map_err(PublishError::other)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("5M"), Ok(5 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1000"), Ok(1000));
        for bad in ["0", "-1", "5X", "", "M", "99999999999999999G"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
