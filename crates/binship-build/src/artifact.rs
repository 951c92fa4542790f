//! The [`Artifact`]: the produced binary copied into the version's staging dir, with its size,
//! sha256 and ELF facts, after the static and architecture checks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use binship_recipe::{Kind, Recipe};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::elf::{self, BinaryInfo};
use crate::{BuildError, Toolchain};

/// A built binary, ready to be tested and stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Artifact {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub info: BinaryInfo,
    pub toolchain: Toolchain,
    pub build_duration: Duration,
}

/// Copies `produced` to `dest` unless it is already there (mode 0755), hashes it and checks it is static and for the
/// recipe's target.
pub fn collect(
    recipe: &Recipe,
    produced: &Path,
    dest: &Path,
    toolchain: Toolchain,
    build_duration: Duration,
) -> Result<Artifact, BuildError> {
    use std::os::unix::fs::PermissionsExt;
    if !produced.is_file() {
        return Err(BuildError::NotProduced {
            path: produced.into(),
        });
    }
    let bytes = std::fs::read(produced)
        .map_err(BuildError::io(format!("reading {}", produced.display())))?;
    let info = elf::inspect(produced, &bytes)?;
    if recipe.require_static && !info.is_static {
        let detail = if info.needed.is_empty() {
            format!("interpreter {}", info.interpreter.as_deref().unwrap_or("?"))
        } else {
            format!("needs {}", info.needed.join(", "))
        };
        let hint = match recipe.kind {
            Kind::Go => "set CGO_ENABLED=0 (binship's default; check build.env) or static = false in the recipe",
            Kind::Rust => "build with -C target-feature=+crt-static or set static = false in the recipe",
            Kind::C => "link with -static or set static = false in the recipe",
            Kind::Command => "make the build command link statically or set static = false in the recipe",
        };
        return Err(BuildError::Dynamic {
            app: recipe.name.clone(),
            detail,
            hint: hint.into(),
        });
    }
    if info.arch != recipe.target.arch {
        return Err(BuildError::WrongArch {
            app: recipe.name.clone(),
            found: format!("linux/{}", info.arch),
            expected: recipe.target.to_string(),
        });
    }
    if produced != dest {
        std::fs::write(dest, &bytes)
            .map_err(BuildError::io(format!("writing {}", dest.display())))?;
    }
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o755))
        .map_err(BuildError::io(format!("chmod {}", dest.display())))?;
    Ok(Artifact {
        path: dest.into(),
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
        info,
        toolchain,
        build_duration,
    })
}
