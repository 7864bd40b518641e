/*
 * test_linalg.c - tests of the in-memory linear algebra core (linalg/):
 * TSQR (R, Q), SVD and least squares through the reference driver with the
 * graph's task decomposition, and the row-block BLAS kernels.
 *
 * References are independent of the code under test: LAPACK on the whole
 * matrix (dgeqrf, dgesdd, dgels through LAPACKE), naive loops for the BLAS
 * kernels, and LAPACK's own TSQR test ratios (xTSQR tests in LAPACK's
 * TESTING/LIN: ||R - Q^T A|| / (eps m ||A||) and ||I - Q^T Q|| / (eps m),
 * threshold 30).  Test matrices are U diag(s) V^T with U, V orthonormal
 * from the QR of Gaussian matrices and chosen singular values.
 *
 * Tolerances.  TSQR and dgeqrf are both backward stable, so each R is the
 * exact R of A + dA with ||dA|| <= c eps ||A||; by QR perturbation theory
 * ||R - R_ref|| / ||R|| <= c' cond(A) eps.  We allow 1e-12 or, for ill-
 * conditioned matrices, 10 n eps cond(A).  Singular values are perfectly
 * conditioned in the absolute sense (Weyl: |ds| <= ||dA||), so each is
 * compared with dgesdd's to 1e-12 s_max.  Least-squares solutions are
 * conditioned like cond(A) (plus cond^2 times the relative residual, zero
 * here up to rounding for the consistent part), so the same rule as R.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels.h"
#include "linalg.h"

/* ------------------------------------------------------------ helpers */

static uint64_t rng_state;

static double urand(void)
{
	/* splitmix64: deterministic across runs and platforms. */
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	z ^= z >> 31;
	return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

static double nrand(void)
{
	return sqrt(-2.0 * log(urand())) * cos(6.283185307179586 * urand());
}

/* Row-major m x k with orthonormal columns (m >= k): Q of a Gaussian. */
static double *orthonormal(int64_t m, int64_t k)
{
	double *g = malloc((size_t)(m * k) * sizeof(double));
	double *tau = malloc((size_t)k * sizeof(double));
	assert_non_null(g);
	assert_non_null(tau);
	for (int64_t i = 0; i < m * k; i++)
		g[i] = nrand();
	assert_int_equal(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (int)m, (int)k, g, (int)k, tau), 0);
	assert_int_equal(LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (int)m, (int)k, (int)k, g, (int)k, tau), 0);
	free(tau);
	return g;
}

/* Row-major m x n A = U diag(s) V^T with s_i spaced geometrically from 1
 * down to 1/cond. */
static double *test_matrix(int64_t m, int64_t n, double cond, uint64_t seed)
{
	rng_state = seed;
	double *u = orthonormal(m, n), *v = orthonormal(n, n);
	double *a = malloc((size_t)(m * n) * sizeof(double));
	assert_non_null(a);
	for (int64_t j = 0; j < n; j++) {
		double sj = n == 1 ? 1.0 : pow(cond, -(double)j / (double)(n - 1));
		for (int64_t i = 0; i < m; i++)
			u[i * n + j] *= sj;
	}
	/* a = (U S) V^T */
	cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)n, 1.0, u,
		(int)n, v, (int)n, 0.0, a, (int)n);
	free(u);
	free(v);
	return a;
}

static double fro(int64_t m, int64_t n, const double *a, int64_t lda)
{
	double s = 0.0;
	for (int64_t i = 0; i < m; i++)
		for (int64_t j = 0; j < n; j++)
			s += a[i * lda + j] * a[i * lda + j];
	return sqrt(s);
}

/* R of LAPACK's dgeqrf on the whole matrix, rows scaled to diag >= 0. */
static double *ref_r(int64_t m, int64_t n, const double *a)
{
	double *w = malloc((size_t)(m * n) * sizeof(double)), *tau = malloc((size_t)n * 8);
	double *r = calloc((size_t)(n * n), sizeof(double));
	assert_non_null(w);
	assert_non_null(r);
	memcpy(w, a, (size_t)(m * n) * sizeof(double));
	assert_int_equal(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (int)m, (int)n, w, (int)n, tau), 0);
	for (int64_t i = 0; i < n; i++) {
		double sg = w[i * n + i] < 0 ? -1.0 : 1.0;
		for (int64_t j = i; j < n; j++)
			r[i * n + j] = sg * w[i * n + j];
	}
	free(w);
	free(tau);
	return r;
}

/* LAPACK's TSQR test ratios for row-major q (m x n) and r (n x n). */
static void tsqr_ratios(int64_t m, int64_t n, const double *a, const double *q,
	const double *r, double *res_ratio, double *orth_ratio)
{
	double eps = DBL_EPSILON;
	double *d = malloc((size_t)(n * n) * sizeof(double));
	assert_non_null(d);
	/* d = R - Q^T A */
	memcpy(d, r, (size_t)(n * n) * sizeof(double));
	cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n, (int)n, (int)m, -1.0, q,
		(int)n, a, (int)n, 1.0, d, (int)n);
	double an = fro(m, n, a, n);
	*res_ratio = fro(n, n, d, n) / (eps * (double)m * (an > 0 ? an : 1.0));
	/* d = I - Q^T Q */
	for (int64_t i = 0; i < n * n; i++)
		d[i] = i % (n + 1) == 0 ? 1.0 : 0.0;
	cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)n, (int)m, -1.0, q, (int)n, 1.0,
		d, (int)n);
	cask__la_sym_fill(n, d, n);
	*orth_ratio = fro(n, n, d, n) / (eps * (double)m);
	free(d);
}

/* ------------------------------------------------------------- TSQR */

struct qr_case {
	int64_t m, n, mb, bpl, fanin;
	double cond;
};

/* R, Q of one case; checks ratios, triangularity, R against dgeqrf and
 * bit-identity of a second run. */
