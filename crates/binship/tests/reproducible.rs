//! Reproducible means no host paths (issue 18, fault 7): one version packed from two working
//! directories, two stores and bases at two paths under two names gives the same bytes, for a
//! rootfs tarball, a rootfs directory, a CA bundle and an LXC image; the base is labelled by
//! its content.

mod common;
use common::*;

use std::path::{Path, PathBuf};

use common::tiny::{debian_like_tar, digest_of, tiny_project};

const EPOCH: &str = "1700000000";

/// Runs scaffold in `cwd` on the store of `p` (`--store`), with `args`, writing `out`.
fn scaffold_in(p: &Project, cwd: &Path, args: &[&str], out: &Path) -> Run {
    let store = p.store();
    let mut all = vec!["--store", store.to_str().unwrap(), "scaffold", "tiny"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", out.to_str().unwrap()]);
    let mut c = p.cmd(&all);
    c.current_dir(cwd).env("SOURCE_DATE_EPOCH", EPOCH);
    c.output().unwrap().into()
}

/// The inputs of one side: a rootfs tar, the same tree as a directory, a CA bundle, each
/// under `dir` with names of its own.
fn inputs(dir: &Path, tag: &str) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let tar = dir.join(format!("{tag}-debian.tar"));
    std::fs::write(&tar, debian_like_tar()).unwrap();
    let tree = dir.join(format!("{tag}-tree"));
    tar::Archive::new(std::io::Cursor::new(debian_like_tar()))
        .unpack(&tree)
        .unwrap();
    let ca = dir.join(format!("{tag}-ca.pem"));
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    (tar, tree, ca)
}

#[test]
fn one_version_packs_alike_from_any_directory_store_and_base_path() {
    let (a, b) = (tiny_project(), tiny_project());
    let (a_tar, a_tree, a_ca) = inputs(&a.path().join("in"), "a");
    let deep = b.path().join("x/y/z");
    let (b_tar, b_tree, b_ca) = inputs(&deep, "other");
    // The same tree as a directory must get the same mtimes on both sides.
    for t in [&a_tree, &b_tree] {
        std::process::Command::new("touch")
            .args(["-h", "-d", "@1700000000"])
            .arg(t)
            .status()
            .unwrap();
        std::process::Command::new("find")
            .arg(t)
            .args(["-exec", "touch", "-h", "-d", "@1700000000", "{}", "+"])
            .status()
            .unwrap();
    }
    let sub = b.path().join("somewhere/else");
    std::fs::create_dir_all(&sub).unwrap();
    let rel = |p: &Path| p.strip_prefix(a.path()).unwrap().display().to_string();
    let cases: Vec<(&str, Vec<String>, Vec<String>)> = vec![
        (
            "rootfs tar, docker-archive",
            vec![
                "--base".into(),
                format!("rootfs:{}", rel(&a_tar)),
                "--service".into(),
                "none".into(),
            ],
            vec![
                "--base".into(),
                format!("rootfs:{}", b_tar.display()),
                "--service".into(),
                "none".into(),
            ],
        ),
        (
            "rootfs dir, oci",
            vec![
                "--base".into(),
                format!("rootfs:{}", rel(&a_tree)),
                "--format".into(),
                "oci".into(),
                "--service".into(),
                "none".into(),
            ],
            vec![
                "--base".into(),
                format!("rootfs:{}", b_tree.display()),
                "--format".into(),
                "oci".into(),
                "--service".into(),
                "none".into(),
            ],
        ),
        (
            "static with a CA bundle",
            vec![
                "--base".into(),
                "static".into(),
                "--ca-bundle".into(),
                rel(&a_ca),
            ],
            vec![
                "--base".into(),
                "static".into(),
                "--ca-bundle".into(),
                b_ca.display().to_string(),
            ],
        ),
        (
            "rootfs tar, lxc",
            vec![
                "--base".into(),
                format!("rootfs:{}", rel(&a_tar)),
                "--format".into(),
                "lxc".into(),
                "--level".into(),
                "0".into(),
                // The fixture's init is a stub that cannot boot; this case is about bytes.
                "--no-image-test".into(),
            ],
            vec![
                "--base".into(),
                format!("rootfs:{}", b_tar.display()),
                "--format".into(),
                "lxc".into(),
                "--level".into(),
                "0".into(),
                // The fixture's init is a stub that cannot boot; this case is about bytes.
                "--no-image-test".into(),
            ],
        ),
    ];
    for (i, (name, a_args, b_args)) in cases.iter().enumerate() {
        let a_out = a.path().join(format!("out-{i}"));
        let b_out = b.path().join(format!("elsewhere-{i}"));
        let refs = |v: &[String]| v.iter().map(String::clone).collect::<Vec<_>>();
        let (aa, bb) = (refs(a_args), refs(b_args));
        let aa: Vec<&str> = aa.iter().map(String::as_str).collect();
        let bb: Vec<&str> = bb.iter().map(String::as_str).collect();
        let ra = scaffold_in(&a, a.path(), &aa, &a_out);
        assert_eq!(ra.code, 0, "{name}: {ra:?}");
        let rb = scaffold_in(&b, &sub, &bb, &b_out);
        assert_eq!(rb.code, 0, "{name}: {rb:?}");
        assert_eq!(digest_of(&a_out), digest_of(&b_out), "{name}");
    }
    // The label: the tarball's digest.
    let r = a.run(&[
        "scaffold",
        "tiny",
        "--base",
        &format!("rootfs:{}", rel(&a_tar)),
        "--service",
        "none",
        "-o",
        "labelled.tar",
        "--json",
    ]);
    let labels = &r.json()["labels"];
    let want = format!("rootfs@{}", binship_oci::digest_string(&debian_like_tar()));
    assert_eq!(labels["io.binship.base"], want.as_str(), "{labels}");
    assert!(
        !labels.to_string().contains(a.path().to_str().unwrap()),
        "{labels}"
    );
}
