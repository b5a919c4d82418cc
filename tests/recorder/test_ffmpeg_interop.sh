#!/usr/bin/env bash
# The recorder against an independent SRTP sender, ffmpeg (TAP).  Keys are
# disclosed through the keyagent's control socket (ka_ctl); ffmpeg sends
# SRTP pcm_mulaw (AES_CM_128_HMAC_SHA1_80) and, from the same filter graph,
# writes the mu-law it sent to a file; the recorder's export must equal it.
#   A: SSRC disclosed, -seq 65500: the sequence wraps (ROC 0 -> 1) in flight.
#   B: SSRC not disclosed: bound by trial authentication.
#   C: re-key in mid-call (REKEY on the control socket between two ffmpeg
#      runs from the same source port): every packet of both keys recorded.
#   D: a key never disclosed: every packet archived still encrypted in the
#      "unmatched" archive, counted in the metrics file.
#   E: Opus: ffmpeg (libopus) encodes the tone to Ogg Opus, then sends those
#      packets unchanged as SRTP (-c:a copy); the API's export.opus passes
#      opusinfo and oggz-validate, ffmpeg decodes it to the samples of the
#      Ogg file ffmpeg wrote, export.wav?stream=0 (libopus) equals both, and
#      the waveform shows the tone in every bucket.
# usage: test_ffmpeg_interop.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"

. "$here/../lib/tap.sh"

command -v ffmpeg >/dev/null || { echo "1..0 # SKIP ffmpeg not installed"; exit 0; }

run=$(mktemp -d /tmp/srtprec-ffmpeg.XXXXXX)
ff_pids=()
cleanup() {
    for p in "${ff_pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    stack_stop
    [ "$failed" = 0 ] && [ -z "${KEEP:-}" ] && rm -rf "$run"
}
trap cleanup EXIT

stack_init "$build" "$run"
# This test's own recorder settings: a metrics file, a short key wait.
sed -i "/^\[recorder\]/a metrics-file = $run/recorder.prom\nkey-wait-ms = 1000\nmetrics-interval-ms = 200" \
    "$run/srtprec.conf"
stack_start; ok $? "keyagent, recorder and api start"
media=$STACK_MEDIA_PORT
pki=$run/pki

ctl() { "$build/tests/keyagent/ka_ctl" "$STACK_CONTROL"; }
b64key() { openssl rand -base64 30; }
hexssrc() { printf '%08x' "$(( $1 & 0xffffffff ))"; }

# A test tone, 2 s at 8 kHz: two sines, so a shifted or dropped packet shows.
ffmpeg -nostdin -loglevel error -f lavfi \
    -i "aevalsrc=0.4*sin(2*PI*440*t)+0.2*sin(2*PI*1234*t):s=8000:d=2" -ac 1 -y "$run/tone.wav"
ok $? "tone generated"

# send NAME KEY SSRC SEQ LOCALPORT: SRTP to the recorder, the same mu-law to NAME.ul.
send() {
    timeout 30 ffmpeg -nostdin -loglevel error -re -i "$run/tone.wav" \
        -filter_complex "asetnsamples=n=160,asplit=2[a][b]" \
        -map "[a]" -c:a pcm_mulaw -f rtp -payload_type 0 -ssrc "$3" -seq "$4" \
        -srtp_out_suite AES_CM_128_HMAC_SHA1_80 -srtp_out_params "$2" \
        "srtp://127.0.0.1:$media?rtcpport=$media&localport=$5" \
        -map "[b]" -c:a pcm_mulaw -f mulaw -y "$run/$1.ul"
}
# A local port for ffmpeg: it binds the port and the next one (RTCP), so both
# must be free, and no two senders of this test may get overlapping pairs
# (a collision failed the test once: "bind failed: Address already in use").
# Sets free_port; called without a subshell, so that it remembers.
used_ports=" "
free_udp() {
    local p i
    for i in $(seq 1 200); do
        p=$(stack_free_port) || return 1
        p=$((p & ~1))
        case "$used_ports" in *" $p "* | *" $((p + 1)) "*) continue ;; esac
        [ -n "$(ss -Hltun "( sport = :$p or sport = :$((p + 1)) )" 2>/dev/null)" ] && continue
        used_ports="$used_ports$p $((p + 1)) "
        free_port=$p
        return 0
    done
    return 1
}

