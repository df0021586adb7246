/* Noise server certificate chain and key files (wa-transport.md section 3); signatures are wa_xeddsa's. */
#include "wa_cert.h"
#include "errbuf.h"
#include "keytext.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


#include "cert.pb-c.h"
#include "wa_xeddsa.h"
#include "xmalloc.h"

const uint8_t wa_cert_whatsapp_root_pub[WA_CERT_KEY_LEN] = {
	0x14, 0x23, 0x75, 0x57, 0x4d, 0x0a, 0x58, 0x71, 0x66, 0xaa, 0xe7, 0x1e, 0xbe, 0x51, 0x64, 0x37,
	0xc4, 0xa2, 0x8b, 0x73, 0xe3, 0x69, 0x5c, 0x6c, 0xe1, 0xf7, 0xf9, 0x54, 0x5d, 0xa8, 0xee, 0x6b,
};

/* Pack a protobuf-c message into a new buffer. */
static int
cert_pack(const ProtobufCMessage *m, uint8_t **out, size_t *outlen)
{
	size_t n = protobuf_c_message_get_packed_size(m);

	*out = xmalloc(n > 0 ? n : 1);
	*outlen = protobuf_c_message_pack(m, *out);
	return 0;
}

/* Serialize Details with every field present. */
int
wa_cert_details_encode(const struct wa_cert_details *d, uint8_t **out, size_t *outlen)
{
	Wa__CertChain__NoiseCertificate__Details m = WA__CERT_CHAIN__NOISE_CERTIFICATE__DETAILS__INIT;

	m.has_serial = 1;
	m.serial = d->serial;
	m.has_issuerserial = 1;
	m.issuerserial = d->issuer_serial;
	m.has_key = 1;
	m.key.data = (uint8_t *)d->key;
	m.key.len = WA_CERT_KEY_LEN;
	m.has_notbefore = 1;
	m.notbefore = d->not_before;
	m.has_notafter = 1;
	m.notafter = d->not_after;
	return cert_pack(&m.base, out, outlen);
}

/* Parse Details; absent numbers read as 0 (as in Go). */
int
wa_cert_details_decode(const uint8_t *buf, size_t len, struct wa_cert_details *d)
{
	Wa__CertChain__NoiseCertificate__Details *m;

	memset(d, 0, sizeof(*d));
	if (len > WA_CERT_MAX_CHAIN)
		return -1;
	m = (Wa__CertChain__NoiseCertificate__Details *)protobuf_c_message_unpack(
	    &wa__cert_chain__noise_certificate__details__descriptor, NULL, len, buf);
	if (m == NULL)
		return -1;
	if (!m->has_key || m->key.len != WA_CERT_KEY_LEN) {
		protobuf_c_message_free_unpacked(&m->base, NULL);
		return -1;
	}
	d->serial = m->has_serial ? m->serial : 0;
	d->issuer_serial = m->has_issuerserial ? m->issuerserial : 0;
	memcpy(d->key, m->key.data, WA_CERT_KEY_LEN);
	d->not_before = m->has_notbefore ? m->notbefore : 0;
	d->not_after = m->has_notafter ? m->notafter : 0;
	protobuf_c_message_free_unpacked(&m->base, NULL);
	return 0;
}

/* Serialize a chain {leaf = 1, intermediate = 2}. */
int
wa_cert_chain_encode(const uint8_t *leaf_details, size_t leaf_len, const uint8_t leaf_sig[WA_CERT_SIG_LEN],
    const uint8_t *int_details, size_t int_len, const uint8_t int_sig[WA_CERT_SIG_LEN], uint8_t **out,
    size_t *outlen)
{
	Wa__CertChain chain = WA__CERT_CHAIN__INIT;
	Wa__CertChain__NoiseCertificate leaf = WA__CERT_CHAIN__NOISE_CERTIFICATE__INIT;
	Wa__CertChain__NoiseCertificate inter = WA__CERT_CHAIN__NOISE_CERTIFICATE__INIT;

	leaf.has_details = leaf.has_signature = 1;
	leaf.details.data = (uint8_t *)leaf_details;
	leaf.details.len = leaf_len;
	leaf.signature.data = (uint8_t *)leaf_sig;
	leaf.signature.len = WA_CERT_SIG_LEN;
	inter.has_details = inter.has_signature = 1;
	inter.details.data = (uint8_t *)int_details;
	inter.details.len = int_len;
	inter.signature.data = (uint8_t *)int_sig;
	inter.signature.len = WA_CERT_SIG_LEN;
	chain.leaf = &leaf;
	chain.intermediate = &inter;
	return cert_pack(&chain.base, out, outlen);
}

