/*
 * test_api.c - argument checks of the public API (include/cask.h): every
 * function called with each required pointer NULL returns CASK_EINVAL with
 * the message "<function>: NULL <argument>" on the context (with ctx NULL:
 * the code alone), and never crashes; the no-return functions do nothing on
 * NULL.  Also the size check of cask_compute's buffer, the axes of
 * cask_reduce, negative chunk extents (cask_array_open, the sources,
 * cask_store) and what cask_reshape supports.  Uses only the public API.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cask.h"

#define IN_FILE "test_api_in.h5"
#define OUT_FILE "test_api_out.h5"

/* rc must be CASK_EINVAL and ctx's message exactly msg (which also shows
 * the message is this call's, not one left by an earlier call). */
#define EXPECT_MSG(ctx, call, msg)                                   \
	do {                                                         \
		int rc_ = (call);                                    \
		assert_int_equal(rc_, CASK_EINVAL);                  \
		assert_string_equal(cask_ctx_message(ctx), (msg));   \
	} while (0)

/* The message only has to start with prefix (it goes on with details). */
#define EXPECT_PREFIX(ctx, call, prefix)                                              \
	do {                                                                          \
		int rc_ = (call);                                                     \
		assert_int_equal(rc_, CASK_EINVAL);                                   \
		const char *m_ = cask_ctx_message(ctx);                               \
		if (strncmp(m_, (prefix), strlen(prefix)) != 0)                       \
			fail_msg("message '%s' does not start with '%s'", m_, (prefix)); \
	} while (0)

typedef struct {
	cask_ctx_t *ctx;
	cask_array_t *a;   /* 4 x 6 float64 from IN_FILE:/x, chunks 2 x 3 */
	cask_array_t *b;   /* 4 x 6 float64 ones */
	cask_array_t *big; /* 1961 float64 (the acceptance tester's 15688 bytes) */
} fix_t;

static int setup(void **state)
{
	fix_t *f = calloc(1, sizeof *f);
	if (f == NULL || cask_ctx_create(&f->ctx) != 0)
		return -1;
	int64_t shape[2] = {4, 6}, chunks[2] = {2, 3}, n = 1961;
	cask_array_t *src = NULL;
	cask_store_t o;
	cask_store_init(&o, IN_FILE, "/x");
	o.overwrite = 1;
	if (cask_array_indices(f->ctx, CASK_FLOAT64, 2, shape, chunks, 0.0, 1.0, &src) != 0 ||
	    cask_store(f->ctx, 1, &src, &o) != 0 ||
	    cask_array_open(f->ctx, IN_FILE, "/x", NULL, &f->a) != 0 ||
	    cask_array_ones(f->ctx, CASK_FLOAT64, 2, shape, NULL, &f->b) != 0 ||
	    cask_array_zeros(f->ctx, CASK_FLOAT64, 1, &n, NULL, &f->big) != 0) {
		fprintf(stderr, "setup: %s\n", cask_ctx_message(f->ctx));
		return -1;
	}
	cask_array_destroy(src);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fix_t *f = *state;
	cask_array_destroy(f->a);
	cask_array_destroy(f->b);
	cask_array_destroy(f->big);
	cask_ctx_destroy(f->ctx);
	free(f);
	remove(IN_FILE);
	remove(OUT_FILE);
	return 0;
}

static int block_copy(const cask_block_t *b)
{
	(void)b;
	return 0;
}

static int nop_task(void *user, int64_t index, const void *const *inputs,
                    const size_t *input_bytes, int ninputs, void *out, size_t out_bytes,
                    cask_task_env_t *env)
{
	(void)user, (void)index, (void)inputs, (void)input_bytes, (void)ninputs, (void)out;
	(void)out_bytes, (void)env;
	return 0;
}

