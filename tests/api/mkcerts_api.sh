#!/usr/bin/env bash
# Throwaway PKI for the API end-to-end test (openssl CLI only).
#   mkcerts_api.sh OUTDIR
#   ca.{crt,key}        test CA
#   api.{crt,key}       HTTPS server: SAN DNS:localhost, IP:127.0.0.1 (EC P-256)
#   auditor.{crt,key}   archive recipient for CMS EnvelopedData (RSA 2048)
# Our own rather than tests/lib/mkcerts.sh, whose file set serves the SIP
# tests and has no archive recipient.  Keys are test-only.
set -euo pipefail
out=${1:?usage: mkcerts_api.sh OUTDIR}
mkdir -p "$out"
cd "$out"
umask 077

openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
    -out ca.crt -days 2 -subj "/CN=srtprec api test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null

leaf() { # name keyopts subject ext
    openssl req -new $2 -nodes -keyout "$1.key" -out "$1.csr" -subj "$3" 2>/dev/null
    printf '%s\n' "$4" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -sha256 \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}
leaf api "-newkey ec -pkeyopt ec_paramgen_curve:P-256" "/CN=localhost" \
    "basicConstraints=critical,CA:FALSE
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1"
leaf auditor "-newkey rsa:2048" "/CN=auditor" \
    "basicConstraints=critical,CA:FALSE
keyUsage=critical,keyEncipherment
extendedKeyUsage=emailProtection
subjectAltName=email:auditor@example.net"
rm -f ca.srl
chmod 0644 ./*.crt
