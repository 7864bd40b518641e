/*
 * expr_build.c - build a lazy cask array from a parsed expression (see
 * expr_build.h), with NumPy's names and semantics.
 *
 * The walk is recursive over the tree, whose height the parser bounds
 * (CLI_EXPR_MAX_HEIGHT), so the C stack is bounded.  Each function returns
 * 0 with a new array in *out, or a negative code with the first error
 * recorded in the builder (message, column, exit status).  Arrays made on
 * the way are destroyed by the function that made them; the library keeps
 * its own references to the inputs of an operation.
 *
 * The function table maps NumPy names to builders: the elementwise
 * operations of cask_op_t, the reductions of cask_redop_t, the shape
 * functions, and the hook families (filters, matmul) that other files
 * implement through the weak functions of expr_build.h.
 */
#include "expr_build.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

struct cli_build {
	cask_ctx_t *ctx;
	const cli_binding_t *bind;
	int nbind;
	cli_build_error_t *err;
	int failed;
};

#define MAX_PARAMS 8

/* ------------------------------------------------------------- errors */

int cli_build_fail(cli_build_t *b, int col, const char *fmt, ...)
{
	va_list ap;

	if (b->failed)
		return CASK_EINVAL;
	b->failed = 1;
	b->err->col = col;
	b->err->exit_code = CLI_EXIT_USAGE;
	b->err->rc = CASK_EINVAL;
	va_start(ap, fmt);
	vsnprintf(b->err->msg, sizeof b->err->msg, fmt, ap);
	va_end(ap);
	return CASK_EINVAL;
}

int cli_build_lib_fail(cli_build_t *b, int col, int rc)
{
	const char *msg = cask_ctx_message(b->ctx);

	if (b->failed)
		return rc;
	b->failed = 1;
	b->err->col = col;
	b->err->rc = rc;
	switch (rc) {
	case CASK_EINVAL: case CASK_ETYPE: case CASK_ESHAPE: case CASK_ENOTSUP:
	case CASK_EOVERFLOW:
		b->err->exit_code = CLI_EXIT_USAGE;
		break;
	default:
		b->err->exit_code = CLI_EXIT_RUNTIME;
		break;
	}
	snprintf(b->err->msg, sizeof b->err->msg, "%s", msg && *msg ? msg : cask_strerror(rc));
	return rc;
}

cask_ctx_t *cli_build_ctx(cli_build_t *b)
{
	return b->ctx;
}

/* ------------------------------------------------------------- names */

static cask_array_t *lookup(cli_build_t *b, const char *name)
{
	int i;

	for (i = 0; i < b->nbind; i++)
		if (strcmp(b->bind[i].name, name) == 0)
			return b->bind[i].array;
	return NULL;
}

static int is_numpy_module(cli_build_t *b, const cli_expr_t *e)
{
	return e->kind == CLI_EXPR_NAME && !lookup(b, e->str) &&
	       (strcmp(e->str, "np") == 0 || strcmp(e->str, "numpy") == 0);
}

