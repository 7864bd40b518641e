/*
 * ctx.c - contexts, error messages, checked arithmetic and small helpers
 * (sizes, dtype names and promotion).
 */
#include "ctx.h"
#include "engine.h"

#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *cask_strerror(int rc)
{
	switch (rc) {
	case CASK_OK: return "success";
	case CASK_EINVAL: return "invalid argument";
	case CASK_ENOMEM: return "out of memory";
	case CASK_EIO: return "I/O error";
	case CASK_ETYPE: return "unsupported or mismatched dtype";
	case CASK_ESHAPE: return "shape mismatch";
	case CASK_EBUDGET: return "memory budget too small";
	case CASK_ECANCELED: return "cancelled";
	case CASK_EEXIST: return "already exists";
	case CASK_ENOTFOUND: return "not found";
	case CASK_EOVERFLOW: return "size overflow";
	case CASK_EUSER: return "user callback failed";
	case CASK_ECORRUPT: return "corrupt data";
	case CASK_EPERM: return "not permitted";
	case CASK_ENOTSUP: return "not supported";
	case CASK_EINTERNAL: return "internal error";
	default: return "unknown error";
	}
}

_Thread_local char *cask__tls_msg;

int cask__verror(cask_ctx_t *ctx, int rc, const char *fmt, va_list ap)
{
	if (cask__tls_msg != NULL)
		vsnprintf(cask__tls_msg, CASK__MSG_MAX, fmt, ap);
	else if (ctx != NULL)
		vsnprintf(ctx->msg, sizeof ctx->msg, fmt, ap);
	return rc;
}

int cask__error(cask_ctx_t *ctx, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cask__verror(ctx, rc, fmt, ap);
	va_end(ap);
	return rc;
}

int cask__null_arg(cask_ctx_t *ctx, const char *fn, const char *name)
{
	return cask__error(ctx, CASK_EINVAL, "%s: NULL %s", fn, name);
}

int cask__check_ptrs(cask_ctx_t *ctx, const char *fn, const char *names, int n,
                     const void *const *p)
{
	/* names is the stringified argument list "ctx, a, out": the i-th name
	 * runs from after the i-th comma (and its blanks) to the next comma. */
	for (int i = 0; i < n; i++) {
		if (p[i] != NULL)
			continue;
		const char *s = names;
		for (int j = 0; j < i && s != NULL; j++) {
			s = strchr(s, ',');
			if (s != NULL)
				s++;
		}
		if (s == NULL)
			return cask__null_arg(ctx, fn, "argument");
		while (*s == ' ')
			s++;
		size_t len = strcspn(s, ",");
		while (len > 0 && s[len - 1] == ' ')
			len--;
		return cask__error(ctx, CASK_EINVAL, "%s: NULL %.*s", fn, (int)len, s);
	}
	return 0;
}

void cask__error_append(cask_ctx_t *ctx, const char *fmt, ...)
{
	char *msg = cask__tls_msg != NULL ? cask__tls_msg : (ctx != NULL ? ctx->msg : NULL);
	if (msg == NULL)
		return;
	size_t len = strlen(msg);
	if (len + 1 >= CASK__MSG_MAX)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg + len, CASK__MSG_MAX - len, fmt, ap);
	va_end(ap);
}

int cask__mul_i64(int64_t a, int64_t b, int64_t *out)
{
	int64_t r;
	if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r))
		return CASK_EOVERFLOW;
	*out = r;
	return 0;
}

int cask__mul_size(size_t a, size_t b, size_t *out)
{
	size_t r;
	if (__builtin_mul_overflow(a, b, &r))
		return CASK_EOVERFLOW;
	*out = r;
	return 0;
}

int cask__prod_i64(int n, const int64_t *v, int64_t *out)
{
	int64_t p = 1;
	for (int i = 0; i < n; i++)
		if (cask__mul_i64(p, v[i], &p) != 0)
			return CASK_EOVERFLOW;
	*out = p;
	return 0;
}

int cask_parse_size(const char *s, size_t *out)
{
	if (s == NULL || out == NULL || *s == '\0')
		return CASK_EINVAL;
	errno = 0;
	char *end;
	double v = strtod(s, &end);
	if (end == s || errno != 0 || !(v >= 0))
		return CASK_EINVAL;
	double mul = 1;
	switch (*end) {
	case 'k': case 'K': mul = 1024.0; end++; break;
	case 'm': case 'M': mul = 1024.0 * 1024; end++; break;
	case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
	case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
	default: break;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end != '\0')
		return CASK_EINVAL;
	v *= mul;
	if (v >= 18446744073709551615.0)
		return CASK_EINVAL;
	*out = (size_t)v;
	return 0;
}

