/*
 * eval.c - evaluate a lazy array over a region of its index space.
 *
 * A region is start[k] + i*step[k], i < count[k] on every axis (step may be
 * negative).  Evaluation writes a C-contiguous buffer of the region.
 *
 *  - Leaves (HDF5, constants, generators, caller buffers, materialised
 *    reductions) produce the region directly (hyperslab reads with stride).
 *  - Views (slicing, integer indices, newaxis, transpose, rechunk) map the
 *    region onto their source; when the axis order is kept the source
 *    writes straight into the output, otherwise through one gather.
 *  - Elementwise subtrees (N_ELEM, N_CAST, N_WHERE) are FUSED: their leaves
 *    are evaluated once into region buffers, then a small register program
 *    runs over strips of STRIP elements, so intermediates never exceed a
 *    strip and no intermediate array exists (numexpr/Blosc2 style).
 *  - Concatenation evaluates each input's part of the region.
 *
 * Memory: all temporaries come from a bump arena over the task's scratch,
 * released in stack order.  The same code runs in "dry" mode (no data
 * touched) to compute the scratch a region needs before the task is
 * admitted; both modes make the same allocations in the same order.
 */
#include "eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#define STRIP 2048
#define MAX_PROG 256

struct cask__ev {
	cask_ctx_t *ctx;
	const cask__mats_t *mats;
	int dry;
	int pessimistic; /* dry: plan staging even where this region needs none */
	char *base;
	size_t used, peak, cap;
	/* chunks mapped for this evaluation (fused leaves), unmapped at its end */
	int nmaps;
	cask__map_t maps[8];
};
typedef struct cask__ev ev_t;

static void *arena_alloc(ev_t *e, size_t bytes)
{
	size_t b = (bytes + 63) & ~(size_t)63;
	if (b == 0)
		b = 64;
	if (!e->dry && e->used + b > e->cap)
		return NULL;
	void *p = e->dry ? (void *)(uintptr_t)64 : e->base + e->used;
	e->used += b;
	if (e->used > e->peak)
		e->peak = e->used;
	return p;
}

static int oom(ev_t *e, size_t bytes)
{
	return cask__error(e->ctx, CASK_EINTERNAL,
	                   "task scratch exhausted (needed %zu more bytes): evaluation plan and run disagree",
	                   bytes);
}

static int64_t region_size(int nd, const int64_t *count)
{
	int64_t n = 1;
	for (int k = 0; k < nd; k++)
		n *= count[k];
	return n;
}

static void c_strides(int nd, const int64_t *count, int64_t *s)
{
	int64_t acc = 1;
	for (int k = nd - 1; k >= 0; k--) {
		s[k] = acc;
		acc *= count[k];
	}
}

static int eval(ev_t *e, cask_array_t *a, const int64_t *start, const int64_t *count,
                const int64_t *step, void *out);

/* ------------------------------------------------------------ leaves */

/* Whole stored chunks through cask__io_read_chunk: raw bytes under the HDF5
 * lock, filters decoded on this thread.  Used for filtered datasets (HDF5
 * would decompress whole chunks anyway, but serially) and for regions made
 * of whole chunks.  A region that is exactly one interior chunk lands in out
 * without a copy.  The staging (codec scratch, one chunk) is released before
 * returning, in both modes: the exact plan of a full-size region is used for
 * every full-size region of the stage, and a region that is chunk-aligned
 * where the planned one was not takes this path unplanned.  Its staging must
 * then either fit the slack or fall back to a hyperslab read, and never move
 * what the caller allocates next past the plan. */
