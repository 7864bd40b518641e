/*
 * test_overlap.c - map_blocks, map_overlap, apply_parallel and the built-in
 * filters (src/overlap.c) through the public API.
 *
 * References:
 *  - the filters against scipy.ndimage 1.10 on the WHOLE array, computed at
 *    test time by /usr/bin/python3 tests/ref/overlap_ref.py (one batch of
 *    jobs for the whole group: inputs and references come back as raw
 *    files), compared with f8: max|err| <= 1e-12 max|ref|, f4: <= 1e-5
 *    max|ref| (the brief's bounds; the kernels aim at bit equality),
 *    integers exactly;
 *  - the user-callback forms against direct loops written here (an
 *    independent reflect/wrap index rule, exact integer arithmetic).
 * Shapes do not divide the chunks, chunks are smaller than the halos, halos
 * longer than the axis, 1-d/2-d/3-d, f4/f8/u8/u16/i16.
 */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cask.h"

#define OK(expr) do { int rc_ = (expr); if (rc_ != 0) fail_msg("%s -> %d: %s", #expr, rc_, cask_ctx_message(ctx)); } while (0)

static char g_dir[256];
static char g_ref[3 * PATH_MAX];

static cask_ctx_t *new_ctx(size_t budget, int threads)
{
	cask_ctx_t *ctx;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	assert_int_equal(cask_ctx_set_memory(ctx, budget), 0);
	assert_int_equal(cask_ctx_set_threads(ctx, threads), 0);
	return ctx;
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[4 * PATH_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return st == -1 ? -1 : WEXITSTATUS(st);
}

static void *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *b = malloc(len > 0 ? (size_t)len : 1);
	if (b != NULL && fread(b, 1, (size_t)len, f) != (size_t)len) {
		free(b);
		b = NULL;
	}
	fclose(f);
	*n = (size_t)len;
	return b;
}

/* Locate tests/ref from __FILE__ (relative to the build root). */
static int find_ref(void)
{
	const char *env = getenv("CASK_TEST_REF_DIR");
	if (env != NULL) {
		snprintf(g_ref, sizeof g_ref, "%s", env);
	} else {
		char src[PATH_MAX];
		snprintf(src, sizeof src, "%s", __FILE__);
		char *slash = strrchr(src, '/');
		if (slash == NULL)
			snprintf(src, sizeof src, ".");
		else
			*slash = '\0';
		if (src[0] == '/') {
			snprintf(g_ref, sizeof g_ref, "%s/ref", src);
		} else {
			char exe[PATH_MAX];
			ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
			if (n <= 0)
				return -1;
			exe[n] = '\0';
			for (int up = 0; up < 2; up++) {
				char *s = strrchr(exe, '/');
				if (s == NULL)
					return -1;
				*s = '\0';
			}
			snprintf(g_ref, sizeof g_ref, "%s/%s/ref", exe, src);
		}
	}
	char probe[sizeof g_ref + 32];
	snprintf(probe, sizeof probe, "%s/overlap_ref.py", g_ref);
	return access(probe, R_OK);
}

/* ------------------------------------------------------------ the job table */

typedef struct {
	cask_filter_kind_t kind;
	cask_dtype_t dtype;
	int nd;
	int64_t shape[3], chunks[3];
	cask_mode_t mode;
	double cval;
	int nsig;
	double sigma[3];
	int norder;
	int order[3];
	int nsize;
	int64_t size[3];
	int axis;
	int64_t wshape[3];
	int norigin;
	int64_t origin[3];
	int pipeline; /* 1: hypot(sobel(gaussian), sobel(gaussian)) > 0.1;
	               * 2: gaussian(x - mean(x), mode wrap) */
	int step;     /* compare a strided view [::2, ::-3] (2-d) */
} job_t;

#define MAXJOBS 1400
static job_t g_jobs[MAXJOBS];
static int g_njobs;

static const char *np_dtype(cask_dtype_t t)
{
	return cask_dtype_name(t);
}

static const char *np_mode(cask_mode_t m)
{
	return cask_mode_name(m);
}

static void fmt_list_d(char *b, size_t n, int cnt, const double *v)
{
	size_t o = (size_t)snprintf(b, n, "[");
	for (int i = 0; i < cnt; i++)
		o += (size_t)snprintf(b + o, n - o, "%s%.17g", i ? ", " : "", v[i]);
	snprintf(b + o, n - o, "]");
}

static void fmt_list_i(char *b, size_t n, int cnt, const int64_t *v)
{
	size_t o = (size_t)snprintf(b, n, "[");
	for (int i = 0; i < cnt; i++)
		o += (size_t)snprintf(b + o, n - o, "%s%lld", i ? ", " : "", (long long)v[i]);
	snprintf(b + o, n - o, "]");
}

static int add_job(const job_t *j)
{
	assert_true(g_njobs < MAXJOBS);
	g_jobs[g_njobs] = *j;
	return g_njobs++;
}

static void write_job(FILE *f, int id, const job_t *j)
{
	char shape[128], kw[1024], tmp[256];
	fmt_list_i(shape, sizeof shape, j->nd, j->shape);
	size_t o = 0;
	o += (size_t)snprintf(kw + o, sizeof kw - o, "{");
	if (j->pipeline) {
		fmt_list_d(tmp, sizeof tmp, j->nsig, j->sigma);
		o += (size_t)snprintf(kw + o, sizeof kw - o, "'sigma': %s, 'threshold': 0.1}", tmp);
		fprintf(f, "{'id': %d, 'pipeline': '%s', 'dtype': '%s', 'shape': %s, 'seed': %d, "
		        "'kw': %s}\n", id, j->pipeline == 2 ? "center" : "edges", np_dtype(j->dtype),
		        shape, 1000 + id, kw);
		return;
	}
	o += (size_t)snprintf(kw + o, sizeof kw - o, "'mode': '%s', 'cval': %.17g", np_mode(j->mode),
	                      j->cval);
	if (j->nsig > 0) {
		fmt_list_d(tmp, sizeof tmp, j->nsig, j->sigma);
		if (j->nsig == 1) /* a scalar, as scipy's usual call */
			snprintf(tmp, sizeof tmp, "%.17g", j->sigma[0]);
		o += (size_t)snprintf(kw + o, sizeof kw - o, ", 'sigma': %s", tmp);
	}
	if (j->norder > 0) {
		int64_t ord[3] = {j->order[0], j->order[1], j->order[2]};
		fmt_list_i(tmp, sizeof tmp, j->norder, ord);
		o += (size_t)snprintf(kw + o, sizeof kw - o, ", 'order': %s", tmp);
	}
	if (j->nsize > 0) {
		fmt_list_i(tmp, sizeof tmp, j->nsize, j->size);
		o += (size_t)snprintf(kw + o, sizeof kw - o, ", 'size': %s", tmp);
	}
	if (j->norigin > 0) {
		fmt_list_i(tmp, sizeof tmp, j->norigin, j->origin);
		o += (size_t)snprintf(kw + o, sizeof kw - o, ", 'origin': %s", tmp);
	}
	if (j->kind == CASK_FILTER_SOBEL || j->kind == CASK_FILTER_PREWITT)
		o += (size_t)snprintf(kw + o, sizeof kw - o, ", 'axis': %d", j->axis);
	snprintf(kw + o, sizeof kw - o, "}");
	char extra[300] = "";
	if (j->kind == CASK_FILTER_CORRELATE || j->kind == CASK_FILTER_CONVOLVE) {
		fmt_list_i(tmp, sizeof tmp, j->nd, j->wshape);
		snprintf(extra, sizeof extra, ", 'wshape': %s", tmp);
	}
	fprintf(f, "{'id': %d, 'filter': '%s', 'dtype': '%s', 'shape': %s, 'seed': %d, 'kw': %s%s}\n",
	        id, cask_filter_name(j->kind), np_dtype(j->dtype), shape, 1000 + id, kw, extra);
}

