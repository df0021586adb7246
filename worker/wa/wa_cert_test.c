/* Certificate chain tests: the KAT chain of reference/wa-transport.md 2.9 verifies; every tampering is
 * refused with its reason; libsignal-protocol-c agrees with the KAT signatures; Details encode as
 * WhatsApp's; key files round-trip. (The signature arithmetic and its cross-check against libsignal's
 * signer are in wa_xeddsa_test.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <signal/curve.h>
#include <signal/signal_protocol.h>

#include "wa_cert.h"
#include "keytext.h"
#include "wa_signal_check.h"
#include "wa_noise.h"
#include "wa_xeddsa.h"

#define NOW 1800000000u

static const char *root_priv_hex = "0dab95bc386d3c61222bb2e814b23d56f7a2b1cbbd2d24af79965bb42a6973a4";
static const char *root_pub_hex = "6d549fc6053adf4b0938d7435b6afd34c31e7a26413f0c211efedf3fdd31e86d";
static const char *int_priv_hex = "42ed9d3093306050fe188cd9e30bd4a2d475de39d9a85f5caf783760d70c6cbb";
static const char *int_pub_hex = "94addfef13ff57a6c93033f0c7890e6dfa6d252919ed973f2cb5f1617d616478";
static const char *s_s_priv_hex = "fc5b305a9e72f2264a37dd6d282f70864ca115b852852f3c5a1d84cdb693c85b";
static const char *s_s_pub_hex = "1e0e48c69840df98d8adc71e5f3dedbc0cc709a91fef2758add7beb5c8b16017";
static const char *int_details_hex =
    "080110001a2094addfef13ff57a6c93033f0c7890e6dfa6d252919ed973f2cb5f1617d6164782080e2cfaa062880ae99a40f";
static const char *int_sig_hex =
    "d67ce40e2785ea453f35c6c6063ab6f2b2b35a0f8eb611ea8dc3d92467f2585cccdd600a0a46a62084922d559c597d3b677c"
    "9bb76871c50f85ece12db98f890c";
static const char *leaf_details_hex =
    "080210011a201e0e48c69840df98d8adc71e5f3dedbc0cc709a91fef2758add7beb5c8b160172080e2cfaa062880ae99a40f";
static const char *leaf_sig_hex =
    "788efec7a5de6dc4ea85aa9434c34d0cae7507e2601c1e070a9813eadc4633b0a81a67cc9783d38f185248eebb6a593e64f9"
    "cf77b3506be33a3ba99654d32004";
static const char *chain_hex =
    "0a760a32080210011a201e0e48c69840df98d8adc71e5f3dedbc0cc709a91fef2758add7beb5c8b160172080e2cfaa062880"
    "ae99a40f1240788efec7a5de6dc4ea85aa9434c34d0cae7507e2601c1e070a9813eadc4633b0a81a67cc9783d38f185248ee"
    "bb6a593e64f9cf77b3506be33a3ba99654d3200412760a32080110001a2094addfef13ff57a6c93033f0c7890e6dfa6d2529"
    "19ed973f2cb5f1617d6164782080e2cfaa062880ae99a40f1240d67ce40e2785ea453f35c6c6063ab6f2b2b35a0f8eb611ea"
    "8dc3d92467f2585cccdd600a0a46a62084922d559c597d3b677c9bb76871c50f85ece12db98f890c";

/* Decode hex into a fresh buffer. */
static uint8_t *
unhex(const char *s, size_t *len)
{
	size_t n = strlen(s) / 2, i;
	uint8_t *b = malloc(n + 1);

	assert_non_null(b);
	for (i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		b[i] = (uint8_t)v;
	}
	if (len != NULL)
		*len = n;
	return b;
}

/* Decode exactly 32 bytes of hex. */
static void
unhex32(const char *s, uint8_t k[32])
{
	size_t n;
	uint8_t *b = unhex(s, &n);

	assert_int_equal(n, 32);
	memcpy(k, b, 32);
	free(b);
}

