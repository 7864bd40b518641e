/*
 * expr_build.h - give a parsed expression (expr.h) its meaning: walk the
 * tree and build a lazy cask array with the public API.
 *
 * Names are bound to arrays by the caller (`-i NAME=PATH:/DSET`).  Number
 * literals are Python scalars: weak for type promotion (float32 * 2.0 stays
 * float32, NEP 50).  Functions have NumPy's names, parameter names and
 * semantics; see the table in expr_build.c.  Functions may also be written
 * np.NAME(...) or numpy.NAME(...), and the ndarray methods (x.sum(axis=0),
 * x.astype('f4'), x.clip(0, 1), x.transpose(1, 0), x.reshape(2, 3), ...) and
 * x.T work as in NumPy.
 *
 * Extension points for other subcommands' issues: function families are
 * looked up in hook tables (filters of issue 5, matmul of issue 4).  Their
 * implementations are the weak functions declared at the end of this
 * header: define one in your own file (cmd_filter.c, cmd_linalg.c) and the
 * builder calls it; while it is undefined, the function reports "not
 * supported yet".  The argument helpers below are what a hook needs to read
 * its arguments.
 */
#ifndef CLI_EXPR_BUILD_H
#define CLI_EXPR_BUILD_H

#include <stdint.h>

#include "cask.h"
#include "expr.h"

typedef struct {
	const char *name;
	cask_array_t *array; /* borrowed */
} cli_binding_t;

typedef struct {
	int col;        /* byte offset of the offending part of the expression */
	int exit_code;  /* CLI_EXIT_USAGE (expression error) or CLI_EXIT_RUNTIME */
	int rc;         /* the library's code, or CASK_EINVAL for the builder's own errors */
	char msg[1024];
} cli_build_error_t;

typedef struct cli_build cli_build_t;

/* Build the array of expression e.  bindings: nbind borrowed (name, array)
 * pairs.  On success *out is a new array (caller destroys) and 0 is
 * returned; on failure a negative code with err filled. */
int cli_build(cask_ctx_t *ctx, const cli_expr_t *e, const cli_binding_t *bindings, int nbind,
              cask_array_t **out, cli_build_error_t *err);

/* Names that cannot be bound with -i (literals, True/False/None, np, ...).
 * Returns 1 if name is reserved. */
int cli_build_name_reserved(const char *name);

/* ---- for function implementations (hooks) */

/* A function of the language.  call is the CALL node (kids[0] the callee,
 * kids[1..] the arguments, KEYWORD nodes for k=v); self is NULL, or the node
 * of the array for a method call x.NAME(...).  Return 0 with *out a new
 * array, or a negative code after cli_build_fail / cli_build_lib_fail. */
typedef int (*cli_fn_t)(cli_build_t *b, const char *name, const cli_expr_t *call,
                        const cli_expr_t *self, cask_array_t **out);

/* The context of the build. */
cask_ctx_t *cli_build_ctx(cli_build_t *b);

/* Match the arguments of call to the parameter names params (NULL-ended),
 * Python style: at most maxpos positional arguments (self, when not NULL,
 * is the first), then keywords by name.  slots[i] receives the node for
 * params[i] or NULL.  The first nrequired parameters are required.  Errors
 * (too many arguments, unknown or repeated keyword, missing argument) name
 * the function fname and point at the argument. */
int cli_build_bind(cli_build_t *b, const char *fname, const cli_expr_t *call,
                   const cli_expr_t *self, const char *const *params, int nrequired, int maxpos,
                   const cli_expr_t **slots);

/* Build the array of a sub-expression. */
int cli_build_array(cli_build_t *b, const cli_expr_t *e, cask_array_t **out);
/* Constant arguments: what names the argument in errors ("axis"). */
int cli_build_const_int(cli_build_t *b, const cli_expr_t *e, const char *what, int64_t *out);
int cli_build_const_double(cli_build_t *b, const cli_expr_t *e, const char *what, double *out);
int cli_build_const_bool(cli_build_t *b, const cli_expr_t *e, const char *what, int *out);
/* A string literal (borrowed from the tree). */
int cli_build_const_string(cli_build_t *b, const cli_expr_t *e, const char *what,
                           const char **out);
/* An int or a tuple/list of ints (at most max): *n values. */
int cli_build_const_ints(cli_build_t *b, const cli_expr_t *e, const char *what, int64_t *out,
                         int max, int *n);
/* A number or a tuple/list of numbers (at most max). */
int cli_build_const_doubles(cli_build_t *b, const cli_expr_t *e, const char *what, double *out,
                            int max, int *n);
/* A dtype: a string ('f4', 'float32') or a name (float32, np.int8, float, int, bool). */
int cli_build_const_dtype(cli_build_t *b, const cli_expr_t *e, cask_dtype_t *out);

/* Record an expression error at col (the first error wins); returns
 * CASK_EINVAL. */
int cli_build_fail(cli_build_t *b, int col, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Record a failed library call rc at col with the context's message;
 * returns rc.  Argument, shape and type errors are expression errors (exit
 * 2), others runtime errors (exit 1). */
int cli_build_lib_fail(cli_build_t *b, int col, int rc);

/* ---- hooks implemented elsewhere (weak: NULL when not linked in) */

/* The scipy.ndimage filters of issue 5 (name: gaussian, gaussian_filter,
 * uniform, uniform_filter, median, median_filter, minimum_filter,
 * maximum_filter, sobel, prewitt, laplace, gaussian_gradient_magnitude,
 * gaussian_laplace, convolve, correlate). */
int cli_fn_filter(cli_build_t *b, const char *name, const cli_expr_t *call,
                  const cli_expr_t *self, cask_array_t **out) __attribute__((weak));
/* a @ b (issue 4); col is the '@' or the matmul( call; a and b borrowed. */
int cli_fn_matmul(cli_build_t *b, int col, cask_array_t *a, cask_array_t *bm,
                  cask_array_t **out) __attribute__((weak));

#endif
