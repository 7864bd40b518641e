/*
 * test_ndimage.c - unit tests of the scipy.ndimage-compatible filter kernels
 * (kernels/ndimage.c), against reference values computed by scipy.ndimage
 * 1.10 on the WHOLE array (tests/ref/gen_ndimage.py -> tests/ref/ndimage_ref.h).
 *
 * Every case (filter x parameters x mode x dtype x 1-d/2-d/3-d shape) runs
 *   (a) as one block: the whole array padded by cask_k_pad_fill, and
 *   (b) split into blocks of several shapes (down to 1 cell, smaller than
 *       the halo, shapes that do not divide the array), each padded block
 *       built as the engine does (cask_k_pad_hull + cask_k_pad_gather from
 *       the array), filtered and stitched; where cask_k_pad_fill can
 *       complete the same block from its inside cells its result must equal
 *       the gathered block exactly.
 * Tolerances: float64 max abs error <= 1e-12 * max|ref| (scipy and cask do
 * the same operations in the same order except uniform's running sum,
 * which starts at the block instead of the line: a few ulps of the running
 * sum), float32 <= 1e-5 * max|ref| (float32 rounding of the intermediates
 * as scipy's, with the same running-sum caveat), integer dtypes exact.
 *
 * The float32 gaussian path (cask_k_nd_apply_f32, float arithmetic) runs the
 * same float32 order-0 gaussian cases with the float32 tolerance.
 *
 * Larger cases computed by /usr/bin/python3 with scipy at test time (the
 * script is embedded below, the inputs come from a fixed generator here)
 * cover the vectorised code paths: the median selection networks on rows
 * longer and shorter than a network chunk (64 outputs) and its vector
 * lanes, windows just under, at and over the network limit (128 cells),
 * every dtype incl. int32 (the double-lane network) and floats with NaN and
 * infinities (scipy's own selection algorithm decides what a window with a
 * NaN gives; cask must give the same value), and the float32 gaussian on
 * rows longer than its 32-lane loop.  Medians are compared exactly (NaN
 * equals NaN); the gaussian with the float32 tolerance.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <unistd.h>

#include "ndimage.h"

typedef struct {
	const char *name;
	cask_k_nd_filter_t kind;
	cask_dtype_t dtype;
	int nd;
	int64_t shape[3];
	cask_k_pad_mode_t mode; /* for all axes, unless modes[] is set */
	double cval;
	double sigma[3];
	int order[3];
	double truncate;
	int64_t size[3];
	int64_t origin[3];
	int axis;
	const double *weights;
	int64_t wshape[3];
	const double *in;
	const double *ref;
	/* Per-axis modes when not all zero (mixed-mode cases start with
	 * CONSTANT, so they are never all REFLECT). */
	cask_k_pad_mode_t modes[3];
} ndref_case_t;

#include "ref/ndimage_ref.h"

#define NCASES (sizeof ndref_cases / sizeof ndref_cases[0])

static void spec_of(const ndref_case_t *c, cask_k_nd_spec_t *f)
{
	int k, mixed = 0;

	memset(f, 0, sizeof *f);
	f->kind = c->kind;
	f->nd = c->nd;
	for (k = 0; k < c->nd; k++)
		if (c->modes[k] != 0)
			mixed = 1;
	for (k = 0; k < c->nd; k++) {
		f->mode[k] = mixed ? c->modes[k] : c->mode;
		f->sigma[k] = c->sigma[k];
		f->order[k] = c->order[k];
		f->size[k] = c->size[k];
		f->origin[k] = c->origin[k];
		f->wshape[k] = c->wshape[k];
	}
	f->cval = c->cval;
	f->truncate = c->truncate;
	f->axis = c->axis;
	f->weights = c->weights;
}

static int64_t nelem(int nd, const int64_t *s)
{
	int64_t n = 1;
	int k;

	for (k = 0; k < nd; k++)
		n *= s[k];
	return n;
}

static double get(cask_dtype_t t, const void *p, int64_t i)
{
	switch (t) {
	case CASK_UINT8: return ((const uint8_t *)p)[i];
	case CASK_UINT16: return ((const uint16_t *)p)[i];
	case CASK_INT16: return ((const int16_t *)p)[i];
	case CASK_INT32: return ((const int32_t *)p)[i];
	case CASK_FLOAT32: return ((const float *)p)[i];
	default: return ((const double *)p)[i];
	}
}

static void put(cask_dtype_t t, void *p, int64_t i, double v)
{
	switch (t) {
	case CASK_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
	case CASK_UINT16: ((uint16_t *)p)[i] = (uint16_t)v; break;
	case CASK_INT16: ((int16_t *)p)[i] = (int16_t)v; break;
	case CASK_INT32: ((int32_t *)p)[i] = (int32_t)v; break;
	case CASK_FLOAT32: ((float *)p)[i] = (float)v; break;
	default: ((double *)p)[i] = v;
	}
}

/* 0 if y (dtype of c) matches the reference, else 1 with a message. */
static int compare(const ndref_case_t *c, const void *y, const char *how)
{
	int64_t n = nelem(c->nd, c->shape), i, worst = 0;
	double maxref = 0.0, err = 0.0, tol;

	for (i = 0; i < n; i++)
		if (isfinite(c->ref[i]) && fabs(c->ref[i]) > maxref)
			maxref = fabs(c->ref[i]);
	for (i = 0; i < n; i++) {
		double e = fabs(get(c->dtype, y, i) - c->ref[i]);
		if (isnan(get(c->dtype, y, i)) && isnan(c->ref[i]))
			continue;
		if (!(e <= err)) {
			err = e;
			worst = i;
		}
	}
	tol = c->dtype == CASK_FLOAT64 ? 1e-12 * maxref
	      : c->dtype == CASK_FLOAT32 ? 1e-5 * maxref
	                                 : 0.0;
	if (err <= tol)
		return 0;
	print_error("%s [%s]: max abs error %g at %lld (got %.17g, scipy %.17g), tol %g\n", c->name,
	            how, err, (long long)worst, get(c->dtype, y, worst), c->ref[worst], tol);
	return 1;
}