int cli_build_name_reserved(const char *name)
{
	static const char *const reserved[] = {
		"True", "False", "None", "nan", "inf", "pi", "e", "np", "numpy", "newaxis",
		"and", "or", "not", "is", "in", "if", "else", "lambda", "for",
	};
	size_t i;

	for (i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
		if (strcmp(name, reserved[i]) == 0)
			return 1;
	return 0;
}

/* ------------------------------------------------------------- constants */

/*
 * Python's arithmetic on literals.  A sub-expression made only of int and
 * float literals and the operators + - * / // % ** & | ^ ~ is evaluated here
 * as Python evaluates it before NumPy ever sees it: ints are exact (held in
 * 128 bits; a constant needing more is refused), 2 ** -1 is 0.5, 7 // 0 and
 * 0 ** -1 are ZeroDivisionError.  The result is then one Python scalar,
 * weak for type promotion (NEP 50).  Comparisons and True/False are left to
 * the array layer.
 */
typedef __int128 i128;

#define I128_MAX ((i128)(((unsigned __int128)1 << 127) - 1))
#define I128_MIN (-I128_MAX - 1)

typedef struct {
	int is_float; /* 0: the exact int i; 1: the float f */
	i128 i;
	double f;
} lit_t;

/* Decimal text of v into buf (at least 48 bytes). */
static const char *i128_str(i128 v, char *buf, size_t size)
{
	char tmp[48];
	unsigned __int128 m = v < 0 ? (unsigned __int128)0 - (unsigned __int128)v
	                            : (unsigned __int128)v;
	int n = 0;

	do {
		tmp[n++] = (char)('0' + (int)(m % 10));
		m /= 10;
	} while (m);
	if (v < 0)
		tmp[n++] = '-';
	for (int k = 0; k < n && (size_t)k + 1 < size; k++)
		buf[k] = tmp[n - 1 - k];
	buf[(size_t)n < size ? (size_t)n : size - 1] = '\0';
	return buf;
}

static double lit_double(const lit_t *v)
{
	return v->is_float ? v->f : (double)v->i;
}

/* Python's divmod of floats (Objects/floatobject.c float_divmod); b != 0. */
static void py_float_divmod(double a, double b, double *q, double *r)
{
	double mod = fmod(a, b), div = (a - mod) / b, fl;

	if (mod != 0) {
		if ((b < 0) != (mod < 0)) {
			mod += b;
			div -= 1.0;
		}
	} else {
		mod = copysign(0.0, b);
	}
	if (div != 0) {
		fl = floor(div);
		if (div - fl > 0.5)
			fl += 1.0;
	} else {
		fl = copysign(0.0, a / b);
	}
	*q = fl;
	*r = mod;
}

/* Whether e is np.pi, np.e, np.nan or np.inf (numpy. too; "np" and
 * "numpy" are reserved, so never an input's name); its value in *v. */
static int numpy_const(const cli_expr_t *e, double *v)
{
	static const struct { const char *name; double v; } consts[] = {
		{ "pi", 3.141592653589793 }, { "e", 2.718281828459045 }, { "nan", NAN },
		{ "inf", INFINITY },
	};
	const cli_expr_t *m = e->kind == CLI_EXPR_ATTR ? e->kids[0] : NULL;
	size_t i;

	if (m == NULL || m->kind != CLI_EXPR_NAME ||
	    (strcmp(m->str, "np") != 0 && strcmp(m->str, "numpy") != 0))
		return 0;
	for (i = 0; i < sizeof consts / sizeof consts[0]; i++) {
		if (strcmp(e->str, consts[i].name) == 0) {
			*v = consts[i].v;
			return 1;
		}
	}
	return 0;
}

/* Evaluate e as Python would if it is made of number literals only.
 * Returns 0 with *v, 1 when e is not such a constant (a name, a call, a
 * comparison, True/False, ...), 2 on a Python error (*why, *col set). */
static int lit_eval(const cli_expr_t *e, lit_t *v, const char **why, int *col)
{
	lit_t a, c;
	int r;

	memset(v, 0, sizeof *v);
	switch (e->kind) {
	case CLI_EXPR_INT:
		v->i = e->is_u64 ? (i128)(uint64_t)e->ival : (i128)e->ival;
		return 0;
	case CLI_EXPR_FLOAT:
		v->is_float = 1;
		v->f = e->fval;
		return 0;
	case CLI_EXPR_ATTR: /* np.pi, np.nan, ...: constants as the bare names are */
		if (!numpy_const(e, &v->f))
			return 1;
		v->is_float = 1;
		return 0;
	case CLI_EXPR_UNARY:
		if ((r = lit_eval(e->kids[0], &a, why, col)) != 0)
			return r;
		*v = a;
		if (e->op == CLI_OP_POS)
			return 0;
		if (a.is_float) {
			if (e->op == CLI_OP_INVERT) {
				*why = "bad operand type for unary ~: 'float'";
				*col = e->col;
				return 2;
			}
			v->f = -a.f;
			return 0;
		}
		if (e->op == CLI_OP_INVERT) {
			v->i = ~a.i;
			return 0;
		}
		if (a.i == I128_MIN)
			goto toobig;
		v->i = -a.i;
		return 0;
	case CLI_EXPR_BINARY:
		switch (e->op) {
		case CLI_OP_ADD: case CLI_OP_SUB: case CLI_OP_MUL: case CLI_OP_DIV:
		case CLI_OP_FLOORDIV: case CLI_OP_MOD: case CLI_OP_POW: case CLI_OP_AND:
		case CLI_OP_OR: case CLI_OP_XOR:
			break;
		default:
			return 1;
		}
		if ((r = lit_eval(e->kids[0], &a, why, col)) != 0)
			return r;
		if ((r = lit_eval(e->kids[1], &c, why, col)) != 0)
			return r;
		*col = e->col;
		if (!a.is_float && !c.is_float) {
			switch (e->op) {
			case CLI_OP_ADD:
				if (__builtin_add_overflow(a.i, c.i, &v->i))
					goto toobig;
				return 0;
			case CLI_OP_SUB:
				if (__builtin_sub_overflow(a.i, c.i, &v->i))
					goto toobig;
				return 0;
			case CLI_OP_MUL:
				if (__builtin_mul_overflow(a.i, c.i, &v->i))
					goto toobig;
				return 0;
			case CLI_OP_AND: v->i = a.i & c.i; return 0;
			case CLI_OP_OR: v->i = a.i | c.i; return 0;
			case CLI_OP_XOR: v->i = a.i ^ c.i; return 0;
			case CLI_OP_DIV:
				if (c.i == 0) {
					*why = "ZeroDivisionError: division by zero";
					return 2;
				}
				v->is_float = 1;
				v->f = (double)a.i / (double)c.i;
				return 0;
			case CLI_OP_FLOORDIV: case CLI_OP_MOD: {
				i128 q, m;

				if (c.i == 0) {
					*why = "ZeroDivisionError: integer division or modulo by zero";
					return 2;
				}
				if (a.i == I128_MIN && c.i == -1)
					goto toobig;
				q = a.i / c.i;
				m = a.i % c.i;
				if (m != 0 && ((m < 0) != (c.i < 0))) {
					q--;
					m += c.i;
				}
				v->i = e->op == CLI_OP_FLOORDIV ? q : m;
				return 0;
			}
			case CLI_OP_POW: {
				i128 base = a.i, res = 1, ex = c.i;

				if (ex < 0) {
					/* Python: an int to a negative int power is a float. */
					if (a.i == 0) {
						*why = "ZeroDivisionError: 0.0 cannot be raised to a "
						       "negative power";
						return 2;
					}
					v->is_float = 1;
					v->f = pow((double)a.i, (double)c.i);
					return 0;
				}
				if (base == 0 || base == 1) {
					v->i = ex == 0 ? 1 : base;
					return 0;
				}
				if (base == -1) {
					v->i = (ex & 1) ? -1 : 1;
					return 0;
				}
				if (ex > 127)
					goto toobig;
				while (ex-- > 0)
					if (__builtin_mul_overflow(res, base, &res))
						goto toobig;
				v->i = res;
				return 0;
			}
			default:
				return 1;
			}
		}
		/* A float on either side: Python converts the int to float. */
		{
			double x = lit_double(&a), y = lit_double(&c), q, m;

			v->is_float = 1;
			switch (e->op) {
			case CLI_OP_ADD: v->f = x + y; return 0;
			case CLI_OP_SUB: v->f = x - y; return 0;
			case CLI_OP_MUL: v->f = x * y; return 0;
			case CLI_OP_DIV:
				if (y == 0) {
					*why = "ZeroDivisionError: float division by zero";
					return 2;
				}
				v->f = x / y;
				return 0;
			case CLI_OP_FLOORDIV: case CLI_OP_MOD:
				if (y == 0) {
					*why = e->op == CLI_OP_MOD ? "ZeroDivisionError: float modulo"
					                           : "ZeroDivisionError: float floor division "
					                             "by zero";
					return 2;
				}
				py_float_divmod(x, y, &q, &m);
				v->f = e->op == CLI_OP_FLOORDIV ? q : m;
				return 0;
			case CLI_OP_POW:
				if (x == 0 && y < 0) {
					*why = "ZeroDivisionError: 0.0 cannot be raised to a negative power";
					return 2;
				}
				if (x < 0 && isfinite(x) && isfinite(y) && y != floor(y)) {
					*why = "a negative number to a fractional power is complex in "
					       "Python; cask has no complex numbers";
					return 2;
				}
				v->f = pow(x, y);
				if (isinf(v->f) && isfinite(x) && isfinite(y)) {
					*why = "OverflowError: numerical result out of range";
					return 2;
				}
				return 0;
			default:
				*why = "unsupported operand type(s) for a bitwise operator: 'float'";
				return 2;
			}
		}
	default:
		return 1;
	}
toobig:
	*why = "integer constant too large (cask computes integer constants in 128 bits)";
	*col = e->col;
	return 2;
}

/* A constant integer expression as int64.  Returns 0, 1 when e is not an
 * integer constant, 2 on overflow or a Python error (*why set). */
static int const_int_eval(const cli_expr_t *e, int64_t *v, const char **why, int *col)
{
	lit_t l;
	int r = lit_eval(e, &l, why, col);

	if (r != 0)
		return r;
	if (l.is_float)
		return 1;
	if (l.i < INT64_MIN || l.i > INT64_MAX) {
		*why = "integer out of the range of int64";
		*col = e->col;
		return 2;
	}
	*v = (int64_t)l.i;
	return 0;
}

/* A constant number (int or float literals and their arithmetic).  Returns
 * 0, 1 (not constant) or 2 (a Python error, *why set). */
static int const_num_eval(const cli_expr_t *e, double *v, const char **why, int *col)
{
	lit_t l;
	int r = lit_eval(e, &l, why, col);

	if (r == 0)
		*v = lit_double(&l);
	return r;
}

int cli_build_const_int(cli_build_t *b, const cli_expr_t *e, const char *what, int64_t *out)
{
	const char *why = NULL;
	int col = e->col;
	int r = const_int_eval(e, out, &why, &col);

	if (r == 1)
		return cli_build_fail(b, e->col, "%s must be an integer constant", what);
	if (r == 2)
		return cli_build_fail(b, col, "%s: %s", what, why);
	return 0;
}

int cli_build_const_double(cli_build_t *b, const cli_expr_t *e, const char *what, double *out)
{
	const char *why = NULL;
	int col = e->col;
	int r = const_num_eval(e, out, &why, &col);

	if (r == 1)
		return cli_build_fail(b, e->col, "%s must be a number", what);
	if (r == 2)
		return cli_build_fail(b, col, "%s: %s", what, why);
	return 0;
}

int cli_build_const_bool(cli_build_t *b, const cli_expr_t *e, const char *what, int *out)
{
	if (e->kind == CLI_EXPR_BOOL || (e->kind == CLI_EXPR_INT && (e->ival == 0 || e->ival == 1))) {
		*out = (int)e->ival;
		return 0;
	}
	return cli_build_fail(b, e->col, "%s must be True or False", what);
}

int cli_build_const_string(cli_build_t *b, const cli_expr_t *e, const char *what,
                           const char **out)
{
	if (e->kind != CLI_EXPR_STRING)
		return cli_build_fail(b, e->col, "%s must be a string in quotes", what);
	*out = e->str;
	return 0;
}

int cli_build_const_ints(cli_build_t *b, const cli_expr_t *e, const char *what, int64_t *out,
                         int max, int *n)
{
	int i;

	if (e->kind != CLI_EXPR_TUPLE && e->kind != CLI_EXPR_LIST) {
		*n = 1;
		return cli_build_const_int(b, e, what, out);
	}
	if (e->nkids > max)
		return cli_build_fail(b, e->col, "%s has more than %d values", what, max);
	for (i = 0; i < e->nkids; i++)
		if (cli_build_const_int(b, e->kids[i], what, &out[i]) < 0)
			return CASK_EINVAL;
	*n = e->nkids;
	return 0;
}

int cli_build_const_doubles(cli_build_t *b, const cli_expr_t *e, const char *what, double *out,
                            int max, int *n)
{
	int i;

	if (e->kind != CLI_EXPR_TUPLE && e->kind != CLI_EXPR_LIST) {
		*n = 1;
		return cli_build_const_double(b, e, what, out);
	}
	if (e->nkids > max)
		return cli_build_fail(b, e->col, "%s has more than %d values", what, max);
	for (i = 0; i < e->nkids; i++)
		if (cli_build_const_double(b, e->kids[i], what, &out[i]) < 0)
			return CASK_EINVAL;
	*n = e->nkids;
	return 0;
}

int cli_build_const_dtype(cli_build_t *b, const cli_expr_t *e, cask_dtype_t *out)
{
	const char *name = NULL;

	if (e->kind == CLI_EXPR_STRING)
		name = e->str;
	else if (e->kind == CLI_EXPR_NAME)
		name = e->str;
	else if (e->kind == CLI_EXPR_ATTR && is_numpy_module(b, e->kids[0]))
		name = e->str;
	if (name) {
		/* Python's own type names, as NumPy reads them. */
		if (strcmp(name, "float") == 0)
			name = "float64";
		else if (strcmp(name, "int") == 0)
			name = "int64";
		else if (strcmp(name, "bool_") == 0)
			name = "bool";
		if (cask_dtype_parse(name, out) == 0)
			return 0;
		return cli_build_fail(b, e->col, "unknown dtype '%s' (expected one of bool i1 i2 i4 i8 "
		                                 "u1 u2 u4 u8 f4 f8, or int8 .. uint64, float32, "
		                                 "float64)", name);
	}
	return cli_build_fail(b, e->col, "dtype must be a name such as 'f4' or float32");
}

/* ------------------------------------------------------------- arguments */

static const char *closest(const char *name, const char *const *cands, int n, int maxd)
{
	const char *best = NULL;
	int i, bestd = maxd + 1;

	for (i = 0; i < n; i++) {
		int d = cli_edit_distance(name, cands[i]);

		if (d < bestd) {
			bestd = d;
			best = cands[i];
		}
	}
	return best;
}

int cli_build_bind(cli_build_t *b, const char *fname, const cli_expr_t *call,
                   const cli_expr_t *self, const char *const *params, int nrequired, int maxpos,
                   const cli_expr_t **slots)
{
	int nparams = 0, npos = 0, i, k;

	while (params[nparams])
		nparams++;
	for (i = 0; i < nparams; i++)
		slots[i] = NULL;
	if (self)
		slots[npos++] = self;
	for (i = 1; i < call->nkids; i++) {
		const cli_expr_t *a = call->kids[i];

		if (a->kind == CLI_EXPR_KEYWORD) {
			for (k = 0; k < nparams; k++)
				if (strcmp(params[k], a->str) == 0)
					break;
			if (k == nparams) {
				const char *s = closest(a->str, params, nparams, 2);

				if (s)
					return cli_build_fail(b, a->col, "%s() got an unexpected keyword "
					                                 "argument '%s' (did you mean '%s'?)",
					                      fname, a->str, s);
				return cli_build_fail(b, a->col, "%s() got an unexpected keyword argument "
				                                 "'%s'", fname, a->str);
			}
			if (slots[k])
				return cli_build_fail(b, a->col, "%s() got multiple values for argument "
				                                 "'%s'", fname, a->str);
			slots[k] = a->kids[0];
		} else {
			if (npos >= maxpos || npos >= nparams)
				return cli_build_fail(b, a->col, "%s() takes at most %d positional "
				                                 "argument%s", fname, maxpos,
				                      maxpos == 1 ? "" : "s");
			slots[npos++] = a;
		}
	}
	for (i = 0; i < nrequired; i++)
		if (!slots[i])
			return cli_build_fail(b, call->col, "%s() missing required argument '%s'", fname,
			                      params[i]);
	return 0;
}

/* ------------------------------------------------------------- helpers */

static int make_scalar(cli_build_t *b, int col, cask_scalar_t v, cask_array_t **out)
{
	int rc = cask_array_scalar(b->ctx, v, 1, out);

	if (rc < 0)
		return cli_build_lib_fail(b, col, rc);
	return 0;
}

/* The scalar of a Python number constant: a weak float64, a weak int64, or a
 * weak uint64 for ints of 2**63 .. 2**64-1 (NumPy's np.asarray(2**64-1) is
 * uint64).  Larger ints have no dtype here (NumPy would make an object
 * array); the operators that compare or combine them with arrays handle
 * them first (huge_binary). */
static int build_literal(cli_build_t *b, const cli_expr_t *e, const lit_t *l, cask_array_t **out)
{
	cask_scalar_t v;
	char num[48];

	if (l->is_float) {
		v.dtype = CASK_FLOAT64;
		v.v.f = l->f;
	} else if (l->i >= INT64_MIN && l->i <= INT64_MAX) {
		v.dtype = CASK_INT64;
		v.v.i = (int64_t)l->i;
	} else if (l->i > INT64_MAX && l->i <= (i128)UINT64_MAX) {
		v.dtype = CASK_UINT64;
		v.v.u = (uint64_t)l->i;
	} else {
		return cli_build_fail(b, e->col, "Python integer %s is outside the range of int64 "
		                                 "and uint64 (cask has no object arrays)",
		                      i128_str(l->i, num, sizeof num));
	}
	return make_scalar(b, e->col, v, out);
}

/* 1 if e is a Python int constant outside int64 and uint64 (*l its value). */
static int is_huge_int(const cli_expr_t *e, lit_t *l)
{
	const char *why = NULL;
	int col = 0;

	return lit_eval(e, l, &why, &col) == 0 && !l->is_float &&
	       (l->i < INT64_MIN || l->i > (i128)UINT64_MAX);
}

/* The array a Python int beyond 64 bits (l) stands for next to an array of
 * dtype t: against floats Python's float(l) (a weak float64, so float32
 * stays float32); against integers or bool it has no value of the type:
 * *out is NULL and 0 is returned, and the caller decides (NumPy 2 answers
 * comparisons exactly and raises OverflowError otherwise). */
static int huge_as(cli_build_t *b, int col, const lit_t *l, cask_dtype_t t, cask_array_t **out)
{
	cask_scalar_t v;

	*out = NULL;
	if (t != CASK_FLOAT32 && t != CASK_FLOAT64)
		return 0;
	v.dtype = CASK_FLOAT64;
	v.v.f = (double)l->i;
	return make_scalar(b, col, v, out);
}

/* NumPy 2's OverflowError for a Python int that does not fit the dtype it
 * is converted to (weak with bool: int64). */
static int out_of_bounds(cli_build_t *b, int col, const lit_t *l, cask_dtype_t t)
{
	char num[48];

	return cli_build_fail(b, col, "Python integer %s out of bounds for %s",
	                      i128_str(l->i, num, sizeof num),
	                      cask_dtype_name(t == CASK_BOOL ? CASK_INT64 : t));
}

/* x op e1 (or e1 op x when lit_left) where the other operand is the Python
 * int l beyond 64 bits.  Integer and bool x: a comparison is answered
 * exactly, as NumPy 2 does (l is above or below every value of the type, so
 * the result is all True or all False in x's shape); any other operation is
 * NumPy's OverflowError.  Float x: l is a weak float. */
static int huge_binary(cli_build_t *b, int col, cask_op_t op, cask_array_t *x, const lit_t *l,
                       int lit_left, cask_array_t **out)
{
	cask_array_t *k = NULL;
	cask_dtype_t t = cask_array_dtype(x);
	int rc;

	if ((rc = huge_as(b, col, l, t, &k)) < 0)
		return rc;
	if (k) {
		rc = lit_left ? cask_binary(b->ctx, op, k, x, out) : cask_binary(b->ctx, op, x, k, out);
		if (rc < 0)
			cli_build_lib_fail(b, col, rc);
		cask_array_destroy(k);
		return rc;
	}
	if (op >= CASK_LT && op <= CASK_NE) {
		static const cask_op_t mirror[] = {
			[CASK_LT] = CASK_GT, [CASK_LE] = CASK_GE, [CASK_GT] = CASK_LT,
			[CASK_GE] = CASK_LE, [CASK_EQ] = CASK_EQ, [CASK_NE] = CASK_NE,
		};
		cask_op_t xop = lit_left ? mirror[op] : op; /* x xop l */
		int above = l->i > 0, truth;
		cask_scalar_t v;

		if (xop == CASK_EQ)
			truth = 0;
		else if (xop == CASK_NE)
			truth = 1;
		else
			truth = (xop == CASK_LT || xop == CASK_LE) == above;
		v.dtype = CASK_BOOL;
		v.v.i = truth;
		rc = cask_array_full(b->ctx, CASK_BOOL, cask_array_ndim(x), cask_array_shape(x),
		                     cask_array_ndim(x) ? cask_array_chunks(x) : NULL, v, out);
		if (rc < 0)
			cli_build_lib_fail(b, col, rc);
		return rc;
	}
	return out_of_bounds(b, col, l, t);
}

/* e0 op e1 for an elementwise binary op, with Python ints beyond 64 bits
 * on either side handled as NumPy 2 does. */
static int binary_exprs(cli_build_t *b, int col, cask_op_t op, const cli_expr_t *e0,
                        const cli_expr_t *e1, cask_array_t **out)
{
	cask_array_t *x = NULL, *y = NULL;
	lit_t l;
	int rc, huge0 = is_huge_int(e0, &l), huge1 = !huge0 && is_huge_int(e1, &l);

	if (huge0 || huge1) {
		if ((rc = cli_build_array(b, huge0 ? e1 : e0, &x)) < 0)
			return rc;
		rc = huge_binary(b, col, op, x, &l, huge0, out);
		cask_array_destroy(x);
		return rc;
	}
	if ((rc = cli_build_array(b, e0, &x)) < 0 || (rc = cli_build_array(b, e1, &y)) < 0)
		goto out;
	rc = cask_binary(b->ctx, op, x, y, out);
	if (rc < 0)
		cli_build_lib_fail(b, col, rc);
out:
	cask_array_destroy(x);
	cask_array_destroy(y);
	return rc;
}

/* An operand of where() or a bound of clip() next to the array of dtype t:
 * a Python int beyond 64 bits is a weak float against floats; against
 * integers *huge is set (and *out NULL) for the caller to decide. */
static int operand_for(cli_build_t *b, const cli_expr_t *e, cask_dtype_t t, int *huge,
                       lit_t *l, cask_array_t **out)
{
	*huge = 0;
	*out = NULL;
	if (!e || e->kind == CLI_EXPR_NONE)
		return 0;
	if (is_huge_int(e, l)) {
		int rc = huge_as(b, e->col, l, t, out);

		*huge = rc == 0 && *out == NULL;
		return rc;
	}
	return cli_build_array(b, e, out);
}

/* An axis in range for ndim (negative counts from the end). */
static int check_axis(cli_build_t *b, const cli_expr_t *e, int64_t v, int ndim, int *out)
{
	if (v < -(int64_t)ndim || v >= ndim)
		return cli_build_fail(b, e->col, "axis %" PRId64 " is out of bounds for an array of "
		                                 "dimension %d", v, ndim);
	*out = (int)(v < 0 ? v + ndim : v);
	return 0;
}

/* ------------------------------------------------------------- functions */

static int fn_unary(cli_build_t *b, const char *name, const cli_expr_t *call,
                    const cli_expr_t *self, cask_array_t **out, cask_op_t op)
{
	static const char *const params[] = { "x", NULL };
	const cli_expr_t *s[MAX_PARAMS];
	cask_array_t *x = NULL;
	int rc;

	if ((rc = cli_build_bind(b, name, call, self, params, 1, 1, s)) < 0)
		goto out;
	if ((rc = cli_build_array(b, s[0], &x)) < 0)
		goto out;
	rc = cask_unary(b->ctx, op, x, out);
	if (rc < 0)
		cli_build_lib_fail(b, call->col, rc);
out:
	cask_array_destroy(x);
	return rc;
}

static int fn_binary(cli_build_t *b, const char *name, const cli_expr_t *call,
                     const cli_expr_t *self, cask_array_t **out, cask_op_t op)
{
	static const char *const params[] = { "x1", "x2", NULL };
	const cli_expr_t *s[MAX_PARAMS];
	int rc;

	if ((rc = cli_build_bind(b, name, call, self, params, 2, 2, s)) < 0)
		return rc;
	return binary_exprs(b, call->col, op, s[0], s[1], out);
}

static int fn_reduce(cli_build_t *b, const char *name, const cli_expr_t *call,
                     const cli_expr_t *self, cask_array_t **out, cask_redop_t op)
{
	static const char *const params[] = { "a", "axis", "keepdims", NULL };
	static const char *const var_params[] = { "a", "axis", "keepdims", "ddof", NULL };
	int is_var = op == CASK_VAR || op == CASK_STD || op == CASK_NANVAR || op == CASK_NANSTD;
	int is_arg = op == CASK_ARGMIN || op == CASK_ARGMAX;
	const cli_expr_t *s[MAX_PARAMS];
	cask_array_t *a = NULL;
	int64_t axes64[CASK_MAX_DIMS], ddof = 0;
	int axes[CASK_MAX_DIMS], naxes = 0, keepdims = 0, rc, i, j, ndim;

	if ((rc = cli_build_bind(b, name, call, self, is_var ? var_params : params, 1, 2, s)) < 0)
		goto out;
	if ((rc = cli_build_array(b, s[0], &a)) < 0)
		goto out;
	ndim = cask_array_ndim(a);
	if (s[1] && s[1]->kind != CLI_EXPR_NONE) {
		if (is_arg && (s[1]->kind == CLI_EXPR_TUPLE || s[1]->kind == CLI_EXPR_LIST)) {
			rc = cli_build_fail(b, s[1]->col, "%s() takes a single integer axis", name);
			goto out;
		}
		if ((rc = cli_build_const_ints(b, s[1], "axis", axes64, CASK_MAX_DIMS, &naxes)) < 0)
			goto out;
		for (i = 0; i < naxes; i++) {
			if ((rc = check_axis(b, s[1], axes64[i], ndim, &axes[i])) < 0)
				goto out;
			for (j = 0; j < i; j++) {
				if (axes[j] == axes[i]) {
					rc = cli_build_fail(b, s[1]->col, "duplicate value in 'axis'");
					goto out;
				}
			}
		}
		/* axis=() reduces nothing in NumPy; the library reads naxes 0 as all. */
		if (naxes == 0) {
			rc = cli_build_fail(b, s[1]->col, "axis=() (reduce over no axes) is not "
			                                  "supported");
			goto out;
		}
	}
	if (s[2] && (rc = cli_build_const_bool(b, s[2], "keepdims", &keepdims)) < 0)
		goto out;
	if (is_var && s[3]) {
		if ((rc = cli_build_const_int(b, s[3], "ddof", &ddof)) < 0)
			goto out;
		if (ddof < INT32_MIN || ddof > INT32_MAX) {
			rc = cli_build_fail(b, s[3]->col, "ddof must be an integer within int32's range");
			goto out;
		}
	}
	rc = cask_reduce(b->ctx, op, a, naxes, naxes ? axes : NULL, keepdims, (int)ddof, out);
	if (rc < 0)
		cli_build_lib_fail(b, call->col, rc);
out:
	cask_array_destroy(a);
	return rc;
}

static int fn_where(cli_build_t *b, const char *name, const cli_expr_t *call,
                    const cli_expr_t *self, cask_array_t **out)
{
	static const char *const params[] = { "condition", "x", "y", NULL };
	const cli_expr_t *s[MAX_PARAMS];
	cask_array_t *c = NULL, *x = NULL, *y = NULL;
	int rc;

	if (call->nkids == 2 && !self) {
		rc = cli_build_fail(b, call->col, "where() with one argument (the indices of the "
		                                  "nonzero elements) is not supported");
		goto out;
	}
	if ((rc = cli_build_bind(b, name, call, self, params, 3, 3, s)) < 0)
		goto out;
	if ((rc = cli_build_array(b, s[0], &c)) < 0)
		goto out;
	{
		/* A Python int beyond 64 bits next to an integer array: NumPy 2
		 * converts it to the array's dtype, which raises OverflowError. */
		lit_t l;
		int h0 = is_huge_int(s[1], &l), h1 = is_huge_int(s[2], &l), huge = 0;
		const cli_expr_t *other = h0 ? s[2] : s[1], *lit = h0 ? s[1] : s[2];

		if (h0 && h1) {
			rc = out_of_bounds(b, s[1]->col, &l, CASK_INT64);
			goto out;
		}
		if (h0 || h1) {
			cask_array_t **po = h0 ? &y : &x, **pl = h0 ? &x : &y;

			if ((rc = cli_build_array(b, other, po)) < 0 ||
			    (rc = operand_for(b, lit, cask_array_dtype(*po), &huge, &l, pl)) < 0)
				goto out;
			if (huge) {
				rc = out_of_bounds(b, lit->col, &l, cask_array_dtype(*po));
				goto out;
			}
		} else if ((rc = cli_build_array(b, s[1], &x)) < 0 ||
		           (rc = cli_build_array(b, s[2], &y)) < 0) {
			goto out;
		}
	}
	rc = cask_where(b->ctx, c, x, y, out);
	if (rc < 0)
		cli_build_lib_fail(b, call->col, rc);
out:
	cask_array_destroy(c);
	cask_array_destroy(x);
	cask_array_destroy(y);
	return rc;
}

static int fn_clip(cli_build_t *b, const char *name, const cli_expr_t *call,
                   const cli_expr_t *self, cask_array_t **out)
{
	/* np.clip(a, a_min, a_max) (both required, either may be None) and
	 * x.clip(min=None, max=None), as NumPy 1.24. */
	static const char *const fparams[] = { "a", "a_min", "a_max", NULL };
	static const char *const mparams[] = { "a", "min", "max", NULL };
	const cli_expr_t *s[MAX_PARAMS];
	cask_array_t *x = NULL, *lo = NULL, *hi = NULL;
	int rc;

	if (self)
		rc = cli_build_bind(b, name, call, self, mparams, 1, 3, s);
	else
		rc = cli_build_bind(b, name, call, self, fparams, 3, 3, s);
	if (rc < 0)
		goto out;
	if ((!s[1] || s[1]->kind == CLI_EXPR_NONE) && (!s[2] || s[2]->kind == CLI_EXPR_NONE)) {
		rc = cli_build_fail(b, call->col, "clip(): one of the bounds must be given");
		goto out;
	}
	if ((rc = cli_build_array(b, s[0], &x)) < 0)
		goto out;
	for (int k = 1; k <= 2; k++) {
		cask_dtype_t t = cask_array_dtype(x);
		cask_array_t **pb = k == 1 ? &lo : &hi;
		lit_t l;
		int huge;

		if ((rc = operand_for(b, s[k], t, &huge, &l, pb)) < 0)
			goto out;
		/* NumPy 2's clip drops an integer bound a Python int makes void (a
		 * minimum below or a maximum above every value of the dtype); any
		 * other out-of-range bound is its OverflowError. */
		if (huge && (t == CASK_BOOL || (k == 1) != (l.i < 0))) {
			rc = out_of_bounds(b, s[k]->col, &l, t);
			goto out;
		}
	}
	rc = cask_clip(b->ctx, x, lo, hi, out);
	if (rc < 0)
		cli_build_lib_fail(b, call->col, rc);
out:
	cask_array_destroy(x);
	cask_array_destroy(lo);
	cask_array_destroy(hi);
	return rc;
}

static int fn_astype(cli_build_t *b, const char *name, const cli_expr_t *call,
                     const cli_expr_t *self, cask_array_t **out)
{
	static const char *const params[] = { "x", "dtype", NULL };
	const cli_expr_t *s[MAX_PARAMS];
	cask_array_t *x = NULL;
	cask_dtype_t t;
	int rc;

	if ((rc = cli_build_bind(b, name, call, self, params, 2, 2, s)) < 0)
		goto out;
	if ((rc = cli_build_const_dtype(b, s[1], &t)) < 0)
		goto out;
	if ((rc = cli_build_array(b, s[0], &x)) < 0)
		goto out;
	rc = cask_astype(b->ctx, x, t, out);
	if (rc < 0)
		cli_build_lib_fail(b, call->col, rc);
out:
	cask_array_destroy(x);
	return rc;
}

/* For methods taking *args (x.transpose(1, 0), x.reshape(2, 3)): the
 * positional arguments as one tuple-like list, or the single tuple/list/None
 * argument.  Sets *items and *n to the nodes. */
static int method_varargs(cli_build_t *b, const char *name, const cli_expr_t *call,
                          const cli_expr_t *const **items, int *n)
{
	int i;

	for (i = 1; i < call->nkids; i++)
		if (call->kids[i]->kind == CLI_EXPR_KEYWORD)
			return cli_build_fail(b, call->kids[i]->col, "%s() got an unexpected keyword "
			                                             "argument '%s'", name,
			                      call->kids[i]->str);
	if (call->nkids == 2 && (call->kids[1]->kind == CLI_EXPR_TUPLE ||
	                         call->kids[1]->kind == CLI_EXPR_LIST)) {
		*items = (const cli_expr_t *const *)call->kids[1]->kids;
		*n = call->kids[1]->nkids;
		return 0;
	}
	*items = (const cli_expr_t *const *)call->kids + 1;
	*n = call->nkids - 1;
	return 0;
}

static int fn_transpose(cli_build_t *b, const char *name, const cli_expr_t *call,
                        const cli_expr_t *self, cask_array_t **out)
{
	static const char *const params[] = { "a", "axes", NULL };
	const cli_expr_t *s[MAX_PARAMS];
	const cli_expr_t *const *items = NULL;
	cask_array_t *a = NULL;
	int perm[CASK_MAX_DIMS], n = 0, rc, i, ndim, use_perm = 0;

	if (self) {
		if ((rc = method_varargs(b, name, call, &items, &n)) < 0)
			goto out;
		/* x.transpose() and x.transpose(None) reverse the axes. */
		if (n == 1 && items[0]->kind == CLI_EXPR_NONE)
			n = 0;
		if ((rc = cli_build_array(b, self, &a)) < 0)
			goto out;
	} else {
		if ((rc = cli_build_bind(b, name, call, self, params, 1, 2, s)) < 0)
			goto out;
		if ((rc = cli_build_array(b, s[0], &a)) < 0)
			goto out;
		if (s[1] && s[1]->kind != CLI_EXPR_NONE) {
			if (s[1]->kind != CLI_EXPR_TUPLE && s[1]->kind != CLI_EXPR_LIST) {
				rc = cli_build_fail(b, s[1]->col, "transpose(): axes must be a tuple of "
				                                  "integers");
				goto out;
			}
			items = (const cli_expr_t *const *)s[1]->kids;
			n = s[1]->nkids;
		}
	}
	ndim = cask_array_ndim(a);
	if (items && n > 0) {
		const cli_expr_t *at = items[0];

		if (n != ndim) {
			rc = cli_build_fail(b, at->col, "transpose(): axes don't match the array (%d "
			                                "given for %d dimensions)", n, ndim);
			goto out;
		}
		for (i = 0; i < n; i++) {
			int64_t v;

			if ((rc = cli_build_const_int(b, items[i], "axes", &v)) < 0 ||
			    (rc = check_axis(b, items[i], v, ndim, &perm[i])) < 0)
				goto out;
		}
		use_perm = 1;
	}
	rc = cask_transpose(b->ctx, a, use_perm ? perm : NULL, out);
	if (rc < 0)
		cli_build_lib_fail(b, call->col, rc);
out:
	cask_array_destroy(a);
	return rc;
}

static int fn_reshape(cli_build_t *b, const char *name, const cli_expr_t *call,
                      const cli_expr_t *self, cask_array_t **out)
{
	static const char *const params[] = { "a", "newshape", NULL };
	const cli_expr_t *s[MAX_PARAMS];
	const cli_expr_t *const *items = NULL;
	const cli_expr_t *one[1];
	cask_array_t *a = NULL;
	int64_t shape[CASK_MAX_DIMS], known = 1, size;
	int n = 0, rc, i, infer = -1, col = call->col;

	if (self) {
		if ((rc = method_varargs(b, name, call, &items, &n)) < 0)
			goto out;
		if ((rc = cli_build_array(b, self, &a)) < 0)
			goto out;
	} else {
		if ((rc = cli_build_bind(b, name, call, self, params, 2, 2, s)) < 0)
			goto out;
		if ((rc = cli_build_array(b, s[0], &a)) < 0)
			goto out;
		col = s[1]->col;
		if (s[1]->kind == CLI_EXPR_TUPLE || s[1]->kind == CLI_EXPR_LIST) {
			items = (const cli_expr_t *const *)s[1]->kids;
			n = s[1]->nkids;
		} else {
			one[0] = s[1];
			items = one;
			n = 1;
		}
	}
	if (n > CASK_MAX_DIMS) {
		rc = cli_build_fail(b, col, "reshape(): more than %d dimensions", CASK_MAX_DIMS);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((rc = cli_build_const_int(b, items[i], "shape", &shape[i])) < 0)
			goto out;
		if (shape[i] == -1 && infer < 0) {
			infer = i;
		} else if (shape[i] < 0) {
			rc = cli_build_fail(b, items[i]->col, "reshape(): invalid extent %" PRId64,
			                    shape[i]);
			goto out;
		} else if (__builtin_mul_overflow(known, shape[i], &known)) {
			rc = cli_build_fail(b, items[i]->col, "reshape(): shape too large");
			goto out;
		}
	}
	size = cask_array_size(a);
	if (infer >= 0) {
		if (known == 0 || size % known != 0) {
			rc = cli_build_fail(b, col, "cannot reshape an array of size %" PRId64 " into "
			                            "that shape", size);
			goto out;
		}
		shape[infer] = size / known;
	} else if (known != size) {
		rc = cli_build_fail(b, col, "cannot reshape an array of size %" PRId64 " into shape "
		                            "of size %" PRId64, size, known);
		goto out;
	}
	rc = cask_reshape(b->ctx, a, n, shape, out);
	if (rc < 0)
		cli_build_lib_fail(b, call->col, rc);
out:
	cask_array_destroy(a);
	return rc;
}

/* concatenate and stack: a tuple or list of arrays and an axis. */
static int fn_join(cli_build_t *b, const char *name, const cli_expr_t *call,
                   const cli_expr_t *self, cask_array_t **out)
{
	static const char *const params[] = { "arrays", "axis", NULL };
	const cli_expr_t *s[MAX_PARAMS];
	cask_array_t **arrs = NULL;
	int64_t axis = 0;
	int n = 0, i, rc, is_stack = strcmp(name, "stack") == 0, ndim, ax = 0;

	if ((rc = cli_build_bind(b, name, call, self, params, 1, 2, s)) < 0)
		goto out;
	if (s[0]->kind != CLI_EXPR_TUPLE && s[0]->kind != CLI_EXPR_LIST) {
		rc = cli_build_fail(b, s[0]->col, "%s() takes a tuple or list of arrays, e.g. "
		                                  "%s((a, b))", name, name);
		goto out;
	}
	if (s[0]->nkids == 0) {
		rc = cli_build_fail(b, s[0]->col, "%s(): need at least one array", name);
		goto out;
	}
	if (s[1]) {
		if (s[1]->kind == CLI_EXPR_NONE) {
			rc = cli_build_fail(b, s[1]->col, "%s(): axis=None is not supported", name);
			goto out;
		}
		if ((rc = cli_build_const_int(b, s[1], "axis", &axis)) < 0)
			goto out;
	}
	arrs = calloc((size_t)s[0]->nkids, sizeof *arrs);
	if (!arrs) {
		rc = cli_build_lib_fail(b, call->col, CASK_ENOMEM);
		goto out;
	}
	for (n = 0; n < s[0]->nkids; n++)
		if ((rc = cli_build_array(b, s[0]->kids[n], &arrs[n])) < 0)
			goto out;
	ndim = cask_array_ndim(arrs[0]) + is_stack;
	if ((rc = check_axis(b, s[1] ? s[1] : call, axis, ndim, &ax)) < 0)
		goto out;
	if (is_stack)
		rc = cask_stack(b->ctx, n, arrs, ax, out);
	else
		rc = cask_concatenate(b->ctx, n, arrs, ax, out);
	if (rc < 0)
		cli_build_lib_fail(b, call->col, rc);
out:
	for (i = 0; i < n; i++)
		cask_array_destroy(arrs[i]);
	free(arrs);
	return rc;
}

static int fn_square(cli_build_t *b, const char *name, const cli_expr_t *call,
                     const cli_expr_t *self, cask_array_t **out)
{
	static const char *const params[] = { "x", NULL };
	const cli_expr_t *s[MAX_PARAMS];
	cask_array_t *x = NULL;
	int rc;

	if ((rc = cli_build_bind(b, name, call, self, params, 1, 1, s)) < 0)
		goto out;
	if ((rc = cli_build_array(b, s[0], &x)) < 0)
		goto out;
	if (cask_array_dtype(x) == CASK_BOOL) {
		/* np.square has no bool loop: bool input runs int8's ('bb->b'). */
		cask_array_t *t = NULL;

		rc = cask_astype(b->ctx, x, CASK_INT8, &t);
		cask_array_destroy(x);
		x = t;
		if (rc < 0) {
			cli_build_lib_fail(b, call->col, rc);
			goto out;
		}
	}
	rc = cask_binary(b->ctx, CASK_MUL, x, x, out);
	if (rc < 0)
		cli_build_lib_fail(b, call->col, rc);
out:
	cask_array_destroy(x);
	return rc;
}

static int fn_positive(cli_build_t *b, const char *name, const cli_expr_t *call,
                       const cli_expr_t *self, cask_array_t **out)
{
	static const char *const params[] = { "x", NULL };
	const cli_expr_t *s[MAX_PARAMS];
	int rc;

	if ((rc = cli_build_bind(b, name, call, self, params, 1, 1, s)) < 0)
		return rc;
	return cli_build_array(b, s[0], out);
}

/* NumPy's power_of_ten (multiarray/calculation.c): the table up to 1e8,
 * then repeated products, which round 10^n for large n just as it does. */
static double round_power_of_ten(int64_t n)
{
	static const double p10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8 };
	double r;

	if (n < 9)
		return p10[n];
	for (r = 1e9; n > 9; n--)
		r *= 10.0;
	return r;
}

