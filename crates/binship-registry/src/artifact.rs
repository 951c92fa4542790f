//! Binaries as OCI artifacts: [`BinaryArtifact`] is a stored version's files (binary,
//! test-results.json, README, sidecars) as an OCI image manifest with binship's `artifactType`,
//! the empty config, one layer per file titled by its name, and the app, version, test summary
//! and commit as annotations. Reading one back refuses file names that could escape a directory.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::push::{Blob, BlobSource};
use crate::RegistryError;
use binship_oci::media_type;

/// The `artifactType` of a binship binary.
pub const ARTIFACT_TYPE: &str = media_type::BINSHIP_BINARY;
pub const EMPTY_CONFIG: &[u8] = b"{}";
/// Layer annotation holding the file name (as ORAS does).
pub const TITLE: &str = "org.opencontainers.image.title";
/// Manifest annotations.
pub const APP: &str = "dev.binship.app";
pub const VERSION: &str = "dev.binship.version";
pub const TESTS: &str = "dev.binship.tests";
pub const REVISION: &str = "org.opencontainers.image.revision";
/// The version's build cache key (test-results.json `cache_key`): a shared cache's look-up.
pub const CACHE_KEY: &str = "dev.binship.cache-key";
/// The host that built and tested the version (test-results.json `built_on`).
pub const BUILT_ON: &str = "dev.binship.built-on";
/// Layer annotation: the file's Unix mode, octal (`0755` for the binary).
pub const MODE: &str = "dev.binship.mode";

/// One file of a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactFile {
    pub name: String,
    pub digest: String,
    pub size: u64,
    pub mode: u32,
    pub media_type: String,
}

/// A version as an artifact: its files and annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryArtifact {
    pub files: Vec<ArtifactFile>,
    pub annotations: BTreeMap<String, String>,
}

/// The media type binship gives a file of a version.
pub fn media_type_for(name: &str, is_binary: bool) -> &'static str {
    if is_binary {
        media_type::BINSHIP_BINARY_LAYER
    } else if name.ends_with(".json") {
        media_type::JSON
    } else if name.ends_with(".md") {
        "text/markdown"
    } else if name.ends_with(".log") || name.ends_with(".txt") {
        "text/plain"
    } else {
        media_type::OCTET_STREAM
    }
}

