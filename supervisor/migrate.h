/* Schema migrations: numbered SQL files applied once, in order, at start-up (blocking). */
#ifndef WAGATE_MIGRATE_H
#define WAGATE_MIGRATE_H

#include <stddef.h>

#define MIGRATE_FILE_MAX	(4 * 1024 * 1024)	/* largest migration file read */
#define MIGRATE_FILES_MAX	10000

/*
 * Apply every NNNN_name.sql in dir not yet recorded in schema_migrations, in version order, each in its own
 * transaction together with its schema_migrations row. A PostgreSQL advisory lock serialises concurrent runners.
 * Files must not contain transaction control (BEGIN/COMMIT) or statements that cannot run in a transaction.
 * Refuses with -1 when the database records a version dir does not have. 0 on success, -1 with err filled.
 */
int migrate_run(const char *conninfo, const char *dir, char *err, size_t errlen);
/* Wait up to timeout_s seconds for the database to accept a connection. 0 once it does, -1 with err filled. */
int migrate_connect_wait(const char *conninfo, int timeout_s, char *err, size_t errlen);
/* The highest version recorded in schema_migrations (0 when none or no table). 0, or -1 with err filled. */
int migrate_version(const char *conninfo, int *version, char *err, size_t errlen);

#endif
