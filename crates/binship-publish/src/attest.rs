//! Attestations of a stored version as in-toto predicates, signed into DSSE envelopes with a
//! cosign key: [`provenance`] (SLSA provenance v1, slsa.dev/spec/v1.0/provenance), the SBOMs as
//! SPDX and CycloneDX predicates ([`predicates`] makes them when missing), attached to an image
//! as cosign's `.att` image and as OCI 1.1 referrers ([`image_attestations`], checked by
//! [`check_attestations`]) or
//! written beside a stored version's binaries ([`write_version_attestations`], checked by
//! [`verify_version_attestations`]).

use binship_sign::attest::{self, Subject};
use binship_sign::image::{self as att, Attachment, AttestationLayer};
use binship_store::record::TestResults;
use binship_store::Store;
use serde_json::{json, Value};

use crate::attach::Reader;
use crate::{ErrorClass, PublishError, Result};

/// The build type binship's provenance names (its `buildDefinition` schema: the recipe as
/// external parameters, the build command and cache key as internal ones).
pub const BUILD_TYPE: &str = "https://github.com/binship/binship/build-types/binary/v1";
/// The builder id: binship and its version.
pub fn builder_id() -> String {
    format!(
        "https://github.com/binship/binship@v{}",
        env!("CARGO_PKG_VERSION")
    )
}

/// The predicate types `--sign` attaches, in order.
pub const ATTACHED: [&str; 3] = [
    attest::SLSA_PROVENANCE_V1,
    attest::SPDX_DOCUMENT,
    attest::CYCLONEDX_BOM,
];

/// The sha256 (hex) of the file at `path`.
fn sha256_hex(path: &std::path::Path) -> Result<String> {
    binship_oci::sha256_file(path)
        .map(|(d, _)| d.hex().to_string())
        .map_err(|e| PublishError::other(format!("{}: {e}", path.display())))
}

fn record(store: &Store, app: &str, version: u32) -> Result<TestResults> {
    store
        .record(app, version)
        .map_err(|e| PublishError::new(ErrorClass::NotFound, e.to_string()))
}

/// SLSA provenance v1 of `app` v.`version`: the recipe (`binship.toml`, as JSON) and target as
/// external parameters; the build command and cache key as internal ones; the source commit
/// (`gitCommit`) and the toolchain as resolved dependencies; binship as the builder; the build's
/// start and end; `test-results.json` (its sha256, and the test summary) as a byproduct.
///
/// # Errors
/// Not found: no such version. Other: the recipe or the record cannot be read.
pub fn provenance(store: &Store, app: &str, version: u32) -> Result<Value> {
    provenance_of(store, app, version, &record(store, app, version)?)
}

fn provenance_of(store: &Store, app: &str, version: u32, rec: &TestResults) -> Result<Value> {
    let dir = store.version_dir(app, version);
    // The recipe as it was built (binship keeps a copy in the version dir); a version built
    // before that has none, and its provenance says so rather than name today's recipe.
    let copy = dir.join(binship_pipeline::RECIPE_COPY);
    let mut external = json!({ "app": app, "target": rec.target });
    if copy.is_file() {
        let recipe = binship_recipe::Recipe::load(&copy)
            .map(|r| serde_json::to_value(r).expect("json"))
            .map_err(|e| PublishError::other(e.to_string()))?;
        external["recipe"] = recipe;
    } else {
        external["recipeNotRecorded"] =
            json!("built before binship kept the recipe in the version dir");
    }
    let results = dir.join("test-results.json");
    let mut deps = Vec::new();
    if let Some(commit) = &rec.git.commit {
        // A dirty tree was not the commit: its id is an annotation, not a digest a policy
        // would match.
        deps.push(if rec.git.dirty {
            json!({
                "name": "source",
                "uri": format!("git-commit:{commit}+uncommitted-changes"),
                "annotations": { "baseCommit": commit, "dirty": true },
            })
        } else {
            json!({
                "name": "source",
                "digest": { "gitCommit": commit },
                "annotations": { "dirty": false },
            })
        });
    }
    let tool_version = rec
        .toolchain
        .version
        .strip_prefix(&rec.toolchain.name)
        .unwrap_or(&rec.toolchain.version);
    deps.push(json!({
        "name": "toolchain",
        "uri": format!("pkg:generic/{}@{tool_version}", rec.toolchain.name),
    }));
    let finished = time::OffsetDateTime::parse(
        &rec.built_at,
        &time::format_description::well_known::Rfc3339,
    )
    .ok();
    let started = finished.map(|f| {
        f - time::Duration::seconds(
            ((rec.build_duration_ms + rec.test_duration_ms) as i64 + 999) / 1000,
        )
    });
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let mut metadata =
        json!({ "invocationId": format!("{app} v.{version} built at {}", rec.built_at) });
    if let (Some(s), Some(f)) = (started, finished) {
        metadata["startedOn"] = json!(rfc(s));
        metadata["finishedOn"] = json!(rfc(f));
    }
    Ok(json!({
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": external,
            "internalParameters": {
                "buildCommand": rec.build_command,
                "cacheKey": rec.cache_key,
            },
            "resolvedDependencies": deps,
        },
        "runDetails": {
            "builder": { "id": builder_id() },
            "metadata": metadata,
            "byproducts": [{
                "name": "test-results.json",
                "digest": { "sha256": sha256_hex(&results)? },
                "annotations": {
                    "status": rec.status,
                    "tests": format!("{}/{} passed", rec.passed, rec.total),
                },
            }],
        },
    }))
}

