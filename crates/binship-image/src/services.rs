//! Service files for system containers: [`ServiceSpec`] renders an OpenRC init script, a
//! systemd unit or a supervisor program (plus `/etc/<app>/<app>.env`) and adds them to a
//! [`Rootfs`]. Every value is quoted for the format that reads it, so env values with quotes,
//! `$`, `%` or newlines arrive as written.

use crate::error::BadSetting;
use crate::{Entry, EntryKind, ImageError, Rootfs};

/// Which service manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    OpenRc,
    Systemd,
    Supervisor,
    None,
}

impl Manager {
    /// Parses openrc, systemd, supervisor or none.
    ///
    /// # Errors
    /// [`BadSetting`] for anything else.
    pub fn parse(s: &str) -> Result<Manager, BadSetting> {
        match s {
            "openrc" => Ok(Manager::OpenRc),
            "systemd" => Ok(Manager::Systemd),
            "supervisor" => Ok(Manager::Supervisor),
            "none" => Ok(Manager::None),
            other => Err(BadSetting(format!(
                "unknown service manager `{other}` (expected openrc, systemd, supervisor or none)"
            ))),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Manager::OpenRc => "openrc",
            Manager::Systemd => "systemd",
            Manager::Supervisor => "supervisor",
            Manager::None => "none",
        }
    }
    /// The default for a distro: Alpine -> OpenRC, Debian/Ubuntu -> systemd, else none.
    pub fn for_distro(id: &str) -> Manager {
        match id {
            "alpine" => Manager::OpenRc,
            "debian" | "ubuntu" => Manager::Systemd,
            _ => Manager::None,
        }
    }
    /// Paths (any one of each group) the base must hold for this manager to run.
    pub fn needs(self) -> &'static [&'static [&'static str]] {
        match self {
            Manager::OpenRc => &[
                &["sbin/openrc-run", "usr/sbin/openrc-run"],
                &["sbin/supervise-daemon", "usr/sbin/supervise-daemon"],
            ],
            Manager::Systemd => &[&["lib/systemd/systemd", "usr/lib/systemd/systemd"]],
            Manager::Supervisor => &[&["usr/bin/supervisord", "usr/local/bin/supervisord"]],
            Manager::None => &[],
        }
    }
}

/// The systemd unit's hardening. Each one was checked on a Debian 12 systemd (252) booted in an
/// unprivileged LXD container, a privileged LXC/Incus one and docker with only SYS_ADMIN added:
/// the service stays active and answers. Left out because they break ordinary services:
/// PrivateDevices (no /dev/net/tun, disks), MemoryDenyWriteExecute (JITs),
/// RestrictAddressFamilies (netlink for interface lists), SystemCallFilter (unknown syscall needs),
/// an empty CapabilityBoundingSet (a user granting CAP_NET_BIND_SERVICE).
pub const SYSTEMD_HARDENING: &[&str] = &[
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "RestrictNamespaces=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "SystemCallArchitectures=native",
];

/// The capability a non-root service needs to bind a port below 1024 (capabilities(7)).
pub const CAP_NET_BIND_SERVICE: &str = "CAP_NET_BIND_SERVICE";

/// The `security.capability` extended attribute that grants a binary CAP_NET_BIND_SERVICE
/// (bit 10) on exec, permitted and effective: `struct vfs_cap_data` of revision 2
/// (linux/capability.h; capabilities(7), "File capability extended attribute versioning"),
/// little-endian: `magic_etc` = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE, then permitted
/// and inheritable words for capabilities 0-31 and 32-63. `setcap cap_net_bind_service=+ep`
/// writes the same 20 bytes. An engine that drops the capability from the bounding set
/// (`--cap-drop ALL` without `--cap-add NET_BIND_SERVICE`) then refuses to exec the binary.
pub const NET_BIND_SERVICE_FILE_CAP: [u8; 20] = [
    0x01, 0x00, 0x00, 0x02, // magic_etc
    0x00, 0x04, 0x00, 0x00, // permitted 0-31: 1 << 10
    0x00, 0x00, 0x00, 0x00, // inheritable 0-31
    0x00, 0x00, 0x00, 0x00, // permitted 32-63
    0x00, 0x00, 0x00, 0x00, // inheritable 32-63
];

/// Restart policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    No,
    OnFailure,
    Always,
}

