/* The WhatsApp client connection state machine (see wa_conn.h).
 *
 * One attempt = resolve -> TCP connect -> (TLS) -> WebSocket upgrade -> Noise XX -> OPEN. Everything an
 * attempt owns is torn down by conn_attempt_end(); the stream itself is freed on the next loop turn because
 * we are usually inside one of its callbacks when an attempt ends (STYLE rule 10). Reaching the server
 * (resolve, TCP, the proxy) is wa_conn_dial.c. */
#include "wa_conn_int.h"
#include "backoff.h"

#include "wa_binary.h"
#include "wa_frame.h"
#include "wa_handshake.h"
#include "wa_cert.h"
#include "wa_noise.h"
#include "wa_node.h"
#include "wa_tls.h"
#include "wa_ws.h"
#include "xmalloc.h"

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

/* Random 32-bit value for jitter and ids. */
static uint32_t
conn_random32(void)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		v = (uint32_t)random();
	return v;
}

/* Milliseconds to a timeval. */
static struct timeval
conn_tv(unsigned long ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };

	return tv;
}

/* Split url into scheme/host/port/path. 0 or -1 with err. */
static int
conn_parse_url(struct wa_conn *c, const char *url, char *err, size_t errlen)
{
	const char *p, *hs, *he, *ps;
	char port[8];

	if (strncasecmp(url, "wss://", 6) == 0) {
		c->use_tls = 1;
		p = url + 6;
		snprintf(port, sizeof(port), "443");
	} else if (strncasecmp(url, "ws://", 5) == 0) {
		c->use_tls = 0;
		p = url + 5;
		snprintf(port, sizeof(port), "80");
	} else {
		snprintf(err, errlen, "URL %s: scheme must be ws:// or wss://", url);
		return -1;
	}
	if (*p == '[') {
		hs = p + 1;
		he = strchr(hs, ']');
		if (he == NULL) {
			snprintf(err, errlen, "URL %s: unterminated IPv6 address", url);
			return -1;
		}
		ps = he + 1;
	} else {
		hs = p;
		he = hs + strcspn(hs, ":/?#");
		ps = he;
	}
	if (he == hs || he - hs > 253) {
		snprintf(err, errlen, "URL %s: bad host", url);
		return -1;
	}
	c->host = xstrndup(hs, (size_t)(he - hs));
	if (*ps == ':') {
		size_t n = strspn(ps + 1, "0123456789");
		long v = strtol(ps + 1, NULL, 10);
		if (n == 0 || n > 5 || v < 1 || v > 65535) {
			snprintf(err, errlen, "URL %s: bad port", url);
			return -1;
		}
		snprintf(port, sizeof(port), "%ld", v);
		ps += 1 + n;
	}
	if (*ps != '\0' && *ps != '/' && *ps != '?') {
		snprintf(err, errlen, "URL %s: junk after host", url);
		return -1;
	}
	c->port = xstrdup(port);
	c->path = xstrdup(*ps == '\0' ? "/" : ps);
	if (strchr(c->path, '#') != NULL || strpbrk(c->path, " \r\n") != NULL) {
		snprintf(err, errlen, "URL %s: bad path", url);
		return -1;
	}
	if ((c->use_tls && strcmp(port, "443") == 0) || (!c->use_tls && strcmp(port, "80") == 0))
		xasprintf(&c->hostport, strchr(c->host, ':') ? "[%s]" : "%s", c->host);
	else
		xasprintf(&c->hostport, strchr(c->host, ':') ? "[%s]:%s" : "%s:%s", c->host, port);
	return 0;
}

static void conn_timeout_cb(evutil_socket_t, short, void *);
static void conn_ping_cb(evutil_socket_t, short, void *);
static void conn_deadline_cb(evutil_socket_t, short, void *);
static void conn_retry_cb(evutil_socket_t, short, void *);
static void conn_reap_cb(evutil_socket_t, short, void *);

