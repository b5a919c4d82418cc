#!/usr/bin/env bash
# SIPREC recording server (TAP), srtprec-recorder alone on 127.0.0.1 with no
# keyagent, the project's SRC (tools/srtprec-siprec-src) as the SBC:
#  (a) a two-stream SDES-SRTP session over mutual TLS, re-keyed and relabelled
#      by a re-INVITE halfway, ended by BYE: one archive, each stream's audio
#      equal sample for sample to what was sent, across the re-key; the index
#      row names the two participants from the metadata and the client's
#      identity as its source; rs-metadata without +xml is taken too; the
#      INVITE's and the re-INVITE's metadata documents come back from
#      `srtprec metadata` byte for byte, and are not in clear in the file
#      (nor the Call-ID and AORs: format 2 seals them in the header);
#  (a2) a session whose metadata comes only in the re-INVITE (RFC 7866
#      allows it), one stream SRTP and one plain RTP (RTP/AVP): both
#      streams' audio exact, the index row and `srtprec list --party` name
#      the late participants, the archive holds them in a parties record
#      (its header keeps the client's From), the plain leg has no key log
#      entry and is counted; its one metadata record is the re-INVITE's;
#  (a3) streams added on a transfer: a re-INVITE adds a stream sent by a
#      third participant: three streams in one archive, each stream's
#      audio (exported alone) equal to what was sent;
#  (b) every key received is in the key log (a valid hash chain, key ids
#      only), none from a refused client;
#  (c) refusals: a same-CA client not in siprec-allow (403, nothing
#      recorded), no Require: siprec (421), an unknown Require (420), no
#      +sip.src (400), DTLS-SRTP (488), a broken a=crypto (400), an
#      offerless INVITE (488, with a Warning); the recorder keeps running and the metrics count them.
# usage: test_siprec.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"
. "$here/../lib/siprec.sh"
. "$here/../lib/tap.sh"

stack_test_run siprec
"$here/../lib/mkcerts.sh" "$run/pki" || exit 1
pki=$run/pki
sip_port=$(stack_free_port)
media_port=$(stack_free_port)
lo=$(( ($(stack_free_port) / 2) * 2 ))
siprec_recorder_start 40 "call-linger-ms = 300" "workers = 2" "siprec-media-address = 127.0.0.1"; ok $? "the recorder listens for SIPREC over mutual TLS"

src() { # name cert [args...]: runs the SRC, output in $run/$1.out
    local name=$1 cert=$2
    shift 2
    timeout 60 "$build/tools/srtprec-siprec-src" --target="127.0.0.1:$sip_port" --cert="$pki/$cert.crt" \
        --key="$pki/$cert.key" --ca="$pki/ca.crt" "$@" >"$run/$name.out" 2>"$run/$name.err"
}

src good sbc --streams=2 --duration-ms=2000 --rekey=yes --relabel=yes --call-id=siprec-good@sbc.example \
    --out-dir="$run/good" --session-expires=1800
ok $? "a two-stream session: INVITE 200, re-INVITE with new keys 200, BYE 200"
grep -q "^ports [0-9]* [0-9]*$" "$run/good.out"; ok $? "the answer gave each stream a port: $(grep ports "$run/good.out")"
src meta sbc --streams=1 --duration-ms=400 --variant=meta-plain --call-id=siprec-meta@sbc.example \
    --out-dir="$run/meta"
ok $? "application/rs-metadata (without +xml) is taken"
src late sbc --streams=2 --plain-streams=1 --duration-ms=800 --rekey=yes --late-metadata=yes \
    --call-id=siprec-late@sbc.example --out-dir="$run/late"
ok $? "late metadata, a plain RTP stream: INVITE (SDP only) 200, re-INVITE with metadata 200, BYE 200"
src xfer sbc --streams=2 --transfer-streams=1 --duration-ms=800 --rekey=yes \
    --call-id=siprec-xfer@sbc.example --out-dir="$run/xfer"
ok $? "a transfer: re-INVITE adding a third stream (a third participant) 200, BYE 200"