/* The standard parameters of each filter for rank nd. */
static void std_params(job_t *j)
{
	static const double sig[3][3] = {{1.5, 0, 0}, {1.0, 2.0, 0}, {1.0, 0.7, 1.3}};
	static const int64_t sz[3][3] = {{4, 0, 0}, {3, 2, 0}, {2, 3, 2}};
	static const int64_t wsh[3][3] = {{3, 0, 0}, {3, 2, 0}, {2, 3, 2}};
	int nd = j->nd;
	switch (j->kind) {
	case CASK_FILTER_GAUSSIAN:
	case CASK_FILTER_GAUSSIAN_GRADIENT_MAGNITUDE:
	case CASK_FILTER_GAUSSIAN_LAPLACE:
		j->nsig = nd;
		memcpy(j->sigma, sig[nd - 1], sizeof j->sigma);
		break;
	case CASK_FILTER_UNIFORM:
	case CASK_FILTER_MINIMUM:
	case CASK_FILTER_MAXIMUM:
	case CASK_FILTER_MEDIAN:
		j->nsize = nd;
		memcpy(j->size, sz[nd - 1], sizeof j->size);
		if (j->kind == CASK_FILTER_MEDIAN && nd == 1)
			j->size[0] = 5;
		break;
	case CASK_FILTER_SOBEL:
	case CASK_FILTER_PREWITT:
		j->axis = nd > 1 ? 0 : -1;
		break;
	case CASK_FILTER_CORRELATE:
	case CASK_FILTER_CONVOLVE:
		memcpy(j->wshape, wsh[nd - 1], sizeof j->wshape);
		break;
	default:
		break;
	}
}

static void build_jobs(void)
{
	static const int64_t shp[3][3] = {{37, 0, 0}, {23, 17, 0}, {9, 11, 7}};
	static const int64_t chk[3][3] = {{5, 0, 0}, {4, 6, 0}, {4, 3, 5}};
	static const cask_dtype_t dts[5] = {CASK_FLOAT64, CASK_FLOAT32, CASK_UINT8, CASK_UINT16,
	                                    CASK_INT16};
	g_njobs = 0;
	/* every filter x every mode x rank 1..3 x every dtype */
	for (int f = 0; f < CASK_NFILTERS; f++)
		for (int m = CASK_MODE_REFLECT; m < CASK_NMODES; m++)
			for (int nd = 1; nd <= 3; nd++)
				for (int t = 0; t < 5; t++) {
					job_t j = {.kind = (cask_filter_kind_t)f, .dtype = dts[t], .nd = nd,
					           .mode = (cask_mode_t)m, .cval = m == CASK_MODE_CONSTANT ? 1.5 : 0};
					memcpy(j.shape, shp[nd - 1], sizeof j.shape);
					memcpy(j.chunks, chk[nd - 1], sizeof j.chunks);
					std_params(&j);
					add_job(&j);
				}
	/* halos longer than the axis (repeated reflection, wrap over and over) */
	for (int m = CASK_MODE_REFLECT; m < CASK_NMODES; m++)
		for (int t = 0; t < 2; t++) {
			job_t j = {.kind = CASK_FILTER_GAUSSIAN, .dtype = dts[t], .nd = 1,
			           .shape = {5}, .chunks = {2}, .mode = (cask_mode_t)m, .cval = -2.0,
			           .nsig = 1, .sigma = {3.0}};
			add_job(&j);
			job_t u = {.kind = CASK_FILTER_UNIFORM, .dtype = dts[t], .nd = 2,
			           .shape = {3, 2}, .chunks = {2, 1}, .mode = (cask_mode_t)m, .cval = 7,
			           .nsize = 2, .size = {9, 6}};
			add_job(&u);
			job_t md = {.kind = CASK_FILTER_MEDIAN, .dtype = dts[t + 2], .nd = 1,
			            .shape = {4}, .chunks = {3}, .mode = (cask_mode_t)m, .cval = -1,
			            .nsize = 1, .size = {11}};
			add_job(&md);
		}
	/* gaussian derivatives and origins */
	for (int t = 0; t < 5; t++) {
		job_t j = {.kind = CASK_FILTER_GAUSSIAN, .dtype = dts[t], .nd = 2, .shape = {19, 21},
		           .chunks = {5, 4}, .mode = CASK_MODE_MIRROR, .nsig = 2, .sigma = {1.2, 0.8},
		           .norder = 2, .order = {1, 2}};
		add_job(&j);
		job_t u = {.kind = CASK_FILTER_UNIFORM, .dtype = dts[t], .nd = 2, .shape = {13, 10},
		           .chunks = {3, 4}, .mode = CASK_MODE_NEAREST, .nsize = 2, .size = {4, 5},
		           .norigin = 2, .origin = {-2, 1}};
		add_job(&u);
		job_t c = {.kind = CASK_FILTER_CONVOLVE, .dtype = dts[t], .nd = 2, .shape = {13, 10},
		           .chunks = {3, 4}, .mode = CASK_MODE_WRAP, .wshape = {4, 3}, .norigin = 2,
		           .origin = {1, -1}};
		add_job(&c);
	}
	/* sobel / prewitt along every axis of a 3-d volume */
	for (int ax = -3; ax < 3; ax++) {
		job_t j = {.kind = ax % 2 ? CASK_FILTER_SOBEL : CASK_FILTER_PREWITT,
		           .dtype = CASK_FLOAT32, .nd = 3, .shape = {6, 7, 8}, .chunks = {4, 4, 4},
		           .mode = CASK_MODE_REFLECT, .axis = ax};
		add_job(&j);
	}
	/* fused pipeline, also with one chunk = whole array and odd chunks */
	job_t p = {.pipeline = 1, .dtype = CASK_FLOAT64, .nd = 2, .shape = {61, 47},
	           .chunks = {16, 10}, .nsig = 1, .sigma = {2.0}};
	add_job(&p);
	p.dtype = CASK_FLOAT32;
	p.chunks[0] = 7;
	p.chunks[1] = 5;
	add_job(&p);
	/* a reduction inside the filtered expression */
	job_t c = {.pipeline = 2, .dtype = CASK_FLOAT64, .nd = 2, .shape = {26, 19},
	           .chunks = {5, 8}, .nsig = 1, .sigma = {1.5}};
	add_job(&c);
	/* a strided view of a filter result */
	job_t s = {.kind = CASK_FILTER_GAUSSIAN, .dtype = CASK_FLOAT64, .nd = 2, .shape = {29, 31},
	           .chunks = {6, 7}, .mode = CASK_MODE_REFLECT, .nsig = 1, .sigma = {1.7},
	           .step = 1};
	add_job(&s);
}

