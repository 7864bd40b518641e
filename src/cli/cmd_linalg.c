/*
 * cmd_linalg.c - the linear algebra subcommands: `cask qr` (tall-skinny QR),
 * `cask svd` (exact thin SVD, or randomized with -k) and `cask lstsq`
 * (least squares), over datasets larger than memory (linalg/ in the
 * library does the work; this file parses options and names outputs), and
 * the `@` operator of `cask eval` expressions (cli_fn_matmul).
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "expr_build.h"

enum { O_Q = 1, O_R, O_U, O_S, O_VT, O_K, O_OVERSAMPLE, O_POWER, O_SEED, O_RCOND, O_OUT };

static const cli_option_t qr_options[] = {
	{ "q", 0, 1, O_Q },
	{ "r", 0, 1, O_R },
	{ NULL, 0, 0, 0 },
};

static const cli_option_t svd_options[] = {
	{ "u", 0, 1, O_U },
	{ "s", 0, 1, O_S },
	{ "vt", 0, 1, O_VT },
	{ "rank", 'k', 1, O_K },
	{ "oversample", 0, 1, O_OVERSAMPLE },
	{ "power-iters", 0, 1, O_POWER },
	{ "seed", 0, 1, O_SEED },
	{ NULL, 0, 0, 0 },
};

static const cli_option_t lstsq_options[] = {
	{ "output", 'o', 1, O_OUT },
	{ "rcond", 0, 1, O_RCOND },
	{ NULL, 0, 0, 0 },
};

typedef struct {
	const char *v[O_OUT + 1];
} la_args_t;

static int on_option(void *user, int id, const char *arg)
{
	la_args_t *a = user;
	if (id < 1 || id > O_OUT)
		return CLI_EXIT_USAGE;
	a->v[id] = arg;
	return 0;
}

/* An output reference: parsed into *path / *dset and a store description. */
typedef struct {
	char *path, *dset;
	cask_store_t st;
} out_ref_t;

static int parse_out(const char *cmd, const char *what, const char *s, int overwrite,
                     out_ref_t *o)
{
	int ret = cli_parse_dsref(cmd, what, s, 1, &o->path, &o->dset);
	if (ret != 0)
		return ret;
	cask_store_init(&o->st, o->path, o->dset);
	o->st.overwrite = overwrite;
	return 0;
}

static void free_out(out_ref_t *o)
{
	free(o->path);
	free(o->dset);
}

static int open_input(const char *cmd, cask_ctx_t *ctx, const char *ref, cask_array_t **out,
                      int *ret)
{
	char *path = NULL, *dset = NULL;
	int rc;
	if ((*ret = cli_parse_dsref(cmd, "input", ref, 1, &path, &dset)) != 0)
		return -1;
	rc = cask_array_open(ctx, path, dset, NULL, out);
	if (rc < 0)
		*ret = cli_lib_error(ctx, rc, "%s", ref);
	free(path);
	free(dset);
	return rc < 0 ? -1 : 0;
}

/* A library failure, prefixed with what (the input) unless the message is
 * about an output (it exists, or no file can be made next to it): that
 * one names the output itself. */
static int lib_fail(cask_ctx_t *ctx, int rc, const char *what)
{
	/* Errors of an output name the output, not the input. */
	if (rc == CASK_EEXIST || strstr(cask_ctx_message(ctx), "temporary file next to '") != NULL)
		return cli_lib_error(ctx, rc, "%s", "");
	return cli_lib_error(ctx, rc, "%s", what);
}

/* ------------------------------------------------------------ qr */

static void qr_help(void)
{
	printf("NAME\n"
	       "       cask qr - tall-skinny QR factorisation of a dataset\n\n"
	       "SYNOPSIS\n"
	       "       cask qr PATH:/A --r PATH:/R [--q PATH:/Q] [GLOBAL OPTIONS]\n\n"
	       "DESCRIPTION\n"
	       "       Factors the m x n matrix A (m >= n) as A = Q R by direct TSQR, streaming A\n"
	       "       under the memory budget: R (n x n, float64, upper triangular with a\n"
	       "       non-negative diagonal) and optionally Q (m x n, A's float dtype, A's row\n"
	       "       chunks).  R alone reads A once; with Q, A is read twice and Q written once.\n"
	       "       Results are bit-identical between runs and thread counts (the leaf height,\n"
	       "       hence the last bits, can change with --memory).\n\n"
	       "OPTIONS\n"
	       "       --r PATH:/R   where to write R (required)\n"
	       "       --q PATH:/Q   where to write Q\n\n");
	cli_help_global();
	printf("EXAMPLES\n"
	       "       cask qr data.h5:/A --r out.h5:/R --q out.h5:/Q --memory 512M\n\n"
	       "EXIT STATUS\n"
	       "       0 success; 1 runtime error (I/O, non-finite input, output exists); 2 usage.\n");
}

