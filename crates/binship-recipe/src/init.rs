//! `init`: a new app's recipe (from [`crate::template`]) and its `build.sh` wrapper, and the
//! service templates (go-http, rust-http, c-http) whose sources `init --template` writes
//! first. Every file is written to a temp name and renamed.

use std::path::{Component, Path, PathBuf};

use crate::{template, validate_app_name, Kind, Recipe, RECIPE_FILE};

/// Why `init` wrote nothing (or, for a template, only the sources).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitError {
    /// A bad app name, kind, template or source path (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The source dir does not exist (exit 3).
    #[error("{0}")]
    NotFound(String),
    /// The recipe exists, or the template's dir is not empty, without `force` (exit 7).
    #[error("{0}")]
    Conflict(String),
    /// A file could not be written (exit 1).
    #[error("{0}")]
    Io(String),
}

/// What [`init`] wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Initialized {
    pub recipe: PathBuf,
    pub build_sh: PathBuf,
    /// What init assumed or could not tell from the source (also `# init:` lines in the recipe).
    pub notes: Vec<String>,
}

/// Writes `app_dir/binship.toml` for `app` of `kind` building `source` (a dir, relative to
/// `cwd`) and `app_dir/build.sh`. The source is read first ([`crate::detect::detect`]: what to
/// build, how the program takes its port, a health route, `--version`). The recipe is parsed
/// before it lands.
///
/// # Errors
/// See [`InitError`]; `display` shows paths in messages.
pub fn init(
    app_dir: &Path,
    cwd: &Path,
    app: &str,
    kind: &str,
    source: &Path,
    force: bool,
) -> Result<Initialized, InitError> {
    validate_app_name(app).map_err(|e| InitError::Usage(e.0))?;
    let kind: Kind = kind
        .parse()
        .map_err(|e: crate::InvalidValue| InitError::Usage(e.0))?;
    let Ok(source_abs) = cwd.join(source).canonicalize() else {
        return Err(InitError::NotFound(format!(
            "source dir {} does not exist",
            source.display()
        )));
    };
    if !source_abs.is_dir() {
        return Err(InitError::Usage(format!(
            "{} is not a directory",
            source.display()
        )));
    }
    // What to build and how to test it, read in the source: nothing is written when the
    // source holds nothing this kind can build.
    let detected = crate::detect::detect(kind, &source_abs, app).map_err(InitError::Usage)?;
    let recipe_path = app_dir.join(RECIPE_FILE);
    if recipe_path.exists() && !force {
        return Err(InitError::Conflict(format!(
            "{} already exists; use --force to overwrite it",
            recipe_path.display()
        )));
    }
    let io = |m: String| InitError::Io(m);
    std::fs::create_dir_all(app_dir)
        .map_err(|e| io(format!("creating {}: {e}", app_dir.display())))?;
    let app_dir_abs = app_dir
        .canonicalize()
        .map_err(|e| io(format!("{}: {e}", app_dir.display())))?;
    let rel = relative(&app_dir_abs, &source_abs);
    let text = template(app, kind, &rel.to_string_lossy(), &detected);
    // Check what we write parses, before it lands.
    Recipe::parse(&text, &recipe_path).map_err(|e| io(e.to_string()))?;
    write_atomic(&recipe_path, text.as_bytes(), 0o644).map_err(io)?;
    let build_sh = app_dir.join("build.sh");
    write_atomic(&build_sh, wrapper(app).as_bytes(), 0o755).map_err(io)?;
    Ok(Initialized {
        recipe: recipe_path,
        build_sh,
        notes: detected.notes,
    })
}

/// The service templates `init --template` knows.
pub const TEMPLATES: &[&str] = &["go-http", "rust-http", "c-http"];

/// Writes the sources of `template` for `app` into `dir` (new or empty unless `force`);
/// returns the recipe kind and the files written.
///
/// # Errors
/// Usage: an unknown template, or an app name rust-http cannot use. Conflict: `dir` is not
/// empty. Io: a file cannot be written.
pub fn write_template(
    dir: &Path,
    app: &str,
    template: &str,
    force: bool,
) -> Result<(&'static str, Vec<PathBuf>), InitError> {
    validate_app_name(app).map_err(|e| InitError::Usage(e.0))?;
    let (kind, files): (&str, Vec<(&str, String)>) = match template {
        "go-http" => (
            "go",
            vec![
                (
                    "main.go",
                    include_str!("templates/go_main.go").replace("__NAME__", app),
                ),
                ("go.mod", format!("module example.com/{app}\n\ngo 1.19\n")),
            ],
        ),
        "rust-http" if app.contains('.') => {
            return Err(InitError::Usage(format!(
                "rust-http: `{app}` is not a Rust crate name (no `.`)"
            )))
        }
        "rust-http" => (
            "rust",
            vec![
                ("src/main.rs", include_str!("templates/rust_main.rs").replace("__NAME__", app)),
                (
                    "Cargo.toml",
                    format!("[package]\nname = \"{app}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n\n[profile.release]\nstrip = true\n"),
                ),
            ],
        ),
        "c-http" => (
            "c",
            vec![(
                "main.c",
                include_str!("templates/c_main.c").replace("__NAME__", app),
            )],
        ),
        other => {
            return Err(InitError::Usage(format!(
                "unknown template `{other}` ({})",
                TEMPLATES.join(", ")
            )))
        }
    };
    let occupied = std::fs::read_dir(dir)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if occupied && !force {
        return Err(InitError::Conflict(format!(
            "{} is not empty; use --force to write the template into it",
            dir.display()
        )));
    }
    let mut written = Vec::new();
    for (name, text) in &files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| InitError::Io(format!("creating {}: {e}", parent.display())))?;
        }
        write_atomic(&path, text.as_bytes(), 0o644).map_err(InitError::Io)?;
        written.push(path);
    }
    Ok((kind, written))
}

fn wrapper(app: &str) -> String {
    format!(
        "#!/bin/sh\n# Builds, tests and stores {app}: ./build.sh [VERSION] [--force]  (= binship build {app} ...)\n# Set BINSHIP to the binship binary when it is not on PATH.\nset -e\ncd \"$(dirname \"$0\")\"\nif ! command -v \"${{BINSHIP:-binship}}\" >/dev/null 2>&1; then\n  echo \"build.sh: ${{BINSHIP:-binship}} not found: run scripts/example.sh in binship's checkout (it installs binship on PATH), or set BINSHIP=/path/to/binship\" >&2\n  exit 127\nfi\nexec \"${{BINSHIP:-binship}}\" build {app} \"$@\"\n"
    )
}

fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)))
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("writing {}: {e}", path.display())
        })
}

/// The path from `from` (a dir) to `to`, both absolute and canonical.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let f: Vec<Component> = from.components().collect();
    let t: Vec<Component> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::relative;
    use std::path::Path;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative(
                Path::new("/r/images/standalone-binaries/go-id"),
                Path::new("/r/examples/go-id")
            ),
            Path::new("../../../examples/go-id")
        );
        assert_eq!(relative(Path::new("/a"), Path::new("/a")), Path::new("."));
    }
}
