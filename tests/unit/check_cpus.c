/*
 * check_cpus.c - the CPU quota of tapnetd's control group (src/daemon/cpus.c),
 * read from a made-up /sys/fs/cgroup in a temporary directory: cgroup v2's
 * cpu.max and v1's cfs files, of the group and its ancestors, the tightest
 * winning; no quota, "max", -1 and malformed files mean none.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/cpus.h"

static char root[] = "/tmp/check_cpus.XXXXXX";

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(root));
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(root, "/tmp/check_cpus.XXXXXX");
}

/* Writes text to root/rel, making its directories. */
static void put(const char *rel, const char *text)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(v2_the_tightest_on_the_path)
{
	const char *self = "0::/system.slice/tapnetd.service\n";
	ck_assert_int_eq(cpus_cgroup_limit(self, root), 0); /* no files: no quota */
	put("system.slice/tapnetd.service/cpu.max", "max 100000\n");
	ck_assert_int_eq(cpus_cgroup_limit(self, root), 0);
	put("system.slice/cpu.max", "350000 100000\n");
	ck_assert_int_eq(cpus_cgroup_limit(self, root), 3); /* an ancestor's, rounded down */
	put("system.slice/tapnetd.service/cpu.max", "50000 100000\n");
	ck_assert_int_eq(cpus_cgroup_limit(self, root), 1); /* half a CPU: one, not zero */
	/* a container's own namespace: the group is the root */
	put("cpu.max", "150000 100000\n");
	ck_assert_int_eq(cpus_cgroup_limit("0::/\n", root), 1);
}
END_TEST

START_TEST(v1_cpu_controller_under_either_name)
{
	const char *self = "12:memory:/x\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n";
	ck_assert_int_eq(cpus_cgroup_limit(self, root), 0);
	put("cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "-1\n");
	put("cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
	ck_assert_int_eq(cpus_cgroup_limit(self, root), 0); /* -1: none */
	put("cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "100000\n");
	ck_assert_int_eq(cpus_cgroup_limit(self, root), 1);
	/* mounted as "cpu" (a symlink on most systems): found there first */
	put("cpu/docker/abc/cpu.cfs_quota_us", "400000\n");
	put("cpu/docker/abc/cpu.cfs_period_us", "100000\n");
	ck_assert_int_eq(cpus_cgroup_limit(self, root), 4);
	/* cpuacct alone is not the cpu controller */
	ck_assert_int_eq(cpus_cgroup_limit("3:cpuacct:/docker/abc\n", root), 0);
}
END_TEST

START_TEST(malformed_means_no_quota)
{
	const char *self = "0::/g\n";
	const char *bad[] = { "", "100000", "abc 100000", "100000 0", "0 100000", "-5 100000",
			      "100000 100000x", " 100000 100000" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put("g/cpu.max", bad[i]);
		ck_assert_msg(cpus_cgroup_limit(self, root) == 0, "cpu.max \"%s\"", bad[i]);
	}
	/* lines that are not hierarchy:controllers:/path */
	ck_assert_int_eq(cpus_cgroup_limit("", root), 0);
	ck_assert_int_eq(cpus_cgroup_limit("garbage\n0:\n::\n0::relative\n", root), 0);
	ck_assert_int_ge(cpus_affinity(), 1);
	ck_assert_int_ge(cpus_quota(), 0);
}
END_TEST

static Suite *cpus_suite(void)
{
	Suite *s = suite_create("cpus");
	TCase *tc = tcase_create("cgroup");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, v2_the_tightest_on_the_path);
	tcase_add_test(tc, v1_cpu_controller_under_either_name);
	tcase_add_test(tc, malformed_means_no_quota);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cpus_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
