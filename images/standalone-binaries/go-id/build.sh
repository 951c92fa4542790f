#!/bin/sh
# Builds, tests and stores go-id: ./build.sh [VERSION] [--force]  (= binship build go-id ...)
# Set BINSHIP to the binship binary when it is not on PATH.
set -e
cd "$(dirname "$0")"
exec "${BINSHIP:-binship}" build go-id "$@"
