/*
 * reduce.c - reduction kernels: block, merge and final steps of every
 * cask_redop_t on every dtype (the contract is in kernels.h, "reductions").
 *
 * Block walk.  A block is C-contiguous.  Its axes are first simplified:
 * extent-1 axes are dropped and adjacent axes that are both reduced or both
 * kept are fused, which leaves an alternating pattern of at most nd axes.
 * An iterative odometer then visits every axis but the innermost, and the
 * innermost axis is handled by one of two loops:
 *  - innermost axis reduced: a contiguous run of x goes into ONE entry
 *    (pairwise summation for float sums, like NumPy's pairwise_sum);
 *  - innermost axis kept: a contiguous run of x goes elementwise into a
 *    contiguous row of entries, acc[j] op= x[j] (the "reduce axis 0 of a
 *    2-d block" case, which the compiler vectorises; moments handle the
 *    last two axes together as slabs, see mom_slab in reduce.inc.c).
 * The per-dtype loops live in reduce.inc.c, included once per dtype; each
 * loop is a named static function (sum_block_f8, argmin_block_i1, ...).
 *
 * Entry layouts (8-byte slots, kernels.h):
 *  - SUM PROD NANSUM NANPROD: uint64 (bool and signed input: the int64 bit
 *    pattern, wrapping arithmetic done unsigned), uint64 (unsigned input) or
 *    double (float input);
 *  - COUNT_NONZERO: one int64 count for every input dtype;
 *  - ANY ALL: one uint64 holding 0 or 1;
 *  - MIN MAX NANMIN NANMAX: ext_t = value (int64, uint64 or double) + int64
 *    count of elements seen, NaN included.  MIN/MAX start from +-inf (or the
 *    integer extreme) and propagate NaN; NANMIN/NANMAX follow np.fmin/fmax
 *    and start from NaN, so a value of NaN with a count > 0 means all-NaN;
 *  - ARGMIN ARGMAX: arg_t = value + int64 index + int64 count.  Inside
 *    block the index is local (C-order flat over the block's reduced axes);
 *    block converts it to the global index before returning;
 *  - MEAN VAR STD and NAN variants: mom_t = (double n, mean, m2).  Within
 *    a block the two passes (mean, then squared deviations) run on
 *    cache-sized pieces that are combined with Chan's update, so a block is
 *    read from memory once (mean alone skips the second pass).
 */
#include <math.h>
#include <string.h>

#include "kernels.h"

/* One 8-byte value slot of min/max/arg entries. */
typedef union {
	int64_t i;
	uint64_t u;
	double f;
} rv_t;

typedef struct {
	rv_t v;
	int64_t n;
} ext_t;

typedef struct {
	rv_t v;
	int64_t idx;
	int64_t n;
} arg_t;

typedef struct {
	double n;
	double mean;
	double m2;
} mom_t;

/* Accumulator kinds: bool and signed ints, unsigned ints, floats (macros,
 * not enum constants: reduce.inc.c tests them with #if). */
#define RK_I 0
#define RK_U 1
#define RK_F 2

static int acc_kind(cask_dtype_t t)
{
	switch (t) {
	case CASK_UINT8:
	case CASK_UINT16:
	case CASK_UINT32:
	case CASK_UINT64:
		return RK_U;
	case CASK_FLOAT32:
	case CASK_FLOAT64:
		return RK_F;
	default:
		return RK_I;
	}
}

/*
 * The simplified block: m axes (1 <= m <= CASK_MAX_DIMS), each with its
 * extent, its stride in x (elements), in the entries (0 on reduced axes)
 * and in the local reduced flat index (0 on kept axes).
 */
typedef struct {
	int m;
	int inner_red;  /* innermost axis reduced (1) or kept (0) */
	int empty;      /* no element to visit (some extent is 0) */
	int64_t len;    /* extent of the innermost axis */
	int64_t nent;   /* entries = product of the kept extents */
	int64_t nred;   /* reduced elements per entry */
	int64_t ext[CASK_MAX_DIMS];
	int64_t xstr[CASK_MAX_DIMS];
	int64_t estr[CASK_MAX_DIMS];
	int64_t rstr[CASK_MAX_DIMS];
} walk_t;