/* The case's input as an array of its dtype (values are exact). */
static void *typed_input(const ndref_case_t *c)
{
	int64_t n = nelem(c->nd, c->shape), i;
	void *x = malloc((size_t)n * sizeof(double));

	assert_non_null(x);
	for (i = 0; i < n; i++)
		put(c->dtype, x, i, c->in[i]);
	return x;
}

/* A padded block holding the array's cells inside the array (from the
 * typed input x) and NaN elsewhere: what the engine has before padding. */
static void inside_block(const ndref_case_t *c, const void *x, const int64_t *ext,
                         const int64_t *g0, double *blk)
{
	int64_t n = nelem(c->nd, ext), i, rem, src, str;
	int k, inside;

	for (i = 0; i < n; i++) {
		rem = i;
		src = 0;
		str = 1;
		inside = 1;
		for (k = c->nd - 1; k >= 0; k--) {
			int64_t g = g0[k] + rem % ext[k];
			rem /= ext[k];
			if (g < 0 || g >= c->shape[k])
				inside = 0;
			src += g * str;
			str *= c->shape[k];
		}
		blk[i] = inside ? get(c->dtype, x, src) : NAN;
	}
}

/* Use the float32 gaussian path where it applies (set by the f32 test). */
static int g_use_f32;

static int use_f32(const ndref_case_t *c, const cask_k_nd_spec_t *f)
{
	return g_use_f32 && c->dtype == CASK_FLOAT32 && cask_k_nd_f32_ok(f);
}

/* Scratch bytes for either path. */
static size_t scratch_for(const ndref_case_t *c, const cask_k_nd_spec_t *f, const int64_t *out)
{
	return use_f32(c, f) ? cask_k_nd_scratch_bytes_f32(f, out)
	                     : cask_k_nd_scratch_bytes(f, out);
}

/* cask_k_nd_apply, or the float32 path on the block converted to float. */
static void apply_case(const ndref_case_t *c, const cask_k_nd_spec_t *f, const int64_t *out,
                       const int64_t *pos, const double *blk, void *y, void *scr)
{
	int64_t lo[3], hi[3], n = 1, i;
	float *fb;
	int k;

	if (!use_f32(c, f)) {
		cask_k_nd_apply(f, c->dtype, out, pos, c->shape, blk, y, scr);
		return;
	}
	cask_k_nd_halo(f, lo, hi);
	for (k = 0; k < c->nd; k++)
		n *= out[k] + lo[k] + hi[k];
	fb = malloc((size_t)n * sizeof(float) + 4);
	assert_non_null(fb);
	for (i = 0; i < n; i++)
		fb[i] = (float)blk[i];
	cask_k_nd_apply_f32(f, out, pos, c->shape, fb, y, scr);
	free(fb);
}

/* (a) the whole array as one block padded by cask_k_pad_fill. */
static int run_whole(const ndref_case_t *c)
{
	cask_k_nd_spec_t f;
	int64_t lo[3], hi[3], ext[3], g0[3], zero[3] = {0, 0, 0};
	double *blk, *scr;
	void *x, *y;
	int k, rc, bad;

	spec_of(c, &f);
	assert_int_equal(cask_k_nd_check(&f), CASK_K_ND_OK);
	cask_k_nd_halo(&f, lo, hi);
	for (k = 0; k < c->nd; k++) {
		ext[k] = c->shape[k] + lo[k] + hi[k];
		g0[k] = -lo[k];
	}
	x = typed_input(c);
	blk = malloc((size_t)nelem(c->nd, ext) * sizeof(double));
	y = malloc((size_t)nelem(c->nd, c->shape) * sizeof(double));
	scr = malloc(scratch_for(c, &f, c->shape) + 8);
	assert_true(blk && y && scr);
	inside_block(c, x, ext, g0, blk);
	rc = cask_k_pad_fill(c->nd, ext, lo, zero, c->shape, f.mode,
	                     cask_k_nd_pad_cval(&f, c->dtype), blk);
	if (rc != 0) {
		print_error("%s: pad_fill refused the whole array\n", c->name);
		bad = 1;
	} else {
		apply_case(c, &f, c->shape, zero, blk, y, scr);
		bad = compare(c, y, "whole");
	}
	free(x);
	free(blk);
	free(y);
	free(scr);
	return bad;
}

/* (b) blocks of shape bs (clipped at the array's end), each built from the
 * array by hull + gather, filtered and stitched.  *fills counts the blocks
 * that pad_fill could also complete (and whose result matched gather). */
