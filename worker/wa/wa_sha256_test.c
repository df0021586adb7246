/* SHA-256 and HMAC-SHA256 tests, on each compression this machine can run (the SHA extensions when the CPU has
 * them, and portable C always): the FIPS 180-2 examples and RFC 4231's HMAC cases (values checked with Python's
 * hashlib and hmac), and every length from 0 to 300 bytes, fed whole and in uneven pieces, against mbedTLS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/md.h>

#include "wa_sha256.h"

static void
hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void
assert_sha(const void *data, size_t n, const char *want)
{
	uint8_t d[WA_SHA256_LEN];
	char h[2 * WA_SHA256_LEN + 1];

	wa_sha256(data, n, d);
	hex(d, sizeof(d), h);
	assert_string_equal(h, want);
}

static void
assert_hmac(const void *key, size_t key_len, const char *msg, const char *want)
{
	struct wa_hmac_sha256 c;
	uint8_t d[WA_SHA256_LEN];
	char h[2 * WA_SHA256_LEN + 1];

	wa_hmac_sha256_init(&c, key, key_len);
	wa_hmac_sha256_update(&c, msg, strlen(msg));
	wa_hmac_sha256_final(&c, d);
	wa_hmac_sha256_wipe(&c);
	hex(d, sizeof(d), h);
	assert_string_equal(h, want);
}

/* The known answers on the current compression. */
static void
vectors(void)
{
	uint8_t k[131];
	struct wa_sha256 c;
	uint8_t d[WA_SHA256_LEN], *a;
	char h[2 * WA_SHA256_LEN + 1];
	size_t i;

	assert_sha("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_sha("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* a million 'a', in pieces of 1,000 */
	a = malloc(1000);
	assert_non_null(a);
	memset(a, 'a', 1000);
	wa_sha256_init(&c);
	for (i = 0; i < 1000; i++)
		wa_sha256_update(&c, a, 1000);
	wa_sha256_final(&c, d);
	free(a);
	hex(d, sizeof(d), h);
	assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

	/* RFC 4231 cases 1, 2, 6 and 7 (a key longer than a block is hashed first) */
	memset(k, 0x0b, 20);
	assert_hmac(k, 20, "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	assert_hmac("Jefe", 4, "what do ya want for nothing?",
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	memset(k, 0xaa, sizeof(k));
	assert_hmac(k, sizeof(k), "Test Using Larger Than Block-Size Key - Hash Key First",
	    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	assert_hmac(k, sizeof(k), "This is a test using a larger than block-size key and a larger than block-size "
	    "data. The key needs to be hashed before being used by the HMAC algorithm.",
	    "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

/* Every length 0..300, whole and in pieces of 1, 7, 63, 64 and 65 bytes, hash and HMAC (key = the first 32
 * bytes of the data, or of a fixed pattern), against mbedTLS's. */
static void
against_mbedtls(void)
{
	static const size_t pieces[] = { 1, 7, 63, 64, 65, 1000 };
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	uint8_t data[300], key[32], want[WA_SHA256_LEN], got[WA_SHA256_LEN];
	struct wa_hmac_sha256 hc;
	struct wa_sha256 c;
	size_t n, p, off, take;

	for (n = 0; n < sizeof(data); n++)
		data[n] = (uint8_t)(n * 131 + 7);
	for (n = 0; n < sizeof(key); n++)
		key[n] = (uint8_t)(255 - n * 3);
	for (n = 0; n <= sizeof(data); n++) {
		assert_int_equal(mbedtls_md(md, data, n, want), 0);
		for (p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++) {
			wa_sha256_init(&c);
			for (off = 0; off < n; off += take) {
				take = n - off < pieces[p] ? n - off : pieces[p];
				wa_sha256_update(&c, data + off, take);
			}
			wa_sha256_final(&c, got);
			if (memcmp(got, want, sizeof(want)) != 0)
				fail_msg("SHA-256 of %zu bytes in pieces of %zu differs from mbedTLS's", n, pieces[p]);
		}
		assert_int_equal(mbedtls_md_hmac(md, key, n % 33, data, n, want), 0);
		wa_hmac_sha256_init(&hc, key, n % 33);
		for (off = 0; off < n; off += take) {
			take = n - off < 13 ? n - off : 13;
			wa_hmac_sha256_update(&hc, data + off, take);
		}
		wa_hmac_sha256_final(&hc, got);
		if (memcmp(got, want, sizeof(want)) != 0)
			fail_msg("HMAC-SHA256 of %zu bytes (key %zu bytes) differs from mbedTLS's", n, n % 33);
	}
}

static void
test_portable(void **state)
{
	(void)state;
	wa_sha256_force_portable(1);
	assert_false(wa_sha256_accelerated());
	vectors();
	against_mbedtls();
	wa_sha256_force_portable(0);
}

/* The compression the library picked for this CPU (the SHA extensions, when it has them). */
static void
test_picked(void **state)
{
	(void)state;
	wa_sha256_force_portable(0);
	fprintf(stderr, "SHA extensions: %s\n", wa_sha256_accelerated() ? "used" : "not on this CPU");
	vectors();
	against_mbedtls();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_portable),
		cmocka_unit_test(test_picked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
