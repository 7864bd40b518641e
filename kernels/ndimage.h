/*
 * ndimage.h - pure compute kernels for cask's scipy.ndimage-compatible
 * filters (issue 5): boundary padding of halo blocks and the built-in
 * filters, computed block by block so that the stitched result equals
 * scipy.ndimage (1.10) on the whole array.  No I/O, no OpenMP, no
 * allocation, no error strings.
 *
 * THE BLOCK CONTRACT
 * ------------------
 * A filter reads a PADDED block: a C-contiguous float64 n-d block (nd 1..8)
 * whose extent along axis k is ext[k] = out[k] + lo[k] + hi[k], where out is
 * the shape of the output block and lo/hi are the halo widths returned by
 * cask_k_nd_halo() for the filter.  pos[k] is the global index (in the whole
 * array of shape full[]) of the first OUTPUT cell, so padded cell j along
 * axis k stands for global index g = pos[k] - lo[k] + j.
 *   - cells with 0 <= g < full[k] on every axis hold the real array values
 *     converted to double (whatever the array's dtype);
 *   - cells with g outside [0, full[k]) on some axis hold the mode padding:
 *     for every axis the value at source index cask_k_pad_index(mode[k],
 *     full[k], g) (modes other than constant), or cask_k_nd_pad_cval() when
 *     an outside axis has mode constant.
 * Two ways to build such a block are provided: cask_k_pad_fill() completes
 * a block whose inside cells are already in place (it needs the sources of
 * every outside cell inside the block, see there), and cask_k_pad_gather()
 * builds the whole padded block from any window of the array that contains
 * the source hull given by cask_k_pad_hull() (works for every mode, also
 * wrap and axes shorter than the halo).
 *
 * COMPUTE TYPE AND OUTPUT DTYPE
 * -----------------------------
 * Decision: one compute type, double, for every input dtype (the one exception
 * is cask_k_nd_apply_f32 below, the float32 gaussian of order 0, taken for
 * speed within the float32 tolerance): scipy.ndimage reads every line into a
 * double buffer, computes in double and stores into the output array, so double
 * compute is what matches it.  The output dtype is scipy's default, the input
 * dtype.  scipy runs a separable filter as successive 1-d passes each STORED
 * into the output array, so every intermediate is rounded to the output dtype
 * (float32: rounded to float; integers: truncated and wrapped); the kernels do
 * the same quantisation between passes, which makes float32 results follow
 * scipy's float32 rounding, and integer results bit-exact.  The final store
 * converts double to the dtype with scipy's C casts as compiled on x86-64
 * (cask_k_nd_store).
 *
 * SCRATCH
 * -------
 * Kernels never allocate; cask_k_nd_scratch_bytes() says how many bytes
 * (8-byte aligned) cask_k_nd_apply needs for a given output block shape.
 */
#ifndef CASK_KERNELS_NDIMAGE_H
#define CASK_KERNELS_NDIMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "cask.h"

#define CASK_K_ND_MAXDIM 8

/* Boundary modes, named and defined as scipy.ndimage's (filters):
 *   REFLECT  (d c b a | a b c d | d c b a)  period 2n
 *   MIRROR   (d c b | a b c d | c b a)      period 2n-2 (n = 1: nearest)
 *   NEAREST  (a a a | a b c d | d d d)
 *   CONSTANT (k k k | a b c d | k k k)
 *   WRAP     (a b c d | a b c d | a b c d)  period n
 * Extensions longer than the axis repeat the rule (scipy's NI_ExtendLine
 * copies from the already extended part, which is exactly this
 * periodicity). */
typedef enum {
	CASK_K_PAD_REFLECT = 0,
	CASK_K_PAD_MIRROR,
	CASK_K_PAD_NEAREST,
	CASK_K_PAD_CONSTANT,
	CASK_K_PAD_WRAP,
	CASK_K_PAD_NMODES
} cask_k_pad_mode_t;

