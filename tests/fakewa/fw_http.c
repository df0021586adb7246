/* fakewa's HTTP request parser (see fw_http.h). Strict where a lax reading could split one request into two
 * (bare CR or LF, folded or space-padded header names, Content-Length with Transfer-Encoding): a test server
 * should fail loudly, not guess. */
#include "fw_http.h"

#include "xmalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The punctuation allowed in a token (RFC 9110 5.6.2), besides letters and digits. */
#define FW_HTTP_TCHARS	"!#$%&'*+-.^_`|~"
/* Longest chunk-size line we read (size, extensions); extensions are ignored anyway. */
#define FW_HTTP_MAX_CHUNK_LINE	256

/* Is ch a token character? */
static int
fw_http_tchar(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch != '\0' && strchr(FW_HTTP_TCHARS, ch) != NULL);
}

/* Record a refusal: FW_HTTP_ERROR with its status and reason. */
static int
fw_http_fail(int *status, int code, char *err, size_t errlen, const char *why)
{
	*status = code;
	snprintf(err, errlen, "%s", why);
	return FW_HTTP_ERROR;
}

/* "METHOD SP origin-form-target SP HTTP/1.x" (the line without its CRLF) into req. NULL, or why not. */
static const char *
fw_http_request_line(const char *line, size_t len, struct fw_http_req *req)
{
	const char *target, *q;
	size_t i = 0, t0, tlen, plen;

	while (i < len && fw_http_tchar((unsigned char)line[i]))
		i++;
	if (i == 0 || i >= sizeof(req->method) || i == len || line[i] != ' ')
		return "bad request line";
	memcpy(req->method, line, i);
	req->method[i] = '\0';
	t0 = ++i;
	while (i < len && (unsigned char)line[i] > 0x20 && (unsigned char)line[i] < 0x7f)
		i++;
	tlen = i - t0;
	if (tlen == 0 || line[t0] != '/' || i == len || line[i] != ' ')
		return "bad request target";
	i++;
	if (len - i != 8 || (memcmp(line + i, "HTTP/1.1", 8) != 0 && memcmp(line + i, "HTTP/1.0", 8) != 0))
		return "unsupported HTTP version";
	target = line + t0;
	q = memchr(target, '?', tlen);
	plen = q != NULL ? (size_t)(q - target) : tlen;
	req->path = xstrndup(target, plen);
	if (q != NULL)
		req->query = xstrndup(q + 1, tlen - plen - 1);
	return NULL;
}

/* The framing headers of one request. */
struct fw_http_framing {
	int has_length, chunked;
	size_t length;
};

