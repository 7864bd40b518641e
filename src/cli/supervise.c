/*
 * supervise.c - the `cask` command survives a crash of the code it runs.
 *
 * HDF5 1.10 is not memory-safe on corrupt files (tests/fuzz/regress/: an
 * invalid free in H5Ovisit, a heap overflow in H5O_msg_read_oh, an 8 GiB
 * allocation in H5T_copy), so a crafted input can crash any process that
 * reads it.  main() therefore runs the subcommand in a forked child and the
 * parent only supervises:
 *
 *   parent (supervisor)                 child (the command, as before)
 *   blocks INT TERM HUP QUIT TSTP        own process group, PR_SET_PDEATHSIG
 *   CONT CHLD, fork() ----------------->  = SIGKILL, original signal mask;
 *   sigwaitinfo() loop:                   parses, opens, computes, writes
 *     INT TERM HUP QUIT -> kill(child)    through transactions (src/io.c),
 *     TSTP -> stop child, stop self       exits 0 / 1 / 2 / 128+sig
 *     CONT -> continue child
 *     CHLD -> has it ended? <------------ exit or death by a signal
 *
 * When the child ends:
 *  1. exit(n): the parent exits n (0, 1, 2, 130, 143, ...).
 *  2. death by a crash signal (SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL,
 *     SIGSYS, SIGTRAP), by SIGKILL (which the parent never sends: the
 *     kernel's out-of-memory killer, or a kill of the child itself), or by
 *     SIGXCPU / SIGXFSZ (ulimit -t / -f): one "cask: error:" line naming the
 *     command's input files and what happened, exit status 1.
 *  3. death by another signal (a forwarded SIGINT that arrived before the
 *     command's handlers, a second Ctrl-C, SIGHUP, SIGPIPE, ...): the parent
 *     ends itself with the same signal, so the caller sees what it saw
 *     before the supervisor existed.
 * In cases 2 and 3 the parent first removes the child's transaction files:
 * names ".<base>.cask-tmp-<child pid>-<16 hex digits>" (make_temp() in
 * src/io.c) next to each file named on the command line (as written and,
 * for a symbolic link, next to its target).  The child is not reaped before
 * (waitid WNOWAIT), so its pid cannot be reused meanwhile and only its own
 * files match.
 *
 * Invariants.
 *  1. The parent never touches HDF5, OpenMP or the output: it is forked
 *     before the command does anything, while the process has one thread.
 *  2. Every signal the parent handles reaches the child exactly once: the
 *     child has its own process group, so a Ctrl-C from the terminal or a
 *     kill of the caller's process group reaches the parent only, which
 *     forwards it.  (A sender that signals the parent twice in a row, as
 *     timeout(1) does -- the process, then its group -- is forwarded once.)
 *     The price: the child is not in the terminal's foreground process
 *     group.  It still writes to the terminal (the progress bar), unless
 *     `stty tostop` is set, which stops a background writer; cask never
 *     reads the terminal.
 *  3. A signal the caller made the process ignore (nohup, `&` in a script)
 *     stays ignored: the parent does not take it, the child inherits SIG_IGN.
 *  4. The child never outlives the parent: PR_SET_PDEATHSIG sends it
 *     SIGKILL when the parent dies (e.g. SIGKILLed); the transaction files
 *     guarantee the target is then absent, as before, or complete.
 *
 * The child writes stdout and stderr itself (same descriptors, same order);
 * the parent writes only its one error line, after the child has ended.
 * CASK_NO_SUPERVISOR=1 runs the command in the process itself (debuggers,
 * core files of the crash itself).
 */

#include "supervise.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- files */

/* The files named on the command line. */
typedef struct {
	char **path;  /* malloc'd, as written (without ":/DSET") */
	int *output;  /* 1: the command writes it */
	int n, cap;
} files_t;

static void files_fini(files_t *f)
{
	for (int i = 0; i < f->n; i++)
		free(f->path[i]);
	free(f->path);
	free(f->output);
	memset(f, 0, sizeof *f);
}

