//! Publishing stored versions (ko's "publish" side: it takes a stored, tested version and
//! never builds): [`supply`] signs a version and writes its SBOMs, [`verify`] checks a stored
//! version's signatures, digests and tests, [`pack`] writes the image of a [`ScaffoldPlan`]
//! and [`publish`] what follows (attachments, push), [`push`] packs an image as an OCI layout
//! and pushes it, [`attach`] stores signatures and SBOMs beside an image (OCI 1.1 referrers by
//! tag, in a layout or a registry), [`attest`] makes and checks in-toto attestations (SLSA
//! provenance, SBOMs) in DSSE envelopes, [`artifact`] moves a version's files as an OCI artifact to
//! a registry and back, and [`image`] verifies and inspects images in a local medium or a
//! registry. Failures are [`PublishError`]s whose [`ErrorClass`] gives the exit code.
//!
//! [`ScaffoldPlan`]: binship_pipeline::plan::ScaffoldPlan

pub mod artifact;
pub mod attach;
pub mod attest;
pub mod cache;
pub mod image;
pub mod push;
pub mod supply;
pub mod verify;

pub use binship_pipeline::ErrorClass;

/// Why publishing failed: the class (usage, not found, conflict, verify failed, other, or the
/// scaffold's) and one line naming the file, version or reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PublishError {
    pub class: ErrorClass,
    pub message: String,
}

impl PublishError {
    /// An error of `class`.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> PublishError {
        PublishError {
            class,
            message: message.into(),
        }
    }

    /// An I/O, registry or format error (exit 1).
    pub fn other(e: impl std::fmt::Display) -> PublishError {
        PublishError::new(ErrorClass::Other, e.to_string())
    }

    /// A registry error: not found (exit 3) when the registry has no such tag, else other.
    pub fn registry(e: binship_registry::RegistryError) -> PublishError {
        let class = match e {
            binship_registry::RegistryError::NotFound { .. } => ErrorClass::NotFound,
            binship_registry::RegistryError::Interrupted { .. } => ErrorClass::Interrupted,
            _ => ErrorClass::Other,
        };
        PublishError::new(class, e.to_string())
    }

    /// A layout error: not found (exit 3) for a missing layout or tag, else usage.
    pub fn layout(e: binship_sink::SinkError) -> PublishError {
        let class = match e {
            binship_sink::SinkError::NotFound { .. } => ErrorClass::NotFound,
            _ => ErrorClass::Usage,
        };
        PublishError::new(class, e.to_string())
    }

    /// The same class, the message prefixed (`stored, but not signed: ...`).
    pub fn context(self, prefix: &str) -> PublishError {
        PublishError::new(self.class, format!("{prefix}{}", self.message))
    }
}

/// A `Result` whose error is a [`PublishError`].
pub type Result<T> = std::result::Result<T, PublishError>;

use binship_image::config::ProgressHook;
use binship_pipeline::plan::ScaffoldPlan;
use binship_pipeline::scaffold::{scaffold, ScaffoldOutcome, ScaffoldRequest};
use binship_registry::{Progress, Reference};
use binship_store::Store;

/// Packs `version` as `plan` says: refuses a version that does not verify when the plan
/// requires signed versions (checked with `public_key`, default the user's), then writes the
/// image (and, with `--push` and an output that is not an OCI layout, stages the same
/// assembled image as one for [`publish`]). Returns the request and the outcome.
///
/// # Errors
/// Verify failed: the version does not verify ("it was not packed"). Otherwise the scaffold's
/// class (usage, not found, tests failed, other).
pub fn pack(
    store: &Store,
    plan: &ScaffoldPlan,
    version: u32,
    public_key: Option<&std::path::Path>,
    progress: Option<ProgressHook>,
) -> Result<ScaffoldOutcome> {
    let mut req = ScaffoldRequest {
        progress,
        ..plan.request(version)
    };
    if plan.push.is_some() {
        // Staged beside the output from the same assembly, for `publish` (which removes it).
        req.push_stage = Some(push::temp_dir(store, "push-stage", &req.app)?);
    }
    let app = &req.app;
    if plan.require_signed {
        let (_, failure) = verify::verify_version(store, app, version, public_key);
        if let Some(m) = failure {
            return Err(PublishError::new(
                ErrorClass::VerifyFailed,
                format!("{app} v.{version} does not verify ({m}); it was not packed"),
            ));
        }
    }
    scaffold(store, &req).map_err(|e| {
        if let Some(d) = &req.push_stage {
            let _ = std::fs::remove_dir_all(d);
        }
        PublishError::new(e.class(), e.to_string())
    })
}

/// What [`publish`] does after an image was written.
pub struct PublishRequest<'a> {
    /// Sign the image with this key (an attachment in binship's or cosign's format).
    pub key: Option<&'a binship_sign::ImageKey>,
    /// Attach the version's SBOMs.
    pub sbom: bool,
    /// Push the same settings, packed as OCI, here.
    pub push_to: Option<Reference>,
    pub registry: RegistryOptions,
    pub progress: Option<&'a dyn Progress>,
}

/// What [`publish`] did.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// Attachment tags in the written layout, then references in the registry.
    pub attached: Vec<String>,
    pub pushed: Option<push::ImagePush>,
}

/// What `scaffold` does after writing `written` ([`pack`]): with a key or `sbom`, attachments
/// in the written OCI layout (other formats hold none; the plan refuses them); with `push_to`,
/// the written (or staged) OCI image pushed, recorded, and the attachments pushed beside it.
/// The staged layout is removed.
///
/// # Errors
/// The class of [`push::pack_and_push`] or [`attach::attachments`]; a push failure says the
/// image was written.
pub fn publish(store: &Store, written: &ScaffoldOutcome, p: &PublishRequest) -> Result<Published> {
    let result = attach_and_push(store, written, p);
    if let Some(w) = &written.push_written {
        let _ = std::fs::remove_dir_all(&w.path);
    }
    result
}

fn attach_and_push(
    store: &Store,
    written: &ScaffoldOutcome,
    p: &PublishRequest,
) -> Result<Published> {
    let mut out = Published::default();
    let attaching = p.key.is_some() || p.sbom;
    let (app, version) = (&written.app, written.version);
    if attaching && written.written.format.holds_attachments() {
        let path = &written.written.path;
        let tag = written
            .written
            .tag
            .rsplit_once(':')
            .map_or("latest", |t| t.1);
        let subject = attach::layout_subject(path, tag)?;
        let place = attach::Place::Layout(path);
        let atts = attach::attachments(
            store,
            app,
            version,
            &subject,
            &written.written.tag,
            p.key,
            p.sbom,
            &place,
        )?;
        out.attached = place.store(&atts)?;
    }
    if let Some(to) = &p.push_to {
        // The image written above, or the OCI layout staged beside it from the same assembly:
        // packed once, pushed from the writer's manifests and blob list.
        let pushed =
            push::push_outcome(store, written, to, &p.registry, p.progress).and_then(|pushed| {
                if attaching {
                    let subject = attach::pushed_subject(&pushed);
                    let reference = &pushed.reference;
                    let place = attach::Place::Registry {
                        to,
                        insecure: p.registry.insecure,
                    };
                    let atts = attach::attachments(
                        store, app, version, &subject, reference, p.key, p.sbom, &place,
                    )?;
                    out.attached.extend(place.store(&atts)?);
                }
                Ok(pushed)
            });
        let pushed = pushed.map_err(|e| e.context("the image was written, but "))?;
        out.pushed = Some(push::recorded(store, written, pushed));
    }
    Ok(out)
}

pub use push::RegistryOptions;
