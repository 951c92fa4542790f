//! An external tool invoked as a command prefix, [`Tool`]: `docker`, `podman --root X ...`,
//! `lxc-create -P DIR -n NAME`, `incus`; used by deploy and by `binship bench`.

use std::process::{Command, Output, Stdio};

/// An engine command that could not start or exited non-zero; the message says which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ToolFailed(pub String);

impl From<ToolFailed> for String {
    fn from(e: ToolFailed) -> String {
        e.0
    }
}

/// A program and the arguments that always come first.
#[derive(Debug, Clone)]
pub struct Tool(Vec<String>);

impl Tool {
    /// `"podman --root /x"` -> podman with `--root /x` before every call's arguments.
    pub fn parse(cmd: &str) -> Tool {
        Tool(cmd.split_whitespace().map(String::from).collect())
    }

    pub fn new(argv: Vec<String>) -> Tool {
        Tool(argv)
    }

    /// The program.
    pub fn name(&self) -> &str {
        &self.0[0]
    }

    /// The whole prefix, as typed.
    pub fn line(&self) -> String {
        self.0.join(" ")
    }

    /// The prefix followed by `args`.
    pub fn argv(&self, args: &[&str]) -> Vec<String> {
        let mut v = self.0.clone();
        v.extend(args.iter().map(|a| a.to_string()));
        v
    }

    /// Runs it with `args` (stdin closed), whatever the exit status.
    pub fn output(&self, args: &[&str]) -> std::io::Result<Output> {
        Command::new(&self.0[0])
            .args(&self.0[1..])
            .args(args)
            .stdin(Stdio::null())
            .output()
    }

    /// Runs it with `args`.
    ///
    /// # Errors
    /// [`ToolFailed`]: "<program>: <OS error>" when it cannot start, else "<program> <first
    /// arg>: <first stderr line>".
    pub fn run(&self, args: &[&str]) -> Result<Output, ToolFailed> {
        let o = self
            .output(args)
            .map_err(|e| ToolFailed(format!("{}: {e}", self.name())))?;
        if o.status.success() {
            Ok(o)
        } else {
            Err(ToolFailed(format!(
                "{} {}: {}",
                self.name(),
                args.first().unwrap_or(&""),
                first_line(&o)
            )))
        }
    }
}

/// The first non-empty line of a command's stderr ("failed" when there is none).
pub fn first_line(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("failed")
        .trim()
        .to_string()
}

/// An engine's error in one line: its `Error:` line rather than a log line before it, and what
/// to do about a host quirk ([`binship_pipeline::image_test::engine_hint`]).
pub fn engine_error(o: &std::process::Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err
        .lines()
        .find(|l| l.trim_start().starts_with("Error") || l.contains("error:"))
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| first_line(o));
    match binship_pipeline::image_test::engine_hint(&err) {
        Some(h) => format!("{line} ({h})"),
        None => line,
    }
}
