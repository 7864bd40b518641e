/*
 * svd.c - singular value decompositions of on-disk matrices.
 *
 *  - cask_svd (exact, thin): a tall A (m >= n) goes through the TSQR graph
 *    of tsqr.c in SVD mode: pass 1 reduces A to R, the root task runs
 *    dgesdd on R (R = U_R S V^T) and pass 2 streams U = Q U_R to disk
 *    without ever forming Q.  A wide A (m < n) is factored through its
 *    transpose (a lazy view): A^T = U' S V'^T, so U = V' (small, m x m) and
 *    V^T = U'^T, whose column blocks pass 2 writes as they come.
 *  - cask_svd_randomized (Halko, Martinsson & Tropp 2011, Alg. 4.4 with
 *    re-orthonormalisation): sketch width l = min(k + p, m, n), Gaussian
 *    test matrix Omega (n x l) from cask_array_random(seed).  Alg. 4.4 is
 *      QY = qr(A Omega); q times: QZ = qr(A^T QY), QY = qr(A QZ);
 *      B^T = A^T QY (n x l); B = U_B S V^T by dgesdd; U = QY U_B[:, :k],
 *    2 + 2q passes over A.  Since A is row-chunked, A^T (A X) is one pass
 *    (each row block gives Y_i = A_i X and adds A_i^T Y_i), so cask
 *    computes the same subspace in q + 1 passes when the m x l sketch fits
 *    a quarter of the budget and q >= 1 (power_fused):
 *      X = Omega; q times: X = qr(A^T (A X)) [one pass each];
 *      Y = A X and W = A^T Y [one pass]; QY R = qr(Y);
 *      B^T = A^T QY = W R^-1 if cond(R) <= 1e3, else one more pass.
 *    span(Y) = span((A A^T)^q A Omega), Alg. 4.4's.  Differences in
 *    rounding: the basis is re-orthonormalised after each A^T A rather than
 *    after each A and A^T, so directions with s_j < sqrt(eps) s_1 are lost
 *    to rounding within one iteration (Alg. 4.4 keeps them down to eps s_1);
 *    W R^-1 adds an error of about eps ||A|| cond(R), hence the bound on
 *    cond(R) (test_tsqr.c covers both branches).  Otherwise (q = 0, or a
 *    sketch too large to hold) the 2 + 2q-pass form above runs, every
 *    product one streaming pass (cask_matmul / cask_matmul_tn), every QR a
 *    TSQR of a tall m x l or n x l matrix; its m x l sketches Y and QY are
 *    held in memory when each fits a quarter of the budget, otherwise they
 *    are written to temporary HDF5 files in the U output's directory (or
 *    $TMPDIR, or /tmp), removed at the end.  The n x l products and Omega
 *    are held in memory: O((m+n) l).
 *
 * Outputs: cask_svd writes all of its datasets in one transaction per
 * file; the randomized SVD stores U (lazy, Q_Y U_B) with S and V^T (in
 * memory) in one cask_store call, also one transaction per file.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "la_graph.h"
#include "linalg.h"

/* A float64 buffer written as dataset o of dtype dt (float32: rounded). */
static int write_conv(cask_ctx_t *ctx, cask__h5out_t *o, cask_dtype_t dt, int ndim,
	const int64_t *shape, const double *data)
{
	void *conv = NULL;
	const void *src = data;
	int64_t count = 1;
	int rc = 0;
	for (int k = 0; k < ndim; k++)
		count *= shape[k];
	if (count == 0)
		return 0;
	if (dt == CASK_FLOAT32) {
		if ((conv = malloc((size_t)count * sizeof(float))) == NULL)
			return cask__error(ctx, CASK_ENOMEM, "out of memory");
		for (int64_t i = 0; i < count; i++)
			((float *)conv)[i] = (float)data[i];
		src = conv;
	}
	rc = cask__la_out_write_all(ctx, o, ndim, shape, src);
	free(conv);
	return rc;
}

