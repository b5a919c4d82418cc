#!/usr/bin/env bash
# A full disk at the end of calls (TAP; docs/recorder.md, "Index and disk
# failures"): the archive directory is a 2 MiB tmpfs in a private mount
# namespace (root only; skipped otherwise).
#  1. Filled mid-call: the seals fail, the archives stay .partial with their
#     audio in memory, and once space returns the retried seals write every
#     packet; index rows and metrics say what verify reads.
#  2. Filled, then SIGTERM while still full: what cannot be written is
#     counted (storage drops), never reported recorded; after a restart the
#     recovered archives' rows say what verify reads, and kept + lost = sent.
# usage: test_diskfull.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)

if [ -z "${SRTPREC_DISKFULL_NS:-}" ]; then
    if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null ||
        ! unshare -m --propagation private true 2>/dev/null; then
        echo "1..0 # SKIP needs root and unshare -m (a tmpfs in a private mount namespace)"
        exit 0
    fi
    SRTPREC_DISKFULL_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$here/../lib/stack.sh"
. "$here/../lib/tap.sh"
command -v sqlite3 >/dev/null || { echo "1..0 # SKIP sqlite3 CLI not installed (tools/setup.sh)"; exit 0; }

stack_test_run diskfull
test_cleanup() { umount "$run/archive" 2>/dev/null; }
stack_init "$build" "$run"
sed -i "/^\[recorder\]/a metrics-file = $run/recorder.prom" "$run/srtprec.conf"
sed -i "/^\[recorder\]/a metrics-interval-ms = 200" "$run/srtprec.conf"
mount -t tmpfs -o size=2m tmpfs "$run/archive"; ok $? "a 2 MiB tmpfs is the archive directory"
pki=$run/pki
stack_start; ok $? "keyagent, recorder and api start"

