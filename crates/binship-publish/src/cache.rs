//! A shared build cache in an OCI registry (docs/recipe.md "Shared cache", docs/scaling.md):
//! [`RegistryCache`] looks a build's cache key up as the tag `cache-<key>` of one repository,
//! pulls the version stored there (binship's binary artifact, [`crate::artifact`]) and refuses
//! poisoned entries; [`RegistryCache::publish`] pushes a version built here under its key,
//! never over another entry.

use std::path::{Path, PathBuf};

use binship_pipeline::cache::{CacheFailure, RemoteCache};
use binship_pipeline::ErrorClass;
use binship_registry::artifact::{self, BinaryArtifact};
use binship_registry::{push, Puller, PushOptions, Reference};
use binship_store::record::{now_rfc3339, CacheOrigin};
use binship_store::Store;

use crate::{PublishError, Result};

/// The environment variable that names the cache (`REGISTRY/REPO`) for every app, over the
/// recipe's `[cache] registry`; `off` turns the cache off.
pub const ENV: &str = "BINSHIP_CACHE";

/// The tag a cache key is stored under (OCI distribution spec: a tag is at most 128
/// characters of `[a-zA-Z0-9_.-]`).
pub fn tag_for(key: &str) -> String {
    format!("cache-{key}")
}

/// One repository used as the cache, with the recipe's `[cache]` settings.
#[derive(Debug, Clone)]
pub struct RegistryCache {
    /// The repository (its tag is not used).
    pub repo: Reference,
    /// Publish versions built here.
    pub push: bool,
    /// Take only entries signed by `public_key`.
    pub require_signed: bool,
    /// The minisign public key for `require_signed` (None: binship's default public key).
    pub public_key: Option<PathBuf>,
    pub insecure: bool,
}

impl RegistryCache {
    /// The cache `app`'s recipe names (`[cache]`), with `$BINSHIP_CACHE` over its registry;
    /// None when no registry is named or the variable says `off`.
    ///
    /// # Errors
    /// Usage: the recipe cannot be read, or the registry is not `REGISTRY/REPO` (the message
    /// names the recipe file or the variable).
    pub fn for_app(store: &Store, app: &str) -> Result<Option<RegistryCache>> {
        let path = store.recipe_path(app);
        let recipe = binship_recipe::Recipe::load(&path)
            .map_err(|e| PublishError::new(ErrorClass::Usage, e.to_string()))?;
        let c = &recipe.cache;
        let (registry, from) = match std::env::var(ENV) {
            Ok(v) if v.trim().eq_ignore_ascii_case("off") => return Ok(None),
            Ok(v) if !v.trim().is_empty() => (v.trim().to_string(), format!("${ENV}")),
            _ => match &c.registry {
                Some(r) => (r.clone(), format!("{}: cache.registry", path.display())),
                None => return Ok(None),
            },
        };
        let repo = parse_repo(&registry).map_err(|m| {
            PublishError::new(ErrorClass::Usage, format!("{from}: `{registry}` {m}"))
        })?;
        Ok(Some(RegistryCache {
            repo,
            push: c.push,
            require_signed: c.require_signed,
            public_key: c.public_key.as_ref().map(|k| {
                if k.is_relative() {
                    path.parent().unwrap_or(Path::new(".")).join(k)
                } else {
                    k.clone()
                }
            }),
            insecure: c.insecure,
        }))
    }

    /// `REGISTRY/REPO:cache-<key>`.
    pub fn entry(&self, key: &str) -> Reference {
        self.repo.with_tag(&tag_for(key))
    }

    fn puller(&self) -> std::result::Result<Puller, CacheFailure> {
        Puller::open(&self.repo, self.insecure, None).map_err(|e| CacheFailure {
            class: ErrorClass::Other,
            message: format!("{} is unreachable: {e}", self.repo.repo()),
        })
    }

