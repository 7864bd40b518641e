/*
 * sched.c - cask_graph_run: runs a task graph on an OpenMP thread team under
 * the context's memory budget; also the task environment (cask_task_error,
 * cask_task_scratch, cask__task_ctx).
 *
 * Design.  A team of ctx->threads OpenMP threads shares one ready set
 * ordered by a static priority: a task's position in a depth-first
 * post-order of the graph from its sinks (sinks in id order, inputs in
 * listed order).  That order finishes a combine as soon as its inputs
 * exist, so partial results are consumed (and freed) before new leaves
 * start: a reduction tree of fan-in f and depth d holds about (f-1)*d
 * outputs instead of all its leaves.  The ready set is the initially ready
 * tasks as a sorted array plus a binary heap of tasks readied later, so a
 * pick is O(log of the readied tasks), not a scan.  Each worker loops:
 *
 *     lock; finish the previous task (release its scratch reservation,
 *     free inputs whose last consumer it was, push consumers that became
 *     ready, wake waiters); take the top of the ready set if it fits
 *     (invariants 1 and 3), reserve it; unlock; run it (output buffer from
 *     the pool, scratch from the pool on the first cask_task_scratch call).
 *
 * One lock round trip per task; plan() makes five passes over the graph.
 * Measured: ~0.2 us of CPU per trivial task (10^6-task tree, 1 or 2
 * threads, planning included).
 *
 * Invariants.
 *  1. reserved <= budget at all times, where reserved = bytes already held
 *     in the context's pool when the run started (kept outputs of other
 *     graphs) + the size classes (cask__pool_round) of every output alive in
 *     this run + the scratch classes of every running task.  A task is
 *     started only after its round(out) + round(scratch) has been added.
 *  2. Before anything runs: every task's need = round(out) + round(scratch)
 *     + the classes of its (distinct) inputs must fit the budget, and so
 *     must the peak of running the priority order on one thread (simulated
 *     by plan()); otherwise the run fails with CASK_EBUDGET and no task
 *     runs.
 *  3. Run-ahead is bounded.  Let first be the earliest position of the
 *     order not yet started and ahead the bytes held by tasks started at
 *     positions >= first.  A task other than order[first] starts only if
 *     sufmax[first] + ahead + its need <= budget, where sufmax[p] is the
 *     one-thread peak over positions >= p.  Since tasks before first are
 *     started, they finish; then the memory held is at most the one-thread
 *     run's at first, plus ahead, so order[first] fits, and by induction
 *     the run never deadlocks on memory.  (Without this, a thread that
 *     lags on one leaf lets the others fill the budget with outputs that
 *     wait for it.)  A worker whose heap top does not fit waits for a
 *     completion without skipping ahead; if nothing is running, it fails
 *     with CASK_EBUDGET rather than hang (unreachable given 2 and 3; kept
 *     as a safety net).
 *  4. The first failure wins: status goes from 0 to a negative code once,
 *     and that task's message (from its own per-thread shadow context) is
 *     copied into ctx->msg.  After that no new task is picked, and a task
 *     picked before the failure skips its body (PLASMA's status check).
 *  5. An output is freed when its last consumer finished, unless its task
 *     has keep; a task without consumers frees its output on completion.
 *     After a successful run only kept outputs remain, owned by the graph.
 *  6. Every wait is on the condition variable with a 50 ms timeout, so a
 *     cask_ctx_cancel() from a signal handler is seen promptly; workers
 *     never spin.
 *
 * Task states:  waiting (pending inputs) -> ready (in the ready set) ->
 * running -> done.  On failure, ready and waiting tasks are abandoned.
 *
 * Each worker has a shadow context (a private struct cask_ctx with the
 * caller's settings) that cask__task_ctx() returns, so concurrent tasks that
 * report errors through cask__error() do not race on ctx->msg; its byte
 * counters are added to the caller's context when the worker ends.
 */
#include <inttypes.h>
#include <omp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctx.h"
#include "engine.h"
#include "graph.h"
#include "io.h"
#include "pool.h"

