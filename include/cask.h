/*
 * cask.h - public API of libcask, an out-of-core blocked array engine on HDF5.
 *
 * Model.  A cask_array_t is a lazy, chunked n-d array: a node of an expression
 * DAG whose leaves are HDF5 datasets, constants, generators or caller buffers.
 * Building arrays does no I/O on data (only metadata).  cask_compute() and
 * cask_store() turn the DAG into a task graph (cask_graph_t) and run it on an
 * OpenMP thread team under the context's memory budget.
 *
 * Conventions (see docs/ARCHITECTURE.md).
 *  - Fallible functions return int: 0 on success, a negative CASK_E* code on
 *    failure; the detailed message is on the context (cask_ctx_message), valid
 *    until the next call on that context.  The library never prints or exits.
 *  - Out-parameters are written only on success.
 *  - Pointer arguments are required unless the comment of the function says
 *    that they may be NULL.  A fallible function given a NULL required
 *    pointer (or a NULL entry of a required list) returns CASK_EINVAL with
 *    the message "<function>: NULL <argument>" on the context; with ctx
 *    itself NULL there is nowhere to put a message and only the code is
 *    returned.  Functions without a return code do nothing on NULL
 *    (destroy, the setters) or return the value their comment gives.
 *  - Array arguments are borrowed; an operation that keeps an input retains its
 *    own reference, so the caller may destroy its handles in any order.
 *    Every array returned through an out-parameter is owned by the caller and
 *    released with cask_array_destroy().  destroy(NULL) is a no-op.
 *  - Extents, indices and strides are int64_t; byte counts are size_t.
 *  - A context and the arrays made from it are used by one caller thread at a
 *    time (the library itself runs many threads inside a call).
 */
#ifndef CASK_H
#define CASK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CASK_VERSION_STRING "0.1.0"
#define CASK_MAX_DIMS 32

/* ---------------------------------------------------------------- errors */

enum {
	CASK_OK = 0,
	CASK_EINVAL = -1,     /* invalid argument (bad axis, bad option, ...) */
	CASK_ENOMEM = -2,     /* allocation failed */
	CASK_EIO = -3,        /* file or HDF5 error */
	CASK_ETYPE = -4,      /* unsupported or mismatched dtype */
	CASK_ESHAPE = -5,     /* shapes do not broadcast / do not match */
	CASK_EBUDGET = -6,    /* a task's working set does not fit the budget */
	CASK_ECANCELED = -7,  /* cancelled by cask_ctx_cancel or progress callback */
	CASK_EEXIST = -8,     /* output dataset exists and overwrite not set */
	CASK_ENOTFOUND = -9,  /* file or dataset does not exist */
	CASK_EOVERFLOW = -10, /* sizes overflow int64 / size_t */
	CASK_EUSER = -11,     /* a user callback returned an error */
	CASK_ECORRUPT = -12,  /* corrupt stored data (bad chunk, checksum) */
	CASK_EPERM = -13,     /* refused (external link/storage not allowed) */
	CASK_ENOTSUP = -14,   /* valid but not supported by this build */
	CASK_EINTERNAL = -15, /* internal invariant broken: a bug */
};

/* A static string naming rc ("invalid argument", ...). */
const char *cask_strerror(int rc);

/* ---------------------------------------------------------------- dtypes */

typedef enum {
	CASK_BOOL = 0, /* stored in memory as one byte, 0 or 1 */
	CASK_INT8,
	CASK_INT16,
	CASK_INT32,
	CASK_INT64,
	CASK_UINT8,
	CASK_UINT16,
	CASK_UINT32,
	CASK_UINT64,
	CASK_FLOAT32,
	CASK_FLOAT64,
	CASK_NDTYPES
} cask_dtype_t;

/* Bytes per element (1 for bool). */
size_t cask_dtype_size(cask_dtype_t t);
/* Short NumPy-style name: "bool" "int8" ... "float64". */
const char *cask_dtype_name(cask_dtype_t t);
/* Parse "bool" "i1".."i8" "u1".."u8" "f4" "f8" or the NumPy names
 * ("int8".."uint64", "float32", "float64", also "?" "b1").  0 or CASK_EINVAL. */
int cask_dtype_parse(const char *s, cask_dtype_t *out);
/* NumPy's promotion of two array dtypes (np.result_type). */
cask_dtype_t cask_dtype_promote(cask_dtype_t a, cask_dtype_t b);

/* A typed scalar value. */
typedef struct {
	cask_dtype_t dtype;
	union {
		int64_t i; /* bool and signed ints */
		uint64_t u; /* unsigned ints */
		double f; /* floats */
	} v;
} cask_scalar_t;

/* ---------------------------------------------------------------- context */

typedef struct cask_ctx cask_ctx_t;

/* Progress callback: done and total tasks of the running call.  Return
 * nonzero to cancel the run (the call then fails with CASK_ECANCELED).
 * Called from one thread at a time, at most ~20 times a second. */
typedef int (*cask_progress_fn)(void *user, int64_t done, int64_t total);

typedef struct {
	int64_t tasks_run;
	int64_t tasks_total;
	uint64_t bytes_read;     /* bytes of array data read from files */
	uint64_t bytes_written;  /* bytes of array data written to files */
	uint64_t budget;         /* the budget in force (bytes) */
	uint64_t peak_memory;    /* peak bytes held inside the budget */
	double wall_seconds;     /* wall time of the calls */
	double io_seconds;       /* thread-seconds inside file I/O */
	double compute_seconds;  /* thread-seconds computing */
} cask_stats_t;

