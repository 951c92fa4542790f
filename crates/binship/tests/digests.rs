//! Behaviour stays: the same inputs give the same image bytes. A fixed set of scaffolds (every
//! format, every base kind, `SOURCE_DATE_EPOCH` set) over inputs made here by code (a 129-byte
//! static ELF, a Debian-like rootfs tar with fixed times, images written by binship itself as
//! bases) must give the digests recorded below, which binship gave before the scaffold plan
//! moved into the library (commit 13111e8 plus the fresh-machine fix).
//!
//! To see the digests of the current binary: `BINSHIP_PRINT_DIGESTS=1 cargo test -p binship
//! --test digests -- --nocapture`.

mod common;
use common::*;

use std::collections::BTreeMap;

use common::tiny::{
    digest_of, tiny_app, tiny_project, write_inputs, CA, DOCKER_BASE, OCI_BASE, ROOTFS,
};

/// The scaffolds: (name, base, format, extra flags).
pub const CASES: &[(&str, &str, &str, &[&str])] = &[
    ("scratch-docker", "scratch", "docker-archive", &[]),
    ("scratch-oci", "scratch", "oci", &[]),
    (
        "scratch-ociarchive-zstd",
        "scratch",
        "oci-archive",
        &["--compress", "zstd"],
    ),
    (
        "static-docker",
        "static",
        "docker-archive",
        &["--ca-bundle", "CA"],
    ),
    (
        "static-oci",
        "static",
        "oci",
        &["--ca-bundle", "CA", "--user", "1000:1000"],
    ),
    (
        "rootfs-docker",
        "rootfs:ROOTFS",
        "docker-archive",
        &["--service", "none"],
    ),
    (
        "rootfs-oci",
        "rootfs:ROOTFS",
        "oci",
        &["--env", "A=b c", "--port", "8080"],
    ),
    ("rootfs-lxc", "rootfs:ROOTFS", "lxc", &["--level", "0"]),
    ("rootfs-incus", "rootfs:ROOTFS", "incus", &["--level", "0"]),
    (
        "rootfs-incus-zstd-split",
        "rootfs:ROOTFS",
        "incus",
        &["--compress", "zstd", "--split"],
    ),
    ("ociimage-docker", "oci:OCIBASE", "docker-archive", &[]),
    ("ociimage-ociarchive", "oci:OCIBASE", "oci-archive", &[]),
    (
        "dockerimage-oci",
        "docker-archive:DOCKERBASE",
        "oci",
        &["--arg", "x"],
    ),
    (
        "dockerimage-incus",
        "docker-archive:DOCKERBASE",
        "incus",
        &["--level", "0"],
    ),
];

/// Digests binship gave for [`CASES`] before the move (see the module doc), except where
/// behaviour changed on purpose since, recorded again then and named in [`CHANGED_ON_PURPOSE`].
const RECORDED: &[(&str, &str)] = &[
    (
        "dockerimage-incus",
        "200adeab0d569ef9ffb621dab5c53ce270ed93eae3788bdf6e667ca961e6534c",
    ),
    (
        "dockerimage-oci",
        "73c94392d2cf7a5ce57a5ead90ae35bcdfff4420b098f3276014bcc077f00a4d",
    ),
    (
        "ociimage-docker",
        "56ba90bd6b7eb5b458caf289defddeffe88c730fb924dab8d468416c54f38b2f",
    ),
    (
        "ociimage-ociarchive",
        "201a4dba57f1ab304771e12824542fcc0b65693eb8d70f04f34c835534059f0d",
    ),
    (
        "rootfs-docker",
        "c405315e60b8d6dedaa12c7514f162e66f817c08d60fb6f126b8264b8d5e8396",
    ),
    (
        "rootfs-incus",
        "fae1d7617a4869b615b024b9318f2bde41f27847ecf79d0da2d4aab61c24aaf9",
    ),
    (
        "rootfs-incus-zstd-split",
        "6990b6120b80402174b454ae5aa5af84cab0edd603c8eae3ff956ce5b95c933e",
    ),
    (
        "rootfs-lxc",
        "4f0ac0ffc4e911f5966107e953467aef7bec5aadf5550aac97234b9f9452fcb2",
    ),
    (
        "rootfs-oci",
        "e2690c2b9b56d302dc8b318f522fd99cc5288e4286f27aab431b5a3f61013525",
    ),
    (
        "scratch-docker",
        "32393b6739cc32b508edf5c9048543b8deb64fe9b5385b4cccd7949cbac66241",
    ),
    (
        "scratch-oci",
        "adb7e9e90def922dd230f536dad178fbf1a421c2e7fa88e7bc24187d309b3f14",
    ),
    (
        "scratch-ociarchive-zstd",
        "9ac84ebde2a861e24be460591ace0793d8014fe521216e94bab1f66e45561ccd",
    ),
    (
        "static-docker",
        "44ce1a3834bc8e8509ff808b19a60c4a6de196f348de3a7e5df85ff145c70ebe",
    ),
    (
        "static-oci",
        "7a26c69592581d9e4e6f0faa19f8efc43bdcba8d561a46223e9060725b81523a",
    ),
];

