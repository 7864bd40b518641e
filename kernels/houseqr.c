/*
 * houseqr.c - the panel of a triangle-over-rectangle Householder QR, the
 * level-2 heart of TSQR's folds (dtpqrt with l = 0; see
 * cask_k_tpqr_panel in kernels.h).
 *
 * LAPACK's dtpqrt2 does each column with OpenBLAS's dnrm2 (a scaled, x87
 * loop here), a dgemv and a dger, and forms T's column with another
 * dgemv; on W5 (4,000,000 x 64, panels of 16 columns) those took a third
 * of R-only TSQR's CPU time.  Here each column costs two passes over the
 * rows of the panel, which stays in L2: one takes the reflector's dot
 * products with every other column of the panel (T's column and the
 * update's w at once), the other updates the columns to its right and
 * sums the squares of the next one.  The arithmetic is dtpqrt2's and
 * dlarfg's (the same reflectors, T, R up to rounding); only the order of
 * the sums differs.
 *
 * Norms: the sum of squares is exact enough when it lies in
 * [SS_LO, SS_HI] (no square overflows; the squares that underflow are
 * below 2^-1022 * rows, nothing against SS_LO); outside it, or when the
 * pass's sum is not finite, the norm is recomputed scaled by the largest
 * entry, as dnrm2 does.  A column whose beta is below dlarfg's safe
 * minimum is rescaled as dlarfg does.
 */
#include "kernels.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SS_LO 1e-280
#define SS_HI 1e280

/* Fused multiply-adds where the target has them (C11 mode turns GCC's
 * contraction off; the sums' rounding order is the kernel's own anyway). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
#elif defined(__clang__)
#pragma clang fp contract(fast)
#endif

typedef double v4 __attribute__((vector_size(32)));

/* Unaligned loads and stores of four doubles (macros: a function taking or
 * returning v4 would change the ABI between the clones). */
#define LD4(v, p) memcpy(&(v), (p), sizeof(v4))
#define ST4(p, v) memcpy((p), &(v), sizeof(v4))
#define HSUM(v) (((v)[0] + (v)[2]) + ((v)[1] + (v)[3]))

/* Every loop below is inlined into the panel, which is compiled twice:
 * for AVX2 with FMA and for the baseline, picked at run time (CASK_SIMD=0
 * in the environment forces the baseline, for its tests). */
#define HQ_INLINE static inline __attribute__((always_inline))

/* Sum of x[i] * y[i], i < n, in eight interleaved partial sums. */
HQ_INLINE double dot(int64_t n, const double *x, const double *y)
{
	v4 s0 = {0, 0, 0, 0}, s1 = s0;
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		v4 x0, x1, y0, y1;
		LD4(x0, x + i);
		LD4(x1, x + i + 4);
		LD4(y0, y + i);
		LD4(y1, y + i + 4);
		s0 += x0 * y0;
		s1 += x1 * y1;
	}
	s0 += s1;
	double s = HSUM(s0);
	for (; i < n; i++)
		s += x[i] * y[i];
	return s;
}

/* d[j] = x . b[:, j] for the four columns b, b + ldb, ... (i < n): x is
 * loaded once for the four, and the eight partial sums hide the adds'
 * latency. */
HQ_INLINE void dot4(int64_t n, const double *x, const double *b, int64_t ldb, double *d)
{
	const double *y0 = b, *y1 = b + ldb, *y2 = b + 2 * ldb, *y3 = b + 3 * ldb;
	v4 z = {0, 0, 0, 0}, s0 = z, s1 = z, s2 = z, s3 = z, t0 = z, t1 = z, t2 = z, t3 = z;
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		v4 xa, xb, a, c;
		LD4(xa, x + i);
		LD4(xb, x + i + 4);
		LD4(a, y0 + i);
		LD4(c, y0 + i + 4);
		s0 += xa * a;
		t0 += xb * c;
		LD4(a, y1 + i);
		LD4(c, y1 + i + 4);
		s1 += xa * a;
		t1 += xb * c;
		LD4(a, y2 + i);
		LD4(c, y2 + i + 4);
		s2 += xa * a;
		t2 += xb * c;
		LD4(a, y3 + i);
		LD4(c, y3 + i + 4);
		s3 += xa * a;
		t3 += xb * c;
	}
	s0 += t0;
	s1 += t1;
	s2 += t2;
	s3 += t3;
	d[0] = HSUM(s0);
	d[1] = HSUM(s1);
	d[2] = HSUM(s2);
	d[3] = HSUM(s3);
	for (; i < n; i++) {
		d[0] += x[i] * y0[i];
		d[1] += x[i] * y1[i];
		d[2] += x[i] * y2[i];
		d[3] += x[i] * y3[i];
	}
}

