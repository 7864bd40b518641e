/*
 * kernels.h - pure compute loops of cask: no I/O, no OpenMP, no allocation,
 * no error strings.  Every kernel is a plain C function that a debugger and a
 * profiler can name; dispatch tables map (op, dtype) to them.
 *
 * Contract shared by all kernels (after BLIS):
 *  - dimensions first, then inputs with explicit strides, then outputs;
 *  - strides are in ELEMENTS (not bytes) and may be 0 (broadcast) or
 *    negative; outputs are contiguous unless a stride is given;
 *  - bool is one byte holding 0 or 1; kernels producing bool write 0 or 1;
 *  - integer arithmetic wraps modulo 2^bits like NumPy (computed in unsigned
 *    arithmetic so C never sees signed overflow); integer // and % by zero
 *    give 0; INT_MIN // -1 wraps to INT_MIN; never a trap;
 *  - float semantics follow NumPy's ufunc loops (npy_divmod for // and %,
 *    NaN-propagating minimum/maximum, rint = round half to even);
 *  - integer POW with a negative exponent (NumPy raises ValueError) gives
 *    1 for base 1, +1/-1 for base -1 (even/odd exponent), 0 otherwise; the
 *    callers check exponents with cask_k_any_negative first and fail as
 *    NumPy does, so these values are never returned to a user.
 */
#ifndef CASK_KERNELS_H
#define CASK_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "cask.h"

/* ------------------------------------------------------------ elementwise */

/* out[i] = op(a[i*sa], b[i*sb]) for i < n.  Inputs both of dtype t; out is of
 * dtype t, or bool for comparisons (LT..NE).  Logical ops (LOGICAL_*) take
 * bool inputs only (the array layer casts first). */
typedef void (*cask_k_binary_fn)(int64_t n, const void *a, int64_t sa, const void *b,
                                 int64_t sb, void *out);
/* out[i] = op(a[i*sa]).  Input dtype t; out of dtype t except ISNAN, ISINF,
 * ISFINITE (bool out, defined for every t) and LOGICAL_NOT (bool in, bool out). */
typedef void (*cask_k_unary_fn)(int64_t n, const void *a, int64_t sa, void *out);

/* The kernel for (op, t), or NULL when NumPy has no such loop (e.g. SQRT on
 * int32: the array layer promotes to a float type first; SUB on bool;
 * AND on float).  Which loops exist:
 *   ADD SUB MUL: all numeric; ADD/MUL on bool (or/and); SUB not on bool
 *   DIV: float32, float64
 *   FLOORDIV MOD POW: all numeric (not bool)
 *   LT LE GT GE EQ NE: all dtypes incl. bool -> bool out
 *   AND OR XOR: bool and ints;  LOGICAL_AND/OR/XOR: bool only
 *   MINIMUM MAXIMUM: all dtypes;  ARCTAN2 HYPOT: floats
 *   NEG: numeric (not bool);  ABS: all (bool: identity);  SIGN: numeric
 *   SQRT..TANH, FLOOR CEIL RINT: floats
 *   ISNAN ISINF ISFINITE: all (ints: constant result)
 *   INVERT: bool (logical not) and ints (bitwise);  LOGICAL_NOT: bool */
cask_k_binary_fn cask_k_binary(cask_op_t op, cask_dtype_t t);
cask_k_unary_fn cask_k_unary(cask_op_t op, cask_dtype_t t);

/* 1 if any of the n elements a[i*sa] (signed integer dtype t) is negative,
 * else 0; 0 for every other dtype.  The evaluator's check of integer POW
 * exponents (NumPy raises "Integers to negative integer powers are not
 * allowed."). */
int cask_k_any_negative(int64_t n, cask_dtype_t t, const void *a, int64_t sa);

/* Cast n elements: dst[i] = (dt) src[i*ss].  Any pair of dtypes.  Float to
 * int truncates toward zero; NaN, inf or out-of-range float to int gives
 * NumPy's x86-64 result (C would be undefined; see cast.c).  To bool: != 0
 * (NaN is true).  Int to float rounds to nearest. */
void cask_k_cast(int64_t n, cask_dtype_t st, const void *src, int64_t ss, cask_dtype_t dt,
                 void *dst);

