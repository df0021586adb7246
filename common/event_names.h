/* Evolution's webhook event filter names, one table for both of their uses: the names an instance's
 * webhook.events accepts (and "every event" stores), and the WEBHOOK_EVENTS_<NAME> switches of the global
 * webhook. The order is Evolution's (its validation error lists the names in it). */
#ifndef WAGATE_EVENT_NAMES_H
#define WAGATE_EVENT_NAMES_H

#include <stddef.h>

#define EVENT_NAME_INSTANCE	0x1	/* accepted in an instance webhook's events list */
#define EVENT_NAME_GLOBAL	0x2	/* has a WEBHOOK_EVENTS_<NAME> switch */
#define EVENT_NAMES_MAX		64	/* the global switches are one bit each in a uint64_t */

struct event_name {
	const char *name;
	unsigned flags;
};

/* The table, ended by a NULL name; an index is stable for the life of the process. */
extern const struct event_name event_names[];

/* Index of the len-character name with any of flags, or -1. */
int event_name_find(const char *name, size_t len, unsigned flags);

#endif
