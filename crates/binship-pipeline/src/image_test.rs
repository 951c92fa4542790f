//! The image test: an assembled image is run as it will run, before it is written, with the
//! recipe's checks. Its root filesystem (every layer applied, as an engine would) is unpacked
//! into a temp dir and started by binship's own runner ([`binship_build::sandbox`]: mount and
//! PID namespaces, read-only root, the image's user, entrypoint, Cmd, env and workdir, every
//! capability dropped but those the image declares), so no daemon is needed. The service runs
//! its own Cmd on a free port by the recipe's `test.port_via` rule; command checks replace the
//! Cmd with their arguments. The result is the label `io.binship.image-tests` and a sidecar
//! `<output>.image-tests.json`.

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
    std::fs::create_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
    // Named `<what>@<pid>-...`: the store's sweep removes what a killed binship left.
    let tmp = tempfile::Builder::new()
        .prefix(&format!("image-test@{}-", std::process::id()))
        .tempdir_in(work)
        .map_err(|e| format!("{}: {e}", work.display()))?;
    let root = tmp.path().join("root");
    unpack(spec, tmp.path(), &root)?;
    let (uid, gid) = ids(&spec.config.user)?;
    // NET_BIND_SERVICE when the image declares it, or exposes a port below 1024 (root needs
    // it too once every other capability is dropped).
    let low_port = spec.config.exposed_ports.iter().any(|p| {
        p.split('/')
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n < 1024)
    });
    let keep_caps = if low_port || spec.config.labels.contains_key("io.binship.capabilities") {
        vec![CAP_NET_BIND_SERVICE]
    } else {
        vec![]
    };
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
