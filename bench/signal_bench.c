/* Signal layer benchmark: pairwise encrypt + decrypt of 64-byte messages on an established session, half the
 * time alternating direction every message (so every message is a DH ratchet step: a conversation), half the
 * time one way (a symmetric chain step only: a burst), changes taken after each operation as the worker will.
 * Prints ONE line:
 *   signal: encrypt+decrypt N msg/s alternating, M msg/s one way; session record X bytes cached (Y serialized)
 * where the cached size is what one session record costs in the cache (record, key and bookkeeping). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wa_prekey.h"
#include "wa_signal.h"

/* Seconds on the monotonic clock. */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct side {
	const char *addr;
	struct wa_signal *s;
	struct wa_signal_own own;
	uint8_t id_pub[32], spk_pub[32];
	struct wa_prekey pk;
};

static int
side_init(struct side *d, const char *addr, uint32_t regid)
{
	struct wa_signed_prekey spk;
	char err[256];

	d->addr = addr;
	if (wa_prekey_keypair(d->own.identity_priv, d->id_pub) == -1 ||
	    wa_prekey_signed_generate(1, d->own.identity_priv, 0, &spk) == -1 || wa_prekey_generate(1, &d->pk) == -1)
		return -1;
	d->own.registration_id = regid;
	d->own.signed_prekey_id = 1;
	memcpy(d->own.signed_prekey_priv, spk.priv, 32);
	memcpy(d->own.signed_prekey_sig, spk.sig, 64);
	memcpy(d->spk_pub, spk.pub, 32);
	if ((d->s = wa_signal_new(&d->own, 1000, 1 << 24, err, sizeof(err))) == NULL) {
		fprintf(stderr, "signal: %s\n", err);
		return -1;
	}
	return wa_signal_put(d->s, &(struct wa_signal_key){ .kind = WA_SIGNAL_PREKEY, .prekey_id = 1 }, d->pk.priv,
	    32, err, sizeof(err));
}

/* The peer's session and identity are known absent (a first contact). */
static int
side_meet(struct side *d, const struct side *peer)
{
	char err[256];

	return wa_signal_put(d->s, &(struct wa_signal_key){ WA_SIGNAL_SESSION, peer->addr, NULL, 0 }, NULL, 0, err,
	    sizeof(err)) | wa_signal_put(d->s, &(struct wa_signal_key){ WA_SIGNAL_IDENTITY, peer->addr, NULL, 0 }, NULL,
	    0, err, sizeof(err));
}

/* Throw the changes away (the benchmark has no database) but pay for taking them. */
static void
drain(struct side *d, uint8_t **rec, size_t *reclen)
{
	struct wa_signal_change *v;
	size_t n, i;

	wa_signal_take_changes(d->s, &v, &n);
	for (i = 0; rec != NULL && i < n; i++)
		if (v[i].key.kind == WA_SIGNAL_SESSION && v[i].data != NULL) {
			free(*rec);
			*rec = malloc(v[i].len);
			memcpy(*rec, v[i].data, v[i].len);
			*reclen = v[i].len;
		}
	wa_signal_changes_free(v, n);
}

/* One message from a to b. */
static int
one(struct side *a, struct side *b, uint8_t **rec, size_t *reclen)
{
	uint8_t msg[64], *ct, *pt;
	size_t ctlen, ptlen;
	enum wa_signal_type t;
	char err[256];

	memset(msg, 'm', sizeof(msg));
	if (wa_signal_encrypt(a->s, b->addr, msg, sizeof(msg), &t, &ct, &ctlen, err, sizeof(err)) != WA_SIGNAL_DONE) {
		fprintf(stderr, "signal: %s\n", err);
		return -1;
	}
	drain(a, NULL, NULL);
	if (wa_signal_decrypt(b->s, a->addr, t, ct, ctlen, &pt, &ptlen, err, sizeof(err)) != WA_SIGNAL_DONE) {
		fprintf(stderr, "signal: %s\n", err);
		free(ct);
		return -1;
	}
	drain(b, rec, reclen);
	free(ct);
	free(pt);
	return 0;
}

int
main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2, t0, el, alt;
	struct side a, b;
	struct wa_signal_bundle bu;
	struct wa_signal *probe;
	uint8_t *rec = NULL;
	size_t reclen = 0, before, after, nrec, i;
	long n = 0, m = 0;
	char err[256];

	if (side_init(&a, "15550000001:0", 1) == -1 || side_init(&b, "123456789012345_1:3", 2) == -1 ||
	    side_meet(&a, &b) != 0 || side_meet(&b, &a) != 0) {
		puts("signal: FAILED (setup)");
		return 1;
	}
	memset(&bu, 0, sizeof(bu));
	bu.registration_id = 2;
	bu.device_id = 3;
	bu.has_prekey = 1;
	bu.prekey_id = 1;
	memcpy(bu.prekey_pub, b.pk.pub, 32);
	bu.signed_prekey_id = 1;
	memcpy(bu.signed_prekey_pub, b.spk_pub, 32);
	memcpy(bu.signed_prekey_sig, b.own.signed_prekey_sig, 64);
	memcpy(bu.identity_pub, b.id_pub, 32);
	if (wa_signal_session_build(a.s, b.addr, &bu, err, sizeof(err)) != WA_SIGNAL_DONE) {
		printf("signal: FAILED (%s)\n", err);
		return 1;
	}
	drain(&a, NULL, NULL);
	t0 = now();
	do {
		for (i = 0; i < 50; i++, n++)
			if (one(n % 2 ? &b : &a, n % 2 ? &a : &b, &rec, &reclen) == -1) {
				puts("signal: FAILED (round trip)");
				return 1;
			}
		el = now() - t0;
	} while (el < secs / 2);
	alt = n / el;
	t0 = now();
	do {
		for (i = 0; i < 50; i++, m++)
			if (one(&a, &b, &rec, &reclen) == -1) {
				puts("signal: FAILED (one way)");
				return 1;
			}
		el = now() - t0;
	} while (el < secs / 2);
	/* what one session record (bob's view of alice, after the run) costs in a cache of its own */
	probe = wa_signal_new(&a.own, 16, 1 << 20, err, sizeof(err));
	wa_signal_cache_usage(probe, &nrec, &before);
	wa_signal_put(probe, &(struct wa_signal_key){ WA_SIGNAL_SESSION, a.addr, NULL, 0 }, rec, reclen, err,
	    sizeof(err));
	wa_signal_cache_usage(probe, &nrec, &after);
	printf("signal: encrypt+decrypt %.0f msg/s alternating, %.0f msg/s one way; session record %zu bytes cached "
	    "(%zu serialized)\n", alt, m / el, after - before, reclen);
	wa_signal_free(probe);
	wa_signal_free(a.s);
	wa_signal_free(b.s);
	free(rec);
	return 0;
}
