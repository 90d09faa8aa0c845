/*
 * daemon.h - tapnetd's state, shared by main.c, loop.c and control.c.
 *
 * One struct tapnetd holds everything the process owns: the libev loop,
 * the configuration, the tap, the stack, the control socket and the
 * daemon's own counters. Frames go one way through it:
 * tap fd -> loop.c -> tn_stack_input() -> env output -> tap fd.
 */
#ifndef TAPNETD_DAEMON_H
#define TAPNETD_DAEMON_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "daemon_config.h"
#include "fault.h"
#include "log.h"
#include "notify.h"
#include "privs.h"
#include "stack/stack.h"
#include "tapdev.h"

/*
 * The daemon's counters, nstat-style, listed after the core's in
 * `tapnet stats`. CtlClients, SockOpen, SockBufferBytes and CloserBusy are gauges
 * (what is open or reserved now), like TcpCurrEstab; everything else only
 * grows.
 */
#define DAEMON_COUNTERS(X)                                                     \
	X(TapInFrames)                                                         \
	X(TapInOctets)                                                         \
	X(TapReadErrors)                                                       \
	X(TapInPolls)       /* readable wakeups of the tap: batches of TapInFrames */ \
	X(TapInGsoFrames)   /* of TapInFrames: TSO runs of segments */        \
	X(TapInBadHeaders)  /* virtio-net header not understood: dropped */   \
	X(TapOutFrames)                                                        \
	X(TapOutOctets)                                                        \
	X(TapOutGsoFrames)  /* of TapOutFrames: TSO runs of segments */       \
	X(TapOutDrops)      /* the kernel's queue was full */                  \
	X(TapOutErrors)                                                        \
	X(TapOutBatches)    /* io_uring_enter calls that wrote 2+ queued frames (not failed ones) */ \
	X(TapOutThreadBatches) /* of those, the write thread's ([interface] write_thread) */ \
	X(TapInBatches)     /* io_uring_enter calls that read up to TAPDEV_RXQ frames (not failed ones) */ \
	X(CtlAccepts)                                                          \
	X(CtlRejects)       /* over max_clients */                             \
	X(CtlClients)                                                          \
	X(CtlRequests)                                                         \
	X(CtlRingRequests)  /* SETSOCKOPT_NOWAIT read from clients' option rings */ \
	X(CtlRingWakeups)   /* OPTION_RING_WAKE: a client woke the daemon to read its ring */ \
	X(CtlBadMessages)   /* malformed input: connection closed */           \
	X(CtlSlowClients)   /* never read their replies: connection closed */ \
	X(SockOpen)         /* tapnet sockets of clients open now */         \
	X(SockRefusals)     /* over max_sockets(_per_client) */              \
	X(SockBufferBytes)  /* buffer space their connections reserve now */ \
	X(SockBufferRefusals) /* connections over max_buffer_bytes(_per_client) */ \
	X(SockAcceptWaits)  /* accepts that had to wait for a socket slot */  \
	X(CtlFdsRefused)    /* fds clients passed that name none of their sockets */ \
	X(SockOptNowaitErrors) /* setsockopt sent without waiting that failed: logged */ \
	X(SockPairReads)    /* reads of a program's bytes from its socket pairs */ \
	X(SockPairEmptyReads) /* reads that found a pair empty (EAGAIN) */ \
	X(SockPairDeliveries) /* peer segments sent to a pair straight from the tap */ \
	X(SockPairOutOctets) /* peer bytes written into programs' socket pairs */ \
	X(SockPairDeliveredOctets) /* of those, bytes straight from the frame (no ring copy) */ \
	X(CtlIdleCloses)    /* connections closed after client_idle_timeout */ \
	X(CloserBusy)       /* closes of client-touched fds not returned yet */ \
	X(TraceSubscribers) /* TRACE connections now (tapnet trace, capture) */ \
	X(TraceEvents)      /* events queued for them */                     \
	X(TraceEventsLost)  /* events a slow reader's full buffer dropped */ \
	SERVICES_COUNTERS(X) /* the built-in services (services.h) */ \
	FAULT_COUNTERS(X)    /* [debug] fault injection on the tap (fault.h) */

