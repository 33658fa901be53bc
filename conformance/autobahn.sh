#!/usr/bin/env bash
# autobahn.sh - Autobahn|Testsuite, strict, with wsmachine in both roles.
#
#   conformance/autobahn.sh
#
# 1. cargo build --release --example echo_server --example autobahn_client
# 2. ../shared/autobahn/setup.sh (the wstest chroot; ~1 s when built, ~60 s
#    from scratch; needs Debian's packages and PyPI)
# 3. server role: echo_server on a free loopback port, then
#    fuzzingclient.sh ws://127.0.0.1:PORT wsmachine OUT/server nodeflate
# 4. client role: fuzzingserver.sh PORT2 OUT/client nodeflate --
#    target/release/examples/autobahn_client ws://127.0.0.1:PORT2
# 5. gate, per role: summarize.py's per-group table (Markdown) and exit
#    status with --fail-on every behavior but OK and INFORMATIONAL (both the
#    case behavior and the closing behavior), plus a completeness check: the
#    report must hold all AUTOBAHN_EXPECT cases (301: every case of 1.x-10.x;
#    "nodeflate" leaves out only 12.x/13.x, permessage-deflate).
# Ends with "autobahn: N passed, M failed" (N + M = 2 roles); exit 0 only if
# both roles pass. Nothing is skipped: a failed build, setup or run is a failure.
#
# Environment:
#   OUR_SERVER_CMD   default: target/release/examples/echo_server 127.0.0.1:{port}
#                    must print a line containing "listening on" when ready
#   OUR_CLIENT_CMD   default: target/release/examples/autobahn_client {url}
#                    {port} and {url} are substituted; run with bash from the
#                    repository root. When both are set, no cargo build.
#   AUTOBAHN_OUT     reports go to AUTOBAHN_OUT/{server,client} (default /tmp/wsmachine-autobahn)
#   AUTOBAHN_ROLES   "server client" (default), or just one of them
#   AUTOBAHN_EXPECT  number of cases a complete report holds (default 301)
#   AUTOBAHN_RUN_TIMEOUT  seconds per role for wstest (default 150)
set -uo pipefail
{ # whole body in one block: bash parses it all before running any of it

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/.." && pwd))
SHARED=$(cd "$ROOT/../shared" 2>/dev/null && pwd) || SHARED=$ROOT/../shared
AB=$SHARED/autobahn
cd "$ROOT" || exit 2
T0=$(date +%s)

SERVER_CMD=${OUR_SERVER_CMD:-'target/release/examples/echo_server 127.0.0.1:{port}'}
CLIENT_CMD=${OUR_CLIENT_CMD:-'target/release/examples/autobahn_client {url}'}
OUT=${AUTOBAHN_OUT:-/tmp/wsmachine-autobahn}
ROLES=${AUTOBAHN_ROLES:-server client}
EXPECT=${AUTOBAHN_EXPECT:-301}
RUN_TIMEOUT=${AUTOBAHN_RUN_TIMEOUT:-150}
CASES=nodeflate
# Every behavior wstest can report except OK and INFORMATIONAL (autobahntestsuite/case/case.py).
FAIL_ON='FAILED,NON-STRICT,WRONG CODE,UNCLEAN,FAILED BY CLIENT,UNIMPLEMENTED,NO_CLOSE'
mkdir -p "$OUT"

passed=0 failed=0
SPID=
cleanup() { [ -n "$SPID" ] && { kill -TERM "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; }; SPID=; return 0; }
trap cleanup EXIT
trap 'echo "autobahn.sh: interrupted" >&2; exit 130' INT
trap 'echo "autobahn.sh: terminated" >&2; exit 143' TERM

result() {  # result 0|1 WHAT
  if [ "$1" = 0 ]; then echo "PASS  $2"; passed=$((passed + 1)); else echo "FAIL  $2"; failed=$((failed + 1)); fi
}
finish() {
  echo "autobahn.sh took $(($(date +%s) - T0))s; reports under $OUT"
  echo "autobahn: $passed passed, $failed failed"
  [ "$failed" = 0 ] && [ "$passed" -gt 0 ] && exit 0
  exit 1
}
fail_all() {  # a step every role depends on failed: count every role as failed
  local r
  echo "autobahn.sh: $*" >&2
  for r in $ROLES; do result 1 "autobahn $r role (not run: $1)"; done
  finish
}
expand() {  # expand TEMPLATE PORT URL
  local s=$1
  s=${s//\{port\}/$2}; s=${s//\{url\}/$3}
  printf '%s' "$s"
}
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# gate ROLE DIR: summarize.py's table and strict verdict, plus completeness.
gate() {
  local role=$1 dir=$2 rc=0
  echo
  echo "### Autobahn $role role ($CASES)"
  python3 "$AB/summarize.py" "$dir" --markdown --fail-on "$FAIL_ON" || rc=1
  python3 - "$dir/index.json" "$EXPECT" <<'PY' || rc=1
import json, sys
path, expect = sys.argv[1], int(sys.argv[2])
try:
    data = json.load(open(path))
except Exception as e:
    sys.exit("completeness: no readable report (%s)" % e)
cases = {}
for agent, results in data.items():
    cases.update(results)
groups = {}
for cid in cases:
    groups.setdefault(int(cid.split(".")[0]), 0)
    groups[int(cid.split(".")[0])] += 1
if len(data) != 1:
    sys.exit("completeness: expected one agent in the report, found %r" % sorted(data))
if len(cases) != expect:
    sys.exit("completeness: %d cases in the report, expected %d (groups: %s)" % (len(cases), expect, groups))
missing = [g for g in (1, 2, 3, 4, 5, 6, 7, 9, 10) if g not in groups]
if missing:
    sys.exit("completeness: no cases of group(s) %s" % missing)
print("completeness: %d cases, groups %s" % (len(cases), ", ".join("%d.x" % g for g in sorted(groups))))
PY
  return "$rc"
}

# ---------------------------------------------------------------- 1. build
if [ -z "${OUR_SERVER_CMD:-}" ] || [ -z "${OUR_CLIENT_CMD:-}" ]; then
  echo "# cargo build --release --example echo_server --example autobahn_client"
  if ! timeout -k 10 1800 cargo build --release --example echo_server --example autobahn_client >"$OUT/build.log" 2>&1; then
    tail -n 20 "$OUT/build.log" >&2
    fail_all "cargo build failed (log: $OUT/build.log)"
  fi
fi

# ---------------------------------------------------------------- 2. harness
[ -x "$AB/setup.sh" ] || fail_all "no Autobahn harness at $AB (expected the shared folder next to the repository)"
echo "# $AB/setup.sh"
if ! timeout -k 10 1500 "$AB/setup.sh" >"$OUT/setup.log" 2>&1; then
  tail -n 15 "$OUT/setup.log" >&2
  fail_all "Autobahn setup.sh failed: are Debian's package mirrors and PyPI reachable? (log: $OUT/setup.log)"
fi
tail -n 1 "$OUT/setup.log" | sed 's/^/# /'
echo "# wsmachine server: $SERVER_CMD"
echo "# wsmachine client: $CLIENT_CMD"

# ---------------------------------------------------------------- 3. server role
run_server_role() {
  local port url cmd i rc
  port=$(free_port)
  url="ws://127.0.0.1:$port"
  cmd=$(expand "$SERVER_CMD" "$port" "$url")
  echo "# server role: $cmd"
  : >"$OUT/server-process.log"  # exists before the background job opens it
  timeout -k 5 $((RUN_TIMEOUT + 60)) bash -c "exec $cmd" >"$OUT/server-process.log" 2>&1 &
  SPID=$!
  for ((i = 0; i < 200; i++)); do
    grep -q 'listening on' "$OUT/server-process.log" && break
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q 'listening on' "$OUT/server-process.log"; then
    tail -n 10 "$OUT/server-process.log" >&2
    echo "autobahn.sh: the server did not print 'listening on' within 20 s" >&2
    cleanup; return 1
  fi
  AUTOBAHN_TIMEOUT=$RUN_TIMEOUT "$AB/fuzzingclient.sh" "$url" wsmachine "$OUT/server" "$CASES" >"$OUT/server.out" 2>&1
  rc=$?
  if ! kill -0 "$SPID" 2>/dev/null; then
    echo "autobahn.sh: the server exited during the run:" >&2; tail -n 10 "$OUT/server-process.log" >&2
    rc=1
  fi
  cleanup
  case $rc in
    0|1) ;;  # 1 = some case FAILED; the gate below reports it
    124) echo "autobahn.sh: wstest ran past ${RUN_TIMEOUT}s" >&2; tail -n 5 "$OUT/server.out" >&2 ;;
    *) echo "autobahn.sh: fuzzingclient.sh exited $rc" >&2; tail -n 10 "$OUT/server.out" >&2 ;;
  esac
  gate server "$OUT/server" && [ "$rc" -le 1 ]
}

# ---------------------------------------------------------------- 4. client role
run_client_role() {
  local port url cmd rc
  port=$(free_port)
  url="ws://127.0.0.1:$port"
  cmd=$(expand "$CLIENT_CMD" "$port" "$url")
  echo "# client role: $cmd"
  AUTOBAHN_TIMEOUT=$RUN_TIMEOUT "$AB/fuzzingserver.sh" "$port" "$OUT/client" "$CASES" -- bash -c "exec $cmd" \
    >"$OUT/client.out" 2>&1
  rc=$?
  case $rc in
    0|1) ;;
    3) echo "autobahn.sh: the client command failed or timed out:" >&2; grep -m 5 'client command' "$OUT/client.out" >&2 ;;
    *) echo "autobahn.sh: fuzzingserver.sh exited $rc" >&2; tail -n 10 "$OUT/client.out" >&2 ;;
  esac
  gate client "$OUT/client" && [ "$rc" -le 1 ]
}

for role in $ROLES; do
  case $role in
    server) run_server_role; result $? "autobahn server role (fuzzingclient vs wsmachine server; $OUT/server)" ;;
    client) run_client_role; result $? "autobahn client role (fuzzingserver vs wsmachine client; $OUT/client)" ;;
    *) result 1 "unknown role '$role' in AUTOBAHN_ROLES" ;;
  esac
done
echo
finish
}
