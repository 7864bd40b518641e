/*
 * matmul.c - matrix products of on-disk arrays: the lazy A @ B (B small,
 * held in memory), and the eager reductions A^T A (Gram) and A^T B over
 * row blocks; plus the owning in-memory array node they return.
 *
 *  - cask_matmul: an N_MAP node of shape m x k whose eval computes a row
 *    region of the result from the same rows of A and the in-memory B
 *    (computed once at construction; the node's state owns it).  It
 *    streams like any elementwise expression and can be stored, sliced or
 *    fed to other operations.
 *  - cask_gram / cask_matmul_tn: one leaf task per row block of A (and B)
 *    computes its n x n (n x k) partial with dsyrk (dgemm), fold tasks add
 *    up to FANIN partials in a fixed post-order tree (bit-reproducible,
 *    whatever the threads), the root's result becomes an in-memory array.
 *  - cask__la_ata_x: Z = A^T (A X) for a small X (n x l) in ONE pass over A,
 *    the same tree: a leaf reads its block 64 rows at a time into a small
 *    buffer, forms Y_s = A_s X and adds A_s^T Y_s while those rows are in
 *    cache (the power iterations of the randomized SVD); Y = A X can be
 *    kept as a by-product.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "eval.h"
#include "kernels.h"
#include "la_graph.h"
#include "linalg.h"

#define FANIN 8
#define ATA_SUB 64 /* rows per sub-block of A^T (A X) (bench: 64-128 best) */

static size_t r64(size_t b) { return (b + 63) & ~(size_t)63; }

/* ------------------------------------------------------------ owned buffer */

typedef struct {
	double *data;
} owned_t;

static void owned_destroy(void *state)
{
	owned_t *o = state;
	if (o != NULL)
		free(o->data);
	free(o);
}

static int owned_eval(cask__ev_t *e, cask_array_t *node, const int64_t *start,
	const int64_t *count, const int64_t *step, void *out)
{
	if (cask__ev_dry(e) || count[0] == 0 || count[1] == 0)
		return 0;
	const owned_t *o = node->u.map.state;
	int64_t ss[2] = {step[0] * node->shape[1], step[1]};
	const double *src = o->data + start[0] * node->shape[1] + start[1];
	cask_k_gather(2, count, sizeof(double), src, ss, out);
	return 0;
}

static const cask__map_ops_t owned_ops = {"buffer", owned_eval, owned_destroy};

int cask__la_owned_array(cask_ctx_t *ctx, int64_t rows, int64_t cols, double *data,
	cask_array_t **out)
{
	int64_t shape[2] = {rows, cols};
	cask_array_t *a = NULL;
	owned_t *o = malloc(sizeof *o);
	if (o == NULL) {
		free(data);
		return cask__error(ctx, CASK_ENOMEM, "out of memory");
	}
	o->data = data;
	int rc = cask__array_new(ctx, N_MAP, CASK_FLOAT64, 2, shape, 0, NULL, &a);
	if (rc != 0) {
		owned_destroy(o);
		return rc;
	}
	a->u.map.ops = &owned_ops;
	a->u.map.state = o;
	cask__default_chunks(2, shape, sizeof(double), (size_t)8 << 20, a->chunks);
	*out = a;
	return 0;
}

/* ------------------------------------------------------------ lazy A @ B */

typedef struct {
	double *b; /* n x k row-major */
	int64_t n, k;
} mm_t;

static void mm_destroy(void *state)
{
	mm_t *m = state;
	if (m != NULL)
		free(m->b);
	free(m);
}

