/*
 * main.c - the `cask` command: finds the subcommand and runs it.
 *
 * Global options may come before or after the subcommand (`cask --memory 1G
 * eval ...` and `cask eval ... --memory 1G` are the same): main moves the
 * ones before it behind the subcommand name, and each subcommand parses all
 * of them with cli_parse_args().
 *
 * The subcommand runs in a child process under a supervisor (supervise.c),
 * so that a crash inside libhdf5 on a corrupt file still ends with a
 * "cask: error:" line and exit status 1; CASK_NO_SUPERVISOR=1 runs it here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/resource.h>

#include "common.h"
#include "supervise.h"

typedef struct {
	const char *name;
	int (*fn)(int argc, char **argv); /* NULL: not in this build */
} command_t;

static void main_help(FILE *f)
{
	fprintf(f,
	        "NAME\n"
	        "       cask - out-of-core arrays on HDF5: inspect, create, evaluate\n\n"
	        "SYNOPSIS\n"
	        "       cask [GLOBAL OPTIONS] COMMAND [ARGS...]\n"
	        "       cask COMMAND --help\n\n"
	        "DESCRIPTION\n"
	        "       cask evaluates NumPy-style array expressions over HDF5 datasets larger\n"
	        "       than memory, chunk by chunk, in parallel, under a memory budget.\n"
	        "       Datasets are named PATH:/DATASET, e.g. data.h5:/group/x.\n\n"
	        "COMMANDS\n"
	        "       info      list the datasets of a file: shape, dtype, chunks, filters, size\n"
	        "       create    make a dataset filled with zeros, ones, a value, arange or\n"
	        "                 random numbers\n"
	        "       eval      evaluate an expression; print the result or store it with -o\n"
	        "       filter    apply one image filter (gaussian, sobel, median, ...)\n"
	        "       export    write a 2-d dataset as a PNG image\n"
	        "       qr, svd, lstsq\n"
	        "                 tall-skinny QR, SVD and least squares\n\n"
	        "EXAMPLES\n"
	        "       cask create data.h5:/x --shape 4000,3000 --fill random --seed 1\n"
	        "       cask info data.h5\n"
	        "       cask eval -i x=data.h5:/x 'mean(x, axis=0)[:5]'\n"
	        "       cask eval -i x=data.h5:/x 'x - mean(x, axis=0)' -o out.h5:/centred\n\n"
	        "ENVIRONMENT\n"
	        "       CASK_MEMORY\n"
	        "              Default memory budget when --memory is not given.\n"
	        "       OMP_NUM_THREADS\n"
	        "              Default number of worker threads.\n"
	        "       OPENBLAS_NUM_THREADS\n"
	        "              Set to 1 by cask itself (it re-executes once) when unset and\n"
	        "              the address space is limited (ulimit -v or -d).\n"
	        "       CASK_NO_SUPERVISOR\n"
	        "              Set to 1 to run the command in the cask process itself.  By\n"
	        "              default it runs in a child process that cask supervises, so\n"
	        "              that a crash while reading a corrupt file (inside the HDF5\n"
	        "              library) ends with a clear error, exit status 1 and no\n"
	        "              temporary file left; use it under a debugger or to get a\n"
	        "              core file of such a crash.\n"
	        "       CASK_FSYNC\n"
	        "              Set to 0 to skip the fsync of outputs at the end (they are\n"
	        "              still renamed into place whole; only durability across a\n"
	        "              power loss is given up).\n"
	        "       CASK_DIRECT\n"
	        "              Output chunks of 1 MiB or more (whole, or runs of their\n"
	        "              rows) are written past the page cache (O_DIRECT) when\n"
	        "              outputs are fsynced; 1 or 0 forces that on or off.\n\n"
	        "EXIT STATUS\n"
	        "       0 success, 1 runtime error (also when the command crashed or was\n"
	        "       killed by the out-of-memory killer), 2 usage or expression error,\n"
	        "       130 / 143 interrupted by SIGINT / SIGTERM.\n\n");
	if (f == stdout)
		cli_help_global();
}

static int takes_value(const char *a)
{
	return strcmp(a, "--memory") == 0 || strcmp(a, "--threads") == 0 ||
	       strcmp(a, "--io-lanes") == 0 || strcmp(a, "--readahead") == 0 ||
	       strcmp(a, "--chunk-cache") == 0;
}

