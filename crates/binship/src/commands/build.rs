//! `binship build <app> [N]`: build, test and store one version.

use binship_build::Cancel;
use binship_pipeline::{BuildOutcome, BuildRequest, PipelineError};
use binship_store::readme::human_size;
use binship_store::Store;
use serde_json::json;

use crate::exit;
use crate::output::{display_path, error};
use crate::progress::Spinner;

/// What `build` does besides building.
#[derive(Debug, Default)]
pub struct Extras {
    pub force: bool,
    /// Sign the version with this key.
    pub sign: Option<crate::cli::KeyArgs>,
    pub sbom: bool,
    pub osv_db: Option<std::path::PathBuf>,
    pub osv_warn: bool,
    /// Neither ask nor fill the shared cache.
    pub no_cache: bool,
    /// Fail instead of building here when the cache gives nothing.
    pub cache_required: bool,
}

pub fn run(
    store: &Store,
    json_mode: bool,
    app: &str,
    version: Option<&str>,
    x: &Extras,
    cancel: &Cancel,
) -> i32 {
    let version = match version
        .map(binship_pipeline::plan::parse_version)
        .transpose()
    {
        Ok(v) => v,
        Err(m) => {
            error(json_mode, "usage", &m.to_string(), json!({}));
            return exit::USAGE;
        }
    };
    // A bad OSV database is bad input, found before anything is built.
    if let Some(dir) = &x.osv_db {
        if let Err(e) = binship_sign::osv::OsvDb::load(dir) {
            error(json_mode, "usage", &e.to_string(), json!({}));
            return exit::USAGE;
        }
    }
    // The key is unlocked first: a wrong password must not cost a build.
    let key = match x.sign.as_ref().map(crate::keys::unlock).transpose() {
        Ok(k) => k,
        Err(m) => {
            error(json_mode, "usage", &m, json!({}));
            return exit::USAGE;
        }
    };
    let cache = if x.no_cache {
        None
    } else {
        match binship_publish::cache::RegistryCache::for_app(store, app) {
            Ok(c) => c,
            // A missing or bad recipe: the build says it, with its exit code.
            Err(_) if !x.cache_required => None,
            Err(e) => return crate::output::fail_class(json_mode, e.class, &e.message),
        }
    };
    if x.cache_required && cache.is_none() {
        let m = format!(
            "--cache-required: {app} has no shared cache (set [cache] registry in its recipe, or ${})",
            binship_publish::cache::ENV
        );
        error(json_mode, "usage", &m, json!({}));
        return exit::USAGE;
    }
    let req = BuildRequest {
        app: app.into(),
        version,
        force: x.force,
        osv_db: x.osv_db.clone(),
        osv_warn: x.osv_warn,
        cache_required: x.cache_required,
    };
    let spinner = Spinner::new();
    let remote = cache
        .as_ref()
        .map(|c| c as &dyn binship_pipeline::cache::RemoteCache);
    let result = binship_pipeline::build_cached(store, &req, remote, &spinner, cancel);
    spinner.finish();
    match result {
        Ok(outcome) => {
            let r = outcome.record();
            match binship_publish::supply::sign_and_describe(
                store,
                &r.app,
                r.version,
                key.as_ref(),
                x.sbom,
            ) {
                Ok(mut extra) => {
                    // Signed (when asked) and tested: a version built here goes to the shared
                    // cache; an up-to-date one again (an earlier publish may have failed; the
                    // check before the push makes it one look-up when the entry is there).
                    let built_here = r.from_cache.is_none();
                    if let Some(c) = cache.as_ref().filter(|c| c.push && built_here) {
                        extra["cache_publish"] = match c.publish(store, &r.app, r.version) {
                            Ok(p) => json!(p),
                            Err(e) => json!({"status": "failed", "note": e.message}),
                        };
                    }
                    report(&outcome, json_mode, extra);
                    exit::OK
                }
                Err(e) => crate::output::fail_class(json_mode, e.class, &e.message),
            }
        }
        Err(e) => {
            fail(&e, json_mode);
            exit::code(e.class())
        }
    }
}

