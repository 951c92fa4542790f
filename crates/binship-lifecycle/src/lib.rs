//! Moving between stored versions, as a library the CLI and the MCP server share: [`list`],
//! [`unfit`] (why a version may not become current), [`promote`], [`rollback`] (with
//! re-tagging where the version's images were published), [`gc_plan`] / [`gc`] (what to keep,
//! and why) and [`update::update`] (rebuild, re-make the recipe's outputs, promote). Every
//! failure is a typed [`LifecycleError`] whose [`ErrorClass`] gives the exit code.

pub mod update;

use binship_pipeline::ErrorClass;
use binship_recipe::{validate_app_name, Recipe};
use binship_registry::Reference;
use binship_store::lifecycle::HistoryEvent;
use binship_store::Store;
use serde::Serialize;

/// Why a lifecycle move was refused or failed; each names the app and version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// A bad app name or version (exit 2).
    #[error("{0}")]
    Usage(String),
    /// No such app or version, or no older good version (exit 3).
    #[error("{0}")]
    NotFound(String),
    /// The version's tests did not pass, or its record is unreadable (exit 6).
    #[error("{0}")]
    TestsFailed(String),
    /// The recipe requires signed versions and this one does not verify (exit 8).
    #[error("{0}")]
    Unverified(String),
    /// The store could not be read or written (exit 1).
    #[error("{0}")]
    Store(String),
    /// Another `update` holds the store's update lock (exit 7).
    #[error("{0}")]
    Busy(String),
    /// A step `update` runs (build, pack, push, sign) failed, with that step's class.
    #[error("{message}")]
    Step { class: ErrorClass, message: String },
}

impl LifecycleError {
    /// The exit class.
    pub fn class(&self) -> ErrorClass {
        match self {
            LifecycleError::Usage(_) => ErrorClass::Usage,
            LifecycleError::NotFound(_) => ErrorClass::NotFound,
            LifecycleError::TestsFailed(_) => ErrorClass::TestsFailed,
            LifecycleError::Unverified(_) => ErrorClass::VerifyFailed,
            LifecycleError::Store(_) => ErrorClass::Other,
            LifecycleError::Busy(_) => ErrorClass::Conflict,
            LifecycleError::Step { class, .. } => *class,
        }
    }
}

impl From<binship_recipe::InvalidValue> for LifecycleError {
    fn from(e: binship_recipe::InvalidValue) -> LifecycleError {
        LifecycleError::Usage(e.0)
    }
}

fn store_err(e: impl std::fmt::Display) -> LifecycleError {
    LifecycleError::Store(e.to_string())
}

/// The app's versions, refusing a bad name (2) or an app with none (3).
///
/// # Errors
/// [`LifecycleError::Usage`], [`LifecycleError::NotFound`], [`LifecycleError::Store`].
pub fn check_app(store: &Store, app: &str) -> Result<Vec<u32>, LifecycleError> {
    validate_app_name(app)?;
    let versions = store.versions(app).map_err(store_err)?;
    if versions.is_empty() {
        return Err(LifecycleError::NotFound(store.no_binary_message(app)));
    }
    Ok(versions)
}

/// `APP` or `APP:N` -> the app and its version (default: current, else the latest stored).
///
/// # Errors
/// Class usage for a bad name or number, not found for a missing app or version, as
/// `(class, message)` (the CLI's and the MCP server's answer).
pub fn app_version(store: &Store, spec: &str) -> Result<(String, u32), (ErrorClass, String)> {
    let usage = |m: String| (ErrorClass::Usage, m);
    let (name, version) = match spec.split_once(':') {
        Some((n, v)) => (
            n,
            Some(binship_pipeline::plan::parse_version(v).map_err(|e| usage(e.to_string()))?),
        ),
        None => (spec, None),
    };
    validate_app_name(name).map_err(|e| usage(e.0))?;
    let version = match version {
        Some(v) => {
            if !store.version_dir(name, v).is_dir() {
                return Err((
                    ErrorClass::NotFound,
                    format!("{name} has no v.{v} (binship list {name})"),
                ));
            }
            v
        }
        // The current version when one is set, else the latest.
        None => match store.current(name).ok().flatten() {
            Some(c) if store.version_dir(name, c).is_dir() => c,
            _ => store
                .versions(name)
                .ok()
                .and_then(|v| v.last().copied())
                .ok_or_else(|| (ErrorClass::NotFound, store.no_binary_message(name)))?,
        },
    };
    Ok((name.to_string(), version))
}

