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
 *    When that tree would hold more partials at once than the budget (many
 *    blocks, a large n x k), a leaf sums G consecutive blocks in order.
 *  - cask__la_ata_x: Z = A^T (A X) for a small X (n x l) in ONE pass over A,
 *    the same tree: a leaf reads its block 64 rows at a time into a small
 *    buffer, forms Y_s = A_s X and adds A_s^T Y_s while those rows are in
 *    cache (the power iterations of the randomized SVD); Y = A X can be
 *    kept as a by-product.
 *
 * Result types follow numpy.matmul: the result dtype is
 * cask_dtype_promote(a, b) (np.result_type).  Float results are computed
 * in float64 (dgemm / dsyrk, float32 blocks promoted on load) and rounded
 * once to float32 when that is the result type.  Integer and bool results
 * are computed EXACTLY: the operands are widened to int64 and multiplied
 * modulo 2^64 by kernels/gemm_i64.c, then truncated to the result type,
 * which gives NumPy's wraparound bits (bool: != 0, i.e. OR of ANDs).
 * Partials of the integer trees are int64 and are summed modulo 2^64.
 *
 * A product with an empty dimension (m, n or k = 0) is the zeros array of
 * the result shape, as in NumPy, without reading either operand.
 *
 * Operands may contain reductions (A @ mean(A, axis=0)): B is computed into
 * memory by cask_compute anyway; the lazy product's A is a node input, so
 * the planner materialises its reductions as for any expression; the
 * reduction trees of A^T B evaluate blocks themselves, so the reductions
 * inside A and B are computed into memory first (mm_mats_build) and handed
 * to every block evaluation.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "eval.h"
#include "kernels.h"
#include "la_graph.h"
#include "linalg.h"
#include "pool.h"

#define FANIN 8
#define ATA_SUB 64 /* rows per sub-block of A^T (A X) (bench: 64-128 best) */

static size_t r64(size_t b) { return (b + 63) & ~(size_t)63; }

/* ------------------------------------------------------------ owned buffer */

typedef struct {
	void *data; /* rows x cols of 8-byte elements (float64 or int64) */
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
	const char *src = (const char *)o->data + (start[0] * node->shape[1] + start[1]) * 8;
	cask_k_gather(2, count, 8, src, ss, out);
	return 0;
}

static const cask__map_ops_t owned_ops = {"buffer", owned_eval, owned_destroy};

/* An in-memory rows x cols array of dtype dt (CASK_FLOAT64 or CASK_INT64)
 * owning data (taken, also on failure). */
static int owned_new(cask_ctx_t *ctx, cask_dtype_t dt, int64_t rows, int64_t cols, void *data,
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
	int rc = cask__array_new(ctx, N_MAP, dt, 2, shape, 0, NULL, &a);
	if (rc != 0) {
		owned_destroy(o);
		return rc;
	}
	a->u.map.ops = &owned_ops;
	a->u.map.state = o;
	cask__default_chunks(2, shape, 8, (size_t)8 << 20, a->chunks);
	*out = a;
	return 0;
}

int cask__la_owned_array(cask_ctx_t *ctx, int64_t rows, int64_t cols, double *data,
	cask_array_t **out)
{
	return owned_new(ctx, CASK_FLOAT64, rows, cols, data, out);
}

/* ------------------------------------------------------------ operands */

/* 1 when products of dtype t are computed exactly in int64 (integers, bool). */
static int exact_int(cask_dtype_t t) { return !cask__dtype_is_float(t); }

/* A new reference to a as the dtype its product is computed in: int64 for
 * an integer or bool result (exact), else a itself when float32 or float64
 * (float32 blocks are promoted on load), else float64. */
static int mm_operand(cask_ctx_t *ctx, cask_array_t *a, cask_dtype_t res, cask_array_t **out)
{
	cask_dtype_t want = exact_int(res) ? CASK_INT64 : CASK_FLOAT64;
	if (a->dtype == want || (!exact_int(res) && a->dtype == CASK_FLOAT32)) {
		*out = cask_array_retain(a);
		return 0;
	}
	return cask_astype(ctx, a, want, out);
}

/* "(5,)", "(3,4)": a shape as NumPy prints it. */
static void fmt_shape(const cask_array_t *a, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	used += (size_t)snprintf(buf, len, "(");
	for (int d = 0; d < a->ndim && used < len; d++)
		used += (size_t)snprintf(buf + used, len - used, d == 0 ? "%lld" : ",%lld",
			(long long)a->shape[d]);
	if (used < len)
		snprintf(buf + used, len - used, a->ndim == 1 ? ",)" : ")");
}

