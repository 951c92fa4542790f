//! Flattening as the engines do (issue 18, fault 5). A differential test: random small
//! multi-layer bases (files, dirs, symlinks, hard links, fifos, whiteouts, opaque dirs, odd and
//! long names, parents no layer declares) go through binship's flattening (the LXC/Incus root
//! filesystem) and through a real `docker load` + `docker export`, and the two trees must be the
//! same: names, types, modes, owners, link targets, contents. Also: names that are not UTF-8
//! are refused in one line in every base kind (never renamed), and a directory base takes paths
//! as long as a tarball does.

mod common;
use common::engines::*;
use common::tiny::tiny_project;
use common::*;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use sha2::{Digest, Sha256};

/// A small deterministic PRNG (xorshift64*): each case is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// One member of a generated layer.
#[derive(Debug, Clone)]
enum M {
    Dir {
        path: String,
        mode: u32,
        owner: u64,
    },
    File {
        path: String,
        data: Vec<u8>,
        mode: u32,
        owner: u64,
    },
    Symlink {
        path: String,
        target: String,
    },
    /// Its header's mode and owner: engines apply them to the inode the link shares.
    Hardlink {
        path: String,
        target: String,
        mode: u32,
        owner: u64,
    },
    Fifo {
        path: String,
        mode: u32,
    },
    /// `.wh.NAME` or `.wh..wh..opq`, as the member's full path.
    Whiteout {
        path: String,
    },
}