static int group_setup(void **state)
{
	(void)state;
	if (find_ref() != 0) {
		fprintf(stderr, "test_overlap: cannot find tests/ref (set CASK_TEST_REF_DIR)\n");
		return -1;
	}
	snprintf(g_dir, sizeof g_dir, "/tmp/cask-test-overlap-XXXXXX");
	if (mkdtemp(g_dir) == NULL)
		return -1;
	build_jobs();
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/jobs.txt", g_dir);
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	for (int i = 0; i < g_njobs; i++)
		write_job(f, i, &g_jobs[i]);
	fclose(f);
	if (run("/usr/bin/python3 '%s/overlap_ref.py' '%s' '%s'", g_ref, path, g_dir) != 0) {
		fprintf(stderr, "test_overlap: overlap_ref.py failed\n");
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (getenv("CASK_TEST_KEEP") == NULL && g_dir[0] != '\0')
		run("rm -rf '%s'", g_dir);
	return 0;
}

/* ------------------------------------------------------------ comparison */

static double as_double(cask_dtype_t t, const void *p, int64_t i)
{
	switch (t) {
	case CASK_BOOL: return ((const uint8_t *)p)[i];
	case CASK_INT8: return ((const int8_t *)p)[i];
	case CASK_INT16: return ((const int16_t *)p)[i];
	case CASK_INT32: return ((const int32_t *)p)[i];
	case CASK_INT64: return (double)((const int64_t *)p)[i];
	case CASK_UINT8: return ((const uint8_t *)p)[i];
	case CASK_UINT16: return ((const uint16_t *)p)[i];
	case CASK_UINT32: return ((const uint32_t *)p)[i];
	case CASK_UINT64: return (double)((const uint64_t *)p)[i];
	case CASK_FLOAT32: return ((const float *)p)[i];
	default: return ((const double *)p)[i];
	}
}

/* 0 if got matches ref within the dtype's bound; else describes the worst
 * element in msg. */
static int compare(cask_dtype_t t, int64_t n, const void *got, const void *ref, char *msg,
                   size_t msz)
{
	double amax = 0, emax = 0;
	int64_t worst = -1;
	for (int64_t i = 0; i < n; i++) {
		double r = as_double(t, ref, i), g = as_double(t, got, i);
		if (fabs(r) > amax)
			amax = fabs(r);
		double err = fabs(g - r);
		if (isnan(r) != isnan(g))
			err = INFINITY;
		if (err > emax || (worst < 0 && err > 0)) {
			emax = err;
			worst = i;
		}
	}
	double tol = t == CASK_FLOAT64 ? 1e-12 * amax : t == CASK_FLOAT32 ? 1e-5 * amax : 0;
	if (emax <= tol)
		return 0;
	snprintf(msg, msz, "max err %.3g > tol %.3g at flat %lld (got %.17g, ref %.17g)", emax, tol,
	         (long long)worst, as_double(t, got, worst), as_double(t, ref, worst));
	return -1;
}

static void fill_spec(const job_t *j, cask_filter_t *s, const double *w)
{
	cask_filter_init(s, j->kind);
	s->nmode = 1;
	s->mode[0] = j->mode;
	s->cval = j->cval;
	s->nsigma = j->nsig;
	memcpy(s->sigma, j->sigma, sizeof j->sigma);
	s->norder = j->norder;
	for (int k = 0; k < 3; k++)
		s->order[k] = j->order[k];
	if (j->nsize > 0) {
		s->nsize = j->nsize;
		memcpy(s->size, j->size, sizeof j->size);
	}
	s->norigin = j->norigin;
	memcpy(s->origin, j->origin, sizeof j->origin);
	s->axis = j->axis;
	if (w != NULL) {
		s->weights = w;
		s->wndim = j->nd;
		memcpy(s->wshape, j->wshape, sizeof j->wshape);
	}
}

static cask_array_t *filt(cask_ctx_t *ctx, cask_filter_kind_t kind, cask_array_t *x,
                          double sigma, int axis)
{
	cask_filter_t s;
	cask_filter_init(&s, kind);
	if (sigma > 0) {
		s.nsigma = 1;
		s.sigma[0] = sigma;
	}
	s.axis = axis;
	cask_array_t *r;
	OK(cask_filter(ctx, &s, x, &r));
	return r;
}

/* Run job i; 0 if it matches, else -1 with a message. */
static int run_job(cask_ctx_t *ctx, int id, char *msg, size_t msz)
{
	const job_t *j = &g_jobs[id];
	char path[PATH_MAX];
	size_t nin, nref, nw = 0;
	snprintf(path, sizeof path, "%s/%d.in", g_dir, id);
	void *in = slurp(path, &nin);
	snprintf(path, sizeof path, "%s/%d.ref", g_dir, id);
	void *ref = slurp(path, &nref);
	double *w = NULL;
	if (j->kind == CASK_FILTER_CORRELATE || j->kind == CASK_FILTER_CONVOLVE) {
		snprintf(path, sizeof path, "%s/%d.w", g_dir, id);
		w = slurp(path, &nw);
	}
	assert_non_null(in);
	assert_non_null(ref);
	int64_t n = 1;
	for (int k = 0; k < j->nd; k++)
		n *= j->shape[k];
	cask_array_t *x, *y = NULL;
	OK(cask_array_from_buffer(ctx, j->dtype, j->nd, j->shape, j->chunks, in, &x));
	cask_dtype_t rt = j->dtype;
	if (j->pipeline == 2) {
		cask_array_t *mu, *d;
		OK(cask_reduce(ctx, CASK_MEAN, x, 0, NULL, 0, 0, &mu));
		OK(cask_binary(ctx, CASK_SUB, x, mu, &d));
		cask_filter_t s;
		cask_filter_init(&s, CASK_FILTER_GAUSSIAN);
		s.nsigma = 1;
		s.sigma[0] = j->sigma[0];
		s.mode[0] = CASK_MODE_WRAP;
		OK(cask_filter(ctx, &s, d, &y));
		cask_array_destroy(mu);
		cask_array_destroy(d);
	} else if (j->pipeline) {
		cask_array_t *g = filt(ctx, CASK_FILTER_GAUSSIAN, x, j->sigma[0], 0);
		cask_array_t *s0 = filt(ctx, CASK_FILTER_SOBEL, g, 0, 0);
		cask_array_t *s1 = filt(ctx, CASK_FILTER_SOBEL, g, 0, 1);
		cask_array_t *h, *t;
		OK(cask_binary(ctx, CASK_HYPOT, s0, s1, &h));
		cask_scalar_t v = {.dtype = CASK_FLOAT64, .v.f = 0.1};
		OK(cask_array_scalar(ctx, v, 1, &t));
		OK(cask_binary(ctx, CASK_GT, h, t, &y));
		cask_array_destroy(g);
		cask_array_destroy(s0);
		cask_array_destroy(s1);
		cask_array_destroy(h);
		cask_array_destroy(t);
		rt = CASK_BOOL;
	} else {
		cask_filter_t s;
		fill_spec(j, &s, w);
		OK(cask_filter(ctx, &s, x, &y));
	}
	assert_int_equal(cask_array_dtype(y), rt);
	size_t es = cask_dtype_size(rt);
	int rc;
	if (j->step) {
		/* y[::2, ::-3] against ref[::2, ::-3] */
		cask_index_t ix[2] = {
			{.kind = CASK_INDEX_SLICE, .step = 2},
			{.kind = CASK_INDEX_SLICE, .step = -3},
		};
		cask_array_t *v;
		OK(cask_index(ctx, y, 2, ix, &v));
		int64_t m = cask_array_size(v);
		const int64_t *vs = cask_array_shape(v);
		void *got = malloc((size_t)m * es), *exp = malloc((size_t)m * es);
		OK(cask_compute(ctx, v, got, (size_t)m * es));
		int64_t q = 0;
		for (int64_t a = 0; a < vs[0]; a++)
			for (int64_t b = 0; b < vs[1]; b++)
				memcpy((char *)exp + q++ * (int64_t)es,
				       (char *)ref + ((a * 2) * j->shape[1] + (j->shape[1] - 1 - 3 * b)) * (int64_t)es, es);
		rc = compare(rt, m, got, exp, msg, msz);
		free(got);
		free(exp);
		cask_array_destroy(v);
	} else {
		assert_int_equal(nref, (size_t)n * es);
		void *got = malloc((size_t)n * es + 1);
		OK(cask_compute(ctx, y, got, (size_t)n * es));
		rc = compare(rt, n, got, ref, msg, msz);
		free(got);
	}
	cask_array_destroy(y);
	cask_array_destroy(x);
	free(in);
	free(ref);
	free(w);
	return rc;
}

static void describe(const job_t *j, char *b, size_t n)
{
	char shp[64], ch[64];
	fmt_list_i(shp, sizeof shp, j->nd, j->shape);
	fmt_list_i(ch, sizeof ch, j->nd, j->chunks);
	snprintf(b, n, "%s %s %s shape %s chunks %s", j->pipeline ? "pipeline" : cask_filter_name(j->kind),
	         cask_dtype_name(j->dtype), cask_mode_name(j->mode), shp, ch);
}

static void run_jobs(int threads, int lo, int hi)
{
	cask_ctx_t *ctx = new_ctx(256 << 20, threads);
	int bad = 0;
	for (int i = lo; i < hi; i++) {
		char msg[512], d[256];
		if (run_job(ctx, i, msg, sizeof msg) != 0) {
			describe(&g_jobs[i], d, sizeof d);
			fprintf(stderr, "job %d (%s): %s\n", i, d, msg);
			bad++;
		}
	}
	cask_ctx_destroy(ctx);
	if (bad)
		fail_msg("%d of %d filter jobs differ from scipy", bad, hi - lo);
}

/* Every filter x mode x rank x dtype, and the special cases, against scipy. */
static void test_overlap_filters_match_scipy(void **state)
{
	(void)state;
	run_jobs(2, 0, g_njobs);
}

/* The same on one thread (a different task order must not matter). */
static void test_overlap_filters_one_thread(void **state)
{
	(void)state;
	run_jobs(1, g_njobs - 20, g_njobs);
}

/* Chunking never changes the result: one chunk vs tiny chunks, bitwise. */
static void test_overlap_chunking_invariance(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx(64 << 20, 2);
	enum { R = 40, C = 33 };
	static float x[R * C], a[R * C], b[R * C];
	for (int i = 0; i < R * C; i++)
		x[i] = (float)((i * 7919) % 1013) - 500.0f;
	int64_t shape[2] = {R, C}, big[2] = {R, C}, tiny[2] = {3, 2};
	cask_filter_kind_t kinds[] = {CASK_FILTER_GAUSSIAN, CASK_FILTER_MEDIAN,
	                              CASK_FILTER_GAUSSIAN_LAPLACE, CASK_FILTER_MAXIMUM};
	for (size_t q = 0; q < sizeof kinds / sizeof kinds[0]; q++) {
		cask_array_t *x1, *x2, *y1, *y2;
		OK(cask_array_from_buffer(ctx, CASK_FLOAT32, 2, shape, big, x, &x1));
		OK(cask_array_from_buffer(ctx, CASK_FLOAT32, 2, shape, tiny, x, &x2));
		cask_filter_t s;
		cask_filter_init(&s, kinds[q]);
		s.nsigma = 1;
		s.sigma[0] = 2.5;
		s.nsize = 1;
		s.size[0] = 5;
		if (kinds[q] == CASK_FILTER_GAUSSIAN || kinds[q] == CASK_FILTER_GAUSSIAN_LAPLACE)
			s.nsize = 0;
		else
			s.nsigma = 0;
		s.mode[0] = CASK_MODE_WRAP;
		OK(cask_filter(ctx, &s, x1, &y1));
		OK(cask_filter(ctx, &s, x2, &y2));
		OK(cask_compute(ctx, y1, a, sizeof a));
		OK(cask_compute(ctx, y2, b, sizeof b));
		assert_memory_equal(a, b, sizeof a);
		cask_array_destroy(x1);
		cask_array_destroy(x2);
		cask_array_destroy(y1);
		cask_array_destroy(y2);
	}
	cask_ctx_destroy(ctx);
}

/* HDF5 in (plain and gzip, made by h5py), HDF5 out, compared with scipy on
 * the file's data; a small budget that the run must respect. */
static void test_overlap_hdf5_store_and_budget(void **state)
{
	(void)state;
	char in[PATH_MAX], out[PATH_MAX], chk[PATH_MAX];
	snprintf(in, sizeof in, "%s/img.h5", g_dir);
	snprintf(out, sizeof out, "%s/out.h5", g_dir);
	snprintf(chk, sizeof chk, "%s/check.py", g_dir);
	assert_int_equal(run("/usr/bin/python3 -c \"import h5py, numpy as np; "
	                     "r = np.random.default_rng(5); x = (r.random((300, 260)) * 1000).astype('f4'); "
	                     "f = h5py.File('%s', 'w'); f.create_dataset('x', data=x, chunks=(64, 50)); "
	                     "f.create_dataset('z', data=x, chunks=(64, 50), compression='gzip'); f.close()\"", in), 0);
	FILE *f = fopen(chk, "w");
	assert_non_null(f);
	fprintf(f, "import h5py, numpy as np, scipy.ndimage as ndi, sys\n"
	           "x = h5py.File('%s', 'r')['x'][...]\n"
	           "o = h5py.File('%s', 'r')\n"
	           "g = ndi.gaussian_filter(x, 3)\n"
	           "r = {'g': g, 'm': ndi.median_filter(x, size=3, mode='wrap'),\n"
	           "     'e': np.hypot(ndi.sobel(g, 0), ndi.sobel(g, 1))}\n"
	           "for k, v in r.items():\n"
	           "    y = o[k][...]\n"
	           "    assert y.dtype == v.dtype, (k, y.dtype)\n"
	           "    e = np.abs(y.astype('f8') - v).max()\n"
	           "    assert e <= 1e-5 * np.abs(v).max(), (k, e)\n"
	           "assert o['g'].chunks == (64, 50) and o['m'].chunks == (100, 100)\n",
	        in, out);
	fclose(f);
	/* 1 MiB budget: each 64x50 task needs ~100 KiB (padded double block,
	 * window, output, kernel scratch) */
	cask_ctx_t *ctx = new_ctx(1 << 20, 2);
	cask_array_t *x, *z, *g, *m, *s0, *s1, *e;
	OK(cask_array_open(ctx, in, "/x", NULL, &x));
	OK(cask_array_open(ctx, in, "/z", NULL, &z));
	g = filt(ctx, CASK_FILTER_GAUSSIAN, x, 3.0, 0);
	cask_filter_t s;
	cask_filter_init(&s, CASK_FILTER_MEDIAN);
	s.nsize = 1;
	s.size[0] = 3;
	s.mode[0] = CASK_MODE_WRAP;
	OK(cask_filter(ctx, &s, z, &m));
	cask_array_t *gz = filt(ctx, CASK_FILTER_GAUSSIAN, z, 3.0, 0);
	s0 = filt(ctx, CASK_FILTER_SOBEL, gz, 0, 0);
	s1 = filt(ctx, CASK_FILTER_SOBEL, gz, 0, 1);
	OK(cask_binary(ctx, CASK_HYPOT, s0, s1, &e));
	cask_array_t *arrs[3] = {g, m, e};
	cask_store_t o[3];
	cask_store_init(&o[0], out, "/g");
	cask_store_init(&o[1], out, "/m");
	cask_store_init(&o[2], out, "/e");
	int64_t mch[2] = {100, 100};
	o[1].chunks = mch;
	cask_ctx_reset_stats(ctx);
	OK(cask_store(ctx, 3, arrs, o));
	cask_stats_t st;
	cask_ctx_stats(ctx, &st);
	assert_true(st.peak_memory > 0);
	assert_true(st.peak_memory <= st.budget);
	assert_int_equal(run("/usr/bin/python3 '%s'", chk), 0);
	/* a budget below one task's working set is refused up front */
	OK(cask_ctx_set_memory(ctx, 64 << 10));
	o[0].overwrite = o[1].overwrite = o[2].overwrite = 1;
	int rc = cask_store(ctx, 3, arrs, o);
	assert_int_equal(rc, CASK_EBUDGET);
	cask_array_destroy(x);
	cask_array_destroy(z);
	cask_array_destroy(g);
	cask_array_destroy(gz);
	cask_array_destroy(m);
	cask_array_destroy(s0);
	cask_array_destroy(s1);
	cask_array_destroy(e);
	cask_ctx_destroy(ctx);
}

/* Bad parameters are refused with messages; rank 0 is the identity. */
static void test_overlap_filter_errors(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx(16 << 20, 1);
	int64_t shape[2] = {4, 5};
	double d[20] = {0};
	uint8_t bb[20] = {0};
	cask_array_t *x, *b, *y;
	OK(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, shape, NULL, d, &x));
	OK(cask_array_from_buffer(ctx, CASK_BOOL, 2, shape, NULL, bb, &b));
	cask_filter_t s;
	cask_filter_init(&s, CASK_FILTER_GAUSSIAN);
	assert_int_equal(cask_filter(ctx, &s, x, &y), CASK_EINVAL); /* no sigma */
	assert_non_null(strstr(cask_ctx_message(ctx), "sigma"));
	s.nsigma = 3;
	assert_int_equal(cask_filter(ctx, &s, x, &y), CASK_EINVAL); /* 3 sigmas for rank 2 */
	s.nsigma = 1;
	s.sigma[0] = -1;
	assert_int_equal(cask_filter(ctx, &s, x, &y), CASK_EINVAL);
	s.sigma[0] = 1;
	s.mode[0] = CASK_MODE_NONE;
	assert_int_equal(cask_filter(ctx, &s, x, &y), CASK_EINVAL);
	assert_non_null(strstr(cask_ctx_message(ctx), "none"));
	s.mode[0] = CASK_MODE_REFLECT;
	s.norder = 1;
	s.order[0] = 3;
	assert_int_equal(cask_filter(ctx, &s, x, &y), CASK_EINVAL);
	s.norder = 0;
	OK(cask_filter(ctx, &s, b, &y)); /* bool in, bool out, as scipy */
	assert_int_equal(cask_array_dtype(y), CASK_BOOL);
	cask_array_destroy(y);
	s.kind = CASK_FILTER_GAUSSIAN_LAPLACE; /* terms combined in bool logic */
	assert_int_equal(cask_filter(ctx, &s, b, &y), CASK_ETYPE);
	s.kind = CASK_FILTER_GAUSSIAN;
	cask_filter_init(&s, CASK_FILTER_MEDIAN);
	assert_int_equal(cask_filter(ctx, &s, x, &y), CASK_EINVAL); /* no size */
	s.nsize = 1;
	s.size[0] = 0;
	assert_int_equal(cask_filter(ctx, &s, x, &y), CASK_EINVAL);
	cask_filter_init(&s, CASK_FILTER_SOBEL);
	s.axis = 2;
	assert_int_equal(cask_filter(ctx, &s, x, &y), CASK_EINVAL);
	s.axis = -2;
	OK(cask_filter(ctx, &s, x, &y));
	cask_array_destroy(y);
	cask_filter_init(&s, CASK_FILTER_CORRELATE);
	assert_int_equal(cask_filter(ctx, &s, x, &y), CASK_EINVAL); /* no weights */
	/* names */
	cask_filter_kind_t k;
	cask_mode_t m;
	assert_int_equal(cask_filter_parse("gaussian", &k), 0);
	assert_int_equal(k, CASK_FILTER_GAUSSIAN);
	assert_int_equal(cask_filter_parse("gaussian_gradient_magnitude", &k), 0);
	assert_int_equal(k, CASK_FILTER_GAUSSIAN_GRADIENT_MAGNITUDE);
	assert_int_equal(cask_filter_parse("blur", &k), CASK_EINVAL);
	assert_int_equal(cask_mode_parse("grid-wrap", &m), 0);
	assert_int_equal(m, CASK_MODE_WRAP);
	assert_int_equal(cask_mode_parse("symmetric", &m), CASK_EINVAL);
	assert_string_equal(cask_mode_name(CASK_MODE_MIRROR), "mirror");
	/* rank 0: scipy copies the input */
	cask_scalar_t v = {.dtype = CASK_FLOAT64, .v.f = 3.5};
	cask_array_t *z;
	OK(cask_array_scalar(ctx, v, 0, &z));
	cask_filter_init(&s, CASK_FILTER_GAUSSIAN);
	s.nsigma = 1;
	s.sigma[0] = 2;
	OK(cask_filter(ctx, &s, z, &y));
	double r = 0;
	OK(cask_compute(ctx, y, &r, sizeof r));
	assert_true(r == 3.5);
	cask_array_destroy(y);
	/* zero-length axis: an empty result */
	int64_t zs[2] = {0, 5};
	cask_array_t *e;
	OK(cask_array_from_buffer(ctx, CASK_FLOAT32, 2, zs, NULL, d, &e));
	OK(cask_filter(ctx, &s, e, &y));
	assert_int_equal(cask_array_size(y), 0);
	OK(cask_compute(ctx, y, d, 0));
	cask_array_destroy(y);
	cask_array_destroy(e);
	cask_array_destroy(z);
	cask_array_destroy(x);
	cask_array_destroy(b);
	cask_ctx_destroy(ctx);
}

