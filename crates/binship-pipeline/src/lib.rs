//! The build pipeline: [`build`] runs Recipe -> Builder -> Artifact -> Tester -> TestReport ->
//! `Store::admit` for one app, with the cache check by source/recipe/toolchain key in front.
//!
//! Progress goes through the [`Progress`] trait (the CLI draws spinners; tests pass
//! [`NoProgress`]); cancellation through [`Cancel`]. Errors are typed and classified
//! ([`ErrorClass`]) so the CLI can map them to documented exit codes.

// Errors are the cold path and carry whole test reports.
#![allow(clippy::result_large_err)]

pub mod base;
pub mod cache;
pub mod dockerfile;
pub mod image_test;
pub mod plan;
pub mod scaffold;
pub mod scan;

use std::path::{Path, PathBuf};
use std::time::Instant;

use binship_build::{
    artifact, builder_for, source, tester, BuildContext, BuildError, Cancel, TestReport,
};
use binship_recipe::{validate_app_name, Recipe, RecipeError};
use binship_store::record::{now_rfc3339, rfc3339};
use binship_store::{BinaryRecord, GitRecord, Store, StoreError, TestResults, SCHEMA_VERSION};
use sha2::{Digest, Sha256};

/// binship's own version, recorded in every build and part of the cache key.
pub const BINSHIP_VERSION: &str = concat!("binship ", env!("CARGO_PKG_VERSION"));

/// Receives progress of long work (spinners, logs); every method has a silent default.
pub trait Progress: Sync {
    /// A new step begins ("building go-id v.2").
    fn step(&self, _msg: &str) {}
    /// A line of toolchain output.
    fn line(&self, _line: &str) {}
}

/// Reports nothing.
pub struct NoProgress;
impl Progress for NoProgress {}

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    pub app: String,
    /// An explicit version; `None` = the next one (or "up to date").
    pub version: Option<u32>,
    /// Rebuild even when up to date; replace an existing explicit version.
    pub force: bool,
    /// An OSV database dir: Go modules with known-vulnerable versions refuse the build.
    pub osv_db: Option<PathBuf>,
    /// OSV findings warn instead of refusing (as the recipe's `[scan] osv = "warn"`).
    pub osv_warn: bool,
    /// A cache miss, an unreachable cache or a refused entry fails the build (exit 3, 1 or 8)
    /// instead of building here (`build --cache-required`).
    pub cache_required: bool,
}

/// A successful build, or the finding that nothing needed building.
#[derive(Debug, Clone)]
pub enum BuildOutcome {
    /// Built here, or taken from the shared cache (`record.from_cache`); `cache` says what the
    /// cache answered when one was asked ("hit", or why it gave nothing).
    Built {
        dir: PathBuf,
        record: TestResults,
        cache: Option<String>,
    },
    UpToDate {
        dir: PathBuf,
        record: TestResults,
    },
}

impl BuildOutcome {
    pub fn record(&self) -> &TestResults {
        match self {
            BuildOutcome::Built { record, .. } | BuildOutcome::UpToDate { record, .. } => record,
        }
    }
    pub fn dir(&self) -> &Path {
        match self {
            BuildOutcome::Built { dir, .. } | BuildOutcome::UpToDate { dir, .. } => dir,
        }
    }

    /// `build --json`'s answer: status (built, up_to_date), app, version, dir, binary and the
    /// whole record (`results`).
    pub fn answer(&self) -> serde_json::Value {
        let r = self.record();
        let up_to_date = matches!(self, BuildOutcome::UpToDate { .. });
        serde_json::json!({
            "status": if up_to_date { "up_to_date" } else { "built" },
            "app": r.app,
            "version": r.version,
            "dir": self.dir(),
            "binary": self.dir().join(&r.binary.name),
            "results": r,
            "cache": match self {
                BuildOutcome::Built { cache, .. } => serde_json::json!(cache),
                BuildOutcome::UpToDate { .. } => serde_json::Value::Null,
            },
        })
    }
}

/// The kind of failure, for exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    Usage,
    NotFound,
    Prerequisite,
    BuildFailed,
    TestsFailed,
    Conflict,
    /// A signature, digest or test status did not verify.
    VerifyFailed,
    Interrupted,
    Other,
}