/* np.round(a, decimals) as NumPy computes it: integers with decimals >= 0
 * are returned as they are; otherwise rint(a * 10^d) / 10^d, or for d < 0
 * rint(a / 10^-d) * 10^-d, in a's float dtype (10^d a weak scalar, so
 * float32 stays float32), integers through float64 and back to their
 * dtype.  Half to even, as rint; a * 10^d may overflow to inf, as there. */
static int fn_round(cli_build_t *b, const char *name, const cli_expr_t *call,
                    const cli_expr_t *self, cask_array_t **out)
{
	static const char *const params[] = { "a", "decimals", NULL };
	const cli_expr_t *s[MAX_PARAMS];
	cask_array_t *x = NULL, *f = NULL, *y = NULL, *z = NULL;
	int64_t dec = 0;
	cask_dtype_t dt;
	int rc, is_float;

	if ((rc = cli_build_bind(b, name, call, self, params, 1, 2, s)) < 0)
		goto out;
	if (s[1] && (rc = cli_build_const_int(b, s[1], "decimals", &dec)) < 0)
		goto out;
	if (dec < -400 || dec > 400) {
		rc = cli_build_fail(b, s[1]->col, "%s(): decimals=%lld is out of range (-400..400)",
		                    name, (long long)dec);
		goto out;
	}
	if ((rc = cli_build_array(b, s[0], &x)) < 0)
		goto out;
	dt = cask_array_dtype(x);
	is_float = dt == CASK_FLOAT32 || dt == CASK_FLOAT64;
	/* Integers with decimals >= 0 are already whole: np.round returns them
	 * in their own dtype (bool is not an integer there). */
	if (dt != CASK_BOOL && !is_float && dec >= 0) {
		*out = x;
		x = NULL;
		goto out;
	}
	if (dec == 0) {
		/* NumPy rounds half to even, as rint (bool becomes float16 there,
		 * float32 here: cask has no float16). */
		rc = cask_unary(b->ctx, CASK_RINT, x, out);
		if (rc < 0)
			cli_build_lib_fail(b, call->col, rc);
		goto out;
	}
	if (dt == CASK_BOOL) {
		rc = cli_build_fail(b, call->col, "%s() of a bool array with decimals=%lld: NumPy "
		                    "cannot store the float product in bool", name, (long long)dec);
		goto out;
	}
	if (!is_float) {
		rc = cask_astype(b->ctx, x, CASK_FLOAT64, &y);
		if (rc < 0)
			goto lib_fail;
		cask_array_destroy(x);
		x = y;
		y = NULL;
	}
	cask_scalar_t p = { .dtype = CASK_FLOAT64, .v.f = round_power_of_ten(dec < 0 ? -dec : dec) };
	if ((rc = cask_array_scalar(b->ctx, p, 1, &f)) < 0 ||
	    (rc = cask_binary(b->ctx, dec > 0 ? CASK_MUL : CASK_DIV, x, f, &y)) < 0 ||
	    (rc = cask_unary(b->ctx, CASK_RINT, y, &z)) < 0)
		goto lib_fail;
	cask_array_destroy(y);
	y = NULL;
	if ((rc = cask_binary(b->ctx, dec > 0 ? CASK_DIV : CASK_MUL, z, f, &y)) < 0)
		goto lib_fail;
	if (!is_float) {
		rc = cask_astype(b->ctx, y, dt, out);
		if (rc < 0)
			goto lib_fail;
	} else {
		*out = y;
		y = NULL;
	}
	goto out;
lib_fail:
	cli_build_lib_fail(b, call->col, rc);
out:
	cask_array_destroy(z);
	cask_array_destroy(y);
	cask_array_destroy(f);
	cask_array_destroy(x);
	return rc;
}

