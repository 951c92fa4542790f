//! The versioned store: [`Store`] keeps tested binaries as
//! `images/standalone-binaries/<app>/<app>-binary-v.<N>/` (binary, `README.md`,
//! `test-results.json`, logs), admits new versions atomically under a per-app lock, and keeps
//! its own files (temp dirs, failed builds, locks, caches) under `.binship/`.

pub mod lifecycle;
pub mod readme;
pub mod record;

use std::fs::File;
use std::path::{Path, PathBuf};

pub use record::{BinaryRecord, GitRecord, TestResults, SCHEMA_VERSION};

/// The store's directory, relative to a project root.
pub const STORE_DIR: &str = "images/standalone-binaries";
/// binship's own directory inside the store.
pub const INTERNAL_DIR: &str = ".binship";

/// Typed errors of the store; each names the path involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    BadRecord { path: PathBuf, message: String },
    #[error("{app} v.{version} already exists at {path}")]
    Exists {
        app: String,
        version: u32,
        path: PathBuf,
    },
}

fn io(context: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io {
        context,
        path,
        source,
    }
}

/// The store rooted at an `images/standalone-binaries` directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// Held while one app's versions are being changed; released on drop.
#[derive(Debug)]
pub struct AppLock {
    _file: File,
    app: String,
}

impl AppLock {
    /// The app this lock is held for.
    pub fn app(&self) -> &str {
        &self.app
    }
}

/// A temp dir under `.binship/tmp/` where a version is assembled; removed on drop unless
/// admitted or kept.
#[derive(Debug)]
pub struct Staging {
    path: PathBuf,
    done: bool,
}

impl Staging {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

impl Store {
    /// The store for `cwd`: `override_dir` (BINSHIP_STORE) if given, else the nearest ancestor
    /// of `cwd` holding `images/standalone-binaries/`, else `cwd/images/standalone-binaries`.
    pub fn discover(cwd: &Path, override_dir: Option<PathBuf>) -> Store {
        if let Some(dir) = override_dir {
            let root = if dir.is_absolute() {
                dir
            } else {
                cwd.join(dir)
            };
            return Store { root };
        }
        for anc in cwd.ancestors() {
            let candidate = anc.join(STORE_DIR);
            if candidate.is_dir() {
                return Store { root: candidate };
            }
            // Inside the store itself (e.g. running ./build.sh in <app>/).
            if anc.ends_with(STORE_DIR) {
                return Store {
                    root: anc.to_path_buf(),
                };
            }
        }
        Store {
            root: cwd.join(STORE_DIR),
        }
    }

    /// A store at exactly `root`.
    pub fn at(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates the store (with its `.gitignore`) and `.binship/` if missing.
    pub fn ensure(&self) -> Result<(), StoreError> {
        for sub in ["tmp", "failed", "locks", "cache"] {
            let d = self.internal().join(sub);
            std::fs::create_dir_all(&d).map_err(io("creating", &d))?;
        }
        let gi = self.root.join(".gitignore");
        if !gi.exists() {
            std::fs::write(&gi, GITIGNORE).map_err(io("writing", &gi))?;
        }
        Ok(())
    }

    fn internal(&self) -> PathBuf {
        self.root.join(INTERNAL_DIR)
    }

    pub fn app_dir(&self, app: &str) -> PathBuf {
        self.root.join(app)
    }

    pub fn recipe_path(&self, app: &str) -> PathBuf {
        self.app_dir(app).join("binship.toml")
    }

    pub fn version_dir(&self, app: &str, version: u32) -> PathBuf {
        self.app_dir(app).join(version_dir_name(app, version))
    }

    /// A per-app cache dir (e.g. cargo's target dir), kept between builds.
    pub fn cache_dir(&self, app: &str) -> PathBuf {
        self.internal().join("cache").join(app)
    }

    /// The app's versions, ascending.
    pub fn versions(&self, app: &str) -> Result<Vec<u32>, StoreError> {
        let dir = self.app_dir(app);
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(io("reading", &dir)(e)),
        };
        let mut out: Vec<u32> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .filter_map(|e| parse_version_dir(app, &e.file_name().to_string_lossy()))
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    /// What to tell a user who named `app` and it has no binary: build it when the store knows
    /// the app (a recipe), else that the store has no such app, where it looked, the apps it
    /// knows with the closest name ("did you mean"), and `--store`.
    pub fn no_binary_message(&self, app: &str) -> String {
        if self.recipe_path(app).is_file() {
            return format!("No binary found for {app}. Build one first: binship build {app}");
        }
        let apps = self.apps().unwrap_or_default();
        let known = if apps.is_empty() {
            "it holds no apps".to_string()
        } else {
            format!("known apps: {}", apps.join(", "))
        };
        let close = apps
            .iter()
            .map(|a| (strsim::jaro_winkler(app, a), a))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|x, y| x.0.total_cmp(&y.0))
            .map(|(_, a)| format!("; did you mean `{a}`?"))
            .unwrap_or_default();
        format!(
            "no app `{app}` in {} ({known}{close}); run binship from your project, or pass --store DIR (or set BINSHIP_STORE); binship init {app} creates one",
            display_path(&self.root).display()
        )
    }