impl M {
    fn path(&self) -> &str {
        match self {
            M::Dir { path, .. }
            | M::File { path, .. }
            | M::Symlink { path, .. }
            | M::Hardlink { path, .. }
            | M::Fifo { path, .. }
            | M::Whiteout { path } => path,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Dir,
    File,
    Other,
}

/// Generates one case: `layers` layers of members under `root`, valid for an importer (no
/// member through a symlink, hard links only to earlier files of the same layer, no
/// duplicates). Tracks the merged tree only to choose valid operations; what the tree must be
/// is docker's answer, not this model's.
fn case(rng: &mut Rng, root: &str, layers: usize) -> Vec<Vec<M>> {
    const NAMES: &[&str] = &[
        "a",
        "b",
        "etc",
        "data",
        "sp ace",
        "ünïcødé",
        "-dash",
        ".hidden",
        "x#y%z",
        "back\\slash",
        "tab\tname",
        "caf\u{e9}",
        "UPPER",
        "a.b.c",
    ];
    let mut tree: BTreeMap<String, Kind> = BTreeMap::new();
    tree.insert(root.to_string(), Kind::Dir);
    let mut out = Vec::new();
    for layer in 0..layers {
        let mut members: Vec<M> = Vec::new();
        let mut touched: BTreeSet<String> = BTreeSet::new();
        let mut files_here: Vec<String> = Vec::new();
        let mut symlinks_here: BTreeSet<String> = BTreeSet::new();
        // Declares every ancestor of `path` below the case root in this layer (an upper layer
        // as docker writes it); the first layer sometimes leaves parents undeclared.
        let declare_parents = |rng: &mut Rng,
                               path: &str,
                               members: &mut Vec<M>,
                               touched: &mut BTreeSet<String>,
                               tree: &mut BTreeMap<String, Kind>| {
            let comps: Vec<usize> = path.match_indices('/').map(|(i, _)| i).collect();
            for i in comps {
                let dir = &path[..i];
                if dir.len() <= root.len() || touched.contains(dir) {
                    continue;
                }
                if layer == 0 && rng.chance(40) && !tree.contains_key(dir) {
                    // Undeclared: the engine makes it root-owned 0755.
                    tree.insert(dir.to_string(), Kind::Dir);
                    continue;
                }
                if tree.get(dir) != Some(&Kind::Dir) {
                    let prefix = format!("{dir}/");
                    tree.retain(|k, _| !k.starts_with(&prefix));
                }
                tree.insert(dir.to_string(), Kind::Dir);
                touched.insert(dir.to_string());
                members.push(M::Dir {
                    path: dir.to_string(),
                    mode: *rng.pick(&[0o755, 0o700, 0o750, 0o1777, 0o2755]),
                    owner: *rng.pick(&[0, 0, 1000, 65532]),
                });
            }
        };
        // Layer 0 (and sometimes later ones) declare the case root.
        if layer == 0 || rng.chance(30) {
            touched.insert(root.to_string());
            members.push(M::Dir {
                path: root.to_string(),
                mode: 0o755,
                owner: 0,
            });
        }
        let ops = 2 + rng.below(7);
        for _ in 0..ops {
            // Dirs this layer may write into: in the tree, not a non-dir of this layer, and no
            // symlink of this layer on the way.
            let dirs: Vec<String> = tree
                .iter()
                .filter(|(p, k)| {
                    **k == Kind::Dir && !symlinks_here.iter().any(|s| p.starts_with(s.as_str()))
                })
                .map(|(p, _)| p.clone())
                .collect();
            let lower: Vec<String> = tree
                .keys()
                .filter(|p| {
                    p.len() > root.len()
                        && !touched
                            .iter()
                            .any(|t| p.starts_with(t.as_str()) || t.starts_with(p.as_str()))
                })
                .cloned()
                .collect();
            let fresh =
                |rng: &mut Rng, tree: &BTreeMap<String, Kind>, touched: &BTreeSet<String>| {
                    for _ in 0..20 {
                        let dir = rng.pick(&dirs).clone();
                        let name = match rng.below(20) {
                            0 => "l".repeat(120 + rng.below(60)),
                            1 => format!("{}/{}", "deep".repeat(40), "n".repeat(110)),
                            _ => format!("{}{}", rng.pick(NAMES), rng.below(4)),
                        };
                        let p = format!("{dir}/{name}");
                        if !tree.contains_key(&p)
                            && !touched.contains(&p)
                            && !tree.keys().any(|k| k.starts_with(&format!("{p}/")))
                        {
                            return Some(p);
                        }
                    }
                    None
                };
            match rng.below(10) {
                // A new file, dir, symlink or fifo, or one that replaces a lower entry.
                0..=5 => {
                    let p = if rng.chance(30) && !lower.is_empty() {
                        Some(rng.pick(&lower).clone())
                    } else {
                        fresh(rng, &tree, &touched)
                    };
                    let Some(p) = p else { continue };
                    declare_parents(rng, &p, &mut members, &mut touched, &mut tree);
                    if touched.contains(&p) {
                        continue;
                    }
                    let prefix = format!("{p}/");
                    let m = match rng.below(10) {
                        0..=4 => {
                            let len = rng.pick(&[0usize, 1, 7, 511, 512, 513, 3000]);
                            let data: Vec<u8> = (0..*len).map(|_| rng.next() as u8).collect();
                            files_here.push(p.clone());
                            M::File {
                                path: p.clone(),
                                data,
                                mode: *rng.pick(&[0o644, 0o600, 0o755, 0o4755, 0o640, 0o444]),
                                owner: *rng.pick(&[0, 0, 1000, 65532]),
                            }
                        }
                        5 | 6 => M::Dir {
                            path: p.clone(),
                            mode: *rng.pick(&[0o755, 0o700, 0o1777]),
                            owner: *rng.pick(&[0, 1000]),
                        },
                        7 | 8 => {
                            let target = match rng.below(4) {
                                0 => "../nowhere".to_string(),
                                1 => format!("/{}", rng.pick(&dirs)),
                                2 => "x".repeat(150),
                                _ => rng.pick(NAMES).to_string(),
                            };
                            symlinks_here.insert(p.clone());
                            M::Symlink {
                                path: p.clone(),
                                target,
                            }
                        }
                        _ => M::Fifo {
                            path: p.clone(),
                            mode: 0o600,
                        },
                    };
                    let kind = match m {
                        M::Dir { .. } => Kind::Dir,
                        M::File { .. } => Kind::File,
                        _ => Kind::Other,
                    };
                    if kind != Kind::Dir || tree.get(&p) != Some(&Kind::Dir) {
                        tree.retain(|k, _| !k.starts_with(&prefix));
                    }
                    tree.insert(p.clone(), kind);
                    touched.insert(p.clone());
                    members.push(m);
                }
                // A hard link to a file of this layer.
                6 | 7 => {
                    if files_here.is_empty() {
                        continue;
                    }
                    let target = rng.pick(&files_here).clone();
                    let Some(p) = fresh(rng, &tree, &touched) else {
                        continue;
                    };
                    declare_parents(rng, &p, &mut members, &mut touched, &mut tree);
                    if touched.contains(&p) || !matches!(tree.get(&target), Some(Kind::File)) {
                        continue;
                    }
                    tree.insert(p.clone(), Kind::File);
                    touched.insert(p.clone());
                    // Mostly the target's own metadata, as tar writers do; sometimes not.
                    let (mode, owner) = members
                        .iter()
                        .find_map(|m| match m {
                            M::File {
                                path, mode, owner, ..
                            } if *path == target => Some((*mode, *owner)),
                            _ => None,
                        })
                        .filter(|_| rng.chance(70))
                        .unwrap_or((0o644, 0));
                    members.push(M::Hardlink {
                        path: p,
                        target,
                        mode,
                        owner,
                    });
                }
                // A whiteout of a lower entry.
                8 => {
                    if lower.is_empty() {
                        continue;
                    }
                    let p = rng.pick(&lower).clone();
                    let (dir, name) = p.rsplit_once('/').unwrap();
                    let wh = format!("{dir}/.wh.{name}");
                    declare_parents(rng, &wh, &mut members, &mut touched, &mut tree);
                    if touched.contains(&p) || touched.contains(&wh) {
                        continue;
                    }
                    let prefix = format!("{p}/");
                    tree.retain(|k, _| k != &p && !k.starts_with(&prefix));
                    touched.insert(p.clone());
                    touched.insert(wh.clone());
                    members.push(M::Whiteout { path: wh });
                }
                // An opaque dir: a lower dir's content hidden.
                _ => {
                    let lower_dirs: Vec<&String> = lower
                        .iter()
                        .filter(|p| tree.get(*p) == Some(&Kind::Dir))
                        .collect();
                    if lower_dirs.is_empty() {
                        continue;
                    }
                    let d = (*rng.pick(&lower_dirs)).clone();
                    let opq = format!("{d}/.wh..wh..opq");
                    declare_parents(rng, &opq, &mut members, &mut touched, &mut tree);
                    if touched.contains(&opq) {
                        continue;
                    }
                    let prefix = format!("{d}/");
                    tree.retain(|k, _| !k.starts_with(&prefix));
                    touched.insert(opq.clone());
                    members.push(M::Whiteout { path: opq });
                }
            }
        }
        out.push(members);
    }
    out
}

/// Writes members as an uncompressed tar; long names go as GNU long names or PAX records,
/// by the member's index (both are in the wild).
fn layer_tar(members: &[M]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (i, m) in members.iter().enumerate() {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        let mut name = m.path().to_string();
        let (data, link): (&[u8], Option<&str>) = match m {
            M::Dir { mode, owner, .. } => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                h.set_uid(*owner);
                h.set_gid(*owner);
                name.push('/');
                (&[], None)
            }
            M::File {
                data, mode, owner, ..
            } => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_uid(*owner);
                h.set_gid(*owner);
                h.set_size(data.len() as u64);
                (data, None)
            }
            M::Symlink { target, .. } => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                (&[], Some(target))
            }
            M::Hardlink {
                target,
                mode,
                owner,
                ..
            } => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(*mode);
                h.set_uid(*owner);
                h.set_gid(*owner);
                (&[], Some(target))
            }
            M::Fifo { mode, .. } => {
                h.set_entry_type(tar::EntryType::Fifo);
                h.set_mode(*mode);
                (&[], None)
            }
            M::Whiteout { .. } => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                (&[], None)
            }
        };
        let long = name.len() > 100 || link.is_some_and(|l| l.len() > 100);
        if long && i % 2 == 0 {
            let mut pax: Vec<(&str, &[u8])> = vec![("path", name.as_bytes())];
            if let Some(l) = link {
                pax.push(("linkpath", l.as_bytes()));
            }
            b.append_pax_extensions(pax).unwrap();
            h.set_path("pax-long-name").unwrap();
            if link.is_some() {
                h.set_link_name("pax-long-link").unwrap();
            }
            h.set_cksum();
            b.append(&h, data).unwrap();
        } else if let Some(l) = link {
            b.append_link(&mut h, &name, l).unwrap();
        } else {
            b.append_data(&mut h, &name, data).unwrap();
        }
    }
    b.into_inner().unwrap()
}

