#!/bin/bash
# Security: authentic archives (issue 13 item 5).  The real stack records two
# calls; the recorder signs each sealed archive (pki/signer.key), the index
# stores its SHA-256 and the seal ledger its seal.  Then the attacks of
# someone who can write the archive directory, each undone before the next:
#   a forgery written with only the auditors' public certificate, put in a
#   recording's place (beside its signature, and without it); two valid
#   archives swapped; one byte changed; the signature stripped; one deleted;
#   an unsigned archive planted with an index row of its own.
# Each is found, with its own verdict, by `srtprec verify --signer` (exit
# status and word) and by the API before it serves a download or an export
# (error code, audit record); retention keeps a forged archive as evidence
# and its deletion log verifies with `srtprec verify-log`.  A recorder
# without signing-key outside lab mode does not start; one with a key
# others may read does not either.
set -u
build=$(cd "$1" && pwd)
mkarchive=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/stack.sh"
. "$here/../lib/tap.sh"

stack_test_run archive_authn
stack_init "$build" "$run"
pki=$run/pki
srtprec=$build/tools/srtprec
sed -i "/^\[api\]/a audit-log = $run/audit.log" "$run/srtprec.conf"
stack_start || { ok 1 "stack started"; tap_end; exit 1; }
"$build/tools/srtprec-endpoint-sim" --control="$STACK_CONTROL" --recorder="127.0.0.1:$STACK_MEDIA_PORT" \
    --calls=2 --duration-ms=1000 --out-dir="$run/sim" >"$run/sim.log" 2>&1
stack_wait_recordings 2 20; ok $? "two calls recorded"
mapfile -t ids < <(sqlite3 "$run/index.sqlite" "select id from recordings where state = 1 order by id")
a=${ids[0]:-none} b=${ids[1]:-none}
A=$run/archive/$a.srec B=$run/archive/$b.srec
[ -s "$A.sig" ] && [ -s "$B.sig" ]; ok $? "each sealed archive has its signature file"
sha_a=$(sqlite3 "$run/index.sqlite" "select sha256 from recordings where id = '$a'")
[ "$sha_a" = "$(sha256sum "$A" | cut -d' ' -f1)" ]; ok $? "the index row holds the archive's SHA-256"
"$srtprec" verify-log --log="$run/index.sqlite.seals" >"$run/vl.out" 2>&1 &&
    grep -q "recorder seal ledger, 2 records" "$run/vl.out" && grep -q "$a" "$run/index.sqlite.seals"
ok $? "the seal ledger verifies and records both seals"

# verify: prints the verdict, exit status per verdict.
verify() { # file -> $vout, $vrc
    vout=$("$srtprec" verify --signer="$pki/signer.crt" --index="$run/index.sqlite" "$1" 2>&1)
    vrc=$?
    echo "$vout" | diag
}
# api ROUTE: the error code the API answers for recording $a (or "200").
api() { # path-suffix
    local body code
    body=$(stack_curl -s -o "$run/api.body" -w '%{http_code}' "$(stack_api)/v1/recordings/$a$1")
    code=$(grep -o '"error": *"[a-z_]*"' "$run/api.body" 2>/dev/null | grep -o '[a-z_]*"$' | tr -d '"')
    echo "${body}${code:+ $code}"
}
# The audit log's last done record for recording $a (or $2) names the
# verdict.  The done record is written when the request completes, which can
# be just after curl has the whole answer: wait for it (at most 2 s).
audited() { # verdict [id]
    local id=${2:-$a}
    for _ in $(seq 1 40); do
        grep -P "\tev=done\t.*\tid=$id\t" "$run/audit.log" | tail -n 1 | grep -q -P "\tauthn=$1\t" && return 0
        sleep 0.05
    done
    return 1
}
save() { cp -p "$A" "$run/a.orig"; cp -p "$A.sig" "$run/a.sig.orig"; cp -p "$B" "$run/b.orig"; cp -p "$B.sig" "$run/b.sig.orig"; }
restore() { cp -p "$run/a.orig" "$A"; cp -p "$run/a.sig.orig" "$A.sig"; cp -p "$run/b.orig" "$B"; cp -p "$run/b.sig.orig" "$B.sig"; }
save

verify "$A"; [ "$vrc" = 0 ] && [[ $vout == *AUTHENTIC* ]]; ok $? "verify: the recorded archive is authentic"
[ "$(api /archive)" = 200 ] && cmp -s "$run/api.body" "$A" && audited authentic
ok $? "API: the authentic archive is served, audited authn=authentic"

# 1. A forgery with the auditors' public certificate only, in A's place.
mkdir -p "$run/forger"
"$mkarchive" "$run/forger" "$run/forger/index.db" "$pki/auditor.crt" 50 >"$run/forger/ids" &&
    cp "$run/forger/$(head -n 1 "$run/forger/ids").srec" "$A"
