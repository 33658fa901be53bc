#!/usr/bin/env bash
# Runs the benchmark suite (decode, encode, handshake, baselines, permessage-deflate echo) and
# the end-to-end echo comparison, then prints the ratio table that benches/README.md shows.
#
#   bash benches/report.sh            # everything, about 10 minutes on 2 cores
#   bash benches/report.sh --table    # only print the table from the last run's results
#   ECHO_SECONDS=3 bash benches/report.sh
#
# Criterion keeps its estimates in $TARGET/criterion/**/new/estimates.json; the echo figures
# are kept in $TARGET/criterion/echo.txt, the deflate bench's compression ratios in
# $TARGET/criterion/deflate_ratio.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET="${CARGO_TARGET_DIR:-target}"
ECHO_SECONDS="${ECHO_SECONDS:-5}"
ECHO_CONNECTIONS="${ECHO_CONNECTIONS:-4}"

if [ "${1:-}" != "--table" ]; then
    cargo bench --bench baseline --bench decode --bench encode --bench handshake --bench deflate

    cargo build --release --example echo_server --example tungstenite_echo_server \
        --example echo_load
    pids=()
    cleanup() {
        for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    }
    trap cleanup EXIT
    "$TARGET/release/examples/echo_server" 127.0.0.1:9311 >/dev/null 2>&1 &
    pids+=($!)
    "$TARGET/release/examples/tungstenite_echo_server" 127.0.0.1:9312 >/dev/null 2>&1 &
    pids+=($!)
    sleep 1
    mkdir -p "$TARGET/criterion"
    : >"$TARGET/criterion/echo.txt"
    for server in wsmachine:9311 tungstenite:9312; do
        name="${server%%:*}"
        port="${server##*:}"
        rate=$("$TARGET/release/examples/echo_load" "ws://127.0.0.1:$port/" \
            --connections "$ECHO_CONNECTIONS" --seconds "$ECHO_SECONDS" --size 16 --window 64 |
            sed -n 's/^messages\/s: //p')
        echo "$name $rate" >>"$TARGET/criterion/echo.txt"
    done
    cleanup
    pids=()
fi

python3 - "$TARGET/criterion" <<'EOF'
import json, os, sys

root = sys.argv[1]
results = {}
for dirpath, _, files in os.walk(root):
    if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
        continue
    with open(os.path.join(dirpath, "benchmark.json")) as f:
        bench = json.load(f)
    with open(os.path.join(dirpath, "estimates.json")) as f:
        ns = json.load(f)["mean"]["point_estimate"]
    throughput = bench.get("throughput") or {}
    if "Elements" in throughput:
        rate = throughput["Elements"] / (ns * 1e-9)
    elif "Bytes" in throughput:
        rate = throughput["Bytes"] / (ns * 1e-9)
    else:
        rate = 1 / (ns * 1e-9)
    key = (bench["group_id"], bench.get("function_id") or "", bench.get("value_str") or "")
    results[key] = rate

def get(group, who, workload=""):
    return results.get((group, who, workload))

PEERS = ["tungstenite", "fastwebsockets", "tokio-websockets", "embedded-websocket"]
goals = []

def fmt(rate, unit):
    if rate is None:
        return "-"
    return f"{rate / 1e6:.1f}" if unit == "M" else f"{rate / 1e9:.2f}"

def ratio(a, b):
    return f"{a / b:.2f}×" if a and b else "-"

def table(title, group, workloads, unit, extra=None, ours_names=("wsmachine",)):
    unit_name = "M msg/s" if unit == "M" else "GB/s"
    # The minimal unchecked codec, where the group has it.
    has_minimal = any(get(group, "minimal", w) for w in workloads)
    cols = list(ours_names) + PEERS + (["minimal"] if has_minimal else [])
    print(f"\n### {title} ({unit_name})\n")
    head = ["workload"] + cols + ["ours / best peer", "ours / tungstenite"]
    if extra:
        head.append(f"ours / {extra[0]}")
    # The default constructor's growable buffers against the caller's fixed ones.
    head.append("wsmachine_default / wsmachine")
    if has_minimal:
        head.append("ours / minimal")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for w in workloads:
        rates = {c: get(group, c, w) for c in cols}
        ours = rates["wsmachine"]
        best = max((rates[p] for p in PEERS if rates[p]), default=None)
        row = [w] + [fmt(rates[c], unit) for c in cols]
        row += [ratio(ours, best), ratio(ours, rates["tungstenite"])]
        if extra:
            # The copy measured in the same group, next to the decoders, when there is one.
            limit = get(group, extra[0], w) or extra[1]
            row.append(ratio(ours, limit))
        row.append(ratio(get(group, "wsmachine_default", w), ours))
        if has_minimal:
            row.append(ratio(ours, get(group, "minimal", w)))
        print("| " + " | ".join(row) + " |")

