#!/bin/bash
# Interop: the real srtprec-recorder subscribes to sipp playing the srtp
# notifier (tests/interop/sipp_notifier.xml) over lab TCP (TAP output).
#   interop_recorder.sh RECORDER MKCERTS SCENARIO_DIR
# Checks the recorder's RFC 6665 behaviour from both sides: sipp's scenario
# fails on any unexpected message, and the recorder's log must show the 423
# retry, the keys applied, the re-subscribe on a NOTIFY gap, the refused
# out-of-order NOTIFY and the immediate re-subscribe after deactivated.
set -u
REC=$1 MKCERTS=$2 SCEN=$3
top=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib/stack.sh
. "$top/tests/lib/stack.sh"
work=$(mktemp -d /tmp/sip-interop-rec.XXXXXX)
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

# sipp first: the recorder connects to it.
(cd "$work" && exec timeout 60 sipp -sf "$SCEN/sipp_notifier.xml" -t t1 -m 1 -nostdin \
    -timeout 45s -timeout_error -i 127.0.0.1 -p "$sip_port" \
    -trace_msg -message_file "$work/sipp-msg.log" -trace_err -error_file "$work/sipp-err.log" \
    -trace_logs -log_file "$work/sipp-vars.log" > "$work/sipp-screen.txt" 2>&1) &
sipp_pid=$!
pids+=($sipp_pid)
for _ in $(seq 1 100); do
    [ -n "$(ss -Hltn "( sport = :$sip_port )" 2>/dev/null)" ] && break
    sleep 0.05
done

cat > "$work/rec.conf" <<CONF
[recorder]
keyagents = 127.0.0.1:$sip_port
identity = sip:recorder@example.net
lab-allow-plain-tcp = yes
media-listen = 127.0.0.1:$media_port
archive-dir = $work/archive
archive-recipients = $c/auditor.crt
index = $work/index.sqlite
subscribe-expires = 600
call-linger-ms = 200
log-level = info
CONF
timeout 60 "$REC" --config="$work/rec.conf" > "$work/recorder.log" 2>&1 &
pids+=($!)

wait "$sipp_pid"; rc=$?
ok "$rc" "sipp notifier scenario completed (status $rc): 423, 200, NOTIFYs, refresh, 500, deactivated"
stack_wait_log "$work/recorder.log" "re-subscribing in 0.0 s" 5
ok $? "reason=deactivated: the recorder re-subscribes at once (no back-off)"

L=$work/recorder.log
grep -q "raising Expires to its Min-Expires 7200" "$L"; ok $? "423: Expires raised to Min-Expires"
grep -q "subscription active for 7200 s" "$L"; ok $? "2xx: subscription active for the granted 7200 s"
grep -q "call interop-rec-a@ep" "$L"; ok $? "full NOTIFY v1: call A's keys applied"
grep -q "call interop-rec-b@ep" "$L"; ok $? "partial NOTIFY v3: call B's keys applied despite the gap"
grep -q "partial NOTIFY version 3 after 1.*re-subscribing for full state" "$L"
ok $? "version gap detected, full state requested"
[ "$(grep -c 'subscription active for' "$L")" -ge 2 ]; ok $? "the in-dialog refresh was accepted"
grep -q "NOTIFY CSeq 2 after 3: out of order" "$L"; ok $? "out-of-order NOTIFY refused (500)"
grep -q "ended the subscription (reason deactivated)" "$L"; ok $? "termination reason read"
! grep -q "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd" "$L"; ok $? "no key material in the recorder log"
! grep -qi "AddressSanitizer\|runtime error" "$L"; ok $? "no sanitizer report"

echo "1..$n"
[ "$failed" -eq 0 ]
