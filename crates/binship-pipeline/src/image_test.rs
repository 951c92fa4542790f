//! The image test: an assembled image is run as it will run, before it is written, with the
//! recipe's checks. Its root filesystem (every layer applied, as an engine would) is unpacked
//! into a temp dir and started by binship's own runner ([`binship_build::sandbox`]: mount and
//! PID namespaces, read-only root, the image's user, entrypoint, Cmd, env and workdir, every
//! capability dropped but those the image declares), so no daemon is needed. The service runs
//! its own Cmd on a free port by the recipe's `test.port_via` rule; command checks replace the
//! Cmd with their arguments. The result is the label `io.binship.image-tests` and a sidecar
//! `<output>.image-tests.json`. With an [`Engine`] (`scaffold --image-test-engine docker`, or
//! the local engine that answers on its socket, see [`local_engine`]), the image is loaded into
//! that engine instead and run by it with the same rules ([`run_in_engine`]). A passed result
//! is [`Remembered`] under what was tested, so the same image is not run again.

use std::path::{Path, PathBuf};
use std::time::Instant;

use binship_build::sandbox::{Sandbox, CAP_NET_BIND_SERVICE};
use binship_build::tester::{run_tests_on, Subject, TestReport};
use binship_build::{Cancel, TestCase};
use binship_image::ImageSpec;
use binship_recipe::TestSettings;
use serde::{Deserialize, Serialize};

/// Whether an image test is running in this process: a signal handler then cancels it (its
/// container and temp dirs are cleaned up on the way out) instead of exiting at once.
pub static RUNNING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sets [`RUNNING`] while it lives.
struct Running;

