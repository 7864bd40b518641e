/*
 * linalg.h - the in-memory numerical core of cask's linear algebra: the
 * per-task kernels of tall-skinny QR (TSQR), the SVD and least squares built
 * on it, and the row-block pieces of randomized SVD and matmul.  These know
 * nothing of the engine, HDF5 or threads; the graph builders (tsqr.c, svd.c,
 * matmul.c) call one function per task.  tsqr_mem.c is an in-memory
 * reference driver with exactly the graph's task decomposition.
 *
 * Conventions (every function):
 *  - Dimensions first, then inputs and outputs, each with an explicit leading
 *    dimension, then the caller's workspace; a companion *_work function
 *    says how many bytes of workspace a call needs.  Nothing allocates.
 *  - Returns 0, CASK_EINVAL (bad dimensions, non-finite input),
 *    CASK_EOVERFLOW (a dimension beyond LAPACK's 32-bit integers or a size
 *    overflowing size_t), CASK_ETYPE (dtype not float32/float64) or
 *    CASK_EINTERNAL (LAPACK reported info != 0).  No messages: the caller
 *    adds the context (dataset, block).  Outputs are unspecified on error.
 *  - Blocks of A (and of Q, U, b) are ROW-MAJOR as cask stores them, of dtype
 *    CASK_FLOAT64 or CASK_FLOAT32.  float32 is PROMOTED to float64 when a
 *    block is loaded (all arithmetic is double; a float32 Q is rounded once
 *    when stored).  Small factors passed between tasks (R, V, T, Y, c) are
 *    COLUMN-MAJOR double n x n (or n x k) with leading dimension n, the
 *    layout LAPACK works in; tasks treat them as opaque buffers.
 *  - Row blocks are transpose-copied into a column-major workspace and
 *    factored with dgeqrt / dtpqrt (inner block cask__la_ib(n)).
 *    Measured here (n = 64, one thread, same ib): this ran at about
 *    6.5 GF/s, LQ on the row-major buffer (dgelqt / dtplqt, which LAPACKE
 *    3.11 does not even declare) at about 3.5 GF/s, so the copy wins and
 *    also does the float32 promotion and the finiteness check for free.
 *  - One BLAS thread per call is the caller's business
 *    (openblas_set_num_threads(1) in the engine).  Results are
 *    deterministic: same inputs, same tree, same bits.
 *
 * TSQR in tasks (see tsqr_mem.c for the full blueprint):
 *  pass 1  leaf:  a leaf is one or more consecutive row blocks; the first
 *                 has >= n rows (a ragged tail with fewer than n rows joins
 *                 the previous leaf).  cask__la_tsqr_leaf_r -> R (n x n).
 *          fold:  F child R's -> one R plus F-1 tree factors (V: n x n,
 *                 T: ib x n), cask__la_tsqr_fold.
 *          root:  cask__la_r_finish -> R with diag(R) >= 0, signs.
 *  pass 2  root:  Y = diag(signs) (Q), or U_R from cask__la_svd (U).
 *          fold:  cask__la_tsqr_fold_apply: parent Y -> F child Y's.
 *          leaf:  cask__la_tsqr_leaf_q: re-read the blocks, recompute the
 *                 leaf's QR, Q rows = Q_leaf [Y; 0].
 */
#ifndef CASK_LINALG_H
#define CASK_LINALG_H

#include <stddef.h>
#include <stdint.h>

#include "cask.h"

/* Inner block size (ib) of dgeqrt / dtpqrt for n columns; T factors are
 * ib x n.  Measured here (streaming dtpqrt, one thread, CPU-time GF/s):
 * n = 16: ib 8 3.9, 16 3.6; n = 256: ib 8 8.6, 16 10.6, 32 10.9.  At
 * n = 32 ib 8 won (5.9 vs 4.9 at 4096-row blocks); at n = 64 ib 16 beat 8
 * by 3-10% (bench/la_kernels.c, 100,000 x 64 in 1k-8k-row blocks: 7.2-10
 * vs 7.1-9.0 GF/s on a loaded machine; whole R-only W5 runs 4.9 vs 5.1
 * CPU-s) and 32 lost (6-9 GF/s).  So 8 below n = 48, 16 up to 160, then
 * 32, never more than n. */
