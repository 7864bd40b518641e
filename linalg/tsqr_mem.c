/*
 * tsqr_mem.c - the reference in-memory TSQR driver (with SVD and least
 * squares on top): the blueprint of the graph builders.  It runs exactly the
 * tasks the graph will run, one after the other in a fixed order, calling
 * the same per-task kernels of tsqr_kernels.c; only the buffers live in
 * memory instead of chunks on disk.  Used by the tests and as the
 * specification of the task decomposition below.
 *
 * Decomposition (m x n row-major A, row blocks of height mb >= n, bpl blocks
 * per leaf, fan-in F >= 2; ib = cask__la_ib(n) <= 32; small factors double):
 *
 *  1. Leaves.  Blocks k*bpl .. k*bpl+bpl-1 form leaf k; a last block with
 *     fewer than n rows (ragged tail) joins the previous leaf instead of
 *     starting one, so every leaf's first block has >= n rows.
 *  2. Pass 1, leaf task (cask__la_tsqr_leaf_r): streams its blocks, one
 *     block held at a time: block 0 as dgeqrt of its first n rows then
 *     dtpqrt (l = 0) of the rest, later blocks dtpqrt (l = 0) into R.
 *     Reads: the blocks.  Output: R (n*n doubles) [+ c = n x nrhs and
 *     rnrm = nrhs residual norms for least squares].  Working set besides the
 *     block in cask's layout: cask__la_tsqr_leaf_r_work(mb, n, nrhs) =
 *     (ld(mb)*(n + nrhs) + 2*ib*n + ib*max(n, nrhs))*8 bytes, ld(mb) = mb
 *     rounded up to 8 (+8 if a multiple of 64): about mb*n*8.
 *  3. Pass 1, tree: level 0 is the leaves; level l+1 groups level l's nodes
 *     F at a time in order (the last group may be smaller; a group of one
 *     is passed through without a task).  Fold task (cask__la_tsqr_fold):
 *     inputs the children's R's (and c, rnrm); output the merged R (it
 *     takes child 0's buffer) and, for Q/U only, KEEPS the children 1..F-1
 *     buffers as V factors plus (F-1)*ib*n doubles of T until pass 2:
 *     (F-1)*(n*n + ib*n)*8 bytes per fold node.  For R-only and least
 *     squares the V and T can be freed when the fold ends.
 *  4. Root: cask__la_r_finish gives R with diag >= 0 and the signs; least
 *     squares solves R x = c (cask__la_trsolve), residual = rnrm; SVD
 *     runs cask__la_svd on the house R (before sign normalisation).
 *  5. Pass 2 (Q or U only), top-down: the root's Y (n x n) = diag(signs)
 *     for Q, U_R for the SVD.  Fold apply task (cask__la_tsqr_fold_apply):
 *     input the node's Y and its kept V/T; output one Y (n*n doubles) per
 *     child; the node's V/T are freed after it.  Leaf apply task
 *     (cask__la_tsqr_leaf_q): re-reads the leaf's blocks, recomputes its
 *     QR (bit-identical to pass 1), writes the leaf's rows of Q (or U):
 *     each block's rows are one gemm with its V (see tsqr_kernels.c).
 *     Working set besides the blocks in cask's layout and the output
 *     blocks: cask__la_tsqr_leaf_q_work = (sum ld(rows)*n + (bpl+1)*ib*n
 *     + 5*n*n + mb*n + ib*n)*8 bytes: about (bpl + 1)*mb*n*8 (the mb*n
 *     is a double copy of one block of float32 output).
 *  Reads: A once (R only, least squares), twice with Q/U; writes Q/U once.
 */
#include "linalg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* What a run produces. */
enum mode { MODE_R, MODE_Q, MODE_SVD, MODE_LSTSQ };

struct plan {
	int64_t m, n, mb, nblocks, nleaves, nlevels;
	int64_t *leaf_b0;    /* nleaves + 1: first block of each leaf */
	int64_t *level_off;  /* nlevels + 1: first node of each level */
	int64_t fanin;
};

static void plan_fini(struct plan *p)
{
	free(p->leaf_b0);
	free(p->level_off);
}

