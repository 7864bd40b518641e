/*
 * cmd_filter.c - `cask filter NAME PATH:/DSET -o PATH:/DSET [options]`: one
 * scipy.ndimage filter over a dataset (issue 5), and the filter functions of
 * the expression language (gaussian(x, sigma=3), sobel(x, axis=0), ...),
 * the cli_fn_filter hook of expr_build.h.  Both build a cask_filter_t with
 * scipy's parameter names and defaults.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "expr.h"
#include "expr_build.h"

#define CMD "filter"
/* Largest weights array of correlate / convolve read from an expression. */
#define MAX_WEIGHTS (1 << 20)

enum { O_OUTPUT = 1, O_SIGMA, O_SIZE, O_AXIS, O_MODE, O_CVAL, O_ORDER, O_TRUNCATE, O_CHUNKS,
       O_COMPRESS, O_SHUFFLE };

static const cli_option_t options[] = {
	{ "output", 'o', 1, O_OUTPUT },
	{ "sigma", 0, 1, O_SIGMA },
	{ "size", 0, 1, O_SIZE },
	{ "axis", 0, 1, O_AXIS },
	{ "mode", 0, 1, O_MODE },
	{ "cval", 0, 1, O_CVAL },
	{ "order", 0, 1, O_ORDER },
	{ "truncate", 0, 1, O_TRUNCATE },
	{ "chunks", 0, 1, O_CHUNKS },
	{ "compress", 0, 1, O_COMPRESS },
	{ "shuffle", 0, 0, O_SHUFFLE },
	{ NULL, 0, 0, 0 },
};

typedef struct {
	const char *output, *sigma, *size, *axis, *mode, *cval, *order, *truncate, *chunks,
		*compress;
	int shuffle;
} filter_args_t;

static void help(void)
{
	printf("NAME\n"
	       "       cask filter - apply one scipy.ndimage filter to a dataset\n\n"
	       "SYNOPSIS\n"
	       "       cask filter NAME PATH:/DSET -o PATH:/DSET [--sigma S[,S..]] [--size N[,N..]]\n"
	       "                   [--axis A] [--mode M[,M..]] [--cval V] [--order O[,O..]]\n"
	       "                   [--truncate T] [--chunks C0,C1,..] [--compress gzip[=LEVEL]]\n"
	       "                   [--shuffle] [GLOBAL OPTIONS]\n\n"
	       "DESCRIPTION\n"
	       "       Filters the dataset block by block with halos read from the file, so the\n"
	       "       result equals scipy.ndimage's filter on the whole array (same defaults,\n"
	       "       same output dtype: the input's), and stores it.  For pipelines of filters\n"
	       "       and arithmetic use `cask eval` with the same functions, e.g.\n"
	       "       cask eval -i x=in.h5:/x 'hypot(sobel(gaussian(x, 2), axis=0),\n"
	       "       sobel(gaussian(x, 2), axis=1))' -o out.h5:/edges\n\n"
	       "FILTERS (NAME)\n"
	       "       gaussian (gaussian_filter)       --sigma required; --order, --truncate\n"
	       "       uniform (uniform_filter)         --size (default 3)\n"
	       "       median (median_filter)           --size required\n"
	       "       minimum (minimum_filter)         --size required\n"
	       "       maximum (maximum_filter)         --size required\n"
	       "       sobel, prewitt                   --axis (default -1)\n"
	       "       laplace\n"
	       "       gaussian_gradient_magnitude      --sigma required; --truncate\n"
	       "       gaussian_laplace                 --sigma required; --truncate\n\n"
	       "OPTIONS\n"
	       "       -o, --output PATH:/DSET\n"
	       "              Where to store the result (required).\n"
	       "       --sigma S[,S..]   Gaussian standard deviation: one value or one per axis.\n"
	       "       --size N[,N..]    Window extent: one value or one per axis.\n"
	       "       --axis A          Derivative axis of sobel / prewitt (negative from the end).\n"
	       "       --mode M[,M..]    Boundary: reflect (default), mirror, nearest, constant,\n"
	       "                         wrap; one per axis where scipy allows it.\n"
	       "       --cval V          Value beyond the edge for mode constant (default 0; nan\n"
	       "                         and inf too).\n"
	       "       --order O[,O..]   Gaussian derivative order 0, 1 or 2 (default 0).\n"
	       "       --truncate T      Gaussian radius in sigmas (default 4.0).\n"
	       "       --chunks C0,C1,.. Chunk shape of the stored dataset (default: the input's).\n"
	       "       --compress gzip[=LEVEL], --shuffle\n"
	       "                         Compression of the stored dataset.\n\n");
	cli_help_global();
	printf("EXAMPLES\n"
	       "       cask filter gaussian img.h5:/x -o out.h5:/smooth --sigma 3\n"
	       "       cask filter median vol.h5:/v -o out.h5:/m --size 3 --mode nearest\n"
	       "       cask filter sobel img.h5:/x -o out.h5:/gx --axis 0\n\n"
	       "EXIT STATUS\n"
	       "       0 success; 1 runtime error; 2 usage error; 130 / 143 interrupted.\n");
}

