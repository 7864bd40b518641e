/*
 * graph.c - building, inspecting and dumping task graphs (cask_graph_*), and
 * the outputs a run keeps.  Running is in sched.c.
 *
 * A graph is an append-only array of task records (graph.h) with one flat
 * array of input ids.  Inputs must name earlier tasks, so the graph is
 * acyclic by construction and ids are a topological order.  Labels are
 * interned (most graphs repeat a handful of labels), which keeps a task at
 * 56 bytes plus 8 per input.  Byte totals and the largest working set are
 * kept up to date on each add, so they cost nothing later.
 */
#include "graph.h"
#include "engine.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "pool.h"

int cask_graph_create(cask_ctx_t *ctx, cask_graph_t **out)
{
	int rc = 0;
	cask_graph_t *g = NULL;
	rc = CASK__CHECK_PTRS(ctx, ctx, out);
	if (rc != 0)
		goto out;
	g = calloc(1, sizeof *g);
	if (g == NULL) {
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory creating a graph");
		goto out;
	}
	g->ctx = ctx;
	g->labels = malloc(8 * sizeof *g->labels);
	g->lhash = calloc(16, sizeof *g->lhash);
	if (g->labels == NULL || g->lhash == NULL || (g->labels[0] = strdup("")) == NULL) {
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory creating a graph");
		goto out;
	}
	g->nlabels = 1;
	g->labcap = 8;
	g->lhcap = 16;
	*out = g;
	g = NULL;
out:
	if (g != NULL) {
		free(g->lhash);
		free(g->labels);
		free(g);
	}
	return rc;
}

void cask__graph_drop_outputs(cask_graph_t *g)
{
	for (int64_t i = 0; i < g->nkept; i++)
		cask__pool_put(g->kept_pool, g->kept[i].ptr, g->t[g->kept[i].id].out_bytes);
	free(g->kept);
	g->kept = NULL;
	g->nkept = 0;
	cask__pool_destroy(g->kept_pool);
	g->kept_pool = NULL;
}

void cask_graph_destroy(cask_graph_t *g)
{
	if (g == NULL)
		return;
	cask__graph_drop_outputs(g);
	if (g->owned_free != NULL)
		g->owned_free(g->owned);
	for (uint32_t i = 0; i < g->nlabels; i++)
		free(g->labels[i]);
	free(g->labels);
	free(g->lhash);
	free(g->in);
	free(g->t);
	free(g);
}

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The number of label s, interning it if new.  0 or CASK_ENOMEM/EOVERFLOW. */
static int intern(cask_graph_t *g, const char *s, uint32_t *out)
{
	if (s == NULL || *s == '\0') {
		*out = 0;
		return 0;
	}
	uint32_t h = hash_str(s), mask = g->lhcap - 1;
	for (uint32_t i = h & mask;; i = (i + 1) & mask) {
		uint32_t e = g->lhash[i];
		if (e == 0)
			break;
		if (strcmp(g->labels[e - 1], s) == 0) {
			*out = e - 1;
			return 0;
		}
	}
	if (g->nlabels >= (CASK__KEEP_BIT >> 1))
		return CASK_EOVERFLOW;
	if (g->nlabels == g->labcap) {
		char **l = realloc(g->labels, 2 * (size_t)g->labcap * sizeof *l);
		if (l == NULL)
			return CASK_ENOMEM;
		g->labels = l;
		g->labcap *= 2;
	}
	char *copy = strdup(s);
	if (copy == NULL)
		return CASK_ENOMEM;
	/* Keep the table at most half full: rebuild at twice the size. */
	if (2 * (g->nlabels + 1) > g->lhcap) {
		uint32_t cap = g->lhcap * 2;
		uint32_t *t = calloc(cap, sizeof *t);
		if (t == NULL) {
			free(copy);
			return CASK_ENOMEM;
		}
		for (uint32_t k = 1; k < g->nlabels; k++) {
			uint32_t j = hash_str(g->labels[k]) & (cap - 1);
			while (t[j] != 0)
				j = (j + 1) & (cap - 1);
			t[j] = k + 1;
		}
		free(g->lhash);
		g->lhash = t;
		g->lhcap = cap;
		mask = cap - 1;
	}
	uint32_t k = g->nlabels++;
	g->labels[k] = copy;
	uint32_t j = h & mask;
	while (g->lhash[j] != 0)
		j = (j + 1) & mask;
	g->lhash[j] = k + 1;
	*out = k;
	return 0;
}

