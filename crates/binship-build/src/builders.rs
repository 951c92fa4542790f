//! The [`Builder`] trait (the seed's BinaryBuilder) and its four kinds: go, rust, c, command.
//!
//! A builder checks its prerequisites, fetches dependencies when the source has some, and runs
//! the toolchain; it returns the path of the binary it produced. What happens next (copy,
//! static check, tests, storing) is the same for every kind and lives elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command;

use binship_recipe::{expand, native_arch, Kind, Recipe};
use serde::{Deserialize, Serialize};

use crate::process::{capture, describe_status, run_logged, Cancel};
use crate::BuildError;

/// The toolchain that built a binary, as recorded in test-results.json.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Toolchain {
    pub name: String,
    pub version: String,
}

/// Everything one build needs to know.
pub struct BuildContext<'a> {
    pub recipe: &'a Recipe,
    pub source_dir: PathBuf,
    /// A persistent per-app cache dir (e.g. cargo's target dir).
    pub cache_dir: PathBuf,
    /// Where go and c builders write the binary.
    pub out: PathBuf,
    pub version: u32,
    /// Commit id for `{commit}` (short hash, or "unknown").
    pub commit: String,
    /// build.log, appended to.
    pub log: PathBuf,
    pub on_line: &'a (dyn Fn(&str) + Sync),
    pub cancel: &'a Cancel,
}

impl<'a> BuildContext<'a> {
    /// The same context, for building another platform (set `recipe` and `out`).
    pub fn clone_for(&self) -> BuildContext<'a> {
        BuildContext {
            recipe: self.recipe,
            source_dir: self.source_dir.clone(),
            cache_dir: self.cache_dir.clone(),
            out: self.out.clone(),
            version: self.version,
            commit: self.commit.clone(),
            log: self.log.clone(),
            on_line: self.on_line,
            cancel: self.cancel,
        }
    }

    fn expand(&self, s: &str) -> String {
        let t = &self.recipe.target;
        expand(
            s,
            &[
                ("version", &self.version.to_string()),
                ("commit", &self.commit),
                ("os", &t.os),
                ("arch", &t.arch),
            ],
        )
    }
    /// A command in the source dir with the recipe's env and BINSHIP_VERSION/COMMIT set.
    fn command(&self, program: &str) -> Command {
        self.command_with(program, &[])
    }
    /// As [`Self::command`], with `defaults` set before the recipe's env.
    fn command_with(&self, program: &str, defaults: &[(&str, &str)]) -> Command {
        let mut c = Command::new(program);
        // build.toolchain: its bin dir first on PATH (the recorded command still says `go`),
        // or rustup's `+TOOLCHAIN` for cargo.
        match Toolchoice::of(self.recipe) {
            Toolchoice::Dir(dir) if program == "go" || program == "cargo" => {
                let path = std::env::var("PATH").unwrap_or_default();
                c.env("PATH", format!("{}:{path}", dir.display()));
            }
            Toolchoice::Rustup(t) if program == "cargo" => {
                c.arg(format!("+{t}"));
            }
            _ => {}
        }
        c.current_dir(&self.source_dir)
            .env("BINSHIP_VERSION", self.version.to_string())
            .env("BINSHIP_COMMIT", &self.commit)
            // The platform, as docker buildx names it for Dockerfiles.
            .env("TARGETOS", &self.recipe.target.os)
            .env("TARGETARCH", &self.recipe.target.arch)
            .env("TARGETPLATFORM", self.recipe.target.to_string())
            .envs(defaults.iter().copied());
        for (k, v) in &self.recipe.build.env {
            c.env(k, self.expand(v));
        }
        c
    }
    fn run(&self, cmd: Command, step: &str) -> Result<(), BuildError> {
        let status = run_logged(cmd, step, &self.log, self.on_line, self.cancel)?;
        if status.success() {
            Ok(())
        } else {
            Err(BuildError::Failed {
                step: step.into(),
                status: describe_status(&status),
                log: self.log.clone(),
            })
        }
    }
}

