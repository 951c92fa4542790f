//! Privileged ports as a non-root service (issue 18, fault 3). A declared port below 1024 with
//! a non-root user gets CAP_NET_BIND_SERVICE and nothing else: images for docker and podman
//! carry it as the binary's file capability (a `security.capability` xattr in the layer),
//! which real docker and podman honour in a network namespace where ports below 1024 are
//! privileged; a port of 1024 or more adds nothing, so `--cap-drop ALL` keeps working; the
//! service managers that cannot grant it (supervisor, Debian's OpenRC) are refused in one
//! line. (systemd's `AmbientCapabilities` is booted in LXC by `tests/lxc.rs`.)

mod common;
use common::engines::*;
use common::tiny::tiny_project;
use common::*;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The `security.capability` xattr of `path` in any layer of a docker-archive.
fn file_capability(archive: &Path, path: &str) -> Option<Vec<u8>> {
    let mut outer = tar::Archive::new(std::fs::File::open(archive).unwrap());
    for e in outer.entries().unwrap() {
        let mut e = e.unwrap();
        let mut blob = Vec::new();
        e.read_to_end(&mut blob).unwrap();
        let mut inner = tar::Archive::new(&blob[..]);
        let Ok(entries) = inner.entries() else {
            continue;
        };
        for m in entries.flatten() {
            let mut m = m;
            if m.path_bytes().as_ref() != path.as_bytes() {
                continue;
            }
            let x = m.pax_extensions().ok().flatten().and_then(|mut x| {
                x.find_map(|x| {
                    x.ok()
                        .filter(|x| x.key() == Ok("SCHILY.xattr.security.capability"))
                        .map(|x| x.value_bytes().to_vec())
                })
            });
            return x;
        }
    }
    None
}

/// A static C server `web` (answers 200 to everything on 127.0.0.1:--port), built as v.1.
fn web() -> Project {
    let p = Project::new().with_app(
        "web",
        &c_app_recipe(""),
        &[("main.c", &c_server("", "stop = 1;"))],
    );
    p.run(&["build", "web"]).ok();
    p
}

