/*
 * test_graph.c - building task graphs: ids, validation, byte totals,
 * labels, TEXT and DOT dumps, kept outputs, and the size of a million-task
 * graph.  Expected dumps are written out by hand from the format in
 * src/graph.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cask.h"
#include "graph.h"

static int nop(void *user, int64_t index, const void *const *inputs, const size_t *input_bytes,
               int ninputs, void *out, size_t out_bytes, cask_task_env_t *env)
{
	(void)user, (void)inputs, (void)input_bytes, (void)ninputs, (void)env;
	if (out_bytes >= sizeof index)
		memcpy(out, &index, sizeof index);
	return 0;
}

/* The graph's dump as a malloc'd string. */
static char *dump(cask_graph_t *g, cask_dump_t fmt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(cask_graph_dump(g, f, fmt), 0);
	fclose(f);
	return buf;
}

/* A diamond: 0 -> {1, 2} -> 3 (keep), with sizes chosen to tell sums apart. */
static cask_graph_t *diamond(cask_ctx_t *ctx)
{
	cask_graph_t *g;
	int64_t id;
	assert_int_equal(cask_graph_create(ctx, &g), 0);
	cask_task_spec_t a = {.fn = nop, .index = 7, .out_bytes = 100, .label = "load"};
	assert_int_equal(cask_graph_add(g, &a, &id), 0);
	assert_int_equal(id, 0);
	int64_t in0[1] = {0};
	cask_task_spec_t b = {.fn = nop, .index = 1, .inputs = in0, .ninputs = 1, .out_bytes = 20,
	                      .scratch_bytes = 3, .label = "left"};
	assert_int_equal(cask_graph_add(g, &b, &id), 0);
	assert_int_equal(id, 1);
	cask_task_spec_t c = {.fn = nop, .index = 2, .inputs = in0, .ninputs = 1, .out_bytes = 30,
	                      .label = "say \"hi\""};
	assert_int_equal(cask_graph_add(g, &c, &id), 0);
	assert_int_equal(id, 2);
	int64_t in12[2] = {1, 2};
	cask_task_spec_t d = {.fn = nop, .index = 3, .inputs = in12, .ninputs = 2, .out_bytes = 8,
	                      .scratch_bytes = 1000, .keep = 1};
	assert_int_equal(cask_graph_add(g, &d, &id), 0);
	assert_int_equal(id, 3);
	return g;
}

static void test_graph_totals(void **state)
{
	(void)state;
	cask_ctx_t *ctx;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	cask_graph_t *g = diamond(ctx);
	assert_int_equal(cask_graph_ntasks(g), 4);
	/* (100) + (20 + 3) + (30) + (8 + 1000) */
	assert_int_equal(cask_graph_bytes(g), 1161);
	/* Task 3: inputs 20 + 30, output 8, scratch 1000. */
	assert_int_equal(cask_graph_max_task_bytes(g), 1058);
	cask_graph_destroy(g);
	assert_int_equal(cask_graph_ntasks(NULL), 0);
	assert_int_equal(cask_graph_bytes(NULL), 0);
	cask_graph_destroy(NULL);
	/* An empty graph. */
	assert_int_equal(cask_graph_create(ctx, &g), 0);
	assert_int_equal(cask_graph_ntasks(g), 0);
	assert_int_equal(cask_graph_bytes(g), 0);
	assert_int_equal(cask_graph_max_task_bytes(g), 0);
	char *s = dump(g, CASK_DUMP_TEXT);
	assert_string_equal(s, "# cask graph: 0 tasks, 0 bytes, max task 0 bytes\n"
	                       "# id label index inputs out_bytes scratch_bytes [keep]\n");
	free(s);
	cask_graph_destroy(g);
	cask_ctx_destroy(ctx);
}

static void test_graph_add_rejects(void **state)
{
	(void)state;
	cask_ctx_t *ctx;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	cask_graph_t *g = diamond(ctx);
	int64_t id = -5;
	cask_task_spec_t s = {.fn = NULL};
	assert_int_equal(cask_graph_add(g, &s, &id), CASK_EINVAL);
	assert_non_null(strstr(cask_ctx_message(ctx), "fn"));
	assert_int_equal(cask_graph_add(g, NULL, &id), CASK_EINVAL);
	assert_int_equal(cask_graph_add(NULL, &s, &id), CASK_EINVAL);
	/* Inputs must be earlier tasks: itself, a later one, negative. */
	static const int64_t bad[] = {4, 5, -1, INT64_MAX};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t in[2] = {0, bad[i]};
		cask_task_spec_t t = {.fn = nop, .inputs = in, .ninputs = 2};
		assert_int_equal(cask_graph_add(g, &t, &id), CASK_EINVAL);
		assert_non_null(strstr(cask_ctx_message(ctx), "not an earlier task"));
	}
	cask_task_spec_t t = {.fn = nop, .ninputs = -1};
	assert_int_equal(cask_graph_add(g, &t, &id), CASK_EINVAL);
	t.ninputs = 1;
	assert_int_equal(cask_graph_add(g, &t, &id), CASK_EINVAL);
	/* Nothing was added and *id untouched. */
	assert_int_equal(id, -5);
	assert_int_equal(cask_graph_ntasks(g), 4);
	assert_int_equal(cask_graph_bytes(g), 1161);
	/* The graph still works. */
	t.ninputs = 0;
	assert_int_equal(cask_graph_add(g, &t, &id), 0);
	assert_int_equal(id, 4);
	assert_int_equal(cask_graph_run(ctx, g), 0);
	cask_graph_destroy(g);
	cask_ctx_destroy(ctx);
}

