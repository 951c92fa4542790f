//! __NAME__: a minimal HTTP service made by `binship init --template rust-http` (std only).
//! GET /health answers "ok"; --port sets the port; --version prints the version binship passes
//! at build time; SIGTERM stops the accept loop and the process exits 0.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_sig: i32) {
    STOP.store(true, Ordering::SeqCst);
}

extern "C" {
    fn signal(sig: i32, handler: extern "C" fn(i32)) -> usize;
}

const SIGTERM: i32 = 15;
const SIGINT: i32 = 2;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut port: u16 = 8080;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--version" => {
                println!(
                    "__NAME__ {} (commit {})",
                    option_env!("BINSHIP_VERSION").unwrap_or("dev"),
                    option_env!("BINSHIP_COMMIT").unwrap_or("unknown")
                );
                return;
            }
            "--port" if i + 1 < args.len() => {
                port = args[i + 1].parse().unwrap_or_else(|_| {
                    eprintln!("--port needs a number");
                    std::process::exit(2)
                });
                i += 1;
            }
            other => {
                eprintln!("unknown argument {other} (use --port N or --version)");
                std::process::exit(2);
            }
        }
        i += 1;
    }
    // Safe: the handler only stores into an atomic.
    unsafe {
        signal(SIGTERM, on_term);
        signal(SIGINT, on_term);
    }
    let listener = TcpListener::bind(("0.0.0.0", port)).unwrap_or_else(|e| {
        eprintln!("listen on port {port}: {e}");
        std::process::exit(1)
    });
    listener.set_nonblocking(true).expect("nonblocking");
    while !STOP.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((mut s, _)) => {
                let _ = s.set_nonblocking(false);
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]);
                let (status, body) = if req.starts_with("GET /health") {
                    ("200 OK", "ok\n")
                } else {
                    ("404 Not Found", "not found\n")
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}
