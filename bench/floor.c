/*
 * floor.c - the hardware floor for the cask benchmark (bench/README.md).
 *
 * A deliberately minimal program that does each benchmark workload the
 * fastest simple way, so that cask's times can be read against what the
 * machine allows: every stored chunk is fetched raw with H5Dread_chunk into
 * one reused buffer per thread, the arithmetic is a plain loop, and the chunks
 * are spread over an OpenMP team (2 threads unless -t says otherwise).  Serial
 * HDF5 is not thread-safe, so every HDF5 call sits in one named critical
 * section; decompression (W4) and all arithmetic run outside it.
 *
 *   floor [-t N] W1 in.h5 /x out.h5 [/y]   y = sqrt(abs(x)) * 2 + x, stored
 *                                          with H5Dwrite_chunk to a new file
 *   floor [-t N] W2 in.h5 /x               sum(x) of a raw dataset
 *   floor [-t N] W3 in.h5 /x               std(x, axis=0) of a 2-d dataset
 *   floor [-t N] W4 in.h5 /x               sum(x) of a gzip(+shuffle) dataset
 *
 * Output on stdout, one "key value" per line: "result" (the sum; for W3 the
 * sum of the std vector, for W1 the sum of y), for W3 also "std0" (the first
 * std value), and "seconds" (from before H5Fopen to after H5Fclose).
 *
 * Restrictions, checked: float64 datasets of rank 1 or 2, chunked, every chunk
 * stored; W4 handles exactly the deflate and shuffle filters.  This is a
 * benchmark tool, not library code: it prints and exits on any error.
 */
#include <hdf5.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* The geometry of one 2-d (or 1-d seen as 1 x n) chunked dataset. */
typedef struct {
	int rank;
	int64_t dims[2];  /* extents; a rank-1 dataset is {1, n} */
	int64_t cdims[2]; /* chunk extents; rank 1 is {1, c} */
	int64_t grid[2];  /* chunks per axis */
	int64_t nchunks;
	size_t chunk_elems;
	int has_shuffle, has_deflate, nfilters;
	int shuffle_first; /* shuffle applied before deflate when writing */
} geom_t;

static void die(const char *msg)
{
	fprintf(stderr, "floor: %s\n", msg);
	exit(1);
}

static double now(void)
{
	return omp_get_wtime();
}

static void *xmalloc(size_t n)
{
	void *p = NULL;
	if (posix_memalign(&p, 64, n ? n : 64) != 0)
		die("out of memory");
	return p;
}

/* Reads the dataset's shape, chunking and filter pipeline into g. */
static void geom_read(hid_t dset, geom_t *g)
{
	hid_t space = H5Dget_space(dset);
	hid_t dcpl = H5Dget_create_plist(dset);
	hid_t type = H5Dget_type(dset);
	hsize_t d[2] = {0, 0}, c[2] = {0, 0};
	memset(g, 0, sizeof(*g));
	if (space < 0 || dcpl < 0 || type < 0)
		die("cannot query the dataset");
	if (H5Tget_class(type) != H5T_FLOAT || H5Tget_size(type) != 8)
		die("the dataset is not float64");
	if (H5Tget_order(type) != H5T_ORDER_LE)
		die("the dataset is not little-endian");
	g->rank = H5Sget_simple_extent_ndims(space);
	if (g->rank < 1 || g->rank > 2)
		die("only rank 1 and 2 are supported");
	if (H5Pget_layout(dcpl) != H5D_CHUNKED)
		die("the dataset is not chunked");
	H5Sget_simple_extent_dims(space, d, NULL);
	H5Pget_chunk(dcpl, g->rank, c);
	if (g->rank == 1) {
		g->dims[0] = 1, g->dims[1] = (int64_t)d[0];
		g->cdims[0] = 1, g->cdims[1] = (int64_t)c[0];
	} else {
		for (int i = 0; i < 2; i++)
			g->dims[i] = (int64_t)d[i], g->cdims[i] = (int64_t)c[i];
	}
	for (int i = 0; i < 2; i++)
		g->grid[i] = (g->dims[i] + g->cdims[i] - 1) / g->cdims[i];
	g->nchunks = g->grid[0] * g->grid[1];
	g->chunk_elems = (size_t)(g->cdims[0] * g->cdims[1]);
	g->nfilters = H5Pget_nfilters(dcpl);
	for (int i = 0; i < g->nfilters; i++) {
		unsigned flags = 0, cd[8];
		size_t ncd = 8;
		H5Z_filter_t f = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, 0, NULL, NULL);
		if (f == H5Z_FILTER_SHUFFLE) {
			g->has_shuffle = 1;
			g->shuffle_first = !g->has_deflate;
		} else if (f == H5Z_FILTER_DEFLATE) {
			g->has_deflate = 1;
		} else {
			die("a filter other than deflate and shuffle");
		}
	}
	H5Tclose(type);
	H5Pclose(dcpl);
	H5Sclose(space);
}

