#!/usr/bin/env bash
# Run a TAP test program against a fresh PostgreSQL cluster: starts one
# (tests/lib/pg.sh), creates a database, passes its conninfo in
# SRTPREC_TEST_INDEX, stops the cluster and removes it whatever happens.
#   pg_run.sh PROGRAM [ARGS...]
set -u
. "$(dirname "$0")/pg.sh"
tmp=$(mktemp -d /tmp/srtprec-pg.XXXXXX)
trap 'pg_stop; rm -rf "$tmp"' EXIT
pg_start "$tmp" || { echo "Bail out! cannot start PostgreSQL"; exit 1; }
SRTPREC_TEST_INDEX=$(pg_createdb srtprec) || { echo "Bail out! createdb"; exit 1; }
export SRTPREC_TEST_INDEX
"$@"