static void check_qr_case(const struct qr_case *c, cask_dtype_t dt)
{
	int64_t m = c->m, n = c->n;
	double *a = test_matrix(m, n, c->cond, 1234 + (uint64_t)(m * 31 + n));
	void *ain = a;
	float *af = NULL;
	if (dt == CASK_FLOAT32) {
		/* The reference sees exactly the promoted float32 values. */
		af = malloc((size_t)(m * n) * sizeof(float));
		assert_non_null(af);
		for (int64_t i = 0; i < m * n; i++) {
			af[i] = (float)a[i];
			a[i] = af[i];
		}
		ain = af;
	}
	double *r = malloc((size_t)(n * n) * sizeof(double));
	double *q = malloc((size_t)(m * n) * sizeof(double));
	double *r2 = malloc((size_t)(n * n) * sizeof(double));
	double *q2 = malloc((size_t)(m * n) * sizeof(double));
	double *rr = malloc((size_t)(n * n) * sizeof(double));
	assert_non_null(r);
	assert_non_null(q);
	assert_non_null(r2);
	assert_non_null(q2);
	assert_non_null(rr);
	assert_int_equal(cask__la_tsqr_mem(m, n, dt, ain, n, c->mb, c->bpl, c->fanin, r, n,
				 CASK_FLOAT64, q, n),
		0);
	double res, orth;
	tsqr_ratios(m, n, a, q, r, &res, &orth);
	if (!(res < 30.0 && orth < 30.0))
		print_error("case m=%lld n=%lld mb=%lld bpl=%lld F=%lld cond=%g: res %g orth %g\n",
			(long long)m, (long long)n, (long long)c->mb, (long long)c->bpl,
			(long long)c->fanin, c->cond, res, orth);
	assert_true(res < 30.0);
	assert_true(orth < 30.0);
	for (int64_t i = 0; i < n; i++) {
		assert_true(r[i * n + i] >= 0.0);
		for (int64_t j = 0; j < i; j++)
			assert_true(r[i * n + j] == 0.0);
	}
	double *ref = ref_r(m, n, a);
	for (int64_t i = 0; i < n * n; i++)
		ref[i] -= r[i];
	double rel = fro(n, n, ref, n) / fro(n, n, r, n);
	double tol = fmax(1e-12, 10.0 * (double)n * DBL_EPSILON * c->cond);
	if (!(rel <= tol))
		print_error("R vs dgeqrf: rel %g tol %g (cond %g)\n", rel, tol, c->cond);
	assert_true(rel <= tol);
	/* R-only mode gives the very same R. */
	assert_int_equal(cask__la_tsqr_mem(m, n, dt, ain, n, c->mb, c->bpl, c->fanin, rr, n,
				 CASK_FLOAT64, NULL, 0),
		0);
	assert_memory_equal(rr, r, (size_t)(n * n) * sizeof(double));
	/* Same inputs, same tree: same bits. */
	assert_int_equal(cask__la_tsqr_mem(m, n, dt, ain, n, c->mb, c->bpl, c->fanin, r2, n,
				 CASK_FLOAT64, q2, n),
		0);
	assert_memory_equal(r2, r, (size_t)(n * n) * sizeof(double));
	assert_memory_equal(q2, q, (size_t)(m * n) * sizeof(double));
	free(ref);
	free(a);
	free(af);
	free(r);
	free(q);
	free(r2);
	free(q2);
	free(rr);
}

static const struct qr_case qr_cases[] = {
	/* m, n, mb, bpl, fanin, cond */
	{1000, 10, 100, 1, 2, 1.0},      /* even blocks, binary tree */
	{1000, 10, 128, 1, 4, 1e3},      /* ragged last block (104 rows), fan-in 4 */
	{1003, 10, 100, 1, 2, 1e6},      /* ragged tail of 3 < n rows joins its leaf */
	{1003, 10, 100, 3, 4, 1e12},     /* streaming leaves, tail joins, cond 1e12 */
	{777, 1, 50, 1, 2, 1.0},         /* one column */
	{777, 1, 1, 1, 4, 1.0},          /* one column, block height 1 = n */
	{400, 40, 40, 1, 2, 1e8},        /* block height = n */
	{400, 40, 400, 1, 2, 1e4},       /* a single block */
	{400, 40, 1000, 1, 2, 1.0},      /* a single block taller than m */
	{40, 40, 40, 1, 2, 1e2},         /* square, one block */
	{41, 40, 40, 1, 2, 1e2},         /* one block + a 1-row tail */
	{3000, 64, 256, 2, 3, 1e10},     /* fan-in 3, streaming pairs, uneven tree */
	{2000, 33, 100, 1, 4, 1e12},     /* ib does not divide n */
	/* Streaming leaves whose last block is shorter than n (a 34-row tail
	 * after 19 blocks of 64): pass 2's per-block gemm on a block with
	 * fewer rows than reflectors, ib = 16 not dividing n = 50. */
	{1250, 50, 64, 3, 2, 1e8},
	/* n = 64 (ib 16) in blocks of 1000 + a 500-row block, 4 per leaf. */
	{8500, 64, 1000, 4, 2, 1e6},
};

/* The panel kernel of the folds (kernels/houseqr.c) against LAPACK's
 * dtpqrt2 (l = 0) on [a upper; b]: R, V and T equal up to rounding, each
 * within 1e-12 of its largest entry (the sums run in another order; the
 * reflectors and T are otherwise the same).  Cases: row counts off the
 * vector width (0, 1, 37, 4101), panel widths 1, 5 and 16, entries
 * scaled by 1e-300 (the sum of squares underflows: scaled norm, and
 * dlarfg's rescaling of a beta below its safe minimum) and by 1e200 (it
 * overflows), and a column that is zero below its diagonal (tau = 0). */
