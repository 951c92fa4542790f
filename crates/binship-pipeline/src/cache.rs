//! The shared build cache as the pipeline sees it: [`RemoteCache`] finds a version by its cache
//! key and fills a staging dir with it; [`admit`] stores that as the next local version. The
//! registry behind it lives in binship-publish (`cache`), which the pipeline does not know.

use std::path::Path;

pub use binship_build::Cancel;
use binship_store::record::{now_rfc3339, CacheOrigin};
use binship_store::{AppLock, Staging, Store, TestResults};

use crate::{ErrorClass, PipelineError};

/// The file a version taken from the cache keeps its builder's record in (the record's
/// signature, `.minisig`, names the builder's version number, so it is kept beside it).
pub const ORIGIN_RECORD: &str = "test-results.origin.json";

/// Why the cache gave nothing: a miss (not found), an unreachable registry (other) or an
/// entry refused as poisoned (verify failed). The message is one line naming the registry,
/// repository and, for a refusal, the manifest digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheFailure {
    pub class: ErrorClass,
    pub message: String,
}

/// A cache of built and tested versions, looked up by the build's cache key
/// ([`crate::cache_key`]).
pub trait RemoteCache: Sync {
    /// Where it is, for messages (`REGISTRY/REPO`).
    fn name(&self) -> String;
    /// Fills `dir` with the files of the version stored under `key` for `app`, each verified
    /// (digests, the binary against its record, the record's key and passed tests, signatures
    /// when required), and says where it came from. Stops early once `cancel` is set.
    ///
    /// # Errors
    /// [`CacheFailure`]: a miss, an unreachable cache, a refused entry, an interruption.
    fn fetch(
        &self,
        app: &str,
        key: &str,
        dir: &Path,
        cancel: &Cancel,
    ) -> Result<CacheOrigin, CacheFailure>;
}

/// Admits the fetched version in `staging` as local v.`version` of the locked app: the builder's record is kept
/// as [`ORIGIN_RECORD`] (with its signature), and test-results.json becomes that record with the
/// local version number and `from_cache` set.
///
/// # Errors
/// VerifyFailed (as [`PipelineError::Cache`]): the fetched record is not for `app` and `key`.
/// Store: moving the files or admitting the version.
pub fn admit(
    store: &Store,
    lock: &AppLock,
    staging: Staging,
    key: &str,
    version: u32,
    mut origin: CacheOrigin,
    replace: bool,
) -> Result<(std::path::PathBuf, TestResults), PipelineError> {
    let app = lock.app();
    let dir = staging.path().to_path_buf();
    let io = |context: &'static str, e: std::io::Error| {
        PipelineError::Store(binship_store::StoreError::Io {
            context,
            path: dir.clone(),
            source: e,
        })
    };
    let refused = |m: String| {
        PipelineError::Cache(CacheFailure {
            class: ErrorClass::VerifyFailed,
            message: format!("{}: {m}", origin.reference),
        })
    };
    let bytes = std::fs::read(dir.join("test-results.json"))
        .map_err(|e| io("reading the fetched record in", e))?;
    let mut record: TestResults = serde_json::from_slice(&bytes)
        .map_err(|e| refused(format!("test-results.json is not a record: {e}")))?;
    if record.app != app || record.cache_key != key || !record.all_passed() {
        return Err(refused(format!(
            "its record is for {} with key {} and status {}, not a passed {app} with key {key}",
            record.app, record.cache_key, record.status
        )));
    }
    std::fs::rename(dir.join("test-results.json"), dir.join(ORIGIN_RECORD))
        .map_err(|e| io("keeping the fetched record in", e))?;
    let sig = dir.join("test-results.json.minisig");
    if sig.exists() {
        std::fs::rename(&sig, dir.join(format!("{ORIGIN_RECORD}.minisig")))
            .map_err(|e| io("keeping the fetched record's signature in", e))?;
    }
    origin.version = record.version;
    if origin.fetched_at.is_empty() {
        origin.fetched_at = now_rfc3339();
    }
    record.version = version;
    record.from_cache = Some(origin);
    let path = store.admit(lock, staging, &record, replace)?;
    Ok((path, record))
}
