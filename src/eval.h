/*
 * eval.h - region evaluation of lazy arrays (internal to the core).
 */
#ifndef CASK_EVAL_H
#define CASK_EVAL_H

#include "array.h"
#include "io.h"

/* Materialised nodes visible to one task: node i's full result is data[i]
 * (C order of the node's shape). */
typedef struct {
	int n;
	cask_array_t *const *nodes;
	const void *const *data;
	/* reductions too large for memory, spilled to a temporary dataset:
	 * spill_nodes[i] is read through the array spill_arrays[i] */
	int nspill;
	cask_array_t *const *spill_nodes;
	cask_array_t *const *spill_arrays;
} cask__mats_t;

/* Collect the reductions reachable from a without crossing another
 * reduction (what must be materialised before a is evaluated) into the
 * unique, growing list *list (*n used, *cap allocated; free(*list) when
 * done).  depth: 0 (recursion bound).  0, CASK_ENOMEM or CASK_EINVAL. */
int cask__direct_reds(cask_array_t *a, int *n, cask_array_t ***list, int *cap, int depth);

/* Scratch bytes to evaluate the n roots (same shape) over the region
 * [start, start+count), excluding the n output buffers.  The result bounds
 * every region of the same or smaller size (staging for partial stored
 * chunks included). */
int cask__eval_plan(cask_ctx_t *ctx, const cask__mats_t *mats, int n, cask_array_t *const *roots,
                    const int64_t *start, const int64_t *count, size_t *bytes);
/* The same; pessimistic 0 gives the exact need of this very region (less
 * when it is exactly one stored chunk, read with no staging, or a region
 * of an unfiltered dataset that is not made of whole chunks, read as a
 * hyperslab with no staging). */
int cask__eval_plan_ex(cask_ctx_t *ctx, const cask__mats_t *mats, int n,
                       cask_array_t *const *roots, const int64_t *start, const int64_t *count,
                       int pessimistic, size_t *bytes);

/* Evaluate the n roots over the region into outs[i] (C order, dtype of
 * root i).  Scratch from scratch[0..scratch_bytes).  Shared subexpressions
 * and leaves are evaluated once. */
int cask__eval_roots(cask_ctx_t *ctx, const cask__mats_t *mats, int n,
                     cask_array_t *const *roots, const int64_t *start, const int64_t *count,
                     void *const *outs, void *scratch, size_t scratch_bytes);
/* Zero-copy access to a region of an HDF5-backed array (N_H5) that is one
 * whole stored chunk (cask__io_map_chunk): 1 with *ptr set (C order, the
 * region's own layout) until cask__io_unmap_chunk(m); 0 when the region
 * must be read instead; < 0 error. */
int cask__eval_map(cask_ctx_t *ctx, cask_array_t *a, const int64_t *start, const int64_t *count,
                   const void **ptr, cask__map_t *m);


/* ---- the evaluator as seen by N_MAP nodes (overlap.c, linalg) */

/* Take bytes from the task arena (64-byte aligned); NULL when the arena is
 * exhausted (the plan and the run disagree: a bug).  In dry mode returns a
 * dummy pointer that must not be touched. */
void *cask__ev_alloc(cask__ev_t *e, size_t bytes);
/* Stack discipline: release everything allocated after mark. */
size_t cask__ev_mark(const cask__ev_t *e);
void cask__ev_release(cask__ev_t *e, size_t mark);
int cask__ev_dry(const cask__ev_t *e);
cask_ctx_t *cask__ev_ctx(const cask__ev_t *e);
/* Evaluate region of a into out (see N_MAP contract). */
int cask__ev_region(cask__ev_t *e, cask_array_t *a, const int64_t *start, const int64_t *count,
                    const int64_t *step, void *out);

#endif