static int eval_h5_chunks(ev_t *e, cask_array_t *a, const int64_t *start, const int64_t *count,
                          void *out)
{
	const cask__h5meta_t *m = &a->u.h5.meta;
	int nd = a->ndim;
	size_t es = cask_dtype_size(a->dtype);
	int single = 1;
	for (int k = 0; k < nd; k++)
		single &= start[k] % m->chunks[k] == 0 && count[k] == m->chunks[k];
	size_t sb = cask__io_chunk_scratch_bytes(a->u.h5.h);
	size_t mark = e->used;
	void *scr = sb > 0 ? arena_alloc(e, sb) : NULL;
	if (e->pessimistic)
		single = 0;
	void *tmp = single ? out : arena_alloc(e, m->chunk_bytes);
	if (e->dry) {
		e->used = mark;
		return 0;
	}
	if ((sb > 0 && scr == NULL) || (!single && tmp == NULL)) {
		/* The task's plan came from another region of the grid that did not
		 * need this staging (e.g. a concatenation misaligned with the stored
		 * chunks): read the hyperslab through HDF5 instead, within budget. */
		e->used = mark;
		int64_t st[CASK_MAX_DIMS];
		for (int k = 0; k < nd; k++)
			st[k] = 1;
		return cask__io_read(e->ctx, a->u.h5.h, start, count, st, out);
	}
	int64_t c0[CASK_MAX_DIMS], c1[CASK_MAX_DIMS], ci[CASK_MAX_DIMS];
	int64_t cs[CASK_MAX_DIMS], os[CASK_MAX_DIMS];
	c_strides(nd, m->chunks, cs);
	c_strides(nd, count, os);
	for (int k = 0; k < nd; k++) {
		c0[k] = start[k] / m->chunks[k];
		c1[k] = (start[k] + count[k] - 1) / m->chunks[k];
		ci[k] = c0[k];
	}
	for (;;) {
		int64_t cst[CASK_MAX_DIMS], lo[CASK_MAX_DIMS], cnt[CASK_MAX_DIMS];
		const char *src = tmp;
		char *dst = out;
		for (int k = 0; k < nd; k++) {
			cst[k] = ci[k] * m->chunks[k];
			lo[k] = cst[k] > start[k] ? cst[k] : start[k];
			int64_t hi = cst[k] + m->chunks[k];
			if (hi > start[k] + count[k])
				hi = start[k] + count[k];
			cnt[k] = hi - lo[k];
			src += (lo[k] - cst[k]) * cs[k] * (int64_t)es;
			dst += (lo[k] - start[k]) * os[k] * (int64_t)es;
		}
		int64_t off[CASK_MAX_DIMS];
		for (int k = 0; k < nd; k++)
			off[k] = lo[k] - cst[k];
		/* A part of a chunk in the decoded-chunk cache: copied from there
		 * (TSQR's leaves cut filtered chunks in tenths). */
		if (!single && cask__io_cache_copy(a->u.h5.h, cst, off, cnt, dst, os))
			goto next;
		int rc = cask__io_read_chunk(e->ctx, a->u.h5.h, cst, tmp, scr, sb);
		if (rc != 0 || single) {
			e->used = mark;
			return rc;
		}
		cask_k_copy_nd(nd, cnt, es, src, cs, dst, os);
	next:;
		int k = nd - 1;
		for (; k >= 0; k--) {
			if (++ci[k] <= c1[k])
				break;
			ci[k] = c0[k];
		}
		if (k < 0)
			break;
	}
	e->used = mark;
	return 0;
}

static int eval_h5(ev_t *e, cask_array_t *a, const int64_t *start, const int64_t *count,
                   const int64_t *step, void *out)
{
	int nd = a->ndim;
	const cask__h5meta_t *m = &a->u.h5.meta;
	if (m->chunked && nd > 0 && region_size(nd, count) > 0 &&
	    cask__io_chunk_direct_ok(a->u.h5.h)) {
		int unit = 1, aligned = 1;
		for (int k = 0; k < nd; k++) {
			unit &= step[k] == 1;
			aligned &= start[k] % m->chunks[k] == 0 &&
			           ((start[k] + count[k]) % m->chunks[k] == 0 ||
			            start[k] + count[k] == a->shape[k]);
		}
		/* A pessimistic plan takes the chunk path for every unit-step
		 * region: a region of another task may be chunk-aligned when the
		 * planned one is not (halo regions of overlap.c, views), and the
		 * plan must bound it.  An exact plan (of every region a caller
		 * runs, as TSQR's leaves) takes the path the run will take. */
		int big = cask__io_chunks_in_parts(m, e->ctx->budget);
		if (unit && !big && (aligned || m->filtered || e->pessimistic))
			return eval_h5_chunks(e, a, start, count, out);
	}
	int64_t lo[CASK_MAX_DIMS], st[CASK_MAX_DIMS];
	int neg = 0;
	for (int k = 0; k < nd; k++) {
		if (step[k] < 0) {
			neg = 1;
			lo[k] = start[k] + (count[k] - 1) * step[k];
			st[k] = -step[k];
		} else {
			lo[k] = start[k];
			st[k] = step[k];
		}
	}
	size_t es = cask_dtype_size(a->dtype);
	int64_t n = region_size(nd, count);
	void *dst = out;
	size_t mark = e->used; /* the reversed copy is dead once gathered */
	if (neg) {
		dst = arena_alloc(e, (size_t)n * es);
		if (dst == NULL)
			return oom(e, (size_t)n * es);
	}
	int rc = 0;
	if (e->dry || n == 0)
		goto out;
	rc = cask__io_read(e->ctx, a->u.h5.h, lo, count, st, dst);
	if (rc != 0)
		goto out;
	if (neg) {
		/* reverse the axes read backwards */
		int64_t cs[CASK_MAX_DIMS], ss[CASK_MAX_DIMS];
		c_strides(nd, count, cs);
		const char *src = dst;
		for (int k = 0; k < nd; k++) {
			ss[k] = step[k] < 0 ? -cs[k] : cs[k];
			if (step[k] < 0)
				src += (count[k] - 1) * cs[k] * (int64_t)es;
		}
		cask_k_gather(nd, count, es, src, ss, out);
	}
out:
	e->used = mark;
	return rc;
}

