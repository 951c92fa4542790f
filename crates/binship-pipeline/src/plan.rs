//! The scaffold plan: [`ScaffoldPlan::new`] turns what a user typed ([`ScaffoldFlags`], from
//! the CLI, the MCP server or a recipe's `[[outputs]]`) plus the recipe into typed, validated
//! settings in one pass, before any byte is written; [`select_version`] is the seed's decision
//! tree (no app, no versions, one, several, chosen) with the prompt supplied by the caller.
//! Every flag either takes effect for the chosen format or is refused here, naming it.

use std::path::PathBuf;

use binship_image::Compression;
use binship_oci::Reference;
use binship_recipe::Recipe;
use binship_sink::{Destination, Format, Repository};
use binship_store::Store;

use crate::scaffold::{Overrides, ScaffoldRequest};

/// The seed's container types: each sets a format, a base (from the recipe's
/// `container.bases`) and a service manager, which explicit flags override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerType {
    Docker,
    Podman,
    Oci,
    LxcAlpine,
    LxcDebian,
    Incus,
}

impl ContainerType {
    /// Every type, in the order the prompt lists them.
    pub const ALL: [ContainerType; 6] = [
        ContainerType::Docker,
        ContainerType::Podman,
        ContainerType::Oci,
        ContainerType::LxcAlpine,
        ContainerType::LxcDebian,
        ContainerType::Incus,
    ];

    /// The name users type (`--type`).
    pub fn name(self) -> &'static str {
        match self {
            ContainerType::Docker => "docker",
            ContainerType::Podman => "podman",
            ContainerType::Oci => "oci",
            ContainerType::LxcAlpine => "lxc-alpine",
            ContainerType::LxcDebian => "lxc-debian",
            ContainerType::Incus => "incus",
        }
    }

    /// Parses a type name.
    ///
    /// # Errors
    /// [`PlanError::Usage`] naming the known types.
    pub fn parse(s: &str) -> Result<ContainerType, PlanError> {
        ContainerType::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                PlanError::Usage(format!(
                    "unknown type `{s}` (expected one of {})",
                    ContainerType::ALL.map(|t| t.name()).join(", ")
                ))
            })
    }

    /// The format this type writes.
    pub fn format(self) -> Format {
        match self {
            ContainerType::Docker => Format::DockerArchive,
            ContainerType::Podman => Format::OciArchive,
            ContainerType::Oci => Format::Oci,
            ContainerType::LxcAlpine | ContainerType::LxcDebian => Format::Lxc,
            ContainerType::Incus => Format::Incus,
        }
    }

    /// The keys of the recipe's `container.bases` this type takes its base from, in order.
    fn base_keys(self) -> &'static [&'static str] {
        match self {
            ContainerType::LxcAlpine => &["alpine"],
            ContainerType::LxcDebian => &["debian"],
            ContainerType::Incus => &["debian", "alpine"],
            _ => &[],
        }
    }

    /// The service manager this type asks for, if any.
    fn service(self) -> Option<&'static str> {
        match self {
            ContainerType::LxcAlpine => Some("openrc"),
            ContainerType::LxcDebian => Some("systemd"),
            _ => None,
        }
    }
}

/// What a user asked for, as typed: strings are checked by [`ScaffoldPlan::new`].
#[derive(Debug, Clone, Default)]
pub struct ScaffoldFlags {
    pub app: String,
    /// `--version N`.
    pub version: Option<String>,
    /// `--type`.
    pub container_type: Option<String>,
    /// `--format`.
    pub format: Option<String>,
    pub base: Option<String>,
    /// `--compress`: none, gzip, zstd or xz.
    pub compress: Option<String>,
    /// `--level`: a gzip/zstd level, or the xz preset of a system image.
    pub level: Option<i32>,
    pub output: Option<PathBuf>,
    pub force: bool,
    pub tag: Option<String>,
    pub alias: Option<String>,
    pub split: bool,
    /// `--no-image-test`.
    pub no_image_test: bool,
    /// `--image-test-engine ENGINE`.
    pub image_test_engine: Option<String>,
    /// `--image-test-run-args ARGS` (sh words).
    pub image_test_run_args: Option<String>,
    pub allow_untested: bool,
    pub platform: Option<String>,
    pub service: Option<String>,
    pub ca_bundle: Option<PathBuf>,
    pub zoneinfo: bool,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub ports: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub stop_signal: Option<String>,
    /// `--push REGISTRY/REPO[:TAG]`.
    pub push: Option<String>,
    pub sign: bool,
    pub sbom: bool,
    /// `--key` or `--password-file` was given.
    pub key_given: bool,
    pub require_signed: bool,
    /// `--pub FILE` was given (the key `--require-signed` verifies with).
    pub public_key_given: bool,
    /// `--insecure`, `--chunk-size` or `--mount-from` was given (how `--push` talks to the
    /// registry).
    pub registry_given: bool,
}

