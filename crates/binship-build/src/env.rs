//! The build's hidden inputs: the environment variables and tool configuration files that can
//! change what a builder produces, so the cache key can cover them ([`key_inputs`]).
//!
//! A builder inherits binship's environment; `GOAMD64=v3`, `GOFLAGS=-tags=x`, `RUSTFLAGS` or
//! `CFLAGS` give another binary from the same source. Paths, caches, proxies, credentials and
//! log settings do not, and are left out (a key that differs per machine would never be shared).

use binship_recipe::Kind;

/// Variables read by C toolchains (and by the cgo and cc-crate builds of go and rust).
const C_VARS: &[&str] = &[
    "AR",
    "CC",
    "CXX",
    "CFLAGS",
    "CPPFLAGS",
    "CXXFLAGS",
    "LDFLAGS",
    "CPATH",
    "C_INCLUDE_PATH",
    "LIBRARY_PATH",
    "PKG_CONFIG_PATH",
    "PKG_CONFIG_LIBDIR",
    "PKG_CONFIG_SYSROOT_DIR",
    "SOURCE_DATE_EPOCH",
];

/// go: every `GO*`/`CGO_*` variable except these (where things are kept or fetched from, and
/// the toolchain choice, which the key names by version).
const GO_SKIP: &[&str] = &[
    "GOPATH",
    "GOCACHE",
    "GOCACHEPROG",
    "GOMODCACHE",
    "GOTMPDIR",
    "GOPROXY",
    "GONOPROXY",
    "GOSUMDB",
    "GONOSUMDB",
    "GONOSUMCHECK",
    "GOPRIVATE",
    "GOINSECURE",
    "GOVCS",
    "GOAUTH",
    "GOROOT",
    "GOTOOLCHAIN",
    "GOENV",
    "GOTELEMETRY",
    "GOTELEMETRYDIR",
    "GODEBUG",
    "GOTRACEBACK",
    "GOMAXPROCS",
    "GOGC",
    "GOMEMLIMIT",
];

/// rust: every `CARGO_*`/`RUSTC*`/`RUSTFLAGS`/`RUSTDOCFLAGS` variable except these.
const CARGO_SKIP: &[&str] = &[
    // What cargo sets for a program it runs (`cargo run`, `cargo test`), not build settings.
    "CARGO",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "CARGO_MAKEFLAGS",
    "CARGO_HOME",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_JOBS",
    "CARGO_LOG",
    "CARGO_INCREMENTAL",
    "CARGO_REGISTRY_TOKEN",
];
const CARGO_SKIP_PREFIXES: &[&str] = &[
    "CARGO_TERM_",
    "CARGO_HTTP_",
    "CARGO_NET_",
    "CARGO_REGISTRIES_",
    "CARGO_PKG_",
    "CARGO_MANIFEST_",
    "CARGO_CRATE_",
    "CARGO_BIN_",
];

fn go_var(k: &str) -> bool {
    (k.starts_with("GO") || k.starts_with("CGO_")) && !GO_SKIP.contains(&k)
}

fn rust_var(k: &str) -> bool {
    let named = k.starts_with("CARGO_")
        || k.starts_with("RUSTC")
        || k == "RUSTFLAGS"
        || k == "RUSTDOCFLAGS";
    named && !CARGO_SKIP.contains(&k) && !CARGO_SKIP_PREFIXES.iter().any(|p| k.starts_with(p))
}

/// Whether the variable `k` can change what a `kind` build produces. A command build may run
/// any tool, so it takes the union of the others.
pub fn affects_build(kind: Kind, k: &str) -> bool {
    C_VARS.contains(&k)
        || match kind {
            Kind::Go => go_var(k),
            Kind::Rust => rust_var(k),
            Kind::C => false,
            Kind::Command => go_var(k) || rust_var(k),
        }
}

/// The build's hidden inputs for `kind`, sorted: `("env:NAME", value)` for each set variable
/// that [`affects_build`], and `("file:NAME", content)` for the tool configuration files
/// that exist (`go-env`: go's `go env -w` file; `cargo-config.toml`: `$CARGO_HOME/config.toml`). Reads the process
/// environment and those files; unreadable files count as absent.
pub fn key_inputs(kind: Kind) -> Vec<(String, String)> {
    key_inputs_from(
        kind,
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.to_string_lossy().into_owned()))),
    )
}

