#!/usr/bin/env bash
# Checks chat_server scaled out through Redis: a real redis-server (Debian's, installed if
# missing) on a free loopback port with no persistence, three chat_server nodes started with
# --redis, and PyPI websockets clients (scripts/redis/chat_cluster.py, in the
# conformance/peers environment) on all of them:
#   1. ids from the three nodes never collide, and each node has its own node number;
#   2. a broadcast from each node reaches every client of every node exactly once;
#   3. /msg ID from one node to a client of another arrives once, comes back to its sender
#      once and reaches nobody else; a /msg to an id nobody holds gets an error;
#   4. redis-server stopped: every node says `redis unavailable` on stderr and tells its
#      clients, broadcast and /msg keep working among each node's own clients, a /msg to
#      another node gets an error, new connections still get new ids;
#   5. redis-server started again on the same port (empty: no persistence): every node says
#      `redis available again`, a fourth node started now gets a node number of its own, and
#      checks 1 to 3 pass again across the four;
#   6. FLUSHALL while every node stays connected: 3 s later (a heartbeat is 2 s) a fifth node
#      gets a node number of its own, and checks 1 to 3 pass across the five;
#   7. one node on its own (no --redis): a client that reads nothing while another floods
#      broadcasts is dropped, the flooding client and a third keep chatting, and the server's
#      VmRSS stays under the bound chat_cluster.py states.
# Ends with `redis: N passed, M failed`; exits non-zero if anything failed. Every wait is
# bounded; about 30 s once built.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
set -euo pipefail
# lib.sh's cleanup kills what is already gone without checking: errexit must not cut it short.
trap 'set +e; cleanup' EXIT
PASS_WORD=PASS
FAIL_TAIL=8
PY=$PWD/conformance/peers/.venv/bin/python
CLIENTS=$PWD/scripts/redis/chat_cluster.py

# shellcheck disable=SC2317 # run by step
install_redis() {
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return 0
    DEBIAN_FRONTEND=noninteractive timeout -k 10 600 apt-get install -y -q redis-server ||
        { timeout -k 10 600 apt-get update -q &&
            DEBIAN_FRONTEND=noninteractive timeout -k 10 600 apt-get install -y -q redis-server; }
}
step "apt-get install redis-server" install_redis
step "conformance/peers/install.sh" install_peers
step "cargo build --example chat_server" cargo_build --example chat_server