/* Context, dtype, size and mode/filter name functions. */
static void test_api_ctx_null(void **state)
{
	(void)state;
	size_t sz;
	cask_dtype_t dt;
	cask_mode_t m;
	cask_filter_kind_t fk;
	assert_int_equal(cask_ctx_create(NULL), CASK_EINVAL);
	cask_ctx_destroy(NULL);
	assert_string_equal(cask_ctx_message(NULL), "");
	assert_int_equal(cask_ctx_set_memory(NULL, 1 << 20), CASK_EINVAL);
	assert_int_equal(cask_ctx_memory(NULL), 0);
	assert_int_equal(cask_ctx_set_threads(NULL, 2), CASK_EINVAL);
	assert_int_equal(cask_ctx_threads(NULL), CASK_EINVAL);
	assert_int_equal(cask_ctx_set_task_bytes(NULL, 1024), CASK_EINVAL);
	assert_int_equal(cask_ctx_task_bytes(NULL), 0);
	assert_int_equal(cask_ctx_set_io(NULL, 1, 1, 0), CASK_EINVAL);
	cask_ctx_set_allow_external(NULL, 1);
	cask_ctx_set_progress(NULL, NULL, NULL);
	cask_ctx_cancel(NULL);
	cask_stats_t st;
	memset(&st, 0x5a, sizeof st);
	cask_ctx_stats(NULL, &st);
	assert_int_equal(st.tasks_run, 0x5a5a5a5a5a5a5a5a); /* untouched */
	cask_ctx_reset_stats(NULL);
	assert_int_equal(cask_parse_size(NULL, &sz), CASK_EINVAL);
	assert_int_equal(cask_parse_size("64K", NULL), CASK_EINVAL);
	assert_int_equal(cask_dtype_parse(NULL, &dt), CASK_EINVAL);
	assert_int_equal(cask_dtype_parse("f8", NULL), CASK_EINVAL);
	assert_int_equal(cask_mode_parse(NULL, &m), CASK_EINVAL);
	assert_int_equal(cask_mode_parse("wrap", NULL), CASK_EINVAL);
	assert_int_equal(cask_filter_parse(NULL, &fk), CASK_EINVAL);
	assert_int_equal(cask_filter_parse("sobel", NULL), CASK_EINVAL);
	cask_filter_init(NULL, CASK_FILTER_SOBEL);
	cask_store_init(NULL, "f.h5", "/x");

	cask_ctx_t *ctx;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	cask_ctx_stats(ctx, NULL);
	cask_ctx_destroy(ctx);
}

/* Array getters, retain and destroy on NULL. */
static void test_api_array_getters_null(void **state)
{
	(void)state;
	cask_array_destroy(NULL);
	assert_null(cask_array_retain(NULL));
	assert_int_equal(cask_array_ndim(NULL), CASK_EINVAL);
	assert_null(cask_array_shape(NULL));
	assert_null(cask_array_chunks(NULL));
	assert_int_equal(cask_array_dtype(NULL), CASK_NDTYPES);
	assert_int_equal(cask_array_size(NULL), CASK_EINVAL);
}