int64_t cask__la_ib(int64_t n);

/* --------------------------------------------------- block layout moves */

/* Transpose-copy a row-major rows x n block a (dtype dt, leading dim lda)
 * into column-major double w (leading dim ldw >= rows), promoting float32.
 * CASK_EINVAL if a value is NaN or infinite. */
int cask__la_block_load(int64_t rows, int64_t n, cask_dtype_t dt, const void *a,
	int64_t lda, double *w, int64_t ldw);
/* The inverse: column-major double w (rows x n) -> row-major out of dtype dt. */
int cask__la_block_store(int64_t rows, int64_t n, const double *w, int64_t ldw,
	cask_dtype_t dt, void *out, int64_t ldo);

/* ------------------------------------------------- LAPACK-level kernels */

/* Workspace bytes for the QR kernels below applied to up to ncols columns:
 * ib * max(n, ncols) doubles. */
int cask__la_qr_work(int64_t n, int64_t ncols, size_t *bytes);

/* Householder QR of the column-major rows x n block w (rows >= n >= 1):
 * w becomes V (below the diagonal), t (ib x n, ldt >= ib) the block
 * reflector factors, and r (n x n, ldr >= n) the upper triangle, zeros
 * below. */
int cask__la_qr_first(int64_t rows, int64_t n, double *w, int64_t ldw, double *t,
	int64_t ldt, double *r, int64_t ldr, double *work);
/* Fold the next block into R (dtpqrt, l = 0): [r; w] = Q [r'; 0] with w
 * rows x n (any rows >= 0); w becomes V, t the T factor, r is updated.
 * dtpqrt's blocking, with each panel of ib columns factored by
 * cask_k_tpqr_panel (kernels/houseqr.c) instead of LAPACK's dtpqrt2 (its
 * dnrm2, dgemv and dger took a third of R-only TSQR's CPU time; R-only W5
 * 1.42-1.67 -> 1.19-1.29 user CPU-s) and LAPACK's dtprfb for the rest. */
int cask__la_qr_fold_block(int64_t rows, int64_t n, double *r, int64_t ldr, double *w,
	int64_t ldw, double *t, int64_t ldt, double *work);
/* Merge two upper triangular factors (dtpqrt, l = n): [r; r2] = Q [r'; 0];
 * r2's strictly lower part is ignored; r2 becomes V (upper triangular),
 * t the T factor, r the merged R. */
int cask__la_qr_fold_r(int64_t n, double *r, int64_t ldr, double *r2, int64_t ldr2,
	double *t, int64_t ldt, double *work);

/* Apply the Q of cask__la_qr_first (trans = 0: C := Q C, trans = 1:
 * C := Q^T C) to the column-major rows x ncols c. */
int cask__la_qr_apply_first(int64_t rows, int64_t n, int64_t ncols, const double *v,
	int64_t ldv, const double *t, int64_t ldt, int trans, double *c, int64_t ldc,
	double *work);
/* Apply the Q of cask__la_qr_fold_block (l = 0) or cask__la_qr_fold_r
 * (l = n, rows = n) to the stacked [ctop (n x ncols); cbot (rows x ncols)]. */
int cask__la_qr_apply_fold(int64_t rows, int64_t n, int64_t l, int64_t ncols,
	const double *v, int64_t ldv, const double *t, int64_t ldt, int trans,
	double *ctop, int64_t ldct, double *cbot, int64_t ldcb, double *work);

/* ------------------------------------------------------- TSQR per task */

/* Workspace of a pass-1 leaf whose blocks have at most rows_max rows (one
 * block is held at a time: streaming), with nrhs right-hand sides (0 for
 * plain TSQR, the columns of b for least squares). */
