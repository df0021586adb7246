/* The test companion's messaging commands and output (see probe_msg.h). */
#include "probe_msg.h"
#include "probe_companion.h"
#include "probe_group.h"

#include "fw_sigstore.h"
#include "fw_text.h"
#include "hex.h"
#include "wa_jid.h"
#include "wa_conn.h"
#include "wa_node.h"
#include "xmalloc.h"

#include "e2e.pb-c.h"
#include "history.pb-c.h"

#include <zlib.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PM_HISTORY_INFLATED_MAX	(16 * 1024 * 1024)	/* a bigger chunk is reported as inflated=failed */

/* Send and free. */
static void
pm_send(struct wa_conn *c, struct wa_node *n)
{
	wa_conn_send_node(c, n);
	wa_node_free(n);
}

/* An attribute, or dflt when it is absent (for printing). */
static const char *
pm_attr(const struct wa_node *n, const char *k, const char *dflt)
{
	const char *v = wa_node_attr(n, k);

	return v != NULL ? v : dflt;
}

/* The Signal address "user:device" of a JID. 0 or -1. */
static int
pm_address(const char *jid, char *buf, size_t len)
{
	struct wa_jid j;

	if (jid == NULL || wa_jid_parse(jid, &j) == -1 || !wa_jid_is_user(&j))
		return -1;
	snprintf(buf, len, "%s:%u", j.user, (unsigned)j.device);
	return 0;
}

/* A bytes field as hex into buf (2 * 32 + 1 bytes), or "-" when absent or not of a hash's or key's length. */
static const char *
pm_hex32(protobuf_c_boolean has, const ProtobufCBinaryData *b, char *buf)
{
	if (!has || b->len != 32)
		return "-";
	hex_encode(b->data, b->len, buf);
	return buf;
}

/* The HISTORY-MEDIA line of a chunk sent as a media blob: what a test needs to download and check it. */
static void
pm_history_media(int idx, const struct wa_node *n, const Wa__HistorySyncNotification *note)
{
	char sha[65], enc[65], key[65];

	printf("HISTORY-MEDIA %d %s %s path=%s length=%lld sha256=%s enc_sha256=%s key=%s\n", idx,
	    pm_attr(n, "from", "-"), pm_attr(n, "id", "-"), note->directpath,
	    note->has_filelength ? (long long)note->filelength : -1LL, pm_hex32(note->has_filesha256, &note->filesha256,
	    sha), pm_hex32(note->has_fileencsha256, &note->fileencsha256, enc), pm_hex32(note->has_mediakey,
	    &note->mediakey, key));
}

/* If pt is a Message with a history sync notification, print its HISTORY line (inflating the inline chunk,
 * bounded, as a companion does) and return 1; else 0. */
static int
pm_history(int idx, const struct wa_node *n, const uint8_t *pt, size_t len)
{
	Wa__Message *msg = wa__message__unpack(NULL, len, pt);
	Wa__HistorySyncNotification *note;
	Wa__HistorySync *hs = NULL;
	const Wa__Conversation *c0 = NULL;
	Wa__Message *first = NULL;
	uLongf zlen = PM_HISTORY_INFLATED_MAX;
	uint8_t *z = NULL;
	size_t nmsg = 0;
	int zrc = Z_DATA_ERROR;

	if (msg == NULL || msg->protocolmessage == NULL || (note = msg->protocolmessage->historysyncnotification) ==
	    NULL) {
		wa__message__free_unpacked(msg, NULL);
		return 0;
	}
	if (note->directpath != NULL)
		pm_history_media(idx, n, note);
	if (note->has_initialhistbootstrapinlinepayload) {
		z = xmalloc(PM_HISTORY_INFLATED_MAX);
		zrc = uncompress(z, &zlen, note->initialhistbootstrapinlinepayload.data,
		    note->initialhistbootstrapinlinepayload.len);
		if (zrc == Z_OK)
			hs = wa__history_sync__unpack(NULL, zlen, z);
	}
	for (size_t i = 0; hs != NULL && i < hs->n_conversations; i++)
		nmsg += hs->conversations[i]->n_messages;
	if (hs != NULL && hs->n_conversations > 0)
		c0 = hs->conversations[0];
	if (c0 != NULL && c0->n_messages > 0 && c0->messages[0]->message != NULL &&
	    c0->messages[0]->message->has_message)
		first = wa__message__unpack(NULL, c0->messages[0]->message->message.len,
		    c0->messages[0]->message->message.data);
	printf("HISTORY %d %s %s type=%d chunk=%u progress=%u payload=%zu inflated=%s%lu sync=%s conversations=%zu "
	    "messages=%zu pushnames=%zu lids=%zu first=%s text=%s\n", idx, pm_attr(n, "from", "-"),
	    pm_attr(n, "id", "-"), note->has_synctype ? (int)note->synctype : -1, note->chunkorder, note->progress,
	    note->initialhistbootstrapinlinepayload.len, zrc == Z_OK ? "" : "failed/", zrc == Z_OK ? zlen : 0,
	    hs != NULL ? "ok" : "bad", hs != NULL ? hs->n_conversations : 0, nmsg, hs != NULL ? hs->n_pushnames : 0,
	    hs != NULL ? hs->n_phonenumbertolidmappings : 0, c0 != NULL && c0->id != NULL ? c0->id : "-",
	    first != NULL && first->conversation != NULL ? first->conversation : "-");
	fflush(stdout);
	wa__message__free_unpacked(first, NULL);
	wa__history_sync__free_unpacked(hs, NULL);
	free(z);
	wa__message__free_unpacked(msg, NULL);
	return 1;
}