static size_t default_budget(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
	size_t ram = (pages > 0 && psz > 0) ? (size_t)pages * (size_t)psz : (size_t)4 << 30;
	return ram / 4;
}

int cask_ctx_create(cask_ctx_t **out)
{
	if (out == NULL)
		return CASK_EINVAL; /* no context yet to hold a message */
	cask_ctx_t *ctx = calloc(1, sizeof *ctx);
	if (ctx == NULL)
		return CASK_ENOMEM;
	ctx->budget = default_budget();
	const char *env = getenv("CASK_MEMORY");
	size_t b;
	if (env != NULL && cask_parse_size(env, &b) == 0 && b >= 65536)
		ctx->budget = b;
	ctx->task_bytes = (size_t)1 << 20;
	env = getenv("CASK_TASK_BYTES");
	if (env != NULL && cask_parse_size(env, &b) == 0)
		ctx->task_bytes = b;
	ctx->threads = omp_get_max_threads();
	if (ctx->threads < 1)
		ctx->threads = 1;
	*out = ctx;
	return 0;
}

void cask_ctx_destroy(cask_ctx_t *ctx)
{
	if (ctx != NULL && ctx->pool_free != NULL)
		ctx->pool_free(ctx->pool);
	free(ctx);
}

const char *cask_ctx_message(const cask_ctx_t *ctx)
{
	return ctx != NULL ? ctx->msg : "";
}

int cask_ctx_set_memory(cask_ctx_t *ctx, size_t bytes)
{
	if (ctx == NULL)
		return CASK_EINVAL;
	if (bytes < 65536)
		return cask__error(ctx, CASK_EINVAL, "memory budget %zu bytes is below the minimum of 64 KiB", bytes);
	ctx->budget = bytes;
	return 0;
}

size_t cask_ctx_memory(const cask_ctx_t *ctx) { return ctx != NULL ? ctx->budget : 0; }

int cask_ctx_set_task_bytes(cask_ctx_t *ctx, size_t bytes)
{
	if (ctx == NULL)
		return CASK_EINVAL;
	ctx->task_bytes = bytes;
	return 0;
}

size_t cask_ctx_task_bytes(const cask_ctx_t *ctx) { return ctx != NULL ? ctx->task_bytes : 0; }

int cask_ctx_set_io(cask_ctx_t *ctx, int lanes, int readahead, size_t chunk_cache)
{
	if (ctx == NULL)
		return CASK_EINVAL;
	if (lanes < 0 || readahead < 0)
		return cask__error(ctx, CASK_EINVAL, "I/O lanes (%d) and read-ahead (%d) must be >= 0",
		                   lanes, readahead);
	ctx->io_lanes = lanes;
	ctx->readahead = readahead;
	ctx->chunk_cache = chunk_cache;
	return 0;
}

int cask_ctx_set_threads(cask_ctx_t *ctx, int n)
{
	if (ctx == NULL)
		return CASK_EINVAL;
	if (n < 1 || n > 4096)
		return cask__error(ctx, CASK_EINVAL, "thread count %d is out of range 1..4096", n);
	ctx->threads = n;
	return 0;
}

int cask_ctx_threads(const cask_ctx_t *ctx) { return ctx != NULL ? ctx->threads : CASK_EINVAL; }

/* The setters without a return code below do nothing on a NULL context. */
void cask_ctx_set_allow_external(cask_ctx_t *ctx, int allow)
{
	if (ctx != NULL)
		ctx->allow_external = allow != 0;
}

void cask_ctx_set_progress(cask_ctx_t *ctx, cask_progress_fn fn, void *user)
{
	if (ctx == NULL)
		return;
	ctx->progress = fn;
	ctx->progress_user = user;
}

void cask_ctx_cancel(cask_ctx_t *ctx)
{
	if (ctx != NULL)
		ctx->cancel = 1;
}

void cask_ctx_stats(const cask_ctx_t *ctx, cask_stats_t *out)
{
	if (ctx == NULL || out == NULL)
		return;
	*out = ctx->stats;
	out->bytes_read = atomic_load(&((cask_ctx_t *)ctx)->bytes_read);
	out->bytes_written = atomic_load(&((cask_ctx_t *)ctx)->bytes_written);
	out->budget = ctx->budget;
}

void cask_ctx_reset_stats(cask_ctx_t *ctx)
{
	if (ctx == NULL)
		return;
	memset(&ctx->stats, 0, sizeof ctx->stats);
	atomic_store(&ctx->bytes_read, 0);
	atomic_store(&ctx->bytes_written, 0);
}

