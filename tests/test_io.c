/*
 * test_io.c - unit tests of src/io.c and src/filters.c against h5py/NumPy.
 *
 * tests/ref/make_io_files.py (run at setup into a fresh temporary directory)
 * writes the inputs with h5py - every dtype in both byte orders, contiguous,
 * chunked and filtered, missing chunks, unsupported types, links, damaged
 * chunks - with the expected raw bytes next to them.  Outputs written here
 * are checked by tests/ref/check_io_output.py, which reads them with h5py.
 * Data movement is compared bit-exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctx.h"
#include "filters.h"
#include "io.h"

static char g_dir[256];              /* temporary directory of this run */
static char g_ref[3 * PATH_MAX];     /* tests/ref */
static char g_path[8][PATH_MAX + 256]; /* rotating buffers of P() */
static int g_pi;

/* A path inside the temporary directory (valid for the next 7 calls). */
static const char *P(const char *name)
{
	char *b = g_path[g_pi++ % 8];
	snprintf(b, sizeof g_path[0], "%s/%s", g_dir, name);
	return b;
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[16 * PATH_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return st == -1 ? -1 : WEXITSTATUS(st);
}

static unsigned char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *b = malloc(len > 0 ? (size_t)len : 1);
	if (b != NULL && fread(b, 1, (size_t)len, f) != (size_t)len) {
		free(b);
		b = NULL;
	}
	fclose(f);
	*n = (size_t)len;
	return b;
}