/* Source index in [0, n) of global index i (any int64) on an axis of length
 * n >= 1 under mode; i itself when 0 <= i < n.  For CONSTANT and i outside
 * [0, n) the answer is -1 (the cell takes cval).  n < 1 gives -1. */
int64_t cask_k_pad_index(cask_k_pad_mode_t mode, int64_t n, int64_t i);

/* The smallest source range [*s0, *s1) of an axis of length n that holds
 * cask_k_pad_index(mode, n, g) for every g in [g0, g1) (cells mapping to -1
 * need no source).  Empty ranges come back as *s0 == *s1 == 0.  The engine
 * reads this hyperslab (per axis) to build a padded block with
 * cask_k_pad_gather. */
void cask_k_pad_hull(cask_k_pad_mode_t mode, int64_t n, int64_t g0, int64_t g1, int64_t *s0,
                     int64_t *s1);

/* Complete a padded block in place.  block has extents ext[nd]; its cell j
 * on axis k stands for global index pos[k] - lo[k] + j of an array of shape
 * full[nd].  Precondition: every cell inside the array holds real data.
 * The outside cells of each axis in turn (axis 0 first, over the full extent
 * of the other axes) are set to cval (CONSTANT) or copied from the block's
 * cell at the source index.
 * What the engine must guarantee for this to work: for every axis k with a
 * mode other than CONSTANT and every outside global index g of the block,
 * the source s = cask_k_pad_index(mode[k], full[k], g) lies in the block,
 * i.e. pos[k] - lo[k] <= s < pos[k] - lo[k] + ext[k].  Sufficient:
 *   - NEAREST: always;
 *   - any mode: the block spans the whole axis (then also halos longer
 *     than the axis work: repeated reflection stays inside);
 *   - REFLECT: at each edge, the number of outside cells is at most the
 *     number of the block's cells inside the array; MIRROR: at most that
 *     number minus one;
 *   - WRAP: only when the block spans the whole axis.
 * A block whose halo does not reach outside needs nothing.
 * Returns 0 when filled, -1 (block untouched) when a source lies outside
 * the block: then use cask_k_pad_gather. */
int cask_k_pad_fill(int nd, const int64_t *ext, const int64_t *lo, const int64_t *pos,
                    const int64_t *full, const cask_k_pad_mode_t *mode, double cval,
                    double *block);

/* Build a padded block from a window of the array: block (extents ext[nd],
 * C-contiguous double) cell j stands for global index g0[k] + j; win is a
 * C-contiguous window of dtype wt, extents wext[nd], whose first cell is at
 * global index w0[k], and must contain the hull of every axis
 * (cask_k_pad_hull(mode[k], full[k], g0[k], g0[k] + ext[k])).  A cell whose
 * index is outside the array on an axis with mode CONSTANT takes cval;
 * otherwise it takes win at the source indices, converted to double. */
void cask_k_pad_gather(int nd, const int64_t *ext, const int64_t *g0, const int64_t *full,
                       const cask_k_pad_mode_t *mode, double cval, cask_dtype_t wt,
                       const void *win, const int64_t *w0, const int64_t *wext, double *block);

/* ------------------------------------------------------------- filters */

typedef enum {
	CASK_K_ND_CORRELATE1D = 0, /* weights[wshape[0]] along axis, origin[axis] */
	CASK_K_ND_CONVOLVE1D,      /* reversed weights, scipy's origin rule */
	CASK_K_ND_GAUSSIAN,        /* sigma[], order[], truncate */
	CASK_K_ND_UNIFORM,         /* size[], origin[] */
	CASK_K_ND_MINIMUM,         /* size[], origin[] (separable, as scipy with size) */
	CASK_K_ND_MAXIMUM,         /* size[], origin[] */
	CASK_K_ND_MEDIAN,          /* size[], origin[]; one mode for all axes */
	CASK_K_ND_SOBEL,           /* axis */
	CASK_K_ND_PREWITT,         /* axis */
	CASK_K_ND_LAPLACE,         /* (no parameters) */
	CASK_K_ND_GAUSSIAN_GRADIENT_MAGNITUDE, /* sigma[], truncate; one mode */
	CASK_K_ND_GAUSSIAN_LAPLACE,            /* sigma[], truncate; one mode */
	CASK_K_ND_CORRELATE,       /* weights of shape wshape[nd] (C order), origin[] */
	CASK_K_ND_CONVOLVE,        /* flipped weights, scipy's origin rule */
	CASK_K_ND_NFILTERS
} cask_k_nd_filter_t;

