//! Recipes: parses and validates `binship.toml` into a [`Recipe`], pure data with no I/O beyond
//! reading the file; [`init`] writes a new app's recipe (and a service template's sources).
//!
//! A recipe says what to build (kind, source, flags), for which target, and how to test the
//! result (port, readiness, HTTP and command checks). Unknown keys are errors that name the
//! file, line and column.

pub mod detect;
pub mod init;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The file name of a recipe inside `images/standalone-binaries/<app>/`.
pub const RECIPE_FILE: &str = "binship.toml";

/// Errors from reading or validating a recipe; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("{path}: recipe not found")]
    NotFound { path: PathBuf },
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {key}: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

/// A value (app name, kind, user, target) that is not what binship takes; the message names
/// the value and says what is expected. Exit class: usage (2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

impl From<InvalidValue> for String {
    fn from(e: InvalidValue) -> String {
        e.0
    }
}

/// The language or mechanism that produces the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Go,
    Rust,
    C,
    Command,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Go => "go",
            Kind::Rust => "rust",
            Kind::C => "c",
            Kind::Command => "command",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Kind {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, InvalidValue> {
        match s {
            "go" => Ok(Kind::Go),
            "rust" => Ok(Kind::Rust),
            "c" => Ok(Kind::C),
            "command" => Ok(Kind::Command),
            other => Err(InvalidValue(format!(
                "unknown kind `{other}` (expected go, rust, c or command)"
            ))),
        }
    }
}

/// A whole recipe, as written in `binship.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// The app's name; must match its directory under the store.
    pub name: String,
    pub kind: Kind,
    /// Source directory, relative to the recipe's directory (or absolute).
    pub source: PathBuf,
    /// File name of the binary in the version dir (default: the app name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
    /// Require a static binary (default true).
    #[serde(default = "yes", rename = "static")]
    pub require_static: bool,
    #[serde(default)]
    pub target: Target,
    /// Several platforms ("linux/amd64", "linux/arm64"): each is built and tested; the native
    /// one (else the first) is the primary binary, the others go to `<os>-<arch>/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    #[serde(default)]
    pub build: BuildSettings,
    #[serde(default)]
    pub test: TestSettings,
    /// How `binship scaffold` packs the binary (not part of the build's cache key).
    #[serde(default)]
    pub container: ContainerSettings,
    /// A scanner run on the built binaries before they are stored.
    #[serde(default, skip_serializing_if = "ScanSettings::is_empty")]
    pub scan: ScanSettings,
    /// What `binship update` re-scaffolds after a new version passes (not part of the build's
    /// cache key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<OutputSpec>,
    /// A shared build cache in an OCI registry (not part of the build's cache key).
    #[serde(default, skip_serializing_if = "CacheSettings::is_empty")]
    pub cache: CacheSettings,
}

/// The `[cache]` section: a registry repository shared by builders (docs/recipe.md, "Shared
/// cache"). `$BINSHIP_CACHE` (REGISTRY/REPO, or `off`) overrides `registry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    /// REGISTRY/REPO, e.g. "registry.example.com/team/binship-cache"; none: no shared cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// Publish a version built here (tests passed) to the cache (default true).
    #[serde(default = "yes")]
    pub push: bool,
    /// Take only entries whose minisign signatures verify with `public_key` (default false).
    #[serde(default)]
    pub require_signed: bool,
    /// The minisign public key for `require_signed` (default: binship's default public key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PathBuf>,
    /// Plain HTTP or any certificate for a registry that is not on loopback (as `--insecure`).
    #[serde(default)]
    pub insecure: bool,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            registry: None,
            push: true,
            require_signed: false,
            public_key: None,
            insecure: false,
        }
    }
}

impl CacheSettings {
    pub fn is_empty(&self) -> bool {
        *self == CacheSettings::default()
    }
}

/// One `[[outputs]]` entry: an image `binship update` writes for each new version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// docker-archive, oci, oci-archive, lxc or incus.
    #[serde(default = "default_output_format")]
    pub format: String,
    /// As `scaffold --base` (default: the recipe's container.base).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// As `scaffold --service`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// As `scaffold --platform`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// A path relative to the recipe's dir (replaced on each update), or
    /// `docker://REGISTRY/REPO[:TAG]` to push (tag default v.N).
    pub destination: String,
}

fn default_output_format() -> String {
    "docker-archive".into()
}

/// The seed's container types (`scaffold --type`).
pub const CONTAINER_TYPES: &[&str] = &[
    "docker",
    "podman",
    "oci",
    "lxc-alpine",
    "lxc-debian",
    "incus",
];

/// The `[scan]` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanSettings {
    /// Run with `sh -c` in the staging dir, `BINSHIP_BINARY` set to each binary in turn; a
    /// non-zero exit refuses the build (output kept in `scan.log`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// What an OSV finding (`build --osv-db`) does: "refuse" the build (default) or "warn" and
    /// store it, the findings recorded in scan.json and test-results.json's `warnings`.
    #[serde(default, skip_serializing_if = "OsvMode::is_refuse")]
    pub osv: OsvMode,
}

/// What a known-vulnerable module does to a build.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OsvMode {
    #[default]
    Refuse,
    Warn,
}

impl OsvMode {
    pub fn is_refuse(&self) -> bool {
        *self == OsvMode::Refuse
    }
}

impl ScanSettings {
    pub fn is_empty(&self) -> bool {
        self.command.is_none() && self.osv.is_refuse()
    }
}

/// The `[container]` section: image defaults for `binship scaffold`, each overridable by a flag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerSettings {
    /// Default base: "scratch" or "static".
    #[serde(default = "default_base")]
    pub base: String,
    /// Arguments after the binary (the image's Cmd).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Exposed TCP ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u16>,
    /// "uid:gid" or a known name (root, nonroot).
    #[serde(default = "default_user")]
    pub user: String,
    #[serde(default = "default_workdir")]
    pub workdir: String,
    #[serde(default = "default_stop_signal")]
    pub stop_signal: String,
    /// An exec-form probe the image can run (e.g. ["/usr/local/bin/app", "--probe"]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub healthcheck: Vec<String>,
    /// Put binship's static probe at [`PROBE_PATH`] in the image; without a `healthcheck`,
    /// the image's healthcheck is then the probe against the recipe's readiness check on the
    /// first port ([`ContainerSettings::healthcheck_for`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub probe: bool,
    /// Extra labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// A URL for org.opencontainers.image.source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    /// Service manager for system containers: auto (from the base's distro), openrc, systemd,
    /// supervisor or none.
    #[serde(default = "default_service")]
    pub service: String,
    /// Restart policy of the service: no, on-failure or always.
    #[serde(default = "default_restart")]
    pub restart: String,
    /// Refuse to pack a version whose signatures do not verify (`scaffold --require-signed`).
    #[serde(default)]
    pub require_signed: bool,
    /// The default `scaffold --type` (docker, podman, oci, lxc-alpine, lxc-debian, incus).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub default_type: Option<String>,
    /// Bases the container types use: `alpine` and `debian` (e.g. "rootfs:/srv/alpine.tar.gz").
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bases: BTreeMap<String, String>,
    /// Files and directories of the recipe's tree copied into the image (`[[container.files]]`);
    /// the binary's tests see them under `{root}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<ContainerFile>,
    /// Directories created in the image, owned by its user, declared as OCI `Volumes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
}