/* ------------------------------------------------------------ user callbacks */

/* Independent index rules (numpy.pad's symmetric / wrap / edge). */
static int64_t ref_index(cask_mode_t m, int64_t n, int64_t i)
{
	if (i >= 0 && i < n)
		return i;
	switch (m) {
	case CASK_MODE_WRAP:
		return ((i % n) + n) % n;
	case CASK_MODE_NEAREST:
		return i < 0 ? 0 : n - 1;
	case CASK_MODE_REFLECT: {
		int64_t p = 2 * n, r = ((i % p) + p) % p;
		return r < n ? r : p - 1 - r;
	}
	case CASK_MODE_MIRROR: {
		if (n == 1)
			return 0;
		int64_t p = 2 * n - 2, r = ((i % p) + p) % p;
		return r < n ? r : p - r;
	}
	default:
		return -1;
	}
}

typedef struct {
	int64_t d; /* window radius */
	double cval;
	int trimmed;
	int calls;
} box_user_t;

/* Sum of the (2d+1)^2 window (int32 in, int64 out), computed on every cell
 * of the padded input that has a whole window; trim mode writes the padded
 * output, otherwise only the block. */
static int box_sum(const cask_block_t *b)
{
	box_user_t *u = b->user;
	__atomic_add_fetch(&u->calls, 1, __ATOMIC_RELAXED);
	if (b->ndim != 2 || b->nin != 1 || b->in_dtype[0] != CASK_INT32 || b->out_dtype != CASK_INT64)
		return 5;
	const int32_t *x = b->in[0];
	int64_t *y = b->out;
	int64_t d = u->d;
	for (int64_t i = 0; i < b->out_shape[0]; i++)
		for (int64_t j = 0; j < b->out_shape[1]; j++) {
			/* this output cell's position in the input block */
			int64_t pi = i + b->out_start[0] - b->in_start[0];
			int64_t pj = j + b->out_start[1] - b->in_start[1];
			int64_t s = 0;
			for (int64_t a = -d; a <= d; a++)
				for (int64_t c = -d; c <= d; c++) {
					int64_t qi = pi + a, qj = pj + c;
					if (qi < 0 || qj < 0 || qi >= b->in_shape[0] || qj >= b->in_shape[1])
						continue; /* padded-output rim: trimmed away */
					s += x[qi * b->in_strides[0] + qj * b->in_strides[1]];
				}
			y[i * b->out_strides[0] + j * b->out_strides[1]] = s;
		}
	return 0;
}