/// Every predicate `--sign` attests for `app` v.`version`: the provenance, then each
/// platform's SPDX and CycloneDX SBOM (written first when one is missing).
///
/// # Errors
/// As [`provenance`] and [`crate::supply::sbom_version`].
pub fn predicates(store: &Store, app: &str, version: u32) -> Result<Vec<(String, Value)>> {
    predicates_of(store, app, version, &record(store, app, version)?)
}

fn predicates_of(
    store: &Store,
    app: &str,
    version: u32,
    rec: &TestResults,
) -> Result<Vec<(String, Value)>> {
    let dir = store.version_dir(app, version);
    let sboms: Vec<_> = rec
        .all_platforms()
        .iter()
        .map(|p| crate::supply::sbom_paths(&dir.join(&p.path)))
        .collect();
    if sboms.iter().any(|(s, c)| !s.exists() || !c.exists()) {
        crate::supply::sbom_version(store, app, version)?;
    }
    let mut out = vec![(
        attest::SLSA_PROVENANCE_V1.to_string(),
        provenance_of(store, app, version, rec)?,
    )];
    for (spdx, cdx) in sboms {
        for (path, ty) in [(spdx, attest::SPDX_DOCUMENT), (cdx, attest::CYCLONEDX_BOM)] {
            let doc: Value = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .ok_or_else(|| {
                    PublishError::other(format!("{}: not readable JSON", path.display()))
                })?;
            out.push((ty.to_string(), doc));
        }
    }
    Ok(out)
}

/// The attestations of the image `image` of `app` v.`version`, named `name` (`REGISTRY/REPO`
/// or the layout's image name): one DSSE envelope per predicate, signed with `sk`, as cosign's
/// attestation image (`sha256-HEX.att`) and each as an OCI 1.1 referrer of the image
/// ([`att::attestation_referrer`]). In the `.att` image, of the attestations already there
/// (read by `beside`), this key's of the same predicate types are replaced; the others, other
/// keys' among them, are kept. Referrers are only added: an earlier one stays listed.
///
/// # Errors
/// As [`predicates`]; other: the existing `.att` cannot be read.
pub fn image_attestations(
    store: &Store,
    app: &str,
    version: u32,
    image: &att::Subject,
    name: &str,
    sk: &binship_sign::cosign::SecretKey,
    beside: &mut Reader,
) -> Result<Vec<Attachment>> {
    let subject_digest = image.digest.as_str();
    let subject = Subject {
        name: name.to_string(),
        sha256: subject_digest.trim_start_matches("sha256:").to_string(),
    };
    let new: Vec<AttestationLayer> = predicates(store, app, version)?
        .into_iter()
        .map(|(ty, predicate)| AttestationLayer {
            envelope: attest::envelope(
                &attest::statement(std::slice::from_ref(&subject), &ty, predicate),
                sk,
            ),
            predicate_type: ty,
        })
        .collect();
    // Earlier attestations by this key are replaced; other keys' are kept.
    let pk = *sk.verifying_key();
    let (mine, others): (Vec<_>, Vec<_>) = beside
        .attestation_layers(&att::tag_for(subject_digest, "att"))?
        .into_iter()
        .partition(|l| attest::open_envelope(&l.envelope, &pk).is_ok());
    let mut kept = others;
    kept.extend(
        mine.into_iter()
            .filter(|l| !new.iter().any(|n| n.predicate_type == l.predicate_type)),
    );
    let referrers: Vec<Attachment> = new
        .iter()
        .map(|l| att::attestation_referrer(image, l))
        .collect();
    let mut out = vec![att::cosign_attestations(subject_digest, kept, new)];
    out.extend(referrers);
    Ok(out)
}

