//! Bad input: each case gets a clear one-line error naming the file or thing, the documented
//! exit code, and nothing half-written in the store.

mod common;
use common::*;

/// The first stderr line, and that it is the only `error:` line.
#[track_caller]
fn one_error(r: &Run) -> String {
    let errs: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errs.len(), 1, "{r:?}");
    errs[0].to_string()
}

#[track_caller]
fn nothing_stored(p: &Project, app: &str) {
    assert!(p.versions(app).is_empty(), "{:?}", p.versions(app));
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn missing_recipe_is_not_found() {
    let p = Project::new();
    let r = p.run(&["build", "nope"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        one_error(&r).contains("images/standalone-binaries/nope/binship.toml: recipe not found"),
        "{r:?}"
    );
    let r = p.run(&["list", "nope"]);
    assert_eq!(r.code, 3, "{r:?}");
}

#[test]
fn unparsable_recipe_and_unknown_keys_name_file_and_line() {
    let p = Project::new().with_app("bad", "kind = \"go\"\n[test]\nprot = 7001\n", &[]);
    let r = p.run(&["build", "bad"]);
    assert_eq!(r.code, 2, "{r:?}");
    let e = one_error(&r);
    assert!(
        e.contains("bad/binship.toml:5:1: unknown field `prot`"),
        "{e}"
    );
    std::fs::write(
        p.app_dir("bad").join("binship.toml"),
        "name = \"bad\"\nkind = go\n",
    )
    .unwrap();
    let r = p.run(&["build", "bad", "--json"]);
    assert_eq!(r.code, 2);
    assert!(one_error(&r).contains("bad/binship.toml:2:"), "{r:?}");
    assert_eq!(r.json()["error"], "usage");
    nothing_stored(&p, "bad");
}

#[test]
fn recipe_name_must_match_its_directory() {
    let p = Project::new().with_app("one", "kind = \"go\"\n", &[]);
    let recipe = p.app_dir("one").join("binship.toml");
    std::fs::write(
        &recipe,
        std::fs::read_to_string(&recipe)
            .unwrap()
            .replace("name = \"one\"", "name = \"two\""),
    )
    .unwrap();
    let r = p.run(&["build", "one"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(one_error(&r).contains("name = \"two\""), "{r:?}");
}

#[test]
fn missing_source_dir_is_not_found() {
    let p = Project::new().with_app("gone", "kind = \"go\"\n", &[]);
    std::fs::remove_dir_all(p.path().join("src/gone")).unwrap();
    let r = p.run(&["build", "gone"]);
    assert_eq!(r.code, 3, "{r:?}");
    let e = one_error(&r);
    assert!(
        e.contains("gone/binship.toml: source dir") && e.contains("does not exist"),
        "{e}"
    );
    // The dir is named as a path, not as the recipe's `../../../src/gone` joined on.
    assert!(
        e.contains(&format!(
            "source dir {}/src/gone does not exist",
            p.path().display()
        )),
        "{e}"
    );
}

#[test]
fn bad_app_names_and_versions_are_usage_errors() {
    let p = Project::new();
    for name in ["../etc", "a/b", "..", "Bad"] {
        let r = p.run(&["build", name]);
        assert_eq!(r.code, 2, "{name}: {r:?}");
        assert!(one_error(&r).contains("app name"), "{r:?}");
    }
    for v in ["0", "abc", "-3", "1.5"] {
        let r = p.run(&["build", "go-id", v]);
        assert_eq!(r.code, 2, "{v}: {r:?}");
        assert!(
            one_error(&r).contains("version must be a positive integer"),
            "{r:?}"
        );
    }
    // A key where nothing signs would be ignored: refused instead.
    for cmd in [
        &["build", "go-id", "--key", "k"][..],
        &["update", "go-id", "--password-file", "pw"][..],
    ] {
        let r = p.run(cmd);
        assert_eq!(r.code, 2, "{cmd:?}: {r:?}");
        assert!(
            one_error(&r).contains("--key and --password-file are for --sign"),
            "{r:?}"
        );
    }
    assert!(!p.store().exists(), "a usage error created the store");
}

#[test]
fn compile_error_fails_the_build_and_keeps_the_log() {
    let p = Project::new().with_app(
        "broken",
        "kind = \"go\"\n[build]\nenv = { GOPROXY = \"off\" }\n",
        &[
            ("go.mod", "module broken\n\ngo 1.19\n"),
            (
                "main.go",
                "package main\nfunc main() { undefined_thing() }\n",
            ),
        ],
    );
    let r = p.run(&["build", "broken", "--json"]);
    assert_eq!(r.code, 5, "{r:?}");
    let e = one_error(&r);
    assert!(
        e.contains("broken v.1: go build failed (exit status ") && e.contains(".binship/failed/"),
        "{e}"
    );
    assert!(
        r.stderr.contains("undefined: undefined_thing"),
        "the log tail is shown: {r:?}"
    );
    let kept = r.json()["kept"].as_str().unwrap().to_string();
    assert!(
        std::fs::read_to_string(std::path::Path::new(&kept).join("build.log"))
            .unwrap()
            .contains("undefined_thing")
    );
    assert!(kept.contains(".binship/failed/"));
    nothing_stored(&p, "broken");
}

#[test]
fn binary_not_produced_fails_the_build() {
    let p = Project::new().with_app(
        "ghost",
        "kind = \"command\"\n[build]\ncommand = \"echo building nothing\"\noutput = \"ghost\"\n",
        &[("README", "x")],
    );
    let r = p.run(&["build", "ghost"]);
    assert_eq!(r.code, 5, "{r:?}");
    assert!(
        one_error(&r).contains("binary was not produced at"),
        "{r:?}"
    );
    nothing_stored(&p, "ghost");
}

#[test]
fn a_dynamic_binary_is_refused_unless_the_recipe_allows_it() {
    let recipe = "kind = \"command\"\n[build]\ncommand = \"gcc -O2 -o dyn main.c\"\noutput = \"dyn\"\n[test]\nready_path = \"/health\"\n";
    let p = Project::new().with_app("dyn", recipe, &[("main.c", &c_server("", "stop = 1;"))]);
    let r = p.run(&["build", "dyn"]);
    assert_eq!(r.code, 5, "{r:?}");
    let e = one_error(&r);
    assert!(
        e.contains("dyn: binary is dynamically linked (needs libc.so.6)"),
        "{e}"
    );
    assert!(e.contains("static = false"), "{e}");
    nothing_stored(&p, "dyn");
    // static = false lets it through, and the record says so.
    let recipe_path = p.app_dir("dyn").join("binship.toml");
    let text = std::fs::read_to_string(&recipe_path).unwrap().replacen(
        "kind =",
        "static = false\nkind =",
        1,
    );
    std::fs::write(&recipe_path, text).unwrap();
    let j = p.run(&["build", "dyn", "--json"]).ok().json();
    assert_eq!(j["results"]["binary"]["static"], false);
    assert_eq!(j["results"]["binary"]["needed"][0], "libc.so.6");
}

#[test]
fn a_missing_toolchain_is_a_prerequisite_error_naming_the_package() {
    let p = Project::new().with_example("go-id");
    let empty = tempfile::tempdir().unwrap();
    let r: Run = p
        .cmd(&["build", "go-id"])
        .env("PATH", empty.path())
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 4, "{r:?}");
    let e = one_error(&r);
    assert!(
        e.contains("`go` not found on PATH") && e.contains("golang-go"),
        "{e}"
    );
    nothing_stored(&p, "go-id");
}

#[test]
fn a_too_old_go_for_go_mod_is_a_prerequisite_error() {
    let p = Project::new().with_app(
        "future",
        "kind = \"go\"\n",
        &[
            ("go.mod", "module future\n\ngo 1.99\n"),
            ("main.go", "package main\nfunc main() {}\n"),
        ],
    );
    let r = p.run(&["build", "future"]);
    assert_eq!(r.code, 4, "{r:?}");
    let e = one_error(&r);
    assert!(
        e.contains("prerequisite too old: go go1.")
            && e.contains("go1.99 or newer needed by")
            && e.contains("go.mod"),
        "{e}"
    );
    nothing_stored(&p, "future");
}

#[test]
fn init_writes_recipe_and_wrapper_and_refuses_to_overwrite() {
    let p = Project::new().with_example("go-id");
    std::fs::remove_dir_all(p.app_dir("go-id")).unwrap();
    let r = p
        .run(&[
            "init",
            "go-id",
            "--kind",
            "go",
            "--source",
            "examples/go-id",
        ])
        .ok();
    assert!(r
        .stdout
        .contains("images/standalone-binaries/go-id/binship.toml"));
    let recipe = std::fs::read_to_string(p.app_dir("go-id").join("binship.toml")).unwrap();
    assert!(
        recipe.contains("source = \"../../../examples/go-id\""),
        "{recipe}"
    );
    assert!(
        recipe.lines().any(|l| l.starts_with('#')),
        "the recipe is commented"
    );
    let r = p.run(&[
        "init",
        "go-id",
        "--kind",
        "go",
        "--source",
        "examples/go-id",
    ]);
    assert_eq!(r.code, 7, "{r:?}");
    let r = p.run(&["init", "x", "--kind", "java", "--source", "examples/go-id"]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = p.run(&["init", "x", "--kind", "go", "--source", "examples/missing"]);
    assert_eq!(r.code, 3, "{r:?}");
    // The written recipe builds.
    p.run(&["build", "go-id"]).ok();
}
