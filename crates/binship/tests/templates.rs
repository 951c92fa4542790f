//! `binship init --template`: each template writes a service and a recipe that build, stay
//! static and pass their tests out of the box; bad template names and occupied dirs are refused.

mod common;
use common::*;

#[test]
fn every_template_builds_and_passes_as_is() {
    for t in ["go-http", "rust-http", "c-http"] {
        let p = Project::new();
        let app = format!("svc-{}", t.trim_end_matches("-http"));
        p.run(&["init", &app, "--template", t]).ok();
        assert!(p.path().join("src").join(&app).is_dir(), "{t}");
        let j = p.run(&["build", &app, "--json"]).ok().json();
        let r = &j["results"];
        assert_eq!(r["status"], "passed", "{t}: {j}");
        assert_eq!(r["binary"]["static"], true, "{t}");
        let names: Vec<&str> = r["tests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["version", "ready", "health", "stop"], "{t}");
        // --version names the app and the version binship stamped in.
        let bin = p.version_dir(&app, 1).join(&app);
        let out = std::process::Command::new(&bin)
            .arg("--version")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.starts_with(&format!("{app} 1 (commit ")),
            "{t}: {text}"
        );
    }
}

#[test]
fn bad_template_names_and_occupied_dirs_are_refused() {
    let p = Project::new();
    let r = p.run(&["init", "x", "--template", "cobol-http"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("cobol-http"), "{r:?}");
    std::fs::create_dir_all(p.path().join("src/x")).unwrap();
    std::fs::write(p.path().join("src/x/keep.txt"), "mine").unwrap();
    let r = p.run(&["init", "x", "--template", "go-http"]);
    assert_eq!(r.code, 7, "{r:?}");
    assert!(r.stderr.contains("is not empty"), "{r:?}");
    assert_eq!(
        std::fs::read_to_string(p.path().join("src/x/keep.txt")).unwrap(),
        "mine"
    );
    let r = p.run(&["init", "a.b", "--template", "rust-http"]);
    assert_eq!(r.code, 2, "{r:?}");
}
