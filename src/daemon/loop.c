/*
 * loop.c - the libev loop: tap frames in, the stack's one timer, signals,
 * the environment (clock, randomness, frame output) the stack runs in, and
 * the loop itself, busy polling while traffic flows (daemon_run).
 *
 * After every call into the stack (a batch of frames, a timer run, a
 * control request) the single ev_timer is pointed at the stack's next
 * deadline, so the stack never needs more than one timer from the loop.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "daemon.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <time.h>

#include "closer.h"
#include "control.h"
#include "cpus.h"
#include "sockets.h"
#include "trace.h"

static const char *const daemon_counter_names[DCTR__COUNT] = {
#define DAEMON_COUNTER_NAME(name) #name,
	DAEMON_COUNTERS(DAEMON_COUNTER_NAME)
#undef DAEMON_COUNTER_NAME
};

const char *daemon_counter_name(enum daemon_counter c)
{
	return (unsigned)c < DCTR__COUNT ? daemon_counter_names[c] : NULL;
}

uint64_t daemon_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * TN_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ configuration */

static void log_config_error(void *ctx, const char *line)
{
	log_error("%s", line);
}

unsigned daemon_read_config(const struct tapnetd *d, struct daemon_config *cfg)
{
	if (d->config_optional && access(d->config_path, F_OK) < 0 && errno == ENOENT) {
		log_notice("%s does not exist: using the built-in defaults", d->config_path);
		config_defaults(cfg);
		return 0;
	}
	unsigned errors = config_load(d->config_path, cfg, log_config_error, NULL);
	if (errors)
		log_error("%s: %u problem%s found", d->config_path, errors, errors == 1 ? "" : "s");
	return errors;
}

struct reload_diff {
	const struct daemon_config *fresh;
	const struct daemon_config *running; /* fresh, with what the stack kept in core */
	struct tapnetd *d;
	unsigned changes;
	bool limits_changed, services_changed;
};

static void log_applied(const struct daemon_config *was, const struct daemon_config *now,
			const char *section, const char *name)
{
	char a[32], b[32];

	config_key_format(was, section, name, a, sizeof(a));
	config_key_format(now, section, name, b, sizeof(b));
	if (a[0] && b[0])
		log_notice("[%s] %s changed from %s to %s", section, name, a, b);
	else
		log_notice("[%s] %s changed", section, name);
}

static void note_change(void *ctx, const char *section, const char *name)
{
	struct reload_diff *r = ctx;
	struct daemon_config *cfg = &r->d->cfg;
	const struct daemon_config *fresh = r->fresh;

	r->changes++;
	if (strcmp(section, "daemon") == 0 && strcmp(name, "log_level") == 0) {
		log_notice("log_level changed from %s to %s", log_level_name(cfg->log_level),
			   log_level_name(fresh->log_level));
		cfg->log_level = fresh->log_level;
		log_set_level(fresh->log_level);
		return;
	}
	/* the limits apply to what opens next: nothing open is closed */
	uint64_t was, now;
	if (config_reload_key(cfg, fresh, section, name, &was, &now)) {
		log_notice("%s changed from %llu to %llu", name, (unsigned long long)was,
			   (unsigned long long)now);
		r->limits_changed = true;
		return;
	}
	if (strcmp(section, "services") == 0) {
		log_applied(cfg, fresh, section, name);
		config_key_copy(cfg, fresh, section, name);
		r->services_changed = true;
		return;
	}
	/* the stack took it, unless it is fixed at creation (running shows which) */
	if (config_key_in_core(section, name) && config_key_same(r->running, fresh, section, name)) {
		log_applied(cfg, fresh, section, name);
		config_key_copy(cfg, fresh, section, name);
		return;
	}
	/* The tap, the addresses and privileges are set up once, before privileges are dropped. */
	log_notice("[%s] %s changed in %s; it takes effect when tapnetd is restarted",
		   section, name, r->d->config_path);
}

/*
 * SIGHUP: a file with any error is rejected whole and the running
 * configuration stays. Otherwise every key that can change at run time
 * does (log_level, the [daemon] limits, [services], and what the stack
 * takes: see tn_stack_reconfigure), and each other change is named in the
 * log as waiting for a restart.
 */
