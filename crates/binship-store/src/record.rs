//! The version record: [`TestResults`], the schema of `test-results.json` (the seed's
//! BinaryTestResult and more). Documented in docs/test-results.md; `schema_version` bumps on
//! any incompatible change.

use binship_build::{TestCase, Toolchain};
use serde::{Deserialize, Serialize};

/// The current schema version of test-results.json.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything known about one stored version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResults {
    pub schema_version: u32,
    pub app: String,
    pub version: u32,
    /// "passed" or "failed".
    pub status: String,
    pub kind: String,
    /// "linux/amd64"
    pub target: String,
    pub git: GitRecord,
    /// RFC 3339, UTC.
    pub built_at: String,
    /// The binship that built it ("binship 0.1.0").
    pub built_by: String,
    pub toolchain: Toolchain,
    pub binary: BinaryRecord,
    pub build_duration_ms: u64,
    pub test_duration_ms: u64,
    /// The test port used (auto-picked or fixed).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub test_port: Option<u16>,
    pub tests: Vec<TestCase>,
    pub passed: usize,
    pub failed: usize,
    pub total: usize,
    /// sha256 over source content, recipe and toolchain: same key, same build.
    pub cache_key: String,
    /// The command that built the primary binary, as logged in build.log.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub build_command: Option<String>,
    /// sha256 of the recipe's `[[container.files]]` the tests saw (paths, modes, owners,
    /// bytes); none without files. Scaffold packs this version only with the same files.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub files_key: Option<String>,
    /// The other platforms of a multi-target recipe (the fields above describe the primary).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub platforms: Vec<PlatformRecord>,
    /// What the build noticed and let pass (OSV findings with `[scan] osv = "warn"` or
    /// `build --osv-warn`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub warnings: Vec<String>,
    /// The host that built and tested it (its hostname; none in records made before 0.2).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub built_on: Option<String>,
    /// Set when this version was taken from a shared build cache (the recipe's `[cache]`)
    /// instead of being built here; the fields above are the builder's.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from_cache: Option<CacheOrigin>,
}

/// Where a version taken from a shared build cache came from (docs/test-results.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheOrigin {
    /// The cache entry's manifest: `REGISTRY/REPO@sha256:HEX`.
    pub reference: String,
    /// The version number it had in the store that built it (its signatures name that one).
    pub version: u32,
    /// When it was taken, RFC 3339, UTC.
    pub fetched_at: String,
}

/// One more platform's binary and its tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlatformRecord {
    /// "linux/arm64"
    pub target: String,
    /// Relative to the version dir: "linux-arm64/go-id".
    pub path: String,
    pub binary: BinaryRecord,
    /// "passed", "failed" or "skipped" (no emulator to run it here).
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub skipped_reason: Option<String>,
    /// The emulator the tests ran through ("qemu-aarch64-static").
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub runner: Option<String>,
    pub build_duration_ms: u64,
    pub test_duration_ms: u64,
    pub tests: Vec<TestCase>,
    pub passed: usize,
    pub failed: usize,
    pub total: usize,
}

/// One platform of a version, primary or not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlatformView {
    pub target: String,
    /// Relative to the version dir.
    pub path: String,
    pub arch: String,
    pub sha256: String,
    pub size: u64,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped_reason: Option<String>,
}

impl TestResults {
    pub fn all_passed(&self) -> bool {
        self.status == "passed"
            && self.failed == 0
            && self.total > 0
            && self.platforms.iter().all(|p| p.status != "failed")
    }

    /// Every platform, the primary first.
    pub fn all_platforms(&self) -> Vec<PlatformView> {
        let mut v = vec![PlatformView {
            target: self.target.clone(),
            path: self.binary.name.clone(),
            arch: self.binary.arch.clone(),
            sha256: self.binary.sha256.clone(),
            size: self.binary.size,
            status: self.status.clone(),
            skipped_reason: None,
        }];
        v.extend(self.platforms.iter().map(|p| PlatformView {
            target: p.target.clone(),
            path: p.path.clone(),
            arch: p.binary.arch.clone(),
            sha256: p.binary.sha256.clone(),
            size: p.binary.size,
            status: p.status.clone(),
            skipped_reason: p.skipped_reason.clone(),
        }));
        v
    }
}

/// Where the source came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitRecord {
    /// Full commit id, or null outside git.
    pub commit: Option<String>,
    /// Short commit id, or "unknown".
    pub short: String,
    /// RFC 3339 commit time.
    pub commit_time: Option<String>,
    /// Uncommitted changes under the source dir were built.
    pub dirty: bool,
}

/// The stored binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinaryRecord {
    pub name: String,
    pub size: u64,
    pub sha256: String,
    #[serde(rename = "static")]
    pub is_static: bool,
    pub arch: String,
    pub pie: bool,
    pub stripped: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub interpreter: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub needed: Vec<String>,
}

pub use binship_oci::rfc3339;

/// Now, RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    rfc3339(time::OffsetDateTime::now_utc().unix_timestamp())
}
