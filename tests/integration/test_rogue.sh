#!/usr/bin/env bash
# Binding scope against hostile disclosures (TAP; issue 12 item 3,
# recorder/engine.h "The rules"), with the real daemons:
#  - a rogue keyagent, on the recorder's keyagents list too, discloses the
#    victim calls' SSRCs and fork addresses with wrong keys before the real
#    keyagent discloses the right ones: every victim stream is recorded
#    bit-exact in the real keyagent's call, the rogue's calls get no packet;
#  - a false a=ssrc: every rx stream is disclosed with an SSRC it does not
#    send: it is still recorded bit-exact (trial authentication);
#  - both at once: the rogue discloses the real SSRC, the real keyagent a
#    false one.
# Asserts on archive contents (srtprec-loadcheck), index rows and metrics.
# usage: test_rogue.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"
. "$here/../lib/tap.sh"

stack_test_run rogue
command -v sqlite3 >/dev/null || { echo "1..0 # SKIP sqlite3 CLI not installed (tools/setup.sh)"; exit 0; }

stack_init "$build" "$run"
rogue_port=$(stack_free_port)
rogue_ctl=$run/rogue.sock
sed -i "s/^keyagents = .*/&, 127.0.0.1:$rogue_port sip:keyagent@example.net/" "$run/srtprec.conf"
sed -i "/^\[recorder\]/a metrics-file = $run/recorder.prom" "$run/srtprec.conf"
sed -i "/^\[recorder\]/a metrics-interval-ms = 200" "$run/srtprec.conf"
# The rogue: a second keyagent with the same (valid) certificate, so the
# recorder subscribes to it as to any keyagent it was configured with.
"$build/keyagent/srtprec-keyagent" --config="$run/srtprec.conf" --listen="127.0.0.1:$rogue_port" \
    --control-socket="$rogue_ctl" --disclosure-log="$run/rogue-disclosures.log" \
    >"$run/rogue-keyagent.log" 2>&1 &
STACK_PIDS+=($!)
stack_wait_log "$run/rogue-keyagent.log" "listening" 10; ok $? "the rogue keyagent starts"
stack_start; ok $? "keyagent, recorder and api start"
for _ in $(seq 1 150); do
    [ "$(grep -c 'subscription active' "$run/recorder.log")" -ge 2 ] && break
    sleep 0.1
done
[ "$(grep -c 'subscription active' "$run/recorder.log")" -ge 2 ]
ok $? "the recorder subscribes to both keyagents"

# Three generators at once, 2 calls (4 streams) each, 2 s at 50 packets/s.
lg() { # name args...
    local n=$1
    shift
    "$build/tools/srtprec-loadgen" --control="$STACK_CONTROL" --recorder="127.0.0.1:$STACK_MEDIA_PORT" \
        --calls=2 --duration-ms=2000 --settle-ms=500 --out="$run/sent-$n.tsv" "$@" \
        >"$run/lg-$n.out" 2>"$run/lg-$n.log"
}
lg rogue --rogue-control="$rogue_ctl" &
p1=$!
lg falsessrc --false-ssrc=yes &
p2=$!
lg both --rogue-control="$rogue_ctl" --false-ssrc=yes &
p3=$!
wait $p1; ok $? "victim calls: the rogue disclosed first, then the real keyagent; media sent"
wait $p2; ok $? "false a=ssrc calls disclosed and media sent"
wait $p3; ok $? "rogue and false a=ssrc at once: disclosed and media sent"
cat "$run"/lg-*.out | diag
grep -q 'rogue_calls=2 ' "$run/lg-rogue.out" && grep -q 'rogue_calls=2 ' "$run/lg-both.out"
ok $? "the rogue keyagent accepted 4 calls with the victims' SSRCs"
cat "$run"/sent-*.tsv | awk 'NR == 1 || !/^call_id/' >"$run/sent.tsv"

sealed=$(stack_wait_sealed "$run/archive" 10 20)
[ "$sealed" -ge 10 ]; ok $? "10 archives sealed: 6 victim calls, 4 rogue calls ($sealed)"
sleep 0.5
stack_stop

"$build/tools/srtprec-loadcheck" --cert="$run/pki/auditor.crt" --key="$run/pki/auditor.key" \
    --expect="$run/sent.tsv" "$run"/archive/*.srec >"$run/check.out" 2>"$run/check.err"
ok $? "every stream archived bit-exact in its own call; nothing else archived (no stray, no encrypted packet)"
diag <"$run/check.out"
head -20 "$run/check.err" | diag
grep -q 'streams_ok=12 ' "$run/check.out" && grep -q 'foreign=4 ' "$run/check.out"
ok $? "12 streams match; the 4 rogue archives hold none of them"

q() { sqlite3 "$run/index.sqlite" "$1"; }
sent_pkts=$(awk -F'\t' 'NR > 1 { n += $4 } END { print n }' "$run/sent.tsv")
rows=$(q "select count(*) from recordings where call_id like 'rogue-%'")
rpk=$(q "select coalesce(sum(packets), -1) || ' ' || coalesce(sum(n_streams), -1) from recordings where call_id like 'rogue-%'")
[ "$rows" = 4 ] && [ "$rpk" = "0 0" ]; ok $? "index: 4 rogue calls, 0 packets and 0 streams in them ($rows rows, $rpk)"
vpk=$(q "select sum(packets) || ' ' || sum(n_streams) || ' ' || count(*) from recordings where call_id not like 'rogue-%' and call_id not like 'unmatched-%'")
[ "$vpk" = "$sent_pkts 12 6" ]; ok $? "index: the 6 victim calls hold all $sent_pkts packets in 12 streams ($vpk)"
um=$(q "select count(*) from recordings where call_id like 'unmatched-%'")
[ "$um" = 0 ]; ok $? "no unmatched archive ($um)"
for f in "$run"/archive/*.srec; do
    "$build/tools/srtprec" verify --cert="$run/pki/auditor.crt" --key="$run/pki/auditor.key" "$f" \
        >>"$run/verify.out" 2>&1 || echo "verify failed: $f" >>"$run/verify.out"
done
! grep -q 'verify failed' "$run/verify.out"; ok $? "srtprec verify accepts all 10 archives"

metric() { awk -v n="$1" '$1 == n { print $2 }' "$run/recorder.prom"; }
[ "$(metric srtprec_recorder_packets_recorded_total)" = "$sent_pkts" ] &&
    [ "$(metric srtprec_recorder_packets_encrypted_kept_total)" = 0 ] &&
    [ "$(metric srtprec_recorder_packets_received_total)" = "$sent_pkts" ]
ok $? "metrics: $sent_pkts received, $sent_pkts recorded, 0 kept encrypted"
! grep -E '^srtprec_recorder_packets_dropped_total\{[^}]*\} [1-9]' "$run/recorder.prom"
ok $? "metrics: no packet dropped for any reason (a wrong key is a candidate that fails, not an auth drop)"
# Each of the 12 streams binds after at least one candidate; the rogue's 8
# wrong keys for the victims' SSRCs were each tried (and failed) first.
tc=$(metric srtprec_recorder_trial_candidates_total)
[ "${tc:-0}" -ge 20 ]; ok $? "metrics: the rogue's 8 wrong keys were candidates, tried and refused ($tc candidates for 12 streams)"
grep -E '^srtprec_recorder_(packets_|streams_trial|trial_cand)' "$run/recorder.prom" | diag

reports=$(grep -l -E 'Sanitizer|runtime error' "$run"/*.log 2>/dev/null)
echo "$reports" | diag
[ -z "$reports" ]; ok $? "no sanitizer report from the daemons or the tools"

tap_end