int cask_svd(cask_ctx_t *ctx, cask_array_t *a, double *s, double *vt,
	const cask_store_t *u_store, const cask_store_t *s_store, const cask_store_t *vt_store)
{
	cask_array_t *x = NULL, *xt = NULL;
	cask__la_txns_t txns = {0};
	cask__h5out_t *big = NULL, *so = NULL, *smo = NULL;
	double *sb = NULL, *small = NULL, *tr = NULL;
	char what[1200];
	int rc = CASK__CHECK_PTRS(ctx, ctx, a);
	if (rc != 0)
		return rc;
	ctx->msg[0] = '\0';
	cask__call_begin(ctx);
	const cask_store_t *outs[3] = {u_store, s_store, vt_store};
	const char *onames[3] = {"U", "S", "V^T"};
	if ((rc = cask__la_distinct_outputs(ctx, 3, outs, onames)) != 0 ||
	    (rc = cask__la_prepare(ctx, a, "the matrix of the SVD", &x)) != 0)
		goto out;
	cask__la_describe(a, what, sizeof what);
	int64_t m = x->shape[0], n = x->shape[1];
	int wide = m < n;
	int64_t k = wide ? m : n;
	if (k < 1) {
		rc = cask__error(ctx, CASK_ESHAPE, "%s: SVD of an empty %lld x %lld matrix", what,
			(long long)m, (long long)n);
		goto out;
	}
	if (wide && (rc = cask_transpose(ctx, x, NULL, &xt)) != 0)
		goto out;
	cask_array_t *t = wide ? xt : x;
	sb = malloc((size_t)k * sizeof(double));
	small = malloc((size_t)(k * k) * sizeof(double));
	tr = malloc((size_t)(k * k) * sizeof(double));
	if (sb == NULL || small == NULL || tr == NULL) {
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
		goto out;
	}
	/* Every output in one transaction per file: the large factor (U of a
	 * tall A, V^T of a wide one) streamed in pass 2, the small ones
	 * written from memory after the run. */
	const cask_store_t *big_store = wide ? vt_store : u_store;
	const cask_store_t *small_store = wide ? u_store : vt_store;
	cask_dtype_t small_dt = CASK_FLOAT64;
	void *big_buf = wide ? vt : NULL;
	cask_dtype_t bdt = big_buf != NULL ? CASK_FLOAT64 : x->dtype;
	int64_t kk[2] = {k, k}, k1[1] = {k};
	if (big_store != NULL) {
		int64_t shape[2] = {m, k}, ch[2] = {cask__array_row_chunk(x), k};
		if (wide) {
			shape[0] = k;
			shape[1] = n;
			ch[0] = k;
			ch[1] = t->chunks[0];
		}
		if ((rc = cask__la_out_create(ctx, &txns, big_store, bdt, 2, shape, ch, &big)) != 0)
			goto out;
	}
	if (small_store != NULL &&
	    (rc = cask__la_out_create(ctx, &txns, small_store, small_dt, 2, kk, kk, &smo)) != 0)
		goto out;
	if (s_store != NULL &&
	    (rc = cask__la_out_create(ctx, &txns, s_store, CASK_FLOAT64, 1, k1, k1, &so)) != 0)
		goto out;
	cask__la_tsqr_req_t req = {
		.mode = CASK__LA_SVD, .a = t, .what = what, .a_trans = wide,
		.sink = {.h5 = big, .buf = big_buf, .dtype = bdt, .trans = wide}, .s = sb,
		.vt = small,
	};
	if ((rc = cask__la_tsqr_run(ctx, &req)) != 0)
		goto out;
	/* Small factors: tall: V^T = small; wide: U = (V'^T)^T = small^T. */
	for (int64_t i = 0; i < k; i++)
		for (int64_t j = 0; j < k; j++)
			tr[i * k + j] = small[j * k + i];
	const double *sm = wide ? tr : small;
	if (smo != NULL && (rc = write_conv(ctx, smo, small_dt, 2, kk, sm)) != 0)
		goto out;
	if (so != NULL && (rc = write_conv(ctx, so, CASK_FLOAT64, 1, k1, sb)) != 0)
		goto out;
	if ((rc = cask__la_out_commit(ctx, &txns)) != 0)
		goto out;
	if (s != NULL)
		memcpy(s, sb, (size_t)k * sizeof(double));
	if (!wide && vt != NULL)
		memcpy(vt, small, (size_t)(k * k) * sizeof(double));
out:
	cask__la_out_abort(&txns);
	cask_array_destroy(x);
	cask_array_destroy(xt);
	free(sb);
	free(small);
	free(tr);
	cask__call_end(ctx);
	return rc;
}

/* ------------------------------------------------------------ randomized */

typedef struct {
	cask_ctx_t *ctx;
	char what[1200]; /* A's dataset, for messages about its sketches */
	char dir[1024];
	int nfiles;
	char files[64][1100];
} tmp_t;

static int tmp_path(tmp_t *t, char *out, size_t len)
{
	if (t->nfiles == 64)
		return cask__error(t->ctx, CASK_EINTERNAL, "too many temporary files");
	snprintf(out, len, "%s/.cask-rsvd-%ld-%d.h5", t->dir, (long)getpid(), t->nfiles);
	snprintf(t->files[t->nfiles++], sizeof t->files[0], "%s", out);
	return 0;
}

