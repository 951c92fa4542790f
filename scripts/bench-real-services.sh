#!/usr/bin/env bash
# Three real third-party services packed as a user packs them (issue 19), each end to end:
#   mini-httpd  C     Debian bookworm's source package (scripts/get-debian-source.sh)
#   go-httpbin  Go    v2.14.0, standard library only: a clone of github.com/mccutchen/go-httpbin
#                     at tag v2.14.0 in $GO_HTTPBIN_SRC (the Go module proxy is not reachable:
#                     no `go get`; v2.14.1+ need Go 1.21)
#   http-static Rust  1.0.0 from crates.io (cargo fetches it; 20 crates)
# For each: `binship init` (what it found), the recipe edits a user makes (printed), `build`
# (timed, release binship), `scaffold` on static and scratch (sizes), the image test's
# overhead (hyperfine: scaffold vs scaffold --no-image-test), then `deploy` to docker and
# podman (daemons in a temp dir, host network, GET / on 127.0.0.1) and to LXC (booted by
# systemd on the Debian base, healthy when binship-probe passes inside). Prints one table.
# Needs root, hyperfine, docker.io, podman, lxc, debootstrap (scripts/test.sh installs them).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib/prereqs.sh
need_cargo
need go:golang-go hyperfine:hyperfine dpkg-source:dpkg-dev make:make dockerd:docker.io podman:podman lxc-create:lxc
: "${GO_HTTPBIN_SRC:?set GO_HTTPBIN_SRC to a clone of github.com/mccutchen/go-httpbin at v2.14.0}"
cargo build --release --locked -q -p binship
bin="$root/target/release/binship"
w=$(mktemp -d /tmp/bench-real.XXXXXX)
cleanup() {
  [ -f "$w/dockerd.pid" ] && kill "$(cat "$w/dockerd.pid")" 2>/dev/null || true
  for c in "$w"/lxc/*/; do [ -d "$c" ] && lxc-stop -P "$w/lxc" -n "$(basename "$c")" -k >/dev/null 2>&1 || true; done
  for c in "$w"/lxc/*/; do [ -d "$c" ] && lxc-destroy -P "$w/lxc" -n "$(basename "$c")" -f >/dev/null 2>&1 || true; done
  sleep 1
  grep " $w" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$w"
}
trap cleanup EXIT
export BINSHIP_STORE="$w/store"
mkdir -p "$w/store" "$w/src" "$w/lxc"
git -C "$w/store" init -q

# Sources.
cp -a "$(bash scripts/get-debian-source.sh mini-httpd)" "$w/src/mini-httpd"
cp -a "$GO_HTTPBIN_SRC" "$w/src/go-httpbin"
(cd "$w/src" && cargo new -q --vcs none fetch && cd fetch && cargo add -q http-static@=1.0.0 && cargo fetch -q)
cp -a "$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/http-static-1.0.0 | head -1)" "$w/src/http-static"

# The recipe edits, per service (appended or replaced in what init wrote).
edit() { # APP PYTHON-EXPR over the recipe text `r`
  python3 - "$w/store/$1/binship.toml" "$2" <<'PY'
import sys
p, expr = sys.argv[1], sys.argv[2]
r = open(p).read()
r = eval(expr)
open(p, "w").write(r)
PY
}
site() { mkdir -p "$w/store/$1/site"; echo "<h1>$1 packed by binship</h1>" > "$w/store/$1/site/index.html"; }

"$bin" init mini-httpd --kind command --source "$w/src/mini-httpd" 2>&1 | sed 's/^/  /' >&2
site mini-httpd
edit mini-httpd 'r.replace("port = \"auto\"", "port = \"auto\"\nargs = [\"-D\", \"-h\", \"127.0.0.1\", \"-d\", \"{root}/srv/www\", \"-l\", \"/dev/null\"]\nstop_exit = [1]") + "\n[[test.http]]\nname = \"index\"\npath = \"/\"\nbody = \"packed by binship\"\n\n[container]\nargs = [\"-D\", \"-h\", \"127.0.0.1\", \"-d\", \"/srv/www\", \"-l\", \"/dev/null\", \"-p\", \"8080\"]\nports = [8080]\nprobe = true\n\n[[container.files]]\nsource = \"site\"\ntarget = \"/srv/www\"\n"'