/// One way of turning source into a binary.
pub trait Builder {
    fn kind(&self) -> Kind;
    /// Checks that the tools are on PATH (and new enough); returns the toolchain version.
    fn prerequisites(&self, recipe: &Recipe, source_dir: &Path) -> Result<Toolchain, BuildError>;
    /// The seed's "install dependencies": runs only when the source declares some.
    fn fetch_deps(&self, ctx: &BuildContext) -> Result<(), BuildError>;
    /// Builds; returns where the binary was produced.
    fn build(&self, ctx: &BuildContext) -> Result<PathBuf, BuildError>;
}

/// The builder for a recipe kind.
pub fn builder_for(kind: Kind) -> Box<dyn Builder> {
    match kind {
        Kind::Go => Box::new(GoBuilder),
        Kind::Rust => Box::new(RustBuilder),
        Kind::C => Box::new(CBuilder),
        Kind::Command => Box::new(CommandBuilder),
    }
}

/// The Debian package that provides a tool.
pub fn debian_package(tool: &str) -> &'static str {
    match tool {
        "go" => "golang-go",
        "cargo" | "rustc" => "cargo (or a rustup toolchain)",
        "gcc" => "gcc",
        "libc.a" => "libc6-dev",
        "git" => "git",
        "sh" => "dash",
        _ => "that provides it",
    }
}

/// `tool` as found on PATH (or as given, when it names a path).
fn resolve_program(tool: &str) -> Option<PathBuf> {
    if tool.contains('/') {
        return Some(PathBuf::from(tool));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// The release of the go at `go` ("go1.19.8") from its GOROOT's VERSION file (first line), as
/// `go version` reports it, without running it. None when go could run another toolchain:
/// GOROOT or GOTOOLCHAIN (other than "local") set, a `toolchain` line in go.mod, or no
/// VERSION file beside `bin/go` (a wrapper script, a distribution that keeps none).
fn goroot_version(go: &str, source_dir: &Path) -> Option<String> {
    if std::env::var_os("GOROOT").is_some()
        || std::env::var("GOTOOLCHAIN").is_ok_and(|t| t != "local")
    {
        return None;
    }
    let gomod = std::fs::read_to_string(source_dir.join("go.mod")).unwrap_or_default();
    if gomod
        .lines()
        .any(|l| l.trim_start().starts_with("toolchain"))
    {
        return None;
    }
    let real = std::fs::canonicalize(resolve_program(go)?).ok()?;
    let root = real.parent()?.parent()?;
    let text = std::fs::read_to_string(root.join("VERSION")).ok()?;
    let v = text.lines().next()?.trim();
    (v.starts_with("go1.") && root.join("src/runtime").is_dir()).then(|| v.to_string())
}

fn version_of(tool: &str, args: &[&str]) -> Result<String, BuildError> {
    let mut c = Command::new(tool);
    c.args(args);
    match c.output() {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string()),
        Ok(o) => Err(BuildError::PrerequisiteMissing {
            tool: format!(
                "{tool} (`{tool} {}` failed: {})",
                args.join(" "),
                describe_status(&o.status)
            ),
            package: debian_package(tool).into(),
        }),
        Err(_) => Err(BuildError::PrerequisiteMissing {
            tool: tool.into(),
            package: debian_package(tool).into(),
        }),
    }
}

/// Compares dotted versions ("1.19.8" >= "1.19").
fn version_at_least(found: &str, needed: &str) -> bool {
    let parse = |s: &str| -> Vec<u64> {
        s.split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty())
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    let (f, n) = (parse(found), parse(needed));
    for i in 0..n.len().max(f.len()) {
        let (a, b) = (
            f.get(i).copied().unwrap_or(0),
            n.get(i).copied().unwrap_or(0),
        );
        if a != b {
            return a > b;
        }
    }
    true
}

/// The GNU triple Debian's cross compilers use (`aarch64-linux-gnu`).
pub fn gnu_triple(arch: &str) -> &'static str {
    match arch {
        "amd64" => "x86_64-linux-gnu",
        "arm64" => "aarch64-linux-gnu",
        "386" => "i686-linux-gnu",
        "arm" => "arm-linux-gnueabihf",
        "riscv64" => "riscv64-linux-gnu",
        "ppc64le" => "powerpc64le-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        _ => "unknown-linux-gnu",
    }
}

