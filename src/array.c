/*
 * array.c - constructors of lazy arrays: sources, elementwise operations with
 * NumPy broadcasting and type promotion (NEP 50 weak scalars), reductions,
 * basic indexing, transpose, reshape of unit axes, concatenate, stack and
 * rechunk.  Nothing here touches array data; see eval.c for evaluation.
 */
#include "array.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

/* ------------------------------------------------------------ node basics */

static int check_shape(cask_ctx_t *ctx, int ndim, const int64_t *shape, size_t itemsize)
{
	if (ndim < 0 || ndim > CASK_MAX_DIMS)
		return cask__error(ctx, CASK_EINVAL, "rank %d is out of range 0..%d", ndim, CASK_MAX_DIMS);
	int64_t n = 1;
	for (int k = 0; k < ndim; k++) {
		if (shape[k] < 0)
			return cask__error(ctx, CASK_EINVAL, "negative extent %lld on axis %d",
			                   (long long)shape[k], k);
		if (cask__mul_i64(n, shape[k], &n) != 0)
			return cask__error(ctx, CASK_EOVERFLOW, "array of rank %d: the product of the extents overflows int64", ndim);
	}
	int64_t bytes;
	if (cask__mul_i64(n, (int64_t)itemsize, &bytes) != 0)
		return cask__error(ctx, CASK_EOVERFLOW, "array of %lld elements: byte size overflows int64", (long long)n);
	return 0;
}

int cask__array_new(cask_ctx_t *ctx, cask__kind_t kind, cask_dtype_t dtype, int ndim,
                    const int64_t *shape, int nin, cask_array_t *const *in, cask_array_t **out)
{
	int rc = check_shape(ctx, ndim, shape, cask_dtype_size(dtype));
	if (rc != 0)
		return rc;
	cask_array_t *a = calloc(1, sizeof *a);
	if (a == NULL)
		return cask__error(ctx, CASK_ENOMEM, "out of memory allocating an array node");
	if (nin > 0) {
		a->in = calloc((size_t)nin, sizeof *a->in);
		if (a->in == NULL) {
			free(a);
			return cask__error(ctx, CASK_ENOMEM, "out of memory allocating an array node");
		}
	}
	a->refs = 1;
	a->kind = kind;
	a->dtype = dtype;
	a->ndim = ndim;
	for (int k = 0; k < ndim; k++) {
		a->shape[k] = shape[k];
		a->chunks[k] = shape[k] > 0 ? shape[k] : 1;
	}
	a->nin = nin;
	for (int i = 0; i < nin; i++)
		a->in[i] = cask_array_retain(in[i]);
	*out = a;
	return 0;
}

cask_array_t *cask_array_retain(cask_array_t *a)
{
	if (a != NULL)
		__atomic_add_fetch(&a->refs, 1, __ATOMIC_RELAXED);
	return a;
}

