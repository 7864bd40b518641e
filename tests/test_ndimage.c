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
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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
		if (fabs(c->ref[i]) > maxref)
			maxref = fabs(c->ref[i]);
	for (i = 0; i < n; i++) {
		double e = fabs(get(c->dtype, y, i) - c->ref[i]);
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
	scr = malloc(cask_k_nd_scratch_bytes(&f, c->shape) + 8);
	assert_true(blk && y && scr);
	inside_block(c, x, ext, g0, blk);
	rc = cask_k_pad_fill(c->nd, ext, lo, zero, c->shape, f.mode,
	                     cask_k_nd_pad_cval(&f, c->dtype), blk);
	if (rc != 0) {
		print_error("%s: pad_fill refused the whole array\n", c->name);
		bad = 1;
	} else {
		cask_k_nd_apply(&f, c->dtype, c->shape, zero, c->shape, blk, y, scr);
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
		scrmax = cask_k_nd_scratch_bytes(&f, bsh);
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
		cask_k_nd_apply(&f, c->dtype, out, pos, c->shape, blk, yb, scr);
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
	/* Bit-exact against scipy's _gaussian_kernel1d(sigma, order, r)[::-1]. */
	for (r = 0; r < sizeof ndref_gw / sizeof ndref_gw[0]; r++) {
		assert_int_equal(cask_k_nd_gaussian_radius(ndref_gw[r].sigma, 4.0),
		                 ndref_gw[r].radius);
		cask_k_nd_gaussian_weights(ndref_gw[r].sigma, ndref_gw[r].order, ndref_gw[r].radius,
		                           w, tmp);
		for (i = 0; i < 2 * ndref_gw[r].radius + 1; i++)
			assert_memory_equal(&w[i], &ndref_gw[r].w[i], sizeof(double));
	}
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ndimage_pad_index),
		cmocka_unit_test(test_ndimage_pad_hull),
		cmocka_unit_test(test_ndimage_pad_fill_refuses),
		cmocka_unit_test(test_ndimage_gaussian_weights),
		cmocka_unit_test(test_ndimage_halo),
		cmocka_unit_test(test_ndimage_check),
		cmocka_unit_test(test_ndimage_quantize),
		cmocka_unit_test(test_ndimage_zero_length),
		cmocka_unit_test(test_ndimage_whole_array),
		cmocka_unit_test(test_ndimage_blocked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