/* Sign both certificates and serialize the chain. */
int
wa_cert_chain_issue(const uint8_t root_priv[WA_CERT_KEY_LEN], const uint8_t int_priv[WA_CERT_KEY_LEN],
    const struct wa_cert_details *intermediate, const struct wa_cert_details *leaf, uint8_t **out,
    size_t *outlen)
{
	uint8_t *idet = NULL, *ldet = NULL, isig[WA_CERT_SIG_LEN], lsig[WA_CERT_SIG_LEN];
	size_t ilen, llen;
	int rc = -1;

	*out = NULL;
	*outlen = 0;
	if (wa_cert_details_encode(intermediate, &idet, &ilen) != 0 ||
	    wa_cert_details_encode(leaf, &ldet, &llen) != 0 ||
	    wa_xeddsa_sign(root_priv, idet, ilen, isig) != 0 ||
	    wa_xeddsa_sign(int_priv, ldet, llen, lsig) != 0)
		goto out;
	rc = wa_cert_chain_encode(ldet, llen, lsig, idet, ilen, isig, out, outlen);
out:
	free(idet);
	free(ldet);
	return rc;
}

/* The usual test chain for a server static key. */
int
wa_cert_chain_generate(const uint8_t root_priv[WA_CERT_KEY_LEN],
    const uint8_t server_static_pub[WA_CERT_KEY_LEN], uint64_t not_before, uint64_t not_after, uint8_t **out,
    size_t *outlen)
{
	struct wa_cert_details inter, leaf;
	uint8_t ipriv[WA_CERT_KEY_LEN];
	int rc;

	*out = NULL;
	*outlen = 0;
	memset(&inter, 0, sizeof(inter));
	memset(&leaf, 0, sizeof(leaf));
	if (wa_xeddsa_keypair_generate(ipriv, inter.key) != 0)
		return -1;
	inter.serial = 1;
	inter.issuer_serial = WA_CERT_ROOT_ISSUER_SERIAL;
	inter.not_before = leaf.not_before = not_before;
	inter.not_after = leaf.not_after = not_after;
	leaf.serial = 2;
	leaf.issuer_serial = inter.serial;
	memcpy(leaf.key, server_static_pub, WA_CERT_KEY_LEN);
	rc = wa_cert_chain_issue(root_priv, ipriv, &inter, &leaf, out, outlen);
	explicit_wipe(ipriv, sizeof(ipriv));
	return rc;
}

/* Fill err with a reason and fail. */
/* Whether a certificate message has both its parts. */
static int
cert_complete(const Wa__CertChain__NoiseCertificate *c)
{
	return c != NULL && c->has_details && c->has_signature;
}

/* Check notBefore <= now <= notAfter for one certificate. */
static int
cert_check_time(const char *which, const struct wa_cert_details *d, uint64_t now, char *err, size_t errlen)
{
	if (now < d->not_before)
		return errbuf_fail(err, errlen, "certificate: %s not yet valid (notBefore %llu, now %llu)", which,
		    (unsigned long long)d->not_before, (unsigned long long)now);
	if (now > d->not_after)
		return errbuf_fail(err, errlen, "certificate: %s expired (notAfter %llu, now %llu)", which,
		    (unsigned long long)d->not_after, (unsigned long long)now);
	return 0;
}

