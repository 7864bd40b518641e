/*
 * test_eval.c - the array engine end to end through the public API:
 * in-memory buffers and HDF5 files in, cask_compute / cask_store out.
 * References are naive loops written independently here (exact for
 * integers), NumPy's documented promotion table, and round trips.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cask.h"

static cask_ctx_t *new_ctx(size_t budget, int threads)
{
	cask_ctx_t *ctx;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	assert_int_equal(cask_ctx_set_memory(ctx, budget), 0);
	assert_int_equal(cask_ctx_set_threads(ctx, threads), 0);
	return ctx;
}

#define OK(expr) do { int rc_ = (expr); if (rc_ != 0) fail_msg("%s -> %d: %s", #expr, rc_, cask_ctx_message(ctx)); } while (0)

static void test_eval_promotion_table(void **state)
{
	(void)state;
	/* np.result_type for array dtypes (NumPy's documented table). */
	struct { cask_dtype_t a, b, r; } t[] = {
		{CASK_INT8, CASK_UINT8, CASK_INT16}, {CASK_INT64, CASK_UINT64, CASK_FLOAT64},
		{CASK_INT32, CASK_FLOAT32, CASK_FLOAT64}, {CASK_INT16, CASK_FLOAT32, CASK_FLOAT32},
		{CASK_UINT32, CASK_INT32, CASK_INT64}, {CASK_BOOL, CASK_INT8, CASK_INT8},
		{CASK_UINT8, CASK_UINT16, CASK_UINT16}, {CASK_FLOAT32, CASK_FLOAT64, CASK_FLOAT64},
		{CASK_BOOL, CASK_BOOL, CASK_BOOL}, {CASK_UINT16, CASK_INT8, CASK_INT32},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		assert_int_equal(cask_dtype_promote(t[i].a, t[i].b), t[i].r);
		assert_int_equal(cask_dtype_promote(t[i].b, t[i].a), t[i].r);
	}
}

/* NumPy's float-only binary ufuncs (arctan2, hypot) take the first loop
 * (float32, float64; cask has no float16) that both inputs cast to safely,
 * not the float of their promoted type: int8 with uint16 promotes to int32,
 * yet np.arctan2 gives float32.  Safe casts to float32: bool and the 8-
 * and 16-bit integers. */
static void test_eval_float_loop_types(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx(8 << 20, 1);
	int64_t n = 1;
	for (int ta = 0; ta < CASK_NDTYPES; ta++) {
		for (int tb = 0; tb < CASK_NDTYPES; tb++) {
			int small = 1;
			const cask_dtype_t ts[2] = {(cask_dtype_t)ta, (cask_dtype_t)tb};
			for (int k = 0; k < 2; k++)
				small &= ts[k] == CASK_FLOAT32 ||
				         (ts[k] != CASK_FLOAT64 && cask_dtype_size(ts[k]) <= 2);
			cask_dtype_t want = small ? CASK_FLOAT32 : CASK_FLOAT64;
			cask_array_t *a, *b;
			cask_scalar_t one = {.dtype = CASK_INT64, .v.i = 1};
			OK(cask_array_full(ctx, ts[0], 1, &n, NULL, one, &a));
			OK(cask_array_full(ctx, ts[1], 1, &n, NULL, one, &b));
			const cask_op_t ops[2] = {CASK_ARCTAN2, CASK_HYPOT};
			for (int o = 0; o < 2; o++) {
				cask_array_t *r;
				OK(cask_binary(ctx, ops[o], a, b, &r));
				assert_int_equal(cask_array_dtype(r), want);
				union { float f; double d; } v;
				OK(cask_compute(ctx, r, &v, sizeof v));
				double ref = ops[o] == CASK_ARCTAN2 ? atan2(1.0, 1.0) : hypot(1.0, 1.0);
				if (want == CASK_FLOAT32)
					assert_true(v.f == (float)ref);
				else
					assert_true(fabs(v.d - ref) <= 1e-16 * ref);
				cask_array_destroy(r);
			}
			cask_array_destroy(a);
			cask_array_destroy(b);
		}
	}
	cask_ctx_destroy(ctx);
}

static cask_array_t *scalar_f(cask_ctx_t *ctx, double v, int weak)
{
	cask_array_t *a;
	cask_scalar_t s = {.dtype = CASK_FLOAT64, .v.f = v};
	OK(cask_array_scalar(ctx, s, weak, &a));
	return a;
}

static cask_array_t *scalar_i(cask_ctx_t *ctx, int64_t v, int weak)
{
	cask_array_t *a;
	cask_scalar_t s = {.dtype = CASK_INT64, .v.i = v};
	OK(cask_array_scalar(ctx, s, weak, &a));
	return a;
}

static void test_eval_weak_scalars(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx(64 << 20, 1);
	float xf[4] = {1, 2, 3, 4};
	int8_t xi[4] = {1, 2, 3, 4};
	int64_t n = 4;
	cask_array_t *f, *i, *two = scalar_f(ctx, 2.0, 1), *one = scalar_i(ctx, 1, 1), *r;
	OK(cask_array_from_buffer(ctx, CASK_FLOAT32, 1, &n, NULL, xf, &f));
	OK(cask_array_from_buffer(ctx, CASK_INT8, 1, &n, NULL, xi, &i));
	/* float32 * 2.0 stays float32 (NEP 50) */
	OK(cask_binary(ctx, CASK_MUL, f, two, &r));
	assert_int_equal(cask_array_dtype(r), CASK_FLOAT32);
	cask_array_destroy(r);
	/* int8 + 1 stays int8; int8 * 2.0 is float64; int8 / int8 is float64 */
	OK(cask_binary(ctx, CASK_ADD, i, one, &r));
	assert_int_equal(cask_array_dtype(r), CASK_INT8);
	cask_array_destroy(r);
	OK(cask_binary(ctx, CASK_MUL, i, two, &r));
	assert_int_equal(cask_array_dtype(r), CASK_FLOAT64);
	cask_array_destroy(r);
	OK(cask_binary(ctx, CASK_DIV, i, i, &r));
	assert_int_equal(cask_array_dtype(r), CASK_FLOAT64);
	double out[4];
	OK(cask_compute(ctx, r, out, sizeof out));
	for (int k = 0; k < 4; k++)
		assert_true(out[k] == 1.0);
	cask_array_destroy(r);
	/* a strong float64 scalar promotes float32 to float64 */
	cask_array_t *s2 = scalar_f(ctx, 2.0, 0);
	OK(cask_binary(ctx, CASK_MUL, f, s2, &r));
	assert_int_equal(cask_array_dtype(r), CASK_FLOAT64);
	cask_array_destroy(r);
	cask_array_destroy(s2);
	cask_array_destroy(f);
	cask_array_destroy(i);
	cask_array_destroy(two);
	cask_array_destroy(one);
	cask_ctx_destroy(ctx);
}

/* Weak (Python) ints outside an integer array's dtype, as NumPy 2: the
 * comparisons are exact, arithmetic and where() are CASK_EOVERFLOW naming
 * the value and dtype, clip drops a bound beyond its own side of the range,
 * and an integer to a constant negative power is refused when built (a
 * negative exponent in the data fails the computation). */
static void test_eval_weak_int_out_of_range(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx(64 << 20, 1);
	uint8_t xu[4] = {0, 1, 5, 255};
	uint64_t xv[3] = {0, 1, UINT64_MAX};
	int32_t xq[3] = {1, 2, -1};
	int64_t n4 = 4, n3 = 3;
	uint8_t b[4];
	cask_array_t *u, *v, *q, *r;
	cask_array_t *m1 = scalar_i(ctx, -1, 1), *k256 = scalar_i(ctx, 256, 1);
	cask_array_t *k1 = scalar_i(ctx, 1, 1), *k2 = scalar_i(ctx, 2, 1);
	cask_scalar_t big = {.dtype = CASK_UINT64, .v.u = UINT64_MAX};
	cask_array_t *kmax;
	OK(cask_array_scalar(ctx, big, 1, &kmax));
	OK(cask_array_from_buffer(ctx, CASK_UINT8, 1, &n4, NULL, xu, &u));
	OK(cask_array_from_buffer(ctx, CASK_UINT64, 1, &n3, NULL, xv, &v));
	OK(cask_array_from_buffer(ctx, CASK_INT32, 1, &n3, NULL, xq, &q));
	/* u < -1 and -1 > u: all False; u != 256 all True */
	OK(cask_binary(ctx, CASK_LT, u, m1, &r));
	OK(cask_compute(ctx, r, b, 4));
	assert_true(b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0);
	cask_array_destroy(r);
	OK(cask_binary(ctx, CASK_GT, m1, u, &r));
	OK(cask_compute(ctx, r, b, 4));
	assert_true(b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0);
	cask_array_destroy(r);
	OK(cask_binary(ctx, CASK_NE, u, k256, &r));
	assert_int_equal(cask_array_dtype(r), CASK_BOOL);
	OK(cask_compute(ctx, r, b, 4));
	assert_true(b[0] == 1 && b[1] == 1 && b[2] == 1 && b[3] == 1);
	cask_array_destroy(r);
	/* v == -1 is all False although -1 wraps to 2**64-1 */
	OK(cask_binary(ctx, CASK_EQ, v, m1, &r));
	OK(cask_compute(ctx, r, b, 3));
	assert_true(b[0] == 0 && b[1] == 0 && b[2] == 0);
	cask_array_destroy(r);
	/* u8 + 256, u8 + (2**64-1), where(.., u8, -1): OverflowError */
	assert_int_equal(cask_binary(ctx, CASK_ADD, u, k256, &r), CASK_EOVERFLOW);
	assert_non_null(strstr(cask_ctx_message(ctx), "Python integer 256 out of bounds for uint8"));
	assert_int_equal(cask_binary(ctx, CASK_ADD, u, kmax, &r), CASK_EOVERFLOW);
	assert_int_equal(cask_where(ctx, u, u, m1, &r), CASK_EOVERFLOW);
	/* the exact uint64 value is kept for a uint64 array */
	OK(cask_binary(ctx, CASK_EQ, v, kmax, &r));
	OK(cask_compute(ctx, r, b, 3));
	assert_true(b[0] == 0 && b[1] == 0 && b[2] == 1);
	cask_array_destroy(r);
	/* clip(u8, -1, 1) == minimum(u8, 1); clip(u8, 0, -1) overflows */
	OK(cask_clip(ctx, u, m1, k1, &r));
	OK(cask_compute(ctx, r, b, 4));
	assert_true(b[0] == 0 && b[1] == 1 && b[2] == 1 && b[3] == 1);
	cask_array_destroy(r);
	assert_int_equal(cask_clip(ctx, u, k1, m1, &r), CASK_EOVERFLOW);
	/* q ** -1 refused when built; 2 ** q fails when computed */
	assert_int_equal(cask_binary(ctx, CASK_POW, q, m1, &r), CASK_EINVAL);
	assert_non_null(strstr(cask_ctx_message(ctx), "negative integer powers"));
	OK(cask_binary(ctx, CASK_POW, k2, q, &r));
	int32_t out[3];
	assert_int_equal(cask_compute(ctx, r, out, sizeof out), CASK_EINVAL);
	assert_non_null(strstr(cask_ctx_message(ctx), "negative integer powers"));
	cask_array_destroy(r);
	cask_array_destroy(u);
	cask_array_destroy(v);
	cask_array_destroy(q);
	cask_array_destroy(m1);
	cask_array_destroy(k256);
	cask_array_destroy(k1);
	cask_array_destroy(k2);
	cask_array_destroy(kmax);
	cask_ctx_destroy(ctx);
}

