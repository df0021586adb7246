/* Request bodies held to RFC 8259 before json-c reads them. */
#ifndef WAGATE_JSON_STRICT_H
#define WAGATE_JSON_STRICT_H

#include <stddef.h>

struct json_object;

#define JSON_STRICT_MAX_DEPTH	64	/* objects and arrays open at once */

/*
 * Parse len bytes of data (not NUL-terminated) as one JSON text of RFC 8259: UTF-8, whitespace around one
 * value, and nothing else, so no comments, single quotes, trailing commas, NaN, Infinity, "1." or raw control
 * characters. A UTF-8 byte order mark before the text is ignored (RFC 8259 section 8.1 allows that).
 * Refused besides: a NUL character (\u0000) in a string or a name, an escape that leaves a surrogate unpaired,
 * an integer beyond 64 bits or a number beyond a double's range, and more than JSON_STRICT_MAX_DEPTH levels.
 * Returns 0 with the value in *out (any JSON type; NULL for null), or -1 with a message naming the byte offset in err.
 */
int json_strict_parse(const char *data, size_t len, struct json_object **out, char *err, size_t errlen);

#endif
