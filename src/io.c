/*
 * io.c - every HDF5 call of cask: opening and reading input datasets, output
 * transactions (a temporary copy of the target renamed over it at commit),
 * dataset inspection (cask_h5_info) and direct chunk I/O, whose filters run
 * outside the library in filters.c.
 *
 * Invariants.
 *  1. Every HDF5 call (H5T_NATIVE_* included: they expand to H5open()) runs
 *     between lock() and unlock(): one process-wide mutex whose hold time is
 *     summed into io_ns (cask__io_seconds).  HDF5's serial Debian build is
 *     thread-safe through its own global lock; ours makes the serialisation
 *     explicit and measurable.
 *  2. The mutex is not recursive.  Helpers marked "lock held" are called only
 *     with it held and never take it; public functions take it at most once
 *     at a time and never call each other while holding it.
 *  3. HDF5's automatic error printing is off on every thread that ever took
 *     the lock (the setting is per thread in the thread-safe build).
 *  4. An HDF5 failure is reported by h5fail() right after the failing call,
 *     before any other HDF5 call clears the thread's error stack.
 *  5. An output target is touched only by the rename() in commit: datasets are
 *     written into ".<basename>.cask-tmp-<pid>-<random>" in the target's
 *     directory, a byte copy of the target if it existed.  A target named
 *     through symbolic links is the file they lead to (out_target: also
 *     when it does not exist yet), so the links survive.  The commit renames
 *     only if the target is still the file that was copied (or still absent),
 *     checked under an flock of its directory (target_changed): a second
 *     writer of the same file fails instead of dropping the first's datasets.
 *  6. Dataset chunk caches are 0 bytes: every data buffer is the caller's and
 *     is counted in the memory budget.  (The per-file metadata cache and the
 *     64 KiB sieve buffer of contiguous datasets remain HDF5's own, and
 *     reads cutting narrow chunks take a 64 KiB bounce buffer, read_pieces.)  The
 *     staging buffers of direct chunk writes are counted as held memory
 *     (cask__io_cache_bytes) from the output's creation to the commit.
 *  7. Direct writes (io_direct.c: whole chunks, or runs of whole rows of one
 *     chunk that start on a file block) go only to chunks HDF5 allocated when
 *     their dataset was created; a dataset written that way has every other
 *     write wait for those queued before it, and the commit waits for all of
 *     them before HDF5 closes the file.
 *
 * File locking: inputs are opened read-only (HDF5 takes a shared flock) and
 * outputs are written in a temporary file with its own inode, so reading a
 * file while "overwriting" it never contends for a lock.  An existing target
 * is held with a shared flock for the transaction's life: an HDF5 writer in
 * another process (exclusive flock) makes the transaction fail at once, and
 * cannot open the target for writing until the commit (its writes would go
 * to the replaced inode and be lost).  The fapl asks HDF5
 * to ignore locking on file systems that do not support it; the environment
 * variable HDF5_USE_FILE_LOCKING, when set, still overrides that.
 */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>
#include <zlib.h>

#include "ctx.h"
#include "filters.h"
#include "kernels.h"
#include "io_direct.h"

/* ---------------------------------------------------------------- locking */

static pthread_mutex_t io_mutex = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t io_ns;
static _Thread_local int auto_print_off;
static _Thread_local uint64_t lock_t0;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void lock(void)
{
	pthread_mutex_lock(&io_mutex);
	lock_t0 = now_ns();
	if (!auto_print_off) {
		H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
		auto_print_off = 1;
	}
}

static void unlock(void)
{
	atomic_fetch_add(&io_ns, now_ns() - lock_t0);
	pthread_mutex_unlock(&io_mutex);
}

double cask__io_seconds(void)
{
	return (double)atomic_load(&io_ns) * 1e-9;
}

/* ---------------------------------------------------------------- errors */

/* The innermost (most specific) entries of the HDF5 error stack. */
typedef struct {
	char text[768];
	int n;
} estack_t;

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
	estack_t *s = data;
	(void)n;
	if (s->n >= 2 || e->desc == NULL || e->desc[0] == '\0')
		return 0;
	size_t len = strlen(s->text);
	/* The sec2 driver's failures carry a ctime() stamp (with its newline),
	 * buffer addresses and sizes around the one useful part: "file write
	 * failed: time = ..., errno = 28, error message = 'No space left on
	 * device', ..." becomes "file write failed: No space left on device". */
	const char *msg = strstr(e->desc, "error message = '"), *colon = strchr(e->desc, ':');
	if (msg != NULL && colon != NULL && colon < msg) {
		msg += strlen("error message = '");
		const char *end = strchr(msg, '\'');
		snprintf(s->text + len, sizeof s->text - len, "%s%.*s: %.*s", s->n > 0 ? "; " : "",
		         (int)(colon - e->desc), e->desc, (int)(end ? end - msg : 200), msg);
	} else {
		snprintf(s->text + len, sizeof s->text - len, "%s%s", s->n > 0 ? "; " : "", e->desc);
	}
	for (char *c = s->text + len; *c != '\0'; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' '; /* one message, one line */
	s->n++;
	return 0;
}

/* Lock held.  Set ctx's message and append the innermost HDF5 error
 * descriptions (walked upward: the most specific error first).  Returns rc. */
static int h5fail(cask_ctx_t *ctx, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int h5fail(cask_ctx_t *ctx, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cask__verror(ctx, rc, fmt, ap);
	va_end(ap);
	estack_t s;
	memset(&s, 0, sizeof s);
	H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &s);
	if (s.n > 0) {
		cask__error_append(ctx, " (HDF5: %s)", s.text);
	}
	H5Eclear2(H5E_DEFAULT);
	return rc;
}

/* ---------------------------------------------------------------- helpers */

/* The number of chunks along each axis: shape / chunks rounded up, written
 * without shape + chunks - 1, which overflows for extents near 2^63. */
static void chunk_grid(int ndim, const int64_t *shape, const int64_t *chunks, int64_t *grid)
{
	for (int k = 0; k < ndim; k++)
		grid[k] = shape[k] / chunks[k] + (shape[k] % chunks[k] != 0);
}

/* Linear number (C order of grid) of the chunk whose origin is off, or -1
 * when off is not the origin of a chunk of the grid (a damaged index). */
static int64_t grid_lin(int ndim, const int64_t *grid, const int64_t *chunks, const hsize_t *off)
{
	int64_t l = 0;
	for (int k = 0; k < ndim; k++) {
		int64_t c = (int64_t)off[k] / chunks[k];
		if ((int64_t)off[k] < 0 || c >= grid[k] || (int64_t)off[k] % chunks[k] != 0)
			return -1;
		l = l * grid[k] + c;
	}
	return l;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);
	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

/* Normalise a dataset path: leading '/', no repeated or trailing '/'.
 * "" and "/" are CASK_EINVAL.  *out is malloc'd. */
static int norm_dset(cask_ctx_t *ctx, const char *path, const char *dset, char **out)
{
	int rc = 0;
	char *p = NULL;
	if (dset == NULL) {
		rc = cask__error(ctx, CASK_EINVAL, "no dataset name given for '%s'", path);
		goto out;
	}
	p = malloc(strlen(dset) + 2);
	if (p == NULL) {
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
		goto out;
	}
	size_t n = 0;
	for (const char *s = dset; *s != '\0'; s++) {
		if (*s == '/' && n > 0 && p[n - 1] == '/')
			continue;
		if (n == 0 && *s != '/')
			p[n++] = '/';
		p[n++] = *s;
	}
	if (n > 1 && p[n - 1] == '/')
		n--;
	p[n] = '\0';
	if (n <= 1) {
		rc = cask__error(ctx, CASK_EINVAL, "'%s' is not a dataset path in '%s' (the root group '/' is not a dataset)",
		                 dset, path);
		goto out;
	}
	*out = p;
	p = NULL;
out:
	free(p);
	return rc;
}

/* Check that path names an existing, readable regular file.  exists NULL:
 * a missing file is CASK_ENOTFOUND; otherwise *exists says whether it is
 * there (a directory or other non-file is always CASK_EIO). */
static int check_regular(cask_ctx_t *ctx, const char *path, int *exists)
{
	struct stat st;
	if (path == NULL || path[0] == '\0')
		return cask__error(ctx, CASK_EINVAL, "no file name given");
	if (stat(path, &st) != 0) {
		if (errno == ENOENT && exists != NULL) {
			*exists = 0;
			return 0;
		}
		return cask__error(ctx, errno == ENOENT || errno == ENOTDIR ? CASK_ENOTFOUND : CASK_EIO,
		                   "cannot open '%s': %s", path, strerror(errno));
	}
	if (S_ISDIR(st.st_mode))
		return cask__error(ctx, CASK_EIO, "cannot open '%s': it is a directory, not an HDF5 file", path);
	if (!S_ISREG(st.st_mode))
		return cask__error(ctx, CASK_EIO, "cannot open '%s': not a regular file", path);
	if (access(path, R_OK) != 0)
		return cask__error(ctx, CASK_EIO, "cannot open '%s': %s", path, strerror(errno));
	if (exists != NULL)
		*exists = 1;
	return 0;
}

/* The file an output named path is written to (malloc'd, NULL when out of
 * memory): the file a symlink points to, so that the link survives the
 * rename (realpath when it exists; a dangling link's target, followed link
 * by link, as open(O_CREAT) and h5py would create it), else path. */
static char *out_target(const char *path, int exists)
{
	struct stat lst;
	if (lstat(path, &lst) != 0 || !S_ISLNK(lst.st_mode))
		return xstrdup(path);
	if (exists)
		return realpath(path, NULL);
	char *cur = xstrdup(path);
	for (int hop = 0; cur != NULL && hop < 40; hop++) {
		char link[PATH_MAX], dir[PATH_MAX];
		ssize_t n;
		if (lstat(cur, &lst) != 0 || !S_ISLNK(lst.st_mode) ||
		    (n = readlink(cur, link, sizeof link - 1)) < 0)
			break;
		link[n] = '\0';
		cask__io_tmp_dir(cur, dir, sizeof dir);
		size_t len = strlen(dir) + strlen(link) + 2;
		char *next = link[0] == '/' ? xstrdup(link) : malloc(len);
		if (next != NULL && link[0] != '/')
			snprintf(next, len, "%s/%s", dir, link);
		free(cur);
		cur = next;
	}
	return cur;
}

/* Lock held.  A file access property list: strong close degree, file
 * locking on but ignored where the file system lacks it. */
static hid_t make_fapl(void)
{
	hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
	if (fapl < 0)
		return -1;
	if (H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 ||
	    H5Pset_file_locking(fapl, 1, 1) < 0) {
		H5Pclose(fapl);
		return -1;
	}
	return fapl;
}

/* Lock held.  A dataset access property list with a chunk cache of `bytes`
 * (0 by default: cask reads whole chunks itself; the budget counts it). */
static hid_t make_dapl_cache(size_t bytes)
{
	hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
	if (dapl < 0)
		return -1;
	/* HDF5's advice: about 100 slots per chunk that fits, a prime. */
	size_t slots = bytes == 0 ? 1 : 10007;
	if (H5Pset_chunk_cache(dapl, slots, bytes, bytes == 0 ? 1.0 : 0.75) < 0) {
		H5Pclose(dapl);
		return -1;
	}
	return dapl;
}

static hid_t make_dapl(void)
{
	return make_dapl_cache(0);
}

/* Lock held.  Native memory type of a cask dtype (not bool). */
static hid_t native_type(cask_dtype_t t)
{
	switch (t) {
	case CASK_INT8: return H5T_NATIVE_INT8;
	case CASK_INT16: return H5T_NATIVE_INT16;
	case CASK_INT32: return H5T_NATIVE_INT32;
	case CASK_INT64: return H5T_NATIVE_INT64;
	case CASK_UINT8: return H5T_NATIVE_UINT8;
	case CASK_UINT16: return H5T_NATIVE_UINT16;
	case CASK_UINT32: return H5T_NATIVE_UINT32;
	case CASK_UINT64: return H5T_NATIVE_UINT64;
	case CASK_FLOAT32: return H5T_NATIVE_FLOAT;
	case CASK_FLOAT64: return H5T_NATIVE_DOUBLE;
	default: return -1;
	}
}

/* Lock held.  h5py's bool: an enum over native int8, FALSE = 0, TRUE = 1.
 * Returns a new type id (close it) or -1. */
static hid_t bool_type(void)
{
	hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
	if (t < 0)
		return -1;
	int8_t v = 0;
	if (H5Tenum_insert(t, "FALSE", &v) < 0)
		goto fail;
	v = 1;
	if (H5Tenum_insert(t, "TRUE", &v) < 0)
		goto fail;
	return t;
fail:
	H5Tclose(t);
	return -1;
}

/* Lock held.  1 if t is h5py's bool enum: a 1-byte integer base and exactly
 * the members FALSE = 0 and TRUE = 1 (in any order). */
static int is_bool_enum(hid_t t)
{
	int ok = 0;
	hid_t base = H5Tget_super(t);
	if (base < 0)
		return 0;
	if (H5Tget_class(base) != H5T_INTEGER || H5Tget_size(base) != 1 || H5Tget_nmembers(t) != 2)
		goto out;
	int seen = 0;
	for (unsigned i = 0; i < 2; i++) {
		char *name = H5Tget_member_name(t, i);
		unsigned char v = 0xff;
		if (name == NULL)
			goto out;
		herr_t e = H5Tget_member_value(t, i, &v);
		if (e >= 0 && strcmp(name, "FALSE") == 0 && v == 0)
			seen |= 1;
		else if (e >= 0 && strcmp(name, "TRUE") == 0 && v == 1)
			seen |= 2;
		H5free_memory(name);
	}
	ok = seen == 3;
out:
	H5Tclose(base);
	return ok;
}

/* Lock held.  Map the stored type t to a cask dtype.  Returns 1 and sets *dt
 * when supported; otherwise 0.  name always receives a description ("int32",
 * "compound", "float16", "enum", ...). */
static int classify(hid_t t, cask_dtype_t *dt, char *name, size_t n)
{
	H5T_class_t cls = H5Tget_class(t);
	size_t size = H5Tget_size(t);
	cask_dtype_t d = CASK_NDTYPES;
	switch (cls) {
	case H5T_INTEGER: {
		int sgn = H5Tget_sign(t) == H5T_SGN_2;
		switch (size) {
		case 1: d = sgn ? CASK_INT8 : CASK_UINT8; break;
		case 2: d = sgn ? CASK_INT16 : CASK_UINT16; break;
		case 4: d = sgn ? CASK_INT32 : CASK_UINT32; break;
		case 8: d = sgn ? CASK_INT64 : CASK_UINT64; break;
		default: snprintf(name, n, "%sint%zu", sgn ? "" : "u", size * 8); return 0;
		}
		break;
	}
	case H5T_FLOAT:
		if (size == 4)
			d = CASK_FLOAT32;
		else if (size == 8)
			d = CASK_FLOAT64;
		else {
			snprintf(name, n, "float%zu", size * 8);
			return 0;
		}
		break;
	case H5T_ENUM:
		if (!is_bool_enum(t)) {
			snprintf(name, n, "enum");
			return 0;
		}
		d = CASK_BOOL;
		break;
	case H5T_TIME: snprintf(name, n, "time"); return 0;
	case H5T_STRING: snprintf(name, n, "string"); return 0;
	case H5T_BITFIELD: snprintf(name, n, "bitfield%zu", size * 8); return 0;
	case H5T_OPAQUE: snprintf(name, n, "opaque"); return 0;
	case H5T_COMPOUND: snprintf(name, n, "compound"); return 0;
	case H5T_REFERENCE: snprintf(name, n, "reference"); return 0;
	case H5T_VLEN: snprintf(name, n, "vlen"); return 0;
	case H5T_ARRAY: snprintf(name, n, "array"); return 0;
	default: snprintf(name, n, "unknown"); return 0;
	}
	snprintf(name, n, "%s", cask_dtype_name(d));
	*dt = d;
	return 1;
}

/* Lock held.  Describe the filter pipeline of dcpl as "shuffle,gzip=4" or
 * "none". */
static void describe_filters(hid_t dcpl, char *buf, size_t n)
{
	int nf = H5Pget_nfilters(dcpl);
	buf[0] = '\0';
	if (nf <= 0) {
		snprintf(buf, n, "none");
		return;
	}
	for (int i = 0; i < nf; i++) {
		unsigned flags = 0, cd[8] = {0}, config = 0;
		size_t ncd = 8;
		char fname[64] = "";
		H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof fname, fname, &config);
		char item[96];
		switch (id) {
		case H5Z_FILTER_DEFLATE: snprintf(item, sizeof item, "gzip=%u", ncd > 0 ? cd[0] : 0); break;
		case H5Z_FILTER_SHUFFLE: snprintf(item, sizeof item, "shuffle"); break;
		case H5Z_FILTER_FLETCHER32: snprintf(item, sizeof item, "fletcher32"); break;
		case H5Z_FILTER_SZIP: snprintf(item, sizeof item, "szip"); break;
		case H5Z_FILTER_NBIT: snprintf(item, sizeof item, "nbit"); break;
		case H5Z_FILTER_SCALEOFFSET: snprintf(item, sizeof item, "scaleoffset"); break;
		default: snprintf(item, sizeof item, "filter%d", (int)id); break;
		}
		size_t len = strlen(buf);
		snprintf(buf + len, n - len, "%s%s", i > 0 ? "," : "", item);
	}
}

