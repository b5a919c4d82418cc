#!/bin/bash
# Interop: the real srtprec-keyagent against independent peers (TAP output).
#   interop_keyagent.sh KEYAGENT KA_CTL MKCERTS SCENARIO_DIR
# - sipp (Debian sip-tester, built without TLS) SUBSCRIBEs over plain TCP to a
#   keyagent in lab mode and must receive the disclosed key in a full NOTIFY,
#   a partial NOTIFY when the call ends, and a terminated NOTIFY on unsubscribe.
# - The same sipp over mutual TLS through stunnel4 (client mode presenting the
#   recorder certificate, verifyChain on the keyagent's).
# - sipp through stunnel without a client certificate, with a foreign-CA
#   certificate, or with an authorised CA's unlisted certificate learns nothing.
# - openssl s_client against the TLS listener: no client certificate, a
#   foreign-CA certificate, TLS 1.0 and 1.1 all fail; the good one succeeds.
# - sipp building its dialog from the 200 (sipp_dialog.xml: rrs="true", the
#   unSUBSCRIBE to [next_url] with [routes]): sips: Contact in the 200 and in
#   NOTIFYs, the keyagent's subscription gauge 1 then 0, its NOTIFY counter +3.
# Every wait is bounded (timeout), every process is killed on exit.
set -u
KA=$1 CTL=$2 MKCERTS=$3 SCEN=$4
top=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib/stack.sh
. "$top/tests/lib/stack.sh"
K30=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd
work=$(mktemp -d /tmp/sip-interop.XXXXXX)
pids=()
n=0 failed=0

cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    if [ "$failed" -ne 0 ]; then
        for f in "$work"/*.log; do echo "# --- $f"; sed 's/^/#   /' "$f" | tail -n 80; done
    fi
    rm -rf "$work"
}
trap cleanup EXIT

ok() { # status description
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}

for tool in sipp stunnel4 openssl ss; do
    command -v "$tool" >/dev/null || { echo "1..0 # SKIP $tool not installed (tools/setup.sh test)"; exit 0; }
done
sh "$MKCERTS" "$work/certs" >/dev/null || { echo "1..0 # SKIP cannot make certificates"; exit 0; }
c=$work/certs

start_keyagent() { # name tls|tcp
    local d=$work/$1
    mkdir -p "$d"
    {
        echo "[keyagent]"
        echo "listen = 127.0.0.1:0"
        echo "entity = sip:keyagent@example.net"
        if [ "$2" = tls ]; then
            echo "tls-cert = $c/keyagent.crt"; echo "tls-key = $c/keyagent.key"; echo "tls-ca = $c/ca.crt"
        else
            echo "lab-allow-plain-tcp = yes"
        fi
        echo "allow = sip:recorder@example.net"
        echo "control-socket = $d/ka.sock"
        echo "disclosure-log = $d/disclosure.log"
        echo "port-file = $d/port"
        echo "log-level = info"
        echo "metrics-file = $d/ka.prom"
    } > "$d/ka.conf"
    timeout 120 "$KA" --config="$d/ka.conf" 2>"$work/$1-keyagent.log" &
    pids+=($!)
    for _ in $(seq 1 200); do
        [ -s "$d/port" ] && [ -S "$d/ka.sock" ] && break
        sleep 0.05
    done
    [ -s "$d/port" ] && [ -S "$d/ka.sock" ]
}

# Disclose one call with one keyed stream through the control socket.
disclose() { # name
    printf '%s\n' \
        "CALL interop-call-1@ep ltag rtag sip:agent1@cc.example sip:customer@pstn.example" \
        "STREAM interop-call-1@ep tx send 0badf00d 0 PCMU 8000 127.0.0.1:4000 127.0.0.1:5000 AES_CM_128_HMAC_SHA1_80 inline:$K30 0 100" \
        | timeout 10 "$CTL" "$work/$1/ka.sock" > "$work/$1/ctl.out" 2>&1
    [ "$(grep -c '^OK$' "$work/$1/ctl.out")" -eq 2 ]
}

# Run sipp's subscriber scenario against 127.0.0.1:PORT; once its first NOTIFY
# arrived, END the call so that the partial NOTIFY follows.  Returns sipp's status.
run_sipp() { # name port control-socket-or-empty
    local lport rc p
    local t0=$SECONDS
    lport=$(stack_free_port)
    (cd "$work" && exec timeout 40 sipp -sf "$SCEN/${SIPP_SCENARIO:-sipp_subscribe.xml}" -t t1 -m 1 -nostdin \
        -timeout 30s -timeout_error -i 127.0.0.1 -p "$lport" \
        -trace_msg -message_file "$work/$1-sipp-msg.log" -trace_err -error_file "$work/$1-sipp-err.log" \
        -trace_logs -log_file "$work/$1-sipp-vars.log" \
        "127.0.0.1:$2" > "$work/$1-sipp-screen.txt" 2>&1) &
    p=$!
    if [ -n "$3" ]; then
        for _ in $(seq 1 200); do
            grep -q 'state="full"' "$work/$1-sipp-msg.log" 2>/dev/null && break
            kill -0 "$p" 2>/dev/null || break
            sleep 0.05
        done
        ${SIPP_BEFORE_END:-:}
        echo "END interop-call-1@ep" | timeout 10 "$CTL" "$3" >/dev/null 2>&1
    fi
    wait "$p"; rc=$?
    echo "# sipp ($1) finished with status $rc after $((SECONDS - t0)) s"
    return "$rc"
}

received_notifies() { # name -> count of NOTIFY requests sipp received
    grep -A2 'message received' "$work/$1-sipp-msg.log" 2>/dev/null | grep -c '^NOTIFY '
}

# ---------------------------------------------------------------- plain TCP
start_keyagent tcp tcp; ok $? "lab keyagent (plain TCP) started"
disclose tcp; ok $? "call and key disclosed through the control socket"
run_sipp tcp "$(cat "$work/tcp/port")" "$work/tcp/ka.sock"
ok $? "sipp over TCP: 200, full NOTIFY with the key, partial NOTIFY on END, terminated on unsubscribe"
[ "$(received_notifies tcp)" -eq 3 ]; ok $? "sipp over TCP received exactly 3 NOTIFYs"
grep -q "inline:$K30" "$work/tcp-sipp-msg.log"; ok $? "the disclosed key travelled to sipp"

# ------------------------------------------------------ mutual TLS (stunnel)
start_keyagent tls tls; ok $? "keyagent (mutual TLS) started"
disclose tls; ok $? "call and key disclosed to the TLS keyagent"
ka_tls_port=$(cat "$work/tls/port" 2>/dev/null || echo 0)

start_stunnel() { # name cert-or-empty -> prints the local port
    local lport=$(stack_free_port) i
    {
        echo "foreground = yes"
        echo "pid ="
        echo "debug = info"
        echo "[sip]"
        echo "client = yes"
        echo "accept = 127.0.0.1:$lport"
        echo "connect = 127.0.0.1:$ka_tls_port"
        echo "CAfile = $c/ca.crt"
        echo "verifyChain = yes"
        echo "checkHost = keyagent.example"
        [ -n "$2" ] && { echo "cert = $c/$2.crt"; echo "key = $c/$2.key"; }
    } > "$work/$1-stunnel.conf"
    timeout 90 stunnel4 "$work/$1-stunnel.conf" > "$work/$1-stunnel.log" 2>&1 &
    pids+=($!)
    for i in $(seq 1 100); do
        [ -n "$(ss -Hltn "( sport = :$lport )" 2>/dev/null)" ] && break
        sleep 0.05
    done
    echo "$lport"
}

p=$(start_stunnel good recorder)
run_sipp good "$p" "$work/tls/ka.sock"
ok $? "sipp through stunnel (recorder certificate): full, partial and terminated NOTIFYs"
[ "$(received_notifies good)" -eq 3 ]; ok $? "sipp over TLS received exactly 3 NOTIFYs"
grep -q "inline:$K30" "$work/good-sipp-msg.log"; ok $? "the key arrived over mutual TLS"
grep -q "sip:recorder@example.net.*interop-call-1@ep" "$work/tls/disclosure.log"
ok $? "disclosure log names the certificate identity that received the key"

# sipp building its dialog from the 200 (RFC 3261 12.1.2, issue 13 item 10):
# route set and remote target from the 200's Contact (rrs="true"), the
# unSUBSCRIBE to [next_url].  The keyagent's own metrics say one
# subscription while it is up and none after the in-dialog Expires: 0.
metric() { # name file
    awk -v m="$1" '$1 == m { print $2 }' "$2" 2>/dev/null
}
wait_metric() { # name value file -> 0 once the file says so (metrics every 5 s)
    for _ in $(seq 1 140); do
        [ "$(metric "$1" "$3")" = "$2" ] && return 0
        sleep 0.05
    done
    return 1
}
wait_metric srtprec_keyagent_notifies_total 3 "$work/tls/ka.prom" &&
    wait_metric srtprec_keyagent_subscriptions 0 "$work/tls/ka.prom"
ok $? "keyagent metrics: the first run's 3 NOTIFYs, no subscription left before the dialog test"
notifies0=3
printf '%s\n' "CALL interop-call-1@ep ltag rtag sip:agent1@cc.example sip:customer@pstn.example" \
    "STREAM interop-call-1@ep tx send 0badf00d 0 PCMU 8000 127.0.0.1:4000 127.0.0.1:5000 AES_CM_128_HMAC_SHA1_80 inline:$K30 0 100" \
    | timeout 10 "$CTL" "$work/tls/ka.sock" > "$work/tls/ctl2.out" 2>&1
[ "$(grep -c '^OK$' "$work/tls/ctl2.out")" -eq 2 ]; ok $? "the call disclosed again for the dialog test"
dialog_live=1
check_live() { wait_metric srtprec_keyagent_subscriptions 1 "$work/tls/ka.prom" && dialog_live=0; }
p=$(start_stunnel dialog recorder)
SIPP_SCENARIO=sipp_dialog.xml SIPP_BEFORE_END=check_live run_sipp dialog "$p" "$work/tls/ka.sock"
ok $? "sipp (dialog from the 200, through stunnel): sips: Contact in the 200 and NOTIFYs, full, partial, terminated"
ok $dialog_live "keyagent metrics: one subscription while sipp's dialog is up"
wait_metric srtprec_keyagent_subscriptions 0 "$work/tls/ka.prom" &&
    wait_metric srtprec_keyagent_notifies_total $((notifies0 + 3)) "$work/tls/ka.prom"
ok $? "keyagent metrics: no subscription after the in-dialog unSUBSCRIBE (Expires: 0)"
notifies1=$(metric srtprec_keyagent_notifies_total "$work/tls/ka.prom")
[ $((notifies1 - notifies0)) -eq 3 ]; ok $? "keyagent metrics: 3 NOTIFYs for the dialog ($notifies0 -> $notifies1)"
# The unSUBSCRIBE went to the 200's Contact: the keyagent's own sips: URI.
grep -A2 'message sent' "$work/dialog-sipp-msg.log" | grep '^SUBSCRIBE ' | sed -n 2p |
    grep -q "^SUBSCRIBE sips:127.0.0.1:$ka_tls_port SIP/2.0"
ok $? "the in-dialog SUBSCRIBE's Request-URI is the 200's Contact (sips:127.0.0.1:$ka_tls_port)"

# A fresh call for the refusal cases, so that there is something to leak.
printf '%s\n' "CALL interop-call-2@ep a b sip:agent2@cc.example sip:c2@pstn.example" \
    "STREAM interop-call-2@ep tx send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:$K30 0 1" \
    | timeout 10 "$CTL" "$work/tls/ka.sock" >/dev/null 2>&1

for case in nocert:"" foreign:foreign intruder:intruder; do
    name=${case%%:*} cert=${case#*:}
    p=$(start_stunnel "$name" "$cert")
    run_sipp "$name" "$p" ""
    rc=$?
    [ "$rc" -ne 0 ]; ok $? "sipp through stunnel ($name): the scenario fails (status $rc)"
    [ "$(received_notifies "$name")" -eq 0 ]; ok $? "sipp ($name) received no NOTIFY"
    ! grep -q "inline:\|interop-call" "$work/$name-sipp-msg.log" 2>/dev/null
    ok $? "sipp ($name) saw no key and no call"
done
grep -A3 'message received' "$work/intruder-sipp-msg.log" 2>/dev/null | grep -q '^SIP/2.0 403'
ok $? "unlisted certificate of the right CA: 403 Forbidden"
grep -qi "alert\|certificate\|SSL_connect\|handshake" "$work/nocert-stunnel.log"
ok $? "no client certificate: stunnel reports the refused handshake"
grep -qi "alert\|certificate\|SSL_connect\|handshake" "$work/foreign-stunnel.log"
ok $? "foreign-CA certificate: stunnel reports the refused handshake"
! grep -q "intruder" "$work/tls/disclosure.log"; ok $? "nothing disclosed to the intruder"

# ------------------------------------------------------------ openssl s_client
# Under TLS 1.3 a refused client certificate shows only after the client sends
# data and reads on: send an OPTIONS and keep reading (-ign_eof) under timeout.
# Success means a SIP response came back over the connection.
probe() { # name extra-s_client-args...
    local name=$1; shift
    printf 'OPTIONS sip:keyagent@example.net SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:9;branch=z9hG4bKprobe%s\r\nFrom: <sip:p@example.net>;tag=1\r\nTo: <sip:keyagent@example.net>\r\nCall-ID: probe-%s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n' "$name" "$name" \
        | timeout 4 openssl s_client -connect "127.0.0.1:$ka_tls_port" -CAfile "$c/ca.crt" \
            -verify_return_error -ign_eof "$@" > "$work/$name-sclient.log" 2>&1
    grep -q '^SIP/2.0 [0-9]' "$work/$name-sclient.log"
}
probe sc-good -cert "$c/recorder.crt" -key "$c/recorder.key"
ok $? "s_client with the recorder certificate: handshake and a SIP answer"
probe sc-good12 -tls1_2 -cert "$c/recorder.crt" -key "$c/recorder.key"
ok $? "s_client TLS 1.2 with the recorder certificate: a SIP answer"
# TLS 1.2: ECDHE with AEAD only (issue 13): a CBC/SHA-1 suite is refused,
# an AES-GCM and a ChaCha20-Poly1305 one are taken.
! probe sc-cbc12 -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA -cert "$c/recorder.crt" -key "$c/recorder.key"
ok $? "s_client -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA: refused"
probe sc-gcm12 -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256 -cert "$c/recorder.crt" -key "$c/recorder.key"
ok $? "s_client -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256: a SIP answer"
probe sc-chacha12 -tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305 -cert "$c/recorder.crt" -key "$c/recorder.key"
ok $? "s_client -tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305: a SIP answer"
for v in "" -tls1_2 -tls1_3; do
    ! probe "sc-nocert$v"  $v; ok $? "s_client ${v:-(default)} without a client certificate: refused"
    ! probe "sc-foreign$v" $v -cert "$c/foreign.crt" -key "$c/foreign.key"
    ok $? "s_client ${v:-(default)} with a foreign-CA certificate: refused"
done
grep -q "alert number 116\|alert certificate required\|alert handshake failure\|alert number 40" "$work/sc-nocert-tls1_2-sclient.log" "$work/sc-nocert-sclient.log"
ok $? "no certificate: the server's alert is visible (116 or 40)"
grep -q "alert number 48\|alert unknown ca" "$work/sc-foreign-tls1_2-sclient.log" "$work/sc-foreign-sclient.log"
ok $? "foreign CA: the server's alert is unknown CA (48)"
for v in -tls1 -tls1_1; do
    ! probe "sc-old$v" $v -cert "$c/recorder.crt" -key "$c/recorder.key" -cipher 'DEFAULT:@SECLEVEL=0'
    ok $? "s_client $v (good certificate): refused"
    grep -qi "protocol version\|no protocols available\|unsupported protocol" "$work/sc-old$v-sclient.log"
    ok $? "s_client $v: refused for its protocol version"
done

! grep -qi "AddressSanitizer\|runtime error" "$work"/*-keyagent.log; ok $? "no sanitizer report from the keyagents"

echo "1..$n"
[ "$failed" -eq 0 ]