/* ---------------------------------------------------------------- dtypes */

static const struct {
	const char *name, *short_name;
	size_t size;
} dtypes[CASK_NDTYPES] = {
	[CASK_BOOL] = {"bool", "b1", 1},
	[CASK_INT8] = {"int8", "i1", 1},
	[CASK_INT16] = {"int16", "i2", 2},
	[CASK_INT32] = {"int32", "i4", 4},
	[CASK_INT64] = {"int64", "i8", 8},
	[CASK_UINT8] = {"uint8", "u1", 1},
	[CASK_UINT16] = {"uint16", "u2", 2},
	[CASK_UINT32] = {"uint32", "u4", 4},
	[CASK_UINT64] = {"uint64", "u8", 8},
	[CASK_FLOAT32] = {"float32", "f4", 4},
	[CASK_FLOAT64] = {"float64", "f8", 8},
};

size_t cask_dtype_size(cask_dtype_t t)
{
	return (unsigned)t < CASK_NDTYPES ? dtypes[t].size : 0;
}

const char *cask_dtype_name(cask_dtype_t t)
{
	return (unsigned)t < CASK_NDTYPES ? dtypes[t].name : "?";
}

int cask_dtype_parse(const char *s, cask_dtype_t *out)
{
	if (s == NULL || out == NULL)
		return CASK_EINVAL;
	for (int t = 0; t < CASK_NDTYPES; t++) {
		if (strcmp(s, dtypes[t].name) == 0 || strcmp(s, dtypes[t].short_name) == 0) {
			*out = (cask_dtype_t)t;
			return 0;
		}
	}
	static const struct { const char *s; cask_dtype_t t; } extra[] = {
		{"?", CASK_BOOL}, {"bool_", CASK_BOOL}, {"float", CASK_FLOAT64},
		{"double", CASK_FLOAT64}, {"single", CASK_FLOAT32}, {"int", CASK_INT64},
	};
	for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
		if (strcmp(s, extra[i].s) == 0) {
			*out = extra[i].t;
			return 0;
		}
	}
	return CASK_EINVAL;
}

static int is_signed(cask_dtype_t t) { return t >= CASK_INT8 && t <= CASK_INT64; }
static int is_unsigned(cask_dtype_t t) { return t >= CASK_UINT8 && t <= CASK_UINT64; }
static int is_float(cask_dtype_t t) { return t == CASK_FLOAT32 || t == CASK_FLOAT64; }

static cask_dtype_t signed_of_size(size_t sz)
{
	return sz <= 1 ? CASK_INT8 : sz == 2 ? CASK_INT16 : sz == 4 ? CASK_INT32 : CASK_INT64;
}

/* Smallest float that holds every value of an integer type exactly, as NumPy
 * (int8/uint8 -> float16 in NumPy; cask has no float16 and uses float32). */
static cask_dtype_t float_for_int(cask_dtype_t t)
{
	size_t sz = cask_dtype_size(t);
	return sz <= 2 ? CASK_FLOAT32 : CASK_FLOAT64;
}

cask_dtype_t cask_dtype_promote(cask_dtype_t a, cask_dtype_t b)
{
	if (a == b)
		return a;
	if (a == CASK_BOOL)
		return b;
	if (b == CASK_BOOL)
		return a;
	if (is_float(a) || is_float(b)) {
		if (is_float(a) && is_float(b))
			return CASK_FLOAT64;
		cask_dtype_t f = is_float(a) ? a : b, i = is_float(a) ? b : a;
		if (f == CASK_FLOAT64)
			return CASK_FLOAT64;
		return float_for_int(i) == CASK_FLOAT32 ? CASK_FLOAT32 : CASK_FLOAT64;
	}
	if (is_signed(a) == is_signed(b))
		return cask_dtype_size(a) >= cask_dtype_size(b) ? a : b;
	cask_dtype_t s = is_signed(a) ? a : b, u = is_signed(a) ? b : a;
	if (cask_dtype_size(s) > cask_dtype_size(u))
		return s;
	if (u == CASK_UINT64)
		return CASK_FLOAT64;
	return signed_of_size(cask_dtype_size(u) * 2);
}

int cask__dtype_is_float(cask_dtype_t t) { return is_float(t); }
int cask__dtype_is_signed(cask_dtype_t t) { return is_signed(t); }
int cask__dtype_is_unsigned(cask_dtype_t t) { return is_unsigned(t); }
