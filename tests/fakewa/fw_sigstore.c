/* The tests' Signal record table (see fw_sigstore.h). */
#include "fw_sigstore.h"

#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>

struct fw_sigrow {
	enum wa_signal_kind kind;
	char *address, *group;
	uint32_t id;
	uint8_t *data;
	size_t len;
	struct fw_sigrow *next;
};

struct fw_sigstore {
	struct wa_signal *sig;
	struct fw_sigrow *rows;
};

/* Same string, NULL counting as "". */
static int
fw_sigstore_same(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Where the row for k is, or the NULL link at the end of the list. */
static struct fw_sigrow **
fw_sigstore_find(struct fw_sigstore *st, const struct wa_signal_key *k)
{
	struct fw_sigrow **pp;

	for (pp = &st->rows; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->kind == k->kind && (*pp)->id == k->prekey_id &&
		    fw_sigstore_same((*pp)->address, k->address) && fw_sigstore_same((*pp)->group, k->group))
			break;
	return pp;
}

/* Write or delete a row of the table only. */
static void
fw_sigstore_row(struct fw_sigstore *st, const struct wa_signal_key *k, const uint8_t *data, size_t len)
{
	struct fw_sigrow **pp = fw_sigstore_find(st, k), *r = *pp;

	if (r != NULL) {
		*pp = r->next;
		explicit_wipe(r->data, r->len);
		free(r->data);
		free(r->address);
		free(r->group);
		free(r);
	}
	if (data == NULL)
		return;
	r = xcalloc(1, sizeof(*r));
	r->kind = k->kind;
	r->address = k->address ? xstrdup(k->address) : NULL;
	r->group = k->group ? xstrdup(k->group) : NULL;
	r->id = k->prekey_id;
	r->data = xmalloc(len);
	memcpy(r->data, data, len);
	r->len = len;
	r->next = st->rows;
	st->rows = r;
}

struct fw_sigstore *
fw_sigstore_new(const struct wa_signal_own *own, char *err, size_t errlen)
{
	struct fw_sigstore *st = xcalloc(1, sizeof(*st));

	if ((st->sig = wa_signal_new(own, 256, 8u * 1024 * 1024, err, errlen)) == NULL) {
		free(st);
		return NULL;
	}
	return st;
}

void
fw_sigstore_free(struct fw_sigstore *st)
{
	struct wa_signal_key k;

	if (st == NULL)
		return;
	while (st->rows != NULL) {
		k = (struct wa_signal_key){ st->rows->kind, st->rows->address, st->rows->group, st->rows->id };
		fw_sigstore_row(st, &k, NULL, 0);
	}
	wa_signal_free(st->sig);
	free(st);
}

struct wa_signal *
fw_sigstore_signal(struct fw_sigstore *st)
{
	return st->sig;
}

void
fw_sigstore_set(struct fw_sigstore *st, const struct wa_signal_key *k, const uint8_t *data, size_t len)
{
	char err[128];

	fw_sigstore_row(st, k, data, len);
	(void)wa_signal_put(st->sig, k, data, len, err, sizeof(err));
}

int
fw_sigstore_has(struct fw_sigstore *st, const struct wa_signal_key *k)
{
	return *fw_sigstore_find(st, k) != NULL;
}

void
fw_sigstore_load(struct fw_sigstore *st)
{
	const struct wa_signal_key *k;
	struct fw_sigrow *r;
	size_t n;
	char err[128];

	k = wa_signal_needed(st->sig, &n);
	for (size_t i = 0; i < n; i++) {
		r = *fw_sigstore_find(st, &k[i]);
		(void)wa_signal_put(st->sig, &k[i], r ? r->data : NULL, r ? r->len : 0, err, sizeof(err));
	}
}

void
fw_sigstore_save(struct fw_sigstore *st)
{
	struct wa_signal_change *v;
	size_t n;

	wa_signal_take_changes(st->sig, &v, &n);
	for (size_t i = 0; i < n; i++)
		fw_sigstore_row(st, &v[i].key, v[i].data, v[i].len);
	wa_signal_changes_free(v, n);
}

size_t
fw_sigstore_addresses(struct fw_sigstore *st, enum wa_signal_kind kind, const char **out, size_t max)
{
	size_t n = 0;

	for (struct fw_sigrow *r = st->rows; r != NULL; r = r->next)
		if (r->kind == kind && r->address != NULL) {
			if (n < max)
				out[n] = r->address;
			n++;
		}
	return n;
}