impl ErrorClass {
    /// The documented exit code (README "Exit codes"): the CLI exits with it and the MCP
    /// server reports it.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorClass::Usage => 2,
            ErrorClass::NotFound => 3,
            ErrorClass::Prerequisite => 4,
            ErrorClass::BuildFailed => 5,
            ErrorClass::TestsFailed => 6,
            ErrorClass::Conflict => 7,
            ErrorClass::VerifyFailed => 8,
            ErrorClass::Interrupted => 130,
            ErrorClass::Other => 1,
        }
    }

    /// The class of a documented exit code (8 has no pipeline error but a class of its own).
    pub fn from_exit_code(code: i32) -> Option<ErrorClass> {
        [
            ErrorClass::Usage,
            ErrorClass::NotFound,
            ErrorClass::Prerequisite,
            ErrorClass::BuildFailed,
            ErrorClass::TestsFailed,
            ErrorClass::Conflict,
            ErrorClass::VerifyFailed,
            ErrorClass::Interrupted,
            ErrorClass::Other,
        ]
        .into_iter()
        .find(|c| c.exit_code() == code)
    }

    /// The machine name `--json` errors carry.
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Usage => "usage",
            ErrorClass::NotFound => "not_found",
            ErrorClass::Prerequisite => "prerequisite_missing",
            ErrorClass::BuildFailed => "build_failed",
            ErrorClass::TestsFailed => "tests_failed",
            ErrorClass::Conflict => "conflict",
            ErrorClass::VerifyFailed => "verify_failed",
            ErrorClass::Interrupted => "interrupted",
            ErrorClass::Other => "error",
        }
    }
}

/// Why a build did not produce a stored version.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{0}")]
    BadName(String),
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    #[error("{path}: name = \"{found}\" but the recipe is in the directory of app `{expected}`")]
    NameMismatch {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("{recipe}: source dir {path} does not exist")]
    SourceMissing { recipe: PathBuf, path: PathBuf },
    #[error("{app}: {source}")]
    Prerequisite {
        app: String,
        #[source]
        source: BuildError,
    },
    #[error("{app} v.{version}: {source}{}", kept_note(source, kept.as_deref()))]
    BuildFailed {
        app: String,
        version: u32,
        #[source]
        source: BuildError,
        kept: Option<PathBuf>,
    },
    #[error("{app} v.{version}: tests failed: {passed}/{total} passed ({failures}); not stored, kept for debugging: {}", kept.display())]
    TestsFailed {
        app: String,
        version: u32,
        passed: usize,
        total: usize,
        failures: String,
        kept: PathBuf,
        report: Box<TestReport>,
    },
    #[error("{app} v.{version} already exists at {} and was built from different inputs; use --force to replace it", path.display())]
    Conflict {
        app: String,
        version: u32,
        path: PathBuf,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{app} v.{version}: refused by the scan: {message} (kept for debugging: {})", kept.display())]
    ScanRefused {
        app: String,
        version: u32,
        message: String,
        kept: PathBuf,
    },
    #[error("interrupted; nothing was stored")]
    Interrupted,
    /// `cache_required` and the cache gave nothing, or a fetched entry was refused.
    #[error("cache: {}", .0.message)]
    Cache(cache::CacheFailure),
}

/// " (kept for debugging: DIR)", unless the message already points into DIR.
fn kept_note(source: &BuildError, kept: Option<&Path>) -> String {
    match (source, kept) {
        (BuildError::Failed { log, .. }, Some(k)) if log.starts_with(k) => String::new(),
        (_, Some(k)) => format!(" (kept for debugging: {})", k.display()),
        _ => String::new(),
    }
}

/// Keeps a failed build's dir and points a toolchain failure's log into it.
fn keep_build_failure(
    store: &Store,
    lock: &binship_store::AppLock,
    staging: binship_store::Staging,
    app: String,
    version: u32,
    source: BuildError,
) -> PipelineError {
    let kept = store.keep_failed(lock, staging, version, None).ok();
    let source = match (source, &kept) {
        (BuildError::Failed { step, status, .. }, Some(k)) => BuildError::Failed {
            step,
            status,
            log: k.join("build.log"),
        },
        (s, _) => s,
    };
    PipelineError::BuildFailed {
        app,
        version,
        source,
        kept,
    }
}

