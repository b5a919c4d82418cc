#!/usr/bin/env bash
# A fleet on loopback (TAP; issue 17 items 2 and 3): two keyagents, two
# recorders, two APIs, one PostgreSQL index and one object store (OpenStack
# Swift's s3api behind stunnel TLS, tests/lib/swift.sh).  The shard is the keyagent: rec-1
# subscribes to ka-1 only and rec-2 to ka-2 only (docs/scale.md,
# "Sharding"), each with its own media port, archive directory and seal
# ledger, both writing the one index.  Two calls go through each keyagent;
# rec-2 is killed with SIGKILL in the middle of its calls and started
# again.  Asserted, on index rows, metrics and archive contents (never on
# log wording): rec-1's archives are bit-exact and whole; rec-2's cut
# archives, recovered at its restart into the shared index, are bit-exact
# prefixes of what was sent and lost at most one flush interval before the
# kill; each row's SHA-256 is its file's; every archive, the recovered ones
# too, reaches the store (the row's location, the object bit-exact, its
# signature beside it); both APIs list every recording of the fleet and
# serve every one, the other box's from the store: downloads byte for byte
# (a Range as a ranged GET), exports identical to the owning box's through
# the bounded cache; with the store stopped, a download is a 503 with a
# reason, counted in metrics, and a cached export is still served.
# Recorders keep their local copies (keep-local), so each API serves its
# own box's archives from disk and the other's from the store.
# usage: test_fleet.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"
. "$here/../lib/tap.sh"
. "$here/../lib/pg.sh"
. "$here/../lib/swift.sh"

pids=()
lg1='' lg2='' rec2=''
test_cleanup() {
    for p in $lg1 $lg2 $rec2 "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    pg_stop; rm -rf "$pgdir"; swift_stop
}
stack_test_run fleet
# Its own directory: the server runs as nobody, who cannot enter $run (0700).
pgdir=$(mktemp -d /tmp/srtprec-fleet-db.XXXXXX)
flush_ms=1000
calls=2

pg_start "$pgdir"; ok $? "a PostgreSQL 15 cluster starts on a UNIX socket"
conninfo=$(pg_createdb srtprec); ok $? "database created"

# One configuration per box, derived from stack.sh's: box 1 is ka-1, rec-1
# and api-1; box 2 the same with its own ports, files and directories.
stack_init "$build" "$run"
base=$run/srtprec.conf
swift_start "$run/swift" "$run/pki/api.crt" "$run/pki/api.key" &&
    swift_curl -fs -o /dev/null -X PUT "$SWIFT_URL/srtprec"
ok $? "Swift (s3api) starts behind TLS; bucket srtprec created"
printf '%s\n%s\n' "$SWIFT_ACCESS" "$SWIFT_SECRET" >"$run/store.key"
chmod 600 "$run/store.key"
# Short retries: the test stops the store at the end.
cat >>"$base" <<CONF

[store]
url = $SWIFT_TLS_URL
bucket = srtprec
access-key-file = $run/store.key
ca = $run/pki/ca.crt
keep-local = yes
upload-retries = 1
backoff-min-ms = 50
backoff-max-ms = 200
timeout = 5
CONF
ka2_port=$(stack_free_port) media2=$(stack_free_port) api2_port=$(stack_free_port)
mkdir -p "$run/archive-2"
sed -i -e "s|^index = .*|index = $conninfo|" \
    -e "s|^call-linger-ms = .*|&\nflush-interval-ms = $flush_ms\nmetrics-interval-ms = 200|" "$base"
