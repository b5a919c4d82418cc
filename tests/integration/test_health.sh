#!/usr/bin/env bash
# Health and metrics of every daemon (TAP; docs/deploy.md, "Health" and
# "Monitoring"):
#  - each daemon's metrics pass `promtool check metrics` (recorder and
#    keyagent files, the API's /metrics aggregating them) and carry
#    srtprec_<daemon>_up, _build_info (meson's project version) and _ready;
#  - the recorder reports its subscription per keyagent, /healthz is 200
#    with every check true while all is well;
#  - a recorder that stops changing its file (SIGSTOP) is stale: /metrics
#    serves srtprec_recorder_up 0 and none of its old samples, /healthz is
#    503; once it runs again both recover;
#  - a recorder stopped by SIGTERM says up 0 in its last file at once;
#  - the keyagent's control socket removed under it fails its check;
#  - /livez answers while /healthz fails.
# usage: test_health.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"
. "$here/../lib/tap.sh"

command -v promtool >/dev/null || { echo "1..0 # SKIP promtool not installed (tools/setup.sh test: prometheus)"; exit 0; }
stack_test_run health
stack_init "$build" "$run"
conf=$run/srtprec.conf
sed -i "/^\[recorder\]/a metrics-file = $run/recorder.prom\nmetrics-interval-ms = 200" "$conf"
sed -i "/^\[keyagent\]/a metrics-file = $run/keyagent.prom\nmetrics-interval-ms = 200" "$conf"
sed -i "/^\[api\]/a recorder-metrics-file = $run/recorder.prom\nkeyagent-metrics-file = $run/keyagent.prom\ndaemon-metrics-max-age-ms = 1500" "$conf"
version=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' \
    "$build/meson-info/intro-projectinfo.json")

stack_start || { ok 1 "stack starts"; tap_end; exit 1; }
base=$(stack_api)

# Poll (bounded) until a command succeeds.
until_ok() { # seconds command...
    local i t=$1
    shift
    for i in $(seq 1 $((t * 10))); do "$@" && return 0; sleep 0.1; done
    return 1
}
metric() { # file name-with-labels: the sample's value
    awk -v n="$2" '$1 == n { print $2 }' "$1"
}
healthz() { # prints the status code, body in $run/healthz.json
    stack_curl -s -o "$run/healthz.json" -w '%{http_code}' "$base/healthz"
}
scrape() { stack_curl -s -o "$run/api.prom" "$base/metrics"; }
ready_all() { [ "$(healthz)" = 200 ]; }

until_ok 15 ready_all
ok $? "/healthz 200 once everything runs: $(cat "$run/healthz.json")"
for c in index_readable archive_dir_readable recorder_metrics_fresh recorder_ready \
         keyagent_metrics_fresh keyagent_ready; do
    grep -q "\"$c\": *true" "$run/healthz.json"
    ok $? "/healthz check $c true"
done