/* Odometer position over axes 0..m-2 with the matching offsets. */
typedef struct {
	int64_t i[CASK_MAX_DIMS];
	int64_t x, e, r;
} walk_pos_t;

static void walk_setup(walk_t *w, int nd, const int64_t *shape, uint32_t redmask)
{
	int m = 0;
	int red[CASK_MAX_DIMS];

	w->nent = 1;
	w->nred = 1;
	for (int k = 0; k < nd && k < CASK_MAX_DIMS; k++) {
		int64_t e = shape[k];
		int r = (int)((redmask >> k) & 1u);

		if (r)
			w->nred *= e;
		else
			w->nent *= e;
		if (e == 1)
			continue;
		if (m > 0 && red[m - 1] == r) {
			w->ext[m - 1] *= e;
		} else {
			w->ext[m] = e;
			red[m] = r;
			m++;
		}
	}
	if (m == 0) {
		/* 0-d or all extents 1: one element into one entry. */
		w->ext[0] = 1;
		red[0] = 1;
		m = 1;
	}
	int64_t xs = 1, es = 1, rs = 1;
	for (int k = m - 1; k >= 0; k--) {
		w->xstr[k] = xs;
		xs *= w->ext[k];
		if (red[k]) {
			w->rstr[k] = rs;
			w->estr[k] = 0;
			rs *= w->ext[k];
		} else {
			w->estr[k] = es;
			w->rstr[k] = 0;
			es *= w->ext[k];
		}
	}
	w->m = m;
	w->inner_red = red[m - 1];
	w->len = w->ext[m - 1];
	w->empty = (w->nent == 0 || w->nred == 0);
}

static inline void walk_first(const walk_t *w, walk_pos_t *p)
{
	for (int k = 0; k < w->m; k++)
		p->i[k] = 0;
	p->x = 0;
	p->e = 0;
	p->r = 0;
}

/* Advance to the next innermost run; 0 when the walk is over. */
static inline int walk_next(const walk_t *w, walk_pos_t *p)
{
	for (int k = w->m - 2; k >= 0; k--) {
		p->x += w->xstr[k];
		p->e += w->estr[k];
		p->r += w->rstr[k];
		if (++p->i[k] < w->ext[k])
			return 1;
		p->i[k] = 0;
		p->x -= w->xstr[k] * w->ext[k];
		p->e -= w->estr[k] * w->ext[k];
		p->r -= w->rstr[k] * w->ext[k];
	}
	return 0;
}

/* Chan, Golub & LeVeque's pairwise update of (n, mean, M2): a = a + b. */
static inline void mom_combine(mom_t *a, const mom_t *b)
{
	double na = a->n, nb = b->n;

	if (nb == 0.0)
		return;
	if (na == 0.0) {
		*a = *b;
		return;
	}
	double nn = na + nb;
	double delta = b->mean - a->mean;
	if (isfinite(delta)) {
		a->mean += delta * (nb / nn);
	} else {
		/* inf or NaN means: the weighted form keeps mean(inf, 5) = inf
		 * (delta * nb/nn would give inf - inf = NaN). */
		a->mean = (na * a->mean + nb * b->mean) / nn;
	}
	a->m2 += b->m2 + delta * delta * (na * nb / nn);
	a->n = nn;
}

/* Moments work on runs of MOM_PIECE values (32 KiB of float64, so the
 * second pass reads from L1/L2), and on slabs in column tiles of MOM_TILE
 * entries and row groups of about MOM_SLAB values (128 KiB of float64: L2;
 * fewer, larger groups keep the per-group Chan update cheap). */
#define MOM_PIECE 4096
#define MOM_SLAB 16384
#define MOM_TILE 256

