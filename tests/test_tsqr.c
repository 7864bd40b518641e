/*
 * test_tsqr.c - the out-of-core linear algebra through the public API
 * (linalg/tsqr.c, svd.c, matmul.c): TSQR, exact and randomized SVD, least
 * squares, matmul / Gram / A^T B, on HDF5 datasets and in-memory arrays.
 *
 * References are independent of the code under test: LAPACK on the whole
 * matrix in memory (dgeqrf, dgesdd, dgels through LAPACKE), naive loops for
 * the products, and LAPACK's own TSQR test ratios (TESTING/LIN dtsqr01:
 * ||R - Q^T A|| / (eps m ||A||) and ||I - Q^T Q|| / (eps m), threshold 30;
 * we use Frobenius norms).  Test matrices are U diag(s) V^T with U, V from
 * the QR of Gaussian matrices and chosen singular values.
 *
 * Tolerances.  TSQR and dgeqrf are both backward stable, so by QR
 * perturbation theory ||R - R_ref|| / ||R|| <= c cond(A) eps: we allow
 * max(1e-12, 10 n eps cond(A)).  Singular values are perfectly conditioned
 * in the absolute sense (Weyl), so each is compared with dgesdd's to
 * 1e-12 s_max.  Least-squares solutions follow the same rule as R.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cblas.h>
#include <dirent.h>
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cask.h"

static char g_dir[256];
static uint64_t rng_state;

static double urand(void)
{
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

/* Row-major m x n (m >= n) A = U diag(s) V^T; s NULL: geometric 1..1/cond. */
static double *test_matrix_s(int64_t m, int64_t n, const double *s, double cond, uint64_t seed)
{
	rng_state = seed;
	double *u = orthonormal(m, n), *v = orthonormal(n, n);
	double *a = malloc((size_t)(m * n) * sizeof(double));
	assert_non_null(a);
	for (int64_t j = 0; j < n; j++) {
		double sj = s != NULL ? s[j] : n == 1 ? 1.0 : pow(cond, -(double)j / (double)(n - 1));
		for (int64_t i = 0; i < m; i++)
			u[i * n + j] *= sj;
	}
	cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)n, 1.0, u,
		(int)n, v, (int)n, 0.0, a, (int)n);
	free(u);
	free(v);
	return a;
}

static double *test_matrix(int64_t m, int64_t n, double cond, uint64_t seed)
{
	return test_matrix_s(m, n, NULL, cond, seed);
}

static double fro(int64_t m, int64_t n, const double *a)
{
	double s = 0.0;
	for (int64_t i = 0; i < m * n; i++)
		s += a[i] * a[i];
	return sqrt(s);
}

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

/* Singular values of the row-major m x n a by dgesdd. */
static double *ref_s(int64_t m, int64_t n, const double *a)
{
	int64_t k = m < n ? m : n;
	double *w = malloc((size_t)(m * n) * sizeof(double)), *s = malloc((size_t)k * 8);
	assert_non_null(w);
	memcpy(w, a, (size_t)(m * n) * sizeof(double));
	double dummy[1];
	assert_int_equal(LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', (int)m, (int)n, w, (int)n, s, dummy,
		(int)m, dummy, (int)n), 0);
	free(w);
	return s;
}

static cask_ctx_t *new_ctx(size_t mem, int threads)
{
	cask_ctx_t *ctx = NULL;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	assert_int_equal(cask_ctx_set_memory(ctx, mem), 0);
	assert_int_equal(cask_ctx_set_threads(ctx, threads), 0);
	return ctx;
}

static char *path_of(const char *name)
{
	static char p[4][512];
	static int i;
	i = (i + 1) % 4;
	snprintf(p[i], sizeof p[i], "%s/%s", g_dir, name);
	return p[i];
}

/* Store the row-major m x n doubles as dataset dset of file (dtype dt). */
static void put(cask_ctx_t *ctx, const double *a, int64_t m, int64_t n, int64_t chunk_rows,
	int64_t chunk_cols, cask_dtype_t dt, const char *file, const char *dset)
{
	int64_t shape[2] = {m, n}, ch[2] = {chunk_rows, chunk_cols};
	cask_array_t *x = NULL, *y = NULL;
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, shape, ch, a, &x), 0);
	assert_int_equal(cask_astype(ctx, x, dt, &y), 0);
	cask_store_t o;
	cask_store_init(&o, file, dset);
	o.overwrite = 1;
	int rc = cask_store(ctx, 1, &y, &o);
	if (rc != 0)
		fail_msg("store: %s", cask_ctx_message(ctx));
	cask_array_destroy(x);
	cask_array_destroy(y);
}

static cask_array_t *open_ds(cask_ctx_t *ctx, const char *file, const char *dset)
{
	cask_array_t *a = NULL;
	int rc = cask_array_open(ctx, file, dset, NULL, &a);
	if (rc != 0)
		fail_msg("open: %s", cask_ctx_message(ctx));
	return a;
}

/* A dataset read back as doubles. */
static double *get(cask_ctx_t *ctx, const char *file, const char *dset, int64_t *count)
{
	cask_array_t *a = open_ds(ctx, file, dset), *b = NULL;
	assert_int_equal(cask_astype(ctx, a, CASK_FLOAT64, &b), 0);
	int64_t n = cask_array_size(b);
	double *buf = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
	assert_non_null(buf);
	assert_int_equal(cask_compute(ctx, b, buf, (size_t)n * sizeof(double)), 0);
	if (count != NULL)
		*count = n;
	cask_array_destroy(a);
	cask_array_destroy(b);
	return buf;
}

/* LAPACK's TSQR ratios of Q (m x n), R (n x n) for A. */
static void qr_ratios(int64_t m, int64_t n, const double *a, const double *q, const double *r,
	double eps, double *res_r, double *res_q)
{
	double *qta = malloc((size_t)(n * n) * 8), *qtq = malloc((size_t)(n * n) * 8);
	assert_non_null(qta);
	assert_non_null(qtq);
	cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n, (int)n, (int)m, 1.0, q, (int)n,
		a, (int)n, 0.0, qta, (int)n);
	cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n, (int)n, (int)m, 1.0, q, (int)n,
		q, (int)n, 0.0, qtq, (int)n);
	for (int64_t i = 0; i < n * n; i++) {
		qta[i] = r[i] - qta[i];
		qtq[i] = (i / n == i % n ? 1.0 : 0.0) - qtq[i];
	}
	*res_r = fro(n, n, qta) / (eps * (double)m * fro(m, n, a));
	*res_q = fro(n, n, qtq) / (eps * (double)m);
	free(qta);
	free(qtq);
}

static void check_r(int64_t n, const double *r, const double *rref, double tol)
{
	double d[1];
	double *diff = malloc((size_t)(n * n) * 8);
	assert_non_null(diff);
	for (int64_t i = 0; i < n; i++) {
		assert_true(r[i * n + i] >= 0.0);
		for (int64_t j = 0; j < i; j++)
			assert_true(r[i * n + j] == 0.0);
	}
	for (int64_t i = 0; i < n * n; i++)
		diff[i] = r[i] - rref[i];
	d[0] = fro(n, n, diff) / fro(n, n, rref);
	if (!(d[0] <= tol))
		fail_msg("||R - R_ref|| / ||R_ref|| = %g > %g", d[0], tol);
	free(diff);
}

/* Q and R of A stored with the given chunking, checked against LAPACK. */
static void run_qr_case(int64_t m, int64_t n, int64_t crow, int64_t ccol, double cond,
	cask_dtype_t dt, size_t mem, int threads)
{
	cask_ctx_t *ctx = new_ctx(mem, threads);
	double *a = test_matrix(m, n, cond, 1000 + (uint64_t)(m * 7 + n));
	if (dt == CASK_FLOAT32)
		for (int64_t i = 0; i < m * n; i++)
			a[i] = (double)(float)a[i];
	char *f = path_of("qr.h5");
	put(ctx, a, m, n, crow, ccol, dt, f, "/A");
	cask_array_t *x = open_ds(ctx, f, "/A");
	double *r = malloc((size_t)(n * n) * 8);
	cask_store_t qs, rs;
	char *fo = path_of("qr_out.h5");
	cask_store_init(&qs, fo, "/Q");
	cask_store_init(&rs, fo, "/R");
	qs.overwrite = rs.overwrite = 1;
	int rc = cask_tsqr(ctx, x, r, &rs, &qs);
	if (rc != 0)
		fail_msg("tsqr %lldx%lld: %s", (long long)m, (long long)n, cask_ctx_message(ctx));
	cask_stats_t st;
	cask_ctx_stats(ctx, &st);
	assert_true(st.peak_memory <= st.budget);
	int64_t cnt;
	double *q = get(ctx, fo, "/Q", &cnt);
	assert_int_equal(cnt, m * n);
	double *r2 = get(ctx, fo, "/R", &cnt);
	assert_int_equal(cnt, n * n);
	assert_memory_equal(r, r2, (size_t)(n * n) * 8);
	cask_array_t *qa = open_ds(ctx, fo, "/Q");
	assert_int_equal(cask_array_dtype(qa), dt);
	assert_int_equal(cask_array_chunks(qa)[0], crow < m ? crow : m);
	cask_array_destroy(qa);
	double rr, rq;
	qr_ratios(m, n, a, q, r, dt == CASK_FLOAT32 ? FLT_EPSILON : DBL_EPSILON, &rr, &rq);
	if (!(rr < 30 && rq < 30))
		fail_msg("%lldx%lld cond %g: ratios %g %g", (long long)m, (long long)n, cond, rr, rq);
	double *rref = ref_r(m, n, a);
	double tol = 10.0 * (double)n * DBL_EPSILON * cond;
	check_r(n, r, rref, tol > 1e-12 ? tol : 1e-12);
	/* R only (one read of A) gives the same bits. */
	double *r3 = malloc((size_t)(n * n) * 8);
	uint64_t before = st.bytes_read;
	cask_ctx_reset_stats(ctx);
	assert_int_equal(cask_tsqr(ctx, x, r3, NULL, NULL), 0);
	cask_ctx_stats(ctx, &st);
	(void)before;
	assert_true(st.bytes_read <= (uint64_t)(m * n) * (dt == CASK_FLOAT32 ? 4u : 8u));
	assert_memory_equal(r, r3, (size_t)(n * n) * 8);
	cask_array_destroy(x);
	free(a);
	free(r);
	free(r2);
	free(r3);
	free(q);
	free(rref);
	cask_ctx_destroy(ctx);
}

