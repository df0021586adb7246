/*
 * The few JSON reads bench/msg_load.c and bench/msg_sink.c need (a sendText answer's key.id; a webhook body's
 * event, instance and data.key.id): a walk that skips strings (with escapes) and nested containers whole, so a
 * quote or an "id" inside a message text is never taken for a member. Header-only: each tool is one file
 * built by bench/messages.sh.
 */
#ifndef WAGATE_BENCH_MSG_SCAN_H
#define WAGATE_BENCH_MSG_SCAN_H

#include <string.h>

/* Past the JSON whitespace at p. */
static const char *
js_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* Just past the string whose opening quote is at p, or NULL if it does not end. */
static const char *
js_string_end(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

/* Just past the value at p (strings and nested containers skipped whole), or NULL. */
static const char *
js_skip(const char *p, const char *end)
{
	int depth = 0;

	do {
		if (p >= end)
			return NULL;
		if (*p == '"') {
			if ((p = js_string_end(p, end)) == NULL)
				return NULL;
			continue;
		}
		if (*p == '{' || *p == '[')
			depth++;
		else if (*p == '}' || *p == ']')
			depth--;
		else if (depth == 0) {	/* a number, true, false or null */
			while (p < end && strchr(",}] \t\r\n", *p) == NULL)
				p++;
			return p;
		}
		p++;
	} while (depth > 0);
	return p;
}

/* The value of the member name of the object at p (only its own members, not nested ones), or NULL. */
static const char *
js_member(const char *p, const char *end, const char *name)
{
	size_t nlen = strlen(name);
	const char *k, *q;

	if (p == NULL || (p = js_ws(p, end)) >= end || *p != '{')
		return NULL;
	for (p++;; p++) {
		p = js_ws(p, end);
		if (p >= end || *p != '"' || (q = js_string_end(p, end)) == NULL)
			return NULL;
		k = p + 1;
		p = js_ws(q, end);
		if (p >= end || *p != ':')
			return NULL;
		p = js_ws(p + 1, end);
		if ((size_t)(q - 1 - k) == nlen && memcmp(k, name, nlen) == 0)
			return p;
		if ((p = js_skip(p, end)) == NULL)
			return NULL;
		p = js_ws(p, end);
		if (p >= end || *p != ',')
			return NULL;
	}
}

#endif