/* What an operand reads, for messages: "f.h5:/A" or "an in-memory array". */
static void operand_name(const cask_array_t *a, char *buf, size_t len)
{
	cask__la_describe(a, buf, len);
	if (strcmp(buf, "the input array") == 0)
		snprintf(buf, len, "an in-memory array");
}

/* Error code rc with "matmul: <text> (left operand ..., right operand ...)". */
static int mm_error(cask_ctx_t *ctx, int rc, const cask_array_t *a, const cask_array_t *b,
	const char *text)
{
	char an[1200], bn[1200];
	operand_name(a, an, sizeof an);
	operand_name(b, bn, sizeof bn);
	return cask__error(ctx, rc, "matmul: %s (left operand %s, right operand %s)", text, an, bn);
}

/* ------------------------------------------------------------ lazy A @ B */

typedef struct {
	void *b;     /* n x k row-major: float64, or int64 when integer */
	int64_t n, k;
	int integer; /* exact int64 product (integer or bool result) */
	char what[2600]; /* "matmul of f.h5:/A by f.h5:/B", for messages */
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
	if (!mm->integer && cask__la_gemm_work(rows, n, a->dtype, &wb) != 0)
		return cask__error(cask__ev_ctx(e), CASK_EOVERFLOW, "%s: block too large", mm->what);
	void *abuf = cask__ev_alloc(e, (size_t)(rows * n) * es);
	void *cbuf = cask__ev_alloc(e, (size_t)(rows * k) * 8);
	void *work = cask__ev_alloc(e, wb);
	if (abuf == NULL || cbuf == NULL || work == NULL)
		return cask__error(cask__ev_ctx(e), CASK_EINTERNAL,
			"%s: task scratch exhausted (plan and run disagree)", mm->what);
	int64_t as[2] = {start[0], 0}, ac[2] = {rows, n}, ast[2] = {step[0], 1};
	int rc = cask__ev_region(e, a, as, ac, ast, abuf);
	if (rc != 0 || cask__ev_dry(e))
		return rc;
	cask_dtype_t cdt = mm->integer ? CASK_INT64 : CASK_FLOAT64;
	if (mm->integer) {
		cask_k_gemm_nn_i64(rows, n, k, abuf, n, mm->b, k, cbuf, k);
	} else {
		rc = cask__la_gemm_nn(rows, n, k, a->dtype, abuf, n, mm->b, k, 0.0, cbuf, k, work);
		if (rc != 0)
			return cask__error(cask__ev_ctx(e), rc, "%s: BLAS failed on rows %lld.. (%s)",
				mm->what, (long long)start[0], cask_strerror(rc));
	}
	/* Rounded (float32) or truncated (integers, bool) to the result type. */
	size_t os = cask_dtype_size(node->dtype);
	for (int64_t i = 0; i < rows; i++)
		cask_k_cast(count[1], cdt, (const char *)cbuf + (size_t)(i * k + start[1]) * 8, step[1],
			node->dtype, (char *)out + (size_t)(i * count[1]) * os);
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

/* Tree reduction of A^T A (b NULL) or A^T B into an in-memory array of
 * dtype res. */
static int reduce_tn(cask_ctx_t *ctx, cask_array_t *a, cask_array_t *b, cask_dtype_t res,
	cask_array_t **out);

/* The lazy a @ b of 2-d a (m x n) and b (n x k), result dtype res: b is
 * computed into memory now. */
static int mm_lazy(cask_ctx_t *ctx, cask_array_t *a, cask_array_t *b, cask_dtype_t res,
	cask_array_t **out)
{
	cask_array_t *ax = NULL, *bx = NULL, *r = NULL;
	mm_t *mm = NULL;
	int rc;
	int64_t n = b->shape[0], k = b->shape[1];
	size_t bytes;
	if (cask__mul_size((size_t)n * 8, (size_t)k, &bytes) != 0 ||
	    bytes > cask_ctx_memory(ctx) / 4) {
		char text[200];
		snprintf(text, sizeof text,
			"the right operand (%lld x %lld) is held in memory and must fit a quarter of the budget",
			(long long)n, (long long)k);
		return mm_error(ctx, CASK_EBUDGET, a, b, text);
	}
	if ((rc = mm_operand(ctx, a, res, &ax)) != 0)
		goto out;
	/* b in memory as float64, or int64 for an exact product. */
	if ((rc = cask_astype(ctx, b, exact_int(res) ? CASK_INT64 : CASK_FLOAT64, &bx)) != 0)
		goto out;
	mm = calloc(1, sizeof *mm);
	if (mm == NULL || (mm->b = malloc(bytes > 0 ? bytes : 1)) == NULL) {
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
		goto out;
	}
	mm->n = n;
	mm->k = k;
	mm->integer = exact_int(res);
	{
		char an[1200], bn[1200];
		operand_name(a, an, sizeof an);
		operand_name(b, bn, sizeof bn);
		snprintf(mm->what, sizeof mm->what, "matmul of %s by %s", an, bn);
	}
	if ((rc = cask_compute(ctx, bx, mm->b, bytes)) != 0)
		goto out;
	int64_t shape[2] = {ax->shape[0], k};
	if ((rc = cask__array_new(ctx, N_MAP, res, 2, shape, 1, &ax, &r)) != 0)
		goto out;
	r->u.map.ops = &mm_ops;
	r->u.map.state = mm;
	mm = NULL;
	/* Row blocks: A's row chunk, cut in equal parts of at most a sixth of
	 * the budget when a block of it would take more than a quarter (A's
	 * chunks are columns, (m, 1), or A is an expression of tall chunks):
	 * a block holds all n columns of its rows, their float64 copy, and
	 * its k columns of result. */
	int64_t c0 = ax->chunks[0] < shape[0] ? ax->chunks[0] : shape[0];
	size_t es = cask_dtype_size(ax->dtype);
	double per_row = (double)n * (double)(es + (ax->dtype == CASK_FLOAT32 ? 8 : 0)) +
		(double)k * 16.0;
	double mem = (double)cask_ctx_memory(ctx);
	/* ...unless the whole block's exact plan fits beside B anyway: a block
	 * of compressed (m, 1) chunks decodes every chunk whole, so each cut
	 * reads all of A once more (20,000 x 30 gzip at 12M: 4.6 -> 13.7 MiB
	 * read for nothing). */
	size_t whole = 0;
	int cut = (double)c0 * per_row > mem / 4;
	if (cut) {
		int64_t st[2] = {0, 0}, ct[2] = {c0, n};
		if ((rc = cask__eval_plan_ex(ctx, NULL, 1, &ax, st, ct, 0, &whole)) != 0)
			goto out;
		cut = (double)whole + (double)c0 * per_row > mem - (double)bytes;
	}
	if (cut) {
		int64_t cap = (int64_t)(mem / 6 / per_row);
		cap = cap < 1 ? 1 : cap;
		int64_t parts = (c0 + cap - 1) / cap;
		c0 = (c0 + parts - 1) / parts;
	}
	r->chunks[0] = c0 > 0 ? c0 : 1;
	r->chunks[1] = k;
	*out = r;
out:
	mm_destroy(mm);
	cask_array_destroy(ax);
	cask_array_destroy(bx);
	return rc;
}

int cask_matmul(cask_ctx_t *ctx, cask_array_t *a, cask_array_t *b, cask_array_t **out)
{
	cask_array_t *a2 = NULL, *b2 = NULL, *src = NULL, *r = NULL, *rr = NULL;
	int rc = CASK__CHECK_PTRS(ctx, ctx, a, b, out);
	if (rc != 0)
		return rc;
	ctx->msg[0] = '\0';
	char sa[200], sb[200], text[600];
	fmt_shape(a, sa, sizeof sa);
	fmt_shape(b, sb, sizeof sb);
	if (a->ndim == 0 || b->ndim == 0) {
		snprintf(text, sizeof text,
			"the %s operand is 0-d (a scalar): @ takes 1-d and 2-d operands; use * to scale",
			a->ndim == 0 ? "left" : "right");
		return mm_error(ctx, CASK_ESHAPE, a, b, text);
	}
	if (a->ndim > 2 || b->ndim > 2) {
		snprintf(text, sizeof text,
			"batched (stacked) products are not supported: shapes %s (%d-d) and %s (%d-d); @ takes 1-d and 2-d operands",
			sa, a->ndim, sb, b->ndim);
		return mm_error(ctx, CASK_ENOTSUP, a, b, text);
	}
	/* NumPy (numpy.dot's wording): the last axis of a meets the first of b. */
	int64_t n = a->shape[a->ndim - 1];
	if (n != b->shape[0]) {
		snprintf(text, sizeof text, "shapes %s and %s not aligned: %lld (dim %d) != %lld (dim 0)",
			sa, sb, (long long)n, a->ndim - 1, (long long)b->shape[0]);
		return mm_error(ctx, CASK_ESHAPE, a, b, text);
	}
	cask_dtype_t res = cask_dtype_promote(a->dtype, b->dtype);
	/* A 1-d left operand is a row vector and a 1-d right operand a column,
	 * their axis dropped from the result. */
	int64_t m = a->ndim == 2 ? a->shape[0] : 1, k = b->ndim == 2 ? b->shape[1] : 1;
	int64_t rs[2];
	int nd = 0;
	if (a->ndim == 2)
		rs[nd++] = m;
	if (b->ndim == 2)
		rs[nd++] = k;
	if (m == 0 || n == 0 || k == 0)
		return cask_array_zeros(ctx, res, nd, rs, NULL, out);
	int64_t sh_a[2] = {1, n}, sh_b[2] = {n, 1};
	cask__call_begin(ctx); /* b into memory, A^T b's tree: several graphs */
	if (a->ndim == 1)
		rc = cask_reshape(ctx, a, 2, sh_a, &a2);
	else
		a2 = cask_array_retain(a);
	if (rc == 0 && b->ndim == 1)
		rc = cask_reshape(ctx, b, 2, sh_b, &b2);
	else if (rc == 0)
		b2 = cask_array_retain(b);
	if (rc != 0)
		goto out;
	if (is_transpose(a2, &src) && a2->shape[1] > a2->shape[0]) {
		/* X^T @ B with X tall: a reduction over X's row blocks. */
		rc = reduce_tn(ctx, src, src == b2 ? NULL : b2, res, &r);
	} else {
		rc = mm_lazy(ctx, a2, b2, res, &r);
	}
	if (rc != 0)
		goto out;
	if (nd < 2) {
		if ((rc = cask_reshape(ctx, r, nd, rs, &rr)) != 0)
			goto out;
		cask_array_destroy(r);
		r = rr;
	}
	*out = r;
	r = NULL;
out:
	cask_array_destroy(r);
	cask_array_destroy(b2);
	cask_array_destroy(a2);
	cask__call_end(ctx);
	return rc;
}

/* ------------------------------------------------------------ A^T B, A^T A */

typedef struct {
	cask_array_t *a, *b; /* b NULL: Gram, or A^T (A X) when x is set */
	const double *x;     /* A^T (A X): X, n x k row-major (borrowed) */
	double *y;           /* A^T (A X): Y = A X (m x k) is stored here if not NULL */
	int64_t m, n, k, L;
	int64_t G;           /* blocks of L rows per leaf, summed in order (more
	                      * than 1 when the tree over single blocks would
	                      * hold more partials than the budget) */
	int64_t sub;         /* A^T (A X): rows multiplied at a time */
	int64_t arows;       /* rows of A evaluated at a time: sub, or a whole block
	                      * (L) when evaluating sub rows would re-read what lies
	                      * under them (a compressed chunk) once per sub-block */
	int integer;         /* exact int64 products and partials (integer or bool result) */
	size_t plan_a, plan_b, work, scr;
	cask__mats_t mats;   /* the reductions inside a and b, computed in memory */
	int nred, redcap;
	cask_array_t **red;  /* cask__direct_reds of a and b */
	void **red_data;
	char what[1200];
} tn_t;

/* Compute the reductions inside t->a and t->b (those not inside another
 * reduction) into memory and bind them to t->mats, so the blocks' region
 * evaluations (which run outside the planner) can read them.  Together
 * they must fit an eighth of the budget, like the tree's partials.  On
 * error what was computed stays in t (freed by mats_free). */
static int mats_build(cask_ctx_t *ctx, tn_t *t)
{
	int rc = cask__direct_reds(t->a, &t->nred, &t->red, &t->redcap, 0);
	if (rc == 0 && t->b != NULL)
		rc = cask__direct_reds(t->b, &t->nred, &t->red, &t->redcap, 0);
	if (rc == CASK_ENOMEM)
		return cask__error(ctx, rc, "out of memory");
	if (rc != 0)
		return cask__error(ctx, rc,
			"%s: the operands are nested too deeply: store them to a dataset first, then multiply",
			t->what);
	if (t->nred > 0 && (t->red_data = calloc((size_t)t->nred, sizeof *t->red_data)) == NULL)
		return cask__error(ctx, CASK_ENOMEM, "out of memory");
	size_t total = 0;
	for (int i = 0; i < t->nred; i++) {
		cask_array_t *r = t->red[i];
		size_t bytes = (size_t)cask_array_size(r) * cask_dtype_size(r->dtype);
		total += bytes;
		if (total > cask_ctx_memory(ctx) / 8)
			return cask__error(ctx, CASK_EBUDGET,
				"%s: the reductions inside the operands are held in memory (%zu bytes) and must fit an eighth of the budget: store them to a dataset first, then multiply",
				t->what, total);
	}
	for (int i = 0; i < t->nred; i++) {
		cask_array_t *r = t->red[i];
		size_t bytes = (size_t)cask_array_size(r) * cask_dtype_size(r->dtype);
		if ((t->red_data[i] = malloc(bytes > 0 ? bytes : 1)) == NULL)
			return cask__error(ctx, CASK_ENOMEM, "out of memory");
		if ((rc = cask_compute(ctx, r, t->red_data[i], bytes)) != 0)
			return rc;
	}
	t->mats.n = t->nred;
	t->mats.nodes = t->red;
	t->mats.data = (const void *const *)t->red_data;
	return 0;
}

static void mats_free(tn_t *t)
{
	for (int i = 0; i < t->nred && t->red_data != NULL; i++)
		free(t->red_data[i]);
	free(t->red_data);
	free(t->red);
}

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

/* A leaf's task scratch (sized in reduce_tn_x): t->arows rows of A, t->sub
 * rows of B or of Y (when b or x is set), the BLAS work, the evaluation plan. */
typedef struct {
	char *a;
	void *b; /* float64, or int64 for exact products */
	void *work, *plan;
} leaf_scr_t;

static int leaf_scratch(const tn_t *t, cask_task_env_t *env, leaf_scr_t *ls)
{
	char *s = cask_task_scratch(env, t->scr);
	if (s == NULL)
		return cask_task_error(env, CASK_EINTERNAL, "matmul: task scratch unavailable");
	ls->a = s;
	s += r64((size_t)(t->arows * t->n) * cask_dtype_size(t->a->dtype));
	ls->b = s;
	if (t->b != NULL || t->x != NULL)
		s += r64((size_t)(t->sub * t->k) * 8);
	ls->work = s;
	ls->plan = s + r64(t->work);
	return 0;
}

/* A^T (A X) over rows [r0, r0 + rows): t->sub rows at a time are read into
 * a small buffer (it stays in cache for the second product; the task never
 * touches more than a few MiB of fresh memory), Y_s = A_s X, Z += A_s^T Y_s.
 * When t->arows is the block, the block is read at once and the sub-blocks
 * taken from it. */
static int ata_leaf(const tn_t *t, cask_task_env_t *env, const leaf_scr_t *lsp, int64_t r0,
	int64_t rows, double *out)
{
	leaf_scr_t ls = *lsp;
	int rc = 0;
	int whole = t->arows > t->sub;
	size_t rowb = (size_t)t->n * cask_dtype_size(t->a->dtype);
	if (whole && (rc = tn_eval(t, env, t->a, r0, rows, ls.a, ls.plan, t->plan_a)) != 0)
		return rc;
	for (int64_t s0 = 0; s0 < rows && rc == 0; s0 += t->sub) {
		int64_t sr = rows - s0 < t->sub ? rows - s0 : t->sub;
		const char *as = whole ? ls.a + (size_t)s0 * rowb : ls.a;
		if (!whole && (rc = tn_eval(t, env, t->a, r0 + s0, sr, ls.a, ls.plan, t->plan_a)) != 0)
			return rc;
		double *ys = t->y != NULL ? t->y + (r0 + s0) * t->k : (double *)ls.b;
		rc = cask__la_gemm_nn(sr, t->n, t->k, t->a->dtype, as, t->n, t->x, t->k, 0.0, ys,
			t->k, ls.work);
		/* X is finite, so a non-finite row of Y is a row of A with a NaN
		 * or Inf (or with values whose products overflow). */
		for (int64_t i = 0; i < sr * t->k && rc == 0; i++)
			if (!isfinite(ys[i]))
				return cask_task_error(env, CASK_EINVAL,
					"%s: non-finite value (NaN or Inf) or overflow in row %lld; linear algebra needs finite input",
					t->what, (long long)(r0 + s0 + i / t->k));
		if (rc == 0)
			rc = cask__la_gemm_tn(sr, t->n, t->k, t->a->dtype, as, t->n, ys, t->k, out, t->k,
				ls.work);
	}
	if (rc != 0)
		return cask_task_error(env, rc, "%s: BLAS failed on rows %lld..%lld (%s)", t->what,
			(long long)r0, (long long)(r0 + rows - 1), cask_strerror(rc));
	return 0;
}

/* Adds block blk's A^T B (A^T A) to out. */
static int tn_block(const tn_t *t, cask_task_env_t *env, const leaf_scr_t *lsp, int64_t blk,
	void *out)
{
	int64_t r0 = blk * t->L, rows = t->m - r0 < t->L ? t->m - r0 : t->L;
	if (t->x != NULL)
		return ata_leaf(t, env, lsp, r0, rows, out);
	leaf_scr_t ls = *lsp;
	size_t pb = t->plan_a > t->plan_b ? t->plan_a : t->plan_b;
	int rc = tn_eval(t, env, t->a, r0, rows, ls.a, ls.plan, pb);
	if (rc == 0 && t->b != NULL)
		rc = tn_eval(t, env, t->b, r0, rows, ls.b, ls.plan, pb);
	if (rc != 0)
		return rc;
	if (t->integer) {
		/* Exact: the full n x k (Gram: n x n) product, no symmetric fill. */
		const int64_t *bb = t->b != NULL ? ls.b : (const int64_t *)ls.a;
		cask_k_gemm_tn_i64(rows, t->n, t->k, (const int64_t *)ls.a, t->n, bb, t->k, out, t->k);
		return 0;
	}
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

/* Leaf: the sum of blocks leaf * G .. leaf * G + G - 1, in order. */
static int tn_leaf(void *user, int64_t leaf, const void *const *inputs, const size_t *ib,
	int ninputs, void *out, size_t out_bytes, cask_task_env_t *env)
{
	(void)inputs, (void)ib, (void)ninputs;
	const tn_t *t = user;
	int64_t nb = (t->m + t->L - 1) / t->L;
	leaf_scr_t ls = {0};
	if (leaf_scratch(t, env, &ls) != 0)
		return CASK_EINTERNAL;
	int rc = 0;
	memset(out, 0, out_bytes);
	for (int64_t b = leaf * t->G; b < (leaf + 1) * t->G && b < nb && rc == 0; b++)
		rc = tn_block(t, env, &ls, b, out);
	return rc;
}

static int tn_fold(void *user, int64_t index, const void *const *inputs, const size_t *ib,
	int ninputs, void *out, size_t out_bytes, cask_task_env_t *env)
{
	(void)index, (void)ib, (void)env;
	const tn_t *t = user;
	size_t nd = out_bytes / 8;
	memcpy(out, inputs[0], out_bytes);
	for (int i = 1; i < ninputs; i++) {
		if (t->integer) {
			/* int64 partials, summed modulo 2^64 (see the top of the file). */
			uint64_t *o = out;
			const uint64_t *p = inputs[i];
			for (size_t j = 0; j < nd; j++)
				o[j] += p[j];
		} else {
			double *o = out;
			const double *p = inputs[i];
			for (size_t j = 0; j < nd; j++)
				o[j] += p[j];
		}
	}
	return 0;
}

/* The bytes tn_tree's tree over nb leaves holds at its peak when run in
 * the scheduler's post-order on one thread: while a child runs, the
 * outputs of its finished elder siblings wait; a fold holds its inputs and
 * its output. */
static double tn_tree_peak(int64_t nb, double part, double scr)
{
	if (nb == 1)
		return part + scr;
	int64_t per = (nb + FANIN - 1) / FANIN, nk = 0;
	double peak = 0.0;
	for (int64_t i = 0; i < nb; i += per, nk++) {
		double p = (double)nk * part + tn_tree_peak(nb - i < per ? nb - i : per, part, scr);
		peak = p > peak ? p : peak;
	}
	double fold = (double)(nk + 1) * part;
	return fold > peak ? fold : peak;
}

/* Post-order tree over leaves [b0, b0 + nb). */
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

/* The reduction A^T B (b NULL: A^T A; x set: A^T (A X)) of 2-d a and b,
 * as an in-memory n x k array of dtype res (float64 for A^T (A X)). */
static int reduce_tn_x(cask_ctx_t *ctx, cask_array_t *a, cask_array_t *b, const double *x,
	int64_t xk, double *y, cask_dtype_t res, cask_array_t **out)
{
	tn_t t;
	cask_graph_t *g = NULL;
	cask_array_t *own = NULL;
	void *res_data = NULL;
	int rc;
	memset(&t, 0, sizeof t);
	t.x = x;
	t.y = y;
	t.integer = exact_int(res);
	if (b == NULL && x == NULL && a->ndim != 2) {
		char an[1200];
		operand_name(a, an, sizeof an);
		rc = cask__error(ctx, CASK_ESHAPE, "gram: A^T A needs a 2-d A, got %d-d (%s)", a->ndim,
			an);
		goto out;
	}
	if (a->ndim != 2 || (b != NULL && b->ndim != 2)) {
		char text[200];
		snprintf(text, sizeof text, "A^T B: A and B must be 2-d, got %d-d and %d-d", a->ndim,
			b != NULL ? b->ndim : 2);
		rc = b != NULL ? mm_error(ctx, CASK_ESHAPE, a, b, text) :
			cask__error(ctx, CASK_ESHAPE, "%s", text);
		goto out;
	}
	if (b != NULL && b->shape[0] != a->shape[0]) {
		rc = mm_error(ctx, CASK_ESHAPE, a, b, "A^T B: A and B have different numbers of rows");
		goto out;
	}
	if ((rc = mm_operand(ctx, a, res, &t.a)) != 0)
		goto out;
	cask__la_describe(a, t.what, sizeof t.what);
	if (b != NULL &&
	    (rc = cask_astype(ctx, b, t.integer ? CASK_INT64 : CASK_FLOAT64, &t.b)) != 0)
		goto out;
	if ((rc = mats_build(ctx, &t)) != 0)
		goto out;
	t.m = t.a->shape[0];
	t.n = t.a->shape[1];
	t.k = t.b != NULL ? t.b->shape[1] : x != NULL ? xk : t.n;
	size_t part;
	if (cask__mul_size((size_t)t.n * sizeof(double), (size_t)t.k, &part) != 0 ||
	    part > cask_ctx_memory(ctx) / 8) {
		rc = cask__error(ctx, CASK_EBUDGET,
			"%s: the %lld x %lld product A^T B is held in memory (one partial per tree level) and must fit an eighth of the budget",
			t.what, (long long)t.n, (long long)t.k);
		goto out;
	}
	if ((res_data = calloc(part > 0 ? part : 1, 1)) == NULL) {
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
			/* whole chunks while they fit (rows of a wide matrix, one per
			 * chunk: as many as fit, not one per block) */
			int64_t parts = (c0 + cap - 1) / cap;
			t.L = c0 <= cap ? c0 * (cap / c0) : (c0 + parts - 1) / parts;
			if (t.L > cap)
				t.L = cap;
		}
		if (t.L > t.m)
			t.L = t.m;
		int64_t nb = (t.m + t.L - 1) / t.L;
		/* A^T (A X) reads sub-row regions of the blocks (planned one by
		 * one: the caller keeps m x k in memory, so m is moderate). */
		t.sub = t.x != NULL ? (t.L < ATA_SUB ? t.L : ATA_SUB) : t.L;
		size_t sub_exact = 0; /* what the sub-blocks' reads really stage */
		for (int64_t i = 0; t.x != NULL && i < t.m; i += t.sub) {
			int64_t b0 = i / t.L * t.L, bend = b0 + t.L < t.m ? b0 + t.L : t.m;
			int64_t st[2] = {i, 0}, ca[2] = {bend - i < t.sub ? bend - i : t.sub, t.n};
			size_t pa, pe;
			if ((rc = cask__eval_plan(ctx, &t.mats, 1, &t.a, st, ca, &pa)) != 0 ||
			    (rc = cask__eval_plan_ex(ctx, &t.mats, 1, &t.a, st, ca, 0, &pe)) != 0)
				goto out;
			t.plan_a = pa > t.plan_a ? pa : t.plan_a;
			sub_exact = pe > sub_exact ? pe : sub_exact;
			if (ca[0] < t.sub) /* a block's ragged end: realign on the next block */
				i = bend - t.sub;
		}
		t.arows = t.sub;
		if (t.x != NULL && t.L > t.sub) {
			/* A region of sub rows of a compressed chunk decodes the whole
			 * chunk: sub-blocks read one by one would decode it L / sub
			 * times (x300 for 20,000-row chunks).  Read whole blocks
			 * instead when the sub-blocks' staging adds up to more than
			 * four times what a block costs (its plan and rows). */
			size_t plan_blk = 0;
			for (int64_t i = 0; i < nb; i++) {
				int64_t r0 = i * t.L, rows = t.m - r0 < t.L ? t.m - r0 : t.L;
				int64_t st[2] = {r0, 0}, ca[2] = {rows, t.n};
				size_t pa;
				if ((rc = cask__eval_plan(ctx, &t.mats, 1, &t.a, st, ca, &pa)) != 0)
					goto out;
				plan_blk = pa > plan_blk ? pa : plan_blk;
			}
			double nsub = (double)((t.L + t.sub - 1) / t.sub);
			double blk = (double)plan_blk +
				(double)t.L * (double)t.n * (double)cask_dtype_size(t.a->dtype);
			/* Exact plans: an unfiltered chunk cut by sub-blocks is read as
			 * hyperslabs with no staging (W6b: whole blocks there took 88 ->
			 * 208 MiB of RSS for nothing). */
			if (nsub * (double)sub_exact > 4.0 * blk) {
				t.arows = t.L;
				t.plan_a = plan_blk;
			}
		}
		for (int64_t i = 0; t.x == NULL && i < nb; i++) {
			int64_t r0 = i * t.L, rows = t.m - r0 < t.L ? t.m - r0 : t.L;
			int64_t st[2] = {r0, 0}, ca[2] = {rows, t.n}, cb[2] = {rows, t.k};
			size_t pa, pb = 0;
			/* Exact plans: these are the very regions the leaves read (an
			 * unfiltered chunk cut by a block stages nothing). */
			if ((rc = cask__eval_plan_ex(ctx, &t.mats, 1, &t.a, st, ca, 0, &pa)) != 0 ||
			    (t.b != NULL &&
			     (rc = cask__eval_plan_ex(ctx, &t.mats, 1, &t.b, st, cb, 0, &pb)) != 0))
				goto out;
			t.plan_a = pa > t.plan_a ? pa : t.plan_a;
			t.plan_b = pb > t.plan_b ? pb : t.plan_b;
		}
		if (!t.integer && (rc = cask__la_gemm_work(t.sub, t.n, t.a->dtype, &t.work)) != 0) {
			rc = cask__error(ctx, rc, "%s: A^T B: block too large", t.what);
			goto out;
		}
		t.scr = r64((size_t)(t.arows * t.n) * cask_dtype_size(t.a->dtype)) +
			(t.b != NULL || t.x != NULL ? r64((size_t)(t.sub * t.k) * sizeof(double)) : 0) +
			r64(t.work) + (t.plan_a > t.plan_b ? t.plan_a : t.plan_b);
		/* Blocks per leaf: one, unless the tree over single blocks holds
		 * more partials at once than the budget (many row blocks and an
		 * n x k within an eighth of it); then as many as needed, summed in
		 * order inside the leaf (the root's pass-through keeps two). */
		t.G = 1;
		/* what the scheduler will find held: kept outputs of earlier
		 * graphs (the randomized SVD's sketches), chunk caches */
		double held = (double)cask__io_cache_bytes() +
			(ctx->pool != NULL ? (double)cask__pool_in_use(ctx->pool) : 0.0);
		double mem = (double)cask_ctx_memory(ctx) - held;
		double rp = (double)cask__pool_round(part), rs = (double)cask__pool_round(t.scr);
		while (t.G < nb && tn_tree_peak((nb + t.G - 1) / t.G, rp, rs) > mem)
			t.G *= 2;
		int64_t root;
		if ((rc = cask_graph_create(ctx, &g)) != 0 ||
		    (rc = tn_tree(&t, g, 0, (nb + t.G - 1) / t.G, part, &root)) != 0)
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
		memcpy(res_data, o, part);
		if (t.b == NULL && t.x == NULL && !t.integer)
			cask__la_sym_fill(t.n, res_data, t.n);
	}
	rc = owned_new(ctx, t.integer ? CASK_INT64 : CASK_FLOAT64, t.n, t.k, res_data, &own);
	res_data = NULL;
	if (rc != 0)
		goto out;
	/* Rounded to float32, or truncated to a narrower integer or bool. */
	if (own->dtype != res) {
		rc = cask_astype(ctx, own, res, out);
	} else {
		*out = own;
		own = NULL;
	}
out:
	cask_graph_destroy(g);
	free(res_data);
	mats_free(&t);
	cask_array_destroy(own);
	cask_array_destroy(t.a);
	cask_array_destroy(t.b);
	return rc;
}

static int reduce_tn(cask_ctx_t *ctx, cask_array_t *a, cask_array_t *b, cask_dtype_t res,
	cask_array_t **out)
{
	return reduce_tn_x(ctx, a, b, NULL, 0, NULL, res, out);
}

int cask__la_ata_x(cask_ctx_t *ctx, cask_array_t *a, const double *x, int64_t l, double *y,
	cask_array_t **out)
{
	ctx->msg[0] = '\0';
	if (a == NULL || x == NULL || l < 1 || out == NULL)
		return cask__error(ctx, CASK_EINVAL, "A^T A X: missing argument");
	if (a->ndim != 2 || !cask__dtype_is_float(a->dtype))
		return cask__error(ctx, CASK_EINVAL, "A^T A X: A must be a 2-d float array");
	return reduce_tn_x(ctx, a, NULL, x, l, y, CASK_FLOAT64, out);
}

int cask_gram(cask_ctx_t *ctx, cask_array_t *a, cask_array_t **out)
{
	int rc = CASK__CHECK_PTRS(ctx, ctx, a, out);
	if (rc != 0)
		return rc;
	ctx->msg[0] = '\0';
	cask__call_begin(ctx);
	rc = reduce_tn(ctx, a, NULL, a->dtype, out);
	cask__call_end(ctx);
	return rc;
}

int cask_matmul_tn(cask_ctx_t *ctx, cask_array_t *a, cask_array_t *b, cask_array_t **out)
{
	cask_array_t *b2 = NULL;
	int rc = CASK__CHECK_PTRS(ctx, ctx, a, b, out);
	if (rc != 0)
		return rc;
	ctx->msg[0] = '\0';
	if (b->ndim == 1) {
		int64_t sh[2] = {b->shape[0], 1};
		if ((rc = cask_reshape(ctx, b, 2, sh, &b2)) != 0)
			return rc;
	} else {
		b2 = cask_array_retain(b);
	}
	cask_array_t *r = NULL, *r1 = NULL;
	cask__call_begin(ctx);
	rc = reduce_tn(ctx, a, b2, cask_dtype_promote(a->dtype, b->dtype), &r);
	cask__call_end(ctx);
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
