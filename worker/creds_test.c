/* creds: fresh material is well formed, the blob round-trips (unpaired and paired), garbage is refused. */
#include "creds.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void
same(const struct creds *a, const struct creds *b)
{
	assert_memory_equal(a->noise_priv, b->noise_priv, 32);
	assert_memory_equal(a->noise_pub, b->noise_pub, 32);
	assert_memory_equal(a->identity_priv, b->identity_priv, 32);
	assert_memory_equal(a->identity_pub, b->identity_pub, 32);
	assert_int_equal(a->registration_id, b->registration_id);
	assert_int_equal(a->signed_prekey.id, b->signed_prekey.id);
	assert_memory_equal(a->signed_prekey.pub, b->signed_prekey.pub, 32);
	assert_memory_equal(a->signed_prekey.priv, b->signed_prekey.priv, 32);
	assert_memory_equal(a->signed_prekey.sig, b->signed_prekey.sig, 64);
	assert_memory_equal(a->adv_secret, b->adv_secret, 32);
	assert_int_equal(a->next_prekey_id, b->next_prekey_id);
}

static void
test_fresh_roundtrip(void **state)
{
	struct creds *c, *d;
	uint8_t *blob;
	size_t len;
	char err[128];
	int i;

	(void)state;
	for (i = 0; i < 20; i++) {
		c = creds_generate();
		assert_non_null(c);
		assert_true(c->registration_id >= 1 && c->registration_id <= 16380);
		assert_int_equal(c->signed_prekey.id, 1);
		assert_int_equal(c->next_prekey_id, 1);
		assert_int_equal(wa_prekey_signed_verify(&c->signed_prekey, c->identity_pub), 0);
		/* clamped */
		assert_int_equal(c->identity_priv[0] & 7, 0);
		assert_int_equal(c->identity_priv[31] & 0xc0, 0x40);
		assert_null(c->jid);
		assert_int_equal(creds_encode(c, &blob, &len), 0);
		d = creds_decode(blob, len, err, sizeof(err));
		assert_non_null(d);
		same(c, d);
		assert_null(d->jid);
		assert_null(d->account);
		assert_false(d->has_account_pub);
		free(blob);
		creds_free(c);
		creds_free(d);
	}
}

static void
test_paired_roundtrip(void **state)
{
	struct creds *c, *d;
	uint8_t *blob, acct[100];
	size_t len;
	char err[128];

	(void)state;
	c = creds_generate();
	assert_non_null(c);
	creds_set_str(&c->jid, "15550000001:1@s.whatsapp.net");
	creds_set_str(&c->lid, "100000000000001:1@lid");
	creds_set_str(&c->platform, "android");
	creds_set_str(&c->business_name, "Shop");
	creds_set_str(&c->push_name, "Fake Phone");
	memset(acct, 0x42, sizeof(acct));
	c->account = malloc(sizeof(acct));
	memcpy(c->account, acct, sizeof(acct));
	c->account_len = sizeof(acct);
	c->key_index = 3;
	c->has_account_pub = 1;
	memset(c->account_pub, 9, 32);
	c->next_prekey_id = 813;
	assert_int_equal(creds_encode(c, &blob, &len), 0);
	d = creds_decode(blob, len, err, sizeof(err));
	assert_non_null(d);
	same(c, d);
	assert_string_equal(d->jid, c->jid);
	assert_string_equal(d->lid, c->lid);
	assert_string_equal(d->platform, "android");
	assert_string_equal(d->business_name, "Shop");
	assert_string_equal(d->push_name, "Fake Phone");
	assert_int_equal(d->account_len, sizeof(acct));
	assert_memory_equal(d->account, acct, sizeof(acct));
	assert_int_equal(d->key_index, 3);
	assert_true(d->has_account_pub);
	assert_memory_equal(d->account_pub, c->account_pub, 32);
	free(blob);
	creds_free(c);
	creds_free(d);
}

static void
test_garbage(void **state)
{
	static const uint8_t junk[] = "secret-creds";
	struct creds *c;
	uint8_t *blob;
	size_t len, i;
	char err[128] = "";

	(void)state;
	assert_null(creds_decode(junk, sizeof(junk), err, sizeof(err)));
	assert_true(strlen(err) > 0);
	assert_null(creds_decode(junk, 0, err, sizeof(err)));
	c = creds_generate();
	assert_int_equal(creds_encode(c, &blob, &len), 0);
	/* truncations never give credentials */
	for (i = 0; i < len; i++)
		assert_null(creds_decode(blob, i, err, sizeof(err)));
	/* a flipped bit in a key is caught by the key checks */
	for (i = 0; i < len; i++) {
		struct creds *d;
		blob[i] ^= 0x01;
		d = creds_decode(blob, len, err, sizeof(err));
		if (d != NULL) {
			/* only fields without internal checks may change (ids, adv secret, lengths kept) */
			assert_memory_equal(d->identity_priv, c->identity_priv, 32);
			assert_memory_equal(d->noise_priv, c->noise_priv, 32);
			creds_free(d);
		}
		blob[i] ^= 0x01;
	}
	free(blob);
	creds_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_roundtrip),
		cmocka_unit_test(test_paired_roundtrip),
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