/* Create a connection from cfg. */
struct wa_conn *
wa_conn_new(struct event_base *base, const struct wa_conn_config *cfg, char *err, size_t errlen)
{
	struct wa_conn *c = xcalloc(1, sizeof(*c));

	c->base = base;
	c->cfg = *cfg;
	c->px_fd = -1;
	if (c->cfg.keepalive_min_ms == 0)
		c->cfg.keepalive_min_ms = 20000;
	if (c->cfg.keepalive_max_ms < c->cfg.keepalive_min_ms)
		c->cfg.keepalive_max_ms = c->cfg.keepalive_min_ms == 20000 ? 30000 : c->cfg.keepalive_min_ms;
	if (c->cfg.keepalive_deadline_ms == 0)
		c->cfg.keepalive_deadline_ms = 20000;
	if (c->cfg.connect_timeout_ms == 0)
		c->cfg.connect_timeout_ms = 20000;
	if (c->cfg.backoff_min_ms == 0)
		c->cfg.backoff_min_ms = 1000;
	if (c->cfg.backoff_max_ms < c->cfg.backoff_min_ms)
		c->cfg.backoff_max_ms = c->cfg.backoff_min_ms > 60000 ? c->cfg.backoff_min_ms : 60000;
	c->url = xstrdup(cfg->url ? cfg->url : WA_CONN_DEFAULT_URL);
	if (conn_parse_url(c, c->url, err, errlen) == -1)
		goto fail;
	memcpy(c->root_key, cfg->root_key ? cfg->root_key : wa_cert_whatsapp_root_pub, 32);
	if (cfg->static_priv)
		memcpy(c->static_priv, cfg->static_priv, 32);
	else if (getrandom(c->static_priv, 32, 0) != 32) {
		snprintf(err, errlen, "no randomness for the Noise key");
		goto fail;
	}
	wa_conn_set_payload(c, cfg->payload, cfg->payload_len);
	c->extra_ca_file = cfg->extra_ca_file ? xstrdup(cfg->extra_ca_file) : NULL;
	c->ca_file = cfg->ca_file ? xstrdup(cfg->ca_file) : NULL;
	c->cfg.url = NULL;
	c->cfg.root_key = c->cfg.static_priv = c->cfg.payload = NULL;
	c->cfg.extra_ca_file = c->cfg.ca_file = NULL;
	c->tlsctx = cfg->tls_ctx;
	c->cfg.tls_ctx = NULL;
	c->ev_timeout = evtimer_new(base, conn_timeout_cb, c);
	c->ev_ping = evtimer_new(base, conn_ping_cb, c);
	c->ev_deadline = evtimer_new(base, conn_deadline_cb, c);
	c->ev_retry = evtimer_new(base, conn_retry_cb, c);
	c->ev_reap = event_new(base, -1, 0, conn_reap_cb, c);
	if (!c->ev_timeout || !c->ev_ping || !c->ev_deadline || !c->ev_retry || !c->ev_reap) {
		snprintf(err, errlen, "cannot create timers");
		goto fail;
	}
	if (getrandom(c->idr, sizeof(c->idr), 0) != sizeof(c->idr))
		c->idr[0] = c->idr[1] = 1;
	c->stopped = 1;
	return c;
fail:
	wa_conn_free(c);
	return NULL;
}

/* Free what the current attempt owns; the stream goes to the reaper. No callbacks. */
static void
conn_attempt_end(struct wa_conn *c)
{
	c->gen++;
	if (c->dnsreq != NULL) {
		struct evdns_getaddrinfo_request *r = c->dnsreq;
		c->dnsreq = NULL;
		evdns_getaddrinfo_cancel(r);
	}
	if (c->stream != NULL) {
		if (c->zombie != NULL)
			wa_tls_free(c->zombie);
		c->zombie = c->stream;
		c->stream = NULL;
		wa_tls_set_reading(c->zombie, 0);
		event_active(c->ev_reap, EV_TIMEOUT, 0);
	}
	conn_proxy_end(c);
	wa_ws_free(c->ws);
	c->ws = NULL;
	wa_frame_reader_free(c->frd);
	c->frd = NULL;
	wa_frame_writer_free(c->fwr);
	c->fwr = NULL;
	wa_handshake_free(c->hs);
	c->hs = NULL;
	wa_noise_transport_free(c->tx);
	wa_noise_transport_free(c->rx);
	c->tx = c->rx = NULL;
	c->ws_close_sent = 0;
	c->ping_id[0] = '\0';
	if (c->ev_timeout)
		evtimer_del(c->ev_timeout);
	if (c->ev_ping)
		evtimer_del(c->ev_ping);
	if (c->ev_deadline)
		evtimer_del(c->ev_deadline);
	c->phase = PH_IDLE;
}

