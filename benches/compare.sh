#!/usr/bin/env bash
# One-command comparison of the `runtime` servers against tokio, glommio,
# monoio and compio: echo throughput and latency, server CPU per message at
# a fixed rate, plaintext HTTP, the memory of idle connections (never
# used, and after one echoed message), and TLS (echo and new handshakes per
# second, against tokio + tokio-rustls).
#
#   benches/compare.sh [--quick] [--instructions] [--rounds N] [--seconds S]
#
# --quick         1 round, 2 s per run, fewer scenarios (a few minutes)
# --instructions  also callgrind instructions and strace syscalls per message
#                 (echo 100 x 64 B and HTTP, pipeline 1 and 16) for runtime,
#                 engine, tokio-lean, tokio-ct (and the HTTP floor); M1 and M2
#                 messages per connection (env M1, M2; default 200 and 1200),
#                 difference taken; TLS: echo 100 x 64 B per message, and
#                 per new connection for full and resumed handshakes (H1
#                 and H2 connections; default 50 and 250), for runtime-tls,
#                 engine-tls and tokio-rustls
# --rounds N      runs per server and scenario (default 3)
# --seconds S     measured seconds per run (default 5), after a warm-up
#
# Environment: SERVERS="runtime tokio-ct ..." runs only those servers
# (SERVERS=tokio-rustls: the TLS scenarios alone, with the baseline);
# IDLE_CONNECTIONS (default 10000) for the idle-memory measurement;
# TLS_KX=X25519|secp256r1|secp384r1: the key-exchange group the TLS load
# generator offers first (default: rustls's order for ring, secp384r1 first).
# (benches/instructions.sh, benches/idle_memory.sh and benches/scaling.sh run
# one part each, with more options.)
#
# Every server runs on one core, pinned to CPU 0 with taskset; the load
# generator (benches/src/bin/loadgen.rs: one thread, epoll, every echoed
# byte and every HTTP response verified) is pinned to CPU 1. For each
# scenario the servers run in turn, A B C .. A B C .., and the tables give the
# median of the rounds, with ratios to tokio-lean. A server that cannot start
# here (say, io_uring is unavailable, or its example does not exist yet) is
# reported as "unavailable: <reason>"; one that answers wrong in the check
# run is left out, never a number. The servers and the configuration each
# name stands for are in benches/servers.sh: runtime, engine, tokio-lean,
# tokio-ct, tokio-mt, glommio, monoio-uring, monoio-epoll, compio-uring,
# compio-poll, for HTTP the floor (no parser: the lean floor, not a
# server), and for TLS runtime-tls, engine-tls and tokio-rustls.
#
# TLS scenarios (benches/src/bin/tls_loadgen.rs: the same loop with a
# rustls 0.23 / ring client; every server gets the same self-signed
# ECDSA P-256 certificate, made by tls_cert for the run, and the check run
# validates it): echo 100 x 64 B and 100 x 4 KiB; new connections per
# second with a full handshake each (the client resumes nothing), and with
# resumed handshakes (TLS 1.3 tickets; every one after the first must
# resume). A handshake "message" is one connection: connect, handshake,
# one 64-byte echo, close_notify, the server's close; 8 at a time. The
# client checks the server's certificate and signature on the first
# handshake and then on one in 16 (--verify-every 16; the server cannot
# tell which, so it does all its work on each): an ECDSA verification costs
# the client about twice what signing costs the server, and with every one
# checked the one-core client, not the server, set the rate. Ratios in the
# TLS tables are to tokio-rustls.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
instructions=0
rounds=
seconds=
while (($#)); do
    case $1 in
        --quick) quick=1 ;;
        --instructions) instructions=1 ;;
        --rounds) rounds=${2:?--rounds needs a value}; shift ;;
        --seconds) seconds=${2:?--seconds needs a value}; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if ((quick)); then
    rounds=${rounds:-1}
    seconds=${seconds:-2}
    warmup=0.5
else
    rounds=${rounds:-3}
    seconds=${seconds:-5}
    warmup=1
fi
m1=${M1:-200}
m2=${M2:-1200}
h1=${H1:-50}
h2=${H2:-250}
idle_conns=${IDLE_CONNECTIONS:-10000}

for tool in taskset python3 cargo; do
    command -v "$tool" >/dev/null || { echo "compare.sh needs $tool" >&2; exit 1; }
done
if ((instructions)); then
    for tool in valgrind strace; do
        command -v "$tool" >/dev/null || { echo "--instructions needs $tool (apt-get install $tool)" >&2; exit 1; }
    done
fi

script_start=$SECONDS
# Server and load generator each hold one fd per connection.
ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d)
pidfile=$work/pids
: >"$pidfile"

bin=$work/bin
examples_dir=$bin
# shellcheck source=benches/servers.sh
source benches/servers.sh