static void check_box(cask_ctx_t *ctx, int64_t R, int64_t C, const int64_t *ch, int64_t d,
                      cask_mode_t mode, int trim, const int64_t *store_chunks)
{
	int32_t *x = malloc(sizeof(int32_t) * (size_t)(R * C));
	int64_t *y = malloc(sizeof(int64_t) * (size_t)(R * C));
	for (int64_t i = 0; i < R * C; i++)
		x[i] = (int32_t)((i * 2654435761u) % 2001) - 1000;
	int64_t shape[2] = {R, C};
	cask_array_t *a, *r;
	OK(cask_array_from_buffer(ctx, CASK_INT32, 2, shape, NULL, x, &a));
	box_user_t u = {.d = d, .cval = -3, .trimmed = trim};
	int64_t depth[2] = {d, d};
	cask_mode_t modes[2] = {mode, mode};
	OK(cask_map_overlap(ctx, 1, &a, box_sum, &u, CASK_INT64, ch, depth, modes, -3.0, trim, &r));
	const int64_t *rc = cask_array_chunks(r);
	assert_int_equal(rc[0], ch[0] < R ? ch[0] : R);
	if (store_chunks != NULL) {
		cask_array_t *v;
		OK(cask_rechunk(ctx, r, store_chunks, &v));
		cask_array_destroy(r);
		r = v;
	}
	OK(cask_compute(ctx, r, y, sizeof(int64_t) * (size_t)(R * C)));
	for (int64_t i = 0; i < R; i++)
		for (int64_t j = 0; j < C; j++) {
			int64_t s = 0;
			for (int64_t a2 = -d; a2 <= d; a2++)
				for (int64_t c = -d; c <= d; c++) {
					int64_t qi = i + a2, qj = j + c;
					if (mode == CASK_MODE_NONE) {
						if (qi < 0 || qj < 0 || qi >= R || qj >= C)
							continue;
						s += x[qi * C + qj];
					} else if (mode == CASK_MODE_CONSTANT &&
					           (qi < 0 || qj < 0 || qi >= R || qj >= C)) {
						s += -3;
					} else {
						s += x[ref_index(mode, R, qi) * C + ref_index(mode, C, qj)];
					}
				}
			if (y[i * C + j] != s)
				fail_msg("mode %s trim %d d %lld: y[%lld, %lld] = %lld, expected %lld",
				         cask_mode_name(mode), trim, (long long)d, (long long)i, (long long)j,
				         (long long)y[i * C + j], (long long)s);
		}
	assert_true(u.calls > 0);
	cask_array_destroy(a);
	cask_array_destroy(r);
	free(x);
	free(y);
}