/* ------------------------------------------------------------ tests */

static void test_tsqr_ratios_ragged(void **state)
{
	(void)state;
	/* Row chunks of 700 rows: leaves of 2100 rows, tail of 5 < n joins. */
	run_qr_case(3 * 2100 + 5, 16, 700, 16, 10.0, CASK_FLOAT64, (size_t)256 << 20, 2);
	/* Column-split chunks: full-width row blocks are evaluated anyway. */
	run_qr_case(4000, 24, 1000, 7, 100.0, CASK_FLOAT64, (size_t)256 << 20, 2);
}

static void test_tsqr_condition_numbers(void **state)
{
	(void)state;
	const double conds[] = {1.0, 1e4, 1e8, 1e12};
	for (int i = 0; i < 4; i++)
		run_qr_case(3000, 20, 500, 20, conds[i], CASK_FLOAT64, (size_t)64 << 20, 2);
}

static void test_tsqr_shapes(void **state)
{
	(void)state;
	run_qr_case(1000, 1, 300, 1, 1.0, CASK_FLOAT64, (size_t)64 << 20, 2);   /* 1 column */
	run_qr_case(64, 64, 64, 64, 10.0, CASK_FLOAT64, (size_t)64 << 20, 2);   /* square, one block */
	run_qr_case(500, 30, 500, 30, 10.0, CASK_FLOAT64, (size_t)64 << 20, 1); /* one block */
	/* A small budget forces leaves of a few sub-blocks and many leaves. */
	run_qr_case(40000, 8, 5000, 8, 10.0, CASK_FLOAT64, (size_t)4 << 20, 2);
}

static void test_tsqr_float32(void **state)
{
	(void)state;
	run_qr_case(5000, 12, 1000, 12, 10.0, CASK_FLOAT32, (size_t)64 << 20, 2);
}

static void test_tsqr_in_memory_and_threads(void **state)
{
	(void)state;
	int64_t m = 20000, n = 32;
	double *a = test_matrix(m, n, 1e3, 7);
	double *r1 = malloc((size_t)(n * n) * 8), *r2 = malloc((size_t)(n * n) * 8);
	int64_t shape[2] = {m, n}, ch[2] = {1500, n};
	for (int t = 1; t <= 2; t++) {
		cask_ctx_t *ctx = new_ctx((size_t)32 << 20, t);
		cask_array_t *x = NULL;
		assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, shape, ch, a, &x), 0);
		int rc = cask_tsqr(ctx, x, t == 1 ? r1 : r2, NULL, NULL);
		if (rc != 0)
			fail_msg("%s", cask_ctx_message(ctx));
		cask_array_destroy(x);
		cask_ctx_destroy(ctx);
	}
	/* Fixed tree: bit-identical between thread counts. */
	assert_memory_equal(r1, r2, (size_t)(n * n) * 8);
	double *rref = ref_r(m, n, a);
	check_r(n, r1, rref, 1e-12);
	free(a);
	free(r1);
	free(r2);
	free(rref);
}

/* The leaves, hence every bit of S, do not depend on which outputs are
 * asked for: a wide float32 SVD computes V^T in float64 when the caller
 * takes it in memory and in float32 otherwise, and its 120000-row chunks
 * (of A^T) are split into leaves; S must be the same either way. */
static void test_tsqr_tree_independent_of_outputs(void **state)
{
	(void)state;
	int64_t m = 64, n = 120000;
	double *ad = test_matrix(n, m, 1e2, 5);
	float *a = malloc((size_t)(m * n) * sizeof *a);
	for (int64_t i = 0; i < m; i++)
		for (int64_t j = 0; j < n; j++)
			a[i * n + j] = (float)ad[j * m + i];
	double s1[64], s2[64], *vt = malloc((size_t)(m * n) * sizeof *vt);
	cask_ctx_t *ctx = new_ctx((size_t)256 << 20, 2);
	int64_t shape[2] = {m, n}, ch[2] = {m, n};
	cask_array_t *x = NULL;
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT32, 2, shape, ch, a, &x), 0);
	if (cask_svd(ctx, x, s1, NULL, NULL, NULL, NULL) != 0 ||
	    cask_svd(ctx, x, s2, vt, NULL, NULL, NULL) != 0)
		fail_msg("%s", cask_ctx_message(ctx));
	assert_memory_equal(s1, s2, sizeof s1);
	cask_array_destroy(x);
	cask_ctx_destroy(ctx);
	free(a);
	free(ad);
	free(vt);
}

static void test_tsqr_rank_deficient(void **state)
{
	(void)state;
	int64_t m = 3000, n = 10;
	double s[10] = {3, 2, 1, 0.5, 0.25, 0, 0, 0, 0, 0};
	double *a = test_matrix_s(m, n, s, 0, 11);
	cask_ctx_t *ctx = new_ctx((size_t)64 << 20, 2);
	int64_t shape[2] = {m, n}, ch[2] = {700, n};
	cask_array_t *x = NULL;
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, shape, ch, a, &x), 0);
	double r[100], sv[10], vt[100];
	assert_int_equal(cask_tsqr(ctx, x, r, NULL, NULL), 0);
	/* Rank 5: the trailing 5 x 5 block of R is at rounding level. */
	double tail = 0;
	for (int64_t i = 5; i < n; i++)
		for (int64_t j = i; j < n; j++)
			tail += r[i * n + j] * r[i * n + j];
	assert_true(sqrt(tail) < 1e-12 * 3.0 * 100);
	assert_int_equal(cask_svd(ctx, x, sv, vt, NULL, NULL, NULL), 0);
	for (int i = 0; i < 10; i++)
		assert_true(fabs(sv[i] - s[i]) <= 1e-12 * 3.0);
	/* Least squares refuses exactly singular R only; here R is tiny, not
	 * zero, so just check it does not crash. */
	cask_array_destroy(x);
	cask_ctx_destroy(ctx);
	free(a);
}

static void test_tsqr_nonfinite_names_dataset(void **state)
{
	(void)state;
	int64_t m = 500, n = 4;
	double *a = test_matrix(m, n, 2.0, 3);
	a[333 * n + 2] = NAN;
	cask_ctx_t *ctx = new_ctx((size_t)64 << 20, 2);
	char *f = path_of("nan.h5");
	put(ctx, a, m, n, 100, n, CASK_FLOAT64, f, "/bad");
	cask_array_t *x = open_ds(ctx, f, "/bad");
	double r[16];
	assert_int_equal(cask_tsqr(ctx, x, r, NULL, NULL), CASK_EINVAL);
	assert_non_null(strstr(cask_ctx_message(ctx), "nan.h5:/bad"));
	assert_non_null(strstr(cask_ctx_message(ctx), "non-finite"));
	assert_non_null(strstr(cask_ctx_message(ctx), "row 333, column 2"));
	double sv[4];
	assert_int_equal(cask_svd(ctx, x, sv, NULL, NULL, NULL, NULL), CASK_EINVAL);
	assert_non_null(strstr(cask_ctx_message(ctx), "/bad"));
	/* The randomized SVD's one-pass power iterations name the row. */
	assert_int_equal(cask_svd_randomized(ctx, x, 2, 1, 1, 5, sv, NULL, NULL, NULL, NULL),
		CASK_EINVAL);
	assert_non_null(strstr(cask_ctx_message(ctx), "nan.h5:/bad"));
	assert_non_null(strstr(cask_ctx_message(ctx), "row 333"));
	/* Without power iterations the NaN is found in the sketch A Omega,
	 * whose rows are A's: still named after A's dataset. */
	assert_int_equal(cask_svd_randomized(ctx, x, 2, 1, 0, 5, sv, NULL, NULL, NULL, NULL),
		CASK_EINVAL);
	assert_non_null(strstr(cask_ctx_message(ctx), "nan.h5:/bad"));
	assert_non_null(strstr(cask_ctx_message(ctx), "row 333"));
	/* A failed run with a Q output leaves no dataset behind. */
	cask_store_t qs;
	cask_store_init(&qs, path_of("nan_out.h5"), "/Q");
	assert_int_equal(cask_tsqr(ctx, x, r, NULL, &qs), CASK_EINVAL);
	assert_int_equal(access(path_of("nan_out.h5"), F_OK), -1);
	/* A dataset of the wrong rank is named too (was "the matrix to factor
	 * must be a 2-d array, not 1-d", no file or dataset). */
	cask_array_t *v = NULL;
	int64_t s1 = m;
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 1, &s1, NULL, a, &v), 0);
	cask_store_t vs;
	cask_store_init(&vs, f, "/vec");
	assert_int_equal(cask_store(ctx, 1, &v, &vs), 0);
	cask_array_t *y = open_ds(ctx, f, "/vec");
	assert_int_equal(cask_tsqr(ctx, y, r, NULL, NULL), CASK_ESHAPE);
	assert_non_null(strstr(cask_ctx_message(ctx), "nan.h5:/vec: "));
	assert_int_equal(cask_svd(ctx, y, sv, NULL, NULL, NULL, NULL), CASK_ESHAPE);
	assert_non_null(strstr(cask_ctx_message(ctx), "nan.h5:/vec: "));
	assert_int_equal(cask_svd_randomized(ctx, y, 1, 0, 0, 5, sv, NULL, NULL, NULL, NULL),
		CASK_ESHAPE);
	assert_non_null(strstr(cask_ctx_message(ctx), "nan.h5:/vec: "));
	assert_int_equal(cask_lstsq(ctx, y, x, r, NULL), CASK_ESHAPE);
	assert_non_null(strstr(cask_ctx_message(ctx), "nan.h5:/vec: "));
	cask_array_destroy(y);
	cask_array_destroy(v);
	cask_array_destroy(x);
	cask_ctx_destroy(ctx);
	free(a);
}