static int on_option(void *user, int id, const char *arg)
{
	filter_args_t *a = user;

	switch (id) {
	case O_OUTPUT: a->output = arg; return 0;
	case O_SIGMA: a->sigma = arg; return 0;
	case O_SIZE: a->size = arg; return 0;
	case O_AXIS: a->axis = arg; return 0;
	case O_MODE: a->mode = arg; return 0;
	case O_CVAL: a->cval = arg; return 0;
	case O_ORDER: a->order = arg; return 0;
	case O_TRUNCATE: a->truncate = arg; return 0;
	case O_CHUNKS: a->chunks = arg; return 0;
	case O_COMPRESS: a->compress = arg; return 0;
	case O_SHUFFLE: a->shuffle = 1; return 0;
	default: return CLI_EXIT_USAGE;
	}
}

/* A finite number.  0 or CLI_EXIT_USAGE. */
static int parse_double(const char *what, const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end != '\0' || v != v || v - v != 0)
		return cli_usage_error(CMD, "%s: '%s' is not a finite number", what, s);
	*out = v;
	return 0;
}

/* --cval: any number, NaN and infinities included (scipy pads with them:
 * cval=nan marks the border).  0 or CLI_EXIT_USAGE. */
static int parse_cval(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end != '\0')
		return cli_usage_error(CMD, "--cval: '%s' is not a number", s);
	*out = v;
	return 0;
}

/* An option the filter does not take is a usage error, as an unexpected
 * keyword is scipy's TypeError: `gaussian --axis 0` is not a gaussian along
 * axis 0 only, and `median --sigma 2` is not a smoothing.  0 or
 * CLI_EXIT_USAGE. */
static int check_options_apply(cask_filter_kind_t kind, const filter_args_t *a)
{
	int gauss = kind == CASK_FILTER_GAUSSIAN || kind == CASK_FILTER_GAUSSIAN_GRADIENT_MAGNITUDE ||
	            kind == CASK_FILTER_GAUSSIAN_LAPLACE;
	int sized = kind == CASK_FILTER_UNIFORM || kind == CASK_FILTER_MEDIAN ||
	            kind == CASK_FILTER_MINIMUM || kind == CASK_FILTER_MAXIMUM;
	int deriv = kind == CASK_FILTER_SOBEL || kind == CASK_FILTER_PREWITT;
	const struct { const char *opt, *val; int applies; } t[] = {
		{ "--sigma", a->sigma, gauss }, { "--truncate", a->truncate, gauss },
		{ "--order", a->order, kind == CASK_FILTER_GAUSSIAN }, { "--size", a->size, sized },
		{ "--axis", a->axis, deriv },
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (t[i].val && !t[i].applies)
			return cli_usage_error(CMD, "%s does not apply to %s (see the "
			                       "FILTERS list of --help)", t[i].opt, cask_filter_name(kind));
	return 0;
}

/* "a,b,c" of numbers (at most CASK_MAX_DIMS). */
static int parse_doubles(const char *what, const char *s, double *v, int *n)
{
	char buf[1024], *save = NULL, *tok;
	int ret;

	snprintf(buf, sizeof buf, "%s", s);
	*n = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n >= CASK_MAX_DIMS)
			return cli_usage_error(CMD, "%s: more than %d values", what, CASK_MAX_DIMS);
		if ((ret = parse_double(what, tok, &v[*n])) != 0)
			return ret;
		(*n)++;
	}
	if (*n == 0)
		return cli_usage_error(CMD, "%s: no value", what);
	return 0;
}