/* arg* scans runs in pieces of ARG_PIECE values (see arg_run). */
#define ARG_PIECE 1024

/* Pairwise-summation transforms (see pw_small in reduce.inc.c). */
enum { PW_SUM = 0, PW_NANSUM, PW_SQDEV, PW_NANSQDEV };
#define PW_BLOCKSIZE 128

/* Identity states, by accumulator kind. */
static void init_ext(ext_t *a, int64_t n, int kind, int is_max, int skipnan)
{
	for (int64_t e = 0; e < n; e++) {
		if (kind == RK_F)
			a[e].v.f = skipnan ? NAN : (is_max ? -INFINITY : INFINITY);
		else if (kind == RK_U)
			a[e].v.u = is_max ? 0 : UINT64_MAX;
		else
			a[e].v.i = is_max ? INT64_MIN : INT64_MAX;
		a[e].n = 0;
	}
}

static void init_arg(arg_t *a, int64_t n, int kind, int is_max)
{
	for (int64_t e = 0; e < n; e++) {
		if (kind == RK_F)
			a[e].v.f = is_max ? -INFINITY : INFINITY;
		else if (kind == RK_U)
			a[e].v.u = is_max ? 0 : UINT64_MAX;
		else
			a[e].v.i = is_max ? INT64_MIN : INT64_MAX;
		a[e].idx = 0;
		a[e].n = 0;
	}
}

/* Per-dtype block loops. */
#define RED_CAT2(a, b) a##_##b
#define RED_CAT(a, b) RED_CAT2(a, b)
#define NAME(base) RED_CAT(base, SFX)

#define T uint8_t
#define SFX b1
#define KIND RK_I
#include "reduce.inc.c"

#define T int8_t
#define SFX i1
#define KIND RK_I
#include "reduce.inc.c"

#define T int16_t
#define SFX i2
#define KIND RK_I
#include "reduce.inc.c"

#define T int32_t
#define SFX i4
#define KIND RK_I
#include "reduce.inc.c"

#define T int64_t
#define SFX i8
#define KIND RK_I
#include "reduce.inc.c"

#define T uint8_t
#define SFX u1
#define KIND RK_U
#include "reduce.inc.c"

#define T uint16_t
#define SFX u2
#define KIND RK_U
#include "reduce.inc.c"

#define T uint32_t
#define SFX u4
#define KIND RK_U
#include "reduce.inc.c"

#define T uint64_t
#define SFX u8
#define KIND RK_U
#include "reduce.inc.c"

#define T float
#define SFX f4
#define KIND RK_F
#include "reduce.inc.c"

#define T double
#define SFX f8
#define KIND RK_F
#include "reduce.inc.c"

#undef NAME
#undef RED_CAT
#undef RED_CAT2

/* ------------------------------------------------------------ public */

size_t cask_k_red_state_size(cask_redop_t op)
{
	switch (op) {
	case CASK_SUM:
	case CASK_PROD:
	case CASK_NANSUM:
	case CASK_NANPROD:
	case CASK_COUNT_NONZERO:
	case CASK_ANY:
	case CASK_ALL:
		return 8;
	case CASK_MIN:
	case CASK_MAX:
	case CASK_NANMIN:
	case CASK_NANMAX:
		return sizeof(ext_t);
	case CASK_ARGMIN:
	case CASK_ARGMAX:
		return sizeof(arg_t);
	case CASK_MEAN:
	case CASK_VAR:
	case CASK_STD:
	case CASK_NANMEAN:
	case CASK_NANVAR:
	case CASK_NANSTD:
		return sizeof(mom_t);
	default:
		return 0;
	}
}

/* NumPy 1.24's result dtypes (checked against numpy in tests/ref/gen_reduce.py).
 * Out-of-range op or dtype: CASK_NDTYPES. */
