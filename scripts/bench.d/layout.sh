#!/usr/bin/env bash
# scripts/bench layout: the sizes of the records kept per packet and per flow, against the
# figures recorded in scripts/bench.d/layout.recorded.
#
# The flow table's slots and the decoder's packets are laid out for the cache (HalfStream.swift,
# FlowTable.swift, Reassembly/Types.swift): a field added in the wrong place costs a cache line
# per flow or per packet without failing anything. The unit tests do not pin these sizes (a new
# field is a cost to weigh, not a broken build); this step measures them through the test target
# (they are internal to their modules: ReassemblyTests' packetPathLayout, which runs only when
# PLAINSIGHT_LAYOUT_REPORT names a file) and compares each with its recorded figure. It prints one
# line per record and exits 1 when one grew or is no longer measured: grow it on purpose, bench
# the workloads, and record the new figure in the same commit, saying why in its body.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/scripts/bench.d"
BENCH_DIR=$(realpath -m "${BENCH_DIR:-$ROOT/bench-data}")
RECORDED="$HERE/layout.recorded" BUILD=1

die() { echo "bench layout: $*" >&2; exit 1; }
while (($#)); do
    case $1 in
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
                   echo "usage: scripts/bench layout [--no-build]"; exit 0 ;;
        --no-build) BUILD=0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done
[[ -r $RECORDED ]] || die "no recorded figures at $RECORDED"

mkdir -p "$BENCH_DIR/logs"
report=$(mktemp)
trap 'rm -f "$report"' EXIT
if ((BUILD)); then
    (cd "$ROOT" && swift build --build-tests) >"$BENCH_DIR/logs/layout-build.log" 2>&1 \
        || die "swift build --build-tests failed (see $BENCH_DIR/logs/layout-build.log)"
fi
(cd "$ROOT" && PLAINSIGHT_LAYOUT_REPORT="$report" swift test --skip-build --filter 'ReassemblyTests\.packetPathLayout') \
    >"$BENCH_DIR/logs/layout-test.log" 2>&1 \
    || die "the layout test failed (see $BENCH_DIR/logs/layout-test.log)"
[[ -s $report ]] || die "the layout test wrote no figures (see $BENCH_DIR/logs/layout-test.log)"

# Both files: "<type> <size|stride> <bytes>" a line; '#' starts a comment in the recorded one.
awk -v recorded="$RECORDED" '
    BEGIN {
        while ((getline line < recorded) > 0) {
            sub(/#.*/, "", line)
            if (split(line, f, " ") < 3) continue
            key = f[1] " " f[2]; want[key] = f[3]; order[++n] = key
        }
        printf "%-14s %-7s %9s %9s  %s\n", "record", "measure", "measured", "recorded", "verdict"
    }
    NF >= 3 { got[$1 " " $2] = $3; if (!(($1 " " $2) in want)) extra[++m] = $1 " " $2 }
    END {
        bad = 0
        for (i = 1; i <= n; i++) {
            key = order[i]; split(key, k, " ")
            if (!(key in got)) { verdict = "NOT MEASURED (the test no longer reports it)"; bad = 1; shown = "-" }
            else {
                shown = got[key]; d = got[key] - want[key]
                if (d > 0) { verdict = sprintf("GREW by %d bytes", d); bad = 1 }
                else if (d < 0) verdict = sprintf("shrank by %d bytes: record the new figure", -d)
                else verdict = "as recorded"
            }
            printf "%-14s %-7s %9s %9s  %s\n", k[1], k[2], shown, want[key], verdict
        }
        for (i = 1; i <= m; i++) {
            split(extra[i], k, " ")
            printf "%-14s %-7s %9s %9s  %s\n", k[1], k[2], got[extra[i]], "-", "not recorded: add it to layout.recorded"
        }
        if (bad) print "bench layout: a record grew or is no longer measured; if on purpose, bench it and update scripts/bench.d/layout.recorded" > "/dev/stderr"
        exit bad
    }
' "$report"
