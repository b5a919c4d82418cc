#!/usr/bin/env bash
# The auditor web page end to end in headless Chromium: sign in, search, open,
# play (the audio element's duration equals the call's), download.  A real
# archive and index, the real daemon on 127.0.0.1, and web_driver.py driving
# Chromium over --remote-debugging-pipe.  TAP; skips only without chromium.
#   web_e2e.sh SRTPREC_API MKARCHIVE MKCERTS_SH WEB_DRIVER_PY [ARTEFACT_DIR]
# Screenshots (console-1400.png, console-800.png, ...) are kept in
# ARTEFACT_DIR (meson: <build>/tests/api/web-artefacts).
set -uo pipefail

api_bin=$1
mkarchive=$2
mkcerts=$3
driver=$4
artefacts=${5:-}
packets=250 # 20 ms each: a 5 s call

chromium=$(command -v chromium || true)
if [ -z "$chromium" ]; then
    echo "1..0 # SKIP chromium is not installed (tools/setup.sh test installs it)"
    exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/srtprec-web-e2e.XXXXXX")
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
bail() { echo "Bail out! $*"; [ -f "$tmp/api.log" ] && sed 's/^/# /' "$tmp/api.log"; exit 1; }

bash "$mkcerts" "$tmp/pki" || bail "mkcerts failed"
mkdir -p "$tmp/archives"
"$mkarchive" "$tmp/archives" "$tmp/index.db" "$tmp/pki/auditor.crt" "$packets" >"$tmp/ids" ||
    bail "mkarchive failed"
id=$(sed -n 1p "$tmp/ids")
tok=web-$RANDOM$RANDOM$RANDOM
tok_legal=legal-$RANDOM$RANDOM$RANDOM
# walt: list+metadata, export (play, WAV), archive download, access history;
# lex: list and legal hold only (the page must hide what lex may not do)
{
    printf '%s' "$tok" | "$api_bin" --hash-token=walt:lister,auditor,archivist
    printf '%s' "$tok_legal" | "$api_bin" --hash-token=lex:lister,legal-hold
} >"$tmp/tokens" || bail "--hash-token failed"

cat >"$tmp/srtprec.conf" <<CONF
[api]
listen = 127.0.0.1:0
tls-cert = $tmp/pki/api.crt
tls-key = $tmp/pki/api.key
index = $tmp/index.db
archive-dir = $tmp/archives
archive-cert = $tmp/pki/auditor.crt
archive-key = $tmp/pki/auditor.key
tokens-file = $tmp/tokens
audit-log = $tmp/audit.log
retention-days = 30
CONF
"$api_bin" --config="$tmp/srtprec.conf" 2>"$tmp/api.log" &
pid=$!
port=
for _ in $(seq 1 100); do
    port=$(sed -n 's/.*listening on https:.* port \([0-9][0-9]*\).*/\1/p' "$tmp/api.log")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
[ -n "$port" ] || bail "srtprec-api did not start"

mkdir -p "$tmp/work"
[ -n "$artefacts" ] && mkdir -p "$artefacts"
# 127.0.0.1 rather than localhost: Chromium then needs no resolver
# The browser runs 5:30 east of UTC: local times on the page must differ from
# the UTC the API is sent.
TZ=Asia/Kolkata timeout 120 python3 "$driver" "$chromium" "https://127.0.0.1:$port" "$tok" "$id" \
    "$(awk -v p="$packets" 'BEGIN { printf "%.3f", p * 0.02 }')" "$tmp/work" "$tok_legal" \
    "$(sed -n 2p "$tmp/ids")" "${artefacts:-$tmp/work}" >"$tmp/tap"
cat "$tmp/tap"
n=$(grep -c -E '^(not )?ok ' "$tmp/tap")
failed=$(grep -c '^not ok ' "$tmp/tap")
n=$((n + 1))
if grep -q "access who=walt client=127.0.0.1 route=export id=$id status=200" "$tmp/api.log"; then
    echo "ok $n - the browser's export was authenticated and logged"
else
    echo "not ok $n - the browser's export was authenticated and logged"
    failed=$((failed + 1))
fi
echo "1..$n"
if [ "$failed" != 0 ]; then
    sed 's/^/# api: /' "$tmp/api.log" | tail -20
    tail -20 "$tmp/work/chromium.log" 2>/dev/null | sed 's/^/# chromium: /'
fi
[ "$failed" = 0 ]
