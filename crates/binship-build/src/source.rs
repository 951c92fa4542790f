//! Source state: [`SourceState`] holds the git commit (with commit time and dirty flag) and a
//! content key of the source tree that changes whenever the source does, dirty edits included.
//!
//! In git, the key is the tree hash of the source dir at HEAD plus the content of every dirty,
//! untracked or ignored file (a compiler reads ignored files too: an ignored `extra.go` is
//! built); outside git, a hash of every file's path, mode and content. Both leave out the
//! directories in [`SKIP_DIRS`] (build output and other tools' caches).
//!
//! It also notes whether the source names `BINSHIP_VERSION` or `BINSHIP_COMMIT`, which every
//! builder sets: a build that reads them embeds the version number or commit, so the cache key
//! must hold them too.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::process::capture;
use crate::BuildError;

/// What the source looked like when a build started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceState {
    /// Full commit id of HEAD, when the source is in git.
    pub commit: Option<String>,
    /// Commit time (Unix seconds).
    pub commit_time: Option<i64>,
    /// Uncommitted changes (or untracked files) under the source dir.
    pub dirty: bool,
    /// sha256 over the source tree's content, as described above.
    pub content_key: String,
    /// Some file names `BINSHIP_VERSION` (the build may embed the version number).
    pub names_version: bool,
    /// Some file names `BINSHIP_COMMIT` (the build may embed the commit).
    pub names_commit: bool,
}

impl SourceState {
    /// First 7 characters of the commit, or "unknown".
    pub fn short_commit(&self) -> String {
        self.commit
            .as_deref()
            .map_or("unknown".into(), |c| c[..c.len().min(7)].to_string())
    }
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_OPTIONAL_LOCKS", "0");
    capture(c)
}

/// Inspects `dir`; `exclude` (relative to `dir`) is left out of the key (a command build's output).
pub fn inspect(dir: &Path, exclude: Option<&Path>) -> Result<SourceState, BuildError> {
    if !dir.is_dir() {
        return Err(BuildError::SourceMissing { path: dir.into() });
    }
    if let Some(state) = inspect_git(dir, exclude) {
        return Ok(state);
    }
    let mut h = Sha256::new();
    h.update(b"binship-content-v1\0");
    let mut files = Vec::new();
    walk(dir, dir, &mut files).map_err(BuildError::io(format!("reading {}", dir.display())))?;
    files.sort();
    let mut names = Names::default();
    for rel in files {
        if exclude.is_some_and(|e| rel == e) {
            continue;
        }
        hash_file(&mut h, &rel, &dir.join(&rel), &mut names)?;
    }
    Ok(SourceState {
        commit: None,
        commit_time: None,
        dirty: false,
        content_key: hex::encode(h.finalize()),
        names_version: names.version,
        names_commit: names.commit,
    })
}