impl Running {
    fn start() -> Running {
        RUNNING.store(true, std::sync::atomic::Ordering::SeqCst);
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The label that records the image test.
pub const LABEL: &str = "io.binship.image-tests";

/// What the image test found.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// Why this runner ran it (the local engine that answered, or why binship's runner
    /// stood in for it), for the one line scaffold prints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The engine failed a check for a host quirk ([`engine_hint`]), not for the image.
    #[serde(skip)]
    pub host_quirk: bool,
    /// Set when this is the result of an earlier run on the same image (same layers, config
    /// and checks, same runner), taken from the store instead of running again: when that run
    /// was (RFC 3339; [`Remembered`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused: Option<String>,
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
            note: None,
            host_quirk: false,
            reused: None,
        }
    }

    /// The result of the checks in `report`, run by `runner`, the whole test having taken
    /// since `started`.
    fn from_report(report: TestReport, runner: String, started: Instant) -> ImageTests {
        ImageTests {
            status: if report.all_passed() {
                "passed"
            } else {
                "failed"
            }
            .into(),
            reason: None,
            runner,
            passed: report.passed(),
            total: report.tests.len(),
            tests: report.tests,
            port: report.port,
            duration_ms: started.elapsed().as_millis() as u64,
            note: None,
            host_quirk: false,
            reused: None,
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

/// Passed image tests remembered by what was tested, so an image already tested (a second
/// push of a version, a re-scaffold with the same settings) is not run again: one JSON file
/// per key under `dir` (`.binship/cache/image-tests`). The key ([`Remembered::key`]) covers
/// binship (its version and executable), the runner, the recipe's checks, the image's config,
/// platform and time, and every layer's content (a rootfs by its content key, host files by
/// digest; a base layer by its digest). Only passed results are kept, and only when the runner
/// asked for ran them (not binship's runner standing in for an engine); a failed or skipped
/// test runs again. The cache is as trusted as the store it lives in.
#[derive(Debug, Clone)]
pub struct Remembered {
    dir: PathBuf,
}

impl Remembered {
    /// Results in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Remembered {
        Remembered { dir: dir.into() }
    }

    /// The key of testing `spec` with `test` by `runner` (a description of the runner and
    /// its flags), or None when a layer cannot be keyed (a host file unreadable or resized).
    pub fn key(
        spec: &ImageSpec,
        test: &TestSettings,
        runner: &str,
        files: &binship_oci::FileDigests,
    ) -> Option<String> {
        use std::fmt::Write as _;
        // This binship by its executable's identity on disk, not its version alone: another
        // build of the same version is another runner.
        let exe = std::env::current_exe()
            .and_then(std::fs::metadata)
            .map(|m| binship_oci::identity(&m))
            .unwrap_or_default();
        let mut text = format!(
            "binship {} ({exe}) image test\nrunner {runner}\nchecks {test:?}\nconfig {:?}\nbase {}\nplatform {:?}\ncreated {}\n",
            env!("CARGO_PKG_VERSION"),
            spec.config,
            spec.base.as_ref().map(|b| b.config.to_string()).unwrap_or_default(),
            spec.platform,
            spec.created,
        );
        for l in &spec.layers {
            let id = match l {
                binship_image::config::Layer::Rootfs(r) => r.content_key(spec.created, |p| {
                    files.sha256(p).map(|(d, n)| (d.hex().to_string(), n))
                })?,
                binship_image::config::Layer::Blob(b) => format!("blob {}", b.digest),
            };
            let _ = writeln!(text, "layer {id}");
        }
        Some(binship_oci::Digest::of(text.as_bytes()).hex().to_string())
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// The passed result remembered under `key`, marked [`ImageTests::reused`].
    pub fn get(&self, key: &str) -> Option<ImageTests> {
        let text = std::fs::read(self.path(key)).ok()?;
        let (at, mut t): (String, ImageTests) = serde_json::from_slice(&text).ok()?;
        if !t.passed() {
            return None;
        }
        t.reused = Some(at);
        Some(t)
    }

    /// Remembers `t` under `key` when it passed (written to a temp file, then renamed); a
    /// cache that cannot be written costs the next push a test run, nothing else.
    pub fn put(&self, key: &str, t: &ImageTests) {
        if !t.passed() || t.reused.is_some() {
            return;
        }
        let at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let path = self.path(key);
        let _ = std::fs::create_dir_all(&self.dir).and_then(|_| {
            let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
            std::fs::write(&tmp, serde_json::to_vec(&(at, t)).expect("json"))?;
            std::fs::rename(&tmp, &path)
        });
    }
}

/// Why an image of another architecture cannot run here, if it is one (every runner: binship's,
/// an engine's, LXC's).
fn foreign(spec: &ImageSpec) -> Option<String> {
    let native = binship_recipe::native_arch();
    (spec.platform.architecture != native).then(|| {
        format!(
            "a linux/{} image on a linux/{native} host",
            spec.platform.architecture
        )
    })
}

/// Why this image cannot be tested here, if it cannot.
pub fn cannot_run(spec: &ImageSpec) -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("binship's runner needs root (mount and PID namespaces); run as root, or pass --no-image-test".into());
    }
    if let Some(why) = foreign(spec) {
        return Some(why);
    }
    if spec.config.entrypoint.is_empty() {
        return Some("the image has no entrypoint".into());
    }
    None
}

/// What runs an application image's test (system images are booted by LXC whatever this says).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Runner {
    /// The local engine when one answers ([`local_engine`]: docker, then podman), else
    /// binship's runner; an engine that answers but cannot load or start the image gives way to
    /// binship's runner, said in [`ImageTests::note`].
    #[default]
    Auto,
    /// The local engine when one answers, else binship's runner, whatever
    /// [`ENGINE_ENV`] says (`--image-test-engine auto`).
    Detect,
    /// binship's own runner (`--image-test-engine binship`), whatever engine answers.
    Binship,
    /// This engine (`--image-test-engine docker|podman|...`); its failures are the test's.
    Engine(Engine),
}

/// The environment variable that gives [`Runner::Auto`] its choice: `binship`, `auto` (the
/// same as unset), or an engine command as `--image-test-engine` takes it (`podman --root /x`).
pub const ENGINE_ENV: &str = "BINSHIP_IMAGE_TEST_ENGINE";

