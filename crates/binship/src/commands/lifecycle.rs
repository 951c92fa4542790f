//! Moving between versions: `promote`, `rollback` (re-tagging published images), `history`,
//! `gc` and `update` (rebuild what changed, re-scaffold the recipe's outputs, promote).

use binship_lifecycle::update::UpdateOptions;
use binship_lifecycle::LifecycleError;
use binship_publish::RegistryOptions;
use binship_store::Store;
use serde_json::json;

use crate::exit;
use crate::progress::{BlobBars, Spinner};

type Failure = (i32, String);

fn fail(json_mode: bool, (code, m): Failure) -> i32 {
    crate::output::fail(json_mode, code, &m)
}

/// A library error as (exit code, message).
fn failure(e: LifecycleError) -> Failure {
    (e.class().exit_code(), e.to_string())
}

pub fn promote(store: &Store, json_mode: bool, app: &str, version: &str) -> i32 {
    let r = binship_lifecycle::check_app(store, app)
        .map_err(failure)
        .and_then(|_| {
            binship_pipeline::plan::parse_version(version).map_err(|e| (exit::USAGE, e.to_string()))
        })
        .and_then(|v| binship_lifecycle::promote(store, app, v).map_err(failure));
    match r {
        Ok(e) => {
            if json_mode {
                crate::output::json(&json!(binship_lifecycle::Promoted::new(app, &e)));
            } else {
                say!(
                    "✓ {app}: current v.{}{}",
                    e.to,
                    e.from.map(|f| format!(" (was v.{f})")).unwrap_or_default()
                );
            }
            exit::OK
        }
        Err(f) => fail(json_mode, f),
    }
}

pub fn rollback(store: &Store, json_mode: bool, app: &str, insecure: bool) -> i32 {
    match binship_lifecycle::rollback(store, app, insecure) {
        Ok(r) => {
            for w in &r.warnings {
                eprintln!("warning: {w}");
            }
            let e = &r.event;
            if json_mode {
                crate::output::json(&json!(binship_lifecycle::RolledBack::new(app, &r)));
            } else {
                for s in &r.skipped {
                    eprintln!("  skipped: {s}");
                }
                say!(
                    "✓ {app}: rolled back to v.{}{}",
                    e.to,
                    e.from.map(|f| format!(" (was v.{f})")).unwrap_or_default()
                );
                for t in &r.retagged {
                    say!("✓ Re-tagged: {t}");
                }
            }
            exit::OK
        }
        Err(e) => fail(json_mode, failure(e)),
    }
}

pub fn history(store: &Store, json_mode: bool, app: &str) -> i32 {
    let h = match binship_lifecycle::history(store, app) {
        Ok(h) => h,
        Err(e) => return fail(json_mode, failure(e)),
    };
    if json_mode {
        crate::output::json(&json!(h));
    } else {
        for e in &h.history {
            println!(
                "{}  {:<8} {} -> v.{}{}",
                e.at,
                e.action,
                e.from
                    .map(|f| format!("v.{f}"))
                    .unwrap_or_else(|| "-".into()),
                e.to,
                e.reason
                    .as_deref()
                    .map(|r| format!("  ({r})"))
                    .unwrap_or_default()
            );
        }
        match h.current {
            Some(c) => println!("current: v.{c}"),
            None => println!("current: not set (latest is used)"),
        }
    }
    exit::OK
}

/// `gc --cache`: binship-publish's cache `gc`, a dry run unless `apply`.
pub fn gc_cache(store: &Store, json_mode: bool, older_than: &str, apply: bool) -> i32 {
    use binship_publish::cache;
    let found = cache::parse_age(older_than).and_then(|age| cache::gc(store, age, apply));
    let found = match found {
        Ok(f) => f,
        Err(e) => return crate::output::fail_class(json_mode, e.class, &e.message),
    };
    if json_mode {
        crate::output::json(
            &json!({"status": if apply { "removed" } else { "dry_run" }, "caches": found}),
        );
        return exit::OK;
    }
    if found.is_empty() {
        match std::env::var(cache::ENV) {
            Ok(v) if v.trim().eq_ignore_ascii_case("off") => {
                eprintln!("${} is `off`: no shared cache to collect", cache::ENV)
            }
            _ => eprintln!(
                "no recipe names a shared cache ([cache] registry) and ${} is not set",
                cache::ENV
            ),
        }
    }
    for c in &found {
        say!("{}: {} entries", c.cache, c.entries.len());
        for e in &c.entries {
            match &e.kept {
                Some(why) => println!("  keep   {} {} ({why})", e.app, e.tag),
                None => println!(
                    "  {} {} {} (built {} on {})",
                    if apply { "removed" } else { "remove" },
                    e.app,
                    e.tag,
                    e.created,
                    e.built_on.as_deref().unwrap_or("?")
                ),
            }
        }
    }
    if !apply {
        eprintln!("dry run: nothing was removed (binship gc --cache --apply removes)");
    }
    exit::OK
}