int cli_cmd_qr(int argc, char **argv)
{
	la_args_t a = { 0 };
	cli_global_t g = { .progress = -1 };
	const char *pos[2];
	int npos = 0, ret, rc;
	out_ref_t r = { 0 }, q = { 0 };
	cask_ctx_t *ctx = NULL;
	cask_array_t *x = NULL;

	ret = cli_parse_args("qr", argc, argv, qr_options, on_option, &a, &g, pos, &npos, 2);
	if (ret)
		goto out;
	if (g.help) {
		qr_help();
		goto out;
	}
	if (npos != 1) {
		ret = cli_usage_error("qr", "expected one input dataset PATH:/A, got %d arguments",
		                      npos);
		goto out;
	}
	if (a.v[O_R] == NULL) {
		ret = cli_usage_error("qr", "missing --r PATH:/R");
		goto out;
	}
	if ((ret = parse_out("qr", "--r", a.v[O_R], g.overwrite, &r)) != 0 ||
	    (a.v[O_Q] != NULL && (ret = parse_out("qr", "--q", a.v[O_Q], g.overwrite, &q)) != 0))
		goto out;
	if ((ret = cli_ctx_open(&g, &ctx)) != 0)
		goto out;
	if (open_input("qr", ctx, pos[0], &x, &ret) != 0)
		goto out;
	rc = cask_tsqr(ctx, x, NULL, &r.st, a.v[O_Q] != NULL ? &q.st : NULL);
	if (rc < 0) {
		ret = lib_fail(ctx, rc, pos[0]);
		goto out;
	}
	if (!g.quiet) {
		cli_progress_done();
		if (q.path != NULL)
			fprintf(stderr, "cask: wrote %s:%s and %s:%s\n", r.path, r.dset, q.path, q.dset);
		else
			fprintf(stderr, "cask: wrote %s:%s\n", r.path, r.dset);
	}
out:
	cask_array_destroy(x);
	cli_ctx_close(&g, ctx);
	free_out(&r);
	free_out(&q);
	return cli_exit_status(ret);
}

/* ------------------------------------------------------------ svd */

static void svd_help(void)
{
	printf("NAME\n"
	       "       cask svd - singular value decomposition of a dataset\n\n"
	       "SYNOPSIS\n"
	       "       cask svd PATH:/A --s PATH:/S [--u PATH:/U] [--vt PATH:/VT]\n"
	       "                [-k RANK [--oversample P] [--power-iters Q] [--seed N]]\n"
	       "                [GLOBAL OPTIONS]\n\n"
	       "DESCRIPTION\n"
	       "       Without -k: the exact thin SVD A = U diag(S) V^T, k = min(m, n), singular\n"
	       "       values descending.  A tall A goes through TSQR (A read once, twice with\n"
	       "       --u); a wide A through its transpose.  With -k: a randomized rank-k SVD\n"
	       "       (Halko, Martinsson & Tropp) of any shape, reading A Q + 1 times when the\n"
	       "       m x (k + P) sketch fits a quarter of the budget, else 2 + 2Q times (the\n"
	       "       sketches then go to temporary files next to U, read back as well).\n"
	       "       S and the small factor are float64; the large factor (U of a tall A, V^T\n"
	       "       of a wide one) has A's float dtype.\n\n"
	       "OPTIONS\n"
	       "       --s PATH:/S        singular values (required)\n"
	       "       --u PATH:/U        left singular vectors (m x k)\n"
	       "       --vt PATH:/VT      right singular vectors, transposed (k x n)\n"
	       "       -k, --rank RANK    randomized SVD of rank RANK\n"
	       "       --oversample P     extra sketch columns (default 10, and a sketch of at\n"
	       "                          least 20 columns, as dask's svd_compressed)\n"
	       "       --power-iters Q    power iterations, re-orthonormalised (default 2)\n"
	       "       --seed N           seed of the Gaussian test matrix (default 0)\n\n");
	cli_help_global();
	printf("EXAMPLES\n"
	       "       cask svd data.h5:/A --s out.h5:/S --u out.h5:/U --vt out.h5:/VT\n"
	       "       cask svd big.h5:/A -k 10 --s out.h5:/S --seed 1\n\n"
	       "EXIT STATUS\n"
	       "       0 success; 1 runtime error (I/O, non-finite input, output exists); 2 usage.\n");
}