impl Runner {
    /// The runner [`ENGINE_ENV`] names; [`Runner::Auto`] when it is unset, empty or `auto`.
    ///
    /// # Errors
    /// Its value is not sh words (an unbalanced quote): the message names the variable.
    pub fn from_env() -> Result<Runner, String> {
        let v = std::env::var(ENGINE_ENV).unwrap_or_default();
        let command = binship_recipe::shell_words(ENGINE_ENV, &v)?;
        Ok(
            match command.first().map(|c| c.to_ascii_lowercase()).as_deref() {
                None | Some("auto") => Runner::Auto,
                Some("binship") => Runner::Binship,
                Some(_) => Runner::Engine(Engine {
                    command,
                    run_args: vec![],
                }),
            },
        )
    }
}

/// The local container engine that answers, if one does: docker when its API socket
/// (`$DOCKER_HOST` when it is `unix://` or `tcp://` on a loopback address, else
/// `/var/run/docker.sock`) answers `GET /_ping` with 200 within 1 s, else podman when its API
/// service does (`$CONTAINER_HOST` when `unix://`, else `/run/podman/podman.sock` for root or
/// `$XDG_RUNTIME_DIR/podman/podman.sock`). The engine's command must be on `PATH`. A remote
/// engine (`ssh://`, another host, a docker context other than `default`) is not taken: the
/// checks reach the service on this host's loopback. Returns the engine and where it answered.
pub fn local_engine() -> Option<(Engine, String)> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    // The docker CLI follows `currentContext` of its config.json when DOCKER_HOST is unset.
    let config_context = || -> Option<String> {
        let dir = env("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| Path::new(&h).join(".docker")))?;
        let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v["currentContext"].as_str().map(str::to_string)
    };
    let docker = match (env("DOCKER_HOST"), env("DOCKER_CONTEXT")) {
        (_, Some(c)) if c != "default" => None,
        (None, None) if config_context().is_some_and(|c| !c.is_empty() && c != "default") => None,
        (Some(h), _) => Some(h),
        (None, _) => Some("unix:///var/run/docker.sock".to_string()),
    };
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let podman = env("CONTAINER_HOST").or_else(|| match root {
        true => Some("unix:///run/podman/podman.sock".to_string()),
        false => env("XDG_RUNTIME_DIR").map(|d| format!("unix://{d}/podman/podman.sock")),
    });
    [("docker", docker), ("podman", podman)]
        .into_iter()
        .find_map(|(name, host)| {
            let host = host?;
            (on_path(name) && ping(&host, std::time::Duration::from_secs(1))).then(|| {
                (
                    Engine {
                        command: vec![name.to_string()],
                        run_args: vec![],
                    },
                    host,
                )
            })
        })
}

/// Whether `name` is an executable file in a `PATH` directory.
fn on_path(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            std::fs::metadata(d.join(name))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Whether the engine API at `host` (`unix:///path`, or `tcp://` on 127.0.0.1, ::1 or
/// localhost) answers `GET /_ping` with HTTP 200 within `timeout` (Docker Engine API, "Ping";
/// podman's compatible API serves it too).
pub fn ping(host: &str, timeout: std::time::Duration) -> bool {
    use std::io::{Read, Write};
    fn ask<S: Read + Write>(mut s: S) -> bool {
        let mut head = [0u8; 12];
        s.write_all(b"GET /_ping HTTP/1.0\r\nHost: engine\r\n\r\n")
            .is_ok()
            && s.read_exact(&mut head).is_ok()
            && head.starts_with(b"HTTP/1.")
            && &head[8..12] == b" 200"
    }
    if let Some(path) = host.strip_prefix("unix://") {
        let Ok(s) = std::os::unix::net::UnixStream::connect(path) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(timeout));
        let _ = s.set_write_timeout(Some(timeout));
        ask(s)
    } else if let Some(addr) = host.strip_prefix("tcp://") {
        let addr = addr.trim_end_matches('/');
        let loopback = ["127.0.0.1:", "[::1]:", "localhost:"]
            .iter()
            .any(|p| addr.starts_with(p));
        let Some(sa) = loopback
            .then(|| std::net::ToSocketAddrs::to_socket_addrs(addr).ok()?.next())
            .flatten()
        else {
            return false;
        };
        let Ok(s) = std::net::TcpStream::connect_timeout(&sa, timeout) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(timeout));
        let _ = s.set_write_timeout(Some(timeout));
        ask(s)
    } else {
        false
    }
}

