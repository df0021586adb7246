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

/* The functions behind the macros below; func is the caller's __func__, printed first (OpenSSH's log.h habit),
 * so a message never names the wrong function. */
void log_warn_at(const char *func, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_warnx_at(const char *func, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_info_at(const char *func, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_debug_at(const char *func, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fatal_at(const char *func, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
void fatalx_at(const char *func, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* log_warn and fatal append strerror(errno); the x forms do not. Messages start with the instance name
 * where there is one; the function name is added here. */
#define log_warn(...)	log_warn_at(__func__, __VA_ARGS__)
#define log_warnx(...)	log_warnx_at(__func__, __VA_ARGS__)
#define log_info(...)	log_info_at(__func__, __VA_ARGS__)
#define log_debug(...)	log_debug_at(__func__, __VA_ARGS__)
#define fatal(...)	fatal_at(__func__, __VA_ARGS__)
#define fatalx(...)	fatalx_at(__func__, __VA_ARGS__)

#endif
