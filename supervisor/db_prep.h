/* The prepared statements of one pool connection (db.c): which statement texts this session has prepared,
 * and under which name. Internal to db.c. */
#ifndef WAGATE_DB_PREP_H
#define WAGATE_DB_PREP_H

#include <stddef.h>
#include <stdint.h>

/* Statements prepared per connection. A full cache prepares nothing more (its texts run unprepared, as
 * before): the hot texts (the message and webhook paths) are the first ones a busy supervisor runs, and a
 * plan held by the server costs memory per connection. */
#define DB_PREP_MAX		128
#define DB_PREP_NAME_MAX	16

struct db_prep;

/* An empty cache (a new session has no prepared statements). */
struct db_prep *db_prep_new(void);
/* Forget everything (the session went away); NULL ok. */
void db_prep_free(struct db_prep *p);
/* The hash a text is looked up by: computed once per statement (db_tx_add_bin keeps it in db_stmt), since a
 * message-path text is kilobytes long and is looked up at least twice per run. */
uint64_t db_prep_hash(const char *sql, size_t len);
/*
 * Look sql up (hash: db_prep_hash of it). 1: prepared, its name in name. 0: not prepared and there is room: prepare it under name, then
 * db_prep_add. -1: run it unprepared: the cache is full, or sql starts with DB_UNPREPARED (db.h). name holds
 * DB_PREP_NAME_MAX bytes.
 */
int db_prep_find(struct db_prep *p, const char *sql, uint64_t hash, char *name);
/* sql was prepared under the name db_prep_find gave (no other db_prep_add in between). */
void db_prep_add(struct db_prep *p, const char *sql, uint64_t hash);

#endif
