/*
 * ndimage.c - scipy.ndimage-compatible filter kernels on padded blocks
 * (contract in ndimage.h).
 *
 * How scipy 1.10 computes, and what is reproduced here (read from
 * scipy/ndimage/src/ni_filters.c, ni_support.c and _filters.py, and checked
 * against /usr/bin/python3's scipy by tests/test_ndimage.c):
 *  1. correlate1d (NI_Correlate1D): for an odd window whose weights are
 *     symmetric (|w[c+i] - w[c-i]| <= DBL_EPSILON) the sum is
 *     x0*w0 + (x[-c]+x[c])*w[-c] + ... + (x[-1]+x[1])*w[-1], antisymmetric
 *     likewise with differences, otherwise x[s2]*w[s2] + x[-s1]*w[-s1] + ...
 *     The same operations in the same order are done here, so results agree
 *     bit for bit.
 *  2. uniform_filter1d keeps a running SUM along the line, started at the
 *     line's first window, and divides by the size for each output.  Blocks
 *     start their running sum at the block, so float results may differ in
 *     the last bits (far inside 1e-12 relative); integer data is exact.
 *  3. minimum/maximum_filter1d: of equal extremes the last one wins (the
 *     ring algorithm's <= / >=), reproduced by a <= / >= scan.
 *  4. median (rank filter): cval is first cast to the input type; median of
 *     a 1-cell window is the input, of a 2-cell window maximum_filter1d.
 *  5. n-d correlate (NI_Correlate): weights with |w| <= DBL_EPSILON are
 *     dropped, the rest summed in C order from 0.0.
 *  6. Separable filters and sums of terms store every intermediate in the
 *     output dtype (see ndimage.h), e.g. sobel on uint8 wraps, laplace adds
 *     its terms with NumPy's wrapping integer +=, gaussian_gradient_magnitude
 *     squares with wrapping *= and takes NumPy's sqrt loop chosen for the
 *     dtype (float16 for 8-bit, float32 for 16-bit integers and float32).
 *  7. gaussian weights: _gaussian_kernel1d's exp (NumPy's, which is SVML's
 *     on AVX-512 CPUs: cask_k_nd_numpy_exp) / NumPy pairwise sum /
 *     division, and for orders 1-2 the polynomial from a dgemv that
 *     OpenBLAS (Haswell kernels, OPENBLAS_CORETYPE=Haswell here) evaluates
 *     with fused multiply-adds; reproduced with fma(), so the weights are
 *     bit-equal to scipy's on this platform (a BLAS without FMA would make
 *     scipy's order-2 weights differ in the last bit).
 *  8. median (NI_RankFilter): the window in C order of the footprint goes
 *     through NI_Select (Hoare partition around the first element).  Any
 *     selection gives the same value on NaN-free windows; a window holding
 *     NaN gives what NI_Select gives, so those windows run ni_select, a
 *     copy of it (checked against scipy with NaN by tests/test_ndimage.c).
 * Layout and speed: the 1-d passes (corr_run) keep 16 outputs in four
 * 4-double vector registers over the taps (the per-element operation order
 * unchanged, so still bit-equal); the taps are shifted rows (passes along
 * non-last axes, in column strips (strip_len) so a window of rows
 * stays in cache) or shifted lines (the last axis).  Medians of up to
 * NET_MAXN cells run a pruned selection network over 64 outputs of a row
 * at a time (float lanes when the dtype's values are floats exactly);
 * larger windows quickselect.  Hot loops are compiled twice (AVX2 and the
 * baseline, gcc's target_clones) and picked at load time.  The float32
 * gaussian path (cask_k_nd_apply_f32) computes in float: see ndimage.h.
 * Known deviations: NaN inputs in min/max (scipy's ring algorithm treats
 * NaN order-dependently); the sign of zero in medians;
 * 64-bit integer values beyond 2^53 (rounded in the double arithmetic, e.g.
 * sums whose products exceed 2^53); BOOL output is not supported.
 */
#include "ndimage.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ------------------------------------------------------------- padding */

int64_t cask_k_pad_index(cask_k_pad_mode_t mode, int64_t n, int64_t i)
{
	int64_t p, m;

	if (n < 1)
		return -1;
	if (i >= 0 && i < n)
		return i;
	switch (mode) {
	case CASK_K_PAD_NEAREST:
		return i < 0 ? 0 : n - 1;
	case CASK_K_PAD_WRAP:
		m = i % n;
		return m < 0 ? m + n : m;
	case CASK_K_PAD_REFLECT:
		if (n == 1)
			return 0;
		p = 2 * n;
		m = i % p;
		if (m < 0)
			m += p;
		return m < n ? m : p - 1 - m;
	case CASK_K_PAD_MIRROR:
		if (n == 1)
			return 0;
		p = 2 * n - 2;
		m = i % p;
		if (m < 0)
			m += p;
		return m < n ? m : p - m;
	default:
		return -1;
	}
}

void cask_k_pad_hull(cask_k_pad_mode_t mode, int64_t n, int64_t g0, int64_t g1, int64_t *s0,
                     int64_t *s1)
{
	int64_t a = INT64_MAX, b = INT64_MIN, lo, hi, g, cnt, s;
	int side;

	*s0 = 0;
	*s1 = 0;
	if (n < 1 || g1 <= g0)
		return;
	lo = g0 > 0 ? g0 : 0;
	hi = g1 < n ? g1 : n;
	if (lo < hi) {
		a = lo;
		b = hi - 1;
	}
	if (mode != CASK_K_PAD_CONSTANT) {
		/* Outside runs: every mode is periodic with period <= 2n, so 2n
		 * consecutive cells of a run show all its sources. */
		for (side = 0; side < 2; side++) {
			int64_t r0 = side == 0 ? g0 : (g0 > n ? g0 : n);
			int64_t r1 = side == 0 ? (g1 < 0 ? g1 : 0) : g1;
			if (r1 <= r0)
				continue;
			cnt = r1 - r0;
			if (cnt > 2 * n)
				cnt = 2 * n;
			for (g = 0; g < cnt; g++) {
				s = cask_k_pad_index(mode, n, side == 0 ? r1 - 1 - g : r0 + g);
				if (s < a)
					a = s;
				if (s > b)
					b = s;
			}
		}
	}
	if (a <= b) {
		*s0 = a;
		*s1 = b + 1;
	}
}

int cask_k_pad_fill(int nd, const int64_t *ext, const int64_t *lo, const int64_t *pos,
                    const int64_t *full, const cask_k_pad_mode_t *mode, double cval,
                    double *block)
{
	int k;
	int64_t j, o, i, outer, inner, L, g, s, b0;

	/* Check every source first so that a refusal leaves the block as is. */
	for (k = 0; k < nd; k++) {
		if (mode[k] == CASK_K_PAD_CONSTANT)
			continue;
		b0 = pos[k] - lo[k];
		for (j = 0; j < ext[k]; j++) {
			g = b0 + j;
			if (g >= 0 && g < full[k])
				continue;
			s = cask_k_pad_index(mode[k], full[k], g);
			if (s < b0 || s >= b0 + ext[k])
				return -1;
		}
	}
	for (k = 0; k < nd; k++) {
		outer = 1;
		inner = 1;
		for (i = 0; i < k; i++)
			outer *= ext[i];
		for (i = k + 1; i < nd; i++)
			inner *= ext[i];
		L = ext[k];
		b0 = pos[k] - lo[k];
		for (j = 0; j < L; j++) {
			g = b0 + j;
			if (g >= 0 && g < full[k])
				continue;
			s = cask_k_pad_index(mode[k], full[k], g) - b0;
			for (o = 0; o < outer; o++) {
				double *dst = block + (o * L + j) * inner;
				if (mode[k] == CASK_K_PAD_CONSTANT) {
					for (i = 0; i < inner; i++)
						dst[i] = cval;
				} else {
					memcpy(dst, block + (o * L + s) * inner,
					       (size_t)inner * sizeof(double));
				}
			}
		}
	}
	return 0;
}

/* One element of dtype t at index i of p, as double. */
static double load1(cask_dtype_t t, const void *p, int64_t i)
{
	switch (t) {
	case CASK_BOOL:
	case CASK_UINT8: return ((const uint8_t *)p)[i];
	case CASK_INT8: return ((const int8_t *)p)[i];
	case CASK_INT16: return ((const int16_t *)p)[i];
	case CASK_UINT16: return ((const uint16_t *)p)[i];
	case CASK_INT32: return ((const int32_t *)p)[i];
	case CASK_UINT32: return ((const uint32_t *)p)[i];
	case CASK_INT64: return (double)((const int64_t *)p)[i];
	case CASK_UINT64: return (double)((const uint64_t *)p)[i];
	case CASK_FLOAT32: return ((const float *)p)[i];
	case CASK_FLOAT64: return ((const double *)p)[i];
	default: return 0.0;
	}
}

/* dst[0..n) = src[i0..i0+n) converted to double, one loop per dtype. */
static void load_run(cask_dtype_t t, const void *p, int64_t i0, int64_t n, double *dst)
{
	int64_t i;

#define LOAD_RUN(T)                                              \
	do {                                                     \
		const T *s_ = (const T *)p + i0;                 \
		for (i = 0; i < n; i++)                          \
			dst[i] = (double)s_[i];                  \
	} while (0)
	switch (t) {
	case CASK_BOOL:
	case CASK_UINT8: LOAD_RUN(uint8_t); break;
	case CASK_INT8: LOAD_RUN(int8_t); break;
	case CASK_INT16: LOAD_RUN(int16_t); break;
	case CASK_UINT16: LOAD_RUN(uint16_t); break;
	case CASK_INT32: LOAD_RUN(int32_t); break;
	case CASK_UINT32: LOAD_RUN(uint32_t); break;
	case CASK_INT64: LOAD_RUN(int64_t); break;
	case CASK_UINT64: LOAD_RUN(uint64_t); break;
	case CASK_FLOAT32: LOAD_RUN(float); break;
	case CASK_FLOAT64: LOAD_RUN(double); break;
	default:
		for (i = 0; i < n; i++)
			dst[i] = 0.0;
	}
#undef LOAD_RUN
}

