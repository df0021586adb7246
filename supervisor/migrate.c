/* Schema migrations: numbered SQL files applied in order, once, under an advisory lock (start-up only). */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "errbuf.h"
#include "migrate.h"
#include "xmalloc.h"

/* Advisory lock key shared by every wagate supervisor migrating the same database (arbitrary, fixed). */
#define MIGRATE_LOCK_KEY	"119251911276545"

struct migrate_file {
	int version;
	char *name;		/* file name, e.g. 0001_init.sql */
};

static void migrate_err(char *, size_t, const char *, ...) __attribute__((format(printf, 3, 4)));

/* Fold a message onto one line: libpq's messages span lines (LINE n: ..., a caret line) and the caller
 * logs one line. */
static void
migrate_flatten(char *msg)
{
	size_t i, n = 0;
	int blank = 0;

	for (i = 0; msg[i] != '\0'; i++) {
		if (msg[i] == '\n' || msg[i] == '\r' || msg[i] == '\t' || msg[i] == ' ') {
			blank = 1;
			continue;
		}
		if (blank && n > 0)
			msg[n++] = ' ';
		blank = 0;
		msg[n++] = msg[i];
	}
	msg[n] = '\0';
}

/* Write a one-line message into the caller's buffer. */
static void
migrate_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errbuf_vfail(err, errlen, fmt, ap);
	va_end(ap);
	if (err != NULL && errlen > 0)
		migrate_flatten(err);
}

/* Keep server notices (e.g. "relation already exists, skipping") off stderr. */
static void
migrate_notice_cb(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Open a blocking connection for start-up work. */
static PGconn *
migrate_connect(const char *conninfo)
{
	const char *keys[] = { "application_name", "connect_timeout", "dbname", NULL };
	const char *vals[] = { "wagate-migrate", "10", conninfo, NULL };
	PGconn *pg;

	if ((pg = PQconnectdbParams(keys, vals, 1)) == NULL)
		return NULL;
	PQsetNoticeProcessor(pg, migrate_notice_cb, NULL);
	return pg;
}

/* Run a statement that returns no rows worth keeping; 0 or -1 with err filled. */
static int
migrate_exec(PGconn *pg, const char *sql, const char *what, char *err, size_t errlen)
{
	PGresult *r = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
		migrate_err(err, errlen, "%s: %s", what, r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(pg));
		PQclear(r);
		return -1;
	}
	PQclear(r);
	return 0;
}

/* Wait for the database to accept a connection. */
int
migrate_connect_wait(const char *conninfo, int timeout_s, char *err, size_t errlen)
{
	struct timespec start, now, pause = { 0, 250 * 1000 * 1000 };
	PGconn *pg;

	if (conninfo == NULL) {
		migrate_err(err, errlen, "no database connection string");
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		pg = migrate_connect(conninfo);
		if (pg != NULL && PQstatus(pg) == CONNECTION_OK) {
			PQfinish(pg);
			return 0;
		}
		migrate_err(err, errlen, "database not reachable: %s",
		    pg != NULL ? PQerrorMessage(pg) : "out of memory");
		PQfinish(pg);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= timeout_s)
			return -1;
		nanosleep(&pause, NULL);
	}
}

/* Parse "NNNN_name.sql"; the version, or -1 when the name is not a migration. */
static int
migrate_parse_name(const char *name)
{
	const char *p;
	long v = 0;
	size_t len = strlen(name);

	if (len < 6 || strcmp(name + len - 4, ".sql") != 0)
		return -1;
	for (p = name; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > INT_MAX)
			return -1;
	}
	if (p == name || *p != '_' || v <= 0)
		return -1;
	for (; p < name + len - 4; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '_' || *p == '-' || *p == '.'))
			return -1;
	}
	return (int)v;
}

/* Order migrations by version. */
static int
migrate_cmp(const void *a, const void *b)
{
	const struct migrate_file *x = a, *y = b;

	return (x->version > y->version) - (x->version < y->version);
}

/* Free a list of migration files. */
static void
migrate_files_free(struct migrate_file *files, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(files[i].name);
	free(files);
}

