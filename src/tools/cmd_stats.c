/* cmd_stats.c - `tapnet stats`: counters, nstat style. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "tools/cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- stats */

struct counter {
	char name[STR_MAX];
	uint64_t value;
};

struct counter_list {
	struct counter *v;
	size_t n, cap;
};

static bool decode_counter(const struct tn_rpc_attr_view *nest, struct counter *ctr)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	bool have_name = false, have_value = false;

	tn_rpc_iter_nest(&it, nest);
	while (tn_rpc_next(&it, &a)) {
		if (a.type == TN_ATTR_NAME) {
			if (!tn_rpc_get_str(&a, ctr->name, sizeof(ctr->name)))
				return false;
			have_name = true;
		} else if (a.type == TN_ATTR_VALUE) {
			if (!tn_rpc_get_u64(&a, &ctr->value))
				return false;
			have_value = true;
		}
	}
	return !it.bad && have_name && have_value;
}

static bool counter_list_grow(struct counter_list *list)
{
	if (list->n < list->cap)
		return true;
	size_t cap = list->cap ? list->cap * 2 : 64;
	struct counter *v = realloc(list->v, cap * sizeof(*v));

	if (v == NULL)
		return false;
	list->v = v;
	list->cap = cap;
	return true;
}

static int decode_stats(const struct cli *cli, struct counter_list *list)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;

	tn_rpc_iter_msg(&it, cli->reply, cli->reply_len);
	while (tn_rpc_next(&it, &a)) {
		if (a.type != TN_ATTR_COUNTER)
			continue;
		if (!counter_list_grow(list))
			return fail("out of memory");
		if (!decode_counter(&a, &list->v[list->n]))
			return malformed("bad COUNTER in STATS");
		list->n++;
	}
	return it.bad ? malformed("bad STATS") : EXIT_SUCCESS;
}

/* Like `nstat`: name and value, zero counters only with -a. */
static void print_counters_text(const struct counter_list *list, bool all)
{
	for (size_t i = 0; i < list->n; i++)
		if (all || list->v[i].value != 0)
			printf("%-31s %" PRIu64 "\n", list->v[i].name, list->v[i].value);
}

/* One object, every counter: programs should not have to guess at zeros. */
static void print_counters_json(const struct counter_list *list)
{
	putchar('{');
	for (size_t i = 0; i < list->n; i++) {
		if (i > 0)
			fputs(", ", stdout);
		json_string(list->v[i].name);
		printf(": %" PRIu64, list->v[i].value);
	}
	puts("}");
}

int cmd_stats(struct cli *cli, const struct cmd_options *opt)
{
	struct counter_list list = { 0 };
	int rc;

	if ((rc = cli_connect(cli)) != EXIT_SUCCESS)
		return rc;
	if ((rc = call(cli, TN_RPC_STATS, NULL, NULL)) != EXIT_SUCCESS)
		return rc;
	rc = decode_stats(cli, &list);
	if (rc == EXIT_SUCCESS) {
		if (opt->json)
			print_counters_json(&list);
		else
			print_counters_text(&list, opt->all);
	}
	free(list.v);
	return rc;
}