enum daemon_counter {
#define DAEMON_COUNTER_ENUM(name) DCTR_##name,
	DAEMON_COUNTERS(DAEMON_COUNTER_ENUM)
#undef DAEMON_COUNTER_ENUM
	DCTR__COUNT
};

struct control;
struct sockets;
struct trace;

struct tapnetd {
	struct ev_loop *loop;
	char *config_path;           /* absolute, so SIGHUP works after chdir("/") */
	bool config_optional;        /* default path: a missing file means defaults */
	struct daemon_config cfg;
	struct privs privs;
	struct tapdev tap;
	struct tn_stack *stack;
	struct services *services;   /* the built-in echo, discard, daytime, chargen */
	struct control *control;
	struct trace *trace;         /* TRACE subscribers (made and freed with control) */
	struct sockets *sockets;     /* clients' tapnet sockets: they outlive their connections */
	struct notifier notify;

	struct fault *fault;         /* NULL unless [debug] asks for faults on the tap */
	ev_timer fault_timer;        /* armed for fault_next_deadline() */
	uint64_t fault_timer_at;

	ev_io tap_watcher;
	ev_timer stack_timer;        /* the only timer for the stack: its next deadline */
	uint64_t stack_timer_at;     /* when it fires (TN_TIME_NEVER: stopped); may come before the stack's next deadline */
	uint64_t frame_now_ns;       /* while a frame from the tap is in the stack: its arrival time (else 0) */
	ev_signal sig_int, sig_term, sig_hup;
	ev_prepare closer_prepare;   /* the fds handed to the closer in a pass, to its threads at once */
	uint64_t io_wakeups;         /* I/O callbacks so far: what busy polling waits for (daemon_run) */
	uint32_t busy_poll_us;       /* [interface] busy_poll as applied (0 with one CPU) */
	bool loop_stopping;          /* the loop was told to stop (daemon_run's passes end) */

	uint64_t started_ns;
	uint64_t counters[DCTR__COUNT];
	struct log_ratelimit tap_error_log;
	int exit_status;             /* set when the loop stops for a failure */
};

#define DAEMON_COUNT(d, name, n) ((d)->counters[DCTR_##name] += (n))

/* --- loop.c */

/* CLOCK_MONOTONIC in ns: the stack's clock. */
uint64_t daemon_now_ns(void);

const char *daemon_counter_name(enum daemon_counter c);

/*
 * Reads d->config_path into cfg, logging every problem. Returns the number
 * of problems (0: cfg is usable).
 */
unsigned daemon_read_config(const struct tapnetd *d, struct daemon_config *cfg);

/* The stack, wired to the clock, getrandom() and the tap. 0 or -1 (logged). */
int daemon_stack_create(struct tapnetd *d);

/* Tap, timer and signal watchers; starts the stack (gratuitous ARP). */
void daemon_loop_start(struct tapnetd *d);

/*
 * Points the one stack timer at tn_stack_next_deadline() (and the fault
 * injector's at its next deadline). Call after any stack call.
 */
void daemon_rearm_timer(struct tapnetd *d);

void daemon_loop_stop(struct tapnetd *d);

/*
 * Runs the loop until a signal or a failure stops it, busy polling
 * ([interface] busy_poll) while traffic flows.
 */
void daemon_run(struct tapnetd *d);

/* An I/O callback ran: traffic flows (busy polling goes on). */
static inline void daemon_note_io(struct tapnetd *d) { d->io_wakeups++; }

/* Ends daemon_run, from a callback (daemon_loop_stop then takes the watchers down). */
void daemon_break_loop(struct tapnetd *d);

#endif