static void spit(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

/* Locate tests/ref: __FILE__ is relative to the build root (meson), whose
 * test binary lives in <build>/tests. */
static int find_ref(void)
{
	const char *env = getenv("CASK_TEST_REF_DIR");
	if (env != NULL) {
		snprintf(g_ref, sizeof g_ref, "%s", env);
		return 0;
	}
	char src[PATH_MAX];
	snprintf(src, sizeof src, "%s", __FILE__);
	char *slash = strrchr(src, '/');
	if (slash == NULL)
		snprintf(src, sizeof src, ".");
	else
		*slash = '\0';
	if (src[0] == '/') {
		snprintf(g_ref, sizeof g_ref, "%s/ref", src);
	} else {
		char exe[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
		if (n <= 0)
			return -1;
		exe[n] = '\0';
		for (int up = 0; up < 2; up++) {
			char *s = strrchr(exe, '/');
			if (s == NULL)
				return -1;
			*s = '\0';
		}
		snprintf(g_ref, sizeof g_ref, "%s/%s/ref", exe, src);
	}
	char probe[sizeof g_ref + 32];
	snprintf(probe, sizeof probe, "%s/make_io_files.py", g_ref);
	return access(probe, R_OK);
}

static int group_setup(void **state)
{
	(void)state;
	if (find_ref() != 0) {
		fprintf(stderr, "test_io: cannot find tests/ref (set CASK_TEST_REF_DIR)\n");
		return -1;
	}
	snprintf(g_dir, sizeof g_dir, "/tmp/cask-test-io-XXXXXX");
	if (mkdtemp(g_dir) == NULL)
		return -1;
	if (run("/usr/bin/python3 '%s/make_io_files.py' '%s'", g_ref, g_dir) != 0) {
		fprintf(stderr, "test_io: make_io_files.py failed\n");
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (getenv("CASK_TEST_KEEP") == NULL && g_dir[0] != '\0')
		run("rm -rf '%s'", g_dir);
	return 0;
}

static cask_ctx_t *new_ctx(void)
{
	cask_ctx_t *ctx = NULL;
	assert_int_equal(cask_ctx_create(&ctx), 0);
	return ctx;
}

/* ---------------------------------------------------------------- manifest */

typedef struct {
	char name[128];
	cask_dtype_t dtype;
	int ndim;
	int64_t shape[CASK_MAX_DIMS], chunks[CASK_MAX_DIMS];
	int filtered;
	int64_t start[CASK_MAX_DIMS], stride[CASK_MAX_DIMS], count[CASK_MAX_DIMS];
	int index;
} entry_t;

static int load_manifest(entry_t **out)
{
	FILE *f = fopen(P("dtypes.txt"), "r");
	assert_non_null(f);
	entry_t *e = calloc(512, sizeof *e);
	int n = 0;
	char line[1024];
	while (fgets(line, sizeof line, f) != NULL && n < 512) {
		entry_t *x = &e[n];
		char dt[32];
		char *tok = strtok(line, " \n");
		snprintf(x->name, sizeof x->name, "%s", tok);
		snprintf(dt, sizeof dt, "%s", strtok(NULL, " \n"));
		assert_int_equal(cask_dtype_parse(dt, &x->dtype), 0);
		x->ndim = atoi(strtok(NULL, " \n"));
		for (int k = 0; k < x->ndim; k++)
			x->shape[k] = atoll(strtok(NULL, " \n"));
		for (int k = 0; k < x->ndim; k++)
			x->chunks[k] = atoll(strtok(NULL, " \n"));
		x->filtered = atoi(strtok(NULL, " \n"));
		for (int k = 0; k < x->ndim; k++)
			x->start[k] = atoll(strtok(NULL, " \n"));
		for (int k = 0; k < x->ndim; k++)
			x->stride[k] = atoll(strtok(NULL, " \n"));
		for (int k = 0; k < x->ndim; k++)
			x->count[k] = atoll(strtok(NULL, " \n"));
		x->index = n++;
	}
	fclose(f);
	*out = e;
	return n;
}

static int64_t prod(int n, const int64_t *v)
{
	int64_t p = 1;
	for (int i = 0; i < n; i++)
		p *= v[i];
	return p;
}

/* ---------------------------------------------------------------- reading */

/* Every dataset of dtypes.h5: metadata, full read and a strided read,
 * compared bit-exactly with NumPy's bytes. */
static void test_io_read_all_dtypes(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx();
	entry_t *e;
	int n = load_manifest(&e);
	assert_true(n > 150);
	uint64_t expect_bytes = 0;
	for (int i = 0; i < n; i++) {
		entry_t *x = &e[i];
		cask__h5in_t *in = NULL;
		cask__h5meta_t m;
		int rc = cask__io_open(ctx, P("dtypes.h5"), x->name, 0, &in, &m);
		if (rc != 0)
			fail_msg("%s: %s", x->name, cask_ctx_message(ctx));
		assert_int_equal(m.dtype, x->dtype);
		assert_int_equal(m.ndim, x->ndim);
		assert_int_equal(m.chunked, x->chunks[0] != 0 && x->ndim > 0);
		assert_int_equal(m.filtered, x->filtered);
		for (int k = 0; k < x->ndim; k++) {
			assert_int_equal(m.shape[k], x->shape[k]);
			assert_int_equal(m.chunks[k], x->chunks[k]);
		}
		size_t es = cask_dtype_size(x->dtype);
		assert_int_equal(m.chunk_bytes, m.chunked ? (size_t)prod(x->ndim, x->chunks) * es : 0);
		assert_string_equal(cask__io_in_dset(in), x->name);
		assert_string_equal(cask__io_in_path(in), P("dtypes.h5"));

		char bin[64];
		size_t nb = 0, ns = 0;
		snprintf(bin, sizeof bin, "d%d.bin", x->index);
		unsigned char *full = slurp(P(bin), &nb);
		snprintf(bin, sizeof bin, "d%d.s.bin", x->index);
		unsigned char *sub = slurp(P(bin), &ns);
		assert_non_null(full);
		assert_non_null(sub);
		assert_int_equal(nb, (size_t)prod(x->ndim, x->shape) * es);

		int64_t zero[CASK_MAX_DIMS] = {0}, one[CASK_MAX_DIMS];
		for (int k = 0; k < CASK_MAX_DIMS; k++)
			one[k] = 1;
		unsigned char *buf = malloc(nb + 16);
		memset(buf, 0xa5, nb + 16);
		rc = cask__io_read(ctx, in, zero, x->shape, one, buf);
		if (rc != 0)
			fail_msg("%s: %s", x->name, cask_ctx_message(ctx));
		if (memcmp(buf, full, nb) != 0)
			fail_msg("%s: full read differs", x->name);
		assert_int_equal(buf[nb], 0xa5); /* nothing written past the block */
		expect_bytes += nb;
		if (x->ndim > 0) {
			memset(buf, 0xa5, nb);
			assert_int_equal(ns, (size_t)prod(x->ndim, x->count) * es);
			rc = cask__io_read(ctx, in, x->start, x->count, x->stride, buf);
			assert_int_equal(rc, 0);
			if (memcmp(buf, sub, ns) != 0)
				fail_msg("%s: strided read differs", x->name);
			expect_bytes += ns;
		}
		free(buf);
		free(full);
		free(sub);
		cask__io_close(in);
	}
	cask_stats_t st;
	cask_ctx_stats(ctx, &st);
	assert_int_equal(st.bytes_read, expect_bytes);
	assert_true(cask__io_seconds() > 0);
	free(e);
	cask_ctx_destroy(ctx);
}

/* A block inside one chunk, a block crossing chunks, an empty block and
 * out-of-range blocks. */
static void test_io_read_blocks_and_bounds(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx();
	cask__h5in_t *in = NULL;
	cask__h5meta_t m;
	assert_int_equal(cask__io_open(ctx, P("errors.h5"), "group/inner", 0, &in, &m), 0);
	assert_int_equal(m.dtype, CASK_INT32);
	int32_t v[6];
	int64_t st[2] = {1, 1}, ct[2] = {1, 2};
	assert_int_equal(cask__io_read(ctx, in, st, ct, NULL, v), 0);
	assert_int_equal(v[0], 4); /* np.arange(6).reshape(2, 3)[1, 1:3] */
	assert_int_equal(v[1], 5);
	int64_t c0[2] = {0, 2};
	assert_int_equal(cask__io_read(ctx, in, st, c0, NULL, v), 0); /* count 0 is a no-op */
	int64_t bad[2] = {1, 2}, ct2[2] = {1, 2};
	assert_int_equal(cask__io_read(ctx, in, bad, ct2, NULL, v), CASK_EINVAL);
	assert_non_null(strstr(cask_ctx_message(ctx), "'/group/inner'"));
	int64_t s0[2] = {0, 0}, str0[2] = {1, 0}, one[2] = {1, 1};
	assert_int_equal(cask__io_read(ctx, in, s0, one, str0, v), CASK_EINVAL);
	int64_t neg[2] = {-1, 0};
	assert_int_equal(cask__io_read(ctx, in, neg, one, NULL, v), CASK_EINVAL);
	/* Two handles on one dataset are independent: closing one (HDF5's strong
	 * close degree) leaves the other readable. */
	cask__h5in_t *in2 = NULL;
	assert_int_equal(cask__io_open(ctx, P("errors.h5"), "/group/inner", 0, &in2, &m), 0);
	cask__io_close(in);
	int64_t z[2] = {0, 0};
	assert_int_equal(cask__io_read(ctx, in2, z, m.shape, NULL, v), 0);
	for (int k = 0; k < 6; k++)
		assert_int_equal(v[k], k);
	cask__io_close(in2);
	cask__io_close(NULL);
	cask_ctx_destroy(ctx);
}

typedef struct {
	const char *file, *dset;
	int allow;
	int rc;
	const char *needles[4];
} refusal_t;

static void test_io_refusals(void **state)
{
	(void)state;
	mkdir(P("adir"), 0755);
	const refusal_t cases[] = {
		{"errors.h5", "compound", 0, CASK_ETYPE, {"'/compound'", "errors.h5", "compound", "float32/64"}},
		{"errors.h5", "string", 0, CASK_ETYPE, {"'/string'", "string", NULL}},
		{"errors.h5", "vstring", 0, CASK_ETYPE, {"'/vstring'", "string", NULL}},
		{"errors.h5", "float16", 0, CASK_ETYPE, {"float16", NULL}},
		{"errors.h5", "enum3", 0, CASK_ETYPE, {"enum", NULL}},
		{"errors.h5", "null", 0, CASK_ENOTSUP, {"'/null'", "null dataspace", NULL}},
		{"errors.h5", "ext", 0, CASK_EPERM, {"'/ext'", "external link", "other.h5", NULL}},
		{"errors.h5", "soft_ext", 0, CASK_EPERM, {"'/soft_ext'", "external link", NULL}},
		{"errors.h5", "ext_storage", 0, CASK_EPERM, {"'/ext_storage'", "external file", NULL}},
		{"errors.h5", "missing", 0, CASK_ENOTFOUND, {"dataset '/missing' not found in", "errors.h5", NULL}},
		{"errors.h5", "group/missing/deeper", 0, CASK_ENOTFOUND, {"'/group/missing/deeper'", NULL}},
		{"errors.h5", "group/inner/below", 0, CASK_ENOTFOUND, {"not found", NULL}},
		{"errors.h5", "dangling", 0, CASK_ENOTFOUND, {"'/dangling'", NULL}},
		{"errors.h5", "group", 0, CASK_ENOTFOUND, {"group, not a dataset", NULL}},
		{"errors.h5", "/", 0, CASK_EINVAL, {"root group", NULL}},
		{"notes.txt", "x", 0, CASK_EIO, {"cannot open", "notes.txt", "not an HDF5 file", NULL}},
		{"adir", "x", 0, CASK_EIO, {"adir", "directory", NULL}},
		{"nope.h5", "x", 0, CASK_ENOTFOUND, {"nope.h5", NULL}},
	};
	cask_ctx_t *ctx = new_ctx();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const refusal_t *c = &cases[i];
		cask__h5in_t *in = (cask__h5in_t *)&ctx; /* must stay untouched */
		cask__h5meta_t m;
		int rc = cask__io_open(ctx, P(c->file), c->dset, c->allow, &in, &m);
		if (rc != c->rc)
			fail_msg("%s:%s: rc %d (%s), expected %d", c->file, c->dset, rc, cask_ctx_message(ctx), c->rc);
		assert_ptr_equal(in, (cask__h5in_t *)&ctx);
		for (int k = 0; k < 4 && c->needles[k] != NULL; k++)
			if (strstr(cask_ctx_message(ctx), c->needles[k]) == NULL)
				fail_msg("%s:%s: message '%s' lacks '%s'", c->file, c->dset, cask_ctx_message(ctx),
				         c->needles[k]);
	}
	cask_ctx_destroy(ctx);
}

/* Soft links inside the file are followed; external links and external
 * storage read when allowed. */
static void test_io_links_allowed(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx();
	const char *soft[] = {"soft_ok", "soft_rel", "group/soft_dir/inner"};
	for (int i = 0; i < 3; i++) {
		cask__h5in_t *in;
		cask__h5meta_t m;
		int32_t v[6];
		int64_t z[2] = {0, 0};
		if (cask__io_open(ctx, P("errors.h5"), soft[i], 0, &in, &m) != 0)
			fail_msg("%s: %s", soft[i], cask_ctx_message(ctx));
		assert_int_equal(cask__io_read(ctx, in, z, m.shape, NULL, v), 0);
		for (int k = 0; k < 6; k++)
			assert_int_equal(v[k], k);
		cask__io_close(in);
	}
	const char *ext[] = {"ext", "soft_ext", "ext_storage"};
	const int len[] = {3, 3, 10};
	for (int i = 0; i < 3; i++) {
		cask__h5in_t *in;
		cask__h5meta_t m;
		double v[10];
		int64_t z[1] = {0};
		/* external links resolve relative to the current directory too */
		char cwd[PATH_MAX];
		assert_non_null(getcwd(cwd, sizeof cwd));
		assert_int_equal(chdir(g_dir), 0);
		int rc = cask__io_open(ctx, P("errors.h5"), ext[i], 1, &in, &m);
		if (rc != 0)
			fail_msg("%s: %s", ext[i], cask_ctx_message(ctx));
		assert_int_equal(m.shape[0], len[i]);
		assert_int_equal(cask__io_read(ctx, in, z, m.shape, NULL, v), 0);
		assert_int_equal(chdir(cwd), 0);
		for (int k = 0; k < len[i]; k++)
			assert_true(v[k] == (double)k);
		cask__io_close(in);
	}
	cask_ctx_destroy(ctx);
}

/* Any nonzero byte of a bool enum reads as 1 (HDF5's enum conversion would
 * give 0xff for values that are not members); FALSE/TRUE over uint8 is bool
 * too.  Through the pipeline and through direct chunk reads. */
static void test_io_bool_bytes(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx();
	const char *names[2] = {"bool_raw", "bool_u1"};
	const unsigned char want[2][4] = {{0, 1, 1, 1}, {0, 1, 1, 0}};
	for (int i = 0; i < 2; i++) {
		cask__h5in_t *in;
		cask__h5meta_t m;
		unsigned char b[4];
		int64_t z[1] = {0};
		assert_int_equal(cask__io_open(ctx, P("errors.h5"), names[i], 0, &in, &m), 0);
		assert_int_equal(m.dtype, CASK_BOOL);
		assert_int_equal(cask__io_read(ctx, in, z, m.shape, NULL, b), 0);
		assert_memory_equal(b, want[i], 4);
		if (m.chunked) {
			size_t sb = cask__io_chunk_scratch_bytes(in);
			unsigned char *scratch = malloc(sb);
			memset(b, 0x77, 4);
			assert_int_equal(cask__io_read_chunk(ctx, in, z, b, scratch, sb), 0);
			assert_memory_equal(b, want[i], 4);
			free(scratch);
		}
		cask__io_close(in);
	}
	cask_ctx_destroy(ctx);
}

/* ---------------------------------------------------------------- writing */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static void fill_random(void *p, size_t n, cask_dtype_t dt, uint64_t seed)
{
	unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)splitmix(&seed);
	if (dt == CASK_BOOL)
		for (size_t i = 0; i < n; i++)
			b[i] &= 1;
}

typedef struct {
	const char *label;
	int chunked, gzip, shuffle, fletcher32;
	const char *filters; /* as h5py reports the pipeline */
} combo_t;

static const combo_t combos[] = {
	{"contig", 0, -1, 0, 0, "none"},
	{"chunk", 1, -1, 0, 0, "none"},
	{"gzip", 1, 6, 0, 0, "gzip=6"},
	{"shuf_gzip", 1, 1, 1, 0, "shuffle,gzip=1"},
	{"fletch", 1, -1, 0, 1, "fletcher32"},
	{"shuf_gzip_fletch", 1, 9, 1, 1, "shuffle,gzip=9,fletcher32"},
	{"shuf", 1, -1, 1, 0, "shuffle"},
};
#define NCOMBOS (int)(sizeof combos / sizeof combos[0])

static const char *numpy_name(cask_dtype_t t)
{
	return t == CASK_BOOL ? "bool" : cask_dtype_name(t);
}

/* Append a check line for tests/ref/check_io_output.py. */
static void expect_line(FILE *m, const char *file, const char *dset, cask_dtype_t dt, int ndim,
                        const int64_t *shape, const int64_t *chunks, const char *filters, const char *bin)
{
	fprintf(m, "%s|%s|%s|", file, dset, numpy_name(dt));
	for (int k = 0; k < ndim; k++)
		fprintf(m, "%s%lld", k ? "," : "", (long long)shape[k]);
	fprintf(m, "|");
	if (chunks == NULL)
		fprintf(m, "-");
	for (int k = 0; chunks != NULL && k < ndim; k++)
		fprintf(m, "%s%lld", k ? "," : "", (long long)chunks[k]);
	fprintf(m, "|%s|%s\n", filters, bin);
}

/* Shapes: a ragged 2-d grid, a 1-d array with a chunk larger than the
 * extent (clipped), a 3-d grid, a zero-length axis, and 0-d. */
typedef struct {
	int ndim;
	int64_t shape[3], chunks[3], stored_chunks[3];
} shape_t;

static const shape_t shapes[] = {
	{2, {13, 17}, {5, 4}, {5, 4}},
	{1, {10, 0, 0}, {64, 0, 0}, {10, 0, 0}},
	{3, {6, 7, 9}, {4, 3, 5}, {4, 3, 5}},
	{2, {0, 5}, {3, 5}, {1, 5}},
	{0, {0}, {0}, {0}},
};
#define NSHAPES (int)(sizeof shapes / sizeof shapes[0])

/* Write every dtype x filter combination x shape through the transaction
 * API (cask__io_write in row blocks of 3, crossing chunks), or through
 * cask__io_write_chunk when direct != 0; h5py checks the committed file.
 * With direct, the file is read back through cask__io_read_chunk too. */
static void write_all(const char *fname, int direct)
{
	cask_ctx_t *ctx = new_ctx();
	cask__h5txn_t *txn = NULL;
	FILE *m = fopen(P(direct ? "check_direct.txt" : "check_write.txt"), "w");
	assert_non_null(m);
	assert_int_equal(cask__io_txn_begin(ctx, P(fname), &txn), 0);
	uint64_t written = 0;
	for (int t = 0; t < CASK_NDTYPES; t++) {
		for (int c = 0; c < NCOMBOS; c++) {
			for (int s = 0; s < NSHAPES; s++) {
				const shape_t *sh = &shapes[s];
				const combo_t *co = &combos[c];
				if (direct && (!co->chunked || sh->ndim == 0))
					continue;
				if (sh->ndim == 0 && c > 0)
					continue;
				char dset[128], bin[128];
				snprintf(dset, sizeof dset, "/%s/%s/s%d", co->label, cask_dtype_name(t), s);
				snprintf(bin, sizeof bin, "w%d_%s_%s_%d.bin", direct, co->label, cask_dtype_name(t), s);
				size_t es = cask_dtype_size(t);
				int64_t n = prod(sh->ndim, sh->shape);
				size_t nb = (size_t)n * es;
				unsigned char *data = malloc(nb + 1);
				fill_random(data, nb, t, (uint64_t)(t * 1000 + c * 10 + s));
				spit(P(bin), data, nb);
				cask__h5create_t spec = {
					.dtype = t, .ndim = sh->ndim, .shape = sh->shape,
					.chunks = co->chunked ? sh->chunks : NULL, .gzip = co->gzip,
					.shuffle = co->shuffle, .fletcher32 = co->fletcher32, .overwrite = 0,
				};
				cask__h5out_t *o = NULL;
				int rc = cask__io_create(ctx, txn, dset + 1 /* no leading '/' */, &spec, &o);
				if (rc != 0)
					fail_msg("%s: %s", dset, cask_ctx_message(ctx));
				const char *filters = co->filters;
				if (!direct) {
					if (sh->ndim == 0) {
						assert_int_equal(cask__io_write(ctx, o, NULL, NULL, data), 0);
					} else {
						for (int64_t r = 0; r < sh->shape[0] || r == 0; r += 3) {
							int64_t st[3] = {r, 0, 0}, ct[3] = {sh->shape[0] - r, sh->shape[1], sh->shape[2]};
							if (ct[0] > 3)
								ct[0] = 3;
							size_t row = (size_t)prod(sh->ndim - 1, sh->shape + 1) * es;
							rc = cask__io_write(ctx, o, st, ct, data + (size_t)r * row);
							if (rc != 0)
								fail_msg("%s: %s", dset, cask_ctx_message(ctx));
							if (sh->shape[0] == 0)
								break;
						}
					}
					written += nb;
				} else {
					assert_int_equal(cask__io_out_filtered(o), co->gzip >= 0 || co->shuffle || co->fletcher32);
					size_t cb = cask__io_out_chunk_bytes(o);
					assert_int_equal(cb, (size_t)prod(sh->ndim, sh->stored_chunks) * es);
					size_t sb = cask__io_out_chunk_scratch_bytes(o);
					unsigned char *chunk = malloc(cb), *scratch = malloc(sb + 1);
					int64_t nchunks[3] = {1, 1, 1}, ci[3];
					for (int k = 0; k < sh->ndim; k++)
						nchunks[k] = (sh->shape[k] + sh->stored_chunks[k] - 1) / sh->stored_chunks[k];
					for (ci[0] = 0; ci[0] < nchunks[0]; ci[0]++)
						for (ci[1] = 0; ci[1] < nchunks[1]; ci[1]++)
							for (ci[2] = 0; ci[2] < nchunks[2]; ci[2]++) {
								int64_t org[3] = {0, 0, 0};
								for (int k = 0; k < sh->ndim; k++)
									org[k] = ci[k] * sh->stored_chunks[k];
								/* Gather the chunk at full extents; the part
								 * outside the array gets 0x5a garbage. */
								memset(chunk, 0x5a, cb);
								int64_t e[3] = {1, 1, 1}, ful[3] = {1, 1, 1}, shp[3] = {1, 1, 1};
								for (int k = 0; k < sh->ndim; k++) {
									ful[k] = sh->stored_chunks[k];
									shp[k] = sh->shape[k];
									e[k] = shp[k] - org[k] < ful[k] ? shp[k] - org[k] : ful[k];
								}
								for (int64_t a = 0; a < e[0]; a++)
									for (int64_t b = 0; b < e[1]; b++)
										for (int64_t d = 0; d < e[2]; d++) {
											size_t src = (size_t)(((org[0] + a) * shp[1] + org[1] + b) * shp[2] + org[2] + d);
											size_t dst = (size_t)((a * ful[1] + b) * ful[2] + d);
											memcpy(chunk + dst * es, data + src * es, es);
										}
								rc = cask__io_write_chunk(ctx, o, org, chunk, scratch, sb);
								if (rc != 0)
									fail_msg("%s: %s", dset, cask_ctx_message(ctx));
								written += (uint64_t)(e[0] * e[1] * e[2]) * es;
							}
					free(chunk);
					free(scratch);
				}
				expect_line(m, P(fname), dset, t, sh->ndim, sh->shape, co->chunked && sh->ndim > 0 ? sh->stored_chunks : NULL,
				            sh->ndim == 0 ? "none" : filters, P(bin));
				free(data);
			}
		}
	}
	fclose(m);
	cask_stats_t st;
	cask_ctx_stats(ctx, &st);
	assert_int_equal(st.bytes_written, written);
	assert_int_equal(cask__io_txn_commit(ctx, txn), 0);
	if (run("/usr/bin/python3 '%s/check_io_output.py' '%s'", g_ref,
	        P(direct ? "check_direct.txt" : "check_write.txt")) != 0)
		fail_msg("h5py found differences in %s", fname);
	cask_ctx_destroy(ctx);
}

static void test_io_write_roundtrip(void **state)
{
	(void)state;
	write_all("w_pipeline.h5", 0);
}

/* The temporary file is gone after commit and after abort. */
static int count_temps(void)
{
	DIR *d = opendir(g_dir);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, ".cask-tmp-") != NULL)
			n++;
	closedir(d);
	return n;
}

