#!/usr/bin/env bash
# Crash safety with the real daemons (issue 6, item 4): kill -9 the recorder
# in the middle of a call, start it again, and check that startup recovery
# sealed the archive, repaired the index, and that the archive is readable
# up to the last flushed chunk and says precisely that it was recovered.
#   test_crash.sh BUILD_DIR
set -u
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib/stack.sh
. "$top/tests/lib/stack.sh"
run=$(mktemp -d "${TMPDIR:-/tmp}/srtprec-crash.XXXXXX")
n=0 failed=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi; }
diag() { sed 's/^/# /'; }
sim_pid=
finish() {
    [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null
    stack_stop
    if [ "$failed" != 0 ]; then
        for f in keyagent recorder recorder1 api sim; do echo "--- $f.log"; tail -n 20 "$run/$f.log" 2>/dev/null; done | diag
    fi
    rm -rf "$run"
}
trap finish EXIT
echo "1..10"

stack_init "$build" "$run" >/dev/null 2>&1
stack_start; ok $? "keyagent, recorder and api start"
rec_pid=${STACK_PIDS[1]}

"$build/tools/srtprec-endpoint-sim" --control="$STACK_CONTROL" --recorder="127.0.0.1:$STACK_MEDIA_PORT" \
    --calls=1 --duration-ms=6000 --out-dir="$run/sim" >"$run/sim.log" 2>&1 &
sim_pid=$!

# Wait (bounded) until the recorder has flushed at least two chunks of media:
# the partial archive grows once a second (flush-interval-ms = 1000).
partial= size0=0 grown=0
for _ in $(seq 1 100); do
    partial=$(ls "$run"/archive/*.srec.partial 2>/dev/null | head -n 1)
    if [ -n "$partial" ]; then
        s=$(stat -c %s "$partial")
        if [ "$size0" = 0 ]; then size0=$s; elif [ "$s" -gt "$size0" ]; then grown=$((grown + 1)); size0=$s; fi
        [ "$grown" -ge 2 ] && break
    fi
    sleep 0.1
done
[ "$grown" -ge 2 ]; ok $? "the partial archive grows while the call runs (flushed chunks)"
kill -KILL "$rec_pid"; wait "$rec_pid" 2>/dev/null
flushed=$(stat -c %s "$partial")
wait "$sim_pid"; sim_pid=
[ -f "$partial" ] && [ "$flushed" -gt 1000 ]; ok $? "after kill -9 the partial archive holds $flushed bytes"

mv "$run/recorder.log" "$run/recorder1.log"
stack_start_one recorder recorder/srtprec-recorder
stack_wait_log "$run/recorder.log" "subscription active" 15; ok $? "the recorder starts again"
grep -q "recovery: .*marked recovered" "$run/recorder.log"; ok $? "startup recovery logs the sealed archive"

final=${partial%.partial}
[ ! -e "$partial" ] && [ -f "$final" ]; ok $? "the partial file became $(basename "$final")"

pki=$run/pki
out=$("$build/tools/srtprec" verify --cert="$pki/auditor.crt" --key="$pki/auditor.key" "$final" 2>&1)
rc=$?
echo "$out" | diag
[ "$rc" = 3 ] && echo "$out" | grep -q "^RECOVERED .*every chunk is authentic, but the recorder stopped"
ok $? "srtprec verify exits 3 and says RECOVERED (authentic, unsealed)"

lst=$("$build/tools/srtprec" list --index="$run/index.sqlite")
echo "$lst" | diag
id=$(basename "$final" .srec)
echo "$lst" | grep "^$id " | grep -q " recovered .*bytes=$(stat -c %s "$final") "
ok $? "the index says recovered, with the sealed file's size"

"$build/tools/srtprec" export --cert="$pki/auditor.crt" --key="$pki/auditor.key" --format=wav "$final" "$run/rec.wav"
ok $? "the recovered archive exports to WAV"
# 8 kHz stereo 16-bit = 32000 bytes/s: at least the two flushed seconds.
wav_bytes=$(stat -c %s "$run/rec.wav" 2>/dev/null || echo 0)
echo "# exported $wav_bytes bytes of WAV" 
[ "$wav_bytes" -ge $((44 + 32000 * 3 / 2)) ]; ok $? "the export holds at least 1.5 s of audio (flushed before the kill)"
exit $failed
