/*
 * tsqr_kernels.c - the per-task numerical kernels of cask's linear algebra
 * (declared and documented in linalg.h): block layout moves, Householder QR
 * of row blocks and of stacked triangles through LAPACK's dgeqrt / dtpqrt
 * (the folds of row blocks with cask's own panel kernel, kernels/houseqr.c)
 * and their appliers dgemqrt / dtpmqrt, the TSQR task bodies built from
 * them, the SVD and triangular solve at the root, and the BLAS row-block
 * products of matmul and randomized SVD.
 *
 * LAPACK is called through its Fortran interface (lapack.h), not LAPACKE:
 * LAPACKE's row-major path allocates and transposes inside every call,
 * while here the caller's workspace is used and the transposition is done
 * once per block on load.  Every call here is deterministic for a fixed
 * number of BLAS threads.
 */
#include "kernels.h"
#include "linalg.h"

#include <cblas.h>
#include <lapack.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* Check that v fits LAPACK's and CBLAS's 32-bit integers. */
static int to_li(int64_t v, lapack_int *out)
{
	if (v < 0)
		return CASK_EINVAL;
	if (v > INT32_MAX)
		return CASK_EOVERFLOW;
	*out = (lapack_int)v;
	return 0;
}

/* Overflow-checked a * b * sizeof(double) + acc. */
static int add_doubles(size_t *acc, int64_t a, int64_t b)
{
	size_t p;
	if (a < 0 || b < 0)
		return CASK_EINVAL;
	if (__builtin_mul_overflow((size_t)a, (size_t)b, &p) ||
	    __builtin_mul_overflow(p, sizeof(double), &p) ||
	    __builtin_add_overflow(*acc, p, acc))
		return CASK_EOVERFLOW;
	return 0;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* Leading dimension of a column-major block of `rows` rows: a multiple of
 * 8 doubles that is not a multiple of 64, so that columns do not alias in
 * the caches (a 4096-row block with ld 4096 ran markedly slower). */
static int64_t pad_ld(int64_t rows)
{
	int64_t r = (max64(rows, 1) + 7) / 8 * 8;
	return r % 64 == 0 ? r + 8 : r;
}

int64_t cask__la_ib(int64_t n)
{
	int64_t ib = n < 48 ? 8 : n <= 160 ? 16 : 32;
	return n < ib ? (n < 1 ? 1 : n) : ib;
}

static int is_float(cask_dtype_t dt)
{
	return dt == CASK_FLOAT32 || dt == CASK_FLOAT64;
}

/* The 2-norm of each column of the column-major rows x ncols c, merged
 * into acc: acc_j = hypot(acc_j, ||c_j||).  Norms (dnrm2 scales) rather
 * than sums of squares, which overflow or underflow at |c| ~ 1e+-154. */
static void add_norm(int64_t rows, int64_t ncols, const double *c, int64_t ldc, double *acc)
{
	for (int64_t j = 0; j < ncols && rows > 0; j++)
		acc[j] = hypot(acc[j], cblas_dnrm2((lapack_int)rows, c + j * ldc, 1));
}

/* ------------------------------------------------------------ layout */

/* Tile edge of the transpose copies: 32 x 32 doubles stay in L1. */
#define TILE 32

/* Four rows of a row-major block of element type T into four consecutive
 * rows of column-major w: four contiguous source runs, four adjacent
 * stores per column.  Four poison accumulators keep the adds off one
 * dependency chain. */
#define LOAD4(T)                                                                           \
	do {                                                                               \
		const T *s0 = (const T *)a + i * lda, *s1 = s0 + lda, *s2 = s1 + lda,      \
			*s3 = s2 + lda;                                                    \
		double *d = w + i;                                                         \
		for (int64_t j = 0; j < n; j++) {                                          \
			double x0 = s0[j], x1 = s1[j], x2 = s2[j], x3 = s3[j];             \
			p[0] += x0 * 0.0;                                                  \
			p[1] += x1 * 0.0;                                                  \
			p[2] += x2 * 0.0;                                                  \
			p[3] += x3 * 0.0;                                                  \
			d[j * ldw] = x0;                                                   \
			d[j * ldw + 1] = x1;                                               \
			d[j * ldw + 2] = x2;                                               \
			d[j * ldw + 3] = x3;                                               \
		}                                                                          \
	} while (0)

int cask__la_block_load(int64_t rows, int64_t n, cask_dtype_t dt, const void *a,
	int64_t lda, double *w, int64_t ldw)
{
	/* NaN * 0 and Inf * 0 are NaN: the accumulators catch both without a
	 * branch per element. */
	double p[4] = {0.0, 0.0, 0.0, 0.0};
	int64_t i = 0;
	if (rows < 0 || n < 0 || lda < n || ldw < rows)
		return CASK_EINVAL;
	if (!is_float(dt))
		return CASK_ETYPE;
	if (dt == CASK_FLOAT64) { /* 8 x 8 AVX-512 transposes where available */
		int t = cask_k_colmajor_f64(rows, n, a, lda, w, ldw);
		if (t >= 0)
			return t == 0 ? 0 : CASK_EINVAL;
	}
	/* Measured (bench/la_kernels.c, 100,000 x 64 into 4096-row blocks):
	 * 3.4-3.8 GB/s against 2.6-3.0 for 32 x 32 tiles with one
	 * accumulator; the source rows stream from memory either way. */
	for (; i + 4 <= rows; i += 4) {
		if (dt == CASK_FLOAT64)
			LOAD4(double);
		else
			LOAD4(float);
	}
	for (; i < rows; i++)
		for (int64_t j = 0; j < n; j++) {
			double x = dt == CASK_FLOAT64 ? ((const double *)a)[i * lda + j]
						      : ((const float *)a)[i * lda + j];
			p[0] += x * 0.0;
			w[i + j * ldw] = x;
		}
	return p[0] + p[1] + p[2] + p[3] == 0.0 ? 0 : CASK_EINVAL;
}

int cask__la_block_store(int64_t rows, int64_t n, const double *w, int64_t ldw,
	cask_dtype_t dt, void *out, int64_t ldo)
{
	if (rows < 0 || n < 0 || ldo < n || ldw < rows)
		return CASK_EINVAL;
	if (!is_float(dt))
		return CASK_ETYPE;
	for (int64_t i0 = 0; i0 < rows; i0 += TILE) {
		int64_t i1 = i0 + TILE < rows ? i0 + TILE : rows;
		for (int64_t j0 = 0; j0 < n; j0 += TILE) {
			int64_t j1 = j0 + TILE < n ? j0 + TILE : n;
			if (dt == CASK_FLOAT64) {
				double *d = out;
				for (int64_t i = i0; i < i1; i++)
					for (int64_t j = j0; j < j1; j++)
						d[i * ldo + j] = w[i + j * ldw];
			} else {
				float *d = out;
				for (int64_t i = i0; i < i1; i++)
					for (int64_t j = j0; j < j1; j++)
						d[i * ldo + j] = (float)w[i + j * ldw];
			}
		}
	}
	return 0;
}

/* ------------------------------------------------------ LAPACK kernels */

int cask__la_qr_work(int64_t n, int64_t ncols, size_t *bytes)
{
	size_t b = 0;
	int rc = add_doubles(&b, cask__la_ib(n), max64(n, ncols));
	if (rc == 0)
		*bytes = b;
	return rc;
}

int cask__la_qr_first(int64_t rows, int64_t n, double *w, int64_t ldw, double *t,
	int64_t ldt, double *r, int64_t ldr, double *work)
{
	lapack_int m_, n_, nb_, ldw_, ldt_, info = 0;
	int64_t ib = cask__la_ib(n);
	int rc;
	if (n < 1 || rows < n || ldt < ib || ldr < n) {
		rc = CASK_EINVAL;
		goto out;
	}
	if ((rc = to_li(rows, &m_)) || (rc = to_li(n, &n_)) || (rc = to_li(ib, &nb_)) ||
	    (rc = to_li(ldw, &ldw_)) || (rc = to_li(ldt, &ldt_)))
		goto out;
	if (ldw < rows) {
		rc = CASK_EINVAL;
		goto out;
	}
	LAPACK_dgeqrt(&m_, &n_, &nb_, w, &ldw_, t, &ldt_, work, &info);
	if (info != 0) {
		rc = CASK_EINTERNAL;
		goto out;
	}
	for (int64_t j = 0; j < n; j++)
		for (int64_t i = 0; i < n; i++)
			r[i + j * ldr] = i <= j ? w[i + j * ldw] : 0.0;
out:
	return rc;
}

/* dtpqrt on [a (n x n upper); b (rows x n, pentagonal with l)]. */
static int tpqrt(int64_t rows, int64_t n, int64_t l, double *a, int64_t lda, double *b,
	int64_t ldb, double *t, int64_t ldt, double *work)
{
	lapack_int m_, n_, l_, nb_, lda_, ldb_, ldt_, info = 0;
	int64_t ib = cask__la_ib(n);
	int rc;
	if (n < 1 || rows < 0 || l < 0 || l > rows || l > n || lda < n || ldt < ib ||
	    ldb < max64(1, rows)) {
		rc = CASK_EINVAL;
		goto out;
	}
	if (rows == 0) {
		rc = 0;
		goto out;
	}
	if ((rc = to_li(rows, &m_)) || (rc = to_li(n, &n_)) || (rc = to_li(l, &l_)) ||
	    (rc = to_li(ib, &nb_)) || (rc = to_li(lda, &lda_)) || (rc = to_li(ldb, &ldb_)) ||
	    (rc = to_li(ldt, &ldt_)))
		goto out;
	if (l > 0) {
		LAPACK_dtpqrt(&m_, &n_, &l_, &nb_, a, &lda_, b, &ldb_, t, &ldt_, work, &info);
		if (info != 0)
			rc = CASK_EINTERNAL;
		goto out;
	}
	/* l = 0: dtpqrt's blocking, with cask's panel kernel (kernels/houseqr.c)
	 * in place of dtpqrt2 and LAPACK's dtprfb for the columns right of it. */
	for (int64_t i = 0; i < n; i += ib) {
		int64_t pb = ib < n - i ? ib : n - i;
		double d[64];
		if (cask_k_tpqr_panel(rows, pb, a + i + i * lda, lda, b + i * ldb, ldb, t + i * ldt, ldt,
			    d) != 0) {
			rc = CASK_EINTERNAL;
			goto out;
		}
		if (i + pb < n) {
			lapack_int nc_ = (lapack_int)(n - i - pb), pb_ = (lapack_int)pb, z_ = 0;
			LAPACK_dtprfb("L", "T", "F", "C", &m_, &nc_, &pb_, &z_, b + i * ldb, &ldb_,
				t + i * ldt, &ldt_, a + i + (i + pb) * lda, &lda_, b + (i + pb) * ldb, &ldb_,
				work, &pb_);
		}
	}
out:
	return rc;
}

int cask__la_qr_fold_block(int64_t rows, int64_t n, double *r, int64_t ldr, double *w,
	int64_t ldw, double *t, int64_t ldt, double *work)
{
	return tpqrt(rows, n, 0, r, ldr, w, ldw, t, ldt, work);
}

int cask__la_qr_fold_r(int64_t n, double *r, int64_t ldr, double *r2, int64_t ldr2,
	double *t, int64_t ldt, double *work)
{
	return tpqrt(n, n, n, r, ldr, r2, ldr2, t, ldt, work);
}

int cask__la_qr_apply_first(int64_t rows, int64_t n, int64_t ncols, const double *v,
	int64_t ldv, const double *t, int64_t ldt, int trans, double *c, int64_t ldc,
	double *work)
{
	lapack_int m_, n_, k_, nb_, ldv_, ldt_, ldc_, info = 0;
	int64_t ib = cask__la_ib(n);
	int rc;
	if (n < 1 || rows < n || ncols < 0 || ldv < rows || ldt < ib || ldc < rows) {
		rc = CASK_EINVAL;
		goto out;
	}
	if (ncols == 0) {
		rc = 0;
		goto out;
	}
	if ((rc = to_li(rows, &m_)) || (rc = to_li(ncols, &n_)) || (rc = to_li(n, &k_)) ||
	    (rc = to_li(ib, &nb_)) || (rc = to_li(ldv, &ldv_)) || (rc = to_li(ldt, &ldt_)) ||
	    (rc = to_li(ldc, &ldc_)))
		goto out;
	LAPACK_dgemqrt("L", trans ? "T" : "N", &m_, &n_, &k_, &nb_, v, &ldv_, t, &ldt_, c,
		&ldc_, work, &info);
	if (info != 0)
		rc = CASK_EINTERNAL;
out:
	return rc;
}

int cask__la_qr_apply_fold(int64_t rows, int64_t n, int64_t l, int64_t ncols,
	const double *v, int64_t ldv, const double *t, int64_t ldt, int trans,
	double *ctop, int64_t ldct, double *cbot, int64_t ldcb, double *work)
{
	lapack_int m_, n_, k_, l_, nb_, ldv_, ldt_, lda_, ldb_, info = 0;
	int64_t ib = cask__la_ib(n);
	int rc;
	if (n < 1 || rows < 0 || ncols < 0 || l < 0 || l > rows || l > n ||
	    ldv < max64(1, rows) || ldt < ib || ldct < n || ldcb < max64(1, rows)) {
		rc = CASK_EINVAL;
		goto out;
	}
	if (rows == 0 || ncols == 0) {
		rc = 0;
		goto out;
	}
	if ((rc = to_li(rows, &m_)) || (rc = to_li(ncols, &n_)) || (rc = to_li(n, &k_)) ||
	    (rc = to_li(l, &l_)) || (rc = to_li(ib, &nb_)) || (rc = to_li(ldv, &ldv_)) ||
	    (rc = to_li(ldt, &ldt_)) || (rc = to_li(ldct, &lda_)) || (rc = to_li(ldcb, &ldb_)))
		goto out;
	/* Side L: A is k x ncols (the top), B is rows x ncols. */
	LAPACK_dtpmqrt("L", trans ? "T" : "N", &m_, &n_, &k_, &l_, &nb_, v, &ldv_, t, &ldt_,
		ctop, &lda_, cbot, &ldb_, work, &info);
	if (info != 0)
		rc = CASK_EINTERNAL;
out:
	return rc;
}

/* ------------------------------------------------------- TSQR per task */

/* Workspace of the pass-1 leaf, carved in this order. */
struct leaf_r_ws {
	double *w;    /* rows_max x n, one block at a time */
	double *t;    /* 2 x (ib x n): block 0's head and rest */
	double *cb;   /* rows_max x nrhs */
	double *work; /* ib * max(n, nrhs) */
};

static int leaf_r_layout(int64_t rows_max, int64_t n, int64_t nrhs, void *base,
	struct leaf_r_ws *ws, size_t *bytes)
{
	size_t off[4] = {0};
	size_t b = 0;
	int rc;
	if ((rc = add_doubles(&b, pad_ld(rows_max), n)))
		goto out;
	off[1] = b;
	if ((rc = add_doubles(&b, 2 * cask__la_ib(n), n)))
		goto out;
	off[2] = b;
	if ((rc = add_doubles(&b, pad_ld(rows_max), nrhs)))
		goto out;
	off[3] = b;
	if ((rc = add_doubles(&b, cask__la_ib(n), max64(n, nrhs))))
		goto out;
	if (ws != NULL) {
		char *p = base;
		ws->w = (double *)(p + off[0]);
		ws->t = (double *)(p + off[1]);
		ws->cb = (double *)(p + off[2]);
		ws->work = (double *)(p + off[3]);
	}
	*bytes = b;
out:
	return rc;
}

int cask__la_tsqr_leaf_r_work(int64_t rows_max, int64_t n, int64_t nrhs, size_t *bytes)
{
	if (rows_max < 0 || n < 1 || nrhs < 0)
		return CASK_EINVAL;
	return leaf_r_layout(rows_max, n, nrhs, NULL, NULL, bytes);
}

int cask__la_tsqr_leaf_r(int64_t nblk, const int64_t *rows, int64_t n, cask_dtype_t dt,
	const void *const *a, const int64_t *lda, int64_t nrhs, const double *const *b,
	const int64_t *ldb, double *r, int64_t ldr, double *c, int64_t ldc, double *rnrm,
	void *work)
{
	struct leaf_r_ws ws;
	int64_t rows_max = 0, ib = cask__la_ib(n);
	size_t bytes;
	int rc;
	if (nblk < 1 || n < 1 || nrhs < 0 || rows[0] < n || ldr < n || (nrhs > 0 && ldc < n)) {
		rc = CASK_EINVAL;
		goto out;
	}
	for (int64_t i = 0; i < nblk; i++) {
		if (rows[i] < 0) {
			rc = CASK_EINVAL;
			goto out;
		}
		rows_max = max64(rows_max, rows[i]);
	}
	if ((rc = leaf_r_layout(rows_max, n, nrhs, work, &ws, &bytes)))
		goto out;
	for (int64_t i = 0; i < nblk; i++) {
		int64_t ldw = pad_ld(rows[i]);
		/* Block 0 is factored as its first n rows (dgeqrt) and the rest
		 * folded in (dtpqrt, l = 0): measured 25-35% faster at n = 64
		 * than dgeqrt on the whole block. */
		int64_t skip = i == 0 ? n : 0;
		double *thead = ws.t, *trest = ws.t + ib * n;
		if (rows[i] == 0)
			continue;
		if ((rc = cask__la_block_load(rows[i], n, dt, a[i], lda[i], ws.w, ldw)))
			goto out;
		if (i == 0 && (rc = cask__la_qr_first(n, n, ws.w, ldw, thead, ib, r, ldr, ws.work)))
			goto out;
		if ((rc = cask__la_qr_fold_block(rows[i] - skip, n, r, ldr, ws.w + skip, ldw, trest,
			     ib, ws.work)))
			goto out;
		if (nrhs == 0)
			continue;
		if ((rc = cask__la_block_load(rows[i], nrhs, CASK_FLOAT64, b[i], ldb[i], ws.cb,
			     ldw)))
			goto out;
		if (i == 0) {
			if ((rc = cask__la_qr_apply_first(n, n, nrhs, ws.w, ldw, thead, ib, 1, ws.cb,
				     ldw, ws.work)))
				goto out;
			for (int64_t j = 0; j < nrhs; j++) {
				memcpy(c + j * ldc, ws.cb + j * ldw, (size_t)n * sizeof(double));
				rnrm[j] = 0.0;
			}
		}
		if ((rc = cask__la_qr_apply_fold(rows[i] - skip, n, 0, nrhs, ws.w + skip, ldw, trest,
			     ib, 1, c, ldc, ws.cb + skip, ldw, ws.work)))
			goto out;
		add_norm(rows[i] - skip, nrhs, ws.cb + skip, ldw, rnrm);
	}
out:
	return rc;
}

int cask__la_tsqr_fold_work(int64_t n, int64_t nrhs, size_t *bytes)
{
	if (n < 1 || nrhs < 0)
		return CASK_EINVAL;
	return cask__la_qr_work(n, nrhs, bytes);
}

int cask__la_tsqr_fold(int64_t nchild, int64_t n, double *const *r, double *t,
	int64_t nrhs, double *const *c, double *rnrm, void *work)
{
	int64_t ib = cask__la_ib(n);
	int rc = 0;
	if (nchild < 1 || n < 1 || nrhs < 0) {
		rc = CASK_EINVAL;
		goto out;
	}
	/* Fixed order: child 0 absorbs children 1, 2, ... one by one. */
	for (int64_t i = 1; i < nchild; i++) {
		double *ti = t + (i - 1) * ib * n;
		if ((rc = cask__la_qr_fold_r(n, r[0], n, r[i], n, ti, ib, work)))
			goto out;
		if (nrhs == 0)
			continue;
		if ((rc = cask__la_qr_apply_fold(n, n, n, nrhs, r[i], n, ti, ib, 1, c[0], n, c[i],
			     n, work)))
			goto out;
		add_norm(n, nrhs, c[i], n, rnrm);
	}
out:
	return rc;
}

int cask__la_tsqr_fold_apply(int64_t nchild, int64_t n, int64_t ncols,
	const double *const *v, const double *t, double *const *y, void *work)
{
	int64_t ib = cask__la_ib(n);
	int rc = 0;
	if (nchild < 1 || n < 1 || ncols < 0) {
		rc = CASK_EINVAL;
		goto out;
	}
	/* Q_tree = Q_1 Q_2 ... Q_{F-1}: the last merge is undone first. */
	for (int64_t i = nchild - 1; i >= 1; i--) {
		for (int64_t j = 0; j < ncols; j++)
			memset(y[i] + j * n, 0, (size_t)n * sizeof(double));
		if ((rc = cask__la_qr_apply_fold(n, n, n, ncols, v[i - 1], n, t + (i - 1) * ib * n,
			     ib, 0, y[0], n, y[i], n, work)))
			goto out;
	}
out:
	return rc;
}

/* Workspace of the pass-2 leaf: every block's V and T, R, the running top
 * of the product, the Gram matrix and full T of one fold, the fold's W
 * and a double copy of one block of Q rows (float32 output), and LAPACK's
 * work. */
struct leaf_q_ws {
	double *w;    /* sum of ld(rows[i]) * n, block i after blocks 0 .. i-1 */
	double *t;    /* (nblk + 1) * ib * n */
	double *r;    /* n x n */
	double *ctop; /* n x ncols */
	double *g;    /* n x n */
	double *tf;   /* n x n */
	double *wk;   /* n x ncols */
	double *qd;   /* rows_max x ncols, row-major */
	double *work; /* ib * max(n, ncols) */
};

static int leaf_q_layout(int64_t nblk, const int64_t *rows, int64_t n, int64_t ncols,
	void *base, struct leaf_q_ws *ws, size_t *bytes)
{
	size_t off[9] = {0};
	size_t b = 0;
	int64_t rows_max = 0;
	int rc = 0;
	if (nblk < 1 || n < 1 || ncols < 0) {
		rc = CASK_EINVAL;
		goto out;
	}
	for (int64_t i = 0; i < nblk; i++) {
		if (rows[i] < 0) {
			rc = CASK_EINVAL;
			goto out;
		}
		rows_max = max64(rows_max, rows[i]);
		if ((rc = add_doubles(&b, pad_ld(rows[i]), n)))
			goto out;
	}
	off[1] = b;
	if ((rc = add_doubles(&b, nblk + 1, cask__la_ib(n) * n)))
		goto out;
	off[2] = b;
	if ((rc = add_doubles(&b, n, n)))
		goto out;
	off[3] = b;
	if ((rc = add_doubles(&b, n, ncols)))
		goto out;
	off[4] = b;
	if ((rc = add_doubles(&b, n, n)))
		goto out;
	off[5] = b;
	if ((rc = add_doubles(&b, n, n)))
		goto out;
	off[6] = b;
	if ((rc = add_doubles(&b, n, ncols)))
		goto out;
	off[7] = b;
	if ((rc = add_doubles(&b, rows_max, ncols)))
		goto out;
	off[8] = b;
	if ((rc = add_doubles(&b, cask__la_ib(n), max64(n, ncols))))
		goto out;
	if (ws != NULL) {
		char *p = base;
		ws->w = (double *)(p + off[0]);
		ws->t = (double *)(p + off[1]);
		ws->r = (double *)(p + off[2]);
		ws->ctop = (double *)(p + off[3]);
		ws->g = (double *)(p + off[4]);
		ws->tf = (double *)(p + off[5]);
		ws->wk = (double *)(p + off[6]);
		ws->qd = (double *)(p + off[7]);
		ws->work = (double *)(p + off[8]);
	}
	*bytes = b;
out:
	return rc;
}

int cask__la_tsqr_leaf_q_work(int64_t nblk, const int64_t *rows, int64_t n,
	int64_t ncols, size_t *bytes)
{
	return leaf_q_layout(nblk, rows, n, ncols, NULL, NULL, bytes);
}

/* The whole n x n upper triangular T of a dtpqrt fold (l = 0) of a rows x
 * n block with reflectors [e_j; v_j] (V column-major, ldv), from the
 * blocked T tb (ib x n, ld ib) that dtpqrt returned: its diagonal holds
 * the taus, and since the identity parts of two reflectors are orthogonal,
 * [I; V]^T [I; V] differs from I only by G = V^T V.  This is dlarft's
 * forward recurrence T(0:i, i) = -tau_i T(0:i, 0:i) G(0:i, i), with G
 * formed once by dsyrk. */
static void fold_full_t(int64_t rows, int64_t n, const double *v, int64_t ldv,
	const double *tb, double *g, double *tf)
{
	int64_t ib = cask__la_ib(n);
	cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, (lapack_int)n, (lapack_int)rows, 1.0,
		v, (lapack_int)ldv, 0.0, g, (lapack_int)n);
	for (int64_t i = 0; i < n; i++) {
		double tau = tb[i % ib + i * ib];
		for (int64_t r = 0; r < i; r++)
			tf[r + i * n] = -tau * g[r + i * n];
		for (int64_t r = i + 1; r < n; r++)
			tf[r + i * n] = 0.0;
		tf[i + i * n] = tau;
		if (i > 0)
			cblas_dtrmv(CblasColMajor, CblasUpper, CblasNoTrans, CblasNonUnit,
				(lapack_int)i, tf, (lapack_int)n, tf + i * n, 1);
	}
}

