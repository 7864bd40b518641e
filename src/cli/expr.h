/*
 * expr.h - the expression language of `cask eval`: a tokenizer and a
 * recursive-descent parser from text to an abstract syntax tree.
 *
 * The language is a subset of Python expression syntax, as NumPy users write
 * it: literals, names, the arithmetic, bitwise and comparison operators with
 * Python's precedence, calls with keyword arguments, subscripts with slices,
 * attributes, tuples, lists and strings.  The parser knows nothing of arrays
 * or of which functions exist: expr_build.c gives the tree its meaning.  It
 * is pure C (no libcask calls), so unit tests and fuzzers link it alone.
 *
 * Precedence, lowest to highest (as Python):
 *   comparisons  < <= > >= == !=   (a chain a < b < c is an error: NumPy
 *                                   cannot evaluate Python's implicit `and`)
 *   |   ^   &   << >>   + -   * / // % @   unary - + ~   **   postfix
 *   x(...) x[...] x.name
 * `**` is right-associative and binds tighter than a unary operator on its
 * left but not on its right: -2**2 == -(2**2) and 2**-1 == 2**(-1).
 *
 * Limits: nesting deeper than CLI_EXPR_MAX_NESTING levels (parentheses,
 * brackets, unary operators, exponents) and trees higher than
 * CLI_EXPR_MAX_HEIGHT nodes (e.g. a chain of 5000 additions) are clean errors,
 * so neither the parser nor any walker of the tree can overflow the stack.
 *
 * Every error carries the 0-based byte offset in the source it refers to, so
 * the caller can print the expression with a caret under it.
 */
#ifndef CLI_EXPR_H
#define CLI_EXPR_H

#include <stdint.h>
#include <stdio.h>

#define CLI_EXPR_MAX_NESTING 200
#define CLI_EXPR_MAX_HEIGHT 1000

typedef enum {
	CLI_EXPR_INT,      /* ival (is_u64: a literal of 2**63 .. 2**64-1) */
	CLI_EXPR_FLOAT,    /* fval; also the names nan inf pi e */
	CLI_EXPR_BOOL,     /* ival 0 or 1: True False */
	CLI_EXPR_NONE,     /* None */
	CLI_EXPR_ELLIPSIS, /* ... */
	CLI_EXPR_STRING,   /* str (NUL-terminated, escapes resolved) */
	CLI_EXPR_NAME,     /* str */
	CLI_EXPR_UNARY,    /* op, kids[0] */
	CLI_EXPR_BINARY,   /* op, kids[0] op kids[1] */
	CLI_EXPR_CALL,     /* kids[0] the callee, kids[1..] arguments (KEYWORD for k=v) */
	CLI_EXPR_KEYWORD,  /* str = kids[0]; only as a call argument */
	CLI_EXPR_INDEX,    /* kids[0][kids[1], ...]; items may be SLICE, NONE, ELLIPSIS */
	CLI_EXPR_SLICE,    /* kids[0]:kids[1]:kids[2], each may be NULL; only as an index item */
	CLI_EXPR_ATTR,     /* kids[0].str */
	CLI_EXPR_TUPLE,    /* (kids...) */
	CLI_EXPR_LIST      /* [kids...] */
} cli_expr_kind_t;

typedef enum {
	/* binary */
	CLI_OP_ADD = 0, CLI_OP_SUB, CLI_OP_MUL, CLI_OP_DIV, CLI_OP_FLOORDIV, CLI_OP_MOD,
	CLI_OP_POW, CLI_OP_MATMUL, CLI_OP_LSHIFT, CLI_OP_RSHIFT,
	CLI_OP_LT, CLI_OP_LE, CLI_OP_GT, CLI_OP_GE, CLI_OP_EQ, CLI_OP_NE,
	CLI_OP_AND, CLI_OP_OR, CLI_OP_XOR,
	/* unary */
	CLI_OP_NEG, CLI_OP_POS, CLI_OP_INVERT,
	CLI_OP_COUNT
} cli_expr_op_t;

typedef struct cli_expr cli_expr_t;
struct cli_expr {
	cli_expr_kind_t kind;
	int col;           /* byte offset the node is reported at (operator, name, '[', ...) */
	cli_expr_op_t op;  /* UNARY, BINARY */
	int64_t ival;      /* INT, BOOL */
	int is_u64;        /* INT: the value is (uint64_t)ival, in 2**63 .. 2**64-1 */
	double fval;       /* FLOAT */
	char *str;         /* STRING, NAME, KEYWORD, ATTR */
	int nkids;
	cli_expr_t **kids; /* a kid may be NULL only in a SLICE */
	int height;        /* 1 for a leaf */
};

typedef struct {
	int col;        /* byte offset in the source, 0..strlen */
	char msg[256];
} cli_expr_error_t;

/* Parse src (NUL-terminated).  On success *out is the tree, freed with
 * cli_expr_free(), and 0 is returned; on failure -1 with err filled and *out
 * untouched. */
int cli_expr_parse(const char *src, cli_expr_t **out, cli_expr_error_t *err);
/* Free a tree (NULL is a no-op). */
void cli_expr_free(cli_expr_t *e);

/* The tree as an s-expression, e.g. "(neg (** 2 2))", for tests and debugging:
 *   literals as Python spells them (floats with %.17g, ".0" added to an
 *   integral one as Python's repr does), names bare, strings
 *   quoted with '', (OP a b) and (OP a) for operators spelled as in the
 *   source (unary minus "neg", unary plus "pos"), (call f a (kw axis 0)),
 *   (index x (slice 1 _ -1) None ...), (. x T), (tuple a b), (list a b).
 * Writes at most size bytes including the NUL; returns the full length (as
 * snprintf), or -1 if e is NULL. */
int cli_expr_dump(const cli_expr_t *e, char *buf, size_t size);

/* The source spelling of an operator ("+", "**", "~", ...). */
const char *cli_expr_op_str(cli_expr_op_t op);

/* Print "  SRC\n  ^\n" to f, the caret under byte offset col (counted in
 * characters of UTF-8 text; tabs of the source kept so the caret lines up). */
void cli_expr_caret(FILE *f, const char *src, int col);

#endif