fn sha(b: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(b))
}

/// A docker-archive (as `docker save` writes) of these layers, tagged `tag`.
fn docker_archive(layers: &[Vec<u8>], tag: &str, out: &Path) {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha(l)).collect();
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/nothing-to-run"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = serde_json::to_vec(&config).unwrap();
    let config_name = format!("{}.json", &sha(&config)[7..]);
    let names: Vec<String> = diff_ids
        .iter()
        .map(|d| format!("{}/layer.tar", &d[7..]))
        .collect();
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": [tag],
        "Layers": names,
    }]);
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data).unwrap();
    };
    add(&config_name, &config);
    for (n, l) in names.iter().zip(layers) {
        add(n, l);
    }
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    b.finish().unwrap();
}

/// What a tree holds at each path under `under`: type, mode (none for symlinks: Linux ignores
/// it), owner, content digest or link target, and for a hard-link group every name in it. The
/// last entry for a path wins, as when a tar is extracted.
fn tree_of(tar_bytes: &[u8], under: &str) -> BTreeMap<String, String> {
    let mut a = tar::Archive::new(tar_bytes);
    let mut raw: BTreeMap<String, (String, u32, u64, u64, String)> = BTreeMap::new();
    let mut group: BTreeMap<String, String> = BTreeMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let p = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        let p = p.trim_start_matches("./").trim_end_matches('/').to_string();
        if !p.starts_with(under) {
            continue;
        }
        let h = e.header().clone();
        let (uid, gid) = (h.uid().unwrap(), h.gid().unwrap());
        let mode = h.mode().unwrap() & 0o7777;
        let link = e
            .link_name_bytes()
            .map(|l| String::from_utf8(l.into_owned()).unwrap());
        let entry = match h.entry_type() {
            tar::EntryType::Directory => ("dir".into(), mode, uid, gid, String::new()),
            tar::EntryType::Symlink => ("symlink".into(), 0, uid, gid, link.unwrap()),
            tar::EntryType::Fifo => ("fifo".into(), mode, uid, gid, String::new()),
            tar::EntryType::Link => {
                let t = link.unwrap().trim_start_matches("./").to_string();
                let root = group.get(&t).cloned().unwrap_or(t.clone());
                group.insert(p.clone(), root.clone());
                let mut target = raw
                    .get(&root)
                    .cloned()
                    .unwrap_or_else(|| panic!("{p}: hard link to missing {root}"));
                target.4 = target.4.split(" group").next().unwrap().to_string();
                target
            }
            t if t.is_file() => {
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                group.remove(&p);
                ("file".into(), mode, uid, gid, sha(&data))
            }
            other => (format!("{other:?}"), mode, uid, gid, String::new()),
        };
        raw.insert(p, entry);
    }
    // Each hard-link group: the names that share the content.
    let mut members: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (p, root) in &group {
        if raw.get(p).is_some_and(|e| e.0 == "file") {
            members.entry(root.clone()).or_default().insert(p.clone());
            members
                .entry(root.clone())
                .or_default()
                .insert(root.clone());
        }
    }
    let mut out = BTreeMap::new();
    for (p, (kind, mode, uid, gid, what)) in raw {
        let root = group.get(&p).cloned().unwrap_or(p.clone());
        let names = members
            .get(&root)
            .map(|m| format!(" group {m:?}"))
            .unwrap_or_default();
        out.insert(p, format!("{kind} {mode:o} {uid}:{gid} {what}{names}"));
    }
    out
}

