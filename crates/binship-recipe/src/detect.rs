//! What `init` reads in a source tree before it writes a recipe: what to build (C files with
//! their `main`, Go main packages, Rust `[[bin]]` targets) and how the program can be tested
//! (how it takes its port, whether it serves `/health`, whether it answers `--version`).

use std::path::{Path, PathBuf};

use crate::Kind;

/// How the program takes the port it listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortInput {
    /// A flag and its value (`test.port_arg`), e.g. `["--port", "{port}"]` or
    /// `["-addr", "127.0.0.1:{port}"]`.
    Flag(Vec<String>),
    /// An environment variable (`test.port_via = "env"`).
    Env(String),
    /// Nothing found: the recipe keeps `--port {port}` and says to check it.
    Unknown,
}

/// What [`detect`] found in a source tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// `[build] packages`: C source files (relative to the source), Go main packages
    /// (`.`, `./cmd/x`), Rust binary target names. Empty: the builder's default.
    pub packages: Vec<String>,
    /// Other programs the tree holds (written as a comment; the user may pick one).
    pub others: Vec<String>,
    /// The route the source serves for health (`/health`, `/healthz`), if any.
    pub health: Option<String>,
    /// The argument that prints the version (`--version`, or `-V` for a C program that
    /// compares it), when the source handles one.
    pub version_arg: Option<String>,
    /// The `command` kind: `build.command` and `build.output` from the source's Makefile.
    pub make: Option<(String, String)>,
    pub port: PortInput,
    /// `test.args` that keep the tests on loopback: a Go host flag (`-host 127.0.0.1`) when
    /// the program binds all addresses by default.
    pub test_args: Vec<String>,
    /// What init assumed or could not tell, one line each (printed, and kept in the recipe).
    pub notes: Vec<String>,
}

impl Detected {
    /// What init assumes without reading a source (the `command` kind).
    pub fn assumed() -> Detected {
        Detected {
            packages: Vec::new(),
            others: Vec::new(),
            health: Some("/health".into()),
            version_arg: Some("--version".into()),
            port: PortInput::Flag(vec!["--port".into(), "{port}".into()]),
            test_args: Vec::new(),
            make: None,
            notes: Vec::new(),
        }
    }
}

/// A source file read for detection (at most 1 MiB of it).
struct SourceFile {
    /// Relative to the source dir.
    rel: PathBuf,
    text: String,
}

/// Dirs never searched: VCS, dependencies, build output, test data.
const SKIP: &[&str] = &[
    "vendor",
    "target",
    "node_modules",
    "testdata",
    "build",
    "dist",
];

fn walk(root: &Path, dir: &Path, depth: usize, ext: &str, out: &mut Vec<SourceFile>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(ft) = e.file_type() else { continue };
        let path = e.path();
        if ft.is_dir() {
            if depth < 4 && !name.starts_with('.') && !SKIP.contains(&name.as_str()) {
                walk(root, &path, depth + 1, ext, out);
            }
        } else if ft.is_file() && name.ends_with(ext) {
            let mut text = Vec::new();
            if let Ok(f) = std::fs::File::open(&path) {
                let _ = std::io::Read::read_to_end(&mut std::io::Read::take(f, 1 << 20), &mut text);
            }
            out.push(SourceFile {
                rel: path.strip_prefix(root).unwrap_or(&path).to_path_buf(),
                text: String::from_utf8_lossy(&text).into_owned(),
            });
        }
    }
}

fn re(s: &str) -> regex::Regex {
    regex::Regex::new(s).expect("a valid pattern")
}

