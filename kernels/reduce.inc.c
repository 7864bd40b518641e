/*
 * reduce.inc.c - the block loops of reduce.c for one input dtype.
 *
 * Included by reduce.c once per dtype with
 *   T     the C element type (uint8_t for bool),
 *   SFX   the name suffix (b1 i1 .. u8 f4 f8),
 *   KIND  RK_I (bool, signed), RK_U (unsigned) or RK_F (floats),
 * and NAME(base) pasting the suffix on.  Every loop is a named static
 * function: sum_block_f8, argmin_block_i4, mom_block_u2, ...  All of them
 * write a FRESH state for the w->nent entries (no reliance on its previous
 * contents) and walk the block with walk_first/walk_next (reduce.c).
 */

#if KIND == RK_F
#define VT double
#define VF f
#elif KIND == RK_U
#define VT uint64_t
#define VF u
#else
#define VT int64_t
#define VF i
#endif

#define RED_INLINE static inline __attribute__((always_inline))

/* ------------------------------------------------------------ pairwise sums */

/* One transformed element of a pairwise sum (mode: PW_*). */
RED_INLINE double NAME(pw_term)(T v, int mode, double mean)
{
	double x = (double)v;

	switch (mode) {
	case PW_NANSUM:
		return x != x ? 0.0 : x;
	case PW_SQDEV:
		return (x - mean) * (x - mean);
	case PW_NANSQDEV:
		return x != x ? 0.0 : (x - mean) * (x - mean);
	default:
		return x;
	}
}

/* NumPy's pairwise_sum below the recursion: fewer than 8 terms in order,
 * otherwise 8 interleaved accumulators combined as a tree. */
RED_INLINE double NAME(pw_small)(const T *x, int64_t n, int mode, double mean)
{
	if (n < 8) {
		double s = 0.0;
		for (int64_t i = 0; i < n; i++)
			s += NAME(pw_term)(x[i], mode, mean);
		return s;
	}
	double r[8];
	int64_t i;
	for (int j = 0; j < 8; j++)
		r[j] = NAME(pw_term)(x[j], mode, mean);
	for (i = 8; i < n - (n % 8); i += 8)
		for (int j = 0; j < 8; j++)
			r[j] += NAME(pw_term)(x[i + j], mode, mean);
	double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
	for (; i < n; i++)
		s += NAME(pw_term)(x[i], mode, mean);
	return s;
}

/* Recursion depth is log2(n / 128): at most ~56. */
static double NAME(pw_sum)(const T *x, int64_t n)
{
	if (n <= PW_BLOCKSIZE)
		return NAME(pw_small)(x, n, PW_SUM, 0.0);
	int64_t n2 = n / 2;
	n2 -= n2 % 8;
	return NAME(pw_sum)(x, n2) + NAME(pw_sum)(x + n2, n - n2);
}

static double NAME(pw_sqdev)(const T *x, int64_t n, double mean)
{
	if (n <= PW_BLOCKSIZE)
		return NAME(pw_small)(x, n, PW_SQDEV, mean);
	int64_t n2 = n / 2;
	n2 -= n2 % 8;
	return NAME(pw_sqdev)(x, n2, mean) + NAME(pw_sqdev)(x + n2, n - n2, mean);
}

#if KIND == RK_F
static double NAME(pw_nansum)(const T *x, int64_t n)
{
	if (n <= PW_BLOCKSIZE)
		return NAME(pw_small)(x, n, PW_NANSUM, 0.0);
	int64_t n2 = n / 2;
	n2 -= n2 % 8;
	return NAME(pw_nansum)(x, n2) + NAME(pw_nansum)(x + n2, n - n2);
}

static double NAME(pw_nansqdev)(const T *x, int64_t n, double mean)
{
	if (n <= PW_BLOCKSIZE)
		return NAME(pw_small)(x, n, PW_NANSQDEV, mean);
	int64_t n2 = n / 2;
	n2 -= n2 % 8;
	return NAME(pw_nansqdev)(x, n2, mean) + NAME(pw_nansqdev)(x + n2, n - n2, mean);
}
#endif

/* ------------------------------------------------------------ sum, prod */

