/* Test-only: the PostgreSQL server and scratch databases of the supervisor's unit tests. Never linked into wagate. */
#ifndef WAGATE_PGTEST_H
#define WAGATE_PGTEST_H

/*
 * The server is WAGATE_TEST_PGURI when that is set (and no private cluster is asked for), else a private cluster
 * made by scripts/pg.sh in a fresh /tmp directory on a free port. scripts/ is found through WAGATE_SRCDIR, else
 * the WAGATE_SOURCE_ROOT define, else ".". Databases made here are dropped WITH (FORCE) by pgtest_free.
 * Failures print one line on stderr (the test's log) and return -1 or NULL; a bad URI or no socket is fatal.
 */
struct pgtest;

/* Pick the server: WAGATE_TEST_PGURI, or a new private cluster when it is unset or want_private is set. */
struct pgtest *pgtest_new(int want_private);
/* Drop every database still made here, then stop and delete a private cluster. NULL does nothing. */
void pgtest_free(struct pgtest *pg);
/* The superuser URI of the server (owned by pg). */
const char *pgtest_admin_uri(const struct pgtest *pg);
/* 1 when pg runs its own cluster, which pgtest_cluster_stop/start may take down and bring back. */
int pgtest_is_private(const struct pgtest *pg);
/* Fast shutdown of a private cluster (sessions are cut), to test outages. */
void pgtest_cluster_stop(struct pgtest *pg);
/* Start a private cluster again, same directory and port; 0 or -1. */
int pgtest_cluster_start(struct pgtest *pg);
/* A fresh database named by printf-style fmt (an old one is dropped first); its conninfo (caller frees) or NULL. */
char *pgtest_db_create(struct pgtest *pg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drop a database made here, ending its sessions. */
void pgtest_db_drop(struct pgtest *pg, const char *name);
/* conninfo of uri with dbname replaced by name (kept when NULL) and "key=value ..." extra appended (caller frees). */
char *pgtest_conninfo(const char *uri, const char *name, const char *extra);
/* A TCP port on 127.0.0.1 that was free a moment ago. */
int pgtest_free_port(void);

#endif
