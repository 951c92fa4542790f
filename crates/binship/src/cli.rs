//! Command-line definitions ([`Cli`]), with clap derive.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// binship turns source code into tested, versioned, static binaries.
///
/// Exit codes: 0 ok, 1 other error, 2 usage or bad input (recipe, name, version),
/// 3 not found, 4 prerequisite missing, 5 build failed, 6 tests failed,
/// 7 version exists with different inputs, 8 verification failed, 130 interrupted.
#[derive(Debug, Parser)]
#[command(name = "binship", version, about, long_about = None, after_help = crate::exit::HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Store root (default: nearest images/standalone-binaries/ above the working directory).
    #[arg(long, global = true, env = "BINSHIP_STORE", value_name = "DIR")]
    pub store: Option<PathBuf>,
}

/// The top-level commands by what they are for, one short line each (clap lists them flat,
/// each with its whole about, which `binship help COMMAND` still shows).
pub const GROUPS: &str = include_str!("commands.txt");

/// `--format`'s values, with clap's tip also for names a user means by another word (`tar`).
#[derive(Clone)]
struct FormatParser;

impl clap::builder::TypedValueParser for FormatParser {
    type Value = String;
    fn parse_ref(
        &self,
        c: &clap::Command,
        a: Option<&clap::Arg>,
        v: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        let all =
            clap::builder::PossibleValuesParser::new(binship_sink::Format::ALL.map(|f| f.name()));
        all.parse_ref(c, a, v).map_err(|mut e| {
            let meant = binship_sink::Format::meant_by(&v.to_string_lossy())
                .iter()
                .map(|f| f.name().to_string())
                .collect::<Vec<_>>();
            if !meant.is_empty() {
                e.insert(
                    clap::error::ContextKind::SuggestedValue,
                    clap::error::ContextValue::Strings(meant),
                );
            }
            e
        })
    }
    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            binship_sink::Format::ALL.iter().map(|f| f.name().into()),
        ))
    }
}