#if KIND == RK_F
RED_INLINE void NAME(sum_impl)(const walk_t *w, const T *x, double *a, int skipnan)
{
	walk_pos_t p;

	for (int64_t e = 0; e < w->nent; e++)
		a[e] = 0.0;
	if (w->empty)
		return;
	walk_first(w, &p);
	do {
		const T *restrict xr = x + p.x;
		if (w->inner_red) {
			a[p.e] += skipnan ? NAME(pw_nansum)(xr, w->len) : NAME(pw_sum)(xr, w->len);
		} else {
			double *restrict ar = a + p.e;
			for (int64_t j = 0; j < w->len; j++) {
				double v = (double)xr[j];
				ar[j] += (skipnan && v != v) ? 0.0 : v;
			}
		}
	} while (walk_next(w, &p));
}

static void NAME(sum_block)(const walk_t *w, const T *x, double *a)
{
	NAME(sum_impl)(w, x, a, 0);
}

static void NAME(nansum_block)(const walk_t *w, const T *x, double *a)
{
	NAME(sum_impl)(w, x, a, 1);
}

/* Products in order (NumPy's multiply.reduce is not pairwise either). */
RED_INLINE void NAME(prod_impl)(const walk_t *w, const T *x, double *a, int skipnan)
{
	walk_pos_t p;

	for (int64_t e = 0; e < w->nent; e++)
		a[e] = 1.0;
	if (w->empty)
		return;
	walk_first(w, &p);
	do {
		const T *restrict xr = x + p.x;
		if (w->inner_red) {
			double s = a[p.e];
			for (int64_t i = 0; i < w->len; i++) {
				double v = (double)xr[i];
				s *= (skipnan && v != v) ? 1.0 : v;
			}
			a[p.e] = s;
		} else {
			double *restrict ar = a + p.e;
			for (int64_t j = 0; j < w->len; j++) {
				double v = (double)xr[j];
				ar[j] *= (skipnan && v != v) ? 1.0 : v;
			}
		}
	} while (walk_next(w, &p));
}

static void NAME(prod_block)(const walk_t *w, const T *x, double *a)
{
	NAME(prod_impl)(w, x, a, 0);
}

static void NAME(nanprod_block)(const walk_t *w, const T *x, double *a)
{
	NAME(prod_impl)(w, x, a, 1);
}
#else
/* Integer sums and products wrap modulo 2^64 in unsigned arithmetic; the
 * conversion of a negative value to uint64_t is modular, so the bits equal
 * NumPy's int64 result. */
static void NAME(sum_block)(const walk_t *w, const T *x, uint64_t *a)
{
	walk_pos_t p;

	for (int64_t e = 0; e < w->nent; e++)
		a[e] = 0;
	if (w->empty)
		return;
	walk_first(w, &p);
	do {
		const T *restrict xr = x + p.x;
		if (w->inner_red) {
			uint64_t s = 0;
			for (int64_t i = 0; i < w->len; i++)
				s += (uint64_t)xr[i];
			a[p.e] += s;
		} else {
			uint64_t *restrict ar = a + p.e;
			for (int64_t j = 0; j < w->len; j++)
				ar[j] += (uint64_t)xr[j];
		}
	} while (walk_next(w, &p));
}

static void NAME(prod_block)(const walk_t *w, const T *x, uint64_t *a)
{
	walk_pos_t p;

	for (int64_t e = 0; e < w->nent; e++)
		a[e] = 1;
	if (w->empty)
		return;
	walk_first(w, &p);
	do {
		const T *restrict xr = x + p.x;
		if (w->inner_red) {
			uint64_t s = a[p.e];
			for (int64_t i = 0; i < w->len; i++)
				s *= (uint64_t)xr[i];
			a[p.e] = s;
		} else {
			uint64_t *restrict ar = a + p.e;
			for (int64_t j = 0; j < w->len; j++)
				ar[j] *= (uint64_t)xr[j];
		}
	} while (walk_next(w, &p));
}
#endif

/* ------------------------------------------------------------ any, all, count */

static void NAME(any_block)(const walk_t *w, const T *x, uint64_t *a)
{
	walk_pos_t p;

	for (int64_t e = 0; e < w->nent; e++)
		a[e] = 0;
	if (w->empty)
		return;
	walk_first(w, &p);
	do {
		const T *restrict xr = x + p.x;
		if (w->inner_red) {
			uint64_t s = a[p.e];
			for (int64_t i = 0; i < w->len; i++)
				s |= (uint64_t)(xr[i] != 0); /* NaN != 0 is true */
			a[p.e] = s;
		} else {
			uint64_t *restrict ar = a + p.e;
			for (int64_t j = 0; j < w->len; j++)
				ar[j] |= (uint64_t)(xr[j] != 0);
		}
	} while (walk_next(w, &p));
}

