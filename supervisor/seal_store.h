/* Where seal.h meets the tables: the creds, prekey, session and sender-key records the supervisor writes are
 * sealed with the configured key (WAGATE_CREDS_KEY) as they are copied out of the worker's message, and the creds
 * read at start are opened (and re-sealed with the current key when they were not, with every Signal record)
 * before Start is built. With no key configured, everything passes through unchanged. */
#ifndef WAGATE_SEAL_STORE_H
#define WAGATE_SEAL_STORE_H

#include <libpq-fe.h>
#include <stddef.h>

struct config;
struct instance;
struct workers_prekey;

/* What to store as auth_creds.creds of instance_id for len bytes of plain: a new buffer (free_wiped), the blob
 * sealed with the current key, or a copy of plain without one; NULL when len is 0. */
unsigned char *seal_store_creds(const struct config *cfg, const char *instance_id, const unsigned char *plain,
    size_t len, size_t *outlen);
/* Seal each of the n prekey records of instance_id in place: *records (the buffer the keys point into, of
 * *records_len bytes) is replaced by one holding the sealed records, and each key points into it. Nothing
 * changes without a current key. */
void seal_store_prekeys(const struct config *cfg, const char *instance_id, struct workers_prekey *keys, size_t n,
    unsigned char **records, size_t *records_len);
/* A Signal session record of (instance_id, address) (group NULL) or sender-key record of (instance_id, group,
 * address) as stored: a new buffer (free_wiped) sealed with the current key, or a copy without one. */
unsigned char *seal_store_record(const struct config *cfg, const char *instance_id, const char *group,
    const char *address, const unsigned char *plain, size_t len, size_t *outlen);
/* Open such a record as stored (sealed with the current or old key, or plaintext): 0 with *out (free_wiped),
 * or -1 with err. */
int seal_store_record_open(const struct config *cfg, const char *instance_id, const char *group,
    const char *address, const unsigned char *data, size_t len, unsigned char **out, size_t *outlen, char *err,
    size_t errlen);
/* At start, on the load connection: open the creds of instance_id (creds, *len bytes, as stored) in place, so
 * creds holds the plaintext and *len its length. When the row was not sealed with the current key (plaintext
 * from before a key was set, or the old key of a rotation), the creds and the instance's prekey, session and
 * sender-key records are re-sealed with it in one transaction (or stored in plaintext again when only an old
 * key is set). 0, or -1 with the reason in err when a stored value cannot be opened (unknown key, failed tag):
 * that instance must not start. A failed rewrite is only logged (the rows stay readable with the keys as configured). */
int seal_store_open(const struct config *cfg, PGconn *conn, const char *instance_id, const char *name,
    unsigned char *creds, size_t *len, char *err, size_t errlen);
/* The instance's stored creds could not be opened (why): record it as its disconnection, in memory and in
 * its row, so fetchInstances shows it; the caller registers no worker for it. */
void seal_store_fail(PGconn *conn, struct instance *inst, const char *why);

#endif
