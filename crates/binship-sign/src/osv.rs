//! Known-vulnerable Go modules: [`OsvDb::load`] reads OSV JSON records (one per file, the
//! format of osv.dev's exports) from a directory, and [`OsvDb::check`] lists the dependencies of
//! an [`Inventory`] whose version falls in an affected range (SEMVER events, or listed versions).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::sbom::Inventory;
use crate::SignError;

/// One affected module version found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub id: String,
    pub module: String,
    pub version: String,
    /// The first fixed version, when the record names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    pub summary: String,
}

struct Affected {
    id: String,
    summary: String,
    module: String,
    /// (introduced, fixed or last_affected (inclusive?)) pairs.
    ranges: Vec<(String, Option<String>, bool)>,
    versions: Vec<String>,
}

/// A set of OSV records.
pub struct OsvDb {
    entries: Vec<Affected>,
    pub files: usize,
    pub dir: PathBuf,
}

/// Compares Go/semver versions numerically (`v1.2.10` > `v1.2.9`); a pre-release sorts first.
fn cmp_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let parse = |s: &str| {
        let s = s.trim_start_matches('v');
        let (core, pre) = match s.split_once('-') {
            Some((c, p)) => (c, Some(p.to_string())),
            None => (s, None),
        };
        let nums: Vec<u64> = core.split('.').map(|p| p.parse().unwrap_or(0)).collect();
        (nums, pre)
    };
    let (na, pa) = parse(a);
    let (nb, pb) = parse(b);
    na.cmp(&nb).then(match (pa, pb) {
        (None, None) => std::cmp::Ordering::Equal,
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (Some(x), Some(y)) => x.cmp(&y),
    })
}

impl OsvDb {
    /// Reads every `*.json` in `dir` (one OSV record each, or an array of them).
    pub fn load(dir: &Path) -> Result<OsvDb, SignError> {
        let mut entries = Vec::new();
        let mut files = 0;
        let rd = std::fs::read_dir(dir).map_err(crate::io("reading OSV database", dir))?;
        let mut paths: Vec<PathBuf> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        for p in paths {
            let bad = |m: String| SignError::Osv {
                path: p.clone(),
                message: m,
            };
            let text = std::fs::read_to_string(&p).map_err(crate::io("reading", &p))?;
            let v: Value =
                serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
            let records = match v {
                Value::Array(a) => a,
                one => vec![one],
            };
            for r in records {
                let id = r["id"]
                    .as_str()
                    .ok_or_else(|| bad("an OSV record has no id".into()))?
                    .to_string();
                let affected = r["affected"]
                    .as_array()
                    .ok_or_else(|| bad(format!("{id}: no affected list")))?;
                for a in affected {
                    if a["package"]["ecosystem"] != "Go" {
                        continue;
                    }
                    let module = a["package"]["name"]
                        .as_str()
                        .ok_or_else(|| bad(format!("{id}: an affected package has no name")))?
                        .to_string();
                    let mut ranges = Vec::new();
                    for range in a["ranges"].as_array().into_iter().flatten() {
                        if range["type"] != "SEMVER" {
                            continue;
                        }
                        let mut intro: Option<String> = None;
                        for ev in range["events"].as_array().into_iter().flatten() {
                            if let Some(i) = ev["introduced"].as_str() {
                                intro = Some(i.to_string());
                            } else if let Some(f) = ev["fixed"].as_str() {
                                ranges.push((
                                    intro.take().unwrap_or("0".into()),
                                    Some(f.into()),
                                    false,
                                ));
                            } else if let Some(l) = ev["last_affected"].as_str() {
                                ranges.push((
                                    intro.take().unwrap_or("0".into()),
                                    Some(l.into()),
                                    true,
                                ));
                            }
                        }
                        if let Some(i) = intro {
                            ranges.push((i, None, false));
                        }
                    }
                    entries.push(Affected {
                        id: id.clone(),
                        summary: r["summary"].as_str().unwrap_or("").to_string(),
                        module,
                        ranges,
                        versions: a["versions"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect(),
                    });
                }
            }
            files += 1;
        }
        Ok(OsvDb {
            entries,
            files,
            dir: dir.into(),
        })
    }

    /// The dependencies (and main module) of `inv` in an affected range.
    pub fn check(&self, inv: &Inventory) -> Vec<Finding> {
        let mut out = Vec::new();
        for c in inv.main.iter().chain(&inv.dependencies) {
            if c.version == "(devel)" {
                continue;
            }
            for a in self.entries.iter().filter(|a| a.module == c.name) {
                let v = c.version.as_str();
                let listed = a.versions.iter().any(|x| cmp_versions(x, v).is_eq());
                let ranged = a.ranges.iter().find(|(intro, end, inclusive)| {
                    cmp_versions(v, intro).is_ge()
                        && match end {
                            None => true,
                            Some(e) if *inclusive => cmp_versions(v, e).is_le(),
                            Some(e) => cmp_versions(v, e).is_lt(),
                        }
                });
                if listed || ranged.is_some() {
                    out.push(Finding {
                        id: a.id.clone(),
                        module: c.name.clone(),
                        version: c.version.clone(),
                        fixed: ranged
                            .filter(|(_, _, inclusive)| !inclusive)
                            .and_then(|(_, e, _)| e.clone()),
                        summary: a.summary.clone(),
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sbom::Component;

    fn inv(deps: &[(&str, &str)]) -> Inventory {
        Inventory {
            name: "x".into(),
            size: 0,
            sha256: String::new(),
            source: "go".into(),
            toolchain: None,
            main: None,
            dependencies: deps
                .iter()
                .map(|(n, v)| Component {
                    name: n.to_string(),
                    version: v.to_string(),
                    sum: None,
                    replaced_by: None,
                    purl: String::new(),
                })
                .collect(),
            settings: vec![],
            note: None,
        }
    }

    #[test]
    fn ranges_match_by_number_and_malformed_files_are_named() {
        assert!(cmp_versions("v1.2.10", "1.2.9").is_gt());
        assert!(cmp_versions("v1.2.0-rc1", "v1.2.0").is_lt());
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("GO-1.json"),
            r#"{"id":"GO-2026-0001","summary":"bad thing","affected":[{"package":{"ecosystem":"Go","name":"example.com/lib"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.3.0"}]}]}]}"#,
        )
        .unwrap();
        let db = OsvDb::load(d.path()).unwrap();
        let f = db.check(&inv(&[
            ("example.com/lib", "v1.2.10"),
            ("example.com/other", "v1.0.0"),
        ]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].id, "GO-2026-0001");
        assert_eq!(f[0].fixed.as_deref(), Some("1.3.0"));
        assert!(db.check(&inv(&[("example.com/lib", "v1.3.0")])).is_empty());
        std::fs::write(d.path().join("bad.json"), "{ nope").unwrap();
        let e = OsvDb::load(d.path()).err().unwrap().to_string();
        assert!(e.contains("bad.json") && e.contains("not JSON"), "{e}");
    }
}