static void NAME(all_block)(const walk_t *w, const T *x, uint64_t *a)
{
	walk_pos_t p;

	for (int64_t e = 0; e < w->nent; e++)
		a[e] = 1;
	if (w->empty)
		return;
	walk_first(w, &p);
	do {
		const T *restrict xr = x + p.x;
		if (w->inner_red) {
			uint64_t s = a[p.e];
			for (int64_t i = 0; i < w->len; i++)
				s &= (uint64_t)(xr[i] != 0);
			a[p.e] = s;
		} else {
			uint64_t *restrict ar = a + p.e;
			for (int64_t j = 0; j < w->len; j++)
				ar[j] &= (uint64_t)(xr[j] != 0);
		}
	} while (walk_next(w, &p));
}

static void NAME(count_nonzero_block)(const walk_t *w, const T *x, int64_t *a)
{
	walk_pos_t p;

	for (int64_t e = 0; e < w->nent; e++)
		a[e] = 0;
	if (w->empty)
		return;
	walk_first(w, &p);
	do {
		const T *restrict xr = x + p.x;
		if (w->inner_red) {
			int64_t s = 0;
			for (int64_t i = 0; i < w->len; i++)
				s += (xr[i] != 0);
			a[p.e] += s;
		} else {
			int64_t *restrict ar = a + p.e;
			for (int64_t j = 0; j < w->len; j++)
				ar[j] += (xr[j] != 0);
		}
	} while (walk_next(w, &p));
}

/* ------------------------------------------------------------ min, max */

#if KIND == RK_F
/* One lane step: np.minimum/maximum (skipnan 0: NaN handled by the
 * caller's separate flag) or np.fmin/fmax (skipnan 1). */
RED_INLINE double NAME(ext_step)(double m, double v, int is_max, int skipnan)
{
	if (skipnan)
		return ((is_max ? v > m : v < m) || m != m) ? v : m;
	return (is_max ? v > m : v < m) ? v : m;
}

/*
 * Min/max of a contiguous run starting from m.  Eight independent lanes
 * (packed min/max for the compiler, no loop-carried dependence), each with
 * its own NaN flag; NaN propagation (skipnan 0) is applied at the end.
 */
RED_INLINE double NAME(ext_run)(const T *x, int64_t len, double m, int is_max, int skipnan)
{
	double r[8], nl[8];
	int64_t i = 0;

	for (int j = 0; j < 8; j++) {
		r[j] = m;
		nl[j] = 0.0;
	}
	for (; i + 8 <= len; i += 8) {
		for (int j = 0; j < 8; j++) {
			double v = (double)x[i + j];
			nl[j] = v != v ? 1.0 : nl[j];
			r[j] = NAME(ext_step)(r[j], v, is_max, skipnan);
		}
	}
	for (; i < len; i++) {
		double v = (double)x[i];
		nl[0] = v != v ? 1.0 : nl[0];
		r[0] = NAME(ext_step)(r[0], v, is_max, skipnan);
	}
	double nan = 0.0;
	for (int j = 0; j < 8; j++) {
		nan += nl[j];
		if (skipnan)
			m = ((is_max ? r[j] > m : r[j] < m) || m != m) ? r[j] : m;
		else
			m = (is_max ? r[j] > m : r[j] < m) ? r[j] : m;
	}
	if (!skipnan && nan != 0.0)
		m = NAN;
	return m;
}
#endif

/*
 * skipnan 0: NaN propagates (np.minimum); skipnan 1: np.fmin (NaN only
 * when everything is NaN; the state then starts at NaN).  The count of
 * elements seen is the same for every entry of a block: w->nred.
 */
RED_INLINE void NAME(ext_impl)(const walk_t *w, const T *x, ext_t *a, int is_max,
                               int skipnan)
{
	walk_pos_t p;

	init_ext(a, w->nent, KIND, is_max, skipnan);
	if (w->empty)
		return;
	for (int64_t e = 0; e < w->nent; e++)
		a[e].n = w->nred;
	walk_first(w, &p);
	do {
		const T *restrict xr = x + p.x;
		if (w->inner_red) {
			VT m = a[p.e].v.VF;
#if KIND == RK_F
			a[p.e].v.VF = NAME(ext_run)(xr, w->len, m, is_max, skipnan);
			continue;
#else
			for (int64_t i = 0; i < w->len; i++) {
				VT v = (VT)xr[i];
				m = (is_max ? v > m : v < m) ? v : m;
			}
#endif
			a[p.e].v.VF = m;
		} else {
			ext_t *restrict ar = a + p.e;
			for (int64_t j = 0; j < w->len; j++) {
				VT v = (VT)xr[j];
				VT m = ar[j].v.VF;
#if KIND == RK_F
				if (skipnan)
					ar[j].v.VF = ((is_max ? v > m : v < m) || m != m) ? v : m;
				else
					ar[j].v.VF = ((is_max ? v > m : v < m) || v != v) ? v : m;
#else
				ar[j].v.VF = (is_max ? v > m : v < m) ? v : m;
#endif
			}
		}
	} while (walk_next(w, &p));
}

