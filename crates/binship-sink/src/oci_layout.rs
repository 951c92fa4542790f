//! OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/`). Writing into an
//! existing layout merges: other images and tags stay, the same tag is replaced. A new layout
//! is built in a temp dir and renamed into place; in an existing one, blobs land first (temp +
//! rename each) and `index.json` last.

use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};

use binship_image::layer::write_any_layer;
use binship_image::validate::{ImageReader, LayerRef, OpenedImage, ValidationError};
use binship_image::LayerDescriptor;
use binship_oci::{digest_string, media_type};
use oci_spec::image::{DescriptorBuilder, ImageManifestBuilder, MediaType, PlatformBuilder};
use serde_json::{json, Value};

use crate::docker_archive::split_tag;
use crate::{io, Sink, SinkError, TempPath, WriteRequest, Written};

pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

pub struct OciLayout;

/// The result of writing one image's blobs into a layout dir.
pub(crate) struct Blobs {
    /// The image manifest, or the image index of several platforms.
    pub manifest_digest: String,
    pub manifest_size: u64,
    pub media_type: &'static str,
    pub config_digest: String,
    pub layers: Vec<LayerDescriptor>,
    pub bytes: u64,
    /// The manifests and blobs as a registry takes them.
    pub pushable: crate::Pushable,
}

fn blob_path(dir: &Path, digest: &str) -> PathBuf {
    dir.join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

fn put_blob(dir: &Path, bytes: &[u8]) -> Result<String, SinkError> {
    let d = digest_string(bytes);
    let p = blob_path(dir, &d);
    if !p.exists() {
        let tmp = TempPath::beside(&p);
        std::fs::write(&tmp.0, bytes).map_err(io("writing", &tmp.0))?;
        tmp.persist(&p)?;
    }
    Ok(d)
}

fn to_json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    // Through Value: its map is sorted, so the bytes (and digests) are reproducible.
    serde_json::to_vec(&serde_json::to_value(v).expect("json")).expect("json")
}

/// Writes the blobs of `req` into the layout at `dir`: one image, or with other platforms each
/// image and an image index over them (in order, each manifest descriptor with its platform).
pub(crate) fn write_blobs(dir: &Path, req: &WriteRequest) -> Result<Blobs, SinkError> {
    let first = write_image(dir, req.spec, req)?;
    if req.others.is_empty() {
        return Ok(first);
    }
    let mut bytes = first.bytes;
    let mut manifests = vec![platform_descriptor(req.spec, &first)];
    let mut children = vec![first.pushable.clone()];
    for spec in req.others {
        let b = write_image(dir, spec, req)?;
        bytes += b.bytes;
        manifests.push(platform_descriptor(spec, &b));
        children.push(b.pushable);
    }
    let mut index =
        json!({ "schemaVersion": 2, "mediaType": media_type::INDEX, "manifests": manifests });
    if !req.annotations.is_empty() {
        index["annotations"] = json!(req.annotations);
    }
    let index_bytes = serde_json::to_vec(&index).expect("json");
    let index_digest = put_blob(dir, &index_bytes)?;
    Ok(Blobs {
        manifest_digest: index_digest.clone(),
        manifest_size: index_bytes.len() as u64,
        media_type: media_type::INDEX,
        bytes: bytes + index_bytes.len() as u64,
        pushable: crate::Pushable {
            manifest: index_bytes,
            digest: index_digest,
            media_type: media_type::INDEX.into(),
            blobs: vec![],
            children,
        },
        ..first
    })
}

fn platform_descriptor(spec: &binship_image::ImageSpec, b: &Blobs) -> Value {
    json!({
        "mediaType": media_type::MANIFEST,
        "digest": b.manifest_digest,
        "size": b.manifest_size,
        "platform": { "architecture": spec.platform.architecture, "os": spec.platform.os },
    })
}