/// [`Cli`]'s clap command, its help listing the commands as [`GROUPS`] does.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command().help_template(format!(
        "{{about-with-newline}}\n{{usage-heading}} {{usage}}\n\n{GROUPS}\nA command's own help: binship help COMMAND\n\nOptions:\n{{options}}{{after-help}}"
    ))
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a recipe (binship.toml) and a build.sh wrapper for a new app.
    Init {
        /// App name (a-z, 0-9, `-`, `_`, `.`).
        /// The app: its recipe is images/standalone-binaries/<APP>/binship.toml.
        app: String,
        /// What builds it: go, rust, c or command (given by --template).
        #[arg(long, value_parser = ["go", "rust", "c", "command"], required_unless_present = "template")]
        kind: Option<String>,
        /// The source directory (relative to the working directory; with --template default
        /// src/<app>).
        #[arg(long, required_unless_present = "template")]
        source: Option<PathBuf>,
        /// Also write a minimal service to start from (health endpoint, --port, --version,
        /// graceful SIGTERM) that builds and passes its tests as is.
        #[arg(long, value_parser = ["go-http", "rust-http", "c-http"], conflicts_with = "kind")]
        template: Option<String>,
        /// Overwrite an existing recipe.
        #[arg(long)]
        force: bool,
    },
    /// Build, test and store a version: images/standalone-binaries/<app>/<app>-binary-v.<N>/.
    Build {
        /// The app: its recipe is images/standalone-binaries/<APP>/binship.toml.
        app: String,
        /// The version number (default: the next one, or "up to date" when nothing changed).
        #[arg(allow_hyphen_values = true)]
        version: Option<String>,
        /// Rebuild even when up to date; replace an existing version.
        #[arg(long)]
        force: bool,
        /// Sign the stored binaries and test-results.json (minisign; see `binship key`).
        #[arg(long)]
        sign: bool,
        /// Write SPDX and CycloneDX SBOMs beside the binaries.
        #[arg(long)]
        sbom: bool,
        /// An OSV database dir (*.json records): known-vulnerable Go modules refuse the build.
        #[arg(long, value_name = "DIR")]
        osv_db: Option<PathBuf>,
        /// OSV findings warn (recorded in scan.json and test-results.json) instead of refusing;
        /// as the recipe's `[scan] osv = "warn"`.
        #[arg(long, requires = "osv_db")]
        osv_warn: bool,
        /// Build here without asking the shared cache (the recipe's `[cache]`, $BINSHIP_CACHE),
        /// and publish nothing to it.
        #[arg(long)]
        no_cache: bool,
        /// A cache miss, an unreachable cache or a refused entry fails (exit 3, 1 or 8)
        /// instead of building here.
        #[arg(long, conflicts_with_all = ["no_cache", "force"])]
        cache_required: bool,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Make version N the app's current one (scaffold and push default to it).
    Promote {
        /// The app: its recipe is images/standalone-binaries/<APP>/binship.toml.
        app: String,
        /// The version: N or v.N.
        version: String,
    },
    /// Move current to the newest older version that passed its tests (and verifies, when the
    /// recipe requires signing); re-tag its published images :current and :latest.
    Rollback {
        /// The app: its recipe is images/standalone-binaries/<APP>/binship.toml.
        app: String,
        /// Plain HTTP (and any certificate) for the registries.
        #[arg(long)]
        insecure: bool,
    },
    /// The moves of an app's current version (promote, rollback, update).
    History {
        /// The app: its recipe is images/standalone-binaries/<APP>/binship.toml.
        app: String,
    },
    /// Remove old versions (dry run unless --apply). Never current, the version before it,
    /// or a version with a recorded publication.
    Gc {
        /// Only this app.
        app: Option<String>,
        /// Also keep this many newest versions.
        #[arg(long, default_value_t = 3)]
        keep: usize,
        /// Remove (default: only show what would go).
        #[arg(long)]
        apply: bool,
        /// Collect the shared caches the recipes name instead: entries no local version's key
        /// names and older than --older-than, deleted through the registry API.
        #[arg(long, conflicts_with = "app")]
        cache: bool,
        /// With --cache: only entries older than this (30d, 12h, 45m, 90s).
        #[arg(long, value_name = "AGE", default_value = "7d", requires = "cache")]
        older_than: String,
    },
    /// Rebuild what changed, re-scaffold the recipe's [[outputs]], promote when all pass.
    Update {
        /// One app (or --all).
        app: Option<String>,
        /// Every app with a recipe.
        #[arg(long)]
        all: bool,
        /// Sign each new version before its outputs are made (needed to promote when the
        /// recipe has container.require_signed).
        #[arg(long)]
        sign: bool,
        /// Write SBOMs beside each new version.
        #[arg(long)]
        sbom: bool,
        /// Update up to N apps at once, each under its own lock (a cache hit takes no build
        /// slot); a failing app does not stop the others.
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
        jobs: u16,
        /// Neither ask nor fill the apps' shared caches (`[cache]`).
        #[arg(long)]
        no_cache: bool,
        #[command(flatten)]
        key: KeyArgs,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Benchmark a version against the previous one: start-up to first healthy answer (host,
    /// and in a container), RSS, binary and image sizes; writes bench.json.
    Bench(BenchArgs),
    /// Load the app's image (current version, else the latest) into a local engine and start
    /// it on the host network, then wait until it is healthy.
    Deploy(DeployArgs),
    /// Write a docker build context for a tested version: Dockerfile + the binary (+ rootfs.tar
    /// for the static base), default images/docker/<app>/.
    Dockerfile {
        /// The app: its recipe is images/standalone-binaries/<APP>/binship.toml.
        app: String,
        /// The version (default: current, else the latest).
        #[arg(long)]
        version: Option<String>,
        /// The context dir (default images/docker/<app>/).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Replace an existing dir.
        #[arg(long)]
        force: bool,
    },
    /// Serve binship's 12 tools to an MCP client over stdio (list_binaries, build, scaffold,
    /// verify, deploy, promote, rollback, history, gc, push, inspect, sign); stdout is the
    /// protocol, logs go to stderr.
    Mcp,
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell
    /// (bash: `source <(binship completions bash)`).
    Completions { shell: clap_complete::Shell },
    /// Write man pages (binship.1 and binship-COMMAND.1 for every command) into DIR; the
    /// committed ones are docs/man (`binship man docs/man`).
    Man {
        /// The directory to write into (created).
        dir: PathBuf,
    },
    /// Signing keys (minisign-compatible).
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Sign a stored version: <binary>.minisig for each binary and test-results.json.minisig.
    Sign {
        /// The app: its recipe is images/standalone-binaries/<APP>/binship.toml.
        app: String,
        /// The version (default: the latest).
        version: Option<String>,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Sign an image already in an OCI layout (oci:DIR[:TAG]) or a registry
    /// (REGISTRY/REPO[:TAG|@DIGEST]): with a cosign key (binship key generate --format cosign)
    /// cosign's signature under sha256-<hex>.sig, signatures by other keys kept.
    SignImage {
        /// The image: oci:DIR[:TAG] or REGISTRY/REPO[:TAG|@DIGEST].
        image: String,
        #[command(flatten)]
        key: KeyArgs,
        /// Plain HTTP (and any certificate) for a registry.
        #[arg(long)]
        insecure: bool,
    },
    /// Verify a stored version (signatures, sha256 against test-results.json, test status), or
    /// an image's signature: oci:DIR[:TAG], oci-archive:FILE or REGISTRY/REPO:TAG.
    Verify {
        /// APP, or an image reference.
        target: String,
        /// The version (default: the latest).
        version: Option<String>,
        /// The minisign public key (default: $XDG_CONFIG_HOME/binship/binship.pub).
        #[arg(long = "pub", value_name = "FILE", conflicts_with = "cosign_key")]
        public_key: Option<PathBuf>,
        /// A cosign public key (PEM): checks the image's cosign signature, as `cosign verify
        /// --key` does.
        #[arg(long = "key", value_name = "FILE")]
        cosign_key: Option<PathBuf>,
        /// Also check the image's in-toto attestations (sha256-<hex>.att: SLSA provenance, SPDX
        /// and CycloneDX, DSSE-signed) with the cosign --key, as `cosign verify-attestation`.
        #[arg(long)]
        attestations: bool,
        /// Plain HTTP (and any certificate) for a registry.
        #[arg(long)]
        insecure: bool,
    },
    /// Write SBOMs (SPDX 2.3 and CycloneDX 1.5 JSON) beside a version's binaries, from the build
    /// info they embed.
    Sbom {
        /// The app: its recipe is images/standalone-binaries/<APP>/binship.toml.
        app: String,
        /// The version (default: the latest).
        version: Option<String>,
    },
    /// Show an image's provenance (commit, dirty, toolchain, build command, tests, binary
    /// sha256): docker-archive:FILE, oci:DIR[:TAG], oci-archive:FILE or REGISTRY/REPO:TAG.
    Inspect {
        /// docker-archive:FILE, oci:DIR[:TAG], oci-archive:FILE or REGISTRY/REPO:TAG.
        image: String,
        /// Plain HTTP (and any certificate) for a registry.
        #[arg(long)]
        insecure: bool,
    },
    /// Pack a stored, tested version into a minimal image (no daemon needed).
    ///
    /// Versions: one is selected automatically; with several, a terminal gets a prompt
    /// (default: latest), anything else the latest (or --version N).
    ///
    /// Compression: none and gzip are read by docker, podman, containerd, skopeo and umoci;
    /// zstd only by podman, skopeo and containerd (docker 20.10 and umoci 0.4.7 cannot).
    Scaffold(Box<ScaffoldArgs>),
    /// Push a stored version's image (OCI, gzip) to a registry: REGISTRY/REPO[:TAG].
    ///
    /// Credentials from $DOCKER_CONFIG/config.json (Basic or Bearer); plain HTTP for
    /// 127.0.0.1/localhost (as docker allows) or with --insecure.
    Push {
        /// APP or APP:N (default: the latest version).
        /// The app: its recipe is images/standalone-binaries/<APP>/binship.toml.
        app: String,
        /// REGISTRY/REPO[:TAG] (default tag v.N).
        reference: String,
        #[command(flatten)]
        registry: RegistryArgs,
        /// The base (as for scaffold; default the recipe's).
        #[arg(long)]
        base: Option<String>,
    },
    /// Push a stored version itself (binary, test-results.json, README, sidecars) as an OCI
    /// artifact (artifactType application/vnd.binship.binary.v1), tagged v.N by default.
    PushBinary {
        /// APP or APP:N (default: the latest version).
        /// The app: its recipe is images/standalone-binaries/<APP>/binship.toml.
        app: String,
        /// REGISTRY/REPO[:TAG] (default tag v.N).
        reference: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Pull a binary pushed with push-binary into the local store, verified by digest
    /// (no tag: the highest v.N). An identical version is a no-op, a different one an error.
    PullBinary {
        /// REGISTRY/REPO[:TAG]
        reference: String,
        /// Plain HTTP (and any certificate) for this registry.
        #[arg(long)]
        insecure: bool,
    },
    /// List apps and their stored versions.
    List {
        /// Only this app.
        app: Option<String>,
        /// List the versions (tags) a registry holds instead: REGISTRY/REPO.
        #[arg(long, value_name = "REGISTRY/REPO")]
        remote: Option<String>,
        /// Plain HTTP for the remote.
        #[arg(long)]
        insecure: bool,
    },
}

/// Key management.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Write a key pair (binship.key and binship.pub, or cosign.key and cosign.pub) and print
    /// the public key's path.
    ///
    /// On a terminal the secret key gets a password (asked twice); without one and without
    /// --password-file a minisign key is written unencrypted and a cosign key with the empty
    /// password (cosign's rule), with a warning (for CI).
    Generate {
        /// Where (default: $XDG_CONFIG_HOME/binship, else ~/.config/binship).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// minisign (signs binaries, stored versions and images in binship's format) or cosign
        /// (ECDSA P-256, signs images in cosign's format).
        #[arg(long, value_name = "FORMAT", default_value = "minisign", value_parser = ["minisign", "cosign"])]
        format: String,
        /// Encrypt the secret key with the password in this file (first line).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// Replace an existing key pair.
        #[arg(long)]
        force: bool,
    },
}

/// Which secret key signs, and how to unlock it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KeyArgs {
    /// The secret key (default: $XDG_CONFIG_HOME/binship/binship.key); a cosign key (PEM)
    /// makes image signatures in cosign's format.
    #[arg(long = "key", value_name = "FILE")]
    pub secret_key: Option<PathBuf>,
    /// The key's password, from this file (first line); else asked on a terminal.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

impl KeyArgs {
    /// Refuses --key / --password-file where nothing signs (`sign`: whether --sign was given).
    pub fn unused_without(&self, sign: bool) -> Result<(), String> {
        if !sign && (self.secret_key.is_some() || self.password_file.is_some()) {
            return Err("--key and --password-file are for --sign".into());
        }
        Ok(())
    }
}

/// How to talk to a registry.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// Plain HTTP (and any certificate) for this registry; loopback registries get plain HTTP
    /// when they do not speak TLS.
    #[arg(long)]
    pub insecure: bool,
    /// Upload blobs in chunks of this size (e.g. 5M; default: monolithic up to 256M).
    #[arg(long, value_name = "SIZE")]
    pub chunk_size: Option<String>,
    /// Another repository of the same registry holding the blobs (cross-repository mount);
    /// repositories this app was pushed to before are tried too. Repeatable.
    #[arg(long, value_name = "REPO")]
    pub mount_from: Vec<String>,
}

impl RegistryArgs {
    /// The library's registry options (`--chunk-size` checked).
    pub fn options(&self) -> Result<binship_publish::RegistryOptions, String> {
        Ok(binship_publish::RegistryOptions {
            insecure: self.insecure,
            chunk_size: self
                .chunk_size
                .as_deref()
                .map(binship_publish::push::parse_size)
                .transpose()
                .map_err(|e| e.to_string())?,
            mount_from: self.mount_from.clone(),
        })
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct ScaffoldArgs {
    /// The app: its recipe is images/standalone-binaries/<APP>/binship.toml.
    pub app: String,
    /// The version to pack (default: the only one, a prompt, or the latest).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub version: Option<String>,
    /// The container type: docker (docker-archive), podman (oci-archive), oci (layout
    /// dir), lxc-alpine / lxc-debian (lxc with the recipe's container.bases.alpine / .debian),
    /// incus. Sets format, base and service defaults; explicit flags win. Without --type or
    /// --format: a prompt on a terminal, else the recipe's container.type, else docker.
    #[arg(long = "type", value_name = "TYPE", value_parser = clap::builder::PossibleValuesParser::new(binship_pipeline::plan::ContainerType::ALL.map(|t| t.name())))]
    pub container_type: Option<String>,
    /// docker-archive (what `docker load` takes), oci (image layout dir), oci-archive, lxc
    /// (rootfs.tar.xz + meta.tar.xz for `lxc-create -t local`), incus (unified tarball for
    /// `incus image import`; LXD takes it too). Default: from --type, else docker-archive.
    #[arg(long = "format", value_name = "FORMAT", value_parser = FormatParser)]
    pub format_arg: Option<String>,
    /// scratch (just the binary), static (distroless-like), rootfs:PATH (a tarball of any
    /// compression or a directory, e.g. alpine-minirootfs), oci:DIR[:TAG], oci-archive:FILE or
    /// docker-archive:FILE (an existing image). Default from the recipe, else static.
    #[arg(long)]
    pub base: Option<String>,
    /// Layer compression: none (docker-archive default), gzip (OCI default), zstd. lxc: xz
    /// only; incus: xz (default) or zstd (seconds instead of most of a minute for a Debian base).
    #[arg(long, value_name = "none|gzip|zstd|xz")]
    pub compress: Option<String>,
    /// Compression level (gzip 1-9, default 4; zstd 1-19, default 3; for lxc/incus xz the
    /// preset 0-9, default 6).
    #[arg(long, allow_hyphen_values = true)]
    pub level: Option<i32>,
    /// Output path (default: images/docker/<app>-<base>/<app>.tar, .../oci, .../<app>.oci.tar).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Also replace an existing output that is not an image of this format (an image of it is
    /// replaced when the new one differs, naming the old digest, and kept when the same).
    #[arg(long)]
    pub force: bool,
    /// Image reference (default <app>:v.<N>).
    #[arg(long)]
    pub tag: Option<String>,
    /// Pack a version whose tests failed or are missing (stated in the image's labels).
    #[arg(long)]
    pub allow_untested: bool,
    /// One platform of a multi-target version (linux/arm64). Default: all of them as an image
    /// index for oci / oci-archive / --push; the native one for the other formats.
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// Refuse a version whose signatures do not verify (also `container.require_signed`).
    #[arg(long)]
    pub require_signed: bool,
    /// The public key for --require-signed (default: $XDG_CONFIG_HOME/binship/binship.pub).
    #[arg(long = "pub", value_name = "FILE")]
    pub public_key: Option<PathBuf>,
    /// Sign the image (--format oci, or --push): a signature tagged sha256-<hex>.sig beside it,
    /// cosign's with a cosign --key.
    #[arg(long)]
    pub sign: bool,
    /// Attach the version's SBOM to the image (--format oci, or --push), tagged
    /// sha256-<hex>.sbom.
    #[arg(long)]
    pub sbom: bool,
    #[command(flatten)]
    pub key: KeyArgs,
    /// Also push the image (as OCI, with these settings) to REGISTRY/REPO[:TAG].
    #[arg(long, value_name = "REGISTRY/REPO[:TAG]")]
    pub push: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Arguments after the binary (replace the recipe's container.args); repeatable.
    #[arg(long = "arg", value_name = "ARG", allow_hyphen_values = true)]
    pub args: Vec<String>,
    /// Environment KEY=VALUE (added to the recipe's container.env); repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Exposed TCP port (replaces the recipe's container.ports); repeatable.
    #[arg(long = "port", value_name = "PORT", allow_hyphen_values = true)]
    pub ports: Vec<String>,
    /// uid:gid or root / nonroot (default 65532:65532).
    #[arg(long)]
    pub user: Option<String>,
    /// The image's working directory (absolute; default /).
    #[arg(long)]
    pub workdir: Option<String>,
    /// The signal that stops the container (SIGTERM, SIGINT, ...; default the recipe's).
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// CA bundle for the static base (default: the host's /etc/ssl/certs/ca-certificates.crt);
    /// refused for other bases.
    #[arg(long)]
    pub ca_bundle: Option<PathBuf>,
    /// Service files for system containers: openrc, systemd, supervisor or none (default: the
    /// recipe's container.service; `auto` = OpenRC on Alpine, systemd on Debian/Ubuntu, else none).
    #[arg(long)]
    pub service: Option<String>,
    /// Incus image alias (default <app>-<base>, e.g. go-id-alpine); an LXC image carries none.
    #[arg(long)]
    pub alias: Option<String>,
    /// Incus: write the two-file form (metadata.tar.xz + rootfs.tar.xz) instead of one tarball.
    #[arg(long)]
    pub split: bool,
    /// Do not run the image as it will run before writing it (the image test: the recipe's
    /// checks against the image's own entrypoint, Cmd, env and user); the label
    /// io.binship.image-tests then says "skipped: --no-image-test".
    #[arg(long)]
    pub no_image_test: bool,
    /// What runs the image test. Default: the local engine whose API socket answers (docker at
    /// $DOCKER_HOST or /var/run/docker.sock, then podman's service socket), else binship's own
    /// runner; $BINSHIP_IMAGE_TEST_ENGINE changes that default. `binship`: binship's runner;
    /// `auto`: that default, whatever the variable says.
    /// `docker`, `podman`, or either with its global flags, quoted: that engine; the image is
    /// loaded under a temp tag, run on the host network with a read-only root and no
    /// capabilities, then removed.
    #[arg(long, value_name = "ENGINE")]
    pub image_test_engine: Option<String>,
    /// Extra `run` flags for --image-test-engine, split as sh words (e.g. podman's ulimits).
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub image_test_run_args: Option<String>,
    /// Copy the host's /usr/share/zoneinfo into the static base (refused for other bases).
    #[arg(long)]
    pub zoneinfo: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// The app: its recipe is images/standalone-binaries/<APP>/binship.toml.
    pub app: String,
    /// The version (default: current, else the latest).
    pub version: Option<String>,
    /// Start-ups measured per figure (the median is kept).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// The container engine command (default: docker when its daemon answers, else
    /// podman); `none` skips the container figures.
    #[arg(long, value_name = "CMD")]
    pub engine: Option<String>,
    /// Extra arguments for the engine's `run` (e.g. "--ulimit nofile=20000:20000").
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub engine_run_args: Option<String>,
    /// Also write an SVG chart of every version's figures (bench.svg beside bench.json).
    #[arg(long)]
    pub plot: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DeployArgs {
    /// The app: its recipe is images/standalone-binaries/<APP>/binship.toml.
    pub app: String,
    /// docker, podman, lxc or incus.
    #[arg(long, value_parser = ["docker", "podman", "lxc", "incus"])]
    pub to: String,
    /// lxc/incus: the base with an init (default: the recipe's container.bases.debian,
    /// else .alpine).
    #[arg(long)]
    pub base: Option<String>,
    /// lxc: the lxcpath (lxc-create -P).
    #[arg(long, value_name = "DIR")]
    pub lxcpath: Option<String>,
    /// lxc: a config file for lxc-create -f (e.g. the network).
    #[arg(long, value_name = "FILE")]
    pub lxc_conf: Option<String>,
    /// incus: instance config for `incus launch -c` (repeatable), e.g. security.privileged=true.
    #[arg(long, value_name = "KEY=VALUE")]
    pub incus_config: Vec<String>,
    /// The container name (default: the app); an existing one is replaced.
    #[arg(long)]
    pub name: Option<String>,
    /// Run it on this port (passed as the recipe's tests pass it) and probe it there;
    /// default: the image's first exposed port.
    #[arg(long)]
    pub port: Option<u16>,
    /// The engine command with global options (default: docker / podman).
    #[arg(long, value_name = "CMD")]
    pub engine: Option<String>,
    /// Extra arguments for `run`.
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub engine_run_args: Option<String>,
    /// docker/podman: the image's name[:tag] (default APP:v.N).
    #[arg(long, value_name = "NAME[:TAG]")]
    pub tag: Option<String>,
}
