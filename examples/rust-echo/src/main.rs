//! rust-echo: a tiny HTTP service with the standard library only.
//! GET /health -> "ok", GET /echo?msg=X -> X. Flags: --port N, --version. Exits on SIGTERM.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: i32) {
    STOP.store(true, Ordering::SeqCst);
}

extern "C" {
    fn signal(sig: i32, handler: extern "C" fn(i32)) -> usize;
}

fn respond(mut s: TcpStream) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut line = String::new();
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    if r.read_line(&mut line).is_err() {
        return;
    }
    // Drain headers.
    loop {
        let mut h = String::new();
        match r.read_line(&mut h) {
            Ok(0) | Err(_) => break,
            Ok(_) if h == "\r\n" || h == "\n" => break,
            _ => {}
        }
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = if path == "/health" {
        ("200 OK", "ok\n".to_string())
    } else if let Some(q) = path.strip_prefix("/echo?msg=") {
        ("200 OK", q.to_string())
    } else {
        ("404 Not Found", "not found\n".to_string())
    };
    let _ = write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn main() {
    let mut port: u16 = 7002;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--version" => {
                println!(
                    "rust-echo {} (commit {})",
                    option_env!("BINSHIP_VERSION").unwrap_or("dev"),
                    option_env!("BINSHIP_COMMIT").unwrap_or("unknown")
                );
                return;
            }
            "--port" => {
                port = args.next().and_then(|p| p.parse().ok()).unwrap_or_else(|| {
                    eprintln!("--port needs a number");
                    std::process::exit(2)
                })
            }
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2)
            }
        }
    }
    // SAFETY: installing a handler that only stores to an atomic.
    unsafe {
        signal(15, on_term);
    }
    let listener = TcpListener::bind(("0.0.0.0", port)).unwrap_or_else(|e| {
        eprintln!("listen on {port}: {e}");
        std::process::exit(1)
    });
    listener.set_nonblocking(true).expect("nonblocking");
    eprintln!("rust-echo listening on :{port}");
    while !STOP.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((s, _)) => {
                let _ = s.set_nonblocking(false);
                respond(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => eprintln!("accept: {e}"),
        }
    }
    eprintln!("rust-echo stopped");
}
