/* WhatsApp's frame layer over a byte stream (the payloads of binary WebSocket messages): the client's
 * connection header once at the start ("WA" 6 3, optionally preceded by Baileys' "ED" routing pre-intro),
 * then frames of a 3-byte big-endian length + payload. Pure byte functions: no sockets, no events, no
 * logging. Spec: reference/wa-transport.md sections 1.2-1.3. */
#ifndef WAGATE_WA_FRAME_H
#define WAGATE_WA_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* Three-way results (STYLE rule 6). */
enum wa_frame_result { WA_FRAME_DONE = 0, WA_FRAME_AGAIN = 1, WA_FRAME_ERROR = -1 };

#define WA_FRAME_LEN_BYTES 3
#define WA_FRAME_MAX_PAYLOAD 0xffffffu		/* 2^24 - 1: the 3-byte length limit */
#define WA_FRAME_HEADER_LEN 4
#define WA_FRAME_MAX_HEADER 16			/* a configured connection header may not be longer */
#define WA_FRAME_MAX_ROUTING_INFO 4096		/* cap on the "ED" pre-intro's routing info */

/* The connection header today's clients send: "W" "A", magic 6, dictionary version 3. Also the Noise
 * prologue. */
extern const uint8_t wa_frame_header_default[WA_FRAME_HEADER_LEN];

struct wa_frame_writer;
struct wa_frame_reader;

/* A writer. header (header_len <= WA_FRAME_MAX_HEADER bytes) is put in front of the first frame; pass
 * wa_frame_header_default on the client, NULL/0 on the server (which never sends one). max_payload caps
 * every frame (0 or anything above WA_FRAME_MAX_PAYLOAD means WA_FRAME_MAX_PAYLOAD). NULL if header is too
 * long. */
struct wa_frame_writer *wa_frame_writer_new(const uint8_t *header, size_t header_len, size_t max_payload);
/* Release a writer (NULL is fine). */
void wa_frame_writer_free(struct wa_frame_writer *w);
/* Baileys' edge-routing pre-intro: "ED" 0 1 + 24-bit length + info, sent before the header. Only
 * meaningful before the first frame; len <= WA_FRAME_MAX_ROUTING_INFO. 0 or -1. */
int wa_frame_writer_set_routing_info(struct wa_frame_writer *w, const uint8_t *info, size_t len);
/* Encode one frame into a malloc'd *out (the first call also carries the pre-intro and header).
 * -1 (nothing written, state unchanged) when len exceeds the writer's cap. */
int wa_frame_encode(struct wa_frame_writer *w, const void *payload, size_t len, uint8_t **out,
    size_t *outlen);
/* Whether the header has gone out already (the next frame is a plain frame). */
int wa_frame_writer_started(const struct wa_frame_writer *w);

/* A reader. With expect_header non-NULL (server side) the stream must start with an optional "ED"
 * pre-intro and then exactly those header bytes; with NULL (client side) it starts with a frame.
 * max_payload as for the writer. NULL if expect_header_len is too long. */
struct wa_frame_reader *wa_frame_reader_new(const uint8_t *expect_header, size_t expect_header_len,
    size_t max_payload);
/* Release a reader (NULL is fine). */
void wa_frame_reader_free(struct wa_frame_reader *r);
/* Append received bytes (one WebSocket message may hold several frames; a frame may span messages).
 * Call wa_frame_reader_next until AGAIN after each feed, which keeps the buffer below one frame plus one
 * feed. -1 after an earlier error. */
int wa_frame_reader_feed(struct wa_frame_reader *r, const void *data, size_t len);
/* Take the next complete frame: DONE with *payload and *len pointing into the reader's buffer (valid until
 * the next feed/next/free call), AGAIN when more bytes are needed, ERROR with a reason in err (bad header,
 * oversized frame); an error is sticky. */
int wa_frame_reader_next(struct wa_frame_reader *r, const uint8_t **payload, size_t *len, char *err,
    size_t errlen);
/* Server side: the routing info of an "ED" pre-intro if one was received (else NULL, *len 0). */
const uint8_t *wa_frame_reader_routing_info(const struct wa_frame_reader *r, size_t *len);
/* Bytes currently buffered and not yet handed out. */
size_t wa_frame_reader_pending(const struct wa_frame_reader *r);

#endif