/* Create a context: budget defaults to a quarter of physical RAM (override
 * with env CASK_MEMORY, e.g. "512M"; a value that does not parse or is under
 * 64 KiB is ignored: the command line refuses it), threads to
 * omp_get_max_threads().  CASK_EINVAL for a NULL out (no message: there is
 * no context yet). */
int cask_ctx_create(cask_ctx_t **out);
void cask_ctx_destroy(cask_ctx_t *ctx);
/* The message of the last failure ("" if none). Valid until the next call. */
const char *cask_ctx_message(const cask_ctx_t *ctx);

/* Memory budget in bytes for every live chunk buffer, partial result and
 * HDF5 chunk cache of a run.  Minimum 64 KiB.  cask_ctx_memory(NULL) is 0. */
int cask_ctx_set_memory(cask_ctx_t *ctx, size_t bytes);
size_t cask_ctx_memory(const cask_ctx_t *ctx);
/* Number of worker threads (>= 1); cask_ctx_threads(NULL) is CASK_EINVAL. */
int cask_ctx_set_threads(cask_ctx_t *ctx, int n);
int cask_ctx_threads(const cask_ctx_t *ctx);
/* Smallest work per task, in bytes (default 1 MiB, or env CASK_TASK_BYTES,
 * e.g. "256K"; 0 turns grouping off).  Arrays whose chunks are smaller than
 * 1/16 of this are computed in tasks that each cover a block of whole
 * adjacent chunks of about this size (never more than 1/64 of the memory
 * budget), so that per-task costs and the graph stay small: a graph has
 * about one task per task_bytes of data, not one per chunk.  Stored
 * datasets keep their chunking.  Results do not depend on the thread
 * count; reductions over such arrays may differ in the last bits between
 * different task sizes (the summation tree follows the task blocks).
 * cask_ctx_task_bytes(NULL) is 0. */
int cask_ctx_set_task_bytes(cask_ctx_t *ctx, size_t bytes);
size_t cask_ctx_task_bytes(const cask_ctx_t *ctx);
/* I/O tuning; every default is 0 and suits local disks and the page cache.
 * lanes: chunk reads that may be in flight at once outside HDF5's lock
 *   (0: no limit beyond the thread count; 1 serialises reads, e.g. for a
 *   spinning disk or a network file system that prefers one stream).
 * readahead: how many tasks may start ahead of the earliest not yet started
 *   one in the scheduler's order (0: as far as the memory budget allows).
 *   Reads happen inside tasks, so this is the read-ahead depth in tasks; a
 *   small value keeps reads closer to file order.
 * chunk_cache: bytes of HDF5 chunk cache per input dataset opened after
 *   the call, counted in the memory budget while it is open.  cask reads
 *   whole chunks itself, so the cache only helps regions that cut stored
 *   compressed chunks (rechunking to a misaligned grid, halos of filters),
 *   where each chunk would otherwise be decompressed once per region. */
int cask_ctx_set_io(cask_ctx_t *ctx, int lanes, int readahead, size_t chunk_cache);
/* Allow inputs with external links or external raw storage (default: refuse). */
void cask_ctx_set_allow_external(cask_ctx_t *ctx, int allow);
void cask_ctx_set_progress(cask_ctx_t *ctx, cask_progress_fn fn, void *user);
/* Ask the running call to stop, or the next one if none is running (a
 * call may run several graphs: a request between two of them still stops
 * it); async-signal-safe (a flag store).  The request ends with the call it
 * stopped. */
void cask_ctx_cancel(cask_ctx_t *ctx);
/* Statistics accumulated since creation or the last reset (nothing is
 * written when ctx or out is NULL). */
void cask_ctx_stats(const cask_ctx_t *ctx, cask_stats_t *out);
void cask_ctx_reset_stats(cask_ctx_t *ctx);

/* Parse a size "1024", "64K", "512M", "2G", "1T" (powers of 1024; an
 * optional trailing "B"/"iB" is accepted).  0 or CASK_EINVAL. */
int cask_parse_size(const char *s, size_t *out);

/* ---------------------------------------------------------------- arrays */

typedef struct cask_array cask_array_t;

/* Drop the caller's reference. */
void cask_array_destroy(cask_array_t *a);
/* Add a reference (returns a). */
cask_array_t *cask_array_retain(cask_array_t *a);

/* The getters of a NULL array return CASK_EINVAL (ndim, size), NULL
 * (shape, chunks) or CASK_NDTYPES (dtype). */
int cask_array_ndim(const cask_array_t *a);
/* Borrowed pointers valid while a lives; ndim entries. */
const int64_t *cask_array_shape(const cask_array_t *a);
const int64_t *cask_array_chunks(const cask_array_t *a);
cask_dtype_t cask_array_dtype(const cask_array_t *a);
/* Number of elements (1 for 0-d). */
int64_t cask_array_size(const cask_array_t *a);

/* ---- sources */

/* Open dataset `dset` ("/group/name") of HDF5 file `path` read-only.  chunks
 * NULL: the dataset's own chunking (for a contiguous dataset, or an
 * unfiltered one whose chunk is more than a quarter of the memory budget,
 * a grid fitting the budget; the grid is set when opened, so open again
 * after lowering the budget with cask_ctx_set_memory); else one entry per axis of the dataset: >= 1 the chunk
 * extent on that axis (cut to the extent), 0 keeps the dataset's chunk on
 * that axis, negative is CASK_EINVAL.  Unsupported types are refused with
 * CASK_ETYPE naming file, dataset and type.  The file stays open while the
 * array lives. */
