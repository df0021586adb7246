/* After <success> (wa-session.md sections 3.1-3.5): the server's prekey count, one-time prekeys generated,
 * stored with the supervisor (StoreBatch) BEFORE they are uploaded, uploaded, marked uploaded; passive
 * <active/>; then OPEN with jid/lid/push name, and presence when always_online. Also the encrypt
 * notification that asks for more prekeys, and the login ClientPayload. */
#include "session_int.h"
#include "iq.h"
#include "msg.h"
#include "log.h"
#include "wa_conn.h"
#include "wa_jid.h"
#include "wa_node.h"
#include "wa_pair.h"
#include "worker.h"
#include "xmalloc.h"

#include <event2/event.h>

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
login_payload(const struct creds *c, uint8_t **out, size_t *outlen)
{
	struct wa_jid j;
	unsigned long long user;
	char *end;

	if (c->jid == NULL || wa_jid_parse(c->jid, &j) == -1 || j.user[0] == '\0')
		return -1;
	errno = 0;
	user = strtoull(j.user, &end, 10);
	if (errno != 0 || *end != '\0' || user == 0)
		return -1;
	return wa_pair_login_payload((uint64_t)user, j.device, out, outlen);
}

/* Whether an iq answer is type="result". */
static int
login_is_result(const struct wa_node *reply)
{
	const char *t = reply != NULL ? wa_node_attr(reply, "type") : NULL;

	return t != NULL && strcmp(t, "result") == 0;
}

/* The value attribute of a <count/> child: 0..1e6, or -1. */
static long
login_count_value(const struct wa_node *n)
{
	const struct wa_node *c = n != NULL ? wa_node_child(n, "count") : NULL;
	const char *v = c != NULL ? wa_node_attr(c, "value") : NULL;
	char *end;
	long x;

	if (v == NULL || *v == '\0')
		return -1;
	errno = 0;
	x = strtol(v, &end, 10);
	return errno == 0 && *end == '\0' && x >= 0 && x <= 1000000 ? x : -1;
}

/* The push name we report: the server's display_name, else the business name, else none. */
static const char *
login_push_name(const struct session *s)
{
	if (s->creds->push_name != NULL)
		return s->creds->push_name;
	return s->creds->business_name;
}

/* Drop the keys being stored/uploaded and run what waited on them. */
static void
login_upload_done(struct session *s)
{
	void (*then)(struct session *) = s->upload_then;

	free_wiped(s->upload, s->nwant * sizeof(*s->upload));
	s->upload = NULL;
	s->nupload = s->nwant = 0;
	s->upload_then = NULL;
	s->prekey_busy = 0;
	if (then != NULL)
		then(s);
}

/* "uploaded up to" stored (or not: the keys are uploaded either way, only the flag is stale). */
static void
login_marked_cb(void *arg, int ok, const char *error)
{
	struct session *s = arg;

	if (!ok)
		log_warnx("%s: marking prekeys uploaded failed: %s", worker_instance_name(s->w),
		    error);
}

/* The server took (or refused) the upload. */
static void
login_upload_cb(void *arg, const struct wa_node *reply)
{
	struct session *s = arg;
	uint32_t last;

	if (s->upload == NULL)
		return;
	last = s->upload[s->nupload - 1].id;
	if (!login_is_result(reply)) {
		log_warnx("%s: prekey upload failed", worker_instance_name(s->w));
		if (reply == NULL && wa_conn_state(s->conn) != WA_CONN_OPEN)
			return;		/* the connection is gone; login_reset_connection cleans up */
	} else {
		log_info("%s: %zu prekeys uploaded (up to id %u)", worker_instance_name(s->w),
		    s->nupload, last);
		if (worker_request_store(s->w, NULL, 0, NULL, 0, last, login_marked_cb, s) == -1)
			log_warnx("%s: cannot mark prekeys uploaded", worker_instance_name(s->w));
	}
	login_upload_done(s);
}