memcpy = get("baseline_1mib", "memcpy")
print("## wsmachine performance")
table("Decode 10,000 masked small frames (server)", "decode_small",
      ["text16_ascii", "text16_mixed", "binary125"], "M")
table("Decode one masked 1 MiB message (server)", "decode_1mib",
      ["binary_1mib", "text_1mib_ascii", "text_1mib_mixed"], "G", extra=("memcpy", memcpy))
table("Encode unmasked server frames", "encode_server",
      ["text16", "binary125"], "M")
table("Encode unmasked server frames, each handed on as written", "encode_server_each",
      ["text16", "binary125"], "M")
table("Encode unmasked server frames", "encode_server", ["binary_1mib"], "G",
      extra=("memcpy", memcpy), ours_names=("wsmachine", "wsmachine_in_place"))
table("Encode masked client frames", "encode_client", ["text16"], "M",
      ours_names=("wsmachine", "wsmachine_os_entropy"))
table("Encode masked client frames, each handed on as written", "encode_client_each",
      ["text16"], "M")
table("Encode masked client frames", "encode_client", ["binary_1mib"], "G",
      extra=("memcpy", memcpy), ours_names=("wsmachine", "wsmachine_os_entropy"))

print("\n### Handshake: parse a browser request, build the answer (K handshakes/s)\n")
print("| version | wsmachine | tungstenite | tokio-websockets | embedded-websocket |")
print("|---|---|---|---|---|")
for v in ["hybi13", "hybi08", "hybi07", "hixie76", "hixie75"]:
    row = [v] + [f"{r / 1e3:.0f}" if r else "-" for r in
                 [get("handshake", c, v) for c in ["wsmachine"] + PEERS if c != "fastwebsockets"]]
    print("| " + " | ".join(row) + " |")

print("\n### Baselines on 1 MiB (GB/s)\n")
print("| baseline | GB/s |")
print("|---|---|")
for name in ["memcpy", "xor_loop", "wsmachine_apply_mask", "wsmachine_copy_masked",
             "std_from_utf8_ascii", "std_from_utf8_mixed", "simdutf8_mixed"]:
    print(f"| {name} | {fmt(get('baseline_1mib', name), 'G')} |")

echo = {}
echo_path = os.path.join(root, "echo.txt")
if os.path.exists(echo_path):
    for line in open(echo_path):
        parts = line.split()
        if len(parts) == 2:
            echo[parts[0]] = float(parts[1])
if echo:
    print("\n### End to end: echo over loopback, 16 B text, same load generator (msg/s)\n")
    print("| wsmachine echo_server | tungstenite echo server | ratio |")
    print("|---|---|---|")
    print(f"| {echo.get('wsmachine', 0):.0f} | {echo.get('tungstenite', 0):.0f} | "
          f"{ratio(echo.get('wsmachine'), echo.get('tungstenite'))} |")

deflate_ratio = {}
corpus_bytes = 0
ratio_path = os.path.join(root, "deflate_ratio.txt")
if os.path.exists(ratio_path):
    for line in open(ratio_path):
        parts = line.split()
        if len(parts) == 4:
            up, down, corpus_bytes = (int(x) for x in parts[1:])
            deflate_ratio[parts[0]] = (up + down) / (2 * corpus_bytes)
if deflate_ratio or get("deflate_echo", "wsmachine"):
    corpus = f"{corpus_bytes:,} B JSON corpus" if corpus_bytes else "JSON corpus"
    print(f"\n### permessage-deflate: echo of a {corpus}, 500 messages "
          "(MB/s of payload, wire bytes / payload bytes)\n")
    print("| engine | settings | MB/s | wire / payload | wsmachine / peer, same settings |")
    print("|---|---|---|---|---|")
    rows = [
        ("wsmachine", "context takeover, level 6", None),
        ("ratchet", "context takeover, level 6", "wsmachine"),
        ("wsmachine_no_context_level1", "no context takeover, level 1", None),
        ("soketto", "no context takeover, level 1 (fixed)", "wsmachine_no_context_level1"),
        ("wsmachine_uncompressed", "no compression", None),
    ]
    for name, settings, ours in rows:
        rate = get("deflate_echo", name)
        mbs = f"{rate / 1e6:.1f}" if rate else "-"
        r = deflate_ratio.get(name)
        rs = f"{r:.3f}" if r else "-"
        vs = ratio(get("deflate_echo", ours), rate) if ours else ""
        print(f"| {name} | {settings} | {mbs} | {rs} | {vs} |")