/* Decrypt a pkmsg/msg with the companion's Signal side and print the text (or the history sync). 1 if it was a
 * history sync notification. */
static int
pm_decrypt(int idx, struct fw_sigstore *st, const struct wa_node *n, const struct wa_node *enc)
{
	const char *type = wa_node_attr(enc, "type");
	enum wa_signal_type t;
	char addr[WA_JID_USER_MAX + 16], err[160], text[FW_TEXT_MAX + 1];
	uint8_t *pt = NULL;
	size_t ptlen = 0, unpadded;
	int rc, hist = 0;

	if (type == NULL || (strcmp(type, "pkmsg") != 0 && strcmp(type, "msg") != 0) ||
	    pm_address(wa_node_attr(n, "from"), addr, sizeof(addr)) == -1)
		return 0;
	t = strcmp(type, "pkmsg") == 0 ? WA_SIGNAL_PKMSG : WA_SIGNAL_MSG;
	rc = FW_SIGSTORE_RUN(st, wa_signal_decrypt(fw_sigstore_signal(st), addr, t, enc->bytes, enc->nbytes, &pt,
	    &ptlen, err, sizeof(err)));
	if (rc != WA_SIGNAL_DONE)
		printf("DECRYPT-FAIL %d %s %s %s\n", idx, pm_attr(n, "from", "-"), pm_attr(n, "id", "-"), err);
	else if (wa_signal_unpad(pt, ptlen, &unpadded) == -1)
		printf("DECRYPT-FAIL %d %s %s no-text\n", idx, pm_attr(n, "from", "-"), pm_attr(n, "id", "-"));
	else if (fw_text_extract(pt, unpadded, text, sizeof(text)) == 1)
		printf("TEXT %d %s %s %s\n", idx, pm_attr(n, "from", "-"), pm_attr(n, "id", "-"), text);
	else if ((hist = pm_history(idx, n, pt, unpadded)) == 0)
		printf("DECRYPT-FAIL %d %s %s no-text\n", idx, pm_attr(n, "from", "-"), pm_attr(n, "id", "-"));
	fflush(stdout);
	free(pt);
	return hist;
}

/* An incoming message: print it, then confirm delivery as a client does (wa-session.md 5.3). */
/* <notification type="devices">: one DEVICES line per <add>/<remove>/... child. */
static void
pm_devices(int idx, const struct wa_node *n)
{
	const struct wa_node *ch, *d;
	const char *sep;

	if (n->ctype != WA_CONTENT_NODES)
		return;
	for (size_t i = 0; i < n->nchildren; i++) {
		ch = n->children[i];
		printf("DEVICES %d %s %s ", idx, pm_attr(n, "from", "-"), ch->tag);
		sep = "";
		for (size_t k = 0; ch->ctype == WA_CONTENT_NODES && k < ch->nchildren; k++) {
			d = ch->children[k];
			if (strcmp(d->tag, "device") == 0) {
				printf("%s%s", sep, pm_attr(d, "jid", "-"));
				sep = ",";
			}
		}
		printf("%s\n", *sep == '\0' ? "-" : "");
	}
	fflush(stdout);
}

