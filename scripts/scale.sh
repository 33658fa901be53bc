#!/usr/bin/env bash
# Resident memory at scale: examples/scale_load.rs opens many WebSocket connections to a
# server, holds them idle, echoes on each, closes them, and reads the server's VmRSS after
# every stage. Servers and counts:
#
#   - event_loop_server: 20,000 connections from 2 processes and 4 source addresses, and 10
#     broadcasts that every connection must receive;
#   - smol_echo_server (tasks on a thread pool): 19,000, no broadcasts (it only echoes);
#   - echo_server (a thread per connection): 16,000 here, no broadcasts.
#
# Why those counts. A process may open 20,000 descriptors (`ulimit -Hn`, which cannot be
# raised here). A server that holds a descriptor per connection also needs its listener and
# standard streams, so 19,000 is a round count that fits; event_loop_server gets 20,000, which
# fits only if its connections do not each take a descriptor of the process (io_uring's
# registered files do not; scale_load prints a note when the server's limit is too small).
# echo_server also needs a thread per connection, and each thread takes four memory mappings
# (its stack and guard page, its signal stack and guard page): with vm.max_map_count at 65,530
# a process cannot have more than about 16,370 threads, after which thread creation fails
# with EAGAIN and echo_server aborts (tried: 19,000 fails that way). So its count is the
# largest multiple of 1,000 under (max_map_count - 1,000) / 4 and pid_max - 2,000, at most
# 19,000: 16,000 here. The other limits are far: threads-max 192,729, no pids cgroup limit,
# 24 GB of memory against the 600 MB that 16,000 threads and their connections take.
#
#   scripts/scale.sh
#
# SCALE_CONNECTIONS sets the count for every server (for a quick run). Each run's table is
# printed as it goes, then one summary: server, connections, the server's RSS at the start,
# with every connection idle, per idle connection, and 2 s after they all closed. Fails if any
# run fails (a connection that did not open, echo, receive a broadcast or close cleanly).
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
bin="$target/release/examples"
connections="${SCALE_CONNECTIONS:-}"
if [ -n "$connections" ] && ! [[ "$connections" =~ ^[1-9][0-9]*$ ]]; then
    echo "scale: SCALE_CONNECTIONS must be a positive number, not '$connections'" >&2
    exit 2
fi

# Servers and load alike hold one descriptor per connection.
ulimit -n "$(ulimit -Hn)"

max_maps="$(cat /proc/sys/vm/max_map_count)"
pid_max="$(cat /proc/sys/kernel/pid_max)"
threads=$(((max_maps - 1000) / 4))
[ $((pid_max - 2000)) -lt "$threads" ] && threads=$((pid_max - 2000))
thread_connections=$((threads / 1000 * 1000))
[ "$thread_connections" -gt 19000 ] && thread_connections=19000

cargo build --release --example scale_load --example event_loop_server \
    --example smol_echo_server --example echo_server

work="$(mktemp -d /tmp/wsmachine-scale.XXXXXX)"
server_pid=""

# shellcheck source=scripts/stop_server.sh
. scripts/stop_server.sh
# The load tool's workers end with it; the server is the one thing left to stop.
cleanup() {
    stop
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "scale: interrupted" >&2; exit 130' INT
trap 'echo "scale: terminated" >&2; exit 143' TERM

servers=(event_loop_server smol_echo_server echo_server)

# Connections, processes, source addresses and broadcasts for server $1.
plan_of() {
    case "$1" in
        event_loop_server) echo "${connections:-20000} 2 4 10" ;;
        smol_echo_server) echo "${connections:-19000} 2 4 0" ;;
        echo_server) echo "${connections:-$thread_connections} 2 4 0" ;;
    esac
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Starts server $1 and waits for its "listening on" line; sets server_pid and url.
start() {
    local name="$1" port
    port="$(free_port)"
    "$bin/$name" "127.0.0.1:$port" >"$work/$name.out" 2>"$work/$name.err" &
    server_pid=$!
    for _ in $(seq 100); do
        url="$(sed -n 's/^listening on \(ws:\/\/[^ ]*\).*/\1/p' "$work/$name.out" 2>/dev/null)" || true
        [ -n "$url" ] && return 0
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "scale: $name did not start" >&2
    tail -n 5 "$work/$name.err" >&2
    exit 1
}

# The RSS column (KiB) of stage $1's row in the load tool's table.
rss_at() {
    awk -F'|' -v stage="$1" '$2 == " " stage " " { gsub(/ /, "", $6); print $6 }' "$work/load"
}

summary=()
failed=()
for name in "${servers[@]}"; do
    read -r n processes sources broadcasts < <(plan_of "$name")
    start "$name"
    echo
    echo "== $name"
    if timeout -k 5 240 "$bin/scale_load" "$url" --connections "$n" --processes "$processes" \
        --sources "$sources" --broadcasts "$broadcasts" --server-pid "$server_pid" \
        --timeout 180 | tee "$work/load"; then
        per="$(sed -n 's/^idle bytes per connection: //p' "$work/load")"
        summary+=("| $name | $n | $(rss_at start) | $(rss_at idle) | $per | $(rss_at after) |")
    else
        failed+=("$name")
        summary+=("| $name | $n | failed | | | |")
        echo "scale: the load failed against $name; the end of its log:" >&2
        tail -n 5 "$work/$name.err" >&2
    fi
    stop
done

echo
echo "| server | connections | RSS at start, KiB | RSS idle, KiB | bytes per idle connection | RSS after close, KiB |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "scale: failed against ${failed[*]}" >&2
    exit 1
fi