static void reload_config(struct tapnetd *d)
{
	struct daemon_config fresh, running;

	log_info("SIGHUP: reading %s", d->config_path);
	notify_reloading(&d->notify);
	if (daemon_read_config(d, &fresh) == 0) {
		running = fresh;
		const char *err = tn_stack_reconfigure(d->stack, &fresh.core, &running.core);
		if (err) {
			log_error("configuration not reloaded: %s; the running one stays in effect", err);
			notify_ready(&d->notify, "running");
			return;
		}
		struct reload_diff r = { .fresh = &fresh, .running = &running, .d = d };
		config_diff(&d->cfg, &fresh, note_change, &r);
		if (r.limits_changed)
			control_apply_limits(d->control);
		if (r.services_changed)
			services_reconfigure(d->services, &d->cfg.services);
		daemon_rearm_timer(d); /* new timeouts may move the stack's next deadline */
		if (r.changes == 0)
			log_info("configuration unchanged");
	} else {
		log_error("configuration not reloaded; the running one stays in effect");
	}
	notify_ready(&d->notify, "running");
}

/* ------------------------------------------------------------------ the stack's environment */

/*
 * While a frame from the tap is in the stack, the stack's clock is the
 * frame's arrival time, read once (as Linux stamps a segment once on
 * arrival); every other entry (timers, sockets, control) reads the clock.
 */
static uint64_t env_now_ns(void *ctx)
{
	const struct tapnetd *d = ctx;

	return d->frame_now_ns ? d->frame_now_ns : daemon_now_ns();
}

static void env_random(void *ctx, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* The stack's hash keys and ISNs must not be guessable: no fallback. */
			log_error("getrandom failed: %s", strerror(errno));
			abort();
		}
		p += n;
		len -= (size_t)n;
	}
}

/* A frame written to the tap (err 0), or lost (err: why), counted; tapdev's sent. */
static void tap_sent(void *ctx, size_t len, bool gso, int err)
{
	struct tapnetd *d = ctx;
	uint64_t suppressed;
	char note[64];

	if (!err) {
		DAEMON_COUNT(d, TapOutFrames, 1);
		DAEMON_COUNT(d, TapOutOctets, len);
		if (gso)
			DAEMON_COUNT(d, TapOutGsoFrames, 1);
		return;
	}
	if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
		DAEMON_COUNT(d, TapOutDrops, 1); /* like a full NIC queue: TCP will retransmit */
		return;
	}
	DAEMON_COUNT(d, TapOutErrors, 1);
	if (log_ratelimit_ok(&d->tap_error_log, &suppressed))
		log_warning("cannot write a frame to %s: %s%s", d->tap.name, strerror(err),
			    log_suppressed_note(suppressed, note));
}

/* The queued frames to the tap now (tapdev_flush), counted. */
static void tap_flush(struct tapnetd *d)
{
	tapdev_flush(&d->tap);
	d->counters[DCTR_TapOutBatches] = d->tap.out_batches;
	d->counters[DCTR_TapOutThreadBatches] = d->tap.out_thread_batches;
}

/* One frame to the tap, or to its queue; the end of the way out. */
static void tap_output(struct tapnetd *d, const struct tn_frame_meta *meta, const void *frame,
		       size_t len)
{
	int rc = tapdev_write(&d->tap, meta, frame, len);
	int err = rc < 0 ? errno : 0;
	if (rc >= 0 && trace_active(d->trace))
		trace_frame(d->trace, true, meta, frame, len); /* queued (1): traced while it is here */
	if (rc <= 0) /* queued: tapdev_flush tells tap_sent */
		tap_sent(d, len, meta->gso_type != TN_GSO_NONE, err);
}

static void env_output(void *ctx, const struct tn_frame_meta *meta, const void *frame, size_t len)
{
	struct tapnetd *d = ctx;

	if (d->fault)
		fault_frame(d->fault, FAULT_TX, daemon_now_ns(), meta, frame, len);
	else
		tap_output(d, meta, frame, len);
}

/*
 * A frame in pieces (its data still in the socket's send buffer): a large
 * one written as they are, a small one gathered into the write queue,
 * without the copy into one piece first. The fault injector and the
 * frame trace take frames in one piece.
 */
