/* WhatsApp frame layer: connection header + 3-byte length framing (reference/wa-transport.md 1.2-1.3). */
#include "wa_frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

const uint8_t wa_frame_header_default[WA_FRAME_HEADER_LEN] = { 'W', 'A', 6, 3 };

#define ROUTING_INTRO_LEN 4	/* "ED" 0x00 0x01 */

struct wa_frame_writer {
	uint8_t header[WA_FRAME_MAX_HEADER];
	size_t header_len;
	uint8_t *routing;
	size_t routing_len;
	size_t max_payload;
	int started;
};

enum reader_state { READER_INTRO, READER_FRAMES, READER_FAILED };

struct wa_frame_reader {
	uint8_t header[WA_FRAME_MAX_HEADER];
	size_t header_len;
	size_t max_payload;
	enum reader_state state;
	uint8_t *buf;
	size_t cap, len, off;	/* bytes [off, len) are not yet consumed */
	uint8_t *routing;
	size_t routing_len;
	int preintro_done;	/* the "ED" pre-intro was consumed; only the header may follow */
};

/* Clamp a configured cap to what 3 length bytes can say. */
static size_t
frame_cap(size_t max_payload)
{
	return max_payload == 0 || max_payload > WA_FRAME_MAX_PAYLOAD ? WA_FRAME_MAX_PAYLOAD : max_payload;
}

/* A writer with an optional connection header. */
struct wa_frame_writer *
wa_frame_writer_new(const uint8_t *header, size_t header_len, size_t max_payload)
{
	struct wa_frame_writer *w;

	if (header_len > WA_FRAME_MAX_HEADER || (header == NULL && header_len != 0))
		return NULL;
	w = xcalloc(1, sizeof(*w));
	if (header_len > 0)
		memcpy(w->header, header, header_len);
	w->header_len = header_len;
	w->max_payload = frame_cap(max_payload);
	return w;
}

/* Release a writer. */
void
wa_frame_writer_free(struct wa_frame_writer *w)
{
	if (w == NULL)
		return;
	free(w->routing);
	free(w);
}

/* Remember the routing info for the pre-intro of the first frame. */
int
wa_frame_writer_set_routing_info(struct wa_frame_writer *w, const uint8_t *info, size_t len)
{
	if (w->started || len > WA_FRAME_MAX_ROUTING_INFO || (info == NULL && len != 0))
		return -1;
	free(w->routing);
	w->routing = NULL;
	w->routing_len = 0;
	if (len > 0) {
		w->routing = xmalloc(len);
		memcpy(w->routing, info, len);
		w->routing_len = len;
	}
	return 0;
}

/* Write a 24-bit big-endian length. */
static void
frame_put_len(uint8_t *p, size_t len)
{
	p[0] = (uint8_t)(len >> 16);
	p[1] = (uint8_t)(len >> 8);
	p[2] = (uint8_t)len;
}

/* Encode one frame, with the intro in front of the first. */
int
wa_frame_encode(struct wa_frame_writer *w, const void *payload, size_t len, uint8_t **out, size_t *outlen)
{
	size_t total = 0, pos = 0;
	uint8_t *p;

	*out = NULL;
	*outlen = 0;
	if (len > w->max_payload || (payload == NULL && len != 0))
		return -1;
	if (!w->started) {
		if (w->routing_len > 0)
			total += ROUTING_INTRO_LEN + WA_FRAME_LEN_BYTES + w->routing_len;
		total += w->header_len;
	}
	total += WA_FRAME_LEN_BYTES + len;
	p = xmalloc(total);
	if (!w->started) {
		if (w->routing_len > 0) {
			p[pos++] = 'E';
			p[pos++] = 'D';
			p[pos++] = 0;
			p[pos++] = 1;
			frame_put_len(p + pos, w->routing_len);
			pos += WA_FRAME_LEN_BYTES;
			memcpy(p + pos, w->routing, w->routing_len);
			pos += w->routing_len;
		}
		memcpy(p + pos, w->header, w->header_len);
		pos += w->header_len;
		w->started = 1;
	}
	frame_put_len(p + pos, len);
	pos += WA_FRAME_LEN_BYTES;
	if (len > 0)
		memcpy(p + pos, payload, len);
	*out = p;
	*outlen = total;
	return 0;
}

/* Whether the first frame has been encoded. */
int
wa_frame_writer_started(const struct wa_frame_writer *w)
{
	return w->started;
}

/* A reader, expecting a header first when one is given. */
struct wa_frame_reader *
wa_frame_reader_new(const uint8_t *expect_header, size_t expect_header_len, size_t max_payload)
{
	struct wa_frame_reader *r;

	if (expect_header_len > WA_FRAME_MAX_HEADER || (expect_header != NULL && expect_header_len == 0))
		return NULL;
	r = xcalloc(1, sizeof(*r));
	if (expect_header != NULL) {
		memcpy(r->header, expect_header, expect_header_len);
		r->header_len = expect_header_len;
		r->state = READER_INTRO;
	} else
		r->state = READER_FRAMES;
	r->max_payload = frame_cap(max_payload);
	return r;
}

/* Release a reader. */
void
wa_frame_reader_free(struct wa_frame_reader *r)
{
	if (r == NULL)
		return;
	free(r->buf);
	free(r->routing);
	free(r);
}

