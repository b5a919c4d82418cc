# A throwaway PostgreSQL 15 cluster for a test (source it).  Debian's
# binaries (/usr/lib/postgresql/15/bin, package postgresql-15); the server
# refuses to run as root, so under root it runs as nobody, in a directory
# it owns.  UNIX socket only (listen_addresses=''): no port to collide.
#
#   pg_start DIR        initdb and start in DIR (created, emptied by pg_stop)
#   pg_createdb NAME    create database NAME; prints its libpq conninfo
#   pg_psql NAME SQL    run SQL in database NAME (unaligned, tuples only)
#   pg_stop             stop the server (call it from the test's trap)
#   pg_restart          start the stopped server again (same data)
#
# PG_OPTS adds server options; the tests default to fsync=off (their data is
# thrown away), the benchmarks pass PG_OPTS="-c fsync=on" to measure honestly.
PG_BIN=/usr/lib/postgresql/15/bin
pg_dir=

pg_as() {
    if [ "$(id -u)" = 0 ]; then setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
    else "$@"; fi
}

pg_start() {
    pg_dir=$1
    mkdir -p "$pg_dir/data" "$pg_dir/sock"
    [ "$(id -u)" = 0 ] && chown -R nobody:nogroup "$pg_dir"
    chmod 0700 "$pg_dir/data"
    pg_as "$PG_BIN/initdb" -D "$pg_dir/data" -U srtprec -A trust -E UTF8 --locale=C --no-sync \
        >"$pg_dir/initdb.log" 2>&1 || { cat "$pg_dir/initdb.log" >&2; return 1; }
    pg_restart
}

pg_restart() {
    pg_as "$PG_BIN/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 30 \
        -o "-k $pg_dir/sock -c listen_addresses='' ${PG_OPTS:--c fsync=off}" start >/dev/null ||
        { cat "$pg_dir/server.log" >&2; return 1; }
}

pg_createdb() {
    "$PG_BIN/createdb" -h "$pg_dir/sock" -U srtprec "$1" && echo "host=$pg_dir/sock user=srtprec dbname=$1"
}

pg_psql() {
    "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$pg_dir/sock" -U srtprec -d "$1" -c "$2"
}

pg_stop() {
    [ -n "$pg_dir" ] && [ -d "$pg_dir/data" ] || return 0
    pg_as "$PG_BIN/pg_ctl" -D "$pg_dir/data" -m immediate -w stop >/dev/null 2>&1 || true
}
