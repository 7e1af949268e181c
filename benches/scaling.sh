#!/usr/bin/env bash
# Scaling across cores: echo and HTTP pipelined throughput, and server CPU
# per message, with the server on 1, 2, 4 and 8 cores (CPUs 0..n-1) and the
# load generator on the CPUs left (one loadgen process per CPU, connections
# shared among them). Ours (async and engine) against tokio current_thread
# per core (tokio-lean), tokio multi_thread, glommio, monoio and compio; the
# configurations are those of benches/servers.sh. Prints, per scenario and
# server, msgs/s and the speed-up over the same server on one core.
#
#   benches/scaling.sh [--quick] [--seconds S] [--rounds N] [--cores "1 2 4 8"]
#
# A core count that leaves no CPU for the load generator is skipped, so on a
# 2-core machine only the 1-core row runs; on 16 CPUs, all four. Every
# echoed byte and every response is verified; a run with an error or a
# mismatch is shown as "!" and never as a figure. Needs a quiet machine.
#
# Scenarios: echo 64 B pipeline 16 and HTTP plaintext pipeline 16, with
# CONNECTIONS_PER_CORE (default 100) connections per server core.
# SERVERS="runtime engine ..." picks servers.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=5
rounds=1
warmup=1
core_counts="1 2 4 8"
while (($#)); do
    case $1 in
        --quick) seconds=2; warmup=0.5 ;;
        --seconds) seconds=${2:?}; shift ;;
        --rounds) rounds=${2:?}; shift ;;
        --cores) core_counts=${2:?}; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
per_core=${CONNECTIONS_PER_CORE:-100}
cpus=$(nproc)

bin=benches/target/release
examples_dir=target/release/examples
# shellcheck source=benches/servers.sh
source benches/servers.sh
servers=(${SERVERS:-runtime engine tokio-lean tokio-mt glommio monoio-uring monoio-epoll compio-uring compio-poll})

cargo build --release --example echo --example engine_echo --example http_plaintext \
    --example engine_http >&2
cargo build --release --manifest-path benches/Cargo.toml --bins >&2

ulimit -n "$(ulimit -Hn)"
tmp=$(mktemp -d)
server_pid=
trap '[[ -n $server_pid ]] && kill -- "-$server_pid" 2>/dev/null; rm -rf "$tmp"' EXIT

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=${PORT:-17900}

counts=()
for n in $core_counts; do
    if ((n + 1 > cpus)); then
        echo "note: $n server cores need $((n + 1)) CPUs or more, this machine has $cpus: skipped" >&2
    else
        counts+=("$n")
    fi