static void write_i32(cask_ctx_t *ctx, cask__h5txn_t *txn, const char *dset, int64_t n, int32_t base, int overwrite,
                      int expect_rc)
{
	int32_t v[64];
	for (int64_t i = 0; i < n; i++)
		v[i] = base + (int32_t)i;
	int64_t shape[1] = {n}, chunks[1] = {4}, z[1] = {0};
	cask__h5create_t spec = {.dtype = CASK_INT32, .ndim = 1, .shape = shape, .chunks = chunks, .gzip = 4,
	                         .overwrite = overwrite};
	cask__h5out_t *o = NULL;
	int rc = cask__io_create(ctx, txn, dset, &spec, &o);
	if (rc != expect_rc)
		fail_msg("%s: rc %d: %s", dset, rc, cask_ctx_message(ctx));
	if (rc == 0)
		assert_int_equal(cask__io_write(ctx, o, z, shape, v), 0);
}

static void test_io_overwrite_and_abort(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx();
	cask__h5txn_t *txn = NULL;
	const char *f = P("ow.h5");
	unlink(f);
	assert_int_equal(cask__io_txn_begin(ctx, f, &txn), 0);
	write_i32(ctx, txn, "/a/x", 10, 0, 0, 0);
	write_i32(ctx, txn, "/keep", 5, 100, 0, 0);
	write_i32(ctx, txn, "/a/x", 10, 0, 0, CASK_EEXIST); /* twice in one transaction */
	assert_int_equal(cask__io_txn_commit(ctx, txn), 0);
	assert_int_equal(count_temps(), 0);

	size_t n0, n1;
	unsigned char *before = slurp(f, &n0);
	/* EEXIST without overwrite; abort leaves the file byte-identical. */
	assert_int_equal(cask__io_txn_begin(ctx, f, &txn), 0);
	assert_int_equal(count_temps(), 1);
	write_i32(ctx, txn, "a/x", 10, 0, 0, CASK_EEXIST);
	assert_non_null(strstr(cask_ctx_message(ctx), "dataset '/a/x' already exists in"));
	assert_non_null(strstr(cask_ctx_message(ctx), "ow.h5"));
	assert_non_null(strstr(cask_ctx_message(ctx), "overwrite is off"));
	write_i32(ctx, txn, "/a", 10, 0, 1, CASK_EINVAL); /* a group: never replaced */
	write_i32(ctx, txn, "/keep/below", 3, 0, 0, CASK_EINVAL); /* /keep is a dataset */
	write_i32(ctx, txn, "/new", 7, 50, 0, 0);
	cask__io_txn_abort(txn);
	cask__io_txn_abort(NULL);
	unsigned char *after = slurp(f, &n1);
	assert_int_equal(n0, n1);
	assert_memory_equal(before, after, n0);
	assert_int_equal(count_temps(), 0);
	free(after);

	/* overwrite replaces /a/x (now 20 values) and keeps /keep. */
	assert_int_equal(cask__io_txn_begin(ctx, f, &txn), 0);
	write_i32(ctx, txn, "/a/x", 20, -5, 1, 0);
	assert_int_equal(cask__io_txn_commit(ctx, txn), 0);
	int rc = run("/usr/bin/python3 -c \"import h5py, numpy as np, sys; f = h5py.File('%s', 'r'); "
	             "sys.exit(0 if np.array_equal(f['a/x'][()], np.arange(20) - 5) and f['a/x'].dtype == np.int32 "
	             "and np.array_equal(f['keep'][()], np.arange(5) + 100) and 'new' not in f else 1)\"",
	             f);
	assert_int_equal(rc, 0);
	free(before);

	/* Through a symlink: the link survives and the file it names changes. */
	unlink(P("link.h5"));
	assert_int_equal(symlink("ow.h5", P("link.h5")), 0);
	assert_int_equal(cask__io_txn_begin(ctx, P("link.h5"), &txn), 0);
	write_i32(ctx, txn, "/via_link", 3, 9, 0, 0);
	assert_int_equal(cask__io_txn_commit(ctx, txn), 0);
	struct stat st;
	assert_int_equal(lstat(P("link.h5"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	cask__h5in_t *in;
	cask__h5meta_t m;
	assert_int_equal(cask__io_open(ctx, f, "/via_link", 0, &in, &m), 0);
	cask__io_close(in);
	assert_int_equal(cask__io_open(ctx, f, "/keep", 0, &in, &m), 0);
	cask__io_close(in);
	assert_int_equal(count_temps(), 0);

	/* A dangling link (to a link to a file not there yet) creates the
	 * file it names and stays a link; one into a missing directory is
	 * refused before anything is written. */
	unlink(P("dang.h5"));
	unlink(P("dang2.h5"));
	unlink(P("made.h5"));
	assert_int_equal(symlink("dang2.h5", P("dang.h5")), 0);
	assert_int_equal(symlink("made.h5", P("dang2.h5")), 0);
	assert_int_equal(cask__io_txn_begin(ctx, P("dang.h5"), &txn), 0);
	write_i32(ctx, txn, "/d", 3, 1, 0, 0);
	assert_int_equal(cask__io_txn_commit(ctx, txn), 0);
	assert_int_equal(lstat(P("dang.h5"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(lstat(P("dang2.h5"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(lstat(P("made.h5"), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(cask__io_open(ctx, P("made.h5"), "/d", 0, &in, &m), 0);
	cask__io_close(in);
	unlink(P("nowhere.h5"));
	assert_int_equal(symlink("no/such/dir/x.h5", P("nowhere.h5")), 0);
	assert_int_equal(cask__io_txn_begin(ctx, P("nowhere.h5"), &txn), CASK_ENOTFOUND);
	assert_non_null(strstr(cask_ctx_message(ctx), "no/such/dir/x.h5"));
	assert_int_equal(lstat(P("nowhere.h5"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(count_temps(), 0);
	cask_ctx_destroy(ctx);
}

/* Target checks: an existing non-HDF5 file or a directory is refused and
 * left alone; a bad spec is refused. */
static void test_io_bad_targets(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx();
	cask__h5txn_t *txn = (cask__h5txn_t *)&ctx;
	size_t n0, n1;
	unsigned char *b0 = slurp(P("notes.txt"), &n0);
	assert_int_equal(cask__io_txn_begin(ctx, P("notes.txt"), &txn), CASK_EIO);
	assert_non_null(strstr(cask_ctx_message(ctx), "not an HDF5 file"));
	assert_ptr_equal(txn, (cask__h5txn_t *)&ctx);
	unsigned char *b1 = slurp(P("notes.txt"), &n1);
	assert_int_equal(n0, n1);
	assert_memory_equal(b0, b1, n0);
	free(b0);
	free(b1);
	mkdir(P("adir"), 0755);
	assert_int_equal(cask__io_txn_begin(ctx, P("adir"), &txn), CASK_EIO);
	assert_non_null(strstr(cask_ctx_message(ctx), "directory"));
	assert_int_equal(cask__io_txn_begin(ctx, P("no/such/dir/x.h5"), &txn), CASK_ENOTFOUND);
	assert_int_equal(count_temps(), 0);

	assert_int_equal(cask__io_txn_begin(ctx, P("spec.h5"), &txn), 0);
	int64_t shape[2] = {4, 4}, chunks[2] = {2, 2};
	cask__h5create_t spec = {.dtype = CASK_FLOAT64, .ndim = 2, .shape = shape, .chunks = NULL, .gzip = 4};
	cask__h5out_t *o = NULL;
	assert_int_equal(cask__io_create(ctx, txn, "/x", &spec, &o), CASK_EINVAL); /* gzip needs chunks */
	assert_non_null(strstr(cask_ctx_message(ctx), "chunked"));
	spec.chunks = chunks;
	spec.gzip = 10;
	assert_int_equal(cask__io_create(ctx, txn, "/x", &spec, &o), CASK_EINVAL);
	spec.gzip = -1;
	int64_t big[2] = {1 << 20, 1 << 20}, bigc[2] = {1 << 16, 1 << 15};
	spec.shape = big;
	spec.chunks = bigc;
	assert_int_equal(cask__io_create(ctx, txn, "/x", &spec, &o), CASK_EINVAL); /* 16 GiB chunk */
	assert_non_null(strstr(cask_ctx_message(ctx), "4 GiB"));
	spec.shape = shape;
	spec.chunks = chunks;
	assert_int_equal(cask__io_create(ctx, txn, "/x", &spec, &o), 0);
	int64_t st[2] = {3, 0}, ct[2] = {2, 4};
	double v[8] = {0};
	assert_int_equal(cask__io_write(ctx, o, st, ct, v), CASK_EINVAL);
	cask__io_txn_abort(txn);
	assert_int_equal(access(P("spec.h5"), F_OK), -1); /* never created */
	cask_ctx_destroy(ctx);
}

/* Output into the file an input is read from, replacing that very input. */
static void test_io_same_file(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx();
	cask__h5txn_t *txn = NULL;
	const char *f = P("same.h5");
	double v[100], w[100];
	for (int i = 0; i < 100; i++)
		v[i] = i * 0.5 - 7;
	int64_t shape[2] = {10, 10}, chunks[2] = {4, 4}, z[2] = {0, 0};
	cask__h5create_t spec = {.dtype = CASK_FLOAT64, .ndim = 2, .shape = shape, .chunks = chunks, .gzip = -1};
	cask__h5out_t *o = NULL;
	assert_int_equal(cask__io_txn_begin(ctx, f, &txn), 0);
	assert_int_equal(cask__io_create(ctx, txn, "/in", &spec, &o), 0);
	assert_int_equal(cask__io_write(ctx, o, z, shape, v), 0);
	assert_int_equal(cask__io_txn_commit(ctx, txn), 0);

	cask__h5in_t *in = NULL;
	cask__h5meta_t m;
	assert_int_equal(cask__io_open(ctx, f, "/in", 0, &in, &m), 0);
	assert_int_equal(cask__io_txn_begin(ctx, f, &txn), 0);
	cask__h5out_t *o2 = NULL, *o3 = NULL;
	assert_int_equal(cask__io_create(ctx, txn, "/out", &spec, &o2), 0);
	spec.overwrite = 1;
	assert_int_equal(cask__io_create(ctx, txn, "/in", &spec, &o3), 0);
	for (int64_t r = 0; r < 10; r += 4) {
		int64_t st[2] = {r, 0}, ct[2] = {r + 4 <= 10 ? 4 : 10 - r, 10};
		assert_int_equal(cask__io_read(ctx, in, st, ct, NULL, w), 0);
		for (int i = 0; i < ct[0] * 10; i++)
			w[i] *= 2;
		assert_int_equal(cask__io_write(ctx, o2, st, ct, w), 0);
		for (int i = 0; i < ct[0] * 10; i++)
			w[i] += 1;
		assert_int_equal(cask__io_write(ctx, o3, st, ct, w), 0);
	}
	assert_int_equal(cask__io_txn_commit(ctx, txn), 0);
	/* The open input still reads the old data (the old inode). */
	assert_int_equal(cask__io_read(ctx, in, z, shape, NULL, w), 0);
	assert_memory_equal(w, v, sizeof v);
	cask__io_close(in);
	int rc = run("/usr/bin/python3 -c \"import h5py, numpy as np, sys; f = h5py.File('%s', 'r'); "
	             "x = (np.arange(100) * 0.5 - 7).reshape(10, 10); "
	             "sys.exit(0 if np.array_equal(f['out'][()], 2 * x) and np.array_equal(f['in'][()], 2 * x + 1) else 1)\"",
	             f);
	assert_int_equal(rc, 0);
	/* A fresh open sees the new data. */
	assert_int_equal(cask__io_open(ctx, f, "/in", 0, &in, &m), 0);
	assert_int_equal(cask__io_read(ctx, in, z, shape, NULL, w), 0);
	for (int i = 0; i < 100; i++)
		assert_true(w[i] == 2 * v[i] + 1);
	cask__io_close(in);
	assert_int_equal(count_temps(), 0);
	cask_ctx_destroy(ctx);
}

/* ---------------------------------------------------------------- info */

static void test_io_info(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx();
	cask_dset_info_t *d = NULL;
	int64_t n = 0;
	assert_int_equal(cask_h5_info(ctx, P("info.h5"), NULL, &d, &n), 0);
	FILE *f = fopen(P("info.txt"), "r");
	char line[1024];
	int64_t i = 0;
	while (fgets(line, sizeof line, f) != NULL) {
		assert_true(i < n);
		char *save = NULL;
		line[strcspn(line, "\n")] = '\0';
		char *path = strtok_r(line, "|", &save);
		assert_string_equal(d[i].path, path);
		assert_string_equal(d[i].type, strtok_r(NULL, "|", &save));
		assert_int_equal(d[i].supported, atoi(strtok_r(NULL, "|", &save)));
		int nd = atoi(strtok_r(NULL, "|", &save));
		assert_int_equal(d[i].ndim, nd);
		char *shape = nd > 0 ? strtok_r(NULL, "|", &save) : NULL;
		char *chunks = nd > 0 ? strtok_r(NULL, "|", &save) : NULL;
		for (int k = 0; k < nd; k++) {
			assert_int_equal(d[i].shape[k], strtoll(shape, &shape, 10));
			shape += *shape == ',';
			assert_int_equal(d[i].chunks[k], strtoll(chunks, &chunks, 10));
			chunks += *chunks == ',';
		}
		if (nd == 0)
			save += 2; /* the two empty fields */
		assert_string_equal(d[i].filters, strtok_r(NULL, "|", &save));
		assert_int_equal(d[i].stored_bytes, strtoull(strtok_r(NULL, "|", &save), NULL, 10));
		assert_int_equal(d[i].logical_bytes, strtoull(strtok_r(NULL, "|", &save), NULL, 10));
		i++;
	}
	fclose(f);
	assert_int_equal(i, n);
	free(d);

	assert_int_equal(cask_h5_info(ctx, P("info.h5"), "g/b", &d, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(d[0].path, "/g/b");
	assert_string_equal(d[0].filters, "shuffle,gzip=4,fletcher32");
	free(d);
	assert_int_equal(cask_h5_info(ctx, P("info.h5"), "nope", &d, &n), CASK_ENOTFOUND);
	assert_int_equal(cask_h5_info(ctx, P("info.h5"), "empty_group", &d, &n), CASK_ENOTFOUND);
	assert_int_equal(cask_h5_info(ctx, P("errors.h5"), "ext", &d, &n), CASK_EPERM);
	assert_int_equal(cask_h5_info(ctx, P("notes.txt"), NULL, &d, &n), CASK_EIO);
	/* errors.h5 as a whole: unsupported types are described, not refused */
	assert_int_equal(cask_h5_info(ctx, P("errors.h5"), NULL, &d, &n), 0);
	int seen = 0;
	for (i = 0; i < n; i++) {
		if (strcmp(d[i].path, "/compound") == 0) {
			assert_string_equal(d[i].type, "compound");
			assert_int_equal(d[i].supported, 0);
			seen++;
		}
		if (strcmp(d[i].path, "/group/inner") == 0) {
			assert_string_equal(d[i].type, "int32");
			assert_int_equal(d[i].supported, 1);
			seen++;
		}
	}
	assert_int_equal(seen, 2);
	free(d);
	cask_ctx_destroy(ctx);
}

/* ---------------------------------------------------------------- threads */

typedef struct {
	cask_ctx_t *ctx;
	cask__h5in_t *in;
	const unsigned char *want;
	size_t n;
	int64_t shape[2];
	int bad;
} reader_t;

static void *reader(void *p)
{
	reader_t *r = p;
	unsigned char *buf = malloc(r->n);
	int64_t z[2] = {0, 0};
	for (int it = 0; it < 40; it++) {
		if (cask__io_read(r->ctx, r->in, z, r->shape, NULL, buf) != 0 || memcmp(buf, r->want, r->n) != 0)
			r->bad = 1;
	}
	free(buf);
	return NULL;
}

/* Two threads read the same gzip dataset through one handle and another
 * through a second handle at once. */
static void test_io_threads(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx();
	entry_t *e;
	int n = load_manifest(&e);
	reader_t r[3];
	pthread_t th[3];
	const char *names[2] = {"/shuf_gzip_fletch/f8_be", "/gzip/i4_le"};
	cask__h5in_t *in[2];
	unsigned char *want[2];
	for (int j = 0; j < 2; j++) {
		cask__h5meta_t m;
		int idx = -1;
		for (int i = 0; i < n; i++)
			if (strcmp(e[i].name, names[j]) == 0)
				idx = i;
		assert_true(idx >= 0);
		assert_int_equal(cask__io_open(ctx, P("dtypes.h5"), names[j], 0, &in[j], &m), 0);
		char bin[64];
		size_t nb;
		snprintf(bin, sizeof bin, "d%d.bin", idx);
		want[j] = slurp(P(bin), &nb);
		for (int t = j; t < 3; t += 2) {
			r[t] = (reader_t){ctx, in[j], want[j], nb, {m.shape[0], m.shape[1]}, 0};
		}
	}
	double s0 = cask__io_seconds();
	for (int t = 0; t < 3; t++)
		pthread_create(&th[t], NULL, reader, &r[t]);
	for (int t = 0; t < 3; t++) {
		pthread_join(th[t], NULL);
		assert_int_equal(r[t].bad, 0);
	}
	assert_true(cask__io_seconds() > s0);
	for (int j = 0; j < 2; j++) {
		cask__io_close(in[j]);
		free(want[j]);
	}
	free(e);
	cask_ctx_destroy(ctx);
}

/* ---------------------------------------------------------------- filters and direct chunks */

/* HDF5's shuffle on 10 bytes of 4-byte elements: bytes j of both elements
 * together, the 2 trailing bytes as they are (H5Zshuffle.c). */
static void test_io_shuffle_definition(void **state)
{
	(void)state;
	const unsigned char src[10] = {0, 1, 2, 3, 10, 11, 12, 13, 98, 99};
	const unsigned char want[10] = {0, 10, 1, 11, 2, 12, 3, 13, 98, 99};
	unsigned char a[10], b[10];
	cask__shuffle(a, src, 10, 4);
	assert_memory_equal(a, want, 10);
	cask__unshuffle(b, a, 10, 4);
	assert_memory_equal(b, src, 10);
	cask__shuffle(a, src, 3, 4); /* fewer than 2 elements: a copy */
	assert_memory_equal(a, src, 3);
	unsigned char s[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	cask__byteswap(s, 2, 4);
	const unsigned char sw[8] = {4, 3, 2, 1, 8, 7, 6, 5};
	assert_memory_equal(s, sw, 8);
}

/* Shuffle and unshuffle against the definition (byte j of element i goes
 * to plane j, position i; trailing bytes copied) for every element size
 * path: the register ones (2, 4, 8) and the blocked one (3, 5, 16), with
 * more elements than one block of 2048 and a ragged tail. */
static void test_io_shuffle_sizes(void **state)
{
	(void)state;
	static const size_t sizes[] = {1, 2, 3, 4, 5, 8, 16};
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		size_t es = sizes[k], ne = 5000, n = ne * es + es / 2;
		unsigned char *src = malloc(n), *want = malloc(n), *got = malloc(n), *back = malloc(n);
		assert_non_null(src);
		assert_non_null(want);
		assert_non_null(got);
		assert_non_null(back);
		for (size_t i = 0; i < n; i++)
			src[i] = (unsigned char)(i * 2654435761u >> 13);
		for (size_t i = 0; i < ne; i++)
			for (size_t j = 0; j < es; j++)
				want[j * ne + i] = src[i * es + j];
		memcpy(want + ne * es, src + ne * es, n - ne * es);
		cask__shuffle(got, src, n, es);
		assert_memory_equal(got, want, n);
		cask__unshuffle(back, got, n, es);
		assert_memory_equal(back, src, n);
		free(src), free(want), free(got), free(back);
	}
}

/* The checksum HDF5 stored (little-endian, last 4 bytes) over an odd-length
 * chunk written by h5py. */
static void test_io_fletcher32_matches_hdf5(void **state)
{
	(void)state;
	size_t n;
	unsigned char *raw = slurp(P("odd_chunk.bin"), &n);
	assert_int_equal(n, 11);
	uint32_t stored = (uint32_t)raw[7] | (uint32_t)raw[8] << 8 | (uint32_t)raw[9] << 16 | (uint32_t)raw[10] << 24;
	assert_int_equal(cask__fletcher32(raw, 7), stored);
	free(raw);
	/* The fletcher32 datasets of dtypes.h5 (even and odd chunk lengths) are
	 * verified again on every direct chunk read below. */
}

/* Every chunk of every chunked dataset of dtypes.h5 through
 * cask__io_read_chunk, compared with NumPy over the chunk's extent inside
 * the array. */
static void test_io_read_chunk_all(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx();
	entry_t *e;
	int n = load_manifest(&e);
	int ndirect = 0;
	for (int i = 0; i < n; i++) {
		entry_t *x = &e[i];
		if (x->ndim == 0 || x->chunks[0] == 0)
			continue;
		cask__h5in_t *in = NULL;
		cask__h5meta_t m;
		assert_int_equal(cask__io_open(ctx, P("dtypes.h5"), x->name, 0, &in, &m), 0);
		int expect_direct = strstr(x->name, "scaleoffset") == NULL;
		assert_int_equal(cask__io_chunk_direct_ok(in), expect_direct);
		ndirect += expect_direct;
		char bin[64];
		size_t nb;
		snprintf(bin, sizeof bin, "d%d.bin", x->index);
		unsigned char *full = slurp(P(bin), &nb);
		size_t es = cask_dtype_size(x->dtype), sb = cask__io_chunk_scratch_bytes(in);
		unsigned char *chunk = malloc(m.chunk_bytes + 1), *scratch = malloc(sb + 1);
		int nd = x->ndim;
		int64_t ci[3] = {0, 0, 0}, nch[3] = {1, 1, 1}, shp[3] = {1, 1, 1}, ful[3] = {1, 1, 1};
		for (int k = 0; k < nd; k++) {
			nch[k] = (x->shape[k] + x->chunks[k] - 1) / x->chunks[k];
			shp[3 - nd + k] = x->shape[k];
			ful[3 - nd + k] = x->chunks[k];
		}
		for (ci[0] = 0; ci[0] < nch[0]; ci[0]++)
			for (ci[1] = 0; ci[1] < nch[1]; ci[1]++)
				for (ci[2] = 0; ci[2] < nch[2]; ci[2]++) {
					int64_t org[3], o3[3] = {0, 0, 0}, ext[3];
					for (int k = 0; k < nd; k++) {
						org[k] = ci[k] * x->chunks[k];
						o3[3 - nd + k] = org[k];
					}
					chunk[m.chunk_bytes] = 0xee;
					int rc = cask__io_read_chunk(ctx, in, org, chunk, scratch, sb);
					if (rc != 0)
						fail_msg("%s chunk %lld: %s", x->name, (long long)ci[0], cask_ctx_message(ctx));
					assert_int_equal(chunk[m.chunk_bytes], 0xee);
					for (int k = 0; k < 3; k++)
						ext[k] = shp[k] - o3[k] < ful[k] ? shp[k] - o3[k] : ful[k];
					for (int64_t a = 0; a < ext[0]; a++)
						for (int64_t b = 0; b < ext[1]; b++)
							for (int64_t c = 0; c < ext[2]; c++) {
								size_t src = (size_t)(((o3[0] + a) * shp[1] + o3[1] + b) * shp[2] + o3[2] + c);
								size_t dst = (size_t)((a * ful[1] + b) * ful[2] + c);
								if (memcmp(chunk + dst * es, full + src * es, es) != 0)
									fail_msg("%s: chunk (%lld,%lld,%lld) element (%lld,%lld,%lld) differs",
									         x->name, (long long)ci[0], (long long)ci[1], (long long)ci[2],
									         (long long)a, (long long)b, (long long)c);
							}
				}
		/* Missing chunks of /fill are the fill value everywhere. */
		if (strcmp(x->name, "/fill") == 0) {
			int64_t org[2] = {8, 16};
			assert_int_equal(cask__io_read_chunk(ctx, in, org, chunk, scratch, sb), 0);
			for (int k = 0; k < 64; k++) {
				int32_t v;
				memcpy(&v, chunk + 4 * k, 4);
				assert_int_equal(v, -7);
			}
			int64_t bad[2] = {3, 0};
			assert_int_equal(cask__io_read_chunk(ctx, in, bad, chunk, scratch, sb), CASK_EINVAL);
			if (sb > 0)
				assert_int_equal(cask__io_read_chunk(ctx, in, org, chunk, scratch, sb - 1), CASK_EINVAL);
		}
		free(full);
		free(chunk);
		free(scratch);
		cask__io_close(in);
	}
	assert_true(ndirect > 100);
	free(e);
	cask_ctx_destroy(ctx);
}

static void test_io_write_chunk_roundtrip(void **state)
{
	(void)state;
	write_all("w_direct.h5", 1);
	/* Read the direct-written datasets back directly as well. */
	cask_ctx_t *ctx = new_ctx();
	for (int t = 0; t < CASK_NDTYPES; t++) {
		char dset[128], bin[128];
		snprintf(dset, sizeof dset, "/shuf_gzip_fletch/%s/s0", cask_dtype_name(t));
		snprintf(bin, sizeof bin, "w1_shuf_gzip_fletch_%s_0.bin", cask_dtype_name(t));
		cask__h5in_t *in;
		cask__h5meta_t m;
		assert_int_equal(cask__io_open(ctx, P("w_direct.h5"), dset, 0, &in, &m), 0);
		assert_int_equal(cask__io_chunk_direct_ok(in), 1);
		size_t nb, es = cask_dtype_size(t), sb = cask__io_chunk_scratch_bytes(in);
		unsigned char *full = slurp(P(bin), &nb), *chunk = malloc(m.chunk_bytes), *scratch = malloc(sb);
		int64_t org[2] = {10, 16}; /* the ragged corner chunk: 3 x 1 inside */
		assert_int_equal(cask__io_read_chunk(ctx, in, org, chunk, scratch, sb), 0);
		for (int a = 0; a < 3; a++)
			assert_memory_equal(chunk + (size_t)(a * 4) * es, full + (size_t)((10 + a) * 17 + 16) * es, es);
		free(full);
		free(chunk);
		free(scratch);
		cask__io_close(in);
	}
	cask_ctx_destroy(ctx);
}

/* Damaged chunks: ECORRUPT naming file, dataset and chunk; intact chunks of
 * the same dataset still read. */
static void test_io_corrupt_chunks(void **state)
{
	(void)state;
	cask_ctx_t *ctx = new_ctx();
	const struct {
		const char *dset;
		int64_t bad[2], good[2];
		const char *why;
	} cases[] = {
		{"gz", {0, 8}, {8, 8}, "deflate"},
		{"fl", {8, 0}, {0, 0}, "fletcher32"},
		{"gzfl", {8, 8}, {0, 8}, "fletcher32"},
	};
	for (int i = 0; i < 3; i++) {
		cask__h5in_t *in;
		cask__h5meta_t m;
		assert_int_equal(cask__io_open(ctx, P("corrupt.h5"), cases[i].dset, 0, &in, &m), 0);
		size_t sb = cask__io_chunk_scratch_bytes(in);
		unsigned char *chunk = malloc(m.chunk_bytes), *scratch = malloc(sb);
		int rc = cask__io_read_chunk(ctx, in, cases[i].bad, chunk, scratch, sb);
		if (rc != CASK_ECORRUPT)
			fail_msg("%s: rc %d: %s", cases[i].dset, rc, cask_ctx_message(ctx));
		char coords[64];
		snprintf(coords, sizeof coords, "[%lld, %lld]", (long long)cases[i].bad[0], (long long)cases[i].bad[1]);
		const char *msg = cask_ctx_message(ctx);
		assert_non_null(strstr(msg, coords));
		assert_non_null(strstr(msg, "corrupt.h5"));
		assert_non_null(strstr(msg, cases[i].dset));
		assert_non_null(strstr(msg, cases[i].why));
		assert_int_equal(cask__io_read_chunk(ctx, in, cases[i].good, chunk, scratch, sb), 0);
		/* HDF5's own pipeline fails on the same chunk: an I/O error. */
		unsigned char all[16 * 16 * 4];
		int64_t z[2] = {0, 0};
		assert_int_equal(cask__io_read(ctx, in, z, m.shape, NULL, all), CASK_EIO);
		assert_non_null(strstr(cask_ctx_message(ctx), cases[i].dset));
		free(chunk);
		free(scratch);
		cask__io_close(in);
	}
	cask_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_read_all_dtypes),
		cmocka_unit_test(test_io_read_blocks_and_bounds),
		cmocka_unit_test(test_io_refusals),
		cmocka_unit_test(test_io_links_allowed),
		cmocka_unit_test(test_io_bool_bytes),
		cmocka_unit_test(test_io_write_roundtrip),
		cmocka_unit_test(test_io_overwrite_and_abort),
		cmocka_unit_test(test_io_bad_targets),
		cmocka_unit_test(test_io_same_file),
		cmocka_unit_test(test_io_info),
		cmocka_unit_test(test_io_threads),
		cmocka_unit_test(test_io_shuffle_definition),
		cmocka_unit_test(test_io_shuffle_sizes),
		cmocka_unit_test(test_io_fletcher32_matches_hdf5),
		cmocka_unit_test(test_io_read_chunk_all),
		cmocka_unit_test(test_io_write_chunk_roundtrip),
		cmocka_unit_test(test_io_corrupt_chunks),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
