/* Test-only: the PostgreSQL server and scratch databases of the supervisor's unit tests. Never linked into wagate. */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "log.h"
#include "pgtest.h"
#include "xmalloc.h"

#ifndef WAGATE_SOURCE_ROOT
#define WAGATE_SOURCE_ROOT "."
#endif

struct pgtest {
	char *admin_uri;	/* superuser URI of the server */
	char dir[256];		/* private cluster; "" when WAGATE_TEST_PGURI is used */
	int port;		/* of the private cluster */
	int running;		/* the private cluster is up */
	char **names;		/* databases made here and not dropped yet */
	size_t nnames;
};

/* Run scripts/pg.sh cmd on the private cluster; 0 or -1. */
static int
pgtest_pg_sh(const struct pgtest *pg, const char *cmd)
{
	const char *src = getenv("WAGATE_SRCDIR");
	char *line;
	int rc;

	if (src == NULL || *src == '\0')
		src = WAGATE_SOURCE_ROOT;
	/* A throwaway cluster needs no durability, and fsync makes every test slower. */
	xasprintf(&line, "PG_FSYNC=${PG_FSYNC:-off} '%s/scripts/pg.sh' %s '%s' %d", src, cmd, pg->dir, pg->port);
	rc = system(line);
	free(line);
	return rc == 0 ? 0 : -1;
}