done
((${#counts[@]})) || { echo "no core count fits on $cpus CPUs" >&2; exit 1; }
echo "# scaling.sh: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $cpus CPUs, $(uname -r)," \
    "server cores: ${counts[*]}, ${seconds} s per run after ${warmup} s, $rounds round(s)"

results=$tmp/results
: >"$results"

# run KIND NAME CORES ROUND: one run; appends "kind name cores round msgs/s cpu_ns ok".
run() {
    local kind=$1 name=$2 n=$3 round=$4 cmd
    cmd=$(server_cmd "$kind" "$name" "$n")
    [[ -n $cmd ]] || return 0
    port=$((port + 1))
    while port_busy "$port"; do port=$((port + 1)); done
    # shellcheck disable=SC2086 # the command line is split on purpose
    setsid taskset -c "0-$((n - 1))" $cmd "$port" >"$tmp/server.log" 2>&1 &
    server_pid=$!
    local i
    for ((i = 0; i < 200; i++)); do
        port_busy "$port" && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.05
    done
    if ! port_busy "$port"; then
        echo "$kind $name on $n core(s): did not start: $(tail -1 "$tmp/server.log")" >&2
        kill -- "-$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=
        printf '%s\t%s\t%s\t%s\t\t\tunavailable\n' "$kind" "$name" "$n" "$round" >>"$results"
        return
    fi
    # One loadgen per CPU left, the connections shared among them.
    local gens=$((cpus - n)) total=$((per_core * n)) g pids=() mode=(--size 64)
    ((gens > total)) && gens=$total
    [[ $kind == http ]] && mode=(--http)
    for ((g = 0; g < gens; g++)); do
        local conns=$((total / gens + (g < total % gens ? 1 : 0)))
        local extra=()
        ((g == 0)) && extra=(--server-pid "$server_pid")
        taskset -c "$((n + g))" "$bin/loadgen" --port "$port" --connections "$conns" \
            "${mode[@]}" --pipeline 16 --seconds "$seconds" --warmup "$warmup" --timeout 10 \
            "${extra[@]}" >"$tmp/gen.$g" 2>>"$tmp/gen.err" &
        pids+=($!)
    done
    for g in "${pids[@]}"; do wait "$g" || true; done
    kill -- "-$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
    cat "$tmp"/gen.[0-9]* | python3 -c '
import sys
kind, name, n, rnd = sys.argv[1:5]
lines = [l for l in sys.stdin.read().splitlines() if l.strip()]
f = [dict(kv.split("=", 1) for kv in l.split() if "=" in kv) for l in lines]
ok = len(f) == int(sys.argv[5]) and all(d.get("errors") == "0" and d.get("mismatches") == "0" for d in f)
rate = sum(float(d.get("msgs/s", 0)) for d in f)
msgs = sum(int(d.get("msgs", 0)) for d in f)
cpu = ""
if f and "server_cpu_ns_per_msg" in f[0] and msgs:
    # The first generator saw the server CPU of the whole window: per all messages.
    cpu = "%.0f" % (float(f[0]["server_cpu_ns_per_msg"]) * int(f[0]["msgs"]) / msgs)
print("\t".join([kind, name, n, rnd, "%.0f" % rate, cpu, "ok" if ok else "bad"]))
' "$kind" "$name" "$n" "$round" "$gens" >>"$results"
    rm -f "$tmp"/gen.[0-9]*
    tail -1 "$results" | awk -F'\t' '{ printf "%-5s %-13s %2s core(s) r%s: %s msgs/s, %s ns CPU/msg, %s\n", $1, $2, $3, $4, $5, $6, $7 }' >&2
}

for kind in echo http; do
    for n in "${counts[@]}"; do
        for ((r = 1; r <= rounds; r++)); do
            for name in "${servers[@]}"; do
                run "$kind" "$name" "$n" "$r"
            done
        done
    done
done

python3 - "$results" "${counts[*]}" "$per_core" <<'PY'
import statistics, sys
from collections import defaultdict
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
counts = sys.argv[2].split()
per_core = sys.argv[3]
runs = defaultdict(list)
status = {}
for kind, name, n, r, rate, cpu, ok in rows:
    status.setdefault((kind, name, n), set()).add(ok)
    if ok == "ok":
        runs[(kind, name, n)].append((float(rate), float(cpu) if cpu else None))
names = list(dict.fromkeys(r[1] for r in rows))
titles = {"echo": "echo 64 B, pipeline 16", "http": "HTTP plaintext, pipeline 16"}
for kind in ("echo", "http"):
    print()
    print(f"**{titles[kind]}, {per_core} connections per server core: msgs/s (speed-up over 1 core) / server CPU ns per message**")
    print()
    print("| server | " + " | ".join(f"{n} core(s)" for n in counts) + " |")
    print("|---" * (len(counts) + 1) + "|")
    for name in names:
        if not any((kind, name, n) in status for n in counts):
            continue
        one = runs.get((kind, name, counts[0]))
        base = statistics.median(r for r, _ in one) if one and counts[0] == "1" else None
        cells = []
        for n in counts:
            rs = runs.get((kind, name, n))
            st = status.get((kind, name, n), set())
            if not rs:
                cells.append("unavailable" if "unavailable" in st else ("!" if "bad" in st else "—"))
                continue
            rate = statistics.median(r for r, _ in rs)
            cpus = [c for _, c in rs if c is not None]
            cpu = f"{statistics.median(cpus):,.0f}" if cpus else "n/a"
            speed = f" ({rate / base:.2f}×)" if base else ""
            cells.append(f"{rate:,.0f}{speed} / {cpu}".replace(",", " ") + (" !" if "bad" in st else ""))
        print(f"| {name} | " + " | ".join(cells) + " |")
print()
print("Servers and their configurations: benches/servers.sh (tokio-lean is tokio current_thread per core).")
PY
