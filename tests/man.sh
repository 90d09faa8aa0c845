#!/bin/bash
# man.sh - the manual pages are well-formed and complete: each renders
# without a warning from man and has a NAME lexgrog reads; tapnet(1) has every
# command and option of `tapnet --help`, tapnetd(8) every option of
# `tapnetd --help`, tapnetd.conf(5) every key of etc/tapnetd.conf (which
# check_config holds to the daemon's key table), libtapnet(3) every function
# of <tapnet.h>.
set -u
: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${TOP_BUILDDIR:=$TOP_SRCDIR}"
fail() { echo "man: FAIL: $*" >&2; exit 1; }
for c in man lexgrog; do
	command -v "$c" >/dev/null || {
		[ "${CI:-}" = true ] && fail "$c not found (Debian package man-db)"
		echo "man: SKIP: $c not found (Debian package man-db)" >&2
		exit 77
	}
done

PAGES=(src/daemon/tapnetd.8 src/daemon/tapnetd.conf.5 src/tools/tapnet.1 src/lib/libtapnet.3)
for p in "${PAGES[@]}"; do
	page=$TOP_BUILDDIR/$p
	[ -s "$page" ] || fail "$p was not built"
	warnings=$(MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$page" 2>&1 >/dev/null)
	[ -z "$warnings" ] || fail "$p: man warns: $warnings"
	lexgrog "$page" >/dev/null || fail "$p: lexgrog finds no NAME section"
done
text() { MANWIDTH=200 LC_ALL=C.UTF-8 man -l "$TOP_BUILDDIR/$1" 2>/dev/null | col -b; }

# tapnet(1): each command has its own subsection, each long option is there
tapnet1=$(text src/tools/tapnet.1)
help=$("$TOP_BUILDDIR/tapnet" --help) || fail "tapnet --help failed"
commands=$(printf '%s\n' "$help" | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }')
[ -n "$commands" ] || fail "no commands in tapnet --help"
for c in $commands; do
	printf '%s\n' "$tapnet1" | grep -qE "^   $c( |$)" || fail "tapnet(1) has no subsection for the command '$c'"
done
for o in $(printf '%s\n' "$help" | grep -oE -- '--[a-z0-9-]+' | sort -u); do
	printf '%s\n' "$tapnet1" | grep -qe "$o" || fail "tapnet(1) does not mention $o"
done

# tapnetd(8): every option of --help
tapnetd8=$(text src/daemon/tapnetd.8)
for o in $("$TOP_BUILDDIR/tapnetd" --help | grep -oE -- '(^|[ ,])-(-[a-z-]+|[a-z])' | tr -d ' ,' | sort -u); do
	printf '%s\n' "$tapnetd8" | grep -qe "$o" || fail "tapnetd(8) does not mention $o"
done

# tapnetd.conf(5): every key of etc/tapnetd.conf, section by section, with its default
conf5=$(text src/daemon/tapnetd.conf.5)
keys=0
while read -r section key default; do
	block=$(printf '%s\n' "$conf5" | awk -v s="   [$section]" '$0 == s { on = 1; next } /^   \[/ { on = 0 } on')
	want="       $key = ${default:-(empty)}"
	printf '%s\n' "$block" | grep -qxF -- "$want" || fail "tapnetd.conf(5) has no '$key = ${default:-(empty)}' under [$section]"
	keys=$((keys + 1))
done < <(sed -n -e 's/^\[\([a-z0-9_]*\)\]$/S \1/p' -e 's/^#\([a-z_]*\) =[ ]*\(.*\)$/K \1 \2/p' \
	"$TOP_SRCDIR/etc/tapnetd.conf" | awk '$1 == "S" { s = $2; next } { $1 = s; print }')
[ "$keys" -gt 0 ] || fail "no keys found in etc/tapnetd.conf"

# libtapnet(3): every function of <tapnet.h>, in NAME and in SYNOPSIS
lib3=$(text src/lib/libtapnet.3)
names=$(lexgrog "$TOP_BUILDDIR/src/lib/libtapnet.3")
funcs=$(grep -oE '^[a-z ]+\**(tapnet_[a-z0-9_]+)\(' "$TOP_SRCDIR/src/lib/tapnet.h" | grep -oE 'tapnet_[a-z0-9_]+')
[ -n "$funcs" ] || fail "no functions found in tapnet.h"
for f in $funcs; do
	printf '%s\n' "$names" | grep -q "\"$f - " || fail "libtapnet(3) does not name $f"
	printf '%s\n' "$lib3" | grep -qE "[ *]$f\(" || fail "libtapnet(3) has no synopsis for $f"
done
echo "man: 4 pages render cleanly; $(echo $commands | wc -w) commands, $keys keys, $(echo $funcs | wc -w) functions documented"
exit 0
