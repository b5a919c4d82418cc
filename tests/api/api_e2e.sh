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
tok_admin=admin-$RANDOM$RANDOM
tok_legal=legal-$RANDOM$RANDOM
{
    echo "# test tokens"
    printf '%s' "$tok_lister" | "$api_bin" --hash-token=lena:lister
    printf '%s' "$tok_auditor" | "$api_bin" --hash-token=audrey:auditor
    printf '%s\n' "$tok_archivist" | "$api_bin" --hash-token=archie:archivist
    printf '%s' "$tok_admin" | "$api_bin" --hash-token=ada:admin
    printf '%s' "$tok_legal" | "$api_bin" --hash-token=lex:lister,legal-hold
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
archive-dir = $tmp/archives
archive-cert = $tmp/pki/auditor.crt
archive-key = $tmp/pki/auditor.key
tokens-file = $tmp/tokens
log-level = info
max-connections = 16
max-connections-per-ip = 4
; libmicrohttpd 0.9.75 keeps the per-IP count per worker thread: one
; worker makes the limit exact for this test (docs/api.md)
threads = 1
connection-timeout = 5
audit-log = $tmp/audit.log
retention-days = 30
recorder-metrics-file = $tmp/recorder.prom
keyagent-metrics-file = $tmp/missing-keyagent.prom
EOF
printf '# TYPE srtprec_recorder_packets_total counter\nsrtprec_recorder_packets_total 42\n' >"$tmp/recorder.prom"

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
    rm -f "$tmp/body"
    curl -sS --max-time 20 --cacert "$tmp/pki/ca.crt" -o "$tmp/body" -D "$tmp/headers" \
        -w '%{http_code}' "$@" 2>"$tmp/curl.err"
}
auth() { echo "Authorization: Bearer $1"; }

# -------------------------------------------------------------------- checks
code=$(req "$base/livez")
[ "$code" = 200 ] && grep -q '"status":"ok"' "$tmp/body"
ok $? "livez 200 without a token ($code)"
# Readiness tells the truth: this recorder file carries no ready sample and
# the keyagent's file is missing (docs/deploy.md, "Health").
code=$(req "$base/healthz")
[ "$code" = 503 ] && grep -q '"status":"fail"' "$tmp/body" &&
    grep -q '"index_readable":true' "$tmp/body" && grep -q '"archive_dir_readable":true' "$tmp/body" &&
    grep -q '"recorder_metrics_fresh":true' "$tmp/body" && grep -q '"recorder_ready":false' "$tmp/body" &&
    grep -q '"keyagent_metrics_fresh":false' "$tmp/body"
ok $? "healthz 503 without a token, naming the failed checks ($code)" || diag <"$tmp/body"

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
# Newest first: the later recording, then the cursor pages back to the earlier.
code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings?sort=-start&limit=1")
next=$(sed -n 's/.*"next":"\([0-9a-f]*\)".*/\1/p' "$tmp/body")
[ "$code" = 200 ] && grep -q "\"id\":\"$id2\"" "$tmp/body" && [ "$next" = "$id2" ]
ok $? "sort=-start&limit=1: the newest recording first, next cursor ($code, next=$next)"
code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings?sort=-start&limit=1&after=$next")
[ "$code" = 200 ] && grep -q "\"id\":\"$id\"" "$tmp/body" && ! grep -q '"next"' "$tmp/body"
ok $? "sort=-start after the cursor: the older one, no next ($code)"

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

# the second index row names the first recording's file: paths come from
# archive-dir and the id, so that row is refused (issue 13 item 6)
code=$(req -H "$(auth "$tok_admin")" "$base/v1/recordings/$id2/archive")
[ "$code" = 500 ] && grep -q '"error":"index_path_mismatch"' "$tmp/body" && ! cmp -s "$tmp/body" "$tmp/archives/$id.srec"
ok $? "archive of a row whose path names another file: 500 index_path_mismatch ($code)"
code=$(req -H "$(auth "$tok_admin")" "$base/v1/recordings/$id2/export.wav")
[ "$code" = 500 ] && grep -q '"error":"index_path_mismatch"' "$tmp/body"
ok $? "export of that row: 500 index_path_mismatch ($code)"

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
grep -q '^srtprec_storage_recordings{state="complete"} [1-9]' "$tmp/body" &&
    grep -q '^srtprec_storage_bytes [1-9]' "$tmp/body" && grep -q '^srtprec_storage_legal_holds ' "$tmp/body"
