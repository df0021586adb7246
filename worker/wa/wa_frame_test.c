/* Frame layer KATs: the connection header, frames split across feeds, several frames in one feed,
 * oversize and bad headers, the "ED" routing pre-intro. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wa_frame.h"

/* The client's first output carries the header; later frames do not. */
static void
test_writer(void **state)
{
	struct wa_frame_writer *w;
	uint8_t *out;
	size_t len;
	static const uint8_t first[] = { 'W', 'A', 6, 3, 0, 0, 3, 'a', 'b', 'c' };
	static const uint8_t second[] = { 0, 0, 2, 'x', 'y' };
	static const uint8_t empty[] = { 0, 0, 0 };

	(void)state;
	w = wa_frame_writer_new(wa_frame_header_default, WA_FRAME_HEADER_LEN, 0);
	assert_non_null(w);
	assert_int_equal(wa_frame_writer_started(w), 0);
	assert_int_equal(wa_frame_encode(w, "abc", 3, &out, &len), 0);
	assert_int_equal(len, sizeof(first));
	assert_memory_equal(out, first, len);
	free(out);
	assert_int_equal(wa_frame_writer_started(w), 1);
	assert_int_equal(wa_frame_encode(w, "xy", 2, &out, &len), 0);
	assert_int_equal(len, sizeof(second));
	assert_memory_equal(out, second, len);
	free(out);
	assert_int_equal(wa_frame_encode(w, NULL, 0, &out, &len), 0);
	assert_memory_equal(out, empty, 3);
	free(out);
	/* routing info only before the first frame */
	assert_int_equal(wa_frame_writer_set_routing_info(w, (const uint8_t *)"r", 1), -1);
	wa_frame_writer_free(w);

	/* server side: no header at all */
	w = wa_frame_writer_new(NULL, 0, 0);
	assert_int_equal(wa_frame_encode(w, "xy", 2, &out, &len), 0);
	assert_memory_equal(out, second, len);
	free(out);
	wa_frame_writer_free(w);

	/* a configured header (e.g. dictionary version 2) */
	{
		static const uint8_t h2[] = { 'W', 'A', 6, 2 };

		w = wa_frame_writer_new(h2, 4, 0);
		assert_int_equal(wa_frame_encode(w, "", 0, &out, &len), 0);
		assert_int_equal(len, 7);
		assert_memory_equal(out, h2, 4);
		free(out);
		wa_frame_writer_free(w);
	}
	assert_null(wa_frame_writer_new((const uint8_t *)"01234567890123456", 17, 0));
	wa_frame_writer_free(NULL);
}

/* Size limits: the 3-byte maximum, and a configured lower cap on both sides. */
static void
test_sizes(void **state)
{
	struct wa_frame_writer *w;
	struct wa_frame_reader *r;
	uint8_t *big, *out;
	size_t len;
	const uint8_t *p;
	char err[128];

	(void)state;
	big = calloc(1, WA_FRAME_MAX_PAYLOAD + 1);
	assert_non_null(big);
	w = wa_frame_writer_new(NULL, 0, 0);
	assert_int_equal(wa_frame_encode(w, big, WA_FRAME_MAX_PAYLOAD + 1, &out, &len), -1);
	assert_null(out);
	assert_int_equal(wa_frame_encode(w, big, WA_FRAME_MAX_PAYLOAD, &out, &len), 0);
	assert_int_equal(len, WA_FRAME_MAX_PAYLOAD + 3);
	assert_int_equal(out[0], 0xff);
	assert_int_equal(out[1], 0xff);
	assert_int_equal(out[2], 0xff);
	/* the largest frame goes through a default reader */
	r = wa_frame_reader_new(NULL, 0, 0);
	assert_int_equal(wa_frame_reader_feed(r, out, len), 0);
	assert_int_equal(wa_frame_reader_next(r, &p, &len, err, sizeof(err)), WA_FRAME_DONE);
	assert_int_equal(len, WA_FRAME_MAX_PAYLOAD);
	wa_frame_reader_free(r);
	free(out);
	wa_frame_writer_free(w);

	w = wa_frame_writer_new(NULL, 0, 1000);
	assert_int_equal(wa_frame_encode(w, big, 1001, &out, &len), -1);
	assert_int_equal(wa_frame_encode(w, big, 1000, &out, &len), 0);
	free(out);
	wa_frame_writer_free(w);
	free(big);

	/* oversize: refused as soon as the length is known, before the body arrives */
	r = wa_frame_reader_new(NULL, 0, 1000);
	assert_int_equal(wa_frame_reader_feed(r, "\x00\x03", 2), 0);
	assert_int_equal(wa_frame_reader_next(r, &p, &len, err, sizeof(err)), WA_FRAME_AGAIN);
	assert_int_equal(wa_frame_reader_feed(r, "\xe9", 1), 0);	/* 0x0003e9 = 1001 */
	assert_int_equal(wa_frame_reader_next(r, &p, &len, err, sizeof(err)), WA_FRAME_ERROR);
	assert_string_equal(err, "frame: length 1001 exceeds limit 1000");
	/* errors are sticky */
	assert_int_equal(wa_frame_reader_feed(r, "\x00\x00\x00", 3), -1);
	assert_int_equal(wa_frame_reader_next(r, &p, &len, err, sizeof(err)), WA_FRAME_ERROR);
	wa_frame_reader_free(r);
}

