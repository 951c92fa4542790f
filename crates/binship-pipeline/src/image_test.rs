//! The image test: an assembled image is run as it will run, before it is written, with the
//! recipe's checks. Its root filesystem (every layer applied, as an engine would) is unpacked
//! into a temp dir and started by binship's own runner ([`binship_build::sandbox`]: mount and
//! PID namespaces, read-only root, the image's user, entrypoint, Cmd, env and workdir, every
//! capability dropped but those the image declares), so no daemon is needed. The service runs
//! its own Cmd on a free port by the recipe's `test.port_via` rule; command checks replace the
//! Cmd with their arguments. The result is the label `io.binship.image-tests` and a sidecar
//! `<output>.image-tests.json`. With an [`Engine`] (`scaffold --image-test-engine docker`), the
//! image is loaded into that engine instead and run by it with the same rules
//! ([`run_in_engine`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use binship_build::sandbox::{Sandbox, CAP_NET_BIND_SERVICE};
use binship_build::tester::{run_tests_on, Subject};
use binship_build::{Cancel, TestCase};
use binship_image::ImageSpec;
use binship_recipe::TestSettings;
use serde::Serialize;

/// The label that records the image test.
pub const LABEL: &str = "io.binship.image-tests";

/// What the image test found.
#[derive(Debug, Clone, Serialize)]
pub struct ImageTests {
    /// `passed`, `failed` or `skipped`.
    pub status: String,
    /// Why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What ran the image: `binship` (its own runner).
    pub runner: String,
    pub passed: usize,
    pub total: usize,
    pub tests: Vec<TestCase>,
    /// The free port the service was tested on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Wall time of the whole test (unpacking included), in milliseconds.
    pub duration_ms: u64,
}

impl ImageTests {
    /// A test that did not run, and why.
    pub fn skipped(reason: impl Into<String>) -> ImageTests {
        ImageTests {
            status: "skipped".into(),
            reason: Some(reason.into()),
            runner: String::new(),
            passed: 0,
            total: 0,
            tests: vec![],
            port: None,
            duration_ms: 0,
        }
    }

    pub fn passed(&self) -> bool {
        self.status == "passed"
    }

    /// The label's value: `6/6 passed (binship runner)`, `skipped: <reason>`, or the failure.
    pub fn label(&self) -> String {
        match self.status.as_str() {
            "skipped" => format!("skipped: {}", self.reason.as_deref().unwrap_or("")),
            s => format!(
                "{}/{} {s} ({} runner)",
                self.passed, self.total, self.runner
            ),
        }
    }

    /// The first failed check: `name: error`.
    pub fn first_failure(&self) -> Option<String> {
        self.tests
            .iter()
            .find(|t| !t.passed)
            .map(|t| format!("{}: {}", t.name, t.error.as_deref().unwrap_or("failed")))
    }
}

/// Why this image cannot be tested here, if it cannot.
pub fn cannot_run(spec: &ImageSpec) -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("binship's runner needs root (mount and PID namespaces); run as root, or pass --no-image-test".into());
    }
    let native = binship_recipe::native_arch();
    if spec.platform.architecture != native {
        return Some(format!(
            "a linux/{} image on a linux/{native} host",
            spec.platform.architecture
        ));
    }
    if spec.config.entrypoint.is_empty() {
        return Some("the image has no entrypoint".into());
    }
    None
}

/// A container engine that runs the image test instead of binship's runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    /// `docker`, `podman`, or the command with its global flags (`podman --root /x`).
    pub command: Vec<String>,
    /// Extra `run` flags (`--ulimit nofile=20000:20000`).
    pub run_args: Vec<String>,
}

