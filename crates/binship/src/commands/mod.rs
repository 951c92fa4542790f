//! One function per command; each returns the process exit code.

mod binary;
pub mod build;
mod init;
mod list;
mod push;
mod scaffold;

use binship_build::Cancel;
use binship_store::Store;

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> i32 {
    let cwd = match std::env::current_dir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: reading the working directory: {e}");
            return crate::exit::OTHER;
        }
    };
    let store = Store::discover(&cwd, cli.store.clone());
    match cli.command {
        Command::Init {
            app,
            kind,
            source,
            force,
        } => init::run(&store, &cwd, cli.json, &app, &kind, &source, force),
        Command::Build {
            app,
            version,
            force,
        } => {
            let cancel = Cancel::new();
            let c = cancel.clone();
            // First Ctrl-C: stop the build and clean up; a second one exits at once.
            let _ = ctrlc::set_handler(move || {
                if c.is_cancelled() {
                    std::process::exit(crate::exit::INTERRUPTED);
                }
                c.cancel();
            });
            build::run(&store, cli.json, &app, version.as_deref(), force, &cancel)
        }
        Command::List {
            remote: Some(r),
            insecure,
            ..
        } => list::remote(cli.json, &r, insecure),
        Command::List { app, .. } => list::run(&store, cli.json, app.as_deref()),
        Command::Scaffold(args) => scaffold::run(&store, cli.json, &args),
        Command::Push {
            app,
            reference,
            registry,
            base,
        } => match registry_flags(&registry) {
            Ok(f) => push::run(&store, cli.json, &app, &reference, &f, base),
            Err(m) => usage(cli.json, &m),
        },
        Command::PushBinary {
            app,
            reference,
            registry,
        } => match registry_flags(&registry) {
            Ok(f) => binary::push_binary(&store, cli.json, &app, &reference, &f),
            Err(m) => usage(cli.json, &m),
        },
        Command::PullBinary {
            reference,
            insecure,
        } => binary::pull_binary(&store, cli.json, &reference, insecure),
    }
}

/// The registry flags, checked.
pub fn registry_flags(a: &crate::cli::RegistryArgs) -> Result<push::RegistryFlags, String> {
    Ok(push::RegistryFlags {
        insecure: a.insecure,
        chunk_size: a.chunk_size.as_deref().map(push::parse_size).transpose()?,
        mount_from: a.mount_from.clone(),
    })
}

fn usage(json_mode: bool, m: &str) -> i32 {
    crate::output::error(json_mode, "usage", m, serde_json::json!({}));
    crate::exit::USAGE
}