[ "$(stack_wait_sealed "$run/archive" 4 20)" -ge 4 ]; ok $? "four archives sealed"
row=$(sqlite3 -separator '|' "$run/index.sqlite" \
    "select id, local_aor, remote_aor, source, n_streams from recordings where call_id = 'siprec-good@sbc.example'")
echo "$row" | diag
[ "$(echo "$row" | grep -c .)" = 1 ]; ok $? "one index row for the session"
IFS='|' read -r id local remote source nst <<<"$row"
[ "$local" = sip:alice@callcentre.example ] && [ "$remote" = sip:bob@pstn.example ]
ok $? "the row's parties are the metadata's participants (sender of each stream)"
[ "$source" = sip:sbc@example.net ]; ok $? "the row's source is the client's certificate identity"

audio_check() { # NAME ID: each stream the SRC sent equals its channel of the archive's WAV
    local name=$1 id=$2 wav=$run/$1.wav
    "$build/tools/srtprec" export --cert="$pki/auditor.crt" --key="$pki/auditor.key" --format=wav \
        "$run/archive/$id.srec" "$wav" 2>&1 | diag
    ok "${PIPESTATUS[0]}" "srtprec export of session $name's archive"
    while IFS=$'\t' read -r label aor dir pkts file; do
        f="$run/$name/$file"
        ffmpeg -nostdin -loglevel error -f mulaw -ar 8000 -ac 1 -i "$f" -f s16le -y "$f.s16" &&
            ch=$([ "$dir" = send ] && echo 0 || echo 1) &&
            "$build/tests/integration/pcm_match" "$wav" "$ch" "$f.s16" 2>&1 | diag
        ok "${PIPESTATUS[0]}" "$name: stream $label of $aor ($pkts packets, re-keyed halfway): the archive's audio equals what was sent"
        "$build/tests/integration/no_plaintext" "$run/archive/$id.srec" "$f" 2>&1 | diag
        ok "${PIPESTATUS[0]}" "$name: stream $label: no 16-byte run of its plaintext in the archive"
    done < <(tail -n +2 "$run/$name/manifest.tsv")
}
audio_check good "$id"

meta_check() { # NAME ID COUNT: the archive's metadata records are the documents sent, byte for byte
    local name=$1 id=$2 count=$3 k
    "$build/tools/srtprec" metadata --cert="$pki/auditor.crt" --key="$pki/auditor.key" \
        "$run/archive/$id.srec" >"$run/$name.meta" 2>&1
    diag <"$run/$name.meta"
    [ "$(grep -c . "$run/$name.meta")" = "$count" ] && [ "$(ls "$run/$name"/metadata-*.xml | wc -l)" = "$count" ]
    ok $? "$name: the archive holds $count metadata records, one per request with metadata"
    for ((k = 0; k < count; k++)); do
        "$build/tools/srtprec" metadata --cert="$pki/auditor.crt" --key="$pki/auditor.key" \
            "$run/archive/$id.srec" "$k" >"$run/$name.meta$k" &&
            cmp "$run/$name.meta$k" "$run/$name/metadata-$k.xml" 2>&1 | diag
        ok "${PIPESTATUS[0]}" "$name: metadata record $k is the document sent, byte for byte"
        # The whole document, its sipSessionID and AORs too: format 2 seals
        # the header's Call-ID and parties (docs/archive-format.md).
        "$build/tests/integration/no_plaintext" "$run/archive/$id.srec" "$run/$name/metadata-$k.xml" 2>&1 | diag
        ok "${PIPESTATUS[0]}" "$name: metadata record $k: no 16-byte run of it in clear in the archive"
    done
    local cid aor n_clear=0
    cid=$(sqlite3 "$run/index.sqlite" "select call_id from recordings where id = '$id'")
    for aor in $cid $(grep -o 'aor="[^"]*"' "$run/$name"/metadata-*.xml | sed 's/.*aor="//; s/"$//' | sort -u); do
        grep -qaF -- "$aor" "$run/archive/$id.srec" && { echo "in clear: $aor" | diag; n_clear=$((n_clear + 1)); }
    done
    [ -n "$cid" ] && [ "$n_clear" = 0 ]; ok $? "$name: neither the Call-ID ($cid) nor any participant's AOR is in clear in the archive"
}
# The INVITE's document (told before a worker opened the archive) and the re-INVITE's.
meta_check good "$id" 2