static int run_blocked(const ndref_case_t *c, const int64_t *bs, int *fills)
{
	cask_k_nd_spec_t f;
	int64_t lo[3], hi[3], nb[3], bi[3] = {0, 0, 0}, nblocks = 1, b;
	void *x, *y, *yb, *win;
	double *blk, *blk2, *scr;
	size_t blkmax = 1, scrmax = 0;
	int k, bad = 0;
	double pcv;

	spec_of(c, &f);
	cask_k_nd_halo(&f, lo, hi);
	pcv = cask_k_nd_pad_cval(&f, c->dtype);
	for (k = 0; k < c->nd; k++) {
		nb[k] = (c->shape[k] + bs[k] - 1) / bs[k];
		nblocks *= nb[k];
		blkmax *= (size_t)(bs[k] + lo[k] + hi[k]);
	}
	{
		int64_t bsh[3];
		for (k = 0; k < c->nd; k++)
			bsh[k] = bs[k] < c->shape[k] ? bs[k] : c->shape[k];
		scrmax = scratch_for(c, &f, bsh);
	}
	x = typed_input(c);
	y = malloc((size_t)nelem(c->nd, c->shape) * sizeof(double));
	yb = malloc(blkmax * sizeof(double));
	win = malloc((size_t)nelem(c->nd, c->shape) * sizeof(double) + 8);
	blk = malloc(blkmax * sizeof(double));
	blk2 = malloc(blkmax * sizeof(double));
	scr = malloc(scrmax + 8);
	assert_true(y && yb && win && blk && blk2 && scr);
	for (b = 0; b < nblocks; b++) {
		int64_t pos[3], out[3], ext[3], g0[3], w0[3], wext[3], nwin, i, nout;
		for (k = 0; k < c->nd; k++) {
			pos[k] = bi[k] * bs[k];
			out[k] = c->shape[k] - pos[k] < bs[k] ? c->shape[k] - pos[k] : bs[k];
			ext[k] = out[k] + lo[k] + hi[k];
			g0[k] = pos[k] - lo[k];
			cask_k_pad_hull(f.mode[k], c->shape[k], g0[k], g0[k] + ext[k], &w0[k],
			                &wext[k]);
			wext[k] -= w0[k];
		}
		/* The window: the hull box of the array, as the engine reads it. */
		nwin = nelem(c->nd, wext);
		for (i = 0; i < nwin; i++) {
			int64_t rem = i, src = 0, str = 1;
			for (k = c->nd - 1; k >= 0; k--) {
				src += (w0[k] + rem % wext[k]) * str;
				rem /= wext[k];
				str *= c->shape[k];
			}
			put(c->dtype, win, i, get(c->dtype, x, src));
		}
		cask_k_pad_gather(c->nd, ext, g0, c->shape, f.mode, pcv, c->dtype, win, w0, wext,
		                  blk);
		inside_block(c, x, ext, g0, blk2);
		if (cask_k_pad_fill(c->nd, ext, lo, pos, c->shape, f.mode, pcv, blk2) == 0) {
			if (memcmp(blk, blk2, (size_t)nelem(c->nd, ext) * sizeof(double)) != 0) {
				print_error("%s: pad_fill and pad_gather disagree on block %lld\n",
				            c->name, (long long)b);
				bad = 1;
			}
			(*fills)++;
		}
		apply_case(c, &f, out, pos, blk, yb, scr);
		/* Stitch. */
		nout = nelem(c->nd, out);
		for (i = 0; i < nout; i++) {
			int64_t rem = i, dst = 0, str = 1;
			for (k = c->nd - 1; k >= 0; k--) {
				dst += (pos[k] + rem % out[k]) * str;
				rem /= out[k];
				str *= c->shape[k];
			}
			put(c->dtype, y, dst, get(c->dtype, yb, i));
		}
		for (k = c->nd - 1; k >= 0; k--) {
			if (++bi[k] < nb[k])
				break;
			bi[k] = 0;
		}
	}
	{
		char how[64];
		snprintf(how, sizeof how, "blocks %lldx%lldx%lld", (long long)bs[0],
		         (long long)(c->nd > 1 ? bs[1] : 1), (long long)(c->nd > 2 ? bs[2] : 1));
		bad |= compare(c, y, how);
	}
	free(x);
	free(y);
	free(yb);
	free(win);
	free(blk);
	free(blk2);
	free(scr);
	return bad;
}

static void test_ndimage_pad_index(void **state)
{
	size_t r;
	int j;

	(void)state;
	for (r = 0; r < sizeof ndref_pad / sizeof ndref_pad[0]; r++)
		for (j = 0; j < NDREF_PAD_SPAN; j++)
			assert_int_equal(cask_k_pad_index(ndref_pad[r].mode, ndref_pad[r].n,
			                                  NDREF_PAD_LO + j),
			                 ndref_pad[r].src[j]);
	/* Constant has no source outside; far indices still map. */
	assert_int_equal(cask_k_pad_index(CASK_K_PAD_CONSTANT, 5, -1), -1);
	assert_int_equal(cask_k_pad_index(CASK_K_PAD_CONSTANT, 5, 2), 2);
	assert_int_equal(cask_k_pad_index(CASK_K_PAD_WRAP, 7, INT64_MIN + 3),
	                 ((INT64_MIN + 3) % 7 + 7) % 7);
	assert_int_equal(cask_k_pad_index(CASK_K_PAD_REFLECT, 0, 0), -1);
}

static void test_ndimage_pad_hull(void **state)
{
	int m;
	int64_t n, g0, g1, s0, s1, g, a, b;

	(void)state;
	/* Brute force: the hull is the min/max of the mapped indices. */
	for (m = 0; m < CASK_K_PAD_NMODES; m++)
		for (n = 1; n <= 6; n++)
			for (g0 = -15; g0 <= n + 3; g0++)
				for (g1 = g0; g1 <= n + 15; g1 += 3) {
					a = INT64_MAX;
					b = -1;
					for (g = g0; g < g1; g++) {
						int64_t s = cask_k_pad_index((cask_k_pad_mode_t)m, n, g);
						if (s < 0)
							continue;
						a = s < a ? s : a;
						b = s > b ? s : b;
					}
					cask_k_pad_hull((cask_k_pad_mode_t)m, n, g0, g1, &s0, &s1);
					if (b < 0) {
						assert_int_equal(s0, 0);
						assert_int_equal(s1, 0);
					} else {
						assert_int_equal(s0, a);
						assert_int_equal(s1, b + 1);
					}
				}
}

