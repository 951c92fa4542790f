//! Benchmarks of a stored version against the previous one: [`bench`] measures the time to
//! the first ready answer (median of runs) on the host and in a container (podman or docker,
//! or a given engine; by default docker when its daemon answers, else podman), RSS after start, the binary's size and each output's image size; it
//! writes `bench.json` beside the version (and `bench.svg` with `plot`). [`FIGURES`] and
//! [`pct`] are what a report compares.

use std::path::Path;
use std::time::Duration;

use binship_build::tester::{emulator_for, measure_startup, ready_within, service_args};
use binship_pipeline::scaffold::{scaffold, ScaffoldRequest};
use binship_recipe::{Recipe, TestSettings};
use binship_store::readme::human_size;
use binship_store::Store;
use serde_json::{json, Value};

use binship_deploy::tool::{first_line, Tool};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    if v.is_empty() {
        0.0
    } else {
        v[v.len() / 2]
    }
}

fn host(binary: &Path, arch: &str, t: &TestSettings, runs: usize) -> Value {
    let runner = match emulator_for(arch) {
        Ok(r) => r,
        Err(why) => return json!({ "skipped": why.0 }),
    };
    let mut ms = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..runs {
        match measure_startup(binary, runner.as_deref(), t) {
            Ok(s) => {
                ms.push(s.ready_ms);
                rss.push(s.rss_kb as f64);
            }
            Err(e) => return json!({ "skipped": e.0 }),
        }
    }
    let samples = ms.clone();
    json!({ "ready_ms": median(&mut ms), "rss_kb": median(&mut rss) as u64, "samples_ms": samples })
}

/// Packs the version as `format` with `base` into a temp path; returns the image's size.
fn image_size(
    store: &Store,
    app: &str,
    version: u32,
    format: &str,
    base: Option<String>,
    service: Option<String>,
) -> Result<(u64, std::path::PathBuf), String> {
    let tmp = store
        .root()
        .join(".binship/tmp")
        .join(format!("{app}@bench-{}-{format}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let out = tmp.join("image");
    let o = scaffold(
        store,
        &ScaffoldRequest {
            app: app.into(),
            version,
            format: format.parse().map_err(|e| format!("{e}"))?,
            base,
            service,
            out: Some(out.clone()),
            // Sizes only: the image test is measured by scripts/bench-image-test.sh.
            no_image_test: true,
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())?;
    Ok((o.sizes.image_compressed, out))
}

fn container(
    store: &Store,
    app: &str,
    version: u32,
    t: &TestSettings,
    engine: &Tool,
    run_args: &[String],
    runs: usize,
) -> Value {
    let skip = |why: String| json!({ "engine": engine.line(), "skipped": why });
    let (_, tar) = match image_size(store, app, version, "docker-archive", None, None) {
        Ok(x) => x,
        Err(e) => return skip(e),
    };
    let eng = |args: &[&str]| engine.output(args);
    let image = format!("{app}:v.{version}");
    match eng(&["load", "-i", tar.to_str().unwrap_or("")]) {
        Ok(o) if o.status.success() => {}
        Ok(o) => return skip(format!("load: {}", engine_error(&o))),
        Err(e) => return skip(format!("{}: {e}", engine.name())),
    }
    let mut ms = Vec::new();
    let mut failure = None;
    for i in 0..runs {
        let port = match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
            Ok(a) => a.port(),
            Err(e) => {
                failure = Some(e.to_string());
                break;
            }
        };
        let (args, env) = service_args(t, port);
        let name = format!("binship-bench-{}-{i}", std::process::id());
        let mut run: Vec<String> = vec![
            "run".into(),
            "-d".into(),
            "--network".into(),
            "host".into(),
            "--name".into(),
            name.clone(),
        ];
        run.extend(run_args.iter().cloned());
        for (k, v) in env {
            run.push("-e".into());
            run.push(format!("{k}={v}"));
        }
        run.push(image.clone());
        run.extend(args);
        let started = std::time::Instant::now();
        let refs: Vec<&str> = run.iter().map(String::as_str).collect();
        match eng(&refs) {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                failure = Some(format!("run: {}", engine_error(&o)));
                let _ = eng(&["rm", "-f", &name]);
                break;
            }
            Err(e) => {
                failure = Some(e.to_string());
                break;
            }
        }
        let addr = ([127, 0, 0, 1], port).into();
        let ready = ready_within(
            addr,
            t.ready_path.as_deref(),
            Duration::from_secs(30),
            &mut || Ok(()),
        );
        let _ = eng(&["rm", "-f", &name]);
        match ready {
            Ok(_) => ms.push(started.elapsed().as_secs_f64() * 1000.0),
            Err(e) => {
                failure = Some(e.0);
                break;
            }
        }
    }
    let _ = eng(&["rmi", "-f", &image]);
    if let Some(f) = failure {
        return skip(f);
    }
    let samples = ms.clone();
    json!({ "engine": engine.name(), "ready_ms": median(&mut ms), "samples_ms": samples })
}

/// An engine's error in one line: its `Error:` line rather than a log line before it, and what
/// to do about a host quirk ([`binship_pipeline::image_test::engine_hint`]).
fn engine_error(o: &std::process::Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err
        .lines()
        .find(|l| l.trim_start().starts_with("Error") || l.contains("error:"))
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| first_line(o));
    match binship_pipeline::image_test::engine_hint(&err) {
        Some(h) => format!("{line} ({h})"),
        None => line,
    }
}