/* Drop consumed bytes from the front of the buffer (invalidates handed-out payloads). */
static void
reader_compact(struct wa_frame_reader *r)
{
	if (r->off == 0)
		return;
	if (r->len > r->off)
		memmove(r->buf, r->buf + r->off, r->len - r->off);
	r->len -= r->off;
	r->off = 0;
}

/* Append bytes to the reader's buffer. */
int
wa_frame_reader_feed(struct wa_frame_reader *r, const void *data, size_t len)
{
	size_t need;

	if (r->state == READER_FAILED || (data == NULL && len != 0))
		return -1;
	if (len == 0)
		return 0;
	reader_compact(r);
	if (len > SIZE_MAX - r->len)
		return -1;
	need = r->len + len;
	if (need > r->cap) {
		size_t ncap = r->cap > 0 ? r->cap : 256;

		while (ncap < need)
			ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
		r->buf = xreallocarray(r->buf, ncap, 1);
		r->cap = ncap;
	}
	memcpy(r->buf + r->len, data, len);
	r->len = need;
	return 0;
}

/* Mark the reader failed and say why. */
static int
reader_fail(struct wa_frame_reader *r, char *err, size_t errlen, const char *msg)
{
	r->state = READER_FAILED;
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", msg);
	return WA_FRAME_ERROR;
}

/* Consume the optional "ED" pre-intro and the expected connection header. */
static int
reader_intro(struct wa_frame_reader *r, char *err, size_t errlen)
{
	const uint8_t *p = r->buf + r->off;
	size_t avail = r->len - r->off, i, rlen;
	char msg[96];

	if (!r->preintro_done && r->header[0] != 'E' && avail >= 1 && p[0] == 'E') {
		if (avail < 2)
			return WA_FRAME_AGAIN;
		if (p[1] == 'D') {
			if (avail < ROUTING_INTRO_LEN + WA_FRAME_LEN_BYTES)
				return WA_FRAME_AGAIN;
			if (p[2] != 0 || p[3] != 1)
				return reader_fail(r, err, errlen, "frame: bad routing pre-intro");
			rlen = ((size_t)p[4] << 16) | ((size_t)p[5] << 8) | p[6];
			if (rlen > WA_FRAME_MAX_ROUTING_INFO)
				return reader_fail(r, err, errlen, "frame: routing pre-intro too long");
			if (avail < ROUTING_INTRO_LEN + WA_FRAME_LEN_BYTES + rlen)
				return WA_FRAME_AGAIN;
			r->routing = xmalloc(rlen > 0 ? rlen : 1);
			memcpy(r->routing, p + ROUTING_INTRO_LEN + WA_FRAME_LEN_BYTES, rlen);
			r->routing_len = rlen;
			r->preintro_done = 1;
			r->off += ROUTING_INTRO_LEN + WA_FRAME_LEN_BYTES + rlen;
			p = r->buf + r->off;
			avail = r->len - r->off;
		}
	}
	/* Compare what has arrived so far, so a wrong header fails at once. */
	for (i = 0; i < avail && i < r->header_len; i++) {
		if (p[i] != r->header[i]) {
			size_t n = 0, j;

			n += (size_t)snprintf(msg, sizeof(msg), "frame: bad connection header (got");
			for (j = 0; j < r->header_len && j < avail && n < sizeof(msg) - 4; j++)
				n += (size_t)snprintf(msg + n, sizeof(msg) - n, " %02x", p[j]);
			snprintf(msg + n, sizeof(msg) - n, ")");
			return reader_fail(r, err, errlen, msg);
		}
	}
	if (avail < r->header_len)
		return WA_FRAME_AGAIN;
	r->off += r->header_len;
	r->state = READER_FRAMES;
	return WA_FRAME_DONE;
}

/* Hand out the next complete frame. */
int
wa_frame_reader_next(struct wa_frame_reader *r, const uint8_t **payload, size_t *len, char *err,
    size_t errlen)
{
	const uint8_t *p;
	size_t avail, flen;
	int rc;

	*payload = NULL;
	*len = 0;
	if (r->state == READER_FAILED)
		return reader_fail(r, err, errlen, "frame: reader failed earlier");
	reader_compact(r);
	if (r->state == READER_INTRO) {
		if ((rc = reader_intro(r, err, errlen)) != WA_FRAME_DONE)
			return rc;
	}
	p = r->buf + r->off;
	avail = r->len - r->off;
	if (avail < WA_FRAME_LEN_BYTES)
		return WA_FRAME_AGAIN;
	flen = ((size_t)p[0] << 16) | ((size_t)p[1] << 8) | p[2];
	/* Check the declared length before waiting for (and buffering) the body. */
	if (flen > r->max_payload) {
		char msg[96];

		snprintf(msg, sizeof(msg), "frame: length %zu exceeds limit %zu", flen, r->max_payload);
		return reader_fail(r, err, errlen, msg);
	}
	if (avail - WA_FRAME_LEN_BYTES < flen)
		return WA_FRAME_AGAIN;
	*payload = p + WA_FRAME_LEN_BYTES;
	*len = flen;
	r->off += WA_FRAME_LEN_BYTES + flen;
	return WA_FRAME_DONE;
}

/* The routing info of a received "ED" pre-intro. */
const uint8_t *
wa_frame_reader_routing_info(const struct wa_frame_reader *r, size_t *len)
{
	*len = r->routing_len;
	return r->routing;
}

/* Bytes buffered and not yet consumed. */
size_t
wa_frame_reader_pending(const struct wa_frame_reader *r)
{
	return r->len - r->off;
}
