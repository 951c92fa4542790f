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

/// Digests binship gave for [`CASES`] before the move (see the module doc).
const RECORDED: &[(&str, &str)] = &[
    (
        "dockerimage-incus",
        "5e295b9678863e626857c7e93afd052a999d33fec2b660ccd9a8d68343570a67",
    ),
    (
        "dockerimage-oci",
        "d8f7d8cb9909fe262fdfb7b180047aae8f21c911fc2948cd4ad41b61ac25129e",
    ),
    (
        "ociimage-docker",
        "1a635c1aba523d71127a97a35199f659bb404788635ceddbb7a7992924f4dc0b",
    ),
    (
        "ociimage-ociarchive",
        "90b516fa691668ac2e73aac40cc44fdc5d92fe231be52f22b2f2255fe0c7ecac",
    ),
    (
        "rootfs-docker",
        "15dbda7651e5a79a584280d5380398d5e406f0e4ebd65bf41ebc49d35fb53c85",
    ),
    (
        "rootfs-incus",
        "aa4cc127449d040950e4452daa25c7dd826a01ac1ea989cdbfcea0ffce971ca3",
    ),
    (
        "rootfs-incus-zstd-split",
        "846f1fe65b7c386c98f88705982da270dc5a27f6a64525a0a8f8dd29c11700c2",
    ),
    (
        "rootfs-lxc",
        "0823b6a5b5705a71d3659ffd66f2e6472adfe6fac3ef7d98de22b5a9d5d4383e",
    ),
    (
        "rootfs-oci",
        "a74c63a45c756bf12ce4d9557c9f05fa2d7d5992cbc5a29de4c41455e73ded85",
    ),
    (
        "scratch-docker",
        "6e9ec23480481a6de40c27f11ce7b627827bd4e748f14da4789a2481d9e4fe9d",
    ),
    (
        "scratch-oci",
        "e7bd0751ae6e7dba09c06885a12420c95330b2f5b93889571af60e19cf1da22c",
    ),
    (
        "scratch-ociarchive-zstd",
        "7640e851ec2d84db3f57674a9c67dd7eb93426bb1843b9cc9c92c7e38f87b54f",
    ),
    (
        "static-docker",
        "5c0eee0669aa70ad400f8b0827fbdcb978b5132905f03179fcdc83b97ea8e48d",
    ),
    (
        "static-oci",
        "16ec9f9e48f50a027994935fcd54d2d68cefb1a03892d57f31b161fb7668ab3f",
    ),
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
