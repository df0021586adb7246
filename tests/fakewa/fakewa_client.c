/* One fakewa client connection (see fakewa_client.h). */
#include "fakewa_client.h"

#include "fw_call.h"
#include "fw_ctl.h"
#include "fw_iq.h"
#include "fw_msg.h"
#include "fw_pair.h"
#include "fw_session.h"

#include "log.h"
#include "wa_binary.h"
#include "wa_frame.h"
#include "wa_handshake.h"
#include "wa_noise.h"
#include "wa_node.h"
#include "wa_tls.h"
#include "wa_ws.h"
#include "xmalloc.h"

#include <event2/buffer.h>
#include <event2/event.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *fw_phase_names[] = { "upgrade", "hello", "finish", "open", "closing" };

/* Mark c for freeing on the next loop turn (STYLE rule 10). */
static void
fw_client_kill(struct fw_client *c, const char *why)
{
	if (c->dead)
		return;
	log_debug("client %u (%s): %s", c->id, c->peer, why);
	c->dead = 1;
	fw_session_end(c);
	fw_ctl_conn_gone(c->ctl);
	wa_tls_set_reading(c->stream, 0);
	event_active(c->s->ev_reap, EV_TIMEOUT, 0);
}

/* Send one WebSocket message (server frames are not masked). */
static int
fw_ws_send(struct fw_client *c, int opcode, const void *data, size_t len)
{
	size_t n = wa_ws_frame_size(len, 0);
	uint8_t *buf = xmalloc(n);
	int rc = -1;

	if (wa_ws_frame_encode(buf, n, opcode, 1, 0, data, len) == n)
		rc = wa_tls_write(c->stream, buf, n);
	free(buf);
	return rc;
}

/* Send one frame in its own WebSocket message (whatsmeow cannot reassemble split frames). */
static int
fw_frame_send(struct fw_client *c, const uint8_t *payload, size_t len)
{
	uint8_t *out = NULL;
	size_t outlen = 0;
	int rc;

	if (wa_frame_encode(c->fwr, payload, len, &out, &outlen) == -1)
		return -1;
	rc = fw_ws_send(c, WA_WS_OP_BINARY, out, outlen);
	free(out);
	return rc;
}

/* Encode, encrypt and send a node. */
int
fw_client_send(struct fw_client *c, const struct wa_node *n)
{
	unsigned char *plain = NULL;
	uint8_t *ct = NULL;
	size_t plen = 0, clen = 0;
	int rc = -1;

	if (c->tx == NULL || c->dead || c->phase != FW_OPEN)
		return -1;	/* nothing after our close frame */
	if (wa_binary_encode(n, &plain, &plen) == -1)
		return -1;
	if (wa_noise_encrypt(c->tx, plain, plen, &ct, &clen) == 0)
		rc = fw_frame_send(c, ct, clen);
	free(plain);
	free(ct);
	if (rc == 0)
		c->nodes_out++;
	return rc;
}

/* Close the WebSocket politely after what is queued, then drop the client. */
static void
fw_client_close_ws(struct fw_client *c, int code, const char *reason)
{
	uint8_t close[140];
	size_t n = wa_ws_close_encode(close, sizeof(close), 0, code, reason);

	wa_tls_write(c->stream, close, n);
	c->phase = FW_CLOSING;
	wa_tls_close_on_flush(c->stream);
}

/* Close the WebSocket after what is queued. */
void
fw_client_close(struct fw_client *c)
{
	if (c->phase == FW_CLOSING || c->dead)
		return;
	fw_client_close_ws(c, WA_WS_CLOSE_NORMAL, "");
}

/* A fresh id for a server-initiated stanza. */
const char *
fw_client_stanza_id(struct fw_client *c)
{
	static char id[48];

	snprintf(id, sizeof(id), "%lu.%u-%lu", ++c->s->next_stanza, c->id, c->nodes_out + 1);
	return id;
}

/* Send a notification from the server. */
int
fw_client_notify(struct fw_client *c, const char *type, struct wa_node *child)
{
	struct wa_node *n = wa_node_new("notification");
	int rc;

	wa_node_set_attr(n, "from", "s.whatsapp.net");
	wa_node_set_attr(n, "type", type);
	wa_node_set_attr(n, "id", fw_client_stanza_id(c));
	wa_node_set_attrf(n, "t", "%lld", (long long)time(NULL));
	if (child != NULL)
		wa_node_add_child(n, child);
	rc = fw_client_send(c, n);
	wa_node_free(n);
	return rc;
}

/* Record a <chatstate to=...><STATE/></chatstate> for /admin/clients (fw_client.chatstates). Only the
 * characters of a JID and a state go into the entry, so it needs no JSON escaping. */
