/* The webhook client's response reader (see http_resp.h). It sees bytes from whatever answers at a webhook URL,
 * so every line is bounded before it is kept, every number is checked before it can overflow, and framing that
 * two readers could take differently is refused. The body is only counted: nothing of it is kept. */
#include "http_resp.h"

#include <string.h>
#include <strings.h>

enum resp_state {
	RS_STATUS,		/* at a status line */
	RS_FIELD,		/* in a head's fields */
	RS_BODY_LENGTH,		/* r->left body bytes to come */
	RS_BODY_EOF,		/* the body runs until the peer closes */
	RS_CHUNK_SIZE,		/* at a chunk-size line */
	RS_CHUNK_DATA,		/* r->left bytes of the chunk to come */
	RS_CHUNK_END,		/* the empty line after a chunk's data */
	RS_TRAILER,		/* after the last chunk: trailer fields up to an empty line */
	RS_SPENT,		/* DONE or ERROR was answered */
};

#define LENGTH_DIGITS_MAX	19	/* decimal digits of a Content-Length (fits 64 bits) */
#define SIZE_HEX_MAX		16	/* hex digits of a chunk size */

/* A token character (RFC 9110 section 5.6.2): what field names and connection options are made of. */
static int
resp_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A byte allowed in a field value, a reason phrase or a chunk extension: no control but tab. */
static int
resp_vchar(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Whether [s, s + n) is the token t, in any case. */
static int
resp_is(const char *s, size_t n, const char *t)
{
	return n == strlen(t) && strncasecmp(s, t, n) == 0;
}

/* End with an error. */
static int
resp_fail(struct http_resp *r, const char *why)
{
	r->state = RS_SPENT;
	r->err = why;
	return HTTP_RESP_ERROR;
}

/* End with the response read. */
static int
resp_done(struct http_resp *r)
{
	r->state = RS_SPENT;
	return HTTP_RESP_DONE;
}

void
http_resp_init(struct http_resp *r)
{
	r->state = RS_STATUS;
	r->status = 0;
	r->keep_alive = 0;
	r->err = NULL;
	r->heads = 0;
	r->head_bytes = 0;
	r->line_len = 0;
}

/* "HTTP/1.x NNN" then nothing or a space and a reason phrase: start a head. */
static int
resp_status_line(struct http_resp *r, const char *l, size_t n)
{
	size_t i;

	if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') || l[8] != ' ' ||
	    l[9] < '1' || l[9] > '5' || l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9' ||
	    (n > 12 && l[12] != ' '))
		return resp_fail(r, "malformed status line");
	for (i = 13; i < n; i++)
		if (!resp_vchar((unsigned char)l[i]))
			return resp_fail(r, "control character in the status line");
	if (++r->heads > HTTP_RESP_HEADS_MAX)
		return resp_fail(r, "too many interim responses");
	r->head_status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	r->http11 = l[7] == '1';
	r->have_length = r->chunked = r->conn_close = r->conn_keep_alive = 0;
	r->left = 0;
	r->state = RS_FIELD;
	return HTTP_RESP_MORE;
}

/* The options of a Connection field: only "close" and "keep-alive" matter to us. */
static int
resp_connection(struct http_resp *r, const char *v, size_t n)
{
	size_t i = 0, s, e;

	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		for (s = i; i < n && v[i] != ','; i++)
			;
		for (e = i; e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'); e--)
			;
		if (resp_is(v + s, e - s, "close"))
			r->conn_close = 1;
		else if (resp_is(v + s, e - s, "keep-alive"))
			r->conn_keep_alive = 1;
	}
	return HTTP_RESP_MORE;
}

/* One field line (of a head, or a trailer when trailer is set): checked, and the framing ones recorded. */
static int
resp_field(struct http_resp *r, const char *l, size_t n, int trailer)
{
	size_t name, vs, ve, i;
	uint64_t v = 0;

	if (l[0] == ' ' || l[0] == '\t')
		return resp_fail(r, "folded header line");	/* obs-fold: RFC 9112 section 5.2 lets us refuse it */
	for (name = 0; name < n && resp_tchar((unsigned char)l[name]); name++)
		;
	if (name == 0 || name == n || l[name] != ':')
		return resp_fail(r, "malformed header line");
	for (vs = name + 1; vs < n && (l[vs] == ' ' || l[vs] == '\t'); vs++)
		;
	for (ve = n; ve > vs && (l[ve - 1] == ' ' || l[ve - 1] == '\t'); ve--)
		;
	for (i = vs; i < ve; i++)
		if (!resp_vchar((unsigned char)l[i]))
			return resp_fail(r, "control character in a header value");
	if (trailer)
		return HTTP_RESP_MORE;
	if (resp_is(l, name, "Content-Length")) {
		if (r->have_length)
			return resp_fail(r, "more than one Content-Length");
		if (ve == vs || ve - vs > LENGTH_DIGITS_MAX)
			return resp_fail(r, "malformed Content-Length");
		for (i = vs; i < ve; i++) {
			if (l[i] < '0' || l[i] > '9')
				return resp_fail(r, "malformed Content-Length");
			v = v * 10 + (uint64_t)(l[i] - '0');
		}
		r->have_length = 1;
		r->left = v;
	} else if (resp_is(l, name, "Transfer-Encoding")) {
		if (r->chunked)
			return resp_fail(r, "more than one Transfer-Encoding");
		/* We send no TE: any coding but chunked alone is a body we could not find the end of. */
		if (!resp_is(l + vs, ve - vs, "chunked"))
			return resp_fail(r, "unsupported Transfer-Encoding");
		r->chunked = 1;
	} else if (resp_is(l, name, "Connection"))
		return resp_connection(r, l + vs, ve - vs);
	return HTTP_RESP_MORE;
}

