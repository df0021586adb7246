/* wa_signal: two (or three) in-process parties, each with its own Signal layer and a toy "database" that the
 * test keeps in step through the NEED / take_changes contract, as the worker will with PostgreSQL. */
#include "wa_signal.h"
#include "wa_noise.h"
#include "wa_prekey.h"
#include "wa_xeddsa.h"
#include "sigdb_testlib.h"

#include <mbedtls/sha256.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define NPREKEYS 4
/* SHA-256 of the session record of test_signal_deterministic (our own output pinned: a change in how we drive
 * libsignal or in its serialization shows here). */
#define DETERMINISTIC_HASH "0022b197329e9543f71ce4668efc4e4c9ff0d00835f8d34e162108d6062d93c2"

struct party {
	char addr[64];
	struct wa_signal *s;
	struct wa_signal_own own;
	uint8_t identity_pub[32];
	uint8_t spk_pub[32];
	struct wa_prekey prekeys[NPREKEYS];
	struct sigdb_row *db;	/* its database */
	int loads;		/* NEED rounds answered */
	int identity_changes;	/* identity_changed flags seen */
	size_t last_changes;	/* changes written after the last operation */
};

/* The row of key k in p's database. */
static struct sigdb_row **
db_find(struct party *p, const struct wa_signal_key *k)
{
	return sigdb_find(&p->db, (int)k->kind, k->address, k->group, k->prekey_id);
}

/* Write or (data NULL) delete a row. */
static void
db_set(struct party *p, const struct wa_signal_key *k, const uint8_t *data, size_t len)
{
	sigdb_set(&p->db, (int)k->kind, k->address, k->group, k->prekey_id, data, len);
}

/* Answer a NEED: every needed key from the database, or absent. */
static void
db_load(struct party *p)
{
	const struct wa_signal_key *k;
	size_t n, i;
	char err[256];

	k = wa_signal_needed(p->s, &n);
	assert_true(n > 0);
	for (i = 0; i < n; i++) {
		struct sigdb_row *r = *db_find(p, &k[i]);
		assert_int_equal(wa_signal_put(p->s, &k[i], r ? r->data : NULL, r ? r->len : 0, err, sizeof(err)), 0);
	}
	p->loads++;
}

/* The one transaction after an operation. */
static void
db_save(struct party *p)
{
	struct wa_signal_change *v;
	size_t n, i;

	wa_signal_take_changes(p->s, &v, &n);
	for (i = 0; i < n; i++) {
		if (v[i].key.kind == WA_SIGNAL_PREKEY)
			assert_null(v[i].data);
		db_set(p, &v[i].key, v[i].data, v[i].len);
		p->identity_changes += v[i].identity_changed;
	}
	p->last_changes = n;
	wa_signal_changes_free(v, n);
}

/* Run an operation as the worker will: load what it lacks and run it again, then save its changes. */
#define RUN(p, call) ({ \
	int rc_, round_ = 0; \
	while ((rc_ = (call)) == WA_SIGNAL_NEED && round_++ < 3) \
		db_load(p); \
	assert_int_not_equal(rc_, WA_SIGNAL_NEED); \
	db_save(p); \
	rc_; })

static void
party_init(struct party *p, const char *addr, uint32_t regid, uint32_t first_prekey, size_t cap)
{
	struct wa_signed_prekey spk;
	char err[256];
	int i;

	memset(p, 0, sizeof(*p));
	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	assert_int_equal(wa_prekey_keypair(p->own.identity_priv, p->identity_pub), 0);
	assert_int_equal(wa_prekey_signed_generate(1, p->own.identity_priv, 1700000000000ull, &spk), 0);
	p->own.registration_id = regid;
	p->own.signed_prekey_id = spk.id;
	memcpy(p->own.signed_prekey_priv, spk.priv, 32);
	memcpy(p->own.signed_prekey_sig, spk.sig, 64);
	memcpy(p->spk_pub, spk.pub, 32);
	p->own.signed_prekey_timestamp = spk.timestamp;
	for (i = 0; i < NPREKEYS; i++) {
		struct wa_signal_key k = { .kind = WA_SIGNAL_PREKEY, .prekey_id = first_prekey + (uint32_t)i };
		assert_int_equal(wa_prekey_generate(first_prekey + (uint32_t)i, &p->prekeys[i]), 0);
		db_set(p, &k, p->prekeys[i].priv, 32);
	}
	p->s = wa_signal_new(&p->own, cap, cap * 4096, err, sizeof(err));
	assert_non_null(p->s);
}

static void
party_free(struct party *p)
{
	wa_signal_free(p->s);
	sigdb_free(&p->db);
}

/* p's bundle with its i-th one-time prekey (or none when i < 0). */
static void
party_bundle(const struct party *p, int i, struct wa_signal_bundle *b)
{
	memset(b, 0, sizeof(*b));
	b->registration_id = p->own.registration_id;
	b->device_id = (uint32_t)atoi(strrchr(p->addr, ':') + 1);
	if (i >= 0) {
		b->has_prekey = 1;
		b->prekey_id = p->prekeys[i].id;
		memcpy(b->prekey_pub, p->prekeys[i].pub, 32);
	}
	b->signed_prekey_id = p->own.signed_prekey_id;
	memcpy(b->signed_prekey_pub, p->spk_pub, 32);
	memcpy(b->signed_prekey_sig, p->own.signed_prekey_sig, 64);
	memcpy(b->identity_pub, p->identity_pub, 32);
}

