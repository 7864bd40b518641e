/*
 * skinny.c - matrix products with one narrow side (k <= CASK_K_SKINNY_MAX
 * columns), the shape of a randomized SVD's passes: C = A B with A a row
 * block of a tall or wide matrix and B n x k, and Z += A^T B.
 *
 * OpenBLAS's dgemm copies ("packs") the whole of the large operand into
 * its own layout before its kernel runs; with 20 columns on the other side
 * that copy costs about two thirds of the arithmetic (perf on W6b: 20% of
 * the run packing, 31% in the kernel).  Here the large operand is read in
 * place, once: an 8 x (up to 24) tile of the result lives in 24 AVX-512
 * registers, and each step broadcasts 8 elements of A and loads one row of
 * B (3 vectors, the last one masked to k's remainder).  One micro-kernel
 * serves both products; only the strides of A differ:
 *   C = A B:    tile rows are rows of A,    the sum runs along A's rows;
 *   Z += A^T B: tile rows are columns of A, the sum runs down A's columns.
 * B is blocked so that its panel (256 x 24 doubles, 48 KiB) stays in the
 * first- or second-level cache while A streams past it.
 *
 * Summation order is fixed (ascending p within a tile), so results are
 * bit-identical between runs.  They differ from dgemm's in the last bits.
 * Without AVX-512 (or with another compiler), or with CASK_SKINNY=0 in
 * the environment (to test the other path), the functions return -1 and
 * the caller uses BLAS.
 */
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SK_HAVE 1
#include <immintrin.h>
#define SK_FN __attribute__((target("avx512f")))
#define SK_INLINE static inline __attribute__((always_inline)) SK_FN
#else
#define SK_HAVE 0
#endif

enum { KB = 256 }; /* rows of B's panel per pass over A */

int cask_k_skinny_available(void)
{
#if SK_HAVE
	static int avail = -1;
	int v = __atomic_load_n(&avail, __ATOMIC_RELAXED);
	if (v < 0) {
		const char *e = getenv("CASK_SKINNY");
		__builtin_cpu_init();
		v = __builtin_cpu_supports("avx512f") && (e == NULL || strcmp(e, "0") != 0) ? 1 : 0;
		__atomic_store_n(&avail, v, __ATOMIC_RELAXED);
	}
	return v;
#else
	return 0;
#endif
}

#if SK_HAVE

/* c[r*ldc + j] for r < MR, j < 8*(NV-1) + popcount(last):
 *   init 0: sum;  1: beta * c + sum;  2: c + sum;
 * sum = sum_{p < np} a[r*ars + p*aps] * b[p*ldb + j]. */
SK_INLINE void tile(const int TN, const int MR, const int NV, __mmask8 last, int init, double beta,
	int64_t np, const double *a, int64_t ars, int64_t aps, const double *b, int64_t ldb,
	double *c, int64_t ldc)
{
	__m512d acc[8][3];
	const __m512d vb = _mm512_set1_pd(beta);
#pragma GCC unroll 8
	for (int r = 0; r < MR; r++) {
#pragma GCC unroll 3
		for (int v = 0; v < NV; v++) {
			__mmask8 mk = v == NV - 1 ? last : 0xFF;
			if (init == 0) {
				acc[r][v] = _mm512_setzero_pd();
			} else {
				acc[r][v] = _mm512_maskz_loadu_pd(mk, c + r * ldc + 8 * v);
				if (init == 1)
					acc[r][v] = _mm512_mul_pd(acc[r][v], vb);
			}
		}
	}
	for (int64_t p = 0; p < np; p++) {
		__m512d bv[3];
		const double *bp = b + p * ldb;
		const double *ap = a + p * aps;
		if (TN) /* A^T B: fetch this row's line of the next tile */
			_mm_prefetch((const char *)(ap + 16), _MM_HINT_T0);
#pragma GCC unroll 3
		for (int v = 0; v < NV; v++)
			bv[v] = v == NV - 1 ? _mm512_maskz_loadu_pd(last, bp + 8 * v)
			                    : _mm512_loadu_pd(bp + 8 * v);
#pragma GCC unroll 8
		for (int r = 0; r < MR; r++) {
			__m512d av = _mm512_set1_pd(ap[r * ars]);
#pragma GCC unroll 3
			for (int v = 0; v < NV; v++)
				acc[r][v] = _mm512_fmadd_pd(av, bv[v], acc[r][v]);
		}
	}
#pragma GCC unroll 8
	for (int r = 0; r < MR; r++) {
#pragma GCC unroll 3
		for (int v = 0; v < NV; v++) {
			__mmask8 mk = v == NV - 1 ? last : 0xFF;
			_mm512_mask_storeu_pd(c + r * ldc + 8 * v, mk, acc[r][v]);
		}
	}
}

