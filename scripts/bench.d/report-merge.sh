#!/usr/bin/env bash
# scripts/bench report-merge: `plainsight report` over a collector's file of two sensors' events.
#
# The file (scripts/bench.d/gen-events.py, cached in $BENCH_DIR/report-merge-<hash>/) is what an
# rsyslog collector writes for two sensors sending RFC 5424 (RSYSLOG_SyslogProtocol23Format):
# sensor a's mail_session event for each of --sessions sessions to 2,000 servers, sensor b's copy
# of --overlap percent of them (the same community_id, a few lines later), a cleartext_auth alert
# line per login, stats at the end; by default over a million events and ~1.1 GiB. Each run merges
# it into a JSON and an HTML report (`plainsight report FILE --report x.json --report x.html
# --quiet`), from a warm page cache; wall time, peak RSS and CPU time are the median of --runs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/scripts/bench.d"
BENCH_DIR=$(realpath -m "${BENCH_DIR:-$ROOT/bench-data}")
SESSIONS=800000 OVERLAP=30 RUNS=3 SEED=1 PLAINSIGHT="" BUILD=1

die() { echo "bench report-merge: $*" >&2; exit 1; }
posint() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 needs a positive integer, got '$2'"; }
while (($#)); do
    case $1 in
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
                   echo "usage: scripts/bench report-merge [--sessions N] [--overlap PCT] [--runs N] [--seed N] [--plainsight PATH] [--no-build]"; exit 0 ;;
        --sessions) posint "$1" "${2-}"; SESSIONS=$2; shift ;;
        --overlap) [[ ${2-} =~ ^[0-9]+$ && $2 -le 100 ]] || die "--overlap needs 0 to 100"; OVERLAP=$2; shift ;;
        --runs) posint "$1" "${2-}"; RUNS=$2; shift ;;
        --seed) [[ ${2-} =~ ^[0-9]+$ ]] || die "--seed needs a non-negative integer"; SEED=$2; shift ;;
        --plainsight) [[ -n ${2-} ]] || die "--plainsight needs a path"; PLAINSIGHT=$(realpath -m "$2"); BUILD=0; shift ;;
        --no-build) BUILD=0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done
[[ -x /usr/bin/time ]] || die "/usr/bin/time missing (Debian package time)"
command -v python3 >/dev/null || die "python3 missing"
mkdir -p "$BENCH_DIR/logs"
if [[ -z $PLAINSIGHT ]]; then PLAINSIGHT="$ROOT/.build/release/plainsight"; fi
if ((BUILD)); then
    echo "bench report-merge: swift build -c release --static-swift-stdlib" >&2
    (cd "$ROOT" && swift build -c release --static-swift-stdlib --product plainsight) >"$BENCH_DIR/logs/swift-build.log" 2>&1 \
        || die "swift build -c release failed (log: $BENCH_DIR/logs/swift-build.log)"
fi
[[ -x $PLAINSIGHT ]] || die "plainsight binary not found at $PLAINSIGHT"

key=$( { cat "$HERE/gen-events.py"; echo "sessions=$SESSIONS overlap=$OVERLAP seed=$SEED"; } | sha256sum | cut -c1-16)
DIR="$BENCH_DIR/report-merge-$key"
FILE="$DIR/collector.log"
if [[ ! -s $FILE || ! -s $DIR/generated.json ]]; then
    for d in "$BENCH_DIR"/report-merge-????????????????/; do [[ -d $d && ${d%/} != "$DIR" ]] && rm -rf "$d"; done
    rm -rf "$DIR.tmp"; mkdir -p "$DIR.tmp"
    echo "bench report-merge: generating $SESSIONS sessions, $OVERLAP% seen by both sensors" >&2
    python3 "$HERE/gen-events.py" "$DIR.tmp/collector.log" --sessions "$SESSIONS" --overlap "$OVERLAP" --seed "$SEED" \
        >"$DIR.tmp/generated.json" || die "generator failed"
    rm -rf "$DIR"; mv "$DIR.tmp" "$DIR"
fi
EVENTS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["events"])' "$DIR/generated.json")
BYTES=$(stat -c %s "$FILE")
LINES=$(wc -l <"$FILE")
cat "$FILE" >/dev/null    # warm the page cache

OUT="$BENCH_DIR/runs-report-merge"
rm -rf "$OUT"; mkdir -p "$OUT"
declare -a WALL=() RSS=() CPU=()
for ((i = 1; i <= RUNS; i++)); do
    t0=$EPOCHREALTIME
    /usr/bin/time -f '%e %M %U %S' -o "$OUT/time-$i" "$PLAINSIGHT" report "$FILE" \
        --report "$OUT/merged.json" --report "$OUT/merged.html" >"$OUT/out-$i" 2>"$OUT/err-$i" \
        || die "run $i failed: $(head -c 300 "$OUT/err-$i")"
    t1=$EPOCHREALTIME
    read -r _ rss user sys <"$OUT/time-$i"
    WALL+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')")
    RSS+=("$rss")
    CPU+=("$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')")
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
wall=$(median "${WALL[@]}") rss=$(median "${RSS[@]}") cpu=$(median "${CPU[@]}")
summary=$(tail -n1 "$OUT/err-1")
servers=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["servers"])' "$OUT/merged.json")
echo "report-merge: $(awk -v b="$BYTES" 'BEGIN { printf "%.0f", b / 1048576 }') MiB, $LINES lines, $EVENTS events ($SESSIONS sessions, $OVERLAP% also from sensor b); $RUNS runs, median"
echo "  wall $wall s ($(awk -v b="$BYTES" -v w="$wall" 'BEGIN { printf "%.0f", b / 1048576 / w }') MiB/s, $(awk -v e="$EVENTS" -v w="$wall" 'BEGIN { printf "%.0f", e / w }') events/s), peak RSS $((rss / 1024)) MiB, CPU $cpu s; $servers servers"
echo "  $summary"
echo "  runs (wall s): ${WALL[*]}; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
