//! Binaries that need an interpreter (issue 18, fault 4): a dynamically linked binary is packed
//! only onto a base that has its program interpreter and needed libraries (the first missing
//! file is named), and `-static-pie` is a static build a C recipe can ask for.

mod common;
use common::*;

use binship_image::testing::{tar_of, Member};

/// A C server built dynamically (recipe `static = false`), v.1.
fn dynamic_app() -> Project {
    let recipe = "static = false\nkind = \"command\"\n[build]\ncommand = \"gcc -O2 -o dyn main.c\"\noutput = \"dyn\"\n[test]\nready_path = \"/health\"\n";
    let p = Project::new().with_app("dyn", recipe, &[("main.c", &c_server("", "stop = 1;"))]);
    p.run(&["build", "dyn"]).ok();
    p
}

#[test]
fn a_dynamic_binary_needs_its_interpreter_and_libraries_in_the_base() {
    let p = dynamic_app();
    let j = p.run(&["list", "dyn", "--json"]).ok().json();
    let v = &j["apps"][0]["versions"][0];
    assert_eq!(v["static"], false, "{v}");
    let rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(p.version_dir("dyn", 1).join("test-results.json")).unwrap(),
    )
    .unwrap();
    let interp = rec["binary"]["interpreter"].as_str().unwrap().to_string();
    assert!(interp.starts_with('/'), "{interp}");
    // scratch and static have no loader: refused, naming it, nothing written.
    for base in ["scratch", "static"] {
        let out = p.path().join(format!("{base}.tar"));
        let r = p.run(&[
            "scaffold",
            "dyn",
            "--base",
            base,
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 2, "{base}: {r:?}");
        assert!(
            r.stderr.contains(&format!("has no {interp}")),
            "{base}: {}",
            r.stderr
        );
        assert!(!out.exists());
    }
    // A base with the loader (through a lib64 -> usr/lib64 link) but no libc: libc is named.
    let rel = interp.trim_start_matches('/');
    let (dir, _) = rel.rsplit_once('/').unwrap();
    let linked = rel.replacen(dir, &format!("usr/{dir}"), 1);
    let mut members = vec![
        Member::dir("usr"),
        Member::dir(format!("usr/{dir}")),
        Member::file(linked.clone(), "loader", 0o755),
        Member::symlink(dir, format!("usr/{dir}")),
        Member::dir("etc"),
        Member::file("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0o644),
    ];
    let no_libc = p.path().join("no-libc.tar");
    std::fs::write(&no_libc, tar_of(&members)).unwrap();
    let r = p.run(&[
        "scaffold",
        "dyn",
        "--base",
        &format!("rootfs:{}", no_libc.display()),
        "--service",
        "none",
        "-o",
        "x.tar",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("has no libc.so.6 (needed"),
        "{}",
        r.stderr
    );
    // With libc in the multiarch dir: packed.
    let triple = if cfg!(target_arch = "aarch64") {
        "aarch64-linux-gnu"
    } else {
        "x86_64-linux-gnu"
    };
    members.extend([
        Member::dir("lib"),
        Member::dir(format!("lib/{triple}")),
        Member::file(format!("lib/{triple}/libc.so.6"), "libc", 0o755),
    ]);
    let full = p.path().join("full.tar");
    std::fs::write(&full, tar_of(&members)).unwrap();
    let pack = |extra: &[&str]| {
        let base = format!("rootfs:{}", full.display());
        let mut a = vec![
            "scaffold",
            "dyn",
            "--base",
            &base,
            "--service",
            "none",
            "-o",
            "ok.tar",
        ];
        a.extend_from_slice(extra);
        p.run(&a)
    };
    // The files are placeholders: the image cannot run, and its image test says so (exit 6,
    // nothing written) ...
    let r = pack(&[]);
    assert_eq!(r.code, 6, "{r:?}");
    assert!(
        r.stderr
            .contains("the image test failed: ready: could not start the binary"),
        "{r:?}"
    );
    assert!(!p.path().join("ok.tar").exists());
    // ... but every file the loader needs is there: packed when not run.
    pack(&["--no-image-test"]).ok();
}

#[test]
fn static_pie_is_a_static_build_a_c_recipe_can_ask_for() {
    let recipe = c_app_recipe("").replacen(
        "kind = \"c\"",
        "kind = \"c\"\n[build]\nflags = [\"-static-pie\", \"-O2\"]",
        1,
    );
    let p = Project::new().with_app("spie", &recipe, &[("main.c", &c_server("", "stop = 1;"))]);
    let j = p.run(&["build", "spie", "--json"]).ok().json();
    let b = &j["results"]["binary"];
    assert_eq!(
        (b["static"].as_bool(), b["pie"].as_bool()),
        (Some(true), Some(true)),
        "{b}"
    );
    p.run(&["scaffold", "spie", "--base", "scratch", "-o", "spie.tar"])
        .ok();
}
