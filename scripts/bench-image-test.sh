#!/usr/bin/env bash
# Benchmarks the image test (issue 19): `binship scaffold` of the shared 15 MB Go payload
# (../shared/bench/goid) into a docker-archive on the scratch and static bases, with the image
# test (the default: unpack the image, start it in binship's runner, readiness + GET /id,
# SIGTERM) and with --no-image-test. The difference of the means is the per-image overhead.
# Then the same payload as an LXC image on the Debian systemd base (scripts/make-debian-base.sh):
# with the image test, scaffold boots it in LXC and checks the service its init started.
# Prints hyperfine's tables; figures go to docs/performance.md. Needs root (the runner's
# namespaces) and, for the LXC part, lxc (skipped with a line when missing).
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
if ! command -v lxc-start >/dev/null; then
  echo "LXC part skipped: lxc-start is not installed (apt-get install lxc)"
  exit 0
fi
deb=$(bash scripts/make-debian-base.sh systemd)
printf '[container]\nports = [7001]\nenv = { PORT = "7001" }\n' >> "$BINSHIP_STORE/goid/binship.toml"
hyperfine -N --warmup 1 --runs 5 \
  -n lxc-no-image-test "$bin scaffold goid --base rootfs:$deb --format lxc --level 0 -o $w/l --force --no-image-test" \
  -n lxc-image-test "$bin scaffold goid --base rootfs:$deb --format lxc --level 0 -o $w/l --force" \
  --export-markdown "$w/lxc.md" >&2
cat "$w/lxc.md"
cat "$w/l.image-tests.json"
