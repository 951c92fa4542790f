//! Images after packing: attachments (signature, SBOM) written into an OCI layout or pushed
//! beside an image, `binship verify IMAGE` (the shared validator for local media, then the
//! signature), and `binship inspect IMAGE` (provenance labels).

use std::path::{Path, PathBuf};

use binship_registry::{push_tags, Blob, Puller, PushOptions, Reference, TagPush};
use binship_sign::image::{self as att, Attachment, Subject};
use binship_sign::keys;
use binship_sink::oci_layout;
use binship_store::Store;
use serde_json::{json, Value};

use crate::commands::push::RegistryFlags;
use crate::exit;
use crate::output::error;

type Failure = (i32, String);

/// The signature and/or SBOM attachments for `subject` (image of `app` v.`version`).
pub fn attachments(
    store: &Store,
    app: &str,
    version: u32,
    subject: &Subject,
    reference: &str,
    sk: Option<&binship_sign::SecretKey>,
    sbom: bool,
) -> Result<Vec<Attachment>, Failure> {
    let mut out = Vec::new();
    if let Some(sk) = sk {
        out.push(att::signature(subject, reference, sk).map_err(|e| (exit::OTHER, e.to_string()))?);
    }
    if sbom {
        let written = crate::commands::supply::sbom_version(store, app, version)?;
        let dir = store.version_dir(app, version);
        let mut docs = Vec::new();
        for w in written {
            for (key, media) in [
                ("spdx", binship_oci::media_type::SPDX_JSON),
                ("cyclonedx", binship_oci::media_type::CYCLONEDX_JSON),
            ] {
                let p = PathBuf::from(w[key].as_str().unwrap_or(""));
                let bytes = std::fs::read(&p)
                    .map_err(|e| (exit::OTHER, format!("{}: {e}", p.display())))?;
                let name = p.strip_prefix(&dir).unwrap_or(&p).display().to_string();
                docs.push((name, media.to_string(), bytes));
            }
        }
        out.push(att::sbom(subject, docs));
    }
    Ok(out)
}

/// Stores attachments in an OCI layout.
pub fn attach_to_layout(dir: &Path, atts: &[Attachment]) -> Result<Vec<String>, Failure> {
    atts.iter()
        .map(|a| {
            oci_layout::attach(dir, &a.tag, &a.manifest, &a.blobs)
                .map(|_| a.tag.clone())
                .map_err(|e| (exit::OTHER, e.to_string()))
        })
        .collect()
}

/// Pushes attachments beside `to`'s image.
pub fn attach_to_registry(
    to: &Reference,
    atts: &[Attachment],
    flags: &RegistryFlags,
) -> Result<Vec<String>, Failure> {
    let items: Vec<TagPush> = atts
        .iter()
        .map(|a| TagPush {
            tag: &a.tag,
            manifest: &a.manifest,
            media_type: att::MANIFEST_MEDIA,
            blobs: a
                .blobs
                .iter()
                .map(|b| Blob::from_bytes(b.clone()))
                .collect(),
        })
        .collect();
    let opts = PushOptions {
        insecure: flags.insecure,
        ..Default::default()
    };
    let pushed = push_tags(to, &items, &opts).map_err(|e| (exit::OTHER, e.to_string()))?;
    Ok(pushed.into_iter().map(|p| p.reference).collect())
}

/// A local medium (`oci:DIR[:TAG]`, `oci-archive:FILE`, `docker-archive:FILE`) or a registry
/// reference.
enum Target {
    Local {
        format: &'static str,
        path: PathBuf,
        tag: Option<String>,
    },
    Remote(Reference),
}

fn parse_target(s: &str) -> Result<Target, String> {
    for (prefix, format) in [
        ("oci:", "oci"),
        ("oci-archive:", "oci-archive"),
        ("docker-archive:", "docker-archive"),
    ] {
        if let Some(rest) = s.strip_prefix(prefix) {
            let (path, tag) = match (format, rest.rsplit_once(':')) {
                ("oci", Some((p, t))) if !t.contains('/') => (p, Some(t.to_string())),
                _ => (rest, None),
            };
            return Ok(Target::Local {
                format,
                path: path.into(),
                tag,
            });
        }
    }
    Reference::parse(s, "latest")
        .map(Target::Remote)
        .map_err(|e| format!("{e} (or oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE)"))
}

