//! Scaffolding: [`scaffold`] packs one stored, tested version into an image ([`ImageSpec`]:
//! base layer + binary layer + config from the recipe's `[container]` section and flags) and
//! writes it through a sink. Build and publish meet only through the version's record.

use std::collections::BTreeMap;
use std::path::PathBuf;

use binship_image::bases::{Input, StaticOptions};
use binship_image::config::Layer;
use binship_image::import::{Distro, Limits};
use binship_image::services::{Manager, Restart, ServiceSpec};
use binship_image::{Entry, EntryKind};

use crate::base::{import, BaseSpec, ImportedBase};
use binship_image::accounts::{Accounts, ImageUser};
use binship_image::config::Healthcheck;
use binship_image::{Compression, ContainerConfig, ImageError, ImageSpec, Platform, Rootfs};
use binship_recipe::{resolve_user, validate_app_name, ContainerSettings, Recipe, RecipeError};
use binship_sink::{Format, SinkError, SystemImage, WriteRequest, Written};
use binship_store::{Store, StoreError, TestResults};
use serde::Serialize;

use crate::ErrorClass;

/// Flags that override the recipe's `[container]` section.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub args: Option<Vec<String>>,
    /// "K=V", added to (and overriding) the recipe's env.
    pub env: Vec<String>,
    pub ports: Option<Vec<u32>>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub stop_signal: Option<String>,
}

/// What to scaffold.
#[derive(Debug, Clone, Default)]
pub struct ScaffoldRequest {
    pub app: String,
    pub version: u32,
    /// The output format.
    pub format: Format,
    /// scratch or static (default: the recipe's, else static).
    pub base: Option<String>,
    /// None: the format's default.
    pub compression: Option<Compression>,
    /// Output path (default `images/docker/<app>-<base>/<name>`).
    pub out: Option<PathBuf>,
    /// Replace an existing output that is not an image of this format (an image of it is
    /// replaced when it differs, kept when the same, with or without this).
    pub force: bool,
    /// Cancelled (Ctrl-C, SIGTERM): the image test stops, its container and temp dirs go, and
    /// the scaffold ends [`ScaffoldError::Interrupted`].
    pub cancel: binship_build::Cancel,
    pub tag: Option<String>,
    /// Pack a version whose tests failed or are missing (recorded in the labels).
    pub allow_untested: bool,
    pub overrides: Overrides,
    pub ca_bundle: Option<PathBuf>,
    pub zoneinfo: bool,
    /// Unix seconds for every timestamp. `None`: `SOURCE_DATE_EPOCH` when set (read by
    /// [`source_date_epoch`], the one place binship reads it), else the commit time, else the
    /// build time.
    pub source_date_epoch: Option<u64>,
    /// LXC/Incus: the image alias (default `<app>-<base>`).
    pub alias: Option<String>,
    /// Incus: the two-file form.
    pub split: bool,
    /// LXC/Incus: the xz preset (0-9, default 6).
    pub xz_preset: Option<u32>,
    /// Service manager: openrc, systemd, supervisor, none (default: the recipe's, where
    /// `auto` follows the base's distro).
    pub service: Option<String>,
    /// Told the uncompressed bytes written so far (a progress bar's feed).
    pub progress: Option<binship_image::config::ProgressHook>,
    /// One platform ("linux/arm64") of a multi-target version. Default: every platform for
    /// oci and oci-archive (an image index), the native one (else the primary) for the others.
    pub platform: Option<String>,
    /// Also stage the image for a registry push in this (new) directory, from the same
    /// assembled image, when the output is not already an OCI layout (see
    /// [`ScaffoldOutcome::pushable`]).
    pub push_stage: Option<PathBuf>,
    /// Skip the image test ([`crate::image_test`]); the label then says so.
    pub no_image_test: bool,
    /// What runs the image test: the local engine that answers (default), binship's runner,
    /// or a given engine.
    pub image_test_runner: crate::image_test::Runner,
}

/// Sizes of what was packed.
#[derive(Debug, Clone, Serialize)]
pub struct Sizes {
    pub binary: u64,
    /// Sum of layer blobs and the config, as stored (compressed when compressed).
    pub image_compressed: u64,
    /// Sum of uncompressed layers and the config.
    pub image_uncompressed: u64,
    /// The output on disk.
    pub file: u64,
    /// What the image adds to the binary: image_uncompressed - binary (never below 0 but for
    /// flat formats, whose size is their compressed files).
    pub overhead: i64,
}

/// What an image is made of and says about itself: the same when assembled and when written.
#[derive(Debug, Clone, Serialize)]
pub struct ImageFacts {
    /// The base as given (`static`, `rootfs:PATH`, ...); the label holds its content digest.
    pub base: String,
    /// The service manager whose files went in (none for application containers).
    pub service: String,
    /// The base's distribution (foreign bases).
    pub distro: Option<Distro>,
    /// Host files that went in, with their sha256.
    pub inputs: Vec<Input>,
    pub labels: BTreeMap<String, String>,
    pub untested: bool,
    /// Unix seconds used for every timestamp.
    pub created: u64,
    /// The platforms packed ("linux/amd64", ...).
    pub platforms: Vec<String>,
    /// Things the user should know (e.g. a platform whose tests were skipped).
    pub warnings: Vec<String>,
}

/// A written image.
#[derive(Debug, Clone, Serialize)]
pub struct ScaffoldOutcome {
    pub app: String,
    pub version: u32,
    pub compression: String,
    pub written: Written,
    pub sizes: Sizes,
    #[serde(flatten)]
    pub facts: ImageFacts,
    /// The OCI layout staged for a push ([`ScaffoldRequest::push_stage`]), when the output is
    /// not one itself.
    #[serde(skip)]
    pub push_written: Option<Written>,
    /// The image test's result (also in the label `io.binship.image-tests` and the sidecar
    /// `<output>.image-tests.json`).
    pub image_tests: Option<crate::image_test::ImageTests>,
}

impl ScaffoldOutcome {
    /// The image as a registry takes it, and the layout its blobs are in: the output itself
    /// when it is an OCI layout, else the staged one.
    pub fn pushable(&self) -> Option<(&binship_sink::Pushable, &std::path::Path)> {
        let w = self.push_written.as_ref().unwrap_or(&self.written);
        w.pushable.as_ref().map(|p| (p, w.path.as_path()))
    }

