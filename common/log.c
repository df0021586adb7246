#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *log_progname = "wagate";
static enum log_level log_level = LOG_LEVEL_INFO;

void
log_init(const char *progname, enum log_level level)
{
	log_progname = progname;
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	static const char *names[] = { "error", "warn", "info", "debug" };
	char buf[256], *save = NULL, *tok;
	int found = -1;

	if (s == NULL || strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	for (tok = strtok_r(buf, ", ", &save); tok != NULL; tok = strtok_r(NULL, ", ", &save)) {
		int i, hit = -1;
		for (i = 0; i < 4; i++)
			if (strcasecmp(tok, names[i]) == 0)
				hit = i;
		/* Evolution's extra names map onto ours. */
		if (strcasecmp(tok, "log") == 0 || strcasecmp(tok, "verbose") == 0)
			hit = LOG_LEVEL_INFO;
		if (strcasecmp(tok, "dark") == 0 || strcasecmp(tok, "webhooks") == 0 ||
		    strcasecmp(tok, "websocket") == 0)
			hit = LOG_LEVEL_INFO;
		if (hit < 0)
			return -1;
		if (hit > found)
			found = hit;
	}
	if (found < 0)
		return -1;
	*out = (enum log_level)found;
	return 0;
}

static void
log_vwrite(enum log_level level, const char *tag, const char *func, int with_errno, const char *fmt, va_list ap)
{
	char msg[2048];
	int saved = errno;

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno)
		fprintf(stderr, "%s[%d]: %s%s: %s: %s\n", log_progname, (int)getpid(), tag, func, msg,
		    strerror(saved));
	else
		fprintf(stderr, "%s[%d]: %s%s: %s\n", log_progname, (int)getpid(), tag, func, msg);
	errno = saved;
}

#define LOG_FN(name, level, tag, errflag)                               \
	void name(const char *func, const char *fmt, ...)               \
	{                                                               \
		va_list ap;                                             \
		va_start(ap, fmt);                                      \
		log_vwrite(level, tag, func, errflag, fmt, ap);         \
		va_end(ap);                                             \
	}

LOG_FN(log_warn_at, LOG_LEVEL_WARN, "warn: ", 1)
LOG_FN(log_warnx_at, LOG_LEVEL_WARN, "warn: ", 0)
LOG_FN(log_info_at, LOG_LEVEL_INFO, "", 0)
LOG_FN(log_debug_at, LOG_LEVEL_DEBUG, "debug: ", 0)

void
fatal_at(const char *func, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, "fatal: ", func, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx_at(const char *func, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, "fatal: ", func, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
