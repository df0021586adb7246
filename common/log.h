/* Logging for both processes: one line per message on stderr (journald adds the timestamp). */
#ifndef WAGATE_LOG_H
#define WAGATE_LOG_H

#include <stdarg.h>

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Set the process name shown in every line and the lowest level printed. */
void log_init(const char *progname, enum log_level level);
/* Parse "error", "warn", "info", "debug" (Evolution's LOG_LEVEL may be a comma list: the most verbose wins). */
int log_level_parse(const char *s, enum log_level *out);
enum log_level log_get_level(void);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