/* U (m x k) and V^T (k x n) orthonormal and A ~ U S V^T. */
static void check_svd(int64_t m, int64_t n, const double *a, const double *u, const double *s,
	const double *vt, double tol)
{
	int64_t k = m < n ? m : n;
	double *g = malloc((size_t)(k * k) * 8), *us = malloc((size_t)(m * k) * 8);
	double *rec = malloc((size_t)(m * n) * 8);
	cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)k, (int)m, 1.0, u, (int)k,
		u, (int)k, 0.0, g, (int)k);
	for (int64_t i = 0; i < k * k; i++)
		g[i] -= i / k == i % k ? 1.0 : 0.0;
	double ou = fro(k, k, g) / (DBL_EPSILON * (double)m);
	cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)k, (int)k, (int)n, 1.0, vt, (int)n,
		vt, (int)n, 0.0, g, (int)k);
	for (int64_t i = 0; i < k * k; i++)
		g[i] -= i / k == i % k ? 1.0 : 0.0;
	double ov = fro(k, k, g) / (DBL_EPSILON * (double)n);
	for (int64_t i = 0; i < m; i++)
		for (int64_t j = 0; j < k; j++)
			us[i * k + j] = u[i * k + j] * s[j];
	cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0, us,
		(int)k, vt, (int)n, 0.0, rec, (int)n);
	for (int64_t i = 0; i < m * n; i++)
		rec[i] -= a[i];
	double res = fro(m, n, rec) / (DBL_EPSILON * (double)(m > n ? m : n) * fro(m, n, a));
	if (!(ou < tol && ov < tol && res < tol))
		fail_msg("svd %lldx%lld: orth U %g, orth V %g, residual %g", (long long)m, (long long)n,
			ou, ov, res);
	free(g);
	free(us);
	free(rec);
}

static void svd_case(int64_t m, int64_t n, double cond, int wide)
{
	cask_ctx_t *ctx = new_ctx((size_t)64 << 20, 2);
	int64_t mm = wide ? n : m, nn = wide ? m : n; /* stored shape */
	double *t = test_matrix(m, n, cond, 21 + (uint64_t)wide);
	double *a = t;
	if (wide) {
		a = malloc((size_t)(m * n) * 8);
		for (int64_t i = 0; i < m; i++)
			for (int64_t j = 0; j < n; j++)
				a[j * m + i] = t[i * n + j];
	}
	char *f = path_of("svd.h5");
	put(ctx, a, mm, nn, wide ? mm : 900, wide ? 700 : nn, CASK_FLOAT64, f, "/A");
	cask_array_t *x = open_ds(ctx, f, "/A");
	int64_t k = m < n ? m : n;
	char *fo = path_of("svd_out.h5");
	cask_store_t us, ss, vs;
	cask_store_init(&us, fo, "/U");
	cask_store_init(&ss, fo, "/S");
	cask_store_init(&vs, fo, "/Vt");
	us.overwrite = ss.overwrite = vs.overwrite = 1;
	double *s = malloc((size_t)k * 8);
	int rc = cask_svd(ctx, x, s, NULL, &us, &ss, &vs);
	if (rc != 0)
		fail_msg("svd: %s", cask_ctx_message(ctx));
	double *u = get(ctx, fo, "/U", NULL), *s2 = get(ctx, fo, "/S", NULL);
	double *vt = get(ctx, fo, "/Vt", NULL);
	double *sref = ref_s(mm, nn, a);
	for (int64_t i = 0; i < k; i++) {
		assert_true(s[i] == s2[i]);
		if (!(fabs(s[i] - sref[i]) <= 1e-12 * sref[0]))
			fail_msg("s[%lld] = %.17g, dgesdd %.17g", (long long)i, s[i], sref[i]);
	}
	check_svd(mm, nn, a, u, s, vt, 30.0);
	cask_array_destroy(x);
	cask_ctx_destroy(ctx);
	if (wide)
		free(a);
	free(t);
	free(s);
	free(s2);
	free(u);
	free(vt);
	free(sref);
}

static void test_tsqr_svd_tall(void **state)
{
	(void)state;
	svd_case(5000, 20, 1e6, 0);
	svd_case(3000, 1, 1, 0);
}

static void test_tsqr_svd_wide(void **state)
{
	(void)state;
	/* Stored as 12 x 3000: factored through its transpose. */
	svd_case(3000, 12, 1e3, 1);
}

static void test_tsqr_svd_randomized(void **state)
{
	(void)state;
	int64_t m = 2000, n = 300, k = 6;
	double sv[300];
	for (int i = 0; i < n; i++)
		sv[i] = pow(0.5, i); /* fast decay */
	double *a = test_matrix_s(m, n, sv, 0, 31);
	cask_ctx_t *ctx = new_ctx((size_t)64 << 20, 2);
	int64_t shape[2] = {m, n}, ch[2] = {300, n};
	cask_array_t *x = NULL, *xt = NULL;
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, shape, ch, a, &x), 0);
	double s[6], *vt = malloc((size_t)(k * n) * 8);
	char *fo = path_of("rsvd.h5");
	cask_store_t us;
	cask_store_init(&us, fo, "/U");
	us.overwrite = 1;
	int rc = cask_svd_randomized(ctx, x, k, -1, -1, 42, s, vt, &us, NULL, NULL);
	if (rc != 0)
		fail_msg("rsvd: %s", cask_ctx_message(ctx));
	for (int i = 0; i < k; i++)
		if (!(fabs(s[i] - sv[i]) <= 1e-6 * sv[i]))
			fail_msg("s[%d] = %.17g, exact %.17g", i, s[i], sv[i]);
	double *u = get(ctx, fo, "/U", NULL);
	/* U, V orthonormal; U S V^T is the best rank-k approximation up to
	 * sv[k] (Eckart-Young): ||A - U S V^T|| <= 1.01 sqrt(sum_{i>=k} s_i^2). */
	double *us_ = malloc((size_t)(m * k) * 8), *rec = malloc((size_t)(m * n) * 8);
	for (int64_t i = 0; i < m; i++)
		for (int64_t j = 0; j < k; j++)
			us_[i * k + j] = u[i * k + j] * s[j];
	cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0, us_,
		(int)k, vt, (int)n, 0.0, rec, (int)n);
	for (int64_t i = 0; i < m * n; i++)
		rec[i] -= a[i];
	double tail = 0;
	for (int i = (int)k; i < n; i++)
		tail += sv[i] * sv[i];
	assert_true(fro(m, n, rec) <= 1.01 * sqrt(tail));
	/* Same seed, same bits; wide input through the same code. */
	double s2[6];
	assert_int_equal(cask_svd_randomized(ctx, x, k, -1, -1, 42, s2, NULL, NULL, NULL, NULL), 0);
	assert_memory_equal(s, s2, sizeof s);
	assert_int_equal(cask_transpose(ctx, x, NULL, &xt), 0);
	rc = cask_svd_randomized(ctx, xt, k, 10, 2, 5, s2, NULL, NULL, NULL, NULL);
	if (rc != 0)
		fail_msg("rsvd wide: %s", cask_ctx_message(ctx));
	for (int i = 0; i < k; i++)
		assert_true(fabs(s2[i] - sv[i]) <= 1e-6 * sv[i]);
	/* k out of range. */
	assert_int_equal(cask_svd_randomized(ctx, x, 0, -1, -1, 1, s2, NULL, NULL, NULL, NULL),
		CASK_EINVAL);
	cask_array_destroy(x);
	cask_array_destroy(xt);
	cask_ctx_destroy(ctx);
	free(a);
	free(vt);
	free(u);
	free(us_);
	free(rec);
}

/* ||U^T A V - diag(s)||_F for the m x n A (trans: A = a^T, a being n x m
 * row-major, else a itself), u m x k and vt k x n row-major, k <= 4. */
static double utav_error(int trans, int64_t m, int64_t n, int64_t k, const double *a,
	const double *u, const double *vt, const double *s)
{
	double *av = malloc((size_t)(m * k) * 8), utav[16], d[16];
	assert_non_null(av);
	cblas_dgemm(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, CblasTrans, (int)m, (int)k,
		(int)n, 1.0, a, trans ? (int)m : (int)n, vt, (int)n, 0.0, av, (int)k);
	cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)k, (int)m, 1.0, u,
		(int)k, av, (int)k, 0.0, utav, (int)k);
	for (int i = 0; i < k * k; i++)
		d[i] = utav[i] - (i / k == i % k ? s[i / k] : 0.0);
	free(av);
	return fro(k, k, d);
}

