#!/usr/bin/env bash
# Makes (once) a Debian bookworm minbase rootfs tarball for the tests, cached outside the repo:
# ${BINSHIP_TEST_CACHE:-/var/cache/binship-tests}/debian-bookworm-minbase.tar.gz. Prints its path.
# Needs root and Debian's debootstrap (installed when missing); the mirror is the host's.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib/prereqs.sh"
cache=${BINSHIP_TEST_CACHE:-/var/cache/binship-tests}
out="$cache/debian-bookworm-minbase.tar.gz"
if [ -s "$out" ]; then echo "$out"; exit 0; fi
need debootstrap:debootstrap
mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1)
[ -n "$mirror" ] || mirror=$(awk '$1=="deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
mkdir -p "$cache"
work=$(mktemp -d "$cache/.debootstrap.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "debootstrap --variant=minbase bookworm from $mirror (once; cached in $cache)" >&2
debootstrap --variant=minbase bookworm "$work/root" "$mirror" >"$work/log" 2>&1 || { tail -20 "$work/log" >&2; exit 1; }
rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*
tar --numeric-owner --xattrs -C "$work/root" -czf "$work/base.tar.gz" .
mv "$work/base.tar.gz" "$out"
echo "$out"
