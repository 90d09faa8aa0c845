/*
 * log.h - tapnetd's log: one line per message on stderr.
 *
 * Under systemd (JOURNAL_STREAM or INVOCATION_ID set) each line starts with
 * the sd-daemon "<N>" priority prefix and carries no timestamp, because the
 * journal adds its own. Otherwise a line is "TIMESTAMP LEVEL: message".
 * After classic daemonization stderr is /dev/null, so log_use_syslog()
 * switches the output to syslog(3).
 */
#ifndef TAPNETD_LOG_H
#define TAPNETD_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

/* Levels are the syslog priorities, so "<N>" is simply the level. */
enum log_level {
	LOG_LEVEL_ERROR = LOG_ERR,
	LOG_LEVEL_WARNING = LOG_WARNING,
	LOG_LEVEL_NOTICE = LOG_NOTICE,
	LOG_LEVEL_INFO = LOG_INFO,
	LOG_LEVEL_DEBUG = LOG_DEBUG,
};

/* Reads the environment to pick the line format. Call once at start. */
void log_init(void);
/* From now on write to syslog(3) instead of stderr (after daemonizing). */
void log_use_syslog(void);
void log_fini(void);

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
bool log_enabled(enum log_level level);

/* "error", "warning", ... as written in the configuration. */
const char *log_level_name(enum log_level level);
/* Returns false for an unknown name. */
bool log_level_parse(const char *name, enum log_level *level);

/*
 * Writes one line. Control characters in the formatted text (which may
 * quote a client) are replaced by '?', so a message can never forge a
 * second log line.
 */
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * The level is checked before the arguments are evaluated: a debug line on
 * a per-connection path (an address formatted, say) costs nothing while
 * debug is off.
 */
extern enum log_level log_current_level;
#define LOG_AT(level, ...) \
	((level) <= log_current_level ? log_msg((level), __VA_ARGS__) : (void)0)
#define log_error(...) LOG_AT(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) LOG_AT(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_notice(...) LOG_AT(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...) LOG_AT(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) LOG_AT(LOG_LEVEL_DEBUG, __VA_ARGS__)

/*
 * Keeps a message that a peer can trigger at will (a bad client, a failing
 * write per frame) from flooding the log: at most burst messages per
 * interval, and the next one that passes says how many were held back.
 */
struct log_ratelimit {
	uint64_t interval_ns;
	unsigned burst;
	unsigned in_window;      /* messages passed in the current window */
	uint64_t window_start_ns;
	uint64_t suppressed;
};

#define LOG_RATELIMIT_INIT(seconds, max_burst) \
	{ .interval_ns = (seconds) * 1000000000ULL, .burst = (max_burst) }

/*
 * true when a message may be logged now. *suppressed gets how many were
 * held back before it (0 usually), for a "(N similar messages suppressed)".
 */
bool log_ratelimit_ok(struct log_ratelimit *rl, uint64_t *suppressed);

/* "" for 0, else " (N similar messages suppressed)": to end a log line with. */
const char *log_suppressed_note(uint64_t suppressed, char buf[64]);

#endif
