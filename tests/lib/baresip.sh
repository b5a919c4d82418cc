# Shared by the tests that run baresip softphones and sniff lo with scapy
# (interop_baresip_capture, interop_kamailio, interop_kamailio_rtpengine).  Source after stack.sh.

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

# tone_in_order DEC.ul SENT.ul GAPS [FIRST]: the mu-law a softphone put on
# the wire (decrypted from a capture) is the tone it sent (SENT: ffmpeg's
# encoding), for a call shorter than its tone and with pauses (hold): every
# decrypted 20 ms frame is a frame of the tone later in it than the one
# before (within one mu-law level: baresip's G.711 encoder in libre and
# ffmpeg's round differently at level boundaries), the first at most FIRST
# (default 2) frames in (a media relay drops
# what arrives before it has the keys), with at most GAPS jumps (where a
# softphone stopped sending) and at most 6 silence (0xff) frames; over 100
# frames.
tone_in_order() {
    /usr/bin/python3 - "$1" "$2" "$3" "${4:-2}" <<'PY'
import sys
dec, sent = (open(f, "rb").read() for f in sys.argv[1:3])
F = 160
def same(a, b):
    return all(abs(x - y) <= 1 or {x, y} == {0x7f, 0xff} for x, y in zip(a, b))
frames = [dec[i:i + F] for i in range(0, len(dec) - F + 1, F)]
sent_f = [sent[i:i + F] for i in range(0, len(sent) - F + 1, F)]
pos, jumps, silent, bad = -1, 0, 0, 0
for f in frames:
    if f.count(0xff) == F:
        silent += 1
        continue
    j = next((j for j in range(pos + 1, len(sent_f)) if same(f, sent_f[j])), None)
    if j is None:
        bad += 1
        continue
    if pos >= 0 and j != pos + 1:
        jumps += 1
    if pos < 0 and j > int(sys.argv[4]):
        bad += 1
    pos = j
print("%d frames: %d of the tone in order, %d gaps, %d silent, %d not the tone"
      % (len(frames), len(frames) - silent - bad, jumps, silent, bad))
sys.exit(0 if bad == 0 and silent <= 6 and jumps <= int(sys.argv[3]) and len(frames) > 100 else 1)
PY
}

# baresip_ctl PORT COMMAND [PARAMS]: one command to a softphone's ctrl_tcp
# (module_app ctrl_tcp.so, ctrl_tcp_listen; JSON in netstrings, e.g. dial,
# hold, resume, hangup, quit); exit 0 when its response says ok.
baresip_ctl() {
    /usr/bin/python3 - "$@" <<'PY'
import json, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
cmd = json.dumps({"command": sys.argv[2], "params": sys.argv[3] if len(sys.argv) > 3 else "",
                  "token": "t"}).encode()
s.sendall(b"%d:%s," % (len(cmd), cmd))
buf = b""
while True:
    while b":" in buf:
        n, rest = buf.split(b":", 1)
        if len(rest) < int(n) + 1:
            break
        msg, buf = json.loads(rest[:int(n)]), rest[int(n) + 1:]
        if msg.get("response"):
            sys.exit(0 if msg.get("ok") else 1)
    data = s.recv(4096)
    if not data:
        sys.exit(1)
    buf += data
PY
}
