/*
 * elementwise.c - the elementwise ufunc loops of cask (cask_k_binary,
 * cask_k_unary) and the select loop cask_k_where.
 *
 * The per-dtype loops come from elementwise.inc.c, included once per dtype;
 * each op of each dtype is a real named function (add_i32, sqrt_f32, ...)
 * and the dispatch tables below map (op, dtype) to it, NULL where NumPy has
 * no such loop.
 *
 * Every loop has four variants so that the compiler vectorises the common
 * cases: both inputs contiguous, one input a broadcast scalar (stride 0) and
 * the other contiguous, and the general strided fallback (any stride,
 * including negative ones).  Outputs are contiguous.
 *
 * Semantics (NumPy 1.24 ufunc loops):
 *  - integer + - * neg abs pow wrap modulo 2^bits (done in unsigned types);
 *  - integer // and % are Python's floor division and modulo; by zero they
 *    give 0, INT_MIN // -1 wraps to INT_MIN and INT_MIN % -1 is 0;
 *  - integer ** with a negative exponent (NumPy raises ValueError) gives 1
 *    for base 1, +1/-1 for base -1 (even/odd exponent) and 0 otherwise; the
 *    evaluator refuses such exponents first (cask_k_any_negative), so
 *    these values never reach a result;
 *  - float // and % follow npy_floor_divide / npy_remainder (npy_divmod);
 *  - minimum/maximum propagate NaN; for equal operands (-0.0, 0.0) they
 *    return the second one, as NumPy's x86 SIMD loops do;
 *  - sign(-0.0) = 0.0, sign(NaN) = NaN; rint rounds half to even;
 *  - comparisons involving NaN are false except NE;
 *  - on bool: ADD is or, MUL is and, MINIMUM is and, MAXIMUM is or, INVERT
 *    is logical not; inputs are read as "nonzero is true".
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <tgmath.h>

#include "kernels.h"

#define EW_PASTE_(a, b) a##_##b
#define EW_PASTE(a, b) EW_PASTE_(a, b)

/* Loop bodies shared by every binary kernel: a_, b_, out_, n, sa, sb are the
 * kernel's parameters, OP a static inline scalar function. */
#define BINARY_BODY(IT, OT, OP)                                                 \
	const IT *a = a_;                                                       \
	const IT *b = b_;                                                       \
	OT *out = out_;                                                         \
	if (n <= 0)                                                             \
		return;                                                         \
	if (sa == 1 && sb == 1) {                                               \
		for (int64_t i = 0; i < n; i++)                                 \
			out[i] = OP(a[i], b[i]);                                \
	} else if (sa == 1 && sb == 0) {                                        \
		const IT y = b[0];                                              \
		for (int64_t i = 0; i < n; i++)                                 \
			out[i] = OP(a[i], y);                                   \
	} else if (sa == 0 && sb == 1) {                                        \
		const IT x = a[0];                                              \
		for (int64_t i = 0; i < n; i++)                                 \
			out[i] = OP(x, b[i]);                                   \
	} else {                                                                \
		for (int64_t i = 0; i < n; i++)                                 \
			out[i] = OP(a[i * sa], b[i * sb]);                      \
	}

#define UNARY_BODY(IT, OT, OP)                                                  \
	const IT *a = a_;                                                       \
	OT *out = out_;                                                         \
	if (n <= 0)                                                             \
		return;                                                         \
	if (sa == 1) {                                                          \
		for (int64_t i = 0; i < n; i++)                                 \
			out[i] = OP(a[i]);                                      \
	} else if (sa == 0) {                                                   \
		const OT v = OP(a[0]);                                          \
		for (int64_t i = 0; i < n; i++)                                 \
			out[i] = v;                                             \
	} else {                                                                \
		for (int64_t i = 0; i < n; i++)                                 \
			out[i] = OP(a[i * sa]);                                 \
	}

#define T uint8_t
#define UW unsigned int
#define SFX b
#define KIND_BOOL
#include "elementwise.inc.c"

#define T int8_t
#define UW unsigned int
#define SFX i8
#define KIND_SINT
#include "elementwise.inc.c"

#define T int16_t
#define UW unsigned int
#define SFX i16
#define KIND_SINT
#include "elementwise.inc.c"

#define T int32_t
#define UW uint32_t
#define SFX i32
#define KIND_SINT
#include "elementwise.inc.c"

#define T int64_t
#define UW uint64_t
#define SFX i64
#define KIND_SINT
#include "elementwise.inc.c"

#define T uint8_t
#define UW unsigned int
#define SFX u8
#define KIND_UINT
#include "elementwise.inc.c"

#define T uint16_t
#define UW unsigned int
#define SFX u16
#define KIND_UINT
#include "elementwise.inc.c"

#define T uint32_t
#define UW uint32_t
#define SFX u32
#define KIND_UINT
#include "elementwise.inc.c"

#define T uint64_t
#define UW uint64_t
#define SFX u64
#define KIND_UINT
#include "elementwise.inc.c"

#define T float
#define UW unsigned int
#define SFX f32
#define KIND_FLOAT
#include "elementwise.inc.c"

#define T double
#define UW unsigned int
#define SFX f64
#define KIND_FLOAT
#include "elementwise.inc.c"

