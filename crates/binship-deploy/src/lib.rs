//! Deploying a stored version: [`deploy`] packs it for the engine, loads it, (re)starts a
//! container — docker and podman on the host network with the recipe's env and arguments, LXC
//! and Incus as system containers booting the service — and waits until it is healthy (the
//! readiness check from the host, or the recipe's container.healthcheck run inside a system
//! container). [`tool::Tool`] runs the engines' command lines. Failures are [`DeployError`]s
//! whose [`ErrorClass`] gives the exit code.

pub mod tool;

use std::time::Duration;

use binship_build::tester::ready_within;
use binship_pipeline::scaffold::{scaffold, ScaffoldRequest};
use binship_recipe::Recipe;
use binship_store::Store;
use serde_json::json;

use binship_pipeline::ErrorClass;

use crate::tool::{first_line, Tool};

/// Why a deploy failed: the class (prerequisite, usage, other, or the scaffold's) and one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeployError {
    pub class: ErrorClass,
    pub message: String,
}

fn err(class: ErrorClass, message: impl Into<String>) -> DeployError {
    DeployError {
        class,
        message: message.into(),
    }
}

/// What to deploy, and where.
#[derive(Debug, Clone, Default)]
pub struct DeployRequest {
    pub app: String,
    pub version: u32,
    /// docker, podman, lxc or incus.
    pub to: String,
    /// The container's name (default: the app's).
    pub name: Option<String>,
    /// docker/podman: run and probe on this port (passed the way the recipe's tests pass it).
    pub port: Option<u16>,
    /// docker/podman: the engine's command line (default: `to`), e.g. `podman --root /x`.
    pub engine: Option<String>,
    /// docker/podman: extra `run` arguments.
    pub run_args: Option<String>,
    /// docker/podman: the image's name (default `APP:v.N`), checked as docker checks it.
    pub tag: Option<String>,
    pub system: SystemOpts,
}

/// Deploys; returns the answer `binship deploy --json` prints (status, app, version, engine,
/// container, health, ...).
///
/// # Errors
/// [`DeployError`]: an unknown target (usage), the engine missing or not running (prerequisite), a missing base or
/// healthcheck for a system container (usage), packing (the scaffold's class), loading,
/// starting or an unhealthy container (other).
pub fn deploy(store: &Store, req: &DeployRequest) -> Result<serde_json::Value, DeployError> {
    if !TARGETS.contains(&req.to.as_str()) {
        return Err(err(
            ErrorClass::Usage,
            format!(
                "cannot deploy to `{}` (one of {})",
                req.to,
                TARGETS.join(", ")
            ),
        ));
    }
    // Bad input is refused before any engine is asked.
    if let Some(t) = &req.tag {
        binship_pipeline::scaffold::check_tag(t)
            .map_err(|e| err(ErrorClass::Usage, e.to_string()))?;
    }
    if matches!(req.to.as_str(), "lxc" | "incus") {
        if req.tag.is_some() {
            return Err(err(
                ErrorClass::Usage,
                format!(
                    "--tag names a docker or podman image; {} deploys by container name (--name)",
                    req.to
                ),
            ));
        }
        system(store, req)
    } else {
        application(store, req)
    }
}

/// Where [`deploy`] can deploy to (`DeployRequest::to`).
pub const TARGETS: &[&str] = &["docker", "podman", "lxc", "incus"];

/// Options only system containers use.
#[derive(Debug, Default, Clone)]
pub struct SystemOpts {
    /// The base (default: the recipe's container.bases.debian, else .alpine).
    pub base: Option<String>,
    /// LXC: the lxcpath (-P).
    pub lxcpath: Option<String>,
    /// LXC: a config file for lxc-create (-f), e.g. the network.
    pub lxc_conf: Option<String>,
    /// Incus: instance config for `incus launch -c KEY=VALUE`.
    pub incus_config: Vec<String>,
}

/// The app's container and test settings (the defaults when it has no readable recipe).
fn recipe_settings(
    store: &Store,
    app: &str,
) -> (
    binship_recipe::ContainerSettings,
    binship_recipe::TestSettings,
) {
    Recipe::load(&store.recipe_path(app))
        .map(|r| (r.container, r.test))
        .unwrap_or_default()
}

