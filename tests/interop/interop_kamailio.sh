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
# The first call is held and resumed by A (two re-INVITEs through Kamailio,
# each re-disclosed): one recording, audio before and after.  The second is
# placed while the disclosure daemon is down and disclosed only at A's hold
# re-INVITE, with its ROC unknown and the dialog's start from Kamailio's
# dialog module: recorded whole (held packets, ROC search), its index row
# starting when the dialog did, not at the late disclosure.  The third
# rings unanswered and A hangs up: its CANCEL through Kamailio leaves
# nothing disclosed and no recording.  At the end no key exchanged (base64,
# hex or raw) is in any file but the phones' own traces: Kamailio's log at
# the shipped debug level, the tool's, the daemons', index and archives, and
# the command lines and environments the tool and Kamailio ran with.
# The softphones are driven through baresip's ctrl_tcp (JSON netstrings).
# usage: interop_kamailio.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/../lib/stack.sh"
. "$here/../lib/baresip.sh"
. "$here/../lib/kamailio.sh"
. "$here/../lib/tap.sh"

kamailio_skip

run=$(mktemp -d /tmp/srtprec-kamailio.XXXXXX)
bg_pids=()
cleanup() {
    kamailio_stop
    for p in "${bg_pids[@]}" ${disclose_pid:-}; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    stack_stop
    [ "$failed" = 0 ] && [ -z "${KEEP:-}" ] && rm -rf "$run"
}
trap cleanup EXIT

stack_init "$build" "$run"
kport=$(stack_free_port); sip_a=$(stack_free_port); sip_b=$(stack_free_port)
ra=$(( ($(stack_free_port) & ~15) )); rb=$(( ra + 16 ))
filter="udp and (portrange $ra-$((ra + 15)) or portrange $rb-$((rb + 15)))"
kamailio_stack "$filter"; ok $? "keyagent, recorder (capturing on lo) and api start"
pki=$run/pki

kpki=$run/kpki
kamailio_pki "$kpki"; ok $? "a SIPS PKI separate from the keyagent's"

# The disclosure daemon, then Kamailio with the shipped configuration.
dsock=$run/kamailio-disclose.sock
kamailio_disclose_start "$dsock"
[ "$(stat -c %a "$dsock" 2>/dev/null)" = 600 ]; ok $? "srtprec-kamailio-disclose listens on a 0600 socket"
# exec_msg() runs the tool through a wrapper that keeps the command line
# and the environment Kamailio gave it (searched for keys at the end).
kam_disclose=$run/disclose-wrap
printf '%s\n' '#!/bin/sh' \
    "{ tr '\\0' ' ' </proc/\$\$/cmdline; echo; } >>'$run/exec_cmdline'" \
    "tr '\\0' '\\n' </proc/\$\$/environ >>'$run/exec_environ'" \
    "exec '$build/tools/srtprec-kamailio-disclose' \"\$@\"" >"$kam_disclose"
chmod +x "$kam_disclose"
kamailio_start "$kport" "$kpki" "$dsock"; ok $? "kamailio starts with etc/kamailio/kamailio.cfg"
# Kamailio's TLS names only its own PKI, and neither CA signed the other
# side's identity.
! grep -q "$pki" "$run/tls.cfg" "$top/etc/kamailio/kamailio.cfg" &&
    ! openssl verify -CAfile "$kpki/ca.crt" "$pki/keyagent.crt" >/dev/null 2>&1 &&
    ! openssl verify -CAfile "$pki/ca.crt" "$kpki/kamailio.crt" >/dev/null 2>&1 &&
    openssl verify -CAfile "$kpki/ca.crt" "$kpki/kamailio.crt" >/dev/null 2>&1
ok $? "Kamailio's TLS files and the keyagent's are separate (neither CA accepts the other's certificate)"

kamailio_phones "$kport" "$sip_a" "$sip_b" "$ra" "$rb"; ok $? "tones generated, softphones configured"

lo_sniff "$run/cap.pcap" "$filter" "$run/sniff.stop" 450
bg_pids+=($sniff_pid)

kamailio_phones_up 45
stamp() { date +%s.%N >"$run/t_$1"; }
# The keyagent's counters (kmetric, wait_kmetric: tests/lib/kamailio.sh):
# NOTIFYs carrying a call's keys to the recorder (disclosures_total) and
# control commands refused.

# Call 1: A calls B, holds it, resumes it; B hangs up.
baresip_ctl "$ctl_a" dial "sip:b@127.0.0.1;transport=tls" &&
    stack_wait_log "$run/a.log" "Call established" 15
