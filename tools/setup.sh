#!/usr/bin/env bash
# Prepare a Debian 12 machine to build srtprec: install missing Debian
# packages, fetch Debian's libsrtp2 source package into subprojects/ (built
# there with its OpenSSL backend, see meson.build), and nothing else.
#
#   tools/setup.sh demo   packages to build and run the demo
#   tools/setup.sh test   also the peers the test suite runs against
set -euo pipefail

profile=${1:-demo}
top=$(cd "$(dirname "$0")/.." && pwd)

build_pkgs=(meson ninja-build pkg-config gcc libc6-dev libssl-dev openssl libogg-dev libopus-dev libisal-dev
            libmicrohttpd-dev libgnutls28-dev libinih-dev libjansson-dev libexpat1-dev libsqlite3-dev libpq-dev
            libcurl4-openssl-dev libpcap-dev libcap-dev dpkg-dev ca-certificates curl procps iproute2)
test_pkgs=(clang libclang-rt-14-dev llvm sip-tester stunnel4 ffmpeg oggz-tools opus-tools
           valgrind sqlite3 chromium wrk libxml2-utils python3-scapy baresip prometheus
           rtpengine-daemon debhelper postgresql
           swift swift-proxy swift-object swift-container swift-account python3-swift
           kamailio kamailio-tls-modules)

case "$profile" in
demo) pkgs=("${build_pkgs[@]}") ;;
test) pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
*) echo "usage: $0 demo|test" >&2; exit 2 ;;
esac

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

apt_updated=0
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    apt_updated=1
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

# Debian's binary libsrtp2 is built against NSS, whose per-packet cost grows
# with the number of live keys; we build the same source with OpenSSL.
srtp_dir="$top/subprojects/libsrtp2"
if [ ! -f "$srtp_dir/meson.build" ]; then
    if ! grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        echo "setup: adding a deb-src entry for Debian bookworm"
        as_root tee /etc/apt/sources.list.d/srtprec-deb-src.sources >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        apt_updated=0
    fi
    [ "$apt_updated" = 1 ] || as_root apt-get update -qq
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    echo "setup: fetching Debian's libsrtp2 source package"
    (cd "$tmp" && apt-get source -qq libsrtp2 >/dev/null 2>&1) || {
        echo "setup: apt-get source libsrtp2 failed" >&2; exit 1; }
    src=$(find "$tmp" -maxdepth 1 -type d -name 'libsrtp2-2.5*' | head -n 1)
    [ -n "$src" ] && [ -f "$src/meson.build" ] || { echo "setup: no libsrtp2 2.5 source found" >&2; exit 1; }
    mkdir -p "$top/subprojects"
    rm -rf "$srtp_dir"
    mv "$src" "$srtp_dir"
    echo "setup: libsrtp2 source ready in subprojects/libsrtp2 ($(basename "$src"))"
fi

# srtprec links libsrtp2 statically and privately: a plain `meson install`
# must install nothing of it (its libsrtp2.a, srtp2/ headers and
# libsrtp2.pc would clash with Debian's libsrtp2-dev).  Its meson.build has
# no switch for that (and meson none per subproject), so its three install
# statements are turned off here, once; the first line marks the file.
# tests/install/test_install.sh checks the installed file list.
srtp_mark="# srtprec: nothing of this subproject is installed (tools/setup.sh)"
if ! head -n 1 "$srtp_dir/meson.build" | grep -qxF "$srtp_mark"; then
    python3 - "$srtp_dir/meson.build" "$srtp_mark" <<'PY' || { echo "setup: cannot turn off libsrtp2's install" >&2; exit 1; }
import sys
path, mark = sys.argv[1], sys.argv[2]
s = open(path).read()
edits = [
    ("install: default_library != 'shared')", "install: false)"),
    ("    vs_module_defs: 'srtp.def',\n    link_whole: libsrtp2_static,\n    install: true)",
     "    vs_module_defs: 'srtp.def',\n    link_whole: libsrtp2_static,\n    install: false)"),
    ("install_headers(public_headers, subdir : 'srtp2')", "# install_headers: not installed"),
    ("pkgconfig.generate(libsrtp2,", "if false # the .pc: not installed\npkgconfig.generate(libsrtp2,"),
]
for old, new in edits:
    if s.count(old) != 1:
        sys.exit("setup: libsrtp2 meson.build: expected once: " + old.splitlines()[0])
    s = s.replace(old, new)
s = s.rstrip("\n") + "\nendif\n"
open(path, "w").write(mark + "\n" + s)
PY
    echo "setup: libsrtp2 subproject set to install nothing"
fi