/// The cross gcc for a foreign arch, when installed (Debian's gcc-<triple>).
fn cross_gcc(arch: &str) -> Result<String, BuildError> {
    let gcc = format!("{}-gcc", gnu_triple(arch));
    version_of(&gcc, &["--version"])
        .map(|_| gcc.clone())
        .map_err(|_| {
            not_native(
                Kind::C,
                arch,
                &format!(
                    "install the Debian package gcc-{}, which provides {gcc}",
                    gnu_triple(arch)
                ),
            )
        })
}

fn not_native(kind: Kind, arch: &str, install: &str) -> BuildError {
    BuildError::CrossToolchainMissing {
        kind: kind.to_string(),
        target: format!("linux/{arch}"),
        host: format!("linux/{}", native_arch()),
        install: install.into(),
    }
}

/// The recipe's `build.toolchain`, resolved: a directory whose tools come first on PATH, a
/// rustup toolchain (`cargo +NAME`), or the tools on PATH.
enum Toolchoice {
    Default,
    Dir(PathBuf),
    Rustup(String),
    /// A Go version with no installed Debian toolchain: refused when a tool is asked for.
    Missing(String),
}

impl Toolchoice {
    fn of(recipe: &Recipe) -> Toolchoice {
        let Some(t) = recipe.build.toolchain.as_deref() else {
            return Toolchoice::Default;
        };
        if t.starts_with('/') {
            // A tool's path (`/usr/lib/go-1.23/bin/go`), its bin dir, or the dir above it
            // (a GOROOT such as /usr/lib/go-1.23).
            let p = Path::new(t);
            return Toolchoice::Dir(if p.is_file() {
                p.parent().unwrap_or(p).to_path_buf()
            } else if p.join("bin").is_dir()
                && !p.join("go").is_file()
                && !p.join("cargo").is_file()
            {
                p.join("bin")
            } else {
                p.to_path_buf()
            });
        }
        match recipe.kind {
            // Debian's golang-1.NN-go installs /usr/lib/go-1.NN/bin/go.
            Kind::Go => {
                // 1.NN or 1.NN.P: Debian installs 1.NN under /usr/lib/go-1.NN (the patch
                // release is checked against what that go reports).
                let minor: String = t.split('.').take(2).collect::<Vec<_>>().join(".");
                let dir = PathBuf::from(format!("/usr/lib/go-{minor}/bin"));
                if dir.join("go").is_file() {
                    Toolchoice::Dir(dir)
                } else {
                    Toolchoice::Missing(t.to_string())
                }
            }
            _ => Toolchoice::Rustup(t.to_string()),
        }
    }

