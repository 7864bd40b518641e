/*
 * supervise.h - the `cask` command runs each subcommand in a child process
 * and survives its crash (supervise.c).
 */
#ifndef CLI_SUPERVISE_H
#define CLI_SUPERVISE_H

/* Run subcommand cmd (argv[0..argc-1] are the command's arguments, argv[0]
 * its name) under a supervisor: fork; the child returns -1 at once and runs
 * the command as usual; the parent forwards signals, waits, and returns the
 * child's exit status (or exits by the child's signal).  If the child dies
 * of a crash signal (SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, ...) or of
 * SIGKILL, the parent prints one "cask: error:" line naming the input files,
 * removes the child's temporary output files and returns 1.  Returns -1
 * without forking when CASK_NO_SUPERVISOR is set (to anything but "" or "0")
 * or fork() fails: the caller then runs the command in this process. */
int cli_supervise(const char *cmd, int argc, char **argv);

#endif