static void
fw_chatstate(struct fw_client *c, const struct wa_node *n)
{
	const struct wa_node *st = n->nchildren == 1 ? n->children[0] : NULL;
	const char *to = wa_node_attr(n, "to"), *media = st != NULL ? wa_node_attr(st, "media") : NULL;
	char *e;
	size_t i;

	if (c->nchatstates == FW_CHATSTATES) {
		memmove(c->chatstates[0], c->chatstates[1], sizeof(c->chatstates[0]) * (FW_CHATSTATES - 1));
		c->nchatstates--;
	}
	e = c->chatstates[c->nchatstates++];
	snprintf(e, FW_CHATSTATE_MAX, "%s%s %s %u", st != NULL ? st->tag : "?",
	    media != NULL && strcmp(media, "audio") == 0 ? "-audio" : "", to != NULL ? to : "?", c->messages_in);
	for (i = 0; e[i] != '\0'; i++)
		if (!isalnum((unsigned char)e[i]) && strchr(" @.-:", e[i]) == NULL)
			e[i] = '?';
}

/* Answer one node from the client: iqs are handled; messages and receipts are routed (fw_msg.h); a presence
 * and a chatstate are recorded for /admin/clients; a call is acked and recorded (fw_call.h); acks and ib are
 * accepted silently. */
static void
fw_handle_node(struct fw_client *c, const struct wa_node *n)
{
	const char *type;
	size_t i;

	c->nodes_in++;
	if (strcmp(n->tag, "iq") == 0)
		fw_iq_handle(c, n);
	else if (strcmp(n->tag, "message") == 0) {
		c->messages_in++;
		fw_msg_handle(c, n);
	} else if (strcmp(n->tag, "chatstate") == 0)
		fw_chatstate(c, n);
	else if (strcmp(n->tag, "receipt") == 0)
		fw_msg_receipt(c, n);
	else if (strcmp(n->tag, "call") == 0)
		fw_call_from_client(c, n);
	else if (strcmp(n->tag, "presence") == 0) {
		type = wa_node_attr(n, "type");
		snprintf(c->presence, sizeof(c->presence), "%s", type != NULL ? type : "");
		/* Only letters go into the JSON (no escaping needed). */
		for (i = 0; c->presence[i] != '\0'; i++)
			if (!islower((unsigned char)c->presence[i]))
				c->presence[i] = '?';
		c->presences++;
	}
}

/* Handle one complete frame in the current phase. 0, or -1 when the client is finished. */
static int
fw_frame(struct fw_client *c, const uint8_t *frame, size_t len)
{
	uint8_t *out = NULL, *plain = NULL;
	size_t outlen = 0, plen = 0;
	char err[256];
	struct wa_node *n;

	switch (c->phase) {
	case FW_HELLO:
		if (wa_handshake_server_on_client_hello(c->hs, frame, len, &out, &outlen, err, sizeof(err)) == -1) {
			fw_client_kill(c, err);
			return -1;
		}
		fw_frame_send(c, out, outlen);
		free(out);
		c->phase = FW_FINISH;
		return 0;
	case FW_FINISH:
		if (wa_handshake_server_on_client_finish(c->hs, frame, len, c->client_static, &plain, &plen, err,
		    sizeof(err)) == -1 || wa_handshake_split(c->hs, &c->tx, &c->rx) == -1) {
			free(plain);
			fw_client_kill(c, err);
			return -1;
		}
		wa_handshake_free(c->hs);
		c->hs = NULL;
		c->phase = FW_OPEN;
		log_debug("client %u (%s): handshake done", c->id, c->peer);
		fw_session_start(c, plain, plen);
		free(plain);
		return c->dead ? -1 : 0;
	case FW_OPEN:
		if (wa_noise_decrypt(c->rx, frame, len, &plain, &plen) == -1) {
			fw_client_kill(c, "transport frame failed authentication");
			return -1;
		}
		n = wa_binary_decode(plain, plen, err, sizeof(err));
		free(plain);
		if (n == NULL) {
			fw_client_kill(c, err);
			return -1;
		}
		fw_handle_node(c, n);
		wa_node_free(n);
		return c->dead ? -1 : 0;
	default:
		return 0;
	}
}