    /// The program to run for `tool`: its path in the chosen dir, or `tool` on PATH.
    ///
    /// # Errors
    /// PrerequisiteMissing: the chosen dir has no such tool, or no Go of that version is
    /// installed (the installed ones and the Debian package are named).
    fn program(&self, tool: &str) -> Result<String, BuildError> {
        match self {
            Toolchoice::Dir(d) => {
                let p = d.join(tool);
                if p.is_file() {
                    Ok(p.display().to_string())
                } else {
                    Err(BuildError::ToolchainUnavailable(format!(
                        "build.toolchain names {}, which has no {tool} (name the tool, its bin dir or the dir above it)",
                        d.display()
                    )))
                }
            }
            Toolchoice::Missing(v) => {
                let installed: Vec<String> = std::fs::read_dir("/usr/lib")
                    .map(|rd| {
                        let mut v: Vec<String> = rd
                            .flatten()
                            .filter_map(|e| {
                                let n = e.file_name().to_string_lossy().into_owned();
                                let ver = n.strip_prefix("go-")?.to_string();
                                e.path().join("bin/go").is_file().then_some(ver)
                            })
                            .collect();
                        v.sort();
                        v
                    })
                    .unwrap_or_default();
                let minor: String = v.split('.').take(2).collect::<Vec<_>>().join(".");
                Err(BuildError::ToolchainUnavailable(format!(
                    "build.toolchain = \"{v}\": no Go {minor} under /usr/lib (installed: {}); {}",
                    if installed.is_empty() {
                        "none".to_string()
                    } else {
                        installed.join(", ")
                    },
                    if debian_has(&format!("golang-{minor}-go")) {
                        format!("install the Debian package golang-{minor}-go")
                    } else {
                        format!("no Debian package golang-{minor}-go here: install Go {v} from go.dev and set build.toolchain to its path")
                    }
                )))
            }
            _ => Ok(tool.to_string()),
        }
    }
}

/// Whether apt knows a package of that name (in the machine's configured sources).
fn debian_has(package: &str) -> bool {
    Command::new("apt-cache")
        .args(["show", "--no-all-versions", package])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What to install for a Go of at least `needed` ("1.22" or "1.22.3"): the oldest Debian
/// golang-1.NN-go apt knows that satisfies it, or go.dev when none does.
fn go_advice(needed: &str) -> String {
    let minor: u32 = needed
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let patch_needed = needed.split('.').nth(2).is_some();
    // A patch release (1.22.3) may be newer than the package's: only a later minor is sure.
    let from = if patch_needed { minor + 1 } else { minor };
    match (from..from + 12).find(|m| debian_has(&format!("golang-1.{m}-go"))) {
        Some(m) => format!(
            "install golang-1.{m}-go (Debian), then set build.toolchain = \"1.{m}\" in the recipe"
        ),
        None => format!(
            "no Debian package here provides go{needed}: install it from go.dev, then set build.toolchain = \"/path/to/go/bin/go\" in the recipe"
        ),
    }
}

struct GoBuilder;

impl Builder for GoBuilder {
    fn kind(&self) -> Kind {
        Kind::Go
    }
    fn prerequisites(&self, recipe: &Recipe, source_dir: &Path) -> Result<Toolchain, BuildError> {
        // "go version go1.19.8 linux/amd64"
        let go = Toolchoice::of(recipe).program("go")?;
        // Read from the GOROOT's VERSION file when go would run as that release: a cache hit
        // then starts no go process. Otherwise asked of go itself.
        let version = match goroot_version(&go, source_dir) {
            Some(v) => v,
            None => {
                let line = version_of(&go, &["version"])?;
                line.split_whitespace().nth(2).unwrap_or(&line).to_string()
            }
        };
        // build.toolchain = "1.NN.P": that exact release (go1.NN.P, or go1.NN.P-extra).
        if let Some(t) = recipe.build.toolchain.as_deref() {
            let exact = format!("go{t}");
            if t.matches('.').count() == 2
                && version != exact
                && !version.starts_with(&format!("{exact}-"))
            {
                return Err(BuildError::ToolchainUnavailable(format!(
                    "build.toolchain = \"{t}\": {go} is {version}; name 1.{} to take it, or install go{t}",
                    t.split('.').nth(1).unwrap_or("")
                )));
            }
        }
        let gomod = source_dir.join("go.mod");
        if let Ok(text) = std::fs::read_to_string(&gomod) {
            let needed = text
                .lines()
                .map(str::trim)
                .find_map(|l| l.strip_prefix("go "))
                .map(|v| v.trim().to_string());
            if let Some(needed) = needed {
                if !version_at_least(version.trim_start_matches("go"), &needed) {
                    return Err(BuildError::ToolTooOld {
                        tool: "go".into(),
                        found: version,
                        needed: format!("go{needed}"),
                        file: gomod,
                        advice: go_advice(&needed),
                    });
                }
            }
        }
        Ok(Toolchain {
            name: "go".into(),
            version,
        })
    }
    fn fetch_deps(&self, ctx: &BuildContext) -> Result<(), BuildError> {
        let gomod = std::fs::read_to_string(ctx.source_dir.join("go.mod")).unwrap_or_default();
        if gomod.lines().any(|l| l.trim_start().starts_with("require")) {
            let mut c = ctx.command("go");
            c.args(["mod", "download"]);
            ctx.run(c, "go mod download")?;
        }
        Ok(())
    }
    fn build(&self, ctx: &BuildContext) -> Result<PathBuf, BuildError> {
        let r = ctx.recipe;
        // The recipe's env is applied after these defaults, so it can override them.
        let mut c = ctx.command_with(
            "go",
            &[
                ("CGO_ENABLED", "0"),
                ("GOOS", &r.target.os),
                ("GOARCH", &r.target.arch),
            ],
        );
        c.args(["build", "-trimpath", "-buildvcs=false", "-o"])
            .arg(&ctx.out);
        if let Some(l) = &r.build.ldflags {
            c.arg(format!("-ldflags={}", ctx.expand(l)));
        }
        c.args(r.build.flags.iter().map(|f| ctx.expand(f)));
        if r.build.packages.is_empty() {
            c.arg(".");
        } else {
            c.args(&r.build.packages);
        }
        ctx.run(c, "go build")?;
        Ok(ctx.out.clone())
    }
}

struct RustBuilder;

/// `cargo-auditable` when `cargo auditable` runs (crates.io: cargo-auditable, on PATH). It
/// reports no version of its own (`cargo auditable --version` is cargo's).
pub fn cargo_auditable() -> Option<String> {
    version_of("cargo", &["auditable", "--version"])
        .ok()
        .map(|_| "cargo-auditable".to_string())
}

fn rust_triple(arch: &str) -> String {
    let cpu = match arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "386" => "i686",
        "riscv64" => "riscv64gc",
        "ppc64le" => "powerpc64le",
        other => other,
    };
    format!("{cpu}-unknown-linux-gnu")
}