static int parse_modes(const char *s, cask_mode_t *m, int *n)
{
	char buf[1024], *save = NULL, *tok;

	snprintf(buf, sizeof buf, "%s", s);
	*n = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n >= CASK_MAX_DIMS)
			return cli_usage_error(CMD, "--mode: more than %d values", CASK_MAX_DIMS);
		if (cask_mode_parse(tok, &m[*n]) != 0 || m[*n] == CASK_MODE_NONE)
			return cli_usage_error(CMD, "--mode: unknown mode '%s' (reflect, mirror, nearest, "
			                            "constant, wrap)", tok);
		(*n)++;
	}
	if (*n == 0)
		return cli_usage_error(CMD, "--mode: no value");
	return 0;
}

int cli_cmd_filter(int argc, char **argv)
{
	filter_args_t a;
	cli_global_t g = { .progress = -1 };
	const char *pos[2];
	int npos = 0, ret = CLI_EXIT_OK, rc, i, n, nchunks = 0, gzip = -1;
	char *ipath = NULL, *idset = NULL, *opath = NULL, *odset = NULL;
	int64_t chunks[CASK_MAX_DIMS], iv[CASK_MAX_DIMS];
	double dv[CASK_MAX_DIMS];
	cask_filter_kind_t kind;
	cask_filter_t spec;
	cask_ctx_t *ctx = NULL;
	cask_array_t *x = NULL, *y = NULL;

	memset(&a, 0, sizeof a);
	ret = cli_parse_args(CMD, argc, argv, options, on_option, &a, &g, pos, &npos, 2);
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
	if (npos < 2) {
		ret = cli_usage_error(CMD, npos == 0 ? "missing the filter name and the input dataset"
		                                     : "missing the input dataset PATH:/DSET");
		goto out;
	}
	if (cask_filter_parse(pos[0], &kind) != 0 || kind == CASK_FILTER_CORRELATE ||
	    kind == CASK_FILTER_CONVOLVE) {
		ret = cli_usage_error(CMD, "unknown filter '%s' (gaussian, uniform, median, minimum, "
		                           "maximum, sobel, prewitt, laplace, "
		                           "gaussian_gradient_magnitude, gaussian_laplace; correlate and "
		                           "convolve are available in `cask eval`)", pos[0]);
		goto out;
	}
	if (!a.output) {
		ret = cli_usage_error(CMD, "missing -o PATH:/DSET for the result");
		goto out;
	}
	if ((ret = check_options_apply(kind, &a)) != 0)
		goto out;
	if ((ret = cli_parse_dsref(CMD, "input", pos[1], 1, &ipath, &idset)) != 0 ||
	    (ret = cli_parse_dsref(CMD, "output", a.output, 1, &opath, &odset)) != 0)
		goto out;
	if (a.chunks && (ret = cli_parse_dims(CMD, "--chunks", a.chunks, 1, chunks, &nchunks)) != 0)
		goto out;
	if (a.compress && (ret = cli_parse_compress(CMD, a.compress, &gzip)) != 0)
		goto out;

	cask_filter_init(&spec, kind);
	if (a.sigma) {
		if ((ret = parse_doubles("--sigma", a.sigma, spec.sigma, &spec.nsigma)) != 0)
			goto out;
	}
	if (a.size) {
		if ((ret = parse_doubles("--size", a.size, dv, &n)) != 0)
			goto out;
		for (i = 0; i < n; i++) {
			if (dv[i] != (double)(int64_t)dv[i] || dv[i] < 1) {
				ret = cli_usage_error(CMD, "--size: '%s' must be integers >= 1", a.size);
				goto out;
			}
			spec.size[i] = (int64_t)dv[i];
		}
		spec.nsize = n;
	}
	if (a.order) {
		if ((ret = parse_doubles("--order", a.order, dv, &n)) != 0)
			goto out;
		for (i = 0; i < n; i++) {
			if (dv[i] != 0 && dv[i] != 1 && dv[i] != 2) {
				ret = cli_usage_error(CMD, "--order: '%s' must be 0, 1 or 2", a.order);
				goto out;
			}
			spec.order[i] = (int)dv[i];
		}
		spec.norder = n;
	}
	if (a.axis) {
		if ((ret = cli_parse_int(CMD, "--axis", a.axis, -CASK_MAX_DIMS, CASK_MAX_DIMS - 1,
		                         &iv[0])) != 0)
			goto out;
		spec.axis = (int)iv[0];
	}
	if (a.mode && (ret = parse_modes(a.mode, spec.mode, &spec.nmode)) != 0)
		goto out;
	if (a.cval && (ret = parse_cval(a.cval, &spec.cval)) != 0)
		goto out;
	if (a.truncate && (ret = parse_double("--truncate", a.truncate, &spec.truncate)) != 0)
		goto out;

	if ((ret = cli_ctx_open(&g, &ctx)) != 0)
		goto out;
	rc = cask_array_open(ctx, ipath, idset, NULL, &x);
	if (rc < 0) {
		ret = cli_lib_error(ctx, rc, "input %s:%s", ipath, idset);
		goto out;
	}
	rc = cask_filter(ctx, &spec, x, &y);
	if (rc < 0) {
		/* parameter errors are usage errors */
		if (rc == CASK_EINVAL || rc == CASK_ETYPE || rc == CASK_ENOTSUP) {
			cli_error("%s", cask_ctx_message(ctx));
			ret = CLI_EXIT_USAGE;
		} else {
			ret = cli_lib_error(ctx, rc, "%s", cask_filter_name(kind));
		}
		goto out;
	}
	{
		cask_store_t so;
		int ndim = cask_array_ndim(y);

		if (a.chunks && nchunks != ndim) {
			ret = cli_usage_error(CMD, "--chunks has %d value%s but the data has %d "
			                           "dimension%s", nchunks, nchunks == 1 ? "" : "s", ndim,
			                      ndim == 1 ? "" : "s");
			goto out;
		}
		cask_store_init(&so, opath, odset);
		so.chunks = a.chunks ? chunks : NULL;
		so.gzip = gzip;
		so.shuffle = a.shuffle;
		so.overwrite = g.overwrite;
		rc = cask_store(ctx, 1, &y, &so);
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
			cli_format_shape(ndim, cask_array_shape(y), shape, sizeof shape);
			fprintf(stderr, "cask: wrote %s:%s %s %s\n", opath, odset, shape,
			        cask_dtype_name(cask_array_dtype(y)));
		}
	}