static int mm_eval(cask__ev_t *e, cask_array_t *node, const int64_t *start,
	const int64_t *count, const int64_t *step, void *out)
{
	const mm_t *mm = node->u.map.state;
	cask_array_t *a = node->in[0];
	int64_t rows = count[0], n = mm->n, k = mm->k;
	size_t es = cask_dtype_size(a->dtype), wb = 0;
	if (rows == 0 || count[1] == 0)
		return 0;
	if (cask__la_gemm_work(rows, n, a->dtype, &wb) != 0)
		return cask__error(cask__ev_ctx(e), CASK_EOVERFLOW, "matmul: block too large");
	void *abuf = cask__ev_alloc(e, (size_t)(rows * n) * es);
	double *cbuf = cask__ev_alloc(e, (size_t)(rows * k) * sizeof(double));
	void *work = cask__ev_alloc(e, wb);
	if (abuf == NULL || cbuf == NULL || work == NULL)
		return cask__error(cask__ev_ctx(e), CASK_EINTERNAL,
			"matmul: task scratch exhausted (plan and run disagree)");
	int64_t as[2] = {start[0], 0}, ac[2] = {rows, n}, ast[2] = {step[0], 1};
	int rc = cask__ev_region(e, a, as, ac, ast, abuf);
	if (rc != 0 || cask__ev_dry(e))
		return rc;
	rc = cask__la_gemm_nn(rows, n, k, a->dtype, abuf, n, mm->b, k, 0.0, cbuf, k, work);
	if (rc != 0)
		return cask__error(cask__ev_ctx(e), rc, "matmul: BLAS failed (%s)", cask_strerror(rc));
	int64_t ss[2] = {k, step[1]};
	const double *src = cbuf + start[1];
	if (node->dtype == CASK_FLOAT64) {
		cask_k_gather(2, count, sizeof(double), src, ss, out);
	} else {
		float *o = out;
		for (int64_t i = 0; i < rows; i++)
			for (int64_t j = 0; j < count[1]; j++)
				o[i * count[1] + j] = (float)src[i * ss[0] + j * ss[1]];
	}
	return 0;
}

static const cask__map_ops_t mm_ops = {"matmul", mm_eval, mm_destroy};

/* 1 when a is the plain transpose of a 2-d array; *src is that array. */
static int is_transpose(const cask_array_t *a, cask_array_t **src)
{
	if (a->kind != N_VIEW || a->ndim != 2 || a->nin != 1 || a->in[0]->ndim != 2)
		return 0;
	const cask__vaxis_t *ax = a->u.view.ax;
	cask_array_t *s = a->in[0];
	if (ax[0].src != 1 || ax[1].src != 0 || ax[0].start != 0 || ax[1].start != 0 ||
	    ax[0].step != 1 || ax[1].step != 1 || s->shape[0] != a->shape[1] ||
	    s->shape[1] != a->shape[0])
		return 0;
	*src = s;
	return 1;
}

/* Tree reduction of A^T A (b NULL) or A^T B into an in-memory array. */
static int reduce_tn(cask_ctx_t *ctx, cask_array_t *a, cask_array_t *b, cask_array_t **out);