/// Why a plan was refused. Every variant names the flag or file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A flag, a combination of flags or a recipe key that cannot take effect (exit 2).
    #[error("{0}")]
    Usage(String),
}

/// The settings of one scaffold, resolved once and validated: what [`crate::scaffold::scaffold`]
/// needs once a version is chosen, plus what happens around it (push, attachments).
#[derive(Debug, Clone)]
pub struct ScaffoldPlan {
    /// The type the settings came from (`None`: an explicit `--format`).
    pub container_type: Option<ContainerType>,
    pub format: Format,
    /// `--version N`, if given.
    pub requested_version: Option<u32>,
    /// `--push`: the registry destination beside the file one, checked against the format;
    /// its tag defaults to `v.N` of the chosen version.
    pub push: Option<Repository>,
    pub sign: bool,
    pub sbom: bool,
    /// `--require-signed` or the recipe's `container.require_signed`.
    pub require_signed: bool,
    /// The request, with `version` 0 until [`ScaffoldPlan::request`] fills it in.
    request: ScaffoldRequest,
}

/// The choices of the seed's version prompt (step 2), newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionChoices {
    pub versions: Vec<u32>,
    /// One line per version: size, tests, commit, and `(latest)` / `(current)`.
    pub labels: Vec<String>,
    /// The index offered by default: the current version, else the latest.
    pub default: usize,
}

/// The choices a prompt offers among `versions` of `app` (`current`: the promoted one).
pub fn version_choices(
    store: &Store,
    app: &str,
    versions: &[u32],
    current: Option<u32>,
) -> VersionChoices {
    let newest_first: Vec<u32> = versions.iter().rev().copied().collect();
    let default = current
        .and_then(|c| newest_first.iter().position(|v| *v == c))
        .unwrap_or(0);
    let labels = newest_first
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mark = match (i == 0, Some(*v) == current) {
                (true, true) => "  (latest, current)",
                (true, false) => "  (latest)",
                (false, true) => "  (current)",
                _ => "",
            };
            match store.record(app, *v) {
                Ok(r) => format!(
                    "v.{v}  {}  tests {}/{} {}  commit {}{mark}",
                    binship_store::readme::human_size(r.binary.size),
                    r.passed,
                    r.total,
                    r.status,
                    r.git.short
                ),
                Err(_) => format!("v.{v}  (no test results){mark}"),
            }
        })
        .collect();
    VersionChoices {
        versions: newest_first,
        labels,
        default,
    }
}

/// Parses a version number `N` (a positive integer).
///
/// # Errors
/// [`PlanError::Usage`] for anything else.
pub fn parse_version(s: &str) -> Result<u32, PlanError> {
    match s.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(PlanError::Usage(format!(
            "version must be a positive integer, got `{s}`"
        ))),
    }
}

