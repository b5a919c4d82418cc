#!/usr/bin/env bash
# Full states of many calls, split over several NOTIFYs (TAP).
# 1. 400 calls disclosed in a burst and recorded: the keyagent's window of
#    unanswered NOTIFYs fills, so the recorder gets full states split into a
#    full part and partial parts; calls absent from the full part but listed
#    by a later part go on (no call is ended, re-opened or loses a packet).
# 2. 400 more calls are disclosed to that recorder; it is stopped and a
#    second one subscribes: the keyagent's full state for it (some 400 KB,
#    more than one connection's default 256 KiB output buffer) must arrive
#    whole, and every packet then sent to the second recorder is archived.
# Each phase checks count and payload hash per stream (srtprec-loadcheck).
# usage: test_resync.sh BUILD_DIR   (env RESYNC_CALLS: calls per phase, 400)
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"

. "$here/../lib/tap.sh"

lg=''
test_cleanup() { [ -n "$lg" ] && kill "$lg" 2>/dev/null; }
stack_test_run resync

calls=${RESYNC_CALLS:-400} # fewer under ThreadSanitizer (meson.build)
stack_init "$build" "$run"
stack_start; ok $? "keyagent, recorder and api start"

# Phase 1
"$build/tools/srtprec-loadgen" --control="$STACK_CONTROL" --recorder="127.0.0.1:$STACK_MEDIA_PORT" \
    --calls=$calls --duration-ms=1500 --settle-ms=300 --out="$run/sent1.tsv" \
    >"$run/loadgen1.out" 2>"$run/loadgen1.log"
ok $? "a burst of $calls calls disclosed and their media sent"
sealed=$(stack_wait_sealed "$run/archive" "$calls" 15)
[ "$sealed" = "$calls" ]; ok $? "one archive per call ($sealed)"
"$build/tools/srtprec-loadcheck" --cert="$run/pki/auditor.crt" --key="$run/pki/auditor.key" \
    --expect="$run/sent1.tsv" "$run"/archive/*.srec >"$run/check1.out" 2>"$run/check1.err"
ok $? "zero loss through split full states: every stream archived with the count and hash sent"
diag <"$run/check1.out"
head -20 "$run/check1.err" | diag
echo "keyagent sent $(grep -c 'NOTIFY full' "$run/keyagent.log") full states;" \
    "recorder: $(grep -c 'absent from' "$run/recorder.log") calls absent from a full part," \
    "$(grep -c 'listed again' "$run/recorder.log") listed again" | diag

# Phase 2

"$build/tools/srtprec-loadgen" --control="$STACK_CONTROL" --recorder="127.0.0.1:$STACK_MEDIA_PORT" \
    --calls=$calls --duration-ms=1000 --settle-ms=300 --out="$run/sent.tsv" \
    --start-file="$run/go" >"$run/loadgen.out" 2>"$run/loadgen.log" &
lg=$!
stack_wait_log "$run/loadgen.log" disclosed 60; ok $? "$calls calls disclosed"

# Stop the first recorder (it seals its archives, empty of media) and start
# a second one with its own archive directory and index.
first=${STACK_PIDS[1]}
kill -TERM "$first"
for _ in $(seq 1 100); do kill -0 "$first" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$first" 2>/dev/null; ok $? "the first recorder stopped"
mkdir -p "$run/archive2"
"$build/recorder/srtprec-recorder" --config="$run/srtprec.conf" --archive-dir="$run/archive2" \
    --index="$run/index2.sqlite" >"$run/recorder2.log" 2>&1 &
STACK_PIDS+=($!)
stack_wait_log "$run/recorder2.log" "subscription active" 15; ok $? "a second recorder subscribes"
opened=0
for _ in $(seq 1 300); do
    opened=$(grep -c 'recording into archive' "$run/recorder2.log")
    [ "$opened" -ge "$calls" ] && break
    sleep 0.1
done
[ "$opened" -ge "$calls" ]; ok $? "the full state gives the second recorder all $calls calls ($opened)"
grep -E 'cannot queue|connection closed' "$run/keyagent.log" "$run/recorder2.log" | head -5 | diag
! grep -q 'cannot queue a message: limit exceeded' "$run/keyagent.log"; ok $? "no NOTIFY met a full send buffer"

touch "$run/go"
wait "$lg"; ok $? "the load generator sent every packet"
lg=''
diag <"$run/loadgen.out"
sealed=$(stack_wait_sealed "$run/archive2" "$calls" 15)
[ "$sealed" -ge "$calls" ]; ok $? "$calls archives sealed by the second recorder ($sealed)"
"$build/tools/srtprec-loadcheck" --cert="$run/pki/auditor.crt" --key="$run/pki/auditor.key" \
    --expect="$run/sent.tsv" "$run"/archive2/*.srec >"$run/check.out" 2>"$run/check.err"
ok $? "zero loss after the restart: every stream archived with the count and payload hash sent"
diag <"$run/check.out"
head -20 "$run/check.err" | diag

stack_stop
reports=$(grep -l -E 'Sanitizer|runtime error' "$run"/*.log 2>/dev/null)
echo "$reports" | diag
[ -z "$reports" ]; ok $? "no sanitizer report from the daemons or the tools"

tap_end
