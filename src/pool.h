/*
 * pool.h - the buffer pool: task outputs and scratch under the memory budget.
 *
 * Every buffer size is first rounded by cask__pool_round(), the size-class
 * function; the scheduler's admission uses the same function, so the bytes
 * it reserves are exactly the bytes the pool hands out.  Large buffers
 * (class >= CASK__POOL_LARGE) are anonymous mappings with MADV_HUGEPAGE that
 * go back to a per-class free list when released (first touch of fresh pages
 * costs ~2-6 s/GiB here, so reuse matters); small ones come from malloc.
 * "Allocated" = in use + idle (large buffers on the free lists); an
 * allocation that would push it over the budget first gives up idle
 * buffers, resizing one of them into the request (see pool.c, invariant 4).
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef CASK_POOL_H
#define CASK_POOL_H

#include <stddef.h>
#include <stdint.h>

/* Rounded sizes from here up are mmap'd and reused; below, malloc'd. */
#define CASK__POOL_LARGE ((size_t)256 * 1024)

typedef struct cask__pool cask__pool_t;

typedef struct {
	size_t budget;
	size_t in_use;         /* rounded bytes handed out and not yet put back */
	size_t idle;           /* rounded bytes of large buffers on the free lists */
	size_t peak_allocated; /* peak of in_use + idle */
	uint64_t maps;         /* fresh mappings made */
	uint64_t reuses;       /* large gets served from a free list */
	uint64_t unmaps;       /* idle mappings returned to the system */
	uint64_t remaps;       /* idle mappings resized into a request's class */
} cask__pool_stats_t;

/* The size class of a request: 0 for 0; multiples of 64 up to 4 KiB; whole
 * pages below CASK__POOL_LARGE; then 8 steps per power of two (at most
 * 12.5% waste).  SIZE_MAX when the rounded size would overflow. */
static inline size_t cask__pool_round(size_t b)
{
	if (b == 0)
		return 0;
	if (b <= 4096)
		return (b + 63) & ~(size_t)63;
	if (b < CASK__POOL_LARGE)
		return (b + 4095) & ~(size_t)4095;
	int lg = 63 - __builtin_clzll((unsigned long long)b);
	size_t step = (size_t)1 << (lg - 3);
	if (b > SIZE_MAX - (step - 1))
		return SIZE_MAX;
	return (b + step - 1) & ~(step - 1);
}

/* A pool with one reference.  0 or CASK_ENOMEM (*out untouched). */
int cask__pool_create(size_t budget, cask__pool_t **out);
/* Add a reference (a graph holding kept outputs retains the pool). */
void cask__pool_retain(cask__pool_t *p);
/* Drop a reference; the last one unmaps every idle buffer and frees the
 * pool.  Buffers still in use at that point are a caller bug (leaked).
 * NULL is a no-op. */
void cask__pool_destroy(cask__pool_t *p);
/* The budget trimming aims for (the pool itself never refuses a request:
 * admission against the budget is the scheduler's job).  Unmaps idle
 * buffers at once if in use + idle exceeds the new budget. */
void cask__pool_set_budget(cask__pool_t *p, size_t budget);

/* A buffer of at least bytes (64-byte aligned; cask__pool_round(bytes)
 * bytes are usable and accounted).  NULL when bytes is 0 or memory is
 * exhausted.  Large requests take an idle buffer of exactly that size
 * class if one exists, else give up idle buffers while in use + idle + the
 * request exceeds the budget, resizing the one closest in size (mremap:
 * its pages stay) or, if none was given up, mapping fresh memory. */
void *cask__pool_get(cask__pool_t *p, size_t bytes);
/* Give back ptr, obtained from cask__pool_get(p, bytes) with the same
 * bytes.  Large buffers go to the free list (contents kept, not zeroed).
 * NULL ptr is a no-op. */
void cask__pool_put(cask__pool_t *p, void *ptr, size_t bytes);
/* Unmap idle buffers, largest classes first, until in use + idle <= keep. */
void cask__pool_trim(cask__pool_t *p, size_t keep);

/* Rounded bytes currently handed out. */
size_t cask__pool_in_use(cask__pool_t *p);
void cask__pool_stats(cask__pool_t *p, cask__pool_stats_t *out);

#endif
