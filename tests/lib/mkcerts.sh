#!/usr/bin/env bash
# Make a throwaway PKI for tests and the demo (openssl CLI only).
#   tests/lib/mkcerts.sh OUTDIR
# Idempotent: does nothing when OUTDIR/ca.crt already exists.
#   ca.{crt,key}            the deployment's CA
#   keyagent.{crt,key}      SAN URI:sip:keyagent@example.net, DNS:keyagent.example, IP:127.0.0.1
#   recorder.{crt,key}      SAN URI:sip:recorder@example.net          (authorised subscriber)
#   intruder.{crt,key}      SAN URI:sip:intruder@example.net          (same CA, not authorised)
#   foreign-ca.{crt,key}, foreign.{crt,key}  another CA; SAN URI:sip:recorder@example.net
#   api.{crt,key}           SAN DNS:localhost, IP:127.0.0.1, IP:::1    (HTTPS API server)
#   auditor.{crt,key}       RSA archive recipient (CMS EnvelopedData), CN=auditor
set -euo pipefail
out=${1:?usage: mkcerts.sh OUTDIR}
mkdir -p "$out"
cd "$out"
[ -f ca.crt ] && exit 0
umask 077

ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

mkca() { # name cn
    ec_key "$1.key"
    openssl req -x509 -new -key "$1.key" -sha256 -days 30 -subj "/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$1.crt" 2>/dev/null
}

mkleaf() { # name ca cn san eku [rsa]
    if [ "${6:-}" = rsa ]; then
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1.key" 2>/dev/null
    else
        ec_key "$1.key"
    fi
    openssl req -new -key "$1.key" -subj "/CN=$3" -out "$1.csr" 2>/dev/null
    printf 'basicConstraints=critical,CA:FALSE\nsubjectAltName=%s\nextendedKeyUsage=%s\n' "$4" "$5" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -days 30 -sha256 \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}

mkca ca "srtprec test CA"
mkca foreign-ca "some other CA"
both=serverAuth,clientAuth
mkleaf keyagent ca keyagent "URI:sip:keyagent@example.net,DNS:keyagent.example,IP:127.0.0.1,IP:::1" $both
mkleaf recorder ca recorder "URI:sip:recorder@example.net,DNS:recorder.example" $both
mkleaf intruder ca intruder "URI:sip:intruder@example.net" $both
mkleaf foreign foreign-ca recorder "URI:sip:recorder@example.net" $both
mkleaf api ca localhost "DNS:localhost,IP:127.0.0.1,IP:::1" serverAuth
mkleaf auditor ca auditor "email:auditor@example.net" emailProtection rsa
chmod 0644 ./*.crt
rm -f ./*.srl
