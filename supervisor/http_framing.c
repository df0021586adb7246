#include "http_framing.h"

#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* RFC 9110's tchar: what a header name (a token) may hold. */
static int
framing_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	    (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* Whether value, after optional whitespace (SP or HTAB, which RFC 9110 allows around a field value), is digits. */
static int
framing_digits(const char *v)
{
	size_t n;

	v += strspn(v, " \t");
	n = strspn(v, "0123456789");
	return n > 0 && v[n + strspn(v + n, " \t")] == '\0';
}

/* name for a message: printable ASCII kept, anything else shown as '?' (the reply is JSON, and UTF-8). */
static void
framing_printable(char *dst, size_t dstlen, const char *name)
{
	size_t i;

	for (i = 0; i + 1 < dstlen && name[i] != '\0'; i++)
		dst[i] = name[i] >= 0x20 && name[i] < 0x7f ? name[i] : '?';
	dst[i] = '\0';
}

int
http_framing_check(const struct evkeyvalq *headers, int *code, char *err, size_t errlen)
{
	const struct evkeyval *h;
	const char *cl = NULL, *te = NULL, *k;
	char shown[41];
	int ncl = 0, nte = 0, nhost = 0;

	*code = 400;
	TAILQ_FOREACH(h, headers, next) {
		for (k = h->key; *k != '\0' && framing_tchar((unsigned char)*k); k++)
			;
		if (*h->key == '\0' || *k != '\0') {
			framing_printable(shown, sizeof(shown), h->key);
			snprintf(err, errlen, "the header name \"%s\" is not a token%s", shown,
			    strpbrk(h->key, " \t") != NULL ? " (no whitespace before the colon)" : "");
			return -1;
		}
		if (strcasecmp(h->key, "Content-Length") == 0)
			ncl++, cl = h->value;
		else if (strcasecmp(h->key, "Transfer-Encoding") == 0)
			nte++, te = h->value;
		else if (strcasecmp(h->key, "Host") == 0)
			nhost++;
	}
	/* RFC 9112 section 3.2: the same-origin test of CORS and GET /'s manager URL would each pick one */
	if (nhost > 1) {
		snprintf(err, errlen, "more than one Host header");
		return -1;
	}
	if (ncl > 1) {
		snprintf(err, errlen, "more than one Content-Length header");
		return -1;
	}
	if (cl != NULL && !framing_digits(cl)) {
		snprintf(err, errlen, "Content-Length must be decimal digits only (no sign, no list)");
		return -1;
	}
	/* libevent 2.1.12 as built here answers this 400 itself before calling us; the rule must not depend on it */
	if (te != NULL && cl != NULL) {
		snprintf(err, errlen, "Transfer-Encoding and Content-Length together");
		return -1;
	}
	/* exactly the spelling libevent dechunks: anything else it would read as a body of Content-Length */
	if (nte > 1 || (te != NULL && strcasecmp(te, "chunked") != 0)) {
		*code = 501;
		snprintf(err, errlen, "Transfer-Encoding %s is not supported, only a single chunked",
		    nte > 1 ? "repeated" : "other than chunked");
		return -1;
	}
	return 0;
}
