#!/usr/bin/env bash
# The srtprec demo, end to end on 127.0.0.1:
#   a throwaway CA; srtprec-keyagent, srtprec-recorder and srtprec-api;
#   the recorder SUBSCRIBEs (Event: srtp) to the keyagent over mutual TLS;
#   an endpoint simulator places 3 calls with two SRTP streams each
#   (PCMU, AES_CM_128_HMAC_SHA1_80, fresh keys), discloses the keys through
#   the keyagent and forks its SRTP to the recorder; the recorder decrypts
#   with libsrtp2 and writes one encrypted archive per call; the API lists
#   the calls and exports one as WAV.  Ends by itself.
#
#   tools/demo.sh           record, export, print, stop
#   tools/demo.sh --serve   the same, then keep the daemons running (Ctrl-C stops them)
set -euo pipefail
serve=0
[ "${1:-}" = --serve ] && serve=1

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/tools/setup.sh" demo
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

run="$top/demo-run"
rm -rf "$run"
# shellcheck source=../tests/lib/stack.sh
. "$top/tests/lib/stack.sh"
stack_init build "$run"
trap stack_stop EXIT

echo "== starting srtprec-keyagent (TLS 127.0.0.1:$STACK_KA_PORT), srtprec-recorder (UDP 127.0.0.1:$STACK_MEDIA_PORT), srtprec-api (https://127.0.0.1:$STACK_API_PORT)"
stack_start
echo "== recorder subscribed to the keyagent over mutual TLS:"
grep -h "subscription active" "$run/recorder.log" | sed 's/^/   /'

echo "== placing 3 calls (2 SRTP streams each, 3 s of tones) through the endpoint simulator"
build/tools/srtprec-endpoint-sim --control="$STACK_CONTROL" --recorder="127.0.0.1:$STACK_MEDIA_PORT" \
    --calls=3 --duration-ms=3000 --out-dir="$run/sim"

stack_wait_recordings 3 20 || { echo "recordings did not complete; see $run/*.log" >&2; exit 1; }
echo "== the recorder's account of the calls:"
grep -hE "call .* (ended|recording into)" "$run/recorder.log" | sed 's/^.*\] /   /'

echo "== GET /v1/recordings"
stack_curl -s "$(stack_api)/v1/recordings" | tee "$run/recordings.json"
echo
id=$(grep -o '"id": *"[0-9a-f]\{32\}"' "$run/recordings.json" | head -n 1 | grep -o '[0-9a-f]\{32\}')
stack_curl -s -o "$run/$id.wav" "$(stack_api)/v1/recordings/$id/export.wav"
echo "== exported recording $id as WAV: $run/$id.wav ($(stat -c %s "$run/$id.wav") bytes)"
echo "== its signature (pki/signer.crt: the recorder's Ed25519 key), index hash and seal ledger, then its content:"
build/tools/srtprec verify --signer="$run/pki/signer.crt" --index="$run/index.sqlite" \
    --cert="$run/pki/auditor.crt" --key="$run/pki/auditor.key" "$run/archive/$id.srec" | sed 's/^/   /'
build/tools/srtprec verify-log --log="$run/index.sqlite.seals" | sed 's/^/   /'

cat <<TXT

== recorded $(grep -c '"id"' <(tr '{' '\n' <"$run/recordings.json")) calls; archives (AES-256-GCM, data key wrapped to pki/auditor.crt) are in
   $run/archive/   index: $run/index.sqlite   logs: $run/*.log

Console (the auditor page; the browser must trust $run/pki/ca.crt, or accept
the warning for this throwaway CA), sign in with the token below:
   https://127.0.0.1:$STACK_API_PORT/

To fetch recordings while the API runs (tokens hashed in $run/tokens), paste this line first:
   TOKEN=$STACK_AUDITOR_TOKEN
   curl --cacert $run/pki/ca.crt -H "Authorization: Bearer \$TOKEN" https://127.0.0.1:$STACK_API_PORT/v1/recordings
   curl --cacert $run/pki/ca.crt -H "Authorization: Bearer \$TOKEN" https://127.0.0.1:$STACK_API_PORT/v1/recordings/$id
   curl --cacert $run/pki/ca.crt -H "Authorization: Bearer \$TOKEN" -o call.wav https://127.0.0.1:$STACK_API_PORT/v1/recordings/$id/export.wav
   curl --cacert $run/pki/ca.crt -H "Authorization: Bearer \$TOKEN" -o call.srec https://127.0.0.1:$STACK_API_PORT/v1/recordings/$id/archive
(the auditor token may list, play and export; the API runs only while tools/demo.sh --serve does)
Offline: build/tools/srtprec export --cert=$run/pki/auditor.crt --key=$run/pki/auditor.key --format=wav $run/archive/$id.srec call.wav
TXT
if [ "$serve" = 1 ]; then
    echo "== serving; Ctrl-C stops the keyagent, recorder and API"
    while sleep 3600; do :; done
fi
