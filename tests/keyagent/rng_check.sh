#!/bin/bash
# Validate key bodies, printed as the keyagent prints them (kb_samples),
# against docs/srtp-keys.rng with xmllint (TAP output); then check that the
# schema refuses broken bodies, so a schema that accepts everything fails.
#   rng_check.sh KB_SAMPLES RNG
set -u
SAMPLES=$1 RNG=$2
if ! command -v xmllint >/dev/null 2>&1; then
    echo "1..0 # SKIP xmllint not installed (Debian: libxml2-utils)"
    exit 0
fi
work=$(mktemp -d /tmp/ka-rng.XXXXXX)
trap 'rm -rf "$work"' EXIT
n=0 failed=0
ok() {
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}

xmllint --noout --relaxng "$RNG" /dev/null 2>&1 | grep -qi "relax-ng schema .* failed to compile"
[ $? -ne 0 ]; ok $? "schema compiles"
"$SAMPLES" "$work"; ok $? "kb_samples printed every body"
count=0
for f in "$work"/*.xml; do
    count=$((count + 1))
    out=$(xmllint --noout --relaxng "$RNG" "$f" 2>&1)
    rc=$?
    [ $rc -eq 0 ] || echo "$out" | sed 's/^/# /'
    ok $rc "$(basename "$f") validates"
done
[ "$count" -ge 20 ]; ok $? "at least 20 bodies checked (got $count)"

# Each of these breaks one rule of the format; the schema must refuse it.
base="$work/02-full.xml"
bad() { # sed-expression description
    sed -e "$1" "$base" > "$work/bad.xml"
    ! cmp -s "$base" "$work/bad.xml" && ! xmllint --noout --relaxng "$RNG" "$work/bad.xml" >/dev/null 2>&1
    ok $? "refused: $2"
}
bad 's/suite="AES_CM_128_HMAC_SHA1_80"/suite="AES_192_CM_HMAC_SHA1_80"/' "unknown suite"
bad 's/state="full"/state="most"/' "document state not full/partial"
bad 's/format-version="1"/format-version="2"/' "format-version 2"
bad '/<start>/d' "dialog without start"
bad 's/direction="send"/direction="both"/' "direction not send/recv"
bad 's/payload-type="0"/payload-type="128"/' "payload type 128"
bad 's/>inline:/>uri:/' "key method other than inline"
bad 's/<stream /<stream bogus="1" /' "unknown attribute"
rm -f "$work/bad.xml"
sed -e 's/<dialog /<x:ext xmlns:x="urn:x" a="1"><x:y>t<\/x:y><\/x:ext><dialog /' "$base" > "$work/ext.xml"
xmllint --noout --relaxng "$RNG" "$work/ext.xml" >/dev/null 2>&1
ok $? "a foreign-namespace extension element is accepted"

echo "1..$n"
[ "$failed" -eq 0 ]