impl ScaffoldPlan {
    /// Resolves and checks every setting. `chosen_type` overrides the flags' type (a prompt's
    /// answer). Nothing is read but the recipe.
    ///
    /// # Errors
    /// [`PlanError::Usage`] naming the first flag or recipe key that cannot take effect.
    pub fn new(
        store: &Store,
        flags: &ScaffoldFlags,
        chosen_type: Option<ContainerType>,
    ) -> Result<ScaffoldPlan, PlanError> {
        let usage = |m: String| PlanError::Usage(m);
        let invalid = |e: binship_recipe::InvalidValue| PlanError::Usage(e.0);
        binship_recipe::validate_app_name(&flags.app).map_err(invalid)?;
        let recipe = Recipe::load(&store.recipe_path(&flags.app)).ok();
        let container_type = match (chosen_type, &flags.container_type, &flags.format) {
            (Some(t), _, _) => Some(t),
            (None, Some(t), _) => Some(ContainerType::parse(t)?),
            (None, None, Some(_)) => None,
            (None, None, None) => Some(
                recipe
                    .as_ref()
                    .and_then(|r| r.container.default_type.as_deref())
                    .map(ContainerType::parse)
                    .transpose()?
                    .unwrap_or(ContainerType::Docker),
            ),
        };
        let format = match &flags.format {
            Some(f) => f.parse::<Format>().map_err(|e| usage(e.to_string()))?,
            None => container_type.map_or(Format::DockerArchive, ContainerType::format),
        };
        let mut base = flags.base.clone();
        if let (None, Some(t)) = (&base, container_type) {
            if let Some(first) = t.base_keys().first() {
                let bases = recipe
                    .as_ref()
                    .map(|r| r.container.bases.clone())
                    .unwrap_or_default();
                base = Some(
                    t.base_keys()
                        .iter()
                        .find_map(|k| bases.get(*k).cloned())
                        .ok_or_else(|| {
                            usage(format!(
                                "type {} needs the {first} base: set container.bases.{first} = \"rootfs:...\" in {}, or pass --base",
                                t.name(),
                                store.recipe_path(&flags.app).display()
                            ))
                        })?,
                );
            }
        }
        let service = flags.service.clone().or_else(|| {
            container_type
                .and_then(ContainerType::service)
                .map(String::from)
        });
        let requested_version = flags.version.as_deref().map(parse_version).transpose()?;

        // Flags that would do nothing for this format are refused, not ignored.
        if flags.split && !format.takes_split() {
            return Err(usage(format!(
                "--split is for --format incus (its two-file form), not {format}"
            )));
        }
        if flags.alias.is_some() && !format.named_by_alias() {
            return Err(usage(if format == Format::Lxc {
                "--alias names an Incus image; an LXC image carries no name (lxc-create -n names the container)".to_string()
            } else {
                format!("--alias names an Incus image; --format {format} takes --tag")
            }));
        }
        if format.is_system() {
            // A system image boots its init, which starts the service: the image config's
            // fields have no reader there.
            for (given, flag) in [
                (flags.tag.is_some(), "--tag"),
                (!flags.ports.is_empty(), "--port"),
                (flags.workdir.is_some(), "--workdir"),
                (flags.stop_signal.is_some(), "--stop-signal"),
            ] {
                if given {
                    return Err(usage(format!(
                        "{flag} sets the config of an application image; --format {format} boots its init and has none"
                    )));
                }
            }
        }
        let effective_base = base
            .clone()
            .or_else(|| recipe.as_ref().map(|r| r.container.base.clone()))
            .unwrap_or_else(|| "static".into());
        for (given, flag) in [
            (flags.ca_bundle.is_some(), "--ca-bundle"),
            (flags.zoneinfo, "--zoneinfo"),
        ] {
            if given && effective_base != "static" {
                return Err(usage(format!(
                    "{flag} fills the static base; base {effective_base} has its own (use --base static, or put the file in the base)"
                )));
            }
        }
        if flags.level.is_some() && flags.compress.as_deref() == Some("none") {
            return Err(usage(
                "--level has nothing to set with --compress none".into(),
            ));
        }
        let compression = match (flags.compress.as_deref(), format) {
            // System formats: xz (the default; --level is its preset) or, for Incus, zstd.
            (None | Some("xz"), Format::Lxc | Format::Incus) => None,
            (Some("zstd"), Format::Incus) => {
                Some(Compression::parse("zstd", flags.level).map_err(|e| usage(e.to_string()))?)
            }
            (Some(c), Format::Lxc) => {
                return Err(usage(format!(
                "--format lxc writes xz (lxc-create's local template reads nothing else), not {c}"
            )))
            }
            (Some(c), Format::Incus) => {
                return Err(usage(format!(
                    "--format incus takes --compress xz (default) or zstd, not {c}"
                )))
            }
            (Some(c), _) => {
                Some(Compression::parse(c, flags.level).map_err(|e| usage(e.to_string()))?)
            }
            (None, _) if flags.level.is_some() && !format.level_is_xz_preset() => {
                return Err(usage(
                    "--level needs --compress gzip or zstd (or --format lxc/incus: the xz preset)"
                        .into(),
                ))
            }
            (None, _) => None,
        };
        let xz_preset = match (format.level_is_xz_preset(), flags.level) {
            (_, _) if compression.is_some() => None,
            (true, Some(l)) if (0..=9).contains(&l) => Some(l as u32),
            (true, Some(l)) => return Err(usage(format!("xz preset must be 0-9, got {l}"))),
            _ => None,
        };
        let mut ports = Vec::new();
        for p in &flags.ports {
            ports.push(
                p.parse::<u32>()
                    .map_err(|_| usage(format!("port `{p}` is not a number in 1-65535")))?,
            );
        }
        if let Some(p) = &flags.platform {
            binship_recipe::Target::parse(p).map_err(invalid)?;
        }
        // Checked before packing: a bad reference must not cost a pack.
        let push = flags
            .push
            .as_deref()
            .map(|r| {
                let repo = Repository::parse(r).map_err(|e| usage(e.to_string()))?;
                Destination::Registry(repo.clone())
                    .check(format)
                    .map_err(|e| usage(format!("--push {e}")))
                    .map(|()| repo)
            })
            .transpose()?;
        let words = |flag: &str, v: &str| binship_recipe::shell_words(flag, v).map_err(usage);
        let image_test_engine = match (&flags.image_test_engine, &flags.image_test_run_args) {
            // The engine BINSHIP_IMAGE_TEST_ENGINE names takes the run flags too.
            (None, Some(run)) => match crate::image_test::Runner::from_env().map_err(usage)? {
                crate::image_test::Runner::Engine(mut e) if !flags.no_image_test => {
                    e.run_args = words("--image-test-run-args", run)?;
                    crate::image_test::Runner::Engine(e)
                }
                _ => {
                    return Err(usage(
                        "--image-test-run-args is for --image-test-engine (or an engine BINSHIP_IMAGE_TEST_ENGINE names)".into(),
                    ))
                }
            },
            (None, None) => crate::image_test::Runner::Auto,
            (Some(_), _) if flags.no_image_test => {
                return Err(usage(
                    "--image-test-engine runs the image test, which --no-image-test skips".into(),
                ))
            }
            (Some(_), _) if format.is_system() => {
                return Err(usage(format!(
                    "--image-test-engine runs application images; {format} images are booted by LXC for their image test"
                )))
            }
            (Some(e), None) if e.eq_ignore_ascii_case("binship") => {
                crate::image_test::Runner::Binship
            }
            (Some(e), None) if e.eq_ignore_ascii_case("auto") => crate::image_test::Runner::Detect,
            (Some(e), Some(_)) if e.eq_ignore_ascii_case("binship") || e.eq_ignore_ascii_case("auto") => {
                return Err(usage(
                    "--image-test-run-args is for an engine; binship's runner takes no run flags (auto: give the engine)"
                        .into(),
                ))
            }
            (Some(e), run) => {
                let command = words("--image-test-engine", e)?;
                if command.is_empty() {
                    return Err(usage("--image-test-engine needs a command (docker, podman)".into()));
                }
                let run_args = run
                    .as_deref()
                    .map(|r| words("--image-test-run-args", r))
                    .transpose()?
                    .unwrap_or_default();
                crate::image_test::Runner::Engine(crate::image_test::Engine { command, run_args })
            }
        };
        if flags.key_given && !flags.sign {
            return Err(usage("--key and --password-file are for --sign".into()));
        }
        if flags.registry_given && flags.push.is_none() {
            return Err(usage(
                "--insecure, --chunk-size and --mount-from are for --push".into(),
            ));
        }
        if (flags.sign || flags.sbom) && !format.holds_attachments() && flags.push.is_none() {
            return Err(usage(
                "--sign and --sbom attach to an OCI layout (--format oci) or a pushed image (--push)"
                    .into(),
            ));
        }
        let require_signed =
            flags.require_signed || recipe.as_ref().is_some_and(|r| r.container.require_signed);
        if flags.public_key_given && !require_signed {
            return Err(usage(
                "--pub is the key --require-signed verifies with (or the recipe's container.require_signed)"
                    .into(),
            ));
        }
        Ok(ScaffoldPlan {
            container_type,
            format,
            requested_version,
            push,
            sign: flags.sign,
            sbom: flags.sbom,
            require_signed,
            request: ScaffoldRequest {
                app: flags.app.clone(),
                version: 0,
                format,
                base,
                compression,
                out: flags.output.clone(),
                force: flags.force,
                cancel: binship_build::Cancel::new(),
                tag: flags.tag.clone(),
                allow_untested: flags.allow_untested,
                overrides: Overrides {
                    args: (!flags.args.is_empty()).then(|| flags.args.clone()),
                    env: flags.env.clone(),
                    ports: (!ports.is_empty()).then_some(ports),
                    user: flags.user.clone(),
                    workdir: flags.workdir.clone(),
                    stop_signal: flags.stop_signal.clone(),
                },
                ca_bundle: flags.ca_bundle.clone(),
                zoneinfo: flags.zoneinfo,
                source_date_epoch: None,
                progress: None,
                platform: flags.platform.clone(),
                service,
                alias: flags.alias.clone(),
                split: flags.split,
                xz_preset,
                push_stage: None,
                no_image_test: flags.no_image_test,
                image_test_runner: image_test_engine,
            },
        })
    }

