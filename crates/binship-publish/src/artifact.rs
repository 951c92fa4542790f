//! A stored version as an OCI artifact (image-spec v1.1 "Guidelines for artifact usage":
//! `artifactType` application/vnd.binship.binary.v1, one layer per file, annotations for app,
//! version and tests): [`push_binary`] sends it to a registry, [`pull_binary`] brings it back
//! into the store (every file verified by digest, the version admitted by rename).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use binship_registry::artifact::{self, ArtifactFile, BinaryArtifact};
use binship_registry::{push, Progress, Puller, Pushed, Reference};
use binship_store::Store;

use crate::push::{record, RegistryOptions};
use crate::{ErrorClass, PublishError, Result};

/// Files of a version that are not pushed: local state about where it was published.
const LOCAL_ONLY: &[&str] = &["publications.json"];

fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    binship_oci::sha256_file(path).map(|(d, n)| (d.into(), n))
}

fn io(p: &Path, e: std::io::Error) -> PublishError {
    PublishError::other(format!("reading {}: {e}", p.display()))
}

/// The version's files and annotations.
fn artifact_of(store: &Store, app: &str, version: u32) -> Result<BinaryArtifact> {
    let dir = store.version_dir(app, version);
    let rec = store
        .record(app, version)
        .map_err(|e| PublishError::new(ErrorClass::NotFound, e.to_string()))?;
    // The version's files, and the other platforms' binaries (`linux-arm64/go-id`).
    let mut names: Vec<String> = Vec::new();
    for e in std::fs::read_dir(&dir)
        .map_err(|e| io(&dir, e))?
        .filter_map(|e| e.ok())
    {
        let name = e.file_name().to_string_lossy().to_string();
        let meta = e.metadata().map_err(|x| io(&e.path(), x))?;
        if meta.is_file() && !name.starts_with('.') && !LOCAL_ONLY.contains(&name.as_str()) {
            names.push(name);
        }
    }
    names.extend(rec.platforms.iter().map(|p| p.path.clone()));
    names.sort();
    let mut files = Vec::new();
    for name in names {
        let path = dir.join(&name);
        let meta = std::fs::metadata(&path).map_err(|x| io(&path, x))?;
        let (digest, size) = sha256_file(&path).map_err(|x| io(&path, x))?;
        let is_binary = name == rec.binary.name || rec.platforms.iter().any(|p| p.path == name);
        files.push(ArtifactFile {
            media_type: artifact::media_type_for(&name, is_binary).into(),
            mode: meta.permissions().mode() & 0o755,
            name,
            digest,
            size,
        });
    }
    let mut annotations = BTreeMap::from([
        (artifact::APP.to_string(), app.to_string()),
        (artifact::VERSION.to_string(), version.to_string()),
        (
            artifact::TESTS.to_string(),
            format!("{}/{} {}", rec.passed, rec.total, rec.status),
        ),
        (
            "org.opencontainers.image.created".to_string(),
            rec.built_at.clone(),
        ),
        ("dev.binship.target".to_string(), rec.target.clone()),
    ]);
    if let Some(c) = &rec.git.commit {
        annotations.insert(artifact::REVISION.to_string(), c.clone());
    }
    annotations.insert(artifact::CACHE_KEY.to_string(), rec.cache_key.clone());
    if let Some(h) = &rec.built_on {
        annotations.insert(artifact::BUILT_ON.to_string(), h.clone());
    }
    Ok(BinaryArtifact { files, annotations })
}

/// The manifest and blobs of `app` v.`version` as an artifact ([`BinaryArtifact::manifest`]).
///
/// # Errors
/// Not found: no such version. Other: a file cannot be read.
pub fn manifest_of(
    store: &Store,
    app: &str,
    version: u32,
) -> Result<(BinaryArtifact, Vec<u8>, Vec<binship_registry::Blob>)> {
    let art = artifact_of(store, app, version)?;
    let (manifest, blobs) = art.manifest(&store.version_dir(app, version));
    Ok((art, manifest, blobs))
}