/// Reads `source` for a recipe of `kind` for `app`.
///
/// # Errors
/// One line naming the source dir when it holds nothing `kind` can build: no C file with
/// `main`, no Go `package main`, no Rust binary target (or a Cargo workspace root).
pub fn detect(kind: Kind, source: &Path, app: &str) -> Result<Detected, String> {
    let shown = source.display();
    let mut tree_text = String::new();
    let mut rust_clap = false;
    let (files, mut d) = match kind {
        Kind::Command => {
            let mut files = Vec::new();
            let mut d = with(Vec::new(), Vec::new());
            match make_target(source, app) {
                Some((target, makefile)) => {
                    walk(source, source, 0, ".c", &mut files);
                    // Static: the Makefile's own link line takes LDFLAGS (checked by the build).
                    d.make = Some((
                        format!("make {target} CC=gcc LDFLAGS=-static"),
                        target.clone(),
                    ));
                    d.notes.push(format!(
                        "build.command runs `make {target}` from {makefile} with LDFLAGS=-static; check that its link line uses $(LDFLAGS)"
                    ));
                }
                None => {
                    // The command is a guess, but the sources still say how the program runs.
                    for ext in [".c", ".go", ".rs"] {
                        walk(source, source, 0, ext, &mut files);
                    }
                    d.notes.push(format!(
                        "no Makefile in {shown}: build.command = \"make\" is a guess; set build.command and build.output to what builds {app}"
                    ));
                }
            }
            (files, d)
        }
        Kind::C => {
            let mut files = Vec::new();
            walk(source, source, 0, ".c", &mut files);
            let main = re(r"(?m)^\s*(?:(?:static\s+)?int\s+)?main\s*\(");
            let mains: Vec<&SourceFile> = files.iter().filter(|f| main.is_match(&f.text)).collect();
            let chosen = pick(&mains, |f| {
                f.rel
                    .file_stem()
                    .is_some_and(|s| same_name(&s.to_string_lossy(), app))
            })
            .ok_or_else(|| {
                format!("{shown}: no C file defines main() (searched *.c, 4 levels deep)")
            })?;
            let dir = chosen.rel.parent().unwrap_or(Path::new("")).to_path_buf();
            // The program: its main file and the other .c files beside it that have no main.
            let mut packages: Vec<String> = files
                .iter()
                .filter(|f| f.rel.parent().unwrap_or(Path::new("")) == dir)
                .filter(|f| f.rel == chosen.rel || !main.is_match(&f.text))
                .map(|f| f.rel.to_string_lossy().into_owned())
                .collect();
            packages.sort();
            let others = mains
                .iter()
                .filter(|f| f.rel != chosen.rel)
                .map(|f| f.rel.to_string_lossy().into_owned())
                .collect();
            // A header the Makefile generates: gcc on the files alone cannot build it.
            let include = re(r#"(?m)^\s*#\s*include\s+"([^"]+)""#);
            let src_dir = source.join(&dir);
            for f in files
                .iter()
                .filter(|f| packages.contains(&f.rel.to_string_lossy().into_owned()))
            {
                for c in include.captures_iter(&f.text) {
                    let h = &c[1];
                    if src_dir.join(h).exists() {
                        continue;
                    }
                    if let Some((_, makefile)) = make_rule(&src_dir, h) {
                        return Err(format!(
                            "{}: includes {h}, which {makefile} generates (make {h}): gcc on the sources alone cannot build it; use --kind command (init then writes build.command = \"make ...\")",
                            source.join(&f.rel).display()
                        ));
                    }
                }
            }
            (files, with(packages, others))
        }
        Kind::Go => {
            let mut files = Vec::new();
            walk(source, source, 0, ".go", &mut files);
            files.retain(|f| !f.rel.to_string_lossy().ends_with("_test.go"));
            let main = re(r"(?m)^package\s+main\b");
            let mut dirs: Vec<String> = files
                .iter()
                .filter(|f| main.is_match(&f.text))
                .map(|f| match f.rel.parent() {
                    Some(p) if !p.as_os_str().is_empty() => format!("./{}", p.display()),
                    _ => ".".to_string(),
                })
                .collect();
            dirs.dedup();
            let refs: Vec<&String> = dirs.iter().collect();
            let chosen = pick(&refs, |d| d.rsplit('/').next() == Some(app))
                .ok_or_else(|| {
                    format!(
                        "{shown}: no Go main package (no `package main` in *.go, 4 levels deep)"
                    )
                })?
                .to_string();
            let others = dirs.iter().filter(|d| **d != chosen).cloned().collect();
            let mut d = with(vec![chosen.clone()], others);
            let gomod = std::fs::read_to_string(source.join("go.mod")).unwrap_or_default();
            if re(r"(?m)^\s*require\b").is_match(&gomod) && !source.join("vendor").is_dir() {
                d.notes.push(format!(
                    "{shown}/go.mod requires modules and there is no vendor/ dir: the build runs with GOPROXY=off (run `go mod vendor`, or remove GOPROXY from build.env to fetch them)"
                ));
            }
            // The chosen package's files say how it is run (else the tree's: a main that
            // calls a package of its module, as go-httpbin's cmd/ does).
            let pkg = chosen.trim_start_matches("./").to_string();
            tree_text = files
                .iter()
                .map(|f| f.text.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            files.retain(|f| {
                let p = f.rel.parent().unwrap_or(Path::new("")).to_string_lossy();
                p == pkg || (pkg == "." && p.is_empty())
            });
            (files, d)
        }
        Kind::Rust => {
            let manifest = std::fs::read_to_string(source.join("Cargo.toml"))
                .map_err(|e| format!("{shown}/Cargo.toml: {e}"))?;
            let t: toml::Table = toml::from_str(&manifest)
                .map_err(|e| format!("{shown}/Cargo.toml: {}", e.message()))?;
            let package = t
                .get("package")
                .and_then(|p| p.get("name"))
                .and_then(|n| n.as_str());
            let Some(package) = package else {
                return Err(format!(
                    "{shown}/Cargo.toml has no [package] (a workspace?): point --source at the member crate that builds the binary"
                ));
            };
            let mut bins: Vec<String> = t
                .get("bin")
                .and_then(|b| b.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|b| b.get("name").and_then(|n| n.as_str()).map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            if bins.is_empty() && source.join("src/main.rs").is_file() {
                bins.push(package.to_string());
            }
            if let Ok(rd) = std::fs::read_dir(source.join("src/bin")) {
                let mut more: Vec<String> = rd
                    .flatten()
                    .filter_map(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        n.strip_suffix(".rs").map(String::from)
                    })
                    .filter(|n| !bins.contains(n))
                    .collect();
                more.sort();
                bins.extend(more);
            }
            rust_clap = manifest.contains("clap");
            let refs: Vec<&String> = bins.iter().collect();
            let named = if bins.iter().any(|b| b == app) {
                app
            } else {
                package
            };
            let chosen = pick(&refs, |b| b.as_str() == named)
                .ok_or_else(|| format!("{shown}/Cargo.toml: crate {package} has no binary target (no [[bin]], src/main.rs or src/bin/)"))?
                .to_string();
            let others = bins.iter().filter(|b| **b != chosen).cloned().collect();
            let mut files = Vec::new();
            walk(source, &source.join("src"), 0, ".rs", &mut files);
            // The other binaries' own files say nothing about this one.
            let mut foreign: Vec<String> = bins
                .iter()
                .filter(|b| **b != chosen)
                .map(|b| format!("src/bin/{b}"))
                .collect();
            if chosen != package {
                foreign.push("src/main".into());
            }
            files.retain(|f| {
                let r = f.rel.to_string_lossy();
                let r = r.trim_end_matches(".rs");
                !foreign
                    .iter()
                    .any(|o| r == o || r.starts_with(&format!("{o}/")))
            });
            (files, with(vec![chosen], others))
        }
    };
    let all: String = files
        .iter()
        .map(|f| f.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    // A route literal: "/health", "/healthz", or a request line a C server compares
    // ("GET /health ").
    d.health = re(r#""(?:GET\s+)?(/health[a-z]*)[\s"?]"#)
        .captures(&all)
        .map(|c| c[1].to_string());
    let long = all.contains("\"--version\"")
        || match kind {
            Kind::Go => re(r#"\b\w+\.(?:Bool|BoolVar)\([^)]*"version""#).is_match(&all),
            Kind::Rust => re(r"#\[(?:command|clap)\([^\]]*\bversion\b").is_match(&all),
            _ => false,
        };
    d.version_arg = if long {
        Some("--version".into())
    } else if matches!(kind, Kind::C | Kind::Command) && all.contains("\"-V\"") {
        Some("-V".into())
    } else {
        None
    };
    d.port = port_input(kind, &all, rust_clap);
    if d.port == PortInput::Unknown && !tree_text.is_empty() {
        d.port = port_input(kind, &tree_text, rust_clap);
    }
    // A Go host flag beside a port flag: the tests bind 127.0.0.1, never every address.
    let host = re(r#"\b\w+\.String(?:Var)?\([^)]*"(host|bind-address|listen-host)""#);
    if let (Kind::Go, PortInput::Flag(_)) = (kind, &d.port) {
        let text = if host.is_match(&all) {
            &all
        } else {
            &tree_text
        };
        if let Some(c) = host.captures(text) {
            d.test_args = vec![format!("-{}", &c[1]), "127.0.0.1".into()];
        }
    }
    if d.port == PortInput::Unknown {
        d.notes.push(format!(
            "no port flag or PORT variable found in {shown}: test.port_arg says `--port {{port}}`; set how the program takes its port"
        ));
    }
    if d.health.is_none() {
        d.notes.push(
            "the source serves no /health: readiness is a TCP connect (test.ready_path and the HTTP check are left commented)".into(),
        );
    }
    if !d.others.is_empty() {
        d.notes.push(format!(
            "built {} (also in the tree: {}; change build.packages to pick another)",
            d.packages.join(" "),
            d.others.join(", ")
        ));
    }
    Ok(d)
}

fn with(packages: Vec<String>, others: Vec<String>) -> Detected {
    Detected {
        packages,
        others,
        health: None,
        version_arg: None,
        port: PortInput::Unknown,
        test_args: Vec::new(),
        make: None,
        notes: Vec::new(),
    }
}

/// The candidate `preferred` picks, else the shallowest (then first by name).
fn pick<'a, T: AsRef<Path> + ?Sized>(
    candidates: &[&'a T],
    preferred: impl Fn(&T) -> bool,
) -> Option<&'a T> {
    candidates
        .iter()
        .copied()
        .find(|c| preferred(c))
        .or_else(|| {
            candidates
                .iter()
                .copied()
                .min_by_key(|c| c.as_ref().components().count())
        })
}

impl AsRef<Path> for SourceFile {
    fn as_ref(&self) -> &Path {
        &self.rel
    }
}

/// `a-b` and `a_b` are the same program name.
fn same_name(a: &str, b: &str) -> bool {
    a.replace('_', "-") == b.replace('_', "-")
}

/// The Makefile in `dir` and its rule for `target`, if it has one.
fn make_rule(dir: &Path, target: &str) -> Option<(String, String)> {
    ["GNUmakefile", "makefile", "Makefile"]
        .iter()
        .find_map(|m| {
            let text = std::fs::read_to_string(dir.join(m)).ok()?;
            let rule = re(&format!(r"(?m)^{}\s*:[^=]", regex::escape(target)));
            rule.is_match(&text)
                .then(|| (target.to_string(), dir.join(m).display().to_string()))
        })
}

/// The Makefile target that builds `app` (same name up to `-`/`_`), else the first
/// prerequisite of `all`.
fn make_target(source: &Path, app: &str) -> Option<(String, String)> {
    let (text, path) = ["GNUmakefile", "makefile", "Makefile"]
        .iter()
        .find_map(|m| {
            let p = source.join(m);
            std::fs::read_to_string(&p)
                .ok()
                .map(|t| (t, p.display().to_string()))
        })?;
    let targets: Vec<String> = re(r"(?m)^([A-Za-z0-9_.-]+)\s*:[^=]")
        .captures_iter(&text)
        .map(|c| c[1].to_string())
        .collect();
    if let Some(t) = targets.iter().find(|t| same_name(t, app)) {
        return Some((t.clone(), path));
    }
    let all = re(r"(?m)^all\s*:\s*([A-Za-z0-9_.-]+)").captures(&text)?;
    Some((all[1].to_string(), path))
}

/// How the program takes its port, from its sources' text `all`; `clap`: the crate uses clap
/// (only then is a Rust `port: u16` field a `--port` flag).
fn port_input(kind: Kind, all: &str, clap: bool) -> PortInput {
    let flag = |f: &str, v: &str| PortInput::Flag(vec![f.to_string(), v.to_string()]);
    if all.contains("\"--port\"")
        || (kind == Kind::Go
            && re(r#"\b\w+\.(?:Int|Uint|String)(?:Var)?\([^)]*"port""#).is_match(all))
        || (kind == Kind::Rust && clap && re(r"(?m)^\s*(?:pub\s+)?port\s*:\s*u16").is_match(all))
    {
        return flag("--port", "{port}");
    }
    if kind == Kind::Go {
        // An address flag: `-addr :8080`, `-listen`, `-http`, `-bind`.
        if let Some(c) =
            re(r#"\b\w+\.String(?:Var)?\([^)]*"(addr|address|listen|http|bind)""#).captures(all)
        {
            return flag(&format!("-{}", &c[1]), "127.0.0.1:{port}");
        }
    }
    if let Some(c) = re(r#"(?:getenv|Getenv|env::var|var)\(\s*"([A-Z_]*PORT)"\s*\)"#).captures(all)
    {
        return PortInput::Env(c[1].to_string());
    }
    // A C-style option loop: a flag literal within 3 lines before `port = ...`.
    let lines: Vec<&str> = all.lines().collect();
    let assign = re(r"\bport\s*=[^=]");
    let literal = re(r#""(--?[A-Za-z][A-Za-z-]*)""#);
    for (i, l) in lines.iter().enumerate() {
        if assign.is_match(l) {
            let from = i.saturating_sub(3);
            if let Some(c) = lines[from..=i]
                .iter()
                .rev()
                .find_map(|l| literal.captures(l))
            {
                return flag(&c[1], "{port}");
            }
        }
    }
    PortInput::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (p, text) in files {
            let path = d.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        d
    }

    #[test]
    fn c_files_are_the_mains_dir_without_other_mains() {
        let d = tree(&[
            (
                "src/server.c",
                "#include <x.h>\nint main(int argc, char **argv) {\n int p = atoi(argv[1]);\n}\n",
            ),
            (
                "src/util.c",
                "int helper(const char *b) { return !strncmp(b, \"GET /health \", 12); }\n",
            ),
            ("tests/t.c", "int main(void) { return 0; }\n"),
        ]);
        let got = detect(Kind::C, d.path(), "srv").unwrap();
        assert_eq!(got.packages, ["src/server.c", "src/util.c"]);
        assert_eq!(got.others, ["tests/t.c"]);
        assert_eq!(got.port, PortInput::Unknown);
        assert_eq!(got.health.as_deref(), Some("/health"));
        assert_eq!(got.version_arg, None);
        assert_eq!(got.notes.len(), 2, "{:?}", got.notes);
        let e = detect(Kind::C, tree(&[("a.c", "int f;")]).path(), "x").unwrap_err();
        assert!(
            e.ends_with("no C file defines main() (searched *.c, 4 levels deep)"),
            "{e}"
        );
    }

    #[test]
    fn a_generated_header_sends_c_to_the_command_kind_with_make() {
        let d = tree(&[
            ("Makefile", "all: mini_httpd htpasswd\nmini_httpd: mini_httpd.o\n\t$(CC) $(LDFLAGS) mini_httpd.o -o mini_httpd\nmime.h: mime.txt\n\tsed < mime.txt > mime.h\n"),
            ("mini_httpd.c", "#include \"mime.h\"\nint\nmain(int c, char **v) {\n if (!strcmp(v[1], \"-V\")) exit(0);\n else if ( strcmp( argv[argn], \"-p\" ) == 0 )\n {\n ++argn;\n port = atoi(argv[argn]);\n }\n}\n"),
            ("htpasswd.c", "int main(void) { return 0; }\n"),
        ]);
        let e = detect(Kind::C, d.path(), "mini-httpd").unwrap_err();
        assert!(
            e.contains("mini_httpd.c: includes mime.h, which") && e.contains("--kind command"),
            "{e}"
        );
        let got = detect(Kind::Command, d.path(), "mini-httpd").unwrap();
        assert_eq!(
            got.make,
            Some((
                "make mini_httpd CC=gcc LDFLAGS=-static".into(),
                "mini_httpd".into()
            ))
        );
        assert_eq!(
            got.port,
            PortInput::Flag(vec!["-p".into(), "{port}".into()])
        );
        assert_eq!(got.version_arg.as_deref(), Some("-V"));
    }

    #[test]
    fn go_main_packages_under_cmd() {
        let d = tree(&[
            ("go.mod", "module x\n\ngo 1.19\n"),
            ("lib.go", "package x\n"),
            ("cmd/tool/main.go", "package main\nfunc main(){ flag.String(\"addr\", \":8080\", \"\") }\n"),
            ("cmd/srv/main.go", "package main\nfunc main(){ http.HandleFunc(\"/healthz\", h); v := flag.Bool(\"version\", false, \"\"); p := flag.Int(\"port\", 80, \"\") }\n"),
            ("cmd/srv/main_test.go", "package main\n"),
        ]);
        let got = detect(Kind::Go, d.path(), "srv").unwrap();
        assert_eq!(got.packages, ["./cmd/srv"]);
        assert_eq!(got.others, ["./cmd/tool"]);
        assert_eq!(got.health.as_deref(), Some("/healthz"));
        assert_eq!(got.version_arg.as_deref(), Some("--version"));
        assert_eq!(
            got.port,
            PortInput::Flag(vec!["--port".into(), "{port}".into()])
        );
        // The other program's own flags.
        let got = detect(Kind::Go, d.path(), "tool").unwrap();
        assert_eq!(got.packages, ["./cmd/tool"]);
        assert_eq!(
            got.port,
            PortInput::Flag(vec!["-addr".into(), "127.0.0.1:{port}".into()])
        );
        assert!(detect(Kind::Go, tree(&[("a.go", "package a\n")]).path(), "a").is_err());
        // A main that calls its module's package, whose FlagSet takes the port (go-httpbin).
        let d = tree(&[
            ("cmd/hb/main.go", "package main\nfunc main() { cmd.Main() }\n"),
            ("hb/cmd/cmd.go", "package cmd\nfunc Main() { fs.IntVar(&cfg.ListenPort, \"port\", 8080, \"Port\")\n fs.StringVar(&cfg.ListenHost, \"host\", \"0.0.0.0\", \"Host\") }\n"),
        ]);
        let got = detect(Kind::Go, d.path(), "hb").unwrap();
        assert_eq!(
            got.port,
            PortInput::Flag(vec!["--port".into(), "{port}".into()])
        );
        assert_eq!(got.test_args, ["-host", "127.0.0.1"]);
    }

    #[test]
    fn rust_bin_targets_and_env_port() {
        let d = tree(&[
            ("Cargo.toml", "[package]\nname = \"fsrv\"\nversion = \"0.1.0\"\n\n[[bin]]\nname = \"fsrv-cli\"\npath = \"src/cli.rs\"\n"),
            ("src/cli.rs", "fn main() { let p = std::env::var(\"PORT\"); }\n"),
        ]);
        let got = detect(Kind::Rust, d.path(), "fsrv").unwrap();
        assert_eq!(got.packages, ["fsrv-cli"]);
        assert_eq!(got.port, PortInput::Env("PORT".into()));
        // Several binaries: each is read on its own; `port: u16` is a flag only with clap.
        let d = tree(&[
            (
                "Cargo.toml",
                "[package]\nname = \"multi\"\nversion = \"0.1.0\"\n",
            ),
            ("src/main.rs", "struct A { port: u16 }\nfn main() {}\n"),
            (
                "src/bin/beta.rs",
                "fn main() { std::env::var(\"BETA_PORT\"); }\n",
            ),
        ]);
        let got = detect(Kind::Rust, d.path(), "multi").unwrap();
        assert_eq!(
            (got.packages.clone(), got.others.clone()),
            (vec!["multi".into()], vec!["beta".into()])
        );
        assert_eq!(
            got.port,
            PortInput::Unknown,
            "BETA_PORT is beta's, and no clap"
        );
        let got = detect(Kind::Rust, d.path(), "beta").unwrap();
        assert_eq!(got.port, PortInput::Env("BETA_PORT".into()));
        let ws = tree(&[("Cargo.toml", "[workspace]\nmembers = [\"a\"]\n")]);
        assert!(detect(Kind::Rust, ws.path(), "x")
            .unwrap_err()
            .contains("no [package]"));
    }
}