/* Release everything. */
void
wa_conn_free(struct wa_conn *c)
{
	if (c == NULL)
		return;
	conn_attempt_end(c);
	wa_tls_free(c->zombie);
	for (int i = 0; i < 2; i++)
		if (c->px_zombie[i] != NULL)
			event_free(c->px_zombie[i]);
	conn_proxy_clear(&c->px_next);
	conn_proxy_clear(&c->pxa);
	if (c->ev_timeout)
		event_free(c->ev_timeout);
	if (c->ev_ping)
		event_free(c->ev_ping);
	if (c->ev_deadline)
		event_free(c->ev_deadline);
	if (c->ev_retry)
		event_free(c->ev_retry);
	if (c->ev_reap)
		event_free(c->ev_reap);
	if (c->dns)
		evdns_base_free(c->dns, 0);
	if (c->own_tlsctx)
		wa_tls_ctx_free(c->tlsctx);
	free(c->url);
	free(c->host);
	free(c->hostport);
	free(c->path);
	free(c->port);
	free_wiped(c->payload, c->payload_len);
	free(c->extra_ca_file);
	free(c->ca_file);
	explicit_wipe(c->static_priv, sizeof(c->static_priv));
	free(c);
}

/* Report a state change to the owner. */
static void
conn_report(struct wa_conn *c, int state, int reason, const char *detail, long retry_ms)
{
	c->state = state;
	if (c->cfg.on_state != NULL)
		c->cfg.on_state(c, state, reason, detail, retry_ms, c->cfg.arg);
}

/* Delay before the next attempt after c->failures consecutive failures (the one backoff rule, backoff.h). */
static long
conn_backoff_ms(struct wa_conn *c)
{
	long ms = backoff_ms(c->failures, c->cfg.backoff_min_ms, c->cfg.backoff_max_ms);

	if (c->failures < 64)
		c->failures++;
	return ms;
}

/* End the attempt and decide what comes next. */
void
conn_fail(struct wa_conn *c, int reason, const char *detail, enum conn_retry retry)
{
	long retry_ms = -1;

	conn_attempt_end(c);
	if (retry == RETRY_NOW)
		retry_ms = 0;
	else if (retry == RETRY_BACKOFF)
		retry_ms = conn_backoff_ms(c);
	if (retry_ms >= 0) {
		struct timeval tv = conn_tv((unsigned long)retry_ms);
		evtimer_add(c->ev_retry, &tv);
	} else
		c->stopped = 1;
	conn_report(c, WA_CONN_CLOSED, reason, detail, retry_ms);
}

/* Send one WebSocket message (binary, masked). 0 or -1. */
static int
conn_ws_send(struct wa_conn *c, int opcode, const void *data, size_t len)
{
	size_t n = wa_ws_frame_size(len, 1);
	uint8_t *buf = xmalloc(n);
	int rc;

	if (wa_ws_frame_encode(buf, n, opcode, 1, 1, data, len) != n) {
		free(buf);
		return -1;
	}
	rc = wa_tls_write(c->stream, buf, n);
	free(buf);
	return rc;
}

/* Send one WhatsApp frame (the first one carries the connection header) in its own WebSocket message. */
static int
conn_frame_send(struct wa_conn *c, const uint8_t *payload, size_t len)
{
	uint8_t *out = NULL;
	size_t outlen = 0;
	int rc;

	if (wa_frame_encode(c->fwr, payload, len, &out, &outlen) == -1)
		return -1;
	rc = conn_ws_send(c, WA_WS_OP_BINARY, out, outlen);
	free(out);
	return rc;
}

/* Arm the next keepalive ping at a random point of the configured interval. */
static void
conn_schedule_ping(struct wa_conn *c)
{
	unsigned span = c->cfg.keepalive_max_ms - c->cfg.keepalive_min_ms;
	struct timeval tv = conn_tv(c->cfg.keepalive_min_ms + (span ? conn_random32() % span : 0));

	evtimer_add(c->ev_ping, &tv);
}

