//! `binship deploy APP --to docker|podman|lxc|incus`: the version (current, else the latest)
//! deployed by `binship_deploy::deploy`, and its answer printed.

use binship_deploy::{deploy, DeployRequest, SystemOpts};
use binship_store::Store;

use crate::cli::DeployArgs;
use crate::exit;
use binship_lifecycle::app_version;

pub fn run(store: &Store, json_mode: bool, a: &DeployArgs) -> i32 {
    let to = a.to.as_str();
    let fail = |code: i32, m: &str| crate::output::fail(json_mode, code, m);
    let (app, version) = match app_version(store, &a.app) {
        Ok(x) => x,
        Err((c, m)) => return fail(exit::code(c), &m),
    };
    let req = DeployRequest {
        app,
        version,
        to: a.to.clone(),
        name: a.name.clone(),
        port: a.port,
        engine: a.engine.clone(),
        run_args: a.engine_run_args.clone(),
        tag: a.tag.clone(),
        system: SystemOpts {
            base: a.base.clone(),
            lxcpath: a.lxcpath.clone(),
            lxc_conf: a.lxc_conf.clone(),
            incus_config: a.incus_config.clone(),
        },
    };
    let j = match deploy(store, &req) {
        Ok(j) => j,
        Err(e) => return fail(exit::code(e.class), &e.message),
    };
    if json_mode {
        crate::output::json(&j);
        return exit::OK;
    }
    let (app, container) = (
        j["app"].as_str().unwrap_or(""),
        j["container"].as_str().unwrap_or(""),
    );
    if matches!(to, "lxc" | "incus") {
        say!(
            "✓ Deployed: {app} v.{} as {container} ({to}, service {})",
            j["version"],
            j["service"].as_str().unwrap_or("")
        );
        println!("  healthy after {} ms", j["health"]["ready_ms"]);
    } else {
        say!("✓ Deployed: {app} v.{} as {container} ({to})", j["version"]);
        if let Some(p) = j["health"]["port"].as_u64() {
            println!(
                "  healthy on 127.0.0.1:{p} after {} ms",
                j["health"]["ready_ms"]
            );
        }
    }
    exit::OK
}
