/*
 * services.h - the built-in TCP services (echo RFC 862, discard RFC 863,
 * daytime RFC 867, chargen RFC 864), so the kernel side can talk TCP to
 * tapnet with no client program. They use the core's socket API exactly as
 * a client would.
 */
#ifndef TAPNETD_SERVICES_H
#define TAPNETD_SERVICES_H

#include <stdint.h>

#include "stack/stack.h"

struct services_config {
	uint16_t echo_port;    /* 0: off (the default for every service) */
	uint16_t discard_port;
	uint16_t daytime_port;
	uint16_t chargen_port;
	uint64_t chargen_bytes; /* per connection; 0: endless until the peer closes */
};

/*
 * The services' counters, in this order, for `tapnet stats` (daemon.h
 * lists them among the daemon's): connections accepted, bytes the services
 * read from their connections and bytes they queued for sending.
 */
#define SERVICES_COUNTERS(X)                                                   \
	X(SvcAccepts)                                                          \
	X(SvcInOctets)                                                         \
	X(SvcOutOctets)

enum services_counter {
#define SERVICES_COUNTER_ENUM(name) SVC_CTR_##name,
	SERVICES_COUNTERS(SERVICES_COUNTER_ENUM)
#undef SERVICES_COUNTER_ENUM
	SVC_CTR__COUNT
};

struct services;

/*
 * Listens on every enabled port (none enabled: a valid, idle instance).
 * counters: SVC_CTR__COUNT values the services add to. On failure logs one
 * line naming the service, its port and why, and returns NULL.
 */
struct services *services_start(struct tn_stack *stack, const struct services_config *cfg,
				uint64_t *counters);
/*
 * A reload: a service whose port changed stops listening there and
 * listens on the new one (0: off); open connections go on; chargen_bytes
 * is for connections from now on. Returns how many could not listen
 * (logged; they stay off).
 */
int services_reconfigure(struct services *svc, const struct services_config *cfg);
/* Resets the services' connections and closes their listeners. NULL is fine. */
void services_stop(struct services *svc);

#endif