/* y -= c * x, returning the sum of squares of the new y (i < n). */
HQ_INLINE double axpy_sumsq(int64_t n, double c, const double *x, double *y)
{
	v4 s0 = {0, 0, 0, 0}, s1 = s0, cv = {c, c, c, c};
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		v4 x0, x1, a, b;
		LD4(x0, x + i);
		LD4(x1, x + i + 4);
		LD4(a, y + i);
		LD4(b, y + i + 4);
		a -= cv * x0;
		b -= cv * x1;
		ST4(y + i, a);
		ST4(y + i + 4, b);
		s0 += a * a;
		s1 += b * b;
	}
	s0 += s1;
	double s = HSUM(s0);
	for (; i < n; i++) {
		y[i] -= c * x[i];
		s += y[i] * y[i];
	}
	return s;
}

/* y -= c * x (i < n): the sums of squares are dead code once inlined. */
HQ_INLINE void axpy(int64_t n, double c, const double *x, double *y)
{
	(void)axpy_sumsq(n, c, x, y);
}

/* x *= c (i < n). */
HQ_INLINE void scal(int64_t n, double c, double *x)
{
	for (int64_t i = 0; i < n; i++)
		x[i] *= c;
}

/* The 2-norm of x (i < n) scaled by its largest entry: no overflow or
 * underflow short of the result's own. */
HQ_INLINE double norm_scaled(int64_t n, const double *x)
{
	double m = 0.0, s = 0.0;
	for (int64_t i = 0; i < n; i++) {
		if (isnan(x[i]))
			return x[i]; /* as dnrm2: NaN in, NaN out */
		m = fabs(x[i]) > m ? fabs(x[i]) : m;
	}
	if (m == 0.0 || !isfinite(m))
		return m;
	for (int64_t i = 0; i < n; i++) {
		double q = x[i] / m;
		s += q * q;
	}
	return m * sqrt(s);
}

/* dlarfg for the reflector [alpha; x] (x: n entries, ss its sum of
 * squares as the caller's pass computed it): scales x into v, sets *alpha
 * to beta and returns tau (0 when x is zero: H = I). */
HQ_INLINE double reflector(int64_t n, double *alpha, double *x, double ss)
{
	const double safmin = DBL_MIN / (DBL_EPSILON / 2); /* dlamch('S') / dlamch('E') */
	double xnorm = isfinite(ss) && ss >= SS_LO && ss <= SS_HI ? sqrt(ss) : norm_scaled(n, x);
	if (xnorm == 0.0)
		return 0.0;
	double a = *alpha, beta = -copysign(hypot(a, xnorm), a);
	int knt = 0;
	if (fabs(beta) < safmin) {
		/* dlarfg: xnorm and beta may be inaccurate; scale x and recompute. */
		double rsafmn = 1.0 / safmin;
		do {
			knt++;
			scal(n, rsafmn, x);
			beta *= rsafmn;
			a *= rsafmn;
		} while (fabs(beta) < safmin && knt < 20);
		xnorm = norm_scaled(n, x);
		beta = -copysign(hypot(a, xnorm), a);
	}
	double tau = (beta - a) / beta;
	scal(n, 1.0 / (a - beta), x);
	for (int j = 0; j < knt; j++)
		beta *= safmin;
	*alpha = beta;
	return tau;
}

