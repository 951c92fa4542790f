//! The tester: runs a recipe's checks against a built binary and returns a [`TestReport`].
//!
//! Command checks run the binary with arguments (e.g. `--version`). The service test starts it
//! on a test port on 127.0.0.1, waits for readiness, runs each HTTP check, then sends SIGTERM
//! and requires an exit within the grace period. A busy port, a crash, a hang or a service
//! that never gets ready is a failed test with its reason, never a hang of binship.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use binship_recipe::{
    expand, CommandCheck, HttpCheck, PortSetting, PortVia, PortedRun, TestSettings,
};
use serde::{Deserialize, Serialize};

use crate::process::{append, describe_status, signal, signal_group, wait_until, Cancel};
use crate::sandbox::Sandbox;
use crate::BuildError;

/// One test's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCase {
    pub name: String,
    pub passed: bool,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

/// All tests of one binary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestReport {
    pub tests: Vec<TestCase>,
    /// The port the service was tested on.
    pub port: Option<u16>,
}

impl TestReport {
    pub fn passed(&self) -> usize {
        self.tests.iter().filter(|t| t.passed).count()
    }
    pub fn failed(&self) -> usize {
        self.tests.len() - self.passed()
    }
    pub fn all_passed(&self) -> bool {
        self.failed() == 0 && !self.tests.is_empty()
    }
    fn record(&mut self, name: &str, started: Instant, result: Result<(), String>) {
        self.tests.push(TestCase {
            name: name.into(),
            passed: result.is_ok(),
            duration_ms: started.elapsed().as_millis() as u64,
            error: result.err(),
        });
    }
}

/// Kills the service's process group if it is still running when dropped.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            signal_group(&self.0, libc::SIGKILL);
            let _ = self.0.wait();
        }
    }
}

fn http_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .proxy(None)
        .max_redirects(0)
        .build()
        .into()
}

/// The user-mode emulator that runs binaries of `arch` on this host: none for the native
/// arch, else `qemu-<cpu>-static` (Debian's qemu-user-static) invoked directly, so the host's
/// binfmt settings are neither needed nor changed. Err: why foreign tests cannot run.
///
/// # Errors
/// [`ProbeFailed`] saying which emulator is missing and how to install it.
pub fn emulator_for(arch: &str) -> Result<Option<PathBuf>, ProbeFailed> {
    if arch == binship_recipe::native_arch() {
        return Ok(None);
    }
    let cpu = match arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "386" => "i386",
        "arm" => "arm",
        "ppc64le" => "ppc64le",
        other => other,
    };
    let name = format!("qemu-{cpu}-static");
    crate::process::which(&name)
        .map(Some)
        .ok_or_else(|| ProbeFailed(format!("{name} not found (apt install qemu-user-static)")))
}

/// Why a binary could not be run or probed: no emulator for its arch, it did not start, it
/// exited, or it was not ready in time. The message says which; for a test it is the result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProbeFailed(pub String);

impl From<ProbeFailed> for String {
    fn from(e: ProbeFailed) -> String {
        e.0
    }
}

/// A command running `binary`, through `runner` (an emulator) when given.
fn program(binary: &Path, runner: Option<&Path>) -> Command {
    let mut c = match runner {
        Some(r) => {
            let mut c = Command::new(r);
            c.arg(binary);
            c
        }
        None => Command::new(binary),
    };
    crate::process::die_with_parent(&mut c);
    c
}

