/*
 * test_io_direct.c - direct chunk writes (src/io_direct.c and their use by
 * src/io.c): the bytes in the file against what was queued, concurrent
 * putters, a failing write reported with its offset and sticking, and
 * outputs written whole-chunk, edge-chunk, partially and by runs of rows
 * (TSQR leaves that split chunks), read back through
 * HDF5 with direct writes on and off (CASK_DIRECT=0) and compared with the
 * values written; and the scratch files of src/io.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "ctx.h"
#include "io.h"
#include "io_direct.h"

static char g_dir[64];
static char g_path[4][256];
static int g_pi;

static const char *P(const char *name)
{
	char *b = g_path[g_pi++ % 4];
	snprintf(b, sizeof g_path[0], "%s/%s", g_dir, name);
	return b;
}

static int group_setup(void **state)
{
	(void)state;
	/* Next to the build, not in /tmp: /tmp may be a tmpfs without O_DIRECT. */
	snprintf(g_dir, sizeof g_dir, "cask-test-io-direct-XXXXXX");
	return mkdtemp(g_dir) == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The byte at file offset i of the test pattern of tag t. */
static unsigned char pat(uint64_t i, unsigned t)
{
	return (unsigned char)((i * 2654435761u) >> 13 ^ t);
}

static void fill(unsigned char *p, uint64_t off, size_t n, unsigned t)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pat(off + i, t);
}

/* A file of n bytes of pattern 0. */
static void make_file(const char *path, size_t n)
{
	unsigned char *b = malloc(n);
	fill(b, 0, n, 0);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, n), (ssize_t)n);
	close(fd);
	free(b);
}

/* Check [off, off + n) of path against pattern t. */
static void check_range(const char *path, uint64_t off, size_t n, unsigned t)
{
	unsigned char *b = malloc(n ? n : 1);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, b, n, (off_t)off), (ssize_t)n);
	close(fd);
	for (size_t i = 0; i < n; i++)
		if (b[i] != pat(off + i, t))
			fail_msg("%s: byte %llu is %u, expected %u (pattern %u)", path, (unsigned long long)(off + i),
			         b[i], pat(off + i, t), t);
	free(b);
}

#define MIB ((size_t)1 << 20)

/* A new file of size bytes of pattern 0 at name and a writer on it with
 * nthread threads and nslot 1 MiB slots; skips the test where the file
 * system refuses O_DIRECT (io.c then writes through HDF5). */
static cask__dw_t *start(const char *name, size_t size, int nthread, int nslot, const char **path)
{
	*path = P(name);
	make_file(*path, size);
	cask__dw_t *w = NULL;
	int rc = cask__dw_start(*path, nthread, nslot, MIB, &w);
	if (rc == EINVAL)
		skip();
	assert_int_equal(rc, 0);
	return w;
}

/* Whether this directory's file system takes O_DIRECT (without it io.c
 * writes through HDF5 and the direct path cannot be observed). */