/* out[i] = c[i*sc] ? a[i*sa] : b[i*sb]; c is bool; a, b, out of element
 * size es bytes (1, 2, 4 or 8). */
void cask_k_where(int64_t n, size_t es, const uint8_t *c, int64_t sc, const void *a,
                  int64_t sa, const void *b, int64_t sb, void *out);

/* Strided gather of an n-d view into a contiguous buffer:
 * dst[C-order index of (i0..i_{nd-1})] = src[sum_k i_k * strides[k]],
 * element size es bytes, counts[nd], strides in elements (may be 0 or
 * negative).  nd 0 copies one element. */
void cask_k_gather(int nd, const int64_t *counts, size_t es, const void *src,
                   const int64_t *strides, void *dst);

/* Strided n-d copy: dst[sum i_k*ds_k] = src[sum i_k*ss_k] (element strides,
 * element size es; nd 0 copies one element). */
void cask_k_copy_nd(int nd, const int64_t *counts, size_t es, const void *src,
                    const int64_t *ss, void *dst, const int64_t *ds);

/* ---------------------------------------------------------------- random */

/* Philox4x32-10 (Salmon et al. 2011) keyed by seed, counter = element flat
 * index: out[i] for flat indices first, first+1, ..., first+n-1.
 * Uniform: [0,1) with 53 random bits (f8) or 24 bits (f4).
 * Normal: Box-Muller on two uniforms from the same counter block. */
void cask_k_random_uniform_f64(int64_t n, uint64_t seed, int64_t first, double *out);
void cask_k_random_uniform_f32(int64_t n, uint64_t seed, int64_t first, float *out);
void cask_k_random_normal_f64(int64_t n, uint64_t seed, int64_t first, double *out);
void cask_k_random_normal_f32(int64_t n, uint64_t seed, int64_t first, float *out);
/* The raw Philox4x32-10 block function (for known-answer tests): out =
 * philox(ctr, key). */
