# shellcheck shell=bash
# A throwaway OpenStack Swift 2.30 (Debian packages swift, swift-proxy,
# swift-object, swift-container, swift-account, python3-swift) with its S3 API
# (s3api middleware), for the object-store tests and benchmarks (source it,
# after tests/lib/stack.sh for stack_free_port).  All four servers run on
# 127.0.0.1 with workers = 0, one-replica rings and a plain directory as the
# device; optionally behind stunnel4 so clients test TLS verification for real
# (Swift itself speaks plain HTTP).
#
#   swift_start DIR [CRT KEY]  start in DIR (created; emptied by swift_stop).
#                              Sets SWIFT_URL (http://127.0.0.1:PORT) and, with
#                              a certificate and key, SWIFT_TLS_URL
#                              (https://127.0.0.1:PORT through stunnel).
#   swift_curl ARGS...         curl signed with SigV4 as the test user (the body
#                              hash is SWIFT_PAYLOAD_HASH, else UNSIGNED-PAYLOAD)
#   swift_stop                 SIGTERM, wait (bounded), SIGKILL leftovers
#
# Credentials: access key SWIFT_ACCESS (account:user, "test:tester"), secret
# SWIFT_SECRET, region us-east-1.  Swift reads /etc/swift/swift.conf for its
# hash prefix whatever swift_dir says (the package's values do for a
# throwaway store).  PID 1 here does not reap orphans: swift_stop waits for
# every process it started.
SWIFT_ACCESS=test:tester
SWIFT_SECRET=testing
SWIFT_REGION=us-east-1
SWIFT_PIDS=()
swift_dir=

swift_conf_common() { # port
    printf '[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = %s\nworkers = 0\n' "$1"
    printf 'swift_dir = %s\ndevices = %s/srv\nmount_check = false\nuser = %s\n' \
        "$swift_dir" "$swift_dir" "$(id -un)"
    printf 'log_name = swift\nlog_facility = LOG_LOCAL0\nlog_level = WARNING\n'
}

swift_start() {
    local crt=${2:-} key=${3:-} ring p
    swift_dir=$1
    mkdir -p "$swift_dir/srv/d1" "$swift_dir/run"
    printf 'machine 127.0.0.1 login %s password %s\n' "$SWIFT_ACCESS" "$SWIFT_SECRET" >"$swift_dir/netrc"
    local pp op cp ap
    pp=$(stack_free_port); op=$(stack_free_port); cp=$(stack_free_port); ap=$(stack_free_port)
    for ring in object:$op container:$cp account:$ap; do
        (cd "$swift_dir" &&
         swift-ring-builder "${ring%%:*}.builder" create 4 1 0 &&
         swift-ring-builder "${ring%%:*}.builder" add "r1z1-127.0.0.1:${ring#*:}/d1" 100 &&
         swift-ring-builder "${ring%%:*}.builder" rebalance) >"$swift_dir/ring.log" 2>&1 ||
            { cat "$swift_dir/ring.log" >&2; return 1; }
    done
    { swift_conf_common "$op"; printf '[pipeline:main]\npipeline = object-server\n'
      printf '[app:object-server]\nuse = egg:swift#object\n'; } >"$swift_dir/object.conf"
    { swift_conf_common "$cp"; printf '[pipeline:main]\npipeline = container-server\n'
      printf '[app:container-server]\nuse = egg:swift#container\n'; } >"$swift_dir/container.conf"
    { swift_conf_common "$ap"; printf '[pipeline:main]\npipeline = account-server\n'
      printf '[app:account-server]\nuse = egg:swift#account\n'; } >"$swift_dir/account.conf"
    # tempauth needs the cache filter but no memcached (it only logs ECONNREFUSED).
    { swift_conf_common "$pp"; cat <<'CONF'
[pipeline:main]
pipeline = catch_errors proxy-logging cache s3api tempauth bulk slo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
# Tests stop and start servers: a node that failed more than 10 times (the
# default) would stay error-limited for 60 s after it is back (503).
error_suppression_limit = 1000000
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
[filter:s3api]
use = egg:swift#s3api
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
[filter:bulk]
use = egg:swift#bulk
[filter:slo]
use = egg:swift#slo
CONF
    } >"$swift_dir/proxy.conf"
    for p in object container account proxy; do
        "swift-$p-server" "$swift_dir/$p.conf" >"$swift_dir/$p.log" 2>&1 &
        SWIFT_PIDS+=($!)
    done
    SWIFT_URL=http://127.0.0.1:$pp
    SWIFT_TLS_URL=
    if [ -n "$crt" ]; then
        local tp; tp=$(stack_free_port)
        printf 'foreground = yes\npid =\n[s3]\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\ncert = %s\nkey = %s\n' \
            "$tp" "$pp" "$crt" "$key" >"$swift_dir/stunnel.conf"
        stunnel "$swift_dir/stunnel.conf" >"$swift_dir/stunnel.log" 2>&1 &
        SWIFT_PIDS+=($!)
        SWIFT_TLS_URL=https://127.0.0.1:$tp
    fi
    # Ready when every server listens and the S3 API answers a signed
    # ListBuckets (about 3.5 s here).  The proxy alone is not enough: a PUT
    # before the object server listens is 503 ("Please reduce your request
    # rate", s3api's name for it).
    local ports="$pp $op $cp $ap${SWIFT_TLS_URL:+ ${SWIFT_TLS_URL##*:}}" n
    for _ in $(seq 1 100); do
        n=0
        for p in $ports; do [ -n "$(ss -Hlt "( sport = :$p )")" ] && n=$((n + 1)); done
        if [ "$n" = "$(echo "$ports" | wc -w)" ] && swift_curl -fs -o /dev/null "$SWIFT_URL/" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "swift: not ready after 10 s" >&2
    tail -5 "$swift_dir"/*.log >&2
    return 1
}

# The access key holds a colon, which curl --user splits at (then Swift
# answers SignatureDoesNotMatch): the credentials go in a netrc instead.
swift_curl() {
    curl --aws-sigv4 "aws:amz:$SWIFT_REGION:s3" --netrc-file "$swift_dir/netrc" \
        -H "x-amz-content-sha256: ${SWIFT_PAYLOAD_HASH:-UNSIGNED-PAYLOAD}" "$@"
}

swift_stop() {
    local pid
    [ "${#SWIFT_PIDS[@]}" -gt 0 ] || return 0
    kill -TERM "${SWIFT_PIDS[@]}" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "${SWIFT_PIDS[@]}" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "${SWIFT_PIDS[@]}" 2>/dev/null || true
    for pid in "${SWIFT_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    SWIFT_PIDS=()
    [ -n "$swift_dir" ] && rm -rf "$swift_dir"
}