struct msg {
	enum wa_signal_type type;
	uint8_t *ct;
	size_t len;
};

static struct msg
send_msg(struct party *from, struct party *to, const char *text)
{
	struct msg m;
	char err[256];

	assert_int_equal(RUN(from, wa_signal_encrypt(from->s, to->addr, (const uint8_t *)text, strlen(text),
	    &m.type, &m.ct, &m.len, err, sizeof(err))), WA_SIGNAL_DONE);
	return m;
}

/* Decrypt m at to; the plaintext must be text. Returns the result, with the error class in *e. */
static int
recv_msg(struct party *to, struct party *from, const struct msg *m, const char *text, enum wa_signal_error *e)
{
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	char err[256];
	int rc = RUN(to, wa_signal_decrypt(to->s, from->addr, m->type, m->ct, m->len, &pt, &ptlen, err,
	    sizeof(err)));

	*e = wa_signal_error(to->s);
	if (rc == WA_SIGNAL_DONE) {
		assert_int_equal(ptlen, strlen(text));
		assert_memory_equal(pt, text, ptlen);
		free(pt);
	} else
		assert_null(pt);
	return rc;
}

static void
recv_ok(struct party *to, struct party *from, struct msg *m, const char *text)
{
	enum wa_signal_error e;

	assert_int_equal(recv_msg(to, from, m, text, &e), WA_SIGNAL_DONE);
	free(m->ct);
}

/* alice builds a session from bob's bundle (prekey i) and they talk once each way. */
static void
establish(struct party *a, struct party *b, int i)
{
	struct wa_signal_bundle bundle;
	struct msg m;
	char err[256];

	party_bundle(b, i, &bundle);
	assert_int_equal(RUN(a, wa_signal_session_build(a->s, b->addr, &bundle, err, sizeof(err))), WA_SIGNAL_DONE);
	m = send_msg(a, b, "hello bob");
	assert_int_equal(m.type, WA_SIGNAL_PKMSG);
	recv_ok(b, a, &m, "hello bob");
	m = send_msg(b, a, "hello alice");
	assert_int_equal(m.type, WA_SIGNAL_MSG);
	recv_ok(a, b, &m, "hello alice");
}

static int
db_has(struct party *p, enum wa_signal_kind kind, const char *addr, const char *group, uint32_t id)
{
	struct wa_signal_key k = { kind, addr, group, id };

	return *db_find(p, &k) != NULL;
}

static void
test_signal_pairwise(void **state)
{
	struct party a, b;
	struct msg m;
	char text[64], err[256];
	int i, j, has = -1;

	(void)state;
	party_init(&a, "15551230001:0", 101, 1, 1000);
	party_init(&b, "123456789012345_1:5", 202, 1, 1000);
	/* has_session asks for the record it lacks and changes nothing */
	assert_int_equal(RUN(&a, wa_signal_has_session(a.s, b.addr, &has, err, sizeof(err))), WA_SIGNAL_DONE);
	assert_int_equal(has, 0);
	assert_int_equal(a.last_changes, 0);
	establish(&a, &b, 0);
	wa_signal_clear(a.s);
	assert_int_equal(RUN(&a, wa_signal_has_session(a.s, b.addr, &has, err, sizeof(err))), WA_SIGNAL_DONE);
	assert_int_equal(has, 1);
	assert_int_equal(wa_signal_has_session(a.s, "no-device", &has, err, sizeof(err)), WA_SIGNAL_FAILED);
	/* bob's one-time prekey went with the pkmsg; both sides saved session and identity */
	assert_false(db_has(&b, WA_SIGNAL_PREKEY, NULL, NULL, 1));
	assert_true(db_has(&b, WA_SIGNAL_PREKEY, NULL, NULL, 2));
	assert_true(db_has(&b, WA_SIGNAL_SESSION, a.addr, NULL, 0));
	assert_true(db_has(&b, WA_SIGNAL_IDENTITY, a.addr, NULL, 0));
	assert_true(db_has(&a, WA_SIGNAL_SESSION, b.addr, NULL, 0));
	assert_true(db_has(&a, WA_SIGNAL_IDENTITY, b.addr, NULL, 0));
	assert_int_equal(a.identity_changes + b.identity_changes, 0);
	/* the ratchet advances both ways, in bursts */
	for (i = 0; i < 30; i++)
		for (j = 0; j < 1 + i % 3; j++) {
			struct party *from = i % 2 ? &a : &b, *to = i % 2 ? &b : &a;
			snprintf(text, sizeof(text), "message %d.%d", i, j);
			m = send_msg(from, to, text);
			assert_int_equal(m.type, WA_SIGNAL_MSG);
			recv_ok(to, from, &m, text);
		}
	/* a fresh cache (a restarted worker) loads everything it needs and goes on */
	wa_signal_clear(a.s);
	a.loads = 0;
	m = send_msg(&a, &b, "after restart");
	assert_int_equal(a.loads, 1);
	recv_ok(&b, &a, &m, "after restart");
	party_free(&a);
	party_free(&b);
}

