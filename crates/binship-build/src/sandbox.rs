//! A runner of binship's own for an unpacked image root, so an image can be tested as it will
//! run without a container daemon: [`Sandbox::command`] starts a program of the image in new
//! mount and PID namespaces (under a minimal init, as `docker run --init`), chrooted into the root made
//! read-only, with `/proc` and the usual `/dev` nodes, in the image's working directory, as the
//! image's user (supplementary groups cleared), with the capability bounding set cut to what
//! the image declares. The network namespace is the caller's, so a test probes 127.0.0.1.
//!
//! Linux only, and it needs root (CAP_SYS_ADMIN for the namespaces and mounts).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};

/// The `/dev` nodes a container gets, bind-mounted from the host (docker's default set, less
/// the terminal ones).
pub const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom"];

/// `CAP_NET_BIND_SERVICE`'s number (linux/capability.h).
pub const CAP_NET_BIND_SERVICE: u32 = 10;

/// How a program of an unpacked image is started.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// The unpacked root filesystem (owned by the caller, who removes it).
    pub root: PathBuf,
    /// The working directory inside the root (absolute).
    pub workdir: String,
    pub uid: u32,
    pub gid: u32,
    /// Capabilities left in the bounding set (numbers, e.g. [`CAP_NET_BIND_SERVICE`]); every
    /// other one is dropped, as `--cap-drop ALL --cap-add ...` does.
    pub keep_caps: Vec<u32>,
    /// The image's volumes (absolute paths): each gets a writable tmpfs owned by `uid:gid`, as
    /// an engine mounts a fresh volume there over a read-only root.
    pub volumes: Vec<String>,
}

/// Everything `enter` needs, made before the fork (no allocation after it).
struct Prepared {
    root: CString,
    proc_dir: Option<CString>,
    devices: Vec<(CString, CString)>,
    workdir: CString,
    uid: u32,
    gid: u32,
    keep_caps: Vec<u32>,
    /// binship's pid: the spawned process dies with it.
    parent: libc::pid_t,
    /// (mount point, tmpfs options) of each volume.
    volumes: Vec<(CString, CString)>,
}

/// The inner process's pid, for the outer one's signal forwarding (one per forked child).
static INNER: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = INNER.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a path"))
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl Sandbox {
    /// Readies the root for [`Sandbox::command`]: creates the working directory and the
    /// `/dev` files the host's nodes are mounted on (as an engine does; the image's own root
    /// is never changed, only this unpacked copy).
    ///
    /// # Errors
    /// I/O errors creating them.
    pub fn prepare(&self) -> io::Result<()> {
        let dev = self.root.join("dev");
        if dev.symlink_metadata().is_err() {
            std::fs::create_dir_all(&dev)?;
        }
        if dev.is_dir() && !dev.is_symlink() {
            for d in DEVICES {
                let p = dev.join(d);
                if p.symlink_metadata().is_err() {
                    std::fs::write(&p, b"")?;
                }
            }
        }
        for v in &self.volumes {
            let d = self.root.join(v.trim_start_matches('/'));
            if d.symlink_metadata().is_err() {
                std::fs::create_dir_all(&d)?;
            }
        }
        let wd = self.root.join(self.workdir.trim_start_matches('/'));
        if wd.symlink_metadata().is_err() {
            std::fs::create_dir_all(&wd)?;
        }
        Ok(())
    }

    /// A command that runs `program` (a path inside the root) with a clean environment of
    /// `env` (docker's default `PATH` when it has none). The spawned process waits for the
    /// program (PID 2 in the new PID namespace, under a minimal init, as `docker run --init`
    /// runs it), forwards SIGTERM, SIGINT and SIGHUP to it and exits with its status (128 +
    /// signal when killed); killing its process group kills all three, and so does binship's
    /// death.
    ///
    /// # Errors
    /// A path with a NUL byte.
    pub fn command(&self, program: &str, env: &[(String, String)]) -> io::Result<Command> {
        use std::os::unix::process::CommandExt;
        let p = Prepared {
            root: cstr(&self.root)?,
            proc_dir: self
                .root
                .join("proc")
                .is_dir()
                .then(|| cstr(&self.root.join("proc")))
                .transpose()?,
            devices: DEVICES
                .iter()
                .map(|d| {
                    let target = self.root.join("dev").join(d);
                    Ok((cstr(&Path::new("/dev").join(d))?, cstr(&target)?))
                })
                .filter(|r: &io::Result<(CString, CString)>| {
                    r.as_ref().map_or(true, |(_, t)| {
                        Path::new(std::ffi::OsStr::from_bytes(t.as_bytes())).is_file()
                    })
                })
                .collect::<io::Result<_>>()?,
            workdir: CString::new(self.workdir.as_bytes())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in workdir"))?,
            uid: self.uid,
            gid: self.gid,
            keep_caps: self.keep_caps.clone(),
            parent: std::process::id() as libc::pid_t,
            volumes: self
                .volumes
                .iter()
                .map(|v| {
                    let opts = format!("mode=0755,uid={},gid={}", self.uid, self.gid);
                    Ok((
                        cstr(&self.root.join(v.trim_start_matches('/')))?,
                        CString::new(opts).expect("no NUL"),
                    ))
                })
                .collect::<io::Result<_>>()?,
        };
        let mut c = Command::new(program);
        c.env_clear();
        if !env.iter().any(|(k, _)| k == "PATH") {
            c.env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            );
        }
        c.envs(env.iter().map(|(k, v)| (k, v)));
        // SAFETY: `enter` makes only async-signal-safe calls (raw syscalls through libc) and
        // allocates nothing: everything it needs was made above.
        unsafe {
            c.pre_exec(move || enter(&p));
        }
        Ok(c)
    }
}

