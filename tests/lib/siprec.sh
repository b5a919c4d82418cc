# Shared by the SIPREC tests (recorder_siprec, interop_siprec_rtpengine,
# interop_siprec_sipp).  Source after stack.sh.

# siprec_recorder_start PORT_SPAN EXTRA_LINE...: a SIPREC-only recorder (no
# keyagents) over mutual TLS at 127.0.0.1:$sip_port, allowing
# sip:sbc@example.net, media ports $lo..$lo+PORT_SPAN-1, with the test's
# $pki, $run and $media_port; EXTRA_LINEs go into [recorder].  Starts it
# and waits until it listens.
siprec_recorder_start() {
    local span=$1
    shift
    mkdir -p "$run/archive"
    {
        cat <<CONF
[recorder]
keyagents =
identity = sip:recorder@example.net
tls-cert = $pki/recorder.crt
tls-key = $pki/recorder.key
tls-ca = $pki/ca.crt
media-listen = 127.0.0.1:$media_port
archive-dir = $run/archive
archive-recipients = $pki/auditor.crt
signing-key = $pki/signer.key
index = $run/index.sqlite
metrics-file = $run/metrics.prom
metrics-interval-ms = 200
key-log = $run/keys.log
siprec-listen = 127.0.0.1:$sip_port
siprec-allow = sip:sbc@example.net
siprec-media-port-min = $lo
siprec-media-port-max = $(( lo + span - 1 ))
log-level = info
CONF
        printf '%s\n' "$@"
    } >"$run/srtprec.conf"
    "$build/recorder/srtprec-recorder" --config="$run/srtprec.conf" >"$run/recorder.log" 2>&1 &
    STACK_PIDS+=($!)
    stack_wait_log "$run/recorder.log" "SIPREC: listening" 10
}