ok $? "metrics show storage: recordings by state, bytes, legal holds" || diag "$tmp/body"

code=$(req --tls-max 1.2 "$base/livez")
[ "$code" = 200 ]
ok $? "TLS 1.2 accepted ($code)"

# TLS 1.2: ECDHE with AEAD only (issue 13): CBC/SHA-1 refused, GCM and
# ChaCha20-Poly1305 taken; TLS 1.3 taken.
curl -sS --max-time 10 --cacert "$tmp/pki/ca.crt" --tls-max 1.2 --ciphers ECDHE-ECDSA-AES128-SHA \
    -o /dev/null "$base/livez" 2>/dev/null
rc=$?
[ "$rc" != 0 ]
ok $? "TLS 1.2 ECDHE-ECDSA-AES128-SHA (CBC, SHA-1) refused (curl exit $rc)"
for suite in ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-ECDSA-CHACHA20-POLY1305; do
    code=$(req --tls-max 1.2 --ciphers "$suite" "$base/livez")
    [ "$code" = 200 ]
    ok $? "TLS 1.2 $suite accepted ($code)"
done
code=$(req --tlsv1.3 "$base/livez")
[ "$code" = 200 ]
ok $? "TLS 1.3 accepted ($code)"

curl -sS --max-time 10 --cacert "$tmp/pki/ca.crt" --tlsv1.0 --tls-max 1.1 \
    --ciphers 'DEFAULT:@SECLEVEL=0' -o /dev/null "$base/livez" 2>/dev/null
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

# ------------------------------------------------------- Range and ETag (archive)
asize=$(stat -c %s "$archive")
etag="\"$id-$asize\""
code=$(req -H "$(auth "$tok_archivist")" -H "Range: bytes=10-109" "$base/v1/recordings/$id/archive")
[ "$code" = 206 ] && [ "$(stat -c %s "$tmp/body")" = 100 ] &&
    cmp -s "$tmp/body" <(tail -c +11 "$archive" | head -c 100) &&
    grep -qi "^Content-Range: bytes 10-109/$asize" "$tmp/headers" &&
    grep -qi '^Accept-Ranges: bytes' "$tmp/headers"
ok $? "Range bytes=10-109: 206, the right 100 bytes, Content-Range ($code)"

code=$(req -H "$(auth "$tok_archivist")" -H "Range: bytes=-16" "$base/v1/recordings/$id/archive")
[ "$code" = 206 ] && cmp -s "$tmp/body" <(tail -c 16 "$archive")
ok $? "suffix Range bytes=-16: 206, the last 16 bytes ($code)"

code=$(req -H "$(auth "$tok_archivist")" -H "Range: bytes=$asize-" "$base/v1/recordings/$id/archive")
[ "$code" = 416 ] && grep -qi "^Content-Range: bytes \*/$asize" "$tmp/headers"
ok $? "Range past the end: 416 with Content-Range bytes */size ($code)"

code=$(req -H "$(auth "$tok_archivist")" -H "Range: bytes=0-1,5-6" "$base/v1/recordings/$id/archive")
[ "$code" = 200 ] && cmp -s "$tmp/body" "$archive"
ok $? "several ranges: ignored, 200 and the whole file ($code)"

code=$(req -H "$(auth "$tok_archivist")" -H "Range: bytes=zz" "$base/v1/recordings/$id/archive")
[ "$code" = 200 ] && cmp -s "$tmp/body" "$archive"
ok $? "malformed Range: ignored, 200 ($code)"

code=$(req -H "$(auth "$tok_archivist")" -H "Range: bytes=0-9" -H 'If-Range: "stale"' "$base/v1/recordings/$id/archive")
[ "$code" = 200 ] && cmp -s "$tmp/body" "$archive"
ok $? "Range with a stale If-Range: 200, whole file ($code)"

code=$(req -H "$(auth "$tok_archivist")" -H "Range: bytes=0-9" -H "If-Range: $etag" "$base/v1/recordings/$id/archive")
[ "$code" = 206 ] && [ "$(stat -c %s "$tmp/body")" = 10 ]
ok $? "Range with a current If-Range: 206 ($code)"