/// Measures one version.
fn measure(
    store: &Store,
    app: &str,
    version: u32,
    runs: usize,
    engine: Option<&Tool>,
    run_args: &[String],
) -> Result<Value, String> {
    let rec = store.record(app, version).map_err(|e| e.to_string())?;
    let recipe = Recipe::load(&store.recipe_path(app)).ok();
    let t = recipe.as_ref().map(|r| r.test.clone()).unwrap_or_default();
    let binary = store.version_dir(app, version).join(&rec.binary.name);
    let host = if t.service {
        host(&binary, &rec.binary.arch, &t, runs)
    } else {
        json!({ "skipped": "the recipe's test.service is false: no service to start" })
    };
    let mut images = Vec::new();
    let outputs: Vec<(String, Option<String>, Option<String>)> = match &recipe {
        Some(r) if !r.outputs.is_empty() => r
            .outputs
            .iter()
            .map(|o| (o.format.clone(), o.base.clone(), o.service.clone()))
            .collect(),
        _ => vec![("docker-archive".into(), None, None)],
    };
    for (format, base, service) in outputs {
        let name = format!(
            "{format} {}",
            base.clone().unwrap_or_else(|| recipe
                .as_ref()
                .map(|r| r.container.base.clone())
                .unwrap_or_else(|| "static".into()))
        );
        match image_size(store, app, version, &format, base, service) {
            Ok((bytes, _)) => images.push(json!({ "output": name, "bytes": bytes })),
            Err(e) => images.push(json!({ "output": name, "skipped": e })),
        }
    }
    let _ = std::fs::read_dir(store.root().join(".binship/tmp")).map(|rd| {
        for e in rd.flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{app}@bench-{}", std::process::id()))
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    });
    let container = match engine {
        Some(e) if t.service => container(store, app, version, &t, e, run_args, runs),
        Some(_) => json!({ "skipped": "the recipe's test.service is false" }),
        None => {
            json!({ "skipped": "no container engine (podman or docker) on PATH, or --engine none" })
        }
    };
    Ok(json!({
        "app": app,
        "version": version,
        "measured_at": binship_store::record::now_rfc3339(),
        "runs": runs,
        "binary_bytes": rec.binary.size,
        "host": host,
        "container": container,
        "images": images,
    }))
}

