#!/usr/bin/env bash
# Idle is idle (issue 12, item 9), TAP: keyagent, recorder and api with one
# live subscription and one disclosed call are left alone past every timer
# they have, and each daemon must use under 1 % of a core meanwhile
# (utime + stime from /proc/PID/stat).  Before the fix the keyagent spun at
# 100 % from the moment its subscribed connection had been quiet for the
# idle-connection time.
#
# The issue asks for 2.5 minutes idle with default timers; this test makes
# the timers short instead, scaled to the window of IDLE_S seconds (default
# 36, what the suite runs; IDLE_S=150 by hand for the issue's length), so
# that each one passes within it:
#   keyagent idle-connection-s = IDLE_S/6 (default 120): a raw TCP
#     connection opened at the start, which never speaks, must be closed by
#     it; the subscribed connection is quiet for longer than that between
#     refreshes, which is what made the old keyagent spin (65 % of a core
#     within 30 s: far over the limit in any window);
#   recorder subscribe-expires = IDLE_S*2/3 (keyagent min-expires lowered to
#     match): it refreshes at 4/9 and 8/9 of the window, each refresh
#     answered by a full-state NOTIFY (the keyagent's subscription expiry
#     moves each time);
#   Timer F (32 s) of the NOTIFYs sent just before the window runs out,
#     answered, inside it (hence IDLE_S >= 36);
#   metrics files every second (keyagent) and 5 s (recorder);
# and one SIGHUP (reload) in the middle, which must change nothing.
# usage: test_idle.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"
. "$here/../lib/tap.sh"

IDLE_S=${IDLE_S:-36}
[ "$IDLE_S" -ge 36 ] 2>/dev/null || { printf '1..1\nnot ok 1 - IDLE_S=%s: the window must hold Timer F (32 s)\n' "$IDLE_S"; exit 1; }
idle_conn_s=$((IDLE_S / 6)) expires_s=$((IDLE_S * 2 / 3))
K30=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd
stack_test_run idle
test_cleanup() { exec 7<&- 2>/dev/null; true; }

stack_init "$build" "$run"
sed -i -e "/^\[keyagent\]/a idle-connection-s = $idle_conn_s\nmin-expires = $expires_s\nmetrics-file = $run/ka.prom\nmetrics-interval-ms = 1000" \
    -e "/^\[recorder\]/a subscribe-expires = $expires_s\nmetrics-file = $run/rec.prom" "$run/srtprec.conf"
stack_start; ok $? "keyagent, recorder and api start; the recorder subscribes"
ka=${STACK_PIDS[0]} rec=${STACK_PIDS[1]} api=${STACK_PIDS[2]}

printf '%s\n' "CALL idle-call-1@ep lt rt sip:agent@cc.example sip:customer@pstn.example" \
    "STREAM idle-call-1@ep tx send 0badf00d 0 PCMU 8000 127.0.0.1:4000 127.0.0.1:$STACK_MEDIA_PORT AES_CM_128_HMAC_SHA1_80 inline:$K30 0 100" \
    | timeout 20 "$build/tests/keyagent/ka_ctl" "$STACK_CONTROL" >"$run/ctl.out" 2>&1
[ "$(grep -c '^OK' "$run/ctl.out")" = 2 ]; ok $? "one call with one stream disclosed"

metric() { # file name -> value (empty if absent)
    awk -v m="$2" '$1 == m { print $2 }' "$1" 2>/dev/null
}
ticks() { # pid -> utime + stime in clock ticks
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# The keyagent's metrics file is rewritten every second: wait for one that
# counts the call's disclosure to the recorder.
for _ in $(seq 1 80); do
    [ "$(metric "$run/ka.prom" srtprec_keyagent_disclosures_total)" = 1 ] && break
    sleep 0.1
done
[ "$(metric "$run/ka.prom" srtprec_keyagent_disclosures_total)" = 1 ]
ok $? "the call's keys went to the recorder (disclosures_total 1)"
notifies0=$(metric "$run/ka.prom" srtprec_keyagent_notifies_total)
# A connection that never says anything: the keyagent must close it.
exec 7<>"/dev/tcp/127.0.0.1/$STACK_KA_PORT"
t0=$(date +%s.%N)
ka0=$(ticks "$ka") rec0=$(ticks "$rec") api0=$(ticks "$api") karss0=$(rss_kb "$ka")

sleep $((IDLE_S / 2))
kill -HUP "$ka"
sleep $((IDLE_S - IDLE_S / 2))

t1=$(date +%s.%N)
ka1=$(ticks "$ka") rec1=$(ticks "$rec") api1=$(ticks "$api") karss1=$(rss_kb "$ka")
hz=$(getconf CLK_TCK)
check_cpu() { # name t0 t1
    local pct
    pct=$(awk -v a="$2" -v b="$3" -v s0="$t0" -v s1="$t1" -v hz="$hz" \
        'BEGIN { printf "%.3f", (b - a) / hz / (s1 - s0) * 100 }')
    awk -v p="$pct" 'BEGIN { exit !(p < 1.0) }'
    ok $? "$1 used $pct % of a core over $(awk -v s0="$t0" -v s1="$t1" 'BEGIN { printf "%.0f", s1 - s0 }') s idle ($(($3 - $2)) ticks at $hz Hz; limit 1 %)"
}
kill -0 "$ka" 2>/dev/null && kill -0 "$rec" 2>/dev/null && kill -0 "$api" 2>/dev/null
ok $? "all three daemons alive (SIGHUP included)"
check_cpu keyagent "$ka0" "$ka1"
check_cpu recorder "$rec0" "$rec1"
check_cpu api "$api0" "$api1"
[ -n "$karss0" ] && [ -n "$karss1" ] && [ $((karss1 - karss0)) -lt 16384 ]
ok $? "keyagent resident memory steady: $karss0 -> $karss1 kB"

# The raw connection was closed by the keyagent (read sees EOF, not a timeout).
read -r -t 2 -u 7 _; rc=$?
[ "$rc" = 1 ]; ok $? "the silent connection was closed after idle-connection-s (read status $rc)"
exec 7<&-

# The subscription lived through it all (an unanswered NOTIFY would have
# ended it by Timer F) and was refreshed: a full NOTIFY per refresh, and a
# change still leaves as a NOTIFY.
sleep 1.5 # one metrics period
notifies1=$(metric "$run/ka.prom" srtprec_keyagent_notifies_total)
subs=$(metric "$run/ka.prom" srtprec_keyagent_subscriptions)
[ "${subs:-0}" = 1 ]; ok $? "one subscription, as before (${subs:-none})"
[ $((${notifies1:-0} - ${notifies0:-0})) -ge 2 ]
ok $? "refreshes answered with NOTIFYs while idle (${notifies0:-?} -> ${notifies1:-?})"
printf 'END idle-call-1@ep\n' | timeout 20 "$build/tests/keyagent/ka_ctl" "$STACK_CONTROL" >"$run/ctl2.out" 2>&1
grep -q '^OK' "$run/ctl2.out"; ok $? "the call ended"
sleep 1.5
notifies2=$(metric "$run/ka.prom" srtprec_keyagent_notifies_total)
subs=$(metric "$run/ka.prom" srtprec_keyagent_subscriptions)
[ $((${notifies2:-0} - ${notifies1:-0})) -ge 1 ] && [ "${subs:-0}" = 1 ]
ok $? "its end went out in a NOTIFY to the live subscription (${notifies1:-?} -> ${notifies2:-?})"
tap_end
