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
	/* Truncation toward zero is defined in C only when the truncated value
	 * fits; everything else (NaN, inf, out of range) becomes 0.  The range
	 * test is written on x itself: lo < x < hi with the open bounds of the
	 * values whose truncation fits.  The low bound -2^(bits-1) - 1 is
	 * exact when S has enough mantissa bits; when it is not, S has no
	 * value strictly between it and -2^(bits-1), so the second test covers
	 * the bound itself.  Selecting before converting keeps the conversion
	 * unconditional (vectorisable) and always in range. */
#if DSIGNED
	const S lo1 = (S)(-CAST_POW2(DBITS - 1) - 1.0);
	const S lo0 = (S)(-CAST_POW2(DBITS - 1));
	const S hi = (S)CAST_POW2(DBITS - 1);
	const int ok = (x > lo1 || x >= lo0) && x < hi;
#else
	const S hi = (S)CAST_POW2(DBITS);
	const int ok = x > (S)-1 && x < hi;
#endif
	return (D)(ok ? x : (S)0);
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