static void test_tsqr_rsvd_exact_rank(void **state)
{
	(void)state;
	/* Rank exactly l = k + p with singular values in [1, 2]: the sketch
	 * spans A's range, Y = A X is well conditioned, and B^T comes from
	 * W R^-1 without another pass; the result must then be exact. */
	int64_t m = 3000, n = 200, k = 4, p = 6;
	double sv[200] = {0};
	for (int i = 0; i < k + p; i++)
		sv[i] = 2.0 - 0.1 * i;
	double *a = test_matrix_s(m, n, sv, 0, 57);
	cask_ctx_t *ctx = new_ctx((size_t)64 << 20, 2);
	int64_t shape[2] = {m, n}, ch[2] = {700, n};
	cask_array_t *x = NULL;
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, shape, ch, a, &x), 0);
	double s[4], *vt = malloc((size_t)(k * n) * 8);
	char *fo = path_of("rsvd_rank.h5");
	cask_store_t us;
	cask_store_init(&us, fo, "/U");
	us.overwrite = 1;
	for (int q = 1; q <= 3; q++) {
		int rc = cask_svd_randomized(ctx, x, k, p, q, 3, s, vt, &us, NULL, NULL);
		if (rc != 0)
			fail_msg("rsvd: %s", cask_ctx_message(ctx));
		for (int i = 0; i < k; i++)
			if (!(fabs(s[i] - sv[i]) <= 1e-12 * sv[0]))
				fail_msg("q %d: s[%d] = %.17g, exact %.17g", q, i, s[i], sv[i]);
		/* U^T A V = S (rows of V^T orthonormal, U's columns too). */
		double *u = get(ctx, fo, "/U", NULL);
		assert_true(utav_error(0, m, n, k, a, u, vt, s) <= 1e-12 * sv[0]);
		free(u);
	}
	cask_array_destroy(x);
	cask_ctx_destroy(ctx);
	free(a);
	free(vt);
}

/* A wide A whose n x (k + p) matrices do not fit the budget goes through
 * A^T (refused before: 8 x 300,000 at 32M): exact at rank l, the caller's
 * V^T buffer and U dataset as for any A. */
static void test_tsqr_rsvd_wide_through_transpose(void **state)
{
	(void)state;
	int64_t mt = 60000, nt = 40, k = 3, p = 7; /* A = (mt x nt)^T, l = 10 */
	double sv[40] = {0};
	for (int i = 0; i < k + p; i++)
		sv[i] = 2.0 - 0.1 * i;
	double *a = test_matrix_s(mt, nt, sv, 0, 91);
	cask_ctx_t *ctx = new_ctx((size_t)8 << 20, 2); /* n l 24 = 14.4 MB */
	int64_t shape[2] = {mt, nt}, ch[2] = {5000, nt};
	cask_array_t *x = NULL, *w = NULL;
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, shape, ch, a, &x), 0);
	assert_int_equal(cask_transpose(ctx, x, NULL, &w), 0);
	double s[3], *vt = malloc((size_t)(k * mt) * 8);
	char *fo = path_of("rsvd_wide.h5");
	cask_store_t us;
	cask_store_init(&us, fo, "/U");
	us.overwrite = 1;
	if (cask_svd_randomized(ctx, w, k, p, 1, 3, s, vt, &us, NULL, NULL) != 0)
		fail_msg("rsvd: %s", cask_ctx_message(ctx));
	for (int i = 0; i < k; i++)
		if (!(fabs(s[i] - sv[i]) <= 1e-12 * sv[0]))
			fail_msg("s[%d] = %.17g, exact %.17g", i, s[i], sv[i]);
	/* U^T A V = S with A = a^T (nt x mt), U nt x k, V^T k x mt. */
	int64_t cnt = 0;
	double *u = get(ctx, fo, "/U", &cnt);
	assert_int_equal(cnt, nt * k);
	assert_true(utav_error(1, nt, mt, k, a, u, vt, s) <= 1e-12 * sv[0]);
	free(u);
	cask_array_destroy(w);
	cask_array_destroy(x);
	cask_ctx_destroy(ctx);
	free(a);
	free(vt);
}

/* The fused power iterations divide X by a magnitude of A taken from its
 * first 64 rows.  First rows of zeros, or far smaller than the rest, made
 * A^T (A X) overflow ("non-finite value" of a finite A) or underflow to
 * zero (S = 0 and success); the pass now notices and finds max |A| in one
 * more pass.  An oversampling near INT64_MAX overflowed k + p (a "negative
 * extent"); the sketch is cut to min(m, n) as for any large p.  A finite A
 * whose s_1 exceeds the largest double gave S = Inf with success. */
static void test_tsqr_rsvd_unrepresentative_first_rows(void **state)
{
	(void)state;
	int64_t m = 600, n = 20, k = 3;
	double sv[20];
	for (int i = 0; i < n; i++)
		sv[i] = pow(0.5, i);
	double *a = test_matrix_s(m, n, sv, 0, 77), *b = malloc((size_t)(m * n) * 8);
	assert_non_null(b);
	/* (The last three: |A| m n beyond the largest double, or |A| subnormal:
	 * no scaling makes A^T (A X) representable, so the 2 + 2q-pass form
	 * runs; it failed, or gave S = 0.) */
	const double scale[][2] = {{0.0, 1e200}, {0.0, 1e-200}, {1e-300, 1e5}, {1e-3, 1e200},
		{1e307, 1e307}, {1e-310, 1e-310}, {1e-320, 1e-320}};
	/* Subnormal data has fewer digits: about 11 bits at 1e-320 (LAPACK's
	 * reference too), so only "not 0" is checked there. */
	const double tol[] = {1e-8, 1e-8, 1e-8, 1e-8, 1e-8, 1e-6, 0.1};
	cask_ctx_t *ctx = new_ctx((size_t)64 << 20, 2);
	int64_t shape[2] = {m, n}, ch[2] = {100, n};
	for (size_t c = 0; c < sizeof scale / sizeof scale[0]; c++) {
		for (int64_t i = 0; i < m * n; i++)
			b[i] = a[i] * scale[c][i / n < 64 ? 0 : 1];
		double *sref = ref_s(m, n, b), s[3];
		cask_array_t *x = NULL;
		assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, shape, ch, b, &x), 0);
		int rc = cask_svd_randomized(ctx, x, k, -1, -1, 7, s, NULL, NULL, NULL, NULL);
		if (rc != 0)
			fail_msg("head x %g, rest x %g: %s", scale[c][0], scale[c][1],
				cask_ctx_message(ctx));
		for (int i = 0; i < k; i++)
			if (!(fabs(s[i] - sref[i]) <= tol[c] * sref[i]))
				fail_msg("head x %g, rest x %g: s[%d] = %.17g, exact %.17g", scale[c][0],
					scale[c][1], i, s[i], sref[i]);
		cask_array_destroy(x);
		free(sref);
	}
	/* s_1 beyond the largest double, A finite: an error naming the
	 * overflow, not Inf in S with success (exact and randomized). */
	for (int64_t i = 0; i < m * n; i++) {
		b[i] = a[i] * 1e308 * 4.0; /* s_1 = 4e308 */
		assert_true(isfinite(b[i]));
	}
	cask_array_t *x = NULL;
	double s[3];
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, shape, ch, b, &x), 0);
	assert_int_equal(cask_svd(ctx, x, s, NULL, NULL, NULL, NULL), CASK_EINVAL);
	assert_non_null(strstr(cask_ctx_message(ctx), "overflow"));
	assert_int_equal(cask_svd_randomized(ctx, x, k, -1, -1, 7, s, NULL, NULL, NULL, NULL),
		CASK_EINVAL);
	assert_non_null(strstr(cask_ctx_message(ctx), "overflow"));
	cask_array_destroy(x);
	double *sref = ref_s(m, n, a);
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, shape, ch, a, &x), 0);
	int rc = cask_svd_randomized(ctx, x, k, INT64_MAX, 1, 7, s, NULL, NULL, NULL, NULL);
	if (rc != 0)
		fail_msg("oversample INT64_MAX: %s", cask_ctx_message(ctx));
	for (int i = 0; i < k; i++)
		assert_true(fabs(s[i] - sref[i]) <= 1e-12 * sref[0]);
	cask_array_destroy(x);
	cask_ctx_destroy(ctx);
	free(sref);
	free(a);
	free(b);
}

static void test_tsqr_rsvd_spills_to_disk(void **state)
{
	(void)state;
	/* A budget too small to hold the m x l sketch: temporary files. */
	int64_t m = 30000, n = 40, k = 3;
	double sv[40];
	for (int i = 0; i < n; i++)
		sv[i] = pow(0.3, i);
	double *a = test_matrix_s(m, n, sv, 0, 41);
	cask_ctx_t *ctx = new_ctx((size_t)6 << 20, 2);
	int64_t shape[2] = {m, n}, ch[2] = {2000, n};
	cask_array_t *x = NULL;
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, shape, ch, a, &x), 0);
	double s[3];
	cask_store_t us;
	cask_store_init(&us, path_of("rsvd_spill.h5"), "/U");
	int rc = cask_svd_randomized(ctx, x, k, 10, 1, 9, s, NULL, &us, NULL, NULL);
	if (rc != 0)
		fail_msg("rsvd: %s", cask_ctx_message(ctx));
	for (int i = 0; i < k; i++)
		assert_true(fabs(s[i] - sv[i]) <= 1e-6 * sv[i]);
	/* No temporary file is left behind. */
	DIR *d = opendir(g_dir);
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		assert_null(strstr(de->d_name, ".cask-rsvd-"));
	closedir(d);
	cask_array_destroy(x);
	cask_ctx_destroy(ctx);
	free(a);
}

/* The fused power iterations read A^T (A X) 64 rows at a time; a region of a
 * compressed chunk decodes the whole chunk, so they once decoded every
 * chunk chunk_rows / 64 times (x78 here, x300 for 20,000-row chunks: 26 s
 * instead of 0.5).  Every pass must read A about once: q + 1 fused passes
 * (q + 2 if the final sketch is ill-conditioned) plus magnitude()'s first
 * rows, so at most q + 3 times the data. */
