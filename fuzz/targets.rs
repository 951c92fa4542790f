// The fuzzed entry points, shared by the cargo-fuzz targets (fuzz/fuzz_targets/*.rs) and the
// stable replay test (crates/binship/tests/fuzz_corpus.rs), so both run exactly the same code.
// Each must return (Ok or Err) for any input: a panic, hang or abort is the bug.

/// Recipe parsing and validation.
pub fn recipe(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = binship_recipe::Recipe::parse(text, std::path::Path::new("fuzz/binship.toml"));
    }
}

/// The base importer's member checks over a raw (maybe compressed) tar stream.
pub fn base_import(data: &[u8]) {
    let limits = binship_image::import::Limits {
        max_members: 10_000,
        max_name: 4096,
        max_depth: 64,
        max_file_size: 1 << 20,
        max_total: 8 << 20,
    };
    let mut view = binship_image::import::View::default();
    let _ = binship_image::import::scan_tar(data, "fuzz", &mut view, &limits);
}

/// The OCI archive and docker-archive readers, then the shared validator, over bytes written
/// to a temp file (the readers index a file).
pub fn image_readers(data: &[u8]) {
    let dir = std::env::temp_dir().join(format!("binship-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("image.tar");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    for format in ["oci-archive", "docker-archive"] {
        let sink = binship_sink::sink_for(format).expect("format");
        if let Ok(reader) = sink.open(&path) {
            let _ = binship_image::validate::validate(&*reader, &Default::default());
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// ELF facts and Go build info / cargo-auditable data.
pub fn elf_buildinfo(data: &[u8]) {
    let p = std::path::Path::new("fuzz.bin");
    let _ = binship_build::elf::inspect(p, data);
    let _ = binship_sign::sbom::inventory_of(p, data);
}
