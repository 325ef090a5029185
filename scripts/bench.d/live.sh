#!/usr/bin/env bash
# scripts/bench live: the highest replay rate at which a live capture loses nothing.
#
# Creates two network namespaces joined by a veth pair (documentation addresses 192.0.2.1 and
# 192.0.2.2, offloads off, MTU 9000 so VLAN-tagged 1500-byte frames pass), replays a bulk capture
# (--size-mb MiB of the bulk workload, preloaded in memory) from one end with tcpreplay at rising
# rates, and captures on the other end with each tool in turn:
#   tcpdump           tcpdump -i IF -w /dev/null -B 32768 --immediate-mode (the same 32 MiB kernel
#                     buffer as plainsight's default)
#   plainsight        plainsight -i IF -Z root --json --quiet -o FILE (mail ports in a kernel BPF)
#   plainsight-any    the same with --any-port (every TCP packet reaches plainsight)
#   plainsight-wN, plainsight-any-wN
#                     either of the two with --workers N (N capture threads in one PACKET_FANOUT
#                     group; drops are the sum over the threads' handles)
# --buffer-mib N sets the kernel buffer of every capture handle (tcpdump -B, plainsight
# --buffer-size; default 32): a small one makes a consumer that falls behind show up as drops at
# rates the sender can reach. With --workers each handle has its own buffer.
# For each tool the rates rise until the kernel reports drops (pcap_stats ps_drop, "dropped by
# kernel") or the whole run exceeds --max-seconds; the highest rate without drops is reported,
# with tcpreplay's achieved rate and packets sent against received. The namespaces are removed
# on exit, whatever happens. Needs root, iproute2, ethtool, tcpreplay (installed with apt-get when
# missing). Results: $BENCH_DIR/results-live.json.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/scripts/bench.d"
BENCH_DIR=$(realpath -m "${BENCH_DIR:-$ROOT/bench-data}")
RATES="100,200,400,800,1600,3200,6400,max" SECONDS_PER_STEP=5 MAX_SECONDS=600 SIZE_MB=256
TOOLS="tcpdump,plainsight,plainsight-any" PLAINSIGHT="" BUILD=1 BUFFER_MIB=32

die() { echo "bench live: $*" >&2; exit 1; }
note() { echo "bench live: $*" >&2; }
while (($#)); do
    case $1 in
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
                   echo "usage: scripts/bench live [--rates LIST(Mbit/s, max)] [--step-seconds N] [--max-seconds N]"
                   echo "                          [--size-mb N] [--buffer-mib N] [--tools tcpdump,plainsight,plainsight-any,plainsight-w2,...]"
                   echo "                          [--plainsight PATH] [--no-build]"
                   exit 0 ;;
        --rates) RATES=${2:?--rates needs a list}; shift ;;
        --step-seconds) [[ ${2-} =~ ^[1-9][0-9]*$ ]] || die "--step-seconds needs a positive integer"; SECONDS_PER_STEP=$2; shift ;;
        --max-seconds) [[ ${2-} =~ ^[1-9][0-9]*$ ]] || die "--max-seconds needs a positive integer"; MAX_SECONDS=$2; shift ;;
        --size-mb) [[ ${2-} =~ ^[1-9][0-9]*$ ]] || die "--size-mb needs a positive integer"; SIZE_MB=$2; shift ;;
        --tools) TOOLS=${2:?--tools needs a list}; shift ;;
        --buffer-mib) [[ ${2-} =~ ^[1-9][0-9]*$ ]] && (($2 <= 2047)) || die "--buffer-mib needs 1 to 2047"; BUFFER_MIB=$2; shift ;;
        --plainsight) [[ -n ${2-} ]] || die "--plainsight needs a path"; PLAINSIGHT=$(realpath -m "$2"); BUILD=0; shift ;;
        --no-build) BUILD=0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done
