/*
 * cpus.c - how many CPUs tapnetd may use (see cpus.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cpus.h"

#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first line of a small file, without its newline; false when it cannot be read. */
static bool read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool ok = fgets(buf, (int)size, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

/* Parses a whole decimal number (a leading '-' allowed); false for anything else. */
static bool parse_long(const char *s, long long *v)
{
	char *end;
	if (!*s)
		return false;
	*v = strtoll(s, &end, 10);
	return *end == '\0';
}

/* The quota of one group directory in CPUs (a fraction), or 0 for none. */
static double group_quota(const char *dir, bool v2)
{
	char path[PATH_MAX], line[128];
	long long quota, period;

	if (v2) {
		if (snprintf(path, sizeof(path), "%s/cpu.max", dir) >= (int)sizeof(path) ||
		    !read_line(path, line, sizeof(line)))
			return 0;
		char *sep = strchr(line, ' ');
		if (!sep)
			return 0;
		*sep = '\0';
		if (!strcmp(line, "max") || !parse_long(line, &quota) || !parse_long(sep + 1, &period))
			return 0;
	} else {
		if (snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", dir) >= (int)sizeof(path) ||
		    !read_line(path, line, sizeof(line)) || !parse_long(line, &quota))
			return 0;
		if (snprintf(path, sizeof(path), "%s/cpu.cfs_period_us", dir) >= (int)sizeof(path) ||
		    !read_line(path, line, sizeof(line)) || !parse_long(line, &period))
			return 0;
	}
	if (quota <= 0 || period <= 0)
		return 0; /* -1 (v1) or nonsense: no quota */
	return (double)quota / (double)period;
}

/* The tightest quota of the group at mount/path and its ancestors, or 0. */
static double path_quota(const char *mount, const char *path, bool v2)
{
	char dir[PATH_MAX];
	double tightest = 0;

	if (snprintf(dir, sizeof(dir), "%s%s", mount, path) >= (int)sizeof(dir))
		return 0;
	size_t floor_len = strlen(mount);
	for (;;) {
		double q = group_quota(dir, v2);
		if (q > 0 && (tightest == 0 || q < tightest))
			tightest = q;
		char *slash = strrchr(dir, '/');
		if (!slash || (size_t)(slash - dir) < floor_len)
			break;
		*slash = '\0'; /* the parent group */
	}
	return tightest;
}

/* Does a v1 controller list ("cpu,cpuacct") name the cpu controller? */
static bool names_cpu(const char *list, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t n = strcspn(list + i, ",:");
		if (n == 3 && !strncmp(list + i, "cpu", 3))
			return true;
		i += n + 1;
	}
	return false;
}

int cpus_cgroup_limit(const char *proc_cgroup, const char *fs_root)
{
	double tightest = 0;
	const char *line = proc_cgroup;

	while (line && *line) {
		const char *next = strchr(line, '\n');
		size_t len = next ? (size_t)(next - line) : strlen(line);
		char buf[PATH_MAX + 64];
		if (len < sizeof(buf)) {
			memcpy(buf, line, len);
			buf[len] = '\0';
			/* hierarchy-ID:controller-list:cgroup-path */
			char *c1 = strchr(buf, ':');
			char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
			if (c2 && c2[1] == '/') {
				char mount[PATH_MAX];
				double q = 0;
				const char *list = c1 + 1;
				size_t list_len = (size_t)(c2 - list);
				if (!strncmp(buf, "0:", 2) && list_len == 0) {
					q = path_quota(fs_root, c2 + 1, true);
				} else if (names_cpu(list, list_len)) {
					/* mounted as cpu, or under the list's own name (cpu,cpuacct) */
					if (snprintf(mount, sizeof(mount), "%s/cpu", fs_root) < (int)sizeof(mount))
						q = path_quota(mount, c2 + 1, false);
					if (!q && snprintf(mount, sizeof(mount), "%s/%.*s", fs_root,
							   (int)list_len, list) < (int)sizeof(mount))
						q = path_quota(mount, c2 + 1, false);
				}
				if (q > 0 && (tightest == 0 || q < tightest))
					tightest = q;
			}
		}
		line = next ? next + 1 : NULL;
	}
	if (tightest <= 0)
		return 0;
	return tightest < 1 ? 1 : (int)tightest;
}

int cpus_affinity(void)
{
	cpu_set_t set;
	int n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
	return n > 0 ? n : 1;
}

int cpus_quota(void)
{
	char text[4096];
	FILE *f = fopen("/proc/self/cgroup", "re");

	if (!f)
		return 0;
	size_t got = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[got] = '\0';
	return cpus_cgroup_limit(text, "/sys/fs/cgroup");
}
