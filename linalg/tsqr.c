/*
 * tsqr.c - out-of-core tall-skinny QR (TSQR) as a task graph, and the
 * public cask_tsqr and cask_lstsq on top of it.  The same engine runs the
 * exact SVD (svd.c): only the root task and the pass-2 target differ.
 *
 * The graph follows the blueprint of tsqr_mem.c (read its header comment)
 * with the in-memory buffers replaced by task outputs:
 *
 *   leaf1[k]   (no inputs)   evaluate rows [r0, r0 + rows) of A (full
 *              width, whatever A's column chunks) and, for least squares,
 *              of b; cask__la_tsqr_leaf_r over sub-blocks of sb rows.
 *              Output [R | c | rnrm] (n*n + n*nrhs + nrhs doubles).
 *   fold[N]    inputs: the F children's [R | c | rnrm]; cask__la_tsqr_fold.
 *              Output [R | c | rnrm] plus, when pass 2 runs, the tree
 *              factors [V_1 .. V_{F-1} | T] kept for it.
 *   root       input: the root node's output; R with diag >= 0 and signs,
 *              the SVD of the house R, or the triangular solve.  Output
 *              kept after the run: [R | sign | Y | s | vt | x | rnorm |
 *              rank].
 *   apply[N]   (pass 2) inputs: fold[N] (V, T) and the node's Y; output
 *              the F children's Y (cask__la_tsqr_fold_apply).
 *   leaf2[k]   (pass 2) input: the leaf's Y; re-evaluates the leaf's rows
 *              of A, cask__la_tsqr_leaf_q, writes Q (or U) rows to the sink.
 *
 * Invariants:
 *  1. Leaves are row ranges of height L (the last one absorbs a tail of
 *     fewer than n rows; L from the chunks, the cache and the budget in
 *     choose_blocks, never the thread count), split into about equal
 *     sub-blocks of at most sb rows (leaf_split) exactly the same way in
 *     both passes, so pass 2 recomputes pass 1's bits.
 *  2. The tree has a fixed shape and every fold combines its children in
 *     index order: R does not depend on the schedule or thread count.
 *  3. Tasks are added in post-order (pass 1) and pre-order (pass 2), so
 *     the scheduler's id order finishes a subtree before starting the
 *     next: live tree factors stay a few nodes per level.
 *  4. Every task declares its scratch: the evaluation plan of its region
 *     plus the kernel workspace, so the budget bounds the run.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "eval.h"
#include "la_graph.h"
#include "linalg.h"

typedef struct {
	int64_t first, nch; /* children (at the level below) */
	int64_t rtask;      /* task whose output starts with this node's R */
	int64_t ytask;      /* pass 2: task holding this node's Y ... */
	size_t yoff;        /* ... at this double offset */
} node_t;

typedef struct {
	cask_ctx_t *ctx;
	const cask__la_tsqr_req_t *req;
	int mode, pass2, keepvt, spill;
	int spill_fd;                 /* spill: the tree factors' scratch file */
	size_t spill_bytes;           /* spill: bytes per fold node in it */
	int64_t m, n, nrhs, ib, fanin;
	cask_dtype_t dt, qdt;
	size_t es, qes;
	int64_t L, sb, lmax, nleaves, nnodes, nlevels;
	int64_t level_off[68];
	node_t *nodes;
	size_t plan_bytes;            /* eval scratch of the largest leaf region */
	size_t work1, work2, workf;   /* kernel workspaces */
	size_t scr1, scr2, scrf, scra, scrr;
	cask__mats_t mats;
	int ncache;                   /* inputs given a chunk cache for the run */
	cask__h5in_t *cache_in[16];
} eng_t;

/* Offsets (doubles) of a root output. */
typedef struct {
	size_t r, sign, y, s, vt, x, rnorm, rank, total;
} root_layout_t;

static size_t r64(size_t b) { return (b + 63) & ~(size_t)63; }

static void root_layout(const eng_t *e, root_layout_t *l)
{
	size_t nn = (size_t)(e->n * e->n), n = (size_t)e->n, nr = (size_t)e->nrhs;
	l->r = 0;
	l->sign = nn;
	l->y = l->sign + n;
	l->s = l->y + nn;
	l->vt = l->s + n;
	l->x = l->vt + nn;
	l->rnorm = l->x + n * nr;
	l->rank = l->rnorm + nr;
	l->total = l->rank + 1;
}

static size_t leaf_out_doubles(const eng_t *e)
{
	return (size_t)(e->n * e->n + e->n * e->nrhs + e->nrhs);
}

/* The tree factors of a fold of nch children: nch - 1 V (n x n) and T
 * (ib x n), in doubles. */
static size_t vt_doubles(const eng_t *e, int64_t nch)
{
	return (size_t)((nch - 1) * (e->n * e->n + e->ib * e->n));
}

static size_t fold_out_doubles(const eng_t *e, int64_t nch)
{
	return leaf_out_doubles(e) + (e->keepvt ? vt_doubles(e, nch) : 0);
}

/* Write (wr) or read back fold node's nch - 1 tree factors at vt to or from
 * the scratch file (spill mode): 0, or the task's error. */
static int spill_io(const eng_t *e, cask_task_env_t *env, int64_t node, int64_t nch, double *vt,
	int wr)
{
	char msg[CASK__MSG_MAX] = "";
	uint64_t off = (uint64_t)(node - e->nleaves) * e->spill_bytes;
	size_t bytes = vt_doubles(e, nch) * sizeof(double);
	cask_ctx_t *ctx = cask__task_ctx(env);
	cask__tls_msg = msg;
	int rc = wr ? cask__io_scratch_write(ctx, e->spill_fd, off, vt, bytes)
	            : cask__io_scratch_read(ctx, e->spill_fd, off, vt, bytes);
	cask__tls_msg = NULL;
	return rc == 0 ? 0 : cask_task_error(env, rc, "%s: TSQR tree factors: %s", e->req->what, msg);
}

static void leaf_range(const eng_t *e, int64_t k, int64_t *r0, int64_t *rows)
{
	*r0 = k * e->L;
	int64_t end = k == e->nleaves - 1 ? e->m : (k + 1) * e->L;
	*rows = end - *r0;
}

/* Sub-blocks of a leaf of `rows` rows: count and the row count of each.
 * As many as blocks of sb rows need, made about equal (a whole number of
 * 8 rows, the last one shorter), so that no sliver of a block runs at the
 * kernels' poor small-block rate; sb itself when that would put fewer than
 * n rows in the first one. */
static int64_t leaf_split(const eng_t *e, int64_t rows, int64_t *r)
{
	int64_t h = e->sb, nb = (rows + e->sb - 1) / e->sb;
	if (nb > 1) {
		int64_t even = ((rows + nb - 1) / nb + 7) / 8 * 8;
		if (even >= e->n && even < e->sb)
			h = even;
	}
	nb = (rows + h - 1) / h;
	if (r != NULL)
		for (int64_t i = 0; i < nb; i++)
			r[i] = rows - i * h < h ? rows - i * h : h;
	return nb;
}

