//! docker-archive: what `docker save` writes (`manifest.json`, `repositories`, the config as
//! `<hex>.json`, each layer as an uncompressed tar at `blobs/sha256/<hex>`), loadable by
//! `docker load` and `podman load`. Written in one pass: each layer streams into the archive
//! while it is hashed, and its member header (named by that hash) is filled in afterwards.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use binship_image::layer::write_any_layer;
use binship_image::validate::{ImageReader, LayerRef, OpenedImage, ValidationError};
use binship_image::Compression;
use serde_json::json;

use crate::tarfile::{self, TarIndex};
use crate::{check_file_output, io, Sink, SinkError, TempPath, WriteRequest, Written};

pub struct DockerArchive;

/// Splits "repo:tag" (the tag after the last `:` that follows the last `/`).
pub fn split_tag(tag: &str) -> (&str, &str) {
    let slash = tag.rfind('/').map_or(0, |i| i + 1);
    match tag[slash..].rfind(':') {
        Some(i) => (&tag[..slash + i], &tag[slash + i + 1..]),
        None => (tag, "latest"),
    }
}

impl Sink for DockerArchive {
    fn format(&self) -> crate::Format {
        crate::Format::DockerArchive
    }

    fn write(&self, req: &WriteRequest) -> Result<Written, SinkError> {
        crate::single_platform(req, crate::Format::DockerArchive)?;
        let out = req.out;
        check_file_output(out)?;
        if req.compression != Compression::None {
            return Err(SinkError::Refused {
                path: out.into(),
                message: "docker-archive layers stay uncompressed (as docker save writes them; docker 20.10 loads no zstd): use --compress none or an OCI format".into(),
            });
        }
        let tmp = TempPath::beside(out);
        let file = File::create(&tmp.0).map_err(io("creating", &tmp.0))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let mtime = req.spec.created;
        let werr = io("writing", out);
        let mut diff_ids = Vec::new();
        let mut layer_paths = Vec::new();
        let mut layers = Vec::new();
        tarfile::dir(&mut w, "blobs/", mtime).map_err(io("writing", out))?;
        tarfile::dir(&mut w, "blobs/sha256/", mtime).map_err(io("writing", out))?;
        let mut done = 0;
        for layer in &req.spec.layers {
            // Reserve the member header; it is written once the layer's digest is known.
            let at = w.stream_position().map_err(io("writing", out))?;
            w.write_all(&[0u8; 512]).map_err(io("writing", out))?;
            let hook = req.spec.progress.as_ref().map(|h| (h, done));
            let (desc, _) = write_any_layer(layer, Compression::None, mtime, &mut w, hook, true)?;
            done += desc.uncompressed_size;
            tarfile::pad(&mut w, desc.size).map_err(io("writing", out))?;
            let name = format!("blobs/sha256/{}", desc.digest.trim_start_matches("sha256:"));
            let end = w.stream_position().map_err(io("writing", out))?;
            let h = tarfile::header(&name, desc.size, mtime, false).map_err(io("writing", out))?;
            w.seek(SeekFrom::Start(at)).map_err(io("writing", out))?;
            w.write_all(h.as_bytes()).map_err(io("writing", out))?;
            w.seek(SeekFrom::Start(end)).map_err(io("writing", out))?;
            diff_ids.push(desc.diff_id.clone());
            layer_paths.push(name);
            layers.push(desc);
        }
        let config = req.spec.config_json(&diff_ids, true);
        let config_digest = binship_oci::digest_string(&config);
        let config_name = format!(
            "blobs/sha256/{}",
            config_digest.trim_start_matches("sha256:")
        );
        tarfile::member(&mut w, &config_name, &config, mtime).map_err(io("writing", out))?;
        let manifest =
            json!([{ "Config": config_name, "RepoTags": [req.tag], "Layers": layer_paths }]);
        tarfile::member(
            &mut w,
            "manifest.json",
            &serde_json::to_vec(&manifest).expect("json"),
            mtime,
        )
        .map_err(io("writing", out))?;
        let (repo, tag) = split_tag(req.tag);
        let top = layers
            .last()
            .map(|l| l.digest.trim_start_matches("sha256:").to_string())
            .unwrap_or_default();
        let repositories = json!({ repo: { tag: top } });
        tarfile::member(
            &mut w,
            "repositories",
            &serde_json::to_vec(&repositories).expect("json"),
            mtime,
        )
        .map_err(io("writing", out))?;
        tarfile::finish(&mut w).map_err(io("writing", out))?;
        let file = w.into_inner().map_err(|e| e.into_error()).map_err(werr)?;
        let bytes = file.metadata().map_err(io("writing", out))?.len();
        drop(file);
        let previous = crate::put(tmp, out)?;
        Ok(Written {
            format: crate::Format::DockerArchive,
            path: out.into(),
            tag: req.tag.into(),
            manifest_digest: None,
            config_digest,
            layers,
            bytes,
            flat_bytes: None,
            pushable: None,
            previous,
        })
    }