void cask_k_pad_gather(int nd, const int64_t *ext, const int64_t *g0, const int64_t *full,
                       const cask_k_pad_mode_t *mode, double cval, cask_dtype_t wt,
                       const void *win, const int64_t *w0, const int64_t *wext, double *block)
{
	int64_t idx[CASK_K_ND_MAXDIM] = {0}, wstr[CASK_K_ND_MAXDIM];
	int64_t rows = 1, r, j, L, ja, jb, base, s;
	int k, last = nd - 1, is_cval;
	double *dst;

	for (k = 0; k < nd; k++)
		if (ext[k] == 0)
			return;
	wstr[last] = 1;
	for (k = last - 1; k >= 0; k--)
		wstr[k] = wstr[k + 1] * wext[k + 1];
	for (k = 0; k < last; k++)
		rows *= ext[k];
	L = ext[last];
	/* Inside run of the last axis: j in [ja, jb). */
	ja = -g0[last];
	if (ja < 0)
		ja = 0;
	jb = full[last] - g0[last];
	if (jb > L)
		jb = L;
	if (jb < ja)
		jb = ja;
	dst = block;
	for (r = 0; r < rows; r++, dst += L) {
		is_cval = 0;
		base = 0;
		for (k = 0; k < last; k++) {
			s = cask_k_pad_index(mode[k], full[k], g0[k] + idx[k]);
			if (s < 0) {
				is_cval = 1;
				break;
			}
			base += (s - w0[k]) * wstr[k];
		}
		if (is_cval) {
			for (j = 0; j < L; j++)
				dst[j] = cval;
		} else {
			if (jb > ja)
				load_run(wt, win, base + g0[last] + ja - w0[last], jb - ja, dst + ja);
			for (j = 0; j < L; j++) {
				if (j == ja && jb > ja) {
					j = jb - 1;
					continue;
				}
				s = cask_k_pad_index(mode[last], full[last], g0[last] + j);
				dst[j] = s < 0 ? cval : load1(wt, win, base + s - w0[last]);
			}
		}
		for (k = last - 1; k >= 0; k--) {
			if (++idx[k] < ext[k])
				break;
			idx[k] = 0;
		}
	}
}

/* ------------------------------------------------------- dtype handling */

/* x86-64's cvttsd2si with a 32-bit destination: truncation, and INT32_MIN
 * for NaN and out-of-range values. */
static int32_t cvt32(double v)
{
	if (v > -2147483649.0 && v < 2147483648.0)
		return (int32_t)v;
	return INT32_MIN;
}

/* The same with a 64-bit destination. */
static int64_t cvt64(double v)
{
	if (v >= -9223372036854775808.0 && v < 9223372036854775808.0)
		return (int64_t)v;
	return INT64_MIN;
}

/* gcc's double -> uint64 sequence on x86-64. */
static uint64_t cvtu64(double v)
{
	if (v < 9223372036854775808.0)
		return (uint64_t)cvt64(v);
	return (uint64_t)cvt64(v - 9223372036854775808.0) ^ (UINT64_C(1) << 63);
}

double cask_k_nd_quantize(cask_dtype_t t, double v)
{
	switch (t) {
	case CASK_BOOL:
	case CASK_UINT8: return (double)(uint8_t)(uint32_t)cvt32(v);
	case CASK_INT8: return (double)(int8_t)(uint8_t)(uint32_t)cvt32(v);
	case CASK_INT16: return (double)(int16_t)(uint16_t)(uint32_t)cvt32(v);
	case CASK_UINT16: return (double)(uint16_t)(uint32_t)cvt32(v);
	case CASK_INT32: return (double)cvt32(v);
	case CASK_UINT32: return (double)(uint32_t)(uint64_t)cvt64(v);
	case CASK_INT64: return (double)cvt64(v);
	case CASK_UINT64: return (double)cvtu64(v);
	case CASK_FLOAT32: return (double)(float)v;
	default: return v;
	}
}

void cask_k_nd_store(int64_t n, cask_dtype_t t, const double *x, void *y)
{
	int64_t i;

	switch (t) {
	case CASK_BOOL:
	case CASK_UINT8:
		for (i = 0; i < n; i++)
			((uint8_t *)y)[i] = (uint8_t)(uint32_t)cvt32(x[i]);
		break;
	case CASK_INT8:
		for (i = 0; i < n; i++)
			((int8_t *)y)[i] = (int8_t)(uint8_t)(uint32_t)cvt32(x[i]);
		break;
	case CASK_INT16:
		for (i = 0; i < n; i++)
			((int16_t *)y)[i] = (int16_t)(uint16_t)(uint32_t)cvt32(x[i]);
		break;
	case CASK_UINT16:
		for (i = 0; i < n; i++)
			((uint16_t *)y)[i] = (uint16_t)(uint32_t)cvt32(x[i]);
		break;
	case CASK_INT32:
		for (i = 0; i < n; i++)
			((int32_t *)y)[i] = cvt32(x[i]);
		break;
	case CASK_UINT32:
		for (i = 0; i < n; i++)
			((uint32_t *)y)[i] = (uint32_t)(uint64_t)cvt64(x[i]);
		break;
	case CASK_INT64:
		for (i = 0; i < n; i++)
			((int64_t *)y)[i] = cvt64(x[i]);
		break;
	case CASK_UINT64:
		for (i = 0; i < n; i++)
			((uint64_t *)y)[i] = cvtu64(x[i]);
		break;
	case CASK_FLOAT32:
		for (i = 0; i < n; i++)
			((float *)y)[i] = (float)x[i];
		break;
	default:
		memcpy(y, x, (size_t)n * sizeof(double));
	}
}

/* NumPy's integer arithmetic result stored in t: v is an exact integer
 * (a sum or product of stored values, below 2^53 in magnitude) reduced
 * modulo 2^bits; floats round as the dtype's own operation would. */
static int int32_or_narrower(cask_dtype_t t)
{
	return t == CASK_BOOL || t == CASK_UINT8 || t == CASK_INT8 || t == CASK_INT16 ||
	       t == CASK_UINT16 || t == CASK_INT32 || t == CASK_UINT32;
}

static double wrap_as(cask_dtype_t t, double v)
{
	if (int32_or_narrower(t))
		return cask_k_nd_quantize(t, (double)(int32_t)(uint32_t)(uint64_t)cvt64(v));
	return t == CASK_FLOAT32 ? (double)(float)v : v;
}

/* v * v as NumPy's wrapping `*=` in dtype t (ggm's squares), v a value of t.
 * The product is formed in 64-bit integers: in double, the square of a
 * 32-bit value loses its low bits before the wrap (a uint32 square reaches
 * 2^64). 64-bit values beyond 2^53 are already rounded (see the header). */
static double square_as(cask_dtype_t t, double v)
{
	uint64_t u;

	if (int32_or_narrower(t)) {
		u = (uint64_t)cvt64(v);
		return wrap_as(t, (double)(int32_t)(uint32_t)(u * u));
	}
	switch (t) {
	case CASK_INT64:
		u = (uint64_t)cvt64(v);
		return (double)(int64_t)(u * u);
	case CASK_UINT64:
		u = cvtu64(v);
		return (double)(u * u);
	default:
		return wrap_as(t, v * v);
	}
}

/* a + b as NumPy's wrapping `+=` in dtype t, a and b values of t. */
static double add_as(cask_dtype_t t, double a, double b)
{
	switch (t) {
	case CASK_INT64:
		return (double)(int64_t)((uint64_t)cvt64(a) + (uint64_t)cvt64(b));
	case CASK_UINT64:
		return (double)(cvtu64(a) + cvtu64(b));
	default:
		return wrap_as(t, a + b);
	}
}

static void quantize_run(cask_dtype_t t, int64_t n, double *x)
{
	int64_t i;

	if (t == CASK_FLOAT64)
		return;
	if (t == CASK_FLOAT32) {
		for (i = 0; i < n; i++)
			x[i] = (double)(float)x[i];
		return;
	}
	for (i = 0; i < n; i++)
		x[i] = cask_k_nd_quantize(t, x[i]);
}

/* Round a float to the nearest float16 value (ties to even), as NumPy's
 * npy_float_to_half, returned as double. */
static double round_half(double x)
{
	int e;
	double ulp;

	if (!isfinite(x) || x == 0.0)
		return x;
	(void)frexp(x, &e); /* |x| in [2^(e-1), 2^e) */
	ulp = e - 1 < -14 ? ldexp(1.0, -24) : ldexp(1.0, e - 11);
	x = rint(x / ulp) * ulp;
	if (fabs(x) > 65504.0)
		x = copysign(INFINITY, x);
	return x;
}

/* ------------------------------------------------------ gaussian weights */

int64_t cask_k_nd_gaussian_radius(double sigma, double truncate)
{
	return (int64_t)(truncate * sigma + 0.5);
}

/* NumPy 1.24's pairwise summation of a contiguous double array (what
 * ndarray.sum() does), reproduced for bit-equal kernels. */
static double pairwise_sum(const double *a, int64_t n)
{
	double r[8], res;
	int64_t i;
	int j;

	if (n < 8) {
		res = 0.0;
		for (i = 0; i < n; i++)
			res += a[i];
		return res;
	}
	if (n <= 128) {
		for (j = 0; j < 8; j++)
			r[j] = a[j];
		for (i = 8; i < n - (n % 8); i += 8)
			for (j = 0; j < 8; j++)
				r[j] += a[i + j];
		res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
		for (; i < n; i++)
			res += a[i];
		return res;
	}
	i = n / 2;
	i -= i % 8;
	return pairwise_sum(a, i) + pairwise_sum(a + i, n - i);
}

static double from_bits(uint64_t u)
{
	double d;
	memcpy(&d, &u, sizeof d);
	return d;
}

static uint64_t to_bits(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof u);
	return u;
}

/* exp as NumPy 1.24 computes it for float64 arrays (ndimage.h).  On a CPU
 * with AVX-512 (F, CD, VL, BW, DQ: its AVX512_SKX dispatch) that is Intel's
 * SVML __svml_exp8, whose main path (|x| < 707.7) is redone here operation
 * for operation,
 * with its constants (read from the disassembly of NumPy's
 * _multiarray_umath): t = x log2(e) + S rounded toward zero to 1/16, n =
 * t - S, a 16-entry table of 2^(j/16) by t's low bits, r = x - n ln2 in two
 * parts, a degree-6 polynomial, scaled by 2^floor(n).  It differs from
 * glibc's exp in the last bit for about a quarter of arguments, which moves
 * scipy's gaussian weights, and integer outputs truncate sums that land
 * just below an integer (a flat uint8 image of 7: 7 from scipy, 5 with
 * glibc's weights).  Elsewhere NumPy calls libm's exp, as this does.
 * (NumPy links SVML on x86-64 Linux only.) */
