/* The event name table (see event_names.h). */
#include "event_names.h"

#include <string.h>

#define I	EVENT_NAME_INSTANCE
#define G	EVENT_NAME_GLOBAL

/* groups.update answers to GROUPS_UPDATE (Evolution's variable) and GROUP_UPDATE (the spelling instance
 * webhooks use); INSTANCE_CREATE/DELETE reach the global webhook only. */
const struct event_name event_names[] = {
	{ "APPLICATION_STARTUP", I | G }, { "QRCODE_UPDATED", I | G }, { "MESSAGES_SET", I | G },
	{ "MESSAGES_UPSERT", I | G }, { "MESSAGES_EDITED", I | G }, { "MESSAGES_UPDATE", I | G },
	{ "MESSAGES_DELETE", I | G }, { "SEND_MESSAGE", I | G }, { "CONTACTS_SET", I | G },
	{ "CONTACTS_UPSERT", I | G }, { "CONTACTS_UPDATE", I | G }, { "PRESENCE_UPDATE", I | G },
	{ "CHATS_SET", I | G }, { "CHATS_UPSERT", I | G }, { "CHATS_UPDATE", I | G }, { "CHATS_DELETE", I | G },
	{ "GROUPS_UPSERT", I | G }, { "GROUP_UPDATE", I | G }, { "GROUP_PARTICIPANTS_UPDATE", I | G },
	{ "CONNECTION_UPDATE", I | G }, { "LABELS_EDIT", I | G }, { "LABELS_ASSOCIATION", I | G },
	{ "CALL", I | G }, { "TYPEBOT_START", I | G }, { "TYPEBOT_CHANGE_STATUS", I | G },
	{ "REMOVE_INSTANCE", I | G }, { "LOGOUT_INSTANCE", I | G },
	{ "INSTANCE_CREATE", G }, { "INSTANCE_DELETE", G }, { "GROUPS_UPDATE", G },
	{ NULL, 0 },
};

_Static_assert(sizeof(event_names) / sizeof(event_names[0]) - 1 <= EVENT_NAMES_MAX,
    "the global switches are one bit each");

int
event_name_find(const char *name, size_t len, unsigned flags)
{
	int i;

	for (i = 0; event_names[i].name != NULL; i++)
		if ((event_names[i].flags & flags) && strlen(event_names[i].name) == len &&
		    memcmp(event_names[i].name, name, len) == 0)
			return i;
	return -1;
}