/* Lock held.  Read the extent of space: ndim (0 for scalar) and dims.
 * Returns 0, CASK_ENOTSUP for a null dataspace, CASK_EOVERFLOW for a dim
 * beyond int64, CASK_EIO on HDF5 failure (no message set). */
static int space_dims(hid_t space, int *ndim, int64_t *dims)
{
	H5S_class_t cls = H5Sget_simple_extent_type(space);
	if (cls == H5S_SCALAR) {
		*ndim = 0;
		return 0;
	}
	if (cls != H5S_SIMPLE)
		return CASK_ENOTSUP;
	int nd = H5Sget_simple_extent_ndims(space);
	if (nd < 0 || nd > CASK_MAX_DIMS)
		return CASK_EIO;
	hsize_t h[CASK_MAX_DIMS];
	if (H5Sget_simple_extent_dims(space, h, NULL) < 0)
		return CASK_EIO;
	for (int k = 0; k < nd; k++) {
		if (h[k] > (hsize_t)INT64_MAX)
			return CASK_EOVERFLOW;
		dims[k] = (int64_t)h[k];
	}
	*ndim = nd;
	return 0;
}

/* Lock held.  Refuse (CASK_EPERM) external links and user-defined links on
 * the way to dset (absolute, normalised), following soft links (their
 * targets are checked the same way, up to 16 deep).  Missing components are
 * CASK_ENOTFOUND.  orig names the dataset in messages. */
static int check_links(cask_ctx_t *ctx, hid_t file, const char *path, const char *dset,
                       const char *orig, int depth)
{
	int rc = 0;
	size_t len = strlen(dset);
	char *prefix = malloc(len + 1);
	char *target = NULL;
	void *val = NULL;
	if (prefix == NULL) {
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
		goto out;
	}
	if (depth > 16) {
		rc = cask__error(ctx, CASK_EINVAL, "too many soft links on the way to '%s' in '%s'", orig, path);
		goto out;
	}
	for (size_t end = 1; end <= len; end++) {
		if (end < len && dset[end] != '/')
			continue;
		memcpy(prefix, dset, end);
		prefix[end] = '\0';
		htri_t ex = H5Lexists(file, prefix, H5P_DEFAULT);
		if (ex <= 0) {
			H5Eclear2(H5E_DEFAULT);
			rc = cask__error(ctx, CASK_ENOTFOUND, "dataset '%s' not found in '%s'", orig, path);
			goto out;
		}
		H5L_info_t li;
		if (H5Lget_info(file, prefix, &li, H5P_DEFAULT) < 0) {
			rc = h5fail(ctx, CASK_EIO, "cannot read link '%s' in '%s'", prefix, path);
			goto out;
		}
		if (li.type == H5L_TYPE_HARD)
			continue;
		if (li.type != H5L_TYPE_SOFT && li.type != H5L_TYPE_EXTERNAL) {
			rc = cask__error(ctx, CASK_EPERM,
			                 "'%s' in '%s' is a user-defined link (on the way to '%s'); refused",
			                 prefix, path, orig);
			goto out;
		}
		val = malloc(li.u.val_size + 1);
		if (val == NULL) {
			rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
			goto out;
		}
		if (H5Lget_val(file, prefix, val, li.u.val_size, H5P_DEFAULT) < 0) {
			rc = h5fail(ctx, CASK_EIO, "cannot read link '%s' in '%s'", prefix, path);
			goto out;
		}
		((char *)val)[li.u.val_size] = '\0';
		if (li.type == H5L_TYPE_EXTERNAL) {
			const char *efile = "?", *eobj = "?";
			unsigned eflags = 0;
			H5Lunpack_elink_val(val, li.u.val_size, &eflags, &efile, &eobj);
			rc = cask__error(ctx, CASK_EPERM,
			                 "'%s' in '%s' is an external link to '%s:%s' (on the way to '%s'); refused "
			                 "(allow external links to read it)",
			                 prefix, path, efile, eobj, orig);
			goto out;
		}
		/* A soft link: check its target path, relative to the link's group. */
		const char *soft = val;
		size_t tlen = strlen(soft) + end + 2;
		target = malloc(tlen);
		if (target == NULL) {
			rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
			goto out;
		}
		if (soft[0] == '/') {
			snprintf(target, tlen, "%s", soft);
		} else {
			size_t g = end;
			while (g > 0 && prefix[g - 1] != '/')
				g--;
			snprintf(target, tlen, "%.*s%s", (int)g, prefix, soft);
		}
		char *norm = NULL;
		rc = norm_dset(NULL, path, target, &norm);
		if (rc != 0) {
			rc = cask__error(ctx, CASK_ENOTFOUND, "dataset '%s' not found in '%s' (soft link '%s' -> '%s')",
			                 orig, path, prefix, soft);
			goto out;
		}
		rc = check_links(ctx, file, path, norm, orig, depth + 1);
		free(norm);
		if (rc != 0)
			goto out;
		free(target);
		target = NULL;
		free(val);
		val = NULL;
	}
out:
	free(prefix);
	free(target);
	free(val);
	return rc;
}

/* Lock held.  Open path read-only after the file checks; *file on success. */
static int open_file(cask_ctx_t *ctx, const char *path, hid_t *file)
{
	int rc = 0;
	hid_t fapl = -1;
	htri_t is = H5Fis_hdf5(path);
	if (is <= 0) {
		H5Eclear2(H5E_DEFAULT);
		rc = cask__error(ctx, CASK_EIO, "cannot open '%s': not an HDF5 file", path);
		goto out;
	}
	fapl = make_fapl();
	if (fapl < 0) {
		rc = h5fail(ctx, CASK_EIO, "cannot open '%s': cannot create file access properties", path);
		goto out;
	}
	hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
	if (f < 0) {
		rc = h5fail(ctx, CASK_EIO, "cannot open '%s'", path);
		goto out;
	}
	*file = f;
out:
	if (fapl >= 0)
		H5Pclose(fapl);
	return rc;
}

/* ---------------------------------------------------------------- input */

#define MAX_FILTERS 16

struct cask__h5in {
	char *path, *dset;
	hid_t file, ds, fspace, memtype;
	cask__h5meta_t meta;
	size_t elsize;
	size_t cache;               /* chunk cache bytes (cask_ctx_set_io) */
	/* Decoded-chunk cache (filtered chunks read directly), under cmu: up
	 * to ccap entries of chunk_bytes, cent[0 .. cused) in use, found by
	 * chunk number through chash (open addressing, linear probing, slots
	 * hold entry + 1, 0 = empty, hmask + 1 >= 2 ccap slots) and kept on
	 * a doubly linked list from the most recently used (lru_head) to the
	 * least (lru_tail), which a full cache replaces. */
	pthread_mutex_t cmu;
	/* Chunks being decoded by a thread that will put them (single flight:
	 * the other readers of the chunk wait on ccv instead of decoding it). */
	pthread_cond_t ccv;
	int64_t inflight[8];
	int ninflight;
	int64_t nchunks;            /* chunks in the dataset's grid */
	int ccap, cused, lru_head, lru_tail;
	struct cent { int64_t lin; void *data; int prev, next; } *cent;
	int32_t *chash;
	uint64_t hmask;
	/* Direct chunk reads (part 2): the pipeline in application order. */
	int direct_ok;
	int swap;                   /* stored byte order is not native */
	int nfilters;
	cask__filter_t filters[MAX_FILTERS];
	unsigned char fill[8];      /* fill value, native representation */
	size_t max_stored;          /* scratch bound for one stored chunk */
	/* Chunk index (sec2 files with at most IDX_MAX chunks): file offset,
	 * stored size and filter mask of every chunk in C order of the grid,
	 * so chunks are read with pread() on fd OUTSIDE the HDF5 lock, by all
	 * threads at once.  NULL when not built. */
	int fd;
	int64_t nidx;               /* stored chunks in the index, sorted by clin */
	int64_t *clin;              /* linear chunk number (C order of the grid) */
	uint64_t *caddr, *csize;
	uint32_t *cmask;
};

/* Building the index costs O(n^2) B-tree steps for n stored chunks in HDF5
 * 1.10 (it has no chunk iterator; H5Dget_chunk_info by index walks from the
 * first chunk), hence a cap on stored chunks.  The grid may be any size:
 * chunks not in the index were never written. */
#define IDX_MAX 4096

const char *cask__io_in_path(const cask__h5in_t *in) { return in->path; }
const char *cask__io_in_dset(const cask__h5in_t *in) { return in->dset; }

/* Lock held.  Close the HDF5 handles of in (not the struct). */
static void in_close_handles(cask__h5in_t *in)
{
	if (in->memtype >= 0)
		H5Tclose(in->memtype);
	if (in->fspace >= 0)
		H5Sclose(in->fspace);
	if (in->ds >= 0)
		H5Dclose(in->ds);
	if (in->file >= 0)
		H5Fclose(in->file);
	in->memtype = in->fspace = in->ds = in->file = -1;
}

/* Lock held.  1 if the stored type ftype is plain enough that raw chunk
 * bytes are the native bytes up to a byte swap. */
static int plain_layout(hid_t ftype, cask_dtype_t dt, int *swap)
{
	H5T_order_t ord = H5Tget_order(ftype);
	H5T_order_t nat = H5Tget_order(H5T_NATIVE_INT);
	if (dt == CASK_BOOL) {
		*swap = 0;
		return 1;
	}
	if (cask__dtype_is_float(dt)) {
		int le = dt == CASK_FLOAT32 ? H5Tequal(ftype, H5T_IEEE_F32LE) > 0 : H5Tequal(ftype, H5T_IEEE_F64LE) > 0;
		int be = dt == CASK_FLOAT32 ? H5Tequal(ftype, H5T_IEEE_F32BE) > 0 : H5Tequal(ftype, H5T_IEEE_F64BE) > 0;
		if (!le && !be)
			return 0;
	} else {
		size_t size = H5Tget_size(ftype);
		if (H5Tget_precision(ftype) != size * 8 || H5Tget_offset(ftype) != 0)
			return 0;
	}
	if (ord != H5T_ORDER_LE && ord != H5T_ORDER_BE)
		return cask_dtype_size(dt) == 1 ? (*swap = 0, 1) : 0;
	*swap = cask_dtype_size(dt) > 1 && ord != nat;
	return 1;
}

/* Lock held.  Build the chunk index of in when the file is a plain POSIX
 * (sec2) file and has at most IDX_MAX chunks; on any doubt leave it unbuilt
 * (reads then go through H5Dread_chunk under the lock). */
static void in_build_index(cask__h5in_t *in)
{
	int nd = in->meta.ndim;
	int64_t grid[CASK_MAX_DIMS], ncells = 1;
	/* A grid with more than 2^63 cells (a hostile file: found by
	 * tests/fuzz/fuzz_h5open) cannot have linear chunk numbers: no index. */
	chunk_grid(nd, in->meta.shape, in->meta.chunks, grid);
	if (cask__prod_i64(nd, grid, &ncells) != 0)
		return;
	hid_t fapl = H5Fget_access_plist(in->file);
	if (fapl < 0)
		return;
	hid_t drv = H5Pget_driver(fapl);
	void *handle = NULL;
	int ok = drv == H5FD_SEC2 && H5Fget_vfd_handle(in->file, fapl, &handle) >= 0 && handle != NULL;
	H5Pclose(fapl);
	hsize_t nstored = 0;
	if (!ok || H5Dget_num_chunks(in->ds, in->fspace, &nstored) < 0 || nstored > IDX_MAX) {
		H5Eclear2(H5E_DEFAULT);
		return;
	}
	size_t n = nstored > 0 ? (size_t)nstored : 1;
	int64_t *lin = calloc(n, sizeof *lin);
	uint64_t *addr = calloc(n, sizeof *addr), *size = calloc(n, sizeof *size);
	uint32_t *mask = calloc(n, sizeof *mask);
	int64_t m = 0;
	if (lin == NULL || addr == NULL || size == NULL || mask == NULL)
		goto fail;
	for (hsize_t i = 0; i < nstored; i++) {
		hsize_t off[CASK_MAX_DIMS];
		unsigned fm = 0;
		haddr_t a = HADDR_UNDEF;
		hsize_t sz = 0;
		if (H5Dget_chunk_info(in->ds, in->fspace, i, off, &fm, &a, &sz) < 0)
			goto fail;
		int64_t l = grid_lin(nd, grid, in->meta.chunks, off);
		if (l < 0)
			goto fail;
		if (a == HADDR_UNDEF)
			continue;
		/* insertion keeps the index sorted (chunks mostly come in order) */
		int64_t j = m;
		while (j > 0 && lin[j - 1] > l) {
			lin[j] = lin[j - 1], addr[j] = addr[j - 1], size[j] = size[j - 1], mask[j] = mask[j - 1];
			j--;
		}
		if (j > 0 && lin[j - 1] == l)
			goto fail; /* the same chunk twice: a damaged index, let HDF5 judge */
		lin[j] = l, addr[j] = (uint64_t)a, size[j] = (uint64_t)sz, mask[j] = fm;
		m++;
	}
	in->fd = *(int *)handle;
	in->nidx = m;
	in->clin = lin;
	in->caddr = addr;
	in->csize = size;
	in->cmask = mask;
	return;
fail:
	H5Eclear2(H5E_DEFAULT);
	free(lin);
	free(addr);
	free(size);
	free(mask);
}

/* I/O lanes: reads outside the HDF5 lock in flight at once, process-wide.
 * A reader waits while `limit` or more are in flight (0: no limit). */
static pthread_mutex_t lane_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t lane_cv = PTHREAD_COND_INITIALIZER;
static int lanes_busy;

static void lane_enter(int limit)
{
	pthread_mutex_lock(&lane_mu);
	while (limit > 0 && lanes_busy >= limit)
		pthread_cond_wait(&lane_cv, &lane_mu);
	lanes_busy++;
	pthread_mutex_unlock(&lane_mu);
}

static void lane_leave(void)
{
	pthread_mutex_lock(&lane_mu);
	lanes_busy--;
	pthread_cond_signal(&lane_cv);
	pthread_mutex_unlock(&lane_mu);
}

/* Bytes of chunk cache held by open inputs and of staging buffers held by
 * open transactions' direct writers (cask__io_cache_bytes). */
static _Atomic size_t cache_open_bytes;

size_t cask__io_cache_bytes(void)
{
	return atomic_load(&cache_open_bytes);
}

/* Read exactly n bytes at off from fd (no lock: pread keeps no offset) in
 * one of ctx's I/O lanes.  The time counts as I/O time like time under the
 * lock (waiting for a lane included). */
static int pread_full(const cask_ctx_t *ctx, int fd, void *buf, size_t n, uint64_t off)
{
	uint64_t t0 = now_ns();
	int rc = 0;
	lane_enter(ctx->io_lanes);
	char *p = buf;
	while (n > 0) {
		ssize_t r = pread(fd, p, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = -1;
			if (r == 0)
				errno = EIO; /* the file is shorter than its index says */
			break;
		}
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	lane_leave();
	atomic_fetch_add(&io_ns, now_ns() - t0);
	return rc;
}

/* Lock held.  Record the filter pipeline and decide whether chunks can be
 * read directly (only deflate, shuffle and fletcher32). */
static int in_setup_direct(cask_ctx_t *ctx, cask__h5in_t *in, hid_t dcpl, hid_t ftype)
{
	int nf = H5Pget_nfilters(dcpl);
	if (nf < 0)
		return h5fail(ctx, CASK_EIO, "cannot read the filters of '%s' in '%s'", in->dset, in->path);
	in->direct_ok = 0;
	if (!in->meta.chunked || in->meta.ndim == 0 || nf > MAX_FILTERS)
		return 0;
	int ok = plain_layout(ftype, in->meta.dtype, &in->swap);
	for (int i = 0; i < nf; i++) {
		unsigned flags = 0, cd[8] = {0}, config = 0;
		size_t ncd = 8;
		H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, 0, NULL, &config);
		cask__filter_t *f = &in->filters[i];
		f->id = (int)id;
		f->param = ncd > 0 ? cd[0] : 0;
		if (id == H5Z_FILTER_SHUFFLE && (ncd < 1 || cd[0] == 0))
			f->param = (unsigned)in->elsize;
		if (id != H5Z_FILTER_DEFLATE && id != H5Z_FILTER_SHUFFLE && id != H5Z_FILTER_FLETCHER32)
			ok = 0;
	}
	in->nfilters = nf;
	in->direct_ok = ok;
	in->max_stored = cask__filter_bound(in->meta.chunk_bytes);
	if (ok)
		in_build_index(in);
	return 0;
}

