/*
 * trace_filter.h - the filters of `tapnet trace` and `tapnet capture`, in
 * tcpdump's words: "port 13", "host 10.0.0.1", "src port 80", "dst host
 * 10.0.0.2", joined by "and", "or" and "not" (not binds tightest, then and,
 * then or; no parentheses). No words: everything matches.
 */
#ifndef TAPNET_TRACE_FILTER_H
#define TAPNET_TRACE_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRACE_FILTER_MAX_TERMS 16
#define TRACE_FILTER_WORDS 64 /* words of a filter at most (a term takes 2 to 4) */

struct trace_term {
	bool negate;
	bool join_or;      /* this term starts a new "or" alternative */
	uint8_t what;      /* TERM_HOST, TERM_PORT */
	uint8_t dir;       /* TERM_EITHER, TERM_SRC, TERM_DST */
	uint32_t value;    /* address (host order) or port */
};

struct trace_filter {
	size_t n;
	struct trace_term term[TRACE_FILTER_MAX_TERMS];
};

/* Parses argv[0..argc); 0, or -1 with a message in err (errlen bytes). */
int trace_filter_parse(struct trace_filter *f, int argc, char **argv, char *err, size_t errlen);
/* Does a segment from saddr:sport to daddr:dport (host order) match? */
bool trace_filter_match(const struct trace_filter *f, uint32_t saddr, uint16_t sport,
			uint32_t daddr, uint16_t dport);

#endif
