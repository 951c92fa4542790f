//! LXC images checked by Debian's real lxc: `lxc-create -t local` with binship's
//! meta.tar.xz + rootfs.tar.xz, `lxc-start`, then inside the container (its own, empty network
//! namespace: a booting init must not touch the host's) the service answers health through its
//! own probe, runs as uid 65532 and has its env file's values. Both inits: systemd and
//! OpenRC (sysvinit + openrc). Each container is stopped and destroyed even when a check fails.

mod common;
use common::engines::*;
use common::tiny::{debian_like_tar, tiny_project};
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn base(variant: &str) -> Option<PathBuf> {
    debian_base(variant, &["lxc-create", "lxc-start", "lxc-attach"])
}

const MODE: &str = "it's \"on\" $HOME 100%\nline2";

/// Boots go-id in LXC on the Debian `variant` base, serving on `port`. `layered`: the base is
/// first made into an OCI image of two layers (the Debian rootfs and a go-id layer), which the
/// LXC image then flattens, as it would any multi-layer image a user brings. A port below 1024
/// (in the container's own network namespace, where such ports are privileged) must be bound
/// by uid 65532 holding CAP_NET_BIND_SERVICE and no other capability (issue 18, fault 3).
fn boot_and_check(variant: &str, service: &str, layered: bool, port: u16) {
    let Some(base) = base(variant) else { return };
    let p = Project::new().with_example("go-id");
    // A system image takes its port and arguments from the recipe (--port and --arg are for
    // application images).
    let recipe = p.app_dir("go-id").join("binship.toml");
    let text = std::fs::read_to_string(&recipe).unwrap().replace(
        "ports = [7001]",
        &format!("ports = [{port}]\nargs = [\"--port\", \"{port}\"]"),
    );
    std::fs::write(&recipe, text).unwrap();
    p.run(&["build", "go-id"]).ok();
    let mut base_arg = format!("rootfs:{}", base.display());
    if layered {
        let layout = p.path().join("layered-base");
        let j = p
            .run(&[
                "scaffold",
                "go-id",
                "--base",
                &base_arg,
                "--format",
                "oci",
                "--compress",
                "none",
                "-o",
                layout.to_str().unwrap(),
                "--json",
            ])
            .ok()
            .json();
        assert_eq!(j["layers"].as_array().map(|l| l.len()), Some(2), "{j}");
        base_arg = format!("oci:{}", layout.display());
    }
    let j = p
        .run(&[
            "scaffold",
            "go-id",
            "--base",
            &base_arg,
            "--format",
            "lxc",
            "--level",
            "0",
            "--env",
            &format!("MODE={MODE}"),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(j["service"], service);
    // Scaffold booted it in LXC for its image test: the checks ran against the init's service.
    assert_eq!(j["image_tests"]["status"], "passed", "{variant}: {j}");
    assert_eq!(j["image_tests"]["runner"], "lxc", "{variant}: {j}");
    assert_eq!(j["image_tests"]["port"], port, "{variant}: {j}");
    let dir = PathBuf::from(j["path"].as_str().unwrap());
    assert_eq!(
        dir,
        p.path().join("images/lxc/go-id-debian"),
        "the seed's layout"
    );
    assert_eq!(j["tag"], "go-id-debian");
    let conf = p.path().join("lxc.conf");
    std::fs::write(
        &conf,
        "lxc.net.0.type = empty\nlxc.net.0.flags = up\nlxc.apparmor.profile = unconfined\n",
    )
    .unwrap();
    let c = Container {
        lxcpath: tempfile::Builder::new()
            .prefix("bsl")
            .tempdir_in("/tmp")
            .unwrap(),
        name: format!("go-id-{variant}"),
    };
    let created = c.lxc(
        "lxc-create",
        &[
            "-f",
            conf.to_str().unwrap(),
            "-t",
            "local",
            "--",
            "--metadata",
            dir.join("meta.tar.xz").to_str().unwrap(),
            "--fstree",
            dir.join("rootfs.tar.xz").to_str().unwrap(),
        ],
    );
    ok(created, "lxc-create");
    let config = std::fs::read_to_string(c.lxcpath.path().join(&c.name).join("config")).unwrap();
    assert!(
        config.contains("debian.common.conf") && config.contains("lxc.arch = x86_64"),
        "{config}"
    );
    ok(c.lxc("lxc-start", &["-d"]), "lxc-start");
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = String::new();
    loop {
        let probe = c.attach(&format!("/usr/local/bin/go-id --probe --port {port}"));
        if probe.status.success() {
            break;
        }
        last = format!(
            "{}{}",
            String::from_utf8_lossy(&probe.stdout),
            String::from_utf8_lossy(&probe.stderr)
        );
        assert!(
            Instant::now() < deadline,
            "{variant}: the service never answered health: {last}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = last;
    let find = "for p in /proc/[0-9]*; do case \"$(tr '\\0' ' ' < $p/cmdline 2>/dev/null)\" in /usr/local/bin/go-id*) echo $p;; esac; done";
    let pid = ok(c.attach(find), "find go-id");
    let pid = pid
        .lines()
        .next()
        .unwrap_or_else(|| panic!("{variant}: no go-id process"))
        .trim()
        .to_string();
    let status = ok(
        c.attach(&status_lines(pid.trim_start_matches("/proc/"))),
        "status",
    );
    assert_service_process(&status, service == "systemd", variant);
    let caps: Vec<&str> = status
        .lines()
        .filter(|l| {
            ["CapEff:", "CapBnd:", "CapAmb:"]
                .iter()
                .any(|c| l.starts_with(c))
        })
        .collect();
    let want = if port < 1024 {
        "0000000000000400"
    } else {
        "0000000000000000"
    };
    assert_eq!(caps.len(), 3, "{variant}: {status}");
    for c in &caps {
        if port < 1024 || !c.starts_with("CapBnd") {
            assert!(c.ends_with(want), "{variant} on port {port}: {caps:?}");
        }
    }
    let env = ok(
        c.attach(&format!("tr '\\0' '\\n' < {pid}/environ")),
        "environ",
    );
    assert!(env.contains(&format!("MODE={MODE}\n")), "{variant}: {env}");
    let passwd = ok(c.attach("grep ^go-id: /etc/passwd"), "passwd");
    assert!(passwd.starts_with("go-id:x:65532:65532"), "{passwd}");
    let stopped = Instant::now();
    ok(c.lxc("lxc-stop", &["-t", "30"]), "lxc-stop");
    assert!(
        stopped.elapsed() < Duration::from_secs(30),
        "{variant}: stop took {:?}",
        stopped.elapsed()
    );
}

#[test]
fn a_systemd_image_boots_in_lxc_and_runs_the_service_on_port_80_as_non_root() {
    boot_and_check("systemd", "systemd", false, 80);
}

#[test]
fn an_openrc_image_flattened_from_a_two_layer_image_boots_in_lxc_and_runs_the_service() {
    boot_and_check("openrc", "openrc", true, 7001);
}

/// Issue 19, item 2 for system images: scaffold boots the LXC image it assembled (LXC, its own
/// loopback-only network namespace) and runs the recipe's checks against the service its init
/// started. The binary's tests serve the source dir; an image whose unit serves /etc answers
/// /file/passwd, so it fails its test, exits 6 and nothing is written; serving /usr/share, it
/// passes and says so.
#[test]
fn a_system_image_is_booted_for_its_image_test_and_one_serving_the_wrong_dir_is_not_written() {
    let Some(base) = base("systemd") else { return };
    if !require(&["gcc"], true) {
        return;
    }
    let recipe = |root: &str| {
        format!(
            "kind = \"c\"\n[test]\nargs = [\"--root\", \".\"]\nready_path = \"/health\"\nready_timeout = \"2s\"\nstop_grace = \"10s\"\n[[test.http]]\nname = \"health\"\npath = \"/health\"\nstatus = 200\n[[test.http]]\nname = \"no-passwd\"\npath = \"/file/passwd\"\nstatus = 404\n[container]\nports = [7001]\nargs = [\"--root\", \"{root}\", \"--port\", \"7001\"]\n"
        )
    };
    let p = Project::new().with_app("rootsrv", &recipe("/etc"), &[("main.c", FILE_SERVER)]);
    p.run(&["build", "rootsrv"]).ok();
    let base_arg = format!("rootfs:{}", base.display());
    let args = [
        "scaffold", "rootsrv", "--base", &base_arg, "--format", "lxc", "--level", "0",
    ];
    let out = p.path().join("images/lxc/rootsrv-debian");
    let r = p.run(&args);
    assert_eq!(r.code, 6, "{r:?}");
    let line = r.stderr.trim().lines().last().unwrap_or_default();
    assert!(
        line.contains(
            "the image test failed: no-passwd: GET /file/passwd answered 200, expected 404"
        ) && line.contains("nothing was written"),
        "{line}"
    );
    assert!(!out.exists(), "an image that failed its test was written");
    std::fs::write(
        p.app_dir("rootsrv").join("binship.toml"),
        format!(
            "name = \"rootsrv\"\nsource = \"../../../src/rootsrv\"\n{}",
            recipe("/usr/share")
        ),
    )
    .unwrap();
    // On a terminal, the root filesystem's compression (seconds) shows its progress (issue 20,
    // item 12), and the image test says it booted the image.
    let mut cmd = p.cmd(&args);
    cmd.env("TERM", "xterm");
    let mut s = rexpect::session::spawn_command(cmd, Some(180_000)).unwrap();
    s.exp_string("compressing the root filesystem").unwrap();
    s.exp_string("booted by its init in LXC").unwrap();
    s.exp_eof().unwrap();
    let mut json = args.to_vec();
    json.push("--json");
    let j = p.run(&json).ok().json();
    assert_eq!(j["status"], "unchanged", "{j}");
    let t = &j["image_tests"];
    assert_eq!(t["status"], "passed", "{j}");
    assert_eq!(t["runner"], "lxc", "{j}");
    let names: Vec<&str> = t["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ready", "health", "no-passwd", "stop"], "{j}");
    assert!(out.join("rootfs.tar.xz").exists());
}

/// A system image whose init cannot start (the fixture's /sbin/init is a script without a
/// shell) fails its image test at boot: exit 6, nothing written; where /sbin/init leads
/// nowhere, the test is skipped and says why.
#[test]
fn an_image_whose_init_cannot_boot_fails_its_image_test() {
    if !require(&["lxc-start"], true) {
        return;
    }
    let p = tiny_project();
    let deb = p.path().join("deb.tar");
    std::fs::write(&deb, debian_like_tar()).unwrap();
    let base = format!("rootfs:{}", deb.display());
    let args = [
        "scaffold", "tiny", "--base", &base, "--format", "lxc", "--level", "0", "-o", "l",
    ];
    let r = p.run(&args);
    assert_eq!(r.code, 6, "{r:?}");
    assert!(
        r.stderr.contains(
            "the image test failed: boot: LXC could not boot it: Failed to exec \"/sbin/init\""
        ),
        "{r:?}"
    );
    assert!(!p.path().join("l").exists());
    let mut json = args.to_vec();
    json.extend(["--json", "--no-image-test"]);
    let j = p.run(&json).ok().json();
    assert_eq!(j["image_tests"]["reason"], "--no-image-test", "{j}");
}

/// Interrupting a scaffold while its image test has an LXC container booted (SIGTERM, as
/// Ctrl-C) stops the container, removes its temp dirs and exits 130 with nothing written.
#[test]
fn an_interrupted_image_test_stops_its_container_and_exits_130() {
    let Some(base) = base("systemd") else { return };
    let p = Project::new().with_example("go-id");
    // The service listens on 9999 while the image exposes 7001: never ready.
    let recipe = p.app_dir("go-id").join("binship.toml");
    let text = std::fs::read_to_string(&recipe).unwrap().replace(
        "ports = [7001]",
        "ports = [7001]\nargs = [\"--port\", \"9999\"]",
    );
    std::fs::write(&recipe, text).unwrap();
    p.run(&["build", "go-id"]).ok();
    let mut child = p
        .cmd(&[
            "scaffold",
            "go-id",
            "--base",
            &format!("rootfs:{}", base.display()),
            "--format",
            "lxc",
            "--level",
            "0",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log = p
        .path()
        .join("images/standalone-binaries/.binship/logs/image-test-go-id-v.1.log");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("started by the container's init")
    {
        assert!(Instant::now() < deadline, "the container never started");
        assert!(child.try_wait().unwrap().is_none(), "scaffold ended first");
        std::thread::sleep(Duration::from_millis(200));
    }
    let pid = child.id();
    // The container's LXC path: a /tmp/binship-lxc-* dir whose config roots it in this project.
    let project = p.path().to_string_lossy().into_owned();
    let lxcpath = std::fs::read_dir("/tmp")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|d| {
            d.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("binship-lxc-"))
        })
        .find(|d| {
            std::fs::read_to_string(d.join("image-test/config")).is_ok_and(|c| c.contains(&project))
        })
        .expect("the image test's LXC path");
    let lxcpath_s = lxcpath.to_string_lossy().into_owned();
    // Processes naming it (LXC's monitor: `[lxc monitor] PATH image-test`).
    let running = || -> Vec<String> {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .filter(|c| c.contains(&lxcpath_s))
            .collect()
    };
    assert!(!running().is_empty(), "no process names {lxcpath_s}");
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("go-id v.1: interrupted; nothing was written"),
        "{err}"
    );
    assert!(!p.path().join("images/lxc/go-id-debian").exists());
    // The container is stopped, its LXC path and the rootfs copy are gone.
    assert!(running().is_empty(), "{:?}", running());
    assert!(!lxcpath.exists());
    let tmp = p.path().join("images/standalone-binaries/.binship/tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .filter(|n| n.to_string_lossy().starts_with("image-test@"))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn bad_input_for_system_formats() {
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    let r = p.run(&["scaffold", "go-id", "--format", "lxc"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("base static has no init (/sbin/init missing)"),
        "{r:?}"
    );
    let Some(base) = base("systemd") else { return };
    let b = format!("rootfs:{}", base.display());
    let r = p.run(&[
        "scaffold",
        "go-id",
        "--base",
        &b,
        "--format",
        "incus",
        "--alias",
        "bad/alias",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("alias `bad/alias` is not a valid Incus alias"),
        "{r:?}"
    );
    let r = p.run(&[
        "scaffold",
        "go-id",
        "--base",
        &b,
        "--format",
        "lxc",
        "--service",
        "none",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("needs --service systemd or openrc"),
        "{r:?}"
    );
    // Compressions the formats do not take.
    for (format, compress, want) in [
        ("lxc", "zstd", "--format lxc writes xz"),
        (
            "incus",
            "gzip",
            "--format incus takes --compress xz (default) or zstd, not gzip",
        ),
    ] {
        let r = p.run(&[
            "scaffold",
            "go-id",
            "--base",
            &b,
            "--format",
            format,
            "--compress",
            compress,
        ]);
        assert_eq!(r.code, 2, "{r:?}");
        assert!(r.stderr.contains(want), "{r:?}");
    }
    // Output exists: the same image again is kept as it is.
    p.run(&[
        "scaffold", "go-id", "--base", &b, "--format", "incus", "--level", "0",
    ])
    .ok();
    let r = p
        .run(&[
            "scaffold", "go-id", "--base", &b, "--format", "incus", "--level", "0",
        ])
        .ok();
    assert!(
        r.stdout
            .contains("Unchanged: it already held this image (sha256:"),
        "{r:?}"
    );
    // Reproducible: the same bytes again.
    let a = p.path().join("images/lxc/go-id-debian/incus.tar.xz");
    let first = std::fs::read(&a).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    p.run(&[
        "scaffold", "go-id", "--base", &b, "--format", "incus", "--force", "--level", "0",
    ])
    .ok();
    assert!(
        first == std::fs::read(&a).unwrap(),
        "incus tarball differs between runs"
    );
    // zstd too: reproducible, and read back through the same reader and validator.
    let zst = p.path().join("images/lxc/go-id-debian/incus.tar.zst");
    let zargs = [
        "scaffold",
        "go-id",
        "--base",
        &b,
        "--format",
        "incus",
        "--compress",
        "zstd",
        "--force",
    ];
    p.run(&zargs).ok();
    let first_zst = std::fs::read(&zst).unwrap();
    assert_eq!(&first_zst[..4], &[0x28, 0xb5, 0x2f, 0xfd], "not zstd");
    p.run(&zargs).ok();
    assert!(
        first_zst == std::fs::read(&zst).unwrap(),
        "zstd tarball differs"
    );
    let reader = binship_sink::sink_for("incus").unwrap().open(&zst).unwrap();
    binship_image::validate::validate(&*reader, &Default::default()).unwrap();
    // The unified tarball: metadata.yaml, templates, rootfs/ with the binary.
    let files = binship_image::flat::list_files(std::fs::File::open(&a).unwrap()).unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "metadata.yaml",
        "templates/hostname.tpl",
        "templates/hosts.tpl",
        "rootfs/usr/local/bin/go-id",
        "rootfs/etc/systemd/system/go-id.service",
    ] {
        assert!(names.contains(&want), "{want} missing");
    }
    let reader = binship_sink::sink_for("incus").unwrap().open(&a).unwrap();
    binship_image::validate::validate(&*reader, &Default::default()).unwrap();
    let _ = Path::new("");
}

/// Incus and LXD each run a daemon driving liblxc on this host; their tests take turns, so a
/// failure of one is never the other's doing (on 2 cores, running both at once gains little).
static DAEMONS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Incus or LXD: a daemon of our own in a temp state dir (INCUS_DIR / LXD_DIR), a dir storage
/// pool and a root disk in the default profile (their `init --minimal`/`--auto` find no bridge
/// subnet here), no network. Every instance is deleted and the daemon shut down on drop.
struct Daemon {
    dir: tempfile::TempDir,
    child: std::process::Child,
    /// The client: `incus` or LXD's `lxc`.
    client: &'static str,
    /// The admin verbs' prefix: `incus admin` or `lxd`.
    admin: &'static [&'static str],
    env: &'static str,
}

impl Daemon {
    fn incus() -> Option<Daemon> {
        Daemon::start(
            "/usr/libexec/incus/incusd",
            "incus",
            &["incus", "admin"],
            "INCUS_DIR",
        )
    }

    fn lxd() -> Option<Daemon> {
        Daemon::start("lxd", "/usr/bin/lxc", &["lxd"], "LXD_DIR")
    }

    fn start(
        daemon: &'static str,
        client: &'static str,
        admin: &'static [&'static str],
        env: &'static str,
    ) -> Option<Daemon> {
        if !require(&[daemon, client], true) {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("bsd")
            .tempdir_in("/tmp")
            .unwrap();
        // The container's root (a mapped uid) must be able to traverse the dir.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        let log = std::fs::File::create(dir.path().join("daemon.out")).unwrap();
        let child = Command::new(daemon)
            .args(["--group", "root", "--logfile"])
            .arg(dir.path().join("daemon.log"))
            .env(env, dir.path().join("state"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let d = Daemon {
            dir,
            child,
            client,
            admin,
            env,
        };
        ok(d.admin(&["waitready", "--timeout", "60"]), "waitready");
        let mut init = d.admin_cmd(&["init", "--preseed"]);
        let mut init = init
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        init.stdin.take().unwrap().write_all(b"storage_pools:\n- name: default\n  driver: dir\nprofiles:\n- name: default\n  devices:\n    root:\n      path: /\n      pool: default\n      type: disk\n").unwrap();
        ok(init.wait_with_output().unwrap(), "init --preseed");
        Some(d)
    }

    /// The state dir, for `binship deploy` run with the daemon's env var.
    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Runs the client (`incus ...` / `lxc ...`).
    fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(self.client)
            .args(args)
            .env(self.env, self.state())
            .output()
            .unwrap()
    }

    fn admin_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(self.admin[0]);
        c.args(&self.admin[1..])
            .args(args)
            .env(self.env, self.state());
        c
    }

    fn admin(&self, args: &[&str]) -> std::process::Output {
        self.admin_cmd(args).output().unwrap()
    }

    /// Installing Debian's lxd adds a second /etc/subuid range for root; Incus 6.0.4 then maps
    /// container uid 0 twice and newuidmap refuses. So Incus instances are privileged when root
    /// has several ranges, unprivileged otherwise (LXD copes: its test runs unprivileged).
    fn incus_needs_privileged() -> bool {
        std::fs::read_to_string("/etc/subuid")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("root:"))
            .count()
            > 1
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let list = self.cli(&["list", "--format", "csv", "-c", "n"]);
        for name in String::from_utf8_lossy(&list.stdout).lines() {
            let _ = self.cli(&["delete", "-f", name.trim()]);
        }
        let _ = self.admin(&["shutdown"]);
        let _ = self.child.kill();
        let _ = self.child.wait();
        unmount_under(self.dir.path());
    }
}

#[test]
fn an_incus_image_imports_launches_and_runs_the_service() {
    // Not the seed's my-go-id-instance: the LXD test runs at the same time, and two instances
    // of one name would share the host's lxc.payload.<name> cgroup.
    const INSTANCE: &str = "go-id-on-incus";
    let _turn = DAEMONS.lock().unwrap_or_else(|e| e.into_inner());
    let Some(base) = base("systemd") else { return };
    let Some(d) = Daemon::incus() else { return };
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    // Unified with xz, split with a zstd rootfs (LXD's test imports a unified zstd one).
    for (split, compress) in [(false, "xz"), (true, "zstd")] {
        let mut args = vec![
            "scaffold",
            "go-id",
            "--format",
            "incus",
            "--compress",
            compress,
            "--level",
            if compress == "xz" { "0" } else { "1" },
            "--force",
            "--json",
            "--env",
            "MODE=it's \"on\"",
        ];
        let b = format!("rootfs:{}", base.display());
        args.extend(["--base", b.as_str()]);
        if split {
            args.push("--split");
        }
        let j = p.run(&args).ok().json();
        assert_eq!(j["tag"], "go-id-debian");
        let path = PathBuf::from(j["path"].as_str().unwrap());
        let mut import = vec!["image", "import"];
        let (meta, rootfs) = (
            path.join("metadata.tar.xz"),
            path.join(if compress == "xz" {
                "rootfs.tar.xz"
            } else {
                "rootfs.tar.zst"
            }),
        );
        if split {
            import.extend([meta.to_str().unwrap(), rootfs.to_str().unwrap()]);
        } else {
            import.push(path.to_str().unwrap());
        }
        import.extend(["--alias", "go-id-debian"]);
        ok(d.cli(&import), "incus image import");
        let list = ok(
            d.cli(&["image", "list", "go-id-debian", "--format", "csv"]),
            "image list",
        );
        assert!(
            list.contains("go-id v.1 on Debian") && list.contains("x86_64"),
            "{list}"
        );
        // The seed's deploy step.
        let mut launch = vec!["launch", "go-id-debian", INSTANCE];
        if Daemon::incus_needs_privileged() {
            launch.extend(["-c", "security.privileged=true"]);
        }
        let launched = d.cli(&launch);
        if !launched.status.success() {
            let log = d.cli(&["info", INSTANCE, "--show-log"]);
            panic!(
                "incus launch failed: {}\n{}",
                String::from_utf8_lossy(&launched.stderr),
                String::from_utf8_lossy(&log.stdout)
            );
        }
        let deadline = Instant::now() + Duration::from_secs(90);
        while !d
            .cli(&["exec", INSTANCE, "--", "/usr/local/bin/go-id", "--probe"])
            .status
            .success()
        {
            assert!(
                Instant::now() < deadline,
                "the service never answered health in Incus"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        let uid = ok(
            d.cli(&[
                "exec",
                INSTANCE,
                "--",
                "sh",
                "-c",
                &status_lines("$(systemctl show -p MainPID --value go-id)"),
            ]),
            "uid",
        );
        assert_service_process(&uid, true, "incus");
        let env = ok(
            d.cli(&[
                "exec",
                INSTANCE,
                "--",
                "sh",
                "-c",
                "tr '\\0' '\\n' < /proc/$(systemctl show -p MainPID --value go-id)/environ",
            ]),
            "environ",
        );
        assert!(env.lines().any(|l| l == "MODE=it's \"on\""), "{env}");
        // The hostname template ran.
        let host = ok(
            d.cli(&["exec", INSTANCE, "--", "cat", "/etc/hostname"]),
            "hostname",
        );
        assert_eq!(host.trim(), INSTANCE);
        ok(d.cli(&["delete", "-f", INSTANCE]), "incus delete");
        ok(d.cli(&["image", "delete", "go-id-debian"]), "image delete");
    }
}

#[test]
fn the_seeds_lxc_launch_works_with_lxd() {
    let _turn = DAEMONS.lock().unwrap_or_else(|e| e.into_inner());
    let Some(base) = base("systemd") else { return };
    let Some(d) = Daemon::lxd() else { return };
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    let j = p
        .run(&[
            "scaffold",
            "go-id",
            "--base",
            &format!("rootfs:{}", base.display()),
            "--format",
            "incus",
            "--compress",
            "zstd",
            "--json",
        ])
        .ok()
        .json();
    assert!(
        j["path"].as_str().unwrap().ends_with("incus.tar.zst"),
        "{j}"
    );
    // The seed, verbatim: lxc image import ... --alias go-id-debian; lxc launch go-id-debian my-go-id-instance
    ok(
        d.cli(&[
            "image",
            "import",
            j["path"].as_str().unwrap(),
            "--alias",
            "go-id-debian",
        ]),
        "lxc image import",
    );
    ok(
        d.cli(&["launch", "go-id-debian", "my-go-id-instance"]),
        "lxc launch",
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    while !d
        .cli(&[
            "exec",
            "my-go-id-instance",
            "--",
            "/usr/local/bin/go-id",
            "--probe",
        ])
        .status
        .success()
    {
        assert!(
            Instant::now() < deadline,
            "the service never answered health in LXD"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let uid = ok(
        d.cli(&[
            "exec",
            "my-go-id-instance",
            "--",
            "sh",
            "-c",
            &status_lines("$(systemctl show -p MainPID --value go-id)"),
        ]),
        "uid",
    );
    assert_service_process(&uid, true, "lxd (unprivileged)");
}

#[test]
fn deploy_boots_the_service_in_lxc_and_incus() {
    let Some(base) = base("systemd") else { return };
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    let base_arg = format!("rootfs:{}", base.display());
    // Without --lxc-conf, LXC's default network bridges to lxcbr0: a host without it (lxc-net
    // not running) gets one line saying so, before lxc-start (issue 20, item 19).
    let bridge = std::fs::read_to_string("/etc/lxc/default.conf")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("lxc.net.0.link")
                .map(|v| v.trim_start_matches([' ', '=']).trim().to_string())
        });
    if let Some(b) = bridge.filter(|b| !Path::new("/sys/class/net").join(b).exists()) {
        let lxcpath = tempfile::Builder::new()
            .prefix("bsb")
            .tempdir_in("/tmp")
            .unwrap();
        let r = p.run(&[
            "deploy",
            "go-id",
            "--to",
            "lxc",
            "--name",
            "go-id-bridge",
            "--base",
            &base_arg,
            "--lxcpath",
            lxcpath.path().to_str().unwrap(),
        ]);
        assert_eq!(r.code, 4, "{r:?}");
        assert!(
            r.stderr.contains(&format!("the container's network is bridged to {b}, which this host does not have: start it (systemctl start lxc-net)")),
            "{r:?}"
        );
        assert!(
            !lxcpath.path().join("go-id-bridge").exists(),
            "the container was left"
        );
    }
    // LXC: its own lxcpath, an empty network; healthy when --probe passes inside.
    let c = Container::deployed(&p, "go-id", "go-id-deployed", &base);
    ok(
        c.attach("/usr/local/bin/go-id --probe"),
        "probe after deploy",
    );
    drop(c);
    // Incus: a daemon of our own; the same image, launched and probed with incus exec.
    let _serial = DAEMONS.lock().unwrap_or_else(|e| e.into_inner());
    let Some(d) = Daemon::incus() else { return };
    let mut args = vec![
        "deploy",
        "go-id",
        "--to",
        "incus",
        "--name",
        "go-id-on-incus",
        "--base",
        &base_arg,
        "--json",
    ];
    if Daemon::incus_needs_privileged() {
        args.extend(["--incus-config", "security.privileged=true"]);
    }
    let r: Run = p
        .cmd(&args)
        .env("INCUS_DIR", d.state())
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["engine"], "incus");
    ok(
        d.cli(&[
            "exec",
            "go-id-on-incus",
            "--",
            "/usr/local/bin/go-id",
            "--probe",
        ]),
        "incus probe",
    );
    // Incus not running: a clear error.
    let r: Run = p
        .cmd(&["deploy", "go-id", "--to", "incus", "--base", &base_arg])
        .env("INCUS_DIR", p.path().join("no-incus"))
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stderr.contains("incus is not running"), "{r:?}");
}

/// The README's LXC and Incus block (issue 20: the README runs as a test), as written but for
/// three host settings: `lxc-create`/`lxc-start`/`lxc-attach` get an lxcpath of the test's own
/// (`-P`) and `lxc-create` a loopback-only network config (`-f`: this host has no lxcbr0), the
/// `incus` commands reach an Incus daemon of the test's own (INCUS_DIR), privileged where this
/// host's subuid ranges need it. Then the launched instance's service answers its probe.
#[test]
fn the_readmes_lxc_and_incus_block_runs() {
    let _turn = DAEMONS.lock().unwrap_or_else(|e| e.into_inner());
    let Some(_base) = base("systemd") else { return };
    let Some(d) = Daemon::incus() else { return };
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let marker = "<!-- tests/lxc.rs runs this block";
    let block: String = readme
        .lines()
        .skip_while(|l| !l.starts_with(marker))
        .skip(2)
        .take_while(|l| *l != "```")
        .collect::<Vec<_>>()
        .join("\n");
    assert!(block.contains("incus launch"), "no marked block: {block}");
    let p = Project::new().with_example("go-id");
    std::fs::copy(
        repo_root().join("images/standalone-binaries/go-id/build.sh"),
        p.app_dir("go-id").join("build.sh"),
    )
    .unwrap();
    let conf = p.path().join("lxc.conf");
    std::fs::write(
        &conf,
        "lxc.net.0.type = empty\nlxc.net.0.flags = up\nlxc.apparmor.profile = unconfined\n",
    )
    .unwrap();
    // Stopped and destroyed on drop, even when the block fails half-way.
    let c = common::engines::Container {
        lxcpath: tempfile::Builder::new()
            .prefix("bsr")
            .tempdir_in("/tmp")
            .unwrap(),
        name: "go-id-debian".into(),
    };
    let lp = c.lxcpath.path().display().to_string();
    let privileged = if Daemon::incus_needs_privileged() {
        " -c security.privileged=true"
    } else {
        ""
    };
    let script = block
        .replace(
            "bash scripts/",
            &format!("bash {}/scripts/", repo_root().display()),
        )
        .replace(
            "lxc-create -n",
            &format!("lxc-create -P {lp} -f {} -n", conf.display()),
        )
        .replace("lxc-start -n", &format!("lxc-start -P {lp} -n"))
        .replace(
            "lxc-attach -n",
            &format!("timeout 120 lxc-attach -P {lp} -n"),
        )
        .replace(
            "incus launch go-id-debian my-go-id-instance",
            &format!("incus launch go-id-debian my-go-id-instance{privileged}"),
        );
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail -x\n{script}"))
        .current_dir(p.path())
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin().parent().unwrap().display(),
                std::env::var("PATH").unwrap()
            ),
        )
        .env("INCUS_DIR", d.state())
        .env("BINSHIP_IMAGE_TEST_ENGINE", "binship")
        .env_remove("BINSHIP_STORE")
        .env_remove("BINSHIP_CACHE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "README's LXC/Incus block failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // LXC: the service answered inside (the block's wait); it still does.
    assert!(
        c.lxc("lxc-attach", &["--", "/usr/local/bin/go-id", "--probe"])
            .status
            .success(),
        "go-id does not answer in LXC"
    );
    // Incus: the launched instance's service answers.
    let deadline = Instant::now() + Duration::from_secs(90);
    while !d
        .cli(&[
            "exec",
            "my-go-id-instance",
            "--",
            "/usr/local/bin/go-id",
            "--probe",
        ])
        .status
        .success()
    {
        assert!(
            Instant::now() < deadline,
            "go-id never answered in the Incus instance"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
