/*
 * tapnet_internal.h - what libtapnet shares with the LD_PRELOAD shim only.
 */
#ifndef TAPNET_INTERNAL_H
#define TAPNET_INTERNAL_H

/*
 * Non-zero while this thread is inside libtapnet: the shim then passes
 * every call to libc (libtapnet's own control connection is a socket too).
 */
extern __thread int tn_lib_busy;

#endif
