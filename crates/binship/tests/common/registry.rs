//! Registry test helpers: a token server as distribution's token auth expects one (in this
//! process, on 127.0.0.1 or inside a network namespace the test made), docker's config.json
//! with credentials, and the base64 they need.
#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::time::Duration;

use super::engines::{ok, require};

/// A tiny base64 for the tests (the standard alphabet, with padding).
pub fn b64(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in s.as_bytes().chunks(3) {
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
}

/// Writes a docker config.json into `dir` with `user:pass` for `registry`.
pub fn docker_config(dir: &std::path::Path, registry: &str, user_pass: &str) {
    std::fs::write(
        dir.join("config.json"),
        format!(
            "{{\"auths\":{{\"{registry}\":{{\"auth\":\"{}\"}}}}}}",
            b64(user_pass)
        ),
    )
    .unwrap();
}

/// base64url without padding (JWT).
pub fn b64url(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..=c.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// A token server as distribution's token auth expects one: ES256 JWTs with the signing
/// certificate in `x5c` (the registry trusts it through `rootcertbundle`), granting what the
/// scope asks to `alice:s3cret` only. Signatures come from openssl. One request per connection.
pub struct TokenServer {
    pub port: u16,
    dir: tempfile::TempDir,
    /// "scope=... auth=..." per token request.
    events: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TokenServer {
    pub fn start() -> Option<TokenServer> {
        TokenServer::start_at("127.0.0.1:0", None)
    }

    /// Listening on `addr`, inside the network namespace `netns` (`ip netns` name) when given:
    /// the socket is made by a thread that joined it (setns), and stays there.
    pub fn start_at(addr: &str, netns: Option<&str>) -> Option<TokenServer> {
        if !require(&["openssl"], false) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let (key, cert, der) = (
            dir.path().join("key.pem"),
            dir.path().join("cert.pem"),
            dir.path().join("cert.der"),
        );
        for args in [
            vec![
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                key.to_str().unwrap(),
            ],
            vec![
                "req",
                "-x509",
                "-new",
                "-key",
                key.to_str().unwrap(),
                "-subj",
                "/CN=binship-token",
                "-days",
                "1",
                "-out",
                cert.to_str().unwrap(),
            ],
            vec![
                "x509",
                "-in",
                cert.to_str().unwrap(),
                "-outform",
                "DER",
                "-out",
                der.to_str().unwrap(),
            ],
        ] {
            ok(
                Command::new("openssl").args(&args).output().unwrap(),
                "openssl",
            );
        }
        let x5c = {
            // Standard base64 with padding for x5c.
            let url = b64url(&std::fs::read(&der).unwrap());
            let mut s: String = url
                .chars()
                .map(|c| match c {
                    '-' => '+',
                    '_' => '/',
                    c => c,
                })
                .collect();
            while !s.len().is_multiple_of(4) {
                s.push('=');
            }
            s
        };
        let l = match netns {
            None => std::net::TcpListener::bind(addr).unwrap(),
            Some(ns) => {
                let (addr, ns) = (addr.to_string(), ns.to_string());
                std::thread::spawn(move || {
                    use std::os::fd::AsRawFd;
                    let f = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
                    // SAFETY: setns on this short-lived thread only; the fd is open.
                    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
                    assert_eq!(rc, 0, "setns into {ns}");
                    std::net::TcpListener::bind(&addr).unwrap()
                })
                .join()
                .unwrap()
            }
        };
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ev, st) = (events.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            use std::io::{BufRead, BufReader, Write};
            while !st.load(std::sync::atomic::Ordering::SeqCst) {
                let Ok((mut s, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                s.set_nonblocking(false).unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    continue;
                }
                let mut auth = String::new();
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    if h.to_ascii_lowercase().starts_with("authorization:") {
                        auth = h["authorization:".len()..].trim().to_string();
                    }
                }
                let query = line
                    .split(' ')
                    .nth(1)
                    .unwrap_or("")
                    .split_once('?')
                    .map(|(_, q)| q.to_string())
                    .unwrap_or_default();
                let param = |k: &str| {
                    query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                        .map(|v| {
                            // Percent-decoding of what the scope holds.
                            v.replace("%3A", ":")
                                .replace("%3a", ":")
                                .replace("%2C", ",")
                                .replace("%2c", ",")
                                .replace("%2F", "/")
                                .replace("%2f", "/")
                        })
                        .unwrap_or_default()
                };
                let scope = param("scope");
                ev.lock()
                    .unwrap()
                    .push(format!("scope={scope} auth={auth}"));
                if auth != format!("Basic {}", b64("alice:s3cret")) {
                    let _ = write!(s, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    continue;
                }
                let access: Vec<serde_json::Value> = scope
                    .split(' ')
                    .filter_map(|sc| {
                        let mut p = sc.splitn(3, ':');
                        Some(serde_json::json!({
                            "type": p.next()?, "name": p.next()?,
                            "actions": p.next()?.split(',').collect::<Vec<_>>(),
                        }))
                    })
                    .collect();
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "x5c": [x5c]});
                let claims = serde_json::json!({
                    "iss": "binship-test-issuer", "sub": "alice", "aud": param("service"),
                    "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("t{now}{}", ev.lock().unwrap().len()),
                    "access": access,
                });
                let input = format!(
                    "{}.{}",
                    b64url(header.to_string().as_bytes()),
                    b64url(claims.to_string().as_bytes())
                );
                let mut child = Command::new("openssl")
                    .args(["dgst", "-sha256", "-sign"])
                    .arg(&key)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(input.as_bytes())
                    .unwrap();
                let der_sig = child.wait_with_output().unwrap().stdout;
                // DER SEQUENCE { INTEGER r, INTEGER s } -> r || s, 32 bytes each.
                let int_at = |i: usize| -> (Vec<u8>, usize) {
                    let len = der_sig[i + 1] as usize;
                    let v = &der_sig[i + 2..i + 2 + len];
                    let v = &v[v.len().saturating_sub(32)..];
                    let mut out = vec![0u8; 32 - v.len()];
                    out.extend_from_slice(v);
                    (out, i + 2 + len)
                };
                let (rr, next) = int_at(2);
                let (ss, _) = int_at(next);
                let token = format!("{input}.{}", b64url(&[rr, ss].concat()));
                let body = serde_json::json!({"token": token, "expires_in": 300}).to_string();
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Some(TokenServer {
            port,
            dir,
            events,
            stop,
            thread: Some(thread),
        })
    }

    pub fn cert(&self) -> std::path::PathBuf {
        self.dir.path().join("cert.pem")
    }

    pub fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Two network namespaces joined by a veth pair: `a` holds 10.77.0.1/30 and `b` 10.77.0.2/30,
/// both with loopback up; deleted (with the pair) on drop. Addresses exist only inside them.
pub struct NetPair {
    pub a: String,
    pub b: String,
}

impl NetPair {
    pub const A_ADDR: &'static str = "10.77.0.1";
    pub const B_ADDR: &'static str = "10.77.0.2";

    /// None (with the reason printed; a failure under CI=true) without `ip` or root.
    pub fn new() -> Option<NetPair> {
        if !require(&["ip"], true) {
            return None;
        }
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let id = format!("{}{n}", std::process::id());
        let pair = NetPair {
            a: format!("bsa{id}"),
            b: format!("bsb{id}"),
        };
        let ip = |args: &[&str]| ok(Command::new("ip").args(args).output().unwrap(), "ip");
        ip(&["netns", "add", &pair.a]);
        ip(&["netns", "add", &pair.b]);
        ip(&[
            "link", "add", "veth-a", "netns", &pair.a, "type", "veth", "peer", "name", "veth-b",
            "netns", &pair.b,
        ]);
        for (ns, dev, addr) in [
            (&pair.a, "veth-a", Self::A_ADDR),
            (&pair.b, "veth-b", Self::B_ADDR),
        ] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/30"), "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        Some(pair)
    }

    /// `program args...` inside namespace `ns`.
    pub fn cmd(ns: &str, program: &std::path::Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).arg(program);
        c
    }

    /// Whether something accepts TCP connections on `addr:port`, tried from inside `ns`.
    pub fn listening(ns: &str, addr: &str, port: u16) -> bool {
        Command::new("ip")
            .args(["netns", "exec", ns, "bash", "-c"])
            .arg(format!("exec 3<>/dev/tcp/{addr}/{port}"))
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for NetPair {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Debian's docker-registry serving inside namespace `ns` on `addr:port` with token auth
/// (`realm`, tokens signed by the key of `cert`) and deletes enabled; storage in a temp dir;
/// stopped on drop.
pub struct NsRegistry {
    child: std::process::Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl NsRegistry {
    pub fn start(ns: &str, addr: &str, realm: &str, cert: &std::path::Path) -> NsRegistry {
        let dir = tempfile::tempdir().unwrap();
        let port = super::engines::free_port();
        let cfg = dir.path().join("cfg.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nauth:\n  token:\n    realm: {realm}\n    service: binship-test\n    issuer: binship-test-issuer\n    rootcertbundle: {}\nhttp:\n  addr: {addr}:{port}\n",
                dir.path().join("reg").display(),
                cert.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = NetPair::cmd(ns, std::path::Path::new("docker-registry"))
            .arg("serve")
            .arg(&cfg)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let r = NsRegistry { child, dir, port };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !NetPair::listening(ns, addr, port) {
            assert!(
                std::time::Instant::now() < deadline,
                "docker-registry did not start in {ns}: {}",
                r.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        r
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for NsRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
