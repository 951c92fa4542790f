//! The store under stress: Ctrl-C in the middle of a build, two builds of one app at once,
//! and a store that cannot be written. Afterwards the store holds only complete versions.

mod common;
use common::*;
use std::time::{Duration, Instant};

fn wait_for(mut cond: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ctrl_c_mid_build_removes_the_temp_dir_and_stores_nothing() {
    // A build command that takes long: binship is interrupted while it runs.
    let marker = tempfile::tempdir().unwrap();
    let pidfile = marker.path().join("pid");
    let recipe = format!(
        "kind = \"command\"\n[build]\ncommand = \"echo $$ > {} && sleep 30 && cp /bin/true slow\"\noutput = \"slow\"\n[test]\nservice = false\n[[test.command]]\nname = \"runs\"\n",
        pidfile.display()
    );
    let p = Project::new().with_app("slow", &recipe, &[("README", "x")]);
    let child = p
        .cmd(&["build", "slow"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(
        || {
            std::fs::read_to_string(&pidfile)
                .map(|s| !s.trim().is_empty())
                .unwrap_or(false)
        },
        "the build command",
    );
    assert_eq!(
        p.leftovers().len(),
        1,
        "a staging dir exists during the build"
    );
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "binship did not stop promptly"
    );
    let r: Run = out.into();
    assert_eq!(r.code, 130, "{r:?}");
    assert!(r.stderr.contains("interrupted"), "{r:?}");
    assert!(p.versions("slow").is_empty());
    assert!(
        p.leftovers().is_empty(),
        "temp dir left: {:?}",
        p.leftovers()
    );
    // The build command's shell was killed with it.
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_for(
        || unsafe { libc::kill(pid, 0) } != 0,
        "the build command to die",
    );
}

#[test]
fn a_killed_build_leaves_nothing_that_breaks_the_next_one() {
    let p = Project::new().with_example("c-health");
    let mut child = p.cmd(&["build", "c-health"]).spawn().unwrap();
    wait_for(|| !p.leftovers().is_empty(), "the staging dir");
    child.kill().unwrap(); // SIGKILL: no cleanup at all
    child.wait().unwrap();
    assert!(p.versions("c-health").is_empty());
    let j = p.run(&["build", "c-health", "--json"]).ok().json();
    assert_eq!(j["version"], 1);
    assert!(p.leftovers().is_empty(), "the stale temp dir was recovered");
}

#[test]
fn two_builds_of_one_app_are_serialized() {
    let p = Project::new().with_example("go-id");
    let a = p.cmd(&["build", "go-id", "--json"]).output().map(Run::from);
    let b = p
        .cmd(&["build", "go-id", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let a = a.unwrap().ok();
    let b: Run = b.wait_with_output().unwrap().into();
    let b = b.ok();
    let statuses = [a.json()["status"].clone(), b.json()["status"].clone()];
    // Whichever ran second found the first's result: one build, one version.
    assert!(
        statuses.contains(&serde_json::json!("up_to_date")),
        "{statuses:?}"
    );
    assert_eq!(p.versions("go-id"), ["go-id-binary-v.1"]);
    assert!(p.leftovers().is_empty());
}

#[test]
fn an_unwritable_store_is_a_clear_error() {
    let p = Project::new().with_example("go-id");
    let store = p.store();
    let r: Run = if unsafe { libc::geteuid() } == 0 {
        // root ignores permissions: make the store a read-only bind mount in a private namespace.
        let script = format!(
            "mount --bind {s} {s} && mount -o remount,bind,ro {s} && exec {bin} build go-id",
            s = store.display(),
            bin = bin().display()
        );
        std::process::Command::new("unshare")
            .args(["-m", "sh", "-c", &script])
            .current_dir(p.path())
            .output()
            .unwrap()
            .into()
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o555)).unwrap();
        let r = p.run(&["build", "go-id"]);
        std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o755)).unwrap();
        r
    };
    assert_eq!(r.code, 1, "{r:?}");
    let e = r
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default()
        .to_string();
    assert!(
        e.contains("images/standalone-binaries") && e.contains("Read-only file system")
            || e.contains("Permission denied"),
        "{r:?}"
    );
    assert!(p.versions("go-id").is_empty());
}