fn report(outcome: &BuildOutcome, json_mode: bool, extra: serde_json::Value) {
    let r = outcome.record();
    let binary = outcome.dir().join(&r.binary.name);
    let up_to_date = matches!(outcome, BuildOutcome::UpToDate { .. });
    if json_mode {
        let mut v = outcome.answer();
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        crate::output::json(&v);
        return;
    }
    if let Some(c) = &r.from_cache {
        say_err!(
            "✓ From cache: {} (v.{} there), built on {} at {}, tests passed there",
            c.reference,
            c.version,
            r.built_on.as_deref().unwrap_or("an unnamed host"),
            r.built_at
        );
    }
    if let BuildOutcome::Built {
        cache: Some(why), ..
    } = outcome
    {
        if r.from_cache.is_none() {
            eprintln!("cache: {why}; built here");
        }
    }
    let p = &extra["cache_publish"];
    match p["status"].as_str() {
        Some("pushed") => say_err!(
            "✓ Cache: pushed {} ({})",
            p["reference"].as_str().unwrap_or(""),
            p["manifest_digest"].as_str().unwrap_or("")
        ),
        Some("present") => say_err!(
            "✓ Cache: {} already holds this build",
            p["reference"].as_str().unwrap_or("")
        ),
        Some(_) => eprintln!("notice: cache: {}", p["note"].as_str().unwrap_or("")),
        None => {}
    }
    for s in extra["signatures"].as_array().into_iter().flatten() {
        say_err!("✓ Signed: {}", s.as_str().unwrap_or(""));
    }
    for s in extra["sboms"].as_array().into_iter().flatten() {
        say_err!(
            "✓ SBOM: {} and {} ({} {})",
            s["spdx"].as_str().unwrap_or(""),
            s["cyclonedx"].as_str().unwrap_or(""),
            s["source"].as_str().unwrap_or(""),
            s["toolchain"].as_str().unwrap_or("")
        );
    }
    if up_to_date {
        println!("up to date: v.{}", r.version);
    }
    say!("✓ Binary: {}", display_path(&binary).display());
    let commit = match (&r.git.commit, r.git.dirty) {
        (None, _) => "not in git".to_string(),
        (Some(_), false) => format!("commit {} (clean)", r.git.short),
        (Some(_), true) => format!("commit {} (dirty)", r.git.short),
    };
    say!(
        "✓ Size: {}   ✓ Static: {}   ✓ Tests: {}/{} passed   {}",
        human_size(r.binary.size),
        if r.binary.is_static { "yes" } else { "no" },
        r.passed,
        r.total,
        commit
    );
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    if r.status == "skipped" {
        eprintln!(
            "warning: {} was not tested here (no emulator for linux/{})",
            r.target, r.binary.arch
        );
    }
    for p in &r.platforms {
        let tests = match p.status.as_str() {
            "skipped" => format!(
                "tests skipped: {}",
                p.skipped_reason.as_deref().unwrap_or("")
            ),
            _ => format!(
                "Tests: {}/{} passed{}",
                p.passed,
                p.total,
                p.runner
                    .as_deref()
                    .map(|r| format!(" (through {r})"))
                    .unwrap_or_default()
            ),
        };
        say!(
            "✓ {}: {} ({})   {tests}",
            p.target,
            p.path,
            human_size(p.binary.size)
        );
        if p.status == "skipped" {
            eprintln!(
                "warning: {} v.{} for {} was not tested",
                r.app, r.version, p.target
            );
        }
    }
}

fn fail(e: &PipelineError, json_mode: bool) {
    error(json_mode, e.class().name(), &e.to_string(), e.details());
    if let PipelineError::TestsFailed { report, .. } = e {
        for t in &report.tests {
            let mark = if t.passed { "✓" } else { "✗" };
            say_err!(
                "  {mark} {}{}",
                t.name,
                t.error
                    .as_ref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            );
        }
    }
    if let (PipelineError::BuildFailed { .. }, Some(kept)) = (e, e.kept()) {
        if let Ok(log) = std::fs::read_to_string(kept.join("build.log")) {
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "--- last lines of {} ---",
                display_path(&kept.join("build.log")).display()
            );
            for l in &lines[lines.len().saturating_sub(15)..] {
                eprintln!("{l}");
            }
        }
    }
}
