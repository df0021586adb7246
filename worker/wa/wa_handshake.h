/* The whole Noise XX exchange of WhatsApp as message-in / message-out steps, for both roles
 * (reference/wa-transport.md sections 2.6-2.7). Messages in and out are serialized HandshakeMessage
 * protobufs, i.e. frame payloads: put them through wa_frame (the client's first frame carries the
 * connection header). Pure computation: no sockets, no events, no logging.
 *
 * client: new -> client_hello -> (frame out, frame in) -> client_on_server_hello (verifies the certificate
 *         chain) -> (frame out) -> split.
 * server: new -> (frame in) -> server_on_client_hello -> (frame out, frame in) -> server_on_client_finish
 *         (gives the client's static key and payload) -> split. */
#ifndef WAGATE_WA_HANDSHAKE_H
#define WAGATE_WA_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "wa_noise.h"

#define WA_HANDSHAKE_MAX_MESSAGE 65536	/* a handshake message longer than this is refused unparsed */

/* Why a step failed, kept beside the text it wrote to err (wa_handshake_error). Callers decide what to do
 * (retry, give up) from this code, never from the text, which is for people and may change. */
enum wa_hs_err {
	WA_HS_ERR_NONE = 0,	/* no step has failed */
	WA_HS_ERR_STATE,	/* a step called out of order or for the other role: a bug in the caller */
	WA_HS_ERR_PROTO,	/* the peer's message does not parse, lacks a part or has a wrong size */
	WA_HS_ERR_CRYPTO,	/* key agreement or decryption failed (not the server's proof of identity) */
	WA_HS_ERR_CERT,		/* the server did not prove its identity: its certificate chain does not
				 * verify, or the certificate sealed to its static key does not decrypt. The
				 * same server will fail the same way again. */
	WA_HS_ERR_INTERNAL,	/* our side failed (randomness, encryption) */
};

struct wa_handshake;

/* A client handshake. static_priv is the device's Noise key; root_pub the trusted certificate root (NULL:
 * WhatsApp's real root); payload the encoded ClientPayload (copied; opaque here). */
struct wa_handshake *wa_handshake_client_new(const uint8_t static_priv[WA_NOISE_KEY_LEN],
    const uint8_t *root_pub, const uint8_t *payload, size_t payload_len);
/* A server handshake with its static key pair and the encoded CertChain it presents (copied). */
struct wa_handshake *wa_handshake_server_new(const uint8_t static_priv[WA_NOISE_KEY_LEN],
    const uint8_t static_pub[WA_NOISE_KEY_LEN], const uint8_t *cert_chain, size_t chain_len);
/* Wipe and release a handshake of either role (NULL is fine). */
void wa_handshake_free(struct wa_handshake *h);

/* Before the first step: the prologue (connection header; default "WA" 6 3, at most 16 bytes). 0 or -1. */
int wa_handshake_set_prologue(struct wa_handshake *h, const uint8_t *prologue, size_t len);
/* Before the first step: use this ephemeral private key instead of a fresh one (known-answer tests). */
int wa_handshake_set_ephemeral(struct wa_handshake *h, const uint8_t priv[WA_NOISE_KEY_LEN]);
/* The clock used for certificate validity, Unix seconds (0, the default, means time(NULL)). */
void wa_handshake_set_time(struct wa_handshake *h, uint64_t now);

/* Client step 1: HandshakeMessage{clientHello{ephemeral}} into a malloc'd *out. 0 or -1. */
int wa_handshake_client_hello(struct wa_handshake *h, uint8_t **out, size_t *outlen);
/* Client step 2: process the server hello (decrypt the server static key and certificate chain, verify
 * the chain against the root), then build HandshakeMessage{clientFinish{static, payload}} into a malloc'd
 * *finish. 0, or -1 with a reason in err ("handshake: ..." or "certificate: ...") and its code in
 * wa_handshake_error (WA_HS_ERR_CERT for a refused certificate); the handshake is then dead. */
int wa_handshake_client_on_server_hello(struct wa_handshake *h, const uint8_t *in, size_t len,
    uint8_t **finish, size_t *finishlen, char *err, size_t errlen);

/* Server step 1: process the client hello, build HandshakeMessage{serverHello{ephemeral, static,
 * payload}} into a malloc'd *out. 0, or -1 with a reason in err. */
int wa_handshake_server_on_client_hello(struct wa_handshake *h, const uint8_t *in, size_t len,
    uint8_t **out, size_t *outlen, char *err, size_t errlen);
/* Server step 2: process the client finish: the client's static key into client_static and its decrypted
 * payload (ClientPayload bytes) into a malloc'd *payload. 0, or -1 with a reason in err. */
int wa_handshake_server_on_client_finish(struct wa_handshake *h, const uint8_t *in, size_t len,
    uint8_t client_static[WA_NOISE_KEY_LEN], uint8_t **payload, size_t *payload_len, char *err,
    size_t errlen);

/* After the last step: the transport ciphers for this side (client: send = k1, recv = k2; server: the
 * other way round). The caller owns them. Works once. 0 or -1. */
int wa_handshake_split(struct wa_handshake *h, struct wa_noise_transport **send,
    struct wa_noise_transport **recv);
/* Why the last step failed: WA_HS_ERR_NONE while none has. Set by every step that returns -1 (a failed
 * client_hello is WA_HS_ERR_INTERNAL or WA_HS_ERR_STATE); split failures leave it unchanged. */
enum wa_hs_err wa_handshake_error(const struct wa_handshake *h);
/* Whether the last step succeeded (split is allowed). */
int wa_handshake_done(const struct wa_handshake *h);
/* The peer's static public key once known (client: the server's, after on_server_hello; server: the
 * client's, after on_client_finish), else NULL. */
const uint8_t *wa_handshake_peer_static(const struct wa_handshake *h);
/* The handshake hash h at this point (after the last step: the final one). */
void wa_handshake_hash(const struct wa_handshake *h, uint8_t out[WA_NOISE_KEY_LEN]);

#endif
