//! Images checked by real clients: docker load + run, podman load + run (docker-archive, OCI
//! archive gzip and zstd), skopeo inspect, umoci unpack. Each engine runs in its own temp dir
//! and is stopped afterwards; containers use --network host and are probed on 127.0.0.1.

mod common;
use common::engines::*;
use common::*;

use std::path::{Path, PathBuf};

struct Images {
    p: Project,
    docker: PathBuf,
    scratch: PathBuf,
    oci_dir: PathBuf,
    oci_gz: PathBuf,
    oci_zstd: PathBuf,
    sha: String,
    manifest_gz: String,
}

fn images() -> Images {
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    let j = p.run(&["scaffold", "go-id", "--json"]).ok().json();
    let docker = PathBuf::from(j["path"].as_str().unwrap());
    let sha = j["labels"]["io.binship.binary.sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let scratch = PathBuf::from(
        p.run(&["scaffold", "go-id", "--base", "scratch", "--json"])
            .ok()
            .json()["path"]
            .as_str()
            .unwrap(),
    );
    let oci_dir = PathBuf::from(
        p.run(&["scaffold", "go-id", "--format", "oci", "--json"])
            .ok()
            .json()["path"]
            .as_str()
            .unwrap(),
    );
    let jg = p
        .run(&["scaffold", "go-id", "--format", "oci-archive", "--json"])
        .ok()
        .json();
    let oci_gz = PathBuf::from(jg["path"].as_str().unwrap());
    let oci_zstd = p.path().join("go-id.zstd.oci.tar");
    p.run(&[
        "scaffold",
        "go-id",
        "--format",
        "oci-archive",
        "--compress",
        "zstd",
        "--tag",
        "go-id:zstd",
        "-o",
        oci_zstd.to_str().unwrap(),
    ])
    .ok();
    Images {
        manifest_gz: jg["manifest_digest"].as_str().unwrap().to_string(),
        p,
        docker,
        scratch,
        oci_dir,
        oci_gz,
        oci_zstd,
        sha,
    }
}

fn proc_uid(pid: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap()
        .to_string()
}

#[test]
fn docker_loads_and_runs_the_images_as_nonroot_read_only_without_capabilities() {
    let Some(d) = Dockerd::start() else { return };
    let imgs = images();
    // The recipe's base (static) is `go-id:v.1`; another base's image is a variant tag, so
    // loading one never replaces the other (issue 19, item 10).
    for (file, name) in [
        (&imgs.docker, "go-id:v.1"),
        (&imgs.scratch, "go-id:v.1-scratch"),
    ] {
        let out = ok(
            d.docker(&["load", "-i", file.to_str().unwrap()]),
            "docker load",
        );
        assert!(out.contains(&format!("Loaded image: {name}")), "{out}");
        let port = serve(
            |a| d.docker(a),
            "gid",
            name,
            &[
                "--read-only",
                "--cap-drop",
                "ALL",
                "--security-opt",
                "no-new-privileges",
            ],
            "docker",
        );
        let (status, id) = http_get(port, "/id").unwrap();
        assert_eq!(status, 200);
        assert!(id.starts_with("{\"id\":"), "{id}");
        let pid = ok(
            d.docker(&["inspect", "-f", "{{.State.Pid}}", "gid"]),
            "inspect",
        );
        assert!(proc_uid(&pid).contains("65532"), "{}", proc_uid(&pid));
        let hc = ok(
            d.docker(&["inspect", "-f", "{{json .Config.Healthcheck}}", name]),
            "inspect image",
        );
        assert!(hc.contains("--probe"), "{hc}");
        let labels = ok(
            d.docker(&["inspect", "-f", "{{json .Config.Labels}}", name]),
            "inspect image",
        );
        assert!(labels.contains(&imgs.sha), "{labels}");
        ok(d.docker(&["stop", "-t", "5", "gid"]), "docker stop");
        // `docker rm` returns once the container is gone; with `run --rm` the removal
        // races the `rmi` that follows.
        ok(d.docker(&["rm", "-f", "gid"]), "docker rm");
    }
    let listed = ok(
        d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        "docker images",
    );
    let mut listed: Vec<&str> = listed.lines().filter(|l| l.starts_with("go-id:")).collect();
    listed.sort();
    assert_eq!(listed, ["go-id:v.1", "go-id:v.1-scratch"]);
}