# Whether PID is still one of our servers (pids are reused, and quickly:
# pid_max may be 32768): its command line names a binary in $bin.
ours() {
    local cmdline
    cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 1
    [[ $cmdline == *"$bin/"* ]]
}

# Every server runs in its own session (setsid), so that stopping it also
# stops what it runs under (valgrind, strace); the trap stops them all.
cleanup() {
    local pid
    while read -r pid; do
        ours "$pid" || continue
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done <"$pidfile"
    sleep 0.3
    while read -r pid; do
        ours "$pid" || continue
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    done <"$pidfile"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

elapsed() { echo "$((SECONDS - $1))s"; }

# ---------------------------------------------------------------- build
echo "# compare.sh: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs, $(uname -r)"
echo "rounds=$rounds seconds=$seconds warmup=$warmup quick=$quick instructions=$instructions"
echo
echo "## build"
mkdir -p "$bin"
t=$SECONDS
if ! cargo build --release --manifest-path benches/Cargo.toml --bins >"$work/build-benches.log" 2>&1; then
    tail -30 "$work/build-benches.log"
    echo "benches build failed" >&2
    exit 1
fi
echo "benches workspace (loadgen, tokio, glommio, monoio, compio servers): built in $(elapsed "$t")"
for b in "${bench_bins[@]}"; do
    cp "benches/target/release/$b" "$bin/"
done

# The root examples; others may be editing the root crates, so each one
# that fails to build is skipped, not fatal. Copied away so that a rebuild
# during the run changes nothing.
declare -A unavailable=()
examples=(echo engine_echo http_plaintext engine_http tls_echo engine_tls_echo)
t=$SECONDS
present=()
names=()
for e in "${examples[@]}"; do
    if [[ -f examples/$e.rs ]]; then present+=(--example "$e"); names+=("$e"); fi
done
declare -A built=()
: >"$work/build-examples.log"
if ((${#present[@]})) && cargo build --release "${present[@]}" >"$work/build-examples.log" 2>&1; then
    for e in "${examples[@]}"; do built[$e]=1; done
else
    for e in "${examples[@]}"; do
        [[ -f examples/$e.rs ]] || continue
        if cargo build --release --example "$e" >>"$work/build-examples.log" 2>&1; then
            built[$e]=1
            continue
        fi
        # An example behind a feature (say, `tls`): cargo names it.
        features=$(grep -oE "target \`$e\` in package \`[^\`]*\` requires the features: .*" \
            "$work/build-examples.log" | tail -1 | sed -E 's/.*requires the features: //; s/[`,]/ /g')
        if [[ -n $features ]] && cargo build --release --example "$e" --features "$features" \
            >>"$work/build-examples.log" 2>&1; then
            built[$e]=1
        fi
    done
fi
for e in "${examples[@]}"; do
    if [[ ! -f examples/$e.rs ]]; then
        echo "note: examples/$e.rs does not exist yet: skipped"
    elif [[ -n ${built[$e]:-} && -x target/release/examples/$e ]]; then
        cp "target/release/examples/$e" "$bin/"
    else
        echo "note: example $e did not build: skipped; cargo said:"
        grep -E '^error' "$work/build-examples.log" | sort -u | head -5
    fi
done
echo "root examples (${names[*]}): built in $(elapsed "$t")"
# One certificate for every TLS server (the same key type for all), which
# the check run validates.
tls_dir=$work/tls
"$bin/tls_cert" --out "$tls_dir"
tls_kx=()
[[ -n ${TLS_KX:-} ]] && tls_kx=(--kx "$TLS_KX")
if command -v wrk >/dev/null; then
    have_wrk=1
    echo "wrk: $(command -v wrk) (HTTP scenarios also driven by wrk)"
else
    have_wrk=0
    echo "wrk: not installed, the wrk scenarios are skipped (apt-get install -y wrk)"
fi
echo

# ---------------------------------------------------------------- servers
echo_servers=("${all_echo_servers[@]}")
http_servers=("${all_http_servers[@]}")
tls_servers=("${all_tls_servers[@]}")
if [[ -n ${SERVERS:-} ]]; then
    keep() { local s; for s in $SERVERS; do [[ $s == "$1" ]] && return 0; done; return 1; }
    filtered=()
    for s in "${echo_servers[@]}"; do keep "$s" && filtered+=("$s"); done
    echo_servers=("${filtered[@]}")
    filtered=()
    for s in "${http_servers[@]}"; do keep "$s" && filtered+=("$s"); done
    http_servers=("${filtered[@]}")
    filtered=()
    for s in "${tls_servers[@]}"; do keep "$s" && filtered+=("$s"); done
    tls_servers=("${filtered[@]}")
fi
declare -A example_of=(
    [echo:runtime]=echo [echo:engine]=engine_echo
    [http:runtime]=http_plaintext [http:engine]=engine_http
    [tls:runtime-tls]=tls_echo [tls:engine-tls]=engine_tls_echo
)
servers_of() { # kind: the servers of that kind this run compares
    case $1 in
        echo) echo "${echo_servers[*]}" ;;
        http) echo "${http_servers[*]}" ;;
        tls) echo "${tls_servers[*]}" ;;
    esac
}

port=17100
server_pid=
server_log=
server_reaped=0

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Picks the next port that nothing listens on (with SO_REUSEPORT a stray
# server on the port would take some of the connections).
next_port() {
    port=$((port + 1))
    while port_busy "$port"; do
        echo "note: port $port is in use, skipped" >&2
        port=$((port + 1))
    done
}

wait_listening() { # port pid seconds
    local i
    for ((i = 0; i < $3 * 20; i++)); do
        if port_busy "$1"; then return 0; fi
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# start_server KIND NAME [WRAPPER...]: on a fresh port, pinned to CPU 0;
# sets server_pid, server_log and port. Fails if it does not listen.
start_server() {
    local kind=$1 name=$2 cmd
    shift 2
    cmd=$(server_cmd "$kind" "$name" 1)
    next_port
    server_log=$work/server.$kind.$name.$port.log
    # shellcheck disable=SC2086 # the command line is split on purpose
    setsid taskset -c 0 "$@" $cmd "$port" >"$server_log" 2>&1 &
    server_pid=$!
    server_reaped=0
    echo "$server_pid" >>"$pidfile"
    local patience=10
    (($#)) && patience=60 # under valgrind
    wait_listening "$port" "$server_pid" "$patience"
}

# stop_server [TARGET]: SIGTERM to TARGET (default: the server's session),
# then SIGKILL to the session after 5 s; then it leaves the list that the
# exit trap stops. Only a pid that is still our server is signalled.
stop_server() {
    local target=${1:--$server_pid} i
    if ((!server_reaped)) && ours "$server_pid"; then
        kill -TERM -- "$target" 2>/dev/null || kill -TERM "$server_pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            ours "$server_pid" || break # gone (a zombie has no command line)
            sleep 0.05
        done
        if ours "$server_pid"; then
            kill -KILL -- "-$server_pid" 2>/dev/null || kill -KILL "$server_pid" 2>/dev/null || true
        fi
        wait "$server_pid" 2>/dev/null || true
        server_reaped=1
    fi
    sed -i "/^$server_pid\$/d" "$pidfile"
}

# Why a server did not start, in $why: the last line of its output, or
# what it did. Not in a subshell: it reaps the server.
why_not() {
    if kill -0 "$server_pid" 2>/dev/null; then
        why="did not listen on 127.0.0.1:$port in time"
    else
        local rc=0 line
        wait "$server_pid" 2>/dev/null || rc=$?
        server_reaped=1
        line=$(grep -v '^\s*$' "$server_log" | tail -1 | sed -E 's/^[a-z_]+: unavailable: //')
        why="exited with status $rc: ${line:-no output}"
    fi
}

loadgen() { # args...: one run, its line on stdout (never fails)
    local limit
    limit=$(awk -v s="$seconds" -v w="$warmup" 'BEGIN { printf "%d", s + w + 60 }')
    timeout -k 5 "$limit" taskset -c 1 "$bin/loadgen" "$@" 2>>"$work/loadgen.err" || true
}

tls_loadgen() { # args...: the same with the TLS load generator
    local limit
    limit=$(awk -v s="$seconds" -v w="$warmup" 'BEGIN { printf "%d", s + w + 60 }')
    timeout -k 5 "$limit" taskset -c 1 "$bin/tls_loadgen" "${tls_kx[@]}" "$@" \
        2>>"$work/loadgen.err" || true
}

# Probes every server once: it must start and echo (answer) correctly.
probe() { # kind name
    local kind=$1 name=$2 key="$1:$2" line
    local ex=${example_of[$key]:-}
    if [[ -n $ex && ! -f examples/$ex.rs ]]; then
        unavailable[$key]="examples/$ex.rs does not exist (yet)"
        return
    elif [[ -n $ex && ! -x $bin/$ex ]]; then
        unavailable[$key]="example $ex did not build"
        return
    fi
    if ! start_server "$kind" "$name"; then
        why_not
        unavailable[$key]=$why
        stop_server
        return
    fi
    if [[ $kind == echo ]]; then
        line=$(loadgen --port "$port" --connections 4 --size 1000 --pipeline 4 --messages 50 --timeout 3)
    elif [[ $kind == tls ]]; then
        # --ca: the server must present the run's certificate, valid for
        # localhost.
        line=$(tls_loadgen --port "$port" --ca "$tls_dir/cert.pem" --connections 4 --size 1000 \
            --pipeline 4 --messages 50 --timeout 3)
    else
        line=$(loadgen --port "$port" --http --connections 4 --pipeline 4 --messages 50 --timeout 3)
    fi
    if ! grep -q ' errors=0 mismatches=0 ' <<<"$line"; then
        unavailable[$key]="failed the check run: ${line:-no output from loadgen}"
    fi
    stop_server
}

echo "## servers"
for name in "${echo_servers[@]}"; do probe echo "$name"; done
for name in "${http_servers[@]}"; do probe http "$name"; done
for name in "${tls_servers[@]}"; do probe tls "$name"; done
for key in "${!unavailable[@]}"; do
    echo "$key: unavailable: ${unavailable[$key]}"
done | sort
available() { [[ -z ${unavailable[$1]:-} ]]; }
n_ok=0
for name in "${echo_servers[@]}"; do available "echo:$name" && n_ok=$((n_ok + 1)); done
echo "echo servers available: $n_ok of ${#echo_servers[@]}"
n_ok=0
for name in "${tls_servers[@]}"; do available "tls:$name" && n_ok=$((n_ok + 1)); done
echo "TLS servers available: $n_ok of ${#tls_servers[@]}"
echo

# ---------------------------------------------------------------- runs
results=$work/results.tsv
: >"$results"

field() { # line key
    sed -nE "s#.* $2=([^ ]*).*#\1#p" <<<" $1"
}

# record SCENARIO LABEL SERVER ROUND LINE: appends one run to the results.
record() {
    local msgs_s p50 p99 p999 cpu errors mismatches
    msgs_s=$(field "$5" 'msgs/s')
    p50=$(field "$5" p50 | tr -d 'us')
    p99=$(field "$5" p99 | tr -d 'us')
    p999=$(field "$5" p999 | tr -d 'us')
    cpu=$(field "$5" server_cpu_ns_per_msg)
    errors=$(field "$5" errors)
    mismatches=$(field "$5" mismatches)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" \
        "${msgs_s:-}" "${p50:-}" "${p99:-}" "${p999:-}" "${cpu:-}" "${errors:-1}" "${mismatches:-0}" \
        >>"$results"
}

# One loadgen scenario: every available server, alternating, $rounds times.
scenario() { # kind id label loadgen-args...
    local kind=$1 id=$2 label=$3 r name line servers generator=loadgen
    shift 3
    read -r -a servers <<<"$(servers_of "$kind")"
    ((${#servers[@]})) || return 0
    [[ $kind == tls ]] && generator=tls_loadgen
    echo "### $label"
    for ((r = 1; r <= rounds; r++)); do
        for name in "${servers[@]}"; do
            available "$kind:$name" || continue
            if ! start_server "$kind" "$name"; then
                why_not
                echo "$name round $r: did not start: $why"
                stop_server
                record "$id" "$label" "$name" "$r" ""
                continue
            fi
            line=$("$generator" --port "$port" --server-pid "$server_pid" --seconds "$seconds" \
                --warmup "$warmup" "$@")
            stop_server
            printf '%-13s r%d  %s\n' "$name" "$r" "${line:-no output (see loadgen errors)}"
            record "$id" "$label" "$name" "$r" "$line"
        done
    done
}

# One wrk scenario, pipelined by a Lua script when depth > 1.
wrk_scenario() { # id label connections depth
    local id=$1 label=$2 conns=$3 depth=$4 r name out line cpu0 cpu1
    local lua=$work/pipeline.lua
    ((${#http_servers[@]})) || return 0
    cat >"$lua" <<'LUA'
-- Pipelined GETs: each wrk request is `depth` requests in one write.
init = function(args)
    local depth = tonumber(args[1]) or 1
    local r = {}
    for i = 1, depth do r[i] = wrk.format(nil, "/plaintext") end
    req = table.concat(r)
end
request = function() return req end
LUA
    echo "### $label"
    for ((r = 1; r <= rounds; r++)); do
        for name in "${http_servers[@]}"; do
            available "http:$name" || continue
            if ! start_server http "$name"; then
                why_not
                echo "$name round $r: did not start: $why"
                stop_server
                record "$id" "$label" "$name" "$r" ""
                continue
            fi
            cpu0=$(awk '{ print $14 + $15 }' "/proc/$server_pid/stat")
            out=$(timeout -k 5 $((seconds + 30)) taskset -c 1 wrk -t1 -c"$conns" -d"${seconds}s" \
                --latency -s "$lua" "http://127.0.0.1:$port/plaintext" -- "$depth" 2>&1 || true)
            cpu1=$(awk '{ print $14 + $15 }' "/proc/$server_pid/stat" 2>/dev/null || echo "$cpu0")
            stop_server
            # wrk's latency percentiles are meaningless with pipelining
            # (one sample per batch, most of them 0): kept for depth 1 only.
            line=$(awk -v cpu="$((cpu1 - cpu0))" -v hz="$(getconf CLK_TCK)" -v depth="$depth" '
                function us(v) {
                    if (v ~ /us$/) return v + 0
                    if (v ~ /ms$/) return v * 1000
                    if (v ~ /s$/) return v * 1000000
                    return v
                }
                $1 == "50%" { p50 = us($2) }
                $1 == "99%" { p99 = us($2) }
                / requests in / { n = $1 }
                /^Requests\/sec:/ { rps = $2 }
                /Non-2xx or 3xx responses:/ { errors += $NF }
                /Socket errors:/ { gsub(",", ""); errors += $4 + $6 + $8 + $10 }
                END {
                    if (rps == "") exit
                    if (depth == 1) printf "msgs=%d msgs/s=%.0f p50=%.1fus p99=%.1fus p999=n/a", n, rps, p50, p99
                    else printf "msgs=%d msgs/s=%.0f p50=n/a p99=n/a p999=n/a", n, rps
                    printf " errors=%d mismatches=0", errors
                    if (n > 0) printf " server_cpu_ns_per_msg=%.0f", cpu / hz * 1e9 / n
                }' <<<"$out")
            printf '%-13s r%d  %s\n' "$name" "$r" "${line:-wrk failed: $(tail -1 <<<"$out")}"
            record "$id" "$label" "$name" "$r" "$line"
        done
    done
}

# Memory of idle connections (the approach of idle_memory.sh): server VmRSS
# before and 2 s after $idle_conns connections that send nothing (never
# used), or that each exchanged one verified 64-byte echo (after traffic).
idle_results=$work/idle.tsv
: >"$idle_results"
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
wait_for() { # seconds command...: polls every 50 ms
    local i n=$(($1 * 20))
    shift
    for ((i = 0; i < n; i++)); do
        if "$@"; then return 0; fi
        sleep 0.05
    done
    return 1
}
idle_memory() { # never-used | after-traffic
    local mode=$1 name before fds_before after out client note flags=(--idle)
    ((${#echo_servers[@]})) || return 0
    [[ $mode == after-traffic ]] && flags+=(--after-traffic --size 64)
    echo "### idle memory, $idle_conns connections, $mode"
    for name in "${echo_servers[@]}"; do
        available "echo:$name" || continue
        if ! start_server echo "$name"; then
            why_not
            echo "$name: did not start: $why"
            stop_server
            continue
        fi
        sleep 0.3
        before=$(rss_kib "$server_pid")
        fds_before=$(fds "$server_pid")
        out=$work/idle.$name.$mode.out
        : >"$out"
        taskset -c 1 "$bin/loadgen" --port "$port" "${flags[@]}" --connections "$idle_conns" \
            --seconds 180 >"$out" 2>>"$work/loadgen.err" &
        client=$!
        note=
        if ! wait_for 120 grep -q connected "$out"; then note="client did not finish"; fi
        # Every connection accepted, then 2 s after the last accept or echo.
        if ! wait_for 20 test "$(fds "$server_pid")" -ge $((fds_before + idle_conns)); then
            note="${note:+$note; }only $(($(fds "$server_pid") - fds_before)) accepted"
        fi
        if [[ $mode == after-traffic && $(field "$(cat "$out")" echoed) != "$(field "$(cat "$out")" connected)" ]]; then
            note="${note:+$note; }only $(field "$(cat "$out")" echoed) echoed"
        fi
        sleep 2
        after=$(rss_kib "$server_pid")
        kill "$client" 2>/dev/null || true
        wait "$client" 2>/dev/null || true
        stop_server
        printf '%-13s %s: %s; VmRSS %s KiB before, %s KiB after%s\n' "$name" "$mode" "$(cat "$out")" \
            "$before" "$after" "${note:+ ($note)}"
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$before" "$after" \
            "$(field "$(cat "$out")" connected)" "$note" "$mode" >>"$idle_results"
    done
}

echo "## runs (server on CPU 0, load generator on CPU 1)"
runs_start=$SECONDS
if ((quick)); then
    echo_sizes=("1 64" "100 64" "1000 64" "100 4096")
else
    echo_sizes=("1 64" "1 4096" "100 64" "100 4096" "1000 64" "1000 4096" \
        "10000 64" "10000 4096")
fi
for cs in "${echo_sizes[@]}"; do
    read -r c s <<<"$cs"
    label="echo $c x $s B"
    scenario echo "echo-$c-$s" "$label" --connections "$c" --size "$s"
done
scenario echo echo-100-64-p16 "echo 100 x 64 B, pipeline 16" --connections 100 --size 64 --pipeline 16
scenario echo echo-rate "echo 100 x 64 B at 50 000 msg/s" --connections 100 --size 64 --rate 50000
scenario http http-p1 "http 100 conns, pipeline 1 (loadgen)" --http --connections 100
scenario http http-p16 "http 100 conns, pipeline 16 (loadgen)" --http --connections 100 --pipeline 16
if ((have_wrk)); then
    ((quick)) || wrk_scenario wrk-p1 "http 100 conns, pipeline 1 (wrk)" 100 1
    wrk_scenario wrk-p16 "http 100 conns, pipeline 16 (wrk)" 100 16
fi
scenario tls tls-echo-100-64 "tls echo 100 x 64 B" --connections 100 --size 64
scenario tls tls-echo-100-4096 "tls echo 100 x 4 KiB" --connections 100 --size 4096
scenario tls tls-handshake-full "tls handshakes full (connections/s)" --handshake --connections 8 \
    --verify-every 16
scenario tls tls-handshake-resumed "tls handshakes resumed (connections/s)" --handshake --resumed \
    --connections 8 --verify-every 16
idle_memory never-used
idle_memory after-traffic
echo "runs took $(elapsed "$runs_start")"
echo

# ---------------------------------------------------------------- instructions
instr_results=$work/instructions.tsv
: >"$instr_results"
# count TOOL KIND NAME MESSAGES LOAD-ARGS...: one server run under TOOL,
# driven by loadgen (tls_loadgen for KIND tls) with --messages MESSAGES and
# LOAD-ARGS; its count in $counted ("n/a" if the run failed). Not in a
# subshell (it starts a server and takes a port).
count() {
    local tool=$1 kind=$2 name=$3 messages=$4 out line target generator=loadgen
    shift 4
    local load=("$@")
    [[ $kind == tls ]] && generator=tls_loadgen
    counted=n/a
    out=$work/$tool.$kind.$name.$messages.$(tr -d ' -' <<<"${load[*]}")
    case $tool in
        callgrind) set -- valgrind --tool=callgrind --callgrind-out-file="$out" ;;
        strace) set -- strace -f -c -o "$out" ;;
    esac
    if ! start_server "$kind" "$name" "$@"; then
        why_not
        echo "$name under $tool did not start: $why" >&2
        stop_server
        return
    fi
    if [[ $kind == tls ]]; then load+=("${tls_kx[@]}"); fi
    line=$(timeout -k 5 600 taskset -c 1 "$bin/$generator" --port "$port" --messages "$messages" \
        --timeout 60 "${load[@]}" 2>>"$work/loadgen.err" || true)
    # Stop the server itself (under strace, the tracee): the tool then
    # writes its counts and exits.
    target=$server_pid
    [[ $tool == strace ]] && target=$(pgrep -P "$server_pid" | head -1 || echo "$server_pid")
    stop_server "${target:-$server_pid}"
    if ! grep -q ' errors=0 mismatches=0 ' <<<"$line"; then
        echo "$kind $name under $tool, ${load[*]}, $messages messages: run failed: $line" >&2
        return
    fi
    case $tool in
        callgrind) counted=$(awk '/^summary:/ { print $2 }' "$out") ;;
        strace) counted=$(awk '$NF == "total" { print $4 }' "$out") ;;
    esac
    counted=${counted:-n/a}
}
if ((instructions)); then
    echo "## instructions and syscalls per message (server under callgrind / strace -c -f)"
    echo "100 connections x 64 B; M1=$m1, M2=$m2 messages per connection, (count(M2) - count(M1)) / ((M2 - M1) x 100)"
    echo "TLS handshakes: H1=$h1, H2=$h2 connections, (count(H2) - count(H1)) / (H2 - H1)"
    t=$SECONDS
    # per_message ROW PIPELINE KIND NAME N1 N2 DIVISOR LOAD-ARGS...: both
    # tools at N1 and N2 messages; one result row.
    per_message() {
        local row=$1 pipeline=$2 kind=$3 name=$4 n1=$5 n2=$6 divisor=$7 i1 i2 s1 s2
        shift 7
        count callgrind "$kind" "$name" "$n1" "$@"; i1=$counted
        count callgrind "$kind" "$name" "$n2" "$@"; i2=$counted
        count strace "$kind" "$name" "$n1" "$@"; s1=$counted
        count strace "$kind" "$name" "$n2" "$@"; s2=$counted
        awk -v r="$row" -v p="$pipeline" -v i1="$i1" -v i2="$i2" \
            -v s1="$s1" -v s2="$s2" -v t="$divisor" 'BEGIN {
            ins = (i1 ~ /^[0-9]+$/ && i2 ~ /^[0-9]+$/) ? sprintf("%.0f", (i2 - i1) / t) : "n/a"
            sys = (s1 ~ /^[0-9]+$/ && s2 ~ /^[0-9]+$/) ? sprintf("%.2f", (s2 - s1) / t) : "n/a"
            printf "%s\t%s\t%s\t%s\n", r, p, ins, sys
        }' | tee -a "$instr_results"
    }
    for kind in echo http; do
        mode=()
        [[ $kind == http ]] && mode=(--http)
        for pipeline in 1 16; do
            for name in runtime engine tokio-lean tokio-ct floor; do
                [[ $kind == echo && $name == floor ]] && continue
                [[ " $(servers_of "$kind") " == *" $name "* ]] || continue
                available "$kind:$name" || continue
                per_message "$kind $name" "$pipeline" "$kind" "$name" "$m1" "$m2" \
                    $(((m2 - m1) * 100)) --connections 100 --size 64 --pipeline "$pipeline" "${mode[@]}"
            done
        done
    done
    # TLS: per echoed message (M1, M2 per connection), and per connection
    # with a full or a resumed handshake (H1, H2 connections in all).
    for name in "${tls_servers[@]}"; do
        available "tls:$name" || continue
        per_message "tls-echo $name" 1 tls "$name" "$m1" "$m2" $(((m2 - m1) * 100)) \
            --connections 100 --size 64
        per_message "tls-full $name" - tls "$name" "$h1" "$h2" $((h2 - h1)) --handshake --connections 8
        per_message "tls-resumed $name" - tls "$name" "$h1" "$h2" $((h2 - h1)) --handshake --resumed \
            --connections 8
    done
    echo "instructions took $(elapsed "$t")"
    echo
fi

# ---------------------------------------------------------------- report
echo "## results (median of $rounds round(s); ratio to tokio-lean, TLS: to tokio-rustls)"
echo
columns=("${echo_servers[@]}")
for name in "${http_servers[@]}"; do
    [[ " ${columns[*]} " == *" $name "* ]] || columns+=("$name")
done
python3 - "$results" "$idle_results" "$instr_results" "$idle_conns" "${columns[*]}" \
    "${tls_servers[*]}" \
    "$(for k in "${!unavailable[@]}"; do printf '%s=%s\x1f' "$k" "${unavailable[$k]}"; done)" \
    "$(sed -n '/^#   runtime /,/^#$/p' benches/servers.sh)" <<'PY'
import statistics, sys
from collections import OrderedDict, defaultdict

results, idle, instr, idle_conns, servers, tls_servers, unavail, legend = sys.argv[1:9]
servers = servers.split()
tls_servers = tls_servers.split()
unavailable = dict(kv.split("=", 1) for kv in unavail.split("\x1f") if kv)
BASE = "tokio-lean"
TLS_BASE = "tokio-rustls"

rows = OrderedDict()  # scenario id -> label
runs = defaultdict(list)  # (id, server) -> [fields]
for line in open(results):
    f = line.rstrip("\n").split("\t")
    if len(f) < 11:
        continue
    sid, label, server = f[0], f[1], f[2]
    rows.setdefault(sid, label)
    runs[(sid, server)].append(f[4:11])

def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None

def median(sid, server, col):
    vals = [num(r[col]) for r in runs.get((sid, server), [])]
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None

def bad(sid, server):
    rs = runs.get((sid, server), [])
    return any((num(r[5]) or 0) > 0 or (num(r[6]) or 0) > 0 or num(r[0]) is None for r in rs)

def kind(sid):
    if sid.startswith("tls"):
        return "tls"
    return "echo" if sid.startswith("echo") else "http"

def base(sid):
    return TLS_BASE if kind(sid) == "tls" else BASE

def missing(sid, s):
    key = f"{kind(sid)}:{s}"
    if key in unavailable:
        return "unavailable"
    if kind(sid) == "echo" and s == "floor":
        return "·"
    return "—"

def fmt_int(v):
    return f"{v:,.0f}".replace(",", " ")

def table(title, cell, tls=False):
    columns = tls_servers if tls else servers
    chosen = [(sid, label) for sid, label in rows.items() if (kind(sid) == "tls") == tls]
    if not chosen or not columns:
        return
    print(f"**{title}**")
    print()
    print("| scenario | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for sid, label in chosen:
        cells = []
        for s in columns:
            c = cell(sid, s)
            if c is None:
                c = missing(sid, s)
            elif bad(sid, s):
                c += " !"
            cells.append(c)
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()

def with_ratio(col):
    """A cell: the median of column `col` and its ratio to the base server's."""
    def cell(sid, s):
        v = median(sid, s, col)
        if v is None:
            return None
        b = median(sid, base(sid), col)
        ratio = f" ({v / b:.2f}×)" if b else ""
        return fmt_int(v) + ratio
    return cell

throughput, cpu = with_ratio(0), with_ratio(4)

def latency(sid, s):
    p50, p99 = median(sid, s, 1), median(sid, s, 2)
    if p50 is None:
        return None
    return f"{p50:,.0f} / {p99:,.0f}".replace(",", " ")

if rows:
    table("Throughput, msgs/s (HTTP: responses/s); ratio to tokio-lean, higher is better", throughput)
    table("Latency p50 / p99, µs (wrk: per pipelined batch)", latency)
    table("Server CPU (user + system) per message, ns; ratio to tokio-lean, lower is better", cpu)
    table("TLS throughput, msgs/s (handshakes: new connections/s, each with one 64 B echo); "
          "ratio to tokio-rustls, higher is better", throughput, tls=True)
    table("TLS latency p50 / p99, µs (handshakes: connect to verified echo)", latency, tls=True)
    table("TLS server CPU (user + system) per message (handshakes: per connection), ns; "
          "ratio to tokio-rustls, lower is better", cpu, tls=True)

idle_rows = [l.rstrip("\n").split("\t") for l in open(idle) if l.strip()]
if idle_rows:
    def per_conn(r):
        try:
            return (int(r[2]) - int(r[1])) / max(int(r[3] or 0), 1)
        except (TypeError, ValueError):
            return None
    by = {(r[0], r[5]): r for r in idle_rows}
    modes = [m for m in ("never-used", "after-traffic") if any(r[5] == m for r in idle_rows)]
    print(f"**Idle connections: server VmRSS per connection, {idle_conns} connections, 2 s after "
          "the last accept (never used) or echo (after traffic: one 64-byte message each)**")
    print()
    head = ["server", "RSS at start"] + [f"{m}: KiB/conn (× {BASE})" for m in modes] + ["note"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    names = list(dict.fromkeys(r[0] for r in idle_rows))
    for name in names:
        start = next((by[(name, m)][1] for m in modes if (name, m) in by), "")
        cells, notes = [], []
        for m in modes:
            r = by.get((name, m))
            p = per_conn(r) if r else None
            b = per_conn(by[(BASE, m)]) if (BASE, m) in by else None
            cells.append("n/a" if p is None else f"{p:.2f}" + (f" ({p / b:.2f}×)" if b else ""))
            if r and r[4]:
                notes.append(f"{m}: {r[4]}")
        start = f"{fmt_int(int(start))} KiB" if start.isdigit() else "n/a"
        print(f"| {name} | {start} | " + " | ".join(cells) + " | " + "; ".join(notes) + " |")
    print()

all_instr = [l.rstrip("\n").split("\t") for l in open(instr) if l.strip()]
instr_rows = [r for r in all_instr if not r[0].startswith("tls")]
tls_instr = [r for r in all_instr if r[0].startswith("tls")]
if instr_rows:
    print("**Instructions and syscalls per message (HTTP: per request), 100 connections, echo 64 B "
          "(callgrind, strace -c -f)**")
    print()
    print("| server | pipeline | instr/msg | × tokio-lean | × tokio-ct | syscalls/msg |")
    print("|---|---|---|---|---|---|")
    for r in instr_rows:
        k = r[0].split()[0]
        def ratio(base):
            b = next((x for x in instr_rows if x[0] == f"{k} {base}" and x[1] == r[1]), None)
            return f"{float(r[2]) / float(b[2]):.2f}×" if b and num(r[2]) and num(b[2]) else ""
        print(f"| {r[0]} | {r[1]} | {r[2]} | {ratio('tokio-lean')} | {ratio('tokio-ct')} | {r[3]} |")
    print()

if tls_instr:
    print("**TLS: instructions and syscalls per echoed message (100 connections x 64 B, "
          "pipeline 1) and per new connection (full or resumed handshake, one 64 B echo, "
          "close; 8 at a time) (callgrind, strace -c -f)**")
    print()
    print("| server | scenario | instr/msg | × tokio-rustls | syscalls/msg |")
    print("|---|---|---|---|---|")
    what = {"tls-echo": "echo 100 x 64 B", "tls-full": "handshake, full",
            "tls-resumed": "handshake, resumed"}
    for r in tls_instr:
        k, name = r[0].split()
        b = next((x for x in tls_instr if x[0] == f"{k} {TLS_BASE}"), None)
        ratio = f"{float(r[2]) / float(b[2]):.2f}×" if b and num(r[2]) and num(b[2]) else ""
        print(f"| {name} | {what.get(k, k)} | {r[2]} | {ratio} | {r[3]} |")
    print()

if unavailable:
    print("**Unavailable**")
    print()
    for k in sorted(unavailable):
        print(f"- {k}: unavailable: {unavailable[k]}")
    print()
print("**Columns** (benches/servers.sh; every server on one core):")
print()
print("```text")
for line in legend.splitlines():
    line = line[2:].rstrip() if line.startswith("# ") else line.lstrip("#").rstrip()
    if line:
        print(line)
print("```")
print()
print("`!`: some run had connection errors or mismatches (see the run lines above); "
      "`—`: no result (wrk pipelined: its latency figures are not meaningful); "
      "`·`: no such server for this scenario (the floor: HTTP only). "
      "wrk does not check response bodies; loadgen checks every byte.")
PY
echo
echo "total wall time: $(elapsed "$script_start")"
