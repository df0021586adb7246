/* libFuzzer target: the Signal layer (wa_signal.h) fed arbitrary bytes as what a peer sends. The first input
 * byte picks: 0 a pkmsg from carol (no session yet; alice has a one-time prekey for her), 1 a msg from bob
 * (established session), 2 an skmsg from bob and 3 a distribution message from bob (alice holds bob's sender
 * key for the group), 4 the unpadding of the rest. Everything is deterministic (fixed keys, a counter as the
 * random source), and alice is rebuilt for each input from the records saved at start-up, loaded through the
 * NEED contract, so every input runs against the same state and reproduces alone. With the environment
 * variable SIGNAL_FUZZ_SEEDS=DIR the start-up writes one valid input of each kind there (corpus/signal). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "wa_noise.h"
#include "wa_signal.h"
#include "wa_xeddsa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ALICE	"15550000001:0"
#define BOB	"123456789012345_1:4"
#define CAROL	"15550000003:2"
#define GROUP	"120363000000000009@g.us"
#define MAX_ROWS 16

struct party {
	const char *addr;
	struct wa_signal_own own;
	uint8_t id_pub[32], spk_pub[32], pk_priv[32], pk_pub[32];
	struct wa_signal *s;
	uint64_t ctr;
};

/* alice's database after start-up */
static struct wa_signal_change rows[MAX_ROWS];
static size_t nrows;
static struct party alice, bob, carol;

static void
fuzz_random(void *buf, size_t n, void *arg)
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

/* A clamped private key from a seed byte, and its public key. */
static void
fixed_key(uint8_t seed, uint8_t priv[32], uint8_t pub[32])
{
	memset(priv, seed, 32);
	priv[0] &= 248;
	priv[31] = (priv[31] & 127) | 64;
	if (wa_noise_pubkey(priv, pub) == -1)
		abort();
}

static void
party_init(struct party *p, const char *addr, uint8_t seed)
{
	uint8_t msg[33], nonce[64] = { 0 };
	char err[256];

	memset(p, 0, sizeof(*p));
	p->addr = addr;
	fixed_key(seed, p->own.identity_priv, p->id_pub);
	fixed_key(seed + 1, p->own.signed_prekey_priv, p->spk_pub);
	fixed_key(seed + 2, p->pk_priv, p->pk_pub);
	p->own.registration_id = seed;
	p->own.signed_prekey_id = 1;
	msg[0] = 5;
	memcpy(msg + 1, p->spk_pub, 32);
	if (wa_xeddsa_sign_with_random(p->own.identity_priv, msg, 33, nonce, p->own.signed_prekey_sig) == -1 ||
	    (p->s = wa_signal_new(&p->own, 64, 1 << 20, err, sizeof(err))) == NULL)
		abort();
	wa_signal_set_random(p->s, fuzz_random, &p->ctr);
}

/* Answer every NEED of p with "absent", except alice's saved rows and each party's own prekey 1. */
static int
run_loaded(struct party *p, int rc)
{
	const struct wa_signal_key *k;
	size_t n, i, j;
	char err[256];

	if (rc != WA_SIGNAL_NEED)
		return rc;
	k = wa_signal_needed(p->s, &n);
	for (i = 0; i < n; i++) {
		const uint8_t *data = NULL;
		size_t len = 0;

		if (k[i].kind == WA_SIGNAL_PREKEY && k[i].prekey_id == 1) {
			data = p->pk_priv;
			len = 32;
		}
		for (j = 0; p == &alice && j < nrows; j++)
			if (rows[j].key.kind == k[i].kind && rows[j].key.prekey_id == k[i].prekey_id &&
			    strcmp(rows[j].key.address ? rows[j].key.address : "", k[i].address ? k[i].address : "") == 0 &&
			    strcmp(rows[j].key.group ? rows[j].key.group : "", k[i].group ? k[i].group : "") == 0) {
				data = rows[j].data;
				len = rows[j].len;
			}
		if (wa_signal_put(p->s, &k[i], data, len, err, sizeof(err)) == -1)
			abort();
	}
	return WA_SIGNAL_NEED;
}

#define RUN(p, call) do { \
	int rc_, i_; \
	for (i_ = 0, rc_ = WA_SIGNAL_NEED; rc_ == WA_SIGNAL_NEED && i_ < 4; i_++) \
		rc_ = run_loaded(p, (call)); \
	if (rc_ != WA_SIGNAL_DONE) \
		abort(); \
} while (0)

static void
bundle_of(const struct party *p, struct wa_signal_bundle *b)
{
	memset(b, 0, sizeof(*b));
	b->registration_id = p->own.registration_id;
	b->device_id = (uint32_t)atoi(strrchr(p->addr, ':') + 1);
	b->has_prekey = 1;
	b->prekey_id = 1;
	memcpy(b->prekey_pub, p->pk_pub, 32);
	b->signed_prekey_id = 1;
	memcpy(b->signed_prekey_pub, p->spk_pub, 32);
	memcpy(b->signed_prekey_sig, p->own.signed_prekey_sig, 64);
	memcpy(b->identity_pub, p->id_pub, 32);
}

static void
write_seed(const char *dir, const char *name, uint8_t kind, const uint8_t *data, size_t len)
{
	char path[512];
	FILE *f;

	if (dir == NULL)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL)
		return;
	fputc(kind, f);
	fwrite(data, 1, len, f);
	fclose(f);
}