int cask_array_open(cask_ctx_t *ctx, const char *path, const char *dset,
                    const int64_t *chunks, cask_array_t **out);

/* Sources of a given shape (ndim entries; shape may be NULL when ndim is 0).
 * chunks NULL: a default grid (about 8 MiB blocks); else ndim entries: >= 1
 * the chunk extent on that axis (cut to the extent), 0 the whole axis in
 * one chunk, negative is CASK_EINVAL.  The same holds for every chunks
 * argument of the sources below. */

/* A constant array. */
int cask_array_full(cask_ctx_t *ctx, cask_dtype_t dtype, int ndim, const int64_t *shape,
                    const int64_t *chunks, cask_scalar_t value, cask_array_t **out);
int cask_array_zeros(cask_ctx_t *ctx, cask_dtype_t dtype, int ndim, const int64_t *shape,
                     const int64_t *chunks, cask_array_t **out);
int cask_array_ones(cask_ctx_t *ctx, cask_dtype_t dtype, int ndim, const int64_t *shape,
                    const int64_t *chunks, cask_array_t **out);

/* 1-d start, start+step, ... (n elements), as np.arange(n)*step + start cast to dtype. */
int cask_array_arange(cask_ctx_t *ctx, cask_dtype_t dtype, int64_t n, double start,
                      double step, const int64_t *chunks, cask_array_t **out);

/* Generalisation of arange to n-d: element value = its C-order flat index
 * times step plus start (used by `cask create --fill arange`). */
int cask_array_indices(cask_ctx_t *ctx, cask_dtype_t dtype, int ndim, const int64_t *shape,
                       const int64_t *chunks, double start, double step,
                       cask_array_t **out);

typedef enum { CASK_RANDOM_UNIFORM = 0, CASK_RANDOM_NORMAL = 1 } cask_random_t;
/* Pseudo-random float32/float64: uniform in [0,1) or standard normal.  The
 * value of each element depends only on (seed, its flat index): the same
 * seed gives the same array whatever the chunking and thread count
 * (counter-based Philox4x32-10). */
int cask_array_random(cask_ctx_t *ctx, cask_random_t kind, uint64_t seed, cask_dtype_t dtype,
                      int ndim, const int64_t *shape, const int64_t *chunks,
                      cask_array_t **out);

/* A C-contiguous caller buffer.  BORROWED: data must stay valid and
 * unchanged until every array depending on it is destroyed. */
int cask_array_from_buffer(cask_ctx_t *ctx, cask_dtype_t dtype, int ndim,
                           const int64_t *shape, const int64_t *chunks, const void *data,
                           cask_array_t **out);

/* A 0-d array holding v.  weak != 0 makes it a Python-style scalar for type
 * promotion (NumPy 2 / NEP 50): float32_array * weak 2.0 stays float32. */
int cask_array_scalar(cask_ctx_t *ctx, cask_scalar_t v, int weak, cask_array_t **out);

/* ---- elementwise (NumPy broadcasting and type promotion) */

typedef enum {
	/* binary */
	CASK_ADD = 0, CASK_SUB, CASK_MUL, CASK_DIV /* true divide */, CASK_FLOORDIV,
	CASK_MOD, CASK_POW,
	CASK_LT, CASK_LE, CASK_GT, CASK_GE, CASK_EQ, CASK_NE,
	CASK_AND, CASK_OR, CASK_XOR,  /* & | ^: logical on bool, bitwise on ints */
	CASK_LOGICAL_AND, CASK_LOGICAL_OR, CASK_LOGICAL_XOR, /* any dtype -> bool */
	CASK_MINIMUM, CASK_MAXIMUM, CASK_ARCTAN2, CASK_HYPOT,
	/* unary */
	CASK_NEG, CASK_ABS, CASK_SQRT, CASK_EXP, CASK_LOG, CASK_LOG2, CASK_LOG10,
	CASK_LOG1P, CASK_EXPM1, CASK_SIN, CASK_COS, CASK_TAN, CASK_ARCSIN, CASK_ARCCOS,
	CASK_ARCTAN, CASK_SINH, CASK_COSH, CASK_TANH, CASK_FLOOR, CASK_CEIL, CASK_RINT,
	CASK_SIGN, CASK_ISNAN, CASK_ISINF, CASK_ISFINITE,
	CASK_INVERT,      /* ~: logical not on bool, bitwise not on ints */
	CASK_LOGICAL_NOT, /* any dtype -> bool */
	CASK_NOPS
} cask_op_t;

/* Name of an op as NumPy spells the function ("add", "sqrt", ...). */
const char *cask_op_name(cask_op_t op);
/* 1 for binary ops, 0 for unary. */
int cask_op_is_binary(cask_op_t op);

int cask_unary(cask_ctx_t *ctx, cask_op_t op, cask_array_t *a, cask_array_t **out);
int cask_binary(cask_ctx_t *ctx, cask_op_t op, cask_array_t *a, cask_array_t *b,
                cask_array_t **out);
/* np.where(cond, a, b); cond of any dtype (nonzero is true). */
int cask_where(cask_ctx_t *ctx, cask_array_t *cond, cask_array_t *a, cask_array_t *b,
               cask_array_t **out);
/* np.clip(x, lo, hi) = minimum(maximum(x, lo), hi); lo or hi may be NULL. */
int cask_clip(cask_ctx_t *ctx, cask_array_t *x, cask_array_t *lo, cask_array_t *hi,
              cask_array_t **out);