/// Writes layers, config and manifest blobs of one image.
fn write_image(
    dir: &Path,
    spec: &binship_image::ImageSpec,
    req: &WriteRequest,
) -> Result<Blobs, SinkError> {
    let sha_dir = dir.join("blobs/sha256");
    std::fs::create_dir_all(&sha_dir).map_err(io("creating", &sha_dir))?;
    let mut layers = Vec::new();
    let mut descs = Vec::new();
    let mut bytes = 0;
    let mut done = 0;
    for layer in &spec.layers {
        let tmp = TempPath::beside(&sha_dir.join("layer"));
        let f = File::create(&tmp.0).map_err(io("creating", &tmp.0))?;
        let hook = spec.progress.as_ref().map(|h| (h, done));
        let (d, w) = write_any_layer(
            layer,
            req.compression,
            spec.created,
            BufWriter::with_capacity(1 << 20, f),
            hook,
            false,
        )?;
        done += d.uncompressed_size;
        w.into_inner()
            .map_err(|e| e.into_error())
            .map_err(io("writing", &tmp.0))?;
        let dest = blob_path(dir, &d.digest);
        tmp.persist(&dest)?;
        bytes += d.size;
        descs.push(
            DescriptorBuilder::default()
                .media_type(MediaType::Other(d.media_type.clone()))
                .digest(
                    d.digest
                        .parse::<oci_spec::image::Digest>()
                        .expect("sha256 digest"),
                )
                .size(d.size)
                .build()
                .expect("descriptor"),
        );
        layers.push(d);
    }
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
    let config = spec.config_json(&diff_ids, false);
    let config_digest = put_blob(dir, &config)?;
    bytes += config.len() as u64;
    let mut manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(
            DescriptorBuilder::default()
                .media_type(MediaType::ImageConfig)
                .digest(
                    config_digest
                        .parse::<oci_spec::image::Digest>()
                        .expect("digest"),
                )
                .size(config.len() as u64)
                .build()
                .expect("descriptor"),
        )
        .layers(descs)
        .build()
        .expect("manifest");
    if !req.annotations.is_empty() {
        manifest.set_annotations(Some(req.annotations.clone().into_iter().collect()));
    }
    let manifest_bytes = to_json(&manifest);
    let manifest_digest = put_blob(dir, &manifest_bytes)?;
    bytes += manifest_bytes.len() as u64;
    let blobs = std::iter::once((config_digest.clone(), config.len() as u64))
        .chain(layers.iter().map(|l| (l.digest.clone(), l.size)))
        .collect();
    Ok(Blobs {
        manifest_digest: manifest_digest.clone(),
        manifest_size: manifest_bytes.len() as u64,
        media_type: media_type::MANIFEST,
        config_digest,
        layers,
        bytes,
        pushable: crate::Pushable {
            manifest: manifest_bytes,
            digest: manifest_digest,
            media_type: media_type::MANIFEST.into(),
            blobs,
            children: vec![],
        },
    })
}

/// Adds (or replaces, by tag) the manifest in `dir/index.json` and writes `oci-layout`; returns
/// the bytes written and the image the tag named before.
pub(crate) fn update_index(
    dir: &Path,
    req: &WriteRequest,
    b: &Blobs,
) -> Result<(u64, Option<crate::Previous>), SinkError> {
    let index_path = dir.join("index.json");
    let mut manifests: Vec<Value> = match std::fs::read(&index_path) {
        Ok(bytes) => {
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| SinkError::Refused {
                path: index_path.clone(),
                message: format!("not JSON: {e}"),
            })?;
            v["manifests"].as_array().cloned().unwrap_or_default()
        }
        Err(_) => Vec::new(),
    };
    let (_, tag) = split_tag(req.tag);
    let platform = PlatformBuilder::default()
        .architecture(req.spec.platform.architecture.as_str())
        .os(req.spec.platform.os.as_str())
        .build()
        .expect("platform");
    let mut desc = DescriptorBuilder::default();
    desc = if b.media_type == media_type::INDEX {
        desc.media_type(MediaType::ImageIndex)
    } else {
        desc.media_type(MediaType::ImageManifest).platform(platform)
    };
    let desc = desc
        .digest(
            b.manifest_digest
                .parse::<oci_spec::image::Digest>()
                .expect("digest"),
        )
        .size(b.manifest_size)
        .annotations(
            [
                (REF_NAME.to_string(), tag.to_string()),
                ("io.containerd.image.name".to_string(), req.tag.to_string()),
            ]
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>(),
        )
        .build()
        .expect("descriptor");
    // The tag's earlier image (a layout keeps its other tags, as a registry does).
    let previous = manifests
        .iter()
        .find(|m| m["annotations"][REF_NAME].as_str() == Some(tag))
        .and_then(|m| m["digest"].as_str())
        .map(|old| crate::Previous {
            unchanged: old == b.manifest_digest,
            digest: old.to_string(),
        });
    manifests.retain(|m| m["annotations"][REF_NAME].as_str() != Some(tag));
    manifests.push(serde_json::to_value(&desc).expect("json"));
    manifests.sort_by(|a, b| {
        let k = |m: &Value| {
            (
                m["annotations"][REF_NAME]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                m["digest"].as_str().unwrap_or("").to_string(),
            )
        };
        k(a).cmp(&k(b))
    });
    let index =
        json!({ "schemaVersion": 2, "mediaType": media_type::INDEX, "manifests": manifests });
    let bytes = serde_json::to_vec(&index).expect("json");
    let tmp = TempPath::beside(&index_path);
    std::fs::write(&tmp.0, &bytes).map_err(io("writing", &tmp.0))?;
    tmp.persist(&index_path)?;
    let layout = dir.join("oci-layout");
    let lb = br#"{"imageLayoutVersion":"1.0.0"}"#;
    if !layout.exists() {
        std::fs::write(&layout, lb).map_err(io("writing", &layout))?;
    }
    Ok((bytes.len() as u64 + lb.len() as u64, previous))
}