static int plan_init(struct plan *p, int64_t m, int64_t n, int64_t mb, int64_t bpl,
	int64_t fanin)
{
	int rc = 0;
	memset(p, 0, sizeof *p);
	if (n < 1 || m < n || mb < n || bpl < 1 || fanin < 2) {
		rc = CASK_EINVAL;
		goto out;
	}
	p->m = m;
	p->n = n;
	p->mb = mb;
	p->fanin = fanin;
	p->nblocks = (m - 1) / mb + 1;
	p->nleaves = (p->nblocks + bpl - 1) / bpl;
	/* A ragged tail shorter than n that would start a leaf joins the
	 * previous leaf. */
	int64_t tail = m - (p->nblocks - 1) * mb;
	int tail_joins = tail < n && p->nleaves > 1 && (p->nblocks - 1) % bpl == 0;
	if (tail_joins)
		p->nleaves--;
	p->leaf_b0 = malloc((size_t)(p->nleaves + 1) * sizeof(int64_t));
	/* Levels: at most 64 for any fan-in >= 2. */
	p->level_off = malloc(66 * sizeof(int64_t));
	if (p->leaf_b0 == NULL || p->level_off == NULL) {
		rc = CASK_ENOMEM;
		goto out;
	}
	for (int64_t k = 0; k < p->nleaves; k++)
		p->leaf_b0[k] = k * bpl;
	p->leaf_b0[p->nleaves] = p->nblocks;
	int64_t count = p->nleaves, off = 0;
	p->nlevels = 0;
	p->level_off[0] = 0;
	for (;;) {
		off += count;
		p->level_off[++p->nlevels] = off;
		if (count == 1)
			break;
		count = (count + fanin - 1) / fanin;
	}
out:
	if (rc != 0)
		plan_fini(p);
	return rc;
}

static int64_t block_rows(const struct plan *p, int64_t b)
{
	int64_t r = p->m - b * p->mb;
	return r < p->mb ? r : p->mb;
}

/* Pointers and row counts of the blocks of leaf k. */
static void leaf_blocks(const struct plan *p, int64_t k, cask_dtype_t dt, const void *a,
	int64_t lda, const double *b, int64_t ldb, int64_t *rows,
	const void **ap, int64_t *ldap, const double **bp, int64_t *ldbp)
{
	size_t es = dt == CASK_FLOAT32 ? sizeof(float) : sizeof(double);
	for (int64_t i = 0, blk = p->leaf_b0[k]; blk < p->leaf_b0[k + 1]; i++, blk++) {
		rows[i] = block_rows(p, blk);
		ap[i] = (const char *)a + (size_t)(blk * p->mb) * (size_t)lda * es;
		ldap[i] = lda;
		if (bp != NULL) {
			bp[i] = b + blk * p->mb * ldb;
			ldbp[i] = ldb;
		}
	}
}

