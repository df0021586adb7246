/* Pairing a new companion (wa-session.md sections 2.2-2.11): the refs of pair-device shown as QR texts on
 * timers (QrUpdate), the QR limit, refs running out, companion_reg_refresh, the pairing code by phone
 * number, and pair-success: verify (wa_adv.h), have the supervisor store the paired credentials
 * (PairSuccess -> Result), and only then answer with pair-device-sign. The server then restarts the stream
 * (515) and the connection logs in with the login payload set here. */
#include "session_int.h"
#include "iq.h"
#include "log.h"
#include "random.h"
#include "wa_conn.h"
#include "wa_jid.h"
#include "wa_node.h"
#include "wa_pair.h"
#include "worker.h"
#include "xmalloc.h"

#include <event2/event.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAIR_PLATFORM_DISPLAY	"Chrome (Linux)"
#define PAIR_NAME_MAX		256	/* platform / business name attributes longer than this are cut */

/* Bytes content of a child, with its length; NULL if absent or not bytes. */
static const uint8_t *
pair_child_bytes(const struct wa_node *n, const char *tag, size_t *len)
{
	const struct wa_node *c = wa_node_child(n, tag);

	if (c == NULL || c->ctype != WA_CONTENT_BYTES)
		return NULL;
	*len = c->nbytes;
	return c->bytes;
}

/* Whether an iq answer is type="result". */
static int
pair_is_result(const struct wa_node *reply)
{
	const char *t = reply != NULL ? wa_node_attr(reply, "type") : NULL;

	return t != NULL && strcmp(t, "result") == 0;
}

static void
pair_free_refs(struct session *s)
{
	size_t i;

	for (i = 0; i < s->nrefs; i++)
		free(s->refs[i].ref);
	s->nrefs = s->ref_idx = 0;
	s->showing = 0;
	if (s->ev_qr != NULL)
		evtimer_del(s->ev_qr);
}

/* The shown QR expired: the next ref. */
static void
pair_qr_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	(void)fd;
	(void)what;
	s->showing = 0;
	s->ref_idx++;
	pair_show_qr(s);
}

/* Report the QR of the current ref (count already advanced). */
static int
pair_report_current(struct session *s)
{
	const struct session_ref *r = &s->refs[s->ref_idx];
	char *qr;

	if ((qr = wa_pair_qr_text(r->ref, r->len, s->creds->noise_pub, s->creds->identity_pub,
	    s->adv_secret)) == NULL)
		return -1;
	worker_report_qr(s->w, qr, s->qr_count, s->link_code[0] != '\0' ? s->link_code : NULL);
	free(qr);
	return 0;
}

void
pair_show_qr(struct session *s)
{
	unsigned limit = worker_qrcode_limit(s->w), ms;
	struct timeval tv;

	for (;;) {
		if (s->ref_idx >= s->nrefs) {
			/* Every ref was shown: a new connection brings a new pair-device (count continues). */
			session_defer(s, SESSION_DO_RESTART);
			return;
		}
		if (limit != 0 && s->qr_count >= limit) {
			session_defer(s, SESSION_DO_QR_LIMIT);
			return;
		}
		s->qr_count++;
		if (pair_report_current(s) == 0)
			break;
		s->qr_count--;
		log_warnx("%s: unusable ref skipped", worker_instance_name(s->w));
		s->ref_idx++;
	}
	s->showing = 1;
	ms = s->ref_idx == 0 ? worker_qr_first_ms(s->w) : worker_qr_next_ms(s->w);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(s->ev_qr, &tv);
	log_info("%s: QR %u shown (ref %zu of %zu)", worker_instance_name(s->w), s->qr_count,
	    s->ref_idx + 1, s->nrefs);
}

/* companion_hello answered: keep the pairing ref. */
static void
pair_hello_cb(void *arg, const struct wa_node *reply)
{
	struct session *s = arg;
	const struct wa_node *reg;
	const uint8_t *ref;
	size_t len;

	if (!pair_is_result(reply) ||
	    (reg = wa_node_child(reply, "link_code_companion_reg")) == NULL ||
	    (ref = pair_child_bytes(reg, "link_code_pairing_ref", &len)) == NULL || len == 0 ||
	    len > WA_PAIR_REF_MAX) {
		log_warnx("%s: the server refused the pairing code request",
		    worker_instance_name(s->w));
		return;
	}
	free(s->link_ref);
	s->link_ref = xmalloc(len);
	memcpy(s->link_ref, ref, len);
	s->link_ref_len = len;
	log_info("%s: pairing code %.4s-%.4s registered", worker_instance_name(s->w),
	    s->link_code, s->link_code + 4);
}