/* One column panel (width w <= 24) of the result: rows blocks of 8, 4, 2, 1. */
#define SK_PANEL(NV, TN, NAME)                                                                \
	static SK_FN void NAME(int64_t nr, __mmask8 last, int init, double beta, int64_t np,  \
		const double *a, int64_t ars, int64_t aps, const double *b, int64_t ldb, double *c,  \
		int64_t ldc)                                                                         \
	{                                                                                        \
		int64_t r = 0;                                                                       \
		for (; r + 8 <= nr; r += 8)                                                          \
			tile(TN, 8, NV, last, init, beta, np, a + r * ars, ars, aps, b, ldb, c + r * ldc,   \
				ldc);                                                                        \
		if (r + 4 <= nr) {                                                                   \
			tile(TN, 4, NV, last, init, beta, np, a + r * ars, ars, aps, b, ldb, c + r * ldc,   \
				ldc);                                                                        \
			r += 4;                                                                          \
		}                                                                                    \
		if (r + 2 <= nr) {                                                                   \
			tile(TN, 2, NV, last, init, beta, np, a + r * ars, ars, aps, b, ldb, c + r * ldc,   \
				ldc);                                                                        \
			r += 2;                                                                          \
		}                                                                                    \
		if (r < nr)                                                                          \
			tile(TN, 1, NV, last, init, beta, np, a + r * ars, ars, aps, b, ldb, c + r * ldc,   \
				ldc);                                                                        \
	}
SK_PANEL(1, 0, panel1)
SK_PANEL(2, 0, panel2)
SK_PANEL(3, 0, panel3)
SK_PANEL(1, 1, panel1_tn)
SK_PANEL(2, 1, panel2_tn)
SK_PANEL(3, 1, panel3_tn)

/* c (nr x k) = init(c) + sum_{p < np} A'[r, p] b[p, :], A'[r, p] = a[r*ars + p*aps],
 * p in blocks of KB (the first block applies init, the later ones add); tn:
 * the A^T B panels (A' is A^T: ars 1, aps lda), which prefetch ahead. */
static SK_FN void product(int tn, int64_t nr, int64_t np, int64_t k, const double *a,
	int64_t ars, int64_t aps, const double *b, int64_t ldb, int init, double beta, double *c, int64_t ldc)
{
	if (np == 0) { /* an empty sum: C = beta C (or C) */
		if (init == 2)
			return;
		for (int64_t r = 0; r < nr; r++)
			for (int64_t j = 0; j < k; j++)
				c[r * ldc + j] = init == 0 ? 0.0 : beta * c[r * ldc + j];
		return;
	}
	for (int64_t p0 = 0; p0 < np; p0 += KB) {
		int64_t pb = np - p0 < KB ? np - p0 : KB;
		int in = p0 == 0 ? init : 2;
		const double *ab = a + p0 * aps, *bb = b + p0 * ldb;
		for (int64_t j0 = 0; j0 < k; j0 += 24) {
			int64_t w = k - j0 < 24 ? k - j0 : 24;
			int nv = (int)((w + 7) / 8);
			__mmask8 last = (__mmask8)(0xFFu >> (8 * nv - w));
			void (*f)(int64_t, __mmask8, int, double, int64_t, const double *, int64_t,
				int64_t, const double *, int64_t, double *, int64_t);
			if (tn) /* A^T B */
				f = nv == 3 ? panel3_tn : nv == 2 ? panel2_tn : panel1_tn;
			else
				f = nv == 3 ? panel3 : nv == 2 ? panel2 : panel1;
			f(nr, last, in, beta, pb, ab, ars, aps, bb + j0, ldb, c + j0, ldc);
		}
	}
}

#endif

#if SK_HAVE
/* w[i + j*ldw] = a[i*lda + j] for an 8 x 8 block; acc += a * 0 (NaN if any
 * element is NaN or Inf). */
