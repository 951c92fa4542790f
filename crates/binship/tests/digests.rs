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
    (
        "rootfs-lxc",
        "rootfs:ROOTFS",
        "lxc",
        &["--level", "0", "--no-image-test"],
    ),
    (
        "rootfs-incus",
        "rootfs:ROOTFS",
        "incus",
        &["--level", "0", "--no-image-test"],
    ),
    (
        "rootfs-incus-zstd-split",
        "rootfs:ROOTFS",
        "incus",
        &["--compress", "zstd", "--split", "--no-image-test"],
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
        &["--level", "0", "--no-image-test"],
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
        "074f0b68dc5d53d28035e534b215a26565d12233d17b7f0df16ed77a20242a95",
    ),
    (
        "ociimage-docker",
        "3126bc732505bc63b9e343879d86faddcb78566c097c94ba3e7aab7f45328b6f",
    ),
    (
        "ociimage-ociarchive",
        "ba25bbc9ea961fe17a372a15aa764a9748881fb82108e1b003a1130c0e84ea9e",
    ),
    (
        "rootfs-docker",
        "b1541c962f7bf781c61c4dd7682ef8e78c6022d845437329c789662c3cca110f",
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
        "3098269513e46739b9eda939fc75e060c7ece0c837e1611c2bdbc5d71305ca9e",
    ),
    (
        "scratch-docker",
        "887ba03f9f6b42e0cc9eb45bea8237e17abe4b7ea3604f4e76f6310f0ddf2449",
    ),
    (
        "scratch-oci",
        "677b4d5f000f59813086b1d198744ad65d4dbca54ab3fc3d737650146c472349",
    ),
    (
        "scratch-ociarchive-zstd",
        "22d8e4f2d8a06a7a02963025a76cee5f370ceecdb4d555e247f479c989be2841",
    ),
    (
        "static-docker",
        "441b1f5abed21858c1b997dbd5d4289cbdb2a6b7e431ea0068d1110b4d842bae",
    ),
    (
        "static-oci",
        "701f5448d1270845d75e0d0d43f5d56d5572c6596139b9cdb13a14ff82af6cbd",
    ),
];

/// Cases whose bytes changed on purpose after the move, and why.
pub const CHANGED_ON_PURPOSE: &[(&str, &str)] = &[
    ("scratch-ociarchive-zstd", "issue 19: the image test's result is the label io.binship.image-tests (1/1 passed (binship runner)); issue 19 item 10: on a base other than the recipe's, the default tag is tiny:v.1-<base> (a variant; loading it no longer replaces tiny:v.1); issue 19 item 7: io.binship.build.command is the replayable sh line (the env set for the build, quoted)"),
    ("scratch-oci", "issue 19: the image test's result is the label io.binship.image-tests (1/1 passed (binship runner)); issue 19 item 10: on a base other than the recipe's, the default tag is tiny:v.1-<base> (a variant; loading it no longer replaces tiny:v.1); issue 19 item 7: io.binship.build.command is the replayable sh line (the env set for the build, quoted)"),
    ("scratch-docker", "issue 19: the image test's result is the label io.binship.image-tests (1/1 passed (binship runner)); issue 19 item 10: on a base other than the recipe's, the default tag is tiny:v.1-<base> (a variant; loading it no longer replaces tiny:v.1); issue 19 item 7: io.binship.build.command is the replayable sh line (the env set for the build, quoted)"),
    ("static-docker", "issue 18: the CA bundle's label is io.binship.input.ca-bundle (its role), not its file name; issue 19: the image test's result is the label io.binship.image-tests (1/1 passed (binship runner)); issue 19 item 7: io.binship.build.command is the replayable sh line (the env set for the build, quoted)"),
    ("static-oci", "issue 18: --user 1000:1000 on the static base adds passwd/group entries and /home/tiny; the CA label as static-docker; issue 19: the image test's result is the label io.binship.image-tests (1/1 passed (binship runner)); issue 19 item 7: io.binship.build.command is the replayable sh line (the env set for the build, quoted)"),
    ("rootfs-docker", "issue 18: the user binship adds (nonroot) gets /home/nonroot, created, instead of /nonexistent; io.binship.base is rootfs@sha256:<the tar's digest>, not its path; issue 19: the image test's result is the label io.binship.image-tests (1/1 passed (binship runner)); issue 19 item 10: on a base other than the recipe's, the default tag is tiny:v.1-<base> (a variant; loading it no longer replaces tiny:v.1); issue 19 item 7: io.binship.build.command is the replayable sh line (the env set for the build, quoted)"),
    ("rootfs-oci", "issue 18: as rootfs-docker; issue 19: the image test's result is the label io.binship.image-tests (1/1 passed (binship runner)); issue 19 item 10: on a base other than the recipe's, the default tag is tiny:v.1-<base> (a variant; loading it no longer replaces tiny:v.1); issue 19 item 7: io.binship.build.command is the replayable sh line (the env set for the build, quoted)"),
    ("rootfs-lxc", "issue 18: as rootfs-docker; issue 20: LXC's create-message names /etc/tiny/tiny.env, not /etc/<app>/<app>.env; issue 18 fault 5: flattened members get fresh ustar headers (type, mode, owner, size, device), never the base's own (its name fields leaked into renamed members)"),
    ("rootfs-incus", "issue 18: as rootfs-docker; issue 18 fault 5: flattened members get fresh ustar headers (type, mode, owner, size, device), never the base's own (its name fields leaked into renamed members)"),
    ("rootfs-incus-zstd-split", "issue 18: as rootfs-docker; issue 18 fault 5: flattened members get fresh ustar headers (type, mode, owner, size, device), never the base's own (its name fields leaked into renamed members)"),
    ("ociimage-docker", "issue 18: its base (inputs/oci-base) is packed on the rootfs, as rootfs-docker; issue 19: the image test's result is the label io.binship.image-tests (1/1 passed (binship runner)); issue 19 item 10: on a base other than the recipe's, the default tag is tiny:v.1-<base> (a variant; loading it no longer replaces tiny:v.1); issue 19 item 7: io.binship.build.command is the replayable sh line (the env set for the build, quoted)"),
    ("ociimage-ociarchive", "issue 18: as ociimage-docker; issue 19: the image test's result is the label io.binship.image-tests (1/1 passed (binship runner)); issue 19 item 10: on a base other than the recipe's, the default tag is tiny:v.1-<base> (a variant; loading it no longer replaces tiny:v.1); issue 19 item 7: io.binship.build.command is the replayable sh line (the env set for the build, quoted)"),
    ("dockerimage-oci", "issue 18: as ociimage-docker; issue 19: the image test's result is the label io.binship.image-tests (1/1 passed (binship runner)); issue 19 item 10: on a base other than the recipe's, the default tag is tiny:v.1-<base> (a variant; loading it no longer replaces tiny:v.1); issue 19 item 7: io.binship.build.command is the replayable sh line (the env set for the build, quoted)"),
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