/* Ask the server for code pairing with s->number (section 2.11 step 3). */
static void
pair_send_hello(struct session *s)
{
	struct wa_node *iq, *reg, *c;
	uint8_t wrapped[WA_LINKCODE_WRAPPED_LEN], nonce = 0;
	char cl[2] = { WA_PAIR_CLIENT_TYPE, '\0' };

	if (s->link_code[0] == '\0') {
		if (wa_linkcode_generate(s->link_code) == -1 ||
		    wa_prekey_keypair(s->link_eph_priv, s->link_eph_pub) == -1) {
			s->link_code[0] = '\0';
			log_warnx("%s: cannot make a pairing code", worker_instance_name(s->w));
			return;
		}
	}
	if (wa_linkcode_wrap(s->link_code, s->link_eph_pub, wrapped) == -1) {
		log_warnx("%s: cannot wrap the pairing key", worker_instance_name(s->w));
		return;
	}
	iq = wa_node_new("iq");
	wa_node_set_attr(iq, "type", "set");
	wa_node_set_attr(iq, "xmlns", "md");
	reg = wa_node_add_child(iq, wa_node_new("link_code_companion_reg"));
	wa_node_set_attrf(reg, "jid", "%s@s.whatsapp.net", s->number);
	wa_node_set_attr(reg, "stage", "companion_hello");
	wa_node_set_attr(reg, "should_show_push_notification", "true");
	c = wa_node_add_child(reg, wa_node_new("link_code_pairing_wrapped_companion_ephemeral_pub"));
	wa_node_set_bytes(c, wrapped, sizeof(wrapped));
	c = wa_node_add_child(reg, wa_node_new("companion_server_auth_key_pub"));
	wa_node_set_bytes(c, s->creds->noise_pub, CREDS_KEY_LEN);
	c = wa_node_add_child(reg, wa_node_new("companion_platform_id"));
	wa_node_set_string(c, cl);
	c = wa_node_add_child(reg, wa_node_new("companion_platform_display"));
	wa_node_set_string(c, PAIR_PLATFORM_DISPLAY);
	c = wa_node_add_child(reg, wa_node_new("link_code_pairing_nonce"));
	wa_node_set_bytes(c, &nonce, 1);
	if (iq_table_send(s->iq, s->conn, iq, 0, pair_hello_cb, s) == -1)
		log_warnx("%s: cannot send the pairing code request", worker_instance_name(s->w));
	wa_node_free(iq);
}

/* The server offers refs: ack, then show them one by one. */
void
pair_on_pair_device(struct session *s, const struct wa_node *iq)
{
	const struct wa_node *pd = wa_node_child(iq, "pair-device");
	const char *id = wa_node_attr(iq, "id");
	struct wa_node *ack;
	size_t i;

	if (id == NULL)
		return;
	ack = wa_node_new("iq");
	wa_node_set_attr(ack, "to", "s.whatsapp.net");
	wa_node_set_attr(ack, "id", id);
	wa_node_set_attr(ack, "type", "result");
	wa_conn_send_node(s->conn, ack);
	wa_node_free(ack);
	if (session_creds_paired(s) || s->pairing) {
		log_warnx("%s: pair-device while paired, ignored", worker_instance_name(s->w));
		return;
	}
	pair_free_refs(s);
	for (i = 0; i < pd->nchildren && s->nrefs < SESSION_PAIR_REFS_MAX && pd->ctype == WA_CONTENT_NODES; i++) {
		const struct wa_node *r = pd->children[i];
		if (strcmp(r->tag, "ref") != 0 || r->ctype != WA_CONTENT_BYTES || r->nbytes == 0 ||
		    r->nbytes > WA_PAIR_REF_MAX)
			continue;
		s->refs[s->nrefs].ref = xmalloc(r->nbytes);
		memcpy(s->refs[s->nrefs].ref, r->bytes, r->nbytes);
		s->refs[s->nrefs].len = r->nbytes;
		s->nrefs++;
	}
	log_info("%s: %zu pairing refs", worker_instance_name(s->w), s->nrefs);
	if (s->nrefs == 0)
		return;
	if (s->number != NULL)
		pair_send_hello(s);
	pair_show_qr(s);
}

