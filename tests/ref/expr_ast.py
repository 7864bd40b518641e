#!/usr/bin/python3
"""Reference s-expressions for tests/test_expr.c, from Python's own parser.

The cask expression language is a subset of Python's expression grammar, so
Python's `ast` module is an independent reference for precedence,
associativity, slices, calls and tuples.  This script prints the C table
rows embedded in test_expr.c (run it and paste the output between the
markers).  The conversion mirrors cli_expr_dump()'s documented format; two
deliberate differences from Python's tree are applied here too: a unary minus
directly on a number literal is folded into the literal, and the names nan,
inf, pi and e are float literals.
"""
import ast
import math
import sys

BINOPS = {ast.Add: '+', ast.Sub: '-', ast.Mult: '*', ast.Div: '/', ast.FloorDiv: '//',
          ast.Mod: '%', ast.Pow: '**', ast.MatMult: '@', ast.LShift: '<<', ast.RShift: '>>',
          ast.BitAnd: '&', ast.BitOr: '|', ast.BitXor: '^'}
CMPOPS = {ast.Lt: '<', ast.LtE: '<=', ast.Gt: '>', ast.GtE: '>=', ast.Eq: '==', ast.NotEq: '!='}
CONSTS = {'nan': math.nan, 'inf': math.inf, 'pi': math.pi, 'e': math.e}


def fmt_float(v):
    if math.isnan(v):
        return 'nan'
    if math.isinf(v):
        return '-inf' if v < 0 else 'inf'
    s = '%.17g' % v
    if all(c in '-0123456789' for c in s):
        s += '.0'
    return s


def lit(v):
    if v is None:
        return 'None'
    if v is Ellipsis:
        return '...'
    if isinstance(v, bool):
        return 'True' if v else 'False'
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return fmt_float(v)
    if isinstance(v, str):
        return "'" + v + "'"
    raise ValueError(v)


def folded(n):
    """The value of a number literal with unary minuses folded in, or None."""
    if isinstance(n, ast.Constant) and type(n.value) in (int, float):
        return n.value
    if isinstance(n, ast.Name) and n.id in CONSTS:
        return CONSTS[n.id]
    if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
        v = folded(n.operand)
        return None if v is None else -v
    return None


def conv(n):
    if n is None:
        return '_'
    if isinstance(n, ast.Constant):
        return lit(n.value)
    if isinstance(n, ast.Name):
        if n.id in CONSTS:
            return fmt_float(CONSTS[n.id])
        return n.id
    if isinstance(n, ast.UnaryOp):
        v = folded(n)
        if v is not None:
            return lit(v)
        name = {ast.USub: 'neg', ast.UAdd: 'pos', ast.Invert: '~'}[type(n.op)]
        return '(%s %s)' % (name, conv(n.operand))
    if isinstance(n, ast.BinOp):
        return '(%s %s %s)' % (BINOPS[type(n.op)], conv(n.left), conv(n.right))
    if isinstance(n, ast.Compare):
        assert len(n.ops) == 1
        return '(%s %s %s)' % (CMPOPS[type(n.ops[0])], conv(n.left), conv(n.comparators[0]))
    if isinstance(n, ast.Call):
        parts = [conv(n.func)] + [conv(a) for a in n.args] + \
                ['(kw %s %s)' % (k.arg, conv(k.value)) for k in n.keywords]
        return '(call %s)' % ' '.join(parts)
    if isinstance(n, ast.Subscript):
        s = n.slice
        items = s.elts if isinstance(s, ast.Tuple) else [s]
        return '(index %s)' % ' '.join([conv(n.value)] + [conv(i) for i in items])
    if isinstance(n, ast.Slice):
        return '(slice %s %s %s)' % (conv(n.lower), conv(n.upper), conv(n.step))
    if isinstance(n, ast.Attribute):
        return '(. %s %s)' % (conv(n.value), n.attr)
    if isinstance(n, (ast.Tuple, ast.List)):
        kind = 'tuple' if isinstance(n, ast.Tuple) else 'list'
        if not n.elts:
            return '(%s)' % kind
        return '(%s %s)' % (kind, ' '.join(conv(e) for e in n.elts))
    raise ValueError(ast.dump(n))


def c_str(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


def main():
    for line in sys.stdin:
        src = line.rstrip('\n')
        if not src:
            continue
        tree = ast.parse(src, mode='eval').body
        print('\t{ %s, %s },' % (c_str(src), c_str(conv(tree))))


if __name__ == '__main__':
    main()