ka=$(b64key) kb=$(b64key) kc1=$(b64key) kc2=$(b64key) kd=$(b64key) ke=$(b64key)
ssrc_a=305419896 ssrc_b=-559038737 ssrc_c=19088743 ssrc_d=1515870810 ssrc_e=287454020
printf '%s\n' \
    "CALL ff-a la ra sip:alice@example.net sip:bob@example.net" \
    "STREAM ff-a a-1 send $(hexssrc $ssrc_a) 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:$ka 0 65500" \
    "CALL ff-b lb rb sip:carol@example.net sip:dave@example.net" \
    "STREAM ff-b b-1 send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:$kb 0 0" \
    "CALL ff-c lc rc sip:erin@example.net sip:frank@example.net" \
    "STREAM ff-c c-1 send $(hexssrc $ssrc_c) 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:$kc1 0 1000" \
    "CALL ff-e le re sip:grace@example.net sip:heidi@example.net" \
    "STREAM ff-e e-1 send $(hexssrc $ssrc_e) 111 opus 48000 - - AES_CM_128_HMAC_SHA1_80 inline:$ke 0 4000" \
    | ctl >"$run/ctl1.out"
! grep -qv '^OK$' "$run/ctl1.out"; ok $? "keys disclosed through the control socket (A with SSRC, B without)"
sleep 0.5 # the NOTIFY reaches the recorder

free_udp; port_a=$free_port
free_udp; port_b=$free_port
free_udp; port_c=$free_port
free_udp; port_d=$free_port
free_udp; port_e=$free_port
ffmpeg -nostdin -loglevel error -i "$run/tone.wav" -c:a libopus -b:a 32k -frame_duration 20 -y "$run/e.opus"
ok $? "E: ffmpeg encodes the tone to Ogg Opus"
timeout 30 ffmpeg -nostdin -loglevel error -re -i "$run/e.opus" -c:a copy -f rtp -payload_type 111 \
    -ssrc "$ssrc_e" -seq 4000 -srtp_out_suite AES_CM_128_HMAC_SHA1_80 -srtp_out_params "$ke" \
    "srtp://127.0.0.1:$media?rtcpport=$media&localport=$port_e" >/dev/null & ff_pids+=($!)
send a "$ka" "$ssrc_a" 65500 "$port_a" & ff_pids+=($!)
send b "$kb" "$ssrc_b" 7 "$port_b" & ff_pids+=($!)
send c1 "$kc1" "$ssrc_c" 1000 "$port_c"; rc_c1=$?
wait "${ff_pids[0]}"; ok $? "ffmpeg sent stream E (Opus packets of e.opus)"
wait "${ff_pids[1]}"; ok $? "ffmpeg sent stream A (sequence 65500, wraps)"
wait "${ff_pids[2]}"; ok $? "ffmpeg sent stream B (SSRC not disclosed)"
ff_pids=()
ok "$rc_c1" "ffmpeg sent stream C under its first key"
echo "REKEY ff-c c-1 AES_CM_128_HMAC_SHA1_80 inline:$kc2" | ctl >"$run/ctl2.out"
grep -q '^OK$' "$run/ctl2.out"; ok $? "REKEY of stream C accepted"
sleep 0.5
send c2 "$kc2" "$ssrc_c" 1100 "$port_c"; ok $? "ffmpeg sent stream C under its new key, same source"
send d "$kd" "$ssrc_d" 500 "$port_d"; ok $? "ffmpeg sent stream D, whose key is never disclosed"
printf '%s\n' "END ff-a" "END ff-b" "END ff-c" "END ff-e" | ctl >/dev/null

stack_wait_recordings 5 20; ok $? "5 recordings complete (4 calls and the unmatched archive)"

rows=$(sqlite3 -separator ' ' "$run/index.sqlite" "select call_id, id from recordings" 2>/dev/null)
echo "$rows" | diag
id_of() { echo "$rows" | awk -v c="$1" '$1 ~ "^"c {print $2; exit}'; }