/// Downloads every file of `art` into `dir`, each checked against its digest and size, with
/// its mode.
///
/// # Errors
/// A one-line message: a download failed or did not match its digest, or a file could not be
/// written.
pub fn download(
    puller: &mut Puller,
    art: &BinaryArtifact,
    dir: &Path,
    progress: &dyn Progress,
) -> std::result::Result<(), String> {
    for (path, f) in art.paths(dir) {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        progress.start(&f.digest, f.size);
        puller
            .blob_to(&f.digest, f.size, &path, progress)
            .map_err(|e| e.to_string())?;
        progress.done(&f.digest, binship_registry::BlobOutcome::Uploaded);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(f.mode))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Checks that the record downloaded into `dir` describes `art`: test-results.json is for the
/// annotations' app and version, and every binary it names is there with its sha256.
/// Returns the record.
///
/// # Errors
/// A one-line message (the caller names the reference).
pub fn check_record(
    art: &BinaryArtifact,
    dir: &Path,
) -> std::result::Result<binship_store::record::TestResults, String> {
    let app = art
        .annotations
        .get(artifact::APP)
        .cloned()
        .unwrap_or_default();
    let version: u32 = art
        .annotations
        .get(artifact::VERSION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let rec: binship_store::record::TestResults = std::fs::read(dir.join("test-results.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("holds no readable test-results.json")?;
    if rec.app != app || rec.version != version {
        return Err(format!(
            "test-results.json is for {} v.{}, the annotations say {app} v.{version}",
            rec.app, rec.version
        ));
    }
    for p in rec.all_platforms() {
        let bin = art
            .files
            .iter()
            .find(|f| f.name == p.path)
            .ok_or_else(|| format!("holds no binary `{}` ({})", p.path, p.target))?;
        if bin.digest != format!("sha256:{}", p.sha256) {
            return Err(format!(
                "binary {} has digest {}, but test-results.json records sha256:{}",
                bin.name, bin.digest, p.sha256
            ));
        }
    }
    Ok(rec)
}

/// Pushes `app` v.`version` to `to` as an artifact and records the publication; returns the
/// push and a warning when the record failed.
///
/// # Errors
/// Not found: no such version. Other: a file cannot be read, or the registry refuses.
pub fn push_binary(
    store: &Store,
    app: &str,
    version: u32,
    to: &Reference,
    registry: &RegistryOptions,
    progress: Option<&dyn Progress>,
) -> Result<(Pushed, Option<String>)> {
    let (_, manifest, blobs) = manifest_of(store, app, version)?;
    let opts = registry.push_options(store, app, to, progress);
    let p = push(
        to,
        &manifest,
        binship_oci::media_type::MANIFEST,
        &blobs,
        &opts,
    )
    .map_err(PublishError::other)?;
    let warning = record(store, app, version, &p, "binary").err();
    Ok((p, warning))
}

/// What [`pull_binary`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pulled {
    /// "pulled", or "unchanged" when the store already held the same files.
    pub status: &'static str,
    pub app: String,
    pub version: u32,
    /// The version's directory in the store.
    pub path: PathBuf,
    pub manifest_digest: String,
    /// The reference pulled from (with the tag chosen when none was given).
    pub from: String,
}

/// Pulls the artifact at `reference` (no tag: the highest `v.N`) into the store.
///
/// # Errors
/// Usage: a bad reference, or an artifact whose annotations or test-results.json do not
/// describe its files. Not found: no `v.N` tags. Conflict: the store holds that version with
/// other files. Other: the registry or the store.
pub fn pull_binary(
    store: &Store,
    reference: &str,
    insecure: bool,
    progress: &dyn Progress,
) -> Result<Pulled> {
    let tagless = reference
        .rsplit_once(':')
        .is_none_or(|(_, t)| t.contains('/'));
    let from = Reference::parse(reference, "latest")
        .map_err(|e| PublishError::new(ErrorClass::Usage, e.to_string()))?;
    let mut puller = Puller::open(&from, insecure, None).map_err(PublishError::other)?;
    let from = if tagless {
        // No tag: the highest v.N.
        let tags = puller.tags().map_err(PublishError::other)?;
        let best = tags
            .iter()
            .filter_map(|t| binship_registry::version_of_tag(t).map(|n| (n, t)))
            .max()
            .ok_or_else(|| {
                PublishError::new(
                    ErrorClass::NotFound,
                    format!("{} has no v.N tags", from.repo()),
                )
            })?;
        from.with_tag(best.1)
    } else {
        from
    };
    let (bytes, _media, digest) = puller.manifest(&from.tag).map_err(PublishError::registry)?;
    let what = from.to_string();
    let art = BinaryArtifact::parse(&what, &bytes).map_err(PublishError::other)?;
    let bad = |m: String| PublishError::new(ErrorClass::Usage, format!("{what}: {m}"));
    let app = art
        .annotations
        .get(artifact::APP)
        .ok_or_else(|| bad(format!("no {} annotation", artifact::APP)))?
        .clone();
    binship_recipe::validate_app_name(&app).map_err(|e| bad(e.0))?;
    let version: u32 = art
        .annotations
        .get(artifact::VERSION)
        .and_then(|v| v.parse().ok())
        .filter(|&v| v > 0)
        .ok_or_else(|| bad(format!("no valid {} annotation", artifact::VERSION)))?;
    let answer = |status, path| Pulled {
        status,
        app: app.clone(),
        version,
        path,
        manifest_digest: digest.clone(),
        from: what.clone(),
    };
    let lock = store.lock(&app, || {}).map_err(PublishError::other)?;
    let dest = store.version_dir(&app, version);
    if dest.exists() {
        // Identical: nothing to do. Different: refuse (the store's versions are immutable).
        for f in &art.files {
            let same = sha256_file(&dest.join(&f.name))
                .map(|(d, n)| d == f.digest && n == f.size)
                .unwrap_or(false);
            if !same {
                return Err(PublishError::new(
                    ErrorClass::Conflict,
                    format!(
                        "{} already holds v.{version} and its {} differs from {what}",
                        binship_store::display_path(&dest).display(),
                        f.name
                    ),
                ));
            }
        }
        return Ok(answer("unchanged", dest));
    }
    let staging = store.stage(&lock).map_err(PublishError::other)?;
    download(&mut puller, &art, staging.path(), progress).map_err(PublishError::other)?;
    check_record(&art, staging.path()).map_err(bad)?;
    let path = store
        .admit_as_is(&lock, staging, version, false)
        .map_err(PublishError::other)?;
    Ok(answer("pulled", path))
}
