/* http_resp: known answers, each fed whole, byte by byte and split in two at every point, all agreeing; the line and
 * head limits; long bodies fed in 64 KB pieces; the spent state after an answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_resp.h"

/* One known answer: the bytes a peer sends before it closes, and what the reader must make of them. */
struct kcase {
	const char *in;
	size_t len;
	int rc;			/* HTTP_RESP_DONE or HTTP_RESP_ERROR */
	int at_eof;		/* the answer comes from http_resp_eof: every feed answered MORE */
	int status;		/* after DONE */
	int keep_alive;		/* after DONE */
	size_t tail;		/* after DONE: bytes at the end of the input left unconsumed */
	const char *err;	/* after ERROR: a piece of r->err */
};

/* DONE from a feed, tail bytes left over; DONE at the close (no length: never keep-alive); ERROR from a feed;
 * ERROR at the close (every feed answered MORE). Inputs are string literals, so sizeof counts NULs in them. */
#define DONE(in, st, ka, tail)	{ in, sizeof(in) - 1, HTTP_RESP_DONE, 0, st, ka, tail, NULL }
#define DONE_EOF(in, st)	{ in, sizeof(in) - 1, HTTP_RESP_DONE, 1, st, 0, 0, NULL }
#define ERR(in, msg)		{ in, sizeof(in) - 1, HTTP_RESP_ERROR, 0, 0, 0, 0, msg }
#define ERR_EOF(in, msg)	{ in, sizeof(in) - 1, HTTP_RESP_ERROR, 1, 0, 0, 0, msg }

#define OK11 "HTTP/1.1 200 OK\r\n"
#define CL0 "Content-Length: 0\r\n\r\n"
#define CHUNKED "Transfer-Encoding: chunked\r\n\r\n"
#define NEXT "HTTP/1.1 200 OK\r\n"	/* the start of a second response, which must be left unconsumed */

