//! `binship push APP[:N] REGISTRY/REPO[:TAG]`: pack the version as an OCI layout in binship's
//! temp dir (the scaffold pipeline), then push it.

use binship_pipeline::scaffold::{scaffold, ScaffoldRequest};
use binship_pipeline::ErrorClass;
use binship_registry::{push_layout, Reference};
use binship_store::Store;
use serde_json::json;

use crate::commands::build::parse_version;
use crate::exit;
use crate::output::error;

pub fn run(
    store: &Store,
    json_mode: bool,
    app: &str,
    reference: &str,
    insecure: bool,
    base: Option<String>,
) -> i32 {
    let fail = |class: ErrorClass, m: &str| {
        error(json_mode, exit::name(class), m, json!({}));
        exit::code(class)
    };
    let (name, version) = match app.split_once(':') {
        Some((n, v)) => match parse_version(v) {
            Ok(v) => (n, Some(v)),
            Err(m) => return fail(ErrorClass::Usage, &m),
        },
        None => (app, None),
    };
    if let Err(m) = binship_recipe::validate_app_name(name) {
        return fail(ErrorClass::Usage, &m);
    }
    let version = match version {
        Some(v) => v,
        None => match store.versions(name).ok().and_then(|v| v.last().copied()) {
            Some(v) => v,
            None => {
                return fail(
                    ErrorClass::NotFound,
                    &format!("No binary found for {name}. Build one first: binship build {name}"),
                )
            }
        },
    };
    let to = match Reference::parse(reference, &format!("v.{version}")) {
        Ok(r) => r,
        Err(e) => return fail(ErrorClass::Usage, &e.to_string()),
    };
    if let Err(e) = store.ensure() {
        return fail(ErrorClass::Other, &e.to_string());
    }
    let tmp = store
        .root()
        .join(".binship/tmp")
        .join(format!("push@{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let req = ScaffoldRequest {
        app: name.into(),
        version,
        format: "oci".into(),
        base,
        out: Some(tmp.clone()),
        tag: Some(format!("{name}:v.{version}")),
        source_date_epoch: std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|s| s.trim().parse().ok()),
        ..Default::default()
    };
    let packed = scaffold(store, &req);
    let result = packed
        .map_err(|e| (e.class(), e.to_string()))
        .and_then(|_| {
            push_layout(&tmp, &format!("v.{version}"), &to, insecure)
                .map_err(|e| (ErrorClass::Other, e.to_string()))
        });
    let _ = std::fs::remove_dir_all(&tmp);
    match result {
        Ok(p) => {
            // Later steps (rollback, gc) need to know what was published where.
            let recorded = store.lock(name, || {}).and_then(|lock| {
                store.record_publication(
                    &lock,
                    version,
                    binship_store::Publication {
                        reference: p.reference.clone(),
                        digest: p.manifest_digest.clone(),
                        at: binship_store::record::now_rfc3339(),
                    },
                )
            });
            if let Err(e) = recorded {
                eprintln!("warning: pushed, but the publication was not recorded: {e}");
            }
            if json_mode {
                crate::output::json(
                    &json!({ "status": "pushed", "app": name, "version": version, "pushed": p }),
                );
            } else {
                println!("✓ Pushed: {} ({})", p.reference, p.manifest_digest);
                println!(
                    "  blobs: {} uploaded, {} already there",
                    p.uploaded.len(),
                    p.skipped.len()
                );
            }
            exit::OK
        }
        Err((class, m)) => fail(class, &m),
    }
}
