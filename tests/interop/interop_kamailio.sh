#!/usr/bin/env bash
# Kamailio discloses a real call (issue 16 items 1 and 3), TAP: two baresip
# 1.0 softphones (SDES SRTP, mediaenc srtp-mand, PCMU, a known tone from
# aufile) register with Kamailio 5.6 over TLS on 127.0.0.1 (registrar with
# usrloc in memory, record-routing proxy) and A calls B through it.  The
# shipped etc/kamailio/kamailio.cfg hands INVITE, 200 and BYE to
# srtprec-kamailio-disclose (exec_msg: the message on standard input), which
# discloses the dialog to the keyagent; the recorder subscribes over mutual
# TLS and captures on lo.  Kamailio's PKI is its own, not the keyagent's.
# Each of the archive's two streams equals a libsrtp2 decryption of a scapy
# capture of the same traffic, and that is the tone its side sent; B's
# hang-up (BYE through Kamailio) ends the call and seals the recording.
# usage: interop_kamailio.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/../lib/stack.sh"
. "$here/../lib/baresip.sh"
. "$here/../lib/tap.sh"

command -v kamailio >/dev/null || { echo "1..0 # SKIP kamailio not installed"; exit 0; }
[ -e /usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so ] ||
    { echo "1..0 # SKIP kamailio-tls-modules not installed"; exit 0; }
command -v baresip >/dev/null || { echo "1..0 # SKIP baresip not installed"; exit 0; }
[ -e /usr/lib/baresip/modules/srtp.so ] && [ -e /usr/lib/baresip/modules/aufile.so ] ||
    { echo "1..0 # SKIP baresip srtp or aufile module missing"; exit 0; }
