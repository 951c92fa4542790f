//! Supply chain commands: `key generate`, `sign`, `verify APP` (a stored version) and `sbom`;
//! the work is binship-publish's and binship-lifecycle's. Formats: docs/supply-chain.md.

use std::path::{Path, PathBuf};

use binship_lifecycle::app_version;
use binship_publish::supply::{read_password_file, sbom_version, sign_version, Signed};
use binship_publish::verify::Verification;
use binship_sign::keys;
use binship_store::Store;
use serde_json::json;

use crate::cli::KeyArgs;
use crate::exit;
use crate::keys::is_tty;
use crate::output::{display_path, fail, fail_class};

pub fn key_generate(
    json_mode: bool,
    dir: Option<PathBuf>,
    format: &str,
    password_file: Option<PathBuf>,
    force: bool,
) -> i32 {
    let dir = dir.unwrap_or_else(keys::default_dir);
    let cosign = format == "cosign";
    let password = match &password_file {
        Some(p) => match read_password_file(p) {
            // cosign allows the empty password; a minisign key without one is unencrypted.
            Ok(pw) if !pw.is_empty() || cosign => Some(pw),
            Ok(_) => {
                return fail(
                    json_mode,
                    exit::USAGE,
                    &format!("{}: empty password", p.display()),
                )
            }
            Err(e) => return fail(json_mode, exit::USAGE, &e.message),
        },
        None if is_tty() && !json_mode => {
            match dialoguer::Password::new()
                .with_prompt("Password for the new secret key")
                .with_confirmation("Again", "the passwords differ")
                .interact()
            {
                Ok(p) => Some(p),
                Err(e) => return fail(json_mode, exit::INTERRUPTED, &e.to_string()),
            }
        }
        None => None,
    };
    let unprotected = password.as_deref().is_none_or(str::is_empty);
    let generated = if cosign {
        binship_sign::cosign::generate(&dir, password.as_deref().unwrap_or(""), force)
    } else {
        keys::generate(&dir, password, force)
    };
    match generated {
        Ok(g) => {
            if unprotected && password_file.is_none() {
                crate::output::warnings(&[format!("no terminal and no --password-file: the secret key was written {} (fine for CI; keep the file private)", if cosign { "with the empty password, as cosign does" } else { "unencrypted" })]);
            }
            if json_mode {
                crate::output::json(&json!({ "status": "generated", "key": g }));
            } else {
                println!("{}", g.public_key.display());
                let state = match (g.encrypted, cosign) {
                    (true, true) => "cosign format, encrypted",
                    (false, true) => "cosign format, empty password",
                    (true, false) => "minisign, encrypted",
                    (false, false) => "minisign, unencrypted",
                };
                say_err!(
                    "✓ Key {} ({state}); secret key {}",
                    g.key_id,
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
            fail(json_mode, code, &e.to_string())
        }
    }
}

/// `APP` and an optional `N` -> the app and its version.
fn resolve(
    store: &Store,
    app: &str,
    version: Option<&str>,
) -> Result<(String, u32), (i32, String)> {
    let spec = match version {
        Some(v) => format!("{app}:{v}"),
        None => app.to_string(),
    };
    app_version(store, &spec).map_err(|(c, m)| (c.exit_code(), m))
}

pub fn run_sign(
    store: &Store,
    json_mode: bool,
    app: &str,
    version: Option<&str>,
    k: &KeyArgs,
) -> i32 {
    let (app, v) = match resolve(store, app, version) {
        Ok(x) => x,
        Err((code, m)) => return fail(json_mode, code, &m),
    };
    let sk = match crate::keys::unlock_image_key(k) {
        Ok(binship_sign::ImageKey::Minisign(sk)) => sk,
        Ok(binship_sign::ImageKey::Cosign(sk)) => {
            // A cosign key attests the version (DSSE envelopes), minisign signs its files.
            return match binship_publish::attest::write_version_attestations(store, &app, v, &sk) {
                Ok(path) => {
                    if json_mode {
                        crate::output::json(&json!({
                            "status": "attested", "app": app, "version": v,
                            "attestations": path,
                            "predicate_types": binship_publish::attest::ATTACHED,
                        }));
                    } else {
                        say!(
                            "✓ Attested: {} (SLSA provenance, SPDX, CycloneDX)",
                            display_path(&path).display()
                        );
                    }
                    exit::OK
                }
                Err(e) => fail_class(json_mode, e.class, &e.message),
            };
        }
        Err(m) => return fail(json_mode, exit::USAGE, &m),
    };
    match sign_version(store, &app, v, &sk) {
        Ok(signatures) => {
            if json_mode {
                let status = "signed";
                let (app, version) = (app.clone(), v);
                crate::output::json(&json!(Signed {
                    status,
                    app,
                    version,
                    signatures
                }));
            } else {
                for s in &signatures {
                    say!("✓ Signed: {}", display_path(s).display());
                }
            }
            exit::OK
        }
        Err(e) => fail_class(json_mode, e.class, &e.message),
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
        Err((code, m)) => return fail(json_mode, code, &m),
    };
    if let Some(pk_path) = public_key.filter(|p| binship_sign::cosign::is_public_key_file(p)) {
        let pk = match binship_sign::cosign::load_public(pk_path) {
            Ok(pk) => pk,
            Err(e) => return fail(json_mode, exit::USAGE, &e.to_string()),
        };
        return match binship_publish::attest::verify_version_attestations(store, &app, v, &pk) {
            Ok(a) => {
                if json_mode {
                    crate::output::json(&json!({
                        "status": "verified", "app": app, "version": v, "format": "cosign",
                        "attestations": a,
                    }));
                } else {
                    for x in &a {
                        say_err!("✓ Attestation: {} ({})", x.predicate_type, x.names());
                    }
                    say!("✓ Verified: {app} v.{v} (cosign attestations)");
                }
                exit::OK
            }
            Err(m) => fail(json_mode, exit::VERIFY_FAILED, &m),
        };
    }
    let r = Verification::of(store, &app, v, public_key);
    if json_mode {
        crate::output::json(&json!(r));
    } else {
        for c in r.checks.iter().filter(|c| c.ok) {
            say_err!("✓ {}: {}", c.what, c.detail);
        }
        if r.error.is_none() {
            say!("✓ Verified: {app} v.{v}");
        }
    }
    match r.error {
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
    let (app, v) = match resolve(store, app, version) {
        Ok(x) => x,
        Err((code, m)) => return fail(json_mode, code, &m),
    };
    let out = match sbom_version(store, &app, v) {
        Ok(o) => o,
        Err(e) => return fail_class(json_mode, e.class, &e.message),
    };
    if json_mode {
        crate::output::json(
            &json!({ "status": "written", "app": app, "version": v, "sboms": out }),
        );
        return exit::OK;
    }
    for o in &out {
        say!(
            "✓ SBOM: {} and {}",
            display_path(&o.spdx).display(),
            display_path(&o.cyclonedx).display()
        );
        match &o.note {
            Some(n) => eprintln!("  {}: {n}", o.target),
            None => eprintln!(
                "  {}: {} {}, main module {}, {} dependencies",
                o.target,
                o.source,
                o.toolchain.as_deref().unwrap_or(""),
                o.main.as_deref().unwrap_or("-"),
                o.dependencies
            ),
        }
    }
    exit::OK
}