ok $? "forger: an archive written with the public certificate alone, put in A's place"
"$srtprec" verify --cert="$pki/auditor.crt" --key="$pki/auditor.key" "$A" >/dev/null 2>&1
ok $? "the forgery decrypts and verifies as an archive (what signing is for)"
verify "$A"; [ "$vrc" = 5 ] && [[ $vout == *FORGED* ]]; ok $? "verify: the forgery is forged (exit $vrc)"
r=$(api /archive); [ "$r" = "500 archive_forged" ] && audited forged
ok $? "API archive: refused archive_forged, audited authn=forged ($r)"
r=$(api /export.wav); [ "$r" = "500 archive_forged" ]; ok $? "API export: refused archive_forged ($r)"
rm -f "$A.sig"
verify "$A"; [ "$vrc" = 5 ] && [[ $vout == *FORGED*stripped* ]]
ok $? "verify: the forgery without a signature is forged (signature stripped)"
restore

# 2. Two valid archives swapped (with their signatures).
cp -p "$run/b.orig" "$A"; cp -p "$run/b.sig.orig" "$A.sig"
cp -p "$run/a.orig" "$B"; cp -p "$run/a.sig.orig" "$B.sig"
verify "$A"; [ "$vrc" = 6 ] && [[ $vout == *SWAPPED*$b* ]]; ok $? "verify: A's name holding B is swapped, naming B (exit $vrc)"
verify "$B"; [ "$vrc" = 6 ]; ok $? "verify: B's name holding A is swapped"
r=$(api /archive); [ "$r" = "500 archive_swapped" ] && audited swapped
ok $? "API archive: refused archive_swapped, audited authn=swapped ($r)"
r=$(api /export.ogg); [ "$r" = "500 archive_swapped" ]; ok $? "API export: refused archive_swapped ($r)"
# Only the archives swapped, signatures left in place.
cp -p "$run/a.sig.orig" "$A.sig"; cp -p "$run/b.sig.orig" "$B.sig"
verify "$A"; [ "$vrc" = 6 ]; ok $? "verify: archives swapped under their old signatures: swapped"
restore

