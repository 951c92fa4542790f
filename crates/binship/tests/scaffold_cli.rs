//! `binship scaffold` from the command line: the seed's decision tree (no binary, one version,
//! several: prompt on a terminal or latest), untested versions, bad input, default outputs,
//! reproducibility, and every output read back by the shared validator.

mod common;
use common::*;
use sha2::Digest as _;
use std::path::Path;

use binship_image::validate::{validate, Options};

fn built(app: &str, versions: u32) -> Project {
    let p = Project::new().with_example(app);
    for v in 1..=versions {
        p.run(&["build", app, &v.to_string()]).ok();
    }
    p
}

fn validated(format: &str, path: &Path, binary: &str) -> binship_image::validate::ImageReport {
    let reader = binship_sink::sink_for(format).unwrap().open(path).unwrap();
    let mut r = validate(
        &*reader,
        &Options {
            hash_files: vec![binary.into()],
        },
    )
    .unwrap();
    assert_eq!(r.len(), 1);
    r.remove(0)
}

#[test]
fn no_binary_says_build_one_first() {
    let p = Project::new().with_example("c-health");
    let r = p.run(&["scaffold", "c-health"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr
            .contains("No binary found for c-health. Build one first: binship build c-health"),
        "{r:?}"
    );
    let r = p.run(&["scaffold", "nothing-here"]);
    assert_eq!(r.code, 3, "{r:?}");
    // A name the store does not know: where it looked, what it knows, a guess, and --store;
    // not advice to build what has no recipe.
    for args in [
        &["scaffold", "c-healt"][..],
        &["promote", "c-healt", "1"],
        &["list", "c-healt"],
        &["push", "c-healt", "127.0.0.1:1/x"],
    ] {
        let r = p.run(args);
        assert_eq!(r.code, 3, "{args:?}: {r:?}");
        let e = r.stderr.trim();
        assert!(!e.contains("Build one first"), "{args:?}: {e}");
        assert!(e.contains("did you mean `c-health`?"), "{args:?}: {e}");
        assert!(e.contains("known apps: c-health"), "{args:?}: {e}");
        assert!(e.contains("--store"), "{args:?}: {e}");
    }
}

#[test]
fn one_version_is_auto_selected_and_several_pick_the_latest_off_a_terminal() {
    let p = built("c-health", 1);
    let r = p.run(&["scaffold", "c-health"]).ok();
    assert!(
        r.stderr.contains("auto-selected v.1 (the only version)"),
        "{r:?}"
    );
    let out = p.path().join("images/docker/c-health-static/c-health.tar");
    assert!(r.stdout.starts_with("✓ Image: images/docker/c-health-static/c-health.tar (docker-archive, c-health:v.1, base static)"), "{r:?}");
    // The product's own words (no design notes), and an overhead that is what the image adds.
    assert!(!r.stdout.contains("seed"), "{r:?}");
    let j = p
        .run(&[
            "scaffold",
            "c-health",
            "--format",
            "oci",
            "-o",
            "gz-layout",
            "--json",
        ])
        .ok()
        .json();
    let s = &j["sizes"];
    assert!(s["overhead"].as_i64().unwrap() >= 0, "{j}");
    assert_eq!(
        s["overhead"].as_i64().unwrap(),
        s["image_uncompressed"].as_i64().unwrap() - s["binary"].as_i64().unwrap()
    );
    let rep = validated("docker-archive", &out, "usr/local/bin/c-health");
    assert_eq!(rep.tags, ["c-health:v.1"]);
    let rec: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.version_dir("c-health", 1).join("test-results.json")).unwrap(),
    )
    .unwrap();
    let f = &rep.files["usr/local/bin/c-health"];
    assert_eq!(f.sha256.as_deref(), rec["binary"]["sha256"].as_str());
    assert_eq!((f.mode, f.uid, f.gid), (0o555, 0, 0));
    assert_eq!(rep.user.as_deref(), Some("65532:65532"));
    assert!(
        rep.files.contains_key("etc/passwd")
            && rep.files.contains_key("etc/ssl/certs/ca-certificates.crt")
    );
    // A second version: no terminal -> latest, with a notice.
    let src = p.path().join("examples/c-health/main.c");
    std::fs::write(
        &src,
        std::fs::read_to_string(&src).unwrap() + "\n/* v2 */\n",
    )
    .unwrap();
    p.run(&["build", "c-health"]).ok();
    let r = p.run(&["scaffold", "c-health", "--force", "--json"]).ok();
    assert!(
        r.stderr.contains(
            "2 versions of c-health (v.1, v.2); not a terminal, so using the latest: v.2"
        ),
        "{r:?}"
    );
    assert_eq!(r.json()["tag"], "c-health:v.2");
    // --version picks; a missing one is not found.
    let j = p
        .run(&[
            "scaffold",
            "c-health",
            "--version",
            "1",
            "--force",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(j["version"], 1);
    let r = p.run(&["scaffold", "c-health", "--version", "9"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr.contains("c-health v.9 not found (have v.1, v.2)"),
        "{r:?}"
    );
}

#[test]
fn the_prompt_offers_versions_in_a_real_terminal() {
    let p = built("c-health", 2);
    let mut cmd = std::process::Command::new(bin());
    cmd.args(["scaffold", "c-health", "--format", "oci"])
        .current_dir(p.path())
        .env_remove("BINSHIP_STORE")
        .env("TERM", "xterm");
    let mut s = rexpect::session::spawn_command(cmd, Some(30_000)).unwrap();
    s.exp_string("Which version of c-health:").unwrap();
    s.exp_string("(latest)").unwrap();
    // Down arrow to v.1, Enter.
    s.send("\x1b[B").unwrap();
    s.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    s.send("\r").unwrap();
    s.flush().unwrap();
    s.exp_string("c-health:v.1").unwrap();
    s.exp_eof().unwrap();
    let rep = validated(
        "oci",
        &p.path().join("images/docker/c-health-static/oci"),
        "usr/local/bin/c-health",
    );
    assert_eq!(rep.tags, ["v.1"]);
}

#[test]
fn untested_versions_are_refused_unless_allowed() {
    let p = built("c-health", 1);
    let rec = p.version_dir("c-health", 1).join("test-results.json");
    let text = std::fs::read_to_string(&rec).unwrap();
    std::fs::write(
        &rec,
        text.replace("\"status\": \"passed\"", "\"status\": \"failed\""),
    )
    .unwrap();
    let r = p.run(&["scaffold", "c-health"]);
    assert_eq!(r.code, 6, "{r:?}");
    assert!(
        r.stderr.contains("c-health v.1: tests did not pass")
            && r.stderr.contains("--allow-untested"),
        "{r:?}"
    );
    let j = p
        .run(&["scaffold", "c-health", "--allow-untested", "--json"])
        .ok()
        .json();
    assert_eq!(j["untested"], true);
    assert!(j["labels"]["io.binship.untested"]
        .as_str()
        .unwrap()
        .starts_with("true"));
    std::fs::remove_file(&rec).unwrap();
    let r = p.run(&["scaffold", "c-health", "--allow-untested", "--force"]);
    assert_eq!(r.code, 6, "{r:?}");
    assert!(r.stderr.contains("test-results.json is missing"), "{r:?}");
}

#[test]
fn bad_input_is_refused_with_one_line_and_nothing_written() {
    let p = built("c-health", 1);
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["--format", "qcow2"],
            2,
            "invalid value 'qcow2' for '--format <FORMAT>'",
        ),
        (&["--compress", "brotli"], 2, "unknown compression `brotli`"),
        (
            &["--compress", "gzip", "--level", "42"],
            2,
            "gzip level must be 1-9",
        ),
        (&["--user", "bob"], 2, "user must be uid:gid"),
        (&["--port", "70000"], 2, "port 70000 is outside 1-65535"),
        (&["--port", "http"], 2, "port `http` is not a number"),
        (
            &["--tag", "Bad Tag"],
            2,
            "tag `Bad Tag` is not a valid image reference",
        ),
        (&["--version", "x"], 2, "version must be a positive integer"),
        (&["--base", "ubuntu"], 2, "unknown base `ubuntu`"),
        (&["-o", "missing/dir/x.tar"], 2, "does not exist"),
        (&["--env", "NOEQUALS"], 2, "--env needs KEY=VALUE"),
        (
            &["--ca-bundle", "/nonexistent/ca.crt"],
            2,
            "CA bundle not found",
        ),
        // Flags that would do nothing for the format are refused, not ignored.
        (&["--split"], 2, "--split is for --format incus"),
        (
            &["--format", "oci", "--alias", "x"],
            2,
            "--alias names an Incus image; --format oci takes --tag",
        ),
        (
            &["--compress", "none", "--level", "3"],
            2,
            "--level has nothing to set with --compress none",
        ),
        (
            &["--key", "k"],
            2,
            "--key and --password-file are for --sign",
        ),
    ];
    for (args, code, msg) in cases {
        let mut a = vec!["scaffold", "c-health"];
        a.extend_from_slice(args);
        let r = p.run(&a);
        assert_eq!(r.code, *code, "{args:?}: {r:?}");
        let errs: Vec<&str> = r
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect();
        assert_eq!(errs.len(), 1, "{args:?}: {r:?}");
        assert!(errs[0].contains(msg), "{args:?}: {r:?}");
    }
    assert!(!p
        .path()
        .join("images/docker/c-health-static/c-health.tar")
        .exists());
    // One rule for an existing output (as ko and docker overwrite): the same image again is a
    // no-op that says so; a different one replaces it, naming what it held; --force is still
    // accepted (scripts pass it).
    let tar = p.path().join("images/docker/c-health-static/c-health.tar");
    p.run(&["scaffold", "c-health"]).ok();
    let old = std::fs::read(&tar).unwrap();
    let old_digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&old)));
    let r = p.run(&["scaffold", "c-health"]).ok();
    assert!(
        r.stdout.contains(&format!(
            "Unchanged: it already held this image ({old_digest}); nothing was replaced"
        )),
        "{r:?}"
    );
    let j = p
        .run(&["scaffold", "c-health", "--force", "--json"])
        .ok()
        .json();
    assert_eq!(j["status"], "unchanged", "{j}");
    assert_eq!(j["previous"]["digest"], old_digest.as_str(), "{j}");
    let r = p.run(&["scaffold", "c-health", "--env", "A=1"]).ok();
    assert!(
        r.stdout
            .contains(&format!("Replaced: it held {old_digest} before")),
        "{r:?}"
    );
    assert_ne!(std::fs::read(&tar).unwrap(), old);
    // An OCI layout: the tag's image is replaced (its old manifest named), other tags kept.
    let j = p
        .run(&["scaffold", "c-health", "--format", "oci", "--json"])
        .ok()
        .json();
    let m1 = j["manifest_digest"].as_str().unwrap().to_string();
    let j = p
        .run(&[
            "scaffold", "c-health", "--format", "oci", "--json", "--env", "A=1",
        ])
        .ok()
        .json();
    assert_eq!(j["status"], "replaced", "{j}");
    assert_eq!(j["previous"]["digest"], m1.as_str(), "{j}");
    // A file that is not an image of the format is not replaced without --force (a source
    // file named by -o by mistake).
    let victim = p.path().join("victim.go");
    std::fs::write(&victim, "package main\n").unwrap();
    let r = p.run(&["scaffold", "c-health", "-o", victim.to_str().unwrap()]);
    assert_eq!(r.code, 7, "{r:?}");
    assert!(
        r.stderr.contains(
            "victim.go: exists and is not a docker-archive image; pass --force to replace it"
        ),
        "{r:?}"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "package main\n");
    p.run(&[
        "scaffold",
        "c-health",
        "-o",
        victim.to_str().unwrap(),
        "--force",
    ])
    .ok();
    assert_ne!(std::fs::read(&victim).unwrap(), b"package main\n");
    let mut left: Vec<String> = std::fs::read_dir(p.path().join("images/docker/c-health-static"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    // No temp file or moved-away old output is left beside them.
    assert_eq!(
        left,
        [
            "c-health.tar",
            "c-health.tar.image-tests.json",
            "oci",
            "oci.image-tests.json"
        ]
    );
}

#[test]
fn images_are_reproducible_and_carry_the_recipe_config() {
    let p = built("go-id", 1);
    let a = p.path().join("a.tar");
    let b = p.path().join("b.oci.tar");
    let ja = p
        .run(&["scaffold", "go-id", "-o", a.to_str().unwrap(), "--json"])
        .ok()
        .json();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let a2 = p.path().join("a2.tar");
    p.run(&["scaffold", "go-id", "-o", a2.to_str().unwrap()])
        .ok();
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&a2).unwrap(),
        "docker-archive differs between runs"
    );
    for comp in ["gzip", "zstd"] {
        let b2 = p.path().join(format!("b2-{comp}.oci.tar"));
        p.run(&[
            "scaffold",
            "go-id",
            "--format",
            "oci-archive",
            "--compress",
            comp,
            "-o",
            b.to_str().unwrap(),
            "--force",
        ])
        .ok();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        p.run(&[
            "scaffold",
            "go-id",
            "--format",
            "oci-archive",
            "--compress",
            comp,
            "-o",
            b2.to_str().unwrap(),
        ])
        .ok();
        assert_eq!(
            std::fs::read(&b).unwrap(),
            std::fs::read(&b2).unwrap(),
            "{comp} oci-archive differs"
        );
    }
    // SOURCE_DATE_EPOCH pins the time.
    let j = p
        .cmd(&[
            "scaffold",
            "go-id",
            "-o",
            p.path().join("c.tar").to_str().unwrap(),
            "--json",
        ])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(
        j["labels"]["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
    assert_ne!(j["config_digest"], ja["config_digest"]);
    // The config carries the recipe's [container] section.
    let reader = binship_sink::sink_for("docker-archive")
        .unwrap()
        .open(&a)
        .unwrap();
    let img = &reader.images().unwrap()[0];
    let cfg: serde_json::Value = serde_json::from_slice(&img.config).unwrap();
    assert_eq!(cfg["config"]["Entrypoint"][0], "/usr/local/bin/go-id");
    assert_eq!(cfg["config"]["User"], "65532:65532");
    assert!(cfg["config"]["ExposedPorts"]["7001/tcp"].is_object());
    assert_eq!(cfg["config"]["Healthcheck"]["Test"][0], "CMD");
    assert_eq!(
        cfg["config"]["Labels"]["org.opencontainers.image.title"],
        "go-id"
    );
    assert_eq!(cfg["config"]["Labels"]["io.binship.tests"], "5/5 passed");
    assert_eq!(
        cfg["config"]["Labels"]["io.binship.binary.sha256"],
        ja["labels"]["io.binship.binary.sha256"]
    );
    // Scratch: just the binary.
    let j = p
        .run(&["scaffold", "go-id", "--base", "scratch", "--json"])
        .ok()
        .json();
    assert_eq!(
        j["path"].as_str().unwrap(),
        p.path()
            .join("images/docker/go-id-scratch/go-id.tar")
            .to_str()
            .unwrap()
    );
    let rep = validated(
        "docker-archive",
        Path::new(j["path"].as_str().unwrap()),
        "usr/local/bin/go-id",
    );
    assert_eq!(
        rep.files.keys().collect::<Vec<_>>(),
        ["usr/local/bin/go-id"]
    );
    assert!(j["sizes"]["overhead"].as_i64().unwrap() < 10_000, "{j}");
}

#[test]
fn on_a_terminal_a_missing_binary_can_be_built_first() {
    let p = Project::new().with_example("c-health");
    let mut cmd = std::process::Command::new(bin());
    cmd.args(["scaffold", "c-health"])
        .current_dir(p.path())
        .env_remove("BINSHIP_STORE")
        .env("TERM", "xterm");
    let mut s = rexpect::session::spawn_command(cmd, Some(60_000)).unwrap();
    s.exp_string("No binary found for c-health. Build one first?")
        .unwrap();
    s.send("y").unwrap();
    s.flush().unwrap();
    // What was built is shown, as `binship build` shows it.
    s.exp_regex(r"Built c-health v\.1: [0-9.]+ [kM]?B, static yes, tests [0-9]+/[0-9]+ passed")
        .unwrap();
    s.exp_string("auto-selected v.1").unwrap();
    // The seed's step 3: "Container type" (default docker), offering only what can work:
    // the recipe has no alpine or debian base, so no lxc-alpine / lxc-debian.
    s.exp_string("Container type:").unwrap();
    let (menu, _) = s.exp_regex(r"\boci\r\n").unwrap();
    assert!(menu.contains("podman"), "{menu}");
    // No base with an init either: no incus.
    s.send_line("").unwrap();
    let rest = s.exp_string("c-health:v.1").unwrap();
    assert!(!rest.contains("lxc-") && !rest.contains("incus"), "{rest}");
    s.exp_eof().unwrap();
    assert_eq!(p.versions("c-health"), ["c-health-binary-v.1"]);
    assert!(p
        .path()
        .join("images/docker/c-health-static/c-health.tar")
        .is_file());
}

#[test]
fn large_binaries_get_a_progress_bar_on_a_terminal() {
    // 20 MiB of initialized data makes a 20 MiB static binary.
    let src = c_server(
        "static const char pad[20 << 20] = {1}; if (argc > 99) return pad[argc];",
        "stop = 1;",
    );
    let p = Project::new().with_app("big", &c_app_recipe(""), &[("main.c", &src)]);
    p.run(&["build", "big"]).ok();
    let mut cmd = std::process::Command::new(bin());
    cmd.args([
        "scaffold",
        "big",
        "--format",
        "oci-archive",
        "--compress",
        "gzip",
        "--level",
        "9",
    ])
    .current_dir(p.path())
    .env_remove("BINSHIP_STORE")
    .env("TERM", "xterm");
    let mut s = rexpect::session::spawn_command(cmd, Some(60_000)).unwrap();
    // One unit convention: the bar's sizes are decimal (kB, MB), as the summaries are.
    let (bar, _) = s.exp_regex("[0-9.]+ [kM]?B/s").unwrap_or_default();
    s.exp_string("packing").unwrap();
    assert!(!bar.contains("iB"), "{bar:?}");
    s.exp_string("big:v.1").unwrap();
    s.exp_eof().unwrap();
    // Off a terminal: no bar.
    let r = p
        .run(&["scaffold", "big", "--format", "oci-archive", "--force"])
        .ok();
    assert!(!r.stderr.contains("packing"), "{r:?}");
}

#[test]
fn an_unwritable_output_dir_is_a_clear_error() {
    let p = built("c-health", 1);
    let outdir = p.path().join("ro");
    std::fs::create_dir(&outdir).unwrap();
    let out = outdir.join("x.tar");
    let r: Run = if unsafe { libc::geteuid() } == 0 {
        // root ignores modes: a read-only bind mount in a private mount namespace.
        let script = format!(
            "mount --bind {d} {d} && mount -o remount,bind,ro {d} && exec {bin} scaffold c-health -o {o}",
            d = outdir.display(),
            bin = bin().display(),
            o = out.display()
        );
        std::process::Command::new("unshare")
            .args(["-m", "sh", "-c", &script])
            .current_dir(p.path())
            .output()
            .unwrap()
            .into()
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&outdir, std::fs::Permissions::from_mode(0o555)).unwrap();
        p.run(&["scaffold", "c-health", "-o", out.to_str().unwrap()])
    };
    assert_eq!(r.code, 1, "{r:?}");
    let errs: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errs.len(), 1, "{r:?}");
    assert!(
        errs[0].contains("ro/.x.tar") || errs[0].contains("ro/x.tar"),
        "{r:?}"
    );
    assert!(
        errs[0].contains("Read-only file system") || errs[0].contains("Permission denied"),
        "{r:?}"
    );
    assert_eq!(std::fs::read_dir(&outdir).unwrap().count(), 0);
}

