/* libFuzzer target: the WhatsApp frame reader (server side with the connection header and the "ED"
 * pre-intro, client side without) fed the input in chunks whose sizes the input chooses, checked against a
 * one-shot parse of the same bytes. The first input byte picks the role, the size cap and the chunking. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wa_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	uint8_t *bytes;		/* concatenated payloads */
	size_t len;
	size_t frames;
	int error;
};

/* Drain every complete frame from r into s. */
static void
drain(struct wa_frame_reader *r, struct seen *s, size_t cap)
{
	const uint8_t *p;
	size_t len;
	char err[128];
	int rc;

	while ((rc = wa_frame_reader_next(r, &p, &len, err, sizeof(err))) == WA_FRAME_DONE) {
		if (len > (cap != 0 ? cap : WA_FRAME_MAX_PAYLOAD) || (len > 0 && p == NULL))
			abort();
		s->bytes = realloc(s->bytes, s->len + len + 1);
		if (len > 0)
			memcpy(s->bytes + s->len, p, len);	/* ASan checks the view */
		s->len += len;
		s->frames++;
	}
	if (rc == WA_FRAME_ERROR) {
		if (err[0] == '\0')
			abort();
		s->error = 1;
	}
}

/* Parse buf through one reader, fed in chunks of the given pattern (0 = all at once). */
static void
run(const uint8_t *hdr, size_t cap, const uint8_t *buf, size_t len, unsigned pattern, struct seen *s)
{
	struct wa_frame_reader *r = wa_frame_reader_new(hdr, hdr != NULL ? WA_FRAME_HEADER_LEN : 0, cap);
	size_t off = 0, step;

	memset(s, 0, sizeof(*s));
	while (off < len && !s->error) {
		step = pattern == 0 ? len - off : 1 + (buf[off] + pattern) % (pattern * 3 + 1);
		if (step > len - off)
			step = len - off;
		if (wa_frame_reader_feed(r, buf + off, step) != 0)
			abort();
		off += step;
		drain(r, s, cap);
	}
	wa_frame_reader_free(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t caps[] = { 0, 16, 300, 65536 };
	struct seen a, b;
	const uint8_t *hdr;
	size_t cap;

	if (size < 1 || size > 1 << 20)
		return 0;
	hdr = (data[0] & 1) ? wa_frame_header_default : NULL;
	cap = caps[(data[0] >> 1) & 3];
	run(hdr, cap, data + 1, size - 1, 0, &a);
	run(hdr, cap, data + 1, size - 1, 1 + (data[0] >> 3), &b);
	/* Chunking must not change what comes out, up to the first error. */
	if (!a.error && !b.error && (a.frames != b.frames || a.len != b.len ||
	    (a.len > 0 && memcmp(a.bytes, b.bytes, a.len) != 0)))
		abort();
	if (a.error != b.error)
		abort();
	free(a.bytes);
	free(b.bytes);
	return 0;
}