/// GET / on 127.0.0.1:`port` inside the network namespace of `pid` (one the engine made for
/// the container, never the host's).
fn get_in_netns(pid: &str, port: u16) -> String {
    let o = Command::new("nsenter")
        .args(["-t", pid, "-n", "--", "bash", "-c"])
        .arg(format!(
            "exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && timeout 5 cat <&3"
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Starts a detached container with `run` (an engine's `run -d ...` argv) and waits until
/// GET / answers inside its netns: Ok(status lines of the process) or Err(why).
fn serve_in_netns(
    engine: &dyn Fn(&[&str]) -> Output,
    name: &str,
    run: &[&str],
    port: u16,
) -> Result<String, String> {
    let started = engine(run);
    if !started.status.success() {
        return Err(format!(
            "run failed: {}",
            String::from_utf8_lossy(&started.stderr).trim()
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pid = engine(&["inspect", "-f", "{{.State.Pid}}", name]);
        let pid = String::from_utf8_lossy(&pid.stdout).trim().to_string();
        if pid.is_empty() || pid == "0" {
            let logs = engine(&["logs", name]);
            return Err(format!(
                "the container is not running (exit {}; {})",
                String::from_utf8_lossy(
                    &engine(&["inspect", "-f", "{{.State.ExitCode}}", name]).stdout
                )
                .trim(),
                String::from_utf8_lossy(&logs.stderr).trim()
            ));
        }
        if get_in_netns(&pid, port).contains("200 OK") {
            return Ok(std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default());
        }
        if Instant::now() > deadline {
            return Err(format!("nothing answered on port {port} within 20 s"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn field<'a>(status: &'a str, name: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or("")
        .trim()
}

#[test]
fn a_port_below_1024_gives_the_binary_a_file_capability_docker_and_podman_honour() {
    if !require(&["nsenter", "bash", "gcc"], true) {
        return;
    }
    let p = web();
    let scaffold = |port: &str, out: &str| {
        p.run(&[
            "scaffold",
            "web",
            "--base",
            "static",
            "--format",
            "docker-archive",
            "--arg=--port",
            &format!("--arg={port}"),
            "--port",
            port,
            "--tag",
            &format!("web:{port}"),
            "-o",
            p.path().join(out).to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json()
    };
    let j80 = scaffold("80", "web80.tar");
    assert_eq!(
        j80["labels"]["io.binship.capabilities"],
        "CAP_NET_BIND_SERVICE (port 80 as uid 65532, file capability)",
        "{j80}"
    );
    assert!(
        j80["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("--cap-add NET_BIND_SERVICE")),
        "{j80}"
    );
    let cap = file_capability(&p.path().join("web80.tar"), "usr/local/bin/web");
    assert_eq!(
        cap.as_deref(),
        Some(&binship_image::services::NET_BIND_SERVICE_FILE_CAP[..]),
        "the binary's security.capability"
    );
    let j8080 = scaffold("8080", "web8080.tar");
    assert!(j8080["labels"].get("io.binship.capabilities").is_none());
    assert_eq!(
        file_capability(&p.path().join("web8080.tar"), "usr/local/bin/web"),
        None,
        "a port of 1024 or more adds no capability"
    );
    // Port 80 as root needs nothing.
    let root = p
        .run(&[
            "scaffold",
            "web",
            "--base",
            "static",
            "--format",
            "docker-archive",
            "--port",
            "80",
            "--user",
            "root",
            "-o",
            p.path().join("root.tar").to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    assert!(
        root["labels"].get("io.binship.capabilities").is_none(),
        "{root}"
    );

    // Ports below 1024 privileged again in the container's own network namespace (docker
    // lowers the limit to 0 by default), every capability dropped but the one declared.
    let priv_sysctl = "net.ipv4.ip_unprivileged_port_start=1024";
    let check = |engine: &dyn Fn(&[&str]) -> Output, extra: &[&str], what: &str| {
        for tar in ["web80.tar", "web8080.tar"] {
            ok(
                engine(&["load", "-i", p.path().join(tar).to_str().unwrap()]),
                "load",
            );
        }
        let run = |name: &str, image: &str, caps: &[&str], args: &[&str]| {
            let mut v = vec![
                "run",
                "-d",
                "--name",
                name,
                "--network",
                "none",
                "--sysctl",
                priv_sysctl,
                "--read-only",
            ];
            v.extend_from_slice(extra);
            v.extend_from_slice(caps);
            v.push(image);
            v.extend_from_slice(args);
            v.into_iter().map(String::from).collect::<Vec<_>>()
        };
        let go = |name: &str, image: &str, caps: &[&str], args: &[&str], port: u16| {
            let argv = run(name, image, caps, args);
            let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
            let r = serve_in_netns(engine, name, &refs, port);
            let _ = engine(&["rm", "-f", name]);
            r
        };
        // The port-80 image serves on :80 as uid 65532 with exactly NET_BIND_SERVICE.
        let status = go(
            "w80",
            "web:80",
            &["--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE"],
            &[],
            80,
        )
        .unwrap_or_else(|e| panic!("{what}: the port-80 image did not serve: {e}"));
        assert_eq!(
            field(&status, "Uid:").split_whitespace().next(),
            Some("65532"),
            "{what}: {status}"
        );
        assert_eq!(
            field(&status, "CapEff:"),
            "0000000000000400",
            "{what}: {status}"
        );
        // With the engine's default capabilities (as uid 65532: none effective) the file
        // capability alone lets it bind :80 ...
        let status = go("w80default", "web:80", &[], &[], 80).unwrap_or_else(|e| {
            panic!("{what}: the port-80 image did not serve with the default capabilities: {e}")
        });
        assert_eq!(
            field(&status, "CapEff:"),
            "0000000000000400",
            "{what}: {status}"
        );
        // ... and the same server without it cannot (the control).
        let e = go("w8080on80", "web:8080", &[], &["--port", "80"], 80)
            .map(|st| {
                panic!(
                    "{what}: bound :80 without the file capability: Cap* {:?}",
                    st.lines()
                        .filter(|l| l.starts_with("Cap"))
                        .collect::<Vec<_>>()
                )
            })
            .unwrap_err();
        assert!(
            e.contains("not running") || e.contains("run failed"),
            "{what}: {e}"
        );
        // With every capability dropped, the file capability cannot be had: no exec.
        assert!(
            go("w80none", "web:80", &["--cap-drop", "ALL"], &[], 80).is_err(),
            "{what}: the port-80 image ran without NET_BIND_SERVICE in its bounding set"
        );
        // A port of 1024 or more keeps working with every capability dropped.
        let status = go("w8080", "web:8080", &["--cap-drop", "ALL"], &[], 8080)
            .unwrap_or_else(|e| panic!("{what}: the port-8080 image did not serve: {e}"));
        assert_eq!(
            field(&status, "CapEff:"),
            "0000000000000000",
            "{what}: {status}"
        );
    };
    if let Some(d) = Dockerd::start() {
        check(&|a: &[&str]| d.docker(a), &[], "docker");
    }
    if let Some(pm) = Podman::new() {
        check(
            &|a: &[&str]| pm.podman(a),
            &[
                "--ulimit",
                "nofile=20000:20000",
                "--ulimit",
                "nproc=32768:32768",
            ],
            "podman",
        );
    }
}

#[test]
fn managers_that_cannot_grant_the_capability_are_refused_in_one_line() {
    let p = tiny_project();
    let root = p.path().join("managers-root");
    for f in [
        "usr/bin/supervisord",
        "sbin/openrc-run",
        "sbin/supervise-daemon",
    ] {
        let path = root.join(f);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
    }
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/os-release"), "ID=debian\nVERSION_ID=12\n").unwrap();
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    let base = format!("rootfs:{}", root.display());
    for (service, why) in [
        ("supervisor", "supervisord has no capability setting"),
        (
            "openrc",
            "Debian's OpenRC is built without capability support",
        ),
    ] {
        let out = p.path().join(format!("{service}.tar"));
        let args = |extra: &[&str]| {
            let mut v = vec![
                "scaffold",
                "tiny",
                "--base",
                &base,
                "--format",
                "docker-archive",
                "--service",
                service,
                "--port",
                "80",
                "-o",
                out.to_str().unwrap(),
            ];
            v.extend_from_slice(extra);
            v.into_iter().map(String::from).collect::<Vec<_>>()
        };
        let a = args(&[]);
        let r = p.run(&a.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(r.code, 2, "{service}: {r:?}");
        let line = r.stderr.trim().lines().last().unwrap_or_default();
        assert_eq!(
            line,
            format!("error: port 80 is below 1024 and tiny runs as uid 65532, but {service} cannot grant it CAP_NET_BIND_SERVICE ({why}); use --service systemd, a port of 1024 or more, or --user root"),
        );
        assert!(!out.exists());
        // The advice works: as root, or on a port of 1024 or more.
        for fix in [&["--user", "root"][..], &["--port", "8080"][..]] {
            let mut a = args(&[]);
            if fix[0] == "--port" {
                let i = a.iter().position(|x| x == "80").unwrap();
                a[i] = "8080".into();
            } else {
                a.extend(fix.iter().map(|s| s.to_string()));
            }
            let _ = std::fs::remove_file(&out);
            p.run(&a.iter().map(String::as_str).collect::<Vec<_>>())
                .ok();
        }
    }
}
