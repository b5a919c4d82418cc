#!/usr/bin/env bash
# End to end: client certificates beside bearer tokens, the decrypted Ogg
# export, and SIGHUP reloading the tokens and client-certs files while
# requests are in flight.  The real daemon on 127.0.0.1 (ephemeral port),
# curl as the client, tests/lib/mkcerts.sh for the PKI.  TAP output.
#   api_auth_e2e.sh SRTPREC_API MKARCHIVE MKCERTS_SH
set -uo pipefail

api_bin=$1
mkarchive=$2
mkcerts=$3 # tests/lib/mkcerts.sh
packets=250

tmp=$(mktemp -d "${TMPDIR:-/tmp}/srtprec-api-auth.XXXXXX")
pid=
load_pids=()
cleanup() {
    for p in "${load_pids[@]}"; do kill "$p" 2>/dev/null; done
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    fi
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

n=0
failed=0
ok() { # cond-status description
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; return 0; fi
    echo "not ok $n - $2"
    failed=$((failed + 1))
    return 1
}
bail() { echo "Bail out! $*"; [ -f "$tmp/api.log" ] && sed 's/^/# /' "$tmp/api.log"; exit 1; }

# ------------------------------------------------------------------ fixtures
# One PKI: ca signs the server, recorder (SAN URI), intruder (same CA, not
# listed) and auditor (SAN email; also the archive recipient); foreign has
# recorder's very SAN but another CA.
sh "$mkcerts" "$tmp/pki" || bail "mkcerts failed"
pki=$tmp/pki
mkdir -p "$tmp/archives"
"$mkarchive" "$tmp/archives" "$tmp/index.db" "$pki/auditor.crt" "$packets" >"$tmp/ids" ||
    bail "mkarchive failed"
id=$(sed -n 1p "$tmp/ids")

tok_lister=lister-$RANDOM$RANDOM
tok_new=newlister-$RANDOM$RANDOM
printf '%s' "$tok_lister" | "$api_bin" --hash-token=lena:lister >"$tmp/tokens" ||
    bail "--hash-token failed"
cat >"$tmp/certs" <<EOF
# identity roles
sip:recorder@example.net lister
auditor@example.net auditor
EOF

cat >"$tmp/srtprec.conf" <<EOF
[api]
listen = 127.0.0.1:0
tls-cert = $pki/api.crt
tls-key = $pki/api.key
index = $tmp/index.db
archive-dir = $tmp/archives
archive-cert = $pki/auditor.crt
archive-key = $pki/auditor.key
tokens-file = $tmp/tokens
client-ca = $pki/ca.crt
client-certs-file = $tmp/certs
log-level = info
threads = 2
connection-timeout = 5
audit-log = $tmp/audit.log
EOF

"$api_bin" --config="$tmp/srtprec.conf" 2>"$tmp/api.log" &
pid=$!
port=
for _ in $(seq 1 100); do
    port=$(sed -n 's/.*listening on https:.* port \([0-9][0-9]*\).*/\1/p' "$tmp/api.log")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
[ -n "$port" ] || bail "srtprec-api did not start"
base="https://127.0.0.1:$port"

req() { # status code for ARGS; body in $tmp/body
    rm -f "$tmp/body"
    curl -sS --max-time 20 --cacert "$pki/ca.crt" -o "$tmp/body" -w '%{http_code}' "$@" \
        2>"$tmp/curl.err"
}
cert() { echo "--cert $pki/$1.crt --key $pki/$1.key"; }
auth() { echo "Authorization: Bearer $1"; }

# ------------------------------------------------------ client certificates
# shellcheck disable=SC2046
code=$(req $(cert recorder) "$base/v1/recordings/$id")
[ "$code" = 200 ] && grep -q "\"id\":\"$id\"" "$tmp/body"
ok $? "mapped certificate (SAN URI) as lister: metadata 200 ($code)"

# shellcheck disable=SC2046
code=$(req $(cert recorder) "$base/v1/recordings/$id/export.wav")
[ "$code" = 403 ]
ok $? "mapped lister certificate: export 403 ($code)"

# shellcheck disable=SC2046
code=$(req $(cert intruder) "$base/v1/recordings/$id")
[ "$code" = 403 ] && grep -q '"error":"forbidden"' "$tmp/body"
ok $? "valid but unmapped certificate: 403 ($code)"

# shellcheck disable=SC2046
code=$(req $(cert foreign) "$base/v1/recordings/$id")
[ "$code" = 401 ] && grep -qi 'WWW-Authenticate\|unauthorized' "$tmp/body"
ok $? "foreign-CA certificate with a mapped SAN: 401 ($code)"

code=$(req "$base/v1/recordings/$id")
[ "$code" = 401 ]
ok $? "neither token nor certificate: 401 ($code)"

code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings/$id")
[ "$code" = 200 ]
ok $? "a bearer token still works without a certificate ($code)"

# shellcheck disable=SC2046
code=$(req $(cert recorder) -H "$(auth wrong-token)" "$base/v1/recordings/$id")
[ "$code" = 401 ]
ok $? "a wrong token is not rescued by a valid certificate: 401 ($code)"

# Keep-alive: the second request rides the first one's TLS connection (a
# handshake per request used to cap metadata requests near 1,000/s).
conns=$(curl -sS --max-time 20 --cacert "$pki/ca.crt" -H "$(auth "$tok_lister")" -o /dev/null \
    -o /dev/null -w '%{http_code}:%{num_connects} ' "$base/v1/recordings/$id" \
    "$base/v1/recordings/$id" 2>"$tmp/curl.err")
[ "$conns" = "200:1 200:0 " ]
ok $? "two requests on one keep-alive connection ($conns)"

# ------------------------------------------------------------- export.ogg
# shellcheck disable=SC2046
code=$(req $(cert auditor) -D "$tmp/oggh" "$base/v1/recordings/$id/export.ogg")
size=$(stat -c %s "$tmp/body" 2>/dev/null || echo 0)
[ "$code" = 200 ] && [ "$(head -c 4 "$tmp/body")" = OggS ] && grep -qi '^content-type: audio/ogg' "$tmp/oggh"
ok $? "auditor certificate (SAN email): export.ogg 200, audio/ogg, starts OggS ($code)"
# 2 streams x 250 packets x 160 bytes of G.711 is 80,000 bytes of payload alone
[ "$size" -gt 80000 ]
ok $? "Ogg export holds at least the payload bytes ($size > 80000)"
if command -v oggz-validate >/dev/null; then
    oggz-validate "$tmp/body" >"$tmp/oggz.out" 2>&1
    ok $? "oggz-validate accepts the export" || sed 's/^/# /' "$tmp/oggz.out"
else
    echo "ok $((n += 1)) - # SKIP oggz-validate not installed"
fi
code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings/$id/export.ogg")
[ "$code" = 403 ]
ok $? "export.ogg with a lister token: 403 ($code)"

# ------------------------------------------------------------------ audit
grep -P '\twho=sip:recorder@example.net\tauth=cert\t' "$tmp/audit.log" | grep -q 'route=metadata' &&
    grep -qP '\twho=auditor@example.net\tauth=cert\t' "$tmp/audit.log" &&
    grep -P '\twho=sip:intruder@example.net\tauth=cert\t' "$tmp/audit.log" | grep -q 'status=403'
ok $? "audit records show auth=cert and the identities, the refused one included" ||
    sed 's/^/# /' "$tmp/audit.log" | tail -5
grep -P '\troute=export_ogg\t' "$tmp/audit.log" | grep -q 'outcome=complete'
ok $? "audit records the completed Ogg export"

# ------------------------------------------------------ SIGHUP under load
# Clients keep asking with the old token while the files change under them;
# each answer must be 200 (old set) or 401 (new set), never anything else.
# They run until told to stop (bounded), so they surely span the reload.
for w in 1 2; do
    (
        for _ in $(seq 1 3000); do
            [ -e "$tmp/stop" ] && break
            curl -s --max-time 10 --cacert "$pki/ca.crt" -o /dev/null -w '%{http_code}\n' \
                -H "$(auth "$tok_lister")" "$base/v1/recordings/$id"
        done >"$tmp/load$w"
    ) &
    load_pids+=($!)
done
sleep 0.5

printf '%s' "$tok_new" | "$api_bin" --hash-token=nina:lister >"$tmp/tokens.new"
mv "$tmp/tokens.new" "$tmp/tokens"
echo "auditor@example.net lister" >"$tmp/certs.new"
mv "$tmp/certs.new" "$tmp/certs"
kill -HUP "$pid"
reloaded=1
for _ in $(seq 1 100); do
    grep -q 'SIGHUP: reloaded 1 tokens, 1 client identities' "$tmp/api.log" && { reloaded=0; break; }
    sleep 0.1
done
ok $reloaded "SIGHUP reloads both files and says so"

code=$(req -H "$(auth "$tok_new")" "$base/v1/recordings/$id")
[ "$code" = 200 ]
ok $? "after reload: the new token works ($code)"
code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings/$id")
[ "$code" = 401 ]
ok $? "after reload: the removed token gets 401 ($code)"
# shellcheck disable=SC2046
code=$(req $(cert recorder) "$base/v1/recordings/$id")
[ "$code" = 403 ]
ok $? "after reload: the removed certificate identity gets 403 ($code)"
# shellcheck disable=SC2046
code=$(req $(cert auditor) "$base/v1/recordings/$id")
[ "$code" = 200 ]
ok $? "after reload: the remapped certificate gets its new role ($code)"

sleep 0.5
touch "$tmp/stop"
for p in "${load_pids[@]}"; do wait "$p"; done
load_pids=()
others=$(cat "$tmp/load1" "$tmp/load2" | grep -cv '^\(200\|401\)$')
n200=$(cat "$tmp/load1" "$tmp/load2" | grep -c '^200$')
n401=$(cat "$tmp/load1" "$tmp/load2" | grep -c '^401$')
[ "$others" = 0 ] && [ "$n200" -gt 0 ] && [ "$n401" -gt 0 ]
ok $? "requests spanning the reload: $n200 x 200 before, $n401 x 401 after, $others others"

# A bad file is refused whole; the running set stays.
echo "nina lister sha256:not-hex" >"$tmp/tokens"
kill -HUP "$pid"
refused=1
for _ in $(seq 1 100); do
    grep -q 'SIGHUP: reload refused' "$tmp/api.log" && { refused=0; break; }
    sleep 0.1
done
[ "$refused" = 0 ] && grep -q 'tokens-file: .*line 1' "$tmp/api.log"
ok $? "SIGHUP with a broken tokens file: refused with a log line naming the line"
code=$(req -H "$(auth "$tok_new")" "$base/v1/recordings/$id")
[ "$code" = 200 ]
ok $? "after a refused reload: the previous token still works ($code)"
kill -0 "$pid" 2>/dev/null
ok $? "the daemon is still running"

grep -q "$tok_lister\|$tok_new" "$tmp/api.log" "$tmp/audit.log"
[ $? = 1 ]
ok $? "no token appears in the log or the audit"

# A clean stop: exit 0, and (under ASan/UBSan builds) no sanitizer report.
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
[ "$rc" = 0 ] && ! grep -q 'Sanitizer\|runtime error' "$tmp/api.log"
ok $? "SIGTERM: clean exit ($rc), no sanitizer report"

echo "1..$n"
[ "$failed" = 0 ] || sed 's/^/# /' "$tmp/api.log" | tail -30
exit $((failed > 0))
