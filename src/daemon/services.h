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

struct services;

/* Listens on every enabled port. NULL with *err set (negative errno) on failure. */
struct services *services_start(struct tn_stack *stack, const struct services_config *cfg,
				int *err, const char **failed_service);
/* Aborts the services' connections and closes their listeners. */
void services_stop(struct services *svc);

#endif