int cask_matmul(cask_ctx_t *ctx, cask_array_t *a, cask_array_t *b, cask_array_t **out)
{
	cask_array_t *ax = NULL, *bx = NULL, *b2 = NULL, *src = NULL, *r = NULL, *rr = NULL;
	cask_array_t *a2 = NULL;
	mm_t *mm = NULL;
	int rc = 0, vec = 0, avec = 0;
	ctx->msg[0] = '\0';
	if (a == NULL || b == NULL || out == NULL)
		return cask__error(ctx, CASK_EINVAL, "matmul: missing argument");
	if (a->ndim == 1) {
		/* NumPy: a 1-d left operand is a row vector, its axis dropped. */
		int64_t sh[2] = {1, a->shape[0]};
		if ((rc = cask_reshape(ctx, a, 2, sh, &a2)) != 0)
			return rc;
		a = a2;
		avec = 1;
	}
	if (b->ndim == 1) {
		int64_t sh[2] = {b->shape[0], 1};
		if ((rc = cask_reshape(ctx, b, 2, sh, &b2)) != 0)
			goto out;
		vec = 1;
	} else {
		b2 = cask_array_retain(b);
	}
	if (a->ndim != 2 || b2->ndim != 2) {
		rc = cask__error(ctx, CASK_ESHAPE, "matmul: operands must be 2-d (or b 1-d), got %d-d @ %d-d",
			a->ndim, b->ndim);
		goto out;
	}
	if (a->shape[1] != b2->shape[0]) {
		rc = cask__error(ctx, CASK_ESHAPE,
			"matmul: shapes (%lld,%lld) and (%lld,%lld) not aligned: %lld (dim 1) != %lld (dim 0)",
			(long long)a->shape[0], (long long)a->shape[1], (long long)b2->shape[0],
			(long long)b2->shape[1], (long long)a->shape[1], (long long)b2->shape[0]);
		goto out;
	}
	if (is_transpose(a, &src) && a->shape[1] > a->shape[0]) {
		/* X^T @ B with X tall: a reduction over X's row blocks. */
		rc = src == b2 ? reduce_tn(ctx, src, NULL, &r) : reduce_tn(ctx, src, b2, &r);
	} else {
		int64_t n = b2->shape[0], k = b2->shape[1];
		if ((rc = cask__la_prepare(ctx, a, "the left operand of @", &ax)) != 0 ||
		    (rc = cask__la_prepare(ctx, b2, "the right operand of @", &bx)) != 0)
			goto out;
		size_t bytes;
		if (cask__mul_size((size_t)n * sizeof(double), (size_t)k, &bytes) != 0 ||
		    bytes > cask_ctx_memory(ctx) / 4) {
			rc = cask__error(ctx, CASK_EBUDGET,
				"matmul: the right operand (%lld x %lld) is held in memory and must fit a quarter of the budget",
				(long long)n, (long long)k);
			goto out;
		}
		cask_array_t *b64 = NULL;
		if ((rc = cask_astype(ctx, bx, CASK_FLOAT64, &b64)) != 0)
			goto out;
		mm = calloc(1, sizeof *mm);
		if (mm == NULL || (mm->b = malloc(bytes > 0 ? bytes : 1)) == NULL) {
			cask_array_destroy(b64);
			rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
			goto out;
		}
		mm->n = n;
		mm->k = k;
		rc = n * k > 0 ? cask_compute(ctx, b64, mm->b, bytes) : 0;
		cask_array_destroy(b64);
		if (rc != 0)
			goto out;
		int64_t shape[2] = {ax->shape[0], k};
		cask_dtype_t dt = ax->dtype == CASK_FLOAT32 && bx->dtype == CASK_FLOAT32 ? CASK_FLOAT32
		                                                                       : CASK_FLOAT64;
		if ((rc = cask__array_new(ctx, N_MAP, dt, 2, shape, 1, &ax, &r)) != 0)
			goto out;
		r->u.map.ops = &mm_ops;
		r->u.map.state = mm;
		mm = NULL;
		r->chunks[0] = ax->chunks[0] < shape[0] ? ax->chunks[0] : (shape[0] > 0 ? shape[0] : 1);
		r->chunks[1] = k > 0 ? k : 1;
	}
	if (rc != 0)
		goto out;
	if (vec || avec) {
		int64_t sh[2];
		int nd = 0;
		if (!avec)
			sh[nd++] = r->shape[0];
		if (!vec)
			sh[nd++] = r->shape[1];
		if ((rc = cask_reshape(ctx, r, nd, sh, &rr)) != 0)
			goto out;
		cask_array_destroy(r);
		r = rr;
	}
	*out = r;
	r = NULL;
out:
	mm_destroy(mm);
	cask_array_destroy(r);
	cask_array_destroy(ax);
	cask_array_destroy(bx);
	cask_array_destroy(b2);
	cask_array_destroy(a2);
	return rc;
}

/* ------------------------------------------------------------ A^T B, A^T A */

typedef struct {
	cask_array_t *a, *b; /* b NULL: Gram, or A^T (A X) when x is set */
	const double *x;     /* A^T (A X): X, n x k row-major (borrowed) */
	double *y;           /* A^T (A X): Y = A X (m x k) is stored here if not NULL */
	int64_t m, n, k, L;
	int64_t sub;         /* A^T (A X): rows evaluated and multiplied at a time */
	size_t plan_a, plan_b, work, scr;
	cask__mats_t mats;
	char what[1200];
} tn_t;

