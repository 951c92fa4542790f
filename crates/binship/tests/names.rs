//! Names engines refuse (issue 18, fault 6): an app's name is its image's repository name, so
//! docker's grammar applies from `init` on, and a recipe already named otherwise is refused by
//! every command with one line, before anything is built or written.

mod common;
use common::*;

#[test]
fn names_docker_refuses_are_refused_at_init_and_for_existing_recipes() {
    let p = Project::new();
    std::fs::create_dir_all(p.path().join("src")).unwrap();
    std::fs::write(
        p.path().join("src/main.c"),
        "int main(void) { return 0; }\n",
    )
    .unwrap();
    for bad in ["a_", "a-", "a._b", "x___y"] {
        let r = p.run(&["init", bad, "--kind", "c", "--source", "src"]);
        assert_eq!(r.code, 2, "{bad}: {r:?}");
        assert!(
            r.stderr.contains("is not a valid image name"),
            "{bad}: {}",
            r.stderr
        );
        assert!(!p.app_dir(bad).exists(), "{bad}: nothing is written");
    }
    // What docker takes, init takes.
    p.run(&["init", "a__b", "--kind", "c", "--source", "src"])
        .ok();
    // A recipe written by hand (or by an older binship) under a bad name.
    let p = common::tiny::tiny_app("");
    let bad = p.app_dir("a_");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::copy(
        p.app_dir("tiny").join("binship.toml"),
        bad.join("binship.toml"),
    )
    .unwrap();
    for args in [
        &["build", "a_"][..],
        &["scaffold", "a_"],
        &["deploy", "a_", "--to", "docker"],
    ] {
        let r = p.run(args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(
            r.stderr.contains("app name `a_` is not a valid image name"),
            "{args:?}: {}",
            r.stderr
        );
    }
    assert!(p.versions("a_").is_empty());
}