ok $? "A called B through Kamailio: SRTP call established"
wait_kmetric disclosures_total 1 5; stamp est1
sleep 2; stamp hold1
d=$(kmetric disclosures_total)
baresip_ctl "$ctl_a" hold && wait_kmetric disclosures_total $((d + 1)) 10
ok $? "A held the call: its re-INVITE through Kamailio re-disclosed the keys to the recorder"
sleep 1.5
d=$(kmetric disclosures_total)
baresip_ctl "$ctl_a" resume && wait_kmetric disclosures_total $((d + 1)) 10
ok $? "A resumed the call: the second re-INVITE re-disclosed them too"
stamp resume1; sleep 2; stamp bye1
baresip_ctl "$ctl_b" hangup && stack_wait_recordings 1 20
ok $? "B hung up: its BYE through Kamailio sealed the first call's recording"

# Call 2: the disclosure daemon is down while A calls B; it starts 3 s into
# the call and first hears of it in A's hold re-INVITE.
kill -TERM "$disclose_pid"; wait "$disclose_pid"
baresip_ctl "$ctl_a" dial "sip:b@127.0.0.1;transport=tls" &&
    wait_count "$run/a.log" "Call established" 2 15
ok $? "A called B again, the disclosure daemon stopped"
stamp est2; sleep 3; stamp late2
kamailio_disclose_start "$dsock"
d=$(kmetric disclosures_total)
baresip_ctl "$ctl_a" hold && wait_kmetric disclosures_total $((d + 1)) 10
ok $? "the restarted daemon disclosed the call at its hold re-INVITE"
sleep 1.5; stamp bye2
baresip_ctl "$ctl_b" hangup && stack_wait_recordings 2 20
ok $? "B hung up: the BYE sealed the second call's recording"
# The tool's command line and environment, and Kamailio's, while it runs.
for p in "$disclose_pid" "$(cat "$kam_pidfile")"; do
    tr '\0' '\n' <"/proc/$p/cmdline" >>"$run/proc_cmdline"; tr '\0' '\n' <"/proc/$p/environ" >>"$run/proc_environ"
done

# Call 3: B rings without answering and A hangs up: its CANCEL through
# Kamailio ends the attempt (487); the offer the tool kept is never
# disclosed (no command reaches the keyagent, no recording).
c=$(kmetric control_commands_total); d=$(kmetric disclosures_total)
kamailio_cancelled_call
ok $? "A called B, B rang, A hung up: its CANCEL through Kamailio ended the call unanswered (487)"
sleep 0.5 # the keyagent's metrics file: every 200 ms
[ "$(kmetric control_commands_total)" = "$c" ] && [ "$(kmetric disclosures_total)" = "$d" ] &&
    [ "$(kmetric calls)" = 0 ]
ok $? "the cancelled call was never disclosed (keyagent commands $c -> $(kmetric control_commands_total), calls held $(kmetric calls))"
tail -3 "$run/disclose.log" | diag
[ "$(kmetric control_errors_total)" = 0 ]
ok $? "the keyagent refused none of the tool's commands ($(kmetric control_commands_total) applied)"
baresip_ctl "$ctl_a" quit; baresip_ctl "$ctl_b" quit
wait "$a_pid"; wait "$b_pid"
touch "$run/sniff.stop"; wait "$sniff_pid"
ok $? "scapy wrote the capture file ($(tail -1 "$run/sniff.log") frames)"
kamailio_stop
! grep -Eq 'inline:|a=crypto' "$run/kamailio.log" "$run/disclose.log" "$run/disclose.out"
ok $? "no key in Kamailio's or the disclosure tool's output"
bg_pids=()

