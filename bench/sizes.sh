#!/usr/bin/env bash
# The seed's size table, measured: go-id packed five ways, bytes compressed (gzip OCI layers)
# and uncompressed. Writes docs/sizes.md and docs/sizes.svg. Heavy (debootstrap, apt-get
# install golang-go in a chroot, ~3-5 min once): a benchmark whose output is committed, not a
# CI step. Needs root and the network to Debian's mirror.
#   traditional  Debian 12 + Debian's golang + the source, built inside (the seed's 169 MB way)
#   debian       Debian 12 minbase + the tested binary
#   alpine-like  busybox-static rootfs with an Alpine os-release + the binary (no registry is
#                reachable here, so not the official alpine-minirootfs; see the note it writes)
#   static       binship's distroless-like base + the binary
#   scratch      the binary alone
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib/prereqs.sh
need_cargo
need go:golang-go debootstrap:debootstrap
dpkg -s busybox-static >/dev/null 2>&1 || apt_install busybox-static
cargo build --release --locked -q -p binship
bin="$root/target/release/binship"
debian=$(bash scripts/make-debian-base.sh minbase)
w=$(mktemp -d /var/tmp/binship-sizes.XXXXXX)
trap 'umount "$w/trad/proc" 2>/dev/null || true; rm -rf "$w"' EXIT
# A project with go-id built and tested once.
mkdir -p "$w/p/examples" "$w/p/images/standalone-binaries/go-id"
cp -r examples/go-id "$w/p/examples/"
cp images/standalone-binaries/go-id/binship.toml "$w/p/images/standalone-binaries/go-id/"
cd "$w/p"
"$bin" build go-id >&2
# The traditional image: Debian + golang-go + source, built inside.
mkdir "$w/trad"
tar -C "$w/trad" -xzf "$debian"
printf '#!/bin/sh\nexit 101\n' > "$w/trad/usr/sbin/policy-rc.d"; chmod +x "$w/trad/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$w/trad/etc/resolv.conf" 2>/dev/null || true
mount -t proc proc "$w/trad/proc"
chroot "$w/trad" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-go ca-certificates' >&2
cp -r "$root/examples/go-id" "$w/trad/src"
chroot "$w/trad" sh -c 'cd /src && CGO_ENABLED=0 GOPROXY=off GOFLAGS=-mod=mod go build -o /usr/local/bin/go-id-built .' >&2
umount "$w/trad/proc"
rm -f "$w/trad/usr/sbin/policy-rc.d"
# The Alpine-like rootfs.
a="$w/alpine"; mkdir -p "$a/bin" "$a/etc" "$a/tmp"
cp /bin/busybox "$a/bin/busybox"; for x in sh ls cat wget; do ln -s busybox "$a/bin/$x"; done
printf 'ID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME="Alpine-like (busybox-static)"\n' > "$a/etc/os-release"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n' > "$a/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' > "$a/etc/group"
row() {  # name base
  "$bin" scaffold go-id --base "$2" --format oci-archive --compress gzip -o "$w/$1.oci.tar" --force --service none --json \
    | python3 -c 'import json,sys; j=json.load(sys.stdin); s=j["sizes"]; print(sys.argv[1], s["binary"], s["image_compressed"], s["image_uncompressed"])' "$1"
}
{
  row traditional "rootfs:$w/trad"
  row debian "rootfs:$debian"
  row alpine-like "rootfs:$a"
  row static static
  row scratch scratch
} > "$w/rows"
cat "$w/rows" >&2
python3 - "$w/rows" "$root/docs/sizes.md" "$root/docs/sizes.svg" <<'PY'
import sys, datetime
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
rows = [(n, int(b), int(c), int(u)) for n, b, c, u in rows]
mb = lambda x: f"{x/1e6:.1f} MB"
what = {
    "traditional": "Debian 12 minbase + Debian's golang-go + source, built inside",
    "debian": "Debian 12 minbase + tested binary",
    "alpine-like": "busybox-static rootfs (Alpine os-release) + tested binary",
    "static": "binship static base (distroless-like) + tested binary",
    "scratch": "tested binary only",
}
trad = rows[0][2]
with open(sys.argv[2], "w") as f:
    f.write("# Image sizes for go-id, measured\n\n")
    f.write(f"Made by `bench/sizes.sh` on {datetime.date.today()} (a benchmark, not a CI step). ")
    f.write("Compressed = gzip OCI layers + config (what a registry stores and a pull moves); ")
    f.write("uncompressed = the layer tars (what `docker images` shows).\n\n")
    f.write("![sizes](sizes.svg)\n\n")
    f.write("| image | what | compressed | uncompressed | vs traditional |\n|---|---|---:|---:|---:|\n")
    for n, b, c, u in rows:
        f.write(f"| {n} | {what[n]} | {mb(c)} | {mb(u)} | {100*(1-c/trad):.0f}% smaller |\n" if n != "traditional" else f"| {n} | {what[n]} | {mb(c)} | {mb(u)} | - |\n")
    f.write(f"\nThe binary itself: {mb(rows[-1][1])}. The seed promised \"Alpine 25 MB vs Debian 169 MB (85% smaller)\"; ")
    f.write("here the traditional image is the one to compare against, and Alpine's own "
            "minirootfs (a ~3 MB download per Alpine, not reachable from this machine, not measured here) would land near the alpine-like row.\n")
W, bar_h, gap, left = 720, 28, 14, 150
maxv = max(u for _, _, _, u in rows)
H = 40 + len(rows) * (2 * bar_h + gap)
out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="13">',
       '<text x="10" y="20" font-weight="bold">go-id image size (MB): dark = compressed, light = uncompressed</text>']
y = 34
for n, b, c, u in rows:
    for v, color in ((c, "#2b6cb0"), (u, "#90cdf4")):
        wpx = max(2, int((W - left - 90) * v / maxv))
        out.append(f'<rect x="{left}" y="{y}" width="{wpx}" height="{bar_h - 4}" fill="{color}"/>')
        out.append(f'<text x="{left + wpx + 6}" y="{y + bar_h - 10}">{v/1e6:.1f}</text>')
        y += bar_h
    out.append(f'<text x="10" y="{y - bar_h - 2}">{n}</text>')
    y += gap
out.append("</svg>")
open(sys.argv[3], "w").write("\n".join(out) + "\n")
PY
echo "wrote docs/sizes.md and docs/sizes.svg" >&2
