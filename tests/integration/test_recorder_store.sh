#!/usr/bin/env bash
# The object store against a real OpenStack Swift (s3api behind stunnel, so
# TLS is verified for real) (TAP): first the S3 client's own checks
# (test_objstore_swift), then the recorder's uploader: calls recorded land in the
# store bit for bit (SHA-256 of each object against its index row), each row
# gets its location and the local copy goes; with the store unreachable the
# archives wait in the spool, the recorder is killed -9 and restarted, and
# the upload resumes once the store is back, nothing lost; with Swift's
# object server down the proxy answers 503 and the uploader retries until it
# is back; the index deleted is rebuilt from the store (srtprec recover
# --store: rows located, served by the API); retention deletes uploaded
# recordings in the store (and keeps them without the store's
# configuration), a held one stays.  Asserts on metrics, index rows, the
# CLI's counts and the objects only.
# usage: test_recorder_store.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"
. "$here/../lib/tap.sh"
. "$here/../lib/swift.sh"

stack_test_run store
test_cleanup() { swift_stop; }

"$here/../lib/mkcerts.sh" "$run/pki" >/dev/null 2>&1
swift_start "$run/swift" "$run/pki/api.crt" "$run/pki/api.key"; ok $? "swift with s3api behind stunnel starts"
swift_curl -fsS -o /dev/null -X PUT "$SWIFT_URL/srtprec"; ok $? "bucket srtprec created"
printf '%s\n%s\n' "$SWIFT_ACCESS" "$SWIFT_SECRET" >"$run/store.key"
chmod 600 "$run/store.key"

# 0. The client itself (storage/objstore.h) on this Swift, in its own
# bucket: one Swift start serves both tests (about 4 s of suite time).
"$build/tests/storage/test_objstore_swift" "$SWIFT_TLS_URL" "$run/pki/ca.crt" "$run/store.key" \
    "$run/pki/foreign-ca.crt" "$run" >"$run/client.tap" 2>"$run/client.err"
ok $? "the S3 client against Swift: $(grep -c '^ok' "$run/client.tap") checks passed"
grep -E '^not ok' "$run/client.tap" | diag
rm -f "$run/big.bin" "$run/small.bin"

stack_init "$build" "$run" >/dev/null 2>&1
sed -i "/^\[recorder\]/a metrics-file = $run/recorder.prom" "$run/srtprec.conf"
sed -i "/^\[recorder\]/a metrics-interval-ms = 200" "$run/srtprec.conf"
sed -i "/^\[api\]/a store-cache-dir = $run/cache" "$run/srtprec.conf"
cat >>"$run/srtprec.conf" <<CONF

[store]
url = $SWIFT_TLS_URL
bucket = srtprec
region = $SWIFT_REGION
access-key-file = $run/store.key
ca = $run/pki/ca.crt
prefix = rec-a/
upload-retries = 1
backoff-min-ms = 100
backoff-max-ms = 200
timeout = 5
upload-retry-min-ms = 200
upload-retry-max-ms = 1000
CONF
stack_start; ok $? "keyagent, recorder and api start"

metric() { awk -v n="srtprec_recorder_$1" '$1 == n { print $2 }' "$run/recorder.prom" 2>/dev/null; }
wait_metric() { # name min seconds
    local v
    for _ in $(seq 1 $(( $3 * 10 ))); do
        v=$(metric "$1")
        [ "${v:-0}" -ge "$2" ] && return 0
        sleep 0.1
    done
    echo "# $1 = ${v:-none}, wanted >= $2" >&2
    return 1
}
loadgen() { # calls out
    "$build/tools/srtprec-loadgen" --control="$STACK_CONTROL" --recorder="127.0.0.1:$STACK_MEDIA_PORT" \
        --calls="$1" --duration-ms=1000 --settle-ms=300 --out="$run/$2.tsv" >"$run/$2.out" 2>"$run/$2.log"
}
rows() { sqlite3 "$run/index.sqlite" "SELECT id || ' ' || sha256 || ' ' || location FROM recordings ORDER BY id"; }
# Every row: located in the bucket under the prefix, the object's SHA-256
# is the row's, its signature is stored too, and no local copy is left.
check_rows() { # count
    local n=0 bad=0 id sha loc got
    while read -r id sha loc; do
        n=$((n + 1))
        if [ "$loc" != "s3://srtprec/rec-a/$id.srec" ] || [ -z "$sha" ]; then
            echo "# row $id: location '$loc' sha '$sha'" >&2; bad=$((bad + 1)); continue
        fi
        got=$(swift_curl -fsS "$SWIFT_URL/srtprec/rec-a/$id.srec" | sha256sum | cut -d' ' -f1)
        [ "$got" = "$sha" ] || { echo "# $id: stored sha $got, row $sha" >&2; bad=$((bad + 1)); }
        swift_curl -fsS -o /dev/null "$SWIFT_URL/srtprec/rec-a/$id.srec.sig" ||
            { echo "# $id: no signature in the store" >&2; bad=$((bad + 1)); }
        [ ! -e "$run/archive/$id.srec" ] || { echo "# $id: still local" >&2; bad=$((bad + 1)); }
    done < <(rows)
    [ "$n" = "$1" ] && [ "$bad" = 0 ]
}

