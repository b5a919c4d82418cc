#!/usr/bin/env bash
# The recorder records SRTP off the wire (issue 14, docs/capture.md), TAP:
# nothing is forked to it.  ffmpeg sends SRTP between two loopback ports
# (to a port nobody listens on); the recorder captures on lo with a BPF
# filter for those ports; keys are disclosed with the 5-tuple
# (src = the sender's port, dst = the receiver's), as srtprec-sdp-disclose
# does from an offer/answer.
#   A: -seq 65500: the sequence wraps (ROC 0 -> 1) in flight.
#   B: SSRC not disclosed: bound by trial authentication.
# A scapy sniffer on lo writes the same traffic to a pcap file (every
# datagram twice: scapy keeps the outgoing and the incoming copy); a second
# recorder replays it with --capture-file (fast, then it seals and exits):
# the same packets, the same audio, the second copies counted duplicates.  The live recorder's capabilities are
# reduced to CAP_NET_RAW after it opened the capture.
# usage: test_capture.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"
. "$here/../lib/tap.sh"

command -v ffmpeg >/dev/null || { echo "1..0 # SKIP ffmpeg not installed"; exit 0; }
/usr/bin/python3 -c "import scapy" 2>/dev/null || { echo "1..0 # SKIP python3-scapy not installed"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP capturing on lo needs root (CAP_NET_RAW)"; exit 0; }

run=$(mktemp -d /tmp/srtprec-capture.XXXXXX)
bg_pids=()
cleanup() {
    for p in "${bg_pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    stack_stop
    [ "$failed" = 0 ] && [ -z "${KEEP:-}" ] && rm -rf "$run"
}
trap cleanup EXIT

stack_init "$build" "$run"
pa=$(stack_free_port); pa=$((pa & ~1))
pb=$(stack_free_port); pb=$((pb & ~1))
sa=$(stack_free_port); sa=$((sa & ~1))
sb=$(stack_free_port); sb=$((sb & ~1))
pc=$(stack_free_port); pc=$((pc & ~1))
sc=$(stack_free_port); sc=$((sc & ~1))
filter="udp and (port $pa or port $pb or port $pc)"
sed -i "/^\[recorder\]/a metrics-file = $run/recorder.prom\nkey-wait-ms = 2000\nmetrics-interval-ms = 200\ncapture = lo\ncapture-filter = $filter" \
    "$run/srtprec.conf"
stack_start; ok $? "keyagent, recorder (capturing on lo) and api start"
pki=$run/pki
rec_pid=${STACK_PIDS[1]}

caps=$(awk '/^Cap(Prm|Eff|Bnd|Amb|Inh)/ {printf "%s=%s ", $1, $2}' "/proc/$rec_pid/status")
echo "# recorder: $caps"
echo "$caps" | grep -q "CapPrm:=0000000000002000 CapEff:=0000000000002000 CapBnd:=0000000000002000 CapAmb:=0000000000000000" ||
    echo "$caps" | grep -q "CapInh:=0000000000000000 CapPrm:=0000000000002000 CapEff:=0000000000002000 CapBnd:=0000000000002000 CapAmb:=0000000000000000"
ok $? "the capturing recorder keeps CAP_NET_RAW only (permitted, effective, bounding)"
grep -q "^NoNewPrivs:[[:space:]]*1" "/proc/$rec_pid/status"; ok $? "and no_new_privs"

ctl() { "$build/tests/keyagent/ka_ctl" "$STACK_CONTROL"; }
b64key() { openssl rand -base64 30; }
hexssrc() { printf '%08x' "$(( $1 & 0xffffffff ))"; }

ffmpeg -nostdin -loglevel error -f lavfi \
    -i "aevalsrc=0.4*sin(2*PI*440*t)+0.2*sin(2*PI*1234*t):s=8000:d=2" -ac 1 -y "$run/tone.wav"
ok $? "tone generated"

# send NAME KEY SSRC SEQ LOCALPORT DSTPORT: SRTP from LOCALPORT to DSTPORT, the mu-law to NAME.ul.
send() {
    timeout 30 ffmpeg -nostdin -loglevel error -re -i "$run/tone.wav" \
        -filter_complex "asetnsamples=n=160,asplit=2[a][b]" \
        -map "[a]" -c:a pcm_mulaw -f rtp -payload_type 0 -ssrc "$3" -seq "$4" \
        -srtp_out_suite AES_CM_128_HMAC_SHA1_80 -srtp_out_params "$2" \
        "srtp://127.0.0.1:$6?rtcpport=$6&localport=$5" \
        -map "[b]" -c:a pcm_mulaw -f mulaw -y "$run/$1.ul"
}

ka=$(b64key) kb=$(b64key)
ssrc_a=305419896 ssrc_b=-559038737
printf '%s\n' \
    "CALL cap-a la ra sip:alice@example.net sip:bob@example.net" \
    "STREAM cap-a a-1 send $(hexssrc $ssrc_a) 0 PCMU 8000 127.0.0.1:$pa 127.0.0.1:$sa AES_CM_128_HMAC_SHA1_80 inline:$ka 0 65500" \
    "CALL cap-b lb rb sip:carol@example.net sip:dave@example.net" \
    "STREAM cap-b b-1 send - 0 PCMU 8000 127.0.0.1:$pb 127.0.0.1:$sb AES_CM_128_HMAC_SHA1_80 inline:$kb 0 0" \
    | ctl >"$run/ctl1.out"
! grep -qv '^OK$' "$run/ctl1.out"; ok $? "keys disclosed with their 5-tuples"
sleep 0.5

# The same traffic into a pcap file, by an independent capture (scapy).
timeout 20 /usr/bin/python3 - "$run/cap.pcap" "$filter" >"$run/sniff.log" 2>&1 <<'PY' &
import sys
from scapy.all import AsyncSniffer, wrpcap
import time
s = AsyncSniffer(iface="lo", filter=sys.argv[2])
s.start()
open(sys.argv[1] + ".ready", "w").close()
time.sleep(5)
s.stop()
wrpcap(sys.argv[1], s.results)
print(len(s.results))
PY
sniff_pid=$!; bg_pids+=($sniff_pid)
for i in $(seq 1 50); do [ -e "$run/cap.pcap.ready" ] && break; sleep 0.1; done
sleep 0.3

send a "$ka" "$ssrc_a" 65500 "$pa" "$sa" & bg_pids+=($!)
send b "$kb" "$ssrc_b" 7 "$pb" "$sb"; rc_b=$?
wait "${bg_pids[1]}"; ok $? "ffmpeg sent stream A (sequence 65500, wraps)"
ok "$rc_b" "ffmpeg sent stream B (SSRC not disclosed)"
wait "$sniff_pid"; ok $? "scapy wrote the capture file ($(cat "$run/sniff.log" | tail -1) frames)"
bg_pids=()

# C: a mid-call start.  ffmpeg sends 4 s from sequence 65480 (it wraps after
# 56 packets); 1.6 s in, past the wrap, the key is disclosed with ROC 1 and
# the current sequence, as an endpoint discloses mid-call, and a second
# recorder starts capturing: it sees only packets of ROC 1.  The first
# recorder, capturing since before the call, held the ROC 0 packets and
# must guess their index from the disclosed position (RFC 3711 3.3.1).
ffmpeg -nostdin -loglevel error -f lavfi \
    -i "aevalsrc=0.4*sin(2*PI*330*t)+0.2*sin(2*PI*1777*t):s=8000:d=4" -ac 1 -y "$run/tone4.wav"
kc=$(b64key) ssrc_c=287454020
sendc() {
    timeout 30 ffmpeg -nostdin -loglevel error -re -i "$run/tone4.wav" \
        -filter_complex "asetnsamples=n=160,asplit=2[a][b]" \
        -map "[a]" -c:a pcm_mulaw -f rtp -payload_type 0 -ssrc "$ssrc_c" -seq 65480 \
        -srtp_out_suite AES_CM_128_HMAC_SHA1_80 -srtp_out_params "$kc" \
        "srtp://127.0.0.1:$sc?rtcpport=$sc&localport=$pc" \
        -map "[b]" -c:a pcm_mulaw -f mulaw -y "$run/c.ul"
}
sendc & c_pid=$!; bg_pids+=($c_pid)
sleep 1.6
printf '%s\n' \
    "CALL cap-c lc rc sip:erin@example.net sip:frank@example.net" \
    "STREAM cap-c c-1 send $(hexssrc $ssrc_c) 0 PCMU 8000 127.0.0.1:$pc 127.0.0.1:$sc AES_CM_128_HMAC_SHA1_80 inline:$kc 1 $(( (65480 + 80) & 65535 ))" \
    | ctl >"$run/ctl3.out"
mkdir -p "$run/archive3"
"$build/recorder/srtprec-recorder" --config="$run/srtprec.conf" --archive-dir="$run/archive3" \
    --index="$run/index3.sqlite" --metrics-file="$run/mid.prom" >"$run/recorder-mid.log" 2>&1 &
mid_pid=$!; bg_pids+=($mid_pid)
wait "$c_pid"; ok $? "ffmpeg sent stream C (sequence 65480, wrapping before the disclosure)"
echo "END cap-c" | ctl >/dev/null
[ "$(stack_wait_sealed "$run/archive3" 1 10)" -ge 1 ]; ok $? "mid-call recorder: C sealed after END"
kill -TERM "$mid_pid"; wait "$mid_pid" 2>/dev/null
bg_pids=()
n_c=$(( $(stat -c %s "$run/c.ul") / 160 ))

sleep 0.5
# The live recorder stops (its calls are cut by the stop: sealed as such);
# the keyagent keeps the keys for the replay.
kill -TERM "$rec_pid"; wait "$rec_pid" 2>/dev/null
prom=$run/recorder.prom
sed 's/^/# /' "$prom" | grep -v '^# #' | grep -E "capture|dropped|recorded" >&2
metric() { awk -v m="$1" '$1 == m {print $2}' "$2"; }
n_a=$(( $(stat -c %s "$run/a.ul") / 160 ))
n_b=$(( $(stat -c %s "$run/b.ul") / 160 ))
rec=$(metric srtprec_recorder_packets_recorded_total "$prom")
[ "${rec:-0}" = $((n_a + n_b + n_c)) ]; ok $? "live capture: $((n_a + n_b + n_c)) packets sent, ${rec:-0} recorded"
dropped() { metric "srtprec_recorder_packets_dropped_total{reason=\"$1\"}" "$2"; }
for r in auth replay malformed kernel duplicate; do
    v=$(dropped "$r" "$prom")
    [ "${v:-x}" = 0 ]; ok $? "live capture: no packet dropped for reason $r (${v:-missing})"
done

cli() { "$build/tools/srtprec" "$@" --cert="$pki/auditor.crt" --key="$pki/auditor.key"; }
id_of() { sqlite3 -separator ' ' "$1" "select call_id, id from recordings" | awk -v c="$2" '$1 == c {print $2; exit}'; }
check_audio() { # index archive-dir call-id expected.ul
    local id; id=$(id_of "$1" "$3")
    [ -n "$id" ] || return 1
    cli export --format=wav "$2/$id.srec" "$2/$id.wav" 2>&1 | diag
    ffmpeg -nostdin -loglevel error -f mulaw -ar 8000 -ac 1 -i "$4" -f s16le -y "$2/$id.expect.s16" &&
        "$build/tests/integration/pcm_match" "$2/$id.wav" 0 "$2/$id.expect.s16" 2>&1 | diag
    return "${PIPESTATUS[0]}"
}
[ "$(stack_wait_sealed "$run/archive" 3 10)" -ge 3 ]; ok $? "live capture: the three calls sealed"
check_audio "$run/index.sqlite" "$run/archive" cap-a "$run/a.ul"; ok $? "live capture A: exported audio equals what ffmpeg sent, across the wrap"
check_audio "$run/index.sqlite" "$run/archive" cap-b "$run/b.ul"; ok $? "live capture B: exported audio equals what ffmpeg sent (trial-bound)"
check_audio "$run/index.sqlite" "$run/archive" cap-c "$run/c.ul"; ok $? "live capture C: all of it, the packets before the mid-call key held and placed before the wrap"
# The mid-call recorder has C from where it joined: the tail of what was sent.
id3=$(id_of "$run/index3.sqlite" cap-c)
pk3=$(cli info "$run/archive3/$id3.srec" 2>&1 | awk '/label=c-1/ {sub(/.*packets=/, ""); print $1; exit}')
tail -c $(( ${pk3:-0} * 160 )) "$run/c.ul" >"$run/c-tail.ul"
[ "${pk3:-0}" -gt 50 ] && [ "${pk3:-0}" -lt $((n_c - 56)) ] &&
    check_audio "$run/index3.sqlite" "$run/archive3" cap-c "$run/c-tail.ul"
ok $? "mid-call start: C's last ${pk3:-0} of $n_c packets (ROC 1) recorded, equal to the tail of what was sent"

# Replay of the scapy file: no capture interface, no privileges needed.
mkdir -p "$run/archive2"
timeout 60 "$build/recorder/srtprec-recorder" --config="$run/srtprec.conf" --capture= \
    --capture-file="$run/cap.pcap" --capture-pace=fast --archive-dir="$run/archive2" \
    --index="$run/index2.sqlite" --metrics-file="$run/replay.prom" --workers=2 \
    >"$run/replay.log" 2>&1
ok $? "replay: the recorder read the file, sealed and exited by itself"
sed 's/^/# /' "$run/replay.prom" | grep -v '^# #' | grep -E "capture|dropped|recorded" >&2
frames=$(metric srtprec_recorder_capture_frames_total "$run/replay.prom")
rec2=$(metric srtprec_recorder_packets_recorded_total "$run/replay.prom")
[ "${frames:-0}" -ge $((n_a + n_b)) ] && [ "${rec2:-0}" = $((n_a + n_b)) ]
ok $? "replay: ${frames:-0} frames read, ${rec2:-0} of $((n_a + n_b)) packets recorded"
# scapy's sniffer on lo keeps each datagram twice (outgoing and incoming),
# as a mirror of two ports would: every second copy is a duplicate.
dups=$(dropped duplicate "$run/replay.prom")
[ "${dups:-x}" = $((frames - n_a - n_b)) ] && [ "$(dropped replay "$run/replay.prom")" = 0 ]
ok $? "replay: the ${dups:-?} second copies counted as duplicates, not replays"
check_audio "$run/index2.sqlite" "$run/archive2" cap-a "$run/a.ul"; ok $? "replay A: the same audio, across the wrap"
check_audio "$run/index2.sqlite" "$run/archive2" cap-b "$run/b.ul"; ok $? "replay B: the same audio"

# Ring drops: a recorder with the smallest ring (1 MiB) is stopped
# (SIGSTOP) while 30,000 datagrams matching its filter cross lo; when it
# runs again, pcap_stats reports the frames the full ring dropped: in the
# metrics, and in the trailer (overload) of the call open at the time (on
# lo each datagram is in the ring twice, so drops exceed what was sent).
pd=$(stack_free_port); pd=$((pd & ~1))
sd=$(stack_free_port); sd=$((sd & ~1))
mkdir -p "$run/archive4"
"$build/recorder/srtprec-recorder" --config="$run/srtprec.conf" --archive-dir="$run/archive4" \
    --index="$run/index4.sqlite" --metrics-file="$run/drops.prom" --capture-buffer=1048576 \
    --capture-filter="udp and port $pd" >"$run/recorder-drops.log" 2>&1 &
drop_pid=$!; bg_pids+=($drop_pid)
stack_wait_log "$run/recorder-drops.log" "subscription active" 15
printf '%s\n' "CALL cap-d ld rd sip:gina@example.net sip:hank@example.net" \
    "STREAM cap-d d-1 send 0badcafe 0 PCMU 8000 127.0.0.1:$pd 127.0.0.1:$sd AES_CM_128_HMAC_SHA1_80 inline:$(b64key) 0 0" \
    | ctl >/dev/null
stack_wait_log "$run/recorder-drops.log" "cap-d.*recording into archive" 10
kill -STOP "$drop_pid"
/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
for i in range(30000):
    s.sendto(b"x" * 200, ("127.0.0.1", int(sys.argv[2])))' "$pd" "$sd"
kill -CONT "$drop_pid"
sleep 1.5
echo "END cap-d" | ctl >/dev/null
[ "$(stack_wait_sealed "$run/archive4" 1 10)" -ge 1 ]
kill -TERM "$drop_pid"; wait "$drop_pid" 2>/dev/null
bg_pids=()
rdrops=$(metric srtprec_recorder_capture_kernel_drops_total "$run/drops.prom")
kdrops=$(metric 'srtprec_recorder_packets_dropped_total{reason="kernel"}' "$run/drops.prom")
id4=$(id_of "$run/index4.sqlite" cap-d)
ovl=$(cli info "$run/archive4/$id4.srec" 2>&1 | awk '/counts:/ {sub(/.*overload=/, ""); print $1; exit}')
echo "# ring drops ${rdrops:-?}, kernel drops ${kdrops:-?}, cap-d trailer overload ${ovl:-?}"
[ "${rdrops:-0}" -gt 1000 ] && [ "$kdrops" = "$rdrops" ] && [ "${ovl:-0}" = "$rdrops" ]
ok $? "ring drops reported: ${rdrops:-0} in the metrics and in the open call's trailer (overload ${ovl:-?})"

printf '%s\n' "END cap-a" "END cap-b" | ctl >/dev/null
! grep -Eq "AddressSanitizer|LeakSanitizer|runtime error" "$run"/*.log; ok $? "no sanitizer report from the daemons"
tap_end