static int tn_eval(const tn_t *t, cask_task_env_t *env, cask_array_t *x, int64_t r0,
	int64_t rows, void *buf, void *plan, size_t plan_bytes)
{
	int64_t start[2] = {r0, 0}, count[2] = {rows, x->shape[1]};
	void *outs[1] = {buf};
	char msg[CASK__MSG_MAX] = "";
	cask__tls_msg = msg;
	int rc = cask__eval_roots(cask__task_ctx(env), &t->mats, 1, &x, start, count, outs, plan,
		plan_bytes);
	cask__tls_msg = NULL;
	if (rc != 0)
		return cask_task_error(env, rc, "%s", msg);
	return 0;
}

/* A leaf's task scratch (sized in reduce_tn_x): t->sub rows of A, t->sub
 * rows of B or of Y (when b or x is set), the BLAS work, the evaluation plan. */
typedef struct {
	char *a;
	double *b;
	void *work, *plan;
} leaf_scr_t;

static int leaf_scratch(const tn_t *t, cask_task_env_t *env, leaf_scr_t *ls)
{
	char *s = cask_task_scratch(env, t->scr);
	if (s == NULL)
		return cask_task_error(env, CASK_EINTERNAL, "matmul: task scratch unavailable");
	ls->a = s;
	s += r64((size_t)(t->sub * t->n) * cask_dtype_size(t->a->dtype));
	ls->b = (double *)s;
	if (t->b != NULL || t->x != NULL)
		s += r64((size_t)(t->sub * t->k) * sizeof(double));
	ls->work = s;
	ls->plan = s + r64(t->work);
	return 0;
}

/* A^T (A X) over rows [r0, r0 + rows): t->sub rows at a time are read into
 * a small buffer (it stays in cache for the second product; the task never
 * touches more than a few MiB of fresh memory), Y_s = A_s X, Z += A_s^T Y_s. */
static int ata_leaf(const tn_t *t, cask_task_env_t *env, int64_t r0, int64_t rows, double *out)
{
	leaf_scr_t ls;
	if (leaf_scratch(t, env, &ls) != 0)
		return CASK_EINTERNAL;
	int rc = 0;
	for (int64_t s0 = 0; s0 < rows && rc == 0; s0 += t->sub) {
		int64_t sr = rows - s0 < t->sub ? rows - s0 : t->sub;
		if ((rc = tn_eval(t, env, t->a, r0 + s0, sr, ls.a, ls.plan, t->plan_a)) != 0)
			return rc;
		double *ys = t->y != NULL ? t->y + (r0 + s0) * t->k : ls.b;
		rc = cask__la_gemm_nn(sr, t->n, t->k, t->a->dtype, ls.a, t->n, t->x, t->k, 0.0, ys,
			t->k, ls.work);
		/* X is finite, so a non-finite row of Y is a row of A with a NaN
		 * or Inf (or with values whose products overflow). */
		for (int64_t i = 0; i < sr * t->k && rc == 0; i++)
			if (!isfinite(ys[i]))
				return cask_task_error(env, CASK_EINVAL,
					"%s: non-finite value (NaN or Inf) or overflow in row %lld; linear algebra needs finite input",
					t->what, (long long)(r0 + s0 + i / t->k));
		if (rc == 0)
			rc = cask__la_gemm_tn(sr, t->n, t->k, t->a->dtype, ls.a, t->n, ys, t->k, out, t->k,
				ls.work);
	}
	if (rc != 0)
		return cask_task_error(env, rc, "%s: BLAS failed on rows %lld..%lld (%s)", t->what,
			(long long)r0, (long long)(r0 + rows - 1), cask_strerror(rc));
	return 0;
}

