//! Property tests of the base importer: whatever tar it is fed (random names with `..`,
//! absolute paths, symlinks, hard links, duplicates; random bytes; cut streams) it never
//! panics, and whatever it accepts cannot make an extracting tool leave the root.

use binship_image::import::{scan_tar, Limits, View};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Kind {
    File,
    Dir,
    Symlink(String),
    Hardlink(String),
}

fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("..".to_string()),
        Just(".".to_string()),
        Just("etc".to_string()),
        Just("a".to_string()),
        "[a-z]{1,3}".prop_map(|s| s)
    ]
}

fn name() -> impl Strategy<Value = String> {
    (
        prop::bool::weighted(0.15),
        prop::collection::vec(component(), 1..5),
    )
        .prop_map(|(abs, parts)| {
            let n = parts.join("/");
            if abs {
                format!("/{n}")
            } else {
                n
            }
        })
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        4 => Just(Kind::File),
        2 => Just(Kind::Dir),
        2 => name().prop_map(Kind::Symlink),
        2 => name().prop_map(Kind::Hardlink),
    ]
}

fn build(entries: &[(String, Kind)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (n, k) in entries {
        let mut h = tar::Header::new_gnu();
        let (t, data, link): (tar::EntryType, &[u8], Option<&str>) = match k {
            Kind::File => (tar::EntryType::Regular, b"data", None),
            Kind::Dir => (tar::EntryType::Directory, b"", None),
            Kind::Symlink(l) => (tar::EntryType::Symlink, b"", Some(l)),
            Kind::Hardlink(l) => (tar::EntryType::Link, b"", Some(l)),
        };
        h.set_entry_type(t);
        h.set_size(data.len() as u64);
        let g = h.as_gnu_mut().unwrap();
        let nb = n.as_bytes();
        g.name[..nb.len().min(99)].copy_from_slice(&nb[..nb.len().min(99)]);
        if let Some(l) = link {
            let lb = l.as_bytes();
            g.linkname[..lb.len().min(99)].copy_from_slice(&lb[..lb.len().min(99)]);
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn normalized(n: &str) -> Vec<&str> {
    n.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn accepted_layers_never_escape(entries in prop::collection::vec((name(), kind()), 1..12)) {
        let bytes = build(&entries);
        let mut view = View::default();
        if scan_tar(&bytes[..], "prop", &mut view, &Limits::default()).is_ok() {
            let mut symlinks: Vec<Vec<&str>> = Vec::new();
            let mut files: Vec<Vec<&str>> = Vec::new();
            for (n, k) in &entries {
                prop_assert!(!n.starts_with('/'), "absolute {n} accepted");
                let parts = normalized(n);
                prop_assert!(!parts.contains(&".."), "{n} accepted");
                // Nothing is written below an accepted symlink.
                for s in &symlinks {
                    prop_assert!(!(parts.len() > s.len() && parts[..s.len()] == s[..]), "{n} goes through a symlink");
                }
                match k {
                    Kind::Symlink(_) => symlinks.push(parts.clone()),
                    Kind::Hardlink(t) => {
                        prop_assert!(!t.starts_with('/') && !normalized(t).contains(&".."));
                        prop_assert!(files.contains(&normalized(t)), "hard link {n} -> {t} to no earlier file");
                    }
                    Kind::File => files.push(parts.clone()),
                    Kind::Dir => {}
                }
            }
        }
    }

    #[test]
    fn random_bytes_and_cut_streams_never_panic(noise in prop::collection::vec(any::<u8>(), 0..4096), cut in 0usize..3000) {
        let _ = scan_tar(&noise[..], "noise", &mut View::default(), &Limits::default());
        let good = build(&[("a".into(), Kind::File), ("b".into(), Kind::Dir)]);
        let cut = cut.min(good.len());
        let _ = scan_tar(&good[..cut], "cut", &mut View::default(), &Limits::default());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &good).unwrap();
        let gz = gz.finish().unwrap();
        let _ = scan_tar(&gz[..cut.min(gz.len())], "gzcut", &mut View::default(), &Limits::default());
    }
}