/* Saturating add for byte totals that are only reported. */
static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int cask_graph_add(cask_graph_t *g, const cask_task_spec_t *spec, int64_t *id)
{
	int rc = 0;
	if (g == NULL)
		return CASK_EINVAL;
	cask_ctx_t *ctx = g->ctx;
	rc = CASK__CHECK_PTRS(ctx, spec);
	if (rc == 0 && spec->fn == NULL)
		rc = cask__null_arg(ctx, __func__, "spec->fn");
	if (rc != 0)
		goto out;
	if (spec->ninputs < 0 || (spec->ninputs > 0 && spec->inputs == NULL)) {
		rc = cask__error(ctx, CASK_EINVAL, "cask_graph_add: task %" PRId64 " has %d inputs%s",
		                 g->n, spec->ninputs, spec->ninputs > 0 ? " but inputs is NULL" : "");
		goto out;
	}
	uint64_t work = sat_add(spec->out_bytes, spec->scratch_bytes);
	for (int i = 0; i < spec->ninputs; i++) {
		int64_t in = spec->inputs[i];
		if (in < 0 || in >= g->n) {
			rc = cask__error(ctx, CASK_EINVAL,
			                 "cask_graph_add: input %d of task %" PRId64 " is %" PRId64
			                 ", not an earlier task (0..%" PRId64 ")",
			                 i, g->n, in, g->n - 1);
			goto out;
		}
		/* An input listed twice is held once (as the scheduler counts it,
		 * checked for small fan-in). */
		int dup = 0;
		for (int j = 0; j < i && i < 32 && !dup; j++)
			dup = spec->inputs[j] == in;
		if (!dup)
			work = sat_add(work, g->t[in].out_bytes);
	}
	uint32_t label;
	rc = intern(g, spec->label, &label);
	if (rc != 0) {
		rc = cask__error(ctx, rc, "cask_graph_add: cannot store label of task %" PRId64, g->n);
		goto out;
	}
	if (g->n == g->cap) {
		int64_t cap = g->cap ? g->cap * 2 : 64;
		cask__task_t *t = realloc(g->t, (size_t)cap * sizeof *t);
		if (t == NULL) {
			rc = cask__error(ctx, CASK_ENOMEM, "out of memory adding task %" PRId64, g->n);
			goto out;
		}
		g->t = t;
		g->cap = cap;
	}
	/* Allocated with the first task even if it has no inputs: the scheduler
	 * forms g->in + in_off for every task, and NULL + 0 is undefined. */
	if (g->in == NULL || g->nin + spec->ninputs > g->incap) {
		int64_t cap = g->incap ? g->incap : 64;
		while (cap < g->nin + spec->ninputs)
			cap *= 2;
		int64_t *in = realloc(g->in, (size_t)cap * sizeof *in);
		if (in == NULL) {
			rc = cask__error(ctx, CASK_ENOMEM, "out of memory adding task %" PRId64, g->n);
			goto out;
		}
		g->in = in;
		g->incap = cap;
	}
	if (spec->ninputs > 0)
		memcpy(g->in + g->nin, spec->inputs, (size_t)spec->ninputs * sizeof *g->in);
	g->t[g->n] = (cask__task_t){
		.fn = spec->fn,
		.user = spec->user,
		.index = spec->index,
		.out_bytes = spec->out_bytes,
		.scratch_bytes = spec->scratch_bytes,
		.in_off = g->nin,
		.ninputs = spec->ninputs,
		.label = label | (spec->keep ? CASK__KEEP_BIT : 0),
	};
	g->nin += spec->ninputs;
	g->bytes = sat_add(g->bytes, sat_add(spec->out_bytes, spec->scratch_bytes));
	if (work > g->max_task_bytes)
		g->max_task_bytes = work;
	if (id != NULL)
		*id = g->n;
	g->n++;
out:
	return rc;
}

