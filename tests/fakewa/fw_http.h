/* The one HTTP/1.x request parser of fakewa's control API, used on the control port and on the WebSocket port
 * (fw_ctl.h). It works on bytes the caller has buffered: no I/O, no libevent, no logging. Everything is
 * bounded: the head at FW_HTTP_MAX_HEAD bytes, the body at FW_HTTP_MAX_BODY, given by Content-Length or sent
 * chunked (node's http client sends a body written without a length that way, and Baileys' e2e helper does),
 * a chunked body at FW_HTTP_MAX_CHUNKED bytes on the wire. */
#ifndef WAGATE_FW_HTTP_H
#define WAGATE_FW_HTTP_H

#include <stddef.h>

#define FW_HTTP_MAX_HEAD	8192
/* 4 MiB: POST /phone/history carries a whole history chunk as JSON (fw_history.h) */
#define FW_HTTP_MAX_BODY	(4 * 1024 * 1024)
#define FW_HTTP_MAX_CHUNKED	(4 * FW_HTTP_MAX_BODY)	/* chunk framing included */
/* No complete request is longer: the caller need not buffer more than this. */
#define FW_HTTP_MAX_REQUEST	(FW_HTTP_MAX_HEAD + FW_HTTP_MAX_CHUNKED)

enum fw_http_result {
	FW_HTTP_DONE,		/* one request parsed */
	FW_HTTP_AGAIN,		/* incomplete: call again with more bytes */
	FW_HTTP_ERROR,		/* refused: answer with the status given, then close */
};

/* One parsed request. */
struct fw_http_req {
	char method[16];	/* "GET", "POST", ... (any token; routing decides) */
	char *path;		/* the target before '?', as sent (not percent-decoded) */
	char *query;		/* the target after '?', or NULL */
	char *body;		/* NUL-terminated; may hold NULs itself, so use body_len */
	size_t body_len;
};

/* Parse the request at the start of buf[0..len). FW_HTTP_DONE: *out is a new request (fw_http_req_free) and
 * *used the bytes it took. FW_HTTP_AGAIN: more input is needed. FW_HTTP_ERROR: *status is the answer to give
 * (400 malformed or head too long, 413 body too long) and err says why (plain text without quotes). */
int fw_http_parse(const char *buf, size_t len, struct fw_http_req **out, size_t *used, int *status, char *err,
    size_t errlen);
void fw_http_req_free(struct fw_http_req *req);

/* A complete response (heap string): the status line, Content-Type: application/json, Content-Length,
 * Connection: close, the header lines in extra (each ending in CRLF; NULL for none), then json and a newline. */
char *fw_http_response(int code, const char *extra, const char *json);
/* The head alone (status line, headers, blank line) of a response whose body is len bytes of type, for a body
 * that is not JSON text (a media blob may hold any byte): the caller writes the body after it. */
char *fw_http_head(int code, const char *extra, const char *type, size_t len);

#endif