box() { # n ka_port media_port api_port archive_dir
    sed -e "s|^listen = 127.0.0.1:$STACK_KA_PORT|listen = 127.0.0.1:$2|" \
        -e "s|^control-socket = .*|control-socket = $run/ka-$1.sock|" \
        -e "s|^disclosure-log = .*|disclosure-log = $run/disclosures-$1.log|" \
        -e "s|^keyagents = 127.0.0.1:$STACK_KA_PORT |keyagents = 127.0.0.1:$2 |" \
        -e "s|^media-listen = .*|media-listen = 127.0.0.1:$3|" \
        -e "s|^archive-dir = .*|archive-dir = $5|" \
        -e "s|^listen = 127.0.0.1:$STACK_API_PORT|listen = 127.0.0.1:$4|" \
        -e "/^\[recorder\]/a recorder-id = rec-$1\nseal-ledger = $run/seals-$1.log\nkey-log = $run/keys-$1.log\nmetrics-file = $run/rec-$1.prom" \
        -e "/^\[api\]/a seal-ledger = $run/seals-$1.log\naudit-log = $run/api-audit-$1.log\narchive-dir = $5\nstore-cache-dir = $run/cache-$1\nstore-cache-mb = 16" \
        "$base" >"$run/box-$1.conf"
}
box 1 "$STACK_KA_PORT" "$STACK_MEDIA_PORT" "$STACK_API_PORT" "$run/archive"
box 2 "$ka2_port" "$media2" "$api2_port" "$run/archive-2"

start() { # log binary box
    "$build/$2" --config="$run/box-$3.conf" >>"$run/$1.log" 2>&1 &
    last=$!
}
up() { # port
    for _ in $(seq 1 100); do
        stack_curl -s -o /dev/null "https://127.0.0.1:$1/livez" && return 0
        sleep 0.1
    done
    return 1
}
start ka-1 keyagent/srtprec-keyagent 1; pids+=("$last")
start ka-2 keyagent/srtprec-keyagent 2; pids+=("$last")
stack_wait_log "$run/ka-1.log" listening 10 && stack_wait_log "$run/ka-2.log" listening 10
ok $? "keyagents ka-1 and ka-2 listen"
start rec-1 recorder/srtprec-recorder 1; pids+=("$last")
start rec-2 recorder/srtprec-recorder 2; rec2=$last
start api-1 api/srtprec-api 1; pids+=("$last")
start api-2 api/srtprec-api 2; pids+=("$last")
stack_wait_log "$run/rec-1.log" "subscription active" 15 &&
    stack_wait_log "$run/rec-2.log" "subscription active" 15 &&
    up "$STACK_API_PORT" && up "$api2_port"
ok $? "rec-1 (shard ka-1), rec-2 (shard ka-2), api-1 and api-2 start on the one PostgreSQL index"

metric() { awk -v n="$1" '$1 == n { print $2 }' "$2" 2>/dev/null; }
sub_to() { # prom keyagent_port: 1 if subscribed to that keyagent
    awk -v k="127.0.0.1:$2" '$1 ~ /^srtprec_recorder_keyagent_subscribed\{/ && index($1, "\"" k "\"") { print $2 }' "$1"
}
shards() {
    [ "$(sub_to "$run/rec-1.prom" "$STACK_KA_PORT")" = 1 ] && [ -z "$(sub_to "$run/rec-1.prom" "$ka2_port")" ] &&
        [ "$(sub_to "$run/rec-2.prom" "$ka2_port")" = 1 ] && [ -z "$(sub_to "$run/rec-2.prom" "$STACK_KA_PORT")" ]
}
for _ in $(seq 1 50); do shards && break; sleep 0.1; done
shards; ok $? "metrics: each recorder is subscribed to its own keyagent only"

loadgen() { # box media_port out
    "$build/tools/srtprec-loadgen" --control="$run/ka-$1.sock" --recorder="127.0.0.1:$2" \
        --calls=$calls --duration-ms=4000 --settle-ms=300 --out="$run/$3.tsv" \
        --prefixes="$run/$3.prefixes" >"$run/$3.out" 2>"$run/$3.log" &
    last=$!
}
loadgen 1 "$STACK_MEDIA_PORT" sent-1; lg1=$last
loadgen 2 "$media2" sent-2; lg2=$last
stack_wait_log "$run/sent-1.log" disclosed 20 && stack_wait_log "$run/sent-2.log" disclosed 20
ok $? "$calls calls disclosed to each keyagent"
# Kill once rec-2 has recorded over a second of media (flushed at least once).
for _ in $(seq 1 100); do
    got=$(metric srtprec_recorder_packets_recorded_total "$run/rec-2.prom")
    [ "${got:-0}" -ge $((calls * 2 * 75)) ] && break
    sleep 0.1
