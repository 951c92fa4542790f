//! Advice that works (issue 18, fault 8): every suggestion an error makes is a command that
//! then succeeds, for application and system formats alike.

mod common;
use common::*;

use binship_image::testing::{tar_of, Member};
use common::tiny::{debian_like_tar, tiny_project};

fn scaffold(p: &Project, base: &str, format: &str, service: &str, out: &str) -> Run {
    p.run(&[
        "scaffold",
        "tiny",
        "--base",
        base,
        "--format",
        format,
        "--service",
        service,
        "-o",
        out,
        "--level",
        "0",
        // The fixture's init is a stub that cannot boot (tests/lxc.rs checks that refusal).
        "--no-image-test",
    ])
}

#[test]
fn a_missing_service_manager_suggests_what_works_for_the_format() {
    let p = tiny_project();
    // An init, but no OpenRC.
    let bare = p.path().join("bare.tar");
    std::fs::write(
        &bare,
        tar_of(&[
            Member::dir("etc"),
            Member::file("etc/os-release", "ID=alpine\nVERSION_ID=3.20.3\n", 0o644),
            Member::dir("sbin"),
            Member::file("sbin/init", "#!/bin/sh\n", 0o755),
        ]),
    )
    .unwrap();
    let bare = format!("rootfs:{}", bare.display());
    // docker-archive: --service none is offered, and works.
    let r = p.run(&[
        "scaffold",
        "tiny",
        "--base",
        &bare,
        "--service",
        "openrc",
        "-o",
        "a.tar",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("use --service none"), "{}", r.stderr);
    p.run(&[
        "scaffold",
        "tiny",
        "--base",
        &bare,
        "--service",
        "none",
        "-o",
        "a.tar",
    ])
    .ok();
    // lxc: --service none would be refused, so it is not offered.
    let r = scaffold(&p, &bare, "lxc", "openrc", "l1");
    assert_eq!(r.code, 2, "{r:?}");
    assert!(!r.stderr.contains("use --service none"), "{}", r.stderr);
    assert!(r.stderr.contains("use a base that has it"), "{}", r.stderr);
    // lxc with --service none on a base that has systemd: says what was asked and what works.
    let deb = p.path().join("deb.tar");
    std::fs::write(&deb, debian_like_tar()).unwrap();
    let deb = format!("rootfs:{}", deb.display());
    let r = scaffold(&p, &deb, "lxc", "none", "l2");
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("--service none was asked"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("--service systemd or openrc"),
        "{}",
        r.stderr
    );
    scaffold(&p, &deb, "lxc", "systemd", "l3").ok();
    // LXC's create message names the app's env file, not a placeholder.
    let msg = std::process::Command::new("tar")
        .args(["-xJOf", "l3/meta.tar.xz", "create-message"])
        .current_dir(p.path())
        .output()
        .unwrap();
    let msg = String::from_utf8_lossy(&msg.stdout);
    assert!(msg.contains("/etc/tiny/tiny.env"), "{msg}");
    assert!(!msg.contains("<app>"), "{msg}");
}