int64_t cask_graph_ntasks(const cask_graph_t *g) { return g != NULL ? g->n : 0; }

uint64_t cask_graph_bytes(const cask_graph_t *g) { return g != NULL ? g->bytes : 0; }

uint64_t cask_graph_max_task_bytes(const cask_graph_t *g)
{
	return g != NULL ? g->max_task_bytes : 0;
}

const char *cask__graph_label(const cask_graph_t *g, int64_t id)
{
	return g->labels[g->t[id].label & ~CASK__KEEP_BIT];
}

/* Write s as the inside of a DOT string (quotes and backslashes escaped). */
static void dot_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

int cask_graph_dump(const cask_graph_t *g, FILE *f, cask_dump_t format)
{
	int rc = 0;
	rc = CASK__CHECK_PTRS(g != NULL ? g->ctx : NULL, g, f);
	if (rc != 0)
		goto out;
	if (format != CASK_DUMP_TEXT && format != CASK_DUMP_DOT) {
		rc = cask__error(g->ctx, CASK_EINVAL, "cask_graph_dump: unknown format %d", (int)format);
		goto out;
	}
	if (format == CASK_DUMP_TEXT) {
		fprintf(f, "# cask graph: %" PRId64 " tasks, %" PRIu64 " bytes, max task %" PRIu64
		        " bytes\n", g->n, g->bytes, g->max_task_bytes);
		fprintf(f, "# id label index inputs out_bytes scratch_bytes [keep]\n");
		for (int64_t k = 0; k < g->n; k++) {
			const cask__task_t *t = &g->t[k];
			const char *l = cask__graph_label(g, k);
			fprintf(f, "%" PRId64 " %s %" PRId64 " [", k, *l ? l : "-", t->index);
			for (int i = 0; i < t->ninputs; i++)
				fprintf(f, i ? ",%" PRId64 : "%" PRId64, g->in[t->in_off + i]);
			fprintf(f, "] %zu %zu%s\n", t->out_bytes, t->scratch_bytes,
			        (t->label & CASK__KEEP_BIT) ? " keep" : "");
		}
	} else {
		fprintf(f, "digraph cask {\n  // %" PRId64 " tasks, %" PRIu64 " bytes, max task %"
		        PRIu64 " bytes\n  node [shape=box];\n", g->n, g->bytes, g->max_task_bytes);
		for (int64_t k = 0; k < g->n; k++) {
			const cask__task_t *t = &g->t[k];
			fprintf(f, "  t%" PRId64 " [label=\"%" PRId64 " ", k, k);
			dot_escape(f, cask__graph_label(g, k));
			fprintf(f, "\\n%zu B\"%s];\n", t->out_bytes,
			        (t->label & CASK__KEEP_BIT) ? ", peripheries=2" : "");
			for (int i = 0; i < t->ninputs; i++)
				fprintf(f, "  t%" PRId64 " -> t%" PRId64 ";\n", g->in[t->in_off + i], k);
		}
		fprintf(f, "}\n");
	}
	if (fflush(f) != 0 || ferror(f))
		rc = cask__error(g->ctx, CASK_EIO, "cask_graph_dump: write error");
out:
	return rc;
}

const void *cask_graph_output(const cask_graph_t *g, int64_t id, size_t *bytes)
{
	if (g == NULL)
		return NULL;
	int64_t lo = 0, hi = g->nkept;
	while (lo < hi) {
		int64_t mid = lo + (hi - lo) / 2;
		if (g->kept[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == g->nkept || g->kept[lo].id != id)
		return NULL;
	if (bytes != NULL)
		*bytes = g->t[id].out_bytes;
	return g->kept[lo].ptr;
}

int cask__graph_own(cask_graph_t *g, void (*free_fn)(void *), void *p)
{
	if (g->owned_free != NULL)
		return CASK_EINVAL;
	g->owned_free = free_fn;
	g->owned = p;
	return 0;
}