    /// The app.
    pub fn app(&self) -> &str {
        &self.request.app
    }

    /// The request for `version`.
    /// Lets `cancel` interrupt the scaffolds of this plan (the CLI's Ctrl-C and SIGTERM).
    pub fn cancel_with(&mut self, cancel: binship_build::Cancel) {
        self.request.cancel = cancel;
    }

    pub fn request(&self, version: u32) -> ScaffoldRequest {
        ScaffoldRequest {
            version,
            ..self.request.clone()
        }
    }

    /// Where `--push` sends `version` (its tag defaults to `v.N`).
    pub fn push_reference(&self, version: u32) -> Option<Reference> {
        self.push.as_ref().map(|r| r.reference(version))
    }
}

/// How the version was chosen: the seed's decision tree, told apart for agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// No recipe and no versions: "No binary found ... Build one first".
    NoApp,
    /// A recipe, but no stored version yet.
    NoVersions,
    /// `--version N`.
    Chosen(u32),
    /// The only version.
    Only(u32),
    /// Several: picked at the prompt.
    Prompted(u32),
    /// Several, no prompt: the current one (`binship promote`).
    Current(u32),
    /// Several, no prompt, no current: the newest.
    Latest(u32),
    /// Several, and the prompt was left without an answer.
    Cancelled,
}

