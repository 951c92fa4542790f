# Sourced by scripts/*.sh: installs missing prerequisites from Debian's packages when run as
# root (apt-get update once, then install), or says what to install otherwise.

_apt_updated=0
# apt's and dpkg's output (progress, "invoke-rc.d: policy-rc.d denied", LXD's first-run advice)
# goes to this log; the terminal gets one line per group of packages.
install_log=${BINSHIP_INSTALL_LOG:-/tmp/binship-install.log}

# Runs "$@" with its output appended to $install_log; on failure shows the log's last lines.
_logged() {
  if ! "$@" >>"$install_log" 2>&1; then
    echo "failed: $* (the last lines of $install_log:)" >&2
    tail -n 20 "$install_log" >&2
    return 1
  fi
}

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "missing: $* (install with: sudo apt-get install $*)" >&2
    return 1
  fi
  if [ "$_apt_updated" = 0 ]; then
    _logged env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    _apt_updated=1
  fi
  echo "installing $* (apt-get; its output in $install_log)" >&2
  _logged env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# need CMD:PACKAGE ... installs PACKAGE for each CMD not on PATH.
need() {
  local missing=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
}

# The static C library, for gcc -static.
need_static_libc() {
  local a
  a=$(gcc -print-file-name=libc.a 2>/dev/null || true)
  case "$a" in /*) ;; *) apt_install libc6-dev ;; esac
}

need_cargo() {
  command -v cargo >/dev/null 2>&1 && return 0
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH" && return 0
  apt_install cargo
}

# Incus comes from bookworm-backports: add that source (the host's mirror) when missing.
need_incus() {
  command -v incus >/dev/null 2>&1 && return 0
  if [ "$(id -u)" != 0 ]; then echo "missing: incus (from bookworm-backports)" >&2; return 1; fi
  if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    local mirror
    mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1)
    [ -n "$mirror" ] || mirror=$(awk '$1=="deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
    [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" \
      > /etc/apt/sources.list.d/binship-bookworm-backports.sources
  fi
  echo "installing incus (apt-get -t bookworm-backports; its output in $install_log)" >&2
  _logged env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  _apt_updated=1
  _logged env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t bookworm-backports incus
}