int cli_cmd_svd(int argc, char **argv)
{
	la_args_t a = { 0 };
	cli_global_t g = { .progress = -1 };
	const char *pos[2];
	int npos = 0, ret, rc;
	out_ref_t u = { 0 }, s = { 0 }, vt = { 0 };
	cask_ctx_t *ctx = NULL;
	cask_array_t *x = NULL;
	int64_t k = 0, p = -1, q = 2, seed = 0; /* p -1: the library's default sketch */

	ret = cli_parse_args("svd", argc, argv, svd_options, on_option, &a, &g, pos, &npos, 2);
	if (ret)
		goto out;
	if (g.help) {
		svd_help();
		goto out;
	}
	if (npos != 1) {
		ret = cli_usage_error("svd", "expected one input dataset PATH:/A, got %d arguments",
		                      npos);
		goto out;
	}
	if (a.v[O_S] == NULL) {
		ret = cli_usage_error("svd", "missing --s PATH:/S");
		goto out;
	}
	if (a.v[O_K] == NULL && (a.v[O_OVERSAMPLE] || a.v[O_POWER] || a.v[O_SEED])) {
		ret = cli_usage_error("svd", "--oversample, --power-iters and --seed need -k RANK");
		goto out;
	}
	if ((a.v[O_K] && (ret = cli_parse_int("svd", "-k", a.v[O_K], 1, INT64_MAX, &k)) != 0) ||
	    (a.v[O_OVERSAMPLE] &&
	     (ret = cli_parse_int("svd", "--oversample", a.v[O_OVERSAMPLE], 0, 1 << 20, &p)) != 0) ||
	    (a.v[O_POWER] &&
	     (ret = cli_parse_int("svd", "--power-iters", a.v[O_POWER], 0, 1000, &q)) != 0) ||
	    (a.v[O_SEED] && (ret = cli_parse_int("svd", "--seed", a.v[O_SEED], 0, INT64_MAX,
	                                         &seed)) != 0))
		goto out;
	if ((ret = parse_out("svd", "--s", a.v[O_S], g.overwrite, &s)) != 0 ||
	    (a.v[O_U] && (ret = parse_out("svd", "--u", a.v[O_U], g.overwrite, &u)) != 0) ||
	    (a.v[O_VT] && (ret = parse_out("svd", "--vt", a.v[O_VT], g.overwrite, &vt)) != 0))
		goto out;
	if ((ret = cli_ctx_open(&g, &ctx)) != 0)
		goto out;
	if (open_input("svd", ctx, pos[0], &x, &ret) != 0)
		goto out;
	const cask_store_t *us = a.v[O_U] ? &u.st : NULL, *vs = a.v[O_VT] ? &vt.st : NULL;
	if (a.v[O_K] != NULL) {
		const int64_t *sh = cask_array_shape(x);
		int64_t mn = cask_array_ndim(x) == 2 ? (sh[0] < sh[1] ? sh[0] : sh[1]) : 0;
		if (cask_array_ndim(x) == 2 && k > mn) {
			ret = cli_usage_error("svd", "-k %" PRId64 " is larger than min(m, n) = %" PRId64,
			                      k, mn);
			goto out;
		}
		rc = cask_svd_randomized(ctx, x, k, p, q, (uint64_t)seed, NULL, NULL, us, &s.st, vs);
	} else {
		rc = cask_svd(ctx, x, NULL, NULL, us, &s.st, vs);
	}
	if (rc < 0) {
		ret = lib_fail(ctx, rc, pos[0]);
		goto out;
	}
	if (!g.quiet) {
		cli_progress_done();
		/* each output with its file: U and V^T may go to other files than S */
		fprintf(stderr, "cask: wrote %s:%s", s.path, s.dset);
		if (us != NULL)
			fprintf(stderr, ", %s:%s", u.path, u.dset);
		if (vs != NULL)
			fprintf(stderr, ", %s:%s", vt.path, vt.dset);
		fputc('\n', stderr);
	}
out:
	cask_array_destroy(x);
	cli_ctx_close(&g, ctx);
	free_out(&u);
	free_out(&s);
	free_out(&vt);
	return cli_exit_status(ret);
}