static void
pm_message(int idx, struct fw_sigstore *st, struct wa_conn *c, const struct wa_node *n)
{
	const struct wa_node *enc = wa_node_child(n, "enc");
	struct wa_node *r;
	char *hex = NULL;
	int hist = 0;

	if (enc != NULL && enc->ctype == WA_CONTENT_BYTES) {
		hex = xmalloc(enc->nbytes * 2 + 1);
		hex_encode(enc->bytes, enc->nbytes, hex);
	}
	printf("MSG %d %s %s offline=%d recipient=%s enc=%s:%s\n", idx, pm_attr(n, "from", "-"),
	    pm_attr(n, "id", "-"), wa_node_attr(n, "offline") != NULL, pm_attr(n, "recipient", "-"),
	    enc ? pm_attr(enc, "type", "-") : "-", hex ? hex : "-");
	fflush(stdout);
	free(hex);
	if (enc != NULL && enc->ctype == WA_CONTENT_BYTES && st != NULL)
		hist = pm_decrypt(idx, st, n, enc);
	if (wa_node_attr(n, "id") == NULL || wa_node_attr(n, "from") == NULL)
		return;
	r = wa_node_new("receipt");
	wa_node_set_attr(r, "id", wa_node_attr(n, "id"));
	wa_node_set_attr(r, "to", wa_node_attr(n, "from"));
	if (wa_node_attr(n, "recipient") != NULL) {
		wa_node_set_attr(r, "type", "sender");
		wa_node_set_attr(r, "recipient", wa_node_attr(n, "recipient"));
	} else if (strcmp(pm_attr(n, "category", ""), "peer") == 0)
		wa_node_set_attr(r, "type", "peer_msg");	/* a message from our own phone (whatsmeow's way) */
	pm_send(c, r);
	/* a history sync is confirmed apart, to the own user JID, once the chunk is taken */
	if (hist) {
		r = wa_node_new("receipt");
		wa_node_set_attr(r, "id", wa_node_attr(n, "id"));
		wa_node_set_attr(r, "type", "hist_sync");
		wa_node_set_attr(r, "to", wa_node_attr(n, "from"));
		pm_send(c, r);
	}
}

/* <call>: one CALL line, its first child's attributes and the tags (with enc/rate/medium/keygen) inside that
 * child. Not acked: fakewa does not wait for one. */
static void
pm_call(int idx, const struct wa_node *n)
{
	const struct wa_node *ch = n->ctype == WA_CONTENT_NODES && n->nchildren > 0 ? n->children[0] : NULL, *g;
	char kids[256] = "-";
	size_t o = 0;

	for (size_t k = 0; ch != NULL && ch->ctype == WA_CONTENT_NODES && k < ch->nchildren; k++) {
		g = ch->children[k];
		o += (size_t)snprintf(kids + o, o < sizeof(kids) ? sizeof(kids) - o : 0, "%s%s%s%s%s%s", k ? "," : "",
		    g->tag, wa_node_attr(g, "enc") ? "/" : "", pm_attr(g, "enc", ""),
		    wa_node_attr(g, "rate") || wa_node_attr(g, "medium") || wa_node_attr(g, "keygen") ? "/" : "",
		    pm_attr(g, "rate", pm_attr(g, "medium", pm_attr(g, "keygen", ""))));
	}
	printf("CALL %d %s %s t=%s platform=%s version=%s %s call-id=%s call-creator=%s count=%s reason=%s kids=%s\n",
	    idx, pm_attr(n, "from", "-"), pm_attr(n, "id", "-"), pm_attr(n, "t", "-"), pm_attr(n, "platform", "-"),
	    pm_attr(n, "version", "-"), ch ? ch->tag : "-", ch ? pm_attr(ch, "call-id", "-") : "-",
	    ch ? pm_attr(ch, "call-creator", "-") : "-", ch ? pm_attr(ch, "count", "-") : "-",
	    ch ? pm_attr(ch, "reason", "-") : "-", kids);
	fflush(stdout);
}