code=$(req -H "$(auth "$tok_archivist")" -H "If-None-Match: \"x\", $etag" "$base/v1/recordings/$id/archive")
[ "$code" = 304 ] && [ ! -s "$tmp/body" ] && grep -qi "^ETag: $etag" "$tmp/headers"
ok $? "If-None-Match with the ETag: 304, no body ($code)"
! grep -qi "^Content-Length:\|^Transfer-Encoding:" "$tmp/headers"
ok $? "the 304 carries neither Content-Length nor Transfer-Encoding (RFC 9110 8.6, 15.4.5)" || diag <"$tmp/headers"

code=$(req -H "$(auth "$tok_archivist")" -H 'If-None-Match: "other"' "$base/v1/recordings/$id/archive")
[ "$code" = 200 ]
ok $? "If-None-Match with another tag: 200 ($code)"

code=$(req -H "Range: bytes=0-9" "$base/v1/recordings/$id/archive")
[ "$code" = 401 ]
ok $? "Range without a token: 401 first ($code)"

curl -sS --max-time 20 --cacert "$tmp/pki/ca.crt" -H "$(auth "$tok_archivist")" -o "$tmp/resumed" \
    -r 0-99 "$base/v1/recordings/$id/archive" 2>/dev/null &&
    curl -sS --max-time 20 --cacert "$tmp/pki/ca.crt" -H "$(auth "$tok_archivist")" -C - \
        -o "$tmp/resumed" "$base/v1/recordings/$id/archive" 2>/dev/null &&
    cmp -s "$tmp/resumed" "$archive"
ok $? "curl -C - resumes a partial download to the identical file"

# ----------------------------------------------------------------- legal hold
code=$(req -X PUT -H "$(auth "$tok_lister")" "$base/v1/recordings/$id/legal-hold")
[ "$code" = 403 ]
ok $? "legal hold with a lister token: 403 ($code)"
code=$(req -X PUT -H "$(auth "$tok_admin")" "$base/v1/recordings/$id/legal-hold")
[ "$code" = 200 ] && grep -q '"legal_hold":true' "$tmp/body"
ok $? "PUT legal-hold as admin: 200, on ($code)"
code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings/$id")
grep -q '"legal_hold":true' "$tmp/body"
ok $? "metadata shows legal_hold true ($code)"
code=$(req -I -H "$(auth "$tok_admin")" "$base/v1/recordings/$id/legal-hold")
c2=$(req -H "$(auth "$tok_admin")" "$base/v1/recordings/$id/legal-hold")
[ "$code" = 200 ] && grep -q '"legal_hold":true' "$tmp/body"
ok $? "HEAD legal-hold changes nothing ($code, $c2)"
code=$(req -X DELETE -H "$(auth "$tok_admin")" "$base/v1/recordings/$id/legal-hold")
[ "$code" = 200 ] && grep -q '"legal_hold":false' "$tmp/body"
ok $? "DELETE legal-hold as admin: 200, off ($code)"
code=$(req -H "$(auth "$tok_admin")" "$base/v1/recordings/$id/legal-hold")
[ "$code" = 200 ] && grep -q '"legal_hold":false' "$tmp/body"
ok $? "GET legal-hold: off ($code)"