/// What the checks run against.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// A built binary, run directly, or through `runner` (an emulator) for a foreign arch,
    /// in `root` (the test root holding the recipe's container files; `{root}` in `test.args`,
    /// `test.env` and command-check arguments expands to it) when given.
    Binary {
        path: &'a Path,
        runner: Option<&'a Path>,
        root: Option<&'a Path>,
    },
    /// An unpacked image, run as it will run: its entrypoint in a [`Sandbox`] with its env.
    /// Command checks replace its Cmd with their arguments (as `docker run IMAGE ARGS` does);
    /// the service runs its own Cmd with only the port changed, by the recipe's `port_via`
    /// rule ([`TestSettings::run_on_port`]); `test.args` and `test.env` are not used.
    Image {
        sandbox: &'a Sandbox,
        entrypoint: &'a [String],
        cmd: &'a [String],
        env: &'a [(String, String)],
    },
    /// An image loaded into a container engine (`docker`, `podman`, or that command with its
    /// global flags), run as `ENGINE run --rm --network host --read-only --cap-drop ALL
    /// [--cap-add CAP] [--tmpfs VOLUME] [-e K=V] RUN_ARGS IMAGE [ARGS]`: the engine applies the
    /// image's entrypoint, user, workdir and env. Same rules as [`Subject::Image`].
    Engine {
        engine: &'a [String],
        run_args: &'a [String],
        image: &'a str,
        /// The image's Cmd (the port rule changes it for the service).
        cmd: &'a [String],
        /// Capabilities added back, without `CAP_` (`NET_BIND_SERVICE`).
        caps: &'a [String],
        volumes: &'a [String],
        /// `KEY=VALUE` labelling every container, for the clean-up.
        label: &'a str,
    },
    /// A system image booted by its own init in a container (LXC): the service is the one the
    /// init started, on the image's `port`, and the readiness and HTTP checks reach it on
    /// 127.0.0.1 from inside the container's network namespace (`/proc/<pid>/ns/net`, `pid`
    /// being the container's init as the host sees it; the init boots within
    /// [`BOOT_ALLOWANCE`] on top of `test.ready_timeout`). Command checks run `attach` (e.g.
    /// `lxc-attach -P DIR -n NAME --clear-env --`) with the entrypoint before their arguments.
    /// The stop check runs `stop` (e.g. `lxc-stop -P DIR -n NAME -t GRACE`): it passes when
    /// the container shut down cleanly within `test.stop_grace`.
    Booted {
        attach: &'a [String],
        entrypoint: &'a [String],
        pid: u32,
        port: u16,
        stop: &'a [String],
    },
}

/// How long a booted container's init may take to start the service, on top of
/// `test.ready_timeout` ([`Subject::Booted`]).
pub const BOOT_ALLOWANCE: Duration = Duration::from_secs(30);

impl Subject<'_> {
    fn describe(&self) -> String {
        match self {
            Subject::Binary { path, runner, .. } => format!(
                "{}{}",
                path.display(),
                runner
                    .map(|r| format!(" (through {})", r.display()))
                    .unwrap_or_default()
            ),
            Subject::Image {
                sandbox,
                entrypoint,
                ..
            } => format!(
                "the image's entrypoint {} in {} (binship's runner)",
                entrypoint.join(" "),
                sandbox.root.display()
            ),
            Subject::Engine { engine, image, .. } => {
                format!("{image} in {}", engine.join(" "))
            }
            Subject::Booted { pid, .. } => format!("the booted container (init pid {pid})"),
        }
    }

    /// The program with `args` (after the entrypoint's own, for an image) and `env`.
    fn command(&self, args: &[String], env: &[(String, String)]) -> Result<Command, String> {
        match self {
            Subject::Binary { path, runner, root } => {
                let mut c = program(path, *runner);
                RUN_MARKER.with(|m| {
                    let m = m.borrow();
                    if !m.is_empty() {
                        c.env("BINSHIP_TEST_RUN", m.as_str());
                    }
                });
                let root = root.map(|r| r.display().to_string());
                let vars: Vec<(&str, &str)> = root.iter().map(|r| ("root", r.as_str())).collect();
                c.args(args.iter().map(|a| expand(a, &vars)))
                    .envs(env.iter().map(|(k, v)| (k, expand(v, &vars))));
                if let Some(r) = root {
                    c.current_dir(r);
                }
                Ok(c)
            }
            Subject::Image {
                sandbox,
                entrypoint,
                env: image_env,
                ..
            } => {
                let (first, rest) = entrypoint
                    .split_first()
                    .ok_or("the image has no entrypoint")?;
                let mut all: Vec<(String, String)> = image_env
                    .iter()
                    .filter(|(k, _)| !env.iter().any(|(e, _)| e == k))
                    .cloned()
                    .collect();
                all.extend(env.iter().cloned());
                let mut c = sandbox.command(first, &all).map_err(|e| e.to_string())?;
                // In the image, the files `{root}` stood for are at the root itself.
                c.args(rest)
                    .args(args.iter().map(|a| binship_recipe::in_image(a)));
                Ok(c)
            }
            Subject::Engine {
                engine,
                run_args,
                image,
                caps,
                volumes,
                label,
                ..
            } => {
                let (first, global) = engine.split_first().ok_or("no engine command")?;
                let mut c = Command::new(first);
                c.args(global).args([
                    "run",
                    "--rm",
                    "--network",
                    "host",
                    "--read-only",
                    "--cap-drop",
                    "ALL",
                    "--label",
                    label,
                ]);
                for cap in caps.iter() {
                    c.args(["--cap-add", cap]);
                }
                for v in volumes.iter() {
                    c.args(["--tmpfs", v]);
                }
                for (k, v) in env {
                    c.arg("-e").arg(format!("{k}={v}"));
                }
                c.args(run_args.iter())
                    .arg(image)
                    .args(args.iter().map(|a| binship_recipe::in_image(a)));
                Ok(c)
            }
            Subject::Booted {
                attach, entrypoint, ..
            } => {
                let (first, rest) = attach.split_first().ok_or("no attach command")?;
                let mut c = Command::new(first);
                c.args(rest)
                    .args(entrypoint.iter())
                    .args(args.iter().map(|a| binship_recipe::in_image(a)))
                    .envs(env.iter().map(|(k, v)| (k, v)));
                Ok(c)
            }
        }
    }

    /// The arguments and environment that start the service on `port`.
    fn service(&self, t: &TestSettings, port: u16) -> Result<PortedRun, String> {
        match self {
            Subject::Binary { .. } => {
                let (cmd, env) = service_args(t, port);
                Ok(PortedRun { cmd, env })
            }
            Subject::Booted { .. } => {
                Err("a booted container's service is started by its init".into())
            }
            Subject::Image { cmd, .. } | Subject::Engine { cmd, .. } => {
                t.run_on_port(cmd, port).ok_or_else(|| {
                    format!(
                    "the image's Cmd {cmd:?} cannot take a port: test.port_arg {:?} names no flag",
                    t.port_arg
                )
                })
            }
        }
    }
}