# Each INVITE A sent (its offer) and each 200 with SDP it received (the
# answer), in order, as A's SIP trace shows them: sdp_<n>_offer/answer with
# the Call-ID, n = 1.. in the order sent (call 1: 1-3, call 2: 4-5).
tr -d '\r' <"$run/a.log" | awk -v d="$run" '
    /^INVITE sip:/ { n++; m = d "/sdp_" n "_offer"; hd = 1; body = 0; next }
    /^SIP\/2.0 200/ { m = ""; hd = 1; body = 0; ok = 1; next }
    /\033\[/ { m = ""; hd = 0; body = 0; ok = 0; next }
    hd && /^Call-ID:/ && m != "" { print $2 > (m ".cid") }
    hd && /^CSeq: .* INVITE/ && ok { m = d "/sdp_" n "_answer" }
    hd && /^$/ { hd = 0; body = 1; next }
    body && m != "" { print > (m ".sdp") }'
cid1=$(cat "$run/sdp_1_offer.cid" 2>/dev/null); cid2=$(cat "$run/sdp_4_offer.cid" 2>/dev/null)
cid3=$(cat "$run/sdp_6_offer.cid" 2>/dev/null) # the cancelled call
for k in 1 2 3 4 5; do
    grep -q "a=crypto" "$run/sdp_${k}_offer.sdp" && grep -q "a=crypto" "$run/sdp_${k}_answer.sdp" || break
done
[ "$k" = 5 ] && [ -n "$cid1" ] && [ -n "$cid2" ] && [ "$cid1" != "$cid2" ] &&
    [ "$(cat "$run/sdp_3_offer.cid")" = "$cid1" ] && [ "$(cat "$run/sdp_5_offer.cid")" = "$cid2" ]
ok $? "five offers and answers with a=crypto from A's SIP trace (Call-IDs $cid1, $cid2)"
stack_stop
# Every SRTP master key and salt the phones exchanged (their own SIP traces:
# a.log, b.log), as base64, hex or raw bytes, is in no other file under the
# run directory: Kamailio's log (at the shipped debug level 2: Kamailio's
# core logs whole messages at 3), the tool's, the daemons', the index, the
# archives, the metrics, and the command lines and environments the tool and
# Kamailio ran with (exec_*, proc_*).  Skipped: the traces, what this test
# cut out of them (sdp_*) and the capture (media only).
/usr/bin/python3 - "$run" <<'PY' 2>&1 | diag
import base64, os, re, sys
run = sys.argv[1]
keys = set()
for f in ("a.log", "b.log"):
    keys.update(re.findall(rb"inline:([A-Za-z0-9+/=]{40})", open(os.path.join(run, f), "rb").read()))
forms = [k for b in keys for k in (b, base64.b64decode(b), base64.b64decode(b).hex().encode())]
seen, bad = 0, []
for d, _, names in os.walk(run):
    for n in names:
        p = os.path.join(d, n)
        r = os.path.relpath(p, run)
        if r in ("a.log", "b.log", "cap.pcap") or r.startswith("sdp_") or not os.path.isfile(p):
            continue
        data = open(p, "rb").read()
        seen += 1
        bad += [r for k in forms if k in data][:1]
print("%d keys, %d files searched, keys found in: %s" % (len(keys), seen, bad or "none"))
sys.exit(0 if len(keys) >= 4 and seen > 10 and not bad and
         os.path.getsize(os.path.join(run, "exec_environ")) > 0 else 1)
PY
ok "${PIPESTATUS[0]}" "no key in any file: logs, index, archives, the tool's and Kamailio's command lines and environments"
prom=$run/recorder.prom
sed 's/^/# /' "$prom" | grep -v '^# #' | grep -E "capture|dropped|recorded|held|roc_search|rekeys" >&2
metric() { awk -v m="$1" '$1 == m {print $2}' "$prom"; }
cli() { "$build/tools/srtprec" "$@" --cert="$pki/auditor.crt" --key="$pki/auditor.key"; }
row() { sqlite3 "$run/index.sqlite" "select $2 from recordings where call_id = '$1'"; }
# baresip sends a few SRTCP packets after the dialog ended (seconds after
# the BYE); they land, still encrypted, in an unmatched archive: nothing
# in it was decrypted, nothing is lost.
[ "$(sqlite3 "$run/index.sqlite" "select count(*) from recordings where call_id not like 'unmatched-%'")" = 2 ] &&
    [ "$(row "$cid1" 'count(*)')" = 1 ] && [ "$(row "$cid2" 'count(*)')" = 1 ] &&
    [ -n "$cid3" ] && [ "$(row "$cid3" 'count(*)')" = 0 ]
ok $? "one recording per call: the first held and resumed (two re-disclosures) is still one row; none for the cancelled one"
# state 1: complete (sealed by the call's END, not by shutdown or recovery)
[ "$(row "$cid1" state)" = 1 ] && [ "$(row "$cid2" state)" = 1 ]
ok $? "both rows sealed complete by the BYE (state $(row "$cid1" state), $(row "$cid2" state))"
# Kamailio's dialog module gives whole seconds: the second call's row starts
# at its 200 (within the second before it was seen established), not at
# the disclosure 3 s later.
start2=$(row "$cid2" start_us)
/usr/bin/python3 - "${start2:-0}" "$(cat "$run/t_est2")" "$(cat "$run/t_late2")" <<'PY'
import sys
start, est, late = int(sys.argv[1]) / 1e6, float(sys.argv[2]), float(sys.argv[3])
print("# start %.3f, established %.3f, daemon restarted %.3f" % (start, est, late), file=sys.stderr)
sys.exit(0 if est - 3 <= start <= est and start < late - 2 else 1)
PY
ok $? "the late-disclosed call's row starts at the dialog's start from Kamailio, before the disclosure"
[ "$(metric srtprec_recorder_roc_search_found_total)" = 2 ] &&
    [ "$(metric srtprec_recorder_roc_search_failed_total)" = 0 ] &&
    [ "$(metric srtprec_recorder_roc_search_attempts_total)" -ge 2 ]
ok $? "ROC search: the late call's two streams found ($(metric srtprec_recorder_roc_search_attempts_total) attempts counted)"

key_of() { awk '/a=crypto/ {sub(/.*inline:/, ""); sub(/[|[:space:]].*/, ""); print; exit}' "$1"; }
port_of() { awk '/^m=audio/ {print $2; exit}' "$1"; }
for c in 1 2; do
    if [ $c = 1 ]; then cid=$cid1 o=1; else cid=$cid2 o=4; fi
    id=$(row "$cid" id)
    cli info "$run/archive/$id.srec" >"$run/info_$c.txt" 2>&1; diag <"$run/info_$c.txt"
    cli export --format=wav "$run/archive/$id.srec" "$run/call_$c.wav" 2>&1 | diag
    used=""
    for side in a b; do
        if [ $side = a ]; then sdp=$run/sdp_${o}_offer.sdp; else sdp=$run/sdp_${o}_answer.sdp; fi
        dec=$run/dec_$c$side
        # In capture order (the tone check), and placed by RTP timestamp, a
        # hold's gap as silence (as the WAV export places it: pcm_match).
        for t in "" timeline; do
            npk=$("$build/tests/recorder/srtp_pcap_dec" "$run/cap.pcap" "127.0.0.1:$(port_of "$sdp")" \
                "$(key_of "$sdp")" "$dec$t.ul" $t | awk '{print $1}')
        done
        ffmpeg -nostdin -loglevel error -f mulaw -ar 8000 -ac 1 -i "${dec}timeline.ul" -f s16le -y "$dec.s16"
        ch=""
        for k in 0 1; do
            case " $used " in *" $k "*) continue ;; esac
            "$build/tests/integration/pcm_match" "$run/call_$c.wav" "$k" "$dec.s16" >"$run/m_$c$side$k.txt" 2>&1 &&
                { ch=$k; break; }
        done
        diag <"$run/m_$c$side${ch:-1}.txt"
        [ -n "$ch" ] && [ "${npk:-0}" -gt 100 ]
        ok $? "call $c: $side's stream (channel ${ch:-none}) equals libsrtp2's decryption of the capture (${npk:-0} packets)"
        used="$used $ch"
        tone_in_order "$dec.ul" "$run/sent_$side.ul" 2 2>&1 | diag
        ok "${PIPESTATUS[0]}" "call $c: $side's decrypted audio is the tone $side sent, in order (mu-law within one level of ffmpeg's encoding)"
    done
