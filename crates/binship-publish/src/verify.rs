//! Verifying a stored version: [`verify_version`] checks the minisign signatures of every
//! binary and of `test-results.json`, each binary's sha256 against the record, the signed
//! comment naming this app, version and digest, and the test status (docs/supply-chain.md).

use std::path::{Path, PathBuf};

use binship_pipeline::cache::ORIGIN_RECORD;
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

/// The minisign signature of binary `bin` (its bytes `data`): valid under `pk`, and its
/// trusted comment names `app` v.`version`, the platform and the sha256 of the record's `p`.
/// Returns the comment.
///
/// # Errors
/// One line naming the `.minisig` file: missing, invalid, or signed for something else.
pub fn binary_signature(
    pk: &binship_sign::PublicKey,
    bin: &Path,
    data: &[u8],
    p: &binship_store::record::PlatformView,
    app: &str,
    version: u32,
) -> Result<String, String> {
    let comment = verify_detached(pk, bin, data).map_err(|e| e.to_string())?;
    let want = format!("binship {app} v.{version} {} sha256:{}", p.target, p.sha256);
    if comment.starts_with(&want) {
        Ok(comment)
    } else {
        Err(format!(
            "{}.minisig: signed \"{comment}\", not {app} v.{version} with sha256:{}",
            display_path(bin).display(),
            p.sha256
        ))
    }
}

/// The signed record of a version taken from a shared cache ([`ORIGIN_RECORD`] in `dir`): its
/// signature holds under `pk`, and `rec` is that record with only the local version number and
/// `from_cache` changed. Returns the signed comment.
fn origin_record(
    pk: &binship_sign::PublicKey,
    dir: &Path,
    rec: &binship_store::record::TestResults,
    origin_version: u32,
) -> Result<String, String> {
    let path = dir.join(ORIGIN_RECORD);
    let comment = verify_file(pk, &path).map_err(|e| e.to_string())?;
    let shown = display_path(&path).display().to_string();
    let mut signed: binship_store::record::TestResults = std::fs::read(&path)
        .map_err(|e| format!("{shown}: {e}"))
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| format!("{shown}: {e}")))?;
    if signed.version != origin_version {
        return Err(format!(
            "{shown}: is v.{}, test-results.json says it came as v.{origin_version}",
            signed.version
        ));
    }
    signed.version = rec.version;
    signed.from_cache = rec.from_cache.clone();
    if &signed != rec {
        return Err(format!(
            "{shown}: test-results.json differs from the signed record beyond its version number"
        ));
    }
    Ok(comment)
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
    let rec = store.record(app, version);
    // A version taken from a shared cache carries its builder's signatures, which name the
    // builder's number; once signed here (`binship sign`), it is checked as any local version.
    let signed_here = binship_sign::sign::sig_path(&dir.join("test-results.json")).exists();
    let from_cache = rec
        .as_ref()
        .ok()
        .and_then(|r| r.from_cache.as_ref())
        .filter(|_| !signed_here);
    match from_cache {
        None => check(
            "test-results.json signature".into(),
            verify_file(&pk, &dir.join("test-results.json")).map_err(|e| e.to_string()),
        ),
        // From a shared cache: the builder's record is signed, and this one is that record
        // renumbered.
        Some(origin) => check(
            format!("{ORIGIN_RECORD} signature"),
            origin_record(&pk, &dir, rec.as_ref().expect("read above"), origin.version),
        ),
    }
    let rec = match rec {
        Ok(r) => r,
        Err(e) => {
            check("test-results.json".into(), Err(e.to_string()));
            return (checks, first);
        }
    };
    // A version taken from a shared cache and not signed here: its builder signed its own
    // number and record.
    let signed_version = match &rec.from_cache {
        Some(c) if !signed_here => c.version,
        _ => version,
    };
    for p in rec.all_platforms() {
        let bin = dir.join(&p.path);
        // Read once: hashed here, and its signature checked below.
        let (data, digest) = binary_check(&dir, &p);
        check(format!("{} sha256", p.path), digest);
        check(
            format!("{} signature", p.path),
            data.as_ref()
                .map_err(Clone::clone)
                .and_then(|d| binary_signature(&pk, &bin, d, &p, app, signed_version)),
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