# Late metadata and a plain RTP leg.
row=$(sqlite3 -separator '|' "$run/index.sqlite" \
    "select id, local_aor, remote_aor from recordings where call_id = 'siprec-late@sbc.example'")
echo "$row" | diag
IFS='|' read -r late_id local remote <<<"$row"
[ "$local" = sip:alice@callcentre.example ] && [ "$remote" = sip:bob@pstn.example ]
ok $? "late metadata: the index row names the participants of the re-INVITE's metadata"
"$build/tools/srtprec" list --index="$run/index.sqlite" --party=sip:bob@pstn.example >"$run/list.out" 2>&1
grep -q "$late_id" "$run/list.out"; ok $? "srtprec list --party finds the session by a late participant"
"$build/tools/srtprec" info --cert="$pki/auditor.crt" --key="$pki/auditor.key" \
    "$run/archive/$late_id.srec" >"$run/late.info" 2>&1
diag <"$run/late.info"
grep -q "^parties: *sip:alice@callcentre.example -> sip:bob@pstn.example" "$run/late.info" &&
    grep -q "^local: *sip:sbc@example.net" "$run/late.info"
ok $? "the archive holds the late parties in a parties record (its header keeps the From)"
grep -q "label=2 .*plain-rtp" "$run/late.info" && ! grep -q "label=1 .*plain-rtp" "$run/late.info"
ok $? "the archive marks the plain RTP stream as never authenticated, the SRTP one not"
audio_check late "$late_id"
meta_check late "$late_id" 1
# The transfer: each stream exported alone equals what its sender sent.
xfer_id=$(sqlite3 "$run/index.sqlite" "select id from recordings where call_id = 'siprec-xfer@sbc.example'")
"$build/tools/srtprec" info --cert="$pki/auditor.crt" --key="$pki/auditor.key" \
    "$run/archive/$xfer_id.srec" >"$run/xfer.info" 2>&1
diag <"$run/xfer.info"
[ "$(grep -c '^stream [0-9]*: .*codec=PCMU' "$run/xfer.info")" = 3 ]
ok $? "the transfer: three PCMU streams in the session's one archive"
xfer_n=0
while IFS=$'\t' read -r label aor dir pkts file; do
    f="$run/xfer/$file"
    sn=$(awk -v l="label=$label" '$0 ~ l" " && /codec=PCMU/ { sub(":", "", $2); print $2; exit }' "$run/xfer.info")
    "$build/tools/srtprec" export --cert="$pki/auditor.crt" --key="$pki/auditor.key" --format=wav \
        --stream="$sn" "$run/archive/$xfer_id.srec" "$run/xfer-$label.wav" 2>&1 | diag
    ffmpeg -nostdin -loglevel error -f mulaw -ar 8000 -ac 1 -i "$f" -f s16le -y "$f.s16" &&
        "$build/tests/integration/pcm_match" "$run/xfer-$label.wav" 0 "$f.s16" 2>&1 | diag
    ok "${PIPESTATUS[0]}" "the transfer: stream $label of $aor ($pkts packets) alone equals what was sent"
    xfer_n=$((xfer_n + 1))
done < <(tail -n +2 "$run/xfer/manifest.tsv")
[ "$xfer_n" = 3 ]; ok $? "the transfer: the SRC's manifest lists the three streams"
grep 'call-id=siprec-late' "$run/keys.log" | diag
[ "$(grep 'call-id=siprec-late' "$run/keys.log" | grep -c 'keys=1:[0-9a-f]\{16\}'$'\t')" = 2 ]
ok $? "the key log has the SRTP stream's keys (INVITE, re-INVITE), nothing for the plain leg"

