/*
 * common.h - what the `cask` subcommands share: exit codes, error output,
 * option parsing with the global options, dataset references, size / shape /
 * compression parsing, the context with signals, progress bar and --stats.
 *
 * Every subcommand is `int cli_cmd_NAME(int argc, char **argv)` with argv[0]
 * the command name; it returns the process exit status.  The CLI uses only
 * the public API (cask.h).  Internal names of the CLI use the cli_ prefix.
 */
#ifndef CLI_COMMON_H
#define CLI_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "cask.h"

/* Exit statuses (issue 3): 0 ok, 1 runtime error, 2 usage or expression
 * error; 128 + signal number after SIGINT / SIGTERM. */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_RUNTIME = 1,
	CLI_EXIT_USAGE = 2,
};

/* Print "cask: error: MSG\n" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "cask: warning: MSG\n" on stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A usage error of command cmd: prints the message and a pointer to
 * `cask CMD --help`; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- options */

typedef struct {
	size_t memory;  /* 0: the library default (or env CASK_MEMORY) */
	int threads;    /* 0: the library default (OMP_NUM_THREADS or all cores) */
	int stats;
	int progress;   /* -1 auto (on when stderr is a terminal and not -q), 0, 1 */
	int overwrite;
	int allow_external; /* --allow-external */
	int io_lanes;       /* --io-lanes (0: library default) */
	int readahead;      /* --readahead */
	size_t chunk_cache; /* --chunk-cache */
	int quiet;
	int help;
	int version;
} cli_global_t;

typedef struct {
	const char *name; /* long name without "--" (NULL if none) */
	char short_name;  /* 0 if none */
	int has_arg;
	int id;           /* passed to the callback */
} cli_option_t;

/* Handle a command option; arg is NULL for options without argument.
 * Return 0, or an exit status after printing the error. */
typedef int (*cli_option_fn)(void *user, int id, const char *arg);

/* Parse argv[1..argc-1] of command cmd: the command's options (table opts,
 * ended by an entry with name NULL and short_name 0), the global options,
 * and positional arguments (stored in pos, at most maxpos).  "--" ends the
 * options; "-" alone and arguments starting with "-" followed by a digit or
 * "." are positional (negative numbers).  Long options take their argument
 * as --name=value or as the next word.  Returns 0 or an exit status (usage
 * errors printed). */
int cli_parse_args(const char *cmd, int argc, char **argv, const cli_option_t *opts,
                   cli_option_fn fn, void *user, cli_global_t *g, const char **pos,
                   int *npos, int maxpos);

/* Print the global options section of a help page. */
void cli_help_global(void);

/* ---- values */

/* A dataset reference PATH:/DSET, split at the LAST ":/" (so a file name may
 * contain ":/" but a dataset name may not).  need_dset: a reference without
 * ":/" is an error; otherwise *dset is NULL.  *path and *dset are malloc'd
 * (caller frees).  Returns 0 or CLI_EXIT_USAGE (printed, naming what). */
int cli_parse_dsref(const char *cmd, const char *what, const char *s, int need_dset, char **path,
                    char **dset);
/* Dimensions "D0,D1,..." (also with spaces, "x" separators or parentheses;
 * "" or "()" is 0-d).  Each value >= min.  Returns 0 or CLI_EXIT_USAGE. */
int cli_parse_dims(const char *cmd, const char *what, const char *s, int64_t min,
                   int64_t *dims, int *ndim);
/* "gzip" (level 4, as h5py), "gzip=LEVEL" (0..9), "none" (-1).  Returns 0 or
 * CLI_EXIT_USAGE. */
int cli_parse_compress(const char *cmd, const char *s, int *level);
/* An integer in [min, max].  Returns 0 or CLI_EXIT_USAGE. */
int cli_parse_int(const char *cmd, const char *what, const char *s, int64_t min, int64_t max,
                  int64_t *out);
/* A dtype name as cask_dtype_parse, with a usage error listing the names. */
int cli_parse_dtype(const char *cmd, const char *s, cask_dtype_t *out);

/* Levenshtein distance of a and b, capped at 100. */
int cli_edit_distance(const char *a, const char *b);
/* "1.5 GiB" style (powers of 1024). */
void cli_format_bytes(uint64_t n, char *buf, size_t size);
/* "(3, 4)" / "(5,)" / "()" as NumPy prints a shape. */
void cli_format_shape(int ndim, const int64_t *shape, char *buf, size_t size);

/* ---- context, signals, progress, stats */

/* Create the context from the global options: budget, threads, progress
 * bar, and SIGINT / SIGTERM handlers that cancel the running call.  Returns
 * 0 or an exit status (printed). */
int cli_ctx_open(const cli_global_t *g, cask_ctx_t **out);
/* Print --stats if asked, restore the signal handlers, destroy the ctx. */
void cli_ctx_close(const cli_global_t *g, cask_ctx_t *ctx);
/* End the progress bar line, if one is showing (before other output). */
void cli_progress_done(void);

/* Report a library failure: "cask: error: WHAT: MESSAGE" (the context's
 * message, or cask_strerror(rc)).  Returns the exit status: 128 + signal
 * after an interrupt, else CLI_EXIT_RUNTIME. */
int cli_lib_error(cask_ctx_t *ctx, int rc, const char *what, ...)
	__attribute__((format(printf, 3, 4)));
/* The final exit status: code, unless a signal arrived (then 128 + signal;
 * if code was 0 the command completed anyway, and a line on stderr says so). */
int cli_exit_status(int code);

/* ---- subcommands (the ones of other issues are weak: absent from a build
 * that lacks their file, and main reports them as not available). */
int cli_cmd_info(int argc, char **argv);
int cli_cmd_create(int argc, char **argv);
int cli_cmd_eval(int argc, char **argv);
int cli_cmd_filter(int argc, char **argv) __attribute__((weak));
int cli_cmd_export(int argc, char **argv) __attribute__((weak));
int cli_cmd_qr(int argc, char **argv) __attribute__((weak));
int cli_cmd_svd(int argc, char **argv) __attribute__((weak));
int cli_cmd_lstsq(int argc, char **argv) __attribute__((weak));

#endif