/* usync result: one line per user. */
static void
pm_usync(int idx, const struct wa_node *iq)
{
	const struct wa_node *us = wa_node_child(iq, "usync"), *list = us ? wa_node_child(us, "list") : NULL;

	for (size_t i = 0; list != NULL && list->ctype == WA_CONTENT_NODES && i < list->nchildren; i++) {
		const struct wa_node *u = list->children[i], *devs = wa_node_child(u, "devices"),
		    *dl = devs ? wa_node_child(devs, "device-list") : NULL, *ct = wa_node_child(u, "contact"),
		    *lid = wa_node_child(u, "lid");
		char ids[256] = "-";
		size_t o = 0;

		for (size_t k = 0; dl != NULL && dl->ctype == WA_CONTENT_NODES && k < dl->nchildren; k++)
			o += (size_t)snprintf(ids + o, o < sizeof(ids) ? sizeof(ids) - o : 0, "%s%s",
			    k ? "," : "", pm_attr(dl->children[k], "id", "?"));
		printf("USYNC %d %s devices=%s contact=%s lid=%s\n", idx, pm_attr(u, "jid", "-"), ids,
		    ct ? pm_attr(ct, "type", "-") : "-", lid ? pm_attr(lid, "val", "-") : "-");
	}
	fflush(stdout);
}

/* Big-endian integer of a bytes child, or -1. */
static long
pm_be(const struct wa_node *n, const char *tag)
{
	const struct wa_node *ch = wa_node_child(n, tag);
	long v = 0;

	if (ch == NULL || ch->ctype != WA_CONTENT_BYTES || ch->nbytes == 0 || ch->nbytes > 4)
		return -1;
	for (size_t i = 0; i < ch->nbytes; i++)
		v = v << 8 | ch->bytes[i];
	return v;
}

/* The bytes of a child when exactly len long, else NULL. */
static const uint8_t *
pm_bytes(const struct wa_node *n, const char *tag, size_t len)
{
	const struct wa_node *ch = n != NULL ? wa_node_child(n, tag) : NULL;

	return ch != NULL && ch->ctype == WA_CONTENT_BYTES && ch->nbytes == len ? ch->bytes : NULL;
}

/* Build a session with the device of one <user> bundle (wa-session.md 4.4, 4.5). */
static void
pm_session(int idx, struct fw_sigstore *st, const struct wa_node *u)
{
	const struct wa_node *sk = wa_node_child(u, "skey"), *k = wa_node_child(u, "key");
	const uint8_t *ident = pm_bytes(u, "identity", 32), *spk = pm_bytes(sk, "value", 32),
	    *sig = pm_bytes(sk, "signature", 64), *pk = pm_bytes(k, "value", 32);
	struct wa_signal_bundle b;
	struct wa_jid j;
	char addr[WA_JID_USER_MAX + 16], err[160];
	int ok = 0;

	memset(&b, 0, sizeof(b));
	if (ident != NULL && spk != NULL && sig != NULL && pm_be(u, "registration") >= 0 &&
	    pm_be(sk, "id") >= 0 && wa_jid_parse(pm_attr(u, "jid", ""), &j) == 0 &&
	    pm_address(wa_node_attr(u, "jid"), addr, sizeof(addr)) == 0) {
		b.registration_id = (uint32_t)pm_be(u, "registration");
		b.device_id = j.device;
		b.signed_prekey_id = (uint32_t)pm_be(sk, "id");
		memcpy(b.signed_prekey_pub, spk, 32);
		memcpy(b.signed_prekey_sig, sig, 64);
		memcpy(b.identity_pub, ident, 32);
		if (pk != NULL && pm_be(k, "id") >= 0) {
			b.has_prekey = 1;
			b.prekey_id = (uint32_t)pm_be(k, "id");
			memcpy(b.prekey_pub, pk, 32);
		}
		ok = FW_SIGSTORE_RUN(st, wa_signal_session_build(fw_sigstore_signal(st), addr, &b, err,
		    sizeof(err))) == WA_SIGNAL_DONE;
	}
	printf("SESSION %d %s %s\n", idx, pm_attr(u, "jid", "-"), ok ? "built" : "failed");
}

