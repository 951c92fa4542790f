//! Shared test fixtures: a temp project laid out like a user's repo (examples copied in,
//! recipes written by code), and a runner for the real `binship` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod engines;
pub mod registry;
pub mod tiny;

pub const STORE: &str = "images/standalone-binaries";

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The binship under test: this build's, or `BINSHIP_TEST_BIN` (e.g. an older build whose
/// outputs a test records).
pub fn bin() -> PathBuf {
    std::env::var_os("BINSHIP_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_binship")))
}

/// A temp project directory.
pub struct Project {
    pub dir: tempfile::TempDir,
}

/// What one run of binship did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "binship failed: {self:?}");
        self
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Project {
    pub fn new() -> Project {
        Project {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn store(&self) -> PathBuf {
        self.path().join(STORE)
    }

    pub fn app_dir(&self, app: &str) -> PathBuf {
        self.store().join(app)
    }

    pub fn version_dir(&self, app: &str, v: u32) -> PathBuf {
        self.app_dir(app).join(format!("{app}-binary-v.{v}"))
    }

    /// Copies `examples/<name>` and its committed recipe from the repo.
    pub fn with_example(self, name: &str) -> Project {
        let src = repo_root().join("examples").join(name);
        copy_dir(&src, &self.path().join("examples").join(name));
        let recipe = repo_root().join(STORE).join(name).join("binship.toml");
        let dest = self.app_dir(name);
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::copy(&recipe, dest.join("binship.toml")).unwrap();
        self
    }

    /// Writes an app: source files under `src/<app>/` and a recipe (with `source` set).
    pub fn with_app(self, app: &str, recipe_body: &str, files: &[(&str, &str)]) -> Project {
        let src = self.path().join("src").join(app);
        std::fs::create_dir_all(&src).unwrap();
        for (name, text) in files {
            std::fs::write(src.join(name), text).unwrap();
        }
        let dest = self.app_dir(app);
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::write(
            dest.join("binship.toml"),
            format!("name = \"{app}\"\nsource = \"../../../src/{app}\"\n{recipe_body}"),
        )
        .unwrap();
        self
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .current_dir(self.path())
            .env_remove("BINSHIP_STORE")
            .env_remove("BINSHIP_CACHE")
            // binship's runner for the image test, whatever engine answers on this machine
            // (labels and golden digests name the runner); tests of the choice remove it.
            .env("BINSHIP_IMAGE_TEST_ENGINE", "binship")
            // Plain text whatever the caller's terminal settings (tests/terminal.rs sets them).
            .env_remove("CLICOLOR_FORCE")
            .env_remove("CLICOLOR");
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.cmd(args).output().unwrap().into()
    }

    pub fn versions(&self, app: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.app_dir(app))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.contains("-binary-v."))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Entries left in `.binship/tmp` (should be none after any run).
    pub fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(self.store().join(".binship/tmp"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn git(&self, args: &[&str]) {
        let st = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(self.path())
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&st.stderr)
        );
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == "target" {
            continue;
        }
        let (src, dst) = (e.path(), to.join(&name));
        if e.file_type().unwrap().is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// A C program built statically by the `c` kind, with a recipe whose service test uses `/health`.
pub fn c_app_recipe(extra: &str) -> String {
    format!(
        "kind = \"c\"\n[test]\nready_path = \"/health\"\nready_timeout = \"2s\"\nstop_grace = \"1s\"\n{extra}"
    )
}

/// A minimal C HTTP server: answers 200 "ok" to everything. `on_term` is the body of the
/// SIGTERM handler (e.g. "stop = 1;" or "" to ignore it); `pre` runs before listening.
pub fn c_server(pre: &str, on_term: &str) -> String {
    format!(
        r#"#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
static volatile sig_atomic_t stop;
static void h(int s) {{ (void)s; {on_term} }}
int main(int argc, char **argv) {{
  int port = 0;
  for (int i = 1; i + 1 < argc; i++) if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
  {pre}
  struct sigaction sa = {{0}}; sa.sa_handler = h; sigaction(SIGTERM, &sa, NULL);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {{.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)}};
  if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 8)) return 1;
  while (!stop) {{
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    char buf[1024]; (void)!read(c, buf, sizeof buf);
    const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
    (void)!write(c, r, strlen(r)); close(c);
  }}
  return 0;
}}
"#
    )
}