/* The HDF5 chunk offset (in elements) of linear chunk k. */
static void chunk_offset(const geom_t *g, int64_t k, hsize_t off[2], int64_t rows_cols[2])
{
	int64_t i = k / g->grid[1], j = k % g->grid[1];
	int64_t o0 = i * g->cdims[0], o1 = j * g->cdims[1];
	rows_cols[0] = g->dims[0] - o0 < g->cdims[0] ? g->dims[0] - o0 : g->cdims[0];
	rows_cols[1] = g->dims[1] - o1 < g->cdims[1] ? g->dims[1] - o1 : g->cdims[1];
	if (g->rank == 1) {
		off[0] = (hsize_t)o1;
	} else {
		off[0] = (hsize_t)o0;
		off[1] = (hsize_t)o1;
	}
}

/* Reverses HDF5's byte shuffle of n elements of size 8 from src into dst. */
static void unshuffle8(const unsigned char *src, unsigned char *dst, size_t n)
{
	for (size_t b = 0; b < 8; b++) {
		const unsigned char *s = src + b * n;
		for (size_t i = 0; i < n; i++)
			dst[i * 8 + b] = s[i];
	}
}

/*
 * Reads stored chunk k into buf (chunk_elems doubles).  For filtered data the
 * raw bytes land in *raw (grown as needed) and are decoded outside the lock,
 * using *tmp as the shuffle staging buffer.
 */
static void chunk_load(hid_t dset, const geom_t *g, const hsize_t off[2], double *buf,
		       unsigned char **raw, size_t *raw_cap, unsigned char *tmp)
{
	size_t nbytes = g->chunk_elems * sizeof(double);
	uint32_t mask = 0;
	int rc = 0;
	if (!g->nfilters) {
#pragma omp critical(hdf5)
		rc = (int)H5Dread_chunk(dset, H5P_DEFAULT, off, &mask, buf);
		if (rc < 0)
			die("H5Dread_chunk failed");
		return;
	}
	hsize_t stored = 0;
#pragma omp critical(hdf5)
	{
		rc = (int)H5Dget_chunk_storage_size(dset, off, &stored);
		if (rc >= 0 && stored > *raw_cap) {
			free(*raw);
			*raw_cap = (size_t)stored + (size_t)stored / 8;
			*raw = xmalloc(*raw_cap);
		}
		if (rc >= 0 && stored > 0)
			rc = (int)H5Dread_chunk(dset, H5P_DEFAULT, off, &mask, *raw);
	}
	if (rc < 0 || stored == 0)
		die("cannot read a stored chunk (missing chunks are not supported)");
	/* Undo the filters in reverse order; a set mask bit means skipped. */
	int deflated = g->has_deflate && !(mask & (1u << (g->shuffle_first ? 1 : 0)));
	int shuffled = g->has_shuffle && !(mask & (1u << (g->shuffle_first ? 0 : 1)));
	unsigned char *plain = shuffled ? tmp : (unsigned char *)buf;
	if (deflated) {
		uLongf len = (uLongf)nbytes;
		if (uncompress(plain, &len, *raw, (uLong)stored) != Z_OK || len != nbytes)
			die("inflate failed");
	} else {
		if (stored != nbytes)
			die("unexpected raw chunk size");
		memcpy(plain, *raw, nbytes);
	}
	if (shuffled)
		unshuffle8(tmp, (unsigned char *)buf, g->chunk_elems);
}

/* Sum of the valid rows x cols corner of a chunk, 4 accumulators. */
static double chunk_sum(const double *buf, const geom_t *g, const int64_t rc[2])
{
	double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	for (int64_t r = 0; r < rc[0]; r++) {
		const double *row = buf + r * g->cdims[1];
		int64_t c = 0;
		for (; c + 4 <= rc[1]; c += 4) {
			s0 += row[c];
			s1 += row[c + 1];
			s2 += row[c + 2];
			s3 += row[c + 3];
		}
		for (; c < rc[1]; c++)
			s0 += row[c];
	}
	return (s0 + s1) + (s2 + s3);
}

