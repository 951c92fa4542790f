//! A real third-party service, end to end (issue 19): Debian bookworm's `mini-httpd` source
//! package (ACME Labs' mini_httpd 1.30 with Debian's patches; C, three files and a Makefile
//! that generates two headers), fetched by `scripts/get-debian-source.sh`, goes `init` ->
//! `build` -> `scaffold` (image test) -> docker, podman and an LXC boot, with no edit beyond
//! the recipe, and answers on 127.0.0.1. The recipe edits are the ones a user makes: the
//! server's own options (stay in the foreground, bind 127.0.0.1, serve `{root}/srv/www`), a
//! page to serve, `stop_exit = [1]` (its SIGTERM handler exits 1) and `container.probe`.

mod common;
use common::engines::*;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The unpacked source, or None (with the reason printed) when apt-get/dpkg-source are missing
/// off CI.
fn mini_httpd_source() -> Option<PathBuf> {
    if !require(&["apt-get", "dpkg-source", "make", "gcc"], true) {
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/get-debian-source.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg("mini-httpd")
        .output()
        .unwrap();
    Some(PathBuf::from(
        ok(out, "get-debian-source.sh mini-httpd").trim(),
    ))
}

fn copy_tree(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

const PAGE: &str = "<h1>served by mini_httpd, packed by binship</h1>\n";

/// The recipe init wrote, with the edits a user makes (each named in the module doc).
fn edit_recipe(recipe: &str) -> String {
    let mut r = recipe.replace(
        "port = \"auto\"",
        "port = \"auto\"\nargs = [\"-D\", \"-h\", \"127.0.0.1\", \"-d\", \"{root}/srv/www\", \"-l\", \"/dev/null\"]\nstop_exit = [1]",
    );
    r.push_str(
        "\n[[test.http]]\nname = \"index\"\npath = \"/\"\nstatus = 200\nbody = \"served by mini_httpd\"\n\n[container]\nargs = [\"-D\", \"-h\", \"127.0.0.1\", \"-d\", \"/srv/www\", \"-l\", \"/dev/null\", \"-p\", \"8080\"]\nports = [8080]\nprobe = true\n\n[[container.files]]\nsource = \"site\"\ntarget = \"/srv/www\"\n",
    );
    r
}

#[test]
fn mini_httpd_from_debian_source_goes_init_build_scaffold_docker_podman_lxc() {
    let Some(src) = mini_httpd_source() else {
        return;
    };
    let p = Project::new();
    copy_tree(&src, &p.path().join("mini-httpd-src"));
    // init reads the source: its C files include headers the Makefile generates, so --kind c
    // is refused before anything is built, and --kind command gets `make mini_httpd`.
    let r = p.run(&[
        "init",
        "mini-httpd",
        "--kind",
        "c",
        "--source",
        "mini-httpd-src",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("mini_httpd.c: includes mime_encodings.h, which")
            && r.stderr.contains("--kind command"),
        "{r:?}"
    );
    p.run(&[
        "init",
        "mini-httpd",
        "--kind",
        "command",
        "--source",
        "mini-httpd-src",
    ])
    .ok();
    let recipe_path = p.app_dir("mini-httpd").join("binship.toml");
    let recipe = std::fs::read_to_string(&recipe_path).unwrap();
    for found in [
        "command = \"make mini_httpd CC=gcc LDFLAGS=-static\"",
        "output = \"mini_httpd\"",
        "port_arg = [\"-p\", \"{port}\"]",
        "args = [\"-V\"]",
        "# ready_path",
    ] {
        assert!(recipe.contains(found), "{found}:\n{recipe}");
    }
    std::fs::write(&recipe_path, edit_recipe(&recipe)).unwrap();
    let site = p.app_dir("mini-httpd").join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), PAGE).unwrap();

    let r = p.run(&["build", "mini-httpd"]).ok();
    assert!(
        r.stdout.contains("Static: yes   ✓ Tests: 4/4 passed"),
        "{r:?}"
    );
    // The image, tested as it will run; it carries binship's probe as its healthcheck.
    let j = p.run(&["scaffold", "mini-httpd", "--json"]).ok().json();
    assert_eq!(
        j["labels"]["io.binship.image-tests"], "4/4 passed (binship runner)",
        "{j}"
    );
    // The OCI layout cannot carry the healthcheck: said, not dropped silently.
    let r = p
        .run(&["scaffold", "mini-httpd", "--format", "oci", "--json"])
        .ok();
    assert!(
        r.json()["warnings"]
            .to_string()
            .contains("is not carried by --format oci"),
        "{r:?}"
    );

    if let Some(d) = Dockerd::start() {
        let port = free_port();
        let j: Run = p
            .cmd(&[
                "deploy",
                "mini-httpd",
                "--to",
                "docker",
                "--port",
                &port.to_string(),
                "--json",
            ])
            .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
            .output()
            .unwrap()
            .into();
        assert_eq!(j.ok().json()["status"], "deployed");
        let (status, body) = http_get(port, "/").unwrap();
        assert_eq!((status, body.as_str()), (200, PAGE));
        // docker runs the probe: the container becomes healthy (first check after 10 s).
        let hc = ok(
            d.docker(&[
                "inspect",
                "-f",
                "{{json .Config.Healthcheck.Test}}",
                "mini-httpd",
            ]),
            "inspect",
        );
        assert_eq!(
            hc.trim(),
            format!("[\"CMD\",\"/usr/local/bin/binship-probe\",\"tcp://127.0.0.1:{port}\"]")
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut health = String::new();
        while Instant::now() < deadline {
            health = ok(
                d.docker(&["inspect", "-f", "{{.State.Health.Status}}", "mini-httpd"]),
                "inspect",
            );
            if health.trim() != "starting" {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        assert_eq!(health.trim(), "healthy");
        ok(d.docker(&["rm", "-f", "mini-httpd"]), "docker rm");
    }
    if let Some(pm) = Podman::new() {
        let engine = pm.engine();
        let port = free_port();
        let j = p
            .run(&[
                "deploy",
                "mini-httpd",
                "--to",
                "podman",
                "--port",
                &port.to_string(),
                "--engine",
                &engine,
                "--engine-run-args",
                "--ulimit nofile=20000:20000 --ulimit nproc=32768:32768",
                "--json",
            ])
            .ok()
            .json();
        assert_eq!(j["status"], "deployed", "{j}");
        let (status, body) = http_get(port, "/").unwrap();
        assert_eq!((status, body.as_str()), (200, PAGE));
        let _ = pm.podman(&["rm", "-f", "mini-httpd"]);
    }
    // LXC: booted by systemd in its own network namespace; healthy when binship's probe
    // passes inside, and the page is served on 127.0.0.1 there.
    let Some(base) = debian_base("systemd", &["lxc-create", "lxc-start", "lxc-attach"]) else {
        return;
    };
    let c = Container::deployed(&p, "mini-httpd", "mini-httpd", &base);
    let page = ok(
        c.lxc(
            "lxc-attach",
            &[
                "--",
                "/bin/bash",
                "-c",
                "exec 3<>/dev/tcp/127.0.0.1/8080; printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3",
            ],
        ),
        "GET / inside the container",
    );
    assert!(
        page.starts_with("HTTP/1.0 200") && page.ends_with(PAGE),
        "{page}"
    );
}