/* A fresh iq id. */
const char *
wa_conn_next_id(struct wa_conn *c)
{
	snprintf(c->idbuf, sizeof(c->idbuf), "%u.%u-%u", c->idr[0], c->idr[1], ++c->idn);
	return c->idbuf;
}

/* Encode, encrypt and send a node. */
int
wa_conn_send_node(struct wa_conn *c, const struct wa_node *node)
{
	unsigned char *plain = NULL;
	uint8_t *ct = NULL;
	size_t plen = 0, clen = 0;
	int rc = -1;

	if (c->phase != PH_OPEN || c->tx == NULL)
		return -1;
	if (wa_binary_encode(node, &plain, &plen) == -1)
		return -1;
	if (wa_noise_encrypt(c->tx, plain, plen, &ct, &clen) == 0)
		rc = conn_frame_send(c, ct, clen);
	free_wiped(plain, plen);
	free(ct);
	return rc;
}

/* Send a keepalive ping iq and arm the answer deadline. */
static void
conn_ping_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wa_conn *c = arg;
	struct wa_node *iq, *ping;
	struct timeval tv = conn_tv(c->cfg.keepalive_deadline_ms);
	unsigned gen = c->gen;

	if (c->phase != PH_OPEN)
		return;
	iq = wa_node_new("iq");
	snprintf(c->ping_id, sizeof(c->ping_id), "%s", wa_conn_next_id(c));
	wa_node_set_attr(iq, "id", c->ping_id);
	wa_node_set_attr(iq, "to", "s.whatsapp.net");
	wa_node_set_attr(iq, "type", "get");
	wa_node_set_attr(iq, "xmlns", "w:p");
	ping = wa_node_new("ping");
	wa_node_add_child(iq, ping);
	if (wa_conn_send_node(c, iq) == -1) {
		wa_node_free(iq);
		if (gen == c->gen)
			conn_fail(c, WA_CONN_REASON_CLOSED, "cannot send keepalive", RETRY_BACKOFF);
		return;
	}
	wa_node_free(iq);
	evtimer_add(c->ev_deadline, &tv);
}

/* The keepalive answer did not come in time: the connection is dead. */
static void
conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wa_conn *c = arg;
	char detail[96];

	snprintf(detail, sizeof(detail), "keepalive not answered within %u ms", c->cfg.keepalive_deadline_ms);
	conn_fail(c, WA_CONN_REASON_TIMED_OUT, detail, RETRY_BACKOFF);
}

/* The attempt took too long. */
static void
conn_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wa_conn *c = arg;
	static const char *names[] = { "idle", "resolving", "connecting", "proxy handshake", "WebSocket upgrade",
	    "Noise handshake", "open" };
	char detail[400];

	/* Until the tunnel is open, a slow attempt is the proxy's doing. */
	if (c->pxa.host != NULL && !c->px_tunnel) {
		snprintf(detail, sizeof(detail), "proxy: %s %s timed out in %s", c->pxa.protocol, c->pxa.hostport,
		    names[c->phase]);
		conn_fail(c, WA_CONN_REASON_PROXY, detail, RETRY_BACKOFF);
		return;
	}
	snprintf(detail, sizeof(detail), "timed out in %s", names[c->phase]);
	conn_fail(c, WA_CONN_REASON_TIMED_OUT, detail, RETRY_BACKOFF);
}

/* Free a finished attempt's stream (we may have been inside its callback when it ended). */
static void
conn_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wa_conn *c = arg;

	wa_tls_free(c->zombie);
	c->zombie = NULL;
	for (int i = 0; i < 2; i++) {
		if (c->px_zombie[i] != NULL)
			event_free(c->px_zombie[i]);
		c->px_zombie[i] = NULL;
	}
}

/* Answer the server's own ping (WA Web does; cheap). */
static void
conn_answer_server_ping(struct wa_conn *c, const struct wa_node *n)
{
	struct wa_node *r = wa_node_new("iq");
	const char *id = wa_node_attr(n, "id");

	if (id != NULL)
		wa_node_set_attr(r, "id", id);
	wa_node_set_attr(r, "to", "s.whatsapp.net");
	wa_node_set_attr(r, "type", "result");
	wa_conn_send_node(c, r);
	wa_node_free(r);
}

