#!/usr/bin/env bash
# Noise-free figures: user-space instructions per message (valgrind
# --tool=callgrind) and syscalls per message (strace -c -f), one server core.
#
#   benches/instructions.sh [connections] [size] [pipeline]        echo
#   benches/instructions.sh --http [connections] [pipeline]        HTTP plaintext
#   benches/instructions.sh --tls [connections] [size] [pipeline]  TLS echo
#   benches/instructions.sh --tls-handshake full|resumed [slots]    TLS connections
#
# Servers (SERVERS="..." picks some):
#   echo: runtime (examples/echo), engine (examples/engine_echo),
#         tokio-lean (tokio_echo --flavor current_thread_io --buffer 16384),
#         tokio-ct (tokio_echo --flavor current_thread: time driver, 64 KiB),
#         floor-async (async_task_floor: async-task and polling with nothing
#         else, one hand-written poll per connection, no rings: not a server,
#         the floor under any async server on those two crates), floor-poll
#         (polling_floor: a polling loop calling an echo callback per read,
#         no rings: the floor under any callback server on polling)
#   http: runtime (examples/http_plaintext), engine (examples/engine_http),
#         tokio-lean, tokio-ct (tokio_http, as above), and
#         floor (tokio_http_floor, lean: counts blank lines, parses nothing)
#   tls:  runtime-tls (examples/tls_echo), engine-tls (examples/engine_tls_echo),
#         tokio-rustls (tokio_tls_echo, tokio-lean's set-up with tokio-rustls);
#         driven by tls_loadgen, all with one certificate made by tls_cert.
#         A server whose example does not exist (yet) is reported and skipped.
#         --tls-handshake: per new connection (connect, a full or resumed
#         handshake, one 64 B echo, close; `slots` at a time, default 8),
#         H1 and H2 connections in all (default 50 and 250)
#
# Each server runs twice per tool, serving M1 and then M2 messages (HTTP:
# requests) per connection; the figure is
# (count(M2) - count(M1)) / ((M2 - M1) x connections), so start-up, accept and
# shutdown cancel out. The load generator (benches loadgen, verifying every
# echoed byte and every response) runs outside valgrind, pinned to CPU 1;
# the server to CPU 0. A run with an error or a mismatch stops the script.
# EXAMPLES=dir takes the root examples from dir (default
# target/release/examples): to measure another build side by side.
# CARGO_TARGET_DIR=dir builds both workspaces there (with
# CARGO_PROFILE_RELEASE_LTO=fat and CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1:
# the fat-LTO figures, without touching the usual builds).
set -euo pipefail
cd "$(dirname "$0")/.."
kind=echo
handshake=
if [[ ${1:-} == --tls ]]; then
    kind=tls
    shift
    connections=${1:-100}
    size=${2:-64}
    pipeline=${3:-1}
elif [[ ${1:-} == --tls-handshake ]]; then
    kind=tls
    handshake=${2:?--tls-handshake needs full or resumed}
    [[ $handshake == full || $handshake == resumed ]] || { echo "full or resumed, not $handshake" >&2; exit 2; }
    connections=${3:-8}
    size=64
    pipeline=1
    shift $(($# < 3 ? $# : 3))
elif [[ ${1:-} == --http ]]; then
    kind=http
    shift
    connections=${1:-100}
    size=0
    pipeline=${2:-1}
else
    connections=${1:-100}
    size=${2:-64}
    pipeline=${3:-1}
fi
m1=${M1:-200}
m2=${M2:-1200}
if [[ -n $handshake ]]; then
    m1=${H1:-50}
    m2=${H2:-250}
fi
target=${CARGO_TARGET_DIR:-target}
examples=${EXAMPLES:-$target/release/examples}

for tool in valgrind strace; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install $tool)" >&2; exit 1; }
done

if [[ -z ${EXAMPLES:-} && $kind != tls ]]; then
    cargo build --release --example echo --example engine_echo --example http_plaintext \
        --example engine_http >&2
elif [[ -z ${EXAMPLES:-} ]]; then
    # The TLS examples that exist; one behind a feature is built with it.
    for e in tls_echo engine_tls_echo; do
        [[ -f examples/$e.rs ]] || continue
        if ! log=$(cargo build --release --example "$e" 2>&1); then
            features=$(grep -oE "requires the features: .*" <<<"$log" | tail -1 |
                sed -E 's/.*requires the features: //; s/[`,]/ /g')
            if [[ -n $features ]]; then
                cargo build --release --example "$e" --features "$features" >&2
            else
                echo "examples/$e.rs did not build:" >&2
                grep -E '^error' <<<"$log" | sort -u | head -5 >&2
            fi
        fi
    done
fi
cargo build --release --manifest-path benches/Cargo.toml --bin loadgen --bin tokio_echo \
    --bin tokio_http --bin tokio_http_floor --bin async_task_floor --bin polling_floor --bin tls_loadgen --bin tokio_tls_echo --bin tls_cert >&2

bench=${CARGO_TARGET_DIR:-benches/target}/release
declare -A servers
if [[ $kind == echo ]]; then
    servers=(
        [runtime]="$examples/echo --cores 1 --port"
        [engine]="$examples/engine_echo --cores 1 --port"
        [tokio-lean]="$bench/tokio_echo --flavor current_thread_io --buffer 16384 --port"
        [tokio-ct]="$bench/tokio_echo --flavor current_thread --port"
        [floor-async]="$bench/async_task_floor --port"
        [floor-poll]="$bench/polling_floor --port"
    )
    default_servers="runtime engine tokio-lean tokio-ct floor-async floor-poll"
    mode=(--size "$size")
elif [[ $kind == tls ]]; then
    tls_dir=$(mktemp -d)
    "$bench/tls_cert" --out "$tls_dir"
    cert="--cert $tls_dir/cert.pem --key $tls_dir/key.pem"
    servers=(
        [runtime-tls]="$examples/tls_echo --cores 1 $cert --port"
        [engine-tls]="$examples/engine_tls_echo --cores 1 $cert --port"
        [tokio-rustls]="$bench/tokio_tls_echo --flavor current_thread_io --buffer 16384 $cert --port"
    )
    default_servers="runtime-tls engine-tls tokio-rustls"
    case $handshake in
        full) mode=(--handshake) ;;
        resumed) mode=(--handshake --resumed) ;;
        *) mode=(--size "$size") ;;
    esac
    [[ -n ${TLS_KX:-} ]] && mode+=(--kx "$TLS_KX")
