/* RFC 6455 WebSocket upgrade and framing for both roles (see wa_ws.h). */
#include "wa_ws.h"

#include "xmalloc.h"

#include <mbedtls/base64.h>
#include <mbedtls/sha1.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

struct wa_ws {
	enum wa_ws_role role;
	size_t max_message;
	uint8_t *frag;		/* reassembly buffer of a fragmented data message */
	size_t frag_len, frag_cap;
	int frag_opcode;	/* 0 = no fragmented message in progress */
	int frag_delivered;	/* the buffer was handed out: reset on the next call */
};

/* Fill buf with len random bytes from the kernel. */
static int
ws_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Generate the random Sec-WebSocket-Key a client sends. */
int
wa_ws_key_new(char key[WA_WS_KEY_LEN + 1])
{
	uint8_t raw[16];
	size_t olen;

	if (ws_random(raw, sizeof(raw)) == -1)
		return -1;
	if (mbedtls_base64_encode((unsigned char *)key, WA_WS_KEY_LEN + 1, &olen, raw, sizeof(raw)) != 0 ||
	    olen != WA_WS_KEY_LEN)
		return -1;
	key[WA_WS_KEY_LEN] = '\0';
	return 0;
}

/* Derive Sec-WebSocket-Accept: base64(SHA-1(key || GUID)). */
int
wa_ws_accept_compute(const char *key, char accept[WA_WS_ACCEPT_LEN + 1])
{
	mbedtls_sha1_context sha;
	uint8_t digest[20];
	size_t olen;
	int rc;

	mbedtls_sha1_init(&sha);
	rc = mbedtls_sha1_starts_ret(&sha);
	if (rc == 0)
		rc = mbedtls_sha1_update_ret(&sha, (const unsigned char *)key, strlen(key));
	if (rc == 0)
		rc = mbedtls_sha1_update_ret(&sha, (const unsigned char *)WS_GUID, strlen(WS_GUID));
	if (rc == 0)
		rc = mbedtls_sha1_finish_ret(&sha, digest);
	mbedtls_sha1_free(&sha);
	if (rc != 0)
		return -1;
	if (mbedtls_base64_encode((unsigned char *)accept, WA_WS_ACCEPT_LEN + 1, &olen, digest,
	    sizeof(digest)) != 0 || olen != WA_WS_ACCEPT_LEN)
		return -1;
	accept[WA_WS_ACCEPT_LEN] = '\0';
	return 0;
}

/* Build the client's GET upgrade request. */
char *
wa_ws_request_build(const char *host, const char *path, const char *key, const char *origin)
{
	char *s;

	xasprintf(&s,
	    "GET %s HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "%s%s%s"
	    "Cache-Control: no-cache\r\n"
	    "Pragma: no-cache\r\n"
	    "\r\n",
	    path, host, key, origin ? "Origin: " : "", origin ? origin : "", origin ? "\r\n" : "");
	return s;
}

/* Build the server's 101 answer. */
char *
wa_ws_response_build(const char *key)
{
	char accept[WA_WS_ACCEPT_LEN + 1], *s;

	if (wa_ws_accept_compute(key, accept) == -1)
		return NULL;
	xasprintf(&s,
	    "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n"
	    "\r\n", accept);
	return s;
}

/* Find the end of an HTTP head in buf: the length including the blank line, 0 if absent. */
static size_t
ws_head_end(const char *buf, size_t len)
{
	size_t i;

	for (i = 3; i < len; i++)
		if (buf[i - 3] == '\r' && buf[i - 2] == '\n' && buf[i - 1] == '\r' && buf[i] == '\n')
			return i + 1;
	return 0;
}

/* Does the comma-separated header value v (length n) contain token tok, case-insensitively? */
static int
ws_has_token(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok), i = 0;

	while (i < n) {
		size_t s, e;
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
			return 1;
	}
	return 0;
}

/* One header line of an HTTP head, as spans into the buffer. */
struct ws_hdr {
	const char *name, *value;
	size_t nlen, vlen;
};

/* Split one header line starting at *pos (bounded by end) into h; advance *pos. 1 = got one, 0 = end. */
static int
ws_next_header(const char *buf, size_t end, size_t *pos, struct ws_hdr *h)
{
	size_t i = *pos, eol, colon;

	if (i + 2 > end || (buf[i] == '\r' && buf[i + 1] == '\n'))
		return 0;
	for (eol = i; eol + 1 < end && !(buf[eol] == '\r' && buf[eol + 1] == '\n'); eol++)
		;
	if (eol + 1 >= end)
		return -1;
	for (colon = i; colon < eol && buf[colon] != ':'; colon++)
		;
	if (colon == eol || colon == i)
		return -1;
	h->name = buf + i;
	h->nlen = colon - i;
	colon++;
	while (colon < eol && (buf[colon] == ' ' || buf[colon] == '\t'))
		colon++;
	h->value = buf + colon;
	h->vlen = eol - colon;
	while (h->vlen > 0 && (h->value[h->vlen - 1] == ' ' || h->value[h->vlen - 1] == '\t'))
		h->vlen--;
	*pos = eol + 2;
	return 1;
}

