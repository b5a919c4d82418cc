#!/usr/bin/env bash
# Kamailio with rtpengine re-keying each leg (issue 16 items 1 and 3), TAP:
# two baresip 1.0 softphones (SDES SRTP, mediaenc srtp-mand, PCMU, a known
# tone from aufile) register with Kamailio 5.6 over TLS on 127.0.0.1 and A
# calls B through it; the shipped etc/kamailio/kamailio.cfg, started with
# -A WITH_RTPENGINE, puts rtpengine 10.5 (userspace only) on the media path
# with RTP/SAVP on both sides and the callee leg under a suite the caller
# did not offer, so rtpengine decrypts each leg and re-encrypts it under
# keys it generated.  Kamailio queues every INVITE, 200 and BYE twice, as
# received and as relayed (rtpengine's SDP after msg_apply_changes()), and
# srtprec-kamailio-disclose discloses two calls: "<Call-ID>;leg=caller"
# (A <-> rtpengine) and "<Call-ID>;leg=callee" (rtpengine <-> B).  The
# recorder captures on lo: two recordings, each with two streams; each of
# the four streams equals a libsrtp2 decryption of an independent scapy
# capture under the keys of that leg's SDP (as the softphones' SIP traces
# show it), and its audio is the tone that side sent, in order.  A holds
# and resumes the call (two re-INVITEs through rtpengine, each re-keying
# both legs: still two recordings); B's BYE seals both.  The softphones
# are driven through baresip's ctrl_tcp.
# usage: interop_kamailio_rtpengine.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/../lib/stack.sh"
. "$here/../lib/baresip.sh"
. "$here/../lib/kamailio.sh"
. "$here/../lib/rtpengine.sh"
. "$here/../lib/tap.sh"

kamailio_skip rtpengine
command -v rtpengine >/dev/null || { echo "1..0 # SKIP rtpengine not installed"; exit 0; }

run=$(mktemp -d /tmp/srtprec-kamrtpe.XXXXXX)
bg_pids=()
cleanup() {
    kamailio_stop
    for p in "${bg_pids[@]}" ${disclose_pid:-}; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rtpengine_stop
    stack_stop
    [ "$failed" = 0 ] && [ -z "${KEEP:-}" ] && rm -rf "$run"
}
trap cleanup EXIT

stack_init "$build" "$run"
kport=$(stack_free_port); sip_a=$(stack_free_port); sip_b=$(stack_free_port); ng=$(stack_free_port)
ra=$(( ($(stack_free_port) & ~15) )); rb=$(( ra + 16 ))
re=$(( ($(stack_free_port) & ~31) ))
while [ $(( re + 31 )) -ge "$ra" ] && [ "$re" -le $(( rb + 15 )) ]; do re=$(( re + 64 )); done
filter="udp and (portrange $ra-$((ra + 15)) or portrange $rb-$((rb + 15)) or portrange $re-$((re + 31)))"
kamailio_stack "$filter"; ok $? "keyagent, recorder (capturing on lo) and api start"
pki=$run/pki

kpki=$run/kpki
kamailio_pki "$kpki"; ok $? "a SIPS PKI separate from the keyagent's"

# rtpengine as docs/integrations.md runs it: userspace only, ng on loopback.
rtpengine_start "$ng" "$re" $(( re + 31 ))
ok $? "rtpengine (userspace, table = -1) answers on its ng port"

dsock=$run/kamailio-disclose.sock
kamailio_disclose_start "$dsock"
kamailio_start "$kport" "$kpki" "$dsock" -A WITH_RTPENGINE -A "RTPENGINE_SOCK=\"udp:127.0.0.1:$ng\""
ok $? "kamailio starts with etc/kamailio/kamailio.cfg -A WITH_RTPENGINE"

kamailio_phones "$kport" "$sip_a" "$sip_b" "$ra" "$rb"; ok $? "tones generated, softphones configured"