static void fill_const(void *out, int64_t n, size_t es, const uint8_t *v)
{
	int zero = 1;
	for (size_t i = 0; i < es; i++)
		zero &= v[i] == 0;
	if (zero) {
		memset(out, 0, (size_t)n * es);
		return;
	}
	switch (es) {
	case 1: memset(out, v[0], (size_t)n); break;
	case 2: { uint16_t x; memcpy(&x, v, 2); for (int64_t i = 0; i < n; i++) ((uint16_t *)out)[i] = x; } break;
	case 4: { uint32_t x; memcpy(&x, v, 4); for (int64_t i = 0; i < n; i++) ((uint32_t *)out)[i] = x; } break;
	default: { uint64_t x; memcpy(&x, v, 8); for (int64_t i = 0; i < n; i++) ((uint64_t *)out)[i] = x; } break;
	}
}

/* Iterate the rows of a region: calls fn(row flat-index of the first
 * element in the full array, stride of the last axis in the full array,
 * row length, output pointer). */
typedef void (*row_fn)(const cask_array_t *a, int64_t flat0, int64_t fstep, int64_t n,
                       void *out);

static void for_rows(const cask_array_t *a, const int64_t *start, const int64_t *count,
                     const int64_t *step, void *out, row_fn fn)
{
	int nd = a->ndim;
	size_t es = cask_dtype_size(a->dtype);
	int64_t fs[CASK_MAX_DIMS];
	c_strides(nd, a->shape, fs);
	if (nd == 0) {
		fn(a, 0, 1, 1, out);
		return;
	}
	if (region_size(nd, count) == 0)
		return;
	int64_t idx[CASK_MAX_DIMS] = {0};
	int64_t n = count[nd - 1];
	char *o = out;
	for (;;) {
		int64_t flat = 0;
		for (int k = 0; k < nd; k++)
			flat += (start[k] + idx[k] * step[k]) * fs[k];
		fn(a, flat, step[nd - 1] * fs[nd - 1], n, o);
		o += n * (int64_t)es;
		int k = nd - 2;
		for (; k >= 0; k--) {
			if (++idx[k] < count[k])
				break;
			idx[k] = 0;
		}
		if (k < 0)
			break;
	}
}

static void indices_row(const cask_array_t *a, int64_t flat0, int64_t fstep, int64_t n,
                        void *out)
{
	double st = a->u.indices.start, sp = a->u.indices.step;
	size_t es = cask_dtype_size(a->dtype);
	int integral = st == floor(st) && sp == floor(sp) && fabs(st) < 9e15 && fabs(sp) < 9e15 &&
	               !cask__dtype_is_float(a->dtype);
	char *o = out;
	for (int64_t i0 = 0; i0 < n; i0 += 1024) {
		int64_t m = n - i0 < 1024 ? n - i0 : 1024;
		if (integral) {
			int64_t v[1024];
			for (int64_t i = 0; i < m; i++)
				v[i] = (int64_t)st + (flat0 + (i0 + i) * fstep) * (int64_t)sp;
			cask_k_cast(m, CASK_INT64, v, 1, a->dtype, o + i0 * (int64_t)es);
		} else {
			double v[1024];
			for (int64_t i = 0; i < m; i++)
				v[i] = st + (double)(flat0 + (i0 + i) * fstep) * sp;
			cask_k_cast(m, CASK_FLOAT64, v, 1, a->dtype, o + i0 * (int64_t)es);
		}
	}
}

static void random_row(const cask_array_t *a, int64_t flat0, int64_t fstep, int64_t n,
                       void *out)
{
	uint64_t seed = a->u.random.seed;
	int normal = a->u.random.kind == CASK_RANDOM_NORMAL;
	if (a->dtype == CASK_FLOAT64) {
		double *o = out;
		if (fstep == 1) {
			(normal ? cask_k_random_normal_f64 : cask_k_random_uniform_f64)(n, seed, flat0, o);
		} else {
			for (int64_t i = 0; i < n; i++)
				(normal ? cask_k_random_normal_f64 : cask_k_random_uniform_f64)(1, seed, flat0 + i * fstep, o + i);
		}
	} else {
		float *o = out;
		if (fstep == 1) {
			(normal ? cask_k_random_normal_f32 : cask_k_random_uniform_f32)(n, seed, flat0, o);
		} else {
			for (int64_t i = 0; i < n; i++)
				(normal ? cask_k_random_normal_f32 : cask_k_random_uniform_f32)(1, seed, flat0 + i * fstep, o + i);
		}
	}
}

