/* The Signal layer's operations on libsignal-protocol-c. See wa_signal.h. Each operation is: check sizes and
 * names, start a store operation, ask for the records it is known to need (so that one round of loading
 * usually suffices), run libsignal, then commit its writes or drop them. */
#include "wa_signal.h"
#include "wa_signal_crypto.h"
#include "wa_signal_store.h"
#include "errbuf.h"
#include "xmalloc.h"

#include <signal/curve.h>
#include <signal/group_cipher.h>
#include <signal/group_session_builder.h>
#include <signal/protocol.h>
#include <signal/session_builder.h>
#include <signal/session_cipher.h>
#include <signal/session_pre_key.h>
#include <signal/signal_protocol.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIGNAL_DJB_TYPE		0x05
#define SIGNAL_MIN_RECORDS	16
#define SIGNAL_MIN_BYTES	(64u * 1024)

struct wa_signal {
	signal_context *ctx;
	signal_protocol_store_context *sc;
	struct wa_signal_store *st;
	struct wa_signal_rng rng;
	enum wa_signal_error error;
};

/* A parsed "name:device" with the name NUL-terminated for libsignal. */
struct signal_addr {
	char name[WA_SIGNAL_ADDRESS_MAX + 1];
	signal_protocol_address a;
};

/* Parse an address in its one canonical spelling (no sign, no leading zero), so each device has one key. */
static int
signal_addr_parse(const char *s, struct signal_addr *out)
{
	const char *colon;
	char *end, canon[WA_SIGNAL_ADDRESS_MAX + 16];
	unsigned long dev;
	size_t namelen;

	if (s == NULL || strlen(s) > WA_SIGNAL_ADDRESS_MAX || (colon = strrchr(s, ':')) == NULL || colon == s ||
	    colon[1] < '0' || colon[1] > '9')
		return -1;
	errno = 0;
	dev = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || dev > INT32_MAX)
		return -1;
	namelen = (size_t)(colon - s);
	memcpy(out->name, s, namelen);
	out->name[namelen] = '\0';
	snprintf(canon, sizeof(canon), "%s:%lu", out->name, dev);
	if (strcmp(canon, s) != 0)
		return -1;
	out->a.name = out->name;
	out->a.name_len = namelen;
	out->a.device_id = (int32_t)dev;
	return 0;
}

static int
signal_group_ok(const char *g)
{
	return g != NULL && g[0] != '\0' && strlen(g) <= WA_SIGNAL_ADDRESS_MAX;
}

/* libsignal's public key from 32 raw bytes (0x05 prepended, as on the wire's <type>). */
static int
signal_pub_decode(signal_context *ctx, const uint8_t raw[WA_SIGNAL_KEY_LEN], ec_public_key **out)
{
	uint8_t buf[1 + WA_SIGNAL_KEY_LEN];

	buf[0] = SIGNAL_DJB_TYPE;
	memcpy(buf + 1, raw, WA_SIGNAL_KEY_LEN);
	return curve_decode_point(out, buf, sizeof(buf), ctx) == 0 ? 0 : -1;
}

/* A key pair from a raw private key (the public key is computed). */
static int
signal_pair_from_priv(signal_context *ctx, const uint8_t priv[WA_SIGNAL_KEY_LEN], ec_key_pair **out)
{
	ec_private_key *sk = NULL;
	ec_public_key *pk = NULL;
	int rc = -1;

	if (curve_decode_private_point(&sk, priv, WA_SIGNAL_KEY_LEN, ctx) == 0 &&
	    curve_generate_public_key(&pk, sk) == 0 && ec_key_pair_create(out, pk, sk) == 0)
		rc = 0;
	SIGNAL_UNREF(pk);
	SIGNAL_UNREF(sk);
	return rc;
}

/* Our identity and signed prekey in the forms the store callbacks hand to libsignal; the signed prekey's
 * signature is checked here so that a wrong key is caught at startup, not by every peer. */
