//! Files, directories and volumes in the image (issue 19, items 3 and 4). `[[container.files]]`
//! copies a file or a directory's contents from the recipe's tree to a target in the image,
//! root-owned and read-only to the service by default; `container.volumes` are created owned by
//! the image's user and declared as OCI `Volumes`. The binary's tests see the same files under
//! `{root}` and run in that dir, wherever binship is started, and the files' content is part
//! of the cache key. The image test then sees what the binary test saw.

mod common;
use common::engines::require;
use common::*;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

const RECIPE: &str = r#"kind = "c"
[test]
args = ["--root", "{root}/srv"]
ready_path = "/health"
ready_timeout = "2s"
stop_grace = "1s"
[[test.http]]
name = "index"
path = "/file/index.html"
status = 200
body = "^hello v1"
[[test.http]]
name = "relative"
path = "/file/../x"
status = 404
[[test.command]]
name = "conf"
args = ["--cat", "{root}/etc/rootsrv/extra.conf"]
stdout = "^k=v"
[container]
args = ["--root", "/srv", "--must-write", "/data/started"]
volumes = ["/data"]
[[container.files]]
source = "site"
target = "/srv"
[[container.files]]
source = "extra.conf"
target = "/etc/rootsrv/extra.conf"
mode = "0640"
owner = "0:65532"
"#;

/// Type (d, f, l), mode, uid and gid of a layer member.
type Meta = (char, u32, u64, u64);

/// Every member of every layer of a docker-archive, and its config.
fn layers_and_config(archive: &Path) -> (BTreeMap<String, Meta>, serde_json::Value) {
    let mut files = BTreeMap::new();
    let mut config = serde_json::Value::Null;
    let mut outer = tar::Archive::new(std::fs::File::open(archive).unwrap());
    for e in outer.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut blob = Vec::new();
        e.read_to_end(&mut blob).unwrap();
        // The config: the JSON member with a rootfs (a blob named by its digest).
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&blob) {
            if v.get("rootfs").is_some() {
                config = v;
            }
            continue;
        }
        let _ = name;
        let mut inner = tar::Archive::new(&blob[..]);
        let Ok(entries) = inner.entries() else {
            continue;
        };
        for m in entries.flatten() {
            let h = m.header();
            let kind = match h.entry_type() {
                tar::EntryType::Directory => 'd',
                tar::EntryType::Symlink => 'l',
                _ => 'f',
            };
            files.insert(
                m.path()
                    .unwrap()
                    .display()
                    .to_string()
                    .trim_end_matches('/')
                    .to_string(),
                (
                    kind,
                    h.mode().unwrap() & 0o7777,
                    h.uid().unwrap(),
                    h.gid().unwrap(),
                ),
            );
        }
    }
    (files, config)
}

#[test]
fn files_and_volumes_land_in_the_image_and_the_tests_see_them() {
    if !require(&["gcc"], true) {
        return;
    }
    let p = Project::new().with_app("rootsrv", RECIPE, &[("main.c", FILE_SERVER)]);
    let dir = p.app_dir("rootsrv");
    std::fs::create_dir_all(dir.join("site/css")).unwrap();
    std::fs::write(dir.join("site/index.html"), "hello v1\n").unwrap();
    std::fs::write(dir.join("site/css/a.css"), "p{}\n").unwrap();
    std::os::unix::fs::symlink("index.html", dir.join("site/home.html")).unwrap();
    std::fs::write(dir.join("extra.conf"), "k=v\n").unwrap();

    // Built from elsewhere (the filesystem root): the tests run in their own root, so the
    // results do not depend on where binship starts.
    let store = p.store();
    let build = || -> Run {
        p.cmd(&[
            "build",
            "rootsrv",
            "--store",
            store.to_str().unwrap(),
            "--json",
        ])
        .current_dir("/")
        .output()
        .unwrap()
        .into()
    };
    let j = build().ok().json();
    assert_eq!(j["version"], 1, "{j}");
    assert_eq!(build().ok().json()["status"], "up_to_date");
    // A changed file is a new version, tested again.
    std::fs::write(dir.join("site/index.html"), "hello v1, again\n").unwrap();
    assert_eq!(build().ok().json()["version"], 2);
    // Nothing of the test root is stored with the version.
    assert!(!p.version_dir("rootsrv", 2).join("test-root").exists());

    // The image holds them; the image test serves /srv as the binary test served {root}/srv.
    let out = p.path().join("rootsrv.tar");
    let j = p
        .run(&["scaffold", "rootsrv", "-o", out.to_str().unwrap(), "--json"])
        .ok()
        .json();
    assert_eq!(
        j["labels"]["io.binship.image-tests"], "5/5 passed (binship runner)",
        "{j}"
    );
    let (files, config) = layers_and_config(&out);
    let want = [
        ("srv", ('d', 0o755, 0, 0)),
        ("srv/index.html", ('f', 0o644, 0, 0)),
        ("srv/css", ('d', 0o755, 0, 0)),
        ("srv/css/a.css", ('f', 0o644, 0, 0)),
        ("srv/home.html", ('l', 0o777, 0, 0)),
        ("etc/rootsrv/extra.conf", ('f', 0o640, 0, 65532)),
        ("data", ('d', 0o755, 65532, 65532)),
    ];
    for (path, w) in want {
        assert_eq!(files.get(path), Some(&w), "{path}: {files:?}");
    }
    assert_eq!(
        config["config"]["Volumes"],
        serde_json::json!({"/data": {}}),
        "{config}"
    );
    // v.1 was tested with other files: not packed with today's.
    let r = p.run(&["scaffold", "rootsrv", "--version", "1", "-o", "v1.tar"]);
    assert_eq!(r.code, 7, "{r:?}");
    assert!(
        r.stderr
            .contains("rootsrv v.1 was built and tested with other [[container.files]]"),
        "{r:?}"
    );
    // Reproducible: the same inputs give the same bytes.
    let again = p.path().join("again.tar");
    p.run(&["scaffold", "rootsrv", "-o", again.to_str().unwrap()])
        .ok();
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
}

