//! The image's configuration: [`ImageSpec`] (layers, [`ContainerConfig`], platform, created
//! time) renders the config JSON, with sorted keys so digests are reproducible.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::import::TarCompression;
use crate::Rootfs;

/// os/arch of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
}

/// A healthcheck command (docker's `Healthcheck`; OCI configs have none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Healthcheck {
    /// `["CMD", "/usr/local/bin/app", "--probe"]`
    pub test: Vec<String>,
    pub interval_s: u64,
    pub timeout_s: u64,
    pub retries: u32,
}

/// How the container runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    /// "8080/tcp"
    pub exposed_ports: Vec<String>,
    pub user: String,
    pub workdir: String,
    pub stop_signal: String,
    pub labels: BTreeMap<String, String>,
    pub healthcheck: Option<Healthcheck>,
    /// Absolute paths declared as volumes (the config's `Volumes`, OCI image-spec config.md,
    /// "Properties": an object whose keys are the paths).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
}

/// Called with the number of layer bytes written so far (for progress bars).
#[derive(Clone)]
pub struct ProgressHook(pub std::sync::Arc<dyn Fn(u64) + Send + Sync>);

impl std::fmt::Debug for ProgressHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressHook")
    }
}

/// Opens a blob's raw bytes (again) for writing.
pub type Opener =
    std::sync::Arc<dyn Fn() -> std::io::Result<Box<dyn std::io::Read + Send>> + Send + Sync>;

/// An existing, already checked layer (a base tarball or a base image's layer), reused as is.
#[derive(Clone)]
pub struct BlobLayer {
    pub open: Opener,
    pub compression: TarCompression,
    /// sha256 of the raw bytes `open` yields.
    pub digest: String,
    pub size: u64,
    pub diff_id: String,
    pub uncompressed_size: u64,
}

impl std::fmt::Debug for BlobLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobLayer")
            .field("digest", &self.digest)
            .field("compression", &self.compression)
            .finish()
    }
}

/// One layer of an image: entries binship writes, or an existing blob.
#[derive(Debug, Clone)]
pub enum Layer {
    Rootfs(Rootfs),
    Blob(BlobLayer),
}

impl Layer {
    pub fn uncompressed_size(&self) -> u64 {
        match self {
            Layer::Rootfs(r) => r.tar_size(),
            Layer::Blob(b) => b.uncompressed_size,
        }
    }
}

impl From<Rootfs> for Layer {
    fn from(r: Rootfs) -> Layer {
        Layer::Rootfs(r)
    }
}

/// A base image's config, whose env, labels, ports and history the new image keeps.
#[derive(Debug, Clone)]
pub struct BaseConfig {
    pub config: Value,
    /// How many of the image's layers came from the base image.
    pub layers: usize,
}

/// Everything an image is made of, before it is written.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub layers: Vec<Layer>,
    /// The base image's config, when the base is an image.
    pub base: Option<BaseConfig>,
    pub config: ContainerConfig,
    pub platform: Platform,
    /// Unix seconds: every mtime and the `created` field.
    pub created: u64,
    /// `created_by` of the history entry.
    pub created_by: String,
    /// Told how many uncompressed layer bytes were written, about every MiB.
    pub progress: Option<ProgressHook>,
}

impl ImageSpec {
    /// The base image's history, then one entry per layer of ours.
    fn history(&self, layers: usize, created: &str) -> Vec<Value> {
        let mut h: Vec<Value> = Vec::new();
        let mut from_base = 0;
        if let Some(b) = &self.base {
            h = b.config["history"].as_array().cloned().unwrap_or_default();
            from_base = b.layers;
            let non_empty = h.iter().filter(|e| e["empty_layer"] != true).count();
            if non_empty != from_base {
                // An inconsistent base history: describe its layers ourselves.
                h = (0..from_base)
                    .map(|_| json!({ "created": created, "created_by": "base image" }))
                    .collect();
            }
        }
        h.extend(
            (from_base..layers)
                .map(|_| json!({ "created": created, "created_by": self.created_by })),
        );
        h
    }

    /// Uncompressed bytes of all layers (the total a progress bar counts to).
    pub fn total_bytes(&self) -> u64 {
        self.layers.iter().map(|l| l.uncompressed_size()).sum()
    }
}

