#!/usr/bin/env bash
# Nothing disappears when the keyagent restarts (TAP; issue 12 item 7):
# srtprec-keyagent is killed with SIGKILL in the middle of three calls and
# started again.  Two endpoints, both linking the client library:
#  - "polling" (srtprec-loadgen --poll-ms=50: ka_client_poll on a timer, as
#    docs/keyagent.md asks of an endpoint) reconnects within 50 ms and
#    re-discloses its two live calls, usually before the recorder has
#    re-subscribed;
#  - "lazy" (no polling) reconnects only for its END, after its media: the
#    new keyagent's first full state omits its call while the media flows,
#    so the recorder must keep it (calls_kept_total >= 1) and take the
#    re-disclosed call (and its END) as the same call.
# Asserted: ONE archive per call holding every packet sent
# (srtprec-loadcheck), index rows with those counts, no unmatched archive,
# nothing kept encrypted or dropped (metrics).
# usage: test_ka_restart.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"
. "$here/../lib/tap.sh"

lg='' lg2=''
test_cleanup() { for p in $lg $lg2; do kill "$p" 2>/dev/null; done; }
stack_test_run ka_restart
command -v sqlite3 >/dev/null || { echo "1..0 # SKIP sqlite3 CLI not installed (tools/setup.sh)"; exit 0; }

calls=3
stack_init "$build" "$run"
sed -i "/^\[recorder\]/a metrics-file = $run/recorder.prom" "$run/srtprec.conf"
sed -i "/^\[recorder\]/a metrics-interval-ms = 200" "$run/srtprec.conf"
stack_start; ok $? "keyagent, recorder and api start"

"$build/tools/srtprec-loadgen" --control="$STACK_CONTROL" --recorder="127.0.0.1:$STACK_MEDIA_PORT" \
    --calls=2 --duration-ms=6000 --settle-ms=300 --poll-ms=50 --out="$run/sent-polling.tsv" \
    >"$run/loadgen-polling.out" 2>"$run/loadgen-polling.log" &
lg=$!
"$build/tools/srtprec-loadgen" --control="$STACK_CONTROL" --recorder="127.0.0.1:$STACK_MEDIA_PORT" \
    --calls=1 --duration-ms=6000 --settle-ms=300 --out="$run/sent-lazy.tsv" \
    >"$run/loadgen-lazy.out" 2>"$run/loadgen-lazy.log" &
lg2=$!
stack_wait_log "$run/loadgen-polling.log" disclosed 20 && stack_wait_log "$run/loadgen-lazy.log" disclosed 20
ok $? "$calls calls disclosed by two endpoints"
sleep 2 # 1.7 s of media recorded

kill -KILL "${STACK_PIDS[0]}"
wait "${STACK_PIDS[0]}" 2>/dev/null
sleep 0.3
"$build/keyagent/srtprec-keyagent" --config="$run/srtprec.conf" >"$run/keyagent2.log" 2>&1 &
STACK_PIDS[0]=$!
stack_wait_log "$run/keyagent2.log" "listening" 10; ok $? "the keyagent, killed mid-call (SIGKILL), starts again"
kill -0 "$lg" 2>/dev/null && kill -0 "$lg2" 2>/dev/null; ok $? "the calls' media still flows after the restart"

wait "$lg"; ok $? "the polling endpoint sent every packet and ENDed its calls on the new keyagent (it knew them again)"
wait "$lg2"; ok $? "the lazy endpoint sent every packet, re-disclosed its call and ENDed it"
lg='' lg2=''
cat "$run"/loadgen-*.out | diag
cat "$run"/sent-*.tsv | awk 'NR == 1 || !/^call_id/' >"$run/sent.tsv"
sealed=$(stack_wait_sealed "$run/archive" $calls 15)
sleep 0.5 # a second archive of a call would be sealed by now
sealed=$(find "$run/archive" -name '*.srec' | wc -l)
[ "$sealed" = $calls ]; ok $? "one archive per call ($sealed archives for $calls calls)"
stack_stop

"$build/tools/srtprec-loadcheck" --cert="$run/pki/auditor.crt" --key="$run/pki/auditor.key" \
    --expect="$run/sent.tsv" "$run"/archive/*.srec >"$run/check.out" 2>"$run/check.err"
ok $? "zero loss across the restart: every stream archived, count and payload hash as sent, nothing encrypted"
diag <"$run/check.out"
head -20 "$run/check.err" | diag

q() { sqlite3 "$run/index.sqlite" "$1"; }
um=$(q "select count(*) from recordings where call_id like 'unmatched-%'")
[ "$um" = 0 ]; ok $? "no unmatched archive ($um)"
for cid in $(grep -v '^call_id' "$run/sent.tsv" | cut -f1 | sort -u); do
    want=$(awk -F'\t' -v c="$cid" '$1 == c { n += $4 } END { print n }' "$run/sent.tsv")
    got=$(q "select count(*) || ' ' || sum(packets) || ' ' || sum(n_streams) || ' ' || min(state) from recordings where call_id = '$cid'")
    [ "$got" = "1 $want 2 1" ]; ok $? "call $cid: one complete index row, $want packets, 2 streams ($got)"
done
for f in "$run"/archive/*.srec; do
    "$build/tools/srtprec" verify --cert="$run/pki/auditor.crt" --key="$run/pki/auditor.key" "$f" \
        >>"$run/verify.out" 2>&1 || echo "verify failed: $f" >>"$run/verify.out"
done
! grep -q 'verify failed' "$run/verify.out"; ok $? "srtprec verify accepts the $calls archives"

metric() { awk -v n="$1" '$1 == n { print $2 }' "$run/recorder.prom"; }
sent_pkts=$(awk -F'\t' 'NR > 1 { n += $4 } END { print n }' "$run/sent.tsv")
[ "$(metric srtprec_recorder_packets_recorded_total)" = "$sent_pkts" ] &&
    [ "$(metric srtprec_recorder_packets_encrypted_kept_total)" = 0 ]
ok $? "metrics: all $sent_pkts packets recorded, none kept encrypted"
! grep -E '^srtprec_recorder_packets_dropped_total\{[^}]*\} [1-9]' "$run/recorder.prom"
ok $? "metrics: no packet dropped for any reason"
kept=$(metric srtprec_recorder_calls_kept_total)
[ "${kept:-0}" -ge 1 ]; ok $? "metrics: the lazy endpoint's call kept through a full state that omitted it ($kept calls kept)"
grep -E '^srtprec_recorder_(packets_recorded|packets_encrypted|calls_kept|packets_dropped)' \
    "$run/recorder.prom" | diag

reports=$(grep -l -E 'Sanitizer|runtime error' "$run"/*.log 2>/dev/null)
echo "$reports" | diag
[ -z "$reports" ]; ok $? "no sanitizer report from the daemons or the tools"

tap_end