#[test]
fn bad_file_entries_are_refused_in_one_line() {
    let cases = [
        (
            "[[container.files]]\nsource = \"x\"\ntarget = \"srv\"\n",
            "container.files: target `srv` must be an absolute path below / in the image",
        ),
        (
            "[[container.files]]\nsource = \"x\"\ntarget = \"/srv\"\nmode = \"rw\"\n",
            "container.files: mode `rw` of /srv is not octal permission bits",
        ),
        (
            "[[container.files]]\nsource = \"x\"\ntarget = \"/srv\"\nowner = \"www\"\n",
            "container.files: owner `www` of /srv must be uid:gid (numbers)",
        ),
        (
            "volumes = [\"data\"]\n",
            "container.volumes: `data` must be an absolute path below / in the image",
        ),
        (
            "[[container.files]]\nsource = \"x\"\ntarget = \"/usr/local/bin/bad\"\n",
            "container.files: target /usr/local/bin/bad is /usr/local/bin/bad, which binship writes itself",
        ),
        (
            "[[container.files]]\nsource = \"x\"\ntarget = \"/etc/passwd\"\n",
            "which binship writes itself",
        ),
        (
            "[[container.files]]\nsource = \"x\"\ntarget = \"/srv\"\nowner = \"4294967295:0\"\n",
            "owner `4294967295:0` of /srv must be uid:gid",
        ),
        (
            "volumes = [\"/srv/data\"]\n[[container.files]]\nsource = \"x\"\ntarget = \"/srv\"\n",
            "container.volumes: /srv/data overlaps the file target /srv",
        ),
        (
            "volumes = [\"/usr/local/bin/bad\"]\n",
            "container.volumes: /usr/local/bin/bad is /usr/local/bin/bad, which binship writes itself",
        ),
    ];
    for (extra, msg) in cases {
        let p = Project::new().with_app(
            "bad",
            &format!("kind = \"c\"\n[container]\n{extra}"),
            &[("main.c", "int main(void){return 0;}\n")],
        );
        let r = p.run(&["build", "bad"]);
        assert_eq!(r.code, 2, "{extra}: {r:?}");
        let line = r.stderr.trim().lines().last().unwrap_or_default();
        assert!(
            line.contains(msg) && line.contains("binship.toml"),
            "{extra}: {line}"
        );
    }
    // A source that does not exist: named, before anything is built.
    let p = Project::new().with_app(
        "nosrc",
        "kind = \"c\"\n[container]\n[[container.files]]\nsource = \"site\"\ntarget = \"/srv\"\n",
        &[("main.c", "int main(void){return 0;}\n")],
    );
    let r = p.run(&["build", "nosrc"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("container.files: source `site`") && r.stderr.contains("No such file"),
        "{r:?}"
    );
    assert!(p.versions("nosrc").is_empty());
}
