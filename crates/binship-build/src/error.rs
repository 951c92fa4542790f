//! Typed errors of building and testing: [`BuildError`].

use std::path::PathBuf;

/// What can go wrong while building or testing one binary.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "prerequisite missing: `{tool}` not found on PATH (install the Debian package {package})"
    )]
    PrerequisiteMissing { tool: String, package: String },
    /// The recipe's `build.toolchain` names a toolchain that is not here; the message says
    /// which are, and what to install.
    #[error("prerequisite missing: {0}")]
    ToolchainUnavailable(String),
    #[error(
        "prerequisite missing: no {kind} toolchain for {target} on this {host} host ({install})"
    )]
    CrossToolchainMissing {
        kind: String,
        target: String,
        host: String,
        install: String,
    },
    #[error("prerequisite too old: {tool} {found} found, {needed} or newer needed by {} ({advice})", file.display())]
    ToolTooOld {
        tool: String,
        found: String,
        needed: String,
        file: PathBuf,
        /// What satisfies it: a Debian package that does, with the recipe key that picks it,
        /// or go.dev when none does.
        advice: String,
    },
    #[error("source dir {path} does not exist")]
    SourceMissing { path: PathBuf },
    #[error("{step} failed ({status}); see {log}")]
    Failed {
        step: String,
        status: String,
        log: PathBuf,
    },
    #[error("build finished but the binary was not produced at {path}")]
    NotProduced { path: PathBuf },
    #[error("{app}: binary is dynamically linked ({detail}); {hint}")]
    Dynamic {
        app: String,
        detail: String,
        hint: String,
    },
    #[error("{app}: binary is for {found}, but the recipe's target is {expected}")]
    WrongArch {
        app: String,
        found: String,
        expected: String,
    },
    #[error("{path}: not an ELF binary ({reason})")]
    NotElf { path: PathBuf, reason: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A scan refused the binaries (or could not run).
    #[error("{0}")]
    Scan(String),
    #[error("interrupted")]
    Interrupted,
}

impl BuildError {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
        let context = context.into();
        move |source| BuildError::Io { context, source }
    }
}