out:
	cask_array_destroy(y);
	cask_array_destroy(x);
	cli_ctx_close(&g, ctx);
	free(ipath);
	free(idset);
	free(opath);
	free(odset);
	return cli_exit_status(ret);
}

/* ------------------------------------------------------------ expression functions */

/* mode='reflect' or mode=('reflect', 'wrap'). */
static int arg_modes(cli_build_t *b, const cli_expr_t *e, cask_filter_t *spec)
{
	const char *s;
	int i, rc;

	if (e->kind == CLI_EXPR_TUPLE || e->kind == CLI_EXPR_LIST) {
		if (e->nkids < 1 || e->nkids > CASK_MAX_DIMS)
			return cli_build_fail(b, e->col, "mode: give one mode or one per axis");
		for (i = 0; i < e->nkids; i++) {
			if ((rc = cli_build_const_string(b, e->kids[i], "mode", &s)) < 0)
				return rc;
			if (cask_mode_parse(s, &spec->mode[i]) != 0 || spec->mode[i] == CASK_MODE_NONE)
				return cli_build_fail(b, e->kids[i]->col, "unknown mode '%s' (reflect, "
				                      "mirror, nearest, constant, wrap)", s);
		}
		spec->nmode = e->nkids;
		return 0;
	}
	if ((rc = cli_build_const_string(b, e, "mode", &s)) < 0)
		return rc;
	if (cask_mode_parse(s, &spec->mode[0]) != 0 || spec->mode[0] == CASK_MODE_NONE)
		return cli_build_fail(b, e->col, "unknown mode '%s' (reflect, mirror, nearest, "
		                      "constant, wrap)", s);
	spec->nmode = 1;
	return 0;
}

/* Shape of a nested list/tuple of numbers; -1 if ragged. */
static int weights_shape(const cli_expr_t *e, int depth, int64_t *shape, int *nd)
{
	int i;

	if (e->kind != CLI_EXPR_TUPLE && e->kind != CLI_EXPR_LIST) {
		if (*nd < 0)
			*nd = depth;
		return *nd == depth ? 0 : -1;
	}
	if (depth >= CASK_MAX_DIMS || e->nkids == 0)
		return -1;
	if (*nd >= 0 && depth >= *nd)
		return -1;
	if (shape[depth] == 0)
		shape[depth] = e->nkids;
	else if (shape[depth] != e->nkids)
		return -1;
	for (i = 0; i < e->nkids; i++)
		if (weights_shape(e->kids[i], depth + 1, shape, nd) < 0)
			return -1;
	return 0;
}