static int run(enum mode mode, int64_t m, int64_t n, cask_dtype_t dt, const void *a,
	int64_t lda, int64_t nrhs, const double *b, int64_t ldb, int64_t mb, int64_t bpl,
	int64_t fanin, double *r_out, int64_t ldr, double *s, double *vt, int64_t ldvt,
	cask_dtype_t qdt, void *q, int64_t ldq, double *x, int64_t ldx, double *rnorm)
{
	struct plan p;
	int64_t nnodes, ib = cask__la_ib(n), maxblk;
	double **R = NULL, **C = NULL, *RSS = NULL, **T = NULL, **Y = NULL;
	double *sign = NULL, *rfin = NULL;
	void *work = NULL;
	int64_t *rows = NULL, *ldap = NULL, *ldbp = NULL, *ldqp = NULL;
	const void **ap = NULL;
	const double **bp = NULL;
	void **qp = NULL;
	size_t wbytes = 0, wb;
	int rc = plan_init(&p, m, n, mb, bpl, fanin);
	if (rc != 0)
		return rc;
	if (mode != MODE_LSTSQ)
		nrhs = 0;
	nnodes = p.level_off[p.nlevels];
	maxblk = bpl + 1;
	R = calloc((size_t)nnodes, sizeof *R);
	C = calloc((size_t)nnodes, sizeof *C);
	T = calloc((size_t)nnodes, sizeof *T);
	Y = calloc((size_t)nnodes, sizeof *Y);
	RSS = calloc((size_t)(nnodes * (nrhs > 0 ? nrhs : 1)), sizeof *RSS);
	sign = malloc((size_t)n * sizeof *sign);
	rows = malloc((size_t)maxblk * sizeof *rows);
	ldap = malloc((size_t)maxblk * sizeof *ldap);
	ldbp = malloc((size_t)maxblk * sizeof *ldbp);
	ldqp = malloc((size_t)maxblk * sizeof *ldqp);
	ap = malloc((size_t)maxblk * sizeof *ap);
	bp = malloc((size_t)maxblk * sizeof *bp);
	qp = malloc((size_t)maxblk * sizeof *qp);
	if (!R || !C || !T || !Y || !RSS || !sign || !rows || !ldap || !ldbp || !ldqp || !ap ||
	    !bp || !qp) {
		rc = CASK_ENOMEM;
		goto out;
	}
	/* One workspace big enough for every task of the run. */
	if ((rc = cask__la_tsqr_leaf_r_work(p.mb + n, n, nrhs, &wb)))
		goto out;
	wbytes = wb;
	if ((rc = cask__la_tsqr_fold_work(n, nrhs > n ? nrhs : n, &wb)))
		goto out;
	wbytes = wb > wbytes ? wb : wbytes;
	if ((rc = cask__la_svd_work(n, n, &wb)))
		goto out;
	wbytes = wb > wbytes ? wb : wbytes;
	for (int64_t k = 0; k < p.nleaves; k++) {
		int64_t nb = p.leaf_b0[k + 1] - p.leaf_b0[k];
		leaf_blocks(&p, k, dt, a, lda, NULL, 0, rows, ap, ldap, NULL, NULL);
		if ((rc = cask__la_tsqr_leaf_q_work(nb, rows, n, n, &wb)))
			goto out;
		wbytes = wb > wbytes ? wb : wbytes;
	}
	if ((work = malloc(wbytes)) == NULL) {
		rc = CASK_ENOMEM;
		goto out;
	}
	for (int64_t i = 0; i < nnodes; i++) {
		R[i] = malloc((size_t)(n * n) * sizeof(double));
		if (R[i] == NULL || (nrhs > 0 && (C[i] = malloc((size_t)(n * nrhs) *
							 sizeof(double))) == NULL)) {
			rc = CASK_ENOMEM;
			goto out;
		}
	}

	/* Pass 1: leaf tasks. */
	for (int64_t k = 0; k < p.nleaves; k++) {
		int64_t nb = p.leaf_b0[k + 1] - p.leaf_b0[k];
		leaf_blocks(&p, k, dt, a, lda, b, ldb, rows, ap, ldap, bp, ldbp);
		if ((rc = cask__la_tsqr_leaf_r(nb, rows, n, dt, ap, ldap, nrhs, bp, ldbp, R[k], n,
			     C[k], n, RSS + k * nrhs, work)))
			goto out;
	}
	/* Pass 1: fold tasks, level by level, groups in order. */
	for (int64_t l = 0; l + 1 < p.nlevels; l++) {
		int64_t c0 = p.level_off[l], cn = p.level_off[l + 1] - c0;
		for (int64_t g = 0; g * fanin < cn; g++) {
			int64_t node = p.level_off[l + 1] + g, first = c0 + g * fanin;
			int64_t nch = cn - g * fanin < fanin ? cn - g * fanin : fanin;
			if (nch > 1) {
				T[node] = malloc((size_t)((nch - 1) * ib * n) * sizeof(double));
				if (T[node] == NULL) {
					rc = CASK_ENOMEM;
					goto out;
				}
			}
			if ((rc = cask__la_tsqr_fold(nch, n, R + first, T[node], nrhs, C + first,
				     RSS + first * nrhs, work)))
				goto out;
			memcpy(R[node], R[first], (size_t)(n * n) * sizeof(double));
			for (int64_t i = 1; i < nch; i++)
				for (int64_t j = 0; j < nrhs; j++)
					RSS[first * nrhs + j] = hypot(RSS[first * nrhs + j], RSS[(first + i) * nrhs + j]);
			if (nrhs > 0) {
				memcpy(C[node], C[first], (size_t)(n * nrhs) * sizeof(double));
				memcpy(RSS + node * nrhs, RSS + first * nrhs,
					(size_t)nrhs * sizeof(double));
			}
		}
	}
	/* Root. */
	double *rroot = R[nnodes - 1];
	if (r_out == NULL) {
		/* Only the signs are wanted: finish into a scratch copy. */
		if ((rfin = malloc((size_t)(n * n) * sizeof(double))) == NULL) {
			rc = CASK_ENOMEM;
			goto out;
		}
		r_out = rfin;
		ldr = n;
	}
	if ((rc = cask__la_r_finish(n, rroot, n, r_out, ldr, sign)))
		goto out;
	if (mode == MODE_LSTSQ) {
		if ((rc = cask__la_trsolve(n, nrhs, rroot, n, C[nnodes - 1], n)))
			goto out;
		rc = cask__la_block_store(n, nrhs, C[nnodes - 1], n, CASK_FLOAT64, x, ldx);
		for (int64_t j = 0; j < nrhs; j++)
			rnorm[j] = RSS[(nnodes - 1) * nrhs + j];
		goto out;
	}
	if (mode == MODE_R)
		goto out;
	for (int64_t i = 0; i < nnodes; i++) {
		Y[i] = malloc((size_t)(n * n) * sizeof(double));
		if (Y[i] == NULL) {
			rc = CASK_ENOMEM;
			goto out;
		}
	}
	if (mode == MODE_Q) {
		if ((rc = cask__la_tsqr_root_y(n, sign, Y[nnodes - 1], n)))
			goto out;
	} else {
		/* SVD of the house R: its U_R is the root's Y, U = Q_house U_R. */
		if ((rc = cask__la_svd(n, n, rroot, n, Y[nnodes - 1], n, s, vt, ldvt, work)))
			goto out;
		if (q == NULL)
			goto out;
	}
	/* Pass 2: fold apply tasks, top-down. */
	for (int64_t l = p.nlevels - 2; l >= 0; l--) {
		int64_t c0 = p.level_off[l], cn = p.level_off[l + 1] - c0;
		for (int64_t g = 0; g * fanin < cn; g++) {
			int64_t node = p.level_off[l + 1] + g, first = c0 + g * fanin;
			int64_t nch = cn - g * fanin < fanin ? cn - g * fanin : fanin;
			memcpy(Y[first], Y[node], (size_t)(n * n) * sizeof(double));
			if ((rc = cask__la_tsqr_fold_apply(nch, n, n,
				     (const double *const *)(R + first + 1), T[node], Y + first,
				     work)))
				goto out;
		}
	}
	/* Pass 2: leaf apply tasks. */
	size_t qes = qdt == CASK_FLOAT32 ? sizeof(float) : sizeof(double);
	for (int64_t k = 0; k < p.nleaves; k++) {
		int64_t nb = p.leaf_b0[k + 1] - p.leaf_b0[k];
		leaf_blocks(&p, k, dt, a, lda, NULL, 0, rows, ap, ldap, NULL, NULL);
		for (int64_t i = 0; i < nb; i++) {
			qp[i] = (char *)q + (size_t)((p.leaf_b0[k] + i) * p.mb) * (size_t)ldq * qes;
			ldqp[i] = ldq;
		}
		if ((rc = cask__la_tsqr_leaf_q(nb, rows, n, dt, ap, ldap, n, Y[k], n, qdt,
			     (void *const *)qp, ldqp, work)))
			goto out;
	}
out:
	free(work);
	for (int64_t i = 0; R != NULL && i < nnodes; i++) {
		free(R[i]);
		free(C[i]);
		free(T[i]);
		free(Y[i]);
	}
	free(R);
	free(C);
	free(T);
	free(Y);
	free(RSS);
	free(sign);
	free(rfin);
	free(rows);
	free(ldap);
	free(ldbp);
	free(ldqp);
	free(ap);
	free(bp);
	free(qp);
	plan_fini(&p);
	return rc;
}