/// Runs the image test of `spec` in `engine`: the image is written as a docker-archive in a
/// temp dir under `work`, loaded under a temp tag, run with the recipe's checks `test` (see
/// [`Subject::Engine`]: host network, read-only root, every capability dropped but those the
/// image declares, volumes as tmpfs), then its containers and the tag are removed.
///
/// # Errors
/// The archive cannot be written, or the engine cannot load it (its first line): as text. A
/// failing check is a `failed` result, not an error.
pub fn run_in_engine(
    spec: &ImageSpec,
    test: &TestSettings,
    work: &Path,
    log: &Path,
    engine: &Engine,
) -> Result<ImageTests, String> {
    // The engine needs no root of binship's; the platform and entrypoint rules are the same.
    let native = binship_recipe::native_arch();
    if spec.platform.architecture != native {
        return Ok(ImageTests::skipped(format!(
            "a linux/{} image on a linux/{native} host",
            spec.platform.architecture
        )));
    }
    if spec.config.entrypoint.is_empty() {
        return Ok(ImageTests::skipped("the image has no entrypoint"));
    }
    let started = Instant::now();
    let tmp = temp_dir(work)?;
    let id = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    let tag = format!("binship-image-test:{id}");
    let archive = tmp.path().join("image.tar");
    binship_sink::Format::DockerArchive
        .sink()
        .write(&binship_sink::WriteRequest {
            spec,
            others: &[],
            tag: &tag,
            compression: binship_image::Compression::None,
            out: &archive,
            force: true,
            annotations: Default::default(),
            system: None,
        })
        .map_err(|e| e.to_string())?;
    let (first, global) = engine.command.split_first().ok_or("no engine command")?;
    let run = |args: &[&str]| {
        std::process::Command::new(first)
            .args(global)
            .args(args)
            .output()
            .map_err(|e| format!("{first}: {e}"))
    };
    let loaded = run(&["load", "-i", &archive.to_string_lossy()])?;
    if !loaded.status.success() {
        let err = String::from_utf8_lossy(&loaded.stderr);
        return Err(format!(
            "{} load: {}",
            engine.command.join(" "),
            err.lines().next().unwrap_or("failed")
        ));
    }
    let label = format!("io.binship.image-test={id}");
    // Engines name capabilities without CAP_ (keep_caps holds no other).
    let caps: Vec<String> = keep_caps(spec)
        .iter()
        .filter(|c| **c == CAP_NET_BIND_SERVICE)
        .map(|_| "NET_BIND_SERVICE".to_string())
        .collect();
    let subject = Subject::Engine {
        engine: &engine.command,
        run_args: &engine.run_args,
        image: &tag,
        cmd: &spec.config.cmd,
        caps: &caps,
        volumes: &spec.config.volumes,
        label: &label,
    };
    let report = run_tests_on(&subject, test, log, &Cancel::new()).map_err(|e| e.to_string());
    // Containers a killed check left, then the image.
    if let Ok(ps) = run(&["ps", "-aq", "--filter", &format!("label={label}")]) {
        for c in String::from_utf8_lossy(&ps.stdout).split_whitespace() {
            let _ = run(&["rm", "-f", c]);
        }
    }
    let _ = run(&["rmi", "-f", &tag]);
    let report = report?;
    let passed = report.all_passed();
    Ok(ImageTests {
        status: if passed { "passed" } else { "failed" }.into(),
        reason: None,
        runner: Path::new(first)
            .file_name()
            .map_or(first.clone(), |n| n.to_string_lossy().into_owned()),
        passed: report.passed(),
        total: report.tests.len(),
        tests: report.tests,
        port: report.port,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// NET_BIND_SERVICE when the image declares it, or exposes a port below 1024 (root needs it
/// too once every other capability is dropped).
fn keep_caps(spec: &ImageSpec) -> Vec<u32> {
    let low_port = spec.config.exposed_ports.iter().any(|p| {
        p.split('/')
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n < 1024)
    });
    if low_port || spec.config.labels.contains_key("io.binship.capabilities") {
        vec![CAP_NET_BIND_SERVICE]
    } else {
        vec![]
    }
}

/// A temp dir under `work` (created), removed on drop; named `image-test@<pid>-...`, so the
/// store's sweep removes what a killed binship left.
fn temp_dir(work: &Path) -> Result<tempfile::TempDir, String> {
    std::fs::create_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
    tempfile::Builder::new()
        .prefix(&format!("image-test@{}-", std::process::id()))
        .tempdir_in(work)
        .map_err(|e| format!("{}: {e}", work.display()))
}

/// "uid:gid" (numeric, as scaffold writes it) -> (uid, gid); root when empty.
fn ids(user: &str) -> Result<(u32, u32), String> {
    if user.is_empty() {
        return Ok((0, 0));
    }
    let (u, g) = user.split_once(':').unwrap_or((user, user));
    match (u.parse(), g.parse()) {
        (Ok(u), Ok(g)) => Ok((u, g)),
        _ => Err(format!("the image's user `{user}` is not numeric uid:gid")),
    }
}

/// Runs the image test of `spec` with the recipe's checks `test`, unpacking into a temp dir
/// under `work` (removed after) and logging to `log`.
///
/// # Errors
/// The root filesystem cannot be written or unpacked (disk, permissions): as text. A failing
/// check is a `failed` result, not an error.
pub fn run(
    spec: &ImageSpec,
    test: &TestSettings,
    work: &Path,
    log: &Path,
) -> Result<ImageTests, String> {
    if let Some(why) = cannot_run(spec) {
        return Ok(ImageTests::skipped(why));
    }
    let started = Instant::now();
    let tmp = temp_dir(work)?;
    let root = tmp.path().join("root");
    unpack(spec, tmp.path(), &root)?;
    let (uid, gid) = ids(&spec.config.user)?;
    let keep_caps = keep_caps(spec);
    let sandbox = Sandbox {
        root: root.clone(),
        workdir: spec.config.workdir.clone(),
        uid,
        gid,
        keep_caps,
        volumes: spec.config.volumes.clone(),
    };
    sandbox
        .prepare()
        .map_err(|e| format!("preparing {}: {e}", root.display()))?;
    let env: Vec<(String, String)> = spec
        .config
        .env
        .iter()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let subject = Subject::Image {
        sandbox: &sandbox,
        entrypoint: &spec.config.entrypoint,
        cmd: &spec.config.cmd,
        env: &env,
    };
    let report = run_tests_on(&subject, test, log, &Cancel::new()).map_err(|e| e.to_string())?;
    let passed = report.all_passed();
    Ok(ImageTests {
        status: if passed { "passed" } else { "failed" }.into(),
        reason: None,
        runner: "binship".into(),
        passed: report.passed(),
        total: report.tests.len(),
        tests: report.tests,
        port: report.port,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// Writes the image's flat root filesystem (what an engine's container starts from) and
/// unpacks it with owners, modes and xattrs (file capabilities) into `root`.
fn unpack(spec: &ImageSpec, tmp: &Path, root: &Path) -> Result<(), String> {
    let tar_path: PathBuf = tmp.join("rootfs.tar");
    {
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(&tar_path).map_err(|e| format!("{}: {e}", tar_path.display()))?,
        );
        binship_image::flat::write_flat(&spec.layers, "", spec.created, &mut f)
            .map_err(|e| e.to_string())?;
        std::io::Write::flush(&mut f).map_err(|e| e.to_string())?;
    }
    std::fs::create_dir_all(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let f = std::fs::File::open(&tar_path).map_err(|e| format!("{}: {e}", tar_path.display()))?;
    let mut a = tar::Archive::new(std::io::BufReader::new(f));
    a.set_preserve_permissions(true);
    a.set_preserve_ownerships(true);
    a.set_unpack_xattrs(true);
    a.set_overwrite(true);
    a.unpack(root)
        .map_err(|e| format!("unpacking the image into {}: {e}", root.display()))?;
    let _ = std::fs::remove_file(&tar_path);
    Ok(())
}