# E through the API while it runs: the Ogg Opus file, the WAV, the waveform.
id_e=$(id_of ff-e)
api=$(stack_api)/v1/recordings/$id_e
code=$(stack_curl -s -o "$run/e-api.opus" -w '%{http_code}' -D "$run/e-opus.h" "$api/export.opus")
[ "$code" = 200 ] && grep -qi '^content-type: audio/ogg; codecs=opus' "$run/e-opus.h" &&
    opusinfo "$run/e-api.opus" >"$run/e-opusinfo.out" 2>&1 && oggz-validate "$run/e-api.opus" 2>&1 | diag
ok $? "E: export.opus 200, opusinfo and oggz-validate accept it ($code)"
code=$(stack_curl -s -o "$run/e-wave.json" -w '%{http_code}' "$api/waveform?points=40")
[ "$code" = 200 ] && python3 - "$run/e-wave.json" <<'PY' 2>&1 | diag
import json, sys
w = json.load(open(sys.argv[1]))
s = w["streams"]
assert w["rate"] == 8000 and 1900 <= w["duration_ms"] <= 2100, w["duration_ms"]
assert len(s) == 1 and s[0]["label"] == "e-1" and s[0]["codec"] == "opus" and len(s[0]["peaks"]) == 40
low = [i for i, p in enumerate(s[0]["peaks"][1:-1]) if not 0.45 < p < 0.75]
assert not low, ("buckets without the tone's 0.6 peak", low, s[0]["peaks"])
PY
ok $? "E: waveform 200: one Opus stream, 40 buckets, the tone's peak (0.6) in each"
# the archive's stream 0 is the sender's SRTCP: the waveform names the audio
s_e=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["streams"][0]["index"])' "$run/e-wave.json")
code=$(stack_curl -s -o "$run/e-api.wav" -w '%{http_code}' "$api/export.wav?stream=${s_e:-0}")
[ "$code" = 200 ]; ok $? "E: export.wav?stream=$s_e 200 ($code)"
code=$(stack_curl -s -o "$run/e-bad.json" -w '%{http_code}' "$api/export.opus?stream=0")
[ "$s_e" = 0 ] || { [ "$code" = 422 ] && grep -q '"unsupported_stream"' "$run/e-bad.json"; }
ok $? "E: export.opus of the SRTCP stream: 422 ($code)"
code=$(curl --max-time 20 -s -o /dev/null -w '%{http_code}' --cacert "$pki/ca.crt" \
    -H "Authorization: Bearer $STACK_LISTER_TOKEN" "$api/waveform")
[ "$code" = 403 ]; ok $? "E: waveform with a lister token: 403, as an export ($code)"
grep -P "route=waveform\t.*id=$id_e\t.*status=200" "$run/api-audit.log" | grep -q "who=auditor"
ok $? "E: the waveform is in the audit log as an access (who, route, id, status)"
code=$(stack_curl -s -o "$run/e-bad.json" -w '%{http_code}' "$api/export.opus?stream=7")
[ "$code" = 404 ] && grep -q '"no_such_stream"' "$run/e-bad.json"; ok $? "E: export.opus of stream 7: 404 ($code)"
stack_stop
# ffmpeg through libopus: our decoder, so the same samples (the WAV drops the
# pre-skip as the Ogg Opus file does).
ffmpeg -nostdin -loglevel error -c:a libopus -i "$run/e.opus" -f s16le -ac 1 -ar 48000 -y "$run/e-src.s16" &&
    tail -c +45 "$run/e-api.wav" >"$run/e-api.s16" && [ -s "$run/e-src.s16" ] &&
    cmp -n "$(stat -c %s "$run/e-src.s16")" "$run/e-api.s16" "$run/e-src.s16" 2>&1 | diag
