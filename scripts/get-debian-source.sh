#!/usr/bin/env bash
# Fetches and unpacks a Debian bookworm source package (with Debian's patches applied) for
# the tests that build real third-party services: `scripts/get-debian-source.sh PKG` prints
# the unpacked source dir. apt runs on a private state dir holding only a deb-src line (the
# machine's sources.list is not touched); the result is cached in
# ${BINSHIP_TEST_CACHE:-/var/cache/binship-tests}/src/PKG_VERSION and reused.
# Needs apt-get and dpkg-source (dpkg-dev). Exit 2: usage; 1: fetch or unpack failed.
set -euo pipefail
[ $# = 1 ] || { echo "usage: $0 PKG" >&2; exit 2; }
pkg=$1
cache=${BINSHIP_TEST_CACHE:-/var/cache/binship-tests}/src
mkdir -p "$cache"
apt_dir=$cache/.apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
echo "deb-src http://deb.debian.org/debian bookworm main" > "$apt_dir/sources.list"
opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/nonexistent
      -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o Debug::NoLocking=1)
version() { { apt-cache "${opts[@]}" showsrc "$pkg" 2>/dev/null || true; } | awk '/^Version:/ {print $2; exit}'; }
v=$(version)
if [ -z "$v" ]; then
  apt-get "${opts[@]}" update -qq >&2
  v=$(version)
fi
[ -n "$v" ] || { echo "$0: no source package $pkg in bookworm" >&2; exit 1; }
out=$cache/${pkg}_$v
if [ ! -d "$out" ]; then
  work=$(mktemp -d "$cache/.work.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get "${opts[@]}" source --download-only "$pkg=$v" >&2)
  dsc=$(ls "$work"/*.dsc)
  dpkg-source --no-check -x "$dsc" "$work/src" >&2
  mv "$work/src" "$out"
fi
echo "$out"
