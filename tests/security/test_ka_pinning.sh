#!/bin/bash
# Security: a same-CA certificate with another identity at the keyagent's
# address.  The recorder pins each keyagent's identity (keyagents =
# "host:port sip:identity"): the impostor (the CA's "intruder" certificate,
# a valid chain) is refused before any SUBSCRIBE leaves, and counted; the
# real keyagent at the same address is then subscribed to.
set -u
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"
. "$here/../lib/tap.sh"

stack_test_run ka_pinning
stack_init "$build" "$run"
pki=$run/pki
sed -i "/^\[recorder\]/a metrics-file = $run/recorder.prom" "$run/srtprec.conf"
sed -i "/^\[recorder\]/a metrics-interval-ms = 200" "$run/srtprec.conf"
sed -i "/^\[keyagent\]/a metrics-file = $run/keyagent.prom" "$run/srtprec.conf"
# The impostor: a real keyagent, the address the recorder dials, the
# intruder's certificate (same CA) and an allow list that would serve it.
"$build/keyagent/srtprec-keyagent" --config="$run/srtprec.conf" \
    --tls-cert="$pki/intruder.crt" --tls-key="$pki/intruder.key" \
    >"$run/impostor.log" 2>&1 &
imp=$!
STACK_PIDS+=($imp)
stack_wait_log "$run/impostor.log" "listening" 10; ok $? "the impostor keyagent listens at the keyagent's address"
stack_start_one recorder recorder/srtprec-recorder
metric() { awk -v m="$2" '$1 == m { print $2 }' "$1" 2>/dev/null; }
for _ in $(seq 1 50); do
    [ "$(metric "$run/recorder.prom" srtprec_recorder_keyagent_identity_mismatch_total)" -ge 1 ] 2>/dev/null && break
    sleep 0.1
done
m=$(metric "$run/recorder.prom" srtprec_recorder_keyagent_identity_mismatch_total)
[ "${m:-0}" -ge 1 ]; ok $? "the recorder refused the impostor's certificate (identity mismatch counted: ${m:-none})"
sleep 0.5
kill -TERM $imp; wait $imp 2>/dev/null
nots=$(metric "$run/keyagent.prom" srtprec_keyagent_notifies_total)
[ -s "$run/keyagent.prom" ] && [ "${nots:-x}" = 0 ]
ok $? "no NOTIFY from the impostor: no subscription was made (notifies ${nots:-none})"
[ ! -s "$run/disclosures.log" ]; ok $? "nothing disclosed by the impostor"
# The real keyagent comes up at the same address: subscribed to.
rm -f "$run/keyagent.prom"
stack_start_one keyagent keyagent/srtprec-keyagent
stack_wait_log "$run/recorder.log" "subscription active" 15; ok $? "the pinned keyagent is subscribed to"
stack_stop
# Without an identity (outside lab mode) the recorder does not start.
sed -i "s/^keyagents = .*/keyagents = 127.0.0.1:$STACK_KA_PORT/" "$run/srtprec.conf"
timeout 10 "$build/recorder/srtprec-recorder" --config="$run/srtprec.conf" >"$run/noid.log" 2>&1
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; ok $? "keyagents without an identity: start-up error (exit $rc)"
tap_end
