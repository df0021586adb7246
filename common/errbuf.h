/* Error buffers (STYLE rule 5): library functions describe a failure in a caller-supplied buffer and leave
 * the log level to the caller. */
#ifndef WAGATE_ERRBUF_H
#define WAGATE_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>

/* Format a one-line reason into err (NULL or errlen 0 = no buffer: nothing is written). Always -1, so a
 * failing function can end with `return errbuf_fail(err, errlen, "...")`. */
int errbuf_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* errbuf_fail with a va_list, for wrappers that add their own side effects. Always -1. */
int errbuf_vfail(char *err, size_t errlen, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

#endif
