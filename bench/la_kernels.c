/*
 * la_kernels.c - standalone timing of the TSQR leaf kernels (issue 4) on
 * one row chunk of a tall-skinny float64 matrix, one BLAS thread: which
 * LAPACK routine, inner block and sub-block height factor a chunk (pass 1)
 * and form its Q rows (pass 2) fastest.  Not built by meson (a benchmark,
 * never a test):
 *
 *   gcc -O2 -o /tmp/la_kernels bench/la_kernels.c -llapack -lopenblas -lm
 *   /tmp/la_kernels [rows [n [reps [modes]]]]   (default 100000 64 3 rqL)
 *
 * Modes (letters): r  R factor, dtpqrt folds vs dgeqrt on [R; block], for
 * sub-blocks of 1k-8k rows and ib 8-64 (GF/s = 2 rows n^2 / CPU time,
 * transpose load included); L  the same by dgelqt on the row-major
 * layout; q  pass 2 (refactor + Q rows), dtpmqrt vs the one-gemm form
 * cask uses (CPU seconds); c  check that both pass-2 forms agree; t
 * transpose-load variants (GB/s); x  one configuration, for perf.  Best
 * of reps runs; the machine is shared, so compare within one run.
 *
 * Measured 2026-11-25 (load 4-8 on the 2 cores, so absolute figures are
 * low): n = 64, dtpqrt ib 16 7.2-10 GF/s, ib 8 7.1-9.0, ib 32 6.1-9.1,
 * stacked dgeqrt 4-6.4 at any ib, dgelqt on the untransposed rows
 * 2.9-3.9; pass 2 per 100,000 rows 0.21 s (one gemm) vs 0.27 s
 * (dtpmqrt); transpose 3.4-3.8 GB/s.
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <lapack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void openblas_set_num_threads(int n);
void dgelqt_(const int *m, const int *n, const int *mb, double *a, const int *lda, double *t,
	const int *ldt, double *work, int *info);
void dgemlqt_(const char *side, const char *trans, const int *m, const int *n, const int *k,
	const int *mb, const double *v, const int *ldv, const double *t, const int *ldt,
	double *c, const int *ldc, double *work, int *info, size_t, size_t);

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int rows_, n_;
static double *a_;     /* row-major rows x n */
static double *w_;     /* column-major work */
static double *c_;     /* column-major product */
static double *t_, *work_, *r_;

static int ld_of(int rows)
{
	int r = (rows + 7) / 8 * 8;
	return r % 64 == 0 ? r + 8 : r;
}

static void load(int r0, int rows, double *w, int ldw)
{
	for (int i0 = 0; i0 < rows; i0 += 32) {
		int i1 = i0 + 32 < rows ? i0 + 32 : rows;
		for (int j = 0; j < n_; j++)
			for (int i = i0; i < i1; i++)
				w[i + (size_t)j * ldw] = a_[(size_t)(r0 + i) * n_ + j];
	}
}

/* Transpose variants, with the finiteness check of cask__la_block_load. */
static double poison_;
static void load_check32(int r0, int rows, double *w, int ldw)
{
	double poison = 0.0;
	for (int i0 = 0; i0 < rows; i0 += 32) {
		int i1 = i0 + 32 < rows ? i0 + 32 : rows;
		for (int j = 0; j < n_; j++)
			for (int i = i0; i < i1; i++) {
				double x = a_[(size_t)(r0 + i) * n_ + j];
				poison += x * 0.0;
				w[i + (size_t)j * ldw] = x;
			}
	}
	poison_ += poison;
}

/* 4 x 4 register tiles: 4 rows read as 4 contiguous runs, 4 columns
 * written as 4 contiguous runs; the check ORs exponents in 4 lanes. */
static void load_t4(int r0, int rows, double *w, int ldw)
{
	int n = n_;
	double p0 = 0, p1 = 0, p2 = 0, p3 = 0;
	int i = 0;
	for (; i + 4 <= rows; i += 4) {
		const double *s0 = a_ + (size_t)(r0 + i) * n, *s1 = s0 + n, *s2 = s1 + n, *s3 = s2 + n;
		double *d = w + i;
		for (int j = 0; j < n; j++) {
			double x0 = s0[j], x1 = s1[j], x2 = s2[j], x3 = s3[j];
			p0 += x0 * 0.0;
			p1 += x1 * 0.0;
			p2 += x2 * 0.0;
			p3 += x3 * 0.0;
			d[(size_t)j * ldw] = x0;
			d[(size_t)j * ldw + 1] = x1;
			d[(size_t)j * ldw + 2] = x2;
			d[(size_t)j * ldw + 3] = x3;
		}
	}
	for (; i < rows; i++)
		for (int j = 0; j < n; j++) {
			double x = a_[(size_t)(r0 + i) * n + j];
			p0 += x * 0.0;
			w[i + (size_t)j * ldw] = x;
		}
	poison_ += p0 + p1 + p2 + p3;
}