/// One `[[container.files]]` entry: `source` (relative to the recipe's directory, or absolute)
/// is a file, or a directory whose contents land at `target` (`source = "site"`,
/// `target = "/srv"` gives `/srv/index.html`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerFile {
    pub source: String,
    /// An absolute path in the image.
    pub target: String,
    /// Octal permission bits of the files, as a string (`"0640"`). Default: 0644, or 0755 for
    /// a file the host marks executable; directories are 0755.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// `uid:gid` (numbers) owning them. Default `0:0`: root owns them and the service user can
    /// read but not write them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

impl ContainerFile {
    /// The source on the host, resolved against the recipe's directory.
    pub fn source_path(&self, recipe_dir: &Path) -> PathBuf {
        let p = Path::new(&self.source);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            recipe_dir.join(p)
        }
    }

    /// The mode as a number (validated at load time).
    pub fn mode_bits(&self) -> Option<u32> {
        self.mode
            .as_deref()
            .and_then(|m| u32::from_str_radix(m.trim_start_matches("0o"), 8).ok())
    }

    /// (uid, gid) (validated at load time); root by default.
    pub fn owner_ids(&self) -> (u64, u64) {
        self.owner
            .as_deref()
            .and_then(|o| o.split_once(':'))
            .and_then(|(u, g)| Some((u.parse().ok()?, g.parse().ok()?)))
            .unwrap_or((0, 0))
    }
}

/// Whether `p` is an absolute, normal path in an image: starts with `/`, no `..` or `.`
/// components, not the root itself.
fn is_image_path(p: &str) -> bool {
    p.starts_with('/')
        && p.trim_end_matches('/').len() > 1
        && p.len() <= 4095
        && !p
            .split('/')
            .any(|c| c == ".." || c == "." || c.contains('\0') || c.len() > 255)
}

fn default_service() -> String {
    "auto".into()
}
fn default_restart() -> String {
    "on-failure".into()
}

impl Default for ContainerSettings {
    fn default() -> Self {
        ContainerSettings {
            base: default_base(),
            args: vec![],
            env: BTreeMap::new(),
            ports: vec![],
            user: default_user(),
            workdir: default_workdir(),
            stop_signal: default_stop_signal(),
            healthcheck: vec![],
            probe: false,
            labels: BTreeMap::new(),
            source_url: None,
            service: default_service(),
            restart: default_restart(),
            require_signed: false,
            default_type: None,
            bases: BTreeMap::new(),
            files: vec![],
            volumes: vec![],
        }
    }
}

/// Where `container.probe` puts binship's probe in an image.
pub const PROBE_PATH: &str = "/usr/local/bin/binship-probe";

/// The probe's argument for a service on `port`: `http://127.0.0.1:PORT/PATH` with a readiness
/// path, else `tcp://127.0.0.1:PORT` (the readiness check the binary's tests use).
pub fn probe_url(port: u32, ready_path: Option<&str>) -> String {
    match ready_path {
        Some(p) => format!("http://127.0.0.1:{port}{p}"),
        None => format!("tcp://127.0.0.1:{port}"),
    }
}

impl ContainerSettings {
    /// The healthcheck the image runs (exec form, without docker's `CMD`): `healthcheck` when
    /// set, else with `probe` the probe against `test`'s readiness check on `port` (the image's
    /// first exposed port), else none.
    ///
    /// # Errors
    /// [`InvalidValue`] when `probe` has no port to probe.
    pub fn healthcheck_for(
        &self,
        test: &TestSettings,
        port: Option<u32>,
    ) -> Result<Vec<String>, InvalidValue> {
        if !self.healthcheck.is_empty() || !self.probe {
            return Ok(self.healthcheck.clone());
        }
        let port = port.ok_or_else(|| {
            InvalidValue(
                "container.probe needs a port to probe: set container.ports (or pass --port)"
                    .into(),
            )
        })?;
        Ok(vec![
            PROBE_PATH.to_string(),
            probe_url(port, test.ready_path.as_deref()),
        ])
    }
}

fn default_base() -> String {
    "static".into()
}
fn default_user() -> String {
    "65532:65532".into()
}
fn default_workdir() -> String {
    "/".into()
}
fn default_stop_signal() -> String {
    "SIGTERM".into()
}

/// Resolves a user spec to "uid:gid": numeric `uid:gid`, or root / nonroot.
///
/// # Errors
/// [`InvalidValue`] for anything else.
pub fn resolve_user(user: &str) -> Result<String, InvalidValue> {
    match user {
        "root" => return Ok("0:0".into()),
        "nonroot" => return Ok("65532:65532".into()),
        _ => {}
    }
    // (uid_t)-1 is no user: Linux reserves it (setuid(-1) leaves the id unchanged).
    let id = |x: &str| x.parse::<u32>().is_ok_and(|n| n != u32::MAX);
    let ok = user.split_once(':').is_some_and(|(u, g)| id(u) && id(g));
    if ok {
        Ok(user.into())
    } else {
        Err(InvalidValue(format!(
            "user must be uid:gid (0-4294967294) or a known name (root, nonroot), got `{user}`"
        )))
    }
}

fn yes() -> bool {
    true
}

/// Target platform of the binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    #[serde(default = "default_os")]
    pub os: String,
    #[serde(default = "native_arch")]
    pub arch: String,
}

impl Default for Target {
    fn default() -> Self {
        Target {
            os: default_os(),
            arch: native_arch(),
        }
    }
}

impl Target {
    /// Parses `os/arch`.
    pub fn parse(s: &str) -> Result<Target, InvalidValue> {
        let bad = |m: String| InvalidValue(m);
        let (os, arch) = s
            .split_once('/')
            .ok_or_else(|| bad(format!("target `{s}` is not os/arch (e.g. linux/arm64)")))?;
        if os != "linux" {
            return Err(bad(format!(
                "target `{s}`: unsupported os `{os}` (only linux)"
            )));
        }
        if !KNOWN_ARCHES.contains(&arch) {
            return Err(bad(format!(
                "target `{s}`: unknown arch `{arch}` (expected one of {})",
                KNOWN_ARCHES.join(", ")
            )));
        }
        Ok(Target {
            os: os.into(),
            arch: arch.into(),
        })
    }

    /// `linux-arm64`: the version's subdirectory for this platform.
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.os, self.arch)
    }

    pub fn is_native(&self) -> bool {
        self.os == "linux" && self.arch == native_arch()
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)
    }
}

fn default_os() -> String {
    "linux".into()
}

/// The host's architecture in Go/OCI spelling (amd64, arm64, ...).
pub fn native_arch() -> String {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "riscv64" => "riscv64",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        other => other,
    }
    .into()
}

/// Architectures binship knows (Go/OCI spelling).
pub const KNOWN_ARCHES: &[&str] = &[
    "amd64", "arm64", "386", "arm", "riscv64", "ppc64le", "s390x",
];

