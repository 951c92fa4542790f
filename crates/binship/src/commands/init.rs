//! `binship init <app> [--kind K --source DIR | --template T]`: binship-recipe's `init`,
//! with the app's directory from the store, printed.

use std::path::{Path, PathBuf};

use binship_recipe::init::{init, write_template, InitError};
use binship_store::Store;
use serde_json::json;

use crate::exit;
use crate::output::{display_path, fail};

fn failed(json_mode: bool, e: &InitError) -> i32 {
    let code = match e {
        InitError::Usage(_) => exit::USAGE,
        InitError::NotFound(_) => exit::NOT_FOUND,
        InitError::Conflict(_) => exit::CONFLICT,
        InitError::Io(_) => exit::OTHER,
    };
    fail(json_mode, code, &e.to_string())
}

pub fn run(
    store: &Store,
    cwd: &Path,
    json_mode: bool,
    app: &str,
    kind: &str,
    source: &Path,
    force: bool,
) -> i32 {
    let app_dir = store.app_dir(app);
    let done = match init(&app_dir, cwd, app, kind, source, force) {
        Ok(d) => d,
        Err(e) => return failed(json_mode, &e),
    };
    if let Err(e) = store.ensure() {
        return fail(json_mode, exit::OTHER, &e.to_string());
    }
    if json_mode {
        crate::output::json(
            &json!({ "status": "created", "app": app, "recipe": done.recipe, "build_sh": done.build_sh, "notes": done.notes }),
        );
    } else {
        for n in &done.notes {
            eprintln!("note: {n}");
        }
        println!("{}", display_path(&done.recipe).display());
        println!("{}", display_path(&done.build_sh).display());
        let dir = display_path(&app_dir).display().to_string();
        eprintln!("next: cd {dir} && ./build.sh");
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
    let source = source.unwrap_or_else(|| Path::new("src").join(app));
    let (kind, files) = match write_template(&cwd.join(&source), app, template, force) {
        Ok(x) => x,
        Err(e) => return failed(json_mode, &e),
    };
    if !json_mode {
        for f in &files {
            println!("{}", display_path(f).display());
        }
    }
    run(store, cwd, json_mode, app, kind, &source, force)
}
