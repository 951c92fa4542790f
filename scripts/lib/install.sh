# Sourced by scripts/example.sh: install_binship BIN puts the binship binary BIN on PATH:
# into $BINSHIP_INSTALL_DIR when set, else /usr/local/bin when writable (root), else
# ${CARGO_HOME:-$HOME/.cargo}/bin (where rustup puts cargo). Says where, and how to reach it
# when that directory is not on PATH. Tested by crates/binship/tests/build_examples.rs.
install_binship() {
  local bin=$1 dir
  if [ -n "${BINSHIP_INSTALL_DIR:-}" ]; then dir=$BINSHIP_INSTALL_DIR
  elif [ -w /usr/local/bin ]; then dir=/usr/local/bin
  else dir=${CARGO_HOME:-$HOME/.cargo}/bin
  fi
  mkdir -p "$dir" || return 1
  install -m 0755 "$bin" "$dir/binship.tmp.$$" || { echo "binship not installed: copying $bin into $dir failed" >&2; return 1; }
  mv -f "$dir/binship.tmp.$$" "$dir/binship" || return 1
  case ":$PATH:" in
    *":$dir:"*) echo "binship installed: $dir/binship (on PATH)" >&2 ;;
    *) echo "binship installed: $dir/binship; $dir is not on PATH: export PATH=\"$dir:\$PATH\"" >&2 ;;
  esac
}
