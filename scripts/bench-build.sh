#!/usr/bin/env bash
# Benchmarks `binship build` on the go-id example: a full build (cold and warm Go cache), a
# forced rebuild, and the cache hit of an unchanged source. Uses hyperfine (installed from
# Debian when root). Prints a markdown table; figures go to docs/performance.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib/prereqs.sh
need_cargo
need go:golang-go hyperfine:hyperfine git:git
cargo build --release --locked -q -p binship
bin="$root/target/release/binship"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/examples" "$work/images/standalone-binaries/go-id"
cp -r examples/go-id "$work/examples/"
cp images/standalone-binaries/go-id/binship.toml "$work/images/standalone-binaries/go-id/"
cd "$work"
git init -q && git add . && git -c user.name=b -c user.email=b@example.com commit -qm bench
export GOCACHE="$work/gocache"
echo "cold build (empty GOCACHE):" >&2
hyperfine -N --runs 3 --prepare "rm -rf $work/gocache $work/images/standalone-binaries/go-id/go-id-binary-v.1" \
  "$bin build go-id 1 --force" --export-markdown "$work/cold.md" >&2
echo "warm build (Go cache warm, forced):" >&2
hyperfine -N --warmup 1 --runs 5 "$bin build go-id 1 --force" --export-markdown "$work/warm.md" >&2
echo "cache hit (unchanged source):" >&2
hyperfine -N --warmup 3 --runs 50 "$bin build go-id" --export-markdown "$work/hit.md" >&2
"$bin" build go-id --json | python3 -c 'import json,sys; r=json.load(sys.stdin)["results"]; print("binary: %d bytes, build %d ms, tests %d ms (%d/%d passed)" % (r["binary"]["size"], r["build_duration_ms"], r["test_duration_ms"], r["passed"], r["total"]))'
cat "$work/cold.md" "$work/warm.md" "$work/hit.md"