/* Q rows of one folded block of a pass-2 leaf.  The fold's orthogonal
 * factor is Q = I - [I; V] T [I; V]^T; applied to [ctop; 0] it gives
 * [ctop - W; -V W] with W = T ctop.  So the block's rows are one gemm,
 * written straight into the row-major output, and ctop is updated for the
 * block above.  rows >= 1. */
static int fold_q_rows(int64_t rows, int64_t n, int64_t ncols, const double *v, int64_t ldv,
	const double *tb, struct leaf_q_ws *ws, cask_dtype_t qdt, void *q, int64_t ldq)
{
	lapack_int m_, n_, k_, ldv_, ldq_;
	int rc;
	if ((rc = to_li(ncols, &m_)) || (rc = to_li(rows, &n_)) || (rc = to_li(n, &k_)) ||
	    (rc = to_li(ldv, &ldv_)) || (rc = to_li(qdt == CASK_FLOAT64 ? ldq : ncols, &ldq_)))
		return rc;
	fold_full_t(rows, n, v, ldv, tb, ws->g, ws->tf);
	memcpy(ws->wk, ws->ctop, (size_t)(n * ncols) * sizeof(double));
	cblas_dtrmm(CblasColMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, k_, m_, 1.0,
		ws->tf, k_, ws->wk, k_);
	for (int64_t k = 0; k < n * ncols; k++)
		ws->ctop[k] -= ws->wk[k];
	/* The row-major rows x ncols result is the column-major ncols x rows
	 * -W^T V^T. */
	double *dst = qdt == CASK_FLOAT64 ? q : ws->qd;
	cblas_dgemm(CblasColMajor, CblasTrans, CblasTrans, m_, n_, k_, -1.0, ws->wk, k_, v, ldv_,
		0.0, dst, ldq_);
	if (qdt == CASK_FLOAT32) {
		float *f = q;
		for (int64_t i = 0; i < rows; i++)
			for (int64_t j = 0; j < ncols; j++)
				f[i * ldq + j] = (float)ws->qd[i * ncols + j];
	}
	return 0;
}