static int o_direct_here(void)
{
	int fd = open(P("probe"), O_WRONLY | O_CREAT | O_DIRECT, 0644);
	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

/* Cap the process's file size at bytes (writes past it fail with EFBIG),
 * or lift the cap again (bytes 0). */
static void limit_file_size(size_t bytes)
{
	static struct rlimit old;
	static void (*prev)(int);
	if (bytes > 0) {
		assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
		prev = signal(SIGXFSZ, SIG_IGN);
		struct rlimit lim = old;
		lim.rlim_cur = bytes;
		assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	} else {
		assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
		signal(SIGXFSZ, prev);
	}
}

/* Ranges of several slots with ragged tails land exactly; bytes between them
 * keep what the file held. */
static void test_dw_writes_exact_ranges(void **state)
{
	(void)state;
	const char *path;
	cask__dw_t *w = start("ranges.bin", 16 * MIB, 1, 3, &path);
	assert_int_equal(cask__dw_bytes(w), 3 * MIB);
	struct { uint64_t off; size_t n; } r[] = {
		{0, 5 * MIB + 123},           /* six slots, a ragged tail */
		{8 * MIB, 4096},              /* one block */
		{9 * MIB, 1},                 /* a tail alone */
		{10 * MIB, 3 * MIB},          /* exactly three slots */
		{20 * MIB, MIB + 4095},       /* past the end of the file */
	};
	size_t nr = sizeof r / sizeof r[0];
	uint64_t bad = 0;
	for (size_t i = 0; i < nr; i++) {
		unsigned char *p = malloc(r[i].n);
		fill(p, r[i].off, r[i].n, 7);
		assert_int_equal(cask__dw_put(w, r[i].off, p, r[i].n, &bad), 0);
		free(p); /* put() copied it */
	}
	assert_int_equal(cask__dw_drain(w, &bad), 0);
	assert_false(cask__dw_busy(w));
	assert_int_equal(cask__dw_finish(w, &bad), 0);
	for (size_t i = 0; i < nr; i++)
		check_range(path, r[i].off, r[i].n, 7);
	check_range(path, 5 * MIB + 123, 3 * MIB - 123, 0);
	check_range(path, 8 * MIB + 4096, MIB - 4096, 0);
	check_range(path, 9 * MIB + 1, MIB - 1, 0);
	check_range(path, 13 * MIB, 3 * MIB, 0);
}

struct putter {
	cask__dw_t *w;
	int k;
	int rc;
};

/* Putter k writes the 1.5 MiB pieces k, k + 4, k + 8, ... of 64 pieces. */
static void *put_main(void *arg)
{
	struct putter *pt = arg;
	size_t n = 3 * MIB / 2;
	unsigned char *p = malloc(n);
	uint64_t bad = 0;
	for (int i = pt->k; i < 64 && pt->rc == 0; i += 4) {
		fill(p, (uint64_t)i * n, n, 3);
		pt->rc = cask__dw_put(pt->w, (uint64_t)i * n, p, n, &bad);
	}
	free(p);
	return NULL;
}

/* Four threads queueing at once through two writer threads. */
static void test_dw_concurrent_putters(void **state)
{
	(void)state;
	const char *path;
	cask__dw_t *w = start("concurrent.bin", 0, 2, 3, &path);
	pthread_t th[4];
	struct putter pt[4];
	for (int k = 0; k < 4; k++) {
		pt[k] = (struct putter){w, k, 0};
		assert_int_equal(pthread_create(&th[k], NULL, put_main, &pt[k]), 0);
	}
	for (int k = 0; k < 4; k++) {
		pthread_join(th[k], NULL);
		assert_int_equal(pt[k].rc, 0);
	}
	uint64_t bad = 0;
	assert_int_equal(cask__dw_finish(w, &bad), 0);
	check_range(path, 0, 96 * MIB, 3);
}

/* A write past RLIMIT_FSIZE fails with EFBIG: reported with its offset by
 * put / drain / finish, and it sticks. */
static void test_dw_failure_sticks(void **state)
{
	(void)state;
	const char *path;
	cask__dw_t *w = start("limit.bin", 0, 1, 2, &path);
	limit_file_size(4 * MIB);
	unsigned char *p = malloc(MIB);
	fill(p, 0, MIB, 1);
	uint64_t bad = 0;
	assert_int_equal(cask__dw_put(w, 0, p, MIB, &bad), 0);
	assert_int_equal(cask__dw_put(w, 6 * MIB, p, MIB, &bad), 0); /* fails in the thread */
	assert_int_equal(cask__dw_drain(w, &bad), EFBIG);
	assert_int_equal(bad, 6 * MIB);
	bad = 0;
	assert_int_equal(cask__dw_put(w, MIB, p, MIB, &bad), EFBIG);
	assert_int_equal(bad, 6 * MIB);
	assert_int_equal(cask__dw_finish(w, &bad), EFBIG);
	limit_file_size(0);
	free(p);
}

static void test_dw_start_refusals(void **state)
{
	(void)state;
	cask__dw_t *w = (cask__dw_t *)1;
	assert_int_equal(cask__dw_start(P("no/such/dir/f"), 1, 2, MIB, &w), ENOENT);
	assert_null(w);
	assert_int_equal(cask__dw_start(P("x"), 1, 2, MIB + 1, &w), EINVAL); /* not a block multiple */
	assert_null(w);
	assert_int_equal(cask__dw_start(P("x"), 0, 2, MIB, &w), EINVAL);
	assert_int_equal(cask__dw_finish(NULL, NULL), 0);
	cask__dw_abort(NULL);
}

/* ------------------------------------------------------------ through io.c */

/* Element (i, j) of the test matrix. */
static double val(int64_t i, int64_t j)
{
	return (double)i * 1000.0 + (double)j + 0.25;
}

/* A new context, CASK_DIRECT set to direct, and a transaction on path with
 * a float64 dataset dset of that shape and chunks. */
static void open_output(const char *path, const char *dset, int direct, int64_t *shape,
                        int64_t *chunks, cask_ctx_t **ctx, cask__h5txn_t **txn, cask__h5out_t **o)
{
	assert_int_equal(cask_ctx_create(ctx), 0);
	setenv("CASK_DIRECT", direct ? "1" : "0", 1);
	cask__h5create_t spec = {.dtype = CASK_FLOAT64, .ndim = 2, .shape = shape, .chunks = chunks, .gzip = -1};
	assert_int_equal(cask__io_txn_begin(*ctx, path, txn), 0);
	assert_int_equal(cask__io_create(*ctx, *txn, dset, &spec, o), 0);
}

/* Read dataset dset of path back through cask__io_read and check every
 * element against val(). */
static void check_values(cask_ctx_t *ctx, const char *path, const char *dset, const int64_t *shape)
{
	cask__h5in_t *in = NULL;
	cask__h5meta_t m;
	assert_int_equal(cask__io_open(ctx, path, dset, 0, &in, &m), 0);
	double *all = malloc((size_t)(shape[0] * shape[1]) * sizeof *all);
	int64_t z[2] = {0, 0};
	assert_int_equal(cask__io_read(ctx, in, z, shape, NULL, all), 0);
	for (int64_t i = 0; i < shape[0]; i++)
		for (int64_t j = 0; j < shape[1]; j++)
			if (all[i * shape[1] + j] != val(i, j))
				fail_msg("%s%s: (%lld, %lld) is %g, expected %g", path, dset, (long long)i,
				         (long long)j, all[i * shape[1] + j], val(i, j));
	cask__io_close(in);
	free(all);
}

/* Write a 1100 x 700 float64 dataset in 300 x 500 chunks (1.2 MB each, a
 * 4 x 2 grid with ragged last row and column of chunks): whole chunks
 * through cask__io_write, the edge chunks through cask__io_write_chunk with
 * padded buffers, one interior chunk in two partial writes.  Read it back
 * and check every element; check that the chunks are block-aligned when
 * direct writes are on. */
static void write_and_check(const char *name, int direct)
{
	const char *path = P(name);
	cask_ctx_t *ctx = NULL;
	int64_t shape[2] = {1100, 700}, chunks[2] = {300, 500};
	cask__h5txn_t *txn = NULL;
	cask__h5out_t *o = NULL;
	size_t held = cask__io_cache_bytes();
	open_output(path, "/m", direct, shape, chunks, &ctx, &txn, &o);
	direct = direct && o_direct_here();
	if (direct)
		assert_true(cask__io_cache_bytes() > held); /* the staging buffers are counted */
	else
		assert_int_equal(cask__io_cache_bytes(), held);
	double *buf = malloc(300 * 500 * sizeof *buf);
	for (int64_t ci = 0; ci < 4; ci++)
		for (int64_t cj = 0; cj < 2; cj++) {
			int64_t st[2] = {ci * 300, cj * 500};
			int64_t ct[2] = {ci < 3 ? 300 : 200, cj < 1 ? 500 : 200};
			if (ci == 1 && cj == 0) {
				/* two partial writes of one chunk (through HDF5) */
				int64_t h[2] = {150, 500}, st2[2] = {450, 0};
				for (int pass = 0; pass < 2; pass++) {
					int64_t r0 = pass == 0 ? 300 : 450;
					for (int64_t i = 0; i < 150; i++)
						for (int64_t j = 0; j < 500; j++)
							buf[i * 500 + j] = val(r0 + i, j);
					assert_int_equal(cask__io_write(ctx, o, pass == 0 ? st : st2, h, buf), 0);
				}
				continue;
			}
			if (ct[0] == 300 && ct[1] == 500) {
				for (int64_t i = 0; i < 300; i++)
					for (int64_t j = 0; j < 500; j++)
						buf[i * 500 + j] = val(st[0] + i, st[1] + j);
				assert_int_equal(cask__io_write(ctx, o, st, ct, buf), 0);
			} else {
				/* a padded full-chunk buffer, garbage outside the extent */
				for (int64_t i = 0; i < 300; i++)
					for (int64_t j = 0; j < 500; j++)
						buf[i * 500 + j] = i < ct[0] && j < ct[1] ? val(st[0] + i, st[1] + j) : -1.0;
				assert_int_equal(cask__io_write_chunk(ctx, o, st, buf, NULL, 0), 0);
			}
		}
	assert_int_equal(cask__io_txn_commit(ctx, txn), 0);
	assert_int_equal(cask__io_cache_bytes(), held);
	unsetenv("CASK_DIRECT");

	/* Chunk addresses straight from HDF5. */
	hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_true(f >= 0);
	hid_t d = H5Dopen2(f, "/m", H5P_DEFAULT);
	assert_true(d >= 0);
	hid_t sp = H5Dget_space(d);
	hsize_t nch = 0;
	assert_true(H5Dget_num_chunks(d, sp, &nch) >= 0);
	assert_int_equal(nch, 8);
	for (hsize_t i = 0; i < nch; i++) {
		hsize_t off[2], sz;
		unsigned fm;
		haddr_t a;
		assert_true(H5Dget_chunk_info(d, sp, i, off, &fm, &a, &sz) >= 0);
		assert_int_equal(sz, 300 * 500 * 8);
		if (direct)
			assert_int_equal(a % CASK__DW_ALIGN, 0);
	}
	H5Sclose(sp);
	H5Dclose(d);
	H5Fclose(f);

	check_values(ctx, path, "/m", shape);
	free(buf);
	cask_ctx_destroy(ctx);
}

static void test_io_output_direct(void **state)
{
	(void)state;
	write_and_check("direct.h5", 1);
}

static void test_io_output_buffered(void **state)
{
	(void)state;
	write_and_check("buffered.h5", 0);
}

/* An output written by runs of whole rows, as TSQR leaves that split its
 * chunks write Q: 480-byte rows, 4000-row chunks of 1.92 MB.  Runs starting
 * on a 4 KiB block and ending on one (or at the chunk's or the dataset's
 * end, with a tail under a block) go to the direct writer; the others
 * (unaligned starts or ends, a run across two chunks) through HDF5 after
 * the queued writes.  Every element is checked, with direct writes on and
 * off (the chunks are then still allocated when created). */
static void slabs_and_check(const char *name, int direct)
{
	const char *path = P(name);
	cask_ctx_t *ctx = NULL;
	int64_t shape[2] = {10000, 60}, chunks[2] = {4000, 60};
	cask__h5txn_t *txn = NULL;
	cask__h5out_t *o = NULL;
	open_output(path, "/q", direct, shape, chunks, &ctx, &txn, &o);
	/* [r0, r1) runs, in an order that mixes both paths within a chunk. */
	static const int64_t runs[][2] = {
		{0, 1280},     /* aligned start and length: direct */
		{2560, 4000},  /* aligned start, ends the chunk with a tail: direct */
		{1280, 1290},  /* aligned start, short unaligned length: HDF5 */
		{1290, 2560},  /* unaligned start: HDF5 */
		{4000, 8000},  /* a whole chunk */
		{8000, 8128},  /* aligned, in the last (edge) chunk */
		{8128, 10000}, /* ends the dataset with a tail: direct */
	};
	double *buf = malloc(4000 * 60 * sizeof *buf);
	for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
		int64_t st[2] = {runs[r][0], 0}, ct[2] = {runs[r][1] - runs[r][0], 60};
		for (int64_t i = 0; i < ct[0]; i++)
			for (int64_t j = 0; j < 60; j++)
				buf[i * 60 + j] = val(st[0] + i, j);
		assert_int_equal(cask__io_write(ctx, o, st, ct, buf), 0);
	}
	/* A run across two chunks, rewriting values already there. */
	int64_t st[2] = {3900, 0}, ct[2] = {200, 60};
	for (int64_t i = 0; i < 200; i++)
		for (int64_t j = 0; j < 60; j++)
			buf[i * 60 + j] = val(3900 + i, j);
	assert_int_equal(cask__io_write(ctx, o, st, ct, buf), 0);
	assert_int_equal(cask__io_txn_commit(ctx, txn), 0);
	unsetenv("CASK_DIRECT");

	check_values(ctx, path, "/q", shape);
	free(buf);
	cask_ctx_destroy(ctx);
}

