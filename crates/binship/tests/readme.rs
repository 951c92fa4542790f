//! The README runs as written (issue 20, item 7): every ```sh block marked
//! `<!-- tests/readme.rs runs this block ... -->` runs top to bottom, in README order, in one
//! shell (`cd` carries over, `set -e`: the first failing command fails the test), in a fresh
//! project that holds what a checkout after `scripts/example.sh` holds (examples/, the go-id
//! recipe and its v.1), with this build of binship on PATH, a HOME of its own (keys), a real
//! dockerd of its own (DOCKER_HOST) and a docker-registry of its own on a free port, which the
//! blocks' `127.0.0.1:5000` is replaced by. Before the lifecycle block, go-id v.2 and v.3 are
//! built (it promotes v.3 and rolls back); the agents block deploys on a free port, not 7001,
//! and its `binship mcp` gets an initialize request on stdin, as an agent would send.

mod common;
use common::engines::{free_port, plain_registry, require, Dockerd};
use common::*;

/// What an MCP client sends first (MCP 2024-11-05, "Lifecycle"): the agents block's
/// `binship mcp` answers it and ends when its stdin does.
const MCP_INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"readme","version":"0"}}}"#;

/// The marked blocks of README.md, in order.
fn tested_blocks() -> Vec<String> {
    let text = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if !l.starts_with("<!-- tests/readme.rs runs this block") {
            continue;
        }
        assert_eq!(
            lines.next(),
            Some("```sh"),
            "a marked block starts with ```sh"
        );
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        blocks.push(body.join("\n"));
    }
    blocks
}

#[test]
fn the_readme_runs_top_to_bottom() {
    let blocks = tested_blocks();
    assert!(blocks.len() >= 2, "{blocks:?}");
    if !require(&["go", "minisign", "docker-registry"], true) {
        return;
    }
    let Some(d) = Dockerd::start() else { return };
    let (_registry, port) = plain_registry();
    let registry = format!("127.0.0.1:{port}");
    let deploy_port = free_port();
    let p = Project::new().with_example("go-id");
    // What example.sh leaves: go-id v.1.
    p.run(&["build", "go-id"]).ok();
    let bin_dir = bin().parent().unwrap().to_path_buf();
    let home = p.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    for (i, block) in blocks.iter().enumerate() {
        // The lifecycle block promotes go-id v.3 and rolls back to v.2.
        if block.contains("binship promote go-id 3") {
            p.run(&["build", "go-id", "2"]).ok();
            p.run(&["build", "go-id", "3"]).ok();
        }
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -euo pipefail -x\n{}",
                block
                    .replace("127.0.0.1:5000", &registry)
                    .replace("--port 7001", &format!("--port {deploy_port}"))
                    // An agent starts `binship mcp` and speaks first: here, an initialize.
                    .replace(
                        "\nbinship mcp ",
                        &format!("\nprintf '%s\\n' '{MCP_INIT}' | binship mcp ")
                    )
            ))
            .current_dir(p.path())
            .env(
                "PATH",
                format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()),
            )
            .env("HOME", &home)
            .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
            .env_remove("BINSHIP_STORE")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("CLICOLOR_FORCE")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README block {} failed:\n{}\n{}",
            i + 1,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        if block.contains("binship mcp") {
            assert!(stdout.contains("\"serverInfo\""), "{stdout}");
        }
        if i == 0 {
            // The image the README runs is the v.1 it packed.
            assert!(stdout.contains("Loaded image: hello:v.1"), "{stdout}");
        }
    }
    assert_eq!(
        p.versions("hello"),
        ["hello-binary-v.1", "hello-binary-v.2"]
    );
    // The registry block left its images and the binary artifact there.
    let tags = |repo: &str| -> Vec<String> {
        let j = p
            .run(&["list", "--remote", &format!("{registry}/{repo}"), "--json"])
            .ok()
            .json();
        serde_json::from_value(j["tags"].clone()).unwrap()
    };
    assert_eq!(tags("team/go-id"), ["v.1"]);
    assert!(
        tags("go-id").contains(&"v.1".to_string()),
        "{:?}",
        tags("go-id")
    );
    assert_eq!(tags("bin/go-id"), ["v.1"]);
    // The lifecycle block's moves: promoted to v.3, rolled back to v.2, in the history.
    let history = p.run(&["history", "go-id", "--json"]).ok().stdout;
    assert!(
        history.contains("promote") && history.contains("rollback"),
        "{history}"
    );
    assert!(
        (1..=3).any(|v| p.version_dir("go-id", v).join("bench.svg").is_file()),
        "no bench.svg"
    );
    // The agents block: a template app, a Dockerfile dir, man pages, and go-id deployed.
    assert!(p.app_dir("my-svc").join("binship.toml").is_file());
    assert!(p.path().join("images/docker/go-id/Dockerfile").is_file());
    assert!(p.path().join("docs/man/binship.1").is_file());
    let health = common::engines::http_get(deploy_port, "/health");
    assert_eq!(
        health.map(|h| h.0),
        Some(200),
        "the deployed go-id does not answer"
    );
}
