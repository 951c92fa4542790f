//! Users the image knows (issue 18, fault 2): a configured uid:gid gets passwd and group
//! entries and a home on every base that has an /etc/passwd (the static base included); a
//! base whose /etc/passwd is a symlink (nix images point it into /nix/store, by absolute or
//! relative link) keeps its users; a uid the base already holds under another name is used as
//! that user and said, not silently reused; a name held by another uid is refused.

mod common;
use common::*;

use std::collections::BTreeMap;
use std::path::Path;

use binship_image::testing::{tar_of, Member};
use common::tiny::tiny_project;

/// One member of the top layer: content (files), uid, gid, mode.
#[derive(Debug)]
struct Member2 {
    content: Vec<u8>,
    uid: u64,
    gid: u64,
    mode: u32,
    dir: bool,
}

/// The top layer of the image at `path` (a docker-archive), by path.
fn top_layer(path: &Path) -> BTreeMap<String, Member2> {
    let reader = binship_sink::sink_for("docker-archive")
        .unwrap()
        .open(path)
        .unwrap();
    let img = reader.images().unwrap().remove(0);
    let raw = reader.open_layer(img.layers.last().unwrap()).unwrap();
    let mut a = tar::Archive::new(raw);
    let mut out = BTreeMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        let h = e.header().clone();
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut content).unwrap();
        out.insert(
            p,
            Member2 {
                content,
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                mode: h.mode().unwrap() & 0o7777,
                dir: h.entry_type().is_dir(),
            },
        );
    }
    out
}

fn text(m: &BTreeMap<String, Member2>, p: &str) -> String {
    String::from_utf8_lossy(
        &m.get(p)
            .unwrap_or_else(|| panic!("no {p} in {:?}", m.keys()))
            .content,
    )
    .into_owned()
}

fn scaffold(p: &Project, base: &str, user: &str, name: &str) -> (Run, std::path::PathBuf) {
    let out = p.path().join(format!("{name}-out.tar"));
    let r = p.run(&[
        "scaffold",
        "tiny",
        "--base",
        base,
        "--user",
        user,
        "--service",
        "none",
        "-o",
        out.to_str().unwrap(),
        "--json",
    ]);
    (r, out)
}

#[test]
fn a_numeric_user_on_the_static_base_gets_entries_and_a_home() {
    let p = tiny_project();
    let (r, out) = scaffold(&p, "static", "1000:1000", "static");
    assert_eq!(r.code, 0, "{r:?}");
    let top = top_layer(&out);
    let passwd = text(&top, "etc/passwd");
    assert!(
        passwd.starts_with("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:"),
        "{passwd}"
    );
    assert!(
        passwd.ends_with("tiny:x:1000:1000:tiny:/home/tiny:/sbin/nologin\n"),
        "{passwd}"
    );
    assert!(text(&top, "etc/group").ends_with("tiny:x:1000:\n"));
    let home = &top["home/tiny"];
    assert!(home.dir);
    assert_eq!((home.uid, home.gid, home.mode), (1000, 1000, 0o700));
    // The default user (nonroot) is the base's own: nothing is rewritten.
    let out2 = p.path().join("default.tar");
    p.run(&[
        "scaffold",
        "tiny",
        "--base",
        "static",
        "-o",
        out2.to_str().unwrap(),
    ])
    .ok();
    assert!(!top_layer(&out2).contains_key("etc/passwd"));
    // A uid the static base holds (nonroot) with another gid: said.
    let (r, _) = scaffold(&p, "static", "65532:1000", "static-nonroot");
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("uid 65532 is `nonroot`"), "{}", r.stderr);
    // scratch has no /etc/passwd: none is made.
    let (r, out3) = scaffold(&p, "scratch", "1000:1000", "scratch");
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!top_layer(&out3).contains_key("etc/passwd"));
}