/* Prekey bundle result: one line per device. */
static void
pm_key(int idx, struct fw_sigstore *st, const struct wa_node *iq)
{
	const struct wa_node *list = wa_node_child(iq, "list");

	for (size_t i = 0; list != NULL && list->ctype == WA_CONTENT_NODES && i < list->nchildren; i++) {
		const struct wa_node *u = list->children[i], *e = wa_node_child(u, "error"),
		    *k = wa_node_child(u, "key");

		if (e != NULL)
			printf("KEY %d %s error=%s\n", idx, pm_attr(u, "jid", "-"), pm_attr(e, "code", "-"));
		else if (k != NULL)
			printf("KEY %d %s reg=%ld prekey=%ld\n", idx, pm_attr(u, "jid", "-"), pm_be(u, "registration"),
			    pm_be(k, "id"));
		else
			printf("KEY %d %s reg=%ld prekey=none\n", idx, pm_attr(u, "jid", "-"),
			    pm_be(u, "registration"));
		if (e == NULL && st != NULL)
			pm_session(idx, st, u);
	}
	fflush(stdout);
}

void
probe_msg_node(int idx, struct fw_sigstore *st, struct wa_conn *c, const struct wa_node *n)
{
	const char *id = wa_node_attr(n, "id");
	const struct wa_node *off;
	struct wa_node *a;

	if (probe_group_node(idx, st, c, n))
		return;
	if (strcmp(n->tag, "message") == 0)
		pm_message(idx, st, c, n);
	else if (strcmp(n->tag, "call") == 0)
		pm_call(idx, n);
	else if (strcmp(n->tag, "receipt") == 0) {
		printf("RECEIPT %d %s %s %s%s%s%s%s\n", idx, pm_attr(n, "from", "-"), pm_attr(n, "id", "-"),
		    pm_attr(n, "type", "delivery"), wa_node_attr(n, "participant") ? " participant=" : "",
		    pm_attr(n, "participant", ""), wa_node_attr(n, "recipient") ? " recipient=" : "",
		    pm_attr(n, "recipient", ""));
		fflush(stdout);
		if (id == NULL)
			return;
		a = wa_node_new("ack");
		wa_node_set_attr(a, "class", "receipt");
		wa_node_set_attr(a, "id", id);
		if (wa_node_attr(n, "from") != NULL)
			wa_node_set_attr(a, "to", wa_node_attr(n, "from"));
		if (wa_node_attr(n, "type") != NULL)
			wa_node_set_attr(a, "type", wa_node_attr(n, "type"));
		pm_send(c, a);
	} else if (strcmp(n->tag, "ack") == 0) {
		printf("ACK %d %s %s error=%s%s%s", idx, pm_attr(n, "class", "-"), pm_attr(n, "id", "-"),
		    pm_attr(n, "error", "-"), wa_node_attr(n, "phash") ? " phash=" : "", pm_attr(n, "phash", ""));
		/* a call's ack also says which child it was (type) and whom the call was to (from) */
		if (strcmp(pm_attr(n, "class", ""), "call") == 0)
			printf(" type=%s from=%s", pm_attr(n, "type", "-"), pm_attr(n, "from", "-"));
		printf("\n");
		fflush(stdout);
	} else if (strcmp(n->tag, "notification") == 0 && strcmp(pm_attr(n, "type", ""), "encrypt") == 0 &&
	    wa_node_child(n, "identity") != NULL) {
		printf("IDENTITY %d %s\n", idx, pm_attr(n, "from", "-"));
		fflush(stdout);
	} else if (strcmp(n->tag, "notification") == 0 && strcmp(pm_attr(n, "type", ""), "devices") == 0)
		pm_devices(idx, n);
	else if (strcmp(n->tag, "ib") == 0 && (off = wa_node_child(n, "offline")) != NULL) {
		printf("IB %d offline %s\n", idx, pm_attr(off, "count", "-"));
		fflush(stdout);
	} else if (strcmp(n->tag, "iq") == 0 && id != NULL && strcmp(id, "probe-usync") == 0)
		pm_usync(idx, n);
	else if (strcmp(n->tag, "iq") == 0 && id != NULL && strcmp(id, "probe-key") == 0)
		pm_key(idx, st, n);
}