/* x (rows x cols) int32 = i*cols + j - 7; y (cols) int32 = 3j + 1. */
static void fill_xy(int32_t *x, int32_t *y, int64_t rows, int64_t cols)
{
	for (int64_t i = 0; i < rows; i++)
		for (int64_t j = 0; j < cols; j++)
			x[i * cols + j] = (int32_t)(i * cols + j - 7);
	for (int64_t j = 0; j < cols; j++)
		y[j] = (int32_t)(3 * j + 1);
}

static void test_eval_fused_broadcast_any_chunking(void **state)
{
	(void)state;
	enum { R = 37, C = 23 };
	static int32_t x[R * C], y[C];
	fill_xy(x, y, R, C);
	int64_t chunkings[][2] = {{1, 1}, {5, 7}, {R, C}, {16, 23}, {37, 1}};
	for (int threads = 1; threads <= 2; threads++) {
		for (size_t c = 0; c < sizeof chunkings / sizeof chunkings[0]; c++) {
			cask_ctx_t *ctx = new_ctx(16 << 20, threads);
			int64_t shape[2] = {R, C}, ys = C;
			cask_array_t *ax, *ay, *t1, *t2, *t3, *two = scalar_i(ctx, 2, 1);
			OK(cask_array_from_buffer(ctx, CASK_INT32, 2, shape, chunkings[c], x, &ax));
			OK(cask_array_from_buffer(ctx, CASK_INT32, 1, &ys, NULL, y, &ay));
			/* (x + y * 2) // 3 - x % 5 : NumPy floor semantics */
			OK(cask_binary(ctx, CASK_MUL, ay, two, &t1));
			OK(cask_binary(ctx, CASK_ADD, ax, t1, &t2));
			cask_array_t *three = scalar_i(ctx, 3, 1), *five = scalar_i(ctx, 5, 1), *t4, *t5;
			OK(cask_binary(ctx, CASK_FLOORDIV, t2, three, &t3));
			OK(cask_binary(ctx, CASK_MOD, ax, five, &t4));
			OK(cask_binary(ctx, CASK_SUB, t3, t4, &t5));
			assert_int_equal(cask_array_dtype(t5), CASK_INT32);
			int32_t out[R * C];
			OK(cask_compute(ctx, t5, out, sizeof out));
			for (int64_t i = 0; i < R; i++)
				for (int64_t j = 0; j < C; j++) {
					int64_t v = x[i * C + j] + 2 * (int64_t)y[j];
					int64_t fd = v >= 0 ? v / 3 : -((-v + 2) / 3);
					int64_t xm = x[i * C + j] % 5;
					if (xm < 0)
						xm += 5;
					assert_int_equal(out[i * C + j], fd - xm);
				}
			cask_array_t *all[] = {ax, ay, t1, t2, t3, t4, t5, two, three, five};
			for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
				cask_array_destroy(all[k]);
			cask_ctx_destroy(ctx);
		}
	}
}

static void test_eval_views(void **state)
{
	(void)state;
	enum { A = 6, B = 7, C = 5 };
	static int32_t x[A * B * C];
	for (int i = 0; i < A * B * C; i++)
		x[i] = i * 3 - 100;
	cask_ctx_t *ctx = new_ctx(16 << 20, 2);
	int64_t shape[3] = {A, B, C}, ch[3] = {4, 3, 2};
	cask_array_t *ax, *v, *t;
	OK(cask_array_from_buffer(ctx, CASK_INT32, 3, shape, ch, x, &ax));
	/* x[1:6:2, ::-1, 3] */
	cask_index_t idx[3] = {
		{.kind = CASK_INDEX_SLICE, .start = 1, .stop = 6, .step = 2, .has_start = 1, .has_stop = 1},
		{.kind = CASK_INDEX_SLICE, .step = -1},
		{.kind = CASK_INDEX_INT, .start = 3},
	};
	OK(cask_index(ctx, ax, 3, idx, &v));
	assert_int_equal(cask_array_ndim(v), 2);
	assert_int_equal(cask_array_shape(v)[0], 3);
	assert_int_equal(cask_array_shape(v)[1], B);
	int32_t out[3 * B];
	OK(cask_compute(ctx, v, out, sizeof out));
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < B; j++)
			assert_int_equal(out[i * B + j], x[(1 + 2 * i) * B * C + (B - 1 - j) * C + 3]);
	/* transpose of the view, then a newaxis and negative stop */
	OK(cask_transpose(ctx, v, NULL, &t));
	int32_t out2[B * 3];
	OK(cask_compute(ctx, t, out2, sizeof out2));
	for (int i = 0; i < B; i++)
		for (int j = 0; j < 3; j++)
			assert_int_equal(out2[i * 3 + j], out[j * B + i]);
	cask_array_t *w;
	cask_index_t idx2[3] = {
		{.kind = CASK_INDEX_NEWAXIS},
		{.kind = CASK_INDEX_ELLIPSIS},
		{.kind = CASK_INDEX_SLICE, .stop = -1, .has_stop = 1, .step = 1},
	};
	OK(cask_index(ctx, t, 3, idx2, &w));
	assert_int_equal(cask_array_ndim(w), 3);
	assert_int_equal(cask_array_shape(w)[0], 1);
	assert_int_equal(cask_array_shape(w)[2], 2);
	int32_t out3[B * 2];
	OK(cask_compute(ctx, w, out3, sizeof out3));
	for (int i = 0; i < B; i++)
		for (int j = 0; j < 2; j++)
			assert_int_equal(out3[i * 2 + j], out2[i * 3 + j]);
	/* out-of-range integer index and zero step are errors */
	cask_array_t *bad;
	cask_index_t oob = {.kind = CASK_INDEX_INT, .start = 6};
	assert_int_equal(cask_index(ctx, ax, 1, &oob, &bad), CASK_EINVAL);
	assert_non_null(strstr(cask_ctx_message(ctx), "out of bounds"));
	cask_index_t z = {.kind = CASK_INDEX_SLICE, .step = 0};
	assert_int_equal(cask_index(ctx, ax, 1, &z, &bad), CASK_EINVAL);
	cask_array_destroy(w);
	cask_array_destroy(t);
	cask_array_destroy(v);
	cask_array_destroy(ax);
	cask_ctx_destroy(ctx);
}

/* Python's slice rule by direct iteration in 128-bit arithmetic (the
 * independent reference): the indices start, start+step, ... of an axis of
 * n, bounds clipped as slice.indices(n) does.  Returns the count and writes
 * up to max of them. */
static int64_t py_slice(int64_t n, const cask_index_t *ix, int64_t *ind, int64_t max)
{
	__int128 step = ix->step, start, stop;
	if (step > 0) {
		start = ix->has_start ? ix->start : 0;
		stop = ix->has_stop ? ix->stop : n;
		start = start < 0 ? (start + n < 0 ? 0 : start + n) : (start > n ? n : start);
		stop = stop < 0 ? (stop + n < 0 ? 0 : stop + n) : (stop > n ? n : stop);
	} else {
		start = ix->has_start ? ix->start : n - 1;
		stop = ix->has_stop ? ix->stop : -1 - (__int128)n;
		start = start < 0 ? (start + n < 0 ? -1 : start + n) : (start > n - 1 ? n - 1 : start);
		stop = stop < 0 ? (stop + n < 0 ? -1 : stop + n) : (stop > n - 1 ? n - 1 : stop);
	}
	int64_t c = 0;
	for (__int128 i = start; step > 0 ? i < stop : i > stop; i += step, c++)
		if (c < max)
			ind[c] = (int64_t)i;
	return c;
}

