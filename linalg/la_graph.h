/*
 * la_graph.h - internals shared by the out-of-core linear algebra graph
 * builders (tsqr.c, svd.c, matmul.c): the TSQR graph engine, where pass-2
 * row blocks go (sinks), output transactions and input preparation.
 */
#ifndef CASK_LA_GRAPH_H
#define CASK_LA_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "array.h"
#include "io.h"

/* Declared here because Debian's cblas.h does not expose it in every
 * OpenBLAS flavour; it exists in the pthread build we link. */
void openblas_set_num_threads(int n);

/* What a TSQR run produces. */
enum { CASK__LA_R = 0, CASK__LA_Q, CASK__LA_SVD, CASK__LA_LSTSQ };

/* Where the rows of Q (or U) computed in pass 2 go: a dataset and/or caller
 * memory.  Block rows [r0, r0 + rows) x [0, cols) of the m x ncols factor
 * are written; with trans the destination is the cols x m transpose (rows
 * become columns).  Memory is row-major of dtype. */
typedef struct {
	cask__h5out_t *h5; /* NULL or an open output dataset (borrowed) */
	void *buf;         /* NULL or caller memory (borrowed) */
	cask_dtype_t dtype;
	int trans;
	int64_t cols;      /* leading columns kept (<= n); 0 means n */
} cask__la_sink_t;

/* One TSQR run (see tsqr.c for the task graph). */
typedef struct {
	int mode;          /* CASK__LA_* */
	cask_array_t *a;   /* m x n, m >= n >= 1, float32 or float64 (borrowed) */
	cask_array_t *b;   /* LSTSQ: m x nrhs float64 (borrowed) */
	const char *what;  /* names A in messages ("f.h5:/A") */
	int a_trans;       /* a is the transpose of what names: messages swap
	                    * rows and columns */
	cask__la_sink_t sink; /* Q / SVD: pass-2 target (no target: no pass 2) */
	double *r;         /* NULL or n x n row-major R with diag >= 0 */
	double *s, *vt;    /* SVD: NULL or n, n x n row-major */
	double *u_small;   /* SVD: NULL or n x n row-major U_R (the root's U) */
	double *x, *rnorm; /* LSTSQ: n x nrhs row-major, nrhs */
	double rcond;      /* LSTSQ: singular values of A <= rcond * s_max count
	                    * as zero (< 0: eps * max(m, n), NumPy's default) */
	int64_t *rank;     /* LSTSQ: NULL or the effective rank of A */
	int64_t leaf_rows; /* 0: choose; else the leaf height (tests) */
} cask__la_tsqr_req_t;

/* Build and run the TSQR graph of req on ctx.  0 or CASK_E* with a message
 * naming req->what. */
int cask__la_tsqr_run(cask_ctx_t *ctx, const cask__la_tsqr_req_t *req);

/* Output transactions of one call: one per distinct file. */
#define CASK__LA_MAXTXN 8
typedef struct {
	int n;
	const char *path[CASK__LA_MAXTXN];
	cask__h5txn_t *txn[CASK__LA_MAXTXN];
} cask__la_txns_t;

/* CASK_EINVAL with a message if two of the n outputs st[i] (NULL: absent),
 * called names[i] ("R", "Q"), are the same dataset of the same file (the
 * second would silently replace the first). */
int cask__la_distinct_outputs(cask_ctx_t *ctx, int n, const cask_store_t *const *st,
	const char *const *names);

/* Create opt's dataset (shape, dtype; opt->chunks or else defchunks). */
int cask__la_out_create(cask_ctx_t *ctx, cask__la_txns_t *t, const cask_store_t *opt,
	cask_dtype_t dtype, int ndim, const int64_t *shape, const int64_t *defchunks,
	cask__h5out_t **out);
/* Write a whole small dataset from memory (C order). */
int cask__la_out_write_all(cask_ctx_t *ctx, cask__h5out_t *o, int ndim, const int64_t *shape,
	const void *buf);
int cask__la_out_commit(cask_ctx_t *ctx, cask__la_txns_t *t);
void cask__la_out_abort(cask__la_txns_t *t);

/* Check that a is a 2-d array usable by linalg (no unmaterialised
 * reduction inside), and return in *out a new reference to it as float32
 * or float64 (integers and bool are cast to float64). */
int cask__la_prepare(cask_ctx_t *ctx, cask_array_t *a, const char *role, cask_array_t **out);
/* "file.h5:/dset" of the first dataset a reads, or "the input array". */
void cask__la_describe(const cask_array_t *a, char *buf, size_t len);

/* Z = A^T (A X) in one pass over A (matmul.c): X n x l row-major float64
 * (borrowed), *out an in-memory n x l array; y NULL or m x l row-major
 * memory that receives Y = A X. */
int cask__la_ata_x(cask_ctx_t *ctx, cask_array_t *a, const double *x, int64_t l, double *y,
	cask_array_t **out);

/* An in-memory 2-d float64 array owning data (taken: freed with the
 * array, by free()). */
int cask__la_owned_array(cask_ctx_t *ctx, int64_t rows, int64_t cols, double *data,
	cask_array_t **out);

#endif
