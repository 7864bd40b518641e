/*
 * expr.c - tokenizer and recursive-descent parser of the `cask eval`
 * expression language (see expr.h for the grammar and its limits).
 *
 * The source is tokenized in full first (tokens <= bytes + 1), so the parser
 * can look two tokens ahead (keyword arguments, the literal -2**63).  The
 * parser functions follow Python's grammar one precedence level each; every
 * one returns a node or NULL with the error already set in the parser.
 *
 * Invariants:
 *  1. Every recursion passes through parse_unary(), which counts the nesting
 *     depth, so the C stack is bounded by CLI_EXPR_MAX_NESTING levels.
 *  2. Every node is finished by finish(), which computes its height and
 *     refuses trees higher than CLI_EXPR_MAX_HEIGHT, so recursive walkers of
 *     a tree (free, dump, the builder) are bounded too.
 *  3. The first error wins: p->failed is set once and later errors are not
 *     recorded.
 */
#include "expr.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- tokens */

typedef enum {
	T_END = 0, T_INT /* ival; is_u64 above INT64_MAX */, T_FLOAT,
	T_STRING, T_NAME,
	T_LPAREN, T_RPAREN, T_LBRACK, T_RBRACK, T_COMMA, T_COLON, T_DOT, T_ELLIPSIS, T_ASSIGN,
	T_PLUS, T_MINUS, T_STAR, T_SLASH, T_DSLASH, T_PERCENT, T_DSTAR, T_AT,
	T_LT, T_LE, T_GT, T_GE, T_EQ, T_NE, T_AMP, T_PIPE, T_CARET, T_TILDE,
	T_LSHIFT, T_RSHIFT
} tok_kind_t;

typedef struct {
	tok_kind_t kind;
	int col;
	int len;
	int64_t ival;
	int is_u64;     /* T_INT: the value is (uint64_t)ival, above INT64_MAX */
	double fval;
} tok_t;

typedef struct {
	const char *src;
	tok_t *toks;
	int ntoks;
	int pos;
	int depth;
	int failed;
	cli_expr_error_t *err;
} parser_t;