int cask__la_tsqr_leaf_r_work(int64_t rows_max, int64_t n, int64_t nrhs, size_t *bytes);
/* Pass-1 leaf: R (n x n column-major, ldr >= n, zeros below the diagonal)
 * of the nblk stacked row-major blocks a[i] (rows[i] x n, leading dim
 * lda[i], dtype dt).  rows[0] >= n, later blocks any rows >= 0.  For least
 * squares pass nrhs > 0, the row-major float64 right-hand-side blocks b[i]
 * (rows[i] x nrhs, leading dim ldb[i]), c (n x nrhs column-major, ldc >= n)
 * receives the top n rows of Q_leaf^T b and rnrm (nrhs) is SET to the 2-norms
 * of the rest; with nrhs == 0, b, ldb, c and rnrm are ignored.
 * Block 0 is factored as its first n rows (dgeqrt) plus the rest folded in
 * (dtpqrt, l = 0), later blocks are folded in: the workspace holds one
 * block, so a big chunk is best passed as several sub-blocks (pointers
 * into the chunk, ~4096 rows each at n = 64) - same R bits for the same
 * split, faster, and a workspace of one sub-block. */
int cask__la_tsqr_leaf_r(int64_t nblk, const int64_t *rows, int64_t n, cask_dtype_t dt,
	const void *const *a, const int64_t *lda, int64_t nrhs, const double *const *b,
	const int64_t *ldb, double *r, int64_t ldr, double *c, int64_t ldc, double *rnrm,
	void *work);

/* Workspace of a fold of nchild R's with nrhs right-hand sides. */
int cask__la_tsqr_fold_work(int64_t n, int64_t nrhs, size_t *bytes);
/* Pass-1 fold (fan-in nchild >= 1) in a fixed order: r[0] := R of
 * [r[0]; r[1]; ...] (each n x n column-major, ld n, upper triangular), r[i]
 * (i >= 1) becomes the tree factor V_i and t + (i - 1) * ib * n its T (ib x
 * n, ld ib): keep r[1..] and t for pass 2.  With nrhs > 0, c[i] (n x nrhs,
 * ld n) are the children's Q^T b tops: c[0] receives the fold's, and the
 * 2-norms of what drops out are merged into rnrm (nrhs): rnrm_j =
 * hypot(rnrm_j, ||dropped_j||). */
int cask__la_tsqr_fold(int64_t nchild, int64_t n, double *const *r, double *t,
	int64_t nrhs, double *const *c, double *rnrm, void *work);

/* Pass-2 fold: y[0] holds the parent's n x ncols block of the product
 * (column-major, ld n); on return y[i] (i = 0 .. nchild-1) holds child i's
 * block.  v = the r[1..] of cask__la_tsqr_fold (nchild-1 pointers), t its
 * T factors.  y[1..] need not be initialised. */
int cask__la_tsqr_fold_apply(int64_t nchild, int64_t n, int64_t ncols,
	const double *const *v, const double *t, double *const *y, void *work);

/* Workspace of a pass-2 leaf: the V factors of all of its blocks are held
 * (the Q of a streaming leaf is applied last block first), plus a few
 * n x n factors and one double buffer of the tallest block (used for a
 * float32 Q): about sum(rows)*n + max(rows)*ncols doubles. */
int cask__la_tsqr_leaf_q_work(int64_t nblk, const int64_t *rows, int64_t n,
	int64_t ncols, size_t *bytes);
/* Pass-2 leaf: recompute the leaf's QR exactly as cask__la_tsqr_leaf_r did
 * and write the leaf's rows of Q_final = Q_leaf [y; 0]: q[i] is row-major
 * rows[i] x ncols (leading dim ldq[i], dtype qdt); y is the leaf's n x
 * ncols block of the tree product (column-major, ldy >= n).  The blocks
 * must be split exactly as in pass 1.  Each folded block's orthogonal
 * factor I - [I; V] T [I; V]^T meets a zero block below the running top
 * C, so its rows of Q are -V (T C): one dgemm written straight into q[i]
 * (T made whole from V^T V and the taus, as dlarft does) instead of
 * dtpmqrt's rank-ib updates over the whole block.  Every a[i] is read
 * before any q[i] is written, so q may overwrite a (same bytes per row). */