int cask__la_tsqr_leaf_q(int64_t nblk, const int64_t *rows, int64_t n, cask_dtype_t dt,
	const void *const *a, const int64_t *lda, int64_t ncols, const double *y,
	int64_t ldy, cask_dtype_t qdt, void *const *q, const int64_t *ldq, void *work)
{
	struct leaf_q_ws ws;
	int64_t ib = cask__la_ib(n);
	size_t bytes, off, qes;
	int rc;
	if ((rc = leaf_q_layout(nblk, rows, n, ncols, work, &ws, &bytes)))
		goto out;
	if (rows[0] < n || ldy < n) {
		rc = CASK_EINVAL;
		goto out;
	}
	if (!is_float(qdt)) {
		rc = CASK_ETYPE;
		goto out;
	}
	qes = qdt == CASK_FLOAT64 ? sizeof(double) : sizeof(float);
	for (int64_t i = 0; i < nblk; i++)
		if (rows[i] > 0 && ldq[i] < max64(1, ncols)) {
			rc = CASK_EINVAL;
			goto out;
		}
	/* Recompute the leaf's factorisation exactly as pass 1 did: T slot 0
	 * is block 0's head, slot i + 1 block i (block 0's rest for i = 0). */
	off = 0;
	for (int64_t i = 0; i < nblk; i++) {
		int64_t ldw = pad_ld(rows[i]), skip = i == 0 ? n : 0;
		double *wi = ws.w + off;
		if (rows[i] > 0 &&
		    (rc = cask__la_block_load(rows[i], n, dt, a[i], lda[i], wi, ldw)))
			goto out;
		if (i == 0 &&
		    (rc = cask__la_qr_first(n, n, wi, ldw, ws.t, ib, ws.r, n, ws.work)))
			goto out;
		if ((rc = cask__la_qr_fold_block(rows[i] - skip, n, ws.r, n, wi + skip, ldw,
			     ws.t + (i + 1) * ib * n, ib, ws.work)))
			goto out;
		off += (size_t)ldw * (size_t)n;
	}
	for (int64_t j = 0; j < ncols; j++)
		memcpy(ws.ctop + j * n, y + j * ldy, (size_t)n * sizeof(double));
	if (ncols == 0)
		goto out;
	/* Q_leaf = Q_head Q_rest Q_1 ... Q_{k-1}: undo the last fold first. */
	for (int64_t i = nblk - 1; i >= 0; i--) {
		int64_t ldw = pad_ld(rows[i]), skip = i == 0 ? n : 0;
		off -= (size_t)ldw * (size_t)n;
		if (rows[i] - skip == 0)
			continue;
		if ((rc = fold_q_rows(rows[i] - skip, n, ncols, ws.w + off + skip, ldw,
			     ws.t + (i + 1) * ib * n, &ws, qdt, (char *)q[i] + (size_t)(skip * ldq[i]) * qes,
			     ldq[i])))
			goto out;
	}
	/* Block 0's head: its n rows are Q_head ctop. */
	if ((rc = cask__la_qr_apply_first(n, n, ncols, ws.w, pad_ld(rows[0]), ws.t, ib, 0,
		     ws.ctop, n, ws.work)))
		goto out;
	rc = cask__la_block_store(n, ncols, ws.ctop, n, qdt, q[0], ldq[0]);
out:
	return rc;
}