/* Decode hex into a malloc'd buffer. NULL if it is not hex. */
static uint8_t *
pm_unhex(const char *s, size_t *len)
{
	size_t n = strlen(s);
	uint8_t *b;

	if (n == 0 || n % 2 != 0)
		return NULL;
	b = xmalloc(n / 2);
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(b);
			return NULL;
		}
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return b;
}

/* sendtext: Message{conversation} for one device over its Signal session. */
static void
pm_sendtext(int idx, struct fw_sigstore *st, struct wa_conn *c, const char *id, const char *chat,
    const char *dev, const char *text)
{
	struct wa_node *n, *to, *enc;
	enum wa_signal_type t;
	uint8_t *msg = NULL, *padded = NULL, *ct = NULL;
	size_t mlen, plen, ctlen;
	char addr[WA_JID_USER_MAX + 16], err[160] = "bad arguments";
	int rc = WA_SIGNAL_FAILED;

	if (pm_address(dev, addr, sizeof(addr)) == 0 && fw_text_encode(text, &msg, &mlen) == 0 &&
	    wa_signal_pad(msg, mlen, &padded, &plen) == 0)
		rc = FW_SIGSTORE_RUN(st, wa_signal_encrypt(fw_sigstore_signal(st), addr, padded, plen, &t, &ct, &ctlen,
		    err, sizeof(err)));
	free(msg);
	free(padded);
	if (rc != WA_SIGNAL_DONE) {
		printf("SEND-FAIL %d %s %s\n", idx, id, err);
		fflush(stdout);
		return;
	}
	n = wa_node_new("message");
	wa_node_set_attr(n, "id", id);
	wa_node_set_attr(n, "to", chat);
	wa_node_set_attr(n, "type", "text");
	to = wa_node_add_child(wa_node_add_child(n, wa_node_new("participants")), wa_node_new("to"));
	wa_node_set_attr(to, "jid", dev);
	enc = wa_node_add_child(to, wa_node_new("enc"));
	wa_node_set_attr(enc, "v", "2");
	wa_node_set_attr(enc, "type", t == WA_SIGNAL_PKMSG ? "pkmsg" : "msg");
	wa_node_set_bytes(enc, ct, ctlen);
	free(ct);
	pm_send(c, n);
	printf("SENT %d %s %s\n", idx, id, t == WA_SIGNAL_PKMSG ? "pkmsg" : "msg");
	fflush(stdout);
}

