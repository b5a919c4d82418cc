#!/usr/bin/env bash
# The command-line contract of every binary (issue 18 item 5): --version and
# --help on stdout with exit 0; usage errors on stderr, exit 2, naming the
# argument at fault; TIME options in RFC 3339, bare dates and epoch seconds;
# list never creates an index; export refuses to overwrite without --force
# and honours --stream for every format; an unknown config section and each
# TLS credential failure are refused naming the file or part.
#   test_cli.sh BUILD_DIR
set -uo pipefail
build=$(cd "${1:?usage: test_cli.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/tap.sh"
tmp=$(mktemp -d /tmp/srtprec-cli-XXXXXX)
trap 'if [ "$failed" = 0 ]; then rm -rf "$tmp"; else echo "# kept $tmp" >&2; fi' EXIT
cli=$build/tools/srtprec

# run BIN ARGS...: exit status in $rc, streams in $tmp/out and $tmp/err
run() { "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; }
out_has() { grep -q -- "$1" "$tmp/out"; }
err_has() { grep -q -- "$1" "$tmp/err"; }
quiet_err() { [ ! -s "$tmp/err" ]; }
quiet_out() { [ ! -s "$tmp/out" ]; }

for b in tools/srtprec api/srtprec-api recorder/srtprec-recorder keyagent/srtprec-keyagent \
         tools/srtprec-endpoint-sim tools/srtprec-sdp-disclose tools/srtprec-loadgen \
         tools/srtprec-loadcheck tools/srtprec-siprec-src; do
    name=${b##*/}
    run "$build/$b" --version
    [ "$rc" = 0 ] && quiet_err && grep -Eq "^$name [0-9]+\.[0-9]+\.[0-9]+( \(git [0-9a-f].*\))?$" "$tmp/out"
    ok $? "$name --version: exit 0, '$(cat "$tmp/out")' on stdout"
    run "$build/$b" --help
    [ "$rc" = 0 ] && quiet_err && out_has "usage"; ok $? "$name --help: usage on stdout, exit 0"
done

run "$cli"
[ "$rc" = 2 ] && quiet_out && err_has "usage"; ok $? "srtprec without a command: usage on stderr, exit 2"
run "$cli" frobnicate
[ "$rc" = 2 ] && quiet_out && err_has "frobnicate"; ok $? "unknown command named, exit 2"
for c in verify verify-log info metadata export list retention hold recover reindex; do
    run "$cli" "$c" --help
    [ "$rc" = 0 ] && quiet_err && out_has "usage: srtprec $c"; ok $? "srtprec $c --help on stdout, exit 0"
    run "$cli" help "$c"
    [ "$rc" = 0 ] && out_has "usage: srtprec $c"; ok $? "srtprec help $c"
done
run "$cli" list --help
out_has "RFC 3339" && out_has -- "--from=TIME"; ok $? "list --help documents the TIME grammar"

# ------------------------------------------------------------ fixtures
sh "$here/../lib/mkcerts.sh" "$tmp/pki" >/dev/null 2>&1 || { ok 1 "test PKI"; tap_end; exit; }
pki=$tmp/pki
mkdir -p "$tmp/a" "$tmp/c"
"$build/tests/api/api_mkarchive" "$tmp/a" "$tmp/index.db" "$pki/auditor.crt" 250 >"$tmp/ids"
ok $? "archive and index written (2 PCMU streams, 250 packets each)"
"$build/tests/api/api_mkarchive" "$tmp/c" "$tmp/cindex.db" "$pki/auditor.crt" 100 chained >/dev/null
ok $? "chained archive written (an RTCP packet before the audio)"
arc=$(ls "$tmp"/a/*.srec | head -1)
chained=$(ls "$tmp"/c/*.srec | head -1)
keys=(--cert="$pki/auditor.crt" --key="$pki/auditor.key")

# ------------------------------------------------------------ usage errors name the argument
usage_err() { # description needle args...
    local d=$1 needle=$2; shift 2
    run "$cli" "$@"
    [ "$rc" = 2 ] && quiet_out && err_has "$needle"
    ok $? "$d: exit 2, stderr names '$needle'"
}
usage_err "unknown option" "--bogus" list --index="$tmp/index.db" --bogus=1
usage_err "option of another command" "--cert" list --index="$tmp/index.db" --cert=x
usage_err "missing required option" "--index" list
usage_err "missing value" "--from" list --index="$tmp/index.db" --from
usage_err "epoch microseconds are not seconds" "--from" list --index="$tmp/index.db" --from=1767323045000000
usage_err "malformed date" "--to" list --index="$tmp/index.db" --to=2026-02-30
usage_err "from after to" "--from" list --index="$tmp/index.db" --from=2026-02-01 --to=2026-01-01
usage_err "bad --limit" "--limit" list --index="$tmp/index.db" --limit=0
usage_err "option given twice" "--party" list --index="$tmp/index.db" --party=a --party=b
usage_err "bad --format" "--format" export "${keys[@]}" --format=mp3 "$arc" "$tmp/x"
usage_err "bad --stream" "--stream" export "${keys[@]}" --format=wav --stream=x "$arc" "$tmp/x"
usage_err "missing OUT" "OUT" export "${keys[@]}" --format=wav "$arc"
usage_err "extra argument" "extra" verify "${keys[@]}" "$arc" extra
usage_err "hold state" "maybe" hold --index="$tmp/index.db" ffffffffffffffffffffffffffffffff maybe
usage_err "retention needs one bound" "--older-than" retention --index="$tmp/index.db" --log="$tmp/del.log"

# ------------------------------------------------------------ list: read-only, dates
run "$cli" list --index="$tmp/missing.sqlite"
[ "$rc" = 1 ] && err_has "missing.sqlite" && [ ! -e "$tmp/missing.sqlite" ]
ok $? "list --index=missing.sqlite: exit 1, named, no database created"
run "$cli" hold --index="$tmp/missing2.sqlite" ffffffffffffffffffffffffffffffff on
[ "$rc" = 1 ] && [ ! -e "$tmp/missing2.sqlite" ]; ok $? "hold on a missing index: exit 1, nothing created"
chmod a-w "$tmp/index.db"
run "$cli" list --index="$tmp/index.db"
[ "$rc" = 0 ] && [ "$(wc -l <"$tmp/out")" = 2 ]; ok $? "list reads a read-only index (2 rows)"
chmod u+w "$tmp/index.db"
rows() { "$cli" list --index="$tmp/index.db" "$@" 2>/dev/null | wc -l; }
# The two rows start at 2026-01-02T03:04:05Z and one minute later.
[ "$(rows --from=2026-01-02 --to=2026-01-02)" = 2 ]; ok $? "a bare date range covers the whole day"
[ "$(rows --to=2026-01-01)" = 0 ]; ok $? "--to=2026-01-01 ends before both"
[ "$(rows --from=2026-01-02T03:04:06Z)" = 1 ]; ok $? "RFC 3339 --from selects the later row"
[ "$(rows --from=2026-01-02T04:04:06+01:00)" = 1 ]; ok $? "an offset is honoured"
[ "$(rows --from=1767323046)" = 1 ]; ok $? "epoch seconds are seconds"
[ "$(rows --to=2026-01-02T03:04:05Z)" = 1 ]; ok $? "--to is inclusive"
[ "$(rows --limit 1)" = 1 ]; ok $? "--limit N (separate value) honoured"

# ------------------------------------------------------------ export: --force, --stream
run "$cli" export "${keys[@]}" --format=wav "$arc" "$tmp/call.wav"
[ "$rc" = 0 ] && quiet_out && [ -s "$tmp/call.wav" ]; ok $? "export writes a new file"
sum=$(sha256sum <"$tmp/call.wav")
echo junk >"$tmp/keep.wav"
run "$cli" export "${keys[@]}" --format=wav "$arc" "$tmp/keep.wav"
[ "$rc" = 1 ] && err_has "force" && [ "$(cat "$tmp/keep.wav")" = junk ] && [ ! -e "$tmp/keep.wav.part" ]
ok $? "export refuses to replace an existing file without --force (exit 1, file kept)"
run "$cli" export "${keys[@]}" --format=wav --force "$arc" "$tmp/keep.wav"
[ "$rc" = 0 ] && [ "$(sha256sum <"$tmp/keep.wav")" = "$sum" ]; ok $? "--force replaces it"
channels() { ffprobe -v error -show_entries stream=channels -of csv=p=0 "$1" 2>/dev/null; }
if command -v ffprobe >/dev/null; then
    [ "$(channels "$tmp/call.wav")" = 2 ]; ok $? "wav without --stream: stereo"
    run "$cli" export "${keys[@]}" --format=wav --stream=1 "$arc" "$tmp/s1.wav"
    [ "$rc" = 0 ] && [ "$(channels "$tmp/s1.wav")" = 1 ]; ok $? "wav --stream=1: mono"
else
    ok 0 "# SKIP ffprobe not installed"
fi
[ "$(stat -c %s "$tmp/s1.wav")" = $(( 44 + 250 * 160 * 2 )) ]; ok $? "wav --stream=1: 250 packets of 160 samples"
run "$cli" export "${keys[@]}" --format=wav --stream=7 "$arc" "$tmp/s7.wav"
[ "$rc" = 1 ] && err_has "no such stream" && [ ! -e "$tmp/s7.wav" ] && [ ! -e "$tmp/s7.wav.part" ]
ok $? "wav --stream=7 (no such stream): exit 1, nothing written"
run "$cli" export "${keys[@]}" --format=wav --stream=0 "$chained" "$tmp/rtcp.wav"
[ "$rc" = 1 ] && err_has "G.711" && [ ! -e "$tmp/rtcp.wav" ]; ok $? "wav of the RTCP stream refused: not G.711"
run "$cli" export "${keys[@]}" --format=ogg --stream=1 "$arc" "$tmp/s1.ogg"
[ "$rc" = 0 ] && [ -s "$tmp/s1.ogg" ]; ok $? "ogg --stream=1 written"
"$cli" export "${keys[@]}" --format=ogg "$arc" "$tmp/all.ogg" 2>/dev/null
[ "$(stat -c %s "$tmp/s1.ogg")" -lt "$(stat -c %s "$tmp/all.ogg")" ]; ok $? "ogg --stream=1 is smaller than all streams"
run "$cli" export "${keys[@]}" --format=opus --stream=1 "$arc" "$tmp/x.opus"
[ "$rc" = 1 ] && err_has "not Opus" && [ ! -e "$tmp/x.opus" ]; ok $? "opus of a PCMU stream refused: not Opus"
run "$cli" export "${keys[@]}" --format=opus "$arc" "$tmp/x.opus"
[ "$rc" = 1 ] && err_has "no Opus stream" && [ ! -e "$tmp/x.opus" ]; ok $? "opus of a call without Opus: no Opus stream"
run "$cli" export "${keys[@]}" --format=wav --layout=mixed "$arc" "$tmp/mixed.wav"
[ "$rc" = 0 ] && [ "$(stat -c %s "$tmp/mixed.wav")" = $(( 44 + 250 * 160 * 2 )) ] &&
    [ "$(od -An -tu2 -j22 -N2 "$tmp/mixed.wav" | tr -d ' ')" = 1 ]
ok $? "wav --layout=mixed: one channel, as long as the call"
run "$cli" export "${keys[@]}" --format=wav --layout=mixed --stream=1 "$arc" "$tmp/bad.wav"
[ "$rc" = 2 ] && err_has "layout" && [ ! -e "$tmp/bad.wav" ]; ok $? "--layout with --stream: usage error naming --layout"
run "$cli" export "${keys[@]}" --format=wav --layout=mono "$arc" "$tmp/bad.wav"
[ "$rc" = 2 ] && err_has "stereo or mixed"; ok $? "--layout=mono refused"
run "$cli" export "${keys[@]}" --format=ogg "$arc" - 
[ "$rc" = 0 ] && head -c 4 "$tmp/out" | grep -q OggS; ok $? "OUT '-' writes to stdout"

# ------------------------------------------------------------ config and TLS errors
: >"$tmp/tokens"
printf '[api]\nlog-level = info\n\n[apii]\nlisten = 127.0.0.1:1\n' >"$tmp/bad.conf"
run "$build/api/srtprec-api" --config="$tmp/bad.conf"
[ "$rc" != 0 ] && err_has "bad.conf:4: unknown section \[apii\]"; ok $? "a misspelt section is refused with file and line"
run "$build/recorder/srtprec-recorder" --config="$tmp/bad.conf"
[ "$rc" != 0 ] && err_has "bad.conf:4"; ok $? "the recorder refuses it too"
api() { # args: tls-cert tls-key
    timeout 10 "$build/api/srtprec-api" --listen=127.0.0.1:0 --index="$tmp/index.db" \
        --tokens-file="$tmp/tokens" --archive-cert="$pki/auditor.crt" --archive-key="$pki/auditor.key" \
        --tls-cert="$1" --tls-key="$2" >"$tmp/out" 2>"$tmp/err"
    rc=$?
}
api "$pki/nope.crt" "$pki/api.key"
[ "$rc" != 0 ] && [ "$rc" != 124 ] && err_has "tls-cert $pki/nope.crt"; ok $? "api: a missing certificate is named"
api "$pki/api.key" "$pki/api.key"
[ "$rc" != 0 ] && [ "$rc" != 124 ] && err_has "tls-cert $pki/api.key"; ok $? "api: a file that holds no certificate is named"
api "$pki/api.crt" "$pki/api.crt"
[ "$rc" != 0 ] && [ "$rc" != 124 ] && err_has "tls-key $pki/api.crt"; ok $? "api: a file that holds no key is named"
api "$pki/api.crt" "$pki/auditor.key"
[ "$rc" != 0 ] && [ "$rc" != 124 ] && err_has "does not match"; ok $? "api: a key of another certificate is named"
# reindex: a sealed format 2 archive whose row was lost is reconciled by
# recover without its Call-ID (sealed in the header); reindex fills it
# from the archive with the key.
mkdir -p "$tmp/r"
cp "$arc" "$tmp/r/"
rid=$(basename "$arc" .srec)
run "$cli" recover --index="$tmp/rx.db" --dir="$tmp/r"
[ "$rc" = 0 ] && [ "$(sqlite3 "$tmp/rx.db" "select call_id || '|' || local_aor || '|' || state from recordings where id = '$rid'")" = "||1" ]
ok $? "recover: the lost row of a format 2 archive comes back complete, without Call-ID or parties"
run "$cli" reindex --index="$tmp/rx.db" --dir="$tmp/r" "${keys[@]}"
[ "$rc" = 0 ] && out_has "rows filled 1, failed 0" &&
    [ "$(sqlite3 "$tmp/rx.db" "select call_id || '|' || local_aor || '|' || remote_aor || '|' || state from recordings where id = '$rid'")" = "e2e-call-1@example.net|sip:alice@example.net|sip:bob@example.net|1" ]
ok $? "reindex: Call-ID and parties filled from the sealed header, the state kept"
run "$cli" list --index="$tmp/rx.db" --party=alice --party-match=prefix
[ "$rc" = 0 ] && out_has "$rid"; ok $? "reindex: the row is found by its party again"
run "$cli" reindex --index="$tmp/rx.db" --dir="$tmp/r" "${keys[@]}"
[ "$rc" = 0 ] && out_has "rows filled 0, failed 0"; ok $? "reindex again: nothing to fill"

rec() { # args: cert key ca
    timeout 10 "$build/recorder/srtprec-recorder" --tls-cert="$1" --tls-key="$2" --tls-ca="$3" \
        --archive-dir="$tmp/a" --index="$tmp/rindex.db" --archive-recipients="$pki/auditor.crt" \
        --keyagents=127.0.0.1:1 --media-listen=127.0.0.1:0 >"$tmp/out" 2>"$tmp/err"
    rc=$?
}
rec "$pki/nope.crt" "$pki/recorder.key" "$pki/ca.crt"
[ "$rc" != 0 ] && [ "$rc" != 124 ] && err_has "certificate $pki/nope.crt"; ok $? "recorder: a missing certificate is named"
rec "$pki/recorder.crt" "$pki/api.key" "$pki/ca.crt"
[ "$rc" != 0 ] && [ "$rc" != 124 ] && err_has "does not match"; ok $? "recorder: a mismatched pair is named"
rec "$pki/recorder.crt" "$pki/recorder.key" "$pki/nope-ca.crt"
[ "$rc" != 0 ] && [ "$rc" != 124 ] && err_has "CA $pki/nope-ca.crt"; ok $? "recorder: a missing CA is named"

tap_end