impl Restart {
    /// Parses no, on-failure or always.
    ///
    /// # Errors
    /// [`BadSetting`] for anything else.
    pub fn parse(s: &str) -> Result<Restart, BadSetting> {
        match s {
            "no" => Ok(Restart::No),
            "on-failure" => Ok(Restart::OnFailure),
            "always" => Ok(Restart::Always),
            other => Err(BadSetting(format!(
                "unknown restart policy `{other}` (expected no, on-failure or always)"
            ))),
        }
    }
}

/// What the service runs.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub app: String,
    pub description: String,
    /// Absolute path of the binary.
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// User and group names (or numeric ids) to run as.
    pub user: String,
    pub group: String,
    pub gid: u64,
    pub restart: Restart,
    /// OpenRC: the base provides `net` (Alpine's networking), so the service can `need net`;
    /// otherwise it only `use`s it (Debian's OpenRC has no net provider by default).
    pub net_provider: bool,
    /// Capabilities the service needs as its non-root user (`CAP_NET_BIND_SERVICE` for a port
    /// below 1024). systemd grants exactly these: `AmbientCapabilities=` and a
    /// `CapabilityBoundingSet=` of these alone (systemd.exec(5), "Capabilities").
    pub capabilities: Vec<String>,
    /// The directory the service starts in (absolute; the recipe's `container.workdir`), or
    /// the manager's default (`/`) when None: systemd `WorkingDirectory=`, OpenRC `directory`,
    /// supervisor `directory=`.
    pub workdir: Option<String>,
}

/// `'...'` for sh: everything literal, `'` as `'\''` (newlines kept).
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A value of the env file, read both by sh (`. file`) and systemd (`EnvironmentFile=`):
/// double-quoted, with `\\`, `"`, `$` and `` ` `` backslash-escaped, newlines literal (both
/// parsers keep them inside double quotes; systemd mangles sh's `'\''`).
pub fn env_file_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A systemd command-line word: double-quoted with C escapes, `%` as `%%`, `$` as `$$`.
pub fn systemd_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A value of supervisor's `environment=`: its parser is shlex in non-POSIX mode (no escapes;
/// a quoted token runs to the same quote; outer quotes stripped), so the value is wrapped in
/// whichever quote it does not contain. `%` becomes `%%`, a newline an ini continuation line.
/// `None` when supervisor cannot carry the value (see [`ServiceSpec::check_supervisor`]).
pub fn supervisor_env_quote(s: &str) -> Option<String> {
    let q = if !s.contains('"') {
        '"'
    } else if !s.contains('\'') {
        '\''
    } else {
        return None;
    };
    if s.starts_with(['"', '\'']) || s.ends_with(['"', '\'']) {
        return None;
    }
    let body = s.replace('%', "%%").replace('\n', "\n\t");
    Some(format!("{q}{body}{q}"))
}

