#!/usr/bin/env bash
# objstore.h against a real OpenStack Swift with s3api (tests/lib/swift.sh)
# behind stunnel, so TLS verification is real: runs test_objstore_swift.
#   test_objstore_swift.sh BUILD_DIR
set -u
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib/stack.sh
. "$top/tests/lib/stack.sh"
# shellcheck source=../lib/swift.sh
. "$top/tests/lib/swift.sh"
run=$(mktemp -d "${TMPDIR:-/tmp}/srtprec-objstore.XXXXXX")
finish() { swift_stop; rm -rf "$run"; }
trap finish EXIT
"$top/tests/lib/mkcerts.sh" "$run/pki" >/dev/null 2>&1
if ! swift_start "$run/swift" "$run/pki/api.crt" "$run/pki/api.key"; then
    echo "1..1"; echo "not ok 1 - swift starts"; exit 1
fi
printf '%s\n%s\n' "$SWIFT_ACCESS" "$SWIFT_SECRET" >"$run/store.key"
chmod 600 "$run/store.key"
"$build/tests/storage/test_objstore_swift" "$SWIFT_TLS_URL" "$run/pki/ca.crt" "$run/store.key" \
    "$run/pki/foreign-ca.crt" "$run"
