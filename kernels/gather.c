/*
 * gather.c - cask_k_gather: copy an n-d strided view (strides in elements,
 * possibly 0 or negative) into a contiguous C-order buffer.
 *
 * The view is first simplified: axes of length 1 are dropped and adjacent
 * axes that are contiguous with each other (stride[k] = stride[k+1] *
 * count[k+1]) are merged, so a contiguous view becomes one memcpy and a
 * sliced block becomes rows of memcpy.  The outer axes are then walked with
 * an odometer (an index per axis on the stack: no recursion, no allocation,
 * any nd up to CASK_MAX_DIMS) and each inner row is copied by memcpy when its
 * stride is 1, or by a loop specialised for element sizes 1, 2, 4 and 8.
 * cask_k_copy_nd: the strided copy between two views (both strided).
 */
#include <stdint.h>
#include <string.h>

#include "kernels.h"

/* Copy one row of n elements of es bytes with source stride s (elements).
 * Fixed-size memcpy compiles to a single load/store and is safe for
 * unaligned buffers. */
static void gather_row(int64_t n, size_t es, const char *src, int64_t s, char *dst)
{
	if (s == 1) {
		memcpy(dst, src, (size_t)n * es);
		return;
	}
	switch (es) {
	case 1:
		for (int64_t i = 0; i < n; i++)
			dst[i] = src[i * s];
		break;
	case 2:
		for (int64_t i = 0; i < n; i++)
			memcpy(dst + i * 2, src + i * s * 2, 2);
		break;
	case 4:
		for (int64_t i = 0; i < n; i++)
			memcpy(dst + i * 4, src + i * s * 4, 4);
		break;
	case 8:
		for (int64_t i = 0; i < n; i++)
			memcpy(dst + i * 8, src + i * s * 8, 8);
		break;
	default:
		for (int64_t i = 0; i < n; i++)
			memcpy(dst + (size_t)i * es, src + i * s * (int64_t)es, es);
		break;
	}
}

void cask_k_gather(int nd, const int64_t *counts, size_t es, const void *src,
                   const int64_t *strides, void *dst)
{
	int64_t cnt[CASK_MAX_DIMS];
	int64_t str[CASK_MAX_DIMS];
	int64_t idx[CASK_MAX_DIMS];
	const char *base = src;
	char *d = dst;
	int64_t off = 0; /* byte offset of the current row's first element */
	int m = 0;

	if (nd <= 0) {
		memcpy(dst, src, es);
		return;
	}
	if (nd > CASK_MAX_DIMS)
		return; /* outside the contract; nothing sensible to do */
	/* Simplify: drop length-1 axes, merge contiguous neighbours. */
	for (int k = 0; k < nd; k++) {
		if (counts[k] <= 0)
			return; /* empty view: nothing to copy */
		if (counts[k] == 1)
			continue;
		if (m > 0 && str[m - 1] == strides[k] * counts[k]) {
			cnt[m - 1] *= counts[k];
			str[m - 1] = strides[k];
		} else {
			cnt[m] = counts[k];
			str[m] = strides[k];
			m++;
		}
	}
	if (m == 0) {
		memcpy(dst, src, es);
		return;
	}

	/* Odometer over the outer m - 1 axes.  The offset is kept as an integer
	 * so that no pointer ever points outside the view between rows. */
	const int64_t inner = cnt[m - 1];
	const int64_t sinner = str[m - 1];
	const size_t rowbytes = (size_t)inner * es;
	for (int k = 0; k < m - 1; k++)
		idx[k] = 0;
	for (;;) {
		gather_row(inner, es, base + off, sinner, d);
		d += rowbytes;
		int k = m - 2;
		while (k >= 0) {
			off += str[k] * (int64_t)es;
			if (++idx[k] < cnt[k])
				break;
			off -= str[k] * cnt[k] * (int64_t)es;
			idx[k] = 0;
			k--;
		}
		if (k < 0)
			break;
	}
}

void cask_k_copy_nd(int nd, const int64_t *counts, size_t es, const void *src,
                    const int64_t *ss, void *dst, const int64_t *ds)
{
	if (nd == 0) {
		memcpy(dst, src, es);
		return;
	}
	for (int k = 0; k < nd; k++)
		if (counts[k] == 0)
			return;
	int64_t idx[CASK_MAX_DIMS] = {0};
	const char *s = src;
	char *d = dst;
	int64_t n = counts[nd - 1], sl = ss[nd - 1], dl = ds[nd - 1];
	for (;;) {
		if (sl == 1 && dl == 1) {
			memcpy(d, s, (size_t)n * es);
		} else {
			for (int64_t i = 0; i < n; i++)
				memcpy(d + i * dl * (int64_t)es, s + i * sl * (int64_t)es, es);
		}
		int k = nd - 2;
		for (; k >= 0; k--) {
			idx[k]++;
			s += ss[k] * (int64_t)es;
			d += ds[k] * (int64_t)es;
			if (idx[k] < counts[k])
				break;
			s -= ss[k] * counts[k] * (int64_t)es;
			d -= ds[k] * counts[k] * (int64_t)es;
			idx[k] = 0;
		}
		if (k < 0)
			break;
	}
}