static void fail(parser_t *p, int col, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fail(parser_t *p, int col, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return;
	p->failed = 1;
	p->err->col = col;
	va_start(ap, fmt);
	vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
	va_end(ap);
}

static int is_ident_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_ident_char(int c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

static int digit_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

/* Scan digits of the given base with Python's single underscores between
 * digits, from s[*i].  Returns the number of digits, or -1 on a misplaced
 * underscore. */
static int scan_digits(const char *s, int *i, int base)
{
	int n = 0;

	while (1) {
		if (digit_value((unsigned char)s[*i]) < base) {
			n++;
			(*i)++;
		} else if (s[*i] == '_' && n > 0 && digit_value((unsigned char)s[*i + 1]) < base) {
			(*i)++;
		} else {
			break;
		}
	}
	if (s[*i] == '_')
		return -1;
	return n;
}

/* Tokenize a number starting at s[start]; fills t.  Returns 0 or -1 (error
 * set).  Grammar: Python's integer (decimal without leading zeros, 0x 0o 0b)
 * and float literals; digits may be separated by single underscores. */
static int lex_number(parser_t *p, int start, tok_t *t)
{
	const char *s = p->src;
	int i = start, is_float = 0, base = 10, nd;
	char buf[512];
	int k, j;

	t->col = start;
	if (s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X' || s[i + 1] == 'o' ||
	                    s[i + 1] == 'O' || s[i + 1] == 'b' || s[i + 1] == 'B')) {
		char c = s[i + 1];

		base = (c == 'x' || c == 'X') ? 16 : (c == 'o' || c == 'O') ? 8 : 2;
		i += 2;
		if (s[i] == '_')
			i++;
		nd = scan_digits(s, &i, base);
		if (nd <= 0 || is_ident_char((unsigned char)s[i]) || s[i] == '.') {
			fail(p, start, "invalid number");
			return -1;
		}
	} else {
		int int_digits = 0;

		if (s[i] != '.') {
			int_digits = scan_digits(s, &i, 10);
			if (int_digits < 0) {
				fail(p, start, "invalid number");
				return -1;
			}
		}
		if (s[i] == '.') {
			is_float = 1;
			i++;
			nd = scan_digits(s, &i, 10);
			if (nd < 0 || (nd == 0 && int_digits == 0)) {
				fail(p, start, "invalid number");
				return -1;
			}
		}
		if (s[i] == 'e' || s[i] == 'E') {
			is_float = 1;
			i++;
			if (s[i] == '+' || s[i] == '-')
				i++;
			nd = scan_digits(s, &i, 10);
			if (nd <= 0) {
				fail(p, start, "invalid number (exponent without digits)");
				return -1;
			}
		}
		if (is_ident_char((unsigned char)s[i])) {
			fail(p, start, "invalid number");
			return -1;
		}
		if (!is_float) {
			/* Python forbids leading zeros on a nonzero decimal integer. */
			int nonzero = 0;

			for (j = start; j < i; j++)
				if (s[j] != '0' && s[j] != '_')
					nonzero = 1;
			if (s[start] == '0' && nonzero) {
				fail(p, start, "invalid number (leading zeros are not allowed; "
				               "write 0o... for octal)");
				return -1;
			}
		}
	}
	t->len = i - start;
	/* Copy without underscores for strtod / the integer accumulation. */
	for (j = start, k = 0; j < i && k < (int)sizeof buf - 1; j++)
		if (s[j] != '_')
			buf[k++] = s[j];
	buf[k] = '\0';
	if (k >= (int)sizeof buf - 1) {
		fail(p, start, "number too long");
		return -1;
	}
	if (is_float) {
		t->kind = T_FLOAT;
		t->fval = strtod(buf, NULL); /* overflow gives inf, as Python's 1e999 */
	} else {
		/* Python's ints are unbounded; cask reads literals up to 2**64-1 (the
		 * largest uint64), so -2**63 and every uint64 value can be spelt. */
		uint64_t v = 0;
		int from = (base == 10) ? 0 : 2;

		for (j = from; j < k; j++) {
			uint64_t d = (uint64_t)digit_value((unsigned char)buf[j]);

			if (v > (UINT64_MAX - d) / (uint64_t)base) {
				fail(p, start, "integer literal too large (cask reads integer literals "
				               "up to 2**64-1; write larger ones as 2**70 etc.)");
				return -1;
			}
			v = v * (uint64_t)base + d;
		}
		t->kind = T_INT;
		t->ival = (int64_t)v;
		t->is_u64 = v > (uint64_t)INT64_MAX;
	}
	return 0;
}

static int lex_string(parser_t *p, int start, tok_t *t)
{
	const char *s = p->src;
	char q = s[start];
	int i = start + 1;

	while (s[i] != q) {
		if (s[i] == '\0' || s[i] == '\n') {
			fail(p, start, "unterminated string");
			return -1;
		}
		if (s[i] == '\\' && s[i + 1] != '\0')
			i++;
		i++;
	}
	t->kind = T_STRING;
	t->col = start;
	t->len = i + 1 - start;
	return 0;
}

static int tokenize(parser_t *p)
{
	const char *s = p->src;
	size_t n = strlen(s);
	int i = 0;

	if (n > (size_t)INT32_MAX / 2) {
		fail(p, 0, "expression too long");
		return -1;
	}
	p->toks = calloc(n + 1, sizeof *p->toks);
	if (!p->toks) {
		fail(p, 0, "out of memory");
		return -1;
	}
	p->ntoks = 0;
	while (1) {
		tok_t *t = &p->toks[p->ntoks];
		unsigned char c = (unsigned char)s[i];
		unsigned char c1 = c ? (unsigned char)s[i + 1] : 0;

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
			i++;
			continue;
		}
		t->col = i;
		t->len = 1;
		if (c == '\0') {
			t->kind = T_END;
			t->len = 0;
			p->ntoks++;
			return 0;
		}
		if ((c >= '0' && c <= '9') || (c == '.' && c1 >= '0' && c1 <= '9')) {
			if (lex_number(p, i, t) < 0)
				return -1;
			i += t->len;
			p->ntoks++;
			continue;
		}
		if (is_ident_start(c)) {
			int j = i;

			while (is_ident_char((unsigned char)s[j]))
				j++;
			t->kind = T_NAME;
			t->len = j - i;
			i = j;
			p->ntoks++;
			continue;
		}
		if (c == '\'' || c == '"') {
			if (lex_string(p, i, t) < 0)
				return -1;
			i += t->len;
			p->ntoks++;
			continue;
		}
		switch (c) {
		case '(': t->kind = T_LPAREN; break;
		case ')': t->kind = T_RPAREN; break;
		case '[': t->kind = T_LBRACK; break;
		case ']': t->kind = T_RBRACK; break;
		case ',': t->kind = T_COMMA; break;
		case ':': t->kind = T_COLON; break;
		case '+': t->kind = T_PLUS; break;
		case '-': t->kind = T_MINUS; break;
		case '%': t->kind = T_PERCENT; break;
		case '@': t->kind = T_AT; break;
		case '&': t->kind = T_AMP; break;
		case '|': t->kind = T_PIPE; break;
		case '^': t->kind = T_CARET; break;
		case '~': t->kind = T_TILDE; break;
		case '.':
			if (c1 == '.' && s[i + 2] == '.') {
				t->kind = T_ELLIPSIS;
				t->len = 3;
			} else {
				t->kind = T_DOT;
			}
			break;
		case '*':
			if (c1 == '*') {
				t->kind = T_DSTAR;
				t->len = 2;
			} else {
				t->kind = T_STAR;
			}
			break;
		case '/':
			if (c1 == '/') {
				t->kind = T_DSLASH;
				t->len = 2;
			} else {
				t->kind = T_SLASH;
			}
			break;
		case '<':
			if (c1 == '=') {
				t->kind = T_LE;
				t->len = 2;
			} else if (c1 == '<') {
				t->kind = T_LSHIFT;
				t->len = 2;
			} else {
				t->kind = T_LT;
			}
			break;
		case '>':
			if (c1 == '=') {
				t->kind = T_GE;
				t->len = 2;
			} else if (c1 == '>') {
				t->kind = T_RSHIFT;
				t->len = 2;
			} else {
				t->kind = T_GT;
			}
			break;
		case '=':
			if (c1 == '=') {
				t->kind = T_EQ;
				t->len = 2;
			} else {
				t->kind = T_ASSIGN;
			}
			break;
		case '!':
			if (c1 == '=') {
				t->kind = T_NE;
				t->len = 2;
				break;
			}
			fail(p, i, "unexpected character '!' (did you mean '~' or '!='?)");
			return -1;
		default:
			if (c >= 0x20 && c < 0x7f)
				fail(p, i, "unexpected character '%c'", c);
			else
				fail(p, i, "unexpected character (byte 0x%02x)", c);
			return -1;
		}
		/* Augmented assignments (+= etc.) are not expressions. */
		i += t->len;
		p->ntoks++;
	}
}

