#!/usr/bin/env bash
# End-to-end echo race: our echo servers and other libraries' under the same load, one server
# at a time, beside the plain TCP echo that bounds them all on this machine.
#
#   scripts/race.sh
#
# Servers, in this order (RACE_SERVERS lists a subset, space-separated):
#   - ours: echo_server (blocking, a thread per connection), smol_echo_server,
#     tokio_echo_server, axum_server, event_loop_server (io_uring, run with --quiet; Linux);
#   - tokio-tungstenite, fastwebsockets, tokio-websockets: examples/race_peers.rs, each on a
#     current-thread tokio runtime;
#   - bun: Bun.serve (its WebSocket server is uWebSockets), scripts/race/bun_echo.js, run by
#     npm's `bun` package at the version pinned below, installed into scripts/race/.npm/ when
#     it is not there already;
#   - tcp: `race_peers tcp`, which answers the upgrade with a 101 and then sends back every
#     byte it gets, unchanged; echo_load's --raw checks that each echo is the masked frame sent.
# Workloads (RACE_WORKLOADS lists a subset by number, e.g. "1 3"):
#   1. 100 connections × 20 B text, 1 message in flight on each
#   2. 100 connections × 20 B text, 16 in flight on each
#   3. 10 connections × 1 KiB binary, 16 in flight on each
#   4. 200 connections × 16 KiB binary, 1 in flight on each
#
# How: for every workload and server, a fresh server starts pinned to core 0 (`taskset -c 0`)
# on a free loopback port; once it prints its `listening on` line, examples/echo_load.rs,
# pinned to core 1, opens the connections and keeps the messages in flight for RACE_SECONDS
# (default 5), checking every echo, then closes them; the server is stopped. Each wait is
# bounded: the server's start (10 s), echo_load (which ends by itself within RACE_SECONDS +
# 14 s, killed after RACE_SECONDS + 30 s all the same) and the server itself (RACE_SECONDS +
# 60 s).
#
# Prints one table: for each workload and server, echoes per second, latency p50 and p99 (ms),
# and that rate over Bun's and over the TCP echo's on the same workload (n/a when that one did
# not run). The table is also written to $CARGO_TARGET_DIR/race.txt (default target/race.txt).
# Fails (exit 1) if any run fails: a server that does not start or exits during its run, an
# echo lost, wrong or late (echo_load fails), or bun selected but not installable. The figures
# themselves are reported, not asserted: anything else running on the machine moves them. A
# rate above the TCP echo's means that echo_load's one core, not the server, bounded the run.
set -euo pipefail
cd "$(dirname "$0")/.."

bun_version=1.4.5
all_servers="echo_server smol_echo_server tokio_echo_server axum_server event_loop_server \
tokio-tungstenite fastwebsockets tokio-websockets bun tcp"
run_seconds="${RACE_SECONDS:-5}"
servers="${RACE_SERVERS:-$all_servers}"
workloads="${RACE_WORKLOADS:-1 2 3 4}"
target="${CARGO_TARGET_DIR:-target}"
bin="$target/release/examples"
bun_dir=scripts/race/.npm
bun="$bun_dir/node_modules/.bin/bun"

die() {
    echo "race: $*" >&2
    exit 2
}

if ! [[ "$run_seconds" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
    die "RACE_SECONDS must be a number of seconds, not '$run_seconds'"
fi
for name in $servers; do
    case " $all_servers " in
        *" $name "*) ;;
        *) die "unknown server '$name' in RACE_SERVERS (known: $all_servers)" ;;
    esac
done
for w in $workloads; do
    case "$w" in
        1 | 2 | 3 | 4) ;;
        *) die "unknown workload '$w' in RACE_WORKLOADS (known: 1 2 3 4)" ;;
    esac
done
[ -n "${servers// /}" ] || die "RACE_SERVERS names no server"
[ -n "${workloads// /}" ] || die "RACE_WORKLOADS names no workload"
selected() { [[ " $servers " == *" $1 "* ]]; }
if selected event_loop_server && [ "$(uname -s)" != Linux ]; then
    die "event_loop_server runs on io_uring, Linux only: leave it out of RACE_SERVERS"
fi

