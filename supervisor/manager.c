/* The manager page's files, loaded once: a request only ever looks a name up in this set, so nothing from a URL
 * reaches the filesystem. */
#include "manager.h"
#include "errbuf.h"
#include "xmalloc.h"

#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct manager {
	struct manager_file files[MANAGER_FILES_MAX];
	size_t n;
};

/* Extensions served, and their Content-Type; everything else in the directory is ignored. */
static const struct {
	const char *ext;
	const char *type;
} manager_types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".json", "application/json; charset=utf-8" },
	{ ".txt", "text/plain; charset=utf-8" },
};

/* The Content-Type of a plain file name ([A-Za-z0-9._-], not hidden) with a known extension, else NULL. */
static const char *
manager_type(const char *name)
{
	size_t i, nl = strlen(name), el;

	if (nl == 0 || name[0] == '.' || strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._-") != nl)
		return NULL;
	for (i = 0; i < sizeof(manager_types) / sizeof(manager_types[0]); i++) {
		el = strlen(manager_types[i].ext);
		if (nl > el && strcmp(name + nl - el, manager_types[i].ext) == 0)
			return manager_types[i].type;
	}
	return NULL;
}

/* Read dir/name (a regular file of at most MANAGER_FILE_MAX bytes, text without NUL) into f. */
static int
manager_read(int dfd, const char *name, struct manager_file *f, char *err, size_t errlen)
{
	struct stat st;
	ssize_t r;
	size_t got = 0;
	int fd;

	if ((fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) == -1) {
		errbuf_fail(err, errlen, "%s: %s", name, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size > MANAGER_FILE_MAX) {
		errbuf_fail(err, errlen, "%s: not a regular file of at most %d bytes", name, MANAGER_FILE_MAX);
		close(fd);
		return -1;
	}
	f->data = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size && (r = read(fd, f->data + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)r;
	close(fd);
	f->data[got] = '\0';
	if (got != (size_t)st.st_size || memchr(f->data, '\0', got) != NULL) {
		errbuf_fail(err, errlen, "%s: short read or not a text file", name);
		free(f->data);
		f->data = NULL;
		return -1;
	}
	f->name = xstrdup(name);
	f->len = got;
	return 0;
}

/* Load the page (see manager.h). */
struct manager *
manager_new(const char *dir, char *err, size_t errlen)
{
	struct manager *m;
	struct dirent *de;
	struct stat st;
	const char *type;
	DIR *d;

	if (dir == NULL || (d = opendir(dir)) == NULL) {
		errbuf_fail(err, errlen, "%s: %s", dir != NULL ? dir : "(no directory)", dir != NULL ?
		    strerror(errno) : "not configured");
		return NULL;
	}
	m = xcalloc(1, sizeof(*m));
	while ((de = readdir(d)) != NULL) {
		/* unknown types, hidden names and subdirectories are not part of the page */
		if ((type = manager_type(de->d_name)) == NULL ||
		    (fstatat(dirfd(d), de->d_name, &st, 0) == 0 && !S_ISREG(st.st_mode)))
			continue;
		if (m->n == MANAGER_FILES_MAX) {
			errbuf_fail(err, errlen, "%s: more than %d files", dir, MANAGER_FILES_MAX);
			goto fail;
		}
		if (manager_read(dirfd(d), de->d_name, &m->files[m->n], err, errlen) == -1)
			goto fail;
		m->files[m->n++].type = type;
	}
	closedir(d);
	if (manager_find(m, "index.html") == NULL) {
		errbuf_fail(err, errlen, "%s: no index.html", dir);
		manager_free(m);
		return NULL;
	}
	return m;
fail:
	closedir(d);
	manager_free(m);
	return NULL;
}

/* Free the loaded files. */
void
manager_free(struct manager *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++) {
		free(m->files[i].name);
		free(m->files[i].data);
	}
	free(m);
}

/* Look name up among the loaded files. */
const struct manager_file *
manager_find(const struct manager *m, const char *name)
{
	size_t i;

	if (m == NULL || name == NULL)
		return NULL;
	for (i = 0; i < m->n; i++)
		if (strcmp(m->files[i].name, name) == 0)
			return &m->files[i];
	return NULL;
}

/* Number of loaded files. */
size_t
manager_count(const struct manager *m)
{
	return m != NULL ? m->n : 0;
}
