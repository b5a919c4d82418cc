# Shared by the tests that run baresip softphones and sniff lo with scapy
# (interop_baresip_capture, interop_kamailio).  Source after stack.sh.

# baresip_config DIR NAME SIP_PORT RTP_PORT TRANSPORT_LINES...
# A softphone in DIR sending tone_NAME.wav from $run and writing what it
# hears to heard_NAME.wav: PCMU over SDES SRTP, RTCP on its own port.
baresip_config() {
    local dir=$1 x=$2 sp=$3 rp=$4
    shift 4
    mkdir -p "$dir"
    {
        echo "poll_method epoll"
        echo "sip_listen 127.0.0.1:$sp"
        printf '%s\n' "$@"
        cat <<CONF
net_interface 127.0.0.1
audio_source aufile,$run/tone_$x.wav
audio_player aufile,$run/heard_$x.wav
audio_alert none
rtp_ports $rp-$((rp + 15))
rtcp_mux no
module_path /usr/lib/baresip/modules
module stdio.so
module g711.so
module aufile.so
module srtp.so
module_app account.so
module_app menu.so
CONF
    } >"$dir/config"
}

# lo_sniff PCAP FILTER STOPFILE TENTHS: scapy captures lo with FILTER into
# PCAP until STOPFILE appears (at most TENTHS tenths of a second); sets
# sniff_pid and returns once the sniffer runs.
lo_sniff() {
    timeout $(( $4 / 10 + 5 )) /usr/bin/python3 - "$1" "$2" "$3" "$4" >"$run/sniff.log" 2>&1 <<'PY' &
import os, sys, time
from scapy.all import AsyncSniffer, wrpcap
s = AsyncSniffer(iface="lo", filter=sys.argv[2])
s.start()
open(sys.argv[1] + ".ready", "w").close()
for _ in range(int(sys.argv[4])):
    if os.path.exists(sys.argv[3]):
        break
    time.sleep(0.1)
s.stop()
wrpcap(sys.argv[1], s.results)
print(len(s.results))
PY
    sniff_pid=$!
    for _ in $(seq 1 50); do [ -e "$1.ready" ] && break; sleep 0.1; done
}
