//! The README runs as written (issue 20, item 7): every ```sh block marked
//! `<!-- tests/readme.rs runs this block ... -->` runs top to bottom, in README order, in one
//! shell (`cd` carries over, `set -e`: the first failing command fails the test), in a fresh
//! project that holds what a checkout after `scripts/example.sh` holds (examples/, the go-id
//! recipe and its v.1), with this build of binship on PATH, a HOME of its own (keys), a real
//! dockerd of its own (DOCKER_HOST) and a docker-registry of its own on a free port, which the
//! blocks' `127.0.0.1:5000` is replaced by. Before the lifecycle block, go-id v.2 and v.3 are
//! built (it promotes v.3 and rolls back); the agents block deploys on a free port, not 7001,
//! and its `binship mcp` gets an initialize request on stdin, as an agent would send. The
//! shared-cache block's `docker-registry serve` gets a config of the test's own (a second
//! registry on a free port, for that block's `127.0.0.1:5000`; stopped at the end, even on
//! failure), and the OSV block finds `./osv` holding one record for a module go-id does not use.

mod common;
use common::engines::{free_port, plain_registry, require, Dockerd};
use common::*;

/// What an MCP client sends first (MCP 2024-11-05, "Lifecycle"): the agents block's
/// `binship mcp` answers it and ends when its stdin does.
const MCP_INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"readme","version":"0"}}}"#;

/// The marked blocks of README.md, in order, and whether each runs in a project of its own.
fn tested_blocks() -> Vec<(String, bool)> {
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
        blocks.push((body.join("\n"), l.contains("in a project of its own")));
    }
    blocks
}

#[test]
fn the_readme_runs_top_to_bottom() {
    let (own, blocks): (Vec<_>, Vec<_>) = tested_blocks().into_iter().partition(|b| b.1);
    let blocks: Vec<String> = blocks.into_iter().map(|b| b.0).collect();
    assert!(blocks.len() >= 2, "{blocks:?}");
    assert_eq!(own.len(), 1, "the multi-platform block: {own:?}");
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
    // The shared-cache block's registry: its config and port; killed by the guard.
    let cache_dir = tempfile::tempdir().unwrap();
    let cache_cfg = cache_dir.path().join("registry-config.yml");
    let cache_port = free_port();
    std::fs::write(
        &cache_cfg,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{cache_port}\n",
            cache_dir.path().join("reg").display()
        ),
    )
    .unwrap();
    let _cache_registry = KillOnDrop(cache_cfg.clone());
    // The OSV block's database: one record of a module go-id does not import.
    std::fs::create_dir_all(p.path().join("osv")).unwrap();
    std::fs::write(
        p.path().join("osv/GO-2026-0001.json"),
        r#"{"schema_version":"1.6.0","id":"GO-2026-0001","modified":"2026-01-01T00:00:00Z","summary":"not go-id's","affected":[{"package":{"ecosystem":"Go","name":"example.com/not-imported"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}"#,
    )
    .unwrap();
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
                    .replace(
                        "/etc/docker/registry/config.yml",
                        &cache_cfg.display().to_string()
                    )
                    .replace(
                        "127.0.0.1:5000/team/binship-cache",
                        &format!("127.0.0.1:{cache_port}/team/binship-cache")
                    )
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
        if block.contains("docker-registry serve") {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while common::engines::http_get(cache_port, "/v2/").is_none() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the shared-cache block's registry did not start"
                );
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
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
    // The shared-cache block pointed go-id's builds at its registry: the builds after it
    // published there (one entry per key).
    let cache = p
        .run(&[
            "list",
            "--remote",
            &format!("127.0.0.1:{cache_port}/team/binship-cache"),
            "--json",
        ])
        .ok()
        .json();
    assert!(
        cache["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t.as_str().unwrap().starts_with("cache-"))),
        "{cache}"
    );
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
    // The multi-platform block, in a project of its own (its versions are two-platform).
    if require(&["qemu-aarch64-static", "skopeo"], true) {
        multi_platform(&own[0].0, &registry);
    }
    let health = common::engines::http_get(deploy_port, "/health");
    assert_eq!(
        health.map(|h| h.0),
        Some(200),
        "the deployed go-id does not answer"
    );
}

/// Kills the `docker-registry serve` whose command line names this config, when dropped (the
/// README's block starts it in the background, so no child handle exists here).
struct KillOnDrop(std::path::PathBuf);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("pkill")
            .arg("-f")
            .arg(self.0.display().to_string())
            .status();
    }
}

/// Runs the README's multi-platform block in a new project whose go-id recipe has the README's
/// `targets = [...]` line instead of `[target]`, against `registry`; checks what it wrote with
/// skopeo (an independent reader): the pushed tag is an image index of amd64 and arm64.
fn multi_platform(block: &str, registry: &str) {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let targets = readme
        .lines()
        .find(|l| l.starts_with("targets = ["))
        .expect("the README's targets line");
    let p = Project::new().with_example("go-id");
    let recipe = p.app_dir("go-id").join("binship.toml");
    let text = std::fs::read_to_string(&recipe).unwrap();
    let single = "[target]\nos = \"linux\"\narch = \"amd64\"\n";
    assert!(
        text.contains(single),
        "go-id's recipe has no [target] table"
    );
    let text =
        text.replace(single, "")
            .replacen("\n[build]", &format!("\n{targets}\n\n[build]"), 1);
    std::fs::write(&recipe, text).unwrap();
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -euo pipefail -x\n{}",
            block.replace("127.0.0.1:5000", registry)
        ))
        .current_dir(p.path())
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin().parent().unwrap().display(),
                std::env::var("PATH").unwrap()
            ),
        )
        .env("HOME", p.path())
        .env("BINSHIP_IMAGE_TEST_ENGINE", "binship")
        .env_remove("BINSHIP_STORE")
        .env_remove("BINSHIP_CACHE")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "README's multi-platform block failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(p.path().join("arm.tar").is_file(), "no arm.tar");
    let raw = std::process::Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{registry}/go-id:v.1"),
        ])
        .output()
        .unwrap();
    assert!(raw.status.success(), "{raw:?}");
    let index: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(
        index["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{index}"
    );
    let mut arches: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    arches.sort();
    assert_eq!(arches, ["amd64", "arm64"], "{index}");
}
