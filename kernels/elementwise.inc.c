/*
 * elementwise.inc.c - the elementwise loops of one dtype.  Included once per
 * dtype by elementwise.c, never compiled on its own.
 *
 * Parameters (defined by the includer, undefined again afterwards):
 *   T    the element type;
 *   UW   an unsigned type at least as wide as T and as unsigned int, in which
 *        integer arithmetic is done so that C never sees signed overflow
 *        (integer promotion would otherwise turn uint16 * uint16 into a
 *        signed int multiplication);
 *   SFX  the name suffix (b, i8, ..., f64): functions are named op_SFX;
 *   exactly one of KIND_BOOL, KIND_SINT, KIND_UINT, KIND_FLOAT.
 *
 * Every op is first a static inline scalar function (s_<op>_SFX), then a
 * named loop (<op>_SFX) built by BINARY_BODY / UNARY_BODY with the
 * contiguous, broadcast and strided variants.  At the end the file emits the
 * dispatch rows binary_row_SFX and unary_row_SFX.  Floating point maths calls
 * go through <tgmath.h>, so that float loops call sqrtf, expf, ...
 */

#define FN(name) EW_PASTE(name, SFX)

/* ------------------------------------------------------ binary scalar ops */

#if defined(KIND_BOOL)

static inline T FN(s_add)(T x, T y) { return (T)((x | y) != 0); }
static inline T FN(s_mul)(T x, T y) { return (T)(x != 0 && y != 0); }
static inline T FN(s_and)(T x, T y) { return (T)(x != 0 && y != 0); }
static inline T FN(s_or)(T x, T y) { return (T)((x | y) != 0); }
static inline T FN(s_xor)(T x, T y) { return (T)((x != 0) != (y != 0)); }
static inline T FN(s_minimum)(T x, T y) { return (T)(x != 0 && y != 0); }
static inline T FN(s_maximum)(T x, T y) { return (T)((x | y) != 0); }
static inline uint8_t FN(s_lt)(T x, T y) { return (x != 0) < (y != 0); }
static inline uint8_t FN(s_le)(T x, T y) { return (x != 0) <= (y != 0); }
static inline uint8_t FN(s_gt)(T x, T y) { return (x != 0) > (y != 0); }
static inline uint8_t FN(s_ge)(T x, T y) { return (x != 0) >= (y != 0); }
static inline uint8_t FN(s_eq)(T x, T y) { return (x != 0) == (y != 0); }
static inline uint8_t FN(s_ne)(T x, T y) { return (x != 0) != (y != 0); }

#else /* numeric */

static inline uint8_t FN(s_lt)(T x, T y) { return x < y; }
static inline uint8_t FN(s_le)(T x, T y) { return x <= y; }
static inline uint8_t FN(s_gt)(T x, T y) { return x > y; }
static inline uint8_t FN(s_ge)(T x, T y) { return x >= y; }
static inline uint8_t FN(s_eq)(T x, T y) { return x == y; }
static inline uint8_t FN(s_ne)(T x, T y) { return x != y; }

#if defined(KIND_FLOAT)

static inline T FN(s_add)(T x, T y) { return x + y; }
static inline T FN(s_sub)(T x, T y) { return x - y; }
static inline T FN(s_mul)(T x, T y) { return x * y; }
static inline T FN(s_div)(T x, T y) { return x / y; }

/* NumPy's npy_divmod: the floor quotient, snapped to an integral value, and
 * the remainder with the sign of the divisor.  b must not be 0. */
static inline T FN(divmod)(T a, T b, T *modulus)
{
	T mod = fmod(a, b);
	T div = (a - mod) / b;
	T floordiv;

	if (mod) {
		if (isless(b, (T)0) != isless(mod, (T)0)) {
			mod += b;
			div -= (T)1;
		}
	} else {
		mod = copysign((T)0, b);
	}
	if (div) {
		floordiv = floor(div);
		if (isgreater(div - floordiv, (T)0.5))
			floordiv += (T)1;
	} else {
		floordiv = copysign((T)0, a / b);
	}
	*modulus = mod;
	return floordiv;
}

/* npy_floor_divide: division by zero gives a / b (inf or NaN). */
static inline T FN(s_floordiv)(T x, T y)
{
	T mod;

	if (!y)
		return x / y;
	return FN(divmod)(x, y, &mod);
}