    /// Pushes `app` v.`version` under its cache key, unless the cache holds that key already:
    /// the same files make it "present", other files (another runner built the same key at
    /// the same time, or a build that is not reproducible) are kept and reported as "raced".
    /// A version taken from the cache, or whose tests did not pass, is not pushed.
    ///
    /// # Errors
    /// Not found: no such version. Other: the registry (the build itself stands).
    pub fn publish(&self, store: &Store, app: &str, version: u32) -> Result<CachePublished> {
        let rec = store
            .record(app, version)
            .map_err(|e| PublishError::new(ErrorClass::NotFound, e.to_string()))?;
        let to = self.entry(&rec.cache_key);
        let answer = |status, digest: String, note: Option<String>| CachePublished {
            status,
            reference: to.to_string(),
            manifest_digest: digest,
            bytes_uploaded: 0,
            note,
        };
        if rec.from_cache.is_some() {
            return Ok(answer("from-cache", String::new(), None));
        }
        if !rec.all_passed() {
            return Ok(answer(
                "not-pushed",
                String::new(),
                Some(format!("{app} v.{version}: tests did not pass here")),
            ));
        }
        let (art, manifest, blobs) = crate::artifact::manifest_of(store, app, version)?;
        // Check before the tag is written: an entry is never replaced.
        let mut puller =
            Puller::open(&self.repo, self.insecure, None).map_err(PublishError::registry)?;
        if let Some((bytes, _, digest)) = puller
            .manifest_opt(&to.tag)
            .map_err(PublishError::registry)?
        {
            let theirs = BinaryArtifact::parse(&to.to_string(), &bytes).ok();
            let same = theirs.as_ref().is_some_and(|t| {
                let files = |a: &BinaryArtifact| {
                    a.files
                        .iter()
                        .filter(|f| f.name == rec.binary.name)
                        .map(|f| f.digest.clone())
                        .collect::<Vec<_>>()
                };
                files(t) == files(&art)
            });
            // The same binary unsigned there and signed here: the signed entry replaces it
            // (a cache with require_signed would refuse the unsigned one for good).
            let signatures = |a: &BinaryArtifact| {
                a.files
                    .iter()
                    .filter(|f| f.name.ends_with(".minisig"))
                    .count()
            };
            let adds_signatures = theirs
                .as_ref()
                .is_some_and(|t| signatures(t) == 0 && signatures(&art) > 0);
            if same && !adds_signatures {
                return Ok(answer("present", digest, None));
            }
            if !same {
                let host = theirs
                    .as_ref()
                    .and_then(|t| t.annotations.get(artifact::BUILT_ON).cloned())
                    .unwrap_or_else(|| "another host".into());
                return Ok(answer(
                "raced",
                digest.clone(),
                Some(format!(
                    "{} already holds key {} as {digest} (built on {host}) with another binary; kept it, not overwritten",
                    self.repo.repo(),
                    short(&rec.cache_key)
                )),
            ));
            }
        }
        let opts = PushOptions {
            insecure: self.insecure,
            ..PushOptions::default()
        };
        let p = push(
            &to,
            &manifest,
            binship_oci::media_type::MANIFEST,
            &blobs,
            &opts,
        )
        .map_err(PublishError::other)?;
        Ok(CachePublished {
            bytes_uploaded: p.bytes_uploaded,
            ..answer("pushed", p.manifest_digest, None)
        })
    }
}

/// What [`RegistryCache::publish`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CachePublished {
    /// "pushed", "present" (the same entry was there), "raced" (another entry was there and is
    /// kept), "from-cache" or "not-pushed" (nothing to publish).
    pub status: &'static str,
    /// `REGISTRY/REPO:cache-<key>`.
    pub reference: String,
    /// The entry's manifest digest (empty when nothing was looked up).
    pub manifest_digest: String,
    /// Blob bytes sent (blobs the registry had are not sent again).
    pub bytes_uploaded: u64,
    /// Why, for "raced" and "not-pushed".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `90` -> "90s", `7200` -> "2h", `604800` -> "7d" (the largest unit that divides it).