static void NAME(min_block)(const walk_t *w, const T *x, ext_t *a)
{
	NAME(ext_impl)(w, x, a, 0, 0);
}

static void NAME(max_block)(const walk_t *w, const T *x, ext_t *a)
{
	NAME(ext_impl)(w, x, a, 1, 0);
}

#if KIND == RK_F
static void NAME(nanmin_block)(const walk_t *w, const T *x, ext_t *a)
{
	NAME(ext_impl)(w, x, a, 0, 1);
}

static void NAME(nanmax_block)(const walk_t *w, const T *x, ext_t *a)
{
	NAME(ext_impl)(w, x, a, 1, 1);
}
#endif

/* ------------------------------------------------------------ argmin, argmax */

#if KIND == RK_F
/*
 * Arg-extreme of a contiguous run whose first element has local index r0,
 * updating (*m, *bi).  Pieces of ARG_PIECE values: the piece's extreme comes
 * from the vectorised ext_run (NaN-propagating); only when it beats *m
 * strictly (or is NaN) is the piece scanned for its first occurrence.
 */
RED_INLINE void NAME(arg_run)(const T *x, int64_t len, int64_t r0, double *m, int64_t *bi,
                              int is_max)
{
	double cur = *m;

	if (cur != cur)
		return; /* an earlier NaN already won */
	for (int64_t i0 = 0; i0 < len; i0 += ARG_PIECE) {
		int64_t k = len - i0 < ARG_PIECE ? len - i0 : ARG_PIECE;
		const T *xp = x + i0;
		double pm = NAME(ext_run)(xp, k, is_max ? -INFINITY : INFINITY, is_max, 0);
		if (pm != pm) {
			for (int64_t i = 0; i < k; i++) {
				if (xp[i] != xp[i]) {
					*m = NAN;
					*bi = r0 + i0 + i;
					return;
				}
			}
		}
		if (is_max ? pm > cur : pm < cur) {
			for (int64_t i = 0; i < k; i++) {
				if ((double)xp[i] == pm) {
					cur = pm;
					*bi = r0 + i0 + i;
					break;
				}
			}
		}
	}
	*m = cur;
}
#endif

/*
 * The state starts at the opposite extreme with index 0, which is already
 * right when every element equals that extreme; afterwards only a strictly
 * better element (or the first NaN) replaces it, so the first occurrence
 * wins.  Indices are local here; cask_k_red_block globalises them.
 */
RED_INLINE void NAME(arg_impl)(const walk_t *w, const T *x, arg_t *a, int is_max)
{
	walk_pos_t p;

	init_arg(a, w->nent, KIND, is_max);
	if (w->empty)
		return;
	for (int64_t e = 0; e < w->nent; e++)
		a[e].n = w->nred;
	walk_first(w, &p);
	do {
		const T *restrict xr = x + p.x;
		if (w->inner_red) {
			VT m = a[p.e].v.VF;
			int64_t bi = a[p.e].idx;
#if KIND == RK_F
			NAME(arg_run)(xr, w->len, p.r, &m, &bi, is_max);
#else
			for (int64_t i = 0; i < w->len; i++) {
				VT v = (VT)xr[i];
				if (is_max ? v > m : v < m) {
					m = v;
					bi = p.r + i;
				}
			}
#endif
			a[p.e].v.VF = m;
			a[p.e].idx = bi;
		} else {
			arg_t *restrict ar = a + p.e;
			for (int64_t j = 0; j < w->len; j++) {
				VT v = (VT)xr[j];
				VT m = ar[j].v.VF;
#if KIND == RK_F
				int take = m == m && (v != v || (is_max ? v > m : v < m));
#else
				int take = is_max ? v > m : v < m;
#endif
				if (take) {
					ar[j].v.VF = v;
					ar[j].idx = p.r;
				}
			}
		}
	} while (walk_next(w, &p));
}