done
counted=${got:-0}
kill_us=$(date +%s%6N)
kill -KILL "$rec2"; wait "$rec2" 2>/dev/null; rec2=''
diag "rec-2 killed after $counted packets recorded (metrics)"
wait "$lg1"; ok $? "shard 1's calls sent and ENDed"
lg1=''
# Its packets after the kill meet a closed port (ECONNREFUSED: send errors).
wait "$lg2"
summary=$(cat "$run/sent-2.out")
grep -q "^calls=$calls .* packets=$((calls * 2 * 200)) " "$run/sent-2.out" && [ "$(grep -c . "$run/sent-2.tsv")" = $((calls * 2 + 1)) ]
ok $? "shard 2's calls sent to their end with rec-2 killed (SIGKILL) mid-call ($summary)"
lg2=''

sealed=$(stack_wait_sealed "$run/archive" $calls 15)
[ "$sealed" = $calls ]; ok $? "rec-1 sealed one archive per call ($sealed)"
"$build/tools/srtprec-loadcheck" --cert="$run/pki/auditor.crt" --key="$run/pki/auditor.key" \
    --expect="$run/sent-1.tsv" "$run"/archive/*.srec >"$run/check-1.out" 2>"$run/check-1.err"
ok $? "rec-1's archives are complete and bit-exact: every stream, count and payload hash as sent"
diag <"$run/check-1.out"
partial=$(find "$run/archive-2" -name '*.srec.partial' | wc -l)
[ "$partial" = $calls ]; ok $? "rec-2 left $calls archives cut by the kill ($partial)"

start rec-2 recorder/srtprec-recorder 2; rec2=$last
got=0
for _ in $(seq 1 100); do
    got=$(awk '$1 == "srtprec_recorder_startup_recovery{kind=\"recovered\"}" { print $2 }' "$run/rec-2.prom" 2>/dev/null)
    [ "${got:-0}" = $calls ] && break
    sleep 0.1
done
[ "${got:-0}" = $calls ]; ok $? "rec-2 restarted; metrics: start-up recovery sealed its $calls cut archives (${got:-0})"

q() { pg_psql srtprec "$1"; }
rows=$(q "SELECT count(*) || ' ' || min(state) || ' ' || max(state) FROM recordings WHERE recorder = 'rec-2'")
[ "$rows" = "$calls 3 3" ]; ok $? "index: rec-2's $calls rows are recovered (state 3) in the shared index ($rows)"
"$build/tools/srtprec-loadcheck" --cert="$run/pki/auditor.crt" --key="$run/pki/auditor.key" \
    --expect="$run/sent-2.tsv" --prefixes="$run/sent-2.prefixes" "$run"/archive-2/*.srec \
    >"$run/check-2.out" 2>"$run/check-2.err" && grep -q "recovered=$calls " "$run/check-2.out"
ok $? "rec-2's recovered archives are bit-exact prefixes of every stream sent"
diag <"$run/check-2.out"
head -5 "$run/check-2.err" | diag
# The index's end of a recovered row is the archive's last write: its last flush.
lost=$(q "SELECT max($kill_us - end_us) FROM recordings WHERE recorder = 'rec-2'")
[ -n "$lost" ] && [ "$lost" -le $(( (flush_ms + 500) * 1000 )) ]
ok $? "at most one flush interval lost: the last flush came $((${lost:-0} / 1000)) ms before the kill (interval $flush_ms ms)"
kept=$(sed -n 's/.* packets_archived=\([0-9]*\) .*/\1/p' "$run/check-2.out")
allow=$(( (flush_ms + 500) * calls * 2 * 50 / 1000 ))
[ -n "$kept" ] && [ $(( counted - kept )) -le "$allow" ]
ok $? "rec-2 kept $kept of the $counted packets it had counted before the kill (at most $allow, one interval of its $((calls * 2)) streams, lost)"