    /// `scaffold --json`'s answer: the outcome as one flat object (the written image's fields
    /// at the top), `status` "written", the container `type` and how the version was chosen
    /// (`selection.by`: flag, only, prompt, current, latest; `selection.versions`).
    pub fn answer(&self, ty: Option<&str>, by: &str, versions: &[u32]) -> serde_json::Value {
        let mut v = serde_json::json!(self);
        if let Some(m) = v.as_object_mut() {
            if let Some(serde_json::Value::Object(w)) = m.remove("written") {
                m.extend(w);
            }
        }
        // One rule for an existing output: kept when the same, replaced when not.
        v["status"] = match &self.written.previous {
            None => "written",
            Some(p) if p.unchanged => "unchanged",
            Some(_) => "replaced",
        }
        .into();
        v["type"] = serde_json::json!(ty);
        v["selection"] = serde_json::json!({ "by": by, "versions": versions });
        v
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    /// No stored version (the message says whether the app is known, and what to do).
    #[error("{message}")]
    NoBinary { app: String, message: String },
    #[error("{app} v.{version} not found (have {have})")]
    VersionNotFound {
        app: String,
        version: u32,
        have: String,
    },
    #[error("{app} v.{version}: {why}; pass --allow-untested to pack it anyway")]
    Untested {
        app: String,
        version: u32,
        why: String,
    },
    #[error("{app} v.{version} has no {platform} binary (it has {have}); add it to the recipe's targets and build again")]
    PlatformNotFound {
        app: String,
        version: u32,
        platform: String,
        have: String,
    },
    #[error("{0}")]
    Base(String),
    /// The base could not be read (I/O), as opposed to refused.
    #[error("{0}")]
    BaseRead(String),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The image, run as it will run, failed a check: nothing was written.
    #[error("{app} v.{version}: the image test failed: {failure} ({passed}/{total} passed; log: {}); nothing was written. The binary passed its tests, so look at what the image adds: its Cmd, env, user, files (an application image: its read-only root; a system image: its init and service unit), or pass --no-image-test", log.display())]
    ImageTest {
        app: String,
        version: u32,
        failure: String,
        passed: usize,
        total: usize,
        log: PathBuf,
    },
    /// A stored binary is not the one its record says was tested.
    #[error("{} has sha256 {actual}, but test-results.json records {recorded}: the stored binary changed after its tests; build again", path.display())]
    BinaryChanged {
        path: PathBuf,
        recorded: String,
        actual: String,
    },
    /// The recipe's container files differ from those the version was tested with.
    #[error("{app} v.{version} was built and tested with other [[container.files]] than the recipe's now; build a new version with them (binship build {app}), or restore the files")]
    FilesChanged { app: String, version: u32 },
    /// A tool scaffold needs is missing (gcc for `container.probe`).
    #[error("{0}")]
    Prerequisite(String),
    /// Interrupted (the request's cancel): nothing was written.
    #[error("{app} v.{version}: interrupted; nothing was written")]
    Interrupted { app: String, version: u32 },
    /// The image test could not be set up (unpacking the root filesystem failed).
    #[error("the image test of {app} v.{version} could not run: {message}")]
    ImageTestSetup {
        app: String,
        version: u32,
        message: String,
    },
}

impl ScaffoldError {
    pub fn class(&self) -> ErrorClass {
        match self {
            ScaffoldError::Usage(_) | ScaffoldError::Recipe(_) | ScaffoldError::Base(_) => {
                ErrorClass::Usage
            }
            ScaffoldError::NoBinary { .. }
            | ScaffoldError::VersionNotFound { .. }
            | ScaffoldError::PlatformNotFound { .. } => ErrorClass::NotFound,
            ScaffoldError::Untested { .. } | ScaffoldError::ImageTest { .. } => {
                ErrorClass::TestsFailed
            }
            ScaffoldError::FilesChanged { .. } => ErrorClass::Conflict,
            ScaffoldError::Interrupted { .. } => ErrorClass::Interrupted,
            ScaffoldError::Prerequisite(_) => ErrorClass::Prerequisite,
            ScaffoldError::BinaryChanged { .. } => ErrorClass::VerifyFailed,
            ScaffoldError::Sink(SinkError::Refused { path, .. }) if path.exists() => {
                ErrorClass::Conflict
            }
            ScaffoldError::Sink(SinkError::Refused { .. }) => ErrorClass::Usage,
            _ => ErrorClass::Other,
        }
    }
}

/// Refuses a dynamically linked binary whose program interpreter (`PT_INTERP`) or needed
/// libraries (`DT_NEEDED`, looked up in the dynamic loader's default directories) the base
/// lacks, naming the first missing file; symlinks are followed inside the base.
fn check_loadable(
    b: &binship_store::record::BinaryRecord,
    view: &binship_image::import::View,
    base_name: &str,
    arch: &str,
) -> Result<(), ScaffoldError> {
    use binship_image::import::ViewEntry;
    let present = |p: &str| matches!(view.resolve(p), Some(ViewEntry::File(_) | ViewEntry::Other));
    let missing = |what: String| {
        ScaffoldError::Base(format!(
            "{} is dynamically linked and base {base_name} has no {what}: docker would say \"exec: no such file or directory\"; use a base that has it, or build it static",
            b.name
        ))
    };
    if let Some(interp) = &b.interpreter {
        if !present(interp) {
            return Err(missing(interp.clone()));
        }
    }
    let triple = binship_build::builders::gnu_triple(arch);
    let dirs = [
        "lib".to_string(),
        "usr/lib".into(),
        "lib64".into(),
        "usr/lib64".into(),
        format!("lib/{triple}"),
        format!("usr/lib/{triple}"),
        "usr/local/lib".into(),
    ];
    for lib in &b.needed {
        let found = if lib.contains('/') {
            present(lib)
        } else {
            dirs.iter().any(|d| present(&format!("{d}/{lib}")))
        };
        if !found {
            return Err(missing(format!(
                "{lib} (needed; looked in /{})",
                dirs.join(", /")
            )));
        }
    }
    Ok(())
}

/// The image's user, known to its /etc/passwd and /etc/group on every base that has them
/// (scratch has none; a foreign base without them gets them): the account files (changed
/// ones written into `app_layer`, with a new user's home) and the user's and group's names.
#[allow(clippy::too_many_arguments)]
fn image_user(
    req: &ScaffoldRequest,
    settings: &ContainerSettings,
    base: &ImportedBase,
    base_spec: &BaseSpec,
    base_name: &str,
    bin_path: &str,
    (uid, gid): (u32, u32),
    app_layer: &mut Rootfs,
    warnings: &mut Vec<String>,
) -> Result<(Accounts, (String, String)), ScaffoldError> {
    // The image's user: known to its /etc/passwd and /etc/group on every base that has them
    // (scratch has none; a foreign base without them gets them).
    let mut accounts = Accounts::parse(
        base.view.read("etc/passwd"),
        base.view.read("etc/group"),
        base.view.read("etc/shadow"),
    );
    let has_accounts = !base_spec.is_builtin() || base.view.entries.contains_key("etc/passwd");
    let mut names = (uid.to_string(), gid.to_string());
    if has_accounts {
        // Our files go on top; never through a symlink of the base's directories.
        for p in [bin_path, "etc/passwd", "etc/group"] {
            if let Some(link) = base.view.symlink_ancestor(p) {
                return Err(ScaffoldError::Base(format!(
                    "base {base_name}: /{link} is a symlink; binship will not write /{p} through it"
                )));
            }
        }
        // A file the base links elsewhere (nix: /etc/passwd -> /nix/store/...) is read
        // through its link inside the base; one that cannot be read is not replaced blindly.
        for p in ["etc/passwd", "etc/group", "etc/shadow"] {
            if base.view.entries.contains_key(p) && base.view.read(p).is_none() {
                return Err(ScaffoldError::Base(format!(
                    "base {base_name}: /{p} is not a file binship can read (a directory, or a link that is dangling or leads to a file it did not read); its users would be lost"
                )));
            }
        }
    }
    if has_accounts && uid != 0 {
        let asked = req.overrides.user.as_deref().unwrap_or(&settings.user);
        let named = matches!(asked, "root" | "nonroot");
        let name = if named {
            asked.to_string()
        } else {
            binship_image::accounts::default_name(&req.app)
        };
        let e = accounts
            .ensure(&ImageUser {
                name,
                uid,
                gid,
                named,
            })
            .map_err(|e| ScaffoldError::Base(format!("base {base_name}: {}", e.0)))?;
        // (but the image's default user on the static base: its nonroot, 65532:65532)
        if !base_spec.is_builtin() || (uid, gid) != (65532, 65532) {
            warnings.extend(e.notes.iter().map(|n| format!("base {base_name}: {n}")));
        }
        names = (e.user.clone(), e.group.clone());
        if accounts.changed() {
            let (passwd, group, shadow) = accounts.render();
            app_layer.file("etc/passwd", passwd, 0o644)?;
            app_layer.file("etc/group", group, 0o644)?;
            // /etc/shadow stays root:shadow 0640 as the distros keep it.
            if let Some(sh) = shadow {
                let shadow_gid = accounts.gid_of("shadow").unwrap_or(0);
                let entry = Entry::new(
                    EntryKind::Bytes(sh.into_bytes()),
                    0o640,
                    0,
                    shadow_gid.into(),
                );
                app_layer.add("etc/shadow", entry)?;
            }
            if let Some(home) = &e.new_home {
                let home = home.trim_start_matches('/');
                if !base.view.entries.contains_key(home) {
                    app_layer.dir(home, 0o700, uid.into(), gid.into())?;
                }
            }
        }
    }
    Ok((accounts, names))
}

/// The service files for system containers (and `--service` in application images): the
/// manager resolved (`auto`: the distro's, when the base has it), checked against the base and
/// the format, and its files installed into `app_layer`. Returns the manager.
#[allow(clippy::too_many_arguments)]
fn service_files(
    req: &ScaffoldRequest,
    settings: &ContainerSettings,
    base: &ImportedBase,
    base_spec: &BaseSpec,
    base_name: &str,
    bin_path: &str,
    env: &BTreeMap<String, String>,
    (uid, gid): (u32, u32),
    (accounts, names): (&Accounts, &(String, String)),
    privileged_port: Option<u32>,
    app_layer: &mut Rootfs,
) -> Result<Manager, ScaffoldError> {
    // Service files for system containers.
    let service_asked = req
        .service
        .clone()
        .unwrap_or_else(|| settings.service.clone());
    let has = |m: Manager| {
        m.needs()
            .iter()
            .all(|g| g.iter().any(|p| base.view.entries.contains_key(*p)))
    };
    let manager = match service_asked.as_str() {
        // auto: the distro's manager when the base has it installed (an application
        // container on alpine-minirootfs has no OpenRC), else none.
        // (a Debian with OpenRC instead of systemd gets OpenRC).
        "auto" => [
            Manager::for_distro(base.distro.as_ref().map_or("", |d| d.id.as_str())),
            Manager::Systemd,
            Manager::OpenRc,
        ]
        .into_iter()
        .find(|m| *m != Manager::None && has(*m))
        .filter(|_| !base_spec.is_builtin())
        .unwrap_or(Manager::None),
        s => Manager::parse(s).map_err(usage)?,
    };
    for group in manager.needs() {
        if !group.iter().any(|p| base.view.entries.contains_key(*p)) {
            let paths = group
                .iter()
                .map(|p| format!("/{p}"))
                .collect::<Vec<_>>()
                .join(" or ");
            // The advice must work: system containers cannot take --service none.
            let advice = if req.format.is_system() {
                format!(
                    "use a base that has it (a {} image starts its service from its init)",
                    req.format
                )
            } else {
                "use --service none or a base that has it".to_string()
            };
            return Err(ScaffoldError::Base(format!(
                "base {base_name} has no {} ({paths} missing); {advice}",
                manager.name()
            )));
        }
    }
    let system_format = req.format.is_system();
    if system_format {
        let init = ["sbin/init", "usr/sbin/init"]
            .iter()
            .any(|p| base.view.entries.contains_key(*p));
        if !init {
            return Err(ScaffoldError::Base(format!(
                "base {base_name} has no init (/sbin/init missing): {} images boot their init; use a base with systemd or OpenRC",
                req.format
            )));
        }
        if !matches!(manager, Manager::Systemd | Manager::OpenRc) {
            return Err(ScaffoldError::Base(format!(
                "base {base_name}: {} images start the service from their init, which needs --service systemd or openrc ({}); --service none is for docker and OCI images",
                req.format,
                match (manager, service_asked.as_str()) {
                    (Manager::None, "auto") => "the base has neither".to_string(),
                    (Manager::None, _) => "--service none was asked".to_string(),
                    (m, _) => format!("{} cannot", m.name()),
                }
            )));
        }
    }
    if manager != Manager::None {
        let (user, group) = if uid == 0 {
            let name = |n: Option<String>, id: u32| n.unwrap_or_else(|| id.to_string());
            (
                name(accounts.user_name(0), 0),
                name(accounts.group_name(gid), gid),
            )
        } else {
            names.clone()
        };
        // Only systemd can grant the service a capability here: supervisord has no setting
        // for it, and Debian's OpenRC is built without capability support (Alpine's has
        // `capabilities=`, which no engine here can boot to test).
        let capabilities = match (privileged_port, manager) {
            (None, _) => vec![],
            (Some(_), Manager::Systemd) => {
                vec![binship_image::services::CAP_NET_BIND_SERVICE.to_string()]
            }
            (Some(p), m) => {
                return Err(ScaffoldError::Usage(format!(
                    "port {p} is below 1024 and {} runs as uid {uid}, but {} cannot grant it CAP_NET_BIND_SERVICE ({}); use --service systemd, a port of 1024 or more, or --user root",
                    req.app,
                    m.name(),
                    if m == Manager::Supervisor {
                        "supervisord has no capability setting"
                    } else {
                        "Debian's OpenRC is built without capability support"
                    }
                )))
            }
        };
        let gid = u64::from(gid);
        let svc = ServiceSpec {
            app: req.app.clone(),
            description: format!("{} v.{} (binship)", req.app, req.version),
            command: format!("/{bin_path}"),
            args: req
                .overrides
                .args
                .clone()
                .unwrap_or_else(|| settings.args.clone()),
            env: env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            user,
            group,
            gid,
            restart: Restart::parse(&settings.restart).map_err(usage)?,
            net_provider: ["etc/init.d/networking", "etc/init.d/net.lo"]
                .iter()
                .any(|p| base.view.entries.contains_key(*p)),
            capabilities,
            // The recipe's workdir, where the init starts the service (and made when the base
            // lacks it); the default `/` is every manager's own.
            workdir: (settings.workdir != binship_recipe::ContainerSettings::default().workdir)
                .then(|| settings.workdir.clone()),
        };
        svc.check().map_err(usage)?;
        if let Some(w) = &svc.workdir {
            let rel = w.trim_start_matches('/');
            if !base.view.entries.contains_key(rel) && app_layer.get(rel).is_none() {
                app_layer.dir(rel, 0o755, 0, 0)?;
            }
        }
        if manager == Manager::Supervisor {
            svc.check_supervisor().map_err(usage)?;
        }
        svc.install(manager, app_layer)?;
    }
    Ok(manager)
}

/// The image's labels: OCI annotations (title, version, revision, created, source) and
/// binship's provenance (binary sha256, tests, toolchain, build command, base by content,
/// service, distro, inputs by role), then the recipe's `container.labels`.
#[allow(clippy::too_many_arguments)]
fn labels_of(
    req: &ScaffoldRequest,
    record: &TestResults,
    settings: &ContainerSettings,
    binary_sha256: &str,
    base: &ImportedBase,
    manager: Manager,
    untested: bool,
    created: u64,
) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let l = |k: &str| format!("org.opencontainers.image.{k}");
    labels.insert(l("title"), req.app.clone());
    labels.insert(l("version"), format!("v.{}", req.version));
    if let Some(c) = &record.git.commit {
        labels.insert(l("revision"), c.clone());
    }
    labels.insert(l("created"), binship_oci::rfc3339(created as i64));
    labels.insert(
        l("source"),
        settings
            .source_url
            .clone()
            .unwrap_or_else(|| format!("binship:{}", req.app)),
    );
    labels.insert("io.binship.binary.sha256".into(), binary_sha256.to_string());
    labels.insert(
        "io.binship.tests".into(),
        format!("{}/{} {}", record.passed, record.total, record.status),
    );
    // Provenance: how the binary was made (binship inspect prints these).
    labels.insert("io.binship.git.dirty".into(), record.git.dirty.to_string());
    labels.insert(
        "io.binship.toolchain".into(),
        format!("{} {}", record.toolchain.name, record.toolchain.version),
    );
    if let Some(c) = &record.build_command {
        labels.insert("io.binship.build.command".into(), c.clone());
    }
    labels.insert("io.binship.base".into(), base.id.clone());
    labels.insert("io.binship.service".into(), manager.name().into());
    if let Some(d) = &base.distro {
        labels.insert("io.binship.distro".into(), d.id.clone());
        if !d.version.is_empty() {
            labels.insert("io.binship.distro.version".into(), d.version.clone());
        }
    }
    if untested {
        labels.insert(
            "io.binship.untested".into(),
            "true: packed with --allow-untested".into(),
        );
    }
    // Host files by their role, never by their path (the base is io.binship.base).
    for i in base.inputs.iter().filter(|i| i.role != "base") {
        labels.insert(
            format!("io.binship.input.{}", i.role),
            format!("sha256:{}", i.sha256),
        );
    }
    labels.extend(settings.labels.clone());
    labels
}