static void NAME(argmin_block)(const walk_t *w, const T *x, arg_t *a)
{
	NAME(arg_impl)(w, x, a, 0);
}

static void NAME(argmax_block)(const walk_t *w, const T *x, arg_t *a)
{
	NAME(arg_impl)(w, x, a, 1);
}

/* ------------------------------------------------------------ moments */

/*
 * Moments are computed two-pass on cache-sized pieces and the pieces are
 * combined with Chan's update (mom_combine), so x is read from memory once:
 * a piece's sum and count give its mean, a second pass over the piece (now
 * in cache) its sum of squared deviations.  skipnan counts and sums only
 * non-NaN values.  need_m2 0 (mean) skips the second pass.
 */

/* A contiguous run of values all going into entry e. */
RED_INLINE void NAME(mom_run)(const T *x, int64_t len, mom_t *e, int skipnan, int need_m2)
{
	(void)skipnan; /* integers have no NaN */
	for (int64_t i0 = 0; i0 < len; i0 += MOM_PIECE) {
		int64_t k = len - i0 < MOM_PIECE ? len - i0 : MOM_PIECE;
		const T *xp = x + i0;
		mom_t b;
		double s;
#if KIND == RK_F
		if (skipnan) {
			int64_t c = 0;
			for (int64_t i = 0; i < k; i++)
				c += (xp[i] == xp[i]);
			b.n = (double)c;
			s = NAME(pw_nansum)(xp, k);
		} else
#endif
		{
			b.n = (double)k;
			s = NAME(pw_sum)(xp, k);
		}
		b.mean = b.n > 0.0 ? s / b.n : 0.0;
		b.m2 = 0.0;
		if (need_m2) {
#if KIND == RK_F
			if (skipnan)
				b.m2 = NAME(pw_nansqdev)(xp, k, b.mean);
			else
#endif
				b.m2 = NAME(pw_sqdev)(xp, k, b.mean);
		}
		mom_combine(e, &b);
	}
}

/*
 * A slab of rows x len values (row-major) reduced over its rows into the
 * entries ent[0..len): column tiles of MOM_TILE entries with per-tile
 * accumulators on the stack, in row groups of about MOM_SLAB values so the
 * second pass finds them in cache.  This is the std(x, axis=0) loop.
 */
RED_INLINE void NAME(mom_slab)(const T *x, int64_t rows, int64_t len, mom_t *ent,
                               int skipnan, int need_m2)
{
	double s[MOM_TILE], q[MOM_TILE], c[MOM_TILE];

	for (int64_t j0 = 0; j0 < len; j0 += MOM_TILE) {
		int64_t tn = len - j0 < MOM_TILE ? len - j0 : MOM_TILE;
		int64_t rg = MOM_SLAB / tn;
		for (int64_t r0 = 0; r0 < rows; r0 += rg) {
			int64_t rn = rows - r0 < rg ? rows - r0 : rg;
			const T *xb = x + r0 * len + j0;
			for (int64_t j = 0; j < tn; j++) {
				s[j] = 0.0;
				q[j] = 0.0;
				c[j] = (double)rn;
			}
			for (int64_t r = 0; r < rn; r++) {
				const T *restrict xr = xb + r * len;
				if (skipnan) {
					for (int64_t j = 0; j < tn; j++) {
						double v = (double)xr[j];
						s[j] += v != v ? 0.0 : v;
						c[j] -= v != v ? 1.0 : 0.0;
					}
				} else {
					for (int64_t j = 0; j < tn; j++)
						s[j] += (double)xr[j];
				}
			}
			for (int64_t j = 0; j < tn; j++)
				s[j] = c[j] > 0.0 ? s[j] / c[j] : 0.0;
			if (need_m2) {
				for (int64_t r = 0; r < rn; r++) {
					const T *restrict xr = xb + r * len;
					for (int64_t j = 0; j < tn; j++) {
						double v = (double)xr[j], d = v - s[j];
						q[j] += (skipnan && v != v) ? 0.0 : d * d;
					}
				}
			}
			for (int64_t j = 0; j < tn; j++) {
				mom_t b = {c[j], s[j], q[j]};
				mom_combine(&ent[j0 + j], &b);
			}
		}
	}
}

