#!/usr/bin/env bash
# A call with more streams than one archive holds (TAP): every stream of two
# calls takes a new SSRC after each 2 packets (a phone that changes SSRC on
# every hold, pushed to the limit), 100 SSRCs per stream, 200 per call, each
# bound by trial authentication.  One archive takes about 90 streams added
# after data (its Ogg serial budget); the call goes on in continuation
# archives under the same Call-ID, and nothing is lost: every SSRC's
# packets are found, counted and hashed, in one of the call's archives.
# usage: test_continuation.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"

. "$here/../lib/tap.sh"

stack_test_run continuation

calls=2
stack_init "$build" "$run"
sed -i "/^\[recorder\]/a metrics-file = $run/recorder.prom" "$run/srtprec.conf"
stack_start; ok $? "keyagent, recorder and api start"

"$build/tools/srtprec-loadgen" --control="$STACK_CONTROL" --recorder="127.0.0.1:$STACK_MEDIA_PORT" \
    --calls=$calls --duration-ms=4000 --ssrc-every=2 --settle-ms=300 --out="$run/sent.tsv" \
    >"$run/loadgen.out" 2>"$run/loadgen.log"
ok $? "load generator disclosed $calls calls and sent 200 SSRCs per call"
diag <"$run/loadgen.out"
lines=$(grep -vc '^call_id' "$run/sent.tsv")
[ "$lines" = 400 ]; ok $? "400 (stream, SSRC) segments expected ($lines)"

sealed=$(stack_wait_sealed "$run/archive" 4 20)
[ "$sealed" -ge 4 ]; ok $? "at least 4 archives sealed for 2 calls ($sealed)"
sleep 1 # continuations of the last call may seal just after
stack_stop

grep -q 'its archive is full, new streams go on in archive' "$run/recorder.log"
ok $? "the recorder logs that a full archive goes on in a continuation"
grep 'continuation' "$run/recorder.log" | head -4 | diag
for cid in $(grep -v '^call_id' "$run/sent.tsv" | cut -f1 | sort -u); do
    rows=$(sqlite3 "$run/index.sqlite" "select count(*) from recordings where call_id = '$cid' and state = 1")
    [ "${rows:-0}" -ge 2 ]; ok $? "call $cid: $rows complete archives in the index under its Call-ID"
done
"$build/tools/srtprec-loadcheck" --cert="$run/pki/auditor.crt" --key="$run/pki/auditor.key" \
    --expect="$run/sent.tsv" "$run"/archive/*.srec >"$run/check.out" 2>"$run/check.err"
ok $? "zero loss: every SSRC archived with the count and payload hash that was sent"
diag <"$run/check.out"
head -20 "$run/check.err" | diag
grep -q "streams_ok=400 " "$run/check.out"; ok $? "all 400 segments match"
grep -q '^srtprec_recorder_packets_recorded_total 800$' "$run/recorder.prom"
ok $? "the recorder counted 800 packets recorded"
! grep -E '^srtprec_recorder_packets_dropped_total\{[^}]*\} [1-9]' "$run/recorder.prom"
ok $? "and dropped none"
grep -E '^srtprec_recorder_packets_(recorded|dropped)' "$run/recorder.prom" | diag

reports=$(grep -l -E 'Sanitizer|runtime error' "$run"/*.log 2>/dev/null)
echo "$reports" | diag
[ -z "$reports" ]; ok $? "no sanitizer report from the daemons or the tools"

tap_end
