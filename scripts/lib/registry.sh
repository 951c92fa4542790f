# Sourced by scripts/bench-*.sh: start_registry DIR LEVEL starts Debian's docker-registry on a
# free 127.0.0.1 port, storing in DIR/reg with deletes enabled, logging at LEVEL (info counts
# every request) to DIR/reg.log, and waits until it listens. Sets `port` and `reg_pid` (the
# caller's EXIT trap kills it).
start_registry() {
  local dir=$1 level=$2
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$dir/reg.yml" <<YML
version: 0.1
log:
  level: $level
storage:
  filesystem:
    rootdirectory: $dir/reg
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YML
  docker-registry serve "$dir/reg.yml" >"$dir/reg.log" 2>&1 &
  reg_pid=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "docker-registry did not listen on 127.0.0.1:$port (see $dir/reg.log)" >&2
  return 1
}
