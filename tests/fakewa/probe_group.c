/* The test companion's group commands and output (see probe_group.h). */
#include "probe_group.h"
#include "probe_companion.h"

#include "fw_sigstore.h"
#include "fw_text.h"
#include "wa_conn.h"
#include "wa_jid.h"
#include "wa_node.h"
#include "xmalloc.h"

#include "e2e.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The probe's own name for its sender keys: local to its store, receivers name it by the participant JID. */
#define PG_OWN	"probe:0"

static const char *
pg_attr(const struct wa_node *n, const char *k, const char *dflt)
{
	const char *v = n != NULL ? wa_node_attr(n, k) : NULL;

	return v != NULL ? v : dflt;
}

static void
pg_send(struct wa_conn *c, struct wa_node *n)
{
	wa_conn_send_node(c, n);
	wa_node_free(n);
}

/* "user:device" of a user JID. 0 or -1. */
static int
pg_address(const char *jid, char *buf, size_t len)
{
	struct wa_jid j;

	if (jid == NULL || wa_jid_parse(jid, &j) == -1 || !wa_jid_is_user(&j))
		return -1;
	snprintf(buf, len, "%s:%u", j.user, (unsigned)j.device);
	return 0;
}

/* One <group> node as a GROUP line. */
static void
pg_print_group(int idx, const char *iqid, const struct wa_node *g)
{
	printf("GROUP %d %s %s@g.us subject=%s creator=%s participants=", idx, iqid, pg_attr(g, "id", "-"),
	    pg_attr(g, "subject", "-"), pg_attr(g, "creator", "-"));
	for (size_t i = 0, k = 0; g->ctype == WA_CONTENT_NODES && i < g->nchildren; i++) {
		const struct wa_node *p = g->children[i];
		if (strcmp(p->tag, "participant") != 0)
			continue;
		printf("%s%s%s%s", k++ ? "," : "", pg_attr(p, "jid", "-"), wa_node_attr(p, "error") ? "!" : "",
		    pg_attr(p, "error", ""));
	}
	printf("\n");
}

/* Results of our w:g2 iqs. */
static void
pg_iq(int idx, const struct wa_node *iq, const char *id)
{
	const struct wa_node *e = wa_node_child(iq, "error"), *ch;

	if (strcmp(pg_attr(iq, "type", ""), "error") == 0) {
		printf("GERROR %d %s %s\n", idx, id, pg_attr(e, "code", "-"));
	} else if (strcmp(id, "probe-gjoined") == 0) {
		ch = wa_node_child(iq, "groups");
		printf("GROUPS %d ", idx);
		for (size_t i = 0; ch != NULL && ch->ctype == WA_CONTENT_NODES && i < ch->nchildren; i++)
			printf("%s%s@g.us", i ? "," : "", pg_attr(ch->children[i], "id", "-"));
		printf("%s\n", ch == NULL || ch->nchildren == 0 ? "-" : "");
	} else if (strcmp(id, "probe-gchange") == 0) {
		ch = iq->ctype == WA_CONTENT_NODES && iq->nchildren > 0 ? iq->children[0] : NULL;
		printf("GCHANGE %d %s ", idx, ch ? ch->tag : "-");
		for (size_t i = 0; ch != NULL && ch->ctype == WA_CONTENT_NODES && i < ch->nchildren; i++)
			printf("%s%s=%s", i ? "," : "", pg_attr(ch->children[i], "jid", "-"),
			    pg_attr(ch->children[i], "error", "ok"));
		printf("\n");
	} else if ((ch = wa_node_child(iq, "group")) != NULL)
		pg_print_group(idx, id, ch);
	else
		printf("GERROR %d %s no-group\n", idx, id);
}

/* <notification type=w:gp2>: one line per change. */
static void
pg_notification(int idx, const struct wa_node *n)
{
	for (size_t i = 0; n->ctype == WA_CONTENT_NODES && i < n->nchildren; i++) {
		const struct wa_node *ch = n->children[i], *g = wa_node_child(ch, "group"),
		    *list = g != NULL ? g : ch;
		size_t k = 0;

		printf("NOTIF %d w:gp2 %s %s actor=%s ", idx, pg_attr(n, "from", "-"), ch->tag,
		    pg_attr(n, "participant", "-"));
		for (size_t m = 0; list->ctype == WA_CONTENT_NODES && m < list->nchildren; m++)
			if (strcmp(list->children[m]->tag, "participant") == 0)
				printf("%s%s", k++ ? "," : "", pg_attr(list->children[m], "jid", "-"));
		printf("%s\n", k == 0 ? "-" : "");
	}
}