/// Why an engine could not run the image test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineError {
    /// The engine is not installed or its daemon does not answer (a missing prerequisite).
    pub missing: bool,
    pub message: String,
}

impl EngineError {
    fn other(message: impl Into<String>) -> EngineError {
        EngineError {
            missing: false,
            message: message.into(),
        }
    }
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
/// `cancel` (Ctrl-C, SIGTERM) stops the checks; the temp tag, containers and dir are removed
/// on the way out.
///
/// # Errors
/// The archive cannot be written, or the engine cannot load it (its first line); `missing` when
/// the engine is not installed or its daemon does not answer. A failing check is a `failed`
/// result, not an error.
pub fn run_in_engine(
    spec: &ImageSpec,
    test: &TestSettings,
    work: &Path,
    log: &Path,
    engine: &Engine,
    cancel: &Cancel,
) -> Result<ImageTests, EngineError> {
    // The engine needs no root of binship's; the platform and entrypoint rules are the same.
    if let Some(why) = foreign(spec) {
        return Ok(ImageTests::skipped(why));
    }
    if spec.config.entrypoint.is_empty() {
        return Ok(ImageTests::skipped("the image has no entrypoint"));
    }
    let started = Instant::now();
    let _running = Running::start();
    let tmp = temp_dir(work).map_err(EngineError::other)?;
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
            annotations: Default::default(),
            system: None,
        })
        .map_err(|e| EngineError::other(e.to_string()))?;
    let (first, global) = engine
        .command
        .split_first()
        .ok_or(EngineError::other("no engine command"))?;
    let run = |args: &[&str]| {
        std::process::Command::new(first)
            .args(global)
            .args(args)
            .output()
            .map_err(|e| EngineError {
                missing: e.kind() == std::io::ErrorKind::NotFound,
                message: match e.kind() {
                    std::io::ErrorKind::NotFound => {
                        format!("{first} is not installed (not on PATH)")
                    }
                    _ => format!("{first}: {e}"),
                },
            })
    };
    let loaded = run(&["load", "-i", &archive.to_string_lossy()])?;
    if !loaded.status.success() || cancel.is_cancelled() {
        let _ = run(&["rmi", "-f", &tag]);
        let err = String::from_utf8_lossy(&loaded.stderr);
        let line = err.lines().next().unwrap_or("failed");
        let lower = err.to_ascii_lowercase();
        return Err(EngineError {
            missing: lower.contains("cannot connect to")
                || lower.contains("connection refused")
                || lower.contains("is the docker daemon running"),
            message: match cancel.is_cancelled() {
                true => "interrupted".into(),
                false => format!("{} load: {line}", engine.command.join(" ")),
            },
        });
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
    let report =
        run_tests_on(&subject, test, log, cancel).map_err(|e| EngineError::other(e.to_string()));
    // Containers a killed check left, then the image.
    if let Ok(ps) = run(&["ps", "-aq", "--filter", &format!("label={label}")]) {
        for c in String::from_utf8_lossy(&ps.stdout).split_whitespace() {
            let _ = run(&["rm", "-f", c]);
        }
    }
    let _ = run(&["rmi", "-f", &tag]);
    let mut report = report?;
    let passed = report.all_passed();
    let mut host_quirk = false;
    // The engine's own refusal (a host quirk) says what to do, on the first failed check.
    if !passed {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let (Some(hint), Some(t)) = (
            engine_hint(&text),
            report.tests.iter_mut().find(|t| !t.passed),
        ) {
            host_quirk = true;
            t.error = Some(format!(
                "{} ({hint})",
                t.error.as_deref().unwrap_or("failed")
            ));
        }
    }
    let runner = Path::new(first)
        .file_name()
        .map_or(first.clone(), |n| n.to_string_lossy().into_owned());
    let mut tests = ImageTests::from_report(report, runner, started);
    tests.host_quirk = host_quirk;
    Ok(tests)
}