rows=$(q "SELECT count(*) FROM recordings WHERE recorder = 'rec-1' AND state = 1")
[ "$rows" = $calls ]; ok $? "index: rec-1's $calls rows are complete ($rows)"
bad=0
while IFS='|' read -r id rec sha; do
    dir=$run/archive; [ "$rec" = rec-2 ] && dir=$run/archive-2
    file=$(sha256sum "$dir/$id.srec" 2>/dev/null | cut -d' ' -f1)
    # Recovered archives carry no seal (recovery has no key): their hash is "".
    if [ "$rec" = rec-1 ] && [ "$sha" != "$file" ]; then bad=1; diag "$id: index $sha, file $file"; fi
    [ -n "$file" ] || { bad=1; diag "$id: no file in $dir"; }
done < <(q "SELECT id, recorder, sha256 FROM recordings")
[ "$bad" = 0 ]; ok $? "every row's archive is in its recorder's directory, sealed ones with the index's SHA-256"

all=$(q "SELECT id FROM recordings ORDER BY id" | tr '\n' ' ')
for port in "$STACK_API_PORT" "$api2_port"; do
    listed=$(stack_curl -s "https://127.0.0.1:$port/v1/recordings?limit=1000" |
        python3 -c 'import json,sys; print(" ".join(sorted(r["id"] for r in json.load(sys.stdin)["recordings"])) + " ")')
    [ "$listed" = "$all" ]; ok $? "the API on port $port lists all $((calls * 2)) recordings of the fleet"
done
# The store: every archive uploaded, the recovered ones after the restart.
for _ in $(seq 1 300); do
    [ "$(q "SELECT count(*) FROM recordings WHERE location <> ''")" = $((calls * 2)) ] && break
    sleep 0.1
