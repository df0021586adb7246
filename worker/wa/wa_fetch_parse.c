/* The HTTP/1.x response scanner for wa_fetch (see wa_fetch_parse.h and wa_fetch.h). The bytes come from a media
 * server or from whoever sits in the path, so every line is bounded before it is searched, every number is
 * checked for overflow before it is used, and lengths are compared by subtraction from what is present, never
 * by adding to an offset. Ambiguous framing (two lengths, a length and chunking, a coding we do not decode) is
 * refused rather than guessed, as a request-smuggling-safe proxy would. */
#include "wa_fetch_parse.h"
#include "wa_fetch.h"

#include "errbuf.h"
#include "hex.h"
#include "xmalloc.h"

#include <string.h>
#include <strings.h>

enum scan_phase {
	SC_HEAD,		/* looking for the end of the head */
	SC_LENGTH,		/* Content-Length body (or none: 204, 304) */
	SC_EOF,			/* body until the server closes */
	SC_CHUNK_LINE,		/* at a chunk-size line */
	SC_CHUNK_DATA,		/* in a chunk's data (s->length bytes, then CRLF) */
	SC_TRAILER,		/* after the last chunk: trailer lines up to an empty one */
	SC_SPENT,		/* DONE or ERROR was returned */
};

#define SIZE_HEX_MAX	16	/* hex digits in a chunk size (64 bits) */
#define LENGTH_DIGITS_MAX 19	/* decimal digits in a Content-Length (fits 64 bits) */

