#!/usr/bin/env bash
# End-to-end test of srtprec-api: a real archive and index written through
# storage's API, the real daemon on 127.0.0.1 (ephemeral port), curl as the
# client.  TAP output.
#   api_e2e.sh SRTPREC_API MKARCHIVE MKCERTS_SH
set -uo pipefail

api_bin=$1
mkarchive=$2
mkcerts=$3 # tests/api/mkcerts_api.sh
packets=250 # 5 s of audio per direction

tmp=$(mktemp -d "${TMPDIR:-/tmp}/srtprec-api-e2e.XXXXXX")
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
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
diag() { sed 's/^/# /' "$@"; }
bail() { echo "Bail out! $*"; [ -f "$tmp/api.log" ] && diag "$tmp/api.log"; exit 1; }

# ------------------------------------------------------------------ fixtures
bash "$mkcerts" "$tmp/pki" || bail "mkcerts failed"
mkdir -p "$tmp/archives"
"$mkarchive" "$tmp/archives" "$tmp/index.db" "$tmp/pki/auditor.crt" "$packets" >"$tmp/ids" ||
    bail "mkarchive failed"
id=$(sed -n 1p "$tmp/ids")
id2=$(sed -n 2p "$tmp/ids")

# tokens: from stdin through the daemon's own --hash-token
tok_lister=lister-$RANDOM$RANDOM
tok_auditor=auditor-$RANDOM$RANDOM
tok_archivist=archivist-$RANDOM$RANDOM
{
    echo "# test tokens"
    printf '%s' "$tok_lister" | "$api_bin" --hash-token=lena:lister
    printf '%s' "$tok_auditor" | "$api_bin" --hash-token=audrey:auditor
    printf '%s\n' "$tok_archivist" | "$api_bin" --hash-token=archie:archivist
} >"$tmp/tokens" || bail "--hash-token failed"
gen=$("$api_bin" --hash-token=gen:admin 2>"$tmp/gen.err" </dev/null)
ok $? "--hash-token generates a token when stdin is empty"
gen_tok=$(sed -n 's/.*: //p' "$tmp/gen.err")
[ ${#gen_tok} -eq 43 ] && [[ "$gen" == "gen admin sha256:"* ]] &&
    [ "$(printf '%s' "$gen_tok" | openssl dgst -sha256 -r | cut -d' ' -f1)" = "${gen#gen admin sha256:}" ]
ok $? "generated token (stderr) hashes to the printed line (stdout)"

cat >"$tmp/srtprec.conf" <<EOF
[api]
listen = 127.0.0.1:0
tls-cert = $tmp/pki/api.crt
tls-key = $tmp/pki/api.key
index = $tmp/index.db
archive-cert = $tmp/pki/auditor.crt
archive-key = $tmp/pki/auditor.key
tokens-file = $tmp/tokens
log-level = info
max-connections = 16
connection-timeout = 10
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

# status CODE for ARGS; body in $tmp/body
req() {
    curl -sS --max-time 20 --cacert "$tmp/pki/ca.crt" -o "$tmp/body" -D "$tmp/headers" \
        -w '%{http_code}' "$@" 2>"$tmp/curl.err"
}
auth() { echo "Authorization: Bearer $1"; }

# -------------------------------------------------------------------- checks
code=$(req "$base/healthz")
[ "$code" = 200 ] && grep -q '"status":"ok"' "$tmp/body"
ok $? "healthz 200 without a token ($code)"

code=$(req "$base/v1/recordings")
[ "$code" = 401 ] && grep -qi '^WWW-Authenticate: Bearer' "$tmp/headers"
ok $? "list without a token: 401 with WWW-Authenticate ($code)"

code=$(req -H "$(auth wrong-token)" "$base/v1/recordings")
[ "$code" = 401 ] && grep -qi 'invalid_token' "$tmp/headers"
ok $? "list with an unknown token: 401 invalid_token ($code)"

code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings")
[ "$code" = 200 ] && grep -q "\"id\":\"$id\"" "$tmp/body" && grep -q '"call_id":"e2e-call-1@example.net"' "$tmp/body"
ok $? "list with a lister token: 200 and the recording ($code)"
[ "$code" = 200 ] || diag "$tmp/body"

code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings?limit=1")
next=$(sed -n 's/.*"next":"\([0-9a-f]*\)".*/\1/p' "$tmp/body")
[ "$code" = 200 ] && [ "$next" = "$id" ] && ! grep -q "$id2" "$tmp/body"
ok $? "limit=1: one recording and a next cursor ($code, next=$next)"
code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings?limit=1&after=$next")
[ "$code" = 200 ] && grep -q "\"id\":\"$id2\"" "$tmp/body" && ! grep -q '"next"' "$tmp/body"
ok $? "after=cursor: the second recording, no further cursor ($code)"

code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings?from=2026-01-02T03:00:00Z&to=2026-01-02T03:05:00%2B00:00&party=sip:alice@example.net")
[ "$code" = 200 ] && grep -q "$id" "$tmp/body" && ! grep -q "$id2" "$tmp/body"
ok $? "time window and party filter ($code)"

code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings?sort=asc")
[ "$code" = 400 ] && grep -q '"param":"sort"' "$tmp/body"
ok $? "unknown parameter: 400 naming it ($code)"

code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings?limit=0")
[ "$code" = 400 ] && grep -q '"param":"limit"' "$tmp/body"
ok $? "limit=0: 400 ($code)"

code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings/$id")
[ "$code" = 200 ] && grep -q '"state":"complete"' "$tmp/body" && grep -q '"streams":2' "$tmp/body" &&
    ! grep -q '"path"' "$tmp/body"
ok $? "metadata: 200, complete, two streams, no server path ($code)"

code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings/$id/export.wav")
[ "$code" = 403 ]
ok $? "export with a lister token: 403 ($code)"

code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings/0123456789abcdef0123456789abcdef/export.wav")
[ "$code" = 403 ]
ok $? "export of an unknown id with a lister token: 403, not 404 ($code)"

code=$(req -H "$(auth "$tok_auditor")" "$base/v1/recordings/$id/export.wav")
size=$(stat -c %s "$tmp/body")
expect=$((44 + packets * 160 * 2 * 2))
hdr=$(head -c 4 "$tmp/body"; dd if="$tmp/body" bs=1 skip=8 count=4 2>/dev/null)
[ "$code" = 200 ] && [ "$hdr" = RIFFWAVE ] && grep -qi '^Content-Type: audio/wav' "$tmp/headers"
ok $? "export with an auditor token: 200, RIFF/WAVE ($code, $size bytes)"
[ "$size" = "$expect" ]
ok $? "WAV size is 44 + 2 channels x 16 bit x $packets x 160 samples = $expect (got $size)"

code=$(req -H "$(auth "$tok_auditor")" "$base/v1/recordings/$id/archive")
[ "$code" = 403 ]
ok $? "archive download with an auditor token: 403 ($code)"

code=$(req -H "$(auth "$tok_archivist")" "$base/v1/recordings/$id/archive")
archive=$(ls "$tmp/archives"/*.srec)
[ "$code" = 200 ] && cmp -s "$tmp/body" "$archive" &&
    grep -qi "^ETag: \"$id-$(stat -c %s "$archive")\"" "$tmp/headers" &&
    grep -qi '^Content-Type: application/octet-stream' "$tmp/headers"
ok $? "archive with an archivist token: 200, byte-identical, ETag id-size ($code)"

code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings/NOT-AN-ID")
[ "$code" = 400 ]
ok $? "bad id: 400 ($code)"
code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings/0123456789ABCDEF0123456789abcdef")
[ "$code" = 400 ]
ok $? "upper-case id: 400 ($code)"
code=$(req "$base/v1/recordings/NOT-AN-ID")
[ "$code" = 401 ]
ok $? "bad id without a token: 401 first ($code)"

code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings/0123456789abcdef0123456789abcdef")
[ "$code" = 404 ]
ok $? "unknown id: 404 ($code)"

code=$(req "$base/v1/recordings?access_token=$tok_lister")
[ "$code" = 400 ] && grep -q '"error":"token_in_url"' "$tmp/body"
ok $? "token in the query string: 400 token_in_url ($code)"

code=$(req -X DELETE -H "$(auth "$tok_lister")" "$base/v1/recordings/$id")
[ "$code" = 405 ]
ok $? "DELETE: 405 ($code)"

code=$(req "$base/nope")
[ "$code" = 404 ]
ok $? "unknown path: 404 ($code)"

code=$(req -H "$(auth "$tok_lister")" "$base/metrics")
ebytes=$(sed -n 's/^srtprec_api_bytes_total{route="export"} //p' "$tmp/body")
[ "$code" = 200 ] && grep -q 'srtprec_api_requests_total{route="export",status="200"} 1$' "$tmp/body" &&
    grep -q 'srtprec_api_requests_total{route="list",status="401"} 2$' "$tmp/body" &&
    [ "${ebytes:-0}" -ge "$expect" ]
ok $? "metrics count routes, statuses and bytes ($code)" || diag "$tmp/body"

code=$(req --tls-max 1.2 "$base/healthz")
[ "$code" = 200 ]
ok $? "TLS 1.2 accepted ($code)"

curl -sS --max-time 10 --cacert "$tmp/pki/ca.crt" --tlsv1.0 --tls-max 1.1 \
    --ciphers 'DEFAULT:@SECLEVEL=0' -o /dev/null "$base/healthz" 2>/dev/null
rc=$?
[ "$rc" != 0 ]
ok $? "TLS 1.1 refused (curl exit $rc)"

curl -sS --max-time 10 -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null
rc=$?
[ "$rc" != 0 ]
ok $? "plain HTTP to the HTTPS port fails (curl exit $rc)"

grep -q "access who=audrey client=127.0.0.1 route=export id=$id status=200 bytes=$expect complete" "$tmp/api.log"
ok $? "access log line for the export"
grep -q "access who=- client=127.0.0.1 route=list id=- status=401" "$tmp/api.log"
ok $? "access log line for a refused request"
! grep -q -e "$tok_lister" -e "$tok_auditor" -e "$tok_archivist" "$tmp/api.log"
ok $? "no token appears in the log"

kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
[ "$rc" = 0 ]
ok $? "SIGTERM: clean exit ($rc)"

echo "1..$n"
[ "$failed" = 0 ] || diag "$tmp/api.log"
[ "$failed" = 0 ]
