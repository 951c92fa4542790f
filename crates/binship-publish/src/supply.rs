//! Supply-chain files beside a stored version: minisign signatures of its binaries and
//! test-results.json, and SPDX 2.3 / CycloneDX 1.5 SBOMs of each binary (docs/supply-chain.md).

use std::path::{Path, PathBuf};

use binship_sign::sbom::{cyclonedx, read_inventory, spdx};
use binship_sign::sign::sign_file;
use binship_store::Store;
use serde_json::json;

use crate::{ErrorClass, PublishError, Result};

/// The first line of a password file (`--password-file`).
///
/// # Errors
/// Usage: the file cannot be read (the message names it).
pub fn read_password_file(p: &Path) -> Result<String> {
    std::fs::read_to_string(p)
        .map(|s| s.lines().next().unwrap_or("").to_string())
        .map_err(|e| PublishError::new(ErrorClass::Usage, format!("{}: {e}", p.display())))
}

fn record(store: &Store, app: &str, version: u32) -> Result<binship_store::record::TestResults> {
    store
        .record(app, version)
        .map_err(|e| PublishError::new(ErrorClass::NotFound, e.to_string()))
}

/// Signs every binary of the version (all platforms) and its test-results.json; returns the
/// signature files (`FILE.minisig`, minisign format with a trusted comment naming app,
/// version, target, sha256 and test status).
///
/// # Errors
/// Not found: no such version. Other: a file cannot be read or the signature written.
pub fn sign_version(
    store: &Store,
    app: &str,
    version: u32,
    sk: &binship_sign::SecretKey,
) -> Result<Vec<PathBuf>> {
    let rec = record(store, app, version)?;
    let dir = store.version_dir(app, version);
    let mut out = Vec::new();
    for p in rec.all_platforms() {
        let tests = if p.target == rec.target {
            format!("{}/{} {}", rec.passed, rec.total, rec.status)
        } else {
            p.status.clone()
        };
        let comment = format!(
            "binship {app} v.{version} {} sha256:{} tests {tests}",
            p.target, p.sha256
        );
        out.push(sign_file(sk, &dir.join(&p.path), &comment).map_err(PublishError::other)?);
    }
    let comment = format!("binship {app} v.{version} test-results.json");
    out.push(sign_file(sk, &dir.join("test-results.json"), &comment).map_err(PublishError::other)?);
    Ok(out)
}

/// `sign`'s answer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Signed {
    /// "signed".
    pub status: &'static str,
    pub app: String,
    pub version: u32,
    /// The `.minisig` files written.
    pub signatures: Vec<PathBuf>,
}

/// Unlocks `key` (default: `$XDG_CONFIG_HOME/binship/binship.key`) with the password in
/// `password_file` (when the key is encrypted) and signs `app` v.`version` ([`sign_version`]).
///
/// # Errors
/// Usage: the key cannot be read or unlocked. Otherwise those of [`sign_version`].
pub fn sign_with_key_file(
    store: &Store,
    app: &str,
    version: u32,
    key: Option<&Path>,
    password_file: Option<&Path>,
) -> Result<Signed> {
    use binship_sign::keys;
    let path = key.map_or_else(
        || keys::default_dir().join(keys::SECRET_NAME),
        Path::to_path_buf,
    );
    let sk = keys::load_secret(&path, || match password_file {
        Some(p) => read_password_file(p).map_err(|e| e.message),
        None => Err("the key is encrypted: give a password file".into()),
    })
    .map_err(|e| PublishError::new(ErrorClass::Usage, e.to_string()))?;
    let signatures = sign_version(store, app, version, &sk)?;
    Ok(Signed {
        status: "signed",
        app: app.into(),
        version,
        signatures,
    })
}

/// What [`sbom_version`] wrote for one binary.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SbomWritten {
    pub target: String,
    pub binary: PathBuf,
    /// Where the inventory came from (Go build info, cargo auditable, ...).
    pub source: String,
    pub toolchain: Option<String>,
    pub main: Option<String>,
    /// How many dependencies the inventory lists.
    pub dependencies: usize,
    /// Why the inventory is thin (no build info), when it is.
    pub note: Option<String>,
    pub spdx: PathBuf,
    pub cyclonedx: PathBuf,
}

/// Where a binary's SBOMs are: `BINARY.spdx.json` and `BINARY.cdx.json` beside it.
pub fn sbom_paths(bin: &Path) -> (PathBuf, PathBuf) {
    let with = |suffix: &str| PathBuf::from(format!("{}.{suffix}", bin.display()));
    (with("spdx.json"), with("cdx.json"))
}

/// Writes `BINARY.spdx.json` (SPDX 2.3) and `BINARY.cdx.json` (CycloneDX 1.5) for every binary
/// of a version, each into a temp file then renamed; returns what was written.
///
/// # Errors
/// Not found: no such version. Other: a binary cannot be read or a file written.
pub fn sbom_version(store: &Store, app: &str, version: u32) -> Result<Vec<SbomWritten>> {
    let rec = record(store, app, version)?;
    let dir = store.version_dir(app, version);
    let mut out = Vec::new();
    for p in rec.all_platforms() {
        let bin = dir.join(&p.path);
        let mut inv = read_inventory(&bin).map_err(PublishError::other)?;
        // A Rust binary does not name its compiler: the record does.
        if inv.toolchain.is_none() {
            inv.toolchain = Some(format!("{} {}", rec.toolchain.name, rec.toolchain.version));
        }
        let (spdx_path, cdx_path) = sbom_paths(&bin);
        let write = |path: PathBuf, v: serde_json::Value| -> Result<PathBuf> {
            let tmp = PathBuf::from(format!("{}.tmp.{}", path.display(), std::process::id()));
            std::fs::write(&tmp, serde_json::to_string_pretty(&v).expect("json") + "\n")
                .and_then(|_| std::fs::rename(&tmp, &path))
                .map_err(|e| PublishError::other(format!("writing {}: {e}", path.display())))?;
            Ok(path)
        };
        let spdx = write(spdx_path, spdx(&inv, app, version, &rec.built_at))?;
        let cyclonedx = write(cdx_path, cyclonedx(&inv, app, version, &rec.built_at))?;
        out.push(SbomWritten {
            target: p.target.clone(),
            binary: bin,
            source: inv.source.clone(),
            toolchain: inv.toolchain.clone(),
            main: inv.main.as_ref().map(|m| m.name.clone()),
            dependencies: inv.dependencies.len(),
            note: inv.note.clone(),
            spdx,
            cyclonedx,
        });
    }
    Ok(out)
}

/// What `build` and `update` add to a version they just stored: signatures (with `key`) and
/// SBOMs (when `sbom`). Returns `{"signatures": [...]}` and/or `{"sboms": [...]}` for what was
/// done.
///
/// # Errors
/// The class of [`sign_version`] / [`sbom_version`], the message saying the version is stored
/// but not signed / has no SBOM.
pub fn sign_and_describe(
    store: &Store,
    app: &str,
    version: u32,
    key: Option<&binship_sign::SecretKey>,
    sbom: bool,
) -> Result<serde_json::Value> {
    let mut done = json!({});
    if let Some(sk) = key {
        let s = sign_version(store, app, version, sk)
            .map_err(|e| e.context("stored, but not signed: "))?;
        done["signatures"] = json!(s);
    }
    if sbom {
        let s =
            sbom_version(store, app, version).map_err(|e| e.context("stored, but no SBOM: "))?;
        done["sboms"] = json!(s);
    }
    Ok(done)
}
