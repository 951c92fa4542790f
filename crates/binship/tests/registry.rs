//! `binship push` against a real registry: Debian's docker-registry (CNCF distribution 2.8)
//! started here on 127.0.0.1 with its storage in a temp dir. The pushed image is inspected by
//! skopeo, pulled and run by podman; a second push uploads no blob; bad references and a
//! registry that is down are clear errors.

mod common;
use common::engines::*;
use common::*;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Registry {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
}

impl Registry {
    fn start() -> Option<Registry> {
        Registry::start_with(None)
    }

    /// With `user:password` in an htpasswd file (bcrypt, made by Debian's htpasswd).
    fn start_with(auth: Option<(&str, &str)>) -> Option<Registry> {
        if !require(&["docker-registry"], false) || auth.is_some() && !require(&["htpasswd"], false)
        {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let cfg = dir.path().join("cfg.yml");
        let mut auth_cfg = String::new();
        if let Some((u, pw)) = auth {
            let line = ok(
                Command::new("htpasswd")
                    .args(["-Bbn", u, pw])
                    .output()
                    .unwrap(),
                "htpasswd",
            );
            std::fs::write(dir.path().join("htpasswd"), line.trim()).unwrap();
            auth_cfg = format!(
                "auth:\n  htpasswd:\n    realm: binship-test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            );
        }
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n{auth_cfg}http:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("reg").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let r = Registry { dir, child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http_get(port, "/v2/").is_none() {
            // (401 with auth on still answers, so this waits for the listener only)
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(r)
    }

    fn uploads(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("log"))
            .unwrap_or_default()
            .matches("\"PUT /v2/")
            .count()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn push_is_inspected_pulled_and_run_and_a_second_push_uploads_nothing() {
    let Some(reg) = Registry::start() else { return };
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    let target = format!("127.0.0.1:{}/team/go-id", reg.port);
    let j = p.run(&["push", "go-id", &target, "--json"]).ok().json();
    let digest = j["pushed"]["manifest_digest"].as_str().unwrap().to_string();
    assert_eq!(j["pushed"]["reference"], format!("{target}:v.1"));
    assert_eq!(j["pushed"]["uploaded"].as_array().unwrap().len(), 3, "{j}");
    let uploads = reg.uploads();
    assert!(uploads >= 4, "blobs and the manifest were PUT: {uploads}");
    // skopeo sees our manifest digest.
    if require(&["skopeo"], false) {
        let out = ok(
            Command::new("skopeo")
                .args([
                    "inspect",
                    "--tls-verify=false",
                    &format!("docker://{target}:v.1"),
                ])
                .output()
                .unwrap(),
            "skopeo inspect",
        );
        let info: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(info["Digest"], digest.as_str());
        assert_eq!(info["Labels"]["org.opencontainers.image.title"], "go-id");
    }
    // The push is recorded beside the version (a sidecar; the core is untouched).
    let pubs: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.version_dir("go-id", 1).join("publications.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(pubs[0]["reference"], format!("{target}:v.1"));
    assert_eq!(pubs[0]["digest"], digest.as_str());
    // Again: every blob is already there; only the manifest is PUT.
    let j = p.run(&["push", "go-id:1", &target, "--json"]).ok().json();
    assert!(
        j["pushed"]["uploaded"].as_array().unwrap().is_empty(),
        "{j}"
    );
    assert_eq!(j["pushed"]["skipped"].as_array().unwrap().len(), 3);
    assert_eq!(reg.uploads(), uploads + 1, "a second push uploaded blobs");
    // list --remote shows the versions the registry holds.
    let other = p.path().join("examples/go-id/main.go");
    std::fs::write(
        &other,
        std::fs::read_to_string(&other).unwrap() + "\n// v2\n",
    )
    .unwrap();
    p.run(&["build", "go-id"]).ok();
    p.run(&["push", "go-id", &target]).ok();
    let j = p.run(&["list", "--remote", &target, "--json"]).ok().json();
    assert_eq!(j["tags"], serde_json::json!(["v.1", "v.2"]));
    // podman pulls it over plain HTTP and runs it.
    if let Some(pm) = Podman::new() {
        ok(
            pm.podman(&["pull", "--tls-verify=false", &format!("{target}:v.1")]),
            "podman pull",
        );
        let port = free_port();
        ok(
            pm.podman(&[
                "run",
                "-d",
                "--rm",
                "--network",
                "host",
                "--name",
                "gid",
                "--ulimit",
                "nofile=20000:20000",
                "--ulimit",
                "nproc=32768:32768",
                &format!("{target}:v.1"),
                "--port",
                &port.to_string(),
            ]),
            "podman run",
        );
        assert_eq!(wait_healthy(port, 30).as_deref(), Some("ok\n"));
        ok(pm.podman(&["stop", "-t", "5", "gid"]), "podman stop");
    }
}

#[test]
fn bad_references_and_a_down_registry_are_clear_errors() {
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    for (r, want) in [
        ("go-id", "needs a registry host"),
        ("127.0.0.1:5000/Go-Id", "invalid repository name"),
        ("127.0.0.1:5000/go-id:bad tag", "invalid tag"),
    ] {
        let out = p.run(&["push", "go-id", r]);
        assert_eq!(out.code, 2, "{r}: {out:?}");
        assert!(out.stderr.contains(want), "{r}: {out:?}");
    }
    let port = free_port(); // nothing listens there
    let out = p.run(&["push", "go-id", &format!("127.0.0.1:{port}/go-id")]);
    assert_eq!(out.code, 1, "{out:?}");
    let errs: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errs.len(), 1, "{out:?}");
    assert!(errs[0].contains(&format!("127.0.0.1:{port}")), "{out:?}");
    assert!(
        p.leftovers().is_empty(),
        "temp layout left behind: {:?}",
        p.leftovers()
    );
    let r = p.run(&["push", "nothing", &format!("127.0.0.1:{port}/x")]);
    assert_eq!(r.code, 3, "{r:?}");
}

#[test]
fn basic_auth_from_docker_config_missing_wrong_and_right() {
    let Some(reg) = Registry::start_with(Some(("alice", "s3cret"))) else {
        return;
    };
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    let target = format!("127.0.0.1:{}/go-id", reg.port);
    let cfg = tempfile::tempdir().unwrap();
    let push = || -> Run {
        p.cmd(&["push", "go-id", &target])
            .env("DOCKER_CONFIG", cfg.path())
            .output()
            .unwrap()
            .into()
    };
    let r = push();
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("401 Unauthorized: no credentials for this registry"),
        "{r:?}"
    );
    let b64 = |s: &str| {
        // A tiny base64 for the test (the standard alphabet, with padding).
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let bytes = s.as_bytes();
        let mut out = String::new();
        for c in bytes.chunks(3) {
            let n = (c[0] as u32) << 16
                | (*c.get(1).unwrap_or(&0) as u32) << 8
                | *c.get(2).unwrap_or(&0) as u32;
            for i in 0..4 {
                if i <= c.len() {
                    out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    };
    let write = |user_pass: &str| {
        let j = serde_json::json!({ "auths": { format!("127.0.0.1:{}", reg.port): { "auth": b64(user_pass) } } });
        std::fs::write(cfg.path().join("config.json"), j.to_string()).unwrap();
    };
    write("alice:wrong");
    let r = push();
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("refused the credentials"), "{r:?}");
    write("alice:s3cret");
    let r = push();
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.starts_with(&format!("✓ Pushed: {target}:v.1")),
        "{r:?}"
    );
}

#[test]
fn docker_pulls_and_runs_a_pushed_image() {
    let Some(reg) = Registry::start() else { return };
    let Some(d) = Dockerd::start() else { return };
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    let target = format!("127.0.0.1:{}/go-id", reg.port);
    p.run(&["push", "go-id", &target]).ok();
    // docker treats 127.0.0.0/8 registries as insecure (plain HTTP) by default.
    ok(d.docker(&["pull", &format!("{target}:v.1")]), "docker pull");
    let port = free_port();
    ok(
        d.docker(&[
            "run",
            "-d",
            "--rm",
            "--network",
            "host",
            "--read-only",
            "--name",
            "gid",
            &format!("{target}:v.1"),
            "--port",
            &port.to_string(),
        ]),
        "docker run",
    );
    assert_eq!(wait_healthy(port, 30).as_deref(), Some("ok\n"));
    ok(d.docker(&["stop", "-t", "5", "gid"]), "docker stop");
}

/// A registry that lies: it takes every upload but reports another digest.
fn lying_registry() -> (u16, std::thread::JoinHandle<()>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        l.set_nonblocking(false).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        for s in l.incoming() {
            let Ok(mut s) = s else { break };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            let _ = r.read_exact(&mut body);
            let (status, extra) = if line.starts_with("HEAD") {
                ("404 Not Found", String::new())
            } else if line.starts_with("POST") {
                (
                    "202 Accepted",
                    "Location: /v2/go-id/blobs/uploads/x\r\n".to_string(),
                )
            } else {
                (
                    "201 Created",
                    format!("Docker-Content-Digest: sha256:{}\r\n", "0".repeat(64)),
                )
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
            if line.starts_with("PUT") || Instant::now() > deadline {
                break;
            }
        }
    });
    (port, h)
}

#[test]
fn a_registry_that_reports_another_digest_is_refused() {
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    let (port, server) = lying_registry();
    let r = p.run(&["push", "go-id", &format!("127.0.0.1:{port}/go-id")]);
    server.join().unwrap();
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("blob: the registry answered digest sha256:000"),
        "{r:?}"
    );
    assert!(p.leftovers().is_empty());
    assert!(
        !p.version_dir("go-id", 1).join("publications.json").exists(),
        "a failed push was recorded"
    );
}