# ------------------------------------------- console support (issue 18 item 1)
code=$(req -H "$(auth "$tok_legal")" "$base/v1/me")
[ "$code" = 200 ] && python3 -c '
import json, sys
b = json.load(open(sys.argv[1]))
c = b["can"]
assert b["name"] == "lex" and b["auth"] == "token" and b["roles"] == ["lister", "legal-hold"], b
assert c["list"] and c["legal_hold"] and not c["export"] and not c["archive"] and not c["audit"], c
assert b["retention_days"] == 30, b' "$tmp/body"
ok $? "GET /v1/me: name, roles and what they allow ($code)" || diag "$tmp/body"
code=$(req -X PUT -H "$(auth "$tok_legal")" "$base/v1/recordings/$id/legal-hold?case=CASE-2026-7&reason=litigation+hold")
[ "$code" = 200 ] && python3 -c '
import json, sys
h = json.load(open(sys.argv[1]))["hold"]
assert h["case_id"] == "CASE-2026-7" and h["reason"] == "litigation hold" and h["by"] == "lex", h
assert h["at"].endswith("Z"), h' "$tmp/body"
ok $? "PUT legal-hold with case and reason as legal-hold: 200, who and when recorded ($code)" || diag "$tmp/body"
code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings/$id")
[ "$code" = 200 ] && python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["hold"]["case_id"] == "CASE-2026-7" and r["retention_expires"] is None, r
assert r["duration_ms"] > 0, r' "$tmp/body"
ok $? "metadata: hold record, no expiry while held, duration_ms ($code)" || diag "$tmp/body"
code=$(req -X DELETE -H "$(auth "$tok_legal")" "$base/v1/recordings/$id/legal-hold")
c2=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings/$id")
[ "$code" = 200 ] && [ "$c2" = 200 ] && python3 -c '
import json, sys, datetime
r = json.load(open(sys.argv[1]))
p = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
assert r["hold"] is None and not r["legal_hold"], r
assert (p(r["retention_expires"]) - p(r["start"])).total_seconds() == 30 * 86400, r' "$tmp/body"
ok $? "hold cleared: expiry is start + retention-days ($code, $c2)" || diag "$tmp/body"
code=$(req -X PUT -H "$(auth "$tok_lister")" "$base/v1/recordings/$id/legal-hold?case=x")
[ "$code" = 403 ]
ok $? "legal hold needs legal-hold or admin ($code)"
code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings?party=gent2&party_match=substring")
[ "$code" = 200 ] && grep -q "$id2" "$tmp/body" && ! grep -q "\"$id\"" "$tmp/body"
ok $? "party substring 'gent2' finds the Agent2 call only ($code)" || diag "$tmp/body"
code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings?party=sip:ALI&party_match=prefix")
[ "$code" = 200 ] && grep -q "\"$id\"" "$tmp/body" && grep -q "$id2" "$tmp/body"
ok $? "party prefix 'sip:ALI' finds both alice calls ($code)"
code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings?party=lice&party_match=prefix")
[ "$code" = 200 ] && ! grep -q '"id"' "$tmp/body"
ok $? "'lice' is no prefix ($code)"
# query, the parameter the 400 names
for bad in "party=x&party_match=fuzzy party_match" "party=sip:&party_match=substring party"; do
    code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings?${bad% *}")
    [ "$code" = 400 ] && grep -q "\"param\":\"${bad#* }\"" "$tmp/body"
    ok $? "${bad% *}: 400 naming ${bad#* } ($code)"
done
code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings?limit=1&sort=-start")
n1=$(sed -n 's/.*"next":"\([0-9a-f]*\)".*/\1/p' "$tmp/body")
c2=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings?limit=1&sort=-start&after=$n1")
[ "$code" = 200 ] && [ "$c2" = 200 ] && [ "$n1" = "$id2" ] && grep -q "\"$id\"" "$tmp/body"
ok $? "paging newest first: limit 1 then after=next ($code, $c2)"
req -H "$(auth "$tok_auditor")" "$base/v1/recordings/$id/export.wav" >/dev/null
grep -qi '^content-disposition: attachment; filename="2026-01-02T03[0-9]*Z_alice_bob_'"${id:0:8}"'.wav"' "$tmp/headers"
ok $? "export.wav download name: date, parties, id" || diag "$tmp/headers"
code=$(req -H "$(auth "$tok_auditor")" "$base/v1/recordings/$id/access")
[ "$code" = 200 ] && python3 -c '
import json, sys
recs = json.load(open(sys.argv[1]))["records"]
assert recs and all(r["id"] == sys.argv[2] and r["ev"] == "done" for r in recs), recs
who = {(r["who"], r["route"]) for r in recs}
assert ("audrey", "export") in who and ("lex", "legal_hold") in who, who' "$tmp/body" "$id"
ok $? "access history: who exported and who held it, done records only ($code)" || diag "$tmp/body"
code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings/$id/access")
[ "$code" = 403 ]
ok $? "access history needs auditor ($code)"
code=$(req -X POST -H "$(auth "$tok_admin")" "$base/v1/recordings/$id/legal-hold")
[ "$code" = 405 ] && grep -qi '^Allow: GET, HEAD, PUT, DELETE' "$tmp/headers"
ok $? "POST legal-hold: 405 with Allow ($code)"
code=$(req -X PUT -H "$(auth "$tok_admin")" "$base/v1/recordings/0123456789abcdef0123456789abcdef/legal-hold")
[ "$code" = 404 ]
ok $? "legal hold on an unknown id: 404 ($code)"