/* Add the file of reference s ("PATH:/DSET", split at the last ":/" as
 * cli_parse_dsref does, or a bare PATH); with binding, s may be
 * "NAME=PATH:/DSET" (eval -i).  Duplicates are merged (an output wins).
 * Returns 0 or -1 (out of memory). */
static int files_add(files_t *f, const char *s, int output, int binding)
{
	const char *split = NULL, *p = s, *eq;
	char *path = NULL;
	int i;

	if (binding && (eq = strchr(s, '=')) != NULL)
		s = p = eq + 1;
	while ((p = strstr(p, ":/")) != NULL) {
		split = p;
		p++;
	}
	path = split ? strndup(s, (size_t)(split - s)) : strdup(s);
	if (path == NULL)
		return -1;
	if (*path == '\0') {
		free(path);
		return 0;
	}
	for (i = 0; i < f->n; i++) {
		if (strcmp(f->path[i], path) == 0) {
			f->output[i] |= output;
			free(path);
			return 0;
		}
	}
	if (f->n == f->cap) {
		int cap = f->cap ? 2 * f->cap : 8;
		char **np = realloc(f->path, (size_t)cap * sizeof *np);
		if (np == NULL) {
			free(path);
			return -1;
		}
		f->path = np;
		int *no = realloc(f->output, (size_t)cap * sizeof *no);
		if (no == NULL) {
			free(path);
			return -1;
		}
		f->output = no;
		f->cap = cap;
	}
	f->path[f->n] = path;
	f->output[f->n] = output;
	f->n++;
	return 0;
}

enum { OPT_FLAG, OPT_VALUE, OPT_INPUT, OPT_OUTPUT };

/* What option name (len bytes of a, "-o" or "--output") is to the file
 * list.  Only the options whose values name files, and the global options
 * with a value (so that `cask info --memory 1G f.h5` finds f.h5), matter:
 * any other value has no ":/" and is not taken for a file. */
static int option_kind(const char *a, size_t len)
{
	static const char *const outputs[] = { "-o", "--output", "--q", "--r", "--s", "--u", "--vt" };
	static const char *const inputs[] = { "-i", "--input" };
	static const char *const values[] = { "--memory", "--threads", "--io-lanes", "--readahead",
		                              "--chunk-cache" };
	size_t k;

	for (k = 0; k < sizeof outputs / sizeof outputs[0]; k++)
		if (strlen(outputs[k]) == len && strncmp(a, outputs[k], len) == 0)
			return OPT_OUTPUT;
	for (k = 0; k < sizeof inputs / sizeof inputs[0]; k++)
		if (strlen(inputs[k]) == len && strncmp(a, inputs[k], len) == 0)
			return OPT_INPUT;
	for (k = 0; k < sizeof values / sizeof values[0]; k++)
		if (strlen(values[k]) == len && strncmp(a, values[k], len) == 0)
			return OPT_VALUE;
	return OPT_FLAG;
}

/* The files of `cask CMD argv...` from the synopses of the subcommands:
 * dataset references PATH:/DSET are inputs, except the values of -o,
 * --output, --q, --r, --s, --u, --vt and the positional reference of
 * `create`; `info` takes a bare PATH, and `export` writes to the bare PATH
 * of its PNG file.  A command line the command itself
 * would reject can give a wrong list; it only words the crash message and
 * which names are searched for temporary files.  Returns 0 or -1. */
static int files_collect(files_t *f, const char *cmd, int argc, char **argv)
{
	int i, only_pos = 0, info = strcmp(cmd, "info") == 0, create = strcmp(cmd, "create") == 0,
	    export = strcmp(cmd, "export") == 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!only_pos && strcmp(a, "--") == 0) {
			only_pos = 1;
			continue;
		}
		if (!only_pos && a[0] == '-' && a[1] != '\0' &&
		    !(a[1] >= '0' && a[1] <= '9') && a[1] != '.') {
			const char *eq = a[1] == '-' ? strchr(a, '=') : NULL, *val = NULL;
			size_t len = eq ? (size_t)(eq - a) : a[1] == '-' ? strlen(a) : 2;
			int kind = option_kind(a, len);

			if (kind == OPT_FLAG)
				continue;
			if (eq)
				val = eq + 1;
			else if (a[1] != '-' && a[2] != '\0')
				val = a + 2;
			else if (i + 1 < argc)
				val = argv[++i];
			if (val && kind != OPT_VALUE &&
			    files_add(f, val, kind == OPT_OUTPUT, kind == OPT_INPUT) < 0)
				return -1;
			continue;
		}
		if (strstr(a, ":/") != NULL || info) {
			if (files_add(f, a, create, 0) < 0)
				return -1;
		} else if (export && files_add(f, a, 1, 0) < 0) {
			return -1;
		}
	}
	return 0;
}