static void test_tsqr_rsvd_compressed_reads_once_per_pass(void **state)
{
	(void)state;
	int64_t m = 20000, n = 8, q = 2;
	double *a = test_matrix(m, n, 10.0, 43);
	cask_ctx_t *ctx = new_ctx((size_t)64 << 20, 2);
	int64_t shape[2] = {m, n}, ch[2] = {5000, n};
	cask_array_t *x = NULL;
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, shape, ch, a, &x), 0);
	cask_store_t o;
	cask_store_init(&o, path_of("rsvd_gz.h5"), "/A");
	o.overwrite = 1;
	o.gzip = 1;
	assert_int_equal(cask_store(ctx, 1, &x, &o), 0);
	cask_array_t *ad = open_ds(ctx, o.path, "/A");
	double s[2], sref[8];
	cask_ctx_reset_stats(ctx);
	/* k + p = n: the sketch spans the whole range, so s is exact. */
	int rc = cask_svd_randomized(ctx, ad, 2, 6, q, 5, s, NULL, NULL, NULL, NULL);
	if (rc != 0)
		fail_msg("rsvd: %s", cask_ctx_message(ctx));
	cask_stats_t st;
	cask_ctx_stats(ctx, &st);
	double bytes = (double)(m * n) * sizeof(double);
	if ((double)st.bytes_read > (double)(q + 3) * bytes)
		fail_msg("read %.1f times the data in %lld passes", (double)st.bytes_read / bytes,
			(long long)q + 1);
	assert_int_equal(cask_svd(ctx, ad, sref, NULL, NULL, NULL, NULL), 0);
	for (int i = 0; i < 2; i++)
		assert_true(fabs(s[i] - sref[i]) <= 1e-8 * sref[0]);
	cask_array_destroy(ad);
	cask_array_destroy(x);
	cask_ctx_destroy(ctx);
	free(a);
}

/* TSQR's leaves cut a gzip'd A's chunks (200,000-row chunks in halves at
 * n = 8): each chunk is decoded once per pass (it was once per leaf, with a
 * whole-chunk decode for each), and R is bit for bit the R of the same
 * data stored unfiltered. */
/* Q keeps A's row chunks: the stored ones when the block grid cuts them (an
 * unfiltered chunk over a quarter of the budget), also through the cast of
 * an integer A, and the caller's when given to cask_array_open. */
static void test_tsqr_q_row_chunks(void **state)
{
	(void)state;
	cask_ctx_t *ctx = NULL;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	int64_t m = 20000, n = 8;
	double *a = malloc((size_t)(m * n) * sizeof(double));
	assert_non_null(a);
	for (int64_t i = 0; i < m * n; i++)
		a[i] = (double)((i * 7919) % 1013) - 500.0;
	const char *f = path_of("qrows.h5");
	put(ctx, a, m, n, m, n, CASK_FLOAT64, f, "/f");
	put(ctx, a, m, n, m, n, CASK_INT32, f, "/i");
	const char *dsets[2] = {"/f", "/i"};
	for (int d = 0; d < 3; d++) {
		int64_t mine[2] = {5000, 0};
		assert_int_equal(cask_ctx_set_memory(ctx, d < 2 ? (size_t)1 << 20 : (size_t)64 << 20), 0);
		cask_array_t *x = NULL, *q = NULL;
		assert_int_equal(cask_array_open(ctx, f, dsets[d % 2], d < 2 ? NULL : mine, &x), 0);
		if (d < 2)
			assert_true(cask_array_chunks(x)[0] < m); /* the grid cuts the chunk */
		cask_store_t qs;
		cask_store_init(&qs, f, "/Q");
		qs.overwrite = 1;
		if (cask_tsqr(ctx, x, NULL, NULL, &qs) != 0)
			fail_msg("tsqr: %s", cask_ctx_message(ctx));
		assert_int_equal(cask_ctx_set_memory(ctx, (size_t)64 << 20), 0);
		q = open_ds(ctx, f, "/Q");
		assert_int_equal(cask_array_chunks(q)[0], d < 2 ? m : 5000);
		cask_array_destroy(q);
		cask_array_destroy(x);
	}
	free(a);
	cask_ctx_destroy(ctx);
}

static void test_tsqr_compressed_chunks_decoded_once(void **state)
{
	(void)state;
	int64_t m = 400000, n = 8;
	double *a = test_matrix(m, n, 100.0, 53);
	cask_ctx_t *ctx = new_ctx((size_t)256 << 20, 2);
	int64_t shape[2] = {m, n}, ch[2] = {200000, n};
	cask_array_t *x = NULL;
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, shape, ch, a, &x), 0);
	cask_store_t o;
	cask_store_init(&o, path_of("tsqr_gz.h5"), "/A");
	o.overwrite = 1;
	o.gzip = 1;
	assert_int_equal(cask_store(ctx, 1, &x, &o), 0);
	cask_store_init(&o, path_of("tsqr_gz.h5"), "/raw");
	assert_int_equal(cask_store(ctx, 1, &x, &o), 0);
	cask_array_t *az = open_ds(ctx, o.path, "/A"), *ar = open_ds(ctx, o.path, "/raw");
	double rz[64], rr[64];
	double bytes = (double)(m * n) * sizeof(double);
	for (int pass = 0; pass < 2; pass++) {
		cask_stats_t st;
		cask_ctx_reset_stats(ctx);
		cask_store_t qs;
		cask_store_init(&qs, path_of("tsqr_gz_q.h5"), "/Q");
		qs.overwrite = 1;
		int rc = cask_tsqr(ctx, az, rz, NULL, pass == 1 ? &qs : NULL);
		if (rc != 0)
			fail_msg("tsqr: %s", cask_ctx_message(ctx));
		cask_ctx_stats(ctx, &st);
		if ((double)st.bytes_read > (pass + 1) * 1.01 * bytes)
			fail_msg("read %.2f times the data in %d pass(es)", (double)st.bytes_read / bytes,
				pass + 1);
		assert_int_equal(cask_tsqr(ctx, ar, rr, NULL, NULL), 0);
		assert_memory_equal(rz, rr, sizeof rz);
	}
	/* Q R = A to working precision. */
	double *q = get(ctx, path_of("tsqr_gz_q.h5"), "/Q", NULL), err = 0.0;
	for (int64_t i = 0; i < m; i++)
		for (int64_t j = 0; j < n; j++) {
			double v = 0.0;
			for (int64_t k = 0; k <= j; k++)
				v += q[i * n + k] * rz[k * n + j];
			err = fmax(err, fabs(v - a[i * n + j]));
		}
	assert_true(err <= 1e-12 * 100.0 * sqrt((double)m));
	free(q);
	cask_array_destroy(az);
	cask_array_destroy(ar);
	cask_array_destroy(x);
	cask_ctx_destroy(ctx);
	free(a);
}

/* The randomized SVD's outputs appear together or not at all: a U that
 * cannot be stored (it exists, no overwrite) leaves no new S or V^T beside
 * it (they were once committed first, before U's store failed). */
static void test_tsqr_rsvd_outputs_atomic(void **state)
{
	(void)state;
	int64_t m = 3000, n = 6;
	double *a = test_matrix(m, n, 10.0, 47);
	cask_ctx_t *ctx = new_ctx((size_t)64 << 20, 2);
	int64_t shape[2] = {m, n}, ch[2] = {1000, n};
	cask_array_t *x = NULL;
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, shape, ch, a, &x), 0);
	char *f = path_of("rsvd_atomic.h5");
	cask_store_t us, ss, vs;
	cask_store_init(&us, f, "/U");
	cask_store_init(&ss, f, "/S");
	cask_store_init(&vs, f, "/VT");
	assert_int_equal(cask_svd_randomized(ctx, x, 2, 2, 1, 3, NULL, NULL, &us, NULL, NULL), 0);
	for (int q = 0; q < 2; q++) {
		cask_stats_t st0, st1;
		cask_ctx_stats(ctx, &st0);
		assert_int_equal(cask_svd_randomized(ctx, x, 2, 2, q, 3, NULL, NULL, &us, &ss, &vs),
			CASK_EEXIST);
		assert_non_null(strstr(cask_ctx_message(ctx), "/U"));
		/* refused before the passes over A (their outputs come last) */
		cask_ctx_stats(ctx, &st1);
		assert_int_equal(st1.tasks_run, st0.tasks_run);
		cask_dset_info_t *info = NULL;
		int64_t nds = 0;
		assert_int_equal(cask_h5_info(ctx, f, NULL, &info, &nds), 0);
		assert_int_equal(nds, 1);
		assert_string_equal(info[0].path, "/U");
		free(info);
	}
	/* With overwrite all three are written, U consistent with S and V^T. */
	us.overwrite = 1;
	double s[2], vt[12];
	assert_int_equal(cask_svd_randomized(ctx, x, 2, 4, 1, 3, s, vt, &us, &ss, &vs), 0);
	double *u = get(ctx, f, "/U", NULL), *s2 = get(ctx, f, "/S", NULL);
	double *vt2 = get(ctx, f, "/VT", NULL);
	assert_memory_equal(s, s2, sizeof s);
	assert_memory_equal(vt, vt2, sizeof vt);
	/* U S V^T is the best rank-2 approximation: A - U S V^T is orthogonal
	 * to U (checked to 1e-10 of ||A||). */
	double an = fro(m, n, a);
	for (int j = 0; j < 2; j++)
		for (int c = 0; c < n; c++) {
			double d = 0.0;
			for (int64_t i = 0; i < m; i++) {
				double r = a[i * n + c];
				for (int t = 0; t < 2; t++)
					r -= u[i * 2 + t] * s[t] * vt[t * n + c];
				d += u[i * 2 + j] * r;
			}
			assert_true(fabs(d) <= 1e-10 * an);
		}
	free(u);
	free(s2);
	free(vt2);
	cask_array_destroy(x);
	cask_ctx_destroy(ctx);
	free(a);
}

