//! LXC images checked by Debian's real lxc: `lxc-create -t local` with binship's
//! meta.tar.xz + rootfs.tar.xz, `lxc-start`, then inside the container (its own, empty network
//! namespace: a booting init must not touch the host's) the service answers health through its
//! own probe, runs as uid 65532 and has its env file's values. Both inits: systemd and
//! OpenRC (sysvinit + openrc). Each container is stopped and destroyed even when a check fails.

mod common;
use common::engines::*;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn base(variant: &str) -> Option<PathBuf> {
    debian_base(variant, &["lxc-create", "lxc-start", "lxc-attach"])
}

/// An LXC container in its own lxcpath; stopped and destroyed on drop.
struct Container {
    lxcpath: tempfile::TempDir,
    name: String,
}

impl Container {
    fn lxc(&self, tool: &str, args: &[&str]) -> std::process::Output {
        Command::new(tool)
            .arg("-P")
            .arg(self.lxcpath.path())
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .output()
            .unwrap()
    }
    fn attach(&self, script: &str) -> std::process::Output {
        self.lxc("lxc-attach", &["--", "/bin/sh", "-c", script])
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.lxc("lxc-stop", &["-k"]);
        let _ = self.lxc("lxc-destroy", &["-f"]);
        unmount_under(self.lxcpath.path());
    }
}

const MODE: &str = "it's \"on\" $HOME 100%\nline2";

