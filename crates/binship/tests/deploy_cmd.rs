//! Deploy runs the image as it was packed (issue 19, item 1): the image's own entrypoint and
//! Cmd, with only the port changed by the recipe's `test.port_via` rule (`arg`: the value after
//! `port_arg`'s flag is replaced, or `port_arg` appended; `env`: `port_env` set). The test's
//! arguments (`test.args`) never reach a deployed container. `--port` is refused only when the
//! rule cannot apply.

mod common;
use common::engines::*;
use common::*;

/// A C server that answers every request with the arguments and PORT it was started with;
/// its port is `--port N`, `--port=N`, `$PORT` or a last argument of digits.
const ARGV_SERVER: &str = r#"#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
static volatile sig_atomic_t stop;
static void h(int s) { (void)s; stop = 1; }
int main(int argc, char **argv) {
  char body[2048] = "";
  const char *env = getenv("PORT");
  int port = env ? atoi(env) : 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--port") && i + 1 < argc) port = atoi(argv[i + 1]);
    else if (!strncmp(argv[i], "--port=", 7)) port = atoi(argv[i] + 7);
    else if (i == argc - 1 && strspn(argv[i], "0123456789") == strlen(argv[i])) port = atoi(argv[i]);
    strncat(body, argv[i], sizeof body - strlen(body) - 64);
    strcat(body, " ");
  }
  if (env) { strcat(body, "PORT="); strncat(body, env, 16); }
  struct sigaction sa = {0}; sa.sa_handler = h; sigaction(SIGTERM, &sa, NULL);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1; setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 8)) return 1;
  while (!stop) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    /* Read the whole request head: closing with unread bytes would reset the connection. */
    char buf[4096]; size_t got = 0; ssize_t n;
    while (got < sizeof buf - 1 && (n = read(c, buf + got, sizeof buf - 1 - got)) > 0) {
      got += n; buf[got] = 0;
      if (strstr(buf, "\r\n\r\n")) break;
    }
    char r[4096];
    int len = snprintf(r, sizeof r, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(body), body);
    (void)!write(c, r, len); close(c);
  }
  return 0;
}
"#;

fn deploy(p: &Project, d: &Dockerd, app: &str, port: u16, extra: &[&str]) -> Run {
    let port = port.to_string();
    let mut args = vec!["deploy", app, "--to", "docker", "--port", &port, "--json"];
    args.extend(extra);
    p.cmd(&args)
        .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
        .output()
        .unwrap()
        .into()
}

#[test]
fn deploy_runs_the_images_own_cmd_with_only_the_port_changed() {
    let Some(d) = Dockerd::start() else { return };
    let test = "[test]\nargs = [\"--mode\", \"test\"]\nready_path = \"/health\"\nready_timeout = \"2s\"\nstop_grace = \"1s\"\n";
    let p = Project::new()
        .with_app(
            "argsrv",
            &format!("kind = \"c\"\n{test}[container]\nargs = [\"--mode\", \"prod\", \"--port=7001\"]\nports = [7001]\n"),
            &[("main.c", ARGV_SERVER)],
        )
        .with_app(
            "envsrv",
            &format!("kind = \"c\"\n{}port_via = \"env\"\n[container]\nargs = [\"--mode\", \"prod\"]\n", test),
            &[("main.c", ARGV_SERVER)],
        )
        .with_app(
            "appendsrv",
            &format!("kind = \"c\"\n{test}[container]\nargs = [\"--mode\", \"prod\"]\n"),
            &[("main.c", ARGV_SERVER)],
        );
    for (app, want) in [
        // The flag's value replaced, in its `=` form.
        ("argsrv", "--mode prod --port={P} "),
        // port_via = "env": the Cmd kept, PORT set.
        ("envsrv", "--mode prod PORT={P}"),
        // No --port in the Cmd: port_arg appended.
        ("appendsrv", "--mode prod --port {P} "),
    ] {
        p.run(&["build", app]).ok();
        let port = free_port();
        // --engine-run-args is split as sh splits words: a quoted value stays one argument.
        let j = deploy(
            &p,
            &d,
            app,
            port,
            &["--engine-run-args", "--label 'io.test.note=two words'"],
        )
        .ok()
        .json();
        assert_eq!(j["status"], "deployed", "{app}: {j}");
        let note = ok(
            d.docker(&[
                "inspect",
                "-f",
                "{{index .Config.Labels \"io.test.note\"}}",
                app,
            ]),
            "docker inspect",
        );
        assert_eq!(note.trim(), "two words", "{app}");
        let got = http_get(port, "/").map(|r| r.1);
        assert_eq!(
            got.as_deref(),
            Some(want.replace("{P}", &port.to_string()).as_str()),
            "{app}: the deployed container must run the image's Cmd (never test.args), only the port changed"
        );
        ok(d.docker(&["rm", "-f", app]), "docker rm");
    }
}

#[test]
fn deploy_port_is_refused_only_when_the_rule_cannot_apply() {
    // A positional port (`port_arg = ["{port}"]`) cannot be found in a Cmd that has arguments.
    let p = Project::new().with_app(
        "posrv",
        "kind = \"c\"\n[test]\nport_arg = [\"{port}\"]\nready_path = \"/health\"\nready_timeout = \"2s\"\nstop_grace = \"1s\"\n[container]\nargs = [\"serve\", \"7001\"]\n",
        &[("main.c", ARGV_SERVER)],
    );
    p.run(&["build", "posrv"]).ok();
    // Run args split as sh words: bad quoting is refused; and deploy names the container, so
    // a --name of the engine's (which would escape its replace and probe) is refused too.
    for (run_args, says) in [
        (
            "--label 'a=b",
            "--engine-run-args: unbalanced quote or trailing backslash in `--label 'a=b`",
        ),
        (
            "--name other",
            "--engine-run-args: --name names the container; use deploy --name",
        ),
    ] {
        let r = p.run(&[
            "deploy",
            "posrv",
            "--to",
            "docker",
            "--engine-run-args",
            run_args,
        ]);
        assert_eq!(r.code, 2, "{r:?}");
        assert!(r.stderr.contains(says), "{r:?}");
    }
    let r = p.run(&["deploy", "posrv", "--to", "docker", "--port", "7002"]);
    assert_eq!(r.code, 2, "{r:?}");
    let line = r.stderr.trim().lines().last().unwrap_or_default();
    assert!(
        line.starts_with("error: deploy --port 7002: ") && line.contains("test.port_arg"),
        "{line}"
    );
}
