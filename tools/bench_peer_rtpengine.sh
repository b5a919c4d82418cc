#!/usr/bin/env bash
# srtprec-recorder against a real peer (issue 12, item 10): rtpengine 10.5
# (Debian rtpengine-daemon, userspace only: table = -1) and the recorder fed
# the same load by tools/srtprec-loadgen, alternated in the same minutes, and
# each one's CPU time per packet it received (utime + stime from
# /proc/PID/stat) reported side by side.  A benchmark, not a test: figures go
# to docs/benchmarks.md.
#
# rtpengine's job here: one call per stream, set up over its ng control
# protocol (tools/rtpengine_ng.py): an SDES offer (RTP/SAVP, a=crypto
# AES_CM_128_HMAC_SHA1_80 under a fresh key) asking it to offer plain RTP/AVP
# onwards, and a plain answer whose address is a sink.  It decrypts every
# packet and forwards it as plain RTP to the sink (a Python counter on the
# generator's CPU).  The generator sends each stream's SRTP to the port
# rtpengine allocated for it, under the key in its offer (loadgen
# --streams-file); packets, sizes, rate and pacing are those of
# tools/bench_capacity.sh, which measures the recorder in the same round.
#
# usage: tools/bench_peer_rtpengine.sh [BUILD_DIR [ROUNDS [STREAMS...]]]
#        (build-bench, 3, 1000)
#   env: DURATION_MS (10000), PIN (1 on 2+ cores: the receiver on CPU 0,
#        generator and sink on CPU 1), RTPE_THREADS (rtpengine's num-threads;
#        default its own, one per CPU), ONLY=rtpengine|srtprec (one side),
#        and bench_capacity.sh's (WORKERS, RCVBUF, FLUSH_MS) for the recorder.
# STREAMS must be even (the recorder's calls have two streams each).
# Prints one line per run, then min / median / max per side and the ratio of
# the medians.  Installs rtpengine-daemon if missing.  Everything started
# here is stopped here; only 127.0.0.1 is used.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build-bench}" && pwd) || exit 2
rounds=${2:-3}
shift 2 2>/dev/null || shift $#
sizes=("$@")
[ "${#sizes[@]}" -gt 0 ] || sizes=(1000)
duration=${DURATION_MS:-10000}
pin=${PIN:-$([ "$(nproc)" -ge 2 ] && echo 1 || echo 0)}
py=/usr/bin/python3
ng_py=$top/tools/rtpengine_ng.py
hz=$(getconf CLK_TCK)
for s in "${sizes[@]}"; do
    [ $((s % 2)) = 0 ] && [ "$s" -ge 2 ] || { echo "STREAMS must be even: $s" >&2; exit 2; }
done

if ! command -v rtpengine >/dev/null; then
    echo "installing rtpengine-daemon (Debian)" >&2
    as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
    as_root apt-get update -qq &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            rtpengine-daemon >/dev/null || { echo "rtpengine-daemon did not install" >&2; exit 1; }
fi
# The Debian package enables a service; on a machine with an init that runs
# it, it would listen on its own config's ports.  We start our own instance
# only and never touch that one.

base=$(mktemp -d /tmp/srtprec-peer.XXXXXX)
rtpe_pid='' sink_pid='' lg_pid=''
stop_all() {
    local p
    for p in $lg_pid $sink_pid $rtpe_pid; do kill -TERM "$p" 2>/dev/null; done
    for _ in $(seq 1 50); do
        local alive=0
        for p in $lg_pid $sink_pid $rtpe_pid; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for p in $lg_pid $sink_pid $rtpe_pid; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rtpe_pid='' sink_pid='' lg_pid=''
}
trap stop_all EXIT

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
free_udp() { # a free UDP port on 127.0.0.1 below rtpengine's range
    local p
    for _ in $(seq 1 200); do
        p=$(( RANDOM % 9000 + 21000 ))
        [ -z "$(ss -Hlun "( sport = :$p or sport = :$((p + 1)) )" 2>/dev/null)" ] && { echo "$p"; return 0; }
    done
    return 1
}
# Prefixes, not a function: a backgrounded function is a subshell, and $!
# would be its PID, not the program's.
cpu0=() cpu1=()
[ "$pin" = 1 ] && cpu0=(taskset -c 0) cpu1=(taskset -c 1)

