# Shared by the scripts/*_check.sh checks, which source it before anything else:
#   . "$(dirname "$0")/lib.sh"
# It runs them from the repository root with a scratch folder ($work), stops on exit every
# process they record in pids, and counts their checks for the last line they print,
# `NAME: N passed, M failed`, NAME being the script's name without _check.sh.
# shellcheck shell=bash
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
bin="$CARGO_TARGET_DIR/release/examples"
check_name="$(basename "$0" _check.sh)"

work="$(mktemp -d "/tmp/wsmachine-$check_name.XXXXXX")" || exit 2
pids=()

# running: how many of the recorded processes are still running.
running() {
    local pid n=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && n=$((n + 1)); done
    echo "$n"
}

# A process still there 10 s after SIGTERM gets SIGKILL, so that exiting never hangs; the
# servers started under `timeout -k 5` have stopped their child by then.
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    for _ in $(seq 100); do
        [ "$(running)" = 0 ] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "${check_name}_check: interrupted" >&2; exit 130' INT
trap 'echo "${check_name}_check: terminated" >&2; exit 143' TERM

# PASS_WORD starts the line of a passed check (a script may set PASS); FAIL_TAIL is how many
# lines of a failed check's log are shown.
passed=0
failed=0
PASS_WORD=ok
FAIL_TAIL=6
pass() { passed=$((passed + 1)); printf '%-4s %s\n' "$PASS_WORD" "$1"; }
# fail WHAT [LOG]
fail() {
    failed=$((failed + 1))
    echo "FAIL $1"
    [ -n "${2:-}" ] && [ -s "$2" ] && tail -n "$FAIL_TAIL" "$2" | sed 's/^/       /'
    return 0
}
# finish: the summary line; exits non-zero if any check failed.
finish() {
    echo "$check_name: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

# cargo_build ARGS...: the release build of the examples ARGS names (--example NAME...).
cargo_build() { timeout -k 10 1800 cargo build --release --quiet "$@"; }
# install_peers: the third-party peers of conformance/peers (npm, PyPI, Debian).
install_peers() { timeout -k 10 1800 bash conformance/peers/install.sh; }

# step WHAT COMMAND...: a setup step the checks cannot do without. Its output goes to a log,
# shown only if it fails, which counts as a failed check and ends the run.
steps=0
step() {
    local what=$1 log
    shift
    steps=$((steps + 1))
    log="$work/step$steps.log"
    "$@" >"$log" 2>&1 && return 0
    fail "$what" "$log"
    finish
}

# await_match FILE SED-SCRIPT: the first line `sed -n SED-SCRIPT FILE` prints, once a
# process writing FILE has got that far; fails after 10 s without one.
await_match() {
    local got
    for _ in $(seq 100); do
        got="$(sed -n "$2" "$1" 2>/dev/null | head -n 1)"
        [ -n "$got" ] && { printf '%s\n' "$got"; return 0; }
        sleep 0.1
    done
    return 1
}

# launch NAME COMMAND...: starts a server that prints `listening on URL` when ready, its
# output in $work/NAME.out and $work/NAME.err; sets PID and URL. Fails if it does not get
# ready within 10 s.
launch() {
    local name=$1
    shift
    "$@" >"$work/$name.out" 2>"$work/$name.err" &
    PID=$!
    pids+=("$PID")
    # shellcheck disable=SC2034 # for the script that sourced this
    URL="$(await_match "$work/$name.out" 's/^listening on \([^ ]*\).*/\1/p')"
}

# free_port: a loopback port nothing listens on, for servers that cannot pick their own.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# spki_of CERT: the base64 SHA-256 of CERT's public key, as Chromium's
# --ignore-certificate-errors-spki-list takes it.
spki_of() {
    openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der |
        openssl dgst -sha256 -binary | base64
}

# echo_check CLIENT URL SERVER VERSION: the example CLIENT, speaking VERSION to the echo
# server SERVER at URL, must print back what it was given and then its close.
echo_input=$'hello\n\nwörld, ünïcödé\n'"$(head -c 3000 /dev/zero | tr '\0' x)"
echo_check() {
    local closed expected got rc name="$1 -> $3 $4"
    case "$4" in hixie-*) closed=closed ;; *) closed="closed 1000" ;; esac
    expected="$echo_input"$'\n'"$closed"
    got="$(printf '%s\n' "$echo_input" | timeout 20 "$bin/$1" "$2/check" --version "$4" 2>"$work/client.err")"
    rc=$?
    if [ $rc -eq 0 ] && [ "$got" = "$expected" ]; then
        pass "$name"
    else
        fail "$name (exit $rc)"; diff <(echo "$expected") <(echo "$got") | head -5; cat "$work/client.err"
    fi
}
# logs_check SERVER LOG: SERVER logged the version and path of echo_check's connections, as
# echo_server does.
logs_check() {
    if grep -q ": hybi-08 /check$" "$2" && grep -q ": hixie-75 /check$" "$2"; then
        pass "$1 logs version and path"
    else
        fail "$1 logs version and path"; head -5 "$2"
    fi
}

# interop ROLE NAME [VAR=VALUE]...: runs conformance/interop.sh on ROLE's rows only (wsmachine's
# role), with VAR=VALUE in its environment (OUR_SERVER_CMD, OUR_CLIENT_CMD), and counts its
# lines as this script's checks. INTEROP_LOGS, as for interop.sh, gets a subfolder per role.
logs_root="${INTEROP_LOGS:-}"
interop() {
    local role=$1 name=$2 log="$work/interop-$1.log"
    shift 2
    echo "# conformance/interop.sh, $name as wsmachine's $role"
    (
        export INTEROP_ONLY="^[^ ]+ $role "
        [ -n "$logs_root" ] && export INTEROP_LOGS="$logs_root/$role"
        # shellcheck disable=SC2163 # the arguments are VAR=VALUE pairs
        export "$@"
        timeout -k 10 3600 bash conformance/interop.sh
    ) 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]} line p f
    line="$(grep -E '^interop: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)"
    if [ -z "$line" ]; then
        fail "interop.sh ($name as $role) exited $rc without a summary"
        return
    fi
    read -r p f <<<"$(sed -E 's/^interop: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/' <<<"$line")"
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        fail "interop.sh ($name as $role) exited $rc"
    fi
}