static int
signal_own_load(struct wa_signal *s, const struct wa_signal_own *own, char *err, size_t errlen)
{
	ec_key_pair *id = NULL, *spk = NULL;
	session_signed_pre_key *rec = NULL;
	signal_buffer *pub = NULL, *spkpub = NULL, *ser = NULL;
	int rc = -1;

	if (signal_pair_from_priv(s->ctx, own->identity_priv, &id) == -1 ||
	    signal_pair_from_priv(s->ctx, own->signed_prekey_priv, &spk) == -1 ||
	    ec_public_key_serialize(&pub, ec_key_pair_get_public(id)) != 0 ||
	    ec_public_key_serialize(&spkpub, ec_key_pair_get_public(spk)) != 0) {
		errbuf_fail(err, errlen, "own keys do not decode");
		goto out;
	}
	if (curve_verify_signature(ec_key_pair_get_public(id), signal_buffer_data(spkpub), signal_buffer_len(spkpub),
	    own->signed_prekey_sig, WA_SIGNAL_SIG_LEN) != 1) {
		errbuf_fail(err, errlen, "signed prekey %u: signature does not verify with the identity key",
		    own->signed_prekey_id);
		goto out;
	}
	if (session_signed_pre_key_create(&rec, own->signed_prekey_id, own->signed_prekey_timestamp, spk,
	    own->signed_prekey_sig, WA_SIGNAL_SIG_LEN) != 0 || session_signed_pre_key_serialize(&ser, rec) != 0) {
		errbuf_fail(err, errlen, "signed prekey %u: record not built", own->signed_prekey_id);
		goto out;
	}
	wa_signal_store_set_own(s->st, signal_buffer_data(pub), own->identity_priv, own->registration_id,
	    own->signed_prekey_id, signal_buffer_data(ser), signal_buffer_len(ser));
	rc = 0;
out:
	SIGNAL_UNREF(id);
	SIGNAL_UNREF(spk);
	SIGNAL_UNREF(rec);
	signal_buffer_free(pub);
	signal_buffer_free(spkpub);
	signal_buffer_bzero_free(ser);
	return rc;
}

