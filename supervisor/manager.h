/* The manager page: the static files of WAGATE_MANAGER_DIR, read once at start-up and served from memory. */
#ifndef WAGATE_MANAGER_H
#define WAGATE_MANAGER_H

#include <stddef.h>

#define MANAGER_FILES_MAX	32		/* files loaded from the directory */
#define MANAGER_FILE_MAX	(1024 * 1024)	/* bytes in one file */

struct manager;

/* One loaded file: its name in the directory, Content-Type and text (NUL-terminated, no NUL inside). */
struct manager_file {
	char *name;
	const char *type;
	char *data;
	size_t len;
};

/* Load every servable file of dir (index.html required); NULL with err filled when there is no usable page. */
struct manager *manager_new(const char *dir, char *err, size_t errlen);
void manager_free(struct manager *m);
/* The loaded file called name, or NULL: the name is only compared, never used as a path. */
const struct manager_file *manager_find(const struct manager *m, const char *name);
/* How many files were loaded. */
size_t manager_count(const struct manager *m);

#endif