cask_dtype_t cask_k_red_result_dtype(cask_redop_t op, cask_dtype_t t)
{
	if ((unsigned)t >= (unsigned)CASK_NDTYPES)
		return CASK_NDTYPES;
	int kind = acc_kind(t);

	switch (op) {
	case CASK_SUM:
	case CASK_PROD:
	case CASK_NANSUM:
	case CASK_NANPROD:
		return kind == RK_F ? t : (kind == RK_U ? CASK_UINT64 : CASK_INT64);
	case CASK_MEAN:
	case CASK_VAR:
	case CASK_STD:
	case CASK_NANMEAN:
	case CASK_NANVAR:
	case CASK_NANSTD:
		return kind == RK_F ? t : CASK_FLOAT64;
	case CASK_MIN:
	case CASK_MAX:
	case CASK_NANMIN:
	case CASK_NANMAX:
		return t;
	case CASK_ARGMIN:
	case CASK_ARGMAX:
	case CASK_COUNT_NONZERO:
		return CASK_INT64;
	case CASK_ANY:
	case CASK_ALL:
		return CASK_BOOL;
	default:
		return CASK_NDTYPES;
	}
}

void cask_k_red_init(cask_redop_t op, cask_dtype_t t, int64_t n, void *state)
{
	int kind = acc_kind(t);
	int nan_ok = (kind == RK_F);

	switch (op) {
	case CASK_SUM:
	case CASK_NANSUM:
	case CASK_COUNT_NONZERO:
	case CASK_ANY:
		memset(state, 0, (size_t)n * 8);
		break;
	case CASK_PROD:
	case CASK_NANPROD:
		if (kind == RK_F) {
			double *a = state;
			for (int64_t e = 0; e < n; e++)
				a[e] = 1.0;
		} else {
			uint64_t *a = state;
			for (int64_t e = 0; e < n; e++)
				a[e] = 1;
		}
		break;
	case CASK_ALL: {
		uint64_t *a = state;
		for (int64_t e = 0; e < n; e++)
			a[e] = 1;
		break;
	}
	case CASK_MIN:
	case CASK_MAX:
	case CASK_NANMIN:
	case CASK_NANMAX:
		init_ext(state, n, kind, op == CASK_MAX || op == CASK_NANMAX,
		         nan_ok && (op == CASK_NANMIN || op == CASK_NANMAX));
		break;
	case CASK_ARGMIN:
	case CASK_ARGMAX:
		init_arg(state, n, kind, op == CASK_ARGMAX);
		break;
	case CASK_MEAN:
	case CASK_VAR:
	case CASK_STD:
	case CASK_NANMEAN:
	case CASK_NANVAR:
	case CASK_NANSTD: {
		mom_t *a = state;
		for (int64_t e = 0; e < n; e++) {
			a[e].n = 0.0;
			a[e].mean = 0.0;
			a[e].m2 = 0.0;
		}
		break;
	}
	default:
		break;
	}
}

/*
 * Turn the local reduced flat indices left by an arg* block loop into
 * C-order flat indices over the reduced axes of the full array:
 * sum over reduced k of (origin[k] + i_k) * prod(full[j], reduced j > k).
 */
static void arg_globalize(int nd, const int64_t *shape, uint32_t redmask,
                          const int64_t *origin, const int64_t *full, int64_t nent,
                          arg_t *a)
{
	int64_t mult[CASK_MAX_DIMS];
	int64_t M = 1, base = 0;
	int local = 1;

	for (int k = nd - 1; k >= 0; k--) {
		if (!((redmask >> k) & 1u))
			continue;
		int64_t o = origin ? origin[k] : 0;
		int64_t f = full ? full[k] : shape[k];
		mult[k] = M;
		M *= f;
		base += o * mult[k];
		if (o != 0 || f != shape[k])
			local = 0;
	}
	if (local)
		return; /* the block spans the reduced axes: local == global */
	for (int64_t e = 0; e < nent; e++) {
		int64_t r = a[e].idx, g = base;
		for (int k = nd - 1; k >= 0; k--) {
			if (!((redmask >> k) & 1u))
				continue;
			g += (r % shape[k]) * mult[k];
			r /= shape[k];
		}
		a[e].idx = g;
	}
}