double cask_k_nd_numpy_exp(double x, int svml)
{
	static const uint64_t tab[16] = {
		0x3ff0000000000000u, 0x3ff0b5586cf9890fu, 0x3ff172b83c7d517bu, 0x3ff2387a6e756238u,
		0x3ff306fe0a31b715u, 0x3ff3dea64c123422u, 0x3ff4bfdad5362a27u, 0x3ff5ab07dd485429u,
		0x3ff6a09e667f3bcdu, 0x3ff7a11473eb0187u, 0x3ff8ace5422aa0dbu, 0x3ff9c49182a3f090u,
		0x3ffae89f995ad3adu, 0x3ffc199bdd85529cu, 0x3ffd5818dcfba487u, 0x3ffea4afa2a490dau};
	const double log2e = from_bits(0x3ff71547652b82feu), shift = from_bits(0x42f8000000003ff0u);
	const double ln2hi = from_bits(0x3fe62e42fefa39efu), ln2lo = from_bits(0x3c7abc9e3b39803fu);
	const double c5 = from_bits(0x3f572eb5ef0d213du), c15 = from_bits(0x3f81106603d97c00u);
	const double c6 = from_bits(0x3fa555564bb4f5f0u), c9 = from_bits(0x3fc5555554b508a2u);
	const double c11 = from_bits(0x3fe0000000002622u), big = from_bits(0x40861da04cbafe44u);
	/* SVML's own scalar path (|x| >= 707.7: results near overflow or
	 * underflow, NaN) is not redone: libm's exp there, which differs from
	 * it in the last bit now and then; a gaussian weight that small does
	 * not move the normalised sum. */
	if (!svml || !(fabs(x) < big))
		return exp(x);
	/* The first fma rounds toward zero (t > 0): round to nearest, and
	 * step down when that went up (the residual, exact in sign, < 0). */
	double t = fma(x, log2e, shift);
	if (fma(x, log2e, shift - t) < 0.0)
		t = nextafter(t, 0.0);
	double n = t - shift, tj = from_bits(tab[to_bits(t) & 15]);
	double r = fma(-n, ln2hi, x);
	r = fma(-ln2lo, n, r);
	r = from_bits(to_bits(r) & 0xbfffffffffffffffu);
	double r2 = r * r, r3 = r2 * r;
	double p = fma(r2, fma(c5, r, c15), fma(c6, r, c9));
	p = fma(r3, p, fma(r2, c11, r));
	return ldexp(fma(tj, p, tj), (int)floor(n));
}

int cask_k_nd_numpy_svml(void)
{
#if defined(__x86_64__) && defined(__linux__) /* where NumPy links SVML */
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
	       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512dq");
#else
	return 0;
#endif
}

void cask_k_nd_gaussian_weights(double sigma, int order, int64_t radius, double *w,
                                double *tmp)
{
	int64_t n = 2 * radius + 1, i, x;
	double sigma2 = sigma * sigma, c = -0.5 / sigma2, p = 1.0 / -sigma2, s, q;
	int svml = cask_k_nd_numpy_svml();

	/* phi_x = exp(-0.5 / sigma2 * x**2) / sum */
	for (i = 0; i < n; i++) {
		x = i - radius;
		tmp[i] = cask_k_nd_numpy_exp(c * (double)(x * x), svml);
	}
	s = pairwise_sum(tmp, n);
	for (i = 0; i < n; i++)
		tmp[i] = tmp[i] / s;
	/* q(x) * phi(x); q comes from a dgemv that OpenBLAS evaluates with
	 * fused multiply-adds: order 1: x*p, order 2: fma(x*x, p*p, p). */
	for (i = 0; i < n; i++) {
		x = i - radius;
		if (order == 1)
			q = (double)x * p + 0.0; /* +0.0 at x = 0, as the dgemv */
		else if (order == 2)
			q = fma((double)(x * x), p * p, p);
		else
			q = 1.0;
		/* gaussian_filter1d correlates with the reversed kernel. */
		w[n - 1 - i] = order == 0 ? tmp[i] : q * tmp[i];
	}
}

/* ------------------------------------------------------------ 1-d passes */

static int64_t prod(const int64_t *a, int from, int to)
{
	int64_t p = 1;
	int k;

	for (k = from; k < to; k++)
		p *= a[k];
	return p;
}

/* Column strip of the row-wise passes: as wide as lets the window of n
 * rows of es-byte elements stay within about 256 KiB (the L2 cache), at
 * least 256 elements (measured: long strips amortise the per-call cost of
 * the tap loop; too long ones spill the window out of the cache). */
static int64_t strip_len(int64_t n, size_t es)
{
	int64_t s = (int64_t)(256 * 1024 / es) / (n > 0 ? n : 1);

	s &= ~(int64_t)31;
	return s < 256 ? 256 : s;
}

/* scipy's symmetry test of an odd window: 1 symmetric, -1 antisymmetric,
 * 0 neither (or even length). */
static int symmetry(int64_t n, const double *w)
{
	int64_t s1 = n / 2, i;

	if (!(n & 1))
		return 0;
	for (i = 1; i <= s1; i++)
		if (fabs(w[s1 + i] - w[s1 - i]) > DBL_EPSILON)
			goto anti;
	return 1;
anti:
	for (i = 1; i <= s1; i++)
		if (fabs(w[s1 + i] + w[s1 - i]) > DBL_EPSILON)
			return 0;
	return -1;
}

/* Four doubles (GCC vector extension, unaligned; split into two halves on
 * targets without 256-bit vectors). */
typedef double v4d __attribute__((vector_size(32), aligned(8)));

#define V4(p) (*(const v4d *)(const void *)(p))
#define V4W(p) (*(v4d *)(void *)(p))

/* The taps of one correlate1d output run: y[i] for i < ni from the inputs
 * around c[i] (consecutive taps st elements apart), with scipy's per-element
 * operation order (see cask_k_nd_correlate1d), kept in registers over the
 * taps; q32 rounds every result to float (the float32 output's store).  sym
 * is symmetry(n, w), fw the centre of the weights. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
	!defined(CASK_NO_TARGET_CLONES)
__attribute__((target_clones("avx2", "default")))
#endif
static void corr_run(int64_t ni, const double *c, int64_t st, int64_t s1, int64_t s2,
                     const double *fw, int sym, int q32, double *y)
{
	int64_t i = 0, jj;

	if (sym != 0) {
		for (; i + 16 <= ni; i += 16) {
			const double *ci = c + i;
			v4d w0 = {fw[0], fw[0], fw[0], fw[0]};
			v4d y0 = V4(ci) * w0, y1 = V4(ci + 4) * w0;
			v4d y2 = V4(ci + 8) * w0, y3 = V4(ci + 12) * w0;
			for (jj = -s1; jj < 0; jj++) {
				const double *pa = ci + jj * st, *pb = ci - jj * st;
				v4d wj = {fw[jj], fw[jj], fw[jj], fw[jj]};
				if (sym > 0) {
					y0 += (V4(pa) + V4(pb)) * wj;
					y1 += (V4(pa + 4) + V4(pb + 4)) * wj;
					y2 += (V4(pa + 8) + V4(pb + 8)) * wj;
					y3 += (V4(pa + 12) + V4(pb + 12)) * wj;
				} else {
					y0 += (V4(pa) - V4(pb)) * wj;
					y1 += (V4(pa + 4) - V4(pb + 4)) * wj;
					y2 += (V4(pa + 8) - V4(pb + 8)) * wj;
					y3 += (V4(pa + 12) - V4(pb + 12)) * wj;
				}
			}
			V4W(y + i) = y0;
			V4W(y + i + 4) = y1;
			V4W(y + i + 8) = y2;
			V4W(y + i + 12) = y3;
		}
		for (; i < ni; i++) {
			double v = c[i] * fw[0];
			for (jj = -s1; jj < 0; jj++) {
				if (sym > 0)
					v += (c[i + jj * st] + c[i - jj * st]) * fw[jj];
				else
					v += (c[i + jj * st] - c[i - jj * st]) * fw[jj];
			}
			y[i] = v;
		}
	} else {
		for (; i + 16 <= ni; i += 16) {
			const double *ci = c + i, *r = ci + s2 * st;
			v4d w2 = {fw[s2], fw[s2], fw[s2], fw[s2]};
			v4d y0 = V4(r) * w2, y1 = V4(r + 4) * w2;
			v4d y2 = V4(r + 8) * w2, y3 = V4(r + 12) * w2;
			for (jj = -s1; jj < s2; jj++) {
				const double *pa = ci + jj * st;
				v4d wj = {fw[jj], fw[jj], fw[jj], fw[jj]};
				y0 += V4(pa) * wj;
				y1 += V4(pa + 4) * wj;
				y2 += V4(pa + 8) * wj;
				y3 += V4(pa + 12) * wj;
			}
			V4W(y + i) = y0;
			V4W(y + i + 4) = y1;
			V4W(y + i + 8) = y2;
			V4W(y + i + 12) = y3;
		}
		for (; i < ni; i++) {
			double v = c[i + s2 * st] * fw[s2];
			for (jj = -s1; jj < s2; jj++)
				v += c[i + jj * st] * fw[jj];
			y[i] = v;
		}
	}
	if (q32)
		for (i = 0; i < ni; i++)
			y[i] = (double)(float)y[i];
}

/* correlate1d, optionally rounding the results to float (q32). */
static void correlate1d_q(int nd, const int64_t *ext, int axis, int64_t n, const double *w,
                          const double *x, double *y, int q32)
{
	int64_t outer = prod(ext, 0, axis), inner = prod(ext, axis + 1, nd);
	int64_t L = ext[axis], Lo = L - n + 1, s1 = n / 2, s2 = n - s1 - 1;
	int64_t o, l, i0, strip = strip_len(n, sizeof(double));
	const double *fw = w + s1;
	int sym = symmetry(n, w);
	if (Lo <= 0 || outer == 0 || inner == 0)
		return;
	for (o = 0; o < outer; o++) {
		const double *xb = x + o * L * inner;
		double *yb = y + o * Lo * inner;
		if (inner == 1) {
			/* Last axis: the line is the row; the same per-element
			 * operations, vectorised over the outputs. */
			corr_run(Lo, xb + s1, 1, s1, s2, fw, sym, q32, yb);
			continue;
		}
		/* Other axes: the taps are whole rows (inner apart); in column
		 * strips so the rows of a window stay in cache. */
		for (i0 = 0; i0 < inner; i0 += strip) {
			int64_t ni = inner - i0 < strip ? inner - i0 : strip;
			for (l = 0; l < Lo; l++)
				corr_run(ni, xb + (l + s1) * inner + i0, inner, s1, s2, fw, sym,
				         q32, yb + l * inner + i0);
		}
	}
}

