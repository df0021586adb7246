/* Test-only: the scripted supervisor of msg_sup_testlib.h. */
#include "msg_sup_testlib.h"
#include "wa_prekey.h"

#include <event2/event.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

struct msg_sup sup;

struct event_base *
worker_base(const struct worker *w)
{
	(void)w;
	return sup.base;
}

const char *
worker_instance_name(const struct worker *w)
{
	(void)w;
	return "test";
}

const struct settings *
worker_settings(const struct worker *w)
{
	(void)w;
	return &sup.settings;
}

/* No proxy, no media host, no extra CA: a history chunk as a media blob is not downloaded in these tests (the
 * end-to-end test downloads one from fakewa). */
const struct proxy *
worker_proxy(const struct worker *w)
{
	(void)w;
	return NULL;
}

const char *
worker_wa_media_url(const struct worker *w)
{
	(void)w;
	return NULL;
}

const char *
worker_wa_tls_ca_file(const struct worker *w)
{
	(void)w;
	return NULL;
}

int
worker_request_signal_load(struct worker *w, Wagate__Ipc__SignalKey **keys, size_t n, worker_signal_cb cb,
    void *arg)
{
	(void)w;
	assert_null(sup.load_cb);
	assert_null(sup.store_cb);
	if (sup.refuse_requests)
		return -1;
	sup.load_cb = cb;
	sup.load_keys = keys;
	sup.nload = n;
	sup.load_arg = arg;
	sup.nloads++;
	return 0;
}

/* The request is a copy (packed and unpacked): the executor frees its own once the call returns. */
int
worker_request_msg_store(struct worker *w, const Wagate__Ipc__MessageStore *m, worker_reply_cb cb, void *arg)
{
	size_t len = wagate__ipc__message_store__get_packed_size(m);
	uint8_t *buf = malloc(len + 1);

	(void)w;
	assert_null(sup.load_cb);
	assert_null(sup.store_cb);
	wagate__ipc__message_store__pack(m, buf);
	if (sup.store != NULL)
		wagate__ipc__message_store__free_unpacked(sup.store, NULL);
	sup.store = wagate__ipc__message_store__unpack(NULL, len, buf);
	free(buf);
	assert_non_null(sup.store);
	sup.store_cb = cb;
	sup.store_arg = arg;
	sup.nstores++;
	return 0;
}

void
sup_init(void)
{
	memset(&sup, 0, sizeof(sup));
	sup.base = event_base_new();
}

void
sup_free(void)
{
	sigdb_free(&sup.db);
	if (sup.store != NULL)
		wagate__ipc__message_store__free_unpacked(sup.store, NULL);
	sup.store = NULL;
	event_base_free(sup.base);
	sup.base = NULL;
}

void
sup_answer_load(int ok)
{
	Wagate__Ipc__SignalRecord *recs, **recp;
	worker_signal_cb cb = sup.load_cb;
	size_t i, n = sup.nload;

	assert_non_null(cb);
	sup.load_cb = NULL;
	recs = calloc(n, sizeof(*recs));
	recp = calloc(n, sizeof(*recp));
	for (i = 0; i < n; i++) {
		const Wagate__Ipc__SignalKey *k = sup.load_keys[i];
		struct sigdb_row *r = *sigdb_find(&sup.db, (int)k->kind, k->address, k->group, k->prekey_id);

		wagate__ipc__signal_record__init(&recs[i]);
		recs[i].key = sup.load_keys[i];
		recs[i].found = r != NULL;
		if (r != NULL) {
			recs[i].data.data = r->data;
			recs[i].data.len = r->len;
		}
		recp[i] = &recs[i];
	}
	if (ok)
		cb(sup.load_arg, 1, NULL, recp, n);
	else
		cb(sup.load_arg, 0, sup.fail_error != NULL ? sup.fail_error : "database down", NULL, 0);
	free(recs);
	free(recp);
}

void
sup_answer_store(int ok)
{
	worker_reply_cb cb = sup.store_cb;
	size_t i;

	assert_non_null(cb);
	sup.store_cb = NULL;
	for (i = 0; ok && i < sup.store->n_changes; i++) {
		const Wagate__Ipc__SignalChange *c = sup.store->changes[i];

		sigdb_set(&sup.db, (int)c->key->kind, c->key->address, c->key->group, c->key->prekey_id,
		    c->deleted ? NULL : c->data.data, c->data.len);
	}
	cb(sup.store_arg, ok, ok ? NULL : sup.fail_error != NULL ? sup.fail_error : "commit failed");
}

void
sup_own_bundle(const struct creds *c, uint32_t id, struct wa_signal_bundle *b)
{
	struct wa_prekey pk;
	uint8_t *rec;
	size_t len;

	assert_int_equal(wa_prekey_generate(id, &pk), 0);
	assert_int_equal(wa_prekey_encode(&pk, &rec, &len), 0);
	sigdb_set(&sup.db, WAGATE__IPC__SIGNAL_KIND__SIGNAL_KIND_PREKEY, "", "", id, rec, len);
	free(rec);
	memset(b, 0, sizeof(*b));
	b->registration_id = c->registration_id;
	b->device_id = 1;
	b->has_prekey = 1;
	b->prekey_id = id;
	memcpy(b->prekey_pub, pk.pub, 32);
	b->signed_prekey_id = c->signed_prekey.id;
	memcpy(b->signed_prekey_pub, c->signed_prekey.pub, 32);
	memcpy(b->signed_prekey_sig, c->signed_prekey.sig, 64);
	memcpy(b->identity_pub, c->identity_pub, 32);
}

struct wa_signal *
peer_new(void)
{
	struct wa_signal_own own;
	struct wa_signal *p;
	struct creds *ac;
	char err[256];

	ac = creds_generate();
	memset(&own, 0, sizeof(own));
	own.registration_id = ac->registration_id;
	memcpy(own.identity_priv, ac->identity_priv, 32);
	own.signed_prekey_id = ac->signed_prekey.id;
	memcpy(own.signed_prekey_priv, ac->signed_prekey.priv, 32);
	memcpy(own.signed_prekey_sig, ac->signed_prekey.sig, 64);
	own.signed_prekey_timestamp = ac->signed_prekey.timestamp;
	creds_free(ac);
	p = wa_signal_new(&own, 256, 1 << 20, err, sizeof(err));
	assert_non_null(p);
	return p;
}

int
peer_done(struct wa_signal *p, int rc)
{
	struct wa_signal_change *v;
	size_t n;

	assert_int_equal(rc, WA_SIGNAL_DONE);
	wa_signal_take_changes(p, &v, &n);
	wa_signal_changes_free(v, n);
	return rc;
}