RED_INLINE void NAME(mom_impl)(const walk_t *w, const T *x, mom_t *a, int skipnan,
                               int need_m2)
{
	walk_pos_t p;

	for (int64_t e = 0; e < w->nent; e++) {
		a[e].n = 0.0;
		a[e].mean = 0.0;
		a[e].m2 = 0.0;
	}
	if (w->empty)
		return;
	if (w->inner_red) {
		walk_first(w, &p);
		do {
			NAME(mom_run)(x + p.x, w->len, a + p.e, skipnan, need_m2);
		} while (walk_next(w, &p));
	} else if (w->m == 1) {
		/* Nothing reduced: each entry holds one value (or none, if NaN is
		 * skipped); m2 = (v - v)^2 so inf gives NaN as in NumPy. */
		for (int64_t e = 0; e < w->nent; e++) {
			double v = (double)x[e];
			if (skipnan && v != v)
				continue;
			a[e].n = 1.0;
			a[e].mean = v;
			a[e].m2 = need_m2 ? (v - v) * (v - v) : 0.0;
		}
	} else {
		/* Alternating axes ending in (reduced, kept): walk all but the last
		 * two; each step is one slab with its own row of entries. */
		walk_t w2 = *w;
		w2.m = w->m - 1;
		walk_first(&w2, &p);
		do {
			NAME(mom_slab)(x + p.x, w->ext[w->m - 2], w->len, a + p.e, skipnan,
			               need_m2);
		} while (walk_next(&w2, &p));
	}
}

static void NAME(mom_block)(const walk_t *w, const T *x, mom_t *a)
{
	NAME(mom_impl)(w, x, a, 0, 1);
}

static void NAME(mean_block)(const walk_t *w, const T *x, mom_t *a)
{
	NAME(mom_impl)(w, x, a, 0, 0);
}

#if KIND == RK_F
static void NAME(nanmom_block)(const walk_t *w, const T *x, mom_t *a)
{
	NAME(mom_impl)(w, x, a, 1, 1);
}

static void NAME(nanmean_block)(const walk_t *w, const T *x, mom_t *a)
{
	NAME(mom_impl)(w, x, a, 1, 0);
}
#endif

/* ------------------------------------------------------------ dispatch */

/* The block loop for op on this dtype; NaN-skipping ops on integer input
 * are the plain ones (integers have no NaN). */
static void NAME(block)(cask_redop_t op, const walk_t *w, const void *x, void *state)
{
	switch (op) {
	case CASK_SUM:
		NAME(sum_block)(w, x, state);
		break;
	case CASK_PROD:
		NAME(prod_block)(w, x, state);
		break;
	case CASK_MIN:
		NAME(min_block)(w, x, state);
		break;
	case CASK_MAX:
		NAME(max_block)(w, x, state);
		break;
	case CASK_ARGMIN:
		NAME(argmin_block)(w, x, state);
		break;
	case CASK_ARGMAX:
		NAME(argmax_block)(w, x, state);
		break;
	case CASK_ANY:
		NAME(any_block)(w, x, state);
		break;
	case CASK_ALL:
		NAME(all_block)(w, x, state);
		break;
	case CASK_COUNT_NONZERO:
		NAME(count_nonzero_block)(w, x, state);
		break;
	case CASK_MEAN:
		NAME(mean_block)(w, x, state);
		break;
	case CASK_VAR:
	case CASK_STD:
		NAME(mom_block)(w, x, state);
		break;
#if KIND == RK_F
	case CASK_NANSUM:
		NAME(nansum_block)(w, x, state);
		break;
	case CASK_NANPROD:
		NAME(nanprod_block)(w, x, state);
		break;
	case CASK_NANMIN:
		NAME(nanmin_block)(w, x, state);
		break;
	case CASK_NANMAX:
		NAME(nanmax_block)(w, x, state);
		break;
	case CASK_NANMEAN:
		NAME(nanmean_block)(w, x, state);
		break;
	case CASK_NANVAR:
	case CASK_NANSTD:
		NAME(nanmom_block)(w, x, state);
		break;
#else
	case CASK_NANSUM:
		NAME(sum_block)(w, x, state);
		break;
	case CASK_NANPROD:
		NAME(prod_block)(w, x, state);
		break;
	case CASK_NANMIN:
		NAME(min_block)(w, x, state);
		break;
	case CASK_NANMAX:
		NAME(max_block)(w, x, state);
		break;
	case CASK_NANMEAN:
		NAME(mean_block)(w, x, state);
		break;
	case CASK_NANVAR:
	case CASK_NANSTD:
		NAME(mom_block)(w, x, state);
		break;
#endif
	default:
		break;
	}
}

#undef RED_INLINE
#undef VT
#undef VF
#undef T
#undef SFX
#undef KIND
