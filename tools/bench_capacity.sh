#!/usr/bin/env bash
# Capacity over sockets (issue 5, item 6a): the real keyagent and recorder on
# 127.0.0.1, srtprec-loadgen sending pre-encrypted SRTP at 50 packets/s per
# stream, then srtprec-loadcheck comparing every stream's count and payload
# hash with what the recorder archived.  The recorder's cost is its own CPU
# time (utime + stime from /proc/PID/stat), split into phases: disclosure
# (NOTIFY processing), media (from the first packet to END), close (sealing
# the archives).  A benchmark, not a test: figures go to docs/benchmarks.md.
#
# usage: tools/bench_capacity.sh [BUILD_DIR] [CALLS...]
#   env: DURATION_MS (10000), FAST=1 (also one run as fast as possible),
#        PIN=1 (recorder on CPU 0, generator on CPU 1; default on 2+ cores),
#        RCVBUF=BYTES (the recorder's `rcvbuf`; default: the recorder's own),
#        CHURN=N (during the media window, batches of N more calls start, run 1 s
#        and end, one after another: archives open and seal while media flows;
#        every churn call is checked too),
#        FLUSH_MS=N (the recorder's `flush-interval-ms`; default its own, 1000:
#        one interval of media per stream waits in memory before it is written),
#        WORKERS=N (the recorder's `workers`; default 1, the single-thread path;
#        with PIN=1 and N > 1 the recorder's threads may run on CPUs 0..N-1,
#        so on a 2-core machine they share CPU 1 with the generator),
#        HOG=CPUS (during the media window a busy loop runs pinned to each CPU
#        of the comma list, e.g. HOG=1: the generator's CPU, "the other core"),
#        NICE=N (the recorder's threads and the generator run at nice N, and
#        so does this session's autogroup while the recorder runs, e.g. -20:
#        on a VM shared with other sessions' work, whose autogroups would each
#        get an equal share of CPU 0 whatever the recorder's nice, this keeps
#        that work from starving the recorder or slowing the generator below
#        its rate, so that what a run measures is the stall it was given),
#        QUEUE_MS=N (sample the recorder's kernel receive queue every N ms
#        during the media window; prints its peak in bytes and datagrams),
#        MODES="socket capture" (each call count in each mode, one after the
#        other in the same invocation; default socket).  capture: the
#        generator sends to a sink socket on 127.0.0.1 that never reads (its
#        full queue drops them: no ICMP), the recorder captures them on lo
#        (capture = lo, capture-filter = udp and dst port SINK; keys name the
#        sink as dst) and nothing reaches its media socket.  Capture drops
#        (ring full) show in kdrops.  Root only (CAP_NET_RAW).
# Prints one table row per run.  Exit 1 if any run lost a packet.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
shift || true
runs=("$@")
[ "${#runs[@]}" -gt 0 ] || runs=(500 1000 2000)
duration=${DURATION_MS:-10000}
pin=${PIN:-$([ "$(nproc)" -ge 2 ] && echo 1 || echo 0)}
workers=${WORKERS:-1}
rec_cpus=$([ "$workers" -gt 1 ] && echo "0-$((workers - 1))" || echo 0)
. "$top/tests/lib/stack.sh"

hz=$(getconf CLK_TCK)
base=$(mktemp -d /tmp/srtprec-capacity.XXXXXX)
hog_pids=() q_pid=''
ag_saved=''
hog_stop() {
    local p
    # Back to this session's autogroup nice from before NICE.
    [ -n "$ag_saved" ] && echo "$ag_saved" >/proc/self/autogroup 2>/dev/null
    ag_saved=
    for p in "${hog_pids[@]}" $q_pid; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    hog_pids=() q_pid=''
}
trap 'hog_stop; stack_stop' EXIT
lost=0