/* One feed with several frames; a frame split across feeds, byte by byte, including inside the length. */
static void
test_reader_splits(void **state)
{
	static const uint8_t stream[] = {
		0, 0, 3, 'a', 'b', 'c',
		0, 0, 0,
		0, 0, 5, 'h', 'e', 'l', 'l', 'o',
		0, 0, 1, 'z',
	};
	static const char *want[] = { "abc", "", "hello", "z" };
	struct wa_frame_reader *r;
	const uint8_t *p;
	size_t len, i, got;
	char err[128];
	int rc;

	(void)state;
	/* all at once */
	r = wa_frame_reader_new(NULL, 0, 0);
	assert_int_equal(wa_frame_reader_feed(r, stream, sizeof(stream)), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(wa_frame_reader_next(r, &p, &len, err, sizeof(err)), WA_FRAME_DONE);
		assert_int_equal(len, strlen(want[i]));
		assert_memory_equal(p, want[i], len);
	}
	assert_int_equal(wa_frame_reader_next(r, &p, &len, err, sizeof(err)), WA_FRAME_AGAIN);
	assert_int_equal(wa_frame_reader_pending(r), 0);
	wa_frame_reader_free(r);

	/* one byte at a time, and every split point in two pieces */
	for (size_t cut = 0; cut <= sizeof(stream); cut++) {
		r = wa_frame_reader_new(NULL, 0, 0);
		got = 0;
		for (i = 0; i < sizeof(stream); ) {
			size_t n = cut == 0 ? 1 : (i < cut ? cut - i : sizeof(stream) - i);

			assert_int_equal(wa_frame_reader_feed(r, stream + i, n), 0);
			i += n;
			while ((rc = wa_frame_reader_next(r, &p, &len, err, sizeof(err))) == WA_FRAME_DONE) {
				assert_true(got < 4);
				assert_int_equal(len, strlen(want[got]));
				assert_memory_equal(p, want[got], len);
				got++;
			}
			assert_int_equal(rc, WA_FRAME_AGAIN);
		}
		assert_int_equal(got, 4);
		wa_frame_reader_free(r);
	}
}

