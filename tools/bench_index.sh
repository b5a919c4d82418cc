#!/usr/bin/env bash
# Index benchmarks, SQLite against PostgreSQL (docs/benchmarks.md, "Index"):
#   1. writes: bench_index --writes (archive opens and seals), 1 and 4
#      processes, 3 rounds each, a fresh index per round;
#   2. a large index: ROWS recordings over 30 days (500 agents), filled with
#      one SQL statement per backend, then 3 rounds of 1,000 one-day queries
#      by party through stor_index_search (the API's list path).
# PostgreSQL is a throwaway cluster (tests/lib/pg.sh) with fsync on and
# default settings otherwise; SQLite is a file in the same /tmp.
#   tools/bench_index.sh BUILD_DIR [ROWS (1000000)] [WRITES (2000; 0: skip part 1)]
set -euo pipefail
build=$(cd "$1" && pwd)
rows=${2:-1000000}
nw=${3:-2000}
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/lib/pg.sh"
tmp=$(mktemp -d /tmp/srtprec-bench-index.XXXXXX)
trap 'pg_stop; rm -rf "$tmp"' EXIT
chmod 711 "$tmp"   # the server runs as nobody (tests/lib/pg.sh)
PG_OPTS="-c fsync=on" pg_start "$tmp/pg"
bench=$build/tools/bench_index

for procs in 1 4; do
    [ "$nw" -gt 0 ] || break
    for r in 1 2 3; do
        rm -f "$tmp/w.db"*
        printf 'sqlite     '; "$bench" --index="$tmp/w.db" --writes="$nw" --procs="$procs"
        printf 'postgresql '; "$bench" --index="$(pg_createdb "w$procs$r")" --writes="$nw" --procs="$procs"
    done
done

cols="id, call_id, local_aor, remote_aor, local_tag, remote_tag, source, start_us, end_us, state, bytes, packets, n_streams, path, sha256"
step=$(( 2592000000000 / rows ))
big_pg=$(pg_createdb big)
"$bench" --index="$tmp/big.db" --writes=1 >/dev/null   # the schema, through the index code
"$bench" --index="$big_pg" --writes=1 >/dev/null
t0=$(date +%s)
sqlite3 "$tmp/big.db" "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < $rows - 1)
  INSERT INTO recordings ($cols) SELECT printf('%032x', i), 'c' || i || '@host',
  'sip:agent' || (i % 500) || '@cc.example', 'sip:+' || (i * 7919 % 200000) || '@pstn.example', 'lt', 'rt', 'ka',
  1700000000000000 + i * $step, 1700000000000000 + i * $step + 180000000, 1, 4000000, 30000, 2,
  '/var/lib/srtprec/archive/' || printf('%032x', i) || '.srec', '' FROM s; ANALYZE;"
echo "sqlite: $rows rows filled in $(( $(date +%s) - t0 )) s, $(du -m "$tmp/big.db" | cut -f1) MB"
t0=$(date +%s)
pg_psql big "INSERT INTO recordings ($cols) SELECT lpad(to_hex(i), 32, '0'), 'c' || i || '@host',
  'sip:agent' || (i % 500) || '@cc.example', 'sip:+' || (i::bigint * 7919 % 200000) || '@pstn.example', 'lt', 'rt', 'ka',
  1700000000000000 + i::bigint * $step, 1700000000000000 + i::bigint * $step + 180000000, 1, 4000000, 30000, 2,
  '/var/lib/srtprec/archive/' || lpad(to_hex(i), 32, '0') || '.srec', '' FROM generate_series(0, $rows - 1) AS i"
pg_psql big "ANALYZE recordings"
echo "postgresql: $rows rows filled in $(( $(date +%s) - t0 )) s, $(pg_psql big "SELECT pg_database_size('big') / 1048576") MB"
for r in 1 2 3; do
    printf 'sqlite     '; "$bench" --index="$tmp/big.db" --search=1000
    printf 'postgresql '; "$bench" --index="$big_pg" --search=1000
done

# 3. The same one-day party queries over HTTPS (what the console's list
#    costs end to end): srtprec-api on each big index, one MHD thread,
#    TLS 1.3, audit log on, a keep-alive client (Python's http.client, its
#    own cost included), 3 rounds of HTTP_QUERIES.
nq=${HTTP_QUERIES:-1000}
"$top/tests/lib/mkcerts.sh" "$tmp/pki" >/dev/null 2>&1
tok=bench-$RANDOM$RANDOM$RANDOM
printf '%s' "$tok" | "$build/api/srtprec-api" --hash-token=bench:lister >"$tmp/tokens" 2>/dev/null
mkdir -p "$tmp/archive"
api_list() { # label index
    local conf=$tmp/api-$1.conf port="" pid i
    cat >"$conf" <<CONF
[api]
listen = 127.0.0.1:0
tls-cert = $tmp/pki/api.crt
tls-key = $tmp/pki/api.key
index = $2
archive-dir = $tmp/archive
archive-cert = $tmp/pki/auditor.crt
archive-key = $tmp/pki/auditor.key
tokens-file = $tmp/tokens
audit-log = $tmp/audit-$1.log
seal-ledger = $tmp/seals
threads = 1
log-level = notice
CONF
    "$build/api/srtprec-api" --config="$conf" >"$tmp/api-$1.log" 2>&1 &
    pid=$!
    for i in $(seq 1 100); do
        port=$(sed -n 's/.*listening on https:.* port \([0-9]*\).*/\1/p' "$tmp/api-$1.log")
        [ -n "$port" ] && break
        sleep 0.1
    done
    for r in 1 2 3; do
        printf '%-10s ' "$1"
        /usr/bin/python3 - "$port" "$tmp/pki/ca.crt" "$tok" "$nq" <<'PY'
import http.client, json, random, ssl, sys, time
port, ca, tok, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
rng, lat, rows = random.Random(42), [], 0
for _ in range(n):
    day, agent = rng.randrange(30), rng.randrange(500)
    t0 = 1700000000 + day * 86400
    path = "/v1/recordings?party=sip:agent%d@cc.example&from=%d&to=%d&limit=100" % (agent, t0, t0 + 86399)
    s = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": "Bearer " + tok})
    r = conn.getresponse()
    body = r.read()
    lat.append(time.perf_counter() - s)
    if r.status != 200:
        sys.exit("HTTP %d: %s" % (r.status, body[:200]))
    rows += len(json.loads(body)["recordings"])
lat.sort()
print("http: %d one-day party queries, %.1f rows each: p50 %.2f ms, p99 %.2f ms, max %.2f ms"
      % (n, rows / n, lat[n // 2] * 1e3, lat[n * 99 // 100] * 1e3, lat[-1] * 1e3))
PY
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true
}
api_list sqlite "$tmp/big.db"
api_list postgresql "$big_pg"
