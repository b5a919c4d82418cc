#!/usr/bin/env bash
# Benchmark srtprec-api with wrk and curl on loopback (figures: docs/benchmarks.md).
#   tools/bench_api.sh [BUILD_DIR] [SECONDS]
# - authenticated metadata requests per second: wrk, 1 API thread (one core),
#   wrk on the other core, keep-alive, TLS 1.3, audit log on (fdatasync per access)
# - export MB/s: one 30-minute call (90,000 packets per direction) decrypted to
#   WAV and streamed, the same as decrypted Ogg, and the encrypted archive download
set -euo pipefail
build=${1:-build}
secs=${2:-10}
here=$(cd "$(dirname "$0")/.." && pwd)
api=$build/api/srtprec-api
mk=$build/tests/api/api_mkarchive
tmp=$(mktemp -d "${TMPDIR:-/tmp}/srtprec-bench-api.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT

bash "$here/tests/api/mkcerts_api.sh" "$tmp/pki"
mkdir -p "$tmp/archives"
"$mk" "$tmp/archives" "$tmp/index.db" "$tmp/pki/auditor.crt" "${PACKETS:-90000}" >"$tmp/ids"
id=$(sed -n 1p "$tmp/ids")
tok=bench-token-$RANDOM$RANDOM
printf '%s' "$tok" | "$api" --hash-token=bench:admin >"$tmp/tokens"
cat >"$tmp/conf" <<CONF
[api]
listen = 127.0.0.1:0
tls-cert = $tmp/pki/api.crt
tls-key = $tmp/pki/api.key
index = $tmp/index.db
archive-dir = $tmp/archives
archive-cert = $tmp/pki/auditor.crt
archive-key = $tmp/pki/auditor.key
tokens-file = $tmp/tokens
audit-log = $tmp/audit.log
threads = ${THREADS:-1}
max-connections = 256
max-connections-per-ip = 256
log-level = warn
CONF
taskset -c 0 "$api" --config="$tmp/conf" 2>"$tmp/api.log" &
pid=$!
for _ in $(seq 1 100); do
    port=$(sed -n 's/.*port \([0-9][0-9]*\).*/\1/p' "$tmp/api.log" 2>/dev/null || true)
    [ -n "${port:-}" ] && break
    sleep 0.1
done
# log-level=warn hides the "listening" line: ask the kernel instead
if [ -z "${port:-}" ]; then
    sleep 0.5
    port=$(ss -ltnp | sed -n "s/.*127.0.0.1:\([0-9]*\).*pid=$pid,.*/\1/p" | head -1)
fi
base=https://127.0.0.1:$port
echo "== metadata: wrk -t1 -c32 -d${secs}s (API pinned to CPU 0, wrk to CPU 1)"
taskset -c 1 wrk -t1 -c32 -d"${secs}s" -H "Authorization: Bearer $tok" "$base/v1/recordings/$id"
echo "== listing (limit=100 of 2): wrk -t1 -c32 -d${secs}s"
taskset -c 1 wrk -t1 -c32 -d"${secs}s" -H "Authorization: Bearer $tok" "$base/v1/recordings"
echo "== export.wav of a $((${PACKETS:-90000} / 50 / 60))-minute call, one client"
for i in 1 2 3; do
    curl -sS --cacert "$tmp/pki/ca.crt" -H "Authorization: Bearer $tok" -o /dev/null \
        -w 'export: %{size_download} bytes in %{time_total} s = %{speed_download} B/s\n' \
        "$base/v1/recordings/$id/export.wav"
done
echo "== export.ogg (decrypted Ogg as recorded) of the same call, one client"
for i in 1 2 3; do
    curl -sS --cacert "$tmp/pki/ca.crt" -H "Authorization: Bearer $tok" -o /dev/null \
        -w 'export.ogg: %{size_download} bytes in %{time_total} s = %{speed_download} B/s\n' \
        "$base/v1/recordings/$id/export.ogg"
done
echo "== encrypted archive download, one client"
for i in 1 2 3; do
    curl -sS --cacert "$tmp/pki/ca.crt" -H "Authorization: Bearer $tok" -o /dev/null \
        -w 'archive: %{size_download} bytes in %{time_total} s = %{speed_download} B/s\n' \
        "$base/v1/recordings/$id/archive"
done
echo "== audit records written: $(wc -l <"$tmp/audit.log")"
"$api" --verify-audit="$tmp/audit.log"
