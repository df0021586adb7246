/* Allocation wrappers that never return NULL: out-of-memory in a daemon is an invariant failure. */
#ifndef WAGATE_XMALLOC_H
#define WAGATE_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
int xasprintf(char **ret, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Overwrite key material before it is released; the compiler may not elide it. */
void explicit_wipe(void *p, size_t n);
/* Wipe then free a buffer holding secrets (NULL is fine). */
void free_wiped(void *p, size_t n);
/* Compare n bytes of MACs or hashes in time that does not depend on where they differ: 0 when equal. */
int ct_memcmp(const void *a, const void *b, size_t n);

#endif
