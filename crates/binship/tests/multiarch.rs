//! Multi-arch: a recipe with `targets = ["linux/amd64", "linux/arm64"]` builds both, tests the
//! arm64 binary through qemu-aarch64-static (invoked directly), scaffolds an
//! OCI image index, pushes it to a real registry, and skopeo fetches the arm64 image whose
//! binary runs under qemu and answers health. Without qemu the arm64 tests are recorded as
//! skipped and scaffold warns. `docker run --platform linux/arm64` runs the image under a binfmt
//! handler registered for that test when the host has none (removed after). Bad targets, a missing cross toolchain, an ELF of the wrong
//! machine and a platform the version lacks are clear errors.

mod common;
use common::engines::*;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;

/// go-id's recipe, built for amd64 and arm64.
fn multi_go_id() -> Project {
    let p = Project::new().with_example("go-id");
    let path = p.app_dir("go-id").join("binship.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replace("[target]\nos = \"linux\"\narch = \"amd64\"\n", "");
    // `targets` is a top-level key: it goes before the first table.
    let first_table = text.find("\n[").unwrap();
    let text = format!(
        "{}\ntargets = [\"linux/amd64\", \"linux/arm64\"]{}",
        &text[..first_table],
        &text[first_table..]
    );
    assert!(!text.contains("[target]"), "{text}");
    std::fs::write(&path, text).unwrap();
    p
}

/// The ELF e_machine of a file (62 x86-64, 183 aarch64).
fn elf_machine(path: &Path) -> u16 {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..4], b"\x7fELF", "{}", path.display());
    u16::from_le_bytes([b[18], b[19]])
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap()
}

/// Extracts `usr/local/bin/go-id` from the single image of an OCI layout written by skopeo.
fn binary_from_layout(layout: &Path, dest: &Path) -> PathBuf {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&blob(
        layout,
        index["manifests"][0]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    for l in manifest["layers"].as_array().unwrap() {
        let bytes = blob(layout, l["digest"].as_str().unwrap());
        let mut a = tar::Archive::new(flate2::read::MultiGzDecoder::new(&bytes[..]));
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap().to_string_lossy() == "usr/local/bin/go-id" {
                let out = dest.join("go-id");
                e.unpack(&out).unwrap();
                return out;
            }
        }
    }
    panic!("no usr/local/bin/go-id in {}", layout.display());
}