/* ------------------------------------------------------------ lstsq */

static void lstsq_help(void)
{
	printf("NAME\n"
	       "       cask lstsq - least-squares solution of A x = b\n\n"
	       "SYNOPSIS\n"
	       "       cask lstsq PATH:/A PATH:/b -o PATH:/x [GLOBAL OPTIONS]\n\n"
	       "DESCRIPTION\n"
	       "       Minimises ||A x - b|| for a tall A (m >= n) by TSQR, with Q^T b carried\n"
	       "       through the reduction so Q is never formed; A and b are read once.  As\n"
	       "       numpy.linalg.lstsq, singular values of A at most RCOND times the largest\n"
	       "       count as zero: of full rank x = R^-1 Q^T b, else x is the minimum-norm\n"
	       "       solution (from the SVD of R).  b is a vector (m) or a matrix (m x k); x\n"
	       "       is written as float64 of shape (n) or (n, k).  Printed on standard\n"
	       "       output: 'residual_norm' ||A x - b|| for each column of b, then 'rank'.\n\n"
	       "OPTIONS\n"
	       "       -o, --output PATH:/x   where to write x (required)\n"
	       "       --rcond RCOND          relative cut-off for small singular values, as\n"
	       "                              numpy.linalg.lstsq's (<= 0 or >= 1: machine\n"
	       "                              epsilon; default: epsilon times max(m, n))\n\n");
	cli_help_global();
	printf("EXAMPLES\n"
	       "       cask lstsq data.h5:/A data.h5:/b -o out.h5:/x\n\n"
	       "EXIT STATUS\n"
	       "       0 success; 1 runtime error (I/O, non-finite input, overflow); 2 usage.\n");
}