static int tn_leaf(void *user, int64_t blk, const void *const *inputs, const size_t *ib,
	int ninputs, void *out, size_t out_bytes, cask_task_env_t *env)
{
	(void)inputs, (void)ib, (void)ninputs;
	const tn_t *t = user;
	int64_t r0 = blk * t->L, rows = t->m - r0 < t->L ? t->m - r0 : t->L;
	if (t->x != NULL) {
		memset(out, 0, out_bytes);
		return ata_leaf(t, env, r0, rows, out);
	}
	leaf_scr_t ls;
	if (leaf_scratch(t, env, &ls) != 0)
		return CASK_EINTERNAL;
	size_t pb = t->plan_a > t->plan_b ? t->plan_a : t->plan_b;
	int rc = tn_eval(t, env, t->a, r0, rows, ls.a, ls.plan, pb);
	if (rc == 0 && t->b != NULL)
		rc = tn_eval(t, env, t->b, r0, rows, ls.b, ls.plan, pb);
	if (rc != 0)
		return rc;
	memset(out, 0, out_bytes);
	if (t->b == NULL)
		rc = cask__la_gram(rows, t->n, t->a->dtype, ls.a, t->n, out, t->n, ls.work);
	else
		rc = cask__la_gemm_tn(rows, t->n, t->k, t->a->dtype, ls.a, t->n, ls.b, t->k, out,
			t->k, ls.work);
	if (rc != 0)
		return cask_task_error(env, rc, "%s: BLAS failed on rows %lld..%lld (%s)", t->what,
			(long long)r0, (long long)(r0 + rows - 1), cask_strerror(rc));
	return 0;
}

static int tn_fold(void *user, int64_t index, const void *const *inputs, const size_t *ib,
	int ninputs, void *out, size_t out_bytes, cask_task_env_t *env)
{
	(void)user, (void)index, (void)ib, (void)env;
	size_t nd = out_bytes / sizeof(double);
	double *o = out;
	memcpy(o, inputs[0], out_bytes);
	for (int i = 1; i < ninputs; i++) {
		const double *p = inputs[i];
		for (size_t j = 0; j < nd; j++)
			o[j] += p[j];
	}
	return 0;
}

/* Post-order tree over blocks [b0, b0 + nb). */
static int tn_tree(tn_t *t, cask_graph_t *g, int64_t b0, int64_t nb, size_t part, int64_t *root)
{
	int64_t ids[FANIN];
	int nk = 0, rc;
	if (nb == 1) {
		cask_task_spec_t s = {.fn = tn_leaf, .user = t, .index = b0, .out_bytes = part,
		                      .scratch_bytes = t->scr, .label = "matmul-tn-block"};
		return cask_graph_add(g, &s, root);
	}
	int64_t per = (nb + FANIN - 1) / FANIN;
	for (int64_t i = 0; i < nb; i += per) {
		int64_t c = nb - i < per ? nb - i : per;
		if ((rc = tn_tree(t, g, b0 + i, c, part, &ids[nk++])) != 0)
			return rc;
	}
	cask_task_spec_t s = {.fn = tn_fold, .user = t, .inputs = ids, .ninputs = nk,
	                      .out_bytes = part, .label = "matmul-tn-sum"};
	return cask_graph_add(g, &s, root);
}

