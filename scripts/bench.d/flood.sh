#!/usr/bin/env bash
# scripts/bench flood: plainsight against traffic shaped to break its caps (issue 5). For each
# scenario it generates a deterministic capture (scripts/bench.d/flood.py) with POP3 logins planted
# through the flood, runs `plainsight -r FILE --json --quiet` under /usr/bin/time, and prints wall
# time, packets/s, peak RSS, planted-login recall and the stats counters the scenario aims at. It
# fails if a run crashes, if recall is below 100%, or if peak RSS exceeds --rss-limit-mb (default
# 256: the default 64 MiB reassembly budget plus the preallocated tables and a fixed overhead).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/scripts/bench.d"
BENCH_DIR=$(realpath -m "${BENCH_DIR:-$ROOT/bench-data}")
SCENARIOS=(half-open holes overlap no-newline pipelined parser-state)

usage() {
    cat <<'USAGE'
usage: scripts/bench flood [SCENARIO ...] [--scale F] [--logins N] [--plainsight PATH] [--no-build]
                           [--rss-limit-mb N] [--timeout SEC] [-- PLAINSIGHT-OPTIONS...]

Scenarios (default: all):
  half-open    2,000,000 unanswered SYNs to port 143 from distinct clients (flow table eviction)
  holes        100,000 flows, 10,000 at a time, each with 17 segments behind 17 holes (hole cap,
               global reassembly memory)
  overlap      50,000 IMAP flows sending every out-of-order segment twice with different bytes
  no-newline   one IMAP client stream of 1 GiB without a line feed (line cap)
  pipelined    one SMTP session with 1,000,000 pipelined NOOPs before any reply, then a login
  parser-state 100,000 POP3 flows never answered nor closed, each holding 40 pipelined commands
               and a 3,000-byte line without its end, or a greeting cut short (parser memory)

--scale F multiplies every scenario's size (0.01 for a quick look); --logins N planted POP3 logins
per scenario (default 100). Options after `--` go to plainsight (e.g. caps: --max-flows 100000).
Captures are cached in $BENCH_DIR/flood/ (default bench-data/, gitignored).
USAGE
}

SCALE=1 LOGINS=100 PLAINSIGHT="" BUILD=1 RSS_LIMIT=256 TIMEOUT=1800
declare -a WANT=() EXTRA=()
while (($#)); do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --scale) SCALE=$2; shift ;;
        --logins) LOGINS=$2; shift ;;
        --plainsight) PLAINSIGHT=$(realpath -m "$2"); BUILD=0; shift ;;
        --no-build) BUILD=0 ;;
        --rss-limit-mb) RSS_LIMIT=$2; shift ;;
        --timeout) TIMEOUT=$2; shift ;;
        --) shift; EXTRA=("$@"); break ;;
        half-open|holes|overlap|no-newline|pipelined|parser-state) WANT+=("$1") ;;
        *) echo "bench flood: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
((${#WANT[@]})) || WANT=("${SCENARIOS[@]}")
[[ -x /usr/bin/time ]] || { echo "bench flood: /usr/bin/time missing (scripts/bootstrap installs it)" >&2; exit 1; }

if [[ -z $PLAINSIGHT ]]; then
    PLAINSIGHT="$ROOT/.build/release/plainsight"
    if ((BUILD)); then
        [ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"
        (cd "$ROOT" && swift build -c release --product plainsight >&2)
    fi
fi
[[ -x $PLAINSIGHT ]] || { echo "bench flood: no plainsight binary at $PLAINSIGHT" >&2; exit 1; }

mkdir -p "$BENCH_DIR/flood"
genhash=$(sha256sum "$HERE/flood.py" | cut -c1-12)
status=0
printf '%-12s %9s %10s %8s %11s %9s %8s  %s\n' scenario MiB packets time-s packets/s peak-MiB recall counters
for s in "${WANT[@]}"; do
    cap="$BENCH_DIR/flood/$s-$SCALE-$LOGINS-$genhash.pcap"
    if [[ ! -s $cap ]]; then
        rm -f "$BENCH_DIR/flood/$s-"*.pcap
        python3 "$HERE/flood.py" "$s" "$cap.tmp" --scale "$SCALE" --logins "$LOGINS" >"$cap.planted"
        mv "$cap.tmp" "$cap"
    fi
    planted=$(cat "$cap.planted")
    out="$BENCH_DIR/flood/$s.out" tm="$BENCH_DIR/flood/$s.time"
    rc=0
    timeout "$TIMEOUT" /usr/bin/time -f '%e %M' -o "$tm" "$PLAINSIGHT" -r "$cap" --json --quiet "${EXTRA[@]}" >"$out" || rc=$?
    if ((rc != 0)); then
        echo "bench flood: $s: plainsight exited $rc" >&2
        status=1
        continue
    fi
    read -r secs kb <"$tm"
    python3 - "$s" "$cap" "$out" "$planted" "$secs" "$kb" "$RSS_LIMIT" <<'PY' || status=1
import json, os, sys
s, cap, out, planted, secs, kb, limit = sys.argv[1:]
planted, secs, kb, limit = int(planted), float(secs), int(kb), int(limit)
found, stats = set(), {}
for line in open(out, encoding="utf-8", errors="replace"):
    e = json.loads(line)
    if e.get("event_type") == "cleartext_auth":
        found.add((e["src_ip"], e["src_port"], e["auth"]["method"]))
    elif e.get("event_type") == "stats":
        stats = e["stats"]
r, f = stats.get("reassembly", {}), stats.get("flows", {})
counters = {
    "half-open": f"created={f.get('created')} evicted={f.get('closed', {}).get('evicted')} idle={f.get('closed', {}).get('idle')}",
    "holes": f"hole_limit_hits={r.get('hole_limit_hits')} memory_budget_hits={r.get('memory_budget_hits')} peak_buffered={r.get('peak_buffered_bytes')}",
    "overlap": f"overlap_conflict_bytes={r.get('overlap_conflict_bytes')}",
    "no-newline": f"parser_anomalies={stats.get('parser_anomalies')}",
    "pipelined": f"parser_anomalies={stats.get('parser_anomalies')}",
    "parser-state": f"parser_memory_budget_hits={stats.get('parser_memory', {}).get('budget_hits')} peak_parser_bytes={stats.get('parser_memory', {}).get('peak_bytes')}",
}[s]
packets = stats.get("packets", 0)
mib = os.path.getsize(cap) / 2**20
recall = len(found) / planted if planted else 1.0
print(f"{s:<12} {mib:9.0f} {packets:10d} {secs:8.1f} {packets / max(secs, 1e-3):11.0f} {kb / 1024:9.1f} {recall:8.1%}  {counters}")
bad = []
if recall < 1.0: bad.append(f"recall {len(found)}/{planted}")
if kb / 1024 > limit: bad.append(f"peak RSS {kb / 1024:.0f} MiB over {limit} MiB")
if bad:
    print(f"bench flood: {s}: " + ", ".join(bad), file=sys.stderr)
    sys.exit(1)
PY
done
exit $status
