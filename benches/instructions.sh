#!/usr/bin/env bash
# Noise-free echo figures: user-space instructions per echoed message
# (valgrind --tool=callgrind) and syscalls per message (strace -c -f), for
# the `runtime` echo example and the tokio echo server, one server core.
#
#   benches/instructions.sh [connections] [size] [pipeline]
#
# Each server runs twice per tool, serving M1 and then M2 messages per
# connection; the figure is (count(M2) - count(M1)) / ((M2 - M1) x connections),
# so start-up, accept and shutdown cancel out. The load generator
# (examples/echo_client, verifying every byte) runs outside valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
connections=${1:-100}
size=${2:-64}
pipeline=${3:-1}
m1=${M1:-200}
m2=${M2:-1200}

for tool in valgrind strace; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install $tool)" >&2; exit 1; }
done

cargo build --release --example echo --example engine_echo --example echo_client >&2
cargo build --release --manifest-path benches/Cargo.toml --bin tokio_echo >&2

client=target/release/examples/echo_client
declare -A servers=(
    [runtime]="target/release/examples/echo --cores 1 --port"
    [engine]="target/release/examples/engine_echo --cores 1 --port"
    [tokio]="benches/target/release/tokio_echo --cores 1 --port"
)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port=7400

wait_listening() { # port pid
    for _ in $(seq 1 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# measure TOOL NAME MESSAGES PORT: prints the count for one run.
measure() {
    local tool=$1 name=$2 messages=$3 port=$4 out
    # SO_REUSEPORT would let a stray server on the port take connections.
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "port $port is already in use" >&2
        exit 1
    fi
    out="$work/$tool.$name.$messages"
    case $tool in
        callgrind)
            taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$out" \
                ${servers[$name]} "$port" 2>/dev/null &
            ;;
        strace)
            taskset -c 0 strace -f -c -o "$out" ${servers[$name]} "$port" 2>/dev/null &
            ;;
    esac
    local pid=$!
    wait_listening "$port" "$pid" || { echo "$name did not start" >&2; exit 1; }
    taskset -c 1 "$client" --port "$port" --connections "$connections" --size "$size" \
        --pipeline "$pipeline" --messages "$messages" --seconds 600 --cores 1 >/dev/null
    # Stop the server itself (under strace, the tracee): the tool then
    # writes its counts and exits.
    local server
    server=$(pgrep -P "$pid" || echo "$pid")
    kill -TERM "$server" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    case $tool in
        callgrind) awk '/^summary:/ { print $2 }' "$out" ;;
        strace) awk '$NF == "total" { print $4 }' "$out" ;;
    esac
}

total=$(((m2 - m1) * connections))
printf '%-8s %14s %14s   (%s connections x %s B, pipeline %s)\n' \
    server "instr/msg" "syscalls/msg" "$connections" "$size" "$pipeline"
for name in ${SERVERS:-runtime engine tokio}; do
    i1=$(measure callgrind "$name" "$m1" $((port + 1)))
    i2=$(measure callgrind "$name" "$m2" $((port + 2)))
    s1=$(measure strace "$name" "$m1" $((port + 3)))
    s2=$(measure strace "$name" "$m2" $((port + 4)))
    port=$((port + 4))
    awk -v n="$name" -v i1="$i1" -v i2="$i2" -v s1="$s1" -v s2="$s2" -v t="$total" \
        'BEGIN { printf "%-8s %14.0f %14.2f\n", n, (i2 - i1) / t, (s2 - s1) / t }'
done
