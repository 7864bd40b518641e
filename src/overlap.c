/*
 * overlap.c - apply-parallel: map_blocks and map_overlap with user C
 * callbacks, scikit-image's apply_parallel, and the built-in
 * scipy.ndimage filters (issue 5), all as N_MAP nodes of the lazy DAG.
 *
 * How a node is evaluated.  The region evaluator asks an N_MAP node for a
 * region (start + i*step, i < count).  The node
 *   1. takes the unit-step bounding box B of the region;
 *   2. for every input, builds a PADDED block: B grown by the halo on each
 *      side.  Cells inside the array are evaluated from the input as one
 *      enlarged region (a hyperslab read for an HDF5 leaf, never 3^n
 *      neighbour chunks); cells outside the array take the boundary mode
 *      of their axis (scipy.ndimage's index maps, cask_k_pad_index).  The
 *      sources of reflect / mirror / nearest padding are near the edge,
 *      inside that region; wrap padding comes from the far end of the axis
 *      and is evaluated as separate small regions ("pieces"), never the
 *      whole axis;
 *   3. runs the filter kernel (kernels/ndimage.h) or the user callback on
 *      the padded block and writes the region (through one strided copy
 *      when a step is not 1).
 * Built-in filters get a float64 padded block, except float32 gaussians of
 * order 0, which get a float32 block and run cask_k_nd_apply_f32; user
 * callbacks get blocks of the input dtype.  A padded block with no cell
 * outside the array is read straight into place (no window, no gather).
 * Because each node asks its input for region + its own halo, halos add up
 * by themselves when filters nest (sobel(gaussian(x))): the result equals
 * applying the scipy filters one after another on the whole array.
 *
 * Invariants:
 *  1. Every temporary comes from the evaluator's arena (cask__ev_alloc) in
 *     stack order, and dry mode (planning) allocates at least as much as a
 *     real evaluation of any region no larger than the planned one, so the
 *     plan bounds the run: the window and the piece buffers are reserved at
 *     their worst case (min(padded extent, axis length) per axis) in dry
 *     mode, and the input is planned over a region of that worst size.
 *  2. The window W holding the source cells is the product over axes of a
 *     few disjoint source intervals (one for every mode but wrap); the
 *     padded block is gathered from W through one index map per axis.
 *  3. User callbacks see the blocks of the node's own chunk grid (the
 *     caller's output chunks), whatever region the evaluator asks for, so
 *     a callback that is not a pure stencil still sees the blocks it was
 *     promised.  A block is recomputed for every region that touches it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "eval.h"
#include "kernels.h"
#include "ndimage.h"

#define MAXIV 3 /* source intervals per axis: inside, low wrap, high wrap */

/* ------------------------------------------------------------ modes */

static const char *const mode_names[CASK_NMODES] = {
	"none", "reflect", "mirror", "nearest", "constant", "wrap",
};

const char *cask_mode_name(cask_mode_t m)
{
	if ((int)m < 0 || m >= CASK_NMODES)
		return "?";
	return mode_names[m];
}

int cask_mode_parse(const char *s, cask_mode_t *out)
{
	static const struct { const char *name; cask_mode_t m; } alias[] = {
		/* scipy.ndimage's synonyms for filters */
		{"grid-mirror", CASK_MODE_REFLECT}, {"grid-constant", CASK_MODE_CONSTANT},
		{"grid-wrap", CASK_MODE_WRAP},
	};
	if (s == NULL || out == NULL)
		return CASK_EINVAL;
	for (int i = 0; i < CASK_NMODES; i++) {
		if (strcmp(s, mode_names[i]) == 0) {
			*out = (cask_mode_t)i;
			return 0;
		}
	}
	for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++) {
		if (strcmp(s, alias[i].name) == 0) {
			*out = alias[i].m;
			return 0;
		}
	}
	return CASK_EINVAL;
}

static cask_k_pad_mode_t kmode(cask_mode_t m)
{
	switch (m) {
	case CASK_MODE_MIRROR: return CASK_K_PAD_MIRROR;
	case CASK_MODE_NEAREST: return CASK_K_PAD_NEAREST;
	case CASK_MODE_CONSTANT: return CASK_K_PAD_CONSTANT;
	case CASK_MODE_WRAP: return CASK_K_PAD_WRAP;
	default: return CASK_K_PAD_REFLECT; /* NONE never pads: any map works */
	}
}

/* ------------------------------------------------------------ small helpers */

static void c_strides(int nd, const int64_t *count, int64_t *s)
{
	int64_t acc = 1;
	for (int k = nd - 1; k >= 0; k--) {
		s[k] = acc;
		acc *= count[k];
	}
}

/* Bytes of an n-d block of es-byte elements, overflow-checked. */
static int block_bytes(int nd, const int64_t *ext, size_t es, size_t *out)
{
	int64_t n;
	if (cask__prod_i64(nd, ext, &n) != 0 || n < 0)
		return CASK_EOVERFLOW;
	return cask__mul_size((size_t)n, es, out);
}