/// Whether an index entry is an attachment (a signature, attestation or SBOM), not an image:
/// it has an artifactType (OCI 1.1 artifacts), or its tag follows cosign's tag scheme
/// `sha256-<hex>.sig|.att|.sbom` (cosign's signature images are plain image manifests) or is
/// the referrers tag schema's `sha256-<hex>` (an index of referrers).
pub fn is_attachment(entry: &Value) -> bool {
    let tag = entry["annotations"][REF_NAME].as_str();
    if tag.is_some_and(binship_oci::referrers::is_tag) {
        return true;
    }
    let cosign_tag = tag.is_some_and(|t| {
        t.strip_prefix("sha256-")
            .and_then(|r| r.split_once('.'))
            .is_some_and(|(hex, suffix)| {
                hex.len() == 64
                    && hex.bytes().all(|b| b.is_ascii_hexdigit())
                    && ["sig", "att", "sbom"].contains(&suffix)
            })
    });
    !entry["artifactType"].is_null() || cosign_tag
}

/// The descriptor (digest, size, media type) tagged `tag` in the layout at `dir`; with no tag,
/// the only image's.
pub fn resolve(dir: &Path, tag: Option<&str>) -> Result<(String, u64, String), SinkError> {
    let one = resolve_entry(dir, tag)?;
    Ok((
        one["digest"].as_str().unwrap_or_default().to_string(),
        one["size"].as_u64().unwrap_or(0),
        one["mediaType"]
            .as_str()
            .unwrap_or(media_type::MANIFEST)
            .to_string(),
    ))
}

/// The image's name as the layout's index records it for containerd
/// (`io.containerd.image.name`, e.g. `go-id:v.1`), for the image [`resolve`] finds.
///
/// # Errors
/// As [`resolve`].
pub fn image_name(dir: &Path, tag: Option<&str>) -> Result<Option<String>, SinkError> {
    Ok(
        resolve_entry(dir, tag)?["annotations"]["io.containerd.image.name"]
            .as_str()
            .map(str::to_string),
    )
}

fn resolve_entry(dir: &Path, tag: Option<&str>) -> Result<Value, SinkError> {
    let index_path = dir.join("index.json");
    let bad = |m: String| SinkError::Refused {
        path: index_path.clone(),
        message: m,
    };
    let bytes = std::fs::read(&index_path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => SinkError::NotFound {
            path: dir.into(),
            message: "no OCI layout here (no index.json)".into(),
        },
        _ => io("reading", &index_path)(e),
    })?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
    let all = v["manifests"].as_array().cloned().unwrap_or_default();
    let images: Vec<&Value> = all
        .iter()
        .filter(|m| !is_attachment(m))
        .filter(|m| tag.is_none_or(|t| m["annotations"][REF_NAME] == t))
        .collect();
    match images.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(SinkError::NotFound {
            path: index_path.clone(),
            message: match tag {
                Some(t) if all.iter().any(|m| m["annotations"][REF_NAME] == t) => {
                    format!("{t} is a signature or attachment, not an image")
                }
                Some(t) => format!("no image tagged {t}"),
                None => "no image in it".into(),
            },
        }),
        _ => Err(bad("several images: name one with oci:DIR:TAG".into())),
    }
}