/* ------------------------------------------------------ root, SVD, solve */

int cask__la_r_finish(int64_t n, const double *r, int64_t ldr, double *rout, int64_t ldo,
	double *sign)
{
	if (n < 1 || ldr < n || ldo < n)
		return CASK_EINVAL;
	for (int64_t i = 0; i < n; i++) {
		/* signbit, so a -0.0 diagonal also flips to +0.0 */
		sign[i] = signbit(r[i + i * ldr]) ? -1.0 : 1.0;
		for (int64_t j = 0; j < n; j++)
			rout[i * ldo + j] = j >= i ? sign[i] * r[i + j * ldr] : 0.0;
	}
	return 0;
}

int cask__la_tsqr_root_y(int64_t n, const double *sign, double *y, int64_t ldy)
{
	if (n < 1 || ldy < n)
		return CASK_EINVAL;
	for (int64_t j = 0; j < n; j++)
		for (int64_t i = 0; i < n; i++)
			y[i + j * ldy] = i == j ? sign[i] : 0.0;
	return 0;
}

/* Workspace of cask__la_svd, carved in this order: copy of a (m x n), vt
 * column-major (k x n), iwork (8k ints, counted in doubles), dgesdd work. */
static int svd_layout(int64_t m, int64_t n, size_t *bytes, lapack_int *lwork)
{
	lapack_int m_, n_, info = 0, query = -1;
	int64_t k = m < n ? m : n;
	double wq = 0.0, dummy = 0.0;
	size_t b = 0;
	int rc;
	if (m < 1 || n < 1) {
		rc = CASK_EINVAL;
		goto out;
	}
	if ((rc = to_li(m, &m_)) || (rc = to_li(n, &n_)))
		goto out;
	lapack_int ldu = m_, ldvt = (lapack_int)k, iw = 0;
	LAPACK_dgesdd("S", &m_, &n_, &dummy, &m_, &dummy, &dummy, &ldu, &dummy, &ldvt, &wq,
		&query, &iw, &info);
	if (info != 0 || !(wq >= 1.0) || wq > (double)INT32_MAX) {
		rc = info != 0 ? CASK_EINTERNAL : CASK_EOVERFLOW;
		goto out;
	}
	*lwork = (lapack_int)wq;
	if ((rc = add_doubles(&b, m, n)) || (rc = add_doubles(&b, k, n)) ||
	    (rc = add_doubles(&b, (8 * k + 1) / 2 + 1, 1)) || (rc = add_doubles(&b, *lwork, 1)))
		goto out;
	*bytes = b;
out:
	return rc;
}