/* Remove the files ".<base of path>.cask-tmp-<pid>-<16 hex>" in the
 * directory of path.  Returns how many were removed. */
static int remove_temps_of(const char *path, pid_t pid)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX], prefix[NAME_MAX + 64];
	const char *base = slash ? slash + 1 : path;
	DIR *d = NULL;
	struct dirent *e;
	size_t plen;
	int n = 0, len;

	if (*base == '\0' || strlen(base) > NAME_MAX)
		goto out;
	if (slash == NULL)
		snprintf(dir, sizeof dir, ".");
	else if (slash == path)
		snprintf(dir, sizeof dir, "/");
	else if ((size_t)(slash - path) < sizeof dir)
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	else
		goto out;
	len = snprintf(prefix, sizeof prefix, ".%s.cask-tmp-%ld-", base, (long)pid);
	if (len < 0 || (size_t)len >= sizeof prefix)
		goto out;
	plen = (size_t)len;
	d = opendir(dir);
	if (d == NULL)
		goto out;
	while ((e = readdir(d)) != NULL) {
		const char *h = e->d_name + plen;
		int k;

		if (strncmp(e->d_name, prefix, plen) != 0 || strlen(h) != 16)
			continue;
		for (k = 0; k < 16; k++)
			if (!((h[k] >= '0' && h[k] <= '9') || (h[k] >= 'a' && h[k] <= 'f')))
				break;
		if (k == 16 && unlinkat(dirfd(d), e->d_name, 0) == 0)
			n++;
	}
out:
	if (d != NULL)
		closedir(d);
	return n;
}

/* The file a dangling symbolic link leads to, followed link by link (the
 * library creates an output there): malloc'd, or NULL. */
static char *dangling_target(const char *path)
{
	char *cur = strdup(path);
	for (int hop = 0; cur != NULL && hop < 40; hop++) {
		char link[PATH_MAX];
		const char *slash = strrchr(cur, '/');
		ssize_t k = readlink(cur, link, sizeof link - 1);
		if (k < 0)
			return cur; /* not a link: the end of the chain */
		link[k] = '\0';
		size_t dl = link[0] == '/' || slash == NULL ? 0 : (size_t)(slash - cur) + 1;
		char *next = malloc(dl + (size_t)k + 1);
		if (next != NULL) {
			memcpy(next, cur, dl);
			memcpy(next + dl, link, (size_t)k + 1);
		}
		free(cur);
		cur = next;
	}
	free(cur);
	return NULL;
}

/* Remove the child's temporary files next to every file of f (the path as
 * written, and the target of a symbolic link, dangling or not).  Returns
 * how many. */
static int remove_temps(const files_t *f, pid_t pid)
{
	int n = 0;

	for (int i = 0; i < f->n; i++) {
		char *real = realpath(f->path[i], NULL);
		if (real == NULL)
			real = dangling_target(f->path[i]);

		n += remove_temps_of(f->path[i], pid);
		if (real != NULL && strcmp(real, f->path[i]) != 0)
			n += remove_temps_of(real, pid);
		free(real);
	}
	return n;
}

/* ------------------------------------------------------------- signals */

/* The signals the parent takes and forwards (TSTP and CONT: job control). */
static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGCONT };
#define NFORWARDED ((int)(sizeof forwarded / sizeof forwarded[0]))

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGSEGV: return "SIGSEGV";
	case SIGBUS: return "SIGBUS";
	case SIGABRT: return "SIGABRT";
	case SIGFPE: return "SIGFPE";
	case SIGILL: return "SIGILL";
	case SIGSYS: return "SIGSYS";
	case SIGTRAP: return "SIGTRAP";
	case SIGKILL: return "SIGKILL";
	case SIGXCPU: return "SIGXCPU";
	case SIGXFSZ: return "SIGXFSZ";
	default: return "a signal";
	}
}

