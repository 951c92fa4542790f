//! Service files checked by the real managers: the systemd unit by `systemd-analyze verify`
//! inside the unpacked image, supervisor's program and OpenRC's init script run for real in a
//! chroot of the unpacked image (own pid and mount namespace), where the service must answer
//! health as the non-root user with its environment exactly as given (quotes, `$`, `%`,
//! newlines). Bases: Debian bookworm minbase + the manager, made once by
//! scripts/make-debian-base.sh and cached in /var/cache/binship-tests.

mod common;
use common::engines::*;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WEIRD: &str = "it's \"quoted\" $HOME 100% `id`\nsecond line";
/// supervisor's environment= cannot carry ' and " in one value (refused, tested below).
const WEIRD_SUPERVISOR: &str = "it's $HOME 100% `id`\nsecond line";

fn base(variant: &str) -> Option<PathBuf> {
    debian_base(variant, &["umoci", "unshare", "chroot"])
}

/// Scaffolds go-id on `base` with `service` into an OCI layout and unpacks it with umoci.
fn unpacked(p: &Project, base: &Path, service: &str, port: u16) -> PathBuf {
    let weird = if service == "supervisor" {
        WEIRD_SUPERVISOR
    } else {
        WEIRD
    };
    let layout = p.path().join(format!("layout-{service}"));
    let j = p
        .run(&[
            "scaffold",
            "go-id",
            "--base",
            &format!("rootfs:{}", base.display()),
            "--service",
            service,
            "--format",
            "oci",
            "-o",
            layout.to_str().unwrap(),
            "--arg=--port",
            &format!("--arg={port}"),
            "--env",
            &format!("WEIRD={weird}"),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(j["service"], service);
    // Not the recipe's base: the variant tag `v.1-<distro>`.
    let tag = j["tag"].as_str().unwrap().rsplit_once(':').unwrap().1;
    assert!(tag.starts_with("v.1-"), "{tag}");
    let bundle = p.path().join(format!("bundle-{service}"));
    ok(
        Command::new("umoci")
            .args(["unpack", "--image", &format!("{}:{tag}", layout.display())])
            .arg(&bundle)
            .output()
            .unwrap(),
        "umoci unpack",
    );
    bundle.join("rootfs")
}

/// A command in a chroot of `root`, in its own pid and mount namespaces. `--kill-child`: when
/// the test kills `unshare` (or panics and drops it), the namespace's init dies and with it
/// every process inside (supervisord, supervise-daemon, the service).
fn in_chroot(root: &Path, script: &str) -> Child {
    Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child", "--mount"])
        .arg(format!("--mount-proc={}", root.join("proc").display()))
        .arg("chroot")
        .arg(root)
        .args(["/bin/sh", "-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The host pid of the go-id serving `port`.
fn go_id_pid(port: u16) -> Option<u32> {
    let want = format!("--port\0{port}");
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok())
        .find_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd);
            (cmd.starts_with("/usr/local/bin/go-id\0") && cmd.contains(&want)).then_some(pid)
        })
}

fn check_running(port: u16, what: &str, weird: &str) {
    assert_eq!(
        wait_healthy(port, 40).as_deref(),
        Some("ok\n"),
        "{what}: no health answer"
    );
    let pid = go_id_pid(port).unwrap_or_else(|| panic!("{what}: no go-id process"));
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid.split_whitespace().skip(1).all(|u| u == "65532"),
        "{what}: {uid}"
    );
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let env: Vec<String> = environ
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert!(
        env.contains(&format!("WEIRD={weird}")),
        "{what}: env {env:?}"
    );
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let Some(base) = base("systemd") else { return };
    if !require(&["systemd-analyze"], false) {
        return;
    }
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    let root = unpacked(&p, &base, "systemd", 7001);
    let unit = std::fs::read_to_string(root.join("etc/systemd/system/go-id.service")).unwrap();
    assert!(
        unit.contains("User=go-id") && unit.contains("NoNewPrivileges=yes"),
        "{unit}"
    );
    assert!(root
        .join("etc/systemd/system/multi-user.target.wants/go-id.service")
        .symlink_metadata()
        .is_ok());
    let env = root.join("etc/go-id/go-id.env");
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(&env).unwrap();
    assert_eq!((m.mode() & 0o777, m.uid(), m.gid()), (0o640, 0, 65532));
    let verify = |root: &Path| {
        Command::new("systemd-analyze")
            .arg("verify")
            .arg(format!("--root={}", root.display()))
            .arg("/etc/systemd/system/go-id.service")
            .output()
            .unwrap()
    };
    let out = verify(&root);
    assert!(
        out.status.success(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The check can fail: without the binary, verify refuses the unit.
    std::fs::remove_file(root.join("usr/local/bin/go-id")).unwrap();
    assert!(
        !verify(&root).status.success(),
        "verify passed without the binary"
    );
}

#[test]
fn supervisor_runs_the_service_as_the_user_with_its_env() {
    let Some(base) = base("supervisor") else {
        return;
    };
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    let port = free_port();
    let root = unpacked(&p, &base, "supervisor", port);
    let conf = std::fs::read_to_string(root.join("etc/supervisor/conf.d/go-id.conf")).unwrap();
    assert!(conf.contains("user=go-id"), "{conf}");
    let _s = Kill(in_chroot(
        &root,
        "exec /usr/bin/supervisord -n -c /etc/supervisor/supervisord.conf",
    ));
    check_running(port, "supervisor", WEIRD_SUPERVISOR);
    // A value supervisor cannot carry is refused, not mangled.
    let r = p.run(&[
        "scaffold",
        "go-id",
        "--base",
        &format!("rootfs:{}", base.display()),
        "--service",
        "supervisor",
        "--env",
        &format!("WEIRD={WEIRD}"),
        "--force",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("env WEIRD: supervisor's environment= cannot carry"),
        "{r:?}"
    );
}

#[test]
fn openrc_starts_the_service_as_the_user_with_its_env() {
    let Some(base) = base("openrc") else { return };
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    let port = free_port();
    let root = unpacked(&p, &base, "openrc", port);
    let script = std::fs::read_to_string(root.join("etc/init.d/go-id")).unwrap();
    assert!(
        script.starts_with("#!/sbin/openrc-run\n")
            && script.contains("supervisor=supervise-daemon"),
        "{script}"
    );
    assert_eq!(
        std::fs::read_link(root.join("etc/runlevels/default/go-id")).unwrap(),
        Path::new("/etc/init.d/go-id")
    );
    // OpenRC outside of init: mark the system booted, start the service, keep the namespace alive.
    let _s = Kill(in_chroot(&root, "mkdir -p /run/openrc && touch /run/openrc/softlevel && /etc/init.d/go-id start && exec sleep 600"));
    check_running(port, "openrc", WEIRD);
    let started = Instant::now();
    let stop = Command::new("chroot")
        .arg(&root)
        .args(["/bin/sh", "-c", "/etc/init.d/go-id stop"])
        .output()
        .unwrap();
    let _ = stop;
    while go_id_pid(port).is_some() && started.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_manager_the_base_lacks_is_refused_by_name() {
    let Some(base) = base("minbase") else { return };
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    for (svc, missing) in [
        ("openrc", "/sbin/openrc-run"),
        ("systemd", "/lib/systemd/systemd"),
        ("supervisor", "/usr/bin/supervisord"),
    ] {
        let r = p.run(&[
            "scaffold",
            "go-id",
            "--base",
            &format!("rootfs:{}", base.display()),
            "--service",
            svc,
        ]);
        assert_eq!(r.code, 2, "{r:?}");
        assert!(
            r.stderr.contains(&format!("has no {svc} ({missing}"))
                && r.stderr.contains("--service none"),
            "{r:?}"
        );
    }
    // auto on a base without a manager: no service files, the image still builds.
    let j = p
        .run(&[
            "scaffold",
            "go-id",
            "--base",
            &format!("rootfs:{}", base.display()),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(j["service"], "none");
    let r = p.run(&["scaffold", "go-id", "--service", "upstart"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("unknown service manager `upstart`"),
        "{r:?}"
    );
}
