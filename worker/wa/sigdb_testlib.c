/* Test-only: the in-memory Signal record table of sigdb_testlib.h. Allocation failures abort: a test has no
 * way on without the row. */
#include "sigdb_testlib.h"

#include <stdlib.h>
#include <string.h>

static int
str_same(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static void *
must(void *p)
{
	if (p == NULL)
		abort();
	return p;
}

struct sigdb_row **
sigdb_find(struct sigdb_row **db, int kind, const char *address, const char *group, uint32_t id)
{
	struct sigdb_row **pp;

	for (pp = db; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->kind == kind && (*pp)->id == id && str_same((*pp)->address, address) &&
		    str_same((*pp)->group, group))
			return pp;
	return pp;
}

void
sigdb_set(struct sigdb_row **db, int kind, const char *address, const char *group, uint32_t id,
    const uint8_t *data, size_t len)
{
	struct sigdb_row **pp = sigdb_find(db, kind, address, group, id), *r = *pp;

	if (r != NULL) {
		*pp = r->next;
		free(r->address);
		free(r->group);
		free(r->data);
		free(r);
	}
	if (data == NULL)
		return;
	r = must(calloc(1, sizeof(*r)));
	r->kind = kind;
	r->address = must(strdup(address != NULL ? address : ""));
	r->group = must(strdup(group != NULL ? group : ""));
	r->id = id;
	r->data = must(malloc(len + 1));	/* + 1: an empty record is still a row */
	memcpy(r->data, data, len);
	r->len = len;
	r->next = *db;
	*db = r;
}

size_t
sigdb_count(const struct sigdb_row *db)
{
	size_t n = 0;

	for (; db != NULL; db = db->next)
		n++;
	return n;
}

void
sigdb_free(struct sigdb_row **db)
{
	while (*db != NULL)
		sigdb_set(db, (*db)->kind, (*db)->address, (*db)->group, (*db)->id, NULL, 0);
}
