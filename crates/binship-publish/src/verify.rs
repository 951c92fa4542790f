//! Verifying a stored version: [`verify_version`] checks the minisign signatures of every
//! binary and of `test-results.json`, each binary's sha256 against the record, the signed
//! comment naming this app, version and digest, and the test status (docs/supply-chain.md).

use std::path::{Path, PathBuf};

use binship_sign::keys;
use binship_sign::sign::{verify_detached, verify_file};
use binship_store::{display_path, Store};
use serde::Serialize;

/// The public key to verify with: `p`, else `$XDG_CONFIG_HOME/binship/binship.pub`.
pub fn public_key_path(p: Option<&Path>) -> PathBuf {
    p.map(Path::to_path_buf)
        .unwrap_or_else(|| keys::default_dir().join(keys::PUBLIC_NAME))
}

/// The binary `p` of a version (in `dir`) against its record: its bytes (read once, for a
/// signature check too) and `Ok("sha256:HEX")`, or a one-line error naming the file.
pub fn binary_check(
    dir: &Path,
    p: &binship_store::record::PlatformView,
) -> (Result<Vec<u8>, String>, Result<String, String>) {
    let bin = dir.join(&p.path);
    let shown = display_path(&bin).display().to_string();
    let data = std::fs::read(&bin).map_err(|e| format!("{shown}: {e}"));
    let check = data.as_ref().map_err(Clone::clone).and_then(|b| {
        let a = binship_oci::Digest::of(b).hex().to_string();
        if a == p.sha256 {
            Ok(format!("sha256:{a}"))
        } else {
            Err(format!(
                "{shown}: sha256 is {a}, but test-results.json records {}",
                p.sha256
            ))
        }
    });
    (data, check)
}

/// Whether the version's tests passed (every platform's too): the summary, or the error.
pub fn tests_check(
    rec: &binship_store::record::TestResults,
    app: &str,
    version: u32,
) -> Result<String, String> {
    if rec.all_passed() {
        Ok(format!("{}/{} passed", rec.passed, rec.total))
    } else {
        Err(format!(
            "{app} v.{version}: tests did not pass ({}/{} {})",
            rec.passed, rec.total, rec.status
        ))
    }
}

/// One check of `verify`.
#[derive(Debug, Serialize)]
pub struct Check {
    pub what: String,
    pub ok: bool,
    pub detail: String,
}

/// Verifies a version: signatures of every binary and of test-results.json, each binary's
/// sha256 against the record, the signed comment naming this app, version and digest, and the
/// test status. Returns every check; the first failure is the error message.
pub fn verify_version(
    store: &Store,
    app: &str,
    version: u32,
    public_key: Option<&Path>,
) -> (Vec<Check>, Option<String>) {
    let mut checks = Vec::new();
    let mut first: Option<String> = None;
    let mut check = |what: String, r: Result<String, String>| {
        let ok = r.is_ok();
        let detail = match r {
            Ok(d) | Err(d) => d,
        };
        if !ok && first.is_none() {
            first = Some(detail.clone());
        }
        checks.push(Check { what, ok, detail });
    };
    let pk_path = public_key_path(public_key);
    let pk = match keys::load_public(&pk_path) {
        Ok(pk) => pk,
        Err(e) => {
            check("public key".into(), Err(e.to_string()));
            return (checks, first);
        }
    };
    let dir = store.version_dir(app, version);
    let results = dir.join("test-results.json");
    check(
        "test-results.json signature".into(),
        verify_file(&pk, &results).map_err(|e| e.to_string()),
    );
    let rec = match store.record(app, version) {
        Ok(r) => r,
        Err(e) => {
            check("test-results.json".into(), Err(e.to_string()));
            return (checks, first);
        }
    };
    for p in rec.all_platforms() {
        let bin = dir.join(&p.path);
        let shown = display_path(&bin).display().to_string();
        // Read once: hashed here, and its signature checked below.
        let (data, digest) = binary_check(&dir, &p);
        check(format!("{} sha256", p.path), digest);
        check(
            format!("{} signature", p.path),
            data.as_ref()
                .map_err(Clone::clone)
                .and_then(|d| verify_detached(&pk, &bin, d).map_err(|e| e.to_string()))
                .and_then(|comment| {
                    let want = format!("binship {app} v.{version} {} sha256:{}", p.target, p.sha256);
                    if comment.starts_with(&want) {
                        Ok(comment)
                    } else {
                        Err(format!(
                            "{shown}.minisig: signed \"{comment}\", not {app} v.{version} with sha256:{}",
                            p.sha256
                        ))
                    }
                }),
        );
    }
    check("tests".into(), tests_check(&rec, app, version));
    (checks, first)
}

/// `verify APP`'s answer: every check of [`verify_version`], and the first failure.
#[derive(Debug, Serialize)]
pub struct Verification {
    /// "verified" or "failed" (exit 8).
    pub status: &'static str,
    pub app: String,
    pub version: u32,
    pub checks: Vec<Check>,
    pub error: Option<String>,
}

impl Verification {
    /// Verifies `app` v.`version` (see [`verify_version`]).
    pub fn of(store: &Store, app: &str, version: u32, public_key: Option<&Path>) -> Verification {
        let (checks, error) = verify_version(store, app, version, public_key);
        Verification {
            status: if error.is_none() {
                "verified"
            } else {
                "failed"
            },
            app: app.into(),
            version,
            checks,
            error,
        }
    }
}
