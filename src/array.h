/*
 * array.h - the lazy array node.  A cask_array_t is a reference-counted node
 * of an expression DAG.  Nodes never hold data except leaves (a caller
 * buffer) and, during a run, reductions being materialised (see eval.c).
 *
 * Invariants:
 *  1. Elementwise nodes (N_ELEM, N_CAST, N_WHERE) receive inputs whose dtype
 *     is exactly what the kernel loop needs: the constructors insert N_CAST
 *     nodes for NumPy type promotion, so evaluation never promotes.
 *  2. Inputs of elementwise nodes broadcast to the node's shape (right
 *     aligned, extent 1 or equal).
 *  3. chunks[k] is in 1..max(shape[k],1): every array has a regular grid.
 *  4. A node is immutable after construction (except the run-time mat fields,
 *     written only by the stage that materialises it).
 */
#ifndef CASK_ARRAY_H
#define CASK_ARRAY_H

#include "cask.h"
#include "ctx.h"
#include "io.h"

typedef enum {
	N_H5 = 0, /* HDF5 dataset */
	N_FULL,   /* constant */
	N_INDICES, /* flat index * step + start */
	N_RANDOM, /* counter-based random */
	N_BUFFER, /* caller's buffer (borrowed) */
	N_ELEM,   /* unary or binary op */
	N_CAST,   /* astype */
	N_WHERE,  /* where(cond, a, b), cond bool */
	N_VIEW,   /* affine view: slicing, integer index, newaxis, transpose */
	N_REDUCE, /* reduction: materialised in its own stage */
	N_CONCAT, /* concatenation along an axis */
	N_MAP,    /* extension node: evaluated by its ops (map_overlap, filters, matmul) */
} cask__kind_t;

typedef struct cask__ev cask__ev_t;

/* Operations of an N_MAP node.  eval must fill out with the region
 * [start + i*step, i < count) of the node (C order, node dtype), taking
 * temporaries only from cask__ev_alloc, and must make the same allocations
 * in dry mode (cask__ev_dry) without touching data, so the plan bounds the
 * run.  Inputs are evaluated with cask__ev_region.  destroy frees state. */
typedef struct {
	const char *name;
	int (*eval)(cask__ev_t *e, cask_array_t *node, const int64_t *start,
	            const int64_t *count, const int64_t *step, void *out);
	void (*destroy)(void *state);
} cask__map_ops_t;

/* Per output axis of a view: which source axis (-1: new axis of length 1),
 * and the affine map src = start + i * step. */
typedef struct {
	int src;
	int64_t start, step;
} cask__vaxis_t;

struct cask_array {
	int refs;
	cask__kind_t kind;
	cask_dtype_t dtype;
	int ndim;
	int weak; /* a Python-style scalar (NEP 50 weak promotion) */
	int64_t shape[CASK_MAX_DIMS];
	int64_t chunks[CASK_MAX_DIMS];
	int nin;
	cask_array_t **in;
	union {
		struct {
			cask__h5in_t *h;
			cask__h5meta_t meta;
			int64_t rows; /* row chunk for linear algebra (cask__array_row_chunk) */
		} h5;
		struct { uint8_t bytes[8]; } full;
		struct { double start, step; } indices;
		struct { cask_random_t kind; uint64_t seed; } random;
		struct { const void *data; } buffer;
		struct { cask_op_t op; } elem;
		struct {
			cask__vaxis_t ax[CASK_MAX_DIMS];
			int64_t fixed[CASK_MAX_DIMS]; /* source axes not mapped: this index */
		} view;
		struct {
			cask_redop_t op;
			uint32_t redmask; /* over the input's axes */
			int keepdims, ddof;
		} reduce;
		struct { int axis; } concat;
		struct { const cask__map_ops_t *ops; void *state; } map;
	} u;
};

/* Allocate a node with refcount 1 (inputs retained). */
int cask__array_new(cask_ctx_t *ctx, cask__kind_t kind, cask_dtype_t dtype, int ndim,
                    const int64_t *shape, int nin, cask_array_t *const *in, cask_array_t **out);
/* The distinct HDF5 inputs (N_H5 nodes, distinct by open handle) under a,
 * appended depth-first to list[*n .. cap); the walk stops at cap. */
void cask__array_h5_leaves(const cask_array_t *a, const cask_array_t **list, int *n, int cap);
/* Bytes of a default block: a 32nd of the budget, 4 KiB to 8 MiB. */
size_t cask__default_target(const cask_ctx_t *ctx);
/* The row chunk of a for linear algebra's leaves and factors: through
 * casts, of an opened dataset the extent on axis 0 of its stored chunks
 * when its block grid cuts them (cask_array_open), else of its blocks
 * (the caller's chunks when given). */
int64_t cask__array_row_chunk(const cask_array_t *a);
/* Entry check of a public call taking a list of n arrays (named name in the
 * message; the caller checks n itself): the list, when n > 0, and every
 * entry non-NULL.  0 or CASK_EINVAL with "<fn>: NULL <name>[i]" on ctx. */
int cask__check_arrays(cask_ctx_t *ctx, const char *fn, const char *name, int n,
                       cask_array_t *const *arrays);
/* Entry check of caller chunk extents (ndim entries, chunks may be NULL):
 * entries >= 0, 0 meaning the caller's default for that axis.  0 or
 * CASK_EINVAL naming fn and the axis. */
int cask__check_chunks(cask_ctx_t *ctx, const char *fn, int ndim, const int64_t *chunks);
/* Default chunks for shape: about target bytes, whole trailing axes first. */
void cask__default_chunks(int ndim, const int64_t *shape, size_t itemsize, size_t target,
                          int64_t *chunks);
/* Number of chunks along each axis and in total (0 if any extent is 0). */
int64_t cask__nchunks(const cask_array_t *a, int64_t *per_axis);
/* Region of chunk number c (C order of the grid): start and count. */
void cask__chunk_region(const cask_array_t *a, const int64_t *per_axis, int64_t c,
                        int64_t *start, int64_t *count);

#endif
