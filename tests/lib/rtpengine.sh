# shellcheck shell=bash
# rtpengine 10.5 (Debian rtpengine-daemon) for the tests, as
# docs/integrations.md runs it: userspace only (table = -1), one interface
# on 127.0.0.1, the ng control protocol on loopback.  Sourced by
# interop_siprec_rtpengine and interop_kamailio_rtpengine; the caller sets
# run and top.
#
#   rtpengine_start NG_PORT PORT_MIN PORT_MAX   sets rtpe_pid; returns 0 once
#                                               it answers ng "ping"
#   rtpengine_stop                              TERM and wait
rtpengine_start() {
    cat >"$run/rtpengine.conf" <<CONF
[rtpengine]
table = -1
interface = 127.0.0.1
listen-ng = 127.0.0.1:$1
port-min = $2
port-max = $3
log-level = 6
CONF
    rtpengine --config-file="$run/rtpengine.conf" --foreground --log-stderr >"$run/rtpengine.log" 2>&1 &
    rtpe_pid=$!
    /usr/bin/python3 "$top/tools/rtpengine_ng.py" ping --ng "127.0.0.1:$1" --wait 10
}

rtpengine_stop() {
    [ -n "${rtpe_pid:-}" ] && { kill -TERM "$rtpe_pid" 2>/dev/null; wait "$rtpe_pid" 2>/dev/null; }
    rtpe_pid=
}
