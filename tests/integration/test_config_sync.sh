#!/usr/bin/env bash
# etc/srtprec.conf must be exactly what tools/gen-config.sh prints from the
# daemons' option tables (TAP).  usage: test_config_sync.sh BUILD_DIR
set -uo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$top/tools/gen-config.sh" "$build" >"$out"
echo "ok 1 - gen-config.sh ran"
if diff -u "$top/etc/srtprec.conf" "$out" | sed 's/^/# /'; [ "${PIPESTATUS[0]}" = 0 ]; then
    echo "ok 2 - etc/srtprec.conf matches the option tables"
else
    echo "not ok 2 - etc/srtprec.conf differs: run tools/gen-config.sh BUILD > etc/srtprec.conf"
fi
echo "1..2"