static int fits(const tmp_t *t, int64_t rows, int64_t cols)
{
	return (double)rows * (double)cols * 8.0 <= (double)cask_ctx_memory(t->ctx) / 4;
}

/* x (rows x cols float64, lazy) as a materialised array. */
static int materialise(tmp_t *t, cask_array_t *x, cask_array_t **out)
{
	cask_ctx_t *ctx = t->ctx;
	int64_t rows = x->shape[0], cols = x->shape[1];
	int rc;
	if (fits(t, rows, cols)) {
		size_t bytes = (size_t)(rows * cols) * sizeof(double);
		double *buf = malloc(bytes > 0 ? bytes : 1);
		if (buf == NULL)
			return cask__error(ctx, CASK_ENOMEM, "out of memory");
		if ((rc = cask_compute(ctx, x, buf, bytes)) != 0) {
			free(buf);
			return rc;
		}
		return cask__la_owned_array(ctx, rows, cols, buf, out);
	}
	char path[1100];
	cask_store_t o;
	if ((rc = tmp_path(t, path, sizeof path)) != 0)
		return rc;
	cask_store_init(&o, path, "/x");
	if ((rc = cask_store(ctx, 1, &x, &o)) != 0)
		return rc;
	return cask_array_open(ctx, path, "/x", NULL, out);
}

/* Q of the TSQR of y (rows x cols, rows >= cols), materialised; r NULL or
 * cols x cols memory for R (y = Q R, diagonal >= 0). */
static int orth_r(tmp_t *t, cask_array_t *y, const char *what, double *r, cask_array_t **out)
{
	cask_ctx_t *ctx = t->ctx;
	int64_t rows = y->shape[0], cols = y->shape[1];
	cask__la_txns_t txns = {0};
	cask__h5out_t *qo = NULL;
	double *buf = NULL;
	char path[1100], w[1300];
	int rc;
	/* A NaN or Inf of A reaches the sketch: name A's dataset (the rows of
	 * A Q are A's rows, those of A^T Q its columns). */
	snprintf(w, sizeof w, "%s, through %s", t->what, what);
	cask__la_tsqr_req_t req = {.mode = CASK__LA_Q, .a = y, .what = w, .r = r,
	                           .sink = {.dtype = CASK_FLOAT64}};
	if (fits(t, rows, cols)) {
		if ((buf = malloc((size_t)(rows * cols) * sizeof(double))) == NULL)
			return cask__error(ctx, CASK_ENOMEM, "out of memory");
		req.sink.buf = buf;
		if ((rc = cask__la_tsqr_run(ctx, &req)) != 0) {
			free(buf);
			return rc;
		}
		return cask__la_owned_array(ctx, rows, cols, buf, out);
	}
	int64_t shape[2] = {rows, cols}, ch[2] = {y->chunks[0], cols};
	cask_store_t o;
	if ((rc = tmp_path(t, path, sizeof path)) != 0)
		return rc;
	cask_store_init(&o, path, "/q");
	if ((rc = cask__la_out_create(ctx, &txns, &o, CASK_FLOAT64, 2, shape, ch, &qo)) != 0)
		goto out;
	req.sink.h5 = qo;
	if ((rc = cask__la_tsqr_run(ctx, &req)) != 0 || (rc = cask__la_out_commit(ctx, &txns)) != 0)
		goto out;
	rc = cask_array_open(ctx, path, "/q", NULL, out);
out:
	cask__la_out_abort(&txns);
	return rc;
}

static int orth(tmp_t *t, cask_array_t *y, const char *what, cask_array_t **out)
{
	return orth_r(t, y, what, NULL, out);
}

/* A power of two near x > 0, at least 2^-1019: X / sigma must stay finite
 * (1 / 2^-1019 is 2^1019, so Gaussian entries up to 2^4 fit). */
static double pow2_near(double x)
{
	int e = ilogb(x);
	return ldexp(1.0, e < DBL_MIN_EXP + 2 ? DBL_MIN_EXP + 2 : e);
}

/* A power of two near the magnitude of x's entries, from its first rows
 * (1 when they are all zero): the fused passes scale X by its inverse, so
 * A^T (A X) stays near |A| instead of |A|^2, which leaves the range of
 * doubles for |A| beyond ~1e+-154.  A power of two scales exactly. */