/// A version's file: `name`, or `<os>-<arch>/name` for another platform's binary.
fn valid_name(name: &str) -> bool {
    let plain = |n: &str| !n.is_empty() && !n.starts_with('.') && !n.contains(['/', '\\', '\0']);
    match name.split_once('/') {
        None => plain(name),
        Some((dir, file)) => {
            let platform = regex::Regex::new(r"^[a-z0-9]+-[a-z0-9]+$").expect("regex");
            platform.is_match(dir) && plain(file)
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor<'a> {
    media_type: &'a str,
    digest: &'a str,
    size: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<&'a str, String>,
}

impl BinaryArtifact {
    /// The manifest (bytes are what is pushed and digested) and the blobs to push with it,
    /// the files read from `dir`.
    pub fn manifest(&self, dir: &std::path::Path) -> (Vec<u8>, Vec<Blob>) {
        let empty = binship_oci::digest_string(EMPTY_CONFIG);
        let layers: Vec<Descriptor> = self
            .files
            .iter()
            .map(|f| Descriptor {
                media_type: &f.media_type,
                digest: &f.digest,
                size: f.size,
                annotations: BTreeMap::from([
                    (TITLE, f.name.clone()),
                    (MODE, format!("{:04o}", f.mode & 0o7777)),
                ]),
            })
            .collect();
        let m = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": Descriptor {
                media_type: media_type::EMPTY,
                digest: &empty,
                size: EMPTY_CONFIG.len() as u64,
                annotations: BTreeMap::new(),
            },
            "layers": layers,
            "annotations": self.annotations,
        });
        let bytes = serde_json::to_vec(&m).expect("manifest serializes");
        let mut blobs = vec![Blob::from_bytes(EMPTY_CONFIG.to_vec())];
        blobs.extend(self.files.iter().map(|f| Blob {
            digest: f.digest.clone(),
            size: f.size,
            source: BlobSource::File(dir.join(&f.name)),
        }));
        (bytes, blobs)
    }

    /// Reads a manifest pulled from `what` (for messages): it must be a binship binary whose
    /// files have plain, distinct names.
    pub fn parse(what: &str, bytes: &[u8]) -> Result<BinaryArtifact, RegistryError> {
        let bad = |m: String| RegistryError::BadArtifact {
            what: what.into(),
            message: m,
        };
        let m: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("manifest is not JSON: {e}")))?;
        if m["artifactType"] != ARTIFACT_TYPE {
            return Err(bad(format!(
                "is not a binship binary (artifactType {}, want {ARTIFACT_TYPE}); \
                 push it with binship push-binary",
                m["artifactType"]
            )));
        }
        let annotations: BTreeMap<String, String> = m["annotations"]
            .as_object()
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let mut files = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for l in m["layers"].as_array().into_iter().flatten() {
            let name = l["annotations"][TITLE]
                .as_str()
                .ok_or_else(|| bad("a layer has no title (file name)".into()))?;
            if !valid_name(name) {
                return Err(bad(format!("file name `{name}` is not a plain file name")));
            }
            if !names.insert(name.to_string()) {
                return Err(bad(format!("file `{name}` appears twice")));
            }
            let digest = l["digest"].as_str().unwrap_or_default();
            if binship_oci::Digest::parse(digest).is_err() {
                return Err(bad(format!(
                    "file `{name}` has digest `{digest}`, want sha256:<64 hex>"
                )));
            }
            let mode = l["annotations"][MODE]
                .as_str()
                .and_then(|m| u32::from_str_radix(m, 8).ok())
                .unwrap_or(0o644)
                & 0o755;
            files.push(ArtifactFile {
                name: name.into(),
                digest: digest.into(),
                size: l["size"]
                    .as_u64()
                    .ok_or_else(|| bad(format!("file `{name}` has no size")))?,
                mode,
                media_type: l["mediaType"].as_str().unwrap_or_default().into(),
            });
        }
        if files.is_empty() {
            return Err(bad("holds no files".into()));
        }
        Ok(BinaryArtifact { files, annotations })
    }

    /// Where each file goes under `dir`.
    pub fn paths(&self, dir: &std::path::Path) -> Vec<(PathBuf, &ArtifactFile)> {
        self.files.iter().map(|f| (dir.join(&f.name), f)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BinaryArtifact {
        BinaryArtifact {
            files: vec![ArtifactFile {
                name: "go-id".into(),
                digest: binship_oci::digest_string(b"x"),
                size: 1,
                mode: 0o755,
                media_type: media_type_for("go-id", true).into(),
            }],
            annotations: BTreeMap::from([(APP.to_string(), "go-id".to_string())]),
        }
    }

    #[test]
    fn a_manifest_reads_back_and_hostile_names_are_refused() {
        let a = sample();
        let (bytes, blobs) = a.manifest(std::path::Path::new("/x"));
        assert_eq!(blobs.len(), 2);
        assert_eq!(blobs[0].digest, binship_oci::digest_string(b"{}"));
        assert_eq!(BinaryArtifact::parse("t", &bytes).unwrap(), a);
        for name in [
            "../etc/passwd",
            "a/b",
            "",
            ".hidden",
            "..",
            "linux-arm64/../x",
            "linux-arm64/a/b",
            "/etc/passwd",
            "linux-arm64/.x",
        ] {
            let mut b = sample();
            b.files[0].name = name.into();
            let (bytes, _) = b.manifest(std::path::Path::new("/x"));
            let e = BinaryArtifact::parse("t", &bytes).unwrap_err().to_string();
            assert!(e.contains("not a plain file name"), "{name}: {e}");
        }
        let mut b = sample();
        b.files[0].name = "linux-arm64/go-id".into();
        let (bytes, _) = b.manifest(std::path::Path::new("/x"));
        assert_eq!(BinaryArtifact::parse("t", &bytes).unwrap(), b);
        let mut b = sample();
        b.files.push(b.files[0].clone());
        let (bytes, _) = b.manifest(std::path::Path::new("/x"));
        assert!(BinaryArtifact::parse("t", &bytes)
            .unwrap_err()
            .to_string()
            .contains("twice"));
        let image = br#"{"schemaVersion":2,"config":{},"layers":[]}"#;
        assert!(BinaryArtifact::parse("t", image)
            .unwrap_err()
            .to_string()
            .contains("not a binship binary"));
    }
}