/* Send the upload iq (section 3.3) for s->upload. 0 or -1. */
static int
login_send_upload(struct session *s)
{
	struct wa_node *iq, *c, *list, *key, *skey;
	uint8_t reg[4], type = 0x05, id[3];
	const struct creds *cr = s->creds;
	size_t i;
	int rc;

	iq = wa_node_new("iq");
	wa_node_set_attr(iq, "type", "set");
	wa_node_set_attr(iq, "xmlns", "encrypt");
	reg[0] = (uint8_t)(cr->registration_id >> 24);
	reg[1] = (uint8_t)(cr->registration_id >> 16);
	reg[2] = (uint8_t)(cr->registration_id >> 8);
	reg[3] = (uint8_t)cr->registration_id;
	c = wa_node_add_child(iq, wa_node_new("registration"));
	wa_node_set_bytes(c, reg, sizeof(reg));
	c = wa_node_add_child(iq, wa_node_new("type"));
	wa_node_set_bytes(c, &type, 1);
	c = wa_node_add_child(iq, wa_node_new("identity"));
	wa_node_set_bytes(c, cr->identity_pub, CREDS_KEY_LEN);
	list = wa_node_add_child(iq, wa_node_new("list"));
	for (i = 0; i < s->nupload; i++) {
		key = wa_node_add_child(list, wa_node_new("key"));
		id[0] = (uint8_t)(s->upload[i].id >> 16);
		id[1] = (uint8_t)(s->upload[i].id >> 8);
		id[2] = (uint8_t)s->upload[i].id;
		c = wa_node_add_child(key, wa_node_new("id"));
		wa_node_set_bytes(c, id, sizeof(id));
		c = wa_node_add_child(key, wa_node_new("value"));
		wa_node_set_bytes(c, s->upload[i].pub, WA_PREKEY_KEY_LEN);
	}
	skey = wa_node_add_child(iq, wa_node_new("skey"));
	id[0] = (uint8_t)(cr->signed_prekey.id >> 16);
	id[1] = (uint8_t)(cr->signed_prekey.id >> 8);
	id[2] = (uint8_t)cr->signed_prekey.id;
	c = wa_node_add_child(skey, wa_node_new("id"));
	wa_node_set_bytes(c, id, sizeof(id));
	c = wa_node_add_child(skey, wa_node_new("value"));
	wa_node_set_bytes(c, cr->signed_prekey.pub, WA_PREKEY_KEY_LEN);
	c = wa_node_add_child(skey, wa_node_new("signature"));
	wa_node_set_bytes(c, cr->signed_prekey.sig, WA_PREKEY_SIG_LEN);
	rc = iq_table_send(s->iq, s->conn, iq, 0, login_upload_cb, s);
	wa_node_free(iq);
	return rc;
}

/* The supervisor stored the new prekeys (and the advanced next id): now they may be uploaded. */
static void
login_stored_cb(void *arg, int ok, const char *error)
{
	struct session *s = arg;

	if (s->upload == NULL)
		return;		/* the connection went away meanwhile */
	if (!ok) {
		log_warnx("%s: storing prekeys failed: %s", worker_instance_name(s->w), error);
		/* Nothing was committed: hand the ids out again next time. */
		if (s->creds->next_prekey_id == s->upload[s->nupload - 1].id + 1)
			s->creds->next_prekey_id = s->upload[0].id;
		login_upload_done(s);
		return;
	}
	if (login_send_upload(s) == -1) {
		log_warnx("%s: cannot send the prekey upload", worker_instance_name(s->w));
		login_upload_done(s);
	}
}

/* All keys generated: advance next_prekey_id in the stored creds and store both with the keys. */
static void
login_prekeys_store(struct session *s)
{
	struct worker_prekey *recs;
	uint8_t *blob = NULL;
	size_t i, n = 0, len = 0;
	uint32_t first = s->upload[0].id, count = (uint32_t)s->nupload;
	int rc = -1;

	recs = xcalloc(s->nupload, sizeof(*recs));
	for (i = 0; i < s->nupload; i++, n++) {
		uint8_t *r;
		if (wa_prekey_encode(&s->upload[i], &r, &recs[i].len) == -1)
			goto out;
		recs[i].id = s->upload[i].id;
		recs[i].record = r;
	}
	s->creds->next_prekey_id = first + count;
	if (creds_encode(s->creds, &blob, &len) == -1)
		goto out;
	rc = worker_request_store(s->w, blob, len, recs, s->nupload, 0, login_stored_cb, s);
	if (rc == 0)
		log_info("%s: storing %u prekeys (ids %u..%u)", worker_instance_name(s->w),
		    count, first, first + count - 1);
out:
	for (i = 0; i < n; i++)
		free_wiped((void *)recs[i].record, recs[i].len);
	free(recs);
	free_wiped(blob, len);
	if (rc == -1) {
		log_warnx("%s: cannot store prekeys", worker_instance_name(s->w));
		s->creds->next_prekey_id = first;
		login_upload_done(s);
	}
}