/// What LXC and Incus metadata say about the image (distro, release, description, alias,
/// serial YYYYMMDD_HHMM of its fixed time, split form, xz preset).
fn system_image(
    req: &ScaffoldRequest,
    base: &ImportedBase,
    created: u64,
    alias: &str,
) -> SystemImage {
    let d = base.distro.clone().unwrap_or(Distro {
        id: "other".into(),
        version: String::new(),
        pretty: String::new(),
    });
    let when = binship_oci::rfc3339(created as i64);
    SystemImage {
        app: req.app.clone(),
        description: format!(
            "{} v.{} on {} (binship)",
            req.app,
            req.version,
            if d.pretty.is_empty() {
                d.id.clone()
            } else {
                d.pretty.clone()
            }
        ),
        distro: d.id,
        release: d.version,
        alias: alias.to_string(),
        // YYYYMMDD_HHMM
        serial: format!(
            "{}{}{}_{}{}",
            &when[0..4],
            &when[5..7],
            &when[8..10],
            &when[11..13],
            &when[14..16]
        ),
        split: req.split,
        xz_preset: req
            .xz_preset
            .unwrap_or(binship_image::flat::DEFAULT_XZ_PRESET),
    }
}

/// A refused value as [`ScaffoldError::Usage`].
fn usage(e: impl std::fmt::Display) -> ScaffoldError {
    ScaffoldError::Usage(e.to_string())
}

