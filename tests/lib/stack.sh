# shellcheck shell=bash
# Start and stop a whole srtprec deployment on loopback: a throwaway PKI,
# one srtprec.conf, srtprec-keyagent, srtprec-recorder and srtprec-api.
# Sourced by tools/demo.sh and the end-to-end tests.
#
#   stack_init BUILD_DIR RUN_DIR   sets STACK_* variables, makes PKI, config, tokens
#   stack_start                    starts the three daemons, waits for the subscription
#   stack_stop                     SIGTERM, wait (bounded), SIGKILL leftovers
#   stack_wait_recordings N SECS   until the API lists N complete recordings
#   stack_curl ARGS...             curl against the API with the CA and auditor token

STACK_PIDS=()

stack_log() { printf '[stack] %s\n' "$*" >&2; }

# A free TCP and UDP port on 127.0.0.1 (checked with ss from iproute2).
# A port below the kernel's ephemeral range (ip_local_port_range, 32768 and
# up here): a port in that range can be taken by any outgoing connection
# (curl, a daemon's TLS client) between this check and the daemon's bind,
# which made a listen fail now and then.
stack_free_port() {
    local p i lo
    lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    [ "$lo" -gt 12000 ] 2>/dev/null || lo=32768
    for i in $(seq 1 200); do
        p=$(( (RANDOM << 1 | RANDOM & 1) % (lo - 11000) + 10000 ))
        if [ -z "$(ss -Hltun "( sport = :$p )" 2>/dev/null)" ]; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

stack_token_line() { # name roles token
    local h
    h=$(printf '%s' "$3" | openssl dgst -sha256 -r | cut -d' ' -f1)
    printf '%s %s sha256:%s\n' "$1" "$2" "$h"
}

stack_init() {
    STACK_BUILD=$(cd "$1" && pwd)
    STACK_RUN=$2
    local top
    top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    mkdir -p "$STACK_RUN"
    STACK_RUN=$(cd "$STACK_RUN" && pwd)
    mkdir -p "$STACK_RUN/archive" "$STACK_RUN/sim"
    "$top/tests/lib/mkcerts.sh" "$STACK_RUN/pki"
    STACK_KA_PORT=${STACK_KA_PORT:-$(stack_free_port)}
    STACK_MEDIA_PORT=${STACK_MEDIA_PORT:-$(stack_free_port)}
    STACK_API_PORT=${STACK_API_PORT:-$(stack_free_port)}
    STACK_CONTROL=$STACK_RUN/keyagent.sock
    STACK_AUDITOR_TOKEN=$(openssl rand -hex 24)
    STACK_LISTER_TOKEN=$(openssl rand -hex 24)
    {
        stack_token_line auditor auditor,archivist,lister "$STACK_AUDITOR_TOKEN"
        stack_token_line dashboard lister "$STACK_LISTER_TOKEN"
    } >"$STACK_RUN/tokens"
    chmod 600 "$STACK_RUN/tokens"
    local pki=$STACK_RUN/pki
    STACK_RECORDER_CERT=${STACK_RECORDER_CERT:-recorder}
    cat >"$STACK_RUN/srtprec.conf" <<CONF
; srtprec on loopback, written by tests/lib/stack.sh
[keyagent]
listen = 127.0.0.1:$STACK_KA_PORT
tls-cert = $pki/keyagent.crt
tls-key = $pki/keyagent.key
tls-ca = $pki/ca.crt
allow = sip:recorder@example.net
control-socket = $STACK_CONTROL
disclosure-log = $STACK_RUN/disclosures.log
log-level = info

[recorder]
keyagents = 127.0.0.1:$STACK_KA_PORT sip:keyagent@example.net
identity = sip:recorder@example.net
tls-cert = $pki/$STACK_RECORDER_CERT.crt
tls-key = $pki/$STACK_RECORDER_CERT.key
tls-ca = $pki/ca.crt
media-listen = 127.0.0.1:$STACK_MEDIA_PORT
archive-dir = $STACK_RUN/archive
archive-recipients = $pki/auditor.crt
index = $STACK_RUN/index.sqlite
signing-key = $pki/signer.key
call-linger-ms = 500
log-level = info

[api]
listen = 127.0.0.1:$STACK_API_PORT
tls-cert = $pki/api.crt
tls-key = $pki/api.key
index = $STACK_RUN/index.sqlite
archive-cert = $pki/auditor.crt
archive-key = $pki/auditor.key
archive-signer = $pki/signer.crt
tokens-file = $STACK_RUN/tokens
log-level = info
CONF
}

stack_start_one() { # name binary
    "$STACK_BUILD/$2" --config="$STACK_RUN/srtprec.conf" >"$STACK_RUN/$1.log" 2>&1 &
    STACK_PIDS+=($!)
}

# Wait (bounded) until grep finds pattern in a log file.
stack_wait_log() { # file pattern seconds
    local i
    for i in $(seq 1 $(( $3 * 10 ))); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

stack_start() {
    stack_start_one keyagent keyagent/srtprec-keyagent
    stack_wait_log "$STACK_RUN/keyagent.log" "listening" 10 || { stack_log "keyagent did not start"; cat "$STACK_RUN/keyagent.log" >&2; return 1; }
    stack_start_one recorder recorder/srtprec-recorder
    stack_start_one api api/srtprec-api
    stack_wait_log "$STACK_RUN/recorder.log" "subscription active" 15 || { stack_log "recorder did not subscribe"; cat "$STACK_RUN/recorder.log" >&2; return 1; }
    local i
    for i in $(seq 1 100); do
        stack_curl -s -o /dev/null "https://127.0.0.1:$STACK_API_PORT/livez" && return 0
        sleep 0.1
    done
    stack_log "api did not answer"; cat "$STACK_RUN/api.log" >&2
    return 1
}

stack_stop() {
    local p i
    for p in "${STACK_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for i in $(seq 1 50); do
        local alive=0
        for p in "${STACK_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for p in "${STACK_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    STACK_PIDS=()
}

stack_curl() {
    curl --max-time 20 --cacert "$STACK_RUN/pki/ca.crt" -H "Authorization: Bearer $STACK_AUDITOR_TOKEN" "$@"
}

stack_api() { echo "https://127.0.0.1:$STACK_API_PORT"; }

# Until the API lists at least N recordings in state complete.
stack_wait_recordings() { # n seconds
    local i n
    for i in $(seq 1 $(( $2 * 10 ))); do
        n=$(stack_curl -s "$(stack_api)/v1/recordings?limit=1000" | grep -o '"state": *"complete"' | wc -l)
        [ "$n" -ge "$1" ] && return 0
        sleep 0.1
    done
    return 1
}

# Wait (bounded) until DIR holds COUNT sealed archives and no .partial one;
# prints how many are sealed.
stack_wait_sealed() { # dir count seconds
    local i sealed=0 partial
    for i in $(seq 1 $(( $3 * 10 ))); do
        sealed=$(find "$1" -name '*.srec' | wc -l)
        partial=$(find "$1" -name '*.partial' | wc -l)
        [ "$sealed" -ge "$2" ] && [ "$partial" = 0 ] && break
        sleep 0.1
    done
    echo "$sealed"
}

# A test's run directory and its exit trap: stop the daemons, run the
# test's own test_cleanup if it defines one, and keep the directory only if
# a check failed ($failed, tests/lib/tap.sh).  Sets run.
stack_test_run() { # name
    run=$(mktemp -d "/tmp/srtprec-$1.XXXXXX")
    trap stack_test_cleanup EXIT
}
stack_test_cleanup() {
    declare -F test_cleanup >/dev/null && test_cleanup
    stack_stop
    [ "${failed:-1}" = 0 ] && rm -rf "$run"
}