static int matmul_arrays(cli_build_t *b, int col, cask_array_t *x, cask_array_t *y,
                         cask_array_t **out)
{
	if (!cli_fn_matmul)
		return cli_build_fail(b, col, "matrix multiplication (@) is not available in this "
		                              "build yet");
	return cli_fn_matmul(b, col, x, y, out);
}

static int fn_matmul(cli_build_t *b, const char *name, const cli_expr_t *call,
                     const cli_expr_t *self, cask_array_t **out)
{
	static const char *const params[] = { "a", "b", NULL };
	const cli_expr_t *s[MAX_PARAMS];
	cask_array_t *x = NULL, *y = NULL;
	int rc;

	if ((rc = cli_build_bind(b, name, call, self, params, 2, 2, s)) < 0)
		goto out;
	if ((rc = cli_build_array(b, s[0], &x)) < 0 || (rc = cli_build_array(b, s[1], &y)) < 0)
		goto out;
	rc = matmul_arrays(b, call->col, x, y, out);
out:
	cask_array_destroy(x);
	cask_array_destroy(y);
	return rc;
}

static int fn_filter(cli_build_t *b, const char *name, const cli_expr_t *call,
                     const cli_expr_t *self, cask_array_t **out)
{
	if (!cli_fn_filter)
		return cli_build_fail(b, call->col, "%s() is not available in this build yet", name);
	return cli_fn_filter(b, name, call, self, out);
}

