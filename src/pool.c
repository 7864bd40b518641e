/*
 * pool.c - the buffer pool (see pool.h for the contract).
 *
 * Invariants (checked by tests/test_sched.c through cask__pool_stats):
 *  1. Every size the pool deals in is a size class, cask__pool_round(n);
 *     in_use and idle are sums of size classes, so the scheduler's
 *     reservations (also size classes) match the pool's accounting exactly.
 *  2. idle == the sum of the classes of the buffers on the free lists.
 *  3. A free list holds only mappings of its own class: a large get is
 *     served by an exact class match or by a fresh mapping, never by a
 *     bigger buffer (that would break 1).
 *  4. A fresh mapping is made only after idle buffers were given up,
 *     largest classes first, as far as needed to keep in_use + idle +
 *     request within the budget (or until no idle buffer is left).  Of the
 *     buffers given up, the one closest in size (the smallest not below the
 *     request, else the largest) is resized with mremap into the requested
 *     class instead of being unmapped: its pages, already faulted in, stay
 *     (first touch costs ~2-6 s/GiB on the VMs measured here; only growth
 *     beyond the old size is fresh memory).  The others are unmapped.
 *
 * Small buffers (class < CASK__POOL_LARGE) are plain malloc/free (64 bytes
 * more, for alignment, not counted): only their classes are counted in in_use, with an atomic so the common small case
 * takes no lock.  Large-buffer state is guarded by the pool's mutex; munmap
 * and mmap of fresh memory run outside it.
 */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cask.h"

/* Classes per power of two above CASK__POOL_LARGE (2^18) and the count. */
#define LG_LARGE 18
#define STEPS 8
#define NCLASS ((64 - LG_LARGE) * STEPS)
#define HUGE_PAGE ((size_t)2 << 20)

typedef struct {
	void **v;
	size_t n, cap;
} stack_t_;

struct cask__pool {
	pthread_mutex_t mu;
	_Atomic size_t in_use;
	_Atomic int refs;
	size_t budget;
	size_t idle;
	size_t peak;
	uint64_t maps, reuses, unmaps, remaps;
	stack_t_ free[NCLASS];
};

/* Free-list index of a large class r (r = 2^lg + k * 2^(lg-3), k < 8). */
static int class_index(size_t r)
{
	int lg = 63 - __builtin_clzll((unsigned long long)r);
	int k = (int)((r >> (lg - 3)) & (STEPS - 1));
	return (lg - LG_LARGE) * STEPS + k;
}

/* The class size of free-list index i (inverse of class_index). */
static size_t class_size(int i)
{
	int lg = i / STEPS + LG_LARGE, k = i % STEPS;
	return ((size_t)1 << lg) + (size_t)k * ((size_t)1 << (lg - 3));
}

int cask__pool_create(size_t budget, cask__pool_t **out)
{
	cask__pool_t *p = calloc(1, sizeof *p);
	if (p == NULL)
		return CASK_ENOMEM;
	if (pthread_mutex_init(&p->mu, NULL) != 0) {
		free(p);
		return CASK_ENOMEM;
	}
	atomic_init(&p->in_use, 0);
	atomic_init(&p->refs, 1);
	p->budget = budget;
	*out = p;
	return 0;
}

void cask__pool_retain(cask__pool_t *p)
{
	atomic_fetch_add(&p->refs, 1);
}

void cask__pool_destroy(cask__pool_t *p)
{
	if (p == NULL || atomic_fetch_sub(&p->refs, 1) != 1)
		return;
	for (int i = 0; i < NCLASS; i++) {
		size_t sz = class_size(i);
		for (size_t j = 0; j < p->free[i].n; j++)
			munmap(p->free[i].v[j], sz);
		free(p->free[i].v);
	}
	pthread_mutex_destroy(&p->mu);
	free(p);
}

void cask__pool_set_budget(cask__pool_t *p, size_t budget)
{
	pthread_mutex_lock(&p->mu);
	p->budget = budget;
	pthread_mutex_unlock(&p->mu);
	/* Exact-class reuse never trims, so a lowered budget trims here. */
	cask__pool_trim(p, budget);
}

/* Record the current allocated total in the peak (caller holds mu). */
static void note_peak(cask__pool_t *p)
{
	size_t a = atomic_load(&p->in_use) + p->idle;
	if (a > p->peak)
		p->peak = a;
}

/* Move idle buffers, largest classes first, onto the victims list until
 * in_use + idle + extra <= keep.  Caller holds mu and unmaps the victims
 * after unlocking.  Returns the number of victims (each with its size). */
static size_t pick_victims(cask__pool_t *p, size_t keep, size_t extra, void **vict,
                           size_t *vsize, size_t max)
{
	size_t nv = 0;
	for (int i = NCLASS - 1; i >= 0 && nv < max; i--) {
		size_t sz = class_size(i);
		while (p->free[i].n > 0 && nv < max &&
		       atomic_load(&p->in_use) + p->idle + extra > keep) {
			vict[nv] = p->free[i].v[--p->free[i].n];
			vsize[nv++] = sz;
			p->idle -= sz;
		}
	}
	return nv;
}

static void unmap_all(cask__pool_t *p, void **vict, size_t *vsize, size_t nv)
{
	for (size_t i = 0; i < nv; i++)
		munmap(vict[i], vsize[i]);
	if (nv > 0) {
		pthread_mutex_lock(&p->mu);
		p->unmaps += nv;
		pthread_mutex_unlock(&p->mu);
	}
}