/* A region of a buffer holding the whole array (caller buffer or a
 * materialised reduction). */
static void eval_mem(const cask_array_t *a, const void *data, const int64_t *start,
                     const int64_t *count, const int64_t *step, void *out)
{
	int nd = a->ndim;
	size_t es = cask_dtype_size(a->dtype);
	int64_t fs[CASK_MAX_DIMS], ss[CASK_MAX_DIMS];
	c_strides(nd, a->shape, fs);
	const char *src = data;
	for (int k = 0; k < nd; k++) {
		src += start[k] * fs[k] * (int64_t)es;
		ss[k] = step[k] * fs[k];
	}
	if (region_size(nd, count) > 0)
		cask_k_gather(nd, count, es, src, ss, out);
}

static const void *find_mat(ev_t *e, const cask_array_t *a)
{
	if (e->mats == NULL)
		return NULL;
	for (int i = 0; i < e->mats->n; i++)
		if (e->mats->nodes[i] == a)
			return e->mats->data[i];
	return NULL;
}

/* ------------------------------------------------------------ views */

static int eval_view(ev_t *e, cask_array_t *a, const int64_t *start, const int64_t *count,
                     const int64_t *step, void *out)
{
	cask_array_t *s = a->in[0];
	int64_t ss[CASK_MAX_DIMS], sc[CASK_MAX_DIMS], sp[CASK_MAX_DIMS];
	for (int j = 0; j < s->ndim; j++) {
		ss[j] = a->u.view.fixed[j];
		sc[j] = 1;
		sp[j] = 1;
	}
	int ordered = 1, last = -1;
	for (int k = 0; k < a->ndim; k++) {
		const cask__vaxis_t *v = &a->u.view.ax[k];
		if (v->src < 0)
			continue;
		ss[v->src] = v->start + start[k] * v->step;
		sc[v->src] = count[k];
		sp[v->src] = step[k] * v->step;
		if (v->src < last)
			ordered = 0;
		last = v->src;
	}
	if (region_size(a->ndim, count) == 0) {
		return 0;
	}
	if (ordered)
		return eval(e, s, ss, sc, sp, out);
	size_t es = cask_dtype_size(a->dtype);
	int64_t n = region_size(s->ndim, sc);
	size_t used = e->used;
	void *tmp = arena_alloc(e, (size_t)n * es);
	if (tmp == NULL)
		return oom(e, (size_t)n * es);
	int rc = eval(e, s, ss, sc, sp, tmp);
	if (rc == 0 && !e->dry) {
		int64_t cs[CASK_MAX_DIMS], gs[CASK_MAX_DIMS];
		c_strides(s->ndim, sc, cs);
		for (int k = 0; k < a->ndim; k++) {
			int src = a->u.view.ax[k].src;
			gs[k] = src >= 0 ? cs[src] : 0;
		}
		cask_k_gather(a->ndim, count, es, tmp, gs, out);
	}
	e->used = used;
	return rc;
}

/* ------------------------------------------------------------ concatenate */

/* Dry mode: the part of operand j (n cells along the axis) that a region of
 * count cells with this step can cover at most, as start *bs and count *bc
 * along the axis.  Every operand is planned, whether the planned region
 * meets it or not: the plan of one region is used for every region of the
 * stage (of the same or smaller size), and another region may fall in
 * another operand, e.g. in a computed one when the planned region lies in a
 * stored one.  The part keeps the region's own start when it meets the
 * operand (so an exact plan still sees the chunk alignment the run will
 * see), moved only as far as needed to fit the larger count. */
static void concat_worst_part(int64_t n, int64_t count, int64_t step, int meets, int64_t *bs,
                              int64_t *bc)
{
	int64_t as = step < 0 ? -step : step;
	int64_t fit = (n - 1) / as + 1; /* cells of the step in n: ceil(n / as) */
	int64_t c = count < fit ? count : fit;
	int64_t s = meets ? *bs : (step > 0 ? 0 : n - 1);
	if (step > 0 && s + (c - 1) * step > n - 1)
		s = n - 1 - (c - 1) * step;
	if (step < 0 && s - (c - 1) * as < 0)
		s = (c - 1) * as;
	*bs = s;
	*bc = c;
}