/* The first element of the row-major rows x cols block p (float32 or
 * float64; other dtypes hold no NaN) that is NaN or Inf, as its row and
 * column: 1, or 0 when there is none. */
static int find_nonfinite(const void *p, cask_dtype_t dt, int64_t rows, int64_t cols, int64_t *row,
	int64_t *col)
{
	if (p == NULL || (dt != CASK_FLOAT32 && dt != CASK_FLOAT64))
		return 0;
	for (int64_t i = 0; i < rows * cols; i++) {
		double v = dt == CASK_FLOAT64 ? ((const double *)p)[i] : ((const float *)p)[i];
		if (!isfinite(v)) {
			*row = i / cols;
			*col = i % cols;
			return 1;
		}
	}
	return 0;
}

/* Report a block kernel's failure on the leaf rows [r0, r0 + rows), whose
 * values are in a (A's dtype) and b (the right-hand sides, doubles, or
 * NULL): a non-finite value by its row and column once found there (the
 * kernels only see that a block holds one), else by the leaf's rows. */
static int kernel_error(const eng_t *e, cask_task_env_t *env, int rc, int64_t r0, int64_t rows,
	const void *a, const double *b)
{
	int64_t i = 0, j = 0;
	int tr = e->req->a_trans;
	if (rc == CASK_EINVAL && find_nonfinite(a, e->dt, rows, e->n, &i, &j))
		return cask_task_error(env, rc,
			"%s: non-finite value (NaN or Inf) at row %lld, column %lld; linear algebra needs "
			"finite input", e->req->what, (long long)(tr ? j : r0 + i),
			(long long)(tr ? r0 + i : j));
	if (rc == CASK_EINVAL && find_nonfinite(b, CASK_FLOAT64, rows, e->nrhs, &i, &j)) {
		char bw[1200], col[48] = "";
		if (e->req->b->ndim == 2 && e->req->b->shape[1] > 1)
			snprintf(col, sizeof col, ", column %lld", (long long)j);
		cask__la_describe(e->req->b, bw, sizeof bw);
		return cask_task_error(env, rc,
			"%s: non-finite value (NaN or Inf) at row %lld%s of the right-hand side; linear "
			"algebra needs finite input", bw, (long long)(r0 + i), col);
	}
	if (rc == CASK_EINVAL)
		return cask_task_error(env, rc,
			"%s: non-finite value (NaN or Inf) or overflow in %s %lld..%lld; linear algebra "
			"needs finite input", e->req->what, tr ? "columns" : "rows", (long long)r0,
			(long long)(r0 + rows - 1));
	return cask_task_error(env, rc, "%s: LAPACK failed on rows %lld..%lld (%s)", e->req->what,
		(long long)r0, (long long)(r0 + rows - 1), cask_strerror(rc));
}

/* Evaluate rows [r0, r0 + rows) of x (full width) into buf. */
static int eval_rows(const eng_t *e, cask_task_env_t *env, cask_array_t *x, int64_t r0,
	int64_t rows, void *buf, void *plan)
{
	int64_t start[2] = {r0, 0}, count[2] = {rows, x->shape[1]};
	void *outs[1] = {buf};
	char msg[CASK__MSG_MAX] = "";
	cask__tls_msg = msg;
	int rc = cask__eval_roots(cask__task_ctx(env), &e->mats, 1, &x, start, count, outs, plan,
		e->plan_bytes);
	cask__tls_msg = NULL;
	if (rc != 0)
		return cask_task_error(env, rc, "%s", msg);
	return 0;
}

/* ------------------------------------------------------------ task bodies */

static int leaf1_task(void *user, int64_t k, const void *const *inputs, const size_t *ib,
	int ninputs, void *out, size_t out_bytes, cask_task_env_t *env)
{
	(void)inputs, (void)ib, (void)ninputs, (void)out_bytes;
	const eng_t *e = user;
	int64_t r0, rows, n = e->n, nrhs = e->nrhs;
	leaf_range(e, k, &r0, &rows);
	int64_t nb = leaf_split(e, rows, NULL);
	char *s = cask_task_scratch(env, e->scr1);
	if (s == NULL)
		return cask_task_error(env, CASK_EINTERNAL, "tsqr: task scratch unavailable");
	char *abuf = s;
	s += r64((size_t)(e->lmax * n) * e->es);
	double *bbuf = (double *)s;
	s += r64((size_t)(e->lmax * nrhs) * sizeof(double));
	int64_t *rw = (int64_t *)s, *lda = rw + nb, *ldb = lda + nb;
	const void **ap = (const void **)(ldb + nb);
	const double **bp = (const double **)(ap + nb);
	s += r64((size_t)nb * 5 * 8);
	void *work = s;
	s += r64(e->work1);
	int rc = eval_rows(e, env, e->req->a, r0, rows, abuf, s);
	if (rc == 0 && nrhs > 0)
		rc = eval_rows(e, env, e->req->b, r0, rows, bbuf, s);
	if (rc != 0)
		return rc;
	leaf_split(e, rows, rw);
	for (int64_t i = 0; i < nb; i++) {
		ap[i] = abuf + (size_t)(i * rw[0] * n) * e->es;
		lda[i] = n;
		bp[i] = bbuf + i * rw[0] * nrhs;
		ldb[i] = nrhs;
	}
	double *o = out;
	rc = cask__la_tsqr_leaf_r(nb, rw, n, e->dt, ap, lda, nrhs, bp, ldb, o, n, o + n * n, n,
		o + n * n + n * nrhs, work);
	if (rc != 0)
		return kernel_error(e, env, rc, r0, rows, abuf, nrhs > 0 ? bbuf : NULL);
	return 0;
}

static int fold_task(void *user, int64_t node, const void *const *inputs, const size_t *ib_,
	int ninputs, void *out, size_t out_bytes, cask_task_env_t *env)
{
	(void)ib_, (void)out_bytes;
	const eng_t *e = user;
	int64_t n = e->n, nrhs = e->nrhs, nch = ninputs;
	size_t nn = (size_t)(n * n), ldo = leaf_out_doubles(e);
	double *o = out;
	char *s = cask_task_scratch(env, e->scrf);
	if (s == NULL)
		return cask_task_error(env, CASK_EINTERNAL, "tsqr: task scratch unavailable");
	double *vt_area, *c_area = (double *)s;
	s += r64((size_t)((nch - 1) * n * nrhs) * sizeof(double));
	if (e->keepvt) {
		vt_area = o + ldo;
	} else {
		vt_area = (double *)s;
		s += r64(vt_doubles(e, nch) * sizeof(double));
	}
	void *work = s;
	double *r[64], *c[64];
	memcpy(o, inputs[0], ldo * sizeof(double));
	r[0] = o;
	c[0] = o + nn;
	for (int64_t i = 1; i < nch; i++) {
		r[i] = vt_area + (size_t)(i - 1) * nn;
		memcpy(r[i], inputs[i], nn * sizeof(double));
		c[i] = c_area + (i - 1) * n * nrhs;
		memcpy(c[i], (const double *)inputs[i] + nn, (size_t)(n * nrhs) * sizeof(double));
	}
	double *t = vt_area + (size_t)(nch - 1) * nn;
	double *rnrm = o + nn + n * nrhs;
	int rc = cask__la_tsqr_fold(nch, n, r, t, nrhs, c, rnrm, work);
	if (rc != 0)
		return cask_task_error(env, rc, "%s: TSQR fold %lld failed (%s)", e->req->what,
			(long long)node, cask_strerror(rc));
	if (e->spill && (rc = spill_io(e, env, node, nch, vt_area, 1)) != 0)
		return rc;
	for (int64_t i = 1; i < nch; i++)
		for (int64_t j = 0; j < nrhs; j++)
			rnrm[j] = hypot(rnrm[j], ((const double *)inputs[i])[nn + n * nrhs + j]);
	return 0;
}