static const struct kcase cases[] = {
	/* Real servers. Express (Node) with keep-alive. */
	DONE("HTTP/1.1 200 OK\r\nX-Powered-By: Express\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: 2\r\nETag: W/\"2-nOO9QiTIwXgNtWtBJezz8kv3SLc\"\r\nDate: Mon, 01 Jul 2024 10:00:00 GMT\r\n"
	    "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nOK", 200, 1, 0),
	/* Python's http.server: HTTP/1.0, no length, the body ends at the close */
	DONE_EOF("HTTP/1.0 200 OK\r\nServer: BaseHTTP/0.6 Python/3.11.2\r\nDate: Mon, 01 Jul 2024 10:00:00 GMT\r\n"
	    "Content-Type: application/json\r\n\r\n{\"ok\": true}\n", 200),
	DONE("HTTP/1.0 404 File not found\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\n"
	    "Date: Mon, 01 Jul 2024 10:00:00 GMT\r\nConnection: close\r\nContent-Type: text/html;charset=utf-8\r\n"
	    "Content-Length: 5\r\n\r\nnope\n", 404, 0, 0),
	/* Go's net/http after a flush: chunked, lowercase hex */
	DONE("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nDate: Mon, 01 Jul 2024 10:00:00 GMT\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n7\r\nhello, \r\n6\r\nworld!\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n"
	    "0\r\n\r\n", 200, 1, 0),
	/* nginx in front of a dead upstream */
	DONE("HTTP/1.1 502 Bad Gateway\r\nServer: nginx/1.24.0 (Ubuntu)\r\nDate: Mon, 01 Jul 2024 10:00:00 GMT\r\n"
	    "Content-Type: text/html\r\nContent-Length: 166\r\nConnection: keep-alive\r\n\r\n"
	    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
	    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.24.0 (Ubuntu)</center>\r\n"
	    "</body>\r\n</html>\r\n", 502, 1, 0),
	/* uvicorn (FastAPI): lowercase field names */
	DONE("HTTP/1.1 200 OK\r\ndate: Mon, 01 Jul 2024 10:00:00 GMT\r\nserver: uvicorn\r\ncontent-length: 15\r\n"
	    "content-type: application/json\r\n\r\n{\"status\":\"ok\"}", 200, 1, 0),
	/* Werkzeug (Flask's development server) closes after each response */
	DONE("HTTP/1.1 200 OK\r\nServer: Werkzeug/3.0.3 Python/3.12.3\r\nDate: Mon, 01 Jul 2024 10:00:00 GMT\r\n"
	    "Content-Type: text/html; charset=utf-8\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", 200, 0, 0),
	DONE("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200, 1, 0),
	DONE("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n"
	    "HTTP/1.1 201 Created\r\nLocation: /x/1\r\nContent-Length: 0\r\n\r\n", 201, 1, 0),
	DONE("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", 204, 1, 0),
	DONE("HTTP/1.1 304 Not Modified\r\nETag: \"abc\"\r\nContent-Length: 1234\r\n\r\n", 304, 1, 0),

	/* Status lines. */
	DONE("HTTP/1.1 200\r\n" CL0, 200, 1, 0),			/* no reason */
	DONE("HTTP/1.1 200 \r\n" CL0, 200, 1, 0),			/* an empty reason */
	DONE("HTTP/1.1 599 Odd but valid\r\n" CL0, 599, 1, 0),
	DONE("HTTP/1.1 200 \xc3\x9c" "berall gut\r\n" CL0, 200, 1, 0),	/* obs-text in the reason */
	DONE("HTTP/1.1 200 A\treason\r\n" CL0, 200, 1, 0),
	DONE("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 3\r\n\r\nbad", 500, 1, 0),
	ERR("HTTP/1.1 099 Low\r\n" CL0, "status line"),
	ERR("HTTP/1.1 000 Zero\r\n" CL0, "status line"),
	ERR("HTTP/1.1 600 High\r\n" CL0, "status line"),
	ERR("HTTP/1.1 999\r\n" CL0, "status line"),
	ERR("HTTP/1.1 20 OK\r\n" CL0, "status line"),
	ERR("HTTP/1.1 2000 OK\r\n" CL0, "status line"),
	ERR("HTTP/1.1 2OO OK\r\n" CL0, "status line"),
	ERR("HTTP/1.1 -20 OK\r\n" CL0, "status line"),
	ERR("HTTP/1.1 +20 OK\r\n" CL0, "status line"),
	ERR("HTTP/1.1 200OK\r\n" CL0, "status line"),
	ERR("HTTP/1.1\r\n" CL0, "status line"),
	ERR("HTTP/1.1 \r\n" CL0, "status line"),
	ERR("HTTP/1.1  200 OK\r\n" CL0, "status line"),
	ERR("HTTP/2 200 OK\r\n" CL0, "status line"),
	ERR("HTTP/2.0 200 OK\r\n" CL0, "status line"),
	ERR("HTTP/1.2 200 OK\r\n" CL0, "status line"),
	ERR("HTTP/0.9 200 OK\r\n" CL0, "status line"),
	ERR("http/1.1 200 OK\r\n" CL0, "status line"),
	ERR("ICY 200 OK\r\n" CL0, "status line"),
	ERR("<html>hello</html>\r\n", "status line"),
	ERR("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", "101"),
	ERR("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\n\r\n", "101"),

	/* Interim responses: skipped, their fields forgotten. */
	DONE("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
	    "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", 202, 1, 0),
	DONE("HTTP/1.1 199 Whatever\r\n\r\nHTTP/1.1 200 OK\r\n" CL0, 200, 1, 0),
	DONE("HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, 1,
	    0),
	DONE("HTTP/1.1 100 Continue\r\nConnection: close\r\n\r\nHTTP/1.1 200 OK\r\n" CL0, 200, 1, 0),
	DONE("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n" CL0, 200, 0, 0),
	DONE("HTTP/1.1 100 Continue\n\nHTTP/1.1 204 No Content\n\n", 204, 1, 0),
	ERR_EOF("HTTP/1.1 100 Continue\r\n\r\n", "closed in the response head"),
	ERR_EOF("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", "closed in the response head"),

	/* keep_alive. */
	DONE(OK11 CL0, 200, 1, 0),
	DONE(OK11 "Connection: close\r\n" CL0, 200, 0, 0),
	DONE(OK11 "connection: CLOSE\r\n" CL0, 200, 0, 0),
	DONE(OK11 "Connection:close\r\n" CL0, 200, 0, 0),
	DONE(OK11 "Connection: \t close \t\r\n" CL0, 200, 0, 0),
	DONE(OK11 "Connection: Upgrade, close\r\n" CL0, 200, 0, 0),
	DONE(OK11 "Connection: keep-alive,close\r\n" CL0, 200, 0, 0),
	DONE(OK11 "Connection: foo ,  Close , bar\r\n" CL0, 200, 0, 0),
	DONE(OK11 "Connection: , ,close\r\n" CL0, 200, 0, 0),
	DONE(OK11 "Connection: keep-alive\r\nConnection: close\r\n" CL0, 200, 0, 0),
	DONE(OK11 "Connection: closed\r\n" CL0, 200, 1, 0),		/* a token, not a prefix */
	DONE(OK11 "Connection: enclose\r\n" CL0, 200, 1, 0),
	DONE(OK11 "Connection: \"close\"\r\n" CL0, 200, 1, 0),
	DONE(OK11 "Connection: close-later, x-close\r\n" CL0, 200, 1, 0),
	DONE(OK11 "X-Connection: close\r\n" CL0, 200, 1, 0),		/* not the Connection field */
	DONE(OK11 "Connection-Info: close\r\n" CL0, 200, 1, 0),
	DONE(OK11 "Proxy-Connection: close\r\n" CL0, 200, 1, 0),
	DONE(OK11 "Connection: keep-alive\r\n" CHUNKED "0\r\n\r\n", 200, 1, 0),
	DONE(OK11 "Connection: close\r\n" CHUNKED "0\r\n\r\n", 200, 0, 0),
	DONE("HTTP/1.0 200 OK\r\n" CL0, 200, 0, 0),
	DONE("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n" CL0, 200, 1, 0),
	DONE("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nKeep-Alive: timeout=5, max=100\r\n" CL0, 200, 1, 0),
	DONE("HTTP/1.0 200 OK\r\nConnection: Upgrade ,KEEP-ALIVE\r\n" CL0, 200, 1, 0),
	DONE("HTTP/1.0 200 OK\r\nConnection: keep-alive-ish\r\n" CL0, 200, 0, 0),
	DONE("HTTP/1.0 200 OK\r\nKeep-Alive: timeout=5\r\n" CL0, 200, 0, 0),	/* Keep-Alive alone says nothing */
	DONE("HTTP/1.0 204 No Content\r\nConnection: keep-alive\r\n\r\n", 204, 1, 0),
	DONE("HTTP/1.0 304 Not Modified\r\n\r\n", 304, 0, 0),
	DONE("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", 204, 0, 0),

	/* A body delimited by the close: feeds answer MORE forever, the close ends it, never keep-alive. */
	DONE_EOF(OK11 "\r\n", 200),
	DONE_EOF(OK11 "\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200),
	DONE_EOF(OK11 "Connection: keep-alive\r\n\r\nbody\x00\r\n\r\nmore", 200),
	DONE_EOF("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nbody", 200),
	DONE_EOF("HTTP/1.1 404 Not Found\r\nContent-Lengthy: 5\r\n\r\nabcdefgh", 404),
	DONE_EOF("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nx", 200),

	/* 204 and 304 never have a body. */
	DONE("HTTP/1.1 204 No Content\r\n\r\n", 204, 1, 0),
	DONE("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n" NEXT, 204, 1, sizeof(NEXT) - 1),
	DONE("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n0123456789", 304, 1, 10),
	DONE("HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n", 204, 1, 0),
	DONE("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 304, 1, 5),

	/* Content-Length. */
	DONE(OK11 "Content-Length: 5\r\n\r\nhello", 200, 1, 0),
	DONE(OK11 "Content-Length: 5\r\n\r\nhello" NEXT, 200, 1, sizeof(NEXT) - 1),
	DONE(OK11 "Content-Length: 0\r\n\r\nX", 200, 1, 1),
	DONE(OK11 "Content-Length: 3\r\n\r\n\r\n\x00", 200, 1, 0),	/* a body is bytes, not lines */
	DONE(OK11 "Content-Length:5\r\n\r\nhello", 200, 1, 0),
	DONE(OK11 "Content-Length: \t 5 \t \r\n\r\nhello", 200, 1, 0),
	DONE(OK11 "CONTENT-LENGTH: 00005\r\n\r\nhello", 200, 1, 0),
	DONE(OK11 "Content-Length: 0000000000000000005\r\n\r\nhello", 200, 1, 0),	/* 19 digits */
	ERR(OK11 "Content-Length: 00000000000000000005\r\n\r\nhello", "malformed Content-Length"),	/* 20 */
	ERR(OK11 "Content-Length: 18446744073709551616\r\n\r\n", "malformed Content-Length"),
	ERR_EOF(OK11 "Content-Length: 9999999999999999999\r\n\r\nsome of it", "before the end of the body"),
	ERR_EOF(OK11 "Content-Length: 5\r\n\r\nhell", "before the end of the body"),
	ERR_EOF(OK11 "Content-Length: 5\r\n\r\n", "before the end of the body"),
	ERR(OK11 "Content-Length: \r\n\r\n", "malformed Content-Length"),
	ERR(OK11 "Content-Length:\r\n\r\n", "malformed Content-Length"),
	ERR(OK11 "Content-Length: +5\r\n\r\nhello", "malformed Content-Length"),
	ERR(OK11 "Content-Length: -1\r\n\r\n", "malformed Content-Length"),
	ERR(OK11 "Content-Length: 5 5\r\n\r\nhello", "malformed Content-Length"),
	ERR(OK11 "Content-Length: 5,5\r\n\r\nhello", "malformed Content-Length"),
	ERR(OK11 "Content-Length: 5, 5\r\n\r\nhello", "malformed Content-Length"),
	ERR(OK11 "Content-Length: 0x5\r\n\r\nhello", "malformed Content-Length"),
	ERR(OK11 "Content-Length: 5a\r\n\r\nhello", "malformed Content-Length"),
	ERR(OK11 "Content-Length: \xd9\xa5\r\n\r\nhello", "malformed Content-Length"),		/* ARABIC-INDIC FIVE */
	ERR(OK11 "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", "more than one Content-Length"),
	ERR(OK11 "Content-Length: 5\r\ncontent-length: 6\r\n\r\nhello!", "more than one Content-Length"),
	ERR("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", "more than one"),
	ERR(OK11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "both Content-Length"),
	ERR(OK11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", "both Content-Length"),
	ERR("HTTP/1.0 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "both Content-Length"),

	/* Transfer-Encoding: chunked and nothing else. */
	DONE(OK11 "Transfer-Encoding: Chunked\r\n\r\n0\r\n\r\n", 200, 1, 0),
	DONE(OK11 "transfer-encoding: CHUNKED\r\n\r\n0\r\n\r\n", 200, 1, 0),
	DONE(OK11 "Transfer-Encoding:  chunked \t\r\n\r\n0\r\n\r\n", 200, 1, 0),
	ERR(OK11 "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "Transfer-Encoding"),
	ERR(OK11 "Transfer-Encoding: chunked, gzip\r\n\r\n", "Transfer-Encoding"),
	ERR(OK11 "Transfer-Encoding: identity\r\n\r\n", "Transfer-Encoding"),
	ERR(OK11 "Transfer-Encoding: gzip\r\n\r\n", "Transfer-Encoding"),
	ERR(OK11 "Transfer-Encoding: chunkedx\r\n\r\n", "Transfer-Encoding"),
	ERR(OK11 "Transfer-Encoding: \r\n\r\n", "Transfer-Encoding"),
	ERR(OK11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "Transfer-Encoding"),

	/* Chunks. */
	DONE(OK11 CHUNKED "5\r\nhello\r\n0\r\n\r\n", 200, 1, 0),
	DONE(OK11 CHUNKED "5\r\nhello\r\n0\r\n\r\n" NEXT, 200, 1, sizeof(NEXT) - 1),
	DONE(OK11 CHUNKED "5\nhello\n0\n\n", 200, 1, 0),
	DONE(OK11 CHUNKED "A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n", 200, 1, 0),
	DONE(OK11 CHUNKED "5;name=value\r\nhello\r\n0;last\r\n\r\n", 200, 1, 0),
	DONE(OK11 CHUNKED "5;a=\"quoted ext\";b\r\nhello\r\n0\r\n\r\n", 200, 1, 0),
	DONE(OK11 CHUNKED "5 \r\nhello\r\n0\t\r\n\r\n", 200, 1, 0),
	DONE(OK11 CHUNKED "5 ;x=1\r\nhello\r\n0\r\n\r\n", 200, 1, 0),
	DONE(OK11 CHUNKED "0000000000000005\r\nhello\r\n000\r\n\r\n", 200, 1, 0),	/* 16 digits */
	DONE(OK11 CHUNKED "3\r\n\r\n\x00\r\n3\r\n0\r\n\r\n0\r\n\r\n", 200, 1, 0),	/* data is bytes, not lines */
	DONE(OK11 CHUNKED "0\r\nExpires: Mon, 01 Jul 2024 10:00:00 GMT\r\nX-Checksum: abc\r\n\r\nX", 200, 1, 1),
	DONE(OK11 CHUNKED "0\nX-Trailer: v\n\n", 200, 1, 0),
	/* framing fields in trailers are not framing (RFC 9110 section 6.5.1) */
	DONE(OK11 CHUNKED "0\r\nContent-Length: 5\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n", 200, 1, 0),
	ERR(OK11 CHUNKED "0\r\nNoColon\r\n\r\n", "header line"),
	ERR(OK11 CHUNKED "0\r\nX-T: a\x01\r\n\r\n", "control character"),
	ERR(OK11 CHUNKED "0\r\nX-T: \x00\r\n\r\n", "NUL"),
	ERR(OK11 CHUNKED "0\r\nX-T: a\r\n b\r\n\r\n", "folded"),
	ERR(OK11 CHUNKED "00000000000000005\r\nhello\r\n0\r\n\r\n", "chunk size"),	/* 17 digits */
	ERR(OK11 CHUNKED "10000000000000000\r\n", "chunk size"),
	ERR_EOF(OK11 CHUNKED "ffffffffffffffff\r\nsome of it", "before the end of the body"),
	ERR(OK11 CHUNKED "\r\nhello\r\n0\r\n\r\n", "chunk-size"),
	ERR(OK11 CHUNKED ";x\r\nhello\r\n0\r\n\r\n", "chunk-size"),
	ERR(OK11 CHUNKED " 5\r\nhello\r\n0\r\n\r\n", "chunk-size"),
	ERR(OK11 CHUNKED "-5\r\nhello\r\n0\r\n\r\n", "chunk-size"),
	ERR(OK11 CHUNKED "+5\r\nhello\r\n0\r\n\r\n", "chunk-size"),
	ERR(OK11 CHUNKED "0x5\r\nhello\r\n0\r\n\r\n", "chunk-size"),
	ERR(OK11 CHUNKED "5x\r\nhello\r\n0\r\n\r\n", "chunk-size"),
	ERR(OK11 CHUNKED "g\r\nhello\r\n0\r\n\r\n", "chunk-size"),
	ERR(OK11 CHUNKED "5\r\nhelloX\r\n0\r\n\r\n", "chunk data"),
	ERR(OK11 CHUNKED "5\r\nhello\r\r\n0\r\n\r\n", "chunk data"),
	ERR(OK11 CHUNKED "5\r\nhello0\r\n\r\n", "chunk data"),
	ERR(OK11 CHUNKED "5\r\nhello \r\n0\r\n\r\n", "chunk data"),
	ERR(OK11 CHUNKED "5\x00\r\nhello\r\n0\r\n\r\n", "chunk-size"),
	ERR_EOF(OK11 CHUNKED, "before the end of the body"),
	ERR_EOF(OK11 CHUNKED "5", "before the end of the body"),
	ERR_EOF(OK11 CHUNKED "5\r\nhel", "before the end of the body"),
	ERR_EOF(OK11 CHUNKED "5\r\nhello", "before the end of the body"),
	ERR_EOF(OK11 CHUNKED "5\r\nhello\r", "before the end of the body"),
	ERR_EOF(OK11 CHUNKED "5\r\nhello\r\n", "before the end of the body"),
	ERR_EOF(OK11 CHUNKED "5\r\nhello\r\n0\r\n", "before the end of the body"),
	ERR_EOF(OK11 CHUNKED "5\r\nhello\r\n0\r\nX-Trailer: v\r\n", "before the end of the body"),
	ERR_EOF(OK11 CHUNKED "5\r\nhello\r\n0\r\n\r", "before the end of the body"),

	/* Head syntax. */
	DONE(OK11 "X-Empty:\r\nX-Blank: \t \r\n" CL0, 200, 1, 0),
	DONE(OK11 "X-Tab: a\tb\r\n" CL0, 200, 1, 0),
	DONE(OK11 "X-Name: caf\xc3\xa9 \xff\r\n" CL0, 200, 1, 0),		/* obs-text */
	DONE(OK11 "X-Odd.Name_1!#$%&'*+^`|~: v\r\n" CL0, 200, 1, 0),
	DONE(OK11 "X-Colons: a:b:c\r\n" CL0, 200, 1, 0),
	DONE("HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 200, 1, 0),
	DONE("HTTP/1.1 200 OK\r\nContent-Length: 2\n\r\nok", 200, 1, 0),
	ERR(OK11 "Content-Length : 5\r\n\r\nhello", "header line"),
	ERR(OK11 "Content-Length\t: 5\r\n\r\nhello", "header line"),
	ERR(OK11 "X Y: z\r\n" CL0, "header line"),
	ERR(OK11 ": nameless\r\n" CL0, "header line"),
	ERR(OK11 "NoColon\r\n" CL0, "header line"),
	ERR(OK11 "X(y): v\r\n" CL0, "header line"),
	ERR(OK11 "X-\xc3\xa9: v\r\n" CL0, "header line"),
	ERR(OK11 "X-Folded: a\r\n b\r\n" CL0, "folded"),
	ERR(OK11 "X-Folded: a\r\n\tb\r\n" CL0, "folded"),
	ERR(OK11 " Content-Length: 5\r\n\r\nhello", "folded"),
	ERR("HTTP/1.1 200 OK\r\n \r\n" CL0, "folded"),
	ERR(OK11 "X-Ctl: a\x01" "b\r\n" CL0, "control character"),
	ERR(OK11 "X-Ctl: \x1b[31mred\r\n" CL0, "control character"),
	ERR(OK11 "X-Ctl: a\x7f" "b\r\n" CL0, "control character"),
	ERR(OK11 "X-Ctl: a\rb\r\n" CL0, "control character"),
	ERR(OK11 "X-Ctl: a\r\r\n" CL0, "control character"),
	ERR(OK11 "X-Ctl: \x0b\r\n" CL0, "control character"),
	ERR("HTTP/1.1 200 O\x00K\r\n" CL0, "NUL"),
	ERR("HTTP/1.1\x00 200 OK\r\n" CL0, "NUL"),
	ERR(OK11 "X-Nul: a\x00" "b\r\n" CL0, "NUL"),
	ERR(OK11 "X\x00Nul: ab\r\n" CL0, "NUL"),
	ERR(OK11 "\x00\r\n" CL0, "NUL"),
	ERR("HTTP/1.1 100 Continue\r\nX: \x00\r\n\r\nHTTP/1.1 200 OK\r\n" CL0, "NUL"),

	/* The close anywhere but in a body without a length. */
	ERR_EOF("", "without a response"),
	ERR_EOF("H", "closed in the response head"),
	ERR_EOF("HTTP/1.1 200 OK", "closed in the response head"),
	ERR_EOF("HTTP/1.1 200 OK\r", "closed in the response head"),
	ERR_EOF(OK11, "closed in the response head"),
	ERR_EOF(OK11 "Content-Length: 5\r\n", "closed in the response head"),
	ERR_EOF(OK11 "Content-Length: 5\r\n\r", "closed in the response head"),
	ERR_EOF(OK11 "\r", "closed in the response head"),
};

/* What one run made of an input. */
struct outcome {
	int rc;
	int at_eof;
	int status;
	int keep_alive;
	size_t used;
	char err[256];
};

/* Feed in[0, len) to a fresh reader: a first piece of first bytes, then pieces of step bytes, until an answer other
 * than MORE or the end of the input, then http_resp_eof if every feed answered MORE. Checks what every answer
 * promises on the way, and that the state is spent afterwards. where names the run in failure messages. */
static void
run(const uint8_t *in, size_t len, size_t first, size_t step, const char *where, struct outcome *o)
{
	struct http_resp r;
	size_t off = 0, n = first, used;
	int rc;

	memset(o, 0, sizeof(*o));
	http_resp_init(&r);
	for (;;) {
		if (n > len - off)
			n = len - off;
		used = SIZE_MAX;
		rc = http_resp_feed(&r, in + off, n, &used);
		if (rc != HTTP_RESP_MORE && rc != HTTP_RESP_DONE && rc != HTTP_RESP_ERROR)
			fail_msg("%s: feed at %zu answered %d", where, off, rc);
		if (rc == HTTP_RESP_MORE && used != n)
			fail_msg("%s: MORE at %zu used %zu of %zu", where, off, used, n);
		if (rc == HTTP_RESP_DONE && used > n)
			fail_msg("%s: DONE at %zu used %zu of %zu", where, off, used, n);
		if (rc != HTTP_RESP_ERROR)
			o->used += used;
		off += n;
		if (rc != HTTP_RESP_MORE || off == len)
			break;
		n = step;
	}
	if (rc == HTTP_RESP_MORE) {
		o->at_eof = 1;
		rc = http_resp_eof(&r);
		if (rc != HTTP_RESP_DONE && rc != HTTP_RESP_ERROR)
			fail_msg("%s: eof answered %d", where, rc);
	}
	o->rc = rc;
	if (rc == HTTP_RESP_ERROR) {
		if (r.err == NULL || r.err[0] == '\0')
			fail_msg("%s: ERROR without a reason", where);
		snprintf(o->err, sizeof(o->err), "%s", r.err);
	} else {
		o->status = r.status;
		o->keep_alive = r.keep_alive;
		if (r.status < 200 || r.status > 599 || (r.keep_alive != 0 && r.keep_alive != 1))
			fail_msg("%s: DONE with status %d, keep_alive %d", where, r.status, r.keep_alive);
	}
	/* Spent: every further call answers ERROR. */
	used = SIZE_MAX;
	if (http_resp_feed(&r, (const uint8_t *)"HTTP/1.1 200 OK\r\n\r\n", 19, &used) != HTTP_RESP_ERROR)
		fail_msg("%s: a feed after the answer did not answer ERROR", where);
	if (used == SIZE_MAX)
		fail_msg("%s: a feed after the answer did not set *used", where);
	if (http_resp_feed(&r, (const uint8_t *)"H", 1, &used) != HTTP_RESP_ERROR ||
	    http_resp_feed(&r, (const uint8_t *)"", 0, &used) != HTTP_RESP_ERROR)
		fail_msg("%s: a feed after the answer did not answer ERROR", where);
	if (http_resp_eof(&r) != HTTP_RESP_ERROR || http_resp_eof(&r) != HTTP_RESP_ERROR)
		fail_msg("%s: eof after the answer did not answer ERROR", where);
	if (r.err == NULL || r.err[0] == '\0')
		fail_msg("%s: ERROR in the spent state without a reason", where);
}

/* Compare one run with the known answer. */
static void
expect(const struct kcase *c, size_t len, const struct outcome *o, const char *where)
{
	if (o->rc != c->rc)
		fail_msg("%s: answered %d (%s), want %d", where, o->rc, o->err, c->rc);
	if (o->at_eof != c->at_eof)
		fail_msg("%s: the answer came %s, want %s", where, o->at_eof ? "at the close" : "from a feed",
		    c->at_eof ? "at the close" : "from a feed");
	if (c->rc == HTTP_RESP_ERROR) {
		if (c->err != NULL && strstr(o->err, c->err) == NULL)
			fail_msg("%s: \"%s\" does not contain \"%s\"", where, o->err, c->err);
		return;
	}
	if (o->status != c->status || o->keep_alive != c->keep_alive)
		fail_msg("%s: status %d keep_alive %d, want %d %d", where, o->status, o->keep_alive, c->status,
		    c->keep_alive);
	if (o->used != len - c->tail)
		fail_msg("%s: used %zu of %zu, want %zu", where, o->used, len, len - c->tail);
}

/* Run one case whole, byte by byte, and split in two at every stride-th point (and at the end); each run gets a
 * copy of exactly len bytes so nothing can lean on a terminator. */
static void
check_case(const struct kcase *c, const char *name, size_t stride)
{
	struct outcome o;
	char where[160];
	uint8_t *in;
	size_t len = c->len, k;

	in = malloc(len > 0 ? len : 1);
	assert_non_null(in);
	memcpy(in, c->in, len);
	snprintf(where, sizeof(where), "%s whole", name);
	run(in, len, len, len, where, &o);
	expect(c, len, &o, where);
	snprintf(where, sizeof(where), "%s byte by byte", name);
	run(in, len, 1, 1, where, &o);
	expect(c, len, &o, where);
	for (k = 0; k <= len; k = k < len && k + stride > len ? len : k + stride) {
		snprintf(where, sizeof(where), "%s split at %zu", name, k);
		run(in, len, k, len - k > 0 ? len - k : 1, where, &o);
		expect(c, len, &o, where);
		if (k == len)
			break;
	}
	free(in);
}

/* Every known answer, every way of cutting it. */
static void
test_http_resp_cases(void **state)
{
	char name[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(name, sizeof(name), "case %zu", i);
		check_case(&cases[i], name, 1);
	}
}

/* A growing text, for the generated inputs. */
struct text {
	char *p;
	size_t len, cap;
};

/* Append n bytes of s (or n copies of the byte c when s is NULL). */
static void
put(struct text *t, const char *s, size_t n, char c)
{
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->p = realloc(t->p, t->cap);
		assert_non_null(t->p);
	}
	if (s != NULL)
		memcpy(t->p + t->len, s, n);
	else
		memset(t->p + t->len, c, n);
	t->len += n;
	t->p[t->len] = '\0';
}

/* Append a C string. */
static void
puts_(struct text *t, const char *s)
{
	put(t, s, strlen(s), 0);
}

/* Append a field line "X-Fill-NNNN: vvv...\r\n" of exactly n bytes (n >= 16). */
static void
put_field(struct text *t, unsigned i, size_t n)
{
	char name[16];

	snprintf(name, sizeof(name), "X-Fill-%04u: ", i % 10000);
	puts_(t, name);
	put(t, NULL, n - strlen(name) - 2, 'v');
	puts_(t, "\r\n");
}

/* Check a generated input that must be read (status 200, keep-alive, to its last byte) or refused in a feed with a
 * reason containing err; the split points are strided, the input being long. */
static void
check_text(const struct text *t, const char *err, const char *name)
{
	struct kcase c = { t->p, t->len, err == NULL ? HTTP_RESP_DONE : HTTP_RESP_ERROR, 0, 200, 1, 0, err };

	check_case(&c, name, t->len / 97 + 1);
}

/* Lines up to HTTP_RESP_LINE_MAX bytes with their CRLF are read; a line longer than that is refused, in a feed,
 * whichever kind it is: status, field, chunk size with extensions, trailer. */
static void
test_http_resp_line_max(void **state)
{
	const size_t fit = HTTP_RESP_LINE_MAX - 2, over = HTTP_RESP_LINE_MAX + 1;
	struct text t = { 0 };
	size_t pre;

	(void)state;
	/* the status line's reason */
	pre = strlen("HTTP/1.1 200 ");
	puts_(&t, "HTTP/1.1 200 ");
	put(&t, NULL, fit - pre, 'r');
	puts_(&t, "\r\n" CL0);
	check_text(&t, NULL, "status line that fits");
	t.len = 0;
	puts_(&t, "HTTP/1.1 200 ");
	put(&t, NULL, over - pre, 'r');
	puts_(&t, "\r\n" CL0);
	check_text(&t, "line too long", "status line too long");
	/* a line that never ends is refused before the close */
	t.len = 0;
	puts_(&t, "HTTP/1.1 200 ");
	put(&t, NULL, 3 * HTTP_RESP_LINE_MAX, 'r');
	check_text(&t, "line too long", "endless status line");

	/* a field */
	t.len = 0;
	puts_(&t, OK11);
	put_field(&t, 1, HTTP_RESP_LINE_MAX);
	puts_(&t, CL0);
	check_text(&t, NULL, "field that fits");
	t.len = 0;
	puts_(&t, OK11);
	put_field(&t, 1, over + 2);
	puts_(&t, CL0);
	check_text(&t, "line too long", "field too long");
	t.len = 0;
	puts_(&t, OK11 "X-Endless: ");
	put(&t, NULL, 3 * HTTP_RESP_LINE_MAX, 'v');
	check_text(&t, "line too long", "endless field");

	/* a chunk size with its extensions */
	t.len = 0;
	puts_(&t, OK11 CHUNKED "5;e=");
	put(&t, NULL, fit - 4, 'e');
	puts_(&t, "\r\nhello\r\n0\r\n\r\n");
	check_text(&t, NULL, "chunk size that fits");
	t.len = 0;
	puts_(&t, OK11 CHUNKED "5;e=");
	put(&t, NULL, over - 4, 'e');
	puts_(&t, "\r\nhello\r\n0\r\n\r\n");
	check_text(&t, "line too long", "chunk size too long");
	t.len = 0;
	puts_(&t, OK11 CHUNKED "5 ");
	put(&t, NULL, 3 * HTTP_RESP_LINE_MAX, ' ');
	check_text(&t, "line too long", "endless chunk size");

	/* a trailer */
	t.len = 0;
	puts_(&t, OK11 CHUNKED "0\r\n");
	put_field(&t, 1, HTTP_RESP_LINE_MAX);
	puts_(&t, "\r\n");
	check_text(&t, NULL, "trailer that fits");
	t.len = 0;
	puts_(&t, OK11 CHUNKED "0\r\n");
	put_field(&t, 1, over + 2);
	puts_(&t, "\r\n");
	check_text(&t, "line too long", "trailer too long");
	free(t.p);
}

/* Heads (interim ones and trailers too) up to HTTP_RESP_HEAD_MAX bytes in all are read; more is refused, in a feed.
 * Chunk size lines are no head: a body of many small chunks is fine. */
static void
test_http_resp_head_max(void **state)
{
	struct text t = { 0 };
	size_t fields, i;

	(void)state;
	/* one head of exactly HTTP_RESP_HEAD_MAX bytes, its empty line included */
	fields = (HTTP_RESP_HEAD_MAX - strlen(OK11 CL0)) / 1000;
	puts_(&t, OK11 "Content-Length: 0\r\n");
	for (i = 0; i < fields - 1; i++)
		put_field(&t, (unsigned)i, 1000);
	put_field(&t, (unsigned)i, HTTP_RESP_HEAD_MAX - t.len - 2);
	puts_(&t, "\r\n");
	assert_int_equal(t.len, HTTP_RESP_HEAD_MAX);
	check_text(&t, NULL, "head that fits");
	/* one byte more */
	t.len -= 2;
	puts_(&t, "v\r\n");
	check_text(&t, "head too long", "head one byte too long");
	/* its fields alone over the limit, CRLFs not counted */
	t.len = 0;
	puts_(&t, OK11);
	for (i = 0; i < HTTP_RESP_HEAD_MAX / 900 + 1; i++)
		put_field(&t, (unsigned)i, 1000);
	puts_(&t, CL0);
	check_text(&t, "head too long", "head too long");
	/* fields without end */
	t.len = 0;
	puts_(&t, OK11);
	for (i = 0; i < 3 * HTTP_RESP_HEAD_MAX / 1000; i++)
		put_field(&t, (unsigned)i, 1000);
	check_text(&t, "head too long", "endless head");
	/* interim heads, each small, count together */
	t.len = 0;
	for (i = 0; i < HTTP_RESP_HEADS_MAX - 1; i++) {
		puts_(&t, "HTTP/1.1 103 Early Hints\r\n");
		put_field(&t, (unsigned)i, HTTP_RESP_HEAD_MAX / 12);
		put_field(&t, (unsigned)i, HTTP_RESP_HEAD_MAX / 12);
		puts_(&t, "\r\n");
	}
	puts_(&t, OK11 CL0);
	check_text(&t, "head too long", "interim heads too long");
	/* the trailers count with the head */
	t.len = 0;
	puts_(&t, OK11);
	for (i = 0; i < 40; i++)
		put_field(&t, (unsigned)i, 1000);
	puts_(&t, CHUNKED "3\r\nabc\r\n0\r\n");
	for (i = 0; i < 30; i++)
		put_field(&t, (unsigned)i, 1000);
	puts_(&t, "\r\n");
	check_text(&t, "head too long", "trailers too long");
	/* 2 * HTTP_RESP_HEAD_MAX chunks of one byte */
	t.len = 0;
	puts_(&t, OK11 CHUNKED);
	for (i = 0; i < 2 * HTTP_RESP_HEAD_MAX; i++)
		puts_(&t, "1;e\r\nx\r\n");
	puts_(&t, "0\r\n\r\n");
	check_text(&t, NULL, "many small chunks");
	free(t.p);
}

/* HTTP_RESP_HEADS_MAX status lines at most: interim responses up to one less than that. */
static void
test_http_resp_heads_max(void **state)
{
	struct text t = { 0 };
	size_t i;

	(void)state;
	for (i = 0; i < HTTP_RESP_HEADS_MAX - 1; i++)
		puts_(&t, "HTTP/1.1 100 Continue\r\n\r\n");
	puts_(&t, OK11 CL0);
	check_text(&t, NULL, "heads that fit");
	t.len = 0;
	for (i = 0; i < HTTP_RESP_HEADS_MAX; i++)
		puts_(&t, "HTTP/1.1 100 Continue\r\n\r\n");
	puts_(&t, OK11 CL0);
	check_text(&t, "too many interim", "too many heads");
	t.len = 0;
	for (i = 0; i < 1000; i++)
		puts_(&t, "HTTP/1.1 100 Continue\r\n\r\n");
	check_text(&t, "too many interim", "endless interim heads");
	free(t.p);
}

#define BIG (10u << 20)		/* 10 MB */
#define PIECE (64u << 10)	/* 64 KB */

/* Feed p, expecting MORE. */
static void
feed_more(struct http_resp *r, const void *p, size_t n)
{
	size_t used = SIZE_MAX;

	assert_int_equal(http_resp_feed(r, p, n, &used), HTTP_RESP_MORE);
	assert_int_equal(used, n);
}

/* 10 MB bodies in 64 KB pieces: counted and dropped, ending exactly where they should. */
static void
test_http_resp_big(void **state)
{
	static uint8_t piece[PIECE + 16];
	struct http_resp r;
	char line[64];
	size_t used, i;

	(void)state;
	memset(piece, 'z', sizeof(piece));
	/* Content-Length: DONE with the last byte, and not a byte more */
	http_resp_init(&r);
	feed_more(&r, OK11 "Content-Length: 10485760\r\n\r\n", strlen(OK11 "Content-Length: 10485760\r\n\r\n"));
	for (i = 0; i < BIG / PIECE - 1; i++)
		feed_more(&r, piece, PIECE);
	assert_int_equal(http_resp_feed(&r, piece, PIECE + 16, &used), HTTP_RESP_DONE);
	assert_int_equal(used, PIECE);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.keep_alive, 1);
	/* ... the close one byte short of it is an error */
	http_resp_init(&r);
	feed_more(&r, OK11 "Content-Length: 10485760\r\n\r\n", strlen(OK11 "Content-Length: 10485760\r\n\r\n"));
	for (i = 0; i < BIG / PIECE - 1; i++)
		feed_more(&r, piece, PIECE);
	feed_more(&r, piece, PIECE - 1);
	assert_int_equal(http_resp_eof(&r), HTTP_RESP_ERROR);
	assert_non_null(r.err);
	/* the largest length there is takes any amount */
	http_resp_init(&r);
	feed_more(&r, OK11 "Content-Length: 9999999999999999999\r\n\r\n",
	    strlen(OK11 "Content-Length: 9999999999999999999\r\n\r\n"));
	for (i = 0; i < BIG / PIECE; i++)
		feed_more(&r, piece, PIECE);
	assert_int_equal(http_resp_eof(&r), HTTP_RESP_ERROR);
	/* no length: MORE for ever, the close ends it */
	http_resp_init(&r);
	feed_more(&r, OK11 "Connection: keep-alive\r\n\r\n", strlen(OK11 "Connection: keep-alive\r\n\r\n"));
	for (i = 0; i < BIG / PIECE; i++)
		feed_more(&r, piece, PIECE);
	assert_int_equal(http_resp_eof(&r), HTTP_RESP_DONE);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.keep_alive, 0);
	/* chunked, one 64 KB chunk per piece, each piece cut in three to split size line, data and CRLF */
	http_resp_init(&r);
	feed_more(&r, OK11 CHUNKED, strlen(OK11 CHUNKED));
	snprintf(line, sizeof(line), "%x\r\n", PIECE);
	for (i = 0; i < BIG / PIECE; i++) {
		feed_more(&r, line, strlen(line));
		feed_more(&r, piece, PIECE);
		feed_more(&r, "\r\n", 2);
	}
	assert_int_equal(http_resp_feed(&r, (const uint8_t *)"0\r\n\r\nHTTP", 9, &used), HTTP_RESP_DONE);
	assert_int_equal(used, 5);
	assert_int_equal(r.keep_alive, 1);
}

/* status is 0 until the final head is read; init makes a spent reader new, and a reader reads one response after
 * another, nothing of the last one left over. */
static void
test_http_resp_reuse(void **state)
{
	static const char *const seq[] = {
		OK11 CHUNKED "5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.0 404 Not Found\r\nContent-Length: 2\r\n\r\nno",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
		    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
		    "HTTP/1.1 100 Continue\r\n\r\n" OK11 "Connection: close\r\n" CL0,
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
		    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
		    "HTTP/1.1 100 Continue\r\n\r\n" OK11 "Content-Length: 1\r\n\r\nx",
	};
	static const int status[] = { 200, 404, 200, 200 }, ka[] = { 1, 0, 0, 1 };
	struct http_resp r;
	size_t used, i;

	(void)state;
	http_resp_init(&r);
	assert_int_equal(r.status, 0);
	feed_more(&r, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	assert_int_equal(r.status, 0);
	feed_more(&r, OK11 "Content-Length: 5\r\n\r\nhe", strlen(OK11 "Content-Length: 5\r\n\r\nhe"));
	assert_int_equal(r.status, 200);
	assert_int_equal(http_resp_feed(&r, (const uint8_t *)"llo", 3, &used), HTTP_RESP_DONE);
	assert_int_equal(used, 3);
	for (i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		http_resp_init(&r);
		assert_int_equal(http_resp_feed(&r, (const uint8_t *)seq[i], strlen(seq[i]), &used), HTTP_RESP_DONE);
		assert_int_equal(used, strlen(seq[i]));
		assert_int_equal(r.status, status[i]);
		assert_int_equal(r.keep_alive, ka[i]);
		/* after an error too */
		http_resp_init(&r);
		assert_int_equal(http_resp_feed(&r, (const uint8_t *)"HTTP/1.1 999\r\n", 14, &used), HTTP_RESP_ERROR);
		assert_non_null(r.err);
		assert_int_equal(http_resp_feed(&r, (const uint8_t *)seq[i], strlen(seq[i]), &used), HTTP_RESP_ERROR);
	}
}

/* Empty feeds anywhere change nothing. */
static void
test_http_resp_empty_feeds(void **state)
{
	static const char in[] = OK11 "Content-Length: 3\r\n\r\nabc";
	struct http_resp r;
	size_t used, i;

	(void)state;
	http_resp_init(&r);
	for (i = 0; i < sizeof(in) - 2; i++) {
		feed_more(&r, in + i, 0);
		feed_more(&r, in + i, 1);
	}
	feed_more(&r, in + i, 0);
	assert_int_equal(http_resp_feed(&r, (const uint8_t *)in + i, 1, &used), HTTP_RESP_DONE);
	assert_int_equal(used, 1);
	assert_int_equal(r.status, 200);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_resp_cases),
		cmocka_unit_test(test_http_resp_line_max),
		cmocka_unit_test(test_http_resp_head_max),
		cmocka_unit_test(test_http_resp_heads_max),
		cmocka_unit_test(test_http_resp_big),
		cmocka_unit_test(test_http_resp_reuse),
		cmocka_unit_test(test_http_resp_empty_feeds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
