#!/bin/sh
# mkcerts.sh OUTDIR - throwaway test PKI with the openssl CLI (EC P-256).
#
# Makes, in OUTDIR:
#   ca.crt ca.key                    test CA
#   keyagent.crt keyagent.key        SAN DNS:keyagent.example, URI:sip:keyagent@example.net
#   recorder.crt recorder.key        SAN URI:sip:recorder@example.net
#   intruder.crt intruder.key        SAN URI:sip:intruder@example.net (same CA, not authorised)
#   foreign-ca.crt foreign-ca.key    an unrelated CA
#   foreign.crt foreign.key          SAN URI:sip:recorder@example.net, issued by the foreign CA
#   api.crt api.key                  the HTTPS API server (SAN DNS:localhost, IP:127.0.0.1)
#   auditor.crt auditor.key          RSA-2048 archive recipient (CMS EnvelopedData, key transport)
#   signer.crt signer.key            Ed25519 archive signing key of the recorder (its
#                                    certificate is what auditors verify archives with)
#   sbc.crt sbc.key                  SAN URI:sip:sbc@example.net (a SIPREC recording client)
# All leaf certificates carry serverAuth and clientAuth and SAN DNS:localhost,
# IP:127.0.0.1 as well.  Idempotent: a complete OUTDIR is left as it is; runs in
# parallel on the same OUTDIR serialise on a lock.  Keys are test-only.
set -eu

out=${1:?usage: mkcerts.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
days=3650

all="ca keyagent recorder intruder foreign-ca foreign api auditor signer sbc"
complete() {
    for n in $all; do
        [ -s "$out/$n.crt" ] && [ -s "$out/$n.key" ] || return 1
    done
    return 0
}

exec 9>"$out/.lock"
flock 9
if complete; then
    exit 0
fi

tmp=$(mktemp -d "$out/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

mkca() { # name subject
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$tmp/$1.key" -out "$tmp/$1.crt" -days $days -subj "$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

mkleaf() { # name ca subject san [rsa]
    if [ "${5:-}" = rsa ]; then keyopt="rsa:2048"; else keyopt="ec -pkeyopt ec_paramgen_curve:P-256"; fi
    # shellcheck disable=SC2086
    openssl req -new -newkey $keyopt -nodes \
        -keyout "$tmp/$1.key" -out "$tmp/$1.csr" -subj "$3" 2>/dev/null
    cat > "$tmp/$1.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=$4,DNS:localhost,IP:127.0.0.1
EXT
    openssl x509 -req -in "$tmp/$1.csr" -CA "$tmp/$2.crt" -CAkey "$tmp/$2.key" \
        -CAcreateserial -days $days -extfile "$tmp/$1.ext" -out "$tmp/$1.crt" 2>/dev/null
}

mkca ca "/CN=srtprec test CA"
mkca foreign-ca "/CN=foreign test CA"
mkleaf keyagent ca "/CN=keyagent.example" "DNS:keyagent.example,URI:sip:keyagent@example.net"
mkleaf recorder ca "/CN=recorder" "URI:sip:recorder@example.net"
mkleaf intruder ca "/CN=intruder" "URI:sip:intruder@example.net"
mkleaf foreign foreign-ca "/CN=recorder (foreign)" "URI:sip:recorder@example.net"
mkleaf api ca "/CN=localhost" "DNS:api.example"
mkleaf auditor ca "/CN=auditor" "email:auditor@example.net" rsa
# The recorder's archive signing key: Ed25519, signatures only.
openssl req -new -newkey ed25519 -nodes -keyout "$tmp/signer.key" -out "$tmp/signer.csr" \
    -subj "/CN=recorder archive signer" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectAltName=URI:sip:recorder@example.net\n' >"$tmp/signer.ext"
openssl x509 -req -in "$tmp/signer.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" \
    -CAcreateserial -days $days -extfile "$tmp/signer.ext" -out "$tmp/signer.crt" 2>/dev/null
mkleaf sbc ca "/CN=sbc" "URI:sip:sbc@example.net"

chmod 600 "$tmp"/*.key
for n in $all; do
    mv -f "$tmp/$n.key" "$out/$n.key"
    mv -f "$tmp/$n.crt" "$out/$n.crt"
done
