#!/usr/bin/env bash
# Benchmarks "publish once, compress once": a second push of the shared 15 MB payload
# (../shared/bench/goid) against `skopeo copy` of the same image from an OCI layout, side by
# side in one run, against Debian's docker-registry on 127.0.0.1. Rows (hyperfine):
#   - binship push to a new repository, the store's caches emptied first (compresses and runs
#     the image test: a first push);
#   - binship push to a new repository, layers from the store (a second push: binship mounts
#     the blobs from the repositories it pushed to before, so nothing is uploaded; the image
#     test's passed result is remembered for this image; the binary's digest is remembered);
#   - skopeo copy oci:LAYOUT docker://.../new-repo (uploads every blob);
#   - the same three to one repository that has the blobs already;
#   - scaffold --format oci without the image test, first (store emptied) and second write.
# A first binship push runs the image test (the image's own command, docker-free) before it
# pushes; skopeo copies a finished layout. Figures go to docs/performance.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bench=$(cd "$root/../shared/bench" && pwd)
cd "$root"
. scripts/lib/prereqs.sh
need_cargo
need go:golang-go hyperfine:hyperfine skopeo:skopeo docker-registry:docker-registry python3:python3
cargo build --release --locked -q -p binship
bin="$root/target/release/binship"
OUT=/tmp/bench-out bash "$bench/build.sh" >&2
payload=/tmp/bench-out/goid
. scripts/lib/goid-store.sh
goid_store "$bin" "$payload"
w=$(mktemp -d)
reg_pid=
cleanup() {
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null || true
  rm -rf "$w"
}
trap cleanup EXIT
. scripts/lib/registry.sh
start_registry "$w" error
reg=127.0.0.1:$port
layers="$BINSHIP_STORE/.binship/cache/layers"
# What a first push has not got: compressed layers, remembered image tests, file digests.
caches="$layers $BINSHIP_STORE/.binship/cache/image-tests $BINSHIP_STORE/.binship/cache/file-digests"
# The layout skopeo copies: the image binship pushes (same base, same bytes).
"$bin" scaffold goid --base scratch --no-image-test --format oci -o "$w/layout" >&2
"$bin" push goid "$reg/first" --base scratch >&2
skopeo copy -q --dest-tls-verify=false "oci:$w/layout" "docker://$reg/same-skopeo:v1" >&2
echo 0 >"$w/n"
next() { echo "n=\$(cat $w/n); echo \$((n+1)) >$w/n"; }
cold="rm -rf $caches"
hyperfine -N --warmup 2 --runs 15 \
  -p "$cold" -n "binship push, new repo, first (compresses)" \
  "sh -c '$(next); $bin push goid $reg/cold\$n --base scratch --json >/dev/null'" \
  -p true -n "binship push, new repo, second (layer store)" \
  "sh -c '$(next); $bin push goid $reg/warm\$n --base scratch --json >/dev/null'" \
  -p true -n "skopeo copy, new repo" \
  "sh -c '$(next); skopeo copy -q --dest-tls-verify=false oci:$w/layout docker://$reg/skopeo\$n:v1'" \
  -p true -n "binship push, same repo (layer store)" \
  "$bin push goid $reg/first --base scratch --json" \
  -p true -n "skopeo copy, same repo" \
  "skopeo copy -q --dest-tls-verify=false oci:$w/layout docker://$reg/same-skopeo:v1" \
  -p "$cold" -n "scaffold oci, first write (compresses)" \
  "$bin scaffold goid --base scratch --no-image-test --format oci -o $w/s1 --force" \
  -p true -n "scaffold oci, second write (layer store)" \
  "$bin scaffold goid --base scratch --no-image-test --format oci -o $w/s2 --force" \
  --export-markdown "$w/push.md" >&2
cat "$w/push.md"
echo "layer store: $(du -sh "$layers" | cut -f1)"