/* A block callback that copies its block and asks for cancellation on
 * its first call (user: the context). */
static int copy_and_cancel(const cask_block_t *b)
{
	static int calls;
	int64_t count = 1;
	for (int k = 0; k < b->ndim; k++)
		count *= b->out_shape[k];
	memcpy(b->out, b->in[0], (size_t)count * sizeof(double));
	if (__atomic_fetch_add(&calls, 1, __ATOMIC_SEQ_CST) == 0)
		cask_ctx_cancel(b->user);
	return 0;
}

/* A cancel request made while a call runs stops that call even when it
 * lands in the last task of one of its graphs: the randomized SVD runs a
 * dozen graphs, and the first one over A (magnitude: A's first rows, one
 * task) used to end normally and clear the request, so the call ran to
 * its end and returned 0 (the command then took seconds to stop after
 * ^C, or never did). */
static void test_tsqr_cancel_between_graphs(void **state)
{
	(void)state;
	int64_t m = 4000, n = 5;
	double *a = test_matrix(m, n, 10.0, 53);
	cask_ctx_t *ctx = new_ctx((size_t)64 << 20, 2);
	int64_t shape[2] = {m, n}, ch[2] = {1000, n};
	cask_array_t *x = NULL, *y = NULL;
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, shape, ch, a, &x), 0);
	assert_int_equal(cask_map_blocks(ctx, 1, &x, copy_and_cancel, ctx, CASK_FLOAT64, NULL, &y),
		0);
	double s[2];
	cask_store_t ss;
	cask_store_init(&ss, path_of("cancel_rsvd.h5"), "/S");
	assert_int_equal(cask_svd_randomized(ctx, y, 2, 2, 1, 3, s, NULL, NULL, &ss, NULL),
		CASK_ECANCELED);
	assert_int_equal(access(ss.path, F_OK), -1);
	/* The request ended with the call it stopped. */
	assert_int_equal(cask_svd_randomized(ctx, y, 2, 2, 1, 3, s, NULL, NULL, &ss, NULL), 0);
	cask_array_destroy(x);
	cask_array_destroy(y);
	cask_ctx_destroy(ctx);
	free(a);
}

static void test_tsqr_matmul_gram_atb(void **state)
{
	(void)state;
	int64_t m = 3001, n = 7, k = 5;
	rng_state = 77;
	double *a = malloc((size_t)(m * n) * 8), *b = malloc((size_t)(n * k) * 8);
	double *c = malloc((size_t)(m * k) * 8), *ref = malloc((size_t)(m * k) * 8);
	double *w = malloc((size_t)(m * k) * 8);
	for (int64_t i = 0; i < m * n; i++)
		a[i] = nrand();
	for (int64_t i = 0; i < n * k; i++)
		b[i] = nrand();
	for (int64_t i = 0; i < m * k; i++)
		w[i] = nrand();
	cask_ctx_t *ctx = new_ctx((size_t)64 << 20, 2);
	int64_t sa[2] = {m, n}, ca[2] = {400, 3}, sb[2] = {n, k}, sw[2] = {m, k}, cw[2] = {250, k};
	cask_array_t *x = NULL, *y = NULL, *wa = NULL, *p = NULL, *xt = NULL, *g = NULL, *g2 = NULL;
	cask_array_t *tb = NULL, *ps = NULL;
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, sa, ca, a, &x), 0);
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, sb, NULL, b, &y), 0);
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, sw, cw, w, &wa), 0);
	/* A @ B (lazy) vs naive loops; also through a slice of the result. */
	assert_int_equal(cask_matmul(ctx, x, y, &p), 0);
	assert_int_equal(cask_array_shape(p)[0], m);
	assert_int_equal(cask_array_shape(p)[1], k);
	assert_int_equal(cask_compute(ctx, p, c, (size_t)(m * k) * 8), 0);
	for (int64_t i = 0; i < m; i++)
		for (int64_t j = 0; j < k; j++) {
			double sum = 0;
			for (int64_t l = 0; l < n; l++)
				sum += a[i * n + l] * b[l * k + j];
			ref[i * k + j] = sum;
			assert_true(fabs(c[i * k + j] - sum) <= 1e-13 * (1 + fabs(sum)) * n);
		}
	cask_index_t idx[2] = {
		{.kind = CASK_INDEX_SLICE, .start = m - 1, .step = -3, .has_start = 1},
		{.kind = CASK_INDEX_SLICE, .start = 1, .stop = 5, .step = 2, .has_start = 1, .has_stop = 1},
	};
	assert_int_equal(cask_index(ctx, p, 2, idx, &ps), 0);
	int64_t pm = cask_array_shape(ps)[0];
	double *sl = malloc((size_t)(pm * 2) * 8);
	assert_int_equal(cask_compute(ctx, ps, sl, (size_t)(pm * 2) * 8), 0);
	for (int64_t i = 0; i < pm; i++)
		for (int64_t j = 0; j < 2; j++)
			assert_true(sl[i * 2 + j] == c[(m - 1 - 3 * i) * k + 1 + 2 * j]);
	free(sl);
	/* Gram A^T A, directly and as A.T @ A. */
	double *gb = malloc((size_t)(n * n) * 8), *gb2 = malloc((size_t)(n * n) * 8);
	assert_int_equal(cask_gram(ctx, x, &g), 0);
	assert_int_equal(cask_compute(ctx, g, gb, (size_t)(n * n) * 8), 0);
	assert_int_equal(cask_transpose(ctx, x, NULL, &xt), 0);
	assert_int_equal(cask_matmul(ctx, xt, x, &g2), 0);
	assert_int_equal(cask_compute(ctx, g2, gb2, (size_t)(n * n) * 8), 0);
	assert_memory_equal(gb, gb2, (size_t)(n * n) * 8);
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < n; j++) {
			double sum = 0, mag = 0;
			for (int64_t l = 0; l < m; l++) {
				sum += a[l * n + i] * a[l * n + j];
				mag += fabs(a[l * n + i] * a[l * n + j]);
			}
			/* Summation error bound: m eps sum |a_li a_lj| (any order). */
			assert_true(fabs(gb[i * n + j] - sum) <= (double)m * DBL_EPSILON * mag);
		}
	/* A^T W for row-aligned tall arrays. */
	double *tw = malloc((size_t)(n * k) * 8);
	assert_int_equal(cask_matmul_tn(ctx, x, wa, &tb), 0);
	assert_int_equal(cask_compute(ctx, tb, tw, (size_t)(n * k) * 8), 0);
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < k; j++) {
			double sum = 0, mag = 0;
			for (int64_t l = 0; l < m; l++) {
				sum += a[l * n + i] * w[l * k + j];
				mag += fabs(a[l * n + i] * w[l * k + j]);
			}
			assert_true(fabs(tw[i * k + j] - sum) <= (double)m * DBL_EPSILON * mag);
		}
	/* Shape mismatch. */
	cask_array_t *bad = NULL;
	assert_int_equal(cask_matmul(ctx, x, x, &bad), CASK_ESHAPE);
	cask_array_t *arr[] = {x, y, wa, p, xt, g, g2, tb, ps};
	for (size_t i = 0; i < sizeof arr / sizeof *arr; i++)
		cask_array_destroy(arr[i]);
	cask_ctx_destroy(ctx);
	free(a);
	free(b);
	free(c);
	free(ref);
	free(w);
	free(gb);
	free(gb2);
	free(tw);
}

/* Result dtypes of cask_matmul / cask_gram / cask_matmul_tn follow
 * numpy.matmul (np.result_type) on the lazy and the reduction paths;
 * integer products are exact with wraparound (reference: the naive loop in
 * uint64, truncated to the result type); empty dimensions give zeros;
 * shape messages print 1-d shapes as NumPy; operands may hold reductions. */
