# Shared by the tests that run Kamailio 5.6 with the shipped
# etc/kamailio/kamailio.cfg between baresip softphones (interop_kamailio,
# interop_kamailio_rtpengine).  Source after stack.sh and baresip.sh; the
# caller sets run, top and build.
#
#   kamailio_skip [MODULE...]   exit 0 with a TAP SKIP when a peer is missing
#   kamailio_pki DIR            a SIPS CA and kamailio/a/b identities (.crt .key .pem)
#   kamailio_start PORT KPKI DSOCK [-A ...]   Kamailio on tls:127.0.0.1:PORT
#                               (exec_msg runs $kam_disclose, default the tool)
#   kamailio_stop               TERM, bounded wait (its children stop with it)
#   kamailio_account DIR NAME PORT   a baresip account through Kamailio
#   kamailio_phones PORT SIP_A SIP_B RTP_A RTP_B   softphones a and b with tones
#   kmetric NAME, wait_kmetric NAME N SECS         the keyagent's counters
#   kamailio_stack FILTER       stack_start with metrics files and capture on lo
#   wait_count FILE PATTERN N SECS  until N lines of FILE match (a phone's trace)
#   kamailio_cancelled_call     A calls B, B rings, A hangs up: a CANCEL

kamailio_skip() {
    local m
    command -v kamailio >/dev/null || { echo "1..0 # SKIP kamailio not installed"; exit 0; }
    for m in tls "$@"; do
        [ -e "/usr/lib/x86_64-linux-gnu/kamailio/modules/$m.so" ] ||
            { echo "1..0 # SKIP kamailio module $m.so not installed"; exit 0; }
    done
    command -v baresip >/dev/null || { echo "1..0 # SKIP baresip not installed"; exit 0; }
    [ -e /usr/lib/baresip/modules/srtp.so ] && [ -e /usr/lib/baresip/modules/aufile.so ] ||
        { echo "1..0 # SKIP baresip srtp or aufile module missing"; exit 0; }
    command -v ffmpeg >/dev/null || { echo "1..0 # SKIP ffmpeg not installed"; exit 0; }
    /usr/bin/python3 -c "import scapy" 2>/dev/null || { echo "1..0 # SKIP python3-scapy not installed"; exit 0; }
    [ "$(id -u)" = 0 ] || { echo "1..0 # SKIP capturing on lo needs root (CAP_NET_RAW)"; exit 0; }
}

# Kamailio's and the softphones' SIPS identities: a CA of their own, not
# the keyagent's.
kamailio_pki() {
    local d=$1 who
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=sip-ca \
        -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
    for who in kamailio a b; do
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
            -keyout "$d/$who.key" -out "$d/$who.csr" 2>/dev/null &&
        openssl x509 -req -in "$d/$who.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
            -days 2 -extfile <(printf 'subjectAltName=IP:127.0.0.1\n') -out "$d/$who.crt" 2>/dev/null
        cat "$d/$who.crt" "$d/$who.key" >"$d/$who.pem"
    done
    [ -s "$d/kamailio.crt" ] && [ -s "$d/b.pem" ]
}

# The shipped configuration with its TLS files from KPKI, exec_msg() to the
# disclosure tool's client on DSOCK, more defines after; sets kam_pidfile,
# logs to $run/kamailio.log; returns Kamailio's status, then waits (bounded)
# until it listens.
kamailio_start() {
    local port=$1 kpki=$2 dsock=$3 rc i
    shift 3
    sed -e "s|/etc/kamailio/tls/|$kpki/|" "$top/etc/kamailio/srtprec-tls.cfg" >"$run/tls.cfg"
    kam_pidfile=$run/kamailio.pid
    kamailio -f "$top/etc/kamailio/kamailio.cfg" -P "$kam_pidfile" -Y "$run" -w "$run" -m 64 -M 8 \
        "$@" -A "LISTEN=tls:127.0.0.1:$port" -A "TLS_CFG=\"$run/tls.cfg\"" \
        -A "DISCLOSE_CMD=\"${kam_disclose:-$build/tools/srtprec-kamailio-disclose} --listen=$dsock\"" \
        -E -e >"$run/kamailio.log" 2>&1
    rc=$?
    for i in $(seq 1 50); do [ -n "$(ss -Hltn "( sport = :$port )")" ] && break; sleep 0.1; done
    return $rc
}

# TERM: Kamailio's main process then stops its children (KILL would orphan them).
kamailio_stop() {
    local i pid
    [ -n "${kam_pidfile:-}" ] && [ -s "$kam_pidfile" ] || return 0
    pid=$(cat "$kam_pidfile" 2>/dev/null)
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}

# A softphone account registering with and calling through Kamailio on PORT:
# SDES SRTP mandatory, PCMU, calls answered at once.
kamailio_account() {
    echo "<sip:$2@127.0.0.1;transport=tls>;outbound=\"sip:127.0.0.1:$3;transport=tls\";regint=600;mediaenc=srtp-mand;audio_codecs=PCMU;answermode=auto" \
        >"$1/accounts"
}

