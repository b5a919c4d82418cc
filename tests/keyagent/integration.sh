#!/bin/bash
# Integration test of srtprec-keyagent on 127.0.0.1 (TAP output).
#   integration.sh KEYAGENT KA_CTL KA_SUB MKCERTS ENDPOINT_SIM SDP_DISCLOSE KA_HOLD KAM_DISCLOSE
#                  KA_ENDPOINT
# Starts the real daemon with throwaway certificates on an ephemeral port
# (port-file), drives the control socket with ka_ctl, subscribes with ka_sub
# (mutual TLS), then stops the daemon.  Every wait is bounded; the daemon is
# killed on exit whatever happens.
set -u
KA=$1 CTL=$2 SUB=$3 MKCERTS=$4 SIM=$5 SDPD=$6 HOLD=$7 KAMD=$8 EXAMPLE=$9
K30=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd
work=$(mktemp -d /tmp/ka-it.XXXXXX)
pid= kpid=
n=0 failed=0

cleanup() {
    [ -n "$kpid" ] && kill "$kpid" 2>/dev/null && wait "$kpid" 2>/dev/null
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    if [ "$failed" -ne 0 ]; then
        echo "# keyagent log:"; sed 's/^/#   /' "$work/ka.log" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT

ok() { # cond-exit-status description
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}

sh "$MKCERTS" "$work/certs" || { echo "1..0 # SKIP cannot make certificates"; exit 0; }
c=$work/certs
cat > "$work/ka.conf" <<CONF
[keyagent]
listen = 127.0.0.1:0
entity = sip:keyagent@example.net
tls-cert = $c/keyagent.crt
tls-key = $c/keyagent.key
tls-ca = $c/ca.crt
allow = sip:recorder@example.net, sip:other-recorder@example.net
control-socket = $work/ka.sock
disclosure-log = $work/disclosure.log
port-file = $work/port
log-level = info
CONF

timeout 100 "$KA" --config="$work/ka.conf" 2>"$work/ka.log" &
pid=$!
for _ in $(seq 1 200); do
    [ -s "$work/port" ] && [ -S "$work/ka.sock" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
[ -s "$work/port" ]; ok $? "daemon started and wrote its port"
port=$(cat "$work/port" 2>/dev/null || echo 0)

mode=$(stat -c %a "$work/ka.sock" 2>/dev/null)
[ "$mode" = 660 ]; ok $? "control socket mode 0660 (got $mode)"

# Control protocol: each line, its expected answer.
cat > "$work/lines" <<LINES
PING
VERSION
CALL it-call-1@ep ltag rtag sip:agent1@callcentre.example sip:customer1@pstn.example
CALL it-call-1@ep ltag rtag sip:agent1@callcentre.example sip:customer1@pstn.example
STREAM it-call-1@ep tx send 0badf00d 0 PCMU 8000 127.0.0.1:4000 127.0.0.1:5000 AES_CM_128_HMAC_SHA1_80 inline:$K30 0 100
STREAM it-call-1@ep tx send 0badf00d 0 PCMU 8000 127.0.0.1:4000 127.0.0.1:5000 AES_CM_128_HMAC_SHA1_80 inline:$K30 0 100
STREAM nosuchcall tx send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:$K30 0 100
STREAM it-call-1@ep rx recv - 0 PCMU 8000 - - AES_CM_192_HMAC_SHA1_80 inline:$K30 0 100
STREAM it-call-1@ep rx recv - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:$K30 0 100
PAUSE it-call-1@ep rx
RESUME it-call-1@ep rx
PAUSE it-call-1@ep nosuch
CALL  two-spaces a b sip:a@b sip:c@d
HELLO
END
LINES
cat > "$work/expected" <<EXP
OK
OK
OK
ERR call exists
OK
ERR stream exists (use REKEY)
ERR no such call
ERR unknown crypto suite
OK
OK
OK
ERR no such stream
ERR bad token (empty, space run or non-printable byte)
ERR unknown command
ERR END takes 1 argument
EXP
timeout 20 "$CTL" "$work/ka.sock" < "$work/lines" > "$work/answers" 2>"$work/ctl.err"
ok $? "ka_ctl ran"
diff -u "$work/expected" "$work/answers" | sed 's/^/# /'
cmp -s "$work/expected" "$work/answers"; ok $? "control answers OK/ERR as documented"
ver=$(timeout 10 python3 -c 'import socket,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"VERSION\n"); print(s.recv(64).decode().strip())' "$work/ka.sock")
[ "$ver" = "OK 2" ]; ok $? "VERSION answers the control protocol revision (got: $ver)"

sub() { timeout 20 "$SUB" --port="$port" --ca="$c/ca.crt" "$@" 2>&1 | sed 's/^/# /'; return "${PIPESTATUS[0]}"; }

sub --cert="$c/recorder.crt" --key="$c/recorder.key" --expect-status=200 \
    --expect-call=it-call-1@ep --expect-key=$K30 \
    --ctl="$work/ka.sock" --end-call=it-call-1@ep --unsubscribe
ok $? "authorised recorder: 200, full state with the key, partial on END, unsubscribe"

sub --cert="$c/intruder.crt" --key="$c/intruder.key" --expect-status=403
ok $? "unauthorised certificate: 403 and no NOTIFY"

sub --cert="$c/recorder.crt" --key="$c/recorder.key" --event=presence --expect-status=489
ok $? "wrong Event: 489"

sub --cert="$c/recorder.crt" --key="$c/recorder.key" --expires=10 --expect-status=423
ok $? "Expires below the minimum: 423"

sub --cert="$c/foreign.crt" --key="$c/foreign.key" --expect-tls-fail
ok $? "certificate from a foreign CA: TLS refused"

grep -q "sip:recorder@example.net.*it-call-1@ep" "$work/disclosure.log"
ok $? "disclosure log records who received the call's keys"
"$KA" --verify-disclosure-log="$work/disclosure.log" | sed 's/^/# /'
ok "${PIPESTATUS[0]}" "disclosure log chain verifies"
! grep -q "$K30" "$work/disclosure.log" "$work/ka.log"
ok $? "no key material in the disclosure log or the daemon log"
! grep -q "intruder.*it-call" "$work/disclosure.log"
ok $? "nothing disclosed to the intruder"

# The SDP helper: an offer/answer pair disclosed through the control socket;
# the local SDP's key (tag 2, chosen by the answer) keys the send stream.
KSDP_L=AgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f
KSDP_R=AwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g
printf 'v=0\r\no=pbx 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/SAVP 0 8\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:%s\r\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:%s|2^20|1:1\r\na=ssrc:12345 cname:pbx\r\n' \
    "$K30" "$KSDP_L" > "$work/local.sdp"
printf 'v=0\r\no=gw 2 2 IN IP4 127.0.0.2\r\ns=-\r\nt=0 0\r\nm=audio 50000 RTP/SAVP 8\r\nc=IN IP4 127.0.0.2\r\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:%s|2^20|7:1\r\n' \
    "$KSDP_R" > "$work/remote.sdp"
SD=(--call-id=sdp-call-1@pbx --local-aor=sip:agent2@callcentre.example
    --remote-aor=sip:customer2@pstn.example --local-sdp="$work/local.sdp" --remote-sdp="$work/remote.sdp")
timeout 20 "$SDPD" --control="$work/ka.sock" "${SD[@]}" --start=2026-01-01T00:00:00Z 2>&1 | sed 's/^/# /'
ok "${PIPESTATUS[0]}" "srtprec-sdp-disclose discloses an offer/answer pair"
sub --cert="$c/recorder.crt" --key="$c/recorder.key" --expect-status=200 \
    --expect-call=sdp-call-1@pbx --expect-key=$KSDP_L --expect-roc-unknown --expect-start=1767225600
ok $? "subscriber receives the SDP call with the local SDP's key on its send stream, ROC unknown, the start given"
timeout 20 "$SDPD" --control="$work/ka.sock" "${SD[@]}" > /dev/null 2>&1
[ $? -eq 1 ]; ok $? "disclosing the same Call-ID again: refused (exit 1)"
timeout 20 "$SDPD" --control="$work/ka.sock" "${SD[@]/sdp-call-1/sdp-call-2}" \
    --remote-sdp="$work/local.sdp" > /dev/null 2>&1
[ $? -eq 1 ]; ok $? "two offers (no answer): refused before anything is sent (exit 1)"
printf 'v=0\r\nm=audio 1 RTP/SAVP 0\r\na=crypto:1 F8_128_HMAC_SHA1_80 inline:%s\r\n' "$K30" > "$work/bad.sdp"
timeout 20 "$SDPD" --control="$work/ka.sock" "${SD[@]}" --remote-sdp="$work/bad.sdp" 2>&1 | sed 's/^/# /'
[ "${PIPESTATUS[0]}" -eq 1 ]; ok $? "unknown suite in the SDP: refused (exit 1)"
printf 'END sdp-call-1@pbx\n' | timeout 20 "$CTL" "$work/ka.sock" > "$work/answers3"
grep -q '^OK' "$work/answers3"; ok $? "SDP call ENDed"
! grep -q -e "$KSDP_L" -e "$KSDP_R" "$work/disclosure.log" "$work/ka.log"
ok $? "no SDP key material in the disclosure log or the daemon log"

# Kamailio's path for a dialog it first sees in a re-INVITE (its daemon
# started mid-call): the tool does not know the ROC and says so; the
# messages go in as the shipped configuration hands them over (standard
# input): in a message/sip carrier whose Srtprec-Dialog-Start is when
# Kamailio's dialog module saw the dialog begin.
timeout 60 "$KAMD" --serve --listen="$work/kam.sock" --control="$work/ka.sock" 2>"$work/kam.log" &
kpid=$!
for _ in $(seq 1 100); do [ -S "$work/kam.sock" ] && break; sleep 0.05; done
kam_msg() { # start-line to-tag cseq file [tool flag...]; Call-ID $KM_CID
    local body inner; body=$(cat "$4")
    inner=$(printf '%s\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK%s\r\nFrom: <sip:agent3@callcentre.example>;tag=ft1\r\nTo: <sip:customer3@pstn.example>;tag=%s\r\nCall-ID: %s\r\nCSeq: %s INVITE\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s' \
        "$1" "$3" "$2" "${KM_CID:-kam-late@pbx}" "$3" "${#body}" "$body")
    printf 'MESSAGE sip:srtprec@localhost SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKsrtprec\r\nFrom: <sip:kamailio@localhost>;tag=srtprec\r\nTo: <sip:srtprec@localhost>\r\nCall-ID: kam-late@pbx\r\nCSeq: 1 MESSAGE\r\nSrtprec-Dialog-Start: 1767225600\r\nContent-Type: message/sip\r\nContent-Length: %d\r\n\r\n%s' \
        "${#inner}" "$inner" | timeout 10 "$KAMD" --listen="$work/kam.sock" "${@:5}"
}
kam_msg "INVITE sip:customer3@pstn.example SIP/2.0" tt1 7 "$work/local.sdp" | sed 's/^/# /'
kam_msg "SIP/2.0 200 OK" tt1 7 "$work/remote.sdp" > "$work/kam.answer"
sed 's/^/# /' "$work/kam.answer"
grep -q '^OK disclosed 2 streams roc-unknown (mid-call disclosure), dialog start known' "$work/kam.answer"
ok $? "srtprec-kamailio-disclose: a dialog first seen in a re-INVITE is disclosed, ROC unknown, its start known"
sub --cert="$c/recorder.crt" --key="$c/recorder.key" --expect-status=200 \
    --expect-call=kam-late@pbx --expect-key=$KSDP_L --expect-roc-unknown --expect-start=1767225600
ok $? "subscriber receives the mid-call dialog with every ROC unknown and the carrier's dialog start"
# A re-INVITE that re-keys (new a=crypto key in the offer) and its 200: the
# tool's REKEY reaches the keyagent, whose NOTIFY carries the new key
# (baresip re-sends its keys on hold: interop_kamailio never re-keys).
KREKEY=BQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fICEi
sed "s|$KSDP_L|$KREKEY|" "$work/local.sdp" >"$work/rekey.sdp"
kam_msg "INVITE sip:customer3@pstn.example SIP/2.0" tt1 8 "$work/rekey.sdp" | sed 's/^/# /'
kam_msg "SIP/2.0 200 OK" tt1 8 "$work/remote.sdp" | sed 's/^/# /'
sub --cert="$c/recorder.crt" --key="$c/recorder.key" --expect-status=200 \
    --expect-call=kam-late@pbx --expect-key=$KREKEY
ok $? "srtprec-kamailio-disclose: a re-INVITE with a new key re-keys the dialog (the subscriber gets the new key)"
printf 'END kam-late@pbx\n' | timeout 20 "$CTL" "$work/ka.sock" > /dev/null
# A phone behind a NAT (issue 16): its SDP names a private address its
# packets never come from.  By default the tool scopes each key to the
# SDP's c=/m= (the recorder would then never bind it); with --no-addresses
# (the configuration's SRTPREC_NO_ADDRESSES) src and dst go out as "-",
# and the recorder binds by authentication (tests/recorder/test_engine.c
# t_unscoped).
sed 's/127\.0\.0\.1/192.168.1.20/g' "$work/local.sdp" >"$work/nat.sdp"
nat_call() { # call-id [client flag]
    KM_CID=$1 kam_msg "INVITE sip:customer4@pstn.example SIP/2.0" tn1 1 "$work/nat.sdp" "${@:2}" |
        sed 's/^/# /'
    KM_CID=$1 kam_msg "SIP/2.0 200 OK" tn1 1 "$work/remote.sdp" "${@:2}"
}
nat_call nat-1@pbx > "$work/nat.answer"; sed 's/^/# /' "$work/nat.answer"
grep -q '^OK disclosed 2 streams roc-unknown' "$work/nat.answer" &&
    sub --cert="$c/recorder.crt" --key="$c/recorder.key" --expect-status=200 \
        --expect-call=nat-1@pbx --expect-addresses='192.168.1.20:40000>127.0.0.2:50000'
ok $? "srtprec-kamailio-disclose: by default a stream's src/dst are the SDP's (a NATed phone's private address)"
nat_call nat-2@pbx --no-addresses > "$work/nat.answer"; sed 's/^/# /' "$work/nat.answer"
grep -q '^OK disclosed 2 streams addresses-unknown roc-unknown' "$work/nat.answer" &&
    sub --cert="$c/recorder.crt" --key="$c/recorder.key" --expect-status=200 \
        --expect-call=nat-2@pbx --expect-addresses='->-'
ok $? "srtprec-kamailio-disclose --no-addresses: src and dst unknown ('-'), the recorder binds by authentication"
printf 'END nat-1@pbx\nEND nat-2@pbx\n' | timeout 20 "$CTL" "$work/ka.sock" > /dev/null
# The tool's client still keeps the call (the END went round it) and would
# disclose it again to the keyagents started below: stop it here.
kill "$kpid" 2>/dev/null; wait "$kpid" 2>/dev/null; kpid=

# The annotated example for integrators (examples/ka-endpoint.c, built on
# the shared libka): keys on standard input, a call held 2 s, then ended.
K30C=AgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f
printf '%s\n%s\n' "$K30C" "$K30" |
    timeout 20 "$EXAMPLE" "$work/ka.sock" example-1@ep sip:agent9@callcentre.example \
        sip:customer9@pstn.example 127.0.0.1:41000 127.0.0.1:51000 2 >"$work/example.out" 2>&1 &
expid=$!
for _ in $(seq 1 100); do grep -q '^disclosed' "$work/example.out" && break; sleep 0.05; done
sub --cert="$c/recorder.crt" --key="$c/recorder.key" --expect-status=200 \
    --expect-call=example-1@ep --expect-key=$K30C
ok $? "examples/ka-endpoint: its call and TX key reach a subscriber"
wait "$expid"; rc=$?
sed 's/^/# /' "$work/example.out"
[ "$rc" = 0 ] && grep -q '^connected: control protocol revision 2$' "$work/example.out" &&
    grep -q '^ended example-1@ep$' "$work/example.out"
ok $? "examples/ka-endpoint: revision 2 negotiated, the call ended, exit 0 (status $rc)"

# The endpoint simulator discloses through the control socket, sends SRTP to
# a UDP port nobody reads (loopback drops it), ends its calls, writes its files.
timeout 30 "$SIM" --control="$work/ka.sock" --recorder="127.0.0.1:$port" --calls=2 \
    --duration-ms=200 --out-dir="$work/sim" --seed=7 2>&1 | sed 's/^/# /'
ok "${PIPESTATUS[0]}" "endpoint simulator ran"
rows=$(tail -n +2 "$work/sim/manifest.tsv" 2>/dev/null | wc -l)
[ "$rows" -eq 4 ]; ok $? "manifest lists 4 streams (got $rows)"
sizes_ok=0
while IFS=$'\t' read -r cid sid dir ssrc packets file; do
    [ "$packets" -eq 10 ] && [ "$(stat -c %s "$work/sim/$file")" -eq $((packets * 160)) ] || sizes_ok=1
done < <(tail -n +2 "$work/sim/manifest.tsv" 2>/dev/null)
[ "$rows" -eq 4 ] && [ "$sizes_ok" -eq 0 ]; ok $? "10 packets of 160 mu-law bytes per stream"
grep -q "call .*@sim.callcentre.example ends" "$work/ka.log"; ok $? "simulator ENDed its calls"
! grep -rq "inline:" "$work/sim"; ok $? "simulator wrote no key material"

# SIGHUP reloads (issue 12, item 8): the allow list, re-read from the file,
# applies to new SUBSCRIBEs; the process and a live subscription stay up.
# $pid is timeout(1), which passes the signal on; kapid is the daemon.
kapid=$(ps -o pid= --ppid "$pid" | tr -d ' ')
alive() { kill -0 "$kapid" 2>/dev/null; }
sed -i 's|^allow = .*|allow = sip:recorder@example.net, sip:intruder@example.net|' "$work/ka.conf"
sub --cert="$c/recorder.crt" --key="$c/recorder.key" --expect-status=200 --hup-pid="$kapid" \
    --ctl="$work/ka.sock" --ctl-line="CALL hup-1@ep l r sip:a@cc.example sip:b@pstn.example" \
    --ctl-line="STREAM hup-1@ep a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:$K30 0 1" \
    --expect-partial-call=hup-1@ep
ok $? "SIGHUP: a live subscription stays up and still gets a partial NOTIFY"
alive; ok $? "SIGHUP: the keyagent is still running"
sub --cert="$c/intruder.crt" --key="$c/intruder.key" --expect-status=200 --expect-call=hup-1@ep \
    --expect-key=$K30
ok $? "SIGHUP: an identity added to the allow list subscribes (200, full state)"
sed -i 's|^allow = .*|allow = sip:recorder@example.net;colour=blue|' "$work/ka.conf"
kill -HUP "$kapid"; sleep 0.3
alive && sub --cert="$c/intruder.crt" --key="$c/intruder.key" --expect-status=200
ok $? "SIGHUP with a malformed allow list: the old list stays"
sed -i -e 's|^allow = .*|allow = sip:recorder@example.net|' \
    -e "s|^tls-cert = .*|tls-cert = $work/no-such.crt|" "$work/ka.conf"
kill -HUP "$kapid"; sleep 0.3
sub --cert="$c/intruder.crt" --key="$c/intruder.key" --expect-status=403
ok $? "SIGHUP: an identity removed from the allow list gets 403"
alive && sub --cert="$c/recorder.crt" --key="$c/recorder.key" --expect-status=200
ok $? "SIGHUP with an unreadable tls-cert: new connections keep the old certificate"
sed -i "s|^tls-cert = .*|tls-cert = $c/keyagent.crt|" "$work/ka.conf"
kill -HUP "$kapid"; sleep 0.3
alive && sub --cert="$c/recorder.crt" --key="$c/recorder.key" --expect-status=200
ok $? "SIGHUP: TLS context reloaded; new connections still verify"

kill -TERM "$pid"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
wait "$pid"; rc=$?
pid=
[ "$rc" -eq 0 ]; ok $? "SIGTERM: clean exit (status $rc)"
[ ! -e "$work/ka.sock" ]; ok $? "control socket removed on exit"

# Phase 2: the same log reopened; a lawful-intercept style allow entry that
# only matches calls with the party sip:target@pstn.example; metrics file.
K30B=AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0e
sed -i -e 's|^allow = .*|allow = sip:recorder@example.net;aor=sip:target@pstn.example|' \
    -e 's|^log-level = .*|log-level = debug|' "$work/ka.conf"
echo "metrics-file = $work/metrics.prom" >> "$work/ka.conf"
rm -f "$work/port"
timeout 100 "$KA" --config="$work/ka.conf" 2>"$work/ka2.log" &
pid=$!
for _ in $(seq 1 200); do
    [ -s "$work/port" ] && [ -S "$work/ka.sock" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
[ -s "$work/port" ]; ok $? "daemon restarted on the existing disclosure log"
port=$(cat "$work/port" 2>/dev/null || echo 0)
st() { echo "STREAM $1 a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:$2 0 1"; }
printf '%s\n' "CALL li-1 l r sip:agent@cc.example sip:target@pstn.example" "$(st li-1 $K30)" \
    "CALL other-1 l r sip:agent@cc.example sip:someone@pstn.example" "$(st other-1 $K30B)" \
    | timeout 20 "$CTL" "$work/ka.sock" > "$work/answers2"
[ "$(grep -c '^OK' "$work/answers2")" -eq 4 ]; ok $? "two calls set up"
R=(--cert="$c/recorder.crt" --key="$c/recorder.key" --expect-status=200 --ctl="$work/ka.sock")
sub "${R[@]}" --expect-calls=1 --expect-call=li-1 --expect-key=$K30 --expect-no-call=other-1 \
    --ctl-line="CALL other-2 l r sip:x@cc.example sip:y@pstn.example" \
    --ctl-line="$(st other-2 $K30B)" --ctl-line="END other-1" --expect-no-notify
ok $? "filtered subscriber: full state holds only the target's call; other calls' changes are silent"
sub "${R[@]}" --expect-calls=1 --expect-no-call=other-2 \
    --ctl-line="CALL li-2 l r sip:target@pstn.example sip:z@cc.example" \
    --ctl-line="$(st li-2 $K30)" --expect-partial-call=li-2
ok $? "filtered subscriber: a new target call arrives in a partial NOTIFY"
printf 'call-id other-2\n' > "$work/widen"
sub "${R[@]}" --filter-file="$work/widen" --expect-calls=0
ok $? "a SUBSCRIBE body cannot widen the allow entry's filter"
printf '# only the first\r\ncall-id li-1\r\n' > "$work/narrow"
sub "${R[@]}" --filter-file="$work/narrow" --expect-calls=1 --expect-call=li-1 --expect-no-call=li-2 \
    --ctl-line="END li-2" --expect-no-notify
ok $? "a SUBSCRIBE body narrows to one call"
printf 'user bob\n' > "$work/badfilter"
sub --cert="$c/recorder.crt" --key="$c/recorder.key" --filter-file="$work/badfilter" \
    --expect-status=400
ok $? "a malformed filter body: 400, no NOTIFY"
! grep -q "other-" "$work/disclosure.log"; ok $? "no disclosure of a non-target call"
"$KA" --verify-disclosure-log="$work/disclosure.log" | sed 's/^/# /'
ok "${PIPESTATUS[0]}" "disclosure log chain verifies across restarts"
kill -TERM "$pid"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
wait "$pid"; rc=$?
pid=
[ "$rc" -eq 0 ]; ok $? "SIGTERM: clean exit (status $rc)"
sed 's/^/# /' "$work/metrics.prom" 2>/dev/null | grep -v "^# #"
grep -q '^srtprec_keyagent_refusals_total{reason="bad_filter"} 1$' "$work/metrics.prom" &&
    grep -Eq '^srtprec_keyagent_disclosures_total [1-9]' "$work/metrics.prom" &&
    grep -Eq '^srtprec_keyagent_notifies_total [1-9]' "$work/metrics.prom"
ok $? "metrics file written at exit with disclosures, NOTIFYs and refusals by reason"
! grep -q -e "$K30" -e "$K30B" "$work/disclosure.log" "$work/ka.log" "$work/ka2.log" "$work/metrics.prom"
ok $? "no key material in any log, even at debug level"

# Phase 3 (issue 12, item 7): kill -9 and restart under an endpoint with live
# calls.  The endpoint (ka_hold, the client library) polls as an endpoint's
# timer would; the new keyagent, which starts with no calls, must list them
# all again with their keys in its first full state.
sed -i 's|^allow = .*|allow = sip:recorder@example.net|' "$work/ka.conf"
start_ka() { # log
    rm -f "$work/port"
    timeout 100 "$KA" --config="$work/ka.conf" 2>"$1" &
    pid=$!
    for _ in $(seq 1 200); do
        [ -s "$work/port" ] && [ -S "$work/ka.sock" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    port=$(cat "$work/port" 2>/dev/null || echo 0)
    [ -s "$work/port" ]
}
start_ka "$work/ka3.log"; ok $? "daemon started for the restart test"
timeout 60 "$HOLD" --ctl="$work/ka.sock" --calls=3 --key=$K30B --seconds=30 --ready="$work/held" \
    --stop="$work/stop-hold" \
    > "$work/hold.out" 2>&1 &
holdpid=$!
for _ in $(seq 1 100); do [ -e "$work/held" ] && break; sleep 0.05; done
[ -e "$work/held" ]; ok $? "an endpoint disclosed 3 calls and keeps polling"
R=(--cert="$c/recorder.crt" --key="$c/recorder.key" --expect-status=200)
sub "${R[@]}" --expect-calls=3 --expect-call=hold-0@ep --expect-key=$K30B
ok $? "before the restart: 3 calls in the full state"
kapid=$(ps -o pid= --ppid "$pid" | tr -d ' ')
kill -KILL "$kapid"; wait "$pid" 2>/dev/null
start_ka "$work/ka4.log"; ok $? "keyagent restarted after kill -9 (no calls in memory)"
got=1
for _ in $(seq 1 40); do
    if timeout 20 "$SUB" --port="$port" --ca="$c/ca.crt" "${R[@]}" --expect-calls=3 \
        --expect-call=hold-2@ep --expect-key=$K30B > "$work/sub3.out" 2>&1; then got=0; break; fi
    sleep 0.1
done
sed 's/^/# /' "$work/sub3.out"
[ "$got" -eq 0 ]; ok $? "after the restart the endpoint re-disclosed: 3 calls with the same keys"
touch "$work/stop-hold"
wait "$holdpid"; rc=$?
sed 's/^/# /' "$work/hold.out"
[ "$rc" -eq 0 ] && grep -q "3 calls kept; connected yes" "$work/hold.out"
ok $? "the endpoint kept its calls and is connected to the new keyagent"
! grep -q "$K30B" "$work/ka3.log" "$work/ka4.log" "$work/hold.out"; ok $? "no key material in the logs"
kill -TERM "$pid"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
wait "$pid"; rc=$?
pid=
[ "$rc" -eq 0 ]; ok $? "SIGTERM: clean exit (status $rc)"

echo "1..$n"
[ "$failed" -eq 0 ]