static int too_big(cask_ctx_t *ctx, const char *what, int nd, const int64_t *ext)
{
	char buf[256];
	size_t o = 0;
	buf[0] = '\0';
	for (int k = 0; k < nd && o < sizeof buf - 24; k++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%lld", k ? "x" : "", (long long)ext[k]);
	return cask__error(ctx, CASK_EOVERFLOW, "%s of extents %s: byte size overflows", what, buf);
}

/* Unit-step bounding box [b0, b0 + bc) of a region. */
static void bounding_box(int nd, const int64_t *start, const int64_t *count, const int64_t *step,
                         int64_t *b0, int64_t *bc)
{
	for (int k = 0; k < nd; k++) {
		int64_t last = start[k] + (count[k] - 1) * step[k];
		b0[k] = step[k] >= 0 ? start[k] : last;
		bc[k] = (count[k] - 1) * (step[k] >= 0 ? step[k] : -step[k]) + 1;
	}
}

/* Copy the region (start, count, step) of block Y (extents yext, whose
 * cell 0 is at global index y0) into the C-contiguous out at the region
 * positions i in [i0, i1) per axis (the part of the region Y covers). */
static void copy_region_part(int nd, size_t es, const void *Y, const int64_t *y0,
                             const int64_t *yext, const int64_t *start, const int64_t *count,
                             const int64_t *step, const int64_t *i0, const int64_t *i1, void *out)
{
	int64_t ys[CASK_MAX_DIMS], os[CASK_MAX_DIMS], ss[CASK_MAX_DIMS], cnt[CASK_MAX_DIMS];
	c_strides(nd, yext, ys);
	c_strides(nd, count, os);
	const char *src = Y;
	char *dst = out;
	for (int k = 0; k < nd; k++) {
		int64_t g = start[k] + i0[k] * step[k];
		src += (g - y0[k]) * ys[k] * (int64_t)es;
		dst += i0[k] * os[k] * (int64_t)es;
		ss[k] = step[k] * ys[k];
		cnt[k] = i1[k] - i0[k];
		if (cnt[k] <= 0)
			return;
	}
	cask_k_copy_nd(nd, cnt, es, src, ss, dst, os);
}

/* Region indices i (per axis) whose global index start + i*step lies in
 * [lo, hi): [*i0, *i1), empty when *i0 >= *i1. */
static void region_range(int64_t start, int64_t count, int64_t step, int64_t lo, int64_t hi,
                         int64_t *i0, int64_t *i1)
{
	/* step != 0; the positions are monotone in i */
	int64_t a, b;
	if (step > 0) {
		a = lo <= start ? 0 : (lo - start + step - 1) / step;
		b = hi <= start ? 0 : (hi - start + step - 1) / step;
	} else {
		int64_t s = -step;
		a = start < hi ? 0 : (start - hi) / s + 1;
		b = start < lo ? 0 : (start - lo) / s + 1;
	}
	if (a > count)
		a = count;
	if (b > count)
		b = count;
	*i0 = a;
	*i1 = b;
}

/* ------------------------------------------------------------ padded blocks */

/* One axis of a padded block: its cells g0 .. g0+ext-1 (global indices),
 * the source intervals of the window and the index map. */
typedef struct {
	int niv;
	int64_t lo[MAXIV], hi[MAXIV]; /* source intervals, sorted, disjoint */
	int64_t woff[MAXIV];          /* their offsets in the window */
	int64_t wext;                 /* window extent: sum of interval lengths */
} axis_plan_t;

/* What build_block needs to know about the block to build. */
typedef struct {
	int nd;
	const int64_t *full;                  /* array shape */
	int64_t g0[CASK_MAX_DIMS];            /* global index of padded cell 0 */
	int64_t ext[CASK_MAX_DIMS];           /* padded extents */
	cask_k_pad_mode_t mode[CASK_MAX_DIMS];
	int to_double;                        /* 1: block of float64; 0: input dtype */
	double cval;                          /* constant padding (float64 block) */
	const void *cbytes;                   /* constant padding (input dtype block) */
} pad_t;

static void add_iv(axis_plan_t *a, int64_t lo, int64_t hi)
{
	if (lo >= hi)
		return;
	a->lo[a->niv] = lo;
	a->hi[a->niv++] = hi;
}

/* Source intervals of one axis: the cells inside the array, plus for wrap
 * the far-end cells that the padding copies; merged where they touch. */
static void plan_axis(cask_k_pad_mode_t mode, int64_t n, int64_t g0, int64_t ext, axis_plan_t *a)
{
	a->niv = 0;
	int64_t g1 = g0 + ext;
	int64_t in0 = g0 > 0 ? g0 : 0, in1 = g1 < n ? g1 : n;
	if (mode != CASK_K_PAD_WRAP) {
		int64_t s0, s1;
		cask_k_pad_hull(mode, n, g0, g1, &s0, &s1);
		if (in0 < in1) {
			if (s0 == s1) {
				s0 = in0;
				s1 = in1;
			}
			s0 = s0 < in0 ? s0 : in0;
			s1 = s1 > in1 ? s1 : in1;
		}
		add_iv(a, s0, s1);
	} else {
		int64_t lo[MAXIV], hi[MAXIV];
		int m = 0;
		if (g0 < 0) {
			lo[m] = -g0 >= n ? 0 : n + g0;
			hi[m++] = n;
		}
		if (in0 < in1) {
			lo[m] = in0;
			hi[m++] = in1;
		}
		if (g1 > n) {
			lo[m] = 0;
			hi[m++] = g1 - n >= n ? n : g1 - n;
		}
		/* sort by start (m <= 3) and merge overlapping or adjacent runs */
		for (int i = 1; i < m; i++)
			for (int j = i; j > 0 && lo[j] < lo[j - 1]; j--) {
				int64_t t = lo[j]; lo[j] = lo[j - 1]; lo[j - 1] = t;
				t = hi[j]; hi[j] = hi[j - 1]; hi[j - 1] = t;
			}
		for (int i = 0; i < m; i++) {
			if (a->niv > 0 && lo[i] <= a->hi[a->niv - 1]) {
				if (hi[i] > a->hi[a->niv - 1])
					a->hi[a->niv - 1] = hi[i];
			} else {
				add_iv(a, lo[i], hi[i]);
			}
		}
	}
	a->wext = 0;
	for (int i = 0; i < a->niv; i++) {
		a->woff[i] = a->wext;
		a->wext += a->hi[i] - a->lo[i];
	}
}

/* Window position of every padded cell of one axis (-1: constant). */
static void axis_map(cask_k_pad_mode_t mode, int64_t n, int64_t g0, int64_t ext,
                     const axis_plan_t *a, int64_t *map)
{
	for (int64_t j = 0; j < ext; j++) {
		int64_t s = cask_k_pad_index(mode, n, g0 + j);
		int64_t p = -1;
		for (int i = 0; i < a->niv && s >= 0; i++) {
			if (s >= a->lo[i] && s < a->hi[i]) {
				p = a->woff[i] + s - a->lo[i];
				break;
			}
		}
		map[j] = p;
	}
}

/* Gather es-byte elements src[map[j]] (cval bytes where map[j] < 0). */
static void gather_row(int64_t n, size_t es, const char *src, const int64_t *map,
                       const void *cbytes, char *dst)
{
	switch (es) {
	case 1:
		for (int64_t j = 0; j < n; j++)
			dst[j] = map[j] >= 0 ? src[map[j]] : *(const char *)cbytes;
		break;
	case 2: {
		uint16_t c, *d = (uint16_t *)(void *)dst;
		const uint16_t *s = (const uint16_t *)(const void *)src;
		memcpy(&c, cbytes, 2);
		for (int64_t j = 0; j < n; j++)
			d[j] = map[j] >= 0 ? s[map[j]] : c;
		break;
	}
	case 4: {
		uint32_t c, *d = (uint32_t *)(void *)dst;
		const uint32_t *s = (const uint32_t *)(const void *)src;
		memcpy(&c, cbytes, 4);
		for (int64_t j = 0; j < n; j++)
			d[j] = map[j] >= 0 ? s[map[j]] : c;
		break;
	}
	default: {
		uint64_t c, *d = (uint64_t *)(void *)dst;
		const uint64_t *s = (const uint64_t *)(const void *)src;
		memcpy(&c, cbytes, 8);
		for (int64_t j = 0; j < n; j++)
			d[j] = map[j] >= 0 ? s[map[j]] : c;
		break;
	}
	}
}

/* Fill the padded block P from the window W through the axis maps. */
static void gather_block(const pad_t *p, int64_t *const *map, const int64_t *wext,
                         cask_dtype_t wt, const void *W, void *P, char *rowbuf)
{
	int nd = p->nd;
	size_t es = cask_dtype_size(wt);
	size_t pes = p->to_double ? sizeof(double) : es;
	int64_t ws[CASK_MAX_DIMS];
	c_strides(nd, wext, ws);
	int64_t nl = p->ext[nd - 1];
	const int64_t *ml = map[nd - 1];
	/* the last axis maps to one contiguous run of W (no padding on it)? */
	int contig = 1;
	for (int64_t j = 0; j < nl && contig; j++)
		contig = ml[j] >= 0 && ml[j] == ml[0] + j;
	int64_t idx[CASK_MAX_DIMS] = {0};
	char *prow = P;
	for (;;) {
		int64_t woff = 0;
		int cst = 0;
		for (int k = 0; k < nd - 1; k++) {
			int64_t m = map[k][idx[k]];
			if (m < 0)
				cst = 1;
			woff += m * ws[k];
		}
		const char *wrow = (const char *)W + woff * (int64_t)es;
		if (cst) {
			if (p->to_double) {
				double *d = (double *)(void *)prow;
				for (int64_t j = 0; j < nl; j++)
					d[j] = p->cval;
			} else {
				for (int64_t j = 0; j < nl; j++)
					memcpy(prow + j * (int64_t)es, p->cbytes, es);
			}
		} else if (contig) {
			const char *s = wrow + ml[0] * (int64_t)es;
			if (p->to_double)
				cask_k_cast(nl, wt, s, 1, CASK_FLOAT64, prow);
			else
				memcpy(prow, s, (size_t)nl * es);
		} else if (p->to_double) {
			static const uint64_t zero = 0; /* placeholder, replaced by cval below */
			gather_row(nl, es, wrow, ml, &zero, rowbuf);
			cask_k_cast(nl, wt, rowbuf, 1, CASK_FLOAT64, prow);
			double *d = (double *)(void *)prow;
			for (int64_t j = 0; j < nl; j++)
				if (ml[j] < 0)
					d[j] = p->cval;
		} else {
			gather_row(nl, es, wrow, ml, p->cbytes, prow);
		}
		prow += nl * (int64_t)pes;
		int k = nd - 2;
		for (; k >= 0; k--) {
			if (++idx[k] < p->ext[k])
				break;
			idx[k] = 0;
		}
		if (k < 0)
			break;
	}
}

/* Build the padded block P of input src described by p.  P must hold
 * prod(ext) elements (float64, or src's dtype).  Temporaries are released
 * before returning. */
static int build_block(cask__ev_t *e, cask_array_t *src, const pad_t *p, void *P)
{
	cask_ctx_t *ctx = cask__ev_ctx(e);
	int dry = cask__ev_dry(e);
	int nd = p->nd;
	cask_dtype_t wt = src->dtype;
	size_t es = cask_dtype_size(wt);
	size_t mark = cask__ev_mark(e);
	int64_t ones[CASK_MAX_DIMS];
	for (int k = 0; k < CASK_MAX_DIMS; k++)
		ones[k] = 1;
	int rc = 0;
	if (nd == 0) {
		/* a 0-d block is its one value */
		void *w = p->to_double ? cask__ev_alloc(e, es) : P;
		if (w == NULL)
			return cask__error(ctx, CASK_EINTERNAL, "task scratch exhausted (plan and run disagree)");
		rc = cask__ev_region(e, src, ones, ones, ones, w);
		if (rc == 0 && !dry && p->to_double)
			cask_k_cast(1, wt, w, 1, CASK_FLOAT64, P);
		cask__ev_release(e, mark);
		return rc;
	}
	axis_plan_t ax[CASK_MAX_DIMS];
	int64_t wext[CASK_MAX_DIMS], wcap[CASK_MAX_DIMS];
	int64_t *map[CASK_MAX_DIMS];
	int nbox = 1;
	for (int k = 0; k < nd; k++) {
		plan_axis(p->mode[k], p->full[k], p->g0[k], p->ext[k], &ax[k]);
		wext[k] = ax[k].wext;
		wcap[k] = p->ext[k] < p->full[k] ? p->ext[k] : p->full[k];
		nbox *= ax[k].niv;
		map[k] = cask__ev_alloc(e, (size_t)p->ext[k] * sizeof(int64_t));
		if (map[k] == NULL) {
			rc = CASK_EINTERNAL;
			goto out;
		}
	}
	if (!dry && !p->to_double) {
		/* A block with no cell outside the array (every axis one source
		 * interval equal to the block's cells) is the region itself: read
		 * it straight into P, no window and no gather. */
		int inside = 1;
		int64_t bs[CASK_MAX_DIMS], bn[CASK_MAX_DIMS];
		for (int k = 0; k < nd; k++) {
			inside &= ax[k].niv == 1 && ax[k].lo[0] == p->g0[k] &&
			          ax[k].hi[0] == p->g0[k] + p->ext[k];
			bs[k] = p->g0[k];
			bn[k] = p->ext[k];
		}
		if (inside) {
			rc = cask__ev_region(e, src, bs, bn, ones, P);
			goto out;
		}
	}
	size_t wbytes;
	if (block_bytes(nd, dry ? wcap : wext, es, &wbytes) != 0) {
		rc = too_big(ctx, "halo window", nd, dry ? wcap : wext);
		goto out;
	}
	char *W = cask__ev_alloc(e, wbytes);
	char *rowbuf = cask__ev_alloc(e, (size_t)p->ext[nd - 1] * es);
	if (W == NULL || rowbuf == NULL) {
		rc = CASK_EINTERNAL;
		goto out;
	}
	if (dry) {
		/* Worst case: a piece buffer as large as the window, and the input
		 * planned over a region of the window's worst size. */
		int64_t st[CASK_MAX_DIMS];
		for (int k = 0; k < nd; k++) {
			st[k] = p->g0[k] < 0 ? 0 : p->g0[k];
			if (st[k] + wcap[k] > p->full[k])
				st[k] = p->full[k] - wcap[k];
		}
		void *T = cask__ev_alloc(e, wbytes);
		if (T == NULL) {
			rc = CASK_EINTERNAL;
			goto out;
		}
		rc = cask__ev_region(e, src, st, wcap, ones, T);
		goto out;
	}
	for (int k = 0; k < nd; k++)
		axis_map(p->mode[k], p->full[k], p->g0[k], p->ext[k], &ax[k], map[k]);
	int64_t ws[CASK_MAX_DIMS];
	c_strides(nd, wext, ws);
	int bi[CASK_MAX_DIMS] = {0};
	for (;;) {
		int64_t bs[CASK_MAX_DIMS], bn[CASK_MAX_DIMS];
		int direct = 1;
		char *dst = W;
		for (int k = 0; k < nd; k++) {
			bs[k] = ax[k].lo[bi[k]];
			bn[k] = ax[k].hi[bi[k]] - bs[k];
			dst += ax[k].woff[bi[k]] * ws[k] * (int64_t)es;
			if (k > 0 && bn[k] != wext[k])
				direct = 0;
		}
		if (direct) {
			/* a slab of W along axis 0: contiguous */
			rc = cask__ev_region(e, src, bs, bn, ones, dst);
		} else {
			size_t pm = cask__ev_mark(e);
			size_t tb;
			int64_t ts[CASK_MAX_DIMS];
			block_bytes(nd, bn, es, &tb); /* <= wbytes: no overflow */
			void *T = cask__ev_alloc(e, tb);
			if (T == NULL) {
				rc = CASK_EINTERNAL;
				goto out;
			}
			rc = cask__ev_region(e, src, bs, bn, ones, T);
			if (rc == 0) {
				c_strides(nd, bn, ts);
				cask_k_copy_nd(nd, bn, es, T, ts, dst, ws);
			}
			cask__ev_release(e, pm);
		}
		if (rc != 0)
			goto out;
		int k = nd - 1;
		for (; k >= 0; k--) {
			if (++bi[k] < ax[k].niv)
				break;
			bi[k] = 0;
		}
		if (k < 0)
			break;
	}
	gather_block(p, map, wext, wt, W, P, rowbuf);
out:
	cask__ev_release(e, mark);
	if (rc == CASK_EINTERNAL)
		rc = cask__error(ctx, CASK_EINTERNAL,
		                 "task scratch exhausted building a halo block: evaluation plan and run disagree");
	return rc;
}

/* ------------------------------------------------------------ built-in filters */

typedef struct {
	cask_k_nd_spec_t k;
	int64_t lo[CASK_MAX_DIMS], hi[CASK_MAX_DIMS];
	double pad_cval; /* what outside cells hold in constant mode */
	double *weights; /* owned copy (correlate / convolve) */
	const char *name;
} filt_t;

static void filt_destroy(void *state)
{
	filt_t *f = state;
	if (f == NULL)
		return;
	free(f->weights);
	free(f);
}

static int filt_eval(cask__ev_t *e, cask_array_t *node, const int64_t *start,
                     const int64_t *count, const int64_t *step, void *out)
{
	filt_t *f = node->u.map.state;
	cask_ctx_t *ctx = cask__ev_ctx(e);
	int dry = cask__ev_dry(e);
	int nd = node->ndim;
	for (int k = 0; k < nd; k++)
		if (count[k] <= 0)
			return 0;
	size_t mark = cask__ev_mark(e);
	int rc = 0;
	int64_t b0[CASK_MAX_DIMS], bc[CASK_MAX_DIMS];
	bounding_box(nd, start, count, step, b0, bc);
	/* float32 gaussians run on a float32 padded block (kernels/ndimage.h) */
	int f32 = node->dtype == CASK_FLOAT32 && node->in[0]->dtype == CASK_FLOAT32 &&
	          cask_k_nd_f32_ok(&f->k);
	float cval32 = (float)f->pad_cval;
	pad_t p = {.nd = nd, .full = node->shape, .to_double = !f32, .cval = f->pad_cval,
	           .cbytes = &cval32};
	int unit = 1;
	for (int k = 0; k < nd; k++) {
		p.g0[k] = b0[k] - f->lo[k];
		p.ext[k] = bc[k] + f->lo[k] + f->hi[k];
		p.mode[k] = f->k.mode[k];
		unit &= step[k] == 1;
	}
	size_t pbytes, ybytes;
	size_t es = cask_dtype_size(node->dtype);
	if (block_bytes(nd, p.ext, f32 ? sizeof(float) : sizeof(double), &pbytes) != 0)
		return too_big(ctx, "padded block", nd, p.ext);
	if (block_bytes(nd, bc, es, &ybytes) != 0)
		return too_big(ctx, "filter block", nd, bc);
	size_t sbytes = f32 ? cask_k_nd_scratch_bytes_f32(&f->k, bc)
	                    : cask_k_nd_scratch_bytes(&f->k, bc);
	if (sbytes == SIZE_MAX)
		return too_big(ctx, "filter scratch for a block", nd, bc);
	void *P = cask__ev_alloc(e, pbytes);
	if (P == NULL) {
		rc = CASK_EINTERNAL;
		goto out;
	}
	rc = build_block(e, node->in[0], &p, P);
	if (rc != 0)
		goto out;
	/* out is NULL in dry mode */
	void *Y = unit ? out : cask__ev_alloc(e, ybytes);
	void *scr = cask__ev_alloc(e, sbytes);
	if ((!unit && Y == NULL) || scr == NULL) {
		rc = CASK_EINTERNAL;
		goto out;
	}
	if (dry)
		goto out;
	if (f32)
		cask_k_nd_apply_f32(&f->k, bc, b0, node->shape, P, Y, scr);
	else
		cask_k_nd_apply(&f->k, node->dtype, bc, b0, node->shape, P, Y, scr);
	if (!unit) {
		int64_t i0[CASK_MAX_DIMS], i1[CASK_MAX_DIMS];
		for (int k = 0; k < nd; k++) {
			i0[k] = 0;
			i1[k] = count[k];
		}
		copy_region_part(nd, es, Y, b0, bc, start, count, step, i0, i1, out);
	}
out:
	cask__ev_release(e, mark);
	if (rc == CASK_EINTERNAL)
		rc = cask__error(ctx, CASK_EINTERNAL,
		                 "task scratch exhausted in %s: evaluation plan and run disagree", f->name);
	return rc;
}

static const cask__map_ops_t filt_ops = {"filter", filt_eval, filt_destroy};

static const char *const filter_names[CASK_NFILTERS] = {
	"gaussian_filter", "uniform_filter", "median_filter", "minimum_filter",
	"maximum_filter", "sobel", "prewitt", "laplace", "gaussian_gradient_magnitude",
	"gaussian_laplace", "correlate", "convolve",
};

const char *cask_filter_name(cask_filter_kind_t kind)
{
	if ((int)kind < 0 || kind >= CASK_NFILTERS)
		return "?";
	return filter_names[kind];
}

int cask_filter_parse(const char *s, cask_filter_kind_t *out)
{
	static const struct { const char *name; cask_filter_kind_t k; } alias[] = {
		{"gaussian", CASK_FILTER_GAUSSIAN}, {"uniform", CASK_FILTER_UNIFORM},
		{"median", CASK_FILTER_MEDIAN}, {"minimum", CASK_FILTER_MINIMUM},
		{"maximum", CASK_FILTER_MAXIMUM}, {"min", CASK_FILTER_MINIMUM},
		{"max", CASK_FILTER_MAXIMUM},
	};
	if (s == NULL || out == NULL)
		return CASK_EINVAL;
	for (int i = 0; i < CASK_NFILTERS; i++) {
		if (strcmp(s, filter_names[i]) == 0) {
			*out = (cask_filter_kind_t)i;
			return 0;
		}
	}
	for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++) {
		if (strcmp(s, alias[i].name) == 0) {
			*out = alias[i].k;
			return 0;
		}
	}
	return CASK_EINVAL;
}