/* src[ix] of the n values sv (src's values): checked against py_slice,
 * written to o (at most 10 values); *view receives the view. */
static int64_t check_slice(cask_ctx_t *ctx, cask_array_t *src, const double *sv, int64_t n,
                           const cask_index_t *ix, double *o, cask_array_t **view)
{
	int64_t ind[10];
	int64_t cnt = py_slice(n, ix, ind, 10);
	OK(cask_index(ctx, src, 1, ix, view));
	assert_int_equal(cask_array_shape(*view)[0], cnt);
	OK(cask_compute(ctx, *view, o, 10 * sizeof *o));
	for (int64_t i = 0; i < cnt; i++)
		assert_true(o[i] == sv[ind[i]]);
	return cnt;
}

/* Slice steps near the ends of int64 (x[::2**63 - 1] is x[0:1] in NumPy):
 * the element count and the composed step of a view of a view used to
 * overflow (empty results, undefined behaviour). */
static void test_eval_slice_huge_steps(void **state)
{
	(void)state;
	enum { N = 10 };
	double x[N];
	for (int i = 0; i < N; i++)
		x[i] = i;
	cask_ctx_t *ctx = new_ctx(8 << 20, 2);
	int64_t n = N, ch = 3;
	cask_array_t *a;
	OK(cask_array_from_buffer(ctx, CASK_FLOAT64, 1, &n, &ch, x, &a));
	const int64_t big[] = {INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1,
	                       (int64_t)1 << 62, -((int64_t)1 << 62), 3, -4};
	const int nb = sizeof big / sizeof big[0];
	for (int si = 0; si < nb; si++) {
		for (int bi = 0; bi < nb * nb; bi++) {
			cask_index_t ix = {.kind = CASK_INDEX_SLICE, .step = big[si],
			                   .start = big[bi % nb], .stop = big[bi / nb],
			                   .has_start = bi % 3 != 0, .has_stop = bi % 5 != 0};
			/* and a second huge step over the view: x[::s1][::s2] */
			cask_index_t ix2 = {.kind = CASK_INDEX_SLICE, .step = big[(si + bi) % nb]};
			double o[N], o2[N];
			cask_array_t *v, *w;
			int64_t cnt = check_slice(ctx, a, x, N, &ix, o, &v);
			check_slice(ctx, v, o, cnt, &ix2, o2, &w);
			cask_array_destroy(w);
			cask_array_destroy(v);
		}
	}
	cask_array_destroy(a);
	cask_ctx_destroy(ctx);
}

static void test_eval_concat_stack(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx(16 << 20, 2);
	int16_t a[3 * 4], b[2 * 4];
	for (int i = 0; i < 12; i++)
		a[i] = (int16_t)i;
	for (int i = 0; i < 8; i++)
		b[i] = (int16_t)(100 + i);
	int64_t sa[2] = {3, 4}, sb[2] = {2, 4}, ch[2] = {2, 3};
	cask_array_t *A, *B, *c, *cT;
	OK(cask_array_from_buffer(ctx, CASK_INT16, 2, sa, ch, a, &A));
	OK(cask_array_from_buffer(ctx, CASK_INT16, 2, sb, ch, b, &B));
	cask_array_t *ab[2] = {A, B};
	OK(cask_concatenate(ctx, 2, ab, 0, &c));
	int16_t out[20];
	OK(cask_compute(ctx, c, out, sizeof out));
	for (int i = 0; i < 12; i++)
		assert_int_equal(out[i], a[i]);
	for (int i = 0; i < 8; i++)
		assert_int_equal(out[12 + i], b[i]);
	/* concatenate along axis 1 of the transposes */
	cask_array_t *At, *Bt;
	OK(cask_transpose(ctx, A, NULL, &At));
	OK(cask_transpose(ctx, B, NULL, &Bt));
	cask_array_t *abt[2] = {At, Bt};
	OK(cask_concatenate(ctx, 2, abt, 1, &cT));
	int16_t outT[20];
	OK(cask_compute(ctx, cT, outT, sizeof outT));
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 5; j++)
			assert_int_equal(outT[i * 5 + j], out[j * 4 + i]);
	/* stack two equal shapes on a new last axis */
	cask_array_t *st, *aa[2] = {A, A};
	OK(cask_stack(ctx, 2, aa, -1, &st));
	assert_int_equal(cask_array_ndim(st), 3);
	int16_t outS[24];
	OK(cask_compute(ctx, st, outS, sizeof outS));
	for (int i = 0; i < 12; i++)
		assert_int_equal(outS[2 * i], a[i]), assert_int_equal(outS[2 * i + 1], a[i]);
	/* shape mismatch names both shapes */
	cask_array_t *bad;
	assert_int_equal(cask_concatenate(ctx, 2, ab, 1, &bad), CASK_ESHAPE);
	cask_array_t *all[] = {A, B, c, cT, At, Bt, st};
	for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
		cask_array_destroy(all[k]);
	cask_ctx_destroy(ctx);
}

static void test_eval_broadcast_error(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx(16 << 20, 1);
	int64_t s1[2] = {3, 4}, s2 = 5;
	cask_array_t *a, *b, *r;
	OK(cask_array_zeros(ctx, CASK_FLOAT64, 2, s1, NULL, &a));
	OK(cask_array_zeros(ctx, CASK_FLOAT64, 1, &s2, NULL, &b));
	assert_int_equal(cask_binary(ctx, CASK_ADD, a, b, &r), CASK_ESHAPE);
	assert_non_null(strstr(cask_ctx_message(ctx), "(3,4)"));
	assert_non_null(strstr(cask_ctx_message(ctx), "(5,)"));
	cask_array_destroy(a);
	cask_array_destroy(b);
	cask_ctx_destroy(ctx);
}

static void test_eval_reductions_exact(void **state)
{
	(void)state;
	enum { R = 29, C = 13 };
	static int32_t x[R * C], y[C];
	fill_xy(x, y, R, C);
	for (int threads = 1; threads <= 2; threads++) {
		cask_ctx_t *ctx = new_ctx(8 << 20, threads);
		int64_t shape[2] = {R, C}, ch[2] = {4, 5};
		cask_array_t *ax, *s0, *s1, *sa, *am;
		OK(cask_array_from_buffer(ctx, CASK_INT32, 2, shape, ch, x, &ax));
		int ax0 = 0, ax1 = 1;
		OK(cask_reduce(ctx, CASK_SUM, ax, 1, &ax0, 0, 0, &s0));
		OK(cask_reduce(ctx, CASK_SUM, ax, 1, &ax1, 1, 0, &s1));
		OK(cask_reduce(ctx, CASK_SUM, ax, 0, NULL, 0, 0, &sa));
		OK(cask_reduce(ctx, CASK_ARGMAX, ax, 1, &ax0, 0, 0, &am));
		assert_int_equal(cask_array_dtype(s0), CASK_INT64);
		assert_int_equal(cask_array_ndim(s1), 2);
		assert_int_equal(cask_array_ndim(sa), 0);
		int64_t o0[C], o1[R], oa, oam[C];
		OK(cask_compute(ctx, s0, o0, sizeof o0));
		OK(cask_compute(ctx, s1, o1, sizeof o1));
		OK(cask_compute(ctx, sa, &oa, sizeof oa));
		OK(cask_compute(ctx, am, oam, sizeof oam));
		int64_t tot = 0;
		for (int j = 0; j < C; j++) {
			int64_t s = 0;
			for (int i = 0; i < R; i++)
				s += x[i * C + j];
			assert_int_equal(o0[j], s);
			assert_int_equal(oam[j], R - 1); /* x increases down each column */
		}
		for (int i = 0; i < R; i++) {
			int64_t s = 0;
			for (int j = 0; j < C; j++)
				s += x[i * C + j];
			assert_int_equal(o1[i], s);
			tot += s;
		}
		assert_int_equal(oa, tot);
		cask_array_t *all[] = {ax, s0, s1, sa, am};
		for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
			cask_array_destroy(all[k]);
		cask_ctx_destroy(ctx);
	}
}

/* x - mean(x, axis=0): two passes, the reduction broadcast back. */
static void test_eval_center_columns(void **state)
{
	(void)state;
	enum { R = 100, C = 7 };
	static double x[R * C];
	for (int i = 0; i < R * C; i++)
		x[i] = sin(i * 0.37) * 1000 + i;
	cask_ctx_t *ctx = new_ctx(8 << 20, 2);
	int64_t shape[2] = {R, C}, ch[2] = {9, 3};
	cask_array_t *ax, *m, *d, *v;
	OK(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, shape, ch, x, &ax));
	int ax0 = 0;
	OK(cask_reduce(ctx, CASK_MEAN, ax, 1, &ax0, 0, 0, &m));
	OK(cask_binary(ctx, CASK_SUB, ax, m, &d));
	OK(cask_reduce(ctx, CASK_VAR, ax, 1, &ax0, 1, 1, &v));
	double out[R * C], var[C];
	OK(cask_compute(ctx, d, out, sizeof out));
	OK(cask_compute(ctx, v, var, sizeof var));
	for (int j = 0; j < C; j++) {
		double s = 0, q = 0;
		for (int i = 0; i < R; i++)
			s += x[i * C + j];
		s /= R;
		for (int i = 0; i < R; i++) {
			q += (x[i * C + j] - s) * (x[i * C + j] - s);
			/* |x| <= ~1700: a few ulps of 2048 */
			assert_true(fabs(out[i * C + j] - (x[i * C + j] - s)) < 1e-12 * 2048);
		}
		q /= R - 1;
		assert_true(fabs(var[j] - q) <= 1e-12 * q);
	}
	cask_array_destroy(ax);
	cask_array_destroy(m);
	cask_array_destroy(d);
	cask_array_destroy(v);
	cask_ctx_destroy(ctx);
}

