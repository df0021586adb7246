/* manager: which files of a directory are loaded, their types, and the refusals (no index.html, too big, NUL). */
#include "manager.h"

#include <sys/stat.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

/* A fresh directory under /tmp. */
static char *
test_dir(void)
{
	char *d = strdup("/tmp/wagate-manager-test-XXXXXX");

	assert_non_null(mkdtemp(d));
	return d;
}

/* Write len bytes of data to dir/name. */
static void
test_write(const char *dir, const char *name, const char *data, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

/* rm -rf dir (test files only). */
static void
test_rmdir(char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(dir);
}

static void
test_manager_loads_known_types(void **state)
{
	char *d = test_dir(), err[256];
	const struct manager_file *f;
	struct manager *m;

	(void)state;
	test_write(d, "index.html", "<p>hi</p>", 9);
	test_write(d, "app.js", "x()", 3);
	test_write(d, "style.css", "p{}", 3);
	test_write(d, "icon.svg", "<svg/>", 6);
	test_write(d, ".env", "SECRET=1", 8);		/* hidden: never served */
	test_write(d, "tool.exe", "MZ", 2);		/* unknown type */
	test_write(d, "a b.js", "x", 1);		/* a name outside [A-Za-z0-9._-] */
	assert_int_equal(mkdir(strcat(strcpy(err, d), "/sub.js"), 0700), 0);	/* a directory */
	m = manager_new(d, err, sizeof(err));
	assert_non_null(m);
	assert_int_equal(manager_count(m), 4);
	f = manager_find(m, "index.html");
	assert_non_null(f);
	assert_string_equal(f->type, "text/html; charset=utf-8");
	assert_int_equal(f->len, 9);
	assert_string_equal(f->data, "<p>hi</p>");
	assert_string_equal(manager_find(m, "app.js")->type, "text/javascript; charset=utf-8");
	assert_string_equal(manager_find(m, "style.css")->type, "text/css; charset=utf-8");
	assert_string_equal(manager_find(m, "icon.svg")->type, "image/svg+xml");
	assert_null(manager_find(m, ".env"));
	assert_null(manager_find(m, "tool.exe"));
	assert_null(manager_find(m, "a b.js"));
	assert_null(manager_find(m, "sub.js"));
	assert_null(manager_find(m, "../index.html"));
	assert_null(manager_find(m, ""));
	assert_null(manager_find(m, NULL));
	manager_free(m);
	manager_free(NULL);
	test_rmdir(d);
}

static void
test_manager_refusals(void **state)
{
	char *d = test_dir(), err[256], *big;

	(void)state;
	assert_null(manager_new("/nonexistent/wagate-manager", err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
	assert_null(manager_new(NULL, err, sizeof(err)));
	test_write(d, "app.js", "x()", 3);
	assert_null(manager_new(d, err, sizeof(err)));
	assert_non_null(strstr(err, "no index.html"));
	test_write(d, "index.html", "<p>\0</p>", 8);
	assert_null(manager_new(d, err, sizeof(err)));
	assert_non_null(strstr(err, "index.html: short read or not a text file"));
	big = calloc(1, MANAGER_FILE_MAX + 1);
	memset(big, 'x', MANAGER_FILE_MAX + 1);
	test_write(d, "index.html", big, MANAGER_FILE_MAX + 1);
	free(big);
	assert_null(manager_new(d, err, sizeof(err)));
	assert_non_null(strstr(err, "at most"));
	test_rmdir(d);
}

static void
test_manager_too_many_files(void **state)
{
	char *d = test_dir(), err[256], name[32];
	int i;

	(void)state;
	test_write(d, "index.html", "ok", 2);
	for (i = 0; i < MANAGER_FILES_MAX; i++) {
		snprintf(name, sizeof(name), "f%d.js", i);
		test_write(d, name, "x", 1);
	}
	assert_null(manager_new(d, err, sizeof(err)));
	assert_non_null(strstr(err, "more than"));
	test_rmdir(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manager_loads_known_types),
		cmocka_unit_test(test_manager_refusals),
		cmocka_unit_test(test_manager_too_many_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
