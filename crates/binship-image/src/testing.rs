//! Tar fixtures for tests and fuzzing (feature `testing`): [`raw_tar`] writes member names and
//! link targets byte for byte (hostile names such as `../x` or `/etc/shadow` go in as they are),
//! [`tar_of`] goes through the tar crate (GNU long names, modes, device numbers).

use tar::{Builder, EntryType, Header};

/// A tar whose headers hold `name` and `link` as raw bytes (at most 100 each), mode 0644.
pub fn raw_tar(entries: &[(&str, EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
    let mut b = Builder::new(Vec::new());
    for (name, kind, data, link) in entries {
        let mut h = Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        let gnu = h.as_gnu_mut().expect("a GNU header");
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(l) = link {
            gnu.linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
        h.set_cksum();
        b.append(&h, *data).expect("writing to a Vec");
    }
    b.into_inner().expect("writing to a Vec")
}

/// One member for [`tar_of`].
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub kind: EntryType,
    pub data: Vec<u8>,
    pub mode: u32,
    /// Symlink or hard link target.
    pub link: Option<String>,
}

impl Member {
    pub fn file(name: impl Into<String>, data: impl Into<Vec<u8>>, mode: u32) -> Member {
        Member {
            name: name.into(),
            kind: EntryType::Regular,
            data: data.into(),
            mode,
            link: None,
        }
    }
    pub fn dir(name: impl Into<String>) -> Member {
        Member {
            name: name.into(),
            kind: EntryType::Directory,
            data: vec![],
            mode: 0o755,
            link: None,
        }
    }
    pub fn symlink(name: impl Into<String>, target: impl Into<String>) -> Member {
        Member {
            name: name.into(),
            kind: EntryType::Symlink,
            data: vec![],
            mode: 0o777,
            link: Some(target.into()),
        }
    }
    pub fn hardlink(name: impl Into<String>, target: impl Into<String>) -> Member {
        Member {
            name: name.into(),
            kind: EntryType::Link,
            data: vec![],
            mode: 0o644,
            link: Some(target.into()),
        }
    }
    /// Any type, e.g. a character device (1, 3: /dev/null's numbers) or a fifo.
    pub fn of(name: impl Into<String>, kind: EntryType, mode: u32) -> Member {
        Member {
            name: name.into(),
            kind,
            data: vec![],
            mode,
            link: None,
        }
    }
}

/// A tar of `members` through the tar crate: long names get GNU long-name entries, character
/// and block devices get 1:3, every mtime is 1_700_000_000.
pub fn tar_of(members: &[Member]) -> Vec<u8> {
    let mut b = Builder::new(Vec::new());
    for m in members {
        let mut h = Header::new_gnu();
        h.set_entry_type(m.kind);
        h.set_size(m.data.len() as u64);
        h.set_mode(m.mode);
        h.set_mtime(1_700_000_000);
        if matches!(m.kind, EntryType::Char | EntryType::Block) {
            h.set_device_major(1).expect("GNU header");
            h.set_device_minor(3).expect("GNU header");
        }
        match &m.link {
            Some(l) => b.append_link(&mut h, &m.name, l),
            None => b.append_data(&mut h, &m.name, &m.data[..]),
        }
        .expect("writing to a Vec");
    }
    b.into_inner().expect("writing to a Vec")
}