/// Runs every check of `settings` against `binary` (through `runner`, an emulator, for a
/// foreign arch) in the test root `root` (see [`Subject::Binary`]); stdout/stderr go to `log`.
pub fn run_tests(
    binary: &Path,
    runner: Option<&Path>,
    root: Option<&Path>,
    settings: &TestSettings,
    log: &Path,
    cancel: &Cancel,
) -> Result<TestReport, BuildError> {
    run_tests_on(
        &Subject::Binary {
            path: binary,
            runner,
            root,
        },
        settings,
        log,
        cancel,
    )
}

/// Runs every check of `settings` against `subject`; stdout/stderr go to `log`.
///
/// # Errors
/// [`BuildError`] for a log that cannot be written or an interrupt; a failing check is a
/// failed [`TestCase`], never an error.
pub fn run_tests_on(
    subject: &Subject<'_>,
    settings: &TestSettings,
    log: &Path,
    cancel: &Cancel,
) -> Result<TestReport, BuildError> {
    let mut report = TestReport::default();
    let _ = writeln!(append(log)?, "== binship tests of {}", subject.describe());
    // Every process of this run carries the marker (inherited by whatever it forks).
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let marker = format!(
        "{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    RUN_MARKER.with(|m| *m.borrow_mut() = marker.clone());
    for check in &settings.command {
        cancel.check()?;
        let started = Instant::now();
        let result = run_command_check(subject, check, log, cancel);
        cancel.check()?;
        report.record(&check.name, started, result);
    }
    if settings.service {
        match subject {
            Subject::Booted {
                pid, port, stop, ..
            } => check_booted(*pid, *port, stop, settings, log, cancel, &mut report)?,
            _ => run_service(subject, settings, log, cancel, &mut report)?,
        }
    }
    // A binary that forked into the background (a daemon, or a child of a check) left
    // processes no signal to its group reached: they fail the run and are killed, so nothing
    // outlives its tests. (An image's runner and an engine end their own namespaces.)
    if let Subject::Binary { runner: None, .. } = subject {
        let left = kill_strays(&marker);
        if !left.is_empty() {
            let _ = writeln!(
                append(log)?,
                "[left running after the tests, killed: {left:?}]"
            );
            report.record(
                "no-leftovers",
                Instant::now(),
                Err(format!(
                    "{} process(es) of the binary were still running after the tests (pids {}): a server that forks into the background must run in the foreground (e.g. -D, --foreground, --no-daemon in test.args)",
                    left.len(),
                    left.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
                )),
            );
        }
    }
    Ok(report)
}

thread_local! {
    /// `BINSHIP_TEST_RUN` of the checks this thread runs ([`run_tests_on`]).
    static RUN_MARKER: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Kills (SIGKILL) every process whose environment holds `BINSHIP_TEST_RUN=marker` (the
/// binary's checks and whatever they forked, even when reparented); returns their pids.
fn kill_strays(marker: &str) -> Vec<u32> {
    let want = format!("BINSHIP_TEST_RUN={marker}");
    let mut killed = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return killed;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
        if env.split(|b| *b == 0).any(|v| v == want.as_bytes()) {
            // SAFETY: kill has no memory preconditions; pid is a live process's id.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            killed.push(pid);
        }
    }
    // Gone (or a zombie) before the caller looks again.
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline
        && killed.iter().any(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|st| {
                st.rsplit_once(") ")
                    .is_some_and(|(_, r)| !r.starts_with('Z'))
            })
        })
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    killed
}