/* A fresh anonymous mapping of r bytes, 2 MiB aligned when r >= 2 MiB so
 * transparent huge pages can back all of it.  NULL on failure. */
static void *map_fresh(size_t r)
{
	size_t len = r >= HUGE_PAGE ? r + HUGE_PAGE : r;
	if (len < r)
		return NULL;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	char *base = m;
	if (len != r) {
		uintptr_t a = ((uintptr_t)m + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
		base = (char *)a;
		size_t head = (size_t)(base - m), tail = len - head - r;
		if (head > 0)
			munmap(m, head);
		if (tail > 0)
			munmap(base + r, tail);
	}
#ifdef MADV_HUGEPAGE
	madvise(base, r, MADV_HUGEPAGE);
#endif
	return base;
}

void *cask__pool_get(cask__pool_t *p, size_t bytes)
{
	size_t r = cask__pool_round(bytes);
	if (r == 0 || r == SIZE_MAX)
		return NULL;
	if (r < CASK__POOL_LARGE) {
		/* malloc's fast path beats aligned_alloc; the word before the
		 * aligned pointer remembers the block (16 to 64 bytes back). */
		char *m = malloc(r + 64);
		if (m == NULL)
			return NULL;
		char *a = (char *)(((uintptr_t)m + 64) & ~(uintptr_t)63);
		((void **)a)[-1] = m;
		atomic_fetch_add(&p->in_use, r);
		return a;
	}
	int ci = class_index(r);
	void *vict[64];
	size_t vsize[64], nv = 0;
	pthread_mutex_lock(&p->mu);
	if (p->free[ci].n > 0) {
		void *m = p->free[ci].v[--p->free[ci].n];
		p->idle -= r;
		atomic_fetch_add(&p->in_use, r);
		p->reuses++;
		pthread_mutex_unlock(&p->mu);
		return m;
	}
	size_t keep = p->budget;
	/* Reserve before unlocking so concurrent gets see these bytes. */
	atomic_fetch_add(&p->in_use, r);
	for (;;) {
		size_t n = pick_victims(p, keep, 0, vict + nv, vsize + nv, 64 - nv);
		nv += n;
		if (n == 0 || nv == 64)
			break;
	}
	note_peak(p);
	pthread_mutex_unlock(&p->mu);
	int more = nv == 64;
	void *m = NULL;
	size_t d = nv;
	for (size_t i = 0; i < nv; i++)
		if (d == nv || (vsize[i] >= r ? vsize[d] < r || vsize[i] < vsize[d]
		                              : vsize[d] < r && vsize[i] > vsize[d]))
			d = i;
	if (d < nv) {
		m = mremap(vict[d], vsize[d], r, MREMAP_MAYMOVE);
		if (m == MAP_FAILED) {
			m = NULL;
		} else {
			vict[d] = vict[nv - 1];
			vsize[d] = vsize[nv - 1];
			nv--;
		}
	}
	unmap_all(p, vict, vsize, nv);
	/* More than 64 victims needed: keep trimming (rare). */
	if (more)
		cask__pool_trim(p, keep);
	int fresh = m == NULL;
	if (fresh)
		m = map_fresh(r);
	pthread_mutex_lock(&p->mu);
	if (m == NULL)
		atomic_fetch_sub(&p->in_use, r);
	else if (fresh)
		p->maps++;
	else
		p->remaps++;
	pthread_mutex_unlock(&p->mu);
	return m;
}

void cask__pool_put(cask__pool_t *p, void *ptr, size_t bytes)
{
	if (ptr == NULL)
		return;
	size_t r = cask__pool_round(bytes);
	if (r < CASK__POOL_LARGE) {
		free(((void **)ptr)[-1]);
		atomic_fetch_sub(&p->in_use, r);
		return;
	}
	int ci = class_index(r);
	stack_t_ *s = &p->free[ci];
	pthread_mutex_lock(&p->mu);
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4;
		void **v = realloc(s->v, cap * sizeof *v);
		if (v == NULL) {
			/* No room to remember it: give it back to the system. */
			atomic_fetch_sub(&p->in_use, r);
			p->unmaps++;
			pthread_mutex_unlock(&p->mu);
			munmap(ptr, r);
			return;
		}
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = ptr;
	p->idle += r;
	atomic_fetch_sub(&p->in_use, r);
	pthread_mutex_unlock(&p->mu);
}

void cask__pool_trim(cask__pool_t *p, size_t keep)
{
	for (;;) {
		void *vict[64];
		size_t vsize[64];
		pthread_mutex_lock(&p->mu);
		size_t nv = pick_victims(p, keep, 0, vict, vsize, 64);
		pthread_mutex_unlock(&p->mu);
		unmap_all(p, vict, vsize, nv);
		if (nv < 64)
			break;
	}
}

size_t cask__pool_in_use(cask__pool_t *p)
{
	return atomic_load(&p->in_use);
}

void cask__pool_stats(cask__pool_t *p, cask__pool_stats_t *out)
{
	pthread_mutex_lock(&p->mu);
	note_peak(p);
	out->budget = p->budget;
	out->in_use = atomic_load(&p->in_use);
	out->idle = p->idle;
	out->peak_allocated = p->peak;
	out->maps = p->maps;
	out->reuses = p->reuses;
	out->unmaps = p->unmaps;
	out->remaps = p->remaps;
	pthread_mutex_unlock(&p->mu);
}
