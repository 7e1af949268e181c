#!/usr/bin/env bash
# What an idle connection costs in resident memory: the `runtime` echo
# example, the callback engine's engine_echo and the tokio echo server, each on one core with N idle connections
# (connected, nothing sent) from a small Python client, over loopback.
# Prints the server's VmRSS before and after, and KiB per connection.
#
#   benches/idle_memory.sh [connections] [port]
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${1:-10000}
port=${2:-7300}

cargo build --release --example echo --example engine_echo
cargo build --release --manifest-path benches/Cargo.toml --bin tokio_echo

# Server and client each hold one fd per connection.
ulimit -n "$(ulimit -Hn)"
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

client_py='
import resource, socket, sys, time
n, port, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
open(ready, "w").write("ready")
time.sleep(600)
'

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }

# Polls `$@` every 50 ms for up to 60 s.
wait_for() {
    local i
    for ((i = 0; i < 1200; i++)); do
        if "$@"; then return 0; fi
        sleep 0.05
    done
    echo "timed out waiting for: $*" >&2
    return 1
}

measure() { # name port command...
    local name=$1 port=$2
    shift 2
    "$@" "$port" 2>"$tmp/$name.log" &
    local server=$!
    wait_for grep -q listening "$tmp/$name.log"
    sleep 0.2
    local before fds_before
    before=$(rss_kib "$server")
    fds_before=$(fds "$server")
    python3 -c "$client_py" "$conns" "$port" "$tmp/$name.ready" &
    local client=$!
    wait_for test -s "$tmp/$name.ready"
    # Every connection accepted (one fd each), then a moment for each
    # connection's task to reach its first read.
    wait_for test "$(fds "$server")" -ge $((fds_before + conns))
    sleep 0.5
    local after
    after=$(rss_kib "$server")
    kill "$client" "$server"
    wait "$client" "$server" 2>/dev/null || true
    awk -v name="$name" -v n="$conns" -v b="$before" -v a="$after" 'BEGIN {
        printf "%-8s %d idle connections: VmRSS %d KiB before, %d KiB after, %.2f KiB per connection\n",
            name, n, b, a, (a - b) / n
    }'
}

measure runtime "$port" target/release/examples/echo --cores 1 --port
measure engine $((port + 2)) target/release/examples/engine_echo --cores 1 --port
measure tokio $((port + 1)) benches/target/release/tokio_echo --cores 1 --port