fn run_command_check(
    subject: &Subject<'_>,
    check: &CommandCheck,
    log: &Path,
    cancel: &Cancel,
) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let mut logf = append(log).map_err(|e| e.to_string())?;
    let _ = writeln!(
        logf,
        "== {}: {} {}",
        check.name,
        subject.describe(),
        check.args.join(" ")
    );
    let mut child = subject
        .command(&check.args, &[])?
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("could not start the binary: {e}"))?;
    // Each stream read to its end (at most 1 MiB kept) on its own thread.
    fn read_all(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.by_ref().take(1 << 20).read_to_end(&mut buf);
            let _ = std::io::copy(&mut r, &mut std::io::sink());
            buf
        })
    }
    let readers = [
        read_all(child.stdout.take().expect("piped")),
        read_all(child.stderr.take().expect("piped")),
    ];
    let deadline = Instant::now() + check.timeout();
    let status = wait_until(&mut child, deadline, cancel).map_err(|e| e.to_string())?;
    // A grandchild may hold the pipes open; kill the group so the readers end.
    signal_group(&child, libc::SIGKILL);
    let Some(status) = status else {
        let _ = child.wait();
        for r in readers {
            let _ = r.join();
        }
        return Err(format!("did not exit within {}", check.timeout));
    };
    let [out, err] =
        readers.map(|r| String::from_utf8_lossy(&r.join().unwrap_or_default()).into_owned());
    let _ = logf.write_all(out.as_bytes());
    let _ = logf.write_all(err.as_bytes());
    let _ = writeln!(logf, "[{}: {}]", check.name, describe_status(&status));
    if status.code() != Some(check.exit) {
        return Err(format!(
            "expected exit status {}, got {}",
            check.exit,
            describe_status(&status)
        ));
    }
    for (name, re, text) in [
        ("stdout", &check.stdout, &out),
        ("stderr", &check.stderr, &err),
    ] {
        let Some(re) = re else { continue };
        let re = regex::Regex::new(re).map_err(|e| e.to_string())?;
        if !re.is_match(text) {
            return Err(format!(
                "{name} {:?} does not match /{}/",
                clip(text),
                re.as_str()
            ));
        }
    }
    Ok(())
}

fn clip(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() > 80 {
        format!("{}...", s.chars().take(80).collect::<String>())
    } else {
        s.to_string()
    }
}

fn pick_port(setting: PortSetting) -> Result<u16, String> {
    match setting {
        PortSetting::Auto => TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("could not find a free port on 127.0.0.1: {e}")),
        PortSetting::Fixed(p) => match TcpListener::bind(("127.0.0.1", p)) {
            Ok(_) => Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                Err(format!("port {p} is already in use on 127.0.0.1"))
            }
            Err(e) => Err(format!("port {p} cannot be used on 127.0.0.1: {e}")),
        },
    }
}

