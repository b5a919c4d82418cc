#!/usr/bin/env bash
# Recorder and API on one PostgreSQL index, end to end (TAP): a throwaway
# cluster (tests/lib/pg.sh), the stack of tests/lib/stack.sh with
# index = a conninfo, two calls recorded, the API lists and serves them,
# and the rows are in PostgreSQL (asserted with psql, not on logs).  Then
# PostgreSQL goes away during a call: the call is still recorded and
# sealed, and once the server is back the recorder's queued rows reach it
# and the API lists the call (both reconnect by themselves).  A
# password in the conninfo (trust auth ignores it) never reaches a log.
# usage: test_pg_stack.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"
. "$here/../lib/tap.sh"
. "$here/../lib/pg.sh"

stack_test_run pgstack
# Its own directory: the server runs as nobody, who cannot enter $run (0700).
pgdir=$(mktemp -d /tmp/srtprec-pgstack-db.XXXXXX)
test_cleanup() { stack_stop; pg_stop; rm -rf "$pgdir"; }

pg_start "$pgdir"; ok $? "a PostgreSQL 15 cluster starts on a UNIX socket"
conninfo="$(pg_createdb srtprec) password=never-logged-pw"
[ -n "$conninfo" ]; ok $? "database created"

stack_init "$build" "$run"
# Both daemons on the conninfo; with no index directory, the API's
# derived files are named (the recorder's seal ledger too).
sed -i -e "s|^index = .*|index = $conninfo|" \
    -e "/^\[recorder\]/a seal-ledger = $run/seals.log" \
    -e "/^\[api\]/a seal-ledger = $run/seals.log\naudit-log = $run/api-audit.log\narchive-dir = $run/archive" \
    "$run/srtprec.conf"
stack_start; ok $? "keyagent, recorder and api start on the PostgreSQL index"

"$build/tools/srtprec-endpoint-sim" --control="$STACK_CONTROL" --recorder="127.0.0.1:$STACK_MEDIA_PORT" \
    --calls=2 --duration-ms=1500 --out-dir="$run/sim" >"$run/sim.log" 2>&1
ok $? "endpoint simulator placed 2 calls"
stack_wait_recordings 2 20; ok $? "the API lists 2 complete recordings"

rows=$(pg_psql srtprec "SELECT count(*) FROM recordings WHERE state = 1 AND sha256 <> ''")
[ "$rows" = 2 ]; ok $? "PostgreSQL holds 2 complete, sealed rows (got $rows)"
[ "$(pg_psql srtprec "SELECT version FROM schema_version")" = 8 ]; ok $? "schema version 8"

id=$(pg_psql srtprec "SELECT id FROM recordings ORDER BY start_us LIMIT 1")
party=$(pg_psql srtprec "SELECT local_aor FROM recordings WHERE id = '$id'")
body=$(stack_curl -s -f -G --data-urlencode "party=$party" "$(stack_api)/v1/recordings")
echo "$body" | grep -q "\"$id\""; ok $? "listed by party through the API"
stack_curl -s -f -o "$run/$id.wav" "$(stack_api)/v1/recordings/$id/export.wav" &&
    [ "$(stat -c %s "$run/$id.wav")" -gt 1000 ]
ok $? "export.wav of $id served from the archive the PostgreSQL row names"

# PostgreSQL down for a whole call (immediate stop: what a crash leaves).
pg_stop; ok $? "PostgreSQL stopped"
"$build/tools/srtprec-endpoint-sim" --control="$STACK_CONTROL" --recorder="127.0.0.1:$STACK_MEDIA_PORT" \
    --calls=1 --duration-ms=1500 --out-dir="$run/sim2" >"$run/sim2.log" 2>&1
ok $? "a third call placed while PostgreSQL is down"
[ "$(stack_wait_sealed "$run/archive" 3 20)" -ge 3 ]; ok $? "its archive is sealed on local disk all the same"
pg_restart; ok $? "PostgreSQL back"
stack_wait_recordings 3 30; ok $? "the queued rows reached PostgreSQL: the API lists 3 complete recordings"
rows=$(pg_psql srtprec "SELECT count(*) FROM recordings WHERE state = 1 AND sha256 <> ''")
[ "$rows" = 3 ]; ok $? "3 complete, sealed rows in PostgreSQL (got $rows)"

! grep -q "never-logged-pw" "$run"/*.log; ok $? "the conninfo's password is in no log"
tap_end