impl PipelineError {
    pub fn class(&self) -> ErrorClass {
        match self {
            PipelineError::BadName(_) | PipelineError::NameMismatch { .. } => ErrorClass::Usage,
            PipelineError::Recipe(RecipeError::NotFound { .. }) => ErrorClass::NotFound,
            PipelineError::Recipe(_) => ErrorClass::Usage,
            PipelineError::SourceMissing { .. } => ErrorClass::NotFound,
            PipelineError::Prerequisite { .. } => ErrorClass::Prerequisite,
            PipelineError::BuildFailed { .. } | PipelineError::ScanRefused { .. } => {
                ErrorClass::BuildFailed
            }
            PipelineError::TestsFailed { .. } => ErrorClass::TestsFailed,
            PipelineError::Conflict { .. } => ErrorClass::Conflict,
            PipelineError::Store(_) => ErrorClass::Other,
            PipelineError::Interrupted => ErrorClass::Interrupted,
            PipelineError::Cache(f) => f.class,
        }
    }
    /// What a `--json` error adds: the kept scratch dir (`kept`) and each test's result
    /// (`tests`, when the tests failed).
    pub fn details(&self) -> serde_json::Value {
        let mut extra = serde_json::json!({});
        if let Some(k) = self.kept() {
            extra["kept"] = serde_json::json!(k);
        }
        if let PipelineError::TestsFailed { report, .. } = self {
            extra["tests"] = serde_json::json!(report.tests);
        }
        extra
    }

    /// The kept scratch dir of a failed build, if any.
    pub fn kept(&self) -> Option<&Path> {
        match self {
            PipelineError::BuildFailed { kept, .. } => kept.as_deref(),
            PipelineError::TestsFailed { kept, .. } | PipelineError::ScanRefused { kept, .. } => {
                Some(kept)
            }
            _ => None,
        }
    }
}

/// The recipe's copy in a version dir: `binship.toml` as it was when the version was built.
pub const RECIPE_COPY: &str = "binship.toml";