/// Waits for `child`, forwarding SIGTERM, SIGINT and SIGHUP to it, and exits with its status
/// (128 + signal when it was killed). Every descriptor above stderr is closed first, above
/// all the spawner's exec-status pipe, which must close once the program has exec'd.
///
/// # Safety
/// Only in a forked child: it never returns.
unsafe fn wait_and_exit(child: libc::pid_t) -> ! {
    if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) != 0 {
        for fd in 3..4096 {
            libc::close(fd);
        }
    }
    INNER.store(child, Ordering::Relaxed);
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        libc::signal(
            sig,
            forward as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
    let mut status = 0;
    loop {
        let r = libc::waitpid(child, &mut status, 0);
        if r == child {
            break;
        }
        if r < 0 && *libc::__errno_location() != libc::EINTR {
            libc::_exit(127);
        }
    }
    if libc::WIFEXITED(status) {
        libc::_exit(libc::WEXITSTATUS(status));
    }
    libc::_exit(128 + libc::WTERMSIG(status))
}

/// In the forked child, before exec. Three processes, so nothing outlives binship: the
/// spawned one (dies with binship: PR_SET_PDEATHSIG) unshares the namespaces and forks the
/// namespace's init (PID 1, dies with it), which makes the mounts and forks the program (PID
/// 2, as under `docker run --init`); when the init dies the kernel kills everything in the
/// namespace, even a program whose exec of a file capability dropped its own death signal.
/// Signals to the spawned process are forwarded down; exit statuses come back up.
fn enter(p: &Prepared) -> io::Result<()> {
    // SAFETY: plain syscalls on valid, NUL-terminated strings made before the fork.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != p.parent {
            libc::_exit(1);
        }
        check(libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWPID))?;
        let init = libc::fork();
        check(init)?;
        if init > 0 {
            wait_and_exit(init);
        }
        // PID 1 of the new namespace: never changes credentials, so its death signal holds.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        let none = std::ptr::null();
        check(libc::mount(
            none,
            c"/".as_ptr(),
            none,
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ))?;
        check(libc::mount(
            p.root.as_ptr(),
            p.root.as_ptr(),
            none,
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null(),
        ))?;
        for (host, target) in &p.devices {
            check(libc::mount(
                host.as_ptr(),
                target.as_ptr(),
                none,
                libc::MS_BIND,
                std::ptr::null(),
            ))?;
        }
        if let Some(proc_dir) = &p.proc_dir {
            check(libc::mount(
                c"proc".as_ptr(),
                proc_dir.as_ptr(),
                c"proc".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                std::ptr::null(),
            ))?;
        }
        check(libc::mount(
            none,
            p.root.as_ptr(),
            none,
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY,
            std::ptr::null(),
        ))?;
        for (target, opts) in &p.volumes {
            check(libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                opts.as_ptr() as *const libc::c_void,
            ))?;
        }
        let program = libc::fork();
        check(program)?;
        if program > 0 {
            wait_and_exit(program);
        }
        check(libc::chroot(p.root.as_ptr()))?;
        check(libc::chdir(p.workdir.as_ptr()))?;
        // The bounding set: only the declared capabilities (ends at the kernel's last one).
        for cap in 0..64u32 {
            if !p.keep_caps.contains(&cap)
                && libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) < 0
            {
                if *libc::__errno_location() == libc::EINVAL {
                    break;
                }
                return Err(io::Error::last_os_error());
            }
        }
        check(libc::setgroups(0, std::ptr::null()))?;
        check(libc::setgid(p.gid))?;
        check(libc::setuid(p.uid))?;
    }
    Ok(())
}