redis_port=$(free_port)
redis_url="redis://127.0.0.1:$redis_port/"
mkdir -p "$work/redis"
redis_runs=0
# start_redis: a redis-server on $redis_port, empty, keeping nothing on disk; sets redis_pid.
start_redis() {
    redis_runs=$((redis_runs + 1))
    timeout -k 5 300 redis-server --bind 127.0.0.1 --port "$redis_port" --save "" \
        --appendonly no --dir "$work/redis" >"$work/redis$redis_runs.log" 2>&1 &
    redis_pid=$!
    pids+=("$redis_pid")
    for _ in $(seq 100); do
        [ "$(timeout 2 redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.1
    done
    fail "redis-server did not answer PING within 10 s" "$work/redis$redis_runs.log"
    finish
}
stop_redis() {
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
}

# node NAME: a chat_server on a free port with --redis, once it has its node number; sets
# url[NAME].
declare -A url
node() {
    local name=$1
    if ! launch "$name" timeout -k 5 300 "$bin/chat_server" 127.0.0.1:0 --redis "$redis_url"; then
        fail "node $name did not print 'listening on' within 10 s" "$work/$name.err"
        finish
    fi
    url[$name]=$URL
    if ! await_match "$work/$name.err" '/redis: connected/p' >/dev/null; then
        fail "node $name did not connect to Redis within 10 s" "$work/$name.err"
        finish
    fi
}

# clients MODE ARGS...: chat_cluster.py; its PASS and FAIL lines are counted here.
clients() {
    local log=$work/clients-$1.log rc=0 p f
    timeout -k 5 120 "$PY" "$CLIENTS" "$@" >"$log" 2>&1 || rc=$?
    grep -E '^(PASS|FAIL) ' "$log" || true
    p=$(grep -c '^PASS ' "$log" || true)
    f=$(grep -c '^FAIL ' "$log" || true)
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        fail "chat_cluster.py $1 exited $rc" "$log"
    fi
}

# say_in NAME WHAT PATTERN: node NAME's stderr has a line matching PATTERN within 10 s.
say_in() {
    local line
    if line=$(await_match "$work/$1.err" "/$3/p"); then
        pass "node $1 says $2: ${line#chat_server: }"
    else
        fail "node $1 says $2" "$work/$1.err"
    fi
}

start_redis
echo "# redis-server on 127.0.0.1:$redis_port (no persistence)"
node A
node B
node C
echo "# nodes A ${url[A]}, B ${url[B]}, C ${url[C]}"

echo "# 1-3: ids, broadcast and /msg across A, B and C"
clients cluster "${url[A]}" "${url[B]}" "${url[C]}"

echo "# 4: redis-server stopped"
go=$work/redis-stopped
timeout -k 5 120 "$PY" "$CLIENTS" outage "$go" "${url[A]}" "${url[B]}" "${url[C]}" >"$work/clients-outage.log" 2>&1 &
outage_pid=$!
pids+=("$outage_pid")
if await_match "$work/clients-outage.log" '/^connected$/p' >/dev/null; then
    stop_redis
    for name in A B C; do
        say_in "$name" "Redis is lost" 'redis unavailable'
    done
    touch "$go"
else
    fail "the outage clients did not connect within 10 s" "$work/clients-outage.log"
    kill "$outage_pid" 2>/dev/null || true
fi
outage_rc=0
wait "$outage_pid" || outage_rc=$?
grep -E '^(PASS|FAIL) ' "$work/clients-outage.log" || true
passed=$((passed + $(grep -c '^PASS ' "$work/clients-outage.log" || true)))
failed=$((failed + $(grep -c '^FAIL ' "$work/clients-outage.log" || true)))
if [ "$outage_rc" != 0 ] && ! grep -q '^FAIL ' "$work/clients-outage.log"; then
    fail "chat_cluster.py outage exited $outage_rc" "$work/clients-outage.log"
fi

echo "# 5: redis-server started again, empty"
start_redis
for name in A B C; do
    say_in "$name" "Redis is back" 'redis available again'
done
node D
number_of() { sed -n 's/.*redis: node number \([0-9]*\),.*/\1/p' "$work/$1.err" | head -n 1; }
# new_number NODE WHEN OTHERS NUMBERS: NODE's number is none of NUMBERS (those of OTHERS).
new_number() {
    local n
    n=$(number_of "$1")
    if [ -n "$n" ] && ! grep -qw -- "$n" <<<"$4"; then
        pass "node $1, $2, gets node number $n ($3: $4)"
    else
        fail "node $1 gets a node number none of $3 holds ($1: '$n'; $3: $4)" "$work/$1.err"
    fi
}
numbers="$(number_of A) $(number_of B) $(number_of C)"
new_number D "started after Redis lost its data" "A, B, C" "$numbers"
clients cluster "${url[A]}" "${url[B]}" "${url[C]}" "${url[D]}"

echo "# 6: FLUSHALL while every node is connected"
if [ "$(timeout 5 redis-cli -p "$redis_port" FLUSHALL 2>&1)" = OK ]; then
    pass "redis-cli FLUSHALL"
else
    fail "redis-cli FLUSHALL"
fi
sleep 3
node E
new_number E "started 3 s after FLUSHALL" "A, B, C, D" "$numbers $(number_of D)"
clients cluster "${url[A]}" "${url[B]}" "${url[C]}" "${url[D]}" "${url[E]}"

echo "# 7: a client that reads nothing, on a node of its own"
# Not under `timeout`: the pid must be the server's own, for its VmRSS.
if launch S "$bin/chat_server" 127.0.0.1:0 --shutdown-after 300; then
    clients slow "$URL" "$PID"
    if grep -q 'dropped: more than' "$work/S.err"; then
        pass "node S says why it dropped the client: $(sed -n 's/.*\(dropped: more than.*\)/\1/p' "$work/S.err" | head -n 1)"
    else
        fail "node S says why it dropped the client" "$work/S.err"
    fi
else
    fail "node S did not print 'listening on' within 10 s" "$work/S.err"
fi

for name in A B C D E S; do
    if grep -q 'panicked' "$work/$name.err"; then
        fail "node $name panicked" "$work/$name.err"
    fi
done
finish
