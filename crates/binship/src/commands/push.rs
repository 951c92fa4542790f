//! `binship push APP[:N] REF` (an image), `push-binary APP[:N] REF` and `pull-binary REF` (a
//! version as an OCI artifact): resolve, call binship-publish, print.

use binship_lifecycle::app_version;
use binship_pipeline::scaffold::ScaffoldRequest;
use binship_pipeline::ErrorClass;
use binship_publish::{artifact, push, RegistryOptions};
use binship_registry::Reference;
use binship_store::Store;
use serde_json::json;

use crate::exit;
use crate::output::{display_path, fail_class, pushed, warnings};
use crate::progress::BlobBars;

/// The app's version and the reference to push it to (default tag `v.N`).
fn target(
    store: &Store,
    app: &str,
    reference: &str,
) -> Result<(String, u32, Reference), (ErrorClass, String)> {
    let (name, version) = app_version(store, app)?;
    let to = binship_sink::Repository::parse(reference)
        .map_err(|e| (ErrorClass::Usage, e.to_string()))?
        .reference(version);
    Ok((name, version, to))
}

pub fn run(
    store: &Store,
    json_mode: bool,
    app: &str,
    reference: &str,
    registry: &RegistryOptions,
    base: Option<String>,
) -> i32 {
    let (name, version, to) = match target(store, app, reference) {
        Ok(t) => t,
        Err((c, m)) => return fail_class(json_mode, c, &m),
    };
    let req = ScaffoldRequest {
        app: name.clone(),
        version,
        base,
        ..Default::default()
    };
    let bars = BlobBars::new(!json_mode, "uploading");
    match push::pack_and_push(store, req, &to, registry, Some(&bars)) {
        Ok(p) => {
            warnings(&p.warnings);
            if json_mode {
                crate::output::json(&serde_json::json!(binship_publish::push::PushAnswer::new(
                    "image", &name, version, &p.pushed
                )
                .with_image_tests(p.image_tests.as_ref())));
                return exit::OK;
            }
            pushed(json_mode, &name, version, &p.pushed, "image");
            if let Some(t) = &p.image_tests {
                match &t.reused {
                    Some(at) => println!(
                        "  Image test: {}, remembered: this same image passed at {at}; not run again",
                        t.label()
                    ),
                    None => println!("  Image test: {}", t.label()),
                }
                if let (Some(note), None) = (&t.note, &t.reused) {
                    println!("  Image test runner: {note}");
                }
            }
            exit::OK
        }
        Err(e) => fail_class(json_mode, e.class, &e.message),
    }
}

pub fn push_binary(
    store: &Store,
    json_mode: bool,
    app: &str,
    reference: &str,
    registry: &RegistryOptions,
) -> i32 {
    let (name, version, to) = match target(store, app, reference) {
        Ok(t) => t,
        Err((c, m)) => return fail_class(json_mode, c, &m),
    };
    let bars = BlobBars::new(!json_mode, "uploading");
    match artifact::push_binary(store, &name, version, &to, registry, Some(&bars)) {
        Ok((p, warning)) => {
            warnings(warning.as_slice());
            pushed(json_mode, &name, version, &p, "binary");
            exit::OK
        }
        Err(e) => fail_class(json_mode, e.class, &e.message),
    }
}

pub fn pull_binary(store: &Store, json_mode: bool, reference: &str, insecure: bool) -> i32 {
    let bars = BlobBars::new(!json_mode, "downloading");
    let p = match artifact::pull_binary(store, reference, insecure, &bars) {
        Ok(p) => p,
        Err(e) => return fail_class(json_mode, e.class, &e.message),
    };
    let shown = display_path(&p.path).display().to_string();
    if json_mode {
        crate::output::json(&json!(p));
    } else if p.status == "unchanged" {
        say!("✓ Up to date: {shown} (identical to {})", p.from);
    } else {
        say!("✓ Pulled: {shown} from {} ({})", p.from, p.manifest_digest);
    }
    exit::OK
}
