#!/usr/bin/env bash
# Smoke test of the load generator against the real daemons (TAP): 20 calls,
# 40 streams, 2 s at 50 packets/s per stream, half of them to a second
# media-listen port; every packet sent is archived (count and SHA-256 of the
# payloads per stream, by srtprec-loadcheck).
# Keeps tools/srtprec-loadgen and tools/bench_capacity.sh from rotting.
# usage: test_loadgen.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"

. "$here/../lib/tap.sh"

stack_test_run loadgen

calls=20
stack_init "$build" "$run"
port2=$(stack_free_port)
sed -i "s/^media-listen = .*/&, 127.0.0.1:$port2/" "$run/srtprec.conf"
sed -i "/^\[recorder\]/a metrics-file = $run/recorder.prom" "$run/srtprec.conf"
stack_start; ok $? "keyagent, recorder and api start"
ss -Hulnp "sport = :$port2" | grep -q srtprec-record; ok $? "the recorder listens on a second media port ($port2)"

# Two generators at once, one per media port, each with its own calls.
lg_pids=()
for p in "$STACK_MEDIA_PORT" "$port2"; do
    "$build/tools/srtprec-loadgen" --control="$STACK_CONTROL" --recorder="127.0.0.1:$p" \
        --calls=$((calls / 2)) --duration-ms=2000 --settle-ms=300 --out="$run/sent-$p.tsv" \
        >"$run/loadgen-$p.out" 2>"$run/loadgen-$p.log" &
    lg_pids+=($!)
done
for i in 0 1; do
    wait "${lg_pids[$i]}"; ok $? "load generator $((i + 1)) disclosed $((calls / 2)) calls and sent every packet"
done
cat "$run"/loadgen-*.out | diag
cat "$run"/sent-*.tsv >"$run/sent.tsv"

# Every call sealed (bounded wait: linger 500 ms plus the NOTIFY round trip).
sealed=$(stack_wait_sealed "$run/archive" "$calls" 15)
[ "$sealed" -ge "$calls" ]; ok $? "$calls archives sealed ($sealed)"

"$build/tools/srtprec-loadcheck" --cert="$run/pki/auditor.crt" --key="$run/pki/auditor.key" \
    --expect="$run/sent.tsv" "$run"/archive/*.srec >"$run/check.out" 2>"$run/check.err"
ok $? "zero loss: every stream archived with the count and payload hash that was sent"
diag <"$run/check.out"
diag <"$run/check.err"
grep -q "streams_ok=$((2 * calls)) " "$run/check.out"; ok $? "all $((2 * calls)) streams match"

# A storm of unknown sources: 1,100 never-keyed SSRCs, far more streams than
# one "unmatched" archive takes (64: each stream added after data restarts
# the archive's live streams in a new Ogg chain link) and than the engine
# keeps per minute (max-unmatched-streams-per-min, 256 by default): 256 are
# kept encrypted (a full unmatched archive retires, another opens), the rest
# are counted under reasons "unmatched_budget" (past those 256) and
# "source_full" (past max-unbound-per-source, 1,024, from one address):
# nothing is lost silently, and a flood cannot fill the disk.
python3 - "$STACK_MEDIA_PORT" <<'PY'
import os, socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(1100):
    for seq in (1, 2):
        s.sendto(struct.pack('!BBHII', 0x80, 0, seq, seq * 160, 0x70000000 + i) + os.urandom(170),
                 ('127.0.0.1', int(sys.argv[1])))
    if i % 100 == 99:
        time.sleep(0.01)
PY
ok $? "2,200 packets of 1,100 unknown SSRCs sent"
sleep 0.5
stack_stop # held packets are archived encrypted at shutdown
grep -q '^srtprec_recorder_packets_recorded_total 4000$' "$run/recorder.prom" &&
    grep -q '^srtprec_recorder_packets_encrypted_kept_total 512$' "$run/recorder.prom" &&
    awk -F'[{} ]' '/^srtprec_recorder_packets_dropped_total\{reason="(unmatched_budget|source_full)"\}/ \
        { n += $NF } END { exit n == 1688 ? 0 : 1 }' "$run/recorder.prom" &&
    grep -q '^srtprec_recorder_calls_open 0$' "$run/recorder.prom" &&
    grep -q '^srtprec_recorder_archives_sealing 0$' "$run/recorder.prom" &&
    grep -q '^srtprec_recorder_workers [1-9]' "$run/recorder.prom"
ok $? "the recorder's last metrics: 4,000 recorded, 512 kept encrypted + 1,688 counted over the flood caps, every archive sealed"
grep -E '^srtprec_recorder_(packets_recorded|packets_encrypted|packets_dropped|calls_open|archives_sealing|workers)' \
    "$run/recorder.prom" 2>&1 | diag
unmatched=$(sqlite3 "$run/index.sqlite" "select count(*) from recordings where call_id like 'unmatched-%'")
[ "${unmatched:-0}" -ge 4 ]; ok $? "the 256 unknown streams kept fill 4 or more unmatched archives ($unmatched)"
printf 'call_id\tstream_id\tssrc\tpackets\tsha256\n' >"$run/none.tsv"
files=$(sqlite3 "$run/index.sqlite" "select path from recordings where call_id like 'unmatched-%'")
# shellcheck disable=SC2086
"$build/tools/srtprec-loadcheck" --cert="$run/pki/auditor.crt" --key="$run/pki/auditor.key" \
    --expect="$run/none.tsv" $files >"$run/check-unmatched.out" 2>"$run/check-unmatched.err"
diag <"$run/check-unmatched.out"
grep -q ' encrypted=512 ' "$run/check-unmatched.out"; ok $? "the 512 kept are in them, still encrypted"

# A media-listen entry that is not ADDRESS:PORT: the recorder names it and stops.
timeout 20 "$build/recorder/srtprec-recorder" --config="$run/srtprec.conf" \
    --media-listen="127.0.0.1:$port2, no-port-here" >"$run/badlisten.log" 2>&1
[ $? = 1 ] && grep -q "media-listen no-port-here: cannot bind" "$run/badlisten.log"
ok $? "a malformed media-listen entry is named and the recorder exits 1"
diag <"$run/badlisten.log"
# An archive recipient that cannot be read: named at start, not at the first call.
timeout 20 "$build/recorder/srtprec-recorder" --config="$run/srtprec.conf" \
    --archive-recipients="$run/no-such.crt" >"$run/badrcpt.log" 2>&1
[ $? = 1 ] && grep -q "archive-recipients $run/no-such.crt: cannot open certificate file" "$run/badrcpt.log"
ok $? "an unreadable archive recipient is named at start and the recorder exits 1"
diag <"$run/badrcpt.log"

reports=$(grep -l -E 'Sanitizer|runtime error' "$run"/*.log 2>/dev/null)
echo "$reports" | diag
[ -z "$reports" ]; ok $? "no sanitizer report from the daemons or the tools"

tap_end
