#!/usr/bin/env bash
# Attacks on srtprec-api (issue 13; TAP; docs/threat-model.md):
#  - slowloris from 127.0.0.2-5 (16 each, one header byte a second) plus 16
#    idle TCP connections: an auditor's metadata requests succeed within 2 s,
#    and the server counts header timeouts / evictions;
#  - eight slow exports: another auditor's metadata within 100 ms;
#  - the audit log on a full filesystem: list, metadata, archive and export
#    answer 503 and send no recording data (root + unshare -m; else skipped).
# usage: api_admission.sh SRTPREC_API MKARCHIVE MKCERTS_SH ADMISSION_PY
set -uo pipefail
api_bin=$1 mkarchive=$2 mkcerts=$3 py=$4
if [ -z "${SRTPREC_SEC_NS:-}" ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null &&
    unshare -m --propagation private true 2>/dev/null; then
    SRTPREC_SEC_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
python3 -c "import socket; socket.socket().bind(('127.0.0.6', 0))" 2>/dev/null ||
    { echo "1..0 # SKIP 127.0.0.2-6 are not loopback here"; exit 0; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/srtprec-sec-api.XXXXXX")
pid=
stop_api() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    pid=
}
cleanup() { stop_api; umount "$tmp/auditfs" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 1' INT TERM
n=0 failed=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi; }
bail() { echo "Bail out! $*"; [ -f "$tmp/api.log" ] && sed 's/^/# /' "$tmp/api.log" | tail -20; exit 1; }
tap_py() { # renumber python's TAP lines into ours
    while IFS= read -r line; do
        case $line in
            "ok "*) ok 0 "${line#ok * - }" ;;
            "not ok "*) ok 1 "${line#not ok * - }" ;;
            *) echo "# $line" ;;
        esac
    done
}

bash "$mkcerts" "$tmp/pki" || bail "mkcerts failed"
mkdir -p "$tmp/archives"
"$mkarchive" "$tmp/archives" "$tmp/index.db" "$tmp/pki/auditor.crt" 1500 >"$tmp/ids" || bail "mkarchive"
id=$(sed -n 1p "$tmp/ids")
tok_a=aud-a-$RANDOM$RANDOM tok_b=aud-b-$RANDOM$RANDOM tok_l=lister-$RANDOM$RANDOM
{
    printf '%s' "$tok_a" | "$api_bin" --hash-token=audrey:auditor,lister,archivist
    printf '%s' "$tok_b" | "$api_bin" --hash-token=bert:auditor,lister,archivist
    printf '%s' "$tok_l" | "$api_bin" --hash-token=lena:lister
} >"$tmp/tokens" || bail "--hash-token"

start_api() { # audit-log path
    cat >"$tmp/srtprec.conf" <<CONF
[api]
listen = 127.0.0.1:0
tls-cert = $tmp/pki/api.crt
tls-key = $tmp/pki/api.key
index = $tmp/index.db
archive-dir = $tmp/archives
archive-cert = $tmp/pki/auditor.crt
archive-key = $tmp/pki/auditor.key
tokens-file = $tmp/tokens
audit-log = $1
max-connections = 64
max-connections-per-ip = 16
threads = 4
header-timeout = 3
reserved-connections = 8
connection-timeout = 30
CONF
    : >"$tmp/api.log"
    "$api_bin" --config="$tmp/srtprec.conf" 2>"$tmp/api.log" &
    pid=$!
    port=
    for _ in $(seq 1 100); do
        port=$(sed -n 's/.*listening on https:.* port \([0-9][0-9]*\).*/\1/p' "$tmp/api.log")
        [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || bail "srtprec-api did not start"
}
metric() { # name
    curl -sS --max-time 5 --cacert "$tmp/pki/ca.crt" -H "Authorization: Bearer $tok_l" \
        "https://127.0.0.1:$port/metrics" | sed -n "s/^$1 //p"
}

# ------------------------------------------------------------ slowloris + idle
start_api "$tmp/audit.log"
tap_py < <(python3 "$py" "$port" "$tmp/pki/ca.crt" "$tok_a" "$tok_b" "$id" slowloris)
to=$(metric srtprec_api_header_timeouts_total) ev=$(metric srtprec_api_connections_evicted_total)
[ "$((${to:-0} + ${ev:-0}))" -ge 64 ]
ok $? "the server closed the flood's connections (header timeouts $to, evictions $ev)"
kill -0 "$pid" 2>/dev/null; ok $? "the daemon is still running"

# ------------------------------------------------------------- slow exports
tap_py < <(python3 "$py" "$port" "$tmp/pki/ca.crt" "$tok_a" "$tok_b" "$id" slowexport)
to0=$(metric srtprec_api_header_timeouts_total)
tap_py < <(python3 "$py" "$port" "$tmp/pki/ca.crt" "$tok_a" "$tok_b" "$id" deadline)
to=$(metric srtprec_api_header_timeouts_total)
[ "$((to - to0))" -ge 10 ]
ok $? "header timeouts counted ($to0 -> $to)"
stop_api

# --------------------------------------------------- audit log cannot be written
if [ -n "${SRTPREC_SEC_NS:-}" ]; then
    mkdir -p "$tmp/auditfs"
    mount -t tmpfs -o size=256k tmpfs "$tmp/auditfs"
    start_api "$tmp/auditfs/audit.log"
    dd if=/dev/zero of="$tmp/auditfs/fill" bs=4k 2>/dev/null # fills the tmpfs
    for path in "/v1/recordings" "/v1/recordings/$id" "/v1/recordings/$id/archive" \
        "/v1/recordings/$id/export.wav" "/v1/recordings/$id/export.ogg"; do
        code=$(curl -sS --max-time 10 --cacert "$tmp/pki/ca.crt" -H "Authorization: Bearer $tok_a" \
            -o "$tmp/body" -w '%{http_code}' "https://127.0.0.1:$port$path" 2>/dev/null)
        [ "$code" = 503 ] && grep -q '"error":"audit_unavailable"' "$tmp/body" &&
            ! grep -q -e 'e2e-call' -e "$id" "$tmp/body"
        ok $? "audit log full: GET $path answers 503 with no recording data ($code)"
    done
    stop_api
else
    n=$((n + 1)); echo "ok $n # SKIP audit-log-full checks need root and unshare -m"
fi
echo "1..$n"
exit $((failed > 0))
