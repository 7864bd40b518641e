/*
 * cmd_export.c - `cask export PATH:/DSET out.png [--bits 8|16]`: write a 2-d
 * dataset as a grayscale PNG, or a 3-d one whose last axis has 3 or 4
 * entries as RGB / RGBA, with min-max scaling (issue 5), so filter results
 * can be looked at without plotting software.
 *
 * Scaling: v = round((x - min) / (max - min) * (2^bits - 1)) with min and
 * max over the whole dataset (NaNs ignored and written as 0; a constant
 * image is all 0).  The image is computed and written in strips of rows, so
 * memory stays bounded whatever the image size.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <png.h>

#include "common.h"

#define CMD "export"
/* Bytes of float64 data computed per strip of rows. */
#define STRIP_BYTES (64u << 20)
/* PNG's limit on width and height. */
#define PNG_MAX_DIM 0x7fffffff

enum { O_BITS = 1 };

static const cli_option_t options[] = {
	{ "bits", 0, 1, O_BITS },
	{ NULL, 0, 0, 0 },
};

static void help(void)
{
	printf("NAME\n"
	       "       cask export - write a dataset as a PNG image\n\n"
	       "SYNOPSIS\n"
	       "       cask export PATH:/DSET OUT.png [--bits 8|16] [GLOBAL OPTIONS]\n\n"
	       "DESCRIPTION\n"
	       "       A 2-d dataset (rows, columns) becomes a grayscale image; a 3-d dataset\n"
	       "       (rows, columns, 3 or 4) an RGB or RGBA image.  Values are scaled linearly\n"
	       "       from the dataset's minimum (black) to its maximum (white); NaNs are\n"
	       "       ignored for the range and written as black; infinities too, +inf then\n"
	       "       written white and -inf black.  A constant dataset is black.  An existing\n"
	       "       OUT.png is replaced only with --overwrite; the image is written under a\n"
	       "       temporary name and renamed, so a failed export leaves it as it was.\n\n"
	       "OPTIONS\n"
	       "       --bits 8|16   Bits per sample (default 8).\n\n");
	cli_help_global();
	printf("EXAMPLES\n"
	       "       cask filter gaussian img.h5:/x -o out.h5:/smooth --sigma 3\n"
	       "       cask export out.h5:/smooth smooth.png\n\n"
	       "EXIT STATUS\n"
	       "       0 success; 1 runtime error; 2 usage error; 130 / 143 interrupted.\n");
}

static int on_option(void *user, int id, const char *arg)
{
	const char **bits = user;

	if (id == O_BITS) {
		*bits = arg;
		return 0;
	}
	return CLI_EXIT_USAGE;
}

/* A scalar reduction of a (float64) into *v. */
static int reduce_scalar(cask_ctx_t *ctx, cask_redop_t op, cask_array_t *a, double *v)
{
	cask_array_t *r = NULL;
	int rc = cask_reduce(ctx, op, a, 0, NULL, 0, 0, &r);

	if (rc == 0)
		rc = cask_compute(ctx, r, v, sizeof *v);
	cask_array_destroy(r);
	return rc;
}

typedef struct {
	FILE *f;
	png_structp png;
	png_infop info;
	char err[256];
} png_out_t;

