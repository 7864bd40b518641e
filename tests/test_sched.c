/*
 * test_sched.c - the scheduler (cask_graph_run) and the buffer pool.
 *
 * Results are checked against exact integer arithmetic (sums of 1..N are
 * N(N+1)/2), memory against the budget through cask_ctx_stats and the
 * pool's own accounting, and failure paths by counting task bodies run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cask.h"
#include "ctx.h"
#include "engine.h"
#include "graph.h"
#include "pool.h"

#define MiB ((size_t)1 << 20)

/* Shared by the test task functions through the user pointer. */
typedef struct {
	int64_t n;             /* the sum is over 1..n */
	int64_t leaves;
	_Atomic int64_t ran;   /* task bodies entered */
	int64_t fail_at;       /* index of the task that fails, -1 none */
	int64_t cancel_at;     /* index of the task that cancels ctx, -1 none */
	_Atomic int stopped;   /* set by the failing or cancelling task */
	cask_ctx_t *ctx;
	_Atomic int64_t order[64]; /* first bodies to run, by index */
} tree_t;

/* Leaf `index`: the sum of its share of 1..n as the first int64 of out. */
static int leaf_fn(void *user, int64_t index, const void *const *inputs,
                   const size_t *input_bytes, int ninputs, void *out, size_t out_bytes,
                   cask_task_env_t *env)
{
	tree_t *t = user;
	(void)inputs, (void)input_bytes;
	int64_t k = atomic_fetch_add(&t->ran, 1);
	if (k < 64)
		t->order[k] = index;
	if (ninputs != 0 || out_bytes < 8)
		return cask_task_error(env, CASK_EINTERNAL, "leaf %lld: bad call", (long long)index);
	if (index == t->fail_at) {
		atomic_store(&t->stopped, 1);
		return cask_task_error(env, CASK_EIO, "disk on fire at leaf %lld", (long long)index);
	}
	if (index == t->cancel_at) {
		cask_ctx_cancel(t->ctx);
		atomic_store(&t->stopped, 1);
	} else if ((t->fail_at >= 0 && index > t->fail_at) ||
	           (t->cancel_at >= 0 && index > t->cancel_at)) {
		/* Later tasks wait (up to ~5 s) for the failure or cancel, then
		 * take 1 ms each: a thread holding that task but descheduled on a
		 * loaded machine (between raising the flag and returning to the
		 * scheduler) cannot let another thread run the rest meanwhile. */
		struct timespec ms = {0, 1000000};
		for (int i = 0; i < 5000 && !atomic_load(&t->stopped); i++)
			nanosleep(&ms, NULL);
		nanosleep(&ms, NULL);
	}
	int64_t lo = index * t->n / t->leaves + 1, hi = (index + 1) * t->n / t->leaves;
	int64_t s = 0;
	for (int64_t v = lo; v <= hi; v++)
		s += v;
	memcpy(out, &s, sizeof s);
	return 0;
}

/* Combine: the sum of the first int64 of every input. */
static int sum_fn(void *user, int64_t index, const void *const *inputs,
                  const size_t *input_bytes, int ninputs, void *out, size_t out_bytes,
                  cask_task_env_t *env)
{
	tree_t *t = user;
	atomic_fetch_add(&t->ran, 1);
	int64_t s = 0;
	for (int i = 0; i < ninputs; i++) {
		int64_t v;
		if (inputs[i] == NULL || input_bytes[i] < 8)
			return cask_task_error(env, CASK_EINTERNAL, "combine %lld: bad input %d",
			                       (long long)index, i);
		memcpy(&v, inputs[i], sizeof v);
		s += v;
	}
	if (out_bytes < 8)
		return cask_task_error(env, CASK_EINTERNAL, "combine: no output");
	memcpy(out, &s, sizeof s);
	return 0;
}

/* Add a reduction tree over t->leaves leaves with the given fan-in, all
 * leaves first (so id order is the memory-hungry order).  Returns the root
 * id (kept).  Every output is out_bytes long. */
static int64_t build_tree(cask_graph_t *g, tree_t *t, int fanin, size_t out_bytes)
{
	int64_t *level = malloc((size_t)t->leaves * sizeof *level), n = t->leaves;
	assert_non_null(level);
	for (int64_t i = 0; i < n; i++) {
		cask_task_spec_t s = {.fn = leaf_fn, .user = t, .index = i, .out_bytes = out_bytes,
		                      .label = "leaf"};
		assert_int_equal(cask_graph_add(g, &s, &level[i]), 0);
	}
	int64_t idx = 0;
	while (n > 1) {
		int64_t m = 0;
		for (int64_t i = 0; i < n; i += fanin) {
			int k = (int)(n - i < fanin ? n - i : fanin);
			cask_task_spec_t s = {.fn = sum_fn, .user = t, .index = idx++,
			                      .inputs = level + i, .ninputs = k, .out_bytes = out_bytes,
			                      .label = "sum", .keep = (n <= fanin)};
			int64_t id;
			assert_int_equal(cask_graph_add(g, &s, &id), 0);
			level[m++] = id;
		}
		n = m;
	}
	int64_t root = level[0];
	free(level);
	return root;
}

/* Run g, showing the context's message if it fails. */
static void run_ok(cask_ctx_t *ctx, cask_graph_t *g)
{
	int rc = cask_graph_run(ctx, g);
	if (rc != 0)
		print_message("cask_graph_run: %s: %s\n", cask_strerror(rc), cask_ctx_message(ctx));
	assert_int_equal(rc, 0);
}

