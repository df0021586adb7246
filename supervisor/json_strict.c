#include "json_strict.h"
#include "utf8.h"
#include "xmalloc.h"

#include <json-c/json.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Why a grammar check of our own before json-c: json-c 0.16, even with JSON_TOKENER_STRICT, accepts
 * single-quoted names, NaN and Infinity, "1.", raw control characters in strings and (with
 * JSON_TOKENER_VALIDATE_UTF8) overlong and surrogate UTF-8; it keeps \u0000 in a value but cuts a name at it
 * ({"a\u0000b":1} becomes {"a":1}), turns a lone surrogate escape into U+FFFD and clamps a huge integer to
 * 2^64-1. Each of those changes what the caller sent without a word.
 */

struct js {
	const unsigned char *p;
	size_t n, i;
	int depth;
	char *err;
	size_t errlen;
};

static int js_value(struct js *j);

/* Record why the text is refused (the first reason wins) and return -1. */
static int __attribute__((format(printf, 2, 3)))
js_fail(struct js *j, const char *fmt, ...)
{
	va_list ap;
	size_t used;

	if (j->err[0] != '\0')
		return -1;
	va_start(ap, fmt);
	vsnprintf(j->err, j->errlen, fmt, ap);
	va_end(ap);
	used = strlen(j->err);
	if (used + 1 < j->errlen)
		snprintf(j->err + used, j->errlen - used, " at byte %zu", j->i);
	return -1;
}

/* Refuse the byte at j->i, naming the usual non-JSON habits it starts. */
static int
js_unexpected(struct js *j, const char *wanted)
{
	unsigned char ch;

	if (j->i >= j->n)
		return js_fail(j, "unexpected end of the text, %s expected", wanted);
	ch = j->p[j->i];
	if (ch == '/')
		return js_fail(j, "comments are not JSON");
	if (ch == '\'')
		return js_fail(j, "single quotes are not JSON (strings and names take double quotes)");
	if ((ch == '}' || ch == ']') && strcmp(wanted, "a value") == 0)
		return js_fail(j, "a trailing comma is not JSON");
	if (ch >= 0x21 && ch < 0x7f)
		return js_fail(j, "unexpected '%c', %s expected", ch, wanted);
	return js_fail(j, "unexpected byte 0x%02x, %s expected", ch, wanted);
}

/* RFC 8259's whitespace: space, tab, line feed and carriage return only. */
static void
js_ws(struct js *j)
{
	while (j->i < j->n && (j->p[j->i] == ' ' || j->p[j->i] == '\t' || j->p[j->i] == '\n' || j->p[j->i] == '\r'))
		j->i++;
}