void cask_filter_init(cask_filter_t *spec, cask_filter_kind_t kind)
{
	if (spec == NULL)
		return;
	memset(spec, 0, sizeof *spec);
	spec->kind = kind;
	spec->truncate = 4.0;
	spec->axis = -1;
	spec->nmode = 1;
	spec->mode[0] = CASK_MODE_REFLECT;
	if (kind == CASK_FILTER_UNIFORM) {
		spec->nsize = 1;
		spec->size[0] = 3;
	}
}

static const cask_k_nd_filter_t kind_map[CASK_NFILTERS] = {
	CASK_K_ND_GAUSSIAN, CASK_K_ND_UNIFORM, CASK_K_ND_MEDIAN, CASK_K_ND_MINIMUM,
	CASK_K_ND_MAXIMUM, CASK_K_ND_SOBEL, CASK_K_ND_PREWITT, CASK_K_ND_LAPLACE,
	CASK_K_ND_GAUSSIAN_GRADIENT_MAGNITUDE, CASK_K_ND_GAUSSIAN_LAPLACE, CASK_K_ND_CORRELATE,
	CASK_K_ND_CONVOLVE,
};

/* Expand a scalar-or-per-axis parameter (n entries: 1 = every axis). */
static int per_axis(cask_ctx_t *ctx, const char *filter, const char *what, int n, int nd)
{
	if (n == 1 || n == nd)
		return 0;
	return cask__error(ctx, CASK_EINVAL,
	                   "%s: %s has %d values; give one or one per axis (%d)", filter, what, n, nd);
}