/* The server expects the header (optionally after an "ED" pre-intro); the client must not strip one. */
static void
test_reader_header(void **state)
{
	static const uint8_t first[] = { 'W', 'A', 6, 3, 0, 0, 2, 'h', 'i' };
	static const uint8_t v2[] = { 'W', 'A', 6, 2, 0, 0, 0 };
	static const uint8_t junk[] = { 'G', 'E', 'T', ' ' };
	static const uint8_t ed[] = { 'E', 'D', 0, 1, 0, 0, 3, 'r', 'i', 'd', 'W', 'A', 6, 3, 0, 0, 1, '!' };
	struct wa_frame_reader *r;
	struct wa_frame_writer *w;
	const uint8_t *p, *ri;
	size_t len, i, rlen;
	uint8_t *out;
	char err[128];

	(void)state;
	r = wa_frame_reader_new(wa_frame_header_default, WA_FRAME_HEADER_LEN, 0);
	for (i = 0; i < sizeof(first); i++) {
		assert_int_equal(wa_frame_reader_feed(r, first + i, 1), 0);
		assert_int_equal(wa_frame_reader_next(r, &p, &len, err, sizeof(err)),
		    i + 1 < sizeof(first) ? WA_FRAME_AGAIN : WA_FRAME_DONE);
	}
	assert_int_equal(len, 2);
	assert_memory_equal(p, "hi", 2);
	/* the header is not expected again */
	assert_int_equal(wa_frame_reader_feed(r, first + 4, 5), 0);
	assert_int_equal(wa_frame_reader_next(r, &p, &len, err, sizeof(err)), WA_FRAME_DONE);
	assert_int_equal(wa_frame_reader_routing_info(r, &rlen) == NULL, 1);
	wa_frame_reader_free(r);

	/* a wrong dictionary version is refused with the bytes in the reason */
	r = wa_frame_reader_new(wa_frame_header_default, WA_FRAME_HEADER_LEN, 0);
	assert_int_equal(wa_frame_reader_feed(r, v2, sizeof(v2)), 0);
	assert_int_equal(wa_frame_reader_next(r, &p, &len, err, sizeof(err)), WA_FRAME_ERROR);
	assert_string_equal(err, "frame: bad connection header (got 57 41 06 02)");
	wa_frame_reader_free(r);
	/* junk fails at once, without waiting for the whole header */
	r = wa_frame_reader_new(wa_frame_header_default, WA_FRAME_HEADER_LEN, 0);
	assert_int_equal(wa_frame_reader_feed(r, junk, 1), 0);
	assert_int_equal(wa_frame_reader_next(r, &p, &len, err, sizeof(err)), WA_FRAME_ERROR);
	wa_frame_reader_free(r);

	/* a client reader sees the header bytes as a (too long) frame length: the client never strips one */
	r = wa_frame_reader_new(NULL, 0, 1024);
	assert_int_equal(wa_frame_reader_feed(r, first, sizeof(first)), 0);
	assert_int_equal(wa_frame_reader_next(r, &p, &len, err, sizeof(err)), WA_FRAME_ERROR);
	wa_frame_reader_free(r);

	/* Baileys' edge-routing pre-intro, fed in pieces */
	r = wa_frame_reader_new(wa_frame_header_default, WA_FRAME_HEADER_LEN, 0);
	for (i = 0; i < sizeof(ed); i++) {
		assert_int_equal(wa_frame_reader_feed(r, ed + i, 1), 0);
		assert_int_equal(wa_frame_reader_next(r, &p, &len, err, sizeof(err)),
		    i + 1 < sizeof(ed) ? WA_FRAME_AGAIN : WA_FRAME_DONE);
	}
	assert_int_equal(len, 1);
	assert_int_equal(p[0], '!');
	ri = wa_frame_reader_routing_info(r, &rlen);
	assert_int_equal(rlen, 3);
	assert_memory_equal(ri, "rid", 3);
	wa_frame_reader_free(r);

	/* the writer produces the same pre-intro */
	w = wa_frame_writer_new(wa_frame_header_default, WA_FRAME_HEADER_LEN, 0);
	assert_int_equal(wa_frame_writer_set_routing_info(w, (const uint8_t *)"rid", 3), 0);
	assert_int_equal(wa_frame_encode(w, "!", 1, &out, &len), 0);
	assert_int_equal(len, sizeof(ed));
	assert_memory_equal(out, ed, len);
	free(out);
	wa_frame_writer_free(w);

	/* a bad or oversized pre-intro */
	r = wa_frame_reader_new(wa_frame_header_default, WA_FRAME_HEADER_LEN, 0);
	assert_int_equal(wa_frame_reader_feed(r, "ED\x00\x02\x00\x00\x00", 7), 0);
	assert_int_equal(wa_frame_reader_next(r, &p, &len, err, sizeof(err)), WA_FRAME_ERROR);
	wa_frame_reader_free(r);
	r = wa_frame_reader_new(wa_frame_header_default, WA_FRAME_HEADER_LEN, 0);
	assert_int_equal(wa_frame_reader_feed(r, "ED\x00\x01\xff\xff\xff", 7), 0);
	assert_int_equal(wa_frame_reader_next(r, &p, &len, err, sizeof(err)), WA_FRAME_ERROR);
	wa_frame_reader_free(r);
	wa_frame_reader_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_reader_splits),
		cmocka_unit_test(test_reader_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
