//! `build.toolchain` (issue 19, item 8): a recipe picks an installed Go by version (Debian's
//! /usr/lib/go-1.NN) or by path; the record and the cache key hold the version it reports,
//! never the path. A source that needs a newer Go gets advice that is true: a Debian package
//! only when apt knows one that satisfies it, else go.dev.

mod common;
use common::*;

const MAIN: &str = "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"tool\") }\n";

fn go_app(gomod_go: &str, toolchain: Option<&str>) -> Project {
    let tc = toolchain
        .map(|t| format!("toolchain = \"{t}\"\n"))
        .unwrap_or_default();
    Project::new().with_app(
        "tool",
        &format!("kind = \"go\"\n[build]\n{tc}env = {{ GOPROXY = \"off\", GOTOOLCHAIN = \"local\" }}\n[test]\nservice = false\n[[test.command]]\nname = \"says\"\nargs = []\nstdout = \"^tool\"\n"),
        &[("main.go", MAIN), ("go.mod", &format!("module example.com/tool\n\ngo {gomod_go}\n"))],
    )
}

/// The Go Debian installs as golang-go: /usr/lib/go-1.NN.
fn installed_go() -> (String, String) {
    let dir = std::fs::read_dir("/usr/lib")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.starts_with("go-")
                && std::path::Path::new("/usr/lib")
                    .join(n)
                    .join("bin/go")
                    .is_file()
        })
        .min()
        .expect("scripts/test.sh installs golang-go (/usr/lib/go-1.NN)");
    let version = dir.trim_start_matches("go-").to_string();
    (version, format!("/usr/lib/{dir}/bin/go"))
}

#[test]
fn a_recipe_picks_an_installed_go_by_version_or_path_and_records_only_its_version() {
    let (version, path) = installed_go();
    let p = go_app("1.18", Some(&version));
    let j = p.run(&["build", "tool", "--json"]).ok().json();
    let rec = &j["results"];
    assert!(
        rec["toolchain"]["version"]
            .as_str()
            .unwrap()
            .starts_with(&format!("go{version}")),
        "{rec}"
    );
    let text = std::fs::read_to_string(p.version_dir("tool", 1).join("test-results.json")).unwrap();
    assert!(
        !text.contains("/usr/lib/go"),
        "a host path in the record: {text}"
    );
    assert!(
        rec["build_command"]
            .as_str()
            .unwrap()
            .contains(" go build "),
        "{rec}"
    );
    // The same Go named by its path: the same key, so the version is up to date.
    let recipe = p.app_dir("tool").join("binship.toml");
    let t = std::fs::read_to_string(&recipe).unwrap();
    std::fs::write(
        &recipe,
        t.replace(
            &format!("toolchain = \"{version}\""),
            &format!("toolchain = \"{path}\""),
        ),
    )
    .unwrap();
    let r = p.run(&["build", "tool"]).ok();
    assert!(r.stdout.starts_with("up to date: v.1"), "{r:?}");
    // A version that is not installed: refused, naming what is.
    std::fs::write(
        &recipe,
        t.replace(
            &format!("toolchain = \"{version}\""),
            "toolchain = \"1.99\"",
        ),
    )
    .unwrap();
    let r = p.run(&["build", "tool"]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "prerequisite missing: build.toolchain = \"1.99\": no Go 1.99 under /usr/lib (installed: {version}"
        )),
        "{r:?}"
    );
    // Its exact release is taken; another patch release of it is refused, saying which it is.
    let exact = rec["toolchain"]["version"]
        .as_str()
        .unwrap()
        .trim_start_matches("go")
        .to_string();
    for (tc, code) in [(exact.as_str(), 0), ("1.19.0", 4), ("go", 2), ("latest", 2)] {
        if tc == "1.19.0" && exact == "1.19.0" {
            continue;
        }
        std::fs::write(
            &recipe,
            t.replace(
                &format!("toolchain = \"{version}\""),
                &format!("toolchain = \"{tc}\""),
            ),
        )
        .unwrap();
        let r = p.run(&["build", "tool"]);
        assert_eq!(r.code, code, "{tc}: {r:?}");
        if code == 2 {
            assert!(
                r.stderr
                    .contains("is neither a Go version (1.23, 1.23.4) nor an absolute path"),
                "{r:?}"
            );
        }
    }
    // A toolchain key where none applies.
    let c = Project::new().with_app(
        "cee",
        "kind = \"c\"\n[build]\ntoolchain = \"12\"\n",
        &[("main.c", "int main(void) { return 0; }\n")],
    );
    let r = c.run(&["build", "cee"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("build.toolchain"), "{r:?}");
}

#[test]
fn a_go_that_is_too_old_gets_advice_that_is_true() {
    let (version, _) = installed_go();
    let minor: u32 = version.split('.').nth(1).unwrap().parse().unwrap();
    for needed in [minor + 2, 99] {
        let p = go_app(&format!("1.{needed}"), None);
        let r = p.run(&["build", "tool"]);
        assert_eq!(r.code, 4, "{r:?}");
        let line = r.stderr.trim();
        assert!(
            line.contains(&format!("go1.{needed} or newer needed by")),
            "{line}"
        );
        // A package is named only when apt knows it and it is new enough.
        match line.split("install golang-1.").nth(1) {
            Some(rest) => {
                let m: u32 = rest.split('-').next().unwrap().parse().unwrap();
                assert!(m >= needed, "{line}");
                let known = std::process::Command::new("apt-cache")
                    .args(["show", &format!("golang-1.{m}-go")])
                    .output()
                    .unwrap();
                assert!(known.status.success(), "{line}");
                assert!(
                    line.contains(&format!("build.toolchain = \"1.{m}\"")),
                    "{line}"
                );
            }
            None => assert!(
                line.contains(&format!(
                    "no Debian package here provides go1.{needed}: install it from go.dev"
                )),
                "{line}"
            ),
        }
    }
}
