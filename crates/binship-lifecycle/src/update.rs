//! `update`: for each app with a recipe, build the newest sources (binship's cache makes an
//! unchanged tree up to date), sign and describe a new version, re-make every `[[outputs]]`
//! of the recipe (a file or directory, or a `docker://` push), then make it current. One
//! update runs per store at a time; within it, up to `jobs` apps at once, each under its own
//! app lock. A shared cache (the recipe's `[cache]`) is asked before any build slot is taken,
//! so a hit costs none; a version built here is published to it after signing.

// Errors are the cold path and carry whole test reports (PipelineError).
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};

use binship_build::Cancel;
use binship_pipeline::scaffold::{scaffold, ScaffoldRequest};
use binship_pipeline::{BuildOutcome, BuildRequest, ErrorClass, PipelineError, Progress};
use binship_publish::cache::RegistryCache;
use binship_publish::push::{pack_and_push, RegistryOptions};
use binship_publish::supply::sign_and_describe;
use binship_recipe::{validate_app_name, Recipe};
use binship_sink::Destination;
use binship_store::Store;
use serde::Serialize;

use crate::{store_err, unfit, LifecycleError};

/// How to update.
#[derive(Default)]
pub struct UpdateOptions<'a> {
    /// The app, or every app of the store that has a recipe.
    pub app: Option<String>,
    /// Sign each new version with this key (unlock it before calling: a wrong password must
    /// not cost a build).
    pub key: Option<&'a binship_sign::SecretKey>,
    /// Write SBOMs for each new version.
    pub sbom: bool,
    /// For `docker://` outputs.
    pub registry: RegistryOptions,
    /// Build steps and toolchain lines.
    pub build_progress: Option<&'a dyn Progress>,
    /// Blob uploads.
    pub push_progress: Option<&'a dyn binship_registry::Progress>,
    /// Apps updated at once (0 or 1: one after the other).
    pub jobs: usize,
    /// Neither ask nor fill the apps' shared caches.
    pub no_cache: bool,
}

/// What happened to one app.
#[derive(Debug, Clone, Serialize)]
pub struct AppUpdate {
    pub app: String,
    /// "up_to_date" (current, nothing to do), "updated" (a new version built, tested and made
    /// current), "promoted" (a version built before made current) or "failed".
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    pub previous: Option<u32>,
    /// `FORMAT PATH` or `pushed REF (DIGEST)` per output.
    pub outputs: Vec<String>,
    pub signatures: Vec<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Warnings of the pushes (zstd layers, a publication not recorded) and of the cache.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The shared cache: "hit", "pushed", "present", "raced" or why it gave nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
}

/// The result of [`update`]: every app, in order; a failing app does not stop the others.
#[derive(Debug, Clone, Serialize)]
pub struct Updated {
    /// "ok" or "failed".
    pub status: &'static str,
    pub apps: Vec<AppUpdate>,
    /// The worst failure (the highest exit code; a failed app stays on its current version).
    #[serde(skip)]
    pub failure: Option<LifecycleError>,
}

struct Quiet;
impl Progress for Quiet {}

/// Progress of one app among several running at once: each step names its app.
struct Named<'a> {
    app: &'a str,
    inner: &'a dyn Progress,
}

impl Progress for Named<'_> {
    fn step(&self, msg: &str) {
        self.inner.step(&format!("{}: {msg}", self.app));
    }
}

/// At most `n` builds at once (a counting semaphore).
struct Slots {
    free: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

impl Slots {
    fn new(n: usize) -> Slots {
        Slots {
            free: std::sync::Mutex::new(n.max(1)),
            freed: std::sync::Condvar::new(),
        }
    }

    /// Runs `f` holding a slot.
    fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        let mut free = self.free.lock().expect("slots");
        while *free == 0 {
            free = self.freed.wait(free).expect("slots");
        }
        *free -= 1;
        drop(free);
        let out = f();
        *self.free.lock().expect("slots") += 1;
        self.freed.notify_one();
        out
    }
}

