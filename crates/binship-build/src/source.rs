//! Source state: [`SourceState`] holds the git commit (with commit time and dirty flag) and a
//! content key of the source tree that changes whenever the source does, dirty edits included.
//!
//! In git, the key is the tree hash of the source dir at HEAD plus the content of every dirty
//! or untracked (not ignored) file; outside git, a hash of every file's path, mode and content.

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
    for rel in files {
        if exclude.is_some_and(|e| rel == e) {
            continue;
        }
        hash_file(&mut h, &rel, &dir.join(&rel))?;
    }
    Ok(SourceState {
        commit: None,
        commit_time: None,
        dirty: false,
        content_key: hex::encode(h.finalize()),
    })
}

fn inspect_git(dir: &Path, exclude: Option<&Path>) -> Option<SourceState> {
    // Three git calls, run at once (they are most of a cache hit's time): top level, HEAD
    // commit and the tree of this dir at HEAD; the commit time; the working tree's changes.
    let (out, time, status) = std::thread::scope(|s| {
        let time = s.spawn(|| git(dir, &["show", "-s", "--format=%ct", "HEAD"]));
        let status = s.spawn(|| {
            git(
                dir,
                &[
                    "status",
                    "--porcelain=v1",
                    "-z",
                    "--untracked-files=all",
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
        dirty = true;
        h.update(xy.as_bytes());
        if hash_file(&mut h, rel, &top.join(rel)).is_err() {
            h.update(b"unreadable\0");
        }
    }
    Some(SourceState {
        commit: Some(commit),
        commit_time: time,
        dirty,
        content_key: hex::encode(h.finalize()),
    })
}

fn hash_file(h: &mut Sha256, rel: &Path, path: &Path) -> Result<(), BuildError> {
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
    }
    Ok(())
}

/// Directories never part of a source tree's content outside git.
const SKIP_DIRS: &[&str] = &[".git", "target", "node_modules", ".binship"];

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
        run(&["init", "-q"]);
        std::fs::create_dir(d.path().join("src")).unwrap();
        std::fs::write(d.path().join("src/main.go"), "package main").unwrap();
        run(&["add", "."]);
        run(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "x",
        ]);
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
    }
}