static void
test_signal_out_of_order(void **state)
{
	struct party a, b;
	struct msg m[6], copy;
	enum wa_signal_error e;
	static const int order[] = { 4, 0, 2, 5, 1, 3 };
	char text[6][16];
	size_t i;

	(void)state;
	party_init(&a, "15551230001:0", 101, 1, 1000);
	party_init(&b, "15551230002:0", 202, 1, 1000);
	establish(&a, &b, 0);
	for (i = 0; i < 6; i++) {
		snprintf(text[i], sizeof(text[i]), "ooo %zu", i);
		m[i] = send_msg(&a, &b, text[i]);
	}
	copy.type = m[2].type;
	copy.len = m[2].len;
	copy.ct = malloc(copy.len);
	memcpy(copy.ct, m[2].ct, copy.len);
	for (i = 0; i < 6; i++)
		recv_ok(&b, &a, &m[order[i]], text[order[i]]);
	/* the same message again: refused as a duplicate, nothing to write */
	assert_int_equal(recv_msg(&b, &a, &copy, "", &e), WA_SIGNAL_FAILED);
	assert_int_equal(e, WA_SIGNAL_E_DUPLICATE);
	assert_int_equal(b.last_changes, 0);
	free(copy.ct);
	party_free(&a);
	party_free(&b);
}

static void
test_signal_tampered(void **state)
{
	struct wa_signal_bundle bundle;
	struct party a, b;
	struct msg m, pk;
	enum wa_signal_error e;
	char err[256];
	size_t i;

	(void)state;
	party_init(&a, "15551230001:0", 101, 1, 1000);
	party_init(&b, "15551230002:0", 202, 1, 1000);
	party_bundle(&b, 1, &bundle);
	assert_int_equal(RUN(&a, wa_signal_session_build(a.s, b.addr, &bundle, err, sizeof(err))), WA_SIGNAL_DONE);
	/* a pkmsg with its inner ciphertext or MAC changed: refused, bob's prekey and store untouched (the last
	 * five bytes are the registration and signed prekey ids, after the inner message) */
	pk = send_msg(&a, &b, "pk");
	for (i = pk.len - 20; i < pk.len - 6; i++) {
		pk.ct[i] ^= 0x20;
		assert_int_equal(recv_msg(&b, &a, &pk, "pk", &e), WA_SIGNAL_FAILED);
		assert_int_equal(e, WA_SIGNAL_E_INVALID);
		assert_int_equal(b.last_changes, 0);
		pk.ct[i] ^= 0x20;
	}
	assert_true(db_has(&b, WA_SIGNAL_PREKEY, NULL, NULL, 2));
	assert_false(db_has(&b, WA_SIGNAL_SESSION, a.addr, NULL, 0));
	recv_ok(&b, &a, &pk, "pk");
	assert_false(db_has(&b, WA_SIGNAL_PREKEY, NULL, NULL, 2));
	m = send_msg(&b, &a, "reply");
	recv_ok(&a, &b, &m, "reply");
	m = send_msg(&a, &b, "earlier");
	recv_ok(&b, &a, &m, "earlier");
	/* a msg with any byte changed: refused (bad MAC, broken protobuf, or a counter already used), nothing to
	 * write; the original still decrypts */
	m = send_msg(&a, &b, "tamper me");
	for (i = 0; i < m.len; i++) {
		m.ct[i] ^= 0x01;
		assert_int_equal(recv_msg(&b, &a, &m, "tamper me", &e), WA_SIGNAL_FAILED);
		assert_true(e == WA_SIGNAL_E_INVALID || e == WA_SIGNAL_E_DUPLICATE);
		assert_int_equal(b.last_changes, 0);
		m.ct[i] ^= 0x01;
	}
	recv_ok(&b, &a, &m, "tamper me");
	party_free(&a);
	party_free(&b);
}