static int eval_concat(ev_t *e, cask_array_t *a, const int64_t *start, const int64_t *count,
                       const int64_t *step, void *out)
{
	int ax = a->u.concat.axis, nd = a->ndim;
	size_t es = cask_dtype_size(a->dtype);
	int64_t os[CASK_MAX_DIMS];
	c_strides(nd, count, os);
	int contiguous = 1;
	for (int k = 0; k < ax; k++)
		contiguous &= count[k] == 1;
	int64_t off = 0;
	for (int j = 0; j < a->nin; j++) {
		cask_array_t *b = a->in[j];
		int64_t n = b->shape[ax];
		/* i range with off <= start + i*step < off + n */
		int64_t i0 = -1, i1 = -1;
		for (int64_t i = 0; i < count[ax]; i++) {
			int64_t p = start[ax] + i * step[ax];
			if (p >= off && p < off + n) {
				if (i0 < 0)
					i0 = i;
				i1 = i + 1;
			}
		}
		int64_t bs[CASK_MAX_DIMS], bc[CASK_MAX_DIMS];
		memcpy(bs, start, sizeof(int64_t) * (size_t)nd);
		memcpy(bc, count, sizeof(int64_t) * (size_t)nd);
		if (i0 >= 0) {
			bs[ax] = start[ax] + i0 * step[ax] - off;
			bc[ax] = i1 - i0;
		}
		if (e->dry && n > 0 && count[ax] > 0)
			concat_worst_part(n, count[ax], step[ax], i0 >= 0, &bs[ax], &bc[ax]);
		if (i0 >= 0 || (e->dry && n > 0 && count[ax] > 0)) {
			char *dst = i0 >= 0 ? (char *)out + i0 * os[ax] * (int64_t)es : NULL;
			int rc;
			if (contiguous) {
				rc = eval(e, b, bs, bc, step, e->dry ? out : dst);
			} else {
				size_t used = e->used;
				int64_t m = region_size(nd, bc);
				void *tmp = arena_alloc(e, (size_t)m * es);
				if (tmp == NULL)
					return oom(e, (size_t)m * es);
				rc = eval(e, b, bs, bc, step, tmp);
				if (rc == 0 && !e->dry) {
					int64_t ts[CASK_MAX_DIMS];
					c_strides(nd, bc, ts);
					cask_k_copy_nd(nd, bc, es, tmp, ts, dst, os);
				}
				e->used = used;
			}
			if (rc != 0)
				return rc;
		}
		off += n;
	}
	return 0;
}

/* ------------------------------------------------------------ fused program */

typedef struct {
	cask_array_t *node;
	int leaf;            /* 1: a leaf operand; 0: an instruction */
	int nops;
	int ops[3];          /* operand slots */
	/* leaf data */
	const char *base;
	int64_t stride[CASK_MAX_DIMS]; /* element strides in the iteration space */
	int is_const;
	/* instruction data */
	void *reg;           /* register (STRIP elements) or NULL for roots */
	int root;            /* index of the root it writes, or -1 */
	cask_k_unary_fn un;
	cask_k_binary_fn bin;
	int check_exp;       /* integer POW: refuse negative exponents (NumPy raises) */
	/* per strip */
	const char *ptr;
	int64_t sstride;
} slot_t;

typedef struct {
	int n;
	slot_t s[MAX_PROG];
} prog_t;

static int fusable(const cask_array_t *a)
{
	return a->kind == N_ELEM || a->kind == N_CAST || a->kind == N_WHERE;
}

static int prog_find(const prog_t *p, const cask_array_t *a)
{
	for (int i = 0; i < p->n; i++)
		if (p->s[i].node == a)
			return i;
	return -1;
}

/* Add a (and its fused inputs) to p in post-order; returns the slot or < 0. */
static int prog_add(ev_t *e, prog_t *p, cask_array_t *a, int depth)
{
	int i = prog_find(p, a);
	if (i >= 0)
		return i;
	if (depth > 10000)
		return cask__error(e->ctx, CASK_EINVAL, "expression nested too deeply");
	int ops[3] = {0};
	int leaf = !fusable(a);
	if (!leaf) {
		for (int j = 0; j < a->nin; j++) {
			ops[j] = prog_add(e, p, a->in[j], depth + 1);
			if (ops[j] < 0)
				return ops[j];
		}
	}
	if (p->n >= MAX_PROG)
		return cask__error(e->ctx, CASK_ENOTSUP,
		                   "expression has more than %d fused operations; split it", MAX_PROG);
	slot_t *s = &p->s[p->n];
	memset(s, 0, sizeof *s);
	s->node = a;
	s->leaf = leaf;
	s->root = -1;
	s->nops = leaf ? 0 : a->nin;
	memcpy(s->ops, ops, sizeof ops);
	return p->n++;
}

static int run_fused(ev_t *e, prog_t *p, int nroots, cask_array_t *const *roots,
                     const int64_t *start, const int64_t *count, const int64_t *step,
                     void *const *outs);

