#!/usr/bin/env bash
# End to end with the real daemons on 127.0.0.1 (TAP):
#  (a) the exported WAV equals, sample for sample, what the simulator sent
#      (the sent mu-law decoded by ffmpeg, an independent G.711 decoder);
#  (b) no run of 16 plaintext payload bytes appears in any archive file;
#  (c) a recorder whose certificate is not on the keyagent's allow list gets
#      403 and decrypts nothing; one from a foreign CA does not get through TLS.
# usage: test_e2e.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"

. "$here/../lib/tap.sh"

run=$(mktemp -d /tmp/srtprec-e2e.XXXXXX)
extra_pids=()
cleanup() {
    stack_stop
    for p in "${extra_pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    [ "$failed" = 0 ] && rm -rf "$run"
}
trap cleanup EXIT

stack_init "$build" "$run"
# Two receive threads whatever the machine: a call's two streams come from two
# sources, which SO_REUSEPORT may hash to two workers sharing one archive.
sed -i "/^\[recorder\]/a workers = 2" "$run/srtprec.conf"
sed -i "/^\[recorder\]/a metrics-file = $run/recorder.prom" "$run/srtprec.conf"
sed -i "/^\[recorder\]/a metrics-interval-ms = 200" "$run/srtprec.conf"
stack_start; ok $? "keyagent, recorder and api start; the recorder subscribes over mutual TLS"

# A second recorder, same CA, identity not on the allow list.
start_rogue() { # name cert; sets rogue_port (no subshell: its pid must stay ours)
    local port; port=$(stack_free_port)
    rogue_port=$port
    mkdir -p "$run/$1-archive"
    "$build/recorder/srtprec-recorder" --config="$run/srtprec.conf" --tls-cert="$run/pki/$2.crt" \
        --tls-key="$run/pki/$2.key" --identity="sip:$2@example.net" --media-listen="127.0.0.1:$port" \
        --archive-dir="$run/$1-archive" --index="$run/$1.sqlite" --metrics-file="$run/$1.prom" \
        >"$run/$1.log" 2>&1 &
    extra_pids+=($!)
}
start_rogue intruder intruder
intruder_port=$rogue_port
start_rogue foreign foreign

"$build/tools/srtprec-endpoint-sim" --control="$STACK_CONTROL" --recorder="127.0.0.1:$STACK_MEDIA_PORT" \
    --calls=2 --duration-ms=2000 --out-dir="$run/sim" >"$run/sim.log" 2>&1
ok $? "endpoint simulator placed 2 calls"
grep -q "media: 2 worker threads" "$run/recorder.log"; ok $? "the recorder runs 2 worker threads"
stack_wait_recordings 2 20; ok $? "the API lists 2 complete recordings"

ids=$(sqlite3 "$run/index.sqlite" "select id || ' ' || call_id from recordings where state = 1" 2>/dev/null ||
      sqlite3 "$run/index.sqlite" "select id || ' ' || call_id from recordings")
[ "$(echo "$ids" | grep -c .)" -ge 2 ]; ok $? "the index holds both calls"

while read -r id call; do
    [ -n "$id" ] || continue
    wav="$run/$id.wav"
    stack_curl -s -f -o "$wav" "$(stack_api)/v1/recordings/$id/export.wav"
    ok $? "export.wav of $id over HTTPS"
    plain=()
    while IFS=$'\t' read -r c sid dir ssrc pkts file; do
        [ "$c" = "$call" ] || continue
        f="$run/sim/$(basename "$file")"
        plain+=("$f")
        ffmpeg -nostdin -loglevel error -f mulaw -ar 8000 -ac 1 -i "$f" -f s16le -y "$f.s16" &&
            ch=$([ "$dir" = send ] && echo 0 || echo 1) &&
            "$build/tests/integration/pcm_match" "$wav" "$ch" "$f.s16" 2>&1 | diag
        ok "${PIPESTATUS[0]}" "call $call stream $sid ($dir, $pkts packets): exported audio equals what was sent"
    done < <(tail -n +2 "$run/sim/manifest.tsv")
    [ "${#plain[@]}" = 2 ]; ok $? "call $call had two streams in the simulator's manifest"
    "$build/tests/integration/no_plaintext" "$run/archive/$id.srec" "${plain[@]}" 2>&1 | diag
    ok "${PIPESTATUS[0]}" "archive $id holds no 16-byte run of plaintext payload"