# The builds, and bun when it is selected.
examples=(--example echo_load)
for name in $servers; do
    case "$name" in
        bun) ;;
        tokio-tungstenite | fastwebsockets | tokio-websockets | tcp)
            [[ " ${examples[*]} " == *" race_peers "* ]] || examples+=(--example race_peers)
            ;;
        *) examples+=(--example "$name") ;;
    esac
done
timeout -k 10 1800 cargo build --release --quiet "${examples[@]}"

if selected bun && [ "$("$bun" --version 2>/dev/null)" != "$bun_version" ]; then
    command -v npm >/dev/null ||
        { echo "race: npm is needed to install bun (or leave bun out of RACE_SERVERS)" >&2; exit 1; }
    echo "race: installing bun $bun_version into $bun_dir" >&2
    if ! timeout -k 10 600 npm install --prefix "$bun_dir" --no-save --no-audit --no-fund \
        --loglevel=error "bun@$bun_version" >&2; then
        echo "race: npm could not install bun $bun_version (or leave bun out of RACE_SERVERS)" >&2
        exit 1
    fi
    if [ "$("$bun" --version 2>/dev/null)" != "$bun_version" ]; then
        echo "race: npm installed bun, but $bun --version does not print $bun_version" >&2
        exit 1
    fi
fi

# One core for the server, another for the load.
if [ "$(nproc)" -ge 2 ]; then
    server_cpu=(taskset -c 0)
    load_cpu=(taskset -c 1)
    pinning="server on core 0, echo_load on core 1"
else
    echo "race: one core only: server and load run unpinned, on the same core" >&2
    server_cpu=()
    load_cpu=()
    pinning="server and echo_load on the one core"
fi

# Time limits in whole seconds, RACE_SECONDS being perhaps a fraction.
load_limit=$(awk -v s="$run_seconds" 'BEGIN { print int(s) + 30 }')
server_limit=$(awk -v s="$run_seconds" 'BEGIN { print int(s) + 60 }')

work="$(mktemp -d /tmp/wsmachine-race.XXXXXX)"
server_pid=""

# shellcheck source=scripts/stop_server.sh
. scripts/stop_server.sh
cleanup() {
    stop
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "race: interrupted" >&2; exit 130' INT
trap 'echo "race: terminated" >&2; exit 143' TERM

# The command line of server $1 listening on $2, in `server_cmd`.
server_command() {
    case "$1" in
        event_loop_server) server_cmd=("$bin/event_loop_server" "$2" --quiet) ;;
        tokio-tungstenite | fastwebsockets | tokio-websockets | tcp)
            server_cmd=("$bin/race_peers" "$1" "$2")
            ;;
        bun) server_cmd=("$bun" run scripts/race/bun_echo.js "$2") ;;
        *) server_cmd=("$bin/$1" "$2") ;;
    esac
}

# The path each server serves WebSockets on.
path_of() {
    case "$1" in
        axum_server) echo /ws ;;
        *) echo / ;;
    esac
}

# Starts server $1 on a free port and waits for its `listening on` line; sets server_pid and
# hostport. Fails if the server has not printed it within 10 s or has exited.
start() {
    local name=$1 server_cmd
    server_command "$name" 127.0.0.1:0
    timeout -k 5 "$server_limit" "${server_cpu[@]}" "${server_cmd[@]}" \
        >"$work/server.out" 2>"$work/server.err" &
    server_pid=$!
    # shellcheck disable=SC2016 # the inner script's own variables
    if ! timeout 10 bash -c 'until grep -q "^listening on " "$1"; do
            kill -0 "$2" 2>/dev/null || exit 1
            sleep 0.1
        done' _ "$work/server.out" "$server_pid"; then
        return 1
    fi
    hostport="$(sed -n 's|^listening on [a-z]*://\([^/ ]*\).*|\1|p' "$work/server.out" | head -n 1)"
    [ -n "$hostport" ]
}