/* A decrypted pairwise plaintext in a group: store the sender key it carries; its text, if any, to text.
 * 1 text, 0 none, -1 invalid. */
static int
pg_pairwise(struct fw_sigstore *st, const char *group, const char *addr, const uint8_t *pt, size_t len,
    char *text, size_t textlen, char *err, size_t errlen)
{
	Wa__Message *msg = wa__message__unpack(NULL, len, pt);
	Wa__SenderKeyDistributionMessage *d;
	int rc = 0;

	if (msg == NULL) {
		snprintf(err, errlen, "no Message");
		return -1;
	}
	d = msg->senderkeydistributionmessage;
	if (d != NULL && d->has_axolotlsenderkeydistributionmessage &&
	    FW_SIGSTORE_RUN(st, wa_signal_group_process(fw_sigstore_signal(st), group, addr,
	    d->axolotlsenderkeydistributionmessage.data, d->axolotlsenderkeydistributionmessage.len, err,
	    errlen)) != WA_SIGNAL_DONE)
		rc = -1;
	wa__message__free_unpacked(msg, NULL);
	if (rc == 0 && (rc = fw_text_extract(pt, len, text, textlen)) == -1)
		snprintf(err, errlen, "bad text");
	return rc;
}

/* A group message: print it, decrypt its encs in order, answer with a receipt to the group. */
static void
pg_message(int idx, struct fw_sigstore *st, struct wa_conn *c, const struct wa_node *n)
{
	const char *group = pg_attr(n, "from", "-"), *part = pg_attr(n, "participant", "-"), *id = pg_attr(n, "id", "-");
	char addr[WA_JID_USER_MAX + 16], err[160], text[FW_TEXT_MAX + 1];
	struct wa_node *r;
	uint8_t *pt;
	size_t ptlen, unpadded;
	int rc;

	printf("GMSG %d %s %s %s offline=%d encs=", idx, group, part, id, wa_node_attr(n, "offline") != NULL);
	for (size_t i = 0, k = 0; n->ctype == WA_CONTENT_NODES && i < n->nchildren; i++)
		if (strcmp(n->children[i]->tag, "enc") == 0)
			printf("%s%s", k++ ? "," : "", pg_attr(n->children[i], "type", "-"));
	printf("\n");
	for (size_t i = 0; n->ctype == WA_CONTENT_NODES && i < n->nchildren && pg_address(part, addr,
	    sizeof(addr)) == 0; i++) {
		const struct wa_node *e = n->children[i];
		const char *t = pg_attr(e, "type", "");

		if (strcmp(e->tag, "enc") != 0 || e->ctype != WA_CONTENT_BYTES)
			continue;
		pt = NULL;
		if (strcmp(t, "skmsg") == 0)
			rc = FW_SIGSTORE_RUN(st, wa_signal_group_decrypt(fw_sigstore_signal(st), group, addr, e->bytes,
			    e->nbytes, &pt, &ptlen, err, sizeof(err)));
		else
			rc = FW_SIGSTORE_RUN(st, wa_signal_decrypt(fw_sigstore_signal(st), addr, strcmp(t, "pkmsg") == 0 ?
			    WA_SIGNAL_PKMSG : WA_SIGNAL_MSG, e->bytes, e->nbytes, &pt, &ptlen, err, sizeof(err)));
		if (rc != WA_SIGNAL_DONE) {
			printf("GDECRYPT-FAIL %d %s %s %s %s: %s\n", idx, group, part, id, t, err);
			continue;
		}
		if (wa_signal_unpad(pt, ptlen, &unpadded) == -1) {
			snprintf(err, sizeof(err), "bad padding");
			rc = -1;
		} else if (strcmp(t, "skmsg") == 0) {
			if ((rc = fw_text_extract(pt, unpadded, text, sizeof(text))) == -1)
				snprintf(err, sizeof(err), "bad text");
		} else
			rc = pg_pairwise(st, group, addr, pt, unpadded, text, sizeof(text), err, sizeof(err));
		free(pt);
		if (rc == -1)
			printf("GDECRYPT-FAIL %d %s %s %s %s: %s\n", idx, group, part, id, t, err);
		else if (rc == 1)
			printf("GTEXT %d %s %s %s %s\n", idx, group, part, id, text);
	}
	fflush(stdout);
	r = wa_node_new("receipt");
	wa_node_set_attr(r, "id", id);
	wa_node_set_attr(r, "to", group);
	wa_node_set_attr(r, "participant", part);
	pg_send(c, r);
}