/// The change from `old` to `new` in percent (`None` when `old` is 0).
pub fn pct(new: f64, old: f64) -> Option<f64> {
    (old > 0.0).then(|| ((new - old) / old * 1000.0).round() / 10.0)
}

/// The figures compared: (label, JSON pointer, unit).
/// The figures a report compares: (label, JSON pointer into a bench document, unit).
pub const FIGURES: &[(&str, &str, &str)] = &[
    ("start-up (host)", "/host/ready_ms", "ms"),
    ("RSS (host)", "/host/rss_kb", "kB"),
    ("start-up (container)", "/container/ready_ms", "ms"),
    ("binary", "/binary_bytes", "B"),
];

/// A figure for people: bytes as sizes, milliseconds with one decimal, `-` when missing.
pub fn show(v: Option<f64>, unit: &str) -> String {
    match v {
        None => "-".into(),
        Some(x) => match unit {
            "B" => human_size(x as u64),
            "kB" => human_size((x * 1024.0) as u64),
            _ => format!("{x:.1} ms"),
        },
    }
}

/// How to benchmark.
#[derive(Debug, Clone, Default)]
pub struct BenchOptions {
    /// Start-ups measured per figure (at least 1).
    pub runs: usize,
    /// The container engine's command line; `none` for none; default docker when its daemon answers, else podman.
    pub engine: Option<String>,
    /// Extra `run` arguments for the engine.
    pub run_args: Option<String>,
    /// Also write `bench.svg` over every benchmarked version.
    pub plot: bool,
}

/// A benchmark: this version's document (with `previous` and `change_pct` when there is a
/// previous version), where it was written, and the plot.
#[derive(Debug, Clone)]
pub struct Bench {
    pub now: Value,
    pub previous: Option<Value>,
    /// `bench.json` of the version.
    pub path: std::path::PathBuf,
    pub plot: Option<std::path::PathBuf>,
}

/// Why a benchmark failed: one line naming what failed (packing, starting, writing
/// `bench.json`). Exit class: other (1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BenchError(pub String);

/// Benchmarks `app` v.`v` (and the previous version when it has no `bench.json` yet).
///
/// # Errors
/// [`BenchError`].
pub fn bench(store: &Store, app: &str, v: u32, opts: &BenchOptions) -> Result<Bench, BenchError> {
    bench_version(store, app, v, opts).map_err(BenchError)
}

fn bench_version(store: &Store, app: &str, v: u32, opts: &BenchOptions) -> Result<Bench, String> {
    let runs = opts.runs.max(1);
    let engine: Option<Tool> = match opts.engine.as_deref() {
        Some("none") => None,
        Some(e) => Some(Tool::parse(e)),
        // The engine that answers: docker when its daemon does, else podman (daemonless).
        None => ["docker", "podman"]
            .iter()
            .find(|e| {
                which(e)
                    && Tool::parse(e)
                        .output(&["info"])
                        .is_ok_and(|o| o.status.success())
            })
            .map(|e| Tool::parse(e)),
    };
    let run_args: Vec<String> = opts
        .run_args
        .as_deref()
        .map(|a| binship_recipe::shell_words("--engine-run-args", a))
        .transpose()?
        .unwrap_or_default();
    let mut now = measure(store, app, v, runs, engine.as_ref(), &run_args)?;
    // The previous version: its bench.json, else measured now (and kept beside it).
    let prev_v = store
        .versions(app)
        .unwrap_or_default()
        .into_iter()
        .rev()
        .find(|x| *x < v);
    let prev: Option<Value> = prev_v.and_then(|p| {
        let path = store.version_dir(app, p).join("bench.json");
        std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .map(|mut x| {
                x.as_object_mut().map(|o| o.remove("previous"));
                x
            })
            .or_else(|| {
                let m = measure(store, app, p, runs, engine.as_ref(), &run_args).ok()?;
                let _ = std::fs::write(&path, serde_json::to_string_pretty(&m).ok()? + "\n");
                Some(m)
            })
    });
    if let Some(p) = &prev {
        let mut change = serde_json::Map::new();
        for (label, ptr, _) in FIGURES {
            if let (Some(a), Some(b)) = (
                now.pointer(ptr).and_then(Value::as_f64),
                p.pointer(ptr).and_then(Value::as_f64),
            ) {
                change.insert((*label).into(), json!(pct(a, b)));
            }
        }
        now["previous"] = p.clone();
        now["change_pct"] = Value::Object(change);
    }
    let path = store.version_dir(app, v).join("bench.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&now).expect("json") + "\n",
    )
    .map_err(|e| format!("writing {}: {e}", path.display()))?;
    let plot = if opts.plot {
        Some(plot_svg(store, app)?)
    } else {
        None
    };
    Ok(Bench {
        now,
        previous: prev,
        path,
        plot,
    })
}