fn run_service(
    subject: &Subject<'_>,
    t: &TestSettings,
    log: &Path,
    cancel: &Cancel,
    report: &mut TestReport,
) -> Result<(), BuildError> {
    use std::os::unix::process::CommandExt;
    let started = Instant::now();
    let not_run = |report: &mut TestReport, why: &str| {
        for h in &t.http {
            report.record(&h.name, Instant::now(), Err(format!("not run: {why}")));
        }
        report.record("stop", Instant::now(), Err(format!("not run: {why}")));
    };
    let port = match pick_port(t.port) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(append(log)?, "== service not started: {e}");
            report.record("ready", started, Err(e));
            not_run(report, "the service did not start");
            return Ok(());
        }
    };
    report.port = Some(port);
    let cmd = subject
        .service(t, port)
        .and_then(|r| Ok((subject.command(&r.cmd, &r.env)?, r.cmd)));
    let (mut cmd, args) = match cmd {
        Ok(c) => c,
        Err(e) => {
            report.record("ready", started, Err(e));
            not_run(report, "the service did not start");
            return Ok(());
        }
    };
    let mut logf = append(log)?;
    let _ = writeln!(
        logf,
        "== service: {} {}",
        subject.describe(),
        args.join(" ")
    );
    let child = cmd
        .stdin(Stdio::null())
        .stdout(
            logf.try_clone()
                .map_err(BuildError::io("opening test.log"))?,
        )
        .stderr(
            logf.try_clone()
                .map_err(BuildError::io("opening test.log"))?,
        )
        .process_group(0)
        .spawn();
    let mut service = match child {
        Ok(c) => Service(c),
        Err(e) => {
            report.record(
                "ready",
                started,
                Err(format!("could not start the binary: {e}")),
            );
            not_run(report, "the service did not start");
            return Ok(());
        }
    };
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let ready = wait_ready(&mut service.0, addr, t, cancel);
    cancel.check()?;
    let ready_ok = ready.is_ok();
    report.record("ready", started, ready.map(|_| ()));
    if !ready_ok {
        not_run(report, "the service did not get ready");
        return Ok(());
    }
    let agent = http_agent(Duration::from_secs(5));
    for h in &t.http {
        cancel.check()?;
        let s = Instant::now();
        let r = http_check(&agent, addr, h);
        report.record(&h.name, s, r);
    }
    cancel.check()?;
    let s = Instant::now();
    let r = stop(&mut service.0, t, cancel);
    let _ = writeln!(
        logf,
        "[service stop: {}]",
        r.as_ref().map_or_else(|e| e.clone(), |st| st.clone())
    );
    report.record("stop", s, r.map(|_| ()));
    Ok(())
}