#[test]
fn arm64_is_built_tested_under_qemu_indexed_pushed_and_runs() {
    if !require(&["qemu-aarch64-static", "go"], false) {
        return;
    }
    let p = multi_go_id();
    let j = p.run(&["build", "go-id", "--json"]).ok().json();
    let rec = &j["results"];
    assert_eq!(rec["target"], "linux/amd64", "{j}");
    let arm = &rec["platforms"][0];
    assert_eq!(arm["target"], "linux/arm64", "{j}");
    assert_eq!(arm["path"], "linux-arm64/go-id");
    assert_eq!(arm["status"], "passed", "{arm}");
    assert_eq!(arm["runner"], "qemu-aarch64-static");
    assert_eq!(arm["passed"], 5);
    assert_eq!(arm["binary"]["arch"], "arm64");
    assert_eq!(arm["binary"]["static"], true);
    let v = p.version_dir("go-id", 1);
    assert_eq!(elf_machine(&v.join("go-id")), 62);
    assert_eq!(elf_machine(&v.join("linux-arm64/go-id")), 183);
    assert_ne!(rec["binary"]["sha256"], arm["binary"]["sha256"]);
    let log = std::fs::read_to_string(v.join("test.log")).unwrap();
    assert!(log.contains("qemu-aarch64-static"), "{log}");
    // list shows the platforms.
    let l = p.run(&["list", "go-id", "--json"]).ok().json();
    let plats: Vec<&str> = l["apps"][0]["versions"][0]["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["target"].as_str().unwrap())
        .collect();
    assert_eq!(plats, ["linux/amd64", "linux/arm64"]);
    let text = p.run(&["list"]).ok();
    assert!(text.stdout.contains("linux/amd64,linux/arm64"), "{text:?}");

    // oci: an image index with one manifest per platform.
    let oci = p.path().join("oci");
    let j = p
        .run(&[
            "scaffold",
            "go-id",
            "--format",
            "oci",
            "-o",
            oci.to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(
        j["platforms"],
        serde_json::json!(["linux/amd64", "linux/arm64"])
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(oci.join("index.json")).unwrap()).unwrap();
    let top = &index["manifests"][0];
    assert_eq!(top["mediaType"], "application/vnd.oci.image.index.v1+json");
    let nested: serde_json::Value =
        serde_json::from_slice(&blob(&oci, top["digest"].as_str().unwrap())).unwrap();
    let archs: Vec<&str> = nested["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    // Each platform's config says its architecture and its binary's sha256.
    for (m, want) in nested["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .zip([&rec["binary"]["sha256"], &arm["binary"]["sha256"]])
    {
        let man: serde_json::Value =
            serde_json::from_slice(&blob(&oci, m["digest"].as_str().unwrap())).unwrap();
        let cfg: serde_json::Value =
            serde_json::from_slice(&blob(&oci, man["config"]["digest"].as_str().unwrap())).unwrap();
        assert_eq!(cfg["architecture"], m["platform"]["architecture"]);
        assert_eq!(&cfg["config"]["Labels"]["io.binship.binary.sha256"], want);
    }
    if require(&["skopeo"], false) {
        let raw = ok(
            Command::new("skopeo")
                .args(["inspect", "--raw"])
                .arg(format!("oci:{}:v.1", oci.display()))
                .output()
                .unwrap(),
            "skopeo inspect oci",
        );
        assert!(
            raw.contains("\"arm64\"") && raw.contains("\"amd64\""),
            "{raw}"
        );
    }
    // A rootfs base is one architecture: an index over it needs --platform.
    let root = alpine_like_rootfs(p.path());
    let r = p.run(&[
        "scaffold",
        "go-id",
        "--format",
        "oci",
        "--base",
        &format!("rootfs:{}", root.display()),
        "-o",
        p.path().join("oci2").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("is for one architecture"), "{r:?}");
    // docker-archive: one platform, arm64 on request.
    let tar = p.path().join("arm.tar");
    let j = p
        .run(&[
            "scaffold",
            "go-id",
            "--platform",
            "linux/arm64",
            "-o",
            tar.to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(j["platforms"], serde_json::json!(["linux/arm64"]));
    assert_eq!(j["sizes"]["binary"], arm["binary"]["size"]);

    // The registry: the pushed index lists both; skopeo fetches arm64; it runs under qemu.
    if !require(&["docker-registry", "skopeo"], false) {
        return;
    }
    let reg = plain_registry();
    let repo = format!("127.0.0.1:{}/go-id", reg.1);
    p.run(&["push", "go-id", &repo]).ok();
    let raw = ok(
        Command::new("skopeo")
            .args([
                "inspect",
                "--raw",
                "--tls-verify=false",
                &format!("docker://{repo}:v.1"),
            ])
            .output()
            .unwrap(),
        "skopeo inspect",
    );
    let idx: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let archs: Vec<&str> = idx["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, ["amd64", "arm64"], "{raw}");
    // The version as an artifact carries every platform; pulled back, byte-identical.
    let bin_repo = format!("127.0.0.1:{}/bin/go-id", reg.1);
    p.run(&["push-binary", "go-id", &bin_repo]).ok();
    let empty = tempfile::tempdir().unwrap();
    let r: Run = p
        .cmd(&["pull-binary", &bin_repo])
        .env("BINSHIP_STORE", empty.path())
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 0, "{r:?}");
    let pulled = empty.path().join("go-id/go-id-binary-v.1");
    for f in ["go-id", "linux-arm64/go-id", "test-results.json"] {
        assert_eq!(
            std::fs::read(pulled.join(f)).unwrap(),
            std::fs::read(v.join(f)).unwrap(),
            "{f}"
        );
    }
    let fetched = p.path().join("fetched");
    ok(
        Command::new("skopeo")
            .args(["copy", "--override-arch", "arm64", "--src-tls-verify=false"])
            .arg(format!("docker://{repo}:v.1"))
            .arg(format!("oci:{}:x", fetched.display()))
            .output()
            .unwrap(),
        "skopeo copy --override-arch arm64",
    );
    let bin = binary_from_layout(&fetched, p.path());
    assert_eq!(elf_machine(&bin), 183);
    let port = free_port();
    let mut child = Command::new("qemu-aarch64-static")
        .arg(&bin)
        .args(["--port", &port.to_string()])
        .spawn()
        .unwrap();
    let body = wait_healthy(port, 30);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(body.as_deref(), Some("ok\n"));
    // docker run --platform linux/arm64 needs a binfmt handler for aarch64: registered for
    // this test when the host has none, and removed after (even on failure).
    let binfmt = match Binfmt::aarch64() {
        Ok(b) => b,
        Err(why) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true and no binfmt handler for aarch64: {why}"
            );
            eprintln!("SKIP docker run --platform linux/arm64: {why}");
            return;
        }
    };
    if let Some(d) = Dockerd::start() {
        ok(
            d.docker(&["pull", "--platform", "linux/arm64", &format!("{repo}:v.1")]),
            "docker pull",
        );
        let out = ok(
            d.docker(&[
                "run",
                "--rm",
                "--platform",
                "linux/arm64",
                "--network",
                "none",
                &format!("{repo}:v.1"),
                "--version",
            ]),
            "docker run --platform linux/arm64",
        );
        assert!(out.starts_with("go-id 1"), "{out}");
    }
    drop(binfmt);
}

/// A binfmt_misc handler for aarch64 ELF files (qemu-aarch64-static, fix-binary so it works in
/// containers), registered for one test and removed when dropped; the host's own is used and
/// left alone when it has one.
struct Binfmt {
    registered: bool,
    mounted: bool,
}

const BINFMT: &str = "/proc/sys/fs/binfmt_misc";

impl Binfmt {
    fn aarch64() -> Result<Binfmt, String> {
        let mut b = Binfmt {
            registered: false,
            mounted: false,
        };
        if !Path::new(BINFMT).join("register").exists() {
            let st = Command::new("mount")
                .args(["-t", "binfmt_misc", "binfmt_misc", BINFMT])
                .status()
                .map_err(|e| format!("mount: {e}"))?;
            if !st.success() {
                return Err("binfmt_misc cannot be mounted here".into());
            }
            b.mounted = true;
        }
        if Path::new(BINFMT).join("qemu-aarch64").exists() {
            return Ok(b);
        }
        let qemu = "/usr/bin/qemu-aarch64-static";
        if !Path::new(qemu).exists() {
            return Err(format!("{qemu} is missing (qemu-user-static)"));
        }
        let magic = r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00";
        let mask =
            r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff";
        std::fs::write(
            Path::new(BINFMT).join("register"),
            format!(":qemu-aarch64:M::{magic}:{mask}:{qemu}:F"),
        )
        .map_err(|e| format!("registering qemu-aarch64 in {BINFMT}: {e}"))?;
        b.registered = true;
        Ok(b)
    }
}

impl Drop for Binfmt {
    fn drop(&mut self) {
        if self.registered {
            let _ = std::fs::write(Path::new(BINFMT).join("qemu-aarch64"), "-1");
        }
        if self.mounted {
            let _ = Command::new("umount").arg(BINFMT).status();
        }
    }
}

/// A PATH with the tools a Go build needs, and no qemu.
fn path_without_qemu(dir: &Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["go", "git", "sh", "gcc"] {
        if let Some(found) = std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
        {
            std::os::unix::fs::symlink(found.canonicalize().unwrap(), bin.join(tool)).unwrap();
        }
    }
    bin.display().to_string()
}

#[test]
fn without_qemu_the_arm64_tests_are_skipped_and_scaffold_warns() {
    if !require(&["go"], false) {
        return;
    }
    let p = multi_go_id();
    let tools = tempfile::tempdir().unwrap();
    let path = path_without_qemu(tools.path());
    let run = |args: &[&str]| -> Run { p.cmd(args).env("PATH", &path).output().unwrap().into() };
    let r = run(&["build", "go-id", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let arm = &r.json()["results"]["platforms"][0];
    assert_eq!(arm["status"], "skipped", "{arm}");
    assert!(
        arm["skipped_reason"]
            .as_str()
            .unwrap()
            .contains("qemu-aarch64-static not found (apt install qemu-user-static)"),
        "{arm}"
    );
    assert_eq!(arm["total"], 0);
    let r = run(&["build", "go-id"]);
    assert!(r.stdout.contains("tests skipped"), "{r:?}");
    let r = run(&["list"]);
    assert!(r.stdout.contains("linux/arm64 (untested)"), "{r:?}");
    // The index is written, with a warning naming the untested platform.
    let oci = p.path().join("oci");
    let r = run(&[
        "scaffold",
        "go-id",
        "--format",
        "oci",
        "-o",
        oci.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("warning: go-id v.1 for linux/arm64 was not tested"),
        "{r:?}"
    );
    // The native image alone has nothing to warn about.
    let tar = p.path().join("amd.tar");
    let r = run(&["scaffold", "go-id", "-o", tar.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stderr.contains("warning"), "{r:?}");
}

#[test]
fn bad_targets_missing_toolchains_wrong_machines_and_absent_platforms_are_clear_errors() {
    // Recipe errors: exit 2, one line naming the file and key.
    for (targets, want) in [
        ("[\"linux/sparc\"]", "unknown arch `sparc`"),
        ("[\"windows/amd64\"]", "unsupported os `windows`"),
        ("[\"linux/arm64\", \"linux/arm64\"]", "listed twice"),
        ("[\"arm64\"]", "is not os/arch"),
    ] {
        let p = Project::new().with_app(
            "t",
            &format!("targets = {targets}\n{}", c_app_recipe("")),
            &[("main.c", &c_server("", "stop = 1;"))],
        );
        let r = p.run(&["build", "t"]);
        assert_eq!(r.code, 2, "{targets}: {r:?}");
        assert!(r.stderr.contains("binship.toml: targets:"), "{r:?}");
        assert!(r.stderr.contains(want), "{targets}: {r:?}");
    }
    // C for arm64 without Debian's cross gcc: exit 4 naming the package (or, where it is
    // installed, a static arm64 binary).
    let p = Project::new().with_app(
        "c-multi",
        &format!(
            "targets = [\"linux/amd64\", \"linux/arm64\"]\n{}",
            c_app_recipe("")
        ),
        &[("main.c", &c_server("", "stop = 1;"))],
    );
    let r = p.run(&["build", "c-multi"]);
    if on_path("aarch64-linux-gnu-gcc") {
        assert_eq!(r.code, 0, "{r:?}");
    } else {
        assert_eq!(r.code, 4, "{r:?}");
        assert!(r.stderr.contains("gcc-aarch64-linux-gnu"), "{r:?}");
        assert!(p.versions("c-multi").is_empty(), "nothing stored");
    }
    // A command that ignores TARGETARCH: the arm64 "binary" is x86-64. Exit 5, nothing stored.
    let p = Project::new().with_app(
        "cmd",
        "kind = \"command\"\ntargets = [\"linux/amd64\", \"linux/arm64\"]\n[build]\ncommand = \"gcc -static -o out main.c\"\noutput = \"out\"\n[test]\nready_path = \"/health\"\nready_timeout = \"2s\"\nstop_grace = \"1s\"\n",
        &[("main.c", &c_server("", "stop = 1;"))],
    );
    let r = p.run(&["build", "cmd"]);
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.contains("linux/amd64"), "{r:?}");
    assert!(r.stderr.contains("linux/arm64"), "{r:?}");
    assert!(p.versions("cmd").is_empty());
    // A command that honours TARGETARCH would be fine; one platform the version lacks is not.
    let p = Project::new().with_app(
        "one",
        &c_app_recipe(""),
        &[("main.c", &c_server("", "stop = 1;"))],
    );
    p.run(&["build", "one"]).ok();
    let out = p.path().join("x.tar");
    let r = p.run(&[
        "scaffold",
        "one",
        "--platform",
        "linux/arm64",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr
            .contains("has no linux/arm64 binary (it has linux/amd64)"),
        "{r:?}"
    );
    assert!(!out.exists());
    let r = p.run(&[
        "scaffold",
        "one",
        "--platform",
        "linux/m68k",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("unknown arch `m68k`"), "{r:?}");
}