/* W2 and W4: the sum of all elements. */
static double run_sum(hid_t dset, const geom_t *g)
{
	double *part = xmalloc((size_t)g->nchunks * sizeof(double));
#pragma omp parallel
	{
		double *buf = xmalloc(g->chunk_elems * sizeof(double));
		unsigned char *tmp = g->has_shuffle ? xmalloc(g->chunk_elems * sizeof(double)) : NULL;
		unsigned char *raw = NULL;
		size_t raw_cap = 0;
#pragma omp for schedule(dynamic, 1)
		for (int64_t k = 0; k < g->nchunks; k++) {
			hsize_t off[2];
			int64_t rc[2];
			chunk_offset(g, k, off, rc);
			chunk_load(dset, g, off, buf, &raw, &raw_cap, tmp);
			part[k] = chunk_sum(buf, g, rc);
		}
		free(raw);
		free(tmp);
		free(buf);
	}
	double s = 0;
	for (int64_t k = 0; k < g->nchunks; k++)
		s += part[k];
	free(part);
	return s;
}

/*
 * W3: std(x, axis=0), population (ddof 0).  Each chunk gives per-column
 * shifted sums (shift = the chunk's first row, so one pass is accurate for
 * data whose spread is not tiny against its mean); chunk rows are merged in a
 * fixed order with Chan's formula.  Returns the std vector (caller frees).
 */
static double *run_std(hid_t dset, const geom_t *g)
{
	int64_t ncol = g->dims[1], nrowc = g->grid[0];
	/* Per chunk row and column: count, mean, M2. */
	double *mean = xmalloc((size_t)(nrowc * ncol) * sizeof(double));
	double *m2 = xmalloc((size_t)(nrowc * ncol) * sizeof(double));
#pragma omp parallel
	{
		double *buf = xmalloc(g->chunk_elems * sizeof(double));
		double *s1 = xmalloc((size_t)g->cdims[1] * sizeof(double));
		double *s2 = xmalloc((size_t)g->cdims[1] * sizeof(double));
		unsigned char *tmp = g->has_shuffle ? xmalloc(g->chunk_elems * sizeof(double)) : NULL;
		unsigned char *raw = NULL;
		size_t raw_cap = 0;
#pragma omp for schedule(dynamic, 1)
		for (int64_t k = 0; k < g->nchunks; k++) {
			hsize_t off[2];
			int64_t rc[2];
			int64_t ci = k / g->grid[1], cj = k % g->grid[1];
			chunk_offset(g, k, off, rc);
			chunk_load(dset, g, off, buf, &raw, &raw_cap, tmp);
			const double *k0 = buf; /* the shift: the chunk's first row */
			for (int64_t c = 0; c < rc[1]; c++)
				s1[c] = s2[c] = 0;
			for (int64_t r = 1; r < rc[0]; r++) {
				const double *row = buf + r * g->cdims[1];
				for (int64_t c = 0; c < rc[1]; c++) {
					double d = row[c] - k0[c];
					s1[c] += d;
					s2[c] += d * d;
				}
			}
			double n = (double)rc[0];
			double *mo = mean + ci * ncol + cj * g->cdims[1];
			double *qo = m2 + ci * ncol + cj * g->cdims[1];
			for (int64_t c = 0; c < rc[1]; c++) {
				mo[c] = k0[c] + s1[c] / n;
				qo[c] = s2[c] - s1[c] * s1[c] / n;
			}
		}
		free(raw);
		free(tmp);
		free(s2);
		free(s1);
		free(buf);
	}
	double *out = xmalloc((size_t)ncol * sizeof(double));
	for (int64_t c = 0; c < ncol; c++) {
		double na = (double)(g->cdims[0] < g->dims[0] ? g->cdims[0] : g->dims[0]);
		double ma = mean[c], qa = m2[c];
		for (int64_t i = 1; i < nrowc; i++) {
			int64_t left = g->dims[0] - i * g->cdims[0];
			double nb = (double)(left < g->cdims[0] ? left : g->cdims[0]);
			double mb = mean[i * ncol + c], qb = m2[i * ncol + c];
			double delta = mb - ma, n = na + nb;
			ma += delta * nb / n;
			qa += qb + delta * delta * na * nb / n;
			na = n;
		}
		out[c] = sqrt(qa / na);
	}
	free(m2);
	free(mean);
	return out;
}

