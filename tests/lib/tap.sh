# TAP for the shell tests (source it): ok STATUS DESCRIPTION numbers each
# check; diag turns stdin into comments on stderr; tap_end prints the plan
# and returns the verdict.  Callers read $failed (cleanup keeps a failed
# run's files for inspection).
n=0 failed=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi; }
diag() { sed 's/^/# /' >&2; }
tap_end() { echo "1..$n"; [ "$failed" = 0 ]; }
