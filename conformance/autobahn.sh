#!/usr/bin/env bash
# autobahn.sh - Autobahn|Testsuite, strict, with wsmachine in both roles.
#
#   conformance/autobahn.sh
#
# 1. cargo build --release --example echo_server --example autobahn_client
# 2. ../shared/autobahn/setup.sh (the wstest chroot; ~1 s when built, ~60 s
#    from scratch; needs Debian's packages and PyPI)
# 3. server role: echo_server on a free loopback port (it accepts
#    permessage-deflate), then
#    fuzzingclient.sh ws://127.0.0.1:PORT wsmachine OUT/server all
# 4. client role: fuzzingserver.sh PORT2 OUT/client all --
#    target/release/examples/autobahn_client ws://127.0.0.1:PORT2
#    (it offers permessage-deflate on every case)
# 5. gate, per role: summarize.py's per-group table (Markdown) and exit
#    status with --fail-on every behavior but OK and INFORMATIONAL (both the
#    case behavior and the closing behavior), plus
#    - completeness: the report must hold all AUTOBAHN_EXPECT cases (517:
#      every case of 1.x-10.x, 12.x and 13.x; 11.x does not exist), and
#    - compression: every 12.x/13.x case's per-case report must show
#      permessage-deflate agreed in its opening handshake (offered in the
#      request's Sec-WebSocket-Extensions, accepted in the 101 response's);
#      prints "compression agreed in N of M cases of 12.x/13.x".
# Ends with "autobahn: N passed, M failed" (N + M = 2 roles); exit 0 only if
# both roles pass. Nothing is skipped: a failed build, setup or run is a failure.
# Takes 9.5-16.5 min per role on 2 cores (12.x/13.x are nearly all of it).
#
# Environment:
#   OUR_SERVER_CMD   default: target/release/examples/echo_server 127.0.0.1:{port}
#                    must print a line containing "listening on" when ready
#   OUR_CLIENT_CMD   default: target/release/examples/autobahn_client {url}
#                    {port} and {url} are substituted; run with bash from the
#                    repository root. When both are set, no cargo build.
#   AUTOBAHN_OUT     reports go to AUTOBAHN_OUT/{server,client} (default /tmp/wsmachine-autobahn)
#   AUTOBAHN_ROLES   "server client" (default), or just one of them
#   AUTOBAHN_EXPECT  number of cases a complete report holds (default 517)
#   AUTOBAHN_RUN_TIMEOUT  seconds per role for wstest (default 1500)
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
EXPECT=${AUTOBAHN_EXPECT:-517}
RUN_TIMEOUT=${AUTOBAHN_RUN_TIMEOUT:-1500}
CASES=all
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

# gate ROLE DIR: summarize.py's table and strict verdict, completeness, compression.
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
missing = [g for g in (1, 2, 3, 4, 5, 6, 7, 9, 10, 12, 13) if g not in groups]
if missing:
    sys.exit("completeness: no cases of group(s) %s" % missing)
print("completeness: %d cases, groups %s" % (len(cases), ", ".join("%d.x" % g for g in sorted(groups))))
PY
  python3 - "$dir" <<'PY' || rc=1
# compression: permessage-deflate agreed in every 12.x/13.x case, read from the
# opening handshake wstest recorded in each per-case report (httpRequest /
# httpResponse; the same in both roles: the request is the client's, the
# response the server's). trafficStats (recorded for OK cases) adds what was
# sent compressed: "incoming" is what wstest received, i.e. wsmachine's messages.
import json, os, sys
d = sys.argv[1]
try:
    data = json.load(open(os.path.join(d, "index.json")))
except Exception as e:
    sys.exit("compression: no readable report (%s)" % e)
cases = {}
for results in data.values():
    cases.update(results)
key = lambda c: tuple(int(p) for p in c.split("."))
ids = sorted((c for c in cases if c.split(".")[0] in ("12", "13")), key=key)

def extensions(http):
    """(status line, [extension strings]) of a recorded HTTP head."""
    lines = (http if isinstance(http, str) else "").split("\r\n")
    exts = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() == "sec-websocket-extensions":
            exts += [e.strip() for e in value.split(",") if e.strip()]
    return lines[0], exts

def deflate(exts):
    return [e for e in exts if e.split(";")[0].strip().lower() == "permessage-deflate"]

agreed, bad, accepted = 0, [], {}
ours = [0, 0]    # [cases whose wsmachine messages arrived compressed, cases with trafficStats]
theirs = [0, 0]  # the same for wstest's messages
for c in ids:
    try:
        rep = json.load(open(os.path.join(d, cases[c].get("reportfile") or "?")))
    except Exception as e:
        bad.append((c, "no readable per-case report (%s)" % e))
        continue
    _, offered = extensions(rep.get("httpRequest"))
    status, answer = extensions(rep.get("httpResponse"))
    if not status.startswith("HTTP/1.1 101"):
        bad.append((c, "handshake not completed: %r" % status))
    elif not deflate(offered):
        bad.append((c, "permessage-deflate not offered (request extensions: %r)" % offered))
    elif len(deflate(answer)) != 1 or len(answer) != 1:
        bad.append((c, "permessage-deflate not accepted (response extensions: %r)" % answer))
    else:
        agreed += 1
        accepted.setdefault(answer[0], []).append(c)
    ts = rep.get("trafficStats") or {}
    for counts, ratio in ((ours, ts.get("incomingCompressionRatio")), (theirs, ts.get("outgoingCompressionRatio"))):
        if ratio is not None:
            counts[1] += 1
            counts[0] += ratio != 1.0
print("compression: agreed parameters (the 101 response's Sec-WebSocket-Extensions):")
for ext, cs in sorted(accepted.items(), key=lambda kv: key(kv[1][0])):
    subs = []
    for c in cs:
        sub = ".".join(c.split(".")[:2])
        if sub not in subs:
            subs.append(sub)
    print("  %3d cases (%s): %s" % (len(cs), ", ".join(subs), ext))
print("compression: messages sent compressed (trafficStats compression ratio != 1): by wstest in %d of %d cases, "
      "by wsmachine in %d of %d" % (theirs[0], theirs[1], ours[0], ours[1]))
for c, why in bad:
    print("  %-8s %s" % (c, why))
print("compression agreed in %d of %d cases of 12.x/13.x" % (agreed, len(ids)))
if not ids or agreed != len(ids):
    sys.exit("compression: not agreed in %d case(s)" % (len(ids) - agreed))
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