struct wa_signal *
wa_signal_new(const struct wa_signal_own *own, size_t max_records, size_t max_bytes, char *err, size_t errlen)
{
	struct wa_signal *s;
	signal_crypto_provider p;

	if (max_records < SIGNAL_MIN_RECORDS || max_bytes < SIGNAL_MIN_BYTES) {
		errbuf_fail(err, errlen, "cache caps %zu records / %zu bytes: at least %d records and %u bytes",
		    max_records, max_bytes, SIGNAL_MIN_RECORDS, SIGNAL_MIN_BYTES);
		return NULL;
	}
	if (own->signed_prekey_id == 0 || own->signed_prekey_id > 0xffffff) {
		errbuf_fail(err, errlen, "signed prekey id %u out of range", own->signed_prekey_id);
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->st = wa_signal_store_new(max_records, max_bytes);
	wa_signal_crypto_provider(&p, &s->rng);
	if (signal_context_create(&s->ctx, s) != 0 || signal_context_set_crypto_provider(s->ctx, &p) != 0 ||
	    signal_protocol_store_context_create(&s->sc, s->ctx) != 0 || wa_signal_store_install(s->st, s->sc) != 0) {
		errbuf_fail(err, errlen, "libsignal context not created");
		wa_signal_free(s);
		return NULL;
	}
	if (signal_own_load(s, own, err, errlen) == -1) {
		wa_signal_free(s);
		return NULL;
	}
	return s;
}

void
wa_signal_free(struct wa_signal *s)
{
	if (s == NULL)
		return;
	wa_signal_store_free(s->st);
	if (s->sc != NULL)
		signal_protocol_store_context_destroy(s->sc);
	if (s->ctx != NULL)
		signal_context_destroy(s->ctx);
	free(s);
}

void
wa_signal_set_random(struct wa_signal *s, void (*fn)(void *buf, size_t n, void *arg), void *arg)
{
	s->rng.fn = fn;
	s->rng.arg = arg;
}

/* Our one-time prekey's record from its private key, as libsignal loads it. */
static int
signal_prekey_record(struct wa_signal *s, uint32_t id, const uint8_t *priv, signal_buffer **out)
{
	ec_key_pair *kp = NULL;
	session_pre_key *pk = NULL;
	int rc = -1;

	if (signal_pair_from_priv(s->ctx, priv, &kp) == 0 && session_pre_key_create(&pk, id, kp) == 0 &&
	    session_pre_key_serialize(out, pk) == 0)
		rc = 0;
	SIGNAL_UNREF(pk);
	SIGNAL_UNREF(kp);
	return rc;
}

int
wa_signal_put(struct wa_signal *s, const struct wa_signal_key *k, const uint8_t *data, size_t len, char *err,
    size_t errlen)
{
	struct signal_addr a;
	signal_buffer *rec = NULL;

	switch (k->kind) {
	case WA_SIGNAL_SESSION:
	case WA_SIGNAL_IDENTITY:
	case WA_SIGNAL_SENDER_KEY:
		if (signal_addr_parse(k->address, &a) == -1)
			return errbuf_fail(err, errlen, "bad address");
		if (k->kind == WA_SIGNAL_SENDER_KEY && !signal_group_ok(k->group))
			return errbuf_fail(err, errlen, "bad group");
		if (data != NULL && (k->kind == WA_SIGNAL_IDENTITY ? len != WA_SIGNAL_KEY_LEN :
		    len == 0 || len > WA_SIGNAL_RECORD_MAX))
			return errbuf_fail(err, errlen, "%s: record of %zu bytes refused", k->address, len);
		wa_signal_store_put(s->st, &(struct wa_signal_key){ .kind = k->kind, .address = k->address,
		    .group = k->kind == WA_SIGNAL_SENDER_KEY ? k->group : NULL }, data, len);
		return 0;
	case WA_SIGNAL_PREKEY:
		if (k->prekey_id == 0 || k->prekey_id > 0xffffff)
			return errbuf_fail(err, errlen, "prekey id %u out of range", k->prekey_id);
		if (data != NULL && (len != WA_SIGNAL_KEY_LEN || signal_prekey_record(s, k->prekey_id, data, &rec) == -1))
			return errbuf_fail(err, errlen, "prekey %u: bad private key", k->prekey_id);
		wa_signal_store_put(s->st, &(struct wa_signal_key){ .kind = k->kind, .prekey_id = k->prekey_id },
		    rec ? signal_buffer_data(rec) : NULL, rec ? signal_buffer_len(rec) : 0);
		signal_buffer_bzero_free(rec);
		return 0;
	}
	return errbuf_fail(err, errlen, "unknown record kind %d", (int)k->kind);
}

const struct wa_signal_key *
wa_signal_needed(const struct wa_signal *s, size_t *n)
{
	return wa_signal_store_needed(s->st, n);
}

enum wa_signal_error
wa_signal_error(const struct wa_signal *s)
{
	return s->error;
}

void
wa_signal_take_changes(struct wa_signal *s, struct wa_signal_change **v, size_t *n)
{
	wa_signal_store_take(s->st, v, n);
}

void
wa_signal_changes_free(struct wa_signal_change *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free((char *)v[i].key.address);
		free((char *)v[i].key.group);
		free_wiped(v[i].data, v[i].len);
	}
	free(v);
}

void
wa_signal_clear(struct wa_signal *s)
{
	wa_signal_store_clear(s->st);
}

int
wa_signal_forget_user(struct wa_signal *s, const char *name)
{
	size_t n = name != NULL ? strlen(name) : 0;

	/* a name with a colon would match no address, or the wrong one: refused rather than silently kept */
	if (n == 0 || n >= WA_SIGNAL_ADDRESS_MAX || strchr(name, ':') != NULL)
		return -1;
	wa_signal_store_forget(s->st, name, n);
	return 0;
}

void
wa_signal_cache_usage(const struct wa_signal *s, size_t *records, size_t *bytes)
{
	wa_signal_store_usage(s->st, records, bytes);
}

/* --- operations --- */

/* libsignal's code as our error class. */
static enum wa_signal_error
signal_error_class(int rc)
{
	switch (rc) {
	case SG_ERR_DUPLICATE_MESSAGE:
		return WA_SIGNAL_E_DUPLICATE;
	case SG_ERR_INVALID_KEY_ID:
		return WA_SIGNAL_E_NO_PREKEY;
	case SG_ERR_NO_SESSION:
		return WA_SIGNAL_E_NO_SESSION;
	case SG_ERR_UNTRUSTED_IDENTITY:
		return WA_SIGNAL_E_UNTRUSTED;
	case SG_ERR_INVALID_KEY:
	case SG_ERR_INVALID_MAC:
	case SG_ERR_INVALID_MESSAGE:
	case SG_ERR_INVALID_VERSION:
	case SG_ERR_LEGACY_MESSAGE:
	case SG_ERR_STALE_KEY_EXCHANGE:
	case SG_ERR_VRF_SIG_VERIF_FAILED:
	case SG_ERR_INVALID_PROTO_BUF:
		return WA_SIGNAL_E_INVALID;
	default:
		return WA_SIGNAL_E_INTERNAL;
	}
}