done
[ "$(q "SELECT count(*) FROM recordings WHERE location LIKE 's3://srtprec/%'")" = $((calls * 2)) ]
ok $? "index: all $((calls * 2)) rows have a location in the store (rec-2's recovered ones uploaded after its restart)"
bad=0
while IFS='|' read -r id rec loc; do
    dir=$run/archive; [ "$rec" = rec-2 ] && dir=$run/archive-2
    key=${loc#s3://srtprec/}
    swift_curl -fs -o "$run/obj" "$SWIFT_URL/srtprec/$key" && cmp -s "$run/obj" "$dir/$id.srec" || { bad=1; diag "$id: object differs"; }
    if [ -f "$dir/$id.srec.sig" ]; then
        swift_curl -fs -o "$run/obj.sig" "$SWIFT_URL/srtprec/$key.sig" && cmp -s "$run/obj.sig" "$dir/$id.srec.sig" || { bad=1; diag "$id: signature object differs"; }
    fi
done < <(q "SELECT id, recorder, location FROM recordings")
[ "$bad" = 0 ]; ok $? "every object is its archive bit for bit, with its signature beside it"
up1=$(metric srtprec_recorder_upload_ok_total "$run/rec-1.prom")
up2=$(metric srtprec_recorder_upload_ok_total "$run/rec-2.prom")
[ "${up1:-0}" = $calls ] && [ "${up2:-0}" = $calls ]
ok $? "metrics: each recorder counts its $calls uploads confirmed (rec-1 ${up1:-0}, rec-2 ${up2:-0} after its restart)"

api_port() { if [ "$1" = 1 ]; then echo "$STACK_API_PORT"; else echo "$api2_port"; fi; }
src() { tr -d '\r' <"$1" | awk -F': ' 'tolower($1) == "srtprec-source" { print $2 }'; }
bad=0
for b in 1 2; do
    port=$(api_port $b)
    while IFS='|' read -r id rec; do
        dir=$run/archive want=store; [ "$rec" = rec-2 ] && dir=$run/archive-2
        [ "$rec" = "rec-$b" ] && want=
        code=$(stack_curl -s -D "$run/dl.hdr" -o "$run/dl.srec" -w '%{http_code}' "https://127.0.0.1:$port/v1/recordings/$id/archive")
        [ "$code" = 200 ] && cmp -s "$run/dl.srec" "$dir/$id.srec" && [ "$(src "$run/dl.hdr")" = "$want" ] ||
            { bad=1; diag "api-$b $id ($rec): $code, source '$(src "$run/dl.hdr")'"; }
    done < <(q "SELECT id, recorder FROM recordings")
done
[ "$bad" = 0 ]; ok $? "both APIs serve every recording byte for byte: their own box's from disk, the other's from the store"

id2=$(q "SELECT id FROM recordings WHERE recorder = 'rec-2' ORDER BY id LIMIT 1")
code=$(stack_curl -s -D "$run/rg.hdr" -o "$run/rg.bin" -w '%{http_code}' -H 'Range: bytes=100-1099' \
    "https://127.0.0.1:$STACK_API_PORT/v1/recordings/$id2/archive")
crange=$(tr -d '\r' <"$run/rg.hdr" | awk -F': ' 'tolower($1) == "content-range" { print $2 }')
[ "$code" = 206 ] && [ "$crange" = "bytes 100-1099/$(stat -c %s "$run/archive-2/$id2.srec")" ] &&
    cmp -s "$run/rg.bin" <(tail -c +101 "$run/archive-2/$id2.srec" | head -c 1000)
ok $? "a Range on a store-held archive is served from a ranged GET: 206, $crange, the same 1,000 bytes"

bad=0
for id in $(q "SELECT id FROM recordings ORDER BY id"); do
    stack_curl -s -f -o "$run/e1.wav" "https://127.0.0.1:$STACK_API_PORT/v1/recordings/$id/export.wav" &&
        stack_curl -s -f -o "$run/e2.wav" "https://127.0.0.1:$api2_port/v1/recordings/$id/export.wav" &&
        cmp -s "$run/e1.wav" "$run/e2.wav" && [ "$(stat -c %s "$run/e1.wav")" -gt 1000 ] || { bad=1; diag "export $id differs"; }
done
[ "$bad" = 0 ]; ok $? "export.wav of every recording is the same from both APIs (the other box's through the store cache)"
# A store copy's signature swapped for another recording's (what someone
# with the store's credentials could do): the ranged download is refused.
set -- $(q "SELECT id FROM recordings WHERE recorder = 'rec-1' ORDER BY id")
ida=$1 idb=$2
swift_curl -fs -o /dev/null -X PUT --data-binary "@$run/archive/$idb.srec.sig" "$SWIFT_URL/srtprec/$ida.srec.sig"
code=$(stack_curl -s -o "$run/sw.json" -w '%{http_code}' "https://127.0.0.1:$api2_port/v1/recordings/$ida/archive")
swift_curl -fs -o /dev/null -X PUT --data-binary "@$run/archive/$ida.srec.sig" "$SWIFT_URL/srtprec/$ida.srec.sig"
[ "$code" = 500 ] && grep -q '"archive_swapped"' "$run/sw.json" &&
    [ "$(stack_curl -s -o /dev/null -w '%{http_code}' "https://127.0.0.1:$api2_port/v1/recordings/$ida/archive")" = 200 ]
ok $? "a store copy whose signature is another recording's is refused (500 archive_swapped), served again once restored"

cache_ok() { # dir: 0700, archives 0600, at least one
    [ "$(stat -c %a "$1")" = 700 ] && [ -n "$(find "$1" -name '*.srec')" ] &&
        [ -z "$(find "$1" -type f ! -perm 600)" ]
}
cache_ok "$run/cache-1" && cache_ok "$run/cache-2"
ok $? "the export caches are private: directory 0700, files 0600"
stack_curl -s -o "$run/m1.prom" "https://127.0.0.1:$STACK_API_PORT/metrics"
misses=$(metric 'srtprec_api_store_cache_total{event="miss"}' "$run/m1.prom")
[ "${misses:-0}" = "$calls" ] && [ "$(metric srtprec_api_store_cache_bytes "$run/m1.prom")" -gt 0 ]
ok $? "metrics: api-1 fetched rec-2's $calls archives into its cache once each (misses ${misses:-0})"

# Retention on box 2 with the store: the held recording stays (its object
# too), the other goes from the store, the disk and the index.
gone=$(q "SELECT id FROM recordings WHERE recorder = 'rec-2' AND id <> '$id2'")
"$build/tools/srtprec" hold --index="$conninfo" "$id2" on >/dev/null &&
    "$build/tools/srtprec" retention --index="$conninfo" --log="$run/deletions-2.log" \
        --before="$(date -u -d tomorrow +%Y-%m-%d)" --dir="$run/archive-2" --store="$run/box-2.conf" \
        --recorder=rec-2 --signer="$run/pki/signer.crt" >"$run/ret.out" 2>"$run/ret.err" &&
    grep -q "^deleted 1 recordings, 1 on legal hold kept, .* 0 naming another file kept; 1 store copies deleted" "$run/ret.out"
ok $? "retention on box 2 (--recorder=rec-2 --store) deletes 1 with its store copy, keeps the held one, passes box 1's rows over"
diag <"$run/ret.out"
gkey=srtprec/$gone.srec
hkey=srtprec/$id2.srec
swift_curl -s -o /dev/null -w '%{http_code}' -I "$SWIFT_URL/$gkey" >"$run/h1"
swift_curl -s -o /dev/null -w '%{http_code}' -I "$SWIFT_URL/$hkey" >"$run/h2"
[ "$(cat "$run/h1")" = 404 ] && [ "$(cat "$run/h2")" = 200 ] &&
    [ "$(q "SELECT count(*) FROM recordings WHERE id = '$gone'")" = 0 ] &&
    [ "$(q "SELECT count(*) || ' ' || bool_and(hold) FROM recordings WHERE id = '$id2'")" = "1 true" ] &&
    [ ! -e "$run/archive-2/$gone.srec" ] && [ -e "$run/archive-2/$id2.srec" ] &&
    [ "$(q "SELECT count(*) FROM recordings WHERE recorder = 'rec-1'")" = $calls ]
ok $? "the expired one is gone from the store ($(cat "$run/h1")), the disk and the index; the held one and box 1's rows stay (store $(cat "$run/h2"))"
"$build/tools/srtprec" verify-log --log="$run/deletions-2.log" >"$run/vl.out" 2>&1 &&
    grep -q "location=s3://srtprec/$gone.srec" "$run/deletions-2.log"
ok $? "the deletion log is intact and records the store location"

swift_stop
code=$(stack_curl -s -o "$run/err.json" -w '%{http_code}' "https://127.0.0.1:$STACK_API_PORT/v1/recordings/$id2/archive")
reason=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["error"]["code"] if isinstance(d.get("error"), dict) else d.get("error"))' "$run/err.json" 2>/dev/null)
[ "$code" = 503 ] && [ "$reason" = store_unavailable ]
ok $? "store stopped: a download of a store-held archive is 503 store_unavailable ($code $reason)"
diag <"$run/err.json"
stack_curl -s -o "$run/m1.prom" "https://127.0.0.1:$STACK_API_PORT/metrics"
[ "$(metric 'srtprec_api_store_failures_total{reason="unavailable"}' "$run/m1.prom")" -ge 1 ]
ok $? "metrics: the store's unavailability is counted"
stack_curl -s -f -o "$run/e3.wav" "https://127.0.0.1:$STACK_API_PORT/v1/recordings/$id2/export.wav" &&
    cmp -s "$run/e3.wav" <(stack_curl -s "https://127.0.0.1:$api2_port/v1/recordings/$id2/export.wav")
ok $? "a cached export is still served with the store down"

sent1=$(awk -F'\t' 'NR > 1 { n += $4 } END { print n }' "$run/sent-1.tsv")
[ "$(metric srtprec_recorder_packets_recorded_total "$run/rec-1.prom")" = "$sent1" ] &&
    [ "$(metric srtprec_recorder_packets_encrypted_kept_total "$run/rec-1.prom")" = 0 ]
ok $? "metrics: rec-1 recorded all $sent1 packets of its shard, none kept encrypted"

reports=$(grep -l -E 'Sanitizer|runtime error' "$run"/*.log 2>/dev/null)
echo "$reports" | diag
[ -z "$reports" ]; ok $? "no sanitizer report from the daemons or the tools"

tap_end