static int magnitude(tmp_t *t, cask_array_t *x, double *out)
{
	cask_ctx_t *ctx = t->ctx;
	int64_t rows = x->shape[0] < 64 ? x->shape[0] : 64, n = x->shape[1];
	cask_index_t idx = {.kind = CASK_INDEX_SLICE, .start = 0, .stop = rows, .step = 1,
	                    .has_start = 1, .has_stop = 1};
	cask_array_t *head = NULL, *hd = NULL;
	double *buf = malloc((size_t)(rows * n) * sizeof(double) + 1);
	double mx = 0.0;
	int rc;
	if (buf == NULL)
		return cask__error(ctx, CASK_ENOMEM, "out of memory");
	if ((rc = cask_index(ctx, x, 1, &idx, &head)) == 0 &&
	    (rc = cask_astype(ctx, head, CASK_FLOAT64, &hd)) == 0 &&
	    (rc = cask_compute(ctx, hd, buf, (size_t)(rows * n) * sizeof(double))) == 0)
		for (int64_t i = 0; i < rows * n; i++)
			mx = fabs(buf[i]) > mx ? fabs(buf[i]) : mx;
	*out = mx > 0.0 && isfinite(mx) ? pow2_near(mx) : 1.0;
	cask_array_destroy(head);
	cask_array_destroy(hd);
	free(buf);
	return rc;
}

/* X (n x l) times 1 / sigma, sigma a power of two. */
static void scale_x(double *xb, size_t count, double sigma)
{
	for (size_t i = 0; i < count; i++)
		xb[i] /= sigma;
}

/* max |A| (float64), by one more pass over A. */
static int max_abs(cask_ctx_t *ctx, cask_array_t *x, double *out)
{
	cask_array_t *ab = NULL, *mx = NULL, *m64 = NULL;
	int rc;
	if ((rc = cask_unary(ctx, CASK_ABS, x, &ab)) == 0 &&
	    (rc = cask_reduce(ctx, CASK_MAX, ab, 0, NULL, 0, 0, &mx)) == 0 &&
	    (rc = cask_astype(ctx, mx, CASK_FLOAT64, &m64)) == 0)
		rc = cask_compute(ctx, m64, out, sizeof *out);
	cask_array_destroy(ab);
	cask_array_destroy(mx);
	cask_array_destroy(m64);
	return rc;
}

/* The first power iteration's Z = A^T (A X), X = Omega / *sigma, *sigma
 * from magnitude(); om (n x l) is Omega and is not changed.  A's first
 * rows can misjudge |A| by hundreds of orders of magnitude (zero rows, or
 * rows far smaller or larger than the rest): the pass then overflows (a
 * row of Y = A X, or Z, non-finite) or underflows (Z = 0 of a nonzero A,
 * or digits lost to subnormals: for a Gaussian Omega, ||Z|| ~ ||A||^2 /
 * sigma >= max|A|^2 / sigma >= sigma, so max |Z| far below sigma means the
 * pass lost it).  In those cases *sigma becomes max |A|, found by one more
 * pass, and Z is computed again.  A NaN or Inf of A itself is reported as
 * the pass reported it.  Returns 1 (nothing in *out) when Z (or the norms
 * of its columns) is out of the range of doubles even so, overflowing or
 * lost to underflow (|A| m n beyond the largest double, or |A| subnormal):
 * the caller then runs the 2 + 2q-pass form, whose products do not square
 * A. */
static int first_ata(tmp_t *t, cask_array_t *x, int64_t l, const double *om, double *sigma,
	cask_array_t **out)
{
	cask_ctx_t *ctx = t->ctx;
	size_t count = (size_t)(x->shape[1] * l);
	cask_array_t *z = NULL;
	double *xs = malloc(count * sizeof(double)), *zb = malloc(count * sizeof(double));
	char *msg = NULL;
	int rc = 0;
	if (xs == NULL || zb == NULL) {
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
		goto out;
	}
	double mx = -1.0; /* max |A|, once known */
	for (int attempt = 0;; attempt++) {
		double zmax = 0.0;
		int finite = 1;
		memcpy(xs, om, count * sizeof(double));
		scale_x(xs, count, *sigma);
		rc = cask__la_ata_x(ctx, x, xs, l, NULL, &z);
		if (rc == 0 && (rc = cask_compute(ctx, z, zb, count * sizeof(double))) != 0)
			goto out;
		if (rc != 0 && rc != CASK_EINVAL)
			goto out;
		for (size_t i = 0; rc == 0 && i < count; i++) {
			finite &= isfinite(zb[i]) != 0;
			zmax = fabs(zb[i]) > zmax ? fabs(zb[i]) : zmax;
		}
		/* In range: its TSQR takes column norms, so sqrt(n) max |Z| must
		 * be finite too; at the bottom, a max |Z| within 2^53 of the
		 * subnormals has lost digits (sigma, clamped to 2^-1019, is then
		 * far above a subnormal |A|). */
		int in_range = finite && zmax <= DBL_MAX / 4 / sqrt((double)x->shape[1]);
		double low = fmax(ldexp(*sigma, -60), ldexp(DBL_MIN, 53));
		if (rc == 0 && in_range && (zmax >= low || mx == 0.0))
			goto out;
		if (attempt == 1) {
			rc = 1;
			goto out;
		}
		/* Overflow or underflow (or a non-finite A: max_abs tells which). */
		if (rc != 0 && (msg = strdup(ctx->msg)) == NULL) {
			rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
			goto out;
		}
		cask_array_destroy(z);
		z = NULL;
		int rc0 = rc;
		if ((rc = max_abs(ctx, x, &mx)) != 0)
			goto out;
		if (!isfinite(mx) && rc0 != 0) {
			rc = cask__error(ctx, rc0, "%s", msg);
			goto out;
		}
		*sigma = mx > 0.0 && isfinite(mx) ? pow2_near(mx) : 1.0;
	}
out:
	if (rc == 0)
		*out = z;
	else
		cask_array_destroy(z);
	free(xs);
	free(zb);
	free(msg);
	return rc;
}