static bool env_output_iov(void *ctx, const struct tn_frame_meta *meta, const struct tn_iov *piece,
			   int n, size_t len)
{
	struct tapnetd *d = ctx;

	if (d->fault || trace_active(d->trace))
		return false;
	int rc = tapdev_write_pieces(&d->tap, meta, piece, n, len);
	if (rc <= 0) /* queued (1): tapdev_flush tells tap_sent */
		tap_sent(d, len, meta->gso_type != TN_GSO_NONE, rc < 0 ? errno : 0);
	return true;
}

/* Where the fault injector sends the frames it lets through. */
static void fault_deliver(void *ctx, enum fault_dir dir, const struct tn_frame_meta *meta,
			  const void *frame, size_t len)
{
	struct tapnetd *d = ctx;

	if (dir == FAULT_RX)
		tn_stack_input(d->stack, meta, frame, len);
	else
		tap_output(d, meta, frame, len);
}

int daemon_stack_create(struct tapnetd *d)
{
	const struct tn_env env = {
		.now_ns = env_now_ns,
		.random = env_random,
		.output = env_output,
		.output_iov = env_output_iov,
		.ctx = d,
	};

	d->cfg.core.offload = d->tap.offload; /* what the tap agreed to */
	d->stack = tn_stack_new(&d->cfg.core, &env);
	if (!d->stack) {
		const char *why = tn_config_check(&d->cfg.core);
		log_error("cannot create the stack: %s", why ? why : "out of memory");
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ watchers */

static void rearm_fault_timer(struct tapnetd *d)
{
	uint64_t deadline = fault_next_deadline(d->fault);

	if (deadline == d->fault_timer_at && (deadline == TN_TIME_NEVER || ev_is_active(&d->fault_timer)))
		return;
	ev_timer_stop(d->loop, &d->fault_timer);
	d->fault_timer_at = deadline;
	if (deadline == TN_TIME_NEVER)
		return;
	uint64_t now = daemon_now_ns();
	ev_now_update(d->loop);
	ev_timer_set(&d->fault_timer, deadline > now ? (ev_tstamp)(deadline - now) / 1e9 : 0., 0.);
	ev_timer_start(d->loop, &d->fault_timer);
}

void daemon_rearm_timer(struct tapnetd *d)
{
	if (d->fault)
		rearm_fault_timer(d);

	uint64_t deadline = tn_stack_next_deadline(d->stack);

	/*
	 * Armed for this deadline or an earlier one: left as it is. A later
	 * deadline (the retransmission timer pushed back by every ACK, a
	 * delayed ACK sent with data after all) lets the timer fire early,
	 * find nothing due and arm for the next one then, as Linux leaves its
	 * timers pending; re-arming on every pass cost two clock reads and
	 * two operations on libev's timer heap.
	 */
	if (ev_is_active(&d->stack_timer) ? d->stack_timer_at <= deadline : deadline == TN_TIME_NEVER)
		return;
	ev_timer_stop(d->loop, &d->stack_timer);
	d->stack_timer_at = deadline;
	if (deadline == TN_TIME_NEVER)
		return;

	uint64_t now = daemon_now_ns();
	ev_tstamp delay = deadline > now ? (ev_tstamp)(deadline - now) / 1e9 : 0.;
	/* libev counts from its cached loop time; refresh it so the timer is not early */
	ev_now_update(d->loop);
	ev_timer_set(&d->stack_timer, delay, 0.);
	ev_timer_start(d->loop, &d->stack_timer);
}

static void stack_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tapnetd *d = w->data;

	tn_stack_run_timers(d->stack, daemon_now_ns());
	daemon_rearm_timer(d);
}

static void fault_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tapnetd *d = w->data;

	d->fault_timer_at = TN_TIME_NEVER;
	fault_run(d->fault, daemon_now_ns());
	daemon_rearm_timer(d);
}

/*
 * The frames a wakeup that has made `reads` reads of `bytes` may still ask
 * a batch of reads for: what is left of TAPDEV_BATCH, and no more than
 * TAPDEV_BATCH_BYTES holds of frames as large as those so far; 0 when
 * either is spent.
 */
static unsigned budget_left(unsigned reads, size_t bytes)
{
	if (reads >= TAPDEV_BATCH || bytes >= TAPDEV_BATCH_BYTES)
		return 0;
	unsigned left = TAPDEV_BATCH - reads;
	size_t per_frame = reads ? bytes / reads : 0;
	if (per_frame && left > (TAPDEV_BATCH_BYTES - bytes) / per_frame + 1)
		left = (unsigned)((TAPDEV_BATCH_BYTES - bytes) / per_frame + 1);
	return left;
}