/* ------------------------------------------------------------- the table */

typedef enum { F_UNARY, F_BINARY, F_REDUCE, F_OTHER } fn_kind_t;

typedef struct {
	const char *name;
	fn_kind_t kind;
	int op;      /* cask_op_t (F_UNARY, F_BINARY) or cask_redop_t (F_REDUCE) */
	int method;  /* also callable as x.name(...), as an ndarray method */
	cli_fn_t fn; /* F_OTHER */
} fn_entry_t;

static const fn_entry_t functions[] = {
	/* elementwise, binary */
	{ "add", F_BINARY, CASK_ADD, 0, NULL },
	{ "subtract", F_BINARY, CASK_SUB, 0, NULL },
	{ "multiply", F_BINARY, CASK_MUL, 0, NULL },
	{ "divide", F_BINARY, CASK_DIV, 0, NULL },
	{ "true_divide", F_BINARY, CASK_DIV, 0, NULL },
	{ "floor_divide", F_BINARY, CASK_FLOORDIV, 0, NULL },
	{ "mod", F_BINARY, CASK_MOD, 0, NULL },
	{ "remainder", F_BINARY, CASK_MOD, 0, NULL },
	{ "power", F_BINARY, CASK_POW, 0, NULL },
	{ "less", F_BINARY, CASK_LT, 0, NULL },
	{ "less_equal", F_BINARY, CASK_LE, 0, NULL },
	{ "greater", F_BINARY, CASK_GT, 0, NULL },
	{ "greater_equal", F_BINARY, CASK_GE, 0, NULL },
	{ "equal", F_BINARY, CASK_EQ, 0, NULL },
	{ "not_equal", F_BINARY, CASK_NE, 0, NULL },
	{ "bitwise_and", F_BINARY, CASK_AND, 0, NULL },
	{ "bitwise_or", F_BINARY, CASK_OR, 0, NULL },
	{ "bitwise_xor", F_BINARY, CASK_XOR, 0, NULL },
	{ "logical_and", F_BINARY, CASK_LOGICAL_AND, 0, NULL },
	{ "logical_or", F_BINARY, CASK_LOGICAL_OR, 0, NULL },
	{ "logical_xor", F_BINARY, CASK_LOGICAL_XOR, 0, NULL },
	{ "minimum", F_BINARY, CASK_MINIMUM, 0, NULL },
	{ "maximum", F_BINARY, CASK_MAXIMUM, 0, NULL },
	{ "arctan2", F_BINARY, CASK_ARCTAN2, 0, NULL },
	{ "hypot", F_BINARY, CASK_HYPOT, 0, NULL },
	/* elementwise, unary */
	{ "negative", F_UNARY, CASK_NEG, 0, NULL },
	{ "abs", F_UNARY, CASK_ABS, 0, NULL },
	{ "absolute", F_UNARY, CASK_ABS, 0, NULL },
	{ "sqrt", F_UNARY, CASK_SQRT, 0, NULL },
	{ "exp", F_UNARY, CASK_EXP, 0, NULL },
	{ "log", F_UNARY, CASK_LOG, 0, NULL },
	{ "log2", F_UNARY, CASK_LOG2, 0, NULL },
	{ "log10", F_UNARY, CASK_LOG10, 0, NULL },
	{ "log1p", F_UNARY, CASK_LOG1P, 0, NULL },
	{ "expm1", F_UNARY, CASK_EXPM1, 0, NULL },
	{ "sin", F_UNARY, CASK_SIN, 0, NULL },
	{ "cos", F_UNARY, CASK_COS, 0, NULL },
	{ "tan", F_UNARY, CASK_TAN, 0, NULL },
	{ "arcsin", F_UNARY, CASK_ARCSIN, 0, NULL },
	{ "arccos", F_UNARY, CASK_ARCCOS, 0, NULL },
	{ "arctan", F_UNARY, CASK_ARCTAN, 0, NULL },
	{ "sinh", F_UNARY, CASK_SINH, 0, NULL },
	{ "cosh", F_UNARY, CASK_COSH, 0, NULL },
	{ "tanh", F_UNARY, CASK_TANH, 0, NULL },
	{ "floor", F_UNARY, CASK_FLOOR, 0, NULL },
	{ "ceil", F_UNARY, CASK_CEIL, 0, NULL },
	{ "rint", F_UNARY, CASK_RINT, 0, NULL },
	{ "sign", F_UNARY, CASK_SIGN, 0, NULL },
	{ "isnan", F_UNARY, CASK_ISNAN, 0, NULL },
	{ "isinf", F_UNARY, CASK_ISINF, 0, NULL },
	{ "isfinite", F_UNARY, CASK_ISFINITE, 0, NULL },
	{ "invert", F_UNARY, CASK_INVERT, 0, NULL },
	{ "bitwise_not", F_UNARY, CASK_INVERT, 0, NULL },
	{ "logical_not", F_UNARY, CASK_LOGICAL_NOT, 0, NULL },
	{ "square", F_OTHER, 0, 0, fn_square },
	{ "positive", F_OTHER, 0, 0, fn_positive },
	{ "round", F_OTHER, 0, 1, fn_round },
	{ "around", F_OTHER, 0, 0, fn_round },
	{ "where", F_OTHER, 0, 0, fn_where },
	{ "clip", F_OTHER, 0, 1, fn_clip },
	{ "astype", F_OTHER, 0, 1, fn_astype },
	/* reductions */
	{ "sum", F_REDUCE, CASK_SUM, 1, NULL },
	{ "prod", F_REDUCE, CASK_PROD, 1, NULL },
	{ "mean", F_REDUCE, CASK_MEAN, 1, NULL },
	{ "var", F_REDUCE, CASK_VAR, 1, NULL },
	{ "std", F_REDUCE, CASK_STD, 1, NULL },
	{ "min", F_REDUCE, CASK_MIN, 1, NULL },
	{ "max", F_REDUCE, CASK_MAX, 1, NULL },
	{ "amin", F_REDUCE, CASK_MIN, 0, NULL },
	{ "amax", F_REDUCE, CASK_MAX, 0, NULL },
	{ "argmin", F_REDUCE, CASK_ARGMIN, 1, NULL },
	{ "argmax", F_REDUCE, CASK_ARGMAX, 1, NULL },
	{ "any", F_REDUCE, CASK_ANY, 1, NULL },
	{ "all", F_REDUCE, CASK_ALL, 1, NULL },
	{ "count_nonzero", F_REDUCE, CASK_COUNT_NONZERO, 0, NULL },
	{ "nansum", F_REDUCE, CASK_NANSUM, 0, NULL },
	{ "nanprod", F_REDUCE, CASK_NANPROD, 0, NULL },
	{ "nanmean", F_REDUCE, CASK_NANMEAN, 0, NULL },
	{ "nanvar", F_REDUCE, CASK_NANVAR, 0, NULL },
	{ "nanstd", F_REDUCE, CASK_NANSTD, 0, NULL },
	{ "nanmin", F_REDUCE, CASK_NANMIN, 0, NULL },
	{ "nanmax", F_REDUCE, CASK_NANMAX, 0, NULL },
	/* shape */
	{ "transpose", F_OTHER, 0, 1, fn_transpose },
	{ "reshape", F_OTHER, 0, 1, fn_reshape },
	{ "concatenate", F_OTHER, 0, 0, fn_join },
	{ "stack", F_OTHER, 0, 0, fn_join },
	/* hooks: matmul (issue 4) */
	{ "matmul", F_OTHER, 0, 0, fn_matmul },
	{ "dot", F_OTHER, 0, 1, fn_matmul },
	/* hooks: scipy.ndimage filters (issue 5) */
	{ "gaussian", F_OTHER, 0, 0, fn_filter },
	{ "gaussian_filter", F_OTHER, 0, 0, fn_filter },
	{ "uniform", F_OTHER, 0, 0, fn_filter },
	{ "uniform_filter", F_OTHER, 0, 0, fn_filter },
	{ "median", F_OTHER, 0, 0, fn_filter },
	{ "median_filter", F_OTHER, 0, 0, fn_filter },
	{ "minimum_filter", F_OTHER, 0, 0, fn_filter },
	{ "maximum_filter", F_OTHER, 0, 0, fn_filter },
	{ "sobel", F_OTHER, 0, 0, fn_filter },
	{ "prewitt", F_OTHER, 0, 0, fn_filter },
	{ "laplace", F_OTHER, 0, 0, fn_filter },
	{ "gaussian_gradient_magnitude", F_OTHER, 0, 0, fn_filter },
	{ "gaussian_laplace", F_OTHER, 0, 0, fn_filter },
	{ "convolve", F_OTHER, 0, 0, fn_filter },
	{ "correlate", F_OTHER, 0, 0, fn_filter },
};

