//! Hardening: hostile base trees (symlink chains, devices, setuid, depth, long names, 100k
//! entries), layouts whose blobs are symlinks, kill -9 at random points of build, scaffold and
//! push, a full disk, 8 concurrent builds and scaffolds, and binship run as an unprivileged user.

mod common;
use common::engines::*;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use binship_image::testing::{tar_of, Member as M};
use binship_image::validate::{validate, Options};

fn validates(format: &str, path: &Path) -> Result<usize, String> {
    let reader = binship_sink::sink_for(format)
        .unwrap()
        .open(path)
        .map_err(|e| e.to_string())?;
    validate(&*reader, &Options::default())
        .map(|r| r.len())
        .map_err(|e| e.to_string())
}

fn base_run(p: &Project, tar: &[u8], name: &str) -> (Run, PathBuf) {
    let base = p.path().join(format!("{name}.tar"));
    std::fs::write(&base, tar).unwrap();
    let out = p.path().join(format!("{name}-out.tar"));
    let r = p.run(&[
        "scaffold",
        "c-health",
        "--base",
        &format!("rootfs:{}", base.display()),
        "--service",
        "none",
        // These bases are data for the importer, not roots to run: a 4 KB path cannot be
        // unpacked below any directory (docker load fails on it too).
        "--no-image-test",
        "-o",
        out.to_str().unwrap(),
    ]);
    (r, out)
}

fn c_health() -> Project {
    let p = Project::new().with_example("c-health");
    p.run(&["build", "c-health"]).ok();
    p
}

#[test]
fn hostile_trees_are_refused_or_carried_as_data_never_followed() {
    use tar::EntryType as T;
    let p = c_health();
    // A symlink chain: a -> b -> /etc, then a file through it.
    let (r, out) = base_run(
        &p,
        &tar_of(&[
            M::symlink("b", "/etc"),
            M::symlink("a", "b"),
            M::file("a/passwd", "evil", 0o644),
        ]),
        "chain",
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("member a/passwd is written through the symlink a"),
        "{r:?}"
    );
    assert!(!out.exists());
    // 10k directories deep, and a 5000-byte name: refused by the limits.
    let deep = vec!["d"; 10_000].join("/");
    let (r, _) = base_run(&p, &tar_of(&[M::file(deep, "x", 0o644)]), "deep");
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("(limit 4096)") || r.stderr.contains("(limit 256)"),
        "{r:?}"
    );
    let deep300 = vec!["d"; 300].join("/");
    let (r, _) = base_run(&p, &tar_of(&[M::file(deep300, "x", 0o644)]), "deep300");
    assert!(
        r.stderr.contains("is 300 directories deep (limit 256)"),
        "{r:?}"
    );
    let long = format!("{}/{}", "n".repeat(200), "x".repeat(4800));
    let (r, _) = base_run(&p, &tar_of(&[M::file(long, "x", 0o644)]), "long");
    assert!(r.stderr.contains("bytes (limit 4096)"), "{r:?}");
    // A 4 KB name (components of 200) is fine, as are a device node and a setuid file: they are
    // data in a layer (binship never extracts a base onto the host) and keep their bits.
    let name4k: String = (0..20)
        .map(|i| format!("{}{i:02}", "n".repeat(198)))
        .collect::<Vec<_>>()
        .join("/");
    assert!(
        name4k.len() > 4000 && name4k.len() <= 4096,
        "{}",
        name4k.len()
    );
    let (r, out) = base_run(
        &p,
        &tar_of(&[
            M::dir("etc/"),
            M::file("etc/os-release", "ID=alpine\n", 0o644),
            M::dir("dev/"),
            M::of("dev/null", T::Char, 0o666),
            M::dir("bin/"),
            M::file("bin/su", "#!/bin/sh\n", 0o4755),
            M::file(name4k.clone(), "deep", 0o644),
        ]),
        "devices",
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(validates("docker-archive", &out), Ok(1));
    let reader = binship_sink::sink_for("docker-archive")
        .unwrap()
        .open(&out)
        .unwrap();
    let img = reader.images().unwrap().remove(0);
    let mut seen = std::collections::BTreeMap::new();
    let layer = reader.open_layer(&img.layers[0]).unwrap();
    for e in tar::Archive::new(layer).entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        seen.insert(
            e.path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string(),
            (h.entry_type(), h.mode().unwrap()),
        );
    }
    assert_eq!(seen["dev/null"].0, T::Char);
    assert_eq!(seen["bin/su"].1 & 0o7777, 0o4755);
    assert!(seen.contains_key(&name4k));
    // 100k entries: accepted and valid.
    let mut many = vec![M::dir("etc/"), M::dir("f/")];
    for i in 0..100_000 {
        many.push(M::file(format!("f/{:03}/{i}", i % 500), "", 0o644));
    }
    // (the per-bucket dirs come implicitly; binship accepts members without their parents)
    let (r, out) = base_run(&p, &tar_of(&many), "many");
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(validates("docker-archive", &out), Ok(1));
}

