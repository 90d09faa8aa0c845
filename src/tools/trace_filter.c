/*
 * trace_filter.c - tcpdump's words for `tapnet trace` and `tapnet capture`
 * (see trace_filter.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "tools/trace_filter.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TERM_HOST, TERM_PORT };
enum { TERM_EITHER, TERM_SRC, TERM_DST };

__attribute__((format(printf, 3, 4))) static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int trace_filter_parse(struct trace_filter *f, int argc, char **argv, char *err, size_t errlen)
{
	int i = 0;
	bool next_or = false;

	memset(f, 0, sizeof(*f));
	while (i < argc) {
		struct trace_term t = { .join_or = next_or };
		next_or = false;
		while (i < argc && strcmp(argv[i], "not") == 0) {
			t.negate = !t.negate;
			i++;
		}
		if (i < argc && (strcmp(argv[i], "src") == 0 || strcmp(argv[i], "dst") == 0)) {
			t.dir = argv[i][0] == 's' ? TERM_SRC : TERM_DST;
			i++;
		}
		if (i >= argc)
			return bad(err, errlen, "filter: a word is missing at the end");
		const char *kind = argv[i++];
		if (i >= argc)
			return bad(err, errlen, "filter: '%s' needs a value", kind);
		const char *value = argv[i++];
		if (strcmp(kind, "host") == 0) {
			struct in_addr a;
			if (inet_pton(AF_INET, value, &a) != 1)
				return bad(err, errlen, "filter: '%s' is not an IPv4 address", value);
			t.what = TERM_HOST;
			t.value = ntohl(a.s_addr);
		} else if (strcmp(kind, "port") == 0) {
			char *end;
			unsigned long p = strtoul(value, &end, 10);
			if (*end || !*value || p > 65535)
				return bad(err, errlen, "filter: '%s' is not a port (0..65535)", value);
			t.what = TERM_PORT;
			t.value = (uint32_t)p;
		} else {
			return bad(err, errlen, "filter: unknown word '%s' (host, port, src, dst, and, or, not)",
				   kind);
		}
		if (f->n == TRACE_FILTER_MAX_TERMS)
			return bad(err, errlen, "filter: more than %d terms", TRACE_FILTER_MAX_TERMS);
		f->term[f->n++] = t;
		if (i < argc) {
			if (strcmp(argv[i], "or") == 0)
				next_or = true;
			else if (strcmp(argv[i], "and") != 0)
				return bad(err, errlen, "filter: expected 'and' or 'or' before '%s'", argv[i]);
			i++;
			if (i == argc)
				return bad(err, errlen, "filter: '%s' at the end", argv[i - 1]);
		}
	}
	return 0;
}

static bool term_match(const struct trace_term *t, uint32_t saddr, uint16_t sport, uint32_t daddr,
		       uint16_t dport)
{
	uint32_t s = t->what == TERM_HOST ? saddr : sport;
	uint32_t d = t->what == TERM_HOST ? daddr : dport;
	bool m = (t->dir != TERM_DST && s == t->value) || (t->dir != TERM_SRC && d == t->value);
	return m != t->negate;
}

bool trace_filter_match(const struct trace_filter *f, uint32_t saddr, uint16_t sport,
			uint32_t daddr, uint16_t dport)
{
	if (f->n == 0)
		return true;
	bool alt = true; /* the "and" chain being evaluated */
	for (size_t i = 0; i < f->n; i++) {
		if (f->term[i].join_or) {
			if (alt)
				return true;
			alt = true;
		}
		alt = alt && term_match(&f->term[i], saddr, sport, daddr, dport);
	}
	return alt;
}