static void test_linalg_tpqr_panel_matches_lapack(void **state)
{
	(void)state;
	static const struct {
		int64_t rows, ib;
		double scale;
		int zero_col;
	} cases[] = {
		{37, 5, 1.0, -1},    {0, 5, 1.0, -1},     {1, 1, 1.0, -1},   {4101, 16, 1.0, -1},
		{100, 16, 1e-300, -1}, {100, 16, 1e200, -1}, {64, 16, 1.0, 3}, {9, 16, 1.0, -1},
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		int64_t rows = cases[c].rows, ib = cases[c].ib, ldb = rows > 1 ? rows : 1;
		double *a = calloc((size_t)(ib * ib), sizeof *a), *b = calloc((size_t)(ldb * ib), sizeof *b);
		double *a2 = malloc((size_t)(ib * ib) * sizeof *a2), *b2 = malloc((size_t)(ldb * ib) * sizeof *b2);
		double *t = calloc((size_t)(ib * ib), sizeof *t), *t2 = calloc((size_t)(ib * ib), sizeof *t2);
		double d[16];
		for (int64_t j = 0; j < ib; j++) {
			for (int64_t i = 0; i <= j; i++)
				a[i + j * ib] = nrand() * cases[c].scale;
			for (int64_t i = 0; i < rows; i++)
				b[i + j * ldb] = nrand() * cases[c].scale;
		}
		if (cases[c].zero_col >= 0) {
			int64_t z = cases[c].zero_col;
			for (int64_t i = 0; i < z; i++)
				a[i + z * ib] = 0.0;
			for (int64_t i = 0; i < rows; i++)
				b[i + z * ldb] = 0.0;
		}
		memcpy(a2, a, (size_t)(ib * ib) * sizeof *a);
		memcpy(b2, b, (size_t)(ldb * ib) * sizeof *b);
		assert_int_equal(LAPACKE_dtpqrt2(LAPACK_COL_MAJOR, (lapack_int)rows, (lapack_int)ib, 0, a2,
		                                 (lapack_int)ib, b2, (lapack_int)ldb, t2, (lapack_int)ib), 0);
		assert_int_equal(cask_k_tpqr_panel(rows, ib, a, ib, b, ldb, t, ib, d), 0);
		double ma = 0.0, mb = 0.0, mt = 0.0, da = 0.0, db = 0.0, dt = 0.0;
		for (int64_t j = 0; j < ib; j++) {
			for (int64_t i = 0; i <= j; i++) {
				ma = fmax(ma, fabs(a2[i + j * ib]));
				da = fmax(da, fabs(a[i + j * ib] - a2[i + j * ib]));
				mt = fmax(mt, fabs(t2[i + j * ib]));
				dt = fmax(dt, fabs(t[i + j * ib] - t2[i + j * ib]));
			}
			for (int64_t i = 0; i < rows; i++) {
				mb = fmax(mb, fabs(b2[i + j * ldb]));
				db = fmax(db, fabs(b[i + j * ldb] - b2[i + j * ldb]));
			}
		}
		if (!(da <= 1e-12 * ma && db <= 1e-12 * mb && dt <= 1e-12 * mt))
			fail_msg("case %zu (rows %lld, ib %lld): R off by %g of %g, V %g of %g, T %g of %g", c,
			         (long long)rows, (long long)ib, da, ma, db, mb, dt, mt);
		if (cases[c].zero_col >= 0)
			assert_true(t[cases[c].zero_col * (ib + 1)] == 0.0); /* tau = 0: H = I */
		free(a);
		free(b);
		free(a2);
		free(b2);
		free(t);
		free(t2);
	}
	/* Bad sizes: nothing done. */
	double x[4] = {0};
	assert_int_equal(cask_k_tpqr_panel(-1, 1, x, 1, x, 1, x, 1, x), -1);
	assert_int_equal(cask_k_tpqr_panel(2, 2, x, 1, x, 2, x, 2, x), -1);
}

static void test_linalg_tsqr_cases(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof qr_cases / sizeof qr_cases[0]; k++)
		check_qr_case(&qr_cases[k], CASK_FLOAT64);
}

static void test_linalg_tsqr_float32(void **state)
{
	(void)state;
	check_qr_case(&qr_cases[1], CASK_FLOAT32);
	check_qr_case(&qr_cases[3], CASK_FLOAT32);
	/* A float32 Q output: orthonormal to float32 precision. */
	int64_t m = 1500, n = 20;
	double *a = test_matrix(m, n, 1e3, 99);
	float *af = malloc((size_t)(m * n) * sizeof(float)), *qf = malloc((size_t)(m * n) * 4);
	double *q = malloc((size_t)(m * n) * sizeof(double)), r[400], d[400];
	assert_non_null(af);
	assert_non_null(qf);
	assert_non_null(q);
	for (int64_t i = 0; i < m * n; i++)
		af[i] = (float)a[i];
	assert_int_equal(cask__la_tsqr_mem(m, n, CASK_FLOAT32, af, n, 256, 1, 2, r, n,
				 CASK_FLOAT32, qf, n),
		0);
	for (int64_t i = 0; i < m * n; i++)
		q[i] = qf[i];
	for (int64_t i = 0; i < n * n; i++)
		d[i] = i % (n + 1) == 0 ? 1.0 : 0.0;
	cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)n, (int)m, -1.0, q, (int)n, 1.0,
		d, (int)n);
	cask__la_sym_fill(n, d, n);
	assert_true(fro(n, n, d, n) / (FLT_EPSILON * (double)m) < 30.0);
	free(a);
	free(af);
	free(qf);
	free(q);
}

/* Entries near 1e+-150: LAPACK's scaled norms keep R and Q exact to the
 * same ratios (the ratios are scale invariant). */
static void test_linalg_tsqr_scaling(void **state)
{
	(void)state;
	int64_t m = 1000, n = 10;
	double scales[] = {1e150, 1e-150};
	for (int c = 0; c < 2; c++) {
		double *a = test_matrix(m, n, 1e3, 11);
		double *q = malloc((size_t)(m * n) * 8), r[100], res, orth;
		assert_non_null(q);
		for (int64_t i = 0; i < m * n; i++)
			a[i] *= scales[c];
		assert_int_equal(cask__la_tsqr_mem(m, n, CASK_FLOAT64, a, n, 128, 2, 2, r, n,
					 CASK_FLOAT64, q, n),
			0);
		tsqr_ratios(m, n, a, q, r, &res, &orth);
		assert_true(res < 30.0);
		assert_true(orth < 30.0);
		free(a);
		free(q);
	}
}

/* Zero and duplicate columns: no crash, valid ratios, tiny diagonal where
 * the rank drops. */
static void test_linalg_tsqr_rank_deficient(void **state)
{
	(void)state;
	int64_t m = 900, n = 12;
	double *a = test_matrix(m, n, 10.0, 7);
	double *r = malloc((size_t)(n * n) * 8), *q = malloc((size_t)(m * n) * 8);
	assert_non_null(r);
	assert_non_null(q);
	for (int64_t i = 0; i < m; i++) {
		a[i * n + 4] = 0.0;            /* zero column */
		a[i * n + 9] = a[i * n + 2];   /* duplicate of column 2 */
		a[i * n + 11] = 0.0;           /* zero last column */
	}
	assert_int_equal(cask__la_tsqr_mem(m, n, CASK_FLOAT64, a, n, 100, 1, 2, r, n,
				 CASK_FLOAT64, q, n),
		0);
	double res, orth, an = fro(m, n, a, n);
	tsqr_ratios(m, n, a, q, r, &res, &orth);
	assert_true(res < 30.0);
	assert_true(orth < 30.0);
	assert_true(fabs(r[4 * n + 4]) <= 1e-13 * an);
	assert_true(fabs(r[9 * n + 9]) <= 1e-13 * an);
	assert_true(fabs(r[11 * n + 11]) <= 1e-13 * an);
	for (int64_t j = 0; j < n; j++)
		if (j != 4 && j != 9 && j != 11)
			assert_true(r[j * n + j] > 1e-3 * an);
	/* An all-zero matrix: R = 0 and Q still orthonormal. */
	memset(a, 0, (size_t)(m * n) * 8);
	assert_int_equal(cask__la_tsqr_mem(m, n, CASK_FLOAT64, a, n, 100, 1, 2, r, n,
				 CASK_FLOAT64, q, n),
		0);
	tsqr_ratios(m, n, a, q, r, &res, &orth);
	assert_true(orth < 30.0);
	assert_true(fro(n, n, r, n) == 0.0);
	free(a);
	free(r);
	free(q);
}