/// The cache key: same key, same build. It covers binship's version, the recipe (its build
/// part), the toolchain's version, the source's content (`content_key`), and `inputs`: the
/// build's hidden inputs ([`binship_build::env::key_inputs`]) and the stamps the build embeds
/// ([`stamps`]), as name/value pairs.
pub fn cache_key(
    recipe: &Recipe,
    toolchain: &binship_build::Toolchain,
    content_key: &str,
    inputs: &[(String, String)],
) -> String {
    let mut h = Sha256::new();
    for part in [
        "binship-cache-v2",
        BINSHIP_VERSION,
        &recipe.canonical_json(),
        &toolchain.name,
        &toolchain.version,
        content_key,
    ]
    .into_iter()
    .chain(inputs.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]))
    {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// The stamps a build of version `version` embeds, as key inputs: `stamp:version` when the
/// recipe's build settings name `{version}` (go's `-X main.version={version}`) or the source
/// names `BINSHIP_VERSION` (the C define and the env var every builder sets); `stamp:commit`
/// likewise for `{commit}`/`BINSHIP_COMMIT`. A version that embeds its number is only taken
/// from the cache at the same number.
pub fn stamps(
    recipe: &Recipe,
    src: &binship_build::SourceState,
    version: u32,
) -> Vec<(String, String)> {
    let b = &recipe.build;
    let settings: Vec<&str> = b
        .flags
        .iter()
        .chain(b.env.values())
        .map(String::as_str)
        .chain(b.ldflags.as_deref())
        .chain(b.command.as_deref())
        .collect();
    let names = |placeholder: &str, var: &str| {
        settings
            .iter()
            .any(|s| s.contains(placeholder) || s.contains(var))
    };
    let mut out = Vec::new();
    if src.names_version || names("{version}", "BINSHIP_VERSION") {
        out.push(("stamp:version".to_string(), version.to_string()));
    }
    if src.names_commit || names("{commit}", "BINSHIP_COMMIT") {
        out.push(("stamp:commit".to_string(), src.short_commit()));
    }
    out
}

/// Builds, tests and stores one version of `req.app` (see the crate docs).
pub fn build(
    store: &Store,
    req: &BuildRequest,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<BuildOutcome, PipelineError> {
    build_cached(store, req, None, progress, cancel)
}

/// [`build`], asking `cache` for the version's key first (unless `req.force`): a hit is
/// admitted as the next version without building; a miss, an unreachable cache or a refused
/// entry builds here (one progress line says why), or fails with `req.cache_required`.
pub fn build_cached(
    store: &Store,
    req: &BuildRequest,
    cache: Option<&dyn cache::RemoteCache>,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<BuildOutcome, PipelineError> {
    validate_app_name(&req.app).map_err(|e| PipelineError::BadName(e.0))?;
    if req.version == Some(0) {
        return Err(PipelineError::BadName(
            "version must be a positive integer, got 0".into(),
        ));
    }
    let recipe_path = store.recipe_path(&req.app);
    let recipe = Recipe::load(&recipe_path)?;
    if recipe.name != req.app {
        return Err(PipelineError::NameMismatch {
            path: recipe_path,
            found: recipe.name,
            expected: req.app.clone(),
        });
    }
    let recipe_dir = recipe_path.parent().unwrap_or(Path::new("."));
    let source_dir = recipe.source_dir(recipe_dir);
    if !source_dir.is_dir() {
        return Err(PipelineError::SourceMissing {
            recipe: recipe_path,
            path: source_dir,
        });
    }
    // The recipe's container files: the tests see them, so their content is part of the key.
    let bad_files = |m: String| RecipeError::Invalid {
        path: recipe_path.clone(),
        key: "container.files".into(),
        message: m.trim_start_matches("container.files: ").to_string(),
    };
    let placed =
        binship_build::files::walk(&recipe.container.files, recipe_dir).map_err(bad_files)?;
    let files_key = binship_build::files::files_key(&placed).map_err(bad_files)?;
    let app = recipe.name.clone();
    let builder = builder_for(recipe.kind);
    // The primary platform first; every platform's toolchain is checked before building any.
    let platforms = recipe.platforms();
    let full_recipe = recipe.clone();
    let recipe = recipe.for_target(&platforms[0]);
    // The source's state (git calls) is read while the toolchains are asked for their versions:
    // both are child processes, and they are most of a cache hit's time.
    let exclude = recipe.build.output.as_deref();
    let (toolchain, src) = std::thread::scope(|s| {
        let src = s.spawn(|| source::inspect(&source_dir, exclude));
        let mut toolchain = None;
        for t in &platforms {
            match builder.prerequisites(&recipe.for_target(t), &source_dir) {
                Ok(tc) => {
                    toolchain.get_or_insert(tc);
                }
                Err(e) => return (Err(e), None),
            }
        }
        (
            Ok(toolchain),
            Some(src.join().expect("source inspection panicked")),
        )
    });
    let toolchain = toolchain
        .map_err(|source| PipelineError::Prerequisite {
            app: app.clone(),
            source,
        })?
        .expect("at least one platform");
    let src = src
        .expect("inspected when the toolchains are there")
        .map_err(|source| PipelineError::BuildFailed {
            app: app.clone(),
            version: 0,
            source,
            kept: None,
        })?;
    let content_key = match &files_key {
        Some(f) => format!("{} files:{f}", src.content_key),
        None => src.content_key.clone(),
    };
    let hidden = binship_build::env::key_inputs(full_recipe.kind);
    let key_at = |v: u32| {
        let mut inputs = hidden.clone();
        inputs.extend(stamps(&full_recipe, &src, v));
        cache_key(&full_recipe, &toolchain, &content_key, &inputs)
    };

    store.ensure()?;
    let lock = store.lock(&app, || {
        progress.step(&format!("waiting for another build of {app}"))
    })?;
    store.recover(&lock)?;
    let versions = store.versions(&app)?;
    let same_key = |v: u32| {
        store
            .record(&app, v)
            .map(|r| r.cache_key == key_at(v))
            .unwrap_or(false)
    };
    let version = match req.version {
        Some(n) if versions.contains(&n) => {
            if !req.force {
                let dir = store.version_dir(&app, n);
                if same_key(n) {
                    return Ok(BuildOutcome::UpToDate {
                        record: store.record(&app, n)?,
                        dir,
                    });
                }
                return Err(PipelineError::Conflict {
                    app,
                    version: n,
                    path: dir,
                });
            }
            n
        }
        Some(n) => n,
        None => match versions.last() {
            Some(&last) if !req.force && same_key(last) => {
                return Ok(BuildOutcome::UpToDate {
                    record: store.record(&app, last)?,
                    dir: store.version_dir(&app, last),
                })
            }
            Some(&last) => last + 1,
            None => 1,
        },
    };
    cancel.check().map_err(|_| PipelineError::Interrupted)?;
    let key = key_at(version);

    let mut cache_note = None;
    if let Some(c) = cache.filter(|_| !req.force) {
        progress.step(&format!("looking up {app} in the cache {}", c.name()));
        let staging = store.stage(&lock)?;
        let fetched = c
            .fetch(&app, &key, staging.path(), cancel)
            .map_err(PipelineError::Cache)
            // Ctrl-C during the look-up or download: nothing is admitted.
            .and_then(|origin| {
                cancel
                    .check()
                    .map(|_| origin)
                    .map_err(|_| PipelineError::Interrupted)
            })
            .and_then(|origin| {
                cache::admit(
                    store,
                    &lock,
                    staging,
                    &key,
                    version,
                    origin,
                    versions.contains(&version),
                )
            });
        match fetched {
            Ok((dir, record)) => {
                return Ok(BuildOutcome::Built {
                    dir,
                    record,
                    cache: Some("hit".into()),
                })
            }
            Err(_) if cancel.is_cancelled() => return Err(PipelineError::Interrupted),
            Err(e) if req.cache_required => return Err(e),
            Err(PipelineError::Cache(f)) => {
                progress.step(&format!("cache: {}; building here", f.message));
                cache_note = Some(f.message);
            }
            Err(e) => return Err(e),
        }
    }

    let staging = store.stage(&lock)?;
    // The recipe as built (attestations name it; the app's recipe may change later).
    std::fs::copy(&recipe_path, staging.path().join(RECIPE_COPY)).map_err(|e| {
        PipelineError::Store(binship_store::StoreError::Io {
            context: "copying the recipe into",
            path: staging.path().to_path_buf(),
            source: e,
        })
    })?;
    let bin_path = staging.path().join(recipe.binary_name());
    let on_line = |l: &str| progress.line(l);
    let ctx = BuildContext {
        recipe: &recipe,
        source_dir: source_dir.clone(),
        cache_dir: store.cache_dir(&app),
        out: bin_path.clone(),
        version,
        commit: src.short_commit(),
        log: staging.path().join("build.log"),
        on_line: &on_line,
        cancel,
    };
    progress.step(&format!(
        "building {app} v.{version} for {} ({} {})",
        recipe.target, toolchain.name, toolchain.version
    ));
    let started = Instant::now();
    let built = builder
        .fetch_deps(&ctx)
        .and_then(|_| builder.build(&ctx))
        .and_then(|produced| {
            artifact::collect(
                &recipe,
                &produced,
                &bin_path,
                toolchain.clone(),
                started.elapsed(),
            )
        });
    let artifact = match built {
        Ok(a) => a,
        Err(BuildError::Interrupted) => return Err(PipelineError::Interrupted),
        Err(source) => {
            return Err(keep_build_failure(
                store, &lock, staging, app, version, source,
            ))
        }
    };
    // The command that built it: the last one build.log shows so far.
    // (the staging dir is a temp path: shown as `.`, so the record and labels stay reproducible)
    let staging_str = staging.path().display().to_string();
    let build_command = std::fs::read_to_string(staging.path().join("build.log"))
        .ok()
        .and_then(|l| {
            l.lines()
                .rev()
                .find_map(|x| x.strip_prefix("$ ").map(|c| c.replace(&staging_str, ".")))
        });
    // The other platforms, each into <os>-<arch>/.
    let mut extra = Vec::new();
    for t in &platforms[1..] {
        let r = recipe.for_target(t);
        let dir = staging.path().join(t.dir_name());
        let out = dir.join(r.binary_name());
        let ctx = BuildContext {
            recipe: &r,
            out: out.clone(),
            ..ctx.clone_for()
        };
        progress.step(&format!("building {app} v.{version} for {t}"));
        let started = Instant::now();
        let built = std::fs::create_dir_all(&dir)
            .map_err(BuildError::io(format!("creating {}", dir.display())))
            .and_then(|_| builder.build(&ctx))
            .and_then(|produced| {
                artifact::collect(&r, &produced, &out, toolchain.clone(), started.elapsed())
            });
        match built {
            Ok(a) => extra.push((t.clone(), a)),
            Err(BuildError::Interrupted) => return Err(PipelineError::Interrupted),
            Err(source) => {
                return Err(keep_build_failure(
                    store, &lock, staging, app, version, source,
                ))
            }
        }
    }

    progress.step(&format!("testing {app} v.{version}"));
    let test_log = staging.path().join("test.log");
    // The tests run in a root of their own, wherever binship was started: it holds the
    // container files at their targets (`{root}/srv/...`), and is empty without them.
    let test_root = staging.path().join("test-root");
    let prepared = std::fs::create_dir_all(&test_root)
        .map_err(|e| e.to_string())
        .and_then(|_| binship_build::files::populate(&test_root, &placed));
    if let Err(m) = prepared {
        return Err(keep_build_failure(
            store,
            &lock,
            staging,
            app,
            version,
            BuildError::Io {
                context: "preparing the test root".into(),
                source: std::io::Error::other(m),
            },
        ));
    }
    let run = |a: &binship_build::Artifact, t: &binship_recipe::Target| {
        let started = Instant::now();
        match tester::emulator_for(&t.arch) {
            Err(why) => Ok((None, Some(why.0), None, started)),
            Ok(runner) => tester::run_tests(
                &a.path,
                runner.as_deref(),
                Some(&test_root),
                &recipe.test,
                &test_log,
                cancel,
            )
            .map(|r| (Some(r), None, runner, started)),
        }
    };
    let test_started = Instant::now();
    let (report, primary_skip) = match run(&artifact, &recipe.target) {
        Ok((r, why, _, _)) => (r.unwrap_or_default(), why),
        Err(BuildError::Interrupted) => return Err(PipelineError::Interrupted),
        Err(source) => {
            return Err(keep_build_failure(
                store, &lock, staging, app, version, source,
            ))
        }
    };
    let test_duration = test_started.elapsed();
    let mut platform_records = Vec::new();
    let mut extra_failures = Vec::new();
    for (t, a) in &extra {
        let (r, why, runner, started) = match run(a, t) {
            Ok(x) => x,
            Err(BuildError::Interrupted) => return Err(PipelineError::Interrupted),
            Err(source) => {
                return Err(keep_build_failure(
                    store, &lock, staging, app, version, source,
                ))
            }
        };
        let r = r.unwrap_or_default();
        let status = match (&why, r.all_passed()) {
            (Some(_), _) => "skipped",
            (None, true) => "passed",
            (None, false) => "failed",
        };
        if status == "failed" {
            extra_failures.extend(
                r.tests
                    .iter()
                    .filter(|c| !c.passed)
                    .map(|c| format!("{t} {}: {}", c.name, c.error.as_deref().unwrap_or("failed"))),
            );
        }
        platform_records.push(binship_store::record::PlatformRecord {
            target: t.to_string(),
            path: format!("{}/{}", t.dir_name(), recipe.binary_name()),
            binary: binary_record(recipe.binary_name(), a),
            status: status.into(),
            skipped_reason: why,
            runner: runner.map(|p| {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            }),
            build_duration_ms: a.build_duration.as_millis() as u64,
            test_duration_ms: started.elapsed().as_millis() as u64,
            passed: r.passed(),
            failed: r.failed(),
            total: r.tests.len(),
            tests: r.tests,
        });
    }
    cancel.check().map_err(|_| PipelineError::Interrupted)?;
    let mut record = TestResults {
        schema_version: SCHEMA_VERSION,
        app: app.clone(),
        version,
        status: if primary_skip.is_some() {
            "skipped"
        } else if report.all_passed() {
            "passed"
        } else {
            "failed"
        }
        .into(),
        kind: recipe.kind.to_string(),
        target: recipe.target.to_string(),
        git: GitRecord {
            short: src.short_commit(),
            commit: src.commit.clone(),
            commit_time: src.commit_time.map(rfc3339),
            dirty: src.dirty,
        },
        built_at: now_rfc3339(),
        built_by: BINSHIP_VERSION.into(),
        toolchain: artifact.toolchain.clone(),
        binary: binary_record(recipe.binary_name(), &artifact),
        build_duration_ms: artifact.build_duration.as_millis() as u64,
        test_duration_ms: test_duration.as_millis() as u64,
        test_port: report.port,
        passed: report.passed(),
        failed: report.failed(),
        total: report.tests.len(),
        tests: report.tests.clone(),
        cache_key: key,
        build_command,
        files_key: files_key.clone(),
        platforms: platform_records,
        warnings: Vec::new(),
        built_on: hostname(),
        from_cache: None,
    };
    // The test root is not part of the version (a failed run keeps it for a look).
    if (primary_skip.is_some() || report.all_passed()) && extra_failures.is_empty() {
        let _ = std::fs::remove_dir_all(&test_root);
    }
    if let Some(why) = &primary_skip {
        progress.step(&format!("tests of {} skipped: {why}", recipe.target));
    }
    if (primary_skip.is_none() && !report.all_passed()) || !extra_failures.is_empty() {
        let mut failures: Vec<String> = report
            .tests
            .iter()
            .filter(|t| !t.passed)
            .map(|t| format!("{}: {}", t.name, t.error.as_deref().unwrap_or("failed")))
            .collect();
        failures.extend(extra_failures);
        let kept = store.keep_failed(&lock, staging, version, Some(&record))?;
        return Err(PipelineError::TestsFailed {
            app,
            version,
            passed: record.passed + record.platforms.iter().map(|p| p.passed).sum::<usize>(),
            total: record.total + record.platforms.iter().map(|p| p.total).sum::<usize>(),
            failures: failures.join("; "),
            kept,
            report: Box::new(report),
        });
    }
    // Scans: the recipe's scanner, then the OSV database, over every binary.
    let binaries: Vec<PathBuf> = std::iter::once(artifact.path.clone())
        .chain(extra.iter().map(|(_, a)| a.path.clone()))
        .collect();
    let osv_warn = req.osv_warn || recipe.scan.osv == binship_recipe::OsvMode::Warn;
    match scan::run(
        &recipe,
        req.osv_db.as_deref(),
        osv_warn,
        &binaries,
        staging.path(),
        cancel,
    ) {
        Ok(warnings) => {
            record.warnings = warnings;
            // Without cargo-auditable a Rust binary carries no crate list: its SBOM lists none.
            let listed = std::fs::read(&artifact.path)
                .is_ok_and(|b| binship_build::elf::has_section(&b, ".dep-v0"));
            if recipe.kind == binship_recipe::Kind::Rust && !listed {
                record.warnings.push(
                    "the binary carries no crate list, so its SBOM will list no crates: install cargo-auditable (cargo install cargo-auditable) and build again (binship then builds with `cargo auditable build`)".into(),
                );
            }
        }
        Err(BuildError::Interrupted) => return Err(PipelineError::Interrupted),
        Err(source) => {
            let kept = store.keep_failed(&lock, staging, version, Some(&record))?;
            return Err(PipelineError::ScanRefused {
                app,
                version,
                message: source.to_string(),
                kept,
            });
        }
    }
    let dir = store.admit(&lock, staging, &record, versions.contains(&version))?;
    Ok(BuildOutcome::Built {
        dir,
        record,
        cache: cache_note,
    })
}

/// This host's name (Linux: /proc/sys/kernel/hostname), recorded as `built_on`.
fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

fn binary_record(name: &str, a: &binship_build::Artifact) -> BinaryRecord {
    BinaryRecord {
        name: name.into(),
        size: a.size,
        sha256: a.sha256.clone(),
        is_static: a.info.is_static,
        arch: a.info.arch.clone(),
        pie: a.info.pie,
        stripped: a.info.stripped,
        interpreter: a.info.interpreter.clone(),
        needed: a.info.needed.clone(),
    }
}