/// Checks an image reference (docker's grammar and normalisation, [`binship_oci::Reference`]);
/// returns docker's short form with `:latest` added when untagged (`go-id` -> `go-id:latest`).
///
/// # Errors
/// [`ScaffoldError::Usage`] naming the tag.
pub fn check_tag(tag: &str) -> Result<String, ScaffoldError> {
    binship_oci::Reference::parse_normalized(tag, "latest")
        .map(|r| r.familiar())
        .map_err(|_| ScaffoldError::Usage(format!("tag `{tag}` is not a valid image reference (name[:tag], lowercase name, tag of [A-Za-z0-9_.-])")))
}

/// `SOURCE_DATE_EPOCH` (reproducible-builds.org's specification): the only place binship reads
/// it, so scaffold, push, update, deploy and bench pack the same version to the same bytes.
///
/// # Errors
/// [`ScaffoldError::Usage`] when it is set but not a number of seconds (it is never ignored).
pub fn source_date_epoch() -> Result<Option<u64>, ScaffoldError> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Err(_) => Ok(None),
        Ok(s) if s.trim().is_empty() => Ok(None),
        // Up to the end of year 9999: what RFC 3339 and tar headers can hold.
        Ok(s) => match s.trim().parse::<u64>() {
            Ok(n) if n <= 253_402_300_799 => Ok(Some(n)),
            Ok(_) => Err(ScaffoldError::Usage(format!(
                "SOURCE_DATE_EPOCH `{s}` is after the year 9999"
            ))),
            Err(_) => Err(ScaffoldError::Usage(format!(
                "SOURCE_DATE_EPOCH `{s}` is not a number of seconds since 1970"
            ))),
        },
    }
}

/// Parses an RFC 3339 time to Unix seconds.
fn unix(s: &str) -> Option<u64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| u64::try_from(t.unix_timestamp()).ok())
}

/// The store's cache of file digests ([`binship_oci::FileDigests`], `.binship/cache/file-digests`).
pub fn file_digests(store: &Store) -> binship_oci::FileDigests {
    binship_oci::FileDigests::new(store.root().join(".binship/cache/file-digests"))
}

/// The version's record, refusing untested versions unless allowed; returns (record, untested).
pub fn checked_record(
    store: &Store,
    app: &str,
    version: u32,
    allow_untested: bool,
) -> Result<(TestResults, bool), ScaffoldError> {
    let path = store.version_dir(app, version).join("test-results.json");
    let why = match store.record(app, version) {
        Ok(r) if r.all_passed() => return Ok((r, false)),
        Ok(r) => (
            format!("tests did not pass ({}/{} passed)", r.passed, r.total),
            Some(r),
        ),
        Err(_) if !path.exists() => ("test-results.json is missing".to_string(), None),
        Err(e) => (format!("test-results.json is unreadable ({e})"), None),
    };
    match (allow_untested, why.1) {
        (true, Some(r)) => Ok((r, true)),
        _ => Err(ScaffoldError::Untested {
            app: app.into(),
            version,
            why: why.0,
        }),
    }
}

