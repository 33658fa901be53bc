#!/usr/bin/env bash
# Builds every fuzz target and runs each for a short time from its seeds; fails on any crash,
# leak, timeout or invariant failure: the eight targets server_handshake, client_handshake,
# frames, operations, chunking, round_trip, halves and deflate. Run from anywhere; takes about 6
# minutes after the build.
#   FUZZ_SECONDS  seconds per target (default 30)
set -uo pipefail
cd "$(dirname "$0")"

seconds="${FUZZ_SECONDS:-30}"
start=$SECONDS
if ! bash install.sh >/dev/null; then
    echo "fuzz: 0 passed, 1 failed (cargo-fuzz could not be installed)"
    exit 1
fi

if ! cargo +nightly fuzz build --debug-assertions; then
    echo "fuzz: 0 passed, 1 failed"
    exit 1
fi

# The targets this script runs: a target missing from Cargo.toml, or one added without being
# named here, fails the step instead of going unnoticed.
expected="server_handshake client_handshake frames operations chunking round_trip halves deflate"
listed="$(cargo +nightly fuzz list | tr '\n' ' ')"
if [ "$(echo $listed | tr ' ' '\n' | sort)" != "$(echo $expected | tr ' ' '\n' | sort)" ]; then
    echo "fuzz targets listed: $listed; expected: $expected"
    echo "fuzz: 0 passed, 1 failed"
    exit 1
fi

passed=0
failed=0
for target in $expected; do
    # The live corpus is a scratch copy: the run may add to it, the committed seeds stay as
    # they are.
    corpus="corpus/$target"
    mkdir -p "$corpus"
    log="$(mktemp)"
    if timeout $((seconds + 120)) cargo +nightly fuzz run --debug-assertions "$target" \
        "$corpus" "seeds/$target" -- \
        -max_total_time="$seconds" -dict=fuzz.dict -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1; then
        passed=$((passed + 1))
        # libFuzzer's last status line: executions, edges covered (cov) and features (ft).
        summary="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 | cut -c1-100)"
        echo "ok   $target: $summary"
    else
        failed=$((failed + 1))
        echo "FAIL $target"
        tail -40 "$log"
    fi
    rm -f "$log"
done
echo "fuzz step took $((SECONDS - start)) s"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