/* The KAT chain verifies, and its Details encode byte for byte as WhatsApp's. */
static void
test_kat_chain(void **state)
{
	uint8_t root[32], ss[32], *chain, *det, *got, *isig, *lsig, *ldet;
	size_t chain_len, det_len, got_len, ldet_len, n;
	struct wa_cert_details d;
	char err[256] = "";

	(void)state;
	unhex32(root_pub_hex, root);
	unhex32(s_s_pub_hex, ss);
	chain = unhex(chain_hex, &chain_len);
	assert_int_equal(chain_len, 240);
	assert_int_equal(wa_cert_chain_verify(chain, chain_len, root, ss, NOW, err, sizeof(err)), 0);

	/* Details and chain encoding */
	det = unhex(int_details_hex, &det_len);
	assert_int_equal(wa_cert_details_decode(det, det_len, &d), 0);
	assert_int_equal(d.serial, 1);
	assert_int_equal(d.issuer_serial, 0);
	assert_int_equal(d.not_before, 1700000000);
	assert_int_equal(d.not_after, 4102444800u);
	assert_int_equal(wa_cert_details_encode(&d, &got, &got_len), 0);
	assert_int_equal(got_len, det_len);
	assert_memory_equal(got, det, det_len);
	free(got);
	ldet = unhex(leaf_details_hex, &ldet_len);
	isig = unhex(int_sig_hex, &n);
	lsig = unhex(leaf_sig_hex, &n);
	assert_int_equal(wa_cert_chain_encode(ldet, ldet_len, lsig, det, det_len, isig, &got, &got_len), 0);
	assert_int_equal(got_len, chain_len);
	assert_memory_equal(got, chain, chain_len);
	free(got);

	/* libsignal agrees that the KAT signatures are valid */
	assert_int_equal(signal_verify(root, det, det_len, isig), 1);
	{
		uint8_t ip[32];

		unhex32(int_pub_hex, ip);
		assert_int_equal(signal_verify(ip, ldet, ldet_len, lsig), 1);
		assert_int_equal(wa_xeddsa_verify(ip, ldet, ldet_len, lsig), 0);
	}
	free(det);
	free(ldet);
	free(isig);
	free(lsig);
	free(chain);
	/* the real root is the documented one */
	assert_int_equal(wa_cert_whatsapp_root_pub[0], 0x14);
	assert_int_equal(wa_cert_whatsapp_root_pub[31], 0x6b);
}

/* A chain built with our issuer from the KAT keys. */
static void
issue(const struct wa_cert_details *inter, const struct wa_cert_details *leaf, const uint8_t *root_priv,
    uint8_t **out, size_t *len)
{
	uint8_t rp[32], ip[32];

	unhex32(root_priv_hex, rp);
	unhex32(int_priv_hex, ip);
	assert_int_equal(wa_cert_chain_issue(root_priv != NULL ? root_priv : rp, ip, inter, leaf, out, len), 0);
}

/* Fill the default good details. */
static void
good_details(struct wa_cert_details *inter, struct wa_cert_details *leaf)
{
	memset(inter, 0, sizeof(*inter));
	memset(leaf, 0, sizeof(*leaf));
	inter->serial = 7;
	inter->issuer_serial = 0;
	unhex32(int_pub_hex, inter->key);
	inter->not_before = NOW - 100;
	inter->not_after = NOW + 100;
	leaf->serial = 8;
	leaf->issuer_serial = 7;
	unhex32(s_s_pub_hex, leaf->key);
	leaf->not_before = NOW - 10;
	leaf->not_after = NOW + 10;
}

/* Verify a chain expecting the given reason prefix (NULL: success). */
static void
expect(const uint8_t *chain, size_t len, const uint8_t *root, uint64_t now, const char *reason)
{
	uint8_t ss[32], r[32];
	char err[256] = "";
	int rc;

	unhex32(s_s_pub_hex, ss);
	unhex32(root_pub_hex, r);
	rc = wa_cert_chain_verify(chain, len, root != NULL ? root : r, ss, now, err, sizeof(err));
	if (reason == NULL) {
		if (rc != 0)
			fail_msg("unexpected refusal: %s", err);
		return;
	}
	assert_int_equal(rc, -1);
	if (strncmp(err, reason, strlen(reason)) != 0)
		fail_msg("reason \"%s\", want \"%s...\"", err, reason);
}