# The WAV runs to the end of the last packet; the Ogg file's last granule
# trims the encoder's padding (at most one 20 ms frame).
ok "${PIPESTATUS[0]}" "E: export.wav equals ffmpeg's decoding of the Ogg Opus it sent ($(stat -c %s "$run/e-src.s16") bytes compared)"
[ $(( $(stat -c %s "$run/e-api.s16") - $(stat -c %s "$run/e-src.s16") )) -le 1920 ]
ok $? "E: and is no longer than it by more than one frame"
ffmpeg -nostdin -loglevel error -c:a libopus -i "$run/e-api.opus" -f s16le -ac 1 -ar 48000 -y "$run/e-exp.s16" &&
    cmp -n "$(stat -c %s "$run/e-src.s16")" "$run/e-src.s16" "$run/e-exp.s16" 2>&1 | diag
ok "${PIPESTATUS[0]}" "E: export.opus decodes to the same samples as the Ogg Opus ffmpeg sent"
cmp -s "$run/e-api.s16" "$run/e-exp.s16"; ok $? "E: export.wav and export.opus decoded: the same samples, the same length"
ffmpeg -nostdin -loglevel error -i "$run/e-api.opus" -f s16le -ac 1 -ar 48000 -y "$run/e-ff.s16"
ok $? "E: ffmpeg's own Opus decoder decodes export.opus"
cli() { "$build/tools/srtprec" "$@" --cert="$pki/auditor.crt" --key="$pki/auditor.key"; }

check_audio() { # call-id expected-ul... : channel 0 (send) equals the concatenated mu-law
    local id; id=$(id_of "$1"); shift
    [ -n "$id" ] || return 1
    cli export --format=wav "$run/archive/$id.srec" "$run/$id.wav" 2>&1 | diag
    cat "$@" >"$run/$id.expect.ul"
    ffmpeg -nostdin -loglevel error -f mulaw -ar 8000 -ac 1 -i "$run/$id.expect.ul" -f s16le -y "$run/$id.expect.s16" &&
        "$build/tests/integration/pcm_match" "$run/$id.wav" 0 "$run/$id.expect.s16" 2>&1 | diag
    return "${PIPESTATUS[0]}"
}
info_of() { local id; id=$(id_of "$1"); cli info "$run/archive/$id.srec" 2>&1; }

check_audio ff-a "$run/a.ul"; ok $? "A: exported audio equals what ffmpeg sent, across the sequence wrap"
check_audio ff-b "$run/b.ul"; ok $? "B: exported audio equals what ffmpeg sent (bound by trial authentication)"
grep -q "SSRC $(hexssrc $ssrc_b) .*bound to key" "$run/recorder.log"; ok $? "B: the recorder bound SSRC $(hexssrc $ssrc_b)"

pk_c=$(( ($(stat -c %s "$run/c1.ul") + $(stat -c %s "$run/c2.ul")) / 160 ))
info_c=$(info_of ff-c); echo "$info_c" | diag
echo "$info_c" | grep -q "counts: *packets=$pk_c "; ok $? "C: all $pk_c packets of both keys recorded"
echo "$info_c" | grep -q "counts:.* auth_fail=0 replay=0 "; ok $? "C: no authentication failure across the re-key"
grep -q "switched to its new key" "$run/recorder.log"; ok $? "C: the stream switched to its new key"

pk_d=$(( $(stat -c %s "$run/d.ul") / 160 ))
prom=$run/recorder.prom
[ -s "$prom" ]; ok $? "metrics file written"
sed 's/^/# /' "$prom" | grep -v '^# #' >&2
kept=$(awk '/^srtprec_recorder_packets_encrypted_kept_total/ {print $2}' "$prom")
[ "${kept:-0}" -ge "$pk_d" ]; ok $? "D: $pk_d packets never keyed, ${kept:-0} kept encrypted"
info_d=$(info_of unmatched); echo "$info_d" | diag
echo "$info_d" | grep -q "SRTP"; ok $? "D: the unmatched archive holds an encrypted stream"
for r in auth replay malformed overload storage kernel; do
    v=$(awk -v r="reason=\"$r\"" 'index($0, r) {print $2}' "$prom")
    [ "${v:-x}" = 0 ]; ok $? "no packet dropped for reason $r (${v:-missing})"
done

! grep -Eq "AddressSanitizer|LeakSanitizer|runtime error" "$run"/*.log; ok $? "no sanitizer report from the daemons"

tap_end