static void
test_signal_unknown_prekey(void **state)
{
	struct wa_signal_bundle bundle;
	struct party a, b;
	struct msg m;
	enum wa_signal_error e;
	struct wa_prekey stray;
	char err[256];

	(void)state;
	party_init(&a, "15551230001:0", 101, 1, 1000);
	party_init(&b, "15551230002:0", 202, 1, 1000);
	/* a bundle naming a prekey bob never stored (or already used) */
	party_bundle(&b, 0, &bundle);
	assert_int_equal(wa_prekey_generate(999, &stray), 0);
	bundle.prekey_id = stray.id;
	memcpy(bundle.prekey_pub, stray.pub, 32);
	assert_int_equal(RUN(&a, wa_signal_session_build(a.s, b.addr, &bundle, err, sizeof(err))), WA_SIGNAL_DONE);
	m = send_msg(&a, &b, "to nowhere");
	b.loads = 0;
	assert_int_equal(recv_msg(&b, &a, &m, "", &e), WA_SIGNAL_FAILED);
	assert_int_equal(b.loads, 1);	/* asked for prekey 999, got "absent" */
	assert_int_equal(e, WA_SIGNAL_E_NO_PREKEY);
	assert_int_equal(b.last_changes, 0);
	assert_false(db_has(&b, WA_SIGNAL_SESSION, a.addr, NULL, 0));
	free(m.ct);
	/* an id that cannot travel in 3 bytes is unknown at once: never asked for, it could not be loaded (fuzz) */
	bundle.prekey_id = 0x1000000;
	assert_int_equal(RUN(&a, wa_signal_session_build(a.s, b.addr, &bundle, err, sizeof(err))), WA_SIGNAL_DONE);
	m = send_msg(&a, &b, "to nowhere");
	b.loads = 0;
	assert_int_equal(recv_msg(&b, &a, &m, "", &e), WA_SIGNAL_FAILED);
	assert_int_equal(e, WA_SIGNAL_E_NO_PREKEY);
	assert_int_equal(b.loads, 0);
	free(m.ct);
	/* a msg without a session */
	{
		struct party c;

		party_init(&c, "15551230003:0", 303, 1, 1000);
		establish(&a, &c, 0);
		m = send_msg(&a, &c, "not for bob");
		assert_int_equal(recv_msg(&b, &a, &m, "", &e), WA_SIGNAL_FAILED);
		assert_int_equal(e, WA_SIGNAL_E_NO_SESSION);
		free(m.ct);
		party_free(&c);
	}
	/* encrypting without a session */
	{
		enum wa_signal_type t;
		uint8_t *ct;
		size_t len;

		assert_int_equal(RUN(&b, wa_signal_encrypt(b.s, "15559999999:0", (const uint8_t *)"x", 1, &t, &ct, &len,
		    err, sizeof(err))), WA_SIGNAL_FAILED);
		assert_int_equal(wa_signal_error(b.s), WA_SIGNAL_E_NO_SESSION);
	}
	party_free(&a);
	party_free(&b);
}

static void
test_signal_identity_change(void **state)
{
	struct wa_signal_bundle bundle;
	struct party a, b, b2;
	struct msg old, m;
	enum wa_signal_error e;
	char err[256];

	(void)state;
	party_init(&a, "15551230001:0", 101, 1, 1000);
	party_init(&b, "15551230002:0", 202, 1, 1000);
	establish(&a, &b, 0);
	old = send_msg(&b, &a, "from the old install");
	/* bob reinstalls: same address, new identity; he writes first with a pkmsg */
	party_init(&b2, "15551230002:0", 203, 100, 1000);
	party_bundle(&a, 1, &bundle);
	assert_int_equal(RUN(&b2, wa_signal_session_build(b2.s, a.addr, &bundle, err, sizeof(err))), WA_SIGNAL_DONE);
	m = send_msg(&b2, &a, "new phone");
	assert_int_equal(m.type, WA_SIGNAL_PKMSG);
	assert_int_equal(a.identity_changes, 0);
	recv_ok(&a, &b2, &m, "new phone");
	assert_int_equal(a.identity_changes, 1);	/* reported once, with the new key saved */
	{
		struct wa_signal_key k = { WA_SIGNAL_IDENTITY, b.addr, NULL, 0 };
		assert_memory_equal((*db_find(&a, &k))->data, b2.identity_pub, 32);
	}
	/* the old session was dropped, not archived: the old install's message no longer decrypts */
	assert_int_equal(recv_msg(&a, &b, &old, "", &e), WA_SIGNAL_FAILED);
	free(old.ct);
	m = send_msg(&a, &b2, "welcome back");
	recv_ok(&b2, &a, &m, "welcome back");
	/* and the sending side: alice meets a changed identity in a bundle */
	party_free(&b);
	party_init(&b, "15551230002:0", 204, 200, 1000);
	party_bundle(&b, 0, &bundle);
	assert_int_equal(RUN(&a, wa_signal_session_build(a.s, b.addr, &bundle, err, sizeof(err))), WA_SIGNAL_DONE);
	assert_int_equal(a.identity_changes, 2);
	m = send_msg(&a, &b, "third install");
	assert_int_equal(m.type, WA_SIGNAL_PKMSG);
	recv_ok(&b, &a, &m, "third install");
	party_free(&a);
	party_free(&b);
	party_free(&b2);
}

/* forget_user: the user's cached sessions and identities go (a dirty one unwritten), others stay; answered as
 * absent, the next NEED leads to a fresh session from a bundle, which reaches the peer as a pkmsg. */