int cask__la_tsqr_mem(int64_t m, int64_t n, cask_dtype_t dt, const void *a, int64_t lda,
	int64_t mb, int64_t bpl, int64_t fanin, double *r, int64_t ldr, cask_dtype_t qdt,
	void *q, int64_t ldq)
{
	if (r == NULL)
		return CASK_EINVAL;
	return run(q != NULL ? MODE_Q : MODE_R, m, n, dt, a, lda, 0, NULL, 0, mb, bpl, fanin, r,
		ldr, NULL, NULL, 0, qdt, q, ldq, NULL, 0, NULL);
}

int cask__la_svd_mem(int64_t m, int64_t n, cask_dtype_t dt, const void *a, int64_t lda,
	int64_t mb, int64_t bpl, int64_t fanin, double *s, double *vt, int64_t ldvt,
	cask_dtype_t udt, void *u, int64_t ldu)
{
	if (s == NULL || vt == NULL)
		return CASK_EINVAL;
	return run(MODE_SVD, m, n, dt, a, lda, 0, NULL, 0, mb, bpl, fanin, NULL, 0, s, vt, ldvt,
		udt, u, ldu, NULL, 0, NULL);
}

int cask__la_lstsq_mem(int64_t m, int64_t n, int64_t nrhs, cask_dtype_t dt,
	const void *a, int64_t lda, const double *b, int64_t ldb, int64_t mb, int64_t bpl,
	int64_t fanin, double *x, int64_t ldx, double *rnorm)
{
	if (nrhs < 1 || b == NULL || x == NULL || rnorm == NULL || ldb < nrhs)
		return CASK_EINVAL;
	return run(MODE_LSTSQ, m, n, dt, a, lda, nrhs, b, ldb, mb, bpl, fanin, NULL, 0, NULL,
		NULL, 0, CASK_FLOAT64, NULL, 0, x, ldx, rnorm);
}