static void test_graph_dump_text(void **state)
{
	(void)state;
	cask_ctx_t *ctx;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	cask_graph_t *g = diamond(ctx);
	char *s = dump(g, CASK_DUMP_TEXT);
	assert_string_equal(s, "# cask graph: 4 tasks, 1161 bytes, max task 1058 bytes\n"
	                       "# id label index inputs out_bytes scratch_bytes [keep]\n"
	                       "0 load 7 [] 100 0\n"
	                       "1 left 1 [0] 20 3\n"
	                       "2 say \"hi\" 2 [0] 30 0\n"
	                       "3 - 3 [1,2] 8 1000 keep\n");
	free(s);
	assert_int_equal(cask_graph_dump(g, stdout, (cask_dump_t)7), CASK_EINVAL);
	assert_int_equal(cask_graph_dump(g, NULL, CASK_DUMP_TEXT), CASK_EINVAL);
	assert_int_equal(cask_graph_dump(NULL, stdout, CASK_DUMP_TEXT), CASK_EINVAL);
	cask_graph_destroy(g);
	cask_ctx_destroy(ctx);
}

static void test_graph_dump_dot(void **state)
{
	(void)state;
	cask_ctx_t *ctx;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	cask_graph_t *g = diamond(ctx);
	char *s = dump(g, CASK_DUMP_DOT);
	assert_string_equal(s, "digraph cask {\n"
	                       "  // 4 tasks, 1161 bytes, max task 1058 bytes\n"
	                       "  node [shape=box];\n"
	                       "  t0 [label=\"0 load\\n100 B\"];\n"
	                       "  t1 [label=\"1 left\\n20 B\"];\n"
	                       "  t0 -> t1;\n"
	                       "  t2 [label=\"2 say \\\"hi\\\"\\n30 B\"];\n"
	                       "  t0 -> t2;\n"
	                       "  t3 [label=\"3 \\n8 B\", peripheries=2];\n"
	                       "  t1 -> t3;\n"
	                       "  t2 -> t3;\n"
	                       "}\n");
	free(s);
	cask_graph_destroy(g);
	cask_ctx_destroy(ctx);
}

/* Many distinct labels (the intern table grows) and repeats of each. */
static void test_graph_labels(void **state)
{
	(void)state;
	cask_ctx_t *ctx;
	cask_graph_t *g;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	assert_int_equal(cask_graph_create(ctx, &g), 0);
	char label[32];
	for (int rep = 0; rep < 3; rep++) {
		for (int i = 0; i < 1000; i++) {
			snprintf(label, sizeof label, "lab%d", i);
			cask_task_spec_t s = {.fn = nop, .index = i, .label = label};
			assert_int_equal(cask_graph_add(g, &s, NULL), 0);
		}
	}
	/* The caller's buffer is reused: labels must have been copied. */
	strcpy(label, "clobbered");
	for (int64_t k = 0; k < 3000; k++) {
		snprintf(label, sizeof label, "lab%d", (int)(k % 1000));
		assert_string_equal(cask__graph_label(g, k), label);
	}
	assert_true(g->nlabels == 1001);
	cask_graph_destroy(g);
	cask_ctx_destroy(ctx);
}

static void test_graph_output(void **state)
{
	(void)state;
	cask_ctx_t *ctx;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	cask_graph_t *g = diamond(ctx);
	size_t bytes = 99;
	assert_null(cask_graph_output(g, 3, &bytes));
	assert_int_equal(bytes, 99);
	assert_int_equal(cask_graph_run(ctx, g), 0);
	const int64_t *v = cask_graph_output(g, 3, &bytes);
	assert_non_null(v);
	assert_int_equal(bytes, 8);
	assert_int_equal(*v, 3); /* nop writes its index */
	for (int64_t k = 0; k < 3; k++)
		assert_null(cask_graph_output(g, k, NULL));
	assert_null(cask_graph_output(NULL, 3, NULL));
	cask_graph_destroy(g);
	cask_ctx_destroy(ctx);
}

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A million tasks, each with one input: well under 100 bytes a task and
 * well under a second to build. */
static void test_graph_million(void **state)
{
	(void)state;
	cask_ctx_t *ctx;
	cask_graph_t *g;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	double t0 = seconds();
	assert_int_equal(cask_graph_create(ctx, &g), 0);
	for (int64_t i = 0; i < 1000000; i++) {
		int64_t in = i - 1;
		cask_task_spec_t s = {.fn = nop, .index = i, .inputs = &in, .ninputs = i > 0,
		                      .out_bytes = 8, .label = i % 2 ? "odd" : "even"};
		assert_int_equal(cask_graph_add(g, &s, NULL), 0);
	}
	double t1 = seconds();
	size_t bytes = (size_t)g->cap * sizeof *g->t + (size_t)g->incap * sizeof *g->in;
	double per_task = (double)bytes / 1e6;
	printf("# 10^6 tasks: built in %.3f s, %.1f bytes/task allocated (%zu-byte record)\n",
	       t1 - t0, per_task, sizeof(cask__task_t));
	assert_true(per_task < 100);
	/* Generous (sanitizer builds are slower); catches quadratic growth. */
	assert_true(t1 - t0 < 5.0);
	assert_int_equal(cask_graph_bytes(g), 8000000);
	assert_int_equal(cask_graph_max_task_bytes(g), 16);
	cask_graph_destroy(g);
	cask_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_graph_totals),
		cmocka_unit_test(test_graph_add_rejects),
		cmocka_unit_test(test_graph_dump_text),
		cmocka_unit_test(test_graph_dump_dot),
		cmocka_unit_test(test_graph_labels),
		cmocka_unit_test(test_graph_output),
		cmocka_unit_test(test_graph_million),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