void cask_k_nd_correlate1d(int nd, const int64_t *ext, int axis, int64_t n,
                           const double *w, const double *x, double *y)
{
	correlate1d_q(nd, ext, axis, n, w, x, y, 0);
}

/* uniform_filter1d pass: running sum per line (acc: inner doubles). */
static void uniform1d(int nd, const int64_t *ext, int axis, int64_t n, const double *x,
                      double *y, double *acc)
{
	int64_t outer = prod(ext, 0, axis), inner = prod(ext, axis + 1, nd);
	int64_t L = ext[axis], Lo = L - n + 1, o, l, k, i;
	double dn = (double)n;

	if (Lo <= 0 || inner == 0)
		return;
	for (o = 0; o < outer; o++) {
		const double *xb = x + o * L * inner;
		double *yb = y + o * Lo * inner;
		for (i = 0; i < inner; i++)
			acc[i] = 0.0;
		for (k = 0; k < n; k++)
			for (i = 0; i < inner; i++)
				acc[i] += xb[k * inner + i];
		for (i = 0; i < inner; i++)
			yb[i] = acc[i] / dn;
		for (l = 1; l < Lo; l++) {
			const double *a = xb + (l + n - 1) * inner, *b = xb + (l - 1) * inner;
			double *yr = yb + l * inner;
			for (i = 0; i < inner; i++) {
				acc[i] += (a[i] - b[i]);
				yr[i] = acc[i] / dn;
			}
		}
	}
}

/* minimum/maximum_filter1d pass. */
static void minmax1d(int nd, const int64_t *ext, int axis, int64_t n, int is_min,
                     const double *x, double *y)
{
	int64_t outer = prod(ext, 0, axis), inner = prod(ext, axis + 1, nd);
	int64_t L = ext[axis], Lo = L - n + 1, o, l, k, i;

	if (Lo <= 0 || inner == 0)
		return;
	for (o = 0; o < outer; o++) {
		const double *xb = x + o * L * inner;
		double *yb = y + o * Lo * inner;
		if (inner == 1) {
			/* Last axis: scan the shifted line, vectorised over l. */
			memcpy(yb, xb, (size_t)Lo * sizeof(double));
			for (k = 1; k < n; k++) {
				const double *a = xb + k;
				if (is_min) {
					for (l = 0; l < Lo; l++)
						yb[l] = a[l] <= yb[l] ? a[l] : yb[l];
				} else {
					for (l = 0; l < Lo; l++)
						yb[l] = a[l] >= yb[l] ? a[l] : yb[l];
				}
			}
			continue;
		}
		for (l = 0; l < Lo; l++) {
			double *yr = yb + l * inner;
			memcpy(yr, xb + l * inner, (size_t)inner * sizeof(double));
			for (k = 1; k < n; k++) {
				const double *a = xb + (l + k) * inner;
				if (is_min) {
					for (i = 0; i < inner; i++)
						yr[i] = a[i] <= yr[i] ? a[i] : yr[i];
				} else {
					for (i = 0; i < inner; i++)
						yr[i] = a[i] >= yr[i] ? a[i] : yr[i];
				}
			}
		}
	}
}

/* ------------------------------------------------------------ n-d kernels */