# 3. One byte changed.
python3 - "$A" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[len(b) // 2] ^= 0x01
open(p, 'wb').write(b)
PY
verify "$A"; [ "$vrc" = 5 ] && [[ $vout == *FORGED*"bytes changed"* ]]; ok $? "verify: one changed byte: forged, bytes changed"
r=$(api /archive); [ "$r" = "500 archive_forged" ]; ok $? "API archive: refused archive_forged ($r)"
restore

# 4. The signature stripped.
rm -f "$A.sig"
verify "$A"; [ "$vrc" = 5 ] && [[ $vout == *FORGED*stripped* ]]; ok $? "verify: signature stripped: forged"
r=$(api /archive); [ "$r" = "500 archive_forged" ] && audited forged; ok $? "API archive: refused archive_forged ($r)"
restore

# 5. One deleted.
rm -f "$A" "$A.sig"
verify "$A"; [ "$vrc" = 7 ] && [[ $vout == *DELETED* ]]; ok $? "verify: a deleted archive is deleted (exit $vrc)"
r=$(api /archive); [ "$r" = "410 archive_deleted" ] && audited deleted
ok $? "API archive: 410 archive_deleted, audited authn=deleted ($r)"
# ... and its index row too (index write): only the ledger knows; the sweep finds it.
sqlite3 "$run/index.sqlite" "create table keep as select * from recordings where id = '$a'; delete from recordings where id = '$a'"
"$srtprec" verify-seals --dir="$run/archive" --signer="$pki/signer.crt" --index="$run/index.sqlite" \
    >"$run/vs.out" 2>&1
rc=$?; diag <"$run/vs.out"
[ "$rc" = 1 ] && grep -q "^$a: DELETED" "$run/vs.out" && grep -q "2 seals: 1 authentic, 0 deleted by retention (logged), 1 deleted" "$run/vs.out"
ok $? "verify-seals: archive and row both gone, found through the seal ledger"
sqlite3 "$run/index.sqlite" "insert into recordings select * from keep; drop table keep"
restore
"$srtprec" verify-seals --dir="$run/archive" --signer="$pki/signer.crt" --index="$run/index.sqlite" >"$run/vs.out" 2>&1 &&
    grep -q "2 seals: 2 authentic" "$run/vs.out"
ok $? "verify-seals: restored, every seal authentic"

verify "$A"; [ "$vrc" = 0 ]; ok $? "verify: restored, authentic again"
[ "$(api /archive)" = 200 ]; ok $? "API: restored archive served"
# 6. Disk and index write: a new, unsigned archive planted with its own row.
p=$("$mkarchive" "$run/archive" "$run/index.sqlite" "$pki/auditor.crt" 50 | head -n 1)
"$srtprec" verify --signer="$pki/signer.crt" --index="$run/index.sqlite" "$run/archive/$p.srec" >/dev/null 2>&1
[ $? = 4 ]; ok $? "verify: a planted archive without a signature or recorded seal is unsigned (exit 4)"
code=$(stack_curl -s -o /dev/null -w '%{http_code}' "$(stack_api)/v1/recordings/$p/archive")
[ "$code" = 200 ] && audited unsigned "$p"
ok $? "API default: the unsigned archive is served, audited authn=unsigned ($code)"
"$build/api/srtprec-api" --verify-audit="$run/audit.log" >/dev/null 2>&1; ok $? "the API's audit log chain is intact"
stack_stop
# With refuse-unsigned-archives the API refuses it.
sed -i "/^\[api\]/a refuse-unsigned-archives = yes" "$run/srtprec.conf"
stack_start_one api api/srtprec-api
for _ in $(seq 1 100); do stack_curl -s -o /dev/null "$(stack_api)/healthz" && break; sleep 0.1; done
code=$(stack_curl -s -o "$run/api.body" -w '%{http_code}' "$(stack_api)/v1/recordings/$p/archive")
[ "$code" = 500 ] && grep -q '"archive_unsigned"' "$run/api.body"; ok $? "refuse-unsigned-archives: the planted archive is refused archive_unsigned ($code)"
[ "$(api /archive)" = 200 ]; ok $? "refuse-unsigned-archives: a signed archive is still served"
stack_stop
rm -f "$run/archive/$p.srec"
sqlite3 "$run/index.sqlite" "delete from recordings where id in ('$p', 'ffffffffffffffffffffffffffffffff')"

# Retention keeps a forged archive as evidence, deletes the authentic one.
cp "$run/forger/$(head -n 1 "$run/forger/ids").srec" "$B"
"$srtprec" retention --index="$run/index.sqlite" --log="$run/deletions.log" --before=9999-12-31 \
    --signer="$pki/signer.crt" >"$run/ret.out" 2>&1
cat "$run/ret.out" | diag
grep -q "deleted 1 recordings, 0 on legal hold kept, 0 archive files already missing, 1 not authentic kept" "$run/ret.out" &&
    [ ! -e "$A" ] && [ ! -e "$A.sig" ] && [ -e "$B" ]
ok $? "retention: the authentic archive deleted with its signature, the forged one kept"
[ "$(sqlite3 "$run/index.sqlite" "select count(*) from recordings where id = '$b'")" = 1 ]
ok $? "retention: the forged recording's index row is kept"
"$srtprec" verify-log --log="$run/deletions.log" >"$run/vl.out" 2>&1 &&
    grep -q "INTACT.*retention deletion log, 1 records" "$run/vl.out" &&
    grep -q -P "\tauthn=authentic\t" "$run/deletions.log"
ok $? "srtprec verify-log: the deletion log (tag DEL1) verifies; its record says authentic"
cp "$run/deletions.log" "$run/deletions.keep"
head=$(grep -o 'head [0-9a-f]\{64\}' "$run/vl.out" | cut -d' ' -f2)
"$srtprec" verify-log --log="$run/deletions.log" --anchor="$head" >/dev/null 2>&1; ok $? "verify-log passes through its own head"
sed -i 's/reason=retention/reason=retentiox/' "$run/deletions.log"
"$srtprec" verify-log --log="$run/deletions.log" --anchor="$head" >"$run/vl.out" 2>&1
[ $? = 1 ] && grep -q "BROKEN" "$run/vl.out"; ok $? "srtprec verify-log: an edited deletion log is broken (against the head kept)"
verify "$A"; [ "$vrc" = 7 ]; ok $? "verify: after retention the archive reads as deleted (the ledger keeps its seal)"
"$srtprec" verify-seals --dir="$run/archive" --signer="$pki/signer.crt" --index="$run/index.sqlite" \
    --deletions="$run/deletions.keep" >"$run/vs.out" 2>&1
rc=$?; diag <"$run/vs.out"
[ "$rc" = 1 ] && grep -q "1 deleted by retention (logged), 0 deleted, 1 forged" "$run/vs.out"
ok $? "verify-seals with the deletion log: the retention deletion is told apart, the kept forgery reported"

# Start-up: no signing key outside lab mode; a key others may read.
sed -i "/^signing-key = /d" "$run/srtprec.conf"
timeout 10 "$build/recorder/srtprec-recorder" --config="$run/srtprec.conf" >"$run/nokey.log" 2>&1
rc=$?
[ "$rc" = 1 ] && grep -q "signing-key is required" "$run/nokey.log"; ok $? "no signing-key outside lab mode: start-up error (exit $rc)"
cp -p "$pki/signer.key" "$run/loose.key"; chmod 644 "$run/loose.key"
timeout 10 "$build/recorder/srtprec-recorder" --config="$run/srtprec.conf" --signing-key="$run/loose.key" \
    >"$run/loose.log" 2>&1
rc=$?
[ "$rc" = 1 ] && grep -q "chmod 600" "$run/loose.log"; ok $? "a signing key others may read: start-up error (exit $rc)"
tap_end
