//! Supply chain commands: `key generate`, `sign`, `verify` (a version), `sbom`, and the pieces
//! `build --sign/--sbom` and `scaffold --require-signed` reuse. Formats: docs/supply-chain.md.

use std::path::{Path, PathBuf};

use binship_sign::keys;
use binship_sign::sbom::{cyclonedx, read_inventory, spdx};
use binship_sign::sign::sign_file;
use binship_store::Store;
use serde_json::json;

use crate::cli::KeyArgs;
use crate::exit;
use crate::output::{display_path, error};
use binship_lifecycle::app_version;

type Failure = (i32, String);

fn read_password_file(p: &Path) -> Result<String, String> {
    std::fs::read_to_string(p)
        .map(|s| s.lines().next().unwrap_or("").to_string())
        .map_err(|e| format!("{}: {e}", p.display()))
}

fn is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

pub fn key_generate(
    json_mode: bool,
    dir: Option<PathBuf>,
    password_file: Option<PathBuf>,
    force: bool,
) -> i32 {
    let dir = dir.unwrap_or_else(keys::default_dir);
    let password = match &password_file {
        Some(p) => match read_password_file(p) {
            Ok(pw) if !pw.is_empty() => Some(pw),
            Ok(_) => {
                error(
                    json_mode,
                    "usage",
                    &format!("{}: empty password", p.display()),
                    json!({}),
                );
                return exit::USAGE;
            }
            Err(m) => {
                error(json_mode, "usage", &m, json!({}));
                return exit::USAGE;
            }
        },
        None if is_tty() && !json_mode => {
            match dialoguer::Password::new()
                .with_prompt("Password for the new secret key")
                .with_confirmation("Again", "the passwords differ")
                .interact()
            {
                Ok(p) => Some(p),
                Err(e) => {
                    error(json_mode, "interrupted", &e.to_string(), json!({}));
                    return exit::INTERRUPTED;
                }
            }
        }
        None => {
            eprintln!("warning: no terminal and no --password-file: the secret key is written unencrypted (fine for CI; keep the file private)");
            None
        }
    };
    match keys::generate(&dir, password, force) {
        Ok(g) => {
            if json_mode {
                crate::output::json(&json!({ "status": "generated", "key": g }));
            } else {
                println!("{}", g.public_key.display());
                eprintln!(
                    "✓ Key {} ({}); secret key {}",
                    g.key_id,
                    if g.encrypted {
                        "encrypted"
                    } else {
                        "unencrypted"
                    },
                    g.secret_key.display()
                );
            }
            exit::OK
        }
        Err(e) => {
            let code = if e.to_string().contains("already exists") {
                exit::CONFLICT
            } else {
                exit::OTHER
            };
            error(json_mode, "error", &e.to_string(), json!({}));
            code
        }
    }
}

/// The secret key of `k`, unlocked (password file, else a prompt on a terminal).
pub fn unlock(k: &KeyArgs) -> Result<binship_sign::SecretKey, Failure> {
    let path = k
        .secret_key
        .clone()
        .unwrap_or_else(|| keys::default_dir().join(keys::SECRET_NAME));
    keys::load_secret(&path, || match &k.password_file {
        Some(p) => read_password_file(p),
        None if is_tty() => dialoguer::Password::new()
            .with_prompt(format!("Password for {}", path.display()))
            .interact()
            .map_err(|e| e.to_string()),
        None => {
            Err("the key is encrypted: give --password-file FILE (no terminal to ask on)".into())
        }
    })
    .map_err(|e| (exit::USAGE, e.to_string()))
}

/// What `build` and `update` add to a version they just stored: signatures (with `key`) and
/// SBOMs (when `sbom`). Returns `{"signatures": [...]}` and/or `{"sboms": [...]}` for what was
/// done; a failure says the version is stored but not signed / has no SBOM.
pub fn sign_and_describe(
    store: &Store,
    app: &str,
    version: u32,
    key: Option<&binship_sign::SecretKey>,
    sbom: bool,
) -> Result<serde_json::Value, Failure> {
    let mut done = json!({});
    if let Some(sk) = key {
        let s = sign_version(store, app, version, sk)
            .map_err(|(c, m)| (c, format!("stored, but not signed: {m}")))?;
        done["signatures"] = json!(s);
    }
    if sbom {
        let s = sbom_version(store, app, version)
            .map_err(|(c, m)| (c, format!("stored, but no SBOM: {m}")))?;
        done["sboms"] = json!(s);
    }
    Ok(done)
}

/// Signs every binary of the version and its test-results.json; returns the signatures.
pub fn sign_version(
    store: &Store,
    app: &str,
    version: u32,
    sk: &binship_sign::SecretKey,
) -> Result<Vec<PathBuf>, Failure> {
    let rec = store
        .record(app, version)
        .map_err(|e| (exit::NOT_FOUND, e.to_string()))?;
    let dir = store.version_dir(app, version);
    let mut out = Vec::new();
    for p in rec.all_platforms() {
        let comment = format!(
            "binship {app} v.{version} {} sha256:{} tests {}",
            p.target,
            p.sha256,
            if p.target == rec.target {
                format!("{}/{} {}", rec.passed, rec.total, rec.status)
            } else {
                p.status.clone()
            }
        );
        out.push(
            sign_file(sk, &dir.join(&p.path), &comment)
                .map_err(|e| (exit::OTHER, e.to_string()))?,
        );
    }
    let results = dir.join("test-results.json");
    out.push(
        sign_file(
            sk,
            &results,
            &format!("binship {app} v.{version} test-results.json"),
        )
        .map_err(|e| (exit::OTHER, e.to_string()))?,
    );
    Ok(out)
}

