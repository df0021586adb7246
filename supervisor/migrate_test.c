/* Tests of the migration runner against a real server (WAGATE_TEST_PGURI, or a private cluster). */
#include <sys/stat.h>
#include <sys/wait.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "log.h"
#include "migrate.h"
#include "pgtest.h"
#include "xmalloc.h"

#ifndef WAGATE_SOURCE_ROOT
#define WAGATE_SOURCE_ROOT "."
#endif

static struct pgtest *server;	/* the PostgreSQL server; drops the scratch databases at the end */
static const char *base_uri;	/* its superuser URI (owned by pg) */
static char *scratch;		/* temporary directory for migration files */
static int dbseq;		/* scratch databases made so far */

/* Keep notices quiet. */
static void
test_notice_cb(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Run one statement on uri and return the first value of its result (caller frees), or NULL on error. */
static char *
test_value(const char *uri, const char *sql)
{
	PGconn *pg = PQconnectdb(uri);
	PGresult *r;
	char *v = NULL;

	PQsetNoticeProcessor(pg, test_notice_cb, NULL);
	if (PQstatus(pg) == CONNECTION_OK) {
		r = PQexec(pg, sql);
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
			v = xstrdup(PQgetvalue(r, 0, 0));
		else if (PQresultStatus(r) == PGRES_COMMAND_OK)
			v = xstrdup("");
		else
			fprintf(stderr, "test_value: %s: %s", sql, PQresultErrorMessage(r));
		PQclear(r);
	} else
		fprintf(stderr, "test_value: %s", PQerrorMessage(pg));
	PQfinish(pg);
	return v;
}

/* Assert a query's single value. */
static void
test_expect(const char *uri, const char *sql, const char *want)
{
	char *v = test_value(uri, sql);

	if (v == NULL)
		fail_msg("%s failed", sql);
	if (strcmp(v, want) != 0)
		fail_msg("%s: got '%s', want '%s'", sql, v, want);
	free(v);
}

/* A fresh scratch database; returns a conninfo for it. */
static char *
test_new_db(void)
{
	char *ci = pgtest_db_create(server, "migrate_test_%d_%d", (int)getpid(), dbseq);

	if (ci == NULL)
		fail_msg("could not create scratch database %d", dbseq);
	dbseq++;
	return ci;
}

/* Write a file into a subdirectory of the scratch directory. */
static void
test_write(const char *sub, const char *name, const char *text)
{
	char *path;
	FILE *f;

	xasprintf(&path, "%s/%s", scratch, sub);
	mkdir(path, 0755);
	free(path);
	xasprintf(&path, "%s/%s/%s", scratch, sub, name);
	if ((f = fopen(path, "w")) == NULL)
		fail_msg("cannot write %s", path);
	fputs(text, f);
	fclose(f);
	free(path);
}

/* Path of a scratch subdirectory (caller frees). */
static char *
test_dir(const char *sub)
{
	char *path;

	xasprintf(&path, "%s/%s", scratch, sub);
	return path;
}

/* Files apply in numeric order (not name order), each once; unrelated files are ignored. */
static void
test_order_and_idempotency(void **state)
{
	char *uri = test_new_db(), *dir, err[512];

	(void)state;
	test_write("order", "1_log.sql", "CREATE TABLE log (id serial PRIMARY KEY, v integer);\n"
	    "INSERT INTO log (v) VALUES (1);\n");
	test_write("order", "10_ten.sql", "INSERT INTO log (v) VALUES (10);");
	test_write("order", "2_two.sql", "ALTER TABLE log ADD COLUMN note text;\nINSERT INTO log (v, note) VALUES (2, 'x');");
	test_write("order", "README.md", "not a migration");
	test_write("order", "0003-bad-name.sql", "SELECT broken syntax here");
	dir = test_dir("order");
	assert_int_equal(migrate_run(uri, dir, err, sizeof(err)), 0);
	test_expect(uri, "SELECT string_agg(v::text, ',' ORDER BY id) FROM log", "1,2,10");
	test_expect(uri, "SELECT string_agg(version || ':' || name, ',' ORDER BY version) FROM schema_migrations",
	    "1:1_log.sql,2:2_two.sql,10:10_ten.sql");
	test_expect(uri, "SELECT count(*) FROM schema_migrations WHERE applied_at <= now()", "3");

	/* Running again changes nothing. */
	assert_int_equal(migrate_run(uri, dir, err, sizeof(err)), 0);
	test_expect(uri, "SELECT count(*) FROM log", "3");

	/* A new file is picked up alone. */
	test_write("order", "11_more.sql", "INSERT INTO log (v) VALUES (11);");
	assert_int_equal(migrate_run(uri, dir, err, sizeof(err)), 0);
	test_expect(uri, "SELECT string_agg(v::text, ',' ORDER BY id) FROM log", "1,2,10,11");
	{
		int v = -1;

		assert_int_equal(migrate_version(uri, &v, err, sizeof(err)), 0);
		assert_int_equal(v, 11);
	}
	free(dir);
	free(uri);
}

/* A failing file is rolled back whole and names itself; earlier files stay applied. */
static void
test_failure_rolls_back(void **state)
{
	char *uri = test_new_db(), *dir, err[512];

	(void)state;
	test_write("fail", "0001_ok.sql", "CREATE TABLE a (n integer);");
	test_write("fail", "0002_bad.sql", "CREATE TABLE b (n integer);\nINSERT INTO a VALUES (1);\nSELEC oops;\n");
	test_write("fail", "0003_later.sql", "CREATE TABLE c (n integer);");
	dir = test_dir("fail");
	assert_int_equal(migrate_run(uri, dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "0002_bad.sql"));
	assert_non_null(strstr(err, "syntax"));
	assert_null(strchr(err, '\n'));
	test_expect(uri, "SELECT string_agg(version::text, ',') FROM schema_migrations", "1");
	test_expect(uri, "SELECT count(*) FROM a", "0");
	test_expect(uri, "SELECT to_regclass('b') IS NULL AND to_regclass('c') IS NULL", "t");

	/* A file that commits by itself is refused. */
	test_write("fail2", "0001_ok.sql", "CREATE TABLE a (n integer);");
	test_write("fail2", "0002_commits.sql", "CREATE TABLE d (n integer); COMMIT;");
	free(dir);
	dir = test_dir("fail2");
	free(uri);
	uri = test_new_db();
	assert_int_equal(migrate_run(uri, dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "0002_commits.sql"));

	/* Two files with one version. */
	test_write("dup", "0001_a.sql", "SELECT 1;");
	test_write("dup", "01_b.sql", "SELECT 1;");
	free(dir);
	dir = test_dir("dup");
	assert_int_equal(migrate_run(uri, dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "same version"));

	/* No directory, no files. */
	assert_int_equal(migrate_run(uri, "/nonexistent/wagate", err, sizeof(err)), -1);
	test_write("empty", "README", "");
	free(dir);
	dir = test_dir("empty");
	assert_int_equal(migrate_run(uri, dir, err, sizeof(err)), -1);
	free(dir);
	free(uri);
}

/* A database that has a version this build does not know is refused. */
static void
test_refuses_newer(void **state)
{
	char *uri = test_new_db(), *dir, err[512];

	(void)state;
	test_write("newer", "0001_a.sql", "CREATE TABLE a (n integer);");
	test_write("newer", "0002_b.sql", "CREATE TABLE b (n integer);");
	dir = test_dir("newer");
	assert_int_equal(migrate_run(uri, dir, err, sizeof(err)), 0);
	free(test_value(uri, "INSERT INTO schema_migrations (version, name) VALUES (99, '0099_future.sql')"));
	assert_int_equal(migrate_run(uri, dir, err, sizeof(err)), -1);
	assert_string_equal(err, "database schema version 99 is newer than this wagate knows; refusing to start");

	/* A gap (a version between known ones that this build lacks) is refused too. */
	free(test_value(uri, "DELETE FROM schema_migrations WHERE version = 99"));
	test_write("newer", "0003_c.sql", "CREATE TABLE c (n integer);");
	free(test_value(uri, "INSERT INTO schema_migrations (version, name) VALUES (3, '0003_other.sql')"));
	{
		char *path;

		xasprintf(&path, "%s/0003_c.sql", dir);
		unlink(path);
		free(path);
	}
	test_write("newer", "0004_d.sql", "CREATE TABLE d (n integer);");
	assert_int_equal(migrate_run(uri, dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "version 3"));
	test_expect(uri, "SELECT to_regclass('d') IS NULL", "t");
	free(dir);
	free(uri);
}

/* Several runners at once: every file is applied exactly once and every runner succeeds. */
static void
test_concurrent_runners(void **state)
{
	char *uri = test_new_db(), *dir, err[512];
	pid_t pids[6];
	int i, status;

	(void)state;
	test_write("conc", "0001_log.sql", "CREATE TABLE log (id serial PRIMARY KEY, v integer, who integer);");
	test_write("conc", "0002_slow.sql", "SELECT pg_sleep(0.3); INSERT INTO log (v, who) VALUES (2, pg_backend_pid());");
	test_write("conc", "0003_next.sql", "INSERT INTO log (v, who) VALUES (3, pg_backend_pid());");
	dir = test_dir("conc");
	for (i = 0; i < 6; i++) {
		if ((pids[i] = fork()) == 0)
			_exit(migrate_run(uri, dir, err, sizeof(err)) == 0 ? 0 : 1);
		assert_true(pids[i] > 0);
	}
	for (i = 0; i < 6; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	test_expect(uri, "SELECT string_agg(v::text, ',' ORDER BY id) FROM log", "2,3");
	test_expect(uri, "SELECT count(*) FROM schema_migrations", "3");
	free(dir);
	free(uri);
}

/* The project's own migrations apply cleanly and twice. */
static void
test_real_migrations(void **state)
{
	char *uri = test_new_db(), err[512];
	int v = -1;

	(void)state;
	assert_int_equal(migrate_version(uri, &v, err, sizeof(err)), 0);
	assert_int_equal(v, 0);
	if (migrate_run(uri, WAGATE_SOURCE_ROOT "/migrations", err, sizeof(err)) == -1)
		fail_msg("%s", err);
	assert_int_equal(migrate_run(uri, WAGATE_SOURCE_ROOT "/migrations", err, sizeof(err)), 0);
	assert_int_equal(migrate_version(uri, &v, err, sizeof(err)), 0);
	assert_true(v >= 1);
	test_expect(uri, "SELECT count(*) FROM instance", "0");
	test_expect(uri, "SELECT count(*) FROM webhook_outbox", "0");
	/* 0008: payload columns keep no statistics (ANALYZE would sort their sampled documents) */
	test_expect(uri, "SELECT string_agg(attrelid::regclass || '.' || attname || '=' || attstattarget, ','"
	    " ORDER BY attrelid::regclass::text, attname) FROM pg_attribute WHERE attrelid IN ('message'::regclass,"
	    " 'webhook_outbox'::regclass) AND attname IN ('key', 'message', 'body', 'headers', 'key_id', 'url')",
	    "message.key=0,message.key_id=-1,message.message=0,webhook_outbox.body=0,webhook_outbox.headers=0,"
	    "webhook_outbox.url=-1");
	free(uri);
}

/* Waiting for a server: succeeds at once when up, gives up after the timeout when nothing listens. */
static void
test_connect_wait(void **state)
{
	char err[512], *ci;
	struct timespec t0, t1;

	(void)state;
	assert_int_equal(migrate_connect_wait(base_uri, 5, err, sizeof(err)), 0);
	xasprintf(&ci, "host=127.0.0.1 port=%d dbname=x user=x", pgtest_free_port());
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(migrate_connect_wait(ci, 1, err, sizeof(err)), -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 10);
	assert_non_null(strstr(err, "not reachable"));
	free(ci);
}

/* Pick the server and a scratch directory. */
static int
test_setup(void **state)
{
	char tmpl[] = "/tmp/wagate-migrate-test-XXXXXX";

	(void)state;
	if ((scratch = mkdtemp(tmpl)) == NULL)
		return -1;
	scratch = xstrdup(scratch);
	if ((server = pgtest_new(0)) == NULL)
		return -1;
	base_uri = pgtest_admin_uri(server);
	return 0;
}

/* Drop scratch databases, stop any private cluster, remove files. */
static int
test_teardown(void **state)
{
	char *line;

	(void)state;
	pgtest_free(server);
	xasprintf(&line, "rm -rf '%s'", scratch);
	if (system(line) != 0)
		fprintf(stderr, "could not remove %s\n", scratch);
	free(line);
	free(scratch);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_idempotency),
		cmocka_unit_test(test_failure_rolls_back),
		cmocka_unit_test(test_refuses_newer),
		cmocka_unit_test(test_concurrent_runners),
		cmocka_unit_test(test_real_migrations),
		cmocka_unit_test(test_connect_wait),
	};

	log_init("migrate_test", LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, test_setup, test_teardown);
}