/* map_overlap with a user window sum equals the direct sum with the mode's
 * padding, for every mode, trim on and off, chunks smaller than the depth. */
static void test_overlap_map_overlap_window_sum(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx(32 << 20, 2);
	int64_t ch[2] = {6, 5}, small[2] = {2, 3}, st[2] = {7, 4};
	for (int m = CASK_MODE_NONE; m < CASK_NMODES; m++) {
		check_box(ctx, 23, 19, ch, 1, (cask_mode_t)m, 1, NULL);
		check_box(ctx, 23, 19, ch, 2, (cask_mode_t)m, 0, NULL);
		check_box(ctx, 11, 9, small, 4, (cask_mode_t)m, 1, NULL); /* depth > chunk */
		check_box(ctx, 3, 4, small, 5, (cask_mode_t)m, 1, NULL);  /* depth > axis */
		check_box(ctx, 23, 19, ch, 1, (cask_mode_t)m, 1, st);     /* other region grid */
	}
	cask_ctx_destroy(ctx);
}

typedef struct {
	int64_t chunks[2];
	int bad;
} grid_user_t;

/* Writes block_index into every cell and checks the block geometry. */
static int grid_fn(const cask_block_t *b)
{
	grid_user_t *u = b->user;
	for (int k = 0; k < 2; k++) {
		if (b->block_start[k] != b->block_index[k] * u->chunks[k] ||
		    b->block_shape[k] != b->out_shape[k] || b->in_shape[k] != b->block_shape[k] ||
		    b->in_start[k] != b->block_start[k])
			__atomic_store_n(&u->bad, 1, __ATOMIC_RELAXED);
	}
	const float *x = b->in[0];
	const uint8_t *m = b->in[1];
	double *y = b->out;
	for (int64_t i = 0; i < b->out_shape[0]; i++)
		for (int64_t j = 0; j < b->out_shape[1]; j++)
			y[i * b->out_strides[0] + j] = 1000.0 * (double)b->block_index[0] +
			                               (double)b->block_index[1] +
			                               (m[i * b->in_strides[0] + j] ? x[i * b->in_strides[0] + j] : 0);
	return 0;
}