#define NFUNCTIONS ((int)(sizeof functions / sizeof functions[0]))

static const fn_entry_t *find_function(const char *name)
{
	int i;

	for (i = 0; i < NFUNCTIONS; i++)
		if (strcmp(functions[i].name, name) == 0)
			return &functions[i];
	return NULL;
}

static const char *closest_function(const char *name)
{
	const char *names[sizeof functions / sizeof functions[0]];
	int i, maxd = strlen(name) <= 3 ? 1 : 2;

	for (i = 0; i < NFUNCTIONS; i++)
		names[i] = functions[i].name;
	return closest(name, names, NFUNCTIONS, maxd);
}

static int build_call(cli_build_t *b, const cli_expr_t *e, cask_array_t **out)
{
	const cli_expr_t *callee = e->kids[0], *self = NULL;
	const fn_entry_t *f;
	const char *name;

	if (callee->kind == CLI_EXPR_NAME) {
		if (lookup(b, callee->str))
			return cli_build_fail(b, callee->col, "'%s' is an array, not a function",
			                      callee->str);
		name = callee->str;
	} else if (callee->kind == CLI_EXPR_ATTR) {
		name = callee->str;
		if (!is_numpy_module(b, callee->kids[0]))
			self = callee->kids[0];
	} else {
		return cli_build_fail(b, e->col, "only functions can be called");
	}
	f = find_function(name);
	if (!f) {
		const char *s = closest_function(name);

		if (s)
			return cli_build_fail(b, callee->col, "unknown function '%s' (did you mean "
			                                      "'%s'?)", name, s);
		return cli_build_fail(b, callee->col, "unknown function '%s'", name);
	}
	if (self && !f->method)
		return cli_build_fail(b, callee->col, "'%s' is not an array method here; write "
		                                      "%s(x, ...)", name, name);
	switch (f->kind) {
	case F_UNARY: return fn_unary(b, name, e, self, out, (cask_op_t)f->op);
	case F_BINARY: return fn_binary(b, name, e, self, out, (cask_op_t)f->op);
	case F_REDUCE: return fn_reduce(b, name, e, self, out, (cask_redop_t)f->op);
	default: return f->fn(b, name, e, self, out);
	}
}