# ------------------------------------------------------------- web page, CSP
code=$(req "$base/")
[ "$code" = 200 ] && grep -q '<script src="/ui/app.js"' "$tmp/body" &&
    grep -qi "^Content-Security-Policy: default-src 'none'; script-src 'self'" "$tmp/headers" &&
    grep -qi '^Content-Type: text/html' "$tmp/headers" && ! grep -qi '<script>' "$tmp/body"
ok $? "/ serves the page with a strict CSP and no inline script ($code)"
code=$(req "$base/ui/app.js")
[ "$code" = 200 ] && grep -qi '^Content-Type: text/javascript' "$tmp/headers"
ok $? "/ui/app.js served ($code)"
code=$(req "$base/ui/nope.js")
c2=$(req "$base/ui/..%2fapi.key")
c3=$(req "$base/ui/.hidden")
[ "$code" = 404 ] && [ "$c2" = 404 ] && [ "$c3" = 404 ]
ok $? "unknown and traversal-looking /ui/ paths: 404 ($code $c2 $c3)"

# ---------------------------------------------------------------- metrics files
code=$(req -H "$(auth "$tok_lister")" "$base/metrics")
[ "$code" = 200 ] && grep -q '^srtprec_recorder_packets_total 42$' "$tmp/body" &&
    grep -q "^# keyagent metrics file $tmp/missing-keyagent.prom: unavailable" "$tmp/body" &&
    grep -q '^srtprec_api_audit_failures_total 0$' "$tmp/body"
ok $? "metrics append the recorder's file and say the keyagent's is missing ($code)" || diag "$tmp/body"

# -------------------------------------------------------------------- robustness
big=$(head -c 20000 /dev/zero | tr '\0' a)
# MHD answers 431 and closes with the rest of the header unread, so the
# kernel may reset the connection before curl reads the answer (000, seen
# under CI load): up to three tries; any answer but 431 or a reset fails.
codes=""
for try in 1 2 3; do
    code=$(req -H "X-Big: $big$big$big" -H "$(auth "$tok_lister")" "$base/v1/recordings")
    codes="$codes $code"
    [ "$code" = 431 ] || [ "$code" = 000 ] || break
    [ "$code" = 431 ] && break
done
[ "$code" = 431 ]
ok $? "a 60 kB header (over MHD's 32 KiB per-connection pool): 431 ($codes)"
code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings?from=$big")
[ "$code" = 400 ] || [ "$code" = 414 ]
ok $? "a 20 kB parameter: 400/414 ($code)"
code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings?limit=1&limit=2")
[ "$code" = 400 ]
ok $? "a repeated parameter: 400 ($code)"
code=$(req -H "$(auth "$tok_lister")" "$base/livez")
[ "$code" = 200 ]
ok $? "the daemon still answers after hostile requests ($code)"

# ------------------------------------------- slow clients: per-IP limit, timeout
# Four connections from 127.0.0.1 that send nothing (max-connections-per-ip=4)
# hold that address's quota; another address still gets through, and the
# server drops the idle ones after connection-timeout.
# Connections of the earlier requests must be gone from the server first, or
# one of them may still hold a slot (bounded wait, 5 s).
for _ in $(seq 1 50); do
    [ -z "$(ss -Htn state established state close-wait state fin-wait-1 state fin-wait-2 \
            state last-ack "( sport = :$port )" 2>/dev/null)" ] && break
    sleep 0.1
done
slow_fds=()
for _ in 1 2 3 4; do
    exec {fd}<>"/dev/tcp/127.0.0.1/$port" && slow_fds+=("$fd")
done
# MHD counts a connection once its thread has accepted it, which a loaded
# machine may delay: poll (bounded, under the 5 s idle timeout) until the
# fifth is refused.
code=200
for _ in $(seq 1 20); do
    code=$(req --max-time 5 "$base/livez")
    [ "$code" != 200 ] && break
    sleep 0.2
done
[ "$code" != 200 ]
ok $? "a fifth connection from the same address is refused while four idle ones are open ($code)" ||
    ss -tn "( sport = :$port )" 2>&1 | diag