/* I/O time is reported only when io.c is linked in. */
#pragma weak cask__io_seconds
#pragma weak cask__io_cache_bytes

#define PROGRESS_PERIOD 0.05
#define WAIT_NS 50000000L
#define MIB (1024.0 * 1024.0)

/* A task's label for messages ("unlabelled" rather than "()"). */
static const char *task_label(const cask_graph_t *g, int64_t k)
{
	const char *l = cask__graph_label(g, k);
	return l[0] != '\0' ? l : "unlabelled";
}

/* v as MiB for a message comparing it with w: with the bytes when the two
 * print alike ("needs 0.1 MiB but the budget is 0.1 MiB"). */
static const char *mib_vs(char *buf, size_t len, size_t v, size_t w)
{
	char a[32], b[32];
	snprintf(a, sizeof a, "%.1f", (double)v / MIB);
	snprintf(b, sizeof b, "%.1f", (double)w / MIB);
	if (strcmp(a, b) == 0)
		snprintf(buf, len, "%s MiB (%zu bytes)", a, v);
	else
		snprintf(buf, len, "%s MiB", a);
	return buf;
}

struct run {
	cask_ctx_t *ctx;
	cask_graph_t *g;
	cask__pool_t *pool;
	int64_t n;
	int32_t *pending;  /* inputs not yet done */
	int64_t *uses;     /* consumers not yet done */
	int64_t *cons_off; /* consumers of k: cons[cons_off[k] .. cons_off[k+1]) */
	int64_t *cons;
	void **out;
	int64_t *prio;     /* task -> post-order position */
	int64_t *order;    /* post-order position -> task */
	int64_t *init;     /* positions of the tasks ready at the start, ascending */
	int64_t ninit, init_at;
	int64_t *heap;     /* positions of the tasks readied since, min-heap */
	int64_t nheap;
	size_t *resv;      /* bytes task k holds now (output while alive + scratch while running) */
	size_t *sufmax;    /* sufmax[p] = peak of the one-thread run over positions >= p */
	unsigned char *started;
	int64_t first;     /* position of the earliest task not yet started */
	int64_t peak_pos;  /* position where the one-thread run peaks */
	int64_t too_big;   /* first task that cannot fit even alone, or -1 */
	size_t too_big_need;
	int max_inputs;
	size_t ahead;      /* bytes held by started tasks at positions >= first */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	int nwait;
	size_t budget, reserved, peak;
	int64_t done, running, executed;
	_Atomic int status;
	double last_progress;
	int progress_busy;
	double compute_seconds;
};