/* ------------------------------------------------------------- nodes */

static int build_index(cli_build_t *b, const cli_expr_t *e, cask_array_t **out)
{
	cask_array_t *a = NULL;
	cask_index_t *idx = NULL;
	int n = e->nkids - 1, i, rc;

	if ((rc = cli_build_array(b, e->kids[0], &a)) < 0)
		goto out;
	idx = calloc(n > 0 ? (size_t)n : 1, sizeof *idx);
	if (!idx) {
		rc = cli_build_lib_fail(b, e->col, CASK_ENOMEM);
		goto out;
	}
	for (i = 0; i < n; i++) {
		const cli_expr_t *it = e->kids[i + 1];
		cask_index_t *x = &idx[i];

		if (it->kind == CLI_EXPR_SLICE) {
			const cli_expr_t *part[3] = { it->kids[0], it->kids[1], it->kids[2] };
			int64_t v[3] = { 0, 0, 1 };
			int k;

			for (k = 0; k < 3; k++) {
				if (!part[k] || part[k]->kind == CLI_EXPR_NONE)
					continue;
				if ((rc = cli_build_const_int(b, part[k], "a slice bound", &v[k])) < 0)
					goto out;
			}
			if (v[2] == 0) {
				rc = cli_build_fail(b, part[2]->col, "slice step cannot be zero");
				goto out;
			}
			x->kind = CASK_INDEX_SLICE;
			x->start = v[0];
			x->stop = v[1];
			x->step = v[2];
			x->has_start = part[0] && part[0]->kind != CLI_EXPR_NONE;
			x->has_stop = part[1] && part[1]->kind != CLI_EXPR_NONE;
		} else if (it->kind == CLI_EXPR_NONE ||
		           (it->kind == CLI_EXPR_NAME && strcmp(it->str, "newaxis") == 0 &&
		            !lookup(b, it->str)) ||
		           (it->kind == CLI_EXPR_ATTR && strcmp(it->str, "newaxis") == 0 &&
		            is_numpy_module(b, it->kids[0]))) {
			x->kind = CASK_INDEX_NEWAXIS;
		} else if (it->kind == CLI_EXPR_ELLIPSIS) {
			x->kind = CASK_INDEX_ELLIPSIS;
		} else {
			int64_t v = 0;
			const char *why = NULL;
			int col = it->col, r = const_int_eval(it, &v, &why, &col);

			if (r == 2) {
				rc = cli_build_fail(b, col, "index: %s", why);
				goto out;
			}
			if (r == 1) {
				rc = cli_build_fail(b, it->col, "only integer constants, slices (start:stop"
				                                ":step), None and ... can index (indexing "
				                                "with arrays or booleans is not "
				                                "supported)");
				goto out;
			}
			x->kind = CASK_INDEX_INT;
			x->start = v;
		}
	}
	rc = cask_index(b->ctx, a, n, idx, out);
	if (rc < 0)
		cli_build_lib_fail(b, e->col, rc);
out:
	free(idx);
	cask_array_destroy(a);
	return rc;
}