int cask__la_tsqr_leaf_q(int64_t nblk, const int64_t *rows, int64_t n, cask_dtype_t dt,
	const void *const *a, const int64_t *lda, int64_t ncols, const double *y,
	int64_t ldy, cask_dtype_t qdt, void *const *q, const int64_t *ldq, void *work);

/* ------------------------------------------------------ root, SVD, solve */

/* Root of pass 1: sign[j] = -1 where R(j,j) < 0, else +1, and rout (row-
 * major, ldo >= n) = diag(sign) r with zeros below the diagonal, so
 * diag(rout) >= 0.  Q_final = Q_house diag(sign): pass 2 starts from
 * y = diag(sign) (cask__la_tsqr_root_y). */
int cask__la_r_finish(int64_t n, const double *r, int64_t ldr, double *rout, int64_t ldo,
	double *sign);
/* y (n x n column-major, ldy >= n) := diag(sign). */
int cask__la_tsqr_root_y(int64_t n, const double *sign, double *y, int64_t ldy);

/* Workspace of cask__la_svd for an m x n matrix. */
int cask__la_svd_work(int64_t m, int64_t n, size_t *bytes);
/* Thin SVD (dgesdd) of the column-major m x n a (left unchanged): u (m x k
 * column-major, ldu >= m, k = min(m, n)), s (k, descending, >= 0), vt
 * (k x n ROW-major, ldvt >= n).  For TSQR, a = the house R of pass 1: its
 * u is the pass-2 root y, and U = Q_house u. */
int cask__la_svd(int64_t m, int64_t n, const double *a, int64_t lda, double *u,
	int64_t ldu, double *s, double *vt, int64_t ldvt, void *work);

/* Solve the upper triangular r x = c in place (c: n x nrhs column-major,
 * ldc >= n).  CASK_EINVAL if r has an exactly zero diagonal (rank
 * deficient: the caller should fall back to the SVD). */
int cask__la_trsolve(int64_t n, int64_t nrhs, const double *r, int64_t ldr, double *c,
	int64_t ldc);

/* Least squares from the TSQR of A (and b): r (n x n upper, ld n), c = the
 * top n rows of Q^T b (n x nrhs column-major, ld n) and, in rnorm (nrhs),
 * the norms of the rest of Q^T b.  As NumPy's lstsq (LAPACK dgelsd),
 * singular values of R (those of A) at most rcond * s_max count as zero:
 * *rank = how many do not.  Full rank: x = R^-1 c (dtrtrs); else the
 * minimum-norm solution x = V_k S_k^-1 U_k^T c from R = U S V^T, and the
 * dropped components of U^T c join rnorm, which ends as ||A x - b|| per
 * column.  x: n x nrhs row-major.  Workspace: cask__la_lstsq_work bytes. */
int cask__la_lstsq_work(int64_t n, int64_t nrhs, size_t *bytes);
int cask__la_lstsq_solve(int64_t n, int64_t nrhs, const double *r, const double *c,
	double rcond, double *x, double *rnorm, int64_t *rank, void *work);

/* --------------------------------------------- matmul / randomized SVD */

/* Workspace for the row-block products: rows * n doubles when dt is
 * float32 (promotion), else 0. */
int cask__la_gemm_work(int64_t rows, int64_t n, cask_dtype_t dt, size_t *bytes);
/* C (rows x k, row-major double, ldc) := A_i @ B + beta C, with A_i the
 * row-major rows x n block (dtype dt) and B n x k row-major double: a block
 * of A @ B, or the sketch Y_i = A_i @ Omega.  For k <= CASK_K_SKINNY_MAX
 * (kernels/skinny.c, AVX-512) without BLAS's packing of A_i; else dgemm. */
int cask__la_gemm_nn(int64_t rows, int64_t n, int64_t k, cask_dtype_t dt, const void *a,
	int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc,
	void *work);