/* ------------------------------------------------------------- nodes */

static const char *const op_strs[CLI_OP_COUNT] = {
	[CLI_OP_ADD] = "+", [CLI_OP_SUB] = "-", [CLI_OP_MUL] = "*", [CLI_OP_DIV] = "/",
	[CLI_OP_FLOORDIV] = "//", [CLI_OP_MOD] = "%", [CLI_OP_POW] = "**", [CLI_OP_MATMUL] = "@",
	[CLI_OP_LSHIFT] = "<<", [CLI_OP_RSHIFT] = ">>", [CLI_OP_LT] = "<", [CLI_OP_LE] = "<=",
	[CLI_OP_GT] = ">", [CLI_OP_GE] = ">=", [CLI_OP_EQ] = "==", [CLI_OP_NE] = "!=",
	[CLI_OP_AND] = "&", [CLI_OP_OR] = "|", [CLI_OP_XOR] = "^", [CLI_OP_NEG] = "-",
	[CLI_OP_POS] = "+", [CLI_OP_INVERT] = "~",
};

const char *cli_expr_op_str(cli_expr_op_t op)
{
	if ((int)op < 0 || op >= CLI_OP_COUNT)
		return "?";
	return op_strs[op];
}

void cli_expr_free(cli_expr_t *e)
{
	int i;

	if (!e)
		return;
	for (i = 0; i < e->nkids; i++)
		cli_expr_free(e->kids[i]);
	free(e->kids);
	free(e->str);
	free(e);
}

static cli_expr_t *node_new(parser_t *p, cli_expr_kind_t kind, int col)
{
	cli_expr_t *e = calloc(1, sizeof *e);

	if (!e) {
		fail(p, col, "out of memory");
		return NULL;
	}
	e->kind = kind;
	e->col = col;
	e->height = 1;
	return e;
}

/* Append kid (may be NULL for slices) to e.  On failure frees kid and
 * returns -1 (e keeps its other kids; the caller frees e). */
static int node_add(parser_t *p, cli_expr_t *e, cli_expr_t *kid)
{
	cli_expr_t **k;

	/* Grow in powers of two. */
	if ((e->nkids & (e->nkids - 1)) == 0) {
		size_t cap = e->nkids ? (size_t)e->nkids * 2 : 1;

		if (e->nkids >= INT32_MAX / 2) {
			fail(p, e->col, "too many items");
			cli_expr_free(kid);
			return -1;
		}
		k = realloc(e->kids, cap * sizeof *k);
		if (!k) {
			fail(p, e->col, "out of memory");
			cli_expr_free(kid);
			return -1;
		}
		e->kids = k;
	}
	e->kids[e->nkids++] = kid;
	return 0;
}

/* Compute e's height from its kids; refuse over-high trees (invariant 2).
 * Returns e, or NULL after freeing e. */
static cli_expr_t *finish(parser_t *p, cli_expr_t *e)
{
	int i, h = 0;

	if (!e)
		return NULL;
	for (i = 0; i < e->nkids; i++)
		if (e->kids[i] && e->kids[i]->height > h)
			h = e->kids[i]->height;
	e->height = h + 1;
	if (e->height > CLI_EXPR_MAX_HEIGHT) {
		fail(p, e->col, "expression too large (more than %d levels of operations)",
		     CLI_EXPR_MAX_HEIGHT);
		cli_expr_free(e);
		return NULL;
	}
	return e;
}

static cli_expr_t *make2(parser_t *p, cli_expr_kind_t kind, cli_expr_op_t op, int col,
                         cli_expr_t *a, cli_expr_t *b)
{
	cli_expr_t *e = node_new(p, kind, col);

	if (!e) {
		cli_expr_free(a);
		cli_expr_free(b);
		return NULL;
	}
	e->op = op;
	if (node_add(p, e, a) < 0) {
		cli_expr_free(b);
		cli_expr_free(e);
		return NULL;
	}
	if (b && node_add(p, e, b) < 0) {
		cli_expr_free(e);
		return NULL;
	}
	return finish(p, e);
}

static char *dup_range(parser_t *p, int col, const char *s, int len)
{
	char *r = malloc((size_t)len + 1);

	if (!r) {
		fail(p, col, "out of memory");
		return NULL;
	}
	memcpy(r, s, (size_t)len);
	r[len] = '\0';
	return r;
}

/* ------------------------------------------------------------- parser */

static tok_t *peek(parser_t *p)
{
	return &p->toks[p->pos];
}

static tok_t *peek_at(parser_t *p, int ahead)
{
	int i = p->pos + ahead;

	return &p->toks[i < p->ntoks ? i : p->ntoks - 1];
}

