#!/usr/bin/env bash
# Capture files in every encapsulation a mirror delivers, replayed through
# srtprec-recorder --capture-file (issue 14 items 4, 5), TAP.  40 SRTP
# packets of one stream (libsrtp2's own API: tests/recorder/srtp_mkpkts.c;
# the sequence wraps in flight) are wrapped by scapy (tests/recorder/
# gen_pcaps.py, the generator of the decapsulation's own tests) into one
# pcap per case: Ethernet IPv4 and IPv6, 802.1Q, QinQ, Linux cooked v1 and
# v2, GRE, GRE with Ethernet, ERSPAN II and III, VXLAN, IPv6 extension
# headers, IPv4 and IPv6 fragments, every frame twice (a mirror showing
# ingress and egress), and noise (ARP, TCP, ICMP).  The keys are disclosed
# for the IPv4 and the IPv6 5-tuple (same SSRC and key: the addresses keep
# them apart).  The replays run with an empty capture-filter: the default
# "udp" does not match VLAN-tagged, tunnelled or extension-header frames
# (docs/capture.md, "Configuration").  Each replay records the 40 packets once, in the call of its
# address family, and its export equals the payloads sent, packet for packet.
# usage: test_capture_replay.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"
. "$here/../lib/tap.sh"

/usr/bin/python3 -c "import scapy" 2>/dev/null || { echo "1..0 # SKIP python3-scapy not installed"; exit 0; }
command -v ffmpeg >/dev/null || { echo "1..0 # SKIP ffmpeg not installed"; exit 0; }

run=$(mktemp -d /tmp/srtprec-capreplay.XXXXXX)
cleanup() {
    stack_stop
    [ "$failed" = 0 ] && [ -z "${KEEP:-}" ] && rm -rf "$run"
}
trap cleanup EXIT

stack_init "$build" "$run"
sed -i "/^\[recorder\]/a metrics-interval-ms = 200\nkey-wait-ms = 2000" "$run/srtprec.conf"
stack_start_one keyagent keyagent/srtprec-keyagent
stack_wait_log "$run/keyagent.log" "listening" 10; ok $? "keyagent starts"
pki=$run/pki
npk=40
key=$(openssl rand -base64 30)
ssrc=0x5eed1234
"$build/tests/recorder/srtp_mkpkts" "$key" "$ssrc" 65520 "$npk" "$run/srtp.hex" "$run/sent.ul"
ok $? "$npk SRTP packets made with libsrtp2 (sequence 65520: wraps)"
ffmpeg -nostdin -loglevel error -f mulaw -ar 8000 -ac 1 -i "$run/sent.ul" -f s16le -y "$run/sent.s16"
/usr/bin/python3 "$here/gen_pcaps.py" "$run/pcaps" --payloads "$run/srtp.hex" --stamp "$run/cases.txt" \
    --src4 192.0.2.1 --dst4 198.51.100.7 --src6 2001:db8::1 --dst6 2001:db8::ab:2 --sport 5004 --dport 6006
ok $? "scapy wrote $(wc -l <"$run/cases.txt") capture files"

printf '%s\n' \
    "CALL rp-v4 l4 r4 sip:alice@example.net sip:bob@example.net" \
    "STREAM rp-v4 s-1 send $(printf '%08x' $ssrc) 0 PCMU 8000 192.0.2.1:5004 198.51.100.7:6006 AES_CM_128_HMAC_SHA1_80 inline:$key 0 65520" \
    "CALL rp-v6 l6 r6 sip:carol@example.net sip:dave@example.net" \
    "STREAM rp-v6 s-1 send $(printf '%08x' $ssrc) 0 PCMU 8000 [2001:db8::1]:5004 [2001:db8::ab:2]:6006 AES_CM_128_HMAC_SHA1_80 inline:$key 0 65520" \
    | "$build/tests/keyagent/ka_ctl" "$STACK_CONTROL" >"$run/ctl.out"
! grep -qv '^OK$' "$run/ctl.out"; ok $? "keys disclosed for the IPv4 and the IPv6 5-tuple"

metric() { awk -v m="$1" '$1 == m {print $2}' "$2"; }
cli() { "$build/tools/srtprec" "$@" --cert="$pki/auditor.crt" --key="$pki/auditor.key"; }
while read -r c; do
    d=$run/r-$c
    mkdir -p "$d/archive"
    timeout 60 "$build/recorder/srtprec-recorder" --config="$run/srtprec.conf" \
        --capture-file="$run/pcaps/$c.pcap" --capture-pace=fast --capture-filter= --archive-dir="$d/archive" \
        --index="$d/index.sqlite" --metrics-file="$d/m.prom" >"$d/recorder.log" 2>&1
    rc=$?
    case $c in *6* | sll2 | vxlan) call=rp-v6 ;; *) call=rp-v4 ;; esac
    rec=$(metric srtprec_recorder_packets_recorded_total "$d/m.prom")
    dup=$(metric 'srtprec_recorder_packets_dropped_total{reason="duplicate"}' "$d/m.prom")
    bad=0
    for r in auth replay malformed unbound_full source_full; do
        v=$(metric "srtprec_recorder_packets_dropped_total{reason=\"$r\"}" "$d/m.prom")
        bad=$((bad + ${v:-1}))
    done
    id=$(sqlite3 "$d/index.sqlite" "select id from recordings where call_id = '$call' order by packets desc limit 1" 2>/dev/null)
    other=$(sqlite3 "$d/index.sqlite" "select sum(packets) from recordings where call_id != '$call'" 2>/dev/null)
    match=1
    if [ -n "$id" ]; then
        cli export --format=wav "$d/archive/$id.srec" "$d/out.wav" >"$d/export.log" 2>&1 &&
            "$build/tests/integration/pcm_match" "$d/out.wav" 0 "$run/sent.s16" >"$d/match.log" 2>&1
        match=$?
    fi
    want_dup=0; [ "$c" = dup ] && want_dup=$npk
    [ "$rc" = 0 ] && [ "${rec:-0}" = "$npk" ] && [ "${dup:-x}" = "$want_dup" ] && [ "$bad" = 0 ] &&
        [ "${other:-x}" = 0 ] && [ "$match" = 0 ]
    ok $? "$c: replayed and exited ($rc); $npk packets recorded (${rec:-0}) in $call, bit-exact; ${dup:-?} duplicates"
    [ "$match" = 0 ] || { diag <"$d/recorder.log"; diag <"$d/match.log" 2>/dev/null; }
    if [ "$c" = noise ]; then
        refused=$(awk '/^srtprec_recorder_capture_frames_refused_total/ {s += $2} END {print s + 0}' "$d/m.prom")
        [ "$refused" -gt 0 ]; ok $? "noise: the ARP, TCP and ICMP frames counted as refused ($refused)"
    fi
done <"$run/cases.txt"
! grep -Eq "AddressSanitizer|LeakSanitizer|runtime error" "$run"/*.log "$run"/r-*/recorder.log
ok $? "no sanitizer report"
tap_end