static void test_eval_zero_size_and_0d(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx(8 << 20, 2);
	int64_t shape[2] = {0, 5};
	cask_array_t *z, *s, *m, *mn;
	OK(cask_array_ones(ctx, CASK_FLOAT64, 2, shape, NULL, &z));
	int ax0 = 0;
	OK(cask_reduce(ctx, CASK_SUM, z, 1, &ax0, 0, 0, &s));
	OK(cask_reduce(ctx, CASK_MEAN, z, 0, NULL, 0, 0, &m));
	double o[5], om;
	OK(cask_compute(ctx, s, o, sizeof o));
	for (int j = 0; j < 5; j++)
		assert_true(o[j] == 0.0);
	OK(cask_compute(ctx, m, &om, sizeof om));
	assert_true(isnan(om));
	OK(cask_reduce(ctx, CASK_MIN, z, 0, NULL, 0, 0, &mn));
	assert_int_equal(cask_compute(ctx, mn, &om, sizeof om), CASK_EINVAL);
	assert_non_null(strstr(cask_ctx_message(ctx), "zero-size"));
	/* 0-d: a scalar expression */
	cask_array_t *a = scalar_f(ctx, 2.0, 0), *b, *c;
	OK(cask_unary(ctx, CASK_SQRT, a, &b));
	OK(cask_binary(ctx, CASK_MUL, b, b, &c));
	double v;
	OK(cask_compute(ctx, c, &v, sizeof v));
	assert_true(fabs(v - 2.0) <= 2 * 4.45e-16); /* sqrt(2)^2: within 2 ulps of 2 */
	cask_array_t *all[] = {z, s, m, mn, a, b, c};
	for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
		cask_array_destroy(all[k]);
	cask_ctx_destroy(ctx);
}

static void test_eval_random_reproducible(void **state)
{
	(void)state;
	int64_t shape[2] = {50, 40}, c1[2] = {7, 9}, c2[2] = {50, 40};
	double a[2000], b[2000];
	cask_ctx_t *ctx = new_ctx(8 << 20, 1);
	cask_array_t *r1, *r2;
	OK(cask_array_random(ctx, CASK_RANDOM_NORMAL, 42, CASK_FLOAT64, 2, shape, c1, &r1));
	OK(cask_compute(ctx, r1, a, sizeof a));
	OK(cask_ctx_set_threads(ctx, 2));
	OK(cask_array_random(ctx, CASK_RANDOM_NORMAL, 42, CASK_FLOAT64, 2, shape, c2, &r2));
	OK(cask_compute(ctx, r2, b, sizeof b));
	assert_memory_equal(a, b, sizeof a);
	cask_array_destroy(r1);
	cask_array_destroy(r2);
	cask_ctx_destroy(ctx);
}

static void test_eval_budget_too_small(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx(1 << 20, 2); /* 1 MiB */
	int64_t shape[2] = {4096, 4096}, ch[2] = {4096, 4096}; /* one 128 MiB chunk */
	cask_array_t *a, *s;
	OK(cask_array_ones(ctx, CASK_FLOAT64, 2, shape, ch, &a));
	OK(cask_reduce(ctx, CASK_SUM, a, 0, NULL, 0, 0, &s));
	double v;
	assert_int_equal(cask_compute(ctx, s, &v, sizeof v), CASK_EBUDGET);
	assert_non_null(strstr(cask_ctx_message(ctx), "budget"));
	cask_stats_t st;
	cask_ctx_stats(ctx, &st);
	assert_int_equal(st.tasks_run, 0);
	cask_array_destroy(a);
	cask_array_destroy(s);
	cask_ctx_destroy(ctx);
}

static void test_eval_budget_respected(void **state)
{
	(void)state;
	size_t budget = 4 << 20;
	cask_ctx_t *ctx = new_ctx(budget, 2);
	int64_t shape[2] = {2048, 2048}, ch[2] = {128, 256}; /* 32 MiB array, 256 KiB chunks */
	cask_array_t *a, *b, *s;
	OK(cask_array_random(ctx, CASK_RANDOM_UNIFORM, 7, CASK_FLOAT64, 2, shape, ch, &a));
	cask_array_t *h = scalar_f(ctx, 0.5, 1);
	OK(cask_binary(ctx, CASK_SUB, a, h, &b));
	OK(cask_reduce(ctx, CASK_STD, b, 0, NULL, 0, 0, &s));
	double v;
	OK(cask_compute(ctx, s, &v, sizeof v));
	/* std of U(0,1) is 1/sqrt(12); 4M samples: standard error ~ 1e-4 */
	assert_true(fabs(v - 1.0 / sqrt(12.0)) < 1e-3);
	cask_stats_t st;
	cask_ctx_stats(ctx, &st);
	assert_true(st.peak_memory <= budget);
	assert_true(st.tasks_run >= 128);
	cask_array_destroy(a);
	cask_array_destroy(b);
	cask_array_destroy(h);
	cask_array_destroy(s);
	cask_ctx_destroy(ctx);
}

/* Two outputs of one cask_store in one file spelt two ways ("f.h5" and
 * "./f.h5") share its transaction: with one each, both copied the
 * original and the second commit dropped the first one's dataset (the
 * call returned 0).  The same dataset named both ways is refused. */
static void test_eval_store_one_file_two_spellings(void **state)
{
	(void)state;
	const char *p1 = "test_eval_spell.h5", *p2 = "./test_eval_spell.h5";
	unlink(p1);
	cask_ctx_t *ctx = new_ctx(16 << 20, 2);
	int64_t shape[1] = {1000};
	cask_array_t *a, *b, *ra, *rb;
	OK(cask_array_indices(ctx, CASK_INT32, 1, shape, NULL, 0, 1, &a));
	OK(cask_array_indices(ctx, CASK_INT32, 1, shape, NULL, 7, 2, &b));
	cask_array_t *outs[2] = {a, b};
	cask_store_t o[2];
	cask_store_init(&o[0], p1, "/a");
	cask_store_init(&o[1], p2, "/b");
	OK(cask_store(ctx, 2, outs, o));
	OK(cask_array_open(ctx, p1, "/a", NULL, &ra));
	OK(cask_array_open(ctx, p1, "/b", NULL, &rb));
	int32_t got[1000];
	OK(cask_compute(ctx, ra, got, sizeof got));
	for (int i = 0; i < 1000; i++)
		assert_int_equal(got[i], i);
	OK(cask_compute(ctx, rb, got, sizeof got));
	for (int i = 0; i < 1000; i++)
		assert_int_equal(got[i], 7 + 2 * i);
	cask_store_init(&o[0], p1, "/c");
	cask_store_init(&o[1], p2, "c");
	assert_int_equal(cask_store(ctx, 2, outs, o), CASK_EINVAL);
	assert_non_null(strstr(cask_ctx_message(ctx), "named twice"));
	cask_array_destroy(a);
	cask_array_destroy(b);
	cask_array_destroy(ra);
	cask_array_destroy(rb);
	cask_ctx_destroy(ctx);
	unlink(p1);
}

static void test_eval_store_roundtrip(void **state)
{
	(void)state;
	char path[] = "test_eval_store.h5";
	unlink(path);
	cask_ctx_t *ctx = new_ctx(16 << 20, 2);
	int64_t shape[2] = {100, 30}, ch[2] = {16, 7};
	cask_array_t *a, *b, *bb;
	OK(cask_array_indices(ctx, CASK_INT32, 2, shape, ch, -5, 3, &a));
	cask_array_t *two = scalar_i(ctx, 2, 1), *gt;
	OK(cask_binary(ctx, CASK_MUL, a, two, &b));
	OK(cask_binary(ctx, CASK_GT, a, two, &gt));
	cask_store_t o[2];
	cask_store_init(&o[0], path, "/g/a2");
	cask_store_init(&o[1], path, "/flag");
	o[0].gzip = 1;
	o[0].shuffle = 1;
	cask_array_t *outs[2] = {b, gt};
	OK(cask_store(ctx, 2, outs, o));
	/* storing again without overwrite fails and leaves the file intact */
	assert_int_equal(cask_store(ctx, 1, &b, o), CASK_EEXIST);
	OK(cask_array_open(ctx, path, "/g/a2", NULL, &bb));
	assert_int_equal(cask_array_dtype(bb), CASK_INT32);
	int32_t got[3000];
	OK(cask_compute(ctx, bb, got, sizeof got));
	for (int i = 0; i < 3000; i++)
		assert_int_equal(got[i], 2 * (-5 + 3 * i));
	cask_array_t *fl;
	OK(cask_array_open(ctx, path, "/flag", NULL, &fl));
	assert_int_equal(cask_array_dtype(fl), CASK_BOOL);
	uint8_t gb[3000];
	OK(cask_compute(ctx, fl, gb, sizeof gb));
	for (int i = 0; i < 3000; i++)
		assert_int_equal(gb[i], (-5 + 3 * i) > 2);
	/* overwrite an input with a function of itself */
	cask_array_t *b3;
	OK(cask_binary(ctx, CASK_MUL, bb, two, &b3));
	o[0].overwrite = 1;
	OK(cask_store(ctx, 1, &b3, o));
	cask_array_t *bb2;
	OK(cask_array_open(ctx, path, "/g/a2", NULL, &bb2));
	OK(cask_compute(ctx, bb2, got, sizeof got));
	for (int i = 0; i < 3000; i++)
		assert_int_equal(got[i], 4 * (-5 + 3 * i));
	cask_array_t *all[] = {a, b, bb, two, gt, fl, b3, bb2};
	for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
		cask_array_destroy(all[k]);
	cask_ctx_destroy(ctx);
	unlink(path);
}