lo_sniff "$run/cap.pcap" "$filter" "$run/sniff.stop" 350
bg_pids+=($sniff_pid)
kamailio_phones_up 30
# Dialled through ctrl_tcp: its hold and resume act on the call it made.
baresip_ctl "$ctl_a" dial "sip:b@127.0.0.1;transport=tls" && stack_wait_log "$run/a.log" "Call established" 15; ok $? "A called B through Kamailio and rtpengine: SRTP call established"
# A holds and resumes the call: each re-INVITE goes through rtpengine (its
# offer rewritten, the copied lines taken out) and re-keys both legs (REKEY,
# keys unchanged): one control command per stream, 4 per re-INVITE.
wait_kmetric disclosures_total 1 5; sleep 1.5
d=$(kmetric control_commands_total)
baresip_ctl "$ctl_a" hold && wait_kmetric control_commands_total $((d + 4)) 10
ok $? "A held the call: its re-INVITE through Kamailio and rtpengine re-keyed both legs ($(( $(kmetric control_commands_total) - d )) commands)"
d=$(kmetric control_commands_total)
baresip_ctl "$ctl_a" resume && wait_kmetric control_commands_total $((d + 4)) 10
ok $? "A resumed the call: the second re-INVITE re-keyed both legs too ($(( $(kmetric control_commands_total) - d )) commands)"
sleep 2
baresip_ctl "$ctl_b" hangup && stack_wait_recordings 2 20
ok $? "B hung up: its BYE through Kamailio sealed both legs' recordings"
# A second call rings unanswered and A hangs up: the CANCEL through Kamailio
# (both copies queued, rtpengine_delete) leaves neither leg's offer
# disclosed; no recording (two rows, below).
c=$(kmetric control_commands_total)
kamailio_cancelled_call
ok $? "A called B again, B rang, A hung up: the CANCEL through Kamailio and rtpengine ended it (487)"
sleep 0.5 # the keyagent's metrics file: every 200 ms
[ "$(kmetric control_commands_total)" = "$c" ] && [ "$(kmetric calls)" = 0 ]
ok $? "the cancelled call was never disclosed on either leg (keyagent commands $c -> $(kmetric control_commands_total), calls held $(kmetric calls))"
baresip_ctl "$ctl_a" quit; baresip_ctl "$ctl_b" quit
wait "$a_pid"; wait "$b_pid"
touch "$run/sniff.stop"; wait "$sniff_pid"
ok $? "scapy wrote the capture file ($(tail -1 "$run/sniff.log") frames)"
kamailio_stop
! grep -Eq 'inline:|a=crypto' "$run/kamailio.log" "$run/disclose.log" "$run/disclose.out"
ok $? "no key in Kamailio's or the disclosure tool's output"
bg_pids=()
diag <"$run/disclose.log"

# Each softphone's SIP trace: the INVITE's and the 200's bodies as that
# softphone sent or received them, i.e. one leg's offer and answer.
sdp_pair() { # LOG OFFER ANSWER
    tr -d '\r' <"$1" | awk -v o="$2" -v a="$3" '
        /^INVITE sip:/ { m = o; body = 0 } /^SIP\/2.0 200/ { m = a; body = 0 }
        /\033\[/ { if (body) m = ""; body = 0; next }
        m != "" && body { print > m }
        m != "" && /^$/ { body = 1 }'
}
sdp_pair "$run/a.log" "$run/caller_offer.sdp" "$run/caller_answer.sdp"
sdp_pair "$run/b.log" "$run/callee_offer.sdp" "$run/callee_answer.sdp"
cid=$(tr -d '\r' <"$run/a.log" | awk '/^INVITE sip:/ {f = 1} f && /^Call-ID:/ {print $2; exit}')
# rtpengine writes its keys without base64 padding (RFC 4568 is ambiguous).
key_of() {
    awk '/a=crypto/ {sub(/.*inline:/, ""); sub(/[|[:space:]].*/, "");
                     while (length($0) % 4) $0 = $0 "="; print; exit}' "$1"
}
suite_of() { awk '/a=crypto/ {print $2; exit}' "$1"; }
port_of() { awk '/^m=audio/ {print $2; exit}' "$1"; }
keys=$(for f in caller_offer caller_answer callee_offer callee_answer; do key_of "$run/$f.sdp"; done)
[ -n "$cid" ] && [ "$(echo "$keys" | grep -c .)" = 4 ] && [ "$(echo "$keys" | sort -u | grep -c .)" = 4 ]
ok $? "four different SDES keys: rtpengine re-keyed each leg (Call-ID $cid)"
[ "$(port_of "$run/caller_answer.sdp")" -ge "$re" ] && [ "$(port_of "$run/callee_offer.sdp")" -ge "$re" ] &&
    [ "$(port_of "$run/callee_offer.sdp")" -le $(( re + 31 )) ]
ok $? "both softphones send their media to rtpengine's ports"
stack_stop
prom=$run/recorder.prom
metric() { awk -v m="$1" '$1 == m {print $2}' "$prom"; }
cli() { "$build/tools/srtprec" "$@" --cert="$pki/auditor.crt" --key="$pki/auditor.key"; }
sqlite3 -separator '|' "$run/index.sqlite" \
    "select call_id, local_aor, remote_aor, n_streams, packets from recordings" | diag
[ "$(sqlite3 "$run/index.sqlite" "select count(*) from recordings where call_id not like 'unmatched-%'")" = 2 ]
ok $? "two recordings of the call, one per leg"