/// Updates one app or all (see the module doc).
///
/// # Errors
/// Before any app: the store (other) or a running update (conflict). Each app's failure is in
/// [`Updated::failure`] with its class (the build's, the scaffold's or the push's).
pub fn update(store: &Store, opts: &UpdateOptions) -> Result<Updated, LifecycleError> {
    store.ensure().map_err(store_err)?;
    let lock_path = store.root().join(".binship/locks/update.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| store_err(format!("{}: {e}", lock_path.display())))?;
    if lock.try_lock().is_err() {
        return Err(LifecycleError::Busy(format!(
            "another binship update is running (it holds {})",
            lock_path.display()
        )));
    }
    let apps: Vec<String> = match &opts.app {
        Some(a) => vec![a.clone()],
        None => store
            .apps()
            .unwrap_or_default()
            .into_iter()
            .filter(|a| store.recipe_path(a).is_file())
            .collect(),
    };
    let mut out = Updated {
        status: "ok",
        apps: Vec::new(),
        failure: None,
    };
    let jobs = opts.jobs.max(1);
    let slots = Slots::new(jobs);
    // Up to `jobs` apps at once, taken in order; each app's answer kept in its place.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<AppUpdate, LifecycleError>>>> =
        apps.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..jobs.min(apps.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(a) = apps.get(i) else { break };
                let r = update_one(store, a, opts, &slots, jobs > 1);
                *results[i].lock().expect("result") = Some(r);
            });
        }
    });
    for (a, r) in apps.iter().zip(results) {
        match r.into_inner().expect("result").expect("every app ran") {
            Ok(u) => out.apps.push(u),
            Err(e) => {
                out.apps.push(AppUpdate {
                    app: a.clone(),
                    status: "failed",
                    version: None,
                    previous: None,
                    outputs: Vec::new(),
                    signatures: Vec::new(),
                    error: Some(e.to_string()),
                    warnings: Vec::new(),
                    cache: None,
                });
                out.status = "failed";
                // current stays where it was; the others go on
                let worse = out
                    .failure
                    .as_ref()
                    .is_none_or(|f| e.class().exit_code() > f.class().exit_code());
                if worse {
                    out.failure = Some(e);
                }
            }
        }
    }
    Ok(out)
}

fn step(class: ErrorClass, message: impl Into<String>) -> LifecycleError {
    LifecycleError::Step {
        class,
        message: message.into(),
    }
}