static void test_eval_rank32_and_overflow(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx(8 << 20, 2);
	int64_t shape[32], ch[32];
	for (int k = 0; k < 32; k++)
		shape[k] = 1, ch[k] = 1;
	shape[31] = 5;
	shape[0] = 3;
	ch[0] = 2;
	cask_array_t *a, *s, *t;
	OK(cask_array_indices(ctx, CASK_INT64, 32, shape, ch, 0, 1, &a));
	int axes[2] = {0, 31};
	OK(cask_reduce(ctx, CASK_SUM, a, 2, axes, 1, 0, &s));
	assert_int_equal(cask_array_ndim(s), 32);
	int64_t v;
	OK(cask_compute(ctx, s, &v, sizeof v));
	assert_int_equal(v, 14 * 15 / 2); /* 0 + 1 + ... + 14 */
	OK(cask_transpose(ctx, a, NULL, &t));
	int64_t out[15];
	OK(cask_compute(ctx, t, out, sizeof out));
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < 3; j++)
			assert_int_equal(out[i * 3 + j], j * 5 + i);
	/* rank 33 and overflowing extents are refused with a message */
	cask_array_t *bad;
	int64_t s33[33];
	for (int k = 0; k < 33; k++)
		s33[k] = 1;
	assert_int_equal(cask_array_zeros(ctx, CASK_INT8, 33, s33, NULL, &bad), CASK_EINVAL);
	int64_t huge[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
	assert_int_equal(cask_array_zeros(ctx, CASK_INT8, 2, huge, NULL, &bad), CASK_EOVERFLOW);
	assert_non_null(strstr(cask_ctx_message(ctx), "overflow"));
	int64_t big8[2] = {(int64_t)1 << 31, (int64_t)1 << 31}; /* 2^62 elements * 8 bytes */
	assert_int_equal(cask_array_zeros(ctx, CASK_FLOAT64, 2, big8, NULL, &bad), CASK_EOVERFLOW);
	cask_array_destroy(a);
	cask_array_destroy(s);
	cask_array_destroy(t);
	cask_ctx_destroy(ctx);
}

/* The graph of a computation can be built, counted, dumped and run. */
static void test_eval_graph_inspect(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx(8 << 20, 2);
	OK(cask_ctx_set_task_bytes(ctx, 0)); /* one task per chunk */
	int64_t shape[2] = {100, 10}, ch[2] = {10, 10};
	cask_array_t *a, *s;
	OK(cask_array_ones(ctx, CASK_FLOAT64, 2, shape, ch, &a));
	OK(cask_reduce(ctx, CASK_SUM, a, 0, NULL, 0, 0, &s));
	cask_graph_t *g;
	OK(cask_array_graph(ctx, 1, &s, NULL, &g));
	/* 10 chunk partials, a combine of 8 and a combine of the rest, the result, one eval */
	assert_true(cask_graph_ntasks(g) >= 12);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	OK(cask_graph_dump(g, f, CASK_DUMP_DOT));
	fclose(f);
	assert_non_null(strstr(text, "digraph"));
	assert_non_null(strstr(text, "reduce-chunk"));
	free(text);
	OK(cask_graph_run(ctx, g));
	cask_graph_destroy(g);
	cask_array_destroy(a);
	cask_array_destroy(s);
	cask_ctx_destroy(ctx);
}

/* Tiny chunks are grouped into tasks of about task_bytes: far fewer tasks,
 * the same values (exact integer sums, h5py-visible chunking kept), and
 * one task per chunk again with task_bytes 0. */
static void test_eval_grouped_tasks(void **state)
{
	(void)state;
	char path[] = "test_eval_grouped.h5";
	unlink(path);
	cask_ctx_t *ctx = new_ctx(256 << 20, 2);
	enum { N = 200000 };
	int64_t one = 1;
	cask_array_t *a, *s, *s0;
	OK(cask_array_arange(ctx, CASK_INT64, N, 0, 1, &one, &a));
	OK(cask_reduce(ctx, CASK_SUM, a, 0, NULL, 0, 0, &s));
	cask_graph_t *g;
	OK(cask_array_graph(ctx, 1, &s, NULL, &g));
	/* 1.6 MB of data in tasks of ~1 MiB: a handful, not 200000 */
	assert_true(cask_graph_ntasks(g) < 16);
	cask_graph_destroy(g);
	int64_t got;
	OK(cask_compute(ctx, s, &got, sizeof got));
	assert_int_equal(got, (int64_t)N * (N - 1) / 2);
	OK(cask_ctx_set_task_bytes(ctx, 0));
	OK(cask_reduce(ctx, CASK_SUM, a, 0, NULL, 0, 0, &s0));
	OK(cask_array_graph(ctx, 1, &s0, NULL, &g));
	assert_true(cask_graph_ntasks(g) > N);
	cask_graph_destroy(g);
	OK(cask_ctx_set_task_bytes(ctx, 1024)); /* blocks of 56 x 9: 6 rows of tasks, ragged */
	/* 2-d, ragged: 301 x 7 int16 in 2 x 3 chunks, reduced over axis 1 and
	 * stored; the stored dataset keeps the 2 x 3 chunks */
	int64_t shape[2] = {301, 7}, ch[2] = {2, 3};
	cask_array_t *b, *r, *back;
	OK(cask_array_indices(ctx, CASK_INT16, 2, shape, ch, -1000, 1, &b));
	int axis = 1;
	OK(cask_reduce(ctx, CASK_MAX, b, 1, &axis, 0, 0, &r));
	int16_t mx[301];
	OK(cask_compute(ctx, r, mx, sizeof mx));
	for (int i = 0; i < 301; i++)
		assert_int_equal(mx[i], -1000 + 7 * i + 6);
	cask_store_t o;
	cask_store_init(&o, path, "/b");
	OK(cask_store(ctx, 1, &b, &o));
	cask_dset_info_t *info;
	int64_t ni;
	OK(cask_h5_info(ctx, path, "/b", &info, &ni));
	assert_int_equal(ni, 1);
	assert_int_equal(info[0].chunks[0], 2);
	assert_int_equal(info[0].chunks[1], 3);
	free(info);
	OK(cask_array_open(ctx, path, "/b", NULL, &back));
	static int16_t v[301 * 7];
	OK(cask_compute(ctx, back, v, sizeof v));
	for (int i = 0; i < 301 * 7; i++)
		assert_int_equal(v[i], -1000 + i);
	cask_array_t *all[] = {a, s, s0, b, r, back};
	for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
		cask_array_destroy(all[k]);
	cask_ctx_destroy(ctx);
	unlink(path);
}

/* A context of 64 MiB and 2 threads, with the 300 x 200 flat indices
 * (dtype t) stored gzipped in 64 x 64 chunks as path:/a (*a: the array
 * stored). */
static cask_ctx_t *gzip_indices_ctx(const char *path, cask_dtype_t t, cask_array_t **a)
{
	cask_ctx_t *ctx = new_ctx(64 << 20, 2);
	int64_t shape[2] = {300, 200}, ch[2] = {64, 64};
	unlink(path);
	OK(cask_array_indices(ctx, t, 2, shape, ch, 0, 1, a));
	cask_store_t o;
	cask_store_init(&o, path, "/a");
	o.gzip = 1;
	OK(cask_store(ctx, 1, a, &o));
	return ctx;
}

/* Computing the 0-d double s fails with CASK_EBUDGET and a message
 * containing needle; then the n arrays, ctx and the file path go. */
static void budget_error_and_close(cask_ctx_t *ctx, cask_array_t *s, const char *needle,
                                   cask_array_t **all, size_t n, const char *path)
{
	double got;
	assert_int_equal(cask_compute(ctx, s, &got, sizeof got), CASK_EBUDGET);
	assert_non_null(strstr(cask_ctx_message(ctx), needle));
	for (size_t k = 0; k < n; k++)
		cask_array_destroy(all[k]);
	cask_ctx_destroy(ctx);
	unlink(path);
}

/* The hint after a budget error names the stored chunk's size in KiB below
 * 1 MiB: a 64 x 64 float64 chunk is 32 KiB (it read "0.0 MiB"). */
