#!/usr/bin/env bash
# The recorder's lifecycle and durability (TAP; docs/recorder.md, "Signals"
# and "Index and disk failures"):
#  - a missing archive-dir or an unwritable index fails the start, naming it;
#  - SIGHUP mid-call (a good reload and a failed one) keeps every call
#    recording: archives whole, index rows = what `srtprec verify` reads;
#  - an index locked by another process (sqlite3 BEGIN IMMEDIATE) still
#    gets every row once the lock goes, without a restart;
#  - SIGTERM mid-call seals the calls as "cut by shutdown", index counts =
#    verify's.
# usage: test_lifecycle.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"
. "$here/../lib/tap.sh"

stack_test_run lifecycle
lock_pid=
test_cleanup() { [ -n "$lock_pid" ] && kill "$lock_pid" 2>/dev/null; }

command -v sqlite3 >/dev/null || { echo "1..0 # SKIP sqlite3 CLI not installed (tools/setup.sh)"; exit 0; }

stack_init "$build" "$run"
sed -i "/^\[recorder\]/a metrics-file = $run/recorder.prom" "$run/srtprec.conf"
sed -i "/^\[recorder\]/a metrics-interval-ms = 200" "$run/srtprec.conf"
pki=$run/pki
rec_bin=$build/recorder/srtprec-recorder

# --- start-up refusals: before any subscription --------------------------------
timeout 20 "$rec_bin" --config="$run/srtprec.conf" --archive-dir="$run/no-such-dir" \
    >"$run/nodir.log" 2>&1
rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q "archive-dir $run/no-such-dir" "$run/nodir.log" &&
    ! grep -q "subscri" "$run/nodir.log"
ok $? "a missing archive-dir fails the start (exit $rc), named, before subscribing"
diag <"$run/nodir.log"
timeout 20 "$rec_bin" --config="$run/srtprec.conf" --index="$run/no-such-dir/index.sqlite" \
    >"$run/noindex.log" 2>&1
rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q "index $run/no-such-dir/index.sqlite" "$run/noindex.log"
ok $? "an index that cannot be opened fails the start (exit $rc), named"

stack_start; ok $? "keyagent, recorder and api start"
rec=${STACK_PIDS[1]}