fn inspect_git(dir: &Path, exclude: Option<&Path>) -> Option<SourceState> {
    // Four git calls, run at once (they are most of a cache hit's time): top level, HEAD
    // commit and the tree of this dir at HEAD; the commit time; the working tree's changes
    // (ignored files included); which of binship's stamps the files name.
    let (out, time, status, grep) = std::thread::scope(|s| {
        let time = s.spawn(|| git(dir, &["show", "-s", "--format=%ct", "HEAD"]));
        let grep = s.spawn(|| {
            git(
                dir,
                &[
                    "grep",
                    "-I",
                    "-F",
                    "-o",
                    "-h",
                    "--untracked",
                    "-e",
                    "BINSHIP_VERSION",
                    "-e",
                    "BINSHIP_COMMIT",
                    "--",
                    ".",
                ],
            )
        });
        let status = s.spawn(|| {
            git(
                dir,
                &[
                    "status",
                    "--porcelain=v1",
                    "-z",
                    "--untracked-files=all",
                    "--ignored=matching",
                    "--",
                    ".",
                ],
            )
        });
        let out = git(
            dir,
            &[
                "rev-parse",
                "--show-toplevel",
                "--show-prefix",
                "HEAD",
                "HEAD:./",
            ],
        );
        (
            out,
            time.join().ok().flatten(),
            status.join().ok().flatten(),
            // git grep exits 1 when nothing matches.
            grep.join().ok().flatten().unwrap_or_default(),
        )
    });
    let out = out?;
    let mut lines = out.lines();
    let top = PathBuf::from(lines.next()?);
    let prefix = lines.next()?.to_string();
    let commit = lines.next()?.to_string();
    let tree = lines.next()?.to_string();
    let time = time.and_then(|t| t.trim().parse::<i64>().ok());
    let status = status?;
    let mut h = Sha256::new();
    h.update(b"binship-git-v1\0");
    h.update(tree.as_bytes());
    let exclude = exclude.map(|e| Path::new(&prefix).join(e));
    let mut names = Names {
        version: grep.contains("BINSHIP_VERSION"),
        commit: grep.contains("BINSHIP_COMMIT"),
        tail: Vec::new(),
    };
    let mut dirty = false;
    let mut entries = status.split('\0').filter(|s| !s.is_empty());
    while let Some(entry) = entries.next() {
        if entry.len() < 4 {
            continue;
        }
        let (xy, path) = entry.split_at(3);
        if xy.starts_with('R') || xy.starts_with('C') {
            // Renames and copies are followed by the original path.
            if let Some(from) = entries.next() {
                h.update(b"from\0");
                h.update(from.as_bytes());
            }
        }
        let rel = Path::new(path);
        if exclude.as_deref().is_some_and(|e| e == rel) {
            continue;
        }
        if xy == "!! " {
            // Ignored: part of the content, not a change. A directory (`dir/`) is walked as
            // outside git; build output and tool caches are left out.
            let skipped = |p: &Path| {
                p.components()
                    .any(|c| SKIP_DIRS.contains(&c.as_os_str().to_string_lossy().as_ref()))
            };
            if skipped(rel) {
                continue;
            }
            h.update(b"ignored\0");
            let mut files = Vec::new();
            if path.ends_with('/') {
                if walk(&top, &top.join(rel), &mut files).is_err() {
                    h.update(b"unreadable\0");
                }
                files.sort();
            } else {
                files.push(rel.to_path_buf());
            }
            for f in files {
                if exclude.as_deref().is_some_and(|e| e == f) {
                    continue;
                }
                if hash_file(&mut h, &f, &top.join(&f), &mut names).is_err() {
                    h.update(b"unreadable\0");
                }
            }
            continue;
        }
        dirty = true;
        h.update(xy.as_bytes());
        if hash_file(&mut h, rel, &top.join(rel), &mut names).is_err() {
            h.update(b"unreadable\0");
        }
    }
    Some(SourceState {
        commit: Some(commit),
        commit_time: time,
        dirty,
        content_key: hex::encode(h.finalize()),
        names_version: names.version,
        names_commit: names.commit,
    })
}

/// Which stamps the files read so far name (see the module docs).
#[derive(Default)]
struct Names {
    version: bool,
    commit: bool,
    /// The end of the last chunk read, so a name split across two reads is found.
    tail: Vec<u8>,
}

impl Names {
    const VERSION: &'static [u8] = b"BINSHIP_VERSION";
    const COMMIT: &'static [u8] = b"BINSHIP_COMMIT";
    fn feed(&mut self, chunk: &[u8]) {
        if self.version && self.commit {
            return;
        }
        let mut window = std::mem::take(&mut self.tail);
        window.extend_from_slice(chunk);
        let has = |n: &[u8]| window.windows(n.len()).any(|w| w == n);
        self.version |= has(Self::VERSION);
        self.commit |= has(Self::COMMIT);
        let keep = Self::VERSION.len() - 1;
        self.tail = window[window.len().saturating_sub(keep)..].to_vec();
    }
    /// A new file starts: a name never spans two files.
    fn next_file(&mut self) {
        self.tail.clear();
    }
}

fn hash_file(h: &mut Sha256, rel: &Path, path: &Path, names: &mut Names) -> Result<(), BuildError> {
    names.next_file();
    use std::os::unix::fs::PermissionsExt;
    h.update(rel.as_os_str().as_encoded_bytes());
    h.update(b"\0");
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(_) => {
            h.update(b"deleted\0");
            return Ok(());
        }
    };
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path)
            .map_err(BuildError::io(format!("reading {}", path.display())))?;
        h.update(b"link\0");
        h.update(target.as_os_str().as_encoded_bytes());
        h.update(b"\0");
        return Ok(());
    }
    if !meta.is_file() {
        h.update(b"other\0");
        return Ok(());
    }
    h.update(if meta.permissions().mode() & 0o111 != 0 {
        b"x"
    } else {
        b"-"
    });
    h.update(meta.len().to_le_bytes());
    let mut f =
        std::fs::File::open(path).map_err(BuildError::io(format!("reading {}", path.display())))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(BuildError::io(format!("reading {}", path.display())))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        names.feed(&buf[..n]);
    }
    Ok(())
}