struct cask_task_env {
	struct run *r;
	cask_ctx_t *shadow;
	int64_t id;
	size_t scratch_bytes;
	char *scratch;
	size_t scratch_used;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The coarse clock (a few ms resolution, a few ns to read) times task
 * bodies: per task it is quantised, but the sum over many tasks is an
 * unbiased estimate of compute time, and trivial tasks stay cheap. */
static double coarse_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* a + b, saturating at SIZE_MAX (then it can never fit a budget). */
static size_t add_sat(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/* ---------------------------------------------------------------- heap */

static void heap_push(struct run *r, int64_t p)
{
	int64_t i = r->nheap++;
	while (i > 0) {
		int64_t parent = (i - 1) / 2;
		if (r->heap[parent] <= p)
			break;
		r->heap[i] = r->heap[parent];
		i = parent;
	}
	r->heap[i] = p;
}

static void sift_down(int64_t *h, int64_t n, int64_t i)
{
	int64_t p = h[i];
	for (;;) {
		int64_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && h[c + 1] < h[c])
			c++;
		if (h[c] >= p)
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = p;
}

static void heap_pop(struct run *r)
{
	r->heap[0] = r->heap[--r->nheap];
	if (r->nheap > 0)
		sift_down(r->heap, r->nheap, 0);
}

/* The ready set is the initially ready tasks (often most of a graph: its
 * leaves), a sorted array consumed in order, plus a heap of the tasks
 * readied during the run (usually few).  Its top is the smaller head. */
static int ready_empty(const struct run *r)
{
	return r->init_at == r->ninit && r->nheap == 0;
}

static int64_t ready_top(const struct run *r)
{
	if (r->init_at == r->ninit)
		return r->heap[0];
	if (r->nheap == 0)
		return r->init[r->init_at];
	return r->heap[0] < r->init[r->init_at] ? r->heap[0] : r->init[r->init_at];
}

static void ready_pop(struct run *r)
{
	if (r->init_at < r->ninit && (r->nheap == 0 || r->init[r->init_at] < r->heap[0]))
		r->init_at++;
	else
		heap_pop(r);
}

/* ---------------------------------------------------------------- task env */

int cask_task_error(cask_task_env_t *env, int rc, const char *fmt, ...)
{
	if (env == NULL || fmt == NULL)
		return rc;
	va_list ap;
	va_start(ap, fmt);
	cask__verror(env->shadow, rc, fmt, ap);
	va_end(ap);
	return rc;
}

void *cask_task_scratch(cask_task_env_t *env, size_t bytes)
{
	if (env == NULL || env->scratch_bytes == 0)
		return NULL;
	if (env->scratch == NULL) {
		env->scratch = cask__pool_get(env->r->pool, env->scratch_bytes);
		if (env->scratch == NULL)
			return NULL;
	}
	size_t at = (env->scratch_used + 63) & ~(size_t)63;
	if (at > env->scratch_bytes || bytes > env->scratch_bytes - at)
		return NULL;
	env->scratch_used = at + bytes;
	return env->scratch + at;
}

cask_ctx_t *cask__task_ctx(cask_task_env_t *env)
{
	return env != NULL ? env->shadow : NULL;
}

/* ---------------------------------------------------------------- planning */

/* Working set of task k while it runs: its output and scratch classes. */
static size_t task_need(const cask_graph_t *g, int64_t k)
{
	return add_sat(cask__pool_round(g->t[k].out_bytes), cask__pool_round(g->t[k].scratch_bytes));
}


/* Build consumers, pending counts, the post-order priority and the memory
 * profile of running that order on one thread, starting with base bytes
 * held (invariants 2 and 3).  Sets r->too_big to the first task (in that
 * order) whose need with its inputs exceeds the budget, or -1.  Five passes
 * over the tasks; temporaries borrow arrays not in use yet.  Returns 0 or
 * CASK_ENOMEM/EINTERNAL (arrays are freed by free_run). */
static int plan(struct run *r, size_t base)
{
	int rc = 0;
	const cask_graph_t *g = r->g;
	const cask__task_t *tk = g->t;
	int64_t n = r->n;
	r->pending = malloc((size_t)n * sizeof *r->pending);
	r->uses = calloc((size_t)n, sizeof *r->uses);
	r->cons_off = malloc(((size_t)n + 1) * sizeof *r->cons_off);
	r->cons = malloc((size_t)(g->nin > 0 ? g->nin : 1) * sizeof *r->cons);
	r->out = calloc((size_t)n, sizeof *r->out);
	r->prio = malloc((size_t)n * sizeof *r->prio);
	r->order = malloc((size_t)n * sizeof *r->order);
	r->heap = malloc((size_t)n * sizeof *r->heap);
	r->init = malloc((size_t)n * sizeof *r->init);
	r->resv = calloc((size_t)n, sizeof *r->resv);
	r->sufmax = malloc(((size_t)n + 1) * sizeof *r->sufmax);
	r->started = calloc((size_t)n, 1);
	if (!r->pending || !r->uses || !r->cons_off || !r->cons || !r->out || !r->prio ||
	    !r->order || !r->heap || !r->init || !r->resv || !r->sufmax || !r->started) {
		rc = CASK_ENOMEM;
		goto out;
	}
	/* Pass 1: consumer counts, pending counts, widest fan-in. */
	r->max_inputs = 0;
	for (int64_t k = 0; k < n; k++) {
		const int64_t *in = g->in + tk[k].in_off;
		for (int i = 0; i < tk[k].ninputs; i++)
			r->uses[in[i]]++;
		r->pending[k] = tk[k].ninputs;
		r->prio[k] = -1;
		if (tk[k].ninputs > r->max_inputs)
			r->max_inputs = tk[k].ninputs;
	}
	/* Pass 2: consumer lists; heap serves as the fill cursors. */
	r->cons_off[0] = 0;
	for (int64_t k = 0; k < n; k++)
		r->cons_off[k + 1] = r->cons_off[k] + r->uses[k];
	{
		int64_t *cursor = r->heap;
		for (int64_t k = 0; k < n; k++)
			cursor[k] = r->cons_off[k];
		for (int64_t k = 0; k < n; k++) {
			const int64_t *in = g->in + tk[k].in_off;
			for (int i = 0; i < tk[k].ninputs; i++)
				r->cons[cursor[in[i]]++] = k;
		}
	}
	/* Pass 3: iterative DFS post-order from the sinks; prio -2 marks "on
	 * the stack".  heap and init serve as the stack and its cursors. */
	int64_t next = 0, *stack = r->heap, *pos = r->init;
	for (int64_t s = 0; s < n; s++) {
		if (r->uses[s] != 0)
			continue;
		int64_t top = 0;
		stack[0] = s;
		pos[0] = 0;
		r->prio[s] = -2;
		while (top >= 0) {
			int64_t t = stack[top];
			if (pos[top] < tk[t].ninputs) {
				int64_t c = g->in[tk[t].in_off + pos[top]++];
				if (r->prio[c] == -1) {
					r->prio[c] = -2;
					top++;
					stack[top] = c;
					pos[top] = 0;
				}
			} else {
				r->prio[t] = next;
				r->order[next++] = t;
				top--;
			}
		}
	}
	if (next != n) {
		rc = CASK_EINTERNAL;
		goto out;
	}
	/* Pass 4: the one-thread run in this order: bytes held while each
	 * position runs (resv counts consumers down, ending all zero), the
	 * single-task check, and the initially ready tasks in order. */
	size_t held = base, *seq = r->sufmax;
	r->too_big = -1;
	r->peak_pos = 0;
	r->ninit = 0;
	r->init_at = 0;
	r->nheap = 0;
	for (int64_t k = 0; k < n; k++)
		r->resv[k] = (size_t)r->uses[k];
	for (int64_t j = 0; j < n; j++) {
		int64_t t = r->order[j];
		const int64_t *in = g->in + tk[t].in_off;
		size_t need = task_need(g, t), own = need;
		if (tk[t].ninputs == 0)
			r->init[r->ninit++] = j;
		seq[j] = add_sat(held, need);
		if (seq[j] > seq[r->peak_pos])
			r->peak_pos = j;
		held = add_sat(held, cask__pool_round(tk[t].out_bytes));
		for (int i = 0; i < tk[t].ninputs; i++) {
			size_t cls = cask__pool_round(tk[in[i]].out_bytes);
			/* Count an input listed twice once (checked for small fan-in). */
			int dup = 0;
			for (int m = 0; m < i && i < 32 && !dup; m++)
				dup = in[m] == in[i];
			if (!dup)
				own = add_sat(own, cls);
			if (--r->resv[in[i]] == 0 && !(tk[in[i]].label & CASK__KEEP_BIT))
				held -= cls;
		}
		if (r->resv[t] == 0 && !(tk[t].label & CASK__KEEP_BIT))
			held -= cask__pool_round(tk[t].out_bytes);
		if (r->too_big < 0 && add_sat(own, base) > r->budget) {
			r->too_big = t;
			r->too_big_need = own;
		}
	}
	/* Pass 5: suffix maxima. */
	r->sufmax[n] = 0;
	for (int64_t j = n - 1; j >= 0; j--)
		if (r->sufmax[j + 1] > r->sufmax[j])
			r->sufmax[j] = r->sufmax[j + 1];
out:
	return rc;
}

static void free_run(struct run *r)
{
	free(r->pending);
	free(r->uses);
	free(r->cons_off);
	free(r->cons);
	free(r->out);
	free(r->prio);
	free(r->order);
	free(r->heap);
	free(r->init);
	free(r->resv);
	free(r->sufmax);
	free(r->started);
}

/* ---------------------------------------------------------------- workers */

/* Record failure rc (caller holds mu).  The first one wins (invariant 4):
 * its message msg is copied into the caller's context. */
static void fail(struct run *r, int rc, const char *msg)
{
	int zero = 0;
	if (atomic_compare_exchange_strong(&r->status, &zero, rc))
		snprintf(r->ctx->msg, sizeof r->ctx->msg, "%s", msg);
	if (r->nwait > 0)
		pthread_cond_broadcast(&r->cv);
}

/* Finish task k after its body returned rc (caller holds mu). */
/* Task k gives back bytes of its reservation (caller holds mu). */
static void release(struct run *r, int64_t k, size_t bytes)
{
	r->resv[k] -= bytes;
	r->reserved -= bytes;
	if (r->prio[k] >= r->first)
		r->ahead -= bytes;
}

static void complete(struct run *r, int64_t k, int rc, cask_ctx_t *shadow)
{
	const cask_graph_t *g = r->g;
	const cask__task_t *t = &g->t[k];
	r->running--;
	release(r, k, cask__pool_round(t->scratch_bytes));
	if (rc != 0) {
		if (shadow->msg[0] == '\0')
			snprintf(shadow->msg, sizeof shadow->msg,
			         "task %" PRId64 " (%s) failed: %s", k, task_label(g, k),
			         cask_strerror(rc));
		fail(r, rc, shadow->msg);
		return;
	}
	r->done++;
	const int64_t *in = g->in + t->in_off;
	for (int i = 0; i < t->ninputs; i++) {
		int64_t p = in[i];
		if (--r->uses[p] == 0 && !(g->t[p].label & CASK__KEEP_BIT)) {
			cask__pool_put(r->pool, r->out[p], g->t[p].out_bytes);
			r->out[p] = NULL;
			release(r, p, cask__pool_round(g->t[p].out_bytes));
		}
	}
	if (r->uses[k] == 0 && !(t->label & CASK__KEEP_BIT)) {
		cask__pool_put(r->pool, r->out[k], t->out_bytes);
		r->out[k] = NULL;
		release(r, k, cask__pool_round(t->out_bytes));
	}
	for (int64_t e = r->cons_off[k]; e < r->cons_off[k + 1]; e++) {
		int64_t c = r->cons[e];
		if (--r->pending[c] == 0)
			heap_push(r, r->prio[c]);
	}
	if (r->nwait > 0)
		pthread_cond_broadcast(&r->cv);
}

static void wait_a_bit(struct run *r)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += WAIT_NS;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	r->nwait++;
	pthread_cond_timedwait(&r->cv, &r->mu, &ts);
	r->nwait--;
}

/* Run the body of task k (no lock held).  Returns its rc. */
static int run_body(struct run *r, int64_t k, cask_task_env_t *env, const void **inp,
                    size_t *inb, double *busy, int64_t *executed)
{
	const cask_graph_t *g = r->g;
	const cask__task_t *t = &g->t[k];
	int rc = 0;
	env->shadow->msg[0] = '\0';
	if (atomic_load_explicit(&r->status, memory_order_relaxed) != 0)
		return 0; /* invariant 4: a failure happened after the pick */
	void *out = NULL;
	if (t->out_bytes > 0) {
		out = cask__pool_get(r->pool, t->out_bytes);
		if (out == NULL)
			return cask_task_error(env, CASK_ENOMEM,
			                       "task %" PRId64 " (%s): out of memory for a %zu-byte output",
			                       k, task_label(g, k), t->out_bytes);
	}
	/* Published under mu by complete(); the writes of producers happen
	 * before their completion, which happened before this pick. */
	r->out[k] = out;
	const int64_t *in = g->in + t->in_off;
	for (int i = 0; i < t->ninputs; i++) {
		inp[i] = r->out[in[i]];
		inb[i] = g->t[in[i]].out_bytes;
	}
	env->id = k;
	env->scratch_bytes = t->scratch_bytes;
	env->scratch = NULL;
	env->scratch_used = 0;
	double t0 = coarse_now();
	(*executed)++;
	rc = t->fn(t->user, t->index, inp, inb, t->ninputs, out, t->out_bytes, env);
	*busy += coarse_now() - t0;
	if (env->scratch != NULL)
		cask__pool_put(r->pool, env->scratch, t->scratch_bytes);
	env->scratch = NULL;
	if (rc > 0)
		rc = CASK_EUSER;
	return rc;
}

/* One worker's loop (see the file comment). */
static void worker(struct run *r)
{
	double busy = 0;
	int64_t executed = 0;
	/* Everything in r is read under mu (see cask_graph_run on why). */
	pthread_mutex_lock(&r->mu);
	cask_ctx_t *ctx = r->ctx;
	const cask_graph_t *g = r->g;
	cask_ctx_t *shadow = malloc(sizeof *shadow);
	const void **inp = malloc(((size_t)r->max_inputs + 1) * sizeof *inp);
	size_t *inb = malloc(((size_t)r->max_inputs + 1) * sizeof *inb);
	if (shadow == NULL || inp == NULL || inb == NULL) {
		fail(r, CASK_ENOMEM, "out of memory starting a worker thread");
		goto out;
	}
	/* Not cancel: a task may be calling cask_ctx_cancel on ctx now. */
	memcpy(shadow, ctx, offsetof(cask_ctx_t, cancel));
	memset(&shadow->stats, 0, sizeof shadow->stats);
	shadow->msg[0] = '\0';
	shadow->pool = ctx->pool;
	shadow->pool_free = NULL;
	shadow->progress = NULL;
	shadow->cancel = 0;
	atomic_init(&shadow->bytes_read, 0);
	atomic_init(&shadow->bytes_written, 0);
	cask_task_env_t env = {.r = r, .shadow = shadow};
	int64_t prev = -1;
	int prev_rc = 0;
	for (;;) {
		if (prev >= 0) {
			complete(r, prev, prev_rc, shadow);
			prev = -1;
		}
		if (atomic_load(&r->status) != 0 || r->done == r->n)
			break;
		if (ctx->cancel) {
			fail(r, CASK_ECANCELED, "cancelled by cask_ctx_cancel");
			break;
		}
		if (ctx->progress != NULL && !r->progress_busy) {
			double tnow = coarse_now();
			if (tnow - r->last_progress >= PROGRESS_PERIOD) {
				int64_t done = r->done;
				r->progress_busy = 1;
				r->last_progress = tnow;
				pthread_mutex_unlock(&r->mu);
				int stop = ctx->progress(ctx->progress_user, done, r->n);
				pthread_mutex_lock(&r->mu);
				r->progress_busy = 0;
				if (stop != 0) {
					fail(r, CASK_ECANCELED, "cancelled by the progress callback");
					break;
				}
				continue;
			}
		}
		if (ready_empty(r)) {
			if (r->running == 0) {
				fail(r, CASK_EINTERNAL, "scheduler: no task ready and none running");
				break;
			}
			wait_a_bit(r);
			continue;
		}
		int64_t k = r->order[ready_top(r)];
		size_t need = task_need(g, k);
		int fits = add_sat(r->reserved, need) <= r->budget;
		/* Run-ahead must leave room for the one-thread order (invariant 3). */
		if (fits && r->prio[k] != r->first)
			fits = add_sat(add_sat(r->sufmax[r->first], r->ahead), need) <= r->budget;
		/* The read-ahead depth (cask_ctx_set_io) bounds it in tasks too. */
		if (fits && ctx->readahead > 0 && r->prio[k] - r->first > ctx->readahead) {
			wait_a_bit(r);
			continue;
		}
		if (!fits) {
			if (r->running == 0) {
				char msg[512];
				snprintf(msg, sizeof msg,
				         "task %" PRId64 " (%s) needs %.1f MiB but only %.1f MiB of the "
				         "%.1f MiB memory budget are free: the rest holds outputs "
				         "waiting for their consumers",
				         k, task_label(g, k), (double)need / MIB,
				         (double)(r->budget - r->reserved) / MIB, (double)r->budget / MIB);
				fail(r, CASK_EBUDGET, msg);
				break;
			}
			wait_a_bit(r);
			continue;
		}
		ready_pop(r);
		r->reserved += need;
		if (r->reserved > r->peak)
			r->peak = r->reserved;
		r->resv[k] = need;
		r->started[k] = 1;
		if (r->prio[k] != r->first) {
			r->ahead += need;
		} else {
			/* Tasks started ahead that k's start leaves behind stop counting. */
			while (++r->first < r->n && r->started[r->order[r->first]])
				r->ahead -= r->resv[r->order[r->first]];
		}
		r->running++;
		pthread_mutex_unlock(&r->mu);
		prev_rc = run_body(r, k, &env, inp, inb, &busy, &executed);
		prev = k;
		pthread_mutex_lock(&r->mu);
	}
	/* Publish this worker's byte counters on the caller's context. */
	atomic_fetch_add(&ctx->bytes_read, atomic_load(&shadow->bytes_read));
	atomic_fetch_add(&ctx->bytes_written, atomic_load(&shadow->bytes_written));
out:
	r->compute_seconds += busy;
	r->executed += executed;
	pthread_mutex_unlock(&r->mu);
	free(shadow);
	free(inp);
	free(inb);
}

/* ---------------------------------------------------------------- run */

/* Keep the kept outputs on the graph (sorted by id, pool retained) and free
 * every other output still alive. */
static int settle_outputs(struct run *r, int ok)
{
	cask_graph_t *g = r->g;
	int64_t nkeep = 0;
	for (int64_t k = 0; k < r->n; k++)
		nkeep += ok && (g->t[k].label & CASK__KEEP_BIT) != 0;
	cask__kept_t *kept = NULL;
	if (nkeep > 0 && (kept = malloc((size_t)nkeep * sizeof *kept)) == NULL)
		ok = 0;
	int64_t j = 0;
	for (int64_t k = 0; k < r->n; k++) {
		if (ok && (g->t[k].label & CASK__KEEP_BIT)) {
			kept[j].id = k;
			kept[j++].ptr = r->out[k];
		} else if (r->out[k] != NULL) {
			cask__pool_put(r->pool, r->out[k], g->t[k].out_bytes);
		}
		r->out[k] = NULL;
	}
	if (ok && nkeep > 0) {
		g->kept = kept;
		g->nkept = nkeep;
		cask__pool_retain(r->pool);
		g->kept_pool = r->pool;
	}
	return ok || nkeep == 0 ? 0 : CASK_ENOMEM;
}

static void destroy_pool(void *p)
{
	cask__pool_destroy(p);
}

/* cask_graph_run of a non-NULL ctx and g. */
static int graph_run(cask_ctx_t *ctx, cask_graph_t *g);

int cask_graph_run(cask_ctx_t *ctx, cask_graph_t *g)
{
	int rc = CASK__CHECK_PTRS(ctx, ctx, g);
	if (rc != 0)
		return rc;
	cask__call_begin(ctx);
	rc = graph_run(ctx, g);
	/* A cancel request ends with the call it stopped (or that ignored it):
	 * this graph, or the public call running it. */
	cask__call_end(ctx);
	return rc;
}

static int graph_run(cask_ctx_t *ctx, cask_graph_t *g)
{
	int rc = 0;
	struct run r;
	memset(&r, 0, sizeof r);
	int locks = 0;
	double t0 = now(), io0 = cask__io_seconds ? cask__io_seconds() : 0;
	ctx->msg[0] = '\0';
	cask__graph_drop_outputs(g);
	if (ctx->pool == NULL) {
		cask__pool_t *p;
		if (cask__pool_create(ctx->budget, &p) != 0) {
			rc = cask__error(ctx, CASK_ENOMEM, "out of memory creating the buffer pool");
			goto out;
		}
		ctx->pool = p;
		ctx->pool_free = destroy_pool;
	}
	r.ctx = ctx;
	r.g = g;
	r.pool = ctx->pool;
	r.n = g->n;
	r.budget = ctx->budget;
	cask__pool_set_budget(r.pool, r.budget);
	/* Held before anything runs: kept outputs of other graphs in the pool,
	 * the HDF5 chunk caches of open inputs (cask_ctx_set_io) and the staging
	 * buffers of direct writes to open outputs. */
	size_t cache = cask__io_cache_bytes ? cask__io_cache_bytes() : 0;
	size_t base = cask__pool_in_use(r.pool) + cache;
	if (r.n == 0)
		goto out;
	rc = plan(&r, base);
	if (rc != 0) {
		rc = cask__error(ctx, rc, "%s planning a %" PRId64 "-task graph",
		                 rc == CASK_ENOMEM ? "out of memory" : "internal error", r.n);
		goto out;
	}
	if (r.too_big >= 0) {
		int64_t k = r.too_big;
		char nb[64], bb[64];
		rc = cask__error(ctx, CASK_EBUDGET,
		                 "task %" PRId64 " (%s) needs %s but the memory budget is %s",
		                 k, task_label(g, k),
		                 mib_vs(nb, sizeof nb, r.too_big_need, r.budget),
		                 mib_vs(bb, sizeof bb, r.budget, r.too_big_need));
		if (base > 0)
			cask__error_append(ctx, " (%.1f MiB of it held by kept outputs and "
			                   "%.1f MiB by chunk caches and write buffers)",
			                   (double)(base - cache) / MIB, (double)cache / MIB);
		goto out;
	}
	if (r.sufmax[0] > r.budget) {
		int64_t k = r.order[r.peak_pos];
		char nb[64], bb[64];
		rc = cask__error(ctx, CASK_EBUDGET,
		                 "the graph needs %s at its peak (when task %" PRId64
		                 " (%s) runs, in the scheduler's order) but the memory budget is %s",
		                 mib_vs(nb, sizeof nb, r.sufmax[0], r.budget), k,
		                 task_label(g, k), mib_vs(bb, sizeof bb, r.budget, r.sufmax[0]));
		goto out;
	}
	pthread_condattr_t ca;
	if (pthread_mutex_init(&r.mu, NULL) != 0) {
		rc = cask__error(ctx, CASK_ENOMEM, "cannot create the scheduler lock");
		goto out;
	}
	locks = 1;
	if (pthread_condattr_init(&ca) != 0 ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&r.cv, &ca) != 0) {
		rc = cask__error(ctx, CASK_ENOMEM, "cannot create the scheduler condition");
		goto out;
	}
	pthread_condattr_destroy(&ca);
	locks = 2;
	r.reserved = base;
	r.peak = base;
	r.last_progress = coarse_now();
	atomic_init(&r.status, 0);
	int nt = ctx->threads < 1 ? 1 : ctx->threads;
	if ((int64_t)nt > r.n)
		nt = (int)r.n;
	/* Every worker starts and ends holding mu, so this unlock before the
	 * team and the lock after it order the caller's accesses with the
	 * workers' in a way ThreadSanitizer sees (libgomp is not instrumented,
	 * so its fork and join barriers are invisible to it). */
	pthread_mutex_lock(&r.mu);
	pthread_mutex_unlock(&r.mu);
#pragma omp parallel num_threads(nt)
	worker(&r);
	pthread_mutex_lock(&r.mu);
	pthread_mutex_unlock(&r.mu);
	rc = atomic_load(&r.status);
	if (settle_outputs(&r, rc == 0) != 0)
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory keeping task outputs");
	if (rc == 0 && ctx->progress != NULL)
		ctx->progress(ctx->progress_user, r.n, r.n);
out:
	if (ctx != NULL) {
		ctx->stats.tasks_run += r.executed;
		ctx->stats.tasks_total += r.n;
		if (r.peak > ctx->stats.peak_memory)
			ctx->stats.peak_memory = r.peak;
		ctx->stats.compute_seconds += r.compute_seconds;
		ctx->stats.wall_seconds += now() - t0;
		if (cask__io_seconds)
			ctx->stats.io_seconds += cask__io_seconds() - io0;
	}
	if (locks >= 2)
		pthread_cond_destroy(&r.cv);
	if (locks >= 1)
		pthread_mutex_destroy(&r.mu);
	free_run(&r);
	return rc;
}
