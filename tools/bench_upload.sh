#!/usr/bin/env bash
# Upload throughput through the recorder's uploader (recorder/upload.c) to a
# throwaway local OpenStack Swift behind stunnel (tests/lib/swift.sh): the
# whole path (scan, read and hash, SigV4, TLS, single PUT or multipart with
# ETag checks, index location, removal).  Beside tools/bench_swift.sh (curl
# alone, no TLS) it shows what the uploader's checks and TLS cost.
#
#   tools/bench_upload.sh BUILD_DIR [COUNT SIZE_MB]...   (default: 40 x 3, 8 x 32)
#   BENCH_PLAIN=1: to Swift's plain HTTP port, not through stunnel (TLS's share)
#   BENCH_PART_MB=N: multipart part size (default 8; 64: 32 MB files in one PUT)
#   BENCH_THREADS=N: upload threads (default 1; the recorder's upload-threads)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: bench_upload.sh BUILD_DIR [COUNT SIZE_MB]...}" && pwd); shift
[ $# -ge 2 ] || set -- 40 3 8 32
# shellcheck source=../tests/lib/stack.sh
. "$top/tests/lib/stack.sh"
# shellcheck source=../tests/lib/swift.sh
. "$top/tests/lib/swift.sh"
work=$(mktemp -d /tmp/bench_upload.XXXXXX)
cleanup() { swift_stop; rm -rf "$work"; }
trap cleanup EXIT
"$top/tests/lib/mkcerts.sh" "$work/pki" >/dev/null 2>&1
swift_start "$work/swift" "$work/pki/api.crt" "$work/pki/api.key"
swift_curl -fsS -o /dev/null -X PUT "$SWIFT_URL/srtprec-bench"
printf '%s\n%s\n' "$SWIFT_ACCESS" "$SWIFT_SECRET" >"$work/store.key"
chmod 600 "$work/store.key"
i=0
while [ $# -ge 2 ]; do
    i=$((i + 1)); mkdir -p "$work/run$i"
    url=$SWIFT_TLS_URL; [ -n "${BENCH_PLAIN:-}" ] && url=$SWIFT_URL
    "$build/recorder/bench_upload" "$url" "$work/pki/ca.crt" "$work/store.key" srtprec-bench \
        "$work/run$i" "$1" "$(( $2 << 20 ))" 2>"$work/run$i.log" || { tail -5 "$work/run$i.log" >&2; exit 1; }
    shift 2
done