/* Every check of section 3.3 refuses its case with its own reason. */
static void
test_tampered(void **state)
{
	struct wa_cert_details inter, leaf, id, ld;
	uint8_t *chain, other[32], otherpub[32];
	size_t len;

	(void)state;
	good_details(&inter, &leaf);
	issue(&inter, &leaf, NULL, &chain, &len);
	expect(chain, len, NULL, NOW, NULL);
	/* boundaries are inclusive */
	expect(chain, len, NULL, NOW - 10, NULL);
	expect(chain, len, NULL, NOW + 10, NULL);
	/* wrong root */
	expect(chain, len, wa_cert_whatsapp_root_pub, NOW, "certificate: intermediate signature invalid");
	/* expired / not yet valid: the intermediate is checked before the leaf */
	expect(chain, len, NULL, NOW + 11, "certificate: leaf expired");
	expect(chain, len, NULL, NOW - 11, "certificate: leaf not yet valid");
	expect(chain, len, NULL, NOW + 101, "certificate: intermediate expired");
	expect(chain, len, NULL, NOW - 101, "certificate: intermediate not yet valid");
	/* bad intermediate signature: flip a bit inside it (last byte of the chain) */
	chain[len - 1] ^= 1;
	expect(chain, len, NULL, NOW, "certificate: intermediate signature invalid");
	chain[len - 1] ^= 1;
	/* bad leaf signature: the leaf comes first; its signature ends at 2 + 2 + details + 2 + 64 */
	chain[2 + 2 + chain[3] + 2 + 10] ^= 1;
	expect(chain, len, NULL, NOW, "certificate: leaf signature invalid");
	free(chain);

	/* leaf key does not match the server static key */
	id = inter;
	ld = leaf;
	ld.key[5] ^= 1;
	issue(&id, &ld, NULL, &chain, &len);
	expect(chain, len, NULL, NOW, "certificate: leaf key does not match the server static key");
	free(chain);
	/* leaf signed by someone else than the intermediate */
	id = inter;
	assert_int_equal(wa_xeddsa_keypair_generate(other, otherpub), 0);
	memcpy(id.key, otherpub, 32);
	issue(&id, &leaf, NULL, &chain, &len);
	expect(chain, len, NULL, NOW, "certificate: leaf signature invalid");
	free(chain);
	/* intermediate signed by another root */
	issue(&inter, &leaf, other, &chain, &len);
	expect(chain, len, NULL, NOW, "certificate: intermediate signature invalid");
	free(chain);
	/* intermediate issuer serial must be 0 */
	id = inter;
	id.issuer_serial = 3;
	issue(&id, &leaf, NULL, &chain, &len);
	expect(chain, len, NULL, NOW, "certificate: intermediate issuer serial 3, want 0");
	free(chain);
	/* leaf issuer serial must link to the intermediate */
	ld = leaf;
	ld.issuer_serial = 9;
	issue(&inter, &ld, NULL, &chain, &len);
	expect(chain, len, NULL, NOW, "certificate: leaf issuer serial 9 does not match intermediate serial 7");
	free(chain);
	/* missing notAfter reads as 0: expired */
	id = inter;
	id.not_after = 0;
	issue(&id, &leaf, NULL, &chain, &len);
	expect(chain, len, NULL, NOW, "certificate: intermediate expired");
	free(chain);

	/* structural failures */
	expect((const uint8_t *)"\xff\xff\xff", 3, NULL, NOW, "certificate: chain does not parse");
	expect((const uint8_t *)"", 0, NULL, NOW, "certificate: leaf missing");
	{
		uint8_t sig[64] = { 0 }, *det;
		size_t dlen;

		assert_int_equal(wa_cert_details_encode(&leaf, &det, &dlen), 0);
		/* a 64-byte all-zero signature: well-formed, invalid */
		assert_int_equal(wa_cert_chain_encode(det, dlen, sig, det, dlen, sig, &chain, &len), 0);
		expect(chain, len, NULL, NOW, "certificate: intermediate signature invalid");
		/* a short signature: cut the intermediate's signature length byte (second-to-last field) */
		free(chain);
		free(det);
	}
	{
		static const uint8_t short_sig[] = {
			0x0a, 0x06, 0x0a, 0x01, 0x00, 0x12, 0x01, 0x00,	/* leaf {details 00, signature 00} */
			0x12, 0x06, 0x0a, 0x01, 0x00, 0x12, 0x01, 0x00,	/* intermediate likewise */
		};

		expect(short_sig, sizeof(short_sig), NULL, NOW, "certificate: intermediate signature is 1 bytes");
	}
}

