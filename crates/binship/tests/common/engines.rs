//! Real engines for tests: a dockerd started in its own temp dir on its own socket, podman with
//! its own root, and tool lookups. A missing engine is a skip with a printed reason on a
//! laptop, and a failure when CI=true. Everything is stopped and cleaned up on drop.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn on_path(tool: &str) -> bool {
    if tool.contains('/') {
        return Path::new(tool).is_file();
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// True if every tool is there; else a printed skip (or a panic under CI=true).
pub fn require(tools: &[&str], root: bool) -> bool {
    let missing: Vec<&&str> = tools.iter().filter(|t| !on_path(t)).collect();
    let not_root = root && unsafe { libc::geteuid() } != 0;
    if missing.is_empty() && !not_root {
        return true;
    }
    let why = if not_root {
        "needs root".to_string()
    } else {
        format!("missing {missing:?} (scripts/test.sh installs them)")
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true and this engine test cannot run: {why}");
    }
    eprintln!("SKIP: {why}");
    false
}

/// Unmounts everything mounted below `dir` (deepest first).
pub fn unmount_under(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|m| Path::new(m).starts_with(dir))
        .collect();
    points.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in points {
        let _ = Command::new("umount").args(["-l", m]).output();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET http://127.0.0.1:port/path -> (status, body), or None if nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http(
        port,
        &format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"),
        b"",
        3,
    )
}