/* Run login_gen_cb after the loop has polled for I/O again (an active event would run in the same pass). */
static void
login_gen_next(struct session *s)
{
	struct timeval now = { 0, 0 };

	evtimer_add(s->ev_gen, &now);
}

/* Generate the next chunk of keys; a chunk per loop turn keeps pings (IPC and WhatsApp) answered. */
static void
login_gen_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	size_t end = s->nupload + SESSION_PREKEY_CHUNK;

	(void)fd;
	(void)what;
	if (s->upload == NULL)
		return;
	if (end > s->nwant)
		end = s->nwant;
	for (; s->nupload < end; s->nupload++)
		if (wa_prekey_generate(s->creds->next_prekey_id + (uint32_t)s->nupload,
		    &s->upload[s->nupload]) == -1) {
			log_warnx("%s: cannot generate prekeys", worker_instance_name(s->w));
			login_upload_done(s);
			return;
		}
	if (s->nupload < s->nwant)
		login_gen_next(s);
	else
		login_prekeys_store(s);
}

void
login_refill_prekeys(struct session *s, unsigned count, void (*then)(struct session *))
{
	uint32_t first = s->creds->next_prekey_id;

	if (s->prekey_busy) {
		if (then != NULL)
			then(s);
		return;
	}
	if (count == 0 || (uint64_t)first + count - 1 > WA_PREKEY_ID_MAX) {
		/* Neither library handles wrap-around (section 6.4); neither do we yet. */
		log_warnx("%s: prekey ids exhausted", worker_instance_name(s->w));
		if (then != NULL)
			then(s);
		return;
	}
	if (s->ev_gen == NULL && (s->ev_gen = evtimer_new(worker_base(s->w), login_gen_cb, s)) == NULL) {
		if (then != NULL)
			then(s);
		return;
	}
	s->prekey_busy = 1;
	s->upload_then = then;
	s->upload = xcalloc(count, sizeof(*s->upload));
	s->nupload = 0;
	s->nwant = count;
	login_gen_next(s);
}

/* passive <active/> answered: the device is up. */
static void
login_active_cb(void *arg, const struct wa_node *reply)
{
	struct session *s = arg;
	const char *push = login_push_name(s);

	if (wa_conn_state(s->conn) != WA_CONN_OPEN || !s->logged_in)
		return;
	if (!login_is_result(reply))
		log_warnx("%s: passive active not acknowledged", worker_instance_name(s->w));
	s->open = 1;
	s->qr_count = 0;
	log_info("%s: open as %s", worker_instance_name(s->w), s->creds->jid);
	worker_report_open(s->w, s->creds->jid, s->creds->lid, push);
	/* The login's bursts are over (TLS handshake, first prekeys: about 1 MB of heap after a pairing), and the
	 * worker is about to idle: hand the freed pages back now (bench/worker_mem.sh). */
	malloc_trim(0);
	if (worker_settings(s->w)->always_online && push != NULL && *push != '\0')
		login_send_presence(s, "available");
}

/* Send our global presence (available/unavailable) with the push name, as WhatsApp Web does. 0, or -1
 * while not logged in. */
int
login_send_presence(struct session *s, const char *type)
{
	const char *push;
	struct wa_node *pr;

	/* Not open: there may be no connection and no credentials at all. */
	if (!s->open || s->conn == NULL || s->creds == NULL || wa_conn_state(s->conn) != WA_CONN_OPEN)
		return -1;
	push = login_push_name(s);
	pr = wa_node_new("presence");
	if (push != NULL && *push != '\0')
		wa_node_set_attr(pr, "name", push);
	wa_node_set_attr(pr, "type", type);
	wa_conn_send_node(s->conn, pr);
	wa_node_free(pr);
	return 0;
}

int
login_send_chatstate(struct session *s, const char *to, const char *state)
{
	struct wa_jid j;
	struct wa_node *cs, *st;
	int recording = strcmp(state, "recording") == 0;

	if (!s->open || s->conn == NULL || s->creds == NULL || wa_conn_state(s->conn) != WA_CONN_OPEN)
		return -1;
	if (wa_jid_parse(to, &j) == -1 || !(wa_jid_is_user(&j) || wa_jid_is_group(&j)) || j.is_ad ||
	    *j.user == '\0')
		return -2;
	if (!recording && strcmp(state, "composing") != 0 && strcmp(state, "paused") != 0)
		return -2;
	cs = wa_node_new("chatstate");
	wa_node_set_attr(cs, "from", s->creds->jid);
	wa_node_set_attr(cs, "to", to);
	st = wa_node_new(recording ? "composing" : state);
	if (recording)
		wa_node_set_attr(st, "media", "audio");
	wa_node_add_child(cs, st);
	wa_conn_send_node(s->conn, cs);
	wa_node_free(cs);
	return 0;
}