/* Z (n x k, row-major double) += A_i^T @ B_i, with A_i rows x n (dtype dt)
 * and B_i rows x k row-major double: A^T B of two row-aligned arrays, or
 * Z = A^T Q in randomized SVD.  Accumulate blocks in a fixed order.  Same
 * choice between the skinny kernel and dgemm as cask__la_gemm_nn. */
int cask__la_gemm_tn(int64_t rows, int64_t n, int64_t k, cask_dtype_t dt, const void *a,
	int64_t lda, const double *b, int64_t ldb, double *z, int64_t ldz, void *work);
/* G (n x n, row-major double) += A_i^T A_i, UPPER triangle only (dsyrk);
 * call cask__la_sym_fill once at the end. */
int cask__la_gram(int64_t rows, int64_t n, cask_dtype_t dt, const void *a, int64_t lda,
	double *g, int64_t ldg, void *work);
/* Copy the upper triangle of the row-major n x n g into its lower part. */
int cask__la_sym_fill(int64_t n, double *g, int64_t ldg);
/* W (n x l, row-major) := W R^-1 for the l x l row-major upper triangular
 * R, if R's reciprocal condition number (1-norm, LAPACK's dtrcon estimate)
 * is at least min_rcond: returns 0, else 1 and W untouched.
 * CASK_ENOMEM if the 3 l doubles + l ints of workspace cannot be had. */
int cask__la_right_solve_upper(int64_t n, int64_t l, const double *r, double min_rcond,
	double *w);

/* ------------------------------------------- reference in-memory driver */

/* TSQR of the row-major m x n matrix a (m >= n >= 1, dtype dt) in row blocks
 * of height mb (>= n; ragged last block), bpl blocks per leaf (>= 1) and a
 * reduction tree of fan-in fanin (>= 2), with the graph's task
 * decomposition.  r: row-major n x n (ldr), diag >= 0.  q: NULL, or row-major
 * m x n of dtype qdt (ldq).  Allocates; CASK_ENOMEM on failure. */
int cask__la_tsqr_mem(int64_t m, int64_t n, cask_dtype_t dt, const void *a, int64_t lda,
	int64_t mb, int64_t bpl, int64_t fanin, double *r, int64_t ldr, cask_dtype_t qdt,
	void *q, int64_t ldq);
/* SVD on top: s (n), vt (row-major n x n, ldvt) and, when u != NULL, u
 * (row-major m x n of dtype udt, ldu) = Q_house U_R streamed in pass 2. */
int cask__la_svd_mem(int64_t m, int64_t n, cask_dtype_t dt, const void *a, int64_t lda,
	int64_t mb, int64_t bpl, int64_t fanin, double *s, double *vt, int64_t ldvt,
	cask_dtype_t udt, void *u, int64_t ldu);
/* Least squares min ||a x - b|| (b: row-major m x nrhs double, ldb): x
 * (row-major n x nrhs, ldx) = R^-1 Q^T b with Q^T b carried through the
 * same tree, rnorm (nrhs) the residual norms. */
int cask__la_lstsq_mem(int64_t m, int64_t n, int64_t nrhs, cask_dtype_t dt,
	const void *a, int64_t lda, const double *b, int64_t ldb, int64_t mb, int64_t bpl,
	int64_t fanin, double *x, int64_t ldx, double *rnorm);
/* Randomized SVD (Halko, Martinsson & Tropp) of the row-major m x n a:
 * sketch width l = min(k + p, m, n), q power iterations re-orthonormalised
 * by TSQR on both sides, Gaussian test matrix from seed (splitmix64 +
 * Box-Muller); streams A 2 + 2q times in row blocks of mb.  s (k), and
 * when not NULL u (row-major m x k double, ldu) and vt (row-major k x n,
 * ldvt).  CASK_EINVAL unless 1 <= k <= min(m, n). */
int cask__la_rsvd_mem(int64_t m, int64_t n, cask_dtype_t dt, const void *a, int64_t lda,
	int64_t k, int64_t p, int64_t q, uint64_t seed, int64_t mb, int64_t fanin, double *s,
	double *u, int64_t ldu, double *vt, int64_t ldvt);

#endif