/*
 * The end of a batch of input: its peer data goes to the clients first,
 * then the ACKs the batch deferred, one per connection, with the window
 * those reads opened (and no separate window update for them); then its
 * answers (ACKs, data its ACKs let go) to the tap at once.
 */
static void input_batch_end(struct tapnetd *d)
{
	if (d->sockets)
		sockets_pass_pending(d->sockets);
	tn_stack_batch_end(d->stack);
	tap_flush(d);
}

static void tap_readable_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tapnetd *d = w->data;
	struct tn_frame_meta meta;
	const uint8_t *frame;
	uint64_t suppressed;
	char note[64];

	DAEMON_COUNT(d, TapInPolls, 1);
	daemon_note_io(d);
	tn_stack_batch_begin(d->stack);
	/*
	 * Up to TAPDEV_BATCH frames and TAPDEV_BATCH_BYTES, and what a batch of
	 * reads took in before (or the budget, or an error, ended the run).
	 */
	size_t bytes = 0;
	unsigned want;
	for (unsigned i = 0; (want = budget_left(i, bytes)) || tapdev_read_pending(&d->tap); i++) {
		ssize_t n = tapdev_read(&d->tap, &meta, &frame, want ? want : 1);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EBADFD) { /* the interface was deleted under us */
				log_error("%s is gone: %s; stopping", d->tap.name, strerror(errno));
				d->exit_status = 1;
				tn_stack_batch_end(d->stack);
				daemon_break_loop(d);
				return;
			}
			DAEMON_COUNT(d, TapReadErrors, 1);
			if (log_ratelimit_ok(&d->tap_error_log, &suppressed))
				log_warning("cannot read from %s: %s%s", d->tap.name, strerror(errno),
					    log_suppressed_note(suppressed, note));
			if (tapdev_read_pending(&d->tap))
				continue;
			break;
		}
		bytes += (size_t)n;
		DAEMON_COUNT(d, TapInFrames, 1);
		DAEMON_COUNT(d, TapInOctets, (uint64_t)n);
		if (meta.gso_type != TN_GSO_NONE)
			DAEMON_COUNT(d, TapInGsoFrames, 1);
		if (trace_active(d->trace))
			trace_frame(d->trace, false, &meta, frame, (size_t)n);
		d->frame_now_ns = daemon_now_ns();
		if (d->fault)
			fault_frame(d->fault, FAULT_RX, d->frame_now_ns, &meta, frame, (size_t)n);
		else
			tn_stack_input(d->stack, &meta, frame, (size_t)n);
		d->frame_now_ns = 0;
		/*
		 * A lone frame (the run before was one frame too: a ping, a
		 * request, a SYN) is answered before the read that finds the
		 * tap's queue empty, as a program that only answers pings
		 * does (bench/tap_echo): its batch ends here, and a frame that
		 * comes after all begins another.
		 */
		if (i == 0 && tapdev_lone_frame(&d->tap)) {
			input_batch_end(d);
			tn_stack_batch_begin(d->stack);
		}
	}
	d->counters[DCTR_TapInBadHeaders] = d->tap.bad_vnet_hdr;
	d->counters[DCTR_TapInBatches] = d->tap.in_batches;
	input_batch_end(d);
	daemon_rearm_timer(d);
}

/*
 * Before the loop waits (and between busy polls): the frames the pass
 * queued go to the tap in one batch, what it handed to the closer to its
 * threads (one wakeup).
 */
static void closer_prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	tap_flush(w->data);
	closer_flush();
}

static void stop_signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	log_notice("%s: stopping", strsignal(w->signum));
	daemon_break_loop(w->data);
}

static void hup_signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	reload_config(w->data);
}

_Static_assert(DCTR_FaultHeld - DCTR_FaultRxDrops == FAULT_CTR_FaultHeld,
	       "the fault injector counts in one block of the daemon's counters");