/* k-th smallest of buf[0..n) (reorders buf): Hoare partition selection. */
static double select_kth(double *buf, int64_t n, int64_t k)
{
	int64_t lo = 0, hi = n - 1, i, j;
	double pv, t;

	while (lo < hi) {
		pv = buf[lo + (hi - lo) / 2];
		i = lo;
		j = hi;
		while (i <= j) {
			while (buf[i] < pv)
				i++;
			while (buf[j] > pv)
				j--;
			if (i <= j) {
				t = buf[i];
				buf[i] = buf[j];
				buf[j] = t;
				i++;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			return buf[k];
	}
	return buf[k];
}

/* Offsets in the padded block (extents ext) of the cells of a window of
 * shape wsh, C order. */
static void window_offsets(int nd, const int64_t *ext, const int64_t *wsh, int64_t fs,
                           int64_t *off)
{
	int64_t str[CASK_K_ND_MAXDIM], idx[CASK_K_ND_MAXDIM] = {0}, j, o;
	int k;

	str[nd - 1] = 1;
	for (k = nd - 2; k >= 0; k--)
		str[k] = str[k + 1] * ext[k + 1];
	for (j = 0; j < fs; j++) {
		o = 0;
		for (k = 0; k < nd; k++)
			o += idx[k] * str[k];
		off[j] = o;
		for (k = nd - 1; k >= 0; k--) {
			if (++idx[k] < wsh[k])
				break;
			idx[k] = 0;
		}
	}
}

/* Offset in the padded block (extents ext) of the window corner of output
 * row r (rows: the C-order positions of all axes but the last of out). */
static int64_t row_base(int nd, const int64_t *out, const int64_t *ext, int64_t r)
{
	int64_t base = 0, str = ext[nd - 1];
	int k;

	for (k = nd - 2; k >= 0; k--) {
		base += (r % out[k]) * str;
		r /= out[k];
		str *= ext[k];
	}
	return base;
}

/* n-d correlation with compacted weights cw[nw] at offsets off[nw]: the
 * output row accumulates weight times shifted input row, in weight order
 * (the per-element order of NI_Correlate). */
static void correlate_nd(int nd, const int64_t *out, const int64_t *ext, int64_t nw,
                         const double *cw, const int64_t *off, const double *x, double *y)
{
	int64_t n = out[nd - 1], rows = prod(out, 0, nd - 1), r, j, i;

	for (r = 0; r < rows; r++) {
		int64_t base = row_base(nd, out, ext, r);
		double *yrow = y + r * n;
		for (i = 0; i < n; i++)
			yrow[i] = 0.0;
		for (j = 0; j < nw; j++) {
			const double *xr = x + base + off[j];
			double w = cw[j];
			for (i = 0; i < n; i++)
				yrow[i] += w * xr[i];
		}
	}
}

/* scipy's NI_Select (ni_filters.c): Hoare partition around the FIRST
 * element, then the side holding rank.  Reproduced operation for operation
 * because with NaN in the window (every comparison false) the value it
 * returns depends on the algorithm; for NaN-free windows any selection gives
 * the same value. */
static double ni_select(double *buf, int64_t lo, int64_t hi, int64_t rank)
{
	int64_t ii, jj, n;
	double x, t;

	for (;;) {
		if (lo == hi)
			return buf[lo];
		x = buf[lo];
		ii = lo - 1;
		jj = hi + 1;
		for (;;) {
			do
				jj--;
			while (buf[jj] > x);
			do
				ii++;
			while (buf[ii] < x);
			if (ii >= jj)
				break;
			t = buf[ii];
			buf[ii] = buf[jj];
			buf[jj] = t;
		}
		n = jj - lo + 1;
		if (rank < n) {
			hi = jj;
		} else {
			lo = jj + 1;
			rank -= n;
		}
	}
}

/*
 * Rank filters on windows of up to NET_MAXN cells run a selection network
 * over whole rows.  The network is Batcher's odd-even merge sort for the
 * next power of two P >= fs (comparators touching wires >= fs dropped: those
 * wires would hold +inf and never move), pruned backwards from the wire of
 * the wanted rank: a comparator whose outputs are both unused goes, one
 * whose min (max) output alone is used becomes a min (max) step.  For 27
 * cells (3x3x3) that leaves 126 steps, 226 min/max operations.
 * The network is run on NET_B outputs of a row at a time: wire j holds the
 * input row shifted by the window offset of cell j, and each step is a
 * min/max loop over the NET_B lanes, which the compiler vectorises.
 * NaN: a min/max network orders NaN differently from scipy's NI_Select, so
 * a chunk whose inputs hold a NaN is computed cell by cell with ni_select on
 * the window in scipy's order (C order of the footprint).
 */
#define NET_MAXN 128
#define NET_MAXOPS 1792 /* P log2(P) (log2(P) + 1) / 4 comparators for P = 128 */
#define NET_B 64

/* Step codes: kind << 16 | a << 8 | b, a < b wires. */
enum { NET_CE = 0, NET_MIN = 1, NET_MAX = 2 };

/* The pruned network selecting rank k of n <= NET_MAXN inputs into ops
 * (NET_MAXOPS entries); need is scratch of NET_MAXN bytes.  Returns the
 * number of steps. */
static int64_t net_build(int64_t n, int64_t k, uint32_t *ops, unsigned char *need)
{
	int64_t P = 1, p, kk, j, i, m = 0, a, b, w = 0;
	int na, nb;

	while (P < n)
		P *= 2;
	for (p = 1; p < P; p *= 2)
		for (kk = p; kk >= 1; kk /= 2)
			for (j = kk % p; j + kk < P; j += 2 * kk)
				for (i = 0; i < kk && i < P - j - kk; i++) {
					a = i + j;
					b = i + j + kk;
					if ((a / (2 * p)) == (b / (2 * p)) && b < n)
						ops[m++] = (uint32_t)(a << 8 | b);
				}
	/* Backwards: mark each step with what its outputs feed. */
	memset(need, 0, NET_MAXN);
	need[k] = 1;
	for (i = m - 1; i >= 0; i--) {
		a = (ops[i] >> 8) & 0xff;
		b = ops[i] & 0xff;
		na = need[a];
		nb = need[b];
		if (!na && !nb) {
			ops[i] = UINT32_MAX;
			continue;
		}
		ops[i] |= (uint32_t)(na && nb ? NET_CE : na ? NET_MIN : NET_MAX) << 16;
		need[a] = 1;
		need[b] = 1;
	}
	for (i = 0; i < m; i++)
		if (ops[i] != UINT32_MAX)
			ops[w++] = ops[i];
	return w;
}

/* Four lanes of doubles and a lane mask (GCC vector extensions; on a
 * target without 256-bit vectors the compiler splits them). */
typedef double net_v4 __attribute__((vector_size(32), aligned(8)));
typedef int64_t net_m4 __attribute__((vector_size(32), aligned(8)));

/* Lanes of p where m is set, of q elsewhere (a macro: passing 256-bit
 * vectors to a function is ABI-dependent). */
#define NET_SEL(m, p, q) ((net_v4)(((m) & (net_m4)(p)) | (~(m) & (net_m4)(q))))

/* Eight float lanes and their mask. */
typedef float net_v8f __attribute__((vector_size(32), aligned(4)));
typedef int32_t net_m8 __attribute__((vector_size(32), aligned(4)));

#define NET_SELF(m, p, q) ((net_v8f)(((m) & (net_m8)(p)) | (~(m) & (net_m8)(q))))

/* Run the steps on wires (wire j: NET_B lanes at wires + j * NET_B), lanes
 * [0, nv * 4).  min/max as b < a ? b : a (no NaN reaches here).  Written
 * with explicit vectors: from a plain loop gcc turns "u = b < a ? b : a"
 * into a masked store of b, which stalls the next load. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
	!defined(CASK_NO_TARGET_CLONES)
__attribute__((target_clones("avx2", "default")))
#endif
static void net_run(int64_t nops, const uint32_t *ops, int64_t nv, double *wires)
{
	int64_t s, t;

	for (s = 0; s < nops; s++) {
		uint32_t c = ops[s];
		net_v4 *u = (net_v4 *)(void *)(wires + ((c >> 8) & 0xff) * NET_B);
		net_v4 *v = (net_v4 *)(void *)(wires + (c & 0xff) * NET_B);
		switch (c >> 16) {
		case NET_CE:
			for (t = 0; t < nv; t++) {
				net_v4 a = u[t], b = v[t];
				net_m4 m = b < a;
				u[t] = NET_SEL(m, b, a);
				v[t] = NET_SEL(m, a, b);
			}
			break;
		case NET_MIN:
			for (t = 0; t < nv; t++) {
				net_v4 a = u[t], b = v[t];
				net_m4 m = b < a;
				u[t] = NET_SEL(m, b, a);
			}
			break;
		default:
			for (t = 0; t < nv; t++) {
				net_v4 a = u[t], b = v[t];
				net_m4 m = b < a;
				v[t] = NET_SEL(m, a, b);
			}
			break;
		}
	}
}

/* The same on float wires (NET_B floats apart), lanes [0, nv * 8): for
 * values that float holds exactly, twice the lanes per instruction. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
	!defined(CASK_NO_TARGET_CLONES)
__attribute__((target_clones("avx2", "default")))
#endif
static void net_run_f32(int64_t nops, const uint32_t *ops, int64_t nv, float *wires)
{
	int64_t s, t;

	for (s = 0; s < nops; s++) {
		uint32_t c = ops[s];
		net_v8f *u = (net_v8f *)(void *)(wires + ((c >> 8) & 0xff) * NET_B);
		net_v8f *v = (net_v8f *)(void *)(wires + (c & 0xff) * NET_B);
		switch (c >> 16) {
		case NET_CE:
			for (t = 0; t < nv; t++) {
				net_v8f a = u[t], b = v[t];
				net_m8 m = b < a;
				u[t] = NET_SELF(m, b, a);
				v[t] = NET_SELF(m, a, b);
			}
			break;
		case NET_MIN:
			for (t = 0; t < nv; t++) {
				net_v8f a = u[t], b = v[t];
				net_m8 m = b < a;
				u[t] = NET_SELF(m, b, a);
			}
			break;
		default:
			for (t = 0; t < nv; t++) {
				net_v8f a = u[t], b = v[t];
				net_m8 m = b < a;
				v[t] = NET_SELF(m, a, b);
			}
			break;
		}
	}
}

/* Copy n doubles of x to the wire (as float if f32), padding to lanes
 * with 0; returns nonzero if some value is NaN. */
static int net_load(int64_t n, int64_t lanes, const double *x, int f32, void *wire)
{
	net_m4 m = {0, 0, 0, 0};
	int64_t i = 0;
	int nan = 0;

	for (; i + 4 <= n; i += 4) {
		net_v4 v = *(const net_v4 *)(const void *)(x + i);
		m |= v != v;
		if (f32) {
			float *w = (float *)wire + i;
			w[0] = (float)v[0];
			w[1] = (float)v[1];
			w[2] = (float)v[2];
			w[3] = (float)v[3];
		} else {
			*(net_v4 *)(void *)((double *)wire + i) = v;
		}
	}
	for (; i < n; i++) {
		nan |= x[i] != x[i];
		if (f32)
			((float *)wire)[i] = (float)x[i];
		else
			((double *)wire)[i] = x[i];
	}
	for (; i < lanes; i++) {
		if (f32)
			((float *)wire)[i] = 0.0f;
		else
			((double *)wire)[i] = 0.0;
	}
	return nan | ((m[0] | m[1] | m[2] | m[3]) != 0);
}

/* 1 if every value of dtype t is exactly a float. */
static int float_exact(cask_dtype_t t)
{
	return t == CASK_BOOL || t == CASK_UINT8 || t == CASK_INT8 || t == CASK_UINT16 ||
	       t == CASK_INT16 || t == CASK_FLOAT32;
}

/* Rank filter over a window of fs cells at offsets off (C order of the
 * window).  fs <= NET_MAXN: ops/nops is the network, wires NET_B * fs
 * doubles; buf: fs doubles.  f32: every value (input and cval) is exactly
 * a float, so the network may run on float lanes. */
static void rank_nd(int nd, const int64_t *out, const int64_t *ext, int64_t fs, int64_t rank,
                    const int64_t *off, const double *x, double *y, double *buf,
                    const uint32_t *ops, int64_t nops, double *wires, int f32)
{
	int64_t n = out[nd - 1], rows = prod(out, 0, nd - 1), r, j, i, i0, nb;

	for (r = 0; r < rows; r++) {
		int64_t base = row_base(nd, out, ext, r);
		double *yrow = y + r * n;
		if (fs > NET_MAXN) {
			for (i = 0; i < n; i++) {
				const double *xc = x + base + i;
				int nan = 0;
				for (j = 0; j < fs; j++) {
					buf[j] = xc[off[j]];
					nan |= buf[j] != buf[j];
				}
				yrow[i] = nan ? ni_select(buf, 0, fs - 1, rank)
				              : select_kth(buf, fs, rank);
			}
			continue;
		}
		for (i0 = 0; i0 < n; i0 += NET_B) {
			int nan = 0;
			int64_t lanes;
			nb = n - i0 < NET_B ? n - i0 : NET_B;
			lanes = f32 ? (nb + 7) & ~(int64_t)7 : (nb + 3) & ~(int64_t)3;
			for (j = 0; j < fs; j++)
				nan |= net_load(nb, lanes, x + base + off[j] + i0, f32,
				                f32 ? (void *)((float *)(void *)wires + j * NET_B)
				                    : (void *)(wires + j * NET_B));
			if (!nan && f32) {
				const float *wr = (const float *)(void *)wires + rank * NET_B;
				net_run_f32(nops, ops, lanes / 8, (float *)(void *)wires);
				for (i = 0; i < nb; i++)
					yrow[i0 + i] = (double)wr[i];
				continue;
			}
			if (!nan) {
				net_run(nops, ops, lanes / 4, wires);
				memcpy(yrow + i0, wires + rank * NET_B, (size_t)nb * sizeof(double));
				continue;
			}
			for (i = i0; i < i0 + nb; i++) {
				const double *xc = x + base + i;
				for (j = 0; j < fs; j++)
					buf[j] = xc[off[j]];
				yrow[i] = ni_select(buf, 0, fs - 1, rank);
			}
		}
	}
}

/* --------------------------------------------------------- specification */

static int64_t wsize(const cask_k_nd_spec_t *f, int k)
{
	return f->size[k] < 1 ? 1 : f->size[k];
}

static double trunc_of(const cask_k_nd_spec_t *f)
{
	return f->truncate == 0.0 ? 4.0 : f->truncate;
}

static int64_t wcount(const cask_k_nd_spec_t *f)
{
	int64_t fs = 1;
	int k;

	for (k = 0; k < f->nd; k++)
		fs *= f->kind == CASK_K_ND_MEDIAN ? wsize(f, k) : f->wshape[k];
	return fs;
}

static int is_gauss(cask_k_nd_filter_t kind)
{
	return kind == CASK_K_ND_GAUSSIAN || kind == CASK_K_ND_GAUSSIAN_GRADIENT_MAGNITUDE ||
	       kind == CASK_K_ND_GAUSSIAN_LAPLACE;
}

static int origin_ok(int64_t n, int64_t o)
{
	return n / 2 + o >= 0 && n / 2 + o < n;
}

int cask_k_nd_check(const cask_k_nd_spec_t *f)
{
	int k;
	int64_t j, fs;

	if ((int)f->kind < 0 || f->kind >= CASK_K_ND_NFILTERS)
		return CASK_K_ND_BAD_KIND;
	if (f->nd < 1 || f->nd > CASK_K_ND_MAXDIM)
		return CASK_K_ND_BAD_NDIM;
	for (k = 0; k < f->nd; k++) {
		if ((int)f->mode[k] < 0 || f->mode[k] >= CASK_K_PAD_NMODES)
			return CASK_K_ND_BAD_MODE;
		if (f->mode[k] != f->mode[0] &&
		    (f->kind == CASK_K_ND_MEDIAN || f->kind == CASK_K_ND_CORRELATE ||
		     f->kind == CASK_K_ND_CONVOLVE ||
		     f->kind == CASK_K_ND_GAUSSIAN_GRADIENT_MAGNITUDE ||
		     f->kind == CASK_K_ND_GAUSSIAN_LAPLACE))
			return CASK_K_ND_BAD_MODE;
	}
	switch (f->kind) {
	case CASK_K_ND_GAUSSIAN:
	case CASK_K_ND_GAUSSIAN_GRADIENT_MAGNITUDE:
	case CASK_K_ND_GAUSSIAN_LAPLACE:
		if (!(trunc_of(f) >= 0.0) || !isfinite(trunc_of(f)))
			return CASK_K_ND_BAD_SIGMA;
		for (k = 0; k < f->nd; k++) {
			if (!(f->sigma[k] >= 0.0) || !isfinite(f->sigma[k]) ||
			    trunc_of(f) * f->sigma[k] > 1048576.0)
				return CASK_K_ND_BAD_SIGMA;
			if (f->kind == CASK_K_ND_GAUSSIAN && (f->order[k] < 0 || f->order[k] > 2))
				return CASK_K_ND_BAD_ORDER;
		}
		break;
	case CASK_K_ND_UNIFORM:
	case CASK_K_ND_MINIMUM:
	case CASK_K_ND_MAXIMUM:
	case CASK_K_ND_MEDIAN:
		for (k = 0; k < f->nd; k++) {
			if (f->size[k] < 0 || f->size[k] > (INT64_C(1) << 30))
				return CASK_K_ND_BAD_SIZE;
			if (!origin_ok(wsize(f, k), f->origin[k]))
				return CASK_K_ND_BAD_ORIGIN;
		}
		if (f->kind == CASK_K_ND_MEDIAN) {
			fs = 1;
			for (k = 0; k < f->nd; k++) {
				fs *= wsize(f, k);
				if (fs > (INT64_C(1) << 24))
					return CASK_K_ND_BAD_SIZE;
			}
		}
		break;
	case CASK_K_ND_SOBEL:
	case CASK_K_ND_PREWITT:
		if (f->axis < 0 || f->axis >= f->nd)
			return CASK_K_ND_BAD_AXIS;
		break;
	case CASK_K_ND_LAPLACE:
		break;
	case CASK_K_ND_CORRELATE1D:
	case CASK_K_ND_CONVOLVE1D:
		if (f->axis < 0 || f->axis >= f->nd)
			return CASK_K_ND_BAD_AXIS;
		if (!f->weights || f->wshape[0] < 1 || f->wshape[0] > (INT64_C(1) << 24))
			return CASK_K_ND_BAD_WEIGHTS;
		for (j = 0; j < f->wshape[0]; j++)
			if (!isfinite(f->weights[j]))
				return CASK_K_ND_BAD_WEIGHTS;
		if (!origin_ok(f->wshape[0], f->origin[f->axis]))
			return CASK_K_ND_BAD_ORIGIN;
		break;
	case CASK_K_ND_CORRELATE:
	case CASK_K_ND_CONVOLVE:
		if (!f->weights)
			return CASK_K_ND_BAD_WEIGHTS;
		fs = 1;
		for (k = 0; k < f->nd; k++) {
			if (f->wshape[k] < 1 || f->wshape[k] > (INT64_C(1) << 24))
				return CASK_K_ND_BAD_WEIGHTS;
			fs *= f->wshape[k];
			if (fs > (INT64_C(1) << 24))
				return CASK_K_ND_BAD_WEIGHTS;
			if (!origin_ok(f->wshape[k], f->origin[k]))
				return CASK_K_ND_BAD_ORIGIN;
		}
		for (j = 0; j < fs; j++)
			if (!isfinite(f->weights[j]))
				return CASK_K_ND_BAD_WEIGHTS;
		break;
	default:
		return CASK_K_ND_BAD_KIND;
	}
	return CASK_K_ND_OK;
}

/* The correlate origin of a convolution with origin o and length n. */
static int64_t conv_origin(int64_t n, int64_t o)
{
	return -o - ((n & 1) ? 0 : 1);
}

static void window_halo(int64_t n, int64_t o, int64_t *lo, int64_t *hi)
{
	*lo = n / 2 + o;
	*hi = n - 1 - *lo;
}

void cask_k_nd_halo(const cask_k_nd_spec_t *f, int64_t *lo, int64_t *hi)
{
	int k;
	int64_t r;

	for (k = 0; k < f->nd; k++) {
		lo[k] = 0;
		hi[k] = 0;
		switch (f->kind) {
		case CASK_K_ND_GAUSSIAN:
		case CASK_K_ND_GAUSSIAN_GRADIENT_MAGNITUDE:
		case CASK_K_ND_GAUSSIAN_LAPLACE:
			if (f->sigma[k] > 1e-15) {
				r = cask_k_nd_gaussian_radius(f->sigma[k], trunc_of(f));
				lo[k] = r;
				hi[k] = r;
			}
			break;
		case CASK_K_ND_UNIFORM:
		case CASK_K_ND_MINIMUM:
		case CASK_K_ND_MAXIMUM:
		case CASK_K_ND_MEDIAN:
			if (wsize(f, k) > 1)
				window_halo(wsize(f, k), f->origin[k], &lo[k], &hi[k]);
			break;
		case CASK_K_ND_SOBEL:
		case CASK_K_ND_PREWITT:
		case CASK_K_ND_LAPLACE:
			lo[k] = 1;
			hi[k] = 1;
			break;
		case CASK_K_ND_CORRELATE1D:
			if (k == f->axis)
				window_halo(f->wshape[0], f->origin[k], &lo[k], &hi[k]);
			break;
		case CASK_K_ND_CONVOLVE1D:
			if (k == f->axis)
				window_halo(f->wshape[0], conv_origin(f->wshape[0], f->origin[k]),
				            &lo[k], &hi[k]);
			break;
		case CASK_K_ND_CORRELATE:
			window_halo(f->wshape[k], f->origin[k], &lo[k], &hi[k]);
			break;
		case CASK_K_ND_CONVOLVE:
			window_halo(f->wshape[k], conv_origin(f->wshape[k], f->origin[k]), &lo[k],
			            &hi[k]);
			break;
		default:
			break;
		}
	}
}

double cask_k_nd_pad_cval(const cask_k_nd_spec_t *f, cask_dtype_t in_dtype)
{
	if (f->kind == CASK_K_ND_MEDIAN && wcount(f) > 2)
		return cask_k_nd_quantize(in_dtype, f->cval);
	return f->cval;
}

/* Scratch layout, in doubles: two ping-pong buffers of the padded size, the
 * accumulator of the output size, a row accumulator, weights space. */
typedef struct {
	int64_t nin, nout, nrow, nw;
} layout_t;

static int mul_ok(int64_t a, int64_t b, int64_t *p)
{
	if (a != 0 && b > INT64_MAX / a)
		return 0;
	*p = a * b;
	return 1;
}

static int make_layout(const cask_k_nd_spec_t *f, const int64_t *out, layout_t *l)
{
	int64_t lo[CASK_K_ND_MAXDIM], hi[CASK_K_ND_MAXDIM], rmax = 0, r;
	int k;

	cask_k_nd_halo(f, lo, hi);
	l->nin = 1;
	l->nout = 1;
	for (k = 0; k < f->nd; k++) {
		if (!mul_ok(l->nin, out[k] + lo[k] + hi[k], &l->nin) ||
		    !mul_ok(l->nout, out[k], &l->nout))
			return 0;
	}
	/* The longest row a pass along axis k sees: the product of the
	 * extents after k (at most nin / ext[k]). */
	l->nrow = 1;
	for (k = 0; k < f->nd && l->nin > 0; k++) {
		int64_t row = l->nin / (out[k] + lo[k] + hi[k]);
		l->nrow = row > l->nrow ? row : l->nrow;
	}
	l->nw = 0;
	if (is_gauss(f->kind)) {
		for (k = 0; k < f->nd; k++) {
			r = 2 * cask_k_nd_gaussian_radius(f->sigma[k], trunc_of(f)) + 1;
			rmax = r > rmax ? r : rmax;
		}
		l->nw = 2 * rmax;
	} else if (f->kind == CASK_K_ND_CORRELATE1D || f->kind == CASK_K_ND_CONVOLVE1D) {
		l->nw = f->wshape[0];
	} else if (f->kind == CASK_K_ND_CORRELATE || f->kind == CASK_K_ND_CONVOLVE) {
		l->nw = 3 * wcount(f); /* flipped, compact, offsets (int64) */
	} else if (f->kind == CASK_K_ND_MEDIAN) {
		/* buffer, offsets (int64); small windows: the network's steps
		 * (uint32), its need flags and the wires */
		l->nw = 2 * wcount(f);
		if (wcount(f) <= NET_MAXN)
			l->nw += NET_MAXOPS / 2 + NET_MAXN / 8 + NET_B * wcount(f);
	}
	return 1;
}

size_t cask_k_nd_scratch_bytes(const cask_k_nd_spec_t *f, const int64_t *out)
{
	layout_t l;
	int64_t tot;

	if (!make_layout(f, out, &l))
		return SIZE_MAX;
	if (l.nout == 0)
		return 0;
	if (l.nin > INT64_MAX / 4)
		return SIZE_MAX;
	tot = 2 * l.nin;
	if (tot > INT64_MAX - l.nout - l.nrow - l.nw - 8)
		return SIZE_MAX;
	tot += l.nout + l.nrow + l.nw + 8;
	if ((uint64_t)tot > SIZE_MAX / sizeof(double))
		return SIZE_MAX;
	return (size_t)tot * sizeof(double);
}

/* ------------------------------------------------------------- the driver */

enum { P_CORR, P_UNIF, P_MIN, P_MAX, P_GAUSS };

typedef struct {
	int axis, type, order;
	int64_t n;
	const double *w; /* P_CORR */
} pass_t;

typedef struct {
	const cask_k_nd_spec_t *f;
	cask_dtype_t odt;
	int nd;
	const int64_t *out, *pos, *full;
	int64_t lo[CASK_K_ND_MAXDIM], hi[CASK_K_ND_MAXDIM];
	const double *in;
	double *buf[2], *acc, *row, *wbuf;
} run_t;

/* Set the cells of x (extents ext, remaining halos clo) outside the array
 * along constant-mode axes other than done to cval. */
static void reset_constant(const run_t *r, const int64_t *ext, const int64_t *clo, int done,
                           double *x)
{
	int k;
	int64_t outer, inner, L, j, g, o, i;

	for (k = 0; k < r->nd; k++) {
		if (k == done || r->f->mode[k] != CASK_K_PAD_CONSTANT || ext[k] == r->out[k])
			continue;
		outer = prod(ext, 0, k);
		inner = prod(ext, k + 1, r->nd);
		L = ext[k];
		for (j = 0; j < L; j++) {
			g = r->pos[k] - clo[k] + j;
			if (g >= 0 && g < r->full[k])
				continue;
			for (o = 0; o < outer; o++) {
				double *d = x + (o * L + j) * inner;
				for (i = 0; i < inner; i++)
					d[i] = r->f->cval;
			}
		}
	}
}

/* Copy the out-shaped interior (offset clo) of x (extents ext) to y. */
static void crop(int nd, const int64_t *ext, const int64_t *clo, const int64_t *out,
                 const double *x, double *y)
{
	int64_t idx[CASK_K_ND_MAXDIM] = {0}, rows = prod(out, 0, nd - 1), r, off;
	int64_t str[CASK_K_ND_MAXDIM];
	int k;

	str[nd - 1] = 1;
	for (k = nd - 2; k >= 0; k--)
		str[k] = str[k + 1] * ext[k + 1];
	for (r = 0; r < rows; r++) {
		off = clo[nd - 1];
		for (k = 0; k < nd - 1; k++)
			off += (idx[k] + clo[k]) * str[k];
		memcpy(y + r * out[nd - 1], x + off, (size_t)out[nd - 1] * sizeof(double));
		for (k = nd - 2; k >= 0; k--) {
			if (++idx[k] < out[k])
				break;
			idx[k] = 0;
		}
	}
}

/* Run a sequence of 1-d passes on the padded input; returns the buffer
 * holding the out-shaped, output-dtype-quantised result. */
static double *run_term(run_t *r, const pass_t *ps, int np)
{
	int64_t ext[CASK_K_ND_MAXDIM], clo[CASK_K_ND_MAXDIM], nel;
	const double *cur = r->in;
	double *dst = NULL;
	int p, k, which = 0, cropped = 1;

	for (k = 0; k < r->nd; k++) {
		ext[k] = r->out[k] + r->lo[k] + r->hi[k];
		clo[k] = r->lo[k];
	}
	for (p = 0; p < np; p++) {
		const pass_t *q = &ps[p];
		int a = q->axis;
		int64_t n = q->n;
		const double *w = q->w;
		dst = r->buf[which];
		if (q->type == P_GAUSS) {
			int64_t rad = (n - 1) / 2;
			cask_k_nd_gaussian_weights(r->f->sigma[a], q->order, rad, r->wbuf,
			                           r->wbuf + n);
			w = r->wbuf;
		}
		switch (q->type) {
		case P_CORR:
		case P_GAUSS:
			correlate1d_q(r->nd, ext, a, n, w, cur, dst, r->odt == CASK_FLOAT32);
			break;
		case P_UNIF: uniform1d(r->nd, ext, a, n, cur, dst, r->row); break;
		default: minmax1d(r->nd, ext, a, n, q->type == P_MIN, cur, dst); break;
		}
		ext[a] -= n - 1;
		clo[a] = 0;
		nel = prod(ext, 0, r->nd);
		if (!(r->odt == CASK_FLOAT32 && (q->type == P_CORR || q->type == P_GAUSS)))
			quantize_run(r->odt, nel, dst);
		reset_constant(r, ext, clo, a, dst);
		cur = dst;
		which ^= 1;
	}
	for (k = 0; k < r->nd; k++)
		if (ext[k] != r->out[k])
			cropped = 0;
	if (!cropped || np == 0) {
		dst = r->buf[which];
		crop(r->nd, ext, clo, r->out, cur, dst);
		if (np == 0)
			quantize_run(r->odt, prod(r->out, 0, r->nd), dst);
	}
	return dst;
}

/* Gaussian passes with order[] (order_axis >= 0 overrides: that axis gets
 * order ord, the others 0). */
static int gauss_passes(const run_t *r, int order_axis, int ord, pass_t *ps)
{
	int k, np = 0;

	for (k = 0; k < r->nd; k++) {
		if (!(r->f->sigma[k] > 1e-15))
			continue;
		ps[np].axis = k;
		ps[np].type = P_GAUSS;
		ps[np].n = 2 * cask_k_nd_gaussian_radius(r->f->sigma[k], trunc_of(r->f)) + 1;
		ps[np].order = order_axis < 0 ? r->f->order[k] : (k == order_axis ? ord : 0);
		ps[np].w = NULL;
		np++;
	}
	return np;
}

static const double k_deriv[3] = {-1.0, 0.0, 1.0};
static const double k_sobel[3] = {1.0, 2.0, 1.0};
static const double k_prewitt[3] = {1.0, 1.0, 1.0};
static const double k_lap[3] = {1.0, -2.0, 1.0};

/* sqrt as NumPy's loop for dtype t computes it (ggm's final step). */
static double sqrt_as(cask_dtype_t t, double v)
{
	switch (t) {
	case CASK_BOOL:
	case CASK_INT8:
	case CASK_UINT8: return round_half((double)sqrtf((float)v));
	case CASK_INT16:
	case CASK_UINT16:
	case CASK_FLOAT32: return (double)sqrtf((float)v);
	default: return sqrt(v);
	}
}

/* ------------------------------------------------- float32 gaussian path */

/* Eight floats (GCC vector extension, unaligned). */
typedef float v8f __attribute__((vector_size(32), aligned(4)));

#define V8(p) (*(const v8f *)(const void *)(p))
#define V8W(p) (*(v8f *)(void *)(p))

/* corr_run in float arithmetic (weights rounded to float). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
	!defined(CASK_NO_TARGET_CLONES)
__attribute__((target_clones("avx2", "default")))
#endif
static void corr_run_f32(int64_t ni, const float *c, int64_t st, int64_t s1, int64_t s2,
                         const float *fw, int sym, float *y)
{
	int64_t i = 0, jj;

	if (sym != 0) {
		for (; i + 32 <= ni; i += 32) {
			const float *ci = c + i;
			v8f w0 = {fw[0], fw[0], fw[0], fw[0], fw[0], fw[0], fw[0], fw[0]};
			v8f y0 = V8(ci) * w0, y1 = V8(ci + 8) * w0;
			v8f y2 = V8(ci + 16) * w0, y3 = V8(ci + 24) * w0;
			for (jj = -s1; jj < 0; jj++) {
				const float *pa = ci + jj * st, *pb = ci - jj * st;
				float w = fw[jj];
				v8f wj = {w, w, w, w, w, w, w, w};
				if (sym > 0) {
					y0 += (V8(pa) + V8(pb)) * wj;
					y1 += (V8(pa + 8) + V8(pb + 8)) * wj;
					y2 += (V8(pa + 16) + V8(pb + 16)) * wj;
					y3 += (V8(pa + 24) + V8(pb + 24)) * wj;
				} else {
					y0 += (V8(pa) - V8(pb)) * wj;
					y1 += (V8(pa + 8) - V8(pb + 8)) * wj;
					y2 += (V8(pa + 16) - V8(pb + 16)) * wj;
					y3 += (V8(pa + 24) - V8(pb + 24)) * wj;
				}
			}
			V8W(y + i) = y0;
			V8W(y + i + 8) = y1;
			V8W(y + i + 16) = y2;
			V8W(y + i + 24) = y3;
		}
		for (; i < ni; i++) {
			float v = c[i] * fw[0];
			for (jj = -s1; jj < 0; jj++) {
				if (sym > 0)
					v += (c[i + jj * st] + c[i - jj * st]) * fw[jj];
				else
					v += (c[i + jj * st] - c[i - jj * st]) * fw[jj];
			}
			y[i] = v;
		}
	} else {
		for (; i + 32 <= ni; i += 32) {
			const float *ci = c + i, *r = ci + s2 * st;
			float w = fw[s2];
			v8f w2 = {w, w, w, w, w, w, w, w};
			v8f y0 = V8(r) * w2, y1 = V8(r + 8) * w2;
			v8f y2 = V8(r + 16) * w2, y3 = V8(r + 24) * w2;
			for (jj = -s1; jj < s2; jj++) {
				const float *pa = ci + jj * st;
				v8f wj = {fw[jj], fw[jj], fw[jj], fw[jj], fw[jj], fw[jj], fw[jj], fw[jj]};
				y0 += V8(pa) * wj;
				y1 += V8(pa + 8) * wj;
				y2 += V8(pa + 16) * wj;
				y3 += V8(pa + 24) * wj;
			}
			V8W(y + i) = y0;
			V8W(y + i + 8) = y1;
			V8W(y + i + 16) = y2;
			V8W(y + i + 24) = y3;
		}
		for (; i < ni; i++) {
			float v = c[i + s2 * st] * fw[s2];
			for (jj = -s1; jj < s2; jj++)
				v += c[i + jj * st] * fw[jj];
			y[i] = v;
		}
	}
}

/* One correlate1d pass in float (layout as cask_k_nd_correlate1d). */
static void correlate1d_f32(int nd, const int64_t *ext, int axis, int64_t n, const float *w,
                            int sym, const float *x, float *y)
{
	int64_t outer = prod(ext, 0, axis), inner = prod(ext, axis + 1, nd);
	int64_t L = ext[axis], Lo = L - n + 1, s1 = n / 2, s2 = n - s1 - 1, o, l, i0;
	int64_t strip = strip_len(n, sizeof(float));
	const float *fw = w + s1;

	if (Lo <= 0 || outer == 0 || inner == 0)
		return;
	for (o = 0; o < outer; o++) {
		const float *xb = x + o * L * inner;
		float *yb = y + o * Lo * inner;
		if (inner == 1) {
			corr_run_f32(Lo, xb + s1, 1, s1, s2, fw, sym, yb);
			continue;
		}
		for (i0 = 0; i0 < inner; i0 += strip) {
			int64_t ni = inner - i0 < strip ? inner - i0 : strip;
			for (l = 0; l < Lo; l++)
				corr_run_f32(ni, xb + (l + s1) * inner + i0, inner, s1, s2, fw, sym,
				             yb + l * inner + i0);
		}
	}
}

int cask_k_nd_f32_ok(const cask_k_nd_spec_t *f)
{
	int k;

	if (f->kind != CASK_K_ND_GAUSSIAN)
		return 0;
	for (k = 0; k < f->nd; k++)
		if (f->order[k] != 0)
			return 0;
	return 1;
}

/* The longest gaussian window over the axes (1 if none). */
static int64_t max_gauss_window(const cask_k_nd_spec_t *f)
{
	int64_t r, m = 1;
	int k;

	for (k = 0; k < f->nd; k++) {
		r = 2 * cask_k_nd_gaussian_radius(f->sigma[k], trunc_of(f)) + 1;
		m = r > m ? r : m;
	}
	return m;
}

size_t cask_k_nd_scratch_bytes_f32(const cask_k_nd_spec_t *f, const int64_t *out)
{
	layout_t l;
	int64_t m = max_gauss_window(f);

	if (!make_layout(f, out, &l))
		return SIZE_MAX;
	if (l.nout == 0)
		return 0;
	/* Two float buffers of the padded size; double weights and their
	 * scratch, float weights. */
	if (l.nin > INT64_MAX / 16 - 3 * m - 8)
		return SIZE_MAX;
	if ((uint64_t)(l.nin + 3 * m + 8) > SIZE_MAX / 8)
		return SIZE_MAX;
	return (size_t)(l.nin + 3 * m + 8) * sizeof(double);
}

/* Set the cells of x (float, extents ext, remaining halos clo) outside the
 * array along constant-mode axes other than done to cval. */
static void reset_constant_f32(const cask_k_nd_spec_t *f, const int64_t *out,
                               const int64_t *pos, const int64_t *full, const int64_t *ext,
                               const int64_t *clo, int done, float *x)
{
	int k;
	int64_t outer, inner, L, j, g, o, i;

	for (k = 0; k < f->nd; k++) {
		if (k == done || f->mode[k] != CASK_K_PAD_CONSTANT || ext[k] == out[k])
			continue;
		outer = prod(ext, 0, k);
		inner = prod(ext, k + 1, f->nd);
		L = ext[k];
		for (j = 0; j < L; j++) {
			g = pos[k] - clo[k] + j;
			if (g >= 0 && g < full[k])
				continue;
			for (o = 0; o < outer; o++) {
				float *d = x + (o * L + j) * inner;
				for (i = 0; i < inner; i++)
					d[i] = (float)f->cval;
			}
		}
	}
}

void cask_k_nd_apply_f32(const cask_k_nd_spec_t *f, const int64_t *out, const int64_t *pos,
                         const int64_t *full, const float *in, float *y, void *scratch)
{
	layout_t l;
	int64_t ext[CASK_K_ND_MAXDIM], lo[CASK_K_ND_MAXDIM], hi[CASK_K_ND_MAXDIM];
	int64_t clo[CASK_K_ND_MAXDIM], m, n, j;
	int k, p, np = 0, axes[CASK_K_ND_MAXDIM];
	float *buf[2], *fw;
	double *w, *tmp;
	const float *cur = in;

	if (!make_layout(f, out, &l) || l.nout == 0)
		return;
	m = max_gauss_window(f);
	buf[0] = (float *)scratch;
	buf[1] = buf[0] + l.nin;
	w = (double *)scratch + l.nin; /* after 2 * nin floats */
	tmp = w + m;
	fw = (float *)(tmp + m);
	cask_k_nd_halo(f, lo, hi);
	for (k = 0; k < f->nd; k++) {
		ext[k] = out[k] + lo[k] + hi[k];
		clo[k] = lo[k];
		if (f->sigma[k] > 1e-15)
			axes[np++] = k;
	}
	for (p = 0; p < np; p++) {
		int a = axes[p];
		float *dst = p == np - 1 ? y : buf[p & 1];
		int64_t rad = cask_k_nd_gaussian_radius(f->sigma[a], trunc_of(f));
		n = 2 * rad + 1;
		cask_k_nd_gaussian_weights(f->sigma[a], 0, rad, w, tmp);
		for (j = 0; j < n; j++)
			fw[j] = (float)w[j];
		correlate1d_f32(f->nd, ext, a, n, fw, symmetry(n, w), cur, dst);
		ext[a] -= n - 1;
		clo[a] = 0;
		if (p < np - 1)
			reset_constant_f32(f, out, pos, full, ext, clo, a, dst);
		cur = dst;
	}
	if (np == 0)
		memcpy(y, in, (size_t)l.nout * sizeof(float));
}

void cask_k_nd_apply(const cask_k_nd_spec_t *f, cask_dtype_t odt, const int64_t *out,
                     const int64_t *pos, const int64_t *full, const double *in, void *y,
                     void *scratch)
{
	run_t r;
	layout_t l;
	pass_t ps[CASK_K_ND_MAXDIM];
	int64_t ext[CASK_K_ND_MAXDIM], i, fs, nw, j, nops;
	int k, np = 0, t;
	double *res = NULL, *d = (double *)scratch;

	if (!make_layout(f, out, &l) || l.nout == 0)
		return;
	r.f = f;
	r.odt = odt;
	r.nd = f->nd;
	r.out = out;
	r.pos = pos;
	r.full = full;
	r.in = in;
	cask_k_nd_halo(f, r.lo, r.hi);
	for (k = 0; k < f->nd; k++)
		ext[k] = out[k] + r.lo[k] + r.hi[k];
	r.buf[0] = d;
	r.buf[1] = d + l.nin;
	r.acc = d + 2 * l.nin;
	r.row = r.acc + l.nout;
	r.wbuf = r.row + l.nrow;

	switch (f->kind) {
	case CASK_K_ND_GAUSSIAN:
		np = gauss_passes(&r, -1, 0, ps);
		res = run_term(&r, ps, np);
		break;
	case CASK_K_ND_UNIFORM:
	case CASK_K_ND_MINIMUM:
	case CASK_K_ND_MAXIMUM:
		for (k = 0; k < f->nd; k++) {
			if (wsize(f, k) <= 1)
				continue;
			ps[np].axis = k;
			ps[np].type = f->kind == CASK_K_ND_UNIFORM   ? P_UNIF
			              : f->kind == CASK_K_ND_MINIMUM ? P_MIN
			                                             : P_MAX;
			ps[np].n = wsize(f, k);
			np++;
		}
		res = run_term(&r, ps, np);
		break;
	case CASK_K_ND_SOBEL:
	case CASK_K_ND_PREWITT:
		ps[np++] = (pass_t){f->axis, P_CORR, 0, 3, k_deriv};
		for (k = 0; k < f->nd; k++)
			if (k != f->axis)
				ps[np++] = (pass_t){k, P_CORR, 0, 3,
				                    f->kind == CASK_K_ND_SOBEL ? k_sobel : k_prewitt};
		res = run_term(&r, ps, np);
		break;
	case CASK_K_ND_CORRELATE1D:
		ps[np++] = (pass_t){f->axis, P_CORR, 0, f->wshape[0], f->weights};
		res = run_term(&r, ps, np);
		break;
	case CASK_K_ND_CONVOLVE1D:
		for (i = 0; i < f->wshape[0]; i++)
			r.wbuf[i] = f->weights[f->wshape[0] - 1 - i];
		ps[np++] = (pass_t){f->axis, P_CORR, 0, f->wshape[0], r.wbuf};
		res = run_term(&r, ps, np);
		break;
	case CASK_K_ND_LAPLACE:
	case CASK_K_ND_GAUSSIAN_LAPLACE:
	case CASK_K_ND_GAUSSIAN_GRADIENT_MAGNITUDE:
		for (t = 0; t < f->nd; t++) {
			double *tr;
			if (f->kind == CASK_K_ND_LAPLACE) {
				ps[0] = (pass_t){t, P_CORR, 0, 3, k_lap};
				np = 1;
			} else {
				np = gauss_passes(&r, t,
				                  f->kind == CASK_K_ND_GAUSSIAN_LAPLACE ? 2 : 1, ps);
			}
			tr = run_term(&r, ps, np);
			for (i = 0; i < l.nout; i++) {
				double v = tr[i];
				if (f->kind == CASK_K_ND_GAUSSIAN_GRADIENT_MAGNITUDE)
					v = square_as(odt, v);
				r.acc[i] = t == 0 ? v : add_as(odt, r.acc[i], v);
			}
		}
		if (f->kind == CASK_K_ND_GAUSSIAN_GRADIENT_MAGNITUDE)
			for (i = 0; i < l.nout; i++)
				r.acc[i] = sqrt_as(odt, r.acc[i]);
		res = r.acc;
		break;
	case CASK_K_ND_MEDIAN: {
		int64_t wsh[CASK_K_ND_MAXDIM];
		int64_t *off = (int64_t *)(r.wbuf + wcount(f));
		fs = wcount(f);
		if (fs <= 2) {
			/* scipy: minimum_filter (1 cell) or maximum_filter (2 cells). */
			for (k = 0; k < f->nd; k++)
				if (wsize(f, k) > 1)
					ps[np++] = (pass_t){k, P_MAX, 0, wsize(f, k), NULL};
			res = run_term(&r, ps, np);
			break;
		}
		for (k = 0; k < f->nd; k++)
			wsh[k] = wsize(f, k);
		window_offsets(f->nd, ext, wsh, fs, off);
		if (fs <= NET_MAXN) {
			uint32_t *ops = (uint32_t *)(void *)(off + fs);
			unsigned char *need = (unsigned char *)(ops + NET_MAXOPS);
			double *wires = (double *)(void *)(need + NET_MAXN);
			nops = net_build(fs, fs / 2, ops, need);
			rank_nd(f->nd, out, ext, fs, fs / 2, off, in, r.acc, r.wbuf, ops, nops,
			        wires, float_exact(odt));
		} else {
			rank_nd(f->nd, out, ext, fs, fs / 2, off, in, r.acc, r.wbuf, NULL, 0, NULL,
			        0);
		}
		/* No quantisation: a median is one of the window's values, all
		 * of the input dtype (cval too, cask_k_nd_pad_cval). */
		res = r.acc;
		break;
	}
	case CASK_K_ND_CORRELATE:
	case CASK_K_ND_CONVOLVE: {
		double *cw = r.wbuf;
		int64_t *off = (int64_t *)(r.wbuf + 2 * wcount(f));
		fs = wcount(f);
		window_offsets(f->nd, ext, f->wshape, fs, off);
		nw = 0;
		for (j = 0; j < fs; j++) {
			/* Full flip of all axes = reversed C order. */
			double w = f->kind == CASK_K_ND_CONVOLVE ? f->weights[fs - 1 - j]
			                                         : f->weights[j];
			if (fabs(w) > DBL_EPSILON) {
				cw[nw] = w;
				off[nw] = off[j];
				nw++;
			}
		}
		correlate_nd(f->nd, out, ext, nw, cw, off, in, r.acc);
		quantize_run(odt, l.nout, r.acc);
		res = r.acc;
		break;
	}
	default:
		return;
	}
	cask_k_nd_store(l.nout, odt, res, y);
}