/* x.astype(dtype) with C casting semantics as NumPy (float->int truncates;
 * NaN/out-of-range float->int, unspecified in NumPy, is what NumPy gives on
 * x86-64 for one element: INT32_MIN / INT64_MIN from a 32 / 64-bit
 * truncation, its low bits for narrower types, so 300.0 -> uint8 is 44). */
int cask_astype(cask_ctx_t *ctx, cask_array_t *x, cask_dtype_t dtype, cask_array_t **out);

/* ---- reductions */

typedef enum {
	CASK_SUM = 0, CASK_PROD, CASK_MEAN, CASK_VAR, CASK_STD, CASK_MIN, CASK_MAX,
	CASK_ARGMIN, CASK_ARGMAX, CASK_ANY, CASK_ALL, CASK_COUNT_NONZERO,
	CASK_NANSUM, CASK_NANPROD, CASK_NANMEAN, CASK_NANVAR, CASK_NANSTD, CASK_NANMIN,
	CASK_NANMAX,
	CASK_NREDOPS
} cask_redop_t;

const char *cask_redop_name(cask_redop_t op);

/* Reduce over the naxes axes listed (negative counts from the end; naxes 0
 * means all axes, and axes may then be NULL; axes NULL with naxes != 0,
 * a negative naxes, an axis out of range or listed twice are CASK_EINVAL).
 * ARGMIN/ARGMAX take all axes (flat index, as NumPy with axis=None) or
 * exactly one.  ddof is used by var/std: the divisor is n - ddof, as NumPy's
 * (a negative ddof too: np.var(x, ddof=-1) divides by n + 1).
 * Result dtypes as NumPy: sum/prod of bool and signed ints int64, of
 * unsigned uint64; mean/var/std of ints float64; arg* and count_nonzero
 * int64; any/all bool.  Reducing an empty extent with min/max/arg* is
 * CASK_EINVAL (NumPy raises too); mean of nothing is NaN.  Float results
 * are bit-identical across runs and thread counts; the partial blocks
 * follow the chunks and the memory budget (task size), so a different
 * budget may change the last bits. */
int cask_reduce(cask_ctx_t *ctx, cask_redop_t op, cask_array_t *a, int naxes,
                const int *axes, int keepdims, int ddof, cask_array_t **out);

/* ---- indexing and shape */

typedef enum {
	CASK_INDEX_SLICE = 0, /* start:stop:step */
	CASK_INDEX_INT,       /* a single index: drops the axis */
	CASK_INDEX_NEWAXIS,   /* None: inserts an axis of length 1 */
	CASK_INDEX_ELLIPSIS   /* ...: as many full slices as needed */
} cask_index_kind_t;

typedef struct {
	cask_index_kind_t kind;
	int64_t start, stop, step; /* SLICE: Python semantics; INT: start */
	int has_start, has_stop;   /* SLICE: 0 means omitted */
} cask_index_t;

/* Basic indexing a[idx...] with Python/NumPy semantics (negative indices and
 * steps, clamping of slice bounds, out-of-range integer -> CASK_EINVAL).
 * idx has nidx >= 0 entries (NULL when nidx is 0). */
int cask_index(cask_ctx_t *ctx, cask_array_t *a, int nidx, const cask_index_t *idx,
               cask_array_t **out);
/* Axis permutation; perm NULL reverses the axes (a.T). */
int cask_transpose(cask_ctx_t *ctx, cask_array_t *a, const int *perm, cask_array_t **out);
/* Reshape that only inserts or removes length-1 axes: the extents other than
 * 1 must be the same sequence in a and in shape (ndim entries, NULL when
 * ndim is 0).  Any other reshape, even one that keeps C order (merging or
 * splitting axes), is CASK_ENOTSUP; a different element count is
 * CASK_ESHAPE. */
int cask_reshape(cask_ctx_t *ctx, cask_array_t *a, int ndim, const int64_t *shape,
                 cask_array_t **out);
int cask_concatenate(cask_ctx_t *ctx, int n, cask_array_t *const *arrays, int axis,
                     cask_array_t **out);
int cask_stack(cask_ctx_t *ctx, int n, cask_array_t *const *arrays, int axis,
               cask_array_t **out);
/* Same values on another chunk grid (entries <= 0 keep that axis' chunk;
 * chunks NULL keeps them all). */
int cask_rechunk(cask_ctx_t *ctx, cask_array_t *a, const int64_t *chunks, cask_array_t **out);

/* ---- output */

/* Compute a into buf (C order, a's dtype); bufsize must be at least
 * size * dtype_size (else CASK_EINVAL).  buf may be NULL only with bufsize
 * 0, i.e. for an empty result.  For results that fit in memory. */
int cask_compute(cask_ctx_t *ctx, cask_array_t *a, void *buf, size_t bufsize);

typedef struct {
	const char *path;       /* HDF5 file: created if missing */
	const char *dset;       /* dataset path in the file, "/a/b" */
	const int64_t *chunks;  /* NULL: the array's chunks; else one entry per
	                         * axis: >= 1 (cut to the extent), 0 keeps the
	                         * array's chunk, negative is CASK_EINVAL */
	int gzip;               /* -1 none (default), 0..9 deflate level */
	int shuffle;            /* byte shuffle filter */
	int fletcher32;         /* checksum filter */
	int overwrite;          /* replace an existing dataset of that name */
} cask_store_t;