/* Verify a chain with whatsmeow's checks in whatsmeow's order. */
int
wa_cert_chain_verify(const uint8_t *chain, size_t len, const uint8_t root_pub[WA_CERT_KEY_LEN],
    const uint8_t server_static[WA_CERT_KEY_LEN], uint64_t now, char *err, size_t errlen)
{
	Wa__CertChain *m = NULL;
	const Wa__CertChain__NoiseCertificate *leaf, *inter;
	struct wa_cert_details id, ld;
	uint8_t diff = 0;
	size_t i;
	int rc = -1;

	if (len > WA_CERT_MAX_CHAIN)
		return errbuf_fail(err, errlen, "certificate: chain too long (%zu bytes)", len);
	m = wa__cert_chain__unpack(NULL, len, chain);
	if (m == NULL)
		return errbuf_fail(err, errlen, "certificate: chain does not parse");
	leaf = m->leaf;
	inter = m->intermediate;
	if (!cert_complete(leaf)) {
		errbuf_fail(err, errlen, "certificate: leaf missing details or signature");
		goto out;
	}
	if (!cert_complete(inter)) {
		errbuf_fail(err, errlen, "certificate: intermediate missing details or signature");
		goto out;
	}
	if (inter->signature.len != WA_CERT_SIG_LEN) {
		errbuf_fail(err, errlen, "certificate: intermediate signature is %zu bytes, want 64",
		    inter->signature.len);
		goto out;
	}
	if (leaf->signature.len != WA_CERT_SIG_LEN) {
		errbuf_fail(err, errlen, "certificate: leaf signature is %zu bytes, want 64", leaf->signature.len);
		goto out;
	}
	if (wa_xeddsa_verify(root_pub, inter->details.data, inter->details.len, inter->signature.data) != 0) {
		errbuf_fail(err, errlen, "certificate: intermediate signature invalid (not signed by the trusted root)");
		goto out;
	}
	if (wa_cert_details_decode(inter->details.data, inter->details.len, &id) != 0) {
		errbuf_fail(err, errlen, "certificate: intermediate details do not parse or key is not 32 bytes");
		goto out;
	}
	if (id.issuer_serial != WA_CERT_ROOT_ISSUER_SERIAL) {
		errbuf_fail(err, errlen, "certificate: intermediate issuer serial %u, want %u", id.issuer_serial,
		    WA_CERT_ROOT_ISSUER_SERIAL);
		goto out;
	}
	if (wa_xeddsa_verify(id.key, leaf->details.data, leaf->details.len, leaf->signature.data) != 0) {
		errbuf_fail(err, errlen, "certificate: leaf signature invalid (not signed by the intermediate)");
		goto out;
	}
	if (cert_check_time("intermediate", &id, now, err, errlen) != 0)
		goto out;
	if (wa_cert_details_decode(leaf->details.data, leaf->details.len, &ld) != 0) {
		errbuf_fail(err, errlen, "certificate: leaf details do not parse or key is not 32 bytes");
		goto out;
	}
	if (ld.issuer_serial != id.serial) {
		errbuf_fail(err, errlen, "certificate: leaf issuer serial %u does not match intermediate serial %u",
		    ld.issuer_serial, id.serial);
		goto out;
	}
	for (i = 0; i < WA_CERT_KEY_LEN; i++)
		diff |= (uint8_t)(ld.key[i] ^ server_static[i]);
	if (diff != 0) {
		errbuf_fail(err, errlen, "certificate: leaf key does not match the server static key");
		goto out;
	}
	if (cert_check_time("leaf", &ld, now, err, errlen) != 0)
		goto out;
	rc = 0;
out:
	wa__cert_chain__free_unpacked(m, NULL);
	return rc;
}

/* Read a key file. */
int
wa_cert_key_read_file(const char *path, uint8_t key[WA_CERT_KEY_LEN], char *err, size_t errlen)
{
	char buf[1025];
	size_t n;
	FILE *f;
	int bad;

	if ((f = fopen(path, "re")) == NULL)
		return errbuf_fail(err, errlen, "%s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	bad = ferror(f) || !feof(f);
	fclose(f);
	if (bad)
		return errbuf_fail(err, errlen, "%s: read error or longer than 1 KiB", path);
	buf[n] = '\0';
	if (strlen(buf) != n || keytext_parse(buf, key) != 0) {
		explicit_wipe(buf, sizeof(buf));
		return errbuf_fail(err, errlen, "%s: not a 32-byte key in hex or base64", path);
	}
	explicit_wipe(buf, sizeof(buf));
	return 0;
}

/* Write a key file atomically (temporary file + rename). */
int
wa_cert_key_write_file(const char *path, const uint8_t key[WA_CERT_KEY_LEN], int secret)
{
	char line[2 * WA_CERT_KEY_LEN + 2], *tmp = NULL;
	int fd, saved;
	ssize_t w;

	keytext_format(key, line);
	line[2 * WA_CERT_KEY_LEN] = '\n';
	line[2 * WA_CERT_KEY_LEN + 1] = '\0';
	xasprintf(&tmp, "%s.tmpXXXXXX", path);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		goto fail;
	if (fchmod(fd, secret ? 0600 : 0644) != 0)
		goto fail_fd;
	w = write(fd, line, strlen(line));
	if (w != (ssize_t)strlen(line)) {
		if (w >= 0)
			errno = EIO;
		goto fail_fd;
	}
	if (fsync(fd) != 0)
		goto fail_fd;
	if (close(fd) != 0)
		goto fail_unlink;
	if (rename(tmp, path) != 0)
		goto fail_unlink;
	explicit_wipe(line, sizeof(line));
	free(tmp);
	return 0;
fail_fd:
	saved = errno;
	close(fd);
	errno = saved;
fail_unlink:
	saved = errno;
	unlink(tmp);
	errno = saved;
fail:
	explicit_wipe(line, sizeof(line));
	free(tmp);
	return -1;
}