static int build_attr(cli_build_t *b, const cli_expr_t *e, cask_array_t **out)
{
	cask_array_t *a = NULL;
	double c;
	int rc;

	if (is_numpy_module(b, e->kids[0])) {
		if (numpy_const(e, &c)) {
			cask_scalar_t v = { .dtype = CASK_FLOAT64, .v.f = c };

			return make_scalar(b, e->col, v, out);
		}
		if (find_function(e->str))
			return cli_build_fail(b, e->col, "np.%s is a function; call it as np.%s(...)",
			                      e->str, e->str);
		return cli_build_fail(b, e->col, "np.%s is not supported", e->str);
	}
	if (strcmp(e->str, "T") != 0) {
		if (find_function(e->str))
			return cli_build_fail(b, e->col, "'%s' is a method; call it as x.%s(...) or "
			                                 "%s(x, ...)", e->str, e->str, e->str);
		return cli_build_fail(b, e->col, "attribute '%s' is not supported (only .T)", e->str);
	}
	if ((rc = cli_build_array(b, e->kids[0], &a)) < 0)
		return rc;
	rc = cask_transpose(b->ctx, a, NULL, out);
	if (rc < 0)
		cli_build_lib_fail(b, e->col, rc);
	cask_array_destroy(a);
	return rc;
}

static int build_name(cli_build_t *b, const cli_expr_t *e, cask_array_t **out)
{
	cask_array_t *a = lookup(b, e->str);
	const char *names[64];
	const char *s;
	int i, n = 0;

	if (a) {
		*out = cask_array_retain(a);
		return 0;
	}
	if (find_function(e->str))
		return cli_build_fail(b, e->col, "'%s' is a function; call it as %s(...)", e->str,
		                      e->str);
	if (b->nbind == 0)
		return cli_build_fail(b, e->col, "name '%s' is not defined (bind inputs with -i "
		                                 "NAME=PATH:/DATASET)", e->str);
	for (i = 0; i < b->nbind && n < 64; i++)
		names[n++] = b->bind[i].name;
	s = closest(e->str, names, n, strlen(e->str) <= 2 ? 1 : 2);
	if (s)
		return cli_build_fail(b, e->col, "name '%s' is not defined (did you mean '%s'?)",
		                      e->str, s);
	return cli_build_fail(b, e->col, "name '%s' is not defined", e->str);
}

static int build_binary(cli_build_t *b, const cli_expr_t *e, cask_array_t **out)
{
	static const int ops[CLI_OP_COUNT] = {
		[CLI_OP_ADD] = CASK_ADD, [CLI_OP_SUB] = CASK_SUB, [CLI_OP_MUL] = CASK_MUL,
		[CLI_OP_DIV] = CASK_DIV, [CLI_OP_FLOORDIV] = CASK_FLOORDIV, [CLI_OP_MOD] = CASK_MOD,
		[CLI_OP_POW] = CASK_POW, [CLI_OP_LT] = CASK_LT, [CLI_OP_LE] = CASK_LE,
		[CLI_OP_GT] = CASK_GT, [CLI_OP_GE] = CASK_GE, [CLI_OP_EQ] = CASK_EQ,
		[CLI_OP_NE] = CASK_NE, [CLI_OP_AND] = CASK_AND, [CLI_OP_OR] = CASK_OR,
		[CLI_OP_XOR] = CASK_XOR,
	};
	cask_array_t *x = NULL, *y = NULL;
	int rc;

	if (e->op == CLI_OP_LSHIFT || e->op == CLI_OP_RSHIFT)
		return cli_build_fail(b, e->col, "the shift operator '%s' is not supported",
		                      cli_expr_op_str(e->op));
	if (e->op != CLI_OP_MATMUL)
		return binary_exprs(b, e->col, (cask_op_t)ops[e->op], e->kids[0], e->kids[1], out);
	if ((rc = cli_build_array(b, e->kids[0], &x)) < 0 ||
	    (rc = cli_build_array(b, e->kids[1], &y)) < 0)
		goto out;
	rc = matmul_arrays(b, e->col, x, y, out);
out:
	cask_array_destroy(x);
	cask_array_destroy(y);
	return rc;
}

static int build_unary(cli_build_t *b, const cli_expr_t *e, cask_array_t **out)
{
	cask_array_t *x = NULL;
	int rc;

	if ((rc = cli_build_array(b, e->kids[0], &x)) < 0)
		return rc;
	if (e->op == CLI_OP_POS) {
		*out = x;
		return 0;
	}
	rc = cask_unary(b->ctx, e->op == CLI_OP_NEG ? CASK_NEG : CASK_INVERT, x, out);
	if (rc < 0)
		cli_build_lib_fail(b, e->col, rc);
	cask_array_destroy(x);
	return rc;
}

int cli_build_array(cli_build_t *b, const cli_expr_t *e, cask_array_t **out)
{
	cask_scalar_t v;
	lit_t l;
	const char *why = NULL;
	int col = e->col, r;

	switch (e->kind) {
	case CLI_EXPR_INT: case CLI_EXPR_FLOAT: case CLI_EXPR_UNARY: case CLI_EXPR_BINARY:
		/* Arithmetic of literals alone is Python's, done here. */
		r = lit_eval(e, &l, &why, &col);
		if (r == 2)
			return cli_build_fail(b, col, "%s", why);
		if (r == 0)
			return build_literal(b, e, &l, out);
		return e->kind == CLI_EXPR_UNARY ? build_unary(b, e, out) : build_binary(b, e, out);
	case CLI_EXPR_BOOL:
		v.dtype = CASK_BOOL;
		v.v.i = e->ival;
		return make_scalar(b, e->col, v, out);
	case CLI_EXPR_NAME: return build_name(b, e, out);
	case CLI_EXPR_CALL: return build_call(b, e, out);
	case CLI_EXPR_INDEX: return build_index(b, e, out);
	case CLI_EXPR_ATTR: return build_attr(b, e, out);
	case CLI_EXPR_STRING:
		return cli_build_fail(b, e->col, "a string is not an array (strings are only "
		                                 "dtype names, as in astype(x, 'f4'))");
	case CLI_EXPR_NONE:
		return cli_build_fail(b, e->col, "None is not an array here");
	case CLI_EXPR_ELLIPSIS:
		return cli_build_fail(b, e->col, "... is only valid inside an index");
	case CLI_EXPR_TUPLE: case CLI_EXPR_LIST:
		return cli_build_fail(b, e->col, "a %s is not an array here (tuples and lists are "
		                                 "for axes, shapes and concatenate)",
		                      e->kind == CLI_EXPR_TUPLE ? "tuple" : "list");
	default:
		return cli_build_fail(b, e->col, "unexpected expression");
	}
}

int cli_build(cask_ctx_t *ctx, const cli_expr_t *e, const cli_binding_t *bindings, int nbind,
              cask_array_t **out, cli_build_error_t *err)
{
	cli_build_t b = { .ctx = ctx, .bind = bindings, .nbind = nbind, .err = err };
	cask_array_t *a = NULL;
	int rc;

	memset(err, 0, sizeof *err);
	rc = cli_build_array(&b, e, &a);
	if (rc < 0) {
		cask_array_destroy(a);
		if (!b.failed)
			cli_build_lib_fail(&b, e->col, rc);
		return rc;
	}
	*out = a;
	return 0;
}