/* Prekeys are fine: go active. */
static void
login_go_active(struct session *s)
{
	struct wa_node *iq;

	if (wa_conn_state(s->conn) != WA_CONN_OPEN || !s->logged_in)
		return;
	iq = wa_node_new("iq");
	wa_node_set_attr(iq, "type", "set");
	wa_node_set_attr(iq, "xmlns", "passive");
	wa_node_add_child(iq, wa_node_new("active"));
	if (iq_table_send(s->iq, s->conn, iq, 0, login_active_cb, s) == -1)
		log_warnx("%s: cannot send passive active", worker_instance_name(s->w));
	wa_node_free(iq);
}

/* The server's prekey count. */
static void
login_count_cb(void *arg, const struct wa_node *reply)
{
	struct session *s = arg;
	long n = login_is_result(reply) ? login_count_value(reply) : -1;

	if (wa_conn_state(s->conn) != WA_CONN_OPEN || !s->logged_in)
		return;
	if (n < 0) {
		log_warnx("%s: no prekey count from the server", worker_instance_name(s->w));
		login_go_active(s);
		return;
	}
	log_debug("%s: server has %ld prekeys", worker_instance_name(s->w), n);
	if (n < SESSION_PREKEY_LOW)
		login_refill_prekeys(s, s->creds->next_prekey_id == 1 ? SESSION_PREKEY_FIRST : SESSION_PREKEY_REFILL,
		    login_go_active);
	else
		login_go_active(s);
}

void
login_on_success(struct session *s, const struct wa_node *n)
{
	const char *lid = wa_node_attr(n, "lid"), *name = wa_node_attr(n, "display_name");
	struct wa_node *iq;

	if (!session_creds_paired(s)) {
		log_warnx("%s: <success> while not paired, ignored", worker_instance_name(s->w));
		return;
	}
	s->logged_in = 1;
	if (lid != NULL && *lid != '\0' && strlen(lid) < WA_JID_USER_MAX &&
	    (s->creds->lid == NULL || strcmp(s->creds->lid, lid) != 0))
		creds_set_str(&s->creds->lid, lid);
	if (name != NULL && *name != '\0' && strlen(name) < 256)
		creds_set_str(&s->creds->push_name, name);
	log_info("%s: logged in as %s", worker_instance_name(s->w), s->creds->jid);
	/* The Signal executor outlives reconnections (its cache stays valid); the session frees it at stop. */
	if (s->exec == NULL && (s->exec = msg_exec_new(s)) == NULL)
		log_warnx("%s: no Signal executor: messages cannot be received or sent",
		    worker_instance_name(s->w));
	iq = wa_node_new("iq");
	wa_node_set_attr(iq, "type", "get");
	wa_node_set_attr(iq, "xmlns", "encrypt");
	wa_node_add_child(iq, wa_node_new("count"));
	if (iq_table_send(s->iq, s->conn, iq, 0, login_count_cb, s) == -1)
		log_warnx("%s: cannot ask the prekey count", worker_instance_name(s->w));
	wa_node_free(iq);
}

void
login_on_encrypt_notification(struct session *s, const struct wa_node *n)
{
	long count = login_count_value(n);

	if (!s->logged_in || count < 0)
		return;
	log_info("%s: server has %ld prekeys left", worker_instance_name(s->w),
	    count);
	if (count < SESSION_PREKEY_LOW)
		login_refill_prekeys(s, SESSION_PREKEY_REFILL, NULL);
}

void
login_reset_connection(struct session *s)
{
	s->logged_in = 0;
	s->open = 0;
	if (s->ev_gen != NULL)
		event_del(s->ev_gen);
	/* A StoreBatch in flight answers into nothing; its ids stay handed out (stored or not). */
	free_wiped(s->upload, s->nwant * sizeof(*s->upload));
	s->upload = NULL;
	s->nupload = s->nwant = 0;
	s->upload_then = NULL;
	s->prekey_busy = 0;
}

void
login_free(struct session *s)
{
	login_reset_connection(s);
	if (s->ev_gen != NULL)
		event_free(s->ev_gen);
	s->ev_gen = NULL;
}