/// The service checks of [`Subject::Booted`]: readiness and HTTP checks from a thread that
/// entered the container's network namespace, then the container's shutdown as the stop check.
fn check_booted(
    pid: u32,
    port: u16,
    stop: &[String],
    t: &TestSettings,
    log: &Path,
    cancel: &Cancel,
    report: &mut TestReport,
) -> Result<(), BuildError> {
    report.port = Some(port);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let _ = writeln!(
        append(log)?,
        "== service: started by the container's init (pid {pid}), checked on {addr} in its network namespace"
    );
    let started = Instant::now();
    let checks = std::thread::scope(|s| {
        s.spawn(|| -> Result<Vec<Check>, String> {
            enter_net_namespace(pid)?;
            let mut out = Vec::new();
            let deadline = started + t.ready_timeout() + BOOT_ALLOWANCE;
            let agent = http_agent(Duration::from_millis(800));
            let ready = loop {
                if cancel.is_cancelled() {
                    break Err("interrupted".to_string());
                }
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    break Err("the container stopped before the service was ready".into());
                }
                let last = match probe(
                    &agent,
                    addr,
                    t.ready_path.as_deref(),
                    Duration::from_millis(200),
                ) {
                    Ok(()) => break Ok(()),
                    Err(last) => last,
                };
                if Instant::now() >= deadline {
                    break Err(format!(
                        "not ready on {addr} within {} + {}s of booting ({last})",
                        t.ready_timeout,
                        BOOT_ALLOWANCE.as_secs()
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            let ready_ok = ready.is_ok();
            out.push(("ready".to_string(), started, ready));
            let agent = http_agent(Duration::from_secs(5));
            for h in &t.http {
                let s = Instant::now();
                let r = if ready_ok {
                    http_check(&agent, addr, h)
                } else {
                    Err("not run: the service did not get ready".into())
                };
                out.push((h.name.clone(), s, r));
            }
            Ok(out)
        })
        .join()
        .unwrap_or_else(|_| Err("the check thread panicked".into()))
    });
    cancel.check()?;
    let ready_ok = match checks {
        Ok(checks) => {
            let ok = checks.first().is_some_and(|c| c.2.is_ok());
            for (name, s, r) in checks {
                report.record(&name, s, r);
            }
            ok
        }
        Err(e) => {
            report.record("ready", started, Err(e));
            false
        }
    };
    let s = Instant::now();
    let r = match stop.split_first() {
        _ if !ready_ok => Err("not run: the service did not get ready".to_string()),
        None => Err("no stop command".to_string()),
        Some((first, rest)) => match Command::new(first).args(rest).output() {
            Ok(o) if o.status.success() && s.elapsed() < t.stop_grace() => Ok(()),
            Ok(o) if o.status.success() => Err(format!(
                "the container did not shut down within {}; killed",
                t.stop_grace
            )),
            Ok(o) => Err(format!(
                "{first}: {}",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .next()
                    .unwrap_or("failed")
            )),
            Err(e) => Err(format!("{first}: {e}")),
        },
    };
    let _ = writeln!(
        append(log)?,
        "[container stop: {}]",
        r.as_ref()
            .map_or_else(|e| e.clone(), |_| format!("clean, after {:?}", s.elapsed()))
    );
    report.record("stop", s, r);
    Ok(())
}

/// A check's name, start and result, as [`TestReport::record`] takes them.
type Check = (String, Instant, Result<(), String>);

/// Moves the calling thread into the network namespace of process `pid` (CAP_SYS_ADMIN).
fn enter_net_namespace(pid: u32) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let path = format!("/proc/{pid}/ns/net");
    let f = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    // SAFETY: a valid open namespace fd; CLONE_NEWNET changes this thread's namespace only.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(format!(
            "entering {path}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// One start-up of a service: time from spawn to the first ready answer, and its resident
/// memory then.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Startup {
    pub ready_ms: f64,
    pub rss_kb: u64,
}

/// The arguments and environment that start the service on `port` (the recipe's test settings).
pub fn service_args(t: &TestSettings, port: u16) -> (Vec<String>, Vec<(String, String)>) {
    let ps = port.to_string();
    let vars = [("port", ps.as_str())];
    let mut args: Vec<String> = t.args.iter().map(|a| expand(a, &vars)).collect();
    let mut env: Vec<(String, String)> = t
        .env
        .iter()
        .map(|(k, v)| (k.clone(), expand(v, &vars)))
        .collect();
    match t.port_via {
        PortVia::Arg => args.extend(t.port_arg.iter().map(|a| expand(a, &vars))),
        PortVia::Env => env.push((t.port_env.clone(), ps)),
    }
    (args, env)
}

/// Polls `addr` every 2 ms until the service answers as the recipe's readiness says.
pub fn ready_within(
    addr: SocketAddr,
    ready_path: Option<&str>,
    timeout: Duration,
    alive: &mut dyn FnMut() -> Result<(), String>,
) -> Result<Duration, ProbeFailed> {
    let started = Instant::now();
    let agent = http_agent(Duration::from_millis(500));
    loop {
        alive().map_err(ProbeFailed)?;
        let last = match probe(&agent, addr, ready_path, Duration::from_millis(100)) {
            Ok(()) => return Ok(started.elapsed()),
            Err(last) => last,
        };
        if started.elapsed() > timeout {
            return Err(ProbeFailed(format!(
                "not ready on {addr} within {timeout:?} ({last})"
            )));
        }
        // Short: bench measures the time to the first ready answer with this loop.
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// One readiness probe of `addr`: `GET ready_path` answered 2xx, or (no path) a TCP connect
/// within `connect_timeout`.
///
/// # Errors
/// What was seen instead, for the timeout's message (`GET / answered 404`, `connect ...: ...`).
fn probe(
    agent: &ureq::Agent,
    addr: SocketAddr,
    ready_path: Option<&str>,
    connect_timeout: Duration,
) -> Result<(), String> {
    match ready_path {
        Some(path) => match agent.get(format!("http://{addr}{path}")).call() {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("GET {path} answered {}", r.status().as_u16())),
            Err(e) => Err(format!("GET {path}: {e}")),
        },
        None => TcpStream::connect_timeout(&addr, connect_timeout)
            .map(drop)
            .map_err(|e| format!("connect {addr}: {e}")),
    }
}

/// Starts `binary` (through `runner`) as the recipe's service on a free port, measures the time
/// to its first ready answer and its RSS, then stops it.
pub fn measure_startup(
    binary: &Path,
    runner: Option<&Path>,
    t: &TestSettings,
) -> Result<Startup, ProbeFailed> {
    use std::os::unix::process::CommandExt;
    let port = pick_port(PortSetting::Auto).map_err(ProbeFailed)?;
    let (args, env) = service_args(t, port);
    let started = Instant::now();
    let child = program(binary, runner)
        .args(&args)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| ProbeFailed(format!("could not start {}: {e}", binary.display())))?;
    let mut service = Service(child);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut alive = || match service.0.try_wait() {
        Ok(Some(st)) => Err(format!(
            "exited with {} before it was ready",
            describe_status(&st)
        )),
        _ => Ok(()),
    };
    ready_within(addr, t.ready_path.as_deref(), t.ready_timeout(), &mut alive)?;
    let ready_ms = started.elapsed().as_secs_f64() * 1000.0;
    let rss_kb = std::fs::read_to_string(format!("/proc/{}/status", service.0.id()))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0);
    signal_group(&service.0, libc::SIGTERM);
    let _ = wait_until(
        &mut service.0,
        Instant::now() + Duration::from_secs(5),
        &Cancel::new(),
    );
    Ok(Startup { ready_ms, rss_kb })
}

fn wait_ready(
    child: &mut Child,
    addr: SocketAddr,
    t: &TestSettings,
    cancel: &Cancel,
) -> Result<(), String> {
    let deadline = Instant::now() + t.ready_timeout();
    let agent = http_agent(Duration::from_millis(800));
    loop {
        if cancel.is_cancelled() {
            return Err("interrupted".into());
        }
        if let Ok(Some(st)) = child.try_wait() {
            return Err(format!(
                "exited with {} before it was ready (see the log)",
                describe_status(&st)
            ));
        }
        let last = match probe(
            &agent,
            addr,
            t.ready_path.as_deref(),
            Duration::from_millis(200),
        ) {
            Ok(()) => return Ok(()),
            Err(last) => last,
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "not ready on {addr} within {} ({last})",
                t.ready_timeout
            ));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn http_check(agent: &ureq::Agent, addr: SocketAddr, h: &HttpCheck) -> Result<(), String> {
    let url = format!("http://{addr}{}", h.path);
    let req = ureq::http::Request::builder()
        .method(h.method.as_str())
        .uri(&url)
        .body(())
        .map_err(|e| e.to_string())?;
    let mut resp = agent
        .run(req)
        .map_err(|e| format!("{} {}: {e}", h.method, h.path))?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .unwrap_or_default();
    if status != h.status {
        return Err(format!(
            "{} {} answered {status}, expected {}",
            h.method, h.path, h.status
        ));
    }
    if let Some(re) = &h.body {
        let re = regex::Regex::new(re).map_err(|e| e.to_string())?;
        if !re.is_match(&body) {
            return Err(format!(
                "{} {} body {:?} does not match /{}/",
                h.method,
                h.path,
                clip(&body),
                re.as_str()
            ));
        }
    }
    Ok(())
}

/// SIGTERM, then wait for the grace period; SIGKILL (a failed test) after it.
fn stop(child: &mut Child, t: &TestSettings, cancel: &Cancel) -> Result<String, String> {
    use std::os::unix::process::ExitStatusExt;
    if let Ok(Some(st)) = child.try_wait() {
        return Err(format!(
            "exited with {} before SIGTERM",
            describe_status(&st)
        ));
    }
    signal(child, libc::SIGTERM);
    let deadline = Instant::now() + t.stop_grace();
    match wait_until(child, deadline, cancel) {
        Ok(Some(st))
            if st.success()
                || st.signal() == Some(libc::SIGTERM)
                || st.code() == Some(143)
                || st.code().is_some_and(|c| t.stop_exit.contains(&c)) =>
        {
            Ok(describe_status(&st))
        }
        Ok(Some(st)) => Err(format!(
            "exited with {} after SIGTERM",
            describe_status(&st)
        )),
        Ok(None) => {
            signal_group(child, libc::SIGKILL);
            let _ = child.wait();
            Err(format!(
                "did not exit within {} of SIGTERM; killed",
                t.stop_grace
            ))
        }
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TestSettings {
        TestSettings {
            ready_timeout: "2s".into(),
            stop_grace: "1s".into(),
            ..Default::default()
        }
    }

    #[test]
    fn processes_left_behind_fail_the_run_and_are_killed() {
        // A copy of sh whose check starts a background loop of itself and exits 0.
        let d = tempfile::tempdir().unwrap();
        let sh = d.path().join("dsh");
        std::fs::copy("/bin/sh", &sh).unwrap();
        let t = TestSettings {
            service: false,
            command: vec![CommandCheck {
                name: "forks".into(),
                args: vec![
                    "-c".into(),
                    // setsid: out of the check's process group, as a daemon gets.
                    "setsid $0 -c 'while :; do sleep 1; done' >/dev/null 2>&1 & sleep 0.2; exit 0"
                        .into(),
                ],
                exit: 0,
                stdout: None,
                stderr: None,
                timeout: "5s".into(),
            }],
            ..settings()
        };
        let subject = Subject::Binary {
            path: &sh,
            runner: None,
            root: None,
        };
        let r = run_tests_on(&subject, &t, &d.path().join("log"), &Cancel::new()).unwrap();
        let left = r
            .tests
            .iter()
            .find(|c| c.name == "no-leftovers")
            .expect("reported");
        assert!(
            left.error
                .as_deref()
                .unwrap()
                .contains("still running after the tests"),
            "{left:?}"
        );
        let left = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| std::fs::read_link(e.path().join("exe")).is_ok_and(|x| x == sh))
            .count();
        assert_eq!(left, 0, "the loop survived");
    }

    #[test]
    fn not_ready_names_the_last_answer() {
        // deploy and bench wait with ready_within: a timeout says what the service answered.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                let mut c = c;
                let mut buf = [0u8; 1024];
                let _ = std::io::Read::read(&mut c, &mut buf);
                let _ = std::io::Write::write_all(
                    &mut c,
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        let e = ready_within(
            addr,
            Some("/health"),
            Duration::from_millis(300),
            &mut || Ok(()),
        )
        .unwrap_err();
        assert!(
            e.0.starts_with(&format!("not ready on {addr} within"))
                && e.0.ends_with("(GET /health answered 404)"),
            "{e}"
        );
    }

    #[test]
    fn busy_fixed_port_is_a_failed_test() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        assert!(pick_port(PortSetting::Fixed(p))
            .unwrap_err()
            .contains("already in use"));
        assert!(pick_port(PortSetting::Auto).is_ok());
    }

    #[test]
    fn a_binary_that_exits_at_once_fails_ready_and_the_rest() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("test.log");
        let t = TestSettings {
            http: vec![HttpCheck {
                name: "h".into(),
                method: "GET".into(),
                path: "/".into(),
                status: 200,
                body: None,
            }],
            ..settings()
        };
        let r = run_tests(
            Path::new("/bin/false"),
            None,
            None,
            &t,
            &log,
            &Cancel::new(),
        )
        .unwrap();
        assert_eq!(r.tests.len(), 3);
        assert_eq!(r.passed(), 0);
        assert!(
            r.tests[0]
                .error
                .as_ref()
                .unwrap()
                .contains("exited with exit status 1"),
            "{r:?}"
        );
        assert!(r.tests[1].error.as_ref().unwrap().starts_with("not run"));
    }

    #[test]
    fn a_binary_that_never_listens_times_out() {
        let d = tempfile::tempdir().unwrap();
        let t = TestSettings {
            args: vec!["30".into()],
            port_arg: vec![],
            ready_timeout: "300ms".into(),
            ..settings()
        };
        let started = Instant::now();
        let r = run_tests(
            Path::new("/bin/sleep"),
            None,
            None,
            &t,
            &d.path().join("l"),
            &Cancel::new(),
        )
        .unwrap();
        assert!(!r.all_passed());
        assert!(
            r.tests[0].error.as_ref().unwrap().contains("not ready"),
            "{r:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    fn bin(p: &'static str) -> Subject<'static> {
        Subject::Binary {
            path: Path::new(p),
            runner: None,
            root: None,
        }
    }

    #[test]
    fn command_check_exit_and_stdout() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("l");
        let ok = CommandCheck {
            name: "v".into(),
            args: vec!["hello".into()],
            exit: 0,
            stdout: Some("^hel".into()),
            stderr: None,
            timeout: "2s".into(),
        };
        assert_eq!(
            run_command_check(&bin("/bin/echo"), &ok, &log, &Cancel::new()),
            Ok(())
        );
        let bad = CommandCheck {
            stdout: Some("^bye".into()),
            ..ok.clone()
        };
        assert!(
            run_command_check(&bin("/bin/echo"), &bad, &log, &Cancel::new())
                .unwrap_err()
                .contains("does not match")
        );
        // stderr is matched on its own (ls of a missing file says so there, exit 2).
        let on_stderr = CommandCheck {
            args: vec!["/nonexistent-binship".into()],
            exit: 2,
            stdout: None,
            stderr: Some("nonexistent-binship".into()),
            ..ok.clone()
        };
        assert_eq!(
            run_command_check(&bin("/bin/ls"), &on_stderr, &log, &Cancel::new()),
            Ok(())
        );
        let on_stdout = CommandCheck {
            stdout: Some("nonexistent-binship".into()),
            stderr: None,
            ..on_stderr
        };
        let e = run_command_check(&bin("/bin/ls"), &on_stdout, &log, &Cancel::new()).unwrap_err();
        assert!(e.starts_with("stdout \"\" does not match"), "{e}");
        let hang = CommandCheck {
            args: vec!["10".into()],
            timeout: "200ms".into(),
            stdout: None,
            ..ok
        };
        assert!(
            run_command_check(&bin("/bin/sleep"), &hang, &log, &Cancel::new())
                .unwrap_err()
                .contains("did not exit")
        );
    }
}