impl Selection {
    /// The chosen version, if one was.
    pub fn version(self) -> Option<u32> {
        match self {
            Selection::Chosen(v)
            | Selection::Only(v)
            | Selection::Prompted(v)
            | Selection::Current(v)
            | Selection::Latest(v) => Some(v),
            _ => None,
        }
    }

    /// What to tell the user about a choice they did not make (the only version, or the
    /// current or latest of several with no terminal to ask on), given the app's `versions`.
    pub fn notice(self, app: &str, versions: &[u32]) -> Option<String> {
        let list = || {
            let vs: Vec<String> = versions.iter().map(|v| format!("v.{v}")).collect();
            format!("{} versions of {app} ({})", versions.len(), vs.join(", "))
        };
        match self {
            Selection::Only(v) => Some(format!(
                "Found {app}-binary-v.{v}: auto-selected v.{v} (the only version)"
            )),
            Selection::Current(c) => Some(format!(
                "{}; not a terminal, so using the current one: v.{c} (--version N to choose)",
                list()
            )),
            Selection::Latest(l) => Some(format!(
                "{}; not a terminal, so using the latest: v.{l} (--version N to choose)",
                list()
            )),
            _ => None,
        }
    }

    /// The JSON name of how it was chosen (flag, only, prompt, current, latest).
    pub fn by(self) -> &'static str {
        match self {
            Selection::Chosen(_) => "flag",
            Selection::Only(_) => "only",
            Selection::Prompted(_) => "prompt",
            Selection::Current(_) => "current",
            Selection::Latest(_) => "latest",
            Selection::NoApp => "no_app",
            Selection::NoVersions => "no_versions",
            Selection::Cancelled => "cancelled",
        }
    }
}