# 1. Calls land in the store.
loadgen 3 first; ok $? "3 calls recorded"
wait_metric upload_ok_total 3 30; ok $? "3 archives uploaded (upload_ok_total $(metric upload_ok_total))"
check_rows 3; ok $? "each row located s3://srtprec/rec-a/<id>.srec, the object bit-exact (SHA-256), .sig stored, local copy gone"
[ "$(metric upload_pending)" = 0 ]; ok $? "nothing pending"

# 2. Store unreachable, the recorder killed -9 with archives in the spool.
stunnel_pid=${SWIFT_PIDS[4]}
kill "$stunnel_pid"; wait "$stunnel_pid" 2>/dev/null
loadgen 2 outage; ok $? "2 calls recorded while the store is unreachable"
wait_metric upload_failed_total 1 30; ok $? "the uploads fail (upload_failed_total $(metric upload_failed_total))"
wait_metric upload_pending 2 20; ok $? "both wait in the spool (upload_pending $(metric upload_pending))"
[ "$(find "$run/archive" -name '*.srec' | wc -l)" = 2 ]; ok $? "their sealed archives are on local disk"
rec=${STACK_PIDS[1]}
kill -KILL "$rec"; wait "$rec" 2>/dev/null
rm -f "$run/recorder.prom"
stack_start_one recorder2 recorder/srtprec-recorder
STACK_PIDS[1]=${STACK_PIDS[-1]}; unset 'STACK_PIDS[-1]'
stack_wait_log "$run/recorder2.log" "subscription active" 15; ok $? "the recorder restarts"
wait_metric upload_pending 2 20; ok $? "the restart finds both in the spool (upload_pending $(metric upload_pending))"
tls_port=${SWIFT_TLS_URL##*:}
for _ in $(seq 1 100); do [ -z "$(ss -Hlt "( sport = :$tls_port )")" ] && break; sleep 0.1; done
stunnel "$run/swift/stunnel.conf" >>"$run/swift/stunnel.log" 2>&1 &
SWIFT_PIDS[4]=$!
wait_metric upload_ok_total 2 30; ok $? "the store is back: both uploaded (upload_ok_total $(metric upload_ok_total))"
check_rows 5; ok $? "all 5 rows located and bit-exact in the store, no local copy left"

# 3. 503: the proxy without its object server.
obj_pid=${SWIFT_PIDS[0]}
kill "$obj_pid"; wait "$obj_pid" 2>/dev/null
failed0=$(metric upload_failed_total)
loadgen 1 busy; ok $? "1 call recorded while the object server is down"
wait_metric upload_failed_total $(( ${failed0:-0} + 1 )) 30; ok $? "its upload fails"
grep -o 'HTTP 50[0-9][^(]*' "$run/recorder2.log" | sort | uniq -c | diag
# Started again on the same port once the old one let it go, and ready
# once it listens (bounded).
obj_port=$(awk '$1 == "bind_port" { print $3 }' "$run/swift/object.conf")
for _ in $(seq 1 100); do [ -z "$(ss -Hlt "( sport = :$obj_port )")" ] && break; sleep 0.1; done
for _ in 1 2 3; do
    swift-object-server "$run/swift/object.conf" >>"$run/swift/object.log" 2>&1 &
    SWIFT_PIDS[0]=$!
    for _ in $(seq 1 50); do [ -n "$(ss -Hlt "( sport = :$obj_port )")" ] && break; sleep 0.1; done
    kill -0 "${SWIFT_PIDS[0]}" 2>/dev/null && break
    sleep 0.5
done
[ -n "$(ss -Hlt "( sport = :$obj_port )")" ]; ok $? "the object server is back on port $obj_port"
wait_metric upload_ok_total 3 40; ok $? "once it is back the retry uploads it (upload_ok_total $(metric upload_ok_total))"
check_rows 6; ok $? "6 rows, all in the store"
[ "$(metric upload_retried_total)" -ge 1 ]; ok $? "retries counted ($(metric upload_retried_total))"

stack_stop
# 4. The index lost, rebuilt from the store (srtprec recover --store, then
# reindex --store for what the headers seal): the rows come back located,
# with their hashes, and the API serves them from the store; a row that
# lost only its location gets it again.
cli=$build/tools/srtprec
cols="id, state, bytes, packets, n_streams, sha256, location, path, start_us, call_id, local_aor, remote_aor"
sqlite3 "$run/index.sqlite" "SELECT $cols FROM recordings ORDER BY id" >"$run/rows.before"
rm -f "$run/index.sqlite" "$run/index.sqlite-wal" "$run/index.sqlite-shm"
"$cli" recover --index="$run/index.sqlite" --store="$run/srtprec.conf" --recorder=rec-a \
    >"$run/rs.out" 2>"$run/rs.err"
ok $? "recover --store runs: $(cat "$run/rs.out" "$run/rs.err")"
grep -q "store: 6 archives listed: rows created 6, located 0, skipped (located already) 0, failed 0; without a .sig object 0" "$run/rs.out"
ok $? "6 rows created from the store, none failed"
# A format 2 header seals Call-ID and parties: reindex reads them from the
# archives, here fetched from the store (--dir holds none of them).
"$cli" reindex --index="$run/index.sqlite" --dir="$run/archive" --store="$run/srtprec.conf" \
    --cert="$run/pki/auditor.crt" --key="$run/pki/auditor.key" >"$run/ri.out" 2>&1
ok $? "reindex --store fills the rows from the store's archives: $(tail -1 "$run/ri.out")"
sqlite3 "$run/index.sqlite" "SELECT $cols FROM recordings ORDER BY id" >"$run/rows.after"
diff "$run/rows.before" "$run/rows.after" | diag
cmp -s "$run/rows.before" "$run/rows.after"; ok $? "each row as before: state, size, packets, streams, SHA-256, location, path, start, Call-ID, parties"
[ "$(sqlite3 "$run/index.sqlite" "SELECT COUNT(*) FROM recordings WHERE recorder = 'rec-a' AND end_us > 0")" = 6 ]
ok $? "rows carry the recorder-id given and an end time"
[ "$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'srtprec-recover-*' -user "$(id -u)" 2>/dev/null | wc -l)" = 0 ]
ok $? "no fetched copy left behind"
[ "$("$cli" list --index="$run/index.sqlite" | grep -c -E '^[0-9a-f]{32}')" = 6 ]; ok $? "srtprec list finds the 6"
one=$(sed -n 1p "$run/rows.before" | cut -d'|' -f1)
two=$(sed -n 2p "$run/rows.before" | cut -d'|' -f1)
two_sha=$(sqlite3 "$run/index.sqlite" "SELECT sha256 FROM recordings WHERE id = '$two'")
zeros=0000000000000000000000000000000000000000000000000000000000000000
sqlite3 "$run/index.sqlite" "UPDATE recordings SET location = '' WHERE id IN ('$one', '$two');
    UPDATE recordings SET sha256 = '$zeros' WHERE id = '$two'"
"$cli" recover --index="$run/index.sqlite" --store="$run/srtprec.conf" >"$run/rs2.out" 2>"$run/rs2.err"
rc=$?
[ "$rc" = 1 ] && grep -q "rows created 0, located 1, skipped (located already) 4, failed 1" "$run/rs2.out" &&
    grep -q "$two.srec: the object's x-amz-meta-sha256 .* is not the row's" "$run/rs2.err" &&
    [ "$(sqlite3 "$run/index.sqlite" "SELECT location FROM recordings WHERE id = '$one'")" = "s3://srtprec/rec-a/$one.srec" ] &&
    [ -z "$(sqlite3 "$run/index.sqlite" "SELECT location FROM recordings WHERE id = '$two'")" ]
ok $? "run again: a row without a location located, one whose hash is not the object's not, the rest skipped: $(cat "$run/rs2.out" "$run/rs2.err" | tr "\n" " ")"
sqlite3 "$run/index.sqlite" "UPDATE recordings SET sha256 = '$two_sha' WHERE id = '$two'"
junk=rec-a/ffffffffffffffffffffffffffffffff.srec
printf 'not an archive' | swift_curl -fsS -o /dev/null -X PUT --data-binary @- "$SWIFT_URL/srtprec/$junk"
"$cli" recover --index="$run/index.sqlite" --store="$run/srtprec.conf" >"$run/rs3.out" 2>"$run/rs3.err"
rc=$?
[ "$rc" = 1 ] && grep -q "rows created 0, located 1, skipped (located already) 5, failed 1" "$run/rs3.out" &&
    grep -q "$junk: not indexed: no whole archive header" "$run/rs3.err" &&
    [ "$(sqlite3 "$run/index.sqlite" "SELECT COUNT(*) FROM recordings")" = 6 ] &&
    [ "$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'srtprec-recover-*' -user "$(id -u)" 2>/dev/null | wc -l)" = 0 ]
ok $? "its hash put back, it is located; an object that is no archive: failed 1 with its reason, exit 1, no row, no copy left: $(head -1 "$run/rs3.err")"
swift_curl -fsS -o /dev/null -X DELETE "$SWIFT_URL/srtprec/$junk"
stack_start_one api api/srtprec-api
for _ in $(seq 1 100); do stack_curl -s -o /dev/null "$(stack_api)/livez" && break; sleep 0.1; done
listed=$(stack_curl -s "$(stack_api)/v1/recordings?limit=1000" | grep -o '"id": *"[0-9a-f]*"' | wc -l)
sha=$(stack_curl -fsS "$(stack_api)/v1/recordings/$one/archive" | sha256sum | cut -d' ' -f1)
[ "$listed" = 6 ] && [ "$sha" = "$(cut -d'|' -f6 <<<"$(head -1 "$run/rows.before")")" ]
ok $? "the API lists the 6 and serves $one from the store bit for bit ($listed listed)"
stack_stop

# 5. Retention acts on the store (srtprec retention --store): without it an
# uploaded recording is kept (deleting its row alone would orphan the
# object); with it, object and signature go; a held one stays.
held=$(sqlite3 "$run/index.sqlite" "SELECT id FROM recordings ORDER BY id LIMIT 1")
"$cli" hold "$held" on --index="$run/index.sqlite"; ok $? "one recording put on legal hold"
before=$(( $(date +%s) + 60 ))
"$cli" retention --index="$run/index.sqlite" --before="$before" --log="$run/deletions.log" >"$run/ret0.out" 2>&1
grep -q "deleted 0 recordings, 1 on legal hold kept.*; 0 store copies deleted, 5 with a store copy kept" "$run/ret0.out" &&
    [ "$(sqlite3 "$run/index.sqlite" "SELECT COUNT(*) FROM recordings")" = 6 ]
ok $? "retention without --store keeps the uploaded recordings: $(cat "$run/ret0.out")"
gone=$(rows | awk -v h="$held" '$1 != h { print $1 }')
"$cli" retention --index="$run/index.sqlite" --before="$before" --log="$run/deletions.log" \
    --store="$run/srtprec.conf" >"$run/ret.out" 2>&1
ok $? "retention with the store's configuration runs: $(cat "$run/ret.out")"
grep -q "deleted 5 recordings, 1 on legal hold kept.*; 5 store copies deleted, 0 with a store copy kept" "$run/ret.out"
ok $? "5 deleted, in the store too; the held one kept"
still=0
for id in $gone; do
    for k in "$id.srec" "$id.srec.sig"; do
        code=$(swift_curl -s -o /dev/null -w '%{http_code}' -I "$SWIFT_URL/srtprec/rec-a/$k")
        [ "$code" = 404 ] || { still=$((still + 1)); echo "# $k: $code" >&2; }
    done
done
[ "$still" = 0 ]; ok $? "their objects and signatures are gone from the store"
swift_curl -fsS -o /dev/null -I "$SWIFT_URL/srtprec/rec-a/$held.srec" &&
    [ "$(sqlite3 "$run/index.sqlite" "SELECT COUNT(*) FROM recordings")" = 1 ]
ok $? "the held recording's object and row stay"

reports=$(grep -l -E 'Sanitizer|runtime error' "$run"/*.log 2>/dev/null)
echo "$reports" | diag
[ -z "$reports" ]; ok $? "no sanitizer report from the daemons"
tap_end
