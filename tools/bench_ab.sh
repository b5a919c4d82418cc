#!/usr/bin/env bash
# A/B of the recorder over sockets: tools/bench_capacity.sh with two build
# directories, alternated ROUNDS times in the same minutes, then each build's
# whole cost per packet (min / median / max) and its runs with loss.  On a
# shared VM one run's cost moves by a third from one minute to the next
# (docs/benchmarks.md); only alternated runs compare two binaries.
#
# usage: tools/bench_ab.sh BUILD_A BUILD_B [ROUNDS [CALLS]]   (3, 1000)
#   env: as tools/bench_capacity.sh (WORKERS, DURATION_MS, CHURN, RCVBUF, PIN)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || { echo "usage: $0 BUILD_A BUILD_B [ROUNDS [CALLS]]" >&2; exit 2; }
a=$(cd "$1" && pwd) || exit 2
b=$(cd "$2" && pwd) || exit 2
rounds=${3:-3}
calls=${4:-1000}
out=$(mktemp -d /tmp/srtprec-ab.XXXXXX)

for r in $(seq 1 "$rounds"); do
    for side in a b; do
        dir=$([ "$side" = a ] && echo "$a" || echo "$b")
        "$top/tools/bench_capacity.sh" "$dir" "$calls" >"$out/$side-$r.out" 2>"$out/$side-$r.err"
        row=$(awk -v c="$calls" '$1 == c { print $9, $7, $NF }' "$out/$side-$r.out")
        echo "round $r $side: us/pkt loss check = ${row:-failed (see $out/$side-$r.err)}"
        echo "$row" >>"$out/$side.rows"
    done
done
for side in a b; do
    dir=$([ "$side" = a ] && echo "$a" || echo "$b")
    sort -n "$out/$side.rows" | awk -v d="$dir" '
        NF == 3 { v[n++] = $1; if ($2 > 0) lossy++ }
        END {
            if (!n) { printf "%s: no runs\n", d; exit }
            printf "%s: whole us/pkt min %.2f median %.2f max %.2f over %d runs; %d with loss\n",
                d, v[0], v[int(n / 2)], v[n - 1], n, lossy + 0 }'
done
echo "runs in $out"