static int cache_init(cask__h5in_t *in, int n);

int cask__io_open(cask_ctx_t *ctx, const char *path, const char *dset, int allow_external,
                  cask__h5in_t **out, cask__h5meta_t *meta)
{
	int rc = 0, locked = 0;
	char *nd = NULL;
	hid_t dapl = -1, dcpl = -1, ftype = -1;
	cask__h5in_t *in = NULL;

	rc = check_regular(ctx, path, NULL);
	if (rc != 0)
		goto out;
	rc = norm_dset(ctx, path, dset, &nd);
	if (rc != 0)
		goto out;
	in = calloc(1, sizeof *in);
	if (in == NULL || (in->path = xstrdup(path)) == NULL) {
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
		goto out;
	}
	in->dset = nd;
	nd = NULL;
	in->file = in->ds = in->fspace = in->memtype = -1;
	pthread_mutex_init(&in->cmu, NULL);
	pthread_cond_init(&in->ccv, NULL);

	lock();
	locked = 1;
	rc = open_file(ctx, path, &in->file);
	if (rc != 0)
		goto out;
	if (!allow_external) {
		rc = check_links(ctx, in->file, path, in->dset, in->dset, 0);
		if (rc != 0)
			goto out;
	} else {
		htri_t ex = H5Lexists(in->file, in->dset, H5P_DEFAULT);
		if (ex <= 0) {
			H5Eclear2(H5E_DEFAULT);
			rc = cask__error(ctx, CASK_ENOTFOUND, "dataset '%s' not found in '%s'", in->dset, path);
			goto out;
		}
	}
	H5O_info_t oi;
	if (H5Oget_info_by_name2(in->file, in->dset, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
		rc = h5fail(ctx, CASK_ENOTFOUND, "dataset '%s' not found in '%s'", in->dset, path);
		goto out;
	}
	if (oi.type != H5O_TYPE_DATASET) {
		rc = cask__error(ctx, CASK_ENOTFOUND, "'%s' in '%s' is a %s, not a dataset", in->dset, path,
		                 oi.type == H5O_TYPE_GROUP ? "group" : "named datatype");
		goto out;
	}
	dapl = make_dapl_cache(ctx->chunk_cache);
	if (dapl < 0) {
		rc = h5fail(ctx, CASK_EIO, "cannot open '%s' in '%s'", in->dset, path);
		goto out;
	}
	in->ds = H5Dopen2(in->file, in->dset, dapl);
	if (in->ds < 0) {
		rc = h5fail(ctx, CASK_EIO, "cannot open dataset '%s' in '%s'", in->dset, path);
		goto out;
	}
	dcpl = H5Dget_create_plist(in->ds);
	ftype = H5Dget_type(in->ds);
	in->fspace = H5Dget_space(in->ds);
	if (dcpl < 0 || ftype < 0 || in->fspace < 0) {
		rc = h5fail(ctx, CASK_EIO, "cannot read the metadata of '%s' in '%s'", in->dset, path);
		goto out;
	}
	if (!allow_external) {
		int next = H5Pget_external_count(dcpl);
		if (next > 0) {
			rc = cask__error(ctx, CASK_EPERM,
			                 "'%s' in '%s' keeps its data in %d external file(s); refused "
			                 "(allow external storage to read it)", in->dset, path, next);
			goto out;
		}
		if (H5Pget_layout(dcpl) == H5D_VIRTUAL) {
			rc = cask__error(ctx, CASK_EPERM,
			                 "'%s' in '%s' is a virtual dataset mapping other datasets; refused "
			                 "(allow external storage to read it)", in->dset, path);
			goto out;
		}
	}
	char tname[64];
	cask__h5meta_t m;
	memset(&m, 0, sizeof m);
	if (!classify(ftype, &m.dtype, tname, sizeof tname)) {
		rc = cask__error(ctx, CASK_ETYPE,
		                 "'%s' in '%s' has unsupported type %s (cask reads bool, int8..64, uint8..64, "
		                 "float32/64)", in->dset, path, tname);
		goto out;
	}
	int src = space_dims(in->fspace, &m.ndim, m.shape);
	if (src != 0) {
		if (src == CASK_ENOTSUP)
			rc = cask__error(ctx, CASK_ENOTSUP, "'%s' in '%s' has a null dataspace (no data)", in->dset, path);
		else if (src == CASK_EOVERFLOW)
			rc = cask__error(ctx, CASK_EOVERFLOW, "'%s' in '%s' has a dimension beyond 2^63", in->dset, path);
		else
			rc = h5fail(ctx, CASK_EIO, "cannot read the shape of '%s' in '%s'", in->dset, path);
		goto out;
	}
	in->elsize = cask_dtype_size(m.dtype);
	if (H5Pget_layout(dcpl) == H5D_CHUNKED && m.ndim > 0) {
		hsize_t c[CASK_MAX_DIMS];
		if (H5Pget_chunk(dcpl, m.ndim, c) != m.ndim) {
			rc = h5fail(ctx, CASK_EIO, "cannot read the chunk shape of '%s' in '%s'", in->dset, path);
			goto out;
		}
		int64_t n = 1;
		for (int k = 0; k < m.ndim; k++) {
			if (c[k] == 0 || c[k] > (hsize_t)INT64_MAX) {
				rc = cask__error(ctx, CASK_ECORRUPT, "'%s' in '%s' has an invalid chunk shape", in->dset, path);
				goto out;
			}
			m.chunks[k] = (int64_t)c[k];
		}
		if (cask__prod_i64(m.ndim, m.chunks, &n) != 0 ||
		    cask__mul_size((size_t)n, in->elsize, &m.chunk_bytes) != 0) {
			rc = cask__error(ctx, CASK_EOVERFLOW, "the chunk size of '%s' in '%s' overflows", in->dset, path);
			goto out;
		}
		m.chunked = 1;
	}
	/* Layouts HDF5 1.10 does not validate itself: a compact dataset whose
	 * stored size differs from its dataspace makes H5Dread copy from a NULL
	 * or short buffer (a crash found by tests/fuzz/fuzz_h5open), and a filter
	 * pipeline is only valid on chunked storage. */
	H5D_layout_t layout = H5Pget_layout(dcpl);
	if (layout == H5D_COMPACT) {
		int64_t ne = 0;
		size_t need = 0, fsize = H5Tget_size(ftype);
		if (fsize == 0 || cask__prod_i64(m.ndim, m.shape, &ne) != 0 ||
		    cask__mul_size((size_t)ne, fsize, &need) != 0 ||
		    (hsize_t)need != H5Dget_storage_size(in->ds)) {
			H5Eclear2(H5E_DEFAULT);
			rc = cask__error(ctx, CASK_ECORRUPT,
			                 "'%s' in '%s' is a compact dataset whose stored size does not match "
			                 "its shape", in->dset, path);
			goto out;
		}
	}
	if (layout != H5D_CHUNKED && H5Pget_nfilters(dcpl) > 0) {
		rc = cask__error(ctx, CASK_ECORRUPT, "'%s' in '%s' has filters but is not chunked", in->dset,
		                 path);
		goto out;
	}
	m.filtered = H5Pget_nfilters(dcpl) > 0;
	in->meta = m;
	/* Bool reads copy the stored enum bytes verbatim (then normalise to 0/1):
	 * HDF5's enum conversion would turn unknown values into 0xff. */
	in->memtype = m.dtype == CASK_BOOL ? H5Tcopy(ftype) : H5Tcopy(native_type(m.dtype));
	if (in->memtype < 0) {
		rc = h5fail(ctx, CASK_EIO, "cannot create the memory type for '%s' in '%s'", in->dset, path);
		goto out;
	}
	memset(in->fill, 0, sizeof in->fill);
	H5D_fill_value_t fdef;
	if (H5Pfill_value_defined(dcpl, &fdef) >= 0 && fdef != H5D_FILL_VALUE_UNDEFINED &&
	    H5Pget_fill_value(dcpl, in->memtype, in->fill) < 0)
		memset(in->fill, 0, sizeof in->fill);
	H5Eclear2(H5E_DEFAULT);
	if (m.dtype == CASK_BOOL)
		in->fill[0] = in->fill[0] != 0;
	rc = in_setup_direct(ctx, in, dcpl, ftype);
	if (rc != 0)
		goto out;
	/* One cache per dataset, counted in the budget while it is open:
	 * decoded chunks in cask's own cache when cask decodes them, else
	 * HDF5's (set on dapl above; used by hyperslab reads). */
	in->cache = ctx->chunk_cache;
	if (in->direct_ok && in->nfilters > 0 && m.chunk_bytes > 0)
		in->ccap = (int)(ctx->chunk_cache / m.chunk_bytes < 65536 ?
		                 ctx->chunk_cache / m.chunk_bytes : 65536);
	if (in->ccap > 0 && cache_init(in, in->ccap) != 0) {
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
		goto out;
	}
	atomic_fetch_add(&cache_open_bytes, in->cache);
	*meta = m;
	*out = in;
	in = NULL;
out:
	if (locked) {
		if (ftype >= 0)
			H5Tclose(ftype);
		if (dcpl >= 0)
			H5Pclose(dcpl);
		if (dapl >= 0)
			H5Pclose(dapl);
		if (in != NULL)
			in_close_handles(in);
		unlock();
	}
	if (in != NULL) {
		free(in->cent);
		free(in->chash);
		free(in->path);
		free(in->dset);
		free(in);
	}
	free(nd);
	return rc;
}

/* Empty decoded-chunk cache of n entries for in (in->meta set, chunked);
 * 0, or -1 when out of memory (nothing allocated). */
static int cache_init(cask__h5in_t *in, int n)
{
	int64_t grid[CASK_MAX_DIMS];
	uint64_t slots = 1;
	while (slots < 2 * (uint64_t)n)
		slots <<= 1;
	struct cent *cent = calloc((size_t)n, sizeof *cent);
	int32_t *chash = calloc(slots, sizeof *chash);
	if (cent == NULL || chash == NULL) {
		free(cent);
		free(chash);
		return -1;
	}
	chunk_grid(in->meta.ndim, in->meta.shape, in->meta.chunks, grid);
	in->nchunks = 1;
	for (int k = 0; k < in->meta.ndim; k++)
		in->nchunks *= grid[k];
	in->cent = cent;
	in->chash = chash;
	in->hmask = slots - 1;
	in->cused = 0;
	in->lru_head = in->lru_tail = -1;
	in->ccap = n;
	return 0;
}

size_t cask__io_cache_ensure(cask__h5in_t *in, int nchunks)
{
	if (in == NULL || nchunks < 1 || in->ccap > 0 || !in->direct_ok || in->nfilters == 0 ||
	    in->meta.chunk_bytes == 0 || cache_init(in, nchunks) != 0)
		return 0; /* no cache: slower, not wrong */
	size_t b = (size_t)nchunks * in->meta.chunk_bytes;
	in->cache += b;
	atomic_fetch_add(&cache_open_bytes, b);
	return b;
}

void cask__io_cache_drop(cask__h5in_t *in)
{
	if (in == NULL || in->ccap == 0)
		return;
	size_t b = (size_t)in->ccap * in->meta.chunk_bytes;
	for (int i = 0; i < in->cused; i++)
		free(in->cent[i].data);
	free(in->cent);
	free(in->chash);
	in->cent = NULL;
	in->chash = NULL;
	in->ccap = in->cused = 0;
	in->lru_head = in->lru_tail = -1;
	in->cache -= b;
	atomic_fetch_sub(&cache_open_bytes, b);
}

void cask__io_close(cask__h5in_t *in)
{
	if (in == NULL)
		return;
	lock();
	in_close_handles(in);
	unlock();
	atomic_fetch_sub(&cache_open_bytes, in->cache);
	for (int i = 0; i < in->cused; i++)
		free(in->cent[i].data);
	free(in->cent);
	free(in->chash);
	pthread_mutex_destroy(&in->cmu);
	pthread_cond_destroy(&in->ccv);
	free(in->clin);
	free(in->caddr);
	free(in->csize);
	free(in->cmask);
	free(in->path);
	free(in->dset);
	free(in);
}

/* Format coordinates "[0, 64, 128]" into buf. */
static void fmt_coords(char *buf, size_t n, int ndim, const int64_t *c)
{
	size_t len = 0;
	buf[0] = '\0';
	for (int k = 0; k < ndim && len + 1 < n; k++) {
		snprintf(buf + len, n - len, "%s%lld", k == 0 ? "[" : ", ", (long long)c[k]);
		len = strlen(buf);
	}
	if (len + 1 < n)
		snprintf(buf + len, n - len, "]");
}

/* Make every byte of a bool buffer 0 or 1. */
static void bool_normalise(unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = p[i] != 0;
}

/* Lock held.  Select on space the hyperslab start + j*stride, j < count
 * (stride NULL: 1); axes of stride 1 are selected as one block. */
static herr_t select_block(hid_t space, int ndim, const int64_t *start, const int64_t *count,
                           const int64_t *stride)
{
	hsize_t st[CASK_MAX_DIMS], sd[CASK_MAX_DIMS], cn[CASK_MAX_DIMS], bl[CASK_MAX_DIMS];
	for (int k = 0; k < ndim; k++) {
		int64_t s = stride != NULL ? stride[k] : 1;
		st[k] = (hsize_t)start[k];
		if (s == 1) {
			sd[k] = 1;
			cn[k] = 1;
			bl[k] = (hsize_t)count[k];
		} else {
			sd[k] = (hsize_t)s;
			cn[k] = (hsize_t)count[k];
			bl[k] = 1;
		}
	}
	return H5Sselect_hyperslab(space, H5S_SELECT_SET, st, sd, cn, bl);
}

/* Check a block against shape: counts >= 0, strides >= 1, inside.  Sets
 * *n to the element count.  CASK_EINVAL otherwise. */
static int check_block(cask_ctx_t *ctx, const char *what, const char *path, const char *dset,
                       int ndim, const int64_t *shape, const int64_t *start, const int64_t *count,
                       const int64_t *stride, int64_t *n)
{
	for (int k = 0; k < ndim; k++) {
		int64_t s = stride != NULL ? stride[k] : 1, last;
		if (start[k] < 0 || count[k] < 0 || s < 1)
			goto bad;
		if (count[k] == 0)
			continue;
		if (cask__mul_i64(count[k] - 1, s, &last) != 0 || last > INT64_MAX - start[k] ||
		    start[k] + last >= shape[k])
			goto bad;
	}
	if (cask__prod_i64(ndim, count, n) != 0)
		return cask__error(ctx, CASK_EOVERFLOW, "%s of '%s' in '%s': block size overflows", what, dset, path);
	return 0;
bad:
	return cask__error(ctx, CASK_EINVAL, "%s of '%s' in '%s': block outside the dataset", what, dset, path);
}

/* Reads of a block that cuts narrow chunks go chunk by chunk through a small
 * bounce buffer.  With the chunk cache off, HDF5 1.10 reads an unfiltered
 * chunk's part of a hyperslab with one pread() per run that is contiguous
 * both in the file and in the caller's buffer: a block spanning several
 * chunks of width w along the last axis gets runs of w elements at most,
 * one element for chunks of one column (a 50000 x 40 matrix in
 * (50000, 1)-chunks: 2 million preads, 6 s for a QR that takes 0.2 s on
 * row chunks).  Read into a buffer of the piece's own shape, a piece is
 * as few runs as the file allows (one, for a column chunk cut by rows),
 * then copied into place line by line. */
#define BOUNCE_BYTES ((size_t)64 << 10)

/* 1 if reading the unit-stride block start/count of in piece by piece
 * beats one H5Dread: unfiltered chunks, the block spans more than one chunk
 * along the last axis and those chunks are narrow (under 512 bytes a row),
 * more than one row of a piece is contiguous in the file, and a row of a
 * piece (all axes but the first) fits the bounce buffer.  Chunks under
 * 1 KiB stay with one H5Dread: there the cost of an H5Dread per piece
 * (QR of 50000 x 40 in (3, 3)-chunks: 1.0 -> 1.5 s) outweighs the runs
 * it saves. */
static int piecewise_read(const cask__h5in_t *in, const int64_t *count, const int64_t *stride)
{
	const cask__h5meta_t *m = &in->meta;
	int nd = m->ndim;
	if (!m->chunked || m->filtered || nd < 2)
		return 0;
	for (int k = 0; k < nd; k++)
		if (stride != NULL && stride[k] != 1 && count[k] > 1)
			return 0;
	if (count[nd - 1] <= m->chunks[nd - 1] || (size_t)m->chunks[nd - 1] * in->elsize >= 512 ||
	    m->chunks[nd - 2] < 2 || count[nd - 2] < 2 || m->chunk_bytes < 1024)
		return 0;
	size_t row = in->elsize;
	for (int k = 1; k < nd; k++)
		row *= (size_t)(m->chunks[k] < count[k] ? m->chunks[k] : count[k]);
	return row <= BOUNCE_BYTES;
}

/* Lock held.  Read the unit-stride block start/count of in into buf (C
 * order, count's shape) piece by piece as piecewise_read() describes; bounce
 * is BOUNCE_BYTES.  HDF5's status of the first failing read, else 0. */
static herr_t read_pieces(cask__h5in_t *in, const int64_t *start, const int64_t *count,
                          char *buf, char *bounce)
{
	const cask__h5meta_t *m = &in->meta;
	int nd = m->ndim;
	size_t es = in->elsize;
	int64_t c0[CASK_MAX_DIMS], c1[CASK_MAX_DIMS], ci[CASK_MAX_DIMS];
	int64_t dstride[CASK_MAX_DIMS], bstride[CASK_MAX_DIMS];
	dstride[nd - 1] = 1;
	for (int k = nd - 2; k >= 0; k--)
		dstride[k] = dstride[k + 1] * count[k + 1];
	for (int k = 0; k < nd; k++) {
		c0[k] = start[k] / m->chunks[k];
		c1[k] = (start[k] + count[k] - 1) / m->chunks[k];
		ci[k] = c0[k];
	}
	for (;;) {
		/* The piece of the block in chunk ci: ps + [0, pc). */
		int64_t ps[CASK_MAX_DIMS] = { 0 }, pc[CASK_MAX_DIMS] = { 0 };
		size_t row = es;
		for (int k = 0; k < nd; k++) {
			int64_t lo = ci[k] * m->chunks[k], hi = lo + m->chunks[k];
			if (lo < start[k])
				lo = start[k];
			if (hi > start[k] + count[k])
				hi = start[k] + count[k];
			ps[k] = lo;
			pc[k] = hi - lo;
			if (k > 0)
				row *= (size_t)pc[k];
		}
		int64_t per = (int64_t)(BOUNCE_BYTES / row);
		for (int64_t r = 0; r < pc[0]; r += per) {
			int64_t ss[CASK_MAX_DIMS], sc[CASK_MAX_DIMS] = { 0 };
			hsize_t mc[CASK_MAX_DIMS];
			memcpy(ss, ps, sizeof ss);
			memcpy(sc, pc, sizeof sc);
			ss[0] = ps[0] + r;
			sc[0] = pc[0] - r < per ? pc[0] - r : per;
			for (int k = 0; k < nd; k++)
				mc[k] = (hsize_t)sc[k];
			hid_t ms = H5Screate_simple(nd, mc, NULL);
			herr_t e = ms < 0 ? -1 : select_block(in->fspace, nd, ss, sc, NULL);
			if (e >= 0)
				e = H5Dread(in->ds, in->memtype, ms, in->fspace, H5P_DEFAULT, bounce);
			if (ms >= 0)
				H5Sclose(ms);
			if (e < 0)
				return e;
			/* The slab (C order in bounce) into place. */
			size_t off = 0;
			bstride[nd - 1] = 1;
			for (int k = nd - 2; k >= 0; k--)
				bstride[k] = bstride[k + 1] * sc[k + 1];
			for (int k = 0; k < nd; k++)
				off += (size_t)((ss[k] - start[k]) * dstride[k]);
			cask_k_copy_nd(nd, sc, es, bounce, bstride, buf + off * es, dstride);
		}
		int k = nd - 1;
		while (k >= 0 && ci[k] == c1[k]) {
			ci[k] = c0[k];
			k--;
		}
		if (k < 0)
			return 0;
		ci[k]++;
	}
}

int cask__io_read(cask_ctx_t *ctx, cask__h5in_t *in, const int64_t *start,
                  const int64_t *count, const int64_t *stride, void *buf)
{
	int rc = 0, locked = 0;
	hid_t mspace = -1;
	int64_t n = 1;
	int nd = in->meta.ndim;
	size_t bytes;
	char *bounce = NULL;

	rc = check_block(ctx, "read", in->path, in->dset, nd, in->meta.shape, start, count, stride, &n);
	if (rc != 0)
		goto out;
	if (cask__mul_size((size_t)n, in->elsize, &bytes) != 0) {
		rc = cask__error(ctx, CASK_EOVERFLOW, "read of '%s' in '%s': size overflows", in->dset, in->path);
		goto out;
	}
	if (n == 0)
		goto out;
	if (nd > 0 && piecewise_read(in, count, stride) && (bounce = malloc(BOUNCE_BYTES)) == NULL) {
		rc = cask__error(ctx, CASK_ENOMEM, "read of '%s' in '%s': out of memory", in->dset, in->path);
		goto out;
	}
	lock();
	locked = 1;
	herr_t e;
	if (nd == 0) {
		e = H5Dread(in->ds, in->memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
	} else {
		hsize_t mc[CASK_MAX_DIMS];
		for (int k = 0; k < nd; k++)
			mc[k] = (hsize_t)count[k];
		mspace = H5Screate_simple(nd, mc, NULL);
		if (mspace < 0 || select_block(in->fspace, nd, start, count, stride) < 0) {
			rc = h5fail(ctx, CASK_EIO, "read of '%s' in '%s': cannot select the block", in->dset, in->path);
			goto out;
		}
		if (bounce != NULL)
			e = read_pieces(in, start, count, buf, bounce);
		else
			e = H5Dread(in->ds, in->memtype, mspace, in->fspace, H5P_DEFAULT, buf);
	}
	if (e < 0) {
		char where[256] = "", cnt[256] = "";
		if (nd > 0) {
			fmt_coords(where, sizeof where, nd, start);
			fmt_coords(cnt, sizeof cnt, nd, count);
		}
		rc = h5fail(ctx, CASK_EIO, "cannot read '%s' in '%s'%s%s%s%s", in->dset, in->path,
		            nd > 0 ? " at " : "", where, nd > 0 ? ", count " : "", cnt);
		goto out;
	}
out:
	if (locked) {
		if (mspace >= 0)
			H5Sclose(mspace);
		unlock();
	}
	free(bounce);
	if (rc == 0 && n > 0) {
		if (in->meta.dtype == CASK_BOOL)
			bool_normalise(buf, bytes);
		atomic_fetch_add(&ctx->bytes_read, (uint64_t)bytes);
	}
	return rc;
}

/* ---------------------------------------------------------------- output */

struct cask__h5out {
	cask__h5txn_t *txn;
	char *dset;
	hid_t ds, fspace, memtype;
	cask_dtype_t dtype;
	int ndim;
	int64_t shape[CASK_MAX_DIMS];
	int64_t chunks[CASK_MAX_DIMS]; /* 0s when contiguous */
	size_t elsize, chunk_bytes;
	int nfilters;
	cask__filter_t filters[MAX_FILTERS];
	/* Direct writes: the file offset of every chunk (C order of the grid),
	 * or NULL when whole chunks go to H5Dwrite_chunk. */
	uint64_t *daddr;
	int64_t grid[CASK_MAX_DIMS];
};

struct cask__h5txn {
	char *target, *tmp;
	hid_t file;
	int nouts, cap;
	cask__h5out_t **outs;
	/* Durable writes: a descriptor of tmp for starting writeback early, and
	 * the bytes written since it was last started (see txn_written). */
	int wb_fd;
	_Atomic uint64_t wb_pending;
	/* The direct chunk writer, started with the first output that can use
	 * it (dw_tried: do not try again). */
	cask__dw_t *dw;
	int dw_tried;
	/* The target as the run found it (had_target: it existed; st: its
	 * identity then), so that the commit can tell whether another writer
	 * replaced it meanwhile (target_changed). */
	int had_target;
	struct stat st;
	/* The target, open with a shared flock while the transaction lives (an
	 * HDF5 writer elsewhere holds an exclusive one: refused, and none can
	 * open it for writing meanwhile), or -1. */
	int lock_fd;
};

/* CASK_FSYNC=0 turns durability (and so early writeback) off. */
static int durable_writes(void)
{
	const char *fs = getenv("CASK_FSYNC");
	return fs == NULL || strcmp(fs, "0") != 0;
}

/* After every 32 MiB written to a durable transaction's file, start the
 * disk writing its dirty pages (sync_file_range, asynchronous), so the
 * fsync at commit finds most of them written rather than flushing the
 * whole file while everything waits (2 GiB: ~1.7 s here). */
static void txn_written(cask__h5txn_t *txn, uint64_t bytes)
{
	const uint64_t kick = (uint64_t)32 << 20;
	if (txn->wb_fd < 0)
		return;
	if (atomic_fetch_add(&txn->wb_pending, bytes) + bytes < kick)
		return;
	atomic_store(&txn->wb_pending, 0);
	(void)sync_file_range(txn->wb_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

/* Direct chunk writes (io_direct.c, invariant 7): whole chunks (and runs of
 * rows of a chunk, direct_slab) of an unfiltered output of at least
 * DIRECT_MIN bytes each and at most IDX_MAX chunks are copied into a few aligned staging buffers and written with
 * O_DIRECT by a thread of their own, past the page cache, while the
 * caller's thread goes back to computing.  HDF5 allocates such a dataset's
 * chunks when it creates it, aligned by the transaction's fapl, without
 * writing fill values (it would write the whole dataset: every chunk is
 * written by cask, and the unwritten space of a new file reads as zeros, the
 * default fill value); their addresses are read once.
 *
 * On for durable transactions (the default), whose data must reach the disk
 * before the commit anyway: there it takes a fifth off the wall time and
 * two thirds off the CPU (W1, 2 GiB written: 3.8 s and 1.4 CPU-s against
 * 4.5-4.9 s and 4.6-5.2 CPU-s).
 * Off with CASK_FSYNC=0, where a write may end in the page cache: when the
 * kernel has free pages at hand that is 2-3x faster than the disk (0.5 GiB:
 * 0.18 s against 0.5 s), when it must find fresh ones it is slower in CPU.
 * CASK_DIRECT=1 / 0 forces it on / off; a file system without O_DIRECT turns
 * it off (the transaction then writes as before). */
#define DIRECT_MIN ((size_t)1 << 20)
#define DIRECT_SLOTS 4
#define DIRECT_THREADS 1

/* Staging bytes of all open transactions' writers: together they stay
 * within a twelfth of the budget (a later transaction writes through HDF5). */
static _Atomic size_t direct_open_bytes;

static int direct_enabled(void)
{
	const char *e = getenv("CASK_DIRECT");
	if (e != NULL && *e != '\0')
		return strcmp(e, "0") != 0;
	return durable_writes();
}

/* The staging buffers for a budget, at most a twelfth of it: DIRECT_SLOTS
 * of the largest power of two up to budget / 48 within [1, 16] MiB (8 MiB
 * at 512 MiB; dd here writes 2 GiB in 1.6 s with 4 MiB requests, 0.8-1.0 s
 * with 8, 0.7 s with 16 or 32), fewer 1 MiB ones under 48 MiB, and none
 * (*nslot 0: no direct writes) under 24 MiB. */
static size_t direct_slots(size_t budget, int *nslot)
{
	size_t s = DIRECT_MIN, n = budget / 12 / DIRECT_MIN;
	while (s < ((size_t)16 << 20) && 2 * s <= budget / 48)
		s *= 2;
	*nslot = n >= 2 ? (n < DIRECT_SLOTS ? (int)n : DIRECT_SLOTS) : 0;
	return s;
}

/* Whether o is unfiltered with chunks of at least DIRECT_MIN bytes, at
 * most IDX_MAX of them (their addresses cost O(n^2) B-tree steps to read in
 * HDF5 1.10): such chunks are allocated when the dataset is created, without
 * fill values, and can be written directly.  (Allocated late, a write of
 * part of a chunk made HDF5 1.10 fill and write the whole chunk first: a
 * TSQR whose leaves are fifths of 51 MB chunks took 11.9 s instead of 2.9.)
 * Fills o->grid. */
static int big_chunks(cask__h5out_t *o)
{
	if (o->nfilters > 0 || o->ndim == 0 || o->chunk_bytes < DIRECT_MIN)
		return 0;
	int64_t n = 1;
	chunk_grid(o->ndim, o->shape, o->chunks, o->grid);
	for (int k = 0; k < o->ndim; k++) {
		n *= o->grid[k]; /* no overflow: each chunk is >= 1 MiB of a file < 2^63 */
		if (n > IDX_MAX)
			return 0;
	}
	return n > 0;
}

/* Lock held.  Read the address of every chunk of o (allocated at creation)
 * into o->daddr; on any doubt (a chunk missing, unaligned or of another
 * size) leave o->daddr NULL and let whole chunks go through HDF5. */
static void direct_index(cask__h5out_t *o)
{
	int64_t n = 1;
	for (int k = 0; k < o->ndim; k++)
		n *= o->grid[k];
	hsize_t nstored = 0;
	uint64_t *a = calloc((size_t)n, sizeof *a);
	if (a == NULL || H5Dget_num_chunks(o->ds, o->fspace, &nstored) < 0 || (int64_t)nstored != n)
		goto fail;
	for (hsize_t i = 0; i < nstored; i++) {
		hsize_t off[CASK_MAX_DIMS], sz = 0;
		unsigned fm = 0;
		haddr_t addr = HADDR_UNDEF;
		if (H5Dget_chunk_info(o->ds, o->fspace, i, off, &fm, &addr, &sz) < 0)
			goto fail;
		int64_t l = grid_lin(o->ndim, o->grid, o->chunks, off);
		if (l < 0 || addr == HADDR_UNDEF || addr % CASK__DW_ALIGN != 0 || sz != o->chunk_bytes || a[l] != 0)
			goto fail;
		a[l] = (uint64_t)addr;
	}
	o->daddr = a;
	return;
fail:
	H5Eclear2(H5E_DEFAULT);
	free(a);
}

/* Count txn's staging buffers as held (sign 1) or release them (-1). */
static void direct_account(const cask__h5txn_t *txn, int sign)
{
	size_t b = cask__dw_bytes(txn->dw);
	if (sign > 0) {
		atomic_fetch_add(&cache_open_bytes, b);
		atomic_fetch_add(&direct_open_bytes, b);
	} else {
		atomic_fetch_sub(&cache_open_bytes, b);
		atomic_fetch_sub(&direct_open_bytes, b);
	}
}

/* Report the direct writer's errno e (the write at file offset bad). */
static int direct_fail(cask_ctx_t *ctx, const cask__h5txn_t *txn, int e, uint64_t bad)
{
	return cask__error(ctx, CASK_EIO, "cannot write '%s' (temporary file '%s', at byte %" PRIu64 "): %s",
	                   txn->target, txn->tmp, bad, strerror(e));
}

/* Wait for o's queued direct writes (before HDF5 touches its chunks). */
static int direct_drain(cask_ctx_t *ctx, cask__h5out_t *o)
{
	uint64_t bad = 0;
	int e = cask__dw_drain(o->txn->dw, &bad);
	return e == 0 ? 0 : direct_fail(ctx, o->txn, e, bad);
}

/* Copy all of fd in to fd out: copy_file_range, falling back to read/write
 * where the kernel or file system cannot. */
static int copy_fd(int in, int out)
{
	int use_cfr = 1;
	char *buf = NULL;
	int rc = 0;
	for (;;) {
		if (use_cfr) {
			ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)1 << 30, 0);
			if (n > 0)
				continue;
			if (n == 0)
				break;
			if (errno == EINTR)
				continue;
			if (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP ||
			    errno == EPERM || errno == EBADF) {
				use_cfr = 0;
				continue;
			}
			rc = -1;
			break;
		}
		if (buf == NULL && (buf = malloc((size_t)1 << 20)) == NULL) {
			errno = ENOMEM;
			rc = -1;
			break;
		}
		ssize_t n = read(in, buf, (size_t)1 << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -1;
			break;
		}
		if (n == 0)
			break;
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(out, buf + done, (size_t)(n - done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = -1;
				goto out;
			}
			done += w;
		}
	}
out:
	free(buf);
	return rc;
}

/* Open the directory holding path (O_RDONLY): its fd, or -1 with errno. */
static int open_dir_of(const char *path)
{
	char *d = xstrdup(path);
	if (d == NULL)
		return -1;
	char *slash = strrchr(d, '/');
	const char *dir = ".";
	if (slash == d)
		dir = "/";
	else if (slash != NULL) {
		*slash = '\0';
		dir = d;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(d);
	return fd;
}

/* fsync the directory holding path (best effort is not enough for the
 * rename to be durable, so failures are reported). */
static int fsync_dir_of(const char *path)
{
	int fd = open_dir_of(path);
	int rc = -1;
	if (fd >= 0) {
		rc = fsync(fd);
		if (rc != 0 && (errno == EINVAL || errno == EROFS))
			rc = 0; /* directories that cannot be synced (some file systems) */
		close(fd);
	}
	return rc;
}

/* Whether HDF5 locks files (HDF5_USE_FILE_LOCKING=FALSE or 0 turns its
 * locking off; cask's then stays off too). */
static int hdf5_locking(void)
{
	const char *e = getenv("HDF5_USE_FILE_LOCKING");
	return e == NULL || (strcmp(e, "FALSE") != 0 && strcmp(e, "0") != 0);
}

/* Whether txn's target is no longer the file the transaction copied (or
 * now exists when it did not): another process (a second cask writing the
 * same file) committed meanwhile, and renaming over it would silently drop
 * that process's datasets.  Called with the directory's commit lock held. */
static int target_changed(const cask__h5txn_t *txn)
{
	struct stat now;
	if (stat(txn->target, &now) != 0)
		return txn->had_target; /* gone, or never there */
	if (!txn->had_target)
		return 1;
	const struct stat *was = &txn->st;
	return now.st_dev != was->st_dev || now.st_ino != was->st_ino ||
	       now.st_size != was->st_size || now.st_mtim.tv_sec != was->st_mtim.tv_sec ||
	       now.st_mtim.tv_nsec != was->st_mtim.tv_nsec ||
	       now.st_ctim.tv_sec != was->st_ctim.tv_sec || now.st_ctim.tv_nsec != was->st_ctim.tv_nsec;
}

/* Create ".<base>.cask-tmp-<pid>-<random>" next to target (O_EXCL).
 * Returns the open fd and *tmp (malloc'd), or -1 with errno. */
static int make_temp(const char *target, mode_t mode, char **tmp)
{
	const char *slash = strrchr(target, '/');
	size_t dirlen = slash != NULL ? (size_t)(slash - target) + 1 : 0;
	const char *base = target + dirlen;
	size_t n = strlen(target) + 64;
	char *p = malloc(n);
	if (p == NULL) {
		errno = ENOMEM;
		return -1;
	}
	for (int attempt = 0; attempt < 100; attempt++) {
		uint64_t r = 0;
		if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
			r = now_ns() ^ ((uint64_t)attempt << 48);
		snprintf(p, n, "%.*s.%s.cask-tmp-%ld-%016llx", (int)dirlen, target, base, (long)getpid(),
		         (unsigned long long)r);
		int fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
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

static void txn_free(cask__h5txn_t *txn)
{
	if (txn->dw != NULL) {
		direct_account(txn, -1);
		cask__dw_abort(txn->dw);
	}
	for (int i = 0; i < txn->nouts; i++) {
		free(txn->outs[i]->daddr);
		free(txn->outs[i]->dset);
		free(txn->outs[i]);
	}
	free(txn->outs);
	free(txn->target);
	free(txn->tmp);
	if (txn->wb_fd >= 0)
		close(txn->wb_fd);
	if (txn->lock_fd >= 0)
		close(txn->lock_fd);
	free(txn);
}

/* Empty txn's temporary file, which is being discarded, so that closing it
 * (HDF5 flushes its metadata) cannot fail for lack of space: HDF5 1.10
 * half-destroys a file whose close fails on a full disk and then crashes in
 * its atexit clean-up (H5F__close_cb).  0, or -1 if it could not be. */
static int txn_empty_tmp(const cask__h5txn_t *txn)
{
	return txn->tmp != NULL && truncate(txn->tmp, 0) != 0 ? -1 : 0;
}

/* Lock held.  Close every dataset of txn and the file. 0 or -1. */
static int txn_close_handles(cask__h5txn_t *txn)
{
	int bad = 0;
	for (int i = 0; i < txn->nouts; i++) {
		cask__h5out_t *o = txn->outs[i];
		if (o->memtype >= 0 && H5Tclose(o->memtype) < 0)
			bad = 1;
		if (o->fspace >= 0 && H5Sclose(o->fspace) < 0)
			bad = 1;
		if (o->ds >= 0 && H5Dclose(o->ds) < 0)
			bad = 1;
		o->memtype = o->fspace = o->ds = -1;
	}
	if (txn->file >= 0) {
		if (H5Fflush(txn->file, H5F_SCOPE_GLOBAL) < 0)
			bad = 1;
		/* A failed flush (a full disk) loses the file anyway. */
		if (bad && txn_empty_tmp(txn) != 0)
			bad = 1;
		if (H5Fclose(txn->file) < 0)
			bad = 1;
		txn->file = -1;
	}
	return bad ? -1 : 0;
}

/* An existing output target must be an HDF5 file (it is copied, then
 * written): 0, or CASK_EIO naming it. */
static int check_hdf5_target(cask_ctx_t *ctx, const char *path)
{
	lock();
	htri_t is = H5Fis_hdf5(path);
	H5Eclear2(H5E_DEFAULT);
	unlock();
	if (is <= 0)
		return cask__error(ctx, CASK_EIO, "cannot write to '%s': it exists and is not an HDF5 file "
		                   "(left untouched)", path);
	return 0;
}

int cask__io_txn_begin(cask_ctx_t *ctx, const char *path, cask__h5txn_t **out)
{
	int rc = 0, exists = 0, fd = -1, src = -1, locked = 0;
	hid_t fapl = -1;
	cask__h5txn_t *txn = NULL;
	struct stat st;

	rc = check_regular(ctx, path, &exists);
	if (rc != 0)
		goto out;
	txn = calloc(1, sizeof *txn);
	if (txn != NULL)
		txn->wb_fd = txn->lock_fd = -1;
	/* A symlinked target: write next to the file it points to and rename
	 * over that, so the link survives. */
	if (txn != NULL)
		txn->target = out_target(path, exists);
	if (txn == NULL || txn->target == NULL) {
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
		goto out;
	}
	txn->file = -1;
	if (exists) {
		if ((rc = check_hdf5_target(ctx, path)) != 0)
			goto out;
		src = open(path, O_RDONLY | O_CLOEXEC);
		if (src < 0 || fstat(src, &st) != 0) {
			rc = cask__error(ctx, CASK_EIO, "cannot open '%s': %s", path, strerror(errno));
			goto out;
		}
		txn->had_target = 1;
		txn->st = st;
		if (hdf5_locking() && flock(src, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
			rc = cask__error(ctx, CASK_EIO, "'%s' is open for writing elsewhere (an HDF5 writer, "
			                 "in another process or through another handle of this one, holds "
			                 "its file lock): writing it now would lose what that writer "
			                 "writes; close it there first", path);
			goto out;
		}
	}
	/* Next to the target, so that the rename stays on its file system. */
	fd = make_temp(txn->target, exists ? (st.st_mode & 07777) : 0666, &txn->tmp);
	if (fd < 0) {
		rc = cask__error(ctx, errno == ENOENT || errno == ENOTDIR ? CASK_ENOTFOUND : CASK_EIO,
		                 "cannot create a temporary file next to '%s': %s", txn->target,
		                 strerror(errno));
		goto out;
	}
	if (exists) {
		/* open() applied the umask; keep the target's own permissions. */
		if (fchmod(fd, st.st_mode & 07777) != 0 || copy_fd(src, fd) != 0) {
			rc = cask__error(ctx, CASK_EIO, "cannot copy '%s' to '%s': %s", path, txn->tmp,
			                 strerror(errno));
			goto out;
		}
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = cask__error(ctx, CASK_EIO, "cannot write '%s': %s", txn->tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	lock();
	locked = 1;
	fapl = make_fapl();
	/* Large allocations (chunks of direct writes) start on a block. */
	if (fapl >= 0 && direct_enabled() && H5Pset_alignment(fapl, DIRECT_MIN, CASK__DW_ALIGN) < 0) {
		H5Pclose(fapl);
		fapl = -1;
	}
	if (fapl < 0) {
		rc = h5fail(ctx, CASK_EIO, "cannot create file access properties for '%s'", path);
		goto out;
	}
	if (exists) {
		txn->file = H5Fopen(txn->tmp, H5F_ACC_RDWR, fapl);
	} else {
		/* Re-create the reserved name exclusively rather than truncate it:
		 * on ext4 a truncated file is flushed synchronously when closed
		 * (auto_da_alloc), which cost ~0.6 s per GiB written.  Another
		 * process taking the random name meanwhile makes this fail, never
		 * clobber. */
		unlink(txn->tmp);
		txn->file = H5Fcreate(txn->tmp, H5F_ACC_EXCL, H5P_DEFAULT, fapl);
	}
	if (txn->file < 0) {
		rc = h5fail(ctx, CASK_EIO, "cannot %s the temporary file '%s' for '%s'", exists ? "open" : "create",
		            txn->tmp, path);
		goto out;
	}
	if (durable_writes())
		txn->wb_fd = open(txn->tmp, O_RDONLY | O_CLOEXEC); /* -1: no early writeback */
	txn->lock_fd = src; /* its shared flock lives as long as txn */
	src = -1;
	*out = txn;
	txn = NULL;
out:
	if (locked) {
		if (fapl >= 0)
			H5Pclose(fapl);
		unlock();
	}
	if (fd >= 0)
		close(fd);
	if (src >= 0)
		close(src);
	if (txn != NULL) {
		if (txn->tmp != NULL)
			unlink(txn->tmp);
		txn_free(txn);
	}
	return rc;
}

/* Lock held.  Check that dset can be created in file: every existing
 * prefix is a group reached without external links; an existing dset is
 * CASK_EEXIST unless overwrite, when its link is deleted. */
static int prepare_name(cask_ctx_t *ctx, hid_t file, const char *path, const char *dset, int overwrite)
{
	int rc = 0;
	size_t len = strlen(dset);
	char *prefix = malloc(len + 1);
	if (prefix == NULL) {
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t end = 1; end <= len; end++) {
		if (end < len && dset[end] != '/')
			continue;
		memcpy(prefix, dset, end);
		prefix[end] = '\0';
		htri_t ex = H5Lexists(file, prefix, H5P_DEFAULT);
		if (ex < 0) {
			rc = h5fail(ctx, CASK_EINVAL, "cannot create '%s' in '%s'", dset, path);
			goto out;
		}
		if (ex == 0)
			break; /* the rest is created */
		H5L_info_t li;
		if (H5Lget_info(file, prefix, &li, H5P_DEFAULT) < 0) {
			rc = h5fail(ctx, CASK_EIO, "cannot read link '%s' in '%s'", prefix, path);
			goto out;
		}
		if (li.type != H5L_TYPE_HARD && li.type != H5L_TYPE_SOFT) {
			rc = cask__error(ctx, CASK_EPERM, "cannot create '%s' in '%s': '%s' is an external link",
			                 dset, path, prefix);
			goto out;
		}
		if (end == len && li.type == H5L_TYPE_SOFT && !overwrite) {
			rc = cask__error(ctx, CASK_EEXIST, "'%s' already exists in '%s' (a soft link; overwrite is off)",
			                 dset, path);
			goto out;
		}
		H5O_info_t oi;
		int dangling = 0;
		if (H5Oget_info_by_name2(file, prefix, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
			H5Eclear2(H5E_DEFAULT);
			dangling = 1; /* a dangling soft link */
			oi.type = H5O_TYPE_UNKNOWN;
		}
		if (end < len) {
			if (oi.type != H5O_TYPE_GROUP) {
				rc = cask__error(ctx, CASK_EINVAL, "cannot create '%s' in '%s': '%s' is not a group",
				                 dset, path, prefix);
				goto out;
			}
			continue;
		}
		/* A group is never replaced, so saying "use overwrite" would mislead:
		 * checked first, with its own code. */
		if (!dangling && li.type == H5L_TYPE_HARD && oi.type != H5O_TYPE_DATASET) {
			rc = cask__error(ctx, CASK_EINVAL, "'%s' in '%s' is a %s, not a dataset; refusing to replace it",
			                 dset, path, oi.type == H5O_TYPE_GROUP ? "group" : "named datatype");
			goto out;
		}
		if (!overwrite) {
			rc = cask__error(ctx, CASK_EEXIST, "dataset '%s' already exists in '%s' (overwrite is off)",
			                 dset, path);
			goto out;
		}
		if (H5Ldelete(file, prefix, H5P_DEFAULT) < 0) {
			rc = h5fail(ctx, CASK_EIO, "cannot remove the old '%s' in '%s'", dset, path);
			goto out;
		}
	}
out:
	free(prefix);
	return rc;
}

/* Check a creation spec; fills o's shape, chunks and filters. */
static int check_spec(cask_ctx_t *ctx, const char *path, const char *dset, const cask__h5create_t *spec,
                      cask__h5out_t *o)
{
	if ((unsigned)spec->dtype >= CASK_NDTYPES || spec->ndim < 0 || spec->ndim > CASK_MAX_DIMS ||
	    (spec->ndim > 0 && spec->shape == NULL))
		return cask__error(ctx, CASK_EINVAL, "cannot create '%s' in '%s': invalid dtype or rank", dset, path);
	if (spec->gzip < -1 || spec->gzip > 9)
		return cask__error(ctx, CASK_EINVAL, "cannot create '%s' in '%s': gzip level %d is not in 0..9",
		                   dset, path, spec->gzip);
	o->dtype = spec->dtype;
	o->ndim = spec->ndim;
	o->elsize = cask_dtype_size(spec->dtype);
	int chunked = spec->ndim > 0 && spec->chunks != NULL;
	for (int k = 0; k < spec->ndim; k++) {
		if (spec->shape[k] < 0)
			return cask__error(ctx, CASK_EINVAL, "cannot create '%s' in '%s': negative extent", dset, path);
		o->shape[k] = spec->shape[k];
		if (chunked && spec->chunks[k] <= 0)
			chunked = 0;
	}
	int filtered = spec->gzip >= 0 || spec->shuffle || spec->fletcher32;
	if (spec->ndim == 0)
		filtered = 0; /* HDF5 cannot chunk or filter a scalar dataset */
	if (filtered && !chunked)
		return cask__error(ctx, CASK_EINVAL,
		                   "cannot create '%s' in '%s': compression and checksums need a chunked layout",
		                   dset, path);
	size_t cb = o->elsize;
	for (int k = 0; k < spec->ndim && chunked; k++) {
		int64_t c = spec->chunks[k];
		int64_t cap = o->shape[k] > 0 ? o->shape[k] : 1;
		if (c > cap)
			c = cap;
		if (c > (int64_t)UINT32_MAX || cask__mul_size(cb, (size_t)c, &cb) != 0)
			return cask__error(ctx, CASK_EINVAL, "cannot create '%s' in '%s': chunk too large", dset, path);
		o->chunks[k] = c;
	}
	if (chunked && cb > (size_t)UINT32_MAX - 1)
		return cask__error(ctx, CASK_EINVAL,
		                   "cannot create '%s' in '%s': one chunk would be %zu bytes (HDF5's limit is 4 GiB)",
		                   dset, path, cb);
	o->chunk_bytes = chunked ? cb : 0;
	o->nfilters = 0;
	if (filtered) {
		if (spec->shuffle) /* kept for 1-byte types too, as h5py does (a no-op there) */
			o->filters[o->nfilters++] = (cask__filter_t){H5Z_FILTER_SHUFFLE, (unsigned)o->elsize};
		if (spec->gzip >= 0)
			o->filters[o->nfilters++] = (cask__filter_t){H5Z_FILTER_DEFLATE, (unsigned)spec->gzip};
		if (spec->fletcher32)
			o->filters[o->nfilters++] = (cask__filter_t){H5Z_FILTER_FLETCHER32, 0};
	}
	return 0;
}

int cask__io_create(cask_ctx_t *ctx, cask__h5txn_t *txn, const char *dset,
                    const cask__h5create_t *spec, cask__h5out_t **out)
{
	int rc = 0, locked = 0;
	hid_t ftype = -1, dcpl = -1, lcpl = -1, dapl = -1;
	cask__h5out_t *o = calloc(1, sizeof *o);
	if (o == NULL) {
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
		goto out;
	}
	o->ds = o->fspace = o->memtype = -1;
	o->txn = txn;
	rc = norm_dset(ctx, txn->target, dset, &o->dset);
	if (rc != 0)
		goto out;
	rc = check_spec(ctx, txn->target, o->dset, spec, o);
	if (rc != 0)
		goto out;
	if (txn->nouts == txn->cap) {
		int cap = txn->cap > 0 ? 2 * txn->cap : 4;
		cask__h5out_t **p = realloc(txn->outs, (size_t)cap * sizeof *p);
		if (p == NULL) {
			rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
			goto out;
		}
		txn->outs = p;
		txn->cap = cap;
	}
	int big = big_chunks(o), direct = big && direct_enabled(), nslot = 0;
	size_t slot = direct_slots(ctx->budget, &nslot);
	if (direct && nslot > 0 && txn->dw == NULL && !txn->dw_tried &&
	    atomic_load(&direct_open_bytes) + (size_t)nslot * slot <= ctx->budget / 12) {
		txn->dw_tried = 1;
		if (cask__dw_start(txn->tmp, DIRECT_THREADS, nslot, slot, &txn->dw) == 0)
			direct_account(txn, 1);
	}
	direct = direct && txn->dw != NULL;
	lock();
	locked = 1;
	rc = prepare_name(ctx, txn->file, txn->target, o->dset, spec->overwrite);
	if (rc != 0)
		goto out;
	if (o->dtype == CASK_BOOL) {
		ftype = bool_type();
		o->memtype = bool_type();
	} else {
		ftype = H5Tcopy(native_type(o->dtype));
		o->memtype = H5Tcopy(native_type(o->dtype));
	}
	if (ftype < 0 || o->memtype < 0) {
		rc = h5fail(ctx, CASK_EIO, "cannot create the type of '%s' in '%s'", o->dset, txn->target);
		goto out;
	}
	if (o->ndim == 0) {
		o->fspace = H5Screate(H5S_SCALAR);
	} else {
		hsize_t d[CASK_MAX_DIMS];
		for (int k = 0; k < o->ndim; k++)
			d[k] = (hsize_t)o->shape[k];
		o->fspace = H5Screate_simple(o->ndim, d, NULL);
	}
	dcpl = H5Pcreate(H5P_DATASET_CREATE);
	lcpl = H5Pcreate(H5P_LINK_CREATE);
	dapl = make_dapl();
	if (o->fspace < 0 || dcpl < 0 || lcpl < 0 || dapl < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0) {
		rc = h5fail(ctx, CASK_EIO, "cannot create '%s' in '%s'", o->dset, txn->target);
		goto out;
	}
	if (o->chunk_bytes > 0) {
		hsize_t c[CASK_MAX_DIMS];
		for (int k = 0; k < o->ndim; k++)
			c[k] = (hsize_t)o->chunks[k];
		if (H5Pset_chunk(dcpl, o->ndim, c) < 0 ||
		    (big && (H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) < 0 ||
		                H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0))) {
			rc = h5fail(ctx, CASK_EIO, "cannot set the chunks of '%s' in '%s'", o->dset, txn->target);
			goto out;
		}
	}
	for (int i = 0; i < o->nfilters; i++) {
		herr_t e = 0;
		switch (o->filters[i].id) {
		case H5Z_FILTER_SHUFFLE: e = H5Pset_shuffle(dcpl); break;
		case H5Z_FILTER_DEFLATE: e = H5Pset_deflate(dcpl, o->filters[i].param); break;
		case H5Z_FILTER_FLETCHER32: e = H5Pset_fletcher32(dcpl); break;
		default: break;
		}
		if (e < 0) {
			rc = h5fail(ctx, CASK_EIO, "cannot set the filters of '%s' in '%s'", o->dset, txn->target);
			goto out;
		}
	}
	o->ds = H5Dcreate2(txn->file, o->dset, ftype, o->fspace, lcpl, dcpl, dapl);
	if (o->ds < 0) {
		rc = h5fail(ctx, CASK_EIO, "cannot create dataset '%s' in '%s'", o->dset, txn->target);
		goto out;
	}
	if (direct)
		direct_index(o);
	txn->outs[txn->nouts++] = o;
	*out = o;
	o = NULL;
out:
	if (locked) {
		if (ftype >= 0)
			H5Tclose(ftype);
		if (dcpl >= 0)
			H5Pclose(dcpl);
		if (lcpl >= 0)
			H5Pclose(lcpl);
		if (dapl >= 0)
			H5Pclose(dapl);
		if (o != NULL) {
			if (o->memtype >= 0)
				H5Tclose(o->memtype);
			if (o->fspace >= 0)
				H5Sclose(o->fspace);
			if (o->ds >= 0)
				H5Dclose(o->ds);
		}
		unlock();
	}
	if (o != NULL) {
		free(o->dset);
		free(o);
	}
	return rc;
}

/* Whether [start, start + count) is exactly one stored chunk of an
 * unfiltered output, so its bytes can go to H5Dwrite_chunk as they are
 * (outputs are created by cask in native types).  Through H5Dwrite, HDF5
 * 1.10 allocates and fills a fresh chunk-sized buffer for every such
 * write: 30% of the time of a Q + R run went to that memset's page faults. */
static int whole_chunk(const cask__h5out_t *o, const int64_t *start, const int64_t *count)
{
	if (o->nfilters > 0 || o->chunk_bytes == 0 || o->ndim == 0)
		return 0;
	for (int k = 0; k < o->ndim; k++)
		if (start[k] % o->chunks[k] != 0 || count[k] != o->chunks[k])
			return 0;
	return 1;
}

/* Whether the block [start, start + count) of a directly written output is
 * a run of whole rows of one chunk, contiguous in the chunk's row-major
 * layout, starting on a block of the file (*off: its file offset) and ending
 * on one or at the chunk's or the dataset's end, so that its bytes can go to
 * the direct writer as they are: a TSQR leaf that is a part of a chunk.  A
 * tail of less than a block goes through the page cache in io_direct.c; no
 * other write touches that block, which holds the rest of the chunk's
 * padding or the next chunk's first bytes only when this one ends there. */
static int direct_slab(const cask__h5out_t *o, const int64_t *start, const int64_t *count,
                       size_t bytes, uint64_t *off)
{
	hsize_t cs[CASK_MAX_DIMS];
	uint64_t inner = o->elsize;
	for (int k = 1; k < o->ndim; k++) {
		if (start[k] % o->chunks[k] != 0 || count[k] != o->chunks[k])
			return 0;
		inner *= (uint64_t)o->chunks[k];
		cs[k] = (hsize_t)start[k];
	}
	int64_t r = start[0] % o->chunks[0];
	if (r + count[0] > o->chunks[0])
		return 0;
	cs[0] = (hsize_t)(start[0] - r);
	*off = o->daddr[grid_lin(o->ndim, o->grid, o->chunks, cs)] + (uint64_t)r * inner;
	int ends = r + count[0] == o->chunks[0] || start[0] + count[0] == o->shape[0];
	return *off % CASK__DW_ALIGN == 0 && (bytes % CASK__DW_ALIGN == 0 || ends);
}

int cask__io_write(cask_ctx_t *ctx, cask__h5out_t *o, const int64_t *start,
                   const int64_t *count, const void *buf)
{
	int rc = 0, locked = 0;
	hid_t mspace = -1;
	int64_t n = 1;
	size_t bytes = 0;
	const char *path = o->txn->target;

	rc = check_block(ctx, "write", path, o->dset, o->ndim, o->shape, start, count, NULL, &n);
	if (rc != 0)
		goto out;
	if (cask__mul_size((size_t)n, o->elsize, &bytes) != 0) {
		rc = cask__error(ctx, CASK_EOVERFLOW, "write of '%s' in '%s': size overflows", o->dset, path);
		goto out;
	}
	if (n == 0)
		goto out;
	if (whole_chunk(o, start, count))
		return cask__io_write_chunk(ctx, o, start, buf, NULL, 0);
	uint64_t doff;
	if (o->daddr != NULL && direct_slab(o, start, count, bytes, &doff)) {
		uint64_t bad = 0;
		int e = cask__dw_put(o->txn->dw, doff, buf, bytes, &bad);
		if (e != 0)
			rc = direct_fail(ctx, o->txn, e, bad);
		goto out;
	}
	if (o->daddr != NULL && (rc = direct_drain(ctx, o)) != 0)
		goto out;
	lock();
	locked = 1;
	herr_t e;
	if (o->ndim == 0) {
		e = H5Dwrite(o->ds, o->memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
	} else {
		hsize_t mc[CASK_MAX_DIMS];
		for (int k = 0; k < o->ndim; k++)
			mc[k] = (hsize_t)count[k];
		mspace = H5Screate_simple(o->ndim, mc, NULL);
		if (mspace < 0 || select_block(o->fspace, o->ndim, start, count, NULL) < 0) {
			rc = h5fail(ctx, CASK_EIO, "write of '%s' in '%s': cannot select the block", o->dset, path);
			goto out;
		}
		e = H5Dwrite(o->ds, o->memtype, mspace, o->fspace, H5P_DEFAULT, buf);
	}
	if (e < 0) {
		rc = h5fail(ctx, CASK_EIO, "cannot write '%s' in '%s' (temporary file '%s')", o->dset, path,
		            o->txn->tmp);
		goto out;
	}
out:
	if (locked) {
		if (mspace >= 0)
			H5Sclose(mspace);
		unlock();
	}
	if (rc == 0 && n > 0) {
		atomic_fetch_add(&ctx->bytes_written, (uint64_t)bytes);
		txn_written(o->txn, (uint64_t)bytes);
	}
	return rc;
}

/* ---------------------------------------------------------------- scratch files */

void cask__io_tmp_dir(const char *path, char *dir, size_t len)
{
	const char *env = getenv("TMPDIR"), *sl = path != NULL ? strrchr(path, '/') : NULL;
	if (path == NULL)
		snprintf(dir, len, "%s", env != NULL && env[0] != '\0' ? env : "/tmp");
	else if (sl == NULL)
		snprintf(dir, len, ".");
	else
		snprintf(dir, len, "%.*s", sl == path ? 1 : (int)(sl - path), path);
}

/* path's canonical directory and its last component, into out: 0, or -1
 * when the directory does not resolve. */
static int canon_path(const char *path, char *out, size_t len)
{
	char dir[4096];
	const char *sl = strrchr(path, '/');
	cask__io_tmp_dir(path, dir, sizeof dir);
	char *real = realpath(dir, NULL);
	if (real == NULL)
		return -1;
	snprintf(out, len, "%s/%s", real, sl != NULL ? sl + 1 : path);
	free(real);
	return 0;
}

int cask__io_preflight(cask_ctx_t *ctx, const char *path, const char *dset, int overwrite)
{
	int rc = 0, exists = 0;
	char dir[PATH_MAX];
	char *real = NULL;
	if ((rc = check_regular(ctx, path, &exists)) != 0)
		return rc;
	/* A symlinked target is written next to the file it points to. */
	real = out_target(path, exists);
	cask__io_tmp_dir(real != NULL ? real : path, dir, sizeof dir);
	if (access(dir, W_OK | X_OK) != 0) {
		int e = errno;
		rc = cask__error(ctx, e == ENOENT || e == ENOTDIR ? CASK_ENOTFOUND : CASK_EIO,
		                 "cannot create a temporary file next to '%s': %s",
		                 real != NULL ? real : path, strerror(e));
		free(real);
		return rc;
	}
	free(real);
	if (!exists || (rc = check_hdf5_target(ctx, path)) != 0 || overwrite)
		return rc;
	lock();
	hid_t fapl = make_fapl();
	hid_t f = fapl < 0 ? -1 : H5Fopen(path, H5F_ACC_RDONLY, fapl);
	if (f < 0)
		rc = h5fail(ctx, CASK_EIO, "cannot open '%s'", path);
	else
		rc = prepare_name(ctx, f, path, dset, 0);
	if (f >= 0)
		H5Fclose(f);
	if (fapl >= 0)
		H5Pclose(fapl);
	H5Eclear2(H5E_DEFAULT);
	unlock();
	return rc;
}

int cask__io_same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	char ca[8192], cb[8192];
	if (strcmp(a, b) == 0)
		return 1;
	if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
		return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	return canon_path(a, ca, sizeof ca) == 0 && canon_path(b, cb, sizeof cb) == 0 &&
	       strcmp(ca, cb) == 0;
}

int cask__io_scratch_open(cask_ctx_t *ctx, const cask__h5out_t *o, int *fd)
{
	char dir[4096];
	cask__io_tmp_dir(o != NULL ? o->txn->tmp : NULL, dir, sizeof dir);
	int f = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (f < 0) {
		/* No O_TMPFILE on this file system: a named file, unlinked at once. */
		char path[4200];
		snprintf(path, sizeof path, "%s/.cask-scratch-XXXXXX", dir);
		f = mkostemp(path, O_CLOEXEC);
		if (f >= 0)
			unlink(path);
	}
	if (f < 0)
		return cask__error(ctx, CASK_EIO, "cannot create a scratch file in '%s': %s", dir,
		                   strerror(errno));
	*fd = f;
	return 0;
}

/* All n bytes of buf to (wr) or from fd at off. */
static int scratch_io(cask_ctx_t *ctx, int fd, uint64_t off, char *buf, size_t n, int wr)
{
	while (n > 0) {
		ssize_t k = wr ? pwrite(fd, buf, n, (off_t)off) : pread(fd, buf, n, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return cask__error(ctx, CASK_EIO, "cannot %s a scratch file (at byte %" PRIu64 "): %s",
			                   wr ? "write" : "read", off,
			                   k < 0 ? strerror(errno) : wr ? "nothing written" : "it ends early");
		buf += k;
		off += (uint64_t)k;
		n -= (size_t)k;
	}
	return 0;
}

int cask__io_scratch_write(cask_ctx_t *ctx, int fd, uint64_t off, const void *buf, size_t n)
{
	return scratch_io(ctx, fd, off, (char *)(uintptr_t)buf, n, 1);
}

int cask__io_scratch_read(cask_ctx_t *ctx, int fd, uint64_t off, void *buf, size_t n)
{
	return scratch_io(ctx, fd, off, buf, n, 0);
}

int cask__io_txn_commit(cask_ctx_t *ctx, cask__h5txn_t *txn)
{
	int rc = 0, fd = -1, dfd = -1;
	if (txn->dw != NULL) {
		/* every queued chunk is in the file before HDF5 closes it */
		uint64_t bad = 0;
		direct_account(txn, -1);
		int e = cask__dw_finish(txn->dw, &bad);
		txn->dw = NULL;
		if (e != 0)
			rc = direct_fail(ctx, txn, e, bad);
	}
	if (rc != 0)
		(void)txn_empty_tmp(txn); /* failed: discarded (best effort) */
	lock();
	if (txn_close_handles(txn) != 0 && rc == 0)
		rc = h5fail(ctx, CASK_EIO, "cannot finish writing '%s' (temporary file '%s')", txn->target, txn->tmp);
	unlock();
	if (rc != 0)
		goto out;
	/* fsync makes the result durable across power loss; a killed process
	 * never exposes a partial target either way (the rename is atomic).
	 * CASK_FSYNC=0 skips the syncs when durability is not wanted. */
	int durable = durable_writes();
	if (durable)
		fd = open(txn->tmp, O_RDONLY | O_CLOEXEC);
	if (durable && (fd < 0 || fsync(fd) != 0)) {
		rc = cask__error(ctx, CASK_EIO, "cannot sync '%s': %s", txn->tmp, strerror(errno));
		goto out;
	}
	/* Check-and-rename under an exclusive flock of the directory, which
	 * every cask commit takes (held for a rename: no waiting to speak of),
	 * so two runs writing one file cannot both pass the check. */
	dfd = open_dir_of(txn->target);
	if (dfd >= 0)
		(void)flock(dfd, LOCK_EX); /* no lock (ENOLCK, ...): check anyway */
	if (target_changed(txn)) {
		rc = cask__error(ctx, CASK_EIO, "'%s' was %s during this run (another cask, or another "
		                 "store of this process, writing the same file?); this run's result was "
		                 "not written, so as not to drop that writer's changes: run it again",
		                 txn->target, txn->had_target ? "changed or replaced" : "created");
		goto out;
	}
	if (rename(txn->tmp, txn->target) != 0) {
		rc = cask__error(ctx, CASK_EIO, "cannot rename '%s' to '%s': %s", txn->tmp, txn->target,
		                 strerror(errno));
		goto out;
	}
	close(dfd);
	dfd = -1;
	free(txn->tmp);
	txn->tmp = NULL;
	if (durable && fsync_dir_of(txn->target) != 0) {
		rc = cask__error(ctx, CASK_EIO, "'%s' was written but its directory could not be synced: %s",
		                 txn->target, strerror(errno));
		goto out;
	}
out:
	if (fd >= 0)
		close(fd);
	if (txn->tmp != NULL)
		unlink(txn->tmp);
	if (dfd >= 0)
		close(dfd);
	txn_free(txn);
	return rc;
}

void cask__io_txn_abort(cask__h5txn_t *txn)
{
	if (txn == NULL)
		return;
	if (txn->dw != NULL) {
		/* stop writing before the file goes */
		direct_account(txn, -1);
		cask__dw_abort(txn->dw);
		txn->dw = NULL;
	}
	(void)txn_empty_tmp(txn); /* best effort: the close reports nothing anyway */
	lock();
	txn_close_handles(txn);
	H5Eclear2(H5E_DEFAULT);
	unlock();
	if (txn->tmp != NULL)
		unlink(txn->tmp);
	txn_free(txn);
}

/* ---------------------------------------------------------------- info */

typedef struct {
	char **names;
	int64_t n, cap;
	int oom;
} names_t;

static herr_t visit_cb(hid_t obj, const char *name, const H5O_info_t *info, void *data)
{
	names_t *v = data;
	(void)obj;
	if (info->type != H5O_TYPE_DATASET)
		return 0;
	if (v->n == v->cap) {
		int64_t cap = v->cap > 0 ? 2 * v->cap : 16;
		char **p = realloc(v->names, (size_t)cap * sizeof *p);
		if (p == NULL) {
			v->oom = 1;
			return -1;
		}
		v->names = p;
		v->cap = cap;
	}
	size_t len = strlen(name);
	char *s = malloc(len + 2);
	if (s == NULL) {
		v->oom = 1;
		return -1;
	}
	s[0] = '/';
	memcpy(s + 1, name, len + 1);
	v->names[v->n++] = s;
	return 0;
}

/* Lock held.  Describe dataset name of file into *d. */
static int describe(cask_ctx_t *ctx, hid_t file, const char *path, const char *name, cask_dset_info_t *d)
{
	int rc = 0;
	hid_t ds = -1, ftype = -1, space = -1, dcpl = -1, dapl = -1;
	memset(d, 0, sizeof *d);
	snprintf(d->path, sizeof d->path, "%s", name);
	dapl = make_dapl();
	ds = dapl >= 0 ? H5Dopen2(file, name, dapl) : -1;
	if (ds < 0) {
		rc = h5fail(ctx, CASK_EIO, "cannot open dataset '%s' in '%s'", name, path);
		goto out;
	}
	ftype = H5Dget_type(ds);
	space = H5Dget_space(ds);
	dcpl = H5Dget_create_plist(ds);
	if (ftype < 0 || space < 0 || dcpl < 0) {
		rc = h5fail(ctx, CASK_EIO, "cannot read the metadata of '%s' in '%s'", name, path);
		goto out;
	}
	cask_dtype_t dt;
	d->supported = classify(ftype, &dt, d->type, sizeof d->type);
	int src = space_dims(space, &d->ndim, d->shape);
	if (src == CASK_ENOTSUP) {
		d->ndim = 0;
		d->supported = 0;
	} else if (src != 0) {
		rc = h5fail(ctx, src, "cannot read the shape of '%s' in '%s'", name, path);
		goto out;
	}
	if (H5Pget_layout(dcpl) == H5D_CHUNKED && d->ndim > 0) {
		hsize_t c[CASK_MAX_DIMS];
		if (H5Pget_chunk(dcpl, d->ndim, c) == d->ndim)
			for (int k = 0; k < d->ndim; k++)
				d->chunks[k] = (int64_t)c[k];
	}
	describe_filters(dcpl, d->filters, sizeof d->filters);
	d->stored_bytes = H5Dget_storage_size(ds);
	uint64_t n = src == CASK_ENOTSUP ? 0 : 1;
	for (int k = 0; k < d->ndim; k++)
		if (__builtin_mul_overflow(n, (uint64_t)d->shape[k], &n))
			n = UINT64_MAX;
	if (__builtin_mul_overflow(n, (uint64_t)H5Tget_size(ftype), &d->logical_bytes))
		d->logical_bytes = UINT64_MAX;
out:
	if (dcpl >= 0)
		H5Pclose(dcpl);
	if (space >= 0)
		H5Sclose(space);
	if (ftype >= 0)
		H5Tclose(ftype);
	if (ds >= 0)
		H5Dclose(ds);
	if (dapl >= 0)
		H5Pclose(dapl);
	return rc;
}

int cask_h5_info(cask_ctx_t *ctx, const char *path, const char *dset, cask_dset_info_t **out,
                 int64_t *n)
{
	int rc = 0, locked = 0;
	hid_t file = -1;
	char *nd = NULL;
	names_t v = {0};
	cask_dset_info_t *res = NULL;

	rc = CASK__CHECK_PTRS(ctx, ctx, path, out, n);
	if (rc != 0)
		goto out;
	rc = check_regular(ctx, path, NULL);
	if (rc != 0)
		goto out;
	if (dset != NULL) {
		rc = norm_dset(ctx, path, dset, &nd);
		if (rc != 0)
			goto out;
	}
	lock();
	locked = 1;
	rc = open_file(ctx, path, &file);
	if (rc != 0)
		goto out;
	if (nd != NULL) {
		if (!ctx->allow_external) {
			rc = check_links(ctx, file, path, nd, nd, 0);
			if (rc != 0)
				goto out;
		}
		H5O_info_t oi;
		if (H5Oget_info_by_name2(file, nd, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
			rc = h5fail(ctx, CASK_ENOTFOUND, "dataset '%s' not found in '%s'", nd, path);
			goto out;
		}
		if (oi.type != H5O_TYPE_DATASET) {
			rc = cask__error(ctx, CASK_ENOTFOUND, "'%s' in '%s' is a %s, not a dataset", nd, path,
			                 oi.type == H5O_TYPE_GROUP ? "group" : "named datatype");
			goto out;
		}
		v.names = malloc(sizeof *v.names);
		if (v.names == NULL) {
			rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
			goto out;
		}
		v.names[0] = nd;
		nd = NULL;
		v.n = v.cap = 1;
	} else if (H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_INC, visit_cb, &v, H5O_INFO_BASIC) < 0) {
		if (v.oom)
			rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
		else
			rc = h5fail(ctx, CASK_EIO, "cannot list the objects of '%s'", path);
		goto out;
	}
	res = calloc(v.n > 0 ? (size_t)v.n : 1, sizeof *res);
	if (res == NULL) {
		rc = cask__error(ctx, CASK_ENOMEM, "out of memory");
		goto out;
	}
	for (int64_t i = 0; i < v.n; i++) {
		rc = describe(ctx, file, path, v.names[i], &res[i]);
		if (rc != 0)
			goto out;
	}
	*out = res;
	*n = v.n;
	res = NULL;
out:
	if (locked) {
		if (file >= 0)
			H5Fclose(file);
		unlock();
	}
	for (int64_t i = 0; i < v.n; i++)
		free(v.names[i]);
	free(v.names);
	free(res);
	free(nd);
	return rc;
}

/* ---------------------------------------------------------------- direct chunk I/O */

/* Check that chunk_start is a chunk origin inside the dataset. */
static int check_chunk_start(cask_ctx_t *ctx, const char *what, const char *path, const char *dset, int ndim,
                             const int64_t *shape, const int64_t *chunks, const int64_t *start)
{
	if (ndim == 0 || chunks[0] == 0)
		return cask__error(ctx, CASK_EINVAL, "%s of '%s' in '%s': the dataset is not chunked", what, dset, path);
	for (int k = 0; k < ndim; k++) {
		if (start[k] < 0 || start[k] >= shape[k] || start[k] % chunks[k] != 0) {
			char c[256];
			fmt_coords(c, sizeof c, ndim, start);
			return cask__error(ctx, CASK_EINVAL, "%s of '%s' in '%s': %s is not a chunk origin", what, dset,
			                   path, c);
		}
	}
	return 0;
}

/* Fill n elements of elsize bytes at p with the value at v. */
static void fill_elems(void *p, size_t n, const unsigned char *v, size_t elsize)
{
	unsigned char *b = p;
	int zero = 1;
	for (size_t i = 0; i < elsize; i++)
		zero &= v[i] == 0;
	if (zero) {
		memset(b, 0, n * elsize);
		return;
	}
	for (size_t i = 0; i < n; i++)
		memcpy(b + i * elsize, v, elsize);
}

/* Bytes of the part of the chunk at start that lies inside shape. */
static uint64_t chunk_logical_bytes(int ndim, const int64_t *shape, const int64_t *chunks, const int64_t *start,
                                    size_t elsize)
{
	uint64_t n = elsize;
	for (int k = 0; k < ndim; k++) {
		int64_t rem = shape[k] - start[k];
		n *= (uint64_t)(rem < chunks[k] ? rem : chunks[k]);
	}
	return n;
}

int cask__io_chunk_direct_ok(const cask__h5in_t *in)
{
	return in->direct_ok;
}

size_t cask__io_chunk_scratch_bytes(const cask__h5in_t *in)
{
	if (!in->meta.chunked || in->nfilters == 0)
		return 0; /* unfiltered chunks are read straight into the caller's buffer */
	size_t s = in->max_stored;
	if (cask__filter_ntransforms(in->filters, in->nfilters) >= 2)
		s += in->meta.chunk_bytes;
	return s;
}

/* Read one whole chunk through HDF5's own pipeline (H5Dread of the chunk's
 * hyperslab, clipped to the dataset) into buf laid out as the full chunk;
 * the part outside the dataset gets the fill value. */
static int read_chunk_fallback(cask_ctx_t *ctx, cask__h5in_t *in, const int64_t *start, void *buf)
{
	int rc = 0, locked = 0;
	hid_t mspace = -1;
	int nd = in->meta.ndim;
	int64_t count[CASK_MAX_DIMS], zero[CASK_MAX_DIMS], n = 1;
	hsize_t full[CASK_MAX_DIMS];
	for (int k = 0; k < nd; k++) {
		int64_t rem = in->meta.shape[k] - start[k];
		count[k] = rem < in->meta.chunks[k] ? rem : in->meta.chunks[k];
		zero[k] = 0;
		full[k] = (hsize_t)in->meta.chunks[k];
		n *= count[k];
	}
	fill_elems(buf, in->meta.chunk_bytes / in->elsize, in->fill, in->elsize);
	lock();
	locked = 1;
	mspace = H5Screate_simple(nd, full, NULL);
	if (mspace < 0 || select_block(mspace, nd, zero, count, NULL) < 0 ||
	    select_block(in->fspace, nd, start, count, NULL) < 0) {
		rc = h5fail(ctx, CASK_EIO, "read of '%s' in '%s': cannot select a chunk", in->dset, in->path);
		goto out;
	}
	if (H5Dread(in->ds, in->memtype, mspace, in->fspace, H5P_DEFAULT, buf) < 0) {
		char c[256];
		fmt_coords(c, sizeof c, nd, start);
		rc = h5fail(ctx, CASK_EIO, "cannot read the chunk at %s of '%s' in '%s'", c, in->dset, in->path);
		goto out;
	}
out:
	if (locked) {
		if (mspace >= 0)
			H5Sclose(mspace);
		unlock();
	}
	if (rc == 0) {
		if (in->meta.dtype == CASK_BOOL)
			bool_normalise(buf, in->meta.chunk_bytes);
		atomic_fetch_add(&ctx->bytes_read, (uint64_t)n * in->elsize);
	}
	return rc;
}

/* Linear number of the chunk at chunk_start in C order of the grid. */
static int64_t chunk_lin(const cask__h5in_t *in, const int64_t *chunk_start)
{
	int64_t grid[CASK_MAX_DIMS];
	hsize_t cs[CASK_MAX_DIMS];
	chunk_grid(in->meta.ndim, in->meta.shape, in->meta.chunks, grid);
	for (int k = 0; k < in->meta.ndim; k++)
		cs[k] = (hsize_t)chunk_start[k];
	return grid_lin(in->meta.ndim, grid, in->meta.chunks, cs);
}

/* Home slot of chunk number lin in the cache's hash table. */
static uint64_t cache_slot(const cask__h5in_t *in, int64_t lin)
{
	return ((uint64_t)lin * 0x9E3779B97F4A7C15u >> 17) & in->hmask;
}

/* The cache entry holding chunk lin, or -1.  Under cmu. */
static int cache_find(const cask__h5in_t *in, int64_t lin)
{
	for (uint64_t h = cache_slot(in, lin);; h = (h + 1) & in->hmask) {
		int e = in->chash[h] - 1;
		if (e < 0 || in->cent[e].lin == lin)
			return e;
	}
}

/* Remove chunk lin (present) from the hash table: backward-shift deletion
 * keeps every probe sequence unbroken without tombstones.  Under cmu. */
static void cache_unhash(cask__h5in_t *in, int64_t lin)
{
	uint64_t h = cache_slot(in, lin);
	while (in->cent[in->chash[h] - 1].lin != lin)
		h = (h + 1) & in->hmask;
	for (uint64_t j = (h + 1) & in->hmask; in->chash[j] != 0; j = (j + 1) & in->hmask) {
		uint64_t home = cache_slot(in, in->cent[in->chash[j] - 1].lin);
		/* The entry at j may move to the hole at h unless its home lies
		 * cyclically in (h, j]. */
		if (((j - home) & in->hmask) >= ((j - h) & in->hmask)) {
			in->chash[h] = in->chash[j];
			h = j;
		}
	}
	in->chash[h] = 0;
}

static void lru_unlink(cask__h5in_t *in, int e)
{
	struct cent *c = &in->cent[e];
	if (c->prev >= 0)
		in->cent[c->prev].next = c->next;
	else
		in->lru_head = c->next;
	if (c->next >= 0)
		in->cent[c->next].prev = c->prev;
	else
		in->lru_tail = c->prev;
}

static void lru_push_front(cask__h5in_t *in, int e)
{
	in->cent[e].prev = -1;
	in->cent[e].next = in->lru_head;
	if (in->lru_head >= 0)
		in->cent[in->lru_head].prev = e;
	in->lru_head = e;
	if (in->lru_tail < 0)
		in->lru_tail = e;
}

/* 1 if chunk lin is being decoded by a thread (cmu held). */
static int cache_busy(const cask__h5in_t *in, int64_t lin)
{
	for (int i = 0; i < in->ninflight; i++)
		if (in->inflight[i] == lin)
			return 1;
	return 0;
}

/* Copy chunk lin from the cache into buf: 1.  Else 0, with *claimed set
 * when this thread is now the one to decode it (and put it), or, when
 * another thread decodes lin and the next chunk (lin + 1, the next a
 * reader in order wants) is neither cached nor being decoded, *pf = lin +
 * 1 claimed for this thread to decode meanwhile (then ask again for lin);
 * otherwise it waits for lin. */
static int cache_get(cask__h5in_t *in, int64_t lin, void *buf, int *claimed, int64_t *pf)
{
	int e;
	const int cap = (int)(sizeof in->inflight / sizeof in->inflight[0]);
	*claimed = 0;
	*pf = -1;
	pthread_mutex_lock(&in->cmu);
	for (;;) {
		e = cache_find(in, lin);
		if (e >= 0) {
			memcpy(buf, in->cent[e].data, in->meta.chunk_bytes);
			lru_unlink(in, e);
			lru_push_front(in, e);
			break;
		}
		if (!cache_busy(in, lin)) {
			if (in->ninflight < cap) {
				in->inflight[in->ninflight++] = lin;
				*claimed = 1;
			}
			break;
		}
		int64_t nx = lin + 1;
		if (nx < in->nchunks && in->ccap >= 2 && in->ninflight < cap && !cache_busy(in, nx) &&
		    cache_find(in, nx) < 0) {
			in->inflight[in->ninflight++] = nx;
			*pf = nx;
			break;
		}
		pthread_cond_wait(&in->ccv, &in->cmu); /* another thread decodes it */
	}
	pthread_mutex_unlock(&in->cmu);
	return e >= 0;
}

/* The decode of chunk lin that cache_get gave this thread is over (put in
 * the cache, or failed): wake the threads waiting for it. */
static void cache_unclaim(cask__h5in_t *in, int64_t lin)
{
	pthread_mutex_lock(&in->cmu);
	for (int i = 0; i < in->ninflight; i++)
		if (in->inflight[i] == lin) {
			in->inflight[i] = in->inflight[--in->ninflight];
			break;
		}
	pthread_cond_broadcast(&in->ccv);
	pthread_mutex_unlock(&in->cmu);
}

int cask__io_cache_copy(cask__h5in_t *in, const int64_t *chunk_start, const int64_t *off,
                        const int64_t *cnt, void *dst, const int64_t *dstrides)
{
	if (in->ccap <= 0)
		return 0;
	int nd = in->meta.ndim;
	int64_t cs[CASK_MAX_DIMS], skip = 0;
	cs[nd - 1] = 1;
	for (int k = nd - 2; k >= 0; k--)
		cs[k] = cs[k + 1] * in->meta.chunks[k + 1];
	for (int k = 0; k < nd; k++)
		skip += off[k] * cs[k];
	for (int k = 0; k < nd; k++)
		if (cnt[k] <= 0)
			return 1;
	pthread_mutex_lock(&in->cmu);
	int e = cache_find(in, chunk_lin(in, chunk_start));
	if (e >= 0) {
		cask_k_copy_nd(nd, cnt, in->elsize,
		               (const char *)in->cent[e].data + skip * (int64_t)in->elsize, cs, dst,
		               dstrides);
		lru_unlink(in, e);
		lru_push_front(in, e);
	}
	pthread_mutex_unlock(&in->cmu);
	return e >= 0;
}

/* Keep a copy of decoded chunk lin: in a new entry while fewer than ccap
 * are in use (none if malloc fails), else in the least recently used. */
static void cache_put(cask__h5in_t *in, int64_t lin, const void *buf)
{
	int e;
	pthread_mutex_lock(&in->cmu);
	if (cache_find(in, lin) >= 0)
		goto out; /* another thread put it first */
	if (in->cused < in->ccap) {
		void *d = malloc(in->meta.chunk_bytes);
		if (d == NULL)
			goto out;
		e = in->cused++;
		in->cent[e].data = d;
	} else {
		e = in->lru_tail;
		cache_unhash(in, in->cent[e].lin);
		lru_unlink(in, e);
	}
	memcpy(in->cent[e].data, buf, in->meta.chunk_bytes);
	in->cent[e].lin = lin;
	uint64_t h = cache_slot(in, lin);
	while (in->chash[h] != 0)
		h = (h + 1) & in->hmask;
	in->chash[h] = e + 1;
	lru_push_front(in, e);
out:
	pthread_mutex_unlock(&in->cmu);
}

/* Index entry of the chunk at chunk_start, or -1 when not stored (or no index). */
static int64_t index_find(const cask__h5in_t *in, const int64_t *chunk_start)
{
	if (in->caddr == NULL)
		return -1;
	int64_t lin = chunk_lin(in, chunk_start);
	int64_t lo = 0, hi = in->nidx; /* binary search of the sorted index */
	while (lo < hi) {
		int64_t mid = lo + (hi - lo) / 2;
		if (in->clin[mid] < lin)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < in->nidx && in->clin[lo] == lin ? lo : -1;
}

/* Whether chunks are read by mapping the page cache: only with CASK_MMAP=1.
 * On the machines cask is benchmarked on now (2-vCPU microVMs), pread into a
 * pooled buffer is 2.5-4x faster than mapping for a raw sum (2 GiB in 32 MiB
 * chunks: 0.20 s vs 0.48-0.56 s; 0.5 GiB in 8 MiB chunks: 0.035 vs 0.13 s)
 * and faster for compressed chunks too (W4 at 2 GiB: 1.76 vs 2.04 s): the
 * populate and the TLB shoot-down of every munmap cost more than the copy.
 * On an earlier machine mapping was the faster of the two, hence the knob. */
static int mmap_enabled(void)
{
	static _Atomic int on = -1;
	int v = atomic_load(&on);
	if (v < 0) {
		const char *e = getenv("CASK_MMAP");
		v = e != NULL && strcmp(e, "1") == 0;
		atomic_store(&on, v);
	}
	return v;
}

/* Map n bytes at file offset addr of in's file read-only (page cache, no
 * copy): 1 with *ptr and m set, 0 when it cannot be (file too short, mmap
 * failed: the caller reads instead). */
static int map_range(cask_ctx_t *ctx, cask__h5in_t *in, uint64_t addr, uint64_t n,
                     const void **ptr, cask__map_t *m)
{
	m->base = NULL;
	m->len = 0;
	uint64_t t0 = now_ns();
	struct stat st;
	uint64_t end = addr + n;
	if (n == 0 || fstat(in->fd, &st) != 0 || st.st_size < 0 || (uint64_t)st.st_size < end)
		return 0; /* truncated: the read path reports it */
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t off = addr / page * page;
	size_t len = (size_t)(end - off);
	lane_enter(ctx->io_lanes);
	void *b = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, in->fd, (off_t)off);
	lane_leave();
	atomic_fetch_add(&io_ns, now_ns() - t0);
	if (b == MAP_FAILED)
		return 0;
	m->base = b;
	m->len = len;
	*ptr = (const char *)b + (addr - off);
	return 1;
}

int cask__io_map_chunk(cask_ctx_t *ctx, cask__h5in_t *in, const int64_t *chunk_start,
                       const void **ptr, cask__map_t *m)
{
	m->base = NULL;
	m->len = 0;
	if (!mmap_enabled() || !in->direct_ok || in->swap || in->meta.dtype == CASK_BOOL)
		return 0;
	int nd = in->meta.ndim;
	int rc = check_chunk_start(ctx, "chunk read", in->path, in->dset, nd, in->meta.shape,
	                           in->meta.chunks, chunk_start);
	if (rc != 0)
		return rc;
	int64_t i = index_find(in, chunk_start);
	if (i < 0 || in->csize[i] != in->meta.chunk_bytes || in->caddr[i] % in->elsize != 0)
		return 0;
	if (in->nfilters > 0 &&
	    (in->cmask[i] & ((1u << in->nfilters) - 1)) != ((1u << in->nfilters) - 1))
		return 0;
	rc = map_range(ctx, in, in->caddr[i], in->csize[i], ptr, m);
	if (rc == 1)
		atomic_fetch_add(&ctx->bytes_read, chunk_logical_bytes(nd, in->meta.shape,
		                                                       in->meta.chunks, chunk_start,
		                                                       in->elsize));
	return rc;
}

void cask__io_unmap_chunk(cask__map_t *m)
{
	if (m->base != NULL)
		munmap(m->base, m->len);
	m->base = NULL;
	m->len = 0;
}

static int read_chunk(cask_ctx_t *ctx, cask__h5in_t *in, const int64_t *chunk_start, void *buf,
                      void *scratch, size_t scratch_bytes, int use_cache);

int cask__io_read_chunk(cask_ctx_t *ctx, cask__h5in_t *in, const int64_t *chunk_start, void *buf,
                        void *scratch, size_t scratch_bytes)
{
	return read_chunk(ctx, in, chunk_start, buf, scratch, scratch_bytes, 1);
}

/* Decode chunk number lin into buf for the cache while the chunk this
 * thread wants is decoded by another (cache_get's *pf).  A failure is
 * not this read's: its message is dropped, and the chunk's own read will
 * report it. */
static void prefetch_chunk(cask_ctx_t *ctx, cask__h5in_t *in, int64_t lin, void *buf,
                           void *scratch, size_t scratch_bytes)
{
	int64_t grid[CASK_MAX_DIMS], st[CASK_MAX_DIMS], l = lin;
	char msg[sizeof ctx->msg];
	chunk_grid(in->meta.ndim, in->meta.shape, in->meta.chunks, grid);
	for (int k = in->meta.ndim - 1; k >= 0; k--) {
		st[k] = l % grid[k] * in->meta.chunks[k];
		l /= grid[k];
	}
	memcpy(msg, ctx->msg, sizeof msg);
	if (read_chunk(ctx, in, st, buf, scratch, scratch_bytes, 0) != 0)
		memcpy(ctx->msg, msg, sizeof msg);
	cache_unclaim(in, lin);
}

/* cask__io_read_chunk; use_cache 0: decode (and put) without looking the
 * chunk up, for prefetch_chunk, which claimed it. */
static int read_chunk(cask_ctx_t *ctx, cask__h5in_t *in, const int64_t *chunk_start, void *buf,
                      void *scratch, size_t scratch_bytes, int use_cache)
{
	int rc = 0, locked = 0, fallback = 0, claimed = 0;
	int nd = in->meta.ndim;
	hsize_t off[CASK_MAX_DIMS];
	char c[256];
	uint32_t mask2 = 0;
	void *stored = scratch;      /* the stored bytes: scratch, or mapped */
	cask__map_t smap = {NULL, 0};

	rc = check_chunk_start(ctx, "chunk read", in->path, in->dset, nd, in->meta.shape, in->meta.chunks,
	                       chunk_start);
	if (rc != 0)
		goto out;
	if (!in->direct_ok) {
		fallback = 1;
		goto out;
	}
	if (in->ccap > 0 && use_cache) {
		int64_t lin = chunk_lin(in, chunk_start), pf;
		for (;;) {
			if (cache_get(in, lin, buf, &claimed, &pf))
				goto out; /* not read from the file: bytes_read unchanged */
			if (pf < 0)
				break;
			/* Another thread decodes lin: decode the next chunk meanwhile,
			 * so two chunks are decoded at once, not one after the other. */
			prefetch_chunk(ctx, in, pf, buf, scratch, scratch_bytes);
		}
	}
	if (scratch_bytes < cask__io_chunk_scratch_bytes(in)) {
		rc = cask__error(ctx, CASK_EINVAL, "chunk read of '%s' in '%s': scratch of %zu bytes is below %zu",
		                 in->dset, in->path, scratch_bytes, cask__io_chunk_scratch_bytes(in));
		goto out;
	}
	for (int k = 0; k < nd; k++)
		off[k] = (hsize_t)chunk_start[k];
	hsize_t size = 0;
	if (in->caddr != NULL) {
		/* Lock-free: the index gives the chunk's place in the file. */
		int64_t lin = index_find(in, chunk_start);
		size = lin >= 0 ? in->csize[lin] : 0;
		if (size == 0) {
			fill_elems(buf, in->meta.chunk_bytes / in->elsize, in->fill, in->elsize);
			atomic_fetch_add(&ctx->bytes_read, chunk_logical_bytes(nd, in->meta.shape, in->meta.chunks,
			                                                       chunk_start, in->elsize));
			goto out;
		}
		int raw = in->nfilters == 0 || (in->cmask[lin] & ((1u << in->nfilters) - 1)) ==
		                                   ((1u << in->nfilters) - 1);
		if (raw && size == in->meta.chunk_bytes) {
			if (pread_full(ctx, in->fd, buf, (size_t)size, in->caddr[lin]) != 0) {
				fmt_coords(c, sizeof c, nd, chunk_start);
				rc = cask__error(ctx, CASK_EIO, "cannot read the chunk at %s of '%s' in '%s': %s", c,
				                 in->dset, in->path, strerror(errno));
				goto out;
			}
			goto decoded;
		}
		if (in->nfilters > 0 && size <= in->max_stored) {
			/* decode straight from the page cache when the bytes map */
			const void *mp;
			if (mmap_enabled() && map_range(ctx, in, in->caddr[lin], size, &mp, &smap) == 1) {
				stored = (void *)(uintptr_t)mp; /* read only: decoding never writes it */
				mask2 = in->cmask[lin];
				goto decode;
			}
			if (pread_full(ctx, in->fd, scratch, (size_t)size, in->caddr[lin]) != 0) {
				fmt_coords(c, sizeof c, nd, chunk_start);
				rc = cask__error(ctx, CASK_EIO, "cannot read the chunk at %s of '%s' in '%s': %s", c,
				                 in->dset, in->path, strerror(errno));
				goto out;
			}
			mask2 = in->cmask[lin];
			goto decode;
		}
	}
	lock();
	locked = 1;
	/* H5Dget_chunk_storage_size looks the chunk up in the index (log n);
	 * H5Dget_chunk_info_by_coord iterates over every chunk in 1.10 (n). */
	if (H5Dget_chunk_storage_size(in->ds, off, &size) < 0) {
		/* 1.10 fails for chunks never written: confirm with the slow lookup
		 * that the chunk is missing rather than unreadable. */
		unsigned mask = 0;
		haddr_t addr = HADDR_UNDEF;
		H5Eclear2(H5E_DEFAULT);
		if (H5Dget_chunk_info_by_coord(in->ds, off, &mask, &addr, &size) < 0) {
			fmt_coords(c, sizeof c, nd, chunk_start);
			rc = h5fail(ctx, CASK_EIO, "cannot locate the chunk at %s of '%s' in '%s'", c, in->dset,
			            in->path);
			goto out;
		}
		if (addr == HADDR_UNDEF)
			size = 0;
	}
	if (size == 0) {
		/* Never written: the chunk reads as the fill value. */
		unlock();
		locked = 0;
		fill_elems(buf, in->meta.chunk_bytes / in->elsize, in->fill, in->elsize);
		atomic_fetch_add(&ctx->bytes_read, chunk_logical_bytes(nd, in->meta.shape, in->meta.chunks, chunk_start,
		                                                       in->elsize));
		goto out;
	}
	if (in->nfilters == 0) {
		/* Zero copy: the stored bytes are the chunk. */
		uint32_t m0 = 0;
		if (size != in->meta.chunk_bytes) {
			fallback = 1;
			goto out;
		}
		if (H5Dread_chunk(in->ds, H5P_DEFAULT, off, &m0, buf) < 0) {
			fmt_coords(c, sizeof c, nd, chunk_start);
			rc = h5fail(ctx, CASK_EIO, "cannot read the chunk at %s of '%s' in '%s'", c, in->dset, in->path);
			goto out;
		}
		unlock();
		locked = 0;
		goto decoded;
	}
	if (size > in->max_stored) {
		fallback = 1; /* stored bigger than any encoder of ours makes it: let HDF5 decode */
		goto out;
	}
	if (H5Dread_chunk(in->ds, H5P_DEFAULT, off, &mask2, scratch) < 0) {
		fmt_coords(c, sizeof c, nd, chunk_start);
		rc = h5fail(ctx, CASK_EIO, "cannot read the chunk at %s of '%s' in '%s'", c, in->dset, in->path);
		goto out;
	}
	unlock();
	locked = 0;
decode:;
	const char *why = "";
	unsigned char *tmp = (unsigned char *)scratch + in->max_stored;
	size_t tmp_cap = scratch_bytes - in->max_stored;
	rc = cask__filter_decode(in->filters, in->nfilters, mask2, stored, (size_t)size, buf, in->meta.chunk_bytes,
	                         tmp_cap > 0 ? tmp : NULL, tmp_cap, &why);
	if (rc == CASK_ENOTSUP) {
		rc = 0;
		fallback = 1;
		goto out;
	}
	if (rc != 0) {
		fmt_coords(c, sizeof c, nd, chunk_start);
		rc = cask__error(ctx, CASK_ECORRUPT, "corrupt chunk at %s of '%s' in '%s': %s", c, in->dset, in->path,
		                 why);
		goto out;
	}
decoded:
	if (in->swap)
		cask__byteswap(buf, in->meta.chunk_bytes / in->elsize, in->elsize);
	if (in->meta.dtype == CASK_BOOL)
		bool_normalise(buf, in->meta.chunk_bytes);
	if (in->ccap > 0)
		cache_put(in, chunk_lin(in, chunk_start), buf);
	atomic_fetch_add(&ctx->bytes_read,
	                 chunk_logical_bytes(nd, in->meta.shape, in->meta.chunks, chunk_start, in->elsize));
out:
	if (locked)
		unlock();
	if (claimed)
		cache_unclaim(in, chunk_lin(in, chunk_start));
	cask__io_unmap_chunk(&smap);
	if (rc == 0 && fallback)
		rc = read_chunk_fallback(ctx, in, chunk_start, buf);
	return rc;
}

size_t cask__io_out_chunk_bytes(const cask__h5out_t *o)
{
	return o->chunk_bytes;
}

int cask__io_out_filtered(const cask__h5out_t *o)
{
	return o->nfilters > 0;
}

size_t cask__io_out_chunk_scratch_bytes(const cask__h5out_t *o)
{
	if (o->chunk_bytes == 0)
		return 0;
	size_t s = cask__filter_bound(o->chunk_bytes);
	if (cask__filter_ntransforms(o->filters, o->nfilters) >= 2)
		s += o->chunk_bytes;
	return s;
}

int cask__io_write_chunk(cask_ctx_t *ctx, cask__h5out_t *o, const int64_t *chunk_start,
                         const void *buf_full_chunk, void *scratch, size_t scratch_bytes)
{
	int rc = 0, locked = 0;
	const char *path = o->txn->target;
	hsize_t off[CASK_MAX_DIMS];
	const void *data = buf_full_chunk;
	size_t n = o->chunk_bytes;

	rc = check_chunk_start(ctx, "chunk write", path, o->dset, o->ndim, o->shape, o->chunks, chunk_start);
	if (rc != 0)
		goto out;
	if (o->nfilters > 0) {
		size_t need = cask__io_out_chunk_scratch_bytes(o);
		size_t bound = cask__filter_bound(o->chunk_bytes);
		const char *why = "";
		if (scratch_bytes < need) {
			rc = cask__error(ctx, CASK_EINVAL, "chunk write of '%s' in '%s': scratch of %zu bytes is below %zu",
			                 o->dset, path, scratch_bytes, need);
			goto out;
		}
		rc = cask__filter_encode(o->filters, o->nfilters, buf_full_chunk, o->chunk_bytes, scratch, bound,
		                         (unsigned char *)scratch + bound, scratch_bytes - bound, &n, &why);
		if (rc != 0) {
			rc = cask__error(ctx, CASK_EINTERNAL, "cannot encode a chunk of '%s' in '%s': %s", o->dset, path, why);
			goto out;
		}
		data = scratch;
	}
	if (o->daddr != NULL) {
		hsize_t cs[CASK_MAX_DIMS]; /* checked by check_chunk_start above */
		for (int k = 0; k < o->ndim; k++)
			cs[k] = (hsize_t)chunk_start[k];
		uint64_t bad = 0;
		int e = cask__dw_put(o->txn->dw, o->daddr[grid_lin(o->ndim, o->grid, o->chunks, cs)], data, n,
		                     &bad);
		if (e != 0)
			rc = direct_fail(ctx, o->txn, e, bad);
		goto out;
	}
	for (int k = 0; k < o->ndim; k++)
		off[k] = (hsize_t)chunk_start[k];
	lock();
	locked = 1;
	if (H5Dwrite_chunk(o->ds, H5P_DEFAULT, 0, off, n, data) < 0) {
		char c[256];
		fmt_coords(c, sizeof c, o->ndim, chunk_start);
		rc = h5fail(ctx, CASK_EIO, "cannot write the chunk at %s of '%s' in '%s' (temporary file '%s')", c,
		            o->dset, path, o->txn->tmp);
		goto out;
	}
out:
	if (locked)
		unlock();
	if (rc == 0) {
		uint64_t b = chunk_logical_bytes(o->ndim, o->shape, o->chunks, chunk_start, o->elsize);
		atomic_fetch_add(&ctx->bytes_written, b);
		txn_written(o->txn, b);
	}
	return rc;
}
