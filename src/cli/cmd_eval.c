/*
 * cmd_eval.c - `cask eval`: evaluate an expression over named HDF5 inputs;
 * print the result, or store it with -o.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "expr.h"
#include "expr_build.h"
#include "print.h"

#define CMD "eval"
#define MAX_INPUTS 1024
/* Largest result printed without -o (issue 3). */
#define PRINT_LIMIT 10000

enum { O_INPUT = 1, O_OUTPUT, O_CHUNKS, O_DTYPE, O_COMPRESS, O_SHUFFLE };

static const cli_option_t options[] = {
	{ "input", 'i', 1, O_INPUT },
	{ "output", 'o', 1, O_OUTPUT },
	{ "chunks", 0, 1, O_CHUNKS },
	{ "dtype", 0, 1, O_DTYPE },
	{ "compress", 0, 1, O_COMPRESS },
	{ "shuffle", 0, 0, O_SHUFFLE },
	{ NULL, 0, 0, 0 },
};

typedef struct {
	const char *inputs[MAX_INPUTS];
	int ninputs;
	const char *output;
	const char *chunks;
	const char *dtype;
	const char *compress;
	int shuffle;
} eval_args_t;

static void help(void)
{
	printf("NAME\n"
	       "       cask eval - evaluate a NumPy-style expression over HDF5 datasets\n\n"
	       "SYNOPSIS\n"
	       "       cask eval [-i NAME=PATH:/DSET]... EXPR [-o PATH:/DSET] [--chunks C0,C1,..]\n"
	       "                 [--dtype T] [--compress gzip[=LEVEL]] [--shuffle] [GLOBAL OPTIONS]\n\n"
	       "DESCRIPTION\n"
	       "       Binds each NAME to a dataset and evaluates EXPR chunk by chunk under the\n"
	       "       memory budget.  Without -o the result is printed if it has at most %d\n"
	       "       elements: a scalar as one value, 1-d one value per line, 2-d one row per\n"
	       "       line with values separated by one space, higher ranks as 2-d slices\n"
	       "       separated by a blank line.  Integers print in decimal, float64 with\n"
	       "       %%.17g and float32 with %%.9g (exact round trip), bools as True/False,\n"
	       "       non-finite values as nan, inf, -inf.\n\n"
	       "       With -o the result is stored: the file is created if missing, the dataset\n"
	       "       added to an existing file; an existing dataset is an error unless\n"
	       "       --overwrite.  The output may be one of the inputs.  A failed or\n"
	       "       interrupted run leaves the file as it was.\n\n"
	       "THE EXPRESSION LANGUAGE\n"
	       "       Python syntax with NumPy semantics (broadcasting, type promotion; number\n"
	       "       literals are Python scalars: float32 * 2.0 stays float32).\n"
	       "       Literals   1  -3  2.5  1e-3  0x1f  True  False  nan  inf  pi  e  'f4'\n"
	       "                  Arithmetic of literals alone is Python's (2 ** -1 is 0.5,\n"
	       "                  exact integers up to 127 bits).  As NumPy 2: an integer array\n"
	       "                  compared with an int outside its dtype gets the exact answer\n"
	       "                  (uint8 < -1 is False); any other use of such an int is an\n"
	       "                  error (int8 + 300), except a clip bound beyond the dtype on its\n"
	       "                  own side, which is dropped; an integer to a negative integer\n"
	       "                  power is an error.\n"
	       "       Operators  (lowest to highest) < <= > >= == !=  |  ^  &  + -\n"
	       "                  * @ / // %%  unary - + ~  **  (-2**2 is -4; a<b<c is an error)\n"
	       "                  & | ^ ~ are logical on bools, bitwise on integers.\n"
	       "       Indexing   x[10:200:2, ::-1, 5]  x[..., 0]  x[None]  x[-1]  x.T\n"
	       "       Elementwise\n"
	       "                  add subtract multiply divide floor_divide mod power negative\n"
	       "                  abs sqrt square exp log log2 log10 log1p expm1 sin cos tan\n"
	       "                  arcsin arccos arctan sinh cosh tanh arctan2 hypot floor ceil\n"
	       "                  rint round sign isnan isinf isfinite minimum maximum\n"
	       "                  less greater equal ... logical_and/or/xor/not invert\n"
	       "                  where(c, a, b)  clip(x, lo, hi)  astype(x, 'f4')\n"
	       "       Reductions sum prod mean var std min max argmin argmax any all\n"
	       "                  count_nonzero nansum nanprod nanmean nanvar nanstd nanmin\n"
	       "                  nanmax, with axis= (int, negative, tuple), keepdims=, ddof=\n"
	       "       Products   A @ B, matmul(A, B), dot(A, B): numpy.matmul for 1-d and 2-d\n"
	       "                  operands (a 1-d left operand is a row, a 1-d right operand a\n"
	       "                  column, their axis dropped from the result).  Result dtype as\n"
	       "                  NumPy: float32 @ float32 is float32, float32 with float64 or\n"
	       "                  int64 is float64; integers are multiplied exactly with NumPy's\n"
	       "                  wraparound in the promoted integer type; bool @ bool is bool\n"
	       "                  (OR of ANDs).  An empty inner dimension gives zeros.  B (or b)\n"
	       "                  is computed into memory and must fit a quarter of --memory;\n"
	       "                  A streams row block by row block.  X.T @ B with X tall (and\n"
	       "                  X.T @ X) is a reduction over X's rows whose n x k result must\n"
	       "                  fit an eighth of --memory.  Operands may contain reductions\n"
	       "                  (A @ mean(A, axis=0)).  3-d and higher (batched) operands are\n"
	       "                  refused.  Float products run in float64 (BLAS) and are rounded\n"
	       "                  once to float32 when that is the result type.\n"
	       "       Shape      transpose(x, (2, 0, 1))  x.T\n"
	       "                  reshape(x, (a, 1, b)) (adding or removing length-1 axes)\n"
	       "                  concatenate((a, b), axis=0)  stack((a, b), axis=1)\n"
	       "       Filters    scipy.ndimage's, same parameters and defaults (mode='reflect'):\n"
	       "                  gaussian(x, sigma=3) or sigma=(1, 2, 2), order=, truncate=\n"
	       "                  uniform(x, size=5)  median(x, size=3)  minimum_filter\n"
	       "                  maximum_filter  sobel(x, axis=0)  prewitt  laplace\n"
	       "                  gaussian_gradient_magnitude(x, sigma=2)  gaussian_laplace\n"
	       "                  correlate(x, [[1, 2], [3, 4]])  convolve(x, w)\n"
	       "                  each with mode= (reflect mirror nearest constant wrap), cval=\n"
	       "       Functions may be written np.sqrt(x); methods x.sum(axis=0),\n"
	       "       x.astype('f4'), x.clip(0, 1), x.transpose(1, 0) work as in NumPy.\n\n"
	       "OPTIONS\n"
	       "       -i, --input NAME=PATH:/DSET\n"
	       "              Bind NAME to a dataset (repeatable).\n"
	       "       -o, --output PATH:/DSET\n"
	       "              Store the result instead of printing it.\n"
	       "       --chunks C0,C1,..\n"
	       "              Chunk shape of the stored dataset (default: the result's chunks).\n"
	       "       --dtype T\n"
	       "              Convert the result (astype): bool i1 i2 i4 i8 u1 u2 u4 u8 f4 f8.\n"
	       "       --compress gzip[=LEVEL]\n"
	       "              Deflate the stored chunks (LEVEL 0..9, default 4).\n"
	       "       --shuffle\n"
	       "              Byte-shuffle the stored chunks (helps compression).\n"
	       "       --\n"
	       "              Ends the options: write `cask eval -- -x` for an expression that\n"
	       "              starts with '-'.\n\n",
	       PRINT_LIMIT);
	cli_help_global();
	printf("EXAMPLES\n"
	       "       cask eval -i x=data.h5:/x 'sum(x)'\n"
	       "       cask eval -i x=data.h5:/x 'std(x, axis=(0, 1), ddof=1)'\n"
	       "       cask eval -i a=f.h5:/a -i b=f.h5:/b 'where(a > b, a, b)[::-1, 0]'\n"
	       "       cask eval -i x=data.h5:/x 'x - mean(x, axis=0)' -o out.h5:/centred\n"
	       "       cask eval -i x=f.h5:/x 'x * 2' -o f.h5:/x --overwrite\n\n"
	       "EXIT STATUS\n"
	       "       0 success; 1 runtime error (missing file, I/O, memory budget); 2 usage\n"
	       "       or expression error (the expression is repeated with a caret under the\n"
	       "       error); 130 / 143 interrupted by SIGINT / SIGTERM.\n");
}