impl Builder for RustBuilder {
    fn kind(&self) -> Kind {
        Kind::Rust
    }
    fn prerequisites(&self, recipe: &Recipe, _source_dir: &Path) -> Result<Toolchain, BuildError> {
        let (cargo, rustc, plus) = match Toolchoice::of(recipe) {
            Toolchoice::Rustup(t) => (
                "cargo".to_string(),
                "rustc".to_string(),
                vec![format!("+{t}")],
            ),
            choice => (choice.program("cargo")?, choice.program("rustc")?, vec![]),
        };
        let args = |a: &'static str| {
            plus.iter()
                .map(String::as_str)
                .chain([a])
                .collect::<Vec<_>>()
        };
        version_of(&cargo, &args("--version")).map_err(|e| match Toolchoice::of(recipe) {
            Toolchoice::Rustup(t) => {
                let installed = capture({
                    let mut c = Command::new("rustup");
                    c.args(["toolchain", "list"]);
                    c
                })
                .unwrap_or_default();
                let installed: Vec<&str> = installed
                    .lines()
                    .filter_map(|l| l.split_whitespace().next())
                    .collect();
                BuildError::ToolchainUnavailable(format!(
                    "build.toolchain = \"{t}\": rustup has no such toolchain (installed: {}); rustup toolchain install {t}",
                    if installed.is_empty() { "none".to_string() } else { installed.join(", ") }
                ))
            }
            _ => e,
        })?;
        let version = version_of(&rustc, &args("--version"))?;
        let triple = rust_triple(&recipe.target.arch);
        if recipe.target.arch != native_arch() {
            let sysroot = capture({
                let mut c = Command::new("rustc");
                c.args(["--print", "sysroot"]);
                c
            })
            .unwrap_or_default();
            if !Path::new(sysroot.trim())
                .join("lib/rustlib")
                .join(&triple)
                .is_dir()
            {
                return Err(not_native(
                    Kind::Rust,
                    &recipe.target.arch,
                    &format!("add its standard library: rustup target add {triple}"),
                ));
            }
            cross_gcc(&recipe.target.arch).map_err(|_| {
                not_native(
                    Kind::Rust,
                    &recipe.target.arch,
                    &format!(
                        "it links with {}-gcc: install the Debian package gcc-{}",
                        gnu_triple(&recipe.target.arch),
                        gnu_triple(&recipe.target.arch)
                    ),
                )
            })?;
        }
        // cargo-auditable embeds the crate list (.dep-v0) the SBOM reads; it is part of the
        // toolchain (and so of the cache key): installing it builds again.
        let auditable = cargo_auditable()
            .map(|v| format!(" + {v}"))
            .unwrap_or_default();
        Ok(Toolchain {
            name: "rustc".into(),
            version: format!("{}{auditable}", version.trim_start_matches("rustc ")),
        })
    }
    fn fetch_deps(&self, ctx: &BuildContext) -> Result<(), BuildError> {
        let manifest =
            std::fs::read_to_string(ctx.source_dir.join("Cargo.toml")).unwrap_or_default();
        let has_deps = toml::from_str::<toml::Table>(&manifest)
            .ok()
            .and_then(|t| {
                t.get("dependencies")
                    .and_then(|d| d.as_table())
                    .map(|d| !d.is_empty())
            })
            .unwrap_or(false);
        if has_deps {
            let mut c = ctx.command("cargo");
            c.arg("fetch");
            ctx.run(c, "cargo fetch")?;
        }
        Ok(())
    }
    fn build(&self, ctx: &BuildContext) -> Result<PathBuf, BuildError> {
        let r = ctx.recipe;
        let triple = rust_triple(&r.target.arch);
        let target_dir = ctx.cache_dir.join("cargo-target");
        let mut rustflags = std::env::var("RUSTFLAGS").unwrap_or_default();
        if let Some(extra) = r.build.env.get("RUSTFLAGS") {
            rustflags = ctx.expand(extra);
        }
        if !rustflags.contains("crt-static") {
            rustflags = format!("{rustflags} -C target-feature=+crt-static")
                .trim()
                .to_string();
        }
        let mut c = ctx.command("cargo");
        if r.target.arch != native_arch() {
            c.env(
                format!(
                    "CARGO_TARGET_{}_LINKER",
                    triple.to_uppercase().replace('-', "_")
                ),
                format!("{}-gcc", gnu_triple(&r.target.arch)),
            );
        }
        if cargo_auditable().is_some() {
            c.arg("auditable");
        }
        c.env("CARGO_TARGET_DIR", &target_dir)
            .env("RUSTFLAGS", rustflags)
            .args(["build", "--release", "--target", &triple]);
        for p in &r.build.packages {
            c.args(["--bin", p]);
        }
        c.args(r.build.flags.iter().map(|f| ctx.expand(f)));
        ctx.run(c, "cargo build")?;
        let bin = match r.build.packages.as_slice() {
            [one] => one.as_str(),
            _ => r.binary_name(),
        };
        Ok(target_dir.join(&triple).join("release").join(bin))
    }
}