/// Whether the recipe's `container.require_signed` is set.
pub fn requires_signed(store: &Store, app: &str) -> bool {
    Recipe::load(&store.recipe_path(app))
        .map(|r| r.container.require_signed)
        .unwrap_or(false)
}

/// Why `version` may not become current: missing (3), tests not passed (6), or not verifying
/// when the recipe requires signed versions (8). `None`: it may.
pub fn unfit(store: &Store, app: &str, version: u32) -> Option<LifecycleError> {
    if !store.version_dir(app, version).is_dir() {
        return Some(LifecycleError::NotFound(format!(
            "{app} has no v.{version} (binship list {app})"
        )));
    }
    match store.record(app, version) {
        Ok(r) if r.all_passed() => {}
        Ok(r) => {
            return Some(LifecycleError::TestsFailed(format!(
                "{app} v.{version} did not pass its tests ({}/{} {})",
                r.passed, r.total, r.status
            )))
        }
        Err(e) => {
            return Some(LifecycleError::TestsFailed(format!(
                "{app} v.{version}: {e}"
            )))
        }
    }
    if requires_signed(store, app) {
        let (_, failure) = binship_publish::verify::verify_version(store, app, version, None);
        if let Some(m) = failure {
            return Some(LifecycleError::Unverified(format!(
                "{app} v.{version} does not verify: {m}"
            )));
        }
    }
    None
}

/// Makes `version` the app's current one (`<app>/current`, written atomically).
///
/// # Errors
/// As [`check_app`] and [`unfit`]; the store's error when the pointer cannot be written.
pub fn promote(store: &Store, app: &str, version: u32) -> Result<HistoryEvent, LifecycleError> {
    check_app(store, app)?;
    if let Some(f) = unfit(store, app, version) {
        return Err(f);
    }
    let lock = store.lock(app, || {}).map_err(store_err)?;
    store
        .set_current(&lock, version, "promote", None)
        .map_err(store_err)
}

/// What a rollback did.
#[derive(Debug, Clone, Serialize)]
pub struct Rollback {
    pub event: HistoryEvent,
    /// Newer versions passed over, and why.
    pub skipped: Vec<String>,
    /// `REGISTRY/REPO:TAG`s re-tagged (`:current`, `:latest`).
    pub retagged: Vec<String>,
    /// Re-tags that failed (an unreachable registry is a warning, not a failure).
    pub warnings: Vec<String>,
}

/// Moves `current` to the newest older version that may be current, then re-tags the images
/// recorded in its `publications.json` as `:current` and `:latest`.
///
/// # Errors
/// As [`check_app`]; [`LifecycleError::NotFound`] when no older good version exists (the
/// reasons of those skipped are in the message).
pub fn rollback(store: &Store, app: &str, insecure: bool) -> Result<Rollback, LifecycleError> {
    let versions = check_app(store, app)?;
    let from = store
        .current(app)
        .map_err(store_err)?
        .unwrap_or(*versions.last().expect("not empty"));
    let mut skipped = Vec::new();
    let to = versions
        .iter()
        .rev()
        .filter(|v| **v < from)
        .find(|v| match unfit(store, app, **v) {
            None => true,
            Some(e) => {
                skipped.push(e.to_string());
                false
            }
        })
        .copied()
        .ok_or_else(|| {
            LifecycleError::NotFound(format!(
                "no older good version of {app} than v.{from} to roll back to{}",
                if skipped.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", skipped.join("; "))
                }
            ))
        })?;
    let lock = store.lock(app, || {}).map_err(store_err)?;
    let event = store
        .set_current(
            &lock,
            to,
            "rollback",
            Some(format!("rolled back from v.{from}")),
        )
        .map_err(store_err)?;
    drop(lock);
    let mut retagged = Vec::new();
    let mut warnings = Vec::new();
    for p in store
        .publications(app, to)
        .iter()
        .filter(|p| p.kind == "image")
    {
        let Ok(r) = Reference::parse(&p.reference, "latest") else {
            continue;
        };
        for tag in ["current", "latest"] {
            match binship_registry::retag(&r, &p.digest, tag, insecure) {
                Ok(()) => retagged.push(format!("{}:{tag}", r.repo())),
                Err(e) => warnings.push(format!("could not re-tag {}:{tag}: {e}", r.repo())),
            }
        }
    }
    Ok(Rollback {
        event,
        skipped,
        retagged,
        warnings,
    })
}