static const char *
signal_error_name(enum wa_signal_error e)
{
	static const char *names[] = { "ok", "invalid message", "unknown prekey", "no session", "duplicate message",
	    "untrusted identity", "internal error" };

	return (size_t)e < sizeof(names) / sizeof(names[0]) ? names[e] : "?";
}

/* Start an operation. */
static void
signal_begin(struct wa_signal *s)
{
	wa_signal_store_begin(s->st);
	s->error = WA_SIGNAL_E_NONE;
}

/* Ask for a record the operation will read; 1 present, 0 known absent, -1 not cached (now needed). */
static int
signal_want(struct wa_signal *s, enum wa_signal_kind kind, const char *address, const char *group, uint32_t id)
{
	struct wa_signal_key k = { .kind = kind, .address = address, .group = group, .prekey_id = id };
	const uint8_t *data;
	size_t len;

	return wa_signal_store_get(s->st, &k, &data, &len);
}

/* Whether the operation so far lacks records. */
static int
signal_lacking(struct wa_signal *s)
{
	size_t n;

	wa_signal_store_needed(s->st, &n);
	return n > 0;
}

/* End an operation with libsignal's code rc (or our own class e when rc is 0 and e is set): commit on success,
 * otherwise drop every staged write. A record that was not cached wins over any error it caused. */
static int
signal_end(struct wa_signal *s, int rc, enum wa_signal_error e, const char *what, const char *who, char *err,
    size_t errlen)
{
	if (signal_lacking(s)) {
		wa_signal_store_abort(s->st, 1);
		return WA_SIGNAL_NEED;
	}
	if (rc < 0 || e != WA_SIGNAL_E_NONE) {
		wa_signal_store_abort(s->st, 0);
		s->error = e != WA_SIGNAL_E_NONE ? e : signal_error_class(rc);
		errbuf_fail(err, errlen, "%s %s: %s (libsignal %d)", what, who, signal_error_name(s->error), rc);
		return WA_SIGNAL_FAILED;
	}
	wa_signal_store_commit(s->st);
	return WA_SIGNAL_DONE;
}

/* Replace a peer's identity we refused (section 6.5): forget the old identity and the session built on it, and
 * flag the change; libsignal then trusts the new key on first use. Staged, so a later failure undoes it. */
static void
signal_identity_replace(struct wa_signal *s, const char *address)
{
	wa_signal_store_stage(s->st, &(struct wa_signal_key){ .kind = WA_SIGNAL_SESSION, .address = address },
	    NULL, 0, 0);
	wa_signal_store_stage(s->st, &(struct wa_signal_key){ .kind = WA_SIGNAL_IDENTITY, .address = address },
	    NULL, 0, 1);
}

/* A libsignal buffer as a malloc'd copy; the buffer is wiped and freed. */
static void
signal_take_buffer(signal_buffer *b, uint8_t **out, size_t *outlen)
{
	size_t len = signal_buffer_len(b);

	*out = xmalloc(len > 0 ? len : 1);
	memcpy(*out, signal_buffer_data(b), len);
	*outlen = len;
	signal_buffer_bzero_free(b);
}

static int
signal_size_ok(size_t len)
{
	return len > 0 && len <= WA_SIGNAL_MESSAGE_MAX;
}

