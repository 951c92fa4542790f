//! The recipe's `[container]` keys and their flags take what engines take, or are refused
//! by name before anything is written (found by a newcomer run): any `--base` value as
//! `container.base` (a relative path is the recipe directory's), environment names a shell and
//! docker accept, real signals, non-empty label keys, no reserved uid, and no `--push` of a
//! system container.

mod common;
use common::*;

use common::tiny::{debian_like_tar, tiny_app};

fn with_container(extra: &str) -> Project {
    let p = tiny_app(&format!("[container]\n{extra}\n"));
    p
}

#[test]
fn container_base_takes_any_base_relative_to_the_recipe() {
    let p = with_container("base = \"rootfs:debian.tar\"");
    std::fs::write(p.app_dir("tiny").join("debian.tar"), debian_like_tar()).unwrap();
    p.run(&["build", "tiny"]).ok();
    // From the project root and from elsewhere: the recipe's directory holds the base.
    let j = p
        .run(&[
            "scaffold",
            "tiny",
            "--service",
            "none",
            "-o",
            "a.tar",
            "--json",
        ])
        .ok()
        .json();
    let want = format!("rootfs@{}", binship_oci::digest_string(&debian_like_tar()));
    assert_eq!(j["labels"]["io.binship.base"], want.as_str(), "{j}");
    assert_eq!(j["distro"]["id"], "debian");
    let bad = with_container("base = \"ubuntu\"");
    let r = bad.run(&["build", "tiny"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("container.base: unknown base `ubuntu`"),
        "{}",
        r.stderr
    );
}

#[test]
fn env_names_signals_labels_and_users_engines_refuse_are_refused() {
    for (extra, key) in [
        (
            "env = { \"A B\" = \"x\" }",
            "container.env: `A B` is not a variable name",
        ),
        (
            "env = { \"\" = \"y\" }",
            "container.env: `` is not a variable name",
        ),
        (
            "stop_signal = \"SIGFOO\"",
            "container.stop_signal: `SIGFOO` is not a signal",
        ),
        (
            "labels = { \"\" = \"z\" }",
            "container.labels: label key `` is empty",
        ),
        (
            "user = \"4294967295:1\"",
            "container.user: user must be uid:gid",
        ),
    ] {
        let p = with_container(extra);
        let r = p.run(&["build", "tiny"]);
        assert_eq!(r.code, 2, "{extra}: {r:?}");
        assert!(r.stderr.contains(key), "{extra}: {}", r.stderr);
    }
    let p = with_container("");
    p.run(&["build", "tiny"]).ok();
    for (args, msg) in [
        (&["--env", "A B=y"][..], "`A B` is not a variable name"),
        (&["--env", "=y"], "--env needs KEY=VALUE"),
        (
            &["--stop-signal", "KILLME"],
            "--stop-signal: `KILLME` is not a signal",
        ),
        (&["--user", "4294967295:1"], "user must be uid:gid"),
        (
            &["--format", "lxc", "--push", "127.0.0.1:1/x"],
            "lxc images are not pushed",
        ),
    ] {
        let mut all = vec!["scaffold", "tiny", "-o", "out.tar"];
        all.extend_from_slice(args);
        let r = p.run(&all);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stderr.contains(msg), "{args:?}: {}", r.stderr);
        assert!(!p.path().join("out.tar").exists(), "{args:?}");
    }
    // What engines take is taken.
    p.run(&[
        "scaffold",
        "tiny",
        "--env",
        "_A1=x",
        "--stop-signal",
        "SIGINT",
        "-o",
        "ok.tar",
    ])
    .ok();
}

#[test]
fn healthchecks_that_probe_nothing_are_warned_and_the_probe_needs_a_port() {
    // `app --version` passes while the service is down (issue 19, item 9).
    let p = with_container("healthcheck = [\"/usr/local/bin/tiny\", \"--version\"]");
    p.run(&["build", "tiny"]).ok();
    let j = p.run(&["scaffold", "tiny", "--json"]).ok().json();
    assert!(
        j["warnings"].to_string().contains(
            "container.healthcheck runs `/usr/local/bin/tiny --version`, which probes nothing"
        ),
        "{j}"
    );
    // container.probe with nothing to probe: refused by name, nothing written.
    let p = with_container("probe = true");
    p.run(&["build", "tiny"]).ok();
    let r = p.run(&["scaffold", "tiny", "-o", "x.tar"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("container.probe needs a port to probe"),
        "{r:?}"
    );
    assert!(!p.path().join("x.tar").exists());
    // With a port, the image carries the probe and its healthcheck (a TCP connect: the recipe
    // has no readiness path).
    let j = p
        .run(&[
            "scaffold",
            "tiny",
            "--port",
            "9000",
            "--no-image-test",
            "--json",
        ])
        .ok()
        .json();
    let tar = std::fs::read(j["path"].as_str().unwrap()).unwrap();
    let text = String::from_utf8_lossy(&tar);
    assert!(
        text.contains("usr/local/bin/binship-probe"),
        "no probe in the image"
    );
    assert!(
        text.contains(
            "\"Test\":[\"CMD\",\"/usr/local/bin/binship-probe\",\"tcp://127.0.0.1:9000\"]"
        ),
        "no healthcheck in the config"
    );
}