/* The power iterations in q + 1 passes over A (see the top of the file):
 * X = Omega; q times X = orth(A^T (A X)); then Y = A X and W = A^T Y in one
 * pass, QY R = Y, and B^T = W R^-1 when R is well conditioned, else
 * B^T = A^T QY (one more pass).  xb (n x l) holds Omega on entry; *qy and
 * *bt (n x l, an in-memory array) are returned.  Every X enters a pass
 * divided by sigma ~ |A| (magnitude, checked by first_ata; refined after
 * the first pass from R of A^T A X, ~ ||A||^2 / sigma): the spans, QY and
 * W R^-1 do not change, but nothing squares |A|.  Returns 1 (nothing
 * in *qy, *bt; xb still Omega) when first_ata does. */
static int power_fused(tmp_t *t, cask_array_t *x, int64_t l, int64_t q, double *xb,
	cask_array_t **qy, cask_array_t **bt)
{
	cask_ctx_t *ctx = t->ctx;
	int64_t m = x->shape[0], n = x->shape[1];
	size_t xbytes = (size_t)(n * l) * sizeof(double);
	cask_array_t *z = NULL, *qz = NULL, *ym = NULL, *w = NULL;
	double *yb = NULL, *rb = NULL, *wb = NULL, sigma = 1.0;
	int rc = 0;
	yb = malloc((size_t)(m * l) * sizeof(double));
	rb = malloc((size_t)(l * l) * sizeof(double));
	if (yb == NULL || rb == NULL) {
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = magnitude(t, x, &sigma)) != 0)
		goto out;
	for (int64_t it = 0; it < q && rc == 0; it++) {
		if (it == 0) {
			rc = first_ata(t, x, l, xb, &sigma, &z);
		} else {
			scale_x(xb, (size_t)(n * l), sigma);
			rc = cask__la_ata_x(ctx, x, xb, l, NULL, &z);
		}
		if (rc == 0 && (rc = orth_r(t, z, "the sketch A^T A Q", rb, &qz)) == 0)
			rc = cask_compute(ctx, qz, xb, xbytes);
		double rmax = 0.0;
		for (int64_t i = 0; rc == 0 && it == 0 && i < l; i++)
			rmax = fabs(rb[i * l + i]) > rmax ? fabs(rb[i * l + i]) : rmax;
		if (rmax > 0.0 && isfinite(rmax))
			sigma = pow2_near(sqrt(rmax) * sqrt(sigma));
		cask_array_destroy(z);
		cask_array_destroy(qz);
		z = qz = NULL;
	}
	if (rc != 0)
		goto out;
	scale_x(xb, (size_t)(n * l), sigma);
	if ((rc = cask__la_ata_x(ctx, x, xb, l, yb, &w)) != 0)
		goto out;
	rc = cask__la_owned_array(ctx, m, l, yb, &ym);
	yb = NULL;
	if (rc != 0 || (rc = orth_r(t, ym, "the sketch A Q", rb, qy)) != 0)
		goto out;
	if ((wb = malloc(xbytes)) == NULL) {
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = cask_compute(ctx, w, wb, xbytes)) != 0)
		goto out;
	/* ||B^T - W R^-1|| <~ eps ||A|| cond(R): used when cond(R) <= 1e3,
	 * else one more pass. */
	if ((rc = cask__la_right_solve_upper(n, l, rb, 1e-3, wb)) != 0) {
		if (rc != 1) {
			rc = cask__error(ctx, rc, "out of memory");
			goto out;
		}
		rc = cask_matmul_tn(ctx, x, *qy, bt);
		goto out;
	}
	rc = cask__la_owned_array(ctx, n, l, wb, bt);
	wb = NULL;