/* Case 2 of the header: the deaths the parent reports as an error. */
static int is_reported(int sig)
{
	switch (sig) {
	case SIGSEGV: case SIGBUS: case SIGABRT: case SIGFPE: case SIGILL: case SIGSYS:
	case SIGTRAP: case SIGKILL: case SIGXCPU: case SIGXFSZ:
		return 1;
	default:
		return 0;
	}
}

/* ' on 'a.h5', 'b.h5'' (the inputs of f) or nothing. */
static void print_inputs(const files_t *f, const char *lead)
{
	int k = 0;

	for (int i = 0; i < f->n; i++) {
		if (f->output[i])
			continue;
		fprintf(stderr, "%s'%s'", k ? ", " : lead, f->path[i]);
		k++;
	}
}

static int count_inputs(const files_t *f)
{
	int k = 0;

	for (int i = 0; i < f->n; i++)
		k += !f->output[i];
	return k;
}

/* The one error line of case 2. */
static void report(const char *cmd, const files_t *f, int sig, int core)
{
	int nin = count_inputs(f), nout = f->n - nin;
	const char *desc = strsignal(sig);

	/* A progress bar the child left on the terminal line. */
	if (isatty(STDERR_FILENO))
		fputs("\r\033[K", stderr);
	fputs("cask: error: ", stderr);
	if (sig == SIGKILL) {
		fprintf(stderr, "'cask %s' was killed (SIGKILL)", cmd);
		print_inputs(f, " while working on ");
		fputs(", most likely by the kernel's out-of-memory killer (try a smaller --memory)",
		      stderr);
	} else if (sig == SIGXCPU || sig == SIGXFSZ) {
		fprintf(stderr, "'cask %s' exceeded the %s limit (%s, ulimit -%c)", cmd,
		        sig == SIGXCPU ? "CPU time" : "file size", signal_name(sig),
		        sig == SIGXCPU ? 't' : 'f');
	} else {
		fprintf(stderr, "the HDF5 library (or cask) crashed (%s, %s%s)", signal_name(sig),
		        desc ? desc : "crash", core ? ", core dumped" : "");
		if (nin > 0) {
			print_inputs(f, " while reading ");
			fputs(nin > 1 ? "; one of these files may be corrupt" : "; the file may be corrupt",
			      stderr);
		} else {
			fprintf(stderr, " in 'cask %s'", cmd);
		}
	}
	fputs(nout > 0 ? "; no output was written\n" : "\n", stderr);
	fflush(stderr);
}

/* End the process by sig, as the child ended (case 3); the parent's core
 * file would only be confusing, so none is written. */