/* ------------------------------------------------ randomized SVD driver */

/* splitmix64 + Box-Muller: a reproducible Gaussian stream from a seed. */
static uint64_t sm64(uint64_t *st)
{
	uint64_t z = (*st += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static double gauss(uint64_t *st)
{
	double u1 = ((double)(sm64(st) >> 11) + 0.5) / 9007199254740992.0;
	double u2 = ((double)(sm64(st) >> 11) + 0.5) / 9007199254740992.0;
	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* One pass over A's row blocks: y (m x l, row-major) = A z (z: n x l). */
static int pass_a_times(int64_t m, int64_t n, int64_t l, cask_dtype_t dt, const void *a,
	int64_t lda, int64_t mb, const double *z, double *y, void *work)
{
	size_t es = dt == CASK_FLOAT32 ? sizeof(float) : sizeof(double);
	int rc = 0;
	for (int64_t r0 = 0; r0 < m && rc == 0; r0 += mb) {
		int64_t rows = m - r0 < mb ? m - r0 : mb;
		rc = cask__la_gemm_nn(rows, n, l, dt, (const char *)a + (size_t)(r0 * lda) * es,
			lda, z, l, 0.0, y + r0 * l, l, work);
	}
	return rc;
}

/* One pass over A's row blocks: z (n x l) = A^T y, blocks added in order. */
static int pass_at_times(int64_t m, int64_t n, int64_t l, cask_dtype_t dt, const void *a,
	int64_t lda, int64_t mb, const double *y, double *z, void *work)
{
	size_t es = dt == CASK_FLOAT32 ? sizeof(float) : sizeof(double);
	int rc = 0;
	memset(z, 0, (size_t)(n * l) * sizeof(double));
	for (int64_t r0 = 0; r0 < m && rc == 0; r0 += mb) {
		int64_t rows = m - r0 < mb ? m - r0 : mb;
		rc = cask__la_gemm_tn(rows, n, l, dt, (const char *)a + (size_t)(r0 * lda) * es,
			lda, y + r0 * l, l, z, l, work);
	}
	return rc;
}

int cask__la_rsvd_mem(int64_t m, int64_t n, cask_dtype_t dt, const void *a, int64_t lda,
	int64_t k, int64_t p, int64_t q, uint64_t seed, int64_t mb, int64_t fanin, double *s,
	double *u, int64_t ldu, double *vt, int64_t ldvt)
{
	int64_t mn = m < n ? m : n, l;
	double *omega = NULL, *y = NULL, *qy = NULL, *z = NULL, *qz = NULL, *ub = NULL;
	double *sb = NULL, *vtb = NULL, *ubk = NULL;
	double *rtmp = NULL;
	void *work = NULL;
	size_t wb, wsvd;
	int rc = 0;
	if (m < 1 || n < 1 || k < 1 || k > mn || p < 0 || q < 0 || mb < 1 || fanin < 2 ||
	    s == NULL) {
		rc = CASK_EINVAL;
		goto out;
	}
	l = k + p < mn ? k + p : mn;
	if ((rc = cask__la_gemm_work(mb, n, dt, &wb)) || (rc = cask__la_svd_work(l, n, &wsvd)))
		goto out;
	omega = malloc((size_t)(n * l) * sizeof(double));
	y = malloc((size_t)(m * l) * sizeof(double));
	qy = malloc((size_t)(m * l) * sizeof(double));
	z = malloc((size_t)(n * l) * sizeof(double));
	qz = malloc((size_t)(n * l) * sizeof(double));
	ub = malloc((size_t)(l * l) * sizeof(double));
	ubk = malloc((size_t)(l * k) * sizeof(double));
	sb = malloc((size_t)l * sizeof(double));
	vtb = malloc((size_t)(l * n) * sizeof(double));
	rtmp = malloc((size_t)(l * l) * sizeof(double));
	work = malloc((wb > wsvd ? wb : wsvd) + 1);
	if (!omega || !y || !qy || !z || !qz || !ub || !ubk || !sb || !vtb || !rtmp || !work) {
		rc = CASK_ENOMEM;
		goto out;
	}
	uint64_t st = seed;
	for (int64_t i = 0; i < n * l; i++)
		omega[i] = gauss(&st);
	/* Sketch and orthonormalise (a TSQR of the m x l sketch). */
	if ((rc = pass_a_times(m, n, l, dt, a, lda, mb, omega, y, work)) ||
	    (rc = cask__la_tsqr_mem(m, l, CASK_FLOAT64, y, l, mb > l ? mb : l, 1, fanin, rtmp, l,
		     CASK_FLOAT64, qy, l)))
		goto out;
	/* Power iterations, re-orthonormalising both sides. */
	for (int64_t it = 0; it < q; it++) {
		if ((rc = pass_at_times(m, n, l, dt, a, lda, mb, qy, z, work)) ||
		    (rc = cask__la_tsqr_mem(n, l, CASK_FLOAT64, z, l, mb > l ? mb : l, 1, fanin,
			     rtmp, l, CASK_FLOAT64, qz, l)) ||
		    (rc = pass_a_times(m, n, l, dt, a, lda, mb, qz, y, work)) ||
		    (rc = cask__la_tsqr_mem(m, l, CASK_FLOAT64, y, l, mb > l ? mb : l, 1, fanin,
			     rtmp, l, CASK_FLOAT64, qy, l)))
			goto out;
	}
	/* B^T = A^T Q (n x l row-major) is B = Q^T A as an l x n column-major
	 * matrix: B = U_B S V_B^T, A ~ (Q U_B) S V_B^T. */
	if ((rc = pass_at_times(m, n, l, dt, a, lda, mb, qy, z, work)) ||
	    (rc = cask__la_svd(l, n, z, l, ub, l, sb, vtb, n, work)))
		goto out;
	memcpy(s, sb, (size_t)k * sizeof(double));
	if (vt != NULL)
		for (int64_t i = 0; i < k; i++)
			memcpy(vt + i * ldvt, vtb + i * n, (size_t)n * sizeof(double));
	if (u != NULL) {
		/* U = Q U_B[:, :k], one more pass over Q's row blocks. */
		for (int64_t r = 0; r < l; r++)
			for (int64_t c = 0; c < k; c++)
				ubk[r * k + c] = ub[r + c * l];
		for (int64_t r0 = 0; r0 < m && rc == 0; r0 += mb) {
			int64_t rows = m - r0 < mb ? m - r0 : mb;
			rc = cask__la_gemm_nn(rows, l, k, CASK_FLOAT64, qy + r0 * l, l, ubk, k, 0.0,
				u + r0 * ldu, ldu, NULL);
		}
	}
out:
	free(omega);
	free(y);
	free(qy);
	free(z);
	free(qz);
	free(ub);
	free(ubk);
	free(sb);
	free(vtb);
	free(rtmp);
	free(work);
	return rc;
}