/// One version GC keeps, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kept {
    pub version: u32,
    pub why: String,
}

/// What GC keeps of one app and what it removes (or would, in a dry run).
#[derive(Debug, Clone, Serialize)]
pub struct GcPlan {
    pub app: String,
    pub kept: Vec<Kept>,
    pub removed: Vec<u32>,
}

/// What GC keeps of `app`: current, the version before it, published versions and the newest
/// `keep`; the rest goes.
pub fn gc_plan(store: &Store, app: &str, keep: usize) -> GcPlan {
    let versions = store.versions(app).unwrap_or_default();
    let current = store.current(app).ok().flatten();
    let mut kept = Vec::new();
    let mut removed = Vec::new();
    let before_current = current.and_then(|c| versions.iter().rev().find(|v| **v < c).copied());
    for (i, v) in versions.iter().rev().enumerate() {
        let published = store.publications(app, *v);
        let why = if Some(*v) == current {
            Some("current".to_string())
        } else if Some(*v) == before_current {
            Some("the version before current".into())
        } else if !published.is_empty() {
            Some(format!(
                "published ({})",
                published
                    .iter()
                    .map(|p| p.reference.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        } else if i < keep {
            Some(format!("one of the newest {keep}"))
        } else {
            None
        };
        match why {
            Some(why) => kept.push(Kept { version: *v, why }),
            None => removed.push(*v),
        }
    }
    kept.reverse();
    removed.reverse();
    GcPlan {
        app: app.into(),
        kept,
        removed,
    }
}

/// Plans GC for `app` (or every app) under each app's lock and, with `apply`, removes.
///
/// # Errors
/// As [`check_app`] for a named app; the store's error when a lock or a removal fails.
pub fn gc(
    store: &Store,
    app: Option<&str>,
    keep: usize,
    apply: bool,
) -> Result<Vec<GcPlan>, LifecycleError> {
    let apps = match app {
        Some(a) => {
            check_app(store, a)?;
            vec![a.to_string()]
        }
        None => store.apps().unwrap_or_default(),
    };
    let mut plans = Vec::new();
    for a in &apps {
        let lock = store.lock(a, || {}).map_err(store_err)?;
        let plan = gc_plan(store, a, keep);
        if apply {
            for v in &plan.removed {
                store.remove_version(&lock, *v).map_err(store_err)?;
            }
        }
        plans.push(plan);
    }
    Ok(plans)
}

/// The answer of `promote` (`binship promote --json`, the MCP tool `promote`).
#[derive(Debug, Clone, Serialize)]
pub struct Promoted {
    /// "promoted".
    pub status: &'static str,
    pub app: String,
    pub current: u32,
    pub previous: Option<u32>,
}

impl Promoted {
    pub fn new(app: &str, e: &HistoryEvent) -> Promoted {
        Promoted {
            status: "promoted",
            app: app.into(),
            current: e.to,
            previous: e.from,
        }
    }
}

/// The answer of `rollback`.
#[derive(Debug, Clone, Serialize)]
pub struct RolledBack {
    /// "rolled_back".
    pub status: &'static str,
    pub app: String,
    pub current: u32,
    pub previous: Option<u32>,
    pub skipped: Vec<String>,
    pub retagged: Vec<String>,
    pub warnings: Vec<String>,
}

impl RolledBack {
    pub fn new(app: &str, r: &Rollback) -> RolledBack {
        RolledBack {
            status: "rolled_back",
            app: app.into(),
            current: r.event.to,
            previous: r.event.from,
            skipped: r.skipped.clone(),
            retagged: r.retagged.clone(),
            warnings: r.warnings.clone(),
        }
    }
}

/// The answer of `history`: the moves of `current`, oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub app: String,
    pub current: Option<u32>,
    pub history: Vec<HistoryEvent>,
}

/// The app's history and current version.
///
/// # Errors
/// [`LifecycleError::Usage`] for a bad app name, [`LifecycleError::NotFound`] for no such app.
pub fn history(store: &Store, app: &str) -> Result<History, LifecycleError> {
    validate_app_name(app)?;
    if !store.app_dir(app).is_dir() {
        return Err(LifecycleError::NotFound(format!(
            "no app `{app}` in {}",
            store.root().display()
        )));
    }
    Ok(History {
        app: app.into(),
        current: store.current(app).ok().flatten(),
        history: store.history(app),
    })
}

/// The answer of `gc`.
#[derive(Debug, Clone, Serialize)]
pub struct Collected {
    /// "removed" (with apply) or "dry_run".
    pub status: &'static str,
    pub apps: Vec<GcPlan>,
}

impl Collected {
    pub fn new(apply: bool, apps: Vec<GcPlan>) -> Collected {
        Collected {
            status: if apply { "removed" } else { "dry_run" },
            apps,
        }
    }
}

/// The store's apps (or one app) and their versions, as `list --json` and the MCP tool
/// `list_binaries` answer: `{"store", "apps": [{"app", "recipe", "current", "versions": [...]}]}`,
/// each version with its binary, status, size, sha256, tests, commit and platforms (a version
/// whose record cannot be read has status "unknown" and the error).
///
/// # Errors
/// Usage: a bad app name. Not found: no such app. Store: the store cannot be read.
pub fn list(store: &Store, app: Option<&str>) -> Result<serde_json::Value, LifecycleError> {
    use serde_json::json;
    let apps = match app {
        Some(a) => {
            validate_app_name(a)?;
            if !store.app_dir(a).is_dir() {
                return Err(LifecycleError::NotFound(store.no_binary_message(a)));
            }
            vec![a.to_string()]
        }
        None => store.apps().map_err(store_err)?,
    };
    let mut docs = Vec::new();
    for a in &apps {
        let mut vs = Vec::new();
        for v in store.versions(a).map_err(store_err)? {
            let dir = store.version_dir(a, v);
            vs.push(match store.record(a, v) {
                Ok(r) => json!({
                    "version": v,
                    "dir": dir,
                    "binary": dir.join(&r.binary.name),
                    "status": r.status,
                    "size": r.binary.size,
                    "sha256": r.binary.sha256,
                    "static": r.binary.is_static,
                    "target": r.target,
                    "tests": { "passed": r.passed, "failed": r.failed, "total": r.total },
                    "commit": r.git.commit,
                    "dirty": r.git.dirty,
                    "built_at": r.built_at,
                    "platforms": r.all_platforms(),
                }),
                Err(e) => {
                    json!({ "version": v, "dir": dir, "status": "unknown", "error": e.to_string() })
                }
            });
        }
        // The version scaffold and push use without --version (binship promote sets it).
        let current = store.current(a).ok().flatten();
        let recipe = store.recipe_path(a).is_file();
        docs.push(json!({ "app": a, "recipe": recipe, "current": current, "versions": vs }));
    }
    Ok(json!({ "store": store.root(), "apps": docs }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gc_keeps_current_the_one_before_and_the_newest() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::at(d.path().join("images/standalone-binaries"));
        for v in 1..=6 {
            std::fs::create_dir_all(s.version_dir("a", v)).unwrap();
        }
        let lock = s.lock("a", || {}).unwrap();
        s.set_current(&lock, 3, "promote", None).unwrap();
        drop(lock);
        let p = gc_plan(&s, "a", 2);
        assert_eq!(
            p.kept.iter().map(|k| k.version).collect::<Vec<_>>(),
            [2, 3, 5, 6]
        );
        assert_eq!(p.removed, [1, 4]);
        assert_eq!(p.kept[1].why, "current");
        assert!(matches!(
            check_app(&s, "Bad Name"),
            Err(LifecycleError::Usage(_))
        ));
        assert!(matches!(
            check_app(&s, "none"),
            Err(LifecycleError::NotFound(_))
        ));
        assert_eq!(
            unfit(&s, "a", 9).map(|e| e.class()),
            Some(ErrorClass::NotFound)
        );
    }
}