/// Stores an artifact (a signature or SBOM manifest and its blobs) in the layout at `dir`,
/// tagged `tag` (replacing an earlier one), with its artifactType in the index entry.
pub fn attach(
    dir: &Path,
    tag: &str,
    manifest: &[u8],
    blobs: &[Vec<u8>],
) -> Result<String, SinkError> {
    for b in blobs {
        put_blob(dir, b)?;
    }
    let digest = put_blob(dir, manifest)?;
    let m: Value = serde_json::from_slice(manifest).map_err(|e| SinkError::Refused {
        path: dir.into(),
        message: format!("attachment manifest is not JSON: {e}"),
    })?;
    let index_path = dir.join("index.json");
    let mut index: Value =
        serde_json::from_slice(&std::fs::read(&index_path).map_err(io("reading", &index_path))?)
            .map_err(|e| SinkError::Refused {
                path: index_path.clone(),
                message: format!("not JSON: {e}"),
            })?;
    let mut manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    manifests.retain(|x| x["annotations"][REF_NAME] != tag);
    let mut entry = json!({
        "mediaType": m["mediaType"].as_str().unwrap_or(media_type::MANIFEST),
        "digest": digest,
        "size": manifest.len(),
        "annotations": { REF_NAME: tag },
    });
    if !m["artifactType"].is_null() {
        entry["artifactType"] = m["artifactType"].clone();
    }
    manifests.push(entry);
    index["manifests"] = Value::Array(manifests);
    let tmp = TempPath::beside(&index_path);
    std::fs::write(&tmp.0, serde_json::to_vec(&index).expect("json"))
        .map_err(io("writing", &tmp.0))?;
    tmp.persist(&index_path)?;
    Ok(digest)
}

/// The manifest tagged `tag` and a blob reader, for reading attachments back.
pub fn read_tagged(dir: &Path, tag: &str) -> Result<Option<Vec<u8>>, SinkError> {
    let index_path = dir.join("index.json");
    let v: Value =
        serde_json::from_slice(&std::fs::read(&index_path).map_err(io("reading", &index_path))?)
            .unwrap_or(Value::Null);
    let Some(d) = v["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["annotations"][REF_NAME] == tag)
        .and_then(|m| m["digest"].as_str())
    else {
        return Ok(None);
    };
    let p = blob_path(dir, d);
    std::fs::read(&p).map(Some).map_err(io("reading", &p))
}

/// A blob of the layout, checked against its digest (image-spec "Image Layout": blobs are
/// content-addressed under `blobs/<alg>/<hex>`).
///
/// # Errors
/// [`SinkError::Refused`]: not a sha256 digest, unreadable (or leading outside the layout), or
/// content that does not match the digest.
pub fn read_blob(dir: &Path, digest: &str) -> Result<Vec<u8>, SinkError> {
    let refuse = |message: String| SinkError::Refused {
        path: dir.into(),
        message,
    };
    let hexd = digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| refuse(format!("`{digest}` is not a sha256 digest")))?;
    let mut b = Vec::new();
    open_inside(dir, &format!("blobs/sha256/{hexd}"))
        .and_then(|mut f| f.read_to_end(&mut b))
        .map_err(|e| refuse(format!("{digest}: {e}")))?;
    if digest_string(&b) != digest {
        return Err(refuse(format!("blob {digest} does not match its digest")));
    }
    Ok(b)
}

impl Sink for OciLayout {
    fn format(&self) -> crate::Format {
        crate::Format::Oci
    }