int
wa_signal_session_build(struct wa_signal *s, const char *address, const struct wa_signal_bundle *b, char *err,
    size_t errlen)
{
	struct signal_addr a;
	ec_public_key *pre = NULL, *spk = NULL, *ik = NULL;
	session_pre_key_bundle *bundle = NULL;
	session_builder *builder = NULL;
	int rc = 0, attempt;

	signal_begin(s);
	if (signal_addr_parse(address, &a) == -1 || (uint32_t)a.a.device_id != b->device_id)
		return signal_end(s, 0, WA_SIGNAL_E_INTERNAL, "build", "(bad address or device)", err, errlen);
	signal_want(s, WA_SIGNAL_SESSION, address, NULL, 0);
	signal_want(s, WA_SIGNAL_IDENTITY, address, NULL, 0);
	if (signal_lacking(s))
		return signal_end(s, 0, 0, "build", address, err, errlen);
	if ((b->has_prekey && signal_pub_decode(s->ctx, b->prekey_pub, &pre) == -1) ||
	    signal_pub_decode(s->ctx, b->signed_prekey_pub, &spk) == -1 ||
	    signal_pub_decode(s->ctx, b->identity_pub, &ik) == -1 ||
	    session_pre_key_bundle_create(&bundle, b->registration_id, (int)b->device_id,
	    b->has_prekey ? b->prekey_id : 0, pre, b->signed_prekey_id, spk, b->signed_prekey_sig,
	    WA_SIGNAL_SIG_LEN, ik) != 0) {
		rc = SG_ERR_INVALID_KEY;
		goto out;
	}
	for (attempt = 0; attempt < 2; attempt++) {
		if ((rc = session_builder_create(&builder, s->sc, &a.a, s->ctx)) != 0)
			break;
		rc = session_builder_process_pre_key_bundle(builder, bundle);
		session_builder_free(builder);
		if (rc != SG_ERR_UNTRUSTED_IDENTITY || attempt > 0 || signal_lacking(s))
			break;
		signal_identity_replace(s, address);
	}
out:
	SIGNAL_UNREF(bundle);
	SIGNAL_UNREF(pre);
	SIGNAL_UNREF(spk);
	SIGNAL_UNREF(ik);
	return signal_end(s, rc, 0, "build", address, err, errlen);
}

int
wa_signal_has_session(struct wa_signal *s, const char *address, int *has, char *err, size_t errlen)
{
	struct signal_addr a;
	int rc;

	signal_begin(s);
	if (signal_addr_parse(address, &a) == -1)
		return signal_end(s, 0, WA_SIGNAL_E_INTERNAL, "has-session", "(bad address)", err, errlen);
	rc = signal_want(s, WA_SIGNAL_SESSION, address, NULL, 0);
	if (rc >= 0)
		*has = rc > 0;
	return signal_end(s, 0, 0, "has-session", address, err, errlen);
}

int
wa_signal_encrypt(struct wa_signal *s, const char *address, const uint8_t *pt, size_t ptlen,
    enum wa_signal_type *type, uint8_t **ct, size_t *ctlen, char *err, size_t errlen)
{
	struct signal_addr a;
	session_cipher *cipher = NULL;
	ciphertext_message *m = NULL;
	int rc;

	signal_begin(s);
	if (signal_addr_parse(address, &a) == -1 || !signal_size_ok(ptlen))
		return signal_end(s, 0, WA_SIGNAL_E_INTERNAL, "encrypt", "(bad address or size)", err, errlen);
	/* libsignal would fail on an empty record with a generic error: say "no session" instead. */
	if ((rc = signal_want(s, WA_SIGNAL_SESSION, address, NULL, 0)) <= 0)
		return signal_end(s, 0, rc == 0 ? WA_SIGNAL_E_NO_SESSION : 0, "encrypt", address, err, errlen);
	if ((rc = session_cipher_create(&cipher, s->sc, &a.a, s->ctx)) == 0) {
		rc = session_cipher_encrypt(cipher, pt, ptlen, &m);
		session_cipher_free(cipher);
	}
	if (rc == 0) {
		*type = ciphertext_message_get_type(m) == CIPHERTEXT_PREKEY_TYPE ? WA_SIGNAL_PKMSG : WA_SIGNAL_MSG;
		signal_take_buffer(signal_buffer_copy(ciphertext_message_get_serialized(m)), ct, ctlen);
	}
	SIGNAL_UNREF(m);
	return signal_end(s, rc, 0, "encrypt", address, err, errlen);
}