/* Sessions alice-bob (both ways) and carol-alice (carol's side only), bob's sender key at alice. */
static void
setup(void)
{
	const char *dir = getenv("SIGNAL_FUZZ_SEEDS");
	struct wa_signal_bundle b;
	struct wa_signal_change *v;
	enum wa_signal_type t;
	uint8_t *ct, *pt, *skdm;
	size_t ctlen, ptlen, skdmlen, n, i;
	char err[256];

	party_init(&alice, ALICE, 0x10);
	party_init(&bob, BOB, 0x20);
	party_init(&carol, CAROL, 0x30);
	bundle_of(&alice, &b);
	RUN(&bob, wa_signal_session_build(bob.s, ALICE, &b, err, sizeof(err)));
	RUN(&bob, wa_signal_encrypt(bob.s, ALICE, (const uint8_t *)"hi\x01", 3, &t, &ct, &ctlen, err, sizeof(err)));
	RUN(&alice, wa_signal_decrypt(alice.s, BOB, t, ct, ctlen, &pt, &ptlen, err, sizeof(err)));
	free(ct);
	free(pt);
	RUN(&alice, wa_signal_encrypt(alice.s, BOB, (const uint8_t *)"yo\x01", 3, &t, &ct, &ctlen, err, sizeof(err)));
	RUN(&bob, wa_signal_decrypt(bob.s, ALICE, t, ct, ctlen, &pt, &ptlen, err, sizeof(err)));
	free(ct);
	free(pt);
	RUN(&bob, wa_signal_group_create(bob.s, GROUP, BOB, &skdm, &skdmlen, err, sizeof(err)));
	RUN(&alice, wa_signal_group_process(alice.s, GROUP, BOB, skdm, skdmlen, err, sizeof(err)));
	/* alice's records; the prekey is given separately, so alice may use it again for every input */
	wa_signal_take_changes(alice.s, &v, &n);
	for (i = 0; i < n && nrows < MAX_ROWS; i++)
		if (v[i].key.kind != WA_SIGNAL_PREKEY)
			rows[nrows++] = v[i];
		else
			free((char *)v[i].key.address);
	free(v);
	/* valid inputs of each kind, not delivered */
	bundle_of(&alice, &b);
	RUN(&carol, wa_signal_session_build(carol.s, ALICE, &b, err, sizeof(err)));
	RUN(&carol, wa_signal_encrypt(carol.s, ALICE, (const uint8_t *)"pk\x01", 3, &t, &ct, &ctlen, err, sizeof(err)));
	write_seed(dir, "pkmsg", 0, ct, ctlen);
	free(ct);
	RUN(&bob, wa_signal_encrypt(bob.s, ALICE, (const uint8_t *)"msg\x01", 4, &t, &ct, &ctlen, err, sizeof(err)));
	write_seed(dir, "msg", 1, ct, ctlen);
	free(ct);
	RUN(&bob, wa_signal_group_encrypt(bob.s, GROUP, BOB, (const uint8_t *)"sk\x01", 3, &ct, &ctlen, err,
	    sizeof(err)));
	write_seed(dir, "skmsg", 2, ct, ctlen);
	free(ct);
	write_seed(dir, "skdm", 3, skdm, skdmlen);
	write_seed(dir, "pad", 4, (const uint8_t *)"abc\x02\x02", 5);
	free(skdm);
	wa_signal_free(bob.s);
	wa_signal_free(carol.s);
	wa_signal_free(alice.s);
	alice.s = NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct wa_signal_change *v;
	uint8_t *pt = NULL;
	size_t ptlen = 0, n, i;
	char err[256];
	int rc = WA_SIGNAL_NEED;

	if (!ready) {
		setup();
		ready = 1;
	}
	if (size < 1 || size > 65536)
		return 0;
	if (data[0] % 5 == 4) {
		if (wa_signal_unpad(data + 1, size - 1, &ptlen) == 0 && ptlen >= size - 1)
			abort();
		return 0;
	}
	alice.ctr = 0;
	if ((alice.s = wa_signal_new(&alice.own, 16, 1 << 20, err, sizeof(err))) == NULL)
		abort();
	wa_signal_set_random(alice.s, fuzz_random, &alice.ctr);
	for (i = 0; i < 4 && rc == WA_SIGNAL_NEED; i++) {
		switch (data[0] % 5) {
		case 0:
			rc = wa_signal_decrypt(alice.s, CAROL, WA_SIGNAL_PKMSG, data + 1, size - 1, &pt, &ptlen, err,
			    sizeof(err));
			break;
		case 1:
			rc = wa_signal_decrypt(alice.s, BOB, WA_SIGNAL_MSG, data + 1, size - 1, &pt, &ptlen, err,
			    sizeof(err));
			break;
		case 2:
			rc = wa_signal_group_decrypt(alice.s, GROUP, BOB, data + 1, size - 1, &pt, &ptlen, err,
			    sizeof(err));
			break;
		default:
			rc = wa_signal_group_process(alice.s, GROUP, BOB, data + 1, size - 1, err, sizeof(err));
			break;
		}
		run_loaded(&alice, rc);
	}
	if (rc == WA_SIGNAL_NEED)
		abort();	/* one round of loading must always suffice */
	wa_signal_take_changes(alice.s, &v, &n);
	if (rc == WA_SIGNAL_FAILED && n != 0)
		abort();	/* a failed operation changes nothing */
	wa_signal_changes_free(v, n);
	free(pt);
	wa_signal_free(alice.s);
	alice.s = NULL;
	return 0;
}