/* 8-row strips: 8 rows x n read (8 x 512 B), each column's 8 values one
 * 64-byte line of w. */
static void load_t8(int r0, int rows, double *w, int ldw)
{
	int n = n_;
	double p[8] = {0};
	int i = 0;
	for (; i + 8 <= rows; i += 8) {
		const double *s = a_ + (size_t)(r0 + i) * n;
		double *d = w + i;
		for (int j = 0; j < n; j++) {
			double *dj = d + (size_t)j * ldw;
			for (int k = 0; k < 8; k++) {
				double x = s[(size_t)k * n + j];
				p[k] += x * 0.0;
				dj[k] = x;
			}
		}
	}
	for (; i < rows; i++)
		for (int j = 0; j < n; j++) {
			double x = a_[(size_t)(r0 + i) * n + j];
			p[0] += x * 0.0;
			w[i + (size_t)j * ldw] = x;
		}
	for (int k = 0; k < 8; k++)
		poison_ += p[k];
}

static double time_load(void (*f)(int, int, double *, int), int reps)
{
	double b = 1e30;
	for (int k = 0; k < reps; k++) {
		double t0 = cpu_now();
		for (int r0 = 0; r0 < rows_; r0 += 4096)
			f(r0, rows_ - r0 < 4096 ? rows_ - r0 : 4096, w_, ld_of(4096));
		double t = cpu_now() - t0;
		b = t < b ? t : b;
	}
	return b;
}

/* Current cask scheme: dgeqrt on the head n rows, dtpqrt (l = 0) for the
 * rest, sub-blocks of sb rows, inner block ib. */
static double run_tpqrt(int sb, int ib, int do_load)
{
	int n = n_, info, zero = 0;
	double t0 = cpu_now();
	for (int r0 = 0; r0 < rows_; r0 += sb) {
		int rows = rows_ - r0 < sb ? rows_ - r0 : sb, ldw = ld_of(rows);
		if (do_load)
			load(r0, rows, w_, ldw);
		int skip = r0 == 0 ? n : 0, m = rows - skip;
		if (r0 == 0) {
			LAPACK_dgeqrt(&n, &n, &ib, w_, &ldw, t_, &ib, work_, &info);
			for (int j = 0; j < n; j++)
				for (int i = 0; i < n; i++)
					r_[i + j * n] = i <= j ? w_[i + j * ldw] : 0.0;
		}
		LAPACK_dtpqrt(&m, &n, &zero, &ib, r_, &n, w_ + skip, &ldw, t_, &ib, work_, &info);
	}
	return cpu_now() - t0;
}

/* Stacked: [R; sub-block] as one (n + sb) x n matrix factored by dgeqrt
 * with inner block ib (ib = n: fully recursive dgeqrt3). */
static double run_stacked(int sb, int ib, int do_load)
{
	int n = n_, info;
	double t0 = cpu_now();
	for (int r0 = 0; r0 < rows_; r0 += sb) {
		int rows = rows_ - r0 < sb ? rows_ - r0 : sb;
		int top = r0 == 0 ? 0 : n, m = top + rows, ldw = ld_of(m);
		if (do_load)
			load(r0, rows, w_ + top, ldw);
		if (top)
			for (int j = 0; j < n; j++)
				for (int i = 0; i < n; i++)
					w_[i + j * ldw] = i <= j ? r_[i + j * n] : 0.0;
		LAPACK_dgeqrt(&m, &n, &ib, w_, &ldw, t_, &ib, work_, &info);
		for (int j = 0; j < n; j++)
			for (int i = 0; i < n; i++)
				r_[i + j * n] = w_[i + j * ldw];
	}
	return cpu_now() - t0;
}

