//! One function per command; each returns the process exit code.

mod bench;
pub mod build;
mod deploy;
mod dockerfile;
mod image;
mod init;
mod lifecycle;
mod list;
mod push;
pub mod scaffold;
pub mod supply;

use binship_build::Cancel;
use binship_store::Store;

use crate::cli::{Cli, Command};

/// Writes binship.1 and binship-COMMAND.1 (nested: `-` joined) into `dir`; returns how many.
fn man_pages(dir: &std::path::Path) -> std::io::Result<usize> {
    fn write(cmd: clap::Command, name: &str, dir: &std::path::Path) -> std::io::Result<usize> {
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd.clone().name(name.to_string())).render(&mut buf)?;
        std::fs::write(dir.join(format!("{name}.1")), buf)?;
        let subs = cmd.get_subcommands().filter(|s| s.get_name() != "help");
        subs.map(|s| write(s.clone(), &format!("{name}-{}", s.get_name()), dir))
            .sum::<std::io::Result<usize>>()
            .map(|n| n + 1)
    }
    std::fs::create_dir_all(dir)?;
    write(<Cli as clap::CommandFactory>::command(), "binship", dir)
}

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
            template,
            force,
        } => match template {
            Some(t) => init::from_template(&store, &cwd, cli.json, &app, &t, source, force),
            None => init::run(
                &store,
                &cwd,
                cli.json,
                &app,
                kind.as_deref().unwrap_or("go"),
                source.as_deref().unwrap_or(std::path::Path::new(".")),
                force,
            ),
        },
        Command::Build {
            app,
            version,
            force,
            sign,
            sbom,
            osv_db,
            osv_warn,
            no_cache,
            cache_required,
            key,
        } => {
            if let Err(m) = key.unused_without(sign) {
                return usage(cli.json, &m);
            }
            let cancel = Cancel::new();
            let c = cancel.clone();
            // First Ctrl-C: stop the build and clean up; a second one exits at once.
            let _ = ctrlc::set_handler(move || {
                if c.is_cancelled() {
                    // The spinner's line would stay above the shell's prompt.
                    let _ = console::Term::stderr().clear_line();
                    std::process::exit(crate::exit::INTERRUPTED);
                }
                c.cancel();
            });
            build::run(
                &store,
                cli.json,
                &app,
                version.as_deref(),
                &build::Extras {
                    force,
                    sign: sign.then_some(key),
                    sbom,
                    osv_db,
                    osv_warn,
                    no_cache,
                    cache_required,
                },
                &cancel,
            )
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
        } => match registry.options() {
            Ok(f) => push::run(&store, cli.json, &app, &reference, &f, base),
            Err(m) => usage(cli.json, &m),
        },
        Command::PushBinary {
            app,
            reference,
            registry,
        } => match registry.options() {
            Ok(f) => push::push_binary(&store, cli.json, &app, &reference, &f),
            Err(m) => usage(cli.json, &m),
        },
        Command::Promote { app, version } => lifecycle::promote(&store, cli.json, &app, &version),
        Command::Rollback { app, insecure } => {
            lifecycle::rollback(&store, cli.json, &app, insecure)
        }
        Command::History { app } => lifecycle::history(&store, cli.json, &app),
        Command::Gc {
            cache: true,
            apply,
            older_than,
            ..
        } => lifecycle::gc_cache(&store, cli.json, &older_than, apply),
        Command::Gc {
            app, keep, apply, ..
        } => lifecycle::gc(&store, cli.json, app.as_deref(), keep, apply),
        Command::Update {
            app,
            all,
            sign,
            sbom,
            jobs,
            no_cache,
            key,
            registry,
        } => match (app, all, registry.options()) {
            (_, _, Err(m)) => usage(cli.json, &m),
            (None, false, _) => usage(cli.json, "name an app or pass --all"),
            (Some(_), true, _) => usage(cli.json, "name an app or pass --all, not both"),
            (_, _, Ok(_)) if key.unused_without(sign).is_err() => {
                usage(cli.json, "--key and --password-file are for --sign")
            }
            (a, _, Ok(f)) => {
                let key = sign.then_some(&key);
                let run = lifecycle::UpdateRun {
                    app: a.as_deref(),
                    key,
                    sbom,
                    jobs: jobs.into(),
                    no_cache,
                };
                lifecycle::update(&store, cli.json, &run, &f)
            }
        },
        Command::Bench(a) => bench::run(&store, cli.json, &a),
        Command::Deploy(a) => deploy::run(&store, cli.json, &a),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "binship", &mut std::io::stdout());
            crate::exit::OK
        }
        Command::Man { dir } => match man_pages(&dir) {
            Ok(n) => {
                (
                    println!("{n} man pages in {}", dir.display()),
                    crate::exit::OK,
                )
                    .1
            }
            Err(e) => crate::output::fail(
                cli.json,
                crate::exit::OTHER,
                &format!("{}: {e}", dir.display()),
            ),
        },
        Command::Mcp => {
            // Tools run in this store: the one found from here, or --store / BINSHIP_STORE.
            let names: Vec<&str> = binship_mcp::TOOLS.iter().map(|t| t.0).collect();
            eprintln!(
                "binship mcp: {} tools on stdio ({})",
                names.len(),
                names.join(", ")
            );
            match binship_mcp::serve(Some(store.root().to_path_buf())) {
                Ok(()) => crate::exit::OK,
                Err(m) => {
                    eprintln!("error: {m}");
                    crate::exit::OTHER
                }
            }
        }
        Command::Dockerfile {
            app,
            version,
            output,
            force,
        } => dockerfile::run(&store, cli.json, &app, version.as_deref(), output, force),
        Command::Key {
            command:
                crate::cli::KeyCommand::Generate {
                    dir,
                    format,
                    password_file,
                    force,
                },
        } => supply::key_generate(cli.json, dir, &format, password_file, force),
        Command::SignImage {
            image,
            key,
            insecure,
        } => image::run_sign_image(cli.json, &image, &key, insecure),
        Command::Sign { app, version, key } => {
            supply::run_sign(&store, cli.json, &app, version.as_deref(), &key)
        }
        Command::Verify {
            target,
            version,
            public_key,
            cosign_key,
            attestations,
            insecure,
        } => {
            if target.contains(['/', ':']) {
                let o = binship_publish::image::VerifyOptions {
                    public_key: cosign_key.as_deref().or(public_key.as_deref()),
                    // --attestations are cosign's: without a key, the default cosign.pub.
                    cosign: cosign_key.is_some() || (attestations && public_key.is_none()),
                    attestations,
                    insecure,
                };
                image::run_verify(cli.json, &target, &o)
            } else if attestations && cosign_key.is_none() {
                crate::output::fail(
                    cli.json,
                    crate::exit::USAGE,
                    "--attestations checks cosign's attestations: give the cosign public key (--key cosign.pub)",
                )
            } else {
                // A cosign --key checks the version's attestations (the bundle binship sign
                // --key cosign.key writes); --pub its minisign signatures.
                supply::run_verify_version(
                    &store,
                    cli.json,
                    &target,
                    version.as_deref(),
                    cosign_key.as_deref().or(public_key.as_deref()),
                )
            }
        }
        Command::Sbom { app, version } => {
            supply::run_sbom(&store, cli.json, &app, version.as_deref())
        }
        Command::Inspect { image, insecure } => image::run_inspect(cli.json, &image, insecure),
        Command::PullBinary {
            reference,
            insecure,
        } => push::pull_binary(&store, cli.json, &reference, insecure),
    }
}

fn usage(json_mode: bool, m: &str) -> i32 {
    crate::output::error(json_mode, "usage", m, serde_json::json!({}));
    crate::exit::USAGE
}