done
# Audio before the hold and after the resume in the first call: packets of
# each side on the wire (the archive equals their decryption, above).
/usr/bin/python3 - "$run/cap.pcap" "$(port_of "$run/sdp_1_offer.sdp")" "$(port_of "$run/sdp_1_answer.sdp")" \
    "$(cat "$run/t_est1")" "$(cat "$run/t_hold1")" "$(cat "$run/t_resume1")" "$(cat "$run/t_bye1")" <<'PY' 2>&1 | diag
import sys
from scapy.all import UDP, rdpcap
cap, pa, pb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
est, hold, resume, bye = map(float, sys.argv[4:8])
pk = [p for p in rdpcap(cap) if UDP in p]
bad = 0
for name, port in (("a", pa), ("b", pb)):
    # lo shows each datagram twice (out and in): count sequence numbers.
    seqs = lambda t0, t1: len({bytes(p[UDP].payload)[2:4] for p in pk
                               if p[UDP].sport == port and t0 <= float(p.time) < t1})
    before, after = seqs(est, hold), seqs(resume + 0.3, bye)
    print("%s: %d RTP packets before the hold, %d after the resume" % (name, before, after))
    bad += before < 50 or after < 40 # of 100 and 85
sys.exit(bad)
PY
ok "${PIPESTATUS[0]}" "call 1: both sides' audio on the wire before the hold and after the resume"
for r in auth replay kernel; do
    v=$(metric "srtprec_recorder_packets_dropped_total{reason=\"$r\"}")
    [ "${v:-x}" = 0 ]; ok $? "no packet dropped for reason $r (${v:-missing})"
done
# baresip sends 3-4 plaintext RTCP APP packets a call: counted malformed.
v=$(metric 'srtprec_recorder_packets_dropped_total{reason="malformed"}')
[ "${v:-99}" -le 8 ]; ok $? "malformed only baresip's few plaintext RTCP packets (${v:-missing})"
[ "$(metric srtprec_recorder_packets_held_total)" -gt 100 ]
ok $? "packets before each disclosure were held, then recorded ($(metric srtprec_recorder_packets_held_total))"
! grep -Eq "AddressSanitizer|LeakSanitizer|runtime error" "$run"/*.log; ok $? "no sanitizer report from the daemons"
tap_end