static void on_png_error(png_structp png, png_const_charp msg)
{
	png_out_t *o = png_get_error_ptr(png);

	snprintf(o->err, sizeof o->err, "%s", msg);
	png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

/* The range of a's finite values (NaN both when there are none). */
static int finite_range(cask_ctx_t *ctx, cask_array_t *a, double *lo, double *hi)
{
	cask_array_t *fin = NULL, *nan = NULL, *w = NULL;
	cask_scalar_t sn = { .dtype = CASK_FLOAT64, .v.f = NAN };
	int rc = cask_unary(ctx, CASK_ISFINITE, a, &fin);
	if (rc == 0)
		rc = cask_array_scalar(ctx, sn, 1, &nan);
	if (rc == 0)
		rc = cask_where(ctx, fin, a, nan, &w);
	if (rc == 0)
		rc = reduce_scalar(ctx, CASK_NANMIN, w, lo);
	if (rc == 0)
		rc = reduce_scalar(ctx, CASK_NANMAX, w, hi);
	cask_array_destroy(fin);
	cask_array_destroy(nan);
	cask_array_destroy(w);
	return rc;
}

/* The sample of x on 0 .. maxv: (x - lo) / (hi - lo) rounded half up,
 * computed as (x - lo) * maxv / (hi - lo), exact in the products of
 * integers (65 / 78 * 255 = 212.5 gives 213, not 212 as x * (1 / 78) * 255
 * would).  NaN, and everything of a constant or all-NaN image, is 0;
 * x <= lo is 0 and x >= hi (+inf) is maxv; a range past DBL_MAX is halved. */
static unsigned level(double x, double lo, double hi, double maxv)
{
	double d, r, p, v;

	if (isnan(x) || !(hi > lo) || x <= lo)
		return 0;
	if (x >= hi)
		return (unsigned)maxv;
	d = x - lo;
	r = hi - lo;
	if (isinf(r)) {
		d = x * 0.5 - lo * 0.5;
		r = hi * 0.5 - lo * 0.5;
	}
	p = d * maxv;
	v = floor((isfinite(p) ? p / r : d / r * maxv) + 0.5);
	return v < 0 ? 0 : v > maxv ? (unsigned)maxv : (unsigned)v;
}

/* Write the image: rows x cols x channels samples computed strip by strip
 * from a (float64), scaled by level().  Returns an exit status. */
static int write_png(cask_ctx_t *ctx, cask_array_t *a, FILE *f, const char *out, int bits,
                     double lo, double hi)
{
	const int64_t *shape = cask_array_shape(a);
	int ndim = cask_array_ndim(a);
	int64_t rows = shape[0], cols = shape[1], ch = ndim == 3 ? shape[2] : 1;
	int64_t per_row = cols * ch, strip, r0, i, j;
	double maxv = bits == 16 ? 65535.0 : 255.0;
	double *buf = NULL;
	unsigned char *row = NULL;
	png_out_t o;
	int rc;
	/* volatile: read after png's longjmp */
	volatile int ret = CLI_EXIT_OK;

	memset(&o, 0, sizeof o);
	strip = (int64_t)(STRIP_BYTES / sizeof(double)) / (per_row > 0 ? per_row : 1);
	if (strip < 1)
		strip = 1;
	if (strip > rows)
		strip = rows;
	buf = malloc((size_t)(strip * per_row) * sizeof *buf);
	row = malloc((size_t)per_row * (bits / 8));
	if (!buf || !row) {
		cli_error("out of memory for a strip of %lld rows", (long long)strip);
		ret = CLI_EXIT_RUNTIME;
		goto out;
	}
	o.f = f;
	o.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &o, on_png_error, on_png_warning);
	o.info = o.png ? png_create_info_struct(o.png) : NULL;
	if (!o.png || !o.info) {
		cli_error("out of memory (libpng)");
		ret = CLI_EXIT_RUNTIME;
		goto out;
	}
	if (setjmp(png_jmpbuf(o.png))) {
		cli_error("writing %s: %s", out, o.err[0] ? o.err : "libpng error");
		ret = CLI_EXIT_RUNTIME;
		goto out;
	}
	png_init_io(o.png, o.f);
	png_set_IHDR(o.png, o.info, (png_uint_32)cols, (png_uint_32)rows, bits,
	             ch == 1 ? PNG_COLOR_TYPE_GRAY : ch == 3 ? PNG_COLOR_TYPE_RGB
	                                                     : PNG_COLOR_TYPE_RGB_ALPHA,
	             PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(o.png, o.info);
	for (r0 = 0; r0 < rows; r0 += strip) {
		int64_t n = rows - r0 < strip ? rows - r0 : strip;
		cask_index_t ix = { .kind = CASK_INDEX_SLICE, .start = r0, .stop = r0 + n, .step = 1,
		                    .has_start = 1, .has_stop = 1 };
		cask_array_t *s = NULL;

		rc = cask_index(ctx, a, 1, &ix, &s);
		if (rc == 0)
			rc = cask_compute(ctx, s, buf, (size_t)(n * per_row) * sizeof *buf);
		cask_array_destroy(s);
		if (rc < 0) {
			ret = cli_lib_error(ctx, rc, "reading rows %lld..%lld", (long long)r0,
			                    (long long)(r0 + n));
			goto out;
		}
		for (i = 0; i < n; i++) {
			const double *x = buf + i * per_row;

			for (j = 0; j < per_row; j++) {
				unsigned u = level(x[j], lo, hi, maxv);

				if (bits == 16) {
					/* PNG samples are big-endian */
					row[2 * j] = (unsigned char)(u >> 8);
					row[2 * j + 1] = (unsigned char)(u & 0xff);
				} else {
					row[j] = (unsigned char)u;
				}
			}
			png_write_row(o.png, row);
		}
	}
	png_write_end(o.png, NULL);
out:
	if (o.png)
		png_destroy_write_struct(&o.png, o.info ? &o.info : NULL);
	free(buf);
	free(row);
	return ret;
}

/* Create ".<base>.cask-tmp-<pid>-<16 hex>" next to target, exclusively:
 * the name the library's transactions use (make_temp() in src/io.c), so
 * the supervisor (supervise.c) removes it when the command is killed.
 * Returns the open descriptor and *tmp (malloc'd), or -1 with errno. */
static int make_temp(const char *target, mode_t mode, char **tmp)
{
	const char *slash = strrchr(target, '/');
	size_t dirlen = slash != NULL ? (size_t)(slash - target) + 1 : 0, n = strlen(target) + 64;
	char *p = malloc(n);

	if (p == NULL) {
		errno = ENOMEM;
		return -1;
	}
	for (int attempt = 0; attempt < 100; attempt++) {
		unsigned long long r = 0;

		if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
			r = (unsigned long long)time(NULL) ^ ((unsigned long long)attempt << 48) ^
			    (unsigned long long)(uintptr_t)p;
		snprintf(p, n, "%.*s.%s.cask-tmp-%ld-%016llx", (int)dirlen, target, target + dirlen,
		         (long)getpid(), r);
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
		if (fd >= 0) {
			*tmp = p;
			return fd;
		}
		if (errno != EEXIST)
			break;
	}
	free(p);
	return -1;
}

/* Write the PNG to a temporary file next to path, flush it to the disk
 * and rename it over path.  Nothing is left behind on failure.  Returns
 * an exit status. */
static int export_png(cask_ctx_t *ctx, cask_array_t *a, const char *path, int bits, double lo,
                      double hi)
{
	struct stat st;
	mode_t mode = stat(path, &st) == 0 ? st.st_mode & 07777 : 0666;
	char *tmp = NULL;
	FILE *f = NULL;
	int ret, fd = make_temp(path, mode, &tmp);

	if (fd < 0) {
		cli_error("cannot create a file next to %s: %s", path, strerror(errno));
		return CLI_EXIT_RUNTIME;
	}
	f = fdopen(fd, "wb");
	if (f == NULL) {
		cli_error("cannot create %s: %s", tmp, strerror(errno));
		close(fd);
		ret = CLI_EXIT_RUNTIME;
		goto out;
	}
	ret = write_png(ctx, a, f, tmp, bits, lo, hi);
	if (ret == CLI_EXIT_OK && (fflush(f) != 0 || fsync(fileno(f)) != 0)) {
		cli_error("writing %s: %s", tmp, strerror(errno));
		ret = CLI_EXIT_RUNTIME;
	}
	if (fclose(f) != 0 && ret == CLI_EXIT_OK) {
		cli_error("writing %s: %s", tmp, strerror(errno));
		ret = CLI_EXIT_RUNTIME;
	}
	if (ret == CLI_EXIT_OK && rename(tmp, path) != 0) {
		cli_error("cannot rename %s to %s: %s", tmp, path, strerror(errno));
		ret = CLI_EXIT_RUNTIME;
	}
out:
	if (ret != CLI_EXIT_OK)
		remove(tmp);
	free(tmp);
	return ret;
}

int cli_cmd_export(int argc, char **argv)
{
	cli_global_t g = { .progress = -1 };
	const char *pos[2], *bits_s = NULL;
	int npos = 0, ret = CLI_EXIT_OK, rc, bits = 8, ndim;
	int64_t bv;
	char *ipath = NULL, *idset = NULL;
	cask_ctx_t *ctx = NULL;
	cask_array_t *x = NULL, *f = NULL;
	double lo = 0, hi = 0;
	const int64_t *shape;

	ret = cli_parse_args(CMD, argc, argv, options, on_option, &bits_s, &g, pos, &npos, 2);
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
		ret = cli_usage_error(CMD, npos == 0 ? "missing the dataset PATH:/DSET and the PNG file"
		                                     : "missing the PNG file to write");
		goto out;
	}
	if (bits_s) {
		if ((ret = cli_parse_int(CMD, "--bits", bits_s, 8, 16, &bv)) != 0)
			goto out;
		if (bv != 8 && bv != 16) {
			ret = cli_usage_error(CMD, "--bits must be 8 or 16");
			goto out;
		}
		bits = (int)bv;
	}
	if ((ret = cli_parse_dsref(CMD, "input", pos[0], 1, &ipath, &idset)) != 0)
		goto out;
	if (!g.overwrite && access(pos[1], F_OK) == 0) {
		cli_error("%s exists (use --overwrite to replace it)", pos[1]);
		ret = CLI_EXIT_RUNTIME;
		goto out;
	}
	if ((ret = cli_ctx_open(&g, &ctx)) != 0)
		goto out;
	rc = cask_array_open(ctx, ipath, idset, NULL, &x);
	if (rc < 0) {
		ret = cli_lib_error(ctx, rc, "input %s:%s", ipath, idset);
		goto out;
	}
	ndim = cask_array_ndim(x);
	shape = cask_array_shape(x);
	if (!(ndim == 2 || (ndim == 3 && (shape[2] == 3 || shape[2] == 4)))) {
		char s[256];

		cli_format_shape(ndim, shape, s, sizeof s);
		ret = cli_usage_error(CMD, "%s:%s has shape %s: export takes a 2-d image, or a 3-d "
		                           "one with 3 (RGB) or 4 (RGBA) channels last", ipath, idset, s);
		goto out;
	}
	if (shape[0] < 1 || shape[1] < 1 || shape[0] > PNG_MAX_DIM || shape[1] > PNG_MAX_DIM) {
		ret = cli_usage_error(CMD, "%s:%s: image of %lld x %lld pixels cannot be a PNG", ipath,
		                      idset, (long long)shape[0], (long long)shape[1]);
		goto out;
	}
	rc = cask_astype(ctx, x, CASK_FLOAT64, &f);
	if (rc == 0)
		rc = reduce_scalar(ctx, CASK_NANMIN, f, &lo);
	if (rc == 0)
		rc = reduce_scalar(ctx, CASK_NANMAX, f, &hi);
	if (rc < 0) {
		ret = cli_lib_error(ctx, rc, "range of %s:%s", ipath, idset);
		goto out;
	}
	/* Infinities: the range of the finite values, +inf white, -inf black. */
	if (isinf(lo) || isinf(hi)) {
		cli_warn("%s:%s has infinite values; they are clipped", ipath, idset);
		rc = finite_range(ctx, f, &lo, &hi);
		if (rc < 0) {
			ret = cli_lib_error(ctx, rc, "range of %s:%s", ipath, idset);
			goto out;
		}
	}
	/* all NaN (or infinite): nanmin is NaN, the image black; say so, as for
	 * infinities, rather than leave a black picture to be puzzled over */
	if (isnan(lo) || isnan(hi))
		cli_warn("%s:%s has no finite values; the image is black", ipath, idset);
	/* Written under a temporary name and renamed over the target: a failed
	 * or interrupted export leaves an existing file as it was. */
	ret = export_png(ctx, f, pos[1], bits, lo, hi);
	if (ret == CLI_EXIT_OK && !g.quiet) {
		cli_progress_done();
		fprintf(stderr, "cask: wrote %s (%lld x %lld, %s, %d-bit, range %.6g .. %.6g)\n",
		        pos[1], (long long)shape[1], (long long)shape[0],
		        ndim == 2 ? "gray" : shape[2] == 3 ? "RGB" : "RGBA", bits, lo, hi);
	}
out:
	cask_array_destroy(f);
	cask_array_destroy(x);
	cli_ctx_close(&g, ctx);
	free(ipath);
	free(idset);
	return cli_exit_status(ret);
}