/// [`key_inputs`] over the given environment.
pub fn key_inputs_from(
    kind: Kind,
    vars: impl Iterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    let vars: std::collections::BTreeMap<String, String> = vars.collect();
    let mut out: Vec<(String, String)> = vars
        .iter()
        .filter(|(k, _)| affects_build(kind, k))
        .map(|(k, v)| (format!("env:{k}"), v.clone()))
        .collect();
    let home = vars.get("HOME").filter(|h| !h.is_empty());
    // Named by what they are, not where: HOME differs between machines sharing a cache.
    let mut files: Vec<(&str, std::path::PathBuf)> = Vec::new();
    if matches!(kind, Kind::Go | Kind::Command) {
        // go env -w writes GOFLAGS, GOAMD64, ... to $GOENV, default $XDG_CONFIG_HOME/go/env.
        match vars.get("GOENV").map(String::as_str) {
            Some("off") => {}
            Some(p) if !p.is_empty() => files.push(("go-env", p.into())),
            _ => {
                let config = vars
                    .get("XDG_CONFIG_HOME")
                    .filter(|x| !x.is_empty())
                    .map(std::path::PathBuf::from)
                    .or_else(|| home.map(|h| std::path::Path::new(h).join(".config")));
                files.extend(config.map(|c| ("go-env", c.join("go/env"))));
            }
        }
    }
    if matches!(kind, Kind::Rust | Kind::Command) {
        let cargo_home = vars
            .get("CARGO_HOME")
            .filter(|c| !c.is_empty())
            .map(std::path::PathBuf::from)
            .or_else(|| home.map(|h| std::path::Path::new(h).join(".cargo")));
        if let Some(c) = cargo_home {
            files.push(("cargo-config.toml", c.join("config.toml")));
            files.push(("cargo-config", c.join("config")));
        }
    }
    for (name, f) in files {
        if let Ok(text) = std::fs::read_to_string(&f) {
            out.push((format!("file:{name}"), text));
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn the_variables_that_change_a_binary_are_inputs_and_paths_are_not() {
        let vars = [
            ("GOAMD64", "v3"),
            ("GOFLAGS", "-tags=x"),
            ("GOPATH", "/home/a/go"),
            ("GOCACHE", "/tmp/c"),
            ("RUSTFLAGS", "-Ctarget-cpu=native"),
            ("CARGO_PROFILE_RELEASE_LTO", "true"),
            ("CARGO_HOME", "/nowhere"),
            ("CARGO_TERM_COLOR", "always"),
            ("CARGO_MANIFEST_DIR", "/src/binship"),
            ("CARGO", "/usr/bin/cargo"),
            ("CFLAGS", "-O3"),
            ("PATH", "/usr/bin"),
            ("HOME", "/nowhere"),
        ];
        let names = |kind| -> Vec<String> {
            key_inputs_from(kind, env(&vars))
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        assert_eq!(
            names(Kind::Go),
            ["env:CFLAGS", "env:GOAMD64", "env:GOFLAGS"]
        );
        assert_eq!(
            names(Kind::Rust),
            [
                "env:CARGO_PROFILE_RELEASE_LTO",
                "env:CFLAGS",
                "env:RUSTFLAGS"
            ]
        );
        assert_eq!(names(Kind::C), ["env:CFLAGS"]);
        assert_eq!(names(Kind::Command).len(), 5);
    }

    #[test]
    fn go_env_and_cargo_config_files_are_inputs() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().to_str().unwrap();
        std::fs::create_dir_all(d.path().join(".config/go")).unwrap();
        std::fs::write(d.path().join(".config/go/env"), "GOAMD64=v3\n").unwrap();
        std::fs::create_dir_all(d.path().join(".cargo")).unwrap();
        std::fs::write(d.path().join(".cargo/config.toml"), "[build]\n").unwrap();
        let go = key_inputs_from(Kind::Go, env(&[("HOME", home)]));
        assert_eq!(go.len(), 1);
        assert_eq!(
            go[0],
            ("file:go-env".to_string(), "GOAMD64=v3\n".to_string())
        );
        assert!(key_inputs_from(Kind::Go, env(&[("HOME", home), ("GOENV", "off")])).is_empty());
        let rust = key_inputs_from(Kind::Rust, env(&[("HOME", home)]));
        assert_eq!(rust.len(), 1);
        assert_eq!(rust[0].0, "file:cargo-config.toml");
        assert!(key_inputs_from(Kind::C, env(&[("HOME", home)])).is_empty());
    }
}