/// Directories never part of a source tree's content (untracked or ignored in git): VCS
/// metadata, cargo's and npm's output, binship's own dir.
pub const SKIP_DIRS: &[&str] = &[".git", "target", "node_modules", ".binship"];

fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let ft = entry.file_type()?;
        let path = entry.path();
        if ft.is_dir() {
            if SKIP_DIRS.contains(&entry.file_name().to_string_lossy().as_ref()) {
                continue;
            }
            walk(root, &path, out)?;
        } else {
            out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_key_changes_with_content_outside_git() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.txt"), "one").unwrap();
        let k1 = inspect(d.path(), None).unwrap();
        assert_eq!(k1.commit, None);
        assert_eq!(k1, inspect(d.path(), None).unwrap());
        std::fs::write(d.path().join("a.txt"), "two").unwrap();
        let k2 = inspect(d.path(), None).unwrap();
        assert_ne!(k1.content_key, k2.content_key);
        // The excluded output does not count.
        std::fs::write(d.path().join("out"), "bin").unwrap();
        assert_eq!(
            k2.content_key,
            inspect(d.path(), Some(Path::new("out")))
                .unwrap()
                .content_key
        );
    }

    #[test]
    fn git_dirty_edits_change_the_key() {
        let d = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let ok = Command::new("git")
                .arg("-C")
                .arg(d.path())
                .args(args)
                .output()
                .unwrap()
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        let commit = |m: &str| {
            run(&[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-qm",
                m,
            ])
        };
        run(&["init", "-q"]);
        std::fs::create_dir(d.path().join("src")).unwrap();
        std::fs::write(d.path().join("src/main.go"), "package main").unwrap();
        run(&["add", "."]);
        commit("x");
        let src = d.path().join("src");
        let clean = inspect(&src, None).unwrap();
        assert!(!clean.dirty);
        assert_eq!(clean.commit.as_ref().unwrap().len(), 40);
        assert!(clean.commit_time.is_some());
        std::fs::write(src.join("main.go"), "package main // edit").unwrap();
        let dirty = inspect(&src, None).unwrap();
        assert!(dirty.dirty);
        assert_ne!(clean.content_key, dirty.content_key);
        std::fs::write(src.join("main.go"), "package main // edit 2").unwrap();
        assert_ne!(dirty.content_key, inspect(&src, None).unwrap().content_key);
        std::fs::write(src.join("main.go"), "package main").unwrap();
        assert_eq!(clean, inspect(&src, None).unwrap());
        assert!(!clean.names_version && !clean.names_commit);

        // Ignored files are content (go builds an ignored extra.go), not a change; an ignored
        // target/ (cargo's output) is not.
        std::fs::write(d.path().join(".gitignore"), "extra.go\ngen/\ntarget/\n").unwrap();
        run(&["add", ".gitignore"]);
        commit("i");
        let base = inspect(&src, None).unwrap();
        std::fs::write(src.join("extra.go"), "package main // one").unwrap();
        let one = inspect(&src, None).unwrap();
        assert!(!one.dirty);
        assert_ne!(base.content_key, one.content_key);
        std::fs::write(src.join("extra.go"), "package main // two").unwrap();
        let two = inspect(&src, None).unwrap();
        assert_ne!(one.content_key, two.content_key);
        std::fs::create_dir_all(src.join("gen/deep")).unwrap();
        std::fs::write(src.join("gen/deep/v.go"), "const v = BINSHIP_VERSION").unwrap();
        let generated = inspect(&src, None).unwrap();
        assert_ne!(two.content_key, generated.content_key);
        assert!(generated.names_version && !generated.names_commit);
        std::fs::create_dir_all(src.join("target/release")).unwrap();
        std::fs::write(src.join("target/release/x"), "output").unwrap();
        assert_eq!(generated, inspect(&src, None).unwrap());
        // A tracked file naming the commit stamp.
        std::fs::write(src.join("main.go"), "package main // BINSHIP_COMMIT").unwrap();
        assert!(inspect(&src, None).unwrap().names_commit);
    }

    #[test]
    fn names_are_found_across_read_chunks() {
        let mut n = Names::default();
        n.feed(b"xx BINSHIP_VER");
        n.feed(b"SION yy");
        assert!(n.version && !n.commit);
        n.next_file();
        n.feed(b"BINSHIP_");
        n.next_file();
        n.feed(b"COMMIT");
        assert!(!n.commit);
    }
}
