/*
 * The prepared statements of one pool connection. Planning was the supervisor's largest database cost: on the
 * message path (bench/messages.sh, 10 pairs) PostgreSQL spent more time planning than executing, since every
 * statement was sent as a new unnamed one and planned again, the same dozen CTE statements thousands of times.
 * A text prepared once per session is only executed; PostgreSQL's plan cache picks a generic plan after a few
 * runs when it costs no more than the custom ones.
 */
#include "db.h"
#include "db_prep.h"
#include "xmalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Open addressing over twice the entries: a probe ends at an empty slot. */
#define DB_PREP_SLOTS	(DB_PREP_MAX * 2)

struct db_prep_entry {
	uint64_t hash;
	char *sql;		/* NULL: empty slot */
	unsigned id;		/* the name is "wagate_<id>" */
};

struct db_prep {
	struct db_prep_entry slots[DB_PREP_SLOTS];
	unsigned n;
};

/*
 * Eight bytes per step, each multiplied in (a byte-wise FNV-1a over the kilobytes of a message-path text was
 * 1 % of all the CPU of bench/messages.sh). The texts are our own constants, no adversary chooses them; a
 * collision costs one strcmp.
 */
uint64_t
db_prep_hash(const char *sql, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ len, w;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, sql + i, 8);
		h = (h ^ w) * 0x100000001b3ULL;
		h ^= h >> 29;
	}
	for (; i < len; i++)
		h = (h ^ (unsigned char)sql[i]) * 0x100000001b3ULL;
	return h ^ (h >> 32);
}

static void
db_prep_name(unsigned id, char *name)
{
	snprintf(name, DB_PREP_NAME_MAX, "wagate_%u", id);
}

/* The slot of sql, or the empty slot where it would go. */
static struct db_prep_entry *
db_prep_slot(struct db_prep *p, const char *sql, uint64_t h)
{
	size_t i = (size_t)(h % DB_PREP_SLOTS);

	while (p->slots[i].sql != NULL && (p->slots[i].hash != h || strcmp(p->slots[i].sql, sql) != 0))
		i = (i + 1) % DB_PREP_SLOTS;
	return &p->slots[i];
}

struct db_prep *
db_prep_new(void)
{
	return xcalloc(1, sizeof(struct db_prep));
}

void
db_prep_free(struct db_prep *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < DB_PREP_SLOTS; i++)
		free(p->slots[i].sql);
	free(p);
}

int
db_prep_find(struct db_prep *p, const char *sql, uint64_t hash, char *name)
{
	struct db_prep_entry *e;

	if (strncmp(sql, DB_UNPREPARED, sizeof(DB_UNPREPARED) - 1) == 0)
		return -1;
	e = db_prep_slot(p, sql, hash);
	if (e->sql != NULL) {
		db_prep_name(e->id, name);
		return 1;
	}
	if (p->n >= DB_PREP_MAX)
		return -1;
	db_prep_name(p->n, name);
	return 0;
}

void
db_prep_add(struct db_prep *p, const char *sql, uint64_t h)
{
	struct db_prep_entry *e = db_prep_slot(p, sql, h);

	if (e->sql != NULL || p->n >= DB_PREP_MAX)
		return;
	e->hash = h;
	e->sql = xstrdup(sql);
	e->id = p->n++;
}
