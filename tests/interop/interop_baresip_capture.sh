#!/usr/bin/env bash
# Two real softphones recorded off the wire (issue 14 item 5), TAP: baresip
# 1.0 (Debian) A calls B directly on 127.0.0.1 with SDES SRTP (mediaenc
# srtp-mand, PCMU, no rtcp-mux), each sending a known tone from aufile.
# Neither forks anything to the recorder: it captures on lo.  The keys come
# from srtprec-sdp-disclose fed the real offer and answer, taken from
# baresip's own SIP trace, while the call is already running (its first
# packets are held).  A scapy sniffer writes the same traffic to a pcap,
# which libsrtp2's own API decrypts (tests/recorder/srtp_pcap_dec.c): each
# of the archive's two streams equals that decryption, and that is the tone
# its side sent.  baresip's RTCP (a few packets a side, which baresip itself
# fails to decrypt: "srtp: failed to decrypt RTCP packet") is kept
# encrypted in the call's archive.
# usage: interop_baresip_capture.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"
. "$here/../lib/baresip.sh"
. "$here/../lib/tap.sh"

command -v baresip >/dev/null || { echo "1..0 # SKIP baresip not installed"; exit 0; }
[ -e /usr/lib/baresip/modules/srtp.so ] && [ -e /usr/lib/baresip/modules/aufile.so ] ||
    { echo "1..0 # SKIP baresip srtp or aufile module missing"; exit 0; }