int cask__la_svd_work(int64_t m, int64_t n, size_t *bytes)
{
	lapack_int lwork;
	return svd_layout(m, n, bytes, &lwork);
}

int cask__la_svd(int64_t m, int64_t n, const double *a, int64_t lda, double *u,
	int64_t ldu, double *s, double *vt, int64_t ldvt, void *work)
{
	lapack_int m_, n_, k_, ldu_, lwork, info = 0;
	int64_t k = m < n ? m : n;
	size_t bytes;
	int rc;
	if ((rc = svd_layout(m, n, &bytes, &lwork)))
		goto out;
	if (lda < m || ldu < m || ldvt < n) {
		rc = CASK_EINVAL;
		goto out;
	}
	if ((rc = to_li(m, &m_)) || (rc = to_li(n, &n_)) || (rc = to_li(k, &k_)) ||
	    (rc = to_li(ldu, &ldu_)))
		goto out;
	double *acopy = work;
	double *vtc = acopy + m * n;
	lapack_int *iwork = (lapack_int *)(vtc + k * n);
	double *w = vtc + k * n + (8 * k + 1) / 2 + 1;
	for (int64_t j = 0; j < n; j++)
		memcpy(acopy + j * m, a + j * lda, (size_t)m * sizeof(double));
	LAPACK_dgesdd("S", &m_, &n_, acopy, &m_, s, u, &ldu_, vtc, &k_, w, &lwork, iwork, &info);
	if (info != 0) {
		rc = CASK_EINTERNAL;
		goto out;
	}
	for (int64_t i = 0; i < k; i++)
		s[i] += 0.0; /* -0 (a zero matrix) as +0 */
	rc = cask__la_block_store(k, n, vtc, k, CASK_FLOAT64, vt, ldvt);
out:
	return rc;
}

