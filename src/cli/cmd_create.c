/*
 * cmd_create.c - `cask create PATH:/DSET --shape ...`: make a dataset filled
 * with zeros, ones, a value, its flat index (arange) or random numbers.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define CMD "create"

enum { O_SHAPE = 1, O_DTYPE, O_CHUNKS, O_FILL, O_SEED, O_COMPRESS, O_SHUFFLE };

static const cli_option_t options[] = {
	{ "shape", 0, 1, O_SHAPE },
	{ "dtype", 0, 1, O_DTYPE },
	{ "chunks", 0, 1, O_CHUNKS },
	{ "fill", 0, 1, O_FILL },
	{ "seed", 0, 1, O_SEED },
	{ "compress", 0, 1, O_COMPRESS },
	{ "shuffle", 0, 0, O_SHUFFLE },
	{ NULL, 0, 0, 0 },
};

typedef struct {
	const char *shape, *dtype, *chunks, *fill, *seed, *compress;
	int shuffle;
} create_args_t;

static void help(void)
{
	printf("NAME\n"
	       "       cask create - make an HDF5 dataset of a given shape and fill\n\n"
	       "SYNOPSIS\n"
	       "       cask create PATH:/DSET --shape D0,D1,.. [--dtype T] [--chunks C0,C1,..]\n"
	       "                   [--fill zeros|ones|VALUE|arange|random|normal] [--seed N]\n"
	       "                   [--compress gzip[=LEVEL]] [--shuffle] [GLOBAL OPTIONS]\n\n"
	       "DESCRIPTION\n"
	       "       Writes a new dataset (the file is created if missing; an existing dataset\n"
	       "       of that name is an error unless --overwrite), streaming it chunk by chunk\n"
	       "       under the memory budget, so it can be far larger than memory.\n\n"
	       "OPTIONS\n"
	       "       --shape D0,D1,..\n"
	       "              The extents (required; \"\" or \"()\" for a 0-d dataset).\n"
	       "       --dtype T\n"
	       "              bool i1 i2 i4 i8 u1 u2 u4 u8 f4 f8 (default f8); NumPy's names\n"
	       "              int8 .. uint64, float32, float64 are accepted too.\n"
	       "       --chunks C0,C1,..\n"
	       "              Chunk shape (default: chosen by cask, about 8 MiB per chunk).\n"
	       "       --fill F\n"
	       "              zeros (default), ones, a number (nan, inf, True also), arange\n"
	       "              (each element's C-order flat index, as np.arange(size).reshape),\n"
	       "              random (uniform in [0, 1)) or normal (standard normal); random and\n"
	       "              normal need a float dtype.\n"
	       "       --seed N\n"
	       "              Seed of random and normal (default 0).  An element's value depends\n"
	       "              only on the seed and its index, not on chunks or threads.\n"
	       "       --compress gzip[=LEVEL]\n"
	       "              Deflate the chunks (LEVEL 0..9, default 4).\n"
	       "       --shuffle\n"
	       "              Byte-shuffle the chunks (helps compression).\n\n");
	cli_help_global();
	printf("EXAMPLES\n"
	       "       cask create data.h5:/x --shape 10000,1000 --fill random --seed 7\n"
	       "       cask create data.h5:/img --shape 4096,4096 --dtype u2 --fill arange \\\n"
	       "            --chunks 1024,1024 --compress gzip --shuffle\n"
	       "       cask create data.h5:/c --shape 100 --fill -1.5\n\n"
	       "EXIT STATUS\n"
	       "       0 success; 1 runtime error (I/O, dataset exists); 2 usage error.\n");
}

static int on_option(void *user, int id, const char *arg)
{
	create_args_t *a = user;

	switch (id) {
	case O_SHAPE: a->shape = arg; return 0;
	case O_DTYPE: a->dtype = arg; return 0;
	case O_CHUNKS: a->chunks = arg; return 0;
	case O_FILL: a->fill = arg; return 0;
	case O_SEED: a->seed = arg; return 0;
	case O_COMPRESS: a->compress = arg; return 0;
	case O_SHUFFLE: a->shuffle = 1; return 0;
	default: return CLI_EXIT_USAGE;
	}
}

static int is_float(cask_dtype_t t)
{
	return t == CASK_FLOAT32 || t == CASK_FLOAT64;
}

static int is_unsigned(cask_dtype_t t)
{
	return t == CASK_UINT8 || t == CASK_UINT16 || t == CASK_UINT32 || t == CASK_UINT64;
}

/* Parse the --fill VALUE s as a value of dtype t.  Integers must be exact
 * and in range (an integral float such as 1e3 is accepted); floats take
 * anything strtod reads (nan, inf, -inf). */