code=$(req --max-time 5 --interface 127.0.0.2 "$base/livez")
[ "$code" = 200 ]
ok $? "a client from another address (127.0.0.2) is served meanwhile ($code)"
closed=0
for fd in "${slow_fds[@]}"; do
    # read returns (EOF) once the server closes; 3x the timeout is the bound
    if timeout 30 bash -c "cat <&$fd >/dev/null" 2>/dev/null; then closed=$((closed + 1)); fi
    exec {fd}<&-
done
[ "$closed" = 4 ]
ok $? "the server closed all idle connections after connection-timeout ($closed of 4)"
code=$(req "$base/livez")
[ "$code" = 200 ]
ok $? "the address is served again once they are gone ($code)"

# ------------------------------------------------------------------------ audit
code=$(req -H "$(auth "$tok_lister")" "$base/v1/audit")
[ "$code" = 403 ]
ok $? "audit query with a lister token: 403 ($code)"
code=$(req -H "$(auth "$tok_admin")" "$base/v1/audit?limit=1000")
[ "$code" = 200 ] &&
    grep -q '"ev":"done"' "$tmp/body" &&
    grep -q '"who":"audrey"' "$tmp/body" &&
    grep -q '"route":"export"' "$tmp/body" &&
    grep -q "\"bytes\":\"$expect\"" "$tmp/body" &&
    grep -q '"outcome":"complete"' "$tmp/body" &&
    grep -q '"route":"legal_hold"' "$tmp/body" &&
    grep -q '"status":"401"' "$tmp/body"
ok $? "audit query as admin: export (who, bytes, outcome), hold changes, refusals ($code)" || diag "$tmp/body"
code=$(req -H "$(auth "$tok_admin")" "$base/v1/audit?limit=2")
next=$(sed -n 's/.*"next":\([0-9]*\).*/\1/p' "$tmp/body")
[ "$code" = 200 ] && [ "$next" = 2 ]
ok $? "audit query limit=2 gives next=2 ($code, next=$next)"
code=$(req -H "$(auth "$tok_admin")" "$base/v1/audit?after=2&limit=1")
[ "$code" = 200 ] && grep -q '"seq":3' "$tmp/body"
ok $? "audit query after=2 starts at seq 3 ($code)"
code=$(req -H "$(auth "$tok_admin")" "$base/v1/audit?after=x")
[ "$code" = 400 ]
ok $? "audit query with a bad cursor: 400 ($code)"
# Who accessed recording $id: only its records, every one of them.
code=$(req -H "$(auth "$tok_admin")" "$base/v1/audit?recording=$id&limit=1000")
n_all=$(grep -c "$(printf '\tid=%s\t' "$id")" "$tmp/audit.log")
n_got=$(grep -o '"seq":' "$tmp/body" | wc -l)
[ "$code" = 200 ] && [ "$n_got" = "$n_all" ] && [ "$n_got" -ge 2 ] &&
    ! grep -o '"id":"[^"]*"' "$tmp/body" | grep -qv "\"id\":\"$id\""
ok $? "audit recording=ID: its $n_all records and no other ($code, $n_got)" || diag <"$tmp/body"
code=$(req -H "$(auth "$tok_admin")" "$base/v1/audit?who=audrey&limit=1000")
n_all=$(grep -c "$(printf '\twho=audrey\t')" "$tmp/audit.log")
n_got=$(grep -o '"seq":' "$tmp/body" | wc -l)
[ "$code" = 200 ] && [ "$n_got" = "$n_all" ] && ! grep -o '"who":"[^"]*"' "$tmp/body" | grep -qv '"who":"audrey"'
ok $? "audit who=audrey: her $n_all records only ($code, $n_got)"
code=$(req -H "$(auth "$tok_admin")" "$base/v1/audit?to=2000-01-01")
[ "$code" = 200 ] && ! grep -q '"seq"' "$tmp/body"; ok $? "audit to=2000-01-01: nothing ($code)"
n_rec=$(grep -c "$(printf '\tid=%s\t' "$id")" "$tmp/audit.log")
code=$(req -H "$(auth "$tok_admin")" "$base/v1/audit?from=2000-01-01T00:00:00Z&recording=$id&limit=1000")
[ "$code" = 200 ] && [ "$(grep -o '"seq":' "$tmp/body" | wc -l)" = "$n_rec" ]
ok $? "audit from= combines with recording= ($code)"
code=$(req -H "$(auth "$tok_admin")" "$base/v1/audit?who=audrey&format=csv&limit=1000")
[ "$code" = 200 ] && grep -qi '^Content-Type: text/csv' "$tmp/headers" &&
    head -1 "$tmp/body" | grep -q '^seq,time,ev,req,who,auth,client,method,route,id,status,bytes,outcome,authn' &&
    [ "$(($(wc -l <"$tmp/body") - 1))" = "$n_all" ] && sed -n 2p "$tmp/body" | grep -q '^"[0-9]*","[0-9T:.-]*Z","[a-z]*","[0-9]*","audrey",'
