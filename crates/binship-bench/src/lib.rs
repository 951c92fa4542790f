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

use binship_deploy::tool::{engine_error, Tool};

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
                binship_build::process::which(e).is_some()
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

/// One chart panel: its title, the unit of its y axis, and its series (name, pointer into a
/// bench document, factor from the document's unit to the axis's).
type Panel = (&'static str, &'static str, Vec<(String, String, f64)>);

/// The panels of [`plot_svg`]: start-up (host and container, ms), memory (RSS, MB) and sizes
/// (the binary and each output's image, MB): every series of the table `bench` prints.
fn panels(points: &[(u32, Value)]) -> Vec<Panel> {
    let mut sizes = vec![("binary".to_string(), "/binary_bytes".to_string(), 1e-6)];
    let mut outputs: Vec<String> = Vec::new();
    for (_, b) in points {
        for i in b["images"].as_array().into_iter().flatten() {
            if let Some(o) = i["output"].as_str() {
                if !outputs.iter().any(|x| x == o) {
                    outputs.push(o.to_string());
                }
            }
        }
    }
    for o in outputs {
        sizes.push((format!("image: {o}"), format!("/images/output={o}"), 1e-6));
    }
    vec![
        (
            "Start-up to the first ready answer (median)",
            "ms",
            vec![
                ("host".into(), "/host/ready_ms".into(), 1.0),
                ("container".into(), "/container/ready_ms".into(), 1.0),
            ],
        ),
        (
            "Resident memory after start (host)",
            "MB",
            vec![("RSS".into(), "/host/rss_kb".into(), 1024.0 / 1e6)],
        ),
        ("Sizes", "MB", sizes),
    ]
}

/// A value of a bench document: a JSON pointer, or `/images/output=NAME` for that output's
/// image bytes.
fn value_at(b: &Value, ptr: &str) -> Option<f64> {
    match ptr.strip_prefix("/images/output=") {
        Some(name) => b["images"]
            .as_array()?
            .iter()
            .find(|i| i["output"] == name)?["bytes"]
            .as_f64(),
        None => b.pointer(ptr).and_then(Value::as_f64),
    }
}

/// An SVG report chart (plotters): one panel per kind of figure, versions on the x axis,
/// the unit on the y axis from zero, a line and points per series, and a legend.
fn plot_svg(store: &Store, app: &str) -> Result<std::path::PathBuf, String> {
    use plotters::prelude::*;
    let mut points: Vec<(u32, Value)> = Vec::new();
    for v in store.versions(app).unwrap_or_default() {
        if let Some(b) = std::fs::read(store.version_dir(app, v).join("bench.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        {
            points.push((v, b));
        }
    }
    let panels = panels(&points);
    let (lo, hi) = (
        points.first().map_or(1, |p| p.0) as f64 - 0.5,
        points.last().map_or(1, |p| p.0) as f64 + 0.5,
    );
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (800, 300 * panels.len() as u32)).into_drawing_area();
        let e = |e: &dyn std::fmt::Display| format!("plotting: {e}");
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let root = root
            .titled(
                &format!("{app}: benchmark by version (binship bench)"),
                ("sans-serif", 20),
            )
            .map_err(|x| e(&x))?;
        let colors = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
        for ((title, unit, series), area) in panels.iter().zip(root.split_evenly((panels.len(), 1)))
        {
            let data: Vec<Vec<(f64, f64)>> = series
                .iter()
                .map(|(_, ptr, k)| {
                    points
                        .iter()
                        .filter_map(|(v, b)| value_at(b, ptr).map(|x| (*v as f64, x * k)))
                        .collect()
                })
                .collect();
            let max = data.iter().flatten().map(|p| p.1).fold(0.0_f64, f64::max);
            let mut chart = ChartBuilder::on(&area)
                .caption(*title, ("sans-serif", 16))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(64)
                .build_cartesian_2d(lo..hi, 0.0..(max * 1.2).max(1e-3))
                .map_err(|x| e(&x))?;
            chart
                .configure_mesh()
                .x_desc("version")
                .y_desc(*unit)
                .x_labels(points.len().max(2))
                .x_label_formatter(&|x| {
                    if (x - x.round()).abs() < 1e-6 && *x > 0.0 {
                        format!("v.{}", x.round() as u32)
                    } else {
                        String::new()
                    }
                })
                .y_label_formatter(&|y| format!("{y:.1}"))
                .draw()
                .map_err(|x| e(&x))?;
            for (i, ((name, _, _), pts)) in series.iter().zip(&data).enumerate() {
                let c = colors[i % colors.len()];
                let label = match pts.is_empty() {
                    true => format!("{name} (not measured)"),
                    false => name.clone(),
                };
                chart
                    .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
                    .map_err(|x| e(&x))?
                    .label(label)
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 16, y)], c.stroke_width(2))
                    });
                chart
                    .draw_series(pts.iter().map(|p| Circle::new(*p, 4, c.filled())))
                    .map_err(|x| e(&x))?;
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK)
                .draw()
                .map_err(|x| e(&x))?;
        }
        root.present().map_err(|x| e(&x))?;
    }
    // Beside the newest benchmarked version's bench.json (the recipe's dir is the user's).
    let newest = points.last().map_or(0, |(v, _)| *v);
    let path = store.version_dir(app, newest).join("bench.svg");
    std::fs::write(&path, svg).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(path)
}