void cask__random_philox(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* ------------------------------------------------------------ reductions */

/*
 * Reductions run in three steps (after dask's chunk/combine/aggregate):
 *   block:  a C-contiguous n-d block x (shape[nd]) reduced over the axes in
 *           redmask (bit k = axis k) into a FRESH partial state with one
 *           entry per element of the kept sub-shape (C order);
 *   merge:  acc = merge(acc, other), entry by entry, for partials of blocks
 *           that follow each other (acc first: fixed order makes results
 *           bit-reproducible);
 *   final:  partial -> result values of the result dtype.
 * A partial entry is cask_k_red_state_size(op) bytes.  Entry layouts:
 *   SUM PROD NANSUM NANPROD COUNT_NONZERO: one int64 (signed/bool input),
 *       uint64 (unsigned input) or double (float input) accumulator;
 *   MIN MAX NANMIN NANMAX: the value as double (float input), int64 or uint64,
 *       followed by an int64 count of values seen (to detect empty/all-NaN);
 *   ARGMIN ARGMAX: value (as above) + int64 global index + int64 count;
 *   ANY ALL: uint64 0/1;
 *   MEAN VAR STD NANMEAN NANVAR NANSTD: double n, double mean, double m2
 *       (within a block a two-pass mean then sum of squared deviations;
 *       merged with Chan et al.'s pairwise update).
 * Sums over a contiguous reduced inner run are pairwise (as NumPy's).
 * ARGMIN/ARGMAX need the block's place in the whole array: origin[nd] and
 * full[nd]; the index stored is the C-order flat index over the reduced
 * axes of the full array (one axis: the index along it).  NaN handling as
 * NumPy: min/max/argmin/argmax propagate NaN (first NaN wins for arg*), nan*
 * skip NaN.  Float sums/means accumulate in double for float32 input too.
 */
size_t cask_k_red_state_size(cask_redop_t op);
/* Result dtype of op on input dtype t (NumPy's). */
cask_dtype_t cask_k_red_result_dtype(cask_redop_t op, cask_dtype_t t);
/* Set n entries to the identity (empty reduction). */
void cask_k_red_init(cask_redop_t op, cask_dtype_t t, int64_t n, void *state);
void cask_k_red_block(cask_redop_t op, cask_dtype_t t, int nd, const int64_t *shape,
                      uint32_t redmask, const void *x, const int64_t *origin,
                      const int64_t *full, void *state);
void cask_k_red_merge(cask_redop_t op, cask_dtype_t t, int64_t n, void *acc,
                      const void *other);
/* Write n results of dtype cask_k_red_result_dtype(op, t) into out.
 * Returns 0, or 1 if some entry had no values for an op without identity
 * (min/max/arg* of nothing) -- the caller turns that into an error.
 * Empty mean/var -> NaN; all-NaN nanmin/nanmax -> NaN (NumPy warns too). */
int cask_k_red_final(cask_redop_t op, cask_dtype_t t, int64_t n, const void *state,
                     int ddof, void *out);

/* ------------------------------------------------------------ skinny products */

/* Products with a narrow side of k <= CASK_K_SKINNY_MAX columns, reading
 * the large operand a in place (no packing), float64, row-major:
 *   nn: c (rows x k, ldc) = a (rows x n, lda) b (n x k, ldb) + beta c
 *       (beta 0: c is not read);
 *   tn: z (n x k, ldz) += a^T b, a rows x n (lda), b rows x k (ldb).
 * Return 0, or -1 (nothing done) when the CPU or compiler lacks AVX-512,
 * CASK_SKINNY=0 is set, or k is out of range: the caller then uses BLAS.  Fixed summation order:
 * bit-identical results between runs (not equal to dgemm's). */
#define CASK_K_SKINNY_MAX 48
int cask_k_skinny_available(void);
int cask_k_skinny_nn(int64_t rows, int64_t n, int64_t k, const double *a, int64_t lda,
                     const double *b, int64_t ldb, double beta, double *c, int64_t ldc);
int cask_k_skinny_tn(int64_t rows, int64_t n, int64_t k, const double *a, int64_t lda,
                     const double *b, int64_t ldb, double *z, int64_t ldz);

/* w[i + j*ldw] = a[i*lda + j] (row-major rows x n into column-major) with
 * 8 x 8 AVX-512 transposes.  0, 1 if some element is NaN or Inf (all are
 * copied anyway), -1 (nothing done) when skinny kernels are unavailable. */
int cask_k_colmajor_f64(int64_t rows, int64_t n, const double *a, int64_t lda, double *w,
                        int64_t ldw);

/* ------------------------------------------------------------ integer products */

/* Exact integer products modulo 2^64 (gemm_i64.c), row-major int64:
 *   nn: c (rows x k, ldc) = a (rows x n, lda) b (n x k, ldb) (c not read);
 *   tn: z (n x k, ldz) += a^T b, a rows x n (lda), b rows x k (ldb).
 * Wraparound like NumPy's integer matmul once the caller truncates the
 * result to the result type; any dimension may be 0. */
void cask_k_gemm_nn_i64(int64_t rows, int64_t n, int64_t k, const int64_t *a, int64_t lda,
                        const int64_t *b, int64_t ldb, int64_t *c, int64_t ldc);
void cask_k_gemm_tn_i64(int64_t rows, int64_t n, int64_t k, const int64_t *a, int64_t lda,
                        const int64_t *b, int64_t ldb, int64_t *z, int64_t ldz);

/* ------------------------------------------------------------ Householder QR */

/* The QR of [a; b], a (ib x ib, upper triangular, lda) over b (rows x ib,
 * ldb), column-major: LAPACK's dtpqrt2 with l = 0.  On return a holds R,
 * b the reflectors' vectors V ([I; V] the reflectors), t (ib x ib, ldt;
 * zeros below the diagonal) the upper triangular T of the block
 * reflector I - [I; V] T [I; V]^T, as dtpqrt2 leaves them (equal up to
 * rounding: the sums run in another order).  d: ib doubles of workspace.
 * Returns 0, or -1 for bad sizes (nothing done).  See houseqr.c. */
int cask_k_tpqr_panel(int64_t rows, int64_t ib, double *a, int64_t lda, double *b, int64_t ldb,
                      double *t, int64_t ldt, double *d);

#endif /* CASK_KERNELS_H */
