#!/usr/bin/env bash
# Resource limits, measured (issue 12): peak RSS of packing a 1 GB binary (docker-archive with
# no compression, OCI with gzip and zstd), and `binship list` over a store of 50 versions each
# scaffolded in 3 formats. Prints a markdown table for docs/reliability.md. A benchmark whose
# output is committed, not a CI step (it writes ~4 GB to /var/tmp and takes a few minutes).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib/prereqs.sh
need_cargo
need busybox:busybox-static hyperfine:hyperfine
cargo build --release --locked -q -p binship
bin="$root/target/release/binship"
w=$(mktemp -d /var/tmp/binship-limits.XXXXXX)
trap 'rm -rf "$w"' EXIT
rss() { # peak RSS in MB of a command
  /usr/bin/time -f "%M" "$@" 2> "$w/time" >/dev/null || { cat "$w/time" >&2; exit 1; }
  echo "$(( $(tail -1 "$w/time") / 1024 ))"
}
# A 1 GB static binary: busybox-static with 1 GiB of random bytes appended (still a valid ELF).
mkdir -p "$w/big/src" "$w/big/images/standalone-binaries/big"
cp "$(command -v busybox)" "$w/big/src/busybox"
cat > "$w/big/images/standalone-binaries/big/binship.toml" <<'TOML'
name = "big"
binary = "busybox"
kind = "command"
source = "../../../src"
[build]
command = "cp busybox out && head -c 1073741824 /dev/urandom >> out"
output = "out"
[test]
service = false
[[test.command]]
name = "runs"
args = ["echo", "ok"]
stdout = "^ok"
TOML
cd "$w/big"
"$bin" build big >&2
size=$(stat -c %s images/standalone-binaries/big/big-binary-v.1/busybox)
echo "| what | figure |"
echo "|---|---|"
echo "| binary | $((size / 1048576)) MiB |"
for args in "--format docker-archive" "--format oci --compress gzip" "--format oci --compress zstd"; do
  rm -rf "$w/out"
  start=$(date +%s.%N)
  mb=$(rss "$bin" scaffold big $args -o "$w/out" --base scratch)
  end=$(date +%s.%N)
  echo "| pack 1 GiB binary, $args: peak RSS | $mb MB ($(printf %.1f "$(echo "$end - $start" | bc)") s) |"
done
# 50 versions x 3 formats in one store.
mkdir -p "$w/many/src" "$w/many/images/standalone-binaries/tiny"
cp "$(command -v busybox)" "$w/many/src/busybox"
cat > "$w/many/images/standalone-binaries/tiny/binship.toml" <<'TOML'
name = "tiny"
binary = "busybox"
kind = "command"
source = "../../../src"
[build]
command = "cp busybox out"
output = "out"
[test]
service = false
[[test.command]]
name = "runs"
args = ["echo", "ok"]
TOML
cd "$w/many"
mkdir -p "$w/many/out"
for v in $(seq 1 50); do
  "$bin" build tiny "$v" --force >/dev/null 2>&1
  for f in docker-archive oci oci-archive; do
    "$bin" scaffold tiny --version "$v" --format "$f" -o "$w/many/out/$v-$f" --base scratch >/dev/null 2>&1
  done
done
ms=$(hyperfine -N --warmup 3 --runs 30 --export-json "$w/h.json" "$bin list" >/dev/null 2>&1 && python3 -c "import json;print(round(json.load(open('$w/h.json'))['results'][0]['mean']*1000,1))")
echo "| \`binship list\`, 50 versions (150 images written from them) | $ms ms (mean of 30) |"
msj=$(hyperfine -N --warmup 3 --runs 30 --export-json "$w/h.json" "$bin list --json" >/dev/null 2>&1 && python3 -c "import json;print(round(json.load(open('$w/h.json'))['results'][0]['mean']*1000,1))")
echo "| \`binship list --json\`, same store | $msj ms (mean of 30) |"
