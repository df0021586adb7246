/* The one settings/proxy shape, its copies and its IPC conversions (see settings.h). */
#include "settings.h"
#include "ipc.h"
#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>

/* strdup that keeps NULL and turns "" into NULL (unset). */
static char *
settings_dup(const char *s)
{
	return s != NULL && *s != '\0' ? xstrdup(s) : NULL;
}

void
settings_clear(struct settings *s)
{
	free(s->msg_call);
	free(s->wavoip_token);
	memset(s, 0, sizeof(*s));
}

void
proxy_clear(struct proxy *p)
{
	free(p->host);
	free(p->port);
	free(p->protocol);
	free(p->username);
	if (p->password != NULL)
		free_wiped(p->password, strlen(p->password));
	memset(p, 0, sizeof(*p));
}

void
settings_copy(struct settings *dst, const struct settings *src)
{
	settings_clear(dst);
	if (src == NULL)
		return;
	*dst = *src;
	dst->msg_call = settings_dup(src->msg_call);
	dst->wavoip_token = settings_dup(src->wavoip_token);
}

void
proxy_copy(struct proxy *dst, const struct proxy *src)
{
	proxy_clear(dst);
	if (src == NULL)
		return;
	dst->enabled = src->enabled;
	dst->host = settings_dup(src->host);
	dst->port = settings_dup(src->port);
	dst->protocol = settings_dup(src->protocol);
	dst->username = settings_dup(src->username);
	dst->password = settings_dup(src->password);
}

/* The IPC form of an optional string. */
static char *
settings_ipc_str(const char *s)
{
	return (char *)(s != NULL ? s : "");
}

void
settings_to_ipc(const struct settings *s, Wagate__Ipc__Settings *out)
{
	wagate__ipc__settings__init(out);
	out->reject_call = s->reject_call != 0;
	out->msg_call = settings_ipc_str(s->msg_call);
	out->groups_ignore = s->groups_ignore != 0;
	out->always_online = s->always_online != 0;
	out->read_messages = s->read_messages != 0;
	out->read_status = s->read_status != 0;
	out->sync_full_history = s->sync_full_history != 0;
}

void
proxy_to_ipc(const struct proxy *p, Wagate__Ipc__Proxy *out)
{
	wagate__ipc__proxy__init(out);
	out->enabled = p->enabled != 0;
	out->host = settings_ipc_str(p->host);
	out->port = settings_ipc_str(p->port);
	out->protocol = settings_ipc_str(p->protocol);
	out->username = settings_ipc_str(p->username);
	out->password = settings_ipc_str(p->password);
}

int
settings_from_ipc(struct settings *dst, const Wagate__Ipc__Settings *in)
{
	if (in == NULL) {
		settings_clear(dst);
		return 0;
	}
	if (!ipc_str_ok(in->msg_call, SETTINGS_FIELD_MAX))
		return -1;
	settings_clear(dst);
	dst->reject_call = in->reject_call;
	dst->msg_call = settings_dup(in->msg_call);
	dst->groups_ignore = in->groups_ignore;
	dst->always_online = in->always_online;
	dst->read_messages = in->read_messages;
	dst->read_status = in->read_status;
	dst->sync_full_history = in->sync_full_history;
	return 0;
}

int
proxy_from_ipc(struct proxy *dst, const Wagate__Ipc__Proxy *in)
{
	if (in == NULL) {
		proxy_clear(dst);
		return 0;
	}
	if (!ipc_str_ok(in->host, SETTINGS_FIELD_MAX) || !ipc_str_ok(in->port, SETTINGS_FIELD_MAX) ||
	    !ipc_str_ok(in->protocol, SETTINGS_FIELD_MAX) || !ipc_str_ok(in->username, SETTINGS_FIELD_MAX) ||
	    !ipc_str_ok(in->password, SETTINGS_FIELD_MAX))
		return -1;
	proxy_clear(dst);
	dst->enabled = in->enabled;
	dst->host = settings_dup(in->host);
	dst->port = settings_dup(in->port);
	dst->protocol = settings_dup(in->protocol);
	dst->username = settings_dup(in->username);
	dst->password = settings_dup(in->password);
	return 0;
}