/// One verified attestation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Attested {
    pub predicate_type: String,
    /// The statement's subjects: name and sha256.
    pub subjects: Vec<Value>,
    /// Where it was read: the `.att` image, a referrer (`REPO@DIGEST`), or the version's bundle.
    pub source: String,
}

impl Attested {
    /// The subjects' names, comma-separated (for a line of output).
    pub fn names(&self) -> String {
        self.subjects
            .iter()
            .filter_map(|s| s["name"].as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn attested(st: &Value, source: &str) -> Attested {
    Attested {
        source: source.to_string(),
        predicate_type: st["predicateType"].as_str().unwrap_or_default().to_string(),
        subjects: st["subject"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| json!({ "name": s["name"], "sha256": s["digest"]["sha256"] }))
            .collect(),
    }
}

/// Checks the DSSE layers of an attestation manifest (`manifest`, from `what`: cosign's `.att`
/// image or one referrer) for the image `subject_digest`, as `cosign verify-attestation --key`
/// does: layers whose envelope does not verify with `pk` are another signer's and are skipped;
/// every layer that does must name the digest and agree with its layer's predicate type.
/// Returns those by `pk` and the number of DSSE layers.
///
/// # Errors
/// A one-line reason: a layer cannot be read, or one by this key names another image or
/// disagrees with its layer.
pub fn check_attestations(
    pk: &binship_sign::cosign::PublicKey,
    subject_digest: &str,
    manifest: &[u8],
    what: &str,
    blob: impl FnMut(&str, u64) -> std::result::Result<Vec<u8>, String>,
) -> std::result::Result<(Vec<Attested>, usize), String> {
    let hex = subject_digest.trim_start_matches("sha256:");
    let layers = att::attestation_layers(manifest, blob).map_err(|m| format!("{what}: {m}"))?;
    let mut out = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let Ok(st) = attest::open_envelope(&l.envelope, pk) else {
            continue;
        };
        if !attest::names_subject(&st, hex) {
            return Err(format!(
                "{what}: attestation {} ({}) does not name the image {subject_digest} among its subjects",
                i + 1,
                l.predicate_type
            ));
        }
        if st["predicateType"] != l.predicate_type.as_str() {
            return Err(format!(
                "{what}: attestation {}: its statement says {}, its layer {}",
                i + 1,
                st["predicateType"],
                l.predicate_type
            ));
        }
        out.push(attested(&st, what));
    }
    Ok((out, layers.len()))
}

/// That `found` (the attestations by the key, of `layers` DSSE layers read from `what`) is
/// complete: at least one, and the provenance and both SBOM predicate types among them.
///
/// # Errors
/// A one-line reason naming `what`.
pub fn require_attached(
    found: &[Attested],
    layers: usize,
    what: &str,
) -> std::result::Result<(), String> {
    if found.is_empty() {
        return Err(format!(
            "{what}: none of its {layers} attestation(s) verifies with this key"
        ));
    }
    for ty in ATTACHED {
        if !found.iter().any(|a| a.predicate_type == ty) {
            return Err(format!("{what}: no {ty} attestation by this key"));
        }
    }
    Ok(())
}

/// [`check_attestations`] of one attestation image, then [`require_attached`].
///
/// # Errors
/// As those.
pub fn verify_attestations(
    pk: &binship_sign::cosign::PublicKey,
    subject_digest: &str,
    manifest: &[u8],
    what: &str,
    blob: impl FnMut(&str, u64) -> std::result::Result<Vec<u8>, String>,
) -> std::result::Result<Vec<Attested>, String> {
    let (found, layers) = check_attestations(pk, subject_digest, manifest, what, blob)?;
    require_attached(&found, layers, what)?;
    Ok(found)
}

/// The file in a version dir holding its attestations: DSSE envelopes, one JSON per line (the
/// `.intoto.jsonl` bundle SLSA's generators write).
pub const VERSION_BUNDLE: &str = "attestations.intoto.jsonl";

/// A version's binaries as statement subjects: each by its path in the version dir.
fn version_subjects(rec: &TestResults) -> Vec<Subject> {
    rec.all_platforms()
        .into_iter()
        .map(|p| Subject {
            name: p.path,
            sha256: p.sha256,
        })
        .collect()
}

/// Writes [`VERSION_BUNDLE`] into the version dir of `app` v.`version`: the [`predicates`]
/// about its binaries (each named by its path in the version dir, with its sha256), each a DSSE
/// envelope signed with `sk`. Written to a temp file, then renamed. Returns its path.
///
/// # Errors
/// As [`predicates`]; other: the file cannot be written.
pub fn write_version_attestations(
    store: &Store,
    app: &str,
    version: u32,
    sk: &binship_sign::cosign::SecretKey,
) -> Result<std::path::PathBuf> {
    let rec = record(store, app, version)?;
    let subjects = version_subjects(&rec);
    let mut text = Vec::new();
    for (ty, predicate) in predicates_of(store, app, version, &rec)? {
        text.extend(attest::envelope(
            &attest::statement(&subjects, &ty, predicate),
            sk,
        ));
        text.push(b'\n');
    }
    let path = store.version_dir(app, version).join(VERSION_BUNDLE);
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, &text)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| PublishError::other(format!("writing {}: {e}", path.display())))?;
    Ok(path)
}

