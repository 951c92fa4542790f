//! `binship list [app]`: the stored versions, as a table or `--json`.

use binship_recipe::validate_app_name;
use binship_store::readme::human_size;
use binship_store::Store;
use serde_json::json;

use crate::exit;
use crate::output::error;

pub fn run(store: &Store, json_mode: bool, app: Option<&str>) -> i32 {
    let apps = match app {
        Some(a) => {
            if let Err(m) = validate_app_name(a) {
                error(json_mode, "usage", &m, json!({}));
                return exit::USAGE;
            }
            if !store.app_dir(a).is_dir() {
                error(
                    json_mode,
                    "not_found",
                    &format!(
                        "no app `{a}` in {} (binship init {a} ... creates one)",
                        store.root().display()
                    ),
                    json!({}),
                );
                return exit::NOT_FOUND;
            }
            vec![a.to_string()]
        }
        None => match store.apps() {
            Ok(a) => a,
            Err(e) => {
                error(json_mode, "error", &e.to_string(), json!({}));
                return exit::OTHER;
            }
        },
    };
    let mut docs = Vec::new();
    for a in &apps {
        let versions = match store.versions(a) {
            Ok(v) => v,
            Err(e) => {
                error(json_mode, "error", &e.to_string(), json!({}));
                return exit::OTHER;
            }
        };
        let mut vs = Vec::new();
        for v in versions {
            let dir = store.version_dir(a, v);
            match store.record(a, v) {
                Ok(r) => vs.push(json!({
                    "version": v,
                    "dir": dir,
                    "binary": dir.join(&r.binary.name),
                    "status": r.status,
                    "size": r.binary.size,
                    "sha256": r.binary.sha256,
                    "static": r.binary.is_static,
                    "target": r.target,
                    "tests": { "passed": r.passed, "failed": r.failed, "total": r.total },
                    "commit": r.git.commit,
                    "dirty": r.git.dirty,
                    "built_at": r.built_at,
                    "platforms": r.all_platforms(),
                })),
                Err(e) => vs.push(json!({ "version": v, "dir": dir, "status": "unknown", "error": e.to_string() })),
            }
        }
        // The version scaffold and push use without --version (binship promote sets it).
        let current = store.current(a).ok().flatten();
        docs.push(json!({ "app": a, "recipe": store.recipe_path(a).is_file(), "current": current, "versions": vs }));
    }
    if json_mode {
        crate::output::json(&json!({ "store": store.root(), "apps": docs }));
        return exit::OK;
    }
    if docs.is_empty() {
        eprintln!("no apps in {}", store.root().display());
        return exit::OK;
    }
    println!(
        "{:<20} {:>7} {:>9} {:>6} {:>7} {:<14} {:<20} PLATFORMS",
        "APP", "VERSION", "SIZE", "STATIC", "TESTS", "COMMIT", "BUILT"
    );
    for d in &docs {
        let app = d["app"].as_str().unwrap_or("");
        let versions = d["versions"].as_array().cloned().unwrap_or_default();
        if versions.is_empty() {
            println!("{app:<20} {:>7}", "-");
        }
        for v in versions {
            if v["status"] == "unknown" {
                println!(
                    "{app:<20} {:>7} {}",
                    format!("v.{}", v["version"]),
                    v["error"].as_str().unwrap_or("")
                );
                continue;
            }
            let commit = match v["commit"].as_str() {
                Some(c) => format!(
                    "{}{}",
                    &c[..c.len().min(7)],
                    if v["dirty"] == true { "+dirty" } else { "" }
                ),
                None => "-".into(),
            };
            let platforms = v["platforms"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    let t = p["target"].as_str().unwrap_or("");
                    match p["status"].as_str() {
                        Some("skipped") => format!("{t} (untested)"),
                        _ => t.to_string(),
                    }
                })
                .collect::<Vec<_>>()
                .join(",");
            // `*` marks the current version (binship promote; scaffold and push use it).
            let mark = if d["current"] == v["version"] {
                "*"
            } else {
                " "
            };
            println!(
                "{app:<20} {:>7}{mark}{:>8} {:>6} {:>7} {:<14} {:<20} {platforms}",
                format!("v.{}", v["version"]),
                human_size(v["size"].as_u64().unwrap_or(0)),
                if v["static"] == true { "yes" } else { "no" },
                format!("{}/{}", v["tests"]["passed"], v["tests"]["total"]),
                commit,
                v["built_at"].as_str().unwrap_or("")
            );
        }
    }
    exit::OK
}

/// `binship list --remote REGISTRY/REPO`: the registry's tags, `v.N` first by number.
pub fn remote(json_mode: bool, reference: &str, insecure: bool) -> i32 {
    let r = match binship_registry::Reference::parse(reference, "latest") {
        Ok(r) => r,
        Err(e) => {
            error(json_mode, "usage", &e.to_string(), json!({}));
            return exit::USAGE;
        }
    };
    match binship_registry::list_tags(&r, insecure) {
        Ok(tags) => {
            if json_mode {
                crate::output::json(
                    &json!({ "repository": format!("{}/{}", r.registry, r.repository), "tags": tags }),
                );
            } else {
                for t in &tags {
                    println!("{}/{}:{t}", r.registry, r.repository);
                }
            }
            exit::OK
        }
        Err(e) => {
            error(json_mode, "error", &e.to_string(), json!({}));
            exit::OTHER
        }
    }
}