SK_INLINE __m512d tr8(const double *a, int64_t lda, double *w, int64_t ldw, __m512d acc)
{
	const __m512d zero = _mm512_setzero_pd();
	__m512d r[8], t[8], u[8];
#pragma GCC unroll 8
	for (int k = 0; k < 8; k++) {
		r[k] = _mm512_loadu_pd(a + k * lda);
		acc = _mm512_fmadd_pd(r[k], zero, acc);
	}
	/* pairs of rows, then pairs of pairs, then halves: the classic three
	 * rounds of an 8 x 8 transpose */
#pragma GCC unroll 4
	for (int k = 0; k < 8; k += 2) {
		t[k] = _mm512_unpacklo_pd(r[k], r[k + 1]);
		t[k + 1] = _mm512_unpackhi_pd(r[k], r[k + 1]);
	}
#pragma GCC unroll 2
	for (int k = 0; k < 8; k += 4) {
		u[k] = _mm512_shuffle_f64x2(t[k], t[k + 2], 0x88);
		u[k + 1] = _mm512_shuffle_f64x2(t[k + 1], t[k + 3], 0x88);
		u[k + 2] = _mm512_shuffle_f64x2(t[k], t[k + 2], 0xDD);
		u[k + 3] = _mm512_shuffle_f64x2(t[k + 1], t[k + 3], 0xDD);
	}
	/* u[0]: col 0 (rows 0-3 in lanes 0,2 of each 128-bit pair...) - finish with
	 * a last cross-lane shuffle between the two groups of four rows */
	_mm512_storeu_pd(w + 0 * ldw, _mm512_shuffle_f64x2(u[0], u[4], 0x88));
	_mm512_storeu_pd(w + 1 * ldw, _mm512_shuffle_f64x2(u[1], u[5], 0x88));
	_mm512_storeu_pd(w + 2 * ldw, _mm512_shuffle_f64x2(u[2], u[6], 0x88));
	_mm512_storeu_pd(w + 3 * ldw, _mm512_shuffle_f64x2(u[3], u[7], 0x88));
	_mm512_storeu_pd(w + 4 * ldw, _mm512_shuffle_f64x2(u[0], u[4], 0xDD));
	_mm512_storeu_pd(w + 5 * ldw, _mm512_shuffle_f64x2(u[1], u[5], 0xDD));
	_mm512_storeu_pd(w + 6 * ldw, _mm512_shuffle_f64x2(u[2], u[6], 0xDD));
	_mm512_storeu_pd(w + 7 * ldw, _mm512_shuffle_f64x2(u[3], u[7], 0xDD));
	return acc;
}

static SK_FN int colmajor_f64(int64_t rows, int64_t n, const double *a, int64_t lda, double *w,
	int64_t ldw)
{
	__m512d acc = _mm512_setzero_pd();
	double p = 0.0;
	int64_t i = 0;
	for (; i + 8 <= rows; i += 8) {
		int64_t j = 0;
		for (; j + 8 <= n; j += 8)
			acc = tr8(a + i * lda + j, lda, w + i + j * ldw, ldw, acc);
		for (; j < n; j++)
			for (int k = 0; k < 8; k++) {
				double x = a[(i + k) * lda + j];
				p += x * 0.0;
				w[i + k + j * ldw] = x;
			}
	}
	for (; i < rows; i++)
		for (int64_t j = 0; j < n; j++) {
			double x = a[i * lda + j];
			p += x * 0.0;
			w[i + j * ldw] = x;
		}
	return p + _mm512_reduce_add_pd(acc) == 0.0 ? 0 : 1;
}
#endif

int cask_k_colmajor_f64(int64_t rows, int64_t n, const double *a, int64_t lda, double *w,
	int64_t ldw)
{
#if SK_HAVE
	if (!cask_k_skinny_available())
		return -1;
	return colmajor_f64(rows, n, a, lda, w, ldw);
#else
	(void)rows, (void)n, (void)a, (void)lda, (void)w, (void)ldw;
	return -1;
#endif
}

int cask_k_skinny_nn(int64_t rows, int64_t n, int64_t k, const double *a, int64_t lda,
	const double *b, int64_t ldb, double beta, double *c, int64_t ldc)
{
#if SK_HAVE
	if (k < 1 || k > CASK_K_SKINNY_MAX || !cask_k_skinny_available())
		return -1;
	product(0, rows, n, k, a, lda, 1, b, ldb, beta == 0.0 ? 0 : 1, beta, c, ldc);
	return 0;
#else
	(void)rows, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb, (void)beta;
	(void)c, (void)ldc;
	return -1;
#endif
}

int cask_k_skinny_tn(int64_t rows, int64_t n, int64_t k, const double *a, int64_t lda,
	const double *b, int64_t ldb, double *z, int64_t ldz)
{
#if SK_HAVE
	if (k < 1 || k > CASK_K_SKINNY_MAX || !cask_k_skinny_available())
		return -1;
	product(1, n, rows, k, a, 1, lda, b, ldb, 2, 1.0, z, ldz);
	return 0;
#else
	(void)rows, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb, (void)z, (void)ldz;
	return -1;
#endif
}
