//! Tar helpers shared by the archive sinks: an index of members (name -> offset, size) to read
//! members in place, and a writer of deterministic tar members.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use binship_image::validate::ValidationError;

/// Members of a tar file, readable in place.
pub struct TarIndex {
    pub path: PathBuf,
    members: BTreeMap<String, (u64, u64)>,
}

impl TarIndex {
    pub fn open(path: &Path, medium: &str) -> Result<TarIndex, ValidationError> {
        let bad = |m: String| ValidationError::new(medium, path.display().to_string(), m);
        let f = File::open(path).map_err(|e| bad(e.to_string()))?;
        let mut a = tar::Archive::new(f);
        let mut members = BTreeMap::new();
        for e in a.entries().map_err(|e| bad(format!("not a tar: {e}")))? {
            let e = e.map_err(|e| bad(format!("not a tar: {e}")))?;
            let name = e
                .path()
                .map_err(|e| bad(e.to_string()))?
                .to_string_lossy()
                .trim_start_matches("./")
                .to_string();
            if name.starts_with('/') || name.split('/').any(|c| c == "..") {
                return Err(bad(format!("member {name} escapes the root")));
            }
            if e.header().entry_type().is_file() {
                members.insert(name, (e.raw_file_position(), e.size()));
            }
        }
        Ok(TarIndex {
            path: path.into(),
            members,
        })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.members.contains_key(name)
    }

    pub fn open_member(&self, name: &str) -> std::io::Result<impl Read + use<>> {
        let (off, size) = *self.members.get(name).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, format!("no member {name}"))
        })?;
        let mut f = File::open(&self.path)?;
        f.seek(SeekFrom::Start(off))?;
        Ok(f.take(size))
    }

    pub fn read_member(&self, name: &str) -> std::io::Result<Vec<u8>> {
        let mut v = Vec::new();
        self.open_member(name)?.read_to_end(&mut v)?;
        Ok(v)
    }
}

/// A ustar header for a regular file or dir with fixed metadata.
pub fn header(name: &str, size: u64, mtime: u64, dir: bool) -> std::io::Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name)?;
    h.set_size(size);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mode(if dir { 0o755 } else { 0o644 });
    h.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    let _ = h.set_username("");
    let _ = h.set_groupname("");
    h.set_cksum();
    Ok(h)
}

/// Writes one in-memory member.
pub fn member(w: &mut dyn Write, name: &str, data: &[u8], mtime: u64) -> std::io::Result<()> {
    w.write_all(header(name, data.len() as u64, mtime, false)?.as_bytes())?;
    w.write_all(data)?;
    pad(w, data.len() as u64)
}

pub fn pad(w: &mut dyn Write, size: u64) -> std::io::Result<()> {
    let p = ((512 - size % 512) % 512) as usize;
    w.write_all(&[0u8; 512][..p])
}

pub fn dir(w: &mut dyn Write, name: &str, mtime: u64) -> std::io::Result<()> {
    w.write_all(header(name, 0, mtime, true)?.as_bytes())
}

pub fn finish(w: &mut dyn Write) -> std::io::Result<()> {
    w.write_all(&[0u8; 1024])
}