int cask__la_trsolve(int64_t n, int64_t nrhs, const double *r, int64_t ldr, double *c,
	int64_t ldc)
{
	lapack_int n_, nrhs_, ldr_, ldc_, info = 0;
	int rc;
	if (n < 1 || nrhs < 0 || ldr < n || ldc < n) {
		rc = CASK_EINVAL;
		goto out;
	}
	if ((rc = to_li(n, &n_)) || (rc = to_li(nrhs, &nrhs_)) || (rc = to_li(ldr, &ldr_)) ||
	    (rc = to_li(ldc, &ldc_)))
		goto out;
	if (nrhs == 0)
		goto out;
	LAPACK_dtrtrs("U", "N", "N", &n_, &nrhs_, r, &ldr_, c, &ldc_, &info);
	if (info > 0)
		rc = CASK_EINVAL;
	else if (info < 0)
		rc = CASK_EINTERNAL;
out:
	return rc;
}

int cask__la_lstsq_work(int64_t n, int64_t nrhs, size_t *bytes)
{
	size_t b = 0, w;
	int rc;
	if ((rc = cask__la_svd_work(n, n, &w)) || (rc = add_doubles(&b, n, 2 * n + 2)) ||
	    (rc = add_doubles(&b, n, nrhs)))
		return rc;
	*bytes = b + w;
	return 0;
}