static tok_t *next(parser_t *p)
{
	tok_t *t = &p->toks[p->pos];

	if (t->kind != T_END)
		p->pos++;
	return t;
}

/* Describe a token for error messages: "')'", "name 'x'", "end of expression". */
static void tok_describe(parser_t *p, const tok_t *t, char *buf, size_t size)
{
	switch (t->kind) {
	case T_END:
		snprintf(buf, size, "end of expression");
		break;
	case T_INT: case T_FLOAT:
		snprintf(buf, size, "number '%.*s'", t->len > 40 ? 40 : t->len, p->src + t->col);
		break;
	case T_STRING:
		snprintf(buf, size, "string %.*s", t->len > 40 ? 40 : t->len, p->src + t->col);
		break;
	case T_NAME:
		snprintf(buf, size, "name '%.*s'", t->len > 40 ? 40 : t->len, p->src + t->col);
		break;
	default:
		snprintf(buf, size, "'%.*s'", t->len, p->src + t->col);
		break;
	}
}

static int tok_is_name(parser_t *p, const tok_t *t, const char *name);

/* Python keywords that are not part of the language: fail with a hint and
 * return 1, or return 0 for any other token. */
static int keyword_fail(parser_t *p, const tok_t *t)
{
	static const struct { const char *kw, *hint; } kws[] = {
		{ "and", " (use & or logical_and)" }, { "or", " (use | or logical_or)" },
		{ "not", " (use ~ or logical_not)" }, { "is", "" }, { "in", "" }, { "if", "" },
		{ "else", "" }, { "lambda", "" }, { "for", "" },
	};
	size_t i;

	for (i = 0; i < sizeof kws / sizeof kws[0]; i++) {
		if (tok_is_name(p, t, kws[i].kw)) {
			fail(p, t->col, "'%s' is not supported%s", kws[i].kw, kws[i].hint);
			return 1;
		}
	}
	return 0;
}

static void fail_unexpected(parser_t *p, const tok_t *t)
{
	char d[96];

	if (keyword_fail(p, t))
		return;
	if (t->kind == T_END) {
		fail(p, t->col, "unexpected end of expression");
		return;
	}
	tok_describe(p, t, d, sizeof d);
	if (t->kind == T_ASSIGN)
		fail(p, t->col, "unexpected '=' (did you mean '=='?)");
	else
		fail(p, t->col, "unexpected %s", d);
}

static int tok_is_name(parser_t *p, const tok_t *t, const char *name)
{
	size_t n = strlen(name);

	return t->kind == T_NAME && (size_t)t->len == n && memcmp(p->src + t->col, name, n) == 0;
}

static cli_expr_t *parse_expr(parser_t *p);
static cli_expr_t *parse_unary(parser_t *p);

/* Expect a closing token for the opener at open_col. */
static int expect_close(parser_t *p, tok_kind_t kind, char open, int open_col, const char *what)
{
	tok_t *t = peek(p);
	char d[96];

	if (t->kind == kind) {
		next(p);
		return 0;
	}
	if (t->kind == T_END) {
		fail(p, open_col, "'%c' was never closed", open);
		return -1;
	}
	tok_describe(p, t, d, sizeof d);
	fail(p, t->col, "expected %s, found %s", what, d);
	return -1;
}

/* Parse a comma-separated list of items up to the closing token, adding
 * them to e.  item(p) parses one item. */
static int parse_items(parser_t *p, cli_expr_t *e, tok_kind_t close, char open, int open_col,
                       cli_expr_t *(*item)(parser_t *p), const char *what, int *trailing_comma)
{
	*trailing_comma = 0;
	while (peek(p)->kind != close && peek(p)->kind != T_END) {
		cli_expr_t *k = item(p);

		if (!k || node_add(p, e, k) < 0)
			return -1;
		*trailing_comma = 0;
		if (peek(p)->kind == T_COMMA) {
			next(p);
			*trailing_comma = 1;
			continue;
		}
		break;
	}
	return expect_close(p, close, open, open_col, what);
}

/* A call argument: expr or NAME '=' expr. */
static cli_expr_t *parse_arg(parser_t *p)
{
	tok_t *t = peek(p);

	if (t->kind == T_NAME && peek_at(p, 1)->kind == T_ASSIGN) {
		cli_expr_t *e = node_new(p, CLI_EXPR_KEYWORD, t->col);
		cli_expr_t *v;

		if (!e)
			return NULL;
		e->str = dup_range(p, t->col, p->src + t->col, t->len);
		if (!e->str) {
			cli_expr_free(e);
			return NULL;
		}
		next(p);
		next(p);
		v = parse_expr(p);
		if (!v || node_add(p, e, v) < 0) {
			cli_expr_free(e);
			return NULL;
		}
		return finish(p, e);
	}
	if (t->kind == T_STAR || t->kind == T_DSTAR) {
		fail(p, t->col, "argument unpacking (* and **) is not supported");
		return NULL;
	}
	return parse_expr(p);
}

