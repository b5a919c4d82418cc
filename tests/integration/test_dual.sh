#!/usr/bin/env bash
# Dual recording (TAP; issue 17 item 4): two recorders, recorder-id rec-a
# and rec-b, subscribe to the same keyagent, receive the same media
# (srtprec-loadgen --mirror, as a media fork or a SPAN copy feeds two
# recorders) and write one shared SQLite index (WAL) from their own
# archive directories.  rec-b is killed with SIGKILL in the middle of three
# calls.  Asserted: rec-a's archives hold every packet sent, bit-exact
# (srtprec-loadcheck); the index has two rows per call, linked by Call-ID
# and told apart by recorder; the API names rec-a's row as the call's
# best copy from either id and serves its archive byte for byte (header
# Srtprec-Copy); rec-b restarted recovers its cut copies into the same
# index, still its own and still not the copy served; metrics.
# usage: test_dual.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"
. "$here/../lib/tap.sh"

lg='' recb=''
test_cleanup() { for p in $lg $recb; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
stack_test_run dual
command -v sqlite3 >/dev/null || { echo "1..0 # SKIP sqlite3 CLI not installed (tools/setup.sh)"; exit 0; }

calls=3
stack_init "$build" "$run"
media_b=$(stack_free_port)
mkdir -p "$run/archive-b"
# rec-b: its own media port, archive directory, seal ledger and metrics;
# the same keyagent, identity and index.
sed -e "s|^media-listen = .*|media-listen = 127.0.0.1:$media_b|" \
    -e "s|^archive-dir = .*|archive-dir = $run/archive-b|" \
    -e "/^\[recorder\]/a recorder-id = rec-b" \
    -e "/^\[recorder\]/a seal-ledger = $run/seals-b" \
    -e "/^\[recorder\]/a metrics-file = $run/recorder-b.prom" \
    -e "/^\[recorder\]/a metrics-interval-ms = 200" \
    "$run/srtprec.conf" >"$run/b.conf"
sed -i -e "/^\[recorder\]/a recorder-id = rec-a" \
    -e "/^\[recorder\]/a metrics-file = $run/recorder.prom" \
    -e "/^\[recorder\]/a metrics-interval-ms = 200" "$run/srtprec.conf"
start_b() { # log
    "$build/recorder/srtprec-recorder" --config="$run/b.conf" >"$run/$1" 2>&1 &
    recb=$!
    stack_wait_log "$run/$1" "subscription active" 15
}
stack_start && start_b recorder-b.log
ok $? "keyagent, recorders rec-a and rec-b (both subscribed to the keyagent) and api start"

"$build/tools/srtprec-loadgen" --control="$STACK_CONTROL" --recorder="127.0.0.1:$STACK_MEDIA_PORT" \
    --mirror="127.0.0.1:$media_b" --calls=$calls --duration-ms=4000 --settle-ms=300 \
    --out="$run/sent.tsv" >"$run/loadgen.out" 2>"$run/loadgen.log" &
lg=$!
stack_wait_log "$run/loadgen.log" disclosed 20; ok $? "$calls calls disclosed"
sleep 1.5 # over a second of media in both recorders, flushed (flush-interval-ms 1000)
kill -KILL "$recb"; wait "$recb" 2>/dev/null; recb=''
wait "$lg"; ok $? "the endpoint sent every packet and ENDed its calls with rec-b killed (SIGKILL) mid-call"
lg=''
diag <"$run/loadgen.out"
sealed=$(stack_wait_sealed "$run/archive" $calls 15)
[ "$sealed" = $calls ]; ok $? "rec-a sealed one archive per call ($sealed)"
partial=$(find "$run/archive-b" -name '*.srec.partial' | wc -l)
[ "$partial" = $calls ]; ok $? "rec-b left $calls archives cut by the kill ($partial)"

"$build/tools/srtprec-loadcheck" --cert="$run/pki/auditor.crt" --key="$run/pki/auditor.key" \
    --expect="$run/sent.tsv" "$run"/archive/*.srec >"$run/check.out" 2>"$run/check.err"
ok $? "rec-a's archives are complete and bit-exact: every stream, count and payload hash as sent"
diag <"$run/check.out"
head -20 "$run/check.err" | diag

q() { sqlite3 "$run/index.sqlite" "$1"; }
cids=$(grep -v '^call_id' "$run/sent.tsv" | cut -f1 | sort -u)
for cid in $cids; do
    want=$(awk -F'\t' -v c="$cid" '$1 == c { n += $4 } END { print n }' "$run/sent.tsv")
    a=$(q "select state || ' ' || packets || ' ' || n_streams from recordings where call_id = '$cid' and recorder = 'rec-a'")
    b=$(q "select count(*) || ' ' || min(state) from recordings where call_id = '$cid' and recorder = 'rec-b'")
    [ "$a" = "1 $want 2" ] && [ "$b" = "1 0" ]
    ok $? "call $cid: two rows, rec-a's complete with $want packets ($a), rec-b's still recording ($b)"
done

cid=$(echo "$cids" | head -1)
ida=$(q "select id from recordings where call_id = '$cid' and recorder = 'rec-a'")
idb=$(q "select id from recordings where call_id = '$cid' and recorder = 'rec-b'")
api=$(stack_api)
meta_b=$(stack_curl -s "$api/v1/recordings/$idb")
best=$(printf '%s' "$meta_b" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["best_copy"], d["recorder"], " ".join(c["id"] + ":" + c["recorder"] for c in d["copies"]))')
[ "$best" = "$ida rec-b $ida:rec-a" ]; ok $? "GET rec-b's recording: recorder rec-b, its copy rec-a's, best_copy rec-a's ($best)"
meta_a=$(stack_curl -s "$api/v1/recordings/$ida")
best=$(printf '%s' "$meta_a" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["best_copy"], len(d["copies"]))')
[ "$best" = "$ida 1" ]; ok $? "GET rec-a's recording: it is its own best copy, one other ($best)"
code=$(stack_curl -s -D "$run/dl.hdr" -o "$run/dl.srec" -w '%{http_code}' "$api/v1/recordings/$idb/archive")
served=$(tr -d '\r' <"$run/dl.hdr" | awk -F': ' 'tolower($1) == "srtprec-copy" { print $2 }')
[ "$code" = 200 ] && [ "$served" = "$ida" ] && cmp -s "$run/dl.srec" "$run/archive/$ida.srec"
ok $? "GET rec-b's archive serves rec-a's complete copy byte for byte, Srtprec-Copy names it ($code, $served)"

stack_curl -s -o /dev/null "$api/metrics" # nothing to assert: a scrape during copies must not fail
metric() { awk -v n="$1" '$1 == n { print $2 }' "$2"; }
sent_pkts=$(awk -F'\t' 'NR > 1 { n += $4 } END { print n }' "$run/sent.tsv")
[ "$(metric srtprec_recorder_packets_recorded_total "$run/recorder.prom")" = "$sent_pkts" ] &&
    [ "$(metric srtprec_recorder_packets_encrypted_kept_total "$run/recorder.prom")" = 0 ]
ok $? "metrics: rec-a recorded all $sent_pkts packets, none kept encrypted"

start_b recorder-b2.log; ok $? "rec-b starts again"
rows=$(q "select count(*) || ' ' || min(state) || ' ' || max(state) || ' ' || max(packets < $sent_pkts / $calls) from recordings where recorder = 'rec-b'")
[ "$rows" = "$calls 3 3 1" ]; ok $? "rec-b's restart recovered its $calls cut copies, still rec-b's and shorter ($rows)"
best=$(stack_curl -s "$api/v1/recordings/$idb" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["state"], d["best_copy"])')
[ "$best" = "recovered $ida" ]; ok $? "after recovery the complete copy is still the one served ($best)"
kill -TERM "$recb"; wait "$recb" 2>/dev/null; recb=''

reports=$(grep -l -E 'Sanitizer|runtime error' "$run"/*.log 2>/dev/null)
echo "$reports" | diag
[ -z "$reports" ]; ok $? "no sanitizer report from the daemons or the tools"

tap_end