    fn open(&self, path: &Path) -> Result<Box<dyn ImageReader>, SinkError> {
        Ok(Box::new(open(path)?))
    }
}

/// A docker-archive opened for reading.
pub struct DockerArchiveReader {
    index: TarIndex,
    path: PathBuf,
}

pub fn open(path: &Path) -> Result<DockerArchiveReader, ValidationError> {
    Ok(DockerArchiveReader {
        index: TarIndex::open(path, &format!("docker-archive {}", path.display()))?,
        path: path.into(),
    })
}

impl ImageReader for DockerArchiveReader {
    fn describe(&self) -> String {
        format!("docker-archive {}", self.path.display())
    }

    fn images(&self) -> Result<Vec<OpenedImage>, ValidationError> {
        let bad = |what: &str, m: String| ValidationError::new(self.describe(), what, m);
        let manifest = self
            .index
            .read_member("manifest.json")
            .map_err(|e| bad("manifest.json", e.to_string()))?;
        let manifest: serde_json::Value = serde_json::from_slice(&manifest)
            .map_err(|e| bad("manifest.json", format!("not JSON: {e}")))?;
        let entries = manifest
            .as_array()
            .ok_or_else(|| bad("manifest.json", "not a list".into()))?;
        let mut out = Vec::new();
        for m in entries {
            let config_name = m["Config"]
                .as_str()
                .ok_or_else(|| bad("manifest.json", "entry without Config".into()))?;
            let config = self
                .index
                .read_member(config_name)
                .map_err(|e| bad(config_name, e.to_string()))?;
            let hex = config_name
                .trim_start_matches("blobs/sha256/")
                .trim_end_matches(".json");
            let layers = m["Layers"]
                .as_array()
                .ok_or_else(|| bad("manifest.json", "entry without Layers".into()))?
                .iter()
                .map(|l| {
                    let key = l.as_str().unwrap_or_default().to_string();
                    if self.index.contains(&key) {
                        Ok(LayerRef {
                            key,
                            digest: None,
                            size: None,
                            media_type: None,
                        })
                    } else {
                        Err(bad(
                            "manifest.json",
                            format!("layer {key} is not in the archive"),
                        ))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            out.push(OpenedImage {
                tags: m["RepoTags"]
                    .as_array()
                    .map(|t| {
                        t.iter()
                            .filter_map(|s| s.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
                manifest_digest: None,
                config_digest: format!("sha256:{hex}"),
                config,
                layers,
            });
        }
        Ok(out)
    }

    fn open_layer(&self, layer: &LayerRef) -> Result<Box<dyn Read + Send>, ValidationError> {
        self.index
            .open_member(&layer.key)
            .map(|r| Box::new(r) as Box<dyn Read + Send>)
            .map_err(|e| ValidationError::new(self.describe(), layer.key.clone(), e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_at_the_last_colon_after_the_last_slash() {
        assert_eq!(split_tag("go-id:v.1"), ("go-id", "v.1"));
        assert_eq!(
            split_tag("127.0.0.1:5000/go-id:v.2"),
            ("127.0.0.1:5000/go-id", "v.2")
        );
        assert_eq!(
            split_tag("127.0.0.1:5000/go-id"),
            ("127.0.0.1:5000/go-id", "latest")
        );
    }
}
