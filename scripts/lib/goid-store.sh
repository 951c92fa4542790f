# Sourced by scripts/bench-*.sh: goid_store BIN PAYLOAD makes a store at /tmp/bench-out/binship-store
# holding the shared Go payload as a tested version (kind = command copies it in; its tests: the
# service on $PORT, ready on /health, GET /id), and exports BINSHIP_STORE.
goid_store() {
  local bin=$1 payload=$2
  store=/tmp/bench-out/binship-store
  rm -rf "$store" /tmp/bench-out/binship-src
  mkdir -p "$store/goid" /tmp/bench-out/binship-src
  cat > "$store/goid/binship.toml" <<TOML
name = "goid"
kind = "command"
source = "/tmp/bench-out/binship-src"
[build]
command = "cp $payload goid"
output = "goid"
[test]
port_via = "env"
port_env = "PORT"
ready_path = "/health"
[[test.http]]
name = "id"
path = "/id"
TOML
  BINSHIP_STORE=$store "$bin" build goid >&2
  export BINSHIP_STORE=$store
}
