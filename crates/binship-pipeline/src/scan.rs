//! The scan step of a build, [`run`]: the recipe's `[scan] command` over each binary (output in
//! `scan.log`, non-zero exit refuses the build), then, with an OSV database, the Go modules the
//! binaries embed checked for known-vulnerable versions (report in `scan.json`; a finding
//! refuses the build, or in warn mode comes back as a warning). Both files stay in the version
//! dir, or in the kept failed build.

use std::path::{Path, PathBuf};
use std::process::Command;

use binship_build::process::{describe_status, run_logged, Cancel};
use binship_build::BuildError;
use binship_recipe::Recipe;
use binship_sign::osv::OsvDb;
use binship_sign::sbom::read_inventory;

/// Runs the scans over `binaries` (in `staging`); returns the warnings (OSV findings when
/// `osv_warn`).
pub fn run(
    recipe: &Recipe,
    osv_db: Option<&Path>,
    osv_warn: bool,
    binaries: &[PathBuf],
    staging: &Path,
    cancel: &Cancel,
) -> Result<Vec<String>, BuildError> {
    if let Some(command) = &recipe.scan.command {
        let log = staging.join("scan.log");
        for b in binaries {
            let mut c = Command::new("sh");
            c.args(["-c", command])
                .current_dir(staging)
                .env("BINSHIP_BINARY", b)
                .env("BINSHIP_APP", &recipe.name);
            let status = run_logged(c, "scan", &log, &|_| {}, cancel)?;
            if !status.success() {
                return Err(BuildError::Failed {
                    step: format!(
                        "scan command on {}",
                        b.strip_prefix(staging).unwrap_or(b).display()
                    ),
                    status: describe_status(&status),
                    log,
                });
            }
        }
    }
    if let Some(dir) = osv_db {
        let db = OsvDb::load(dir).map_err(|e| BuildError::Scan(e.to_string()))?;
        let mut report = Vec::new();
        let mut findings = Vec::new();
        for b in binaries {
            let inv = read_inventory(b).map_err(|e| BuildError::Scan(e.to_string()))?;
            let f = db.check(&inv);
            report.push(serde_json::json!({
                "binary": b.strip_prefix(staging).unwrap_or(b),
                "source": inv.source,
                "modules": inv.dependencies.len() + usize::from(inv.main.is_some()),
                "findings": f,
            }));
            findings.extend(f);
        }
        let json = serde_json::json!({
            "osv_db": dir,
            "records_files": db.files,
            "binaries": report,
        });
        let path = staging.join("scan.json");
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&json).expect("json") + "\n",
        )
        .map_err(BuildError::io(format!("writing {}", path.display())))?;
        if !findings.is_empty() {
            let list = findings
                .iter()
                .map(|f| {
                    format!(
                        "{} {} {}{}",
                        f.id,
                        f.module,
                        f.version,
                        f.fixed
                            .as_deref()
                            .map(|x| format!(" (fixed in {x})"))
                            .unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let message = format!("known-vulnerable Go modules: {list}; see scan.json");
            if osv_warn {
                return Ok(vec![message]);
            }
            return Err(BuildError::Scan(message));
        }
    }
    Ok(Vec::new())
}