#[test]
fn layouts_whose_blobs_are_symlinks_are_not_followed() {
    let p = c_health();
    let oci = p.path().join("oci");
    p.run(&[
        "scaffold",
        "c-health",
        "--format",
        "oci",
        "-o",
        oci.to_str().unwrap(),
    ])
    .ok();
    assert_eq!(validates("oci", &oci), Ok(1));
    // Swap a blob for a symlink to an identical copy elsewhere: the digest would still match.
    let blobs = oci.join("blobs/sha256");
    let victim = std::fs::read_dir(&blobs)
        .unwrap()
        .flatten()
        .max_by_key(|e| e.metadata().unwrap().len())
        .unwrap()
        .path();
    let outside = p.path().join("outside-copy");
    std::fs::copy(&victim, &outside).unwrap();
    std::fs::remove_file(&victim).unwrap();
    std::os::unix::fs::symlink(&outside, &victim).unwrap();
    let e = validates("oci", &oci).unwrap_err();
    assert!(e.contains("is a symlink"), "{e}");
    let r = p.run(&[
        "scaffold",
        "c-health",
        "--base",
        &format!("oci:{}", oci.display()),
        "-o",
        p.path().join("x.tar").to_str().unwrap(),
    ]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("symlink"), "{r:?}");
    // Merging into a layout whose blobs/ is a symlink would write elsewhere: refused.
    let elsewhere = p.path().join("elsewhere");
    std::fs::create_dir_all(elsewhere.join("sha256")).unwrap();
    std::fs::remove_dir_all(oci.join("blobs")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, oci.join("blobs")).unwrap();
    let r = p.run(&[
        "scaffold",
        "c-health",
        "--format",
        "oci",
        "-o",
        oci.to_str().unwrap(),
        "--tag",
        "c-health:other",
    ]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("is a symlink; binship does not write through links"),
        "{r:?}"
    );
    assert_eq!(
        std::fs::read_dir(elsewhere.join("sha256")).unwrap().count(),
        0
    );
}

/// Spawns binship in its own process group and SIGKILLs the group after `after`.
fn kill_after(p: &Project, args: &[&str], after: Duration) {
    use std::os::unix::process::CommandExt;
    let mut c = p.cmd(args);
    c.stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = c.spawn().unwrap();
    std::thread::sleep(after);
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGKILL);
    }
    let _ = child.wait();
}

/// Every stored version is complete: its record parses and the binary has the recorded sha256.
fn store_is_whole(p: &Project, app: &str) -> usize {
    let mut n = 0;
    for v in p.versions(app) {
        let dir = p.app_dir(app).join(&v);
        let rec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("test-results.json")).unwrap())
                .unwrap();
        let bin = dir.join(rec["binary"]["name"].as_str().unwrap());
        let sha = binship_oci::digest_string(&std::fs::read(&bin).unwrap());
        assert_eq!(
            sha.trim_start_matches("sha256:"),
            rec["binary"]["sha256"].as_str().unwrap(),
            "{v}"
        );
        n += 1;
    }
    n
}

fn tmp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("binship-tmp"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn kill_9_at_random_points_leaves_only_whole_versions_and_images() {
    let p = Project::new().with_example("c-health");
    p.run(&["build", "c-health"]).ok();
    // Builds: killed between 0 and ~1.2 s (compile, test, admit).
    for i in 0..12u64 {
        kill_after(
            &p,
            &["build", "c-health", "--force"],
            Duration::from_millis((i * 97) % 1200),
        );
        store_is_whole(&p, "c-health");
    }
    // A service under test dies with the binship that started it.
    std::thread::sleep(Duration::from_millis(300));
    let tmp = p.store().join(".binship/tmp").display().to_string();
    let orphans: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&tmp))
        .collect();
    assert!(orphans.is_empty(), "{orphans:?}");
    let before = store_is_whole(&p, "c-health");
    p.run(&["build", "c-health", "--force"]).ok();
    assert_eq!(store_is_whole(&p, "c-health"), before + 1);
    // The next build removed what the killed ones left in .binship/tmp.
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
    // Scaffolds into the same outputs: killed between 0 and ~240 ms.
    let out = p.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let tar = out.join("c.tar");
    let oci = out.join("oci");
    for i in 0..20u64 {
        let d = Duration::from_millis((i * 13) % 240);
        kill_after(
            &p,
            &[
                "scaffold",
                "c-health",
                "-o",
                tar.to_str().unwrap(),
                "--force",
            ],
            d,
        );
        kill_after(
            &p,
            &[
                "scaffold",
                "c-health",
                "--format",
                "oci",
                "-o",
                oci.to_str().unwrap(),
                "--force",
            ],
            d,
        );
        if tar.exists() {
            assert_eq!(validates("docker-archive", &tar), Ok(1), "after kill {i}");
        }
        if oci.join("index.json").exists() {
            assert!(
                validates("oci", &oci).is_ok(),
                "after kill {i}: {:?}",
                validates("oci", &oci)
            );
        }
    }
    // The next runs work and sweep the temps of the killed ones.
    p.run(&[
        "scaffold",
        "c-health",
        "-o",
        tar.to_str().unwrap(),
        "--force",
    ])
    .ok();
    p.run(&[
        "scaffold",
        "c-health",
        "--format",
        "oci",
        "-o",
        oci.to_str().unwrap(),
        "--force",
    ])
    .ok();
    assert_eq!(validates("docker-archive", &tar), Ok(1));
    assert!(tmp_files(&out).is_empty(), "{:?}", tmp_files(&out));
    assert!(tmp_files(&oci.join("blobs/sha256")).is_empty());
    // Pushes: killed mid-way, then a whole push lands; nothing half-recorded.
    if require(&["docker-registry"], false) {
        let (_g, port) = plain_registry();
        let repo = format!("127.0.0.1:{port}/c-health");
        for i in 0..10u64 {
            kill_after(
                &p,
                &["push", "c-health", &repo],
                Duration::from_millis((i * 23) % 200),
            );
        }
        p.run(&["push", "c-health", &repo]).ok();
        let v = p.versions("c-health").len() as u32;
        let pubs: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(p.version_dir("c-health", v).join("publications.json"))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(pubs.as_array().unwrap().len(), 1, "{pubs}");
        assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
    }
}