/// A C server: `--root DIR` must exist (else it exits 1 at start, as a file server whose
/// directory is missing does); `/health` answers 200, `/file/NAME` serves DIR/NAME or 404;
/// `--must-write PATH` creates PATH first (exit 1 when it cannot); `--cat FILE` prints FILE.
pub const FILE_SERVER: &str = r#"#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
static volatile sig_atomic_t stop;
static void h(int s) { (void)s; stop = 1; }
int main(int argc, char **argv) {
  int port = 0; const char *root = NULL;
  if (argc == 3 && !strcmp(argv[1], "--cat")) {
    FILE *f = fopen(argv[2], "r"); if (!f) return 3;
    char b[512]; size_t k; while ((k = fread(b, 1, sizeof b, f)) > 0) fwrite(b, 1, k, stdout);
    return 0;
  }
  for (int i = 1; i + 1 < argc; i++) {
    if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--root")) root = argv[i + 1];
    if (!strcmp(argv[i], "--must-write")) {
      FILE *w = fopen(argv[i + 1], "w");
      if (!w) { perror(argv[i + 1]); return 1; }
      fclose(w);
    }
  }
  struct stat st;
  if (!root || stat(root, &st) || !S_ISDIR(st.st_mode)) { fprintf(stderr, "no directory %s\n", root ? root : "(none)"); return 1; }
  struct sigaction sa = {0}; sa.sa_handler = h; sigaction(SIGTERM, &sa, NULL);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1; setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 8)) return 1;
  while (!stop) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    char buf[4096]; size_t got = 0; ssize_t n;
    while (got < sizeof buf - 1 && (n = read(c, buf + got, sizeof buf - 1 - got)) > 0) {
      got += n; buf[got] = 0;
      if (strstr(buf, "\r\n\r\n")) break;
    }
    char path[512] = ""; sscanf(buf, "GET %500s", path);
    const char *code = "404 Not Found", *body = "missing\n";
    char content[1024] = "";
    if (!strcmp(path, "/health")) { code = "200 OK"; body = "ok\n"; }
    else if (!strncmp(path, "/file/", 6) && !strstr(path, "..")) {
      char fp[1024]; snprintf(fp, sizeof fp, "%s/%s", root, path + 6);
      FILE *f = fopen(fp, "r");
      if (f) { size_t k = fread(content, 1, sizeof content - 1, f); content[k] = 0; fclose(f); code = "200 OK"; body = content; }
    }
    char r[2048];
    int len = snprintf(r, sizeof r, "HTTP/1.1 %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s", code, strlen(body), body);
    (void)!write(c, r, len); close(c);
  }
  return 0;
}
"#;

/// An Alpine-like rootfs dir made from Debian's busybox-static: /bin/busybox with applet
/// links, an /etc/os-release that says Alpine, passwd/group with root and nobody.
pub fn alpine_like_rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("alpine-root");
    for d in ["bin", "etc", "tmp", "usr/local/bin", "var/empty"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("busybox-static is installed by scripts/test.sh");
    std::fs::copy(bb, root.join("bin/busybox")).unwrap();
    for applet in ["sh", "ls", "cat", "wget"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    std::fs::write(
        root.join("etc/os-release"),
        "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME=\"Alpine Linux v3.20\"\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:root\nnobody:x:65534:\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    root
}

/// `tar -C root -c<flag>f out .` with GNU tar (flag: z, J, --zstd or empty).
pub fn tar_dir(root: &Path, out: &Path, flag: &str) {
    let mut c = Command::new("tar");
    c.arg("--numeric-owner").arg("-C").arg(root);
    if flag == "--zstd" {
        c.arg("--zstd").arg("-cf");
    } else {
        c.arg(format!("-c{flag}f"));
    }
    let st = c.arg(out).arg(".").output().unwrap();
    assert!(
        st.status.success(),
        "tar: {}",
        String::from_utf8_lossy(&st.stderr)
    );
}