static int check_message(cask_ctx_t *ctx, const char *name, int why)
{
	static const char *const text[] = {
		"ok", "unknown filter", "rank out of range", "bad mode (this filter takes one mode for every axis)",
		"sigma and truncate must be finite and >= 0 and the radius at most 2^20",
		"gaussian order must be 0, 1 or 2", "size must be >= 1",
		"origin out of range (-(size/2) <= origin <= (size-1)/2)", "axis out of range",
		"weights must be non-empty and finite",
	};
	const char *t = why > 0 && why < (int)(sizeof text / sizeof text[0]) ? text[why] : "invalid spec";
	return cask__error(ctx, CASK_EINVAL, "%s: %s", name, t);
}

/* Bool input, as scipy.ndimage filters it: every pass reads the bytes as
 * numbers and writes its result into a bool output with C's cast to an
 * unsigned char, the cast the uint8 path already makes (and its passes
 * truncate between axes as scipy's do); a byte that is not 0 is True.  So:
 * through uint8 and back, e.g. maximum_filter(mask, 3) is a dilation.  The
 * laplace family and gaussian_gradient_magnitude are refused: scipy adds
 * and multiplies their terms with NumPy's bool arithmetic (or, and), which
 * the uint8 path does not follow. */
static int filter_bool(cask_ctx_t *ctx, const cask_filter_t *spec, cask_array_t *x,
                       cask_array_t **out)
{
	cask_filter_kind_t kind = spec->kind;
	if (kind == CASK_FILTER_LAPLACE || kind == CASK_FILTER_GAUSSIAN_LAPLACE ||
	    kind == CASK_FILTER_GAUSSIAN_GRADIENT_MAGNITUDE)
		return cask__error(ctx, CASK_ETYPE, "%s: bool input is not supported (scipy combines its "
		                   "terms with bool arithmetic); cast it first (astype)",
		                   filter_names[kind]);
	cask_array_t *u8 = NULL, *r = NULL;
	int rc = cask_astype(ctx, x, CASK_UINT8, &u8);
	if (rc == 0)
		rc = cask_filter(ctx, spec, u8, &r);
	if (rc == 0)
		rc = cask_astype(ctx, r, CASK_BOOL, out);
	cask_array_destroy(u8);
	cask_array_destroy(r);
	return rc;
}