/* The empty line after a head's fields: skip an interim response, or frame the final one's body. */
static int
resp_head_end(struct http_resp *r)
{
	if (r->head_status < 200) {
		if (r->head_status == 101)
			return resp_fail(r, "101 Switching Protocols, never asked for");
		r->state = RS_STATUS;
		return HTTP_RESP_MORE;
	}
	if (r->have_length && r->chunked)
		return resp_fail(r, "both Content-Length and Transfer-Encoding");
	r->status = r->head_status;
	r->keep_alive = !r->conn_close && (r->http11 || r->conn_keep_alive);
	if (r->status == 204 || r->status == 304) {
		/* Never a body, whatever the fields say (RFC 9112 section 6.3). */
		return resp_done(r);
	}
	if (r->chunked) {
		r->state = RS_CHUNK_SIZE;
		return HTTP_RESP_MORE;
	}
	if (r->have_length) {
		if (r->left == 0)
			return resp_done(r);
		r->state = RS_BODY_LENGTH;
		return HTTP_RESP_MORE;
	}
	r->keep_alive = 0;
	r->state = RS_BODY_EOF;
	return HTTP_RESP_MORE;
}

/* A chunk-size line: hex digits, then nothing or extensions (checked, ignored). */
static int
resp_chunk_size(struct http_resp *r, const char *l, size_t n)
{
	size_t i;
	uint64_t v = 0;
	int d;

	for (i = 0; i < n; i++) {
		if (l[i] >= '0' && l[i] <= '9')
			d = l[i] - '0';
		else if ((l[i] | 0x20) >= 'a' && (l[i] | 0x20) <= 'f')
			d = (l[i] | 0x20) - 'a' + 10;
		else
			break;
		if (i == SIZE_HEX_MAX)
			return resp_fail(r, "chunk size too large");
		v = v << 4 | (uint64_t)d;
	}
	if (i == 0 || (i < n && l[i] != ';' && l[i] != ' ' && l[i] != '\t'))
		return resp_fail(r, "malformed chunk-size line");
	for (; i < n; i++)
		if (!resp_vchar((unsigned char)l[i]))
			return resp_fail(r, "control character in a chunk extension");
	r->left = v;
	r->state = v == 0 ? RS_TRAILER : RS_CHUNK_DATA;
	return HTTP_RESP_MORE;
}

/* A whole line of the current state (its LF and a CR before it removed). */
static int
resp_line(struct http_resp *r, const char *l, size_t n)
{
	if ((r->state == RS_STATUS || r->state == RS_FIELD || r->state == RS_TRAILER) && memchr(l, '\0', n) != NULL)
		return resp_fail(r, "NUL in the response head");
	switch (r->state) {
	case RS_STATUS:
		return resp_status_line(r, l, n);
	case RS_FIELD:
		return n == 0 ? resp_head_end(r) : resp_field(r, l, n, 0);
	case RS_CHUNK_SIZE:
		return resp_chunk_size(r, l, n);
	case RS_CHUNK_END:
		if (n != 0)
			return resp_fail(r, "chunk data not followed by CRLF");
		r->state = RS_CHUNK_SIZE;
		return HTTP_RESP_MORE;
	case RS_TRAILER:
		return n == 0 ? resp_done(r) : resp_field(r, l, n, 1);
	default:
		return resp_fail(r, "response reader in no line state");
	}
}

int
http_resp_feed(struct http_resp *r, const uint8_t *buf, size_t len, size_t *used)
{
	const uint8_t *nl;
	size_t i = 0, take;
	int rc, head;

	*used = 0;
	if (r->state == RS_SPENT)
		return resp_fail(r, "response reader used after its result");
	while (i < len) {
		switch (r->state) {
		case RS_BODY_LENGTH:
		case RS_CHUNK_DATA:
			take = r->left < len - i ? (size_t)r->left : len - i;
			i += take;
			r->left -= take;
			if (r->left > 0)
				break;
			if (r->state == RS_BODY_LENGTH) {
				*used = i;
				return resp_done(r);
			}
			r->state = RS_CHUNK_END;
			break;
		case RS_BODY_EOF:
			i = len;
			break;
		default:
			nl = memchr(buf + i, '\n', len - i);
			take = nl != NULL ? (size_t)(nl - (buf + i)) : len - i;
			if (take > HTTP_RESP_LINE_MAX - r->line_len)
				return resp_fail(r, "response line too long");
			head = r->state == RS_STATUS || r->state == RS_FIELD || r->state == RS_TRAILER;
			if (head && (r->head_bytes += take + (nl != NULL)) > HTTP_RESP_HEAD_MAX)
				return resp_fail(r, "response head too long");
			memcpy(r->line + r->line_len, buf + i, take);
			r->line_len += take;
			i += take;
			if (nl == NULL)
				break;
			i++;
			take = r->line_len;
			r->line_len = 0;
			if (take > 0 && r->line[take - 1] == '\r')
				take--;
			rc = resp_line(r, r->line, take);
			if (rc != HTTP_RESP_MORE) {
				*used = i;
				return rc;
			}
		}
	}
	*used = len;
	return HTTP_RESP_MORE;
}

int
http_resp_eof(struct http_resp *r)
{
	switch (r->state) {
	case RS_BODY_EOF:
		return resp_done(r);
	case RS_SPENT:
		return resp_fail(r, "response reader used after its result");
	case RS_STATUS:
		if (r->heads == 0 && r->line_len == 0)
			return resp_fail(r, "connection closed without a response");
		/* FALLTHROUGH */
	case RS_FIELD:
		return resp_fail(r, "connection closed in the response head");
	default:
		return resp_fail(r, "connection closed before the end of the body");
	}
}
