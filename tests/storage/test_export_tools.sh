#!/usr/bin/env bash
# Every export kind opened by the stock tools (issue 18 item 6):
# oggz-validate on every Ogg export (the RTP-in-Ogg export, all streams and
# one, and Ogg Opus), opusinfo on Ogg Opus, ffmpeg decoding every audio
# export (WAV stereo and mono, of G.711 and of Opus, Ogg Opus), for plain
# archives and chained ones
# whose first link is tiny (an RTCP report before the audio: oggz-validate
# 1.1.1 failed those until the Ogg export became one chain link).
#   test_export_tools.sh BUILD_DIR
set -uo pipefail
build=$(cd "${1:?usage: test_export_tools.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/tap.sh"
for t in oggz-validate opusinfo ffmpeg; do
    command -v "$t" >/dev/null || { echo "1..0 # SKIP $t not installed"; exit 0; }
done
tmp=$(mktemp -d /tmp/srtprec-exptools-XXXXXX)
trap 'if [ "$failed" = 0 ]; then rm -rf "$tmp"; else echo "# kept $tmp" >&2; fi' EXIT
sh "$here/../lib/mkcerts.sh" "$tmp/pki" >/dev/null 2>&1 || { ok 1 "test PKI"; tap_end; exit; }
keys=(--cert="$tmp/pki/auditor.crt" --key="$tmp/pki/auditor.key")
ffmpeg -nostdin -loglevel error -f lavfi -i sine=frequency=440:duration=2 -ac 1 -c:a libopus \
    -b:a 32k -frame_duration 20 "$tmp/src.opus"
ok $? "ffmpeg encodes a 2 s tone to Ogg Opus (the Opus archive's payloads)"

mk() { # name flags...
    local name=$1; shift
    mkdir -p "$tmp/$name"
    "$build/tests/api/api_mkarchive" "$tmp/$name" "$tmp/$name.db" "$tmp/pki/auditor.crt" 100 "$@" >/dev/null &&
        ls "$tmp/$name"/*.srec
}
export_ok() { # archive out args...
    local a=$1 o=$2; shift 2
    "$build/tools/srtprec" export "${keys[@]}" "$@" "$a" "$o" 2>"$tmp/err" || { diag <"$tmp/err"; return 1; }
}
validate() { oggz-validate "$1" >"$tmp/v.out" 2>&1 || { diag <"$tmp/v.out"; return 1; }; }
opusinfo_ok() { opusinfo "$1" >"$tmp/oi.out" 2>&1 || { diag <"$tmp/oi.out"; return 1; }; }
# ffmpeg decodes to PCM: at least $2 samples (per channel), $3 channels.
decodes() {
    local f=$1 min=$2 ch=$3 got n
    got=$(ffprobe -v error -show_entries stream=channels -of csv=p=0 "$f") || return 1
    [ "$got" = "$ch" ] || { echo "channels $got, expected $ch" | diag; return 1; }
    ffmpeg -nostdin -y -loglevel error -i "$f" -f s16le -ac "$ch" "$tmp/pcm" || return 1
    n=$(( $(stat -c %s "$tmp/pcm") / 2 / ch ))
    [ "$n" -ge "$min" ] || { echo "$n samples, expected >= $min" | diag; return 1; }
}

for kind in plain chained; do
    flags=(); [ "$kind" = chained ] && flags=(chained)
    a=$(mk "pcmu-$kind" "${flags[@]}"); ok $? "$kind PCMU archive written"
    s0=0; [ "$kind" = chained ] && s0=1 # the RTCP stream comes first
    export_ok "$a" "$tmp/$kind.ogg" --format=ogg && validate "$tmp/$kind.ogg"
    ok $? "$kind PCMU: export.ogg passes oggz-validate"
    export_ok "$a" "$tmp/$kind-s.ogg" --format=ogg --stream=$s0 && validate "$tmp/$kind-s.ogg"
    ok $? "$kind PCMU: export.ogg --stream=$s0 passes oggz-validate"
    if [ "$kind" = chained ]; then
        export_ok "$a" "$tmp/$kind-rtcp.ogg" --format=ogg --stream=0 && validate "$tmp/$kind-rtcp.ogg"
        ok $? "$kind PCMU: the RTCP stream alone passes oggz-validate"
    fi
    export_ok "$a" "$tmp/$kind.wav" --format=wav && decodes "$tmp/$kind.wav" 16000 2
    ok $? "$kind PCMU: ffmpeg decodes the stereo WAV (2 s, 2 channels)"
    export_ok "$a" "$tmp/$kind-s.wav" --format=wav --stream=$s0 && decodes "$tmp/$kind-s.wav" 16000 1
    ok $? "$kind PCMU: ffmpeg decodes the one-stream WAV (2 s, mono)"

    a=$(mk "opus-$kind" "${flags[@]}" opus="$tmp/src.opus"); ok $? "$kind Opus archive written"
    export_ok "$a" "$tmp/$kind.opus" --format=opus --stream=$s0 && validate "$tmp/$kind.opus" &&
        opusinfo_ok "$tmp/$kind.opus"
    ok $? "$kind Opus: export.opus passes oggz-validate and opusinfo"
    decodes "$tmp/$kind.opus" 90000 1; ok $? "$kind Opus: ffmpeg decodes export.opus (~2 s at 48 kHz)"
    export_ok "$a" "$tmp/$kind-first.opus" --format=opus && cmp -s "$tmp/$kind.opus" "$tmp/$kind-first.opus"
    ok $? "$kind Opus: without --stream, the first Opus stream"
    export_ok "$a" "$tmp/$kind-opus.ogg" --format=ogg && validate "$tmp/$kind-opus.ogg"
    ok $? "$kind Opus: export.ogg passes oggz-validate"
    export_ok "$a" "$tmp/$kind-opus.wav" --format=wav && decodes "$tmp/$kind-opus.wav" 90000 2 &&
        [ "$(ffprobe -v error -show_entries stream=sample_rate -of csv=p=0 "$tmp/$kind-opus.wav")" = 48000 ]
    ok $? "$kind Opus: ffmpeg decodes the WAV (libopus, 48 kHz stereo, ~2 s)"
    export_ok "$a" "$tmp/$kind-opus-s.wav" --format=wav --stream=$s0 && decodes "$tmp/$kind-opus-s.wav" 90000 1
    ok $? "$kind Opus: ffmpeg decodes the one-stream WAV (mono)"
done

tap_end
