/* WhatsApp's Noise XX handshake, both roles (reference/wa-transport.md sections 2.5-2.7). */
#include "wa_handshake.h"
#include "errbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handshake.pb-c.h"
#include "wa_cert.h"
#include "wa_frame.h"
#include "xmalloc.h"

enum hs_role { HS_CLIENT, HS_SERVER };

enum hs_state {
	HS_START,		/* nothing sent or received yet */
	HS_HELLO,		/* client: hello sent; server: server hello sent */
	HS_DONE,		/* ready to split */
	HS_SPLIT,		/* transport keys handed out */
	HS_FAILED,
};

struct wa_handshake {
	enum hs_role role;
	enum hs_state state;
	struct wa_noise *noise;
	uint8_t prologue[WA_FRAME_MAX_HEADER];
	size_t prologue_len;
	uint8_t s_priv[WA_NOISE_KEY_LEN];	/* our static key pair */
	uint8_t s_pub[WA_NOISE_KEY_LEN];
	uint8_t e_priv[WA_NOISE_KEY_LEN];	/* our ephemeral key pair */
	uint8_t e_pub[WA_NOISE_KEY_LEN];
	int e_fixed;
	uint8_t re[WA_NOISE_KEY_LEN];		/* the peer's ephemeral key */
	uint8_t rs[WA_NOISE_KEY_LEN];		/* the peer's static key */
	int has_rs;
	uint8_t root[WA_NOISE_KEY_LEN];		/* client: the trusted root */
	uint8_t *blob;				/* client: ClientPayload; server: CertChain */
	size_t blob_len;
	uint64_t now;
	enum wa_hs_err error;			/* why the last step failed */
};

/* Allocate the common part. */
static struct wa_handshake *
hs_new(enum hs_role role, const uint8_t *blob, size_t blob_len)
{
	struct wa_handshake *h = xcalloc(1, sizeof(*h));

	h->role = role;
	memcpy(h->prologue, wa_frame_header_default, WA_FRAME_HEADER_LEN);
	h->prologue_len = WA_FRAME_HEADER_LEN;
	h->blob = xmalloc(blob_len > 0 ? blob_len : 1);
	if (blob_len > 0)
		memcpy(h->blob, blob, blob_len);
	h->blob_len = blob_len;
	return h;
}

/* A client handshake. */
struct wa_handshake *
wa_handshake_client_new(const uint8_t static_priv[WA_NOISE_KEY_LEN], const uint8_t *root_pub,
    const uint8_t *payload, size_t payload_len)
{
	struct wa_handshake *h;

	if (payload == NULL && payload_len != 0)
		return NULL;
	h = hs_new(HS_CLIENT, payload, payload_len);
	memcpy(h->s_priv, static_priv, WA_NOISE_KEY_LEN);
	memcpy(h->root, root_pub != NULL ? root_pub : wa_cert_whatsapp_root_pub, WA_NOISE_KEY_LEN);
	if (wa_noise_pubkey(h->s_priv, h->s_pub) != 0) {
		wa_handshake_free(h);
		return NULL;
	}
	return h;
}

/* A server handshake. */
struct wa_handshake *
wa_handshake_server_new(const uint8_t static_priv[WA_NOISE_KEY_LEN], const uint8_t static_pub[WA_NOISE_KEY_LEN],
    const uint8_t *cert_chain, size_t chain_len)
{
	struct wa_handshake *h;

	if (cert_chain == NULL && chain_len != 0)
		return NULL;
	h = hs_new(HS_SERVER, cert_chain, chain_len);
	memcpy(h->s_priv, static_priv, WA_NOISE_KEY_LEN);
	memcpy(h->s_pub, static_pub, WA_NOISE_KEY_LEN);
	return h;
}

/* Release a handshake, wiping every key. */
void
wa_handshake_free(struct wa_handshake *h)
{
	if (h == NULL)
		return;
	wa_noise_free(h->noise);
	free_wiped(h->blob, h->blob_len > 0 ? h->blob_len : 1);
	free_wiped(h, sizeof(*h));
}