[[ $(id -u) == 0 ]] || die "needs root (network namespaces, raw capture)"
for pair in tcpreplay:tcpreplay ethtool:ethtool tcpdump:tcpdump ip:iproute2 jq:jq cc:gcc; do
    cmd=${pair%%:*} pkg=${pair#*:}
    if ! command -v "$cmd" >/dev/null; then
        note "installing Debian package $pkg"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >/dev/null 2>&1 || die "apt-get install $pkg failed"
    fi
done

want() { [[ ",$TOOLS," == *",$1,"* ]]; }
# plainsight, plainsight-any, plainsight-w2, plainsight-any-w4, ...
plainsight_tool() { [[ $1 =~ ^plainsight(-any)?(-w[1-9][0-9]?)?$ ]]; }
IFS=, read -r -a tool_list <<<"$TOOLS"
for tool in "${tool_list[@]}"; do
    [[ $tool == tcpdump ]] || plainsight_tool "$tool" || die "unknown tool '$tool' (tcpdump, plainsight[-any][-wN])"
done
if [[ ",$TOOLS," == *",plainsight"* ]]; then
    [[ -n $PLAINSIGHT ]] || PLAINSIGHT="$ROOT/.build/release/plainsight"
    if ((BUILD)); then
        mkdir -p "$BENCH_DIR/logs"
        (cd "$ROOT" && swift build -c release --product plainsight) >"$BENCH_DIR/logs/swift-build.log" 2>&1 \
            || die "swift build -c release failed (see $BENCH_DIR/logs/swift-build.log)"
    fi
    [[ -x $PLAINSIGHT ]] || die "plainsight binary not found at $PLAINSIGHT"
    "$PLAINSIGHT" --help 2>&1 | grep -q -- '-i <interface>' || die "this plainsight has no live capture (-i)"
fi

# the replayed capture: a smaller bulk workload, cached like the others
CAP=$("$ROOT/scripts/bench" bulk --size-mb "$SIZE_MB" --logins 60 --gen-only --keep --no-build --tools floor) \
    || die "could not generate the bulk capture"

TX=psbench-tx RX=psbench-rx TXIF=psbtx0 RXIF=psbrx0
work="$BENCH_DIR/live"
rm -rf "$work"; mkdir -p "$work"
CAPTURE_PID=""
teardown() {
    if [[ -n $CAPTURE_PID ]]; then kill -INT "$CAPTURE_PID" 2>/dev/null || true; wait "$CAPTURE_PID" 2>/dev/null || true; fi
    ip netns del "$TX" 2>/dev/null || true
    ip netns del "$RX" 2>/dev/null || true
}
trap teardown EXIT
teardown
ip netns add "$TX"
ip netns add "$RX"
ip link add "$TXIF" netns "$TX" type veth peer name "$RXIF" netns "$RX"
ip -n "$TX" addr add 192.0.2.1/24 dev "$TXIF"
ip -n "$RX" addr add 192.0.2.2/24 dev "$RXIF"
for ns_if in "$TX:$TXIF" "$RX:$RXIF"; do
    ns=${ns_if%%:*} ifc=${ns_if#*:}
    ip -n "$ns" link set "$ifc" mtu 9000 up
    ip netns exec "$ns" ethtool -K "$ifc" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
done
ip -n "$RX" link set lo up

started=$SECONDS
# step TOOL RATE -> one JSON object; sets STEP_DROPS
step() {
    local tool=$1 rate=$2 base="$work/$1-$2"
    local -a cap
    if [[ $tool == tcpdump ]]; then
        cap=(tcpdump -i "$RXIF" -n -w /dev/null -B $((BUFFER_MIB * 1024)) --immediate-mode)
    else
        cap=("$PLAINSIGHT" -i "$RXIF" -Z root --json --quiet --buffer-size "$BUFFER_MIB" -o "$base.jsonl")
        [[ $tool == plainsight-any* ]] && cap+=(--any-port)
        [[ $tool =~ -w([0-9]+)$ ]] && cap+=(--workers "${BASH_REMATCH[1]}")
    fi
    ip netns exec "$RX" "${cap[@]}" >"$base.out" 2>"$base.err" &
    CAPTURE_PID=$!
    sleep 2
    kill -0 "$CAPTURE_PID" 2>/dev/null || die "$tool did not start: $(tail -n1 "$base.err")"
    local -a speed
    if [[ $rate == max ]]; then speed=(--topspeed); else speed=(--mbps="$rate"); fi
    ip netns exec "$TX" tcpreplay -i "$TXIF" --preload-pcap "${speed[@]}" --duration="$SECONDS_PER_STEP" \
        "$CAP" >"$base.replay" 2>&1 || die "tcpreplay failed: $(tail -n1 "$base.replay")"
    sleep 1
    kill -INT "$CAPTURE_PID"
    wait "$CAPTURE_PID" || true
    CAPTURE_PID=""
    local sent mbps received dropped ifdropped
    sent=$(sed -n 's/.*Successful packets: *\([0-9]*\).*/\1/p' "$base.replay" | head -n1)
    mbps=$(sed -n 's/.*Rated: *[0-9.]* Bps, *\([0-9.]*\) Mbps.*/\1/p' "$base.replay" | head -n1)
    if [[ $tool == tcpdump ]]; then
        received=$(sed -n 's/^\([0-9]*\) packets received by filter.*/\1/p' "$base.err" | tail -n1)
        dropped=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$base.err" | tail -n1)
        ifdropped=$(sed -n 's/^\([0-9]*\) packets dropped by interface.*/\1/p' "$base.err" | tail -n1)
    else
        local c; c=$(jq -c 'select(.event_type == "stats") | .stats.capture' "$base.jsonl" 2>/dev/null | tail -n1)
        received=$(jq -r '.received // empty' <<<"$c" 2>/dev/null)
        dropped=$(jq -r '.dropped_kernel // empty' <<<"$c" 2>/dev/null)
        ifdropped=$(jq -r '.dropped_interface // empty' <<<"$c" 2>/dev/null)
    fi
    [[ -n $dropped ]] || die "$tool reported no kernel counters (see $base.err)"
    STEP_DROPS=$dropped
    jq -n -c --arg tool "$tool" --arg rate "$rate" --argjson sent "${sent:-null}" --argjson mbps "${mbps:-null}" \
        --argjson received "${received:-null}" --argjson dropped "$dropped" --argjson ifdropped "${ifdropped:-0}" \
        '{tool: $tool, requested_mbps: $rate, achieved_mbps: $mbps, packets_sent: $sent,
          received_by_filter: $received, dropped_by_kernel: $dropped, dropped_by_interface: $ifdropped}'
}

IFS=, read -r -a rate_list <<<"$RATES"
steps=()
printf '%-16s %10s %12s %12s %12s %10s\n' tool requested achieved_Mbps sent received dropped
for tool in "${tool_list[@]}"; do
    for rate in "${rate_list[@]}"; do
        if ((SECONDS - started > MAX_SECONDS)); then note "time limit of $MAX_SECONDS s reached"; break 2; fi
        line=$(step "$tool" "$rate")
        steps+=("$line")
        jq -r '[.tool, .requested_mbps, (.achieved_mbps // "?"), (.packets_sent // "?"), (.received_by_filter // "?"), .dropped_by_kernel]
               | "\(.[0])\t\(.[1])\t\(.[2])\t\(.[3])\t\(.[4])\t\(.[5])"' <<<"$line" \
            | awk -F'\t' '{ printf "%-16s %10s %12s %12s %12s %10s\n", $1, $2, $3, $4, $5, $6 }'
        (($(jq .dropped_by_kernel <<<"$line") == 0)) || break
    done
done
printf '%s\n' "${steps[@]}" | jq -s '{capture: $cap, seconds_per_step: $s, buffer_mib: $b, steps: .,
    best: (group_by(.tool) | map({tool: .[0].tool,
        highest_mbps_without_drops: ([.[] | select(.dropped_by_kernel == 0) | .achieved_mbps] | max)}))}' \
    --arg cap "$CAP" --argjson s "$SECONDS_PER_STEP" --argjson b "$BUFFER_MIB" >"$BENCH_DIR/results-live.json"
echo
jq -r '.best[] | "\(.tool): highest rate without kernel drops \(.highest_mbps_without_drops // "none") Mbit/s"' "$BENCH_DIR/results-live.json"
echo "machine-readable: $BENCH_DIR/results-live.json"