int cask_filter(cask_ctx_t *ctx, const cask_filter_t *spec, cask_array_t *x, cask_array_t **out)
{
	int rc = CASK__CHECK_PTRS(ctx, ctx, spec, x, out);
	if (rc != 0)
		return rc;
	if ((int)spec->kind < 0 || spec->kind >= CASK_NFILTERS)
		return cask__error(ctx, CASK_EINVAL, "cask_filter: unknown filter %d", (int)spec->kind);
	const char *name = filter_names[spec->kind];
	int nd = x->ndim;
	cask_filter_kind_t kind = spec->kind;
	int gauss = kind == CASK_FILTER_GAUSSIAN || kind == CASK_FILTER_GAUSSIAN_GRADIENT_MAGNITUDE ||
	            kind == CASK_FILTER_GAUSSIAN_LAPLACE;
	int sized = kind == CASK_FILTER_UNIFORM || kind == CASK_FILTER_MEDIAN ||
	            kind == CASK_FILTER_MINIMUM || kind == CASK_FILTER_MAXIMUM;
	int weighted = kind == CASK_FILTER_CORRELATE || kind == CASK_FILTER_CONVOLVE;
	int axial = kind == CASK_FILTER_SOBEL || kind == CASK_FILTER_PREWITT;
	if (x->dtype == CASK_BOOL)
		return filter_bool(ctx, spec, x, out);
	if (gauss && spec->nsigma == 0)
		return cask__error(ctx, CASK_EINVAL, "%s: sigma is required", name);
	if (sized && spec->nsize == 0)
		return cask__error(ctx, CASK_EINVAL, "%s: size is required", name);
	if (weighted && (spec->weights == NULL || spec->wndim != nd))
		return cask__error(ctx, CASK_EINVAL, "%s: weights must have the rank of the input (%d)",
		                   name, nd);
	if (nd == 0) {
		/* scipy filters over no axes copy the input */
		if (axial || weighted)
			return cask__error(ctx, CASK_EINVAL, "%s: needs an array of rank >= 1", name);
		*out = cask_array_retain(x);
		return 0;
	}
	if (nd > CASK_K_ND_MAXDIM)
		return cask__error(ctx, CASK_ENOTSUP, "%s: arrays of rank %d (at most %d)", name, nd,
		                   CASK_K_ND_MAXDIM);
	if (gauss)
		rc = per_axis(ctx, name, "sigma", spec->nsigma, nd);
	if (rc == 0 && spec->norder > 0)
		rc = per_axis(ctx, name, "order", spec->norder, nd);
	if (rc == 0 && sized)
		rc = per_axis(ctx, name, "size", spec->nsize, nd);
	if (rc == 0 && spec->norigin > 0)
		rc = per_axis(ctx, name, "origin", spec->norigin, nd);
	if (rc == 0 && spec->nmode > 0)
		rc = per_axis(ctx, name, "mode", spec->nmode, nd);
	if (rc != 0)
		return rc;
	filt_t *f = calloc(1, sizeof *f);
	cask_array_t *a = NULL;
	if (f == NULL)
		return cask__error(ctx, CASK_ENOMEM, "out of memory");
	f->name = name;
	cask_k_nd_spec_t *k = &f->k;
	k->kind = kind_map[kind];
	k->nd = nd;
	k->cval = spec->cval;
	k->truncate = spec->truncate > 0 ? spec->truncate : 4.0;
	if (spec->truncate < 0 || !isfinite(spec->truncate)) {
		rc = cask__error(ctx, CASK_EINVAL, "%s: truncate must be finite and >= 0", name);
		goto out;
	}
	for (int d = 0; d < nd; d++) {
		cask_mode_t m = spec->nmode == 0 ? CASK_MODE_REFLECT : spec->mode[spec->nmode == 1 ? 0 : d];
		if ((int)m <= CASK_MODE_NONE || m >= CASK_NMODES) {
			rc = cask__error(ctx, CASK_EINVAL, "%s: mode '%s' is not a filter mode (reflect, "
			                 "mirror, nearest, constant, wrap)", name, cask_mode_name(m));
			goto out;
		}
		k->mode[d] = kmode(m);
		if (gauss)
			k->sigma[d] = spec->sigma[spec->nsigma == 1 ? 0 : d];
		if (spec->norder > 0)
			k->order[d] = spec->order[spec->norder == 1 ? 0 : d];
		if (sized) {
			k->size[d] = spec->size[spec->nsize == 1 ? 0 : d];
			if (k->size[d] < 1) { /* scipy: "incorrect filter size" */
				rc = cask__error(ctx, CASK_EINVAL, "%s: size must be >= 1 (axis %d has %lld)",
				                 name, d, (long long)k->size[d]);
				goto out;
			}
		}
		if (spec->norigin > 0)
			k->origin[d] = spec->origin[spec->norigin == 1 ? 0 : d];
		/* scipy's separable uniform / minimum / maximum filters skip an axis
		 * of size 1, origin and all: origin=-1 with size=(3, 1) is valid */
		if (sized && kind != CASK_FILTER_MEDIAN && k->size[d] == 1)
			k->origin[d] = 0;
		if (weighted)
			k->wshape[d] = spec->wshape[d];
	}
	if (kind != CASK_FILTER_GAUSSIAN && spec->norder > 0) {
		for (int d = 0; d < nd; d++)
			if (k->order[d] != 0) {
				rc = cask__error(ctx, CASK_EINVAL, "%s: order applies to gaussian_filter only", name);
				goto out;
			}
	}
	if (axial) {
		int ax = spec->axis < 0 ? spec->axis + nd : spec->axis;
		if (ax < 0 || ax >= nd) {
			rc = cask__error(ctx, CASK_EINVAL, "%s: axis %d is out of range for rank %d", name,
			                 spec->axis, nd);
			goto out;
		}
		k->axis = ax;
	}
	if (weighted) {
		int64_t nw;
		if (cask__prod_i64(nd, spec->wshape, &nw) != 0 || nw <= 0) {
			rc = cask__error(ctx, CASK_EINVAL, "%s: weights must not be empty", name);
			goto out;
		}
		f->weights = malloc((size_t)nw * sizeof(double));
		if (f->weights == NULL) {
			rc = cask__error(ctx, CASK_ENOMEM, "out of memory copying %lld weights", (long long)nw);
			goto out;
		}
		memcpy(f->weights, spec->weights, (size_t)nw * sizeof(double));
		k->weights = f->weights;
	}
	int why = cask_k_nd_check(k);
	if (why != CASK_K_ND_OK) {
		rc = check_message(ctx, name, why);
		goto out;
	}
	cask_k_nd_halo(k, f->lo, f->hi);
	f->pad_cval = cask_k_nd_pad_cval(k, x->dtype);
	rc = cask__array_new(ctx, N_MAP, x->dtype, nd, x->shape, 1, &x, &a);
	if (rc != 0)
		goto out;
	memcpy(a->chunks, x->chunks, sizeof(int64_t) * (size_t)nd);
	/* Filters work in float64: blocks of a narrow input's grid (sized in
	 * its own bytes, 8x fewer for uint8) can need several times the
	 * budget.  Past a 16th of it in float64, the filter's blocks are those
	 * of a float64 array of the block's extents. */
	int64_t elems = 1;
	for (int d = 0; d < nd; d++)
		elems *= a->chunks[d];
	if (cask_dtype_size(x->dtype) < 8 && (size_t)elems > ctx->budget / 16 / 8) {
		int64_t ext[CASK_MAX_DIMS];
		memcpy(ext, a->chunks, sizeof(int64_t) * (size_t)nd);
		cask__default_chunks(nd, ext, 8, cask__default_target(ctx), a->chunks);
	}
	a->u.map.ops = &filt_ops;
	a->u.map.state = f;
	f = NULL;
	*out = a;
out:
	filt_destroy(f);
	return rc;
}