static void
test_signal_forget_user(void **state)
{
	struct wa_signal_key other = { WA_SIGNAL_SESSION, "155512300020:0", NULL, 0 };
	struct wa_signal_key lid = { WA_SIGNAL_IDENTITY, "15551230002_1:0", NULL, 0 };
	struct wa_signal_key gone[2] = { { WA_SIGNAL_SESSION, "15551230002:0", NULL, 0 }, { WA_SIGNAL_IDENTITY,
	    "15551230002:0", NULL, 0 } };
	struct wa_signal_bundle bundle;
	struct wa_signal_change *v;
	struct party a, b;
	struct msg m;
	enum wa_signal_type t;
	uint8_t *ct;
	size_t n, len, before, after, bytes;
	char err[256];
	int has;

	(void)state;
	party_init(&a, "15551230001:0", 101, 1, 1000);
	party_init(&b, "15551230002:0", 202, 1, 1000);
	establish(&a, &b, 0);
	assert_true(wa_signal_put(a.s, &other, (const uint8_t *)"x", 1, err, sizeof(err)) == 0 &&
	    wa_signal_put(a.s, &lid, b.identity_pub, 32, err, sizeof(err)) == 0);
	/* a dirty session record of bob, never taken */
	assert_int_equal(wa_signal_encrypt(a.s, b.addr, (const uint8_t *)"x", 1, &t, &ct, &len, err, sizeof(err)),
	    WA_SIGNAL_DONE);
	free(ct);
	wa_signal_cache_usage(a.s, &before, &bytes);
	assert_true(wa_signal_forget_user(a.s, NULL) == -1 && wa_signal_forget_user(a.s, "") == -1);
	assert_int_equal(wa_signal_forget_user(a.s, "15551230002:0"), -1);
	assert_int_equal(wa_signal_forget_user(a.s, "15551230002"), 0);
	wa_signal_cache_usage(a.s, &after, &bytes);
	assert_int_equal(after, before - 2);
	wa_signal_take_changes(a.s, &v, &n);
	assert_true(n == 0 && v == NULL);	/* the others are still cached: no NEED */
	assert_int_equal(wa_signal_has_session(a.s, other.address, &has, err, sizeof(err)), WA_SIGNAL_DONE);
	assert_int_equal(has, 1);
	/* bob's records are needed again; the caller deleted the rows and answers absent */
	assert_int_equal(wa_signal_has_session(a.s, b.addr, &has, err, sizeof(err)), WA_SIGNAL_NEED);
	db_set(&a, &gone[0], NULL, 0), db_set(&a, &gone[1], NULL, 0);
	assert_int_equal(RUN(&a, wa_signal_has_session(a.s, b.addr, &has, err, sizeof(err))), WA_SIGNAL_DONE);
	assert_int_equal(has, 0);
	party_bundle(&b, 1, &bundle);
	assert_int_equal(RUN(&a, wa_signal_session_build(a.s, b.addr, &bundle, err, sizeof(err))), WA_SIGNAL_DONE);
	assert_int_equal(a.identity_changes, 0);	/* nothing to compare with: trusted as new */
	m = send_msg(&a, &b, "after the reinstall");
	assert_int_equal(m.type, WA_SIGNAL_PKMSG);
	recv_ok(&b, &a, &m, "after the reinstall");
	party_free(&a);
	party_free(&b);
}

#define GROUP "120363000000000001@g.us"

static void
group_send(struct party *from, struct party **to, int nto, const char *text)
{
	uint8_t *ct, *pt;
	size_t ctlen, ptlen;
	char err[256];
	int i;

	assert_int_equal(RUN(from, wa_signal_group_encrypt(from->s, GROUP, from->addr, (const uint8_t *)text,
	    strlen(text), &ct, &ctlen, err, sizeof(err))), WA_SIGNAL_DONE);
	for (i = 0; i < nto; i++) {
		assert_int_equal(RUN(to[i], wa_signal_group_decrypt(to[i]->s, GROUP, from->addr, ct, ctlen, &pt, &ptlen,
		    err, sizeof(err))), WA_SIGNAL_DONE);
		assert_int_equal(ptlen, strlen(text));
		assert_memory_equal(pt, text, ptlen);
		free(pt);
		/* the same skmsg twice is a duplicate */
		assert_int_equal(RUN(to[i], wa_signal_group_decrypt(to[i]->s, GROUP, from->addr, ct, ctlen, &pt,
		    &ptlen, err, sizeof(err))), WA_SIGNAL_FAILED);
		assert_int_equal(wa_signal_error(to[i]->s), WA_SIGNAL_E_DUPLICATE);
		assert_int_equal(to[i]->last_changes, 0);
	}
	free(ct);
}