static int parse_value(const char *s, cask_dtype_t t, cask_scalar_t *v)
{
	char *end;
	double d;

	v->dtype = t;
	if (t == CASK_BOOL) {
		if (strcmp(s, "True") == 0 || strcmp(s, "true") == 0 || strcmp(s, "1") == 0) {
			v->v.i = 1;
			return 0;
		}
		if (strcmp(s, "False") == 0 || strcmp(s, "false") == 0 || strcmp(s, "0") == 0) {
			v->v.i = 0;
			return 0;
		}
		return cli_usage_error(CMD, "invalid --fill '%s' for dtype bool (expected True, False, "
		                            "1 or 0)", s);
	}
	errno = 0;
	d = strtod(s, &end);
	if (end == s || *end != '\0')
		goto bad;
	if (is_float(t)) {
		v->v.f = d;
		return 0;
	}
	/* Integers: exact text first (full 64-bit range), then integral floats. */
	if (is_unsigned(t)) {
		unsigned long long u;
		uint64_t max = t == CASK_UINT8 ? UINT8_MAX : t == CASK_UINT16 ? UINT16_MAX
		             : t == CASK_UINT32 ? UINT32_MAX : UINT64_MAX;

		errno = 0;
		u = strtoull(s, &end, 0);
		if (*end == '\0' && errno == 0 && s[strspn(s, " ")] != '-') {
			if (u > max)
				goto range;
			v->v.u = u;
			return 0;
		}
		if (d != floor(d) || d < 0 || d >= 18446744073709551616.0 || (double)max < d)
			goto range;
		v->v.u = (uint64_t)d;
		return 0;
	} else {
		long long i;
		int64_t min = t == CASK_INT8 ? INT8_MIN : t == CASK_INT16 ? INT16_MIN
		            : t == CASK_INT32 ? INT32_MIN : INT64_MIN;
		int64_t max = t == CASK_INT8 ? INT8_MAX : t == CASK_INT16 ? INT16_MAX
		            : t == CASK_INT32 ? INT32_MAX : INT64_MAX;

		errno = 0;
		i = strtoll(s, &end, 0);
		if (*end == '\0' && errno == 0) {
			if (i < min || i > max)
				goto range;
			v->v.i = i;
			return 0;
		}
		if (d != floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0 ||
		    d < (double)min || d > (double)max)
			goto range;
		v->v.i = (int64_t)d;
		return 0;
	}
range:
	return cli_usage_error(CMD, "--fill '%s' is not an integer in the range of %s", s,
	                       cask_dtype_name(t));
bad:
	return cli_usage_error(CMD, "invalid --fill '%s' (expected zeros, ones, arange, random, "
	                            "normal or a number)", s);
}