"$bin" init go-httpbin --kind go --source "$w/src/go-httpbin" 2>&1 | sed 's/^/  /' >&2
edit go-httpbin 'r + "\n[[test.http]]\nname = \"get\"\npath = \"/get\"\nbody = \"\\\"url\\\"\"\n\n[container]\nargs = [\"-host\", \"127.0.0.1\", \"-port\", \"8080\"]\nports = [8080]\nprobe = true\n"'

"$bin" init http-static --kind rust --source "$w/src/http-static" 2>&1 | sed 's/^/  /' >&2
site http-static
edit http-static 'r.replace("port = \"auto\"", "port = \"auto\"\nargs = [\"-d\", \"{root}/srv/www\"]").replace("# flags = [\"--locked\"]", "flags = [\"--locked\"]") + "\n[[test.http]]\nname = \"index\"\npath = \"/\"\nbody = \"packed by binship\"\n\n[container]\nargs = [\"-d\", \"/srv/www\", \"--port\", \"8080\"]\nports = [8080]\nprobe = true\n\n[[container.files]]\nsource = \"site\"\ntarget = \"/srv/www\"\n"'

# Engines of our own.
dockerd --data-root "$w/docker" --exec-root "$w/exec" --pidfile "$w/dockerd.pid" \
  -H "unix://$w/docker.sock" --bridge=none --iptables=false --ip6tables=false >"$w/dockerd.log" 2>&1 &
export DOCKER_HOST="unix://$w/docker.sock"
for _ in $(seq 60); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
podman_engine="podman --root $w/podman/root --runroot $w/podman/run --tmpdir $w/podman/tmp --runtime runc --cgroup-manager cgroupfs --events-backend none"
debian=$(bash scripts/make-debian-base.sh systemd)
printf 'lxc.net.0.type = empty\nlxc.net.0.flags = up\nlxc.apparmor.profile = unconfined\n' > "$w/lxc.conf"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
get() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/"; }
size() { stat -c %s "$1" | awk '{printf "%.1f MB", $1/1e6}'; }

rows=()
for app in mini-httpd go-httpbin http-static; do
  echo "== $app" >&2
  start=$(date +%s%N)
  "$bin" build "$app" >&2
  build_s=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN {printf "%.1f", (b - a) / 1e9}')
  bin_size=$(size "$w/store/$app/$app-binary-v.1/$app")
  "$bin" scaffold "$app" --base static -o "$w/$app-static.tar" >&2
  "$bin" scaffold "$app" --base scratch -o "$w/$app-scratch.tar" >&2
  hyperfine -N --warmup 1 --runs 10 --export-json "$w/$app-it.json" \
    -n no-image-test "$bin scaffold $app -o $w/$app-b.tar --force --no-image-test" \
    -n image-test "$bin scaffold $app -o $w/$app-b.tar --force" >&2
  overhead=$(python3 -c 'import json,sys; r={x["command"]:x["mean"] for x in json.load(open(sys.argv[1]))["results"]}; print("%.0f ms" % ((r["image-test"]-r["no-image-test"])*1000))' "$w/$app-it.json")
  p1=$(port); "$bin" deploy "$app" --to docker --port "$p1" >&2; d=$(get "$p1")
  p2=$(port); "$bin" deploy "$app" --to podman --port "$p2" --engine "$podman_engine" \
    --engine-run-args "--ulimit nofile=20000:20000 --ulimit nproc=32768:32768" >&2; pm=$(get "$p2")
  $podman_engine rm -f "$app" >/dev/null 2>&1 || true
  docker rm -f "$app" >/dev/null 2>&1 || true
  if "$bin" deploy "$app" --to lxc --base "rootfs:$debian" --lxcpath "$w/lxc" --lxc-conf "$w/lxc.conf" >&2; then l=healthy; else l=failed; fi
  rows+=("| $app | $build_s s | $bin_size | $(size "$w/$app-static.tar") | $(size "$w/$app-scratch.tar") | $overhead | $d | $pm | $l |")
done
echo "| service | build | binary | image (static) | image (scratch) | image-test overhead | docker GET / | podman GET / | LXC boot |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
for app in mini-httpd go-httpbin http-static; do echo "--- $app recipe"; grep -v '^#' "$w/store/$app/binship.toml" | grep -v '^$'; done
