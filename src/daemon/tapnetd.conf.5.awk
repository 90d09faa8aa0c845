# tapnetd.conf.5.awk - makes the tapnetd.conf(5) manual page from
# etc/tapnetd.conf, whose comments document every key with its default (and
# which check_config.c holds to the daemon's key table): the page cannot
# miss a key or disagree on a default.
#
#   awk -v version=VERSION -v sysconfdir=DIR -f tapnetd.conf.5.awk etc/tapnetd.conf
#
# The file's layout: a header of comment paragraphs; then "[section]"
# lines, each followed by blocks of comment lines that end in one or more
# "#key = default" lines.

function roff(s) {
	gsub(/\\/, "\\e", s)
	gsub(/-/, "\\-", s)
	sub(/^[.']/, "\\\\\\&&", s)
	return s
}
function flush_text(   i) {
	for (i = 1; i <= ntext; i++)
		print roff(text[i])
	ntext = 0
}
function flush_keys(   i) {
	if (nkeys == 0)
		return
	for (i = 1; i <= nkeys; i++) {
		print (i == 1 ? ".TP" : ".TQ")
		print "\\fB" roff(key[i]) "\\fR = " (def[i] == "" ? "\\fI(empty)\\fR" : "\\fI" roff(def[i]) "\\fR")
	}
	flush_text()
	nkeys = 0
}

BEGIN {
	print ".\\\" Made from etc/tapnetd.conf by tapnetd.conf.5.awk; edit those, not this."
	print ".TH TAPNETD.CONF 5 \"\" \"tapnet " version "\" \"File Formats\""
	print ".SH NAME"
	print "tapnetd.conf \\- configuration of tapnetd, the tapnet TCP/IP stack daemon"
	print ".SH SYNOPSIS"
	print ".I " roff(sysconfdir) "/tapnet/tapnetd.conf"
	print ".SH DESCRIPTION"
	header = 1
}

/^\[[a-z0-9_]+\]$/ {
	if (header) {
		flush_text()
		print ".SH KEYS"
		print "Each key with its default; an empty file gives exactly these values."
		header = 0
	}
	flush_keys()
	flush_text()
	print ".SS " $0
	next
}

header && /^#/ {
	line = $0
	sub(/^# ?/, "", line)
	if (line ~ /^tapnetd\.conf - /)
		next
	if (line == "") {
		if (ntext) {
			flush_text()
			print ".PP"
		}
		next
	}
	text[++ntext] = line
	next
}

/^#[a-z_]+ =/ {
	line = substr($0, 2)
	k = line
	sub(/ =.*/, "", k)
	d = line
	sub(/^[a-z_]+ =[ ]*/, "", d)
	key[++nkeys] = k
	def[nkeys] = d
	next
}

/^#/ {
	if (nkeys)
		flush_keys()
	line = $0
	sub(/^# ?/, "", line)
	text[++ntext] = line
	next
}

/^$/ {
	flush_keys()
	next
}

END {
	flush_keys()
	flush_text()
	print ".SH FILES"
	print ".TP"
	print ".I " roff(sysconfdir) "/tapnet/tapnetd.conf"
	print "the default configuration file (\\fBtapnetd \\-c\\fR names another)"
	print ".SH SEE ALSO"
	print ".BR tapnetd (8),"
	print ".BR tapnet (1),"
	print ".BR libtapnet (3)"
}
