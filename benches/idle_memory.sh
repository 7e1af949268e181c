#!/usr/bin/env bash
# What an idle connection costs in resident memory, for every echo server of
# benches/servers.sh, each on one core pinned to CPU 0, with N connections
# from the load generator (pinned to CPU 1) over loopback:
#
#   never used     connected, nothing sent;
#   after traffic  each connection sent one 64-byte message and read its
#                  echo back (verified), then stays idle.
#
# Server VmRSS is read before the connections and 2 s after the last one is
# accepted (never used) or echoed (after traffic); the table gives KiB per
# connection. The binary is measured as it is: whatever it keeps after
# traffic counts.
#
#   benches/idle_memory.sh [connections] [--never-used | --after-traffic]
#
# Both modes by default. SERVERS="runtime engine ..." picks servers.
set -euo pipefail
cd "$(dirname "$0")/.."
conns=10000
modes=(never-used after-traffic)
while (($#)); do
    case $1 in
        --never-used) modes=(never-used) ;;
        --after-traffic) modes=(after-traffic) ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        [0-9]*) conns=$1 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
settle=${SETTLE:-2}

bin=benches/target/release
examples_dir=target/release/examples
# shellcheck source=benches/servers.sh
source benches/servers.sh
servers=(${SERVERS:-${all_echo_servers[*]}})

cargo build --release --example echo --example engine_echo >&2
cargo build --release --manifest-path benches/Cargo.toml --bins >&2

# Server and load generator each hold one fd per connection.
ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < conns + 100)); then
    echo "needs $((conns + 100)) open files, the limit is $(ulimit -n)" >&2
    exit 1
fi
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Polls `$@` every 50 ms for up to $1 seconds.
wait_for() {
    local i n=$(($1 * 20))
    shift
    for ((i = 0; i < n; i++)); do
        if "$@"; then return 0; fi
        sleep 0.05
    done
    return 1
}

port=${PORT:-7300}
results=$tmp/results
: >"$results"

measure() { # name mode: appends "name mode before after connected note"
    local name=$1 mode=$2 cmd server client before fds_before after note=
    cmd=$(server_cmd echo "$name" 1)
    port=$((port + 1))
    while port_busy "$port"; do port=$((port + 1)); done
    # shellcheck disable=SC2086 # the command line is split on purpose
    taskset -c 0 $cmd "$port" >"$tmp/$name.log" 2>&1 &
    server=$!
    pids+=("$server")
    if ! wait_for 10 port_busy "$port"; then
        printf '%s\t%s\t-\t-\t0\tdid not start: %s\n' "$name" "$mode" \
            "$(tail -1 "$tmp/$name.log")" >>"$results"
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
        return
    fi
    sleep 0.3
    before=$(rss_kib "$server")
    fds_before=$(fds "$server")
    local flags=(--idle)
    [[ $mode == after-traffic ]] && flags+=(--after-traffic --size 64)
    taskset -c 1 "$bin/loadgen" --port "$port" --connections "$conns" "${flags[@]}" \
        --seconds 600 >"$tmp/$name.out" 2>"$tmp/$name.err" &
    client=$!
    pids+=("$client")
    wait_for 120 grep -q connected "$tmp/$name.out" || note="client did not finish"
    if ! wait_for 20 test "$(fds "$server")" -ge $((fds_before + conns)); then
        note="${note:+$note; }only $(($(fds "$server") - fds_before)) accepted"
    fi
    sleep "$settle"
    after=$(rss_kib "$server")
    local line
    line=$(cat "$tmp/$name.out")
    kill "$client" "$server" 2>/dev/null || true
    wait "$client" "$server" 2>/dev/null || true
    local connected echoed errors
    connected=$(sed -nE 's/.*connected=([0-9]+).*/\1/p' <<<"$line")
    echoed=$(sed -nE 's/.*echoed=([0-9]+).*/\1/p' <<<"$line")
    errors=$(sed -nE 's/.*errors=([0-9]+).*/\1/p' <<<"$line")
    [[ ${errors:-1} == 0 ]] || note="${note:+$note; }${errors:-?} connection errors"
    if [[ $mode == after-traffic && ${echoed:-0} != "${connected:-x}" ]]; then
        note="${note:+$note; }only ${echoed:-0} echoed"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$mode" "$before" "$after" "${connected:-0}" \
        "$note" >>"$results"
    echo "$name, $mode: $line; VmRSS $before KiB before, $after KiB after${note:+ ($note)}" >&2
}

for mode in "${modes[@]}"; do
    for name in "${servers[@]}"; do
        measure "$name" "$mode"
    done
done

echo
echo "Idle connections: server VmRSS per connection, $conns connections, ${settle} s after the last"
echo "accept (never used) or echo (after traffic: one 64-byte message each), one core"
echo
python3 - "$results" "${modes[*]}" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
modes = sys.argv[2].split()
servers = list(dict.fromkeys(r[0] for r in rows))
def per_conn(r):
    try:
        return (int(r[3]) - int(r[2])) / max(int(r[4]), 1)
    except ValueError:
        return None
cell = {(r[0], r[1]): r for r in rows}
base = {m: per_conn(cell[("tokio-lean", m)]) if ("tokio-lean", m) in cell else None for m in modes}
titles = {"never-used": "never used", "after-traffic": "after traffic"}
head = ["server", "RSS at start"] + [f"{titles[m]}: KiB/conn (× tokio-lean)" for m in modes] + ["note"]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for s in servers:
    start = next((cell[(s, m)][2] for m in modes if (s, m) in cell), "-")
    cells, notes = [], []
    for m in modes:
        r = cell.get((s, m))
        p = per_conn(r) if r else None
        if p is None:
            cells.append("n/a")
        else:
            b = base[m]
            cells.append(f"{p:.2f}" + (f" ({p / b:.2f}×)" if b else ""))
        if r and r[5]:
            notes.append(f"{titles[m]}: {r[5]}")
    start = f"{int(start):,} KiB".replace(",", " ") if start.isdigit() else start
    print(f"| {s} | {start} | " + " | ".join(cells) + " | " + "; ".join(notes) + " |")
PY