/// Asks the user for a version: gets the versions and the current one, answers a version or
/// `None` (cancelled).
pub type VersionPrompt<'a> = &'a dyn Fn(&[u32], Option<u32>) -> Option<u32>;

/// The seed's step 2: which version of `app` to pack. `prompt` (given on a terminal) is asked
/// when there are several: it gets the versions and the current one, and answers a version or
/// `None` (cancelled). Without a prompt: the current version, else the newest.
///
/// # Errors
/// The store's error when its directory cannot be read.
pub fn select_version(
    store: &Store,
    app: &str,
    requested: Option<u32>,
    prompt: Option<VersionPrompt>,
) -> Result<(Selection, Vec<u32>), binship_store::StoreError> {
    let versions = store.versions(app)?;
    let selection = match (requested, versions.as_slice()) {
        (Some(n), _) => Selection::Chosen(n),
        (None, []) if store.recipe_path(app).is_file() => Selection::NoVersions,
        (None, []) => Selection::NoApp,
        (None, [only]) => Selection::Only(*only),
        (None, many) => {
            let current = store
                .current(app)
                .ok()
                .flatten()
                .filter(|c| many.contains(c));
            match (prompt, current) {
                (Some(ask), _) => {
                    ask(many, current).map_or(Selection::Cancelled, Selection::Prompted)
                }
                (None, Some(c)) => Selection::Current(c),
                (None, None) => Selection::Latest(*many.last().expect("several")),
            }
        }
    };
    Ok((selection, versions))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().unwrap();
        let s = Store::at(d.path().join("images/standalone-binaries"));
        (d, s)
    }

    fn flags(f: &[(&str, &str)]) -> ScaffoldFlags {
        let mut s = ScaffoldFlags {
            app: "go-id".into(),
            ..Default::default()
        };
        for (k, v) in f {
            match *k {
                "format" => s.format = Some(v.to_string()),
                "compress" => s.compress = Some(v.to_string()),
                "level" => s.level = v.parse().ok(),
                "split" => s.split = true,
                "alias" => s.alias = Some(v.to_string()),
                "type" => s.container_type = Some(v.to_string()),
                "sign" => s.sign = true,
                "key" => s.key_given = true,
                "port" => s.ports.push(v.to_string()),
                "insecure" => s.registry_given = true,
                "pub" => s.public_key_given = true,
                "push" => s.push = Some(v.to_string()),
                "no-image-test" => s.no_image_test = true,
                "image-test-engine" => s.image_test_engine = Some(v.to_string()),
                "image-test-run-args" => s.image_test_run_args = Some(v.to_string()),
                _ => unreachable!("{k}"),
            }
        }
        s
    }

    #[test]
    fn versions_are_positive_integers() {
        assert_eq!(super::parse_version("3").unwrap(), 3);
        for bad in ["0", "-1", "x", "1.5", ""] {
            assert!(super::parse_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_that_cannot_take_effect_are_refused_by_name() {
        let (_d, s) = store();
        let refused = |f: &[(&str, &str)], says: &str| {
            let e = ScaffoldPlan::new(&s, &flags(f), None).unwrap_err();
            assert!(e.to_string().contains(says), "{f:?}: {e}");
        };
        refused(&[("split", "")], "--split");
        refused(&[("format", "oci"), ("alias", "x")], "--alias");
        refused(&[("compress", "none"), ("level", "3")], "--level");
        refused(
            &[("format", "lxc"), ("compress", "zstd")],
            "--format lxc writes xz",
        );
        refused(
            &[("format", "incus"), ("level", "12")],
            "xz preset must be 0-9",
        );
        refused(&[("level", "3")], "--level needs --compress");
        refused(&[("key", "")], "--key and --password-file are for --sign");
        refused(&[("sign", "")], "--sign and --sbom attach");
        refused(&[("port", "http")], "port `http`");
        refused(&[("insecure", "")], "are for --push");
        refused(
            &[("format", "lxc"), ("push", "127.0.0.1:5000/x")],
            "lxc images are not pushed",
        );
        refused(
            &[("pub", "")],
            "--pub is the key --require-signed verifies with",
        );
        refused(&[("format", "tarball")], "unknown format `tarball`");
        refused(
            &[("image-test-run-args", "--ulimit x")],
            "--image-test-run-args is for --image-test-engine",
        );
        refused(
            &[("image-test-engine", "docker"), ("no-image-test", "")],
            "which --no-image-test skips",
        );
        refused(
            &[("image-test-engine", "podman"), ("format", "lxc")],
            "--image-test-engine runs application images",
        );
        refused(
            &[("image-test-engine", "podman --root 'x")],
            "--image-test-engine: unbalanced quote",
        );
        let p = ScaffoldPlan::new(
            &s,
            &flags(&[
                ("image-test-engine", "podman --root '/a b'"),
                ("image-test-run-args", "--ulimit nofile=20000:20000"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(
            p.request(1).image_test_runner,
            crate::image_test::Runner::Engine(crate::image_test::Engine {
                command: vec!["podman".into(), "--root".into(), "/a b".into()],
                run_args: vec!["--ulimit".into(), "nofile=20000:20000".into()],
            })
        );
        let p = ScaffoldPlan::new(&s, &flags(&[("image-test-engine", "binship")]), None).unwrap();
        assert_eq!(
            p.request(1).image_test_runner,
            crate::image_test::Runner::Binship
        );
        let p = ScaffoldPlan::new(&s, &flags(&[("image-test-engine", "AUTO")]), None).unwrap();
        assert_eq!(
            p.request(1).image_test_runner,
            crate::image_test::Runner::Detect
        );
        let p = ScaffoldPlan::new(&s, &flags(&[]), None).unwrap();
        assert_eq!(
            p.request(1).image_test_runner,
            crate::image_test::Runner::Auto
        );
        refused(
            &[
                ("image-test-engine", "binship"),
                ("image-test-run-args", "-x"),
            ],
            "binship's runner takes no run flags",
        );
        refused(&[("type", "lxc-debian")], "needs the debian base");
        let p =
            ScaffoldPlan::new(&s, &flags(&[("format", "incus"), ("level", "0")]), None).unwrap();
        assert_eq!(
            (p.format, p.request(3).xz_preset, p.request(3).version),
            (Format::Incus, Some(0), 3)
        );
        let p = ScaffoldPlan::new(&s, &flags(&[("type", "podman")]), None).unwrap();
        assert_eq!(p.format, Format::OciArchive);
    }

    #[test]
    fn versions_are_selected_by_the_seed_tree() {
        let (_d, s) = store();
        assert_eq!(
            select_version(&s, "go-id", None, None).unwrap().0,
            Selection::NoApp
        );
        assert_eq!(
            select_version(&s, "go-id", Some(4), None).unwrap().0,
            Selection::Chosen(4)
        );
        for v in [1, 2, 3] {
            std::fs::create_dir_all(s.version_dir("go-id", v)).unwrap();
        }
        assert_eq!(
            select_version(&s, "go-id", None, None).unwrap().0,
            Selection::Latest(3)
        );
        let ask = |vs: &[u32], _c: Option<u32>| Some(vs[0]);
        assert_eq!(
            select_version(&s, "go-id", None, Some(&ask)).unwrap().0,
            Selection::Prompted(1)
        );
        let cancel = |_: &[u32], _: Option<u32>| None;
        assert_eq!(
            select_version(&s, "go-id", None, Some(&cancel)).unwrap().0,
            Selection::Cancelled
        );
    }
}