/* Per-dtype dispatch of the block loops. */
static void block_dispatch(cask_redop_t op, cask_dtype_t t, const walk_t *w, const void *x,
                           void *state)
{
	switch (t) {
	case CASK_BOOL:
		block_b1(op, w, x, state);
		break;
	case CASK_INT8:
		block_i1(op, w, x, state);
		break;
	case CASK_INT16:
		block_i2(op, w, x, state);
		break;
	case CASK_INT32:
		block_i4(op, w, x, state);
		break;
	case CASK_INT64:
		block_i8(op, w, x, state);
		break;
	case CASK_UINT8:
		block_u1(op, w, x, state);
		break;
	case CASK_UINT16:
		block_u2(op, w, x, state);
		break;
	case CASK_UINT32:
		block_u4(op, w, x, state);
		break;
	case CASK_UINT64:
		block_u8(op, w, x, state);
		break;
	case CASK_FLOAT32:
		block_f4(op, w, x, state);
		break;
	case CASK_FLOAT64:
		block_f8(op, w, x, state);
		break;
	default:
		break;
	}
}

void cask_k_red_block(cask_redop_t op, cask_dtype_t t, int nd, const int64_t *shape,
                      uint32_t redmask, const void *x, const int64_t *origin,
                      const int64_t *full, void *state)
{
	walk_t w;

	walk_setup(&w, nd, shape, redmask);
	block_dispatch(op, t, &w, x, state);
	if ((op == CASK_ARGMIN || op == CASK_ARGMAX) && !w.empty)
		arg_globalize(nd, shape, redmask, origin, full, w.nent, state);
}

/* ------------------------------------------------------------ merge */

static void merge_ext(int kind, int is_max, int skipnan, int64_t n, ext_t *a,
                      const ext_t *b)
{
	for (int64_t e = 0; e < n; e++) {
		if (b[e].n == 0)
			continue;
		if (kind == RK_F) {
			double x = a[e].v.f, y = b[e].v.f;
			if (skipnan) {
				/* np.fmin / np.fmax: NaN only if both are NaN. */
				if (x != x || (y == y && (is_max ? y > x : y < x)))
					a[e].v.f = y;
			} else if (x == x && (y != y || (is_max ? y > x : y < x))) {
				a[e].v.f = y;
			}
		} else if (kind == RK_U) {
			uint64_t x = a[e].v.u, y = b[e].v.u;
			if (is_max ? y > x : y < x)
				a[e].v.u = y;
		} else {
			int64_t x = a[e].v.i, y = b[e].v.i;
			if (is_max ? y > x : y < x)
				a[e].v.i = y;
		}
		a[e].n += b[e].n;
	}
}

/* Does b beat a?  Ties (and two NaNs) go to the smaller global index. */
static int arg_better(int kind, int is_max, const arg_t *a, const arg_t *b)
{
	if (kind == RK_F) {
		double x = a->v.f, y = b->v.f;
		int xn = (x != x), yn = (y != y);
		if (xn || yn)
			return xn && yn ? b->idx < a->idx : yn;
		if (x == y)
			return b->idx < a->idx;
		return is_max ? y > x : y < x;
	}
	if (kind == RK_U) {
		if (a->v.u == b->v.u)
			return b->idx < a->idx;
		return is_max ? b->v.u > a->v.u : b->v.u < a->v.u;
	}
	if (a->v.i == b->v.i)
		return b->idx < a->idx;
	return is_max ? b->v.i > a->v.i : b->v.i < a->v.i;
}

static void merge_arg(int kind, int is_max, int64_t n, arg_t *a, const arg_t *b)
{
	for (int64_t e = 0; e < n; e++) {
		if (b[e].n == 0)
			continue;
		if (a[e].n == 0 || arg_better(kind, is_max, &a[e], &b[e])) {
			a[e].v = b[e].v;
			a[e].idx = b[e].idx;
		}
		a[e].n += b[e].n;
	}
}

