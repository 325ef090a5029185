/*
 * malloc-count.c: LD_PRELOAD shim for `scripts/bench alloc`. Counts heap allocations (malloc,
 * calloc, realloc, posix_memalign, aligned_alloc, memalign) of the whole process and writes
 * "allocations=N bytes=N" to the file named by $MALLOC_COUNT_OUT at exit. Forwards to glibc's
 * __libc_* entry points, so it needs no dlsym (which itself allocates).
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static unsigned long long count, bytes;
#define NOTE(n) (__atomic_add_fetch(&count, 1, __ATOMIC_RELAXED), __atomic_add_fetch(&bytes, (n), __ATOMIC_RELAXED))

void *malloc(size_t n) { NOTE(n); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { NOTE(a * b); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { NOTE(n); return __libc_realloc(p, n); }
void *memalign(size_t al, size_t n) { NOTE(n); return __libc_memalign(al, n); }
void *aligned_alloc(size_t al, size_t n) { NOTE(n); return __libc_memalign(al, n); }
int posix_memalign(void **out, size_t al, size_t n) {
    NOTE(n);
    void *p = __libc_memalign(al, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

__attribute__((destructor)) static void report(void) {
    const char *path = getenv("MALLOC_COUNT_OUT");
    if (!path) return;
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "allocations=%llu bytes=%llu\n", count, bytes);
    fclose(f);
}