out:
	cask_array_destroy(ym);
	cask_array_destroy(w);
	free(yb);
	free(rb);
	free(wb);
	return rc;
}

static void tmp_dir(tmp_t *t, const cask_store_t *u_store)
{
	cask__io_tmp_dir(u_store != NULL ? u_store->path : NULL, t->dir, sizeof t->dir);
}

/* cask_svd_randomized of a, or with flip of the transpose of the caller's
 * matrix (a is then A^T, tall): the outputs stay the caller's, U = V'^T
 * and V^T = U'^T of the factors of a. */
static int rsvd(cask_ctx_t *ctx, cask_array_t *a, int64_t k, int64_t oversample,
	int64_t power_iters, uint64_t seed, double *s, double *vt, const cask_store_t *u_store,
	const cask_store_t *s_store, const cask_store_t *vt_store, int flip)
{
	cask_array_t *x = NULL, *om = NULL, *oml = NULL, *y = NULL, *ym = NULL, *qy = NULL;
	cask_array_t *xt = NULL, *ut = NULL, *vat = NULL;
	cask_array_t *z = NULL, *qz = NULL, *ubk = NULL, *u = NULL, *uc = NULL;
	cask_array_t *sa = NULL, *va = NULL, *vc = NULL;
	double *omb = NULL, *bt = NULL, *ub = NULL, *sb = NULL, *vtb = NULL, *ubkb = NULL;
	void *work = NULL;
	char what[1200];
	int rc = CASK__CHECK_PTRS(ctx, ctx, a);
	if (rc != 0)
		return rc;
	tmp_t *t = calloc(1, sizeof *t);
	ctx->msg[0] = '\0';
	if (t == NULL)
		return cask__error(ctx, CASK_ENOMEM, "out of memory");
	cask__call_begin(ctx); /* a dozen graphs: see cask__call_begin */
	t->ctx = ctx;
	tmp_dir(t, u_store);
	const cask_store_t *outs[3] = {u_store, s_store, vt_store};
	const char *onames[3] = {"U", "S", "V^T"};
	if ((rc = cask__la_distinct_outputs(ctx, 3, outs, onames)) != 0)
		goto out;
	/* The outputs are created after the passes over A: refuse one that
	 * cannot be (it exists, its directory is read-only) before them. */
	for (int i = 0; i < 3; i++)
		if (outs[i] != NULL && outs[i]->path != NULL && outs[i]->dset != NULL &&
		    (rc = cask__io_preflight(ctx, outs[i]->path, outs[i]->dset, outs[i]->overwrite)) != 0)
			goto out;
	if ((rc = cask__la_prepare(ctx, a, "the matrix of the randomized SVD", &x)) != 0)
		goto out;
	cask__la_describe(a, what, sizeof what);
	snprintf(t->what, sizeof t->what, "%s", what);
	int64_t m = x->shape[0], n = x->shape[1], mn = m < n ? m : n;
	int64_t p = oversample < 0 ? 10 : oversample, q = power_iters < 0 ? 2 : power_iters;
	if (k < 1 || k > mn) {
		rc = cask__error(ctx, CASK_EINVAL,
			"%s: randomized SVD rank k = %lld must be in 1..min(m, n) = %lld", what,
			(long long)k, (long long)mn);
		goto out;
	}
	/* The sketch's width l: k + p, or by default (oversample < 0) dask's
	 * compression_level, max(k + 10, 20), so that a small k still gets a
	 * sketch of 20 columns (svd_compressed's top singular value of k = 1
	 * was 1e6 times closer to exact than a sketch of 11).  At most min(m, n).
	 * (k + p overflows for p near INT64_MAX.) */
	int64_t l = p < mn - k ? k + p : mn;
	if (oversample < 0 && l < 20)
		l = mn < 20 ? mn : 20;
	/* The n x l products A^T B and A^T (A X) are reduced in partials that
	 * must fit an eighth of the budget (matmul.c), which also covers the
	 * three n x l buffers held here. */
	double mem = (double)cask_ctx_memory(ctx);
	if (!flip && m < n && (double)n * (double)l * 8.0 * 8 > mem &&
	    (double)m * (double)l * 8.0 * 8 <= mem) {
		/* A wide A whose n x (k + p) matrices do not fit: through A^T,
		 * whose small side is m (its sketch of n rows spills instead). */
		if ((rc = cask_transpose(ctx, x, NULL, &xt)) == 0)
			rc = rsvd(ctx, xt, k, oversample, power_iters, seed, s, vt, u_store, s_store,
				vt_store, 1);
		goto out;
	}
	if ((double)n * (double)l * 8.0 * 8 > mem) {
		rc = cask__error(ctx, CASK_EBUDGET,
			"%s: randomized SVD holds n x l = %lld x %lld matrices in memory (each within an eighth of the budget; l = k + p, by default max(k + 10, 20)); raise --memory",
			what, (long long)n, (long long)l);
		goto out;
	}
	/* Omega: Gaussian, one value per (seed, flat index). */
	int64_t osh[2] = {n, l};
	size_t ob = (size_t)(n * l) * sizeof(double);
	if ((omb = malloc(ob)) == NULL) {
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = cask_array_random(ctx, CASK_RANDOM_NORMAL, seed, CASK_FLOAT64, 2, osh, NULL,
		     &oml)) != 0 ||
	    (rc = cask_compute(ctx, oml, omb, ob)) != 0)
		goto out;
	if (q >= 1 && fits(t, m, l)) {
		/* q + 1 (or q + 2) passes over A instead of 2 + 2q. */
		rc = power_fused(t, x, l, q, omb, &qy, &z);
		if (rc != 1) {
			if (rc != 0)
				goto out;
			goto small_svd;
		}
		rc = 0; /* A^T A X out of range: the 2 + 2q-pass form, omb still Omega */
	}
	rc = cask__la_owned_array(ctx, n, l, omb, &om);
	omb = NULL;
	if (rc != 0)
		goto out;
	/* Range finder. */
	if ((rc = cask_matmul(ctx, x, om, &y)) != 0 || (rc = materialise(t, y, &ym)) != 0 ||
	    (rc = orth(t, ym, "the sketch A Omega", &qy)) != 0)
		goto out;
	for (int64_t it = 0; it < q; it++) {
		cask_array_destroy(y);
		cask_array_destroy(ym);
		cask_array_destroy(qz);
		y = ym = qz = NULL;
		if ((rc = cask_matmul_tn(ctx, x, qy, &z)) != 0 ||
		    (rc = orth(t, z, "the sketch A^T Q", &qz)) != 0)
			goto out;
		cask_array_destroy(z);
		cask_array_destroy(qy);
		z = qy = NULL;
		if ((rc = cask_matmul(ctx, x, qz, &y)) != 0 || (rc = materialise(t, y, &ym)) != 0 ||
		    (rc = orth(t, ym, "the sketch A Q", &qy)) != 0)
			goto out;
	}
	/* B^T = A^T QY (n x l) is B (l x n) in column-major order. */
	if ((rc = cask_matmul_tn(ctx, x, qy, &z)) != 0)
		goto out;