static int on_option(void *user, int id, const char *arg)
{
	eval_args_t *a = user;

	switch (id) {
	case O_INPUT:
		if (a->ninputs >= MAX_INPUTS)
			return cli_usage_error(CMD, "too many inputs (at most %d)", MAX_INPUTS);
		a->inputs[a->ninputs++] = arg;
		return 0;
	case O_OUTPUT: a->output = arg; return 0;
	case O_CHUNKS: a->chunks = arg; return 0;
	case O_DTYPE: a->dtype = arg; return 0;
	case O_COMPRESS: a->compress = arg; return 0;
	case O_SHUFFLE: a->shuffle = 1; return 0;
	default: return CLI_EXIT_USAGE;
	}
}

static int valid_name(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return 0;
	for (i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_' ||
		      (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return 1;
}

static void expr_error(const char *src, int col, const char *msg)
{
	cli_error("%s", msg);
	cli_expr_caret(stderr, src, col);
}

/* Compute a (small) result and print it.  A failure names the inputs
 * (ninputs strings NAME=PATH:/DSET): an error in the data, such as an
 * integer to a negative power, has no file of its own in its message. */
static int print_result(cask_ctx_t *ctx, cask_array_t *a, int ninputs, const char *const *inputs)
{
	int64_t n = cask_array_size(a);
	cask_dtype_t t = cask_array_dtype(a);
	size_t bytes = (size_t)n * cask_dtype_size(t);
	void *buf = malloc(bytes ? bytes : 1);
	int rc, ret = CLI_EXIT_OK;

	if (!buf) {
		cli_error("out of memory");
		return CLI_EXIT_RUNTIME;
	}
	rc = cask_compute(ctx, a, buf, bytes);
	if (rc < 0) {
		char names[512];
		size_t len = 0;
		int i;

		names[0] = '\0';
		for (i = 0; i < ninputs && len < sizeof names; i++) {
			int w = snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "",
			                 inputs[i]);
			len += w > 0 ? (size_t)w : 0;
		}
		ret = cli_lib_error(ctx, rc, ninputs ? "evaluation failed (inputs %s)" :
		                                       "evaluation failed", names);
		goto out;
	}
	cli_progress_done();
	if (cli_print_array(stdout, t, cask_array_ndim(a), cask_array_shape(a), buf) < 0) {
		cli_error("cannot write the result");
		ret = CLI_EXIT_RUNTIME;
	}
out:
	free(buf);
	return ret;
}

int cli_cmd_eval(int argc, char **argv)
{
	eval_args_t a = { .ninputs = 0 };
	cli_global_t g = { .progress = -1 };
	const char *pos[1];
	int npos = 0, ret = CLI_EXIT_OK, rc, i, j, nchunks = 0, gzip = -1, have_dtype = 0;
	char *names[MAX_INPUTS] = { 0 }, *paths[MAX_INPUTS] = { 0 }, *dsets[MAX_INPUTS] = { 0 };
	cli_binding_t binds[MAX_INPUTS];
	char *opath = NULL, *odset = NULL;
	int64_t chunks[CASK_MAX_DIMS];
	cask_dtype_t dtype = CASK_FLOAT64;
	cli_expr_t *tree = NULL;
	cli_expr_error_t perr;
	cli_build_error_t berr;
	cask_ctx_t *ctx = NULL;
	cask_array_t *result = NULL;
	const char *src;

	memset(binds, 0, sizeof binds);
	ret = cli_parse_args(CMD, argc, argv, options, on_option, &a, &g, pos, &npos, 1);
	if (ret)
		goto out;
	if (g.help) {
		help();
		goto out;
	}
	if (g.version) {
		printf("cask %s\n", CASK_VERSION_STRING);
		goto out;
	}
	if (npos == 0) {
		ret = cli_usage_error(CMD, "missing the expression to evaluate");
		goto out;
	}
	src = pos[0];

	/* Inputs: NAME=PATH:/DSET, each name once, not a reserved word. */
	for (i = 0; i < a.ninputs; i++) {
		const char *s = a.inputs[i], *eq = strchr(s, '=');
		size_t n = eq ? (size_t)(eq - s) : 0;

		if (!eq || !valid_name(s, n)) {
			ret = cli_usage_error(CMD, "invalid input '%s': expected NAME=PATH:/DATASET with "
			                           "NAME a Python identifier", s);
			goto out;
		}
		names[i] = strndup(s, n);
		if (!names[i]) {
			cli_error("out of memory");
			ret = CLI_EXIT_RUNTIME;
			goto out;
		}
		if (cli_build_name_reserved(names[i])) {
			ret = cli_usage_error(CMD, "input name '%s' is reserved in expressions; choose "
			                           "another", names[i]);
			goto out;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(names[j], names[i]) == 0) {
				ret = cli_usage_error(CMD, "input name '%s' is bound twice", names[i]);
				goto out;
			}
		}
		if ((ret = cli_parse_dsref(CMD, "input", eq + 1, 1, &paths[i], &dsets[i])) != 0)
			goto out;
	}
	if (a.output && (ret = cli_parse_dsref(CMD, "output", a.output, 1, &opath, &odset)) != 0)
		goto out;
	if (!a.output && (a.chunks || a.compress || a.shuffle)) {
		ret = cli_usage_error(CMD, "--chunks, --compress and --shuffle apply to the stored "
		                           "result: add -o PATH:/DATASET");
		goto out;
	}
	if (a.chunks && (ret = cli_parse_dims(CMD, "--chunks", a.chunks, 1, chunks, &nchunks)) != 0)
		goto out;
	if (a.compress && (ret = cli_parse_compress(CMD, a.compress, &gzip)) != 0)
		goto out;
	if (a.dtype) {
		if ((ret = cli_parse_dtype(CMD, a.dtype, &dtype)) != 0)
			goto out;
		have_dtype = 1;
	}

	if (cli_expr_parse(src, &tree, &perr) < 0) {
		expr_error(src, perr.col, perr.msg);
		ret = CLI_EXIT_USAGE;
		goto out;
	}

	if ((ret = cli_ctx_open(&g, &ctx)) != 0)
		goto out;
	for (i = 0; i < a.ninputs; i++) {
		rc = cask_array_open(ctx, paths[i], dsets[i], NULL, &binds[i].array);
		if (rc < 0) {
			ret = cli_lib_error(ctx, rc, "input %s (%s:%s)", names[i], paths[i], dsets[i]);
			goto out;
		}
		binds[i].name = names[i];
	}
	rc = cli_build(ctx, tree, binds, a.ninputs, &result, &berr);
	if (rc < 0 && berr.rc == CASK_ECANCELED) {
		/* interrupted while a product's operand was computed */
		ret = cli_lib_error(ctx, berr.rc, "%s", src);
		goto out;
	}
	if (rc < 0) {
		expr_error(src, berr.col, berr.msg);
		ret = cli_exit_status(berr.exit_code);
		goto out;
	}
	if (have_dtype && cask_array_dtype(result) != dtype) {
		cask_array_t *cast = NULL;

		rc = cask_astype(ctx, result, dtype, &cast);
		if (rc < 0) {
			ret = cli_lib_error(ctx, rc, "--dtype %s", a.dtype);
			goto out;
		}
		cask_array_destroy(result);
		result = cast;
	}

	if (!a.output) {
		int64_t n = cask_array_size(result);

		if (n > PRINT_LIMIT) {
			char shape[256];

			cli_format_shape(cask_array_ndim(result), cask_array_shape(result), shape,
			                 sizeof shape);
			ret = cli_usage_error(CMD, "the result has %" PRId64 " elements (shape %s), more "
			                           "than %d to print; store it with -o PATH:/DATASET", n,
			                      shape, PRINT_LIMIT);
			goto out;
		}
		ret = print_result(ctx, result, a.ninputs, a.inputs);
	} else {
		cask_store_t so;
		int ndim = cask_array_ndim(result);

		if (a.chunks && nchunks != ndim) {
			ret = cli_usage_error(CMD, "--chunks has %d value%s but the result has %d "
			                           "dimension%s", nchunks, nchunks == 1 ? "" : "s", ndim,
			                      ndim == 1 ? "" : "s");
			goto out;
		}
		cask_store_init(&so, opath, odset);
		so.chunks = a.chunks ? chunks : NULL;
		so.gzip = gzip;
		so.shuffle = a.shuffle;
		so.overwrite = g.overwrite;
		rc = cask_store(ctx, 1, &result, &so);
		if (rc < 0) {
			if (rc == CASK_EEXIST)
				ret = cli_lib_error(ctx, rc, "output %s:%s (use --overwrite to replace it)",
				                    opath, odset);
			else
				ret = cli_lib_error(ctx, rc, "output %s:%s", opath, odset);
			goto out;
		}
		if (!g.quiet) {
			char shape[256];

			cli_progress_done();
			cli_format_shape(ndim, cask_array_shape(result), shape, sizeof shape);
			fprintf(stderr, "cask: wrote %s:%s %s %s\n", opath, odset, shape,
			        cask_dtype_name(cask_array_dtype(result)));
		}
	}
out:
	cask_array_destroy(result);
	for (i = 0; i < a.ninputs; i++) {
		cask_array_destroy(binds[i].array);
		free(names[i]);
		free(paths[i]);
		free(dsets[i]);
	}
	cli_ctx_close(&g, ctx);
	cli_expr_free(tree);
	free(opath);
	free(odset);
	return cli_exit_status(ret);
}