static void test_ndimage_pad_fill_refuses(void **state)
{
	/* 1-d, n = 10, output block [5, 10) with halo 3: the wrap sources of
	 * 10..12 are 0..2, outside the block [2, 13): refused, block untouched.
	 * Reflect sources 9..7 are inside: filled. */
	int64_t ext[1] = {11}, lo[1] = {3}, pos[1] = {5}, full[1] = {10};
	cask_k_pad_mode_t wrap[1] = {CASK_K_PAD_WRAP}, refl[1] = {CASK_K_PAD_REFLECT};
	double blk[11];
	int i;

	(void)state;
	for (i = 0; i < 11; i++)
		blk[i] = i < 8 ? 2.0 + i : -1.0;
	assert_int_equal(cask_k_pad_fill(1, ext, lo, pos, full, wrap, 0.0, blk), -1);
	for (i = 8; i < 11; i++)
		assert_true(blk[i] == -1.0);
	assert_int_equal(cask_k_pad_fill(1, ext, lo, pos, full, refl, 0.0, blk), 0);
	assert_true(blk[8] == 9.0 && blk[9] == 8.0 && blk[10] == 7.0);
}

static void test_ndimage_gaussian_weights(void **state)
{
	size_t r;
	int64_t i;
	double w[64], tmp[64];

	(void)state;
	/* Bit-exact against scipy's _gaussian_kernel1d(sigma, order, r)[::-1]
	 * when NumPy took the same exp there as it does on this CPU (the
	 * header says which); else within a few ulps. */
	int same = cask_k_nd_numpy_svml() == ndref_gw_svml;
	if (!same)
		print_message("gaussian weights: the reference header's NumPy took %s exp, this CPU "
		              "takes %s: compared within 8 ulps, not bit for bit\n",
		              ndref_gw_svml ? "SVML's" : "libm's", ndref_gw_svml ? "libm's" : "SVML's");
	for (r = 0; r < sizeof ndref_gw / sizeof ndref_gw[0]; r++) {
		assert_int_equal(cask_k_nd_gaussian_radius(ndref_gw[r].sigma, 4.0),
		                 ndref_gw[r].radius);
		cask_k_nd_gaussian_weights(ndref_gw[r].sigma, ndref_gw[r].order, ndref_gw[r].radius,
		                           w, tmp);
		for (i = 0; i < 2 * ndref_gw[r].radius + 1; i++) {
			if (same)
				assert_memory_equal(&w[i], &ndref_gw[r].w[i], sizeof(double));
			else
				assert_true(fabs(w[i] - ndref_gw[r].w[i]) <=
				            8 * DBL_EPSILON * fabs(ndref_gw[r].w[i]));
		}
	}
}

/* NumPy 1.24's float64 exp, bit for bit: values from np.exp on an AVX-512
 * machine (its SVML path); the libm flavour is libm's exp itself (glibc's
 * values, which differ from SVML's in the last bit for some arguments, are
 * listed for reference). */
static void test_ndimage_numpy_exp(void **state)
{
	static const struct {
		double x;
		uint64_t svml, libm;
	} v[] = {
		{-2.0, 0x3fc152aaa3bf81cbu, 0x3fc152aaa3bf81ccu},
		{-8.0, 0x3f35fc21041027acu, 0x3f35fc21041027adu},
		{-0.5, 0x3fe368b2fc6f960au, 0x3fe368b2fc6f960au},
		{-4.5, 0x3f86c0504695c418u, 0x3f86c0504695c417u},
		{-0x1.3c0ca2a5b1d5dp+0, 0x3fd29f18bd70afe1u, 0x3fd29f18bd70afe1u},
		{0.75, 0x4000ef9db467dcf7u, 0x4000ef9db467dcf8u},
		{3.0, 0x403415e5bf6fb106u, 0x403415e5bf6fb106u},
		{-20.0, 0x3e21b48655f37267u, 0x3e21b48655f37267u},
		{-300.5, 0x24d629f5b5352a54u, 0x24d629f5b5352a54u},
		{700.0, 0x7f0d945df4f8ec8eu, 0x7f0d945df4f8ec8eu},
		{-0x1.0624dd2f1a9fcp-10, 0x3feff7cfe56f1a9fu, 0x3feff7cfe56f1a9eu},
		{0x1.b7cdfd9d7bdbbp-34, 0x3ff000000006df38u, 0x3ff000000006df38u},
		{-0x1.05397829cbc15p+4, 0x3e75cb045ed70916u, 0x3e75cb045ed70916u},
	};
	(void)state;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		double a = cask_k_nd_numpy_exp(v[i].x, 1), b = cask_k_nd_numpy_exp(v[i].x, 0);
		assert_memory_equal(&a, &v[i].svml, sizeof a);
		double e = exp(v[i].x);
		assert_memory_equal(&b, &e, sizeof b);
	}
	double inf = cask_k_nd_numpy_exp(1000.0, 1), zero = cask_k_nd_numpy_exp(-1000.0, 1);
	assert_true(isinf(inf) && inf > 0 && zero == 0.0);
	assert_true(isnan(cask_k_nd_numpy_exp(NAN, 1)));
}