pub fn gc(store: &Store, json_mode: bool, app: Option<&str>, keep: usize, apply: bool) -> i32 {
    let plans = match binship_lifecycle::gc(store, app, keep, apply) {
        Ok(p) => p,
        Err(e) => return fail(json_mode, failure(e)),
    };
    if json_mode {
        crate::output::json(&json!(binship_lifecycle::Collected::new(
            apply,
            plans.clone()
        )));
    } else {
        for p in &plans {
            for k in &p.kept {
                println!("  keep   {} v.{}  ({})", p.app, k.version, k.why);
            }
            for r in &p.removed {
                println!(
                    "  {} {} v.{r}",
                    if apply { "removed" } else { "remove" },
                    p.app
                );
            }
        }
        if !apply {
            eprintln!("dry run: nothing was removed (binship gc --apply removes)");
        }
    }
    exit::OK
}

/// What `update` was asked.
pub struct UpdateRun<'a> {
    pub app: Option<&'a str>,
    pub key: Option<&'a crate::cli::KeyArgs>,
    pub sbom: bool,
    pub jobs: usize,
    pub no_cache: bool,
}

/// `update [APP | --all]`: binship-lifecycle's `update`, with a spinner and upload bars.
pub fn update(store: &Store, json_mode: bool, run: &UpdateRun, registry: &RegistryOptions) -> i32 {
    let (app, sbom) = (run.app, run.sbom);
    // A wrong password must not cost a build.
    let key = match run.key.map(crate::keys::unlock).transpose() {
        Ok(k) => k,
        Err(m) => return fail(json_mode, (exit::USAGE, m)),
    };
    let spinner = Spinner::new();
    let bars = BlobBars::new(!json_mode, "uploading");
    let opts = UpdateOptions {
        app: app.map(str::to_string),
        key: key.as_ref(),
        sbom,
        registry: registry.clone(),
        build_progress: Some(&spinner),
        push_progress: Some(&bars),
        jobs: run.jobs,
        no_cache: run.no_cache,
    };
    let updated = binship_lifecycle::update::update(store, &opts);
    spinner.finish();
    let u = match updated {
        Ok(u) => u,
        Err(e) => return fail(json_mode, failure(e)),
    };
    if json_mode {
        crate::output::json(&json!(u));
    } else {
        for s in &u.apps {
            crate::output::warnings(&s.warnings);
            let (app, v) = (&s.app, s.version.unwrap_or(0));
            match s.status {
                "up_to_date" => say!("✓ {app}: up to date (current v.{v}); nothing to do"),
                "updated" | "promoted" => {
                    if s.status == "updated" {
                        say!("✓ {app}: v.{v} built, tested and made current");
                    } else {
                        say!("✓ {app}: v.{v} (built before, up to date) made current");
                    }
                    for o in &s.outputs {
                        say!("  ✓ {o}");
                    }
                    match s.cache.as_deref() {
                        Some("hit") => say!("  ✓ from the shared cache"),
                        Some("pushed") => say!("  ✓ published to the shared cache"),
                        Some("present" | "raced" | "from-cache" | "not-pushed") | None => {}
                        Some(why) => eprintln!("  cache: {why}; built here"),
                    }
                }
                _ => eprintln!("error: {app}: {}", s.error.as_deref().unwrap_or("")),
            }
        }
    }
    u.failure.map_or(exit::OK, |e| e.class().exit_code())
}