/* Least squares at the root, from R (rh, n x n), c = the top of Q^T b
 * (n x nrhs) and the norms of the rest (cask__la_lstsq_solve). */
static int root_lstsq(const eng_t *e, const double *rh, double *o, const root_layout_t *l,
	char *s, cask_task_env_t *env)
{
	int64_t n = e->n, nrhs = e->nrhs, rank = 0;
	for (int64_t i = n * n; i < n * n + n * nrhs; i++)
		if (!isfinite(rh[i])) {
			char bw[1200];
			cask__la_describe(e->req->b, bw, sizeof bw);
			return cask_task_error(env, CASK_EINVAL,
				"%s: overflow: the norm of column %lld exceeds the largest double (scale it "
				"down)", bw, (long long)((i - n * n) / n));
		}
	/* Negative (or NaN): NumPy's default; 0 or >= 1: machine epsilon, as
	 * LAPACK's dgelsd (hence numpy.linalg.lstsq) takes such an rcond. */
	double rcond = e->req->rcond;
	if (!(rcond >= 0))
		rcond = DBL_EPSILON * (double)(e->m > n ? e->m : n);
	else if (rcond == 0 || rcond >= 1)
		rcond = DBL_EPSILON;
	memcpy(o + l->rnorm, rh + n * n + n * nrhs, (size_t)nrhs * sizeof(double));
	int rc = cask__la_lstsq_solve(n, nrhs, rh, rh + n * n, rcond, o + l->x, o + l->rnorm,
		&rank, s);
	if (rc != 0)
		return cask_task_error(env, rc, "%s: LAPACK failed on the %lld x %lld R factor (%s)",
			e->req->what, (long long)n, (long long)n, cask_strerror(rc));
	o[l->rank] = (double)rank;
	for (int64_t i = 0; i < n * nrhs; i++)
		if (!isfinite(o[l->x + i]))
			return cask_task_error(env, CASK_EINVAL,
				"%s: the least-squares solution overflows (it exceeds the largest double)",
				e->req->what);
	return 0;
}

static int root_task(void *user, int64_t index, const void *const *inputs, const size_t *ib_,
	int ninputs, void *out, size_t out_bytes, cask_task_env_t *env)
{
	(void)index, (void)ib_, (void)ninputs, (void)out_bytes;
	const eng_t *e = user;
	int64_t n = e->n;
	root_layout_t l;
	root_layout(e, &l);
	double *o = out;
	const double *rh = inputs[0];
	char *s = cask_task_scratch(env, e->scrr);
	if (s == NULL)
		return cask_task_error(env, CASK_EINTERNAL, "tsqr: task scratch unavailable");
	/* The leaves refuse non-finite input, so a non-finite R is overflow:
	 * R's column j has the norm of A's, which can exceed the largest double. */
	for (int64_t i = 0; i < n * n; i++)
		if (!isfinite(rh[i]))
			return cask_task_error(env, CASK_EINVAL,
				"%s: overflow: the norm of column %lld exceeds the largest double (scale "
				"the matrix down)", e->req->what, (long long)(i / n));
	int rc = cask__la_r_finish(n, rh, n, o + l.r, n, o + l.sign);
	if (rc == 0 && e->mode == CASK__LA_Q)
		rc = cask__la_tsqr_root_y(n, o + l.sign, o + l.y, n);
	if (rc == 0 && e->mode == CASK__LA_SVD)
		rc = cask__la_svd(n, n, rh, n, o + l.y, n, o + l.s, o + l.vt, n, s);
	if (rc != 0)
		return cask_task_error(env, rc, "%s: LAPACK failed on the %lld x %lld R factor (%s)",
			e->req->what, (long long)n, (long long)n, cask_strerror(rc));
	/* A finite R can still have s_1 = ||R|| beyond the largest double
	 * (dgesdd scales R, then returns Inf): an error, not Inf in S. */
	for (int64_t i = 0; e->mode == CASK__LA_SVD && i < n; i++)
		if (!isfinite(o[l.s + i]))
			return cask_task_error(env, CASK_EINVAL,
				"%s: overflow: the largest singular value exceeds the largest double "
				"(scale the matrix down)", e->req->what);
	if (e->mode == CASK__LA_LSTSQ)
		return root_lstsq(e, rh, o, &l, s, env);
	return 0;
}

static int apply_task(void *user, int64_t node, const void *const *inputs, const size_t *ib_,
	int ninputs, void *out, size_t out_bytes, cask_task_env_t *env)
{
	(void)ib_, (void)ninputs, (void)out_bytes;
	const eng_t *e = user;
	const node_t *nd = &e->nodes[node];
	int64_t n = e->n, nch = nd->nch;
	size_t nn = (size_t)(n * n);
	const double *vt_area;
	const double *yin = inputs[e->spill ? 0 : 1];
	char *s = cask_task_scratch(env, e->scra);
	if (s == NULL)
		return cask_task_error(env, CASK_EINTERNAL, "tsqr: task scratch unavailable");
	if (e->spill) {
		/* The fold's V and T, written to the scratch file in pass 1. */
		double *vt = (double *)s;
		s += r64(e->spill_bytes);
		int rc = spill_io(e, env, node, nch, vt, 0);
		if (rc != 0)
			return rc;
		vt_area = vt;
	} else {
		vt_area = (const double *)inputs[0] + leaf_out_doubles(e);
	}
	const double *v[64];
	double *y[64];
	for (int64_t i = 0; i < nch; i++) {
		y[i] = (double *)out + (size_t)i * nn;
		if (i > 0)
			v[i - 1] = vt_area + (size_t)(i - 1) * nn;
	}
	memcpy(y[0], yin + nd->yoff, nn * sizeof(double));
	void *work = s;
	int rc = cask__la_tsqr_fold_apply(nch, n, n, v, vt_area + (size_t)(nch - 1) * nn, y, work);
	if (rc != 0)
		return cask_task_error(env, rc, "%s: TSQR apply %lld failed (%s)", e->req->what,
			(long long)node, cask_strerror(rc));
	return 0;
}