# kamailio_phones PORT SIP_A SIP_B RTP_A RTP_B: softphones a and b in
# $run/a and $run/b calling through Kamailio on PORT, each driven through
# ctrl_tcp (sets ctl_a, ctl_b) and sending its known tone, 12 s long
# (longer than a call: each call plays its side's file from the start);
# the tones' mu-law encoding by ffmpeg in $run/sent_a.ul and sent_b.ul.
kamailio_phones() {
    local x sp rp cp
    ctl_a=$(stack_free_port); ctl_b=$(stack_free_port)
    ffmpeg -nostdin -loglevel error -f lavfi -i "aevalsrc=0.4*sin(2*PI*440*t)+0.2*sin(2*PI*1234*t):s=8000:d=12" \
        -ac 1 -y "$run/tone_a.wav" &&
    ffmpeg -nostdin -loglevel error -f lavfi -i "aevalsrc=0.3*sin(2*PI*620*t)+0.2*sin(2*PI*1500*t):s=8000:d=12" \
        -ac 1 -y "$run/tone_b.wav" || return 1
    for x in a b; do
        if [ $x = a ]; then sp=$2 rp=$4 cp=$ctl_a; else sp=$3 rp=$5 cp=$ctl_b; fi
        baresip_config "$run/$x" $x "$sp" "$rp" "sip_transports tls" "sip_certificate $kpki/$x.pem" \
            "sip_cafile $kpki/ca.crt" "module_app ctrl_tcp.so" "ctrl_tcp_listen 127.0.0.1:$cp"
        kamailio_account "$run/$x" $x "$1"
        ffmpeg -nostdin -loglevel error -i "$run/tone_$x.wav" -f mulaw -y "$run/sent_$x.ul" || return 1
    done
}

# kamailio_disclose_start SOCKET: srtprec-kamailio-disclose --serve on SOCKET
# feeding the stack's keyagent (sets disclose_pid; output appended to
# $run/disclose.out and .log, so a restart keeps the earlier lines).
kamailio_disclose_start() {
    local i
    "$build/tools/srtprec-kamailio-disclose" --serve --listen="$1" --control="$STACK_CONTROL" \
        >>"$run/disclose.out" 2>>"$run/disclose.log" &
    disclose_pid=$!
    for i in $(seq 1 50); do [ -S "$1" ] && break; sleep 0.1; done
}

# kamailio_phones_up SECS: B, then A (configured by kamailio_phones) run
# for at most SECS (baresip -t) and register with Kamailio; B's
# registration is a check (ok), A's is waited for.  Sets b_pid, a_pid and
# adds both to bg_pids.
kamailio_phones_up() {
    timeout $(( $1 + 15 )) baresip -f "$run/b" -s -t "$1" >"$run/b.log" 2>&1 </dev/null & b_pid=$!; bg_pids+=($b_pid)
    stack_wait_log "$run/b.log" "200 OK" 10; ok $? "B registered with Kamailio over TLS"
    timeout $(( $1 + 15 )) baresip -f "$run/a" -s -t "$1" >"$run/a.log" 2>&1 </dev/null & a_pid=$!; bg_pids+=($a_pid)
    stack_wait_log "$run/a.log" "200 OK" 10
}

# The keyagent's counters ($run/keyagent.prom: the test sets metrics-file):
# kmetric NAME prints srtprec_keyagent_NAME; wait_kmetric NAME N SECS waits
# (bounded) until it is at least N.
kmetric() { awk -v m="srtprec_keyagent_$1" '$1 == m {print $2}' "$run/keyagent.prom" 2>/dev/null; }
wait_kmetric() {
    local i
    for i in $(seq 1 $(( $3 * 10 ))); do
        [ "$(kmetric "$1")" -ge "$2" ] 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# kamailio_stack FILTER: the srtprec stack (stack_init done) with the
# keyagent's and the recorder's metrics files ($run/keyagent.prom,
# $run/recorder.prom), the recorder capturing on lo with FILTER and waiting
# up to 10 s for keys; then stack_start.
kamailio_stack() {
    sed -i "/^\[keyagent\]/a metrics-file = $run/keyagent.prom\nmetrics-interval-ms = 200" "$run/srtprec.conf"
    sed -i "/^\[recorder\]/a metrics-file = $run/recorder.prom\nkey-wait-ms = 10000\nmetrics-interval-ms = 200\ncapture = lo\ncapture-filter = $1" \
        "$run/srtprec.conf"
    stack_start
}

# wait_count FILE PATTERN COUNT SECS: until COUNT lines of FILE match
# PATTERN (bounded: SECS), e.g. a softphone's SIP trace.
wait_count() {
    local i
    for i in $(seq 1 $(( $4 * 10 ))); do
        [ "$(grep -c -- "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
        sleep 0.1
    done
    return 1
}

# kamailio_cancelled_call: B stops answering (answermode manual), A calls
# it and, once B rings (a new 180 in A's trace), hangs up: baresip's CANCEL
# goes through Kamailio; 0 once A's trace shows the INVITE's 487.
kamailio_cancelled_call() {
    local r
    r=$(grep -c "^SIP/2.0 180" "$run/a.log")
    baresip_ctl "$ctl_b" answermode manual &&
        baresip_ctl "$ctl_a" dial "sip:b@127.0.0.1;transport=tls" &&
        wait_count "$run/a.log" "^SIP/2.0 180" $((r + 1)) 10 && sleep 0.5 &&
        baresip_ctl "$ctl_a" hangup && wait_count "$run/a.log" "^SIP/2.0 487" 1 10
}