/* Current cask pass 2: tpqrt factor keeping V, then dtpmqrt per block. */
static double run_tpqrt_q(int sb, int ib)
{
	int n = n_, info, zero = 0;
	int nb = (rows_ + sb - 1) / sb;
	size_t off = 0;
	double t0 = cpu_now();
	for (int b = 0; b < nb; b++) {
		int r0 = b * sb, rows = rows_ - r0 < sb ? rows_ - r0 : sb, ldw = ld_of(rows);
		double *w = w_ + off;
		load(r0, rows, w, ldw);
		int skip = b == 0 ? n : 0, m = rows - skip;
		if (b == 0) {
			LAPACK_dgeqrt(&n, &n, &ib, w, &ldw, t_, &ib, work_, &info);
			for (int j = 0; j < n; j++)
				for (int i = 0; i < n; i++)
					r_[i + j * n] = i <= j ? w[i + j * ldw] : 0.0;
		}
		LAPACK_dtpqrt(&m, &n, &zero, &ib, r_, &n, w + skip, &ldw,
			t_ + (size_t)(b + 1) * ib * n, &ib, work_, &info);
		off += (size_t)ldw * n;
	}
	double ctop[64 * 64];
	for (int j = 0; j < n; j++)
		for (int i = 0; i < n; i++)
			ctop[i + j * n] = i == j;
	for (int b = nb - 1; b >= 0; b--) {
		int r0 = b * sb, rows = rows_ - r0 < sb ? rows_ - r0 : sb, ldw = ld_of(rows);
		off -= (size_t)ldw * n;
		int skip = b == 0 ? n : 0, m = rows - skip;
		for (int j = 0; j < n; j++)
			memset(c_ + (size_t)j * ldw, 0, (size_t)rows * sizeof(double));
		LAPACK_dtpmqrt("L", "N", &m, &n, &n, &zero, &ib, w_ + off + skip, &ldw,
			t_ + (size_t)(b + 1) * ib * n, &ib, ctop, &n, c_ + skip, &ldw, work_, &info);
		if (b == 0) {
			for (int j = 0; j < n; j++)
				memcpy(c_ + (size_t)j * ldw, ctop + j * n, n * sizeof(double));
			LAPACK_dgemqrt("L", "N", &rows, &n, &n, &ib, w_ + off, &ldw, t_, &ib, c_, &ldw,
				work_, &info);
		}
	}
	return cpu_now() - t0;
}

/* T of the whole block (n x n, upper) from G = V^T V and the taus on the
 * diagonals of dtpqrt's blocked T (the dlarft recurrence). */
static void full_t(int n, int ib, const double *tb, const double *g, double *tf)
{
	for (int i = 0; i < n; i++) {
		double tau = tb[(i % ib) + i * ib];
		for (int r = 0; r < i; r++)
			tf[r + i * n] = -tau * g[r + i * n];
		for (int r = i + 1; r < n; r++)
			tf[r + i * n] = 0.0;
		tf[i + i * n] = tau;
		if (i > 0)
			cblas_dtrmv(CblasColMajor, CblasUpper, CblasNoTrans, CblasNonUnit, i, tf, n,
				tf + i * n, 1);
	}
}

/* Pass 2 with the block reflector applied as one gemm: Q_i [ctop; 0] =
 * [ctop - W; -V W], W = T ctop, T the full n x n T from V^T V. */