void
probe_msg_command(int idx, struct fw_sigstore *st, struct wa_conn *c, char *line)
{
	char *verb, *a1, *a2, *a3, *a4, *save = NULL, *j;
	struct wa_node *n, *parts, *to, *enc, *q, *u, *list;
	uint8_t *bytes;
	size_t len;

	if (line[strspn(line, " ")] == 'g') {
		probe_group_command(idx, st, c, line);
		return;
	}
	verb = strtok(line, " \n");
	a1 = strtok(NULL, " \n");
	a2 = strtok(NULL, " \n");
	a3 = strtok(NULL, " \n");
	a4 = strtok(NULL, " \n");
	if (verb != NULL && strcmp(verb, "sendtext") == 0 && a3 != NULL && a4 != NULL) {
		char *more = strtok(NULL, "\n");
		char text[FW_TEXT_MAX + 1];

		/* the text is the rest of the line, spaces included */
		snprintf(text, sizeof(text), "%s%s%s", a4, more ? " " : "", more ? more : "");
		pm_sendtext(idx, st, c, a1, a2, a3, text);
	} else if (verb != NULL && strcmp(verb, "send") == 0 && a4 != NULL && (bytes = pm_unhex(a4, &len)) != NULL) {
		n = wa_node_new("message");
		wa_node_set_attr(n, "id", a1);
		wa_node_set_attr(n, "to", a2);
		wa_node_set_attr(n, "type", "text");
		parts = wa_node_add_child(n, wa_node_new("participants"));
		for (j = strtok_r(a3, ",", &save); j != NULL; j = strtok_r(NULL, ",", &save)) {
			to = wa_node_add_child(parts, wa_node_new("to"));
			wa_node_set_attr(to, "jid", j);
			enc = wa_node_add_child(to, wa_node_new("enc"));
			wa_node_set_attr(enc, "v", "2");
			wa_node_set_attr(enc, "type", "msg");
			wa_node_set_bytes(enc, bytes, len);
		}
		free(bytes);
		pm_send(c, n);
	} else if (verb != NULL && strcmp(verb, "sendbad") == 0 && a3 != NULL) {
		/* a stanza fakewa must refuse: neither <participants> nor <enc> ("none"), or both ("both") */
		n = wa_node_new("message");
		wa_node_set_attr(n, "id", a1);
		wa_node_set_attr(n, "to", a2);
		wa_node_set_attr(n, "type", "text");
		if (strcmp(a3, "both") == 0) {
			wa_node_add_child(n, wa_node_new("participants"));
			enc = wa_node_add_child(n, wa_node_new("enc"));
			wa_node_set_attr(enc, "type", "msg");
			wa_node_set_bytes(enc, "x", 1);
		}
		pm_send(c, n);
	} else if (verb != NULL && strcmp(verb, "call") == 0 && a3 != NULL) {
		/* call <stanza id|-> <to jid> <tag|-> [<call-id> <call-creator> <count>]: a <call> as a client
		 * answers one (whatsmeow's RejectCall: <reject call-id call-creator count="0"/>) */
		char *a5 = strtok(NULL, " \n"), *a6 = strtok(NULL, " \n");

		n = wa_node_new("call");
		if (strcmp(a1, "-") != 0)
			wa_node_set_attr(n, "id", a1);
		wa_node_set_attr(n, "to", a2);
		if (strcmp(a3, "-") != 0) {
			q = wa_node_add_child(n, wa_node_new(a3));
			if (a4 != NULL)
				wa_node_set_attr(q, "call-id", a4);
			if (a5 != NULL)
				wa_node_set_attr(q, "call-creator", a5);
			if (a6 != NULL)
				wa_node_set_attr(q, "count", a6);
		}
		pm_send(c, n);
	} else if (verb != NULL && strcmp(verb, "receipt") == 0 && a3 != NULL) {
		n = wa_node_new("receipt");
		wa_node_set_attr(n, "id", a1);
		wa_node_set_attr(n, "to", a2);
		if (strcmp(a3, "-") != 0)
			wa_node_set_attr(n, "type", a3);
		pm_send(c, n);
	} else if (verb != NULL && strcmp(verb, "usync") == 0 && a1 != NULL) {
		n = probe_companion_iq("probe-usync", "get", "usync");
		u = wa_node_add_child(n, wa_node_new("usync"));
		wa_node_set_attr(u, "sid", "probe-usync");
		wa_node_set_attr(u, "mode", "query");
		wa_node_set_attr(u, "last", "true");
		wa_node_set_attr(u, "index", "0");
		wa_node_set_attr(u, "context", "message");
		q = wa_node_add_child(u, wa_node_new("query"));
		wa_node_set_attr(wa_node_add_child(q, wa_node_new("devices")), "version", "2");
		wa_node_add_child(q, wa_node_new("contact"));
		wa_node_add_child(q, wa_node_new("lid"));
		list = wa_node_add_child(u, wa_node_new("list"));
		for (j = strtok_r(a1, ",", &save); j != NULL; j = strtok_r(NULL, ",", &save))
			wa_node_set_attr(wa_node_add_child(list, wa_node_new("user")), "jid", j);
		pm_send(c, n);
	} else if (verb != NULL && strcmp(verb, "key") == 0 && a1 != NULL) {
		n = probe_companion_iq("probe-key", "get", "encrypt");
		q = wa_node_add_child(n, wa_node_new("key"));
		for (j = strtok_r(a1, ",", &save); j != NULL; j = strtok_r(NULL, ",", &save)) {
			u = wa_node_add_child(q, wa_node_new("user"));
			wa_node_set_attr(u, "jid", j);
			wa_node_set_attr(u, "reason", "identity");
		}
		pm_send(c, n);
	} else {
		printf("BADCMD %d\n", idx);
		fflush(stdout);
	}
}
