/*
 * log.c - tapnetd's log lines (see log.h for the format rules).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

enum log_target { LOG_TO_STDERR, LOG_TO_JOURNAL, LOG_TO_SYSLOG };

enum log_level log_current_level = LOG_LEVEL_INFO;
static enum log_target target = LOG_TO_STDERR;

static const struct {
	enum log_level level;
	const char *name;
} level_names[] = {
	{ LOG_LEVEL_ERROR, "error" },
	{ LOG_LEVEL_WARNING, "warning" },
	{ LOG_LEVEL_NOTICE, "notice" },
	{ LOG_LEVEL_INFO, "info" },
	{ LOG_LEVEL_DEBUG, "debug" },
};

void log_init(void)
{
	const char *journal = getenv("JOURNAL_STREAM");
	const char *invocation = getenv("INVOCATION_ID");

	if ((journal && *journal) || (invocation && *invocation))
		target = LOG_TO_JOURNAL;
	else
		target = LOG_TO_STDERR;
}

void log_use_syslog(void)
{
	openlog("tapnetd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	target = LOG_TO_SYSLOG;
}

void log_fini(void)
{
	if (target == LOG_TO_SYSLOG)
		closelog();
	target = LOG_TO_STDERR;
}

void log_set_level(enum log_level level)
{
	log_current_level = level;
}

enum log_level log_get_level(void)
{
	return log_current_level;
}

bool log_enabled(enum log_level level)
{
	return level <= log_current_level;
}

const char *log_level_name(enum log_level level)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (level_names[i].level == level)
			return level_names[i].name;
	return "unknown";
}

bool log_level_parse(const char *name, enum log_level *level)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(level_names[i].name, name) == 0) {
			*level = level_names[i].level;
			return true;
		}
	}
	return false;
}

/* A formatted message must stay one line, whatever a client sent us. */
static void scrub_control_chars(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static size_t format_timestamp(char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	int m = snprintf(buf + n, cap - n, ".%03ld", ts.tv_nsec / 1000000);
	return n + (m > 0 ? (size_t)m : 0);
}

/* One write(2) per line, so lines from a crash or a restart do not mix. */
static void write_line(enum log_level level, const char *msg)
{
	char line[1280];
	int n;

	if (target == LOG_TO_JOURNAL) {
		n = snprintf(line, sizeof(line), "<%d>%s\n", (int)level, msg);
	} else {
		char ts[40];
		format_timestamp(ts, sizeof(ts));
		n = snprintf(line, sizeof(line), "%s %s: %s\n", ts, log_level_name(level), msg);
	}
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	ssize_t ignored = write(STDERR_FILENO, line, (size_t)n);
	(void)ignored; /* nowhere left to report a failing log */
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	scrub_control_chars(msg);

	if (target == LOG_TO_SYSLOG)
		syslog((int)level, "%s", msg);
	else
		write_line(level, msg);
}

bool log_ratelimit_ok(struct log_ratelimit *rl, uint64_t *suppressed)
{
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	if (rl->in_window == 0 || now - rl->window_start_ns >= rl->interval_ns) {
		rl->window_start_ns = now;
		rl->in_window = 0;
	}
	if (rl->in_window >= rl->burst) {
		rl->suppressed++;
		return false;
	}
	rl->in_window++;
	*suppressed = rl->suppressed;
	rl->suppressed = 0;
	return true;
}

const char *log_suppressed_note(uint64_t suppressed, char buf[64])
{
	if (!suppressed)
		return "";
	snprintf(buf, 64, " (%llu similar message%s suppressed)", (unsigned long long)suppressed,
		 suppressed == 1 ? "" : "s");
	return buf;
}