/// Cases whose bytes changed on purpose after the move, and why.
pub const CHANGED_ON_PURPOSE: &[(&str, &str)] = &[
    ("scratch-ociarchive-zstd", "issue 19: the image test's result is the label io.binship.image-tests (1/1 passed (binship runner)); issue 19 item 10: on a base other than the recipe's, the default tag is tiny:v.1-<base> (a variant; loading it no longer replaces tiny:v.1)"),
    ("scratch-oci", "issue 19: the image test's result is the label io.binship.image-tests (1/1 passed (binship runner)); issue 19 item 10: on a base other than the recipe's, the default tag is tiny:v.1-<base> (a variant; loading it no longer replaces tiny:v.1)"),
    ("scratch-docker", "issue 19: the image test's result is the label io.binship.image-tests (1/1 passed (binship runner)); issue 19 item 10: on a base other than the recipe's, the default tag is tiny:v.1-<base> (a variant; loading it no longer replaces tiny:v.1)"),
    ("static-docker", "issue 18: the CA bundle's label is io.binship.input.ca-bundle (its role), not its file name; issue 19: the image test's result is the label io.binship.image-tests (1/1 passed (binship runner))"),
    ("static-oci", "issue 18: --user 1000:1000 on the static base adds passwd/group entries and /home/tiny; the CA label as static-docker; issue 19: the image test's result is the label io.binship.image-tests (1/1 passed (binship runner))"),
    ("rootfs-docker", "issue 18: the user binship adds (nonroot) gets /home/nonroot, created, instead of /nonexistent; io.binship.base is rootfs@sha256:<the tar's digest>, not its path; issue 19: the image test's result is the label io.binship.image-tests (1/1 passed (binship runner)); issue 19 item 10: on a base other than the recipe's, the default tag is tiny:v.1-<base> (a variant; loading it no longer replaces tiny:v.1)"),
    ("rootfs-oci", "issue 18: as rootfs-docker; issue 19: the image test's result is the label io.binship.image-tests (1/1 passed (binship runner)); issue 19 item 10: on a base other than the recipe's, the default tag is tiny:v.1-<base> (a variant; loading it no longer replaces tiny:v.1)"),
    ("rootfs-lxc", "issue 18: as rootfs-docker; issue 20: LXC's create-message names /etc/tiny/tiny.env, not /etc/<app>/<app>.env; issue 18 fault 5: flattened members get fresh ustar headers (type, mode, owner, size, device), never the base's own (its name fields leaked into renamed members)"),
    ("rootfs-incus", "issue 18: as rootfs-docker; issue 18 fault 5: flattened members get fresh ustar headers (type, mode, owner, size, device), never the base's own (its name fields leaked into renamed members)"),
    ("rootfs-incus-zstd-split", "issue 18: as rootfs-docker; issue 18 fault 5: flattened members get fresh ustar headers (type, mode, owner, size, device), never the base's own (its name fields leaked into renamed members)"),
    ("ociimage-docker", "issue 18: its base (inputs/oci-base) is packed on the rootfs, as rootfs-docker; issue 19: the image test's result is the label io.binship.image-tests (1/1 passed (binship runner)); issue 19 item 10: on a base other than the recipe's, the default tag is tiny:v.1-<base> (a variant; loading it no longer replaces tiny:v.1)"),
    ("ociimage-ociarchive", "issue 18: as ociimage-docker; issue 19: the image test's result is the label io.binship.image-tests (1/1 passed (binship runner)); issue 19 item 10: on a base other than the recipe's, the default tag is tiny:v.1-<base> (a variant; loading it no longer replaces tiny:v.1)"),
    ("dockerimage-oci", "issue 18: as ociimage-docker; issue 19: the image test's result is the label io.binship.image-tests (1/1 passed (binship runner)); issue 19 item 10: on a base other than the recipe's, the default tag is tiny:v.1-<base> (a variant; loading it no longer replaces tiny:v.1)"),
    ("dockerimage-incus", "issue 18: as ociimage-docker; issue 18 fault 5: flattened members get fresh ustar headers (type, mode, owner, size, device), never the base's own (its name fields leaked into renamed members)"),
];