/* cask runs one BLAS thread per task (linalg/ sets it before its tasks), so
 * OpenBLAS's own thread pool is never used; but OpenBLAS starts it when the
 * library loads, before main, reserving memory per thread, and under a
 * tight address-space limit (`ulimit -v`, or `ulimit -d`, which also caps
 * mappings) that pool can spin retrying its buffer and hang the exit (seen
 * on the machine of November 2026, not reproduced on later ones).  So
 * under such a limit, without OPENBLAS_NUM_THREADS in the environment, set
 * it to 1 and re-execute once (a failed exec just carries on).  Without a
 * limit the idle pool costs nothing, and the re-execution (~25 ms of start-
 * up) is skipped. */
static void single_blas_thread(char **argv)
{
	struct rlimit as, data;
	if (getenv("OPENBLAS_NUM_THREADS") != NULL)
		return;
	if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur == RLIM_INFINITY &&
	    getrlimit(RLIMIT_DATA, &data) == 0 && data.rlim_cur == RLIM_INFINITY)
		return;
	if (setenv("OPENBLAS_NUM_THREADS", "1", 1) != 0)
		return;
	execv("/proc/self/exe", argv);
}

int main(int argc, char **argv)
{
	single_blas_thread(argv);
	/* Not static: the weak subcommands are NULL when their file is not in
	 * the build. */
	const command_t commands[] = {
		{ "info", cli_cmd_info }, { "create", cli_cmd_create }, { "eval", cli_cmd_eval },
		{ "filter", cli_cmd_filter }, { "export", cli_cmd_export }, { "qr", cli_cmd_qr },
		{ "svd", cli_cmd_svd }, { "lstsq", cli_cmd_lstsq },
	};
	const int ncommands = (int)(sizeof commands / sizeof commands[0]);
	int (*fn)(int, char **) = NULL;
	const char *best = NULL;
	char **args = NULL;
	int i, k, ci = -1, bestd = 3, rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (argv[i][0] != '-') {
			ci = i;
			break;
		}
		if (takes_value(argv[i]))
			i++;
	}
	if (ci < 0) {
		for (i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--version") == 0) {
				printf("cask %s\n", CASK_VERSION_STRING);
				return CLI_EXIT_OK;
			}
			if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
				main_help(stdout);
				return CLI_EXIT_OK;
			}
		}
		main_help(stderr);
		return CLI_EXIT_USAGE;
	}
	for (k = 0; k < ncommands; k++) {
		if (strcmp(argv[ci], commands[k].name) == 0) {
			fn = commands[k].fn;
			break;
		}
		if (cli_edit_distance(argv[ci], commands[k].name) < bestd) {
			bestd = cli_edit_distance(argv[ci], commands[k].name);
			best = commands[k].name;
		}
	}
	if (k == ncommands) {
		if (best)
			return cli_usage_error(NULL, "unknown command '%s' (did you mean '%s'?)", argv[ci],
			                       best);
		return cli_usage_error(NULL, "unknown command '%s'", argv[ci]);
	}
	if (!fn) {
		cli_error("the '%s' command is not available in this build", argv[ci]);
		return CLI_EXIT_USAGE;
	}
	/* argv for the command: its name, then the global options that came
	 * before it, then the rest. */
	args = malloc(((size_t)argc + 1) * sizeof *args);
	if (!args) {
		cli_error("out of memory");
		return CLI_EXIT_RUNTIME;
	}
	k = 0;
	args[k++] = argv[ci];
	for (i = 1; i < ci; i++)
		args[k++] = argv[i];
	for (i = ci + 1; i < argc; i++)
		args[k++] = argv[i];
	args[k] = NULL;
	/* A crash inside libhdf5 on a corrupt file must not take the command
	 * down silently: the command runs in a supervised child (supervise.c);
	 * the parent gets its exit status here. */
	rc = cli_supervise(argv[ci], k, args);
	if (rc >= 0) {
		free(args);
		return rc;
	}
	rc = fn(k, args);
	free(args);
	if (fflush(stdout) != 0 && rc == CLI_EXIT_OK) {
		cli_error("cannot write the output");
		rc = CLI_EXIT_RUNTIME;
	}
	return rc;
}