int cli_cmd_create(int argc, char **argv)
{
	create_args_t a = { 0 };
	cli_global_t g = { .progress = -1 };
	const char *pos[1];
	int npos = 0, ret = CLI_EXIT_OK, rc, ndim = 0, nchunks = 0, gzip = -1;
	char *path = NULL, *dset = NULL;
	int64_t shape[CASK_MAX_DIMS], chunks[CASK_MAX_DIMS], seed = 0;
	const int64_t *cp = NULL;
	cask_dtype_t dtype = CASK_FLOAT64;
	const char *fill;
	cask_ctx_t *ctx = NULL;
	cask_array_t *arr = NULL;
	cask_store_t so;

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
		ret = cli_usage_error(CMD, "missing the dataset to create (PATH:/DATASET)");
		goto out;
	}
	if ((ret = cli_parse_dsref(CMD, "dataset", pos[0], 1, &path, &dset)) != 0)
		goto out;
	if (!a.shape) {
		ret = cli_usage_error(CMD, "missing --shape D0,D1,..");
		goto out;
	}
	if ((ret = cli_parse_dims(CMD, "--shape", a.shape, 0, shape, &ndim)) != 0)
		goto out;
	if (a.dtype && (ret = cli_parse_dtype(CMD, a.dtype, &dtype)) != 0)
		goto out;
	if (a.chunks) {
		if ((ret = cli_parse_dims(CMD, "--chunks", a.chunks, 1, chunks, &nchunks)) != 0)
			goto out;
		if (nchunks != ndim) {
			ret = cli_usage_error(CMD, "--chunks has %d value%s but --shape has %d", nchunks,
			                      nchunks == 1 ? "" : "s", ndim);
			goto out;
		}
		cp = chunks;
	}
	if (a.seed && (ret = cli_parse_int(CMD, "--seed", a.seed, 0, INT64_MAX, &seed)) != 0)
		goto out;
	if (a.compress && (ret = cli_parse_compress(CMD, a.compress, &gzip)) != 0)
		goto out;
	fill = a.fill ? a.fill : "zeros";
	if ((strcmp(fill, "random") == 0 || strcmp(fill, "normal") == 0) && !is_float(dtype)) {
		ret = cli_usage_error(CMD, "--fill %s needs a float dtype (--dtype f4 or f8)", fill);
		goto out;
	}
	if (a.seed && strcmp(fill, "random") != 0 && strcmp(fill, "normal") != 0)
		cli_warn("--seed has no effect with --fill %s", fill);

	if ((ret = cli_ctx_open(&g, &ctx)) != 0)
		goto out;
	if (strcmp(fill, "zeros") == 0) {
		rc = cask_array_zeros(ctx, dtype, ndim, shape, cp, &arr);
	} else if (strcmp(fill, "ones") == 0) {
		rc = cask_array_ones(ctx, dtype, ndim, shape, cp, &arr);
	} else if (strcmp(fill, "arange") == 0) {
		rc = cask_array_indices(ctx, dtype, ndim, shape, cp, 0.0, 1.0, &arr);
	} else if (strcmp(fill, "random") == 0 || strcmp(fill, "normal") == 0) {
		rc = cask_array_random(ctx, fill[0] == 'r' ? CASK_RANDOM_UNIFORM : CASK_RANDOM_NORMAL,
		                       (uint64_t)seed, dtype, ndim, shape, cp, &arr);
	} else {
		cask_scalar_t v;

		if ((ret = parse_value(fill, dtype, &v)) != 0)
			goto out;
		rc = cask_array_full(ctx, dtype, ndim, shape, cp, v, &arr);
	}
	if (rc < 0) {
		ret = cli_lib_error(ctx, rc, "%s:%s", path, dset);
		if (ret == CLI_EXIT_RUNTIME && (rc == CASK_EINVAL || rc == CASK_EOVERFLOW))
			ret = CLI_EXIT_USAGE;
		goto out;
	}
	cask_store_init(&so, path, dset);
	so.chunks = cp;
	so.gzip = gzip;
	so.shuffle = a.shuffle;
	so.overwrite = g.overwrite;
	rc = cask_store(ctx, 1, &arr, &so);
	if (rc < 0) {
		if (rc == CASK_EEXIST)
			ret = cli_lib_error(ctx, rc, "%s:%s (use --overwrite to replace it)", path, dset);
		else
			ret = cli_lib_error(ctx, rc, "%s:%s", path, dset);
		goto out;
	}
	if (!g.quiet) {
		char sh[256];

		cli_progress_done();
		cli_format_shape(ndim, shape, sh, sizeof sh);
		fprintf(stderr, "cask: wrote %s:%s %s %s\n", path, dset, sh, cask_dtype_name(dtype));
	}
out:
	cask_array_destroy(arr);
	cli_ctx_close(&g, ctx);
	free(path);
	free(dset);
	return cli_exit_status(ret);
}