    /// Apps in the store: directories holding a recipe or at least one version.
    pub fn apps(&self) -> Result<Vec<String>, StoreError> {
        let rd = match std::fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(io("reading", &self.root)(e)),
        };
        let mut apps = Vec::new();
        for e in rd.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !e.path().is_dir() {
                continue;
            }
            if self.recipe_path(&name).is_file() || !self.versions(&name)?.is_empty() {
                apps.push(name);
            }
        }
        apps.sort();
        Ok(apps)
    }

    /// Reads a version's test-results.json.
    pub fn record(&self, app: &str, version: u32) -> Result<TestResults, StoreError> {
        let path = self.version_dir(app, version).join("test-results.json");
        let text = std::fs::read_to_string(&path).map_err(io("reading", &path))?;
        serde_json::from_str(&text).map_err(|e| StoreError::BadRecord {
            path,
            message: e.to_string(),
        })
    }

    /// Takes the app's lock, waiting for another build of the same app; `on_wait` is called
    /// once if it has to wait.
    pub fn lock(&self, app: &str, on_wait: impl FnOnce()) -> Result<AppLock, StoreError> {
        self.ensure()?;
        let path = self.internal().join("locks").join(format!("{app}.lock"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io("opening lock", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                on_wait();
                file.lock().map_err(io("locking", &path))?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io("locking", &path)(e)),
        }
        Ok(AppLock {
            _file: file,
            app: app.into(),
        })
    }

    /// Removes temp dirs that killed binship processes left behind in `.binship/tmp` (named
    /// `<app>@<pid>-...`, `push@<pid>-...`, `<app>@bench-<pid>-...`): only those whose process
    /// is gone, so a running build, push or bench keeps its own.
    pub fn recover(&self, _lock: &AppLock) -> Result<usize, StoreError> {
        self.sweep_tmp()
    }

    /// As [`Store::recover`], without a lock (it only removes what dead processes left).
    pub fn sweep_tmp(&self) -> Result<usize, StoreError> {
        let tmp = self.internal().join("tmp");
        let mut n = 0;
        for e in std::fs::read_dir(&tmp)
            .map_err(io("reading", &tmp))?
            .filter_map(|e| e.ok())
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if owner_pid(&name).is_some_and(|pid| !pid_alive(pid)) {
                let _ = std::fs::remove_dir_all(e.path());
                let _ = std::fs::remove_file(e.path());
                n += 1;
            }
        }
        Ok(n)
    }

    /// A fresh staging dir for a version of `lock`'s app.
    pub fn stage(&self, lock: &AppLock) -> Result<Staging, StoreError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = self.internal().join("tmp").join(format!(
            "{}@{}-{nanos}",
            lock.app,
            std::process::id()
        ));
        std::fs::create_dir_all(&path).map_err(io("creating", &path))?;
        Ok(Staging { path, done: false })
    }

    /// Writes `record` (test-results.json) and README.md into `staging`, fsyncs everything and
    /// renames it into place as v.`record.version`. With `replace`, an existing version is
    /// swapped out atomically and removed; without it, an existing version is an error.
    pub fn admit(
        &self,
        lock: &AppLock,
        staging: Staging,
        record: &TestResults,
        replace: bool,
    ) -> Result<PathBuf, StoreError> {
        let dir = staging.path.clone();
        let json = serde_json::to_string_pretty(record).expect("record serializes") + "\n";
        write_file(&dir.join("test-results.json"), json.as_bytes())?;
        write_file(&dir.join("README.md"), readme::render(record).as_bytes())?;
        self.admit_as_is(lock, staging, record.version, replace)
    }

    /// Fsyncs `staging` as it is (a version whose record is already there, e.g. pulled from a
    /// registry) and renames it into place as v.`version`; `replace` as for [`Store::admit`].
    pub fn admit_as_is(
        &self,
        lock: &AppLock,
        mut staging: Staging,
        version: u32,
        replace: bool,
    ) -> Result<PathBuf, StoreError> {
        let dir = staging.path.clone();
        sync_tree(&dir)?;
        let app_dir = self.app_dir(&lock.app);
        std::fs::create_dir_all(&app_dir).map_err(io("creating", &app_dir))?;
        let dest = self.version_dir(&lock.app, version);
        if dest.exists() {
            if !replace {
                return Err(StoreError::Exists {
                    app: lock.app.clone(),
                    version,
                    path: dest,
                });
            }
            exchange(&dir, &dest)?;
            // `dir` now holds the old version.
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            std::fs::rename(&dir, &dest).map_err(io("moving version into", &dest))?;
        }
        staging.done = true;
        sync_dir(&app_dir)?;
        Ok(dest)
    }

    /// Moves a failed build's staging dir (with its record, when there is one) to
    /// `.binship/failed/` for debugging; returns its path.
    pub fn keep_failed(
        &self,
        lock: &AppLock,
        mut staging: Staging,
        version: u32,
        record: Option<&TestResults>,
    ) -> Result<PathBuf, StoreError> {
        if let Some(r) = record {
            let json = serde_json::to_string_pretty(r).expect("record serializes") + "\n";
            write_file(&staging.path.join("test-results.json"), json.as_bytes())?;
        }
        let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let dest = self.internal().join("failed").join(format!(
            "{}-v.{version}-{stamp}-{}",
            lock.app,
            std::process::id()
        ));
        std::fs::rename(&staging.path, &dest).map_err(io("keeping failed build in", &dest))?;
        staging.done = true;
        Ok(dest)
    }
}