/* companion_reg_refresh: a new adv secret, the current ref shown again with it (section 2.5). */
void
pair_on_refresh(struct session *s, const struct wa_node *n)
{
	if (session_creds_paired(s) || s->pairing || !s->showing ||
	    (wa_node_child(n, "companion_reg_refresh") == NULL && wa_node_child(n, "pair-device-rotate-qr") == NULL))
		return;
	random_bytes(s->adv_secret, sizeof(s->adv_secret));
	s->qr_count++;
	if (pair_report_current(s) == -1)
		s->qr_count--;
	log_info("%s: new adv secret, QR %u", worker_instance_name(s->w), s->qr_count);
}

/* companion_finish answered. */
static void
pair_finish_cb(void *arg, const struct wa_node *reply)
{
	struct session *s = arg;

	if (!pair_is_result(reply))
		log_warnx("%s: the server refused the pairing code bundle", worker_instance_name(s->w));
}

/* The phone typed the code (primary_hello): finish the key exchange (section 2.11 steps 5-7). */
void
pair_on_link_code(struct session *s, const struct wa_node *n)
{
	const struct wa_node *reg = wa_node_child(n, "link_code_companion_reg");
	const uint8_t *wrapped, *primary_ident, *ref;
	size_t wlen = 0, ilen = 0, rlen = 0, blen = 0;
	uint8_t primary_eph[WA_LINKCODE_KEY_LEN], adv[WA_LINKCODE_KEY_LEN], *bundle = NULL;
	struct wa_node *iq, *r, *c;

	if (reg == NULL || s->link_code[0] == '\0' || session_creds_paired(s) || s->pairing)
		return;
	wrapped = pair_child_bytes(reg, "link_code_pairing_wrapped_primary_ephemeral_pub", &wlen);
	primary_ident = pair_child_bytes(reg, "primary_identity_pub", &ilen);
	ref = pair_child_bytes(reg, "link_code_pairing_ref", &rlen);
	if (wrapped == NULL || wlen != WA_LINKCODE_WRAPPED_LEN || primary_ident == NULL ||
	    ilen != WA_LINKCODE_KEY_LEN) {
		log_warnx("%s: malformed primary_hello", worker_instance_name(s->w));
		return;
	}
	if (s->link_ref != NULL) {
		ref = s->link_ref;
		rlen = s->link_ref_len;
	}
	if (ref == NULL || rlen == 0 || rlen > WA_PAIR_REF_MAX) {
		log_warnx("%s: no pairing ref", worker_instance_name(s->w));
		return;
	}
	if (wa_linkcode_unwrap(s->link_code, wrapped, wlen, primary_eph) == -1 ||
	    wa_linkcode_companion_finish(s->link_eph_priv, primary_eph, s->creds->identity_priv,
	    s->creds->identity_pub, primary_ident, &bundle, &blen, adv) == -1) {
		log_warnx("%s: pairing code key exchange failed", worker_instance_name(s->w));
		return;
	}
	/* pair-success will be HMAC'd with the new secret; it is stored with the paired creds. */
	memcpy(s->adv_secret, adv, sizeof(adv));
	explicit_wipe(adv, sizeof(adv));
	iq = wa_node_new("iq");
	wa_node_set_attr(iq, "type", "set");
	wa_node_set_attr(iq, "xmlns", "md");
	r = wa_node_add_child(iq, wa_node_new("link_code_companion_reg"));
	wa_node_set_attrf(r, "jid", "%s@s.whatsapp.net", s->number);
	wa_node_set_attr(r, "stage", "companion_finish");
	c = wa_node_add_child(r, wa_node_new("link_code_pairing_wrapped_key_bundle"));
	wa_node_set_bytes(c, bundle, blen);
	c = wa_node_add_child(r, wa_node_new("companion_identity_public"));
	wa_node_set_bytes(c, s->creds->identity_pub, CREDS_KEY_LEN);
	c = wa_node_add_child(r, wa_node_new("link_code_pairing_ref"));
	wa_node_set_bytes(c, ref, rlen);
	if (iq_table_send(s->iq, s->conn, iq, 0, pair_finish_cb, s) == -1)
		log_warnx("%s: cannot send companion_finish", worker_instance_name(s->w));
	else
		log_info("%s: pairing code accepted on the phone", worker_instance_name(s->w));
	wa_node_free(iq);
	free(bundle);
}

/* A copy of the credentials (through the blob: one code path for every field). */
static struct creds *
pair_creds_copy(const struct creds *c)
{
	uint8_t *blob;
	size_t len;
	struct creds *copy;
	char err[128];

	if (creds_encode(c, &blob, &len) == -1)
		return NULL;
	copy = creds_decode(blob, len, err, sizeof(err));
	free_wiped(blob, len);
	return copy;
}

