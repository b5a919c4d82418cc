#!/usr/bin/env bash
# Upload and download throughput to a throwaway local OpenStack Swift through
# its S3 API (tests/lib/swift.sh), with curl (libcurl 7.88, SigV4 signed by
# curl, x-amz-content-sha256 the real SHA-256 of the body as the recorder's
# uploader will send it).  The floor an archive upload to this store can reach
# on this machine; prints min/median/max MB/s of RUNS PUTs and GETs of SIZE MB.
#
#   tools/bench_swift.sh [SIZE_MB] [RUNS]      (defaults 64 and 5)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
size=${1:-64}; runs=${2:-5}
# shellcheck source=../tests/lib/stack.sh
. "$top/tests/lib/stack.sh"
# shellcheck source=../tests/lib/swift.sh
. "$top/tests/lib/swift.sh"
work=$(mktemp -d /tmp/bench_swift.XXXXXX)
cleanup() { swift_stop; rm -rf "$work"; }
trap cleanup EXIT
swift_start "$work/swift"
swift_curl -fsS -X PUT "$SWIFT_URL/srtprec-bench"
head -c "$((size << 20))" /dev/urandom >"$work/obj"
hash=$(sha256sum "$work/obj" | cut -d' ' -f1)
stats() { sort -n | awk '{v[NR]=$1} END {printf "min %.1f median %.1f max %.1f MB/s\n", v[1], v[int((NR+1)/2)], v[NR]}'; }
for i in $(seq 1 "$runs"); do
    SWIFT_PAYLOAD_HASH=$hash swift_curl -fsS -o /dev/null -w '%{size_upload} %{time_total}\n' \
        -T "$work/obj" "$SWIFT_URL/srtprec-bench/obj$i"
done | awk '{print $1 / $2 / 1048576}' | { printf 'PUT %s MB: ' "$size"; stats; }
for i in $(seq 1 "$runs"); do
    swift_curl -fsS -o /dev/null -w '%{size_download} %{time_total}\n' "$SWIFT_URL/srtprec-bench/obj$i"
done | awk '{print $1 / $2 / 1048576}' | { printf 'GET %s MB: ' "$size"; stats; }