struct CBuilder;

/// gcc for the native arch, the cross gcc for another.
fn c_compiler(arch: &str) -> Result<String, BuildError> {
    if arch == native_arch() {
        Ok("gcc".into())
    } else {
        cross_gcc(arch)
    }
}

impl Builder for CBuilder {
    fn kind(&self) -> Kind {
        Kind::C
    }
    fn prerequisites(&self, recipe: &Recipe, _source_dir: &Path) -> Result<Toolchain, BuildError> {
        let gcc = c_compiler(&recipe.target.arch)?;
        let line = version_of(&gcc, &["--version"])?;
        if recipe.require_static {
            let libc = capture({
                let mut c = Command::new(&gcc);
                c.arg("-print-file-name=libc.a");
                c
            })
            .unwrap_or_default();
            if !Path::new(libc.trim()).is_absolute() {
                return Err(BuildError::PrerequisiteMissing {
                    tool: "libc.a (static C library)".into(),
                    package: debian_package("libc.a").into(),
                });
            }
        }
        let version = line.split_whitespace().last().unwrap_or(&line).to_string();
        Ok(Toolchain {
            name: "gcc".into(),
            version,
        })
    }
    fn fetch_deps(&self, _ctx: &BuildContext) -> Result<(), BuildError> {
        Ok(())
    }
    fn build(&self, ctx: &BuildContext) -> Result<PathBuf, BuildError> {
        let r = ctx.recipe;
        let mut sources = r.build.packages.clone();
        if sources.is_empty() {
            let mut found: Vec<String> = std::fs::read_dir(&ctx.source_dir)
                .map_err(BuildError::io(format!(
                    "reading {}",
                    ctx.source_dir.display()
                )))?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".c"))
                .collect();
            found.sort();
            sources = found;
        }
        let mut c = ctx.command(&c_compiler(&r.target.arch)?);
        // `-static-pie` in the flags is a static build of its own (gcc refuses both together).
        if r.require_static && !r.build.flags.iter().any(|f| f == "-static-pie") {
            c.arg("-static");
        }
        c.arg(format!("-DBINSHIP_VERSION=\"{}\"", ctx.version))
            .arg(format!("-DBINSHIP_COMMIT=\"{}\"", ctx.commit))
            .args(r.build.flags.iter().map(|f| ctx.expand(f)))
            .arg("-o")
            .arg(&ctx.out)
            .args(&sources);
        ctx.run(c, "gcc")?;
        Ok(ctx.out.clone())
    }
}

