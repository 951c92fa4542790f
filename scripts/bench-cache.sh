#!/usr/bin/env bash
# Benchmarks the shared build cache against Debian's docker-registry on 127.0.0.1, all in one
# run so the ratios compare like with like:
#   - machine A's cold build of go-id (empty GOCACHE; includes the miss and the publish);
#   - machine B's cache hit (its own empty GOCACHE and store): time, and its ratio to A's build;
#   - the miss: `build --cache-required` of a source nobody built (key, look-up, exit 3), next
#     to the same store's local "up to date" answer (key only): the difference is the look-up;
#   - requests and bytes the registry saw for a miss, a publish and a hit (its access log);
#   - `update --all --jobs 2` against `--jobs 1` over 20 small C apps (c-health copies).
# Uses hyperfine (installed from Debian when root). Figures go to docs/performance.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib/prereqs.sh
need_cargo
need go:golang-go hyperfine:hyperfine git:git docker-registry:docker-registry gcc:gcc python3:python3
need_static_libc
cargo build --release --locked -q -p binship
bin="$root/target/release/binship"
work=$(mktemp -d)
reg_pid=
cleanup() {
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

. scripts/lib/registry.sh
start_registry "$work" info
cache="127.0.0.1:$port/team/binship-cache"

machine() { # machine DIR: go-id with [cache], in git, its own GOCACHE and HOME
  local d=$1
  mkdir -p "$d/examples" "$d/images/standalone-binaries/go-id" "$d/home"
  cp -r examples/go-id "$d/examples/"
  cp images/standalone-binaries/go-id/binship.toml "$d/images/standalone-binaries/go-id/"
  printf '\n[cache]\nregistry = "%s"\n' "$cache" >>"$d/images/standalone-binaries/go-id/binship.toml"
  (cd "$d" && git init -q && git add . && git -c user.name=b -c user.email=b@example.com commit -qm bench)
}
# requests in the registry's access log so far
requests() { grep -cE '"(GET|HEAD|PUT|POST|PATCH|DELETE) /v2/' "$work/reg.log" || true; }
in_machine() { # in_machine DIR CMD...: runs with DIR's GOCACHE, GOPATH and HOME
  local d=$1
  shift
  (cd "$d" && HOME="$d/home" GOCACHE="$d/home/gocache" GOPATH="$d/home/gopath" "$@")
}
ms() { python3 -c 'import time; print(int(time.time()*1000))'; }

machine "$work/a"
machine "$work/b"

# A: cold build (empty Go cache), with the miss and the publish.
r0=$(requests)
t0=$(ms)
in_machine "$work/a" "$bin" build go-id --json >"$work/a.json"
t1=$(ms)
r1=$(requests)
a_ms=$((t1 - t0))
a_pub=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["cache_publish"]["status"], j["cache_publish"]["bytes_uploaded"])' "$work/a.json")

# B: the hit, timed by hyperfine (the version removed before each run).
vdir="$work/b/images/standalone-binaries/go-id/go-id-binary-v.1"
r2=$(requests)
in_machine "$work/b" "$bin" build go-id --json >"$work/b.json"
r3=$(requests)
hit_bytes=$(python3 -c 'import json,sys,os; j=json.load(open(sys.argv[1])); d=j["dir"]; print(sum(os.path.getsize(os.path.join(r,f)) for r,_,fs in os.walk(d) for f in fs if f not in ("test-results.json","README.md")))' "$work/b.json")
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["cache"]=="hit", j["cache"]' "$work/b.json"
in_machine "$work/b" hyperfine -N --warmup 1 --runs 10 --prepare "rm -rf $vdir" \
  "$bin build go-id" --export-json "$work/hit.json" --export-markdown "$work/hit.md" >&2

# The miss: a source nobody built; and the key alone (up to date, no look-up).
echo "// changed" >>"$work/b/examples/go-id/main.go"
r4=$(requests)
in_machine "$work/b" "$bin" build go-id --cache-required >/dev/null 2>&1 || true
r5=$(requests)
in_machine "$work/b" hyperfine -N -i --warmup 2 --runs 30 \
  "$bin build go-id --cache-required" --export-json "$work/miss.json" --export-markdown "$work/miss.md" >&2
git -C "$work/b" checkout -q examples/go-id/main.go
in_machine "$work/b" hyperfine -N --warmup 2 --runs 30 \
  "$bin build go-id" --export-json "$work/key.json" --export-markdown "$work/key.md" >&2

# update --jobs over 20 small C apps.
u="$work/u"
mkdir -p "$u/images/standalone-binaries"
for i in $(seq -w 1 20); do
  mkdir -p "$u/src/c$i" "$u/images/standalone-binaries/c$i"
  cp examples/c-health/main.c "$u/src/c$i/"
  sed -e "0,/^name = .*/s//name = \"c$i\"/" -e "s|^source = .*|source = \"../../../src/c$i\"|" \
    images/standalone-binaries/c-health/binship.toml >"$u/images/standalone-binaries/c$i/binship.toml"
done
wipe="rm -rf $u/images/standalone-binaries/c*/c*-binary-v.* $u/images/standalone-binaries/c*/current $u/images/standalone-binaries/c*/history.jsonl"
(cd "$u" && hyperfine -N --runs 3 --prepare "sh -c '$wipe'" \
  "$bin update --all --jobs 1" "$bin update --all --jobs 2" \
  --export-json "$work/jobs.json" --export-markdown "$work/jobs.md" >&2)

python3 - "$work" "$a_ms" "$a_pub" "$((r1 - r0))" "$((r3 - r2))" "$((r5 - r4))" "$hit_bytes" <<'EOF'
import json, sys
work, a_ms, a_pub, a_req, hit_req, miss_req, hit_bytes = sys.argv[1:]
mean = lambda f, i=0: json.load(open(f"{work}/{f}"))["results"][i]["mean"] * 1000
hit, miss, key = mean("hit.json"), mean("miss.json"), mean("key.json")
j1, j2 = mean("jobs.json", 0), mean("jobs.json", 1)
status, up = a_pub.split()
print(f"A cold build (miss + build + tests + publish): {int(a_ms)} ms; publish {status}, {int(up)/1e6:.1f} MB uploaded; {a_req} registry requests")
print(f"B cache hit: {hit:.0f} ms mean = {hit/int(a_ms):.3f}x A's cold build (target <= 1000 ms and <= 0.1x); {hit_req} requests, {int(hit_bytes)/1e6:.1f} MB of blobs")
print(f"miss (--cache-required, exit 3): {miss:.0f} ms; key only (up to date): {key:.0f} ms; look-up = {miss-key:.0f} ms (target <= 50 ms); {miss_req} requests")
print(f"update --all over 20 C apps: --jobs 1 {j1:.0f} ms, --jobs 2 {j2:.0f} ms = {j2/j1:.2f}x (target <= 0.65x)")
EOF
cat "$work/hit.md" "$work/miss.md" "$work/key.md" "$work/jobs.md"