/* A subscript item: expr, or a slice [expr] ':' [expr] [':' [expr]]. */
static cli_expr_t *parse_subscript(parser_t *p)
{
	tok_t *t = peek(p);
	cli_expr_t *first = NULL, *e;
	int part;

	if (t->kind != T_COLON) {
		first = parse_expr(p);
		if (!first)
			return NULL;
		if (peek(p)->kind != T_COLON)
			return first;
	}
	e = node_new(p, CLI_EXPR_SLICE, first ? first->col : peek(p)->col);
	if (!e || node_add(p, e, first) < 0) {
		if (!e)
			cli_expr_free(first);
		cli_expr_free(e);
		return NULL;
	}
	/* Now at the first ':'; parts 1 (stop) and 2 (step). */
	for (part = 1; part <= 2; part++) {
		cli_expr_t *k = NULL;
		tok_kind_t nk;

		if (peek(p)->kind != T_COLON) {
			if (node_add(p, e, NULL) < 0)
				goto fail;
			continue;
		}
		next(p);
		nk = peek(p)->kind;
		if (nk != T_COLON && nk != T_COMMA && nk != T_RBRACK) {
			k = parse_expr(p);
			if (!k)
				goto fail;
		}
		if (node_add(p, e, k) < 0)
			goto fail;
	}
	if (peek(p)->kind == T_COLON) {
		fail(p, peek(p)->col, "a slice has at most three parts (start:stop:step)");
		goto fail;
	}
	return finish(p, e);
fail:
	cli_expr_free(e);
	return NULL;
}

static cli_expr_t *parse_primary(parser_t *p)
{
	tok_t *t = peek(p);
	cli_expr_t *e = NULL;
	int trailing;

	switch (t->kind) {
	case T_INT:
		next(p);
		e = node_new(p, CLI_EXPR_INT, t->col);
		if (e) {
			e->ival = t->ival;
			e->is_u64 = t->is_u64;
		}
		return e;
	case T_FLOAT:
		next(p);
		e = node_new(p, CLI_EXPR_FLOAT, t->col);
		if (e)
			e->fval = t->fval;
		return e;
	case T_ELLIPSIS:
		next(p);
		return node_new(p, CLI_EXPR_ELLIPSIS, t->col);
	case T_STRING: {
		const char *s = p->src + t->col + 1;
		int n = t->len - 2, i, k = 0;

		next(p);
		e = node_new(p, CLI_EXPR_STRING, t->col);
		if (!e)
			return NULL;
		e->str = malloc((size_t)n + 1);
		if (!e->str) {
			fail(p, t->col, "out of memory");
			cli_expr_free(e);
			return NULL;
		}
		for (i = 0; i < n; i++) {
			if (s[i] == '\\' && i + 1 < n) {
				i++;
				e->str[k++] = s[i] == 'n' ? '\n' : s[i] == 't' ? '\t' : s[i];
			} else {
				e->str[k++] = s[i];
			}
		}
		e->str[k] = '\0';
		return e;
	}
	case T_NAME: {
		static const struct { const char *name; double v; } consts[] = {
			{ "nan", NAN }, { "inf", INFINITY }, { "pi", 3.141592653589793 },
			{ "e", 2.718281828459045 },
		};
		size_t i;

		next(p);
		if (tok_is_name(p, t, "True") || tok_is_name(p, t, "False")) {
			e = node_new(p, CLI_EXPR_BOOL, t->col);
			if (e)
				e->ival = tok_is_name(p, t, "True");
			return e;
		}
		if (tok_is_name(p, t, "None"))
			return node_new(p, CLI_EXPR_NONE, t->col);
		for (i = 0; i < sizeof consts / sizeof consts[0]; i++) {
			if (tok_is_name(p, t, consts[i].name)) {
				e = node_new(p, CLI_EXPR_FLOAT, t->col);
				if (e)
					e->fval = consts[i].v;
				return e;
			}
		}
		if (keyword_fail(p, t))
			return NULL;
		e = node_new(p, CLI_EXPR_NAME, t->col);
		if (!e)
			return NULL;
		e->str = dup_range(p, t->col, p->src + t->col, t->len);
		if (!e->str) {
			cli_expr_free(e);
			return NULL;
		}
		return e;
	}
	case T_LPAREN: {
		cli_expr_t *first;

		next(p);
		if (peek(p)->kind == T_RPAREN) {
			next(p);
			return node_new(p, CLI_EXPR_TUPLE, t->col);
		}
		first = parse_expr(p);
		if (!first)
			return NULL;
		if (peek(p)->kind != T_COMMA) {
			if (expect_close(p, T_RPAREN, '(', t->col, "')'") < 0) {
				cli_expr_free(first);
				return NULL;
			}
			return first;
		}
		next(p);
		e = node_new(p, CLI_EXPR_TUPLE, t->col);
		if (!e || node_add(p, e, first) < 0) {
			if (!e)
				cli_expr_free(first);
			cli_expr_free(e);
			return NULL;
		}
		if (parse_items(p, e, T_RPAREN, '(', t->col, parse_expr, "',' or ')'", &trailing) < 0) {
			cli_expr_free(e);
			return NULL;
		}
		return finish(p, e);
	}
	case T_LBRACK:
		next(p);
		e = node_new(p, CLI_EXPR_LIST, t->col);
		if (!e)
			return NULL;
		if (parse_items(p, e, T_RBRACK, '[', t->col, parse_expr, "',' or ']'", &trailing) < 0) {
			cli_expr_free(e);
			return NULL;
		}
		return finish(p, e);
	case T_END:
		if (p->pos == 0)
			fail(p, 0, "empty expression");
		else
			fail(p, t->col, "unexpected end of expression");
		return NULL;
	default:
		fail_unexpected(p, t);
		return NULL;
	}
}