/* map_blocks: two inputs of different dtypes, the caller's output grid, and
 * the blocks stay the caller's even when stored with other chunks. */
static void test_overlap_map_blocks_grid(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx(32 << 20, 2);
	enum { R = 17, C = 13 };
	float x[R * C];
	uint8_t m[R * C];
	double y[R * C];
	for (int i = 0; i < R * C; i++) {
		x[i] = 0.25f * (float)i;
		m[i] = (uint8_t)(i % 3 != 0);
	}
	int64_t shape[2] = {R, C}, xc[2] = {4, 4};
	cask_array_t *a, *b, *r;
	OK(cask_array_from_buffer(ctx, CASK_FLOAT32, 2, shape, xc, x, &a));
	OK(cask_array_from_buffer(ctx, CASK_UINT8, 2, shape, NULL, m, &b));
	grid_user_t u = {.chunks = {5, 6}};
	cask_array_t *in[2] = {a, b};
	OK(cask_map_blocks(ctx, 2, in, grid_fn, &u, CASK_FLOAT64, u.chunks, &r));
	assert_int_equal(cask_array_dtype(r), CASK_FLOAT64);
	for (int pass = 0; pass < 2; pass++) {
		cask_array_t *v = r;
		if (pass == 1) {
			int64_t other[2] = {3, 7};
			OK(cask_rechunk(ctx, r, other, &v));
		}
		OK(cask_compute(ctx, v, y, sizeof y));
		for (int i = 0; i < R; i++)
			for (int j = 0; j < C; j++) {
				double e = 1000.0 * (i / 5) + (j / 6) + (m[i * C + j] ? x[i * C + j] : 0);
				assert_true(y[i * C + j] == e);
			}
		if (v != r)
			cask_array_destroy(v);
	}
	assert_int_equal(u.bad, 0);
	/* inputs of different shapes are refused */
	int64_t s2[2] = {R, C - 1};
	cask_array_t *c, *bad;
	OK(cask_array_from_buffer(ctx, CASK_FLOAT32, 2, s2, NULL, x, &c));
	in[1] = c;
	assert_int_equal(cask_map_blocks(ctx, 2, in, grid_fn, &u, CASK_FLOAT64, NULL, &bad), CASK_ESHAPE);
	cask_array_destroy(a);
	cask_array_destroy(b);
	cask_array_destroy(c);
	cask_array_destroy(r);
	cask_ctx_destroy(ctx);
}