static double run_gemm_q(int sb, int ib)
{
	int n = n_, info, zero = 0;
	int nb = (rows_ + sb - 1) / sb;
	size_t off = 0;
	double g[64 * 64], tf[64 * 64], wk[64 * 64];
	double t0 = cpu_now();
	for (int b = 0; b < nb; b++) {
		int r0 = b * sb, rows = rows_ - r0 < sb ? rows_ - r0 : sb, ldw = ld_of(rows);
		double *w = w_ + off;
		load(r0, rows, w, ldw);
		int skip = b == 0 ? n : 0, m = rows - skip;
		if (b == 0) {
			LAPACK_dgeqrt(&n, &n, &ib, w, &ldw, t_, &ib, work_, &info);
			for (int j = 0; j < n; j++)
				for (int i = 0; i < n; i++)
					r_[i + j * n] = i <= j ? w[i + j * ldw] : 0.0;
		}
		LAPACK_dtpqrt(&m, &n, &zero, &ib, r_, &n, w + skip, &ldw,
			t_ + (size_t)(b + 1) * ib * n, &ib, work_, &info);
		off += (size_t)ldw * n;
	}
	double ctop[64 * 64];
	for (int j = 0; j < n; j++)
		for (int i = 0; i < n; i++)
			ctop[i + j * n] = i == j;
	for (int b = nb - 1; b >= 0; b--) {
		int r0 = b * sb, rows = rows_ - r0 < sb ? rows_ - r0 : sb, ldw = ld_of(rows);
		off -= (size_t)ldw * n;
		int skip = b == 0 ? n : 0, m = rows - skip;
		double *v = w_ + off + skip;
		cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, n, m, 1.0, v, ldw, 0.0, g, n);
		full_t(n, ib, t_ + (size_t)(b + 1) * ib * n, g, tf);
		memcpy(wk, ctop, sizeof(double) * n * n);
		cblas_dtrmm(CblasColMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, n, n,
			1.0, tf, n, wk, n);
		for (int k = 0; k < n * n; k++)
			ctop[k] -= wk[k];
		cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, m, n, n, -1.0, v, ldw, wk, n,
			0.0, c_ + skip, ldw);
		if (b == 0) {
			for (int j = 0; j < n; j++)
				memcpy(c_ + (size_t)j * ldw, ctop + j * n, n * sizeof(double));
			LAPACK_dgemqrt("L", "N", &rows, &n, &n, &ib, w_ + off, &ldw, t_, &ib, c_, &ldw,
				work_, &info);
		}
	}
	return cpu_now() - t0;
}

/* LQ on the row-major layout: [L^T-part | sub-block^T] as n x (n + sb),
 * ld n, no transpose (memcpy of the rows only). */
static double run_lq(int sb, int ib)
{
	int n = n_, info;
	double t0 = cpu_now();
	for (int r0 = 0; r0 < rows_; r0 += sb) {
		int rows = rows_ - r0 < sb ? rows_ - r0 : sb;
		int top = r0 == 0 ? 0 : n, m = top + rows;
		memcpy(w_ + (size_t)top * n, a_ + (size_t)r0 * n, (size_t)rows * n * sizeof(double));
		if (top)
			for (int j = 0; j < n; j++)
				for (int i = 0; i < n; i++)
					w_[i + j * n] = i >= j ? r_[i + j * n] : 0.0;
		dgelqt_(&n, &m, &ib, w_, &n, t_, &ib, work_, &info);
		for (int j = 0; j < n; j++)
			for (int i = 0; i < n; i++)
				r_[i + j * n] = w_[i + j * n];
	}
	return cpu_now() - t0;
}

static double best(double (*f)(int, int, int), int sb, int ib, int ld, int reps)
{
	double b = 1e30;
	for (int k = 0; k < reps; k++) {
		double t = f(sb, ib, ld);
		b = t < b ? t : b;
	}
	return b;
}

static double best2(double (*f)(int, int), int sb, int ib, int reps)
{
	double b = 1e30;
	for (int k = 0; k < reps; k++) {
		double t = f(sb, ib);
		b = t < b ? t : b;
	}
	return b;
}

