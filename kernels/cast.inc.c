/*
 * cast.inc.c - the cast loop from one source dtype to one destination dtype.
 * Included 121 times by cast_src.inc.c, never compiled on its own.
 *
 * Parameters: S, SSFX, SKIND_{BOOL,INT,FLOAT} (from cast_src.inc.c) and
 * D, DSFX, DKIND_{BOOL,INT,FLOAT}, and for integer destinations DBITS and
 * DSIGNED; all D* parameters are undefined again at the end.
 */

#define CAST_FN EW_PASTE3(cast, SSFX, DSFX)
#define CONV_FN EW_PASTE3(conv, SSFX, DSFX)

/* One element. */
static inline D CONV_FN(S x)
{
#if defined(DKIND_BOOL)
	/* NaN != 0 is true, as NumPy's astype(bool). */
	return (D)(x != 0);
#elif defined(SKIND_BOOL)
	return (D)(x != 0);
#elif defined(SKIND_FLOAT) && defined(DKIND_INT)
	/* What NumPy gives on x86-64, where C leaves it undefined: the
	 * conversion of its scalar loops, which the compiler makes with the
	 * SSE instructions cvttsd2si / cvttss2si.  They truncate toward zero
	 * into 32 bits (to 8, 16 and 32-bit signed types, the low bits kept:
	 * 300.0 to uint8 is 44) or 64 bits (to uint32, kept modulo 2^32, and
	 * int64), and give the "integer indefinite" INT32_MIN / INT64_MIN for
	 * NaN, inf and out-of-range values (so NaN to int32 is -2147483648
	 * and 1e10 to uint8 is 0).  To uint64, values from 2^63 go through x -
	 * 2^63 with the top bit set back (>= 2^64 gives 0), the rest, NaN
	 * included, through int64 (NaN gives 2^63; negative values wrap).  Each truncation is done in range only (the
	 * range test on x itself, see cast_trunc32 in cast.c), so the C here
	 * is defined.  NumPy's own vectorised loops differ for uint32 only
	 * (out-of-range values there give 2^31 in arrays of 8 or more). */
#if DBITS < 32 || (DBITS == 32 && DSIGNED)
	return (D)(uint32_t)EW_PASTE(cast_trunc32, SSFX)(x);
#elif DBITS == 32 || DSIGNED
	return (D)(uint64_t)EW_PASTE(cast_trunc64, SSFX)(x);
#else
	const S top = (S)CAST_POW2(63);
	return !(x >= top) ? (D)(uint64_t)EW_PASTE(cast_trunc64, SSFX)(x)
	               : (D)((uint64_t)EW_PASTE(cast_trunc64, SSFX)(x - top) ^ ((uint64_t)1 << 63));
#endif
#else
	/* int -> int wraps modulo 2^bits (GCC defines the conversion), int ->
	 * float rounds to nearest, float -> float rounds (overflow to inf). */
	return (D)x;
#endif
}

static void CAST_FN(int64_t n, const void *src_, int64_t ss, void *dst_)
{
	const S *src = src_;
	D *dst = dst_;

	if (ss == 1) {
		for (int64_t i = 0; i < n; i++)
			dst[i] = CONV_FN(src[i]);
	} else if (ss == 0) {
		const D v = CONV_FN(src[0]);
		for (int64_t i = 0; i < n; i++)
			dst[i] = v;
	} else {
		for (int64_t i = 0; i < n; i++)
			dst[i] = CONV_FN(src[i * ss]);
	}
}

#undef CAST_FN
#undef CONV_FN
#undef D
#undef DSFX
#undef DKIND_BOOL
#undef DKIND_INT
#undef DKIND_FLOAT
#undef DBITS
#undef DSIGNED
