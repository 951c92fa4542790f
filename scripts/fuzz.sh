#!/usr/bin/env bash
# Runs binship's fuzz targets with cargo-fuzz (libFuzzer; needs a nightly toolchain and
# `cargo install cargo-fuzz`): each for SECONDS (default 60), starting from and adding to the
# corpora in fuzz/corpus/<target>/ (seeded from fuzz/seeds/<target>/, made by code). Crashes land in fuzz/artifacts/<target>/; copy them into
# the corpus (they then replay in `cargo test`, crates/binship/tests/fuzz_corpus.rs) and fix.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-60}
for t in recipe base_import image_readers elf_buildinfo; do
  echo "== $t ($secs s)" >&2
  mkdir -p "corpus/$t"
  cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 2>&1 \
    | grep -E "^#[0-9]+.*(DONE|pulse)|Done [0-9]+ runs|ERROR|SUMMARY" | tail -3
done
