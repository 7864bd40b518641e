/*
 * compute.c - turn arrays into a task graph and run it: cask_compute,
 * cask_store, cask_array_graph.
 *
 * A run is a list of stages, each a family of tasks over one chunk grid:
 *
 *   reduction R (one per N_REDUCE node, inner reductions first):
 *     leaf     one per chunk of R's input X: evaluate X over the chunk,
 *              reduce it into a partial (kernels' red_block);
 *     combine  merge up to FANIN partials in fixed order (post-order tree
 *              per output block, so memory is freed depth-first);
 *     mat      finalise every tree root into R's whole result, which later
 *              stages read as an in-memory array (must fit the budget).
 *   eval (one per group of roots with the same shape and output chunks):
 *     one task per output chunk: evaluate every root of the group over the
 *     chunk in one fused pass (shared inputs read once), then write the
 *     chunk to its dataset or copy it into the caller's buffer.
 *
 * Tasks name chunks by number (index) and depend on other tasks by id
 * only; a task's working set (scratch + output) is declared up front so
 * the scheduler admits it under the budget.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array.h"
#include "engine.h"
#include "eval.h"
#include "graph.h"
#include "kernels.h"

#define FANIN 8

typedef enum { ST_EVAL, ST_RED } stage_kind_t;

typedef struct stage {
	stage_kind_t kind;
	cask_ctx_t *ctx;
	/* arrays whose materialised results the tasks read: inputs[0..nmat) */
	int nmat;
	cask_array_t **mat;
	/* the grid: shape, chunks, chunks per axis */
	int ndim;
	int64_t shape[CASK_MAX_DIMS], chunks[CASK_MAX_DIMS], nch[CASK_MAX_DIMS];
	/* the array's own chunks; chunks is a whole multiple of them when tiny
	 * chunks are grouped into bigger tasks (set_grid) */
	int64_t fine[CASK_MAX_DIMS];
	size_t plan_full;  /* eval scratch for a full-size chunk (chunk 0) */
	size_t plan_edge;  /* ... and for a partial (edge) chunk: max(full, last chunk) */
	/* ST_EVAL */
	int nroots;
	cask_array_t **roots;
	cask__h5out_t **outs; /* per root, or NULL entries */
	void *buf;            /* compute target (one root) */
	size_t wchunk, wscratch; /* direct chunk writes: full chunk + codec scratch */
	/* ST_RED */
	cask_array_t *red;
	cask__h5out_t *sink;  /* write mode: tree roots go to this dataset ... */
	void *sinkbuf;        /* ... or into this caller buffer */
	struct plan *plan;
} stage_t;

typedef struct txn_ent {
	const char *path;
	cask__h5txn_t *txn;
} txn_ent_t;

typedef struct plan {
	cask_ctx_t *ctx;
	int nst, stcap;
	stage_t **st;
	/* reductions built so far and their mat task ids */
	int nred, redcap;
	cask_array_t **reds;
	int64_t *red_task;
	int ntxn;
	txn_ent_t *txn;
	/* reductions spilled to temporary datasets (too large for memory) */
	int nspill, spillcap;
	cask_array_t **spill_nodes, **spill_arrays;
	cask__mats_t pm; /* spills only: for planning */
} plan_t;

/* Reductions whose result exceeds this are never held in memory. */
static size_t big_bytes(const cask_ctx_t *ctx) { return ctx->budget / 4; }

static void region_of(const stage_t *s, int64_t c, int64_t *start, int64_t *count)
{
	for (int k = s->ndim - 1; k >= 0; k--) {
		int64_t i = c % s->nch[k];
		c /= s->nch[k];
		start[k] = i * s->chunks[k];
		count[k] = s->chunks[k];
		if (start[k] + count[k] > s->shape[k])
			count[k] = s->shape[k] - start[k];
	}
}

static int64_t prod(int nd, const int64_t *v)
{
	int64_t n = 1;
	for (int k = 0; k < nd; k++)
		n *= v[k];
	return n;
}

static size_t r64(size_t b) { return (b + 63) & ~(size_t)63; }

/* Whether a region is a full-size chunk of the stage's grid. */
static int whole_chunk(const stage_t *s, const int64_t *count)
{
	for (int k = 0; k < s->ndim; k++)
		if (count[k] != s->chunks[k])
			return 0;
	return 1;
}

/* Scratch layout of an eval task over a region: [root outputs][evaluation
 * plan], and over the plan once evaluation is done (it is dead by then):
 * [codec scratch][full chunk for partial direct writes].  The same function
 * sizes the task when the graph is built and carves its scratch when it
 * runs. */
static size_t eval_scratch(const stage_t *s, const int64_t *count, size_t *obytes, size_t *plan,
                           size_t *wfull)
{
	int64_t n = prod(s->ndim, count);
	int whole = whole_chunk(s, count);
	size_t o = 0;
	for (int r = 0; r < s->nroots; r++)
		o += r64((size_t)n * cask_dtype_size(s->roots[r]->dtype));
	*obytes = o;
	*plan = r64(whole ? s->plan_full : s->plan_edge);
	*wfull = s->wchunk > 0 && !whole ? r64(s->wchunk) : 0;
	size_t w = r64(s->wscratch) + *wfull;
	return o + (*plan > w ? *plan : w);
}

/* Scratch of a reduction leaf over chunk c: the chunk plus its plan. */
static size_t leaf_scratch_of(const stage_t *s, int64_t c)
{
	const cask_array_t *x = s->red->in[0];
	int64_t st[CASK_MAX_DIMS], ct[CASK_MAX_DIMS];
	region_of(s, c, st, ct);
	return r64((size_t)prod(x->ndim, ct) * cask_dtype_size(x->dtype)) +
	       r64(whole_chunk(s, ct) ? s->plan_full : s->plan_edge);
}

static void bind_mats(const stage_t *s, const void *const *inputs, cask__mats_t *m)
{
	m->n = s->nmat;
	m->nodes = s->mat;
	m->data = inputs;
	m->nspill = s->plan->nspill;
	m->spill_nodes = s->plan->spill_nodes;
	m->spill_arrays = s->plan->spill_arrays;
}

/* ------------------------------------------------------------ task bodies */

static int eval_body(stage_t *s, cask_ctx_t *ctx, int64_t index, const void *const *inputs,
                     void *out, cask_task_env_t *env);

static int eval_task(void *user, int64_t index, const void *const *inputs,
                     const size_t *input_bytes, int ninputs, void *out, size_t out_bytes,
                     cask_task_env_t *env)
{
	(void)input_bytes, (void)ninputs, (void)out_bytes;
	stage_t *s = user;
	cask_ctx_t *ctx = cask__task_ctx(env);
	char msg[CASK__MSG_MAX] = "";
	cask__tls_msg = msg;
	int rc = eval_body(s, ctx, index, inputs, out, env);
	cask__tls_msg = NULL;
	if (rc != 0)
		return cask_task_error(env, rc, "%s", msg);
	return 0;
}