/// Checks `app` v.`version` with a cosign public key: each binary's sha256 against its record,
/// that the tests passed, and [`VERSION_BUNDLE`]: every envelope verifies with `pk` and names
/// every binary with the sha256 its record has, and the provenance and both SBOM predicate
/// types are there.
///
/// # Errors
/// A one-line reason naming the file: missing, an envelope that does not verify or names other
/// binaries, or a predicate type missing.
pub fn verify_version_attestations(
    store: &Store,
    app: &str,
    version: u32,
    pk: &binship_sign::cosign::PublicKey,
) -> std::result::Result<Vec<Attested>, String> {
    let path = store.version_dir(app, version).join(VERSION_BUNDLE);
    let what = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{what}: no attestations ({}; binship sign {app} {version} --key cosign.key writes them)",
            if e.kind() == std::io::ErrorKind::NotFound {
                "no such file".to_string()
            } else {
                e.to_string()
            }
        )
    })?;
    let rec = record(store, app, version).map_err(|e| e.message)?;
    // The stored binaries are what the record says, and their tests passed (the checks
    // `verify` makes with a minisign key).
    let dir = store.version_dir(app, version);
    for p in rec.all_platforms() {
        crate::verify::binary_check(&dir, &p).1?;
    }
    crate::verify::tests_check(&rec, app, version)?;
    let subjects = version_subjects(&rec);
    let mut out = Vec::new();
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let st = attest::open_envelope(line.as_bytes(), pk)
            .map_err(|m| format!("{what}: line {}: {m}", i + 1))?;
        for s in &subjects {
            if !attest::names_subject(&st, &s.sha256) {
                return Err(format!(
                    "{what}: line {}: does not name {} with sha256 {} (the stored binary)",
                    i + 1,
                    s.name,
                    s.sha256
                ));
            }
        }
        if st["predicateType"] == attest::SLSA_PROVENANCE_V1 {
            // The record the provenance names is the record here.
            let results = dir.join("test-results.json");
            let now = sha256_hex(&results).map_err(|e| e.message)?;
            let named = st["predicate"]["runDetails"]["byproducts"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|b| b["name"] == "test-results.json")
                .and_then(|b| b["digest"]["sha256"].as_str())
                .unwrap_or_default()
                .to_string();
            if named != now {
                return Err(format!(
                    "{}: sha256 is {now}, but the signed provenance records {}",
                    results.display(),
                    if named.is_empty() { "none" } else { &named }
                ));
            }
        }
        out.push(attested(&st, &what));
    }
    for ty in ATTACHED {
        if !out.iter().any(|a| a.predicate_type == ty) {
            return Err(format!("{what}: no {ty} attestation"));
        }
    }
    Ok(out)
}