/* Write block rows [r0, r0 + rows) of the factor (row-major rows x n of
 * dtype qdt in q) to the sink; tmp holds rows * cols elements. */
static int sink_write(const eng_t *e, cask_ctx_t *ctx, int64_t r0, int64_t rows, char *q,
	char *tmp)
{
	const cask__la_sink_t *sk = &e->req->sink;
	int64_t n = e->n, cols = sk->cols > 0 ? sk->cols : n;
	size_t es = e->qes;
	int rc = 0;
	if (!sk->trans) {
		if (cols < n)
			for (int64_t i = 1; i < rows; i++)
				memmove(q + (size_t)(i * cols) * es, q + (size_t)(i * n) * es,
					(size_t)cols * es);
		if (sk->buf != NULL)
			memcpy((char *)sk->buf + (size_t)(r0 * cols) * es, q, (size_t)(rows * cols) * es);
		if (sk->h5 != NULL) {
			int64_t start[2] = {r0, 0}, count[2] = {rows, cols};
			rc = cask__io_write(ctx, sk->h5, start, count, q);
		}
		return rc;
	}
	/* Transposed: column block [r0, r0 + rows) of the cols x m target. */
	for (int64_t j = 0; j < cols; j++)
		for (int64_t i = 0; i < rows; i++)
			memcpy(tmp + (size_t)(j * rows + i) * es, q + (size_t)(i * n + j) * es, es);
	if (sk->buf != NULL)
		for (int64_t j = 0; j < cols; j++)
			memcpy((char *)sk->buf + (size_t)(j * e->m + r0) * es,
				tmp + (size_t)(j * rows) * es, (size_t)rows * es);
	if (sk->h5 != NULL) {
		int64_t start[2] = {0, r0}, count[2] = {cols, rows};
		rc = cask__io_write(ctx, sk->h5, start, count, tmp);
	}
	return rc;
}

/* Whether pass 2 forms Q's rows in A's buffer (see leaf2_task). */
static int q_in_a(const eng_t *e)
{
	return e->es == e->qes;
}

static int leaf2_task(void *user, int64_t k, const void *const *inputs, const size_t *ib_,
	int ninputs, void *out, size_t out_bytes, cask_task_env_t *env)
{
	(void)ib_, (void)ninputs, (void)out, (void)out_bytes;
	const eng_t *e = user;
	int64_t r0, rows, n = e->n;
	leaf_range(e, k, &r0, &rows);
	int64_t nb = leaf_split(e, rows, NULL);
	char *s = cask_task_scratch(env, e->scr2);
	if (s == NULL)
		return cask_task_error(env, CASK_EINTERNAL, "tsqr: task scratch unavailable");
	char *abuf = s;
	s += r64((size_t)(e->lmax * n) * e->es);
	/* Q's rows overwrite A's when they are the same size: the leaf kernel
	 * reads all of A (into its column-major V) before it writes any of Q. */
	char *qbuf = q_in_a(e) ? abuf : s;
	if (!q_in_a(e))
		s += r64((size_t)(e->lmax * n) * e->qes);
	char *tmp = s;
	if (e->req->sink.trans)
		s += r64((size_t)(e->lmax * n) * e->qes);
	int64_t *rw = (int64_t *)s, *lda = rw + nb, *ldq = lda + nb;
	const void **ap = (const void **)(ldq + nb);
	void **qp = (void **)(ap + nb);
	s += r64((size_t)nb * 5 * 8);
	void *work = s;
	s += r64(e->work2);
	int rc = eval_rows(e, env, e->req->a, r0, rows, abuf, s);
	if (rc != 0)
		return rc;
	leaf_split(e, rows, rw);
	for (int64_t i = 0; i < nb; i++) {
		ap[i] = abuf + (size_t)(i * rw[0] * n) * e->es;
		lda[i] = n;
		qp[i] = qbuf + (size_t)(i * rw[0] * n) * e->qes;
		ldq[i] = n;
	}
	const double *y = (const double *)inputs[0] + e->nodes[k].yoff;
	rc = cask__la_tsqr_leaf_q(nb, rw, n, e->dt, ap, lda, n, y, n, e->qdt, qp, ldq, work);
	if (rc != 0)
		return kernel_error(e, env, rc, r0, rows, abuf, NULL);
	cask_ctx_t *ctx = cask__task_ctx(env);
	char msg[CASK__MSG_MAX] = "";
	cask__tls_msg = msg;
	rc = sink_write(e, ctx, r0, rows, qbuf, tmp);
	cask__tls_msg = NULL;
	if (rc != 0)
		return cask_task_error(env, rc, "%s", msg);
	return 0;
}

/* ------------------------------------------------------------ planning */