static void test_linalg_tsqr_errors(void **state)
{
	(void)state;
	double a[60] = {0}, r[36], q[60];
	int32_t ai[60] = {0};
	/* m < n */
	assert_int_equal(cask__la_tsqr_mem(5, 6, CASK_FLOAT64, a, 6, 6, 1, 2, r, 6,
				 CASK_FLOAT64, NULL, 0),
		CASK_EINVAL);
	/* block height < n */
	assert_int_equal(cask__la_tsqr_mem(10, 6, CASK_FLOAT64, a, 6, 5, 1, 2, r, 6,
				 CASK_FLOAT64, NULL, 0),
		CASK_EINVAL);
	/* fan-in < 2 */
	assert_int_equal(cask__la_tsqr_mem(10, 6, CASK_FLOAT64, a, 6, 6, 1, 1, r, 6,
				 CASK_FLOAT64, NULL, 0),
		CASK_EINVAL);
	/* not a float dtype */
	assert_int_equal(cask__la_tsqr_mem(10, 6, CASK_INT32, ai, 6, 6, 1, 2, r, 6,
				 CASK_FLOAT64, NULL, 0),
		CASK_ETYPE);
	/* non-finite input, in a late block */
	a[57] = NAN;
	assert_int_equal(cask__la_tsqr_mem(10, 6, CASK_FLOAT64, a, 6, 6, 1, 2, r, 6,
				 CASK_FLOAT64, q, 6),
		CASK_EINVAL);
	a[57] = INFINITY;
	assert_int_equal(cask__la_tsqr_mem(10, 6, CASK_FLOAT64, a, 6, 6, 1, 2, r, 6,
				 CASK_FLOAT64, NULL, 0),
		CASK_EINVAL);
	/* a dimension beyond LAPACK's integers */
	size_t bytes;
	assert_int_equal(cask__la_svd_work((int64_t)1 << 33, 4, &bytes), CASK_EOVERFLOW);
	assert_int_equal(cask__la_tsqr_leaf_r_work(INT64_MAX / 2, 64, 0, &bytes), CASK_EOVERFLOW);
	/* task-level argument checks: first block shorter than n, bad lds */
	double w[64], t[64], wk[256];
	int64_t rows[2] = {5, 3}, ld6[2] = {6, 6};
	const void *ap[2] = {a, a};
	assert_int_equal(cask__la_tsqr_leaf_r(2, rows, 6, CASK_FLOAT64, ap, ld6, 0, NULL, NULL,
				 r, 6, NULL, 0, NULL, wk),
		CASK_EINVAL);
	assert_int_equal(cask__la_block_load(4, 2, CASK_FLOAT64, a, 2, w, 3), CASK_EINVAL);
	assert_int_equal(cask__la_block_load(4, 3, CASK_FLOAT64, a, 2, w, 4), CASK_EINVAL);
	assert_int_equal(cask__la_qr_first(4, 5, w, 4, t, 5, r, 5, wk), CASK_EINVAL);
	/* zero-length blocks are no-ops */
	assert_int_equal(cask__la_block_load(0, 3, CASK_FLOAT64, a, 3, w, 1), 0);
	assert_int_equal(cask__la_qr_fold_block(0, 3, r, 3, w, 1, t, 3, wk), 0);
}

/* ------------------------------------------------------------- SVD */

static void check_svd(int64_t m, int64_t n, int64_t mb, int64_t bpl, int64_t fanin,
	double cond)
{
	double *a = test_matrix(m, n, cond, 555 + (uint64_t)m);
	double *s = malloc((size_t)n * 8), *vt = malloc((size_t)(n * n) * 8);
	double *u = malloc((size_t)(m * n) * 8), *w = malloc((size_t)(m * n) * 8);
	double *sref = malloc((size_t)n * 8), *d = malloc((size_t)(m * n) * 8);
	assert_non_null(s);
	assert_non_null(vt);
	assert_non_null(u);
	assert_non_null(w);
	assert_non_null(sref);
	assert_non_null(d);
	assert_int_equal(cask__la_svd_mem(m, n, CASK_FLOAT64, a, n, mb, bpl, fanin, s, vt, n,
				 CASK_FLOAT64, u, n),
		0);
	memcpy(w, a, (size_t)(m * n) * 8);
	assert_int_equal(LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', (int)m, (int)n, w, (int)n, sref,
				 NULL, (int)n, NULL, (int)n),
		0);
	for (int64_t i = 0; i < n; i++) {
		if (!(fabs(s[i] - sref[i]) <= 1e-12 * sref[0]))
			print_error("s[%lld] = %.17g, dgesdd %.17g\n", (long long)i, s[i], sref[i]);
		assert_true(fabs(s[i] - sref[i]) <= 1e-12 * sref[0]);
	}
	/* U orthonormal and A = U S V^T, as LAPACK's ratios. */
	double res, orth;
	for (int64_t i = 0; i < m; i++)
		for (int64_t j = 0; j < n; j++)
			d[i * n + j] = u[i * n + j] * s[j];
	memcpy(w, a, (size_t)(m * n) * 8);
	cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)n, -1.0, d,
		(int)n, vt, (int)n, 1.0, w, (int)n);
	res = fro(m, n, w, n) / (DBL_EPSILON * (double)m * fro(m, n, a, n));
	assert_true(res < 30.0);
	tsqr_ratios(m, n, a, u, vt, &res, &orth); /* only orth is meaningful here */
	assert_true(orth < 30.0);
	for (int64_t i = 0; i < n * n; i++)
		d[i] = i % (n + 1) == 0 ? 1.0 : 0.0;
	cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)n, -1.0, vt, (int)n,
		1.0, d, (int)n);
	cask__la_sym_fill(n, d, n);
	assert_true(fro(n, n, d, n) / (DBL_EPSILON * (double)n) < 30.0);
	free(a);
	free(s);
	free(vt);
	free(u);
	free(w);
	free(sref);
	free(d);
}

static void test_linalg_svd(void **state)
{
	(void)state;
	check_svd(1000, 10, 100, 1, 2, 1.0);
	check_svd(1003, 10, 100, 2, 4, 1e6);
	check_svd(2000, 50, 128, 1, 3, 1e12);
	check_svd(300, 1, 7, 1, 2, 1.0);
	check_svd(64, 64, 64, 1, 2, 1e3);
}