/* npy_remainder: by zero gives fmod (NaN). */
static inline T FN(s_mod)(T x, T y)
{
	T mod;

	if (!y)
		return fmod(x, y);
	FN(divmod)(x, y, &mod);
	return mod;
}

static inline T FN(s_pow)(T x, T y) { return pow(x, y); }
static inline T FN(s_arctan2)(T x, T y) { return atan2(x, y); }
static inline T FN(s_hypot)(T x, T y) { return hypot(x, y); }

/* NaN-propagating as NumPy; on a tie (-0.0 vs 0.0) the second operand wins,
 * as with NumPy's SIMD loops (x86 minpd/maxpd semantics). */
static inline T FN(s_minimum)(T x, T y) { return (x < y || x != x) ? x : y; }
static inline T FN(s_maximum)(T x, T y) { return (x > y || x != x) ? x : y; }

#else /* integers */

static inline T FN(s_add)(T x, T y) { return (T)((UW)x + (UW)y); }
static inline T FN(s_sub)(T x, T y) { return (T)((UW)x - (UW)y); }
static inline T FN(s_mul)(T x, T y) { return (T)((UW)x * (UW)y); }
static inline T FN(s_and)(T x, T y) { return (T)(x & y); }
static inline T FN(s_or)(T x, T y) { return (T)(x | y); }
static inline T FN(s_xor)(T x, T y) { return (T)(x ^ y); }
static inline T FN(s_minimum)(T x, T y) { return x < y ? x : y; }
static inline T FN(s_maximum)(T x, T y) { return x > y ? x : y; }

#if defined(KIND_SINT)

/* Python floor division; by zero 0, TMIN // -1 wraps to TMIN (both are
 * kept away from C's '/', where they would be undefined). */
static inline T FN(s_floordiv)(T x, T y)
{
	T q;

	if (y == 0)
		return 0;
	if (y == -1)
		return (T)(0 - (UW)x);
	q = (T)(x / y);
	if ((T)(x % y) != 0 && ((x < 0) != (y < 0)))
		q--;
	return q;
}

/* Python modulo (sign of the divisor); by zero 0; x % -1 is 0 (TMIN % -1
 * would trap in C). */
static inline T FN(s_mod)(T x, T y)
{
	T r;

	if (y == 0 || y == -1)
		return 0;
	r = (T)(x % y);
	if (r != 0 && ((r < 0) != (y < 0)))
		r = (T)(r + y);
	return r;
}

#else /* KIND_UINT */

static inline T FN(s_floordiv)(T x, T y) { return y == 0 ? 0 : (T)(x / y); }
static inline T FN(s_mod)(T x, T y) { return y == 0 ? 0 : (T)(x % y); }

#endif

/* Exponentiation by squaring modulo 2^bits (NumPy's loop).  A negative
 * exponent (NumPy raises) gives 1 for base 1, +-1 for base -1, else 0: the
 * integer part of the exact result. */
static inline T FN(s_pow)(T x, T y)
{
	UW base = (UW)x, r = 1;
	UW e;

#if defined(KIND_SINT)
	if (y < 0) {
		if (x == 1)
			return 1;
		if (x == -1)
			return (y & 1) ? -1 : 1;
		return 0;
	}
#endif
	e = (UW)y;
	while (e) {
		if (e & 1)
			r *= base;
		base *= base;
		e >>= 1;
	}
	return (T)r;
}

#endif /* integers */
#endif /* numeric */

/* ------------------------------------------------------- unary scalar ops */

static inline uint8_t FN(s_isnan)(T x)
{
#if defined(KIND_FLOAT)
	return isnan(x) != 0;
#else
	(void)x;
	return 0;
#endif
}

static inline uint8_t FN(s_isinf)(T x)
{
#if defined(KIND_FLOAT)
	return isinf(x) != 0;
#else
	(void)x;
	return 0;
#endif
}

static inline uint8_t FN(s_isfinite)(T x)
{
#if defined(KIND_FLOAT)
	return isfinite(x) != 0;
#else
	(void)x;
	return 1;
#endif
}

