//! Running toolchain commands: [`run_logged`] streams a child's output line by line into a log
//! file and a callback, and stops it when the [`Cancel`] token fires (Ctrl-C).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::BuildError;

/// A shared flag that asks running work to stop (set from a Ctrl-C handler).
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst)
    }
    /// The flag itself, for code that cannot know this type (a registry session's stop).
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    /// Errors with [`BuildError::Interrupted`] once cancelled.
    pub fn check(&self) -> Result<(), BuildError> {
        if self.is_cancelled() {
            Err(BuildError::Interrupted)
        } else {
            Ok(())
        }
    }
}

/// The first `program` file in the directories of `PATH`, as a shell would find it.
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// Describes an exit status in words ("exit status 2", "killed by signal 9").
pub fn describe_status(s: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "unknown status".into(),
    }
}

/// Makes the child get SIGKILL when binship dies (even by kill -9): a service under test or a
/// toolchain runs in its own process group, so it would otherwise outlive a killed binship.
pub fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // Safety: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            // The parent may have died before prctl: then we were reparented already.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// Sends `sig` to the process group led by `child` (started with `process_group(0)`).
pub fn signal_group(child: &Child, sig: i32) {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is touched.
    unsafe {
        libc::kill(-(child.id() as i32), sig);
    }
}

/// Sends `sig` to `child` only.
pub fn signal(child: &Child, sig: i32) {
    // SAFETY: as above, for one pid.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

/// Waits for `child` until `deadline`, polling; `None` if still running then.
pub fn wait_until(
    child: &mut Child,
    deadline: Instant,
    cancel: &Cancel,
) -> std::io::Result<Option<ExitStatus>> {
    loop {
        if let Some(s) = child.try_wait()? {
            return Ok(Some(s));
        }
        if Instant::now() >= deadline || cancel.is_cancelled() {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `cmd` with stdout and stderr appended to `log` and passed line by line to `on_line`.
/// Returns the exit status; on cancel the child's process group is killed and
/// [`BuildError::Interrupted`] returned.
pub fn run_logged(
    mut cmd: Command,
    step: &str,
    log: &Path,
    on_line: &(dyn Fn(&str) + Sync),
    cancel: &Cancel,
) -> Result<ExitStatus, BuildError> {
    use std::os::unix::process::CommandExt;
    cancel.check()?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(BuildError::io(format!("opening {}", log.display())))?;
    let sink = Mutex::new(file);
    {
        let mut f = sink.lock().unwrap();
        let _ = writeln!(f, "$ {}", render(&cmd));
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    die_with_parent(&mut cmd);
    let prog = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            BuildError::PrerequisiteMissing {
                tool: prog.clone(),
                package: crate::builders::debian_package(&prog).into(),
            }
        } else {
            BuildError::Io {
                context: format!("starting {prog} for {step}"),
                source: e,
            }
        }
    })?;
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let status = std::thread::scope(|s| {
        let pump = |r: Box<dyn std::io::Read + Send>| {
            let sink = &sink;
            move || {
                for line in BufReader::new(r).lines() {
                    let Ok(line) = line else { break };
                    on_line(&line);
                    let mut f = sink.lock().unwrap();
                    let _ = writeln!(f, "{line}");
                }
            }
        };
        s.spawn(pump(Box::new(out)));
        s.spawn(pump(Box::new(err)));
        loop {
            match child.try_wait() {
                Ok(Some(st)) => return Ok(st),
                Ok(None) => {}
                Err(e) => return Err(BuildError::io(format!("waiting for {prog}"))(e)),
            }
            if cancel.is_cancelled() {
                signal_group(&child, libc::SIGKILL);
                let _ = child.wait();
                return Err(BuildError::Interrupted);
            }
            std::thread::sleep(Duration::from_millis(15));
        }
    })?;
    let mut f = sink.into_inner().unwrap();
    let _ = writeln!(f, "[{step}: {}]", describe_status(&status));
    let _ = f.flush();
    Ok(status)
}

/// Runs `cmd` quietly and returns its stdout, or `None` if it cannot run or fails.
pub fn capture(mut cmd: Command) -> Option<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The command as one `sh` line that replays it in its working directory: the variables set
/// for it (`RUSTFLAGS=...`, `CGO_ENABLED=0`, the recipe's env; not `CARGO_TARGET_DIR`, a host
/// path in binship's cache, nor `PATH`, which `build.toolchain` extends with a host dir), then
/// the program and its arguments, each quoted for `sh`.
pub fn render(cmd: &Command) -> String {
    let quote = |s: &std::ffi::OsStr| {
        let s = s.to_string_lossy();
        shlex::try_quote(&s)
            .map(|q| q.into_owned())
            .unwrap_or_else(|_| s.replace('\0', ""))
    };
    let mut words = Vec::new();
    for (k, v) in cmd.get_envs() {
        if let (Some(v), false) = (v, k == "CARGO_TARGET_DIR" || k == "PATH") {
            words.push(format!("{}={}", k.to_string_lossy(), quote(v)));
        }
    }
    words.push(quote(cmd.get_program()));
    words.extend(cmd.get_args().map(quote));
    words.join(" ")
}

/// Opens `path` for appending, creating it.
pub fn append(path: &Path) -> Result<File, BuildError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(BuildError::io(format!("opening {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_is_a_sh_line_with_the_env_that_matters() {
        let mut c = Command::new("cargo");
        c.env("RUSTFLAGS", "-C target-feature=+crt-static")
            .env("CARGO_TARGET_DIR", "/var/cache/x")
            .env("A", "it's")
            .args(["build", "-ldflags=-s -w -X main.v=1"]);
        let line = render(&c);
        assert_eq!(
            line,
            r#"A="it's" RUSTFLAGS='-C target-feature=+crt-static' cargo build '-ldflags=-s -w -X main.v=1'"#
        );
        // sh reads back the same words.
        let out = Command::new("sh")
            .args([
                "-c",
                &line.replacen(
                    " cargo ",
                    r#" sh -c 'printf "%s|" "$A" "$RUSTFLAGS" "$@"' x "#,
                    1,
                ),
            ])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "it's|-C target-feature=+crt-static|build|-ldflags=-s -w -X main.v=1|"
        );
    }
}