static void test_api_sources_null(void **state)
{
	fix_t *f = *state;
	cask_ctx_t *ctx = f->ctx;
	cask_array_t *y = NULL;
	int64_t shape[2] = {4, 6};
	double data[24] = {0};
	cask_scalar_t v = {.dtype = CASK_FLOAT64, .v.f = 1.5};

	assert_int_equal(cask_array_open(NULL, IN_FILE, "/x", NULL, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_array_open(ctx, NULL, "/x", NULL, &y), "cask_array_open: NULL path");
	EXPECT_MSG(ctx, cask_array_open(ctx, IN_FILE, NULL, NULL, &y), "cask_array_open: NULL dset");
	EXPECT_MSG(ctx, cask_array_open(ctx, IN_FILE, "/x", NULL, NULL), "cask_array_open: NULL out");

	assert_int_equal(cask_array_full(NULL, CASK_FLOAT64, 2, shape, NULL, v, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_array_full(ctx, CASK_FLOAT64, 2, NULL, NULL, v, &y),
	           "cask_array_full: NULL shape");
	EXPECT_MSG(ctx, cask_array_full(ctx, CASK_FLOAT64, 2, shape, NULL, v, NULL),
	           "cask_array_full: NULL out");
	assert_int_equal(cask_array_zeros(NULL, CASK_FLOAT64, 2, shape, NULL, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_array_zeros(ctx, CASK_FLOAT64, 2, NULL, NULL, &y),
	           "cask_array_zeros: NULL shape");
	EXPECT_MSG(ctx, cask_array_zeros(ctx, CASK_FLOAT64, 2, shape, NULL, NULL),
	           "cask_array_zeros: NULL out");
	assert_int_equal(cask_array_ones(NULL, CASK_FLOAT64, 2, shape, NULL, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_array_ones(ctx, CASK_FLOAT64, 2, NULL, NULL, &y),
	           "cask_array_ones: NULL shape");
	EXPECT_MSG(ctx, cask_array_ones(ctx, CASK_FLOAT64, 2, shape, NULL, NULL),
	           "cask_array_ones: NULL out");
	assert_int_equal(cask_array_arange(NULL, CASK_FLOAT64, 5, 0, 1, NULL, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_array_arange(ctx, CASK_FLOAT64, 5, 0, 1, NULL, NULL),
	           "cask_array_arange: NULL out");
	assert_int_equal(cask_array_indices(NULL, CASK_FLOAT64, 2, shape, NULL, 0, 1, &y),
	                 CASK_EINVAL);
	EXPECT_MSG(ctx, cask_array_indices(ctx, CASK_FLOAT64, 2, NULL, NULL, 0, 1, &y),
	           "cask_array_indices: NULL shape");
	EXPECT_MSG(ctx, cask_array_indices(ctx, CASK_FLOAT64, 2, shape, NULL, 0, 1, NULL),
	           "cask_array_indices: NULL out");
	assert_int_equal(cask_array_random(NULL, CASK_RANDOM_UNIFORM, 1, CASK_FLOAT64, 2, shape,
	                                   NULL, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_array_random(ctx, CASK_RANDOM_UNIFORM, 1, CASK_FLOAT64, 2, NULL, NULL,
	                                  &y), "cask_array_random: NULL shape");
	EXPECT_MSG(ctx, cask_array_random(ctx, CASK_RANDOM_UNIFORM, 1, CASK_FLOAT64, 2, shape, NULL,
	                                  NULL), "cask_array_random: NULL out");
	assert_int_equal(cask_array_from_buffer(NULL, CASK_FLOAT64, 2, shape, NULL, data, &y),
	                 CASK_EINVAL);
	EXPECT_MSG(ctx, cask_array_from_buffer(ctx, CASK_FLOAT64, 2, NULL, NULL, data, &y),
	           "cask_array_from_buffer: NULL shape");
	EXPECT_MSG(ctx, cask_array_from_buffer(ctx, CASK_FLOAT64, 2, shape, NULL, NULL, &y),
	           "cask_array_from_buffer: NULL data");
	EXPECT_MSG(ctx, cask_array_from_buffer(ctx, CASK_FLOAT64, 2, shape, NULL, data, NULL),
	           "cask_array_from_buffer: NULL out");
	assert_int_equal(cask_array_scalar(NULL, v, 0, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_array_scalar(ctx, v, 0, NULL), "cask_array_scalar: NULL out");
	assert_null(y); /* out untouched by every failure */

	/* 0-d sources need no shape. */
	assert_int_equal(cask_array_full(ctx, CASK_FLOAT64, 0, NULL, NULL, v, &y), 0);
	assert_int_equal(cask_array_ndim(y), 0);
	cask_array_destroy(y);
}

static void test_api_ops_null(void **state)
{
	fix_t *f = *state;
	cask_ctx_t *ctx = f->ctx;
	cask_array_t *a = f->a, *b = f->b, *y = NULL;
	int axes[1] = {0}, perm[2] = {1, 0};
	int64_t sh3[3] = {4, 6, 1};
	cask_index_t ix = {.kind = CASK_INDEX_INT, .start = 1};

	assert_int_equal(cask_unary(NULL, CASK_SQRT, a, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_unary(ctx, CASK_SQRT, NULL, &y), "cask_unary: NULL a");
	EXPECT_MSG(ctx, cask_unary(ctx, CASK_SQRT, a, NULL), "cask_unary: NULL out");
	assert_int_equal(cask_binary(NULL, CASK_ADD, a, b, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_binary(ctx, CASK_ADD, NULL, b, &y), "cask_binary: NULL a");
	EXPECT_MSG(ctx, cask_binary(ctx, CASK_ADD, a, NULL, &y), "cask_binary: NULL b");
	EXPECT_MSG(ctx, cask_binary(ctx, CASK_ADD, a, b, NULL), "cask_binary: NULL out");
	assert_int_equal(cask_where(NULL, a, a, b, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_where(ctx, NULL, a, b, &y), "cask_where: NULL cond");
	EXPECT_MSG(ctx, cask_where(ctx, a, NULL, b, &y), "cask_where: NULL a");
	EXPECT_MSG(ctx, cask_where(ctx, a, a, NULL, &y), "cask_where: NULL b");
	EXPECT_MSG(ctx, cask_where(ctx, a, a, b, NULL), "cask_where: NULL out");
	assert_int_equal(cask_clip(NULL, a, NULL, NULL, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_clip(ctx, NULL, a, b, &y), "cask_clip: NULL x");
	EXPECT_MSG(ctx, cask_clip(ctx, a, a, b, NULL), "cask_clip: NULL out");
	assert_int_equal(cask_astype(NULL, a, CASK_INT32, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_astype(ctx, NULL, CASK_INT32, &y), "cask_astype: NULL x");
	EXPECT_MSG(ctx, cask_astype(ctx, a, CASK_INT32, NULL), "cask_astype: NULL out");
	assert_int_equal(cask_reduce(NULL, CASK_SUM, a, 1, axes, 0, 0, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_reduce(ctx, CASK_SUM, NULL, 1, axes, 0, 0, &y), "cask_reduce: NULL a");
	EXPECT_MSG(ctx, cask_reduce(ctx, CASK_SUM, a, 1, axes, 0, 0, NULL), "cask_reduce: NULL out");
	assert_int_equal(cask_index(NULL, a, 1, &ix, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_index(ctx, NULL, 1, &ix, &y), "cask_index: NULL a");
	EXPECT_MSG(ctx, cask_index(ctx, a, 1, NULL, &y), "cask_index: NULL idx");
	EXPECT_MSG(ctx, cask_index(ctx, a, 1, &ix, NULL), "cask_index: NULL out");
	assert_int_equal(cask_transpose(NULL, a, perm, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_transpose(ctx, NULL, perm, &y), "cask_transpose: NULL a");
	EXPECT_MSG(ctx, cask_transpose(ctx, a, perm, NULL), "cask_transpose: NULL out");
	assert_int_equal(cask_reshape(NULL, a, 3, sh3, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_reshape(ctx, NULL, 3, sh3, &y), "cask_reshape: NULL a");
	EXPECT_MSG(ctx, cask_reshape(ctx, a, 3, NULL, &y), "cask_reshape: NULL shape");
	EXPECT_MSG(ctx, cask_reshape(ctx, a, 3, sh3, NULL), "cask_reshape: NULL out");
	assert_int_equal(cask_rechunk(NULL, a, NULL, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_rechunk(ctx, NULL, NULL, &y), "cask_rechunk: NULL a");
	EXPECT_MSG(ctx, cask_rechunk(ctx, a, NULL, NULL), "cask_rechunk: NULL out");

	cask_array_t *two[2] = {a, b}, *hole[2] = {a, NULL};
	assert_int_equal(cask_concatenate(NULL, 2, two, 0, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_concatenate(ctx, 2, NULL, 0, &y), "cask_concatenate: NULL arrays");
	EXPECT_MSG(ctx, cask_concatenate(ctx, 2, hole, 0, &y), "cask_concatenate: NULL arrays[1]");
	EXPECT_MSG(ctx, cask_concatenate(ctx, 2, two, 0, NULL), "cask_concatenate: NULL out");
	assert_int_equal(cask_stack(NULL, 2, two, 0, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_stack(ctx, 2, NULL, 0, &y), "cask_stack: NULL arrays");
	EXPECT_MSG(ctx, cask_stack(ctx, 2, hole, 0, &y), "cask_stack: NULL arrays[1]");
	EXPECT_MSG(ctx, cask_stack(ctx, 2, two, 0, NULL), "cask_stack: NULL out");
	assert_null(y);

	/* The optional pointers may be NULL. */
	assert_int_equal(cask_clip(ctx, a, NULL, NULL, &y), 0);
	cask_array_destroy(y);
	assert_int_equal(cask_transpose(ctx, a, NULL, &y), 0);
	cask_array_destroy(y);
	assert_int_equal(cask_rechunk(ctx, a, NULL, &y), 0);
	cask_array_destroy(y);
	assert_int_equal(cask_index(ctx, a, 0, NULL, &y), 0);
	cask_array_destroy(y);
}

static void test_api_output_null(void **state)
{
	fix_t *f = *state;
	cask_ctx_t *ctx = f->ctx;
	cask_array_t *a = f->a, *hole[1] = {NULL};
	double buf[24];
	cask_store_t o;
	cask_store_init(&o, OUT_FILE, "/y");
	o.overwrite = 1;

	assert_int_equal(cask_compute(NULL, a, buf, sizeof buf), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_compute(ctx, NULL, buf, sizeof buf), "cask_compute: NULL a");
	assert_int_equal(cask_store(NULL, 1, &a, &o), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_store(ctx, 1, NULL, &o), "cask_store: NULL arrays");
	EXPECT_MSG(ctx, cask_store(ctx, 1, hole, &o), "cask_store: NULL arrays[0]");
	EXPECT_MSG(ctx, cask_store(ctx, 1, &a, NULL), "cask_store: NULL opts");
	o.path = NULL;
	EXPECT_MSG(ctx, cask_store(ctx, 1, &a, &o), "cask_store: NULL path in opts[0]");
	o.path = OUT_FILE;
	o.dset = NULL;
	EXPECT_MSG(ctx, cask_store(ctx, 1, &a, &o), "cask_store: NULL dset in opts[0]");

	cask_dset_info_t *info = NULL;
	int64_t n = 0;
	assert_int_equal(cask_h5_info(NULL, IN_FILE, NULL, &info, &n), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_h5_info(ctx, NULL, NULL, &info, &n), "cask_h5_info: NULL path");
	EXPECT_MSG(ctx, cask_h5_info(ctx, IN_FILE, NULL, NULL, &n), "cask_h5_info: NULL out");
	EXPECT_MSG(ctx, cask_h5_info(ctx, IN_FILE, NULL, &info, NULL), "cask_h5_info: NULL n");
	assert_null(info);
	assert_int_equal(cask_h5_info(ctx, IN_FILE, NULL, &info, &n), 0); /* dset optional */
	assert_int_equal(n, 1);
	free(info);

	cask_graph_t *g = NULL;
	assert_int_equal(cask_array_graph(NULL, 1, &a, NULL, &g), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_array_graph(ctx, 1, NULL, NULL, &g), "cask_array_graph: NULL arrays");
	EXPECT_MSG(ctx, cask_array_graph(ctx, 1, hole, NULL, &g), "cask_array_graph: NULL arrays[0]");
	EXPECT_MSG(ctx, cask_array_graph(ctx, 1, &a, NULL, NULL), "cask_array_graph: NULL out");
	assert_null(g);
}

static void test_api_graph_null(void **state)
{
	fix_t *f = *state;
	cask_ctx_t *ctx = f->ctx;
	cask_graph_t *g = NULL;
	assert_int_equal(cask_graph_create(NULL, &g), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_graph_create(ctx, NULL), "cask_graph_create: NULL out");
	assert_null(g);
	assert_int_equal(cask_graph_create(ctx, &g), 0);

	cask_task_spec_t spec = {.fn = nop_task, .out_bytes = 8, .keep = 1};
	int64_t id;
	assert_int_equal(cask_graph_add(NULL, &spec, &id), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_graph_add(g, NULL, &id), "cask_graph_add: NULL spec");
	spec.fn = NULL;
	EXPECT_MSG(ctx, cask_graph_add(g, &spec, &id), "cask_graph_add: NULL spec->fn");
	spec.fn = nop_task;
	assert_int_equal(cask_graph_add(g, &spec, NULL), 0); /* id optional */

	assert_int_equal(cask_graph_ntasks(NULL), 0);
	assert_int_equal(cask_graph_bytes(NULL), 0);
	assert_int_equal(cask_graph_max_task_bytes(NULL), 0);
	assert_int_equal(cask_graph_dump(NULL, stderr, CASK_DUMP_TEXT), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_graph_dump(g, NULL, CASK_DUMP_TEXT), "cask_graph_dump: NULL f");
	assert_int_equal(cask_graph_run(NULL, g), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_graph_run(ctx, NULL), "cask_graph_run: NULL g");
	assert_int_equal(cask_graph_run(ctx, g), 0);
	assert_null(cask_graph_output(NULL, 0, NULL));
	assert_non_null(cask_graph_output(g, 0, NULL)); /* bytes optional */
	assert_int_equal(cask_task_error(NULL, CASK_EUSER, "x"), CASK_EUSER);
	assert_null(cask_task_scratch(NULL, 8));
	cask_graph_destroy(g);
	cask_graph_destroy(NULL);
}

static void test_api_filters_null(void **state)
{
	fix_t *f = *state;
	cask_ctx_t *ctx = f->ctx;
	cask_array_t *a = f->a, *y = NULL, *hole[1] = {NULL};
	cask_filter_t spec;
	cask_filter_init(&spec, CASK_FILTER_SOBEL);

	assert_int_equal(cask_filter(NULL, &spec, a, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_filter(ctx, NULL, a, &y), "cask_filter: NULL spec");
	EXPECT_MSG(ctx, cask_filter(ctx, &spec, NULL, &y), "cask_filter: NULL x");
	EXPECT_MSG(ctx, cask_filter(ctx, &spec, a, NULL), "cask_filter: NULL out");

	assert_int_equal(cask_map_blocks(NULL, 1, &a, block_copy, NULL, CASK_FLOAT64, NULL, &y),
	                 CASK_EINVAL);
	EXPECT_MSG(ctx, cask_map_blocks(ctx, 1, NULL, block_copy, NULL, CASK_FLOAT64, NULL, &y),
	           "cask_map_blocks: NULL in");
	EXPECT_MSG(ctx, cask_map_blocks(ctx, 1, hole, block_copy, NULL, CASK_FLOAT64, NULL, &y),
	           "cask_map_blocks: NULL in[0]");
	EXPECT_MSG(ctx, cask_map_blocks(ctx, 1, &a, NULL, NULL, CASK_FLOAT64, NULL, &y),
	           "cask_map_blocks: NULL fn");
	EXPECT_MSG(ctx, cask_map_blocks(ctx, 1, &a, block_copy, NULL, CASK_FLOAT64, NULL, NULL),
	           "cask_map_blocks: NULL out");
	assert_int_equal(cask_map_overlap(NULL, 1, &a, block_copy, NULL, CASK_FLOAT64, NULL, NULL,
	                                  NULL, 0, 1, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_map_overlap(ctx, 1, NULL, block_copy, NULL, CASK_FLOAT64, NULL, NULL,
	                                 NULL, 0, 1, &y), "cask_map_overlap: NULL in");
	EXPECT_MSG(ctx, cask_map_overlap(ctx, 1, hole, block_copy, NULL, CASK_FLOAT64, NULL, NULL,
	                                 NULL, 0, 1, &y), "cask_map_overlap: NULL in[0]");
	EXPECT_MSG(ctx, cask_map_overlap(ctx, 1, &a, NULL, NULL, CASK_FLOAT64, NULL, NULL, NULL, 0,
	                                 1, &y), "cask_map_overlap: NULL fn");
	EXPECT_MSG(ctx, cask_map_overlap(ctx, 1, &a, block_copy, NULL, CASK_FLOAT64, NULL, NULL,
	                                 NULL, 0, 1, NULL), "cask_map_overlap: NULL out");
	assert_int_equal(cask_apply_parallel(NULL, block_copy, a, NULL, 1, CASK_MODE_REFLECT, 0,
	                                     NULL, -1, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_apply_parallel(ctx, NULL, a, NULL, 1, CASK_MODE_REFLECT, 0, NULL, -1,
	                                    &y), "cask_apply_parallel: NULL fn");
	EXPECT_MSG(ctx, cask_apply_parallel(ctx, block_copy, NULL, NULL, 1, CASK_MODE_REFLECT, 0,
	                                    NULL, -1, &y), "cask_apply_parallel: NULL x");
	EXPECT_MSG(ctx, cask_apply_parallel(ctx, block_copy, a, NULL, 1, CASK_MODE_REFLECT, 0, NULL,
	                                    -1, NULL), "cask_apply_parallel: NULL out");
	assert_null(y);
}

static void test_api_linalg_null(void **state)
{
	fix_t *f = *state;
	cask_ctx_t *ctx = f->ctx;
	cask_array_t *a = f->a, *b = f->b, *y = NULL, *col = NULL;
	double x[36], r[36];
	int64_t c4[1] = {4};
	assert_int_equal(cask_array_ones(ctx, CASK_FLOAT64, 1, c4, NULL, &col), 0);

	assert_int_equal(cask_tsqr(NULL, a, r, NULL, NULL), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_tsqr(ctx, NULL, r, NULL, NULL), "cask_tsqr: NULL a");
	assert_int_equal(cask_svd(NULL, a, x, NULL, NULL, NULL, NULL), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_svd(ctx, NULL, x, NULL, NULL, NULL, NULL), "cask_svd: NULL a");
	assert_int_equal(cask_svd_randomized(NULL, a, 2, -1, -1, 1, x, NULL, NULL, NULL, NULL),
	                 CASK_EINVAL);
	EXPECT_MSG(ctx, cask_svd_randomized(ctx, NULL, 2, -1, -1, 1, x, NULL, NULL, NULL, NULL),
	           "cask_svd_randomized: NULL a");
	assert_int_equal(cask_lstsq_ex(NULL, a, col, -1, x, NULL, NULL), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_lstsq_ex(ctx, NULL, col, -1, x, NULL, NULL), "cask_lstsq_ex: NULL a");
	EXPECT_MSG(ctx, cask_lstsq_ex(ctx, a, NULL, -1, x, NULL, NULL), "cask_lstsq_ex: NULL b");
	EXPECT_MSG(ctx, cask_lstsq_ex(ctx, a, col, -1, NULL, NULL, NULL), "cask_lstsq_ex: NULL x");
	assert_int_equal(cask_lstsq(NULL, a, col, x, NULL), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_lstsq(ctx, NULL, col, x, NULL), "cask_lstsq: NULL a");
	EXPECT_MSG(ctx, cask_lstsq(ctx, a, NULL, x, NULL), "cask_lstsq: NULL b");
	EXPECT_MSG(ctx, cask_lstsq(ctx, a, col, NULL, NULL), "cask_lstsq: NULL x");
	assert_int_equal(cask_matmul(NULL, a, col, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_matmul(ctx, NULL, col, &y), "cask_matmul: NULL a");
	EXPECT_MSG(ctx, cask_matmul(ctx, a, NULL, &y), "cask_matmul: NULL b");
	EXPECT_MSG(ctx, cask_matmul(ctx, a, col, NULL), "cask_matmul: NULL out");
	assert_int_equal(cask_gram(NULL, a, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_gram(ctx, NULL, &y), "cask_gram: NULL a");
	EXPECT_MSG(ctx, cask_gram(ctx, a, NULL), "cask_gram: NULL out");
	assert_int_equal(cask_matmul_tn(NULL, a, b, &y), CASK_EINVAL);
	EXPECT_MSG(ctx, cask_matmul_tn(ctx, NULL, b, &y), "cask_matmul_tn: NULL a");
	EXPECT_MSG(ctx, cask_matmul_tn(ctx, a, NULL, &y), "cask_matmul_tn: NULL b");
	EXPECT_MSG(ctx, cask_matmul_tn(ctx, a, b, NULL), "cask_matmul_tn: NULL out");
	assert_null(y);

	/* The optional outputs may all be NULL (R is computed and dropped). */
	cask_array_t *tall = NULL;
	assert_int_equal(cask_transpose(ctx, b, NULL, &tall), 0);
	assert_int_equal(cask_tsqr(ctx, tall, NULL, NULL, NULL), 0);
	cask_array_destroy(tall);
	cask_array_destroy(col);
}

/* cask_compute's buffer: NULL only for an empty result, never smaller
 * than the result. */
static void test_api_compute_buffer(void **state)
{
	fix_t *f = *state;
	cask_ctx_t *ctx = f->ctx;
	double buf[24];
	EXPECT_MSG(ctx, cask_compute(ctx, f->big, NULL, 15688),
	           "cask_compute: NULL buf with bufsize 15688");
	EXPECT_PREFIX(ctx, cask_compute(ctx, f->big, NULL, 0), "cask_compute: buffer of 0 bytes");
	EXPECT_PREFIX(ctx, cask_compute(ctx, f->a, buf, sizeof buf - 1),
	              "cask_compute: buffer of 191 bytes");
	assert_int_equal(cask_compute(ctx, f->a, buf, sizeof buf), 0);
	for (int i = 0; i < 24; i++)
		assert_true(buf[i] == (double)i);

	/* An empty result needs no buffer. */
	int64_t zero = 0;
	cask_array_t *e = NULL;
	assert_int_equal(cask_array_zeros(ctx, CASK_FLOAT64, 1, &zero, NULL, &e), 0);
	assert_int_equal(cask_compute(ctx, e, NULL, 0), 0);
	cask_array_destroy(e);
}

static void test_api_reduce_axes(void **state)
{
	fix_t *f = *state;
	cask_ctx_t *ctx = f->ctx;
	cask_array_t *y = NULL;
	EXPECT_PREFIX(ctx, cask_reduce(ctx, CASK_SUM, f->a, 1, NULL, 0, 0, &y),
	              "cask_reduce: NULL axes");
	EXPECT_PREFIX(ctx, cask_reduce(ctx, CASK_SUM, f->a, 2, NULL, 0, 0, &y),
	              "cask_reduce: NULL axes");
	int ax[3] = {0, 1, 0};
	EXPECT_PREFIX(ctx, cask_reduce(ctx, CASK_SUM, f->a, -1, ax, 0, 0, &y),
	              "cask_reduce: negative axis count");
	int out_of_range[1] = {2}, negative[1] = {-3}, dup[2] = {1, -1};
	EXPECT_PREFIX(ctx, cask_reduce(ctx, CASK_SUM, f->a, 1, out_of_range, 0, 0, &y),
	              "axis 2 is out of bounds");
	EXPECT_PREFIX(ctx, cask_reduce(ctx, CASK_SUM, f->a, 1, negative, 0, 0, &y),
	              "axis -3 is out of bounds");
	EXPECT_PREFIX(ctx, cask_reduce(ctx, CASK_SUM, f->a, 2, dup, 0, 0, &y), "duplicate value");
	EXPECT_PREFIX(ctx, cask_reduce(ctx, CASK_SUM, f->a, 3, ax, 0, 0, &y), "duplicate value");
	assert_null(y);

	/* naxes 0 (axes NULL) is every axis: sum 0..23 = 276. */
	double s = 0;
	assert_int_equal(cask_reduce(ctx, CASK_SUM, f->a, 0, NULL, 0, 0, &y), 0);
	assert_int_equal(cask_array_ndim(y), 0);
	assert_int_equal(cask_compute(ctx, y, &s, sizeof s), 0);
	assert_true(s == 276.0);
	cask_array_destroy(y);
	/* One axis given: a[i][j] = 6i + j, so column j sums to 36 + 4j. */
	double cs[6];
	assert_int_equal(cask_reduce(ctx, CASK_SUM, f->a, 1, ax, 0, 0, &y), 0);
	assert_int_equal(cask_compute(ctx, y, cs, sizeof cs), 0);
	for (int j = 0; j < 6; j++)
		assert_true(cs[j] == 4.0 * j + 36.0);
	cask_array_destroy(y);
}

/* A stored chunk over a quarter of the budget: unfiltered, the block grid
 * cuts it (read in parts) and a reduction runs within the budget; gzip'd,
 * it must be decoded whole, so the grid stays and the budget refuses. */
static void test_api_open_big_chunks(void **state)
{
	fix_t *f = *state;
	cask_ctx_t *ctx = f->ctx;
	int64_t shape[2] = {512, 512};
	cask_array_t *src = NULL, *y = NULL, *s = NULL;
	cask_store_t o;
	double sum = 0.0;

	assert_int_equal(cask_array_indices(ctx, CASK_FLOAT64, 2, shape, shape, 0.0, 1.0, &src), 0);
	cask_store_init(&o, IN_FILE, "/big");
	o.overwrite = 1;
	assert_int_equal(cask_store(ctx, 1, &src, &o), 0);
	cask_store_init(&o, IN_FILE, "/bigz");
	o.overwrite = 1;
	o.gzip = 1;
	assert_int_equal(cask_store(ctx, 1, &src, &o), 0);
	cask_array_destroy(src);
	assert_int_equal(cask_ctx_set_memory(ctx, (size_t)4 << 20), 0); /* chunk: 2 MiB */

	assert_int_equal(cask_array_open(ctx, IN_FILE, "/big", NULL, &y), 0);
	assert_true(cask_array_chunks(y)[0] < 512);
	assert_int_equal(cask_reduce(ctx, CASK_SUM, y, 0, NULL, 0, 0, &s), 0);
	assert_int_equal(cask_compute(ctx, s, &sum, sizeof sum), 0);
	assert_true(sum == 262143.0 * 262144.0 / 2.0); /* exact in float64 */
	cask_array_destroy(s);
	cask_array_destroy(y);

	assert_int_equal(cask_array_open(ctx, IN_FILE, "/bigz", NULL, &y), 0);
	assert_int_equal(cask_array_chunks(y)[0], 512);
	assert_int_equal(cask_array_chunks(y)[1], 512);
	assert_int_equal(cask_reduce(ctx, CASK_SUM, y, 0, NULL, 0, 0, &s), 0);
	assert_int_equal(cask_compute(ctx, s, &sum, sizeof sum), CASK_EBUDGET);
	assert_non_null(strstr(cask_ctx_message(ctx), "(512, 512)"));
	cask_array_destroy(s);
	cask_array_destroy(y);
}

/* Chunk extents: 0 keeps the default of the axis, negative is refused. */
static void test_api_chunks(void **state)
{
	fix_t *f = *state;
	cask_ctx_t *ctx = f->ctx;
	cask_array_t *y = NULL;
	int64_t keep0[2] = {0, 5}, neg0[2] = {-3, 5}, neg1[2] = {2, -1}, shape[2] = {4, 6};

	assert_int_equal(cask_array_open(ctx, IN_FILE, "/x", keep0, &y), 0);
	assert_int_equal(cask_array_chunks(y)[0], 2); /* the dataset's */
	assert_int_equal(cask_array_chunks(y)[1], 5);
	cask_array_destroy(y);
	y = NULL;
	EXPECT_PREFIX(ctx, cask_array_open(ctx, IN_FILE, "/x", neg0, &y),
	              "cask_array_open: negative chunk extent -3 on axis 0");
	EXPECT_PREFIX(ctx, cask_array_open(ctx, IN_FILE, "/x", neg1, &y),
	              "cask_array_open: negative chunk extent -1 on axis 1");
	EXPECT_PREFIX(ctx, cask_array_zeros(ctx, CASK_FLOAT64, 2, shape, neg0, &y),
	              "cask_array_zeros: negative chunk extent");
	EXPECT_PREFIX(ctx, cask_array_random(ctx, CASK_RANDOM_NORMAL, 1, CASK_FLOAT64, 2, shape,
	                                     neg1, &y), "cask_array_random: negative chunk extent");
	assert_null(y);

	assert_int_equal(cask_array_zeros(ctx, CASK_FLOAT64, 2, shape, keep0, &y), 0);
	assert_int_equal(cask_array_chunks(y)[0], 4); /* 0: the whole axis */
	assert_int_equal(cask_array_chunks(y)[1], 5);
	cask_array_destroy(y);

	cask_store_t o;
	cask_store_init(&o, OUT_FILE, "/y");
	o.overwrite = 1;
	o.chunks = neg0;
	EXPECT_PREFIX(ctx, cask_store(ctx, 1, &f->a, &o), "cask_store: opts[0].chunks: negative chunk extent -3");
	o.chunks = keep0;
	assert_int_equal(cask_store(ctx, 1, &f->a, &o), 0);
	assert_int_equal(cask_array_open(ctx, OUT_FILE, "/y", NULL, &y), 0);
	assert_int_equal(cask_array_chunks(y)[0], 2); /* 0 kept a's chunk */
	assert_int_equal(cask_array_chunks(y)[1], 5);
	cask_array_destroy(y);
}

/* cask_reshape only inserts or removes length-1 axes. */
static void test_api_reshape(void **state)
{
	fix_t *f = *state;
	cask_ctx_t *ctx = f->ctx;
	cask_array_t *y = NULL;
	int64_t unit[4] = {1, 4, 1, 6}, merge[1] = {24}, split[3] = {2, 2, 6}, bad[2] = {5, 5};
	assert_int_equal(cask_reshape(ctx, f->a, 4, unit, &y), 0);
	assert_int_equal(cask_array_ndim(y), 4);
	cask_array_destroy(y);
	y = NULL;
	assert_int_equal(cask_reshape(ctx, f->a, 1, merge, &y), CASK_ENOTSUP);
	assert_int_equal(cask_reshape(ctx, f->a, 3, split, &y), CASK_ENOTSUP);
	assert_int_equal(cask_reshape(ctx, f->a, 2, bad, &y), CASK_ESHAPE);
	assert_null(y);
}

/* Enumerations out of range are refused, not read as another value: a
 * scalar's dtype selects the union member cask_array_full reads, an index
 * kind how the index is applied. */
static void test_api_bad_enums(void **state)
{
	fix_t *f = *state;
	cask_ctx_t *ctx = f->ctx;
	cask_array_t *y = NULL;
	int64_t shape[2] = {2, 3};
	cask_scalar_t v = {.dtype = (cask_dtype_t)55, .v.i = 1};
	cask_index_t ix[1] = {{.kind = (cask_index_kind_t)9, .step = 1}};

	assert_int_equal(cask_array_full(ctx, CASK_INT8, 2, shape, NULL, v, &y), CASK_ETYPE);
	assert_null(y);
	assert_int_equal(cask_array_scalar(ctx, v, 0, &y), CASK_ETYPE);
	assert_null(y);
	EXPECT_PREFIX(ctx, cask_index(ctx, f->a, 1, ix, &y), "cask_index: idx[0] has unknown kind 9");
	assert_null(y);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_api_ctx_null),
		cmocka_unit_test(test_api_array_getters_null),
		cmocka_unit_test_setup_teardown(test_api_sources_null, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_ops_null, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_output_null, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_graph_null, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_filters_null, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_linalg_null, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_compute_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_reduce_axes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_chunks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_open_big_chunks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_reshape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_bad_enums, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