/* A filter and its parameters, scipy's meaning and defaults (zero-initialise,
 * then set what you need; truncate 0 means scipy's default 4.0).  weights is
 * borrowed for the duration of the calls. */
typedef struct {
	cask_k_nd_filter_t kind;
	int nd;                                /* 1..CASK_K_ND_MAXDIM */
	cask_k_pad_mode_t mode[CASK_K_ND_MAXDIM];
	double cval;
	double sigma[CASK_K_ND_MAXDIM];        /* axes with sigma <= 1e-15 are skipped */
	int order[CASK_K_ND_MAXDIM];           /* GAUSSIAN: 0, 1 or 2 per axis */
	double truncate;                       /* radius = (int)(truncate*sigma + 0.5) */
	int64_t size[CASK_K_ND_MAXDIM];        /* >= 1; 0 is read as 1 */
	int64_t origin[CASK_K_ND_MAXDIM];      /* -(n/2) <= origin <= (n-1)/2 */
	int axis;                              /* 0..nd-1 */
	const double *weights;                 /* CORRELATE*, CONVOLVE* */
	int64_t wshape[CASK_K_ND_MAXDIM];      /* 1-d: wshape[0] = length */
} cask_k_nd_spec_t;

/* Why a spec is refused (cask_k_nd_check). */
enum {
	CASK_K_ND_OK = 0,
	CASK_K_ND_BAD_KIND,
	CASK_K_ND_BAD_NDIM,
	CASK_K_ND_BAD_MODE,    /* unknown mode, or per-axis modes where scipy takes one */
	CASK_K_ND_BAD_SIGMA,   /* negative / non-finite sigma or truncate, radius > 2^20 */
	CASK_K_ND_BAD_ORDER,
	CASK_K_ND_BAD_SIZE,
	CASK_K_ND_BAD_ORIGIN,
	CASK_K_ND_BAD_AXIS,
	CASK_K_ND_BAD_WEIGHTS  /* NULL, empty or non-finite weights */
};

/* 0 (CASK_K_ND_OK) if the spec is valid, else one of the codes above.  The
 * other functions assume a valid spec. */
int cask_k_nd_check(const cask_k_nd_spec_t *f);

/* Halo widths lo[nd], hi[nd] the filter needs (scipy: for a window of n
 * cells with origin o, lo = n/2 + o and hi = n - 1 - lo; gaussian radius r:
 * lo = hi = r; convolve uses the correlate origin -o, minus 1 for even n). */
void cask_k_nd_halo(const cask_k_nd_spec_t *f, int64_t *lo, int64_t *hi);

/* The constant-mode padding value the engine must put in outside cells:
 * cval, except for MEDIAN on windows of more than 2 cells where scipy's
 * rank filter first casts cval to the INPUT dtype it (e.g. 0.5 -> 0 for
 * uint8, -1 -> 255). */
double cask_k_nd_pad_cval(const cask_k_nd_spec_t *f, cask_dtype_t in_dtype);

/* Scratch bytes cask_k_nd_apply needs for an output block of shape out[nd]
 * (0 for empty blocks); SIZE_MAX if the size overflows. */
size_t cask_k_nd_scratch_bytes(const cask_k_nd_spec_t *f, const int64_t *out);