int
wa_signal_decrypt(struct wa_signal *s, const char *address, enum wa_signal_type type, const uint8_t *ct,
    size_t ctlen, uint8_t **pt, size_t *ptlen, char *err, size_t errlen)
{
	struct signal_addr a;
	pre_key_signal_message *pkm = NULL;
	signal_message *m = NULL;
	session_cipher *cipher = NULL;
	signal_buffer *out = NULL;
	int rc, attempt;

	signal_begin(s);
	if (signal_addr_parse(address, &a) == -1 || !signal_size_ok(ctlen) ||
	    (type != WA_SIGNAL_PKMSG && type != WA_SIGNAL_MSG))
		return signal_end(s, 0, WA_SIGNAL_E_INTERNAL, "decrypt", "(bad address, size or type)", err, errlen);
	rc = type == WA_SIGNAL_PKMSG ? pre_key_signal_message_deserialize(&pkm, ct, ctlen, s->ctx) :
	    signal_message_deserialize(&m, ct, ctlen, s->ctx);
	if (rc != 0)
		return signal_end(s, rc, WA_SIGNAL_E_INVALID, "decrypt", address, err, errlen);
	signal_want(s, WA_SIGNAL_SESSION, address, NULL, 0);
	if (pkm != NULL) {
		signal_want(s, WA_SIGNAL_IDENTITY, address, NULL, 0);
		if (pre_key_signal_message_has_pre_key_id(pkm) && pre_key_signal_message_get_pre_key_id(pkm) != 0 &&
		    pre_key_signal_message_get_pre_key_id(pkm) <= 0xffffff)
			signal_want(s, WA_SIGNAL_PREKEY, NULL, NULL, pre_key_signal_message_get_pre_key_id(pkm));
	}
	for (attempt = 0; attempt < 2 && !signal_lacking(s); attempt++) {
		if ((rc = session_cipher_create(&cipher, s->sc, &a.a, s->ctx)) != 0)
			break;
		rc = pkm != NULL ? session_cipher_decrypt_pre_key_signal_message(cipher, pkm, NULL, &out) :
		    session_cipher_decrypt_signal_message(cipher, m, NULL, &out);
		session_cipher_free(cipher);
		if (rc != SG_ERR_UNTRUSTED_IDENTITY || attempt > 0)
			break;
		signal_identity_replace(s, address);
	}
	SIGNAL_UNREF(pkm);
	SIGNAL_UNREF(m);
	if (rc == 0 && out != NULL && !signal_lacking(s))
		signal_take_buffer(out, pt, ptlen);
	else
		signal_buffer_bzero_free(out);
	return signal_end(s, rc, 0, "decrypt", address, err, errlen);
}

/* The sender key name of (group, address), both checked; a holds the parsed address and must outlive n.
 * 0, or -1 for a bad group or address. */
static int
signal_skname(signal_protocol_sender_key_name *n, const char *group, const char *address, struct signal_addr *a)
{
	if (!signal_group_ok(group) || signal_addr_parse(address, a) == -1)
		return -1;
	n->group_id = group;
	n->group_id_len = strlen(group);
	n->sender = a->a;
	return 0;
}

int
wa_signal_group_create(struct wa_signal *s, const char *group, const char *own, uint8_t **skdm, size_t *skdmlen,
    char *err, size_t errlen)
{
	struct signal_addr a;
	signal_protocol_sender_key_name n;
	group_session_builder *gb = NULL;
	sender_key_distribution_message *m = NULL;
	int rc;

	signal_begin(s);
	if (signal_skname(&n, group, own, &a) == -1)
		return signal_end(s, 0, WA_SIGNAL_E_INTERNAL, "group create", "(bad group or address)", err, errlen);
	if (signal_want(s, WA_SIGNAL_SENDER_KEY, own, group, 0) < 0)
		return signal_end(s, 0, 0, "group create", group, err, errlen);
	if ((rc = group_session_builder_create(&gb, s->sc, s->ctx)) == 0) {
		rc = group_session_builder_create_session(gb, &m, &n);
		group_session_builder_free(gb);
	}
	if (rc == 0)
		signal_take_buffer(signal_buffer_copy(ciphertext_message_get_serialized((ciphertext_message *)m)),
		    skdm, skdmlen);
	SIGNAL_UNREF(m);
	return signal_end(s, rc, 0, "group create", group, err, errlen);
}

