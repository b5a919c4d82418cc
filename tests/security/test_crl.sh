#!/bin/bash
# Security: revoked client certificates and CRL reloads (issue 13, item 9).
# A CA database made here with `openssl ca` revokes certificates issued by
# the test CA for the allowed identity sip:recorder@example.net:
#   - a revoked certificate gets no SUBSCRIBE answer from the keyagent
#     (TLS refused) and 401 from the API (client-crl), while an unrevoked one
#     with the same identity gets 200 from both;
#   - a new CRL revoking the second certificate, SIGHUP'd, refuses it with
#     no restart (keyagent tls-crl, api client-crl);
#   - an expired CRL (nextUpdate in the past) still refuses what it lists and
#     refuses nobody else: keyagent, API and the recorder (its tls-crl, the
#     keyagent's certificate checked) go on working (docs/keyagent.md, CRLs);
#   - a CRL the client-ca did not sign is refused at SIGHUP, the old one stays.
#   - the recorder's tls-crl replaced by one revoking the keyagent's
#     certificate and SIGHUP'd: the restarted keyagent is not subscribed to
#     (srtprec_recorder_keyagent_subscribed stays 0; without the revocation
#     it is 1 within the same wait).
set -u
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"
. "$here/../lib/tap.sh"

stack_test_run crl
stack_init "$build" "$run"
pki=$run/pki
ca=$run/ca
mkdir -p "$ca/new"
: >"$ca/index.txt"
echo 1000 >"$ca/crlnumber"
cat >"$ca/ca.cnf" <<CNF
[ca]
default_ca = test
[test]
database = $ca/index.txt
new_certs_dir = $ca/new
certificate = $pki/ca.crt
private_key = $pki/ca.key
crlnumber = $ca/crlnumber
default_md = sha256
default_crl_days = 7
CNF
leaf() { # name: a client certificate for sip:recorder@example.net
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$ca/$1.key" \
        -out "$ca/$1.csr" -subj "/CN=$1" 2>/dev/null &&
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=clientAuth" "subjectAltName=URI:sip:recorder@example.net" >"$ca/$1.ext" &&
    openssl x509 -req -in "$ca/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -set_serial "$2" \
        -days 2 -sha256 -extfile "$ca/$1.ext" -out "$ca/$1.crt" 2>/dev/null
}
gencrl() { # out [openssl ca options]
    local out=$1; shift
    openssl ca -config "$ca/ca.cnf" -gencrl -out "$out" "$@" 2>"$ca/err" || cat "$ca/err" >&2
}
leaf revoked 0x5001 && leaf second 0x5002 && leaf good 0x5003 && leaf third 0x5004
ok $? "four client certificates for sip:recorder@example.net"
openssl ca -config "$ca/ca.cnf" -revoke "$ca/revoked.crt" -crl_reason keyCompromise 2>"$ca/err"
ok $? "openssl ca revokes the first one"
gencrl "$run/crl.pem"
openssl crl -in "$run/crl.pem" -noout -text | grep -q "Serial Number: 5001"
ok $? "the CRL lists it"

echo "sip:recorder@example.net lister" >"$run/certs"
sed -i "/^\[keyagent\]/a tls-crl = $run/crl.pem" "$run/srtprec.conf"
sed -i "/^\[keyagent\]/a metrics-file = $run/ka.prom" "$run/srtprec.conf"
sed -i "/^\[recorder\]/a metrics-file = $run/rec.prom\nmetrics-interval-ms = 200" "$run/srtprec.conf"
sed -i "/^\[api\]/a client-ca = $pki/ca.crt\nclient-certs-file = $run/certs\nclient-crl = $run/crl.pem" \
    "$run/srtprec.conf"
stack_start; ok $? "keyagent (tls-crl), recorder and api (client-crl) start; the recorder subscribes"
ka=${STACK_PIDS[0]} rec=${STACK_PIDS[1]} api=${STACK_PIDS[2]}