static void test_ndimage_halo(void **state)
{
	cask_k_nd_spec_t f;
	int64_t lo[3], hi[3];

	(void)state;
	/* scipy: a window of n cells with origin o reaches n/2 + o cells back
	 * (NI_InitLineBuffer's size1 + origin) and n - 1 - that ahead. */
	memset(&f, 0, sizeof f);
	f.kind = CASK_K_ND_UNIFORM;
	f.nd = 3;
	f.size[0] = 4;
	f.size[1] = 5;
	f.size[2] = 1;
	f.origin[1] = -2;
	assert_int_equal(cask_k_nd_check(&f), CASK_K_ND_OK);
	cask_k_nd_halo(&f, lo, hi);
	assert_int_equal(lo[0], 2);
	assert_int_equal(hi[0], 1);
	assert_int_equal(lo[1], 0);
	assert_int_equal(hi[1], 4);
	assert_int_equal(lo[2], 0);
	assert_int_equal(hi[2], 0);
	/* convolve1d of even length: correlate origin -1. */
	memset(&f, 0, sizeof f);
	f.kind = CASK_K_ND_CONVOLVE1D;
	f.nd = 1;
	f.wshape[0] = 4;
	f.weights = ndref_w_w4;
	cask_k_nd_halo(&f, lo, hi);
	assert_int_equal(lo[0], 1);
	assert_int_equal(hi[0], 2);
	/* gaussian: radius int(truncate * sigma + 0.5); sigma 0 skips the axis. */
	memset(&f, 0, sizeof f);
	f.kind = CASK_K_ND_GAUSSIAN;
	f.nd = 2;
	f.sigma[0] = 1.3;
	f.sigma[1] = 0.0;
	cask_k_nd_halo(&f, lo, hi);
	assert_int_equal(lo[0], 5);
	assert_int_equal(hi[0], 5);
	assert_int_equal(lo[1], 0);
	assert_int_equal(hi[1], 0);
}

static void test_ndimage_check(void **state)
{
	cask_k_nd_spec_t f;

	(void)state;
	memset(&f, 0, sizeof f);
	f.kind = CASK_K_ND_MEDIAN;
	f.nd = 2;
	f.size[0] = f.size[1] = 3;
	assert_int_equal(cask_k_nd_check(&f), CASK_K_ND_OK);
	f.mode[1] = CASK_K_PAD_WRAP; /* scipy's rank filter takes one mode */
	assert_int_equal(cask_k_nd_check(&f), CASK_K_ND_BAD_MODE);
	f.mode[1] = CASK_K_PAD_NMODES;
	f.kind = CASK_K_ND_UNIFORM;
	assert_int_equal(cask_k_nd_check(&f), CASK_K_ND_BAD_MODE);
	f.mode[1] = CASK_K_PAD_REFLECT;
	f.origin[0] = 2; /* valid: -1 <= origin <= 1 for size 3 */
	assert_int_equal(cask_k_nd_check(&f), CASK_K_ND_BAD_ORIGIN);
	f.origin[0] = 0;
	f.nd = 0;
	assert_int_equal(cask_k_nd_check(&f), CASK_K_ND_BAD_NDIM);
	f.nd = 9;
	assert_int_equal(cask_k_nd_check(&f), CASK_K_ND_BAD_NDIM);
	memset(&f, 0, sizeof f);
	f.kind = CASK_K_ND_GAUSSIAN;
	f.nd = 1;
	f.sigma[0] = 1.0;
	f.order[0] = 3;
	assert_int_equal(cask_k_nd_check(&f), CASK_K_ND_BAD_ORDER);
	f.order[0] = 0;
	f.sigma[0] = -1.0;
	assert_int_equal(cask_k_nd_check(&f), CASK_K_ND_BAD_SIGMA);
	f.sigma[0] = NAN;
	assert_int_equal(cask_k_nd_check(&f), CASK_K_ND_BAD_SIGMA);
	memset(&f, 0, sizeof f);
	f.kind = CASK_K_ND_SOBEL;
	f.nd = 2;
	f.axis = 2;
	assert_int_equal(cask_k_nd_check(&f), CASK_K_ND_BAD_AXIS);
	memset(&f, 0, sizeof f);
	f.kind = CASK_K_ND_CORRELATE;
	f.nd = 1;
	f.wshape[0] = 3;
	assert_int_equal(cask_k_nd_check(&f), CASK_K_ND_BAD_WEIGHTS);
	f.kind = (cask_k_nd_filter_t)99;
	assert_int_equal(cask_k_nd_check(&f), CASK_K_ND_BAD_KIND);
}

static void test_ndimage_quantize(void **state)
{
	double x[6] = {-10.0, -2.0, -197.0, 6e10, NAN, 255.9};
	uint8_t y8[6];
	int16_t y16[2];
	double x16[2] = {-40000.7, 40000.2};

	(void)state;
	/* Observed with NumPy 1.24 / scipy 1.10 on x86-64:
	 * correlate1d of uint8 gives 246, 254, 59 for -10, -2, -197; values
	 * beyond int32 and NaN give 0; float -> int16 wraps (25536, -25536). */
	cask_k_nd_store(6, CASK_UINT8, x, y8);
	assert_int_equal(y8[0], 246);
	assert_int_equal(y8[1], 254);
	assert_int_equal(y8[2], 59);
	assert_int_equal(y8[3], 0);
	assert_int_equal(y8[4], 0);
	assert_int_equal(y8[5], 255);
	cask_k_nd_store(2, CASK_INT16, x16, y16);
	assert_int_equal(y16[0], 25536);
	assert_int_equal(y16[1], -25536);
	assert_true(cask_k_nd_quantize(CASK_FLOAT32, 0.1) == (double)0.1f);
	assert_true(cask_k_nd_quantize(CASK_UINT16, 70000.0) == 4464.0);
}