    fn write(&self, req: &WriteRequest) -> Result<Written, SinkError> {
        let out = req.out;
        let existing = out.exists();
        if existing {
            let empty = out.is_dir()
                && std::fs::read_dir(out)
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(false);
            if !out.join("oci-layout").is_file() && !empty {
                return Err(SinkError::Refused {
                    path: out.into(),
                    message: "exists and is not an OCI image layout".into(),
                });
            }
            // Merging writes under blobs/sha256 and index.json: none of them may lead elsewhere.
            for rel in ["blobs", "blobs/sha256", "index.json", "oci-layout"] {
                let p = out.join(rel);
                if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
                    return Err(SinkError::Refused {
                        path: p,
                        message: "is a symlink; binship does not write through links".into(),
                    });
                }
            }
        } else {
            crate::require_parent(out)?;
        }
        let (blobs, (extra, previous)) = if existing {
            let b = write_blobs(out, req)?;
            let extra = update_index(out, req, &b)?;
            (b, extra)
        } else {
            let tmp = TempPath::beside(out);
            std::fs::create_dir(&tmp.0).map_err(io("creating", &tmp.0))?;
            let b = write_blobs(&tmp.0, req)?;
            let extra = update_index(&tmp.0, req, &b)?;
            tmp.persist(out)?;
            (b, extra)
        };
        Ok(Written {
            format: crate::Format::Oci,
            path: out.into(),
            tag: req.tag.into(),
            manifest_digest: Some(blobs.manifest_digest),
            config_digest: blobs.config_digest,
            layers: blobs.layers,
            bytes: blobs.bytes + extra,
            flat_bytes: None,
            pushable: Some(blobs.pushable),
            previous,
        })
    }

    fn open(&self, path: &Path) -> Result<Box<dyn ImageReader>, SinkError> {
        Ok(Box::new(OciReader::new(
            DirBlobs(path.into()),
            format!("oci {}", path.display()),
        )))
    }
}

/// Where an OCI reader finds `index.json` and blobs.
pub trait BlobSource: Send + Sync {
    fn read(&self, name: &str) -> std::io::Result<Box<dyn Read + Send>>;
}

/// A layout directory.
pub struct DirBlobs(pub PathBuf);

impl BlobSource for DirBlobs {
    fn read(&self, name: &str) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(open_inside(&self.0, name)?))
    }
}

/// Opens `rel` under `root` without following a symlink anywhere below `root`: a layout whose
/// `blobs/sha256/<hex>` (or `blobs/`) is a symlink cannot make binship read a file elsewhere.
pub fn open_inside(root: &Path, rel: &str) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let link = |p: &Path| {
        std::io::Error::other(format!(
            "{} is a symlink; layouts are read without following links",
            p.display()
        ))
    };
    let mut p = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
    for (i, c) in parts.iter().enumerate() {
        if *c == ".." || *c == "." {
            return Err(std::io::Error::other(format!("{rel}: not a plain path")));
        }
        p.push(c);
        if i + 1 < parts.len() && std::fs::symlink_metadata(&p)?.file_type().is_symlink() {
            return Err(link(&p));
        }
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&p)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                link(&p)
            } else {
                e
            }
        })?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other(format!(
            "{} is not a regular file",
            p.display()
        )));
    }
    Ok(f)
}

/// Reads images from an OCI layout (a dir or a tar of one).
pub struct OciReader<B> {
    blobs: B,
    medium: String,
}

impl<B: BlobSource> OciReader<B> {
    pub fn new(blobs: B, medium: String) -> Self {
        OciReader { blobs, medium }
    }

    fn read_all(&self, name: &str) -> Result<Vec<u8>, ValidationError> {
        let mut v = Vec::new();
        self.blobs
            .read(name)
            .and_then(|mut r| r.read_to_end(&mut v))
            .map_err(|e| ValidationError::new(self.medium.clone(), name, e.to_string()))?;
        Ok(v)
    }

    /// Reads a blob and checks it has the claimed digest and size.
    fn checked_blob(&self, digest: &str, size: u64) -> Result<Vec<u8>, ValidationError> {
        let hexd = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        let Some(hexd) = hexd else {
            return Err(ValidationError::new(
                self.medium.clone(),
                digest,
                "not a sha256 digest",
            ));
        };
        let bytes = self.read_all(&format!("blobs/sha256/{hexd}"))?;
        let actual = digest_string(&bytes);
        if actual != digest || bytes.len() as u64 != size {
            return Err(ValidationError::new(
                self.medium.clone(),
                digest,
                format!(
                    "blob is {actual} ({} bytes), descriptor says {digest} ({size} bytes)",
                    bytes.len()
                ),
            ));
        }
        Ok(bytes)
    }
}

