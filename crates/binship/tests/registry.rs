//! `binship push` against a real registry: Debian's docker-registry (CNCF distribution 2.8)
//! started here on 127.0.0.1 with its storage in a temp dir. The pushed image is inspected by
//! skopeo, pulled and run by podman; a second push uploads no blob; bad references and a
//! registry that is down are clear errors.

mod common;
use common::engines::*;
use common::registry::*;
use common::*;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Registry {
    dir: tempfile::TempDir,
    child: Option<Child>,
    port: u16,
    cfg: std::path::PathBuf,
    tls: bool,
}

impl Registry {
    fn start() -> Option<Registry> {
        Registry::start_with(None, false)
    }

    /// With `user:password` in an htpasswd file (bcrypt, made by Debian's htpasswd), and/or
    /// TLS with a certificate for 127.0.0.1 signed by a CA made here (`ca.pem` in its dir).
    fn start_with(auth: Option<(&str, &str)>, tls: bool) -> Option<Registry> {
        if !require(&["docker-registry"], false)
            || auth.is_some() && !require(&["htpasswd"], false)
            || tls && !require(&["openssl"], false)
        {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
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
        Some(Registry::launch(dir, &auth_cfg, tls))
    }

    /// With token auth: the registry trusts tokens signed by the key of `cert` (PEM) and sends
    /// clients to `realm` for them.
    fn start_with_token(realm: &str, cert: &std::path::Path) -> Option<Registry> {
        if !require(&["docker-registry"], false) {
            return None;
        }
        let auth_cfg = format!(
            "auth:\n  token:\n    realm: {realm}\n    service: binship-test\n    issuer: binship-test-issuer\n    rootcertbundle: {}\n",
            cert.display()
        );
        Some(Registry::launch(
            tempfile::tempdir().unwrap(),
            &auth_cfg,
            false,
        ))
    }

    fn launch(dir: tempfile::TempDir, auth_cfg: &str, tls: bool) -> Registry {
        let port = free_port();
        let cfg = dir.path().join("cfg.yml");
        let mut tls_cfg = String::new();
        if tls {
            make_certs(dir.path());
            tls_cfg = format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                dir.path().join("srv.pem").display(),
                dir.path().join("srv.key").display()
            );
        }
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n{auth_cfg}http:\n  addr: 127.0.0.1:{port}\n{tls_cfg}",
                dir.path().join("reg").display()
            ),
        )
        .unwrap();
        let mut r = Registry {
            dir,
            child: None,
            port,
            cfg,
            tls,
        };
        r.spawn();
        r
    }

    /// Starts (again) on the same port with the same storage.
    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("log"))
            .unwrap();
        self.child = Some(
            Command::new("docker-registry")
                .arg("serve")
                .arg(&self.cfg)
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        // (401 with auth on, or 400 for plain HTTP to TLS, still answers: this waits for the
        // listener only)
        while http_get(self.port, "/v2/").is_none() {
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    fn uploads(&self) -> usize {
        self.log().matches("\"PUT /v2/").count()
    }

    fn ca(&self) -> std::path::PathBuf {
        assert!(self.tls);
        self.dir.path().join("ca.pem")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A CA (ca.pem) and a server certificate for IP 127.0.0.1 signed by it (srv.pem, srv.key).
fn make_certs(dir: &std::path::Path) {
    let run = |args: &[&str]| {
        ok(
            Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .unwrap(),
            "openssl",
        )
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut a = vec!["req", "-x509"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=binship test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    run(&a);
    let mut a = vec!["req"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&a);
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.pem",
        "-days",
        "2",
        "-extfile",
        "ext",
    ]);
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
    // push runs the image test and says which runner ran it (the suite pins binship's).
    assert_eq!(j["image_tests"]["status"], "passed", "{j}");
    assert_eq!(j["image_tests"]["runner"], "binship", "{j}");
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
        pm.serve("gid", &format!("{target}:v.1"), &["--rm"], "podman");
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

/// `binship push go-id TARGET` with docker's config read from `config_dir`.
fn push_as(p: &Project, target: &str, config_dir: &std::path::Path) -> Run {
    p.cmd(&["push", "go-id", target])
        .env("DOCKER_CONFIG", config_dir)
        .output()
        .unwrap()
        .into()
}

#[test]
fn basic_auth_from_docker_config_missing_wrong_and_right() {
    let Some(reg) = Registry::start_with(Some(("alice", "s3cret")), false) else {
        return;
    };
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    let target = format!("127.0.0.1:{}/go-id", reg.port);
    let cfg = tempfile::tempdir().unwrap();
    let push = || push_as(&p, &target, cfg.path());
    let r = push();
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("401 Unauthorized: no credentials for this registry"),
        "{r:?}"
    );
    let write =
        |user_pass: &str| docker_config(cfg.path(), &format!("127.0.0.1:{}", reg.port), user_pass);
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
    serve(
        |a| d.docker(a),
        "gid",
        &format!("{target}:v.1"),
        &["--rm", "--read-only"],
        "docker",
    );
    ok(d.docker(&["stop", "-t", "5", "gid"]), "docker stop");
}

/// What the fake registry does wrong (or differently).
#[derive(Clone)]
enum Fault {
    /// Takes every upload but reports another digest.
    Lie,
    /// Cuts the connection halfway through the body of the first `n` blob uploads.
    Cut(usize),
    /// Serves this manifest (bytes, media type) for every tag and answers blob GETs with a 307
    /// to the same path at this origin, as registries on object storage do.
    Redirect(Vec<u8>, String, String),
    /// Token auth: every registry request needs a valid `Bearer tok-N`, else a 401 whose
    /// challenge points at this server's `/token`, which gives tokens (tok-1, tok-2, ...) for
    /// `alice:s3cret` (Basic) only. `true`: the tokens given so far expire when the first blob
    /// body arrives (401 `invalid_token`), as a token may during a long upload.
    /// Events: "401", "EXPIRED", "TOKEN <query>", "TOKEN-AUTH <header>".
    Bearer(bool),
    /// The first `n` requests get 429 with this `Retry-After`. Events: "429 <ms>" and, for the
    /// request after each, "AFTER <ms>" (milliseconds since the fake started).
    RateLimited(usize, &'static str),
}

/// A small registry speaking just enough of the distribution API over plain HTTP (one request
/// per connection), with a fault; `events` lists "PUT", "CUT", "HEAD", ... in order.
struct Fake {
    port: u16,
    events: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Fake {
    fn start(fault: Fault) -> Fake {
        use sha2::Digest;
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::atomic::Ordering;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ev, st) = (events.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut cuts_left = match fault {
                Fault::Cut(n) => n,
                _ => 0,
            };
            // Tokens issued, and the first still valid.
            let (mut issued, mut valid_from) = (0usize, 1usize);
            let started = std::time::Instant::now();
            let (mut limited_left, mut just_limited) = match fault {
                Fault::RateLimited(n, _) => (n, false),
                _ => (0, false),
            };
            let mut n = 0;
            while !st.load(Ordering::SeqCst) {
                let mut s = match l.accept() {
                    Ok((s, _)) => s,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                // A TLS hello (binship tries HTTPS first on loopback) is not a request line.
                if r.read_line(&mut line).is_err() || !line.ends_with("HTTP/1.1\r\n") {
                    continue;
                }
                let mut len = 0usize;
                let mut auth = String::new();
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    if h.to_ascii_lowercase().starts_with("authorization:") {
                        auth = h["authorization:".len()..].trim().to_string();
                    }
                }
                if let Fault::Bearer(expiring) = fault {
                    let target = line.split(' ').nth(1).unwrap_or("").to_string();
                    if let Some(q) = target.strip_prefix("/token?") {
                        ev.lock().unwrap().push(format!("TOKEN {q}"));
                        ev.lock().unwrap().push(format!("TOKEN-AUTH {auth}"));
                        if auth == format!("Basic {}", b64("alice:s3cret")) {
                            issued += 1;
                            let body = format!(r#"{{"token":"tok-{issued}","expires_in":300}}"#);
                            let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                        } else {
                            let _ = write!(s, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                        }
                        continue;
                    }
                    let uploading =
                        line.starts_with("PUT ") && target.contains("/blobs/uploads/") && len > 0;
                    let mut error = "";
                    if expiring && uploading && valid_from == 1 && issued > 0 {
                        valid_from = issued + 1;
                        ev.lock().unwrap().push("EXPIRED".into());
                        error = ",error=\"invalid_token\"";
                    }
                    let valid = auth
                        .strip_prefix("Bearer tok-")
                        .and_then(|n| n.parse::<usize>().ok())
                        .is_some_and(|n| n >= valid_from && n <= issued);
                    if !valid {
                        // Drain the body so the client sees the answer, not a reset.
                        let mut body = vec![0u8; len];
                        let _ = r.read_exact(&mut body);
                        ev.lock().unwrap().push("401".into());
                        let _ = write!(s, "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"fake registry\",scope=\"repository:go-id:pull,push\"{error}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                        continue;
                    }
                }
                if let Fault::RateLimited(_, after) = fault {
                    let ms = started.elapsed().as_millis();
                    if just_limited {
                        ev.lock().unwrap().push(format!("AFTER {ms}"));
                        just_limited = false;
                    }
                    if limited_left > 0 {
                        limited_left -= 1;
                        just_limited = true;
                        let mut body = vec![0u8; len];
                        let _ = r.read_exact(&mut body);
                        ev.lock().unwrap().push(format!("429 {ms}"));
                        let _ = write!(s, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: {after}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                        continue;
                    }
                }
                let method = line.split(' ').next().unwrap_or("").to_string();
                let upload = method == "PUT" && line.contains("/blobs/uploads/");
                if upload && len > 0 && cuts_left > 0 {
                    cuts_left -= 1;
                    let mut half = vec![0u8; len / 2];
                    let _ = r.read_exact(&mut half);
                    let _ = s.shutdown(std::net::Shutdown::Both);
                    ev.lock().unwrap().push("CUT".into());
                    continue;
                }
                let mut body = vec![0u8; len];
                let _ = r.read_exact(&mut body);
                ev.lock().unwrap().push(method.clone());
                let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&body)));
                let path = line.split(' ').nth(1).unwrap_or("").to_string();
                if let (Fault::Redirect(manifest, media, origin), "GET") = (&fault, method.as_str())
                {
                    if path.contains("/manifests/") {
                        let d = hex::encode(sha2::Sha256::digest(manifest));
                        let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Type: {media}\r\nDocker-Content-Digest: sha256:{d}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", manifest.len());
                        let _ = s.write_all(manifest);
                        continue;
                    }
                    if path.contains("/blobs/") {
                        ev.lock().unwrap().push("REDIRECT".into());
                        let _ = write!(s, "HTTP/1.1 307 Temporary Redirect\r\nLocation: {origin}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                        continue;
                    }
                }
                let (status, extra) = match method.as_str() {
                    "GET" => ("200 OK", String::new()),
                    "HEAD" => ("404 Not Found", String::new()),
                    "POST" => {
                        n += 1;
                        (
                            "202 Accepted",
                            format!("Location: /v2/x/blobs/uploads/{n}\r\n"),
                        )
                    }
                    _ => {
                        let d = match fault {
                            Fault::Lie | Fault::Redirect(..) => {
                                format!("sha256:{}", "0".repeat(64))
                            }
                            Fault::Cut(_) | Fault::Bearer(_) | Fault::RateLimited(..) if upload => {
                                // The digest binship named in the query.
                                line.split("digest=")
                                    .nth(1)
                                    .unwrap_or("")
                                    .split([' ', '&'])
                                    .next()
                                    .unwrap_or("")
                                    .to_string()
                            }
                            Fault::Cut(_) | Fault::Bearer(_) | Fault::RateLimited(..) => digest,
                        };
                        ("201 Created", format!("Docker-Content-Digest: {d}\r\n"))
                    }
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Fake {
            port,
            events,
            stop,
            thread: Some(thread),
        }
    }

    fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn bearer_token_auth_asks_the_realm_with_docker_credentials_and_reuses_the_token() {
    // No token server is installable here: a fake registry speaks the token protocol.
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    let fake = Fake::start(Fault::Bearer(false));
    let target = format!("127.0.0.1:{}/go-id", fake.port);
    let cfg = tempfile::tempdir().unwrap();
    let push = || push_as(&p, &target, cfg.path());
    // No credentials: the anonymous token request is refused, and the error says so.
    let r = push();
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("/token answered 401"), "{r:?}");
    assert!(fake.events().contains(&"TOKEN-AUTH ".to_string()));
    // With docker's credentials: one token, asked with the challenge's service and scope
    // (URL-encoded), then every request carries it.
    docker_config(
        cfg.path(),
        &format!("127.0.0.1:{}", fake.port),
        "alice:s3cret",
    );
    let before = fake.events().len();
    let r = push();
    assert_eq!(r.code, 0, "{r:?}");
    let ev: Vec<String> = fake.events()[before..].to_vec();
    let tokens: Vec<&String> = ev.iter().filter(|e| e.starts_with("TOKEN ")).collect();
    assert_eq!(
        tokens,
        ["TOKEN service=fake%20registry&scope=repository%3Ago-id%3Apull%2Cpush"],
        "{ev:?}"
    );
    assert!(ev.contains(&format!("TOKEN-AUTH Basic {}", b64("alice:s3cret"))));
    assert_eq!(ev.iter().filter(|e| *e == "401").count(), 1, "{ev:?}");
    assert!(ev.iter().any(|e| e == "PUT"), "{ev:?}");
    drop(fake);
    // A token that expires while a blob is being sent: a new one is fetched and the upload
    // starts over with it.
    let fake = Fake::start(Fault::Bearer(true));
    let target = format!("127.0.0.1:{}/go-id", fake.port);
    docker_config(
        cfg.path(),
        &format!("127.0.0.1:{}", fake.port),
        "alice:s3cret",
    );
    let r = push_as(&p, &target, cfg.path());
    assert_eq!(r.code, 0, "{r:?}");
    let ev = fake.events();
    assert_eq!(ev.iter().filter(|e| *e == "EXPIRED").count(), 1, "{ev:?}");
    assert_eq!(
        ev.iter().filter(|e| e.starts_with("TOKEN ")).count(),
        2,
        "{ev:?}"
    );
}

#[test]
fn a_registry_that_reports_another_digest_is_refused() {
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    let fake = Fake::start(Fault::Lie);
    let r = p.run(&["push", "go-id", &format!("127.0.0.1:{}/go-id", fake.port)]);
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

#[test]
fn a_cut_upload_is_retried_and_a_connection_that_keeps_failing_is_a_clear_error() {
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    // Two cuts: the upload is started again (new POST) and lands.
    let fake = Fake::start(Fault::Cut(2));
    let j = p
        .run(&[
            "push",
            "go-id",
            &format!("127.0.0.1:{}/go-id", fake.port),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(j["pushed"]["uploaded"].as_array().unwrap().len(), 3, "{j}");
    let ev = fake.events();
    assert_eq!(ev.iter().filter(|e| *e == "CUT").count(), 2, "{ev:?}");
    // 3 blobs + 2 retries started an upload each.
    assert_eq!(ev.iter().filter(|e| *e == "POST").count(), 5, "{ev:?}");
    drop(fake);
    std::fs::remove_file(p.version_dir("go-id", 1).join("publications.json")).unwrap();
    // Every upload cut: a clear error after the retries, nothing recorded or left behind.
    let fake = Fake::start(Fault::Cut(usize::MAX));
    let r = p.run(&["push", "go-id", &format!("127.0.0.1:{}/go-id", fake.port)]);
    assert_eq!(r.code, 1, "{r:?}");
    let errs: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errs.len(), 1, "{r:?}");
    assert!(errs[0].contains("uploading sha256:"), "{r:?}");
    assert!(errs[0].contains("after 4 attempt(s)"), "{r:?}");
    assert_eq!(fake.events().iter().filter(|e| *e == "CUT").count(), 4);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
    assert!(!p.version_dir("go-id", 1).join("publications.json").exists());
}

#[test]
fn a_rate_limited_push_waits_as_retry_after_asks_and_refuses_a_wait_too_long() {
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    // Two 429s with Retry-After: 1: each retry comes a second later (not the 250 ms backoff),
    // and the push lands.
    let fake = Fake::start(Fault::RateLimited(2, "1"));
    p.run(&["push", "go-id", &format!("127.0.0.1:{}/go-id", fake.port)])
        .ok();
    let ev = fake.events();
    let at = |prefix: &str| -> Vec<u128> {
        ev.iter()
            .filter_map(|e| e.strip_prefix(prefix)?.parse().ok())
            .collect()
    };
    let (limited, after) = (at("429 "), at("AFTER "));
    assert_eq!((limited.len(), after.len()), (2, 2), "{ev:?}");
    for (l, a) in limited.iter().zip(&after) {
        assert!(
            a - l >= 950,
            "retried {} ms after a 429 asking for 1 s: {ev:?}",
            a - l
        );
    }
    drop(fake);
    std::fs::remove_file(p.version_dir("go-id", 1).join("publications.json")).unwrap();
    // Asked to wait an hour: one line at once, naming the wait; nothing recorded.
    let fake = Fake::start(Fault::RateLimited(usize::MAX, "3600"));
    let r = p.run(&["push", "go-id", &format!("127.0.0.1:{}/go-id", fake.port)]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("asks to wait 3600 s (Retry-After)"),
        "{r:?}"
    );
    assert_eq!(fake.events().len(), 1, "{:?}", fake.events());
    assert!(!p.version_dir("go-id", 1).join("publications.json").exists());
}

#[test]
fn chunked_uploads_and_cross_repository_mounts_on_the_real_registry() {
    let Some(reg) = Registry::start() else { return };
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    let a = format!("127.0.0.1:{}/team/a", reg.port);
    let j = p
        .run(&["push", "go-id", &a, "--chunk-size", "512K", "--json"])
        .ok()
        .json();
    let layer_bytes = j["pushed"]["bytes_uploaded"].as_u64().unwrap();
    let patches = reg
        .log()
        .matches("\"PATCH /v2/team/a/blobs/uploads/")
        .count();
    assert!(
        patches as u64 >= layer_bytes / (512 << 10),
        "{patches} PATCH requests for {layer_bytes} bytes"
    );
    if require(&["skopeo"], false) {
        // skopeo reads every blob back: the chunks add up.
        let dir = tempfile::tempdir().unwrap();
        ok(
            Command::new("skopeo")
                .args([
                    "copy",
                    "--src-tls-verify=false",
                    &format!("docker://{a}:v.1"),
                ])
                .arg(format!("oci:{}:x", dir.path().display()))
                .output()
                .unwrap(),
            "skopeo copy",
        );
    }
    // Another repository: every blob is mounted from team/a (known from the publication).
    let b = format!("127.0.0.1:{}/team/b", reg.port);
    let j = p.run(&["push", "go-id", &b, "--json"]).ok().json();
    assert_eq!(j["pushed"]["mounted"].as_array().unwrap().len(), 3, "{j}");
    assert!(
        j["pushed"]["uploaded"].as_array().unwrap().is_empty(),
        "{j}"
    );
    assert!(reg.log().contains("mount=sha256:"));
    // A mount source that does not hold the blobs: the registry answers 202 and binship
    // uploads into the session it opened.
    let c = format!("127.0.0.1:{}/team/c", reg.port);
    std::fs::remove_file(p.version_dir("go-id", 1).join("publications.json")).unwrap();
    let j = p
        .run(&[
            "push",
            "go-id",
            &c,
            "--mount-from",
            "team/nothing",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(j["pushed"]["uploaded"].as_array().unwrap().len(), 3, "{j}");
    assert!(j["pushed"]["mounted"].as_array().unwrap().is_empty(), "{j}");
    assert!(reg.log().contains("from=team/nothing"));
    // Several candidates: the one that does not hold the blobs is tried first, its upload
    // cancelled, and the next (team/c, where the last push went) mounts every blob.
    let d = format!("127.0.0.1:{}/team/d", reg.port);
    let j = p
        .run(&[
            "push",
            "go-id",
            &d,
            "--mount-from",
            "team/nothing",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(j["pushed"]["mounted"].as_array().unwrap().len(), 3, "{j}");
    assert!(
        j["pushed"]["uploaded"].as_array().unwrap().is_empty(),
        "{j}"
    );
    assert!(
        reg.log().contains("\"DELETE /v2/team/d/blobs/uploads/"),
        "the unused upload is cancelled"
    );
}

#[test]
fn push_binary_then_pull_binary_into_an_empty_store_is_byte_identical() {
    let Some(reg) = Registry::start() else { return };
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    let repo = format!("127.0.0.1:{}/bin/go-id", reg.port);
    let j = p
        .run(&["push-binary", "go-id", &repo, "--json"])
        .ok()
        .json();
    assert_eq!(j["kind"], "binary");
    let digest = j["pushed"]["manifest_digest"].as_str().unwrap().to_string();
    if require(&["skopeo"], false) {
        let raw = ok(
            Command::new("skopeo")
                .args([
                    "inspect",
                    "--raw",
                    "--tls-verify=false",
                    &format!("docker://{repo}:v.1"),
                ])
                .output()
                .unwrap(),
            "skopeo inspect",
        );
        let m: serde_json::Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(m["artifactType"], "application/vnd.binship.binary.v1");
        assert_eq!(
            m["config"]["mediaType"],
            "application/vnd.oci.empty.v1+json"
        );
        assert_eq!(m["annotations"]["dev.binship.app"], "go-id");
        assert_eq!(m["annotations"]["dev.binship.tests"], "5/5 passed");
        let titles: Vec<&str> = m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                l["annotations"]["org.opencontainers.image.title"]
                    .as_str()
                    .unwrap()
            })
            .collect();
        assert!(
            titles.contains(&"go-id") && titles.contains(&"test-results.json"),
            "{titles:?}"
        );
        assert!(!titles.contains(&"publications.json"), "{titles:?}");
    }
    let remote = p.run(&["list", "--remote", &repo, "--json"]).ok().json();
    assert_eq!(remote["tags"], serde_json::json!(["v.1"]));
    // Into an empty store: no tag -> the highest v.N.
    let empty = tempfile::tempdir().unwrap();
    let pull = |args: &[&str]| -> Run {
        p.cmd(args)
            .env("BINSHIP_STORE", empty.path())
            .output()
            .unwrap()
            .into()
    };
    let j = pull(&["pull-binary", &repo, "--json"]).ok().json();
    assert_eq!(j["status"], "pulled");
    assert_eq!(j["manifest_digest"], digest.as_str());
    let got = empty.path().join("go-id/go-id-binary-v.1");
    let want = p.version_dir("go-id", 1);
    let mut names: Vec<String> = std::fs::read_dir(&got)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "README.md",
            "binship.toml",
            "build.log",
            "go-id",
            "test-results.json",
            "test.log"
        ]
    );
    for n in &names {
        assert_eq!(
            std::fs::read(got.join(n)).unwrap(),
            std::fs::read(want.join(n)).unwrap(),
            "{n} differs"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(got.join("go-id"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o755
    );
    // The pulled version works as any other: list and scaffold see it.
    let l = pull(&["list", "go-id", "--json"]).ok().json();
    assert!(l.to_string().contains("\"version\":1"), "{l}");
    // Again: identical, a no-op.
    let j = pull(&["pull-binary", &format!("{repo}:v.1"), "--json"])
        .ok()
        .json();
    assert_eq!(j["status"], "unchanged");
    // A different local v.1: refused (exit 7), the local one untouched.
    std::fs::write(got.join("README.md"), "changed\n").unwrap();
    let r = pull(&["pull-binary", &repo]);
    assert_eq!(r.code, 7, "{r:?}");
    assert!(r.stderr.contains("README.md differs"), "{r:?}");
    assert_eq!(
        std::fs::read_to_string(got.join("README.md")).unwrap(),
        "changed\n"
    );
    // An image is not a binary.
    p.run(&[
        "push",
        "go-id",
        &format!("127.0.0.1:{}/img/go-id", reg.port),
    ])
    .ok();
    let r = pull(&[
        "pull-binary",
        &format!("127.0.0.1:{}/img/go-id:v.1", reg.port),
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("is not a binship binary"), "{r:?}");
}

#[test]
fn scaffold_push_sends_the_image_with_the_scaffold_settings() {
    let Some(reg) = Registry::start() else { return };
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    let repo = format!("127.0.0.1:{}/go-id", reg.port);
    let out = p.path().join("go-id.tar");
    let j = p
        .run(&[
            "scaffold",
            "go-id",
            "-o",
            out.to_str().unwrap(),
            "--base",
            "scratch",
            "--env",
            "GREETING=hi",
            "--push",
            &repo,
            "--json",
        ])
        .ok()
        .json();
    assert!(out.is_file());
    assert_eq!(j["pushed"]["reference"], format!("{repo}:v.1"));
    // The OCI image staged from the same assembly is gone after the push.
    let tmp = p.store().join(".binship/tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    // An OCI layout output is pushed as written: the registry holds its very manifest.
    let layout = p.path().join("go-id-layout");
    let j = p
        .run(&[
            "scaffold",
            "go-id",
            "--format",
            "oci",
            "-o",
            layout.to_str().unwrap(),
            "--push",
            &format!("{repo}:layout"),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(j["pushed"]["manifest_digest"], j["manifest_digest"], "{j}");
    if require(&["skopeo"], false) {
        let cfg = ok(
            Command::new("skopeo")
                .args([
                    "inspect",
                    "--config",
                    "--tls-verify=false",
                    &format!("docker://{repo}:v.1"),
                ])
                .output()
                .unwrap(),
            "skopeo inspect",
        );
        assert!(cfg.contains("GREETING=hi"), "{cfg}");
    }
    // zstd layers are pushed as zstd, with a warning naming who cannot pull them.
    let r = p
        .run(&[
            "scaffold",
            "go-id",
            "-o",
            p.path().join("go-id.oci.tar").to_str().unwrap(),
            "--format",
            "oci-archive",
            "--compress",
            "zstd",
            "--push",
            &format!("{repo}:zstd"),
        ])
        .ok();
    assert!(
        r.stderr
            .contains("warning: zstd layers: docker before 23.0 and umoci cannot pull this image"),
        "{r:?}"
    );
    if require(&["skopeo"], false) {
        let raw = ok(
            Command::new("skopeo")
                .args([
                    "inspect",
                    "--raw",
                    "--tls-verify=false",
                    &format!("docker://{repo}:zstd"),
                ])
                .output()
                .unwrap(),
            "skopeo inspect --raw",
        );
        assert!(
            raw.contains("application/vnd.oci.image.layer.v1.tar+zstd"),
            "{raw}"
        );
    }
    // A bad reference is refused before anything is packed.
    let out2 = p.path().join("never.tar");
    let r = p.run(&[
        "scaffold",
        "go-id",
        "-o",
        out2.to_str().unwrap(),
        "--push",
        "nohost",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(!out2.exists());
}

#[test]
fn tls_registry_needs_its_ca_trusted_and_a_restarted_registry_keeps_its_blobs() {
    let Some(mut reg) = Registry::start_with(None, true) else {
        return;
    };
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    let repo = format!("127.0.0.1:{}/go-id", reg.port);
    let push = |extra: &[&str], ca: Option<&std::path::Path>| -> Run {
        let mut args = vec!["push", "go-id", repo.as_str(), "--json"];
        args.extend(extra);
        let mut c = p.cmd(&args);
        c.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
        if let Some(ca) = ca {
            c.env("SSL_CERT_FILE", ca);
        }
        c.output().unwrap().into()
    };
    // An unknown CA: a clear error (no silent fallback to plain HTTP).
    let r = push(&[], None);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("certificate"), "{r:?}");
    assert!(r.stderr.contains("SSL_CERT_FILE"), "{r:?}");
    // The CA trusted through SSL_CERT_FILE (as the system roots would be): pushed over TLS.
    let j = push(&[], Some(&reg.ca())).ok().json();
    assert_eq!(j["pushed"]["uploaded"].as_array().unwrap().len(), 3, "{j}");
    // --insecure accepts any certificate.
    let j = push(&["--insecure"], None).ok().json();
    assert!(
        j["pushed"]["uploaded"].as_array().unwrap().is_empty(),
        "{j}"
    );
    // Stopped: a clear error after the retries; the record is not touched.
    let before =
        std::fs::read_to_string(p.version_dir("go-id", 1).join("publications.json")).unwrap();
    reg.stop();
    let r = push(&[], Some(&reg.ca()));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("is the registry up?"), "{r:?}");
    assert_eq!(
        std::fs::read_to_string(p.version_dir("go-id", 1).join("publications.json")).unwrap(),
        before
    );
    // Restarted on its storage: everything is still there.
    reg.spawn();
    let j = push(&[], Some(&reg.ca())).ok().json();
    assert_eq!(j["pushed"]["skipped"].as_array().unwrap().len(), 3, "{j}");
    // A registry that redirects blob reads elsewhere (object storage): the redirect is followed
    // with the same TLS trust (here the test CA) and without the registry's credentials.
    let bin_repo = format!("127.0.0.1:{}/bin/go-id", reg.port);
    let mut c = p.cmd(&["push-binary", "go-id", &bin_repo]);
    c.env("SSL_CERT_FILE", reg.ca());
    Run::from(c.output().unwrap()).ok();
    if !require(&["skopeo"], false) {
        return;
    }
    let manifest = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{bin_repo}:v.1"),
        ])
        .output()
        .unwrap();
    assert!(manifest.status.success(), "{manifest:?}");
    let media = serde_json::from_slice::<serde_json::Value>(&manifest.stdout).unwrap()["mediaType"]
        .as_str()
        .unwrap_or("application/vnd.oci.image.manifest.v1+json")
        .to_string();
    let fake = Fake::start(Fault::Redirect(
        manifest.stdout,
        media,
        format!("https://127.0.0.1:{}", reg.port),
    ));
    let empty = tempfile::tempdir().unwrap();
    let mut c = p.cmd(&[
        "pull-binary",
        &format!("127.0.0.1:{}/bin/go-id:v.1", fake.port),
        "--json",
    ]);
    c.env("BINSHIP_STORE", empty.path())
        .env("SSL_CERT_FILE", reg.ca());
    let r: Run = c.output().unwrap().into();
    assert_eq!(r.code, 0, "{r:?}");
    assert!(fake.events().iter().any(|e| e == "REDIRECT"));
    assert_eq!(
        std::fs::read(empty.path().join("go-id/go-id-binary-v.1/go-id")).unwrap(),
        std::fs::read(p.version_dir("go-id", 1).join("go-id")).unwrap()
    );
}

#[test]
fn the_real_registry_with_token_auth_accepts_a_push_and_pull_with_tokens_from_its_realm() {
    let Some(ts) = TokenServer::start() else {
        return;
    };
    let Some(reg) =
        Registry::start_with_token(&format!("http://127.0.0.1:{}/token", ts.port), &ts.cert())
    else {
        return;
    };
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    let target = format!("127.0.0.1:{}/go-id", reg.port);
    let cfg = tempfile::tempdir().unwrap();
    // No credentials: the realm refuses the anonymous token request.
    let r = push_as(&p, &target, cfg.path());
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("/token answered 401"), "{r:?}");
    // docker's credentials: a token for repository:go-id:pull,push, and the push lands.
    docker_config(
        cfg.path(),
        &format!("127.0.0.1:{}", reg.port),
        "alice:s3cret",
    );
    let r = push_as(&p, &target, cfg.path());
    assert_eq!(r.code, 0, "{r:?}\n{}", reg.log());
    // (the registry names the actions in either order: pull,push or push,pull)
    let ev = ts.events();
    assert!(
        ev.iter().any(|e| {
            let actions = e
                .strip_prefix("scope=repository:go-id:")
                .and_then(|r| r.split_once(" auth=Basic "))
                .map(|(a, _)| a.split(',').collect::<std::collections::BTreeSet<_>>());
            actions == Some(["pull", "push"].into_iter().collect())
        }),
        "{ev:?}"
    );
    // Pulled back with a token too (pull-binary of the pushed image is refused as not a
    // binship artifact, so list the tags: a GET that needs pull access).
    let mut c = p.cmd(&["list", "--remote", &target, "--json"]);
    c.env("DOCKER_CONFIG", cfg.path());
    let j = Run::from(c.output().unwrap()).ok().json();
    assert_eq!(j["tags"], serde_json::json!(["v.1"]), "{j}");
}
