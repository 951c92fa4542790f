//! Supply chain: minisign keys and signatures checked by Debian's real `minisign`, `verify` and
//! `scaffold --require-signed` catching a one-byte change, encrypted keys and wrong passwords,
//! SBOMs with real content (Go version, module path, dependencies), the `[scan]` hook and an OSV
//! database, image signatures and SBOMs in an OCI layout and in a real registry, and `inspect`.

mod common;
use common::engines::*;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs binship with its key dir in `cfg` (never the user's ~/.config).
fn run(p: &Project, cfg: &Path, args: &[&str]) -> Run {
    p.cmd(args)
        .env("XDG_CONFIG_HOME", cfg)
        .output()
        .unwrap()
        .into()
}

fn flip_byte(path: &Path, at: usize) -> Vec<u8> {
    let orig = std::fs::read(path).unwrap();
    let mut b = orig.clone();
    b[at] ^= 0x01;
    std::fs::write(path, b).unwrap();
    orig
}

fn go_version() -> String {
    let out = Command::new("go").arg("version").output().unwrap();
    // "go version go1.19.8 linux/amd64"
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_string()
}

#[test]
fn signed_versions_verify_with_real_minisign_and_a_one_byte_change_is_caught() {
    if !require(&["minisign"], false) {
        return;
    }
    let p = Project::new().with_example("go-id");
    let cfg = tempfile::tempdir().unwrap();
    // No terminal, no password file: unencrypted, with a warning; the public key's path printed.
    let r = run(&p, cfg.path(), &["key", "generate"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("unencrypted"), "{r:?}");
    let pubkey = PathBuf::from(r.stdout.trim());
    assert_eq!(pubkey, cfg.path().join("binship/binship.pub"));
    let r = run(&p, cfg.path(), &["key", "generate"]);
    assert_eq!(r.code, 7, "{r:?}");
    assert!(r.stderr.contains("already exists"), "{r:?}");

    let j = run(&p, cfg.path(), &["build", "go-id", "--sign", "--json"])
        .ok()
        .json();
    assert_eq!(j["signatures"].as_array().unwrap().len(), 2, "{j}");
    let v = p.version_dir("go-id", 1);
    let sha = j["results"]["binary"]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    // Debian's minisign accepts both signatures; the trusted comment binds version and digest.
    for (file, want) in [
        (
            "go-id",
            format!("binship go-id v.1 linux/amd64 sha256:{sha} tests 5/5 passed"),
        ),
        (
            "test-results.json",
            "binship go-id v.1 test-results.json".to_string(),
        ),
    ] {
        let out = Command::new("minisign")
            .args(["-V", "-p"])
            .arg(&pubkey)
            .arg("-m")
            .arg(v.join(file))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "minisign -V {file}: {text}");
        assert!(text.contains(&format!("Trusted comment: {want}")), "{text}");
    }
    let j = run(&p, cfg.path(), &["verify", "go-id", "--json"])
        .ok()
        .json();
    assert_eq!(j["status"], "verified");
    assert!(j["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["ok"] == true));

    // One byte of the binary: its sha256 no longer matches the record, nor its signature.
    let bin = v.join("go-id");
    let orig = flip_byte(&bin, 1000);
    let r = run(&p, cfg.path(), &["verify", "go-id"]);
    assert_eq!(r.code, 8, "{r:?}");
    assert!(r.stderr.contains("sha256 is"), "{r:?}");
    assert!(r.stderr.contains("but test-results.json records"), "{r:?}");
    // ... and scaffold --require-signed refuses it, writing nothing.
    let out = p.path().join("x.tar");
    let r = run(
        &p,
        cfg.path(),
        &[
            "scaffold",
            "go-id",
            "--require-signed",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 8, "{r:?}");
    assert!(r.stderr.contains("does not verify"), "{r:?}");
    assert!(!out.exists());
    std::fs::write(&bin, orig).unwrap();

    // One byte of the results (the record says 5/5; an edit is caught by its signature).
    let results = v.join("test-results.json");
    let text = std::fs::read_to_string(&results).unwrap();
    std::fs::write(&results, text.replacen("\"passed\": 5", "\"passed\": 6", 1)).unwrap();
    let r = run(&p, cfg.path(), &["verify", "go-id"]);
    assert_eq!(r.code, 8, "{r:?}");
    assert!(
        r.stderr
            .contains("test-results.json.minisig: signature does not verify"),
        "{r:?}"
    );
    std::fs::write(&results, &text).unwrap();

    // A malformed signature file.
    let sig = v.join("go-id.minisig");
    let good_sig = std::fs::read(&sig).unwrap();
    std::fs::write(&sig, "untrusted comment: x\nnot base64 at all\n").unwrap();
    let r = run(&p, cfg.path(), &["verify", "go-id"]);
    assert_eq!(r.code, 8, "{r:?}");
    assert!(r.stderr.contains("not a minisign signature"), "{r:?}");
    std::fs::write(&sig, good_sig).unwrap();

    // Another key's public key: the signature is by someone else.
    let other = tempfile::tempdir().unwrap();
    run(&p, other.path(), &["key", "generate"]).ok();
    let other_pub = other.path().join("binship/binship.pub");
    let r = run(
        &p,
        cfg.path(),
        &["verify", "go-id", "--pub", other_pub.to_str().unwrap()],
    );
    assert_eq!(r.code, 8, "{r:?}");
    assert!(r.stderr.contains("not by the given public key"), "{r:?}");
    let r = run(
        &p,
        cfg.path(),
        &[
            "scaffold",
            "go-id",
            "--require-signed",
            "--pub",
            other_pub.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 8, "{r:?}");
    // The right key: packed.
    run(
        &p,
        cfg.path(),
        &[
            "scaffold",
            "go-id",
            "--require-signed",
            "-o",
            out.to_str().unwrap(),
        ],
    )
    .ok();
    assert!(out.is_file());

    // The recipe can require it: an unsigned v.2 is refused without the flag.
    let recipe = p.app_dir("go-id").join("binship.toml");
    let text = std::fs::read_to_string(&recipe).unwrap();
    std::fs::write(
        &recipe,
        text.replace("[container]\n", "[container]\nrequire_signed = true\n"),
    )
    .unwrap();
    run(&p, cfg.path(), &["build", "go-id", "2", "--force"]).ok();
    let out2 = p.path().join("y.tar");
    let r = run(
        &p,
        cfg.path(),
        &[
            "scaffold",
            "go-id",
            "--version",
            "2",
            "-o",
            out2.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 8, "{r:?}");
    assert!(r.stderr.contains("the version is not signed"), "{r:?}");
    run(&p, cfg.path(), &["sign", "go-id", "2"]).ok();
    run(
        &p,
        cfg.path(),
        &[
            "scaffold",
            "go-id",
            "--version",
            "2",
            "-o",
            out2.to_str().unwrap(),
        ],
    )
    .ok();
    // `update` promotes only a signed version when the recipe requires it: without --sign the
    // new v.3 is built but refused (exit 8, current unchanged); with --sign it is signed before
    // anything is made from it, verifies, and becomes current.
    let main = p.path().join("examples/go-id/main.go");
    let src = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, format!("{src}\n// v3\n")).unwrap();
    let current = || std::fs::read_to_string(p.app_dir("go-id").join("current")).ok();
    let before = current();
    let r = run(&p, cfg.path(), &["update", "go-id"]);
    assert_eq!(r.code, 8, "{r:?}");
    assert!(
        r.stderr.contains("v.3") && r.stderr.contains("not signed"),
        "{r:?}"
    );
    assert_eq!(current(), before);
    let j = run(&p, cfg.path(), &["update", "go-id", "--sign", "--json"])
        .ok()
        .json();
    // v.3 was built (and refused) by the first update: this one signs it and makes it current.
    assert_eq!(j["apps"][0]["status"], "promoted", "{j}");
    assert_eq!(j["apps"][0]["version"], 3, "{j}");
    assert!(
        !j["apps"][0]["signatures"].as_array().unwrap().is_empty(),
        "{j}"
    );
    assert_eq!(current().as_deref(), Some("3\n"));
    run(&p, cfg.path(), &["verify", "go-id", "3"]).ok();
    // No key at all: a clear error naming the file and what to do.
    let empty = tempfile::tempdir().unwrap();
    let r = run(&p, empty.path(), &["sign", "go-id", "1"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("binship.key: no key here (binship key generate)"),
        "{r:?}"
    );
}

#[test]
fn encrypted_keys_need_the_right_password() {
    let p = Project::new().with_example("c-health");
    let cfg = tempfile::tempdir().unwrap();
    let pw = cfg.path().join("pw");
    std::fs::write(&pw, "correct horse\n").unwrap();
    let j = run(
        &p,
        cfg.path(),
        &[
            "key",
            "generate",
            "--password-file",
            pw.to_str().unwrap(),
            "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(j["key"]["encrypted"], true);
    run(&p, cfg.path(), &["build", "c-health"]).ok();
    let wrong = cfg.path().join("wrong");
    std::fs::write(&wrong, "battery staple\n").unwrap();
    let r = run(
        &p,
        cfg.path(),
        &[
            "sign",
            "c-health",
            "--password-file",
            wrong.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("wrong password for this key"), "{r:?}");
    assert!(!p
        .version_dir("c-health", 1)
        .join("c-health.minisig")
        .exists());
    let r = run(&p, cfg.path(), &["sign", "c-health"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("give --password-file"), "{r:?}");
    run(
        &p,
        cfg.path(),
        &["sign", "c-health", "--password-file", pw.to_str().unwrap()],
    )
    .ok();
    run(&p, cfg.path(), &["verify", "c-health"]).ok();
}

#[test]
fn sboms_list_what_the_binary_embeds_and_say_so_when_it_embeds_nothing() {
    let p = Project::new()
        .with_example("go-id")
        .with_example("c-health");
    let cfg = tempfile::tempdir().unwrap();
    let j = run(&p, cfg.path(), &["build", "go-id", "--sbom", "--json"])
        .ok()
        .json();
    assert_eq!(j["sboms"][0]["source"], "go");
    // go-id is linked with -s -w (no symbol table): the build info is still there.
    assert_eq!(j["results"]["binary"]["stripped"], true);
    let v = p.version_dir("go-id", 1);
    let spdx: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(v.join("go-id.spdx.json")).unwrap()).unwrap();
    assert_eq!(spdx["spdxVersion"], "SPDX-2.3");
    let names: Vec<&str> = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"example.com/go-id"), "{names:?}");
    let go = go_version();
    let toolchain = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "go")
        .unwrap();
    assert_eq!(toolchain["versionInfo"], go.as_str());
    assert_eq!(
        spdx["packages"][0]["checksums"][0]["checksumValue"],
        j["results"]["binary"]["sha256"]
    );
    let cdx: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(v.join("go-id.cdx.json")).unwrap()).unwrap();
    assert_eq!(cdx["specVersion"], "1.5");
    let props = cdx["metadata"]["component"]["properties"].to_string();
    assert!(
        props.contains(&format!("\"go:toolchain\",\"value\":\"{go}\"")) || props.contains(&go),
        "{props}"
    );
    assert!(
        props.contains("CGO_ENABLED") && props.contains("\"0\""),
        "{props}"
    );
    assert!(props.contains("GOARCH"), "{props}");
    assert_eq!(cdx["components"][0]["name"], "example.com/go-id");
    // A C binary embeds nothing: the SBOM says so and lists no invented dependency.
    run(&p, cfg.path(), &["build", "c-health"]).ok();
    let j = run(&p, cfg.path(), &["sbom", "c-health", "--json"])
        .ok()
        .json();
    assert_eq!(j["sboms"][0]["source"], "none");
    let cdx: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.version_dir("c-health", 1).join("c-health.cdx.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cdx["components"], serde_json::json!([]));
    assert!(cdx.to_string().contains("embeds no dependency information"));
}

/// A Go app with a (local, replaced) dependency example.com/lib v1.2.0.
fn vulnapp(p: Project) -> Project {
    p.with_app(
        "vulnapp",
        "kind = \"go\"\n[build]\nenv = { GOPROXY = \"off\", GOTOOLCHAIN = \"local\", GOFLAGS = \"-mod=mod\" }\n[test]\nservice = false\n[[test.command]]\nname = \"runs\"\nstdout = \"^vulnapp hello\"\n",
        &[
            ("go.mod", "module example.com/vulnapp\n\ngo 1.19\n\nrequire example.com/lib v1.2.0\n\nreplace example.com/lib => ./lib\n"),
            ("main.go", "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/lib\"\n)\n\nfunc main() { fmt.Println(\"vulnapp\", lib.Hello()) }\n"),
        ],
    )
}

#[test]
fn the_scan_hook_and_an_osv_database_can_refuse_a_build() {
    let p = vulnapp(Project::new());
    let lib = p.path().join("src/vulnapp/lib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(lib.join("go.mod"), "module example.com/lib\n\ngo 1.19\n").unwrap();
    std::fs::write(
        lib.join("lib.go"),
        "package lib\n\nfunc Hello() string { return \"hello\" }\n",
    )
    .unwrap();
    let cfg = tempfile::tempdir().unwrap();
    // The SBOM lists the dependency, with its replacement.
    let r = run(&p, cfg.path(), &["build", "vulnapp", "--sbom"]).ok();
    // Both documents are named.
    assert!(
        r.stderr.contains("vulnapp.spdx.json and ") && r.stderr.contains("vulnapp.cdx.json"),
        "{r:?}"
    );
    let cdx =
        std::fs::read_to_string(p.version_dir("vulnapp", 1).join("vulnapp.cdx.json")).unwrap();
    assert!(cdx.contains("pkg:golang/example.com/lib@v1.2.0"), "{cdx}");
    assert!(cdx.contains("./lib"), "{cdx}");
    // An OSV record for example.com/lib < 1.3.0: refused, listed, kept.
    let osv = p.path().join("osv");
    std::fs::create_dir_all(&osv).unwrap();
    std::fs::write(
        osv.join("GO-2026-0001.json"),
        r#"{"id":"GO-2026-0001","summary":"lib leaks","affected":[{"package":{"ecosystem":"Go","name":"example.com/lib"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.3.0"}]}]}]}"#,
    )
    .unwrap();
    let r = run(
        &p,
        cfg.path(),
        &["build", "vulnapp", "2", "--osv-db", osv.to_str().unwrap()],
    );
    assert_eq!(r.code, 5, "{r:?}");
    assert!(
        r.stderr
            .contains("GO-2026-0001 example.com/lib v1.2.0 (fixed in 1.3.0)"),
        "{r:?}"
    );
    assert_eq!(p.versions("vulnapp"), ["vulnapp-binary-v.1"]);
    let failed = p.store().join(".binship/failed");
    let kept = std::fs::read_dir(&failed)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let report = std::fs::read_to_string(kept.join("scan.json")).unwrap();
    assert!(report.contains("GO-2026-0001"), "{report}");
    // A record for another module (or a fixed version) lets it through.
    std::fs::write(
        osv.join("GO-2026-0001.json"),
        r#"{"id":"GO-2026-0001","affected":[{"package":{"ecosystem":"Go","name":"example.com/lib"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.0"}]}]}]}"#,
    )
    .unwrap();
    run(
        &p,
        cfg.path(),
        &["build", "vulnapp", "2", "--osv-db", osv.to_str().unwrap()],
    )
    .ok();
    assert!(p.version_dir("vulnapp", 2).join("scan.json").is_file());
    // A malformed OSV file: exit 2 naming it, before anything is built.
    std::fs::write(osv.join("broken.json"), "{ not json").unwrap();
    let r = run(
        &p,
        cfg.path(),
        &["build", "vulnapp", "3", "--osv-db", osv.to_str().unwrap()],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("broken.json: not JSON"), "{r:?}");

    // The recipe's scanner: output kept in scan.log; a non-zero exit refuses the build.
    let recipe = p.app_dir("vulnapp").join("binship.toml");
    let text = std::fs::read_to_string(&recipe).unwrap();
    std::fs::write(&recipe, format!("{text}[scan]\ncommand = 'test -x \"$BINSHIP_BINARY\" && echo scanned \"$(basename \"$BINSHIP_BINARY\")\"'\n")).unwrap();
    run(&p, cfg.path(), &["build", "vulnapp", "3"]).ok();
    let log = std::fs::read_to_string(p.version_dir("vulnapp", 3).join("scan.log")).unwrap();
    assert!(log.contains("scanned vulnapp"), "{log}");
    std::fs::write(
        &recipe,
        format!("{text}[scan]\ncommand = 'echo found something bad; exit 3'\n"),
    )
    .unwrap();
    let r = run(&p, cfg.path(), &["build", "vulnapp", "4"]);
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.contains("refused by the scan"), "{r:?}");
    assert!(!p.version_dir("vulnapp", 4).exists());

    // Warn mode: the same finding lets the build through, printed, and recorded in
    // test-results.json's warnings and the version's README.
    std::fs::remove_file(osv.join("broken.json")).unwrap();
    std::fs::write(
        osv.join("GO-2026-0001.json"),
        r#"{"id":"GO-2026-0001","affected":[{"package":{"ecosystem":"Go","name":"example.com/lib"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.3.0"}]}]}]}"#,
    )
    .unwrap();
    std::fs::write(&recipe, format!("{text}[scan]\nosv = \"warn\"\n")).unwrap();
    let osv_arg = osv.to_str().unwrap();
    let r = run(
        &p,
        cfg.path(),
        &["build", "vulnapp", "4", "--osv-db", osv_arg],
    )
    .ok();
    assert!(
        r.stderr
            .contains("warning: known-vulnerable Go modules: GO-2026-0001 example.com/lib v1.2.0"),
        "{r:?}"
    );
    let dir = p.version_dir("vulnapp", 4);
    let rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("test-results.json")).unwrap())
            .unwrap();
    assert!(
        rec["warnings"][0]
            .as_str()
            .unwrap()
            .contains("GO-2026-0001"),
        "{rec}"
    );
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(
        readme.contains("## Warnings\n\n- known-vulnerable"),
        "{readme}"
    );
    // The flag does the same without the recipe; it needs a database.
    std::fs::write(&recipe, &text).unwrap();
    let r = run(
        &p,
        cfg.path(),
        &[
            "build",
            "vulnapp",
            "5",
            "--osv-db",
            osv_arg,
            "--osv-warn",
            "--json",
        ],
    )
    .ok();
    assert_eq!(r.json()["results"]["warnings"].as_array().unwrap().len(), 1);
    let r = run(&p, cfg.path(), &["build", "vulnapp", "6", "--osv-warn"]);
    assert_eq!(r.code, 2, "{r:?}");
    // A value the recipe does not know: named with file and line.
    std::fs::write(&recipe, format!("{text}[scan]\nosv = \"maybe\"\n")).unwrap();
    let r = run(&p, cfg.path(), &["build", "vulnapp", "6"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("binship.toml:") && r.stderr.contains("unknown variant `maybe`"),
        "{r:?}"
    );
}

#[test]
fn images_are_signed_with_sboms_in_layouts_and_registries_and_inspect_shows_provenance() {
    let p = Project::new().with_example("go-id");
    let cfg = tempfile::tempdir().unwrap();
    run(&p, cfg.path(), &["key", "generate"]).ok();
    run(&p, cfg.path(), &["build", "go-id"]).ok();
    let oci = p.path().join("oci");
    let j = run(
        &p,
        cfg.path(),
        &[
            "scaffold",
            "go-id",
            "--format",
            "oci",
            "-o",
            oci.to_str().unwrap(),
            "--sign",
            "--sbom",
            "--json",
        ],
    )
    .ok()
    .json();
    let digest = j["manifest_digest"].as_str().unwrap().to_string();
    let sig_tag = format!("{}.sig", digest.replace(':', "-"));
    assert_eq!(
        j["attached"],
        serde_json::json!([
            sig_tag.clone(),
            format!("{}.sbom", digest.replace(':', "-")),
            // Both name the image as `subject`: the referrers index of the tag schema.
            digest.replace(':', "-")
        ])
    );
    let v = run(
        &p,
        cfg.path(),
        &["verify", &format!("oci:{}", oci.display()), "--json"],
    )
    .ok()
    .json();
    assert_eq!(v["digest"], digest.as_str());
    assert_eq!(v["images_validated"], 1);
    // Other tools still read the layout (the attachments are extra index entries).
    if require(&["skopeo", "umoci"], false) {
        ok(
            Command::new("skopeo")
                .args(["inspect"])
                .arg(format!("oci:{}:v.1", oci.display()))
                .output()
                .unwrap(),
            "skopeo inspect",
        );
        let ls = ok(
            Command::new("umoci")
                .args(["ls", "--layout"])
                .arg(&oci)
                .output()
                .unwrap(),
            "umoci ls",
        );
        assert!(ls.contains(&sig_tag), "{ls}");
        assert!(
            ls.lines().any(|l| l.trim() == digest.replace(':', "-")),
            "{ls}"
        );
    }
    // Another key does not verify it.
    let other = tempfile::tempdir().unwrap();
    run(&p, other.path(), &["key", "generate"]).ok();
    let r = run(
        &p,
        other.path(),
        &["verify", &format!("oci:{}", oci.display())],
    );
    assert_eq!(r.code, 8, "{r:?}");
    // A layer changed after signing: the validator catches it first.
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            oci.join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .unwrap(),
    )
    .unwrap();
    let layer = oci.join("blobs/sha256").join(
        m["layers"][1]["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:"),
    );
    let orig = flip_byte(&layer, 100);
    let r = run(
        &p,
        cfg.path(),
        &["verify", &format!("oci:{}", oci.display())],
    );
    assert_eq!(r.code, 8, "{r:?}");
    std::fs::write(&layer, orig).unwrap();
    // inspect: provenance labels.
    let i = run(
        &p,
        cfg.path(),
        &["inspect", &format!("oci:{}", oci.display()), "--json"],
    )
    .ok()
    .json();
    let img = &i["images"][0];
    assert_eq!(img["platform"], "linux/amd64");
    assert_eq!(img["toolchain"], format!("go {}", go_version()));
    assert_eq!(img["tests"], "5/5 passed");
    assert_eq!(img["dirty"], "false");
    assert!(
        img["build_command"]
            .as_str()
            .unwrap()
            .contains("CGO_ENABLED=0 GOARCH=amd64 GOOS=linux GOPROXY=off GOTOOLCHAIN=local TARGETARCH=amd64 TARGETOS=linux TARGETPLATFORM=linux/amd64 go build -trimpath"),
        "{img}"
    );
    let rec: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.version_dir("go-id", 1).join("test-results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(img["binary_sha256"], rec["binary"]["sha256"]);
    let text = run(
        &p,
        cfg.path(),
        &["inspect", &format!("oci:{}", oci.display())],
    )
    .ok();
    assert!(
        text.stdout.contains("build_command  BINSHIP_COMMIT=")
            && text.stdout.contains(" go build "),
        "{text:?}"
    );

    // inspect reads docker-archives too.
    let tar = p.path().join("d.tar");
    run(
        &p,
        cfg.path(),
        &["scaffold", "go-id", "-o", tar.to_str().unwrap()],
    )
    .ok();
    let i = run(
        &p,
        cfg.path(),
        &[
            "inspect",
            &format!("docker-archive:{}", tar.display()),
            "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(i["images"][0]["binary_sha256"], rec["binary"]["sha256"]);
    // The registry: pushed with its signature and SBOM, verified from there.
    if !require(&["docker-registry"], false) {
        return;
    }
    let (_guard, port) = plain_registry();
    let repo = format!("127.0.0.1:{port}/go-id");
    let j = run(
        &p,
        cfg.path(),
        &[
            "scaffold",
            "go-id",
            "-o",
            p.path().join("a.tar").to_str().unwrap(),
            "--push",
            &repo,
            "--sign",
            "--sbom",
            "--json",
        ],
    )
    .ok()
    .json();
    let pushed = j["pushed"]["manifest_digest"].as_str().unwrap().to_string();
    run(&p, cfg.path(), &["verify", &format!("{repo}:v.1")]).ok();
    let r = run(&p, other.path(), &["verify", &format!("{repo}:v.1")]);
    assert_eq!(r.code, 8, "{r:?}");
    if require(&["skopeo"], false) {
        let raw = ok(
            Command::new("skopeo")
                .args(["inspect", "--raw", "--tls-verify=false"])
                .arg(format!("docker://{repo}:{}.sbom", pushed.replace(':', "-")))
                .output()
                .unwrap(),
            "skopeo inspect sbom",
        );
        let m: serde_json::Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(m["artifactType"], "application/vnd.binship.sbom.v1");
        assert_eq!(m["subject"]["digest"], pushed.as_str());
        assert_eq!(m["layers"][0]["mediaType"], "application/spdx+json");
    }
    let i = run(
        &p,
        cfg.path(),
        &["inspect", &format!("{repo}:v.1"), "--json"],
    )
    .ok()
    .json();
    assert_eq!(i["images"][0]["binary_sha256"], rec["binary"]["sha256"]);
    // An unsigned image: no signature to find.
    run(
        &p,
        cfg.path(),
        &["push", "go-id", &format!("127.0.0.1:{port}/unsigned")],
    )
    .ok();
    let r = run(
        &p,
        cfg.path(),
        &["verify", &format!("127.0.0.1:{port}/unsigned:v.1")],
    );
    assert_eq!(r.code, 8, "{r:?}");
    assert!(r.stderr.contains("no signature"), "{r:?}");
}

#[test]
fn on_a_terminal_key_generate_asks_for_a_password_twice() {
    let p = Project::new().with_example("c-health");
    let cfg = tempfile::tempdir().unwrap();
    let dir = cfg.path().join("keys");
    let mut cmd = p.cmd(&["key", "generate", "--dir", dir.to_str().unwrap()]);
    cmd.env("TERM", "xterm");
    let mut s = rexpect::session::spawn_command(cmd, Some(60_000)).unwrap();
    s.exp_string("Password for the new secret key").unwrap();
    s.send_line("pty secret").unwrap();
    s.exp_string("Again").unwrap();
    s.send_line("pty secret").unwrap();
    s.exp_string("encrypted").unwrap();
    s.exp_eof().unwrap();
    // The key it wrote opens with that password only.
    p.run(&["build", "c-health"]).ok();
    let pw = cfg.path().join("pw");
    let key = dir.join("binship.key");
    std::fs::write(&pw, "wrong\n").unwrap();
    let r = run(
        &p,
        cfg.path(),
        &[
            "sign",
            "c-health",
            "--key",
            key.to_str().unwrap(),
            "--password-file",
            pw.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 2, "{r:?}");
    std::fs::write(&pw, "pty secret\n").unwrap();
    run(
        &p,
        cfg.path(),
        &[
            "sign",
            "c-health",
            "--key",
            key.to_str().unwrap(),
            "--password-file",
            pw.to_str().unwrap(),
        ],
    )
    .ok();
}

/// cargo-auditable, which scripts/test.sh installs into a root of its own (its bin dir is put
/// on PATH only here, so every other Rust build runs without it).
fn cargo_auditable_dir() -> Option<PathBuf> {
    let cache =
        std::env::var("BINSHIP_TEST_CACHE").unwrap_or_else(|_| "/var/cache/binship-tests".into());
    let dir = PathBuf::from(cache).join("cargo-auditable/bin");
    if dir.join("cargo-auditable").is_file() {
        return Some(dir);
    }
    let why = format!(
        "no {}/cargo-auditable (scripts/test.sh installs it)",
        dir.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true and this test cannot run: {why}");
    }
    eprintln!("skipped: {why}");
    None
}

#[test]
fn rust_sboms_list_the_crates_when_cargo_auditable_builds_them() {
    let Some(auditable) = cargo_auditable_dir() else {
        return;
    };
    let p = Project::new().with_app(
        "crated",
        "kind = \"rust\"\n[test]\nservice = false\n[[test.command]]\nname = \"says\"\nargs = []\nstdout = \"^helped\"\n",
        &[],
    );
    let src = p.path().join("src/crated");
    for (path, text) in [
        ("Cargo.toml", "[package]\nname = \"crated\"\nversion = \"0.3.0\"\nedition = \"2021\"\n\n[workspace]\n\n[dependencies]\nhelper = { path = \"helper\" }\n"),
        ("src/main.rs", "fn main() { println!(\"{}\", helper::word()); }\n"),
        ("helper/Cargo.toml", "[package]\nname = \"helper\"\nversion = \"1.2.3\"\nedition = \"2021\"\n"),
        ("helper/src/lib.rs", "pub fn word() -> &'static str { \"helped\" }\n"),
    ] {
        let f = src.join(path);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    }
    let cfg = tempfile::tempdir().unwrap();
    // Without cargo-auditable: built, and the build says the SBOM will list no crates.
    let j = run(&p, cfg.path(), &["build", "crated", "--json"])
        .ok()
        .json();
    assert!(
        j["results"]["warnings"].to_string().contains(
            "carries no crate list, so its SBOM will list no crates: install cargo-auditable"
        ),
        "{j}"
    );
    // With it: the toolchain changed (built again), and the SBOM lists both crates.
    let path = format!("{}:{}", auditable.display(), std::env::var("PATH").unwrap());
    let r: Run = p
        .cmd(&["build", "crated", "--sbom", "--json"])
        .env("XDG_CONFIG_HOME", cfg.path())
        .env("PATH", path)
        .output()
        .unwrap()
        .into();
    let j = r.ok().json();
    assert_eq!(j["results"]["version"], 2, "{j}");
    let toolchain = j["results"]["toolchain"]["version"].as_str().unwrap();
    assert!(toolchain.ends_with(" + cargo-auditable"), "{toolchain}");
    assert!(
        j["results"]["build_command"]
            .as_str()
            .unwrap()
            .contains(" cargo auditable build --release "),
        "{j}"
    );
    assert_eq!(j["results"]["warnings"], serde_json::Value::Null, "{j}");
    assert_eq!(j["sboms"][0]["source"], "rust-cargo-auditable", "{j}");
    let spdx: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.version_dir("crated", 2).join("crated.spdx.json")).unwrap(),
    )
    .unwrap();
    let packages = spdx["packages"].as_array().unwrap();
    let purls: Vec<String> = packages
        .iter()
        .flat_map(|p| p["externalRefs"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r["referenceLocator"].as_str().map(String::from))
        .collect();
    assert!(
        purls.contains(&"pkg:cargo/helper@1.2.3".to_string()),
        "{purls:?}"
    );
    // The binary names no compiler: the SBOM says which built it.
    let comment = packages[0]["comment"].as_str().unwrap();
    assert!(
        comment.starts_with("built by rustc ") && comment.contains("cargo-auditable"),
        "{comment}"
    );
}