probe() { python3 "$here/tls_probe.py" 127.0.0.1 "$STACK_KA_PORT" "$pki/ca.crt" "$ca/$1.crt" "$ca/$1.key"; }
apiget() { # status of the list with certificate $1
    curl -s --max-time 10 --cacert "$pki/ca.crt" --cert "$ca/$1.crt" --key "$ca/$1.key" \
        -o /dev/null -w '%{http_code}' "$(stack_api)/v1/recordings"
}
metric() { awk -v m="$1" '$1 == m { print $2 }' "$run/ka.prom" 2>/dev/null; }
hup_wait() { # pid log pattern-count-before pattern
    kill -HUP "$1"
    for _ in $(seq 1 50); do
        [ "$(grep -c -- "$4" "$2")" -gt "$3" ] && return 0
        sleep 0.1
    done
    return 1
}

r=$(probe revoked); [[ $r == refused* ]]; ok $? "keyagent: revoked certificate gets no answer ($r)"
r=$(probe good); [ "$r" = 200 ]; ok $? "keyagent: unrevoked certificate, same identity: 200 ($r)"
r=$(apiget revoked); [ "$r" = 401 ]; ok $? "api: revoked certificate: 401 ($r)"
r=$(apiget second); [ "$r" = 200 ]; ok $? "api: unrevoked certificate: 200 ($r)"
for _ in $(seq 1 80); do [ "$(metric srtprec_keyagent_subscriptions)" = 1 ] && break; sleep 0.1; done
subs=$(metric srtprec_keyagent_subscriptions)
[ "${subs:-0}" = 1 ]; ok $? "the recorder's subscription is live (${subs:-none})"

# A new CRL revoking "second", replaced in place and SIGHUP'd: no restart.
openssl ca -config "$ca/ca.cnf" -revoke "$ca/second.crt" 2>"$ca/err"
gencrl "$run/crl.new" && mv "$run/crl.new" "$run/crl.pem"
c=$(grep -c "reload: TLS certificate" "$run/keyagent.log")
hup_wait "$ka" "$run/keyagent.log" "$c" "reload: TLS certificate"; ok $? "keyagent reloads its TLS context"
c=$(grep -c "SIGHUP: reloaded" "$run/api.log")
hup_wait "$api" "$run/api.log" "$c" "SIGHUP: reloaded"; ok $? "api reloads its credentials"
r=$(probe second); [[ $r == refused* ]]; ok $? "keyagent: certificate revoked by the new CRL refused ($r)"
r=$(apiget second); [ "$r" = 401 ]; ok $? "api: certificate revoked by the new CRL: 401 ($r)"
r=$(probe good); [ "$r" = 200 ]; ok $? "keyagent: the good certificate still 200 ($r)"
r=$(apiget good); [ "$r" = 200 ]; ok $? "api: the good certificate still 200 ($r)"
kill -0 "$ka" && kill -0 "$api"; ok $? "neither daemon restarted"

# A CRL from another CA: the API refuses it at SIGHUP and keeps the old set.
openssl ca -config "$ca/ca.cnf" -gencrl -keyfile "$pki/foreign-ca.key" -cert "$pki/foreign-ca.crt" \
    -out "$run/foreign.pem" 2>/dev/null
cp "$run/crl.pem" "$run/crl.keep"; cp "$run/foreign.pem" "$run/crl.pem"
c=$(grep -c "SIGHUP: reload refused" "$run/api.log")
hup_wait "$api" "$run/api.log" "$c" "SIGHUP: reload refused"; ok $? "api: a CRL the client-ca did not sign is refused at reload"
r=$(apiget second); [ "$r" = 401 ]; ok $? "api: the old CRL stays in force ($r)"
cp "$run/crl.keep" "$run/crl.pem"

# An expired CRL, revoking "third" too: still applied, refuses nobody else.
openssl ca -config "$ca/ca.cnf" -revoke "$ca/third.crt" 2>"$ca/err"
r=$(apiget third); [ "$r" = 200 ]; ok $? "api: third certificate 200 before the expired CRL ($r)"
gencrl "$run/crl.new" -crl_lastupdate "$(date -u -d '-2 days' +%Y%m%d%H%M%SZ)" \
    -crl_nextupdate "$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)"