/* Filter one block.
 *   f       valid spec;
 *   odt     output dtype = the array's dtype (scipy's default output);
 *           every dtype but BOOL; 8/16-bit integers, float32 and float64
 *           match scipy exactly (see deviations in ndimage.c);
 *   out     output block shape out[nd] (zero extents allowed: no-op);
 *   pos     global index of the first output cell, full the array shape
 *           (to know which halo cells lie outside the array);
 *   in      padded block (extents out + lo + hi, see the block contract);
 *   y       output block, C-contiguous, dtype odt;
 *   scratch cask_k_nd_scratch_bytes(f, out) bytes, 8-byte aligned.
 * in is not modified. */
void cask_k_nd_apply(const cask_k_nd_spec_t *f, cask_dtype_t odt, const int64_t *out,
                     const int64_t *pos, const int64_t *full, const double *in, void *y,
                     void *scratch);

/* The float32 path: gaussian_filter of order 0 on every axis, on a float32
 * array, computed in float arithmetic (scipy computes in double and rounds
 * each pass to float; the float sums of the positive weights differ from
 * that by a few float ulps, about 1e-6 relative, inside the float32
 * tolerance of 1e-5 * max|ref|) on a float32 padded block, twice the
 * vector lanes and half the memory traffic of the double path.
 * cask_k_nd_f32_ok says whether f qualifies; the block contract is that of
 * cask_k_nd_apply with float cells (cval as float); y is the float32
 * output block; scratch is cask_k_nd_scratch_bytes_f32(f, out) bytes,
 * 8-byte aligned. */
int cask_k_nd_f32_ok(const cask_k_nd_spec_t *f);
size_t cask_k_nd_scratch_bytes_f32(const cask_k_nd_spec_t *f, const int64_t *out);
void cask_k_nd_apply_f32(const cask_k_nd_spec_t *f, const int64_t *out, const int64_t *pos,
                         const int64_t *full, const float *in, float *y, void *scratch);

/* ------------------------------------------------ building blocks (exposed
 * for the engine's fused pipelines and for tests) */

/* exp as NumPy 1.24 computes it for float64 arrays: svml 1 its AVX-512
 * path (Intel SVML's __svml_exp8, redone operation for operation), 0
 * libm's exp, which NumPy calls on other CPUs. */
double cask_k_nd_numpy_exp(double x, int svml);
/* Whether NumPy takes that AVX-512 path on this CPU (its AVX512_SKX
 * features: AVX-512 F, CD, VL, BW and DQ). */
int cask_k_nd_numpy_svml(void);

/* scipy 1.10's _gaussian_kernel1d(sigma, order, radius)[::-1], i.e. the
 * correlation weights gaussian_filter1d uses, bit for bit (NumPy's exp on
 * this CPU, its pairwise sum and OpenBLAS's fused multiply-add
 * reproduced): w[2*radius+1].  order 0..2; tmp is scratch of 2*radius+1
 * doubles. */
void cask_k_nd_gaussian_weights(double sigma, int order, int64_t radius, double *w,
                                double *tmp);

/* Gaussian radius: (int64)(truncate*sigma + 0.5). */
int64_t cask_k_nd_gaussian_radius(double sigma, double truncate);

/* One correlate1d pass along axis of a C-contiguous block x of extents
 * ext[nd]: y has the same extents except ext[axis] - n + 1 along axis and
 * y[.., l, ..] = sum_k w[k] x[.., l + k, ..] with scipy's arithmetic (its
 * symmetric / antisymmetric evaluation order), so that the result equals
 * NI_Correlate1D's bit for bit.  Non-last axes are processed as whole rows. */
void cask_k_nd_correlate1d(int nd, const int64_t *ext, int axis, int64_t n,
                           const double *w, const double *x, double *y);

/* Value as stored in dtype t by scipy and read back as double: the
 * quantisation between passes.  For integer t: C's (T)v on x86-64
 * (truncation toward zero, 32-bit conversion then wrap; NaN and out of
 * range -> INT32_MIN's low bits). */
double cask_k_nd_quantize(cask_dtype_t t, double v);

/* y[i] = (t) x[i] with the same conversion, n elements. */
void cask_k_nd_store(int64_t n, cask_dtype_t t, const double *x, void *y);

#endif /* CASK_KERNELS_NDIMAGE_H */
