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