/* Apply the stream:error policy (wa-transport.md 6.3). */
static void
conn_stream_error(struct wa_conn *c, const struct wa_node *n)
{
	const char *code = wa_node_attr(n, "code");
	const struct wa_node *conflict = wa_node_child(n, "conflict");
	const char *ctype = conflict ? wa_node_attr(conflict, "type") : NULL;
	int icode = code ? atoi(code) : 0;
	char detail[128];

	if (icode == 515) {
		c->failures = 0;
		conn_fail(c, WA_CONN_REASON_RESTART_REQUIRED, "stream:error 515 (restart required)", RETRY_NOW);
	} else if (icode == 401 || icode == 516 || (ctype && strcmp(ctype, "device_removed") == 0)) {
		snprintf(detail, sizeof(detail), "stream:error %s%s%s (logged out)", code ? code : "",
		    ctype ? " " : "", ctype ? ctype : "");
		conn_fail(c, WA_CONN_REASON_LOGGED_OUT, detail, RETRY_NONE);
	} else if (icode == 403) {
		conn_fail(c, WA_CONN_REASON_FORBIDDEN, "stream:error 403 (forbidden)", RETRY_NONE);
	} else if (icode == 409 || (ctype && strcmp(ctype, "replaced") == 0)) {
		conn_fail(c, WA_CONN_REASON_REPLACED, "stream:error conflict (replaced by another connection)",
		    RETRY_NONE);
	} else if (icode == 503) {
		conn_fail(c, WA_CONN_REASON_UNAVAILABLE, "stream:error 503 (service unavailable)", RETRY_BACKOFF);
	} else {
		const char *child = n->ctype == WA_CONTENT_NODES && n->nchildren > 0 ? n->children[0]->tag : NULL;
		snprintf(detail, sizeof(detail), "stream:error %s%s%s", code ? code : "", child ? " " : "",
		    child ? child : "");
		conn_fail(c, WA_CONN_REASON_BAD_SESSION, detail, RETRY_BACKOFF);
	}
}

/* Apply the <failure> policy (wa-transport.md 6.4). */
static void
conn_failure(struct wa_conn *c, const struct wa_node *n)
{
	const char *reason = wa_node_attr(n, "reason");
	int r = reason ? atoi(reason) : 500;
	char detail[96];

	snprintf(detail, sizeof(detail), "connect failure %d", r);
	if (r == 500 || r == 503)
		conn_fail(c, r, detail, RETRY_BACKOFF);
	else
		conn_fail(c, r == 406 ? WA_CONN_REASON_LOGGED_OUT : r, detail, RETRY_NONE);
}

/* Handle one decoded node from the server. */
static void
conn_handle_node(struct wa_conn *c, const struct wa_node *n)
{
	const char *id = wa_node_attr(n, "id");

	if (strcmp(n->tag, "iq") == 0) {
		const char *type = wa_node_attr(n, "type"), *xmlns = wa_node_attr(n, "xmlns");
		if (c->ping_id[0] != '\0' && id != NULL && strcmp(id, c->ping_id) == 0) {
			c->ping_id[0] = '\0';
			evtimer_del(c->ev_deadline);
			c->failures = 0;	/* a live, answered connection: forget earlier failures */
			conn_schedule_ping(c);
			return;
		}
		if (type && xmlns && strcmp(type, "get") == 0 && strcmp(xmlns, "urn:xmpp:ping") == 0) {
			conn_answer_server_ping(c, n);
			return;
		}
	} else if (strcmp(n->tag, "stream:error") == 0) {
		conn_stream_error(c, n);
		return;
	} else if (strcmp(n->tag, "failure") == 0) {
		conn_failure(c, n);
		return;
	} else if (strcmp(n->tag, "xmlstreamend") == 0) {
		conn_fail(c, WA_CONN_REASON_CLOSED, "server ended the stream", RETRY_BACKOFF);
		return;
	}
	if (c->cfg.on_node != NULL)
		c->cfg.on_node(c, n, c->cfg.arg);
}

