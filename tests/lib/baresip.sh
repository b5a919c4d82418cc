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

# tone_check DEC.ul SENT.ul [ABSENT]: the mu-law a softphone put on the
# wire (decrypted from a capture) is the tone it sent, encoded by ffmpeg: in
# order and whole, each sample within one mu-law level (baresip's G.711
# encoder in libre and ffmpeg's round differently at level boundaries); at
# most ABSENT (default 2) 20 ms frames of the tone may be absent at its ends
# (a softphone sometimes puts its first or last frame on the wire late or
# not at all; a media relay drops what arrives before it has the keys) and
# only silence (0xff) may follow it.  Prints one line; exit 0 when it holds.
tone_check() {
    /usr/bin/python3 - "$1" "$2" "${3:-2}" <<'PY'
import sys
dec, sent = (open(f, "rb").read() for f in sys.argv[1:3])
absent = int(sys.argv[3])
tone = dec.rstrip(b"\xff")
best = None
for skip in range(0, 160 * absent + 1, 160):
    s = sent[skip:skip + len(tone)]
    if len(s) == len(tone) and len(sent) - len(tone) <= 160 * absent and \
            all(abs(a - b) <= 1 or {a, b} == {0x7f, 0xff} for a, b in zip(tone, s)):
        best = skip
        break
tail = dec[len(tone):]
print("%s frames of the tone absent from the wire; %d trailing silence bytes"
      % ("?" if best is None else (len(sent) - len(tone)) // 160, len(tail)))
sys.exit(0 if best is not None and len(tail) <= 480 else 1)
PY
}
