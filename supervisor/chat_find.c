#include "chat_find.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
chat_find_param(struct chat_find_where *w, const char *value)
{
	if (w->nparams >= CHAT_FIND_PARAMS_MAX)
		return -1;
	w->params[w->nparams++] = value;
	return w->nparams;
}

int
chat_find_where_add(struct chat_find_where *w, const char *fmt, const char *value)
{
	size_t len = strlen(w->sql);
	int n = 0, r;

	if (value != NULL && (n = chat_find_param(w, value)) == -1)
		return -1;
	r = snprintf(w->sql + len, sizeof(w->sql) - len, fmt, n);
	return r < 0 || (size_t)r >= sizeof(w->sql) - len ? -1 : 0;
}

/* A number kept in w for a parameter. */
static const char *
chat_find_num(struct chat_find_where *w, int slot, long long v)
{
	snprintf(w->num[slot], sizeof(w->num[slot]), "%lld", v);
	return w->num[slot];
}

/* Whether s is a row id bigserial can hold: 1 to 18 digits (fits int64 without checking overflow). */
static int
chat_find_id_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 18 && strspn(s, "0123456789") == n;
}

int
chat_find_messages_where(const struct chat_find_msg_filter *f, const char *instance_id, struct chat_find_where *w)
{
	memset(w, 0, sizeof(*w));
	chat_find_param(w, instance_id);
	/* Each term is a column the worker fills from the stored key, so the indexes serve them. */
	if (f->id != NULL) {
		/* Evolution's ids are its own strings; ours are row numbers: a string that is none matches nothing */
		if (!chat_find_id_ok(f->id)) {
			if (chat_find_where_add(w, " AND false", NULL) == -1)
				return -1;
		} else if (chat_find_where_add(w, " AND m.id = $%d::bigint", f->id) == -1)
			return -1;
	}
	if (f->source != NULL && chat_find_where_add(w, " AND m.source = $%d", f->source) == -1)
		return -1;
	if (f->message_type != NULL && chat_find_where_add(w, " AND m.message_type = $%d", f->message_type) == -1)
		return -1;
	if (f->key_id != NULL && chat_find_where_add(w, " AND m.key_id = $%d", f->key_id) == -1)
		return -1;
	if (f->from_me && chat_find_where_add(w, " AND m.from_me", NULL) == -1)
		return -1;
	if (f->remote_jid != NULL && chat_find_where_add(w, " AND m.remote_jid = $%d", f->remote_jid) == -1)
		return -1;
	if (f->participant != NULL && chat_find_where_add(w, " AND m.participant = $%d", f->participant) == -1)
		return -1;
	if (f->has_range) {
		if (chat_find_where_add(w, " AND m.message_timestamp >= $%d::bigint", chat_find_num(w, 0, f->ts_gte)) == -1 ||
		    chat_find_where_add(w, " AND m.message_timestamp <= $%d::bigint", chat_find_num(w, 1, f->ts_lte)) == -1)
			return -1;
	}
	return 0;
}

long long
chat_find_pages(long long total, long long page_size)
{
	if (page_size <= 0 || total <= 0)
		return 0;
	return (total + page_size - 1) / page_size;
}

/* Replace message[type] (when it is there) with an object holding only the listed fields it had. */
static void
chat_find_keep(struct json_object *message, const char *type, ...)
{
	struct json_object *old, *keep, *v;
	const char *field;
	va_list ap;

	/* Evolution tests the field for truth: a null one is left alone */
	if (!json_object_object_get_ex(message, type, &old) || old == NULL)
		return;
	keep = json_object_new_object();
	va_start(ap, type);
	while ((field = va_arg(ap, const char *)) != NULL)
		/* undefined fields vanish from JSON.stringify; null ones stay */
		if (json_object_object_get_ex(old, field, &v))
			json_object_object_add(keep, field, json_object_get(v));
	va_end(ap);
	json_object_object_add(message, type, keep);
}

void
chat_find_message_clean(struct json_object *message)
{
	if (message == NULL || !json_object_is_type(message, json_type_object))
		return;
	json_object_object_del(message, "base64");
	chat_find_keep(message, "imageMessage", "caption", (const char *)NULL);
	chat_find_keep(message, "videoMessage", "caption", (const char *)NULL);
	chat_find_keep(message, "audioMessage", "seconds", (const char *)NULL);
	chat_find_keep(message, "stickerMessage", (const char *)NULL);
	chat_find_keep(message, "documentMessage", "caption", "name", (const char *)NULL);
	chat_find_keep(message, "documentWithCaptionMessage", "caption", "name", (const char *)NULL);
}