/* Evaluate the fused DAG of roots over the region. */
static int eval_fused(ev_t *e, int nroots, cask_array_t *const *roots, const int64_t *start,
                      const int64_t *count, const int64_t *step, void *const *outs)
{
	/* The program is small bookkeeping (not array data): plain malloc. */
	prog_t *p = malloc(sizeof *p);
	if (p == NULL)
		return cask__error(e->ctx, CASK_ENOMEM, "out of memory");
	p->n = 0;
	int rc = run_fused(e, p, nroots, roots, start, count, step, outs);
	free(p);
	return rc;
}

static int run_fused(ev_t *e, prog_t *p, int nroots, cask_array_t *const *roots,
                     const int64_t *start, const int64_t *count, const int64_t *step,
                     void *const *outs)
{
	int rootslot[64];
	for (int r = 0; r < nroots; r++) {
		int i = prog_add(e, p, roots[r], 0);
		if (i < 0)
			return i;
		rootslot[r] = i;
	}
	for (int r = 0; r < nroots; r++)
		if (p->s[rootslot[r]].root < 0)
			p->s[rootslot[r]].root = r;
	int nd = roots[0]->ndim;
	const int64_t *rshape = roots[0]->shape;
	/* leaves: evaluate their broadcast region */
	for (int i = 0; i < p->n; i++) {
		slot_t *s = &p->s[i];
		if (!s->leaf)
			continue;
		cask_array_t *l = s->node;
		int off = nd - l->ndim;
		for (int k = 0; k < off; k++)
			s->stride[k] = 0;
		if (l->kind == N_FULL) {
			s->is_const = 1;
			s->base = (const char *)l->u.full.bytes;
			for (int k = off; k < nd; k++)
				s->stride[k] = 0;
			continue;
		}
		int64_t ls[CASK_MAX_DIMS], lc[CASK_MAX_DIMS], lp[CASK_MAX_DIMS], cs[CASK_MAX_DIMS];
		for (int k = 0; k < l->ndim; k++) {
			int bc = l->shape[k] == 1 && rshape[off + k] != 1;
			ls[k] = bc ? 0 : start[off + k];
			lc[k] = bc ? 1 : count[off + k];
			lp[k] = bc ? 1 : step[off + k];
		}
		c_strides(l->ndim, lc, cs);
		for (int k = 0; k < l->ndim; k++)
			s->stride[off + k] = (l->shape[k] == 1 && rshape[off + k] != 1) ? 0 : cs[k];
		size_t bytes = (size_t)region_size(l->ndim, lc) * cask_dtype_size(l->dtype);
		void *buf = arena_alloc(e, bytes);
		if (buf == NULL)
			return oom(e, bytes);
		/* A whole stored chunk is used in place when it can be mapped (the
		 * buffer stays planned, so the plan does not depend on it). */
		int unit = 1;
		for (int k = 0; k < l->ndim; k++)
			unit &= lp[k] == 1;
		if (!e->dry && l->kind == N_H5 && unit && e->nmaps < 8) {
			const void *ptr;
			int rc = cask__eval_map(e->ctx, l, ls, lc, &ptr, &e->maps[e->nmaps]);
			if (rc < 0)
				return rc;
			if (rc == 1) {
				e->nmaps++;
				s->base = ptr;
				continue;
			}
		}
		int rc = eval(e, l, ls, lc, lp, buf);
		if (rc != 0)
			return rc;
		s->base = buf;
	}
	/* registers and kernels */
	for (int i = 0; i < p->n; i++) {
		slot_t *s = &p->s[i];
		if (s->leaf)
			continue;
		if (s->root < 0) {
			s->reg = arena_alloc(e, STRIP * 8);
			if (s->reg == NULL)
				return oom(e, STRIP * 8);
		}
		cask_array_t *a = s->node;
		if (a->kind == N_ELEM) {
			if (cask_op_is_binary(a->u.elem.op))
				s->bin = cask_k_binary(a->u.elem.op, a->in[0]->dtype);
			else
				s->un = cask_k_unary(a->u.elem.op, a->in[0]->dtype);
			s->check_exp = a->u.elem.op == CASK_POW &&
			               cask__dtype_is_signed(a->in[1]->dtype);
			if (s->bin == NULL && s->un == NULL)
				return cask__error(e->ctx, CASK_EINTERNAL, "no kernel for %s on %s",
				                   cask_op_name(a->u.elem.op), cask_dtype_name(a->in[0]->dtype));
		}
	}
	if (e->dry)
		return 0;
	int64_t total = region_size(nd, count);
	if (total == 0)
		return 0;
	/* Collapse trailing axes where every leaf is contiguous-compatible. */
	int64_t cnt[CASK_MAX_DIMS];
	memcpy(cnt, count, sizeof(int64_t) * (size_t)nd);
	int m = nd; /* iteration rank */
	while (m >= 2) {
		int ok = 1;
		for (int i = 0; i < p->n && ok; i++) {
			slot_t *s = &p->s[i];
			if (s->leaf && s->stride[m - 2] != s->stride[m - 1] * cnt[m - 1])
				ok = 0;
		}
		if (!ok)
			break;
		cnt[m - 2] *= cnt[m - 1];
		for (int i = 0; i < p->n; i++)
			if (p->s[i].leaf)
				p->s[i].stride[m - 2] = p->s[i].stride[m - 1];
		m--;
	}
	if (m == 0) {
		cnt[0] = 1;
		m = 1;
		for (int i = 0; i < p->n; i++)
			p->s[i].stride[0] = 0;
	}
	int64_t idx[CASK_MAX_DIMS] = {0};
	int64_t rowlen = cnt[m - 1];
	int64_t outoff = 0;
	for (;;) {
		/* leaf offsets of this row */
		int64_t loff[MAX_PROG];
		for (int i = 0; i < p->n; i++) {
			slot_t *s = &p->s[i];
			if (!s->leaf)
				continue;
			int64_t o = 0;
			for (int k = 0; k < m - 1; k++)
				o += idx[k] * s->stride[k];
			loff[i] = o;
		}
		for (int64_t j = 0; j < rowlen; j += STRIP) {
			int64_t n = rowlen - j < STRIP ? rowlen - j : STRIP;
			for (int i = 0; i < p->n; i++) {
				slot_t *s = &p->s[i];
				cask_array_t *a = s->node;
				size_t es = cask_dtype_size(a->dtype);
				if (s->leaf) {
					int64_t ls = s->stride[m - 1];
					s->ptr = s->base + (loff[i] + j * ls) * (int64_t)es;
					s->sstride = ls;
					continue;
				}
				char *dst = s->root >= 0 ? (char *)outs[s->root] + (outoff + j) * (int64_t)es
				                         : (char *)s->reg;
				const slot_t *o0 = &p->s[s->ops[0]];
				if (a->kind == N_CAST) {
					cask_k_cast(n, o0->node->dtype, o0->ptr, o0->sstride, a->dtype, dst);
				} else if (a->kind == N_WHERE) {
					const slot_t *o1 = &p->s[s->ops[1]], *o2 = &p->s[s->ops[2]];
					cask_k_where(n, es, (const uint8_t *)o0->ptr, o0->sstride, o1->ptr,
					             o1->sstride, o2->ptr, o2->sstride, dst);
				} else if (s->bin != NULL) {
					const slot_t *o1 = &p->s[s->ops[1]];
					if (s->check_exp &&
					    cask_k_any_negative(n, o1->node->dtype, o1->ptr, o1->sstride))
						return cask__error(e->ctx, CASK_EINVAL, "Integers to negative "
						                   "integer powers are not allowed.");
					s->bin(n, o0->ptr, o0->sstride, o1->ptr, o1->sstride, dst);
				} else {
					s->un(n, o0->ptr, o0->sstride, dst);
				}
				s->ptr = dst;
				s->sstride = 1;
			}
		}
		/* roots that are the same node as another root */
		outoff += rowlen;
		int k = m - 2;
		for (; k >= 0; k--) {
			if (++idx[k] < cnt[k])
				break;
			idx[k] = 0;
		}
		if (k < 0)
			break;
	}
	/* duplicate roots (same node twice) only got written once */
	for (int r = 0; r < nroots; r++) {
		int sl = rootslot[r];
		if (p->s[sl].root != r)
			memcpy(outs[r], outs[p->s[sl].root], (size_t)total * cask_dtype_size(roots[r]->dtype));
	}
	return 0;
}

