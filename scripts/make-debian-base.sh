#!/usr/bin/env bash
# Makes (once) a Debian bookworm minbase rootfs tarball for the tests, cached outside the repo:
# ${BINSHIP_TEST_CACHE:-/var/cache/binship-tests}/debian-bookworm-<variant>.tar.gz. Prints its path.
# Variants: minbase (default); systemd, openrc, supervisor (minbase + that service manager,
# installed with apt-get in a chroot, services kept from starting by a policy-rc.d).
# Needs root and Debian's debootstrap (installed when missing); the mirror is the host's.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib/prereqs.sh"
variant=${1:-minbase}
case "$variant" in
  minbase) pkgs="" ;;
  systemd) pkgs="systemd-sysv" ;;
  openrc) pkgs="openrc sysvinit-core" ;;
  supervisor) pkgs="supervisor" ;;
  *) echo "unknown variant $variant (minbase, systemd, openrc, supervisor)" >&2; exit 2 ;;
esac
cache=${BINSHIP_TEST_CACHE:-/var/cache/binship-tests}
out="$cache/debian-bookworm-$variant.tar.gz"
if [ -s "$out" ]; then echo "$out"; exit 0; fi
need debootstrap:debootstrap
mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1)
[ -n "$mirror" ] || mirror=$(awk '$1=="deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
mkdir -p "$cache"
# Tests ask for the same base at once: one makes it, the others wait and reuse it.
exec 9>"$cache/.lock-$variant"
flock 9
if [ -s "$out" ]; then echo "$out"; exit 0; fi
work=$(mktemp -d "$cache/.debootstrap.XXXXXX")
mounted=""
# The cleanup never fails: under set -e a failing command in an EXIT trap would replace the
# script's exit status (umount of an already unmounted /proc exits 32).
cleanup() {
  if [ -n "$mounted" ]; then umount "$mounted" 2>/dev/null || true; fi
  rm -rf "$work" || true
}
trap cleanup EXIT
echo "debootstrap --variant=minbase bookworm from $mirror (once; cached in $cache)" >&2
debootstrap --variant=minbase bookworm "$work/root" "$mirror" >"$work/log" 2>&1 || { tail -20 "$work/log" >&2; exit 1; }
if [ -n "$pkgs" ]; then
  r="$work/root"
  printf '#!/bin/sh\nexit 101\n' > "$r/usr/sbin/policy-rc.d"; chmod +x "$r/usr/sbin/policy-rc.d"
  mount -t proc proc "$r/proc"
  mounted="$r/proc"
  # shellcheck disable=SC2086
  chroot "$r" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs >"$work/log" 2>&1 \
    || { tail -20 "$work/log" >&2; exit 1; }
  umount "$r/proc"
  mounted=""
  rm -f "$r/usr/sbin/policy-rc.d"
  if [ "$variant" = openrc ] && [ -f "$r/etc/inittab" ]; then
    # As ../shared/engines.md found: no powerfail waits, fewer gettys, so stops are quick.
    sed -i -e 's/^\(p[fno0-9]*\):.*powerfail.*$/p0::powerfail:\/sbin\/init 0/' -e '/^[56]:/d' "$r/etc/inittab"
  fi
fi
rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*
tar --numeric-owner --xattrs -C "$work/root" -czf "$work/base.tar.gz" .
mv "$work/base.tar.gz" "$out"
echo "$out"