int cli_cmd_lstsq(int argc, char **argv)
{
	la_args_t a = { 0 };
	cli_global_t g = { .progress = -1 };
	const char *pos[3];
	int npos = 0, ret, rc;
	out_ref_t o = { 0 };
	cask_ctx_t *ctx = NULL;
	cask_array_t *x = NULL, *b = NULL, *xa = NULL;
	double *sol = NULL, *rn = NULL;

	ret = cli_parse_args("lstsq", argc, argv, lstsq_options, on_option, &a, &g, pos, &npos, 3);
	if (ret)
		goto out;
	if (g.help) {
		lstsq_help();
		goto out;
	}
	if (npos != 2) {
		ret = cli_usage_error("lstsq", "expected PATH:/A PATH:/b, got %d arguments", npos);
		goto out;
	}
	if (a.v[O_OUT] == NULL) {
		ret = cli_usage_error("lstsq", "missing -o PATH:/x");
		goto out;
	}
	if ((ret = parse_out("lstsq", "-o", a.v[O_OUT], g.overwrite, &o)) != 0)
		goto out;
	double rcond = -1.0;
	if (a.v[O_RCOND] != NULL) {
		char *end = NULL;
		rcond = strtod(a.v[O_RCOND], &end);
		if (end == a.v[O_RCOND] || *end != '\0' || isnan(rcond)) {
			ret = cli_usage_error("lstsq", "invalid --rcond '%s' (expected a number)",
			                      a.v[O_RCOND]);
			goto out;
		}
		/* numpy.linalg.lstsq's rcond: LAPACK's dgelsd takes one <= 0 or
		 * >= 1 as machine epsilon (the library's own negative is
		 * NumPy's default, eps * max(m, n)). */
		if (rcond < 0.0)
			rcond = DBL_EPSILON;
	}
	if ((ret = cli_ctx_open(&g, &ctx)) != 0)
		goto out;
	if (open_input("lstsq", ctx, pos[0], &x, &ret) != 0 ||
	    open_input("lstsq", ctx, pos[1], &b, &ret) != 0)
		goto out;
	/* Shapes of the data (not of the command line): exit 1, as qr and svd. */
	if (cask_array_ndim(x) != 2) {
		cli_error("%s: A must be 2-d, not %d-d", pos[0], cask_array_ndim(x));
		ret = CLI_EXIT_RUNTIME;
		goto out;
	}
	if (cask_array_ndim(b) < 1 || cask_array_ndim(b) > 2) {
		cli_error("%s: b must be 1-d or 2-d, not %d-d", pos[1], cask_array_ndim(b));
		ret = CLI_EXIT_RUNTIME;
		goto out;
	}
	int64_t m = cask_array_shape(x)[0], n = cask_array_shape(x)[1];
	int64_t nrhs = cask_array_ndim(b) == 2 ? cask_array_shape(b)[1] : 1;
	if (n < 1 || m < n) {
		cli_error("%s: least squares by QR needs a tall A (m >= n >= 1), "
		          "got %" PRId64 " x %" PRId64, pos[0], m, n);
		ret = CLI_EXIT_RUNTIME;
		goto out;
	}
	if (cask_array_shape(b)[0] != m || nrhs < 1) {
		cli_error("%s: b must have A's %" PRId64 " rows and at least one "
		          "column, got %" PRId64 " rows and %" PRId64 " columns", pos[1], m,
		          cask_array_shape(b)[0], nrhs);
		ret = CLI_EXIT_RUNTIME;
		goto out;
	}
	sol = calloc((size_t)(n * nrhs > 0 ? n * nrhs : 1), sizeof *sol);
	rn = calloc((size_t)(nrhs > 0 ? nrhs : 1), sizeof *rn);
	if (sol == NULL || rn == NULL) {
		ret = cli_lib_error(ctx, CASK_ENOMEM, "lstsq");
		goto out;
	}
	int64_t rank = 0;
	rc = cask_lstsq_ex(ctx, x, b, rcond, sol, rn, &rank);
	if (rc < 0) {
		/* named after b when the library's message is about b */
		const char *m = cask_ctx_message(ctx);
		size_t bl = strlen(pos[1]);
		ret = lib_fail(ctx, rc, strncmp(m, pos[1], bl) == 0 && m[bl] == ':' ? pos[1] : pos[0]);
		goto out;
	}
	int64_t shape[2] = { n, nrhs };
	rc = cask_array_from_buffer(ctx, CASK_FLOAT64, cask_array_ndim(b), shape, NULL, sol, &xa);
	if (rc == 0)
		rc = cask_store(ctx, 1, &xa, &o.st);
	if (rc < 0) {
		ret = lib_fail(ctx, rc, a.v[O_OUT]);
		goto out;
	}
	cli_progress_done();
	for (int64_t j = 0; j < nrhs; j++)
		printf("residual_norm %.17g\n", rn[j]);
	printf("rank %" PRId64 "\n", rank);
	if (rank < n && !g.quiet)
		fprintf(stderr, "cask: A has rank %" PRId64 " < %" PRId64 " (to rcond): x is the "
		        "minimum-norm solution\n", rank, n);
	if (!g.quiet)
		fprintf(stderr, "cask: wrote %s:%s\n", o.path, o.dset);
out:
	cask_array_destroy(xa);
	cask_array_destroy(x);
	cask_array_destroy(b);
	cli_ctx_close(&g, ctx);
	free_out(&o);
	free(sol);
	free(rn);
	return cli_exit_status(ret);
}

/* ------------------------------------------------------------ @ in eval */

/* a @ b: cask_matmul streams a's rows against an in-memory b; a = X.T
 * (X tall) becomes the reduction X^T b, and X.T @ X the Gram matrix. */
int cli_fn_matmul(cli_build_t *b, int col, cask_array_t *a, cask_array_t *bm,
                  cask_array_t **out)
{
	int rc = cask_matmul(cli_build_ctx(b), a, bm, out);
	if (rc < 0)
		return cli_build_lib_fail(b, col, rc);
	return 0;
}
