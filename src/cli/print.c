/*
 * print.c - text output of an in-memory n-d array (format in print.h).
 */
#include "print.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

static size_t elem_size(cask_dtype_t t)
{
	switch (t) {
	case CASK_BOOL: case CASK_INT8: case CASK_UINT8: return 1;
	case CASK_INT16: case CASK_UINT16: return 2;
	case CASK_INT32: case CASK_UINT32: case CASK_FLOAT32: return 4;
	case CASK_INT64: case CASK_UINT64: case CASK_FLOAT64: return 8;
	default: return 0;
	}
}

static int format_float(double v, int digits, char *buf, size_t size)
{
	if (isnan(v))
		return snprintf(buf, size, "nan");
	if (isinf(v))
		return snprintf(buf, size, v < 0 ? "-inf" : "inf");
	return snprintf(buf, size, "%.*g", digits, v);
}

int cli_format_value(cask_dtype_t t, const void *p, char *buf, size_t size)
{
	/* memcpy: the buffer need not be aligned for the element type. */
	switch (t) {
	case CASK_BOOL: {
		uint8_t v;

		memcpy(&v, p, 1);
		return snprintf(buf, size, v ? "True" : "False");
	}
	case CASK_INT8: {
		int8_t v;

		memcpy(&v, p, sizeof v);
		return snprintf(buf, size, "%d", (int)v);
	}
	case CASK_INT16: {
		int16_t v;

		memcpy(&v, p, sizeof v);
		return snprintf(buf, size, "%d", (int)v);
	}
	case CASK_INT32: {
		int32_t v;

		memcpy(&v, p, sizeof v);
		return snprintf(buf, size, "%" PRId32, v);
	}
	case CASK_INT64: {
		int64_t v;

		memcpy(&v, p, sizeof v);
		return snprintf(buf, size, "%" PRId64, v);
	}
	case CASK_UINT8: {
		uint8_t v;

		memcpy(&v, p, sizeof v);
		return snprintf(buf, size, "%u", (unsigned)v);
	}
	case CASK_UINT16: {
		uint16_t v;

		memcpy(&v, p, sizeof v);
		return snprintf(buf, size, "%u", (unsigned)v);
	}
	case CASK_UINT32: {
		uint32_t v;

		memcpy(&v, p, sizeof v);
		return snprintf(buf, size, "%" PRIu32, v);
	}
	case CASK_UINT64: {
		uint64_t v;

		memcpy(&v, p, sizeof v);
		return snprintf(buf, size, "%" PRIu64, v);
	}
	case CASK_FLOAT32: {
		float v;

		memcpy(&v, p, sizeof v);
		return format_float((double)v, 9, buf, size);
	}
	case CASK_FLOAT64: {
		double v;

		memcpy(&v, p, sizeof v);
		return format_float(v, 17, buf, size);
	}
	default:
		return -1;
	}
}

/* Print rows x cols elements from p as rows lines. */
static void print_2d(FILE *f, cask_dtype_t t, size_t es, int64_t rows, int64_t cols,
                     const unsigned char *p)
{
	char buf[64];
	int64_t i, j;

	for (i = 0; i < rows; i++) {
		for (j = 0; j < cols; j++) {
			cli_format_value(t, p, buf, sizeof buf);
			if (j)
				fputc(' ', f);
			fputs(buf, f);
			p += es;
		}
		fputc('\n', f);
	}
}

int cli_print_array(FILE *f, cask_dtype_t t, int ndim, const int64_t *shape, const void *data)
{
	size_t es = elem_size(t);
	const unsigned char *p = data;
	char buf[64];
	int64_t rows, cols, nslices = 1, s, i;
	int d;

	if (es == 0 || ndim < 0 || ndim > CASK_MAX_DIMS)
		return -1;
	for (d = 0; d < ndim; d++)
		if (shape[d] < 0)
			return -1;
	if (ndim == 0) {
		cli_format_value(t, p, buf, sizeof buf);
		fprintf(f, "%s\n", buf);
	} else if (ndim == 1) {
		print_2d(f, t, es, shape[0], 1, p);
	} else {
		/* With a zero extent the products need not fit: a zero leading
		 * extent means no slices; otherwise refuse an overflowing count
		 * (it would print more empty lines than any file can hold). */
		rows = shape[ndim - 2];
		cols = shape[ndim - 1];
		for (d = 0; d < ndim - 2; d++)
			if (shape[d] == 0)
				nslices = 0;
		for (d = 0; d < ndim - 2 && nslices; d++)
			if (__builtin_mul_overflow(nslices, shape[d], &nslices))
				return -1;
		for (s = 0; s < nslices; s++) {
			if (s)
				fputc('\n', f);
			print_2d(f, t, es, rows, cols, p);
			for (i = 0; i < rows; i++)
				p += (size_t)cols * es;
		}
	}
	return ferror(f) ? -1 : 0;
}