impl ImageSpec {
    /// The config JSON for layers with these diff_ids. `docker` adds docker-only fields
    /// (Healthcheck) that OCI configs do not carry.
    pub fn config_json(&self, diff_ids: &[String], docker: bool) -> Vec<u8> {
        let c = &self.config;
        let base = self.base.as_ref().map(|b| &b.config["config"]);
        let mut cfg = serde_json::Map::new();
        if !c.entrypoint.is_empty() {
            cfg.insert("Entrypoint".into(), json!(c.entrypoint));
        }
        if !c.cmd.is_empty() {
            cfg.insert("Cmd".into(), json!(c.cmd));
        }
        // Env: the base's, then ours (ours win on the same key).
        let mut env: Vec<String> = base
            .and_then(|b| b["Env"].as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        for e in &c.env {
            let key = e.split('=').next().unwrap_or("");
            env.retain(|b| b.split('=').next() != Some(key));
            env.push(e.clone());
        }
        if !env.is_empty() {
            cfg.insert("Env".into(), json!(env));
        }
        let mut ports: serde_json::Map<String, Value> = base
            .and_then(|b| b["ExposedPorts"].as_object())
            .cloned()
            .unwrap_or_default();
        for p in &c.exposed_ports {
            ports.insert(p.clone(), json!({}));
        }
        if !ports.is_empty() {
            cfg.insert("ExposedPorts".into(), Value::Object(ports));
        }
        if !c.user.is_empty() {
            cfg.insert("User".into(), json!(c.user));
        }
        if !c.workdir.is_empty() {
            cfg.insert("WorkingDir".into(), json!(c.workdir));
        }
        if !c.stop_signal.is_empty() {
            cfg.insert("StopSignal".into(), json!(c.stop_signal));
        }
        let mut labels: serde_json::Map<String, Value> = base
            .and_then(|b| b["Labels"].as_object())
            .cloned()
            .unwrap_or_default();
        for (k, v) in &c.labels {
            labels.insert(k.clone(), json!(v));
        }
        if !labels.is_empty() {
            cfg.insert("Labels".into(), Value::Object(labels));
        }
        let mut volumes: serde_json::Map<String, Value> = base
            .and_then(|b| b["Volumes"].as_object())
            .cloned()
            .unwrap_or_default();
        for v in &c.volumes {
            volumes.insert(v.clone(), json!({}));
        }
        if !volumes.is_empty() {
            cfg.insert("Volumes".into(), Value::Object(volumes));
        }
        if docker {
            if let Some(h) = &c.healthcheck {
                const NS: u64 = 1_000_000_000;
                cfg.insert(
                    "Healthcheck".into(),
                    json!({ "Test": h.test, "Interval": h.interval_s * NS, "Timeout": h.timeout_s * NS, "Retries": h.retries }),
                );
            }
        }
        let created = binship_oci::rfc3339(self.created as i64);
        let doc = json!({
            "architecture": self.platform.architecture,
            "os": self.platform.os,
            "created": created,
            "config": Value::Object(cfg),
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
            "history": self.history(diff_ids.len(), &created),
        });
        // serde_json's Map is a BTreeMap: keys come out sorted.
        serde_json::to_vec(&doc).expect("config serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_are_sorted_and_docker_adds_healthcheck() {
        let spec = ImageSpec {
            layers: vec![],
            config: ContainerConfig {
                entrypoint: vec!["/app".into()],
                user: "65532:65532".into(),
                labels: [
                    ("z".to_string(), "1".to_string()),
                    ("a".to_string(), "2".to_string()),
                ]
                .into(),
                healthcheck: Some(Healthcheck {
                    test: vec!["CMD".into(), "/app".into()],
                    interval_s: 10,
                    timeout_s: 3,
                    retries: 3,
                }),
                ..Default::default()
            },
            platform: Platform {
                os: "linux".into(),
                architecture: "amd64".into(),
            },
            created: 0,
            created_by: "binship".into(),
            progress: None,
            base: None,
        };
        let oci = String::from_utf8(spec.config_json(&["sha256:x".into()], false)).unwrap();
        assert!(
            oci.starts_with("{\"architecture\":\"amd64\",\"config\":{\"Entrypoint\""),
            "{oci}"
        );
        assert!(oci.find("\"a\"").unwrap() < oci.find("\"z\"").unwrap());
        assert!(!oci.contains("Healthcheck"));
        let docker = String::from_utf8(spec.config_json(&["sha256:x".into()], true)).unwrap();
        assert!(
            docker.contains("\"Healthcheck\":{\"Interval\":10000000000"),
            "{docker}"
        );
    }
}