static int64_t gcd64(int64_t a, int64_t b)
{
	while (b != 0) {
		int64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* The height of the leaves that split a chunk of c0 rows when leaves of
 * lc rows or fewer are wanted: an equal part c0 / p (p >= c0 / lc, up to
 * twice that) that is a whole number of `unit` rows, so that every leaf
 * of Q starts on a file block of its chunk (direct writes, io.c); else
 * c0 / p rounded up to `unit` (leaves then straddle chunks). */
static int64_t chunk_part(int64_t c0, int64_t lc, int64_t unit)
{
	int64_t p0 = (c0 + lc - 1) / lc;
	for (int64_t p = p0; p <= 2 * p0; p++)
		if (c0 % p == 0 && (c0 / p) % unit == 0)
			return c0 / p;
	int64_t L = (c0 + p0 - 1) / p0;
	L = (L + unit - 1) / unit * unit;
	return L < c0 ? L : c0;
}

/* Leaf height and sub-block height from the budget and A's row chunks. */
static int choose_blocks(eng_t *e)
{
	cask_ctx_t *ctx = e->ctx;
	int64_t n = e->n;
	/* Sub-blocks: the kernel's preferred 2k-8k rows, ~2 MiB of doubles. */
	int64_t sb = (int64_t)(262144 / n);
	sb = sb < 2048 ? 2048 : sb > 8192 ? 8192 : sb;
	if (sb < n)
		sb = n;
	/* Bytes per leaf row: A, the leaf's V factors (pass 2), the Q block
	 * and (wide SVD) a transpose buffer, in A's dtype; least squares: b and its
	 * working copy.  Counted for pass 2 even in R-only runs, so R-only and
	 * Q runs build the same tree and give the same R bits. */
	size_t per_row = (size_t)n * (2 * e->es + 8 + (e->req->sink.trans ? e->es : 0));
	per_row += (size_t)e->nrhs * 16;
	/* A third of the budget per task, whatever the thread count: the leaf
	 * height (hence the tree and R's bits) must not depend on threads. */
	size_t avail = cask_ctx_memory(ctx) / 3;
	int64_t cap = (int64_t)(avail / per_row);
	if (cap < 1) /* not one row: the plan below reports what is needed */
		cap = 1;
	/* Leaves of at most lc rows: pass 2 then finds a leaf's V factors (lc x
	 * n doubles, 8 MiB) in the caches when it forms Q, and a task holds a
	 * few MiB instead of a chunk (W5, 100,000-row chunks in tenths: Q and R
	 * 0.3-0.8 s faster, 275 -> 71 MiB peak).  The more leaves, the more
	 * tree factors pass 2 needs; past a sixteenth of the budget they go to
	 * a scratch file (cask__la_tsqr_run). */
	int64_t lc = (int64_t)(((size_t)8 << 20) / ((size_t)n * 8));
	lc = lc < sb ? sb : lc;
	/* In A's element size, not Q's: the tree must not depend on what is
	 * asked for (Q is in A's float dtype; a transposed or float64 sink
	 * only loses the alignment). */
	int64_t unit = 4096 / gcd64(4096, n * (int64_t)e->es);
	int64_t L;
	if (e->req->leaf_rows > 0) {
		L = e->req->leaf_rows;
	} else {
		/* Whole chunks up to sb rows, else parts of a chunk. */
		int64_t c0 = cask__array_row_chunk(e->req->a);
		L = c0;
		if (L < sb)
			L = c0 * ((sb + c0 - 1) / c0);
		else if (L > lc)
			L = chunk_part(c0, lc, unit);
		if (L > cap) {
			/* Equal parts of a chunk where a chunk fits, else what fits. */
			int64_t parts = (c0 + cap - 1) / cap;
			L = c0 <= cap ? c0 : (c0 + parts - 1) / parts;
			if (L > cap)
				L = cap >= sb ? cap / sb * sb : cap;
		}
	}
	if (L < n)
		L = n;
	if (L > e->m)
		L = e->m;
	if (sb > L)
		sb = L;
	e->L = L;
	e->sb = sb;
	e->nleaves = (e->m + L - 1) / L;
	int64_t tail = e->m - (e->nleaves - 1) * L;
	e->lmax = L;
	if (e->nleaves > 1 && tail < n) {
		e->nleaves--;
		e->lmax = L + tail;
	}
	return 0;
}

static int build_levels(eng_t *e)
{
	int64_t count = e->nleaves, off = 0;
	e->nlevels = 0;
	e->level_off[0] = 0;
	for (;;) {
		off += count;
		e->level_off[++e->nlevels] = off;
		if (count == 1)
			break;
		count = (count + e->fanin - 1) / e->fanin;
	}
	e->nnodes = off;
	e->nodes = calloc((size_t)e->nnodes, sizeof *e->nodes);
	if (e->nodes == NULL)
		return cask__error(e->ctx, CASK_ENOMEM, "out of memory");
	for (int64_t l = 0; l + 1 < e->nlevels; l++) {
		int64_t c0 = e->level_off[l], cn = e->level_off[l + 1] - c0;
		for (int64_t g = 0; g * e->fanin < cn; g++) {
			node_t *nd = &e->nodes[e->level_off[l + 1] + g];
			nd->first = c0 + g * e->fanin;
			nd->nch = cn - g * e->fanin < e->fanin ? cn - g * e->fanin : e->fanin;
		}
	}
	return 0;
}

/* Level of node id. */
static int64_t node_level(const eng_t *e, int64_t id)
{
	int64_t l = 0;
	while (id >= e->level_off[l + 1])
		l++;
	return l;
}

/* Pass 1 in post-order: children first. */
static int emit_pass1(eng_t *e, cask_graph_t *g, int64_t id)
{
	node_t *nd = &e->nodes[id];
	int rc;
	if (node_level(e, id) == 0) {
		cask_task_spec_t t = {
			.fn = leaf1_task, .user = e, .index = id,
			.out_bytes = leaf_out_doubles(e) * sizeof(double), .scratch_bytes = e->scr1,
			.label = "tsqr-leaf",
		};
		return cask_graph_add(g, &t, &nd->rtask);
	}
	int64_t ids[64];
	for (int64_t i = 0; i < nd->nch; i++) {
		if ((rc = emit_pass1(e, g, nd->first + i)) != 0)
			return rc;
		ids[i] = e->nodes[nd->first + i].rtask;
	}
	if (nd->nch == 1) {
		nd->rtask = ids[0];
		return 0;
	}
	cask_task_spec_t t = {
		.fn = fold_task, .user = e, .index = id, .inputs = ids, .ninputs = (int)nd->nch,
		.out_bytes = fold_out_doubles(e, nd->nch) * sizeof(double),
		.scratch_bytes = e->scrf, .label = "tsqr-fold",
	};
	return cask_graph_add(g, &t, &nd->rtask);
}

/* Pass 2 in pre-order: a node's apply, then its subtrees. */
static int emit_pass2(eng_t *e, cask_graph_t *g, int64_t id)
{
	node_t *nd = &e->nodes[id];
	int rc;
	if (node_level(e, id) == 0) {
		cask_task_spec_t t = {
			.fn = leaf2_task, .user = e, .index = id, .inputs = &nd->ytask, .ninputs = 1,
			.scratch_bytes = e->scr2, .label = "tsqr-q-leaf",
		};
		int64_t tid;
		return cask_graph_add(g, &t, &tid);
	}
	if (nd->nch == 1) {
		e->nodes[nd->first].ytask = nd->ytask;
		e->nodes[nd->first].yoff = nd->yoff;
	} else {
		/* Spilled tree factors come from the scratch file: the fold's
		 * small output is then not held until pass 2. */
		int64_t in[2] = {nd->rtask, nd->ytask}, tid;
		cask_task_spec_t t = {
			.fn = apply_task, .user = e, .index = id, .inputs = e->spill ? in + 1 : in,
			.ninputs = e->spill ? 1 : 2,
			.out_bytes = (size_t)(nd->nch * e->n * e->n) * sizeof(double),
			.scratch_bytes = e->scra, .label = "tsqr-apply",
		};
		if ((rc = cask_graph_add(g, &t, &tid)) != 0)
			return rc;
		for (int64_t i = 0; i < nd->nch; i++) {
			e->nodes[nd->first + i].ytask = tid;
			e->nodes[nd->first + i].yoff = (size_t)(i * e->n * e->n);
		}
	}
	for (int64_t i = 0; i < nd->nch; i++)
		if ((rc = emit_pass2(e, g, nd->first + i)) != 0)
			return rc;
	return 0;
}

static int plan_sizes(eng_t *e)
{
	cask_ctx_t *ctx = e->ctx;
	int64_t n = e->n;
	size_t b;
	int rc;
	/* Evaluation plan: the largest over every leaf region of A and b. */
	e->plan_bytes = 0;
	for (int64_t k = 0; k < e->nleaves; k++) {
		int64_t r0, rows;
		leaf_range(e, k, &r0, &rows);
		for (int w = 0; w < (e->nrhs > 0 ? 2 : 1); w++) {
			cask_array_t *x = w == 0 ? e->req->a : e->req->b;
			int64_t start[2] = {r0, 0}, count[2] = {rows, x->shape[1]};
			if ((rc = cask__eval_plan_ex(ctx, NULL, 1, &x, start, count, 0, &b)) != 0)
				return rc;
			e->plan_bytes = b > e->plan_bytes ? b : e->plan_bytes;
		}
	}
	/* Leaves have L rows but the last (fewer, or lmax); blocks at most sb. */
	int64_t nbmax = (e->lmax + e->sb - 1) / e->sb;
	int64_t *rw = malloc((size_t)nbmax * sizeof *rw);
	if (rw == NULL)
		return cask__error(ctx, CASK_ENOMEM, "out of memory");
	rc = cask__la_tsqr_leaf_r_work(e->sb, n, e->nrhs, &e->work1);
	e->work2 = 0;
	for (int64_t k = e->nleaves - 2; rc == 0 && e->pass2 && k < e->nleaves; k++) {
		int64_t r0, rows;
		size_t w;
		if (k < 0)
			continue;
		leaf_range(e, k, &r0, &rows);
		rc = cask__la_tsqr_leaf_q_work(leaf_split(e, rows, rw), rw, n, n, &w);
		e->work2 = w > e->work2 ? w : e->work2;
	}
	free(rw);
	if (rc == 0)
		rc = cask__la_tsqr_fold_work(n, e->nrhs > n ? e->nrhs : n, &e->workf);
	if (rc == 0)
		rc = e->mode == CASK__LA_LSTSQ ? cask__la_lstsq_work(n, e->nrhs, &b) :
			cask__la_svd_work(n, n, &b);
	if (rc != 0)
		return cask__error(ctx, rc, "%s: %lld x %lld is too large for the linear algebra kernels",
			e->req->what, (long long)e->m, (long long)n);
	size_t ptrs = r64((size_t)nbmax * 5 * 8);
	e->scr1 = r64((size_t)(e->lmax * n) * e->es) +
		r64((size_t)(e->lmax * e->nrhs) * sizeof(double)) + ptrs + r64(e->work1) +
		e->plan_bytes;
	e->scr2 = r64((size_t)(e->lmax * n) * e->es) + r64((size_t)(e->lmax * n) * e->qes) *
		((e->req->sink.trans ? 2 : 1) - q_in_a(e)) + ptrs + r64(e->work2) + e->plan_bytes;
	e->scrf = r64((size_t)((e->fanin - 1) * n * e->nrhs) * sizeof(double)) +
		(e->keepvt ? 0 : r64(vt_doubles(e, e->fanin) * sizeof(double))) + r64(e->workf);
	e->spill_bytes = vt_doubles(e, e->fanin) * sizeof(double);
	e->scra = r64(e->workf) + (e->spill ? r64(e->spill_bytes) : 0);
	e->scrr = r64(b) + r64((size_t)(n * e->nrhs) * sizeof(double));
	return 0;
}

/* Leaves cut A's chunks (W5: 100,000-row chunks in tenths) and a region of
 * a filtered chunk is read by decoding the whole chunk: a gzip'd A was
 * decoded ten times over (R only of 1e6 x 64: 4.8 GiB decoded for 0.5 GiB,
 * 23 thread-s instead of 2.5).  So each filtered input gets a cache of
 * decoded chunks for the run, one per thread (two to four: leaves run in
 * order, and a thread decodes a chunk, or the next one while another
 * decodes that, io.c), while they take at most a third of the budget (a
 * leaf task takes at most another third).  The leaf height is chosen as before: R's
 * bits do not depend on the cache. */
static void cache_inputs(eng_t *e)
{
	const cask_array_t *ins[16];
	int n = 0, t = cask_ctx_threads(e->ctx);
	size_t third = cask_ctx_memory(e->ctx) / 3, used = 0;
	t = t < 2 ? 2 : t > 4 ? 4 : t;
	cask__array_h5_leaves(e->req->a, ins, &n, 16);
	if (e->req->b != NULL)
		cask__array_h5_leaves(e->req->b, ins, &n, 16);
	for (int i = 0; i < n; i++) {
		const cask__h5meta_t *m = &ins[i]->u.h5.meta;
		size_t b = (size_t)t * m->chunk_bytes;
		if (!m->filtered || m->chunk_bytes == 0 || used + b > third)
			continue;
		/* Rows of A in whole chunks per leaf: each chunk decoded once. */
		if (ins[i]->ndim == 2 && ins[i]->shape[0] == e->m && ins[i]->shape[1] == e->n &&
		    e->L % m->chunks[0] == 0)
			continue;
		b = cask__io_cache_ensure(ins[i]->u.h5.h, t);
		if (b == 0)
			continue;
		used += b;
		e->cache_in[e->ncache++] = ins[i]->u.h5.h;
	}
}

int cask__la_tsqr_run(cask_ctx_t *ctx, const cask__la_tsqr_req_t *req)
{
	eng_t e;
	cask_graph_t *g = NULL;
	int rc = 0;
	memset(&e, 0, sizeof e);
	e.spill_fd = -1;
	e.ctx = ctx;
	e.req = req;
	e.mode = req->mode;
	e.m = req->a->shape[0];
	e.n = req->a->shape[1];
	e.dt = req->a->dtype;
	e.es = cask_dtype_size(e.dt);
	e.qdt = req->sink.dtype == CASK_FLOAT32 ? CASK_FLOAT32 : CASK_FLOAT64;
	e.qes = cask_dtype_size(e.qdt);
	e.nrhs = req->mode == CASK__LA_LSTSQ ? req->b->shape[1] : 0;
	e.ib = cask__la_ib(e.n);
	e.fanin = e.n <= 256 ? 8 : 4;
	e.pass2 = (req->mode == CASK__LA_Q || req->mode == CASK__LA_SVD) &&
		(req->sink.h5 != NULL || req->sink.buf != NULL);
	e.keepvt = e.pass2;
	if (e.n < 1 || e.m < e.n) {
		rc = cask__error(ctx, CASK_ESHAPE, "%s: TSQR needs m >= n >= 1, got %lld x %lld",
			req->what, (long long)e.m, (long long)e.n);
		goto out;
	}
	if ((rc = choose_blocks(&e)) != 0 || (rc = build_levels(&e)) != 0)
		goto out;
	cache_inputs(&e);
	if (e.keepvt) {
		/* Tree factors kept between the passes (R-only runs free them):
		 * past a sixteenth of the budget (or with CASK_TSQR_SPILL=1, for
		 * tests) they go to a scratch file next to the output instead, so
		 * any number of leaves fits the budget. */
		uint64_t kept = (uint64_t)(e.nnodes - e.nleaves) *
			(uint64_t)fold_out_doubles(&e, e.fanin) * 8u;
		const char *f = getenv("CASK_TSQR_SPILL");
		if (kept > cask_ctx_memory(ctx) / 16 || (f != NULL && strcmp(f, "1") == 0)) {
			if ((rc = cask__io_scratch_open(ctx, req->sink.h5, &e.spill_fd)) != 0)
				goto out;
			e.spill = 1;
			e.keepvt = 0;
		}
	}
	if ((rc = plan_sizes(&e)) != 0)
		goto out;
	if ((rc = cask_graph_create(ctx, &g)) != 0)
		goto out;
	int64_t root = e.nnodes - 1, root_id;
	if ((rc = emit_pass1(&e, g, root)) != 0)
		goto out;
	root_layout_t l;
	root_layout(&e, &l);
	cask_task_spec_t t = {
		.fn = root_task, .user = &e, .inputs = &e.nodes[root].rtask, .ninputs = 1,
		.out_bytes = l.total * sizeof(double), .scratch_bytes = e.scrr, .label = "tsqr-root",
		.keep = 1,
	};
	if ((rc = cask_graph_add(g, &t, &root_id)) != 0)
		goto out;
	if (e.pass2) {
		e.nodes[root].ytask = root_id;
		e.nodes[root].yoff = l.y;
		if ((rc = emit_pass2(&e, g, root)) != 0)
			goto out;
	}
	openblas_set_num_threads(1);
	if ((rc = cask_graph_run(ctx, g)) != 0)
		goto out;
	size_t ob;
	const double *o = cask_graph_output(g, root_id, &ob);
	if (o == NULL || ob < l.total * sizeof(double)) {
		rc = cask__error(ctx, CASK_EINTERNAL, "tsqr: root output missing");
		goto out;
	}
	int64_t n = e.n;
	if (req->r != NULL)
		memcpy(req->r, o + l.r, (size_t)(n * n) * sizeof(double));
	if (req->s != NULL)
		memcpy(req->s, o + l.s, (size_t)n * sizeof(double));
	if (req->vt != NULL)
		memcpy(req->vt, o + l.vt, (size_t)(n * n) * sizeof(double));
	if (req->u_small != NULL)
		for (int64_t i = 0; i < n; i++)
			for (int64_t j = 0; j < n; j++)
				req->u_small[i * n + j] = o[l.y + j * n + i];
	if (req->x != NULL)
		memcpy(req->x, o + l.x, (size_t)(n * e.nrhs) * sizeof(double));
	if (req->rnorm != NULL)
		memcpy(req->rnorm, o + l.rnorm, (size_t)e.nrhs * sizeof(double));
	if (req->rank != NULL)
		*req->rank = (int64_t)o[l.rank];
out:
	cask_graph_destroy(g);
	free(e.nodes);
	if (e.spill_fd >= 0)
		close(e.spill_fd);
	for (int i = 0; i < e.ncache; i++)
		cask__io_cache_drop(e.cache_in[i]);
	return rc;
}

/* ------------------------------------------------------------ helpers */

int cask__la_distinct_outputs(cask_ctx_t *ctx, int n, const cask_store_t *const *st,
	const char *const *names)
{
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n && st[i] != NULL; j++) {
			if (st[j] == NULL || st[i]->path == NULL || st[j]->path == NULL ||
			    st[i]->dset == NULL || st[j]->dset == NULL)
				continue;
			const char *a = st[i]->dset, *b = st[j]->dset;
			while (*a == '/')
				a++;
			while (*b == '/')
				b++;
			if (strcmp(a, b) == 0 && cask__io_same_file(st[i]->path, st[j]->path))
				return cask__error(ctx, CASK_EINVAL,
					"%s and %s would both be written to %s:%s: give them different datasets",
					names[i], names[j], st[j]->path, st[j]->dset);
		}
	return 0;
}

int cask__la_out_create(cask_ctx_t *ctx, cask__la_txns_t *t, const cask_store_t *opt,
	cask_dtype_t dtype, int ndim, const int64_t *shape, const int64_t *defchunks,
	cask__h5out_t **out)
{
	int rc = 0;
	cask__h5txn_t *txn = NULL;
	if (opt->path == NULL || opt->dset == NULL)
		return cask__error(ctx, CASK_EINVAL, "output without a file or dataset name");
	for (int i = 0; i < t->n && txn == NULL; i++)
		if (cask__io_same_file(t->path[i], opt->path))
			txn = t->txn[i];
	if (txn == NULL) {
		if (t->n == CASK__LA_MAXTXN)
			return cask__error(ctx, CASK_EINVAL, "too many output files");
		if ((rc = cask__io_txn_begin(ctx, opt->path, &txn)) != 0)
			return rc;
		t->path[t->n] = opt->path;
		t->txn[t->n++] = txn;
	}
	int64_t ch[CASK_MAX_DIMS];
	for (int k = 0; k < ndim; k++) {
		int64_t c = opt->chunks != NULL && opt->chunks[k] > 0 ? opt->chunks[k] : defchunks[k];
		if (c > shape[k])
			c = shape[k];
		ch[k] = c < 1 ? 1 : c;
	}
	cask__h5create_t spec = {
		.dtype = dtype, .ndim = ndim, .shape = shape, .chunks = ch, .gzip = opt->gzip,
		.shuffle = opt->shuffle, .fletcher32 = opt->fletcher32, .overwrite = opt->overwrite,
	};
	return cask__io_create(ctx, txn, opt->dset, &spec, out);
}

int cask__la_out_write_all(cask_ctx_t *ctx, cask__h5out_t *o, int ndim, const int64_t *shape,
	const void *buf)
{
	int64_t start[CASK_MAX_DIMS] = {0};
	(void)ndim;
	return cask__io_write(ctx, o, start, shape, buf);
}

int cask__la_out_commit(cask_ctx_t *ctx, cask__la_txns_t *t)
{
	int rc = 0;
	for (int i = 0; i < t->n; i++) {
		if (rc == 0)
			rc = cask__io_txn_commit(ctx, t->txn[i]);
		else
			cask__io_txn_abort(t->txn[i]);
		t->txn[i] = NULL;
	}
	t->n = 0;
	return rc;
}

void cask__la_out_abort(cask__la_txns_t *t)
{
	for (int i = 0; i < t->n; i++)
		cask__io_txn_abort(t->txn[i]);
	t->n = 0;
}

static int has_reduce(const cask_array_t *a, int depth)
{
	if (a->kind == N_REDUCE || depth > 10000)
		return 1;
	for (int i = 0; i < a->nin; i++)
		if (has_reduce(a->in[i], depth + 1))
			return 1;
	return 0;
}

void cask__la_describe(const cask_array_t *a, char *buf, size_t len)
{
	const cask_array_t *h = NULL;
	int n = 0;
	cask__array_h5_leaves(a, &h, &n, 1);
	if (h != NULL)
		snprintf(buf, len, "%s:%s", cask__io_in_path(h->u.h5.h), cask__io_in_dset(h->u.h5.h));
	else
		snprintf(buf, len, "the input array");
}

int cask__la_prepare(cask_ctx_t *ctx, cask_array_t *a, const char *role, cask_array_t **out)
{
	if (a == NULL)
		return cask__error(ctx, CASK_EINVAL, "%s: no array", role);
	/* Named as every later message of the call is: "f.h5:/A: ...". */
	char what[1200];
	cask__la_describe(a, what, sizeof what);
	if (a->ndim != 2)
		return cask__error(ctx, CASK_ESHAPE, "%s: %s must be a 2-d array, not %d-d", what, role,
			a->ndim);
	if (has_reduce(a, 0))
		return cask__error(ctx, CASK_ENOTSUP,
			"%s: %s contains a reduction: store it to a dataset first, then factor that",
			what, role);
	if (a->dtype == CASK_FLOAT32 || a->dtype == CASK_FLOAT64) {
		*out = cask_array_retain(a);
		return 0;
	}
	return cask_astype(ctx, a, CASK_FLOAT64, out);
}

/* ------------------------------------------------------------ public */

int cask_tsqr(cask_ctx_t *ctx, cask_array_t *a, double *r, const cask_store_t *r_store,
	const cask_store_t *q_store)
{
	cask_array_t *x = NULL;
	cask__la_txns_t txns = {0};
	cask__h5out_t *qo = NULL, *ro = NULL;
	double *rbuf = NULL;
	char what[1200];
	int rc = CASK__CHECK_PTRS(ctx, ctx, a);
	if (rc != 0)
		return rc;
	ctx->msg[0] = '\0';
	cask__call_begin(ctx);
	const cask_store_t *outs[2] = {r_store, q_store};
	const char *onames[2] = {"R", "Q"};
	if ((rc = cask__la_distinct_outputs(ctx, 2, outs, onames)) != 0 ||
	    (rc = cask__la_prepare(ctx, a, "the matrix to factor", &x)) != 0)
		goto out;
	cask__la_describe(a, what, sizeof what);
	int64_t m = x->shape[0], n = x->shape[1];
	if (n < 1 || m < n) {
		rc = cask__error(ctx, CASK_ESHAPE,
			"%s: QR needs a tall matrix (m >= n >= 1), got %lld x %lld", what, (long long)m,
			(long long)n);
		goto out;
	}
	if (r == NULL && (r_store != NULL)) {
		if ((rbuf = malloc((size_t)(n * n) * sizeof(double))) == NULL) {
			rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
			goto out;
		}
		r = rbuf;
	}
	cask_dtype_t qdt = x->dtype;
	int64_t rshape[2] = {n, n}, qshape[2] = {m, n}, qch[2] = {cask__array_row_chunk(x), n};
	if (r_store != NULL &&
	    (rc = cask__la_out_create(ctx, &txns, r_store, CASK_FLOAT64, 2, rshape, rshape, &ro)))
		goto out;
	if (q_store != NULL &&
	    (rc = cask__la_out_create(ctx, &txns, q_store, qdt, 2, qshape, qch, &qo)))
		goto out;
	cask__la_tsqr_req_t req = {
		.mode = q_store != NULL ? CASK__LA_Q : CASK__LA_R, .a = x, .what = what,
		.sink = {.h5 = qo, .dtype = qdt}, .r = r,
	};
	if ((rc = cask__la_tsqr_run(ctx, &req)) != 0)
		goto out;
	if (ro != NULL && (rc = cask__la_out_write_all(ctx, ro, 2, rshape, r)) != 0)
		goto out;
	rc = cask__la_out_commit(ctx, &txns);
out:
	cask__la_out_abort(&txns);
	cask_array_destroy(x);
	free(rbuf);
	cask__call_end(ctx);
	return rc;
}

int cask_lstsq(cask_ctx_t *ctx, cask_array_t *a, cask_array_t *b, double *x, double *rnorm)
{
	int rc = CASK__CHECK_PTRS(ctx, ctx, a, b, x);
	if (rc != 0)
		return rc;
	return cask_lstsq_ex(ctx, a, b, -1.0, x, rnorm, NULL);
}

int cask_lstsq_ex(cask_ctx_t *ctx, cask_array_t *a, cask_array_t *b, double rcond, double *x,
	double *rnorm, int64_t *rank)
{
	cask_array_t *ax = NULL, *b2 = NULL, *bx = NULL;
	char what[1200];
	int rc = CASK__CHECK_PTRS(ctx, ctx, a, b, x);
	if (rc != 0)
		return rc;
	ctx->msg[0] = '\0';
	cask__call_begin(ctx);
	if ((rc = cask__la_prepare(ctx, a, "A of least squares", &ax)) != 0)
		goto out;
	cask__la_describe(a, what, sizeof what);
	if (b->ndim < 1 || b->ndim > 2) {
		rc = cask__error(ctx, CASK_ESHAPE, "b of least squares must be 1-d or 2-d, not %d-d",
			b->ndim);
		goto out;
	}
	if (b->ndim == 1) {
		int64_t sh[2] = {b->shape[0], 1};
		if ((rc = cask_reshape(ctx, b, 2, sh, &b2)) != 0)
			goto out;
	} else {
		b2 = cask_array_retain(b);
	}
	if ((rc = cask__la_prepare(ctx, b2, "b of least squares", &bx)) != 0)
		goto out;
	if (bx->dtype != CASK_FLOAT64) {
		cask_array_t *t = NULL;
		if ((rc = cask_astype(ctx, bx, CASK_FLOAT64, &t)) != 0)
			goto out;
		cask_array_destroy(bx);
		bx = t;
	}
	int64_t m = ax->shape[0], n = ax->shape[1];
	if (bx->shape[0] != m || bx->shape[1] < 1) {
		char bw[1200];
		cask__la_describe(b, bw, sizeof bw);
		rc = cask__error(ctx, CASK_ESHAPE,
			"lstsq: b (%s) must have A's %lld rows (A: %s) and at least one column, got %lld x %lld",
			bw, (long long)m, what, (long long)bx->shape[0], (long long)bx->shape[1]);
		goto out;
	}
	if (n < 1 || m < n) {
		rc = cask__error(ctx, CASK_ESHAPE,
			"%s: least squares by QR needs a tall A (m >= n >= 1), got %lld x %lld", what,
			(long long)m, (long long)n);
		goto out;
	}
	double *rn = rnorm;
	double tmp[1];
	if (rn == NULL && bx->shape[1] == 1)
		rn = tmp;
	double *rbuf = NULL;
	if (rn == NULL && (rbuf = malloc((size_t)bx->shape[1] * sizeof(double))) == NULL) {
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
		goto out;
	}
	cask__la_tsqr_req_t req = {
		.mode = CASK__LA_LSTSQ, .a = ax, .b = bx, .what = what, .x = x,
		.rnorm = rn != NULL ? rn : rbuf, .rcond = rcond, .rank = rank,
	};
	rc = cask__la_tsqr_run(ctx, &req);
	free(rbuf);
out:
	cask_array_destroy(ax);
	cask_array_destroy(b2);
	cask_array_destroy(bx);
	cask__call_end(ctx);
	return rc;
}
