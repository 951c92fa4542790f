//! Real builds of the three examples (go, cargo, gcc), their tests on 127.0.0.1, the store
//! layout, caching by source key, git tagging, explicit versions and the build.sh wrapper.

mod common;
use common::*;

#[test]
fn go_id_builds_tests_and_stores_v1() {
    let p = Project::new().with_example("go-id");
    let r = p.run(&["build", "go-id"]).ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines[0], "✓ Binary: images/standalone-binaries/go-id/go-id-binary-v.1/go-id",
        "{r:?}"
    );
    assert!(
        lines[1].starts_with("✓ Size: ")
            && lines[1].contains("✓ Static: yes   ✓ Tests: 5/5 passed"),
        "{r:?}"
    );
    let dir = p.version_dir("go-id", 1);
    for f in [
        "go-id",
        "README.md",
        "test-results.json",
        "build.log",
        "test.log",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("test-results.json")).unwrap())
            .unwrap();
    assert_eq!(rec["schema_version"], 1);
    assert_eq!(rec["app"], "go-id");
    assert_eq!(rec["version"], 1);
    assert_eq!(rec["status"], "passed");
    assert_eq!(rec["binary"]["static"], true);
    assert_eq!(rec["passed"], 5);
    assert_eq!(rec["failed"], 0);
    assert!(rec["toolchain"]["version"]
        .as_str()
        .unwrap()
        .starts_with("go1."));
    let names: Vec<&str> = rec["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["version", "ready", "health", "id", "stop"]);
    // The sha256 recorded is the stored binary's.
    let bytes = std::fs::read(dir.join("go-id")).unwrap();
    assert_eq!(rec["binary"]["size"], bytes.len() as u64);
    let sha = std::process::Command::new("sha256sum")
        .arg(dir.join("go-id"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&sha.stdout).starts_with(rec["binary"]["sha256"].as_str().unwrap())
    );
    // ldflags placeholders reached the binary.
    let v = std::process::Command::new(dir.join("go-id"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&v.stdout).starts_with("go-id 1 (commit "),
        "{v:?}"
    );
    // The recorded build command replays (issue 19, item 7): one `sh` line with the env that
    // matters, quoted; run in the source, it gives the same bytes.
    let cmd = rec["build_command"].as_str().unwrap();
    assert!(
        cmd.contains("CGO_ENABLED=0 ")
            && cmd.contains(" go build -trimpath ")
            && cmd.contains("'-ldflags="),
        "{cmd}"
    );
    let src = p.path().join("examples/go-id");
    let replay = std::process::Command::new("sh")
        .args(["-c", cmd])
        .current_dir(&src)
        .output()
        .unwrap();
    assert!(replay.status.success(), "{cmd}: {replay:?}");
    let out = cmd
        .split(" -o ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap();
    let replayed = std::fs::read(src.join(out)).unwrap();
    assert!(
        replayed == bytes,
        "{cmd}: the replayed binary differs from the stored one"
    );
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(readme.contains("binship scaffold go-id --version 1"));
    assert!(readme.contains(rec["binary"]["sha256"].as_str().unwrap()));
    assert!(p.leftovers().is_empty());
    // The store's .gitignore keeps versions out of git.
    let gi = std::fs::read_to_string(p.store().join(".gitignore")).unwrap();
    assert!(gi.contains("*/*-binary-v.*/") && gi.contains(".binship/"));
}

#[test]
fn unchanged_source_is_up_to_date_and_changes_make_the_next_version() {
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    let r = p.run(&["build", "go-id"]).ok();
    assert!(r.stdout.starts_with("up to date: v.1\n"), "{r:?}");
    assert_eq!(p.versions("go-id"), ["go-id-binary-v.1"]);
    // A source change gives v.2.
    let main = p.path().join("examples/go-id/main.go");
    let text = std::fs::read_to_string(&main).unwrap();
    std::fs::write(
        &main,
        text.replace(
            "fmt.Fprintln(w, \"ok\")",
            "fmt.Fprintln(w, \"ok\") // changed",
        ),
    )
    .unwrap();
    let r = p.run(&["build", "go-id", "--json"]).ok();
    let j = r.json();
    assert_eq!(j["status"], "built");
    assert_eq!(j["version"], 2);
    // A recipe change also invalidates the cache.
    let recipe = p.app_dir("go-id").join("binship.toml");
    let text = std::fs::read_to_string(&recipe).unwrap();
    std::fs::write(
        &recipe,
        text.replace("stop_grace = \"5s\"", "stop_grace = \"4s\""),
    )
    .unwrap();
    let j = p.run(&["build", "go-id", "--json"]).ok().json();
    assert_eq!(j["version"], 3);
    let j = p.run(&["build", "go-id", "--json"]).ok().json();
    assert_eq!(j["status"], "up_to_date");
    assert_eq!(j["version"], 3);
    // --force rebuilds anyway, as the next version.
    let j = p.run(&["build", "go-id", "--force", "--json"]).ok().json();
    assert_eq!(
        (j["status"].as_str(), j["version"].as_u64()),
        (Some("built"), Some(4))
    );
}

#[test]
fn git_commit_and_dirty_flag_are_recorded() {
    let p = Project::new().with_example("go-id");
    p.git(&["init", "-q"]);
    p.git(&["add", "."]);
    p.git(&["commit", "-qm", "init"]);
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(p.path())
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    let r = p.run(&["build", "go-id"]).ok();
    assert!(
        r.stdout.contains(&format!("commit {} (clean)", &head[..7])),
        "{r:?}"
    );
    let rec = p.run(&["build", "go-id", "--json"]).ok().json();
    assert_eq!(rec["status"], "up_to_date");
    assert_eq!(rec["results"]["git"]["commit"], head);
    assert_eq!(rec["results"]["git"]["dirty"], false);
    assert!(rec["results"]["git"]["commit_time"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    // An untracked file in the source dir is a dirty change.
    std::fs::write(p.path().join("examples/go-id/notes.txt"), "x").unwrap();
    let rec = p.run(&["build", "go-id", "--json"]).ok().json();
    assert_eq!(rec["version"], 2);
    assert_eq!(rec["results"]["git"]["dirty"], true);
    // Version dirs are ignored by git: the tree stays clean of them.
    let st = std::process::Command::new("git")
        .args(["status", "--porcelain", "--", "images"])
        .current_dir(p.path())
        .output()
        .unwrap();
    let st = String::from_utf8_lossy(&st.stdout);
    assert!(!st.contains("binary-v."), "{st}");
}

#[test]
fn explicit_versions_conflict_unless_forced_and_build_sh_wraps_build() {
    let p = Project::new().with_example("go-id");
    p.run(&[
        "init",
        "go-id",
        "--kind",
        "go",
        "--source",
        "examples/go-id",
        "--force",
    ])
    .ok();
    let r = p.run(&["build", "go-id", "2"]).ok();
    assert!(r.stdout.contains("go-id-binary-v.2/go-id"), "{r:?}");
    assert_eq!(p.versions("go-id"), ["go-id-binary-v.2"]);
    // Same inputs: up to date.
    let r = p.run(&["build", "go-id", "2"]).ok();
    assert!(r.stdout.starts_with("up to date: v.2"), "{r:?}");
    // Different inputs: refused, and v.2 untouched.
    let before = std::fs::read(p.version_dir("go-id", 2).join("test-results.json")).unwrap();
    let main = p.path().join("examples/go-id/main.go");
    std::fs::write(
        &main,
        std::fs::read_to_string(&main).unwrap() + "\n// change\n",
    )
    .unwrap();
    let r = p.run(&["build", "go-id", "2"]);
    assert_eq!(r.code, 7, "{r:?}");
    assert!(
        r.stderr.contains("already exists") && r.stderr.contains("--force"),
        "{r:?}"
    );
    assert_eq!(
        before,
        std::fs::read(p.version_dir("go-id", 2).join("test-results.json")).unwrap()
    );
    // --force replaces it.
    p.run(&["build", "go-id", "2", "--force"]).ok();
    assert_ne!(
        before,
        std::fs::read(p.version_dir("go-id", 2).join("test-results.json")).unwrap()
    );
    assert!(p.leftovers().is_empty());
    // ./build.sh 5 == binship build go-id 5, run from the app's directory.
    let out = std::process::Command::new("./build.sh")
        .arg("5")
        .current_dir(p.app_dir("go-id"))
        .env("BINSHIP", bin())
        .env_remove("BINSHIP_STORE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        p.versions("go-id"),
        ["go-id-binary-v.2", "go-id-binary-v.5"]
    );
    // Without binship on PATH, build.sh says how to get it (issue 20, item 6).
    let out = std::process::Command::new("./build.sh")
        .current_dir(p.app_dir("go-id"))
        .env("PATH", "/usr/bin:/bin")
        .env_remove("BINSHIP")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("build.sh: binship not found: run scripts/example.sh in binship's checkout"),
        "{err}"
    );
    // scripts/example.sh's install step puts binship on PATH, and says so.
    let install = repo_root().join("scripts/lib/install.sh");
    let dir = p.path().join("bin");
    let run_install = |path: &str| {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                ". {} && install_binship {}",
                install.display(),
                bin().display()
            ))
            .env("BINSHIP_INSTALL_DIR", &dir)
            .env("PATH", path)
            .output()
            .unwrap()
    };
    let out = run_install("/usr/bin:/bin");
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(
            "{}/binship; {} is not on PATH: export PATH=",
            dir.display(),
            dir.display()
        )),
        "{out:?}"
    );
    // A copy that fails is not reported as installed.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            ". {} && install_binship /nonexistent/binship",
            install.display()
        ))
        .env("BINSHIP_INSTALL_DIR", &dir)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("binship not installed") && !err.contains("binship installed"),
        "{err}"
    );
    let on_path = format!("{}:/usr/bin:/bin", dir.display());
    let out = run_install(&on_path);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("(on PATH)"),
        "{out:?}"
    );
    let out = std::process::Command::new("./build.sh")
        .arg("--help")
        .current_dir(p.app_dir("go-id"))
        .env("PATH", &on_path)
        .env_remove("BINSHIP")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // list, text and JSON.
    let r = p.run(&["list", "go-id"]).ok();
    assert!(
        r.stdout.contains("v.2") && r.stdout.contains("v.5") && r.stdout.contains("4/4"),
        "{r:?}"
    );
    let j = p.run(&["list", "--json"]).ok().json();
    let apps = j["apps"].as_array().unwrap();
    assert_eq!(apps.len(), 1);
    let vs: Vec<u64> = apps[0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(vs, [2, 5]);
    assert_eq!(apps[0]["versions"][0]["tests"]["passed"], 4); // init's template: version, ready, health, stop
}