/* Drop what a pending pair-success holds. */
static void
pair_pending_clear(struct session *s)
{
	s->pairing = 0;
	free(s->pair_iq_id);
	s->pair_iq_id = NULL;
	wa_adv_result_clear(&s->pair_adv);
	creds_free(s->pair_creds);
	s->pair_creds = NULL;
}

/* The supervisor answered PairSuccess: on ok sign, switch to the login payload; else refuse. */
static void
pair_stored_cb(void *arg, int ok, const char *error)
{
	struct session *s = arg;
	struct wa_node *iq, *sign, *di;
	uint8_t *payload = NULL;
	size_t plen = 0;

	if (!ok) {
		log_warnx("%s: the supervisor could not store the pairing: %s",
		    worker_instance_name(s->w), error);
		if (s->pair_iq_id != NULL)
			session_iq_reply_error(s, s->pair_iq_id, 500, "internal-error");
		pair_pending_clear(s);
		/* Still on the connection that offered the refs: carry on with the next one. */
		if (s->nrefs > 0) {
			s->ref_idx++;
			pair_show_qr(s);
		}
		return;
	}
	creds_free(s->creds);
	s->creds = s->pair_creds;
	s->pair_creds = NULL;
	if (login_payload(s->creds, &payload, &plen) == 0) {
		wa_conn_set_payload(s->conn, payload, plen);
		free(payload);
	}
	if (s->pair_iq_id != NULL) {
		iq = wa_node_new("iq");
		wa_node_set_attr(iq, "to", "s.whatsapp.net");
		wa_node_set_attr(iq, "type", "result");
		wa_node_set_attr(iq, "id", s->pair_iq_id);
		sign = wa_node_add_child(iq, wa_node_new("pair-device-sign"));
		di = wa_node_add_child(sign, wa_node_new("device-identity"));
		wa_node_set_attrf(di, "key-index", "%u", s->pair_adv.key_index);
		wa_node_set_bytes(di, s->pair_adv.reply, s->pair_adv.reply_len);
		if (wa_conn_send_node(s->conn, iq) == -1)
			log_warnx("%s: cannot send pair-device-sign", worker_instance_name(s->w));
		wa_node_free(iq);
		log_info("%s: paired as %s", worker_instance_name(s->w), s->creds->jid);
	} else
		log_warnx("%s: paired as %s, but the connection that paired is gone",
		    worker_instance_name(s->w), s->creds->jid);
	pair_pending_clear(s);
}