int cask__la_lstsq_solve(int64_t n, int64_t nrhs, const double *r, const double *c,
	double rcond, double *x, double *rnorm, int64_t *rank, void *work)
{
	double *u = work, *vt = u + n * n, *sv = vt + n * n, *t = sv + n, *d = t + n;
	void *svdw = d + n * nrhs;
	int64_t k = 0;
	int rc = cask__la_svd(n, n, r, n, u, n, sv, vt, n, svdw);
	if (rc != 0)
		return rc;
	while (k < n && sv[k] > rcond * sv[0])
		k++;
	*rank = k;
	if (k == n) {
		memcpy(d, c, (size_t)(n * nrhs) * sizeof(double));
		if ((rc = cask__la_trsolve(n, nrhs, r, n, d, n)) != 0)
			return rc;
		return cask__la_block_store(n, nrhs, d, n, CASK_FLOAT64, x, nrhs);
	}
	/* d = U^T c; the components past the rank join the residual. */
	cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (lapack_int)n, (lapack_int)nrhs,
		(lapack_int)n, 1.0, u, (lapack_int)n, c, (lapack_int)n, 0.0, d, (lapack_int)n);
	for (int64_t j = 0; j < nrhs; j++) {
		double *dj = d + j * n;
		rnorm[j] = hypot(rnorm[j], cblas_dnrm2((lapack_int)(n - k), dj + k, 1));
		for (int64_t i = 0; i < k; i++)
			dj[i] /= sv[i];
		/* x_j = V_k d_k; vt (row-major V^T) read column-major is V. */
		for (int64_t i = 0; i < n; i++)
			t[i] = 0.0;
		if (k > 0)
			cblas_dgemv(CblasColMajor, CblasNoTrans, (lapack_int)n, (lapack_int)k, 1.0, vt,
				(lapack_int)n, dj, 1, 0.0, t, 1);
		for (int64_t i = 0; i < n; i++)
			x[i * nrhs + j] = t[i];
	}
	return 0;
}

/* --------------------------------------------- matmul / randomized SVD */