#[test]
fn rust_example_builds_static_and_passes() {
    let p = Project::new().with_example("rust-echo");
    let j = p.run(&["build", "rust-echo", "--json"]).ok().json();
    assert_eq!(j["status"], "built");
    let rec = &j["results"];
    assert_eq!(rec["binary"]["static"], true, "{rec}");
    assert_eq!(rec["toolchain"]["name"], "rustc");
    assert_eq!(rec["passed"], rec["total"]);
    assert_eq!(rec["total"], 6);
    // Cargo's target dir lives in binship's cache, not in the source.
    assert!(!p.path().join("examples/rust-echo/target").exists());
    assert!(p
        .store()
        .join(".binship/cache/rust-echo/cargo-target")
        .is_dir());
    let r = p.run(&["build", "rust-echo"]).ok();
    assert!(r.stdout.starts_with("up to date: v.1"), "{r:?}");
}

#[test]
fn c_example_builds_static_and_passes() {
    let p = Project::new().with_example("c-health");
    let j = p.run(&["build", "c-health", "--json"]).ok().json();
    let rec = &j["results"];
    assert_eq!(rec["binary"]["static"], true);
    assert_eq!(rec["toolchain"]["name"], "gcc");
    assert_eq!(rec["total"], 6);
    assert_eq!(rec["failed"], 0);
    let v = std::process::Command::new(p.version_dir("c-health", 1).join("c-health"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&v.stdout).starts_with("c-health 1 "),
        "{v:?}"
    );
}

#[test]
fn command_kind_builds_with_any_shell_command() {
    let p = Project::new().with_app(
        "cmd-app",
        &format!(
            "kind = \"command\"\n[build]\ncommand = \"gcc -static -O2 -o out/cmd-app main.c\"\noutput = \"out/cmd-app\"\n{}",
            "[test]\nready_path = \"/health\"\n"
        ),
        &[("main.c", &c_server("", "stop = 1;"))],
    );
    std::fs::create_dir_all(p.path().join("src/cmd-app/out")).unwrap();
    let j = p.run(&["build", "cmd-app", "--json"]).ok().json();
    assert_eq!(j["results"]["total"], 2);
    assert_eq!(j["results"]["kind"], "command");
    // The declared output does not count as a source change.
    let j = p.run(&["build", "cmd-app", "--json"]).ok().json();
    assert_eq!(j["status"], "up_to_date");
}
