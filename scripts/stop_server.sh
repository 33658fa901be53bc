# Sourced by the load scripts that run one server at a time and keep its process id in
# server_pid (pipelined.sh, scale.sh, race.sh):
#   . scripts/stop_server.sh   (from the repository root)
# shellcheck shell=bash

# Stops the server: SIGTERM to it and to its children (under strace or timeout the server is
# their child, and strace writes its counts once the server ends), up to 10 s for it to end,
# then SIGKILL. Clears server_pid; does nothing when it is empty.
stop() {
    [ -n "${server_pid:-}" ] || return 0
    pkill -TERM -P "$server_pid" 2>/dev/null || true
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}