#[test]
fn podman_loads_and_runs_docker_and_oci_archives() {
    let Some(pm) = Podman::new() else { return };
    let imgs = images();
    for (file, name) in [
        (&imgs.docker, "go-id:v.1"),
        (&imgs.oci_gz, "go-id.oci.tar"),
        (&imgs.oci_zstd, "go-id.zstd.oci.tar"),
    ] {
        let out = ok(
            pm.podman(&["load", "-i", file.to_str().unwrap()]),
            "podman load",
        );
        // podman names OCI archives by their ref annotation or the image id; take the id it printed.
        let loaded = out
            .lines()
            .find_map(|l| {
                l.strip_prefix("Loaded image: ")
                    .or_else(|| l.strip_prefix("Loaded image(s): "))
            })
            .unwrap_or_else(|| panic!("{name}: {out}"))
            .trim()
            .to_string();
        pm.serve("gid", &loaded, &["--rm", "--read-only"], name);
        let pid = ok(
            pm.podman(&["inspect", "-f", "{{.State.Pid}}", "gid"]),
            "inspect",
        );
        assert!(
            proc_uid(&pid).contains("65532"),
            "{name}: {}",
            proc_uid(&pid)
        );
        ok(pm.podman(&["stop", "-t", "5", "gid"]), "podman stop");
        let _ = pm.podman(&["rm", "-f", "gid"]);
    }
}