loadgen() { # calls duration_ms out
    "$build/tools/srtprec-loadgen" --control="$STACK_CONTROL" --recorder="127.0.0.1:$STACK_MEDIA_PORT" \
        --calls="$1" --duration-ms="$2" --settle-ms=300 --out="$run/$3.tsv" >"$run/$3.out" 2>"$run/$3.log"
}
metric() { awk -v n="$1" '$1 == n { print $2 }' "$run/recorder.prom" 2>/dev/null; }
fill() { dd if=/dev/zero of="$run/archive/filler" bs=64k 2>/dev/null; sync; }
# Waits (bounded, tenths of a second) until metric $1 is at least $2.
metric_ge() { # name min tenths
    local v
    for _ in $(seq 1 "$3"); do
        v=$(metric "$1")
        [ "${v:-0}" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
# Packets verify reads in the archives given; "bad" for a row that differs.
read_sum() {
    local f out s=0
    for f in "$@"; do
        out=$("$build/tools/srtprec" verify --cert="$pki/auditor.crt" --key="$pki/auditor.key" "$f" 2>&1)
        s=$((s + $(echo "$out" | sed -n 's/.* read_packets=\([0-9]*\).*/\1/p')))
    done
    echo "$s"
}
rows_match() { # state files...
    local st=$1 f id out rp row
    shift
    for f in "$@"; do
        id=$(basename "$f" .srec)
        out=$("$build/tools/srtprec" verify --cert="$pki/auditor.crt" --key="$pki/auditor.key" "$f" 2>&1)
        echo "$out" | diag
        rp=$(echo "$out" | sed -n 's/.* read_packets=\([0-9]*\).*/\1/p')
        row=$(sqlite3 "$run/index.sqlite" "select packets, state from recordings where id = '$id'")
        echo "# row $id: $row" >&2
        [ "$row" = "$rp|$st" ] || echo bad
    done
}

# --- 1: full at the end of the calls, space returns ---------------------------
loadgen 2 2500 one &
lg=$!
stack_wait_log "$run/recorder.log" "recording into archive" 10
sleep 0.8
fill
wait "$lg"; ok $? "2 calls sent; the disk filled up during them"
metric_ge srtprec_recorder_archives_waiting_disk 2 100
ok $? "their seals fail: no space (archives_waiting_disk $(metric srtprec_recorder_archives_waiting_disk))"
sleep 0.5
partial=$(find "$run/archive" -name '*.partial' | wc -l)
sealing=$(metric srtprec_recorder_archives_sealing)
waiting=$(metric srtprec_recorder_archives_waiting_disk)
[ "$partial" = 2 ] && [ "${sealing:-0}" = 2 ] && [ "${waiting:-0}" = 2 ]
ok $? "both archives stay .partial, waiting to be sealed ($partial partial, gauges ${sealing:-none} sealing, ${waiting:-none} waiting for disk)"
rm -f "$run/archive/filler"
sealed=$(stack_wait_sealed "$run/archive" 2 20)
[ "$sealed" = 2 ]; ok $? "once space returns, the retried seals succeed ($sealed sealed)"
for _ in $(seq 1 30); do [ "$(metric srtprec_recorder_archives_waiting_disk)" = 0 ] && break; sleep 0.1; done
metric_ge srtprec_recorder_seal_retries_total 1 20 &&
    [ "$(metric srtprec_recorder_archives_waiting_disk)" = 0 ] &&
    [ "$(metric srtprec_recorder_packets_lost_at_seal_total)" = 0 ]
ok $? "retried seals, none waiting, nothing lost at seal (metrics)"
"$build/tools/srtprec-loadcheck" --cert="$pki/auditor.crt" --key="$pki/auditor.key" \
    --expect="$run/one.tsv" "$run"/archive/*.srec >"$run/check.out" 2>"$run/check.err"
ok $? "every packet of both calls is in their archives (count and payload hash)"
diag <"$run/check.out"
bad=$(rows_match 1 "$run"/archive/*.srec | wc -l)
[ "$bad" = 0 ]; ok $? "index rows: complete, packets = what verify reads ($bad wrong)"
sleep 0.4
sum1=$(read_sum "$run"/archive/*.srec)
[ "$(metric srtprec_recorder_packets_recorded_total)" = "$sum1" ] &&
    [ "$(metric 'srtprec_recorder_packets_dropped_total{reason="storage"}')" = 0 ]
ok $? "metrics: $sum1 recorded, no storage drops"
mkdir -p "$run/done1" && mv "$run"/archive/*.srec "$run/done1/"

# --- 2: still full at shutdown: losses counted, recovery agrees ---------------
loadgen 2 2500 two &
lg=$!
stack_wait_log "$run/recorder.log" "recording into archive .*" 10
sleep 1
fill
wait "$lg"; ok $? "2 more calls sent; the disk filled up during them"
metric_ge srtprec_recorder_archives_waiting_disk 2 100
rec=${STACK_PIDS[1]}
kill -TERM "$rec"
for _ in $(seq 1 100); do kill -0 "$rec" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$rec" 2>/dev/null; ok $? "stopped while full: the recorder gives the seals up and exits"
recorded=$(metric srtprec_recorder_packets_recorded_total)
lost=$(metric 'srtprec_recorder_packets_dropped_total{reason="storage"}')
[ "${lost:-0}" -gt 0 ] && [ "$(metric srtprec_recorder_packets_lost_at_seal_total)" = "$lost" ]
ok $? "the lost packets are counted as storage drops and as lost at seal ($lost)"
rm -f "$run/archive/filler"
mv "$run/recorder.log" "$run/recorder1.log"
stack_start_one recorder recorder/srtprec-recorder
stack_wait_log "$run/recorder.log" "subscription active" 15; ok $? "the recorder starts again"
nrec=$(find "$run/archive" -name '*.srec' | wc -l)
[ "$nrec" = 2 ]; ok $? "recovery sealed both archives ($nrec)"
bad=$(rows_match 3 "$run"/archive/*.srec | wc -l)
[ "$bad" = 0 ]; ok $? "their rows: recovered, packets = what verify reads ($bad wrong)"
kept=$(read_sum "$run"/archive/*.srec)
sent=$(awk -F'\t' 'NR > 1 { n += $4 } END { print n + 0 }' "$run/two.tsv")
head -3 "$run/two.tsv" | diag
[ "$recorded" = $((sum1 + kept)) ]; ok $? "metrics: recorded ($recorded) = the first calls ($sum1) + what recovery kept ($kept)"
[ $((kept + lost)) = "$sent" ]; ok $? "kept ($kept) + counted lost ($lost) = sent ($sent)"

stack_stop
reports=$(grep -l -E 'Sanitizer|runtime error' "$run"/*.log 2>/dev/null)
echo "$reports" | diag
[ -z "$reports" ]; ok $? "no sanitizer report from the daemons or the tools"
tap_end