#[test]
fn flattening_gives_the_tree_docker_load_and_export_give() {
    let Some(d) = Dockerd::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut total = 0;
    // A few hundred cases, batched: each image holds 100 independent cases in their own dirs.
    for (image, seed) in [0x5eed_0001u64, 0x5eed_0002, 0x5eed_0003]
        .iter()
        .enumerate()
    {
        let mut rng = Rng(*seed);
        let layer_count = 2 + image;
        let mut layers: Vec<Vec<M>> = vec![Vec::new(); layer_count];
        layers[0].push(M::Dir {
            path: "cases".into(),
            mode: 0o755,
            owner: 0,
        });
        for c in 0..100 {
            let n = 1 + rng.below(layer_count);
            for (l, members) in case(&mut rng, &format!("cases/c{c:03}"), n)
                .into_iter()
                .enumerate()
            {
                layers[l].extend(members);
            }
            total += 1;
        }
        // Every kind of member is in the batch, not only files.
        let all: Vec<&M> = layers.iter().flatten().collect();
        let count = |f: &dyn Fn(&M) -> bool| all.iter().filter(|m| f(m)).count();
        let kinds = [
            (
                "opaque dirs",
                count(&|m| m.path().ends_with("/.wh..wh..opq")),
            ),
            (
                "whiteouts",
                count(&|m| matches!(m, M::Whiteout { path } if !path.ends_with(".opq"))),
            ),
            ("hard links", count(&|m| matches!(m, M::Hardlink { .. }))),
            ("symlinks", count(&|m| matches!(m, M::Symlink { .. }))),
            ("fifos", count(&|m| matches!(m, M::Fifo { .. }))),
            ("names over 100 bytes", count(&|m| m.path().len() > 100)),
            ("names over 255 bytes", count(&|m| m.path().len() > 255)),
        ];
        for (what, n) in kinds {
            assert!(n >= 3, "seed {seed:#x}: only {n} {what}");
        }
        let tars: Vec<Vec<u8>> = layers.iter().map(|l| layer_tar(l)).collect();
        let archive = tmp.path().join(format!("diff{image}.tar"));
        let tag = format!("diff:{image}");
        docker_archive(&tars, &tag, &archive);

        // binship: import the base as scaffold does, then flatten as the LXC/Incus sinks do.
        let spec = binship_pipeline::base::BaseSpec::parse(&format!(
            "docker-archive:{}",
            archive.display()
        ))
        .unwrap();
        let base = binship_pipeline::base::import(
            &spec,
            &Default::default(),
            &binship_image::import::Limits::default(),
        )
        .unwrap_or_else(|e| panic!("seed {seed:#x}: binship refused the base: {e}"));
        let mut ours = Vec::new();
        binship_image::flat::write_flat(&base.layers, "", 0, &mut ours).unwrap();
        if let Some(dump) = std::env::var_os("BINSHIP_FLATTEN_DUMP") {
            // For a failing case: the base and binship's flat tree, to compare by hand.
            let dump = Path::new(&dump);
            std::fs::create_dir_all(dump).unwrap();
            std::fs::write(dump.join(format!("flat{image}.tar")), &ours).unwrap();
            std::fs::copy(&archive, dump.join(format!("base{image}.tar"))).unwrap();
        }

        // docker: load, create, export.
        ok(
            d.docker(&["load", "-i", archive.to_str().unwrap()]),
            "docker load",
        );
        let name = format!("diff{image}");
        ok(
            d.docker(&["create", "--name", &name, &tag]),
            "docker create",
        );
        let exported = tmp.path().join(format!("export{image}.tar"));
        ok(
            d.docker(&["export", "-o", exported.to_str().unwrap(), &name]),
            "docker export",
        );
        ok(d.docker(&["rm", &name]), "docker rm");
        let theirs = std::fs::read(&exported).unwrap();

        let (a, b) = (tree_of(&ours, "cases"), tree_of(&theirs, "cases"));
        let paths: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        let diffs: Vec<String> = paths
            .into_iter()
            .filter(|p| a.get(*p) != b.get(*p))
            .map(|p| {
                format!(
                    "{p:?}\n  binship: {:?}\n  docker:  {:?}",
                    a.get(p),
                    b.get(p)
                )
            })
            .collect();
        if !diffs.is_empty() {
            let case = diffs[0].split('/').nth(1).unwrap_or("").to_string();
            let layers_of_case: Vec<Vec<&M>> = layers
                .iter()
                .map(|l| l.iter().filter(|m| m.path().contains(&case)).collect())
                .collect();
            panic!(
                "seed {seed:#x}: {} of {} paths differ from docker's export; first:\n{}\nlayers of {case}: {layers_of_case:#?}",
                diffs.len(),
                a.len().max(b.len()),
                diffs[..diffs.len().min(8)].join("\n")
            );
        }
        assert!(
            a.len() > 300,
            "seed {seed:#x}: only {} paths compared",
            a.len()
        );
        eprintln!(
            "seed {seed:#x}: {} paths identical to docker's export ({kinds:?})",
            a.len()
        );
    }
    assert_eq!(total, 300);
}