static void test_eval_budget_hint_small_chunk(void **state)
{
	(void)state;
	char path[] = "test_eval_budget_hint.h5";
	cask_array_t *a, *b, *f, *s;
	cask_ctx_t *ctx = gzip_indices_ctx(path, CASK_FLOAT64, &a);
	OK(cask_ctx_set_memory(ctx, 64 << 10));
	OK(cask_array_open(ctx, path, "/a", NULL, &b));
	cask_filter_t spec;
	cask_filter_init(&spec, CASK_FILTER_UNIFORM);
	spec.nsize = 1;
	spec.size[0] = 41; /* a halo of 20 cells: the tasks outgrow 64 KiB */
	OK(cask_filter(ctx, &spec, b, &f));
	OK(cask_reduce(ctx, CASK_SUM, f, 0, NULL, 0, 0, &s));
	cask_array_t *all[] = {a, b, f, s};
	budget_error_and_close(ctx, s, "(chunks (64, 64)) is 32.0 KiB", all, 4, path);
}

/* The I/O knobs: one lane, read-ahead of one task and an HDF5 chunk cache
 * give the same values; the cache is counted in the budget while its
 * dataset is open, and a cache larger than the budget fails cleanly. */
static void test_eval_io_knobs(void **state)
{
	(void)state;
	char path[] = "test_eval_io_knobs.h5";
	cask_array_t *a, *b, *v, *s;
	cask_ctx_t *ctx = gzip_indices_ctx(path, CASK_INT32, &a);
	assert_int_equal(cask_ctx_set_io(ctx, -1, 0, 0), CASK_EINVAL);
	OK(cask_ctx_set_task_bytes(ctx, 0)); /* one task per chunk of the view */
	/* v = b[5:290, 3:199] cuts the stored compressed chunks: without a
	 * cache, chunks are read and decoded once per task that touches them */
	cask_index_t idx[2] = {
		{.kind = CASK_INDEX_SLICE, .start = 5, .stop = 290, .step = 1, .has_start = 1, .has_stop = 1},
		{.kind = CASK_INDEX_SLICE, .start = 3, .stop = 199, .step = 1, .has_start = 1, .has_stop = 1},
	};
	int64_t got, want = 0;
	for (int64_t i = 5; i < 290; i++)
		for (int64_t j = 3; j < 199; j++)
			want += i * 200 + j;
	cask_stats_t st;
	uint64_t read[2];
	for (int pass = 0; pass < 2; pass++) {
		/* pass 1: one lane, read-ahead of one task, a cache for all 20 chunks */
		if (pass == 1) {
			OK(cask_ctx_set_io(ctx, 1, 1, 8 << 20));
			/* one thread: two tasks missing the same chunk at once would
			 * both read it */
			OK(cask_ctx_set_threads(ctx, 1));
		}
		OK(cask_array_open(ctx, path, "/a", NULL, &b));
		OK(cask_index(ctx, b, 2, idx, &v));
		OK(cask_reduce(ctx, CASK_SUM, v, 0, NULL, 0, 0, &s));
		cask_ctx_reset_stats(ctx);
		OK(cask_compute(ctx, s, &got, sizeof got));
		assert_int_equal(got, want);
		cask_ctx_stats(ctx, &st);
		read[pass] = st.bytes_read;
		if (pass == 0) {
			cask_array_destroy(b);
			cask_array_destroy(v);
			cask_array_destroy(s);
		}
	}
	assert_true(read[0] > 300 * 200 * 4);
	assert_true(read[1] <= 300 * 200 * 4); /* each chunk decoded once */
	assert_true(st.peak_memory >= (8u << 20)); /* the open dataset's cache */
	/* a budget below the cache cannot run anything */
	OK(cask_ctx_set_memory(ctx, 4 << 20));
	cask_array_t *all[] = {a, b, v, s};
	budget_error_and_close(ctx, s, "chunk cache", all, 4, path);
}

/* The decoded-chunk cache under churn: 2500 compressed chunks of 256
 * bytes and a cache of 256 entries, read through three windows that cut
 * chunks (one of them transposed, so chunks are visited in another order):
 * entries are found, replaced and re-inserted thousands of times and every
 * sum stays exact; with room for every chunk, a second pass decodes
 * nothing. */
static void test_eval_chunk_cache_churn(void **state)
{
	(void)state;
	char path[] = "test_eval_chunk_cache_churn.h5";
	unlink(path);
	cask_ctx_t *ctx = new_ctx(64 << 20, 1);
	int64_t shape[2] = {400, 400}, ch[2] = {8, 8};
	cask_array_t *a, *b;
	OK(cask_array_indices(ctx, CASK_INT32, 2, shape, ch, 0, 1, &a));
	cask_store_t o;
	cask_store_init(&o, path, "/a");
	o.gzip = 1;
	o.shuffle = 1;
	OK(cask_store(ctx, 1, &a, &o));
	OK(cask_ctx_set_task_bytes(ctx, 0));
	static const int64_t win[3][4] = {{3, 397, 1, 399}, {5, 390, 7, 300}, {101, 303, 45, 355}};
	int64_t want[3] = {0, 0, 0};
	for (int k = 0; k < 3; k++)
		for (int64_t i = win[k][0]; i < win[k][1]; i++)
			for (int64_t j = win[k][2]; j < win[k][3]; j++)
				want[k] += i * 400 + j;
	cask_stats_t st;
	uint64_t read[2][2];
	for (int round = 0; round < 2; round++) {
		/* round 0: 256 entries for 2500 chunks; round 1: room for all */
		OK(cask_ctx_set_io(ctx, 0, 0, round == 0 ? 256 * 256 : 4096 * 256));
		OK(cask_array_open(ctx, path, "/a", NULL, &b));
		for (int pass = 0; pass < 2; pass++) {
			cask_ctx_reset_stats(ctx);
			for (int k = 0; k < 3; k++) {
				cask_array_t *v, *t = NULL, *s;
				int perm[2] = {1, 0};
				cask_index_t idx[2] = {
					{.kind = CASK_INDEX_SLICE, .start = win[k][0], .stop = win[k][1],
					 .step = 1, .has_start = 1, .has_stop = 1},
					{.kind = CASK_INDEX_SLICE, .start = win[k][2], .stop = win[k][3],
					 .step = 1, .has_start = 1, .has_stop = 1},
				};
				OK(cask_index(ctx, b, 2, idx, &v));
				if (k == 1)
					OK(cask_transpose(ctx, v, perm, &t));
				OK(cask_reduce(ctx, CASK_SUM, t != NULL ? t : v, 0, NULL, 0, 0, &s));
				int64_t got;
				OK(cask_compute(ctx, s, &got, sizeof got));
				assert_int_equal(got, want[k]);
				cask_array_destroy(s);
				cask_array_destroy(t);
				cask_array_destroy(v);
			}
			cask_ctx_stats(ctx, &st);
			read[round][pass] = st.bytes_read;
		}
		cask_array_destroy(b);
	}
	/* too small a cache: chunks decoded again in the second pass */
	assert_true(read[0][1] > 0);
	/* room for all: the second pass decodes nothing */
	assert_true(read[1][0] > 0);
	assert_int_equal(read[1][1], 0);
	cask_array_destroy(a);
	cask_ctx_destroy(ctx);
	unlink(path);
}

/* Whole unfiltered chunks are used in place (mapped): sums and fused
 * expressions over them are exact, edge chunks take the read path, and a
 * file truncated under an open array gives an error, not a crash. */
static void test_eval_mapped_chunks(void **state)
{
	(void)state;
	char path[] = "test_eval_mapped.h5";
	unlink(path);
	cask_ctx_t *ctx = new_ctx(64 << 20, 2);
	OK(cask_ctx_set_task_bytes(ctx, 0));
	enum { R = 256, C = 200 };
	int64_t shape[2] = {R, C}, ch[2] = {64, 64};
	cask_array_t *a, *b, *s, *f, *two, *one, *t;
	OK(cask_array_indices(ctx, CASK_INT64, 2, shape, ch, 0, 1, &a));
	cask_store_t o;
	cask_store_init(&o, path, "/a");
	OK(cask_store(ctx, 1, &a, &o));
	OK(cask_array_open(ctx, path, "/a", NULL, &b));
	OK(cask_reduce(ctx, CASK_SUM, b, 0, NULL, 0, 0, &s));
	int64_t got;
	OK(cask_compute(ctx, s, &got, sizeof got));
	assert_int_equal(got, (int64_t)R * C * (R * C - 1) / 2);
	cask_scalar_t sv2 = {.dtype = CASK_INT64, .v.i = 2}, sv1 = {.dtype = CASK_INT64, .v.i = 1};
	OK(cask_array_full(ctx, CASK_INT64, 0, NULL, NULL, sv2, &two));
	OK(cask_array_full(ctx, CASK_INT64, 0, NULL, NULL, sv1, &one));
	OK(cask_binary(ctx, CASK_MUL, b, two, &t));
	OK(cask_binary(ctx, CASK_ADD, t, one, &f));
	static int64_t v[R * C];
	OK(cask_compute(ctx, f, v, sizeof v));
	for (int i = 0; i < R * C; i++)
		assert_int_equal(v[i], 2 * (int64_t)i + 1);
	/* truncate the file under the open array */
	assert_int_equal(truncate(path, 4096), 0);
	assert_true(cask_compute(ctx, s, &got, sizeof got) < 0);
	assert_true(cask_compute(ctx, f, v, sizeof v) < 0);
	cask_array_t *all[] = {a, b, s, f, two, one, t};
	for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
		cask_array_destroy(all[k]);
	cask_ctx_destroy(ctx);
	unlink(path);
}