#[test]
fn zoneinfo_can_be_added_to_the_static_base() {
    if !Path::new("/usr/share/zoneinfo/Etc/UTC").exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true and the host has no /usr/share/zoneinfo (Debian's tzdata)");
        }
        eprintln!("SKIP: no /usr/share/zoneinfo on this host");
        return;
    }
    let p = built("c-health", 1);
    let j = p
        .run(&["scaffold", "c-health", "--zoneinfo", "--json"])
        .ok()
        .json();
    let inputs: Vec<&str> = j["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert!(inputs.contains(&"/usr/share/zoneinfo"), "{inputs:?}");
    let rep = validated(
        "docker-archive",
        Path::new(j["path"].as_str().unwrap()),
        "usr/share/zoneinfo/Etc/UTC",
    );
    let host = std::fs::read("/usr/share/zoneinfo/Etc/UTC").unwrap();
    assert_eq!(
        rep.files["usr/share/zoneinfo/Etc/UTC"]
            .sha256
            .as_deref()
            .map(str::to_string),
        Some(
            binship_oci::digest_string(&host)
                .trim_start_matches("sha256:")
                .to_string()
        )
    );
}

/// Compress once: an OCI write puts its compressed app layer in the store's layer store; the
/// next OCI write of the same layer (another output, a push) copies it, with the same bytes, and
/// a damaged entry is compressed again instead of failing the write.
#[test]
fn a_second_oci_write_takes_its_compressed_layer_from_the_layer_store() {
    let p = common::tiny::tiny_project();
    let layers = p.store().join(".binship/cache/layers");
    let scaffold = |out: &str| {
        let out = p.path().join(out);
        p.run(&[
            "scaffold",
            "tiny",
            "--base",
            "scratch",
            "--no-image-test",
            "--format",
            "oci",
            "-o",
            out.to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json()
    };
    // The layer entries (`.keys`, the remembered diff_ids, is not one).
    let entries = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&layers)
            .map(|d| {
                d.flatten()
                    .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    };
    let first = scaffold("a");
    assert!(first["manifest_digest"].is_string(), "{first}");
    let stored = entries();
    assert_eq!(stored.len(), 1, "{stored:?}");
    let desc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(stored[0].join("layer.json")).unwrap()).unwrap();
    let digest = desc["digest"].as_str().unwrap();
    let blob = stored[0].join("blob");
    assert_eq!(
        std::fs::read(&blob).unwrap(),
        std::fs::read(
            p.path()
                .join("a/blobs/sha256")
                .join(digest.trim_start_matches("sha256:"))
        )
        .unwrap()
    );
    // Marked as used long ago: the second write takes it (and marks it used now).
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    std::fs::File::options()
        .append(true)
        .open(&blob)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let second = scaffold("b");
    assert_eq!(
        second["manifest_digest"], first["manifest_digest"],
        "{second}"
    );
    assert!(std::fs::metadata(&blob).unwrap().modified().unwrap() > old);
    // Damaged (same size, other bytes): compressed again, the same image.
    let mut bytes = std::fs::read(&blob).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::remove_file(&blob).unwrap();
    std::fs::write(&blob, &bytes).unwrap();
    let third = scaffold("c");
    assert_eq!(
        third["manifest_digest"], first["manifest_digest"],
        "{third}"
    );
    let again = entries();
    assert_eq!(again.len(), 1);
    assert_ne!(std::fs::read(again[0].join("blob")).unwrap(), bytes);
}
