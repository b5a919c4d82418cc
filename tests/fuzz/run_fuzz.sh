#!/usr/bin/env bash
# Run one libFuzzer target for a bounded time: run_fuzz.sh EXE WORKDIR CORPUS SECONDS
# A crash leaves its input in WORKDIR (crash-*): copy it into the corpus once fixed.
set -euo pipefail
exe=$(realpath "$1") work=$2 corpus=$3 secs=$4
mkdir -p "$work"
cd "$work"
exec "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$work" "$corpus"
