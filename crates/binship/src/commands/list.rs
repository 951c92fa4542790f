//! `binship list [app]`: the stored versions, as a table or `--json`.

use binship_store::readme::human_size;
use binship_store::Store;
use serde_json::json;

use crate::exit;
use crate::output::error;

pub fn run(store: &Store, json_mode: bool, app: Option<&str>) -> i32 {
    let listing = match binship_lifecycle::list(store, app) {
        Ok(l) => l,
        Err(e) => return crate::output::fail_class(json_mode, e.class(), &e.to_string()),
    };
    let docs = listing["apps"].as_array().cloned().unwrap_or_default();
    if json_mode {
        crate::output::json(&listing);
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
            // On a colour terminal: the current version bold green, test counts green when
            // all passed, red when not.
            let current = d["current"] == v["version"];
            let mark = console::style(if current { "*" } else { " " })
                .green()
                .bold();
            let tests = format!("{}/{}", v["tests"]["passed"], v["tests"]["total"]);
            let all = v["tests"]["passed"] == v["tests"]["total"];
            let tests = console::style(format!("{tests:>7}"));
            let version = console::style(format!("{:>7}", format!("v.{}", v["version"])));
            println!(
                "{app:<20} {}{mark}{:>8} {:>6} {} {:<14} {:<20} {platforms}",
                if current {
                    version.green().bold()
                } else {
                    version
                },
                human_size(v["size"].as_u64().unwrap_or(0)),
                if v["static"] == true { "yes" } else { "no" },
                if all { tests.green() } else { tests.red() },
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