static void
test_signal_group(void **state)
{
	struct party p[3], *others[2];
	uint8_t *skdm[3], *ct, *pt;
	size_t skdmlen[3], ctlen, ptlen;
	char err[256], text[64];
	int i, j, round;

	(void)state;
	party_init(&p[0], "15551230001:0", 101, 1, 1000);
	party_init(&p[1], "15551230002:3", 202, 1, 1000);
	party_init(&p[2], "123456789012345_1:7", 303, 1, 1000);
	/* nobody can read an skmsg before the distribution message */
	assert_int_equal(RUN(&p[0], wa_signal_group_create(p[0].s, GROUP, p[0].addr, &skdm[0], &skdmlen[0], err,
	    sizeof(err))), WA_SIGNAL_DONE);
	assert_int_equal(RUN(&p[0], wa_signal_group_encrypt(p[0].s, GROUP, p[0].addr, (const uint8_t *)"early", 5, &ct,
	    &ctlen, err, sizeof(err))), WA_SIGNAL_DONE);
	assert_int_equal(RUN(&p[1], wa_signal_group_decrypt(p[1].s, GROUP, p[0].addr, ct, ctlen, &pt, &ptlen, err,
	    sizeof(err))), WA_SIGNAL_FAILED);
	assert_int_equal(wa_signal_error(p[1].s), WA_SIGNAL_E_NO_SESSION);
	free(ct);
	for (i = 1; i < 3; i++)
		assert_int_equal(RUN(&p[i], wa_signal_group_create(p[i].s, GROUP, p[i].addr, &skdm[i], &skdmlen[i], err,
		    sizeof(err))), WA_SIGNAL_DONE);
	/* creating again returns the same key's distribution message, with nothing new to write */
	{
		uint8_t *again;
		size_t againlen;

		assert_int_equal(RUN(&p[0], wa_signal_group_create(p[0].s, GROUP, p[0].addr, &again, &againlen, err,
		    sizeof(err))), WA_SIGNAL_DONE);
		assert_int_equal(againlen, skdmlen[0]);
		free(again);
	}
	for (i = 0; i < 3; i++)
		for (j = 0; j < 3; j++)
			if (i != j)
				assert_int_equal(RUN(&p[j], wa_signal_group_process(p[j].s, GROUP, p[i].addr, skdm[i],
				    skdmlen[i], err, sizeof(err))), WA_SIGNAL_DONE);
	for (round = 0; round < 5; round++)
		for (i = 0; i < 3; i++) {
			others[0] = &p[(i + 1) % 3];
			others[1] = &p[(i + 2) % 3];
			snprintf(text, sizeof(text), "group message %d from %d", round, i);
			group_send(&p[i], others, 2, text);
		}
	/* a tampered skmsg fails on its signature, nothing written */
	assert_int_equal(RUN(&p[0], wa_signal_group_encrypt(p[0].s, GROUP, p[0].addr, (const uint8_t *)"sig", 3, &ct,
	    &ctlen, err, sizeof(err))), WA_SIGNAL_DONE);
	ct[ctlen / 2] ^= 1;
	assert_int_equal(RUN(&p[1], wa_signal_group_decrypt(p[1].s, GROUP, p[0].addr, ct, ctlen, &pt, &ptlen, err,
	    sizeof(err))), WA_SIGNAL_FAILED);
	assert_int_equal(wa_signal_error(p[1].s), WA_SIGNAL_E_INVALID);
	assert_int_equal(p[1].last_changes, 0);
	free(ct);
	for (i = 0; i < 3; i++) {
		free(skdm[i]);
		party_free(&p[i]);
	}
}

static void
test_signal_cache_cap(void **state)
{
	struct party a, peers[12];
	struct wa_signal_bundle bundle;
	struct wa_signal_change *v;
	const struct wa_signal_key *need;
	size_t records, bytes, n, i;
	enum wa_signal_type t;
	uint8_t *ct;
	size_t ctlen;
	char err[256], addr[32];
	int rc;

	(void)state;
	party_init(&a, "15551230001:0", 101, 1, 16);
	for (i = 0; i < 12; i++) {
		snprintf(addr, sizeof(addr), "1555000%04zu:0", i);
		party_init(&peers[i], addr, 300 + (uint32_t)i, 1, 1000);
	}
	/* twelve sessions built and not yet saved: 24 dirty records stay over the cap of 16 */
	for (i = 0; i < 12; i++) {
		party_bundle(&peers[i], 0, &bundle);
		while ((rc = wa_signal_session_build(a.s, peers[i].addr, &bundle, err, sizeof(err))) == WA_SIGNAL_NEED)
			db_load(&a);
		assert_int_equal(rc, WA_SIGNAL_DONE);
	}
	wa_signal_cache_usage(a.s, &records, &bytes);
	assert_true(records >= 24);
	/* once written they are clean, and the oldest go */
	wa_signal_take_changes(a.s, &v, &n);
	assert_int_equal(n, 24);
	for (i = 0; i < n; i++)
		db_set(&a, &v[i].key, v[i].data, v[i].len);
	wa_signal_changes_free(v, n);
	wa_signal_cache_usage(a.s, &records, &bytes);
	assert_true(records <= 16);
	wa_signal_take_changes(a.s, &v, &n);
	assert_int_equal(n, 0);
	assert_null(v);
	/* the first peer's session was evicted: encrypting asks for it, and works once it is put back */
	rc = wa_signal_encrypt(a.s, peers[0].addr, (const uint8_t *)"x", 1, &t, &ct, &ctlen, err, sizeof(err));
	assert_int_equal(rc, WA_SIGNAL_NEED);
	need = wa_signal_needed(a.s, &n);
	assert_int_equal(n, 1);
	assert_int_equal(need[0].kind, WA_SIGNAL_SESSION);
	assert_string_equal(need[0].address, peers[0].addr);
	db_load(&a);
	assert_int_equal(wa_signal_encrypt(a.s, peers[0].addr, (const uint8_t *)"x", 1, &t, &ct, &ctlen, err,
	    sizeof(err)), WA_SIGNAL_DONE);
	assert_int_equal(t, WA_SIGNAL_PKMSG);
	db_save(&a);
	{
		struct msg m = { t, ct, ctlen };
		recv_ok(&peers[0], &a, &m, "x");
	}
	/* the byte cap holds too: 16 records of 60 KiB do not fit in 64 KiB */
	{
		struct wa_signal *s = wa_signal_new(&a.own, 16, 64 * 1024, err, sizeof(err));
		uint8_t big[60 * 1024];

		assert_non_null(s);
		memset(big, 7, sizeof(big));
		for (i = 0; i < 16; i++) {
			snprintf(addr, sizeof(addr), "1555000%04zu:0", i);
			assert_int_equal(wa_signal_put(s, &(struct wa_signal_key){ WA_SIGNAL_SESSION, addr, NULL, 0 }, big,
			    sizeof(big), err, sizeof(err)), 0);
		}
		/* records just put stay until an operation has run (the caller loaded them for it) */
		wa_signal_cache_usage(s, &records, &bytes);
		assert_int_equal(records, 16);
		assert_int_equal(wa_signal_decrypt(s, addr, WA_SIGNAL_MSG, (const uint8_t *)"junk", 4, &ct, &ctlen, err,
		    sizeof(err)), WA_SIGNAL_FAILED);
		wa_signal_cache_usage(s, &records, &bytes);
		assert_int_equal(records, 1);
		assert_true(bytes <= 64 * 1024);
		wa_signal_free(s);
	}
	for (i = 0; i < 12; i++)
		party_free(&peers[i]);
	party_free(&a);
}

