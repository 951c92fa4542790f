//! `binship dockerfile APP [-o DIR]`: a docker build context for a tested version
//! (binship-pipeline's `dockerfile` module), printed.

use std::path::PathBuf;

use binship_lifecycle::app_version;
use binship_pipeline::dockerfile::write_context;
use binship_store::Store;
use serde_json::json;

use crate::exit;
use crate::output::{display_path, fail_class};

pub fn run(
    store: &Store,
    json_mode: bool,
    app: &str,
    version: Option<&str>,
    out: Option<PathBuf>,
    force: bool,
) -> i32 {
    let spec = version.map_or_else(|| app.to_string(), |v| format!("{app}:{v}"));
    let (app, v) = match app_version(store, &spec) {
        Ok(x) => x,
        Err((c, m)) => return fail_class(json_mode, c, &m),
    };
    let c = match write_context(store, &app, v, out, force) {
        Ok(c) => c,
        Err(e) => return fail_class(json_mode, e.class, &e.message),
    };
    if json_mode {
        let mut doc = json!(c);
        doc["status"] = json!("written");
        crate::output::json(&doc);
    } else {
        println!("{}", display_path(&c.dockerfile).display());
        let dir = display_path(&c.dir).display().to_string();
        eprintln!("build: docker build -t {app}:v.{v} {dir}");
    }
    exit::OK
}
