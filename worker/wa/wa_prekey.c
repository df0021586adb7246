/* Prekey generation and libsignal record encoding. See wa_prekey.h. The two records are tiny protobufs;
 * they are written and read here by hand so the wa library needs no libsignal headers. */
#include "wa_prekey.h"
#include "wa_noise.h"
#include "wa_xeddsa.h"
#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>

#define PREKEY_DJB_TYPE 0x05

int
wa_prekey_keypair(uint8_t priv[WA_PREKEY_KEY_LEN], uint8_t pub[WA_PREKEY_KEY_LEN])
{
	return wa_noise_keypair_generate(priv, pub);
}

int
wa_prekey_generate(uint32_t id, struct wa_prekey *k)
{
	if (id == 0 || id > WA_PREKEY_ID_MAX)
		return -1;
	k->id = id;
	return wa_prekey_keypair(k->priv, k->pub);
}

int
wa_prekey_signed_generate(uint32_t id, const uint8_t identity_priv[WA_PREKEY_KEY_LEN], uint64_t timestamp_ms,
    struct wa_signed_prekey *k)
{
	uint8_t msg[1 + WA_PREKEY_KEY_LEN];

	if (id == 0 || id > WA_PREKEY_ID_MAX)
		return -1;
	k->id = id;
	k->timestamp = timestamp_ms;
	if (wa_prekey_keypair(k->priv, k->pub) == -1)
		return -1;
	msg[0] = PREKEY_DJB_TYPE;
	memcpy(msg + 1, k->pub, WA_PREKEY_KEY_LEN);
	return wa_xeddsa_sign(identity_priv, msg, sizeof(msg), k->sig);
}

int
wa_prekey_signed_verify(const struct wa_signed_prekey *k, const uint8_t identity_pub[WA_PREKEY_KEY_LEN])
{
	uint8_t msg[1 + WA_PREKEY_KEY_LEN];

	msg[0] = PREKEY_DJB_TYPE;
	memcpy(msg + 1, k->pub, WA_PREKEY_KEY_LEN);
	return wa_xeddsa_verify(identity_pub, msg, sizeof(msg), k->sig);
}

/* --- writing --- */

static size_t
pk_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	do {
		p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	return n;
}

/* tag (field, wire type 2), length, bytes; optional one-byte prefix before the data. */
static size_t
pk_bytes(uint8_t *p, unsigned field, int prefix, const uint8_t *data, size_t len)
{
	size_t n = 0;

	p[n++] = (uint8_t)(field << 3 | 2);
	n += pk_varint(p + n, len + (prefix >= 0 ? 1 : 0));
	if (prefix >= 0)
		p[n++] = (uint8_t)prefix;
	memcpy(p + n, data, len);
	return n + len;
}

/* Fields 1-3, shared by both records. */
static size_t
pk_common(uint8_t *p, uint32_t id, const uint8_t pub[WA_PREKEY_KEY_LEN], const uint8_t priv[WA_PREKEY_KEY_LEN])
{
	size_t n = 0;

	p[n++] = 1 << 3 | 0;
	n += pk_varint(p + n, id);
	n += pk_bytes(p + n, 2, PREKEY_DJB_TYPE, pub, WA_PREKEY_KEY_LEN);
	n += pk_bytes(p + n, 3, -1, priv, WA_PREKEY_KEY_LEN);
	return n;
}

int
wa_prekey_encode(const struct wa_prekey *k, uint8_t **out, size_t *outlen)
{
	uint8_t buf[128];

	if (k->id == 0 || k->id > WA_PREKEY_ID_MAX)
		return -1;
	*outlen = pk_common(buf, k->id, k->pub, k->priv);
	*out = xmalloc(*outlen);
	memcpy(*out, buf, *outlen);
	explicit_wipe(buf, sizeof(buf));
	return 0;
}

int
wa_prekey_signed_encode(const struct wa_signed_prekey *k, uint8_t **out, size_t *outlen)
{
	uint8_t buf[256];
	size_t n, i;

	if (k->id == 0 || k->id > WA_PREKEY_ID_MAX)
		return -1;
	n = pk_common(buf, k->id, k->pub, k->priv);
	n += pk_bytes(buf + n, 4, -1, k->sig, WA_PREKEY_SIG_LEN);
	buf[n++] = 5 << 3 | 1;
	for (i = 0; i < 8; i++)
		buf[n++] = (uint8_t)(k->timestamp >> (8 * i));
	*out = xmalloc(n);
	memcpy(*out, buf, n);
	*outlen = n;
	explicit_wipe(buf, sizeof(buf));
	return 0;
}

