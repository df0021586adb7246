/* Credentials generation and the stored blob. See creds.h. */
#include "creds.h"
#include "errbuf.h"
#include "random.h"
#include "xmalloc.h"

#include "creds.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

struct creds *
creds_generate(void)
{
	struct creds *c = xcalloc(1, sizeof(*c));
	struct timeval tv;

	gettimeofday(&tv, NULL);
	if (wa_prekey_keypair(c->noise_priv, c->noise_pub) == -1 ||
	    wa_prekey_keypair(c->identity_priv, c->identity_pub) == -1 ||
	    wa_prekey_signed_generate(CREDS_SIGNED_PREKEY_ID, c->identity_priv,
	    (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000, &c->signed_prekey) == -1) {
		creds_free(c);
		return NULL;
	}
	c->registration_id = random_uniform(CREDS_REGID_MAX) + 1;
	random_bytes(c->adv_secret, sizeof(c->adv_secret));
	c->next_prekey_id = 1;
	return c;
}

void
creds_set_str(char **field, const char *value)
{
	free(*field);
	*field = value != NULL && *value != '\0' ? xstrdup(value) : NULL;
}

/* A key pair field: both 32 bytes, and the public key is the private key's. */
static int
creds_keypair(const Wagate__Creds__KeyPair *kp, uint8_t priv[CREDS_KEY_LEN], uint8_t pub[CREDS_KEY_LEN])
{
	struct wa_prekey k;
	uint8_t *rec;
	size_t len;
	int rc;

	if (kp == NULL || kp->priv.len != CREDS_KEY_LEN || kp->pub.len != CREDS_KEY_LEN)
		return -1;
	/* We store clamped private keys only; anything else was not written by us. */
	if ((kp->priv.data[0] & 7) != 0 || (kp->priv.data[31] & 0xc0) != 0x40)
		return -1;
	/* Reuse the record checker for the priv/pub consistency check. */
	k.id = 1;
	memcpy(k.priv, kp->priv.data, CREDS_KEY_LEN);
	memcpy(k.pub, kp->pub.data, CREDS_KEY_LEN);
	if (wa_prekey_encode(&k, &rec, &len) == -1)
		return -1;
	rc = wa_prekey_decode(rec, len, &k);
	free_wiped(rec, len);
	if (rc == 0) {
		memcpy(priv, k.priv, CREDS_KEY_LEN);
		memcpy(pub, k.pub, CREDS_KEY_LEN);
	}
	explicit_wipe(&k, sizeof(k));
	return rc;
}

/* Free an unpacked blob, wiping the secrets it holds first (protobuf-c only frees). */
static void
creds_unpacked_free(Wagate__Creds__Creds *m)
{
	if (m->noise != NULL)
		explicit_wipe(m->noise->priv.data, m->noise->priv.len);
	if (m->identity != NULL)
		explicit_wipe(m->identity->priv.data, m->identity->priv.len);
	explicit_wipe(m->signed_prekey.data, m->signed_prekey.len);
	explicit_wipe(m->adv_secret.data, m->adv_secret.len);
	wagate__creds__creds__free_unpacked(m, NULL);
}

struct creds *
creds_decode(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	Wagate__Creds__Creds *m;
	struct creds *c;

	if (len == 0 || len > CREDS_BLOB_MAX) {
		errbuf_fail(err, errlen, "credentials blob of %zu bytes", len);
		return NULL;
	}
	if ((m = wagate__creds__creds__unpack(NULL, len, buf)) == NULL) {
		errbuf_fail(err, errlen, "credentials blob does not parse");
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	if (m->version != CREDS_VERSION) {
		errbuf_fail(err, errlen, "credentials version %u", m->version);
		goto fail;
	}
	if (creds_keypair(m->noise, c->noise_priv, c->noise_pub) == -1 ||
	    creds_keypair(m->identity, c->identity_priv, c->identity_pub) == -1) {
		errbuf_fail(err, errlen, "credentials key pair invalid");
		goto fail;
	}
	if (m->registration_id == 0 || m->registration_id > CREDS_REGID_MAX) {
		errbuf_fail(err, errlen, "registration id %u out of range", m->registration_id);
		goto fail;
	}
	c->registration_id = m->registration_id;
	if (wa_prekey_signed_decode(m->signed_prekey.data, m->signed_prekey.len, &c->signed_prekey) == -1 ||
	    wa_prekey_signed_verify(&c->signed_prekey, c->identity_pub) == -1) {
		errbuf_fail(err, errlen, "signed prekey invalid");
		goto fail;
	}
	if (m->adv_secret.len != CREDS_KEY_LEN) {
		errbuf_fail(err, errlen, "adv secret of %zu bytes", m->adv_secret.len);
		goto fail;
	}
	memcpy(c->adv_secret, m->adv_secret.data, CREDS_KEY_LEN);
	if (m->next_prekey_id == 0 || m->next_prekey_id > WA_PREKEY_ID_MAX + 1) {
		errbuf_fail(err, errlen, "next prekey id %u out of range", m->next_prekey_id);
		goto fail;
	}
	c->next_prekey_id = m->next_prekey_id;
	creds_set_str(&c->jid, m->jid);
	creds_set_str(&c->lid, m->lid);
	creds_set_str(&c->platform, m->platform);
	creds_set_str(&c->business_name, m->business_name);
	creds_set_str(&c->push_name, m->push_name);
	if (m->account.len != 0) {
		c->account = xmalloc(m->account.len);
		memcpy(c->account, m->account.data, m->account.len);
		c->account_len = m->account.len;
	}
	c->key_index = m->key_index;
	if (m->account_pub.len == CREDS_KEY_LEN) {
		c->has_account_pub = 1;
		memcpy(c->account_pub, m->account_pub.data, CREDS_KEY_LEN);
	} else if (m->account_pub.len != 0) {
		errbuf_fail(err, errlen, "account key of %zu bytes", m->account_pub.len);
		goto fail;
	}
	creds_unpacked_free(m);
	return c;
fail:
	creds_unpacked_free(m);
	creds_free(c);
	return NULL;
}

int
creds_encode(const struct creds *c, uint8_t **out, size_t *outlen)
{
	Wagate__Creds__Creds m = WAGATE__CREDS__CREDS__INIT;
	Wagate__Creds__KeyPair noise = WAGATE__CREDS__KEY_PAIR__INIT, ident = WAGATE__CREDS__KEY_PAIR__INIT;
	uint8_t *spk = NULL;
	size_t spk_len = 0, n;

	if (wa_prekey_signed_encode(&c->signed_prekey, &spk, &spk_len) == -1)
		return -1;
	noise.priv.data = (uint8_t *)c->noise_priv;
	noise.priv.len = CREDS_KEY_LEN;
	noise.pub.data = (uint8_t *)c->noise_pub;
	noise.pub.len = CREDS_KEY_LEN;
	ident.priv.data = (uint8_t *)c->identity_priv;
	ident.priv.len = CREDS_KEY_LEN;
	ident.pub.data = (uint8_t *)c->identity_pub;
	ident.pub.len = CREDS_KEY_LEN;
	m.version = CREDS_VERSION;
	m.noise = &noise;
	m.identity = &ident;
	m.registration_id = c->registration_id;
	m.signed_prekey.data = spk;
	m.signed_prekey.len = spk_len;
	m.adv_secret.data = (uint8_t *)c->adv_secret;
	m.adv_secret.len = CREDS_KEY_LEN;
	m.next_prekey_id = c->next_prekey_id;
	m.jid = (char *)(c->jid != NULL ? c->jid : "");
	m.lid = (char *)(c->lid != NULL ? c->lid : "");
	m.platform = (char *)(c->platform != NULL ? c->platform : "");
	m.business_name = (char *)(c->business_name != NULL ? c->business_name : "");
	m.push_name = (char *)(c->push_name != NULL ? c->push_name : "");
	m.account.data = c->account;
	m.account.len = c->account_len;
	m.key_index = c->key_index;
	if (c->has_account_pub) {
		m.account_pub.data = (uint8_t *)c->account_pub;
		m.account_pub.len = CREDS_KEY_LEN;
	}
	n = wagate__creds__creds__get_packed_size(&m);
	*out = xmalloc(n);
	*outlen = wagate__creds__creds__pack(&m, *out);
	free_wiped(spk, spk_len);
	if (*outlen != n) {
		free_wiped(*out, n);
		*out = NULL;
		return -1;
	}
	return 0;
}

void
creds_free(struct creds *c)
{
	if (c == NULL)
		return;
	free(c->jid);
	free(c->lid);
	free(c->platform);
	free(c->business_name);
	free(c->push_name);
	free_wiped(c->account, c->account_len);
	free_wiped(c, sizeof(*c));
}