static int weights_fill(cli_build_t *b, const cli_expr_t *e, double *w, int64_t *k)
{
	int i, rc;

	if (e->kind == CLI_EXPR_TUPLE || e->kind == CLI_EXPR_LIST) {
		for (i = 0; i < e->nkids; i++)
			if ((rc = weights_fill(b, e->kids[i], w, k)) < 0)
				return rc;
		return 0;
	}
	return cli_build_const_double(b, e, "weights", &w[(*k)++]);
}

/* The weights of correlate / convolve: a nested list of numbers, or any
 * array expression (a bound dataset, ...) computed into memory.  *w is
 * malloc'd. */
static int arg_weights(cli_build_t *b, const cli_expr_t *e, cask_filter_t *spec, double **w)
{
	cask_ctx_t *ctx = cli_build_ctx(b);
	cask_array_t *a = NULL, *f = NULL;
	int64_t n = 1, k = 0;
	int nd = -1, rc = 0, i;

	memset(spec->wshape, 0, sizeof spec->wshape);
	if (e->kind == CLI_EXPR_TUPLE || e->kind == CLI_EXPR_LIST) {
		if (weights_shape(e, 0, spec->wshape, &nd) < 0 || nd < 1)
			return cli_build_fail(b, e->col, "weights: a rectangular nested list of numbers "
			                      "is needed");
		for (i = 0; i < nd; i++)
			n *= spec->wshape[i];
		if (n > MAX_WEIGHTS)
			return cli_build_fail(b, e->col, "weights: more than %d values", MAX_WEIGHTS);
		*w = malloc((size_t)n * sizeof **w);
		if (!*w)
			return cli_build_fail(b, e->col, "out of memory");
		spec->wndim = nd;
		return weights_fill(b, e, *w, &k);
	}
	if ((rc = cli_build_array(b, e, &a)) < 0)
		return rc;
	n = cask_array_size(a);
	if (n > MAX_WEIGHTS) {
		rc = cli_build_fail(b, e->col, "weights: more than %d values", MAX_WEIGHTS);
		goto out;
	}
	if ((rc = cask_astype(ctx, a, CASK_FLOAT64, &f)) < 0) {
		rc = cli_build_lib_fail(b, e->col, rc);
		goto out;
	}
	*w = malloc((size_t)(n > 0 ? n : 1) * sizeof **w);
	if (!*w) {
		rc = cli_build_fail(b, e->col, "out of memory");
		goto out;
	}
	if ((rc = cask_compute(ctx, f, *w, (size_t)n * sizeof **w)) < 0) {
		rc = cli_build_lib_fail(b, e->col, rc);
		goto out;
	}
	spec->wndim = cask_array_ndim(a);
	memcpy(spec->wshape, cask_array_shape(a), sizeof(int64_t) * (size_t)spec->wndim);
out:
	cask_array_destroy(a);
	cask_array_destroy(f);
	return rc;
}