int cask__la_gemm_work(int64_t rows, int64_t n, cask_dtype_t dt, size_t *bytes)
{
	size_t b = 0;
	int rc;
	if (rows < 0 || n < 0)
		return CASK_EINVAL;
	if (!is_float(dt))
		return CASK_ETYPE;
	if (dt == CASK_FLOAT32 && (rc = add_doubles(&b, rows, n)))
		return rc;
	*bytes = b;
	return 0;
}

/* The block a as row-major double: a itself, or promoted into work. */
static int as_double(int64_t rows, int64_t n, cask_dtype_t dt, const void *a, int64_t lda,
	void *work, const double **out, int64_t *ldout)
{
	if (!is_float(dt))
		return CASK_ETYPE;
	if (rows < 0 || n < 0 || lda < max64(1, n))
		return CASK_EINVAL;
	if (dt == CASK_FLOAT64) {
		*out = a;
		*ldout = lda;
		return 0;
	}
	const float *s = a;
	double *d = work;
	for (int64_t i = 0; i < rows; i++)
		for (int64_t j = 0; j < n; j++)
			d[i * n + j] = s[i * lda + j];
	*out = d;
	*ldout = max64(1, n);
	return 0;
}

int cask__la_gemm_nn(int64_t rows, int64_t n, int64_t k, cask_dtype_t dt, const void *a,
	int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc,
	void *work)
{
	const double *ad;
	int64_t ldad;
	lapack_int m_, n_, k_, lda_, ldb_, ldc_;
	int rc;
	if ((rc = as_double(rows, n, dt, a, lda, work, &ad, &ldad)))
		goto out;
	if (ldb < max64(1, k) || ldc < max64(1, k)) {
		rc = CASK_EINVAL;
		goto out;
	}
	if ((rc = to_li(rows, &m_)) || (rc = to_li(k, &n_)) || (rc = to_li(n, &k_)) ||
	    (rc = to_li(ldad, &lda_)) || (rc = to_li(ldb, &ldb_)) || (rc = to_li(ldc, &ldc_)))
		goto out;
	if (rows == 0 || k == 0)
		goto out;
	if (cask_k_skinny_nn(rows, n, k, ad, ldad, b, ldb, beta, c, ldc) == 0)
		goto out;
	cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m_, n_, k_, 1.0, ad, lda_, b,
		ldb_, beta, c, ldc_);
out:
	return rc;
}

int cask__la_gemm_tn(int64_t rows, int64_t n, int64_t k, cask_dtype_t dt, const void *a,
	int64_t lda, const double *b, int64_t ldb, double *z, int64_t ldz, void *work)
{
	const double *ad;
	int64_t ldad;
	lapack_int m_, n_, k_, lda_, ldb_, ldz_;
	int rc;
	if ((rc = as_double(rows, n, dt, a, lda, work, &ad, &ldad)))
		goto out;
	if (ldb < max64(1, k) || ldz < max64(1, k)) {
		rc = CASK_EINVAL;
		goto out;
	}
	if ((rc = to_li(n, &m_)) || (rc = to_li(k, &n_)) || (rc = to_li(rows, &k_)) ||
	    (rc = to_li(ldad, &lda_)) || (rc = to_li(ldb, &ldb_)) || (rc = to_li(ldz, &ldz_)))
		goto out;
	if (n == 0 || k == 0 || rows == 0)
		goto out;
	if (cask_k_skinny_tn(rows, n, k, ad, ldad, b, ldb, z, ldz) == 0)
		goto out;
	cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m_, n_, k_, 1.0, ad, lda_, b, ldb_,
		1.0, z, ldz_);
out:
	return rc;
}

int cask__la_gram(int64_t rows, int64_t n, cask_dtype_t dt, const void *a, int64_t lda,
	double *g, int64_t ldg, void *work)
{
	const double *ad;
	int64_t ldad;
	lapack_int n_, k_, lda_, ldg_;
	int rc;
	if ((rc = as_double(rows, n, dt, a, lda, work, &ad, &ldad)))
		goto out;
	if (ldg < max64(1, n)) {
		rc = CASK_EINVAL;
		goto out;
	}
	if ((rc = to_li(n, &n_)) || (rc = to_li(rows, &k_)) || (rc = to_li(ldad, &lda_)) ||
	    (rc = to_li(ldg, &ldg_)))
		goto out;
	if (n == 0 || rows == 0)
		goto out;
	cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n_, k_, 1.0, ad, lda_, 1.0, g, ldg_);
out:
	return rc;
}

int cask__la_sym_fill(int64_t n, double *g, int64_t ldg)
{
	if (n < 0 || ldg < max64(1, n))
		return CASK_EINVAL;
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < i; j++)
			g[i * ldg + j] = g[j * ldg + i];
	return 0;
}

int cask__la_right_solve_upper(int64_t n, int64_t l, const double *r, double min_rcond,
	double *w)
{
	lapack_int l_, n_, info = 0;
	double rcond = 0;
	int rc;
	if ((rc = to_li(l, &l_)) || (rc = to_li(n, &n_)))
		return rc;
	if (l == 0 || n == 0)
		return 0;
	double *work = malloc((size_t)l * 3 * sizeof(double));
	lapack_int *iwork = malloc((size_t)l * sizeof(lapack_int));
	if (work == NULL || iwork == NULL) {
		free(work);
		free(iwork);
		return CASK_ENOMEM;
	}
	/* Row-major upper R is column-major lower R^T: same condition. */
	LAPACK_dtrcon("1", "L", "N", &l_, r, &l_, &rcond, work, iwork, &info);
	free(work);
	free(iwork);
	if (info != 0 || !(rcond >= min_rcond))
		return 1;
	cblas_dtrsm(CblasRowMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, n_, l_, 1.0,
		r, l_, w, l_);
	return 0;
}
