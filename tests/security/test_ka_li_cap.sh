#!/bin/bash
# Security: one allow-listed lawful-intercept subscriber tries to take every
# subscription slot (issue 13: "one LI subscriber can open all 64
# subscriptions: the recorder's SUBSCRIBE then gets 503").  The intruder
# certificate, allowed with a filter, opens 64 subscriptions: it gets
# max-subscriptions-per-identity (8) and 503 for the rest, counted as
# overload refusals; meanwhile the authorised recorder, restarted, subscribes
# again and has the live call's keys within 2 s.
set -u
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"
. "$here/../lib/tap.sh"
K30=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd

stack_test_run ka_li_cap
stack_init "$build" "$run"
sed -i -e "s|^allow = .*|allow = sip:recorder@example.net, sip:intruder@example.net;aor=sip:target@pstn.example|" \
    -e "/^\[keyagent\]/a metrics-file = $run/ka.prom" "$run/srtprec.conf"
stack_start; ok $? "keyagent, recorder and api start; the recorder subscribes"
ka=${STACK_PIDS[0]} rec=${STACK_PIDS[1]}
printf '%s\n' "CALL cap-call-1@ep lt rt sip:agent@cc.example sip:customer@pstn.example" \
    "STREAM cap-call-1@ep tx send 0badf00d 0 PCMU 8000 127.0.0.1:4000 127.0.0.1:$STACK_MEDIA_PORT AES_CM_128_HMAC_SHA1_80 inline:$K30 0 100" \
    | timeout 20 "$build/tests/keyagent/ka_ctl" "$STACK_CONTROL" >"$run/ctl.out" 2>&1
[ "$(grep -c '^OK' "$run/ctl.out")" = 2 ]; ok $? "one call disclosed (not the LI's target)"

kill -KILL "$rec"; wait "$rec" 2>/dev/null
python3 "$here/li_flood.py" 127.0.0.1 "$STACK_KA_PORT" "$run/pki" 64 12 >"$run/flood.out" 2>&1 &
STACK_PIDS+=($!)
for _ in $(seq 1 300); do [ -s "$run/flood.out" ] && break; sleep 0.05; done
res=$(cat "$run/flood.out")
[ "$res" = "ok=8 busy=56 other=0" ]; ok $? "the LI subscriber gets 8 subscriptions and 503 for 56 ($res)"
before=$(grep -c "sip:recorder@example.net" "$run/disclosures.log")
t0=$(date +%s%N)
stack_start_one recorder recorder/srtprec-recorder
got=
for _ in $(seq 1 150); do
    [ "$(grep -c "sip:recorder@example.net" "$run/disclosures.log")" -gt "$before" ] && { got=$(date +%s%N); break; }
    sleep 0.02
done
ms=$(( ${got:-0} ? (got - t0) / 1000000 : 99999 ))
[ "$ms" -le 2000 ]; ok $? "with the LI subscriber at its cap, the restarted recorder has the call's keys within 2 s (${ms} ms)"
! grep -q "subscriber=sip:intruder@example.net.*cap-call-1@ep" "$run/disclosures.log"
ok $? "the LI subscriber was disclosed nothing outside its filter"
metric() { awk -v m="$1" '$1 == m { print $2 }' "$run/ka.prom" 2>/dev/null; }
for _ in $(seq 1 140); do [ "$(metric srtprec_keyagent_subscriptions)" = 9 ] && break; sleep 0.05; done
subs=$(metric srtprec_keyagent_subscriptions)
over=$(metric 'srtprec_keyagent_refusals_total{reason="overload"}')
[ "$subs" = 9 ] && [ "${over:-0}" -ge 56 ]
ok $? "keyagent metrics: 9 subscriptions (8 LI + the recorder), ${over:-none} overload refusals"
kill -0 "$ka"; ok $? "the keyagent is still running"
stack_stop
tap_end
