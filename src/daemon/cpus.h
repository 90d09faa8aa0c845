/*
 * cpus.h - how many CPUs tapnetd may use: its affinity, and the CPU quota
 * of its control group (a container started with --cpus=1, a unit with
 * CPUQuota=100%), which the affinity does not show. Busy polling is off
 * below two of either (loop.c): a poll under a quota of one CPU would
 * spend the quota the programs need, and a throttled cgroup stalls for
 * whole periods.
 */
#ifndef TAPNET_CPUS_H
#define TAPNET_CPUS_H

/* CPUs in this process's affinity mask, at least 1. */
int cpus_affinity(void);

/*
 * The CPU quota of this process's control group (cpus_cgroup_limit), 0
 * for none. Also 0 where /sys/fs/cgroup is not mounted: `ip netns exec`
 * mounts a fresh /sys without the cgroup file systems.
 */
int cpus_quota(void);

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