/* --- reading --- */

struct pk_fields {
	int has_id, has_pub, has_priv, has_sig;
	uint64_t id, timestamp;
	const uint8_t *pub, *priv, *sig;
	size_t pub_len, priv_len, sig_len;
};

static int
pk_read_varint(const uint8_t *buf, size_t len, size_t *off, uint64_t *v)
{
	unsigned shift = 0;

	*v = 0;
	while (*off < len && shift < 64) {
		uint8_t b = buf[(*off)++];
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 0;
		shift += 7;
	}
	return -1;
}

/* Walk the fields of a record (unknown ones skipped); every length checked against the buffer. */
static int
pk_parse(const uint8_t *buf, size_t len, struct pk_fields *f)
{
	size_t off = 0;
	uint64_t tag, v;

	memset(f, 0, sizeof(*f));
	if (len > WA_PREKEY_RECORD_MAX)
		return -1;
	while (off < len) {
		unsigned field, wt;

		if (pk_read_varint(buf, len, &off, &tag) == -1)
			return -1;
		field = (unsigned)(tag >> 3);
		wt = (unsigned)(tag & 7);
		switch (wt) {
		case 0:
			if (pk_read_varint(buf, len, &off, &v) == -1)
				return -1;
			if (field == 1) {
				f->id = v;
				f->has_id = 1;
			}
			break;
		case 1:
			if (len - off < 8)
				return -1;
			if (field == 5) {
				size_t i;
				f->timestamp = 0;
				for (i = 0; i < 8; i++)
					f->timestamp |= (uint64_t)buf[off + i] << (8 * i);
			}
			off += 8;
			break;
		case 5:
			if (len - off < 4)
				return -1;
			off += 4;
			break;
		case 2:
			if (pk_read_varint(buf, len, &off, &v) == -1 || v > len - off)
				return -1;
			if (field == 2) {
				f->pub = buf + off, f->pub_len = (size_t)v, f->has_pub = 1;
			} else if (field == 3) {
				f->priv = buf + off, f->priv_len = (size_t)v, f->has_priv = 1;
			} else if (field == 4) {
				f->sig = buf + off, f->sig_len = (size_t)v, f->has_sig = 1;
			}
			off += (size_t)v;
			break;
		default:
			return -1;
		}
	}
	return 0;
}

/* Fields 1-3 present and consistent: the public key is the private key's. */
static int
pk_check_common(const struct pk_fields *f, uint32_t *id, uint8_t pub[WA_PREKEY_KEY_LEN],
    uint8_t priv[WA_PREKEY_KEY_LEN])
{
	uint8_t derived[WA_PREKEY_KEY_LEN];

	if (!f->has_id || f->id == 0 || f->id > WA_PREKEY_ID_MAX || !f->has_pub ||
	    f->pub_len != WA_PREKEY_KEY_LEN + 1 || f->pub[0] != PREKEY_DJB_TYPE || !f->has_priv ||
	    f->priv_len != WA_PREKEY_KEY_LEN)
		return -1;
	if (wa_noise_pubkey(f->priv, derived) == -1 || memcmp(derived, f->pub + 1, WA_PREKEY_KEY_LEN) != 0)
		return -1;
	*id = (uint32_t)f->id;
	memcpy(pub, f->pub + 1, WA_PREKEY_KEY_LEN);
	memcpy(priv, f->priv, WA_PREKEY_KEY_LEN);
	return 0;
}

int
wa_prekey_decode(const uint8_t *buf, size_t len, struct wa_prekey *k)
{
	struct pk_fields f;

	if (pk_parse(buf, len, &f) == -1 || pk_check_common(&f, &k->id, k->pub, k->priv) == -1)
		return -1;
	return 0;
}

int
wa_prekey_signed_decode(const uint8_t *buf, size_t len, struct wa_signed_prekey *k)
{
	struct pk_fields f;

	if (pk_parse(buf, len, &f) == -1 || pk_check_common(&f, &k->id, k->pub, k->priv) == -1 ||
	    !f.has_sig || f.sig_len != WA_PREKEY_SIG_LEN)
		return -1;
	memcpy(k->sig, f.sig, WA_PREKEY_SIG_LEN);
	k->timestamp = f.timestamp;
	return 0;
}