int cli_fn_filter(cli_build_t *b, const char *name, const cli_expr_t *call,
                  const cli_expr_t *self, cask_array_t **out)
{
	/* scipy's parameters (output= and footprint= are not supported) */
	static const char *const p_gauss[] = { "input", "sigma", "order", "mode", "cval",
	                                       "truncate", NULL };
	static const char *const p_sized[] = { "input", "size", "mode", "cval", "origin", NULL };
	static const char *const p_axis[] = { "input", "axis", "mode", "cval", NULL };
	static const char *const p_plain[] = { "input", "mode", "cval", NULL };
	static const char *const p_gg[] = { "input", "sigma", "mode", "cval", "truncate", NULL };
	static const char *const p_w[] = { "input", "weights", "mode", "cval", "origin", NULL };
	const char *const *params;
	const cli_expr_t *s[8] = { 0 };
	cask_ctx_t *ctx = cli_build_ctx(b);
	cask_filter_kind_t kind;
	cask_filter_t spec;
	cask_array_t *x = NULL;
	double *w = NULL;
	int rc, nreq, maxpos, i, n;
	int64_t iv[CASK_MAX_DIMS];

	if (cask_filter_parse(name, &kind) != 0)
		return cli_build_fail(b, call->col, "unknown filter %s()", name);
	cask_filter_init(&spec, kind);
	switch (kind) {
	case CASK_FILTER_GAUSSIAN: params = p_gauss; nreq = 2; maxpos = 3; break;
	case CASK_FILTER_UNIFORM: params = p_sized; nreq = 1; maxpos = 2; break;
	case CASK_FILTER_MEDIAN:
	case CASK_FILTER_MINIMUM:
	case CASK_FILTER_MAXIMUM: params = p_sized; nreq = 2; maxpos = 2; break;
	case CASK_FILTER_SOBEL:
	case CASK_FILTER_PREWITT: params = p_axis; nreq = 1; maxpos = 2; break;
	case CASK_FILTER_LAPLACE: params = p_plain; nreq = 1; maxpos = 1; break;
	case CASK_FILTER_CORRELATE:
	case CASK_FILTER_CONVOLVE: params = p_w; nreq = 2; maxpos = 2; break;
	default: params = p_gg; nreq = 2; maxpos = 2; break;
	}
	if ((rc = cli_build_bind(b, name, call, self, params, nreq, maxpos, s)) < 0)
		goto out;
	for (i = 1; params[i]; i++) {
		const cli_expr_t *e = s[i];
		const char *p = params[i];

		if (!e)
			continue;
		if (strcmp(p, "sigma") == 0) {
			rc = cli_build_const_doubles(b, e, "sigma", spec.sigma, CASK_MAX_DIMS, &spec.nsigma);
		} else if (strcmp(p, "order") == 0) {
			rc = cli_build_const_ints(b, e, "order", iv, CASK_MAX_DIMS, &n);
			for (int k = 0; rc >= 0 && k < n; k++)
				spec.order[k] = iv[k] < 0 || iv[k] > 2 ? 99 : (int)iv[k];
			spec.norder = n;
		} else if (strcmp(p, "size") == 0) {
			rc = cli_build_const_ints(b, e, "size", spec.size, CASK_MAX_DIMS, &spec.nsize);
		} else if (strcmp(p, "origin") == 0) {
			rc = cli_build_const_ints(b, e, "origin", spec.origin, CASK_MAX_DIMS, &spec.norigin);
		} else if (strcmp(p, "axis") == 0) {
			rc = cli_build_const_ints(b, e, "axis", iv, 1, &n);
			if (rc >= 0)
				spec.axis = iv[0] < -CASK_MAX_DIMS || iv[0] > CASK_MAX_DIMS ? CASK_MAX_DIMS
				                                                            : (int)iv[0];
		} else if (strcmp(p, "mode") == 0) {
			rc = arg_modes(b, e, &spec);
		} else if (strcmp(p, "cval") == 0) {
			rc = cli_build_const_double(b, e, "cval", &spec.cval);
		} else if (strcmp(p, "truncate") == 0) {
			rc = cli_build_const_double(b, e, "truncate", &spec.truncate);
		} else if (strcmp(p, "weights") == 0) {
			rc = arg_weights(b, e, &spec, &w);
			spec.weights = w;
		}
		if (rc < 0)
			goto out;
	}
	if ((rc = cli_build_array(b, s[0], &x)) < 0)
		goto out;
	/* As scipy's _normalize_sequence: a scalar stands for every axis, a
	 * sequence must have one entry per axis (mode=('wrap',) of a 2-d array
	 * is scipy's RuntimeError, not 'wrap' for both axes). */
	for (i = 1; params[i]; i++) {
		const cli_expr_t *e = s[i];
		if (e && (e->kind == CLI_EXPR_TUPLE || e->kind == CLI_EXPR_LIST) &&
		    strcmp(params[i], "weights") != 0 && e->nkids != cask_array_ndim(x)) {
			rc = cli_build_fail(b, e->col, "%s: a sequence of %d values for a %d-d input; give "
			                    "one value, or one per axis (scipy: 'sequence argument must have "
			                    "length equal to input rank')", params[i], e->nkids,
			                    cask_array_ndim(x));
			goto out;
		}
	}
	rc = cask_filter(ctx, &spec, x, out);
	if (rc < 0)
		rc = cli_build_lib_fail(b, call->col, rc);
out:
	cask_array_destroy(x);
	free(w);
	return rc;
}