struct CommandBuilder;

impl Builder for CommandBuilder {
    fn kind(&self) -> Kind {
        Kind::Command
    }
    fn prerequisites(&self, _recipe: &Recipe, _source_dir: &Path) -> Result<Toolchain, BuildError> {
        if capture({
            let mut c = Command::new("sh");
            c.args(["-c", "true"]);
            c
        })
        .is_none()
        {
            return Err(BuildError::PrerequisiteMissing {
                tool: "sh".into(),
                package: debian_package("sh").into(),
            });
        }
        Ok(Toolchain {
            name: "sh".into(),
            version: "command".into(),
        })
    }
    fn fetch_deps(&self, _ctx: &BuildContext) -> Result<(), BuildError> {
        Ok(())
    }
    fn build(&self, ctx: &BuildContext) -> Result<PathBuf, BuildError> {
        let r = ctx.recipe;
        let command = ctx.expand(r.build.command.as_deref().unwrap_or_default());
        let mut c = ctx.command("sh");
        c.env("BINSHIP_OUT", &ctx.out).args(["-c", &command]);
        ctx.run(c, "build command")?;
        let out = r.build.output.as_deref().unwrap_or(Path::new(""));
        Ok(ctx.source_dir.join(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(version_at_least("1.19.8", "1.19"));
        assert!(version_at_least("1.21", "1.19.2"));
        assert!(!version_at_least("1.19.8", "1.21"));
        assert!(!version_at_least("1.9", "1.19"));
    }

    #[test]
    fn rust_triples() {
        assert_eq!(rust_triple("amd64"), "x86_64-unknown-linux-gnu");
        assert_eq!(rust_triple("arm64"), "aarch64-unknown-linux-gnu");
    }
}