command -v ffmpeg >/dev/null || { echo "1..0 # SKIP ffmpeg not installed"; exit 0; }
/usr/bin/python3 -c "import scapy" 2>/dev/null || { echo "1..0 # SKIP python3-scapy not installed"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP capturing on lo needs root (CAP_NET_RAW)"; exit 0; }

run=$(mktemp -d /tmp/srtprec-baresip.XXXXXX)
bg_pids=()
cleanup() {
    for p in "${bg_pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    stack_stop
    [ "$failed" = 0 ] && [ -z "${KEEP:-}" ] && rm -rf "$run"
}
trap cleanup EXIT

stack_init "$build" "$run"
sip_a=$(stack_free_port); sip_b=$(stack_free_port)
ra=$(( ($(stack_free_port) & ~15) )); rb=$(( ra + 16 ))
filter="udp and (portrange $ra-$((ra + 15)) or portrange $rb-$((rb + 15)))"
sed -i "/^\[recorder\]/a metrics-file = $run/recorder.prom\nkey-wait-ms = 10000\nmetrics-interval-ms = 200\ncapture = lo\ncapture-filter = $filter" \
    "$run/srtprec.conf"
stack_start; ok $? "keyagent, recorder (capturing on lo) and api start"
pki=$run/pki

# Known audio: two tones, 3 s each (150 packets of 20 ms).
ffmpeg -nostdin -loglevel error -f lavfi -i "aevalsrc=0.4*sin(2*PI*440*t)+0.2*sin(2*PI*1234*t):s=8000:d=3" \
    -ac 1 -y "$run/tone_a.wav" &&
ffmpeg -nostdin -loglevel error -f lavfi -i "aevalsrc=0.3*sin(2*PI*620*t)+0.2*sin(2*PI*1500*t):s=8000:d=3" \
    -ac 1 -y "$run/tone_b.wav"
ok $? "tones generated"

for x in a b; do
    if [ $x = a ]; then sp=$sip_a rp=$ra; else sp=$sip_b rp=$rb; fi
    baresip_config "$run/$x" $x "$sp" "$rp" "sip_transports udp"
    echo "<sip:$x@127.0.0.1:$sp>;regint=0;mediaenc=srtp-mand;audio_codecs=PCMU;answermode=auto" \
        >"$run/$x/accounts"
done

lo_sniff "$run/cap.pcap" "$filter" "$run/sniff.stop" 150
bg_pids+=($sniff_pid)

timeout 20 baresip -f "$run/b" -s -t 12 >"$run/b.log" 2>&1 </dev/null & b_pid=$!; bg_pids+=($b_pid)
stack_wait_log "$run/b.log" "baresip is ready" 5
timeout 20 baresip -f "$run/a" -s -t 10 -e "/dial sip:b@127.0.0.1:$sip_b" >"$run/a.log" 2>&1 </dev/null &
a_pid=$!; bg_pids+=($a_pid)
stack_wait_log "$run/a.log" "Call established" 10; ok $? "A called B: SRTP call established"

# The offer (A's INVITE body) and the answer (B's 200 body), as A's SIP trace shows them.
tr -d '\r' <"$run/a.log" | awk -v o="$run/offer.sdp" -v a="$run/answer.sdp" '
    /^INVITE sip:/ { m = o; body = 0 } /^SIP\/2.0 200/ { m = a; body = 0 }
    /\033\[/ { if (body) m = ""; body = 0; next }
    m != "" && body { print > m }
    m != "" && /^$/ { body = 1 }'
cid=$(tr -d '\r' <"$run/a.log" | awk '/^Call-ID:/ {print $2; exit}')
ltag=$(tr -d '\r' <"$run/a.log" | awk '/^From:/ {sub(/.*tag=/, ""); print; exit}')
grep -q "a=crypto" "$run/offer.sdp" && grep -q "a=crypto" "$run/answer.sdp" && [ -n "$cid" ]
ok $? "offer and answer with a=crypto from the SIP trace (Call-ID $cid)"
"$build/tools/srtprec-sdp-disclose" --control="$STACK_CONTROL" --call-id="$cid" \
    --local-aor="sip:a@127.0.0.1" --remote-aor="sip:b@127.0.0.1" --local-tag="$ltag" \
    --local-sdp="$run/offer.sdp" --remote-sdp="$run/answer.sdp" 2>&1 | diag
ok "${PIPESTATUS[0]}" "srtprec-sdp-disclose disclosed the call's two streams mid-call"

wait "$a_pid"; wait "$b_pid"
echo "END $cid" | "$build/tests/keyagent/ka_ctl" "$STACK_CONTROL" >/dev/null
touch "$run/sniff.stop"; wait "$sniff_pid"
ok $? "scapy wrote the capture file ($(tail -1 "$run/sniff.log") frames)"
bg_pids=()
stack_wait_recordings 1 20; ok $? "the call's recording is complete"
stack_stop

prom=$run/recorder.prom
sed 's/^/# /' "$prom" | grep -v '^# #' | grep -E "capture|dropped|recorded|held" >&2
metric() { awk -v m="$1" '$1 == m {print $2}' "$prom"; }
id=$(sqlite3 "$run/index.sqlite" "select id from recordings where call_id = '$cid'")
cli() { "$build/tools/srtprec" "$@" --cert="$pki/auditor.crt" --key="$pki/auditor.key"; }
cli info "$run/archive/$id.srec" >"$run/info.txt" 2>&1; diag <"$run/info.txt"
# baresip may send SRTCP seconds after its BYE: the recorder keeps that
# encrypted in an unmatched archive, which is right; the call itself must
# have exactly one recording and nothing else may be a call.
[ "$(sqlite3 "$run/index.sqlite" "select count(*) from recordings where call_id = '$cid'")" = 1 ] &&
    [ "$(sqlite3 "$run/index.sqlite" "select count(*) from recordings where call_id != '$cid' and call_id not like 'unmatched-%'")" = 0 ]
ok $? "one recording of the call; anything else only unmatched (late SRTCP kept encrypted)"
cli export --format=wav "$run/archive/$id.srec" "$run/call.wav" 2>&1 | diag

key_of() { awk '/a=crypto/ {sub(/.*inline:/, ""); sub(/[|[:space:]].*/, ""); print; exit}' "$1"; }
port_of() { awk '/^m=audio/ {print $2; exit}' "$1"; }
used=""
for side in a b; do
    if [ $side = a ]; then sdp=$run/offer.sdp; else sdp=$run/answer.sdp; fi
    npk=$("$build/tests/recorder/srtp_pcap_dec" "$run/cap.pcap" "127.0.0.1:$(port_of "$sdp")" \
        "$(key_of "$sdp")" "$run/dec_$side.ul" | awk '{print $1}')
    ffmpeg -nostdin -loglevel error -f mulaw -ar 8000 -ac 1 -i "$run/dec_$side.ul" -f s16le -y "$run/dec_$side.s16"
    ffmpeg -nostdin -loglevel error -i "$run/tone_$side.wav" -f mulaw -y "$run/sent_$side.ul" &&
        ffmpeg -nostdin -loglevel error -f mulaw -ar 8000 -ac 1 -i "$run/sent_$side.ul" -f s16le -y "$run/sent_$side.s16"
    ch=""
    for c in 0 1; do
        case " $used " in *" $c "*) continue ;; esac
        "$build/tests/integration/pcm_match" "$run/call.wav" "$c" "$run/dec_$side.s16" >"$run/m_$side$c.txt" 2>&1 && { ch=$c; break; }
    done
    diag <"$run/m_$side${ch:-1}.txt"
    [ -n "$ch" ] && [ "${npk:-0}" -gt 100 ]
    ok $? "$side's stream (channel ${ch:-none}) equals libsrtp2's decryption of the capture (${npk:-0} packets)"
    used="$used $ch"
    /usr/bin/python3 - "$run/dec_$side.ul" "$run/sent_$side.ul" <<'PY' 2>&1 | diag
import sys
dec, sent = (open(f, "rb").read() for f in sys.argv[1:3])
# baresip's G.711 encoder (libre) and ffmpeg's round differently at level
# boundaries: a sample may differ by one mu-law level, never more; what
# follows the tone may only be silence (0xff) frames.
near = all(abs(a - b) <= 1 or {a, b} == {0x7f, 0xff} for a, b in zip(dec, sent))
off = sum(a != b for a, b in zip(dec, sent))
tail = dec[len(sent):]
print("%d of %d samples one level apart, %d trailing silence bytes" % (off, len(sent), len(tail)))
sys.exit(0 if len(dec) >= len(sent) and near and set(tail) <= {0xff} and len(tail) <= 480 else 1)
PY
    ok "${PIPESTATUS[0]}" "$side's decrypted audio is the tone $side sent, in order, whole (mu-law within one level of ffmpeg's encoding)"
done
for r in auth replay malformed kernel; do
    v=$(metric "srtprec_recorder_packets_dropped_total{reason=\"$r\"}")
    [ "${v:-x}" = 0 ]; ok $? "no packet dropped for reason $r (${v:-missing})"
done
[ "$(metric srtprec_recorder_packets_held_total)" -gt 0 ]
ok $? "packets before the disclosure were held, then recorded ($(metric srtprec_recorder_packets_held_total))"
! grep -Eq "AddressSanitizer|LeakSanitizer|runtime error" "$run"/*.log; ok $? "no sanitizer report from the daemons"
tap_end