static void test_ndimage_zero_length(void **state)
{
	cask_k_nd_spec_t f;
	int64_t out[2] = {0, 5}, pos[2] = {0, 0}, full[2] = {0, 5};
	double in[1] = {1.0}, y[1] = {42.0};

	(void)state;
	memset(&f, 0, sizeof f);
	f.kind = CASK_K_ND_GAUSSIAN;
	f.nd = 2;
	f.sigma[0] = f.sigma[1] = 1.0;
	assert_int_equal(cask_k_nd_scratch_bytes(&f, out), 0);
	cask_k_nd_apply(&f, CASK_FLOAT64, out, pos, full, in, y, NULL);
	assert_true(y[0] == 42.0);
	/* No halo on the empty axis either (size 1 uniform: a copy). */
	memset(&f, 0, sizeof f);
	f.kind = CASK_K_ND_UNIFORM;
	f.nd = 2;
	f.size[1] = 3;
	assert_int_equal(cask_k_nd_scratch_bytes(&f, out), 0);
	cask_k_nd_apply(&f, CASK_UINT8, out, pos, full, in, y, NULL);
	assert_true(y[0] == 42.0);
}

static void test_ndimage_whole_array(void **state)
{
	size_t i;
	int bad = 0;

	(void)state;
	for (i = 0; i < NCASES; i++)
		bad += run_whole(&ndref_cases[i]);
	assert_int_equal(bad, 0);
}

static void test_ndimage_blocked(void **state)
{
	static const int64_t shapes[][3] = {{1, 1, 1}, {2, 4, 3}, {3, 5, 2}, {4, 2, 4}, {6, 7, 5}};
	size_t i, s;
	int bad = 0, fills = 0;

	(void)state;
	for (i = 0; i < NCASES; i++)
		for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
			bad += run_blocked(&ndref_cases[i], shapes[s], &fills);
	assert_int_equal(bad, 0);
	assert_true(fills > 0);
}

static void test_ndimage_f32_gaussian(void **state)
{
	static const int64_t shapes[][3] = {{1, 1, 1}, {3, 5, 2}, {6, 7, 5}};
	size_t i, s;
	int bad = 0, ran = 0, fills = 0;
	cask_k_nd_spec_t f;

	(void)state;
	g_use_f32 = 1;
	for (i = 0; i < NCASES; i++) {
		spec_of(&ndref_cases[i], &f);
		if (!use_f32(&ndref_cases[i], &f))
			continue;
		ran++;
		bad += run_whole(&ndref_cases[i]);
		for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
			bad += run_blocked(&ndref_cases[i], shapes[s], &fills);
	}
	g_use_f32 = 0;
	assert_int_equal(bad, 0);
	assert_true(ran > 0);
	/* Only order-0 gaussians of float32 arrays qualify. */
	memset(&f, 0, sizeof f);
	f.kind = CASK_K_ND_GAUSSIAN;
	f.nd = 2;
	f.sigma[0] = f.sigma[1] = 1.0;
	assert_true(cask_k_nd_f32_ok(&f));
	f.order[1] = 1;
	assert_false(cask_k_nd_f32_ok(&f));
	f.order[1] = 0;
	f.kind = CASK_K_ND_UNIFORM;
	assert_false(cask_k_nd_f32_ok(&f));
}

/* --------------------------------------------- scipy at test time (large) */

/* Reads the jobs file (one job a line: id filter dtype nd s0 s1 s2 p0 p1 p2
 * mode cval, where p is the size (median) or sigma (gaussian)) and writes
 * <id>.ref next to each <id>.in. */
static const char *const k_script =
	"import sys, numpy as np, scipy.ndimage as ndi\n"
	"d = sys.argv[1]\n"
	"for line in open(d + '/jobs.txt'):\n"
	"    f = line.split()\n"
	"    if not f: continue\n"
	"    jid, filt, dt, nd = f[0], f[1], f[2], int(f[3])\n"
	"    shape = tuple(int(v) for v in f[4:4 + nd])\n"
	"    par = [float(v) for v in f[7:7 + nd]]\n"
	"    mode, cval = f[10], float(f[11])\n"
	"    x = np.fromfile(d + '/' + jid + '.in', dtype=dt).reshape(shape)\n"
	"    with np.errstate(all='ignore'):\n"
	"        if filt == 'median':\n"
	"            y = ndi.median_filter(x, size=tuple(int(p) for p in par), mode=mode, cval=cval)\n"
	"        else:\n"
	"            y = ndi.gaussian_filter(x, sigma=tuple(par), mode=mode, cval=cval)\n"
	"    y.tofile(d + '/' + jid + '.ref')\n";

typedef struct {
	cask_k_nd_filter_t kind;
	cask_dtype_t dtype;
	int nd;
	int64_t shape[3];
	double par[3]; /* size or sigma */
	cask_k_pad_mode_t mode;
	double cval;
	int nan; /* inject NaN / inf (float dtypes) */
} pyjob_t;

static const char *const k_mode_names[] = {"reflect", "mirror", "nearest", "constant", "wrap"};