impl<B: BlobSource> ImageReader for OciReader<B> {
    fn describe(&self) -> String {
        self.medium.clone()
    }

    fn images(&self) -> Result<Vec<OpenedImage>, ValidationError> {
        let bad = |what: &str, m: String| ValidationError::new(self.medium.clone(), what, m);
        let layout = self.read_all("oci-layout")?;
        let layout: Value =
            serde_json::from_slice(&layout).map_err(|e| bad("oci-layout", e.to_string()))?;
        if layout["imageLayoutVersion"] != "1.0.0" {
            return Err(bad(
                "oci-layout",
                format!("unsupported version {}", layout["imageLayoutVersion"]),
            ));
        }
        let index = self.read_all("index.json")?;
        let index: Value = serde_json::from_slice(&index)
            .map_err(|e| bad("index.json", format!("not JSON: {e}")))?;
        let mut out = Vec::new();
        // Image indexes (several platforms) are expanded: each platform is an image.
        let mut entries: Vec<(Value, Value)> = Vec::new();
        for m in index["manifests"]
            .as_array()
            .ok_or_else(|| bad("index.json", "no manifests".into()))?
        {
            if is_attachment(m) {
                // Signatures, attestations, SBOMs and the referrers index are not images.
                continue;
            }
            if m["mediaType"] == media_type::INDEX {
                let digest = m["digest"].as_str().unwrap_or_default();
                let bytes = self.checked_blob(digest, m["size"].as_u64().unwrap_or(0))?;
                let nested: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| bad(digest, format!("image index is not JSON: {e}")))?;
                let children = nested["manifests"]
                    .as_array()
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| bad(digest, "image index lists no manifests".into()))?;
                for c in children {
                    if c["platform"]["architecture"].as_str().is_none() {
                        return Err(bad(
                            digest,
                            "a manifest in the index has no platform".into(),
                        ));
                    }
                    entries.push((c.clone(), m["annotations"].clone()));
                }
            } else {
                entries.push((m.clone(), m["annotations"].clone()));
            }
        }
        for (m, annotations) in &entries {
            let digest = m["digest"].as_str().unwrap_or_default();
            let size = m["size"].as_u64().unwrap_or(0);
            if m["mediaType"] != media_type::MANIFEST {
                return Err(bad(
                    digest,
                    format!("unsupported media type {}", m["mediaType"]),
                ));
            }
            let bytes = self.checked_blob(digest, size)?;
            let manifest = oci_spec::image::ImageManifest::from_reader(&bytes[..])
                .map_err(|e| bad(digest, format!("not an image manifest: {e}")))?;
            let cd = manifest.config();
            let config = self.checked_blob(cd.digest().as_ref(), cd.size())?;
            let layers = manifest
                .layers()
                .iter()
                .map(|l| LayerRef {
                    key: l.digest().to_string(),
                    digest: Some(l.digest().to_string()),
                    size: Some(l.size()),
                    media_type: Some(l.media_type().to_string()),
                })
                .collect();
            let tags = annotations[REF_NAME]
                .as_str()
                .map(|t| vec![t.to_string()])
                .unwrap_or_default();
            out.push(OpenedImage {
                tags,
                manifest_digest: Some(digest.to_string()),
                config_digest: cd.digest().to_string(),
                config,
                layers,
            });
        }
        Ok(out)
    }

    fn open_layer(&self, layer: &LayerRef) -> Result<Box<dyn Read + Send>, ValidationError> {
        let hexd = layer.key.trim_start_matches("sha256:");
        if hexd.len() != 64 || !hexd.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ValidationError::new(
                self.medium.clone(),
                layer.key.clone(),
                "not a sha256 digest",
            ));
        }
        self.blobs
            .read(&format!("blobs/sha256/{hexd}"))
            .map_err(|e| {
                ValidationError::new(self.medium.clone(), layer.key.clone(), e.to_string())
            })
    }
}