/* The four hex digits of a \u escape at p (the caller checked that four bytes remain), or -1. */
static long
js_hex4(const unsigned char *p)
{
	long v = 0;
	int k;

	for (k = 0; k < 4; k++) {
		unsigned char c = p[k];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* A string or a name, from its opening quote. The bytes are already known to be well-formed UTF-8. */
static int
js_string(struct js *j)
{
	long u, lo;

	j->i++;
	for (;;) {
		if (j->i >= j->n)
			return js_fail(j, "unterminated string");
		if (j->p[j->i] == '"') {
			j->i++;
			return 0;
		}
		if (j->p[j->i] < 0x20)
			return js_fail(j, j->p[j->i] == 0 ? "a NUL byte in a string" :
			    "a control character in a string must be escaped");
		if (j->p[j->i] != '\\') {
			j->i++;
			continue;
		}
		if (j->i + 1 >= j->n)
			return js_fail(j, "unterminated string");
		switch (j->p[j->i + 1]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
			j->i += 2;
			continue;
		case 'u':
			break;
		default:
			return js_fail(j, "invalid escape");
		}
		if (j->n - j->i < 6 || (u = js_hex4(j->p + j->i + 2)) < 0)
			return js_fail(j, "invalid \\u escape, four hex digits expected");
		if (u == 0)
			return js_fail(j, "a NUL character (\\u0000) in a string");
		if (u >= 0xdc00 && u <= 0xdfff)
			return js_fail(j, "a low surrogate escape without a high one before it");
		if (u >= 0xd800 && u <= 0xdbff) {
			if (j->n - j->i < 12 || j->p[j->i + 6] != '\\' || j->p[j->i + 7] != 'u' ||
			    (lo = js_hex4(j->p + j->i + 8)) < 0xdc00 || lo > 0xdfff)
				return js_fail(j, "a high surrogate escape without a low one after it");
			j->i += 6;
		}
		j->i += 6;
	}
}

/* Whether the number text of n bytes at s fits what json-c stores: an int64 or uint64, or a finite double. */
static int
js_number_fits(const char *s, size_t n, int integer)
{
	char small[64], *buf = n < sizeof(small) ? small : xmalloc(n + 1), *end;
	int ok;

	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	if (integer && *buf == '-')
		(void)strtoll(buf, &end, 10);
	else if (integer)
		(void)strtoull(buf, &end, 10);
	if (integer)
		ok = errno != ERANGE;
	else
		ok = isfinite(strtod(buf, &end));
	if (buf != small)
		free(buf);
	return ok;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int
js_number(struct js *j)
{
	size_t start = j->i;
	int integer = 1;

	if (j->p[j->i] == '-')
		j->i++;
	if (j->i >= j->n || j->p[j->i] < '0' || j->p[j->i] > '9')
		return js_unexpected(j, "a digit");
	if (j->p[j->i] == '0') {
		j->i++;
		if (j->i < j->n && j->p[j->i] >= '0' && j->p[j->i] <= '9')
			return js_fail(j, "a number with a leading zero");
	} else
		while (j->i < j->n && j->p[j->i] >= '0' && j->p[j->i] <= '9')
			j->i++;
	if (j->i < j->n && j->p[j->i] == '.') {
		integer = 0;
		j->i++;
		if (j->i >= j->n || j->p[j->i] < '0' || j->p[j->i] > '9')
			return js_unexpected(j, "a digit after the decimal point");
		while (j->i < j->n && j->p[j->i] >= '0' && j->p[j->i] <= '9')
			j->i++;
	}
	if (j->i < j->n && (j->p[j->i] == 'e' || j->p[j->i] == 'E')) {
		integer = 0;
		j->i++;
		if (j->i < j->n && (j->p[j->i] == '+' || j->p[j->i] == '-'))
			j->i++;
		if (j->i >= j->n || j->p[j->i] < '0' || j->p[j->i] > '9')
			return js_unexpected(j, "a digit in the exponent");
		while (j->i < j->n && j->p[j->i] >= '0' && j->p[j->i] <= '9')
			j->i++;
	}
	if (!js_number_fits((const char *)j->p + start, j->i - start, integer)) {
		j->i = start;
		return js_fail(j, "a number out of range");
	}
	return 0;
}

/* true, false or null, spelt exactly. */
static int
js_literal(struct js *j, const char *word)
{
	size_t n = strlen(word);

	if (j->n - j->i < n || memcmp(j->p + j->i, word, n) != 0)
		return js_unexpected(j, "a value");
	j->i += n;
	return 0;
}

/* An object or an array, from its opening bracket. */
static int
js_container(struct js *j)
{
	int object = j->p[j->i] == '{';
	unsigned char close = object ? '}' : ']';

	if (++j->depth > JSON_STRICT_MAX_DEPTH)
		return js_fail(j, "nested more than %d levels deep", JSON_STRICT_MAX_DEPTH);
	j->i++;
	js_ws(j);
	if (j->i < j->n && j->p[j->i] == close) {
		j->i++;
		j->depth--;
		return 0;
	}
	for (;;) {
		if (object) {
			if (j->i >= j->n || j->p[j->i] != '"')
				return j->i < j->n && j->p[j->i] == '}' ? js_fail(j, "a trailing comma is not JSON") :
				    js_unexpected(j, "a name in double quotes");
			if (js_string(j) == -1)
				return -1;
			js_ws(j);
			if (j->i >= j->n || j->p[j->i] != ':')
				return js_unexpected(j, "':'");
			j->i++;
			js_ws(j);
		}
		if (js_value(j) == -1)
			return -1;
		js_ws(j);
		if (j->i < j->n && j->p[j->i] == close) {
			j->i++;
			j->depth--;
			return 0;
		}
		if (j->i >= j->n || j->p[j->i] != ',')
			return js_unexpected(j, object ? "',' or '}'" : "',' or ']'");
		j->i++;
		js_ws(j);
	}
}

static int
js_value(struct js *j)
{
	if (j->i >= j->n)
		return js_unexpected(j, "a value");
	switch (j->p[j->i]) {
	case '{':
	case '[':
		return js_container(j);
	case '"':
		return js_string(j);
	case 't':
		return js_literal(j, "true");
	case 'f':
		return js_literal(j, "false");
	case 'n':
		return js_literal(j, "null");
	case '-':
	case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': case '8': case '9':
		return js_number(j);
	default:
		return js_unexpected(j, "a value");
	}
}

int
json_strict_parse(const char *data, size_t len, struct json_object **out, char *err, size_t errlen)
{
	struct js j = { (const unsigned char *)data, len, 0, 0, err, errlen };
	struct json_tokener *tok;
	enum json_tokener_error jerr;
	size_t bad, start;

	*out = NULL;
	err[0] = '\0';
	if (len > INT_MAX)
		return js_fail(&j, "a text longer than %d bytes", INT_MAX);
	if (!utf8_valid(data, len, &bad)) {
		j.i = bad;
		return js_fail(&j, "invalid UTF-8");
	}
	start = len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
	j.i = start;
	js_ws(&j);
	if (js_value(&j) == -1)
		return -1;
	js_ws(&j);
	if (j.i < len)
		return js_unexpected(&j, "the end of the text");
	/* json-c counts its depth from 1 and refuses at its limit */
	tok = json_tokener_new_ex(JSON_STRICT_MAX_DEPTH + 1);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	*out = json_tokener_parse_ex(tok, data + start, (int)(len - start));
	/* a number or a literal at the very end waits for a byte that ends it */
	if ((jerr = json_tokener_get_error(tok)) == json_tokener_continue) {
		*out = json_tokener_parse_ex(tok, " ", 1);
		jerr = json_tokener_get_error(tok);
	}
	json_tokener_free(tok);
	if (jerr == json_tokener_success)
		return 0;	/* *out is NULL for null */
	/* not reached for a text the grammar above accepted, but json-c has the last word on what it stores */
	json_object_put(*out);
	*out = NULL;
	snprintf(err, errlen, "json-c refused it: %s", json_tokener_error_desc(jerr));
	return -1;
}
