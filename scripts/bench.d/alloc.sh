#!/usr/bin/env bash
# scripts/bench alloc: heap allocations per packet on plainsight's warm in-order path.
#
# Every variant reads two captures that differ only in how long their sessions run (the same
# flows, logins and set-up, N versus 2N steady-state rounds), under an LD_PRELOAD shim that counts
# malloc/calloc/realloc/memalign calls of the whole process (malloc-count.c). The difference in
# allocations divided by the difference in packets is what each extra in-order packet costs once
# the flows are warm: start-up, flow creation and logins cancel out.
#
#   stream   IMAP sessions whose server streams untagged lines in 61-byte segments, so almost
#            every line straddles two packets: decode, flow lookup, reassembly, line framing
#            (including the straddling-line copy) and the untagged-line parser
#   noop     IMAP `NOOP` command and tagged reply rounds (also 61-byte segments): the above plus
#            command/reply matching by tag
#   bulk     the bulk workload (HTTP downloads, some reordered segments: a segment after a hole
#            is copied into the reorder store by design), default mode and --any-port
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/scripts/bench.d"
BENCH_DIR=$(realpath -m "${BENCH_DIR:-$ROOT/bench-data}")
ROUNDS=2000 SESSIONS=32 PLAINSIGHT="" BUILD=1

die() { echo "bench alloc: $*" >&2; exit 1; }
while (($#)); do
    case $1 in
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
                   echo "usage: scripts/bench alloc [--rounds N] [--sessions N] [--plainsight PATH] [--no-build]"; exit 0 ;;
        --rounds) [[ ${2-} =~ ^[1-9][0-9]*$ ]] || die "--rounds needs a positive integer"; ROUNDS=$2; shift ;;
        --sessions) [[ ${2-} =~ ^[1-9][0-9]*$ ]] || die "--sessions needs a positive integer"; SESSIONS=$2; shift ;;
        --plainsight) [[ -n ${2-} ]] || die "--plainsight needs a path"; PLAINSIGHT=$(realpath -m "$2"); BUILD=0; shift ;;
        --no-build) BUILD=0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done
command -v cc >/dev/null || die "cc missing (Debian package gcc)"
command -v jq >/dev/null || die "jq missing (Debian package jq)"

bin="$BENCH_DIR/bin" work="$BENCH_DIR/alloc"
mkdir -p "$bin" "$BENCH_DIR/logs"
rm -rf "$work"; mkdir -p "$work"
build() { # build NAME SRC FLAGS... -> path, rebuilt when the source changes
    local name=$1 src=$2; shift 2
    local out; out="$bin/$name-$(sha256sum "$src" | cut -c1-12)"
    if [[ ! -e $out ]]; then
        cc -O2 -Wall "$@" -o "$out.tmp" "$src" 2>"$BENCH_DIR/logs/$name-cc.log" || die "cc $src failed (see $BENCH_DIR/logs/$name-cc.log)"
        mv "$out.tmp" "$out"
    fi
    echo "$out"
}
GEN=$(build gen "$HERE/gen.c")
SHIM=$(build malloc-count.so "$HERE/malloc-count.c" -shared -fPIC)

if [[ -z $PLAINSIGHT ]]; then PLAINSIGHT="$ROOT/.build/release/plainsight"; fi
if ((BUILD)); then
    (cd "$ROOT" && swift build -c release --product plainsight) >"$BENCH_DIR/logs/swift-build.log" 2>&1 \
        || die "swift build -c release failed (see $BENCH_DIR/logs/swift-build.log)"
fi
[[ -x $PLAINSIGHT ]] || die "plainsight binary not found at $PLAINSIGHT"

count() { # count CAPTURE NAME ARGS... -> "allocations packets"
    local cap=$1 name=$2; shift 2
    MALLOC_COUNT_OUT="$work/$name.count" LD_PRELOAD="$SHIM" \
        "$PLAINSIGHT" -r "$cap" --json --quiet -o "$work/$name.out" "$@" </dev/null 2>"$work/$name.err" \
        || die "plainsight failed on $cap: $(tail -n1 "$work/$name.err")"
    [[ -s $work/$name.count ]] || die "the malloc counter wrote nothing (LD_PRELOAD ignored?)"
    sed -n 's/^allocations=\([0-9]*\) .*/\1/p' "$work/$name.count"
}

printf '%-10s %-12s %12s %12s %14s %14s %12s\n' variant mode packets_N packets_2N allocs_N allocs_2N per_packet
results=()
variant() { # variant NAME MODE GEN-ARGS-N -- GEN-ARGS-2N
    local name=$1 mode=$2; shift 2
    local -a a=() b=()
    while [[ $1 != -- ]]; do a+=("$1"); shift; done; shift; b=("$@")
    "$GEN" "${a[@]}" --out "$work/$name-1.pcap" --planted "$work/$name-1.json" || die "generator failed"
    "$GEN" "${b[@]}" --out "$work/$name-2.pcap" --planted "$work/$name-2.json" || die "generator failed"
    local -a extra=()
    [[ $mode == any-port ]] && extra=(--any-port)
    local p1 p2 c1 c2
    p1=$(jq .packets "$work/$name-1.json"); p2=$(jq .packets "$work/$name-2.json")
    c1=$(count "$work/$name-1.pcap" "$name-$mode-1" "${extra[@]}")
    c2=$(count "$work/$name-2.pcap" "$name-$mode-2" "${extra[@]}")
    local per; per=$(awk -v a="$c1" -v b="$c2" -v p="$p1" -v q="$p2" 'BEGIN { printf "%.4f", (b - a) / (q - p) }')
    printf '%-10s %-12s %12d %12d %14d %14d %12s\n' "$name" "$mode" "$p1" "$p2" "$c1" "$c2" "$per"
    results+=("{\"variant\":\"$name\",\"mode\":\"$mode\",\"packets\":[$p1,$p2],\"allocations\":[$c1,$c2],\"per_extra_packet\":$per}")
}
half=$((ROUNDS / 2)); ((half > 0)) || half=1
variant stream default --workload steady --untagged --logins "$SESSIONS" --rounds "$ROUNDS" \
    -- --workload steady --untagged --logins "$SESSIONS" --rounds $((2 * ROUNDS))
variant noop default --workload steady --logins "$SESSIONS" --rounds "$half" \
    -- --workload steady --logins "$SESSIONS" --rounds "$ROUNDS"
for mode in default any-port; do
    variant bulk "$mode" --workload bulk --size-mb 32 --logins 0 -- --workload bulk --size-mb 64 --logins 0
done
echo "[$(IFS=,; echo "${results[*]}")]" | jq . >"$BENCH_DIR/results-alloc.json"
echo
echo "allocations per extra packet once warm (0 means none); machine-readable: $BENCH_DIR/results-alloc.json"
