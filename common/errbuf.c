/* One formatter for every caller-supplied error buffer. */
#include "errbuf.h"

#include <stdio.h>

int
errbuf_vfail(char *err, size_t errlen, const char *fmt, va_list ap)
{
	if (err != NULL && errlen > 0)
		vsnprintf(err, errlen, fmt, ap);
	return -1;
}

int
errbuf_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errbuf_vfail(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}