/* [debug] faults on the tap: said loudly, since no real service should run with them. */
static void start_faults(struct tapnetd *d)
{
	struct fault_config cfg = d->cfg.fault;
	char what[512];

	if (!fault_config_active(&cfg))
		return;
	while (cfg.seed == 0)
		env_random(d, &cfg.seed, sizeof(cfg.seed));
	d->fault = fault_new(&cfg, fault_deliver, d, &d->counters[DCTR_FaultRxDrops]);
	if (!d->fault) {
		log_error("FAULT INJECTION not started: out of memory");
		return;
	}
	fault_describe(&cfg, what, sizeof(what));
	log_warning("FAULT INJECTION ON ([debug] in the configuration; for tests, never in service): "
		    "frames on %s are damaged on purpose: %s", d->tap.name, what);
}

void daemon_loop_start(struct tapnetd *d)
{
	ev_io_init(&d->tap_watcher, tap_readable_cb, d->tap.fd, EV_READ);
	ev_timer_init(&d->stack_timer, stack_timer_cb, 0., 0.);
	ev_signal_init(&d->sig_int, stop_signal_cb, SIGINT);
	ev_signal_init(&d->sig_term, stop_signal_cb, SIGTERM);
	ev_signal_init(&d->sig_hup, hup_signal_cb, SIGHUP);
	d->tap_watcher.data = d->stack_timer.data = d;
	d->sig_int.data = d->sig_term.data = d->sig_hup.data = d;
	d->busy_poll_us = d->cfg.busy_poll_us;
	if (d->busy_poll_us) {
		int affinity = cpus_affinity(), quota = cpus_quota();
		if (affinity < 2 || (quota && quota < 2)) {
			/* polling would take the CPU from the programs that make the traffic */
			if (quota)
				log_info("busy_poll off: %d CPU(s) in the affinity, a cgroup CPU quota of %d",
					 affinity, quota);
			else
				log_info("busy_poll off: %d CPU in the affinity, no cgroup CPU quota",
					 affinity);
			d->busy_poll_us = 0;
		}
	}
	d->stack_timer_at = TN_TIME_NEVER;
	ev_timer_init(&d->fault_timer, fault_timer_cb, 0., 0.);
	d->fault_timer.data = d;
	d->fault_timer_at = TN_TIME_NEVER;
	start_faults(d);
	d->tap_error_log = (struct log_ratelimit)LOG_RATELIMIT_INIT(10, 3);

	if ((d->cfg.batch_writes || d->cfg.batch_reads) && !d->tap.ring) {
		if (tapdev_batch_open(&d->tap, d->cfg.batch_writes, d->cfg.batch_reads, tap_sent, d) == 0) {
			const char *batched = "written";
			if (tapdev_read_batches(&d->tap))
				batched = d->cfg.batch_writes ? "read and written" : "read";
			log_info("%s: frames %s in batches (io_uring)", d->tap.name, batched);
			if (d->cfg.batch_writes && d->cfg.write_thread) {
				if (tapdev_write_thread_start(&d->tap) == 0)
					log_info("%s: runs of frames written by a thread of their own",
						 d->tap.name);
				else
					log_warning("%s: no write thread: %s; the loop writes every frame",
						    d->tap.name, strerror(errno));
			}
		} else {
			/* no io_uring (ENOSYS, EPERM), or reads alone asked and not offered */
			log_info("%s: frames read and written one at a time (io_uring: %s)", d->tap.name,
				 strerror(errno));
		}
	}
	ev_prepare_init(&d->closer_prepare, closer_prepare_cb);
	d->closer_prepare.data = d;
	/*
	 * Last of the prepare watchers, whatever the order they were started
	 * in (libev runs those of one priority last-started first): what the
	 * others do before the loop waits (pend_cb passing peer data on, which
	 * may send window updates and close pairs) must reach the tap and the
	 * closer before the wait, not after the next wakeup.
	 */
	ev_set_priority(&d->closer_prepare, EV_MINPRI);
	ev_prepare_start(d->loop, &d->closer_prepare);
	ev_io_start(d->loop, &d->tap_watcher);
	if (tapdev_read_pending(&d->tap)) /* the probe of batched reads found a frame */
		ev_feed_event(d->loop, &d->tap_watcher, EV_READ);
	ev_signal_start(d->loop, &d->sig_int);
	ev_signal_start(d->loop, &d->sig_term);
	ev_signal_start(d->loop, &d->sig_hup);

	tn_stack_start(d->stack);
	daemon_rearm_timer(d);
}