static int reduce_tn_x(cask_ctx_t *ctx, cask_array_t *a, cask_array_t *b, const double *x,
	int64_t xk, double *y, cask_array_t **out)
{
	tn_t t;
	cask_graph_t *g = NULL;
	double *res = NULL;
	int rc;
	memset(&t, 0, sizeof t);
	t.x = x;
	t.y = y;
	if ((rc = cask__la_prepare(ctx, a, "A of A^T B", &t.a)) != 0)
		goto out;
	cask__la_describe(a, t.what, sizeof t.what);
	if (b != NULL) {
		cask_array_t *bp = NULL;
		if ((rc = cask__la_prepare(ctx, b, "B of A^T B", &bp)) != 0)
			goto out;
		rc = cask_astype(ctx, bp, CASK_FLOAT64, &t.b);
		cask_array_destroy(bp);
		if (rc != 0)
			goto out;
		if (t.b->shape[0] != t.a->shape[0]) {
			rc = cask__error(ctx, CASK_ESHAPE, "A^T B: A has %lld rows, B has %lld",
				(long long)t.a->shape[0], (long long)t.b->shape[0]);
			goto out;
		}
	}
	t.m = t.a->shape[0];
	t.n = t.a->shape[1];
	t.k = t.b != NULL ? t.b->shape[1] : x != NULL ? xk : t.n;
	size_t part;
	if (cask__mul_size((size_t)t.n * sizeof(double), (size_t)t.k, &part) != 0 ||
	    part > cask_ctx_memory(ctx) / 8) {
		rc = cask__error(ctx, CASK_EBUDGET,
			"A^T B: the %lld x %lld result is held in memory (one partial per tree level) and must fit an eighth of the budget",
			(long long)t.n, (long long)t.k);
		goto out;
	}
	if ((res = calloc(part > 0 ? part : 1, 1)) == NULL) {
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
		goto out;
	}
	if (t.m > 0 && t.n > 0 && t.k > 0) {
		/* Row blocks: A's row chunk, at least ~2048 rows, within the budget. */
		/* Bytes per row of a block: A's rows (and their float64 copy
		 * for float32), B's rows (and its evaluation). */
		size_t per_row = (size_t)t.n * (cask_dtype_size(t.a->dtype) +
		                                (t.a->dtype == CASK_FLOAT32 ? 8 : 0)) +
		                 (size_t)t.k * 16;
		/* A sixth of the budget per block whatever the thread count, so
		 * the blocks (hence the bits of the sum) do not depend on it; a
		 * chunk too tall is split into equal parts. */
		int64_t cap = (int64_t)(cask_ctx_memory(ctx) / 6 / per_row);
		int64_t c0 = t.a->chunks[0];
		if (cap < 1)
			cap = 1;
		t.L = c0 < 2048 ? c0 * ((2048 + c0 - 1) / c0) : c0;
		if (t.L > cap) {
			int64_t parts = (c0 + cap - 1) / cap;
			t.L = c0 <= cap ? c0 : (c0 + parts - 1) / parts;
			if (t.L > cap)
				t.L = cap;
		}
		if (t.L > t.m)
			t.L = t.m;
		int64_t nb = (t.m + t.L - 1) / t.L;
		/* A^T (A X) reads sub-row regions of the blocks (planned one by
		 * one: the caller keeps m x k in memory, so m is moderate). */
		t.sub = t.x != NULL ? (t.L < ATA_SUB ? t.L : ATA_SUB) : t.L;
		for (int64_t i = 0; t.x != NULL && i < t.m; i += t.sub) {
			int64_t b0 = i / t.L * t.L, bend = b0 + t.L < t.m ? b0 + t.L : t.m;
			int64_t st[2] = {i, 0}, ca[2] = {bend - i < t.sub ? bend - i : t.sub, t.n};
			size_t pa;
			if ((rc = cask__eval_plan(ctx, NULL, 1, &t.a, st, ca, &pa)) != 0)
				goto out;
			t.plan_a = pa > t.plan_a ? pa : t.plan_a;
			if (ca[0] < t.sub) /* a block's ragged end: realign on the next block */
				i = bend - t.sub;
		}
		for (int64_t i = 0; t.x == NULL && i < nb; i++) {
			int64_t r0 = i * t.L, rows = t.m - r0 < t.L ? t.m - r0 : t.L;
			int64_t st[2] = {r0, 0}, ca[2] = {rows, t.n}, cb[2] = {rows, t.k};
			size_t pa, pb = 0;
			if ((rc = cask__eval_plan(ctx, NULL, 1, &t.a, st, ca, &pa)) != 0 ||
			    (t.b != NULL && (rc = cask__eval_plan(ctx, NULL, 1, &t.b, st, cb, &pb)) != 0))
				goto out;
			t.plan_a = pa > t.plan_a ? pa : t.plan_a;
			t.plan_b = pb > t.plan_b ? pb : t.plan_b;
		}
		if ((rc = cask__la_gemm_work(t.sub, t.n, t.a->dtype, &t.work)) != 0) {
			rc = cask__error(ctx, rc, "A^T B: block too large");
			goto out;
		}
		t.scr = r64((size_t)(t.sub * t.n) * cask_dtype_size(t.a->dtype)) +
			(t.b != NULL || t.x != NULL ? r64((size_t)(t.sub * t.k) * sizeof(double)) : 0) +
			r64(t.work) + (t.plan_a > t.plan_b ? t.plan_a : t.plan_b);
		int64_t root;
		if ((rc = cask_graph_create(ctx, &g)) != 0 ||
		    (rc = tn_tree(&t, g, 0, nb, part, &root)) != 0)
			goto out;
		/* The root keeps its output: a pass-through fold if it is a leaf. */
		int64_t fin;
		cask_task_spec_t s = {.fn = tn_fold, .user = &t, .inputs = &root, .ninputs = 1,
		                      .out_bytes = part, .label = "matmul-tn-result", .keep = 1};
		if ((rc = cask_graph_add(g, &s, &fin)) != 0)
			goto out;
		openblas_set_num_threads(1);
		if ((rc = cask_graph_run(ctx, g)) != 0)
			goto out;
		size_t ob;
		const void *o = cask_graph_output(g, fin, &ob);
		if (o == NULL || ob < part) {
			rc = cask__error(ctx, CASK_EINTERNAL, "A^T B: result missing");
			goto out;
		}
		memcpy(res, o, part);
		if (t.b == NULL && t.x == NULL)
			cask__la_sym_fill(t.n, res, t.n);
	}
	rc = cask__la_owned_array(ctx, t.n, t.k, res, out);
	res = NULL;
out:
	cask_graph_destroy(g);
	free(res);
	cask_array_destroy(t.a);
	cask_array_destroy(t.b);
	return rc;
}

