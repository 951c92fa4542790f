//! `init` reads the source before it writes a recipe (issue 19, item 5): the C files around
//! `main`, the Go main package under `cmd/`, a probe of `/health` only when the source serves
//! it, `--version` only when the program has it, and the program's own port flag. Then `init` +
//! `build` pass with no edit, or `init` fails in one line and writes nothing.

mod common;
use common::*;

/// A C server in two files (its main is not main.c) with a test program beside it: `--port N`,
/// no `--version`, no `/health`; every GET answers 200.
const SERVER_C: &str = r#"#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int answer(int c);
static volatile sig_atomic_t stop;
static void h(int s) { (void)s; stop = 1; }
int main(int argc, char **argv) {
  int port = 8080;
  for (int i = 1; i + 1 < argc; i++) if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
  struct sigaction sa = {0}; sa.sa_handler = h; sigaction(SIGTERM, &sa, NULL);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1; setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 8)) return 1;
  while (!stop) { int c = accept(s, NULL, NULL); if (c >= 0) answer(c); }
  return 0;
}
"#;

const ANSWER_C: &str = r#"#include <string.h>
#include <unistd.h>
int answer(int c) {
  char buf[4096]; size_t got = 0; ssize_t n;
  while (got < sizeof buf - 1 && (n = read(c, buf + got, sizeof buf - 1 - got)) > 0) {
    got += n; buf[got] = 0;
    if (strstr(buf, "\r\n\r\n")) break;
  }
  const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
  (void)!write(c, r, strlen(r)); close(c);
  return 0;
}
"#;

/// A Go service whose main package is under cmd/, taking `-addr HOST:PORT`; no /health.
const PINGER_GO: &str = r#"package main

import (
	"flag"
	"net/http"
)

func main() {
	addr := flag.String("addr", ":8080", "listen address")
	flag.Parse()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("pong")) })
	http.ListenAndServe(*addr, nil)
}
"#;

#[test]
fn init_reads_c_and_go_sources_and_the_recipe_builds_as_written() {
    let p = Project::new();
    let write = |rel: &str, text: &str| {
        let path = p.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("csrc/src/server.c", SERVER_C);
    write("csrc/src/answer.c", ANSWER_C);
    write("csrc/tests/smoke.c", "int main(void) { return 0; }\n");
    write("gosrc/go.mod", "module example.com/pinger\n\ngo 1.19\n");
    write("gosrc/cmd/pinger/main.go", PINGER_GO);
    write(
        "gosrc/internal/util/util.go",
        "package util\n\nfunc X() int { return 1 }\n",
    );

    let j = p
        .run(&["init", "csrv", "--kind", "c", "--source", "csrc", "--json"])
        .ok()
        .json();
    let notes = j["notes"].to_string();
    assert!(notes.contains("serves no /health"), "{j}");
    let recipe = std::fs::read_to_string(p.app_dir("csrv").join("binship.toml")).unwrap();
    assert!(
        recipe.contains("packages = [\"src/answer.c\", \"src/server.c\"]"),
        "{recipe}"
    );
    assert!(recipe.contains("# ready_path"), "{recipe}");
    assert!(recipe.contains("# [[test.command]]"), "{recipe}");
    let r = p.run(&["build", "csrv"]).ok();
    assert!(r.stdout.contains("Tests: 2/2 passed"), "{r:?}");

    let r = p
        .run(&["init", "pinger", "--kind", "go", "--source", "gosrc"])
        .ok();
    assert!(r.stderr.contains("note: "), "{r:?}");
    let recipe = std::fs::read_to_string(p.app_dir("pinger").join("binship.toml")).unwrap();
    assert!(recipe.contains("packages = [\"./cmd/pinger\"]"), "{recipe}");
    assert!(
        recipe.contains("port_arg = [\"-addr\", \"127.0.0.1:{port}\"]"),
        "{recipe}"
    );
    let r = p.run(&["build", "pinger"]).ok();
    assert!(r.stdout.contains("Tests: 2/2 passed"), "{r:?}");
}

#[test]
fn init_refuses_a_source_with_nothing_to_build_and_writes_nothing() {
    let p = Project::new();
    std::fs::create_dir_all(p.path().join("hdr")).unwrap();
    std::fs::write(p.path().join("hdr/x.h"), "int x;\n").unwrap();
    std::fs::write(p.path().join("hdr/lib.c"), "int y(void) { return 0; }\n").unwrap();
    std::fs::write(p.path().join("hdr/lib.go"), "package lib\n").unwrap();
    for (kind, says) in [
        ("c", "hdr: no C file defines main()"),
        ("go", "hdr: no Go main package"),
        ("rust", "hdr/Cargo.toml: "),
    ] {
        let r = p.run(&["init", "x", "--kind", kind, "--source", "hdr"]);
        assert_eq!(r.code, 2, "{kind}: {r:?}");
        let line = r.stderr.trim();
        assert!(
            line.lines().count() == 1 && line.contains(says),
            "{kind}: {line}"
        );
        assert!(!p.app_dir("x").exists(), "{kind}: nothing is written");
    }
}
