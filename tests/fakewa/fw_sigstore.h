/* An in-memory "database" behind wa_signal.h for the Signal endpoints of the tests: the mock phone
 * (fw_phone_signal.c) and the test companion (probe_msg.c). It answers the NEED protocol from its table and
 * writes each operation's changes back, as the worker does with PostgreSQL. */
#ifndef WAGATE_FW_SIGSTORE_H
#define WAGATE_FW_SIGSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "wa_signal.h"

struct fw_sigstore;

/* A store and its wa_signal for own (NULL with err on bad keys). */
struct fw_sigstore *fw_sigstore_new(const struct wa_signal_own *own, char *err, size_t errlen);
void fw_sigstore_free(struct fw_sigstore *st);
/* The wa_signal to run operations on (through FW_SIGSTORE_RUN). */
struct wa_signal *fw_sigstore_signal(struct fw_sigstore *st);
/* Write a record (data NULL: delete it), in the table and in wa_signal's cache. */
void fw_sigstore_set(struct fw_sigstore *st, const struct wa_signal_key *k, const uint8_t *data, size_t len);
/* 1 if the table holds the record. */
int fw_sigstore_has(struct fw_sigstore *st, const struct wa_signal_key *k);
/* The addresses of the records of kind (SESSION, IDENTITY) into out (at most max; valid until the next write).
 * Returns how many there are. */
size_t fw_sigstore_addresses(struct fw_sigstore *st, enum wa_signal_kind kind, const char **out, size_t max);
/* Answer the NEED of the last operation; write the changes of the last operation. */
void fw_sigstore_load(struct fw_sigstore *st);
void fw_sigstore_save(struct fw_sigstore *st);

/* Run a wa_signal operation as its contract asks: load what it lacks, run it again, then save. */
#define FW_SIGSTORE_RUN(st, call) ({ \
	int rc_, round_ = 0; \
	while ((rc_ = (call)) == WA_SIGNAL_NEED && round_++ < 4) \
		fw_sigstore_load(st); \
	fw_sigstore_save(st); \
	rc_; })

#endif