/* Parse WebSocket messages and feed binary ones to the frame layer. */
static void
fw_read_ws(struct fw_client *c, struct evbuffer *in)
{
	struct wa_ws_msg m;
	size_t consumed, need = 2, len, flen;
	const uint8_t *frame;
	char err[128];
	int r;

	while (!c->dead && !c->stalled && (len = evbuffer_get_length(in)) >= need) {
		uint8_t *buf = evbuffer_pullup(in, (ev_ssize_t)len);
		r = wa_ws_parse(c->ws, buf, len, &consumed, &need, &m, err, sizeof(err));
		if (r == WA_WS_ERROR) {
			fw_client_close_ws(c, m.close_code, err);
			fw_client_kill(c, err);
			return;
		}
		if (r == WA_WS_AGAIN) {
			evbuffer_drain(in, consumed);
			continue;
		}
		if (m.opcode == WA_WS_OP_BINARY && c->phase != FW_CLOSING) {
			if (wa_frame_reader_feed(c->frd, m.data, m.len) == -1) {
				fw_client_kill(c, "frame reader refused input");
				return;
			}
			while ((r = wa_frame_reader_next(c->frd, &frame, &flen, err, sizeof(err))) == WA_FRAME_DONE)
				if (fw_frame(c, frame, flen) == -1)
					return;
			if (r == WA_FRAME_ERROR) {
				fw_client_kill(c, err);
				return;
			}
		} else if (m.opcode == WA_WS_OP_PING)
			fw_ws_send(c, WA_WS_OP_PONG, m.data, m.len);
		else if (m.opcode == WA_WS_OP_CLOSE) {
			if (c->phase != FW_CLOSING)
				fw_client_close_ws(c, WA_WS_CLOSE_NORMAL, "");
			evbuffer_drain(in, consumed);
			return;
		}
		evbuffer_drain(in, consumed);
		need = 2;
	}
}

/* Answer the HTTP upgrade. */
static void
fw_read_upgrade(struct fw_client *c, struct evbuffer *in)
{
	size_t len = evbuffer_get_length(in), consumed = 0;
	char key[WA_WS_KEY_LEN + 1], path[128], err[160], *resp;
	int r;

	if (len > WA_WS_MAX_HTTP_HEAD)
		len = WA_WS_MAX_HTTP_HEAD;
	r = wa_ws_request_parse((const char *)evbuffer_pullup(in, (ev_ssize_t)len), len, &consumed, key, path,
	    sizeof(path), err, sizeof(err));
	if (r == WA_WS_AGAIN)
		return;
	if (r == WA_WS_ERROR) {
		static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
		wa_tls_write(c->stream, bad, sizeof(bad) - 1);
		c->phase = FW_CLOSING;
		wa_tls_close_on_flush(c->stream);
		return;
	}
	evbuffer_drain(in, consumed);
	resp = wa_ws_response_build(key);
	wa_tls_write(c->stream, resp, strlen(resp));
	free(resp);
	c->ws = wa_ws_new(WA_WS_SERVER, 0);
	c->frd = wa_frame_reader_new(wa_frame_header_default, WA_FRAME_HEADER_LEN, 0);
	c->fwr = wa_frame_writer_new(NULL, 0, 0);
	c->hs = wa_handshake_server_new(c->s->static_priv, c->s->static_pub, c->s->chain, c->s->chain_len);
	if (c->frd == NULL || c->fwr == NULL || c->hs == NULL) {
		fw_client_kill(c, "cannot set up the handshake");
		return;
	}
	c->phase = FW_HELLO;
	if (evbuffer_get_length(in) > 0)
		fw_read_ws(c, in);
}

/* Stream input. */
static void
fw_read_cb(struct wa_tls *t, struct evbuffer *in, void *arg)
{
	struct fw_client *c = arg;

	if (c->dead || c->stalled)
		return;
	if (c->ctl == NULL && c->phase == FW_UPGRADE && evbuffer_get_length(in) >= 5 &&
	    memcmp(evbuffer_pullup(in, 5), "POST ", 5) == 0)
		c->ctl = fw_ctl_conn_new_ws(c);
	if (c->ctl != NULL)
		fw_ctl_conn_input(c->ctl, in);
	else if (c->phase == FW_UPGRADE)
		fw_read_upgrade(c, in);
	else
		fw_read_ws(c, in);
}

/* Stream events. */
static void
fw_event_cb(struct wa_tls *t, int what, const char *reason, void *arg)
{
	struct fw_client *c = arg;

	if (what == WA_TLS_EV_CONNECTED)
		return;
	fw_client_kill(c, reason);
}

/* Accept one client. */
struct fw_client *
fw_client_new(struct fw_server *s, int fd, const char *peer)
{
	struct fw_client *c = xcalloc(1, sizeof(*c));

	c->s = s;
	c->id = ++s->next_id;
	c->since = time(NULL);
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->stream = wa_tls_new(s->base, fd, s->tls, NULL, 0, fw_read_cb, fw_event_cb, c);
	if (c->stream == NULL) {
		close(fd);
		free(c);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&s->clients, c, entry);
	return c;
}