/* The handshake finished: switch to transport keys and report OPEN. */
static int
conn_handshake_frame(struct wa_conn *c, const uint8_t *frame, size_t len)
{
	uint8_t *finish = NULL;
	size_t flen = 0;
	char err[256], detail[300];

	if (wa_handshake_client_on_server_hello(c->hs, frame, len, &finish, &flen, err, sizeof(err)) == -1) {
		snprintf(detail, sizeof(detail), "Noise handshake: %s", err);
		/* A certificate that does not verify will not verify on the next try either. */
		if (wa_handshake_error(c->hs) == WA_HS_ERR_CERT)
			conn_fail(c, WA_CONN_REASON_BAD_CERT, detail, RETRY_NONE);
		else
			conn_fail(c, WA_CONN_REASON_BAD_SESSION, detail, RETRY_BACKOFF);
		return -1;
	}
	if (conn_frame_send(c, finish, flen) == -1 || wa_handshake_split(c->hs, &c->tx, &c->rx) == -1) {
		free(finish);
		conn_fail(c, WA_CONN_REASON_CLOSED, "cannot send the handshake finish", RETRY_BACKOFF);
		return -1;
	}
	free(finish);
	wa_handshake_free(c->hs);
	c->hs = NULL;
	c->phase = PH_OPEN;
	c->handshakes++;
	evtimer_del(c->ev_timeout);
	conn_schedule_ping(c);
	conn_report(c, WA_CONN_OPEN, WA_CONN_REASON_NONE, "Noise handshake complete", -1);
	return 0;
}

/* Decrypt and dispatch one transport frame. 0, or -1 when the attempt ended. */
static int
conn_transport_frame(struct wa_conn *c, const uint8_t *frame, size_t len)
{
	uint8_t *plain = NULL;
	size_t plen = 0;
	struct wa_node *n;
	char err[128], detail[200];
	unsigned gen = c->gen;

	if (wa_noise_decrypt(c->rx, frame, len, &plain, &plen) == -1) {
		conn_fail(c, WA_CONN_REASON_BAD_SESSION, "transport frame failed authentication", RETRY_BACKOFF);
		return -1;
	}
	n = wa_binary_decode(plain, plen, err, sizeof(err));
	free_wiped(plain, plen);
	if (n == NULL) {
		snprintf(detail, sizeof(detail), "undecodable node from server: %s", err);
		conn_fail(c, WA_CONN_REASON_BAD_SESSION, detail, RETRY_BACKOFF);
		return -1;
	}
	conn_handle_node(c, n);
	wa_node_free(n);
	return gen == c->gen ? 0 : -1;
}

/* Feed a binary WebSocket message to the frame layer and handle every complete frame. */
static int
conn_ws_binary(struct wa_conn *c, const uint8_t *data, size_t len)
{
	const uint8_t *frame;
	size_t flen;
	char err[128], detail[200];
	int r;

	if (wa_frame_reader_feed(c->frd, data, len) == -1) {
		conn_fail(c, WA_CONN_REASON_BAD_SESSION, "frame layer: too much buffered", RETRY_BACKOFF);
		return -1;
	}
	for (;;) {
		r = wa_frame_reader_next(c->frd, &frame, &flen, err, sizeof(err));
		if (r == WA_FRAME_AGAIN)
			return 0;
		if (r == WA_FRAME_ERROR) {
			snprintf(detail, sizeof(detail), "frame layer: %s", err);
			conn_fail(c, WA_CONN_REASON_BAD_SESSION, detail, RETRY_BACKOFF);
			return -1;
		}
		if (c->phase == PH_HANDSHAKE) {
			if (conn_handshake_frame(c, frame, flen) == -1)
				return -1;
		} else if (conn_transport_frame(c, frame, flen) == -1)
			return -1;
	}
}

