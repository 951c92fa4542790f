//! Command-line definitions ([`Cli`]), with clap derive.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// binship turns source code into tested, versioned, static binaries.
///
/// Exit codes: 0 ok, 1 other error, 2 usage or bad input (recipe, name, version),
/// 3 not found, 4 prerequisite missing, 5 build failed, 6 tests failed,
/// 7 version exists with different inputs, 130 interrupted.
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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a recipe (binship.toml) and a build.sh wrapper for a new app.
    Init {
        /// App name (a-z, 0-9, `-`, `_`, `.`).
        app: String,
        /// What builds it: go, rust, c or command.
        #[arg(long, value_parser = ["go", "rust", "c", "command"])]
        kind: String,
        /// The source directory (relative to the working directory).
        #[arg(long)]
        source: PathBuf,
        /// Overwrite an existing recipe.
        #[arg(long)]
        force: bool,
    },
    /// Build, test and store a version: images/standalone-binaries/<app>/<app>-binary-v.<N>/.
    Build {
        app: String,
        /// The version number (default: the next one, or "up to date" when nothing changed).
        #[arg(allow_hyphen_values = true)]
        version: Option<String>,
        /// Rebuild even when up to date; replace an existing version.
        #[arg(long)]
        force: bool,
    },
    /// List apps and their stored versions.
    List {
        /// Only this app.
        app: Option<String>,
    },
}
