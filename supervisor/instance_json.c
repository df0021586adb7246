/* fetchInstances' view of one instance, from its registry entry. */
#include "instance_json.h"
#include "log.h"
#include "registry.h"
#include "xmalloc.h"

#include <event2/buffer.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* text is ",{...}": an element of a list after the first is one reference with no separator chain. */
struct instance_json_text {
	unsigned refs;
	size_t len;			/* with the comma */
	char text[];
};

/* A row timestamp as Evolution shows it: ISO 8601 in UTC with milliseconds and Z (what SQL_TS printed). */
static struct json_object *
fetch_ts_json(int64_t us)
{
	time_t sec = (time_t)(us / 1000000);
	struct tm tm;
	char buf[64];

	gmtime_r(&sec, &tm);
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
	    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(us % 1000000 / 1000));
	return json_object_new_string(buf);
}

/* A string member that is null when unset. */
static struct json_object *
fetch_str_json(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

/* A NOT NULL '' text column: "" when unset. */
static struct json_object *
fetch_text_json(const char *s)
{
	return json_object_new_string(s != NULL ? s : "");
}

/* The Setting member (the instance_setting row), null without a row. */
static struct json_object *
fetch_setting_json(const struct instance *inst)
{
	const struct settings *s = &inst->settings;
	struct json_object *o;

	if (!inst->has_setting)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(inst->id));
	json_object_object_add(o, "rejectCall", json_object_new_boolean(s->reject_call));
	json_object_object_add(o, "msgCall", fetch_text_json(s->msg_call));
	json_object_object_add(o, "groupsIgnore", json_object_new_boolean(s->groups_ignore));
	json_object_object_add(o, "alwaysOnline", json_object_new_boolean(s->always_online));
	json_object_object_add(o, "readMessages", json_object_new_boolean(s->read_messages));
	json_object_object_add(o, "readStatus", json_object_new_boolean(s->read_status));
	json_object_object_add(o, "syncFullHistory", json_object_new_boolean(s->sync_full_history));
	json_object_object_add(o, "wavoipToken", fetch_text_json(s->wavoip_token));
	json_object_object_add(o, "createdAt", fetch_ts_json(inst->setting_created_us));
	json_object_object_add(o, "updatedAt", fetch_ts_json(inst->setting_updated_us));
	json_object_object_add(o, "instanceId", json_object_new_string(inst->id));
	return o;
}

/* The Proxy member (the instance_proxy row), null without a row. */
static struct json_object *
fetch_proxy_json(const struct instance *inst)
{
	const struct proxy *p = &inst->proxy;
	struct json_object *o;

	if (!inst->has_proxy)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(inst->id));
	json_object_object_add(o, "enabled", json_object_new_boolean(p->enabled));
	json_object_object_add(o, "host", fetch_text_json(p->host));
	json_object_object_add(o, "port", fetch_text_json(p->port));
	json_object_object_add(o, "protocol", fetch_text_json(p->protocol));
	json_object_object_add(o, "username", fetch_text_json(p->username));
	json_object_object_add(o, "password", fetch_text_json(p->password));
	json_object_object_add(o, "createdAt", fetch_ts_json(inst->proxy_created_us));
	json_object_object_add(o, "updatedAt", fetch_ts_json(inst->proxy_updated_us));
	json_object_object_add(o, "instanceId", json_object_new_string(inst->id));
	return o;
}

/* One fetchInstances element in the member order Evolution (and the old query) used. */
struct json_object *
instance_json_fetch(const struct instance *inst, const char *client_name)
{
	struct json_object *o = json_object_new_object(), *n = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(inst->id));
	json_object_object_add(o, "name", json_object_new_string(inst->name));
	json_object_object_add(o, "connectionStatus", json_object_new_string(conn_state_name(inst->state)));
	json_object_object_add(o, "ownerJid", fetch_str_json(inst->owner_jid));
	json_object_object_add(o, "profileName", fetch_str_json(inst->profile_name));
	/* Nothing stores a picture URL or a business id yet. */
	json_object_object_add(o, "profilePicUrl", NULL);
	json_object_object_add(o, "integration", json_object_new_string(inst->integration));
	json_object_object_add(o, "number", fetch_str_json(inst->number));
	json_object_object_add(o, "businessId", NULL);
	json_object_object_add(o, "token", json_object_new_string(inst->token));
	json_object_object_add(o, "clientName", json_object_new_string(client_name));
	json_object_object_add(o, "disconnectionReasonCode", inst->has_disconnection ?
	    json_object_new_int(inst->disconnection_code) : NULL);
	json_object_object_add(o, "disconnectionObject", fetch_str_json(inst->disconnection_object));
	json_object_object_add(o, "disconnectionAt", inst->has_disconnection ?
	    fetch_ts_json(inst->disconnection_us) : NULL);
	json_object_object_add(o, "createdAt", fetch_ts_json(inst->created_us));
	json_object_object_add(o, "updatedAt", fetch_ts_json(inst->updated_us));
	json_object_object_add(o, "Chatwoot", NULL);
	json_object_object_add(o, "Proxy", fetch_proxy_json(inst));
	json_object_object_add(o, "Rabbitmq", NULL);
	json_object_object_add(o, "Sqs", NULL);
	json_object_object_add(o, "Websocket", NULL);
	json_object_object_add(o, "Setting", fetch_setting_json(inst));
	json_object_object_add(n, "Message", json_object_new_int64(inst->count_messages));
	json_object_object_add(n, "Contact", json_object_new_int64(inst->count_contacts));
	json_object_object_add(n, "Chat", json_object_new_int64(inst->count_chats));
	json_object_object_add(o, "_count", n);
	return o;
}

/* inst's element as compact text with one reference. */
struct instance_json_text *
instance_json_text_new(const struct instance *inst, const char *client_name)
{
	struct json_object *o = instance_json_fetch(inst, client_name);
	struct instance_json_text *t;
	size_t len;
	const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
	    &len);

	t = xmalloc(sizeof(*t) + len + 2);
	t->refs = 1;
	t->len = len + 1;
	t->text[0] = ',';
	memcpy(t->text + 1, s, len + 1);
	json_object_put(o);
	return t;
}

/* Drop one reference; free on the last. */
void
instance_json_text_unref(struct instance_json_text *t)
{
	if (t != NULL && --t->refs == 0)
		free(t);
}

/* libevent is done with the bytes of a reference chain. */
static void
instance_json_text_release_cb(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	instance_json_text_unref(arg);
}

/* Reference the text from buf, after a comma unless it is the first element. */
void
instance_json_text_add(struct evbuffer *buf, struct instance_json_text *t, int first)
{
	t->refs++;
	if (evbuffer_add_reference(buf, t->text + (first ? 1 : 0), t->len - (first ? 1 : 0),
	    instance_json_text_release_cb, t) == -1)
		fatalx("evbuffer_add_reference");
}
