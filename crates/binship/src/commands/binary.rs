//! `binship push-binary APP[:N] REGISTRY/REPO[:TAG]` and `binship pull-binary
//! REGISTRY/REPO[:TAG]`: a stored version as an OCI artifact in a registry, and back into the
//! store (same layout, every file verified by digest, admitted by rename).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use binship_pipeline::ErrorClass;
use binship_registry::artifact::{self, ArtifactFile, BinaryArtifact};
use binship_registry::{push, Puller, PushOptions, Reference};
use binship_store::Store;
use serde_json::json;

use crate::commands::push::{known_repos, record, report, RegistryFlags};
use crate::exit;
use crate::output::{display_path, error};
use crate::progress::BlobBars;
use binship_lifecycle::app_version;

/// Files of a version that are not pushed: local state about where it was published.
const LOCAL_ONLY: &[&str] = &["publications.json"];

type Failure = (ErrorClass, String);

fn sha256_file(path: &std::path::Path) -> std::io::Result<(String, u64)> {
    binship_oci::sha256_file(path).map(|(d, n)| (d.into(), n))
}

/// The version's files and annotations.
fn artifact_of(store: &Store, app: &str, version: u32) -> Result<BinaryArtifact, Failure> {
    let dir = store.version_dir(app, version);
    let rec = store
        .record(app, version)
        .map_err(|e| (ErrorClass::NotFound, e.to_string()))?;
    let io = |p: &std::path::Path, e: std::io::Error| {
        (ErrorClass::Other, format!("reading {}: {e}", p.display()))
    };
    let mut files = Vec::new();
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
    Ok(BinaryArtifact { files, annotations })
}

pub fn push_binary(
    store: &Store,
    json_mode: bool,
    app: &str,
    reference: &str,
    flags: &RegistryFlags,
) -> i32 {
    let fail = |(class, m): Failure| {
        error(json_mode, exit::name(class), &m, json!({}));
        exit::code(class)
    };
    let (name, version) = match app_version(store, app) {
        Ok(v) => v,
        Err(f) => return fail(f),
    };
    let to = match Reference::parse(reference, &format!("v.{version}")) {
        Ok(r) => r,
        Err(e) => return fail((ErrorClass::Usage, e.to_string())),
    };
    let art = match artifact_of(store, &name, version) {
        Ok(a) => a,
        Err(f) => return fail(f),
    };
    let (manifest, blobs) = art.manifest(&store.version_dir(&name, version));
    let bars = BlobBars::new(!json_mode, "uploading");
    let opts = PushOptions {
        insecure: flags.insecure,
        chunk_size: flags.chunk_size,
        mount_from: known_repos(store, &name, &to, &flags.mount_from),
        progress: Some(&bars),
        retry: None,
    };
    match push(
        &to,
        &manifest,
        binship_oci::media_type::MANIFEST,
        &blobs,
        &opts,
    ) {
        Ok(p) => {
            record(store, &name, version, &p, "binary");
            report(json_mode, &name, version, &p, "binary");
            exit::OK
        }
        Err(e) => fail((ErrorClass::Other, e.to_string())),
    }
}

pub fn pull_binary(store: &Store, json_mode: bool, reference: &str, insecure: bool) -> i32 {
    let fail = |(class, m): Failure| {
        error(json_mode, exit::name(class), &m, json!({}));
        exit::code(class)
    };
    match pull(store, json_mode, reference, insecure) {
        Ok(code) => code,
        Err(f) => fail(f),
    }
}

