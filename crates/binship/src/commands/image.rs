//! `binship verify IMAGE` (the shared validator for local media, then the signature) and
//! `binship inspect IMAGE` (provenance labels): binship-publish's `image` module, printed.

use std::path::Path;

use binship_publish::image::{inspect, verify_image, PROVENANCE};
use serde_json::json;

use crate::exit;
use crate::output::fail_class;

pub fn run_verify(json_mode: bool, target: &str, public_key: Option<&Path>, insecure: bool) -> i32 {
    match verify_image(target, public_key, insecure) {
        Ok(v) => {
            if json_mode {
                crate::output::json(&json!(v));
            } else {
                say!("✓ Verified: {target} ({})", v.digest);
                eprintln!("  signed: {}", v.trusted_comment);
            }
            exit::OK
        }
        Err(e) => fail_class(json_mode, e.class, &e.message),
    }
}

pub fn run_inspect(json_mode: bool, target: &str, insecure: bool) -> i32 {
    let found = match inspect(target, insecure) {
        Ok(p) => p,
        Err(e) => return fail_class(json_mode, e.class, &e.message),
    };
    if json_mode {
        crate::output::json(&json!(found));
        return exit::OK;
    }
    for p in &found.images {
        println!("{target} ({})", p["platform"].as_str().unwrap_or(""));
        for (k, _) in PROVENANCE {
            if let Some(v) = p[*k].as_str() {
                println!("  {k:<14} {v}");
            }
        }
    }
    exit::OK
}
