#!/bin/sh
# Builds, tests and stores c-health: ./build.sh [VERSION] [--force]  (= binship build c-health ...)
# Set BINSHIP to the binship binary when it is not on PATH.
set -e
cd "$(dirname "$0")"
exec "${BINSHIP:-binship}" build c-health "$@"