/* Zero and duplicate columns give zero singular values. */
static void test_linalg_svd_rank_deficient(void **state)
{
	(void)state;
	int64_t m = 500, n = 8;
	double *a = test_matrix(m, n, 4.0, 3);
	double s[8], vt[64], sref[8];
	double *w = malloc((size_t)(m * n) * 8);
	assert_non_null(w);
	for (int64_t i = 0; i < m; i++) {
		a[i * n + 1] = 0.0;
		a[i * n + 6] = a[i * n + 3];
	}
	assert_int_equal(cask__la_svd_mem(m, n, CASK_FLOAT64, a, n, 64, 1, 2, s, vt, n,
				 CASK_FLOAT64, NULL, 0),
		0);
	memcpy(w, a, (size_t)(m * n) * 8);
	assert_int_equal(LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', (int)m, (int)n, w, (int)n, sref,
				 NULL, (int)n, NULL, (int)n),
		0);
	for (int64_t i = 0; i < n; i++)
		assert_true(fabs(s[i] - sref[i]) <= 1e-12 * sref[0]);
	assert_true(s[6] <= 1e-14 * s[0]);
	assert_true(s[7] <= 1e-14 * s[0]);
	assert_true(s[5] > 0.1);
	free(a);
	free(w);
}

/* ------------------------------------------------------ least squares */

static void check_lstsq(int64_t m, int64_t n, int64_t nrhs, int64_t mb, int64_t bpl,
	int64_t fanin, double cond)
{
	double *a = test_matrix(m, n, cond, 77 + (uint64_t)n);
	double *b = malloc((size_t)(m * nrhs) * 8), *bw = malloc((size_t)(m * nrhs) * 8);
	double *aw = malloc((size_t)(m * n) * 8), *x = malloc((size_t)(n * nrhs) * 8);
	double *rn = malloc((size_t)nrhs * 8);
	assert_non_null(b);
	assert_non_null(bw);
	assert_non_null(aw);
	assert_non_null(x);
	assert_non_null(rn);
	for (int64_t i = 0; i < m * nrhs; i++)
		b[i] = nrand();
	assert_int_equal(cask__la_lstsq_mem(m, n, nrhs, CASK_FLOAT64, a, n, b, nrhs, mb, bpl,
				 fanin, x, nrhs, rn),
		0);
	memcpy(aw, a, (size_t)(m * n) * 8);
	memcpy(bw, b, (size_t)(m * nrhs) * 8);
	assert_int_equal(LAPACKE_dgels(LAPACK_ROW_MAJOR, 'N', (int)m, (int)n, (int)nrhs, aw,
				 (int)n, bw, (int)nrhs),
		0);
	double tol = fmax(1e-12, 10.0 * (double)n * DBL_EPSILON * cond);
	for (int64_t j = 0; j < nrhs; j++) {
		double dx = 0, xn = 0, rr = 0;
		for (int64_t i = 0; i < n; i++) {
			dx += pow(x[i * nrhs + j] - bw[i * nrhs + j], 2);
			xn += pow(bw[i * nrhs + j], 2);
		}
		for (int64_t i = n; i < m; i++)
			rr += pow(bw[i * nrhs + j], 2);
		if (!(sqrt(dx) <= tol * sqrt(xn)))
			print_error("x rel err %g tol %g\n", sqrt(dx / xn), tol);
		assert_true(sqrt(dx) <= tol * sqrt(xn));
		/* The residual norm moves by at most ||dA|| ||x|| + ||db|| under
		 * the backward errors of either method. */
		double bn = 0;
		for (int64_t i = 0; i < m; i++)
			bn += b[i * nrhs + j] * b[i * nrhs + j];
		double rtol = fmax(1e-12 * sqrt(rr), 10.0 * (double)n * DBL_EPSILON *
				(fro(m, n, a, n) * sqrt(xn) + sqrt(bn)));
		if (!(fabs(rn[j] - sqrt(rr)) <= rtol))
			print_error("rnorm %.17g dgels %.17g tol %g\n", rn[j], sqrt(rr), rtol);
		assert_true(fabs(rn[j] - sqrt(rr)) <= rtol);
	}
	free(a);
	free(b);
	free(bw);
	free(aw);
	free(x);
	free(rn);
}

static void test_linalg_lstsq(void **state)
{
	(void)state;
	check_lstsq(1000, 10, 1, 100, 1, 2, 1.0);
	check_lstsq(1003, 10, 3, 100, 3, 4, 1e6);
	check_lstsq(2000, 33, 2, 128, 1, 3, 1e10);
	check_lstsq(50, 1, 1, 50, 1, 2, 1.0);
	/* Exactly zero diagonal in R: refused, not garbage. */
	int64_t m = 100, n = 3;
	double a[300] = {0}, b[100], x[3], rn[1];
	for (int64_t i = 0; i < m; i++) {
		a[i * 3 + 0] = 1.0 + (double)i;
		a[i * 3 + 2] = 1.0;
		b[i] = (double)i;
	}
	assert_int_equal(cask__la_lstsq_mem(m, n, 1, CASK_FLOAT64, a, n, b, 1, 10, 1, 2, x, 1, rn),
		CASK_EINVAL);
}

/* ------------------------------------------------------ randomized SVD */

/* Fast spectral decay (s_i = 2^-i): the top k singular values within 1e-6
 * (relative) of dgesdd's, U and V orthonormal, and the rank-k error near
 * the optimal sqrt(sum_{i >= k} s_i^2) (Eckart-Young); for tall and wide
 * inputs and float32. */
static void check_rsvd(int64_t m, int64_t n, int wide, cask_dtype_t dt)
{
	int64_t k = 10, tm = wide ? n : m, tn = wide ? m : n, mn = m < n ? m : n;
	double *t = test_matrix(tm, tn, pow(2.0, (double)(tn - 1)), 2024);
	double *a = malloc((size_t)(m * n) * 8), *w = malloc((size_t)(m * n) * 8);
	float *af = malloc((size_t)(m * n) * 4);
	double *s = malloc((size_t)k * 8), *u = malloc((size_t)(m * k) * 8);
	double *vt = malloc((size_t)(k * n) * 8), *sref = malloc((size_t)mn * 8);
	assert_non_null(a);
	assert_non_null(w);
	assert_non_null(af);
	for (int64_t i = 0; i < m; i++)
		for (int64_t j = 0; j < n; j++) {
			double x = wide ? t[j * tn + i] : t[i * n + j];
			af[i * n + j] = (float)x;
			a[i * n + j] = dt == CASK_FLOAT32 ? (double)af[i * n + j] : x;
		}
	const void *ain = dt == CASK_FLOAT32 ? (const void *)af : (const void *)a;
	assert_int_equal(cask__la_rsvd_mem(m, n, dt, ain, n, k, 10, 2, 42, 128, 4, s, u, k, vt,
				 n),
		0);
	memcpy(w, a, (size_t)(m * n) * 8);
	assert_int_equal(LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', (int)m, (int)n, w, (int)n, sref,
				 NULL, (int)n, NULL, (int)n),
		0);
	for (int64_t i = 0; i < k; i++) {
		if (!(fabs(s[i] - sref[i]) <= 1e-6 * sref[i]))
			print_error("rsvd s[%lld] %.17g dgesdd %.17g\n", (long long)i, s[i], sref[i]);
		assert_true(fabs(s[i] - sref[i]) <= 1e-6 * sref[i]);
	}
	double d[100];
	for (int64_t i = 0; i < k * k; i++)
		d[i] = i % (k + 1) == 0 ? 1.0 : 0.0;
	cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)k, (int)m, -1.0, u, (int)k, 1.0,
		d, (int)k);
	cask__la_sym_fill(k, d, k);
	assert_true(fro(k, k, d, k) / (DBL_EPSILON * (double)m) < 30.0);
	for (int64_t i = 0; i < k * k; i++)
		d[i] = i % (k + 1) == 0 ? 1.0 : 0.0;
	cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)k, (int)n, -1.0, vt, (int)n,
		1.0, d, (int)k);
	cask__la_sym_fill(k, d, k);
	assert_true(fro(k, k, d, k) / (DBL_EPSILON * (double)n) < 30.0);
	for (int64_t i = 0; i < m; i++)
		for (int64_t j = 0; j < k; j++)
			u[i * k + j] *= s[j];
	memcpy(w, a, (size_t)(m * n) * 8);
	cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, -1.0, u,
		(int)k, vt, (int)n, 1.0, w, (int)n);
	double tail = 0;
	for (int64_t i = k; i < mn; i++)
		tail += sref[i] * sref[i];
	assert_true(fro(m, n, w, n) <= (1.0 + 1e-6) * sqrt(tail) + 1e-12 * sref[0]);
	free(t);
	free(a);
	free(w);
	free(af);
	free(s);
	free(u);
	free(vt);
	free(sref);
}