for d in recorder keyagent; do
    promtool check metrics <"$run/$d.prom" >"$run/$d.lint" 2>&1
    ok $? "promtool check metrics: $d's file"
    diag <"$run/$d.lint"
    [ "$(metric "$run/$d.prom" "srtprec_${d}_up")" = 1 ] &&
        [ "$(metric "$run/$d.prom" "srtprec_${d}_ready")" = 1 ] &&
        [ "$(metric "$run/$d.prom" "srtprec_${d}_build_info{version=\"$version\"}")" = 1 ]
    ok $? "$d: up 1, ready 1, build_info version $version"
done
ka="127.0.0.1:$STACK_KA_PORT"
[ "$(metric "$run/recorder.prom" "srtprec_recorder_keyagent_subscribed{keyagent=\"$ka\"}")" = 1 ] &&
    [ "$(metric "$run/recorder.prom" "srtprec_recorder_keyagent_subscription_state{keyagent=\"$ka\",state=\"active\"}")" = 1 ] &&
    [ "$(metric "$run/recorder.prom" "srtprec_recorder_keyagent_subscription_state{keyagent=\"$ka\",state=\"idle\"}")" = 0 ]
ok $? "recorder: subscription to $ka active"
for c in archive_dir_writable index_reachable keyagents_subscribed disk_headroom archives_sealed; do
    [ "$(metric "$run/recorder.prom" "srtprec_recorder_health_check{check=\"$c\"}")" = 1 ]
    ok $? "recorder check $c passes"
done
for c in listener control_socket; do
    [ "$(metric "$run/keyagent.prom" "srtprec_keyagent_health_check{check=\"$c\"}")" = 1 ]
    ok $? "keyagent check $c passes"
done
# srtprec health reads the same files (docs/deploy.md, "Health").
cli=$build/tools/srtprec
"$cli" health --max-age=2 "$run/recorder.prom" "$run/keyagent.prom" >"$run/health.out" 2>&1
rc=$?
[ "$rc" = 0 ] && [ "$(grep -c ': ready (age' "$run/health.out")" = 2 ] &&
    grep -q "^recorder $run/recorder.prom: ready" "$run/health.out" &&
    grep -q "^keyagent $run/keyagent.prom: ready" "$run/health.out"
ok $? "srtprec health: both daemons ready, exit $rc"
diag <"$run/health.out"

scrape
promtool check metrics <"$run/api.prom" >"$run/api.lint" 2>&1
ok $? "promtool check metrics: the API's /metrics with both daemons' files"
diag <"$run/api.lint"
[ "$(metric "$run/api.prom" srtprec_api_up)" = 1 ] && [ "$(metric "$run/api.prom" srtprec_api_ready)" = 1 ] &&
    [ "$(metric "$run/api.prom" srtprec_recorder_up)" = 1 ] &&
    [ -n "$(metric "$run/api.prom" srtprec_recorder_packets_received_total)" ]
ok $? "/metrics: api up and ready, the recorder's samples served"

# The shipped alert rules and dashboard: valid, and every srtprec metric they
# name is one the daemons really export (a renamed metric fails here).
mon=$here/../../etc/monitoring
promtool check rules "$mon/srtprec-alerts.yml" >"$run/rules.lint" 2>&1
ok $? "promtool check rules etc/monitoring/srtprec-alerts.yml"
diag <"$run/rules.lint"
missing=$(python3 - "$mon/grafana-dashboard.json" "$mon/srtprec-alerts.yml" "$run/api.prom" <<'PY'
import json, re, sys
dash = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
exprs += re.findall(r"expr: (.*)", open(sys.argv[2]).read())
names = set(re.findall(r"\bsrtprec_[a-z0-9_]+", " ".join(exprs)))
have = set(re.findall(r"^(srtprec_[a-z0-9_]+)", open(sys.argv[3]).read(), re.M))
print(" ".join(sorted(names - have)))
PY
)
[ -z "$missing" ]
ok $? "dashboard and alert rules name only exported metrics${missing:+ (missing: $missing)}"

# --- a recorder that hangs: its file goes stale ---------------------------------
rec_pid=${STACK_PIDS[1]}
kill -STOP "$rec_pid"
stale() { scrape && [ "$(metric "$run/api.prom" srtprec_recorder_up)" = 0 ]; }
until_ok 10 stale
ok $? "stopped recorder: /metrics says srtprec_recorder_up 0 once its file is stale"
[ -z "$(metric "$run/api.prom" srtprec_recorder_packets_received_total)" ] &&
    [ "$(metric "$run/api.prom" 'srtprec_api_health_check{check="recorder_metrics_fresh"}')" = 0 ] &&
    [ "$(metric "$run/api.prom" srtprec_api_ready)" = 0 ]
ok $? "stale file: its samples not served, api not ready"
promtool check metrics <"$run/api.prom" >"$run/api-stale.lint" 2>&1
ok $? "promtool check metrics: /metrics with a stale recorder"
diag <"$run/api-stale.lint"
code=$(healthz)
[ "$code" = 503 ] && grep -q '"recorder_metrics_fresh": *false' "$run/healthz.json" &&
    grep -q '"status": *"fail"' "$run/healthz.json"
ok $? "stale recorder: /healthz $code: $(cat "$run/healthz.json")"
code=$(stack_curl -s -o /dev/null -w '%{http_code}' "$base/livez")
[ "$code" = 200 ]
ok $? "/livez $code while /healthz fails"
"$cli" health --max-age=1 "$run/recorder.prom" "$run/keyagent.prom" >"$run/health.out" 2>&1
rc=$?
[ "$rc" = 1 ] && grep -q "^recorder $run/recorder.prom: STALE" "$run/health.out" &&
    grep -q "^keyagent $run/keyagent.prom: ready" "$run/health.out"
ok $? "srtprec health: the hung recorder STALE, the keyagent ready, exit $rc"
diag <"$run/health.out"
kill -CONT "$rec_pid"
until_ok 10 ready_all
ok $? "recorder running again: /healthz 200"

# --- the keyagent's control socket removed ---------------------------------------
rm -f "$STACK_CONTROL"
ka_bad() { [ "$(metric "$run/keyagent.prom" 'srtprec_keyagent_health_check{check="control_socket"}')" = 0 ]; }
until_ok 10 ka_bad && [ "$(metric "$run/keyagent.prom" srtprec_keyagent_ready)" = 0 ]
ok $? "keyagent without its control socket: check control_socket 0, not ready"
"$cli" health "$run/keyagent.prom" >"$run/health.out" 2>&1
rc=$?
[ "$rc" = 1 ] && grep -q "^keyagent $run/keyagent.prom: NOT READY (age [0-9]* s): failing control_socket$" "$run/health.out"
ok $? "srtprec health: keyagent NOT READY naming control_socket, exit $rc"
diag <"$run/health.out"
until_ok 10 eval '[ "$(healthz)" = 503 ] && grep -q "\"keyagent_ready\": *false" "$run/healthz.json"'
ok $? "/healthz 503 with keyagent_ready false"

# --- a recorder stopped by SIGTERM says so in its last file -----------------------
kill -TERM "$rec_pid"
until_ok 20 eval '! kill -0 "$rec_pid" 2>/dev/null'
[ "$(metric "$run/recorder.prom" srtprec_recorder_up)" = 0 ] &&
    [ "$(metric "$run/recorder.prom" srtprec_recorder_ready)" = 0 ]
ok $? "SIGTERM: the recorder's last file says up 0, ready 0"
code=$(healthz)
[ "$code" = 503 ] && grep -q '"recorder_ready": *false' "$run/healthz.json"
ok $? "stopped recorder: /healthz $code with recorder_ready false"

tap_end
