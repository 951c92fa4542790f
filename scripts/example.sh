#!/usr/bin/env bash
# The main job on the bundled example: builds binship, then builds, tests and stores go-id
# (examples/go-id) as images/standalone-binaries/go-id/go-id-binary-v.N/ via its build.sh.
# Installs missing prerequisites (Debian's golang-go, gcc, git) when run as root, and installs
# binship on PATH (scripts/lib/install.sh: /usr/local/bin as root, else ~/.cargo/bin).
# Arguments go to build.sh: `bash scripts/example.sh 2` builds v.2.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib/prereqs.sh
need_cargo
need go:golang-go gcc:gcc git:git
echo "building binship (cargo build --release; the first time about 9 minutes on 2 cores, then seconds)" >&2
cargo build --release --locked -p binship
. scripts/lib/install.sh
install_binship "$root/target/release/binship"
cd images/standalone-binaries/go-id
BINSHIP="$root/target/release/binship" ./build.sh "$@"
"$root/target/release/binship" list go-id