int
wa_signal_group_process(struct wa_signal *s, const char *group, const char *sender, const uint8_t *skdm,
    size_t skdmlen, char *err, size_t errlen)
{
	struct signal_addr a;
	signal_protocol_sender_key_name n;
	group_session_builder *gb = NULL;
	sender_key_distribution_message *m = NULL;
	int rc;

	signal_begin(s);
	if (signal_skname(&n, group, sender, &a) == -1 || !signal_size_ok(skdmlen))
		return signal_end(s, 0, WA_SIGNAL_E_INTERNAL, "group process", "(bad group, address or size)", err,
		    errlen);
	if ((rc = sender_key_distribution_message_deserialize(&m, skdm, skdmlen, s->ctx)) != 0)
		return signal_end(s, rc, WA_SIGNAL_E_INVALID, "group process", sender, err, errlen);
	if (signal_want(s, WA_SIGNAL_SENDER_KEY, sender, group, 0) >= 0 &&
	    (rc = group_session_builder_create(&gb, s->sc, s->ctx)) == 0) {
		rc = group_session_builder_process_session(gb, &n, m);
		group_session_builder_free(gb);
	}
	SIGNAL_UNREF(m);
	return signal_end(s, rc, 0, "group process", sender, err, errlen);
}

int
wa_signal_group_encrypt(struct wa_signal *s, const char *group, const char *own, const uint8_t *pt, size_t ptlen,
    uint8_t **ct, size_t *ctlen, char *err, size_t errlen)
{
	struct signal_addr a;
	signal_protocol_sender_key_name n;
	group_cipher *gc = NULL;
	ciphertext_message *m = NULL;
	int rc;

	signal_begin(s);
	if (signal_skname(&n, group, own, &a) == -1 || !signal_size_ok(ptlen))
		return signal_end(s, 0, WA_SIGNAL_E_INTERNAL, "group encrypt", "(bad group, address or size)", err,
		    errlen);
	if ((rc = signal_want(s, WA_SIGNAL_SENDER_KEY, own, group, 0)) <= 0)
		return signal_end(s, 0, rc == 0 ? WA_SIGNAL_E_NO_SESSION : 0, "group encrypt", group, err, errlen);
	if ((rc = group_cipher_create(&gc, s->sc, &n, s->ctx)) == 0) {
		rc = group_cipher_encrypt(gc, pt, ptlen, &m);
		group_cipher_free(gc);
	}
	if (rc == 0)
		signal_take_buffer(signal_buffer_copy(ciphertext_message_get_serialized(m)), ct, ctlen);
	SIGNAL_UNREF(m);
	return signal_end(s, rc, 0, "group encrypt", group, err, errlen);
}

int
wa_signal_group_decrypt(struct wa_signal *s, const char *group, const char *sender, const uint8_t *ct,
    size_t ctlen, uint8_t **pt, size_t *ptlen, char *err, size_t errlen)
{
	struct signal_addr a;
	signal_protocol_sender_key_name n;
	group_cipher *gc = NULL;
	sender_key_message *m = NULL;
	signal_buffer *out = NULL;
	int rc;

	signal_begin(s);
	if (signal_skname(&n, group, sender, &a) == -1 || !signal_size_ok(ctlen))
		return signal_end(s, 0, WA_SIGNAL_E_INTERNAL, "group decrypt", "(bad group, address or size)", err,
		    errlen);
	if ((rc = sender_key_message_deserialize(&m, ct, ctlen, s->ctx)) != 0)
		return signal_end(s, rc, WA_SIGNAL_E_INVALID, "group decrypt", sender, err, errlen);
	if (signal_want(s, WA_SIGNAL_SENDER_KEY, sender, group, 0) >= 0 &&
	    (rc = group_cipher_create(&gc, s->sc, &n, s->ctx)) == 0) {
		rc = group_cipher_decrypt(gc, m, NULL, &out);
		group_cipher_free(gc);
	}
	SIGNAL_UNREF(m);
	if (rc == 0 && out != NULL && !signal_lacking(s))
		signal_take_buffer(out, pt, ptlen);
	else
		signal_buffer_bzero_free(out);
	return signal_end(s, rc, 0, "group decrypt", sender, err, errlen);
}
