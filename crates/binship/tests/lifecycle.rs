//! Lifecycle: promote / rollback (re-tagging published images in a real registry) / history,
//! an atomic current pointer under kill -9, GC that never removes what matters, `update`
//! (git and non-git sources, outputs, idempotence, first failure, lock), and `bench`.

mod common;
use common::engines::*;
use common::tiny::tiny_elf;
use common::*;

use std::process::Command;

/// go-id with `n` versions (each a source change).
fn go_id_versions(n: u32) -> Project {
    let p = Project::new().with_example("go-id");
    let main = p.path().join("examples/go-id/main.go");
    for v in 1..=n {
        if v > 1 {
            let text = std::fs::read_to_string(&main).unwrap();
            std::fs::write(&main, format!("{text}\n// change {v}\n")).unwrap();
        }
        p.run(&["build", "go-id"]).ok();
    }
    p
}

/// Marks a stored version as failed (as a record that did not pass would say).
fn mark_failed(p: &Project, v: u32) {
    let path = p.version_dir("go-id", v).join("test-results.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("\"status\": \"passed\"", "\"status\": \"failed\"", 1),
    )
    .unwrap();
}

fn skopeo_digest(reference: &str) -> String {
    let out = ok(
        Command::new("skopeo")
            .args([
                "inspect",
                "--tls-verify=false",
                &format!("docker://{reference}"),
            ])
            .output()
            .unwrap(),
        "skopeo inspect",
    );
    serde_json::from_str::<serde_json::Value>(&out).unwrap()["Digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn promote_rollback_and_history_move_current_and_retag_published_images() {
    let p = go_id_versions(3);
    mark_failed(&p, 2);
    // Bad promotes.
    let r = p.run(&["promote", "go-id", "9"]);
    assert_eq!(r.code, 3, "{r:?}");
    let r = p.run(&["promote", "go-id", "2"]);
    assert_eq!(r.code, 6, "{r:?}");
    assert!(r.stderr.contains("did not pass its tests"), "{r:?}");
    assert!(!p.app_dir("go-id").join("current").exists());
    // promote 1: scaffold (no terminal) and push default to it.
    let j = p.run(&["promote", "go-id", "1", "--json"]).ok().json();
    assert_eq!(j["current"], 1);
    // list says which version is current (agents read it through list_binaries).
    let l = p.run(&["list", "go-id", "--json"]).ok().json();
    assert_eq!(l["apps"][0]["current"], 1, "{l}");
    let table = p.run(&["list", "go-id"]).ok().stdout;
    assert!(table.lines().any(|l| l.contains("v.1*")), "{table}");
    assert!(!table.lines().any(|l| l.contains("v.2*")), "{table}");
    let out = p.path().join("x.tar");
    let r = p
        .run(&["scaffold", "go-id", "-o", out.to_str().unwrap(), "--json"])
        .ok();
    assert!(r.stderr.contains("using the current one: v.1"), "{r:?}");
    assert_eq!(r.json()["version"], 1);
    p.run(&["promote", "go-id", "3"]).ok();
    assert_eq!(
        std::fs::read_to_string(p.app_dir("go-id").join("current")).unwrap(),
        "3\n"
    );

    let reg = if require(&["docker-registry", "skopeo"], false) {
        Some(plain_registry())
    } else {
        None
    };
    if let Some((_, port)) = &reg {
        // v.1 is published; v.3 too (so :latest moves back on rollback).
        p.run(&["push", "go-id:1", &format!("127.0.0.1:{port}/go-id")])
            .ok();
        p.run(&["push", "go-id:3", &format!("127.0.0.1:{port}/go-id")])
            .ok();
    }
    // An unreachable destination recorded for v.1: a warning, not a failure.
    let dead = free_port();
    let pubs_path = p.version_dir("go-id", 1).join("publications.json");
    let mut pubs: Vec<serde_json::Value> = std::fs::read(&pubs_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    pubs.push(serde_json::json!({
        "reference": format!("127.0.0.1:{dead}/gone:v.1"),
        "digest": format!("sha256:{}", "1".repeat(64)),
        "at": "2026-01-01T00:00:00Z",
        "kind": "image",
    }));
    std::fs::write(&pubs_path, serde_json::to_string(&pubs).unwrap()).unwrap();

    // Rollback from 3 skips the failed v.2 and lands on v.1.
    let r = p.run(&["rollback", "go-id", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let j = r.json();
    assert_eq!(
        (j["current"].clone(), j["previous"].clone()),
        (1.into(), 3.into()),
        "{j}"
    );
    assert!(
        j["skipped"][0]
            .as_str()
            .unwrap()
            .contains("v.2 did not pass"),
        "{j}"
    );
    assert!(
        j["warnings"]
            .to_string()
            .contains(&format!("127.0.0.1:{dead}/gone:current")),
        "{j}"
    );
    if let Some((_, port)) = &reg {
        let v1 = serde_json::from_str::<serde_json::Value>(
            &std::fs::read_to_string(&pubs_path).unwrap(),
        )
        .unwrap()[0]["digest"]
            .as_str()
            .unwrap()
            .to_string();
        for tag in ["current", "latest"] {
            assert_eq!(
                skopeo_digest(&format!("127.0.0.1:{port}/go-id:{tag}")),
                v1,
                "{tag}"
            );
        }
        assert_eq!(j["retagged"].as_array().unwrap().len(), 2, "{j}");
    }
    // Nothing older than v.1 to go to.
    let r = p.run(&["rollback", "go-id"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr.contains("no older good version of go-id than v.1"),
        "{r:?}"
    );
    assert_eq!(
        std::fs::read_to_string(p.app_dir("go-id").join("current")).unwrap(),
        "1\n"
    );
    // History.
    let h = p.run(&["history", "go-id", "--json"]).ok().json();
    let actions: Vec<&str> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["promote", "promote", "rollback"]);
    assert_eq!(h["current"], 1);
}

#[test]
fn a_promote_killed_at_any_moment_leaves_a_whole_pointer() {
    let p = go_id_versions(2);
    let current = p.app_dir("go-id").join("current");
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..120u64 {
        let v = if i % 2 == 0 { "1" } else { "2" };
        let mut child = p.cmd(&["promote", "go-id", v]).spawn().unwrap();
        // Kill at a different moment each time (0-6 ms after start, a pseudo-random spread).
        std::thread::sleep(std::time::Duration::from_micros((i * 7919) % 6000));
        unsafe {
            libc::kill(child.id() as i32, libc::SIGKILL);
        }
        let _ = child.wait();
        if let Ok(text) = std::fs::read_to_string(&current) {
            assert!(
                text == "1\n" || text == "2\n",
                "torn pointer after kill {i}: {text:?}"
            );
            seen.insert(text);
        }
    }
    // The binary's own reader agrees, and the next promote cleans up after the killed ones.
    p.run(&["promote", "go-id", "2"]).ok();
    let h = p.run(&["history", "go-id"]).ok();
    assert!(h.stdout.contains("current: v.2"), "{h:?}");
    let leftovers: Vec<_> = std::fs::read_dir(p.app_dir("go-id"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".current.tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    eprintln!("pointer values seen between kills: {seen:?}");
}

#[test]
fn gc_keeps_current_the_one_before_published_and_newest() {
    let p = go_id_versions(5);
    p.run(&["promote", "go-id", "4"]).ok();
    std::fs::write(
        p.version_dir("go-id", 2).join("publications.json"),
        r#"[{"reference":"127.0.0.1:5000/go-id:v.2","digest":"sha256:00","at":"x","kind":"image"}]"#,
    )
    .unwrap();
    let j = p.run(&["gc", "--keep", "1", "--json"]).ok().json();
    assert_eq!(j["status"], "dry_run");
    let app = &j["apps"][0];
    assert_eq!(app["removed"], serde_json::json!([1]));
    let why: std::collections::BTreeMap<u64, String> = app["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["version"].as_u64().unwrap(),
                k["why"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(why[&4], "current");
    assert_eq!(why[&3], "the version before current");
    assert!(why[&2].starts_with("published"));
    assert_eq!(why[&5], "one of the newest 1");
    assert!(
        p.version_dir("go-id", 1).exists(),
        "dry run removed something"
    );
    p.run(&["gc", "--keep", "1", "--apply"]).ok();
    assert_eq!(
        p.versions("go-id"),
        [
            "go-id-binary-v.2",
            "go-id-binary-v.3",
            "go-id-binary-v.4",
            "go-id-binary-v.5"
        ]
    );
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn update_rebuilds_what_changed_writes_outputs_promotes_and_is_idempotent() {
    let p = Project::new().with_example("go-id");
    let recipe = p.app_dir("go-id").join("binship.toml");
    let text = std::fs::read_to_string(&recipe).unwrap();
    std::fs::write(
        &recipe,
        format!("{text}\n[[outputs]]\nformat = \"docker-archive\"\ndestination = \"out/go-id.tar\"\n\n[[outputs]]\nformat = \"oci\"\nbase = \"scratch\"\ndestination = \"out/oci\"\n"),
    )
    .unwrap();
    p.git(&["init", "-q"]);
    p.git(&["add", "."]);
    p.git(&["commit", "-qm", "one"]);
    let r = p.run(&["update"]);
    assert_eq!(r.code, 2, "{r:?}");
    let j = p.run(&["update", "go-id", "--json"]).ok().json();
    assert_eq!(j["apps"][0]["status"], "updated", "{j}");
    assert_eq!(j["apps"][0]["version"], 1);
    let out = p.app_dir("go-id").join("out");
    assert!(out.join("go-id.tar").is_file() && out.join("oci/index.json").is_file());
    assert_eq!(
        std::fs::read_to_string(p.app_dir("go-id").join("current")).unwrap(),
        "1\n"
    );
    // Again: nothing to do, and it says so.
    let r = p.run(&["update", "go-id"]).ok();
    assert!(
        r.stdout.contains("up to date (current v.1); nothing to do"),
        "{r:?}"
    );
    assert_eq!(p.versions("go-id").len(), 1);
    // A source change: v.2, outputs rewritten, promoted.
    let main = p.path().join("examples/go-id/main.go");
    let src = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, format!("{src}\n// v2\n")).unwrap();
    p.git(&["commit", "-qam", "two"]);
    let j = p.run(&["update", "--all", "--json"]).ok().json();
    assert_eq!(j["apps"][0]["version"], 2, "{j}");
    assert_eq!(
        std::fs::read_to_string(p.app_dir("go-id").join("current")).unwrap(),
        "2\n"
    );
    // A broken change: the first failure stops it; current stays.
    std::fs::write(&main, format!("{src}\nthis is not go\n")).unwrap();
    let r = p.run(&["update", "go-id", "--json"]);
    assert_eq!(r.code, 5, "{r:?}");
    assert_eq!(r.json()["apps"][0]["status"], "failed");
    assert_eq!(
        std::fs::read_to_string(p.app_dir("go-id").join("current")).unwrap(),
        "2\n"
    );
    std::fs::write(&main, &src).unwrap();
    // Two updates at once: the second is refused while the first holds the lock.
    let lock_path = p.store().join(".binship/locks/update.lock");
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap();
    held.lock().unwrap();
    let r = p.run(&["update", "go-id"]);
    assert_eq!(r.code, 7, "{r:?}");
    assert!(
        r.stderr.contains("another binship update is running"),
        "{r:?}"
    );
    drop(held);
}

#[test]
fn update_refuses_a_registry_output_of_a_system_format_before_building() {
    // A registry destination takes OCI application images: `format = "lxc"` with `docker://`
    // used to push an OCI image and drop the format without a word.
    let p = Project::new().with_example("c-health");
    let recipe = p.app_dir("c-health").join("binship.toml");
    let text = std::fs::read_to_string(&recipe).unwrap();
    std::fs::write(
        &recipe,
        format!("{text}\n[[outputs]]\nformat = \"lxc\"\ndestination = \"docker://127.0.0.1:5000/c-health\"\n"),
    )
    .unwrap();
    let r = p.run(&["update", "c-health"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("binship.toml: outputs: 127.0.0.1:5000/c-health: a registry takes an OCI application image; lxc images are not pushed"),
        "{r:?}"
    );
    assert!(p.versions("c-health").is_empty(), "built before refusing");
    // Every output is checked before anything is built (found by a newcomer run).
    for (output, says) in [
        (
            "format = \"oci\"\ndestination = \"DOCKER://127.0.0.1:5000/x\"",
            "outputs[0].destination: `DOCKER://` is not a destination",
        ),
        (
            "format = \"oci\"\nservice = \"bogus\"\ndestination = \"out/x\"",
            "outputs[0].service: unknown service manager `bogus`",
        ),
        (
            "format = \"oci\"\nplatform = \"linux/s390x\"\ndestination = \"out/x\"",
            "outputs[0].platform: linux/s390x is not built by this recipe",
        ),
    ] {
        std::fs::write(&recipe, format!("{text}\n[[outputs]]\n{output}\n")).unwrap();
        let r = p.run(&["update", "c-health"]);
        assert_eq!(r.code, 2, "{output}: {r:?}");
        assert!(r.stderr.contains(says), "{output}: {r:?}");
        assert!(
            p.versions("c-health").is_empty(),
            "{output}: built before refusing"
        );
    }
}

#[test]
fn update_works_outside_git_with_a_content_hash() {
    // A version built before and up to date is only made current: update says so.
    let p = Project::new().with_example("c-health");
    p.run(&["build", "c-health"]).ok();
    let r = p.run(&["update", "c-health"]).ok();
    assert!(
        r.stdout
            .contains("c-health: v.1 (built before, up to date) made current"),
        "{r:?}"
    );
    assert!(!r.stdout.contains("built, tested"), "{r:?}");
    let p = Project::new().with_example("c-health");
    let j = p.run(&["update", "c-health", "--json"]).ok().json();
    assert_eq!(j["apps"][0]["status"], "updated");
    let r = p.run(&["update", "c-health"]).ok();
    assert!(r.stdout.contains("nothing to do"), "{r:?}");
    let r = p.run(&["update", "c-health", "--json"]).ok();
    assert_eq!(r.json()["apps"][0]["status"], "up_to_date");
    let src = p.path().join("examples/c-health");
    let f = std::fs::read_dir(&src)
        .unwrap()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "c"))
        .unwrap()
        .path();
    let text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, format!("{text}\n/* changed */\n")).unwrap();
    let j = p.run(&["update", "c-health", "--json"]).ok().json();
    assert_eq!(j["apps"][0]["version"], 2, "{j}");
    let rec: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.version_dir("c-health", 2).join("test-results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(rec["git"]["commit"], serde_json::Value::Null);
}

#[test]
fn bench_measures_a_version_against_the_previous_one() {
    let p = go_id_versions(2);
    let engine = Podman::new();
    let mut args = vec!["bench", "go-id", "--runs", "3", "--plot", "--json"];
    let engine_cmd;
    if let Some(pm) = &engine {
        engine_cmd = pm.engine();
        args.extend([
            "--engine",
            &engine_cmd,
            "--engine-run-args",
            "--ulimit nofile=20000:20000 --ulimit nproc=32768:32768",
        ]);
    } else {
        args.extend(["--engine", "none"]);
    }
    let j = p.run(&args).ok().json();
    assert_eq!(j["version"], 2);
    assert!(j["host"]["ready_ms"].as_f64().unwrap() > 0.0, "{j}");
    assert!(j["host"]["rss_kb"].as_u64().unwrap() > 100, "{j}");
    assert_eq!(j["host"]["samples_ms"].as_array().unwrap().len(), 3);
    assert!(j["binary_bytes"].as_u64().unwrap() > 1_000_000);
    assert!(j["images"][0]["bytes"].as_u64().unwrap() > 1_000_000, "{j}");
    assert_eq!(j["previous"]["version"], 1, "{j}");
    assert!(j["change_pct"]["binary"].is_number(), "{j}");
    if engine.is_some() {
        assert!(j["container"]["ready_ms"].as_f64().unwrap() > 0.0, "{j}");
    }
    assert!(p.version_dir("go-id", 2).join("bench.json").is_file());
    assert!(p.version_dir("go-id", 1).join("bench.json").is_file());
    // Without the ulimits this host needs, the container figures are skipped with the
    // engine's Error line and the fix, not a log line (issue 20, item 15).
    if let Some(pm) = &engine {
        let e = pm.engine();
        let j = p
            .run(&["bench", "go-id", "--runs", "1", "--engine", &e, "--json"])
            .ok()
            .json();
        if let Some(why) = j["container"]["skipped"].as_str() {
            assert!(
                why.starts_with("run: Error:") && why.contains("--ulimit nofile="),
                "{why}"
            );
        }
    }
    // The chart is beside the version's bench.json, not in the recipe's dir (issue 20).
    assert!(!p.app_dir("go-id").join("bench.svg").exists());
    let svg_path = p.version_dir("go-id", 2).join("bench.svg");
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    // A chart for a report (issue 20, item 15): versions on the x axis, units on the y axes,
    // a legend naming every series of the table, the images' sizes among them.
    assert!(svg.starts_with("<svg"), "{svg}");
    for want in [
        ">\nv.1\n<",
        ">\nv.2\n<",
        ">\nversion\n<",
        ">\nms\n<",
        ">\nMB\n<",
        ">\nhost\n<",
        ">\nRSS\n<",
        ">\nbinary\n<",
        ">\nimage: docker-archive static\n<",
    ] {
        assert!(svg.contains(want), "{want:?} in {svg}");
    }
    // Every text lies inside the picture.
    let (w, h) = (800.0, 900.0);
    for t in svg.split("<text ").skip(1) {
        let attr = |name: &str| -> f64 {
            t.split(&format!(" {name}=\""))
                .nth(1)
                .or_else(|| t.strip_prefix(&format!("{name}=\"")))
                .and_then(|r| r.split('"').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        };
        let (x, y) = (attr("x"), attr("y"));
        assert!(
            (0.0..=w).contains(&x) && (0.0..=h).contains(&y),
            "text at {x},{y}: {t}"
        );
    }
    // Rendered by an independent SVG renderer (librsvg) to a PNG of the same size.
    if common::engines::require(&["rsvg-convert"], true) {
        let png = p.path().join("bench.png");
        let o = std::process::Command::new("rsvg-convert")
            .arg("-o")
            .arg(&png)
            .arg(&svg_path)
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
        assert_eq!((be(16), be(20)), (800, 900));
    }
    // The table for humans.
    let r = p
        .run(&["bench", "go-id", "--runs", "1", "--engine", "none"])
        .ok();
    assert!(
        r.stdout.contains("start-up (host)") && r.stdout.contains("change"),
        "{r:?}"
    );
}

/// `update --all --jobs 2`: at most two builds at once and at least once two (each build logs
/// its start and end), a failing app does not stop the others, the answers come grouped in
/// app order, and the exit code is the failure's class.
#[test]
fn update_all_with_jobs_runs_apps_side_by_side_and_a_failure_stops_no_other() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let elf = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(elf.path(), tiny_elf()).unwrap();
    let recipe = |cmd: &str| {
        format!(
            "kind = \"command\"\n[build]\ncommand = \"{cmd}\"\noutput = \"app\"\n[test]\nservice = false\n[[test.command]]\nname = \"runs\"\nexit = 0\n"
        )
    };
    let ok_cmd = format!(
        "echo start >> {log}; sleep 1; echo end >> {log}; cp {elf} app; chmod 755 app",
        log = log.path().display(),
        elf = elf.path().display()
    );
    let mut p = Project::new();
    for a in ["a1", "a2", "a4", "a5"] {
        p = p.with_app(a, &recipe(&ok_cmd), &[("x", "")]);
    }
    p = p.with_app("a3", &recipe("exit 1"), &[("x", "")]);
    let r = p.run(&["update", "--all", "--jobs", "2", "--json"]);
    assert_eq!(r.code, 5, "{r:?}");
    let j = r.json();
    let apps: Vec<(&str, &str)> = j["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["app"].as_str().unwrap(), a["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        apps,
        [
            ("a1", "updated"),
            ("a2", "updated"),
            ("a3", "failed"),
            ("a4", "updated"),
            ("a5", "updated")
        ],
        "{j}"
    );
    let (mut now, mut most) = (0, 0);
    for l in std::fs::read_to_string(log.path()).unwrap().lines() {
        now += if l == "start" { 1 } else { -1 };
        most = most.max(now);
    }
    assert_eq!(most, 2, "builds at once");
    for a in ["a1", "a2", "a4", "a5"] {
        assert_eq!(
            std::fs::read_to_string(p.app_dir(a).join("current")).unwrap(),
            "1\n"
        );
    }
    assert!(!p.app_dir("a3").join("current").exists());
    // Human output: one group per app, in order, the failure among them.
    let r = p.run(&["update", "--all", "--jobs", "2"]);
    assert_eq!(r.code, 5, "{r:?}");
    let a1 = r.stdout.find("a1:").unwrap();
    let a5 = r.stdout.find("a5:").unwrap();
    assert!(a1 < a5, "{r:?}");
    assert!(r.stderr.contains("error: a3:"), "{r:?}");
    // --jobs 0 is refused.
    assert_eq!(p.run(&["update", "--all", "--jobs", "0"]).code, 2);
}