/* Is header h named name? */
static int
ws_hdr_is(const struct ws_hdr *h, const char *name)
{
	return h->nlen == strlen(name) && strncasecmp(h->name, name, h->nlen) == 0;
}

/* Verify the server's 101 answer to our upgrade request. */
int
wa_ws_response_parse(const char *buf, size_t len, const char *key, size_t *consumed, int *status,
    char *err, size_t errlen)
{
	char accept[WA_WS_ACCEPT_LEN + 1];
	size_t end, pos;
	struct ws_hdr h;
	int got_upgrade = 0, got_conn = 0, got_accept = 0, code, r;

	*status = 0;
	if (len > WA_WS_MAX_HTTP_HEAD)
		len = WA_WS_MAX_HTTP_HEAD;
	end = ws_head_end(buf, len);
	if (end == 0) {
		if (len >= WA_WS_MAX_HTTP_HEAD) {
			snprintf(err, errlen, "upgrade answer head too long");
			return WA_WS_ERROR;
		}
		return WA_WS_AGAIN;
	}
	if (end < 12 || memcmp(buf, "HTTP/1.1 ", 9) != 0 || !isdigit((unsigned char)buf[9]) ||
	    !isdigit((unsigned char)buf[10]) || !isdigit((unsigned char)buf[11])) {
		snprintf(err, errlen, "not an HTTP/1.1 answer");
		return WA_WS_ERROR;
	}
	code = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	*status = code;
	if (code != 101) {
		snprintf(err, errlen, "server answered HTTP %d instead of 101", code);
		return WA_WS_ERROR;
	}
	for (pos = 0; pos + 1 < end && !(buf[pos] == '\r' && buf[pos + 1] == '\n'); pos++)
		;
	pos += 2;
	if (wa_ws_accept_compute(key, accept) == -1) {
		snprintf(err, errlen, "cannot compute accept key");
		return WA_WS_ERROR;
	}
	while ((r = ws_next_header(buf, end, &pos, &h)) == 1) {
		if (ws_hdr_is(&h, "Upgrade"))
			got_upgrade = ws_has_token(h.value, h.vlen, "websocket");
		else if (ws_hdr_is(&h, "Connection"))
			got_conn = ws_has_token(h.value, h.vlen, "upgrade");
		else if (ws_hdr_is(&h, "Sec-WebSocket-Accept")) {
			if (h.vlen != WA_WS_ACCEPT_LEN || memcmp(h.value, accept, WA_WS_ACCEPT_LEN) != 0) {
				snprintf(err, errlen, "wrong Sec-WebSocket-Accept");
				return WA_WS_ERROR;
			}
			got_accept = 1;
		} else if (ws_hdr_is(&h, "Sec-WebSocket-Extensions") && h.vlen > 0) {
			snprintf(err, errlen, "server chose an extension we did not offer");
			return WA_WS_ERROR;
		} else if (ws_hdr_is(&h, "Sec-WebSocket-Protocol") && h.vlen > 0) {
			snprintf(err, errlen, "server chose a subprotocol we did not offer");
			return WA_WS_ERROR;
		}
	}
	if (r == -1) {
		snprintf(err, errlen, "malformed header line in upgrade answer");
		return WA_WS_ERROR;
	}
	if (!got_upgrade || !got_conn || !got_accept) {
		snprintf(err, errlen, "upgrade answer lacks %s", !got_upgrade ? "Upgrade: websocket" :
		    !got_conn ? "Connection: Upgrade" : "Sec-WebSocket-Accept");
		return WA_WS_ERROR;
	}
	*consumed = end;
	return WA_WS_DONE;
}