#[test]
fn a_full_disk_is_a_clear_error_with_no_partial_file() {
    if !require(&["mount", "umount"], true) {
        return;
    }
    let p = c_health();
    let small = tempfile::tempdir().unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(small.path())
        .status()
        .unwrap();
    assert!(st.success(), "mount tmpfs");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Unmount(small.path().to_path_buf());
    let out = small.path().join("c.tar");
    let r = p.run(&["scaffold", "c-health", "-o", out.to_str().unwrap()]);
    assert_ne!(r.code, 0, "{r:?}");
    let errs: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errs.len(), 1, "{r:?}");
    assert!(errs[0].contains("No space left on device"), "{r:?}");
    assert!(
        errs[0].contains(&small.path().display().to_string()),
        "{r:?}"
    );
    let left: Vec<_> = std::fs::read_dir(small.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "partial files: {left:?}");
}

#[test]
fn eight_concurrent_builds_and_scaffolds_keep_the_store_consistent() {
    let p = Project::new()
        .with_example("c-health")
        .with_example("rust-echo");
    p.run(&["build", "c-health"]).ok();
    p.run(&["build", "rust-echo"]).ok();
    let mut children = Vec::new();
    for i in 0..8 {
        let args: Vec<String> = match i % 4 {
            0 | 1 => vec!["build".into(), "c-health".into(), "--force".into()],
            2 => vec!["build".into(), "rust-echo".into(), "--force".into()],
            _ => vec![
                "scaffold".into(),
                "c-health".into(),
                "--version".into(),
                "1".into(),
                "-o".into(),
                p.path().join(format!("s{i}.tar")).display().to_string(),
            ],
        };
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        children.push((
            args.clone(),
            p.cmd(&refs)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        ));
    }
    for (args, c) in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // No lost and no duplicate version numbers: 1 + 4 builds and 1 + 2.
    assert_eq!(store_is_whole(&p, "c-health"), 5);
    assert_eq!(store_is_whole(&p, "rust-echo"), 3);
    let nums: Vec<String> = p.versions("c-health");
    assert_eq!(
        nums,
        (1..=5)
            .map(|v| format!("c-health-binary-v.{v}"))
            .collect::<Vec<_>>()
    );
    for i in [3, 7] {
        assert_eq!(
            validates("docker-archive", &p.path().join(format!("s{i}.tar"))),
            Ok(1)
        );
    }
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn build_scaffold_and_push_need_no_root() {
    if !require(&["setpriv", "docker-registry"], true) {
        return;
    }
    // A project owned by nobody, in a dir nobody can enter.
    let dir = tempfile::Builder::new()
        .prefix("bsnr")
        .tempdir_in("/tmp")
        .unwrap();
    let p_root = dir.path().join("proj");
    copy_dir(
        &repo_root().join("examples/c-health"),
        &p_root.join("examples/c-health"),
    );
    let store = p_root.join("images/standalone-binaries/c-health");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::copy(
        repo_root().join("images/standalone-binaries/c-health/binship.toml"),
        store.join("binship.toml"),
    )
    .unwrap();
    let chown = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(chown.success());
    let (_g, port) = plain_registry();
    let as_nobody = |args: &[&str]| -> Run {
        Command::new("setpriv")
            .args([
                "--reuid",
                "65534",
                "--regid",
                "65534",
                "--clear-groups",
                "--",
            ])
            .arg(bin())
            .args(args)
            .current_dir(&p_root)
            .env("HOME", dir.path())
            .env_remove("BINSHIP_STORE")
            .output()
            .unwrap()
            .into()
    };
    let r = as_nobody(&["build", "c-health"]);
    assert_eq!(r.code, 0, "{r:?}");
    let r = as_nobody(&["scaffold", "c-health", "-o", "c.tar"]);
    assert_eq!(r.code, 0, "{r:?}");
    let r = as_nobody(&["push", "c-health", &format!("127.0.0.1:{port}/c-health")]);
    assert_eq!(r.code, 0, "{r:?}");
    let meta = std::fs::metadata(p_root.join("c.tar")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(meta.uid(), 65534);
}