/* ------------------------------------------------------------ dispatcher */

static int eval(ev_t *e, cask_array_t *a, const int64_t *start, const int64_t *count,
                const int64_t *step, void *out)
{
	size_t es = cask_dtype_size(a->dtype);
	int64_t n = region_size(a->ndim, count);
	switch (a->kind) {
	case N_H5:
		return eval_h5(e, a, start, count, step, out);
	case N_FULL:
		if (!e->dry)
			fill_const(out, n, es, a->u.full.bytes);
		return 0;
	case N_INDICES:
		if (!e->dry)
			for_rows(a, start, count, step, out, indices_row);
		return 0;
	case N_RANDOM:
		if (!e->dry)
			for_rows(a, start, count, step, out, random_row);
		return 0;
	case N_BUFFER:
		if (!e->dry)
			eval_mem(a, a->u.buffer.data, start, count, step, out);
		return 0;
	case N_REDUCE: {
		if (e->mats != NULL)
			for (int i = 0; i < e->mats->nspill; i++)
				if (e->mats->spill_nodes[i] == a)
					return eval(e, e->mats->spill_arrays[i], start, count, step, out);
		if (e->dry)
			return 0;
		const void *d = find_mat(e, a);
		if (d == NULL)
			return cask__error(e->ctx, CASK_EINTERNAL, "reduction %s was not materialised",
			                   cask_redop_name(a->u.reduce.op));
		eval_mem(a, d, start, count, step, out);
		return 0;
	}
	case N_VIEW:
		return eval_view(e, a, start, count, step, out);
	case N_CONCAT:
		return eval_concat(e, a, start, count, step, out);
	case N_MAP: {
		size_t used = e->used;
		int rc = a->u.map.ops->eval(e, a, start, count, step, out);
		e->used = used;
		return rc;
	}
	case N_ELEM:
	case N_CAST:
	case N_WHERE: {
		size_t used = e->used;
		void *outs[1] = {out};
		int rc = eval_fused(e, 1, &a, start, count, step, outs);
		e->used = used;
		return rc;
	}
	}
	return cask__error(e->ctx, CASK_EINTERNAL, "unknown node kind %d", (int)a->kind);
}

