/* Message helpers of the tests that run lifecycle_msg.c against PostgreSQL (lifecycle_msg_test.c,
 * lifecycle_msg_batch_test.c), on lc_testlib.h's fixture. Include after it. */
#ifndef WAGATE_LM_TESTLIB_H
#define WAGATE_LM_TESTLIB_H

#include "workers.h"

#include <stddef.h>
#include <stdint.h>

/* A conversation Message, packed (caller frees). */
uint8_t *pack_text(const char *text, size_t *len);
/* A reply mentioning 15550009999: extendedTextMessage with contextInfo, packed (caller frees). */
uint8_t *pack_reply(const char *text, size_t *len);
/* A message with every string set ("" = none); the strings and body are lent. */
struct workers_msg msg(const char *id, const char *remote, const char *participant, const char *push, int from_me,
    int by_api, int status, const uint8_t *body, size_t len);
/* Hand a MessageStore to lifecycle and wait for its answer; returns ok. */
int store(const struct workers_msg_store *m, uint64_t req);
/* One status change of a message with 15550002222 in a store of its own; returns ok. */
int store_status(const char *id, int status, uint64_t req);
/* The generic and custom plans made so far of the statements whose text holds needle, by the connection an idle
 * pool gives its next job (pg_prepared_statements is per connection, and db_pump gives every job of an idle
 * pool to its first connection: the one that ran the statements of a test that waits for each answer). */
void prepared_plans(const char *needle, long *generic, long *custom);

#endif