# Refusals.
archives_before=$(find "$run/archive" -name '*.srec' | wc -l)
src intruder intruder --expect=403 --duration-ms=0; ok $? "a same-CA client not in siprec-allow: 403"
src noreq sbc --variant=no-require --expect=421 --duration-ms=0; ok $? "no Require: siprec: 421"
src extra sbc --variant=extra-require --expect=420 --duration-ms=0; ok $? "an unknown Require option: 420"
src nosrc sbc --variant=no-src --expect=400 --duration-ms=0; ok $? "Contact without +sip.src: 400"
grep -q "sip.src" "$run/nosrc.out"; ok $? "the 400's Warning says why: $(grep warning "$run/nosrc.out")"
src dtls sbc --variant=dtls --expect=488 --duration-ms=0; ok $? "DTLS-SRTP recording leg: 488"
grep -qi "dtls" "$run/dtls.out"; ok $? "the 488's Warning names DTLS: $(grep warning "$run/dtls.out")"
src badkey sbc --variant=bad-crypto --expect=400 --duration-ms=0; ok $? "a malformed a=crypto: 400"
src nobody sbc --variant=no-body --expect=488 --duration-ms=0; ok $? "an offerless INVITE (no SDP): 488"
grep -q "offerless INVITE not supported" "$run/nobody.out"; ok $? "the 488's Warning says why: $(grep warning "$run/nobody.out")"
sleep 0.5
[ "$(find "$run/archive" -name '*.srec' -o -name '*.partial' | wc -l)" = "$archives_before" ]
ok $? "no refused request opened an archive"
kill -0 "${STACK_PIDS[0]}"; ok $? "the recorder is still running"

# Key log: a valid chain; the session's keys (INVITE and re-INVITE) and
# the second session's; nothing from the intruder; no key material.
python3 - "$run/keys.log" <<'PY' 2>&1 | diag
import hashlib, sys
prev = "0" * 64
n = 0
for raw in open(sys.argv[1], "rb"):
    f = raw.rstrip(b"\n").split(b"\t")
    assert f[0] == b"R1" and int(f[1]) == n + 1, raw
    assert f[-1].decode() == prev, "chain broken at %d" % (n + 1)
    prev = hashlib.sha256(raw).hexdigest()
    n += 1
print("chain of", n, "records intact")
PY
ok "${PIPESTATUS[0]}" "the key log is an intact hash chain"
[ "$(grep -c 'call-id=siprec-good@sbc.example' "$run/keys.log")" = 2 ]; ok $? "the key log records the INVITE's and the re-INVITE's keys of the session"
grep 'call-id=siprec-good' "$run/keys.log" | grep -q 'via=siprec.*source=sip:sbc@example.net.*keys=1:[0-9a-f]\{16\},2:[0-9a-f]\{16\}'
ok $? "records name via, source and each stream's key id"
! grep -q intruder "$run/keys.log"; ok $? "nothing from the refused client in the key log"

sleep 0.5
m() { awk -v k="$1" '$1 == k { print $2 }' "$run/metrics.prom"; }
[ "$(m srtprec_recorder_siprec_sessions_total)" = 4 ]; ok $? "metrics: 4 sessions accepted"
[ "$(m srtprec_recorder_streams_plain_total)" = 1 ]; ok $? "metrics: 1 plain RTP stream recorded"
[ "$(m 'srtprec_recorder_siprec_refused_total{status="403"}')" = 1 ]; ok $? "metrics: 1 refused 403"
[ "$(m 'srtprec_recorder_siprec_refused_total{status="488"}')" = 2 ]; ok $? "metrics: 2 refused 488 (DTLS, offerless)"
[ "$(m srtprec_recorder_siprec_reoffers_total)" = 3 ]; ok $? "metrics: 3 re-offers applied"
[ "$(m srtprec_recorder_siprec_sessions)" = 0 ]; ok $? "metrics: no session left open"

stack_stop
! grep -q "Sanitizer" "$run/recorder.log"; ok $? "no sanitizer report"
if [ "$failed" != 0 ]; then
    for f in recorder good intruder dtls; do echo "--- $f"; tail -n 30 "$run/$f".{log,out,err} 2>/dev/null; done | diag
fi
tap_end