static int eval_all(ev_t *e, int n, cask_array_t *const *roots, const int64_t *start,
                    const int64_t *count, void *const *outs)
{
	int64_t step[CASK_MAX_DIMS];
	for (int k = 0; k < CASK_MAX_DIMS; k++)
		step[k] = 1;
	/* Fused roots share one program; the others are evaluated one by one. */
	cask_array_t *fused[64];
	void *fouts[64];
	int nf = 0;
	for (int r = 0; r < n; r++) {
		if (fusable(roots[r]) && nf < 64) {
			fused[nf] = roots[r];
			fouts[nf++] = outs[r];
		} else {
			int rc = eval(e, roots[r], start, count, step, outs[r]);
			if (rc != 0)
				return rc;
		}
	}
	if (nf > 0)
		return eval_fused(e, nf, fused, start, count, step, fouts);
	return 0;
}

int cask__eval_plan(cask_ctx_t *ctx, const cask__mats_t *mats, int n, cask_array_t *const *roots,
                    const int64_t *start, const int64_t *count, size_t *bytes)
{
	return cask__eval_plan_ex(ctx, mats, n, roots, start, count, 1, bytes);
}

int cask__eval_plan_ex(cask_ctx_t *ctx, const cask__mats_t *mats, int n,
                       cask_array_t *const *roots, const int64_t *start, const int64_t *count,
                       int pessimistic, size_t *bytes)
{
	ev_t e = {.ctx = ctx, .dry = 1, .mats = mats, .pessimistic = pessimistic};
	void *outs[64];
	for (int r = 0; r < n && r < 64; r++)
		outs[r] = NULL;
	int rc = eval_all(&e, n, roots, start, count, outs);
	if (rc == 0)
		*bytes = e.peak;
	return rc;
}

int cask__eval_roots(cask_ctx_t *ctx, const cask__mats_t *mats, int n,
                     cask_array_t *const *roots, const int64_t *start, const int64_t *count,
                     void *const *outs, void *scratch, size_t scratch_bytes)
{
	ev_t e = {.ctx = ctx, .mats = mats, .base = scratch, .cap = scratch_bytes};
	int rc = eval_all(&e, n, roots, start, count, outs);
	for (int i = 0; i < e.nmaps; i++)
		cask__io_unmap_chunk(&e.maps[i]);
	return rc;
}

int cask__eval_map(cask_ctx_t *ctx, cask_array_t *a, const int64_t *start, const int64_t *count,
                   const void **ptr, cask__map_t *m)
{
	m->base = NULL;
	m->len = 0;
	if (a->kind != N_H5)
		return 0;
	const cask__h5meta_t *md = &a->u.h5.meta;
	if (!md->chunked || a->ndim == 0)
		return 0;
	for (int k = 0; k < a->ndim; k++)
		if (start[k] % md->chunks[k] != 0 || count[k] != md->chunks[k])
			return 0;
	return cask__io_map_chunk(ctx, a->u.h5.h, start, ptr, m);
}

void *cask__ev_alloc(cask__ev_t *e, size_t bytes) { return arena_alloc(e, bytes); }
size_t cask__ev_mark(const cask__ev_t *e) { return e->used; }
void cask__ev_release(cask__ev_t *e, size_t mark) { e->used = mark; }
int cask__ev_dry(const cask__ev_t *e) { return e->dry; }
cask_ctx_t *cask__ev_ctx(const cask__ev_t *e) { return e->ctx; }

int cask__ev_region(cask__ev_t *e, cask_array_t *a, const int64_t *start, const int64_t *count,
                    const int64_t *step, void *out)
{
	return eval(e, a, start, count, step, out);
}