ok $? "audit format=csv: header and one quoted line per record ($code)" || diag <"$tmp/body"
code=$(req -H "$(auth "$tok_admin")" "$base/v1/audit?format=xml")
[ "$code" = 400 ] && grep -q '"format"' "$tmp/body"; ok $? "audit format=xml: 400 naming format ($code)"
code=$(req -H "$(auth "$tok_admin")" "$base/v1/audit?recording=nothex")
[ "$code" = 400 ]; ok $? "audit recording=nothex: 400 ($code)"
code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings?who=audrey")
[ "$code" = 400 ]; ok $? "who is not a listing parameter: 400 ($code)"
starts=$(grep -c "$(printf '\tev=start\t')" "$tmp/audit.log")
[ "$starts" -ge 10 ]
ok $? "start records are written before data leaves ($starts)"

# GET /v1/recordings/{id}/metadata: a SIPREC call's RFC 7865 documents,
# decrypted server-side, and each stream's direction and sender.
cat >"$tmp/doc.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>complete</datamode>
<session session_id="c2Vzcw=="></session>
<participant participant_id="cGE="><nameID aor="sip:carol@example.net"><name>Carol Ünver</name></nameID></participant>
<participant participant_id="cGQ="><nameID aor="sip:dave@example.net"><name>Dave</name></nameID></participant>
<stream stream_id="czE=" session_id="c2Vzcw=="><label>s1</label></stream>
<participantstreamassoc participant_id="cGQ="><send>czE=</send></participantstreamassoc>
<ext:x xmlns:ext="urn:example:ext">kept verbatim</ext:x></recording>
XML
mid=$("$mkarchive" "$tmp/archives" "$tmp/index.db" "$tmp/pki/auditor.crt" 5 "meta=$tmp/doc.xml" | head -1)
code=$(req -H "$(auth "$tok_lister")" "$base/v1/recordings/$mid/metadata")
[ "$code" = 403 ]; ok $? "SIPREC metadata with a lister token: 403, like an export ($code)"
code=$(req -H "$(auth "$tok_auditor")" "$base/v1/recordings/$mid/metadata")
[ "$code" = 200 ] && grep -qi '^Content-Type: application/json' "$tmp/headers" && python3 -c '
import json, sys
m = json.load(open(sys.argv[1])); doc = open(sys.argv[2], encoding="utf-8").read()
st = {s["index"]: s for s in m["streams"]}
assert m["call_id"] == "e2e-call-1@example.net", m["call_id"]
assert [d["content"] for d in m["documents"]] == [doc], m["documents"]
assert m["documents"][0]["bytes"] == len(doc.encode()) and m["documents"][0]["index"] == 0
assert [(p["local"], p["remote"]) for p in m["parties"]] == [("sip:carol@example.net", "sip:bob@example.net")]
assert (st[0]["kind"], st[0]["direction"], st[0]["sender"], st[0]["sender_from"]) == ("rtp", "send", "sip:carol@example.net", "direction"), st[0]
assert (st[1]["kind"], st[1]["direction"], st[1]["sender"], st[1]["sender_name"], st[1]["sender_from"]) == ("rtp", "recv", "sip:dave@example.net", "Dave", "metadata"), st[1]
assert st[2]["kind"] == "metadata" and st[2]["sender"] is None and st[3]["kind"] == "parties"
' "$tmp/body" "$tmp/doc.xml"
ok $? "SIPREC metadata with an auditor token: the document verbatim, the parties record, each stream's direction and sender (by label from the metadata's participantstreamassoc, else by direction) ($code)" || diag <"$tmp/body"
grep -q "$(printf '\tev=start\t.*\troute=siprec_metadata\tid=%s\t' "$mid")" "$tmp/audit.log" &&
    grep -q "$(printf '\tev=done\t.*\troute=siprec_metadata\tid=%s\t' "$mid")" "$tmp/audit.log"