/// A word of supervisor's `command=` (split POSIX-shlex style): double-quoted with `\"` and
/// `\\` escapes, `%` as `%%`; a newline becomes an ini continuation line.
pub fn supervisor_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '%' => out.push_str("%%"),
            '\n' => out.push_str("\n\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn valid_env_name(k: &str) -> bool {
    !k.is_empty()
        && !k.starts_with(|c: char| c.is_ascii_digit())
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl ServiceSpec {
    /// Env names must be shell variable names and values free of NUL.
    ///
    /// # Errors
    /// [`BadSetting`] naming the variable.
    pub fn check(&self) -> Result<(), BadSetting> {
        if let Some((k, _)) = self.env.iter().find(|(k, _)| !valid_env_name(k)) {
            return Err(BadSetting(format!(
                "env name `{k}` is not a valid variable name (A-Z, a-z, 0-9, _)"
            )));
        }
        if let Some((k, _)) = self.env.iter().find(|(_, v)| v.contains('\0')) {
            return Err(BadSetting(format!("env {k} contains a NUL byte")));
        }
        // Written as is into every manager's file: a plain absolute path.
        if let Some(w) = &self.workdir {
            let plain = w.starts_with('/')
                && w.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+' | '@')
                });
            if !plain {
                return Err(BadSetting(format!(
                    "workdir `{w}`: a service's working directory must be an absolute path of letters, digits and / . _ - + @"
                )));
            }
        }
        Ok(())
    }

    /// What supervisor's ini format cannot carry: a line after a newline that is empty or
    /// begins with white space (its continuation lines lose both).
    ///
    /// # Errors
    /// [`BadSetting`] naming the variable.
    pub fn check_supervisor(&self) -> Result<(), BadSetting> {
        for (k, v) in &self.env {
            if supervisor_env_quote(v).is_none() {
                return Err(BadSetting(format!(
                    "env {k}: supervisor's environment= cannot carry a value with both ' and \" or that begins or ends with a quote; use --service openrc or systemd"
                )));
            }
            if v.split('\n')
                .skip(1)
                .any(|l| l.is_empty() || l.starts_with(char::is_whitespace))
            {
                return Err(BadSetting(format!(
                    "env {k}: supervisor cannot carry an empty line or one that begins with white space after a newline; use --service openrc or systemd"
                )));
            }
        }
        Ok(())
    }

    /// `/etc/<app>/<app>.env`: `KEY="value"` lines, read by sh (`set -a; . file`, OpenRC) and by systemd's EnvironmentFile=.
    pub fn env_file(&self) -> String {
        let mut s = format!(
            "# Environment of {}, written by binship: read by sh and systemd, keep the quoting.\n",
            self.app
        );
        for (k, v) in &self.env {
            s.push_str(&format!("{k}={}\n", env_file_quote(v)));
        }
        s
    }

    pub fn env_path(&self) -> String {
        format!("/etc/{a}/{a}.env", a = self.app)
    }

    pub fn openrc(&self) -> String {
        let args = self
            .args
            .iter()
            .map(|a| sh_quote(a))
            .collect::<Vec<_>>()
            .join(" ");
        let respawn = match self.restart {
            Restart::No => "respawn_max=1\nrespawn_period=1\n",
            _ => "respawn_delay=2\nrespawn_max=0\n",
        };
        format!(
            "#!/sbin/openrc-run\n# {desc} (written by binship)\n\nname={name}\ndescription={desc_q}\nsupervisor=supervise-daemon\ncommand={cmd}\ncommand_args={args}\ncommand_user={user}\n{dir}pidfile=\"/run/${{RC_SVCNAME}}.pid\"\n{respawn}\n# The service's environment, read at start.\nif [ -r {env} ]; then\n\tset -a\n\t. {env}\n\tset +a\nfi\n\ndepend() {{\n\t{net} net\n\tafter firewall\n}}\n",
            net = if self.net_provider { "need" } else { "use" },
            desc = self.description.replace('\n', " "),
            name = sh_quote(&self.app),
            desc_q = sh_quote(&self.description),
            cmd = sh_quote(&self.command),
            args = sh_quote(&args),
            user = sh_quote(&format!("{}:{}", self.user, self.group)),
            env = sh_quote(&self.env_path()),
            dir = self
                .workdir
                .as_ref()
                .map(|w| format!("directory={w}\n"))
                .unwrap_or_default(),
        )
    }

    pub fn systemd(&self) -> String {
        let exec = std::iter::once(&self.command)
            .chain(&self.args)
            .map(|a| systemd_quote(a))
            .collect::<Vec<_>>()
            .join(" ");
        let restart = match self.restart {
            Restart::No => "no",
            Restart::OnFailure => "on-failure",
            Restart::Always => "always",
        };
        let caps = if self.capabilities.is_empty() {
            String::new()
        } else {
            let c = self.capabilities.join(" ");
            format!("# Granted to the non-root user, and nothing else (a port below 1024).\nAmbientCapabilities={c}\nCapabilityBoundingSet={c}\n")
        };
        format!(
            "# {desc} (written by binship)\n[Unit]\nDescription={desc}\nAfter=network-online.target\nWants=network-online.target\n\n[Service]\nType=simple\nUser={user}\nGroup={group}\n{dir}EnvironmentFile=-{env}\nExecStart={exec}\nRestart={restart}\nRestartSec=2\nKillSignal=SIGTERM\nTimeoutStopSec=10\n{caps}{hardening}\n[Install]\nWantedBy=multi-user.target\n",
            desc = self.description.replace(['\n', '%'], " "),
            user = self.user,
            group = self.group,
            dir = self
                .workdir
                .as_ref()
                .map(|w| format!("WorkingDirectory={w}\n"))
                .unwrap_or_default(),
            env = self.env_path(),
            hardening = SYSTEMD_HARDENING.iter().fold(
                String::from("# Hardening, each option tested in privileged and unprivileged containers.\n"),
                |mut s, o| {
                    s.push_str(o);
                    s.push('\n');
                    s
                }
            ),
        )
    }

    pub fn supervisor(&self) -> String {
        let cmd = std::iter::once(&self.command)
            .chain(&self.args)
            .map(|a| supervisor_quote(a))
            .collect::<Vec<_>>()
            .join(" ");
        let env = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", supervisor_env_quote(v).unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(",");
        let autorestart = match self.restart {
            Restart::No => "false",
            Restart::OnFailure => "unexpected",
            Restart::Always => "true",
        };
        let mut s = format!(
            "; {desc} (written by binship). supervisor has no EnvironmentFile: the env is inline.\n[program:{app}]\ncommand={cmd}\nuser={user}\nautostart=true\nautorestart={autorestart}\nexitcodes=0\nstopsignal=TERM\nstopwaitsecs=10\nredirect_stderr=true\nstdout_logfile=/dev/fd/1\nstdout_logfile_maxbytes=0\n",
            desc = self.description.replace(['\n', ';'], " "),
            app = self.app,
            user = self.user,
        );
        if !env.is_empty() {
            s.push_str(&format!("environment={env}\n"));
        }
        if let Some(w) = &self.workdir {
            s.push_str(&format!("directory={w}\n"));
        }
        s
    }

    /// Adds the manager's files and the env file to `r`.
    pub fn install(&self, m: Manager, r: &mut Rootfs) -> Result<(), ImageError> {
        let a = &self.app;
        if m == Manager::None {
            return Ok(());
        }
        if m == Manager::Supervisor {
            self.check_supervisor().map_err(|e| ImageError::Invalid {
                what: format!("{a} service"),
                message: e.0,
            })?;
        }
        r.dir(&format!("etc/{a}"), 0o755, 0, 0)?;
        r.add(
            &self.env_path(),
            Entry::new(
                EntryKind::Bytes(self.env_file().into_bytes()),
                0o640,
                0,
                self.gid,
            ),
        )?;
        match m {
            Manager::OpenRc => {
                r.file(&format!("etc/init.d/{a}"), self.openrc(), 0o755)?;
                r.symlink(
                    &format!("etc/runlevels/default/{a}"),
                    &format!("/etc/init.d/{a}"),
                )?;
            }
            Manager::Systemd => {
                r.file(
                    &format!("etc/systemd/system/{a}.service"),
                    self.systemd(),
                    0o644,
                )?;
                r.symlink(
                    &format!("etc/systemd/system/multi-user.target.wants/{a}.service"),
                    &format!("/etc/systemd/system/{a}.service"),
                )?;
            }
            Manager::Supervisor => {
                r.file(
                    &format!("etc/supervisor/conf.d/{a}.conf"),
                    self.supervisor(),
                    0o644,
                )?;
            }
            Manager::None => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ServiceSpec {
        ServiceSpec {
            app: "go-id".into(),
            description: "go-id v.3 (binship)".into(),
            command: "/usr/local/bin/go-id".into(),
            args: vec!["--port".into(), "7001".into()],
            env: vec![
                ("PLAIN".into(), "x".into()),
                ("QUOTES".into(), "it's \"quoted\"".into()),
                ("DOLLAR".into(), "$HOME 100% `id`".into()),
                ("LINES".into(), "one\ntwo".into()),
            ],
            user: "go-id".into(),
            group: "go-id".into(),
            gid: 65532,
            restart: Restart::OnFailure,
            net_provider: true,
            capabilities: vec![],
            workdir: None,
        }
    }

    #[test]
    fn a_granted_capability_is_ambient_and_the_whole_bounding_set() {
        let plain = spec().systemd();
        assert!(!plain.contains("Capabilit"), "{plain}");
        let mut s = spec();
        s.capabilities = vec!["CAP_NET_BIND_SERVICE".into()];
        let unit = s.systemd();
        assert!(
            unit.contains("\nAmbientCapabilities=CAP_NET_BIND_SERVICE\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n"),
            "{unit}"
        );
        // The rest of the hardening stays.
        for h in SYSTEMD_HARDENING {
            assert!(unit.contains(&format!("\n{h}\n")), "{h} missing");
        }
    }

    #[test]
    fn the_env_file_round_trips_through_a_real_sh() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("go-id.env");
        let s = spec();
        std::fs::write(&f, s.env_file()).unwrap();
        for (k, v) in &s.env {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("set -a; . '{}'; printf '%s' \"${k}\"", f.display()))
                .env_clear()
                .output()
                .unwrap();
            assert!(out.status.success());
            assert_eq!(String::from_utf8_lossy(&out.stdout), *v, "{k}");
        }
    }

    #[test]
    fn the_openrc_script_parses_in_sh_and_sets_its_variables() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("init");
        std::fs::write(&f, spec().openrc()).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("depend() {{ :; }}; . '{}' 2>/dev/null; printf '%s|%s|%s' \"$command\" \"$command_args\" \"$command_user\"", f.display()))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "/usr/local/bin/go-id|'--port' '7001'|go-id:go-id"
        );
    }

    #[test]
    fn systemd_words_escape_specifiers_and_quotes() {
        assert_eq!(systemd_quote("a b"), "\"a b\"");
        assert_eq!(systemd_quote("100%"), "\"100%%\"");
        assert_eq!(systemd_quote("$X \"q\"\n"), "\"$$X \\\"q\\\"\\n\"");
        let unit = spec().systemd();
        assert!(
            unit.contains("ExecStart=\"/usr/local/bin/go-id\" \"--port\" \"7001\"\n"),
            "{unit}"
        );
        assert!(
            unit.contains("User=go-id\n")
                && unit.contains("EnvironmentFile=-/etc/go-id/go-id.env\n")
        );
        // Every hardening option on its own line of [Service], before [Install].
        let service = &unit[unit.find("[Service]").unwrap()..unit.find("[Install]").unwrap()];
        for o in SYSTEMD_HARDENING {
            assert!(service.contains(&format!("\n{o}\n")), "{o} missing: {unit}");
        }
    }

    #[test]
    fn the_workdir_is_where_every_manager_starts_the_service() {
        assert!(!spec().systemd().contains("WorkingDirectory"));
        let mut sp = spec();
        sp.workdir = Some("/srv/www".into());
        sp.check().unwrap();
        assert!(sp
            .systemd()
            .contains("Group=go-id\nWorkingDirectory=/srv/www\n"));
        assert!(sp.openrc().contains("\ndirectory=/srv/www\n"));
        assert!(sp.supervisor().contains("\ndirectory=/srv/www\n"));
        for bad in ["srv", "/srv/my www", "/srv/%h", "/srv/\"x\""] {
            sp.workdir = Some(bad.into());
            assert!(sp.check().unwrap_err().0.contains("workdir"), "{bad}");
        }
    }

    #[test]
    fn supervisor_env_is_inline_and_escaped() {
        let mut sp = spec();
        // Both quote kinds in one value: supervisor cannot carry it.
        assert!(sp.check_supervisor().unwrap_err().0.contains("env QUOTES"));
        sp.env.retain(|(k, _)| k != "QUOTES");
        sp.env.push(("SINGLE".into(), "it's".into()));
        sp.env.push(("DOUBLE".into(), "say \"hi\" now".into()));
        sp.check_supervisor().unwrap();
        let c = sp.supervisor();
        assert!(
            c.contains("environment=PLAIN=\"x\",DOLLAR=\"$HOME 100%% `id`\",LINES=\"one\n\ttwo\",SINGLE=\"it's\",DOUBLE='say \"hi\" now'\n"),
            "{c}"
        );
        assert!(c.contains(
            "[program:go-id]\ncommand=\"/usr/local/bin/go-id\" \"--port\" \"7001\"\nuser=go-id\n"
        ));
        assert_eq!(supervisor_env_quote("\"edge"), None);
    }

    #[test]
    fn bad_env_names_are_refused_and_defaults_follow_the_distro() {
        let mut s = spec();
        s.env.push(("BAD-NAME".into(), "x".into()));
        assert!(s.check().unwrap_err().0.contains("BAD-NAME"));
        assert_eq!(Manager::for_distro("alpine"), Manager::OpenRc);
        assert_eq!(Manager::for_distro("debian"), Manager::Systemd);
        assert_eq!(Manager::for_distro("other"), Manager::None);
        assert!(Manager::parse("upstart")
            .unwrap_err()
            .0
            .contains("unknown service manager `upstart`"));
    }

    #[test]
    fn install_writes_the_files_with_the_right_modes() {
        let mut r = Rootfs::new();
        spec().install(Manager::OpenRc, &mut r).unwrap();
        let env = r.get("etc/go-id/go-id.env").unwrap();
        assert_eq!((env.mode, env.uid, env.gid), (0o640, 0, 65532));
        assert_eq!(r.get("etc/init.d/go-id").unwrap().mode, 0o755);
        assert_eq!(
            r.get("etc/runlevels/default/go-id").unwrap().kind,
            EntryKind::Symlink("/etc/init.d/go-id".into())
        );
        let mut r = Rootfs::new();
        spec().install(Manager::Systemd, &mut r).unwrap();
        assert!(r
            .get("etc/systemd/system/multi-user.target.wants/go-id.service")
            .is_some());
    }
}