/* Parse a client's upgrade request (server side). */
int
wa_ws_request_parse(const char *buf, size_t len, size_t *consumed, char key[WA_WS_KEY_LEN + 1],
    char *path, size_t pathlen, char *err, size_t errlen)
{
	size_t end, pos, sp;
	struct ws_hdr h;
	int got_upgrade = 0, got_conn = 0, got_version = 0, got_key = 0, r;
	uint8_t raw[32];
	size_t olen;

	if (len > WA_WS_MAX_HTTP_HEAD)
		len = WA_WS_MAX_HTTP_HEAD;
	end = ws_head_end(buf, len);
	if (end == 0) {
		if (len >= WA_WS_MAX_HTTP_HEAD) {
			snprintf(err, errlen, "request head too long");
			return WA_WS_ERROR;
		}
		return WA_WS_AGAIN;
	}
	if (end < 16 || memcmp(buf, "GET ", 4) != 0) {
		snprintf(err, errlen, "not a GET request");
		return WA_WS_ERROR;
	}
	for (sp = 4; sp < end && buf[sp] != ' ' && buf[sp] != '\r'; sp++)
		;
	/* The head is not NUL-terminated: compare only bytes it has (a request line ending in "HTTP/1" right before
	 * the blank line must not read past it; the fuzzer's comparison hook, which reads all n bytes, found it). */
	if (sp >= end || buf[sp] != ' ' || end - (sp + 1) < 10 || memcmp(buf + sp + 1, "HTTP/1.1\r\n", 10) != 0) {
		snprintf(err, errlen, "bad request line");
		return WA_WS_ERROR;
	}
	if (path != NULL && pathlen > 0) {
		size_t n = sp - 4 < pathlen - 1 ? sp - 4 : pathlen - 1;
		memcpy(path, buf + 4, n);
		path[n] = '\0';
	}
	pos = sp + 11;
	while ((r = ws_next_header(buf, end, &pos, &h)) == 1) {
		if (ws_hdr_is(&h, "Upgrade"))
			got_upgrade = ws_has_token(h.value, h.vlen, "websocket");
		else if (ws_hdr_is(&h, "Connection"))
			got_conn = ws_has_token(h.value, h.vlen, "upgrade");
		else if (ws_hdr_is(&h, "Sec-WebSocket-Version"))
			got_version = h.vlen == 2 && memcmp(h.value, "13", 2) == 0;
		else if (ws_hdr_is(&h, "Sec-WebSocket-Key")) {
			if (h.vlen != WA_WS_KEY_LEN || mbedtls_base64_decode(raw, sizeof(raw), &olen,
			    (const unsigned char *)h.value, h.vlen) != 0 || olen != 16) {
				snprintf(err, errlen, "bad Sec-WebSocket-Key");
				return WA_WS_ERROR;
			}
			memcpy(key, h.value, WA_WS_KEY_LEN);
			key[WA_WS_KEY_LEN] = '\0';
			got_key = 1;
		}
	}
	if (r == -1) {
		snprintf(err, errlen, "malformed header line");
		return WA_WS_ERROR;
	}
	if (!got_upgrade || !got_conn || !got_version || !got_key) {
		snprintf(err, errlen, "not a WebSocket upgrade (missing %s)", !got_upgrade ? "Upgrade" :
		    !got_conn ? "Connection" : !got_version ? "Sec-WebSocket-Version: 13" : "Sec-WebSocket-Key");
		return WA_WS_ERROR;
	}
	*consumed = end;
	return WA_WS_DONE;
}

/* Create a frame parser for role. */
struct wa_ws *
wa_ws_new(enum wa_ws_role role, size_t max_message)
{
	struct wa_ws *ws = xcalloc(1, sizeof(*ws));

	ws->role = role;
	ws->max_message = max_message ? max_message : WA_WS_DEFAULT_MAX_MESSAGE;
	return ws;
}

/* Release a frame parser. */
void
wa_ws_free(struct wa_ws *ws)
{
	if (ws == NULL)
		return;
	free(ws->frag);
	free(ws);
}

/* Is p[0..n) well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, at most U+10FFFF)? */
static int
ws_utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = p[i];
		size_t k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else
			return 0;
		if (i + k >= n)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + j] & 0x3f);
		}
		if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (k == 3 && (cp < 0x10000 ||
		    cp > 0x10ffff)))
			return 0;
		i += k + 1;
	}
	return 1;
}

/* Is code a close status a peer may send (RFC 6455 7.4)? */
static int
ws_close_code_valid(int code)
{
	if (code >= 1000 && code <= 1003)
		return 1;
	if (code >= 1007 && code <= 1011)
		return 1;
	return code >= 3000 && code <= 4999;
}

/* Record a protocol failure for wa_ws_parse. */
static int
ws_fail(struct wa_ws_msg *msg, int code, char *err, size_t errlen, const char *why)
{
	msg->close_code = code;
	snprintf(err, errlen, "%s", why);
	return WA_WS_ERROR;
}