loadgen() { # calls duration_ms out
    "$build/tools/srtprec-loadgen" --control="$STACK_CONTROL" --recorder="127.0.0.1:$STACK_MEDIA_PORT" \
        --calls="$1" --duration-ms="$2" --settle-ms=300 --out="$run/$3.tsv" >"$run/$3.out" 2>"$run/$3.log"
}
metric() { awk -v n="$1" '$1 == n { print $2 }' "$run/recorder.prom" 2>/dev/null; }
# Waits (bounded) until metric $1 reads $2; the file is rewritten every 200 ms.
metric_is() { # name value [tenths]
    for _ in $(seq 1 "${3:-30}"); do
        [ "$(metric "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
fails() { metric "srtprec_recorder_reload_failures_total{part=\"$1\"}"; }
# For every archive in the list: the verify line; prints "bad" for each
# archive whose index row (packets, streams, state) differs from it.
check_rows() { # want_state want_end files...
    local st=$1 end=$2 f id out rp rs row
    shift 2
    for f in "$@"; do
        id=$(basename "$f" .srec)
        out=$("$build/tools/srtprec" verify --cert="$pki/auditor.crt" --key="$pki/auditor.key" "$f" 2>&1)
        echo "$out" | diag
        rp=$(echo "$out" | sed -n 's/.* read_packets=\([0-9]*\).*/\1/p')
        rs=$(echo "$out" | sed -n 's/.* streams=\([0-9]*\).*/\1/p')
        row=$(sqlite3 "$run/index.sqlite" "select packets, n_streams, state from recordings where id = '$id'")
        echo "# row $id: $row" >&2
        echo "$out" | grep -q "^OK .* end=$end " || echo bad
        [ "$row" = "$rp|$rs|$st" ] || echo bad
    done
}

# --- SIGHUP mid-call -----------------------------------------------------------
loadgen 3 3000 hup &
lg=$!
stack_wait_log "$run/recorder.log" "recording into archive" 10
sleep 0.5
kill -HUP "$rec"
metric_is srtprec_recorder_reloads_total 1 50; ok $? "SIGHUP reloads (reloads_total 1)"
[ "$(fails config)$(fails tls)$(fails recipients)$(fails log_level)" = 0000 ]
ok $? "every part applied: the TLS certificate, key, CA and CRL and the recipients read again"
# A reload that cannot be applied keeps the old state.
cp "$run/srtprec.conf" "$run/srtprec.conf.good"
sed -i "0,/^tls-cert = .*recorder.crt/s||tls-cert = $run/missing.crt|" "$run/srtprec.conf"
sed -i "/^\[recorder\]/,/^\[api\]/s/^log-level = info/log-level = shouting/" "$run/srtprec.conf"
sed -i "s|^archive-recipients = .*|archive-recipients = $run/missing-recipient.crt|" "$run/srtprec.conf"
kill -HUP "$rec"
metric_is srtprec_recorder_reloads_total 2 50 &&
    [ "$(fails config)$(fails tls)$(fails recipients)$(fails log_level)" = 0111 ]
ok $? "a reload with a missing certificate, recipient and a bad log level keeps the old ones (failures counted by part: $(fails tls) $(fails recipients) $(fails log_level))"
cp "$run/srtprec.conf.good" "$run/srtprec.conf"
wait "$lg"; ok $? "3 calls sent through two SIGHUPs"
kill -0 "$rec" 2>/dev/null; ok $? "the recorder is still running"
sealed=$(stack_wait_sealed "$run/archive" 3 15)
[ "$sealed" -ge 3 ]; ok $? "their archives are sealed ($sealed)"
"$build/tools/srtprec-loadcheck" --cert="$pki/auditor.crt" --key="$pki/auditor.key" \
    --expect="$run/hup.tsv" "$run"/archive/*.srec >"$run/check.out" 2>"$run/check.err"
ok $? "every packet of the calls is archived (count and payload hash)"
diag <"$run/check.out"
bad=$(check_rows 1 complete "$run"/archive/*.srec | wc -l)
[ "$bad" = 0 ]; ok $? "each index row: complete, packets and streams = what verify reads ($bad wrong)"
sleep 0.4
recorded=$(metric srtprec_recorder_packets_recorded_total)
sum=$(sqlite3 "$run/index.sqlite" "select sum(packets) from recordings")
[ "${recorded:-x}" = "$sum" ] && [ "$sum" -gt 0 ]
ok $? "metrics: packets recorded ($recorded) = the index rows' sum ($sum)"
mkdir -p "$run/done1" && mv "$run"/archive/*.srec "$run/done1/"

# --- a second archive recipient by reload, then the index locked --------------
sed -i "s|^archive-recipients = .*|archive-recipients = $pki/auditor.crt, $pki/api.crt|" "$run/srtprec.conf"
kill -HUP "$rec"
metric_is srtprec_recorder_reloads_total 3 50 && [ "$(fails recipients)" = 1 ]
ok $? "SIGHUP loads a new archive-recipients list (no new recipients failure)"
(echo "BEGIN IMMEDIATE; INSERT INTO schema_version VALUES (2);"; sleep 5; echo "ROLLBACK;") |
    sqlite3 "$run/index.sqlite" &
lock_pid=$!
sleep 0.3
loadgen 2 1000 locked; ok $? "2 calls sent while the index is write-locked"
sealed=$(stack_wait_sealed "$run/archive" 2 10)
[ "$sealed" -ge 2 ]; ok $? "their archives are sealed while the lock is held ($sealed)"
for _ in $(seq 1 30); do
    q=$(metric srtprec_recorder_index_rows_queued_total)
    [ "${q:-0}" -ge 2 ] && break
    sleep 0.1
done
[ "${q:-0}" -ge 2 ]; ok $? "the failed index writes are queued (index_rows_queued_total $q)"
wait "$lock_pid"; lock_pid=
rows=0
for _ in $(seq 1 100); do
    rows=$(sqlite3 "$run/index.sqlite" "select count(*) from recordings where state = 1 and packets > 0" 2>/dev/null)
    [ "${rows:-0}" -ge 5 ] && break
    sleep 0.1
done
[ "${rows:-0}" -ge 5 ]; ok $? "once the lock goes, their rows are written without a restart ($rows complete rows)"
sleep 0.4
q=$(metric srtprec_recorder_index_rows_queued_total)
rt=$(metric srtprec_recorder_index_rows_retried_total)
wt=$(metric srtprec_recorder_index_rows_waiting)
[ "${q:-0}" -ge 2 ] && [ "${rt:-0}" = "$q" ] && [ "${wt:-x}" = 0 ]
ok $? "metrics: ${q:-none} rows queued, ${rt:-none} written on retry, ${wt:-none} waiting"
bad=$(check_rows 1 complete "$run"/archive/*.srec | wc -l)
[ "$bad" = 0 ]; ok $? "those rows: packets and streams = what verify reads ($bad wrong)"
bad=0
for f in "$run"/archive/*.srec; do
    "$build/tools/srtprec" verify --cert="$pki/api.crt" --key="$pki/api.key" "$f" >/dev/null 2>&1 || bad=$((bad + 1))
done
[ "$bad" = 0 ]; ok $? "archives opened after the reload are readable by the new recipient ($bad not)"
mkdir -p "$run/done2" && mv "$run"/archive/*.srec "$run/done2/"

# --- SIGTERM mid-call ----------------------------------------------------------
loadgen 2 4000 term &
lg=$!
stack_wait_log "$run/recorder.log" "recording into archive" 10
sleep 1
kill -TERM "$rec"
for _ in $(seq 1 100); do kill -0 "$rec" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$rec" 2>/dev/null; ok $? "SIGTERM stops the recorder mid-call"
wait "$lg"
nsealed=$(find "$run/archive" -name '*.srec' | wc -l)
npartial=$(find "$run/archive" -name '*.partial' | wc -l)
[ "$nsealed" -ge 2 ] && [ "$npartial" = 0 ]; ok $? "every open archive is sealed ($nsealed sealed, $npartial partial)"
bad=$(check_rows 4 shutdown "$run"/archive/*.srec | wc -l)
[ "$bad" = 0 ]; ok $? "each says cut by shutdown (verify end=shutdown, index state shutdown), counts = verify's ($bad wrong)"
"$build/tools/srtprec" list --index="$run/index.sqlite" | grep -c " shutdown " | grep -q "^$nsealed$"
ok $? "srtprec list shows them as shutdown"

stack_stop
reports=$(grep -l -E 'Sanitizer|runtime error' "$run"/*.log 2>/dev/null)
echo "$reports" | diag
[ -z "$reports" ]; ok $? "no sanitizer report from the daemons or the tools"
tap_end
