#!/usr/bin/env bash
# The Debian package (TAP; docs/deploy.md, "Debian package"): a copy of the
# tree built with dpkg-buildpackage -b (about 90 s on 2 cores), then
#  - srtprec: daemons in /usr/sbin, config, units, man pages, docs, no
#    libsrtp2 file; libka0 / libka-dev: the library, ka.h, srtprec-ka.pc;
#  - unpacked into a throwaway root (dpkg -x, dpkg -e): every file there,
#    the maintainer scripts parse and the postinst creates the three system
#    users with adduser and the shared directories.
# usage: test_deb.sh SOURCE_DIR
set -uo pipefail
top=$(cd "$1" && pwd)
. "$top/tests/lib/tap.sh"
for t in dpkg-buildpackage dh; do
    command -v "$t" >/dev/null || { echo "1..0 # SKIP $t not installed (tools/setup.sh test: dpkg-dev, debhelper)"; exit 0; }
done
[ -f "$top/subprojects/libsrtp2/meson.build" ] || { echo "1..0 # SKIP subprojects/libsrtp2 missing (tools/setup.sh)"; exit 0; }
run=$(mktemp -d /tmp/srtprec-deb.XXXXXX)
trap '[ "$failed" = 0 ] && rm -rf "$run"' EXIT
mkdir -p "$run/src"
(cd "$top" && tar --exclude='./build*' --exclude=./.git --exclude='./obj-*' --exclude=./debian/tmp -cf - .) |
    tar -C "$run/src" -xf -
(cd "$run/src" && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -b -us -uc) >"$run/build.log" 2>&1
ok $? "dpkg-buildpackage -b"
tail -20 "$run/build.log" | diag
deb=$(ls "$run"/srtprec_*_*.deb 2>/dev/null | head -n 1)
lib=$(ls "$run"/libka0_*_*.deb 2>/dev/null | head -n 1)
dev=$(ls "$run"/libka-dev_*_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] && [ -n "$lib" ] && [ -n "$dev" ]
ok $? "three packages: srtprec, libka0, libka-dev"

root=$run/root
mkdir -p "$root"
for p in "$deb" "$lib" "$dev"; do [ -n "$p" ] && dpkg -x "$p" "$root"; done
missing=()
for f in usr/sbin/srtprec-keyagent usr/sbin/srtprec-recorder usr/sbin/srtprec-api usr/bin/srtprec \
         etc/srtprec/srtprec.conf lib/systemd/system/srtprec-recorder.service \
         lib/systemd/system/srtprec-keyagent.service lib/systemd/system/srtprec-api.service \
         usr/share/man/man8/srtprec-recorder.8.gz usr/share/man/man1/srtprec.1.gz \
         usr/share/doc/srtprec/monitoring/srtprec-alerts.yml usr/include/srtprec/ka.h \
         usr/lib/sysusers.d/srtprec.conf usr/lib/tmpfiles.d/srtprec.conf; do
    [ -e "$root/$f" ] || missing+=("$f")
done
ls "$root"/usr/lib/*/libka.so.0 "$root"/usr/lib/*/pkgconfig/srtprec-ka.pc >/dev/null 2>&1 || missing+=(libka.so.0/srtprec-ka.pc)
[ "${#missing[@]}" = 0 ]
ok $? "unpacked: daemons, CLI, config, units, man pages, docs, libka, header${missing:+ (missing: ${missing[*]})}"
srtp=$(cd "$root" && find . -iname "*srtp2*")
[ -z "$srtp" ]
ok $? "no libsrtp2 file in any package${srtp:+: $srtp}"
dpkg-deb -I "$deb" conffiles >"$run/conffiles" 2>&1
grep -qx /etc/srtprec/srtprec.conf "$run/conffiles"
ok $? "srtprec.conf is a conffile"
dpkg-deb -f "$deb" Depends | grep -q adduser
ok $? "srtprec depends on adduser"

ctl=$run/control
dpkg -e "$deb" "$ctl"
sh -n "$ctl/postinst" && sh -n "$ctl/postrm"
ok $? "maintainer scripts parse (sh -n)"
sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$ctl/postinst" >"$run/postinst.joined"
u=0
for user in srtprec-recorder srtprec-api srtprec-keyagent; do
    grep -q "adduser --system.* $user\$" "$run/postinst.joined" || { echo "# no adduser of $user"; u=1; }
done
[ "$u" = 0 ] && grep -q 'addgroup --system --quiet srtprec$' "$run/postinst.joined" &&
    grep -q 'install -d -o srtprec-recorder -g srtprec -m 2770 /var/lib/srtprec$' "$run/postinst.joined"
ok $? "postinst: adduser of the three system users, groups, /var/lib/srtprec"
! grep -q 'systemctl.*enable\|deb-systemd-invoke.*start' "$ctl/postinst"
ok $? "postinst neither enables nor starts a unit (certificates first)"
tap_end