/* Parse WebSocket messages from the stream's input. */
static void
conn_read_ws(struct wa_conn *c, struct evbuffer *in)
{
	struct wa_ws_msg m;
	size_t consumed, need = 2, len;
	char err[128], detail[200];
	uint8_t close[140];
	unsigned gen = c->gen;
	int r;

	while ((len = evbuffer_get_length(in)) >= need) {
		uint8_t *buf = evbuffer_pullup(in, (ev_ssize_t)len);
		r = wa_ws_parse(c->ws, buf, len, &consumed, &need, &m, err, sizeof(err));
		if (r == WA_WS_ERROR) {
			size_t n = wa_ws_close_encode(close, sizeof(close), 1, m.close_code, err);
			wa_tls_write(c->stream, close, n);
			snprintf(detail, sizeof(detail), "WebSocket protocol error: %s", err);
			conn_fail(c, WA_CONN_REASON_CLOSED, detail, RETRY_BACKOFF);
			return;
		}
		if (r == WA_WS_AGAIN) {
			evbuffer_drain(in, consumed);
			if (need <= consumed)
				need = 2;
			continue;
		}
		switch (m.opcode) {
		case WA_WS_OP_BINARY:
			if (conn_ws_binary(c, m.data, m.len) == -1 || gen != c->gen)
				return;
			break;
		case WA_WS_OP_PING:
			conn_ws_send(c, WA_WS_OP_PONG, m.data, m.len);
			break;
		case WA_WS_OP_CLOSE:
			if (!c->ws_close_sent) {
				size_t n = wa_ws_close_encode(close, sizeof(close), 1,
				    m.close_code == WA_WS_CLOSE_NO_STATUS ? WA_WS_CLOSE_NORMAL : m.close_code, "");
				wa_tls_write(c->stream, close, n);
				c->ws_close_sent = 1;
			}
			snprintf(detail, sizeof(detail), "server closed the WebSocket (%d)", m.close_code);
			conn_fail(c, WA_CONN_REASON_CLOSED, detail, RETRY_BACKOFF);
			return;
		default:
			break;	/* text and pong carry nothing for us */
		}
		evbuffer_drain(in, consumed);
		need = 2;
	}
}

/* Check the upgrade answer, then start the Noise handshake. */
static void
conn_read_upgrade(struct wa_conn *c, struct evbuffer *in)
{
	size_t len = evbuffer_get_length(in), consumed = 0;
	char err[160], detail[240];
	uint8_t *hello = NULL;
	size_t hlen = 0;
	int status = 0, r;

	if (len > WA_WS_MAX_HTTP_HEAD)
		len = WA_WS_MAX_HTTP_HEAD;
	r = wa_ws_response_parse((const char *)evbuffer_pullup(in, (ev_ssize_t)len), len, c->wskey, &consumed,
	    &status, err, sizeof(err));
	if (r == WA_WS_AGAIN)
		return;
	if (r == WA_WS_ERROR) {
		snprintf(detail, sizeof(detail), "WebSocket upgrade: %s", err);
		conn_fail(c, status >= 400 ? status : WA_CONN_REASON_CLOSED, detail, RETRY_BACKOFF);
		return;
	}
	evbuffer_drain(in, consumed);
	c->ws = wa_ws_new(WA_WS_CLIENT, c->cfg.max_message);
	c->frd = wa_frame_reader_new(NULL, 0, 0);
	c->fwr = wa_frame_writer_new(wa_frame_header_default, WA_FRAME_HEADER_LEN, 0);
	c->hs = wa_handshake_client_new(c->static_priv, c->root_key, c->payload, c->payload_len);
	if (c->frd == NULL || c->fwr == NULL || c->hs == NULL ||
	    wa_handshake_client_hello(c->hs, &hello, &hlen) == -1 || conn_frame_send(c, hello, hlen) == -1) {
		free(hello);
		conn_fail(c, WA_CONN_REASON_BAD_SESSION, "cannot start the Noise handshake", RETRY_BACKOFF);
		return;
	}
	free(hello);
	c->phase = PH_HANDSHAKE;
	if (evbuffer_get_length(in) > 0)
		conn_read_ws(c, in);
}

/* Stream input. */
void
conn_stream_read_cb(struct wa_tls *t, struct evbuffer *in, void *arg)
{
	struct wa_conn *c = arg;

	if (t != c->stream)
		return;
	if (c->phase == PH_UPGRADING)
		conn_read_upgrade(c, in);
	else if (c->phase == PH_HANDSHAKE || c->phase == PH_OPEN)
		conn_read_ws(c, in);
}