int
probe_group_node(int idx, struct fw_sigstore *st, struct wa_conn *c, const struct wa_node *n)
{
	const char *id = wa_node_attr(n, "id"), *from = wa_node_attr(n, "from");
	struct wa_jid j;

	if (strcmp(n->tag, "iq") == 0 && id != NULL && strncmp(id, "probe-g", 7) == 0)
		pg_iq(idx, n, id);
	else if (strcmp(n->tag, "notification") == 0 && strcmp(pg_attr(n, "type", ""), "w:gp2") == 0)
		pg_notification(idx, n);
	else if (strcmp(n->tag, "message") == 0 && from != NULL && wa_jid_parse(from, &j) == 0 &&
	    wa_jid_is_group(&j))
		pg_message(idx, st, c, n);
	else
		return 0;
	fflush(stdout);
	return 1;
}

/* gsend: the sender key pairwise to devs (comma list or "-"), then the text as one skmsg. */
static void
pg_gsend(int idx, struct fw_sigstore *st, struct wa_conn *c, const char *id, const char *group, const char *phash,
    char *devs, const char *text)
{
	Wa__Message msg = WA__MESSAGE__INIT;
	Wa__SenderKeyDistributionMessage d = WA__SENDER_KEY_DISTRIBUTION_MESSAGE__INIT;
	struct wa_signal *sig = fw_sigstore_signal(st);
	struct wa_node *n, *parts = NULL, *to, *enc;
	enum wa_signal_type t;
	uint8_t *skdm = NULL, *dist = NULL, *body = NULL, *padded = NULL, *ct = NULL;
	size_t skdmlen, distlen, blen, plen, ctlen;
	char addr[WA_JID_USER_MAX + 16], err[160] = "bad arguments", *save = NULL, *j;
	int ndev = 0;

	if (FW_SIGSTORE_RUN(st, wa_signal_group_create(sig, group, PG_OWN, &skdm, &skdmlen, err, sizeof(err))) !=
	    WA_SIGNAL_DONE || fw_text_encode(text, &body, &blen) == -1 || wa_signal_pad(body, blen, &padded, &plen) ==
	    -1 || FW_SIGSTORE_RUN(st, wa_signal_group_encrypt(sig, group, PG_OWN, padded, plen, &ct, &ctlen, err,
	    sizeof(err))) != WA_SIGNAL_DONE)
		goto fail;
	free(padded);
	padded = NULL;
	d.groupid = (char *)group;
	d.has_axolotlsenderkeydistributionmessage = 1;
	d.axolotlsenderkeydistributionmessage.data = skdm;
	d.axolotlsenderkeydistributionmessage.len = skdmlen;
	msg.senderkeydistributionmessage = &d;
	distlen = wa__message__get_packed_size(&msg);
	dist = xmalloc(distlen);
	wa__message__pack(&msg, dist);
	n = wa_node_new("message");
	wa_node_set_attr(n, "id", id);
	wa_node_set_attr(n, "to", group);
	wa_node_set_attr(n, "type", "text");
	if (strcmp(phash, "-") != 0)
		wa_node_set_attr(n, "phash", phash);
	for (j = strcmp(devs, "-") != 0 ? strtok_r(devs, ",", &save) : NULL; j != NULL; j = strtok_r(NULL, ",", &save)) {
		uint8_t *pct = NULL;
		size_t pctlen;

		if (pg_address(j, addr, sizeof(addr)) == -1 || wa_signal_pad(dist, distlen, &padded, &plen) == -1 ||
		    FW_SIGSTORE_RUN(st, wa_signal_encrypt(sig, addr, padded, plen, &t, &pct, &pctlen, err,
		    sizeof(err))) != WA_SIGNAL_DONE) {
			wa_node_free(n);
			goto fail;
		}
		free(padded);
		padded = NULL;
		if (parts == NULL)
			parts = wa_node_add_child(n, wa_node_new("participants"));
		to = wa_node_add_child(parts, wa_node_new("to"));
		wa_node_set_attr(to, "jid", j);
		enc = wa_node_add_child(to, wa_node_new("enc"));
		wa_node_set_attr(enc, "v", "2");
		wa_node_set_attr(enc, "type", t == WA_SIGNAL_PKMSG ? "pkmsg" : "msg");
		wa_node_set_bytes(enc, pct, pctlen);
		free(pct);
		ndev++;
	}
	enc = wa_node_add_child(n, wa_node_new("enc"));
	wa_node_set_attr(enc, "v", "2");
	wa_node_set_attr(enc, "type", "skmsg");
	wa_node_set_bytes(enc, ct, ctlen);
	pg_send(c, n);
	printf("GSENT %d %s skdm=%d\n", idx, id, ndev);
	goto out;
fail:
	printf("GSEND-FAIL %d %s %s\n", idx, id, err);
out:
	fflush(stdout);
	free(skdm);
	free(dist);
	free(body);
	free(padded);
	free(ct);
}

