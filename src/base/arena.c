/* arena.c — region allocator built from a chain of malloc'd blocks. */
#include "base/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK_MIN (64 * 1024)

typedef struct block {
    struct block *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
} block;

struct arena {
    block *head;
    size_t limit, total;
};

arena *arena_new(size_t limit)
{
    arena *a = calloc(1, sizeof *a);
    if (a) a->limit = limit;
    return a;
}

void arena_free(arena *a)
{
    if (!a) return;
    for (block *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(a);
}

void arena_reset(arena *a)
{
    block *keep = NULL;
    for (block *b = a->head, *next; b; b = next) {
        next = b->next;
        if (!keep && b->size == ARENA_BLOCK_MIN) keep = b;
        else free(b);
    }
    if (keep) {
        keep->next = NULL;
        keep->used = 0;
    }
    a->head = keep;
    a->total = 0;
}

void *arena_alloc(arena *a, size_t size)
{
    size_t need = (size + 15) & ~(size_t)15;
    if (need < size || need > a->limit - a->total) return NULL;
    block *b = a->head;
    if (!b || b->size - b->used < need) {
        size_t bsize = need > ARENA_BLOCK_MIN ? need : ARENA_BLOCK_MIN;
        b = malloc(sizeof *b + bsize);
        if (!b) return NULL;
        b->size = bsize;
        b->used = 0;
        /* Big one-off blocks go behind the head so the head keeps its free space. */
        if (a->head && need > ARENA_BLOCK_MIN) {
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }
    void *p = b->data + b->used;
    b->used += need;
    a->total += need;
    memset(p, 0, need);
    return p;
}

void *arena_array(arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) return NULL;
    size_t total = n * size;
    return arena_alloc(a, total > 0 ? total : 1);
}

char *arena_strndup(arena *a, const char *s, size_t len)
{
    char *p = arena_alloc(a, len + 1);
    if (p) memcpy(p, s, len);
    return p;
}

char *arena_strdup(arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

void *arena_memdup(arena *a, const void *src, size_t n)
{
    void *p = arena_alloc(a, n ? n : 1);
    if (p && n) memcpy(p, src, n);
    return p;
}

size_t arena_used(const arena *a)
{
    return a->total;
}