static const cask_k_binary_fn *const binary_rows[CASK_NDTYPES] = {
	[CASK_BOOL] = binary_row_b,     [CASK_INT8] = binary_row_i8,
	[CASK_INT16] = binary_row_i16,  [CASK_INT32] = binary_row_i32,
	[CASK_INT64] = binary_row_i64,  [CASK_UINT8] = binary_row_u8,
	[CASK_UINT16] = binary_row_u16, [CASK_UINT32] = binary_row_u32,
	[CASK_UINT64] = binary_row_u64, [CASK_FLOAT32] = binary_row_f32,
	[CASK_FLOAT64] = binary_row_f64,
};

static const cask_k_unary_fn *const unary_rows[CASK_NDTYPES] = {
	[CASK_BOOL] = unary_row_b,     [CASK_INT8] = unary_row_i8,
	[CASK_INT16] = unary_row_i16,  [CASK_INT32] = unary_row_i32,
	[CASK_INT64] = unary_row_i64,  [CASK_UINT8] = unary_row_u8,
	[CASK_UINT16] = unary_row_u16, [CASK_UINT32] = unary_row_u32,
	[CASK_UINT64] = unary_row_u64, [CASK_FLOAT32] = unary_row_f32,
	[CASK_FLOAT64] = unary_row_f64,
};

cask_k_binary_fn cask_k_binary(cask_op_t op, cask_dtype_t t)
{
	if ((unsigned)op >= CASK_NOPS || (unsigned)t >= CASK_NDTYPES)
		return NULL;
	return binary_rows[t][op];
}

cask_k_unary_fn cask_k_unary(cask_op_t op, cask_dtype_t t)
{
	if ((unsigned)op >= CASK_NOPS || (unsigned)t >= CASK_NDTYPES)
		return NULL;
	return unary_rows[t][op];
}

/* ------------------------------------------------------------------ where */

/* One select loop per element size; elements are moved as unsigned integers
 * of that size, so any dtype (NaN payloads included) is copied bit-exactly. */
#define WHERE_LOOP(ET)                                                          \
	do {                                                                    \
		const ET *pa = a;                                               \
		const ET *pb = b;                                               \
		ET *po = out;                                                   \
		if (sc == 1 && sa == 1 && sb == 1) {                            \
			for (int64_t i = 0; i < n; i++)                         \
				po[i] = c[i] ? pa[i] : pb[i];                   \
		} else {                                                        \
			for (int64_t i = 0; i < n; i++)                         \
				po[i] = c[i * sc] ? pa[i * sa] : pb[i * sb];    \
		}                                                               \
	} while (0)

static void where_1(int64_t n, const uint8_t *c, int64_t sc, const void *a, int64_t sa,
                    const void *b, int64_t sb, void *out)
{
	WHERE_LOOP(uint8_t);
}

static void where_2(int64_t n, const uint8_t *c, int64_t sc, const void *a, int64_t sa,
                    const void *b, int64_t sb, void *out)
{
	WHERE_LOOP(uint16_t);
}

static void where_4(int64_t n, const uint8_t *c, int64_t sc, const void *a, int64_t sa,
                    const void *b, int64_t sb, void *out)
{
	WHERE_LOOP(uint32_t);
}

static void where_8(int64_t n, const uint8_t *c, int64_t sc, const void *a, int64_t sa,
                    const void *b, int64_t sb, void *out)
{
	WHERE_LOOP(uint64_t);
}

#define ANY_NEGATIVE(T)                                                     \
	do {                                                                \
		const T *x = a;                                             \
		for (int64_t i = 0; i < n; i++)                             \
			if (x[i * sa] < 0)                                  \
				return 1;                                   \
		return 0;                                                   \
	} while (0)

int cask_k_any_negative(int64_t n, cask_dtype_t t, const void *a, int64_t sa)
{
	switch (t) {
	case CASK_INT8: ANY_NEGATIVE(int8_t);
	case CASK_INT16: ANY_NEGATIVE(int16_t);
	case CASK_INT32: ANY_NEGATIVE(int32_t);
	case CASK_INT64: ANY_NEGATIVE(int64_t);
	default: return 0;
	}
}

#undef ANY_NEGATIVE

void cask_k_where(int64_t n, size_t es, const uint8_t *c, int64_t sc, const void *a,
                  int64_t sa, const void *b, int64_t sb, void *out)
{
	if (n <= 0)
		return;
	switch (es) {
	case 1:
		where_1(n, c, sc, a, sa, b, sb, out);
		break;
	case 2:
		where_2(n, c, sc, a, sa, b, sb, out);
		break;
	case 4:
		where_4(n, c, sc, a, sa, b, sb, out);
		break;
	case 8:
		where_8(n, c, sc, a, sa, b, sb, out);
		break;
	default:
		/* Other sizes are outside the contract; copy bytes all the same. */
		for (int64_t i = 0; i < n; i++) {
			const char *src = c[i * sc] ? (const char *)a + i * sa * (int64_t)es
			                            : (const char *)b + i * sb * (int64_t)es;
			memcpy((char *)out + i * (int64_t)es, src, es);
		}
		break;
	}
}