/// How to build.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSettings {
    /// go: the package to build (default "."); rust: the `--bin` name; c: source files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    /// Extra arguments for the compiler (go build, cargo build, gcc).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// Environment for the build; `{version}` and `{commit}` are expanded.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// go: `-ldflags` value with `{version}`/`{commit}` placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldflags: Option<String>,
    /// command: the shell command that builds (run with `sh -c` in the source dir).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// command: where the command leaves the binary, relative to the source dir.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<PathBuf>,
    /// go and rust: the toolchain to build with: a version (`"1.23"`: Debian's
    /// golang-1.23-go at /usr/lib/go-1.23; for rust a rustup toolchain, `cargo +1.80`) or an
    /// absolute path to the tool or its bin dir. Recorded by its version, never its path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toolchain: Option<String>,
}

/// The port the binary is tested on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PortSetting {
    /// A free port picked at test time.
    #[default]
    Auto,
    Fixed(u16),
}

impl Serialize for PortSetting {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PortSetting::Auto => s.serialize_str("auto"),
            PortSetting::Fixed(p) => s.serialize_u16(*p),
        }
    }
}

impl<'de> Deserialize<'de> for PortSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Str(s) if s == "auto" => Ok(PortSetting::Auto),
            Raw::Str(s) => Err(serde::de::Error::custom(format!(
                "port must be \"auto\" or a number in 1-65535, got \"{s}\""
            ))),
            Raw::Int(n) if (1..=65535).contains(&n) => Ok(PortSetting::Fixed(n as u16)),
            Raw::Int(n) => Err(serde::de::Error::custom(format!(
                "port must be \"auto\" or a number in 1-65535, got {n}"
            ))),
        }
    }
}

/// How the test port reaches the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortVia {
    /// As arguments (`port_arg`, default `["--port", "{port}"]`).
    #[default]
    Arg,
    /// As an environment variable (`port_env`, default `PORT`).
    Env,
}

/// How to test the binary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSettings {
    /// Run the service tests at all (false: only command checks).
    #[serde(default = "yes")]
    pub service: bool,
    #[serde(default)]
    pub port: PortSetting,
    #[serde(default)]
    pub port_via: PortVia,
    #[serde(default = "default_port_arg")]
    pub port_arg: Vec<String>,
    #[serde(default = "default_port_env")]
    pub port_env: String,
    /// Extra arguments when starting the service (`{port}` is expanded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// HTTP path polled for readiness (2xx = ready); without it, a TCP connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_path: Option<String>,
    /// How long to wait for readiness, e.g. "10s" or "500ms".
    #[serde(default = "default_ready_timeout")]
    pub ready_timeout: String,
    /// How long the service may take to exit after SIGTERM.
    #[serde(default = "default_stop_grace")]
    pub stop_grace: String,
    /// Exit statuses that count as a clean stop after SIGTERM besides 0, 143 and death by the
    /// signal (mini_httpd exits 1 from its handler), e.g. `[1]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_exit: Vec<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpCheck>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<CommandCheck>,
}

impl Default for TestSettings {
    fn default() -> Self {
        TestSettings {
            service: true,
            port: PortSetting::Auto,
            port_via: PortVia::Arg,
            port_arg: default_port_arg(),
            port_env: default_port_env(),
            args: vec![],
            env: BTreeMap::new(),
            ready_path: None,
            ready_timeout: default_ready_timeout(),
            stop_grace: default_stop_grace(),
            stop_exit: vec![],
            http: vec![],
            command: vec![],
        }
    }
}

impl TestSettings {
    /// The readiness timeout (validated at load time).
    pub fn ready_timeout(&self) -> Duration {
        parse_duration(&self.ready_timeout).unwrap_or(Duration::from_secs(10))
    }
    /// The SIGTERM grace period (validated at load time).
    pub fn stop_grace(&self) -> Duration {
        parse_duration(&self.stop_grace).unwrap_or(Duration::from_secs(5))
    }
}

/// How an image runs on another port, by the recipe's `test.port_via` rule (see
/// [`TestSettings::run_on_port`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortedRun {
    /// The Cmd to run: the image's, with the port's value replaced or `port_arg` appended.
    pub cmd: Vec<String>,
    /// Environment to set: `port_env` = the port, for `port_via = "env"`.
    pub env: Vec<(String, String)>,
}

impl TestSettings {
    /// The image's Cmd `cmd` changed to serve on `port`, and nothing else, by `port_via`:
    /// - `arg`: the value after `port_arg`'s flag is replaced, in both `--port 7001` and
    ///   `--port=7001` forms (`port_arg = ["--listen", "127.0.0.1:{port}"]` replaces the value
    ///   after `--listen` with `127.0.0.1:PORT`; `["--port={port}"]` names `--port`); when the
    ///   Cmd has no such flag, `port_arg` is appended;
    /// - `env`: `port_env` is set to the port and the Cmd is kept.
    ///
    /// `None` when neither applies: `port_arg` has no `{port}`, or names no flag (a positional
    /// port) while the Cmd is not empty.
    pub fn run_on_port(&self, cmd: &[String], port: u16) -> Option<PortedRun> {
        let p = port.to_string();
        if self.port_via == PortVia::Env {
            return Some(PortedRun {
                cmd: cmd.to_vec(),
                env: vec![(self.port_env.clone(), p)],
            });
        }
        let k = self.port_arg.iter().position(|a| a.contains("{port}"))?;
        let expanded: Vec<String> = self
            .port_arg
            .iter()
            .map(|a| a.replace("{port}", &p))
            .collect();
        let appended = || PortedRun {
            cmd: cmd.iter().chain(&expanded).cloned().collect(),
            env: vec![],
        };
        let eq_flag = self.port_arg[k]
            .split_once("{port}")
            .map(|(pre, _)| pre)
            .filter(|pre| pre.len() > 1 && pre.ends_with('='))
            .map(|pre| pre.trim_end_matches('=').to_string());
        let (flag, value) = match (k, eq_flag) {
            (0, Some(flag)) => (flag, p.clone()),
            (0, None) if cmd.is_empty() => return Some(appended()),
            (0, None) => return None,
            (k, _) => (self.port_arg[k - 1].clone(), expanded[k].clone()),
        };
        // A value with an address (`127.0.0.1:{port}`): only the port after the last `:` of
        // the Cmd's own value changes (`0.0.0.0:80` -> `0.0.0.0:PORT`, `[::]:80` too).
        let keeps_address = self.port_arg[k]
            .split_once("{port}")
            .is_some_and(|(pre, _)| pre.ends_with(':'));
        let new_value = |old: &str| match old.rsplit_once(':') {
            Some((addr, _)) if keeps_address => format!("{addr}:{p}"),
            _ => value.clone(),
        };
        let mut out = cmd.to_vec();
        let mut found = false;
        let mut i = 0;
        while i < out.len() {
            if out[i] == flag && i + 1 < out.len() {
                out[i + 1] = new_value(&out[i + 1]);
                found = true;
                i += 1;
            } else if let Some(old) = out[i].strip_prefix(&format!("{flag}=")) {
                out[i] = format!("{flag}={}", new_value(old));
                found = true;
            }
            i += 1;
        }
        Some(if found {
            PortedRun {
                cmd: out,
                env: vec![],
            }
        } else {
            appended()
        })
    }
}

fn default_port_arg() -> Vec<String> {
    vec!["--port".into(), "{port}".into()]
}
fn default_port_env() -> String {
    "PORT".into()
}
fn default_ready_timeout() -> String {
    "10s".into()
}
fn default_stop_grace() -> String {
    "5s".into()
}