/* ------------------------------------------------------------ user callbacks */

typedef struct {
	int nin;
	cask_block_fn fn;
	void *user;
	int64_t depth[CASK_MAX_DIMS];
	cask_mode_t mode[CASK_MAX_DIMS];
	double cval;
	int trim;
	const char *what; /* "map_blocks", "map_overlap", "apply_parallel" */
	uint8_t *cb;      /* nin * 8 bytes: cval in input i's dtype */
} umap_t;

static void umap_destroy(void *state)
{
	umap_t *u = state;
	if (u == NULL)
		return;
	free(u->cb);
	free(u);
}

/* Halo of a block on one axis: the cells the block's padded input covers
 * below and above it (mode none: only cells inside the array). */
static void block_halo(const umap_t *u, int k, int64_t n, int64_t bs, int64_t bn, int64_t *lo,
                       int64_t *hi)
{
	int64_t d = u->depth[k];
	*lo = d;
	*hi = d;
	if (u->mode[k] == CASK_MODE_NONE) {
		*lo = d < bs ? d : bs;
		int64_t rest = n - (bs + bn);
		*hi = d < rest ? d : rest;
	}
}

/* Compute one block (grid coordinates bidx) and copy its part of the
 * region into out.  exact: the region is exactly this block (unit steps),
 * so an untrimmed callback may write straight into out. */
