/*
 * fuzz_expr.c - libFuzzer target for the expression parser of `cask eval`
 * (src/cli/expr.c): any byte string must either parse into a tree or give an
 * error whose column lies inside the source, without a crash, a leak, an
 * overflow of the stack or undefined behaviour.
 *
 * For a parsed tree the target also checks the parser's own invariants that
 * walkers rely on: heights bounded by CLI_EXPR_MAX_HEIGHT, every kid non-NULL
 * except in a slice, node columns inside the source, and cli_expr_dump()
 * returning the same length when asked for the size first and when writing.
 * A violated invariant calls __builtin_trap(), which libFuzzer reports as a
 * crash with the input that caused it.
 *
 * Build and run: tests/fuzz/build.sh, tests/FUZZING.md.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;

static void check_tree(const cli_expr_t *e, int len, int depth)
{
	int i, h = 1;

	if (depth > CLI_EXPR_MAX_HEIGHT + 1)
		__builtin_trap();
	if (e->col < 0 || e->col > len)
		__builtin_trap();
	if (e->nkids < 0 || (e->nkids > 0 && e->kids == NULL))
		__builtin_trap();
	for (i = 0; i < e->nkids; i++) {
		if (e->kids[i] == NULL) {
			if (e->kind != CLI_EXPR_SLICE)
				__builtin_trap();
			continue;
		}
		check_tree(e->kids[i], len, depth + 1);
		if (e->kids[i]->height + 1 > h)
			h = e->kids[i]->height + 1;
	}
	if (e->height != h || e->height > CLI_EXPR_MAX_HEIGHT)
		__builtin_trap();
	if ((e->kind == CLI_EXPR_STRING || e->kind == CLI_EXPR_NAME || e->kind == CLI_EXPR_KEYWORD ||
	     e->kind == CLI_EXPR_ATTR) && e->str == NULL)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *src, *buf;
	cli_expr_t *tree = NULL;
	cli_expr_error_t err;
	int n, m;

	if (size > 1 << 20)
		return 0;
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	src = malloc(size + 1);
	if (!src)
		return 0;
	memcpy(src, data, size);
	src[size] = '\0';
	memset(&err, 0, sizeof err);
	if (cli_expr_parse(src, &tree, &err) == 0) {
		check_tree(tree, (int)strlen(src), 1);
		n = cli_expr_dump(tree, NULL, 0);
		if (n < 0)
			__builtin_trap();
		buf = malloc((size_t)n + 1);
		if (buf) {
			m = cli_expr_dump(tree, buf, (size_t)n + 1);
			if (m != n || strlen(buf) != (size_t)n)
				__builtin_trap();
			free(buf);
		}
		cli_expr_free(tree);
	} else {
		if (err.col < 0 || (size_t)err.col > strlen(src))
			__builtin_trap();
		if (memchr(err.msg, '\0', sizeof err.msg) == NULL || err.msg[0] == '\0')
			__builtin_trap();
		if (devnull)
			cli_expr_caret(devnull, src, err.col);
	}
	free(src);
	return 0;
}