/// Runs every case; returns name -> digest of the output.
pub fn scaffold_all(p: &Project, epoch: &str) -> BTreeMap<String, String> {
    write_inputs(p, epoch);
    let subst = |s: &str| {
        s.replace("CA", CA)
            .replace("ROOTFS", ROOTFS)
            .replace("OCIBASE", OCI_BASE)
            .replace("DOCKERBASE", DOCKER_BASE)
    };
    let mut got = BTreeMap::new();
    std::fs::create_dir_all(p.path().join("out")).unwrap();
    for (name, base, format, extra) in CASES {
        let out = p.path().join("out").join(name);
        let mut args: Vec<String> = vec![
            "scaffold".into(),
            "tiny".into(),
            "--base".into(),
            subst(base),
            "--format".into(),
            format.to_string(),
        ];
        args.extend(extra.iter().map(|a| subst(a)));
        args.push("-o".into());
        args.push(out.display().to_string());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let r: Run = p
            .cmd(&refs)
            .env("SOURCE_DATE_EPOCH", epoch)
            .output()
            .unwrap()
            .into();
        assert_eq!(r.code, 0, "{name}: {r:?}");
        got.insert(name.to_string(), digest_of(&out));
    }
    got
}

#[test]
fn the_same_inputs_give_the_recorded_digests() {
    let p = tiny_project();
    let got = scaffold_all(&p, "1700000000");
    if std::env::var_os("BINSHIP_PRINT_DIGESTS").is_some() {
        for (k, v) in &got {
            println!("    (\"{k}\", \"{v}\"),");
        }
    }
    // Reproducible within one binary first: a second project gives the same bytes.
    let again = scaffold_all(&tiny_project(), "1700000000");
    assert_eq!(got, again, "two runs of the same inputs differ");
    let recorded: BTreeMap<String, String> = RECORDED
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(
        recorded.len(),
        CASES.len(),
        "every case has a recorded digest"
    );
    for (k, _) in CHANGED_ON_PURPOSE {
        assert!(CASES.iter().any(|c| c.0 == *k), "{k} is not a case");
    }
    let changed: Vec<&String> = got
        .iter()
        .filter(|(k, v)| recorded.get(*k) != Some(v))
        .map(|(k, _)| k)
        .collect();
    assert!(
        changed.is_empty(),
        "outputs changed for {changed:?}: {got:#?}"
    );
}

#[test]
fn update_packs_the_same_bytes_as_scaffold_with_the_same_epoch() {
    // update's [[outputs]] used to ignore SOURCE_DATE_EPOCH (the commit or build time went in).
    let p = tiny_app(
        "[[outputs]]\nformat = \"docker-archive\"\nbase = \"scratch\"\ndestination = \"out/update.tar\"\n[[outputs]]\nformat = \"oci-archive\"\nbase = \"scratch\"\ndestination = \"out/update.oci.tar\"\n",
    );
    let epoch = "1600000000";
    let r: Run = p
        .cmd(&["update", "tiny"])
        .env("SOURCE_DATE_EPOCH", epoch)
        .output()
        .unwrap()
        .into();
    r.ok();
    for (format, made) in [
        ("docker-archive", "update.tar"),
        ("oci-archive", "update.oci.tar"),
    ] {
        let out = p.path().join(format!("scaffold-{format}.tar"));
        let r: Run = p
            .cmd(&[
                "scaffold", "tiny", "--base", "scratch", "--format", format, "-o",
            ])
            .arg(&out)
            .env("SOURCE_DATE_EPOCH", epoch)
            .output()
            .unwrap()
            .into();
        r.ok();
        let updated = std::fs::read(p.app_dir("tiny").join("out").join(made)).unwrap();
        assert!(
            std::fs::read(&out).unwrap() == updated,
            "{format}: update and scaffold differ with SOURCE_DATE_EPOCH={epoch}"
        );
    }
    // A value that is not a number is refused, not ignored.
    let r: Run = p
        .cmd(&["scaffold", "tiny", "--base", "scratch", "-o", "x.tar"])
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("SOURCE_DATE_EPOCH `yesterday` is not a number"),
        "{r:?}"
    );
    // ... and so is one that no tar header or RFC 3339 time can hold.
    let r: Run = p
        .cmd(&["scaffold", "tiny", "--base", "scratch", "-o", "x.tar"])
        .env("SOURCE_DATE_EPOCH", "18446744073709551615")
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("after the year 9999"), "{r:?}");
    assert!(!p.path().join("x.tar").exists());
}
