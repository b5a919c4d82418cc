#!/usr/bin/env bash
# An archive that cannot be opened costs that call, not the recorder (TAP):
# with the archive directory gone, calls are logged as lost and counted as
# storage drops while the recorder keeps running; once the directory is
# back, the next calls are recorded whole.
# usage: test_archive_fail.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"
. "$here/../lib/tap.sh"

stack_test_run archfail

stack_init "$build" "$run"
sed -i "/^\[recorder\]/a metrics-file = $run/recorder.prom" "$run/srtprec.conf"
sed -i "/^\[recorder\]/a metrics-interval-ms = 200" "$run/srtprec.conf"
stack_start; ok $? "keyagent, recorder and api start"
rec=${STACK_PIDS[1]}

loadgen() { # calls out
    "$build/tools/srtprec-loadgen" --control="$STACK_CONTROL" --recorder="127.0.0.1:$STACK_MEDIA_PORT" \
        --calls="$1" --duration-ms=1000 --settle-ms=300 --out="$run/$2.tsv" >"$run/$2.out" 2>"$run/$2.log"
}

mv "$run/archive" "$run/archive.away"
loadgen 3 lost; ok $? "3 calls sent while the archive directory is gone"
stack_wait_log "$run/recorder.log" "cannot open an archive" 10
ok $? "the recorder names the call it cannot open an archive for"
kill -0 "$rec" 2>/dev/null; ok $? "the recorder keeps running"
sleep 1.5 # the calls linger and end
drops=0
for _ in $(seq 1 50); do
    drops=$(awk '$1 == "srtprec_recorder_packets_dropped_total{reason=\"storage\"}" { print $2 }' \
        "$run/recorder.prom" 2>/dev/null)
    [ "${drops:-0}" -gt 0 ] && break
    sleep 0.1
done
[ "${drops:-0}" -gt 0 ]; ok $? "their packets count as storage drops ($drops)"
# Handed to the opening archive, counted recorded by the engine at first:
# once the open failed they must not stay counted as recorded too.
recorded=$(awk '$1 == "srtprec_recorder_packets_recorded_total" { print $2 }' "$run/recorder.prom")
[ "${recorded:-x}" = 0 ]; ok $? "none of them counts as recorded (${recorded:-none})"

mv "$run/archive.away" "$run/archive"
loadgen 3 back; ok $? "3 calls sent once the directory is back"
sealed=$(stack_wait_sealed "$run/archive" 3 15)
[ "$sealed" -ge 3 ]; ok $? "their archives are sealed ($sealed)"
"$build/tools/srtprec-loadcheck" --cert="$run/pki/auditor.crt" --key="$run/pki/auditor.key" \
    --expect="$run/back.tsv" "$run"/archive/*.srec >"$run/check.out" 2>"$run/check.err"
ok $? "every packet of the later calls is archived (count and payload hash)"
diag <"$run/check.out"
diag <"$run/check.err"
grep 'cannot open an archive\|without an archive' "$run/recorder.log" | head -3 | diag

stack_stop
reports=$(grep -l -E 'Sanitizer|runtime error' "$run"/*.log 2>/dev/null)
echo "$reports" | diag
[ -z "$reports" ]; ok $? "no sanitizer report from the daemons or the tools"
tap_end
