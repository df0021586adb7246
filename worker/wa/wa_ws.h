/* RFC 6455 WebSocket: the HTTP upgrade (client request / server answer with the accept-key check) and a
 * bounded frame parser/encoder for both roles. Pure byte functions: no sockets, no events, no logging. */
#ifndef WAGATE_WA_WS_H
#define WAGATE_WA_WS_H

#include <stddef.h>
#include <stdint.h>

/* Three-way results (STYLE rule 6). */
enum wa_ws_result { WA_WS_DONE = 0, WA_WS_AGAIN = 1, WA_WS_ERROR = -1 };

enum wa_ws_role { WA_WS_CLIENT = 0, WA_WS_SERVER = 1 };

enum wa_ws_opcode {
	WA_WS_OP_CONT = 0x0, WA_WS_OP_TEXT = 0x1, WA_WS_OP_BINARY = 0x2,
	WA_WS_OP_CLOSE = 0x8, WA_WS_OP_PING = 0x9, WA_WS_OP_PONG = 0xa,
};

/* Close status codes we send. */
enum {
	WA_WS_CLOSE_NORMAL = 1000, WA_WS_CLOSE_GOING_AWAY = 1001, WA_WS_CLOSE_PROTOCOL = 1002,
	WA_WS_CLOSE_UNSUPPORTED = 1003, WA_WS_CLOSE_NO_STATUS = 1005, WA_WS_CLOSE_INVALID = 1007,
	WA_WS_CLOSE_TOO_BIG = 1009,
};

#define WA_WS_KEY_LEN 24	/* base64 of 16 random bytes, without NUL */
#define WA_WS_ACCEPT_LEN 28	/* base64 of a SHA-1 digest, without NUL */
#define WA_WS_MAX_HTTP_HEAD 8192	/* an upgrade request/answer head longer than this is refused */
#define WA_WS_DEFAULT_MAX_MESSAGE (16u * 1024 * 1024)

/* One complete message or control frame handed out by wa_ws_parse. data stays valid until the next
 * wa_ws_parse call (it points either into the caller's buffer or into the parser's reassembly buffer). */
struct wa_ws_msg {
	int opcode;			/* TEXT, BINARY, CLOSE, PING or PONG (never CONT) */
	const uint8_t *data;
	size_t len;
	int close_code;			/* CLOSE only: the peer's status, or WA_WS_CLOSE_NO_STATUS */
};

struct wa_ws;

/* Fill key with a fresh random Sec-WebSocket-Key (NUL-terminated). 0 or -1. */
int wa_ws_key_new(char key[WA_WS_KEY_LEN + 1]);
/* Compute Sec-WebSocket-Accept for key (NUL-terminated). 0 or -1. */
int wa_ws_accept_compute(const char *key, char accept[WA_WS_ACCEPT_LEN + 1]);

/* The client's upgrade request (heap string). host may carry ":port"; origin may be NULL. */
char *wa_ws_request_build(const char *host, const char *path, const char *key, const char *origin);
/* Check the server's answer in buf: DONE with *consumed = head length when it is a valid 101 for key,
 * AGAIN when the head is incomplete, ERROR with a reason in err (and the HTTP status in *status if any). */
int wa_ws_response_parse(const char *buf, size_t len, const char *key, size_t *consumed, int *status,
    char *err, size_t errlen);
/* Server side: parse an upgrade request head. DONE fills key (and path, truncated to pathlen), AGAIN when
 * incomplete, ERROR with reason (the caller answers 400). */
int wa_ws_request_parse(const char *buf, size_t len, size_t *consumed, char key[WA_WS_KEY_LEN + 1],
    char *path, size_t pathlen, char *err, size_t errlen);
/* Server side: the 101 answer for key (heap string). */
char *wa_ws_response_build(const char *key);

/* A frame parser for one connection. max_message bounds a whole (reassembled) message; 0 = default. */
struct wa_ws *wa_ws_new(enum wa_ws_role role, size_t max_message);
void wa_ws_free(struct wa_ws *ws);
/* Parse the next frame from buf (unmasking in place). DONE: *msg is a complete message/control frame and
 * *consumed bytes were used. AGAIN: nothing usable yet; *consumed bytes may be dropped (a fragment was
 * absorbed) and at least *need bytes (from the new start) are wanted before calling again. ERROR: the
 * connection must be failed with *close_code (set in msg->close_code) and err explains. */
int wa_ws_parse(struct wa_ws *ws, uint8_t *buf, size_t len, size_t *consumed, size_t *need,
    struct wa_ws_msg *msg, char *err, size_t errlen);

/* Encode one frame (fin set) into out (capacity outlen). Clients must mask (mask != 0, random key).
 * Returns the frame length, or 0 when out is too small or a control payload exceeds 125 bytes. */
size_t wa_ws_frame_encode(uint8_t *out, size_t outlen, int opcode, int fin, int mask, const void *payload,
    size_t len);
/* Bytes needed by wa_ws_frame_encode for a payload of len. */
size_t wa_ws_frame_size(size_t len, int mask);
/* Encode a close frame with code and a short reason. Returns length or 0. */
size_t wa_ws_close_encode(uint8_t *out, size_t outlen, int mask, int code, const char *reason);

#endif