static void test_io_row_runs(void **state)
{
	(void)state;
	slabs_and_check("runs-direct.h5", 1);
	slabs_and_check("runs-buffered.h5", 0);
}

/* Scratch files (TSQR's spilled tree factors): bytes read back as written
 * at their offsets, nothing left in the directory, a read past the end and
 * a directory that does not exist reported as CASK_EIO with the cause. */
static void test_io_scratch_file(void **state)
{
	(void)state;
	cask_ctx_t *ctx = NULL;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	const char *old = getenv("TMPDIR");
	char *saved = old != NULL ? strdup(old) : NULL;
	char dir[128];
	snprintf(dir, sizeof dir, "%s/scratch", g_dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	setenv("TMPDIR", dir, 1);
	int fd = -1;
	assert_int_equal(cask__io_scratch_open(ctx, NULL, &fd), 0);
	unsigned char w[3000], r[3000];
	fill(w, 0, sizeof w, 7);
	assert_int_equal(cask__io_scratch_write(ctx, fd, 1 << 20, w, sizeof w), 0);
	assert_int_equal(cask__io_scratch_write(ctx, fd, 10, w, 100), 0);
	assert_int_equal(cask__io_scratch_read(ctx, fd, 1 << 20, r, sizeof r), 0);
	assert_memory_equal(r, w, sizeof w);
	assert_int_equal(cask__io_scratch_read(ctx, fd, 10, r, 100), 0);
	assert_memory_equal(r, w, 100);
	assert_int_equal(cask__io_scratch_read(ctx, fd, (1 << 20) + 2000, r, 2000), CASK_EIO);
	assert_non_null(strstr(cask_ctx_message(ctx), "ends early"));
	close(fd);
	assert_int_equal(rmdir(dir), 0); /* empty: the file had no name */
	setenv("TMPDIR", dir, 1);
	assert_int_equal(cask__io_scratch_open(ctx, NULL, &fd), CASK_EIO);
	assert_non_null(strstr(cask_ctx_message(ctx), dir));
	if (saved != NULL)
		setenv("TMPDIR", saved, 1);
	else
		unsetenv("TMPDIR");
	free(saved);
	cask_ctx_destroy(ctx);
}

/* Unless CASK_DIRECT says otherwise, direct writes go with durable ones:
 * on by default, off with CASK_FSYNC=0 (then the staging buffers are not
 * even allocated). */
static void test_io_direct_default_follows_fsync(void **state)
{
	(void)state;
	cask_ctx_t *ctx = NULL;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	unsetenv("CASK_DIRECT");
	int64_t shape[1] = {1 << 20}, chunks[1] = {1 << 17}; /* 1 MiB chunks */
	cask__h5create_t spec = {.dtype = CASK_FLOAT64, .ndim = 1, .shape = shape, .chunks = chunks, .gzip = -1};
	for (int durable = 0; durable < 2; durable++) {
		if (durable)
			unsetenv("CASK_FSYNC");
		else
			setenv("CASK_FSYNC", "0", 1);
		size_t held = cask__io_cache_bytes();
		cask__h5txn_t *txn = NULL;
		cask__h5out_t *o = NULL;
		assert_int_equal(cask__io_txn_begin(ctx, P("default.h5"), &txn), 0);
		assert_int_equal(cask__io_create(ctx, txn, "/v", &spec, &o), 0);
		assert_int_equal(cask__io_cache_bytes() > held, durable && o_direct_here());
		cask__io_txn_abort(txn);
		assert_int_equal(cask__io_cache_bytes(), held);
	}
	cask_ctx_destroy(ctx);
}

/* The staging buffers take at most a twelfth of the budget: four of 8 MiB
 * at 512 MiB, three of 1 MiB at 40 MiB, none (no direct writes) at 16 MiB,
 * where a whole 1 MiB chunk must still fit beside them. */
static void test_io_direct_small_budgets(void **state)
{
	(void)state;
	if (!o_direct_here())
		skip();
	setenv("CASK_DIRECT", "1", 1);
	int64_t shape[1] = {1 << 20}, chunks[1] = {1 << 17}; /* 1 MiB chunks */
	cask__h5create_t spec = {.dtype = CASK_FLOAT64, .ndim = 1, .shape = shape, .chunks = chunks, .gzip = -1};
	struct { size_t budget, staged; } c[] = {
		{512 * MIB, 32 * MIB}, {40 * MIB, 3 * MIB}, {24 * MIB, 2 * MIB}, {16 * MIB, 0},
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		cask_ctx_t *ctx = NULL;
		assert_int_equal(cask_ctx_create(&ctx), 0);
		assert_int_equal(cask_ctx_set_memory(ctx, c[i].budget), 0);
		size_t held = cask__io_cache_bytes();
		cask__h5txn_t *txn = NULL;
		cask__h5out_t *o = NULL;
		assert_int_equal(cask__io_txn_begin(ctx, P("small.h5"), &txn), 0);
		assert_int_equal(cask__io_create(ctx, txn, "/v", &spec, &o), 0);
		assert_int_equal(cask__io_cache_bytes() - held, c[i].staged);
		cask__io_txn_abort(txn);
		assert_int_equal(cask__io_cache_bytes(), held);
		cask_ctx_destroy(ctx);
	}
	/* Two files written at once share the twelfth: at 512 MiB the second
	 * one's 32 MiB would not fit beside the first's, so it goes through
	 * HDF5 (and is still written). */
	cask_ctx_t *ctx = NULL;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	assert_int_equal(cask_ctx_set_memory(ctx, 512 * MIB), 0);
	size_t held = cask__io_cache_bytes();
	cask__h5txn_t *t1 = NULL, *t2 = NULL;
	cask__h5out_t *o1 = NULL, *o2 = NULL;
	assert_int_equal(cask__io_txn_begin(ctx, P("two1.h5"), &t1), 0);
	assert_int_equal(cask__io_create(ctx, t1, "/v", &spec, &o1), 0);
	assert_int_equal(cask__io_txn_begin(ctx, P("two2.h5"), &t2), 0);
	assert_int_equal(cask__io_create(ctx, t2, "/v", &spec, &o2), 0);
	assert_int_equal(cask__io_cache_bytes() - held, 32 * MIB);
	double *v = calloc((size_t)chunks[0], sizeof *v);
	for (int64_t c = 0; c < 8; c++) {
		int64_t st[1] = {c * chunks[0]};
		for (int64_t i = 0; i < chunks[0]; i++)
			v[i] = (double)(st[0] + i);
		assert_int_equal(cask__io_write(ctx, o1, st, chunks, v), 0);
		assert_int_equal(cask__io_write(ctx, o2, st, chunks, v), 0);
	}
	assert_int_equal(cask__io_txn_commit(ctx, t2), 0);
	assert_int_equal(cask__io_txn_commit(ctx, t1), 0);
	assert_int_equal(cask__io_cache_bytes(), held);
	for (int k = 0; k < 2; k++) {
		cask__h5in_t *in = NULL;
		cask__h5meta_t m;
		double *all = malloc((size_t)shape[0] * sizeof *all);
		int64_t z[1] = {0};
		assert_int_equal(cask__io_open(ctx, P(k ? "two2.h5" : "two1.h5"), "/v", 0, &in, &m), 0);
		assert_int_equal(cask__io_read(ctx, in, z, shape, NULL, all), 0);
		for (int64_t i = 0; i < shape[0]; i++)
			if (all[i] != (double)i)
				fail_msg("two%d.h5: element %lld is %g", k + 1, (long long)i, all[i]);
		cask__io_close(in);
		free(all);
	}
	free(v);
	cask_ctx_destroy(ctx);
	unsetenv("CASK_DIRECT");
}

/* A direct write that fails: the commit fails naming the target and the
 * temporary file, the target is not created and the temporary is gone. */
static void test_io_output_direct_failure(void **state)
{
	(void)state;
	const char *path = P("fails.h5");
	cask_ctx_t *ctx = NULL;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	setenv("CASK_DIRECT", "1", 1);
	int64_t shape[1] = {8 << 20}, chunks[1] = {1 << 20}; /* 8 chunks of 8 MiB */
	cask__h5create_t spec = {.dtype = CASK_FLOAT64, .ndim = 1, .shape = shape, .chunks = chunks, .gzip = -1};
	cask__h5txn_t *txn = NULL;
	cask__h5out_t *o = NULL;
	assert_int_equal(cask__io_txn_begin(ctx, path, &txn), 0);
	assert_int_equal(cask__io_create(ctx, txn, "/v", &spec, &o), 0);
	limit_file_size(20 * MIB);
	double *buf = calloc((size_t)chunks[0], sizeof *buf);
	int rc = 0;
	for (int64_t c = 0; c < 8 && rc == 0; c++) {
		int64_t st[1] = {c * chunks[0]};
		rc = cask__io_write(ctx, o, st, chunks, buf);
	}
	if (rc == 0) {
		/* The failure may still be queued: a partial write waits for the
		 * queue before HDF5 touches the dataset, and reports it. */
		int64_t z[1] = {0}, one[1] = {1};
		rc = cask__io_write(ctx, o, z, one, buf);
	}
	/* HDF5's own writes at commit / abort are allowed again (a failed
	 * H5Fclose leaves HDF5 1.10 to crash at exit). */
	limit_file_size(0);
	if (rc == 0)
		rc = cask__io_txn_commit(ctx, txn);
	else
		cask__io_txn_abort(txn);
	assert_int_equal(rc, CASK_EIO);
	const char *msg = cask_ctx_message(ctx);
	if (strstr(msg, "fails.h5") == NULL || strstr(msg, ".cask-tmp-") == NULL || strstr(msg, "large") == NULL)
		fail_msg("message: %s", msg);
	assert_int_equal(access(path, F_OK), -1);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -q cask-tmp", g_dir);
	assert_int_not_equal(system(cmd), 0);
	free(buf);
	cask_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dw_writes_exact_ranges),
		cmocka_unit_test(test_dw_concurrent_putters),
		cmocka_unit_test(test_dw_failure_sticks),
		cmocka_unit_test(test_dw_start_refusals),
		cmocka_unit_test(test_io_output_direct),
		cmocka_unit_test(test_io_output_buffered),
		cmocka_unit_test(test_io_row_runs),
		cmocka_unit_test(test_io_scratch_file),
		cmocka_unit_test(test_io_direct_default_follows_fsync),
		cmocka_unit_test(test_io_direct_small_budgets),
		cmocka_unit_test(test_io_output_direct_failure),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