/* The JID of the new device: a phone number user on s.whatsapp.net with a device number. */
static int
pair_jid_ok(const char *jid)
{
	struct wa_jid j;
	const char *p;

	if (jid == NULL || wa_jid_parse(jid, &j) == -1 || strcmp(j.server, WA_SERVER_USER) != 0 ||
	    j.user[0] == '\0' || strlen(j.user) > 20 || j.device == 0)
		return 0;
	for (p = j.user; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

/* Cut a free-text attribute to a sane length (NULL stays NULL). */
static char *
pair_name(const struct wa_node *n, const char *attr)
{
	const char *v = n != NULL ? wa_node_attr(n, attr) : NULL;

	return v != NULL ? xstrndup(v, PAIR_NAME_MAX) : NULL;
}

/* pair-success (sections 2.6-2.8). */
void
pair_on_pair_success(struct session *s, const struct wa_node *iq)
{
	const struct wa_node *ps = wa_node_child(iq, "pair-success"), *dev = wa_node_child(ps, "device");
	const char *id = wa_node_attr(iq, "id"), *jid, *lid;
	const uint8_t *di;
	size_t dilen = 0, len;
	char err[256], *platform, *biz;
	uint8_t *blob;
	int rc;

	if (id == NULL)
		return;
	if (session_creds_paired(s) || s->pairing) {
		log_warnx("%s: unexpected pair-success refused", worker_instance_name(s->w));
		session_iq_reply_error(s, id, 500, "internal-error");
		return;
	}
	jid = dev != NULL ? wa_node_attr(dev, "jid") : NULL;
	lid = dev != NULL ? wa_node_attr(dev, "lid") : NULL;
	di = pair_child_bytes(ps, "device-identity", &dilen);
	if (di == NULL || !pair_jid_ok(jid) || (lid != NULL && strlen(lid) > WA_JID_USER_MAX)) {
		log_warnx("%s: malformed pair-success", worker_instance_name(s->w));
		session_iq_reply_error(s, id, 500, "internal-error");
		return;
	}
	rc = wa_adv_companion_verify(di, dilen, s->adv_secret, s->creds->identity_priv, s->creds->identity_pub,
	    &s->pair_adv, err, sizeof(err));
	if (rc != WA_ADV_OK) {
		log_warnx("%s: refused: %s", worker_instance_name(s->w), err);
		session_iq_reply_error(s, id, wa_adv_error_code(rc), wa_adv_error_text(rc));
		wa_adv_result_clear(&s->pair_adv);
		return;
	}
	/* Verified: no more QRs; the supervisor stores the pairing before we sign. */
	if (s->ev_qr != NULL)
		evtimer_del(s->ev_qr);
	s->showing = 0;
	if ((s->pair_creds = pair_creds_copy(s->creds)) == NULL) {
		session_iq_reply_error(s, id, 500, "internal-error");
		pair_pending_clear(s);
		return;
	}
	platform = pair_name(wa_node_child(ps, "platform"), "name");
	biz = pair_name(wa_node_child(ps, "biz"), "name");
	creds_set_str(&s->pair_creds->jid, jid);
	creds_set_str(&s->pair_creds->lid, lid);
	creds_set_str(&s->pair_creds->platform, platform);
	creds_set_str(&s->pair_creds->business_name, biz);
	free(platform);
	free(biz);
	memcpy(s->pair_creds->adv_secret, s->adv_secret, CREDS_KEY_LEN);
	s->pair_creds->account = xmalloc(s->pair_adv.account_len);
	memcpy(s->pair_creds->account, s->pair_adv.account, s->pair_adv.account_len);
	s->pair_creds->account_len = s->pair_adv.account_len;
	s->pair_creds->key_index = s->pair_adv.key_index;
	s->pair_creds->has_account_pub = 1;
	memcpy(s->pair_creds->account_pub, s->pair_adv.account_pub, CREDS_KEY_LEN);
	s->pair_iq_id = xstrdup(id);
	s->pairing = 1;
	if (creds_encode(s->pair_creds, &blob, &len) == -1) {
		session_iq_reply_error(s, id, 500, "internal-error");
		pair_pending_clear(s);
		return;
	}
	rc = worker_request_paired(s->w, s->pair_creds->jid, s->pair_creds->lid, NULL, s->pair_creds->platform,
	    s->pair_creds->business_name, blob, len, pair_stored_cb, s);
	free_wiped(blob, len);
	if (rc == -1) {
		session_iq_reply_error(s, id, 500, "internal-error");
		pair_pending_clear(s);
		return;
	}
	log_info("%s: phone approved %s, storing", worker_instance_name(s->w), jid);
}

void
pair_reset_connection(struct session *s)
{
	pair_free_refs(s);
	/* A pending PairSuccess stays: its Result still decides which credentials we hold. */
	free(s->pair_iq_id);
	s->pair_iq_id = NULL;
}

void
pair_reset_series(struct session *s, const char *number)
{
	s->qr_count = 0;
	if (s->ev_qr == NULL)
		s->ev_qr = evtimer_new(worker_base(s->w), pair_qr_timer_cb, s);
	free(s->number);
	s->number = NULL;
	if (number != NULL && *number != '\0') {
		/* Digits only ("+55 11 9..." is accepted); the number goes into a JID. */
		char digits[32];
		size_t n = 0;
		const char *p;

		for (p = number; *p != '\0' && n < sizeof(digits) - 1; p++)
			if (*p >= '0' && *p <= '9')
				digits[n++] = *p;
			else if (*p != '+' && *p != ' ' && *p != '-')
				break;
		digits[n] = '\0';
		if (*p == '\0' && n >= 5 && n <= 20)
			s->number = xstrdup(digits);
		else
			log_warnx("%s: unusable phone number for a pairing code, QR only",
			    worker_instance_name(s->w));
	}
	explicit_wipe(s->link_code, sizeof(s->link_code));
	explicit_wipe(s->link_eph_priv, sizeof(s->link_eph_priv));
	free(s->link_ref);
	s->link_ref = NULL;
	s->link_ref_len = 0;
}

void
pair_free(struct session *s)
{
	pair_free_refs(s);
	pair_pending_clear(s);
	if (s->ev_qr != NULL)
		event_free(s->ev_qr);
	s->ev_qr = NULL;
	free(s->number);
	s->number = NULL;
	free(s->link_ref);
	s->link_ref = NULL;
	explicit_wipe(s->link_eph_priv, sizeof(s->link_eph_priv));
}