void cask_array_destroy(cask_array_t *a)
{
	if (a == NULL || __atomic_sub_fetch(&a->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (int i = 0; i < a->nin; i++)
		cask_array_destroy(a->in[i]);
	free(a->in);
	if (a->kind == N_H5)
		cask__io_close(a->u.h5.h);
	if (a->kind == N_MAP && a->u.map.ops->destroy != NULL)
		a->u.map.ops->destroy(a->u.map.state);
	free(a);
}

static void h5_leaves(const cask_array_t *a, const cask_array_t **list, int *n, int cap,
                      int depth)
{
	if (depth > 10000 || *n >= cap)
		return;
	if (a->kind == N_H5) {
		for (int i = 0; i < *n; i++)
			if (list[i]->u.h5.h == a->u.h5.h)
				return;
		list[(*n)++] = a;
		return;
	}
	for (int i = 0; i < a->nin; i++)
		h5_leaves(a->in[i], list, n, cap, depth + 1);
}

int64_t cask__array_row_chunk(const cask_array_t *a)
{
	const cask_array_t *x = a;
	while (x->kind == N_CAST && x->nin == 1 && x->in[0]->ndim == x->ndim)
		x = x->in[0];
	if (x->kind == N_H5 && x->ndim > 0 && x->shape[0] == a->shape[0])
		return x->u.h5.rows;
	return a->ndim > 0 ? a->chunks[0] : 1;
}

void cask__array_h5_leaves(const cask_array_t *a, const cask_array_t **list, int *n, int cap)
{
	h5_leaves(a, list, n, cap, 0);
}

/* The getters cannot carry a message: on a NULL array they return the
 * values cask.h documents (CASK_EINVAL, NULL, CASK_NDTYPES). */
int cask_array_ndim(const cask_array_t *a) { return a != NULL ? a->ndim : CASK_EINVAL; }
const int64_t *cask_array_shape(const cask_array_t *a) { return a != NULL ? a->shape : NULL; }
const int64_t *cask_array_chunks(const cask_array_t *a) { return a != NULL ? a->chunks : NULL; }
cask_dtype_t cask_array_dtype(const cask_array_t *a) { return a != NULL ? a->dtype : CASK_NDTYPES; }

int64_t cask_array_size(const cask_array_t *a)
{
	if (a == NULL)
		return CASK_EINVAL;
	int64_t n = 1;
	for (int k = 0; k < a->ndim; k++)
		n *= a->shape[k];
	return n;
}

void cask__default_chunks(int ndim, const int64_t *shape, size_t itemsize, size_t target,
                          int64_t *chunks)
{
	int64_t room = (int64_t)(target / (itemsize ? itemsize : 1));
	if (room < 1)
		room = 1;
	for (int k = ndim - 1; k >= 0; k--) {
		int64_t e = shape[k] > 0 ? shape[k] : 1;
		if (e <= room) {
			chunks[k] = e;
			room /= e;
		} else {
			chunks[k] = room;
			room = 1;
		}
	}
}

size_t cask__default_target(const cask_ctx_t *ctx)
{
	size_t t = ctx->budget / 32;
	if (t > ((size_t)8 << 20))
		t = (size_t)8 << 20;
	if (t < 4096)
		t = 4096;
	return t;
}

int64_t cask__nchunks(const cask_array_t *a, int64_t *per_axis)
{
	int64_t n = 1;
	for (int k = 0; k < a->ndim; k++) {
		/* Not shape + chunk - 1: that overflows for extents near 2^63. */
		per_axis[k] = a->shape[k] / a->chunks[k] + (a->shape[k] % a->chunks[k] != 0);
		n *= per_axis[k];
	}
	return n;
}

void cask__chunk_region(const cask_array_t *a, const int64_t *per_axis, int64_t c,
                        int64_t *start, int64_t *count)
{
	for (int k = a->ndim - 1; k >= 0; k--) {
		int64_t i = c % per_axis[k];
		c /= per_axis[k];
		start[k] = i * a->chunks[k];
		count[k] = a->chunks[k];
		if (start[k] + count[k] > a->shape[k])
			count[k] = a->shape[k] - start[k];
	}
}

int cask__check_chunks(cask_ctx_t *ctx, const char *fn, int ndim, const int64_t *chunks)
{
	/* A bad rank is reported by the shape check that follows. */
	if (chunks == NULL || ndim < 0 || ndim > CASK_MAX_DIMS)
		return 0;
	for (int k = 0; k < ndim; k++)
		if (chunks[k] < 0)
			return cask__error(ctx, CASK_EINVAL, "%s: negative chunk extent %lld on axis %d",
			                   fn, (long long)chunks[k], k);
	return 0;
}

int cask__check_arrays(cask_ctx_t *ctx, const char *fn, const char *name, int n,
                       cask_array_t *const *arrays)
{
	if (n > 0 && arrays == NULL)
		return cask__null_arg(ctx, fn, name);
	for (int i = 0; i < n; i++)
		if (arrays[i] == NULL)
			return cask__error(ctx, CASK_EINVAL, "%s: NULL %s[%d]", fn, name, i);
	return 0;
}

/* Entry checks shared by the constructors: ctx and out, shape unless the
 * array is 0-d, and the chunk extents. */
static int check_source(cask_ctx_t *ctx, const char *fn, int ndim, const int64_t *shape,
                        const int64_t *chunks, cask_array_t **out)
{
	if (ctx == NULL || out == NULL)
		return cask__null_arg(ctx, fn, ctx == NULL ? "ctx" : "out");
	if (ndim > 0 && shape == NULL)
		return cask__null_arg(ctx, fn, "shape");
	return cask__check_chunks(ctx, fn, ndim, chunks);
}

/* Apply caller chunks (entries <= 0 keep the axis' current chunk; the
 * public entry points refuse negative ones, cask_rechunk keeps them). */
static int set_chunks(cask_ctx_t *ctx, cask_array_t *a, const int64_t *chunks)
{
	if (chunks == NULL) {
		cask__default_chunks(a->ndim, a->shape, cask_dtype_size(a->dtype), cask__default_target(ctx),
		                     a->chunks);
		return 0;
	}
	for (int k = 0; k < a->ndim; k++) {
		if (chunks[k] <= 0)
			continue; /* keep */
		a->chunks[k] = chunks[k];
		if (a->shape[k] > 0 && a->chunks[k] > a->shape[k])
			a->chunks[k] = a->shape[k];
		if (a->shape[k] == 0)
			a->chunks[k] = 1;
	}
	return 0;
}

/* ------------------------------------------------------------ sources */

int cask_array_open(cask_ctx_t *ctx, const char *path, const char *dset,
                    const int64_t *chunks, cask_array_t **out)
{
	cask__h5in_t *h = NULL;
	cask__h5meta_t meta;
	cask_array_t *a = NULL;
	int rc = CASK__CHECK_PTRS(ctx, ctx, path, dset, out);
	if (rc != 0)
		return rc;
	rc = cask__io_open(ctx, path, dset, ctx->allow_external, &h, &meta);
	if (rc != 0)
		return rc;
	rc = cask__check_chunks(ctx, __func__, meta.ndim, chunks);
	if (rc != 0) {
		cask__error_append(ctx, " (dataset '%s' in '%s')", dset, path);
		cask__io_close(h);
		return rc;
	}
	rc = cask__array_new(ctx, N_H5, meta.dtype, meta.ndim, meta.shape, 0, NULL, &a);
	if (rc != 0) {
		cask__error_append(ctx, " (dataset '%s' in '%s')", dset, path);
		cask__io_close(h);
		return rc;
	}
	a->u.h5.h = h;
	a->u.h5.meta = meta;
	int cut = cask__io_chunks_in_parts(&meta, ctx->budget);
	if (cut) {
		/* A stored chunk no task could hold with its output: unfiltered
		 * chunks read in parts, so the grid is that of a contiguous
		 * dataset with the chunk's extents (C order, so a block within a
		 * chunk is a run of its rows; a block may also straddle two
		 * chunks, read in parts all the same). */
		int64_t ext[CASK_MAX_DIMS];
		for (int k = 0; k < a->ndim; k++)
			ext[k] = meta.chunks[k] < a->shape[k] ? meta.chunks[k] : a->shape[k];
		cask__default_chunks(a->ndim, ext, cask_dtype_size(a->dtype), cask__default_target(ctx),
		                     a->chunks);
	} else if (meta.chunked) {
		for (int k = 0; k < a->ndim; k++)
			a->chunks[k] = meta.chunks[k] < a->shape[k] ? meta.chunks[k] : (a->shape[k] > 0 ? a->shape[k] : 1);
	} else {
		set_chunks(ctx, a, NULL);
	}
	if (chunks != NULL)
		set_chunks(ctx, a, chunks);
	a->u.h5.rows = a->ndim == 0 ? 1
	               : chunks != NULL && chunks[0] > 0 ? a->chunks[0]
	               : cut ? (meta.chunks[0] < a->shape[0] ? meta.chunks[0]
	                        : a->shape[0] > 0 ? a->shape[0] : 1)
	               : a->chunks[0];
	*out = a;
	return 0;
}

static void scalar_to_bytes(cask_scalar_t v, cask_dtype_t t, uint8_t *bytes)
{
	/* Convert through the kernels' cast so semantics match astype. */
	const void *src = v.dtype >= CASK_FLOAT32 ? (const void *)&v.v.f
	                  : (v.dtype >= CASK_UINT8 ? (const void *)&v.v.u : (const void *)&v.v.i);
	cask_dtype_t st = v.dtype >= CASK_FLOAT32 ? CASK_FLOAT64
	                  : (v.dtype >= CASK_UINT8 ? CASK_UINT64 : CASK_INT64);
	memset(bytes, 0, 8);
	cask_k_cast(1, st, src, 1, t, bytes);
}

static int check_dtype(cask_ctx_t *ctx, cask_dtype_t t)
{
	if ((unsigned)t >= CASK_NDTYPES)
		return cask__error(ctx, CASK_ETYPE, "invalid dtype %d", (int)t);
	return 0;
}

int cask_array_full(cask_ctx_t *ctx, cask_dtype_t dtype, int ndim, const int64_t *shape,
                    const int64_t *chunks, cask_scalar_t value, cask_array_t **out)
{
	cask_array_t *a;
	int rc = check_source(ctx, __func__, ndim, shape, chunks, out);
	if (rc == 0)
		rc = check_dtype(ctx, dtype);
	if (rc == 0)
		rc = check_dtype(ctx, value.dtype); /* scalar_to_bytes reads the union by it */
	if (rc == 0)
		rc = cask__array_new(ctx, N_FULL, dtype, ndim, shape, 0, NULL, &a);
	if (rc != 0)
		return rc;
	scalar_to_bytes(value, dtype, a->u.full.bytes);
	set_chunks(ctx, a, chunks);
	*out = a;
	return 0;
}

int cask_array_zeros(cask_ctx_t *ctx, cask_dtype_t dtype, int ndim, const int64_t *shape,
                     const int64_t *chunks, cask_array_t **out)
{
	cask_scalar_t z = {.dtype = CASK_INT64, .v.i = 0};
	int rc = check_source(ctx, __func__, ndim, shape, chunks, out);
	if (rc != 0)
		return rc;
	return cask_array_full(ctx, dtype, ndim, shape, chunks, z, out);
}

int cask_array_ones(cask_ctx_t *ctx, cask_dtype_t dtype, int ndim, const int64_t *shape,
                    const int64_t *chunks, cask_array_t **out)
{
	cask_scalar_t o = {.dtype = CASK_INT64, .v.i = 1};
	int rc = check_source(ctx, __func__, ndim, shape, chunks, out);
	if (rc != 0)
		return rc;
	return cask_array_full(ctx, dtype, ndim, shape, chunks, o, out);
}

int cask_array_indices(cask_ctx_t *ctx, cask_dtype_t dtype, int ndim, const int64_t *shape,
                       const int64_t *chunks, double start, double step, cask_array_t **out)
{
	cask_array_t *a;
	int rc = check_source(ctx, __func__, ndim, shape, chunks, out);
	if (rc == 0)
		rc = check_dtype(ctx, dtype);
	if (rc == 0)
		rc = cask__array_new(ctx, N_INDICES, dtype, ndim, shape, 0, NULL, &a);
	if (rc != 0)
		return rc;
	a->u.indices.start = start;
	a->u.indices.step = step;
	set_chunks(ctx, a, chunks);
	*out = a;
	return 0;
}

int cask_array_arange(cask_ctx_t *ctx, cask_dtype_t dtype, int64_t n, double start,
                      double step, const int64_t *chunks, cask_array_t **out)
{
	int rc = check_source(ctx, __func__, 1, &n, chunks, out);
	if (rc != 0)
		return rc;
	return cask_array_indices(ctx, dtype, 1, &n, chunks, start, step, out);
}

int cask_array_random(cask_ctx_t *ctx, cask_random_t kind, uint64_t seed, cask_dtype_t dtype,
                      int ndim, const int64_t *shape, const int64_t *chunks, cask_array_t **out)
{
	int rc = check_source(ctx, __func__, ndim, shape, chunks, out);
	if (rc != 0)
		return rc;
	if (dtype != CASK_FLOAT32 && dtype != CASK_FLOAT64)
		return cask__error(ctx, CASK_ETYPE, "random arrays are float32 or float64, not %s",
		                   cask_dtype_name(dtype));
	if (kind != CASK_RANDOM_UNIFORM && kind != CASK_RANDOM_NORMAL)
		return cask__error(ctx, CASK_EINVAL, "unknown random distribution %d", (int)kind);
	cask_array_t *a;
	rc = cask__array_new(ctx, N_RANDOM, dtype, ndim, shape, 0, NULL, &a);
	if (rc != 0)
		return rc;
	a->u.random.kind = kind;
	a->u.random.seed = seed;
	set_chunks(ctx, a, chunks);
	*out = a;
	return 0;
}

int cask_array_from_buffer(cask_ctx_t *ctx, cask_dtype_t dtype, int ndim,
                           const int64_t *shape, const int64_t *chunks, const void *data,
                           cask_array_t **out)
{
	cask_array_t *a;
	int rc = check_source(ctx, __func__, ndim, shape, chunks, out);
	if (rc == 0)
		rc = check_dtype(ctx, dtype);
	if (rc == 0 && data == NULL)
		rc = cask__null_arg(ctx, __func__, "data");
	if (rc == 0)
		rc = cask__array_new(ctx, N_BUFFER, dtype, ndim, shape, 0, NULL, &a);
	if (rc != 0)
		return rc;
	a->u.buffer.data = data;
	set_chunks(ctx, a, chunks);
	*out = a;
	return 0;
}

int cask_array_scalar(cask_ctx_t *ctx, cask_scalar_t v, int weak, cask_array_t **out)
{
	cask_array_t *a;
	int rc = CASK__CHECK_PTRS(ctx, ctx, out);
	if (rc != 0)
		return rc;
	rc = cask_array_full(ctx, v.dtype, 0, NULL, NULL, v, &a);
	if (rc != 0)
		return rc;
	a->weak = weak != 0;
	*out = a;
	return 0;
}

/* ------------------------------------------------------------ names */

static const char *const op_names[CASK_NOPS] = {
	"add", "subtract", "multiply", "divide", "floor_divide", "remainder", "power",
	"less", "less_equal", "greater", "greater_equal", "equal", "not_equal",
	"bitwise_and", "bitwise_or", "bitwise_xor", "logical_and", "logical_or", "logical_xor",
	"minimum", "maximum", "arctan2", "hypot",
	"negative", "absolute", "sqrt", "exp", "log", "log2", "log10", "log1p", "expm1",
	"sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
	"floor", "ceil", "rint", "sign", "isnan", "isinf", "isfinite", "invert", "logical_not",
};

const char *cask_op_name(cask_op_t op)
{
	return (unsigned)op < CASK_NOPS ? op_names[op] : "?";
}

int cask_op_is_binary(cask_op_t op) { return op <= CASK_HYPOT; }

static const char *const redop_names[CASK_NREDOPS] = {
	"sum", "prod", "mean", "var", "std", "min", "max", "argmin", "argmax", "any", "all",
	"count_nonzero", "nansum", "nanprod", "nanmean", "nanvar", "nanstd", "nanmin", "nanmax",
};

const char *cask_redop_name(cask_redop_t op)
{
	return (unsigned)op < CASK_NREDOPS ? redop_names[op] : "?";
}

/* ------------------------------------------------------------ elementwise */

static int is_float(cask_dtype_t t) { return cask__dtype_is_float(t); }
static int is_int(cask_dtype_t t) { return cask__dtype_is_signed(t) || cask__dtype_is_unsigned(t); }

/* The float type NumPy's math loops use for an integer or bool input
 * (NumPy uses float16 for 1-byte inputs; cask has no float16: float32). */
static cask_dtype_t math_type(cask_dtype_t t)
{
	if (is_float(t))
		return t;
	return cask_dtype_size(t) <= 2 ? CASK_FLOAT32 : CASK_FLOAT64;
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
	size_t len = 0;
	len += (size_t)snprintf(buf + len, n - len, "(");
	for (int k = 0; k < ndim && len < n; k++)
		len += (size_t)snprintf(buf + len, n - len, "%s%lld", k ? "," : "", (long long)shape[k]);
	if (len < n)
		len += (size_t)snprintf(buf + len, n - len, ndim == 1 ? ",)" : ")");
}

/* Broadcast shapes of n arrays into shape[]; *ndim receives the rank. */
static int broadcast(cask_ctx_t *ctx, int n, cask_array_t *const *in, int *ndim, int64_t *shape)
{
	int nd = 0;
	for (int i = 0; i < n; i++)
		if (in[i]->ndim > nd)
			nd = in[i]->ndim;
	for (int k = 0; k < nd; k++)
		shape[k] = 1;
	for (int i = 0; i < n; i++) {
		int off = nd - in[i]->ndim;
		for (int k = 0; k < in[i]->ndim; k++) {
			int64_t e = in[i]->shape[k];
			if (e == shape[off + k] || e == 1)
				continue;
			if (shape[off + k] == 1) {
				shape[off + k] = e;
				continue;
			}
			char s1[512] = "", s2[512] = "", s3[512] = "";
			shape_str(s1, sizeof s1, in[0]->ndim, in[0]->shape);
			if (n > 1)
				shape_str(s2, sizeof s2, in[1]->ndim, in[1]->shape);
			if (n > 2)
				shape_str(s3, sizeof s3, in[2]->ndim, in[2]->shape);
			return cask__error(ctx, CASK_ESHAPE,
			                   "operands could not be broadcast together with shapes %s %s%s%s",
			                   s1, s2, n > 2 ? " " : "", s3);
		}
	}
	*ndim = nd;
	return 0;
}

/* Chunks of a broadcast result: from the input with the most elements whose
 * extent matches the result, axis by axis. */
static void broadcast_chunks(cask_ctx_t *ctx, cask_array_t *r, int n, cask_array_t *const *in)
{
	int done[CASK_MAX_DIMS] = {0};
	/* order inputs by size, largest first */
	int order[3] = {0, 1, 2};
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (cask_array_size(in[order[j]]) > cask_array_size(in[order[i]])) {
				int t = order[i];
				order[i] = order[j];
				order[j] = t;
			}
	for (int ii = 0; ii < n; ii++) {
		cask_array_t *a = in[order[ii]];
		int off = r->ndim - a->ndim;
		for (int k = 0; k < a->ndim; k++) {
			if (!done[off + k] && a->shape[k] == r->shape[off + k] && a->shape[k] > 1) {
				r->chunks[off + k] = a->chunks[k];
				done[off + k] = 1;
			}
		}
	}
	int64_t def[CASK_MAX_DIMS];
	cask__default_chunks(r->ndim, r->shape, cask_dtype_size(r->dtype), cask__default_target(ctx), def);
	for (int k = 0; k < r->ndim; k++)
		if (!done[k])
			r->chunks[k] = r->shape[k] > 1 ? def[k] : 1;
}

/* A cast of a to t (a retained reference if already t).  Weak constants are
 * folded into a new constant. */
static int cast_to(cask_ctx_t *ctx, cask_array_t *a, cask_dtype_t t, cask_array_t **out)
{
	if (a->dtype == t) {
		*out = cask_array_retain(a);
		return 0;
	}
	cask_array_t *r;
	int rc;
	if (a->kind == N_FULL) {
		rc = cask__array_new(ctx, N_FULL, t, a->ndim, a->shape, 0, NULL, &r);
		if (rc != 0)
			return rc;
		memset(r->u.full.bytes, 0, 8);
		cask_k_cast(1, a->dtype, a->u.full.bytes, 1, t, r->u.full.bytes);
		memcpy(r->chunks, a->chunks, sizeof r->chunks);
		r->weak = a->weak;
	} else {
		rc = cask__array_new(ctx, N_CAST, t, a->ndim, a->shape, 1, &a, &r);
		if (rc != 0)
			return rc;
		memcpy(r->chunks, a->chunks, sizeof r->chunks);
	}
	*out = r;
	return 0;
}

int cask_astype(cask_ctx_t *ctx, cask_array_t *x, cask_dtype_t dtype, cask_array_t **out)
{
	int rc = CASK__CHECK_PTRS(ctx, ctx, x, out);
	if (rc == 0)
		rc = check_dtype(ctx, dtype);
	if (rc != 0)
		return rc;
	cask_array_t *r;
	rc = cast_to(ctx, x, dtype, &r);
	if (rc != 0)
		return rc;
	if (r != x)
		r->weak = 0;
	*out = r;
	return 0;
}

/* NEP 50 promotion for two operands. */
static cask_dtype_t promote2(const cask_array_t *a, const cask_array_t *b)
{
	if (a->weak == b->weak)
		return cask_dtype_promote(a->dtype, b->dtype);
	const cask_array_t *s = a->weak ? a : b, *t = a->weak ? b : a;
	cask_dtype_t T = t->dtype, K = s->dtype;
	if (K == CASK_BOOL)
		return T;
	if (is_int(K))
		return T == CASK_BOOL ? CASK_INT64 : T;
	/* weak float */
	return is_float(T) ? T : CASK_FLOAT64;
}

/*
 * Python ints against integer arrays (NEP 50).  A weak integer constant is a
 * Python int: NumPy 2 converts it to the array's integer dtype, which raises
 * OverflowError when the value does not fit, except in comparisons, which
 * it answers exactly (300 is above every int8).  The checks below see only
 * constants (N_FULL), which is what a literal is; a weak node computed from
 * constants (the library's cask_unary of a weak scalar) is not checked.
 */

/* The value of a weak integer constant as sign and magnitude; 1 if a is one. */
static int weak_int_value(const cask_array_t *a, int *neg, uint64_t *mag)
{
	if (!a->weak || a->kind != N_FULL || !is_int(a->dtype))
		return 0;
	if (cask__dtype_is_signed(a->dtype)) {
		int64_t v;
		cask_k_cast(1, a->dtype, a->u.full.bytes, 1, CASK_INT64, &v);
		*neg = v < 0;
		*mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	} else {
		uint64_t v;
		cask_k_cast(1, a->dtype, a->u.full.bytes, 1, CASK_UINT64, &v);
		*neg = 0;
		*mag = v;
	}
	return 1;
}

/* The range of integer dtype t as magnitudes: min is -*lo_mag (0 for
 * unsigned), max is *hi. */
static void int_range(cask_dtype_t t, uint64_t *lo_mag, uint64_t *hi)
{
	int bits = (int)cask_dtype_size(t) * 8;
	if (cask__dtype_is_signed(t)) {
		*lo_mag = (uint64_t)1 << (bits - 1);
		*hi = *lo_mag - 1;
	} else {
		*lo_mag = 0;
		*hi = bits == 64 ? UINT64_MAX : ((uint64_t)1 << bits) - 1;
	}
}

/* -1 if (neg, mag) is below the range of integer dtype t, 1 above, 0 in it. */
static int int_vs_range(int neg, uint64_t mag, cask_dtype_t t)
{
	uint64_t lo, hi;
	int_range(t, &lo, &hi);
	if (neg)
		return mag > lo ? -1 : 0;
	return mag > hi ? 1 : 0;
}

static int out_of_bounds(cask_ctx_t *ctx, int neg, uint64_t mag, cask_dtype_t t)
{
	return cask__error(ctx, CASK_EOVERFLOW, "Python integer %s%llu out of bounds for %s",
	                   neg ? "-" : "", (unsigned long long)mag, cask_dtype_name(t));
}

/* x op w (w_left: w op x) where the Python int w lies beyond every value of
 * x's type (side: -1 below, 1 above): a constant bool array of x's shape. */
static int compare_beyond(cask_ctx_t *ctx, cask_op_t op, const cask_array_t *x, int w_left,
                          int side, cask_array_t **out)
{
	if (w_left) /* w op x == x op' w */
		op = op == CASK_LT ? CASK_GT : op == CASK_GT ? CASK_LT
		   : op == CASK_LE ? CASK_GE : op == CASK_GE ? CASK_LE : op;
	int truth;
	if (op == CASK_EQ || op == CASK_NE)
		truth = op == CASK_NE;
	else
		truth = (op == CASK_LT || op == CASK_LE) == (side > 0);
	cask_scalar_t v;
	v.dtype = CASK_BOOL;
	v.v.i = truth;
	return cask_array_full(ctx, CASK_BOOL, x->ndim, x->shape, x->ndim ? x->chunks : NULL, v,
	                       out);
}

static int elem_node(cask_ctx_t *ctx, cask_op_t op, cask_dtype_t out_t, int n,
                     cask_array_t *const *in, cask_array_t **out)
{
	int nd = 0;
	int64_t shape[CASK_MAX_DIMS];
	int rc = broadcast(ctx, n, in, &nd, shape);
	if (rc != 0)
		return rc;
	cask_array_t *r;
	rc = cask__array_new(ctx, op == CASK_NOPS ? N_WHERE : N_ELEM, out_t, nd, shape, n, in, &r);
	if (rc != 0)
		return rc;
	r->u.elem.op = op;
	broadcast_chunks(ctx, r, n, in);
	int weak = 1;
	for (int i = 0; i < n; i++)
		weak &= in[i]->weak;
	r->weak = weak;
	*out = r;
	return 0;
}

static int no_loop(cask_ctx_t *ctx, cask_op_t op, cask_dtype_t t)
{
	return cask__error(ctx, CASK_ETYPE, "%s is not supported for %s input", cask_op_name(op),
	                   cask_dtype_name(t));
}

int cask_unary(cask_ctx_t *ctx, cask_op_t op, cask_array_t *a, cask_array_t **out)
{
	int rc = CASK__CHECK_PTRS(ctx, ctx, a, out);
	if (rc != 0)
		return rc;
	if ((unsigned)op >= CASK_NOPS || cask_op_is_binary(op))
		return cask__error(ctx, CASK_EINVAL, "%s is not a unary operation", cask_op_name(op));
	cask_dtype_t t = a->dtype, kt = t, out_t;
	switch (op) {
	case CASK_NEG:
	case CASK_SIGN:
		if (t == CASK_BOOL)
			return no_loop(ctx, op, t);
		break;
	case CASK_ABS:
		break;
	case CASK_ISNAN:
	case CASK_ISINF:
	case CASK_ISFINITE:
		break;
	case CASK_INVERT:
		if (is_float(t))
			return no_loop(ctx, op, t);
		break;
	case CASK_LOGICAL_NOT:
		kt = CASK_BOOL;
		break;
	default: /* math functions, floor, ceil, rint */
		kt = math_type(t);
		break;
	}
	out_t = (op == CASK_ISNAN || op == CASK_ISINF || op == CASK_ISFINITE ||
	         op == CASK_LOGICAL_NOT) ? CASK_BOOL : kt;
	if (cask_k_unary(op, kt) == NULL)
		return no_loop(ctx, op, t);
	cask_array_t *c = NULL, *r = NULL;
	rc = cast_to(ctx, a, kt, &c);
	if (rc == 0)
		rc = elem_node(ctx, op, out_t, 1, &c, &r);
	cask_array_destroy(c);
	if (rc != 0)
		return rc;
	r->weak = a->weak && out_t != CASK_BOOL;
	*out = r;
	return 0;
}

int cask_binary(cask_ctx_t *ctx, cask_op_t op, cask_array_t *a, cask_array_t *b,
                cask_array_t **out)
{
	int rc = CASK__CHECK_PTRS(ctx, ctx, a, b, out);
	if (rc != 0)
		return rc;
	if ((unsigned)op >= CASK_NOPS || !cask_op_is_binary(op))
		return cask__error(ctx, CASK_EINVAL, "%s is not a binary operation", cask_op_name(op));
	cask_dtype_t T = promote2(a, b), kt = T, out_t;
	switch (op) {
	case CASK_SUB:
		if (T == CASK_BOOL)
			return cask__error(ctx, CASK_ETYPE, "subtract of two bool arrays is not supported (NumPy: use ^ or logical_xor)");
		break;
	case CASK_FLOORDIV:
	case CASK_MOD:
	case CASK_POW:
		if (T == CASK_BOOL)
			kt = CASK_INT8; /* NumPy's first matching loop for bool */
		break;
	case CASK_DIV:
		if (!is_float(T))
			kt = CASK_FLOAT64;
		break;
	case CASK_AND:
	case CASK_OR:
	case CASK_XOR:
		if (is_float(T))
			return no_loop(ctx, op, T);
		break;
	case CASK_LOGICAL_AND:
	case CASK_LOGICAL_OR:
	case CASK_LOGICAL_XOR:
		kt = CASK_BOOL;
		break;
	case CASK_ARCTAN2:
	case CASK_HYPOT:
		/* NumPy picks the first float loop both inputs cast to safely,
		 * not the float of their promoted type: int8 and uint16 give
		 * float32 (their int32 would give float64). */
		kt = a->weak == b->weak && !is_float(T)
		     ? cask_dtype_promote(math_type(a->dtype), math_type(b->dtype)) : math_type(T);
		break;
	default:
		break;
	}
	out_t = (op >= CASK_LT && op <= CASK_NE) ? CASK_BOOL : kt;
	if (cask_k_binary(op, kt) == NULL)
		return no_loop(ctx, op, kt);
	if (is_int(kt) && a->weak != b->weak) {
		const cask_array_t *w = a->weak ? a : b, *x = a->weak ? b : a;
		int neg, side;
		uint64_t mag;
		if (weak_int_value(w, &neg, &mag) && (side = int_vs_range(neg, mag, kt)) != 0) {
			if (op >= CASK_LT && op <= CASK_NE)
				return compare_beyond(ctx, op, x, w == a, side, out);
			return out_of_bounds(ctx, neg, mag, kt);
		}
	}
	if (op == CASK_POW && is_int(kt) && b->kind == N_FULL && cask__dtype_is_signed(b->dtype)) {
		/* NumPy's integer power loop raises for a negative exponent; a
		 * constant one is refused here, others by the evaluator. */
		int64_t e;
		cask_k_cast(1, b->dtype, b->u.full.bytes, 1, CASK_INT64, &e);
		if (e < 0)
			return cask__error(ctx, CASK_EINVAL,
			                   "Integers to negative integer powers are not allowed.");
	}
	cask_array_t *ca = NULL, *cb = NULL, *r = NULL;
	rc = cast_to(ctx, a, kt, &ca);
	if (rc == 0)
		rc = cast_to(ctx, b, kt, &cb);
	if (rc == 0) {
		cask_array_t *in[2] = {ca, cb};
		rc = elem_node(ctx, op, out_t, 2, in, &r);
	}
	cask_array_destroy(ca);
	cask_array_destroy(cb);
	if (rc != 0)
		return rc;
	*out = r;
	return 0;
}

int cask_where(cask_ctx_t *ctx, cask_array_t *cond, cask_array_t *a, cask_array_t *b,
               cask_array_t **out)
{
	int rc = CASK__CHECK_PTRS(ctx, ctx, cond, a, b, out);
	if (rc != 0)
		return rc;
	cask_dtype_t T = promote2(a, b);
	if (is_int(T) && a->weak != b->weak) {
		/* np.where converts a Python int to the other operand's dtype. */
		int neg;
		uint64_t mag;
		if (weak_int_value(a->weak ? a : b, &neg, &mag) && int_vs_range(neg, mag, T) != 0)
			return out_of_bounds(ctx, neg, mag, T);
	}
	cask_array_t *cc = NULL, *ca = NULL, *cb = NULL, *r = NULL;
	rc = cast_to(ctx, cond, CASK_BOOL, &cc);
	if (rc == 0)
		rc = cast_to(ctx, a, T, &ca);
	if (rc == 0)
		rc = cast_to(ctx, b, T, &cb);
	if (rc == 0) {
		cask_array_t *in[3] = {cc, ca, cb};
		rc = elem_node(ctx, CASK_NOPS, T, 3, in, &r);
		if (rc == 0)
			r->weak = a->weak && b->weak;
	}
	cask_array_destroy(cc);
	cask_array_destroy(ca);
	cask_array_destroy(cb);
	if (rc != 0)
		return rc;
	*out = r;
	return 0;
}

int cask_clip(cask_ctx_t *ctx, cask_array_t *x, cask_array_t *lo, cask_array_t *hi,
              cask_array_t **out)
{
	/* NumPy 2 (numpy/_core/_methods.py _clip): on an integer array, a
	 * Python int bound at or beyond the dtype's limit on its own side
	 * (min <= iinfo.min, max >= iinfo.max) is dropped; an out-of-range
	 * bound on the other side is the usual OverflowError. */
	int rc = CASK__CHECK_PTRS(ctx, ctx, x, out);
	if (rc != 0)
		return rc;
	if (!x->weak && is_int(x->dtype)) {
		int neg;
		uint64_t mag, lom, him;
		int_range(x->dtype, &lom, &him);
		if (lo != NULL && weak_int_value(lo, &neg, &mag) &&
		    (neg ? mag >= lom : (mag == 0 && lom == 0)))
			lo = NULL;
		if (hi != NULL && weak_int_value(hi, &neg, &mag) && !neg && mag >= him)
			hi = NULL;
	}
	cask_array_t *t = cask_array_retain(x), *u = NULL;
	if (lo != NULL) {
		rc = cask_binary(ctx, CASK_MAXIMUM, t, lo, &u);
		cask_array_destroy(t);
		t = u;
	}
	if (rc == 0 && hi != NULL) {
		rc = cask_binary(ctx, CASK_MINIMUM, t, hi, &u);
		cask_array_destroy(t);
		t = u;
	}
	if (rc != 0)
		return rc;
	*out = t;
	return 0;
}

/* ------------------------------------------------------------ reductions */

int cask_reduce(cask_ctx_t *ctx, cask_redop_t op, cask_array_t *a, int naxes,
                const int *axes, int keepdims, int ddof, cask_array_t **out)
{
	int rc = CASK__CHECK_PTRS(ctx, ctx, a, out);
	if (rc != 0)
		return rc;
	if ((unsigned)op >= CASK_NREDOPS)
		return cask__error(ctx, CASK_EINVAL, "unknown reduction %d", (int)op);
	if (naxes < 0)
		return cask__error(ctx, CASK_EINVAL, "cask_reduce: negative axis count %d", naxes);
	if (naxes > 0 && axes == NULL)
		return cask__error(ctx, CASK_EINVAL,
		                   "cask_reduce: NULL axes with naxes = %d (all axes: naxes 0)", naxes);
	uint32_t mask = 0;
	if (naxes == 0) {
		mask = a->ndim == 32 ? 0xffffffffu : ((1u << a->ndim) - 1);
		naxes = a->ndim;
	} else {
		for (int i = 0; i < naxes; i++) {
			int ax = axes[i];
			if (ax < -a->ndim || ax >= a->ndim)
				return cask__error(ctx, CASK_EINVAL,
				                   "axis %d is out of bounds for array of dimension %d", ax, a->ndim);
			if (ax < 0)
				ax += a->ndim;
			if (mask & (1u << ax))
				return cask__error(ctx, CASK_EINVAL, "duplicate value in 'axis'");
			mask |= 1u << ax;
		}
	}
	if ((op == CASK_ARGMIN || op == CASK_ARGMAX) && naxes > 1 && naxes != a->ndim)
		return cask__error(ctx, CASK_EINVAL, "%s takes one axis or all axes", cask_redop_name(op));
	int nd = 0;
	int64_t shape[CASK_MAX_DIMS], chunks[CASK_MAX_DIMS];
	for (int k = 0; k < a->ndim; k++) {
		if (mask & (1u << k)) {
			if (keepdims) {
				shape[nd] = 1;
				chunks[nd++] = 1;
			}
		} else {
			shape[nd] = a->shape[k];
			chunks[nd++] = a->chunks[k];
		}
	}
	/* argmin/argmax over all axes with keepdims: NumPy keeps every axis as 1 */
	cask_array_t *r;
	rc = cask__array_new(ctx, N_REDUCE, cask_k_red_result_dtype(op, a->dtype), nd, shape, 1,
	                         &a, &r);
	if (rc != 0)
		return rc;
	memcpy(r->chunks, chunks, sizeof(int64_t) * (size_t)nd);
	r->u.reduce.op = op;
	r->u.reduce.redmask = mask;
	r->u.reduce.keepdims = keepdims != 0;
	r->u.reduce.ddof = ddof;
	*out = r;
	return 0;
}

/* ------------------------------------------------------------ views */

/* Identity view map of a, or a's own map when a is a view. */
static void base_view(const cask_array_t *a, cask_array_t **src, cask__vaxis_t *ax,
                      int64_t *fixed)
{
	if (a->kind == N_VIEW) {
		*src = a->in[0];
		memcpy(ax, a->u.view.ax, sizeof(cask__vaxis_t) * (size_t)a->ndim);
		memcpy(fixed, a->u.view.fixed, sizeof(int64_t) * CASK_MAX_DIMS);
	} else {
		*src = (cask_array_t *)a;
		for (int k = 0; k < a->ndim; k++) {
			ax[k].src = k;
			ax[k].start = 0;
			ax[k].step = 1;
		}
		memset(fixed, 0, sizeof(int64_t) * CASK_MAX_DIMS);
	}
}

/* Make a view node over src with ndim axes ax (already composed). */
static int make_view(cask_ctx_t *ctx, cask_array_t *src, int ndim, const int64_t *shape,
                     const cask__vaxis_t *ax, const int64_t *fixed, cask_array_t **out)
{
	cask_array_t *r;
	int rc = cask__array_new(ctx, N_VIEW, src->dtype, ndim, shape, 1, &src, &r);
	if (rc != 0)
		return rc;
	memcpy(r->u.view.ax, ax, sizeof(cask__vaxis_t) * (size_t)ndim);
	memcpy(r->u.view.fixed, fixed, sizeof(int64_t) * CASK_MAX_DIMS);
	for (int k = 0; k < ndim; k++) {
		int64_t c = 1;
		if (ax[k].src >= 0) {
			int64_t st = ax[k].step < 0 ? -ax[k].step : ax[k].step;
			c = (src->chunks[ax[k].src] + st - 1) / st;
		}
		if (c < 1)
			c = 1;
		if (shape[k] > 0 && c > shape[k])
			c = shape[k];
		r->chunks[k] = c;
	}
	r->weak = src->weak && ndim == 0;
	*out = r;
	return 0;
}

/* Python slice bounds: count of elements and the first index. */
static int slice_bounds(cask_ctx_t *ctx, int64_t n, const cask_index_t *ix, int64_t *first,
                        int64_t *count)
{
	int64_t step = ix->step;
	if (step == 0)
		return cask__error(ctx, CASK_EINVAL, "slice step cannot be zero");
	int64_t start, stop;
	if (step > 0) {
		start = ix->has_start ? ix->start : 0;
		stop = ix->has_stop ? ix->stop : n;
		if (start < 0)
			start = start + n < 0 ? 0 : start + n;
		if (start > n)
			start = n;
		if (stop < 0)
			stop = stop + n < 0 ? 0 : stop + n;
		if (stop > n)
			stop = n;
		/* (stop - start - 1) / step + 1, not (stop - start + step - 1) /
		 * step, which overflows for a step near INT64_MAX. */
		*count = stop > start ? (stop - start - 1) / step + 1 : 0;
	} else {
		start = ix->has_start ? ix->start : n - 1;
		stop = ix->has_stop ? ix->stop : -1;
		if (ix->has_start && start < 0)
			start = start + n < 0 ? -1 : start + n;
		if (start > n - 1)
			start = n - 1;
		if (ix->has_stop) {
			if (stop < 0)
				stop = stop + n < 0 ? -1 : stop + n;
			if (stop > n - 1)
				stop = n - 1;
		}
		/* -step overflows for INT64_MIN: divide by its magnitude unsigned. */
		*count = start > stop
		         ? (int64_t)((uint64_t)(start - stop - 1) / (0 - (uint64_t)step)) + 1 : 0;
	}
	*first = start;
	return 0;
}

int cask_index(cask_ctx_t *ctx, cask_array_t *a, int nidx, const cask_index_t *idx,
               cask_array_t **out)
{
	int rc = CASK__CHECK_PTRS(ctx, ctx, a, out);
	if (rc != 0)
		return rc;
	if (nidx < 0)
		return cask__error(ctx, CASK_EINVAL, "cask_index: negative index count %d", nidx);
	if (nidx > 0 && idx == NULL)
		return cask__null_arg(ctx, __func__, "idx");
	int nreal = 0, nell = 0;
	for (int i = 0; i < nidx; i++) {
		if (idx[i].kind == CASK_INDEX_SLICE || idx[i].kind == CASK_INDEX_INT)
			nreal++;
		else if (idx[i].kind == CASK_INDEX_ELLIPSIS)
			nell++;
		else if (idx[i].kind != CASK_INDEX_NEWAXIS)
			return cask__error(ctx, CASK_EINVAL, "cask_index: idx[%d] has unknown kind %d",
			                   i, (int)idx[i].kind);
	}
	if (nell > 1)
		return cask__error(ctx, CASK_EINVAL, "an index can only have a single ellipsis ('...')");
	if (nreal > a->ndim)
		return cask__error(ctx, CASK_EINVAL,
		                   "too many indices for array: array is %d-dimensional, but %d were indexed",
		                   a->ndim, nreal);
	cask_array_t *src;
	cask__vaxis_t bax[CASK_MAX_DIMS], ax[CASK_MAX_DIMS];
	int64_t fixed[CASK_MAX_DIMS], shape[CASK_MAX_DIMS];
	base_view(a, &src, bax, fixed);
	int nd = 0, k = 0; /* k: axis of a */
	for (int i = 0; i <= nidx; i++) {
		int full = 0;
		if (i == nidx) {
			full = a->ndim - k; /* trailing axes */
		} else if (idx[i].kind == CASK_INDEX_ELLIPSIS) {
			full = a->ndim - k - (nreal - 0);
			/* nreal counts indices already consumed too: recompute remaining */
			int remaining = 0;
			for (int j = i + 1; j < nidx; j++)
				if (idx[j].kind == CASK_INDEX_SLICE || idx[j].kind == CASK_INDEX_INT)
					remaining++;
			full = a->ndim - k - remaining;
		}
		for (int f = 0; f < full; f++, k++) {
			if (nd >= CASK_MAX_DIMS)
				return cask__error(ctx, CASK_EINVAL, "index result has more than %d dimensions", CASK_MAX_DIMS);
			ax[nd] = bax[k];
			shape[nd++] = a->shape[k];
		}
		if (i == nidx || idx[i].kind == CASK_INDEX_ELLIPSIS)
			continue;
		if (nd >= CASK_MAX_DIMS && idx[i].kind != CASK_INDEX_INT)
			return cask__error(ctx, CASK_EINVAL, "index result has more than %d dimensions", CASK_MAX_DIMS);
		if (idx[i].kind == CASK_INDEX_NEWAXIS) {
			ax[nd].src = -1;
			ax[nd].start = 0;
			ax[nd].step = 1;
			shape[nd++] = 1;
		} else if (idx[i].kind == CASK_INDEX_INT) {
			int64_t j = idx[i].start, n = a->shape[k];
			if (j < -n || j >= n)
				return cask__error(ctx, CASK_EINVAL,
				                   "index %lld is out of bounds for axis %d with size %lld",
				                   (long long)j, k, (long long)n);
			if (j < 0)
				j += n;
			if (bax[k].src >= 0)
				fixed[bax[k].src] = bax[k].start + j * bax[k].step;
			k++;
		} else {
			int64_t first = 0, count = 0;
			rc = slice_bounds(ctx, a->shape[k], &idx[i], &first, &count);
			if (rc != 0)
				return rc;
			ax[nd] = bax[k];
			if (bax[k].src >= 0) {
				ax[nd].start = bax[k].start + (count > 0 ? first : 0) * bax[k].step;
				/* A step only moves between elements: with at most one
				 * left, keep the base step (a huge slice step times it
				 * would overflow, x[::2**62][::4]). */
				ax[nd].step = count > 1 ? bax[k].step * idx[i].step
				              : idx[i].step < 0 ? -bax[k].step : bax[k].step;
			}
			shape[nd++] = count;
			k++;
		}
	}
	return make_view(ctx, src, nd, shape, ax, fixed, out);
}

int cask_transpose(cask_ctx_t *ctx, cask_array_t *a, const int *perm, cask_array_t **out)
{
	int rc = CASK__CHECK_PTRS(ctx, ctx, a, out);
	if (rc != 0)
		return rc;
	int p[CASK_MAX_DIMS], seen[CASK_MAX_DIMS] = {0};
	for (int k = 0; k < a->ndim; k++) {
		int v = perm != NULL ? perm[k] : a->ndim - 1 - k;
		if (v < -a->ndim || v >= a->ndim)
			return cask__error(ctx, CASK_EINVAL, "axis %d is out of bounds for array of dimension %d", v, a->ndim);
		if (v < 0)
			v += a->ndim;
		if (seen[v]++)
			return cask__error(ctx, CASK_EINVAL, "repeated axis in transpose");
		p[k] = v;
	}
	cask_array_t *src;
	cask__vaxis_t bax[CASK_MAX_DIMS], ax[CASK_MAX_DIMS];
	int64_t fixed[CASK_MAX_DIMS], shape[CASK_MAX_DIMS];
	base_view(a, &src, bax, fixed);
	for (int k = 0; k < a->ndim; k++) {
		ax[k] = bax[p[k]];
		shape[k] = a->shape[p[k]];
	}
	cask_array_t *r;
	rc = make_view(ctx, src, a->ndim, shape, ax, fixed, &r);
	if (rc != 0)
		return rc;
	for (int k = 0; k < a->ndim; k++)
		r->chunks[k] = a->chunks[p[k]];
	*out = r;
	return 0;
}

int cask_reshape(cask_ctx_t *ctx, cask_array_t *a, int ndim, const int64_t *shape,
                 cask_array_t **out)
{
	int rc = CASK__CHECK_PTRS(ctx, ctx, a, out);
	if (rc != 0)
		return rc;
	if (ndim < 0 || ndim > CASK_MAX_DIMS)
		return cask__error(ctx, CASK_EINVAL, "rank %d is out of range", ndim);
	if (ndim > 0 && shape == NULL)
		return cask__null_arg(ctx, __func__, "shape");
	/* Only unit axes may be inserted or removed: the non-1 extents must be
	 * the same sequence. */
	int i = 0, j = 0;
	int64_t n = 1;
	for (int k = 0; k < ndim; k++) {
		if (shape[k] < 0)
			return cask__error(ctx, CASK_EINVAL, "negative extent in reshape");
		if (cask__mul_i64(n, shape[k], &n) != 0)
			return cask__error(ctx, CASK_EOVERFLOW, "reshape: the product of the extents overflows int64");
	}
	if (n != cask_array_size(a))
		return cask__error(ctx, CASK_ESHAPE, "cannot reshape array of size %lld into a shape of size %lld",
		                   (long long)cask_array_size(a), (long long)n);
	cask_index_t idx[2 * CASK_MAX_DIMS];
	int nidx = 0;
	while (i < a->ndim || j < ndim) {
		if (i < a->ndim && j < ndim && a->shape[i] == shape[j]) {
			idx[nidx++] = (cask_index_t){.kind = CASK_INDEX_SLICE, .step = 1};
			i++, j++;
		} else if (j < ndim && shape[j] == 1) {
			idx[nidx++] = (cask_index_t){.kind = CASK_INDEX_NEWAXIS};
			j++;
		} else if (i < a->ndim && a->shape[i] == 1) {
			idx[nidx++] = (cask_index_t){.kind = CASK_INDEX_INT, .start = 0};
			i++;
		} else {
			return cask__error(ctx, CASK_ENOTSUP,
			                   "reshape that regroups axes is not supported (only inserting or removing length-1 axes)");
		}
	}
	return cask_index(ctx, a, nidx, idx, out);
}

int cask_rechunk(cask_ctx_t *ctx, cask_array_t *a, const int64_t *chunks, cask_array_t **out)
{
	int rc = CASK__CHECK_PTRS(ctx, ctx, a, out);
	if (rc != 0)
		return rc;
	cask_array_t *src;
	cask__vaxis_t ax[CASK_MAX_DIMS];
	int64_t fixed[CASK_MAX_DIMS];
	base_view(a, &src, ax, fixed);
	cask_array_t *r;
	rc = make_view(ctx, src, a->ndim, a->shape, ax, fixed, &r);
	if (rc != 0)
		return rc;
	memcpy(r->chunks, a->chunks, sizeof r->chunks);
	if (chunks != NULL)
		set_chunks(ctx, r, chunks);
	*out = r;
	return 0;
}

int cask_concatenate(cask_ctx_t *ctx, int n, cask_array_t *const *arrays, int axis,
                     cask_array_t **out)
{
	int rc = CASK__CHECK_PTRS(ctx, ctx, out);
	if (rc == 0)
		rc = cask__check_arrays(ctx, __func__, "arrays", n, arrays);
	if (rc != 0)
		return rc;
	if (n < 1)
		return cask__error(ctx, CASK_EINVAL, "need at least one array to concatenate");
	int nd = arrays[0]->ndim;
	if (nd == 0)
		return cask__error(ctx, CASK_EINVAL, "zero-dimensional arrays cannot be concatenated");
	if (axis < -nd || axis >= nd)
		return cask__error(ctx, CASK_EINVAL, "axis %d is out of bounds for array of dimension %d", axis, nd);
	if (axis < 0)
		axis += nd;
	int64_t shape[CASK_MAX_DIMS];
	memcpy(shape, arrays[0]->shape, sizeof(int64_t) * (size_t)nd);
	shape[axis] = 0;
	cask_dtype_t T = arrays[0]->dtype;
	for (int i = 0; i < n; i++) {
		const cask_array_t *b = arrays[i];
		if (b->ndim != nd)
			return cask__error(ctx, CASK_ESHAPE,
			                   "all the input arrays must have same number of dimensions, but array 0 has %d and array %d has %d",
			                   nd, i, b->ndim);
		for (int k = 0; k < nd; k++)
			if (k != axis && b->shape[k] != arrays[0]->shape[k])
				return cask__error(ctx, CASK_ESHAPE,
				                   "all the input array dimensions except for the concatenation axis must match exactly, but along dimension %d, array 0 has size %lld and array %d has size %lld",
				                   k, (long long)arrays[0]->shape[k], i, (long long)b->shape[k]);
		if (__builtin_add_overflow(shape[axis], b->shape[axis], &shape[axis]))
			return cask__error(ctx, CASK_EOVERFLOW, "concatenated extent overflows");
		if (i > 0)
			T = cask_dtype_promote(T, b->dtype);
	}
	cask_array_t **cast = calloc((size_t)n, sizeof *cast);
	if (cast == NULL)
		return cask__error(ctx, CASK_ENOMEM, "out of memory");
	for (int i = 0; i < n && rc == 0; i++)
		rc = cast_to(ctx, arrays[i], T, &cast[i]);
	cask_array_t *r = NULL;
	if (rc == 0)
		rc = cask__array_new(ctx, N_CONCAT, T, nd, shape, n, cast, &r);
	for (int i = 0; i < n; i++)
		cask_array_destroy(cast[i]);
	free(cast);
	if (rc != 0)
		return rc;
	r->u.concat.axis = axis;
	memcpy(r->chunks, arrays[0]->chunks, sizeof r->chunks);
	if (shape[axis] > 0 && r->chunks[axis] > shape[axis])
		r->chunks[axis] = shape[axis];
	if (r->chunks[axis] < 1)
		r->chunks[axis] = 1;
	*out = r;
	return 0;
}

int cask_stack(cask_ctx_t *ctx, int n, cask_array_t *const *arrays, int axis,
               cask_array_t **out)
{
	int rc = CASK__CHECK_PTRS(ctx, ctx, out);
	if (rc == 0)
		rc = cask__check_arrays(ctx, __func__, "arrays", n, arrays);
	if (rc != 0)
		return rc;
	if (n < 1)
		return cask__error(ctx, CASK_EINVAL, "need at least one array to stack");
	int nd = arrays[0]->ndim + 1;
	if (axis < -nd || axis >= nd)
		return cask__error(ctx, CASK_EINVAL, "axis %d is out of bounds for array of dimension %d", axis, nd);
	if (axis < 0)
		axis += nd;
	for (int i = 1; i < n; i++) {
		if (arrays[i]->ndim != arrays[0]->ndim ||
		    memcmp(arrays[i]->shape, arrays[0]->shape, sizeof(int64_t) * (size_t)arrays[0]->ndim) != 0)
			return cask__error(ctx, CASK_ESHAPE, "all input arrays must have the same shape");
	}
	cask_array_t **ex = calloc((size_t)n, sizeof *ex);
	if (ex == NULL)
		return cask__error(ctx, CASK_ENOMEM, "out of memory");
	cask_index_t idx[2] = {{.kind = CASK_INDEX_ELLIPSIS}, {.kind = CASK_INDEX_NEWAXIS}};
	for (int i = 0; i < n && rc == 0; i++) {
		/* a[(slice(None),)*axis + (None,)] */
		cask_index_t ix[CASK_MAX_DIMS + 1];
		for (int k = 0; k < axis; k++)
			ix[k] = (cask_index_t){.kind = CASK_INDEX_SLICE, .step = 1};
		ix[axis] = idx[1];
		rc = cask_index(ctx, arrays[i], axis + 1, ix, &ex[i]);
	}
	if (rc == 0)
		rc = cask_concatenate(ctx, n, ex, axis, out);
	for (int i = 0; i < n; i++)
		cask_array_destroy(ex[i]);
	free(ex);
	return rc;
}
