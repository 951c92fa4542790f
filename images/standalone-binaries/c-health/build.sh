#!/bin/sh
# Builds, tests and stores c-health: ./build.sh [VERSION] [--force]  (= binship build c-health ...)
# Set BINSHIP to the binship binary when it is not on PATH.
set -e
cd "$(dirname "$0")"
if ! command -v "${BINSHIP:-binship}" >/dev/null 2>&1; then
  echo "build.sh: ${BINSHIP:-binship} not found: run scripts/example.sh in binship's checkout (it installs binship on PATH), or set BINSHIP=/path/to/binship" >&2
  exit 127
fi
exec "${BINSHIP:-binship}" build c-health "$@"
