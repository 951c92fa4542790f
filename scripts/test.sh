#!/usr/bin/env bash
# Runs all of binship's tests: installs what they need from Debian when missing (golang-go, gcc
# and the static libc, git, util-linux's unshare; the real engines the image tests load and
# run images with: docker.io, podman, skopeo, umoci, runc, containerd; ca-certificates for the
# static base; busybox-static, debootstrap, xz-utils and zstd for the base tests; lxc and
# lxc-templates for the LXC boot tests; dpkg-dev (dpkg-source) and make to fetch and build a
# real service from its Debian source package (tests/real_service.rs); incus from bookworm-backports and Debian's lxd;
# docker-registry, apache2-utils (htpasswd) and openssl for the push and shared-cache tests;
# iproute2 (ip netns, veth) for the two-machine cache test; qemu-user-static
# for the arm64 tests (qemu-aarch64-static run directly; `docker run --platform linux/arm64` under a
# binfmt handler one test registers and removes); minisign to check
# our signatures; the sigstore crate (built from crates.io in verifiers/sigstore) to check our cosign signatures; ferro-oci-server (crates.io) as a registry with the referrers API; librsvg2-bin (rsvg-convert) to render bench's chart; a venv with the Python MCP SDK for the MCP test; a venv with securesystemslib and in-toto-attestation to check our attestations; cargo-auditable for the
# Rust SBOM test), then cargo
# test over the workspace. Engine tests start their own dockerd and
# podman storage in temp dirs and stop them afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib/prereqs.sh
need_cargo
need go:golang-go gcc:gcc git:git unshare:util-linux sha256sum:coreutils
need dockerd:docker.io containerd:containerd runc:runc podman:podman skopeo:skopeo umoci:umoci
[ -f /etc/ssl/certs/ca-certificates.crt ] || apt_install ca-certificates
[ -f /usr/share/zoneinfo/Etc/UTC ] || apt_install tzdata
# Bases for the tests: busybox-static for an Alpine-like rootfs, debootstrap for a Debian one
# (made once and cached in /var/cache/binship-tests by scripts/make-debian-base.sh).
dpkg -s busybox-static >/dev/null 2>&1 || apt_install busybox-static
need dpkg-source:dpkg-dev make:make
need debootstrap:debootstrap xz:xz-utils zstd:zstd chroot:coreutils systemd-analyze:systemd lxc-create:lxc
[ -f /usr/share/lxc/config/debian.common.conf ] || apt_install lxc-templates
need_incus
need ip:iproute2 lxd:lxd docker-registry:docker-registry htpasswd:apache2-utils openssl:openssl
need qemu-aarch64-static:qemu-user-static minisign:minisign rsvg-convert:librsvg2-bin
# The official Python MCP SDK (PyPI) drives `binship mcp` in the tests, from its own venv.
mcp_venv=/var/cache/binship-tests/mcp-venv
if ! "$mcp_venv/bin/python" -c 'import mcp' 2>/dev/null; then
  mkdir -p /var/cache/binship-tests
  python3 -m venv "$mcp_venv" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$mcp_venv"; }
  echo "installing the Python MCP SDK into $mcp_venv (pip; its output in $install_log)" >&2
  _logged "$mcp_venv/bin/pip" install 'mcp>=1.20'
fi
# The in-toto reference implementation (PyPI: securesystemslib verifies DSSE envelopes,
# in-toto-attestation validates statements and SLSA provenance) checks binship's attestations
# (tests/cosign.rs), from a venv of its own.
intoto_venv=/var/cache/binship-tests/intoto-venv
if ! "$intoto_venv/bin/python" -c 'import securesystemslib.dsse, in_toto_attestation.v1.statement' 2>/dev/null; then
  mkdir -p /var/cache/binship-tests
  python3 -m venv "$intoto_venv" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$intoto_venv"; }
  echo "installing securesystemslib and in-toto-attestation into $intoto_venv (pip; its output in $install_log)" >&2
  _logged "$intoto_venv/bin/pip" install 'securesystemslib[crypto]>=1.0' 'in-toto-attestation>=0.9'
fi
need_static_libc
# cargo-auditable (crates.io) in a root of its own: tests/supply_chain.rs puts it on PATH for
# one Rust build (the SBOM then lists the crates); every other build runs without it.
auditable=${BINSHIP_TEST_CACHE:-/var/cache/binship-tests}/cargo-auditable
if [ ! -x "$auditable/bin/cargo-auditable" ]; then
  echo "installing cargo-auditable into $auditable (cargo install; its output in $install_log)" >&2
  _logged cargo install --locked --root "$auditable" cargo-auditable
fi
# A registry with the OCI 1.1 referrers API (Debian's docker-registry 2.8 has none, zot and
# distribution 3 are not packaged): ferro-oci-server from crates.io, in a root of its own;
# tests/cosign.rs starts it on 127.0.0.1 to check that attestations are listed as referrers.
ferro=${BINSHIP_TEST_CACHE:-/var/cache/binship-tests}/ferro-oci-server
if [ ! -x "$ferro/bin/ferro-oci-server" ]; then
  echo "installing ferro-oci-server into $ferro (cargo install; its output in $install_log)" >&2
  _logged cargo install --locked --root "$ferro" ferro-oci-server --version 1.0.0
fi
# The sigstore project's Rust crate as an independent verifier of binship's cosign keys and
# signatures (tests/cosign.rs): a crate of its own (verifiers/sigstore, its own lock file), so
# its ~380 dependencies stay out of binship's tree. A few minutes the first time.
echo "building verifiers/sigstore (the sigstore crate; its output in $install_log)" >&2
_logged cargo build --locked --manifest-path verifiers/sigstore/Cargo.toml
go version >&2
# A fresh clone gains nothing from incremental compilation, whose caches double the target
# dir; CI also says how much disk it starts with (a full disk fails the build, not a test).
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}; fi
free_kb=$(df -Pk "$root" | awk 'NR==2 {print $4}')
echo "disk: $((free_kb / 1024 / 1024)) GB free for $root (a fresh run needs about 10 GB)" >&2
# Every test binary runs (--no-fail-fast); the last line is one summary CI can read.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked --no-fail-fast "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
# Nothing the suite started may survive it: a process in a chroot (root not /) is one of
# the service tests' (supervisord, supervise-daemon, a service) that its harness left behind.
left=$(for p in /proc/[0-9]*; do
  r=$(readlink "$p/root" 2>/dev/null) || continue
  [ "$r" = / ] || printf '  pid %s root %s: %s\n' "${p#/proc/}" "$r" "$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null | cut -c1-100)"
done)
if [ -n "$left" ]; then
  printf 'processes the tests started are still running:\n%s\n' "$left"
  [ "$rc" != 0 ] || rc=1
fi
awk '/^test result:/ {p+=$4; f+=$6; i+=$8} END {printf "%d passed, %d failed, %d skipped\n", p, f, i}' "$log"
exit "$rc"