static void merge_mom(int64_t n, mom_t *a, const mom_t *b)
{
	for (int64_t e = 0; e < n; e++)
		mom_combine(&a[e], &b[e]);
}

void cask_k_red_merge(cask_redop_t op, cask_dtype_t t, int64_t n, void *acc,
                      const void *other)
{
	int kind = acc_kind(t);

	switch (op) {
	case CASK_SUM:
	case CASK_NANSUM:
		if (kind == RK_F) {
			double *a = acc;
			const double *b = other;
			for (int64_t e = 0; e < n; e++)
				a[e] += b[e];
		} else {
			uint64_t *a = acc;
			const uint64_t *b = other;
			for (int64_t e = 0; e < n; e++)
				a[e] += b[e];
		}
		break;
	case CASK_PROD:
	case CASK_NANPROD:
		if (kind == RK_F) {
			double *a = acc;
			const double *b = other;
			for (int64_t e = 0; e < n; e++)
				a[e] *= b[e];
		} else {
			uint64_t *a = acc;
			const uint64_t *b = other;
			for (int64_t e = 0; e < n; e++)
				a[e] *= b[e];
		}
		break;
	case CASK_COUNT_NONZERO: {
		int64_t *a = acc;
		const int64_t *b = other;
		for (int64_t e = 0; e < n; e++)
			a[e] += b[e];
		break;
	}
	case CASK_ANY:
	case CASK_ALL: {
		uint64_t *a = acc;
		const uint64_t *b = other;
		if (op == CASK_ANY)
			for (int64_t e = 0; e < n; e++)
				a[e] |= b[e];
		else
			for (int64_t e = 0; e < n; e++)
				a[e] &= b[e];
		break;
	}
	case CASK_MIN:
	case CASK_MAX:
	case CASK_NANMIN:
	case CASK_NANMAX:
		merge_ext(kind, op == CASK_MAX || op == CASK_NANMAX,
		          op == CASK_NANMIN || op == CASK_NANMAX, n, acc, other);
		break;
	case CASK_ARGMIN:
	case CASK_ARGMAX:
		merge_arg(kind, op == CASK_ARGMAX, n, acc, other);
		break;
	case CASK_MEAN:
	case CASK_VAR:
	case CASK_STD:
	case CASK_NANMEAN:
	case CASK_NANVAR:
	case CASK_NANSTD:
		merge_mom(n, acc, other);
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------ final */

static void put_i64(cask_dtype_t rt, void *out, int64_t e, int64_t v)
{
	switch (rt) {
	case CASK_BOOL:
		((uint8_t *)out)[e] = (uint8_t)(v != 0);
		break;
	case CASK_INT8:
		((int8_t *)out)[e] = (int8_t)v;
		break;
	case CASK_INT16:
		((int16_t *)out)[e] = (int16_t)v;
		break;
	case CASK_INT32:
		((int32_t *)out)[e] = (int32_t)v;
		break;
	default:
		((int64_t *)out)[e] = v;
		break;
	}
}

static void put_u64(cask_dtype_t rt, void *out, int64_t e, uint64_t v)
{
	switch (rt) {
	case CASK_UINT8:
		((uint8_t *)out)[e] = (uint8_t)v;
		break;
	case CASK_UINT16:
		((uint16_t *)out)[e] = (uint16_t)v;
		break;
	case CASK_UINT32:
		((uint32_t *)out)[e] = (uint32_t)v;
		break;
	default:
		((uint64_t *)out)[e] = v;
		break;
	}
}

static void put_f64(cask_dtype_t rt, void *out, int64_t e, double v)
{
	if (rt == CASK_FLOAT32)
		((float *)out)[e] = (float)v;
	else
		((double *)out)[e] = v;
}

/* The bit pattern of a uint64 sum of signed input, as int64 (modular). */
static int64_t wrap_i64(uint64_t u)
{
	int64_t v;
	memcpy(&v, &u, sizeof v);
	return v;
}

static int final_ext(cask_dtype_t rt, int kind, int64_t n, const ext_t *a, void *out)
{
	int rc = 0;

	for (int64_t e = 0; e < n; e++) {
		if (a[e].n == 0)
			rc = 1;
		if (kind == RK_F)
			put_f64(rt, out, e, a[e].n == 0 ? NAN : a[e].v.f);
		else if (kind == RK_U)
			put_u64(rt, out, e, a[e].n == 0 ? 0 : a[e].v.u);
		else
			put_i64(rt, out, e, a[e].n == 0 ? 0 : a[e].v.i);
	}
	return rc;
}

/*
 * Moments to results.  var = m2 / max(n - ddof, 0) as np.var (so inf, or
 * NaN when m2 is 0, once ddof >= n); np.nanvar on float input instead gives
 * NaN whenever n - ddof <= 0 (on int/bool input it is np.var).
 */
static void final_mom(cask_redop_t op, cask_dtype_t rt, int nanrule, int64_t n,
                      const mom_t *a, int ddof, void *out)
{
	for (int64_t e = 0; e < n; e++) {
		double v;
		if (op == CASK_MEAN || op == CASK_NANMEAN) {
			v = a[e].n > 0.0 ? a[e].mean : NAN;
		} else {
			double d = a[e].n - (double)ddof;
			if (nanrule)
				v = d > 0.0 ? a[e].m2 / d : NAN;
			else
				v = a[e].m2 / (d > 0.0 ? d : 0.0);
			if (op == CASK_STD || op == CASK_NANSTD)
				v = sqrt(v);
		}
		put_f64(rt, out, e, v);
	}
}

int cask_k_red_final(cask_redop_t op, cask_dtype_t t, int64_t n, const void *state,
                     int ddof, void *out)
{
	int kind = acc_kind(t);
	cask_dtype_t rt = cask_k_red_result_dtype(op, t);
	int rc = 0;

	switch (op) {
	case CASK_SUM:
	case CASK_NANSUM:
	case CASK_PROD:
	case CASK_NANPROD:
		if (kind == RK_F) {
			const double *a = state;
			for (int64_t e = 0; e < n; e++)
				put_f64(rt, out, e, a[e]);
		} else if (kind == RK_U) {
			memcpy(out, state, (size_t)n * 8);
		} else {
			const uint64_t *a = state;
			int64_t *o = out;
			for (int64_t e = 0; e < n; e++)
				o[e] = wrap_i64(a[e]);
		}
		break;
	case CASK_COUNT_NONZERO:
		memcpy(out, state, (size_t)n * 8);
		break;
	case CASK_ANY:
	case CASK_ALL: {
		const uint64_t *a = state;
		uint8_t *o = out;
		for (int64_t e = 0; e < n; e++)
			o[e] = (uint8_t)(a[e] != 0);
		break;
	}
	case CASK_MIN:
	case CASK_MAX:
	case CASK_NANMIN:
	case CASK_NANMAX:
		rc = final_ext(rt, kind, n, state, out);
		break;
	case CASK_ARGMIN:
	case CASK_ARGMAX: {
		const arg_t *a = state;
		int64_t *o = out;
		for (int64_t e = 0; e < n; e++) {
			if (a[e].n == 0)
				rc = 1;
			o[e] = a[e].n == 0 ? -1 : a[e].idx;
		}
		break;
	}
	case CASK_MEAN:
	case CASK_VAR:
	case CASK_STD:
	case CASK_NANMEAN:
	case CASK_NANVAR:
	case CASK_NANSTD:
		final_mom(op, rt, kind == RK_F && (op == CASK_NANVAR || op == CASK_NANSTD), n,
		          state, ddof, out);
		break;
	default:
		break;
	}
	return rc;
}
