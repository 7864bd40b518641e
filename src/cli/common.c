/*
 * common.c - shared pieces of the `cask` subcommands (see common.h): error
 * output, option parsing, value parsing, the context with its signal
 * handlers, the progress bar and the --stats report.
 *
 * Signals: one context is live at a time (g_ctx).  The first SIGINT or
 * SIGTERM stores the signal number and calls cask_ctx_cancel() (a flag
 * store, async-signal-safe); the running library call then returns
 * CASK_ECANCELED, its output is discarded by the library, and the command
 * exits with 128 + signal.  The handler also restores the default action, so
 * a second Ctrl-C kills the process at once.
 */
#include "common.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- messages */

void cli_error(const char *fmt, ...)
{
	va_list ap;

	cli_progress_done();
	fputs("cask: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	cli_progress_done();
	fputs("cask: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	cli_progress_done();
	fputs("cask: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cmd)
		fprintf(stderr, "\nTry 'cask %s --help' for more information.\n", cmd);
	else
		fprintf(stderr, "\nTry 'cask --help' for more information.\n");
	return CLI_EXIT_USAGE;
}

/* ------------------------------------------------------------- options */

enum {
	G_MEMORY = -100, G_THREADS, G_STATS, G_PROGRESS, G_NO_PROGRESS, G_OVERWRITE, G_QUIET,
	G_HELP, G_VERSION, G_ALLOW_EXTERNAL, G_IO_LANES, G_READAHEAD, G_CHUNK_CACHE
};

static const cli_option_t global_opts[] = {
	{ "memory", 0, 1, G_MEMORY },
	{ "threads", 0, 1, G_THREADS },
	{ "stats", 0, 0, G_STATS },
	{ "progress", 0, 0, G_PROGRESS },
	{ "no-progress", 0, 0, G_NO_PROGRESS },
	{ "overwrite", 0, 0, G_OVERWRITE },
	{ "allow-external", 0, 0, G_ALLOW_EXTERNAL },
	{ "io-lanes", 0, 1, G_IO_LANES },
	{ "readahead", 0, 1, G_READAHEAD },
	{ "chunk-cache", 0, 1, G_CHUNK_CACHE },
	{ "quiet", 'q', 0, G_QUIET },
	{ "help", 'h', 0, G_HELP },
	{ "version", 0, 0, G_VERSION },
	{ NULL, 0, 0, 0 },
};

void cli_help_global(void)
{
	printf("GLOBAL OPTIONS\n"
	       "       --memory SIZE\n"
	       "              Memory budget for all chunk buffers, partial results and caches\n"
	       "              (K, M, G, T suffixes, powers of 1024).  Default: env CASK_MEMORY,\n"
	       "              else a quarter of the physical memory.  An uncompressed stored\n"
	       "              chunk larger than a quarter of it is read in parts; a compressed\n"
	       "              chunk is decoded whole, so the budget must hold one.\n"
	       "       --threads N\n"
	       "              Worker threads (default: OMP_NUM_THREADS, else all cores).\n"
	       "       --stats\n"
	       "              After the run, print on stderr: tasks, bytes read and written,\n"
	       "              peak memory in the budget, wall time, I/O and compute time.\n"
	       "       --progress, --no-progress\n"
	       "              Show (or hide) a progress bar with rate and ETA on stderr (default:\n"
	       "              shown when stderr is a terminal).\n"
	       "       --overwrite\n"
	       "              Replace an existing output dataset.\n"
	       "       --allow-external\n"
	       "              Follow external links and read external raw storage of input\n"
	       "              files (refused by default: a file from elsewhere must not make\n"
	       "              cask read other paths).\n"
	       "       --io-lanes N\n"
	       "              Chunk reads in flight at once (default 0: one per thread; 1 for a\n"
	       "              spinning disk or a file system that wants one stream).\n"
	       "       --readahead N\n"
	       "              Tasks (each reads its chunks) that may start ahead of the earliest\n"
	       "              unstarted one (default 0: as far as the memory budget allows).\n"
	       "       --chunk-cache SIZE\n"
	       "              HDF5 chunk cache per input dataset, counted in the budget (default\n"
	       "              0: cask reads whole chunks itself; helps regions that cut compressed\n"
	       "              chunks, e.g. a rechunk to a misaligned grid).\n"
	       "       -q, --quiet\n"
	       "              No progress bar and no summary line; only errors.\n"
	       "       -h, --help\n"
	       "              Show this page.\n"
	       "       --version\n"
	       "              Show the version.\n\n");
}

static const cli_option_t *find_long(const cli_option_t *opts, const char *name, size_t len)
{
	for (; opts->name || opts->short_name; opts++)
		if (opts->name && strlen(opts->name) == len && strncmp(opts->name, name, len) == 0)
			return opts;
	return NULL;
}

static const cli_option_t *find_short(const cli_option_t *opts, char c)
{
	for (; opts->name || opts->short_name; opts++)
		if (opts->short_name == c)
			return opts;
	return NULL;
}

/* The closest long option name, for "did you mean". */
static const char *closest_option(const cli_option_t *opts, const char *name, size_t len)
{
	const cli_option_t *tables[2] = { opts, global_opts };
	const char *best = NULL;
	int bestd = 3, t;
	char buf[64];

	if (len >= sizeof buf)
		return NULL;
	memcpy(buf, name, len);
	buf[len] = '\0';
	for (t = 0; t < 2; t++) {
		const cli_option_t *o;

		for (o = tables[t]; o->name || o->short_name; o++) {
			int d;

			if (!o->name)
				continue;
			d = cli_edit_distance(buf, o->name);
			if (d < bestd) {
				bestd = d;
				best = o->name;
			}
		}
	}
	return best;
}

static int global_option(const char *cmd, cli_global_t *g, int id, const char *arg)
{
	int64_t v = 0;

	switch (id) {
	case G_MEMORY:
		if (cask_parse_size(arg, &g->memory) < 0 || g->memory == 0)
			return cli_usage_error(cmd, "invalid --memory '%s' (expected a size such as "
			                            "512M or 2G)", arg);
		return 0;
	case G_THREADS:
		if (cli_parse_int(cmd, "--threads", arg, 1, 4096, &v))
			return CLI_EXIT_USAGE;
		g->threads = (int)v;
		return 0;
	case G_STATS: g->stats = 1; return 0;
	case G_PROGRESS: g->progress = 1; return 0;
	case G_NO_PROGRESS: g->progress = 0; return 0;
	case G_OVERWRITE: g->overwrite = 1; return 0;
	case G_ALLOW_EXTERNAL: g->allow_external = 1; return 0;
	case G_IO_LANES:
		if (cli_parse_int(cmd, "--io-lanes", arg, 0, 4096, &v))
			return CLI_EXIT_USAGE;
		g->io_lanes = (int)v;
		return 0;
	case G_READAHEAD:
		if (cli_parse_int(cmd, "--readahead", arg, 0, INT32_MAX, &v))
			return CLI_EXIT_USAGE;
		g->readahead = (int)v;
		return 0;
	case G_CHUNK_CACHE:
		if (cask_parse_size(arg, &g->chunk_cache) < 0)
			return cli_usage_error(cmd, "invalid --chunk-cache '%s' (expected a size such as "
			                            "0, 64M or 1G)", arg);
		return 0;
	case G_QUIET: g->quiet = 1; return 0;
	case G_HELP: g->help = 1; return 0;
	case G_VERSION: g->version = 1; return 0;
	default: return CLI_EXIT_USAGE;
	}
}

static int is_negative_number(const char *s)
{
	return s[0] == '-' && ((s[1] >= '0' && s[1] <= '9') || s[1] == '.');
}

int cli_parse_args(const char *cmd, int argc, char **argv, const cli_option_t *opts,
                   cli_option_fn fn, void *user, cli_global_t *g, const char **pos,
                   int *npos, int maxpos)
{
	int i, rc, only_pos = 0;

	*npos = 0;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		const cli_option_t *o;
		int is_global = 0;
		char label[80];

		if (only_pos || a[0] != '-' || a[1] == '\0' || is_negative_number(a)) {
			if (*npos >= maxpos)
				return cli_usage_error(cmd, "unexpected argument '%s'", a);
			pos[(*npos)++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_pos = 1;
			continue;
		}
		if (a[1] == '-') {
			const char *name = a + 2, *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);

			o = find_long(opts, name, len);
			if (!o) {
				o = find_long(global_opts, name, len);
				is_global = 1;
			}
			if (!o) {
				const char *sug = closest_option(opts, name, len);

				if (sug)
					return cli_usage_error(cmd, "unknown option '--%.*s' (did you mean "
					                            "'--%s'?)", (int)len, name, sug);
				return cli_usage_error(cmd, "unknown option '--%.*s'", (int)len, name);
			}
			snprintf(label, sizeof label, "--%s", o->name);
			if (eq) {
				if (!o->has_arg)
					return cli_usage_error(cmd, "option '%s' takes no value", label);
				val = eq + 1;
			}
		} else {
			o = find_short(opts, a[1]);
			if (!o) {
				o = find_short(global_opts, a[1]);
				is_global = 1;
			}
			if (!o) {
				if (strcmp(cmd, "eval") == 0)
					return cli_usage_error(cmd, "unknown option '%s' (to evaluate an "
					                            "expression that starts with '-', put "
					                            "'--' before it)", a);
				return cli_usage_error(cmd, "unknown option '%s'", a);
			}
			snprintf(label, sizeof label, "-%c", a[1]);
			if (a[2] != '\0') {
				if (!o->has_arg)
					return cli_usage_error(cmd, "unknown option '%s'", a);
				val = a + 2;
			}
		}
		if (o->has_arg && !val) {
			if (i + 1 >= argc)
				return cli_usage_error(cmd, "option '%s' needs a value", label);
			val = argv[++i];
		}
		if (is_global)
			rc = global_option(cmd, g, o->id, val);
		else
			rc = fn(user, o->id, val);
		if (rc)
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------------- values */

int cli_parse_dsref(const char *cmd, const char *what, const char *s, int need_dset, char **path,
                    char **dset)
{
	const char *split = NULL, *p = s;
	char *fp = NULL, *dp = NULL;

	while ((p = strstr(p, ":/")) != NULL) {
		split = p;
		p++;
	}
	if (!split) {
		if (need_dset)
			return cli_usage_error(cmd, "%s '%s' is not a dataset reference: write "
			                            "PATH:/DATASET (e.g. data.h5:/x)", what, s);
		fp = strdup(s);
	} else {
		fp = strndup(s, (size_t)(split - s));
		dp = strdup(split + 1);
		if (dp && (dp[1] == '\0' || dp[strlen(dp) - 1] == '/')) {
			free(fp);
			free(dp);
			return cli_usage_error(cmd, "%s '%s': the dataset name after ':/' is empty or "
			                            "ends with '/'", what, s);
		}
	}
	if (!fp || (split && !dp)) {
		free(fp);
		free(dp);
		cli_error("out of memory");
		return CLI_EXIT_RUNTIME;
	}
	if (fp[0] == '\0') {
		free(fp);
		free(dp);
		return cli_usage_error(cmd, "%s '%s': the file name is empty", what, s);
	}
	*path = fp;
	*dset = dp;
	return 0;
}

int cli_parse_dims(const char *cmd, const char *what, const char *s, int64_t min,
                   int64_t *dims, int *ndim)
{
	const char *p = s;
	int n = 0, paren = 0;

	while (*p == ' ')
		p++;
	if (*p == '(') {
		paren = 1;
		p++;
	}
	while (1) {
		char *end;
		long long v;

		while (*p == ' ')
			p++;
		if ((*p == '\0' && !paren) || (*p == ')' && paren))
			break;
		if (n >= CASK_MAX_DIMS)
			return cli_usage_error(cmd, "%s '%s': more than %d dimensions", what, s,
			                       CASK_MAX_DIMS);
		if (!(*p >= '0' && *p <= '9') && *p != '-')
			goto bad;
		errno = 0;
		v = strtoll(p, &end, 10);
		if (end == p || errno == ERANGE)
			goto bad;
		if (v < min)
			return cli_usage_error(cmd, "%s '%s': each value must be at least %" PRId64, what,
			                       s, min);
		dims[n++] = (int64_t)v;
		p = end;
		while (*p == ' ')
			p++;
		if (*p == ',' || *p == 'x') {
			p++;
			continue;
		}
		if ((*p == '\0' && !paren) || (*p == ')' && paren))
			break;
		goto bad;
	}
	if (paren) {
		p++;
		while (*p == ' ')
			p++;
		if (*p != '\0')
			goto bad;
	}
	*ndim = n;
	return 0;
bad:
	return cli_usage_error(cmd, "%s '%s': expected comma-separated integers such as 1000,200",
	                       what, s);
}

int cli_parse_compress(const char *cmd, const char *s, int *level)
{
	if (strcmp(s, "none") == 0) {
		*level = -1;
		return 0;
	}
	if (strcmp(s, "gzip") == 0 || strcmp(s, "deflate") == 0) {
		*level = 4; /* h5py's default gzip level */
		return 0;
	}
	if (strncmp(s, "gzip=", 5) == 0 && s[5] >= '0' && s[5] <= '9' && s[6] == '\0') {
		*level = s[5] - '0';
		return 0;
	}
	return cli_usage_error(cmd, "invalid --compress '%s' (expected gzip, gzip=LEVEL with LEVEL "
	                            "0..9, or none)", s);
}

int cli_parse_int(const char *cmd, const char *what, const char *s, int64_t min, int64_t max,
                  int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || *end != '\0' || errno == ERANGE || v < min || v > max)
		return cli_usage_error(cmd, "invalid %s '%s' (expected an integer from %" PRId64
		                            " to %" PRId64 ")", what, s, min, max);
	*out = (int64_t)v;
	return 0;
}

int cli_parse_dtype(const char *cmd, const char *s, cask_dtype_t *out)
{
	if (cask_dtype_parse(s, out) == 0)
		return 0;
	return cli_usage_error(cmd, "unknown dtype '%s' (expected one of bool i1 i2 i4 i8 u1 u2 u4 "
	                            "u8 f4 f8, or int8 .. uint64, float32, float64)", s);
}

int cli_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	int row[65];

	if (la > 64 || lb > 64)
		return 100;
	for (j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (i = 1; i <= la; i++) {
		int diag = row[0];

		row[0] = (int)i;
		for (j = 1; j <= lb; j++) {
			int up = row[j], best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb] > 100 ? 100 : row[lb];
}

void cli_format_bytes(uint64_t n, char *buf, size_t size)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)n;
	int u = -1;

	if (n < 1024) {
		snprintf(buf, size, "%" PRIu64 " B", n);
		return;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, "%.1f %s", v, units[u]);
}

void cli_format_shape(int ndim, const int64_t *shape, char *buf, size_t size)
{
	size_t len = 0;
	int d;

	len += (size_t)snprintf(buf, size, "(");
	for (d = 0; d < ndim && len < size; d++)
		len += (size_t)snprintf(buf + len, size - len, d ? ", %" PRId64 : "%" PRId64,
		                        shape[d]);
	if (len < size)
		snprintf(buf + len, size - len, ndim == 1 ? ",)" : ")");
}

/* ------------------------------------------------------------- context */

static cask_ctx_t *volatile g_ctx;
static volatile sig_atomic_t g_signal;
static struct sigaction g_old_int, g_old_term;
static int g_handlers_installed;

static void on_signal(int sig)
{
	struct sigaction dfl;

	if (!g_signal)
		g_signal = sig;
	if (g_ctx)
		cask_ctx_cancel(g_ctx);
	/* A second signal takes the default action (ends the process). */
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigaction(sig, &dfl, NULL);
}

typedef struct {
	int shown;       /* a bar is on the current stderr line */
	double start;    /* monotonic seconds at the first callback */
	double last;     /* last redraw */
	int64_t last_done;
} progress_t;

static progress_t g_progress;

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void format_duration(double s, char *buf, size_t size)
{
	long t;

	if (!(s >= 0) || s > 360000) {
		snprintf(buf, size, "--:--");
		return;
	}
	t = (long)(s + 0.5);
	if (t >= 3600)
		snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

/* The progress callback: redraw "[#####.....]  45%  123/456 tasks  12.3/s  ETA 0:12". */
static int on_progress(void *user, int64_t done, int64_t total)
{
	progress_t *p = user;
	double t = now_seconds(), el, rate;
	char eta[32];
	int pct, width = 30, fill, i;
	char bar[64];

	if (g_signal)
		return 1;
	if (p->start == 0 || done < p->last_done) {
		p->start = t;
		p->last = 0;
	}
	p->last_done = done;
	if (done < total && t - p->last < 0.1)
		return 0;
	p->last = t;
	el = t - p->start;
	rate = el > 0 ? (double)done / el : 0;
	pct = total > 0 ? (int)((double)done * 100.0 / (double)total) : 100;
	if (pct > 100)
		pct = 100;
	fill = pct * width / 100;
	for (i = 0; i < width; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[width] = '\0';
	if (done >= total)
		format_duration(el, eta, sizeof eta);
	else
		format_duration(rate > 0 ? (double)(total - done) / rate : -1, eta, sizeof eta);
	fprintf(stderr, "\r[%s] %3d%%  %" PRId64 "/%" PRId64 " tasks  %.1f/s  %s %s\033[K", bar,
	        pct, done, total, rate, done >= total ? "in" : "ETA", eta);
	fflush(stderr);
	p->shown = 1;
	return 0;
}

void cli_progress_done(void)
{
	if (g_progress.shown) {
		fputc('\n', stderr);
		g_progress.shown = 0;
	}
	g_progress.start = 0;
	g_progress.last_done = 0;
}

int cli_ctx_open(const cli_global_t *g, cask_ctx_t **out)
{
	cask_ctx_t *ctx = NULL;
	size_t mem = g->memory;
	const char *env = getenv("CASK_MEMORY");
	int rc, progress;
	struct sigaction sa;

	if (!mem && env && *env && (cask_parse_size(env, &mem) < 0 || mem == 0)) {
		cli_error("invalid CASK_MEMORY '%s' (expected a size such as 512M or 2G)", env);
		return CLI_EXIT_USAGE;
	}
	rc = cask_ctx_create(&ctx);
	if (rc < 0) {
		cli_error("cannot create the context: %s", cask_strerror(rc));
		return CLI_EXIT_RUNTIME;
	}
	if (mem && (rc = cask_ctx_set_memory(ctx, mem)) < 0) {
		/* name where the size came from: the option, or the environment */
		cli_error("%s: %s", g->memory ? "--memory" : "CASK_MEMORY",
		          *cask_ctx_message(ctx) ? cask_ctx_message(ctx) : cask_strerror(rc));
		cask_ctx_destroy(ctx);
		return CLI_EXIT_USAGE;
	}
	if (g->threads && (rc = cask_ctx_set_threads(ctx, g->threads)) < 0) {
		cli_error("--threads: %s", *cask_ctx_message(ctx) ? cask_ctx_message(ctx)
		                                                   : cask_strerror(rc));
		cask_ctx_destroy(ctx);
		return CLI_EXIT_USAGE;
	}
	cask_ctx_set_allow_external(ctx, g->allow_external);
	if ((rc = cask_ctx_set_io(ctx, g->io_lanes, g->readahead, g->chunk_cache)) < 0) {
		cli_error("%s", cask_ctx_message(ctx));
		cask_ctx_destroy(ctx);
		return CLI_EXIT_USAGE;
	}
	progress = g->progress;
	if (progress < 0)
		progress = !g->quiet && isatty(STDERR_FILENO);
	memset(&g_progress, 0, sizeof g_progress);
	if (progress)
		cask_ctx_set_progress(ctx, on_progress, &g_progress);

	g_ctx = ctx;
	g_signal = 0;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &g_old_int);
	sigaction(SIGTERM, &sa, &g_old_term);
	g_handlers_installed = 1;
	*out = ctx;
	return 0;
}

static void print_stats(cask_ctx_t *ctx)
{
	cask_stats_t st;
	char r[32], w[32], pk[32], bd[32];

	cask_ctx_stats(ctx, &st);
	cli_format_bytes(st.bytes_read, r, sizeof r);
	cli_format_bytes(st.bytes_written, w, sizeof w);
	cli_format_bytes(st.peak_memory, pk, sizeof pk);
	cli_format_bytes(st.budget, bd, sizeof bd);
	fprintf(stderr,
	        "cask: stats: tasks        %" PRId64 " run of %" PRId64 "\n"
	        "cask: stats: read         %s (%" PRIu64 " bytes)\n"
	        "cask: stats: written      %s (%" PRIu64 " bytes)\n"
	        "cask: stats: peak memory  %s of a %s budget (%.1f%%)\n"
	        "cask: stats: wall time    %.3f s\n"
	        "cask: stats: I/O time     %.3f thread-s\n"
	        "cask: stats: compute time %.3f thread-s\n"
	        "cask: stats: threads      %d\n",
	        st.tasks_run, st.tasks_total, r, st.bytes_read, w, st.bytes_written, pk, bd,
	        st.budget ? 100.0 * (double)st.peak_memory / (double)st.budget : 0.0,
	        st.wall_seconds, st.io_seconds, st.compute_seconds, cask_ctx_threads(ctx));
}

void cli_ctx_close(const cli_global_t *g, cask_ctx_t *ctx)
{
	cli_progress_done();
	if (!ctx)
		return;
	if (g->stats)
		print_stats(ctx);
	if (g_handlers_installed) {
		/* Keep a pending signal's exit status: only the handlers go. */
		sigaction(SIGINT, &g_old_int, NULL);
		sigaction(SIGTERM, &g_old_term, NULL);
		g_handlers_installed = 0;
	}
	g_ctx = NULL;
	cask_ctx_destroy(ctx);
}

int cli_exit_status(int code)
{
	if (g_signal) {
		cli_progress_done();
		/* The signal came after the library's last check for cancellation:
		 * the command did all its work (an output was committed), but the
		 * exit status still reports the signal, so say what happened. */
		if (code == CLI_EXIT_OK)
			fputs("cask: interrupted after the command had completed "
			      "(its output is complete)\n", stderr);
		return 128 + g_signal;
	}
	return code;
}

int cli_lib_error(cask_ctx_t *ctx, int rc, const char *what, ...)
{
	const char *msg = ctx ? cask_ctx_message(ctx) : "";
	va_list ap;

	cli_progress_done();
	if (g_signal || rc == CASK_ECANCELED) {
		fprintf(stderr, "cask: interrupted%s\n",
		        g_signal ? "" : " (cancelled)");
		return g_signal ? 128 + g_signal : CLI_EXIT_RUNTIME;
	}
	char head[1024];
	va_start(ap, what);
	vsnprintf(head, sizeof head, what, ap);
	va_end(ap);
	if (!(msg && *msg))
		msg = cask_strerror(rc);
	/* A library message that already starts with the name is not prefixed
	 * twice; an empty name is no prefix. */
	size_t hl = strlen(head);
	/* The library's "overwrite is off" is the command's --overwrite. */
	const char *off = rc == CASK_EEXIST ? strstr(msg, "overwrite is off") : NULL;
	int ml = off != NULL ? (int)(off - msg) : (int)strlen(msg);
	const char *tail = off != NULL ? off + strlen("overwrite is off") : "";
	const char *hint = off != NULL ? "use --overwrite" : "";
	if (hl == 0 || (strncmp(msg, head, hl) == 0 && msg[hl] == ':'))
		fprintf(stderr, "cask: error: %.*s%s%s\n", ml, msg, hint, tail);
	else
		fprintf(stderr, "cask: error: %s: %.*s%s%s\n", head, ml, msg, hint, tail);
	return CLI_EXIT_RUNTIME;
}