pub fn run_verify(json_mode: bool, target: &str, public_key: Option<&Path>, insecure: bool) -> i32 {
    let fail = |code: i32, m: &str| {
        error(
            json_mode,
            if code == exit::VERIFY_FAILED {
                "verify_failed"
            } else {
                "error"
            },
            m,
            json!({}),
        );
        code
    };
    let t = match parse_target(target) {
        Ok(t) => t,
        Err(m) => return fail(exit::USAGE, &m),
    };
    let pk_path = public_key
        .map(Path::to_path_buf)
        .unwrap_or_else(|| keys::default_dir().join(keys::PUBLIC_NAME));
    let pk = match keys::load_public(&pk_path) {
        Ok(pk) => pk,
        Err(e) => return fail(exit::USAGE, &e.to_string()),
    };
    let mut images = 0;
    let result: Result<(String, String), Failure> = match &t {
        Target::Local { format, path, tag } => {
            (|| {
                // The shared validator first: every digest, size and member.
                let sink = binship_sink::sink_for(format).expect("known format");
                let reader = sink
                    .open(path)
                    .map_err(|e| (exit::VERIFY_FAILED, e.to_string()))?;
                images = binship_image::validate::validate(&*reader, &Default::default())
                    .map_err(|e| (exit::VERIFY_FAILED, e.to_string()))?
                    .len();
                if *format != "oci" {
                    return Err((exit::VERIFY_FAILED, format!("{}: valid, but signatures are stored only in OCI layouts and registries", path.display())));
                }
                let (digest, _, _) = oci_layout::resolve(path, tag.as_deref())
                    .map_err(|e| (exit::USAGE, e.to_string()))?;
                let sig_tag = att::tag_for(&digest, "sig");
                let m = oci_layout::read_tagged(path, &sig_tag)
                .map_err(|e| (exit::OTHER, e.to_string()))?
                .ok_or_else(|| (exit::VERIFY_FAILED, format!("{}: no signature for {digest} (no {sig_tag}); sign with scaffold --sign", path.display())))?;
                let what = format!("{}:{sig_tag}", path.display());
                att::verify_signature(&pk, &digest, &m, &what, |d, _| {
                    oci_layout::read_blob(path, d)
                })
                .map(|c| (digest, c))
                .map_err(|e| (exit::VERIFY_FAILED, e.to_string()))
            })()
        }
        Target::Remote(r) => (|| {
            let mut p =
                Puller::open(r, insecure, None).map_err(|e| (exit::OTHER, e.to_string()))?;
            let (_, _, digest) = p
                .manifest(&r.tag)
                .map_err(|e| (exit::OTHER, e.to_string()))?;
            let sig_tag = att::tag_for(&digest, "sig");
            let (m, _, _) = p
                .manifest_opt(&sig_tag)
                .map_err(|e| (exit::OTHER, e.to_string()))?
                .ok_or_else(|| {
                    (
                        exit::VERIFY_FAILED,
                        format!("{r}: no signature for {digest} (no tag {sig_tag})"),
                    )
                })?;
            let what = format!("{}:{sig_tag}", r.repo());
            att::verify_signature(&pk, &digest, &m, &what, |d, size| {
                p.blob_vec(d, size).map_err(|e| e.to_string())
            })
            .map(|c| (digest, c))
            .map_err(|e| (exit::VERIFY_FAILED, e.to_string()))
        })(),
    };
    match result {
        Ok((digest, comment)) => {
            if json_mode {
                crate::output::json(
                    &json!({ "status": "verified", "image": target, "digest": digest, "trusted_comment": comment, "images_validated": images }),
                );
            } else {
                println!("✓ Verified: {target} ({digest})");
                eprintln!("  signed: {comment}");
            }
            exit::OK
        }
        Err((code, m)) => fail(code, &m),
    }
}

/// The provenance labels binship writes.
const PROVENANCE: &[(&str, &str)] = &[
    ("title", "org.opencontainers.image.title"),
    ("version", "org.opencontainers.image.version"),
    ("commit", "org.opencontainers.image.revision"),
    ("dirty", "io.binship.git.dirty"),
    ("toolchain", "io.binship.toolchain"),
    ("build_command", "io.binship.build.command"),
    ("tests", "io.binship.tests"),
    ("binary_sha256", "io.binship.binary.sha256"),
    ("created", "org.opencontainers.image.created"),
    ("base", "io.binship.base"),
];

fn provenance(config: &Value) -> Value {
    let labels = &config["config"]["Labels"];
    let mut o = serde_json::Map::new();
    o.insert(
        "platform".into(),
        json!(format!(
            "{}/{}",
            config["os"].as_str().unwrap_or("?"),
            config["architecture"].as_str().unwrap_or("?")
        )),
    );
    for (k, label) in PROVENANCE {
        o.insert((*k).into(), labels[*label].clone());
    }
    Value::Object(o)
}

pub fn run_inspect(json_mode: bool, target: &str, insecure: bool) -> i32 {
    let t = match parse_target(target) {
        Ok(t) => t,
        Err(m) => {
            error(json_mode, "usage", &m, json!({}));
            return exit::USAGE;
        }
    };
    let configs: Result<Vec<Value>, String> = match &t {
        Target::Local { format, path, .. } => (|| {
            let sink = binship_sink::sink_for(format).expect("known format");
            let reader = sink.open(path).map_err(|e| e.to_string())?;
            reader
                .images()
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|i| serde_json::from_slice(&i.config).map_err(|e| e.to_string()))
                .collect()
        })(),
        Target::Remote(r) => (|| {
            let mut p = Puller::open(r, insecure, None).map_err(|e| e.to_string())?;
            let (bytes, _, _) = p.manifest(&r.tag).map_err(|e| e.to_string())?;
            let top: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
            let manifests: Vec<Value> = match top["manifests"].as_array() {
                Some(children) => children
                    .iter()
                    .map(|c| {
                        let d = c["digest"].as_str().unwrap_or_default();
                        p.manifest(d)
                            .map_err(|e| e.to_string())
                            .and_then(|(b, _, _)| {
                                serde_json::from_slice(&b).map_err(|e| e.to_string())
                            })
                    })
                    .collect::<Result<_, _>>()?,
                None => vec![top],
            };
            manifests
                .iter()
                .map(|m| {
                    let d = m["config"]["digest"].as_str().unwrap_or_default();
                    let size = m["config"]["size"].as_u64().unwrap_or(0);
                    p.blob_vec(d, size)
                        .map_err(|e| e.to_string())
                        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
                })
                .collect()
        })(),
    };
    match configs {
        Ok(cs) => {
            let prov: Vec<Value> = cs.iter().map(provenance).collect();
            if json_mode {
                crate::output::json(&json!({ "image": target, "images": prov }));
            } else {
                for p in &prov {
                    println!("{target} ({})", p["platform"].as_str().unwrap_or(""));
                    for (k, _) in PROVENANCE {
                        if let Some(v) = p[*k].as_str() {
                            println!("  {k:<14} {v}");
                        }
                    }
                }
            }
            exit::OK
        }
        Err(m) => {
            error(json_mode, "error", &m, json!({}));
            exit::OTHER
        }
    }
}
