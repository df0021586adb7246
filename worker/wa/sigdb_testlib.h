/* Test-only: an in-memory table of Signal records, keyed as the supervisor's signal_* tables key them (kind,
 * address, group, prekey id), for the tests that play the worker's database: wa_signal_test (a party's store),
 * msg_exec_test and msg_recv_test (the scripted supervisor), msg_worker_test and msg_send_harness.c (the
 * in-memory supervisors). A NULL address or group is the same as "". Kinds are whatever the test uses
 * (wa_signal's or the IPC's). */
#ifndef WAGATE_SIGDB_TESTLIB_H
#define WAGATE_SIGDB_TESTLIB_H

#include <stddef.h>
#include <stdint.h>

struct sigdb_row {
	struct sigdb_row *next;
	int kind;
	char *address, *group;		/* never NULL in a row */
	uint32_t id;
	uint8_t *data;
	size_t len;
};

/* The link that points to the row, or the list's last link (*result NULL) without it. */
struct sigdb_row **sigdb_find(struct sigdb_row **db, int kind, const char *address, const char *group, uint32_t id);
/* Write the row (a copy of data, replacing one there) or, with data NULL, delete it. */
void sigdb_set(struct sigdb_row **db, int kind, const char *address, const char *group, uint32_t id,
    const uint8_t *data, size_t len);
size_t sigdb_count(const struct sigdb_row *db);
/* Delete every row; *db is NULL afterwards. */
void sigdb_free(struct sigdb_row **db);

#endif