/// What to do about a host quirk an engine's error shows, in one line (issue 20: these
/// machines refuse podman's default open-files limit, and its systemd cgroup manager on
/// hybrid cgroups); `None` for other errors.
pub fn engine_hint(engine_error: &str) -> Option<&'static str> {
    let e = engine_error.to_ascii_lowercase();
    if e.contains("rlimit") {
        Some("this host refuses the engine's default open-files limit: pass `--ulimit nofile=20000:20000 --ulimit nproc=32768:32768` as run flags (deploy --engine-run-args, scaffold --image-test-run-args) or set default_ulimits in containers.conf")
    } else if e.contains("mounting \"cgroup\"") || e.contains("cgroup manager") {
        Some("the engine's cgroup manager does not fit this host's cgroups: run it with `--cgroup-manager cgroupfs` (deploy --engine 'podman --cgroup-manager cgroupfs') or set cgroup_manager = \"cgroupfs\" in containers.conf")
    } else {
        None
    }
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
    cancel: &Cancel,
) -> Result<ImageTests, String> {
    if let Some(why) = cannot_run(spec) {
        return Ok(ImageTests::skipped(why));
    }
    let _running = Running::start();
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
    let report = run_tests_on(&subject, test, log, cancel).map_err(|e| e.to_string())?;
    Ok(ImageTests::from_report(report, "binship".into(), started))
}

/// Where LXC keeps the distros' common configs (`LXC_TEMPLATE_CONFIG`).
const LXC_CONFIG: &str = "/usr/share/lxc/config";

/// Why a system image cannot be booted here for its image test, if it cannot.
fn cannot_boot(spec: &ImageSpec) -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("booting it in LXC needs root; run as root, or pass --no-image-test".into());
    }
    if let Some(why) = foreign(spec) {
        return Some(why);
    }
    if binship_build::process::which("lxc-start").is_none() {
        return Some(
            "lxc-start is not installed here (apt-get install lxc), so the image was not booted"
                .into(),
        );
    }
    if !Path::new(LXC_CONFIG).join("common.conf").exists() {
        return Some(format!(
            "LXC's configs are missing ({LXC_CONFIG}/common.conf)"
        ));
    }
    None
}

/// A container in a temp LXC path, stopped hard when dropped (the checks stop it cleanly).
struct LxcContainer {
    lxcpath: tempfile::TempDir,
    name: &'static str,
}

