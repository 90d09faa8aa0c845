/*
 * cpus.h - how many CPUs tapnetd may use: its affinity, and the CPU quota
 * of its control group (a container started with --cpus=1, a unit with
 * CPUQuota=100%), which the affinity does not show. Busy polling is off
 * below two (loop.c): a poll under a quota of one CPU would spend the
 * quota the programs need, and a throttled cgroup stalls for whole
 * periods.
 */
#ifndef TAPNET_CPUS_H
#define TAPNET_CPUS_H

/* CPUs this process may use, at least 1. */
int cpus_usable(void);

/*
 * The tightest CPU quota on the path of the control group named in
 * proc_cgroup (the text of /proc/self/cgroup), read under fs_root
 * (/sys/fs/cgroup): cgroup v2's cpu.max ("max" or "QUOTA PERIOD") or v1's
 * cpu.cfs_quota_us and cpu.cfs_period_us, of the group and each of its
 * ancestors. Returns the quota in CPUs, rounded down, at least 1; 0 when
 * there is none (or it cannot be read).
 */
int cpus_cgroup_limit(const char *proc_cgroup, const char *fs_root);

#endif