static void test_linalg_rsvd(void **state)
{
	(void)state;
	check_rsvd(2000, 200, 0, CASK_FLOAT64);
	check_rsvd(150, 400, 1, CASK_FLOAT64);
	check_rsvd(1000, 60, 0, CASK_FLOAT32);
	double a[12] = {0}, s[4];
	/* k beyond min(m, n) */
	assert_int_equal(cask__la_rsvd_mem(4, 3, CASK_FLOAT64, a, 3, 4, 0, 0, 1, 2, 2, s, NULL,
				 0, NULL, 0),
		CASK_EINVAL);
}

/* ------------------------------------------------- matmul / Gram kernels */

/* Exact int64 products modulo 2^64 (kernels/gemm_i64.c).  The expected
 * values of the fixed cases were computed by NumPy 1.24 (int64 matmul,
 * which wraps); random ragged and zero-length shapes are checked against
 * naive loops summing in the other order (j outermost). */
static void test_linalg_int_products(void **state)
{
	(void)state;
	const int64_t two31 = (int64_t)1 << 31;
	int64_t i2[4] = {two31 + 1, 3, 5, two31 + 7}, c2[4];
	const int64_t i2_ref[4] = {4611686022722355216LL, 12884901912LL, 21474836520LL,
		4611686048492159040LL};
	cask_k_gemm_nn_i64(2, 2, 2, i2, 2, i2, 2, c2, 2);
	assert_memory_equal(c2, i2_ref, sizeof c2);
	/* Values whose products wrap: A (2 x 3) @ B (3 x 2) and A^T A. */
	int64_t a[6] = {((int64_t)1 << 62) + 3, -7, (int64_t)1 << 40, 11, (int64_t)1 << 33,
		-((int64_t)1 << 50)};
	int64_t b[6] = {5, (int64_t)1 << 30, two31, 3, -((int64_t)1 << 25), ((int64_t)1 << 24) + 1};
	const int64_t ab_ref[4] = {4611686003395002383LL, 1102732853227LL, 55LL,
		-1125862325878784LL};
	const int64_t ata_ref[9] = {-9223372036854775807LL + 129, 4611686112916668395LL,
		-12381600440385536LL, 4611686112916668395LL, 49, -7696581394432LL,
		-12381600440385536LL, -7696581394432LL, 0};
	int64_t ab[4], ata[9] = {0};
	cask_k_gemm_nn_i64(2, 3, 2, a, 3, b, 2, ab, 2);
	assert_memory_equal(ab, ab_ref, sizeof ab);
	cask_k_gemm_tn_i64(2, 3, 3, a, 3, a, 3, ata, 3);
	assert_memory_equal(ata, ata_ref, sizeof ata);
	int64_t shapes[][3] = {{0, 3, 4}, {5, 0, 4}, {5, 3, 0}, {1, 1, 1}, {37, 13, 9}, {200, 5, 3}};
	rng_state = 9;
	for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
		int64_t rows = shapes[c][0], n = shapes[c][1], k = shapes[c][2];
		int64_t *x = malloc((size_t)(rows * n + 1) * 8), *y = malloc((size_t)(n * k + 1) * 8);
		int64_t *w = malloc((size_t)(rows * k + 1) * 8);
		int64_t *cm = malloc((size_t)(rows * k + 1) * 8), *z = malloc((size_t)(n * k + 1) * 8);
		for (int64_t i = 0; i < rows * n; i++)
			x[i] = (int64_t)(urand() * 4e18) - (int64_t)2e18;
		for (int64_t i = 0; i < n * k; i++)
			y[i] = (int64_t)(urand() * 4e18) - (int64_t)2e18;
		for (int64_t i = 0; i < rows * k; i++)
			w[i] = (int64_t)(urand() * 2000) - 1000;
		for (int64_t i = 0; i < n * k; i++)
			z[i] = 7; /* tn accumulates */
		cask_k_gemm_nn_i64(rows, n, k, x, n, y, k, cm, k);
		cask_k_gemm_tn_i64(rows, n, k, x, n, w, k, z, k);
		for (int64_t j = 0; j < k; j++)
			for (int64_t i = 0; i < rows; i++) {
				uint64_t ref = 0;
				for (int64_t l = n - 1; l >= 0; l--)
					ref += (uint64_t)x[i * n + l] * (uint64_t)y[l * k + j];
				assert_true((uint64_t)cm[i * k + j] == ref);
			}
		for (int64_t j = 0; j < k; j++)
			for (int64_t i = 0; i < n; i++) {
				uint64_t ref = 7;
				for (int64_t l = rows - 1; l >= 0; l--)
					ref += (uint64_t)x[l * n + i] * (uint64_t)w[l * k + j];
				assert_true((uint64_t)z[i * k + j] == ref);
			}
		free(x);
		free(y);
		free(w);
		free(cm);
		free(z);
	}
}

