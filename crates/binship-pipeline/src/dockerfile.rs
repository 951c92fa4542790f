//! A docker build context for a tested version: `DIR/Dockerfile`, a copy of the binary and, for
//! the static base, `rootfs.tar`. The Dockerfile follows the Dockerfile reference with no
//! BuildKit-only syntax (no `# syntax=` line, no `COPY --chmod`), so docker's legacy builder
//! takes it too. Written into a temp dir beside DIR, then renamed into place.

use std::path::{Path, PathBuf};

use binship_image::Compression;
use binship_recipe::{resolve_user, ContainerSettings, Recipe};
use binship_store::Store;

use crate::base::{import, BaseSpec};
use crate::ErrorClass;

/// Why no context was written: the class (not found, tests failed, usage, conflict, other) and
/// one line naming the version or path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DockerfileError {
    pub class: ErrorClass,
    pub message: String,
}

fn err(class: ErrorClass, message: impl Into<String>) -> DockerfileError {
    DockerfileError {
        class,
        message: message.into(),
    }
}

/// A written context.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DockerContext {
    pub app: String,
    pub version: u32,
    pub dir: PathBuf,
    pub dockerfile: PathBuf,
    /// "static" or "scratch".
    pub base: &'static str,
}

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

/// Writes the context of `app` v.`version` to `out` (default: `docker/APP` beside the store).
///
/// # Errors
/// Not found: no such version. Tests failed: its tests did not pass. Usage: the recipe's base
/// is neither scratch nor static, or its user is bad. Conflict: `out` exists without `force`.
/// Other: a file cannot be written (nothing is left half-written).
pub fn write_context(
    store: &Store,
    app: &str,
    version: u32,
    out: Option<PathBuf>,
    force: bool,
) -> Result<DockerContext, DockerfileError> {
    let rec = store
        .record(app, version)
        .map_err(|e| err(ErrorClass::NotFound, e.to_string()))?;
    if !rec.all_passed() {
        return Err(err(
            ErrorClass::TestsFailed,
            format!(
                "{app} v.{version}: tests did not pass ({}/{})",
                rec.passed, rec.total
            ),
        ));
    }
    let settings = Recipe::load(&store.recipe_path(app))
        .map(|r| r.container)
        .unwrap_or_default();
    let static_base = match settings.base.as_str() {
        "static" => true,
        "scratch" => false,
        other => return Err(err(ErrorClass::Usage, format!("dockerfile: the recipe's base `{other}` is not scratch or static; a Dockerfile FROM another image is up to you (binship scaffold --base handles rootfs bases)"))),
    };
    let tests = format!("{}/{} {}", rec.passed, rec.total, rec.status);
    let text = dockerfile(
        app,
        version,
        &settings,
        static_base,
        &tests,
        &rec.binary.sha256,
    )
    .map_err(|m| err(ErrorClass::Usage, m))?;
    let dir = out.unwrap_or_else(|| {
        let root = store.root();
        root.parent().unwrap_or(root).join("docker").join(app)
    });
    if dir.exists() && !force {
        return Err(err(
            ErrorClass::Conflict,
            format!(
                "{} exists; use --force to replace it",
                binship_store::display_path(&dir).display()
            ),
        ));
    }
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let other = |m: String| err(ErrorClass::Other, m);
    std::fs::create_dir_all(&parent)
        .map_err(|e| other(format!("creating {}: {e}", parent.display())))?;
    let tmp = parent.join(format!(".{app}.dockerfile-tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let built = (|| -> Result<(), String> {
        std::fs::create_dir_all(&tmp).map_err(|e| format!("creating {}: {e}", tmp.display()))?;
        let bin = tmp.join(app);
        std::fs::copy(store.version_dir(app, version).join(&rec.binary.name), &bin)
            .map_err(|e| format!("copying the binary: {e}"))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o555))
            .map_err(|e| e.to_string())?;
        if static_base {
            let base = import(&BaseSpec::Static, &Default::default(), &Default::default())
                .map_err(|e| e.to_string())?;
            let f = std::fs::File::create(tmp.join("rootfs.tar")).map_err(|e| e.to_string())?;
            binship_image::layer::write_any_layer(
                &base.layers[0],
                Compression::None,
                0,
                f,
                None,
                false,
            )
            .map_err(|e| format!("writing rootfs.tar: {e}"))?;
        }
        std::fs::write(tmp.join("Dockerfile"), &text).map_err(|e| e.to_string())?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| format!("replacing {}: {e}", dir.display()))?;
        }
        std::fs::rename(&tmp, &dir).map_err(|e| format!("writing {}: {e}", dir.display()))
    })();
    if let Err(m) = built {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(other(m));
    }
    Ok(DockerContext {
        app: app.into(),
        version,
        dockerfile: dir.join("Dockerfile"),
        dir,
        base: if static_base { "static" } else { "scratch" },
    })
}