/* Free one client now. */
void
fw_client_free(struct fw_client *c)
{
	if (c == NULL)
		return;
	fw_session_end(c);
	TAILQ_REMOVE(&c->s->clients, c, entry);
	fw_ctl_conn_free(c->ctl);
	wa_tls_free(c->stream);
	wa_ws_free(c->ws);
	wa_frame_reader_free(c->frd);
	wa_frame_writer_free(c->fwr);
	wa_handshake_free(c->hs);
	wa_noise_transport_free(c->tx);
	wa_noise_transport_free(c->rx);
	free(c);
}

/* Free the clients marked dead. */
void
fw_server_reap(struct fw_server *s)
{
	struct fw_client *c, *next;

	for (c = TAILQ_FIRST(&s->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->dead)
			fw_client_free(c);
	}
}

/* Iterate the clients. */
struct fw_client *
fw_client_next(struct fw_server *s, struct fw_client *prev)
{
	return prev == NULL ? TAILQ_FIRST(&s->clients) : TAILQ_NEXT(prev, entry);
}

/* The client's id for the control API. */
unsigned
fw_client_id(const struct fw_client *c)
{
	return c->id;
}

/* Describe a client as JSON. */
char *
fw_client_json(const struct fw_client *c)
{
	static const char *payloads[] = { "none", "registration", "login", "invalid" };
	char *s, key[65] = "", jid[80] = "", states[FW_CHATSTATES * (FW_CHATSTATE_MAX + 3) + 1] = "";
	size_t off = 0;
	unsigned k;

	if (c->phase >= FW_OPEN)
		for (int i = 0; i < 32; i++)
			snprintf(key + 2 * i, 3, "%02x", c->client_static[i]);
	if (c->registered)
		snprintf(jid, sizeof(jid), ",\"jid\":\"%s\"", c->jid);
	for (k = 0; k < c->nchatstates; k++)
		off += (size_t)snprintf(states + off, sizeof(states) - off, "%s\"%s\"", k > 0 ? "," : "",
		    c->chatstates[k]);
	xasprintf(&s, "{\"id\":%u,\"peer\":\"%s\",\"phase\":\"%s\",\"tls\":%s,\"stalled\":%s,\"dead\":%s,"
	    "\"noise_static\":\"%s\",\"nodes_in\":%lu,\"nodes_out\":%lu,\"since\":%lld,\"payload\":\"%s\","
	    "\"registered\":%s%s,\"refs_offered\":%u,\"link_code_pending\":%s,\"presence\":\"%s\",\"presences\":%u,"
	    "\"messages_in\":%u,\"chatstates\":[%s]}",
	    c->id, c->peer, fw_phase_names[c->phase], wa_tls_is_tls(c->stream) ? "true" : "false",
	    c->stalled ? "true" : "false", c->dead ? "true" : "false", key, c->nodes_in, c->nodes_out,
	    (long long)c->since, payloads[c->payload], c->registered ? "true" : "false", jid, c->refs_offered,
	    c->lc_pending ? "true" : "false", c->presence, c->presences, c->messages_in, states);
	return s;
}

/* Drop the TCP connection without a goodbye. */
void
fw_client_drop(struct fw_client *c)
{
	fw_client_kill(c, "dropped by control API");
}

/* Send a stream error and close (the stream error is the last frame, wa-transport.md 6.3). */
int
fw_client_stream_error(struct fw_client *c, const char *code, const char *conflict)
{
	struct wa_node *n;
	int rc;

	if (c->phase != FW_OPEN || c->dead)
		return -1;
	n = wa_node_new("stream:error");
	if (code != NULL && *code != '\0')
		wa_node_set_attr(n, "code", code);
	if (conflict != NULL && *conflict != '\0') {
		struct wa_node *ch = wa_node_new("conflict");
		wa_node_set_attr(ch, "type", conflict);
		wa_node_add_child(n, ch);
	}
	rc = fw_client_send(c, n);
	wa_node_free(n);
	fw_client_close_ws(c, WA_WS_CLOSE_NORMAL, "");
	return rc;
}

/* Send xmlstreamend and close. */
int
fw_client_stream_end(struct fw_client *c)
{
	struct wa_node *n;
	int rc;

	if (c->phase != FW_OPEN || c->dead)
		return -1;
	n = wa_node_new("xmlstreamend");
	rc = fw_client_send(c, n);
	wa_node_free(n);
	fw_client_close_ws(c, WA_WS_CLOSE_NORMAL, "");
	return rc;
}

/* Stop or resume answering. */
void
fw_client_stall(struct fw_client *c, int on)
{
	if (c->dead)
		return;
	c->stalled = on;
	wa_tls_set_reading(c->stream, !on);
}