static const char *np_name(cask_dtype_t t)
{
	switch (t) {
	case CASK_UINT8: return "uint8";
	case CASK_UINT16: return "uint16";
	case CASK_INT16: return "int16";
	case CASK_INT32: return "int32";
	case CASK_FLOAT32: return "float32";
	default: return "float64";
	}
}

static size_t dt_size(cask_dtype_t t)
{
	switch (t) {
	case CASK_UINT8: return 1;
	case CASK_UINT16:
	case CASK_INT16: return 2;
	case CASK_INT32:
	case CASK_FLOAT32: return 4;
	default: return 8;
	}
}

/* Deterministic input values: the dtype's range (integers; a narrow range
 * on odd jobs for many ties), or floats with NaN / inf sprinkled in. */
static double gen_value(const pyjob_t *j, int id, uint64_t *st)
{
	uint64_t r;
	*st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
	r = *st >> 33;
	if (j->dtype == CASK_FLOAT32 || j->dtype == CASK_FLOAT64) {
		if (j->nan && r % 29 == 0)
			return NAN;
		if (j->nan && r % 97 == 1)
			return (r & 2) ? INFINITY : -INFINITY;
		return ((double)(r % 20001) - 10000.0) / 64.0;
	}
	if (id & 1)
		return (double)(r % 7);
	switch (j->dtype) {
	case CASK_UINT8: return (double)(r % 256);
	case CASK_UINT16: return (double)(r % 65536);
	case CASK_INT16: return (double)(r % 65536) - 32768.0;
	default: return (double)(r % 2000001) - 1000000.0;
	}
}

static int run_cmd(const char *cmd)
{
	int st = system(cmd);
	return st == -1 ? -1 : WEXITSTATUS(st);
}