/* One header line (without its CRLF): refuse what is malformed, note the framing headers. NULL, or why not. */
static const char *
fw_http_header(const char *line, size_t len, struct fw_http_framing *fr)
{
	const char *v, *end = line + len;
	size_t n = 0, vlen, length = 0;

	while (n < len && fw_http_tchar((unsigned char)line[n]))
		n++;
	/* no space before the colon, no folded continuation line (RFC 9112 5.1, 5.2) */
	if (n == 0 || n == len || line[n] != ':')
		return "bad header line";
	for (v = line + n + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	vlen = (size_t)(end - v);
	for (size_t i = 0; i < vlen; i++)
		if (((unsigned char)v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
			return "bad header value";
	if (n == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
		if (vlen == 0 || vlen > 9 || strspn(v, "0123456789") < vlen)
			return "bad Content-Length";
		for (size_t i = 0; i < vlen; i++)
			length = length * 10 + (size_t)(v[i] - '0');
		if (fr->has_length && fr->length != length)
			return "conflicting Content-Length headers";
		fr->has_length = 1;
		fr->length = length;
	} else if (n == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
		if (vlen != 7 || strncasecmp(v, "chunked", 7) != 0)
			return "unsupported Transfer-Encoding";
		fr->chunked = 1;
	}
	return NULL;
}

/* The value of a hex digit. */
static size_t
fw_http_hexval(unsigned char ch)
{
	return ch <= '9' ? (size_t)(ch - '0') : (size_t)((ch | 0x20) - 'a' + 10);
}

/* Decode a chunked body (RFC 9112 7.1; extensions and trailer fields ignored) from p[0..len) into out
 * (min(len, FW_HTTP_MAX_BODY) bytes: the body is never longer than its framing): *outlen bytes of body, *used
 * bytes of input. */
static int
fw_http_chunked(const char *p, size_t len, char *out, size_t *outlen, size_t *used, int *status, char *err,
    size_t errlen)
{
	size_t off = 0, total = 0, n, i, lend, win;
	int capped = len >= FW_HTTP_MAX_CHUNKED;
	const char *eol;

	if (capped)
		len = FW_HTTP_MAX_CHUNKED;
	for (;;) {
		/* Only as far as the longest line allowed: a search to the end of what came, at every line, is
		 * quadratic where memmem is checked (ASan: 20 s for the 16 MiB of tiny chunks in fw_http_test). */
		win = len - off < FW_HTTP_MAX_CHUNK_LINE + 2 ? len - off : FW_HTTP_MAX_CHUNK_LINE + 2;
		if ((eol = memmem(p + off, win, "\r\n", 2)) == NULL) {
			if (len - off > FW_HTTP_MAX_CHUNK_LINE)
				return fw_http_fail(status, 400, err, errlen, "chunk size line too long");
			goto again;
		}
		lend = (size_t)(eol - p);
		if (lend - off > FW_HTTP_MAX_CHUNK_LINE)
			return fw_http_fail(status, 400, err, errlen, "chunk size line too long");
		for (i = off, n = 0; i < lend && isxdigit((unsigned char)p[i]); i++) {
			if (i - off == 8)
				return fw_http_fail(status, 413, err, errlen, "body too long");
			n = n * 16 + fw_http_hexval((unsigned char)p[i]);
		}
		if (i == off || (i < lend && p[i] != ';' && p[i] != ' ' && p[i] != '\t'))
			return fw_http_fail(status, 400, err, errlen, "bad chunk size");
		off = lend + 2;
		if (n == 0)
			break;
		if (n > FW_HTTP_MAX_BODY - total)
			return fw_http_fail(status, 413, err, errlen, "body too long");
		if (len - off < n + 2)
			goto again;
		if (memcmp(p + off + n, "\r\n", 2) != 0)
			return fw_http_fail(status, 400, err, errlen, "chunk not followed by CRLF");
		memcpy(out + total, p + off, n);
		total += n;
		off += n + 2;
	}
	/* trailer fields, up to the empty line */
	for (;;) {
		if ((eol = memmem(p + off, len - off, "\r\n", 2)) == NULL)
			goto again;
		if (eol == p + off) {
			off += 2;
			break;
		}
		off = (size_t)(eol - p) + 2;
	}
	*outlen = total;
	*used = off;
	return FW_HTTP_DONE;
again:
	if (capped)
		return fw_http_fail(status, 413, err, errlen, "body too long");
	return FW_HTTP_AGAIN;
}

/* Parse one request (see fw_http.h). */
int
fw_http_parse(const char *buf, size_t len, struct fw_http_req **out, size_t *used, int *status, char *err,
    size_t errlen)
{
	struct fw_http_framing fr = { 0, 0, 0 };
	struct fw_http_req *req;
	const char *hend, *eol, *line, *why;
	char *body;
	size_t hlen, blen = 0, bused = 0;
	int r;

	*out = NULL;
	hend = memmem(buf, len < FW_HTTP_MAX_HEAD ? len : FW_HTTP_MAX_HEAD, "\r\n\r\n", 4);
	if (hend == NULL)
		return len >= FW_HTTP_MAX_HEAD ? fw_http_fail(status, 400, err, errlen, "request head too long") :
		    FW_HTTP_AGAIN;
	hlen = (size_t)(hend - buf) + 4;
	/* every line ends in CRLF: no bare CR, LF or NUL anywhere in the head */
	for (line = buf; line <= hend; line = eol + 2) {
		eol = memmem(line, (size_t)(hend + 2 - line), "\r\n", 2);
		if (memchr(line, '\r', (size_t)(eol - line)) != NULL || memchr(line, '\n', (size_t)(eol - line)) != NULL ||
		    memchr(line, '\0', (size_t)(eol - line)) != NULL)
			return fw_http_fail(status, 400, err, errlen, "bare CR, LF or NUL in the request head");
	}
	req = xcalloc(1, sizeof(*req));
	eol = memmem(buf, hlen, "\r\n", 2);
	if ((why = fw_http_request_line(buf, (size_t)(eol - buf), req)) != NULL)
		goto fail400;
	for (line = eol + 2; line <= hend; line = eol + 2) {
		eol = memmem(line, (size_t)(hend + 2 - line), "\r\n", 2);
		if ((why = fw_http_header(line, (size_t)(eol - line), &fr)) != NULL)
			goto fail400;
	}
	if (fr.chunked && fr.has_length) {
		why = "both Content-Length and Transfer-Encoding";
		goto fail400;
	}
	/* on the heap, sized by what arrived: the cap is too big for the stack, and most bodies are tiny */
	if (fr.chunked) {
		body = xmalloc((len - hlen < FW_HTTP_MAX_BODY ? len - hlen : FW_HTTP_MAX_BODY) + 1);
		if ((r = fw_http_chunked(buf + hlen, len - hlen, body, &blen, &bused, status, err, errlen)) !=
		    FW_HTTP_DONE) {
			free(body);
			fw_http_req_free(req);
			return r;
		}
	} else if (fr.length > FW_HTTP_MAX_BODY) {
		fw_http_req_free(req);
		return fw_http_fail(status, 413, err, errlen, "body too long");
	} else if (len - hlen < fr.length) {
		fw_http_req_free(req);
		return FW_HTTP_AGAIN;
	} else {
		body = xmalloc(fr.length + 1);
		memcpy(body, buf + hlen, fr.length);
		blen = bused = fr.length;
	}
	req->body = body;
	req->body[blen] = '\0';
	req->body_len = blen;
	*out = req;
	*used = hlen + bused;
	return FW_HTTP_DONE;
fail400:
	fw_http_req_free(req);
	return fw_http_fail(status, 400, err, errlen, why);
}

/* Free a parsed request. */
void
fw_http_req_free(struct fw_http_req *req)
{
	if (req == NULL)
		return;
	free(req->path);
	free(req->query);
	free(req->body);
	free(req);
}

/* The reason phrase of the statuses the control API gives. */
static const char *
fw_http_reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 500: return "Internal Server Error";
	case 504: return "Gateway Timeout";
	default: return "Error";
	}
}

/* Build a response head (see fw_http.h). */
char *
fw_http_head(int code, const char *extra, const char *type, size_t len)
{
	char *s;

	xasprintf(&s, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
	    code, fw_http_reason(code), type, len, extra != NULL ? extra : "");
	return s;
}

/* Build a whole response (see fw_http.h). */
char *
fw_http_response(int code, const char *extra, const char *json)
{
	char *head = fw_http_head(code, extra, "application/json", strlen(json) + 1), *s;

	xasprintf(&s, "%s%s\n", head, json);
	free(head);
	return s;
}
