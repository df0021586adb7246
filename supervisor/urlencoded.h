/* application/x-www-form-urlencoded bodies read into JSON as Express's urlencoded({ extended: true }) does. */
#ifndef WAGATE_URLENCODED_H
#define WAGATE_URLENCODED_H

#include <stddef.h>

struct json_object;

#define URLENCODED_MAX_PARAMS	1000	/* body-parser's parameterLimit */
#define URLENCODED_MAX_DEPTH	32	/* body-parser's depth: deeper keys are refused */

/*
 * Parse data (len bytes, not NUL-terminated) as the qs module does for body-parser's extended parser: '&'
 * separates pairs, '+' is a space, %XX is decoded (a string with a malformed escape is kept as sent),
 * `a[b]=c` nests objects, `a[]=x` and small indices `a[0]=x` build arrays, and a repeated key collects its
 * values into an array. Every value is a string. Returns 0 with a new object in *out, or -1 with a message
 * in err and errno E2BIG (more than URLENCODED_MAX_PARAMS pairs) or EINVAL (too deep, a plain value for a
 * key that already holds nested keys, or, where qs would keep or cut the text, a name or value that holds a
 * NUL (%00 or the byte) or is not UTF-8 once decoded).
 */
int urlencoded_parse(const char *data, size_t len, struct json_object **out, char *err, size_t errlen);

#endif