static int reduce_tn(cask_ctx_t *ctx, cask_array_t *a, cask_array_t *b, cask_array_t **out)
{
	return reduce_tn_x(ctx, a, b, NULL, 0, NULL, out);
}

int cask__la_ata_x(cask_ctx_t *ctx, cask_array_t *a, const double *x, int64_t l, double *y,
	cask_array_t **out)
{
	ctx->msg[0] = '\0';
	if (a == NULL || x == NULL || l < 1 || out == NULL)
		return cask__error(ctx, CASK_EINVAL, "A^T A X: missing argument");
	return reduce_tn_x(ctx, a, NULL, x, l, y, out);
}

int cask_gram(cask_ctx_t *ctx, cask_array_t *a, cask_array_t **out)
{
	ctx->msg[0] = '\0';
	if (a == NULL || out == NULL)
		return cask__error(ctx, CASK_EINVAL, "gram: missing argument");
	return reduce_tn(ctx, a, NULL, out);
}

int cask_matmul_tn(cask_ctx_t *ctx, cask_array_t *a, cask_array_t *b, cask_array_t **out)
{
	cask_array_t *b2 = NULL;
	int rc;
	ctx->msg[0] = '\0';
	if (a == NULL || b == NULL || out == NULL)
		return cask__error(ctx, CASK_EINVAL, "matmul_tn: missing argument");
	if (b->ndim == 1) {
		int64_t sh[2] = {b->shape[0], 1};
		if ((rc = cask_reshape(ctx, b, 2, sh, &b2)) != 0)
			return rc;
	} else {
		b2 = cask_array_retain(b);
	}
	cask_array_t *r = NULL, *r1 = NULL;
	rc = reduce_tn(ctx, a, b2, &r);
	if (rc == 0 && b->ndim == 1) {
		int64_t sh[1] = {r->shape[0]};
		rc = cask_reshape(ctx, r, 1, sh, &r1);
		cask_array_destroy(r);
		r = r1;
	}
	if (rc == 0)
		*out = r;
	cask_array_destroy(b2);
	return rc;
}
