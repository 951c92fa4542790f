//! The tester against misbehaving binaries (generated C programs, built statically by the `c`
//! kind): crash, hang on SIGTERM, never ready, busy port, failing checks. Each is a failed
//! test with its reason, exit code 6, and no version stored; binship never hangs.

mod common;
use common::*;
use std::time::{Duration, Instant};

#[track_caller]
fn fails_with(p: &Project, app: &str, needle: &str) -> Run {
    let started = Instant::now();
    let r = p.run(&["build", app, "--json"]);
    assert_eq!(r.code, 6, "{r:?}");
    assert!(r.stderr.contains(needle), "expected {needle:?} in {r:?}");
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(p.versions(app).is_empty(), "a failed version was stored");
    assert!(p.leftovers().is_empty());
    let kept = r.json()["kept"].as_str().unwrap().to_string();
    let rec: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(std::path::Path::new(&kept).join("test-results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(rec["status"], "failed");
    assert!(std::path::Path::new(&kept).join("test.log").is_file());
    r
}

#[test]
fn a_crashing_binary_fails_ready() {
    let p = Project::new().with_app(
        "crash",
        &c_app_recipe(""),
        &[("main.c", &c_server("abort();", "stop = 1;"))],
    );
    fails_with(
        &p,
        "crash",
        "exited with killed by signal 6 before it was ready",
    );
}

#[test]
fn a_binary_that_ignores_sigterm_is_killed_and_fails_stop() {
    let p = Project::new().with_app(
        "stubborn",
        &c_app_recipe(""),
        &[("main.c", &c_server("", ""))],
    );
    let r = fails_with(
        &p,
        "stubborn",
        "stop: did not exit within 1s of SIGTERM; killed",
    );
    assert!(r.stderr.contains("✓ ready"), "{r:?}");
}

#[test]
fn a_binary_that_never_listens_fails_ready_within_the_timeout() {
    let p = Project::new().with_app(
        "sleepy",
        &c_app_recipe(""),
        &[("main.c", &c_server("sleep(60);", "stop = 1;"))],
    );
    fails_with(&p, "sleepy", "ready: not ready on 127.0.0.1:");
}

#[test]
fn a_busy_fixed_port_fails_with_its_reason() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let p = Project::new().with_app(
        "busy",
        &c_app_recipe(&format!("port = {port}\n")),
        &[("main.c", &c_server("", "stop = 1;"))],
    );
    fails_with(
        &p,
        "busy",
        &format!("port {port} is already in use on 127.0.0.1"),
    );
    drop(l);
    // Free again: it passes on that port.
    let j = p.run(&["build", "busy", "--json"]).ok().json();
    assert_eq!(j["results"]["test_port"], port);
}

#[test]
fn failing_http_and_command_checks_are_reported() {
    let p = Project::new().with_app(
        "picky",
        &c_app_recipe(
            "[[test.http]]\nname = \"want-404\"\npath = \"/x\"\nstatus = 404\n\n[[test.http]]\nname = \"body\"\npath = \"/\"\nbody = \"^nope\"\n\n[[test.command]]\nname = \"exit-code\"\nargs = [\"--version\"]\nexit = 3\ntimeout = \"1s\"\n",
        ),
        &[("main.c", &c_server("", "stop = 1;"))],
    );
    let r = fails_with(&p, "picky", "tests failed: 2/5 passed");
    assert!(
        r.stderr
            .contains("want-404: GET /x answered 200, expected 404"),
        "{r:?}"
    );
    assert!(
        r.stderr
            .contains("body: GET / body \"ok\" does not match /^nope/"),
        "{r:?}"
    );
    assert!(r.stderr.contains("exit-code:"), "{r:?}");
    assert_eq!(r.json()["tests"].as_array().unwrap().len(), 5);
}

#[test]
fn port_can_be_passed_in_the_environment() {
    // The server reads PORT instead of --port.
    let src = c_server(
        "if (getenv(\"PORT\")) port = atoi(getenv(\"PORT\"));",
        "stop = 1;",
    );
    let p = Project::new().with_app(
        "envport",
        &c_app_recipe("port_via = \"env\"\nport_arg = []\n"),
        &[("main.c", &src)],
    );
    let j = p.run(&["build", "envport", "--json"]).ok().json();
    assert_eq!(j["results"]["passed"], 2);
}