# One rtpengine run: prints "streams sent received loss cpu_s us_pkt media_us forwarded discards"
rtpe_run() { # streams run_dir
    local n=$1 run=$2 ng sink c0 c1 c2 c2q c3 tot
    mkdir -p "$run"
    ng=$(free_udp) && sink=$(free_udp) || { echo "no free port" >&2; return 1; }
    # 4 ports per stream (RTP and RTCP on both sides): 16,000 for 4,000 streams.
    cat >"$run/rtpengine.conf" <<CONF
[rtpengine]
table = -1
interface = 127.0.0.1
listen-ng = 127.0.0.1:$ng
port-min = 36000
port-max = 59999
timeout = 120
delete-delay = 0
log-level = 5
${RTPE_THREADS:+num-threads = $RTPE_THREADS}
CONF
    "${cpu0[@]}" rtpengine --config-file="$run/rtpengine.conf" --foreground --log-stderr \
        >"$run/rtpengine.log" 2>&1 &
    rtpe_pid=$!
    "$py" "$ng_py" ping --ng "127.0.0.1:$ng" --wait 10 ||
        { echo "rtpengine did not answer (see $run/rtpengine.log)" >&2; stop_all; return 1; }
    "${cpu1[@]}" "$py" "$ng_py" sink --listen "127.0.0.1:$sink" --stop-file "$run/stop-sink" \
        --out "$run/sink.out" &
    sink_pid=$!
    sleep 0.3
    c0=$(cpu_ticks "$rtpe_pid")
    "$py" "$ng_py" setup --ng "127.0.0.1:$ng" --streams "$n" --sink "127.0.0.1:$sink" \
        --out "$run/streams.tsv" 2>"$run/setup.err" ||
        { echo "ng setup failed (see $run/setup.err)" >&2; stop_all; return 1; }
    "${cpu1[@]}" "$build/tools/srtprec-loadgen" --streams-file="$run/streams.tsv" --calls=$((n / 2)) \
        --duration-ms="$duration" --out="$run/sent.tsv" --start-file="$run/go" \
        >"$run/loadgen.out" 2>"$run/loadgen.log" &
    lg_pid=$!
    c1='' k=0
    while kill -0 "$lg_pid" 2>/dev/null; do
        if [ -z "$c1" ] && grep -q 'packets ready' "$run/loadgen.log" 2>/dev/null; then
            c1=$(cpu_ticks "$rtpe_pid")
            touch "$run/go"
        fi
        # rtpengine's CPU ticks twice a second: where in the run it is busy.
        k=$((k + 1))
        [ $((k % 10)) = 0 ] && echo "$(date +%s.%N | cut -c1-14) $(cpu_ticks "$rtpe_pid")" >>"$run/cpu.ticks"
        sleep 0.05
    done
    wait "$lg_pid" || echo "loadgen failed (see $run/loadgen.log)" >&2
    lg_pid=''
    c2=$(cpu_ticks "$rtpe_pid")
    [ -n "$c1" ] || c1=$c0
    tot=$("$py" "$ng_py" totals --ng "127.0.0.1:$ng" --in "$run/streams.tsv")
    c2q=$(cpu_ticks "$rtpe_pid")
    "$py" "$ng_py" delete --ng "127.0.0.1:$ng" --in "$run/streams.tsv" || true
    c3=$(cpu_ticks "$rtpe_pid")
    touch "$run/stop-sink"
    wait "$sink_pid" 2>/dev/null
    sink_pid=''
    stop_all
    local sent recv fwd disc
    sent=$(grep -o ' sent=[0-9]*' "$run/loadgen.out" | cut -d= -f2)
    recv=$(echo "$tot" | grep -o 'packets=[0-9]*' | cut -d= -f2)
    fwd=$(grep -o 'packets=[0-9]*' "$run/sink.out" 2>/dev/null | cut -d= -f2)
    disc=$(grep -c 'discarding packet' "$run/rtpengine.log")
    awk -v n="$n" -v sent="${sent:-0}" -v rx="${recv:-0}" -v fwd="${fwd:-0}" -v disc="$disc" \
        -v hz="$hz" -v c0="$c0" -v c1="$c1" -v c2="$c2" -v c2q="$c2q" -v c3="$c3" 'BEGIN {
        cpu = ((c2 - c0) + (c3 - c2q)) / hz; media = (c2 - c1) / hz
        printf "%d %d %d %d %.2f %.2f %.2f %d %d\n", n, sent, rx, sent - rx, cpu,
            rx ? cpu * 1e6 / rx : 0, rx ? media * 1e6 / rx : 0, fwd, disc }'
}

