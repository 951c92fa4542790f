//! Moving between versions: `promote`, `rollback` (re-tagging published images), `history`,
//! `gc` and `update` (rebuild what changed, re-scaffold the recipe's outputs, promote).

use std::path::{Path, PathBuf};

use binship_build::Cancel;
use binship_lifecycle::LifecycleError;
use binship_pipeline::scaffold::{scaffold, ScaffoldRequest};
use binship_pipeline::{BuildOutcome, BuildRequest};
use binship_recipe::{validate_app_name, Recipe};
use binship_registry::Reference;
use binship_store::Store;
use serde_json::json;

use crate::commands::push::RegistryFlags;
use crate::exit;
use crate::progress::Spinner;

type Failure = (i32, String);

fn fail(json_mode: bool, (code, m): Failure) -> i32 {
    crate::output::fail(json_mode, code, &m)
}

/// A library error as (exit code, message).
fn failure(e: LifecycleError) -> Failure {
    (exit::code(e.class()), e.to_string())
}

fn unfit(store: &Store, app: &str, version: u32) -> Option<Failure> {
    binship_lifecycle::unfit(store, app, version).map(failure)
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
                println!(
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
                println!(
                    "✓ {app}: rolled back to v.{}{}",
                    e.to,
                    e.from.map(|f| format!(" (was v.{f})")).unwrap_or_default()
                );
                for t in &r.retagged {
                    println!("✓ Re-tagged: {t}");
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

/// Where an output goes.
fn destination(recipe_dir: &Path, d: &str) -> Result<Result<PathBuf, String>, String> {
    match d.strip_prefix("docker://") {
        Some(r) => Reference::parse(r, "v.1")
            .map(|_| Err(r.to_string()))
            .map_err(|e| e.to_string()),
        None => Ok(Ok(recipe_dir.join(d))),
    }
}

/// What `update` does to each new version besides building it.
#[derive(Debug, Default)]
pub struct UpdateExtras {
    /// Sign it with this key (unlocked before anything is built).
    pub sign: Option<crate::cli::KeyArgs>,
    pub sbom: bool,
}

pub fn update(
    store: &Store,
    json_mode: bool,
    app: Option<&str>,
    flags: &RegistryFlags,
    extras: &UpdateExtras,
) -> i32 {
    // One update at a time.
    if let Err(e) = store.ensure() {
        return fail(json_mode, (exit::OTHER, e.to_string()));
    }
    // A wrong password must not cost a build.
    let key = match extras
        .sign
        .as_ref()
        .map(crate::commands::supply::unlock)
        .transpose()
    {
        Ok(k) => k,
        Err(f) => return fail(json_mode, f),
    };
    let lock_path = store.root().join(".binship/locks/update.lock");
    let lock = match std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
    {
        Ok(f) => f,
        Err(e) => {
            return fail(
                json_mode,
                (exit::OTHER, format!("{}: {e}", lock_path.display())),
            )
        }
    };
    if lock.try_lock().is_err() {
        return fail(
            json_mode,
            (
                exit::CONFLICT,
                format!(
                    "another binship update is running (it holds {})",
                    lock_path.display()
                ),
            ),
        );
    }
    let apps: Vec<String> = match app {
        Some(a) => vec![a.to_string()],
        None => store
            .apps()
            .unwrap_or_default()
            .into_iter()
            .filter(|a| store.recipe_path(a).is_file())
            .collect(),
    };
    let mut summary = Vec::new();
    let mut code = exit::OK;
    for a in &apps {
        let r = update_one(store, a, flags, json_mode, key.as_ref(), extras.sbom);
        let ok = r.is_ok();
        summary.push(match r {
            Ok(doc) => doc,
            Err((c, m)) => {
                code = c;
                json!({ "app": a, "status": "failed", "error": m })
            }
        });
        if !ok {
            break; // stop at the first failure; current stays where it was
        }
    }
    if json_mode {
        crate::output::json(
            &json!({ "status": if code == exit::OK { "ok" } else { "failed" }, "apps": summary }),
        );
    } else {
        for s in &summary {
            let app = s["app"].as_str().unwrap_or("");
            match s["status"].as_str() {
                Some("up_to_date") => println!(
                    "✓ {app}: up to date (current v.{}); nothing to do",
                    s["version"]
                ),
                Some("updated") => {
                    println!("✓ {app}: v.{} built, tested and promoted", s["version"]);
                    for o in s["outputs"].as_array().into_iter().flatten() {
                        println!("  ✓ {}", o.as_str().unwrap_or(""));
                    }
                }
                _ => eprintln!("error: {app}: {}", s["error"].as_str().unwrap_or("")),
            }
        }
    }
    code
}

fn update_one(
    store: &Store,
    app: &str,
    flags: &RegistryFlags,
    json_mode: bool,
    key: Option<&binship_sign::SecretKey>,
    sbom: bool,
) -> Result<serde_json::Value, Failure> {
    validate_app_name(app).map_err(|m| (exit::USAGE, m))?;
    let recipe_path = store.recipe_path(app);
    let recipe = Recipe::load(&recipe_path).map_err(|e| (exit::USAGE, e.to_string()))?;
    let spinner = Spinner::new();
    let built = binship_pipeline::build(
        store,
        &BuildRequest {
            app: app.into(),
            ..Default::default()
        },
        &spinner,
        &Cancel::new(),
    );
    spinner.finish();
    let outcome = built.map_err(|e| (exit::code(e.class()), e.to_string()))?;
    let version = outcome.record().version;
    let current = store.current(app).ok().flatten();
    if matches!(outcome, BuildOutcome::UpToDate { .. }) && current == Some(version) {
        return Ok(json!({ "app": app, "status": "up_to_date", "version": version }));
    }
    // Signed (and described) before any output is made from it.
    let done = crate::commands::supply::sign_and_describe(store, app, version, key, sbom)
        .map_err(|(c, m)| (c, format!("v.{version} {m}")))?;
    let signed = done.get("signatures").cloned().unwrap_or_else(|| json!([]));
    // Every declared output, then the pointer.
    let recipe_dir = recipe_path.parent().unwrap_or(Path::new("."));
    let mut outputs = Vec::new();
    for o in &recipe.outputs {
        let dest = destination(recipe_dir, &o.destination).map_err(|m| {
            (
                exit::USAGE,
                format!("{}: outputs: {m}", recipe_path.display()),
            )
        })?;
        let format = o.format.parse().map_err(|e| {
            (
                exit::USAGE,
                format!("{}: outputs: {e}", recipe_path.display()),
            )
        })?;
        let req = ScaffoldRequest {
            app: app.into(),
            version,
            format,
            base: o.base.clone(),
            service: o.service.clone(),
            platform: o.platform.clone(),
            force: true,
            out: dest.as_ref().ok().cloned(),
            ..Default::default()
        };
        match dest {
            Ok(path) => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        (exit::OTHER, format!("creating {}: {e}", parent.display()))
                    })?;
                }
                scaffold(store, &req).map_err(|e| (exit::code(e.class()), e.to_string()))?;
                outputs.push(format!("{} {}", o.format, path.display()));
            }
            Err(reference) => {
                let to = Reference::parse(&reference, &format!("v.{version}"))
                    .map_err(|e| (exit::USAGE, e.to_string()))?;
                let p = crate::commands::push::pack_and_push(store, req, &to, flags, json_mode)
                    .map_err(|(c, m)| (exit::code(c), m))?;
                outputs.push(format!("pushed {} ({})", p.reference, p.manifest_digest));
            }
        }
    }
    if let Some(f) = unfit(store, app, version) {
        return Err(f);
    }
    let lock = store
        .lock(app, || {})
        .map_err(|e| (exit::OTHER, e.to_string()))?;
    store
        .set_current(&lock, version, "update", Some("binship update".into()))
        .map_err(|e| (exit::OTHER, e.to_string()))?;
    Ok(
        json!({ "app": app, "status": "updated", "version": version, "previous": current, "outputs": outputs, "signatures": signed }),
    )
}