/* The convenience generator makes a chain that verifies for the given static key. */
static void
test_generate(void **state)
{
	uint8_t rp[32], rpub[32], sp[32], spub[32], *chain;
	size_t len;
	char err[256];

	(void)state;
	assert_int_equal(wa_xeddsa_keypair_generate(rp, rpub), 0);
	assert_int_equal(wa_xeddsa_keypair_generate(sp, spub), 0);
	assert_int_equal(wa_cert_chain_generate(rp, spub, NOW - 5, NOW + 5, &chain, &len), 0);
	assert_int_equal(wa_cert_chain_verify(chain, len, rpub, spub, NOW, err, sizeof(err)), 0);
	assert_int_equal(wa_cert_chain_verify(chain, len, rpub, rpub, NOW, err, sizeof(err)), -1);
	free(chain);
	(void)s_s_priv_hex;
}

/* Key text and files: hex, base64, 0x05 prefix, whitespace; write then read; modes. */
static void
test_key_files(void **state)
{
	uint8_t k[32], k2[32];
	char hex[65], path[] = "/tmp/wa_cert_testXXXXXX", file[64], err[256];
	struct stat st;
	FILE *f;

	(void)state;
	unhex32(root_pub_hex, k);
	keytext_format(k, hex);
	assert_string_equal(hex, root_pub_hex);
	assert_int_equal(keytext_parse("  6d549fc6053adf4b0938d7435b6afd34c31e7a26413f0c211efedf3fdd31e86d\n", k2), 0);
	assert_memory_equal(k, k2, 32);
	assert_int_equal(keytext_parse("6D549FC6053ADF4B0938D7435B6AFD34C31E7A26413F0C211EFEDF3FDD31E86D", k2), 0);
	assert_memory_equal(k, k2, 32);
	assert_int_equal(keytext_parse("bVSfxgU630sJONdDW2r9NMMeeiZBPwwhHv7fP90x6G0=", k2), 0);
	assert_memory_equal(k, k2, 32);
	assert_int_equal(keytext_parse("056d549fc6053adf4b0938d7435b6afd34c31e7a26413f0c211efedf3fdd31e86d", k2), 0);
	assert_memory_equal(k, k2, 32);
	assert_int_equal(keytext_parse("BW1Un8YFOt9LCTjXQ1tq/TTDHnomQT8MIR7+3z/dMeht", k2), 0);
	assert_memory_equal(k, k2, 32);
	assert_int_equal(keytext_parse("6d549f", k2), -1);
	assert_int_equal(keytext_parse("", k2), -1);
	assert_int_equal(keytext_parse("zz549fc6053adf4b0938d7435b6afd34c31e7a26413f0c211efedf3fdd31e86d", k2), -1);

	assert_non_null(mkdtemp(path));
	snprintf(file, sizeof(file), "%s/root.pub", path);
	assert_int_equal(wa_cert_key_write_file(file, k, 0), 0);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	memset(k2, 0, 32);
	assert_int_equal(wa_cert_key_read_file(file, k2, err, sizeof(err)), 0);
	assert_memory_equal(k, k2, 32);
	assert_int_equal(wa_cert_key_write_file(file, k, 1), 0);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	f = fopen(file, "w");
	fputs("not a key\n", f);
	fclose(f);
	assert_int_equal(wa_cert_key_read_file(file, k2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a 32-byte key"));
	unlink(file);
	assert_int_equal(wa_cert_key_read_file(file, k2, err, sizeof(err)), -1);
	rmdir(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kat_chain),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_key_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