# One recorder run through tools/bench_capacity.sh: the same fields.
srtprec_run() { # streams run_dir
    local n=$1 run=$2 row
    mkdir -p "$run"
    PIN=$pin DURATION_MS=$duration "$top/tools/bench_capacity.sh" "$build" $((n / 2)) \
        >"$run/capacity.out" 2>"$run/capacity.err"
    row=$(awk -v c=$((n / 2)) '$1 == c' "$run/capacity.out")
    [ -n "$row" ] || { echo "bench_capacity failed (see $run)" >&2; return 1; }
    # calls streams mode sent archived rate loss cpu_s us/pkt media_us ... kdrops check
    echo "$row" | awk '{ printf "%d %d %d %d %.2f %.2f %.2f %d %d\n", $2, $4, $5, $7, $8, $9, $10, $5, $13 }'
}

printf '%-5s %-8s %-6s %-9s %-9s %-7s %-7s %-8s %-8s %-9s %s\n' round side streams sent received \
    loss cpu_s us/pkt media_us forwarded drops_logged
for r in $(seq 1 "$rounds"); do
    for n in "${sizes[@]}"; do
        # Alternate which side goes first, so neither always gets the
        # quieter (or warmer) minute.
        if [ $((r % 2)) = 1 ]; then order=(rtpengine srtprec); else order=(srtprec rtpengine); fi
        for side in "${order[@]}"; do
            [ -n "${ONLY:-}" ] && [ "$ONLY" != "$side" ] && continue
            run="$base/$side-$n-$r"
            # Not in $(...): the PIDs must stay visible to the EXIT trap.
            if [ "$side" = rtpengine ]; then rtpe_run "$n" "$run" >"$run.line"; else srtprec_run "$n" "$run" >"$run.line"; fi
            line=$(cat "$run.line")
            [ -n "$line" ] || continue
            echo "$side $line" >>"$base/rows"
            echo "$line" | awk -v r="$r" -v s="$side" \
                '{ printf "%-5s %-8s %-6s %-9s %-9s %-7s %-7s %-8s %-8s %-9s %s\n", r, s, $1, $2, $3, $4, $5, $6, $7, $8, $9 }'
        done
    done
done

echo
for n in "${sizes[@]}"; do
    for f in 6 7; do
        what=$([ "$f" = 6 ] && echo whole || echo media)
        for side in rtpengine srtprec; do
            awk -v s="$side" -v n="$n" -v f="$f" '$1 == s && $2 == n { print $(f + 1), $5 }' "$base/rows" 2>/dev/null |
                sort -n | awk -v s="$side" -v n="$n" -v w="$what" '
                { v[k++] = $1; if ($2 > 0) lossy++ }
                END { if (k) printf "%s %s %s %.2f %.2f %.2f %d %d\n", n, w, s, v[0], v[int(k / 2)], v[k - 1], k, lossy + 0 }'
        done
    done
done >"$base/summary"
awk '{ printf "%6d streams, %-5s us/pkt, %-9s: min %6.2f  median %6.2f  max %6.2f  (%d runs, %d with loss)\n", $1, $2, $3, $4, $5, $6, $7, $8 }' "$base/summary"
awk '$3 == "rtpengine" { r[$1 " " $2] = $5 } $3 == "srtprec" { s[$1 " " $2] = $5 }
     END { for (k in r) if (k in s && s[k] > 0)
         printf "%s: rtpengine / srtprec = %.1fx (medians)\n", k, r[k] / s[k] }' "$base/summary" | sort -n
echo "runs in $base"
