#!/bin/sh
# Builds, tests and stores rust-echo: ./build.sh [VERSION] [--force]  (= binship build rust-echo ...)
# Set BINSHIP to the binship binary when it is not on PATH.
set -e
cd "$(dirname "$0")"
exec "${BINSHIP:-binship}" build rust-echo "$@"