done <<<"$ids"

# A call disclosed by a party that does not know its ROC (an SBC that
# first saw it mid-way): 4,000 s in at 50 packets a second each stream is
# past its third wrap; the disclosure says ROC unknown and gives the call's
# start, and the recorder searches the ROCs that age allows (docs/engine.md).
"$build/tools/srtprec-endpoint-sim" --control="$STACK_CONTROL" --recorder="127.0.0.1:$STACK_MEDIA_PORT" \
    --calls=1 --duration-ms=1000 --call-age-s=4000 --roc-unknown=yes --out-dir="$run/late" >"$run/late.log" 2>&1
ok $? "endpoint simulator placed a call 4,000 s old, its ROC unknown"
late_call=$(awk -F'\t' 'NR == 2 { print $1 }' "$run/late/manifest.tsv")
stack_wait_recordings 3 20; ok $? "the API lists the late call's recording"
late_id=$(sqlite3 "$run/index.sqlite" "select id from recordings where call_id = '$late_call'")
stack_curl -s -f -o "$run/late.wav" "$(stack_api)/v1/recordings/$late_id/export.wav"
while IFS=$'\t' read -r c sid dir ssrc pkts file; do
    f="$run/late/$(basename "$file")"
    ffmpeg -nostdin -loglevel error -f mulaw -ar 8000 -ac 1 -i "$f" -f s16le -y "$f.s16" &&
        ch=$([ "$dir" = send ] && echo 0 || echo 1) &&
        "$build/tests/integration/pcm_match" "$run/late.wav" "$ch" "$f.s16" 2>&1 | diag
    ok "${PIPESTATUS[0]}" "late call stream $sid ($dir, $pkts packets, past 3 wraps): exported audio equals what was sent"
done < <(tail -n +2 "$run/late/manifest.tsv")
metric() { awk -v n="$1" '$1 == n { print $2 }' "$run/recorder.prom"; }
for _ in $(seq 1 30); do [ "$(metric srtprec_recorder_roc_search_found_total)" = 2 ] && break; sleep 0.1; done
[ "$(metric srtprec_recorder_roc_search_found_total)" = 2 ] &&
    [ "$(metric srtprec_recorder_roc_search_failed_total)" = 0 ] &&
    [ "$(metric srtprec_recorder_roc_search_attempts_total)" -ge 2 ]
ok $? "metrics: the ROC of both streams found ($(metric srtprec_recorder_roc_search_attempts_total) attempts), none given up"

grep -q "refused the subscription: 403" "$run/intruder.log"; ok $? "unauthorised recorder is refused with 403"
! grep -q "subscription active" "$run/intruder.log"; ok $? "unauthorised recorder never gets a subscription"
! grep -q "intruder" "$run/disclosures.log" 2>/dev/null; ok $? "the disclosure log names no disclosure to the intruder"
! grep -q "subscription active" "$run/foreign.log"; ok $? "foreign-CA recorder never gets a subscription"

# Fork a call to the intruder's media port: it must decrypt nothing.
"$build/tools/srtprec-endpoint-sim" --control="$STACK_CONTROL" --recorder="127.0.0.1:$intruder_port" \
    --calls=1 --duration-ms=1000 --out-dir="$run/sim2" >"$run/sim2.log" 2>&1
ok $? "a call forked to the intruder's recorder"
kill -TERM "${extra_pids[0]}"; wait "${extra_pids[0]}"
grep -E "media: [1-9][0-9]* received, 0 recorded" "$run/intruder.log" | diag
grep -qE "media: [1-9][0-9]* received, 0 recorded" "$run/intruder.log"; ok $? "the intruder received packets and decrypted none"
[ -z "$(ls -A "$run/intruder-archive")" ]; ok $? "the intruder wrote no archive"

# Stop everything now: sanitizer reports (ASan build) appear at exit.
stack_stop
for p in "${extra_pids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
extra_pids=()
! grep -l "Sanitizer" "$run"/*.log 2>/dev/null | grep -q .; ok $? "no sanitizer report from any daemon"
grep -h -A12 "Sanitizer" "$run"/*.log 2>/dev/null | head -n 60 | diag

if [ "$failed" != 0 ]; then
    for f in keyagent recorder api intruder foreign sim; do echo "--- $f.log"; tail -n 30 "$run/$f.log"; done | diag
fi
tap_end
