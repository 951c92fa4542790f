//! cosign's formats, checked by an independent implementation: the sigstore project's Rust
//! crate (verifiers/sigstore, built by scripts/test.sh) verifies binship's cosign signatures
//! pulled from a real registry (Debian's docker-registry), signs with a key binship generated
//! (it decrypts binship's encrypted PEM), and makes a key and a signature binship verifies;
//! OpenSSL checks a signature over the payload as pulled by skopeo. Tampering (another key,
//! another digest, a changed payload, a changed manifest) and an unsigned image are refused;
//! two keys' signatures are both kept, in a registry and in an OCI layout.

mod common;
use common::engines::*;
use common::tiny::tiny_project;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs binship with its key dir in `cfg` (never the user's ~/.config).
fn run(p: &Project, cfg: &Path, args: &[&str]) -> Run {
    p.cmd(args)
        .env("XDG_CONFIG_HOME", cfg)
        .env_remove("COSIGN_PASSWORD")
        .output()
        .unwrap()
        .into()
}

/// `binship scaffold tiny --base scratch --no-image-test ARGS` (the tests are about what is
/// signed, not the image's own test), its key dir in `cfg`.
fn scaffold(p: &Project, cfg: &Path, args: &[&str]) -> Run {
    let base = ["scaffold", "tiny", "--base", "scratch", "--no-image-test"];
    run(p, cfg, &[&base[..], args].concat())
}

/// The sigstore crate's checker, or None (with the reason printed; a failure under CI=true).
fn sigstore_check() -> Option<PathBuf> {
    let p = repo_root().join("verifiers/sigstore/target/debug/binship-sigstore-check");
    if p.is_file() {
        return Some(p);
    }
    let why = format!("{} is not built (scripts/test.sh builds it)", p.display());
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true and the sigstore check cannot run: {why}");
    }
    eprintln!("skipping the sigstore checks: {why}");
    None
}

fn sigstore(check: &Path, args: &[&str]) -> Run {
    Command::new(check).args(args).output().unwrap().into()
}

fn keygen(p: &Project, cfg: &Path, dir: &Path, password: Option<&str>) -> (PathBuf, PathBuf) {
    let mut args = vec![
        "key",
        "generate",
        "--format",
        "cosign",
        "--dir",
        dir.to_str().unwrap(),
    ];
    let pw = dir.with_extension("pw");
    if let Some(password) = password {
        std::fs::write(&pw, format!("{password}\n")).unwrap();
        args.extend(["--password-file", pw.to_str().unwrap()]);
    }
    let j = run(p, cfg, &[&args[..], &["--json"]].concat()).ok().json();
    assert_eq!(j["key"]["encrypted"], password.is_some(), "{j}");
    (dir.join("cosign.key"), dir.join("cosign.pub"))
}