static void test_tsqr_matmul_dtypes(void **state)
{
	(void)state;
	int64_t m = 3001, n = 3;
	cask_ctx_t *ctx = new_ctx((size_t)64 << 20, 2);
	float *af = malloc((size_t)(m * n) * 4);
	int8_t *ai = malloc((size_t)(m * n));
	uint8_t *au = malloc((size_t)(m * n)), *ab = malloc((size_t)(m * n));
	rng_state = 5;
	for (int64_t i = 0; i < m * n; i++) {
		af[i] = (float)nrand();
		ai[i] = (int8_t)(int)(urand() * 256 - 128);
		au[i] = (uint8_t)(urand() * 256);
		ab[i] = urand() < 0.3;
	}
	int64_t sa[2] = {m, n}, ca[2] = {500, n}, sw[2] = {n, 2};
	cask_array_t *xf = NULL, *xi = NULL, *xu = NULL, *xb = NULL, *t = NULL, *p = NULL;
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT32, 2, sa, ca, af, &xf), 0);
	assert_int_equal(cask_array_from_buffer(ctx, CASK_INT8, 2, sa, ca, ai, &xi), 0);
	assert_int_equal(cask_array_from_buffer(ctx, CASK_UINT8, 2, sa, ca, au, &xu), 0);
	assert_int_equal(cask_array_from_buffer(ctx, CASK_BOOL, 2, sa, ca, ab, &xb), 0);
	/* float32: A.T @ A, A.T @ A[:, :2] (as matmul_tn), A @ W and gram all float32. */
	assert_int_equal(cask_transpose(ctx, xf, NULL, &t), 0);
	assert_int_equal(cask_matmul(ctx, t, xf, &p), 0);
	assert_int_equal(cask_array_dtype(p), CASK_FLOAT32);
	cask_array_destroy(p);
	assert_int_equal(cask_gram(ctx, xf, &p), 0);
	assert_int_equal(cask_array_dtype(p), CASK_FLOAT32);
	float gf[9];
	assert_int_equal(cask_compute(ctx, p, gf, sizeof gf), 0);
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < n; j++) {
			double ref = 0, mag = 0;
			for (int64_t l = 0; l < m; l++) {
				ref += (double)af[l * n + i] * af[l * n + j];
				mag += fabs((double)af[l * n + i] * af[l * n + j]);
			}
			/* float64 summation (m eps_64 sum|terms|), one float32 rounding. */
			assert_true(fabs(gf[i * n + j] - ref) <=
				(double)m * DBL_EPSILON * mag + FLT_EPSILON * fabs(ref));
		}
	cask_array_destroy(p);
	cask_array_destroy(t);
	cask_array_t *wf = NULL, *wi = NULL;
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT32, 2, sw, NULL, af, &wf), 0);
	assert_int_equal(cask_matmul(ctx, xf, wf, &p), 0);
	assert_int_equal(cask_array_dtype(p), CASK_FLOAT32);
	cask_array_destroy(p);
	/* int8 @ float32 is float32, int8 @ int8 int8 (wrapping), uint8 @ int8 int16. */
	assert_int_equal(cask_matmul(ctx, xi, wf, &p), 0);
	assert_int_equal(cask_array_dtype(p), CASK_FLOAT32);
	cask_array_destroy(p);
	assert_int_equal(cask_array_from_buffer(ctx, CASK_INT8, 2, sw, NULL, ai, &wi), 0);
	int8_t *ci = malloc((size_t)(m * 2));
	assert_int_equal(cask_matmul(ctx, xi, wi, &p), 0);
	assert_int_equal(cask_array_dtype(p), CASK_INT8);
	assert_int_equal(cask_compute(ctx, p, ci, (size_t)(m * 2)), 0);
	for (int64_t i = 0; i < m; i++)
		for (int64_t j = 0; j < 2; j++) {
			uint64_t ref = 0;
			for (int64_t l = 0; l < n; l++)
				ref += (uint64_t)(int64_t)ai[i * n + l] * (uint64_t)(int64_t)ai[l * 2 + j];
			assert_int_equal((uint8_t)ci[i * 2 + j], (uint8_t)ref);
		}
	cask_array_destroy(p);
	free(ci);
	int16_t g16[9];
	assert_int_equal(cask_matmul_tn(ctx, xu, xi, &p), 0);
	assert_int_equal(cask_array_dtype(p), CASK_INT16);
	assert_int_equal(cask_compute(ctx, p, g16, sizeof g16), 0);
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < n; j++) {
			uint64_t ref = 0;
			for (int64_t l = 0; l < m; l++)
				ref += (uint64_t)au[l * n + i] * (uint64_t)(int64_t)ai[l * n + j];
			assert_int_equal((uint16_t)g16[i * n + j], (uint16_t)ref);
		}
	cask_array_destroy(p);
	/* bool: X.T @ X is bool (OR of ANDs) through the Gram tree. */
	uint8_t gb[9];
	assert_int_equal(cask_transpose(ctx, xb, NULL, &t), 0);
	assert_int_equal(cask_matmul(ctx, t, xb, &p), 0);
	assert_int_equal(cask_array_dtype(p), CASK_BOOL);
	assert_int_equal(cask_compute(ctx, p, gb, sizeof gb), 0);
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < n; j++) {
			int ref = 0;
			for (int64_t l = 0; l < m; l++)
				ref |= ab[l * n + i] && ab[l * n + j];
			assert_int_equal(gb[i * n + j], ref);
		}
	cask_array_destroy(p);
	cask_array_destroy(t);
	/* Empty inner dimension: zeros of the result shape. */
	int64_t s50[2] = {5, 0}, s05[2] = {0, 5};
	cask_array_t *e50 = NULL, *e05 = NULL;
	assert_int_equal(cask_array_from_buffer(ctx, CASK_INT8, 2, s50, NULL, ai, &e50), 0);
	assert_int_equal(cask_array_from_buffer(ctx, CASK_INT8, 2, s05, NULL, ai, &e05), 0);
	int8_t z[25];
	memset(z, 1, sizeof z);
	assert_int_equal(cask_matmul(ctx, e50, e05, &p), 0);
	assert_int_equal(cask_array_dtype(p), CASK_INT8);
	assert_int_equal(cask_array_size(p), 25);
	assert_int_equal(cask_compute(ctx, p, z, sizeof z), 0);
	for (int i = 0; i < 25; i++)
		assert_int_equal(z[i], 0);
	cask_array_destroy(p);
	assert_int_equal(cask_matmul(ctx, e05, e50, &p), 0);
	assert_int_equal(cask_array_shape(p)[0], 0);
	assert_int_equal(cask_array_shape(p)[1], 0);
	cask_array_destroy(p);
	/* 1-d shapes in messages as NumPy prints them. */
	int64_t s5[1] = {5}, s101[1] = {101};
	cask_array_t *v5 = NULL, *v101 = NULL;
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT32, 1, s5, NULL, af, &v5), 0);
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT32, 1, s101, NULL, af, &v101), 0);
	assert_int_equal(cask_matmul(ctx, v5, v101, &p), CASK_ESHAPE);
	assert_non_null(strstr(cask_ctx_message(ctx), "shapes (5,) and (101,) not aligned"));
	/* A reduction inside both operands of the Gram tree: (X - mean).T @ (X - mean). */
	cask_array_t *mu = NULL, *c = NULL;
	int ax0 = 0;
	assert_int_equal(cask_reduce(ctx, CASK_MEAN, xf, 1, &ax0, 0, 0, &mu), 0);
	assert_int_equal(cask_binary(ctx, CASK_SUB, xf, mu, &c), 0);
	assert_int_equal(cask_transpose(ctx, c, NULL, &t), 0);
	assert_int_equal(cask_matmul(ctx, t, c, &p), 0);
	assert_int_equal(cask_array_dtype(p), CASK_FLOAT32);
	assert_int_equal(cask_compute(ctx, p, gf, sizeof gf), 0);
	double mean[3] = {0, 0, 0};
	for (int64_t l = 0; l < m; l++)
		for (int64_t j = 0; j < n; j++)
			mean[j] += af[l * n + j];
	for (int64_t j = 0; j < n; j++)
		mean[j] /= (double)m;
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < n; j++) {
			double ref = 0, mag = 0;
			for (int64_t l = 0; l < m; l++) {
				double u = af[l * n + i] - mean[i], v = af[l * n + j] - mean[j];
				ref += u * v;
				mag += fabs(u * v);
			}
			/* The centred values are float32 (one rounding each). */
			assert_true(fabs(gf[i * n + j] - ref) <= 4 * FLT_EPSILON * mag);
		}
	cask_array_t *arr[] = {xf, xi, xu, xb, wf, wi, e50, e05, v5, v101, mu, c, t, p};
	for (size_t i = 0; i < sizeof arr / sizeof *arr; i++)
		cask_array_destroy(arr[i]);
	cask_ctx_destroy(ctx);
	free(af);
	free(ai);
	free(au);
	free(ab);
}