/* Fill *o with defaults (no compression, array's chunks, no overwrite);
 * nothing on a NULL o. */
void cask_store_init(cask_store_t *o, const char *path, const char *dset);

/* Store n arrays (opts has n entries, one per array) in one pass that
 * evaluates shared inputs once per chunk.
 * All outputs appear atomically at the end: a failed or interrupted run
 * leaves every target file as it was (outputs are written to a temporary
 * file renamed over the target at the end; the original file's other
 * objects are preserved).  An output may overwrite one of the inputs. */
int cask_store(cask_ctx_t *ctx, int n, cask_array_t *const *arrays, const cask_store_t *opts);

/* ---- HDF5 file inspection (for `cask info`) */

typedef struct {
	char path[1024];          /* dataset path in the file */
	char type[64];            /* dtype name, or a description of an unsupported type */
	int supported;            /* 1 if cask can read it */
	int ndim;
	int64_t shape[CASK_MAX_DIMS];
	int64_t chunks[CASK_MAX_DIMS]; /* 0s when contiguous */
	char filters[256];        /* e.g. "shuffle,gzip=4" or "none" */
	uint64_t stored_bytes;    /* H5Dget_storage_size */
	uint64_t logical_bytes;   /* elements * element size */
} cask_dset_info_t;

/* Describe dataset dset of path, or (dset NULL) every dataset of the file in
 * name order.  *out is a malloc'd array of *n entries, freed by the caller
 * with free(). */
int cask_h5_info(cask_ctx_t *ctx, const char *path, const char *dset, cask_dset_info_t **out,
                 int64_t *n);

/* ---------------------------------------------------------------- graphs */

/* A plain task graph: tasks with integer ids, each naming its input tasks,
 * its output size and its scratch size.  Usable without the array API. */
typedef struct cask_graph cask_graph_t;

/* Per-task execution environment handed to task functions. */
typedef struct cask_task_env cask_task_env_t;

/* A task body.  inputs[i] are the outputs of the input tasks (read-only),
 * out has out_bytes bytes (NULL if 0).  Return 0 or a negative CASK_E code
 * after setting a message with cask_task_error(). */
typedef int (*cask_task_fn)(void *user, int64_t index, const void *const *inputs,
                            const size_t *input_bytes, int ninputs, void *out,
                            size_t out_bytes, cask_task_env_t *env);

typedef struct {
	cask_task_fn fn;
	void *user;             /* borrowed, passed to fn */
	int64_t index;          /* passed to fn (e.g. the output chunk number) */
	const int64_t *inputs;  /* ids of input tasks (earlier ids only) */
	int ninputs;
	size_t out_bytes;       /* output held until every consumer ran */
	size_t scratch_bytes;   /* freed when the task ends */
	const char *label;      /* short text for dumps ("sum-partial") */
	int keep;               /* 1: output kept after the run (cask_graph_output) */
} cask_task_spec_t;

int cask_graph_create(cask_ctx_t *ctx, cask_graph_t **out);
void cask_graph_destroy(cask_graph_t *g);
/* Append a task; *id receives its id (0, 1, 2, ...); id may be NULL.  A
 * NULL g is CASK_EINVAL without a message. */
int cask_graph_add(cask_graph_t *g, const cask_task_spec_t *spec, int64_t *id);
int64_t cask_graph_ntasks(const cask_graph_t *g);
/* Sum of out_bytes + scratch_bytes over all tasks. */
uint64_t cask_graph_bytes(const cask_graph_t *g);
/* Largest single-task working set (inputs + output + scratch). */
uint64_t cask_graph_max_task_bytes(const cask_graph_t *g);
typedef enum { CASK_DUMP_TEXT = 0, CASK_DUMP_DOT = 1 } cask_dump_t;
/* Write a description of the graph to f (the caller's stream). */
int cask_graph_dump(const cask_graph_t *g, FILE *f, cask_dump_t format);
/* Run every task under ctx's budget and threads. */
int cask_graph_run(cask_ctx_t *ctx, cask_graph_t *g);
/* Output of a task created with keep = 1, after a successful run (NULL for
 * any other task or a NULL g); bytes may be NULL.  ntasks and the byte
 * counts above are 0 for a NULL g. */
const void *cask_graph_output(const cask_graph_t *g, int64_t id, size_t *bytes);

/* Inside a task: set the run's error message (printf-style). Returns rc
 * (env or fmt NULL: only returns rc). */
int cask_task_error(cask_task_env_t *env, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Inside a task: take bytes of scratch from the task's reservation (64-byte
 * aligned, NULL if it exceeds scratch_bytes).  Freed when the task ends. */
void *cask_task_scratch(cask_task_env_t *env, size_t bytes);

/* The graph cask_store / cask_compute would run for these arrays (for
 * inspection: `cask eval --graph`).  opts: n entries, or NULL to compute
 * in memory. */
int cask_array_graph(cask_ctx_t *ctx, int n, cask_array_t *const *arrays,
                     const cask_store_t *opts, cask_graph_t **out);

/* ---------------------------------------------------------------- apply-parallel and filters */

/* Boundary modes of map_overlap and the filters, named and defined as
 * scipy.ndimage's (input d c b a... of length n):
 *   NONE      no padding at the array edge (map_overlap only): the callback
 *             sees the short block
 *   REFLECT   d c b a | a b c d | d c b a   (numpy 'symmetric', dask 'reflect')
 *   MIRROR    d c b | a b c d | c b a       (numpy 'reflect')
 *   NEAREST   a a a | a b c d | d d d       (numpy 'edge')
 *   CONSTANT  k k k | a b c d | k k k       (k = cval)
 *   WRAP      a b c d | a b c d | a b c d   (periodic)
 * Halos longer than the axis repeat the rule, as scipy. */
