#!/bin/bash
# readme_config.sh - README.md's configuration tables list exactly the keys of
# etc/tapnetd.conf, section by section, with the same defaults.
set -u
: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"

# "section key default" per line (a default may be several words); an empty one is "-".
from_conf() {
	sed -n -e 's/^\[\([a-z0-9_]*\)\]$/S \1/p' -e 's/^#\([a-z_]*\) =[ ]*\(.*\)$/K \1 \2/p' \
		"$TOP_SRCDIR/etc/tapnetd.conf" |
		awk '$1 == "S" { s = $2; next }
		     { k = $2; $1 = $2 = ""; d = substr($0, 3); print s, k, (d == "" ? "-" : d) }'
}
from_readme() {
	awk '/^### \[[a-z0-9_]*\]$/ { s = substr($2, 2, length($2) - 2); next }
	     /^## / { s = "" }
	     s != "" && /^\| `[a-z_]*` \|/ {
		split($0, c, "|")
		k = c[2]; d = c[3]
		gsub(/[ `]/, "", k); gsub(/^ +| +$/, "", d)
		if (d == "*(empty)*") d = "-"; else gsub(/`/, "", d)
		print s, k, d
	     }' "$TOP_SRCDIR/README.md"
}

conf=$(from_conf)
readme=$(from_readme)
[ -n "$conf" ] || { echo "readme_config: no keys found in etc/tapnetd.conf" >&2; exit 1; }
if [ "$conf" != "$readme" ]; then
	echo "readme_config: README.md's configuration tables and etc/tapnetd.conf differ" >&2
	echo "(< etc/tapnetd.conf, > README.md; section key default):" >&2
	diff <(printf '%s\n' "$conf") <(printf '%s\n' "$readme") >&2
	exit 1
fi
echo "readme_config: $(printf '%s\n' "$conf" | wc -l) keys, the same in README.md and etc/tapnetd.conf"
exit 0