/* Dot products of v = b[:, i] with every other column of the panel into
 * d (d[i] = 0), four columns at a time. */
HQ_INLINE void dots(int64_t rows, int64_t ib, int64_t i, const double *b, int64_t ldb, double *d)
{
	const double *x = b + i * ldb;
	int64_t k = 0;
	for (; k + 4 <= ib; k += 4)
		dot4(rows, x, b + k * ldb, ldb, d + k);
	for (; k < ib; k++)
		d[k] = dot(rows, x, b + k * ldb);
	d[i] = 0.0;
}

HQ_INLINE void panel(int64_t rows, int64_t ib, double *a, int64_t lda, double *b, int64_t ldb,
                     double *t, int64_t ldt, double *d)
{
	double ss = dot(rows, b, b);
	for (int64_t i = 0; i < ib; i++) {
		double *x = b + i * ldb;
		double tau = reflector(rows, &a[i + i * lda], x, ss);
		/* Dot products of v with every other column: T's column (left of
		 * i, final) and the update's w (right of i). */
		if (tau != 0.0)
			dots(rows, ib, i, b, ldb, d);
		else
			memset(d, 0, (size_t)ib * sizeof *d);
		/* T(0:i, i) = T(0:i, 0:i) * (-tau * V(:, 0:i)^T v), T(i, i) = tau
		 * (dtpqrt2's second loop; identity parts of [I; V] are
		 * orthogonal, so only V's rows count). */
		for (int64_t r = 0; r < i; r++) {
			double s = 0.0;
			for (int64_t c = r; c < i; c++)
				s += t[r + c * ldt] * (-tau * d[c]);
			t[r + i * ldt] = s;
		}
		t[i + i * ldt] = tau;
		for (int64_t r = i + 1; r < ib; r++)
			t[r + i * ldt] = 0.0;
		/* Apply H = I - tau [e_i; v] [e_i; v]^T to the columns right of i:
		 * w_k = a(i, k) + v^T b_k; a(i, k) -= tau w_k; b_k -= tau w_k v. */
		if (i + 1 < ib)
			ss = 0.0;
		for (int64_t k = i + 1; k < ib; k++) {
			double w = a[i + k * lda] + d[k];
			a[i + k * lda] -= tau * w;
			if (k == i + 1)
				ss = tau == 0.0 ? dot(rows, b + k * ldb, b + k * ldb)
				                : axpy_sumsq(rows, tau * w, x, b + k * ldb);
			else if (tau != 0.0)
				axpy(rows, tau * w, x, b + k * ldb);
		}
	}
}

#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target("avx2,fma")))
static void panel_avx2(int64_t rows, int64_t ib, double *a, int64_t lda, double *b, int64_t ldb,
                       double *t, int64_t ldt, double *d)
{
	panel(rows, ib, a, lda, b, ldb, t, ldt, d);
}

static int have_avx2(void)
{
	static int v = -1;
	int h = __atomic_load_n(&v, __ATOMIC_RELAXED);
	if (h < 0) {
		const char *e = getenv("CASK_SIMD");
		__builtin_cpu_init();
		h = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
		    (e == NULL || strcmp(e, "0") != 0);
		__atomic_store_n(&v, h, __ATOMIC_RELAXED);
	}
	return h;
}
#endif

int cask_k_tpqr_panel(int64_t rows, int64_t ib, double *a, int64_t lda, double *b, int64_t ldb,
                      double *t, int64_t ldt, double *d)
{
	if (rows < 0 || ib < 1 || lda < ib || ldb < (rows > 1 ? rows : 1) || ldt < ib)
		return -1;
#if defined(__GNUC__) && defined(__x86_64__)
	if (have_avx2()) {
		panel_avx2(rows, ib, a, lda, b, ldb, t, ldt, d);
		return 0;
	}
#endif
	panel(rows, ib, a, lda, b, ldb, t, ldt, d);
	return 0;
}