typedef enum {
	CASK_MODE_NONE = 0,
	CASK_MODE_REFLECT,
	CASK_MODE_MIRROR,
	CASK_MODE_NEAREST,
	CASK_MODE_CONSTANT,
	CASK_MODE_WRAP,
	CASK_NMODES
} cask_mode_t;

/* "none" "reflect" "mirror" "nearest" "constant" "wrap". */
const char *cask_mode_name(cask_mode_t m);
/* Parse a mode name (also scipy's synonyms "grid-mirror", "grid-constant",
 * "grid-wrap").  0 or CASK_EINVAL. */
int cask_mode_parse(const char *s, cask_mode_t *out);

/* One block handed to a map_blocks / map_overlap / apply_parallel callback.
 * Every block is C-contiguous; strides are in elements.  All pointers are
 * borrowed for the duration of the call.
 *  - in[i] (i < nin) is input i over the block grown by the halo: extents
 *    in_shape, strides in_strides (the same for every input), dtype
 *    in_dtype[i].  Its cell 0 stands for global index in_start[k], which is
 *    negative (or past the end) where the block reaches into the padding.
 *  - out (dtype out_dtype, extents out_shape, strides out_strides) is what
 *    the callback writes.  With trim (map_overlap's default, apply_parallel)
 *    out has the extents of the padded input and the library keeps its
 *    interior; without trim it is the block itself (out_start ==
 *    block_start) and the callback drops the halo.
 *  - block_start / block_shape: the block (without halo) in the whole array
 *    of shape array_shape; block_index: its coordinates in the grid of
 *    output chunks.
 * The callback runs on several threads at once (one block each) and must be
 * reentrant.  It returns 0, or nonzero to stop the run: the call computing
 * the array then fails with CASK_EUSER and a message naming the block. */
typedef struct {
	int ndim;
	int nin;
	const void *const *in;
	const cask_dtype_t *in_dtype;
	const int64_t *in_shape;
	const int64_t *in_strides;
	const int64_t *in_start;
	void *out;
	cask_dtype_t out_dtype;
	const int64_t *out_shape;
	const int64_t *out_strides;
	const int64_t *out_start;
	const int64_t *block_start;
	const int64_t *block_shape;
	const int64_t *block_index;
	const int64_t *array_shape;
	void *user;
} cask_block_t;

typedef int (*cask_block_fn)(const cask_block_t *b);

/* Lazy array whose blocks are computed by fn.  The nin inputs must all have
 * the same shape, which is the output's shape; out_chunks (NULL: input 0's
 * chunks) is the output's chunk grid and so the blocks fn sees.  user is
 * passed through (borrowed: it must outlive the array).  The callback sees
 * exactly the blocks of the grid (a block is recomputed for every region
 * of a later computation that touches it, e.g. when stored with other
 * chunks). */
int cask_map_blocks(cask_ctx_t *ctx, int nin, cask_array_t *const *in, cask_block_fn fn,
                    void *user, cask_dtype_t out_dtype, const int64_t *out_chunks,
                    cask_array_t **out);

/* map_blocks with halos: every input block is grown by depth[k] cells per
 * side (NULL: 0) filled beyond the array edge by mode[k] (NULL: REFLECT on
 * every axis; NONE: not grown past the edge) with cval for CONSTANT (cast
 * to each input's dtype).  trim != 0 (dask's default): fn writes an output
 * of the padded extents and the halo is cut off; trim == 0: fn writes the
 * block itself.  Halos are read as one enlarged region (a hyperslab of the
 * file), wrap padding as small far-end pieces, within the memory budget. */
int cask_map_overlap(cask_ctx_t *ctx, int nin, cask_array_t *const *in, cask_block_fn fn,
                     void *user, cask_dtype_t out_dtype, const int64_t *out_chunks,
                     const int64_t *depth, const cask_mode_t *mode, double cval, int trim,
                     cask_array_t **out);

/* scikit-image's apply_parallel: fn on blocks of x of extents chunks (NULL:
 * x's chunks) grown by depth cells on every axis but the channel axis,
 * padded by mode (and cval), trimmed afterwards; output dtype = x's dtype.
 * channel_axis (0..ndim-1, or -1 for none) is never split nor padded. */
int cask_apply_parallel(cask_ctx_t *ctx, cask_block_fn fn, cask_array_t *x,
                        const int64_t *chunks, int64_t depth, cask_mode_t mode, double cval,
                        void *user, int channel_axis, cask_array_t **out);

/* Built-in filters with scipy.ndimage's semantics (1.10), defaults and
 * output dtype (= the input dtype), on arrays of any numeric dtype (and
 * bool, see cask_filter) and rank
 * 1..8 (rank 0: the input itself).  The result equals the scipy filter on
 * the whole array whatever the chunking (bit for bit, except uniform_filter
 * on floats: its running sums restart at each block, so the last bits may
 * differ, within 1e-15 relative); filters compose with each other
 * and with elementwise operations in one pass (halos add up). */
