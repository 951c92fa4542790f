//! Foreign bases under the binary: an Alpine-like busybox rootfs (as .tar.gz, .tar.xz,
//! .tar.zst and a directory), an image made by binship used as a base, and a corpus of hostile
//! bases that must be refused with a one-line error and nothing written.

mod common;
use common::*;
use std::path::{Path, PathBuf};

use binship_image::testing::{raw_tar, tar_of, Member};
use binship_image::validate::{validate, ImageReport, Options};

fn validated(format: &str, path: &Path) -> ImageReport {
    let reader = binship_sink::sink_for(format).unwrap().open(path).unwrap();
    let mut r = validate(
        &*reader,
        &Options {
            hash_files: vec!["etc/passwd".into(), "usr/local/bin/go-id".into()],
        },
    )
    .unwrap();
    r.remove(0)
}

fn sha_file(p: &Path) -> String {
    binship_oci::digest_string(&std::fs::read(p).unwrap())
}

/// The /etc/passwd of the top layer, read back from an archive with the tar crate.
fn top_passwd(format: &str, path: &Path) -> String {
    top_passwd_opt(format, path).expect("no etc/passwd in the top layer")
}

/// The top layer's /etc/passwd, if it has one.
fn top_passwd_opt(format: &str, path: &Path) -> Option<String> {
    let reader = binship_sink::sink_for(format).unwrap().open(path).unwrap();
    let img = reader.images().unwrap().remove(0);
    let top = img.layers.last().unwrap();
    let raw = reader.open_layer(top).unwrap();
    let mut buf = std::io::BufReader::new(raw);
    let head = std::io::BufRead::fill_buf(&mut buf).unwrap().to_vec();
    let r: Box<dyn std::io::Read> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(buf))
    } else {
        Box::new(buf)
    };
    let mut a = tar::Archive::new(r);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some("etc/passwd") {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            return Some(s);
        }
    }
    None
}

fn project_with_go_id() -> Project {
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    p
}