static void die_by(int sig)
{
	struct rlimit nocore = { 0, 0 };
	struct sigaction dfl;
	sigset_t s;

	setrlimit(RLIMIT_CORE, &nocore);
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	sigemptyset(&s);
	sigaddset(&s, sig);
	sigprocmask(SIG_UNBLOCK, &s, NULL);
	raise(sig);
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------- supervisor */

int cli_supervise(const char *cmd, int argc, char **argv)
{
	const char *env = getenv("CASK_NO_SUPERVISOR");
	struct sigaction dfl, old_chld;
	sigset_t set, old_mask;
	siginfo_t st;
	files_t files = { 0 };
	pid_t parent, child;
	pid_t last_sender[NFORWARDED];
	double last_time[NFORWARDED];
	int i, sig, ret = -1, masked = 0, chld_saved = 0;

	if (env != NULL && *env != '\0' && strcmp(env, "0") != 0)
		goto out;
	/* The set the parent takes: without the signals the caller made us
	 * ignore (invariant 3). */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (i = 0; i < NFORWARDED; i++) {
		struct sigaction cur;

		last_sender[i] = -1;
		last_time[i] = 0;
		if (sigaction(forwarded[i], NULL, &cur) == 0 && cur.sa_handler != SIG_IGN)
			sigaddset(&set, forwarded[i]);
	}
	/* Blocked before fork: a signal from now on waits for the loop below
	 * (parent) or for the command's own handlers (child). */
	if (sigprocmask(SIG_BLOCK, &set, &old_mask) != 0)
		goto out;
	masked = 1;
	/* SIGCHLD ignored by whoever started us would reap the child itself. */
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	if (sigaction(SIGCHLD, &dfl, &old_chld) != 0)
		goto out;
	chld_saved = 1;
	fflush(NULL);
	parent = getpid();
	child = fork();
	if (child < 0)
		goto out; /* run in this process */
	if (child == 0) {
		/* The command.  Never outlive the parent (invariant 4); it may
		 * already be gone, and then nobody waits for us. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			raise(SIGKILL);
		setpgid(0, 0);
		goto out; /* restores SIGCHLD and the mask; ret -1: run it */
	}

	/* The supervisor.  Its mask stays as it is until the process ends: a
	 * signal arriving after the child's end must not change the exit
	 * status.  The file list is only needed after a crash, but
	 * parsing now keeps the crash path short and allocation-free. */
	if (files_collect(&files, cmd, argc, argv) < 0)
		files_fini(&files); /* out of memory: a message without names */
	for (;;) {
		siginfo_t si;
		int k;

		sig = sigwaitinfo(&set, &si);
		if (sig == SIGTSTP) {
			/* Ctrl-Z: stop the command, then ourselves, so the shell
			 * sees the job stopped; SIGCONT resumes both. */
			kill(child, SIGSTOP);
			kill(getpid(), SIGSTOP);
		} else if (sig == SIGCONT) {
			kill(child, SIGCONT);
		} else if (sig > 0 && sig != SIGCHLD) {
			for (k = 0; k < NFORWARDED && forwarded[k] != sig; k++)
				;
			/* The same sender twice within a second (timeout(1) sends to
			 * the process and to its group) counts once; a terminal's
			 * signals have no sender and are all forwarded. */
			if (k < NFORWARDED && (si.si_code == SI_USER || si.si_code == SI_QUEUE) &&
			    si.si_pid == last_sender[k] && now_seconds() - last_time[k] < 1.0)
				continue;
			if (k < NFORWARDED) {
				last_sender[k] = (si.si_code == SI_USER || si.si_code == SI_QUEUE)
				                         ? si.si_pid : -1;
				last_time[k] = now_seconds();
			}
			kill(child, sig);
		} else if (sig < 0 && errno != EINTR) {
			/* Cannot happen with a valid set; wait without forwarding. */
			memset(&st, 0, sizeof st);
			if (waitid(P_PID, (id_t)child, &st, WEXITED | WNOWAIT) != 0)
				break;
		}
		memset(&st, 0, sizeof st);
		if (waitid(P_PID, (id_t)child, &st, WEXITED | WNOHANG | WNOWAIT) != 0) {
			st.si_pid = 0;
			break;
		}
		if (st.si_pid == child)
			break;
	}
	masked = 0;
	if (st.si_pid != child) {
		/* waitid failed (no such child: cannot happen); report it. */
		fprintf(stderr, "cask: error: lost the command's process: %s\n", strerror(errno));
		ret = 1;
		goto out;
	}
	if (st.si_code == CLD_EXITED) {
		ret = st.si_status;
	} else {
		sig = st.si_status;
		/* The child is a zombie: its pid, in the temporary names, is
		 * still its own. */
		remove_temps(&files, child);
		if (is_reported(sig)) {
			report(cmd, &files, sig, st.si_code == CLD_DUMPED);
			ret = 1;
		} else {
			waitpid(child, NULL, 0);
			files_fini(&files);
			fflush(NULL);
			die_by(sig);
			ret = 128 + sig; /* a signal whose default is not to end */
		}
	}
	waitpid(child, NULL, 0);
out:
	files_fini(&files);
	if (chld_saved)
		sigaction(SIGCHLD, &old_chld, NULL);
	if (masked)
		sigprocmask(SIG_SETMASK, &old_mask, NULL);
	return ret;
}
