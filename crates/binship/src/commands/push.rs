//! `binship push APP[:N] REGISTRY/REPO[:TAG]` and `scaffold --push`: pack the version as an OCI
//! layout in binship's temp dir (the scaffold pipeline), push it, record the publication.

use binship_pipeline::scaffold::{scaffold, ScaffoldRequest};
use binship_pipeline::ErrorClass;
use binship_registry::{push_layout, PushOptions, Pushed, Reference};
use binship_store::Store;
use serde_json::json;

use crate::exit;
use crate::output::error;
use crate::progress::BlobBars;

/// Registry flags shared by push, push-binary and scaffold --push.
#[derive(Debug, Clone, Default)]
pub struct RegistryFlags {
    pub insecure: bool,
    pub chunk_size: Option<u64>,
    pub mount_from: Vec<String>,
}

pub use binship_lifecycle::app_version;

/// Repositories on `to`'s registry where this app's blobs were pushed before (for mounts).
pub fn known_repos(store: &Store, app: &str, to: &Reference, extra: &[String]) -> Vec<String> {
    let mut repos: Vec<String> = extra.to_vec();
    for v in store.versions(app).unwrap_or_default() {
        for p in store.publications(app, v) {
            if let Ok(r) = Reference::parse(&p.reference, "x") {
                if r.registry == to.registry && r.repository != to.repository {
                    repos.push(r.repository);
                }
            }
        }
    }
    repos.sort();
    repos.dedup();
    repos
}

/// Records a push beside the version; a failure to record is a warning (the push happened).
pub fn record(store: &Store, app: &str, version: u32, p: &Pushed, kind: &str) {
    let recorded = store.lock(app, || {}).and_then(|lock| {
        store.record_publication(
            &lock,
            version,
            binship_store::Publication {
                reference: p.reference.clone(),
                digest: p.manifest_digest.clone(),
                at: binship_store::record::now_rfc3339(),
                kind: kind.into(),
            },
        )
    });
    if let Err(e) = recorded {
        eprintln!("warning: pushed, but the publication was not recorded: {e}");
    }
}

/// Packs `req` (its format and output replaced) as an OCI layout in the store's temp dir and
/// pushes it to `to`, recording the publication.
pub fn pack_and_push(
    store: &Store,
    req: ScaffoldRequest,
    to: &Reference,
    flags: &RegistryFlags,
    json_mode: bool,
) -> Result<Pushed, (ErrorClass, String)> {
    store
        .ensure()
        .map_err(|e| (ErrorClass::Other, e.to_string()))?;
    // What killed pushes left behind.
    let _ = store.sweep_tmp();
    let tmp =
        store
            .root()
            .join(".binship/tmp")
            .join(format!("push@{}-{}", std::process::id(), req.app));
    let _ = std::fs::remove_dir_all(&tmp);
    let (app, version) = (req.app.clone(), req.version);
    let req = ScaffoldRequest {
        format: binship_sink::Format::Oci,
        out: Some(tmp.clone()),
        force: false,
        tag: Some(format!("{app}:{}", to.tag)),
        ..req
    };
    let packed = scaffold(store, &req).map_err(|e| (e.class(), e.to_string()));
    let result = packed.and_then(|o| {
        if o.compression.starts_with("zstd") {
            eprintln!("warning: zstd layers: docker before 23.0 and umoci cannot pull this image");
        }
        let bars = BlobBars::new(!json_mode, "uploading");
        let opts = PushOptions {
            insecure: flags.insecure,
            chunk_size: flags.chunk_size,
            mount_from: known_repos(store, &app, to, &flags.mount_from),
            progress: Some(&bars),
            retry: None,
        };
        push_layout(&tmp, &to.tag, to, &opts).map_err(|e| (ErrorClass::Other, e.to_string()))
    });
    let _ = std::fs::remove_dir_all(&tmp);
    let pushed = result?;
    record(store, &app, version, &pushed, "image");
    Ok(pushed)
}

/// Prints a push's result.
pub fn report(json_mode: bool, app: &str, version: u32, p: &Pushed, kind: &str) {
    if json_mode {
        crate::output::json(
            &json!({ "status": "pushed", "kind": kind, "app": app, "version": version, "pushed": p }),
        );
    } else {
        println!("✓ Pushed: {} ({})", p.reference, p.manifest_digest);
        println!(
            "  blobs: {} uploaded ({}), {} mounted, {} already there",
            p.uploaded.len(),
            binship_store::readme::human_size(p.bytes_uploaded),
            p.mounted.len(),
            p.skipped.len()
        );
    }
}

pub fn run(
    store: &Store,
    json_mode: bool,
    app: &str,
    reference: &str,
    flags: &RegistryFlags,
    base: Option<String>,
) -> i32 {
    let fail = |class: ErrorClass, m: &str| {
        error(json_mode, exit::name(class), m, json!({}));
        exit::code(class)
    };
    let (name, version) = match app_version(store, app) {
        Ok(v) => v,
        Err((c, m)) => return fail(c, &m),
    };
    let to = match Reference::parse(reference, &format!("v.{version}")) {
        Ok(r) => r,
        Err(e) => return fail(ErrorClass::Usage, &e.to_string()),
    };
    let req = ScaffoldRequest {
        app: name.clone(),
        version,
        base,
        ..Default::default()
    };
    match pack_and_push(store, req, &to, flags, json_mode) {
        Ok(p) => {
            report(json_mode, &name, version, &p, "image");
            exit::OK
        }
        Err((class, m)) => fail(class, &m),
    }
}

/// Parses `64M`, `512K`, `1G` or bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&t[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("size `{s}` is not a positive number of bytes (e.g. 5M, 512K)"))
}