/// Boots go-id in LXC on the Debian `variant` base. `layered`: the base is first made into an
/// OCI image of two layers (the Debian rootfs and a go-id layer), which the LXC image then
/// flattens, as it would any multi-layer image a user brings.
fn boot_and_check(variant: &str, service: &str, layered: bool) {
    let Some(base) = base(variant) else { return };
    let p = Project::new().with_example("go-id");
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
        let probe = c.attach("/usr/local/bin/go-id --probe");
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
fn a_systemd_image_boots_in_lxc_and_runs_the_service() {
    boot_and_check("systemd", "systemd", false);
}

#[test]
fn an_openrc_image_flattened_from_a_two_layer_image_boots_in_lxc_and_runs_the_service() {
    boot_and_check("openrc", "openrc", true);
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
    // Output exists: --force.
    p.run(&[
        "scaffold", "go-id", "--base", &b, "--format", "incus", "--level", "0",
    ])
    .ok();
    let r = p.run(&[
        "scaffold", "go-id", "--base", &b, "--format", "incus", "--level", "0",
    ]);
    assert_eq!(r.code, 7, "{r:?}");
    assert!(r.stderr.contains("exists; use --force"), "{r:?}");
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

/// An Incus daemon in its own INCUS_DIR; instances deleted and the daemon shut down on drop.
struct Incusd {
    dir: tempfile::TempDir,
    child: std::process::Child,
}

impl Incusd {
    fn start() -> Option<Incusd> {
        if !require(&["incus", "/usr/libexec/incus/incusd"], true) {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("bsi")
            .tempdir_in("/tmp")
            .unwrap();
        // The container's root (a mapped uid) must be able to traverse the dir.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        let log = std::fs::File::create(dir.path().join("incusd.out")).unwrap();
        let child = Command::new("/usr/libexec/incus/incusd")
            .args(["--group", "root", "--logfile"])
            .arg(dir.path().join("incusd.log"))
            .env("INCUS_DIR", dir.path().join("incus"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let d = Incusd { dir, child };
        ok(
            d.incus(&["admin", "waitready", "--timeout", "60"]),
            "incus admin waitready",
        );
        // `init --minimal` finds no bridge subnet here, but creates the dir pool.
        let _ = d.incus(&["admin", "init", "--minimal"]);
        ok(
            d.incus(&[
                "profile",
                "device",
                "add",
                "default",
                "root",
                "disk",
                "path=/",
                "pool=default",
            ]),
            "root disk",
        );
        Some(d)
    }

    fn incus(&self, args: &[&str]) -> std::process::Output {
        Command::new("incus")
            .args(args)
            .env("INCUS_DIR", self.dir.path().join("incus"))
            .output()
            .unwrap()
    }
}

impl Drop for Incusd {
    fn drop(&mut self) {
        let _ = self.incus(&["delete", "-f", "go-id-on-incus"]);
        let _ = self.incus(&["admin", "shutdown"]);
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
    let Some(d) = Incusd::start() else { return };
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    for split in [false, true] {
        let mut args = vec![
            "scaffold",
            "go-id",
            "--format",
            "incus",
            "--level",
            "0",
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
        let (meta, rootfs) = (path.join("metadata.tar.xz"), path.join("rootfs.tar.xz"));
        if split {
            import.extend([meta.to_str().unwrap(), rootfs.to_str().unwrap()]);
        } else {
            import.push(path.to_str().unwrap());
        }
        import.extend(["--alias", "go-id-debian"]);
        ok(d.incus(&import), "incus image import");
        let list = ok(
            d.incus(&["image", "list", "go-id-debian", "--format", "csv"]),
            "image list",
        );
        assert!(
            list.contains("go-id v.1 on Debian") && list.contains("x86_64"),
            "{list}"
        );
        // The seed's deploy step.
        // Installing Debian's lxd adds a second range for root to /etc/subuid; Incus 6.0.4 then
        // maps container uid 0 twice and newuidmap refuses. Unprivileged when root has one
        // range, privileged otherwise (LXD's own test runs unprivileged).
        let ranges = std::fs::read_to_string("/etc/subuid")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("root:"))
            .count();
        let mut launch = vec!["launch", "go-id-debian", INSTANCE];
        if ranges > 1 {
            launch.extend(["-c", "security.privileged=true"]);
        }
        let launched = d.incus(&launch);
        if !launched.status.success() {
            let log = d.incus(&["info", INSTANCE, "--show-log"]);
            panic!(
                "incus launch failed: {}\n{}",
                String::from_utf8_lossy(&launched.stderr),
                String::from_utf8_lossy(&log.stdout)
            );
        }
        let deadline = Instant::now() + Duration::from_secs(90);
        while !d
            .incus(&["exec", INSTANCE, "--", "/usr/local/bin/go-id", "--probe"])
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
            d.incus(&[
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
            d.incus(&[
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
            d.incus(&["exec", INSTANCE, "--", "cat", "/etc/hostname"]),
            "hostname",
        );
        assert_eq!(host.trim(), INSTANCE);
        ok(d.incus(&["delete", "-f", INSTANCE]), "incus delete");
        ok(
            d.incus(&["image", "delete", "go-id-debian"]),
            "image delete",
        );
    }
}

/// Debian's LXD, for the seed's exact `lxc image import` + `lxc launch` (LXD's own `lxc`
/// client, not the lxc-* tools); its own LXD_DIR; shut down on drop.
struct Lxd {
    dir: tempfile::TempDir,
    child: std::process::Child,
}

impl Lxd {
    fn start() -> Option<Lxd> {
        if !require(&["lxd", "/usr/bin/lxc"], true) {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("bsx")
            .tempdir_in("/tmp")
            .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        let log = std::fs::File::create(dir.path().join("lxd.out")).unwrap();
        let child = Command::new("lxd")
            .args(["--group", "root", "--logfile"])
            .arg(dir.path().join("lxd.log"))
            .env("LXD_DIR", dir.path().join("lxd"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let d = Lxd { dir, child };
        let ready = Command::new("lxd")
            .args(["waitready", "--timeout", "60"])
            .env("LXD_DIR", d.dir.path().join("lxd"))
            .output()
            .unwrap();
        ok(ready, "lxd waitready");
        // `lxd init --auto` finds no bridge subnet here; a preseed with a dir pool works.
        let mut init = Command::new("lxd")
            .args(["init", "--preseed"])
            .env("LXD_DIR", d.dir.path().join("lxd"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        init.stdin.take().unwrap().write_all(b"storage_pools:\n- name: default\n  driver: dir\nprofiles:\n- name: default\n  devices:\n    root:\n      path: /\n      pool: default\n      type: disk\n").unwrap();
        ok(init.wait_with_output().unwrap(), "lxd init --preseed");
        Some(d)
    }

    fn lxc(&self, args: &[&str]) -> std::process::Output {
        Command::new("/usr/bin/lxc")
            .args(args)
            .env("LXD_DIR", self.dir.path().join("lxd"))
            .output()
            .unwrap()
    }
}

impl Drop for Lxd {
    fn drop(&mut self) {
        let _ = self.lxc(&["delete", "-f", "my-go-id-instance"]);
        let _ = Command::new("lxd")
            .arg("shutdown")
            .env("LXD_DIR", self.dir.path().join("lxd"))
            .output();
        let _ = self.child.kill();
        let _ = self.child.wait();
        unmount_under(self.dir.path());
    }
}

#[test]
fn the_seeds_lxc_launch_works_with_lxd() {
    let _turn = DAEMONS.lock().unwrap_or_else(|e| e.into_inner());
    let Some(base) = base("systemd") else { return };
    let Some(d) = Lxd::start() else { return };
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
            "--level",
            "0",
            "--json",
        ])
        .ok()
        .json();
    // The seed, verbatim: lxc image import ... --alias go-id-debian; lxc launch go-id-debian my-go-id-instance
    ok(
        d.lxc(&[
            "image",
            "import",
            j["path"].as_str().unwrap(),
            "--alias",
            "go-id-debian",
        ]),
        "lxc image import",
    );
    ok(
        d.lxc(&["launch", "go-id-debian", "my-go-id-instance"]),
        "lxc launch",
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    while !d
        .lxc(&[
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
        d.lxc(&[
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
    // LXC: its own lxcpath, an empty network; healthy when --probe passes inside.
    let lxcpath = tempfile::Builder::new()
        .prefix("bsd")
        .tempdir_in("/tmp")
        .unwrap();
    let conf = p.path().join("lxc.conf");
    std::fs::write(
        &conf,
        "lxc.net.0.type = empty\nlxc.net.0.flags = up\nlxc.apparmor.profile = unconfined\n",
    )
    .unwrap();
    let c = Container {
        lxcpath,
        name: "go-id-deployed".into(),
    };
    let j = p
        .run(&[
            "deploy",
            "go-id",
            "--to",
            "lxc",
            "--name",
            "go-id-deployed",
            "--base",
            &base_arg,
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
    ok(
        c.attach("/usr/local/bin/go-id --probe"),
        "probe after deploy",
    );
    drop(c);
    // Incus: a daemon of our own; the same image, launched and probed with incus exec.
    let _serial = DAEMONS.lock().unwrap_or_else(|e| e.into_inner());
    let Some(d) = Incusd::start() else { return };
    // (root with several subuid ranges: privileged, as in the Incus test above)
    let ranges = std::fs::read_to_string("/etc/subuid")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("root:"))
        .count();
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
    if ranges > 1 {
        args.extend(["--incus-config", "security.privileged=true"]);
    }
    let r: Run = p
        .cmd(&args)
        .env("INCUS_DIR", d.dir.path().join("incus"))
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["engine"], "incus");
    ok(
        d.incus(&[
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
