#!/bin/bash
# Interop: the real srtprec-recorder subscribes over lab UDP to sipp playing
# the srtp notifier (tests/interop/sipp_notifier_udp.xml, sipp -t u1) (TAP).
#   interop_recorder_udp.sh RECORDER MKCERTS SCENARIO_DIR
# sipp ignores the first SUBSCRIBE, so the subscription only succeeds if the
# recorder retransmits it (Timer E); sipp then sends the keyed NOTIFY twice
# with one branch, which the recorder must answer from its transaction cache.
# Last, a recorder with TLS configured refuses a udp: keyagent.
set -u
REC=$1 MKCERTS=$2 SCEN=$3
top=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib/stack.sh
. "$top/tests/lib/stack.sh"
work=$(mktemp -d /tmp/sip-interop-recudp.XXXXXX)
pids=()
n=0 failed=0

cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    if [ "$failed" -ne 0 ]; then
        for f in "$work"/*.log; do echo "# --- $f"; sed 's/^/#   /' "$f" | tail -n 80; done
    fi
    rm -rf "$work"
}
trap cleanup EXIT

ok() { # status description
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}

for tool in sipp ss; do
    command -v "$tool" >/dev/null || { echo "1..0 # SKIP $tool not installed (tools/setup.sh test)"; exit 0; }
done
sh "$MKCERTS" "$work/certs" >/dev/null || { echo "1..0 # SKIP cannot make certificates"; exit 0; }
c=$work/certs
sip_port=$(stack_free_port)
media_port=$(stack_free_port)
mkdir -p "$work/archive"

(cd "$work" && exec timeout 60 sipp -sf "$SCEN/sipp_notifier_udp.xml" -t u1 -nr -m 1 -nostdin \
    -timeout 45s -timeout_error -i 127.0.0.1 -p "$sip_port" \
    -trace_msg -message_file "$work/sipp-msg.log" -trace_err -error_file "$work/sipp-err.log" \
    > "$work/sipp-screen.txt" 2>&1) &
sipp_pid=$!
pids+=($sipp_pid)
for _ in $(seq 1 100); do
    [ -n "$(ss -Hlun "( sport = :$sip_port )" 2>/dev/null)" ] && break
    sleep 0.05
done

conf() { # file keyagents extra-lines
    cat > "$1" <<CONF
[recorder]
keyagents = $2
identity = sip:recorder@example.net
media-listen = 127.0.0.1:$media_port
archive-dir = $work/archive
archive-recipients = $c/auditor.crt
index = $work/index.sqlite
subscribe-expires = 600
call-linger-ms = 200
log-level = info
$3
CONF
}
conf "$work/rec.conf" "udp:127.0.0.1:$sip_port" "lab-allow-plain-tcp = yes"
timeout 60 "$REC" --config="$work/rec.conf" > "$work/recorder.log" 2>&1 &
rec_pid=$!
pids+=($rec_pid)

wait "$sipp_pid"; rc=$?
ok "$rc" "sipp UDP notifier scenario completed (status $rc): SUBSCRIBE retransmitted, NOTIFY twice, deactivated"
stack_wait_log "$work/recorder.log" "re-subscribing in 0.0 s" 5
ok $? "reason=deactivated: the recorder re-subscribes at once"

L=$work/recorder.log
M=$work/sipp-msg.log
grep -q "LAB MODE: keyagent udp:127.0.0.1:$sip_port over UDP" "$L"; ok $? "lab warning logged for the UDP keyagent"
# The first two SUBSCRIBEs sipp received carry one branch: a retransmission, not a new request.
mapfile -t br < <(awk '/^SUBSCRIBE /{s=1} s && /^Via:/{print; s=0}' "$M" | grep -o 'branch=[^;[:space:]]*' | head -n 2)
[ "${#br[@]}" -eq 2 ] && [ "${br[0]}" = "${br[1]}" ]
ok $? "Timer E: the unanswered SUBSCRIBE was retransmitted with its branch (${br[0]:-none})"
grep -q "SIP/2.0/UDP" "$M"; ok $? "the SUBSCRIBE's Via says UDP"
grep -q "subscription active for 600 s" "$L"; ok $? "2xx: subscription active"
grep -q "call interop-rec-a@ep" "$L"; ok $? "NOTIFY over UDP: call A's keys applied"
! grep -q "out of order" "$L"; ok $? "the retransmitted NOTIFY was answered from the cache, not refused"
[ "$(grep -c "disclosed for stream a-tx" "$L")" -eq 1 ]; ok $? "and its keys were applied once"
grep -q "ended the subscription (reason deactivated)" "$L"; ok $? "termination reason read"
! grep -q "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd" "$L"; ok $? "no key material in the recorder log"
! grep -qi "AddressSanitizer\|runtime error" "$L"; ok $? "no sanitizer report"
kill "$rec_pid" 2>/dev/null; wait "$rec_pid" 2>/dev/null

# With TLS configured and no lab switch, a udp: keyagent is refused at start.
conf "$work/tls.conf" "udp:127.0.0.1:$sip_port sip:keyagent@example.net" "tls-cert = $c/recorder.crt
tls-key = $c/recorder.key
tls-ca = $c/ca.crt
signing-key = $c/signer.key"
timeout 20 "$REC" --config="$work/tls.conf" > "$work/recorder-tls.log" 2>&1; rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; ok $? "recorder with TLS refuses to start with a UDP keyagent (exit $rc)"
grep -q "refused: UDP carries SRTP keys in clear; it needs lab-allow-plain-tcp=yes" "$work/recorder-tls.log"
ok $? "with a clear log line"

echo "1..$n"
[ "$failed" -eq 0 ]