static int umap_block(cask__ev_t *e, cask_array_t *node, const umap_t *u, const int64_t *bidx,
                      const int64_t *start, const int64_t *count, const int64_t *step,
                      void *out, int exact)
{
	cask_ctx_t *ctx = cask__ev_ctx(e);
	int dry = cask__ev_dry(e);
	int nd = node->ndim;
	size_t mark = cask__ev_mark(e);
	int rc = 0;
	int64_t bs[CASK_MAX_DIMS], bn[CASK_MAX_DIMS], lo[CASK_MAX_DIMS], hi[CASK_MAX_DIMS];
	int64_t ext[CASK_MAX_DIMS], g0[CASK_MAX_DIMS], cap[CASK_MAX_DIMS], capx[CASK_MAX_DIMS];
	for (int k = 0; k < nd; k++) {
		int64_t n = node->shape[k], c = node->chunks[k];
		bs[k] = bidx[k] * c;
		bn[k] = bs[k] + c <= n ? c : n - bs[k];
		block_halo(u, k, n, bs[k], bn[k], &lo[k], &hi[k]);
		g0[k] = bs[k] - lo[k];
		ext[k] = bn[k] + lo[k] + hi[k];
		/* the largest block of the grid: what dry mode reserves */
		cap[k] = c < n ? c : n;
		capx[k] = cap[k] + 2 * u->depth[k];
	}
	void **P = NULL;
	cask_dtype_t *dts = NULL;
	/* the input block pointers are bookkeeping, not array data */
	P = calloc((size_t)u->nin + 1, sizeof *P);
	dts = calloc((size_t)u->nin + 1, sizeof *dts);
	if (P == NULL || dts == NULL) {
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < u->nin; i++) {
		cask_array_t *in = node->in[i];
		size_t pb;
		dts[i] = in->dtype;
		if (block_bytes(nd, dry ? capx : ext, cask_dtype_size(in->dtype), &pb) != 0) {
			rc = too_big(ctx, "padded input block", nd, dry ? capx : ext);
			goto out;
		}
		P[i] = cask__ev_alloc(e, pb);
		if (P[i] == NULL) {
			rc = CASK_EINTERNAL;
			goto out;
		}
		pad_t p = {.nd = nd, .full = in->shape, .to_double = 0, .cbytes = u->cb + 8 * i};
		for (int k = 0; k < nd; k++) {
			p.g0[k] = dry ? bs[k] - u->depth[k] : g0[k];
			p.ext[k] = dry ? capx[k] : ext[k];
			p.mode[k] = kmode(u->mode[k]);
		}
		rc = build_block(e, in, &p, P[i]);
		if (rc != 0)
			goto out;
	}
	/* the callback's output block: padded (trim) or the block itself */
	const int64_t *oshape = u->trim ? ext : bn;
	size_t oes = cask_dtype_size(node->dtype), ob;
	if (block_bytes(nd, dry ? (u->trim ? capx : cap) : oshape, oes, &ob) != 0) {
		rc = too_big(ctx, "output block", nd, oshape);
		goto out;
	}
	/* dry mode always reserves it: other regions of the stage may not be
	 * exactly one block */
	void *Y = exact && !u->trim && !dry ? out : cask__ev_alloc(e, ob);
	if (Y == NULL) {
		rc = CASK_EINTERNAL;
		goto out;
	}
	if (dry)
		goto out;
	int64_t is[CASK_MAX_DIMS], os[CASK_MAX_DIMS];
	c_strides(nd, ext, is);
	c_strides(nd, oshape, os);
	cask_block_t b = {
		.ndim = nd, .nin = u->nin, .in = (const void *const *)P, .in_dtype = dts,
		.in_shape = ext, .in_strides = is, .in_start = g0, .out = Y,
		.out_dtype = node->dtype, .out_shape = oshape, .out_strides = os,
		.out_start = u->trim ? g0 : bs, .block_start = bs, .block_shape = bn,
		.block_index = bidx, .array_shape = node->shape, .user = u->user,
	};
	int urc = u->fn(&b);
	if (urc != 0) {
		char where[512];
		size_t o = 0;
		where[0] = '\0';
		for (int k = 0; k < nd && o < sizeof where - 48; k++)
			o += (size_t)snprintf(where + o, sizeof where - o, "%s%lld:%lld", k ? ", " : "",
			                      (long long)bs[k], (long long)(bs[k] + bn[k]));
		char idx[256];
		o = 0;
		idx[0] = '\0';
		for (int k = 0; k < nd && o < sizeof idx - 24; k++)
			o += (size_t)snprintf(idx + o, sizeof idx - o, "%s%lld", k ? ", " : "", (long long)bidx[k]);
		rc = cask__error(ctx, CASK_EUSER, "%s: the callback returned %d on block (%s) = [%s]",
		                 u->what, urc, idx, where);
		goto out;
	}
	if (!(exact && !u->trim)) {
		/* the part of the region inside this block's core */
		int64_t i0[CASK_MAX_DIMS], i1[CASK_MAX_DIMS], y0[CASK_MAX_DIMS];
		for (int k = 0; k < nd; k++) {
			region_range(start[k], count[k], step[k], bs[k], bs[k] + bn[k], &i0[k], &i1[k]);
			y0[k] = u->trim ? g0[k] : bs[k];
		}
		copy_region_part(nd, oes, Y, y0, oshape, start, count, step, i0, i1, out);
	}
out:
	free(P);
	free(dts);
	cask__ev_release(e, mark);
	if (rc == CASK_EINTERNAL)
		rc = cask__error(ctx, CASK_EINTERNAL,
		                 "task scratch exhausted in %s: evaluation plan and run disagree", u->what);
	return rc;
}

static int umap_eval(cask__ev_t *e, cask_array_t *node, const int64_t *start,
                     const int64_t *count, const int64_t *step, void *out)
{
	const umap_t *u = node->u.map.state;
	int nd = node->ndim;
	for (int k = 0; k < nd; k++)
		if (count[k] <= 0)
			return 0;
	int64_t b0[CASK_MAX_DIMS], bc[CASK_MAX_DIMS], c0[CASK_MAX_DIMS], c1[CASK_MAX_DIMS];
	int64_t ci[CASK_MAX_DIMS];
	bounding_box(nd, start, count, step, b0, bc);
	int exact = 1;
	for (int k = 0; k < nd; k++) {
		int64_t c = node->chunks[k];
		c0[k] = b0[k] / c;
		c1[k] = (b0[k] + bc[k] - 1) / c;
		ci[k] = c0[k];
		int64_t bn = (c0[k] + 1) * c <= node->shape[k] ? c : node->shape[k] - c0[k] * c;
		exact &= c0[k] == c1[k] && step[k] == 1 && start[k] == c0[k] * c && count[k] == bn;
	}
	if (cask__ev_dry(e)) {
		/* every block reserves the grid's largest block: one plan bounds all */
		return umap_block(e, node, u, ci, start, count, step, out, exact);
	}
	for (;;) {
		int rc = umap_block(e, node, u, ci, start, count, step, out, exact);
		if (rc != 0)
			return rc;
		int k = nd - 1;
		for (; k >= 0; k--) {
			if (++ci[k] <= c1[k])
				break;
			ci[k] = c0[k];
		}
		if (k < 0)
			break;
	}
	return 0;
}