/* Parse frames until one complete message or control frame is available (see wa_ws.h). */
int
wa_ws_parse(struct wa_ws *ws, uint8_t *buf, size_t len, size_t *consumed, size_t *need,
    struct wa_ws_msg *msg, char *err, size_t errlen)
{
	size_t off = 0;

	memset(msg, 0, sizeof(*msg));
	*consumed = 0;
	*need = 2;
	if (ws->frag_delivered) {
		ws->frag_delivered = 0;
		ws->frag_len = 0;
		ws->frag_opcode = 0;
	}
	for (;;) {
		uint8_t *p = buf + off;
		size_t avail = len - off, hdr = 2, total;
		uint64_t plen;
		int fin, opcode, masked;
		uint8_t mkey[4] = { 0, 0, 0, 0 };

		*consumed = off;
		if (avail < 2) {
			*need = 2;
			return WA_WS_AGAIN;
		}
		fin = (p[0] & 0x80) != 0;
		opcode = p[0] & 0x0f;
		masked = (p[1] & 0x80) != 0;
		if (p[0] & 0x70)
			return ws_fail(msg, WA_WS_CLOSE_PROTOCOL, err, errlen, "reserved bits set (no extension agreed)");
		if (opcode != WA_WS_OP_CONT && opcode != WA_WS_OP_TEXT && opcode != WA_WS_OP_BINARY &&
		    opcode != WA_WS_OP_CLOSE && opcode != WA_WS_OP_PING && opcode != WA_WS_OP_PONG)
			return ws_fail(msg, WA_WS_CLOSE_PROTOCOL, err, errlen, "unknown opcode");
		if (ws->role == WA_WS_CLIENT && masked)
			return ws_fail(msg, WA_WS_CLOSE_PROTOCOL, err, errlen, "server sent a masked frame");
		if (ws->role == WA_WS_SERVER && !masked)
			return ws_fail(msg, WA_WS_CLOSE_PROTOCOL, err, errlen, "client sent an unmasked frame");
		plen = p[1] & 0x7f;
		if (plen == 126) {
			hdr += 2;
			if (avail < hdr) {
				*need = hdr;
				return WA_WS_AGAIN;
			}
			plen = ((uint64_t)p[2] << 8) | p[3];
			if (plen < 126)
				return ws_fail(msg, WA_WS_CLOSE_PROTOCOL, err, errlen, "non-minimal 16-bit length");
		} else if (plen == 127) {
			hdr += 8;
			if (avail < hdr) {
				*need = hdr;
				return WA_WS_AGAIN;
			}
			plen = 0;
			for (int i = 0; i < 8; i++)
				plen = (plen << 8) | p[2 + i];
			if (plen >> 63)
				return ws_fail(msg, WA_WS_CLOSE_PROTOCOL, err, errlen, "64-bit length with top bit set");
			if (plen <= 0xffff)
				return ws_fail(msg, WA_WS_CLOSE_PROTOCOL, err, errlen, "non-minimal 64-bit length");
		}
		if (opcode >= WA_WS_OP_CLOSE) {
			if (!fin)
				return ws_fail(msg, WA_WS_CLOSE_PROTOCOL, err, errlen, "fragmented control frame");
			if (plen > 125)
				return ws_fail(msg, WA_WS_CLOSE_PROTOCOL, err, errlen, "control frame longer than 125");
		} else if (opcode == WA_WS_OP_CONT) {
			if (ws->frag_opcode == 0)
				return ws_fail(msg, WA_WS_CLOSE_PROTOCOL, err, errlen, "continuation without a start");
			if (plen > ws->max_message - ws->frag_len)
				return ws_fail(msg, WA_WS_CLOSE_TOO_BIG, err, errlen, "message too big");
		} else {
			if (ws->frag_opcode != 0)
				return ws_fail(msg, WA_WS_CLOSE_PROTOCOL, err, errlen, "new message inside a fragmented one");
			if (plen > ws->max_message)
				return ws_fail(msg, WA_WS_CLOSE_TOO_BIG, err, errlen, "message too big");
		}
		if (masked) {
			if (avail < hdr + 4) {
				*need = hdr + 4;
				return WA_WS_AGAIN;
			}
			memcpy(mkey, p + hdr, 4);
			hdr += 4;
		}
		total = hdr + (size_t)plen;
		if (avail < total) {
			*need = total;
			return WA_WS_AGAIN;
		}
		if (masked)
			for (size_t i = 0; i < plen; i++)
				p[hdr + i] ^= mkey[i & 3];
		off += total;

		if (opcode >= WA_WS_OP_CLOSE) {
			msg->opcode = opcode;
			msg->data = p + hdr;
			msg->len = (size_t)plen;
			if (opcode == WA_WS_OP_CLOSE) {
				if (plen == 1)
					return ws_fail(msg, WA_WS_CLOSE_PROTOCOL, err, errlen, "close payload of 1 byte");
				if (plen == 0)
					msg->close_code = WA_WS_CLOSE_NO_STATUS;
				else {
					msg->close_code = (p[hdr] << 8) | p[hdr + 1];
					if (!ws_close_code_valid(msg->close_code))
						return ws_fail(msg, WA_WS_CLOSE_PROTOCOL, err, errlen, "invalid close code");
					if (!ws_utf8_valid(p + hdr + 2, (size_t)plen - 2))
						return ws_fail(msg, WA_WS_CLOSE_INVALID, err, errlen, "close reason not UTF-8");
				}
			}
			*consumed = off;
			return WA_WS_DONE;
		}
		if (opcode != WA_WS_OP_CONT && fin) {
			if (opcode == WA_WS_OP_TEXT && !ws_utf8_valid(p + hdr, (size_t)plen))
				return ws_fail(msg, WA_WS_CLOSE_INVALID, err, errlen, "text message not UTF-8");
			msg->opcode = opcode;
			msg->data = p + hdr;
			msg->len = (size_t)plen;
			*consumed = off;
			return WA_WS_DONE;
		}
		/* A fragment: copy it out so the caller may drop the consumed bytes. */
		if (ws->frag_len + plen > ws->frag_cap) {
			size_t cap = ws->frag_cap ? ws->frag_cap : 4096;
			while (cap < ws->frag_len + plen)
				cap *= 2;
			if (cap > ws->max_message)
				cap = ws->max_message;
			ws->frag = xreallocarray(ws->frag, 1, cap ? cap : 1);
			ws->frag_cap = cap;
		}
		if (plen > 0)
			memcpy(ws->frag + ws->frag_len, p + hdr, (size_t)plen);
		ws->frag_len += (size_t)plen;
		if (opcode != WA_WS_OP_CONT)
			ws->frag_opcode = opcode;
		if (fin) {
			if (ws->frag_opcode == WA_WS_OP_TEXT && !ws_utf8_valid(ws->frag, ws->frag_len))
				return ws_fail(msg, WA_WS_CLOSE_INVALID, err, errlen, "text message not UTF-8");
			msg->opcode = ws->frag_opcode;
			msg->data = ws->frag;
			msg->len = ws->frag_len;
			ws->frag_delivered = 1;
			*consumed = off;
			return WA_WS_DONE;
		}
	}
}