/// `PUT path` on 127.0.0.1:`port` with `body` of `content_type`: the status and body, or None
/// when nothing answers.
pub fn http_put(port: u16, path: &str, content_type: &str, body: &[u8]) -> Option<(u16, String)> {
    let head = format!(
        "PUT {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    http(port, &head, body, 5)
}

/// Sends `head` and `body` to 127.0.0.1:`port` and reads the answer (at most `secs` s between
/// reads): its status and body, or None if nothing answers.
fn http(port: u16, head: &str, body: &[u8], secs: u64) -> Option<(u16, String)> {
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500))
            .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(secs))).ok()?;
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let status = resp.split_whitespace().nth(1)?.parse().ok()?;
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// Polls /health until it answers 200 (or gives up after `secs`).
pub fn wait_healthy(port: u16, secs: u64) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if let Some((200, body)) = http_get(port, "/health") {
            return Some(body);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[track_caller]
pub fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs go-id's `image` detached as container `name` on the host network with `flags`, serving
/// on a free port (`--port`), and waits until GET /health answers "ok" (else fails with the
/// container's log). `engine` is `Dockerd::docker` or `Podman::podman`. Returns the port.
pub fn serve(
    engine: impl Fn(&[&str]) -> Output,
    name: &str,
    image: &str,
    flags: &[&str],
    what: &str,
) -> u16 {
    let port = free_port();
    let port_s = port.to_string();
    let mut args = vec!["run", "-d", "--network", "host", "--name", name];
    args.extend_from_slice(flags);
    args.extend([image, "--port", port_s.as_str()]);
    ok(engine(&args), &format!("{what}: run"));
    let body = wait_healthy(port, 30);
    if body.as_deref() != Some("ok\n") {
        let logs = engine(&["logs", name]);
        panic!(
            "{what}: no health answer ({body:?}); logs: {}{}",
            String::from_utf8_lossy(&logs.stdout),
            String::from_utf8_lossy(&logs.stderr)
        );
    }
    port
}

/// A dockerd of our own.
pub struct Dockerd {
    pub dir: tempfile::TempDir,
    child: Child,
    pub sock: PathBuf,
}

impl Dockerd {
    pub fn start() -> Option<Dockerd> {
        if !require(&["dockerd", "/usr/bin/docker", "containerd", "runc"], true) {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("bsd")
            .tempdir_in("/tmp")
            .unwrap();
        let t = dir.path();
        let sock = t.join("docker.sock");
        let log = std::fs::File::create(t.join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(t.join("data"))
            .arg("--exec-root")
            .arg(t.join("exec"))
            .arg("--pidfile")
            .arg(t.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .args(["--bridge=none", "--iptables=false", "--ip6tables=false"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let d = Dockerd { dir, child, sock };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if d.docker(&["version"]).status.success() {
                return Some(d);
            }
            if Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(d.dir.path().join("dockerd.log")).unwrap_or_default();
                panic!("dockerd did not start within 60 s:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("/usr/bin/docker")
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
            .env("DOCKER_BUILDKIT", "0")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        unmount_under(self.dir.path());
    }
}

/// podman with its own storage in a temp dir.
pub struct Podman {
    pub dir: tempfile::TempDir,
}

impl Podman {
    /// The podman command line binship's `--engine`/`--image-test-engine` take for this
    /// instance (its own storage, runc, cgroupfs).
    pub fn engine(&self) -> String {
        format!(
            "podman --root {0}/root --runroot {0}/run --tmpdir {0}/tmp --runtime runc --cgroup-manager cgroupfs --events-backend none",
            self.dir.path().display()
        )
    }
    pub fn new() -> Option<Podman> {
        if !require(&["podman", "runc"], true) {
            return None;
        }
        Some(Podman {
            dir: tempfile::Builder::new()
                .prefix("bsp")
                .tempdir_in("/tmp")
                .unwrap(),
        })
    }

    pub fn podman(&self, args: &[&str]) -> Output {
        let t = self.dir.path();
        Command::new("podman")
            .arg("--root")
            .arg(t.join("root"))
            .arg("--runroot")
            .arg(t.join("run"))
            .arg("--tmpdir")
            .arg(t.join("tmp"))
            .args([
                "--runtime",
                "runc",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "none",
            ])
            .args(args)
            .env("TMPDIR", t)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

impl Podman {
    /// [`serve`] with the ulimits podman's runc needs on these machines.
    pub fn serve(&self, name: &str, image: &str, flags: &[&str], what: &str) -> u16 {
        let mut f = vec![
            "--ulimit",
            "nofile=20000:20000",
            "--ulimit",
            "nproc=32768:32768",
        ];
        f.extend_from_slice(flags);
        serve(|a| self.podman(a), name, image, &f, what)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.podman(&["rm", "-af", "-t", "1"]);
        let _ = self.podman(&["rmi", "-af"]);
        unmount_under(self.dir.path());
    }
}

/// The cached Debian bookworm rootfs tarball of `variant` (minbase, systemd, openrc,
/// supervisor), made once by scripts/make-debian-base.sh; `tools` are required besides
/// debootstrap (a skip with a reason, or a failure under CI=true, when missing).
pub fn debian_base(variant: &str, tools: &[&str]) -> Option<PathBuf> {
    let mut all = vec!["debootstrap"];
    all.extend_from_slice(tools);
    if !require(&all, true) {
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-debian-base.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(variant)
        .output()
        .unwrap();
    Some(PathBuf::from(
        ok(out, &format!("make-debian-base.sh {variant}")).trim(),
    ))
}

/// A docker-registry (no auth, no TLS) on 127.0.0.1 with storage in a temp dir, stopped when
/// the guard drops: (guard, port). Callers check `require(&["docker-registry"])` first.
pub fn plain_registry() -> (RegistryGuard, u16) {
    plain_registry_with(false)
}

/// [`plain_registry`], with `storage.delete.enabled` set to `delete`.
pub fn plain_registry_with(delete: bool) -> (RegistryGuard, u16) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = dir.path().join("cfg.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: {delete}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("reg").display()
        ),
    )
    .unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let guard = RegistryGuard(child, dir);
    wait_for_v2(port, "docker-registry");
    (guard, port)
}

/// Waits up to 30 s for a registry on 127.0.0.1:`port` to answer `/v2/`.
fn wait_for_v2(port: u16, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while http_get(port, "/v2/").is_none() {
        assert!(std::time::Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A registry with the OCI 1.1 referrers API: ferro-oci-server (crates.io; scripts/test.sh
/// installs it into the test cache), listening on 127.0.0.1 only, storing in a temp dir; or
/// None with the reason printed (a failure under CI=true).
pub fn referrers_registry() -> Option<(RegistryGuard, u16)> {
    let cache = std::env::var("BINSHIP_TEST_CACHE").unwrap_or("/var/cache/binship-tests".into());
    let bin = Path::new(&cache).join("ferro-oci-server/bin/ferro-oci-server");
    if !bin.is_file() {
        let why = format!(
            "{} is not installed (scripts/test.sh installs it)",
            bin.display()
        );
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true and the referrers registry cannot run: {why}");
        }
        eprintln!("SKIP: {why}");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(bin)
        // Its default listens on every address: never here.
        .env("FERRO_OCI_LISTEN", format!("127.0.0.1:{port}"))
        .env("FERRO_OCI_STORAGE_DIR", dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("log")).unwrap())
        .spawn()
        .unwrap();
    let guard = RegistryGuard(child, dir);
    wait_for_v2(port, "ferro-oci-server");
    Some((guard, port))
}

pub struct RegistryGuard(std::process::Child, tempfile::TempDir);

impl Drop for RegistryGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The shell command that prints a service process's identity and confinement lines from
/// `/proc/PID/status` (PID: a shell word such as `$(systemctl show -p MainPID --value go-id)`).
pub fn status_lines(pid: &str) -> String {
    format!("grep -E '^(Uid|NoNewPrivs|Seccomp|Cap[A-Za-z]+):' /proc/{pid}/status")
}

/// Checks what `status_lines` printed: every uid is 65532 and, for a systemd unit with
/// binship's hardening, no new privileges and a seccomp filter (RestrictNamespaces & co.).
pub fn assert_service_process(status: &str, systemd_hardened: bool, what: &str) {
    let field = |name: &str| -> Vec<&str> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.split_whitespace().collect())
            .unwrap_or_default()
    };
    let uids = field("Uid:");
    assert!(
        uids.len() == 4 && uids.iter().all(|u| *u == "65532"),
        "{what}: not uid 65532: {status}"
    );
    if systemd_hardened {
        assert_eq!(field("NoNewPrivs:"), ["1"], "{what}: {status}");
        assert_eq!(
            field("Seccomp:"),
            ["2"],
            "{what}: no seccomp filter: {status}"
        );
    }
}

/// An LXC container in its own lxcpath; stopped and destroyed on drop.
pub struct Container {
    pub lxcpath: tempfile::TempDir,
    pub name: String,
}

impl Container {
    pub fn lxc(&self, tool: &str, args: &[&str]) -> std::process::Output {
        std::process::Command::new(tool)
            .arg("-P")
            .arg(self.lxcpath.path())
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .output()
            .unwrap()
    }
    pub fn attach(&self, script: &str) -> std::process::Output {
        self.lxc("lxc-attach", &["--", "/bin/sh", "-c", script])
    }
}

impl Container {
    /// `binship deploy APP --to lxc --name NAME --base rootfs:BASE` into a container of its own
    /// (an lxcpath in /tmp, an empty network namespace with loopback up); asserts it deployed
    /// with systemd and returns the container (stopped and destroyed on drop).
    pub fn deployed(p: &super::Project, app: &str, name: &str, base: &Path) -> Container {
        let conf = p.path().join("lxc.conf");
        std::fs::write(
            &conf,
            "lxc.net.0.type = empty\nlxc.net.0.flags = up\nlxc.apparmor.profile = unconfined\n",
        )
        .unwrap();
        let c = Container {
            lxcpath: tempfile::Builder::new()
                .prefix("bsd")
                .tempdir_in("/tmp")
                .unwrap(),
            name: name.into(),
        };
        let j = p
            .run(&[
                "deploy",
                app,
                "--to",
                "lxc",
                "--name",
                name,
                "--base",
                &format!("rootfs:{}", base.display()),
                "--lxcpath",
                c.lxcpath.path().to_str().unwrap(),
                "--lxc-conf",
                conf.to_str().unwrap(),
                "--json",
            ])
            .ok()
            .json();
        assert_eq!(
            (j["status"].as_str(), j["service"].as_str()),
            (Some("deployed"), Some("systemd")),
            "{j}"
        );
        c
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.lxc("lxc-stop", &["-k"]);
        let _ = self.lxc("lxc-destroy", &["-f"]);
        unmount_under(self.lxcpath.path());
    }
}