fn pull(store: &Store, json_mode: bool, reference: &str, insecure: bool) -> Result<i32, Failure> {
    let other = |e: binship_registry::RegistryError| (ErrorClass::Other, e.to_string());
    let tagless = reference
        .rsplit_once(':')
        .is_none_or(|(_, t)| t.contains('/'));
    let from =
        Reference::parse(reference, "latest").map_err(|e| (ErrorClass::Usage, e.to_string()))?;
    let mut puller = Puller::open(&from, insecure, None).map_err(other)?;
    let from = if tagless {
        // No tag: the highest v.N.
        let tags = puller.tags().map_err(other)?;
        let best = tags
            .iter()
            .filter_map(|t| binship_registry::version_of_tag(t).map(|n| (n, t)))
            .max()
            .ok_or_else(|| {
                (
                    ErrorClass::NotFound,
                    format!("{} has no v.N tags", from.repo()),
                )
            })?;
        from.with_tag(best.1)
    } else {
        from
    };
    let (bytes, _media, digest) = puller.manifest(&from.tag).map_err(other)?;
    let what = from.to_string();
    let art = BinaryArtifact::parse(&what, &bytes).map_err(other)?;
    let bad = |m: String| (ErrorClass::Usage, format!("{what}: {m}"));
    let app = art
        .annotations
        .get(artifact::APP)
        .ok_or_else(|| bad(format!("no {} annotation", artifact::APP)))?
        .clone();
    binship_recipe::validate_app_name(&app).map_err(&bad)?;
    let version: u32 = art
        .annotations
        .get(artifact::VERSION)
        .and_then(|v| v.parse().ok())
        .filter(|&v| v > 0)
        .ok_or_else(|| bad(format!("no valid {} annotation", artifact::VERSION)))?;
    let lock = store
        .lock(&app, || {
            eprintln!("waiting for another binship working on {app}...")
        })
        .map_err(|e| (ErrorClass::Other, e.to_string()))?;
    let dest = store.version_dir(&app, version);
    if dest.exists() {
        // Identical: nothing to do. Different: refuse (the store's versions are immutable).
        for f in &art.files {
            let same = sha256_file(&dest.join(&f.name))
                .map(|(d, n)| d == f.digest && n == f.size)
                .unwrap_or(false);
            if !same {
                return Err((
                    ErrorClass::Conflict,
                    format!(
                        "{} already holds v.{version} and its {} differs from {what}",
                        display_path(&dest).display(),
                        f.name
                    ),
                ));
            }
        }
        emit(json_mode, "unchanged", &app, version, &dest, &digest, &what);
        return Ok(exit::OK);
    }
    let staging = store
        .stage(&lock)
        .map_err(|e| (ErrorClass::Other, e.to_string()))?;
    let bars = BlobBars::new(!json_mode, "downloading");
    for (path, f) in art.paths(staging.path()) {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| (ErrorClass::Other, format!("{}: {e}", parent.display())))?;
        }
        binship_registry::Progress::start(&bars, &f.digest, f.size);
        puller
            .blob_to(&f.digest, f.size, &path, &bars)
            .map_err(other)?;
        binship_registry::Progress::done(&bars, &f.digest, binship_registry::BlobOutcome::Uploaded);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(f.mode))
            .map_err(|e| (ErrorClass::Other, format!("{}: {e}", path.display())))?;
    }
    // The record must describe what arrived.
    let rec_path = staging.path().join("test-results.json");
    let rec: binship_store::record::TestResults = std::fs::read(&rec_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| bad("holds no readable test-results.json".into()))?;
    if rec.app != app || rec.version != version {
        return Err(bad(format!(
            "test-results.json is for {} v.{}, the annotations say {app} v.{version}",
            rec.app, rec.version
        )));
    }
    for p in rec.all_platforms() {
        let bin = art
            .files
            .iter()
            .find(|f| f.name == p.path)
            .ok_or_else(|| bad(format!("holds no binary `{}` ({})", p.path, p.target)))?;
        if bin.digest != format!("sha256:{}", p.sha256) {
            return Err(bad(format!(
                "binary {} has digest {}, but test-results.json records sha256:{}",
                bin.name, bin.digest, p.sha256
            )));
        }
    }
    let path = store
        .admit_as_is(&lock, staging, version, false)
        .map_err(|e| (ErrorClass::Other, e.to_string()))?;
    emit(json_mode, "pulled", &app, version, &path, &digest, &what);
    Ok(exit::OK)
}

fn emit(
    json_mode: bool,
    status: &str,
    app: &str,
    version: u32,
    path: &std::path::Path,
    digest: &str,
    from: &str,
) {
    if json_mode {
        crate::output::json(&json!({
            "status": status, "app": app, "version": version,
            "path": path, "manifest_digest": digest, "from": from,
        }));
    } else if status == "unchanged" {
        println!(
            "✓ Up to date: {} (identical to {from})",
            display_path(path).display()
        );
    } else {
        println!(
            "✓ Pulled: {} from {from} ({digest})",
            display_path(path).display()
        );
    }
}
