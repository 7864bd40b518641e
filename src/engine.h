/*
 * engine.h - internal entry points of the array engine for other modules
 * (linalg/, filters, the store path).  Arrays are evaluated region by region
 * inside graph tasks; see docs/ARCHITECTURE.md.
 */
#ifndef CASK_ENGINE_H
#define CASK_ENGINE_H

#include "cask.h"

/* Scratch bytes cask__eval_region needs for region [start, start+count) of
 * a (excluding the output buffer itself). */
int cask__eval_region_bytes(cask_ctx_t *ctx, cask_array_t *a, const int64_t *start,
                            const int64_t *count, size_t *out);

/* Evaluate region [start, start+count) of a into buf (C order, a's dtype),
 * inside a task: temporaries come from cask_task_scratch(env, ...), so the
 * task must have been created with scratch_bytes >= the value above.
 * Arrays that need a materialised input (a reduction consumed elementwise)
 * must have been prepared by cask__prepare first. */
int cask__eval_region(cask_task_env_t *env, cask_array_t *a, const int64_t *start,
                      const int64_t *count, void *buf);

/* The context a task runs under (for io.h calls and messages). */
cask_ctx_t *cask__task_ctx(cask_task_env_t *env);

/* Make the graph own p: free_fn(p) runs in cask_graph_destroy (graph.c). */
int cask__graph_own(cask_graph_t *g, void (*free_fn)(void *), void *p);

/* While set on a thread, cask__error() writes messages here (a task-local
 * buffer of CASK__MSG_MAX bytes) instead of the shared context, so
 * concurrent tasks do not garble each other's messages. */
extern _Thread_local char *cask__tls_msg;

#endif
