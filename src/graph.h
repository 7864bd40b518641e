/*
 * graph.h - the task graph's representation, shared by graph.c (building,
 * dumping, kept outputs) and sched.c (running).  A plain data structure:
 * one 56-byte record per task plus one int64 per input edge; consumers are
 * derived by the scheduler at run time.
 */
#ifndef CASK_GRAPH_H
#define CASK_GRAPH_H

#include <stdint.h>

#include "cask.h"

#define CASK__KEEP_BIT 0x80000000u

typedef struct {
	cask_task_fn fn;
	void *user;
	int64_t index;
	size_t out_bytes;
	size_t scratch_bytes;
	int64_t in_off;  /* first input id in cask_graph.in */
	int32_t ninputs;
	uint32_t label;  /* label number | CASK__KEEP_BIT when keep */
} cask__task_t;

typedef struct {
	int64_t id;
	void *ptr;
} cask__kept_t;

struct cask_graph {
	cask_ctx_t *ctx;          /* borrowed: messages of add/dump */
	cask__task_t *t;
	int64_t n, cap;
	int64_t *in;              /* flat input ids, task k's at t[k].in_off */
	int64_t nin, incap;
	char **labels;            /* interned labels; labels[0] is "" */
	uint32_t nlabels, labcap;
	uint32_t *lhash;          /* open addressing: label number + 1, 0 empty */
	uint32_t lhcap;
	uint64_t bytes, max_task_bytes;
	/* Outputs of keep tasks after a successful run, sorted by id; they are
	 * pool buffers, so the graph holds a reference on that pool. */
	cask__kept_t *kept;
	int64_t nkept;
	void *kept_pool;
	/* Data the graph owns (cask__graph_own in engine.h): freed on destroy. */
	void (*owned_free)(void *);
	void *owned;
};

/* The label of task id ("" if none). */
const char *cask__graph_label(const cask_graph_t *g, int64_t id);
/* Give the kept outputs of the last run back to their pool. */
void cask__graph_drop_outputs(cask_graph_t *g);

#endif