#[test]
fn skopeo_inspects_every_format_with_our_digests() {
    if !require(&["skopeo"], false) {
        return;
    }
    let imgs = images();
    let run = |args: &[&str]| {
        ok(
            std::process::Command::new("skopeo")
                .args(args)
                .output()
                .unwrap(),
            &format!("skopeo {args:?}"),
        )
    };
    let j: serde_json::Value = serde_json::from_str(&run(&[
        "inspect",
        &format!("docker-archive:{}", imgs.docker.display()),
    ]))
    .unwrap();
    assert_eq!(j["Layers"].as_array().unwrap().len(), 2);
    assert_eq!(j["Labels"]["io.binship.binary.sha256"], imgs.sha.as_str());
    assert_eq!(j["Architecture"], "amd64");
    let raw = run(&[
        "inspect",
        "--raw",
        &format!("oci-archive:{}", imgs.oci_gz.display()),
    ]);
    let digest = format!("sha256:{}", hex_sha(raw.as_bytes()));
    assert_eq!(digest, imgs.manifest_gz, "skopeo sees another manifest");
    let j: serde_json::Value = serde_json::from_str(&run(&[
        "inspect",
        &format!("oci:{}:v.1", imgs.oci_dir.display()),
    ]))
    .unwrap();
    assert_eq!(j["Labels"]["org.opencontainers.image.title"], "go-id");
    let j: serde_json::Value = serde_json::from_str(&run(&[
        "inspect",
        "--raw",
        &format!("oci-archive:{}", imgs.oci_zstd.display()),
    ]))
    .unwrap();
    assert_eq!(
        j["layers"][1]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    // skopeo can copy it on (every blob read and verified).
    let dest = imgs.p.path().join("copied");
    run(&[
        "copy",
        &format!("oci-archive:{}", imgs.oci_gz.display()),
        &format!("dir:{}", dest.display()),
    ]);
    assert!(dest.join("manifest.json").is_file());
}

fn hex_sha(b: &[u8]) -> String {
    binship_oci::digest_string(b)
        .trim_start_matches("sha256:")
        .to_string()
}

#[test]
fn umoci_unpacks_the_oci_layout() {
    if !require(&["umoci"], true) {
        return;
    }
    let imgs = images();
    let ls = ok(
        std::process::Command::new("umoci")
            .args(["ls", "--layout"])
            .arg(&imgs.oci_dir)
            .output()
            .unwrap(),
        "umoci ls",
    );
    assert_eq!(ls.trim(), "v.1");
    let bundle = imgs.p.path().join("bundle");
    ok(
        std::process::Command::new("umoci")
            .args([
                "unpack",
                "--image",
                &format!("{}:v.1", imgs.oci_dir.display()),
            ])
            .arg(&bundle)
            .output()
            .unwrap(),
        "umoci unpack",
    );
    let bin = std::fs::read(bundle.join("rootfs/usr/local/bin/go-id")).unwrap();
    assert_eq!(hex_sha(&bin), imgs.sha);
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["process"]["user"]["uid"], 65532);
    assert_eq!(cfg["process"]["args"][0], "/usr/local/bin/go-id");
    assert!(Path::new(&bundle.join("rootfs/etc/ssl/certs/ca-certificates.crt")).is_file());
    let tmp = std::fs::metadata(bundle.join("rootfs/tmp")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(tmp.permissions().mode() & 0o7777, 0o1777);
}

#[test]
fn go_id_on_debian_and_alpine_like_bases_runs_in_docker_and_podman() {
    let Some(debian) = debian_base("minbase", &["tar"]) else {
        return;
    };
    let Some(d) = Dockerd::start() else { return };
    let Some(pm) = Podman::new() else { return };
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    let alpine_root = alpine_like_rootfs(p.path());
    let alpine = p.path().join("alpine.tar.gz");
    tar_dir(&alpine_root, &alpine, "z");
    for (base, distro) in [(&debian, "debian"), (&alpine, "alpine")] {
        let j = p
            .run(&[
                "scaffold",
                "go-id",
                "--base",
                &format!("rootfs:{}", base.display()),
                "--json",
            ])
            .ok()
            .json();
        assert_eq!(j["distro"]["id"], distro);
        let tar = j["path"].as_str().unwrap().to_string();
        assert!(
            tar.ends_with(&format!("images/docker/go-id-{distro}/go-id.tar")),
            "{tar}"
        );
        // Not the recipe's base: the variant tag names the distro.
        let tag = format!("go-id:v.1-{distro}");
        let out = ok(d.docker(&["load", "-i", &tar]), "docker load");
        assert!(out.contains(&format!("Loaded image: {tag}")), "{out}");
        serve(
            |a| d.docker(a),
            "gid",
            &tag,
            &[],
            &format!("docker on {distro}"),
        );
        // The user exists in the image's passwd, and the service runs as it.
        let pid = ok(
            d.docker(&["inspect", "-f", "{{.State.Pid}}", "gid"]),
            "inspect",
        );
        assert!(proc_uid(&pid).contains("65532"));
        let who = d.docker(&[
            "exec",
            "gid",
            "/bin/sh",
            "-c",
            "grep ^go-id: /etc/passwd; grep ^root: /etc/passwd",
        ]);
        let who = ok(who, "docker exec");
        assert!(
            who.contains("go-id:x:65532:65532") && who.contains("root:x:0:0"),
            "{who}"
        );
        ok(d.docker(&["stop", "-t", "5", "gid"]), "docker stop");
        ok(d.docker(&["rm", "-f", "gid"]), "docker rm");
        ok(d.docker(&["rmi", &tag]), "docker rmi");
        // podman, same archive.
        let out = ok(pm.podman(&["load", "-i", &tar]), "podman load");
        assert!(out.contains(&tag), "{out}");
        pm.serve("gid", &tag, &["--rm"], &format!("podman on {distro}"));
        ok(pm.podman(&["stop", "-t", "5", "gid"]), "podman stop");
        let _ = pm.podman(&["rm", "-f", "gid"]);
        let _ = pm.podman(&["rmi", "-f", &tag]);
    }
}

#[test]
fn the_systemd_unit_brings_the_service_up_in_a_booted_systemd_container() {
    let Some(base) = debian_base("systemd", &[]) else {
        return;
    };
    let Some(d) = Dockerd::start() else { return };
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    let j = p
        .run(&[
            "scaffold",
            "go-id",
            "--base",
            &format!("rootfs:{}", base.display()),
            "--env",
            "MODE=it's \"on\" $HOME 100%\nline2",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(j["service"], "systemd");
    ok(
        d.docker(&["load", "-i", j["path"].as_str().unwrap()]),
        "docker load",
    );
    // systemd as PID 1 (root), in its own network namespace; no --privileged (this sandbox
    // refuses all capabilities): SYS_ADMIN, no seccomp/apparmor filter, cgroups read-only.
    ok(
        d.docker(&[
            "run",
            "-d",
            "--name",
            "sd",
            "--network",
            "none",
            "--user",
            "0",
            "--cap-add",
            "SYS_ADMIN",
            "--security-opt",
            "seccomp=unconfined",
            "--security-opt",
            "apparmor=unconfined",
            "--tmpfs",
            "/run",
            "--tmpfs",
            "/run/lock",
            "-v",
            "/sys/fs/cgroup:/sys/fs/cgroup:ro",
            "--entrypoint",
            "/lib/systemd/systemd",
            "go-id:v.1-debian",
        ]),
        "docker run systemd",
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut state = String::new();
    while std::time::Instant::now() < deadline {
        state = String::from_utf8_lossy(
            &d.docker(&["exec", "sd", "systemctl", "is-active", "go-id"])
                .stdout,
        )
        .trim()
        .to_string();
        if state == "active"
            && d.docker(&["exec", "sd", "/usr/local/bin/go-id", "--probe"])
                .status
                .success()
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let status = String::from_utf8_lossy(
        &d.docker(&["exec", "sd", "systemctl", "status", "go-id", "--no-pager"])
            .stdout,
    )
    .into_owned();
    assert_eq!(state, "active", "{status}");
    // go-id's own probe answers health inside the container's network namespace.
    assert!(
        d.docker(&["exec", "sd", "/usr/local/bin/go-id", "--probe"])
            .status
            .success(),
        "{status}"
    );
    let uid = ok(
        d.docker(&[
            "exec",
            "sd",
            "sh",
            "-c",
            &status_lines("$(systemctl show -p MainPID --value go-id)"),
        ]),
        "uid",
    );
    assert_service_process(&uid, true, "docker systemd");
    let env = ok(
        d.docker(&[
            "exec",
            "sd",
            "sh",
            "-c",
            "tr '\\0' '\\n' < /proc/$(systemctl show -p MainPID --value go-id)/environ",
        ]),
        "environ",
    );
    assert!(
        env.contains("MODE=it's \"on\" $HOME 100%\nline2\n"),
        "{env}"
    );
    ok(d.docker(&["rm", "-f", "sd"]), "docker rm");
}

#[test]
fn a_docker_built_image_with_deletions_flattens_into_an_incus_image() {
    // A real docker image of two layers, the second deleting files (docker's whiteouts), saved
    // by `docker save` and used as the base of a system image: what is deleted stays deleted,
    // what is added is there, no whiteout reaches the flat root filesystem.
    let Some(base) = debian_base("systemd", &[]) else {
        return;
    };
    let Some(d) = Dockerd::start() else { return };
    let p = Project::new().with_example("go-id");
    p.run(&["build", "go-id"]).ok();
    ok(
        d.docker(&["import", base.to_str().unwrap(), "deb:sd"]),
        "docker import",
    );
    let ctx = p.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM deb:sd\nRUN rm -rf /usr/share/doc/* /etc/motd && echo added > /etc/added\n",
    )
    .unwrap();
    ok(
        d.docker(&[
            "build",
            "--network",
            "none",
            "-q",
            "-t",
            "deb:derived",
            ctx.to_str().unwrap(),
        ]),
        "docker build",
    );
    let saved = p.path().join("derived.tar");
    ok(
        d.docker(&["save", "-o", saved.to_str().unwrap(), "deb:derived"]),
        "docker save",
    );
    let out = p.path().join("derived.incus.tar.zst");
    let j = p
        .run(&[
            "scaffold",
            "go-id",
            "--base",
            &format!("docker-archive:{}", saved.display()),
            "--format",
            "incus",
            "--compress",
            "zstd",
            "--level",
            "1",
            "-o",
            out.to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(j["service"], "systemd", "{j}");
    let files = binship_image::flat::list_files(std::fs::File::open(&out).unwrap()).unwrap();
    let names: std::collections::BTreeSet<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "rootfs/etc/added",
        "rootfs/usr/local/bin/go-id",
        "rootfs/etc/systemd/system/go-id.service",
        "rootfs/usr/lib/os-release",
    ] {
        assert!(names.contains(want), "{want} missing");
    }
    assert!(
        !names.contains("rootfs/etc/motd"),
        "a deleted file came back"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("rootfs/usr/share/doc/")),
        "deleted docs came back"
    );
    assert!(
        !names.iter().any(|n| n.contains(".wh.")),
        "a whiteout leaked"
    );
    // The flat size is the flattened tar's, smaller than the layers' sum.
    let flat = j["sizes"]["image_uncompressed"].as_u64().unwrap();
    let layers: u64 = std::fs::metadata(&saved).unwrap().len();
    assert!(flat < layers, "flat {flat} vs saved layers {layers}");
    let reader = binship_sink::sink_for("incus").unwrap().open(&out).unwrap();
    binship_image::validate::validate(&*reader, &Default::default()).unwrap();
}