def best_peer(group, workload):
    return max((get(group, p, workload) or 0 for p in PEERS), default=0) or None

def goal(name, value, target):
    if value is None:
        print(f"| {name} | - | {target:.2f} | not measured |")
    else:
        print(f"| {name} | {value:.2f} | {target:.2f} | {'met' if value >= target else 'NOT met'} |")

print("\n### Goals\n")
print("| goal | measured | target | |")
print("|---|---|---|---|")
for w in ["text16_ascii", "binary125", "text16_mixed"]:
    ours, tung = get("decode_small", "wsmachine", w), get("decode_small", "tungstenite", w)
    goal(f"small-frame decode {w} / tungstenite", ours / tung if ours and tung else None, 5.0)
bin_dec = get("decode_1mib", "wsmachine", "binary_1mib")
copy = get("decode_1mib", "memcpy", "binary_1mib") or memcpy
goal("1 MiB binary decode / memcpy", bin_dec / copy if bin_dec and copy else None, 0.85)
mixed = get("decode_1mib", "wsmachine", "text_1mib_mixed")
bp = best_peer("decode_1mib", "text_1mib_mixed")
goal("1 MiB mixed UTF-8 decode / best peer", mixed / bp if mixed and bp else None, 1.2)
for group, shape in [("encode_server", "batch"), ("encode_server_each", "each handed on")]:
    for w in ["text16", "binary125"]:
        ours, bp = get(group, "wsmachine", w), best_peer(group, w)
        goal(f"server-frame encode {w}, {shape} / best peer", ours / bp if ours and bp else None, 1.0)
cl = get("encode_client", "wsmachine", "binary_1mib")
copy = get("encode_client", "memcpy", "binary_1mib") or memcpy
goal("masked 1 MiB client encode / memcpy", cl / copy if cl and copy else None, 0.85)

def of(a, b):
    return a / b if a and b else None

print("\n### Goals of the default path, small frames and large sends\n")
print("| goal | measured | target | |")
print("|---|---|---|---|")
groups = [("decode_small", ["text16_ascii", "text16_mixed", "binary125"]),
          ("decode_1mib", ["binary_1mib", "text_1mib_ascii", "text_1mib_mixed"]),
          ("encode_server", ["text16", "binary125", "binary_1mib"]),
          ("encode_server_each", ["text16", "binary125"]),
          ("encode_client", ["text16", "binary_1mib"]),
          ("encode_client_each", ["text16"])]
for group, ws in groups:
    for w in ws:
        goal(f"{group} {w}: default path / caller buffers",
             of(get(group, "wsmachine_default", w), get(group, "wsmachine", w)), 0.9)
        if group.startswith("decode"):
            # Both read through `read_buffer`: the storage alone.
            goal(f"{group} {w}: default path / caller buffers, both through read_buffer",
                 of(get(group, "wsmachine_default", w), get(group, "wsmachine_read", w)), 0.9)
dec = lambda w, who: get("decode_small", who, w)
goal("decode 16 B ASCII / minimal", of(dec("text16_ascii", "wsmachine"), dec("text16_ascii", "minimal")), 0.8)
goal("decode 16 B ASCII / best peer", of(dec("text16_ascii", "wsmachine"), best_peer("decode_small", "text16_ascii")), 1.6)
goal("decode 125 B binary / minimal", of(dec("binary125", "wsmachine"), dec("binary125", "minimal")), 0.9)
for w in ["text16", "binary125"]:
    goal(f"server encode {w} / best peer",
         of(get("encode_server", "wsmachine", w), best_peer("encode_server", w)), 1.0)
copy = get("encode_server", "memcpy", "binary_1mib") or memcpy
goal("server send 1 MiB in place / memcpy",
     of(get("encode_server", "wsmachine_in_place", "binary_1mib"), copy), 0.9)
copy = get("encode_client", "memcpy", "binary_1mib") or memcpy
goal("client masked send 1 MiB / memcpy", of(get("encode_client", "wsmachine", "binary_1mib"), copy), 0.8)
EOF