/* Reductions whose result exceeds a quarter of the budget are never held
 * whole: written block by block (compute, store) or spilled to a temporary
 * dataset when another expression consumes them. */
static void test_eval_big_reductions(void **state)
{
	(void)state;
	enum { R = 16, C = 20000 };
	static double x[R * C], got[R * C], ref[C];
	for (int i = 0; i < R * C; i++)
		x[i] = (i % 977) * 0.25 - (i % 13);
	for (int j = 0; j < C; j++) {
		ref[j] = 0;
		for (int i = 0; i < R; i++)
			ref[j] += x[i * C + j];
	}
	cask_ctx_t *ctx = new_ctx(256 << 10, 2); /* 256 KiB: the 160 KB result is "big" */
	int64_t shape[2] = {R, C}, ch[2] = {4, 2000};
	cask_array_t *ax, *s, *m, *d;
	OK(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, shape, ch, x, &ax));
	int ax0 = 0;
	OK(cask_reduce(ctx, CASK_SUM, ax, 1, &ax0, 0, 0, &s));
	OK(cask_compute(ctx, s, got, C * sizeof(double)));
	for (int j = 0; j < C; j++)
		assert_true(fabs(got[j] - ref[j]) <= 1e-12 * 4000);
	OK(cask_reduce(ctx, CASK_MEAN, ax, 1, &ax0, 0, 0, &m));
	OK(cask_binary(ctx, CASK_SUB, ax, m, &d));
	OK(cask_compute(ctx, d, got, sizeof got));
	for (int i = 0; i < R; i++)
		for (int j = 0; j < C; j++)
			assert_true(fabs(got[i * C + j] - (x[i * C + j] - ref[j] / R)) <= 1e-12 * 256);
	cask_stats_t st;
	cask_ctx_stats(ctx, &st);
	assert_true(st.peak_memory <= 256 << 10);
	char path[] = "test_eval_big.h5";
	unlink(path);
	cask_store_t o;
	cask_store_init(&o, path, "/colsum");
	OK(cask_store(ctx, 1, &s, &o));
	cask_array_t *back;
	OK(cask_array_open(ctx, path, "/colsum", NULL, &back));
	OK(cask_compute(ctx, back, got, C * sizeof(double)));
	for (int j = 0; j < C; j++)
		assert_true(fabs(got[j] - ref[j]) <= 1e-12 * 4000);
	cask_array_destroy(back);
	unlink(path);
	cask_array_destroy(ax);
	cask_array_destroy(s);
	cask_array_destroy(m);
	cask_array_destroy(d);
	cask_ctx_destroy(ctx);
}

/* Concatenating stored arrays misaligns task regions with stored chunks:
 * regions that need staging the plan did not foresee still read right. */
static void test_eval_concat_stored_misaligned(void **state)
{
	(void)state;
	char path[] = "test_eval_cat.h5";
	unlink(path);
	cask_ctx_t *ctx = new_ctx(8 << 20, 2);
	int64_t n = 6, ch = 4;
	cask_array_t *a, *b, *c;
	OK(cask_array_indices(ctx, CASK_INT32, 1, &n, &ch, 0, 1, &a));
	cask_store_t o;
	cask_store_init(&o, path, "/a");
	o.gzip = 1;
	OK(cask_store(ctx, 1, &a, &o));
	cask_array_destroy(a);
	OK(cask_array_open(ctx, path, "/a", NULL, &a));
	OK(cask_array_open(ctx, path, "/a", NULL, &b));
	cask_array_t *ab[2] = {a, b};
	OK(cask_concatenate(ctx, 2, ab, 0, &c));
	int32_t got[12];
	OK(cask_compute(ctx, c, got, sizeof got));
	for (int i = 0; i < 12; i++)
		assert_int_equal(got[i], i % 6);
	cask_array_destroy(a);
	cask_array_destroy(b);
	cask_array_destroy(c);
	cask_ctx_destroy(ctx);
	unlink(path);
}

/* Store indices(shape, chunks) of dtype t to path:/dset and open it. */
static cask_array_t *stored_indices(cask_ctx_t *ctx, const char *path, const char *dset,
                                    cask_dtype_t t, int nd, const int64_t *shape,
                                    const int64_t *ch)
{
	cask_array_t *a, *b;
	OK(cask_array_indices(ctx, t, nd, shape, ch, 0, 1, &a));
	cask_store_t o;
	cask_store_init(&o, path, dset);
	OK(cask_store(ctx, 1, &a, &o));
	cask_array_destroy(a);
	OK(cask_array_open(ctx, path, dset, NULL, &b));
	return b;
}

/* The plan of a stage comes from its first region, which lies in the first
 * operand of a concatenation; a later operand that is computed (a fused
 * expression, a reversed view, a cast) needs more scratch, and every region
 * must fit that plan.  One task per chunk (task_bytes 0) so the regions
 * differ; results exact (integers). */
static void test_eval_concat_computed_later_operand(void **state)
{
	(void)state;
	char path[] = "test_eval_catlater.h5";
	unlink(path);
	cask_ctx_t *ctx = new_ctx(16 << 20, 2);
	OK(cask_ctx_set_task_bytes(ctx, 0));
	enum { R = 8, C = 6, N = R * C };
	int64_t shape[2] = {R, C}, ch[2] = {4, 3};
	cask_array_t *a = stored_indices(ctx, path, "/a", CASK_INT64, 2, shape, ch);
	cask_array_t *two = scalar_i(ctx, 2, 0), *a2, *rev, *a32, *c1, *c2, *c3, *c4, *st, *s;
	OK(cask_binary(ctx, CASK_MUL, a, two, &a2));
	cask_index_t flip[1] = {{.kind = CASK_INDEX_SLICE, .step = -1}};
	OK(cask_index(ctx, a, 1, flip, &rev));
	OK(cask_astype(ctx, a2, CASK_INT32, &a32));
	cask_array_t *l1[2] = {a, a2}, *l2[2] = {a, rev}, *l3[3] = {a, rev, a2};
	OK(cask_concatenate(ctx, 2, l1, 0, &c1));
	OK(cask_concatenate(ctx, 2, l2, 0, &c2));
	OK(cask_concatenate(ctx, 3, l3, 1, &c3));
	OK(cask_stack(ctx, 2, l1, 0, &st));
	cask_array_t *l4[2] = {a32, a32};
	OK(cask_concatenate(ctx, 2, l4, 0, &c4));
	OK(cask_reduce(ctx, CASK_SUM, c1, 0, NULL, 0, 0, &s));
	int64_t v[3 * N];
	OK(cask_compute(ctx, c1, v, 2 * N * sizeof(int64_t)));
	for (int i = 0; i < N; i++)
		assert_int_equal(v[i], i), assert_int_equal(v[N + i], 2 * i);
	OK(cask_compute(ctx, st, v, 2 * N * sizeof(int64_t)));
	for (int i = 0; i < N; i++)
		assert_int_equal(v[i], i), assert_int_equal(v[N + i], 2 * i);
	OK(cask_compute(ctx, c2, v, 2 * N * sizeof(int64_t)));
	for (int i = 0; i < R; i++)
		for (int j = 0; j < C; j++)
			assert_int_equal(v[(R + i) * C + j], (R - 1 - i) * C + j);
	OK(cask_compute(ctx, c3, v, 3 * N * sizeof(int64_t)));
	for (int i = 0; i < R; i++)
		for (int j = 0; j < C; j++) {
			assert_int_equal(v[i * 3 * C + j], i * C + j);
			assert_int_equal(v[i * 3 * C + C + j], (R - 1 - i) * C + j);
			assert_int_equal(v[i * 3 * C + 2 * C + j], 2 * (i * C + j));
		}
	int32_t w[2 * N];
	OK(cask_compute(ctx, c4, w, sizeof w));
	for (int i = 0; i < 2 * N; i++)
		assert_int_equal(w[i], 2 * (i % N));
	int64_t got;
	OK(cask_compute(ctx, s, &got, sizeof got));
	assert_int_equal(got, 3 * (int64_t)N * (N - 1) / 2);
	cask_array_t *all[] = {a, two, a2, rev, a32, c1, c2, c3, c4, st, s};
	for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
		cask_array_destroy(all[k]);
	cask_ctx_destroy(ctx);
	unlink(path);
}

/* A float32 vector broadcast against a matrix whose chunks do not line up
 * with its own: the first region reads it as a hyperslab, a later one
 * (ending at the array's end) as a whole stored chunk, whose staging must
 * not push the cast's register past the plan. */
static void test_eval_broadcast_misaligned_chunks(void **state)
{
	(void)state;
	char path[] = "test_eval_bcast.h5";
	unlink(path);
	cask_ctx_t *ctx = new_ctx(16 << 20, 2);
	OK(cask_ctx_set_task_bytes(ctx, 0));
	enum { R = 10, C = 8 };
	int64_t xs[2] = {R, C}, xc[2] = {1, 2}, rs = C, rc3 = 3;
	cask_array_t *x = stored_indices(ctx, path, "/x", CASK_FLOAT64, 2, xs, xc);
	cask_array_t *r = stored_indices(ctx, path, "/r", CASK_FLOAT32, 1, &rs, &rc3);
	cask_array_t *y, *s, *x32, *y32;
	OK(cask_binary(ctx, CASK_ADD, x, r, &y));
	OK(cask_reduce(ctx, CASK_SUM, y, 0, NULL, 0, 0, &s));
	OK(cask_astype(ctx, x, CASK_FLOAT32, &x32));
	OK(cask_binary(ctx, CASK_ADD, x32, r, &y32));
	double v[R * C], got;
	float f[R * C];
	OK(cask_compute(ctx, y, v, sizeof v));
	OK(cask_compute(ctx, y32, f, sizeof f));
	for (int i = 0; i < R; i++)
		for (int j = 0; j < C; j++) {
			assert_true(v[i * C + j] == (double)(i * C + j + j));
			assert_true(f[i * C + j] == (float)(i * C + j + j));
		}
	OK(cask_compute(ctx, s, &got, sizeof got));
	assert_true(got == (double)(R * C * (R * C - 1) / 2 + R * C * (C - 1) / 2));
	cask_array_t *all[] = {x, r, y, s, x32, y32};
	for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
		cask_array_destroy(all[k]);
	cask_ctx_destroy(ctx);
	unlink(path);
}