/// One recorded publication of a version (a push), kept in the version dir's
/// `publications.json` sidecar (the version's core stays as built).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Publication {
    pub reference: String,
    pub digest: String,
    pub at: String,
    /// "image" (binship push) or "binary" (binship push-binary).
    #[serde(default = "image_kind")]
    pub kind: String,
}

fn image_kind() -> String {
    "image".into()
}

impl Store {
    /// The publications recorded for a version.
    pub fn publications(&self, app: &str, version: u32) -> Vec<Publication> {
        std::fs::read(self.version_dir(app, version).join("publications.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Records a publication (same reference: replaced), written to a temp file and renamed.
    pub fn record_publication(
        &self,
        lock: &AppLock,
        version: u32,
        p: Publication,
    ) -> Result<(), StoreError> {
        let mut all = self.publications(&lock.app, version);
        all.retain(|x| x.reference != p.reference);
        all.push(p);
        let path = self
            .version_dir(&lock.app, version)
            .join("publications.json");
        let tmp = path.with_extension(format!("json.tmp.{}", std::process::id()));
        let json = serde_json::to_string_pretty(&all).expect("json") + "\n";
        std::fs::write(&tmp, json).map_err(io("writing", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io("writing", &path))
    }
}

/// `<app>-binary-v.<N>`
pub fn version_dir_name(app: &str, version: u32) -> String {
    format!("{app}-binary-v.{version}")
}

/// The version of a dir named `<app>-binary-v.<N>` (N a positive integer without leading zeros).
pub fn parse_version_dir(app: &str, name: &str) -> Option<u32> {
    let n = name.strip_prefix(app)?.strip_prefix("-binary-v.")?;
    let v: u32 = n.parse().ok()?;
    (v > 0 && v.to_string() == n).then_some(v)
}

const GITIGNORE: &str = "# Written by binship: recipes and build.sh are committed; built versions and binship's own files are not.\n.binship/\n*/*-binary-v.*/\n*/current\n*/history.jsonl\n";

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    std::fs::write(path, bytes).map_err(io("writing", path))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io("syncing", dir))
}

/// Atomically swaps two paths (renameat2 RENAME_EXCHANGE).
fn exchange(a: &Path, b: &Path) -> Result<(), StoreError> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let ca = CString::new(a.as_os_str().as_bytes()).expect("no NUL in path");
    let cb = CString::new(b.as_os_str().as_bytes()).expect("no NUL in path");
    // SAFETY: both are valid NUL-terminated paths; renameat2 touches no memory of ours.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io("replacing", b)(std::io::Error::last_os_error()))
    }
}