impl LxcContainer {
    fn tool(&self, tool: &str) -> Vec<String> {
        vec![
            tool.to_string(),
            "-P".into(),
            self.lxcpath.path().display().to_string(),
            "-n".into(),
            self.name.into(),
        ]
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<String, String> {
        let argv = self.tool(tool);
        let o = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .args(args)
            .output()
            .map_err(|e| format!("{tool}: {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "{tool}: {}",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .last()
                    .unwrap_or("failed")
            ));
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }
}

impl Drop for LxcContainer {
    fn drop(&mut self) {
        let _ = self.run("lxc-stop", &["-k"]);
    }
}

/// Runs the image test of a system image (LXC or Incus: the same root filesystem): its root
/// filesystem is unpacked into a temp dir under `work` and booted by LXC (`lxc-start`, the
/// distro's common config from `/usr/share/lxc/config`, a network namespace of its own with
/// only loopback), so its init starts the service as on a user's host. The readiness and HTTP
/// checks reach the service on the image's first exposed port from inside that namespace,
/// command checks run through `lxc-attach` as the image's user, and the stop check is a clean
/// `lxc-stop` within `test.stop_grace` ([`Subject::Booted`]). Skipped, saying why, where LXC
/// cannot boot it (not root, no lxc-start, a foreign platform, no `/sbin/init`, no port).
///
/// # Errors
/// The root filesystem cannot be written or unpacked, or LXC cannot start the container (its
/// last log line): as text. A failing check is a `failed` result, not an error.
pub fn run_booted(
    spec: &ImageSpec,
    distro: &str,
    test: &TestSettings,
    work: &Path,
    log: &Path,
    cancel: &Cancel,
) -> Result<ImageTests, String> {
    if let Some(why) = cannot_boot(spec) {
        return Ok(ImageTests::skipped(why));
    }
    let port = spec
        .config
        .exposed_ports
        .iter()
        .find_map(|p| p.split('/').next()?.parse::<u16>().ok());
    let port = match (port, test.service) {
        (Some(p), _) => p,
        (None, false) => 0,
        (None, true) => {
            return Ok(ImageTests::skipped(
                "the image exposes no port to check its service on (container.ports)",
            ))
        }
    };
    let _running = Running::start();
    let started = Instant::now();
    let tmp = temp_dir(work)?;
    let root = tmp.path().join("rootfs");
    unpack(spec, tmp.path(), &root)?;
    if cancel.is_cancelled() {
        return Err("interrupted".into());
    }
    if let Err(why) = init_in(&root) {
        return Ok(ImageTests::skipped(why));
    }
    // A short LXC path: LXC's socket names are bounded, a store's path is not.
    let lxcpath = tempfile::Builder::new()
        .prefix("binship-lxc-")
        .tempdir()
        .map_err(|e| format!("a temp dir for LXC: {e}"))?;
    let c = LxcContainer {
        lxcpath,
        name: "image-test",
    };
    let dir = c.lxcpath.path().join(c.name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let include = Path::new(LXC_CONFIG).join(binship_sink::lxc::common_include(distro));
    let include = if include.exists() {
        include
    } else {
        Path::new(LXC_CONFIG).join("common.conf")
    };
    let arch = binship_sink::lxc_arch(&spec.platform.architecture).unwrap_or("x86_64");
    let config = format!(
        "lxc.include = {}\nlxc.arch = {arch}\nlxc.rootfs.path = dir:{}\nlxc.uts.name = {}\n\
         lxc.net.0.type = empty\nlxc.net.0.flags = up\nlxc.apparmor.profile = unconfined\n",
        include.display(),
        root.display(),
        c.name
    );
    std::fs::write(dir.join("config"), config).map_err(|e| format!("{}: {e}", dir.display()))?;
    let lxc_log = tmp.path().join("lxc.log");
    let lxc_log_s = lxc_log.display().to_string();
    if let Err(e) = c
        .run("lxc-start", &["-d", "-o", &lxc_log_s, "-l", "WARN"])
        .and_then(|_| c.run("lxc-wait", &["-s", "RUNNING", "-t", "30"]))
    {
        // The init is there but does not boot: the image's fault, a failed test.
        let lxc_log = std::fs::read_to_string(&lxc_log).unwrap_or_default();
        let _ = std::fs::write(log, &lxc_log);
        let why = lxc_log
            .lines()
            .find(|l| l.contains(" ERROR "))
            .and_then(|l| l.rsplit(" - ").next())
            .map(String::from)
            .unwrap_or_else(|| {
                format!("{e}: the container did not stay running (its init exited at once)")
            });
        let boot = binship_build::TestCase {
            name: "boot".into(),
            passed: false,
            duration_ms: started.elapsed().as_millis() as u64,
            error: Some(format!("LXC could not boot it: {why}")),
        };
        let report = TestReport {
            tests: vec![boot],
            port: None,
        };
        return Ok(ImageTests::from_report(report, "lxc".into(), started));
    }
    let pid: u32 = c
        .run("lxc-info", &["-pH"])?
        .trim()
        .parse()
        .map_err(|_| "lxc-info did not name the container's init".to_string())?;
    let mut attach = c.tool("lxc-attach");
    attach.push("--clear-env".into());
    let (uid, gid) = ids(&spec.config.user)?;
    attach.extend(["-u".into(), uid.to_string(), "-g".into(), gid.to_string()]);
    for kv in &spec.config.env {
        attach.extend(["-v".into(), kv.clone()]);
    }
    attach.push("--".into());
    let mut stop = c.tool("lxc-stop");
    stop.extend(["-t".into(), test.stop_grace().as_secs().max(1).to_string()]);
    let subject = Subject::Booted {
        attach: &attach,
        entrypoint: &spec.config.entrypoint,
        pid,
        port,
        stop: &stop,
    };
    // Interrupted: the container is stopped and the temp dirs removed on the way out.
    let report = run_tests_on(&subject, test, log, cancel).map_err(|e| e.to_string())?;
    let passed = report.all_passed();
    if !passed {
        // The init's view of the service, for the kept log (while the container still runs:
        // a service that never got ready is not stopped by the checks).
        let unit =
            "journalctl --no-pager -n 40 2>/dev/null || tail -n 40 /var/log/messages 2>/dev/null"
                .to_string();
        let mut sh = c.tool("lxc-attach");
        sh.extend(["--".into(), "sh".into(), "-c".into(), unit]);
        if let Ok(o) = std::process::Command::new(&sh[0]).args(&sh[1..]).output() {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(log) {
                let _ = writeln!(f, "== the container's journal");
                let _ = f.write_all(&o.stdout);
            }
        }
    }
    drop(c);
    Ok(ImageTests::from_report(report, "lxc".into(), started))
}

/// The init `root/sbin/init` leads to (symlinks followed inside `root`), or why there is none
/// to boot.
fn init_in(root: &Path) -> Result<PathBuf, String> {
    let mut rel = PathBuf::from("sbin/init");
    for _ in 0..16 {
        let path = root.join(&rel);
        match std::fs::symlink_metadata(&path) {
            Err(_) if rel == Path::new("sbin/init") => {
                return Err("the image has no /sbin/init to boot".into())
            }
            Err(_) => {
                return Err(format!(
                "the image's /sbin/init leads to /{}, which it does not have, so it cannot boot",
                rel.display()
            ))
            }
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&path).map_err(|e| e.to_string())?;
                rel = if target.is_absolute() {
                    target.strip_prefix("/").unwrap_or(&target).to_path_buf()
                } else {
                    rel.parent().unwrap_or(Path::new("")).join(target)
                };
            }
            Ok(_) => return Ok(path),
        }
    }
    Err("the image's /sbin/init is a symlink loop".into())
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

#[cfg(test)]
mod hint_tests {
    #[test]
    fn engine_errors_of_host_quirks_get_a_hint() {
        let rl = "Error: crun: setrlimit `RLIMIT_NOFILE`: Operation not permitted: OCI permission denied";
        assert!(super::engine_hint(rl).unwrap().contains("--ulimit nofile="));
        let cg = "Error: runc: runc create failed: error mounting \"cgroup\" to rootfs at \"/sys/fs/cgroup\"";
        assert!(super::engine_hint(cg)
            .unwrap()
            .contains("--cgroup-manager cgroupfs"));
        assert_eq!(super::engine_hint("Error: image not known"), None);
    }
}

#[cfg(test)]
mod ping_tests {
    use std::io::{Read, Write};
    use std::time::Duration;

    /// A unix socket that answers one request with `status` (a real engine is in
    /// tests/image_test.rs; this checks only how an answer is read).
    fn answering(status: &'static str) -> (tempfile::TempDir, String, std::thread::JoinHandle<()>) {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("engine.sock");
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 256];
            let n = s.read(&mut buf).unwrap();
            assert!(buf[..n].starts_with(b"GET /_ping HTTP/1.0\r\n"));
            let _ =
                s.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\n\r\nOK").as_bytes());
        });
        (d, format!("unix://{}", path.display()), t)
    }

    #[test]
    fn an_engine_answers_only_with_200_on_a_local_socket() {
        let t = Duration::from_secs(1);
        let (_d, host, th) = answering("200 OK");
        assert!(super::ping(&host, t));
        th.join().unwrap();
        let (_d, host, th) = answering("500 Internal Server Error");
        assert!(!super::ping(&host, t));
        th.join().unwrap();
        assert!(!super::ping("unix:///nonexistent/engine.sock", t));
        // Remote engines are not taken: the checks reach the service on loopback.
        assert!(!super::ping("tcp://192.0.2.1:2375", t));
        assert!(!super::ping("ssh://user@host", t));
    }
}
