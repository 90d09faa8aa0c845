# bench/lib.sh - what the benchmarks share (sourced, after tests/integration/lib.sh).

# median FORMAT VALUES...: the middle value (the mean of the two middle ones
# for an even count), printed with FORMAT (%.0f, %.2f, ...).
median() {
	local fmt=$1
	shift
	printf '%s\n' "$@" | sort -g | awk -v fmt="$fmt" '{ v[NR] = $1 }
		END { if (NR % 2) printf fmt, v[(NR + 1) / 2]; else printf fmt, (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