void
probe_group_command(int idx, struct fw_sigstore *st, struct wa_conn *c, char *line)
{
	char *verb = strtok(line, " \n"), *a1 = strtok(NULL, " \n"), *a2 = strtok(NULL, " \n"), *save = NULL, *j,
	    *a3, *a4, *rest;
	struct wa_node *n, *ch;

	if (verb != NULL && strcmp(verb, "gcreate") == 0 && a2 != NULL) {
		n = probe_companion_iq("probe-gcreate", "set", "w:g2");
		wa_node_set_attr(n, "to", "@g.us");
		ch = wa_node_add_child(n, wa_node_new("create"));
		wa_node_set_attr(ch, "subject", a1);
		wa_node_set_attr(ch, "key", "probe-gcreate-key");
		for (j = strtok_r(a2, ",", &save); j != NULL; j = strtok_r(NULL, ",", &save))
			wa_node_set_attr(wa_node_add_child(ch, wa_node_new("participant")), "jid", j);
		pg_send(c, n);
	} else if (verb != NULL && strcmp(verb, "gquery") == 0 && a1 != NULL) {
		n = probe_companion_iq("probe-gquery", "get", "w:g2");
		wa_node_set_attr(n, "to", a1);
		wa_node_set_attr(wa_node_add_child(n, wa_node_new("query")), "request", "interactive");
		pg_send(c, n);
	} else if (verb != NULL && strcmp(verb, "gjoined") == 0) {
		n = probe_companion_iq("probe-gjoined", "get", "w:g2");
		wa_node_set_attr(n, "to", "@g.us");
		ch = wa_node_add_child(n, wa_node_new("participating"));
		wa_node_add_child(ch, wa_node_new("participants"));
		wa_node_add_child(ch, wa_node_new("description"));
		pg_send(c, n);
	} else if (verb != NULL && (strcmp(verb, "gadd") == 0 || strcmp(verb, "gremove") == 0) && a2 != NULL) {
		n = probe_companion_iq("probe-gchange", "set", "w:g2");
		wa_node_set_attr(n, "to", a1);
		ch = wa_node_add_child(n, wa_node_new(verb + 1));
		for (j = strtok_r(a2, ",", &save); j != NULL; j = strtok_r(NULL, ",", &save))
			wa_node_set_attr(wa_node_add_child(ch, wa_node_new("participant")), "jid", j);
		pg_send(c, n);
	} else if (verb != NULL && strcmp(verb, "gsend") == 0 && a2 != NULL && (a3 = strtok(NULL, " \n")) != NULL &&
	    (a4 = strtok(NULL, " \n")) != NULL && (rest = strtok(NULL, "\n")) != NULL)
		pg_gsend(idx, st, c, a1, a2, a3, a4, rest);
	else {
		printf("BADCMD %d\n", idx);
		fflush(stdout);
	}
}