small_svd:;
	size_t wb;
	if ((rc = cask__la_svd_work(l, n, &wb)) != 0) {
		rc = cask__error(ctx, rc, "%s: sketch too large for dgesdd", what);
		goto out;
	}
	bt = malloc(ob);
	ub = malloc((size_t)(l * l) * sizeof(double));
	sb = malloc((size_t)l * sizeof(double));
	vtb = malloc(ob);
	ubkb = malloc((size_t)(l * k) * sizeof(double));
	work = malloc(wb > 0 ? wb : 1);
	if (bt == NULL || ub == NULL || sb == NULL || vtb == NULL || ubkb == NULL || work == NULL) {
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = cask_compute(ctx, z, bt, ob)) != 0)
		goto out;
	if ((rc = cask__la_svd(l, n, bt, l, ub, l, sb, vtb, n, work)) != 0) {
		rc = cask__error(ctx, rc, "%s: %s in the SVD of the %lld x %lld sketch", what,
			rc == CASK_EINVAL ? "non-finite value" : "LAPACK failure", (long long)l,
			(long long)n);
		goto out;
	}
	for (int64_t i = 0; i < k; i++)
		if (!isfinite(sb[i])) { /* ||B|| beyond the largest double, B finite */
			rc = cask__error(ctx, CASK_EINVAL,
				"%s: overflow: the largest singular value exceeds the largest double "
				"(scale the matrix down)", what);
			goto out;
		}
	if (s != NULL)
		memcpy(s, sb, (size_t)k * sizeof(double));
	if (vt != NULL && !flip)
		memcpy(vt, vtb, (size_t)(k * n) * sizeof(double));
	int64_t vsh[2] = {k, n}, ssh[1] = {k};
	/* As the exact SVD: the large factor (U of a tall A, V^T of a wide
	 * one) in A's float dtype, the other in float64. */
	cask_dtype_t big_dt = x->dtype == CASK_FLOAT32 ? CASK_FLOAT32 : CASK_FLOAT64;
	int wide = m < n || flip;
	/* All outputs in one cask_store: one transaction per file, so a
	 * failed or interrupted store (U is the long one) leaves every target
	 * as it was, not new S and V^T beside an old or missing U. */
	cask_array_t *arrs[3];
	cask_store_t opts[3];
	int nout = 0;
	/* flip: the caller's V^T is U'^T, streamed; its U is V'^T, small. */
	if (flip ? vt != NULL || vt_store != NULL : u_store != NULL) {
		for (int64_t r = 0; r < l; r++)
			for (int64_t c = 0; c < k; c++)
				ubkb[r * k + c] = ub[r + c * l];
		rc = cask__la_owned_array(ctx, l, k, ubkb, &ubk);
		ubkb = NULL;
		if (rc != 0 || (rc = cask_matmul(ctx, qy, ubk, &u)) != 0)
			goto out;
		if (flip && (rc = cask_transpose(ctx, u, NULL, &ut)) != 0)
			goto out;
		if (flip && vt != NULL &&
		    (rc = cask_compute(ctx, ut, vt, (size_t)(k * m) * sizeof(double))) != 0)
			goto out;
	}
	if (u_store != NULL && !flip) {
		cask_array_t *ust = u;
		if (!wide && big_dt == CASK_FLOAT32) {
			if ((rc = cask_astype(ctx, u, CASK_FLOAT32, &uc)) != 0)
				goto out;
			ust = uc;
		}
		arrs[nout] = ust;
		opts[nout++] = *u_store;
	}
	if (u_store != NULL && flip) {
		if ((rc = cask_array_from_buffer(ctx, CASK_FLOAT64, 2, vsh, NULL, vtb, &va)) != 0 ||
		    (rc = cask_transpose(ctx, va, NULL, &vat)) != 0)
			goto out;
		arrs[nout] = vat;
		opts[nout++] = *u_store;
	}
	if (s_store != NULL) {
		if ((rc = cask_array_from_buffer(ctx, CASK_FLOAT64, 1, ssh, NULL, sb, &sa)) != 0)
			goto out;
		arrs[nout] = sa;
		opts[nout++] = *s_store;
	}
	if (vt_store != NULL) {
		cask_array_t *big = ut;
		if (!flip && (rc = cask_array_from_buffer(ctx, CASK_FLOAT64, 2, vsh, NULL, vtb, &va)) != 0)
			goto out;
		if (!flip)
			big = va;
		if (wide && big_dt == CASK_FLOAT32) {
			if ((rc = cask_astype(ctx, big, CASK_FLOAT32, &vc)) != 0)
				goto out;
		}
		arrs[nout] = vc != NULL ? vc : big;
		opts[nout++] = *vt_store;
	}
	if (nout > 0)
		rc = cask_store(ctx, nout, arrs, opts);
