#!/usr/bin/env bash
# Interop (TAP): sipp (sip-tester) replays SBC variants of SIPREC against
# srtprec-recorder, over mutual TLS through stunnel4 (client mode with the
# recording client's certificate): tests/interop/siprec/*.xml
#   boundary.xml  a quoted multipart boundary with ':' '=' '/' '(' ')' '?'
#                 and application/rs-metadata without +xml
#   transfer.xml  RFC 8068-style: SDP-only INVITE, a re-INVITE after the
#                 call started bringing the metadata and two more streams
#                 (a transfer), a metadata-only UPDATE (partial), BYE;
#                 the index row follows the late metadata
# sipp fails a scenario on any unexpected response; the recorder's metrics,
# index rows and key log say what it recorded.
# usage: interop_siprec_sipp.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/tests/lib/stack.sh"
. "$top/tests/lib/siprec.sh"
. "$top/tests/lib/tap.sh"

for tool in sipp stunnel4 sqlite3 ss; do
    command -v "$tool" >/dev/null || { echo "1..0 # SKIP $tool not installed (tools/setup.sh test)"; exit 0; }
done
stack_test_run siprec-sipp
tunnel_pid=
test_cleanup() { [ -n "$tunnel_pid" ] && { kill -TERM "$tunnel_pid" 2>/dev/null; wait "$tunnel_pid" 2>/dev/null; }; }

"$top/tests/lib/mkcerts.sh" "$run/pki" || exit 1
pki=$run/pki
sip_port=$(stack_free_port)
media_port=$(stack_free_port)
tunnel_port=$(stack_free_port)
lo=$(( ($(stack_free_port) / 2) * 2 ))
siprec_recorder_start 40 "call-linger-ms = 200"; ok $? "srtprec-recorder listens for SIPREC"

cat >"$run/stunnel.conf" <<CONF
foreground = yes
pid =
[siprec]
client = yes
accept = 127.0.0.1:$tunnel_port
connect = 127.0.0.1:$sip_port
CAfile = $pki/ca.crt
verifyChain = yes
checkHost = localhost
cert = $pki/sbc.crt
key = $pki/sbc.key
CONF
timeout 120 stunnel4 "$run/stunnel.conf" >"$run/stunnel.log" 2>&1 &
tunnel_pid=$!
for _ in $(seq 1 100); do
    [ -n "$(ss -Hltn "( sport = :$tunnel_port )" 2>/dev/null)" ] && break
    sleep 0.05
done

scenario() { # name
    timeout 30 sipp -sf "$here/siprec/$1.xml" -t t1 -m 1 -timeout 20 -timeout_error \
        -trace_err -error_file "$run/$1-err.log" -trace_msg -message_file "$run/$1-msg.log" \
        -cid_str "sipp-$1-%u@sbc.example" "127.0.0.1:$tunnel_port" >"$run/$1.out" 2>&1
}
scenario boundary; ok $? "sipp boundary.xml: quoted boundary with ':' '=' '/' '(' ')' '?', rs-metadata without +xml: 200, BYE 200"
scenario transfer; ok $? "sipp transfer.xml: SDP-only INVITE, re-INVITE with metadata and two more streams (ports kept), metadata-only UPDATE, BYE: all 200"

[ "$(stack_wait_sealed "$run/archive" 2 20)" -ge 2 ]; ok $? "both sessions' archives sealed"
row() { sqlite3 -separator '|' "$run/index.sqlite" "select local_aor, remote_aor, source from recordings where call_id like 'sipp-$1-%'"; }
row boundary | diag
[ "$(row boundary)" = "sip:carol@callcentre.example|sip:dave@pstn.example|sip:sbc@example.net" ]
ok $? "boundary: the index row names the metadata's participants and the client"
# The transfer call: its INVITE carried no metadata, so its archive opened
# with the SRC's From; the re-INVITE's metadata names the parties (the row
# is rewritten, the archive gets a parties record: docs/siprec.md).
row transfer | diag
# After the UPDATE (erin's stream association ended: the transfer), the
# senders of the first streams with a sender are frank and grace.
[ "$(row transfer)" = "sip:frank@pstn.example|sip:grace@callcentre.example|sip:sbc@example.net" ]
ok $? "transfer: the index row names the parties of the late metadata, after the transfer"
# Search goes through the parties table (index schema 6): erin was named
# only by the re-INVITE's late metadata and left with the UPDATE, yet the
# call is found by her, exactly and by prefix, and by the SRC's From it
# opened with; the row itself names frank and grace.
found() { # party match -> Call-IDs found
    "$build/tools/srtprec" list --index="$run/index.sqlite" --party="$1" --party-match="$2" |
        sed -n 's/.* call-id=\([^ ]*\) .*/\1/p' | sed 's/-[0-9]*@sbc.example$//' | sort -u | tr '\n' ' '
}
[ "$(found erin prefix)" = "sipp-transfer " ]; ok $? "transfer: search by prefix 'erin' finds the call ($(found erin prefix))"
[ "$(found sip:erin@callcentre.example exact)" = "sipp-transfer " ]; ok $? "transfer: and by erin's exact AOR"
[ "$(found 'rin@callcentre' substring)" = "sipp-transfer " ]; ok $? "transfer: and by a substring of it"
[ "$(found callcentre.example substring)" = "sipp-boundary sipp-transfer " ]
ok $? "search by domain finds both calls' participants ($(found callcentre.example substring))"
sqlite3 "$run/index.sqlite" "select p.aor, p.role from parties p join recordings r on r.id = p.rec_id where r.call_id like 'sipp-transfer-%' order by p.pid" | diag
[ "$(sqlite3 "$run/index.sqlite" "select count(distinct p.aor) from parties p join recordings r on r.id = p.rec_id where r.call_id like 'sipp-transfer-%' and p.aor in ('sip:erin@callcentre.example','sip:frank@pstn.example','sip:grace@callcentre.example')")" = 3 ]
ok $? "transfer: the index keeps all three participants of the metadata"
tr=$(grep 'call-id=sipp-transfer' "$run/keys.log")
echo "$tr" | diag
[ "$(echo "$tr" | grep -c .)" = 3 ]; ok $? "transfer: three key-log records (INVITE, re-INVITE, UPDATE)"
echo "$tr" | sed -n 2p | grep -q 'keys=1:[0-9a-f]*,2:[0-9a-f]*,3:[0-9a-f]*,4:[0-9a-f]*'
ok $? "transfer: the re-INVITE's record holds the four streams' keys"

sleep 0.5
m() { awk -v k="$1" '$1 == k { print $2 }' "$run/metrics.prom"; }
[ "$(m srtprec_recorder_siprec_sessions_total)" = 2 ]; ok $? "metrics: 2 sessions"
[ "$(m srtprec_recorder_siprec_reoffers_total)" = 1 ]; ok $? "metrics: 1 re-offer (the transfer's re-INVITE)"
[ "$(m srtprec_recorder_siprec_sessions)" = 0 ]; ok $? "metrics: no session left"

stack_stop
test_cleanup
tunnel_pid=
! grep -q "Sanitizer" "$run/recorder.log"; ok $? "no sanitizer report"
if [ "$failed" != 0 ]; then
    for f in recorder boundary-err transfer-err boundary transfer stunnel; do
        echo "--- $f"; tail -n 40 "$run/$f".{log,out} 2>/dev/null
    done | diag
fi
tap_end
