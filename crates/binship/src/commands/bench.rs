//! `binship bench APP [N]`: what a version costs, next to the previous one — start-up time to
//! the first ready answer on the host and in a container, RSS after start, binary size and the
//! size of each image the recipe declares. Writes `bench.json` into the version dir (a sidecar)
//! and, with `--plot`, `bench.svg` (beside the version's `bench.json`) over every benchmarked version.

use binship_bench::{bench, show, BenchOptions, FIGURES};
use binship_store::Store;
use serde_json::{json, Value};

use crate::cli::BenchArgs;
use crate::exit;
use crate::output::error;
use binship_lifecycle::app_version;

pub fn run(store: &Store, json_mode: bool, a: &BenchArgs) -> i32 {
    let spec = a
        .version
        .as_ref()
        .map_or_else(|| a.app.clone(), |v| format!("{}:{v}", a.app));
    let (app, v) = match app_version(store, &spec) {
        Ok(x) => x,
        Err((c, m)) => return crate::output::fail_class(json_mode, c, &m),
    };
    // Checked here (bench's errors are all "other"): bad quoting is bad input.
    if let Some(Err(m)) = a
        .engine_run_args
        .as_deref()
        .map(|r| binship_recipe::shell_words("--engine-run-args", r))
    {
        return crate::output::fail_class(json_mode, binship_pipeline::ErrorClass::Usage, &m);
    }
    let opts = BenchOptions {
        runs: a.runs,
        engine: a.engine.clone(),
        run_args: a.engine_run_args.clone(),
        plot: a.plot,
    };
    let b = match bench(store, &app, v, &opts) {
        Ok(b) => b,
        Err(m) => {
            error(json_mode, "error", &m.to_string(), json!({}));
            return exit::OTHER;
        }
    };
    let (now, prev, path, svg) = (&b.now, &b.previous, &b.path, &b.plot);
    if json_mode {
        let mut out = now.clone();
        out["path"] = json!(path);
        if let Some(s) = svg {
            out["plot"] = json!(s);
        }
        crate::output::json(&out);
        return exit::OK;
    }
    let pv = prev.as_ref().and_then(|p| p["version"].as_u64());
    println!(
        "{:<30} {:>12} {:>12} {:>8}",
        app,
        format!("v.{v}"),
        pv.map(|p| format!("v.{p}")).unwrap_or_else(|| "-".into()),
        "change"
    );
    let mut rows: Vec<(String, Option<f64>, Option<f64>, &str)> = FIGURES
        .iter()
        .map(|(label, ptr, unit)| {
            (
                label.to_string(),
                now.pointer(ptr).and_then(Value::as_f64),
                prev.as_ref()
                    .and_then(|p| p.pointer(ptr))
                    .and_then(Value::as_f64),
                *unit,
            )
        })
        .collect();
    for img in now["images"].as_array().into_iter().flatten() {
        let name = img["output"].as_str().unwrap_or("");
        let old = prev.as_ref().and_then(|p| {
            p["images"]
                .as_array()?
                .iter()
                .find(|x| x["output"] == name)
                .and_then(|x| x["bytes"].as_f64())
        });
        rows.push((format!("image {name}"), img["bytes"].as_f64(), old, "B"));
    }
    for (label, a, b, unit) in rows {
        let change = match (a, b) {
            (Some(a), Some(b)) => binship_bench::pct(a, b)
                .map(|c| format!("{c:+.1}%"))
                .unwrap_or_default(),
            _ => String::new(),
        };
        println!(
            "{label:<30} {:>12} {:>12} {change:>8}",
            show(a, unit),
            show(b, unit)
        );
    }
    for k in ["host", "container"] {
        if let Some(why) = now[k]["skipped"].as_str() {
            eprintln!("  {k}: skipped: {why}");
        }
    }
    say!("✓ {}", crate::output::display_path(path).display());
    if let Some(s) = svg {
        say!("✓ {}", crate::output::display_path(s).display());
    }
    exit::OK
}
