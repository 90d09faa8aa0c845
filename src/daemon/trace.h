/*
 * trace.h - the TRACE subscriptions of the control socket: frames that
 * cross the tap (both ways, as they really cross it: after the fault
 * injector on the way out, before it on the way in) and the core's TCP
 * state and TIME-WAIT events, streamed to each subscriber's connection as
 * TRACE_EVENT messages (rpc/rpc.h).
 *
 * Each subscriber has a bounded buffer (TRACE_SUB_BUFFER); a reader too slow
 * for it loses events, counted (TraceEventsLost) and told in a LOST event
 * once there is room again. Writes never block: the stack is never slowed
 * by a reader. Without subscribers nothing is built, copied or called.
 */
#ifndef TAPNETD_TRACE_H
#define TAPNETD_TRACE_H

#include <stdbool.h>
#include <stddef.h>

#include "stack/stack.h"

#define TRACE_SUB_BUFFER (4u << 20) /* bytes queued for one subscriber at most */

struct tapnetd;
struct trace;
struct trace_sub;

struct trace *trace_new(struct tapnetd *d);
/* Every subscriber must be gone (their connections close first). NULL is fine. */
void trace_free(struct trace *t);

/*
 * fd (a control connection, non-blocking) subscribes with filter (tcpdump
 * words, "" for everything). wake(ctx) is called when bytes wait to be sent
 * (the connection then calls trace_sub_flush when fd is writable). NULL with
 * a message in err when the filter is bad, or out of memory.
 */
struct trace_sub *trace_subscribe(struct trace *t, int fd, const char *filter,
				  void (*wake)(void *ctx), void *ctx, char *err, size_t errlen);
void trace_unsubscribe(struct trace_sub *s);
/* Sends what fd takes: 1 all sent, 0 more waits (poll for writing), -1 error (errno). */
int trace_sub_flush(struct trace_sub *s);

/* Anyone listening? (One predictable branch on the frame path.) */
bool trace_active(const struct trace *t);
/* A frame that crossed the tap: from tapnet (written) or to it (read). */
void trace_frame(struct trace *t, bool from_tapnet, const struct tn_frame_meta *meta,
		 const void *frame, size_t len);

#endif