int main(int argc, char **argv)
{
	rows_ = argc > 1 ? atoi(argv[1]) : 100000;
	n_ = argc > 2 ? atoi(argv[2]) : 64;
	int reps = argc > 3 ? atoi(argv[3]) : 3;
	const char *only = argc > 4 ? argv[4] : "rqL";
	openblas_set_num_threads(1);
	size_t big = (size_t)(rows_ + 64 * 256) * n_ + 1024 * 1024;
	a_ = malloc((size_t)rows_ * n_ * sizeof(double));
	w_ = malloc(big * sizeof(double));
	c_ = malloc(big * sizeof(double));
	t_ = malloc((size_t)(rows_ / 64 + 8) * n_ * n_ * sizeof(double) + 1024 * 1024);
	work_ = malloc((size_t)n_ * 16384 * sizeof(double));
	r_ = malloc((size_t)n_ * n_ * sizeof(double));
	uint64_t s = 12345;
	for (size_t i = 0; i < (size_t)rows_ * n_; i++) {
		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		a_[i] = (double)(s >> 11) / 9007199254740992.0 - 0.5;
	}
	memset(w_, 0, big * sizeof(double));
	memset(c_, 0, big * sizeof(double));
	double fl = 2.0 * rows_ * n_ * (double)n_ / 1e9;
	double tl = 1e30;
	for (int k = 0; k < reps; k++) {
		double t0 = cpu_now();
		for (int r0 = 0; r0 < rows_; r0 += 4096)
			load(r0, rows_ - r0 < 4096 ? rows_ - r0 : 4096, w_, ld_of(4096));
		double t = cpu_now() - t0;
		tl = t < tl ? t : tl;
	}
	printf("load (transpose) of %d x %d: %.4f s (%.2f GB/s)\n", rows_, n_, tl,
		rows_ * (double)n_ * 8 / tl / 1e9);
	int sbs[] = {1024, 2048, 4096, 8192};
	int ibs[] = {8, 16, 32, 64};
	if (strchr(only, 'r'))
		for (int a = 0; a < 4; a++)
			for (int b = 0; b < 4; b++) {
				if (ibs[b] > n_)
					continue;
				double t1 = best(run_tpqrt, sbs[a], ibs[b], 1, reps);
				double t2 = best(run_stacked, sbs[a], ibs[b], 1, reps);
				printf("R  sb %5d ib %2d: tpqrt %6.2f GF/s   stacked dgeqrt %6.2f GF/s\n",
					sbs[a], ibs[b], fl / t1, fl / t2);
			}
	if (strchr(only, 'L'))
		for (int a = 0; a < 4; a++)
			for (int b = 0; b < 4; b++) {
				if (ibs[b] > n_)
					continue;
				double t3 = best2(run_lq, sbs[a], ibs[b], reps);
				printf("R  sb %5d ib %2d: row-major dgelqt %6.2f GF/s\n", sbs[a], ibs[b],
					fl / t3);
			}
	if (strchr(only, 't')) {
		double gb = rows_ * (double)n_ * 8 / 1e9;
		printf("transpose GB/s: plain %.2f, 32-tiles+check %.2f, 4x4+check %.2f, "
			"8-row strips+check %.2f\n", gb / time_load(load, reps),
			gb / time_load(load_check32, reps), gb / time_load(load_t4, reps),
			gb / time_load(load_t8, reps));
		/* the variants agree */
		double *k1 = malloc((size_t)ld_of(4096) * n_ * sizeof(double));
		load_check32(8192, 4096, k1, ld_of(4096));
		load_t8(8192, 4096, w_, ld_of(4096));
		int same = memcmp(k1, w_, (size_t)ld_of(4096) * n_ * sizeof(double)) == 0;
		load_t4(8192, 4096, w_, ld_of(4096));
		same &= memcmp(k1, w_, (size_t)ld_of(4096) * n_ * sizeof(double)) == 0;
		printf("variants agree: %d (poison %g)\n", same, poison_);
		free(k1);
	}
	if (strchr(only, 'x')) {
		/* One configuration only (for perf): sb 4096, ib 16. */
		double t = best(run_tpqrt, 4096, 16, 1, reps);
		printf("R  sb 4096 ib 16 tpqrt: %.2f GF/s\n", fl / t);
	}
	if (strchr(only, 'c')) {
		/* Check: the two pass-2 variants give the same Q rows of block 0. */
		int sb = 4096, ldw = ld_of(sb);
		run_tpqrt_q(sb, 8);
		double *keep = malloc((size_t)ldw * n_ * sizeof(double));
		memcpy(keep, c_, (size_t)ldw * n_ * sizeof(double));
		run_gemm_q(sb, 8);
		double d = 0.0;
		for (int j = 0; j < n_; j++)
			for (int i = 0; i < sb; i++) {
				double e = keep[i + (size_t)j * ldw] - c_[i + (size_t)j * ldw];
				d = e * e > d ? e * e : d;
			}
		printf("max |Q_tpmqrt - Q_gemm| on block 0: %.3g\n", d > 0 ? __builtin_sqrt(d) : 0.0);
		free(keep);
	}
	if (strchr(only, 'q'))
		for (int a = 0; a < 4; a++)
			for (int b = 0; b < 4; b++) {
				if (ibs[b] > n_)
					continue;
				double t1 = best2(run_tpqrt_q, sbs[a], ibs[b], reps);
				double t2 = best2(run_gemm_q, sbs[a], ibs[b], reps);
				printf("Q  sb %5d ib %2d: tpqrt+tpmqrt %.3f s   tpqrt+syrk+gemm %.3f s"
					"  (incl. load)\n", sbs[a], ibs[b], t1, t2);
			}
	return 0;
}