static cli_expr_t *parse_postfix(parser_t *p)
{
	cli_expr_t *e = parse_primary(p);

	while (e) {
		tok_t *t = peek(p);
		cli_expr_t *n;
		int trailing;

		if (t->kind == T_LPAREN) {
			int i, j;

			next(p);
			n = node_new(p, CLI_EXPR_CALL, e->col);
			if (!n || node_add(p, n, e) < 0) {
				if (!n)
					cli_expr_free(e);
				cli_expr_free(n);
				return NULL;
			}
			if (parse_items(p, n, T_RPAREN, '(', t->col, parse_arg, "',' or ')'",
			                &trailing) < 0) {
				cli_expr_free(n);
				return NULL;
			}
			/* Python's rules: positional before keyword, no repeats. */
			for (i = 1; i < n->nkids; i++) {
				cli_expr_t *a = n->kids[i];

				if (a->kind != CLI_EXPR_KEYWORD) {
					if (i > 1 && n->kids[i - 1]->kind == CLI_EXPR_KEYWORD) {
						fail(p, a->col, "positional argument follows keyword argument");
						cli_expr_free(n);
						return NULL;
					}
					continue;
				}
				for (j = 1; j < i; j++) {
					if (n->kids[j]->kind == CLI_EXPR_KEYWORD &&
					    strcmp(n->kids[j]->str, a->str) == 0) {
						fail(p, a->col, "keyword argument repeated: '%s'", a->str);
						cli_expr_free(n);
						return NULL;
					}
				}
			}
			e = finish(p, n);
		} else if (t->kind == T_LBRACK) {
			next(p);
			n = node_new(p, CLI_EXPR_INDEX, t->col);
			if (!n || node_add(p, n, e) < 0) {
				if (!n)
					cli_expr_free(e);
				cli_expr_free(n);
				return NULL;
			}
			if (peek(p)->kind == T_RBRACK) {
				fail(p, peek(p)->col, "empty index: use x[()] or x[...]");
				cli_expr_free(n);
				return NULL;
			}
			if (parse_items(p, n, T_RBRACK, '[', t->col, parse_subscript, "',' or ']'",
			                &trailing) < 0) {
				cli_expr_free(n);
				return NULL;
			}
			/* x[(a, b)] means x[a, b], as in Python: move the tuple's items
			 * into the index node (node_add frees an item it fails on; the
			 * items not moved yet are freed with the tuple). */
			if (n->nkids == 2 && !trailing && n->kids[1]->kind == CLI_EXPR_TUPLE) {
				cli_expr_t *tup = n->kids[1];
				int i, ok = 1;

				n->nkids = 1;
				for (i = 0; i < tup->nkids && ok; i++) {
					cli_expr_t *k = tup->kids[i];

					tup->kids[i] = NULL;
					ok = node_add(p, n, k) == 0;
				}
				cli_expr_free(tup);
				if (!ok) {
					cli_expr_free(n);
					return NULL;
				}
			}
			e = finish(p, n);
		} else if (t->kind == T_DOT) {
			tok_t *name;

			next(p);
			name = peek(p);
			if (name->kind != T_NAME) {
				char d[96];

				tok_describe(p, name, d, sizeof d);
				fail(p, name->col, "expected an attribute name after '.', found %s", d);
				cli_expr_free(e);
				return NULL;
			}
			next(p);
			n = node_new(p, CLI_EXPR_ATTR, name->col);
			if (!n || node_add(p, n, e) < 0) {
				if (!n)
					cli_expr_free(e);
				cli_expr_free(n);
				return NULL;
			}
			n->str = dup_range(p, name->col, p->src + name->col, name->len);
			if (!n->str) {
				cli_expr_free(n);
				return NULL;
			}
			e = finish(p, n);
		} else {
			break;
		}
	}
	return e;
}

/* power: postfix ['**' unary]; right-associative through parse_unary. */
static cli_expr_t *parse_power(parser_t *p)
{
	cli_expr_t *base = parse_postfix(p), *ex;
	tok_t *t;

	if (!base)
		return NULL;
	t = peek(p);
	if (t->kind != T_DSTAR)
		return base;
	next(p);
	ex = parse_unary(p);
	if (!ex) {
		cli_expr_free(base);
		return NULL;
	}
	return make2(p, CLI_EXPR_BINARY, CLI_OP_POW, t->col, base, ex);
}

/* unary: ('-' | '+' | '~') unary | power.  Counts the nesting depth
 * (invariant 1).  A minus directly on a number literal is folded into the
 * literal, which is how -9223372036854775808 is written. */