void daemon_break_loop(struct tapnetd *d)
{
	d->loop_stopping = true;
	ev_break(d->loop, EVBREAK_ALL);
}

/*
 * Busy polling, as Linux's net.core.busy_poll does for a socket: after a
 * pass that had I/O, tapnetd keeps polling (passes that do not wait) for
 * up to busy_poll microseconds before it sleeps in epoll_wait. While
 * traffic flows, tapnetd is then awake when the next frame or client write
 * comes: the writer (a kernel sender writing to tap0, a client writing to
 * its socket pair) does not have to wake it, which costs both sides a
 * scheduler round and, in a virtual machine, an inter-processor interrupt
 * and the wakeup of a halted virtual CPU: on a two-CPU virtual machine
 * most of tapnetd's time with one redis-benchmark connection went to
 * sleeping and waking twice per request.
 *
 * Adaptive, as KVM's halt polling is: a poll that found nothing before
 * sleeping is not tried again until two wakeups come within busy_poll of
 * each other, so traffic that comes further apart than that (a ping every
 * 10 ms, an idle daemon) costs no polling at all. A pass that found
 * nothing yields the CPU (sched_yield), so that a program runnable on it
 * (often the one that will make the next request) runs first. With one
 * CPU polling would only take time from the programs that make the
 * traffic: off.
 *
 * The default, 200 us (KVM's halt_poll_ns default too), is about two of
 * a request's turns through a local program and the kernel here. On two
 * CPUs (bench/servers, two alternating rounds, 0 against 200): redis with
 * one connection 4 500-6 100 -> 15 400-16 000 requests/s (0.45 -> 1.2-1.7
 * of the kernel), and less CPU per request (135-180 -> 87-93 us, sleeping
 * and waking cost more than polling); the other rows and iperf3 both ways
 * (bench/rpc) within their spread; a ping every 10 ms unchanged.
 *
 * The limit, 1 s, lets a site trade a CPU for the shortest round trips:
 * busy_poll above the gaps in its traffic keeps tapnetd polling while the
 * traffic lasts (bench/ping-rtt, a ping every 10 ms: about +30 us over a
 * veth with 200, +6 to +7 with 20000, and a CPU busy meanwhile).
 */
void daemon_run(struct tapnetd *d)
{
	uint64_t poll_ns = (uint64_t)d->busy_poll_us * 1000;
	bool poll = true;

	d->loop_stopping = false;
	if (!poll_ns) {
		while (!d->loop_stopping) {
			control_rings_sleep(d->control);
			if (!ev_run(d->loop, EVRUN_ONCE))
				return;
		}
		return;
	}
	while (!d->loop_stopping) {
		uint64_t seen = d->io_wakeups, quiet_since = daemon_now_ns();
		while (poll && !d->loop_stopping) {
			if (!ev_run(d->loop, EVRUN_NOWAIT))
				return; /* no watcher left */
			tap_flush(d); /* the pass's frames, before a yield can delay them */
			uint64_t now = daemon_now_ns();
			if (d->io_wakeups != seen) {
				seen = d->io_wakeups;
				quiet_since = now;
			} else if (now - quiet_since >= poll_ns) {
				break;
			} else {
				sched_yield(); /* nothing yet: a runnable program goes first */
			}
		}
		if (d->loop_stopping)
			return;
		control_rings_sleep(d->control); /* the next pass may wait */
		if (!ev_run(d->loop, EVRUN_ONCE))
			return;
		/* poll next time if what woke us came soon enough to be caught */
		poll = d->io_wakeups != seen && daemon_now_ns() - quiet_since <= poll_ns;
	}
}

void daemon_loop_stop(struct tapnetd *d)
{
	ev_prepare_stop(d->loop, &d->closer_prepare);
	closer_flush();
	ev_io_stop(d->loop, &d->tap_watcher);
	ev_timer_stop(d->loop, &d->stack_timer);
	ev_timer_stop(d->loop, &d->fault_timer);
	fault_free(d->fault);
	d->fault = NULL;
	ev_signal_stop(d->loop, &d->sig_int);
	ev_signal_stop(d->loop, &d->sig_term);
	ev_signal_stop(d->loop, &d->sig_hup);
}
