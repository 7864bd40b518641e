/*
 * ctx.h - the context internals shared by the core modules: error message,
 * budget, threads, stats.  Cross-file internals use the cask__ prefix.
 */
#ifndef CASK_CTX_H
#define CASK_CTX_H

#include <stdarg.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "cask.h"

#define CASK__MSG_MAX 4096

struct cask_ctx {
	char msg[CASK__MSG_MAX];
	size_t budget;
	size_t task_bytes; /* cask_ctx_set_task_bytes */
	int io_lanes;      /* cask_ctx_set_io: 0 = one per thread */
	int readahead;     /* 0 = as far as the budget allows */
	size_t chunk_cache;
	int threads;
	int allow_external;
	cask_progress_fn progress;
	void *progress_user;
	/* Public calls running on the context (cask__call_begin/end: calls
	 * nest, e.g. cask_svd_randomized -> cask_store -> cask_graph_run). */
	int calls;
	_Atomic int cancel; /* set from any thread or a signal handler (lock-free) */
	/* statistics (updated by the scheduler under its lock, or atomically) */
	cask_stats_t stats;
	_Atomic uint64_t bytes_read, bytes_written;
	/* The scheduler's buffer pool (src/pool.h), kept across runs so pages
	 * are reused; created by the first cask_graph_run, released with
	 * pool_free (a pointer so ctx.c does not depend on pool.c). */
	void *pool;
	void (*pool_free)(void *pool);
};

/* Set ctx's message (printf-style) and return rc, so callers write
 * `rc = cask__error(ctx, CASK_EINVAL, "...");`.  ctx may be NULL. */
int cask__error(cask_ctx_t *ctx, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int cask__verror(cask_ctx_t *ctx, int rc, const char *fmt, va_list ap);
/* Append text to ctx's message (e.g. the HDF5 error stack). */
void cask__error_append(cask_ctx_t *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Every public function that may run graphs brackets its work with these
 * (ctx not NULL).  A cancel request (cask_ctx_cancel) stays set until the
 * outermost call ends, so one that lands after a graph's last check for it
 * (in its last task, or between two graphs) stops the call's next graph
 * instead of being cleared with the graph that ignored it. */
static inline void cask__call_begin(cask_ctx_t *ctx)
{
	ctx->calls++;
}

static inline void cask__call_end(cask_ctx_t *ctx)
{
	if (--ctx->calls <= 0) {
		ctx->calls = 0;
		ctx->cancel = 0;
	}
}

/* Argument checks at the public entry points (only there: never on a hot
 * path).  cask__null_arg sets "<fn>: NULL <name>" on ctx and returns
 * CASK_EINVAL (with ctx NULL there is nowhere to put the message: only the
 * code).  CASK__CHECK_PTRS(ctx, p1, p2, ...) is 0 when every pointer p is
 * non-NULL, else cask__null_arg for the first NULL one, named as written in
 * the call and prefixed with the calling function's __func__.  It is an
 * expression, not a hidden return:
 *     int rc = CASK__CHECK_PTRS(ctx, ctx, a, out);
 *     if (rc != 0)
 *         return rc;
 * The pointers are object pointers (check function pointers with
 * cask__null_arg) and the arguments must not contain commas. */
int cask__null_arg(cask_ctx_t *ctx, const char *fn, const char *name);
int cask__check_ptrs(cask_ctx_t *ctx, const char *fn, const char *names, int n,
                     const void *const *p);
#define CASK__CHECK_PTRS(ctx, ...)                                                           \
	cask__check_ptrs((ctx), __func__, #__VA_ARGS__,                                         \
	                 (int)(sizeof((const void *const[]){__VA_ARGS__}) / sizeof(const void *)), \
	                 (const void *const[]){__VA_ARGS__})

/* Checked arithmetic: 0 on success, CASK_EOVERFLOW on overflow (no message). */
int cask__mul_i64(int64_t a, int64_t b, int64_t *out);
int cask__mul_size(size_t a, size_t b, size_t *out);
/* Product of n extents (1 for n == 0), overflow-checked. */
int cask__prod_i64(int n, const int64_t *v, int64_t *out);

#endif

/* dtype classes */
int cask__dtype_is_float(cask_dtype_t t);
int cask__dtype_is_signed(cask_dtype_t t);
int cask__dtype_is_unsigned(cask_dtype_t t);