/// Fsyncs the files under `dir` (one level of platform subdirs deep) and the dirs.
fn sync_tree(dir: &Path) -> Result<(), StoreError> {
    for e in std::fs::read_dir(dir)
        .map_err(io("reading", dir))?
        .filter_map(|e| e.ok())
    {
        let p = e.path();
        let t = e.file_type().map_err(io("reading", &p))?;
        if t.is_file() {
            File::open(&p)
                .and_then(|f| f.sync_all())
                .map_err(io("syncing", &p))?;
        } else if t.is_dir() {
            sync_tree(&p)?;
        }
    }
    sync_dir(dir)
}

/// The pid in a temp name: the first run of digits after `@`.
pub fn owner_pid(name: &str) -> Option<i32> {
    let after = name.split_once('@')?.1;
    let digits: String = after
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// Whether a process with this pid exists.
pub fn pid_alive(pid: i32) -> bool {
    // Signal 0 checks existence; EPERM means it exists but is not ours.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// `path` relative to the working directory when it lies below it (how messages name paths).
pub fn display_path(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(&cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_dir_names_round_trip() {
        assert_eq!(
            parse_version_dir("go-id", &version_dir_name("go-id", 12)),
            Some(12)
        );
        for bad in [
            "go-id-binary-v.0",
            "go-id-binary-v.01",
            "go-id-binary-v.x",
            "go-id-binary-v.",
            "go-idx-binary-v.1",
        ] {
            assert_eq!(parse_version_dir("go-id", bad), None, "{bad}");
        }
    }

    #[test]
    fn discover_prefers_override_then_ancestor() {
        let d = tempfile::tempdir().unwrap();
        let deep = d.path().join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(Store::discover(&deep, None).root(), deep.join(STORE_DIR));
        std::fs::create_dir_all(d.path().join(STORE_DIR).join("go-id")).unwrap();
        assert_eq!(
            Store::discover(&deep, None).root(),
            d.path().join(STORE_DIR)
        );
        let inside = d.path().join(STORE_DIR).join("go-id");
        assert_eq!(
            Store::discover(&inside, None).root(),
            d.path().join(STORE_DIR)
        );
        assert_eq!(
            Store::discover(&deep, Some("/x/y".into())).root(),
            Path::new("/x/y")
        );
    }

    #[test]
    fn staging_is_removed_on_drop_and_recovered_after_a_crash() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::at(d.path().join("store"));
        let lock = s.lock("app", || {}).unwrap();
        let st = s.stage(&lock).unwrap();
        let p = st.path().to_path_buf();
        assert!(p.is_dir());
        drop(st);
        assert!(!p.exists());
        // A staging dir of a process that died (as after kill -9) is recovered; a live one's
        // (this process's) is left alone.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let leaked = d.path().join(format!("store/.binship/tmp/app@{dead}-1"));
        std::fs::create_dir_all(&leaked).unwrap();
        let st = s.stage(&lock).unwrap();
        let live = st.path().to_path_buf();
        assert_eq!(s.recover(&lock).unwrap(), 1);
        assert!(!leaked.exists());
        assert!(live.exists());
    }

    #[test]
    fn a_second_lock_waits() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::at(d.path());
        let held = s.lock("app", || {}).unwrap();
        let s2 = s.clone();
        let waited = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let w = waited.clone();
        let t = std::thread::spawn(move || {
            let _l = s2
                .lock("app", || w.store(true, std::sync::atomic::Ordering::SeqCst))
                .unwrap();
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        drop(held);
        t.join().unwrap();
        assert!(waited.load(std::sync::atomic::Ordering::SeqCst));
    }
}