rejected=0
# leg, the SDP of the side that sends, the tone it carries
for s in "caller caller_offer a" "caller caller_answer b" "callee callee_offer a" "callee callee_answer b"; do
    set -- $s
    leg=$1 sdp=$run/$2.sdp tone=$3
    row=$(sqlite3 -separator '|' "$run/index.sqlite" \
        "select id, local_aor, remote_aor, n_streams from recordings where call_id = '$cid;leg=$leg'")
    IFS='|' read -r id laor raor nst <<<"$row"
    if [ ! -e "$run/leg_$leg.wav" ]; then
        cli info "$run/archive/$id.srec" >"$run/info_$leg.txt" 2>&1
        # Two audio streams (and an RTCP stream when one was seen in time).
        [ -n "$id" ] && [ "$laor" = "sip:a@127.0.0.1" ] && [ "$raor" = "sip:b@127.0.0.1" ] &&
            [ "$(grep -cE 'codec=PCMU .*label=audio0-(tx|rx) ' "$run/info_$leg.txt")" = 2 ] &&
            [ "$(grep -c '^stream' "$run/info_$leg.txt")" = "$nst" ]
        ok $? "leg $leg: index row '$cid;leg=$leg' ($laor -> $raor), its archive with the leg's two audio streams ($nst streams in all)"
        cli export --format=wav "$run/archive/$id.srec" "$run/leg_$leg.wav" 2>&1 | diag
        used=""
    fi
    src=127.0.0.1:$(port_of "$sdp")
    # In capture order (the audio check) and on the RTP timeline, the hold's
    # gap as silence (as the WAV export places it: the bit-exact check).
    # lo shows every frame twice: what fails beyond the second copies is
    # what libsrtp2 itself rejects (rejected, in frames).
    for t in "" timeline; do
        read -r npk nbad < <("$build/tests/recorder/srtp_pcap_dec" "$run/cap.pcap" "$src" \
            "$(key_of "$sdp")" "$run/dec_$2$t.ul" "$(suite_of "$sdp")" $t)
    done
    [ "${nbad:-0}" -gt "${npk:-0}" ] && rejected=$(( rejected + nbad - npk ))
    ffmpeg -nostdin -loglevel error -f mulaw -ar 8000 -ac 1 -i "$run/dec_${2}timeline.ul" -f s16le -y "$run/dec_$2.s16"
    ch=""
    for c in 0 1; do
        case " $used " in *" $c "*) continue ;; esac
        "$build/tests/integration/pcm_match" "$run/leg_$leg.wav" "$c" "$run/dec_$2.s16" >"$run/m_$2$c.txt" 2>&1 && { ch=$c; break; }
    done
    diag <"$run/m_$2${ch:-1}.txt"
    [ -n "$ch" ] && [ "${npk:-0}" -gt 100 ]
    ok $? "leg $leg, from $src ($(suite_of "$sdp")): a stream (channel ${ch:-none}) equals libsrtp2's decryption of the capture (${npk:-0} packets)"
    used="$used $ch"
    # Two gaps at most (hold, resume); what rtpengine forwards lacks what
    # it received before it had that side's keys (the callee's first frames
    # arrive before its 200 does): the first frame up to 10 frames in.
    tone_in_order "$run/dec_$2.ul" "$run/sent_$tone.ul" 2 10 2>&1 | diag
    ok "${PIPESTATUS[0]}" "leg $leg, from $src: the decrypted audio is the tone $tone sent, in order"
done
[ "$(kmetric control_errors_total)" = 0 ]
ok $? "the keyagent refused none of the tool's commands ($(kmetric control_commands_total) applied)"
for r in replay kernel; do
    v=$(metric "srtprec_recorder_packets_dropped_total{reason=\"$r\"}")
    [ "${v:-x}" = 0 ]; ok $? "no packet dropped for reason $r (${v:-missing})"
done
# baresip sends plaintext 16-byte RTCP APP packets (PEERS), which no key
# authenticates: malformed, or an authentication failure once that side's
# SRTCP stream is bound; and rtpengine now and then sends the callee an RTP
# packet that libsrtp2 does not authenticate either.  No more of those
# drops than such frames captured.
app=$(/usr/bin/python3 - "$run/cap.pcap" <<'PY'
import sys
from scapy.all import UDP, rdpcap
print(sum(1 for p in rdpcap(sys.argv[1]) if UDP in p and len(p[UDP].payload) == 16
          and bytes(p[UDP].payload)[1] == 204))
PY
)
v=$(( $(metric 'srtprec_recorder_packets_dropped_total{reason="auth"}') +
      $(metric 'srtprec_recorder_packets_dropped_total{reason="malformed"}') ))
[ "$v" -le $(( ${app:-0} + rejected )) ]
ok $? "no packet dropped for authentication or as malformed but baresip's plaintext RTCP APP ($app frames) and what libsrtp2 rejects too ($rejected frames): $v"
[ "$(metric srtprec_recorder_packets_recorded_total)" -ge 560 ]
ok $? "the recorder recorded all four streams ($(metric srtprec_recorder_packets_recorded_total) packets)"
! grep -Eq "AddressSanitizer|LeakSanitizer|runtime error" "$run"/*.log; ok $? "no sanitizer report from the daemons"
if [ "$failed" != 0 ]; then
    for f in kamailio rtpengine disclose; do echo "--- $f"; tail -n 30 "$run/$f.log"; done | diag
fi
tap_end