static int eval_body(stage_t *s, cask_ctx_t *ctx, int64_t index, const void *const *inputs,
                     void *out, cask_task_env_t *env)
{
	int64_t start[CASK_MAX_DIMS], count[CASK_MAX_DIMS];
	region_of(s, index, start, count);
	int64_t n = prod(s->ndim, count);
	size_t obytes, plan, wfull;
	size_t total = eval_scratch(s, count, &obytes, &plan, &wfull);
	char *scratch = cask_task_scratch(env, total);
	if (scratch == NULL && total > 0)
		return cask__error(ctx, CASK_EINTERNAL, "task scratch unavailable");
	void *outs[64];
	size_t off = 0;
	for (int r = 0; r < s->nroots; r++) {
		outs[r] = scratch + off;
		off += r64((size_t)n * cask_dtype_size(s->roots[r]->dtype));
	}
	/* keep: the caller asked for task outputs (cask_array_graph) */
	if (out != NULL)
		outs[0] = out;
	cask__mats_t m;
	bind_mats(s, inputs, &m);
	int rc = cask__eval_roots(ctx, &m, s->nroots, s->roots, start, count, outs,
	                          scratch + obytes, plan);
	if (rc != 0)
		return rc;
	if (s->buf != NULL) {
		size_t es = cask_dtype_size(s->roots[0]->dtype);
		int64_t fs[CASK_MAX_DIMS], cs[CASK_MAX_DIMS], acc = 1, acc2 = 1;
		for (int k = s->ndim - 1; k >= 0; k--) {
			fs[k] = acc;
			acc *= s->shape[k];
			cs[k] = acc2;
			acc2 *= count[k];
		}
		char *dst = s->buf;
		for (int k = 0; k < s->ndim; k++)
			dst += start[k] * fs[k] * (int64_t)es;
		cask_k_copy_nd(s->ndim, count, es, outs[0], cs, dst, fs);
	}
	for (int r = 0; r < s->nroots; r++) {
		cask__h5out_t *o = s->outs != NULL ? s->outs[r] : NULL;
		if (o == NULL)
			continue;
		if (!cask__io_out_filtered(o)) {
			/* whole chunks go to H5Dwrite_chunk inside, edge chunks
			 * through a hyperslab write */
			rc = cask__io_write(ctx, o, start, count, outs[r]);
		} else {
			/* compress on this thread, write raw bytes under the lock */
			char *wscr = scratch + obytes; /* over the dead plan region */
			char *full = wscr + r64(s->wscratch);
			size_t es = cask_dtype_size(s->roots[r]->dtype);
			int whole = wfull == 0;
			const void *src = outs[r];
			if (!whole) {
				int64_t cs[CASK_MAX_DIMS], os[CASK_MAX_DIMS];
				int64_t a1 = 1, a2 = 1;
				for (int k = s->ndim - 1; k >= 0; k--) {
					cs[k] = a1;
					a1 *= s->chunks[k];
					os[k] = a2;
					a2 *= count[k];
				}
				memset(full, 0, cask__io_out_chunk_bytes(o));
				cask_k_copy_nd(s->ndim, count, es, outs[r], os, full, cs);
				src = full;
			}
			rc = cask__io_write_chunk(ctx, o, start, src, wscr, s->wscratch);
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Kept-axis sub-shape of an X chunk region. */
static int64_t kept_entries(const cask_array_t *red, const int64_t *count)
{
	int64_t n = 1;
	const cask_array_t *x = red->in[0];
	for (int k = 0; k < x->ndim; k++)
		if (!(red->u.reduce.redmask & (1u << k)))
			n *= count[k];
	return n;
}

static int red_leaf_task(void *user, int64_t index, const void *const *inputs,
                         const size_t *input_bytes, int ninputs, void *out, size_t out_bytes,
                         cask_task_env_t *env)
{
	(void)input_bytes, (void)ninputs, (void)out_bytes;
	stage_t *s = user;
	cask_ctx_t *ctx = cask__task_ctx(env);
	cask_array_t *x = s->red->in[0];
	int64_t start[CASK_MAX_DIMS], count[CASK_MAX_DIMS];
	region_of(s, index, start, count);
	/* A leaf that is a stored chunk as is: reduce it in place (mapped). */
	const void *mapped;
	cask__map_t map;
	char msg[CASK__MSG_MAX] = "";
	cask__tls_msg = msg;
	int rc = cask__eval_map(ctx, x, start, count, &mapped, &map);
	cask__tls_msg = NULL;
	if (rc < 0)
		return cask_task_error(env, rc, "%s", msg);
	if (rc == 1) {
		cask_k_red_block(s->red->u.reduce.op, x->dtype, x->ndim, count,
		                 s->red->u.reduce.redmask, mapped, start, x->shape, out);
		cask__io_unmap_chunk(&map);
		return 0;
	}
	size_t xb = r64((size_t)prod(x->ndim, count) * cask_dtype_size(x->dtype));
	size_t plan = r64(whole_chunk(s, count) ? s->plan_full : s->plan_edge);
	char *scratch = cask_task_scratch(env, xb + plan);
	if (scratch == NULL)
		return cask_task_error(env, CASK_EINTERNAL, "task scratch unavailable");
	cask__mats_t m;
	bind_mats(s, inputs, &m);
	void *outs[1] = {scratch};
	cask__tls_msg = msg;
	rc = cask__eval_roots(ctx, &m, 1, &x, start, count, outs, scratch + xb, plan);
	cask__tls_msg = NULL;
	if (rc != 0)
		return cask_task_error(env, rc, "%s", msg);
	cask_k_red_block(s->red->u.reduce.op, x->dtype, x->ndim, count, s->red->u.reduce.redmask,
	                 scratch, start, x->shape, out);
	return 0;
}

static int red_combine_task(void *user, int64_t index, const void *const *inputs,
                            const size_t *input_bytes, int ninputs, void *out, size_t out_bytes,
                            cask_task_env_t *env)
{
	(void)index, (void)env;
	stage_t *s = user;
	cask_redop_t op = s->red->u.reduce.op;
	cask_dtype_t t = s->red->in[0]->dtype;
	size_t ss = cask_k_red_state_size(op);
	int64_t n = (int64_t)(out_bytes / ss);
	if (ninputs == 0) {
		cask_k_red_init(op, t, n, out);
		return 0;
	}
	memcpy(out, inputs[0], input_bytes[0]);
	for (int i = 1; i < ninputs; i++)
		cask_k_red_merge(op, t, n, out, inputs[i]);
	return 0;
}

/* Output blocks of a reduction: the grid of X over kept axes. */
static int64_t red_blocks(const stage_t *s, int64_t *kept_nch)
{
	const cask_array_t *x = s->red->in[0];
	int64_t n = 1;
	for (int k = 0; k < x->ndim; k++) {
		int red = (s->red->u.reduce.redmask >> k) & 1;
		kept_nch[k] = red ? 1 : s->nch[k];
		n *= kept_nch[k];
	}
	return n;
}

/* Region of output block b of reduction s->red, in the result's index
 * space: *nd axes, start and count. */
static void red_block_region(const stage_t *s, const int64_t *kn, int64_t b, int *ndp,
                             int64_t *rst, int64_t *rct)
{
	const cask_array_t *r = s->red, *x = r->in[0];
	uint32_t mask = r->u.reduce.redmask;
	int64_t bi[CASK_MAX_DIMS], c = b;
	for (int k = x->ndim - 1; k >= 0; k--) {
		bi[k] = c % kn[k];
		c /= kn[k];
	}
	int nd = 0;
	for (int k = 0; k < x->ndim; k++) {
		if (mask & (1u << k)) {
			if (r->u.reduce.keepdims) {
				rst[nd] = 0;
				rct[nd++] = 1;
			}
		} else {
			rst[nd] = bi[k] * s->chunks[k];
			rct[nd] = s->chunks[k];
			if (rst[nd] + rct[nd] > x->shape[k])
				rct[nd] = x->shape[k] - rst[nd];
			nd++;
		}
	}
	*ndp = nd;
}

/* Finalise the tree root partial of output block b into tmp (block order)
 * and, when full is not NULL, copy it into its place in full (the whole
 * result, C order).  The block's region goes to *nd, rst, rct.  Returns 0,
 * or CASK_EINVAL for an empty min/max/arg reduction. */
static int finish_block(const stage_t *s, const int64_t *kn, int64_t b, const void *partial,
                        void *tmp, void *full, int *nd, int64_t *rst, int64_t *rct)
{
	const cask_array_t *r = s->red;
	size_t es = cask_dtype_size(r->dtype);
	red_block_region(s, kn, b, nd, rst, rct);
	int64_t n = prod(*nd, rct);
	if (cask_k_red_final(r->u.reduce.op, r->in[0]->dtype, n, partial, r->u.reduce.ddof, tmp) != 0)
		return CASK_EINVAL;
	if (full == NULL)
		return 0;
	int64_t rs[CASK_MAX_DIMS], cs[CASK_MAX_DIMS], a1 = 1, a2 = 1;
	char *dst = full;
	for (int k = *nd - 1; k >= 0; k--) {
		rs[k] = a1;
		a1 *= r->shape[k];
		cs[k] = a2;
		a2 *= rct[k];
	}
	for (int k = 0; k < *nd; k++)
		dst += rst[k] * rs[k] * (int64_t)es;
	cask_k_copy_nd(*nd, rct, es, tmp, cs, dst, rs);
	return 0;
}

static int empty_error(cask_task_env_t *env, const stage_t *s)
{
	return cask_task_error(env, CASK_EINVAL,
	                       "zero-size array to reduction operation %s which has no identity",
	                       cask_redop_name(s->red->u.reduce.op));
}

/* Scratch for one finalised block of a reduction stage. */
static size_t block_bytes(const stage_t *s)
{
	const cask_array_t *x = s->red->in[0];
	int64_t maxn = 1;
	for (int k = 0; k < x->ndim; k++)
		if (!(s->red->u.reduce.redmask & (1u << k)))
			maxn *= s->chunks[k] < x->shape[k] ? s->chunks[k] : x->shape[k];
	return r64((size_t)maxn * cask_dtype_size(s->red->dtype));
}

/* Write mode: finalise one tree root and write its block to the sink
 * dataset or the caller's buffer. */
static int red_write_task(void *user, int64_t index, const void *const *inputs,
                          const size_t *input_bytes, int ninputs, void *out, size_t out_bytes,
                          cask_task_env_t *env)
{
	(void)input_bytes, (void)ninputs, (void)out, (void)out_bytes;
	stage_t *s = user;
	int64_t kn[CASK_MAX_DIMS], rst[CASK_MAX_DIMS], rct[CASK_MAX_DIMS];
	int nd;
	red_blocks(s, kn);
	char *tmp = cask_task_scratch(env, block_bytes(s));
	if (tmp == NULL)
		return cask_task_error(env, CASK_EINTERNAL, "task scratch unavailable");
	if (finish_block(s, kn, index, inputs[0], tmp, s->sinkbuf, &nd, rst, rct) != 0)
		return empty_error(env, s);
	if (s->sink == NULL)
		return 0;
	char msg[CASK__MSG_MAX] = "";
	cask__tls_msg = msg;
	int rc = cask__io_write(cask__task_ctx(env), s->sink, rst, rct, tmp);
	cask__tls_msg = NULL;
	if (rc != 0)
		return cask_task_error(env, rc, "%s", msg);
	return 0;
}

/* Normal mode: finalise every tree root into the whole result (out). */
static int red_mat_task(void *user, int64_t index, const void *const *inputs,
                        const size_t *input_bytes, int ninputs, void *out, size_t out_bytes,
                        cask_task_env_t *env)
{
	(void)index, (void)input_bytes, (void)out_bytes;
	stage_t *s = user;
	int64_t kn[CASK_MAX_DIMS], rst[CASK_MAX_DIMS], rct[CASK_MAX_DIMS];
	int nd;
	int64_t nb = red_blocks(s, kn);
	if (ninputs != nb)
		return cask_task_error(env, CASK_EINTERNAL, "reduction has %d trees for %lld blocks",
		                       ninputs, (long long)nb);
	/* An empty result (a kept axis of length 0, as sum(x[:, 0:0], axis=0))
	 * has no block to finalise, and its tasks no scratch. */
	if (nb == 0)
		return 0;
	char *tmp = cask_task_scratch(env, block_bytes(s));
	if (tmp == NULL)
		return cask_task_error(env, CASK_EINTERNAL, "task scratch unavailable");
	for (int64_t b = 0; b < nb; b++)
		if (finish_block(s, kn, b, inputs[b], tmp, out, &nd, rst, rct) != 0)
			return empty_error(env, s);
	return 0;
}

/* ------------------------------------------------------------ planning */

static void plan_free(plan_t *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < p->nst; i++) {
		stage_t *s = p->st[i];
		for (int r = 0; r < s->nroots; r++)
			cask_array_destroy(s->roots[r]);
		free(s->roots);
		free(s->outs);
		free(s->mat);
		free(s);
	}
	free(p->st);
	free(p->reds);
	free(p->red_task);
	for (int i = 0; i < p->ntxn; i++)
		cask__io_txn_abort(p->txn[i].txn);
	free(p->txn);
	for (int i = 0; i < p->nspill; i++)
		cask_array_destroy(p->spill_arrays[i]);
	free(p->spill_nodes);
	free(p->spill_arrays);
	free(p);
}

static stage_t *stage_new(plan_t *p, stage_kind_t kind)
{
	if (p->nst == p->stcap) {
		int cap = p->stcap ? 2 * p->stcap : 8;
		stage_t **n = realloc(p->st, sizeof *n * (size_t)cap);
		if (n == NULL)
			return NULL;
		p->st = n;
		p->stcap = cap;
	}
	stage_t *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	s->kind = kind;
	s->ctx = p->ctx;
	s->plan = p;
	p->st[p->nst++] = s;
	return s;
}

int cask__direct_reds(cask_array_t *a, int *n, cask_array_t ***list, int *cap, int depth)
{
	if (depth > 100000)
		return CASK_EINVAL;
	if (a->kind == N_REDUCE) {
		for (int i = 0; i < *n; i++)
			if ((*list)[i] == a)
				return 0;
		if (*n == *cap) {
			int c = *cap ? 2 * *cap : 8;
			cask_array_t **l = realloc(*list, sizeof *l * (size_t)c);
			if (l == NULL)
				return CASK_ENOMEM;
			*list = l;
			*cap = c;
		}
		(*list)[(*n)++] = a;
		return 0;
	}
	for (int i = 0; i < a->nin; i++) {
		int rc = cask__direct_reds(a->in[i], n, list, cap, depth + 1);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int64_t find_red(const plan_t *p, const cask_array_t *r)
{
	for (int i = 0; i < p->nred; i++)
		if (p->reds[i] == r)
			return p->red_task[i];
	return -1;
}

static int add_reduction(plan_t *p, cask_graph_t *g, cask_array_t *r, int64_t *mat_id);
static int add_reduction_mode(plan_t *p, cask_graph_t *g, cask_array_t *r, cask__h5out_t *sink,
                              void *sinkbuf, int64_t *mat_id);

/* Materialised inputs of roots: build their stages first; fills the
 * stage's mat list and the input ids. */
static int stage_mats(plan_t *p, cask_graph_t *g, stage_t *s, int n, cask_array_t *const *roots,
                      int64_t **ids)
{
	int cap = 0;
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++)
		rc = cask__direct_reds(roots[i], &s->nmat, &s->mat, &cap, 0);
	if (rc != 0)
		return cask__error(p->ctx, rc, "expression too deep or out of memory");
	int keep = 0;
	for (int i = 0; i < s->nmat; i++) {
		int spilled = 0;
		for (int j = 0; j < p->nspill; j++)
			spilled |= p->spill_nodes[j] == s->mat[i];
		if (!spilled)
			s->mat[keep++] = s->mat[i];
	}
	s->nmat = keep;
	*ids = calloc((size_t)s->nmat + 1, sizeof **ids);
	if (*ids == NULL)
		return cask__error(p->ctx, CASK_ENOMEM, "out of memory");
	for (int i = 0; i < s->nmat; i++) {
		rc = add_reduction(p, g, s->mat[i], &(*ids)[i]);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* The stage's task grid over an array of this shape and chunking.  With
 * elem > 0, chunks of fewer than task_bytes / 16 bytes (elem bytes per
 * element) are grouped: the task block is the chunk times whole factors,
 * filled from the last axis (C order, so a block is one contiguous run of
 * chunks whenever it can be) up to about task_bytes, which is capped at
 * 1/64 of the budget.  The grid depends on neither the thread count nor the
 * data, so results stay reproducible. */
static void set_grid(stage_t *s, int nd, const int64_t *shape, const int64_t *chunks, size_t elem)
{
	s->ndim = nd;
	for (int k = 0; k < nd; k++) {
		s->shape[k] = shape[k];
		s->fine[k] = s->chunks[k] = chunks[k] > 0 ? chunks[k] : 1;
		s->nch[k] = shape[k] / s->chunks[k] + (shape[k] % s->chunks[k] != 0);
	}
	size_t target = s->ctx->task_bytes;
	if (target > s->ctx->budget / 64)
		target = s->ctx->budget / 64;
	double cur = (double)elem;
	for (int k = 0; k < nd; k++)
		cur *= (double)s->chunks[k];
	if (elem == 0 || cur <= 0 || cur * 16 > (double)target)
		return;
	for (int k = nd - 1; k >= 0; k--) {
		int64_t f = (int64_t)((double)target / cur);
		if (f > s->nch[k])
			f = s->nch[k];
		if (f < 1)
			f = 1;
		if (f > 1) {
			s->chunks[k] *= f;
			s->nch[k] = shape[k] / s->chunks[k] + (shape[k] % s->chunks[k] != 0);
		}
		cur *= (double)f;
		if (s->nch[k] > 1 || cur * 2 > (double)target)
			break;
	}
}

static int64_t grid_count(const stage_t *s)
{
	return prod(s->ndim, s->nch);
}

/* Undo set_grid's grouping when a grouped block's evaluation would need
 * more than a quarter of the budget: small output chunks are not always
 * small work (a row of A @ B reads a whole row of A, so 200 rows of a
 * 200 x 20,000 A, grouped for their 4.8 KB of result, read 32 MB). */
static int ungroup_if_heavy(plan_t *p, stage_t *s, int n, cask_array_t *const *roots)
{
	int grouped = 0;
	for (int k = 0; k < s->ndim; k++)
		grouped |= s->chunks[k] != s->fine[k];
	if (!grouped || grid_count(s) == 0)
		return 0;
	int64_t st[CASK_MAX_DIMS], ct[CASK_MAX_DIMS];
	size_t plan = 0;
	region_of(s, 0, st, ct);
	int rc = cask__eval_plan_ex(p->ctx, &p->pm, n, roots, st, ct, 0, &plan);
	if (rc != 0 || plan <= p->ctx->budget / 4)
		return rc;
	for (int k = 0; k < s->ndim; k++) {
		s->chunks[k] = s->fine[k];
		s->nch[k] = s->shape[k] / s->chunks[k] + (s->shape[k] % s->chunks[k] != 0);
	}
	return 0;
}

/* Post-order tree over leaves[0..n): returns the root task id. */
static int build_tree(plan_t *p, cask_graph_t *g, stage_t *s, const int64_t *leaf_chunks,
                      int64_t n, const int64_t *mat_ids, size_t part_bytes,
                      int64_t *root)
{
	int64_t ids[FANIN];
	int nk = 0;
	int rc;
	if (n <= FANIN) {
		for (int64_t i = 0; i < n; i++) {
			cask_task_spec_t t = {
				.fn = red_leaf_task, .user = s, .index = leaf_chunks[i], .inputs = mat_ids,
				.ninputs = s->nmat, .out_bytes = part_bytes,
				.scratch_bytes = leaf_scratch_of(s, leaf_chunks[i]),
				.label = "reduce-chunk",
			};
			rc = cask_graph_add(g, &t, &ids[nk++]);
			if (rc != 0)
				return rc;
		}
		if (n == 1) {
			*root = ids[0];
			return 0;
		}
	} else {
		int64_t per = (n + FANIN - 1) / FANIN;
		for (int64_t i = 0; i < n; i += per) {
			int64_t m = n - i < per ? n - i : per;
			rc = build_tree(p, g, s, leaf_chunks + i, m, mat_ids, part_bytes,
			                &ids[nk++]);
			if (rc != 0)
				return rc;
		}
	}
	cask_task_spec_t t = {
		.fn = red_combine_task, .user = s, .index = 0, .inputs = ids, .ninputs = nk,
		.out_bytes = part_bytes, .label = "reduce-combine",
	};
	return cask_graph_add(g, &t, root);
}

static int add_reduction(plan_t *p, cask_graph_t *g, cask_array_t *r, int64_t *mat_id)
{
	return add_reduction_mode(p, g, r, NULL, NULL, mat_id);
}

/* Evaluation plans of a stage, from its first (full-size) chunk: the exact
 * need of a full chunk, and a bound for every other region, which adds
 * the staging that partial stored chunks need.  A full-size region that
 * still needs staging (a misaligned concatenation) reads through a path
 * that needs none (eval.c), so both bound memory. */
static int stage_plans(plan_t *p, stage_t *s, int n, cask_array_t *const *roots)
{
	s->plan_full = s->plan_edge = 0;
	if (grid_count(s) == 0)
		return 0;
	int64_t st[CASK_MAX_DIMS], ct[CASK_MAX_DIMS];
	region_of(s, 0, st, ct);
	int rc = cask__eval_plan_ex(p->ctx, &p->pm, n, roots, st, ct, 0, &s->plan_full);
	if (rc == 0)
		rc = cask__eval_plan_ex(p->ctx, &p->pm, n, roots, st, ct, 1, &s->plan_edge);
	return rc;
}

/* A reduction stage.  Normal mode ends in one task holding the whole result
 * (*mat_id); write mode (sink or sinkbuf) ends in one task per output block
 * writing it out, so the result is never held whole (*mat_id = -1). */
/* NumPy raises for min/max/arg* over an axis of length 0 even when the
 * result is empty too (np.min(np.zeros((0, 0)), axis=0)).  A non-empty
 * result meets its empty entries when they are finalised (empty_error); an
 * empty one has no entry to finalise, so it is checked here. */
static int check_empty_no_identity(cask_ctx_t *ctx, const cask_array_t *r)
{
	cask_redop_t op = r->u.reduce.op;
	const cask_array_t *x = r->in[0];
	if (cask_array_size(r) != 0 || !(op == CASK_MIN || op == CASK_MAX || op == CASK_NANMIN ||
	                                 op == CASK_NANMAX || op == CASK_ARGMIN || op == CASK_ARGMAX))
		return 0;
	for (int k = 0; k < x->ndim; k++)
		if ((r->u.reduce.redmask & (1u << k)) && x->shape[k] == 0)
			return cask__error(ctx, CASK_EINVAL,
			                   "zero-size array to reduction operation %s which has no identity",
			                   cask_redop_name(op));
	return 0;
}

static int add_reduction_mode(plan_t *p, cask_graph_t *g, cask_array_t *r, cask__h5out_t *sink,
                              void *sinkbuf, int64_t *mat_id)
{
	int64_t found = sink == NULL && sinkbuf == NULL ? find_red(p, r) : -1;
	if (found >= 0) {
		*mat_id = found;
		return 0;
	}
	cask_ctx_t *ctx = p->ctx;
	cask_array_t *x = r->in[0];
	stage_t *s = stage_new(p, ST_RED);
	if (s == NULL)
		return cask__error(ctx, CASK_ENOMEM, "out of memory");
	s->red = r;
	s->sink = sink;
	s->sinkbuf = sinkbuf;
	int64_t *mids = NULL, *leaves = NULL, *roots = NULL;
	int rc = stage_mats(p, g, s, 1, &x, &mids);
	if (rc != 0)
		goto out;
	set_grid(s, x->ndim, x->shape, x->chunks, cask_dtype_size(x->dtype));
	if ((rc = ungroup_if_heavy(p, s, 1, &x)) != 0)
		goto out;
	size_t ss = cask_k_red_state_size(r->u.reduce.op);
	size_t rbytes = (size_t)cask_array_size(r) * cask_dtype_size(r->dtype);
	int sinked = s->sink != NULL || s->sinkbuf != NULL;
	if (!sinked && rbytes > ctx->budget / 2) {
		rc = cask__error(ctx, CASK_EBUDGET,
		                 "the result of %s is %.1f MiB, more than half the memory budget (%.1f MiB); "
		                 "reductions are held in memory: raise --memory or reduce over more axes",
		                 cask_redop_name(r->u.reduce.op), rbytes / 1048576.0, ctx->budget / 1048576.0);
		goto out;
	}
	rc = check_empty_no_identity(ctx, r);
	if (rc != 0)
		goto out;
	int64_t kn[CASK_MAX_DIMS];
	int64_t nb = cask_array_size(r) == 0 ? 0 : red_blocks(s, kn);
	int64_t nleaf_per = 1;
	for (int k = 0; k < x->ndim; k++)
		if (r->u.reduce.redmask & (1u << k))
			nleaf_per *= s->nch[k];
	/* scratch for a leaf: the chunk plus its evaluation plan */
	int64_t c0s[CASK_MAX_DIMS], c0c[CASK_MAX_DIMS];
	(void)c0s, (void)c0c;
	rc = stage_plans(p, s, 1, &x);
	if (rc != 0)
		goto out;
	leaves = calloc((size_t)(nleaf_per > 0 ? nleaf_per : 1), sizeof *leaves);
	roots = calloc((size_t)(nb > 0 ? nb : 1), sizeof *roots);
	if (leaves == NULL || roots == NULL) {
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
		goto out;
	}
	for (int64_t b = 0; b < nb; b++) {
		int64_t bi[CASK_MAX_DIMS], c = b;
		for (int k = x->ndim - 1; k >= 0; k--) {
			bi[k] = c % kn[k];
			c /= kn[k];
		}
		/* leaves: every chunk with these kept coordinates, C order */
		int64_t nl = 0;
		for (int64_t j = 0; j < nleaf_per; j++) {
			int64_t rem = j, ci[CASK_MAX_DIMS];
			for (int k = x->ndim - 1; k >= 0; k--) {
				if (r->u.reduce.redmask & (1u << k)) {
					ci[k] = rem % s->nch[k];
					rem /= s->nch[k];
				} else {
					ci[k] = bi[k];
				}
			}
			int64_t lin = 0;
			for (int k = 0; k < x->ndim; k++)
				lin = lin * s->nch[k] + ci[k];
			leaves[nl++] = lin;
		}
		/* partial size: kept extents of this block */
		int64_t st[CASK_MAX_DIMS], ct[CASK_MAX_DIMS];
		if (nl > 0) {
			region_of(s, leaves[0], st, ct);
		} else {
			for (int k = 0; k < x->ndim; k++) {
				st[k] = bi[k] * s->chunks[k];
				ct[k] = s->chunks[k];
				if (st[k] + ct[k] > s->shape[k])
					ct[k] = s->shape[k] - st[k];
			}
		}
		size_t part = (size_t)kept_entries(r, ct) * ss;
		if (nl == 0) {
			cask_task_spec_t t = {.fn = red_combine_task, .user = s, .out_bytes = part,
			                      .label = "reduce-empty"};
			rc = cask_graph_add(g, &t, &roots[b]);
		} else {
			rc = build_tree(p, g, s, leaves, nl, mids, part, &roots[b]);
		}
		if (rc != 0)
			goto out;
	}
	if (sinked) {
		for (int64_t b = 0; b < nb; b++) {
			cask_task_spec_t w = {
				.fn = red_write_task, .user = s, .index = b, .inputs = &roots[b], .ninputs = 1,
				.scratch_bytes = block_bytes(s), .label = "reduce-write",
			};
			int64_t id;
			rc = cask_graph_add(g, &w, &id);
			if (rc != 0)
				goto out;
		}
		*mat_id = -1;
		goto out;
	}
	cask_task_spec_t t = {
		.fn = red_mat_task, .user = s, .inputs = roots, .ninputs = (int)nb,
		.out_bytes = rbytes, .scratch_bytes = block_bytes(s),
		.label = "reduce-result",
	};
	rc = cask_graph_add(g, &t, mat_id);
	if (rc != 0)
		goto out;
	if (p->nred == p->redcap) {
		int cap = p->redcap ? 2 * p->redcap : 8;
		cask_array_t **l = realloc(p->reds, sizeof *l * (size_t)cap);
		int64_t *ids = l ? realloc(p->red_task, sizeof *ids * (size_t)cap) : NULL;
		if (l != NULL)
			p->reds = l;
		if (ids == NULL) {
			rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
			goto out;
		}
		p->red_task = ids;
		p->redcap = cap;
	}
	p->reds[p->nred] = r;
	p->red_task[p->nred++] = *mat_id;
out:
	free(mids);
	free(leaves);
	free(roots);
	return rc;
}

/* An eval stage for roots sharing shape and grid chunks. */
static int add_eval(plan_t *p, cask_graph_t *g, int n, cask_array_t *const *roots,
                    const int64_t *chunks, cask__h5out_t **outs, void *buf, int keep)
{
	cask_ctx_t *ctx = p->ctx;
	stage_t *s = stage_new(p, ST_EVAL);
	if (s == NULL)
		return cask__error(ctx, CASK_ENOMEM, "out of memory");
	int64_t *mids = NULL;
	s->roots = calloc((size_t)n, sizeof *s->roots);
	s->outs = calloc((size_t)n, sizeof *s->outs);
	if (s->roots == NULL || s->outs == NULL)
		return cask__error(ctx, CASK_ENOMEM, "out of memory");
	for (int r = 0; r < n; r++) {
		s->roots[r] = cask_array_retain(roots[r]);
		s->outs[r] = outs != NULL ? outs[r] : NULL;
	}
	s->nroots = n;
	s->buf = buf;
	int rc = stage_mats(p, g, s, n, roots, &mids);
	if (rc != 0)
		goto out;
	for (int r = 0; r < n; r++) {
		if (outs != NULL && outs[r] != NULL && cask__io_out_filtered(outs[r])) {
			size_t cb = cask__io_out_chunk_bytes(outs[r]);
			size_t sb = cask__io_out_chunk_scratch_bytes(outs[r]);
			s->wchunk = cb > s->wchunk ? cb : s->wchunk;
			s->wscratch = sb > s->wscratch ? sb : s->wscratch;
		}
	}
	/* Tiny chunks are grouped into bigger tasks, except when the tasks'
	 * outputs are kept (cask_array_graph: one per chunk) or written
	 * compressed (one encoded chunk per task). */
	size_t elem = 0;
	for (int r = 0; r < n && !keep && s->wchunk == 0; r++)
		if (cask_dtype_size(roots[r]->dtype) > elem)
			elem = cask_dtype_size(roots[r]->dtype);
	set_grid(s, roots[0]->ndim, roots[0]->shape, chunks, elem);
	if ((rc = ungroup_if_heavy(p, s, n, roots)) != 0)
		goto out;
	int64_t nt = grid_count(s);
	rc = stage_plans(p, s, n, roots);
	if (rc != 0)
		goto out;
	for (int64_t c = 0; c < nt; c++) {
		int64_t st[CASK_MAX_DIMS], ct[CASK_MAX_DIMS];
		size_t ob, pl, wf;
		region_of(s, c, st, ct);
		size_t kb = keep ? (size_t)prod(s->ndim, ct) * cask_dtype_size(roots[0]->dtype) : 0;
		cask_task_spec_t t = {
			.fn = eval_task, .user = s, .index = c, .inputs = mids, .ninputs = s->nmat,
			.out_bytes = kb, .scratch_bytes = eval_scratch(s, ct, &ob, &pl, &wf),
			.label = outs != NULL ? "store-chunk" : "eval-chunk", .keep = keep,
		};
		int64_t id;
		rc = cask_graph_add(g, &t, &id);
		if (rc != 0)
			goto out;
	}
out:
	free(mids);
	return rc;
}

/* ---- spilling reductions too large for memory */

typedef struct {
	int n, cap;
	cask_array_t **node;
	int *inside; /* reached as an input of another node */
} walk_t;

static int walk(walk_t *w, cask_array_t *a, int inside, int depth)
{
	if (depth > 100000)
		return CASK_EINVAL;
	for (int i = 0; i < w->n; i++) {
		if (w->node[i] == a) {
			w->inside[i] |= inside;
			return 0;
		}
	}
	for (int i = 0; i < a->nin; i++) {
		int rc = walk(w, a->in[i], 1, depth + 1);
		if (rc != 0)
			return rc;
	}
	if (w->n == w->cap) {
		int cap = w->cap ? 2 * w->cap : 16;
		cask_array_t **nn = realloc(w->node, sizeof *nn * (size_t)cap);
		if (nn == NULL)
			return CASK_ENOMEM;
		w->node = nn;
		int *ni = realloc(w->inside, sizeof *ni * (size_t)cap);
		if (ni == NULL)
			return CASK_ENOMEM;
		w->inside = ni;
		w->cap = cap;
	}
	w->node[w->n] = a; /* post-order: inputs first */
	w->inside[w->n++] = inside;
	return 0;
}

static int spill_one(plan_t *p, cask_array_t *r)
{
	static _Atomic unsigned counter;
	cask_ctx_t *ctx = p->ctx;
	char dir[4000], path[4096];
	cask__io_tmp_dir(NULL, dir, sizeof dir);
	snprintf(path, sizeof path, "%s/cask-spill-%ld-%u.h5", dir, (long)getpid(), counter++);
	cask__h5txn_t *txn = NULL;
	cask__h5out_t *o = NULL;
	cask_graph_t *g = NULL;
	cask_array_t *arr = NULL;
	int64_t id;
	int rc = cask__io_txn_begin(ctx, path, &txn);
	if (rc == 0) {
		cask__h5create_t spec = {.dtype = r->dtype, .ndim = r->ndim, .shape = r->shape,
		                         .chunks = r->chunks, .gzip = -1};
		rc = cask__io_create(ctx, txn, "/r", &spec, &o);
	}
	if (rc == 0)
		rc = cask_graph_create(ctx, &g);
	if (rc == 0)
		rc = add_reduction_mode(p, g, r, o, NULL, &id);
	if (rc == 0)
		rc = cask_graph_run(ctx, g);
	cask_graph_destroy(g);
	if (rc == 0) {
		rc = cask__io_txn_commit(ctx, txn);
		txn = NULL;
	}
	cask__io_txn_abort(txn);
	if (rc == 0) {
		rc = cask_array_open(ctx, path, "/r", NULL, &arr);
		unlink(path); /* stays readable through the open file */
	}
	if (rc != 0)
		return rc;
	if (p->nspill == p->spillcap) {
		int cap = p->spillcap ? 2 * p->spillcap : 4;
		cask_array_t **a = realloc(p->spill_nodes, sizeof *a * (size_t)cap);
		cask_array_t **b = a ? realloc(p->spill_arrays, sizeof *b * (size_t)cap) : NULL;
		if (a != NULL)
			p->spill_nodes = a;
		if (b == NULL) {
			cask_array_destroy(arr);
			return cask__error(ctx, CASK_ENOMEM, "out of memory");
		}
		p->spill_arrays = b;
		p->spillcap = cap;
	}
	p->spill_nodes[p->nspill] = r;
	p->spill_arrays[p->nspill++] = arr;
	p->pm.nspill = p->nspill;
	p->pm.spill_nodes = p->spill_nodes;
	p->pm.spill_arrays = p->spill_arrays;
	return 0;
}

/* Spill every reduction larger than big_bytes that is an input of another
 * node (inner ones first), each in a graph run of its own, to a temporary
 * dataset that later stages read like any HDF5 input.  Reductions that are
 * only roots are written straight to their target (write mode). */
static int spill_big(plan_t *p, int n, cask_array_t *const *roots)
{
	walk_t w = {0};
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++)
		rc = walk(&w, roots[i], 0, 0);
	if (rc != 0)
		rc = cask__error(p->ctx, rc, "expression too deep or out of memory");
	for (int i = 0; i < w.n && rc == 0; i++) {
		cask_array_t *a = w.node[i];
		size_t bytes = (size_t)cask_array_size(a) * cask_dtype_size(a->dtype);
		if (a->kind == N_REDUCE && w.inside[i] && bytes > big_bytes(p->ctx))
			rc = spill_one(p, a);
	}
	free(w.node);
	free(w.inside);
	return rc;
}

static int plan_new(cask_ctx_t *ctx, plan_t **out)
{
	plan_t *p = calloc(1, sizeof *p);
	if (p == NULL)
		return cask__error(ctx, CASK_ENOMEM, "out of memory");
	p->ctx = ctx;
	*out = p;
	return 0;
}

/* ------------------------------------------------------------ public */

/* After a CASK_EBUDGET of a run over the n arrays: name the input whose
 * stored chunks are the likely cause (a task reads whole chunks of a
 * filtered or chunk-aligned input), when one chunk is over a quarter of
 * the budget. */
static void budget_hint(cask_ctx_t *ctx, int n, cask_array_t *const *arrays)
{
	const cask_array_t *ins[64], *best = NULL;
	int nin = 0;
	for (int i = 0; i < n; i++)
		cask__array_h5_leaves(arrays[i], ins, &nin, 64);
	for (int i = 0; i < nin; i++) {
		/* Not an input whose grid cuts its chunks (read in parts). */
		int cut = 0;
		for (int d = 0; d < ins[i]->ndim; d++)
			cut |= ins[i]->chunks[d] < ins[i]->u.h5.meta.chunks[d] &&
			       ins[i]->chunks[d] < ins[i]->shape[d];
		if (!cut && (best == NULL || ins[i]->u.h5.meta.chunk_bytes > best->u.h5.meta.chunk_bytes))
			best = ins[i];
	}
	if (best == NULL || best->u.h5.meta.chunk_bytes <= cask_ctx_memory(ctx) / 4)
		return;
	const cask__h5meta_t *m = &best->u.h5.meta;
	char ch[160];
	size_t k = 0;
	for (int d = 0; d < m->ndim && k < sizeof ch - 24; d++)
		k += (size_t)snprintf(ch + k, sizeof ch - k, "%s%" PRId64, d ? ", " : "", m->chunks[d]);
	/* In KiB below 1 MiB: a 32 KiB chunk under a 64 KiB budget is not "0.0 MiB". */
	int mib = m->chunk_bytes >= ((size_t)1 << 20);
	cask__error_append(ctx, "; a stored chunk of '%s' in '%s' (chunks (%s)) is %.1f %s: raise "
	                   "the budget, or store the input with smaller chunks",
	                   cask__io_in_dset(best->u.h5.h), cask__io_in_path(best->u.h5.h), ch,
	                   (double)m->chunk_bytes / (mib ? 1024.0 * 1024.0 : 1024.0),
	                   mib ? "MiB" : "KiB");
}

int cask_compute(cask_ctx_t *ctx, cask_array_t *a, void *buf, size_t bufsize)
{
	int rc = CASK__CHECK_PTRS(ctx, ctx, a);
	if (rc != 0)
		return rc;
	/* A NULL buffer is only the (empty) destination of an empty result. */
	if (buf == NULL && bufsize > 0)
		return cask__error(ctx, CASK_EINVAL, "cask_compute: NULL buf with bufsize %zu", bufsize);
	size_t need = (size_t)cask_array_size(a) * cask_dtype_size(a->dtype);
	if (bufsize < need)
		return cask__error(ctx, CASK_EINVAL, "cask_compute: buffer of %zu bytes is smaller than the %zu-byte result",
		                   bufsize, need);
	ctx->msg[0] = '\0';
	cask__call_begin(ctx); /* spilled reductions and the result: several graphs */
	plan_t *p = NULL;
	cask_graph_t *g = NULL;
	rc = plan_new(ctx, &p);
	if (rc == 0)
		rc = spill_big(p, 1, &a);
	if (rc == 0)
		rc = cask_graph_create(ctx, &g);
	if (rc == 0 && a->kind == N_REDUCE && need > big_bytes(ctx)) {
		int64_t id;
		rc = add_reduction_mode(p, g, a, NULL, buf, &id);
	} else if (rc == 0) {
		rc = add_eval(p, g, 1, &a, a->chunks, NULL, buf, 0);
	}
	if (rc == 0)
		rc = cask_graph_run(ctx, g);
	if (rc == CASK_EBUDGET)
		budget_hint(ctx, 1, &a);
	cask_graph_destroy(g);
	plan_free(p);
	cask__call_end(ctx);
	return rc;
}

void cask_store_init(cask_store_t *o, const char *path, const char *dset)
{
	if (o == NULL)
		return;
	memset(o, 0, sizeof *o);
	o->path = path;
	o->dset = dset;
	o->gzip = -1;
}

static void out_chunks(const cask_array_t *a, const cask_store_t *o, int64_t *chunks)
{
	for (int k = 0; k < a->ndim; k++) {
		int64_t c = (o != NULL && o->chunks != NULL && o->chunks[k] > 0) ? o->chunks[k] : a->chunks[k];
		if (a->shape[k] > 0 && c > a->shape[k])
			c = a->shape[k];
		if (c < 1)
			c = 1;
		chunks[k] = c;
	}
}

static int build(cask_ctx_t *ctx, plan_t *p, cask_graph_t *g, int n, cask_array_t *const *arrays,
                 const cask_store_t *opts, cask__h5out_t **outs, int keep)
{
	int rc = 0;
	int *done = calloc((size_t)n + 1, sizeof *done);
	cask_array_t **grp = calloc((size_t)n + 1, sizeof *grp);
	cask__h5out_t **gouts = calloc((size_t)n + 1, sizeof *gouts);
	if (done == NULL || grp == NULL || gouts == NULL) {
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < n && rc == 0; i++) {
		cask_array_t *a = arrays[i];
		if (outs != NULL && a->kind == N_REDUCE &&
		    (size_t)cask_array_size(a) * cask_dtype_size(a->dtype) > big_bytes(ctx)) {
			int64_t id;
			done[i] = 1;
			rc = add_reduction_mode(p, g, a, outs[i], NULL, &id);
		}
	}
	for (int i = 0; i < n && rc == 0; i++) {
		if (done[i])
			continue;
		int64_t ci[CASK_MAX_DIMS];
		out_chunks(arrays[i], opts ? &opts[i] : NULL, ci);
		int m = 0;
		for (int j = i; j < n && m < 64; j++) {
			if (done[j] || arrays[j]->ndim != arrays[i]->ndim ||
			    memcmp(arrays[j]->shape, arrays[i]->shape, sizeof(int64_t) * (size_t)arrays[i]->ndim) != 0)
				continue;
			int64_t cj[CASK_MAX_DIMS];
			out_chunks(arrays[j], opts ? &opts[j] : NULL, cj);
			if (memcmp(ci, cj, sizeof(int64_t) * (size_t)arrays[i]->ndim) != 0)
				continue;
			done[j] = 1;
			grp[m] = arrays[j];
			gouts[m++] = outs != NULL ? outs[j] : NULL;
		}
		rc = add_eval(p, g, m, grp, ci, outs != NULL ? gouts : NULL, NULL, keep);
	}
out:
	free(done);
	free(grp);
	free(gouts);
	return rc;
}

int cask_store(cask_ctx_t *ctx, int n, cask_array_t *const *arrays, const cask_store_t *opts)
{
	int rc = CASK__CHECK_PTRS(ctx, ctx);
	if (rc == 0)
		rc = cask__check_arrays(ctx, __func__, "arrays", n, arrays);
	if (rc == 0 && n > 0 && opts == NULL)
		rc = cask__null_arg(ctx, __func__, "opts");
	if (rc != 0)
		return rc;
	if (n < 1)
		return cask__error(ctx, CASK_EINVAL, "cask_store: no arrays");
	for (int i = 0; i < n; i++) {
		if (opts[i].path == NULL || opts[i].dset == NULL)
			return cask__error(ctx, CASK_EINVAL, "cask_store: NULL %s in opts[%d]",
			                   opts[i].path == NULL ? "path" : "dset", i);
		char fn[64];
		snprintf(fn, sizeof fn, "cask_store: opts[%d].chunks", i);
		if ((rc = cask__check_chunks(ctx, fn, arrays[i]->ndim, opts[i].chunks)) != 0)
			return rc;
		/* One file may be spelt two ways ("o.h5", "./o.h5"); "/x" and "x"
		 * are one dataset. */
		for (int j = 0; j < i; j++)
			if (strcmp(opts[i].dset + strspn(opts[i].dset, "/"),
			           opts[j].dset + strspn(opts[j].dset, "/")) == 0 &&
			    cask__io_same_file(opts[i].path, opts[j].path))
				return cask__error(ctx, CASK_EINVAL, "cask_store: dataset '%s' in '%s' is named twice",
				                   opts[i].dset, opts[i].path);
	}
	ctx->msg[0] = '\0';
	cask__call_begin(ctx); /* spilled reductions and the stores: several graphs */
	plan_t *p = NULL;
	cask_graph_t *g = NULL;
	cask__h5out_t **outs = calloc((size_t)n, sizeof *outs);
	rc = outs == NULL ? cask__error(ctx, CASK_ENOMEM, "out of memory") : plan_new(ctx, &p);
	if (rc == 0) {
		p->txn = calloc((size_t)n, sizeof *p->txn);
		if (p->txn == NULL)
			rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
	}
	for (int i = 0; i < n && rc == 0; i++) {
		cask__h5txn_t *txn = NULL;
		/* One transaction per file however it is spelt: two would each
		 * copy the original and the second commit would drop the first's
		 * datasets. */
		for (int j = 0; j < p->ntxn && txn == NULL; j++)
			if (cask__io_same_file(p->txn[j].path, opts[i].path))
				txn = p->txn[j].txn;
		if (txn == NULL) {
			rc = cask__io_txn_begin(ctx, opts[i].path, &txn);
			if (rc != 0)
				break;
			p->txn[p->ntxn].path = opts[i].path;
			p->txn[p->ntxn++].txn = txn;
		}
		int64_t ch[CASK_MAX_DIMS];
		out_chunks(arrays[i], &opts[i], ch);
		cask__h5create_t spec = {
			.dtype = arrays[i]->dtype, .ndim = arrays[i]->ndim, .shape = arrays[i]->shape,
			.chunks = ch, .gzip = opts[i].gzip, .shuffle = opts[i].shuffle,
			.fletcher32 = opts[i].fletcher32, .overwrite = opts[i].overwrite,
		};
		rc = cask__io_create(ctx, txn, opts[i].dset, &spec, &outs[i]);
	}
	if (rc == 0)
		rc = spill_big(p, n, arrays);
	if (rc == 0)
		rc = cask_graph_create(ctx, &g);
	if (rc == 0)
		rc = build(ctx, p, g, n, arrays, opts, outs, 0);
	if (rc == 0)
		rc = cask_graph_run(ctx, g);
	if (rc == CASK_EBUDGET)
		budget_hint(ctx, n, arrays);
	cask_graph_destroy(g);
	if (rc == 0) {
		for (int j = 0; j < p->ntxn && rc == 0; j++) {
			rc = cask__io_txn_commit(ctx, p->txn[j].txn);
			p->txn[j].txn = NULL;
		}
	}
	plan_free(p); /* aborts uncommitted transactions */
	free(outs);
	cask__call_end(ctx);
	return rc;
}

int cask_array_graph(cask_ctx_t *ctx, int n, cask_array_t *const *arrays,
                     const cask_store_t *opts, cask_graph_t **out)
{
	plan_t *p = NULL;
	cask_graph_t *g = NULL;
	int rc = CASK__CHECK_PTRS(ctx, ctx, out);
	if (rc == 0)
		rc = cask__check_arrays(ctx, __func__, "arrays", n, arrays);
	if (rc == 0 && n < 0)
		rc = cask__error(ctx, CASK_EINVAL, "cask_array_graph: negative array count %d", n);
	for (int i = 0; i < n && rc == 0 && opts != NULL; i++) {
		char fn[64];
		snprintf(fn, sizeof fn, "cask_array_graph: opts[%d].chunks", i);
		rc = cask__check_chunks(ctx, fn, arrays[i]->ndim, opts[i].chunks);
	}
	if (rc != 0)
		return rc;
	rc = plan_new(ctx, &p);
	if (rc == 0)
		rc = cask_graph_create(ctx, &g);
	if (rc == 0)
		rc = build(ctx, p, g, n, arrays, opts, NULL, opts == NULL);
	if (rc == 0)
		rc = cask__graph_own(g, (void (*)(void *))plan_free, p);
	if (rc != 0) {
		cask_graph_destroy(g);
		plan_free(p);
		return rc;
	}
	*out = g;
	return 0;
}