/* Stream events: connected, closed, failed. */
void
conn_stream_event_cb(struct wa_tls *t, int what, const char *reason, void *arg)
{
	struct wa_conn *c = arg;
	char *req, detail[600];

	if (t != c->stream)
		return;
	switch (what) {
	case WA_TLS_EV_CONNECTED:
		c->phase = PH_UPGRADING;
		if (wa_ws_key_new(c->wskey) == -1) {
			conn_fail(c, WA_CONN_REASON_CLOSED, "no randomness for the WebSocket key", RETRY_BACKOFF);
			return;
		}
		req = wa_ws_request_build(c->hostport, c->path, c->wskey, WA_CONN_ORIGIN);
		wa_tls_write(t, req, strlen(req));
		free(req);
		return;
	case WA_TLS_EV_CERT_ERROR:
		snprintf(detail, sizeof(detail), "%s (%s)", reason, c->host);
		conn_fail(c, WA_CONN_REASON_BAD_CERT, detail, RETRY_NONE);
		return;
	case WA_TLS_EV_EOF:
		conn_fail(c, WA_CONN_REASON_CLOSED, reason, RETRY_BACKOFF);
		return;
	default:
		conn_fail(c, c->phase == PH_CONNECTING ? WA_CONN_REASON_TIMED_OUT : WA_CONN_REASON_CLOSED, reason,
		    RETRY_BACKOFF);
		return;
	}
}

/* Begin one attempt. */
static void
conn_attempt_begin(struct wa_conn *c)
{
	struct timeval tv = conn_tv(c->cfg.connect_timeout_ms);
	char err[400];

	conn_attempt_end(c);
	evtimer_del(c->ev_retry);
	conn_proxy_copy(&c->pxa, &c->px_next);
	if (c->use_tls && c->tlsctx == NULL) {
		c->tlsctx = wa_tls_ctx_new_client(c->ca_file, c->extra_ca_file, err, sizeof(err));
		if (c->tlsctx == NULL) {
			conn_fail(c, WA_CONN_REASON_CONFIG, err, RETRY_NONE);
			return;
		}
		c->own_tlsctx = 1;
	}
	conn_report(c, WA_CONN_CONNECTING, WA_CONN_REASON_NONE, c->url, -1);
	if (c->stopped)
		return;	/* the owner stopped us from inside the callback */
	evtimer_add(c->ev_timeout, &tv);
	conn_dial(c);
}

/* Backoff elapsed: try again. */
static void
conn_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wa_conn *c = arg;

	if (!c->stopped)
		conn_attempt_begin(c);
}

/* Start (or restart) connecting. */
void
wa_conn_start(struct wa_conn *c)
{
	c->stopped = 0;
	c->failures = 0;
	conn_attempt_begin(c);
}

/* Close and stay closed. */
void
wa_conn_stop(struct wa_conn *c)
{
	int was = c->state;

	if (c->stream != NULL && c->phase >= PH_HANDSHAKE && !c->ws_close_sent) {
		uint8_t close[32];
		size_t n = wa_ws_close_encode(close, sizeof(close), 1, WA_WS_CLOSE_NORMAL, "");
		wa_tls_write(c->stream, close, n);
		c->ws_close_sent = 1;
	}
	c->stopped = 1;
	evtimer_del(c->ev_retry);
	conn_attempt_end(c);
	c->state = WA_CONN_CLOSED;
	if (was != WA_CONN_CLOSED)
		conn_report(c, WA_CONN_CLOSED, WA_CONN_REASON_STOPPED, "stopped", -1);
}

/* Drop the connection and reconnect now. */
void
wa_conn_restart(struct wa_conn *c)
{
	c->stopped = 0;
	conn_fail(c, WA_CONN_REASON_RESTART_REQUIRED, "restart requested", RETRY_NOW);
}

/* Replace the handshake payload. */
void
wa_conn_set_payload(struct wa_conn *c, const uint8_t *payload, size_t len)
{
	free_wiped(c->payload, c->payload_len);
	c->payload = NULL;
	c->payload_len = 0;
	if (payload != NULL && len > 0) {
		c->payload = xmalloc(len);
		memcpy(c->payload, payload, len);
		c->payload_len = len;
	}
}

/* Current state. */
int
wa_conn_state(const struct wa_conn *c)
{
	return c->state;
}

/* Completed handshakes. */
unsigned
wa_conn_handshakes(const struct wa_conn *c)
{
	return c->handshakes;
}