/// Packs `req.app` v.`req.version` into an image, tests it as it will run
/// ([`crate::image_test`]), and writes it with the result in its labels and a sidecar.
///
/// # Errors
/// See [`ScaffoldError`]; a failed image test is [`ScaffoldError::ImageTest`] (exit 6), and
/// nothing is written then.
pub fn scaffold(store: &Store, req: &ScaffoldRequest) -> Result<ScaffoldOutcome, ScaffoldError> {
    let mut assembled = assemble(store, req)?;
    let sidecar = |ext: &str| {
        let mut name = assembled.out.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".image-tests.{ext}"));
        assembled.out.with_file_name(name)
    };
    let json_path = sidecar("json");
    // The log lives in the store until the test fails (it is then kept and named); an
    // explicit output's missing directory is never created for it.
    let log = store
        .root()
        .join(".binship/logs")
        .join(format!("image-test-{}-v.{}.log", req.app, req.version));
    // An existing output is replaced (or kept) only when it is an image of this format: a file
    // that is something else (a source file named by -o) needs --force.
    if !req.force
        && std::fs::symlink_metadata(&assembled.out).is_ok()
        && !req.format.holds_image(&assembled.out)
    {
        return Err(ScaffoldError::Sink(SinkError::Refused {
            path: assembled.out.clone(),
            message: format!(
                "exists and is not a {} image; pass --force to replace it",
                req.format
            ),
        }));
    }
    // An image tested before (same layers, config, checks and runner) is not run again.
    let remembered =
        crate::image_test::Remembered::new(store.root().join(".binship/cache/image-tests"));
    use crate::image_test::Runner;
    let mut detected = None;
    let (key, engine) = match (&assembled.test, &assembled.system, req.no_image_test) {
        (Some(test), None, false) => {
            let runner = resolved_runner(req)?;
            // The local engine is asked once: for the key, and for the test when it runs.
            let found = matches!(runner, Runner::Auto | Runner::Detect)
                .then(crate::image_test::local_engine)
                .flatten();
            let runner = runner_id(&runner, found.as_ref());
            detected = Some(found);
            let key = crate::image_test::Remembered::key(
                &assembled.spec,
                test,
                &runner,
                &assembled.files,
            );
            (key, runner != "binship")
        }
        _ => (None, false),
    };
    let tests = match key.as_deref().and_then(|k| remembered.get(k)) {
        Some(t) => t,
        None => image_tests(store, req, &assembled, &log, detected)?,
    };
    // Only what the runner asked for ran: binship's runner standing in for an engine that
    // could not take the image is not that engine's result.
    if let Some(k) = key.filter(|_| engine == (tests.runner != "binship")) {
        remembered.put(&k, &tests);
    }
    if req.cancel.is_cancelled() {
        return Err(ScaffoldError::Interrupted {
            app: req.app.clone(),
            version: req.version,
        });
    }
    if tests.status == "failed" {
        return Err(ScaffoldError::ImageTest {
            app: req.app.clone(),
            version: req.version,
            failure: tests.first_failure().unwrap_or_default(),
            passed: tests.passed,
            total: tests.total,
            log,
        });
    }
    let _ = std::fs::remove_file(&log);
    assembled.record_image_tests(&tests);
    let internal = assembled.out.starts_with(store.root().join(".binship"));
    // Layers compressed once per store: a second push or OCI write of the same layer copies it.
    let layers = binship_image::layer_store::LayerStore::new(
        store.root().join(".binship/cache/layers"),
        binship_image::layer_store::DEFAULT_MAX_BYTES,
    )
    .with_file_digests(assembled.files.clone());
    let mut outcome = write(req, assembled, Some(&layers))?;
    // Beside a user's output; a push's temporary layout keeps it in its label only.
    if !internal {
        let json = serde_json::to_vec_pretty(&tests).unwrap_or_default();
        std::fs::write(&json_path, json)
            .map_err(|e| ScaffoldError::Image(ImageError::io("writing", &json_path)(e)))?;
    }
    outcome.image_tests = Some(tests);
    Ok(outcome)
}

/// The runner `req` asks for, [`crate::image_test::ENGINE_ENV`] read for `Auto`: binship's,
/// an engine, or `Detect` (the local engine that answers).
///
/// # Errors
/// Usage: the variable cannot be parsed.
fn resolved_runner(req: &ScaffoldRequest) -> Result<crate::image_test::Runner, ScaffoldError> {
    use crate::image_test::Runner;
    Ok(match &req.image_test_runner {
        Runner::Auto => match Runner::from_env().map_err(ScaffoldError::Usage)? {
            Runner::Auto => Runner::Detect,
            r => r,
        },
        r => r.clone(),
    })
}

/// What runs an image test by `runner`, for the remembered results' key: `binship`, or the
/// engine's command, run flags and the variables that choose its daemon (for `Detect`, the
/// engine `found` answering now, and where).
fn runner_id(
    runner: &crate::image_test::Runner,
    found: Option<&(crate::image_test::Engine, String)>,
) -> String {
    use crate::image_test::Runner;
    // The daemon it talks to is part of the runner: another host is another runner.
    let engine = |e: &crate::image_test::Engine| {
        let at: Vec<String> = [
            "DOCKER_HOST",
            "DOCKER_CONTEXT",
            "CONTAINER_HOST",
            "CONTAINER_CONNECTION",
        ]
        .iter()
        .filter_map(|v| std::env::var(v).ok().map(|x| format!("{v}={x}")))
        .collect();
        format!("{:?} {:?} {at:?}", e.command, e.run_args)
    };
    match runner {
        Runner::Binship => "binship".into(),
        Runner::Engine(e) => engine(e),
        Runner::Auto | Runner::Detect => match found {
            None => "binship".into(),
            Some((e, at)) => format!("{} at {at}", engine(e)),
        },
    }
}

/// Runs (or skips, saying why) the image test of an assembled image; `log` gets the output.
/// `detected`: the local engine as already asked ([`crate::image_test::local_engine`]), or None
/// to ask it here.
fn image_tests(
    store: &Store,
    req: &ScaffoldRequest,
    a: &Assembled,
    log: &std::path::Path,
    detected: Option<Option<(crate::image_test::Engine, String)>>,
) -> Result<crate::image_test::ImageTests, ScaffoldError> {
    use crate::image_test::ImageTests;
    if req.no_image_test {
        return Ok(ImageTests::skipped("--no-image-test"));
    }
    let Some(test) = &a.test else {
        return Ok(ImageTests::skipped("no recipe to take the checks from"));
    };
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| ScaffoldError::Usage(format!("creating {}: {e}", dir.display())))?;
    }
    let _ = std::fs::remove_file(log);
    let work = store.root().join(".binship/tmp");
    use crate::image_test::{EngineError, Runner};
    // An engine given by flag or variable: its failures are the scaffold's.
    let engine_error = |e: EngineError| match (req.cancel.is_cancelled(), e.missing) {
        (true, _) => ScaffoldError::Interrupted {
            app: req.app.clone(),
            version: req.version,
        },
        (false, true) => ScaffoldError::Prerequisite(format!("the image test: {}", e.message)),
        (false, false) => ScaffoldError::ImageTestSetup {
            app: req.app.clone(),
            version: req.version,
            message: e.message,
        },
    };
    let binship = || crate::image_test::run(&a.spec, test, &work, log, &req.cancel);
    let in_engine = |engine: &crate::image_test::Engine| {
        crate::image_test::run_in_engine(&a.spec, test, &work, log, engine, &req.cancel)
    };
    match (&a.system, resolved_runner(req)?) {
        (Some(system), _) => {
            crate::image_test::run_booted(&a.spec, &system.distro, test, &work, log, &req.cancel)
        }
        (None, Runner::Engine(engine)) => Ok(in_engine(&engine).map_err(engine_error)?),
        (None, Runner::Binship) => binship(),
        (None, Runner::Auto | Runner::Detect) => match detected
            .unwrap_or_else(crate::image_test::local_engine)
        {
            None => binship(),
            Some((engine, at)) => {
                let name = &engine.command[0];
                match in_engine(&engine) {
                    // A host quirk of the engine's, not the image's fault: binship's runner.
                    Ok(t) if t.host_quirk => binship().map(|mut b| {
                        b.note = Some(format!(
                            "{name} answers at {at} but this host refuses its defaults ({}); binship's runner ran it",
                            t.first_failure().unwrap_or_default()
                        ));
                        b
                    }),
                    Ok(mut t) => {
                        t.note = Some(format!(
                            "{name} answers at {at}; --image-test-engine binship for binship's runner"
                        ));
                        Ok(t)
                    }
                    Err(_) if req.cancel.is_cancelled() => Err("interrupted".to_string()),
                    // The engine answered but could not take the image: binship's runner.
                    Err(why) => binship().map(|mut t| {
                        t.note = Some(format!(
                            "{name} answers at {at} but could not run the image ({}); binship's runner ran it",
                            why.message
                        ));
                        t
                    }),
                }
            }
        },
    }
    .map_err(|message| match req.cancel.is_cancelled() {
        true => ScaffoldError::Interrupted {
            app: req.app.clone(),
            version: req.version,
        },
        false => ScaffoldError::ImageTestSetup {
            app: req.app.clone(),
            version: req.version,
            message,
        },
    })
}