fn update_one(
    store: &Store,
    app: &str,
    opts: &UpdateOptions,
    slots: &Slots,
    named: bool,
) -> Result<AppUpdate, LifecycleError> {
    validate_app_name(app)?;
    let recipe_path = store.recipe_path(app);
    let recipe = Recipe::load(&recipe_path).map_err(|e| LifecycleError::Usage(e.to_string()))?;
    let bad_output =
        |m: String| LifecycleError::Usage(format!("{}: outputs: {m}", recipe_path.display()));
    // Every output is checked before anything is built.
    let recipe_dir = recipe_path.parent().unwrap_or(Path::new("."));
    let mut planned = Vec::new();
    for o in &recipe.outputs {
        let dest = Destination::parse(&o.destination, recipe_dir)
            .map_err(|e| bad_output(e.to_string()))?;
        let format: binship_sink::Format =
            o.format.parse().map_err(|e| bad_output(format!("{e}")))?;
        dest.check(format).map_err(|e| bad_output(e.to_string()))?;
        planned.push((o, dest, format));
    }
    let inner = opts.build_progress.unwrap_or(&Quiet);
    let named_progress = Named { app, inner };
    let progress: &dyn Progress = if named { &named_progress } else { inner };
    let cache = if opts.no_cache {
        None
    } else {
        RegistryCache::for_app(store, app).map_err(|e| step(e.class, e.message))?
    };
    let req = BuildRequest {
        app: app.into(),
        ..Default::default()
    };
    let cancel = Cancel::new();
    let local = || slots.with(|| binship_pipeline::build(store, &req, progress, &cancel));
    // Up to date or a cache hit: no build slot.
    let mut cache_note = None;
    let built = match &cache {
        Some(c) => {
            let quick = BuildRequest {
                cache_required: true,
                ..req.clone()
            };
            match binship_pipeline::build_cached(store, &quick, Some(c), progress, &cancel) {
                Err(PipelineError::Cache(f)) => {
                    cache_note = Some(f.message);
                    local()
                }
                r => r,
            }
        }
        None => local(),
    };
    let outcome = built.map_err(|e| step(e.class(), e.to_string()))?;
    let version = outcome.record().version;
    let current = store.current(app).ok().flatten();
    let mut answer = AppUpdate {
        app: app.into(),
        status: "up_to_date",
        version: Some(version),
        previous: None,
        outputs: Vec::new(),
        signatures: Vec::new(),
        error: None,
        warnings: Vec::new(),
        cache: None,
    };
    // A version built here goes to the shared cache (again, when it is up to date: an earlier
    // publish may have failed; the check before the push makes that one look-up).
    let from_cache = outcome.record().from_cache.is_some();
    let publish = |answer: &mut AppUpdate| {
        if let Some(c) = cache.as_ref().filter(|c| c.push && !from_cache) {
            match c.publish(store, app, version) {
                Ok(p) => {
                    answer.warnings.extend(p.note.clone());
                    answer.cache = Some(p.status.into());
                }
                Err(e) => answer.warnings.push(format!("cache: {}", e.message)),
            }
        }
    };
    if matches!(outcome, BuildOutcome::UpToDate { .. }) && current == Some(version) {
        publish(&mut answer);
        return Ok(answer);
    }
    // Signed (and described) before any output is made from it.
    let done = sign_and_describe(store, app, version, opts.key, opts.sbom)
        .map_err(|e| step(e.class, format!("v.{version} {}", e.message)))?;
    answer.signatures = serde_json::from_value(done["signatures"].clone()).unwrap_or_default();
    // Signed and tested: a version built here goes to the shared cache.
    answer.cache = if from_cache {
        Some("hit".into())
    } else {
        cache_note
    };
    publish(&mut answer);
    // Every declared output, then the pointer.
    for (o, dest, format) in planned {
        let req = ScaffoldRequest {
            app: app.into(),
            version,
            format,
            base: o.base.clone(),
            service: o.service.clone(),
            platform: o.platform.clone(),
            ..Default::default()
        };
        match dest {
            Destination::File(path) => {
                let req = ScaffoldRequest { out: path, ..req };
                if let Some(parent) = req.out.as_deref().and_then(Path::parent) {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        step(
                            ErrorClass::Other,
                            format!("creating {}: {e}", parent.display()),
                        )
                    })?;
                }
                let done = scaffold(store, &req).map_err(|e| step(e.class(), e.to_string()))?;
                answer
                    .outputs
                    .push(format!("{} {}", o.format, done.written.path.display()));
            }
            Destination::Registry(repository) => {
                let to = repository.reference(version);
                let p = pack_and_push(store, req, &to, &opts.registry, opts.push_progress)
                    .map_err(|e| step(e.class, e.message))?;
                answer.warnings.extend(p.warnings);
                answer.outputs.push(format!(
                    "pushed {} ({})",
                    p.pushed.reference, p.pushed.manifest_digest
                ));
            }
        }
    }
    if let Some(e) = unfit(store, app, version) {
        return Err(e);
    }
    let lock = store.lock(app, || {}).map_err(store_err)?;
    store
        .set_current(&lock, version, "update", Some("binship update".into()))
        .map_err(store_err)?;
    answer.status = match outcome {
        BuildOutcome::Built { .. } => "updated",
        BuildOutcome::UpToDate { .. } => "promoted",
    };
    answer.previous = current;
    Ok(answer)
}
