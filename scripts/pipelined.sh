#!/usr/bin/env bash
# Pipelined load against each of our echo servers (blocking, smol, tokio, axum), with
# tungstenite's as a reference: 100 connections with 16 messages of 20 B in flight each, then
# with 1 in flight, every echo checked by examples/echo_load.rs. The server runs pinned to one
# core and the load tool to the other. Prints one table row per run: messages/s, latency
# percentiles, and the ratio of the most to the fewest echoes any connection received.
#
#   scripts/pipelined.sh [--syscalls]
#
# --syscalls also runs each server under `strace -f -c` (a shorter run, slowed by the tracing)
# and prints the server's socket reads and writes per echo: recvfrom, recvmsg and readv, and
# sendto, sendmsg and writev (std's TcpStream reads with recv and writes with send; plain read
# and write go to a reactor's eventfd and to the log, and are not counted).
#
# PIPELINED_SECONDS sets the length of a run (default 5); PIPELINED_SERVERS lists the servers
# to run; SERVERS_FROM takes them from another build's examples directory (to compare with an
# older commit). Fails if any run loses or corrupts an echo; the figures themselves are
# reported, not asserted.
set -euo pipefail
cd "$(dirname "$0")/.."

syscalls=false
[ "${1:-}" = "--syscalls" ] && syscalls=true
run_seconds="${PIPELINED_SECONDS:-5}"
target="${CARGO_TARGET_DIR:-target}"

if $syscalls && ! command -v strace >/dev/null; then
    apt-get install -y -q strace >/dev/null
fi

cargo build --release --example echo_server --example smol_echo_server \
    --example tokio_echo_server --example axum_server --example tungstenite_echo_server \
    --example echo_load
load="$target/release/examples/echo_load"
servers_from="${SERVERS_FROM:-$target/release/examples}"

# One core for the server, another for the load, when there are two.
if [ "$(nproc)" -ge 2 ]; then
    server_cpu=(taskset -c 0)
    load_cpu=(taskset -c 1)
else
    server_cpu=()
    load_cpu=()
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# Starts server $1 on port $2 (under strace when $3 is a file for its counts) and waits for
# its "listening" line.
start() {
    local name="$1" port="$2" counts="${3:-}"
    local command=("${server_cpu[@]}" "$servers_from/$name" "127.0.0.1:$port")
    if [ -n "$counts" ]; then
        command=(strace -f -c -o "$counts" --seccomp-bpf
            -e trace=readv,writev,recvfrom,sendto,recvmsg,sendmsg "${command[@]}")
    fi
    "${command[@]}" >"$work/out" 2>/dev/null &
    server_pid=$!
    for _ in $(seq 100); do
        grep -q '^listening on' "$work/out" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "pipelined: $name did not start" >&2
    exit 1
}

# shellcheck source=scripts/stop_server.sh
. scripts/stop_server.sh

# The path each server serves WebSockets on.
path_of() {
    case "$1" in
        axum_server) echo /ws ;;
        *) echo / ;;
    esac
}

# Runs the load tool against server $1; its output goes to $work/load.
run_load() {
    local name="$1" port="$2" depth="$3" seconds="$4"
    local url="ws://127.0.0.1:$port$(path_of "$name")"
    if ! "${load_cpu[@]}" "$load" "$url" --connections 100 --depth "$depth" \
        --size 20 --seconds "$seconds" >"$work/load"; then
        echo "pipelined: the load failed against port $port (depth $depth)" >&2
        exit 1
    fi
}

field() { sed -n "s/^$1//p" "$work/load"; }

servers="${PIPELINED_SERVERS:-echo_server smol_echo_server tokio_echo_server axum_server tungstenite_echo_server}"
port=9460

echo "| server | in flight | messages/s | p50 ms | p99 ms | p99.9 ms | most/fewest echoes |"
echo "|---|---|---|---|---|---|---|"
for name in $servers; do
    for depth in 16 1; do
        port=$((port + 1))
        start "$name" "$port"
        run_load "$name" "$port" "$depth" "$run_seconds"
        stop
        rate="$(field 'messages\/s: ')"
        read -r p50 p99 p999 < <(field 'latency ms: ' |
            awk '{ print $2, $4, $6 }')
        ratio="$(field 'per connection: ' | awk '{ print $NF }')"
        echo "| $name | 100 × $depth | $rate | $p50 | $p99 | $p999 | $ratio |"
    done
done

if $syscalls; then
    echo
    echo "| server (under strace) | in flight | echoes | reads per echo | writes per echo |"
    echo "|---|---|---|---|---|"
    for name in $servers; do
        for depth in 16 1; do
            port=$((port + 1))
            start "$name" "$port" "$work/counts"
            run_load "$name" "$port" "$depth" 2
            stop
            echoes="$(field 'echoes: ')"
            # The summary's rows end with the call's name; the calls column is the fourth.
            awk -v echoes="$echoes" -v name="$name" -v depth="$depth" '
                $NF ~ /^(readv|recvfrom|recvmsg)$/ { reads += $4 }
                $NF ~ /^(writev|sendto|sendmsg)$/ { writes += $4 }
                END {
                    printf "| %s | 100 × %s | %d | %.3f | %.3f |\n",
                        name, depth, echoes, reads / echoes, writes / echoes
                }' "$work/counts"
        done
    done
fi