use binship_lifecycle::verify::verify_version;

/// SBOMs for every binary of a version; returns what was written.
pub fn sbom_version(
    store: &Store,
    app: &str,
    version: u32,
) -> Result<Vec<serde_json::Value>, Failure> {
    let rec = store
        .record(app, version)
        .map_err(|e| (exit::NOT_FOUND, e.to_string()))?;
    let dir = store.version_dir(app, version);
    let mut out = Vec::new();
    for p in rec.all_platforms() {
        let bin = dir.join(&p.path);
        let inv = read_inventory(&bin).map_err(|e| (exit::OTHER, e.to_string()))?;
        let write = |suffix: &str, v: serde_json::Value| -> Result<PathBuf, Failure> {
            let path = PathBuf::from(format!("{}.{suffix}", bin.display()));
            let tmp = PathBuf::from(format!("{}.tmp.{}", path.display(), std::process::id()));
            std::fs::write(&tmp, serde_json::to_string_pretty(&v).expect("json") + "\n")
                .and_then(|_| std::fs::rename(&tmp, &path))
                .map_err(|e| (exit::OTHER, format!("writing {}: {e}", path.display())))?;
            Ok(path)
        };
        let s = write("spdx.json", spdx(&inv, app, version, &rec.built_at))?;
        let c = write("cdx.json", cyclonedx(&inv, app, version, &rec.built_at))?;
        out.push(json!({
            "target": p.target,
            "binary": bin,
            "source": inv.source,
            "toolchain": inv.toolchain,
            "main": inv.main.as_ref().map(|m| &m.name),
            "dependencies": inv.dependencies.len(),
            "note": inv.note,
            "spdx": s,
            "cyclonedx": c,
        }));
    }
    Ok(out)
}

fn resolve(store: &Store, app: &str, version: Option<&str>) -> Result<(String, u32), Failure> {
    let spec = match version {
        Some(v) => format!("{app}:{v}"),
        None => app.to_string(),
    };
    app_version(store, &spec).map_err(|(c, m)| (exit::code(c), m))
}

fn fail(json_mode: bool, (code, m): Failure) -> i32 {
    crate::output::fail(json_mode, code, &m)
}

pub fn run_sign(
    store: &Store,
    json_mode: bool,
    app: &str,
    version: Option<&str>,
    k: &KeyArgs,
) -> i32 {
    let r = resolve(store, app, version).and_then(|(app, v)| {
        let sk = unlock(k)?;
        sign_version(store, &app, v, &sk).map(|s| (app, v, s))
    });
    match r {
        Ok((app, v, sigs)) => {
            if json_mode {
                crate::output::json(
                    &json!({ "status": "signed", "app": app, "version": v, "signatures": sigs }),
                );
            } else {
                for s in &sigs {
                    println!("✓ Signed: {}", display_path(s).display());
                }
            }
            exit::OK
        }
        Err(f) => fail(json_mode, f),
    }
}

pub fn run_verify_version(
    store: &Store,
    json_mode: bool,
    app: &str,
    version: Option<&str>,
    public_key: Option<&Path>,
) -> i32 {
    let (app, v) = match resolve(store, app, version) {
        Ok(x) => x,
        Err(f) => return fail(json_mode, f),
    };
    let (checks, failure) = verify_version(store, &app, v, public_key);
    if json_mode {
        crate::output::json(&json!({
            "status": if failure.is_none() { "verified" } else { "failed" },
            "app": app, "version": v, "checks": checks, "error": failure,
        }));
    } else {
        for c in &checks {
            let mark = if c.ok { "✓" } else { "✗" };
            if c.ok {
                eprintln!("{mark} {}: {}", c.what, c.detail);
            }
        }
        if failure.is_none() {
            println!("✓ Verified: {app} v.{v}");
        }
    }
    match failure {
        None => exit::OK,
        Some(m) => {
            if !json_mode {
                eprintln!("error: {m}");
            }
            exit::VERIFY_FAILED
        }
    }
}

pub fn run_sbom(store: &Store, json_mode: bool, app: &str, version: Option<&str>) -> i32 {
    let r = resolve(store, app, version)
        .and_then(|(app, v)| sbom_version(store, &app, v).map(|o| (app, v, o)));
    match r {
        Ok((app, v, out)) => {
            if json_mode {
                crate::output::json(
                    &json!({ "status": "written", "app": app, "version": v, "sboms": out }),
                );
            } else {
                for o in &out {
                    println!(
                        "✓ SBOM: {} and {}",
                        display_path(Path::new(o["spdx"].as_str().unwrap_or(""))).display(),
                        display_path(Path::new(o["cyclonedx"].as_str().unwrap_or(""))).display()
                    );
                    match o["note"].as_str() {
                        Some(n) => eprintln!("  {}: {n}", o["target"].as_str().unwrap_or("")),
                        None => eprintln!(
                            "  {}: {} {}, main module {}, {} dependencies",
                            o["target"].as_str().unwrap_or(""),
                            o["source"].as_str().unwrap_or(""),
                            o["toolchain"].as_str().unwrap_or(""),
                            o["main"].as_str().unwrap_or("-"),
                            o["dependencies"]
                        ),
                    }
                }
            }
            exit::OK
        }
        Err(f) => fail(json_mode, f),
    }
}