/// An HTTP request sent to the running service, and what it must answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    pub name: String,
    #[serde(default = "default_method")]
    pub method: String,
    pub path: String,
    #[serde(default = "default_status")]
    pub status: u16,
    /// A regular expression the body must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

fn default_method() -> String {
    "GET".into()
}
fn default_status() -> u16 {
    200
}

/// A run of the binary with arguments (e.g. `--version`), and what it must do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandCheck {
    pub name: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub exit: i32,
    /// A regular expression stdout must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// A regular expression stderr must match (many programs print `-h` there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    #[serde(default = "default_stop_grace")]
    pub timeout: String,
}

impl CommandCheck {
    pub fn timeout(&self) -> Duration {
        parse_duration(&self.timeout).unwrap_or(Duration::from_secs(5))
    }
}

/// Parses "10s", "500ms", "2m" or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num.parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return None,
    };
    (secs <= 3600.0).then(|| Duration::from_secs_f64(secs))
}

/// Checks an app name: lowercase letters, digits, `-`, `_`, `.`; no `/`, no `..`.
///
/// # Errors
/// [`InvalidValue`] naming what is wrong.
pub fn validate_app_name(name: &str) -> Result<(), InvalidValue> {
    validate_name(name).map_err(InvalidValue)
}

fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("app name is empty".into());
    }
    if name.len() > 64 {
        return Err(format!("app name `{name}` is longer than 64 characters"));
    }
    if name.contains('/') || name.contains('\\') {
        return Err(format!("app name `{name}` contains a path separator"));
    }
    if name.contains("..") || name.starts_with('.') {
        return Err(format!(
            "app name `{name}` must not start with `.` or contain `..`"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "app name `{name}` may hold only a-z, 0-9, `-`, `_` and `.`"
        ));
    }
    // The name is the image's repository name: docker's grammar for a path component
    // (distribution/reference: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`).
    if !is_repository_component(name) {
        return Err(format!(
            "app name `{name}` is not a valid image name: it must start and end with a-z or 0-9, and `.` or `_` (at most two `_`) may not come twice in a row or next to `-`"
        ));
    }
    Ok(())
}

/// Whether `s` is one path component of an image repository name (docker's grammar).
fn is_repository_component(s: &str) -> bool {
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let b = s.as_bytes();
    let (mut i, n) = (0, b.len());
    if n == 0 || !alnum(b[0]) || !alnum(b[n - 1]) {
        return false;
    }
    while i < n {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator: `.`, `_`, `__` or one or more `-`, then an alphanumeric.
        let sep_end = match b[i] {
            b'.' => i + 1,
            b'_' if b.get(i + 1) == Some(&b'_') => i + 2,
            b'_' => i + 1,
            _ => (i..n).find(|&j| b[j] != b'-').unwrap_or(n),
        };
        if sep_end >= n || !alnum(b[sep_end]) {
            return false;
        }
        i = sep_end;
    }
    true
}