#[test]
fn an_alpine_like_rootfs_works_in_every_compression_and_as_a_dir() {
    if !common::engines::require(&["tar", "xz", "zstd"], false)
        || !Path::new("/bin/busybox").exists()
            && !common::engines::require(&["/bin/busybox"], false)
    {
        return;
    }
    let p = project_with_go_id();
    let root = alpine_like_rootfs(p.path());
    let gz = p.path().join("alpine.tar.gz");
    tar_dir(&root, &gz, "z");
    let xz = p.path().join("alpine.tar.xz");
    tar_dir(&root, &xz, "J");
    let zst = p.path().join("alpine.bin"); // the name says nothing: magic bytes decide
    tar_dir(&root, &zst, "--zstd");
    // Default output follows the seed: images/docker/go-id-alpine/.
    let j = p
        .run(&[
            "scaffold",
            "go-id",
            "--base",
            &format!("rootfs:{}", gz.display()),
            "--format",
            "oci-archive",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(
        j["path"].as_str().unwrap(),
        p.path()
            .join("images/docker/go-id-alpine/go-id.oci.tar")
            .to_str()
            .unwrap()
    );
    assert_eq!(j["distro"]["id"], "alpine");
    assert_eq!(j["labels"]["io.binship.distro"], "alpine");
    assert_eq!(j["labels"]["io.binship.distro.version"], "3.20.3");
    let out = PathBuf::from(j["path"].as_str().unwrap());
    let rep = validated("oci-archive", &out);
    // The gzip base is reused byte for byte: its layer is the tarball itself.
    assert_eq!(rep.layers[0].digest, sha_file(&gz));
    assert!(rep.files.contains_key("bin/busybox") && rep.files.contains_key("usr/local/bin/go-id"));
    let passwd = top_passwd("oci-archive", &out);
    assert!(
        passwd.starts_with("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534"),
        "{passwd}"
    );
    assert!(
        passwd.ends_with("go-id:x:65532:65532:go-id:/home/go-id:/sbin/nologin\n"),
        "{passwd}"
    );
    // xz is no OCI layer type: recompressed, same diff_id.
    let xo = p.path().join("x.oci.tar");
    p.run(&[
        "scaffold",
        "go-id",
        "--base",
        &format!("rootfs:{}", xz.display()),
        "--format",
        "oci-archive",
        "-o",
        xo.to_str().unwrap(),
    ])
    .ok();
    let xrep = validated("oci-archive", &xo);
    assert_eq!(xrep.layers[0].compression, "gzip");
    assert_eq!(xrep.layers[0].diff_id, rep.layers[0].diff_id);
    // zstd, detected by magic, into a docker-archive (decompressed), and a directory base.
    let zo = p.path().join("z.tar");
    p.run(&[
        "scaffold",
        "go-id",
        "--base",
        &format!("rootfs:{}", zst.display()),
        "-o",
        zo.to_str().unwrap(),
    ])
    .ok();
    let zrep = validated("docker-archive", &zo);
    assert_eq!(zrep.layers[0].diff_id, rep.layers[0].diff_id);
    let dout = p.path().join("d.tar");
    let j = p
        .run(&[
            "scaffold",
            "go-id",
            "--base",
            &format!("rootfs:{}", root.display()),
            "-o",
            dout.to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(j["distro"]["id"], "alpine");
    let drep = validated("docker-archive", &dout);
    assert_eq!(
        drep.files["bin/busybox"].size,
        std::fs::metadata(root.join("bin/busybox")).unwrap().len()
    );
}

#[test]
fn an_image_made_by_binship_is_a_base() {
    let p = project_with_go_id();
    // Make c-health's static image, then put go-id on top of it.
    let p2 = p.path().join("examples/c-health");
    copy_dir(&repo_root().join("examples/c-health"), &p2);
    std::fs::create_dir_all(p.app_dir("c-health")).unwrap();
    std::fs::copy(
        repo_root().join(STORE).join("c-health/binship.toml"),
        p.app_dir("c-health").join("binship.toml"),
    )
    .unwrap();
    p.run(&["build", "c-health"]).ok();
    let base = p.path().join("c-health.tar");
    p.run(&[
        "scaffold",
        "c-health",
        "-o",
        base.to_str().unwrap(),
        "--env",
        "FROM_BASE=1",
    ])
    .ok();
    let layout = p.path().join("layout");
    p.run(&[
        "scaffold",
        "c-health",
        "--format",
        "oci",
        "-o",
        layout.to_str().unwrap(),
    ])
    .ok();
    for b in [
        format!("docker-archive:{}", base.display()),
        format!("oci:{}:v.1", layout.display()),
    ] {
        let out = p
            .path()
            .join(format!("on-{}.tar", b.split(':').next().unwrap()));
        let j = p
            .run(&[
                "scaffold",
                "go-id",
                "--base",
                &b,
                "-o",
                out.to_str().unwrap(),
                "--env",
                "MINE=2",
                "--json",
            ])
            .ok()
            .json();
        let rep = validated("docker-archive", &out);
        assert_eq!(rep.layers.len(), 3, "{b}");
        assert!(
            rep.files.contains_key("usr/local/bin/c-health")
                && rep.files.contains_key("usr/local/bin/go-id")
        );
        let reader = binship_sink::sink_for("docker-archive")
            .unwrap()
            .open(&out)
            .unwrap();
        let cfg: serde_json::Value =
            serde_json::from_slice(&reader.images().unwrap()[0].config).unwrap();
        let env: Vec<&str> = cfg["config"]["Env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(env.contains(&"MINE=2"), "{env:?}");
        if b.starts_with("docker-archive") {
            assert!(env.contains(&"FROM_BASE=1"), "{env:?}");
        }
        assert_eq!(cfg["history"].as_array().unwrap().len(), 3);
        assert_eq!(cfg["config"]["Entrypoint"][0], "/usr/local/bin/go-id");
        assert_eq!(j["base"], b.as_str());
        // uid 65532 is the base's nonroot: the image runs as nonroot, says so, and the base's
        // account files stay as they were.
        assert_eq!(top_passwd_opt("docker-archive", &out), None);
        let warnings = j["warnings"].to_string();
        assert!(warnings.contains("uid 65532 is `nonroot`"), "{warnings}");
    }
}

/// A tar with raw member names, for hostile cases.
#[test]
fn hostile_bases_are_refused_with_the_member_named_and_nothing_written() {
    use tar::EntryType as T;
    let p = project_with_go_id();
    let ok_files: &[(&str, T, &[u8], Option<&str>)] = &[
        ("etc/", T::Directory, b"", None),
        ("etc/os-release", T::Regular, b"ID=alpine\n", None),
    ];
    let gz = |b: Vec<u8>| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut e, &b).unwrap();
        e.finish().unwrap()
    };
    let good = gz(raw_tar(ok_files));
    let mut corpus: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot",
            raw_tar(&[("../../etc/cron.d/x", T::Regular, b"* * * * * root sh", None)]),
            "member ../../etc/cron.d/x escapes the root",
        ),
        (
            "absolute",
            raw_tar(&[("/etc/shadow", T::Regular, b"x", None)]),
            "member /etc/shadow is an absolute path",
        ),
        (
            "symlink-then-file",
            raw_tar(&[
                ("etc", T::Symlink, b"", Some("/etc")),
                ("etc/passwd", T::Regular, b"evil", None),
            ]),
            "member etc/passwd is written through the symlink etc",
        ),
        (
            "hardlink-out",
            raw_tar(&[("shadow", T::Link, b"", Some("/etc/shadow"))]),
            "member shadow is a hard link",
        ),
        (
            "hardlink-missing",
            raw_tar(&[("x", T::Link, b"", Some("nothing"))]),
            "not an earlier regular file",
        ),
        (
            "duplicate",
            raw_tar(&[("a", T::Regular, b"1", None), ("a", T::Regular, b"2", None)]),
            "member a appears twice",
        ),
        (
            "truncated-gzip",
            good[..good.len() - 9].to_vec(),
            "reading base",
        ),
        (
            "not-a-tar",
            b"hello, this is not a tar archive at all, just some text......".repeat(20),
            "reading base",
        ),
        (
            "usr-local-bin-symlink",
            raw_tar(&[
                ("usr/", T::Directory, b"", None),
                ("usr/local", T::Symlink, b"", Some("/tmp")),
            ]),
            "/usr/local is a symlink; binship will not write",
        ),
        (
            "uid-taken",
            raw_tar(&[
                ("etc/", T::Directory, b"", None),
                (
                    "etc/passwd",
                    T::Regular,
                    b"root:x:0:0::/:/bin/sh\nthief:x:65532:65532::/:/bin/sh\n",
                    None,
                ),
            ]),
            "uid 65532 is taken by `thief`",
        ),
    ];
    let long = tar_of(&[Member::file("x/".repeat(2600) + "f", "", 0o644)]);
    corpus.push(("long-name", long, "has a name of 5201 bytes"));
    let mut corrupt = gz(raw_tar(ok_files));
    let n = corrupt.len();
    corrupt[n / 2] ^= 0xff;
    corpus.push(("corrupt-gzip", corrupt, "reading base"));
    let outdir = p.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    for (name, bytes, want) in corpus {
        let base = p.path().join(format!("{name}.tar"));
        std::fs::write(&base, &bytes).unwrap();
        let out = outdir.join(format!("{name}.tar"));
        let b = format!("rootfs:{}", base.display());
        let mut args = vec![
            "scaffold",
            "go-id",
            "-o",
            out.to_str().unwrap(),
            "--base",
            b.as_str(),
        ];
        if name == "uid-taken" {
            args.extend(["--user", "nonroot"]);
        }
        let r = p.run(&args);
        assert_eq!(r.code, 2, "{name}: {r:?}");
        let errs: Vec<&str> = r
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect();
        assert_eq!(errs.len(), 1, "{name}: {r:?}");
        assert!(errs[0].contains(want), "{name}: {}", errs[0]);
    }
    let left: Vec<_> = std::fs::read_dir(&outdir).unwrap().collect();
    assert!(left.is_empty(), "something was written: {left:?}");
    // A base image whose layer was tampered with after it was written.
    let img = p.path().join("img.tar");
    p.run(&["scaffold", "go-id", "-o", img.to_str().unwrap()])
        .ok();
    let mut bytes = std::fs::read(&img).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x01;
    std::fs::write(&img, &bytes).unwrap();
    let r = p.run(&[
        "scaffold",
        "go-id",
        "--base",
        &format!("docker-archive:{}", img.display()),
        "-o",
        outdir.join("t.tar").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("diff_id is sha256:") || r.stderr.contains("reading base"),
        "{r:?}"
    );
    assert!(std::fs::read_dir(&outdir).unwrap().next().is_none());
}