/* Keep "does not exist, skipping" notices quiet. */
static void
pgtest_notice_cb(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Run the statement "verb name tail" as the superuser; 0 or -1. */
static int
pgtest_admin_exec(const struct pgtest *pg, const char *verb, const char *name, const char *tail)
{
	PGconn *conn = PQconnectdb(pg->admin_uri);
	PGresult *r;
	char *sql;
	int rc = -1;

	PQsetNoticeProcessor(conn, pgtest_notice_cb, NULL);
	xasprintf(&sql, "%s %s%s", verb, name, tail);
	if (PQstatus(conn) == CONNECTION_OK) {
		r = PQexec(conn, sql);
		if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
			rc = 0;
		else
			fprintf(stderr, "pgtest_admin_exec: %s: %s", sql, PQresultErrorMessage(r));
		PQclear(r);
	} else
		fprintf(stderr, "pgtest_admin_exec: %s", PQerrorMessage(conn));
	PQfinish(conn);
	free(sql);
	return rc;
}

/* Pick the server: WAGATE_TEST_PGURI, or a new private cluster when it is unset or want_private is set. */
struct pgtest *
pgtest_new(int want_private)
{
	const char *env = getenv("WAGATE_TEST_PGURI");
	struct pgtest *pg = xcalloc(1, sizeof(*pg));

	if (!want_private && env != NULL && *env != '\0') {
		pg->admin_uri = xstrdup(env);
		return pg;
	}
	snprintf(pg->dir, sizeof(pg->dir), "/tmp/wagate-pgtest-%d-XXXXXX", (int)getpid());
	if (mkdtemp(pg->dir) == NULL) {
		fprintf(stderr, "pgtest_new: mkdtemp %s failed\n", pg->dir);
		pg->dir[0] = '\0';
		pgtest_free(pg);
		return NULL;
	}
	pg->port = pgtest_free_port();
	xasprintf(&pg->admin_uri, "postgresql://postgres@127.0.0.1:%d/postgres", pg->port);
	if (pgtest_cluster_start(pg) == -1) {
		fprintf(stderr, "pgtest_new: no WAGATE_TEST_PGURI and no private cluster in %s\n", pg->dir);
		pgtest_free(pg);
		return NULL;
	}
	return pg;
}

/* Drop every database still made here, then stop and delete a private cluster. NULL does nothing. */
void
pgtest_free(struct pgtest *pg)
{
	char *line;

	if (pg == NULL)
		return;
	/* A private cluster left down by a failed outage test is deleted whole below. */
	while (pg->nnames > 0 && (pg->dir[0] == '\0' || pg->running))
		pgtest_db_drop(pg, pg->names[pg->nnames - 1]);
	while (pg->nnames > 0)
		free(pg->names[--pg->nnames]);
	if (pg->dir[0] != '\0') {
		pgtest_cluster_stop(pg);
		xasprintf(&line, "rm -rf '%s'", pg->dir);
		if (system(line) != 0)
			fprintf(stderr, "pgtest_free: could not remove %s\n", pg->dir);
		free(line);
	}
	free(pg->names);
	free(pg->admin_uri);
	free(pg);
}

/* The superuser URI of the server (owned by pg). */
const char *
pgtest_admin_uri(const struct pgtest *pg)
{
	return pg->admin_uri;
}

/* 1 when pg runs its own cluster, which pgtest_cluster_stop/start may take down and bring back. */
int
pgtest_is_private(const struct pgtest *pg)
{
	return pg->dir[0] != '\0';
}

/* Fast shutdown of a private cluster (sessions are cut), to test outages. */
void
pgtest_cluster_stop(struct pgtest *pg)
{
	if (pg->running && pgtest_pg_sh(pg, "stop") == -1)
		fprintf(stderr, "pgtest_cluster_stop: could not stop %s\n", pg->dir);
	pg->running = 0;
}

/* Start a private cluster again, same directory and port; 0 or -1. */
int
pgtest_cluster_start(struct pgtest *pg)
{
	if (pg->dir[0] == '\0' || pgtest_pg_sh(pg, "start") == -1)
		return -1;
	pg->running = 1;
	return 0;
}

/* A fresh database named by printf-style fmt (an old one is dropped first); its conninfo (caller frees) or NULL. */
char *
pgtest_db_create(struct pgtest *pg, const char *fmt, ...)
{
	va_list ap;
	char name[64];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	/* PostgreSQL would silently cut a longer name, and the drop at the end would miss it. */
	if (n < 0 || (size_t)n >= sizeof(name)) {
		fprintf(stderr, "pgtest_db_create: database name too long: %s\n", name);
		return NULL;
	}
	/* Left over from a crashed run of the same pid, or from an earlier test. */
	pgtest_admin_exec(pg, "DROP DATABASE IF EXISTS", name, " WITH (FORCE)");
	if (pgtest_admin_exec(pg, "CREATE DATABASE", name, "") == -1)
		return NULL;
	pg->names = xreallocarray(pg->names, pg->nnames + 1, sizeof(*pg->names));
	pg->names[pg->nnames++] = xstrdup(name);
	return pgtest_conninfo(pg->admin_uri, name, NULL);
}

/* Drop a database made here, ending its sessions. */
void
pgtest_db_drop(struct pgtest *pg, const char *name)
{
	size_t i;

	pgtest_admin_exec(pg, "DROP DATABASE IF EXISTS", name, " WITH (FORCE)");
	for (i = 0; i < pg->nnames; i++) {
		if (strcmp(pg->names[i], name) == 0) {
			free(pg->names[i]);
			pg->names[i] = pg->names[--pg->nnames];
			break;
		}
	}
}

/* conninfo of uri with dbname replaced by name (kept when NULL) and "key=value ..." extra appended (caller frees). */
char *
pgtest_conninfo(const char *uri, const char *name, const char *extra)
{
	PQconninfoOption *opts, *o;
	char *out = xstrdup(""), *tmp, *q, *d, *err = NULL;
	const char *v;

	if ((opts = PQconninfoParse(uri, &err)) == NULL)
		fatalx("%s", err != NULL ? err : "bad uri");
	for (o = opts; o->keyword != NULL; o++) {
		v = name != NULL && strcmp(o->keyword, "dbname") == 0 ? name : o->val;
		if (v == NULL)
			continue;
		/* Inside single quotes a backslash escapes ' and \ (a password may hold either). */
		d = q = xmalloc(2 * strlen(v) + 1);
		for (; *v != '\0'; v++) {
			if (*v == '\'' || *v == '\\')
				*d++ = '\\';
			*d++ = *v;
		}
		*d = '\0';
		xasprintf(&tmp, "%s%s='%s' ", out, o->keyword, q);
		free(q);
		free(out);
		out = tmp;
	}
	PQconninfoFree(opts);
	if (extra != NULL) {
		xasprintf(&tmp, "%s%s", out, extra);
		free(out);
		out = tmp;
	}
	return out;
}

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int
pgtest_free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		fatal("pgtest_free_port");
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}