typedef enum {
	CASK_FILTER_GAUSSIAN = 0,  /* gaussian_filter: sigma, order, truncate */
	CASK_FILTER_UNIFORM,       /* uniform_filter: size (default 3), origin */
	CASK_FILTER_MEDIAN,        /* median_filter: size, origin; one mode */
	CASK_FILTER_MINIMUM,       /* minimum_filter: size, origin */
	CASK_FILTER_MAXIMUM,       /* maximum_filter: size, origin */
	CASK_FILTER_SOBEL,         /* sobel: axis (default -1) */
	CASK_FILTER_PREWITT,       /* prewitt: axis (default -1) */
	CASK_FILTER_LAPLACE,       /* laplace */
	CASK_FILTER_GAUSSIAN_GRADIENT_MAGNITUDE, /* sigma, truncate; one mode */
	CASK_FILTER_GAUSSIAN_LAPLACE,            /* sigma, truncate; one mode */
	CASK_FILTER_CORRELATE,     /* weights (rank of the input), origin; one mode */
	CASK_FILTER_CONVOLVE,      /* weights, origin; one mode */
	CASK_NFILTERS
} cask_filter_kind_t;

/* Filter parameters.  Per-axis parameters come as n values: 1 = the same on
 * every axis (scipy's scalar), or one per axis. */
typedef struct {
	cask_filter_kind_t kind;
	int nsigma;
	double sigma[CASK_MAX_DIMS];   /* required by the gaussian filters */
	int norder;
	int order[CASK_MAX_DIMS];      /* gaussian_filter: 0, 1 or 2 (default 0) */
	double truncate;               /* default 4.0: radius int(truncate*sigma + 0.5) */
	int nsize;
	int64_t size[CASK_MAX_DIMS];   /* required by median/minimum/maximum */
	int norigin;
	int64_t origin[CASK_MAX_DIMS]; /* default 0; ignored on an axis of size 1 of
	                                * uniform/minimum/maximum, as scipy does */
	int axis;                      /* sobel/prewitt, negative from the end */
	int nmode;
	cask_mode_t mode[CASK_MAX_DIMS]; /* default REFLECT; NONE is refused */
	double cval;                   /* CONSTANT padding, default 0 */
	const double *weights;         /* correlate/convolve: C order, borrowed (copied) */
	int wndim;
	int64_t wshape[CASK_MAX_DIMS];
} cask_filter_t;

/* scipy's defaults for kind (mode reflect, cval 0, truncate 4, axis -1,
 * uniform size 3; sigma and size unset).  Nothing on a NULL spec. */
void cask_filter_init(cask_filter_t *spec, cask_filter_kind_t kind);
/* scipy's function name: "gaussian_filter", "sobel", ... */
const char *cask_filter_name(cask_filter_kind_t kind);
/* Parse a scipy function name, or a short one ("gaussian", "uniform",
 * "median", "minimum", "maximum", "min", "max").  0 or CASK_EINVAL. */
int cask_filter_parse(const char *s, cask_filter_kind_t *out);
/* Lazy filtered x.  CASK_EINVAL for a bad parameter (named in the message),
 * CASK_ENOTSUP above rank 8.  Bool input gives bool output as scipy's (each
 * pass cast to bool's byte, True where not 0: maximum_filter of a mask is
 * its dilation); CASK_ETYPE for bool input to laplace, gaussian_laplace and
 * gaussian_gradient_magnitude, whose terms scipy combines in bool logic. */
int cask_filter(cask_ctx_t *ctx, const cask_filter_t *spec, cask_array_t *x,
                cask_array_t **out);

/* ---------------------------------------------------------------- linear algebra
 * Factorisations and products of 2-d arrays that stay on disk (linalg/).
 * Inputs are any 2-d lazy arrays (datasets, expressions, views).  The
 * factorisations (qr, svd, lstsq) compute float32 in float64, integers as
 * float64, store large factors in the input's float dtype, and refuse
 * arrays containing an unmaterialised reduction (CASK_ENOTSUP: store them
 * first); non-finite input fails with CASK_EINVAL naming the dataset and
 * rows.  The products (cask_matmul, cask_gram, cask_matmul_tn) follow
 * numpy.matmul's types instead, see cask_matmul, and accept reductions.  One BLAS thread per
 * task (the call sets openblas_set_num_threads(1)); the reduction trees have
 * a fixed shape, so results are bit-identical between runs and thread
 * counts (the block heights follow the memory budget, so the last bits may
 * change with it).  Outputs named by cask_store_t are written transactionally as in
 * cask_store: one transaction per output file and call, committed at the
 * end: a call that fails or is interrupted leaves every target as it was. */

/* Tall-skinny QR of the m x n array a (m >= n >= 1) by direct TSQR.
 * r: NULL or caller memory for R (n x n row-major float64, upper
 * triangular, diag(R) >= 0 so R is unique).  r_store: NULL or the dataset
 * for R (float64).  q_store: NULL or the dataset for Q (m x n, a's float
 * dtype, chunks (a's row chunk, n) unless given).  Without Q, A is read
 * once; with Q twice, and Q is written once. */
int cask_tsqr(cask_ctx_t *ctx, cask_array_t *a, double *r, const cask_store_t *r_store,
              const cask_store_t *q_store);

/* Thin SVD A = U diag(S) V^T, k = min(m, n), singular values descending.
 * Tall A via TSQR + dgesdd of R with U streamed in TSQR's second pass;
 * wide A through its transpose.  s: NULL or k doubles; vt: NULL or k x n
 * row-major doubles.  u_store (m x k), s_store (k, float64), vt_store
 * (k x n): NULL or datasets.  U (tall) and V^T (wide) take a's float dtype
 * on disk (V^T is float64 when vt is also requested); the small factors
 * (V^T of a tall A, U of a wide one) are float64. */