out:
	cask_array_destroy(x);
	cask_array_destroy(xt);
	cask_array_destroy(ut);
	cask_array_destroy(vat);
	cask_array_destroy(om);
	cask_array_destroy(oml);
	cask_array_destroy(y);
	cask_array_destroy(ym);
	cask_array_destroy(qy);
	cask_array_destroy(z);
	cask_array_destroy(qz);
	cask_array_destroy(ubk);
	cask_array_destroy(u);
	cask_array_destroy(uc);
	cask_array_destroy(sa);
	cask_array_destroy(va);
	cask_array_destroy(vc);
	free(omb);
	free(bt);
	free(ub);
	free(sb);
	free(vtb);
	free(ubkb);
	free(work);
	for (int i = 0; i < t->nfiles; i++)
		unlink(t->files[i]);
	free(t);
	cask__call_end(ctx);
	return rc;
}

int cask_svd_randomized(cask_ctx_t *ctx, cask_array_t *a, int64_t k, int64_t oversample,
	int64_t power_iters, uint64_t seed, double *s, double *vt, const cask_store_t *u_store,
	const cask_store_t *s_store, const cask_store_t *vt_store)
{
	int rc = CASK__CHECK_PTRS(ctx, ctx, a);
	if (rc != 0)
		return rc;
	return rsvd(ctx, a, k, oversample, power_iters, seed, s, vt, u_store, s_store, vt_store, 0);
}