/* Size of a frame carrying len payload bytes. */
size_t
wa_ws_frame_size(size_t len, int mask)
{
	size_t hdr = 2;

	if (len > 0xffff)
		hdr += 8;
	else if (len > 125)
		hdr += 2;
	return hdr + (mask ? 4 : 0) + len;
}

/* Write one frame into out. */
size_t
wa_ws_frame_encode(uint8_t *out, size_t outlen, int opcode, int fin, int mask, const void *payload,
    size_t len)
{
	size_t need = wa_ws_frame_size(len, mask), hdr = 2;
	uint8_t mkey[4];

	if (need > outlen || (opcode >= WA_WS_OP_CLOSE && len > 125))
		return 0;
	out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
	if (len > 0xffff) {
		out[1] = 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
		hdr += 8;
	} else if (len > 125) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		hdr += 2;
	} else
		out[1] = (uint8_t)len;
	if (mask) {
		if (ws_random(mkey, sizeof(mkey)) == -1)
			return 0;
		out[1] |= 0x80;
		memcpy(out + hdr, mkey, 4);
		hdr += 4;
		for (size_t i = 0; i < len; i++)
			out[hdr + i] = ((const uint8_t *)payload)[i] ^ mkey[i & 3];
	} else if (len > 0)
		memcpy(out + hdr, payload, len);
	return need;
}

/* Write a close frame with status code and reason (truncated to fit a control frame). */
size_t
wa_ws_close_encode(uint8_t *out, size_t outlen, int mask, int code, const char *reason)
{
	uint8_t pl[125];
	size_t rl = reason ? strlen(reason) : 0;

	if (rl > sizeof(pl) - 2)
		rl = sizeof(pl) - 2;
	pl[0] = (uint8_t)(code >> 8);
	pl[1] = (uint8_t)code;
	if (rl > 0)
		memcpy(pl + 2, reason, rl);
	return wa_ws_frame_encode(out, outlen, WA_WS_OP_CLOSE, 1, mask, pl, rl + 2);
}