/* W1: y = sqrt(abs(x)) * 2 + x into a new dataset of the same geometry. */
static double run_map(hid_t dset, const geom_t *g, hid_t out)
{
	double *part = xmalloc((size_t)g->nchunks * sizeof(double));
	size_t nbytes = g->chunk_elems * sizeof(double);
#pragma omp parallel
	{
		double *buf = xmalloc(nbytes);
		double *ybuf = xmalloc(nbytes);
#pragma omp for schedule(dynamic, 1)
		for (int64_t k = 0; k < g->nchunks; k++) {
			hsize_t off[2];
			int64_t rc[2];
			int rc_h5 = 0;
			chunk_offset(g, k, off, rc);
			chunk_load(dset, g, off, buf, NULL, NULL, NULL);
			for (size_t i = 0; i < g->chunk_elems; i++)
				ybuf[i] = sqrt(fabs(buf[i])) * 2 + buf[i];
#pragma omp critical(hdf5)
			rc_h5 = (int)H5Dwrite_chunk(out, H5P_DEFAULT, 0, off, nbytes, ybuf);
			if (rc_h5 < 0)
				die("H5Dwrite_chunk failed");
			part[k] = chunk_sum(ybuf, g, rc);
		}
		free(ybuf);
		free(buf);
	}
	double s = 0;
	for (int64_t k = 0; k < g->nchunks; k++)
		s += part[k];
	free(part);
	return s;
}

static void usage(void)
{
	fprintf(stderr, "usage: floor [-t THREADS] W1 in.h5 /x out.h5 [/y]\n"
			"       floor [-t THREADS] W2|W3|W4 in.h5 /x\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int threads = 2;
	int a = 1;
	if (a + 1 < argc && strcmp(argv[a], "-t") == 0) {
		threads = atoi(argv[a + 1]);
		a += 2;
	}
	if (threads < 1 || argc - a < 3)
		usage();
	const char *w = argv[a], *in = argv[a + 1], *dname = argv[a + 2];
	int is_w1 = strcmp(w, "W1") == 0;
	if (is_w1 && argc - a < 4)
		usage();
	if (!is_w1 && strcmp(w, "W2") && strcmp(w, "W3") && strcmp(w, "W4"))
		usage();
	omp_set_num_threads(threads);
	omp_set_dynamic(0);

	double t0 = now();
	hid_t f = H5Fopen(in, H5F_ACC_RDONLY, H5P_DEFAULT);
	if (f < 0)
		die("cannot open the input file");
	hid_t d = H5Dopen2(f, dname, H5P_DEFAULT);
	if (d < 0)
		die("cannot open the input dataset");
	geom_t g;
	geom_read(d, &g);
	if ((is_w1 || strcmp(w, "W2") == 0) && g.nfilters)
		die("W1 and W2 expect an unfiltered dataset");
	if (strcmp(w, "W4") == 0 && !g.has_deflate)
		die("W4 expects a deflate-compressed dataset");

	double result = 0, std0 = 0;
	if (is_w1) {
		const char *yname = argc - a >= 5 ? argv[a + 4] : "/y";
		hid_t fo = H5Fcreate(argv[a + 3], H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
		if (fo < 0)
			die("cannot create the output file");
		hsize_t d2[2], c2[2];
		if (g.rank == 1) {
			d2[0] = (hsize_t)g.dims[1], c2[0] = (hsize_t)g.cdims[1];
		} else {
			d2[0] = (hsize_t)g.dims[0], d2[1] = (hsize_t)g.dims[1];
			c2[0] = (hsize_t)g.cdims[0], c2[1] = (hsize_t)g.cdims[1];
		}
		hid_t sp = H5Screate_simple(g.rank, d2, NULL);
		hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
		H5Pset_chunk(dcpl, g.rank, c2);
		/* Every chunk is written: skip allocating and filling them first. */
		H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
		hid_t y = H5Dcreate2(fo, yname, H5T_IEEE_F64LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
		if (y < 0)
			die("cannot create the output dataset");
		result = run_map(d, &g, y);
		H5Dclose(y);
		H5Pclose(dcpl);
		H5Sclose(sp);
		if (H5Fclose(fo) < 0)
			die("closing the output file failed");
	} else if (strcmp(w, "W3") == 0) {
		if (g.rank != 2)
			die("W3 expects a 2-d dataset");
		double *s = run_std(d, &g);
		for (int64_t c = 0; c < g.dims[1]; c++)
			result += s[c];
		std0 = s[0];
		free(s);
	} else {
		result = run_sum(d, &g);
	}
	H5Dclose(d);
	H5Fclose(f);
	double t1 = now();

	printf("result %.17g\n", result);
	if (strcmp(w, "W3") == 0)
		printf("std0 %.17g\n", std0);
	printf("seconds %.6f\n", t1 - t0);
	return 0;
}
