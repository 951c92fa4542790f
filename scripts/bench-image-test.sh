#!/usr/bin/env bash
# Benchmarks the image test (issue 19): `binship scaffold` of the shared 15 MB Go payload
# (../shared/bench/goid) into a docker-archive on the scratch and static bases, with the image
# test (the default: unpack the image, start it in binship's runner, readiness + GET /id,
# SIGTERM) and with --no-image-test. The difference of the means is the per-image overhead.
# Prints hyperfine's table; figures go to docs/performance.md. Needs root (the runner's
# namespaces).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bench=$(cd "$root/../shared/bench" && pwd)
cd "$root"
. scripts/lib/prereqs.sh
need_cargo
need go:golang-go hyperfine:hyperfine
cargo build --release --locked -q -p binship
bin="$root/target/release/binship"
OUT=/tmp/bench-out bash "$bench/build.sh" >&2
. scripts/lib/goid-store.sh
goid_store "$bin" /tmp/bench-out/goid
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
hyperfine -N --warmup 2 --runs 15 \
  -n scratch-no-image-test "$bin scaffold goid --base scratch -o $w/a.tar --force --no-image-test" \
  -n scratch-image-test "$bin scaffold goid --base scratch -o $w/a.tar --force" \
  -n static-no-image-test "$bin scaffold goid --base static -o $w/b.tar --force --no-image-test" \
  -n static-image-test "$bin scaffold goid --base static -o $w/b.tar --force" \
  --export-markdown "$w/image-test.md" >&2
cat "$w/image-test.md"
cat "$w/a.tar.image-tests.json"