/// A nix-like base: /etc/passwd and /etc/group are links into /nix/store (`link` gives the
/// target as written: absolute or relative).
fn nix_like(passwd_link: &str, group_link: &str) -> Vec<u8> {
    tar_of(&[
        Member::dir("etc"),
        Member::dir("nix"),
        Member::dir("nix/store"),
        Member::dir("nix/store/abc-fake-nss"),
        Member::dir("nix/store/abc-fake-nss/etc"),
        Member::file(
            "nix/store/abc-fake-nss/etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
            0o444,
        ),
        Member::file(
            "nix/store/abc-fake-nss/etc/group",
            "root:x:0:\napp:x:1000:\n",
            0o444,
        ),
        Member::symlink("etc/passwd", passwd_link),
        Member::symlink("etc/group", group_link),
        Member::dir("tmp"),
    ])
}

#[test]
fn a_base_whose_passwd_is_a_link_keeps_its_users() {
    let p = tiny_project();
    for (name, passwd, group) in [
        (
            "absolute",
            "/nix/store/abc-fake-nss/etc/passwd",
            "/nix/store/abc-fake-nss/etc/group",
        ),
        (
            "relative",
            "../nix/store/abc-fake-nss/etc/passwd",
            "../nix/store/abc-fake-nss/etc/group",
        ),
    ] {
        let base = p.path().join(format!("nix-{name}.tar"));
        std::fs::write(&base, nix_like(passwd, group)).unwrap();
        let (r, out) = scaffold(&p, &format!("rootfs:{}", base.display()), "2000:2000", name);
        assert_eq!(r.code, 0, "{name}: {r:?}");
        let top = top_layer(&out);
        let passwd = text(&top, "etc/passwd");
        assert_eq!(
            passwd,
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\ntiny:x:2000:2000:tiny:/home/tiny:/sbin/nologin\n",
            "{name}"
        );
        assert_eq!(
            text(&top, "etc/group"),
            "root:x:0:\napp:x:1000:\ntiny:x:2000:\n"
        );
    }
    // A link that leads nowhere inside the base: refused, not replaced by root alone.
    let base = p.path().join("dangling.tar");
    std::fs::write(
        &base,
        tar_of(&[
            Member::dir("etc"),
            Member::symlink("etc/passwd", "/nix/store/missing/passwd"),
        ]),
    )
    .unwrap();
    let (r, out) = scaffold(
        &p,
        &format!("rootfs:{}", base.display()),
        "2000:2000",
        "dangling",
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("/etc/passwd is not a file binship can read"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
}

#[test]
fn a_uid_the_base_holds_under_another_name_is_said_and_a_taken_name_refused() {
    let p = tiny_project();
    let base = p.path().join("debian.tar");
    std::fs::write(&base, common::tiny::debian_like_tar()).unwrap();
    let base = format!("rootfs:{}", base.display());
    // uid 1000 is `app` in the base: the image runs as app, and the answer says so.
    let (r, out) = scaffold(&p, &base, "1000:1000", "reuse");
    assert_eq!(r.code, 0, "{r:?}");
    let warnings = r.json()["warnings"].to_string();
    assert!(warnings.contains("uid 1000 is `app`"), "{warnings}");
    assert!(r.stderr.contains("uid 1000 is `app`"), "{}", r.stderr);
    // Nothing to add: the base's files stay the base's.
    assert!(!top_layer(&out).contains_key("etc/passwd"));
    // `--user nonroot` where the base has another user on 65532: refused.
    let taken = p.path().join("taken.tar");
    std::fs::write(
        &taken,
        tar_of(&[
            Member::dir("etc"),
            Member::file(
                "etc/passwd",
                "root:x:0:0::/root:/bin/sh\nsvc:x:65532:65532::/:/bin/sh\n",
                0o644,
            ),
            Member::file("etc/group", "root:x:0:\n", 0o644),
        ]),
    )
    .unwrap();
    let (r, out) = scaffold(
        &p,
        &format!("rootfs:{}", taken.display()),
        "nonroot",
        "taken",
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("uid 65532 is taken by `svc`"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
}
