#!/usr/bin/env bash
# Runs all of binship's tests: installs what they need (Debian's golang-go, gcc and the static
# libc, git, util-linux's unshare) when missing, then cargo test over the workspace.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib/prereqs.sh
need_cargo
need go:golang-go gcc:gcc git:git unshare:util-linux sha256sum:coreutils
need_static_libc
go version >&2
cargo test --workspace --locked "$@"
