//! The `binship` command line: clap definitions, settings, and one function per command.
//! The pipeline lives in the library crates; this crate only parses, prints and exits.

/// `println!` with the line's ✓ and ✗ in colour on a terminal ([`output::marks`]).
macro_rules! say {
    ($($t:tt)*) => { println!("{}", crate::output::marks(&format!($($t)*), false)) };
}

/// `eprintln!` with the line's ✓ and ✗ in colour on a terminal.
macro_rules! say_err {
    ($($t:tt)*) => { eprintln!("{}", crate::output::marks(&format!($($t)*), true)) };
}

mod cli;
mod commands;
mod exit;
mod keys;
mod output;
mod progress;

use clap::FromArgMatches;

fn main() {
    // `binship list | head` ends quietly, as other Unix tools do, instead of panicking on EPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli =
        cli::Cli::from_arg_matches(&cli::command().get_matches()).unwrap_or_else(|e| e.exit());
    let code = commands::run(cli);
    std::process::exit(code);
}