mv "$run/crl.new" "$run/crl.pem"
openssl crl -in "$run/crl.pem" -noout -nextupdate | diag
c=$(grep -c "reload: TLS certificate" "$run/keyagent.log")
hup_wait "$ka" "$run/keyagent.log" "$c" "reload: TLS certificate"; ok $? "keyagent: an expired CRL is loaded"
c=$(grep -c "SIGHUP: reloaded" "$run/api.log")
hup_wait "$api" "$run/api.log" "$c" "SIGHUP: reloaded"; ok $? "api: an expired CRL is loaded"
r=$(probe good); [ "$r" = 200 ]; ok $? "keyagent, expired CRL: unrevoked certificate 200 ($r)"
r=$(probe revoked); [[ $r == refused* ]]; ok $? "keyagent, expired CRL: revoked still refused ($r)"
r=$(probe third); [[ $r == refused* ]]; ok $? "keyagent, expired CRL: the certificate it newly revokes refused ($r)"
r=$(apiget good); [ "$r" = 200 ]; ok $? "api, expired CRL: unrevoked certificate 200 ($r)"
r=$(apiget revoked); [ "$r" = 401 ]; ok $? "api, expired CRL: revoked still 401 ($r)"
r=$(apiget third); [ "$r" = 401 ]; ok $? "api, expired CRL: the certificate it newly revokes 401 ($r)"
# The recorder checks the keyagent's certificate against the same expired
# CRL: restarted with it, it subscribes.
sed -i "/^\[recorder\]/a tls-crl = $run/crl.pem" "$run/srtprec.conf"
kill -TERM "$rec"; wait "$rec" 2>/dev/null
for _ in $(seq 1 50); do [ "$(metric srtprec_keyagent_subscriptions)" = 0 ] && break; sleep 0.1; done
stack_start_one recorder recorder/srtprec-recorder
for _ in $(seq 1 100); do [ "$(metric srtprec_keyagent_subscriptions)" = 1 ] && break; sleep 0.1; done
subs=$(metric srtprec_keyagent_subscriptions)
[ "$subs" = 1 ]; ok $? "recorder with the expired CRL as tls-crl subscribes (subscriptions ${subs:-none})"

# The recorder's CRL replaced by one revoking the keyagent's certificate and
# SIGHUP'd: once the keyagent restarts, the recorder refuses it (no restart
# of the recorder).
recm() { awk -v m="$1" 'index($0, m) == 1 { print $2 }' "$run/rec.prom" 2>/dev/null; }
for _ in $(seq 1 50); do [ "$(recm srtprec_recorder_keyagent_subscribed)" = 1 ] && break; sleep 0.1; done
[ "$(recm srtprec_recorder_keyagent_subscribed)" = 1 ]; ok $? "recorder metrics: subscribed to the keyagent"
rec=${STACK_PIDS[3]}
openssl ca -config "$ca/ca.cnf" -revoke "$pki/keyagent.crt" 2>"$ca/err"
gencrl "$run/crl.new" && mv "$run/crl.new" "$run/crl.pem"
c=$(grep -c "reload: TLS certificate" "$run/recorder.log")
hup_wait "$rec" "$run/recorder.log" "$c" "reload: TLS certificate"; ok $? "recorder reloads its TLS context"
kill -TERM "$ka"; wait "$ka" 2>/dev/null
for _ in $(seq 1 50); do [ "$(recm srtprec_recorder_keyagent_subscribed)" = 0 ] && break; sleep 0.1; done
stack_start_one keyagent keyagent/srtprec-keyagent
ka=${STACK_PIDS[4]}
stack_wait_log "$run/keyagent.log" "listening" 10
sleep 4 # the recorder retries within its back-off (it reconnects in < 1 s when allowed)
s1=$(recm srtprec_recorder_keyagent_subscribed)
[ "$s1" = 0 ] && kill -0 "$ka"
ok $? "recorder: the keyagent revoked by the reloaded CRL is not subscribed to (subscribed ${s1:-none})"
stack_stop
tap_end
