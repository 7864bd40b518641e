/*
 * cmd_info.c - `cask info PATH[:/DSET]`: a table of the datasets of a file
 * (or of the one named): path, shape, dtype, chunks, filters, stored and
 * logical size.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define CMD "info"

static const cli_option_t options[] = {
	{ NULL, 0, 0, 0 },
};

static void help(void)
{
	printf("NAME\n"
	       "       cask info - describe the datasets of an HDF5 file\n\n"
	       "SYNOPSIS\n"
	       "       cask info PATH[:/DSET] [GLOBAL OPTIONS]\n\n"
	       "DESCRIPTION\n"
	       "       Prints one line per dataset of the file (in name order), or for the one\n"
	       "       dataset named, with the columns\n"
	       "         DATASET  the dataset's path in the file\n"
	       "         SHAPE    as NumPy prints it, e.g. (1000, 200)\n"
	       "         DTYPE    bool int8 .. uint64 float32 float64, or the HDF5 type and\n"
	       "                  \"(unsupported)\" for types cask cannot read\n"
	       "         CHUNKS   the chunk shape, or \"contiguous\"\n"
	       "         FILTERS  e.g. shuffle,gzip=4, or none\n"
	       "         STORED   bytes on disk (after compression)\n"
	       "         LOGICAL  elements times element size\n"
	       "       Sizes use powers of 1024 (KiB, MiB, GiB).\n\n"
	       "OPTIONS\n"
	       "       Only the global options.\n\n");
	cli_help_global();
	printf("EXAMPLES\n"
	       "       cask info data.h5\n"
	       "       cask info data.h5:/group/x\n\n"
	       "EXIT STATUS\n"
	       "       0 success; 1 the file or dataset cannot be read; 2 usage error.\n");
}

static int on_option(void *user, int id, const char *arg)
{
	(void)user;
	(void)id;
	(void)arg;
	return CLI_EXIT_USAGE;
}

typedef struct {
	char shape[256], chunks[256], dtype[96], stored[32], logical[32];
} row_t;

int cli_cmd_info(int argc, char **argv)
{
	cli_global_t g = { .progress = -1 };
	const char *pos[1];
	const char *hdr[7] = { "DATASET", "SHAPE", "DTYPE", "CHUNKS", "FILTERS", "STORED",
	                       "LOGICAL" };
	int npos = 0, ret = CLI_EXIT_OK, rc, c;
	int64_t n = 0, i;
	char *path = NULL, *dset = NULL;
	cask_ctx_t *ctx = NULL;
	cask_dset_info_t *info = NULL;
	row_t *rows = NULL;
	size_t w[7];

	ret = cli_parse_args(CMD, argc, argv, options, on_option, NULL, &g, pos, &npos, 1);
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
		ret = cli_usage_error(CMD, "missing the file to describe");
		goto out;
	}
	if ((ret = cli_parse_dsref(CMD, "file", pos[0], 0, &path, &dset)) != 0)
		goto out;
	if ((ret = cli_ctx_open(&g, &ctx)) != 0)
		goto out;
	rc = cask_h5_info(ctx, path, dset, &info, &n);
	if (rc < 0) {
		if (dset)
			ret = cli_lib_error(ctx, rc, "%s:%s", path, dset);
		else
			ret = cli_lib_error(ctx, rc, "%s", path);
		goto out;
	}
	if (n == 0) {
		if (!g.quiet)
			fprintf(stderr, "cask: %s has no datasets\n", path);
		goto out;
	}
	rows = calloc((size_t)n, sizeof *rows);
	if (!rows) {
		cli_error("out of memory");
		ret = CLI_EXIT_RUNTIME;
		goto out;
	}
	for (c = 0; c < 7; c++)
		w[c] = strlen(hdr[c]);
	for (i = 0; i < n; i++) {
		cask_dset_info_t *d = &info[i];
		row_t *r = &rows[i];
		int ndim = d->ndim < 0 ? 0 : d->ndim > CASK_MAX_DIMS ? CASK_MAX_DIMS : d->ndim;
		int contiguous = 1, k;
		const char *fields[7];

		/* Terminate the fixed-size strings in case the library filled them up. */
		d->path[sizeof d->path - 1] = '\0';
		d->type[sizeof d->type - 1] = '\0';
		d->filters[sizeof d->filters - 1] = '\0';
		cli_format_shape(ndim, d->shape, r->shape, sizeof r->shape);
		for (k = 0; k < ndim; k++)
			if (d->chunks[k] != 0)
				contiguous = 0;
		if (contiguous)
			snprintf(r->chunks, sizeof r->chunks, "contiguous");
		else
			cli_format_shape(ndim, d->chunks, r->chunks, sizeof r->chunks);
		snprintf(r->dtype, sizeof r->dtype, d->supported ? "%s" : "%s (unsupported)", d->type);
		cli_format_bytes(d->stored_bytes, r->stored, sizeof r->stored);
		cli_format_bytes(d->logical_bytes, r->logical, sizeof r->logical);
		fields[0] = d->path;
		fields[1] = r->shape;
		fields[2] = r->dtype;
		fields[3] = r->chunks;
		fields[4] = d->filters[0] ? d->filters : "none";
		fields[5] = r->stored;
		fields[6] = r->logical;
		for (c = 0; c < 7; c++)
			if (strlen(fields[c]) > w[c])
				w[c] = strlen(fields[c]);
	}
	printf("%-*s  %-*s  %-*s  %-*s  %-*s  %*s  %*s\n", (int)w[0], hdr[0], (int)w[1], hdr[1],
	       (int)w[2], hdr[2], (int)w[3], hdr[3], (int)w[4], hdr[4], (int)w[5], hdr[5],
	       (int)w[6], hdr[6]);
	for (i = 0; i < n; i++) {
		cask_dset_info_t *d = &info[i];
		row_t *r = &rows[i];

		printf("%-*s  %-*s  %-*s  %-*s  %-*s  %*s  %*s\n", (int)w[0], d->path, (int)w[1],
		       r->shape, (int)w[2], r->dtype, (int)w[3], r->chunks, (int)w[4],
		       d->filters[0] ? d->filters : "none", (int)w[5], r->stored, (int)w[6],
		       r->logical);
	}
out:
	free(rows);
	free(info);
	cli_ctx_close(&g, ctx);
	free(path);
	free(dset);
	return cli_exit_status(ret);
}