#if defined(KIND_BOOL)
static inline T FN(s_abs)(T x) { return (T)(x != 0); }
static inline T FN(s_invert)(T x) { return (T)(x == 0); }
static inline T FN(s_logical_not)(T x) { return (T)(x == 0); }
#elif defined(KIND_FLOAT)
static inline T FN(s_neg)(T x) { return -x; }
static inline T FN(s_abs)(T x) { return fabs(x); }
/* NumPy: sign(-0.0) = +0.0 and sign(NaN) = NaN. */
static inline T FN(s_sign)(T x)
{
	return x > 0 ? (T)1 : (x < 0 ? (T)-1 : (x == 0 ? (T)0 : x));
}
static inline T FN(s_sqrt)(T x) { return sqrt(x); }
static inline T FN(s_exp)(T x) { return exp(x); }
static inline T FN(s_log)(T x) { return log(x); }
static inline T FN(s_log2)(T x) { return log2(x); }
static inline T FN(s_log10)(T x) { return log10(x); }
static inline T FN(s_log1p)(T x) { return log1p(x); }
static inline T FN(s_expm1)(T x) { return expm1(x); }
static inline T FN(s_sin)(T x) { return sin(x); }
static inline T FN(s_cos)(T x) { return cos(x); }
static inline T FN(s_tan)(T x) { return tan(x); }
static inline T FN(s_arcsin)(T x) { return asin(x); }
static inline T FN(s_arccos)(T x) { return acos(x); }
static inline T FN(s_arctan)(T x) { return atan(x); }
static inline T FN(s_sinh)(T x) { return sinh(x); }
static inline T FN(s_cosh)(T x) { return cosh(x); }
static inline T FN(s_tanh)(T x) { return tanh(x); }
static inline T FN(s_floor)(T x) { return floor(x); }
static inline T FN(s_ceil)(T x) { return ceil(x); }
/* Round half to even in the default rounding mode, as NumPy's rint. */
static inline T FN(s_rint)(T x) { return rint(x); }
#else /* integers */
static inline T FN(s_neg)(T x) { return (T)(0 - (UW)x); }
static inline T FN(s_invert)(T x) { return (T)~x; }
#if defined(KIND_SINT)
/* abs(TMIN) wraps to TMIN, as NumPy. */
static inline T FN(s_abs)(T x) { return x < 0 ? (T)(0 - (UW)x) : x; }
static inline T FN(s_sign)(T x) { return (T)((x > 0) - (x < 0)); }
#else
static inline T FN(s_abs)(T x) { return x; }
static inline T FN(s_sign)(T x) { return (T)(x > 0); }
#endif
#endif

/* ------------------------------------------------------------------ loops */

