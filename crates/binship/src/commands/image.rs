//! `binship verify IMAGE` (the shared validator for local media, then the signature),
//! `binship sign-image IMAGE` and `binship inspect IMAGE` (provenance labels):
//! binship-publish's `image` module, printed.

use binship_publish::image::{inspect, sign_image, verify_image, VerifyOptions, PROVENANCE};
use serde_json::json;

use crate::cli::KeyArgs;
use crate::exit;
use crate::output::fail_class;

pub fn run_verify(json_mode: bool, target: &str, o: &VerifyOptions) -> i32 {
    match verify_image(target, o) {
        Ok(v) => {
            if json_mode {
                crate::output::json(&json!(v));
            } else {
                say!(
                    "✓ Verified: {target} ({}, {} signature)",
                    v.digest,
                    v.format
                );
                match (&v.trusted_comment, &v.docker_reference) {
                    (Some(c), _) => eprintln!("  signed: {c}"),
                    (None, Some(r)) => eprintln!("  signed for: {r}"),
                    (None, None) => {}
                }
                for a in v.attestations.iter().flatten() {
                    say_err!(
                        "✓ Attestation: {} ({}) from {}",
                        a.predicate_type,
                        a.names(),
                        a.source
                    );
                }
                if let Some(r) = &v.referrers {
                    eprintln!("  referrers: {r}");
                }
            }
            exit::OK
        }
        Err(e) => fail_class(json_mode, e.class, &e.message),
    }
}

pub fn run_sign_image(json_mode: bool, target: &str, key: &KeyArgs, insecure: bool) -> i32 {
    let key = match crate::keys::unlock_image_key(key) {
        Ok(k) => k,
        Err(m) => return crate::output::fail(json_mode, exit::USAGE, &m),
    };
    match sign_image(target, &key, insecure) {
        Ok(s) => {
            if json_mode {
                crate::output::json(&json!(s));
            } else {
                say!("✓ Signed: {target} ({}, {} signature)", s.digest, s.format);
                eprintln!("  signature: {}", s.signature);
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