else
    servers=(
        [runtime]="$examples/http_plaintext --cores 1 --port"
        [engine]="$examples/engine_http --cores 1 --port"
        [tokio-lean]="$bench/tokio_http --flavor current_thread_io --buffer 16384 --port"
        [tokio-ct]="$bench/tokio_http --flavor current_thread --port"
        [floor]="$bench/tokio_http_floor --flavor current_thread_io --buffer 16384 --port"
    )
    default_servers="runtime engine tokio-lean tokio-ct floor"
    mode=(--http)
fi
work=$(mktemp -d)
trap 'rm -rf "$work" ${tls_dir:+"$tls_dir"}' EXIT
generator=loadgen
[[ $kind == tls ]] && generator=tls_loadgen
port=${PORT:-7400}

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
    local tool=$1 name=$2 messages=$3 port=$4 out line
    # SO_REUSEPORT would let a stray server on the port take connections.
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "port $port is already in use" >&2
        exit 1
    fi
    out="$work/$tool.$name.$messages"
    case $tool in
        callgrind)
            # shellcheck disable=SC2086 # the command line is split on purpose
            taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$out" \
                ${servers[$name]} "$port" 2>/dev/null &
            ;;
        strace)
            # shellcheck disable=SC2086
            taskset -c 0 strace -f -c -o "$out" ${servers[$name]} "$port" 2>/dev/null &
            ;;
    esac
    local pid=$!
    wait_listening "$port" "$pid" || { echo "$name did not start" >&2; exit 1; }
    line=$(taskset -c 1 "$bench/$generator" --port "$port" --connections "$connections" \
        "${mode[@]}" --pipeline "$pipeline" --messages "$messages" --timeout 60)
    if ! grep -q ' errors=0 mismatches=0 ' <<<"$line"; then
        echo "$name under $tool answered wrong: $line" >&2
        exit 1
    fi
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
if [[ -n $handshake ]]; then
    # --messages counts connections in all, not per slot.
    total=$((m2 - m1))
    what="TLS connections, $handshake handshake + one 64 B echo, $connections at a time"
elif [[ $kind == tls ]]; then
    what="TLS echo, $connections connections x $size B, pipeline $pipeline"
elif [[ $kind == echo ]]; then
    what="echo, $connections connections x $size B, pipeline $pipeline"
else
    what="HTTP plaintext, $connections connections, pipeline $pipeline"
fi
printf '%-11s %14s %14s   (%s)\n' server "instr/msg" "syscalls/msg" "$what"
for name in ${SERVERS:-$default_servers}; do
    [[ -n ${servers[$name]:-} ]] || { echo "unknown server $name" >&2; exit 2; }
    binary=${servers[$name]%% *}
    if [[ ! -x $binary ]]; then
        printf '%-11s %14s %14s   (%s)\n' "$name" n/a n/a "unavailable: $binary not built"
        continue
    fi
    i1=$(measure callgrind "$name" "$m1" $((port + 1)))
    i2=$(measure callgrind "$name" "$m2" $((port + 2)))
    s1=$(measure strace "$name" "$m1" $((port + 3)))
    s2=$(measure strace "$name" "$m2" $((port + 4)))
    port=$((port + 4))
    awk -v n="$name" -v i1="$i1" -v i2="$i2" -v s1="$s1" -v s2="$s2" -v t="$total" \
        'BEGIN { i = (i2 - i1) / t; f = i < 100 ? "%-11s %14.1f %14.2f\n" : "%-11s %14.0f %14.2f\n"
                 printf f, n, i, (s2 - s1) / t }'
done
