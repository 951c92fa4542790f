//! The fuzz targets' inputs on stable: every saved corpus file and every crash artifact of
//! fuzz/ replays through the same entry points (fuzz/targets.rs) the libFuzzer targets use, and
//! property tests throw random and mutated inputs at the same parsers.

mod common;
use common::repo_root;

#[path = "../../../fuzz/targets.rs"]
mod targets;

use proptest::prelude::*;

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("recipe", targets::recipe),
    ("base_import", targets::base_import),
    ("image_readers", targets::image_readers),
    ("elf_buildinfo", targets::elf_buildinfo),
];

#[test]
fn every_saved_fuzz_input_replays_without_a_panic() {
    let mut total = 0;
    for (name, run) in TARGETS {
        let mut n = 0;
        for dir in ["fuzz/seeds", "fuzz/corpus", "fuzz/artifacts"] {
            let Ok(rd) = std::fs::read_dir(repo_root().join(dir).join(name)) else {
                continue;
            };
            for e in rd.flatten() {
                let bytes = std::fs::read(e.path()).unwrap();
                run(&bytes);
                n += 1;
            }
        }
        assert!(n > 0, "no saved inputs for {name}");
        total += n;
    }
    eprintln!("replayed {total} saved fuzz inputs");
}

fn seed(target: &str, file: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("fuzz/seeds").join(target).join(file)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn recipes_with_random_edits_never_panic(cut in 0usize..1651, noise in "[\\[\\]=\"'{}a-z0-9\\n ._-]{0,80}") {
        let text = String::from_utf8(seed("recipe", "go-id.toml")).unwrap();
        let cut = cut.min(text.len());
        let cut = (0..=cut).rev().find(|c| text.is_char_boundary(*c)).unwrap();
        let mutated = format!("{}{noise}{}", &text[..cut], &text[cut..]);
        targets::recipe(mutated.as_bytes());
    }

    #[test]
    fn image_archives_with_flipped_bytes_never_panic(at in 0usize..20480, byte in any::<u8>(), which in 0usize..2) {
        let mut b = seed("image_readers", ["docker-archive.tar", "oci-archive.tar"][which]);
        let at = at % b.len();
        b[at] = byte;
        targets::image_readers(&b);
    }

    #[test]
    fn elf_and_build_info_with_random_bytes_never_panic(noise in prop::collection::vec(any::<u8>(), 0..2048), at in 0usize..8192) {
        let mut b = seed("elf_buildinfo", "go-header-buildinfo");
        let at = at % b.len();
        let end = (at + noise.len()).min(b.len());
        b[at..end].copy_from_slice(&noise[..end - at]);
        targets::elf_buildinfo(&b);
        targets::elf_buildinfo(&noise);
    }
}