static void test_linalg_block_products(void **state)
{
	(void)state;
	/* Ragged, zero-length and float32 blocks against naive loops. */
	/* ... including the skinny kernel's cases: k across its 8/16/24-wide
	 * panels and past CASK_K_SKINNY_MAX (dgemm), n past its 256-row
	 * blocks of B, row and column counts not multiples of 8, 4 or 2. */
	int64_t shapes[][3] = {{37, 5, 4}, {0, 5, 4}, {1, 1, 1}, {64, 13, 0}, {200, 7, 9},
		{37, 300, 20}, {45, 513, 25}, {8, 260, 48}, {15, 9, 49}, {271, 31, 17}, {7, 3, 8}};
	rng_state = 42;
	for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
		int64_t rows = shapes[c][0], n = shapes[c][1], k = shapes[c][2];
		for (int f32 = 0; f32 <= 1; f32++) {
			cask_dtype_t dt = f32 ? CASK_FLOAT32 : CASK_FLOAT64;
			double *a = malloc((size_t)(rows * n + 1) * 8);
			float *af = malloc((size_t)(rows * n + 1) * 4);
			double *b = malloc((size_t)(n * k + 1) * 8), *bi = malloc((size_t)(rows * k + 1) * 8);
			double *cmat = malloc((size_t)(rows * k + 1) * 8), *z = calloc((size_t)(n * k + 1), 8);
			double *g = calloc((size_t)(n * n + 1), 8);
			size_t wb;
			assert_int_equal(cask__la_gemm_work(rows, n, dt, &wb), 0);
			void *work = malloc(wb + 1);
			for (int64_t i = 0; i < rows * n; i++) {
				af[i] = (float)nrand();
				a[i] = af[i];
			}
			for (int64_t i = 0; i < n * k; i++)
				b[i] = nrand();
			for (int64_t i = 0; i < rows * k; i++)
				bi[i] = nrand();
			const void *ain = f32 ? (const void *)af : (const void *)a;
			assert_int_equal(cask__la_gemm_nn(rows, n, k, dt, ain, n, b, k > 0 ? k : 1, 0.0,
						 cmat, k > 0 ? k : 1, work),
				0);
			assert_int_equal(cask__la_gemm_tn(rows, n, k, dt, ain, n, bi, k > 0 ? k : 1, z,
						 k > 0 ? k : 1, work),
				0);
			assert_int_equal(cask__la_gram(rows, n, dt, ain, n, g, n, work), 0);
			assert_int_equal(cask__la_sym_fill(n, g, n), 0);
			/* Entries are sums of `rows` or `n` products of N(0,1) values:
			 * rounding error <= len * eps * sum |terms|. */
			for (int64_t i = 0; i < rows; i++)
				for (int64_t j = 0; j < k; j++) {
					double ref = 0, mag = 0;
					for (int64_t l = 0; l < n; l++) {
						ref += a[i * n + l] * b[l * k + j];
						mag += fabs(a[i * n + l] * b[l * k + j]);
					}
					assert_true(fabs(cmat[i * k + j] - ref) <= 2 * n * DBL_EPSILON * mag);
				}
			for (int64_t i = 0; i < n; i++)
				for (int64_t j = 0; j < k; j++) {
					double ref = 0, mag = 0;
					for (int64_t l = 0; l < rows; l++) {
						ref += a[l * n + i] * bi[l * k + j];
						mag += fabs(a[l * n + i] * bi[l * k + j]);
					}
					assert_true(fabs(z[i * k + j] - ref) <= 2 * rows * DBL_EPSILON * mag);
				}
			for (int64_t i = 0; i < n; i++)
				for (int64_t j = 0; j < n; j++) {
					double ref = 0, mag = 0;
					for (int64_t l = 0; l < rows; l++) {
						ref += a[l * n + i] * a[l * n + j];
						mag += fabs(a[l * n + i] * a[l * n + j]);
					}
					assert_true(fabs(g[i * n + j] - ref) <= 2 * rows * DBL_EPSILON * mag);
					assert_true(g[i * n + j] == g[j * n + i]);
				}
			free(a);
			free(af);
			free(b);
			free(bi);
			free(cmat);
			free(z);
			free(g);
			free(work);
		}
	}
}

/* The skinny kernels themselves, with leading dimensions wider than the
 * matrices, beta 0 over NaN garbage (not read), beta 0.5, and accumulation
 * into Z; against long double sums.  Skipped without AVX-512. */
