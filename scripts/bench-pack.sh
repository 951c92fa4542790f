#!/usr/bin/env bash
# Benchmarks `binship scaffold` packing the shared 15 MB Go payload (../shared/bench/goid)
# into images: docker-archive (raw layer), OCI archive with gzip and with zstd, on the scratch
# base (as the peers' FROM scratch), without the image test (scripts/bench-image-test.sh
# measures it). Then runs the peer harness with binship rows added.
# Prints hyperfine's tables and the peers table; figures go to docs/performance.md.
# Usage: scripts/bench-pack.sh [--no-peers | --peers LIST]
#   LIST: peers.sh rows (default umoci,ref_docker_archive,ref_oci_gzip). The docker rows need a
#   daemon at DOCKER_HOST; buildah and podman rows need those tools.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bench=$(cd "$root/../shared/bench" && pwd)
cd "$root"
. scripts/lib/prereqs.sh
need_cargo
need go:golang-go hyperfine:hyperfine umoci:umoci python3:python3 pigz:pigz libdeflate-gzip:libdeflate-tools
cargo build --release --locked -q -p binship
bin="$root/target/release/binship"
OUT=/tmp/bench-out bash "$bench/build.sh" >&2
payload=/tmp/bench-out/goid

. scripts/lib/goid-store.sh
goid_store "$bin" "$payload"
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
hyperfine -N --warmup 2 --runs 15 \
  -n raw-docker-archive "$bin scaffold goid --base scratch --no-image-test -o $w/a.tar --force" \
  -n gzip-oci-archive "$bin scaffold goid --base scratch --no-image-test --format oci-archive -o $w/b.tar --force" \
  -n zstd-oci-archive "$bin scaffold goid --base scratch --no-image-test --format oci-archive --compress zstd -o $w/c.tar --force" \
  -n gzip-oci-layout "$bin scaffold goid --base scratch --no-image-test --format oci -o $w/d --force" \
  --export-markdown "$w/pack.md" >&2
ls -l "$w"/*.tar >&2
cat "$w/pack.md"
peers=umoci,ref_docker_archive,ref_oci_gzip
[ "${1:-}" = "--peers" ] && peers=$2
if [ "${1:-}" != "--no-peers" ]; then
  b="BINSHIP_STORE=$store $bin scaffold goid --base scratch --no-image-test --force -o \"\$OUT\""
  bash "$bench/peers.sh" --only "$peers" \
    --add "binship_raw=$b" \
    --add "binship_gzip=$b --format oci-archive" \
    --add "binship_zstd=$b --format oci-archive --compress zstd"
fi
