#!/usr/bin/env bash
# Echo throughput, side by side in one run: the `runtime` echo example vs a
# tokio echo server (tokio-ct of benches/servers.sh: current_thread with the
# time driver, 64 KiB buffer), alternating A B A B, server pinned to CPU 0
# and the load generator (examples/echo_client) to CPU 1. compare.sh runs
# every server; this is the quick two-server check.
#
#   benches/echo.sh [rounds] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
seconds=${2:-3}

cargo build --release --example echo --example echo_client
cargo build --release --manifest-path benches/Cargo.toml --bin tokio_echo

client=target/release/examples/echo_client
declare -A servers=(
    [runtime]="target/release/examples/echo --cores 1 --port"
    [tokio]="benches/target/release/tokio_echo --cores 1 --port"
)

run() { # name port connections size pipeline
    local name=$1 port=$2
    taskset -c 0 ${servers[$name]} "$port" 2>/dev/null &
    local pid=$!
    sleep 0.3
    local line
    line=$(taskset -c 1 "$client" --port "$port" --connections "$3" --size "$4" \
        --pipeline "$5" --seconds "$seconds" --cores 1)
    # Server CPU (user + system) over the run, in clock ticks.
    local ticks
    ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    local msgs
    msgs=$(sed -E 's/.* msgs=([0-9]+) .*/\1/' <<<"$line")
    local cpu_ns
    cpu_ns=$(awk -v t="$ticks" -v m="$msgs" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { if (m > 0) printf "%.0f", t / hz * 1e9 / m; else print "n/a" }')
    echo "$name $line server_cpu_ns_per_msg=$cpu_ns"
}

port=7100
for scenario in "1 64 1" "100 64 1" "100 64 16" "100 4096 1"; do
    for ((r = 1; r <= rounds; r++)); do
        for name in runtime tokio; do
            port=$((port + 1))
            run "$name" "$port" $scenario
        done
    done
done