static int fail_on_block(const cask_block_t *b)
{
	if (b->block_index[0] == 2 && b->block_index[1] == 1)
		return 42;
	memset(b->out, 0, (size_t)(b->out_shape[0] * b->out_shape[1]) * sizeof(double));
	return 0;
}

/* A callback error stops the run with CASK_EUSER naming the block; a
 * store leaves no output behind. */
static void test_overlap_callback_error(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx(32 << 20, 2);
	int64_t shape[2] = {20, 20}, ch[2] = {5, 5};
	double x[400] = {0}, y[400];
	cask_array_t *a, *r;
	OK(cask_array_from_buffer(ctx, CASK_FLOAT64, 2, shape, ch, x, &a));
	int64_t depth[2] = {1, 1};
	OK(cask_map_overlap(ctx, 1, &a, fail_on_block, NULL, CASK_FLOAT64, NULL, depth, NULL, 0, 1, &r));
	assert_int_equal(cask_compute(ctx, r, y, sizeof y), CASK_EUSER);
	const char *msg = cask_ctx_message(ctx);
	assert_non_null(strstr(msg, "returned 42"));
	assert_non_null(strstr(msg, "(2, 1)"));
	assert_non_null(strstr(msg, "10:15, 5:10"));
	char out[PATH_MAX];
	snprintf(out, sizeof out, "%s/fail.h5", g_dir);
	cask_store_t o;
	cask_store_init(&o, out, "/y");
	assert_int_equal(cask_store(ctx, 1, &r, &o), CASK_EUSER);
	assert_int_equal(access(out, F_OK), -1);
	cask_array_destroy(a);
	cask_array_destroy(r);
	cask_ctx_destroy(ctx);
}

typedef struct {
	int64_t ch;
	int bad;
} rgb_user_t;

/* 3x3 mean over the two spatial axes of a (rows, cols, 3) uint16 image,
 * rounding down; checks that the channel axis arrives whole and unpadded. */
static int rgb_mean(const cask_block_t *b)
{
	rgb_user_t *u = b->user;
	if (b->ndim != 3 || b->in_shape[2] != 3 || b->in_start[2] != 0 ||
	    b->out_shape[0] != b->in_shape[0] || b->block_shape[0] > u->ch)
		__atomic_store_n(&u->bad, 1, __ATOMIC_RELAXED);
	const uint16_t *x = b->in[0];
	uint16_t *y = b->out;
	const int64_t *s = b->in_strides;
	for (int64_t i = 1; i + 1 < b->in_shape[0]; i++)
		for (int64_t j = 1; j + 1 < b->in_shape[1]; j++)
			for (int64_t c = 0; c < 3; c++) {
				uint32_t t = 0;
				for (int a = -1; a <= 1; a++)
					for (int d = -1; d <= 1; d++)
						t += x[(i + a) * s[0] + (j + d) * s[1] + c];
				y[i * b->out_strides[0] + j * b->out_strides[1] + c] = (uint16_t)(t / 9);
			}
	return 0;
}

/* apply_parallel on an RGB image: channel axis kept whole, reflect halo on
 * the spatial axes, equal to the direct 3x3 mean. */
static void test_overlap_apply_parallel_channels(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx(32 << 20, 2);
	enum { R = 21, C = 18 };
	static uint16_t x[R * C * 3], y[R * C * 3];
	for (int i = 0; i < R * C * 3; i++)
		x[i] = (uint16_t)((i * 40503u) & 0xffff);
	int64_t shape[3] = {R, C, 3}, ch[3] = {8, 5, 1};
	cask_array_t *a, *r;
	OK(cask_array_from_buffer(ctx, CASK_UINT16, 3, shape, NULL, x, &a));
	rgb_user_t u = {.ch = 8};
	OK(cask_apply_parallel(ctx, rgb_mean, a, ch, 1, CASK_MODE_REFLECT, 0, &u, 2, &r));
	assert_int_equal(cask_array_chunks(r)[2], 3);
	OK(cask_compute(ctx, r, y, sizeof y));
	assert_int_equal(u.bad, 0);
	for (int64_t i = 0; i < R; i++)
		for (int64_t j = 0; j < C; j++)
			for (int c = 0; c < 3; c++) {
				uint32_t t = 0;
				for (int p = -1; p <= 1; p++)
					for (int q = -1; q <= 1; q++)
						t += x[(ref_index(CASK_MODE_REFLECT, R, i + p) * C +
						        ref_index(CASK_MODE_REFLECT, C, j + q)) * 3 + c];
				assert_int_equal(y[(i * C + j) * 3 + c], t / 9);
			}
	cask_array_destroy(r);
	assert_int_equal(cask_apply_parallel(ctx, rgb_mean, a, ch, 1, CASK_MODE_REFLECT, 0, &u, 3, &r),
	                 CASK_EINVAL);
	cask_array_destroy(a);
	cask_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overlap_filters_match_scipy),
		cmocka_unit_test(test_overlap_filters_one_thread),
		cmocka_unit_test(test_overlap_chunking_invariance),
		cmocka_unit_test(test_overlap_hdf5_store_and_budget),
		cmocka_unit_test(test_overlap_filter_errors),
		cmocka_unit_test(test_overlap_map_overlap_window_sum),
		cmocka_unit_test(test_overlap_map_blocks_grid),
		cmocka_unit_test(test_overlap_callback_error),
		cmocka_unit_test(test_overlap_apply_parallel_channels),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
