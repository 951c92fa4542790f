//! The one validator: reads an image back through an [`ImageReader`] (each sink's reader
//! implements it) and checks every digest, size and diff_id, the config, and the layers' tar
//! members (no `..` or absolute paths), optionally that given files are present with given
//! sha256. Sink tests and `binship verify` both call [`validate`].

use std::collections::BTreeMap;
use std::io::Read;

use serde::Serialize;

use binship_oci::{HashReader, HashWriter};

/// A layer as a manifest names it.
#[derive(Debug, Clone)]
pub struct LayerRef {
    /// The reader's key (a digest for OCI, a member path for docker-archive).
    pub key: String,
    /// The digest and size the manifest claims (OCI); docker-archive claims none.
    pub digest: Option<String>,
    pub size: Option<u64>,
    pub media_type: Option<String>,
}

/// One image found in a medium.
#[derive(Debug, Clone)]
pub struct OpenedImage {
    /// Tags or reference names ("go-id:v.1").
    pub tags: Vec<String>,
    /// The manifest digest (OCI), if the medium has one.
    pub manifest_digest: Option<String>,
    /// The digest the medium claims for the config.
    pub config_digest: String,
    pub config: Vec<u8>,
    pub layers: Vec<LayerRef>,
}

/// Reads images back from a medium.
pub trait ImageReader: Send + Sync {
    /// "docker-archive go-id.tar", for messages.
    fn describe(&self) -> String;
    fn images(&self) -> Result<Vec<OpenedImage>, ValidationError>;
    fn open_layer(&self, layer: &LayerRef) -> Result<Box<dyn Read + Send>, ValidationError>;
}

/// What is wrong with an image, naming the part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{medium}: {what}: {message}")]
pub struct ValidationError {
    pub medium: String,
    pub what: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(
        medium: impl Into<String>,
        what: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ValidationError {
            medium: medium.into(),
            what: what.into(),
            message: message.into(),
        }
    }
}

/// A file found in a layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileInfo {
    pub size: u64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub sha256: Option<String>,
}

/// What validation found.
#[derive(Debug, Clone, Serialize)]
pub struct ImageReport {
    pub tags: Vec<String>,
    pub manifest_digest: Option<String>,
    pub config_digest: String,
    pub os: String,
    pub architecture: String,
    pub user: Option<String>,
    pub layers: Vec<ValidatedLayer>,
    /// Regular files of all layers (later layers win), by path without leading `/`.
    pub files: BTreeMap<String, FileInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ValidatedLayer {
    pub digest: String,
    pub size: u64,
    pub diff_id: String,
    pub uncompressed_size: u64,
    pub compression: String,
}

/// Files whose sha256 the validator should compute (e.g. the binary).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub hash_files: Vec<String>,
}

/// Checks every image `reader` holds.
pub fn validate(
    reader: &dyn ImageReader,
    opts: &Options,
) -> Result<Vec<ImageReport>, ValidationError> {
    let medium = reader.describe();
    let err = |what: &str, m: String| ValidationError::new(medium.clone(), what, m);
    let images = reader.images()?;
    if images.is_empty() {
        return Err(err("index", "holds no image".into()));
    }
    let mut out = Vec::new();
    for img in images {
        let actual = binship_oci::digest_string(&img.config);
        if actual != img.config_digest {
            return Err(err(
                "config",
                format!("digest is {actual}, but {} is claimed", img.config_digest),
            ));
        }
        let cfg: serde_json::Value = serde_json::from_slice(&img.config)
            .map_err(|e| err("config", format!("not JSON: {e}")))?;
        let s = |k: &str| cfg.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let os = s("os").ok_or_else(|| err("config", "no os".into()))?;
        let architecture =
            s("architecture").ok_or_else(|| err("config", "no architecture".into()))?;
        let diff_ids: Vec<String> = cfg["rootfs"]["diff_ids"]
            .as_array()
            .ok_or_else(|| err("config", "no rootfs.diff_ids".into()))?
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect();
        if diff_ids.len() != img.layers.len() {
            return Err(err(
                "config",
                format!(
                    "{} diff_ids for {} layers",
                    diff_ids.len(),
                    img.layers.len()
                ),
            ));
        }
        let mut files = BTreeMap::new();
        let mut layers = Vec::new();
        for (l, want_diff) in img.layers.iter().zip(&diff_ids) {
            let what = format!("layer {}", l.digest.as_deref().unwrap_or(&l.key));
            let v = check_layer(reader, l, &mut files, opts).map_err(|m| err(&what, m))?;
            if let Some(d) = &l.digest {
                if &v.digest != d {
                    return Err(err(&what, format!("content digest is {}", v.digest)));
                }
            }
            if let Some(sz) = l.size {
                if v.size != sz {
                    return Err(err(
                        &what,
                        format!("size is {}, but the manifest says {sz}", v.size),
                    ));
                }
            }
            if &v.diff_id != want_diff {
                return Err(err(
                    &what,
                    format!("diff_id is {}, but the config says {want_diff}", v.diff_id),
                ));
            }
            layers.push(v);
        }
        out.push(ImageReport {
            tags: img.tags,
            manifest_digest: img.manifest_digest,
            config_digest: img.config_digest,
            os,
            architecture,
            user: cfg["config"]["User"].as_str().map(str::to_string),
            layers,
            files,
        });
    }
    Ok(out)
}