#[test]
fn cosign_keys_are_pem_and_the_empty_password_is_cosigns_ci_default() {
    let p = Project::new();
    let cfg = tempfile::tempdir().unwrap();
    let (sk, pk) = keygen(&p, cfg.path(), &cfg.path().join("k"), None);
    let text = std::fs::read_to_string(&sk).unwrap();
    assert!(
        text.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"),
        "{text}"
    );
    assert!(std::fs::read_to_string(&pk)
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));
    // OpenSSL reads the public key: a P-256 (prime256v1) SubjectPublicKeyInfo.
    if require(&["openssl"], false) {
        let out = ok(
            Command::new("openssl")
                .args(["pkey", "-pubin", "-noout", "-text", "-in"])
                .arg(&pk)
                .output()
                .unwrap(),
            "openssl pkey",
        );
        assert!(out.contains("prime256v1") || out.contains("P-256"), "{out}");
    }
    // Again: refused (exit 5, conflict), the key unchanged.
    let r = run(
        &p,
        cfg.path(),
        &[
            "key",
            "generate",
            "--format",
            "cosign",
            "--dir",
            cfg.path().join("k").to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 7, "{r:?}");
    assert_eq!(std::fs::read_to_string(&sk).unwrap(), text);
    // A cosign key attests a stored version: DSSE envelopes about its binaries beside them,
    // checked by `verify APP --key cosign.pub` (and refused with another key, or after a
    // one-byte change to the binary); build --sign (minisign, the binaries) refuses it.
    let t = tiny_project();
    let j = run(
        &t,
        cfg.path(),
        &["sign", "tiny", "--key", sk.to_str().unwrap(), "--json"],
    )
    .ok()
    .json();
    assert_eq!(j["status"], "attested");
    let bundle = t.version_dir("tiny", 1).join("attestations.intoto.jsonl");
    assert_eq!(std::fs::read_to_string(&bundle).unwrap().lines().count(), 3);
    let v = run(
        &t,
        cfg.path(),
        &["verify", "tiny", "--key", pk.to_str().unwrap(), "--json"],
    )
    .ok()
    .json();
    assert_eq!(v["attestations"].as_array().unwrap().len(), 3, "{v}");
    let (_, other_pk) = keygen(&p, cfg.path(), &cfg.path().join("o"), None);
    let r = run(
        &t,
        cfg.path(),
        &["verify", "tiny", "--key", other_pk.to_str().unwrap()],
    );
    assert_eq!(r.code, 8, "{r:?}");
    assert!(r.stderr.contains("verifies with this key"), "{r:?}");
    let bin = t.version_dir("tiny", 1).join("tiny");
    let orig = std::fs::read(&bin).unwrap();
    let mut changed = orig.clone();
    changed[100] ^= 1;
    std::fs::write(&bin, &changed).unwrap();
    let r = run(
        &t,
        cfg.path(),
        &["verify", "tiny", "--key", pk.to_str().unwrap()],
    );
    assert_eq!(r.code, 8, "{r:?}");
    assert!(r.stderr.contains("but test-results.json records"), "{r:?}");
    std::fs::write(&bin, &orig).unwrap();
    // test-results.json edited after signing: the signed provenance names another sha256.
    let results = t.version_dir("tiny", 1).join("test-results.json");
    let orig_results = std::fs::read_to_string(&results).unwrap();
    std::fs::write(
        &results,
        orig_results.replace("\"built_at\": \"", "\"built_at\": \"1"),
    )
    .unwrap();
    let r = run(
        &t,
        cfg.path(),
        &["verify", "tiny", "--key", pk.to_str().unwrap()],
    );
    assert_eq!(r.code, 8, "{r:?}");
    assert!(
        r.stderr.contains("but the signed provenance records"),
        "{r:?}"
    );
    std::fs::write(&results, &orig_results).unwrap();
    // The app's recipe edited after the build: the provenance names the recipe as built.
    let recipe = t
        .path()
        .join("images/standalone-binaries/tiny/binship.toml");
    let built = std::fs::read_to_string(&recipe).unwrap();
    std::fs::write(&recipe, built.replace("exit = 0", "exit = 3")).unwrap();
    run(
        &t,
        cfg.path(),
        &["sign", "tiny", "--key", sk.to_str().unwrap()],
    )
    .ok();
    let first = std::fs::read_to_string(&bundle).unwrap();
    let env: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    let st: serde_json::Value =
        serde_json::from_slice(&base64_decode(env["payload"].as_str().unwrap())).unwrap();
    assert_eq!(st["predicateType"], "https://slsa.dev/provenance/v1");
    let ext = &st["predicate"]["buildDefinition"]["externalParameters"];
    assert_eq!(ext["recipe"]["test"]["command"][0]["exit"], 0, "{ext}");
    std::fs::write(&recipe, &built).unwrap();
    if let Some(py) = intoto_python() {
        // The reference implementation reads the bundle's envelopes too.
        let dir = t.path().join("envelopes");
        std::fs::create_dir_all(&dir).unwrap();
        let files: Vec<PathBuf> = std::fs::read_to_string(&bundle)
            .unwrap()
            .lines()
            .enumerate()
            .map(|(i, l)| {
                let f = dir.join(format!("{i}.json"));
                std::fs::write(&f, l).unwrap();
                f
            })
            .collect();
        let out = intoto_check(&py, &pk, &files).unwrap();
        let rec: serde_json::Value = serde_json::from_slice(
            &std::fs::read(t.version_dir("tiny", 1).join("test-results.json")).unwrap(),
        )
        .unwrap();
        let sha = rec["binary"]["sha256"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:");
        for o in &out {
            assert_eq!(
                o["subjects"],
                serde_json::json!([{ "name": "tiny", "sha256": sha }]),
                "{o}"
            );
        }
    }
    let r = run(
        &t,
        cfg.path(),
        &["build", "tiny", "--sign", "--key", sk.to_str().unwrap()],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("a cosign key signs images"), "{r:?}");
    // An encrypted key without its password and without a terminal: a clear usage error.
    let (esk, _) = keygen(&p, cfg.path(), &cfg.path().join("e"), Some("pw1"));
    let oci = t.path().join("oci");
    let r = scaffold(
        &t,
        cfg.path(),
        &[
            "--format",
            "oci",
            "-o",
            oci.to_str().unwrap(),
            "--sign",
            "--key",
            esk.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("$COSIGN_PASSWORD"), "{r:?}");
    assert!(
        !oci.exists(),
        "nothing is written when the key cannot be unlocked"
    );
    // $COSIGN_PASSWORD unlocks it, as for cosign.
    let r: Run = t
        .cmd(&[
            "scaffold",
            "tiny",
            "--base",
            "scratch",
            "--format",
            "oci",
            "-o",
            oci.to_str().unwrap(),
            "--no-image-test",
            "--sign",
            "--key",
            esk.to_str().unwrap(),
        ])
        .env("XDG_CONFIG_HOME", cfg.path())
        .env("COSIGN_PASSWORD", "pw1")
        .output()
        .unwrap()
        .into();
    r.ok();
}

#[test]
fn layout_signatures_by_two_keys_are_kept_and_tampering_is_refused() {
    let p = tiny_project();
    let cfg = tempfile::tempdir().unwrap();
    let (ska, pka) = keygen(&p, cfg.path(), &cfg.path().join("a"), None);
    let (skb, pkb) = keygen(&p, cfg.path(), &cfg.path().join("b"), Some("b-pass"));
    let (_, pkc) = keygen(&p, cfg.path(), &cfg.path().join("c"), None);
    let oci = p.path().join("oci");
    let j = scaffold(
        &p,
        cfg.path(),
        &[
            "--format",
            "oci",
            "-o",
            oci.to_str().unwrap(),
            "--sign",
            "--key",
            ska.to_str().unwrap(),
            "--json",
        ],
    )
    .ok()
    .json();
    let digest = j["manifest_digest"].as_str().unwrap().to_string();
    let sig_tag = format!("{}.sig", digest.replace(':', "-"));
    let att_tag = format!("{}.att", digest.replace(':', "-"));
    assert_eq!(
        j["attached"],
        serde_json::json!([sig_tag.clone(), att_tag, digest.replace(':', "-")])
    );
    // No tag: the layout's one image (the signature image is not counted as one).
    let target = format!("oci:{}", oci.display());
    let pw = cfg.path().join("b.pw");
    let j = run(
        &p,
        cfg.path(),
        &[
            "sign-image",
            &target,
            "--key",
            skb.to_str().unwrap(),
            "--password-file",
            pw.to_str().unwrap(),
            "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(
        (j["format"].as_str(), j["digest"].as_str()),
        (Some("cosign"), Some(&digest[..]))
    );
    for pk in [&pka, &pkb] {
        let v = run(
            &p,
            cfg.path(),
            &["verify", &target, "--key", pk.to_str().unwrap(), "--json"],
        )
        .ok()
        .json();
        assert_eq!(v["format"], "cosign");
        assert_eq!(v["digest"], digest.as_str());
        assert_eq!(
            v["images_validated"], 1,
            "the signature image is not taken for an image"
        );
    }
    let r = run(
        &p,
        cfg.path(),
        &["verify", &target, "--key", pkc.to_str().unwrap()],
    );
    assert_eq!(r.code, 8, "{r:?}");
    assert!(
        r.stderr
            .contains("none of its 2 signature(s) verifies with this key"),
        "{r:?}"
    );
    // sign-image signs the name scaffold signed (the layout's image name), so key A again
    // adds nothing; a minisign key would replace cosign's signatures: refused (exit 7).
    run(
        &p,
        cfg.path(),
        &["sign-image", &target, "--key", ska.to_str().unwrap()],
    )
    .ok();
    run(&p, cfg.path(), &["key", "generate"]).ok();
    let r = run(
        &p,
        cfg.path(),
        &[
            "sign-image",
            &target,
            "--key",
            cfg.path().join("binship/binship.key").to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 7, "{r:?}");
    assert!(
        r.stderr.contains("already has 2 cosign signature(s)"),
        "{r:?}"
    );
    // Keys in the wrong place are named for what they are (exit 2).
    for (args, says) in [
        (
            vec!["verify", &target, "--key", ska.to_str().unwrap()],
            "a secret key; verify with its public key (cosign.pub)",
        ),
        (
            vec![
                "verify",
                &target,
                "--key",
                cfg.path().join("binship/binship.pub").to_str().unwrap(),
            ],
            "not a PEM public key",
        ),
        (
            vec!["sign-image", &target, "--key", pka.to_str().unwrap()],
            "a PEM public key, not a secret key",
        ),
        (
            vec![
                "sign-image",
                &target,
                "--key",
                cfg.path().join("binship/binship.pub").to_str().unwrap(),
            ],
            "a minisign public key, not a secret key",
        ),
    ] {
        let r = run(&p, cfg.path(), &args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stderr.contains(says), "{args:?}: {r:?}");
    }
    // What is not there is exit 3: a tag, a layout.
    let r = run(
        &p,
        cfg.path(),
        &[
            "verify",
            &format!("{target}:nope"),
            "--key",
            pka.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("no image tagged nope"), "{r:?}");
    let r = run(
        &p,
        cfg.path(),
        &[
            "sign-image",
            &format!("oci:{}", p.path().join("nowhere").display()),
            "--key",
            ska.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 3, "{r:?}");
    // With only cosign keys in the key dir, they are the defaults.
    let only = tempfile::tempdir().unwrap();
    keygen(&p, only.path(), &only.path().join("binship"), None);
    let j = run(&p, only.path(), &["sign-image", &target, "--json"])
        .ok()
        .json();
    assert_eq!(j["format"], "cosign");
    let v = run(&p, only.path(), &["verify", &target, "--json"])
        .ok()
        .json();
    assert_eq!(v["format"], "cosign");
    assert_eq!(v["docker_reference"], "tiny");
    // The layout stays readable by skopeo and umoci with the signature image in it.
    if require(&["skopeo", "umoci"], false) {
        ok(
            Command::new("skopeo")
                .arg("inspect")
                .arg(format!("oci:{}:v.1-scratch", oci.display()))
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
    }
    // A changed payload (a new blob, the manifest pointing at it): no signature verifies.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(oci.join("index.json")).unwrap()).unwrap();
    let sig_entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == sig_tag.as_str())
        .unwrap()
        .clone();
    let blob = |d: &str| {
        oci.join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let sig_manifest_path = blob(sig_entry["digest"].as_str().unwrap());
    let orig_manifest = std::fs::read(&sig_manifest_path).unwrap();
    let mut m: serde_json::Value = serde_json::from_slice(&orig_manifest).unwrap();
    assert_eq!(
        m["layers"].as_array().unwrap().len(),
        3,
        "keys A, B and the key dir's"
    );
    for i in 0..3 {
        let d = m["layers"][i]["digest"].as_str().unwrap().to_string();
        let payload = std::fs::read(blob(&d)).unwrap();
        let forged = String::from_utf8(payload).unwrap().replace("tiny", "evil");
        let fd = binship_oci::digest_string(forged.as_bytes());
        std::fs::write(blob(&fd), &forged).unwrap();
        m["layers"][i]["digest"] = serde_json::json!(fd);
        m["layers"][i]["size"] = serde_json::json!(forged.len());
    }
    // The manifest is content-addressed: write it under its new digest and re-point the index.
    let forged_manifest = serde_json::to_vec(&m).unwrap();
    let fmd = binship_oci::digest_string(&forged_manifest);
    std::fs::write(blob(&fmd), &forged_manifest).unwrap();
    let orig_index = std::fs::read(oci.join("index.json")).unwrap();
    let text = String::from_utf8(orig_index.clone())
        .unwrap()
        .replace(sig_entry["digest"].as_str().unwrap(), &fmd)
        .replace(
            &format!("\"size\":{}", orig_manifest.len()),
            &format!("\"size\":{}", forged_manifest.len()),
        );
    std::fs::write(oci.join("index.json"), text).unwrap();
    let r = run(
        &p,
        cfg.path(),
        &["verify", &target, "--key", pka.to_str().unwrap()],
    );
    assert_eq!(r.code, 8, "{r:?}");
    assert!(r.stderr.contains("verifies with this key"), "{r:?}");
    std::fs::write(oci.join("index.json"), orig_index).unwrap();
    run(
        &p,
        cfg.path(),
        &["verify", &target, "--key", pka.to_str().unwrap()],
    )
    .ok();
}

#[test]
fn the_sigstore_crate_verifies_binships_cosign_signatures_from_a_real_registry_and_the_reverse() {
    if !require(&["docker-registry", "skopeo", "openssl"], false) {
        return;
    }
    let Some(check) = sigstore_check() else {
        return;
    };
    let p = tiny_project();
    let cfg = tempfile::tempdir().unwrap();
    let (ska, pka) = keygen(&p, cfg.path(), &cfg.path().join("a"), None);
    let (skb, pkb) = keygen(&p, cfg.path(), &cfg.path().join("b"), Some("b-pass"));
    let (_guard, port) = plain_registry();
    let repo = format!("127.0.0.1:{port}/tiny");
    let j = scaffold(
        &p,
        cfg.path(),
        &[
            "-o",
            p.path().join("t.tar").to_str().unwrap(),
            "--push",
            &repo,
            "--insecure",
            "--sign",
            "--key",
            ska.to_str().unwrap(),
            "--json",
        ],
    )
    .ok()
    .json();
    let digest = j["pushed"]["manifest_digest"].as_str().unwrap().to_string();
    let image = format!("{repo}:v.1");

    // 1. The sigstore crate verifies binship's signature with binship's public key, and
    //    refuses it with another key.
    let r = sigstore(&check, &["verify", &image, pka.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("verified: 1 signature layer(s)"), "{r:?}");
    let r = sigstore(&check, &["verify", &image, pkb.to_str().unwrap()]);
    assert_ne!(r.code, 0, "another key: {r:?}");

    // 2. A second key's signature (binship sign-image, an encrypted key) is added, not swapped:
    //    sigstore verifies both keys; OpenSSL checks each layer over the payload skopeo pulled.
    let pw = cfg.path().join("b.pw");
    run(
        &p,
        cfg.path(),
        &[
            "sign-image",
            &image,
            "--insecure",
            "--key",
            skb.to_str().unwrap(),
            "--password-file",
            pw.to_str().unwrap(),
        ],
    )
    .ok();
    for pk in [&pka, &pkb] {
        let r = sigstore(&check, &["verify", &image, pk.to_str().unwrap()]);
        assert!(
            r.code == 0 && r.stdout.contains("2 signature layer(s)"),
            "{r:?}"
        );
        run(
            &p,
            cfg.path(),
            &[
                "verify",
                &image,
                "--insecure",
                "--key",
                pk.to_str().unwrap(),
            ],
        )
        .ok();
    }
    let sig_ref = format!("docker://{repo}:{}.sig", digest.replace(':', "-"));
    let pulled = p.path().join("sig-dir");
    ok(
        Command::new("skopeo")
            .args(["copy", "--src-tls-verify=false", &sig_ref])
            .arg(format!("dir:{}", pulled.display()))
            .output()
            .unwrap(),
        "skopeo copy the signature image",
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(pulled.join("manifest.json")).unwrap()).unwrap();
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "{m}");
    for (layer, pk) in layers.iter().zip([&pka, &pkb]) {
        assert_eq!(
            layer["mediaType"],
            "application/vnd.dev.cosign.simplesigning.v1+json"
        );
        let payload = pulled.join(
            layer["digest"]
                .as_str()
                .unwrap()
                .trim_start_matches("sha256:"),
        );
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&payload).unwrap()).unwrap();
        assert_eq!(doc["critical"]["type"], "cosign container image signature");
        assert_eq!(
            doc["critical"]["image"]["docker-manifest-digest"],
            digest.as_str()
        );
        assert_eq!(
            doc["critical"]["identity"]["docker-reference"],
            repo.as_str()
        );
        let sig_b64 = layer["annotations"]["dev.cosignproject.cosign/signature"]
            .as_str()
            .unwrap();
        let sig = p.path().join("sig.der");
        std::fs::write(&sig, base64_decode(sig_b64)).unwrap();
        ok(
            Command::new("openssl")
                .args(["dgst", "-sha256", "-verify"])
                .arg(pk)
                .arg("-signature")
                .arg(&sig)
                .arg(&payload)
                .output()
                .unwrap(),
            "openssl dgst -verify",
        );
    }

    // 3. Another digest: image B given image A's signature image under B's tag is refused by
    //    both verifiers; so is B unsigned, and a changed manifest (another image) is unsigned.
    let b = format!("127.0.0.1:{port}/tiny-b");
    let jb = scaffold(
        &p,
        cfg.path(),
        &[
            "-o",
            p.path().join("b.tar").to_str().unwrap(),
            "--push",
            &b,
            "--insecure",
            "--env",
            "X=changed",
            "--json",
        ],
    )
    .ok()
    .json();
    let b_digest = jb["pushed"]["manifest_digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(b_digest, digest);
    let r = run(
        &p,
        cfg.path(),
        &[
            "verify",
            &format!("{b}:v.1"),
            "--insecure",
            "--key",
            pka.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 8, "{r:?}");
    assert!(r.stderr.contains("no signature"), "{r:?}");
    assert_ne!(
        sigstore(
            &check,
            &["verify", &format!("{b}:v.1"), pka.to_str().unwrap()]
        )
        .code,
        0
    );
    ok(
        Command::new("skopeo")
            .args([
                "copy",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                &sig_ref,
            ])
            .arg(format!("docker://{b}:{}.sig", b_digest.replace(':', "-")))
            .output()
            .unwrap(),
        "skopeo copy A's signature to B's tag",
    );
    let r = run(
        &p,
        cfg.path(),
        &[
            "verify",
            &format!("{b}:v.1"),
            "--insecure",
            "--key",
            pka.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 8, "{r:?}");
    assert!(r.stderr.contains("not the image"), "{r:?}");
    let r = sigstore(
        &check,
        &["verify", &format!("{b}:v.1"), pka.to_str().unwrap()],
    );
    assert_ne!(
        r.code, 0,
        "sigstore accepted another image's signature: {r:?}"
    );
    // The attestations in the registry: A's verify; A's copied to B's `.att` tag (B signed by
    // A for real, so only the attestations are foreign) are about another image.
    let v = run(
        &p,
        cfg.path(),
        &[
            "verify",
            &image,
            "--insecure",
            "--key",
            pka.to_str().unwrap(),
            "--attestations",
            "--json",
        ],
    )
    .ok()
    .json();
    // From the `.att` image, and from the three referrers: docker-registry 2.8 has no referrers
    // API, so they are listed in the index under the tag schema, which skopeo reads too.
    assert_eq!(v["attestations"].as_array().unwrap().len(), 6, "{v}");
    assert_eq!(
        v["referrers"], "3 referrer(s) through the referrers tag schema",
        "{v}"
    );
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{repo}:{}", digest.replace(':', "-")))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["mediaType"], "application/vnd.oci.image.index.v1+json");
    let dsse = list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["artifactType"] == "application/vnd.dsse.envelope.v1+json")
        .count();
    assert_eq!(dsse, 3, "{list}");
    run(
        &p,
        cfg.path(),
        &[
            "sign-image",
            &format!("{b}:v.1"),
            "--insecure",
            "--key",
            ska.to_str().unwrap(),
        ],
    )
    .ok();
    ok(
        Command::new("skopeo")
            .args(["copy", "--src-tls-verify=false", "--dest-tls-verify=false"])
            .arg(format!("docker://{repo}:{}.att", digest.replace(':', "-")))
            .arg(format!("docker://{b}:{}.att", b_digest.replace(':', "-")))
            .output()
            .unwrap(),
        "skopeo copy A's attestations to B's tag",
    );
    // (B's signature tag now holds A's copied signature image plus B's own layer by key A.)
    let r = run(
        &p,
        cfg.path(),
        &[
            "verify",
            &format!("{b}:v.1"),
            "--insecure",
            "--key",
            pka.to_str().unwrap(),
            "--attestations",
        ],
    );
    assert_eq!(r.code, 8, "{r:?}");
    assert!(r.stderr.contains("does not name the image"), "{r:?}");

    // 4. The reverse: a key made by the sigstore crate signs with binship, and a signature the
    //    sigstore crate made for a binship image (with a key binship generated, encrypted) is
    //    accepted by binship verify.
    let sdir = cfg.path().join("sigstore-key");
    let r = sigstore(&check, &["keygen", sdir.to_str().unwrap(), "s-pass"]);
    assert_eq!(r.code, 0, "{r:?}");
    let spw = cfg.path().join("s.pw");
    std::fs::write(&spw, "s-pass\n").unwrap();
    let c = format!("127.0.0.1:{port}/tiny-c");
    scaffold(
        &p,
        cfg.path(),
        &[
            "-o",
            p.path().join("c.tar").to_str().unwrap(),
            "--push",
            &c,
            "--insecure",
            "--sign",
            "--key",
            sdir.join("cosign.key").to_str().unwrap(),
            "--password-file",
            spw.to_str().unwrap(),
        ],
    )
    .ok();
    let r = sigstore(
        &check,
        &[
            "verify",
            &format!("{c}:v.1"),
            sdir.join("cosign.pub").to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let d = format!("127.0.0.1:{port}/tiny-d");
    scaffold(
        &p,
        cfg.path(),
        &[
            "-o",
            p.path().join("d.tar").to_str().unwrap(),
            "--push",
            &d,
            "--insecure",
        ],
    )
    .ok();
    let r = sigstore(
        &check,
        &["sign", &format!("{d}:v.1"), skb.to_str().unwrap(), "b-pass"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let v = run(
        &p,
        cfg.path(),
        &[
            "verify",
            &format!("{d}:v.1"),
            "--insecure",
            "--key",
            pkb.to_str().unwrap(),
            "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(v["format"], "cosign");
    let r = run(
        &p,
        cfg.path(),
        &[
            "verify",
            &format!("{d}:v.1"),
            "--insecure",
            "--key",
            pka.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 8, "{r:?}");
}

#[test]
fn attestations_are_referrers_listed_by_a_registry_with_the_referrers_api() {
    let Some((_guard, port)) = referrers_registry() else {
        return;
    };
    let p = tiny_project();
    let cfg = tempfile::tempdir().unwrap();
    let (ska, pka) = keygen(&p, cfg.path(), &cfg.path().join("a"), None);
    let repo = format!("127.0.0.1:{port}/tiny");
    let push = |out: &str, extra: &[&str]| {
        let o = p.path().join(out);
        let args = [
            &["-o", o.to_str().unwrap(), "--push", &repo, "--insecure"][..],
            extra,
            &["--sign", "--key", ska.to_str().unwrap(), "--json"],
        ]
        .concat();
        scaffold(&p, cfg.path(), &args).ok().json()
    };
    let j = push("t.tar", &[]);
    let digest = j["pushed"]["manifest_digest"].as_str().unwrap().to_string();
    let hex = digest.trim_start_matches("sha256:").to_string();
    // Pushed: cosign's two tags, and three referrers by digest; the registry indexed them
    // itself (OCI-Subject), so no index under the tag schema.
    let attached: Vec<&str> = j["attached"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        attached
            .iter()
            .filter(|a| a.contains("/tiny@sha256:"))
            .count(),
        3,
        "{attached:?}"
    );
    assert!(
        !attached
            .iter()
            .any(|a| a.ends_with(&format!(":sha256-{hex}"))),
        "{attached:?}"
    );
    assert_eq!(
        http_get(port, &format!("/v2/tiny/manifests/sha256-{hex}")).map(|r| r.0),
        Some(404)
    );
    // The registry's own referrers list: the three attestations, with their predicate types.
    let (code, body) = http_get(port, &format!("/v2/tiny/referrers/{digest}")).unwrap();
    assert_eq!(code, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let dsse: Vec<&serde_json::Value> = list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["artifactType"] == "application/vnd.dsse.envelope.v1+json")
        .collect();
    let mut types: Vec<&str> = dsse
        .iter()
        .map(|d| {
            d["annotations"]["in-toto.io/predicate-type"]
                .as_str()
                .unwrap()
        })
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            "https://cyclonedx.org/bom",
            "https://slsa.dev/provenance/v1",
            "https://spdx.dev/Document"
        ],
        "{list}"
    );
    // By digest: the second image below takes the tag v.1.
    // Signing the same image again with the same key: the same referrer manifests, found and
    // not put again (this registry lists a referrer once per PUT).
    let j_again = push("t.tar", &[]);
    assert_eq!(j_again["pushed"]["manifest_digest"], digest.as_str());
    let (_, body) = http_get(port, &format!("/v2/tiny/referrers/{digest}")).unwrap();
    let again: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        again["manifests"].as_array().unwrap().len(),
        list["manifests"].as_array().unwrap().len(),
        "{again}"
    );
    let image = format!("{repo}@{digest}");
    let verify = |key: &Path| {
        run(
            &p,
            cfg.path(),
            &[
                "verify",
                &image,
                "--insecure",
                "--key",
                key.to_str().unwrap(),
                "--attestations",
                "--json",
            ],
        )
    };
    let v = verify(&pka).ok().json();
    assert_eq!(
        v["referrers"], "3 referrer(s) through the referrers API",
        "{v}"
    );
    assert_eq!(v["attestations"].as_array().unwrap().len(), 6, "{v}");
    // The envelopes as the registry serves them: the in-toto reference implementation accepts
    // them as statements about this image.
    let manifest = |d: &str| -> serde_json::Value {
        let (code, body) = http_get(port, &format!("/v2/tiny/manifests/{d}")).unwrap();
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    let envelope_of = |m: &serde_json::Value| -> (String, String) {
        let d = m["layers"][0]["digest"].as_str().unwrap().to_string();
        let (code, body) = http_get(port, &format!("/v2/tiny/blobs/{d}")).unwrap();
        assert_eq!(code, 200, "{body}");
        (d, body)
    };
    let mut files = Vec::new();
    for (i, d) in dsse.iter().enumerate() {
        let m = manifest(d["digest"].as_str().unwrap());
        assert_eq!(m["subject"]["digest"], digest.as_str(), "{m}");
        let f = p.path().join(format!("referrer-{i}.json"));
        std::fs::write(&f, envelope_of(&m).1).unwrap();
        files.push(f);
    }
    if let Some(py) = intoto_python() {
        let out = intoto_check(&py, &pka, &files).unwrap();
        assert_eq!(out.len(), 3);
        for o in &out {
            assert_eq!(
                o["subjects"],
                serde_json::json!([{ "name": repo, "sha256": hex }]),
                "{o}"
            );
        }
    }
    // Another image in the repository, signed by the same key; its provenance envelope wrapped
    // in a referrer of the first image (the blobs are in the repository already) is refused.
    let j2 = push("t2.tar", &["--env", "OTHER=1"]);
    let digest2 = j2["pushed"]["manifest_digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(digest2, digest);
    let (code, body) = http_get(port, &format!("/v2/tiny/referrers/{digest2}")).unwrap();
    assert_eq!(code, 200, "{body}");
    let other: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut forged = manifest(other["manifests"][0]["digest"].as_str().unwrap());
    forged["subject"] = manifest(dsse[0]["digest"].as_str().unwrap())["subject"].clone();
    let bytes = serde_json::to_vec(&forged).unwrap();
    let forged_digest = format!("sha256:{}", common::tiny::sha256_hex(&bytes));
    let (code, body) = http_put(
        port,
        &format!("/v2/tiny/manifests/{forged_digest}"),
        "application/vnd.oci.image.manifest.v1+json",
        &bytes,
    )
    .unwrap();
    assert_eq!(code, 201, "{body}");
    let r = verify(&pka);
    assert_eq!(r.code, 8, "{r:?}");
    assert!(r.stderr.contains("does not name the image"), "{r:?}");
    assert!(r.stderr.contains(&forged_digest), "{r:?}");
    // And another key finds nothing of its own.
    let (_, pkb) = keygen(&p, cfg.path(), &cfg.path().join("b"), None);
    let r = verify(&pkb);
    assert_eq!(r.code, 8, "{r:?}");
}

fn base64_decode(s: &str) -> Vec<u8> {
    let out = Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(s.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

/// The in-toto venv's python (scripts/test.sh makes it), or None with the reason printed.
fn intoto_python() -> Option<PathBuf> {
    let py = PathBuf::from("/var/cache/binship-tests/intoto-venv/bin/python");
    let ok = Command::new(&py)
        .args([
            "-c",
            "import securesystemslib.dsse, in_toto_attestation.v1.statement",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    let why = format!(
        "{} lacks securesystemslib or in-toto-attestation (scripts/test.sh installs them)",
        py.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true and the in-toto check cannot run: {why}");
    }
    eprintln!("skipping the in-toto checks: {why}");
    None
}

/// Runs the in-toto reference implementation over `envelopes`; its JSON lines on success.
fn intoto_check(
    py: &Path,
    pk: &Path,
    envelopes: &[PathBuf],
) -> Result<Vec<serde_json::Value>, String> {
    let out = Command::new(py)
        .arg(repo_root().join("crates/binship/tests/intoto/check.py"))
        .arg(pk)
        .args(envelopes)
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect())
}

/// The DSSE envelopes of the `.att` image for `digest` in the layout `oci`, as files.
fn layout_envelopes(oci: &Path, digest: &str) -> Vec<PathBuf> {
    let att_tag = format!("{}.att", digest.replace(':', "-"));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(oci.join("index.json")).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == att_tag.as_str())
        .unwrap_or_else(|| panic!("no {att_tag} in {index}"));
    let blob = |d: &str| {
        oci.join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(entry["digest"].as_str().unwrap())).unwrap())
            .unwrap();
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert_eq!(l["mediaType"], "application/vnd.dsse.envelope.v1+json");
            blob(l["digest"].as_str().unwrap())
        })
        .collect()
}

/// The attestation referrers of `digest` in the layout `oci` (the index under the referrers
/// tag schema, `sha256-HEX`): each referrer manifest and its one DSSE envelope, as a file.
fn layout_referrers(oci: &Path, digest: &str) -> Vec<(serde_json::Value, PathBuf)> {
    let tag = digest.replace(':', "-");
    let blob = |d: &str| {
        oci.join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let json = |p: PathBuf| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let index = json(oci.join("index.json"));
    let Some(entry) = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag.as_str())
    else {
        return Vec::new();
    };
    assert_eq!(
        entry["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let list = json(blob(entry["digest"].as_str().unwrap()));
    list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(
                d["artifactType"], "application/vnd.dsse.envelope.v1+json",
                "{d}"
            );
            let m = json(blob(d["digest"].as_str().unwrap()));
            assert_eq!(
                d["annotations"]["in-toto.io/predicate-type"],
                m["annotations"]["in-toto.io/predicate-type"]
            );
            let layers = m["layers"].as_array().unwrap();
            assert_eq!(layers.len(), 1, "{m}");
            let env = blob(layers[0]["digest"].as_str().unwrap());
            (m, env)
        })
        .collect()
}

#[test]
fn attestations_are_dsse_signed_in_toto_statements_the_reference_implementation_accepts() {
    let p = tiny_project();
    let cfg = tempfile::tempdir().unwrap();
    let (ska, pka) = keygen(&p, cfg.path(), &cfg.path().join("a"), None);
    let (_, pkb) = keygen(&p, cfg.path(), &cfg.path().join("b"), None);
    let oci = p.path().join("oci");
    // --sign alone: the signature and the attestations (the SBOMs made on the way).
    let j = scaffold(
        &p,
        cfg.path(),
        &[
            "--format",
            "oci",
            "-o",
            oci.to_str().unwrap(),
            "--sign",
            "--key",
            ska.to_str().unwrap(),
            "--json",
        ],
    )
    .ok()
    .json();
    let digest = j["manifest_digest"].as_str().unwrap().to_string();
    let hex = digest.trim_start_matches("sha256:").to_string();
    // cosign's tags, and the referrers index of the tag schema (a layout has no API).
    assert_eq!(
        j["attached"],
        serde_json::json!([
            format!("sha256-{hex}.sig"),
            format!("sha256-{hex}.att"),
            format!("sha256-{hex}")
        ])
    );
    let refs = layout_referrers(&oci, &digest);
    assert_eq!(refs.len(), 3);
    for (m, _) in &refs {
        assert_eq!(m["subject"]["digest"], digest.as_str(), "{m}");
        assert_eq!(
            m["config"]["mediaType"],
            "application/vnd.oci.empty.v1+json"
        );
    }
    assert!(p.version_dir("tiny", 1).join("tiny.spdx.json").is_file());
    let target = format!("oci:{}", oci.display());
    let v = run(
        &p,
        cfg.path(),
        &[
            "verify",
            &target,
            "--key",
            pka.to_str().unwrap(),
            "--attestations",
            "--json",
        ],
    )
    .ok()
    .json();
    // Read from both: the `.att` image, then the three referrers.
    let types = |from_att: bool| -> Vec<String> {
        v["attestations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["source"].as_str().unwrap().ends_with(".att") == from_att)
            .map(|a| a["predicate_type"].as_str().unwrap().to_string())
            .collect()
    };
    let all = [
        "https://slsa.dev/provenance/v1",
        "https://spdx.dev/Document",
        "https://cyclonedx.org/bom",
    ];
    assert_eq!(types(true), all, "{v}");
    assert_eq!(types(false), all, "{v}");
    assert_eq!(
        v["referrers"], "3 referrer(s) through the referrers tag schema",
        "{v}"
    );
    let r = run(
        &p,
        cfg.path(),
        &[
            "verify",
            &target,
            "--key",
            pkb.to_str().unwrap(),
            "--attestations",
        ],
    );
    assert_eq!(r.code, 8, "{r:?}");
    run(&p, cfg.path(), &["key", "generate"]).ok();
    let minisign_pub = cfg.path().join("binship/binship.pub");
    let r = run(
        &p,
        cfg.path(),
        &[
            "verify",
            &target,
            "--attestations",
            "--pub",
            minisign_pub.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 2, "--attestations with a minisign key: {r:?}");
    // A second signer's attestations join the first's: both keys verify (cosign
    // verify-attestation skips envelopes by other keys); signing again with A replaces A's.
    let (skb, pkb2) = keygen(&p, cfg.path(), &cfg.path().join("b2"), None);
    for key in [&skb, &ska] {
        scaffold(
            &p,
            cfg.path(),
            &[
                "--format",
                "oci",
                "-o",
                oci.to_str().unwrap(),
                "--sign",
                "--key",
                key.to_str().unwrap(),
            ],
        )
        .ok();
        assert_eq!(layout_envelopes(&oci, &digest).len(), 6);
        // Referrers are only added, and signing the same image again with the same key makes
        // the same envelopes (RFC 6979): A's second signing adds none.
        assert_eq!(layout_referrers(&oci, &digest).len(), 6);
    }
    for pk in [&pka, &pkb2] {
        run(
            &p,
            cfg.path(),
            &[
                "verify",
                &target,
                "--key",
                pk.to_str().unwrap(),
                "--attestations",
            ],
        )
        .ok();
    }

    // A referrer by A about another image, listed among this image's referrers: refused.
    let oci2 = p.path().join("oci2");
    let j2 = scaffold(
        &p,
        cfg.path(),
        &[
            "--format",
            "oci",
            "-o",
            oci2.to_str().unwrap(),
            "--env",
            "OTHER=1",
            "--sign",
            "--key",
            ska.to_str().unwrap(),
            "--json",
        ],
    )
    .ok()
    .json();
    let digest2 = j2["manifest_digest"].as_str().unwrap().to_string();
    assert_ne!(digest2, digest);
    let tampered = tempfile::tempdir().unwrap();
    let t = tampered.path().join("oci");
    copy_dir(&oci, &t);
    smuggle_referrer(&t, &digest, &oci2, &digest2);
    let r = run(
        &p,
        cfg.path(),
        &[
            "verify",
            &format!("oci:{}", t.display()),
            "--key",
            pka.to_str().unwrap(),
            "--attestations",
        ],
    );
    assert_eq!(r.code, 8, "{r:?}");
    assert!(r.stderr.contains("not the image"), "{r:?}");
    // The tag of the referrers index pointing at something that is not one: refused, named.
    let t2 = tampered.path().join("oci-bad-index");
    copy_dir(&oci, &t2);
    let not_index = br#"{"schemaVersion":2}"#;
    let d = common::tiny::sha256_hex(not_index);
    std::fs::write(t2.join("blobs/sha256").join(&d), not_index).unwrap();
    let index_path = t2.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    for m in index["manifests"].as_array_mut().unwrap() {
        if m["annotations"]["org.opencontainers.image.ref.name"] == format!("sha256-{hex}").as_str()
        {
            m["digest"] = serde_json::json!(format!("sha256:{d}"));
            m["size"] = serde_json::json!(not_index.len());
        }
    }
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let r = run(
        &p,
        cfg.path(),
        &[
            "verify",
            &format!("oci:{}", t2.display()),
            "--key",
            pka.to_str().unwrap(),
            "--attestations",
        ],
    );
    assert_eq!(r.code, 8, "{r:?}");
    assert!(r.stderr.contains("not a referrers index"), "{r:?}");

    // The reference implementation: every envelope verifies with A's key and is a valid
    // Statement v1 about this image; the provenance parses strictly as SLSA provenance v1.
    let Some(py) = intoto_python() else {
        return;
    };
    // A's three envelopes (the reference implementation checks each against A's key; B's fail).
    let envelopes: Vec<PathBuf> = layout_envelopes(&oci, &digest)
        .into_iter()
        .filter(|e| intoto_check(&py, &pka, std::slice::from_ref(e)).is_ok())
        .collect();
    assert_eq!(envelopes.len(), 3);
    // The same for the referrers' envelopes: A's three pass, and they are the `.att` ones.
    let from_referrers: Vec<PathBuf> = layout_referrers(&oci, &digest)
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| intoto_check(&py, &pka, std::slice::from_ref(e)).is_ok())
        .collect();
    assert_eq!(from_referrers.len(), 3);
    let read = |v: &[PathBuf]| {
        let mut b: Vec<Vec<u8>> = v.iter().map(|p| std::fs::read(p).unwrap()).collect();
        b.sort();
        b
    };
    assert_eq!(read(&from_referrers), read(&envelopes));
    let out = intoto_check(&py, &pka, &envelopes).unwrap();
    for o in &out {
        assert_eq!(
            o["subjects"],
            serde_json::json!([{ "name": "tiny", "sha256": hex }]),
            "{o}"
        );
    }
    let prov = out
        .iter()
        .find(|o| o["predicate_type"] == "https://slsa.dev/provenance/v1")
        .unwrap();
    assert!(
        prov["builder"].as_str().unwrap().contains("binship"),
        "{prov}"
    );
    let results = std::fs::read(p.version_dir("tiny", 1).join("test-results.json")).unwrap();
    assert_eq!(
        prov["byproducts"][0],
        serde_json::json!({ "name": "test-results.json", "digest": { "sha256": common::tiny::sha256_hex(&results) } })
    );
    assert!(
        prov["resolved"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["name"] == "toolchain"),
        "{prov}"
    );
    // Another key, and a statement changed after signing: refused by the reference
    // implementation too.
    let e = intoto_check(&py, &pkb, &envelopes).unwrap_err();
    assert!(e.contains("does not verify"), "{e}");
    let mut env: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&envelopes[0]).unwrap()).unwrap();
    let payload = String::from_utf8(base64_decode(env["payload"].as_str().unwrap())).unwrap();
    let forged = payload.replace(&hex, &"0".repeat(64));
    assert_ne!(forged, payload);
    env["payload"] = serde_json::json!(base64_encode(forged.as_bytes()));
    let forged_file = p.path().join("forged.json");
    std::fs::write(&forged_file, serde_json::to_vec(&env).unwrap()).unwrap();
    let e = intoto_check(&py, &pka, &[forged_file]).unwrap_err();
    assert!(e.contains("does not verify"), "{e}");
}

fn base64_encode(b: &[u8]) -> String {
    let out = Command::new("base64")
        .arg("-w0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b)?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// Copies the directory tree `from` to `to`.
fn copy_dir(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// Lists `from`'s first attestation referrer of `from_digest` among `digest`'s referrers in the
/// layout `oci` (its blobs copied, the referrers index rewritten), as a tamperer would.
fn smuggle_referrer(oci: &Path, digest: &str, from: &Path, from_digest: &str) {
    use serde_json::Value;
    let (src, dst) = (from.join("blobs/sha256"), oci.join("blobs/sha256"));
    let hex = |d: &Value| {
        d.as_str()
            .unwrap()
            .trim_start_matches("sha256:")
            .to_string()
    };
    let read =
        |p: PathBuf| -> Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let is_tag = |x: &Value, d: &str| {
        x["annotations"]["org.opencontainers.image.ref.name"] == d.replace(':', "-").as_str()
    };
    let from_index = read(from.join("index.json"));
    let from_entry = from_index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| is_tag(x, from_digest))
        .unwrap();
    let desc = read(src.join(hex(&from_entry["digest"])))["manifests"][0].clone();
    let m = read(src.join(hex(&desc["digest"])));
    for d in [
        &desc["digest"],
        &m["config"]["digest"],
        &m["layers"][0]["digest"],
    ] {
        std::fs::copy(src.join(hex(d)), dst.join(hex(d))).unwrap();
    }
    let index_path = oci.join("index.json");
    let mut index = read(index_path.clone());
    let entry = index["manifests"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|x| is_tag(x, digest))
        .unwrap();
    let mut list = read(dst.join(hex(&entry["digest"])));
    list["manifests"].as_array_mut().unwrap().push(desc);
    let bytes = serde_json::to_vec(&list).unwrap();
    let d = common::tiny::sha256_hex(&bytes);
    std::fs::write(dst.join(&d), &bytes).unwrap();
    entry["digest"] = serde_json::json!(format!("sha256:{d}"));
    entry["size"] = serde_json::json!(bytes.len());
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
}