static int run_pyjobs(const pyjob_t *jobs, int nj)
{
	char dir[] = "/tmp/cask-test-ndimage-XXXXXX", path[512], cmd[1024];
	FILE *fp;
	int i, bad = 0;
	static const int64_t bshapes[][3] = {{2, 3, 65}, {5, 66, 3}, {1, 64, 67}};

	if (access("/usr/bin/python3", X_OK) != 0) {
		print_message("no /usr/bin/python3: scipy cases skipped\n");
		return 0;
	}
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/ref.py", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(k_script, fp);
	fclose(fp);
	snprintf(path, sizeof path, "%s/jobs.txt", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	for (i = 0; i < nj; i++) {
		const pyjob_t *j = &jobs[i];
		int64_t n = nelem(j->nd, j->shape), e;
		uint64_t st = 12345 + (uint64_t)i * 7919;
		void *x = malloc((size_t)n * 8 + 8);
		char ip[512];
		FILE *fx;
		assert_non_null(x);
		for (e = 0; e < n; e++)
			put(j->dtype, x, e, gen_value(j, i, &st));
		snprintf(ip, sizeof ip, "%s/%d.in", dir, i);
		fx = fopen(ip, "wb");
		assert_non_null(fx);
		assert_int_equal(fwrite(x, dt_size(j->dtype), (size_t)n, fx), (size_t)n);
		fclose(fx);
		free(x);
		fprintf(fp, "%d %s %s %d %lld %lld %lld %.17g %.17g %.17g %s %.17g\n", i,
		        j->kind == CASK_K_ND_MEDIAN ? "median" : "gaussian", np_name(j->dtype),
		        j->nd, (long long)j->shape[0], (long long)j->shape[1],
		        (long long)j->shape[2], j->par[0], j->par[1], j->par[2],
		        k_mode_names[j->mode], j->cval);
	}
	fclose(fp);
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/ref.py %s", dir, dir);
	assert_int_equal(run_cmd(cmd), 0);
	for (i = 0; i < nj; i++) {
		const pyjob_t *j = &jobs[i];
		int64_t n = nelem(j->nd, j->shape), e;
		ndref_case_t c;
		double *in = malloc((size_t)n * sizeof(double)), *ref = malloc((size_t)n * sizeof(double));
		void *raw = malloc((size_t)n * 8 + 8);
		uint64_t st = 12345 + (uint64_t)i * 7919;
		char rp[512], name[64];
		FILE *fr;
		size_t s;
		int k, fills = 0;
		assert_true(in && ref && raw);
		for (e = 0; e < n; e++) {
			put(j->dtype, raw, e, gen_value(j, i, &st));
			in[e] = get(j->dtype, raw, e);
		}
		snprintf(rp, sizeof rp, "%s/%d.ref", dir, i);
		fr = fopen(rp, "rb");
		assert_non_null(fr);
		assert_int_equal(fread(raw, dt_size(j->dtype), (size_t)n, fr), (size_t)n);
		fclose(fr);
		for (e = 0; e < n; e++)
			ref[e] = get(j->dtype, raw, e);
		memset(&c, 0, sizeof c);
		snprintf(name, sizeof name, "scipy job %d (%s %s)", i,
		         j->kind == CASK_K_ND_MEDIAN ? "median" : "gaussian", np_name(j->dtype));
		c.name = name;
		c.kind = j->kind;
		c.dtype = j->dtype;
		c.nd = j->nd;
		c.mode = j->mode;
		c.cval = j->cval;
		for (k = 0; k < j->nd; k++) {
			c.shape[k] = j->shape[k];
			if (j->kind == CASK_K_ND_MEDIAN)
				c.size[k] = (int64_t)j->par[k];
			else
				c.sigma[k] = j->par[k];
		}
		c.in = in;
		c.ref = ref;
		bad += run_whole(&c);
		for (s = 0; s < sizeof bshapes / sizeof bshapes[0]; s++)
			bad += run_blocked(&c, bshapes[s], &fills);
		unlink(rp);
		snprintf(rp, sizeof rp, "%s/%d.in", dir, i);
		unlink(rp);
		free(in);
		free(ref);
		free(raw);
	}
	snprintf(path, sizeof path, "%s/jobs.txt", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/ref.py", dir);
	unlink(path);
	rmdir(dir);
	return bad;
}

static void test_ndimage_median_network(void **state)
{
	static const cask_dtype_t dts[] = {CASK_UINT8, CASK_INT16, CASK_UINT16, CASK_INT32,
	                                   CASK_FLOAT32, CASK_FLOAT64};
	/* (nd, shape, size): rows around the 64-output chunk and the 4/8
	 * lanes; windows of 3, 6 (even), 9, 25, 27 cells, 128 (the network
	 * limit, 1-d and 2-d) and 129 (over it: quickselect / scipy's select). */
	static const struct {
		int nd;
		int64_t shape[3];
		double size[3];
	} geo[] = {
		{1, {130, 1, 1}, {3, 0, 0}},     {2, {7, 67, 1}, {3, 3, 0}},
		{2, {6, 9, 1}, {2, 3, 0}},       {2, {5, 70, 1}, {5, 5, 0}},
		{3, {4, 5, 70}, {3, 3, 3}},      {2, {3, 5, 1}, {3, 3, 0}},
		{1, {200, 1, 1}, {128, 0, 0}},   {2, {9, 20, 1}, {8, 16, 0}},
		{1, {150, 1, 1}, {129, 0, 0}},   {3, {3, 4, 64}, {3, 1, 3}},
	};
	pyjob_t jobs[6 * 10 + 4];
	int nj = 0;
	size_t d, g;

	(void)state;
	for (d = 0; d < sizeof dts / sizeof dts[0]; d++) {
		for (g = 0; g < sizeof geo / sizeof geo[0]; g++) {
			pyjob_t *j = &jobs[nj];
			memset(j, 0, sizeof *j);
			j->kind = CASK_K_ND_MEDIAN;
			j->dtype = dts[d];
			j->nd = geo[g].nd;
			memcpy(j->shape, geo[g].shape, sizeof j->shape);
			memcpy(j->par, geo[g].size, sizeof j->par);
			j->mode = (cask_k_pad_mode_t)((nj + (int)d) % CASK_K_PAD_NMODES);
			j->cval = j->dtype == CASK_INT16 || j->dtype == CASK_INT32 ? -3.5 : 7.25;
			j->nan = (int)(g % 2 == 0);
			nj++;
		}
	}
	/* NaN as the constant padding, and an all-NaN-free float row. */
	{
		pyjob_t *j = &jobs[nj++];
		memset(j, 0, sizeof *j);
		j->kind = CASK_K_ND_MEDIAN;
		j->dtype = CASK_FLOAT64;
		j->nd = 2;
		j->shape[0] = 5;
		j->shape[1] = 66;
		j->par[0] = j->par[1] = 3;
		j->mode = CASK_K_PAD_CONSTANT;
		j->cval = NAN;
		jobs[nj] = *j;
		jobs[nj].dtype = CASK_FLOAT32;
		nj++;
	}
	assert_int_equal(run_pyjobs(jobs, nj), 0);
}

static void test_ndimage_f32_gaussian_large(void **state)
{
	pyjob_t jobs[CASK_K_PAD_NMODES + 1];
	int nj = 0, m;

	(void)state;
	for (m = 0; m < CASK_K_PAD_NMODES; m++) {
		pyjob_t *j = &jobs[nj++];
		memset(j, 0, sizeof *j);
		j->kind = CASK_K_ND_GAUSSIAN;
		j->dtype = CASK_FLOAT32;
		j->nd = 2;
		j->shape[0] = 37;
		j->shape[1] = 75;
		j->par[0] = 1.5;
		j->par[1] = 3.0;
		j->mode = (cask_k_pad_mode_t)m;
		j->cval = 0.5;
	}
	{
		pyjob_t *j = &jobs[nj++];
		memset(j, 0, sizeof *j);
		j->kind = CASK_K_ND_GAUSSIAN;
		j->dtype = CASK_FLOAT32;
		j->nd = 3;
		j->shape[0] = 6;
		j->shape[1] = 9;
		j->shape[2] = 40;
		j->par[0] = 1.0;
		j->par[1] = 0.0;
		j->par[2] = 2.0;
		j->mode = CASK_K_PAD_REFLECT;
	}
	g_use_f32 = 1;
	assert_int_equal(run_pyjobs(jobs, nj), 0);
	g_use_f32 = 0;
	/* The double path on the same cases. */
	assert_int_equal(run_pyjobs(jobs, nj), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ndimage_pad_index),
		cmocka_unit_test(test_ndimage_pad_hull),
		cmocka_unit_test(test_ndimage_pad_fill_refuses),
		cmocka_unit_test(test_ndimage_gaussian_weights),
		cmocka_unit_test(test_ndimage_numpy_exp),
		cmocka_unit_test(test_ndimage_halo),
		cmocka_unit_test(test_ndimage_check),
		cmocka_unit_test(test_ndimage_quantize),
		cmocka_unit_test(test_ndimage_zero_length),
		cmocka_unit_test(test_ndimage_whole_array),
		cmocka_unit_test(test_ndimage_blocked),
		cmocka_unit_test(test_ndimage_f32_gaussian),
		cmocka_unit_test(test_ndimage_median_network),
		cmocka_unit_test(test_ndimage_f32_gaussian_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