static int64_t root_value(cask_graph_t *g, int64_t root)
{
	size_t bytes = 0;
	const void *p = cask_graph_output(g, root, &bytes);
	assert_non_null(p);
	assert_true(bytes >= 8);
	int64_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

static void test_sched_tree_sums(void **state)
{
	(void)state;
	static const int fanins[] = {2, 4, 8};
	static const int64_t leaves[] = {1, 2, 7, 64, 1000};
	for (int threads = 1; threads <= 2; threads++) {
		for (size_t f = 0; f < 3; f++) {
			for (size_t l = 0; l < sizeof leaves / sizeof leaves[0]; l++) {
				cask_ctx_t *ctx;
				cask_graph_t *g;
				assert_int_equal(cask_ctx_create(&ctx), 0);
				assert_int_equal(cask_ctx_set_threads(ctx, threads), 0);
				assert_int_equal(cask_graph_create(ctx, &g), 0);
				tree_t t = {.n = 100003, .leaves = leaves[l], .fail_at = -1,
				            .cancel_at = -1};
				int64_t root = build_tree(g, &t, fanins[f], 8);
				if (leaves[l] == 1) {
					/* A lone leaf is the root: keep it by hand. */
					cask_graph_destroy(g);
					assert_int_equal(cask_graph_create(ctx, &g), 0);
					cask_task_spec_t s = {.fn = leaf_fn, .user = &t, .out_bytes = 8,
					                      .keep = 1};
					assert_int_equal(cask_graph_add(g, &s, &root), 0);
				}
				run_ok(ctx, g);
				assert_int_equal(root_value(g, root), t.n * (t.n + 1) / 2);
				assert_int_equal(atomic_load(&t.ran), cask_graph_ntasks(g));
				cask_stats_t st;
				cask_ctx_stats(ctx, &st);
				assert_int_equal(st.tasks_run, cask_graph_ntasks(g));
				assert_int_equal(st.tasks_total, cask_graph_ntasks(g));
				cask_graph_destroy(g);
				cask_ctx_destroy(ctx);
			}
		}
	}
}

/* Reduction tree whose leaves alone would need 16x the budget: the run
 * stays within the budget and the pool agrees. */
static void test_sched_budget_respected(void **state)
{
	(void)state;
	for (int threads = 1; threads <= 2; threads++) {
		cask_ctx_t *ctx;
		cask_graph_t *g;
		size_t budget = 16 * MiB, out = 1 * MiB;
		assert_int_equal(cask_ctx_create(&ctx), 0);
		assert_int_equal(cask_ctx_set_threads(ctx, threads), 0);
		assert_int_equal(cask_ctx_set_memory(ctx, budget), 0);
		assert_int_equal(cask_graph_create(ctx, &g), 0);
		tree_t t = {.n = 1 << 20, .leaves = 256, .fail_at = -1, .cancel_at = -1};
		int64_t root = build_tree(g, &t, 4, out);
		/* Precondition: id order (all leaves, then combines) would hold
		 * every leaf at once. */
		assert_true((size_t)t.leaves * out > budget);
		assert_true(cask_graph_bytes(g) > budget);
		for (int rep = 0; rep < 2; rep++) {
			atomic_store(&t.ran, 0);
			run_ok(ctx, g);
			assert_int_equal(root_value(g, root), t.n * (t.n + 1) / 2);
			cask_stats_t st;
			cask_ctx_stats(ctx, &st);
			assert_true(st.peak_memory <= budget);
			assert_true(st.peak_memory >= 2 * out);
			cask__pool_stats_t ps;
			cask__pool_stats(ctx->pool, &ps);
			/* Only the kept root is still in use; allocated never passed the budget. */
			assert_int_equal(ps.in_use, out);
			assert_true(ps.peak_allocated <= budget);
			/* The second run maps nothing new: every buffer is reused. */
			if (rep == 1)
				assert_true(ps.maps <= 16);
		}
		cask_graph_destroy(g);
		cask_ctx_destroy(ctx);
	}
}

/* A budget that admits one 1 MiB buffer plus its inputs at most: still right. */
static void test_sched_tight_budget(void **state)
{
	(void)state;
	cask_ctx_t *ctx;
	cask_graph_t *g;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	assert_int_equal(cask_ctx_set_threads(ctx, 2), 0);
	/* fan-in 2 and depth 5: the combine needs 3 MiB, the frontier 5 + 2. */
	assert_int_equal(cask_ctx_set_memory(ctx, 8 * MiB), 0);
	assert_int_equal(cask_graph_create(ctx, &g), 0);
	tree_t t = {.n = 999, .leaves = 32, .fail_at = -1, .cancel_at = -1};
	int64_t root = build_tree(g, &t, 2, MiB);
	run_ok(ctx, g);
	assert_int_equal(root_value(g, root), 999 * 1000 / 2);
	cask_stats_t st;
	cask_ctx_stats(ctx, &st);
	assert_true(st.peak_memory <= 8 * MiB);
	cask_graph_destroy(g);
	cask_ctx_destroy(ctx);
}

/* Invariant 2: one task that cannot fit fails the run before anything runs. */
static void test_sched_ebudget_before_running(void **state)
{
	(void)state;
	cask_ctx_t *ctx;
	cask_graph_t *g;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	assert_int_equal(cask_ctx_set_memory(ctx, 4 * MiB), 0);
	assert_int_equal(cask_graph_create(ctx, &g), 0);
	tree_t t = {.n = 10, .leaves = 4, .fail_at = -1, .cancel_at = -1};
	build_tree(g, &t, 2, 8);
	/* Fits alone (3 MiB) but not with its 2 MiB input. */
	int64_t a, b;
	cask_task_spec_t s = {.fn = leaf_fn, .user = &t, .index = 0, .out_bytes = 2 * MiB,
	                      .label = "big-leaf"};
	assert_int_equal(cask_graph_add(g, &s, &a), 0);
	cask_task_spec_t c = {.fn = sum_fn, .user = &t, .inputs = &a, .ninputs = 1,
	                      .out_bytes = 8, .scratch_bytes = 3 * MiB, .label = "huge"};
	assert_int_equal(cask_graph_add(g, &c, &b), 0);
	assert_int_equal(cask_graph_max_task_bytes(g), 2 * MiB + 8 + 3 * MiB);
	assert_int_equal(cask_graph_run(ctx, g), CASK_EBUDGET);
	assert_int_equal(atomic_load(&t.ran), 0);
	char want[128];
	snprintf(want, sizeof want, "task %lld (huge) needs 5.0 MiB but the memory budget is 4.0 MiB",
	         (long long)b);
	assert_string_equal(cask_ctx_message(ctx), want);
	cask_stats_t st;
	cask_ctx_stats(ctx, &st);
	assert_int_equal(st.tasks_run, 0);
	cask_graph_destroy(g);
	cask_ctx_destroy(ctx);
}

/* Kept outputs would fill the budget: the run fails instead of hanging. */
static void test_sched_ebudget_held_outputs(void **state)
{
	(void)state;
	for (int threads = 1; threads <= 2; threads++) {
		cask_ctx_t *ctx;
		cask_graph_t *g;
		assert_int_equal(cask_ctx_create(&ctx), 0);
		assert_int_equal(cask_ctx_set_threads(ctx, threads), 0);
		assert_int_equal(cask_ctx_set_memory(ctx, 3 * MiB), 0);
		assert_int_equal(cask_graph_create(ctx, &g), 0);
		tree_t t = {.n = 10, .leaves = 4, .fail_at = -1, .cancel_at = -1};
		for (int i = 0; i < 4; i++) {
			cask_task_spec_t s = {.fn = leaf_fn, .user = &t, .index = i, .out_bytes = MiB,
			                      .label = "kept", .keep = 1};
			assert_int_equal(cask_graph_add(g, &s, NULL), 0);
		}
		/* Each task fits alone, but the whole run does not: found by the
		 * planner before anything runs. */
		assert_int_equal(cask_graph_run(ctx, g), CASK_EBUDGET);
		assert_int_equal(atomic_load(&t.ran), 0);
		assert_string_equal(cask_ctx_message(ctx),
		                    "the graph needs 4.0 MiB at its peak (when task 3 (kept) runs, in "
		                    "the scheduler's order) but the memory budget is 3.0 MiB");
		assert_null(cask_graph_output(g, 0, NULL));
		/* Every output was given back to the pool. */
		assert_int_equal(cask__pool_in_use(ctx->pool), 0);
		cask_graph_destroy(g);
		cask_ctx_destroy(ctx);
	}
}

/* The first failure stops the run and its message reaches the context. */
static void test_sched_task_failure(void **state)
{
	(void)state;
	for (int threads = 1; threads <= 2; threads++) {
		cask_ctx_t *ctx;
		cask_graph_t *g;
		assert_int_equal(cask_ctx_create(&ctx), 0);
		assert_int_equal(cask_ctx_set_threads(ctx, threads), 0);
		assert_int_equal(cask_graph_create(ctx, &g), 0);
		tree_t t = {.n = 1000, .leaves = 1000, .fail_at = 10, .cancel_at = -1};
		/* Independent leaves: each is its own sink, so they run in id order. */
		for (int64_t i = 0; i < t.leaves; i++) {
			cask_task_spec_t s = {.fn = leaf_fn, .user = &t, .index = i, .out_bytes = 8};
			assert_int_equal(cask_graph_add(g, &s, NULL), 0);
		}
		assert_int_equal(cask_graph_run(ctx, g), CASK_EIO);
		assert_string_equal(cask_ctx_message(ctx), "disk on fire at leaf 10");
		int64_t ran = atomic_load(&t.ran);
		/* One thread: exactly 0..10.  Two: the run stops well before the
		 * end; the other thread's pick just before leaf 10 is skipped if
		 * the failure lands between its pick and its start (invariant 4
		 * of sched.c), so 10 bodies at least. */
		if (threads == 1)
			assert_int_equal(ran, 11);
		else
			assert_in_range(ran, 10, 499);
		cask_stats_t st;
		cask_ctx_stats(ctx, &st);
		assert_int_equal(st.tasks_run, ran);
		assert_int_equal(cask__pool_in_use(ctx->pool), 0);
		cask_graph_destroy(g);
		cask_ctx_destroy(ctx);
	}
}

static int fail_silently(void *user, int64_t index, const void *const *inputs,
                         const size_t *input_bytes, int ninputs, void *out, size_t out_bytes,
                         cask_task_env_t *env)
{
	(void)user, (void)index, (void)inputs, (void)input_bytes, (void)ninputs, (void)out,
		(void)out_bytes, (void)env;
	return CASK_EUSER;
}

/* A consumer of a failed task never runs; a bare error code gets a message. */
static void test_sched_failure_without_message(void **state)
{
	(void)state;
	cask_ctx_t *ctx;
	cask_graph_t *g;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	assert_int_equal(cask_graph_create(ctx, &g), 0);
	tree_t t = {.n = 10, .leaves = 1, .fail_at = -1, .cancel_at = -1};
	int64_t a, b;
	cask_task_spec_t s = {.fn = fail_silently, .out_bytes = 8, .label = "quiet"};
	assert_int_equal(cask_graph_add(g, &s, &a), 0);
	cask_task_spec_t c = {.fn = sum_fn, .user = &t, .inputs = &a, .ninputs = 1, .out_bytes = 8};
	assert_int_equal(cask_graph_add(g, &c, &b), 0);
	assert_int_equal(cask_graph_run(ctx, g), CASK_EUSER);
	assert_int_equal(atomic_load(&t.ran), 0);
	assert_non_null(strstr(cask_ctx_message(ctx), "task 0 (quiet) failed"));
	cask_graph_destroy(g);
	cask_ctx_destroy(ctx);
}

static int sleepy_fn(void *user, int64_t index, const void *const *inputs,
                     const size_t *input_bytes, int ninputs, void *out, size_t out_bytes,
                     cask_task_env_t *env)
{
	(void)index, (void)inputs, (void)input_bytes, (void)ninputs, (void)out, (void)out_bytes,
		(void)env;
	tree_t *t = user;
	atomic_fetch_add(&t->ran, 1);
	struct timespec ts = {0, 2000000};
	nanosleep(&ts, NULL);
	return 0;
}

typedef struct {
	int calls;
	int stop;
	int64_t last_done, last_total;
	int monotone;
} progress_t;

static int progress_cb(void *user, int64_t done, int64_t total)
{
	progress_t *p = user;
	if (done < p->last_done)
		p->monotone = 0;
	p->calls++;
	p->last_done = done;
	p->last_total = total;
	return p->stop;
}

/* The progress callback cancels a run of 2 ms tasks; the rate limit keeps
 * its calls near 20 a second, and a finished run gets a final call. */
static void test_sched_progress_cancel(void **state)
{
	(void)state;
	for (int threads = 1; threads <= 2; threads++) {
		cask_ctx_t *ctx;
		cask_graph_t *g;
		assert_int_equal(cask_ctx_create(&ctx), 0);
		assert_int_equal(cask_ctx_set_threads(ctx, threads), 0);
		assert_int_equal(cask_graph_create(ctx, &g), 0);
		tree_t t = {0};
		for (int i = 0; i < 1000; i++) {
			cask_task_spec_t s = {.fn = sleepy_fn, .user = &t};
			assert_int_equal(cask_graph_add(g, &s, NULL), 0);
		}
		progress_t p = {.stop = 1, .monotone = 1};
		cask_ctx_set_progress(ctx, progress_cb, &p);
		assert_int_equal(cask_graph_run(ctx, g), CASK_ECANCELED);
		assert_int_equal(p.calls, 1);
		assert_string_equal(cask_ctx_message(ctx), "cancelled by the progress callback");
		/* The first call comes after ~50 ms: about 25 tasks per thread. */
		assert_true(atomic_load(&t.ran) < 500);
		/* Now let it finish: 2 s of sleeping per thread count, ~20 calls/s. */
		atomic_store(&t.ran, 0);
		p = (progress_t){.stop = 0, .monotone = 1};
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		run_ok(ctx, g);
		clock_gettime(CLOCK_MONOTONIC, &b);
		double secs = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
		assert_int_equal(atomic_load(&t.ran), 1000);
		assert_int_equal(p.last_done, 1000);
		assert_int_equal(p.last_total, 1000);
		assert_true(p.monotone);
		assert_true(p.calls >= 2);
		assert_true(p.calls <= 2 + (int)(secs * 20 * 1.5));
		cask_graph_destroy(g);
		cask_ctx_destroy(ctx);
	}
}

/* cask_ctx_cancel (what a signal handler calls) stops the run; the flag
 * does not outlive the call it stopped. */
static void test_sched_ctx_cancel(void **state)
{
	(void)state;
	for (int threads = 1; threads <= 2; threads++) {
		cask_ctx_t *ctx;
		cask_graph_t *g;
		assert_int_equal(cask_ctx_create(&ctx), 0);
		assert_int_equal(cask_ctx_set_threads(ctx, threads), 0);
		assert_int_equal(cask_graph_create(ctx, &g), 0);
		tree_t t = {.n = 1000, .leaves = 1000, .fail_at = -1, .cancel_at = 5, .ctx = ctx};
		for (int64_t i = 0; i < t.leaves; i++) {
			cask_task_spec_t s = {.fn = leaf_fn, .user = &t, .index = i, .out_bytes = 8};
			assert_int_equal(cask_graph_add(g, &s, NULL), 0);
		}
		assert_int_equal(cask_graph_run(ctx, g), CASK_ECANCELED);
		if (threads == 1)
			assert_int_equal(atomic_load(&t.ran), 6);
		else /* as in test_sched_task_failure: one pick may be skipped */
			assert_in_range(atomic_load(&t.ran), 5, 499);
		t.cancel_at = -1;
		atomic_store(&t.ran, 0);
		run_ok(ctx, g);
		assert_int_equal(atomic_load(&t.ran), 1000);
		cask_graph_destroy(g);
		cask_ctx_destroy(ctx);
	}
}

/* Floating-point tree with a fixed pairing: bitwise equal on 1 and 2
 * threads (the graph fixes the order of every addition). */
static int fleaf(void *user, int64_t index, const void *const *inputs,
                 const size_t *input_bytes, int ninputs, void *out, size_t out_bytes,
                 cask_task_env_t *env)
{
	(void)user, (void)inputs, (void)input_bytes, (void)ninputs, (void)out_bytes, (void)env;
	double s = 0;
	for (int64_t i = index * 1000 + 1; i <= (index + 1) * 1000; i++)
		s += 1.0 / (double)i;
	memcpy(out, &s, sizeof s);
	return 0;
}

static int fsum(void *user, int64_t index, const void *const *inputs,
                const size_t *input_bytes, int ninputs, void *out, size_t out_bytes,
                cask_task_env_t *env)
{
	(void)user, (void)index, (void)input_bytes, (void)out_bytes, (void)env;
	double s = 0;
	for (int i = 0; i < ninputs; i++)
		s += *(const double *)inputs[i];
	memcpy(out, &s, sizeof s);
	return 0;
}

static double harmonic(int threads)
{
	cask_ctx_t *ctx;
	cask_graph_t *g;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	assert_int_equal(cask_ctx_set_threads(ctx, threads), 0);
	assert_int_equal(cask_graph_create(ctx, &g), 0);
	int64_t ids[300];
	for (int i = 0; i < 300; i++) {
		cask_task_spec_t s = {.fn = fleaf, .index = i, .out_bytes = 8};
		assert_int_equal(cask_graph_add(g, &s, &ids[i]), 0);
	}
	int64_t n = 300;
	while (n > 1) {
		int64_t m = 0;
		for (int64_t i = 0; i < n; i += 3) {
			cask_task_spec_t s = {.fn = fsum, .inputs = ids + i,
			                      .ninputs = (int)(n - i < 3 ? n - i : 3), .out_bytes = 8,
			                      .keep = 1};
			assert_int_equal(cask_graph_add(g, &s, &ids[m++]), 0);
		}
		n = m;
	}
	run_ok(ctx, g);
	/* Every combine was kept, also those consumed during the run. */
	for (int64_t k = 300; k < cask_graph_ntasks(g); k++)
		assert_non_null(cask_graph_output(g, k, NULL));
	assert_null(cask_graph_output(g, 299, NULL));
	double v;
	memcpy(&v, cask_graph_output(g, ids[0], NULL), sizeof v);
	cask_graph_destroy(g);
	cask_ctx_destroy(ctx);
	return v;
}

static void test_sched_threads_identical(void **state)
{
	(void)state;
	double a = harmonic(1), b = harmonic(2);
	assert_memory_equal(&a, &b, sizeof a);
	/* H_300000 from Python's math.fsum (correctly rounded); 300000
	 * additions in double lose at most ~300000 * 2^-53 * 13.2 < 5e-10. */
	double exact = 13.188755085205612;
	assert_true(a > exact - 5e-10 && a < exact + 5e-10);
}

/* Scratch is a bump allocator over the task's reservation, 64-aligned. */
static int scratch_fn(void *user, int64_t index, const void *const *inputs,
                      const size_t *input_bytes, int ninputs, void *out, size_t out_bytes,
                      cask_task_env_t *env)
{
	(void)inputs, (void)input_bytes, (void)ninputs, (void)out_bytes;
	int *ok = user;
	char *a = cask_task_scratch(env, 500);
	char *b = cask_task_scratch(env, 400);
	char *c = cask_task_scratch(env, 200); /* 512 + 448 > 1000 after alignment */
	if (index == 0) {
		*ok = a != NULL && b != NULL && c == NULL && ((uintptr_t)a % 64) == 0 &&
		      b == a + 512 && cask__task_ctx(env) != NULL;
		memset(a, 1, 500);
		memset(b, 2, 400);
	} else {
		/* No scratch reserved: nothing to hand out. */
		*ok = a == NULL;
	}
	*(char *)out = 7;
	return 0;
}

static void test_sched_scratch(void **state)
{
	(void)state;
	cask_ctx_t *ctx;
	cask_graph_t *g;
	int ok0 = 0, ok1 = 0;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	assert_int_equal(cask_graph_create(ctx, &g), 0);
	cask_task_spec_t s = {.fn = scratch_fn, .user = &ok0, .index = 0, .out_bytes = 1,
	                      .scratch_bytes = 1000, .keep = 1};
	assert_int_equal(cask_graph_add(g, &s, NULL), 0);
	s.user = &ok1;
	s.index = 1;
	s.scratch_bytes = 0;
	assert_int_equal(cask_graph_add(g, &s, NULL), 0);
	run_ok(ctx, g);
	assert_true(ok0);
	assert_true(ok1);
	size_t bytes = 0;
	const char *o = cask_graph_output(g, 1, &bytes);
	assert_non_null(o);
	assert_int_equal(bytes, 1);
	assert_int_equal(o[0], 7);
	/* Scratch went back; the two kept 1-byte outputs (64-byte class) stay. */
	assert_int_equal(cask__pool_in_use(ctx->pool), 128);
	cask_graph_destroy(g);
	assert_int_equal(cask__pool_in_use(ctx->pool), 0);
	assert_null(cask_task_scratch(NULL, 1));
	cask_ctx_destroy(ctx);
}

/* Kept outputs survive the run, may outlive the context, and a rerun
 * replaces them. */
static void test_sched_keep_outputs(void **state)
{
	(void)state;
	cask_ctx_t *ctx;
	cask_graph_t *g;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	assert_int_equal(cask_graph_create(ctx, &g), 0);
	tree_t t = {.n = 64, .leaves = 8, .fail_at = -1, .cancel_at = -1};
	int64_t root = build_tree(g, &t, 2, 300 * 1024); /* large class: mmap'd */
	assert_null(cask_graph_output(g, root, NULL));   /* before any run */
	run_ok(ctx, g);
	assert_int_equal(root_value(g, root), 64 * 65 / 2);
	/* Only the root is kept. */
	assert_null(cask_graph_output(g, 0, NULL));
	assert_null(cask_graph_output(g, root - 1, NULL));
	assert_null(cask_graph_output(g, -1, NULL));
	assert_null(cask_graph_output(g, 1000, NULL));
	run_ok(ctx, g);
	assert_int_equal(root_value(g, root), 64 * 65 / 2);
	assert_int_equal(cask__pool_in_use(ctx->pool), cask__pool_round(300 * 1024));
	cask_ctx_destroy(ctx); /* the graph's outputs keep the pool alive */
	assert_int_equal(root_value(g, root), 64 * 65 / 2);
	cask_graph_destroy(g);
}

static void test_sched_empty_graph(void **state)
{
	(void)state;
	cask_ctx_t *ctx;
	cask_graph_t *g;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	assert_int_equal(cask_graph_create(ctx, &g), 0);
	progress_t p = {.monotone = 1};
	cask_ctx_set_progress(ctx, progress_cb, &p);
	run_ok(ctx, g);
	cask_stats_t st;
	cask_ctx_stats(ctx, &st);
	assert_int_equal(st.tasks_run, 0);
	assert_int_equal(st.tasks_total, 0);
	assert_int_equal(cask_graph_run(ctx, NULL), CASK_EINVAL);
	cask_graph_destroy(g);
	cask_ctx_destroy(ctx);
}

static void test_sched_pool_classes(void **state)
{
	(void)state;
	/* Hand-computed classes: 64-byte steps to 4 KiB, pages to 256 KiB,
	 * then eight steps per power of two. */
	assert_int_equal(cask__pool_round(0), 0);
	assert_int_equal(cask__pool_round(1), 64);
	assert_int_equal(cask__pool_round(64), 64);
	assert_int_equal(cask__pool_round(65), 128);
	assert_int_equal(cask__pool_round(4096), 4096);
	assert_int_equal(cask__pool_round(4097), 8192);
	assert_int_equal(cask__pool_round(256 * 1024 - 1), 256 * 1024);
	assert_int_equal(cask__pool_round(256 * 1024), 256 * 1024);
	assert_int_equal(cask__pool_round(256 * 1024 + 1), 288 * 1024);
	assert_int_equal(cask__pool_round(MiB), MiB);
	assert_int_equal(cask__pool_round(MiB + 1), MiB + 128 * 1024);
	assert_int_equal(cask__pool_round(2 * MiB - 1), 2 * MiB);
	assert_int_equal(cask__pool_round(SIZE_MAX), SIZE_MAX);
	/* Waste is below 1/8 everywhere above 4 KiB. */
	for (size_t b = 4097; b < ((size_t)1 << 40); b = b * 3 / 2 + 1) {
		size_t r = cask__pool_round(b);
		assert_true(r >= b && r - b <= b / 8 + 4096);
		assert_int_equal(cask__pool_round(r), r);
	}
}

static void test_sched_pool_reuse_and_trim(void **state)
{
	(void)state;
	cask__pool_t *p;
	cask__pool_stats_t st;
	assert_int_equal(cask__pool_create(2 * MiB, &p), 0);
	char *a = cask__pool_get(p, MiB);
	assert_non_null(a);
	assert_int_equal((uintptr_t)a % 64, 0);
	memset(a, 5, MiB);
	cask__pool_put(p, a, MiB);
	char *b = cask__pool_get(p, MiB - 100); /* same class: the same buffer */
	assert_ptr_equal(a, b);
	assert_int_equal(b[0], 5);
	cask__pool_stats(p, &st);
	assert_int_equal(st.maps, 1);
	assert_int_equal(st.reuses, 1);
	assert_int_equal(st.in_use, MiB);
	cask__pool_put(p, b, MiB - 100);
	/* Another class that would exceed the budget next to the idle 1 MiB:
	 * the idle buffer is resized into it, its touched pages kept. */
	char *c = cask__pool_get(p, MiB + 1);
	assert_non_null(c);
	cask__pool_stats(p, &st);
	assert_int_equal(st.unmaps, 0);
	assert_int_equal(st.remaps, 1);
	assert_int_equal(st.maps, 1);
	assert_int_equal(st.idle, 0);
	assert_int_equal(st.in_use, MiB + 128 * 1024);
	assert_int_equal(c[0], 5);
	assert_int_equal(c[MiB - 1], 5);
	memset(c, 6, MiB + 128 * 1024); /* the grown part is usable */
	cask__pool_put(p, c, MiB + 1);
	/* Both idle buffers must go for a third class of 1.625 MiB: the one
	 * closer in size (the larger, as neither reaches the request) is
	 * resized, the other unmapped. */
	char *e = cask__pool_get(p, MiB / 2);
	assert_non_null(e);
	memset(e, 7, MiB / 2);
	cask__pool_put(p, e, MiB / 2);
	cask__pool_stats(p, &st);
	assert_int_equal(st.idle, MiB + 128 * 1024 + MiB / 2);
	char *f = cask__pool_get(p, MiB + MiB / 2 + 64 * 1024);
	assert_non_null(f);
	cask__pool_stats(p, &st);
	assert_int_equal(st.remaps, 2);
	assert_int_equal(st.unmaps, 1);
	assert_int_equal(st.idle, 0);
	assert_int_equal(f[0], 6); /* the 1.125 MiB buffer, grown */
	memset(f, 8, MiB + MiB / 2 + 128 * 1024);
	cask__pool_put(p, f, MiB + MiB / 2 + 64 * 1024);
	void *s = cask__pool_get(p, 100);
	assert_non_null(s);
	assert_int_equal(cask__pool_in_use(p), 128);
	cask__pool_put(p, s, 100);
	assert_null(cask__pool_get(p, 0));
	cask__pool_put(p, NULL, 0);
	cask__pool_trim(p, 0);
	cask__pool_stats(p, &st);
	assert_int_equal(st.idle, 0);
	assert_int_equal(st.in_use, 0);
	assert_true(st.peak_allocated <= 2 * MiB);
	cask__pool_destroy(p);
	cask__pool_destroy(NULL);
}

/* Leaf 4 lags 100 ms while the other thread races on: run-ahead must stay
 * bounded so the lagging branch can still finish (a plain "highest
 * priority that fits" rule fills the budget with outputs waiting for leaf 4
 * and fails with CASK_EBUDGET). */
static int slow_leaf_fn(void *user, int64_t index, const void *const *inputs,
                        const size_t *input_bytes, int ninputs, void *out, size_t out_bytes,
                        cask_task_env_t *env)
{
	if (index == 4) {
		struct timespec ts = {0, 100000000};
		nanosleep(&ts, NULL);
	}
	return leaf_fn(user, index, inputs, input_bytes, ninputs, out, out_bytes, env);
}

static void test_sched_lagging_task(void **state)
{
	(void)state;
	cask_ctx_t *ctx;
	cask_graph_t *g;
	size_t budget = 16 * MiB;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	assert_int_equal(cask_ctx_set_threads(ctx, 2), 0);
	assert_int_equal(cask_ctx_set_memory(ctx, budget), 0);
	assert_int_equal(cask_graph_create(ctx, &g), 0);
	tree_t t = {.n = 1 << 16, .leaves = 256, .fail_at = -1, .cancel_at = -1};
	int64_t root = build_tree(g, &t, 4, MiB);
	for (int64_t k = 0; k < t.leaves; k++)
		g->t[k].fn = slow_leaf_fn;
	run_ok(ctx, g);
	assert_int_equal(root_value(g, root), t.n * (t.n + 1) / 2);
	cask_stats_t st;
	cask_ctx_stats(ctx, &st);
	assert_true(st.peak_memory <= budget);
	cask_graph_destroy(g);
	cask_ctx_destroy(ctx);
}

/* A task may list an input twice; shared inputs feed several sinks. */
static void test_sched_shared_inputs(void **state)
{
	(void)state;
	for (int threads = 1; threads <= 2; threads++) {
		cask_ctx_t *ctx;
		cask_graph_t *g;
		assert_int_equal(cask_ctx_create(&ctx), 0);
		assert_int_equal(cask_ctx_set_threads(ctx, threads), 0);
		assert_int_equal(cask_graph_create(ctx, &g), 0);
		tree_t t = {.n = 100, .leaves = 1, .fail_at = -1, .cancel_at = -1};
		int64_t a, twice, sinks[3];
		cask_task_spec_t s = {.fn = leaf_fn, .user = &t, .out_bytes = 300 * 1024};
		assert_int_equal(cask_graph_add(g, &s, &a), 0);
		int64_t aa[2] = {a, a};
		cask_task_spec_t c = {.fn = sum_fn, .user = &t, .inputs = aa, .ninputs = 2,
		                      .out_bytes = 8};
		assert_int_equal(cask_graph_add(g, &c, &twice), 0);
		/* The input listed twice counts once in the working set. */
		assert_int_equal(cask_graph_max_task_bytes(g), 300 * 1024 + 8);
		for (int i = 0; i < 3; i++) {
			int64_t in[2] = {twice, a};
			cask_task_spec_t k = {.fn = sum_fn, .user = &t, .inputs = in, .ninputs = 2,
			                      .out_bytes = 8, .keep = 1};
			assert_int_equal(cask_graph_add(g, &k, &sinks[i]), 0);
		}
		run_ok(ctx, g);
		for (int i = 0; i < 3; i++) {
			int64_t v;
			memcpy(&v, cask_graph_output(g, sinks[i], NULL), sizeof v);
			assert_int_equal(v, 3 * 5050);
		}
		/* The 300 KiB input was freed once, after its last consumer. */
		assert_int_equal(cask__pool_in_use(ctx->pool), 3 * 64);
		cask_graph_destroy(g);
		cask_ctx_destroy(ctx);
	}
}

/* A lower budget on the same context trims the pool's idle buffers. */
static void test_sched_budget_lowered(void **state)
{
	(void)state;
	cask_ctx_t *ctx;
	cask_graph_t *g;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	assert_int_equal(cask_ctx_set_threads(ctx, 2), 0);
	assert_int_equal(cask_ctx_set_memory(ctx, 64 * MiB), 0);
	assert_int_equal(cask_graph_create(ctx, &g), 0);
	tree_t t = {.n = 5000, .leaves = 64, .fail_at = -1, .cancel_at = -1};
	int64_t root = build_tree(g, &t, 8, MiB + 1); /* class 1.125 MiB */
	run_ok(ctx, g);
	cask_graph_destroy(g);
	cask__pool_stats_t ps;
	cask__pool_stats(ctx->pool, &ps);
	assert_true(ps.idle > 8 * MiB);
	/* Same classes, smaller tree: every buffer could be reused, but the
	 * idle ones beyond the new budget must go. */
	assert_int_equal(cask_ctx_set_memory(ctx, 8 * MiB), 0);
	assert_int_equal(cask_graph_create(ctx, &g), 0);
	tree_t u = {.n = 5000, .leaves = 4, .fail_at = -1, .cancel_at = -1};
	root = build_tree(g, &u, 2, MiB + 1);
	run_ok(ctx, g);
	assert_int_equal(root_value(g, root), 5000 * 5001 / 2);
	cask__pool_stats(ctx->pool, &ps);
	assert_true(ps.in_use + ps.idle <= 8 * MiB);
	assert_true(ps.reuses > 0);
	cask_graph_destroy(g);
	cask_ctx_destroy(ctx);
}

/* Errors set through cask__task_ctx land in the run's message. */
static int ctx_error_fn(void *user, int64_t index, const void *const *inputs,
                        const size_t *input_bytes, int ninputs, void *out, size_t out_bytes,
                        cask_task_env_t *env)
{
	(void)user, (void)inputs, (void)input_bytes, (void)ninputs, (void)out, (void)out_bytes;
	if (index == 3)
		return cask__error(cask__task_ctx(env), CASK_ECORRUPT, "chunk %lld is corrupt",
		                   (long long)index);
	return 0;
}

static void test_sched_task_ctx_error(void **state)
{
	(void)state;
	cask_ctx_t *ctx;
	cask_graph_t *g;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	assert_int_equal(cask_ctx_set_threads(ctx, 2), 0);
	assert_int_equal(cask_graph_create(ctx, &g), 0);
	for (int i = 0; i < 8; i++) {
		cask_task_spec_t s = {.fn = ctx_error_fn, .index = i};
		assert_int_equal(cask_graph_add(g, &s, NULL), 0);
	}
	assert_int_equal(cask_graph_run(ctx, g), CASK_ECORRUPT);
	assert_string_equal(cask_ctx_message(ctx), "chunk 3 is corrupt");
	cask_graph_destroy(g);
	cask_ctx_destroy(ctx);
}

static int nop_fn(void *user, int64_t index, const void *const *inputs,
                  const size_t *input_bytes, int ninputs, void *out, size_t out_bytes,
                  cask_task_env_t *env)
{
	(void)user, (void)index, (void)inputs, (void)input_bytes, (void)ninputs, (void)env;
	if (out_bytes >= 8)
		memcpy(out, &index, 8);
	return 0;
}

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 10^6 trivial tasks (a fan-in-8 tree over 875000 leaves): the per-task
 * overhead, printed, not asserted (machines differ). */
static void test_sched_million_tasks(void **state)
{
	(void)state;
	cask_ctx_t *ctx;
	cask_graph_t *g;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	double t0 = seconds();
	assert_int_equal(cask_graph_create(ctx, &g), 0);
	int64_t nleaves = 875000, *level = malloc((size_t)nleaves * sizeof *level);
	assert_non_null(level);
	for (int64_t i = 0; i < nleaves; i++) {
		cask_task_spec_t s = {.fn = nop_fn, .index = i, .out_bytes = 8, .label = "leaf"};
		assert_int_equal(cask_graph_add(g, &s, &level[i]), 0);
	}
	int64_t n = nleaves;
	while (n > 1) {
		int64_t m = 0;
		for (int64_t i = 0; i < n; i += 8) {
			cask_task_spec_t s = {.fn = nop_fn, .inputs = level + i,
			                      .ninputs = (int)(n - i < 8 ? n - i : 8), .out_bytes = 8,
			                      .label = "sum"};
			assert_int_equal(cask_graph_add(g, &s, &level[m++]), 0);
		}
		n = m;
	}
	double t1 = seconds();
	int64_t nt = cask_graph_ntasks(g);
	assert_true(nt >= 1000000);
	printf("# %lld tasks built in %.3f s (%.0f ns/task)\n", (long long)nt, t1 - t0,
	       1e9 * (t1 - t0) / (double)nt);
	for (int threads = 1; threads <= 2; threads++) {
		assert_int_equal(cask_ctx_set_threads(ctx, threads), 0);
		cask_ctx_reset_stats(ctx);
		double a = seconds();
		run_ok(ctx, g);
		double b = seconds();
		cask_stats_t st;
		cask_ctx_stats(ctx, &st);
		assert_int_equal(st.tasks_run, nt);
		printf("# %d thread(s): run %.3f s = %.2f us/task, compute %.3f thread-s, "
		       "peak %llu bytes\n", threads, b - a, 1e6 * (b - a) / (double)nt,
		       st.compute_seconds, (unsigned long long)st.peak_memory);
	}
	free(level);
	cask_graph_destroy(g);
	cask_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sched_pool_classes),
		cmocka_unit_test(test_sched_pool_reuse_and_trim),
		cmocka_unit_test(test_sched_tree_sums),
		cmocka_unit_test(test_sched_budget_respected),
		cmocka_unit_test(test_sched_tight_budget),
		cmocka_unit_test(test_sched_ebudget_before_running),
		cmocka_unit_test(test_sched_ebudget_held_outputs),
		cmocka_unit_test(test_sched_task_failure),
		cmocka_unit_test(test_sched_failure_without_message),
		cmocka_unit_test(test_sched_progress_cancel),
		cmocka_unit_test(test_sched_ctx_cancel),
		cmocka_unit_test(test_sched_threads_identical),
		cmocka_unit_test(test_sched_scratch),
		cmocka_unit_test(test_sched_keep_outputs),
		cmocka_unit_test(test_sched_empty_graph),
		cmocka_unit_test(test_sched_lagging_task),
		cmocka_unit_test(test_sched_shared_inputs),
		cmocka_unit_test(test_sched_budget_lowered),
		cmocka_unit_test(test_sched_task_ctx_error),
		cmocka_unit_test(test_sched_million_tasks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