static cli_expr_t *parse_unary(parser_t *p)
{
	tok_t *t = peek(p);
	cli_expr_t *e = NULL, *operand;
	cli_expr_op_t op;

	if (++p->depth > CLI_EXPR_MAX_NESTING) {
		fail(p, t->col, "expression nested too deeply (more than %d levels)",
		     CLI_EXPR_MAX_NESTING);
		goto out;
	}
	if (t->kind != T_MINUS && t->kind != T_PLUS && t->kind != T_TILDE) {
		e = parse_power(p);
		goto out;
	}
	op = t->kind == T_MINUS ? CLI_OP_NEG : t->kind == T_PLUS ? CLI_OP_POS : CLI_OP_INVERT;
	next(p);
	operand = parse_unary(p);
	if (!operand)
		goto out;
	if (op == CLI_OP_NEG && operand->kind == CLI_EXPR_INT &&
	    (!operand->is_u64 || operand->ival == INT64_MIN)) {
		/* -N folds into the literal while it fits int64 (-2**63 included);
		 * -(2**64-1) stays a negation, for the builder's exact integers. */
		operand->ival = (int64_t)(0 - (uint64_t)operand->ival);
		operand->is_u64 = 0;
		operand->col = t->col;
		e = operand;
	} else if (op == CLI_OP_NEG && operand->kind == CLI_EXPR_FLOAT) {
		operand->fval = -operand->fval;
		operand->col = t->col;
		e = operand;
	} else {
		e = make2(p, CLI_EXPR_UNARY, op, t->col, operand, NULL);
	}
out:
	p->depth--;
	return e;
}

typedef struct {
	tok_kind_t tok;
	cli_expr_op_t op;
} binop_t;

/* One left-associative binary level: operands from sub, operators from ops. */
static cli_expr_t *parse_binary_level(parser_t *p, cli_expr_t *(*sub)(parser_t *),
                                      const binop_t *ops, int nops)
{
	cli_expr_t *left = sub(p);

	while (left) {
		tok_t *t = peek(p);
		cli_expr_t *right;
		int i;

		for (i = 0; i < nops; i++)
			if (ops[i].tok == t->kind)
				break;
		if (i == nops)
			break;
		next(p);
		right = sub(p);
		if (!right) {
			cli_expr_free(left);
			return NULL;
		}
		left = make2(p, CLI_EXPR_BINARY, ops[i].op, t->col, left, right);
	}
	return left;
}

static cli_expr_t *parse_term(parser_t *p)
{
	static const binop_t ops[] = {
		{ T_STAR, CLI_OP_MUL }, { T_SLASH, CLI_OP_DIV }, { T_DSLASH, CLI_OP_FLOORDIV },
		{ T_PERCENT, CLI_OP_MOD }, { T_AT, CLI_OP_MATMUL },
	};
	return parse_binary_level(p, parse_unary, ops, 5);
}

static cli_expr_t *parse_arith(parser_t *p)
{
	static const binop_t ops[] = { { T_PLUS, CLI_OP_ADD }, { T_MINUS, CLI_OP_SUB } };
	return parse_binary_level(p, parse_term, ops, 2);
}

static cli_expr_t *parse_shift(parser_t *p)
{
	static const binop_t ops[] = { { T_LSHIFT, CLI_OP_LSHIFT }, { T_RSHIFT, CLI_OP_RSHIFT } };
	return parse_binary_level(p, parse_arith, ops, 2);
}

static cli_expr_t *parse_bitand(parser_t *p)
{
	static const binop_t ops[] = { { T_AMP, CLI_OP_AND } };
	return parse_binary_level(p, parse_shift, ops, 1);
}

static cli_expr_t *parse_bitxor(parser_t *p)
{
	static const binop_t ops[] = { { T_CARET, CLI_OP_XOR } };
	return parse_binary_level(p, parse_bitand, ops, 1);
}

static cli_expr_t *parse_bitor(parser_t *p)
{
	static const binop_t ops[] = { { T_PIPE, CLI_OP_OR } };
	return parse_binary_level(p, parse_bitxor, ops, 1);
}

static int comparison_op(tok_kind_t k, cli_expr_op_t *op)
{
	switch (k) {
	case T_LT: *op = CLI_OP_LT; return 1;
	case T_LE: *op = CLI_OP_LE; return 1;
	case T_GT: *op = CLI_OP_GT; return 1;
	case T_GE: *op = CLI_OP_GE; return 1;
	case T_EQ: *op = CLI_OP_EQ; return 1;
	case T_NE: *op = CLI_OP_NE; return 1;
	default: return 0;
	}
}

/* comparison: bitor [cmp bitor]; a second comparison (a Python chain) is an
 * error, since a < b < c means (a < b) and (b < c), which NumPy refuses. */
static cli_expr_t *parse_comparison(parser_t *p)
{
	cli_expr_t *left = parse_bitor(p), *right;
	cli_expr_op_t op;
	tok_t *t;

	if (!left)
		return NULL;
	t = peek(p);
	if (!comparison_op(t->kind, &op))
		return left;
	next(p);
	right = parse_bitor(p);
	if (!right) {
		cli_expr_free(left);
		return NULL;
	}
	left = make2(p, CLI_EXPR_BINARY, op, t->col, left, right);
	if (left && comparison_op(peek(p)->kind, &op)) {
		fail(p, peek(p)->col, "chained comparisons are not supported; "
		                      "write (a < b) & (b < c)");
		cli_expr_free(left);
		return NULL;
	}
	return left;
}

static cli_expr_t *parse_expr(parser_t *p)
{
	return parse_comparison(p);
}