fn which(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// An SVG with one panel per figure, a point per benchmarked version.
fn plot_svg(store: &Store, app: &str) -> Result<std::path::PathBuf, String> {
    let mut points: Vec<(u32, Value)> = Vec::new();
    for v in store.versions(app).unwrap_or_default() {
        if let Some(b) = std::fs::read(store.version_dir(app, v).join("bench.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        {
            points.push((v, b));
        }
    }
    let (w, ph, pad) = (640.0, 140.0, 40.0);
    let panels: Vec<(&str, &str, &str)> = FIGURES.to_vec();
    let h = pad + panels.len() as f64 * (ph + pad);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{pad}\" y=\"20\" font-size=\"14\">{app}: benchmark by version (binship bench)</text>\n"
    );
    for (i, (label, ptr, unit)) in panels.iter().enumerate() {
        let top = pad + i as f64 * (ph + pad);
        let vals: Vec<(u32, f64)> = points
            .iter()
            .filter_map(|(v, b)| b.pointer(ptr).and_then(Value::as_f64).map(|x| (*v, x)))
            .collect();
        svg += &format!("<text x=\"{pad}\" y=\"{}\">{label}</text>\n", top - 6.0);
        svg += &format!(
            "<rect x=\"{pad}\" y=\"{top}\" width=\"{}\" height=\"{ph}\" fill=\"none\" stroke=\"#ccc\"/>\n",
            w - 2.0 * pad
        );
        if vals.is_empty() {
            svg += &format!(
                "<text x=\"{}\" y=\"{}\" fill=\"#999\">no data</text>\n",
                pad + 10.0,
                top + ph / 2.0
            );
            continue;
        }
        let max = vals
            .iter()
            .map(|(_, x)| *x)
            .fold(0.0_f64, f64::max)
            .max(1e-9);
        let n = vals.len().max(2) as f64 - 1.0;
        let xy: Vec<(f64, f64, u32, f64)> = vals
            .iter()
            .enumerate()
            .map(|(k, (v, x))| {
                let px = pad + 20.0 + (w - 2.0 * pad - 40.0) * (k as f64 / n);
                let py = top + ph - 15.0 - (ph - 30.0) * (x / max);
                (px, py, *v, *x)
            })
            .collect();
        let poly: Vec<String> = xy
            .iter()
            .map(|(x, y, _, _)| format!("{x:.1},{y:.1}"))
            .collect();
        svg += &format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#2a6fdb\" stroke-width=\"2\"/>\n",
            poly.join(" ")
        );
        for (x, y, v, val) in xy {
            svg += &format!(
                "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"#2a6fdb\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">v.{v}: {}</text>\n",
                y - 8.0,
                show(Some(val), unit)
            );
        }
    }
    svg += "</svg>\n";
    // Beside the newest benchmarked version's bench.json (the recipe's dir is the user's).
    let newest = points.last().map_or(0, |(v, _)| *v);
    let path = store.version_dir(app, newest).join("bench.svg");
    std::fs::write(&path, svg).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(path)
}