static void test_linalg_skinny_kernel(void **state)
{
	(void)state;
	if (!cask_k_skinny_available()) {
		assert_int_equal(cask_k_skinny_nn(4, 4, 4, NULL, 4, NULL, 4, 0.0, NULL, 4), -1);
		skip();
	}
	assert_int_equal(cask_k_skinny_nn(1, 1, CASK_K_SKINNY_MAX + 1, NULL, 1, NULL, 1, 0.0,
				 NULL, 1),
		-1);
	int64_t shapes[][3] = {{19, 523, 20}, {8, 1, 1}, {33, 257, 40}, {5, 700, 23}};
	rng_state = 7;
	for (size_t sc = 0; sc < sizeof shapes / sizeof shapes[0]; sc++) {
		int64_t rows = shapes[sc][0], n = shapes[sc][1], k = shapes[sc][2];
		int64_t lda = n + 3, ldb = k + 5, ldc = k + 2, ldz = k + 1;
		double *a = malloc((size_t)(rows * lda) * 8), *b = malloc((size_t)(n * ldb) * 8);
		double *bi = malloc((size_t)(rows * ldb) * 8), *c = malloc((size_t)(rows * ldc) * 8);
		double *c0 = malloc((size_t)(rows * ldc) * 8), *z = malloc((size_t)(n * ldz) * 8);
		double *z0 = malloc((size_t)(n * ldz) * 8);
		for (int64_t i = 0; i < rows * lda; i++)
			a[i] = nrand();
		for (int64_t i = 0; i < n * ldb; i++)
			b[i] = nrand();
		for (int64_t i = 0; i < rows * ldb; i++)
			bi[i] = nrand();
		for (int64_t i = 0; i < n * ldz; i++)
			z[i] = z0[i] = nrand();
		for (int beta2 = 0; beta2 <= 1; beta2++) {
			double beta = beta2 ? 0.5 : 0.0;
			for (int64_t i = 0; i < rows * ldc; i++)
				c[i] = c0[i] = beta2 ? nrand() : NAN;
			assert_int_equal(cask_k_skinny_nn(rows, n, k, a, lda, b, ldb, beta, c, ldc), 0);
			for (int64_t i = 0; i < rows; i++) {
				for (int64_t j = 0; j < k; j++) {
					long double ref = beta2 ? beta * c0[i * ldc + j] : 0;
					double mag = fabs((double)ref);
					for (int64_t l = 0; l < n; l++) {
						ref += (long double)a[i * lda + l] * b[l * ldb + j];
						mag += fabs(a[i * lda + l] * b[l * ldb + j]);
					}
					assert_true(fabs(c[i * ldc + j] - (double)ref) <=
						    (n + 1) * DBL_EPSILON * mag);
				}
				for (int64_t j = k; j < ldc; j++) /* padding untouched */
					assert_memory_equal(&c[i * ldc + j], &c0[i * ldc + j], 8);
			}
		}
		assert_int_equal(cask_k_skinny_tn(rows, n, k, a, lda, bi, ldb, z, ldz), 0);
		for (int64_t i = 0; i < n; i++) {
			for (int64_t j = 0; j < k; j++) {
				long double ref = z0[i * ldz + j];
				double mag = fabs(z0[i * ldz + j]);
				for (int64_t l = 0; l < rows; l++) {
					ref += (long double)a[l * lda + i] * bi[l * ldb + j];
					mag += fabs(a[l * lda + i] * bi[l * ldb + j]);
				}
				assert_true(fabs(z[i * ldz + j] - (double)ref) <= (rows + 1) * DBL_EPSILON * mag);
			}
			for (int64_t j = k; j < ldz; j++)
				assert_true(z[i * ldz + j] == z0[i * ldz + j]);
		}
		free(a);
		free(b);
		free(bi);
		free(c);
		free(c0);
		free(z);
		free(z0);
	}
	/* The transpose-load: exact copies, NaN and Inf found in the 8 x 8
	 * blocks and in the row and column tails. */
	int64_t tshapes[][2] = {{37, 21}, {64, 64}, {9, 8}, {8, 7}, {3, 30}};
	for (size_t sc = 0; sc < sizeof tshapes / sizeof tshapes[0]; sc++) {
		int64_t rows = tshapes[sc][0], n = tshapes[sc][1], lda = n + 2, ldw = rows + 3;
		double *a = malloc((size_t)(rows * lda) * 8), *w = malloc((size_t)(n * ldw) * 8);
		for (int64_t i = 0; i < rows * lda; i++)
			a[i] = nrand();
		assert_int_equal(cask_k_colmajor_f64(rows, n, a, lda, w, ldw), 0);
		for (int64_t i = 0; i < rows; i++)
			for (int64_t j = 0; j < n; j++)
				assert_memory_equal(&w[i + j * ldw], &a[i * lda + j], 8);
		int64_t spots[3][2] = {{0, 0}, {rows - 1, n - 1}, {rows / 2, n / 2}};
		for (int k = 0; k < 3; k++) {
			double keep = a[spots[k][0] * lda + spots[k][1]];
			a[spots[k][0] * lda + spots[k][1]] = k == 1 ? -INFINITY : NAN;
			assert_int_equal(cask_k_colmajor_f64(rows, n, a, lda, w, ldw), 1);
			a[spots[k][0] * lda + spots[k][1]] = keep;
		}
		free(a);
		free(w);
	}
}

/* ------------------------------------------------------------- bench */

static double now(clockid_t id)
{
	struct timespec t;
	clock_gettime(id, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* GF/s (2 m n^2 flops) of the R-only pass at n = 64: printed, not
 * asserted.  16 row blocks of 8192 (2 threads' worth of leaves for every
 * block height), one BLAS thread; CPU time as well as wall time because
 * the machine is shared.  Best of 3. */
static void test_linalg_bench_r_only(void **state)
{
	(void)state;
	int64_t n = 64, m = 16 * 8192;
	double *a = malloc((size_t)(m * n) * 8), r[64 * 64];
	assert_non_null(a);
	rng_state = 5;
	for (int64_t i = 0; i < m * n; i++)
		a[i] = urand() - 0.5;
	int64_t mbs[] = {1024, 2048, 4096, 8192};
	double flops = 2.0 * (double)m * (double)(n * n);
	for (size_t i = 0; i < 4; i++)
		for (int64_t bpl = 1; bpl <= 8; bpl *= 8) {
			double best_cpu = 1e30, best_wall = 1e30;
			for (int rep = 0; rep < 3; rep++) {
				double c0 = now(CLOCK_PROCESS_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
				assert_int_equal(cask__la_tsqr_mem(m, n, CASK_FLOAT64, a, n, mbs[i], bpl,
							 4, r, n, CASK_FLOAT64, NULL, 0),
					0);
				best_cpu = fmin(best_cpu, now(CLOCK_PROCESS_CPUTIME_ID) - c0);
				best_wall = fmin(best_wall, now(CLOCK_MONOTONIC) - w0);
			}
			printf("# bench R-only n=64 m=%lld mb=%lld blocks/leaf=%lld: %.2f GF/s per "
			       "core (cpu time), %.2f GF/s wall, one thread\n",
				(long long)m, (long long)mbs[i], (long long)bpl, flops / best_cpu * 1e-9,
				flops / best_wall * 1e-9);
		}
	/* Q and R (two reads of A, one write of Q) against R only, mb = 4096. */
	double *q = malloc((size_t)(m * n) * 8);
	assert_non_null(q);
	double cr = 1e30, cq = 1e30;
	for (int rep = 0; rep < 3; rep++) {
		double c0 = now(CLOCK_PROCESS_CPUTIME_ID);
		assert_int_equal(cask__la_tsqr_mem(m, n, CASK_FLOAT64, a, n, 4096, 1, 4, r, n,
					 CASK_FLOAT64, NULL, 0),
			0);
		double c1 = now(CLOCK_PROCESS_CPUTIME_ID);
		assert_int_equal(cask__la_tsqr_mem(m, n, CASK_FLOAT64, a, n, 4096, 1, 4, r, n,
					 CASK_FLOAT64, q, n),
			0);
		double c2 = now(CLOCK_PROCESS_CPUTIME_ID);
		cr = fmin(cr, c1 - c0);
		cq = fmin(cq, c2 - c1);
	}
	printf("# bench n=64 m=%lld mb=4096: R only %.3f s, Q and R %.3f s cpu (%.2fx)\n",
		(long long)m, cr, cq, cq / cr);
	free(q);
	free(a);
}

int main(void)
{
	openblas_set_num_threads(1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_linalg_tpqr_panel_matches_lapack),
		cmocka_unit_test(test_linalg_tsqr_cases),
		cmocka_unit_test(test_linalg_tsqr_float32),
		cmocka_unit_test(test_linalg_tsqr_scaling),
		cmocka_unit_test(test_linalg_tsqr_rank_deficient),
		cmocka_unit_test(test_linalg_tsqr_errors),
		cmocka_unit_test(test_linalg_svd),
		cmocka_unit_test(test_linalg_svd_rank_deficient),
		cmocka_unit_test(test_linalg_lstsq),
		cmocka_unit_test(test_linalg_rsvd),
		cmocka_unit_test(test_linalg_block_products),
		cmocka_unit_test(test_linalg_int_products),
		cmocka_unit_test(test_linalg_skinny_kernel),
		cmocka_unit_test(test_linalg_bench_r_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