impl Recipe {
    /// Reads and validates the recipe at `path`.
    pub fn load(path: &Path) -> Result<Recipe, RecipeError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RecipeError::NotFound { path: path.into() })
            }
            Err(e) => {
                return Err(RecipeError::Io {
                    path: path.into(),
                    source: e,
                })
            }
        };
        Recipe::parse(&text, path)
    }

    /// Parses and validates recipe text; `path` is used in error messages only.
    pub fn parse(text: &str, path: &Path) -> Result<Recipe, RecipeError> {
        let recipe: Recipe = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            RecipeError::Syntax {
                path: path.into(),
                line,
                column,
                message: e.message().trim().replace('\n', " "),
            }
        })?;
        let mut recipe = recipe;
        recipe.validate(path)?;
        // A base path in the recipe is relative to the recipe's directory, wherever binship runs.
        if let Some((kind, rest)) = recipe.container.base.split_once(':') {
            if !Path::new(rest).is_absolute() {
                let dir = path.parent().unwrap_or(Path::new("."));
                recipe.container.base = format!("{kind}:{}", dir.join(rest).display());
            }
        }
        Ok(recipe)
    }

    /// Every platform to build, the primary first: the native one when listed, else the
    /// first of `targets`; without `targets`, just `[target]`.
    pub fn platforms(&self) -> Vec<Target> {
        let all: Vec<Target> = self
            .targets
            .iter()
            .filter_map(|t| Target::parse(t).ok())
            .collect();
        if all.is_empty() {
            return vec![self.target.clone()];
        }
        let primary = all.iter().position(Target::is_native).unwrap_or(0);
        let mut v = vec![all[primary].clone()];
        v.extend(
            all.into_iter()
                .enumerate()
                .filter(|(i, _)| *i != primary)
                .map(|(_, t)| t),
        );
        v
    }

    /// This recipe as built for one platform (`target` set to it).
    pub fn for_target(&self, t: &Target) -> Recipe {
        Recipe {
            target: t.clone(),
            ..self.clone()
        }
    }

    /// The binary's file name.
    pub fn binary_name(&self) -> &str {
        self.binary.as_deref().unwrap_or(&self.name)
    }

    /// The source dir, resolved against the recipe's directory.
    pub fn source_dir(&self, recipe_dir: &Path) -> PathBuf {
        // Lexically cleaned, so messages name `/x/src/app`, not `.../app/../../../src/app`.
        path_clean::clean(if self.source.is_absolute() {
            self.source.clone()
        } else {
            recipe_dir.join(&self.source)
        })
    }

    /// A stable JSON rendering of what affects the build, used for cache keys (the
    /// `[container]` section only affects images, so it is left out; so is `build.toolchain`:
    /// the key holds the toolchain by the version it reports, not by how it was named).
    pub fn canonical_json(&self) -> String {
        let mut v = serde_json::to_value(self).expect("recipe serializes");
        if let Some(o) = v.as_object_mut() {
            o.remove("container");
            o.remove("outputs");
            o.remove("cache");
            if let Some(b) = o.get_mut("build").and_then(|b| b.as_object_mut()) {
                b.remove("toolchain");
            }
        }
        serde_json::to_string(&v).expect("recipe serializes")
    }

    fn validate(&self, path: &Path) -> Result<(), RecipeError> {
        let bad = |key: &str, message: String| RecipeError::Invalid {
            path: path.into(),
            key: key.into(),
            message,
        };
        validate_app_name(&self.name).map_err(|m| bad("name", m.0))?;
        if let Some(b) = &self.binary {
            validate_app_name(b)
                .map_err(|m| bad("binary", m.0.replace("app name", "binary name")))?;
        }
        if let Some(t) = &self.build.toolchain {
            if !matches!(self.kind, Kind::Go | Kind::Rust) {
                return Err(bad(
                    "build.toolchain",
                    format!(
                        "picks a go or rust toolchain; a {} build runs its own tools",
                        self.kind
                    ),
                ));
            }
            let go_version = |v: &str| {
                let parts: Vec<&str> = v.split('.').collect();
                (2..=3).contains(&parts.len())
                    && parts[0] == "1"
                    && parts
                        .iter()
                        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
            };
            let ok = if t.starts_with('/') {
                !t.contains('\n')
            } else if self.kind == Kind::Go {
                go_version(t)
            } else {
                !t.is_empty()
                    && t.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            };
            if !ok {
                return Err(bad(
                    "build.toolchain",
                    if self.kind == Kind::Go {
                        format!("`{t}` is neither a Go version (1.23, 1.23.4) nor an absolute path")
                    } else {
                        format!("`{t}` is neither a rustup toolchain (1.80.0, stable, nightly-2025-01-01) nor an absolute path")
                    },
                ));
            }
        }
        if let Some(t) = &self.container.default_type {
            if !CONTAINER_TYPES.contains(&t.as_str()) {
                return Err(bad(
                    "container.type",
                    format!(
                        "unknown type `{t}` (expected one of {})",
                        CONTAINER_TYPES.join(", ")
                    ),
                ));
            }
        }
        for (i, o) in self.outputs.iter().enumerate() {
            let key = format!("outputs[{i}]");
            if !["docker-archive", "oci", "oci-archive", "lxc", "incus"]
                .contains(&o.format.as_str())
            {
                return Err(bad(
                    &format!("{key}.format"),
                    format!("unknown format `{}`", o.format),
                ));
            }
            if o.destination.trim().is_empty() {
                return Err(bad(&format!("{key}.destination"), "is empty".into()));
            }
            // A URL scheme other than docker:// would be taken for a path.
            if let Some((scheme, _)) = o.destination.split_once("://") {
                if scheme != "docker" {
                    return Err(bad(
                        &format!("{key}.destination"),
                        format!("`{scheme}://` is not a destination: a path beside the recipe, or docker://REGISTRY/REPO[:TAG]"),
                    ));
                }
            }
            if let Some(sv) = &o.service {
                if !["auto", "openrc", "systemd", "supervisor", "none"].contains(&sv.as_str()) {
                    return Err(bad(
                        &format!("{key}.service"),
                        format!("unknown service manager `{sv}` (expected auto, openrc, systemd, supervisor or none)"),
                    ));
                }
            }
            if let Some(pf) = &o.platform {
                let t = Target::parse(pf).map_err(|m| bad(&format!("{key}.platform"), m.0))?;
                if !self.platforms().contains(&t) {
                    return Err(bad(
                        &format!("{key}.platform"),
                        format!(
                            "{t} is not built by this recipe (its targets: {})",
                            self.platforms()
                                .iter()
                                .map(|t| t.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
        }
        if !self.targets.is_empty() {
            if self.target != Target::default() {
                return Err(bad(
                    "targets",
                    "use either [target] or targets = [...], not both".into(),
                ));
            }
            let mut seen = std::collections::BTreeSet::new();
            for t in &self.targets {
                let parsed = Target::parse(t).map_err(|m| bad("targets", m.0))?;
                if !seen.insert(parsed.to_string()) {
                    return Err(bad("targets", format!("`{t}` is listed twice")));
                }
            }
        }
        if self.target.os != "linux" {
            return Err(bad(
                "target.os",
                format!("unsupported os `{}` (only linux)", self.target.os),
            ));
        }
        if !KNOWN_ARCHES.contains(&self.target.arch.as_str()) {
            return Err(bad(
                "target.arch",
                format!(
                    "unknown arch `{}` (expected one of {})",
                    self.target.arch,
                    KNOWN_ARCHES.join(", ")
                ),
            ));
        }
        let b = &self.build;
        match self.kind {
            Kind::Command => {
                if b.command.as_deref().is_none_or(|c| c.trim().is_empty()) {
                    return Err(bad(
                        "build.command",
                        "kind = \"command\" needs a build.command".into(),
                    ));
                }
                if b.output.is_none() {
                    return Err(bad(
                        "build.output",
                        "kind = \"command\" needs build.output (where the binary is left)".into(),
                    ));
                }
            }
            k => {
                if b.command.is_some() {
                    return Err(bad(
                        "build.command",
                        format!("build.command is only for kind = \"command\", not {k}"),
                    ));
                }
                if b.output.is_some() {
                    return Err(bad(
                        "build.output",
                        format!("build.output is only for kind = \"command\", not {k}"),
                    ));
                }
            }
        }
        if b.ldflags.is_some() && self.kind != Kind::Go {
            return Err(bad(
                "build.ldflags",
                format!("ldflags is only for kind = \"go\", not {}", self.kind),
            ));
        }
        for (k, v) in &b.env {
            check_placeholders(v, &["version", "commit"])
                .map_err(|m| bad(&format!("build.env.{k}"), m))?;
        }
        for (i, f) in b.flags.iter().enumerate() {
            check_placeholders(f, &["version", "commit"])
                .map_err(|m| bad(&format!("build.flags[{i}]"), m))?;
        }
        if let Some(l) = &b.ldflags {
            check_placeholders(l, &["version", "commit"]).map_err(|m| bad("build.ldflags", m))?;
        }
        let t = &self.test;
        for (key, v) in [
            ("test.ready_timeout", &t.ready_timeout),
            ("test.stop_grace", &t.stop_grace),
        ] {
            if parse_duration(v).is_none() {
                return Err(bad(
                    key,
                    format!("`{v}` is not a duration like \"10s\" or \"500ms\" (max 1h)"),
                ));
            }
        }
        for (i, a) in t.args.iter().chain(t.port_arg.iter()).enumerate() {
            check_placeholders(a, &["port", "root"])
                .map_err(|m| bad(&format!("test.args[{i}]"), m))?;
        }
        if t.port_env.is_empty() || t.port_env.contains('=') {
            return Err(bad(
                "test.port_env",
                format!("`{}` is not a variable name", t.port_env),
            ));
        }
        if let Some(p) = &t.ready_path {
            if !p.starts_with('/') {
                return Err(bad("test.ready_path", format!("`{p}` must start with /")));
            }
        }
        if !t.service && !t.http.is_empty() {
            return Err(bad(
                "test.http",
                "HTTP checks need the service test (test.service = true)".into(),
            ));
        }
        for (i, h) in t.http.iter().enumerate() {
            let key = format!("test.http[{i}]");
            const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];
            if !METHODS.contains(&h.method.as_str()) {
                return Err(bad(
                    &format!("{key}.method"),
                    format!(
                        "unknown method `{}` (expected one of {})",
                        h.method,
                        METHODS.join(", ")
                    ),
                ));
            }
            if !h.path.starts_with('/') {
                return Err(bad(
                    &format!("{key}.path"),
                    format!("`{}` must start with /", h.path),
                ));
            }
            if !(100..=599).contains(&h.status) {
                return Err(bad(
                    &format!("{key}.status"),
                    format!("{} is not an HTTP status (100-599)", h.status),
                ));
            }
            if let Some(re) = &h.body {
                regex::Regex::new(re)
                    .map_err(|e| bad(&format!("{key}.body"), one_line(&e.to_string())))?;
            }
        }
        if let Some(c) = t.stop_exit.iter().find(|c| !(0..=255).contains(*c)) {
            return Err(bad(
                "test.stop_exit",
                format!("{c} is not an exit status (0-255)"),
            ));
        }
        for (i, c) in t.command.iter().enumerate() {
            let key = format!("test.command[{i}]");
            if parse_duration(&c.timeout).is_none() {
                return Err(bad(
                    &format!("{key}.timeout"),
                    format!("`{}` is not a duration", c.timeout),
                ));
            }
            for (field, re) in [("stdout", &c.stdout), ("stderr", &c.stderr)] {
                if let Some(re) = re {
                    regex::Regex::new(re)
                        .map_err(|e| bad(&format!("{key}.{field}"), one_line(&e.to_string())))?;
                }
            }
        }
        if !t.service && t.command.is_empty() {
            return Err(bad(
                "test",
                "the recipe has no tests: keep test.service = true or add a [[test.command]]"
                    .into(),
            ));
        }
        let c = &self.container;
        let base_ok = match c.base.split_once(':') {
            None => ["scratch", "static"].contains(&c.base.as_str()),
            Some((kind, rest)) => {
                ["rootfs", "oci", "oci-archive", "docker-archive"].contains(&kind)
                    && !rest.is_empty()
            }
        };
        if !base_ok {
            return Err(bad(
                "container.base",
                format!("unknown base `{}` (expected scratch, static, rootfs:PATH, oci:DIR[:TAG], oci-archive:FILE or docker-archive:FILE; a relative PATH is the recipe's directory's)", c.base),
            ));
        }
        if let Some(k) = c.env.keys().find(|k| !is_env_name(k)) {
            return Err(bad(
                "container.env",
                format!(
                    "`{k}` is not a variable name (A-Z, a-z, 0-9, _; not starting with a digit)"
                ),
            ));
        }
        if let Some(k) = c.labels.keys().find(|k| k.trim().is_empty()) {
            return Err(bad("container.labels", format!("label key `{k}` is empty")));
        }
        check_signal(&c.stop_signal).map_err(|m| bad("container.stop_signal", m.0))?;
        resolve_user(&c.user).map_err(|m| bad("container.user", m.0))?;
        if !["auto", "openrc", "systemd", "supervisor", "none"].contains(&c.service.as_str()) {
            return Err(bad(
                "container.service",
                format!("unknown service manager `{}` (expected auto, openrc, systemd, supervisor or none)", c.service),
            ));
        }
        if !["no", "on-failure", "always"].contains(&c.restart.as_str()) {
            return Err(bad(
                "container.restart",
                format!(
                    "unknown restart policy `{}` (expected no, on-failure or always)",
                    c.restart
                ),
            ));
        }
        if let Some(p) = c.ports.iter().find(|p| **p == 0) {
            return Err(bad(
                "container.ports",
                format!("port {p} is outside 1-65535"),
            ));
        }
        if !c.workdir.starts_with('/') {
            return Err(bad(
                "container.workdir",
                format!("`{}` must be absolute", c.workdir),
            ));
        }
        // Paths binship itself writes: the binary and the account files.
        let binary = format!("/usr/local/bin/{}", self.name);
        let reserved = [binary.as_str(), "/etc/passwd", "/etc/group", "/etc/shadow"];
        let clashes = |p: &str| {
            let p = p.trim_end_matches('/');
            reserved
                .iter()
                .find(|r| p == **r || p.starts_with(&format!("{r}/")))
                .copied()
        };
        for f in &c.files {
            if let Some(r) = clashes(&f.target) {
                return Err(bad(
                    "container.files",
                    format!("target {} is {r}, which binship writes itself", f.target),
                ));
            }
            if f.source.trim().is_empty() {
                return Err(bad(
                    "container.files",
                    "an entry has an empty source".into(),
                ));
            }
            if !is_image_path(&f.target) {
                return Err(bad(
                    "container.files",
                    format!(
                        "target `{}` must be an absolute path below / in the image, without `.` or `..`, names of at most 255 bytes, 4095 in all",
                        f.target
                    ),
                ));
            }
            if f.mode.is_some() && f.mode_bits().filter(|m| *m <= 0o7777).is_none() {
                return Err(bad(
                    "container.files",
                    format!(
                        "mode `{}` of {} is not octal permission bits such as \"0644\"",
                        f.mode.as_deref().unwrap_or(""),
                        f.target
                    ),
                ));
            }
            if let Some(o) = &f.owner {
                // (uid_t)-1 means "no change" to chown(2): not an owner.
                let id = |x: &str| x.parse::<u32>().is_ok_and(|n| n != u32::MAX);
                let ok = o.split_once(':').is_some_and(|(u, g)| id(u) && id(g));
                if !ok {
                    return Err(bad(
                        "container.files",
                        format!("owner `{o}` of {} must be uid:gid (numbers)", f.target),
                    ));
                }
            }
        }
        if let Some(v) = c.volumes.iter().find(|v| !is_image_path(v)) {
            return Err(bad(
                "container.volumes",
                format!("`{v}` must be an absolute path below / in the image, without `.` or `..`"),
            ));
        }
        for v in &c.volumes {
            if let Some(r) = clashes(v) {
                return Err(bad(
                    "container.volumes",
                    format!("{v} is {r}, which binship writes itself"),
                ));
            }
            let t = v.trim_end_matches('/');
            if let Some(f) = c.files.iter().find(|f| {
                let ft = f.target.trim_end_matches('/');
                ft == t || ft.starts_with(&format!("{t}/")) || t.starts_with(&format!("{ft}/"))
            }) {
                return Err(bad(
                    "container.volumes",
                    format!("{v} overlaps the file target {} (a volume is an empty dir of the image's user)", f.target),
                ));
            }
        }
        let mut names = std::collections::BTreeSet::from(["ready", "stop"]);
        for n in t
            .http
            .iter()
            .map(|h| h.name.as_str())
            .chain(t.command.iter().map(|c| c.name.as_str()))
        {
            if !names.insert(n) {
                return Err(bad(
                    "test",
                    format!("two checks are named `{n}` (`ready` and `stop` are reserved)"),
                ));
            }
        }
        Ok(())
    }
}

/// Whether `k` is an environment variable name a shell and docker take (the service files
/// and `docker run` refuse others): `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_env_name(k: &str) -> bool {
    k.starts_with(|ch: char| ch.is_ascii_alphabetic() || ch == '_')
        && k.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

/// The signals `stop_signal` takes (signal(7)): a name (`SIGTERM`, `TERM`) or a number 1-64.
///
/// # Errors
/// [`InvalidValue`] naming the value.
pub fn check_signal(s: &str) -> Result<(), InvalidValue> {
    const NAMES: &[&str] = &[
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
        "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
        "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
    ];
    let name = s.strip_prefix("SIG").unwrap_or(s);
    let rt = |n: &str| {
        n.strip_prefix("RTMIN")
            .or_else(|| n.strip_prefix("RTMAX"))
            .is_some_and(|r| {
                r.is_empty()
                    || r.strip_prefix(['+', '-'])
                        .is_some_and(|d| d.parse::<u8>().is_ok())
            })
    };
    let ok =
        NAMES.contains(&name) || rt(name) || s.parse::<u8>().is_ok_and(|n| (1..=64).contains(&n));
    if ok {
        Ok(())
    } else {
        Err(InvalidValue(format!(
            "`{s}` is not a signal (SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, ..., or 1-64)"
        )))
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Checks that every `{...}` in `s` names an allowed placeholder.
fn check_placeholders(s: &str, allowed: &[&str]) -> Result<(), String> {
    let mut rest = s;
    while let Some(i) = rest.find('{') {
        let after = &rest[i + 1..];
        let Some(j) = after.find('}') else {
            return Err(format!("unclosed `{{` in `{s}`"));
        };
        let name = &after[..j];
        if !allowed.contains(&name) {
            return Err(format!(
                "unknown placeholder `{{{name}}}` in `{s}` (allowed: {})",
                allowed
                    .iter()
                    .map(|a| format!("{{{a}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        rest = &after[j + 1..];
    }
    Ok(())
}

/// Replaces `{key}` placeholders with values.
pub fn expand(s: &str, vars: &[(&str, &str)]) -> String {
    let mut out = s.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// Splits `value` into words as `sh` would (quotes and backslashes; no expansion), for a flag
/// that takes several arguments in one string (`--engine-run-args "-e 'A=b c'"`).
///
/// # Errors
/// A line naming `flag` when the quoting is unbalanced.
pub fn shell_words(flag: &str, value: &str) -> Result<Vec<String>, String> {
    shlex::split(value)
        .ok_or_else(|| format!("{flag}: unbalanced quote or trailing backslash in `{value}`"))
}

/// An argument as an image sees it: the files `{root}` stands for in the binary's tests are
/// at the image's own root (`{root}/srv` -> `/srv`, `{root}` -> `/`).
pub fn in_image(arg: &str) -> String {
    arg.replace("{root}/", "/").replace("{root}", "/")
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(offset, |n| offset - n - 1) + 1;
    (line, column)
}

/// The commented recipe that `binship init` writes, from what [`detect::detect`] found in the
/// source (packages, port input, health route, `--version`); `d.notes` become `# init:` lines.
pub fn template(name: &str, kind: Kind, source: &str, d: &detect::Detected) -> String {
    use detect::PortInput;
    let list = |v: &[String]| {
        v.iter()
            .map(|p| format!("{p:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let others = if d.others.is_empty() {
        String::new()
    } else {
        format!("  # also in the tree: {}", d.others.join(", "))
    };
    let packages = |default_comment: &str| {
        if d.packages.is_empty() {
            default_comment.to_string()
        } else {
            format!("packages = [{}]{others}\n", list(&d.packages))
        }
    };
    let build = match kind {
        Kind::Go => format!(
            r#"[build]
{}# flags = ["-tags", "netgo"]        # extra `go build` arguments
ldflags = "-s -w -X main.version={{version}} -X main.commit={{commit}}"
# GOPROXY=off and GOTOOLCHAIN=local keep the build offline; remove them to fetch modules.
env = {{ GOPROXY = "off", GOTOOLCHAIN = "local" }}
"#,
            packages("# packages = [\".\"]                  # what `go build` builds\n")
        ),
        Kind::Rust => format!(
            r#"[build]
{}# flags = ["--locked"]              # extra `cargo build` arguments
# env = {{ CARGO_PROFILE_RELEASE_LTO = "true" }}
"#,
            packages("# packages = [\"my-bin\"]             # `cargo build --bin` names (default: all binaries)\n")
        ),
        Kind::C => format!(
            r#"[build]
{}flags = ["-O2"]                     # extra gcc arguments (-static is always added)
"#,
            packages("packages = [\"main.c\"]               # source files, relative to the source dir\n")
        ),
        Kind::Command => {
            let (command, output) = d
                .make
                .clone()
                .unwrap_or_else(|| ("make".into(), name.to_string()));
            format!(
                r#"[build]
# run with sh -c in the source dir; output: where the command leaves the binary
command = {command:?}
output = {output:?}
"#
            )
        }
    };
    let port = match &d.port {
        PortInput::Flag(f) => format!(
            "port_via = \"arg\"                    # \"arg\": port_arg is appended; \"env\": port_env is set\nport_arg = [{}]\n# port_env = \"PORT\"\n",
            list(f)
        ),
        PortInput::Env(v) => format!(
            "port_via = \"env\"                    # the program reads its port from ${v}\nport_env = \"{v}\"\n"
        ),
        PortInput::Unknown => "port_via = \"arg\"                    # CHECK: no port flag or PORT variable was found in the source\nport_arg = [\"--port\", \"{port}\"]\n# port_env = \"PORT\"\n".to_string(),
    };
    let (ready, http) = match &d.health {
        Some(h) => (
            format!("ready_path = \"{h}\"              # polled until it answers 2xx (omit for a TCP check)\n"),
            format!("\n[[test.http]]\nname = \"health\"\npath = \"{h}\"\nstatus = 200\n"),
        ),
        None => (
            "# ready_path = \"/health\"            # none found in the source: readiness is a TCP connect\n".to_string(),
            "\n# [[test.http]]                     # an HTTP check, e.g. of a page it serves\n# name = \"root\"\n# path = \"/\"\n# status = 200\n".to_string(),
        ),
    };
    let version = match &d.version_arg {
        Some(a) => format!("\n[[test.command]]\nname = \"version\"\nargs = [{a:?}]\nexit = 0\n"),
        None => "\n# [[test.command]]                  # --version was not found in the source\n# name = \"version\"\n# args = [\"--version\"]\n# exit = 0\n".to_string(),
    };
    let notes: String = d.notes.iter().map(|n| format!("# init: {n}\n")).collect();
    let test_args = if d.test_args.is_empty() {
        String::new()
    } else {
        format!(
            "args = [{}]   # the tests listen on loopback only\n",
            list(&d.test_args)
        )
    };
    format!(
        r#"# binship recipe for {name}: `binship build {name}` (or ./build.sh) builds, tests and stores it.
{notes}name = "{name}"
kind = "{kind}"                      # go | rust | c | command
source = "{source}"   # relative to this file
# binary = "{name}"                 # file name of the binary (default: the app name)
# static = true                     # refuse a dynamically linked binary

[target]
os = "linux"
arch = "{arch}"

{build}
[test]
port = "auto"                       # or a fixed port such as 7001
{test_args}{port}{ready}ready_timeout = "10s"
stop_grace = "5s"                   # time to exit after SIGTERM
{http}{version}"#,
        arch = native_arch(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Recipe, RecipeError> {
        Recipe::parse(s, Path::new("r/binship.toml"))
    }

    const MIN: &str = "name = \"go-id\"\nkind = \"go\"\nsource = \"src\"\n";

    #[test]
    fn an_image_runs_on_another_port_by_the_port_via_rule() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let t = |port_arg: &[&str], via: PortVia| TestSettings {
            port_arg: v(port_arg),
            port_via: via,
            ..Default::default()
        };
        let arg = t(&["--port", "{port}"], PortVia::Arg);
        let run =
            |t: &TestSettings, cmd: &[&str]| t.run_on_port(&v(cmd), 8080).map(|r| (r.cmd, r.env));
        // The value after the flag, in both forms; nothing else changes.
        assert_eq!(
            run(&arg, &["--root", "/srv", "--port", "7001"]),
            Some((v(&["--root", "/srv", "--port", "8080"]), vec![]))
        );
        assert_eq!(
            run(&arg, &["--port=7001", "-v"]),
            Some((v(&["--port=8080", "-v"]), vec![]))
        );
        // No such flag: port_arg appended.
        assert_eq!(
            run(&arg, &["/srv"]),
            Some((v(&["/srv", "--port", "8080"]), vec![]))
        );
        // A value with more than the port.
        let listen = t(&["--listen", "127.0.0.1:{port}"], PortVia::Arg);
        // Only the port changes; the image's own address stays.
        assert_eq!(
            run(&listen, &["--listen", "0.0.0.0:80", "x"]),
            Some((v(&["--listen", "0.0.0.0:8080", "x"]), vec![]))
        );
        assert_eq!(
            run(&listen, &["--listen=[::]:9999"]),
            Some((v(&["--listen=[::]:8080"]), vec![]))
        );
        assert_eq!(
            run(&listen, &["serve"]),
            Some((v(&["serve", "--listen", "127.0.0.1:8080"]), vec![]))
        );
        let eq = t(&["--port={port}"], PortVia::Arg);
        assert_eq!(
            run(&eq, &["--port", "1", "--port=2"]),
            Some((v(&["--port", "8080", "--port=8080"]), vec![]))
        );
        // env: the Cmd kept, the variable set.
        let env = t(&["--port", "{port}"], PortVia::Env);
        assert_eq!(
            run(&env, &["serve"]),
            Some((
                v(&["serve"]),
                vec![("PORT".to_string(), "8080".to_string())]
            ))
        );
        // A positional port: only into an empty Cmd; no {port}: never.
        let pos = t(&["{port}"], PortVia::Arg);
        assert_eq!(run(&pos, &[]), Some((v(&["8080"]), vec![])));
        assert_eq!(run(&pos, &["serve", "7001"]), None);
        assert_eq!(run(&t(&["--fixed"], PortVia::Arg), &[]), None);
    }

    #[test]
    fn minimal_recipe_gets_defaults() {
        let r = parse(MIN).unwrap();
        assert_eq!(r.binary_name(), "go-id");
        assert!(r.require_static);
        assert_eq!(r.test.port, PortSetting::Auto);
        assert_eq!(r.target.os, "linux");
        assert_eq!(r.test.ready_timeout(), Duration::from_secs(10));
    }

    #[test]
    fn unknown_key_names_file_line_and_column() {
        let e = parse(&format!("{MIN}\n[test]\nprot = 5\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("r/binship.toml:6:1: unknown field `prot`"),
            "{e}"
        );
    }

    #[test]
    fn syntax_error_is_one_line() {
        let e = parse("name = \n").unwrap_err().to_string();
        assert!(e.starts_with("r/binship.toml:1:"), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn bad_names_are_refused() {
        for n in ["../x", "a/b", "", ".hidden", "Upper", "a..b"] {
            assert!(validate_app_name(n).is_err(), "{n}");
        }
        assert!(validate_app_name("go-id_2.x").is_ok());
        // docker's repository grammar: what engines refuse is refused here.
        for bad in ["a_", "a-", "_a", "a._b", "a___b", "a-.b", "a.-b"] {
            assert!(validate_app_name(bad).is_err(), "{bad}");
        }
        for good in ["a", "a__b", "a--b", "a.b", "a_b-c.d", "7zip"] {
            assert!(validate_app_name(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn port_must_be_in_range() {
        let e = parse(&format!("{MIN}[test]\nport = 70000\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("1-65535"), "{e}");
        let r = parse(&format!("{MIN}[test]\nport = 7001\n")).unwrap();
        assert_eq!(r.test.port, PortSetting::Fixed(7001));
    }

    #[test]
    fn command_kind_needs_command_and_output() {
        let e = parse("name = \"x\"\nkind = \"command\"\nsource = \".\"\n").unwrap_err();
        assert!(e.to_string().contains("build.command"), "{e}");
    }

    #[test]
    fn bad_regex_and_status_are_refused() {
        let e = parse(&format!(
            "{MIN}[[test.http]]\nname=\"a\"\npath=\"/\"\nbody=\"(\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("test.http[0].body"), "{e}");
        let e = parse(&format!(
            "{MIN}[[test.http]]\nname=\"a\"\npath=\"/\"\nstatus=700\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("not an HTTP status"), "{e}");
    }

    #[test]
    fn unknown_placeholder_is_refused() {
        let e = parse(&format!(
            "{MIN}[build]\nldflags = \"-X main.v={{versoin}}\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown placeholder `{versoin}`"), "{e}");
    }

    #[test]
    fn container_section_is_checked_and_not_in_the_cache_key() {
        let r = parse(&format!(
            "{MIN}[container]\nports = [7001]\nuser = \"nonroot\"\n"
        ))
        .unwrap();
        assert_eq!(r.container.ports, [7001]);
        assert_eq!(r.canonical_json(), parse(MIN).unwrap().canonical_json());
        let e = parse(&format!("{MIN}[container]\nuser = \"bob\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("container.user: user must be uid:gid"), "{e}");
        let e = parse(&format!("{MIN}[container]\nports = [70000]\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("r/binship.toml:5:"), "{e}");
        assert_eq!(resolve_user("1000:1000").unwrap(), "1000:1000");
        assert!(
            resolve_user("4294967295:1").is_err(),
            "(uid_t)-1 is no user"
        );
        for good in ["SIGTERM", "TERM", "SIGRTMIN+3", "9", "SIGWINCH"] {
            assert!(check_signal(good).is_ok(), "{good}");
        }
        for bad in ["SIGFOO", "KILLME", "0", "65", ""] {
            assert!(check_signal(bad).is_err(), "{bad}");
        }
        assert!(
            is_env_name("_A1") && !is_env_name("A B") && !is_env_name("") && !is_env_name("1A")
        );
        assert!(resolve_user("1000").is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("5h"), None);
    }

    #[test]
    fn words_split_like_sh() {
        assert_eq!(
            shell_words("--x", r#"-e 'A=b c' --cap-add\ X "q""#).unwrap(),
            ["-e", "A=b c", "--cap-add X", "q"]
        );
        assert!(shell_words("--x", "-e 'A=b")
            .unwrap_err()
            .starts_with("--x: unbalanced"));
    }

    #[test]
    fn root_in_an_image_is_its_own_root() {
        assert_eq!(in_image("{root}/srv/www"), "/srv/www");
        assert_eq!(in_image("{root}"), "/");
        assert_eq!(in_image("--dir={root}/x"), "--dir=/x");
        assert_eq!(in_image("8080"), "8080");
    }

    #[test]
    fn stop_exit_takes_exit_statuses_only() {
        for bad in ["256", "-1"] {
            let e = parse(&format!("{MIN}[test]\nstop_exit = [{bad}]\n")).unwrap_err();
            assert!(
                e.to_string().contains("is not an exit status (0-255)"),
                "{e}"
            );
        }
        assert!(parse(&format!("{MIN}[test]\nstop_exit = [1, 255]\n")).is_ok());
    }

    #[test]
    fn templates_parse_for_every_kind() {
        for k in [Kind::Go, Kind::Rust, Kind::C, Kind::Command] {
            let t = template("demo", k, "../../../src", &detect::Detected::assumed());
            let r = parse(&t).unwrap_or_else(|e| panic!("{k}: {e}\n{t}"));
            assert_eq!(r.kind, k);
        }
    }

    #[test]
    fn expand_replaces_placeholders() {
        assert_eq!(
            expand(
                "-X v={version} c={commit}",
                &[("version", "3"), ("commit", "ab")]
            ),
            "-X v=3 c=ab"
        );
    }
}
