/* The HTTP response scanner behind wa_fetch_parse (wa_fetch.h), in a file of its own so that the fuzzer links it
 * without the thread, socket and TLS code of wa_fetch.c.
 *
 * The scanner is resumable: the fetch thread parses after every read, and re-parsing the whole response each
 * time would cost time quadratic in its size (a body of tiny chunks is the worst case). A scan state remembers
 * how far the bytes are known good, so each call costs about what was appended since the previous one.
 *
 * Contract:
 *  - call wa_fetch_scan with the same buffer each time, only ever extended at its end (the bytes already seen
 *    must not change), and the same max_body; the results are those of wa_fetch_parse on the same bytes;
 *  - after WA_FETCH_DONE or WA_FETCH_ERROR the state is spent: call wa_fetch_scan_init before reusing it;
 *  - a chunked body is decoded only once complete, into *dechunked (malloc'd, at least one byte even for an
 *    empty body, so that it is never NULL on DONE); other bodies are left in buf and *dechunked is NULL. */
#ifndef WAGATE_WA_FETCH_PARSE_H
#define WAGATE_WA_FETCH_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define WA_FETCH_CHUNK_LINE_MAX	4096	/* a chunk-size line with its extensions */

struct wa_fetch_scan {
	int phase;
	size_t pos;		/* bytes before this are parsed (or, in the head, searched for its end) */
	int status;
	size_t body_off;	/* first byte after the head */
	size_t length;		/* Content-Length, or the size of the chunk being read */
	size_t total;		/* chunked: data bytes in the chunks so far */
	size_t trailer_off;	/* chunked: where the trailer section starts */
};

/* A fresh state for a new response. */
void wa_fetch_scan_init(struct wa_fetch_scan *s);
/* Parse what is new in buf[0, len) (see wa_fetch_parse for the arguments and results). */
int wa_fetch_scan(struct wa_fetch_scan *s, const uint8_t *buf, size_t len, int eof, size_t max_body, int *status,
    size_t *body_off, size_t *body_len, uint8_t **dechunked, char *err, size_t errlen);

#endif