# The recorder's media socket(s) rx_queue from /proc/net/udp (hex, bytes of
# skb truesize): the peak, every $QUEUE_MS ms, until RUN/stop-queue appears.
queue_sampler() { # run port
    local hexport peak=0 q
    hexport=$(printf '%04X' "$2")
    while [ ! -f "$1/stop-queue" ]; do
        q=0
        for h in $(awk -v p=":$hexport" 'substr($2, length($2) - 4) == p { split($5, a, ":"); print a[2] }' /proc/net/udp); do
            q=$((q + 16#$h))
        done
        [ "$q" -gt "$peak" ] && peak=$q && echo "$peak" >"$1/queue.peak"
        sleep "$(awk -v m="$QUEUE_MS" 'BEGIN { printf "%.3f", m / 1000 }')"
    done
}

cpu_ticks() { # utime + stime of pid (fields 14, 15; the comm field has no spaces)
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}
status_kb() { # pid field
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}
metric() { # file name
    awk -v n="$2" '$1 == n { s += $2 } END { print s + 0 }' "$1" 2>/dev/null
}

printf '%-6s %-6s %-9s %-10s %-10s %-10s %-8s %-7s %-8s %-8s %-9s %-8s %-8s %s\n' \
    calls streams mode sent archived rate_pps loss cpu_s us/pkt media_us streams/core KiB/strm kdrops check

# Batches of CHURN calls, one after another, until RUN/stop-churn appears.
churn_loop() { # run
    local k=0 pre=()
    [ "$pin" = 1 ] && pre=(taskset -c 1)
    while [ ! -f "$1/stop-churn" ]; do
        "${pre[@]}" "$build/tools/srtprec-loadgen" --control="$STACK_CONTROL" \
            --recorder="127.0.0.1:$STACK_MEDIA_PORT" --calls="$CHURN" --duration-ms=1000 \
            --settle-ms=100 --out="$1/churn-$k.tsv" >"$1/churn-$k.out" 2>"$1/churn-$k.log" ||
            echo "    churn batch $k failed (see $1/churn-$k.log)" >>"$1/churn.err"
        k=$((k + 1))
    done
}

one_run() { # calls fast(0|1) [mode: socket|capture]
    local calls=$1 fast=$2 mode=${3:-socket} run rec lg c0 c1 c2 c3 rss0 rss1=0 hwm
    local target sink_pid=''
    run="$base/run-$calls-$fast-$mode"
    unset STACK_KA_PORT STACK_MEDIA_PORT STACK_API_PORT
    stack_init "$build" "$run" >/dev/null 2>&1
    target=127.0.0.1:$STACK_MEDIA_PORT
    if [ "$mode" = capture ]; then
        local sink
        sink=$(stack_free_port)
        target=127.0.0.1:$sink
        sed -i "/^\[recorder\]/a capture = lo\ncapture-filter = udp and dst port $sink" "$run/srtprec.conf"
        # Bounded: it exits by itself after the longest run could take.
        timeout $(( duration / 1000 + 300 )) /usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.bind(("127.0.0.1", int(sys.argv[1])))
time.sleep(1e6)' "$sink" &
        sink_pid=$!
    fi
    # Metrics for the kernel-drop counter; the default limits hold 4,400 streams.
    # The keyagent holds 1,024 calls by default.
    sed -i "/^\[recorder\]/a metrics-file = $run/metrics.prom" "$run/srtprec.conf"
    sed -i "/^\[keyagent\]/a max-calls = 4096" "$run/srtprec.conf"
    sed -i "/^\[recorder\]/a workers = $workers" "$run/srtprec.conf"
    [ -n "${RCVBUF:-}" ] && sed -i "/^\[recorder\]/a rcvbuf = $RCVBUF" "$run/srtprec.conf"
    [ -n "${FLUSH_MS:-}" ] && sed -i "/^\[recorder\]/a flush-interval-ms = $FLUSH_MS" "$run/srtprec.conf"
    stack_start || { echo "stack did not start (see $run)"; return 1; }
    rec=${STACK_PIDS[1]}
    # -a: every thread (the workers exist by now)
    [ "$pin" = 1 ] && taskset -apc "$rec_cpus" "$rec" >/dev/null
    if [ -n "${NICE:-}" ]; then # nice is per thread on Linux
        for t in /proc/"$rec"/task/*; do renice -n "$NICE" -p "${t##*/}" >/dev/null; done
        # With sched_autogroup_enabled, nice only orders tasks inside one
        # session's group; groups share a CPU equally.
        if [ -w /proc/self/autogroup ]; then
            ag_saved=$(awk '{ print $3 }' /proc/self/autogroup)
            echo "$NICE" >/proc/self/autogroup 2>/dev/null || ag_saved=''
        fi
    fi
    sleep 0.5
    rss0=$(status_kb "$rec" VmRSS)
    c0=$(cpu_ticks "$rec")
    local args=(--control="$STACK_CONTROL" --recorder="$target" --calls="$calls"
                --duration-ms="$duration" --out="$run/sent.tsv" --start-file="$run/go")
    [ "$fast" = 1 ] && args+=(--fast=yes)
    local pre=()
    [ "$pin" = 1 ] && pre=(taskset -c 1)
    [ -n "${NICE:-}" ] && pre+=(nice -n "$NICE")
    "${pre[@]}" "$build/tools/srtprec-loadgen" "${args[@]}" >"$run/loadgen.out" 2>"$run/loadgen.log" &
    lg=$!
    # Phase marks: the generator logs "disclosed" before its settle pause.
    # Media starts once the recorder has opened every call's archive: an
    # open costs fsyncs on the recorder's only thread, and media arriving
    # meanwhile would measure that stall, not the media path.
    # Bounded: after 120 s media starts anyway (and the stall shows as loss).
    c1='' waited=0
    while kill -0 "$lg" 2>/dev/null; do
        grep -q disclosed "$run/loadgen.log" 2>/dev/null && waited=$((waited + 1))
        if [ -z "$c1" ] && [ "$waited" -gt 0 ] &&
           { [ "$(grep -c 'recording into archive' "$run/recorder.log")" -ge "$calls" ] ||
             [ "$waited" -gt 2400 ]; }; then
            c1=$(cpu_ticks "$rec")
            rss1=$(status_kb "$rec" VmRSS)
            touch "$run/go"
            if [ -n "${HOG:-}" ]; then
                for hc in ${HOG//,/ }; do
                    taskset -c "$hc" sh -c 'while :; do :; done' &
                    hog_pids+=($!)
                done
            fi
            [ -n "${QUEUE_MS:-}" ] && { queue_sampler "$run" "$STACK_MEDIA_PORT" & q_pid=$!; }
            [ "${CHURN:-0}" -gt 0 ] && { churn_loop "$run" & churn_pid=$!; }
        fi
        sleep 0.05
    done
    wait "$lg"
    touch "$run/stop-queue"
    hog_stop
    local expect=$calls
    if [ -n "${churn_pid:-}" ]; then
        touch "$run/stop-churn"
        wait "$churn_pid"
        churn_pid=''
        local batches
        batches=$(find "$run" -maxdepth 1 -name 'churn-*.tsv' | wc -l)
        expect=$((calls + batches * CHURN))
        cat "$run"/churn-*.tsv >>"$run/sent.tsv" 2>/dev/null
        echo "    churn: $batches batches of $CHURN calls started and ended during the media window" >&2
        [ -s "$run/churn.err" ] && cat "$run/churn.err" >&2
    fi
    c2=$(cpu_ticks "$rec")
    [ -n "$c1" ] || c1=$c0
    stack_wait_sealed "$run/archive" "$expect" 60 >/dev/null
    c3=$(cpu_ticks "$rec")
    hwm=$(status_kb "$rec" VmHWM)
    stack_stop
    [ -n "$sink_pid" ] && { kill -TERM "$sink_pid" 2>/dev/null; wait "$sink_pid" 2>/dev/null; }
    "$build/tools/srtprec-loadcheck" --cert="$run/pki/auditor.crt" --key="$run/pki/auditor.key" \
        --expect="$run/sent.tsv" "$run"/archive/*.srec >"$run/check.out" 2>"$run/check.err"
    local check=$? sent archived rate streams kdrop
    # The main generator's packets and the churn batches' (if any).
    sent=$(cat "$run/loadgen.out" "$run"/churn-*.out 2>/dev/null | grep -o ' sent=[0-9]*' |
           cut -d= -f2 | awk '{ s += $1 } END { print s + 0 }')
    rate=$(grep -o 'rate_pps=[0-9]*' "$run/loadgen.out" | cut -d= -f2)
    archived=$(grep -o 'packets_archived=[0-9]*' "$run/check.out" | cut -d= -f2)
    streams=$((2 * calls))
    kdrop=$(metric "$run/metrics.prom" 'srtprec_recorder_packets_dropped_total{reason="kernel"}')
    [ "$check" = 0 ] || lost=1
    awk -v c="$calls" -v s="$streams" -v m="$([ "$mode" = capture ] && echo cap- || echo)$([ "$fast" = 1 ] && echo fast || echo paced)" \
        -v sent="${sent:-0}" -v ar="${archived:-0}" -v rate="${rate:-0}" -v hz="$hz" \
        -v c0="$c0" -v c1="$c1" -v c2="$c2" -v c3="$c3" -v rss0="$rss0" -v hwm="$hwm" \
        -v kd="$kdrop" -v chk="$([ "$check" = 0 ] && echo ok || echo LOSS)" 'BEGIN {
            cpu = (c3 - c0) / hz; media = (c2 - c1) / hz
            us = ar ? cpu * 1e6 / ar : 0; mus = ar ? media * 1e6 / ar : 0
            spc = us ? 1e6 / (50 * us) : 0
            printf "%-6d %-6d %-9s %-10d %-10d %-10d %-8d %-7.2f %-8.2f %-8.2f %-9.0f %-8.1f %-8d %s\n",
                c, s, m, sent, ar, rate, sent - ar, cpu, us, mus, spc, (hwm - rss0) / s, kd, chk }'
    echo "    memory per stream: $(( (rss1 - rss0) / (2 * calls) )) KiB with every call open before media, $(( (hwm - rss0) / (2 * calls) )) KiB at peak" >&2
    [ -s "$run/queue.peak" ] && echo "    peak receive queue (every ${QUEUE_MS} ms): $(cat "$run/queue.peak") bytes" >&2
    echo "    disclosure $(( (c1 - c0) ))/${hz} s, media $(( (c2 - c1) ))/${hz} s, close $(( (c3 - c2) ))/${hz} s; $(cat "$run/check.out")" >&2
}

for c in "${runs[@]}"; do
    for mode in ${MODES:-socket}; do one_run "$c" 0 "$mode"; done
done
if [ "${FAST:-0}" = 1 ]; then
    for mode in ${MODES:-socket}; do one_run "${runs[-1]}" 1 "$mode"; done
fi
echo "runs in $base"
exit "$lost"