int cask_svd(cask_ctx_t *ctx, cask_array_t *a, double *s, double *vt,
             const cask_store_t *u_store, const cask_store_t *s_store,
             const cask_store_t *vt_store);

/* Randomized rank-k SVD (Halko, Martinsson & Tropp) of any m x n a:
 * oversample p (< 0: 10, with a sketch of at least 20 columns, k + p =
 * max(k + 10, 20), as dask's svd_compressed; >= 0: exactly k + p; at most
 * min(m, n)), power_iters q (< 0: 2, each re-orthonormalised
 * by TSQR), Gaussian test matrix from seed.  The sketch spans
 * (A A^T)^q A Omega, as in their Alg. 4.4; a is streamed q + 1 times (one
 * pass per A^T A product, the last also giving B = Q^T A) when the m x (k+p)
 * sketch fits a quarter of the budget and q >= 1 (q + 2 times if that
 * sketch is ill-conditioned, cond > 1e3, and once more when A's first rows
 * misjudge its magnitude by many orders), else 2 + 2q times.
 * s: NULL or k doubles; vt: NULL or k x n doubles; stores as cask_svd
 * (U: m x k).  Requires 1 <= k <= min(m, n); m x (k+p) intermediates live
 * in memory when they fit a quarter of the budget, else in temporary HDF5
 * files next to u_store (or in $TMPDIR).  The n x (k+p) ones are held in
 * memory (each within an eighth of the budget, CASK_EBUDGET otherwise:
 * they are the partials of A^T B); a wide A (m < n) whose n x (k+p)
 * do not fit is factored through A^T instead (its m x (k+p) in memory). */
int cask_svd_randomized(cask_ctx_t *ctx, cask_array_t *a, int64_t k, int64_t oversample,
                        int64_t power_iters, uint64_t seed, double *s, double *vt,
                        const cask_store_t *u_store, const cask_store_t *s_store,
                        const cask_store_t *vt_store);

/* Least squares min ||A x - b|| for tall A (m >= n) by TSQR, with Q^T b
 * carried through the reduction (Q is never stored; A and b are read
 * once).  b: m or m x nrhs.  x: n x nrhs row-major doubles; rnorm: NULL or
 * nrhs residual norms ||A x - b||.  As numpy.linalg.lstsq: singular values
 * of A at most rcond * s_max count as zero (rcond < 0: eps * max(m, n),
 * NumPy's default; rcond 0 or >= 1: eps, as LAPACK's dgelsd under
 * numpy.linalg.lstsq takes them); of full rank x = R^-1 Q^T b, else the minimum-norm
 * solution through the SVD of R; rank: NULL or the effective rank.  A
 * result that overflows is CASK_EINVAL. */
int cask_lstsq_ex(cask_ctx_t *ctx, cask_array_t *a, cask_array_t *b, double rcond, double *x,
                  double *rnorm, int64_t *rank);
/* cask_lstsq_ex with the default rcond and no rank. */
int cask_lstsq(cask_ctx_t *ctx, cask_array_t *a, cask_array_t *b, double *x, double *rnorm);

/* a @ b with numpy.matmul's semantics for 1-d and 2-d operands: a (m x n
 * or n; a 1-d a is a row whose axis is dropped from the result), b (n x k
 * or n; a 1-d b is a column, likewise dropped).  b is evaluated into memory
 * here (it must fit a quarter of the budget, else CASK_EBUDGET) and the
 * result is a LAZY m x k (or m, k, 0-d) array whose row blocks are computed
 * from the same rows of a.  When a is the transpose of a tall array X
 * (a = X.T), the product is X^T b, computed now as in cask_matmul_tn
 * (cask_gram when b is X itself).
 * Result dtype: cask_dtype_promote(a, b), as np.result_type: float32 @
 * float32 is float32, float32 with float64 or int64 float64, int8 with
 * float32 float32.  Float products are computed in float64 (BLAS) and
 * rounded once to float32 when that is the result type.  Integer results
 * are EXACT with NumPy's wraparound in the result type (int64 arithmetic
 * modulo 2^64, then truncated); bool @ bool is bool (OR of ANDs).
 * An empty m, n or k gives the zeros of the result shape (nothing read).
 * a and b may contain reductions (they are computed first).
 * Errors (messages name both operands' datasets): CASK_ESHAPE for a 0-d
 * operand or inner dimensions that differ (shapes printed as NumPy,
 * "(5,)" for 1-d), CASK_ENOTSUP for 3-d and higher (batched) operands. */
int cask_matmul(cask_ctx_t *ctx, cask_array_t *a, cask_array_t *b, cask_array_t **out);

/* The Gram matrix a^T a (n x n) of an m x n array, computed now by a
 * fixed-order tree over row blocks (dsyrk for floats, exact int64 for
 * integers and bool); *out is an in-memory array of a's dtype (numpy's
 * a.T @ a), which must fit an eighth of the budget. */
int cask_gram(cask_ctx_t *ctx, cask_array_t *a, cask_array_t **out);

/* a^T b for row-aligned a (m x n) and b (m x k, or m): n x k (or n) of
 * dtype cask_dtype_promote(a, b) (numpy's a.T @ b), computed now like
 * cask_gram; *out is an in-memory array. */
int cask_matmul_tn(cask_ctx_t *ctx, cask_array_t *a, cask_array_t *b, cask_array_t **out);

#ifdef __cplusplus
}
#endif
#endif /* CASK_H */