/* List the migrations in dir, sorted; 0 or -1 with err filled (duplicate versions are an error). */
static int
migrate_list(const char *dir, struct migrate_file **out, size_t *nout, char *err, size_t errlen)
{
	DIR *d;
	struct dirent *de;
	struct migrate_file *files = NULL;
	size_t n = 0, cap = 0, i;
	int v;

	if ((d = opendir(dir)) == NULL) {
		migrate_err(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if ((v = migrate_parse_name(de->d_name)) == -1)
			continue;
		if (n == MIGRATE_FILES_MAX) {
			migrate_err(err, errlen, "%s: more than %d migrations", dir, MIGRATE_FILES_MAX);
			goto fail;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			files = xreallocarray(files, cap, sizeof(*files));
		}
		files[n].version = v;
		files[n].name = xstrdup(de->d_name);
		n++;
	}
	closedir(d);
	d = NULL;
	if (n > 0)
		qsort(files, n, sizeof(*files), migrate_cmp);
	for (i = 1; i < n; i++) {
		if (files[i].version == files[i - 1].version) {
			migrate_err(err, errlen, "%s: %s and %s have the same version", dir, files[i - 1].name,
			    files[i].name);
			goto fail;
		}
	}
	*out = files;
	*nout = n;
	return 0;
fail:
	if (d != NULL)
		closedir(d);
	migrate_files_free(files, n);
	return -1;
}

/* Read a migration file into a NUL-terminated buffer; NULL with err filled. */
static char *
migrate_read(const char *dir, const char *name, char *err, size_t errlen)
{
	char *path, *buf;
	struct stat st;
	size_t off = 0;
	ssize_t r;
	int fd;

	xasprintf(&path, "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 || fstat(fd, &st) == -1) {
		migrate_err(err, errlen, "%s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		free(path);
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MIGRATE_FILE_MAX) {
		migrate_err(err, errlen, "%s: not a regular file of at most %d bytes", path, MIGRATE_FILE_MAX);
		close(fd);
		free(path);
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (off < (size_t)st.st_size) {
		r = read(fd, buf + off, (size_t)st.st_size - off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			migrate_err(err, errlen, "%s: %s", path, r == 0 ? "short read" : strerror(errno));
			close(fd);
			free(path);
			free(buf);
			return NULL;
		}
		off += (size_t)r;
	}
	close(fd);
	buf[off] = '\0';
	if (strlen(buf) != off) {
		migrate_err(err, errlen, "%s: contains a NUL byte", path);
		free(path);
		free(buf);
		return NULL;
	}
	free(path);
	return buf;
}

/* Apply one migration and record it, in one transaction. */
static int
migrate_apply(PGconn *pg, const char *dir, const struct migrate_file *f, char *err, size_t errlen)
{
	char what[300], version[16];
	const char *params[2];
	char *sql;
	PGresult *r;

	if ((sql = migrate_read(dir, f->name, err, errlen)) == NULL)
		return -1;
	snprintf(what, sizeof(what), "migration %s", f->name);
	if (migrate_exec(pg, "BEGIN", what, err, errlen) == -1) {
		free(sql);
		return -1;
	}
	if (migrate_exec(pg, sql, what, err, errlen) == -1)
		goto rollback;
	if (PQtransactionStatus(pg) != PQTRANS_INTRANS) {
		migrate_err(err, errlen, "%s: the file must not end the transaction itself (BEGIN/COMMIT)", what);
		goto rollback;
	}
	snprintf(version, sizeof(version), "%d", f->version);
	params[0] = version;
	params[1] = f->name;
	r = PQexecParams(pg, "INSERT INTO schema_migrations (version, name) VALUES ($1::integer, $2)", 2, NULL,
	    params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		migrate_err(err, errlen, "%s: recording it: %s", what, PQresultErrorMessage(r));
		PQclear(r);
		goto rollback;
	}
	PQclear(r);
	if (migrate_exec(pg, "COMMIT", what, err, errlen) == -1) {
		free(sql);
		return -1;
	}
	free(sql);
	return 0;
rollback:
	PQclear(PQexec(pg, "ROLLBACK"));
	free(sql);
	return -1;
}

/* Is version one of the files? */
static int
migrate_known(const struct migrate_file *files, size_t n, int version)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (files[i].version == version)
			return 1;
	return 0;
}

/* Apply pending migrations (see migrate.h). */
int
migrate_run(const char *conninfo, const char *dir, char *err, size_t errlen)
{
	struct migrate_file *files = NULL;
	size_t nfiles = 0, i;
	PGconn *pg = NULL;
	PGresult *r = NULL;
	char *applied = NULL;
	int rc = -1, nrows, row, v, maxknown;

	if (conninfo == NULL || dir == NULL) {
		migrate_err(err, errlen, "no database connection string or migrations directory");
		return -1;
	}
	if (migrate_list(dir, &files, &nfiles, err, errlen) == -1)
		return -1;
	if (nfiles == 0) {
		migrate_err(err, errlen, "%s: no migrations found", dir);
		goto out;
	}
	maxknown = files[nfiles - 1].version;
	pg = migrate_connect(conninfo);
	if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
		migrate_err(err, errlen, "connecting: %s", pg != NULL ? PQerrorMessage(pg) : "out of memory");
		goto out;
	}
	/* Session-level lock: held across the per-file transactions, released by unlock or disconnect. */
	if (migrate_exec(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", "taking the migration lock",
	    err, errlen) == -1)
		goto out;
	if (migrate_exec(pg, "SET statement_timeout = 0", "setting statement_timeout", err, errlen) == -1 ||
	    migrate_exec(pg, "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    " version integer PRIMARY KEY,"
	    " name text NOT NULL,"
	    " applied_at timestamptz NOT NULL DEFAULT now())", "creating schema_migrations", err, errlen) == -1)
		goto out;
	r = PQexec(pg, "SELECT version FROM schema_migrations ORDER BY version");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		migrate_err(err, errlen, "reading schema_migrations: %s", PQresultErrorMessage(r));
		goto out;
	}
	applied = xcalloc(nfiles, 1);
	nrows = PQntuples(r);
	for (row = 0; row < nrows; row++) {
		v = atoi(PQgetvalue(r, row, 0));
		if (v > maxknown) {
			migrate_err(err, errlen, "database schema version %d is newer than this wagate knows; "
			    "refusing to start", v);
			goto out;
		}
		if (!migrate_known(files, nfiles, v)) {
			migrate_err(err, errlen, "database has schema version %d which is not in %s; refusing to start",
			    v, dir);
			goto out;
		}
		for (i = 0; i < nfiles; i++)
			if (files[i].version == v)
				applied[i] = 1;
	}
	for (i = 0; i < nfiles; i++) {
		if (applied[i])
			continue;
		if (migrate_apply(pg, dir, &files[i], err, errlen) == -1)
			goto out;
	}
	rc = 0;
out:
	PQclear(r);
	if (pg != NULL && PQstatus(pg) == CONNECTION_OK)
		PQclear(PQexec(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")"));
	PQfinish(pg);
	free(applied);
	migrate_files_free(files, nfiles);
	return rc;
}

/* The highest applied version. */
int
migrate_version(const char *conninfo, int *version, char *err, size_t errlen)
{
	PGconn *pg;
	PGresult *r;
	int rc = -1;

	*version = 0;
	pg = migrate_connect(conninfo);
	if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
		migrate_err(err, errlen, "connecting: %s", pg != NULL ? PQerrorMessage(pg) : "out of memory");
		PQfinish(pg);
		return -1;
	}
	r = PQexec(pg, "SELECT coalesce(max(version), 0) FROM schema_migrations");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		*version = atoi(PQgetvalue(r, 0, 0));
		rc = 0;
	} else if (strcmp(PQresultErrorField(r, PG_DIAG_SQLSTATE) ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : "",
	    "42P01") == 0)
		rc = 0;		/* no table yet: version 0 */
	else
		migrate_err(err, errlen, "reading schema_migrations: %s", PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(pg);
	return rc;
}