static const cask__map_ops_t umap_ops = {"map_overlap", umap_eval, umap_destroy};

static int make_umap(cask_ctx_t *ctx, const char *what, int nin, cask_array_t *const *in,
                     cask_block_fn fn, void *user, cask_dtype_t out_dtype,
                     const int64_t *out_chunks, const int64_t *depth, const cask_mode_t *mode,
                     double cval, int trim, cask_array_t **out)
{
	/* The public entry points checked ctx, in, fn and out. */
	if (nin < 1 || in == NULL || fn == NULL || out == NULL)
		return cask__error(ctx, CASK_EINVAL, "%s: needs a callback and at least one input", what);
	if ((int)out_dtype < 0 || out_dtype >= CASK_NDTYPES)
		return cask__error(ctx, CASK_EINVAL, "%s: unknown output dtype %d", what, (int)out_dtype);
	int nd = in[0]->ndim;
	for (int i = 1; i < nin; i++) {
		if (in[i]->ndim != nd ||
		    memcmp(in[i]->shape, in[0]->shape, sizeof(int64_t) * (size_t)nd) != 0)
			return cask__error(ctx, CASK_ESHAPE, "%s: input %d has another shape than input 0",
			                   what, i);
	}
	umap_t *u = calloc(1, sizeof *u);
	cask_array_t *a = NULL;
	int rc = 0;
	if (u == NULL || (u->cb = calloc((size_t)nin, 8)) == NULL) {
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
		goto out;
	}
	u->nin = nin;
	u->fn = fn;
	u->user = user;
	u->cval = cval;
	u->trim = trim;
	u->what = what;
	for (int k = 0; k < nd; k++) {
		u->depth[k] = depth != NULL ? depth[k] : 0;
		u->mode[k] = mode != NULL ? mode[k] : CASK_MODE_REFLECT;
		if (u->depth[k] < 0) {
			rc = cask__error(ctx, CASK_EINVAL, "%s: negative depth %lld on axis %d", what,
			                 (long long)u->depth[k], k);
			goto out;
		}
		if ((int)u->mode[k] < 0 || u->mode[k] >= CASK_NMODES) {
			rc = cask__error(ctx, CASK_EINVAL, "%s: unknown mode %d on axis %d", what,
			                 (int)u->mode[k], k);
			goto out;
		}
		if (out_chunks != NULL && out_chunks[k] < 1) {
			rc = cask__error(ctx, CASK_EINVAL, "%s: output chunk %lld on axis %d must be >= 1",
			                 what, (long long)out_chunks[k], k);
			goto out;
		}
		int64_t pe;
		if (cask__mul_i64(u->depth[k], 2, &pe) != 0 || pe > INT64_MAX / 4) {
			rc = cask__error(ctx, CASK_EOVERFLOW, "%s: depth %lld is too large", what,
			                 (long long)u->depth[k]);
			goto out;
		}
	}
	for (int i = 0; i < nin; i++)
		cask_k_cast(1, CASK_FLOAT64, &cval, 1, in[i]->dtype, u->cb + 8 * i);
	rc = cask__array_new(ctx, N_MAP, out_dtype, nd, in[0]->shape, nin, in, &a);
	if (rc != 0)
		goto out;
	for (int k = 0; k < nd; k++) {
		int64_t c = out_chunks != NULL ? out_chunks[k] : in[0]->chunks[k];
		int64_t n = in[0]->shape[k];
		a->chunks[k] = n > 0 && c > n ? n : (c < 1 ? 1 : c);
	}
	a->u.map.ops = &umap_ops;
	a->u.map.state = u;
	u = NULL;
	*out = a;
out:
	umap_destroy(u);
	return rc;
}

/* Entry checks of map_blocks and map_overlap. */
static int check_map_args(cask_ctx_t *ctx, const char *fn_name, int nin,
                          cask_array_t *const *in, cask_block_fn fn, cask_array_t **out)
{
	if (ctx == NULL || out == NULL)
		return cask__null_arg(ctx, fn_name, ctx == NULL ? "ctx" : "out");
	if (fn == NULL)
		return cask__null_arg(ctx, fn_name, "fn");
	if (nin < 1)
		return cask__error(ctx, CASK_EINVAL, "%s: needs at least one input, got %d", fn_name, nin);
	return cask__check_arrays(ctx, fn_name, "in", nin, in);
}

int cask_map_blocks(cask_ctx_t *ctx, int nin, cask_array_t *const *in, cask_block_fn fn,
                    void *user, cask_dtype_t out_dtype, const int64_t *out_chunks,
                    cask_array_t **out)
{
	int rc = check_map_args(ctx, __func__, nin, in, fn, out);
	if (rc != 0)
		return rc;
	return make_umap(ctx, "map_blocks", nin, in, fn, user, out_dtype, out_chunks, NULL, NULL,
	                 0.0, 0, out);
}

int cask_map_overlap(cask_ctx_t *ctx, int nin, cask_array_t *const *in, cask_block_fn fn,
                     void *user, cask_dtype_t out_dtype, const int64_t *out_chunks,
                     const int64_t *depth, const cask_mode_t *mode, double cval, int trim,
                     cask_array_t **out)
{
	int rc = check_map_args(ctx, __func__, nin, in, fn, out);
	if (rc != 0)
		return rc;
	return make_umap(ctx, "map_overlap", nin, in, fn, user, out_dtype, out_chunks, depth, mode,
	                 cval, trim, out);
}

int cask_apply_parallel(cask_ctx_t *ctx, cask_block_fn fn, cask_array_t *x,
                        const int64_t *chunks, int64_t depth, cask_mode_t mode, double cval,
                        void *user, int channel_axis, cask_array_t **out)
{
	int rc = CASK__CHECK_PTRS(ctx, ctx, x, out);
	if (rc == 0 && fn == NULL)
		rc = cask__null_arg(ctx, __func__, "fn");
	if (rc != 0)
		return rc;
	int nd = x->ndim;
	if (channel_axis < -1 || channel_axis >= nd)
		return cask__error(ctx, CASK_EINVAL, "apply_parallel: channel_axis %d is out of range "
		                   "for rank %d (-1: none)", channel_axis, nd);
	int ch = channel_axis;
	int64_t d[CASK_MAX_DIMS], c[CASK_MAX_DIMS];
	cask_mode_t m[CASK_MAX_DIMS];
	for (int k = 0; k < nd; k++) {
		d[k] = k == ch ? 0 : depth;
		m[k] = mode;
		c[k] = chunks != NULL ? chunks[k] : x->chunks[k];
		if (k == ch)
			c[k] = x->shape[k] > 0 ? x->shape[k] : 1;
	}
	return make_umap(ctx, "apply_parallel", 1, &x, fn, user, x->dtype, c, d, m, cval, 1, out);
}