static void
test_signal_padding(void **state)
{
	static const uint8_t ok1[] = { 'a', 'b', 'c', 1 }, ok2[] = { 'a', 2, 2 }, all[] = { 3, 3, 3 };
	static const uint8_t zero[] = { 'a', 0 }, toolong[] = { 'a', 5 }, mixed[] = { 'a', 1, 2 };
	uint8_t in[40], *out;
	size_t len, outlen, i;
	int seen[17] = { 0 };

	(void)state;
	assert_int_equal(wa_signal_unpad(ok1, sizeof(ok1), &len), 0);
	assert_int_equal(len, 3);
	assert_int_equal(wa_signal_unpad(ok2, sizeof(ok2), &len), 0);
	assert_int_equal(len, 1);
	assert_int_equal(wa_signal_unpad(all, sizeof(all), &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(wa_signal_unpad(zero, sizeof(zero), &len), -1);
	assert_int_equal(wa_signal_unpad(toolong, sizeof(toolong), &len), -1);
	assert_int_equal(wa_signal_unpad(mixed, sizeof(mixed), &len), -1);
	assert_int_equal(wa_signal_unpad(ok1, 0, &len), -1);
	memset(in, 'x', sizeof(in));
	for (i = 0; i < 2000; i++) {
		assert_int_equal(wa_signal_pad(in, i % 40, &out, &outlen), 0);
		assert_true(outlen > i % 40 && outlen <= i % 40 + 16);
		seen[outlen - i % 40]++;
		assert_int_equal(wa_signal_unpad(out, outlen, &len), 0);
		assert_int_equal(len, i % 40);
		free(out);
	}
	for (i = 1; i <= 16; i++)
		assert_true(seen[i] > 0);
}

/* A deterministic random source: SHA-256 of a counter. */
static void
test_random(void *buf, size_t n, void *arg)
{
	uint64_t *ctr = arg;
	uint8_t block[32], in[8];
	size_t k;

	while (n > 0) {
		memcpy(in, ctr, 8);
		(*ctr)++;
		mbedtls_sha256_ret(in, sizeof(in), block, 0);
		k = n < 32 ? n : 32;
		memcpy(buf, block, k);
		buf = (uint8_t *)buf + k;
		n -= k;
	}
}

/* Fixed keys and fixed randomness: alice's session record after building from bob's bundle and encrypting one
 * message, hashed. */
static void
deterministic_record(uint8_t hash[32])
{
	struct wa_signal_own own = { .registration_id = 7, .signed_prekey_id = 1, .signed_prekey_timestamp = 1 };
	struct wa_signal_bundle b = { .registration_id = 9, .device_id = 0, .has_prekey = 1, .prekey_id = 5,
	    .signed_prekey_id = 1 };
	struct wa_signal_change *v;
	uint8_t spk_pub[32], bob_id[32], nonce[64] = { 0 }, msg[33], *ct;
	size_t n, i, ctlen;
	enum wa_signal_type t;
	uint64_t ctr = 0;
	struct wa_signal *s;
	char err[256];

	memset(own.identity_priv, 0x11, 32);
	memset(own.signed_prekey_priv, 0x22, 32);
	own.identity_priv[0] &= 248;
	own.identity_priv[31] = (own.identity_priv[31] & 127) | 64;
	own.signed_prekey_priv[0] &= 248;
	own.signed_prekey_priv[31] = (own.signed_prekey_priv[31] & 127) | 64;
	assert_int_equal(wa_noise_pubkey(own.signed_prekey_priv, spk_pub), 0);
	msg[0] = 5;
	memcpy(msg + 1, spk_pub, 32);
	assert_int_equal(wa_xeddsa_sign_with_random(own.identity_priv, msg, 33, nonce, own.signed_prekey_sig), 0);
	/* bob's bundle: the same private keys, so one set of fixed keys serves both */
	assert_int_equal(wa_noise_pubkey(own.identity_priv, bob_id), 0);
	memcpy(b.identity_pub, bob_id, 32);
	memcpy(b.signed_prekey_pub, spk_pub, 32);
	memcpy(b.signed_prekey_sig, own.signed_prekey_sig, 64);
	memcpy(b.prekey_pub, spk_pub, 32);
	s = wa_signal_new(&own, 16, 1 << 20, err, sizeof(err));
	assert_non_null(s);
	wa_signal_set_random(s, test_random, &ctr);
	assert_int_equal(wa_signal_put(s, &(struct wa_signal_key){ WA_SIGNAL_SESSION, "15550000000:0", NULL, 0 }, NULL,
	    0, err, sizeof(err)), 0);
	assert_int_equal(wa_signal_put(s, &(struct wa_signal_key){ WA_SIGNAL_IDENTITY, "15550000000:0", NULL, 0 },
	    NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(wa_signal_session_build(s, "15550000000:0", &b, err, sizeof(err)), WA_SIGNAL_DONE);
	assert_int_equal(wa_signal_encrypt(s, "15550000000:0", (const uint8_t *)"fixed", 5, &t, &ct, &ctlen, err,
	    sizeof(err)), WA_SIGNAL_DONE);
	free(ct);
	wa_signal_take_changes(s, &v, &n);
	memset(hash, 0, 32);
	for (i = 0; i < n; i++)
		if (v[i].key.kind == WA_SIGNAL_SESSION)
			mbedtls_sha256_ret(v[i].data, v[i].len, hash, 0);
	wa_signal_changes_free(v, n);
	wa_signal_free(s);
}

static void
test_signal_deterministic(void **state)
{
	uint8_t h1[32], h2[32];
	char hex[65];
	int i;

	(void)state;
	deterministic_record(h1);
	deterministic_record(h2);
	assert_memory_equal(h1, h2, 32);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", h1[i]);
	print_message("session record sha256 %s\n", hex);
	assert_string_equal(hex, DETERMINISTIC_HASH);
}

static void
test_signal_refusals(void **state)
{
	struct party a;
	struct wa_signal_own bad;
	char err[256];
	static const char *bad_addr[] = { "1555", "1555:", ":1", "1555:01", "1555:-1", "1555:+1", "1555:2147483648",
	    "1555:1x" };
	size_t i;

	(void)state;
	party_init(&a, "15551230001:0", 101, 1, 1000);
	bad = a.own;
	bad.signed_prekey_sig[0] ^= 1;
	assert_null(wa_signal_new(&bad, 100, 1 << 20, err, sizeof(err)));
	assert_non_null(strstr(err, "signature"));
	assert_null(wa_signal_new(&a.own, 15, 1 << 20, err, sizeof(err)));
	assert_null(wa_signal_new(&a.own, 100, 1000, err, sizeof(err)));
	for (i = 0; i < sizeof(bad_addr) / sizeof(bad_addr[0]); i++)
		assert_int_equal(wa_signal_put(a.s, &(struct wa_signal_key){ WA_SIGNAL_SESSION, bad_addr[i], NULL, 0 },
		    NULL, 0, err, sizeof(err)), -1);
	assert_int_equal(wa_signal_put(a.s, &(struct wa_signal_key){ WA_SIGNAL_IDENTITY, "1555:0", NULL, 0 },
	    (const uint8_t *)"short", 5, err, sizeof(err)), -1);
	assert_int_equal(wa_signal_put(a.s, &(struct wa_signal_key){ WA_SIGNAL_PREKEY, NULL, NULL, 0 }, NULL, 0, err,
	    sizeof(err)), -1);
	assert_int_equal(wa_signal_put(a.s, &(struct wa_signal_key){ WA_SIGNAL_SENDER_KEY, "1555:0", "", 0 }, NULL, 0,
	    err, sizeof(err)), -1);
	party_free(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signal_pairwise),
		cmocka_unit_test(test_signal_out_of_order),
		cmocka_unit_test(test_signal_tampered),
		cmocka_unit_test(test_signal_unknown_prekey),
		cmocka_unit_test(test_signal_identity_change),
		cmocka_unit_test(test_signal_forget_user),
		cmocka_unit_test(test_signal_group),
		cmocka_unit_test(test_signal_cache_cap),
		cmocka_unit_test(test_signal_padding),
		cmocka_unit_test(test_signal_deterministic),
		cmocka_unit_test(test_signal_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