/// A base's member or file named `opt/\xfe.conf` (and `\xff`): refused in one line that names it
/// and says it is not UTF-8, from a directory and from an image base; never packed renamed.
#[test]
fn names_that_are_not_utf8_are_refused_in_every_base_kind() {
    let p = tiny_project();
    let dir = p.path().join("odd-root");
    std::fs::create_dir_all(dir.join("opt")).unwrap();
    for b in [0xfe_u8, 0xff] {
        let bytes = [b'o', b'p', b't', b'/', b, b'.', b'c', b'o', b'n', b'f'];
        let name = std::ffi::OsStr::from_bytes(&bytes);
        std::fs::write(dir.join(name), "x").unwrap();
    }
    let mut members = vec![M::Dir {
        path: "opt".into(),
        mode: 0o755,
        owner: 0,
    }];
    members.push(M::File {
        path: "opt/ok.conf".into(),
        data: b"x".to_vec(),
        mode: 0o644,
        owner: 0,
    });
    let mut layer = layer_tar(&members);
    // Append a member whose name is raw bytes (the tar crate keeps them as given).
    {
        layer.truncate(layer.len() - 1024);
        let mut b = tar::Builder::new(&mut layer);
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(1);
        let name = std::ffi::OsStr::from_bytes(b"opt/\xfe.conf");
        b.append_data(&mut h, Path::new(name), &b"x"[..]).unwrap();
        b.finish().unwrap();
    }
    let archive = p.path().join("odd.tar");
    docker_archive(&[layer], "odd:1", &archive);
    for (base, shown) in [
        (format!("rootfs:{}", dir.display()), "file opt/\\xfe.conf"),
        (
            format!("docker-archive:{}", archive.display()),
            "member opt/\\xfe.conf",
        ),
    ] {
        let out = p.path().join("out.tar");
        let r = p.run(&[
            "scaffold",
            "tiny",
            "--base",
            &base,
            "--format",
            "docker-archive",
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 2, "{base}: {}", r.stderr);
        let line = r.stderr.trim().lines().last().unwrap_or_default();
        assert!(
            line.starts_with("error: ")
                && line.contains(&format!("the name of {shown} is not UTF-8")),
            "{base}: {line}"
        );
        assert!(!out.exists(), "{base}: something was written");
    }
}

/// A directory base holds paths as long as a tarball of the same tree (up to PATH_MAX), and
/// both pack them byte for byte.
#[test]
fn a_directory_base_takes_paths_as_long_as_a_tarball() {
    let p = tiny_project();
    let dir = p.path().join("long-root");
    let deep = format!("{}/f.conf", vec!["d".repeat(60); 5].join("/"));
    assert!(deep.len() > 300);
    std::fs::create_dir_all(dir.join(&deep).parent().unwrap()).unwrap();
    std::fs::write(dir.join(&deep), "deep").unwrap();
    let tarball = p.path().join("long-root.tar");
    tar_dir(&dir, &tarball, "");
    for base in [dir.clone(), tarball] {
        let out = p.path().join("long.tar");
        let _ = std::fs::remove_file(&out);
        p.run(&[
            "scaffold",
            "tiny",
            "--base",
            &format!("rootfs:{}", base.display()),
            "--format",
            "oci-archive",
            "-o",
            out.to_str().unwrap(),
        ])
        .ok();
        // The layer holding the base has the long path.
        let mut found = false;
        let mut outer = tar::Archive::new(std::fs::File::open(&out).unwrap());
        for e in outer.entries().unwrap() {
            let mut e = e.unwrap();
            let mut blob = Vec::new();
            e.read_to_end(&mut blob).unwrap();
            let dec: Box<dyn Read> = if blob.starts_with(&[0x1f, 0x8b]) {
                Box::new(flate2::read::GzDecoder::new(&blob[..]))
            } else {
                Box::new(&blob[..])
            };
            let mut inner = tar::Archive::new(dec);
            if let Ok(entries) = inner.entries() {
                for m in entries.flatten() {
                    let name = m.path_bytes();
                    if name.strip_prefix(b"./").unwrap_or(&name) == deep.as_bytes() {
                        found = true;
                    }
                }
            }
        }
        assert!(
            found,
            "{}: the {}-byte path is missing",
            base.display(),
            deep.len()
        );
    }
}
