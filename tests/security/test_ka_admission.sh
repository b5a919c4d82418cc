#!/bin/bash
# Security: connection exhaustion of the keyagent (issue 13, item 3).
# Attackers (tests/security/ka_attack.py): up to 1,000 idle TCP connections,
# 100 slowloris TLS connections and 100 that never read their 403s, reopened
# when closed.  Meanwhile the authorised recorder reconnects (restarted): it
# must have the live call's keys (a new disclosure-log record for it) within
# 2 s, and the keyagent's VmRSS must stay under RSS_MAX_KB (stated: 64 MiB;
# x3 under a sanitizer).
set -u
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"
. "$here/../lib/tap.sh"
K30=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd
RSS_MAX_KB=$((64 * 1024))
grep -q "asan\|sanitize" "$build/meson-info/intro-buildoptions.json" 2>/dev/null &&
    grep -q '"b_sanitize", "value": "address' "$build/meson-info/intro-buildoptions.json" 2>/dev/null &&
    RSS_MAX_KB=$((RSS_MAX_KB * 3))
ulimit -n "$(ulimit -Hn)" 2>/dev/null
[ "$(ulimit -n)" -ge 1400 ] || { echo "1..0 # SKIP open-file limit $(ulimit -n) < 1400"; exit 0; }

stack_test_run ka_admission
stack_init "$build" "$run"
sed -i -e "/^\[keyagent\]/a metrics-file = $run/ka.prom" "$run/srtprec.conf"
stack_start; ok $? "keyagent, recorder and api start; the recorder subscribes"
ka=${STACK_PIDS[0]} rec=${STACK_PIDS[1]}
printf '%s\n' "CALL adm-call-1@ep lt rt sip:agent@cc.example sip:customer@pstn.example" \
    "STREAM adm-call-1@ep tx send 0badf00d 0 PCMU 8000 127.0.0.1:4000 127.0.0.1:$STACK_MEDIA_PORT AES_CM_128_HMAC_SHA1_80 inline:$K30 0 100" \
    | timeout 20 "$build/tests/keyagent/ka_ctl" "$STACK_CONTROL" >"$run/ctl.out" 2>&1
[ "$(grep -c '^OK' "$run/ctl.out")" = 2 ]; ok $? "one call disclosed"

python3 "$here/ka_attack.py" 127.0.0.1 "$STACK_KA_PORT" "$run/pki" 14 >"$run/attack.out" 2>&1 &
atk=$!
STACK_PIDS+=($atk)
sleep 4 # the attack reaches its full size
kill -KILL "$rec"; wait "$rec" 2>/dev/null
before=$(grep -c "sip:recorder@example.net" "$run/disclosures.log")
t0=$(date +%s%N)
stack_start_one recorder recorder/srtprec-recorder
got=
for _ in $(seq 1 100); do
    [ "$(grep -c "sip:recorder@example.net" "$run/disclosures.log")" -gt "$before" ] && { got=$(date +%s%N); break; }
    sleep 0.02
done
ms=$(( ${got:-0} ? (got - t0) / 1000000 : 99999 ))
[ "$ms" -le 2000 ]; ok $? "under attack, the restarted recorder has the call's keys within 2 s (${ms} ms)"
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$ka/status")
[ "${rss:-999999}" -le "$RSS_MAX_KB" ]; ok $? "keyagent VmRSS ${rss} kB <= ${RSS_MAX_KB} kB during the attack"
wait "$atk"
diag < "$run/attack.out"
grep -q "idle_opened=" "$run/attack.out"; ok $? "the attacker ran to its end"
grep -q "^srtprec_keyagent_connections_evicted_total [1-9]" "$run/ka.prom"
ok $? "connections were evicted to admit newer ones ($(awk '/^srtprec_keyagent_connections_evicted_total/ {print $2}' "$run/ka.prom"))"
kill -0 "$ka"; ok $? "the keyagent is still running"
stack_stop
tap_end
