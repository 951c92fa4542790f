//! `binship-probe`: a small static health probe (HTTP GET or TCP connect, docker's HEALTHCHECK
//! exit statuses) that an image can carry, built from the C source in this module with gcc
//! once per source and architecture and cached.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The probe's source (C, libc only).
pub const SOURCE: &str = include_str!("binship-probe.c");

pub use binship_recipe::{probe_url as url, PROBE_PATH as IMAGE_PATH};

/// The probe for `arch` (an OCI architecture: amd64, arm64, ...): built with `gcc -static -Os
/// -s` (a cross gcc, `<triple>-gcc`, for another arch) into `cache/probe-<sha>-<arch>` the
/// first time, then read from there.
///
/// # Errors
/// One line: no gcc (or no static libc) for `arch`, or the cache cannot be written.
pub fn binary(arch: &str, cache: &Path) -> Result<Vec<u8>, String> {
    let key = hex::encode(&Sha256::digest(SOURCE.as_bytes())[..8]);
    let dir = cache.join(format!("probe-{key}-{arch}"));
    let out = dir.join("binship-probe");
    if let Ok(b) = std::fs::read(&out) {
        return Ok(b);
    }
    let gcc = if arch == binship_recipe::native_arch() {
        "gcc".to_string()
    } else {
        format!("{}-gcc", crate::builders::gnu_triple(arch))
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tmp = tempfile_in(&dir);
    let src = tmp.with_extension("c");
    std::fs::write(&src, SOURCE).map_err(|e| format!("{}: {e}", src.display()))?;
    let built = Command::new(&gcc)
        .args(["-static", "-Os", "-s", "-o"])
        .arg(&tmp)
        .arg(&src)
        .output();
    let _ = std::fs::remove_file(&src);
    let done = match built {
        Err(e) => Err(format!(
            "building binship-probe for linux/{arch}: {gcc}: {e} (install {})",
            if gcc == "gcc" {
                "gcc and libc6-dev".to_string()
            } else {
                format!("gcc-{}", crate::builders::gnu_triple(arch))
            }
        )),
        Ok(o) if !o.status.success() => Err(format!(
            "building binship-probe for linux/{arch} with {gcc} failed: {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .find(|l| l.contains("error"))
                .unwrap_or("(no error line)")
        )),
        Ok(_) => std::fs::rename(&tmp, &out).map_err(|e| format!("{}: {e}", out.display())),
    };
    let _ = std::fs::remove_file(&tmp);
    done?;
    std::fs::read(&out).map_err(|e| format!("{}: {e}", out.display()))
}

fn tempfile_in(dir: &Path) -> PathBuf {
    dir.join(format!(".binship-probe.{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_builds_static_and_probes() {
        let d = tempfile::tempdir().unwrap();
        let arch = binship_recipe::native_arch();
        let b = binary(&arch, d.path()).unwrap();
        assert!(b.len() < 1 << 20, "{} bytes", b.len());
        // Cached: the second call reads the same bytes.
        assert_eq!(binary(&arch, d.path()).unwrap(), b);
        let exe = d.path().join("probe");
        std::fs::write(&exe, &b).unwrap();
        std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let run = |url: &str| {
            let o = Command::new(&exe).arg(url).output().unwrap();
            (
                o.status.code(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        };
        // A server answering 204 to /ok and 404 to anything else.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut c in l.incoming().flatten() {
                let mut buf = [0u8; 1024];
                let n = std::io::Read::read(&mut c, &mut buf).unwrap_or(0);
                let ok = buf[..n].starts_with(b"GET /ok ");
                let status = if ok {
                    "204 No Content"
                } else {
                    "404 Not Found"
                };
                let _ = std::io::Write::write_all(
                    &mut c,
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes(),
                );
            }
        });
        assert_eq!(run(&url(port.into(), Some("/ok"))).0, Some(0));
        let (code, err) = run(&url(port.into(), Some("/missing")));
        assert_eq!(code, Some(1));
        assert!(err.contains("GET /missing answered 404"), "{err}");
        assert_eq!(run(&url(port.into(), None)).0, Some(0));
        assert_eq!(run(&format!("http://localhost:{port}/ok")).0, Some(0));
        // Nothing listening, and bad input.
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = free.local_addr().unwrap().port();
        drop(free);
        assert_eq!(run(&format!("tcp://127.0.0.1:{closed}")).0, Some(1));
        assert_eq!(run("ftp://x").0, Some(2));
        assert_eq!(run("http://example.org:80/").0, Some(2), "no DNS");
    }
}
