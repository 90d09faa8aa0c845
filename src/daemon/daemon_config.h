/*
 * daemon_config.h - tapnetd.conf: parsing, validation and what SIGHUP may change.
 *
 * The file is INI (inih). Every key has a default (config_defaults()), so an
 * empty file is a valid configuration. Every problem found is reported as
 * one line "FILE:LINE: message" ("FILE: message" when no single line is to
 * blame), and parsing goes on so that all of them are reported at once.
 * A key given twice in the same file is an error: a forgotten second copy
 * silently overriding the first is a worse surprise than a refusal.
 */
#ifndef TAPNETD_CONFIG_H
#define TAPNETD_CONFIG_H

#include <net/if.h>
#include <stdint.h>
#include <stdio.h>

#include "fault.h"
#include "log.h"
#include "services.h"
#include "stack/stack.h"

#define CONFIG_NAME_MAX 64          /* user and group names, NUL included */
#define CONFIG_SOCKET_PATH_MAX 108  /* sizeof(sockaddr_un.sun_path) */

struct daemon_config {
	struct tn_config core;          /* handed to tn_stack_new() as is */

	/* [interface]; the MTU and MAC live in core */
	char ifname[IFNAMSIZ];
	tn_ip4 host_addr;               /* kernel side of the tap; 0: leave it alone */
	uint8_t host_prefix_len;        /* 0: same prefix as core.prefix_len */
	uint32_t txqueuelen;            /* frames the kernel queues toward tapnet */
	bool offload;                   /* virtio-net header: checksum offload, TSO both ways */
	uint32_t busy_poll_us;          /* poll this long after I/O before sleeping; 0: never */
	bool batch_writes;              /* small frames to the tap in batches (io_uring) */
	bool batch_reads;               /* runs of frames from the tap in batches (io_uring) */
	bool write_thread;              /* runs of written frames from a thread of their own */

	/* [daemon] */
	char user[CONFIG_NAME_MAX];     /* "" or "root": stay root (capabilities still dropped) */
	char group[CONFIG_NAME_MAX];    /* "": the user's primary group */
	char control_socket[CONFIG_SOCKET_PATH_MAX];
	uint32_t control_socket_mode;
	enum log_level log_level;
	uint32_t max_clients;
	uint32_t max_sockets;            /* tapnet sockets of all clients together */
	uint32_t max_sockets_per_client; /* per user (uid) */
	uint64_t max_buffer_bytes;       /* buffer space of all clients' connections */
	uint64_t max_buffer_bytes_per_client; /* per user (uid) */
	uint32_t max_clients_per_user;   /* control connections of one uid */
	uint32_t client_idle_timeout_ms; /* a connection without sockets or requests; 0: never */

	/* [services]: the built-in echo, discard, daytime and chargen; [tcp] lives in core */
	struct services_config services;

	/* [debug]: fault injection on the tap path, for tests; off by default */
	struct fault_config fault;
};

/* Receives one complete error line (no newline). */
typedef void (*config_error_fn)(void *ctx, const char *line);

void config_defaults(struct daemon_config *cfg);

/*
 * Fills cfg with the defaults, then with the settings in the file at path.
 * Returns the number of problems reported through on_error; cfg is usable
 * only when that is 0.
 */
unsigned config_load(const char *path, struct daemon_config *cfg,
		     config_error_fn on_error, void *ctx);

/* The same for an open stream; name is what the messages call it. */
unsigned config_load_stream(FILE *f, const char *name, struct daemon_config *cfg,
			    config_error_fn on_error, void *ctx);

/* The keys, in documentation order: i from 0 while it returns true. */
bool config_key_at(size_t i, const char **section, const char **name);

/*
 * SIGHUP: if [section] name is a whole number that applies at run time (the
 * [daemon] limits), takes its value over from fresh into cfg, says what it
 * was and is now, and returns true; else leaves cfg alone and returns false.
 */
bool config_reload_key(struct daemon_config *cfg, const struct daemon_config *fresh,
		       const char *section, const char *name, uint64_t *was, uint64_t *now);

/* Is [section] name part of the stack's configuration (struct tn_config, cfg.core)? */
bool config_key_in_core(const char *section, const char *name);
/* Do a and b hold the same value for [section] name? */
bool config_key_same(const struct daemon_config *a, const struct daemon_config *b,
		     const char *section, const char *name);
/* Takes [section] name's value over from src into dst. */
void config_key_copy(struct daemon_config *dst, const struct daemon_config *src,
		     const char *section, const char *name);
/* [section] name's value in cfg as the file writes it (numbers, durations, yes/no); else "". */
void config_key_format(const struct daemon_config *cfg, const char *section, const char *name,
		       char *buf, size_t len);

/* Calls changed() for every key whose value differs between a and b. */
void config_diff(const struct daemon_config *a, const struct daemon_config *b,
		 void (*changed)(void *ctx, const char *section, const char *name),
		 void *ctx);

#endif