fn check_layer(
    reader: &dyn ImageReader,
    l: &LayerRef,
    files: &mut BTreeMap<String, FileInfo>,
    opts: &Options,
) -> Result<ValidatedLayer, String> {
    let raw = reader.open_layer(l).map_err(|e| e.message)?;
    let mut raw = HashReader::new(std::io::BufReader::with_capacity(1 << 20, raw));
    let mut magic = [0u8; 4];
    let peek = {
        use std::io::BufRead;
        let b = raw.inner.fill_buf().map_err(|e| e.to_string())?;
        let n = b.len().min(4);
        magic[..n].copy_from_slice(&b[..n]);
        n
    };
    let compression = if peek >= 2 && magic[..2] == [0x1f, 0x8b] {
        "gzip"
    } else if peek == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        "zstd"
    } else {
        "none"
    };
    if let Some(mt) = &l.media_type {
        let expect = match compression {
            "gzip" => mt.ends_with("gzip"),
            "zstd" => mt.ends_with("zstd"),
            _ => mt.ends_with(".tar") || mt.ends_with("tar.diff"),
        };
        if !expect {
            return Err(format!("media type {mt} but the content is {compression}"));
        }
    }
    let (diff_id, uncompressed_size) = {
        let dec: Box<dyn Read + '_> = match compression {
            "gzip" => Box::new(flate2::read::MultiGzDecoder::new(&mut raw)),
            "zstd" => {
                Box::new(zstd::stream::read::Decoder::new(&mut raw).map_err(|e| e.to_string())?)
            }
            _ => Box::new(&mut raw),
        };
        let mut tee = HashReader::new(dec);
        read_tar(&mut tee, files, opts)?;
        // Drain what tar did not read (end-of-archive padding).
        std::io::copy(&mut tee, &mut std::io::sink()).map_err(|e| e.to_string())?;
        let (d, n, _) = tee.finish();
        (String::from(d), n)
    };
    std::io::copy(&mut raw, &mut std::io::sink()).map_err(|e| e.to_string())?;
    let (digest, size, _) = raw.finish();
    Ok(ValidatedLayer {
        digest: digest.into(),
        size,
        diff_id,
        uncompressed_size,
        compression: compression.into(),
    })
}

fn read_tar(
    r: &mut dyn Read,
    files: &mut BTreeMap<String, FileInfo>,
    opts: &Options,
) -> Result<(), String> {
    let mut a = tar::Archive::new(r);
    for e in a.entries().map_err(|e| format!("reading tar: {e}"))? {
        let mut e = e.map_err(|e| format!("reading tar: {e}"))?;
        let path = e
            .path()
            .map_err(|e| format!("reading tar: {e}"))?
            .to_string_lossy()
            .into_owned();
        if path.starts_with('/') || path.split('/').any(|c| c == "..") {
            return Err(format!("member {path} escapes the root"));
        }
        let h = e.header();
        if h.entry_type().is_file() {
            let key = path.trim_start_matches("./").to_string();
            let info = FileInfo {
                size: h.size().unwrap_or(0),
                mode: h.mode().unwrap_or(0),
                uid: h.uid().unwrap_or(0),
                gid: h.gid().unwrap_or(0),
                sha256: None,
            };
            let sha = if opts
                .hash_files
                .iter()
                .any(|f| f.trim_start_matches('/') == key)
            {
                let mut hw = HashWriter::new(std::io::sink());
                std::io::copy(&mut e, &mut hw).map_err(|e| e.to_string())?;
                Some(hw.finish().0.hex().to_string())
            } else {
                None
            };
            files.insert(
                key,
                FileInfo {
                    sha256: sha,
                    ..info
                },
            );
        }
    }
    Ok(())
}
