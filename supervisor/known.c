/* What the message path knows to be stored already (known.h). */
#include <stdlib.h>
#include <string.h>

#include "known.h"
#include "random.h"
#include "xmalloc.h"

#define KNOWN_WAYS	2

struct known_slot {
	uint64_t key;		/* 0: empty */
	uint64_t val;
};

struct known {
	uint64_t gen;
	struct known_slot slot[KNOWN_SLOTS];
};

/* SipHash-2-4 (Aumasson and Bernstein): the texts are peers' JIDs and push names, so the hash is keyed with a
 * per-process secret; a peer cannot make two of its names share a key. */
#define ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND(v0, v1, v2, v3) do { \
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
} while (0)

static uint64_t
known_load64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

uint64_t
known_siphash(const uint64_t k[2], const unsigned char *in, size_t len)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ k[0], v1 = 0x646f72616e646f6dULL ^ k[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ k[0], v3 = 0x7465646279746573ULL ^ k[1];
	uint64_t m, b = (uint64_t)len << 56;
	unsigned char tail[8] = { 0 };
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		m = known_load64(in + i);
		v3 ^= m;
		SIPROUND(v0, v1, v2, v3);
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	memcpy(tail, in + i, len - i);
	b |= known_load64(tail);
	v3 ^= b;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	for (i = 0; i < 4; i++)
		SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t
known_hash(const char *kind, const char *text)
{
	static uint64_t secret[2];
	static int have;
	size_t nk = strlen(kind), nt = strlen(text);
	unsigned char buf[512], *in = nk + 1 + nt <= sizeof(buf) ? buf : xmalloc(nk + 1 + nt);
	uint64_t h;

	if (!have) {
		random_bytes(secret, sizeof(secret));
		have = 1;
	}
	/* kind, a NUL, text: no kind's text can read as another kind's. */
	memcpy(in, kind, nk + 1);
	memcpy(in + nk + 1, text, nt);
	h = known_siphash(secret, in, nk + 1 + nt);
	if (in != buf)
		free(in);
	return h != 0 ? h : 1;
}

/* The first slot of key's set. Slots are sets of KNOWN_WAYS: the contact and the LID row of one message never
 * evict each other, whatever the secret makes of their keys. */
static size_t
known_base(uint64_t key)
{
	return (size_t)(key % (KNOWN_SLOTS / KNOWN_WAYS)) * KNOWN_WAYS;
}

/* The slot holding key, or NULL. */
static struct known_slot *
known_find(const struct known *k, uint64_t key)
{
	size_t i, base = known_base(key);

	if (k == NULL)
		return NULL;
	for (i = base; i < base + KNOWN_WAYS; i++)
		if (k->slot[i].key == key)
			return (struct known_slot *)&k->slot[i];
	return NULL;
}

int
known_has(const struct known *k, uint64_t key, uint64_t val)
{
	const struct known_slot *s = known_find(k, key);

	return s != NULL && (val == 0 || s->val == val);
}

void
known_forget(struct known *k, uint64_t key)
{
	struct known_slot *s = known_find(k, key);

	if (s != NULL)
		s->key = 0;
}

void
known_set(struct known **k, uint64_t gen, uint64_t key, uint64_t val)
{
	struct known_slot *s;
	size_t base = known_base(key);

	if (known_gen(*k) != gen || (val == 0 && known_has(*k, key, 0)))
		return;
	if (*k == NULL)
		*k = xcalloc(1, sizeof(**k));
	if ((s = known_find(*k, key)) == NULL) {
		/* The newest key takes the first way; the oldest of the set goes. */
		memmove(&(*k)->slot[base + 1], &(*k)->slot[base], (KNOWN_WAYS - 1) * sizeof((*k)->slot[0]));
		s = &(*k)->slot[base];
	}
	s->key = key;
	s->val = val;
}

uint64_t
known_gen(const struct known *k)
{
	return k != NULL ? k->gen : 0;
}

void
known_clear(struct known **k)
{
	if (*k == NULL)
		*k = xcalloc(1, sizeof(**k));
	memset((*k)->slot, 0, sizeof((*k)->slot));
	(*k)->gen++;
}

void
known_free(struct known *k)
{
	free(k);
}
