//! `binship dockerfile APP [-o DIR]`: a complete docker build context for a tested version —
//! `DIR/Dockerfile`, a copy of the binary and, for the static base, `rootfs.tar` — that
//! docker's legacy builder takes too (no `# syntax=` line, no `COPY --chmod`). Written into a
//! temp dir beside DIR, then renamed into place.

use std::path::{Path, PathBuf};

use binship_image::Compression;
use binship_pipeline::base::{import, BaseSpec};
use binship_recipe::{resolve_user, ContainerSettings, Recipe};
use binship_store::Store;
use serde_json::json;

use crate::exit;
use crate::output::display_path;
use binship_lifecycle::app_version;

fn quote_json(v: &[String]) -> String {
    serde_json::to_string(v).expect("json")
}

/// The Dockerfile text.
fn dockerfile(
    app: &str,
    version: u32,
    c: &ContainerSettings,
    static_base: bool,
    tests: &str,
    sha: &str,
) -> Result<String, String> {
    let user = resolve_user(&c.user)?;
    let bin = format!("/usr/local/bin/{app}");
    let mut d = format!(
        "# {app} v.{version}, tested by binship ({tests}; sha256 {sha}).\n\
         # Build: docker build -t {app}:v.{version} .   (the legacy builder works too: DOCKER_BUILDKIT=0)\n\
         FROM scratch\n"
    );
    if static_base {
        d += "# binship's distroless-like base: passwd/group with nonroot, CA certificates, /tmp.\nADD rootfs.tar /\n";
    }
    d += &format!("COPY {app} {bin}\n");
    for (k, v) in &c.env {
        d += &format!("ENV {k}={}\n", serde_json::to_string(v).expect("json"));
    }
    for p in &c.ports {
        d += &format!("EXPOSE {p}/tcp\n");
    }
    d += &format!("WORKDIR {}\n", c.workdir);
    d += &format!("USER {user}\n");
    d += &format!("STOPSIGNAL {}\n", c.stop_signal);
    if !c.healthcheck.is_empty() {
        d += &format!(
            "HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD {}\n",
            quote_json(&c.healthcheck)
        );
    }
    d += &format!(
        "LABEL org.opencontainers.image.title={app:?} org.opencontainers.image.version=\"v.{version}\" io.binship.binary.sha256={sha:?} io.binship.tests={tests:?}\n"
    );
    d += &format!("ENTRYPOINT {}\n", quote_json(&[bin]));
    if !c.args.is_empty() {
        d += &format!("CMD {}\n", quote_json(&c.args));
    }
    Ok(d)
}

pub fn run(
    store: &Store,
    json_mode: bool,
    app: &str,
    version: Option<&str>,
    out: Option<PathBuf>,
    force: bool,
) -> i32 {
    let fail = |code: i32, m: &str| crate::output::fail(json_mode, code, m);
    let spec = version
        .map(|v| format!("{app}:{v}"))
        .unwrap_or_else(|| app.to_string());
    let (app, v) = match app_version(store, &spec) {
        Ok(x) => x,
        Err((c, m)) => return fail(exit::code(c), &m),
    };
    let rec = match store.record(&app, v) {
        Ok(r) if r.all_passed() => r,
        Ok(r) => {
            return fail(
                exit::TESTS_FAILED,
                &format!("{app} v.{v}: tests did not pass ({}/{})", r.passed, r.total),
            )
        }
        Err(e) => return fail(exit::NOT_FOUND, &e.to_string()),
    };
    let settings = Recipe::load(&store.recipe_path(&app))
        .map(|r| r.container)
        .unwrap_or_default();
    let static_base = match settings.base.as_str() {
        "static" => true,
        "scratch" => false,
        other => {
            return fail(
                exit::USAGE,
                &format!("dockerfile: the recipe's base `{other}` is not scratch or static; a Dockerfile FROM another image is up to you (binship scaffold --base handles rootfs bases)"),
            )
        }
    };
    let dir = out.unwrap_or_else(|| {
        store
            .root()
            .parent()
            .unwrap_or(store.root())
            .join("docker")
            .join(&app)
    });
    if dir.exists() && !force {
        return fail(
            exit::CONFLICT,
            &format!(
                "{} exists; use --force to replace it",
                display_path(&dir).display()
            ),
        );
    }
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    if let Err(e) = std::fs::create_dir_all(&parent) {
        return fail(exit::OTHER, &format!("creating {}: {e}", parent.display()));
    }
    let tmp = parent.join(format!(".{app}.dockerfile-tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let tests = format!("{}/{} {}", rec.passed, rec.total, rec.status);
    let built = (|| -> Result<(), String> {
        std::fs::create_dir_all(&tmp).map_err(|e| format!("creating {}: {e}", tmp.display()))?;
        let bin = tmp.join(&app);
        std::fs::copy(store.version_dir(&app, v).join(&rec.binary.name), &bin)
            .map_err(|e| format!("copying the binary: {e}"))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o555))
            .map_err(|e| e.to_string())?;
        if static_base {
            let base = import(&BaseSpec::Static, &Default::default(), &Default::default())
                .map_err(|e| e.to_string())?;
            let f = std::fs::File::create(tmp.join("rootfs.tar")).map_err(|e| e.to_string())?;
            let created = 0;
            binship_image::layer::write_any_layer(
                &base.layers[0],
                Compression::None,
                created,
                f,
                None,
                false,
            )
            .map_err(|e| format!("writing rootfs.tar: {e}"))?;
        }
        let text = dockerfile(&app, v, &settings, static_base, &tests, &rec.binary.sha256)?;
        std::fs::write(tmp.join("Dockerfile"), text).map_err(|e| e.to_string())?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| format!("replacing {}: {e}", dir.display()))?;
        }
        std::fs::rename(&tmp, &dir).map_err(|e| format!("writing {}: {e}", dir.display()))
    })();
    if let Err(m) = built {
        let _ = std::fs::remove_dir_all(&tmp);
        return fail(exit::OTHER, &m);
    }
    if json_mode {
        crate::output::json(&json!({
            "status": "written", "app": app, "version": v, "dir": dir,
            "dockerfile": dir.join("Dockerfile"), "base": if static_base { "static" } else { "scratch" },
        }));
    } else {
        println!("{}", display_path(&dir.join("Dockerfile")).display());
        eprintln!(
            "build: docker build -t {app}:v.{v} {}",
            display_path(&dir).display()
        );
    }
    exit::OK
}
