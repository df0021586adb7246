/* wa_probe --pair: a minimal companion on top of wa_conn, to test fakewa's pairing and login side from C
 * (tests/fakewa/pairing_e2e.py) without the worker. It registers with fresh keys, prints the QR of the
 * first ref, answers pair-success (worker/wa/wa_adv.h: pair-device-sign, or the error iq when the check
 * fails), switches to the login payload for the 515 restart, and after <success> sends a few iqs. Lines
 * (stdout, flushed):
 *   QR <conn#> <qr text>
 *   PAIRED <conn#> <device jid>            PAIR-REFUSED <conn#> <code> <text>
 *   RESULT <conn#> <iq id> <result|error> <detail>   detail: count value, error code, or "-"
 * iq ids: probe-count, probe-upload (3 prekeys), probe-active, probe-unknown (an unknown xmlns), and with
 * logout probe-logout (remove-companion-device of the own device). */
#ifndef WAGATE_PROBE_COMPANION_H
#define WAGATE_PROBE_COMPANION_H

#include <stddef.h>
#include <stdint.h>

struct wa_conn;
struct wa_node;
struct probe_companion;
struct fw_sigstore;

/* Fresh keys for connection idx; logout: send remove-companion-device after the iqs. NULL on failure. */
struct probe_companion *probe_companion_new(int idx, int logout);
void probe_companion_free(struct probe_companion *pc);
/* The companion's Signal records: its keys, and the one-time prekeys of its last upload. */
struct fw_sigstore *probe_companion_signal(struct probe_companion *pc);
/* The Noise static private key the connection must use. */
const uint8_t *probe_companion_noise_priv(const struct probe_companion *pc);
/* The registration ClientPayload. *out is malloc'd. 0 or -1. */
int probe_companion_payload(const struct probe_companion *pc, uint8_t **out, size_t *outlen);
/* A new <iq to=s.whatsapp.net> with these attributes. */
struct wa_node *probe_companion_iq(const char *id, const char *type, const char *xmlns);
/* A node from the server. */
void probe_companion_node(struct probe_companion *pc, struct wa_conn *c, const struct wa_node *n);

#endif