/* Override the prologue before the first step. */
int
wa_handshake_set_prologue(struct wa_handshake *h, const uint8_t *prologue, size_t len)
{
	if (h->state != HS_START || h->noise != NULL || len > sizeof(h->prologue) || (prologue == NULL && len))
		return -1;
	if (len > 0)
		memcpy(h->prologue, prologue, len);
	h->prologue_len = len;
	return 0;
}

/* Fix the ephemeral key before the first step. */
int
wa_handshake_set_ephemeral(struct wa_handshake *h, const uint8_t priv[WA_NOISE_KEY_LEN])
{
	if (h->state != HS_START || h->noise != NULL)
		return -1;
	memcpy(h->e_priv, priv, WA_NOISE_KEY_LEN);
	if (wa_noise_pubkey(h->e_priv, h->e_pub) != 0)
		return -1;
	h->e_fixed = 1;
	return 0;
}

/* Set the validity clock. */
void
wa_handshake_set_time(struct wa_handshake *h, uint64_t now)
{
	h->now = now;
}

/* Record why, fill err, mark the handshake dead, return -1. */
static int
hs_fail(struct wa_handshake *h, enum wa_hs_err code, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int
hs_fail(struct wa_handshake *h, enum wa_hs_err code, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	h->state = HS_FAILED;
	h->error = code;
	va_start(ap, fmt);
	errbuf_vfail(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Initialize the symmetric state and our ephemeral key, then mix the client ephemeral in later. */
static int
hs_start(struct wa_handshake *h)
{
	if (!h->e_fixed && wa_noise_keypair_generate(h->e_priv, h->e_pub) != 0)
		return -1;
	h->noise = wa_noise_new(h->prologue, h->prologue_len);
	return h->noise != NULL ? 0 : -1;
}

/* MixKey(DH(priv, pub)). */
static int
hs_mix_dh(struct wa_handshake *h, const uint8_t priv[WA_NOISE_KEY_LEN], const uint8_t pub[WA_NOISE_KEY_LEN])
{
	uint8_t ss[WA_NOISE_KEY_LEN];
	int rc;

	if (wa_noise_dh(priv, pub, ss) != 0)
		return -1;
	rc = wa_noise_mix_key(h->noise, ss, sizeof(ss));
	explicit_wipe(ss, sizeof(ss));
	return rc;
}

/* Decrypt the peer's static key, remember it, and mix our ephemeral with it (es for the client, se for the
 * server): the same step on both sides of XX. */
static int
hs_read_peer_static(struct wa_handshake *h, const uint8_t *ct, size_t ctlen, const char *who, char *err,
    size_t errlen)
{
	uint8_t *plain = NULL;
	size_t plen = 0;

	if (wa_noise_decrypt_and_hash(h->noise, ct, ctlen, &plain, &plen) != 0) {
		hs_fail(h, WA_HS_ERR_CRYPTO, err, errlen, "handshake: cannot decrypt the %s static key", who);
		return -1;
	}
	if (plen != WA_NOISE_KEY_LEN) {
		hs_fail(h, WA_HS_ERR_PROTO, err, errlen, "handshake: %s static key is %zu bytes, want 32", who, plen);
		free_wiped(plain, plen);
		return -1;
	}
	memcpy(h->rs, plain, WA_NOISE_KEY_LEN);
	h->has_rs = 1;
	free_wiped(plain, plen);
	if (hs_mix_dh(h, h->e_priv, h->rs) != 0) {
		hs_fail(h, WA_HS_ERR_CRYPTO, err, errlen, "handshake: key agreement with the %s static key failed",
		    who);
		return -1;
	}
	return 0;
}

/* Pack a HandshakeMessage into a new buffer. */
static void
hs_pack(const Wa__HandshakeMessage *m, uint8_t **out, size_t *outlen)
{
	size_t n = wa__handshake_message__get_packed_size(m);

	*out = xmalloc(n > 0 ? n : 1);
	*outlen = wa__handshake_message__pack(m, *out);
}

/* Parse a bounded HandshakeMessage. */
static Wa__HandshakeMessage *
hs_unpack(const uint8_t *in, size_t len)
{
	if (in == NULL || len > WA_HANDSHAKE_MAX_MESSAGE)
		return NULL;
	return wa__handshake_message__unpack(NULL, len, in);
}

/* Client: the first message. */
int
wa_handshake_client_hello(struct wa_handshake *h, uint8_t **out, size_t *outlen)
{
	Wa__HandshakeMessage m = WA__HANDSHAKE_MESSAGE__INIT;
	Wa__HandshakeMessage__ClientHello hello = WA__HANDSHAKE_MESSAGE__CLIENT_HELLO__INIT;

	*out = NULL;
	*outlen = 0;
	if (h->role != HS_CLIENT || h->state != HS_START) {
		h->error = WA_HS_ERR_STATE;
		return -1;
	}
	if (hs_start(h) != 0 || wa_noise_mix_hash(h->noise, h->e_pub, WA_NOISE_KEY_LEN) != 0) {
		h->state = HS_FAILED;
		h->error = WA_HS_ERR_INTERNAL;
		return -1;
	}
	/* WhatsApp does not MixHash the (empty) payload of message 1, unlike the Noise spec. */
	hello.has_ephemeral = 1;
	hello.ephemeral.data = h->e_pub;
	hello.ephemeral.len = WA_NOISE_KEY_LEN;
	m.clienthello = &hello;
	hs_pack(&m, out, outlen);
	h->state = HS_HELLO;
	return 0;
}

/* Client: process the server hello and answer with the client finish. */
int
wa_handshake_client_on_server_hello(struct wa_handshake *h, const uint8_t *in, size_t len,
    uint8_t **finish, size_t *finishlen, char *err, size_t errlen)
{
	Wa__HandshakeMessage *m = NULL;
	Wa__HandshakeMessage__ServerHello *sh;
	Wa__HandshakeMessage out = WA__HANDSHAKE_MESSAGE__INIT;
	Wa__HandshakeMessage__ClientFinish fin = WA__HANDSHAKE_MESSAGE__CLIENT_FINISH__INIT;
	uint8_t *plain = NULL, *c1 = NULL, *c2 = NULL;
	size_t plen = 0, c1len = 0, c2len = 0;
	int rc = -1;

	*finish = NULL;
	*finishlen = 0;
	if (h->role != HS_CLIENT || h->state != HS_HELLO)
		return hs_fail(h, WA_HS_ERR_STATE, err, errlen, "handshake: server hello out of order");
	if ((m = hs_unpack(in, len)) == NULL) {
		hs_fail(h, WA_HS_ERR_PROTO, err, errlen, "handshake: server hello does not parse (%zu bytes)", len);
		goto out;
	}
	sh = m->serverhello;
	if (sh == NULL || !sh->has_ephemeral || !sh->has_static_ || !sh->has_payload) {
		hs_fail(h, WA_HS_ERR_PROTO, err, errlen, "handshake: server hello lacks ephemeral, static or payload");
		goto out;
	}
	if (sh->ephemeral.len != WA_NOISE_KEY_LEN) {
		hs_fail(h, WA_HS_ERR_PROTO, err, errlen, "handshake: server ephemeral is %zu bytes, want 32",
		    sh->ephemeral.len);
		goto out;
	}
	memcpy(h->re, sh->ephemeral.data, WA_NOISE_KEY_LEN);
	if (wa_noise_mix_hash(h->noise, h->re, WA_NOISE_KEY_LEN) != 0 || hs_mix_dh(h, h->e_priv, h->re) != 0) {
		hs_fail(h, WA_HS_ERR_CRYPTO, err, errlen, "handshake: key agreement with the server ephemeral failed");
		goto out;
	}
	if (hs_read_peer_static(h, sh->static_.data, sh->static_.len, "server", err, errlen) != 0)
		goto out;
	/* The payload is sealed under es: a server presenting a static key it does not hold fails here, which is
	 * a certificate failure in substance (the server cannot prove it is the certified one). */
	if (wa_noise_decrypt_and_hash(h->noise, sh->payload.data, sh->payload.len, &plain, &plen) != 0) {
		hs_fail(h, WA_HS_ERR_CERT, err, errlen, "handshake: cannot decrypt the server certificate");
		goto out;
	}
	if (wa_cert_chain_verify(plain, plen, h->root, h->rs, h->now != 0 ? h->now : (uint64_t)time(NULL), err,
	    errlen) != 0) {
		h->state = HS_FAILED;
		h->error = WA_HS_ERR_CERT;
		goto out;
	}
	if (wa_noise_encrypt_and_hash(h->noise, h->s_pub, WA_NOISE_KEY_LEN, &c1, &c1len) != 0 ||
	    hs_mix_dh(h, h->s_priv, h->re) != 0 ||
	    wa_noise_encrypt_and_hash(h->noise, h->blob, h->blob_len, &c2, &c2len) != 0) {
		hs_fail(h, WA_HS_ERR_INTERNAL, err, errlen, "handshake: cannot build the client finish");
		goto out;
	}
	fin.has_static_ = 1;
	fin.static_.data = c1;
	fin.static_.len = c1len;
	fin.has_payload = 1;
	fin.payload.data = c2;
	fin.payload.len = c2len;
	out.clientfinish = &fin;
	hs_pack(&out, finish, finishlen);
	h->state = HS_DONE;
	rc = 0;
out:
	if (plain != NULL)
		free_wiped(plain, plen > 0 ? plen : 1);
	free(c1);
	free(c2);
	if (m != NULL)
		wa__handshake_message__free_unpacked(m, NULL);
	return rc;
}

/* Server: process the client hello and answer with the server hello. */
int
wa_handshake_server_on_client_hello(struct wa_handshake *h, const uint8_t *in, size_t len,
    uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	Wa__HandshakeMessage *m = NULL;
	Wa__HandshakeMessage__ClientHello *ch;
	Wa__HandshakeMessage reply = WA__HANDSHAKE_MESSAGE__INIT;
	Wa__HandshakeMessage__ServerHello sh = WA__HANDSHAKE_MESSAGE__SERVER_HELLO__INIT;
	uint8_t *s = NULL, *p = NULL;
	size_t slen = 0, plen = 0;
	int rc = -1;

	*out = NULL;
	*outlen = 0;
	if (h->role != HS_SERVER || h->state != HS_START)
		return hs_fail(h, WA_HS_ERR_STATE, err, errlen, "handshake: client hello out of order");
	if ((m = hs_unpack(in, len)) == NULL) {
		hs_fail(h, WA_HS_ERR_PROTO, err, errlen, "handshake: client hello does not parse (%zu bytes)", len);
		goto out;
	}
	ch = m->clienthello;
	if (ch == NULL || !ch->has_ephemeral || ch->ephemeral.len != WA_NOISE_KEY_LEN) {
		hs_fail(h, WA_HS_ERR_PROTO, err, errlen, "handshake: client hello lacks a 32-byte ephemeral key");
		goto out;
	}
	memcpy(h->re, ch->ephemeral.data, WA_NOISE_KEY_LEN);
	if (hs_start(h) != 0 ||
	    wa_noise_mix_hash(h->noise, h->re, WA_NOISE_KEY_LEN) != 0 ||
	    wa_noise_mix_hash(h->noise, h->e_pub, WA_NOISE_KEY_LEN) != 0 ||
	    hs_mix_dh(h, h->e_priv, h->re) != 0 ||
	    wa_noise_encrypt_and_hash(h->noise, h->s_pub, WA_NOISE_KEY_LEN, &s, &slen) != 0 ||
	    hs_mix_dh(h, h->s_priv, h->re) != 0 ||
	    wa_noise_encrypt_and_hash(h->noise, h->blob, h->blob_len, &p, &plen) != 0) {
		hs_fail(h, WA_HS_ERR_CRYPTO, err, errlen, "handshake: key agreement with the client ephemeral failed");
		goto out;
	}
	sh.has_ephemeral = 1;
	sh.ephemeral.data = h->e_pub;
	sh.ephemeral.len = WA_NOISE_KEY_LEN;
	sh.has_static_ = 1;
	sh.static_.data = s;
	sh.static_.len = slen;
	sh.has_payload = 1;
	sh.payload.data = p;
	sh.payload.len = plen;
	reply.serverhello = &sh;
	hs_pack(&reply, out, outlen);
	h->state = HS_HELLO;
	rc = 0;
out:
	free(s);
	free(p);
	if (m != NULL)
		wa__handshake_message__free_unpacked(m, NULL);
	return rc;
}

/* Server: process the client finish. */
int
wa_handshake_server_on_client_finish(struct wa_handshake *h, const uint8_t *in, size_t len,
    uint8_t client_static[WA_NOISE_KEY_LEN], uint8_t **payload, size_t *payload_len, char *err,
    size_t errlen)
{
	Wa__HandshakeMessage *m = NULL;
	Wa__HandshakeMessage__ClientFinish *cf;
	uint8_t *plain = NULL;
	size_t plen = 0;
	int rc = -1;

	*payload = NULL;
	*payload_len = 0;
	if (h->role != HS_SERVER || h->state != HS_HELLO)
		return hs_fail(h, WA_HS_ERR_STATE, err, errlen, "handshake: client finish out of order");
	if ((m = hs_unpack(in, len)) == NULL) {
		hs_fail(h, WA_HS_ERR_PROTO, err, errlen, "handshake: client finish does not parse (%zu bytes)", len);
		goto out;
	}
	cf = m->clientfinish;
	if (cf == NULL || !cf->has_static_ || !cf->has_payload) {
		hs_fail(h, WA_HS_ERR_PROTO, err, errlen, "handshake: client finish lacks static or payload");
		goto out;
	}
	if (hs_read_peer_static(h, cf->static_.data, cf->static_.len, "client", err, errlen) != 0)
		goto out;
	if (wa_noise_decrypt_and_hash(h->noise, cf->payload.data, cf->payload.len, &plain, &plen) != 0) {
		hs_fail(h, WA_HS_ERR_CRYPTO, err, errlen, "handshake: cannot decrypt the client payload");
		goto out;
	}
	memcpy(client_static, h->rs, WA_NOISE_KEY_LEN);
	*payload = plain;
	*payload_len = plen;
	plain = NULL;
	h->state = HS_DONE;
	rc = 0;
out:
	if (plain != NULL)
		free_wiped(plain, plen > 0 ? plen : 1);
	if (m != NULL)
		wa__handshake_message__free_unpacked(m, NULL);
	return rc;
}

/* Hand out the transport ciphers for this side. */
int
wa_handshake_split(struct wa_handshake *h, struct wa_noise_transport **send, struct wa_noise_transport **recv)
{
	struct wa_noise_transport *c2s, *s2c;

	*send = *recv = NULL;
	if (h->state != HS_DONE || wa_noise_split(h->noise, &c2s, &s2c) != 0)
		return -1;
	if (h->role == HS_CLIENT) {
		*send = c2s;
		*recv = s2c;
	} else {
		*send = s2c;
		*recv = c2s;
	}
	/* The ephemeral secret is no longer needed; forget it early. */
	explicit_wipe(h->e_priv, sizeof(h->e_priv));
	h->state = HS_SPLIT;
	return 0;
}

/* Why the last step failed. */
enum wa_hs_err
wa_handshake_error(const struct wa_handshake *h)
{
	return h->error;
}

/* Whether the handshake completed. */
int
wa_handshake_done(const struct wa_handshake *h)
{
	return h->state == HS_DONE || h->state == HS_SPLIT;
}

/* The peer's static key, once known. */
const uint8_t *
wa_handshake_peer_static(const struct wa_handshake *h)
{
	return h->has_rs ? h->rs : NULL;
}

/* The current handshake hash. */
void
wa_handshake_hash(const struct wa_handshake *h, uint8_t out[WA_NOISE_KEY_LEN])
{
	if (h->noise != NULL)
		wa_noise_state(h->noise, out, NULL, NULL);
	else
		memset(out, 0, WA_NOISE_KEY_LEN);
}
