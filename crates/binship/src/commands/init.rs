//! `binship init <app> --kind K --source DIR`: writes the recipe and the build.sh wrapper.

use std::path::{Component, Path, PathBuf};

use binship_recipe::{template, validate_app_name, Kind, Recipe, RECIPE_FILE};
use binship_store::Store;
use serde_json::json;

use crate::exit;
use crate::output::{display_path, error};

pub fn run(
    store: &Store,
    cwd: &Path,
    json_mode: bool,
    app: &str,
    kind: &str,
    source: &Path,
    force: bool,
) -> i32 {
    if let Err(m) = validate_app_name(app) {
        error(json_mode, "usage", &m, json!({}));
        return exit::USAGE;
    }
    let kind: Kind = match kind.parse() {
        Ok(k) => k,
        Err(m) => {
            error(json_mode, "usage", &m, json!({}));
            return exit::USAGE;
        }
    };
    let source_abs = cwd.join(source);
    let Ok(source_abs) = source_abs.canonicalize() else {
        error(
            json_mode,
            "not_found",
            &format!("source dir {} does not exist", source.display()),
            json!({}),
        );
        return exit::NOT_FOUND;
    };
    if !source_abs.is_dir() {
        error(
            json_mode,
            "usage",
            &format!("{} is not a directory", source.display()),
            json!({}),
        );
        return exit::USAGE;
    }
    let app_dir = store.app_dir(app);
    let recipe_path = app_dir.join(RECIPE_FILE);
    if recipe_path.exists() && !force {
        error(
            json_mode,
            "conflict",
            &format!(
                "{} already exists; use --force to overwrite it",
                display_path(&recipe_path).display()
            ),
            json!({}),
        );
        return exit::CONFLICT;
    }
    let result = (|| -> Result<(), String> {
        store.ensure().map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&app_dir)
            .map_err(|e| format!("creating {}: {e}", app_dir.display()))?;
        let app_dir_abs = app_dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", app_dir.display()))?;
        let rel = relative(&app_dir_abs, &source_abs);
        let text = template(app, kind, &rel.to_string_lossy());
        // Check what we write parses, before it lands.
        Recipe::parse(&text, &recipe_path).map_err(|e| e.to_string())?;
        write_atomic(&recipe_path, text.as_bytes(), 0o644)?;
        write_atomic(&app_dir.join("build.sh"), wrapper(app).as_bytes(), 0o755)?;
        Ok(())
    })();
    if let Err(m) = result {
        error(json_mode, "error", &m, json!({}));
        return exit::OTHER;
    }
    if json_mode {
        crate::output::json(
            &json!({ "status": "created", "app": app, "recipe": recipe_path, "build_sh": app_dir.join("build.sh") }),
        );
    } else {
        println!("{}", display_path(&recipe_path).display());
        println!("{}", display_path(&app_dir.join("build.sh")).display());
        eprintln!(
            "next: cd {} && ./build.sh",
            display_path(&app_dir).display()
        );
    }
    exit::OK
}

/// `init --template`: writes the service's source (into an empty or new dir), then the recipe.
pub fn from_template(
    store: &Store,
    cwd: &Path,
    json_mode: bool,
    app: &str,
    template: &str,
    source: Option<PathBuf>,
    force: bool,
) -> i32 {
    if let Err(m) = validate_app_name(app) {
        error(json_mode, "usage", &m, json!({}));
        return exit::USAGE;
    }
    let (kind, files): (&str, Vec<(&str, String)>) = match template {
        "go-http" => (
            "go",
            vec![
                (
                    "main.go",
                    include_str!("../templates/go_main.go").replace("__NAME__", app),
                ),
                ("go.mod", format!("module example.com/{app}\n\ngo 1.19\n")),
            ],
        ),
        "rust-http" => {
            if app.contains('.') {
                error(
                    json_mode,
                    "usage",
                    &format!("rust-http: `{app}` is not a Rust crate name (no `.`)"),
                    json!({}),
                );
                return exit::USAGE;
            }
            (
                "rust",
                vec![
                    ("src/main.rs", include_str!("../templates/rust_main.rs").replace("__NAME__", app)),
                    (
                        "Cargo.toml",
                        format!("[package]\nname = \"{app}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n\n[profile.release]\nstrip = true\n"),
                    ),
                ],
            )
        }
        "c-http" => (
            "c",
            vec![(
                "main.c",
                include_str!("../templates/c_main.c").replace("__NAME__", app),
            )],
        ),
        other => {
            error(
                json_mode,
                "usage",
                &format!("unknown template `{other}` (go-http, rust-http, c-http)"),
                json!({}),
            );
            return exit::USAGE;
        }
    };
    let source = source.unwrap_or_else(|| Path::new("src").join(app));
    let dir = cwd.join(&source);
    let occupied = std::fs::read_dir(&dir)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if occupied && !force {
        error(
            json_mode,
            "conflict",
            &format!(
                "{} is not empty; use --force to write the template into it",
                source.display()
            ),
            json!({}),
        );
        return exit::CONFLICT;
    }
    for (name, text) in &files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            if let Err(e) = std::fs::create_dir_all(parent) {
                error(
                    json_mode,
                    "error",
                    &format!("creating {}: {e}", parent.display()),
                    json!({}),
                );
                return exit::OTHER;
            }
        }
        if let Err(m) = write_atomic(&path, text.as_bytes(), 0o644) {
            error(json_mode, "error", &m, json!({}));
            return exit::OTHER;
        }
    }
    if !json_mode {
        for (name, _) in &files {
            println!("{}", display_path(&dir.join(name)).display());
        }
    }
    run(store, cwd, json_mode, app, kind, &source, force)
}

fn wrapper(app: &str) -> String {
    format!(
        "#!/bin/sh\n# Builds, tests and stores {app}: ./build.sh [VERSION] [--force]  (= binship build {app} ...)\n# Set BINSHIP to the binship binary when it is not on PATH.\nset -e\ncd \"$(dirname \"$0\")\"\nexec \"${{BINSHIP:-binship}}\" build {app} \"$@\"\n"
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