/* A token character (RFC 9110 section 5.6.2): what a header name is made of. */
static int
scan_tchar(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A byte allowed in a field value, a reason phrase or a chunk extension: anything but a control other than
 * tab. A lone CR or a NUL inside a line is how header injection and parser confusion start. */
static int
scan_vchar(uint8_t c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Mark the state spent and fail with a reason. */
static int
scan_fail(struct wa_fetch_scan *s, char *err, size_t errlen, const char *what)
{
	s->phase = SC_SPENT;
	return errbuf_fail(err, errlen, "%s", what);
}

/* One header field of the head (line [off, end) without its CRLF): Content-Length and Transfer-Encoding are
 * recorded, anything else is only checked. 0, or -1 with err. */
static int
scan_field(struct wa_fetch_scan *s, const uint8_t *h, size_t off, size_t end, size_t max_body, int *have_cl,
    int *have_te, char *err, size_t errlen)
{
	size_t name = off, vs, ve, i;
	uint64_t v = 0;

	/* obs-fold (a continuation line) is refused: RFC 9112 section 5.2 lets a client reject it. */
	while (off < end && scan_tchar(h[off]))
		off++;
	if (off == name || off == end || h[off] != ':')
		return scan_fail(s, err, errlen, "malformed header line");
	for (vs = off + 1; vs < end && (h[vs] == ' ' || h[vs] == '\t'); vs++)
		;
	for (ve = end; ve > vs && (h[ve - 1] == ' ' || h[ve - 1] == '\t'); ve--)
		;
	for (i = vs; i < ve; i++)
		if (!scan_vchar(h[i]))
			return scan_fail(s, err, errlen, "control character in a header value");
	if (off - name == 14 && strncasecmp((const char *)h + name, "Content-Length", 14) == 0) {
		if (*have_cl)
			return scan_fail(s, err, errlen, "more than one Content-Length");
		*have_cl = 1;
		if (ve == vs || ve - vs > LENGTH_DIGITS_MAX)
			return scan_fail(s, err, errlen, "malformed Content-Length");
		for (i = vs; i < ve; i++) {
			if (h[i] < '0' || h[i] > '9')
				return scan_fail(s, err, errlen, "malformed Content-Length");
			v = v * 10 + (uint64_t)(h[i] - '0');
		}
		if (v > max_body) {
			s->phase = SC_SPENT;
			return errbuf_fail(err, errlen, "body of %llu bytes over the limit of %zu",
			    (unsigned long long)v, max_body);
		}
		s->length = (size_t)v;
	} else if (off - name == 17 && strncasecmp((const char *)h + name, "Transfer-Encoding", 17) == 0) {
		if (*have_te)
			return scan_fail(s, err, errlen, "more than one Transfer-Encoding");
		*have_te = 1;
		/* We asked for identity: any coding but chunked alone would hand the caller encoded bytes. */
		if (ve - vs != 7 || strncasecmp((const char *)h + vs, "chunked", 7) != 0)
			return scan_fail(s, err, errlen, "unsupported Transfer-Encoding");
	}
	return 0;
}

/* The head h[0, hlen), which ends with its empty line: status line and fields, then the body's framing. */
static int
scan_head(struct wa_fetch_scan *s, const uint8_t *h, size_t hlen, size_t max_body, char *err, size_t errlen)
{
	const uint8_t *nl;
	size_t off, eol, i;
	int have_cl = 0, have_te = 0;

	/* "HTTP/1.x NNN" then nothing or a space and a reason phrase. */
	nl = memchr(h, '\n', hlen);
	eol = (size_t)(nl - h);
	if (eol < 13 || h[eol - 1] != '\r' || memcmp(h, "HTTP/1.", 7) != 0 || (h[7] != '0' && h[7] != '1') ||
	    h[8] != ' ' || h[9] < '1' || h[9] > '5' || h[10] < '0' || h[10] > '9' || h[11] < '0' || h[11] > '9' ||
	    (eol > 13 && h[12] != ' '))
		return scan_fail(s, err, errlen, "malformed status line");
	for (i = 13; i + 1 < eol; i++)
		if (!scan_vchar(h[i]))
			return scan_fail(s, err, errlen, "control character in the status line");
	s->status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
	for (off = eol + 1; off < hlen; off = eol + 1) {
		nl = memchr(h + off, '\n', hlen - off);
		eol = (size_t)(nl - h);
		if (eol == off || h[eol - 1] != '\r')
			return scan_fail(s, err, errlen, "malformed header line");
		if (eol == off + 1)
			break;	/* the empty line: the head ends here (it was found as the first CRLFCRLF) */
		if (scan_field(s, h, off, eol - 1, max_body, &have_cl, &have_te, err, errlen) == -1)
			return -1;
	}
	if (have_cl && have_te)
		return scan_fail(s, err, errlen, "both Content-Length and Transfer-Encoding");
	/* 100 Continue and friends would need a second head after the first: we never ask for them. */
	if (s->status < 200) {
		s->phase = SC_SPENT;
		return errbuf_fail(err, errlen, "interim response %d not supported", s->status);
	}
	s->body_off = s->pos = hlen;
	if (s->status == 204 || s->status == 304) {
		s->phase = SC_LENGTH;	/* never a body, whatever the fields say (RFC 9112 section 6.3) */
		s->length = 0;
	} else if (have_te)
		s->phase = SC_CHUNK_LINE;
	else if (have_cl)
		s->phase = SC_LENGTH;
	else
		s->phase = SC_EOF;
	return 0;
}

/* The chunk-size line at buf[off, len): DONE with the size and the offset after the line, AGAIN while it is
 * incomplete, ERROR when it is malformed or too long. Extensions are checked for control bytes and ignored. */
static int
scan_chunk_line(const uint8_t *buf, size_t len, size_t off, uint64_t *size, size_t *next, const char **why)
{
	size_t lim = len - off < WA_FETCH_CHUNK_LINE_MAX ? len : off + WA_FETCH_CHUNK_LINE_MAX;
	const uint8_t *nl = memchr(buf + off, '\n', lim - off);
	size_t eol, i;
	uint64_t v = 0;
	int d;

	if (nl == NULL) {
		if (lim - off < WA_FETCH_CHUNK_LINE_MAX)
			return WA_FETCH_AGAIN;
		*why = "chunk-size line too long";
		return WA_FETCH_ERROR;
	}
	eol = (size_t)(nl - buf);
	*why = "malformed chunk-size line";
	if (eol == off || buf[eol - 1] != '\r')
		return WA_FETCH_ERROR;
	for (i = off; i + 1 < eol && (d = hex_digit(buf[i])) >= 0; i++) {
		if (i - off == SIZE_HEX_MAX)
			return WA_FETCH_ERROR;
		v = v << 4 | (uint64_t)d;
	}
	if (i == off || (i + 1 < eol && buf[i] != ';' && buf[i] != ' ' && buf[i] != '\t'))
		return WA_FETCH_ERROR;
	for (; i + 1 < eol; i++)
		if (!scan_vchar(buf[i]))
			return WA_FETCH_ERROR;
	*size = v;
	*next = eol + 1;
	return WA_FETCH_DONE;
}

/* Copy the data of the (already validated) chunks from off into one buffer of total bytes. */
static uint8_t *
scan_dechunk(const uint8_t *buf, size_t len, size_t off, size_t total)
{
	uint8_t *out = xmalloc(total > 0 ? total : 1);
	const char *why;
	uint64_t size;
	size_t n = 0, next;

	while (scan_chunk_line(buf, len, off, &size, &next, &why) == WA_FETCH_DONE && size > 0 && size <= total - n) {
		memcpy(out + n, buf + next, (size_t)size);
		n += (size_t)size;
		off = next + (size_t)size + 2;
	}
	return out;
}

/* Start a response. */
void
wa_fetch_scan_init(struct wa_fetch_scan *s)
{
	memset(s, 0, sizeof(*s));
	s->phase = SC_HEAD;
}

/* Advance through what was appended since the last call. */
int
wa_fetch_scan(struct wa_fetch_scan *s, const uint8_t *buf, size_t len, int eof, size_t max_body, int *status,
    size_t *body_off, size_t *body_len, uint8_t **dechunked, char *err, size_t errlen)
{
	const uint8_t *nl;
	const char *why;
	uint64_t size;
	size_t i, lim, next, eol;

	*dechunked = NULL;
	for (;;) {
		switch (s->phase) {
		case SC_HEAD:
			lim = len < WA_FETCH_HEAD_MAX ? len : WA_FETCH_HEAD_MAX;
			/* The end may straddle the previous call's last bytes: look again at the last three. */
			for (i = s->pos > 3 ? s->pos - 3 : 0; i + 4 <= lim; i++)
				if (buf[i] == '\r' && memcmp(buf + i, "\r\n\r\n", 4) == 0)
					break;
			if (i + 4 > lim) {
				s->pos = lim;
				if (lim == WA_FETCH_HEAD_MAX) {
					s->phase = SC_SPENT;
					return errbuf_fail(err, errlen, "response head over %d bytes",
					    WA_FETCH_HEAD_MAX);
				}
				if (eof)
					return scan_fail(s, err, errlen, len == 0 ? "connection closed without a "
					    "response" : "connection closed in the response head");
				return WA_FETCH_AGAIN;
			}
			if (scan_head(s, buf, i + 4, max_body, err, errlen) == -1)
				return WA_FETCH_ERROR;
			break;
		case SC_LENGTH:
			if (len - s->body_off < s->length)
				goto again;
			*status = s->status;
			*body_off = s->body_off;
			*body_len = s->length;
			s->phase = SC_SPENT;
			return WA_FETCH_DONE;
		case SC_EOF:
			if (len - s->body_off > max_body) {
				s->phase = SC_SPENT;
				return errbuf_fail(err, errlen, "body over the limit of %zu bytes", max_body);
			}
			if (!eof)
				return WA_FETCH_AGAIN;
			*status = s->status;
			*body_off = s->body_off;
			*body_len = len - s->body_off;
			s->phase = SC_SPENT;
			return WA_FETCH_DONE;
		case SC_CHUNK_LINE:
			switch (scan_chunk_line(buf, len, s->pos, &size, &next, &why)) {
			case WA_FETCH_AGAIN:
				goto again;
			case WA_FETCH_ERROR:
				return scan_fail(s, err, errlen, why);
			}
			s->pos = next;
			if (size == 0) {
				s->phase = SC_TRAILER;
				s->trailer_off = next;
			} else if (size > max_body - s->total) {
				s->phase = SC_SPENT;
				return errbuf_fail(err, errlen, "chunked body over the limit of %zu bytes", max_body);
			} else {
				s->length = (size_t)size;
				s->phase = SC_CHUNK_DATA;
			}
			break;
		case SC_CHUNK_DATA:
			if (len - s->pos < 2 || len - s->pos - 2 < s->length)
				goto again;
			if (buf[s->pos + s->length] != '\r' || buf[s->pos + s->length + 1] != '\n')
				return scan_fail(s, err, errlen, "chunk data not followed by CRLF");
			s->total += s->length;
			s->pos += s->length + 2;
			s->phase = SC_CHUNK_LINE;
			break;
		case SC_TRAILER:
			/* Trailers are read (the response ends after them) and dropped, within a head's bound. */
			lim = len - s->trailer_off < WA_FETCH_HEAD_MAX ? len : s->trailer_off + WA_FETCH_HEAD_MAX;
			if ((nl = memchr(buf + s->pos, '\n', lim - s->pos)) == NULL) {
				if (lim - s->trailer_off == WA_FETCH_HEAD_MAX)
					return scan_fail(s, err, errlen, "trailer section too long");
				goto again;
			}
			eol = (size_t)(nl - buf);
			if (eol == s->pos || buf[eol - 1] != '\r')
				return scan_fail(s, err, errlen, "malformed trailer line");
			if (eol == s->pos + 1) {
				*status = s->status;
				*body_off = 0;
				*body_len = s->total;
				*dechunked = scan_dechunk(buf, len, s->body_off, s->total);
				s->phase = SC_SPENT;
				return WA_FETCH_DONE;
			}
			for (i = s->pos; i + 1 < eol; i++)
				if (!scan_vchar(buf[i]))
					return scan_fail(s, err, errlen, "control character in a trailer");
			s->pos = eol + 1;
			break;
		default:
			return errbuf_fail(err, errlen, "response scanner reused after its result");
		}
	}
again:
	if (eof)
		return scan_fail(s, err, errlen, "connection closed before the end of the body");
	return WA_FETCH_AGAIN;
}

/* The pure one-shot form: a fresh state over the whole buffer. */
int
wa_fetch_parse(const uint8_t *buf, size_t len, int eof, size_t max_body, int *status, size_t *body_off,
    size_t *body_len, uint8_t **dechunked, char *err, size_t errlen)
{
	struct wa_fetch_scan s;

	wa_fetch_scan_init(&s);
	return wa_fetch_scan(&s, buf, len, eof, max_body, status, body_off, body_len, dechunked, err, errlen);
}
