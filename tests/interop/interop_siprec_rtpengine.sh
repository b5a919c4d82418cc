#!/usr/bin/env bash
# Interop (TAP): rtpengine 10.5 (Debian rtpengine-daemon, userspace only:
# table = -1) as the SIPREC recording client of srtprec-recorder, on
# 127.0.0.1 (tools/siprec_rtpengine.py drives it):
#   an SDES-SRTP call through rtpengine (ng offer/answer), ng "subscribe
#   request" with the SIPREC flag and RTP/SAVP, that SDP in a SIPREC INVITE
#   to srtprec over mutual TLS, srtprec's answer to "subscribe answer",
#   each party's audio sent by ffmpeg as SRTP through the call, BYE.
# Asserts one archive whose two streams hold each party's audio sample for
# sample (srtprec export + pcm_match), labelled by party (the index row's
# parties, the WAV channel of each party's stream), and rtpengine's own
# count of what it received.
# usage: interop_siprec_rtpengine.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/tests/lib/stack.sh"
. "$top/tests/lib/siprec.sh"
. "$top/tests/lib/rtpengine.sh"
. "$top/tests/lib/tap.sh"

for tool in rtpengine ffmpeg sqlite3 python3; do
    command -v "$tool" >/dev/null || { echo "1..0 # SKIP $tool not installed (tools/setup.sh test)"; exit 0; }
done
stack_test_run siprec-rtpe
rtpe_pid=
test_cleanup() { rtpengine_stop; }

"$top/tests/lib/mkcerts.sh" "$run/pki" || exit 1
pki=$run/pki
sip_port=$(stack_free_port)
media_port=$(stack_free_port)
ng_port=$(stack_free_port)
lo=$(( ($(stack_free_port) / 2) * 2 ))
rlo=$(( ($(stack_free_port) / 2) * 2 ))
siprec_recorder_start 20 "call-linger-ms = 300"; ok $? "srtprec-recorder listens for SIPREC"

rtpengine_start "$ng_port" "$rlo" $(( rlo + 99 ))
ok $? "rtpengine (userspace, table = -1) answers on its ng port"

timeout 90 python3 "$top/tools/siprec_rtpengine.py" --ng "127.0.0.1:$ng_port" --srs "127.0.0.1:$sip_port" \
    --cert "$pki/sbc.crt" --key "$pki/sbc.key" --ca "$pki/ca.crt" --out "$run/call" \
    --duration-ms 3000 >"$run/call.log" 2>&1
ok $? "SDES call through rtpengine, subscribe request (SIPREC, RTP/SAVP), INVITE to srtprec 200, subscribe answer, audio both ways, BYE 200"
diag <"$run/call.log"
cid=$(awk '/^call-id/ { print $2 }' "$run/call.log")

[ "$(stack_wait_sealed "$run/archive" 1 20)" = 1 ]; ok $? "one archive sealed"
row=$(sqlite3 -separator '|' "$run/index.sqlite" \
    "select id, local_aor, remote_aor, source, n_streams from recordings where call_id = '$cid'")
echo "$row" | diag
[ "$(echo "$row" | grep -c .)" = 1 ]; ok $? "one index row for rtpengine's recording session"
IFS='|' read -r id local remote source nst <<<"$row"
[ "$local" = sip:alice@callcentre.example ] && [ "$remote" = sip:bob@pstn.example ]
ok $? "labelled by party: the row names the caller and the called party"
[ "$source" = sip:sbc@example.net ]; ok $? "the row's source is the recording client's identity"

"$build/tools/srtprec" export --cert="$pki/auditor.crt" --key="$pki/auditor.key" --format=wav \
    "$run/archive/$id.srec" "$run/call.wav" 2>&1 | diag
ok "${PIPESTATUS[0]}" "srtprec export of the archive"
ch=0
while IFS=$'\t' read -r party aor label file; do
    f="$run/call/$file"
    # Each party sent a 200 ms lead of another tone first (tools/siprec_rtpengine.py:
    # rtpengine now and then forks a stream from its second packet on); what
    # precedes the compared tone may be a tail of that lead, nothing else.
    ffmpeg -nostdin -loglevel error -f mulaw -ar 8000 -ac 1 -i "$f" -f s16le -y "$f.s16" &&
        ffmpeg -nostdin -loglevel error -f mulaw -ar 8000 -ac 1 -i "$f.lead" -f s16le -y "$f.lead.s16" &&
        "$build/tests/integration/pcm_match" "$run/call.wav" "$ch" "$f.s16" "$f.lead.s16" 2>&1 | diag
    ok "${PIPESTATUS[0]}" "$party ($aor, rtpengine label $label): channel $ch holds exactly the audio it sent through rtpengine"
    ch=$((ch + 1))
done < <(tail -n +2 "$run/call/manifest.tsv")

grep -q "via=siprec" "$run/keys.log" && grep -q "call-id=$cid" "$run/keys.log"
ok $? "rtpengine's recording keys are in the key log"

stack_stop
test_cleanup
rtpe_pid=
! grep -q "Sanitizer" "$run/recorder.log"; ok $? "no sanitizer report"
if [ "$failed" != 0 ]; then
    for f in recorder rtpengine call; do echo "--- $f"; tail -n 40 "$run/$f.log"; done | diag
fi
tap_end