# echo_load's options for workload $1, and its label.
workload_args() {
    case "$1" in
        1) load_args=(--connections 100 --size 20 --depth 1) label="100 × 20 B text, 1 in flight" ;;
        2) load_args=(--connections 100 --size 20 --depth 16) label="100 × 20 B text, 16 in flight" ;;
        3) load_args=(--connections 10 --size 1024 --depth 16 --binary)
            label="10 × 1 KiB binary, 16 in flight" ;;
        4) load_args=(--connections 200 --size 16384 --depth 1 --binary)
            label="200 × 16 KiB binary, 1 in flight" ;;
    esac
}

# Shows the last lines of the logs of a failed run.
show_logs() {
    local file
    for file in "$work/load.err" "$work/server.out" "$work/server.err"; do
        [ -s "$file" ] || continue
        echo "race:   $(basename "$file"):" >&2
        tail -n 5 "$file" | sed 's/^/race:     /' >&2
    done
}

declare -A rate p50 p99
failures=()
notes=()
runs=0
total=$(($(wc -w <<<"$workloads") * $(wc -w <<<"$servers")))
for w in $workloads; do
    workload_args "$w"
    for name in $servers; do
        runs=$((runs + 1))
        key="$w/$name"
        : >"$work/load.out"
        : >"$work/load.err"
        : >"$work/server.out"
        : >"$work/server.err"
        what="workload $w ($label), $name"
        if ! start "$name"; then
            if kill -0 "$server_pid" 2>/dev/null; then
                why="the server printed no listening line within 10 s"
                stop
            else
                status=0
                wait "$server_pid" || status=$?
                server_pid=""
                why="the server exited with status $status before it listened"
            fi
            echo "race: [$runs/$total] $what: $why" >&2
            show_logs
            failures+=("$what: $why")
            continue
        fi
        extra=()
        [ "$name" = tcp ] && extra=(--raw)
        load_rc=0
        timeout -k 5 "$load_limit" "${load_cpu[@]}" "$bin/echo_load" \
            "ws://$hostport$(path_of "$name")" "${load_args[@]}" "${extra[@]}" \
            --seconds "$run_seconds" >"$work/load.out" 2>"$work/load.err" || load_rc=$?
        alive=true
        kill -0 "$server_pid" 2>/dev/null || alive=false
        stop
        got_rate="$(sed -n 's/^messages\/s: //p' "$work/load.out")"
        if [ "$load_rc" != 0 ] || [ -z "$got_rate" ] || ! $alive; then
            if ! $alive; then
                why="the server exited during the run"
            else
                why="echo_load failed (exit $load_rc)"
            fi
            echo "race: [$runs/$total] $what: $why" >&2
            show_logs
            failures+=("$what: $why: $(tail -n 1 "$work/load.err")")
            continue
        fi
        rate[$key]="$got_rate"
        read -r "p50[$key]" "p99[$key]" < <(sed -n 's/^latency ms: //p' "$work/load.out" |
            awk '{ print $2, $4 }')
        echo "race: [$runs/$total] $what: $got_rate messages/s" >&2
        while IFS= read -r line; do
            notes+=("$what: $line")
        done <"$work/load.err"
    done
done

# ratio A B: A over B to two decimals, n/a when B is missing.
ratio() {
    if [ -n "$2" ]; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; else echo n/a; fi
}

mkdir -p "$target"
{
    echo "race: $run_seconds s per run, $pinning"
    echo
    echo "| workload | server | messages/s | p50 ms | p99 ms | ÷ Bun | ÷ TCP |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for w in $workloads; do
        workload_args "$w"
        for name in $servers; do
            key="$w/$name"
            if [ -z "${rate[$key]:-}" ]; then
                echo "| $w. $label | $name | FAILED | | | | |"
                continue
            fi
            echo "| $w. $label | $name | ${rate[$key]} | ${p50[$key]} | ${p99[$key]} |" \
                "$(ratio "${rate[$key]}" "${rate[$w/bun]:-}") |" \
                "$(ratio "${rate[$key]}" "${rate[$w/tcp]:-}") |"
        done
    done
    for note in "${notes[@]}"; do echo "note: $note"; done
    for failure in "${failures[@]}"; do echo "FAILED: $failure"; done
} | tee "$target/race.txt"

echo "race: $runs runs in ${SECONDS} s" >&2
if [ "${#failures[@]}" -gt 0 ]; then
    echo "race: ${#failures[@]} of $runs runs failed" >&2
    exit 1
fi
