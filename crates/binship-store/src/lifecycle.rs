//! An app's current version and its history: [`Store::current`] reads `<app>/current` (one
//! number), [`Store::set_current`] replaces it atomically (temp file, fsync, rename, fsync of the
//! dir: a kill at any moment leaves the old or the new pointer, never a torn one) and appends a
//! [`HistoryEvent`] to `<app>/history.jsonl`.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{io, sync_dir, AppLock, Store, StoreError};

/// One move of the current pointer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// RFC 3339, UTC.
    pub at: String,
    /// "promote", "rollback" or "update".
    pub action: String,
    pub from: Option<u32>,
    pub to: u32,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

impl Store {
    pub fn current_path(&self, app: &str) -> PathBuf {
        self.app_dir(app).join("current")
    }

    /// The current version, if one was set.
    pub fn current(&self, app: &str) -> Result<Option<u32>, StoreError> {
        let path = self.current_path(app);
        match std::fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|v| *v > 0)
                .map(Some)
                .ok_or_else(|| StoreError::BadRecord {
                    path,
                    message: format!("`{}` is not a version number", text.trim()),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("reading", &path)(e)),
        }
    }

    /// Points `current` at `to` (atomically) and records why.
    pub fn set_current(
        &self,
        lock: &AppLock,
        to: u32,
        action: &str,
        reason: Option<String>,
    ) -> Result<HistoryEvent, StoreError> {
        let app = &lock.app;
        let from = self.current(app).ok().flatten();
        let dir = self.app_dir(app);
        let path = self.current_path(app);
        // Temp files of writers killed mid-way are garbage: the pointer itself is always whole.
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(".current.tmp.") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let tmp = dir.join(format!(".current.tmp.{}", std::process::id()));
        let mut f = File::create(&tmp).map_err(io("writing", &tmp))?;
        f.write_all(format!("{to}\n").as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(io("writing", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io("writing", &path))?;
        sync_dir(&dir)?;
        let event = HistoryEvent {
            at: crate::record::now_rfc3339(),
            action: action.into(),
            from,
            to,
            reason,
        };
        let hist = dir.join("history.jsonl");
        let mut h = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&hist)
            .map_err(io("writing", &hist))?;
        let line = serde_json::to_string(&event).expect("event serializes") + "\n";
        h.write_all(line.as_bytes())
            .and_then(|_| h.sync_all())
            .map_err(io("writing", &hist))?;
        Ok(event)
    }

    /// Every recorded move, oldest first (a torn last line from a crash is skipped).
    pub fn history(&self, app: &str) -> Vec<HistoryEvent> {
        std::fs::read_to_string(self.app_dir(app).join("history.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Removes a version dir (GC): renamed into `.binship/tmp` first, so a crash never leaves a
    /// half-deleted version under its name.
    pub fn remove_version(&self, lock: &AppLock, version: u32) -> Result<(), StoreError> {
        let dir = self.version_dir(&lock.app, version);
        let trash = self.internal().join("tmp").join(format!(
            "{}@gc-{}-{version}",
            lock.app,
            std::process::id()
        ));
        std::fs::rename(&dir, &trash).map_err(io("moving away", &dir))?;
        sync_dir(&self.app_dir(&lock.app))?;
        std::fs::remove_dir_all(&trash).map_err(io("removing", &trash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_moves_atomically_and_history_records_it() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::at(d.path());
        let lock = s.lock("app", || {}).unwrap();
        std::fs::create_dir_all(s.app_dir("app")).unwrap();
        assert_eq!(s.current("app").unwrap(), None);
        s.set_current(&lock, 2, "promote", None).unwrap();
        s.set_current(&lock, 1, "rollback", Some("v.2 broke".into()))
            .unwrap();
        assert_eq!(s.current("app").unwrap(), Some(1));
        let h = s.history("app");
        assert_eq!(h.len(), 2);
        assert_eq!((h[1].from, h[1].to), (Some(2), 1));
        std::fs::write(s.current_path("app"), "garbage").unwrap();
        assert!(s
            .current("app")
            .unwrap_err()
            .to_string()
            .contains("not a version number"));
    }
}