/* Reducing over a non-empty axis of an array with a zero-length kept axis
 * gives an empty result, as NumPy does (even for min/max/arg reductions,
 * which have no identity: no empty reduction happens). */
static void test_eval_reduce_empty_kept_axis(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx(8 << 20, 2);
	int64_t shape[3] = {11, 8, 6};
	cask_array_t *x, *z;
	OK(cask_array_indices(ctx, CASK_FLOAT64, 3, shape, NULL, 0, 1, &x));
	cask_index_t idx[2] = {{.kind = CASK_INDEX_SLICE, .step = 1},
	                       {.kind = CASK_INDEX_SLICE, .start = 0, .stop = 0, .step = 1,
	                        .has_start = 1, .has_stop = 1}};
	OK(cask_index(ctx, x, 2, idx, &z));
	assert_int_equal(cask_array_size(z), 0);
	const cask_redop_t ops[] = {CASK_SUM, CASK_MAX, CASK_MIN, CASK_ARGMIN, CASK_VAR};
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		for (int keep = 0; keep < 2; keep++) {
			int ax = 0;
			cask_array_t *r;
			OK(cask_reduce(ctx, ops[i], z, 1, &ax, keep, 0, &r));
			assert_int_equal(cask_array_ndim(r), 2 + keep);
			assert_int_equal(cask_array_size(r), 0);
			double dummy;
			OK(cask_compute(ctx, r, &dummy, 0));
			cask_array_destroy(r);
		}
	}
	/* over the empty axis itself: sums are zeros, max has no identity */
	int ax1 = 1;
	cask_array_t *s, *m;
	OK(cask_reduce(ctx, CASK_SUM, z, 1, &ax1, 0, 0, &s));
	OK(cask_reduce(ctx, CASK_MAX, z, 1, &ax1, 0, 0, &m));
	double o[11 * 6];
	OK(cask_compute(ctx, s, o, sizeof o));
	for (int i = 0; i < 11 * 6; i++)
		assert_true(o[i] == 0.0);
	assert_int_equal(cask_compute(ctx, m, o, sizeof o), CASK_EINVAL);
	cask_array_t *all[] = {x, z, s, m};
	for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
		cask_array_destroy(all[k]);
	cask_ctx_destroy(ctx);
}

/* NumPy raises for min/max/arg* whenever a reduced axis has length 0, even
 * when a kept axis is empty as well, so that the result has no element
 * (np.min(np.zeros((0, 0, 9)), axis=0) raises; axis=2 is an empty (0, 0)).
 * Such an empty result used to come back without error.  Sums and the
 * other reductions with an identity give their empty or identity result. */
static void test_eval_reduce_empty_over_empty_axis(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx(8 << 20, 2);
	const int64_t shapes[][3] = {{0, 0, 9}, {4, 0, 0}, {0, 3, 0}, {0, 0, 0}};
	const cask_redop_t ops[] = {CASK_MIN, CASK_MAX, CASK_NANMIN, CASK_NANMAX, CASK_ARGMIN,
	                            CASK_ARGMAX, CASK_SUM, CASK_MEAN, CASK_ANY};
	for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
		cask_array_t *x;
		OK(cask_array_zeros(ctx, CASK_FLOAT64, 3, shapes[si], NULL, &x));
		for (size_t oi = 0; oi < sizeof ops / sizeof ops[0]; oi++) {
			int identity = ops[oi] == CASK_SUM || ops[oi] == CASK_MEAN || ops[oi] == CASK_ANY;
			for (int ax = -1; ax < 3; ax++) { /* -1: all axes */
				cask_array_t *r;
				OK(cask_reduce(ctx, ops[oi], x, ax < 0 ? 0 : 1, ax < 0 ? NULL : &ax, 0, 0, &r));
				int over_empty = ax < 0 ? 1 : shapes[si][ax] == 0;
				double buf[16];
				size_t bytes = (size_t)cask_array_size(r) * 8;
				int rc = cask_compute(ctx, r, bytes ? buf : NULL, bytes);
				if (over_empty && !identity) {
					assert_int_equal(rc, CASK_EINVAL);
					assert_non_null(strstr(cask_ctx_message(ctx), "no identity"));
				} else {
					assert_int_equal(rc, 0);
				}
				cask_array_destroy(r);
			}
		}
		cask_array_destroy(x);
	}
	cask_ctx_destroy(ctx);
}

static int count_fds(void)
{
	int n = 0;
	FILE *f = popen("ls /proc/self/fd 2>/dev/null | wc -l", "r");
	if (f != NULL) {
		if (fscanf(f, "%d", &n) != 1)
			n = -1;
		pclose(f);
	}
	return n;
}

/* 1000 rounds of open / compute / store / destroy leave no file handle
 * behind (memory leaks are LeakSanitizer's job in the ASan build, which
 * runs this same test). */
static void test_eval_no_leak_1000_calls(void **state)
{
	(void)state;
	char path[] = "test_eval_leak.h5", out[] = "test_eval_leak_out.h5";
	unlink(path);
	unlink(out);
	cask_ctx_t *ctx = new_ctx(8 << 20, 2);
	int64_t n = 1000, ch = 100;
	cask_array_t *a;
	OK(cask_array_indices(ctx, CASK_INT32, 1, &n, &ch, 0, 1, &a));
	cask_store_t o;
	cask_store_init(&o, path, "/a");
	o.gzip = 1;
	OK(cask_store(ctx, 1, &a, &o));
	cask_array_destroy(a);
	cask_ctx_destroy(ctx);
	int before = count_fds();
	for (int i = 0; i < 1000; i++) {
		ctx = new_ctx(8 << 20, 2);
		cask_array_t *x, *s;
		OK(cask_array_open(ctx, path, "/a", NULL, &x));
		OK(cask_reduce(ctx, CASK_SUM, x, 0, NULL, 0, 0, &s));
		int64_t v;
		OK(cask_compute(ctx, s, &v, sizeof v));
		assert_int_equal(v, 999 * 1000 / 2);
		if (i % 100 == 0) {
			cask_store_t so;
			cask_store_init(&so, out, "/x");
			so.overwrite = 1;
			OK(cask_store(ctx, 1, &x, &so));
		}
		/* an error path too: a missing dataset */
		cask_array_t *bad = NULL;
		assert_int_equal(cask_array_open(ctx, path, "/nope", NULL, &bad), CASK_ENOTFOUND);
		cask_array_destroy(s);
		cask_array_destroy(x);
		cask_ctx_destroy(ctx);
	}
	assert_int_equal(count_fds(), before);
	unlink(path);
	unlink(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eval_promotion_table),
		cmocka_unit_test(test_eval_float_loop_types),
		cmocka_unit_test(test_eval_weak_scalars),
		cmocka_unit_test(test_eval_weak_int_out_of_range),
		cmocka_unit_test(test_eval_fused_broadcast_any_chunking),
		cmocka_unit_test(test_eval_views),
		cmocka_unit_test(test_eval_slice_huge_steps),
		cmocka_unit_test(test_eval_concat_stack),
		cmocka_unit_test(test_eval_broadcast_error),
		cmocka_unit_test(test_eval_reductions_exact),
		cmocka_unit_test(test_eval_center_columns),
		cmocka_unit_test(test_eval_zero_size_and_0d),
		cmocka_unit_test(test_eval_random_reproducible),
		cmocka_unit_test(test_eval_budget_too_small),
		cmocka_unit_test(test_eval_budget_respected),
		cmocka_unit_test(test_eval_store_roundtrip),
		cmocka_unit_test(test_eval_store_one_file_two_spellings),
		cmocka_unit_test(test_eval_rank32_and_overflow),
		cmocka_unit_test(test_eval_graph_inspect),
		cmocka_unit_test(test_eval_grouped_tasks),
		cmocka_unit_test(test_eval_budget_hint_small_chunk),
		cmocka_unit_test(test_eval_io_knobs),
		cmocka_unit_test(test_eval_chunk_cache_churn),
		cmocka_unit_test(test_eval_mapped_chunks),
		cmocka_unit_test(test_eval_big_reductions),
		cmocka_unit_test(test_eval_concat_stored_misaligned),
		cmocka_unit_test(test_eval_concat_computed_later_operand),
		cmocka_unit_test(test_eval_broadcast_misaligned_chunks),
		cmocka_unit_test(test_eval_reduce_empty_kept_axis),
		cmocka_unit_test(test_eval_reduce_empty_over_empty_axis),
		cmocka_unit_test(test_eval_no_leak_1000_calls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
