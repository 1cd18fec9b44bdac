/* cache.h — a bounded prediction cache: exact input row → the model's output values.
 *
 * One cache belongs to one loaded model version (the server attaches it to the version's
 * kms_ref), so a model swap can never serve another version's results and the key need not
 * name the model. The key is the exact input: the bit pattern of each double, after mapping
 * every NaN to one canonical NaN and -0.0 to 0.0 (both mean the same to a model). A hit always
 * compares the full key, so hash collisions never return another row's values.
 *
 * Memory: entries are charged key + values + node overhead (and their share of the hash table)
 * against the byte budget, split evenly over the shards; a put that would exceed its shard's
 * share evicts that shard's least recently used entries first. An entry larger than a shard's
 * share is not stored. Nothing grows beyond the budget, whatever the input.
 *
 * Expiry: with ttl_ms > 0 an entry older than ttl_ms (monotonic clock) is a miss and is dropped
 * when a get finds it; stale entries nobody asks for age out through LRU eviction.
 *
 * Threads: every function may be called from any number of threads at once (except
 * kcache_free). The key space is split over 16 shards, each with its own mutex, hash table and
 * LRU list, so concurrent requests rarely wait on each other. */
#ifndef KILN_CACHE_H
#define KILN_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct kcache kcache;

/* A cache holding at most byte_budget bytes; ttl_ms 0 means entries never expire. Returns NULL
 * when byte_budget is 0 (caching off) or memory runs out; kcache_* calls are not made on NULL.
 * Caller frees with kcache_free. */
kcache *kcache_new(size_t byte_budget, uint32_t ttl_ms);
/* Frees the cache and every entry; no other call may be running. NULL is ignored. */
void kcache_free(kcache *c);

/* Looks up the row of nf doubles. On a hit (a live entry with this exact key and nv values)
 * copies the nv values into `values`, marks the entry most recently used and returns 1;
 * otherwise returns 0 and leaves `values` alone. */
int kcache_get(kcache *c, const double *row, int32_t nf, double *values, int32_t nv);

/* Stores a copy of the row's nv values (replacing any entry for the same key), evicting least
 * recently used entries as needed. The cache copies both arrays; the caller keeps its own. */
void kcache_put(kcache *c, const double *row, int32_t nf, const double *values, int32_t nv);

/* Totals since kcache_new: hits, misses (expired entries included), bytes held now, and
 * entries evicted to keep within the budget. Any pointer may be NULL. */
void kcache_stats(const kcache *c, uint64_t *hits, uint64_t *misses, size_t *bytes,
                  uint64_t *evictions);

/* For tests: the shard (0..15) the row's key falls in, under this cache's hash seed. */
int kcache__shard(const kcache *c, const double *row, int32_t nf);

#endif
