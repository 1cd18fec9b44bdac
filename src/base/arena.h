/* arena.h — region allocator: many allocations, one free.
 *
 * Everything with one lifetime (a parsed model spec, one CSV batch) is allocated from one arena
 * and released with arena_free. Every arena has a hard byte limit so hostile input cannot make
 * us allocate without bound; allocation past the limit returns NULL. */
#ifndef KILN_ARENA_H
#define KILN_ARENA_H

#include <stddef.h>

typedef struct arena arena;

/* Returns a new arena that will hand out at most `limit` bytes in all, or NULL when out of
 * memory. Caller frees with arena_free. */
arena *arena_new(size_t limit);

/* Frees the arena and everything allocated from it. NULL is a no-op. */
void arena_free(arena *a);

/* Returns `size` bytes aligned to 16 (zeroed), or NULL when the limit or memory runs out.
 * Owned by the arena. */
void *arena_alloc(arena *a, size_t size);

/* Returns an array of n elements of `size` bytes (zeroed), checking n*size for overflow. */
void *arena_array(arena *a, size_t n, size_t size);

/* Returns a NUL-terminated copy of the first `len` bytes of `s`, owned by the arena. */
char *arena_strndup(arena *a, const char *s, size_t len);

/* Returns a NUL-terminated copy of `s`, owned by the arena. */
char *arena_strdup(arena *a, const char *s);

/* Returns a copy of `n` bytes, owned by the arena. */
void *arena_memdup(arena *a, const void *src, size_t n);

/* Forgets every allocation but keeps the first block for reuse (a per-thread scratch arena
 * reset before each request costs no malloc). Everything allocated before is invalid. */
void arena_reset(arena *a);

/* Bytes handed out so far. */
size_t arena_used(const arena *a);

#endif