/// An image assembled from a request by [`assemble`]: the image model, and everything
/// writing it needs and reports. Nothing of it is written yet.
pub struct Assembled {
    /// The recipe's checks, which the image test runs (none without a recipe).
    pub test: Option<binship_recipe::TestSettings>,
    pub spec: ImageSpec,
    /// The same image for the other platforms (an image index of OCI formats).
    pub others: Vec<ImageSpec>,
    pub tag: String,
    pub compression: Compression,
    /// Where it goes; `out_dir` is created first when the output is the format's default.
    pub out: PathBuf,
    pub out_dir: Option<PathBuf>,
    /// Manifest annotations (the `org.opencontainers.image.*` labels).
    pub annotations: BTreeMap<String, String>,
    /// LXC/Incus metadata.
    pub system: Option<SystemImage>,
    /// Bytes of the primary platform's binary.
    pub binary_size: u64,
    pub facts: ImageFacts,
    /// The store's file digests, as the binaries' check read them (one instance for the whole
    /// scaffold: a file hashed is not read again for the image test's key or the layer's).
    pub files: binship_oci::FileDigests,
}

/// Assembles the image of `req`: the version and platforms chosen, the base imported (every
/// member of a foreign base checked), the image user, service files, labels and config
/// resolved. Reads its inputs (record, recipe, base, binaries' sizes) and writes nothing.
///
/// # Errors
/// See [`ScaffoldError`]: usage for settings, not found for versions and platforms, the base's
/// refusals and read errors.
pub fn assemble(store: &Store, req: &ScaffoldRequest) -> Result<Assembled, ScaffoldError> {
    validate_app_name(&req.app).map_err(usage)?;
    let recipe_path = store.recipe_path(&req.app);
    let recipe = if recipe_path.exists() {
        Some(Recipe::load(&recipe_path)?)
    } else {
        None
    };
    let settings = recipe
        .as_ref()
        .map(|r| r.container.clone())
        .unwrap_or_default();
    let versions = store.versions(&req.app)?;
    if versions.is_empty() {
        return Err(ScaffoldError::NoBinary {
            app: req.app.clone(),
            message: store.no_binary_message(&req.app),
        });
    }
    if !versions.contains(&req.version) {
        let have = versions
            .iter()
            .map(|v| format!("v.{v}"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ScaffoldError::VersionNotFound {
            app: req.app.clone(),
            version: req.version,
            have,
        });
    }
    let (record, untested) = checked_record(store, &req.app, req.version, req.allow_untested)?;
    let all = record.all_platforms();
    let have = || {
        all.iter()
            .map(|p| p.target.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen: Vec<binship_store::record::PlatformView> = match &req.platform {
        Some(p) => match all.iter().find(|v| &v.target == p) {
            Some(v) => vec![v.clone()],
            None => {
                return Err(ScaffoldError::PlatformNotFound {
                    app: req.app.clone(),
                    version: req.version,
                    platform: p.clone(),
                    have: have(),
                })
            }
        },
        None if req.format.multi_platform() => all.clone(),
        None => {
            let native = format!("linux/{}", binship_recipe::native_arch());
            vec![all
                .iter()
                .find(|v| v.target == native)
                .unwrap_or(&all[0])
                .clone()]
        }
    };
    let mut warnings: Vec<String> = chosen
        .iter()
        .filter(|v| v.status == "skipped")
        .map(|v| {
            format!(
                "{} v.{} for {} was not tested: {}",
                req.app,
                req.version,
                v.target,
                v.skipped_reason.as_deref().unwrap_or("tests skipped")
            )
        })
        .collect();
    let primary = chosen[0].clone();

    let base_name = req.base.clone().unwrap_or_else(|| settings.base.clone());
    let base_spec = BaseSpec::parse(&base_name).map_err(usage)?;
    if chosen.len() > 1 && !base_spec.is_builtin() {
        return Err(ScaffoldError::Usage(format!(
            "base {base_name} is for one architecture, but {} v.{} has {}; pass --platform or use --base static / scratch for an index",
            req.app, req.version, have()
        )));
    }
    let o = &req.overrides;
    let user = resolve_user(o.user.as_deref().unwrap_or(&settings.user)).map_err(usage)?;
    // resolve_user yields numeric uid:gid.
    let (uid, gid): (u32, u32) = user
        .split_once(':')
        .and_then(|(u, g)| Some((u.parse().ok()?, g.parse().ok()?)))
        .unwrap_or((0, 0));
    let ports: Vec<u32> = o
        .ports
        .clone()
        .unwrap_or_else(|| settings.ports.iter().map(|p| *p as u32).collect());
    if let Some(p) = ports.iter().find(|p| !(1..=65535).contains(*p)) {
        return Err(ScaffoldError::Usage(format!("port {p} is outside 1-65535")));
    }
    if let Some(sig) = &o.stop_signal {
        binship_recipe::check_signal(sig)
            .map_err(|e| ScaffoldError::Usage(format!("--stop-signal: {e}")))?;
    }
    let workdir = o
        .workdir
        .clone()
        .unwrap_or_else(|| settings.workdir.clone());
    if !workdir.starts_with('/') {
        return Err(ScaffoldError::Usage(format!(
            "workdir `{workdir}` must be absolute"
        )));
    }
    let mut env = settings.env.clone();
    for kv in &o.env {
        let (k, v) = kv
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| ScaffoldError::Usage(format!("--env needs KEY=VALUE, got `{kv}`")))?;
        if !binship_recipe::is_env_name(k) {
            return Err(ScaffoldError::Usage(format!(
                "--env `{kv}`: `{k}` is not a variable name (A-Z, a-z, 0-9, _; not starting with a digit)"
            )));
        }
        env.insert(k.into(), v.into());
    }
    let tag = req.tag.as_deref().map(check_tag).transpose()?;
    let compression = req
        .compression
        .unwrap_or_else(|| req.format.default_compression());

    let created = req
        .source_date_epoch
        .or(source_date_epoch()?)
        .or_else(|| record.git.commit_time.as_deref().and_then(unix))
        .or_else(|| unix(&record.built_at))
        .unwrap_or(0);

    // Layers: the base (if any), then the binary at /usr/local/bin/<app>, root-owned 0555.
    let binary = store.version_dir(&req.app, req.version).join(&primary.path);
    // The stored binaries are the ones that were tested: each is checked against its record
    // (read again only when changed on disk since it was last read, see FileDigests).
    let files = file_digests(store);
    for v in &chosen {
        let path = store.version_dir(&req.app, req.version).join(&v.path);
        let actual = files
            .sha256(&path)
            .map_err(|e| ScaffoldError::Usage(format!("reading {}: {e}", path.display())))?
            .0;
        if actual.hex() != v.sha256.trim_start_matches("sha256:") {
            return Err(ScaffoldError::BinaryChanged {
                path,
                recorded: v.sha256.clone(),
                actual: actual.hex().to_string(),
            });
        }
    }
    let bin_path = format!("usr/local/bin/{}", req.app);
    // Every member of a foreign base is checked here, before anything is written.
    let base = import(
        &base_spec,
        &StaticOptions {
            ca_bundle: req.ca_bundle.clone(),
            zoneinfo: req.zoneinfo,
        },
        &Limits::default(),
    )
    .map_err(|e| match e {
        crate::base::BaseError::Io(m) => ScaffoldError::BaseRead(m),
        crate::base::BaseError::Invalid(m) => ScaffoldError::Base(m),
    })?;
    // `APP:v.N` on the recipe's base; another base's image is a variant, `APP:v.N-BASE` (as
    // `python:3.12-slim`), so loading it does not replace the recipe's image.
    let tag = tag.unwrap_or_else(|| {
        let variant = (base_name != settings.base).then(|| {
            let name: String = base
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            format!("-{name}")
        });
        format!(
            "{}:v.{}{}",
            req.app,
            req.version,
            variant.unwrap_or_default()
        )
    });
    if let Some(b) = &base.config {
        let arch = b.config["architecture"].as_str().unwrap_or("");
        if arch != primary.arch {
            return Err(ScaffoldError::Base(format!(
                "base {base_name} is for linux/{arch}, but the binary is linux/{}",
                primary.arch
            )));
        }
    }
    // A dynamic binary runs only where its interpreter and libraries are.
    for v in &chosen {
        let bin = if v.target == record.target {
            Some(&record.binary)
        } else {
            record
                .platforms
                .iter()
                .find(|p| p.target == v.target)
                .map(|p| &p.binary)
        };
        if let Some(b) = bin {
            check_loadable(b, &base.view, &base_name, &v.arch)?;
        }
    }
    let mut layers = base.layers.clone();
    let inputs = base.inputs.clone();
    // A port below 1024 for a non-root user needs CAP_NET_BIND_SERVICE, and only that: a
    // systemd unit grants it (ambient), images for docker and podman carry it as the binary's
    // file capability (LXC's local template would drop the xattr; systemd does not need it).
    let privileged_port = ports
        .iter()
        .copied()
        .find(|p| *p < 1024)
        .filter(|_| uid != 0);
    let file_cap = privileged_port.is_some() && !req.format.is_system();
    let mut app_layer = Rootfs::new();
    app_layer.host_file(&bin_path, &binary, 0o555)?;
    if file_cap {
        app_layer.set_xattr(
            &bin_path,
            "security.capability",
            &binship_image::services::NET_BIND_SERVICE_FILE_CAP,
        )?;
    }
    let (accounts, names) = image_user(
        req,
        &settings,
        &base,
        &base_spec,
        &base_name,
        &bin_path,
        (uid, gid),
        &mut app_layer,
        &mut warnings,
    )?;
    // The recipe's files (root-owned and read-only to the service by default) and volumes
    // (owned by the image's user, declared in the config).
    let recipe_dir = recipe_path.parent().unwrap_or(std::path::Path::new("."));
    let placed =
        binship_build::files::walk(&settings.files, recipe_dir).map_err(ScaffoldError::Usage)?;
    // The files this version was tested with, and no others.
    let files_key = binship_build::files::files_key(&placed).map_err(ScaffoldError::Usage)?;
    if files_key != record.files_key {
        return Err(ScaffoldError::FilesChanged {
            app: req.app.clone(),
            version: req.version,
        });
    }
    for p in &placed {
        use binship_build::files::PlacedKind;
        if p.target.trim_start_matches('/') == bin_path {
            return Err(ScaffoldError::Usage(format!(
                "container.files: {} is where the binary goes",
                p.target
            )));
        }
        let kind = match &p.kind {
            PlacedKind::Dir => EntryKind::Dir,
            PlacedKind::File { host, size } => EntryKind::HostFile {
                path: host.clone(),
                size: *size,
            },
            PlacedKind::Symlink(t) => EntryKind::Symlink(t.clone()),
        };
        app_layer.add(&p.target, Entry::new(kind, p.mode, p.uid, p.gid))?;
    }
    for v in &settings.volumes {
        app_layer.dir(v, 0o755, u64::from(uid), u64::from(gid))?;
    }
    // The image's healthcheck: the recipe's, or binship's probe against the readiness check.
    let test_settings = recipe.as_ref().map(|r| r.test.clone()).unwrap_or_default();
    let healthcheck = settings
        .healthcheck_for(&test_settings, ports.first().copied())
        .map_err(|e| usage(e.0))?;
    // One probe per source and arch for the whole store.
    let probe_cache = store.root().join(".binship/cache");
    let probe = |arch: &str| {
        binship_build::probe::binary(arch, &probe_cache).map_err(ScaffoldError::Prerequisite)
    };
    let probe_path = binship_recipe::PROBE_PATH.trim_start_matches('/');
    if settings.probe {
        app_layer.file(probe_path, probe(&primary.arch)?, 0o555)?;
    }
    if !healthcheck.is_empty() {
        if matches!(req.format, Format::Oci | Format::OciArchive) {
            warnings.push(format!(
                "the image's healthcheck ({}) is not carried by --format {}: the OCI image config has no Healthcheck (docker's extension), so docker and podman run none; --format docker-archive carries it",
                healthcheck.join(" "),
                req.format
            ));
        } else if req.format.is_system() {
            warnings.push(format!(
                "{} images carry no healthcheck: `binship deploy` runs {} inside the container",
                req.format,
                healthcheck.join(" ")
            ));
        }
        if let [_, arg] = healthcheck.as_slice() {
            if ["--version", "-V", "version", "--help", "-h"].contains(&arg.as_str()) {
                warnings.push(format!(
                    "container.healthcheck runs `{}`, which probes nothing: it passes while the service is down; set container.probe = true (binship's probe of the readiness check) or a real probe",
                    healthcheck.join(" ")
                ));
            }
        }
    }
    let manager = service_files(
        req,
        &settings,
        &base,
        &base_spec,
        &base_name,
        &bin_path,
        &env,
        (uid, gid),
        (&accounts, &names),
        privileged_port,
        &mut app_layer,
    )?;
    if let Some(p) = privileged_port {
        if file_cap {
            warnings.push(format!(
                "port {p} is below 1024 and {} runs as uid {uid}: its binary carries the file capability CAP_NET_BIND_SERVICE; an engine that drops all capabilities must add it back (docker/podman run --cap-drop ALL --cap-add NET_BIND_SERVICE)",
                req.app
            ));
        }
    }
    let system_format = req.format.is_system();
    layers.push(Layer::Rootfs(app_layer));

    let labels = labels_of(
        req,
        &record,
        &settings,
        &primary.sha256,
        &base,
        manager,
        untested,
        created,
    );
    let mut labels = labels;
    if let Some(p) = privileged_port {
        labels.insert(
            "io.binship.capabilities".into(),
            format!(
                "{} (port {p} as uid {uid}, {})",
                binship_image::services::CAP_NET_BIND_SERVICE,
                if file_cap {
                    "file capability"
                } else {
                    "systemd"
                }
            ),
        );
    }
    let annotations: BTreeMap<String, String> = labels
        .iter()
        .filter(|(k, _)| k.starts_with("org.opencontainers.image."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();

    let healthcheck = (!healthcheck.is_empty()).then(|| Healthcheck {
        test: std::iter::once("CMD".to_string())
            .chain(healthcheck.iter().cloned())
            .collect(),
        interval_s: 10,
        timeout_s: 3,
        retries: 3,
    });
    let spec = ImageSpec {
        layers,
        base: base.config.clone(),
        config: ContainerConfig {
            entrypoint: vec![format!("/{bin_path}")],
            cmd: o.args.clone().unwrap_or_else(|| settings.args.clone()),
            env: env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            exposed_ports: ports.iter().map(|p| format!("{p}/tcp")).collect(),
            user,
            workdir,
            stop_signal: o
                .stop_signal
                .clone()
                .unwrap_or_else(|| settings.stop_signal.clone()),
            labels: labels.clone(),
            healthcheck,
            volumes: settings.volumes.clone(),
        },
        platform: Platform {
            os: "linux".into(),
            architecture: primary.arch.clone(),
        },
        created,
        created_by: format!(
            "{} scaffold {} --version {}",
            crate::BINSHIP_VERSION,
            req.app,
            req.version
        ),
        progress: req.progress.clone(),
    };

    let alias = req
        .alias
        .clone()
        .unwrap_or_else(|| format!("{}-{}", req.app, base.name));
    let (out, out_dir) = match &req.out {
        Some(o) => (o.clone(), None),
        None => {
            let images = store.root().parent().unwrap_or(store.root());
            let (dir, out) =
                req.format
                    .default_output(&req.app, &base.name, compression, req.split);
            (images.join(out), Some(images.join(dir)))
        }
    };
    // Never into a stored version (immutable: its binary is what was tested) or binship's
    // own files; an app's dir may hold outputs (`[[outputs]] destination` is relative to it).
    let abs = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    if let Ok(rel) = abs(&out).strip_prefix(abs(store.root())) {
        let c: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let in_version = c.len() >= 2 && c[1].contains("-binary-v.");
        let internal = c.first().is_some_and(|f| f == ".binship")
            && c.get(1).map(String::as_str) != Some("tmp");
        if in_version || internal {
            return Err(ScaffoldError::Usage(format!(
                "output {} is inside {} of the store, which binship keeps as built; write images elsewhere",
                out.display(),
                if in_version { "a stored version" } else { "the .binship dir" }
            )));
        }
    }
    let system = system_format.then(|| system_image(req, &base, created, &alias));
    // Other platforms: the same image with that platform's binary (builtin bases only).
    let mut others = Vec::new();
    for v in &chosen[1..] {
        let mut o = spec.clone();
        let Some(Layer::Rootfs(app)) = o.layers.last_mut() else {
            unreachable!("the app layer is last")
        };
        app.host_file(
            &bin_path,
            store.version_dir(&req.app, req.version).join(&v.path),
            0o555,
        )?;
        if file_cap {
            app.set_xattr(
                &bin_path,
                "security.capability",
                &binship_image::services::NET_BIND_SERVICE_FILE_CAP,
            )?;
        }
        if settings.probe {
            app.file(probe_path, probe(&v.arch)?, 0o555)?;
        }
        o.platform.architecture = v.arch.clone();
        o.config
            .labels
            .insert("io.binship.binary.sha256".into(), v.sha256.clone());
        others.push(o);
    }
    Ok(Assembled {
        test: recipe.map(|r| r.test),
        spec,
        others,
        tag,
        compression,
        out,
        out_dir,
        annotations,
        system,
        binary_size: primary.size,
        files,
        facts: ImageFacts {
            base: base_name,
            service: manager.name().into(),
            distro: base.distro.clone(),
            inputs,
            labels,
            untested,
            created,
            platforms: chosen.iter().map(|v| v.target.clone()).collect(),
            warnings,
        },
    })
}

/// Writes an [`Assembled`] image to `req.format`'s sink (and, with `req.push_stage`, the same
/// image as an OCI layout for a push when the output is not one), then measures it. With
/// `layers`, OCI outputs take their compressed layers from that store and fill it
/// ([`binship_sink::layer_cached::LayerCached`]).
///
/// # Errors
/// [`ScaffoldError::Sink`] (the output named), or creating the default output's directory.
pub fn write(
    req: &ScaffoldRequest,
    a: Assembled,
    layers: Option<&binship_image::layer_store::LayerStore>,
) -> Result<ScaffoldOutcome, ScaffoldError> {
    let sink = |f: Format| -> Box<dyn binship_sink::Sink + '_> {
        match layers {
            Some(store) if matches!(f, Format::Oci | Format::OciArchive) => {
                Box::new(binship_sink::layer_cached::LayerCached {
                    inner: f.sink(),
                    store,
                })
            }
            _ => f.sink(),
        }
    };
    let Assembled {
        spec,
        others,
        tag,
        compression,
        out,
        out_dir,
        annotations,
        system,
        ..
    } = &a;
    let compression = *compression;
    if let Some(dir) = out_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| ScaffoldError::Usage(format!("creating {}: {e}", dir.display())))?;
    }
    // The same assembled image for a registry push, encoded as OCI (once more only when the
    // output is not an OCI layout already).
    let push_written = match &req.push_stage {
        Some(dir) if req.format != Format::Oci => {
            let c = req
                .compression
                .filter(|c| Format::Oci.compressions().contains(&c.name()))
                .unwrap_or_else(|| Format::Oci.default_compression());
            let w = sink(Format::Oci).write(&WriteRequest {
                others,
                spec,
                tag,
                compression: c,
                out: dir,
                annotations: annotations.clone(),
                system: None,
            })?;
            Some(w)
        }
        _ => None,
    };
    let written = sink(req.format)
        .write(&WriteRequest {
            others,
            spec,
            tag,
            compression,
            out,
            annotations: annotations.clone(),
            system: system.clone(),
        })
        // A layer write that failed (disk full, ...) names the output, not just "writing layer".
        .map_err(|e| match e {
            SinkError::Image(ImageError::Write(source)) => SinkError::Io {
                context: "writing",
                path: out.to_path_buf(),
                source,
            },
            other => other,
        })?;
    let config_len = spec
        .config_json(
            &written
                .layers
                .iter()
                .map(|l| l.diff_id.clone())
                .collect::<Vec<_>>(),
            req.format == Format::DockerArchive,
        )
        .len() as u64;
    let (image_compressed, image_uncompressed) = if written.layers.is_empty() {
        // Flat formats: the files are the image, the flattened tar its uncompressed size.
        (
            written.bytes,
            written.flat_bytes.unwrap_or_else(|| spec.total_bytes()),
        )
    } else {
        (
            written.layers.iter().map(|l| l.size).sum::<u64>() + config_len,
            written
                .layers
                .iter()
                .map(|l| l.uncompressed_size)
                .sum::<u64>()
                + config_len,
        )
    };
    let sizes = Sizes {
        binary: a.binary_size,
        image_compressed,
        image_uncompressed,
        file: written.bytes,
        overhead: image_uncompressed as i64 - a.binary_size as i64,
    };
    Ok(ScaffoldOutcome {
        app: req.app.clone(),
        version: req.version,
        compression: match (req.format.is_system(), compression) {
            (true, Compression::Zstd { .. }) => "zstd".into(),
            (true, _) => "xz".into(),
            _ => compression.name().into(),
        },
        written,
        sizes,
        facts: a.facts,
        push_written,
        image_tests: None,
    })
}

impl Assembled {
    /// Puts the image test's result in the label `io.binship.image-tests` of the image and of
    /// its other platforms (which binship's runner does not run: their label says so).
    pub fn record_image_tests(&mut self, t: &crate::image_test::ImageTests) {
        let label = t.label();
        self.spec
            .config
            .labels
            .insert(crate::image_test::LABEL.into(), label.clone());
        self.facts
            .labels
            .insert(crate::image_test::LABEL.into(), label);
        for o in &mut self.others {
            o.config.labels.insert(
                crate::image_test::LABEL.into(),
                format!(
                    "skipped: a linux/{} image; binship's runner runs the host's platform only",
                    o.platform.architecture
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_tag;

    #[test]
    fn tags_follow_the_reference_grammar() {
        assert_eq!(check_tag("go-id:v.1").unwrap(), "go-id:v.1");
        assert_eq!(check_tag("go-id").unwrap(), "go-id:latest");
        assert_eq!(
            check_tag("127.0.0.1:5000/team/go-id:v.2").unwrap(),
            "127.0.0.1:5000/team/go-id:v.2"
        );
        for bad in [
            "Go-Id:v1",
            "go-id:",
            "go id",
            "go-id:v 1",
            "-x:1",
            "go-id:.x",
            "a//b",
        ] {
            assert!(check_tag(bad).is_err(), "{bad}");
        }
    }
}
