#!/usr/bin/env bash
# `meson install` to FHS paths (TAP; docs/deploy.md, "Install"): into a
# throwaway DESTDIR, then
#  - daemons in sbin, the CLI in bin, srtprec.conf in sysconfdir/srtprec
#    (0640), docs, generated man pages (groff-clean), systemd units,
#    sysusers.d and tmpfiles.d files, ka.h + sr_err.h, libka and srtprec-ka.pc;
#  - nothing of the bundled libsrtp2 (a plain meson install: tools/setup.sh
#    turns its install off);
#  - libka exports only ka.h's calls and sr_strerror, links no libsrtp2,
#    and an endpoint program builds against it with pkg-config alone;
#  - every unit passes `systemd-analyze verify` and scores at most 2.0 in
#    `systemd-analyze security --offline=true` (a unit made worse fails).
# usage: test_install.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/tap.sh"

run=$(mktemp -d /tmp/srtprec-install.XXXXXX)
trap '[ "$failed" = 0 ] && rm -rf "$run"' EXIT
dest=$run/root
opt() { python3 -c 'import json,sys
for o in json.load(open(sys.argv[1])):
    if o["name"] == sys.argv[2]: print(o["value"])' "$build/meson-info/intro-buildoptions.json" "$1"; }
prefix=$(opt prefix)
abs() { case "$1" in /*) echo "$1" ;; *) echo "$prefix/$1" ;; esac; }
sbindir=$(abs "$(opt sbindir)") bindir=$(abs "$(opt bindir)") libdir=$(abs "$(opt libdir)")
sysconfdir=$(abs "$(opt sysconfdir)") includedir=$(abs "$(opt includedir)")
mandir=$(abs "$(opt mandir)") datadir=$(abs "$(opt datadir)")
unitdir=$(opt unitdir); unitdir=${unitdir:-$prefix/lib/systemd/system}

meson install -C "$build" --destdir "$dest" --no-rebuild >"$run/install.log" 2>&1
ok $? "meson install (no --skip-subprojects) into a DESTDIR (prefix $prefix)"
diag <"$run/install.log" >/dev/null 2>&1

want=(
    "$sbindir/srtprec-keyagent" "$sbindir/srtprec-recorder" "$sbindir/srtprec-api"
    "$bindir/srtprec" "$bindir/srtprec-sdp-disclose"
    "$sysconfdir/srtprec/srtprec.conf"
    "$includedir/srtprec/ka.h" "$includedir/srtprec/sr_err.h"
    "$libdir/libka.so.0" "$libdir/pkgconfig/srtprec-ka.pc"
    "$mandir/man8/srtprec-keyagent.8" "$mandir/man8/srtprec-recorder.8"
    "$mandir/man8/srtprec-api.8" "$mandir/man1/srtprec.1"
    "$datadir/doc/srtprec/deploy.md" "$datadir/doc/srtprec/README.md"
    "$datadir/doc/srtprec/monitoring/srtprec-alerts.yml"
    "$datadir/doc/srtprec/monitoring/grafana-dashboard.json"
    "$datadir/doc/srtprec/examples/srtprec-recorder-capture.conf"
    "$datadir/doc/srtprec/examples/ka-endpoint.c"
    "$unitdir/srtprec-keyagent.service" "$unitdir/srtprec-recorder.service"
    "$unitdir/srtprec-api.service"
    "$prefix/lib/sysusers.d/srtprec.conf" "$prefix/lib/tmpfiles.d/srtprec.conf"
)
missing=()
for f in "${want[@]}"; do [ -e "$dest$f" ] || missing+=("$f"); done
[ "${#missing[@]}" = 0 ]
ok $? "installed: daemons in sbin, CLI, config, headers, libka, pc, man pages, docs, units${missing:+ (missing: ${missing[*]})}"
stray=$(cd "$dest" && find . -path "*bin/srtprec-*" | grep -Ev "sbin/srtprec-(keyagent|recorder|api)$|bin/srtprec-(sdp|kamailio)-disclose$")
[ -z "$stray" ]
ok $? "no daemon or test tool in bin${stray:+: $stray}"
srtp=$(cd "$dest" && find . -iname "*srtp2*")
[ -z "$srtp" ]
ok $? "nothing of the bundled libsrtp2 installed${srtp:+: $srtp (run tools/setup.sh: it turns the install of the subproject off)}"
mode=$(stat -c %a "$dest$sysconfdir/srtprec/srtprec.conf")
[ "$mode" = 644 ] && cmp -s "$dest$sysconfdir/srtprec/srtprec.conf" "$here/../../etc/srtprec.conf"
ok $? "srtprec.conf installed mode 0644 ($mode), the generated file"

# --- man pages ------------------------------------------------------------------------
bad=0
for m in "$dest$mandir"/man*/srtprec*; do
    LC_ALL=C.UTF-8 groff -man -ww -z "$m" >"$run/groff.log" 2>&1 && [ ! -s "$run/groff.log" ] || { bad=1; diag <"$run/groff.log"; }
done
[ "$bad" = 0 ]
ok $? "man pages are groff -ww clean"
grep -q '^\\fB\\-\\-min\\-free\\-disk\\-mb=1024\\fR' "$dest$mandir/man8/srtprec-recorder.8"
ok $? "srtprec-recorder(8) lists the option table (min-free-disk-mb=1024)"

# --- libka for endpoint integrators -----------------------------------------------------
lib=$dest$libdir/libka.so.0
others=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRW]$/ { print $3 }' | grep -Ev '^(ka_|sr_strerror)' | tr '\n' ' ')
[ -z "$others" ]
ok $? "libka exports only ka_* and sr_strerror${others:+ (also: $others)}"
# The installed headers are ka.h and sr_err.h alone, and every function they
# declare is one libka exports (an err.h there, on pkg-config's include path,
# hid the C library's <err.h> and declared sr_err_from_errno, which libka
# does not export).
hdrs=$(cd "$dest$includedir/srtprec" && ls | tr '\n' ' ')
declared=$(grep -ohE '^[^ ].*\b(ka|sr)_[a-z_]+\(' "$dest$includedir"/srtprec/*.h | grep -v typedef |
    grep -oE '\b(ka|sr)_[a-z_]+\(' | tr -d '(' | sort -u)
unexported=$(comm -23 <(printf '%s\n' $declared) \
    <(nm -D --defined-only "$lib" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort -u) | tr '\n' ' ')
[ "$hdrs" = "ka.h sr_err.h " ] && [ -n "$declared" ] && [ -z "$unexported" ]
ok $? "headers ka.h and sr_err.h only ($hdrs), each declared function exported${unexported:+ (not: $unexported)}"
! nm -D "$lib" | grep -qi "srtp_" && ! objdump -p "$lib" | grep NEEDED | grep -qi srtp
ok $? "libka neither contains nor needs libsrtp2"
# The annotated example shipped for integrators, as installed, is the program
# built here: it must compile with pkg-config alone (ka.h includes no
# internal header) and fail cleanly on a socket that is not there.
cp "$dest$datadir/doc/srtprec/examples/ka-endpoint.c" "$run/endpoint.c"
# ...and with the C library's <err.h> included first: pkg-config's include
# path must not hide a system header.
sed -i '0,/^#include <ka.h>/s//#include <err.h>\n#include <ka.h>/' "$run/endpoint.c"
grep -q '^#include <err.h>' "$run/endpoint.c" && printf 'void srtprec_uses_err(void) { warnx("%%s", "x"); }\n' >>"$run/endpoint.c"
out=
# the build's own compiler and sanitizers: an instrumented libka needs an
# instrumented program
cc=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["command"].split()[0])' \
    "$build/compile_commands.json")")
san=$(opt b_sanitize)
[ -n "$san" ] && [ "$san" != none ] && cc+=("-fsanitize=$san")
export PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_LIBDIR=$dest$libdir/pkgconfig
# shellcheck disable=SC2046
"${cc[@]}" -std=c11 -Wall -Werror -o "$run/endpoint" "$run/endpoint.c" $(pkg-config --cflags --libs srtprec-ka) \
    >"$run/cc.log" 2>&1 &&
    out=$(printf '%s\n%s\n' AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd |
          ASAN_OPTIONS=detect_leaks=0 LD_LIBRARY_PATH=$dest$libdir "$run/endpoint" /nonexistent/keyagent.sock \
              c1@ep sip:a@cc.example sip:b@pstn.example 127.0.0.1:1 127.0.0.1:2 1 2>&1)
rc=$?
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR
[ "$rc" = 1 ] && [ -n "$out" ]
ok $? "the shipped example endpoint (with the C library's <err.h> beside ka.h) builds with pkg-config srtprec-ka, links libka and fails cleanly (status $rc: ${out:-none})"
diag <"$run/cc.log"

# --- systemd units --------------------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
    # verify needs the targets the units name and the programs they run
    mkdir -p "$dest/lib/systemd" "$dest/bin"
    cp -a /lib/systemd/system "$dest/lib/systemd/"
    cp /bin/kill "$dest/bin/"
    for d in keyagent recorder api; do
        u=$dest$unitdir/srtprec-$d.service
        MANPATH=$dest$mandir systemd-analyze verify --root="$dest" "$u" >"$run/verify.log" 2>&1 &&
            [ ! -s "$run/verify.log" ]
        ok $? "systemd-analyze verify srtprec-$d.service"
        diag <"$run/verify.log"
        score=$(systemd-analyze security --offline=true --root="$dest" "$u" 2>&1 |
                sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
        [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'
        ok $? "systemd-analyze security srtprec-$d.service: exposure ${score:-?} (at most 2.0)"
        for k in NoNewPrivileges=yes ProtectSystem=strict LimitCORE=0 "CapabilityBoundingSet=$" \
                 "User=srtprec-$d" "LimitNOFILE=" "ReadWritePaths="; do
            grep -q "^$k" "$u" || { echo "# srtprec-$d.service lacks $k"; false; } || break
        done
        ok $? "srtprec-$d.service: own user, no capabilities, strict, LimitNOFILE, LimitCORE=0, ReadWritePaths"
    done
    mkdir -p "$run/su/etc"
    systemd-sysusers --root="$run/su" "$dest$prefix/lib/sysusers.d/srtprec.conf" >"$run/su.log" 2>&1 &&
        grep -q '^srtprec-recorder:' "$run/su/etc/passwd" && grep -q '^srtprec-keyagent:' "$run/su/etc/passwd" &&
        grep -q '^srtprec-api:' "$run/su/etc/passwd"
    ok $? "sysusers.d creates the three system users"
    diag <"$run/su.log"
fi
tap_end
