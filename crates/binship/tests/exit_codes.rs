//! One error of each class through the CLI, each with its documented exit code (README "Exit
//! codes"): the code comes from the error's kind, so a disk error while reading a base is 1
//! ("other", I/O), not 2 ("bad input").

mod common;
use common::*;

use common::tiny as digests;

fn code_of(p: &Project, args: &[&str]) -> (i32, String) {
    let r = p.run(args);
    (r.code, r.stderr)
}

#[test]
fn every_error_class_has_its_exit_code() {
    let p = digests::tiny_project();
    // 2: bad input.
    let (c, e) = code_of(&p, &["scaffold", "tiny", "--format", "nope"]);
    assert_eq!(c, 2, "{e}");
    assert!(
        e.contains("invalid value 'nope' for '--format <FORMAT>'"),
        "{e}"
    );
    // 3: not found.
    assert_eq!(code_of(&p, &["scaffold", "nothing-here"]).0, 3);
    assert_eq!(code_of(&p, &["history", "nothing-here"]).0, 3);
    // 1: the OS refuses a read of the base (a directory where an archive file is needed).
    let dir = p.path().join("a-dir");
    std::fs::create_dir_all(&dir).unwrap();
    let base = format!("docker-archive:{}", dir.display());
    let (c, e) = code_of(&p, &["scaffold", "tiny", "--base", &base, "-o", "x.tar"]);
    assert_eq!(c, 1, "{e}");
    assert!(e.contains("Is a directory"), "{e}");
    assert!(!p.path().join("x.tar").exists());
    // ... while a base that is not there is bad input.
    let base = format!("docker-archive:{}", p.path().join("missing.tar").display());
    assert_eq!(
        code_of(&p, &["scaffold", "tiny", "--base", &base, "-o", "x.tar"]).0,
        2
    );
    // 7: it exists: init over an existing recipe (use --force). (An existing scaffold output
    // is replaced or kept, never refused.)
    std::fs::create_dir_all(p.path().join("c-src")).unwrap();
    std::fs::write(
        p.path().join("c-src/main.c"),
        "int main(void) { return 0; }\n",
    )
    .unwrap();
    let (c, e) = code_of(&p, &["init", "tiny", "--kind", "c", "--source", "c-src"]);
    assert_eq!(c, 7, "{e}");
    // 8: the stored binary no longer matches test-results.json.
    let bin = p.version_dir("tiny", 1).join("tiny");
    let mut bytes = std::fs::read(&bin).unwrap();
    bytes.push(0);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(&bin, bytes).unwrap();
    let (c, e) = code_of(&p, &["verify", "tiny"]);
    assert_eq!(c, 8, "{e}");

    // 4: a prerequisite is missing (no go on an empty PATH).
    let q = Project::new().with_app(
        "nogo",
        "kind = \"go\"\n",
        &[("main.go", "package main\nfunc main() {}\n")],
    );
    let empty = q.path().join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let r: Run = q
        .cmd(&["build", "nogo"])
        .env("PATH", &empty)
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 4, "{r:?}");
    // 5: the build fails.
    let q = Project::new().with_app(
        "broken",
        "kind = \"command\"\n[build]\ncommand = \"exit 3\"\noutput = \"x\"\n[test]\nservice = false\n[[test.command]]\nname = \"runs\"\n",
        &[],
    );
    assert_eq!(code_of(&q, &["build", "broken"]).0, 5);
    // 6: the tests fail (the ELF exits 0, the check wants 1).
    let q = digests::tiny_app("");
    let recipe = q.app_dir("tiny").join("binship.toml");
    let text = std::fs::read_to_string(&recipe)
        .unwrap()
        .replace("exit = 0", "exit = 1");
    std::fs::write(&recipe, text).unwrap();
    assert_eq!(code_of(&q, &["build", "tiny"]).0, 6);
    assert!(q.versions("tiny").is_empty());
}