int cli_expr_parse(const char *src, cli_expr_t **out, cli_expr_error_t *err)
{
	parser_t p = { .src = src, .err = err };
	cli_expr_t *e = NULL;
	int rc = -1;

	err->col = 0;
	err->msg[0] = '\0';
	if (tokenize(&p) < 0)
		goto out;
	e = parse_expr(&p);
	if (!e)
		goto out;
	if (peek(&p)->kind != T_END) {
		tok_t *t = peek(&p);

		if (t->kind == T_RPAREN || t->kind == T_RBRACK)
			fail(&p, t->col, "unmatched '%c'", src[t->col]);
		else if (t->kind == T_COMMA)
			fail(&p, t->col, "unexpected ',' (a tuple needs parentheses)");
		else
			fail_unexpected(&p, t);
		goto out;
	}
	*out = e;
	e = NULL;
	rc = 0;
out:
	cli_expr_free(e);
	free(p.toks);
	return rc;
}

/* ------------------------------------------------------------- dump */

typedef struct {
	char *buf;
	size_t size;
	size_t len; /* full length, may exceed size */
} sbuf_t;

static void sb_printf(sbuf_t *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf_t *sb, const char *fmt, ...)
{
	va_list ap;
	int n;
	size_t room = sb->len < sb->size ? sb->size - sb->len : 0;

	va_start(ap, fmt);
	n = vsnprintf(room ? sb->buf + sb->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		sb->len += (size_t)n;
}

static void dump_float(sbuf_t *sb, double v)
{
	if (isnan(v))
		sb_printf(sb, "nan");
	else if (isinf(v))
		sb_printf(sb, v < 0 ? "-inf" : "inf");
	else {
		char b[40];
		size_t i, n = (size_t)snprintf(b, sizeof b, "%.17g", v);

		/* Python's repr marks an integral float: 1.0, not 1. */
		for (i = 0; i < n; i++)
			if (b[i] != '-' && (b[i] < '0' || b[i] > '9'))
				break;
		sb_printf(sb, i == n ? "%s.0" : "%s", b);
	}
}

static void dump(sbuf_t *sb, const cli_expr_t *e)
{
	int i;

	if (!e) {
		sb_printf(sb, "_");
		return;
	}
	switch (e->kind) {
	case CLI_EXPR_INT:
		if (e->is_u64)
			sb_printf(sb, "%" PRIu64, (uint64_t)e->ival);
		else
			sb_printf(sb, "%" PRId64, e->ival);
		return;
	case CLI_EXPR_FLOAT: dump_float(sb, e->fval); return;
	case CLI_EXPR_BOOL: sb_printf(sb, e->ival ? "True" : "False"); return;
	case CLI_EXPR_NONE: sb_printf(sb, "None"); return;
	case CLI_EXPR_ELLIPSIS: sb_printf(sb, "..."); return;
	case CLI_EXPR_STRING: sb_printf(sb, "'%s'", e->str); return;
	case CLI_EXPR_NAME: sb_printf(sb, "%s", e->str); return;
	case CLI_EXPR_UNARY:
		sb_printf(sb, "(%s ", e->op == CLI_OP_NEG ? "neg" : e->op == CLI_OP_POS ? "pos" : "~");
		break;
	case CLI_EXPR_BINARY: sb_printf(sb, "(%s ", cli_expr_op_str(e->op)); break;
	case CLI_EXPR_CALL: sb_printf(sb, "(call "); break;
	case CLI_EXPR_KEYWORD: sb_printf(sb, "(kw %s ", e->str); break;
	case CLI_EXPR_INDEX: sb_printf(sb, "(index "); break;
	case CLI_EXPR_SLICE: sb_printf(sb, "(slice "); break;
	case CLI_EXPR_ATTR: sb_printf(sb, "(. "); break;
	case CLI_EXPR_TUPLE: sb_printf(sb, e->nkids ? "(tuple " : "(tuple"); break;
	case CLI_EXPR_LIST: sb_printf(sb, e->nkids ? "(list " : "(list"); break;
	}
	for (i = 0; i < e->nkids; i++) {
		if (i)
			sb_printf(sb, " ");
		dump(sb, e->kids[i]);
	}
	if (e->kind == CLI_EXPR_ATTR)
		sb_printf(sb, " %s", e->str);
	sb_printf(sb, ")");
}

int cli_expr_dump(const cli_expr_t *e, char *buf, size_t size)
{
	sbuf_t sb = { buf, size, 0 };

	if (!e)
		return -1;
	if (size)
		buf[0] = '\0';
	dump(&sb, e);
	if (size)
		buf[sb.len < size ? sb.len : size - 1] = '\0';
	return sb.len > INT32_MAX ? INT32_MAX : (int)sb.len;
}

void cli_expr_caret(FILE *f, const char *src, int col)
{
	int i;

	fprintf(f, "  ");
	for (i = 0; src[i]; i++)
		fputc(src[i] == '\n' || src[i] == '\r' ? ' ' : src[i], f);
	fprintf(f, "\n  ");
	for (i = 0; i < col && src[i]; i++) {
		unsigned char c = (unsigned char)src[i];

		if ((c & 0xC0) == 0x80)
			continue; /* a UTF-8 continuation byte takes no column */
		fputc(c == '\t' ? '\t' : ' ', f);
	}
	fprintf(f, "^\n");
}
