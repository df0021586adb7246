/* Random identifiers from the kernel's CSPRNG. */
#ifndef WAGATE_RANDOM_H
#define WAGATE_RANDOM_H

#include <stddef.h>

/* Fill buf with n random bytes; fatal if the kernel refuses (an invariant failure). */
void random_bytes(void *buf, size_t n);
/* A UUID v4 in its 36-character form; upper-case when upper is set (Evolution's instance tokens). */
void random_uuid(char out[37], int upper);
/* A uniformly random number in [0, bound). */
unsigned random_uniform(unsigned bound);

#endif