ok $? "SIPREC metadata access audited (start, then done)" || grep siprec_metadata "$tmp/audit.log" | diag
code=$(req -H "$(auth "$tok_auditor")" "$base/v1/recordings/$mid/metadata?points=3")
[ "$code" = 400 ]; ok $? "SIPREC metadata takes no parameters: 400 ($code)"
code=$(req -H "$(auth "$tok_auditor")" "$base/v1/recordings/$id/metadata")
[ "$code" = 200 ] && python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
assert m["documents"] == [] and m["parties"] == [] and [s["sender"] for s in m["streams"]] == ["sip:alice@example.net", "sip:bob@example.net"]
' "$tmp/body"
ok $? "a call without SIPREC metadata: no documents, the senders from the sealed header ($code)" || diag <"$tmp/body"

kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
[ "$rc" = 0 ]
ok $? "SIGTERM: clean exit ($rc)"

# ------------------------------------------------------- audit chain verification
out=$("$api_bin" --verify-audit="$tmp/audit.log")
rc=$?
head_hash=$(printf '%s' "$out" | sed -n 's/.*head \([0-9a-f]*\).*/\1/p')
lines=$(wc -l <"$tmp/audit.log")
[ "$rc" = 0 ] && [ ${#head_hash} = 64 ] && [ "$lines" -ge 20 ]
ok $? "--verify-audit: the daemon's log is intact ($rc, $lines lines)"
grep -q "audit-log closed: $lines records, head $head_hash" "$tmp/api.log"
ok $? "the daemon logged the final head (an anchor)"
! grep -q -e "$tok_lister" -e "$tok_auditor" -e "$tok_archivist" -e "$tok_admin" "$tmp/audit.log"
ok $? "no token appears in the audit log"

tamper() { # description [anchor option]; expects exit 1 and BROKEN
    "$api_bin" --verify-audit="$tmp/t.log" ${2:-} >"$tmp/verify.out"
    local rc=$?
    [ "$rc" = 1 ] && grep -q BROKEN "$tmp/verify.out"
    ok $? "--verify-audit detects $1 ($rc: $(cat "$tmp/verify.out"))"
}
sed -E '5s/who=[^\t]*/who=mallory/' "$tmp/audit.log" >"$tmp/t.log"
cmp -s "$tmp/t.log" "$tmp/audit.log" && echo "# edit did not change line 5"
tamper "an edited field (line 5)"
sed '7d' "$tmp/audit.log" >"$tmp/t.log"
tamper "a deleted line (line 7)"
awk 'NR==9{held=$0; next} NR==10{print; print held; next} {print}' "$tmp/audit.log" >"$tmp/t.log"
tamper "two swapped lines (9 and 10)"
{ head -n 3 "$tmp/audit.log"; sed -n 4p "$tmp/audit.log"; tail -n +4 "$tmp/audit.log"; } >"$tmp/t.log"
tamper "a duplicated line"
head -n "$((lines - 1))" "$tmp/audit.log" >"$tmp/t.log"
"$api_bin" --verify-audit="$tmp/t.log" >/dev/null
rc1=$?
tamper "a line removed from the end, given the logged head as anchor" "--audit-anchor=$head_hash"
[ "$rc1" = 0 ]
ok $? "without an anchor a shortened log still verifies: the documented limit ($rc1)"
cp "$tmp/audit.log" "$tmp/t.log"
sed -i '3s/status=[0-9]*/status=999/' "$tmp/t.log"
"$api_bin" --config="$tmp/srtprec.conf" --audit-log="$tmp/t.log" 2>"$tmp/api2.log"
rc=$?
[ "$rc" != 0 ] && grep -q 'broken chain' "$tmp/api2.log"
ok $? "the daemon refuses to start on a tampered audit log ($rc)"

echo "1..$n"
[ "$failed" = 0 ] || diag "$tmp/api.log"
[ "$failed" = 0 ]