command -v ffmpeg >/dev/null || { echo "1..0 # SKIP ffmpeg not installed"; exit 0; }
/usr/bin/python3 -c "import scapy" 2>/dev/null || { echo "1..0 # SKIP python3-scapy not installed"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP capturing on lo needs root (CAP_NET_RAW)"; exit 0; }

run=$(mktemp -d /tmp/srtprec-kamailio.XXXXXX)
bg_pids=()
cleanup() {
    # TERM: Kamailio's main process then stops its children (KILL would orphan them).
    if [ -n "${kam_pidfile:-}" ] && [ -s "$kam_pidfile" ]; then
        kill -TERM "$(cat "$kam_pidfile")" 2>/dev/null
        for i in $(seq 1 30); do kill -0 "$(cat "$kam_pidfile")" 2>/dev/null || break; sleep 0.1; done
    fi
    for p in "${bg_pids[@]}" ${disclose_pid:-}; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    stack_stop
    [ "$failed" = 0 ] && [ -z "${KEEP:-}" ] && rm -rf "$run"
}
trap cleanup EXIT

stack_init "$build" "$run"
kport=$(stack_free_port); sip_a=$(stack_free_port); sip_b=$(stack_free_port)
ra=$(( ($(stack_free_port) & ~15) )); rb=$(( ra + 16 ))
filter="udp and (portrange $ra-$((ra + 15)) or portrange $rb-$((rb + 15)))"
sed -i "/^\[recorder\]/a metrics-file = $run/recorder.prom\nkey-wait-ms = 10000\nmetrics-interval-ms = 200\ncapture = lo\ncapture-filter = $filter" \
    "$run/srtprec.conf"
stack_start; ok $? "keyagent, recorder (capturing on lo) and api start"
pki=$run/pki

# Kamailio's and the softphones' SIPS identities: a CA of their own.
kpki=$run/kpki; mkdir -p "$kpki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=sip-ca \
    -keyout "$kpki/ca.key" -out "$kpki/ca.crt" 2>/dev/null
for who in kamailio a b; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$kpki/$who.key" -out "$kpki/$who.csr" 2>/dev/null &&
    openssl x509 -req -in "$kpki/$who.csr" -CA "$kpki/ca.crt" -CAkey "$kpki/ca.key" -CAcreateserial \
        -days 2 -extfile <(printf 'subjectAltName=IP:127.0.0.1\n') -out "$kpki/$who.crt" 2>/dev/null
    cat "$kpki/$who.crt" "$kpki/$who.key" >"$kpki/$who.pem"
done
[ -s "$kpki/kamailio.crt" ] && [ -s "$kpki/b.pem" ]; ok $? "a SIPS PKI separate from the keyagent's"

# The disclosure daemon, then Kamailio with the shipped configuration.
dsock=$run/kamailio-disclose.sock
"$build/tools/srtprec-kamailio-disclose" --serve --listen="$dsock" --control="$STACK_CONTROL" \
    >"$run/disclose.out" 2>"$run/disclose.log" &
disclose_pid=$!
for i in $(seq 1 50); do [ -S "$dsock" ] && break; sleep 0.1; done
[ "$(stat -c %a "$dsock" 2>/dev/null)" = 600 ]; ok $? "srtprec-kamailio-disclose listens on a 0600 socket"
sed -e "s|/etc/kamailio/tls/|$kpki/|" "$top/etc/kamailio/srtprec-tls.cfg" >"$run/tls.cfg"
kam_pidfile=$run/kamailio.pid
kamailio -f "$top/etc/kamailio/kamailio.cfg" -P "$kam_pidfile" -Y "$run" -w "$run" -m 64 -M 8 \
    -A "LISTEN=tls:127.0.0.1:$kport" -A "TLS_CFG=\"$run/tls.cfg\"" \
    -A "DISCLOSE_CMD=\"$build/tools/srtprec-kamailio-disclose --listen=$dsock\"" \
    -E -e >"$run/kamailio.log" 2>&1
ok $? "kamailio starts with etc/kamailio/kamailio.cfg"
for i in $(seq 1 50); do [ -n "$(ss -Hltn "( sport = :$kport )")" ] && break; sleep 0.1; done

# Known audio: two tones, 3 s each (150 packets of 20 ms).
ffmpeg -nostdin -loglevel error -f lavfi -i "aevalsrc=0.4*sin(2*PI*440*t)+0.2*sin(2*PI*1234*t):s=8000:d=3" \
    -ac 1 -y "$run/tone_a.wav" &&
ffmpeg -nostdin -loglevel error -f lavfi -i "aevalsrc=0.3*sin(2*PI*620*t)+0.2*sin(2*PI*1500*t):s=8000:d=3" \
    -ac 1 -y "$run/tone_b.wav"
ok $? "tones generated"

for x in a b; do
    if [ $x = a ]; then sp=$sip_a rp=$ra; else sp=$sip_b rp=$rb; fi
    baresip_config "$run/$x" $x "$sp" "$rp" "sip_transports tls" "sip_certificate $kpki/$x.pem" "sip_cafile $kpki/ca.crt"
    echo "<sip:$x@127.0.0.1;transport=tls>;outbound=\"sip:127.0.0.1:$kport;transport=tls\";regint=600;mediaenc=srtp-mand;audio_codecs=PCMU;answermode=auto" \
        >"$run/$x/accounts"
done

lo_sniff "$run/cap.pcap" "$filter" "$run/sniff.stop" 250
bg_pids+=($sniff_pid)

# B hangs up after 5 s of call (its BYE goes through Kamailio); A stays.
timeout 25 baresip -f "$run/b" -s -t 9 >"$run/b.log" 2>&1 </dev/null & b_pid=$!; bg_pids+=($b_pid)
stack_wait_log "$run/b.log" "200 OK" 10; ok $? "B registered with Kamailio over TLS"
timeout 25 baresip -f "$run/a" -s -t 14 -e "/dial sip:b@127.0.0.1;transport=tls" >"$run/a.log" 2>&1 </dev/null &
a_pid=$!; bg_pids+=($a_pid)
stack_wait_log "$run/a.log" "Call established" 15; ok $? "A called B through Kamailio: SRTP call established"

wait "$a_pid"; wait "$b_pid"
grep -q "^BYE sip:" "$run/a.log"; ok $? "B hung up: its BYE reached A through Kamailio"
touch "$run/sniff.stop"; wait "$sniff_pid"
ok $? "scapy wrote the capture file ($(tail -1 "$run/sniff.log") frames)"
# Only the BYE ends the call at the keyagent: nobody else sends END here.
stack_wait_recordings 1 20; ok $? "the BYE sealed the call's recording"
kill -TERM "$(cat "$kam_pidfile")" 2>/dev/null
for i in $(seq 1 30); do kill -0 "$(cat "$kam_pidfile")" 2>/dev/null || break; sleep 0.1; done
! grep -Eq 'inline:|a=crypto' "$run/kamailio.log" "$run/disclose.log" "$run/disclose.out"
ok $? "no key in Kamailio's or the disclosure tool's output"
bg_pids=()

# The offer (A's INVITE body) and the answer (B's 200 body), as A's SIP trace shows them.
tr -d '\r' <"$run/a.log" | awk -v o="$run/offer.sdp" -v a="$run/answer.sdp" '
    /^INVITE sip:/ { m = o; body = 0 } /^SIP\/2.0 200/ { m = a; body = 0 }
    /\033\[/ { if (body) m = ""; body = 0; next }
    m != "" && body { print > m }
    m != "" && /^$/ { body = 1 }'
cid=$(tr -d '\r' <"$run/a.log" | awk '/^INVITE sip:/ {f = 1} f && /^Call-ID:/ {print $2; exit}')
grep -q "a=crypto" "$run/offer.sdp" && grep -q "a=crypto" "$run/answer.sdp" && [ -n "$cid" ]
ok $? "offer and answer with a=crypto from A's SIP trace (Call-ID $cid)"
stack_stop
prom=$run/recorder.prom
sed 's/^/# /' "$prom" | grep -v '^# #' | grep -E "capture|dropped|recorded|held" >&2
metric() { awk -v m="$1" '$1 == m {print $2}' "$prom"; }
id=$(sqlite3 "$run/index.sqlite" "select id from recordings where call_id = '$cid'")
cli() { "$build/tools/srtprec" "$@" --cert="$pki/auditor.crt" --key="$pki/auditor.key"; }
cli info "$run/archive/$id.srec" >"$run/info.txt" 2>&1; diag <"$run/info.txt"
# baresip sends a few SRTCP packets after the dialog ended (seconds after
# the BYE); they land, still encrypted, in an unmatched archive: nothing
# in it was decrypted, nothing is lost.
[ "$(sqlite3 "$run/index.sqlite" "select count(*) from recordings where call_id not like 'unmatched-%'")" = 1 ] &&
    [ "$(sqlite3 "$run/index.sqlite" "select count(*) from recordings where call_id = '$cid'")" = 1 ]
ok $? "one recording of the call"
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
# Through Kamailio a softphone sometimes puts its first or last 20 ms frame
# of the tone on the wire late or not at all (the capture's own decryption
# lacks it too, and the check above compares that bit-exactly): at most two
# frames may be absent at the tone's ends, the rest must follow in order.
tone = dec.rstrip(b"\xff")
best = None
for skip in (0, 160, 320):
    s = sent[skip:skip + len(tone)]
    if len(s) == len(tone) and len(sent) - len(tone) <= 320 and \
            all(abs(a - b) <= 1 or {a, b} == {0x7f, 0xff} for a, b in zip(tone, s)):
        best = skip
        break
tail = dec[len(tone):]
print("%s frames of the tone absent from the wire; %d trailing silence bytes"
      % ("?" if best is None else (len(sent) - len(tone)) // 160, len(tail)))
sys.exit(0 if best is not None and len(tail) <= 480 else 1)
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