#define EW_BINARY(op, OT)                                                              \
	static void FN(op)(int64_t n, const void *a_, int64_t sa, const void *b_,       \
	                   int64_t sb, void *out_)                                       \
	{                                                                                \
		BINARY_BODY(T, OT, FN(s_##op))                                           \
	}
#define EW_UNARY(op, OT)                                                               \
	static void FN(op)(int64_t n, const void *a_, int64_t sa, void *out_)            \
	{                                                                                \
		UNARY_BODY(T, OT, FN(s_##op))                                            \
	}

EW_BINARY(add, T)
EW_BINARY(mul, T)
EW_BINARY(lt, uint8_t)
EW_BINARY(le, uint8_t)
EW_BINARY(gt, uint8_t)
EW_BINARY(ge, uint8_t)
EW_BINARY(eq, uint8_t)
EW_BINARY(ne, uint8_t)
EW_BINARY(minimum, T)
EW_BINARY(maximum, T)
EW_UNARY(abs, T)
EW_UNARY(isnan, uint8_t)
EW_UNARY(isinf, uint8_t)
EW_UNARY(isfinite, uint8_t)
#if !defined(KIND_BOOL)
EW_BINARY(sub, T)
EW_BINARY(floordiv, T)
EW_BINARY(mod, T)
EW_BINARY(pow, T)
EW_UNARY(neg, T)
EW_UNARY(sign, T)
#endif
#if !defined(KIND_FLOAT)
EW_BINARY(and, T)
EW_BINARY(or, T)
EW_BINARY(xor, T)
EW_UNARY(invert, T)
#endif
#if defined(KIND_BOOL)
EW_UNARY(logical_not, T)
#endif
#if defined(KIND_FLOAT)
EW_BINARY(div, T)
EW_BINARY(arctan2, T)
EW_BINARY(hypot, T)
EW_UNARY(sqrt, T)
EW_UNARY(exp, T)
EW_UNARY(log, T)
EW_UNARY(log2, T)
EW_UNARY(log10, T)
EW_UNARY(log1p, T)
EW_UNARY(expm1, T)
EW_UNARY(sin, T)
EW_UNARY(cos, T)
EW_UNARY(tan, T)
EW_UNARY(arcsin, T)
EW_UNARY(arccos, T)
EW_UNARY(arctan, T)
EW_UNARY(sinh, T)
EW_UNARY(cosh, T)
EW_UNARY(tanh, T)
EW_UNARY(floor, T)
EW_UNARY(ceil, T)
EW_UNARY(rint, T)
#endif

#undef EW_BINARY
#undef EW_UNARY

/* ---------------------------------------------------------- dispatch rows */

static const cask_k_binary_fn FN(binary_row)[CASK_NOPS] = {
	[CASK_ADD] = FN(add),
	[CASK_MUL] = FN(mul),
	[CASK_LT] = FN(lt),
	[CASK_LE] = FN(le),
	[CASK_GT] = FN(gt),
	[CASK_GE] = FN(ge),
	[CASK_EQ] = FN(eq),
	[CASK_NE] = FN(ne),
	[CASK_MINIMUM] = FN(minimum),
	[CASK_MAXIMUM] = FN(maximum),
#if !defined(KIND_BOOL)
	[CASK_SUB] = FN(sub),
	[CASK_FLOORDIV] = FN(floordiv),
	[CASK_MOD] = FN(mod),
	[CASK_POW] = FN(pow),
#endif
#if !defined(KIND_FLOAT)
	[CASK_AND] = FN(and),
	[CASK_OR] = FN(or),
	[CASK_XOR] = FN(xor),
#endif
#if defined(KIND_BOOL)
	/* On bool the logical ops are the bitwise ones. */
	[CASK_LOGICAL_AND] = FN(and),
	[CASK_LOGICAL_OR] = FN(or),
	[CASK_LOGICAL_XOR] = FN(xor),
#endif
#if defined(KIND_FLOAT)
	[CASK_DIV] = FN(div),
	[CASK_ARCTAN2] = FN(arctan2),
	[CASK_HYPOT] = FN(hypot),
#endif
};

static const cask_k_unary_fn FN(unary_row)[CASK_NOPS] = {
	[CASK_ABS] = FN(abs),
	[CASK_ISNAN] = FN(isnan),
	[CASK_ISINF] = FN(isinf),
	[CASK_ISFINITE] = FN(isfinite),
#if !defined(KIND_BOOL)
	[CASK_NEG] = FN(neg),
	[CASK_SIGN] = FN(sign),
#endif
#if !defined(KIND_FLOAT)
	[CASK_INVERT] = FN(invert),
#endif
#if defined(KIND_BOOL)
	[CASK_LOGICAL_NOT] = FN(logical_not),
#endif
#if defined(KIND_FLOAT)
	[CASK_SQRT] = FN(sqrt),
	[CASK_EXP] = FN(exp),
	[CASK_LOG] = FN(log),
	[CASK_LOG2] = FN(log2),
	[CASK_LOG10] = FN(log10),
	[CASK_LOG1P] = FN(log1p),
	[CASK_EXPM1] = FN(expm1),
	[CASK_SIN] = FN(sin),
	[CASK_COS] = FN(cos),
	[CASK_TAN] = FN(tan),
	[CASK_ARCSIN] = FN(arcsin),
	[CASK_ARCCOS] = FN(arccos),
	[CASK_ARCTAN] = FN(arctan),
	[CASK_SINH] = FN(sinh),
	[CASK_COSH] = FN(cosh),
	[CASK_TANH] = FN(tanh),
	[CASK_FLOOR] = FN(floor),
	[CASK_CEIL] = FN(ceil),
	[CASK_RINT] = FN(rint),
#endif
};

#undef FN
#undef T
#undef UW
#undef SFX
#undef KIND_BOOL
#undef KIND_SINT
#undef KIND_UINT
#undef KIND_FLOAT