static void test_tsqr_lstsq(void **state)
{
	(void)state;
	int64_t m = 4003, n = 9, nrhs = 2;
	double *a = test_matrix(m, n, 1e5, 51);
	double *b = malloc((size_t)(m * nrhs) * 8);
	rng_state = 5;
	for (int64_t i = 0; i < m * nrhs; i++)
		b[i] = nrand();
	cask_ctx_t *ctx = new_ctx((size_t)64 << 20, 2);
	char *f = path_of("ls.h5");
	put(ctx, a, m, n, 600, n, CASK_FLOAT64, f, "/A");
	put(ctx, b, m, nrhs, 1000, nrhs, CASK_FLOAT64, f, "/b");
	cask_array_t *x = open_ds(ctx, f, "/A"), *y = open_ds(ctx, f, "/b");
	double sol[18], rn[2];
	int rc = cask_lstsq(ctx, x, y, sol, rn);
	if (rc != 0)
		fail_msg("lstsq: %s", cask_ctx_message(ctx));
	/* dgels reference. */
	double *aw = malloc((size_t)(m * n) * 8), *bw = malloc((size_t)(m * nrhs) * 8);
	memcpy(aw, a, (size_t)(m * n) * 8);
	memcpy(bw, b, (size_t)(m * nrhs) * 8);
	assert_int_equal(LAPACKE_dgels(LAPACK_ROW_MAJOR, 'N', (int)m, (int)n, (int)nrhs, aw, (int)n,
		bw, (int)nrhs), 0);
	double tol = 10.0 * n * DBL_EPSILON * 1e5 * 100;
	for (int64_t j = 0; j < nrhs; j++) {
		double rss = 0, xn = 0, d = 0;
		for (int64_t i = n; i < m; i++)
			rss += bw[i * nrhs + j] * bw[i * nrhs + j];
		for (int64_t i = 0; i < n; i++) {
			d += pow(sol[i * nrhs + j] - bw[i * nrhs + j], 2);
			xn += pow(bw[i * nrhs + j], 2);
		}
		assert_true(sqrt(d) <= tol * sqrt(xn));
		assert_true(fabs(rn[j] - sqrt(rss)) <= 1e-10 * sqrt(rss));
	}
	/* 1-d b. */
	cask_index_t idx[2] = {{.kind = CASK_INDEX_SLICE, .step = 1},
	                       {.kind = CASK_INDEX_INT, .start = 1}};
	cask_array_t *b1 = NULL;
	assert_int_equal(cask_index(ctx, y, 2, idx, &b1), 0);
	double sol1[9], rn1;
	assert_int_equal(cask_lstsq(ctx, x, b1, sol1, &rn1), 0);
	for (int64_t i = 0; i < n; i++)
		assert_true(fabs(sol1[i] - sol[i * 2 + 1]) <= 1e-12 * (1 + fabs(sol[i * 2 + 1])));
	/* rcond 0 or >= 1 is machine epsilon, as dgelsd under NumPy: full rank. */
	const double big_rconds[3] = {0.0, 1.0, 7.5};
	for (int i = 0; i < 3; i++) {
		int64_t rk = -1;
		assert_int_equal(cask_lstsq_ex(ctx, x, b1, big_rconds[i], sol1, &rn1, &rk), 0);
		assert_int_equal(rk, n);
	}
	/* Rank deficient: a zero column, and a column repeated up to rounding
	 * (numerically deficient, R's diagonal ~1e-13, not zero).  As NumPy:
	 * the minimum-norm solution, against LAPACK's dgelsd with NumPy's rcond
	 * eps * max(m, n); the residual norm is that of the returned x. */
	for (int64_t i = 0; i < m; i++) {
		a[i * n + 3] = 0.0;
		a[i * n + 6] = a[i * n + 1] * (1.0 + 1e-15);
	}
	put(ctx, a, m, n, 600, n, CASK_FLOAT64, f, "/Z");
	cask_array_t *z = open_ds(ctx, f, "/Z");
	int64_t rank = -1;
	if (cask_lstsq_ex(ctx, z, y, -1.0, sol, rn, &rank) != 0)
		fail_msg("lstsq (rank deficient): %s", cask_ctx_message(ctx));
	assert_int_equal(rank, n - 2);
	double sv[9];
	lapack_int rk = 0;
	memcpy(aw, a, (size_t)(m * n) * 8);
	memcpy(bw, b, (size_t)(m * nrhs) * 8);
	assert_int_equal(LAPACKE_dgelsd(LAPACK_ROW_MAJOR, (int)m, (int)n, (int)nrhs, aw, (int)n, bw,
		(int)nrhs, sv, DBL_EPSILON * (double)m, &rk), 0);
	assert_int_equal(rk, n - 2);
	for (int64_t j = 0; j < nrhs; j++) {
		double d = 0, xn = 0, res = 0;
		for (int64_t i = 0; i < n; i++) {
			d += pow(sol[i * nrhs + j] - bw[i * nrhs + j], 2);
			xn += pow(bw[i * nrhs + j], 2);
		}
		assert_true(sqrt(d) <= 1e-9 * sqrt(xn));
		assert_true(fabs(sol[3 * nrhs + j]) <= 1e-12 * sqrt(xn));
		for (int64_t i = 0; i < m; i++) {
			double r = b[i * nrhs + j];
			for (int64_t k = 0; k < n; k++)
				r -= a[i * n + k] * sol[k * nrhs + j];
			res += r * r;
		}
		assert_true(fabs(rn[j] - sqrt(res)) <= 1e-10 * sqrt(res));
	}
	/* A cut-off above every singular value but the largest: rank 1. */
	assert_int_equal(cask_lstsq_ex(ctx, z, y, 0.999, sol, rn, &rank), 0);
	assert_int_equal(rank, 1);
	cask_array_destroy(x);
	cask_array_destroy(y);
	cask_array_destroy(z);
	cask_array_destroy(b1);
	cask_ctx_destroy(ctx);
	free(a);
	free(b);
	free(aw);
	free(bw);
}

static void test_tsqr_errors(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx((size_t)64 << 20, 2);
	double buf[60] = {0};
	int64_t sh[2] = {5, 12};
	cask_array_t *x = NULL;
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, sh, NULL, buf, &x), 0);
	double r[144];
	/* Wide: QR refused (SVD handles it through the transpose). */
	assert_int_equal(cask_tsqr(ctx, x, r, NULL, NULL), CASK_ESHAPE);
	cask_array_t *v = NULL;
	int64_t s1[1] = {60};
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 1, s1, NULL, buf, &v), 0);
	assert_int_equal(cask_tsqr(ctx, v, r, NULL, NULL), CASK_ESHAPE);
	/* Existing output without overwrite: refused, the dataset unchanged. */
	double tb[40];
	int64_t s2[2] = {20, 2};
	for (int i = 0; i < 40; i++)
		tb[i] = i * 0.5 + (i % 3);
	cask_array_t *t = NULL;
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, s2, NULL, tb, &t), 0);
	char *f = path_of("exist.h5");
	cask_store_t rs;
	cask_store_init(&rs, f, "/R");
	assert_int_equal(cask_tsqr(ctx, t, NULL, &rs, NULL), 0);
	double *r1 = get(ctx, f, "/R", NULL);
	assert_int_equal(cask_tsqr(ctx, x, NULL, &rs, NULL), CASK_ESHAPE);
	cask_array_t *t2 = NULL;
	assert_int_equal(cask_binary(ctx, CASK_ADD, t, t, &t2), 0);
	assert_int_equal(cask_tsqr(ctx, t2, NULL, &rs, NULL), CASK_EEXIST);
	double *r2 = get(ctx, f, "/R", NULL);
	assert_memory_equal(r1, r2, 4 * sizeof(double));
	free(r1);
	free(r2);
	/* Zero-length: QR refused; products give empty or zero results. */
	int64_t s0[2] = {0, 3}, s32[2] = {3, 2};
	cask_array_t *z = NULL, *w = NULL, *p = NULL, *g = NULL;
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, s0, NULL, buf, &z), 0);
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, s32, NULL, buf, &w), 0);
	assert_int_equal(cask_tsqr(ctx, z, r, NULL, NULL), CASK_ESHAPE);
	assert_int_equal(cask_matmul(ctx, z, w, &p), 0);
	assert_int_equal(cask_array_size(p), 0);
	assert_int_equal(cask_gram(ctx, z, &g), 0);
	double gb[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
	assert_int_equal(cask_compute(ctx, g, gb, sizeof gb), 0);
	for (int i = 0; i < 9; i++)
		assert_true(gb[i] == 0.0);
	/* Shape errors name the datasets (gram of a 1-d array: not "A and B"). */
	cask_array_t *o = NULL;
	assert_int_equal(cask_gram(ctx, v, &o), CASK_ESHAPE);
	assert_non_null(strstr(cask_ctx_message(ctx), "A^T A needs a 2-d A, got 1-d"));
	assert_int_equal(cask_lstsq(ctx, t, x, r, NULL), CASK_ESHAPE);
	assert_non_null(strstr(cask_ctx_message(ctx), "must have A's 20 rows"));
	assert_non_null(strstr(cask_ctx_message(ctx), "got 5 x 12"));
	/* b of any rank but 1 or 2: so the message says (was "must be a 2-d
	 * array, not 0-d", though a 1-d b is fine). */
	cask_array_t *b0 = NULL, *b3 = NULL;
	int64_t s3[3] = {20, 1, 1};
	cask_scalar_t one = {.dtype = CASK_FLOAT64, .v.f = 1.0};
	assert_int_equal(cask_array_scalar(ctx, one, 0, &b0), 0);
	assert_int_equal(cask_array_from_buffer(ctx, CASK_FLOAT64, 3, s3, NULL, buf, &b3), 0);
	assert_int_equal(cask_lstsq(ctx, t, b0, r, NULL), CASK_ESHAPE);
	assert_non_null(strstr(cask_ctx_message(ctx), "must be 1-d or 2-d, not 0-d"));
	assert_int_equal(cask_lstsq(ctx, t, b3, r, NULL), CASK_ESHAPE);
	assert_non_null(strstr(cask_ctx_message(ctx), "must be 1-d or 2-d, not 3-d"));
	cask_array_destroy(b0);
	cask_array_destroy(b3);
	cask_array_t *arr[] = {x, v, t, t2, z, w, p, g};
	for (size_t i = 0; i < sizeof arr / sizeof *arr; i++)
		cask_array_destroy(arr[i]);
	cask_ctx_destroy(ctx);
}

static int setup(void **state)
{
	(void)state;
	snprintf(g_dir, sizeof g_dir, "/tmp/cask-test-tsqr-XXXXXX");
	return mkdtemp(g_dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tsqr_ratios_ragged),
		cmocka_unit_test(test_tsqr_condition_numbers),
		cmocka_unit_test(test_tsqr_shapes),
		cmocka_unit_test(test_tsqr_float32),
		cmocka_unit_test(test_tsqr_in_memory_and_threads),
		cmocka_unit_test(test_tsqr_tree_independent_of_outputs),
		cmocka_unit_test(test_tsqr_rank_deficient),
		cmocka_unit_test(test_tsqr_nonfinite_names_dataset),
		cmocka_unit_test(test_tsqr_svd_tall),
		cmocka_unit_test(test_tsqr_svd_wide),
		cmocka_unit_test(test_tsqr_svd_randomized),
		cmocka_unit_test(test_tsqr_rsvd_exact_rank),
		cmocka_unit_test(test_tsqr_rsvd_wide_through_transpose),
		cmocka_unit_test(test_tsqr_rsvd_unrepresentative_first_rows),
		cmocka_unit_test(test_tsqr_rsvd_spills_to_disk),
		cmocka_unit_test(test_tsqr_rsvd_compressed_reads_once_per_pass),
		cmocka_unit_test(test_tsqr_rsvd_outputs_atomic),
		cmocka_unit_test(test_tsqr_compressed_chunks_decoded_once),
		cmocka_unit_test(test_tsqr_q_row_chunks),
		cmocka_unit_test(test_tsqr_cancel_between_graphs),
		cmocka_unit_test(test_tsqr_matmul_gram_atb),
		cmocka_unit_test(test_tsqr_matmul_dtypes),
		cmocka_unit_test(test_tsqr_lstsq),
		cmocka_unit_test(test_tsqr_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