pub fn human_age(secs: u64) -> String {
    match secs {
        0 => "0s".into(),
        s if s % 86400 == 0 => format!("{}d", s / 86400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Parses an age: a number with `s`, `m`, `h` or `d` ("30d", "12h").
///
/// # Errors
/// Usage: anything else.
pub fn parse_age(s: &str) -> Result<std::time::Duration> {
    let t = s.trim();
    let unit = match t.chars().last() {
        Some('s') => 1,
        Some('m') => 60,
        Some('h') => 3600,
        Some('d') => 86400,
        _ => 0,
    };
    let n: Option<u64> = t
        .get(..t.len().saturating_sub(1))
        .and_then(|n| n.parse().ok());
    match n {
        // At most 100 years: a larger age would overflow the clock arithmetic.
        Some(n) if unit > 0 && n.checked_mul(unit).is_some_and(|s| s <= 100 * 365 * 86400) => {
            Ok(std::time::Duration::from_secs(n * unit))
        }
        Some(_) if unit > 0 => Err(PublishError::new(
            ErrorClass::Usage,
            format!("--older-than: `{s}` is more than 100 years"),
        )),
        _ => Err(PublishError::new(
            ErrorClass::Usage,
            format!("--older-than: `{s}` is not an age such as 30d, 12h, 45m or 90s"),
        )),
    }
}

/// The most files a cache entry may hold (binaries, signatures, records, SBOMs).
const MAX_ENTRY_FILES: usize = 64;

/// Reports no download progress (a cache fetch is one step of a build).
struct Quiet;
impl binship_registry::Progress for Quiet {}

/// The first 12 hex digits of a key, for messages.
fn short(key: &str) -> &str {
    &key[..key.len().min(12)]
}

/// `REGISTRY/REPO` (no tag, no digest) as a reference, or what is wrong with it.
fn parse_repo(s: &str) -> std::result::Result<Reference, String> {
    if !s.contains('/') {
        return Err("names a registry without a repository; give REGISTRY/REPO".into());
    }
    if s.contains('@') || s.rsplit('/').next().is_some_and(|last| last.contains(':')) {
        return Err("names a tag or digest; give REGISTRY/REPO".into());
    }
    Reference::parse(s, "latest").map_err(|e| format!("is not REGISTRY/REPO: {}", e.problem))
}

impl RemoteCache for RegistryCache {
    fn name(&self) -> String {
        self.repo.repo()
    }

    fn fetch(
        &self,
        app: &str,
        key: &str,
        dir: &Path,
        cancel: &binship_pipeline::cache::Cancel,
    ) -> std::result::Result<CacheOrigin, CacheFailure> {
        let repo = self.repo.repo();
        let mut puller = self.puller()?;
        puller.stop_on(cancel.flag());
        let tag = tag_for(key);
        let (bytes, _media, digest) = match puller.manifest_opt(&tag) {
            Ok(Some(m)) => m,
            Ok(None) => {
                return Err(CacheFailure {
                    class: ErrorClass::NotFound,
                    message: format!("{repo} has no entry for {app} with key {}", short(key)),
                })
            }
            Err(e) => {
                return Err(CacheFailure {
                    class: ErrorClass::Other,
                    message: format!("{repo}: {e}"),
                })
            }
        };
        let refused = |m: String| CacheFailure {
            class: ErrorClass::VerifyFailed,
            message: format!("refused {repo}@{digest}: {m}"),
        };
        let art = BinaryArtifact::parse(&format!("{repo}:{tag}"), &bytes)
            .map_err(|e| refused(e.to_string()))?;
        let said = |k: &str| art.annotations.get(k).map(String::as_str).unwrap_or("");
        if said(artifact::CACHE_KEY) != key {
            return Err(refused(format!(
                "its {} annotation is `{}`, not the key {} it is tagged with",
                artifact::CACHE_KEY,
                said(artifact::CACHE_KEY),
                short(key)
            )));
        }
        if said(artifact::APP) != app {
            return Err(refused(format!(
                "it is for {}, not {app}",
                said(artifact::APP)
            )));
        }
        // A version is a binary per platform and a few records beside it.
        if art.files.len() > MAX_ENTRY_FILES {
            return Err(refused(format!(
                "it holds {} files; a cache entry has at most {MAX_ENTRY_FILES}",
                art.files.len()
            )));
        }
        crate::artifact::download(&mut puller, &art, dir, &Quiet).map_err(refused)?;
        let rec = crate::artifact::check_record(&art, dir).map_err(refused)?;
        // The binaries are what the record says: ELF for its arch, static when it says so.
        for p in rec.all_platforms() {
            let path = dir.join(&p.path);
            let bytes = std::fs::read(&path).map_err(|e| refused(format!("{}: {e}", p.path)))?;
            let info = binship_build::elf::inspect(&path, &bytes)
                .map_err(|e| refused(format!("{}: {}", p.path, unstage(&e.to_string(), dir))))?;
            let static_said = p.path != rec.binary.name || rec.binary.is_static == info.is_static;
            if info.arch != p.arch || !static_said {
                return Err(refused(format!(
                    "{} is a {} {} binary, but test-results.json records {} {}",
                    p.path,
                    info.arch,
                    if info.is_static { "static" } else { "dynamic" },
                    p.arch,
                    if rec.binary.is_static {
                        "static"
                    } else {
                        "dynamic"
                    },
                )));
            }
        }
        if rec.cache_key != key {
            return Err(refused(format!(
                "its test-results.json has key {}, not {}",
                short(&rec.cache_key),
                short(key)
            )));
        }
        if !rec.all_passed() {
            return Err(refused(format!(
                "its recorded tests did not pass ({}/{} {})",
                rec.passed, rec.total, rec.status
            )));
        }
        if self.require_signed {
            self.check_signatures(dir, &rec).map_err(refused)?;
        }
        Ok(CacheOrigin {
            reference: format!("{repo}@{digest}"),
            version: rec.version,
            fetched_at: now_rfc3339(),
        })
    }
}

impl RegistryCache {
    /// `require_signed`: every binary's and the record's minisign signature holds under the
    /// cache's public key, each binary's naming its app, version and sha256.
    fn check_signatures(
        &self,
        dir: &Path,
        rec: &binship_store::record::TestResults,
    ) -> std::result::Result<(), String> {
        let pk_path = crate::verify::public_key_path(self.public_key.as_deref());
        let pk = binship_sign::keys::load_public(&pk_path).map_err(|e| e.to_string())?;
        let unsigned = |name: &str| {
            format!(
                "require_signed: the entry has no signature for {name} ({name}.minisig; the builder signs with binship build --sign)"
            )
        };
        for p in rec.all_platforms() {
            let bin = dir.join(&p.path);
            if !binship_sign::sign::sig_path(&bin).exists() {
                return Err(unsigned(&p.path));
            }
            let data = std::fs::read(&bin).map_err(|e| format!("{}: {e}", p.path))?;
            crate::verify::binary_signature(&pk, &bin, &data, &p, &rec.app, rec.version)
                .map_err(|m| format!("require_signed: {}", unstage(&m, dir)))?;
        }
        if !binship_sign::sign::sig_path(&dir.join("test-results.json")).exists() {
            return Err(unsigned("test-results.json"));
        }
        binship_sign::sign::verify_file(&pk, &dir.join("test-results.json"))
            .map_err(|e| format!("require_signed: {}", unstage(&e.to_string(), dir)))?;
        Ok(())
    }
}

/// `s` as one line of plain text: control characters (a newline in an annotation would forge
/// a row of output) are escaped.
fn printable(s: &str) -> String {
    if s.chars().any(char::is_control) {
        s.chars()
            .flat_map(|c| {
                if c.is_control() {
                    c.escape_default().collect::<Vec<_>>()
                } else {
                    vec![c]
                }
            })
            .collect()
    } else {
        s.to_string()
    }
}

/// A message about a file in the staging dir, with the dir left out.
fn unstage(m: &str, dir: &Path) -> String {
    m.replace(
        &format!("{}/", binship_store::display_path(dir).display()),
        "",
    )
    .replace(&format!("{}/", dir.display()), "")
}

/// One entry of a shared cache, as [`gc`] judges it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CacheEntry {
    /// `cache-<key>`.
    pub tag: String,
    pub app: String,
    pub manifest_digest: String,
    /// When its version was built (the manifest's `org.opencontainers.image.created`).
    pub created: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub built_on: Option<String>,
    /// Why it stays ("APP v.N here has its key", "younger than 30d"); none: it goes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
}

/// What [`gc`] found in one cache repository.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CacheGc {
    /// `REGISTRY/REPO`.
    pub cache: String,
    pub entries: Vec<CacheEntry>,
    /// The manifest digests deleted (with `apply`), or that would be (a dry run).
    pub removed: Vec<String>,
}

/// Lists the entries of every cache this store's recipes name (and `$BINSHIP_CACHE`) and
/// removes, with `apply`, those that no local version's cache key names and that are older
/// than `min_age` (by their `created` annotation; an entry whose date is missing, unreadable or
/// more than a day ahead counts as old). An entry is a `cache-<key>` tag on a binship binary
/// artifact whose `dev.binship.cache-key` annotation is that key; any other tag is left alone,
/// and so is an entry whose manifest another tag also names. Removal deletes the manifest
/// through the registry API (OCI distribution spec, "Deleting manifests"); the registry frees
/// the blobs in its own garbage collection.
///
/// # Errors
/// Usage: a recipe's `[cache]` is bad. Other: a registry cannot be read, or refuses a delete
/// (distribution needs `storage.delete.enabled`).
pub fn gc(store: &Store, min_age: std::time::Duration, apply: bool) -> Result<Vec<CacheGc>> {
    // Every cache named, once; every local version's key, with the version that has it.
    let mut caches: Vec<RegistryCache> = Vec::new();
    let mut local = std::collections::BTreeMap::new();
    for app in store.apps().map_err(PublishError::other)? {
        if store.recipe_path(&app).is_file() {
            if let Some(c) = RegistryCache::for_app(store, &app)? {
                if !caches.iter().any(|k| k.repo.repo() == c.repo.repo()) {
                    caches.push(c);
                }
            }
        }
        for v in store.versions(&app).unwrap_or_default() {
            if let Ok(r) = store.record(&app, v) {
                local
                    .entry(r.cache_key)
                    .or_insert_with(|| format!("{app} v.{v} here has its key"));
            }
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut out = Vec::new();
    for c in caches {
        let mut puller = Puller::open(&c.repo, c.insecure, None).map_err(PublishError::registry)?;
        let mut found = CacheGc {
            cache: c.repo.repo(),
            entries: Vec::new(),
            removed: Vec::new(),
        };
        let tags = puller.tags().map_err(PublishError::registry)?;
        // Every tag's manifest digest: a manifest another tag names is not deleted.
        let mut manifests = Vec::new();
        for tag in tags {
            if let Some((bytes, _, digest)) =
                puller.manifest_opt(&tag).map_err(PublishError::registry)?
            {
                manifests.push((tag, bytes, digest));
            } // else: deleted meanwhile
        }
        for (tag, bytes, digest) in &manifests {
            let Some(key) = tag.strip_prefix("cache-") else {
                continue;
            };
            let m: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
            let said = |k: &str| m["annotations"][k].as_str().map(String::from);
            if m["artifactType"].as_str() != Some(artifact::ARTIFACT_TYPE)
                || said(artifact::CACHE_KEY).as_deref() != Some(key)
            {
                continue; // named like an entry, but not one of binship's
            }
            let created = said("org.opencontainers.image.created").unwrap_or_default();
            let age = binship_oci::parse_rfc3339(&created)
                .map(|t| now - t)
                .filter(|&a| a > -86400);
            let also = manifests
                .iter()
                .find(|(t, _, d)| d == digest && t != tag)
                .map(|(t, _, _)| format!("its manifest is also tagged {}", printable(t)));
            let kept = local.get(key).cloned().or(also).or_else(|| {
                age.filter(|&a| a < min_age.as_secs() as i64)
                    .map(|_| format!("younger than {}", human_age(min_age.as_secs())))
            });
            let (tag, digest) = (tag.clone(), digest.clone());
            let said = |k: &str| said(k).map(|v| printable(&v));
            let created = printable(&created);
            if kept.is_none() {
                if apply {
                    puller
                        .delete_manifest(&digest)
                        .map_err(PublishError::registry)?;
                }
                found.removed.push(digest.clone());
            }
            found.entries.push(CacheEntry {
                tag,
                app: said(artifact::APP).unwrap_or_default(),
                manifest_digest: digest,
                created,
                built_on: said(artifact::BUILT_ON),
                kept,
            });
        }
        out.push(found);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_settings_name_a_repository_and_ages_are_bounded() {
        assert_eq!(
            parse_repo("127.0.0.1:5000/team/cache").unwrap().repo(),
            "127.0.0.1:5000/team/cache"
        );
        assert!(parse_repo("127.0.0.1:5000")
            .unwrap_err()
            .contains("without a repository"));
        assert!(parse_repo("reg.example/x:v1")
            .unwrap_err()
            .contains("tag or digest"));
        assert!(parse_repo("reg.example/x@sha256:00")
            .unwrap_err()
            .contains("tag or digest"));
        assert_eq!(parse_age("7d").unwrap().as_secs(), 7 * 86400);
        assert_eq!(parse_age("90s").unwrap().as_secs(), 90);
        for bad in ["soon", "d", "-1d", "999999999999999d", "36501d"] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
        assert_eq!(human_age(604800), "7d");
        assert_eq!(printable("a\nb"), "a\\nb");
    }
}
