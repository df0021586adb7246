/* An instance's settings and proxy in one shape for every holder: the supervisor's registry and worker
 * table, the IPC messages (Settings, Proxy in proto/ipc.proto) and the worker. Strings are owned (NULL =
 * unset); the proxy password is wiped when freed. */
#ifndef WAGATE_SETTINGS_H
#define WAGATE_SETTINGS_H

#include "ipc.pb-c.h"

#include <stddef.h>

#define SETTINGS_FIELD_MAX	1024	/* longest string either process accepts over IPC (STYLE rule 14); the
					 * HTTP routes refuse longer ones (validate.h V_SETTING) */

struct settings {
	int reject_call, groups_ignore, always_online, read_messages, read_status, sync_full_history;
	char *msg_call;
	char *wavoip_token;		/* kept by the supervisor only; never sent to a worker */
};

struct proxy {
	int enabled;
	char *host, *port, *protocol, *username, *password;
};

/* Free the strings and zero the struct (safe on a zeroed struct). */
void settings_clear(struct settings *s);
void proxy_clear(struct proxy *p);
/* Deep copy: dst is cleared first; src NULL leaves dst cleared. */
void settings_copy(struct settings *dst, const struct settings *src);
void proxy_copy(struct proxy *dst, const struct proxy *src);
/* Fill an IPC message from s/p; the message borrows the strings (NULL becomes ""). */
void settings_to_ipc(const struct settings *s, Wagate__Ipc__Settings *out);
void proxy_to_ipc(const struct proxy *p, Wagate__Ipc__Proxy *out);
/* Take a received message after checking every string against SETTINGS_FIELD_MAX (empty strings become
 * NULL). in NULL clears dst. 0, or -1 with dst unchanged. */
int settings_from_ipc(struct settings *dst, const Wagate__Ipc__Settings *in);
int proxy_from_ipc(struct proxy *dst, const Wagate__Ipc__Proxy *in);

#endif