/// A fresh staging dir for this deploy in the store's `.binship/tmp` (the caller removes it).
fn work_dir(store: &Store, app: &str) -> Result<std::path::PathBuf, DeployError> {
    let tmp = store
        .root()
        .join(".binship/tmp")
        .join(format!("deploy@{}-{app}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)
        .map_err(|e| err(ErrorClass::Other, format!("{}: {e}", tmp.display())))?;
    Ok(tmp)
}

/// docker or podman: load the image, run it on the host network, probe it.
fn application(store: &Store, req: &DeployRequest) -> Result<serde_json::Value, DeployError> {
    let (app, v, to) = (req.app.clone(), req.version, req.to.as_str());
    let (name, port, run_args) = (req.name.as_deref(), req.port, req.run_args.as_deref());
    let engine = Tool::parse(req.engine.as_deref().unwrap_or(to));
    let run_args = run_args
        .map(|a| binship_recipe::shell_words("--engine-run-args", a))
        .transpose()
        .map_err(|m| err(ErrorClass::Usage, m))?
        .unwrap_or_default();
    // deploy names, replaces and probes its container: another name would escape all three.
    if let Some(a) = run_args
        .iter()
        .find(|a| *a == "--name" || a.starts_with("--name="))
    {
        return Err(err(
            ErrorClass::Usage,
            format!("--engine-run-args: {a} names the container; use deploy --name"),
        ));
    }
    let eng = |args: &[&str]| engine.output(args);
    let (settings, test) = recipe_settings(store, &app);
    // The container runs the image's own entrypoint and Cmd; --port changes only the port, by
    // the recipe's test.port_via rule (the test's arguments never reach it).
    let ported = match port {
        Some(p) => Some(test.run_on_port(&settings.args, p).ok_or_else(|| {
            err(
                ErrorClass::Usage,
                format!(
                    "deploy --port {p}: the image's Cmd {:?} has no flag to take the port: test.port_arg {:?} names none (a positional port) and the Cmd is not empty; set test.port_arg to the flag the service takes (e.g. [\"--port\", \"{{port}}\"]) or test.port_via = \"env\"",
                    settings.args, test.port_arg
                ),
            )
        })?),
        None => None,
    };
    // Is the engine there and running?
    match eng(&["version"]) {
        Err(e) => {
            return Err(err(
                ErrorClass::Prerequisite,
                format!("{to} is not installed ({}: {e})", engine.name()),
            ))
        }
        Ok(o) if !o.status.success() => {
            return Err(err(
                ErrorClass::Prerequisite,
                format!(
                    "{to} is not running ({} version: {})",
                    engine.name(),
                    first_line(&o)
                ),
            ))
        }
        Ok(_) => {}
    }
    let tmp = work_dir(store, &app)?;
    let format = if to == "podman" {
        binship_sink::Format::OciArchive
    } else {
        binship_sink::Format::DockerArchive
    };
    let archive = tmp.join("image.tar");
    let image = binship_pipeline::scaffold::check_tag(
        req.tag.as_deref().unwrap_or(&format!("{app}:v.{v}")),
    )
    .map_err(|e| err(ErrorClass::Usage, e.to_string()))?;
    let packed = scaffold(
        store,
        &ScaffoldRequest {
            app: app.clone(),
            version: v,
            format,
            out: Some(archive.clone()),
            tag: Some(image.clone()),
            // The container deploy starts is the test: it is probed below.
            no_image_test: true,
            // The image declares the port it is run on: below 1024 as a non-root user, its
            // binary then carries CAP_NET_BIND_SERVICE (docker's default set keeps it).
            overrides: binship_pipeline::scaffold::Overrides {
                ports: port.map(|p| vec![u32::from(p)]),
                ..Default::default()
            },
            ..Default::default()
        },
    );
    let result = (|| -> Result<serde_json::Value, DeployError> {
        let o = packed.map_err(|e| err(e.class(), e.to_string()))?;
        let load = eng(&["load", "-i", archive.to_str().unwrap_or("")])
            .map_err(|e| err(ErrorClass::Other, e.to_string()))?;
        if !load.status.success() {
            return Err(err(
                ErrorClass::Other,
                format!("{to} load: {}", first_line(&load)),
            ));
        }
        let name = name.map(String::from).unwrap_or_else(|| app.clone());
        let _ = eng(&["rm", "-f", &name]);
        let mut run: Vec<String> = [
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "host",
            "--label",
            "io.binship.deploy=true",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        run.extend(run_args);
        // The probe port: --port, else the first port the image exposes.
        let (args, env, probe) = match (&ported, port) {
            // `{root}` (the test root of port_arg or the Cmd) is the image's own root: `/`.
            (Some(r), Some(p)) => (
                r.cmd.iter().map(|a| binship_recipe::in_image(a)).collect(),
                r.env.clone(),
                Some(p),
            ),
            _ => (vec![], vec![], settings.ports.first().copied()),
        };
        for (k, v) in env {
            run.push("-e".into());
            run.push(format!("{k}={v}"));
        }
        // podman names loaded docker/oci archives localhost/<name>; both accept the short name.
        run.push(image.clone());
        run.extend(args);
        let refs: Vec<&str> = run.iter().map(String::as_str).collect();
        let started = eng(&refs).map_err(|e| err(ErrorClass::Other, e.to_string()))?;
        // A failed deploy leaves no container behind (podman keeps a `Created` one).
        let remove = || {
            let _ = eng(&["rm", "-f", &name]);
        };
        if !started.status.success() {
            remove();
            return Err(err(
                ErrorClass::Other,
                format!("{to} run: {}", tool::engine_error(&started)),
            ));
        }
        let id = String::from_utf8_lossy(&started.stdout).trim().to_string();
        let health = (|| -> Result<serde_json::Value, DeployError> {
            Ok(match probe {
                Some(p) => {
                    let addr = ([127, 0, 0, 1], p).into();
                    // Asked of the engine at most twice a second (each is a process).
                    let now = std::time::Instant::now();
                    let mut asked = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
                    let mut alive = || {
                        if asked.elapsed() < Duration::from_millis(500) {
                            return Ok(());
                        }
                        asked = std::time::Instant::now();
                        let st = eng(&["inspect", "-f", "{{.State.Running}}", &name])
                            .map_err(|e| e.to_string())?;
                        if String::from_utf8_lossy(&st.stdout).trim() == "false" {
                            let logs = eng(&["logs", &name])
                                .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string())
                                .unwrap_or_default();
                            return Err(format!(
                                "the container exited ({})",
                                logs.lines().last().unwrap_or("")
                            ));
                        }
                        Ok(())
                    };
                    let t = ready_within(
                        addr,
                        test.ready_path.as_deref(),
                        Duration::from_secs(30),
                        &mut alive,
                    )
                    .map_err(|e| {
                        err(
                            ErrorClass::Other,
                            format!("{name} started but is not healthy: {e}"),
                        )
                    })?;
                    json!({ "port": p, "path": test.ready_path, "ready_ms": t.as_millis() as u64 })
                }
                // Nothing to probe: it must at least still be running a moment later.
                None => {
                    std::thread::sleep(Duration::from_secs(1));
                    let st = eng(&[
                        "inspect",
                        "-f",
                        "{{.State.Running}} {{.State.ExitCode}}",
                        &name,
                    ])
                    .map_err(|e| err(ErrorClass::Other, e.to_string()))?;
                    let st = String::from_utf8_lossy(&st.stdout).trim().to_string();
                    if let Some(code) = st.strip_prefix("false ") {
                        let logs = eng(&["logs", &name])
                            .map(|o| {
                                let out = String::from_utf8_lossy(&o.stdout).trim().to_string();
                                let e = String::from_utf8_lossy(&o.stderr).trim().to_string();
                                if e.is_empty() {
                                    out
                                } else {
                                    e
                                }
                            })
                            .unwrap_or_default();
                        return Err(err(
                        ErrorClass::Other,
                        format!(
                            "{name} exited at once (exit {code}{}); deploy starts services: give the app a port (--port or container.ports) to probe",
                            logs.lines().last().map(|l| format!(": {l}")).unwrap_or_default()
                        ),
                    ));
                    }
                    json!(null)
                }
            })
        })();
        let health = health.inspect_err(|_| remove())?;
        Ok(json!({
            "status": "deployed", "app": app, "version": v, "engine": to, "image": image,
            "container": name, "id": id, "health": health, "format": o.written.format,
        }))
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// The one line for a missing LXC bridge.
fn no_bridge(bridge: &str) -> String {
    format!("the container's network is bridged to {bridge}, which this host does not have: start it (systemctl start lxc-net) or pass --lxc-conf FILE with `lxc.net.0.type = empty` (loopback only) or `none` (the host's network)")
}

/// The bridge an LXC container config links its network to, when the host has no such
/// interface (`/sys/class/net/<bridge>`).
fn missing_bridge(config: &str) -> Option<String> {
    config
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.trim().starts_with("lxc.net.") && k.trim().ends_with(".link"))
        .map(|(_, v)| v.trim().to_string())
        .find(|b| !std::path::Path::new("/sys/class/net").join(b).exists())
}

/// LXC (lxc-create -t local + lxc-start) or Incus (image import + launch).
fn system(store: &Store, req: &DeployRequest) -> Result<serde_json::Value, DeployError> {
    let (app, v, to, sys) = (req.app.clone(), req.version, req.to.as_str(), &req.system);
    let name = req.name.as_deref();
    // Installed, and for Incus, running?
    let check = match to {
        "lxc" => Tool::parse("lxc-create").output(&["--version"]),
        _ => Tool::parse("incus").output(&["info"]),
    };
    match check {
        Err(_) => {
            return Err(err(
                ErrorClass::Prerequisite,
                format!("{to} is not installed"),
            ))
        }
        Ok(o) if !o.status.success() => {
            return Err(err(
                ErrorClass::Prerequisite,
                format!("{to} is not running ({})", first_line(&o)),
            ))
        }
        Ok(_) => {}
    }
    let (settings, test) = recipe_settings(store, &app);
    // The recipe's healthcheck, or binship's probe (container.probe) of its readiness check.
    let healthcheck = settings
        .healthcheck_for(&test, settings.ports.first().map(|p| u32::from(*p)))
        .map_err(|e| err(ErrorClass::Usage, e.0))?;
    let base = sys
        .base
        .clone()
        .or_else(|| settings.bases.get("debian").cloned())
        .or_else(|| settings.bases.get("alpine").cloned());
    let Some(base) = base else {
        return Err(err(
            ErrorClass::Usage,
            format!("deploy --to {to} needs a base with an init: --base rootfs:..., or container.bases.debian in {}", store.recipe_path(&app).display()),
        ));
    };
    if healthcheck.is_empty() {
        return Err(err(
            ErrorClass::Usage,
            format!("deploy --to {to} checks health inside the container: set container.probe = true (binship's probe of the readiness check) or container.healthcheck in {}", store.recipe_path(&app).display()),
        ));
    }
    // LXC's default config (lxc-create without --lxc-conf) bridges to lxcbr0: a host without
    // that bridge is told before anything is packed.
    if to == "lxc" && sys.lxc_conf.is_none() {
        let default = Tool::parse("lxc-config")
            .output(&["lxc.default_config"])
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/etc/lxc/default.conf".into());
        let config = std::fs::read_to_string(&default).unwrap_or_default();
        if let Some(bridge) = missing_bridge(&config) {
            return Err(err(ErrorClass::Prerequisite, no_bridge(&bridge)));
        }
    }
    let tmp = work_dir(store, &app)?;
    let name = name.map(String::from).unwrap_or_else(|| app.clone());
    let out = tmp.join(if to == "lxc" { "lxc" } else { "incus.tar.xz" });
    let result = (|| -> Result<serde_json::Value, DeployError> {
        let o = scaffold(
            store,
            &ScaffoldRequest {
                app: app.clone(),
                version: v,
                format: if to == "lxc" {
                    binship_sink::Format::Lxc
                } else {
                    binship_sink::Format::Incus
                },
                base: Some(base.clone()),
                out: Some(out.clone()),
                alias: Some(name.clone()),
                xz_preset: Some(0),
                // Deploying boots it and checks its health: booting it once more first is waste.
                no_image_test: true,
                ..Default::default()
            },
        )
        .map_err(|e| err(e.class(), e.to_string()))?;
        let e = |m: tool::ToolFailed| err(ErrorClass::Other, m.0);
        let mut lxc_prefix: Vec<String> = Vec::new();
        if let Some(p) = &sys.lxcpath {
            lxc_prefix.extend(["-P".to_string(), p.clone()]);
        }
        lxc_prefix.extend(["-n".to_string(), name.clone()]);
        let lxc = |tool: &str| {
            let mut c = vec![tool.to_string()];
            c.extend(lxc_prefix.iter().cloned());
            Tool::new(c)
        };
        let exec: Tool = if to == "lxc" {
            let _ = lxc("lxc-stop").output(&["-k"]);
            let _ = lxc("lxc-destroy").output(&["-f"]);
            let mut args: Vec<String> = Vec::new();
            if let Some(c) = &sys.lxc_conf {
                args.extend(["-f".to_string(), c.clone()]);
            }
            args.extend(["-t", "local", "--", "--metadata"].map(String::from));
            args.push(out.join("meta.tar.xz").display().to_string());
            args.push("--fstree".into());
            args.push(out.join("rootfs.tar.xz").display().to_string());
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            lxc("lxc-create").run(&refs).map_err(e)?;
            // LXC's default network bridges to lxcbr0 (lxc-net): without it lxc-start fails
            // with a wall of log lines; say so first.
            let dir = sys.lxcpath.clone().map_or_else(
                || std::path::PathBuf::from("/var/lib/lxc"),
                std::path::PathBuf::from,
            );
            let config =
                std::fs::read_to_string(dir.join(&name).join("config")).unwrap_or_default();
            if let Some(bridge) = missing_bridge(&config) {
                let _ = lxc("lxc-destroy").output(&["-f"]);
                return Err(err(ErrorClass::Prerequisite, no_bridge(&bridge)));
            }
            lxc("lxc-start").run(&["-d"]).map_err(e)?;
            Tool::new(lxc("lxc-attach").argv(&["--"]))
        } else {
            let incus = Tool::parse("incus");
            let _ = incus.output(&["delete", "-f", &name]);
            let _ = incus.output(&["image", "delete", &name]);
            incus
                .run(&[
                    "image",
                    "import",
                    out.to_str().unwrap_or(""),
                    "--alias",
                    &name,
                ])
                .map_err(e)?;
            let mut launch: Vec<&str> = vec!["launch", &name, &name];
            for c in &sys.incus_config {
                launch.extend(["-c", c.as_str()]);
            }
            incus.run(&launch).map_err(e)?;
            Tool::new(incus.argv(&["exec", &name, "--"]))
        };
        // Healthy when the recipe's healthcheck passes inside (the service boots with the init).
        let started = std::time::Instant::now();
        let mut last;
        loop {
            let check: Vec<&str> = healthcheck.iter().map(String::as_str).collect();
            match exec.output(&check) {
                Ok(o) if o.status.success() => break,
                Ok(o) => last = format!("{}{}", String::from_utf8_lossy(&o.stdout), first_line(&o)),
                Err(err) => last = err.to_string(),
            }
            if started.elapsed() > Duration::from_secs(120) {
                return Err(err(
                    ErrorClass::Other,
                    format!(
                        "{name} started but its healthcheck never passed: {}",
                        last.trim()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        Ok(json!({
            "status": "deployed", "app": app, "version": v, "engine": to, "container": name,
            "base": o.facts.base, "service": o.facts.service,
            "health": { "check": healthcheck, "ready_ms": started.elapsed().as_millis() as u64 },
        }))
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_missing_bridge_is_named() {
        let c =
            "lxc.net.0.type = veth\nlxc.net.0.link = binship-nonexistent0\nlxc.net.0.flags = up\n";
        assert_eq!(
            super::missing_bridge(c).as_deref(),
            Some("binship-nonexistent0")
        );
        assert_eq!(super::missing_bridge("lxc.net.0.link = lo\n"), None);
        assert_eq!(super::missing_bridge("lxc.net.0.type = empty\n"), None);
    }
}
