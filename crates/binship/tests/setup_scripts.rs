//! The test command's installs are quiet (issue 20, item 4): apt's and dpkg's output goes to a
//! log, the terminal gets one line per group of packages, and a failed install shows the log's
//! last lines. Checked with a stand-in `apt-get` first on PATH (nothing is installed).

mod common;
use common::repo_root;

#[test]
fn installs_print_one_line_per_group_and_keep_the_noise_in_a_log() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true and not root"
        );
        eprintln!("SKIP: apt_install installs only as root");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let fake = d.path().join("apt-get");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'Selecting previously unselected package foo.'\necho 'invoke-rc.d: policy-rc.d denied execution of start.' >&2\necho 'LXD has been installed. You must run sudo lxd init'\ncase \"$*\" in *broken*) echo 'E: Unable to locate package broken' >&2; exit 100;; esac\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let log = d.path().join("install.log");
    let run = |pkgs: &str| {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                ". {}/scripts/lib/prereqs.sh && apt_install {pkgs}",
                repo_root().display()
            ))
            .env("PATH", format!("{}:/usr/bin:/bin", d.path().display()))
            .env("BINSHIP_INSTALL_LOG", &log)
            .output()
            .unwrap()
    };
    let o = run("foo bar");
    assert!(o.status.success(), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err.trim(),
        format!(
            "installing foo bar (apt-get; its output in {})",
            log.display()
        ),
        "{o:?}"
    );
    assert!(o.stdout.is_empty(), "{o:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("policy-rc.d denied") && text.contains("LXD has been installed"),
        "{text}"
    );
    let o = run("broken");
    assert!(!o.status.success(), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("failed: env DEBIAN_FRONTEND=noninteractive apt-get install")
            && err.contains("E: Unable to locate package broken"),
        "{err}"
    );
}
