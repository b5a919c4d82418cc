#!/usr/bin/env bash
# Write a man page in roff from a program's --help, i.e. from its option
# table (the same source as etc/srtprec.conf, tools/gen-config.sh), so the
# page cannot drift from the code.  Why not pandoc: the docs are Markdown
# for reading in the tree, not man-shaped, and the option tables are the
# reference; a 60-line script beats a build dependency on Haskell.
#   tools/gen-man.sh NAME SECTION DESCRIPTION PROGRAM VERSION > NAME.SECTION
set -euo pipefail
name=$1 section=$2 desc=$3 prog=$4 version=$5
# LeakSanitizer (sanitizer builds) must not write its exit report into the page.
help=$(ASAN_OPTIONS=detect_leaks=0 "$prog" --help 2>&1 || true)
esc() { sed -e 's/\\/\\e/g' -e 's/^\([.'"'"']\)/\\\&\1/' -e 's/-/\\-/g'; }
printf '.TH %s %s "" "srtprec %s" "srtprec"\n' "$(echo "$name" | tr a-z A-Z)" "$section" "$version"
printf '.SH NAME\n%s \\- %s\n' "$name" "$desc"
printf '.SH SYNOPSIS\n.nf\n'
printf '%s\n' "$help" | grep -v '^  ' | grep -v '^$' | sed 's/^usage: *//; s/^ *//' | esc
printf '.fi\n'
if printf '%s\n' "$help" | grep -q '^  --'; then
    printf '.SH OPTIONS\nEvery option is also a key of this daemon'"'"'s section of\n'
    printf '.IR /etc/srtprec/srtprec.conf ;\nthe command line wins. The value shown is the default.\n'
    printf '%s\n' "$help" | awk '
        /^  --/ { sub(/^  /, ""); print ".TP"; print "\\fB" $0 "\\fR"; next }
        /^      / { sub(/^ +/, ""); print; next }' | sed -e 's/-/\\-/g'
fi
case "$name" in
srtprec-*) cat <<'TAIL'
.SH FILES
.TP
.I /etc/srtprec/srtprec.conf
configuration, one section per daemon
.SH SIGNALS
SIGHUP reloads what can change without a restart (certificates, CRLs, log
level, allow lists, tokens); SIGTERM stops cleanly.
TAIL
;;
esac
cat <<'TAIL'
.SH SEE ALSO
.BR srtprec (1),
.BR srtprec-keyagent (8),
.BR srtprec-recorder (8),
.BR srtprec-api (8);
/usr/share/doc/srtprec/deploy.md and the other documents there.
TAIL
