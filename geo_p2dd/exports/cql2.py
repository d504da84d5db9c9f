"""CQL2 text filters and ``sortby`` over a layer's frame (OGC API - Features Part 3).

A small recursive-descent parser for the CQL2 text encoding: Basic CQL2
(comparisons ``= <> < <= > >=``, ``AND``, ``OR``, ``NOT``, parentheses,
``IS [NOT] NULL``, booleans) and the advanced comparison operators
(``[NOT] IN (...)``, ``[NOT] BETWEEN a AND b``, ``[NOT] LIKE 'pat%'``).
Property names are plain or double-quoted identifiers; strings are single-quoted
(``''`` for a quote). A filter evaluates to a row mask with SQL's three-valued
logic (a comparison with a missing value is unknown, and unknown rows are left
out), on pandas' nullable booleans.

Errors are :class:`~geo_p2dd.errors.InputError` naming the ``filter`` (or
``sortby``) parameter, the offending token and its position.

Examples
--------
>>> tree = parse("no_4g_share >= 0.5 AND kecamatan_kode = '64.11.05'")
>>> tree.op, [a.op for a in tree.args]
('and', ['>=', '='])
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo_p2dd.errors import InputError

#: the filter languages accepted (``filter-lang``)
FILTER_LANGS = ("cql2-text",)
MAX_FILTER_LENGTH = 10_000
MAX_DEPTH = 50

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^']|'')*')
  | (?P<quoted>"(?:[^"]|"")+")
  | (?P<word>[A-Za-z_][A-Za-z0-9_.:]*)
  | (?P<op><>|<=|>=|=|<|>|\(|\)|,)
""", re.VERBOSE)
_KEYWORDS = {"AND", "OR", "NOT", "IN", "IS", "NULL", "BETWEEN", "LIKE", "TRUE", "FALSE"}
_COMPARISONS = ("=", "<>", "<", "<=", ">", ">=")
EXPECTED = ("a CQL2 text filter: property = 'text', property >= number, AND, OR, NOT, "
            "parentheses, property IN ('a', 'b'), BETWEEN, LIKE, IS NULL")


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, keyword, op, end
    value: str
    pos: int


@dataclass(frozen=True)
class Node:
    """One node of a parsed filter: ``op`` and its arguments (nodes or literals)."""

    op: str  # and, or, not, a comparison, in, between, like, isnull, prop, lit
    args: tuple = ()


def _error(message: str, token: Token | None, text: str, param: str = "filter") -> InputError:
    """A syntax error: ``message`` says what was expected (``"expected ..."``) or what is
    wrong, ``found`` the token and its position (1-based)."""
    if token is None or token.kind == "end":
        found = "the end of the filter"
    else:
        found = f"{token.value!r} at position {token.pos + 1}"
    if message.startswith("expected "):
        return InputError("CQL2 text syntax error", column=param,
                          expected=message.removeprefix("expected "), found=found)
    return InputError(f"CQL2 text syntax error: {message}", column=param, expected=EXPECTED,
                      found=found)


def tokenize(text: str) -> list[Token]:
    """The tokens of a CQL2 text filter (InputError at the first character not understood)."""
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None and text[pos] in "'\"":
            raise _error("a string or name without its closing quote",
                         Token("op", text[pos], pos), text)
        if m is None:
            raise _error("the filter has a character CQL2 text does not allow",
                         Token("op", text[pos], pos), text)
        kind = m.lastgroup
        value = m.group()
        if kind == "number" and out and out[-1].kind in ("number", "string", "name") \
                and value[0] in "+-":  # "a -1": a minus after an operand is not a sign
            raise _error("unexpected sign", Token("op", value[0], pos), text)
        if kind == "string":
            out.append(Token("string", value[1:-1].replace("''", "'"), pos))
        elif kind == "quoted":
            out.append(Token("name", value[1:-1].replace('""', '"'), pos))
        elif kind == "word":
            upper = value.upper()
            out.append(Token("keyword", upper, pos) if upper in _KEYWORDS
                       else Token("name", value, pos))
        elif kind != "ws":
            out.append(Token(kind, value, pos))
        pos = m.end()
    out.append(Token("end", "", len(text)))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def accept(self, kind: str, value: str | None = None) -> Token | None:
        t = self.tok
        if t.kind == kind and (value is None or t.value == value):
            self.i += 1
            return t
        return None

    def expect(self, kind: str, value: str, what: str) -> Token:
        t = self.accept(kind, value)
        if t is None:
            raise _error(f"expected {what}", self.tok, self.text)
        return t

    def parse(self) -> Node:
        node = self.or_()
        if self.tok.kind != "end":
            raise _error("unexpected token after a complete filter", self.tok, self.text)
        return node

    def or_(self) -> Node:
        args = [self.and_()]
        while self.accept("keyword", "OR"):
            args.append(self.and_())
        return args[0] if len(args) == 1 else Node("or", tuple(args))

    def and_(self) -> Node:
        args = [self.not_()]
        while self.accept("keyword", "AND"):
            args.append(self.not_())
        return args[0] if len(args) == 1 else Node("and", tuple(args))

    def deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _error(f"more than {MAX_DEPTH} nested parentheses or NOTs", self.tok,
                         self.text)

    def not_(self) -> Node:
        if self.accept("keyword", "NOT"):
            self.deeper()
            node = Node("not", (self.not_(),))
            self.depth -= 1
            return node
        return self.primary()

    def primary(self) -> Node:
        if self.accept("op", "("):
            self.deeper()
            node = self.or_()
            self.expect("op", ")", "a closing parenthesis")
            self.depth -= 1
            return node
        return self.predicate()

    def scalar(self) -> Node:
        t = self.take()
        if t.kind == "name":
            return Node("prop", (t.value, t.pos))
        if t.kind == "number":
            return Node("lit", (float(t.value), t.pos))
        if t.kind == "string":
            return Node("lit", (t.value, t.pos))
        if t.kind == "keyword" and t.value in ("TRUE", "FALSE"):
            return Node("lit", (t.value == "TRUE", t.pos))
        raise _error("expected a property name, a number, a 'string', TRUE or FALSE", t,
                     self.text)

    def predicate(self) -> Node:
        left = self.scalar()
        t = self.tok
        if t.kind == "op" and t.value in _COMPARISONS:
            self.take()
            return Node(t.value, (left, self.scalar()))
        if self.accept("keyword", "IS"):
            negate = bool(self.accept("keyword", "NOT"))
            self.expect("keyword", "NULL", "NULL after IS")
            return _negated(Node("isnull", (left,)), negate)
        negate = bool(self.accept("keyword", "NOT"))
        if self.accept("keyword", "IN"):
            self.expect("op", "(", "a parenthesis after IN")
            items = [self.scalar()]
            while self.accept("op", ","):
                items.append(self.scalar())
            self.expect("op", ")", "a closing parenthesis after the IN list")
            return _negated(Node("in", (left, *items)), negate)
        if self.accept("keyword", "BETWEEN"):
            low = self.scalar()
            self.expect("keyword", "AND", "AND between the BETWEEN bounds")
            return _negated(Node("between", (left, low, self.scalar())), negate)
        if self.accept("keyword", "LIKE"):
            return _negated(Node("like", (left, self.scalar())), negate)
        raise _error("expected a comparison (=, <>, <, <=, >, >=), IN, BETWEEN, LIKE or "
                     "IS NULL", self.tok, self.text)


def _negated(node: Node, negate: bool) -> Node:
    return Node("not", (node,)) if negate else node


def parse(text: str) -> Node:
    """Parse a CQL2 text filter (InputError naming the bad token)."""
    if len(text) > MAX_FILTER_LENGTH:
        raise InputError("the filter is too long", column="filter",
                         expected=f"at most {MAX_FILTER_LENGTH} characters",
                         found=f"{len(text)} characters")
    if not text.strip():
        raise InputError("the filter is empty", column="filter", expected=EXPECTED,
                         found="''")
    return _Parser(text).parse()


def properties(node: Node) -> set[str]:
    """The property names a filter uses."""
    if node.op == "prop":
        return {node.args[0]}
    if node.op == "lit":
        return set()
    return set().union(*(properties(a) for a in node.args))


# ------------------------------------------------------------------------------------------ #
# Evaluation
# ------------------------------------------------------------------------------------------ #

def _kind(col: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(col):
        return "boolean"
    if pd.api.types.is_numeric_dtype(col):
        return "number"
    return "string"


def _operand(node: Node, frame: pd.DataFrame) -> tuple[str, object]:
    """(kind, value): a column as a Series, or a literal."""
    if node.op == "prop":
        name, pos = node.args
        if name not in frame.columns or name == getattr(frame, "geometry", pd.Series()).name:
            cols = [c for c in frame.columns if c != "geometry"]
            raise InputError(f"unknown property {name!r} in the filter", column="filter",
                             expected="one of the collection's queryables: "
                             + ", ".join(cols), found=f"{name!r} at position {pos + 1}")
        col = frame[name]
        return _kind(col), col
    value, _pos = node.args
    kind = "boolean" if isinstance(value, bool) else "number" if isinstance(value, float) \
        else "string"
    return kind, value


def _prepared(kind: str, value, n: int) -> tuple[object, np.ndarray]:
    """(values to compare, missing mask): numbers as float arrays, booleans as bool arrays,
    text as pandas strings (Arrow-backed: compared in C); a literal stays a scalar."""
    if not isinstance(value, pd.Series):
        return value, np.zeros(n, dtype=bool)
    na = value.isna().to_numpy(bool)
    if kind == "number":
        return value.to_numpy(dtype=float, na_value=np.nan), na
    if kind == "boolean":
        return value.to_numpy(dtype=bool, na_value=False), na
    return (value.astype("str") if value.dtype == object else value), na


def _as_bool(result, n: int) -> np.ndarray:
    """A comparison's result as a plain bool array (missing -> False; masked separately)."""
    if isinstance(result, pd.Series):
        result = result.array
    if isinstance(result, pd.api.extensions.ExtensionArray):
        return result.to_numpy(dtype=bool, na_value=False)
    if np.ndim(result) == 0:
        return np.full(n, bool(result))
    return np.asarray(result, dtype=bool)


def _truth(values: np.ndarray, unknown: np.ndarray, index: pd.Index) -> pd.Series:
    return pd.Series(pd.arrays.BooleanArray(values, unknown), index=index)


def _compare(op: str, left: Node, right: Node, frame: pd.DataFrame) -> pd.Series:
    lk, lv = _operand(left, frame)
    rk, rv = _operand(right, frame)
    if lk != rk:
        lit = right if right.op == "lit" else left
        raise InputError(f"cannot compare a {lk} with a {rk}", column="filter",
                         expected=f"a {lk if lit is right else rk} value",
                         found=f"{lit.args[0]!r} at position {lit.args[1] + 1}")
    if lk == "boolean" and op not in ("=", "<>"):
        raise InputError("booleans compare only with = or <>", column="filter",
                         expected="= or <>", found=op)
    n = len(frame)
    a, na_a = _prepared(lk, lv, n)
    b, na_b = _prepared(rk, rv, n)
    result = {"=": lambda: a == b, "<>": lambda: a != b, "<": lambda: a < b,
              "<=": lambda: a <= b, ">": lambda: a > b, ">=": lambda: a >= b}[op]()
    unknown = na_a | na_b
    return _truth(_as_bool(result, n) & ~unknown, unknown, frame.index)


def _like_mask(text: pd.Series, pattern: str) -> np.ndarray:
    """Rows of ``text`` matching a LIKE pattern: prefix, suffix and substring patterns by
    pandas' string methods, anything else by a regular expression."""
    if "_" not in pattern and "\\" not in pattern:
        core = pattern.strip("%")
        if "%" not in core:
            if pattern == core:
                return _as_bool(text == core, len(text))
            if pattern == core + "%":
                return _as_bool(text.str.startswith(core), len(text))
            if pattern == "%" + core:
                return _as_bool(text.str.endswith(core), len(text))
            if pattern.startswith("%") and pattern.endswith("%"):
                return _as_bool(text.str.contains(core, regex=False), len(text))
    rx = _like(pattern)
    values = text.to_numpy(dtype=object, na_value=None)
    return np.fromiter((v is not None and rx.fullmatch(v) is not None for v in values),
                       dtype=bool, count=len(values))


def _like(pattern: str) -> re.Pattern:
    out = []
    escape = False
    for ch in pattern:
        if escape:
            out.append(re.escape(ch))
            escape = False
        elif ch == "\\":
            escape = True
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.S)


def evaluate(node: Node, frame: pd.DataFrame) -> pd.Series:
    """The filter's truth per row as nullable booleans (NA = unknown)."""
    op = node.op
    if op == "and":
        out = evaluate(node.args[0], frame)
        for a in node.args[1:]:
            out = out & evaluate(a, frame)
        return out
    if op == "or":
        out = evaluate(node.args[0], frame)
        for a in node.args[1:]:
            out = out | evaluate(a, frame)
        return out
    if op == "not":
        return ~evaluate(node.args[0], frame)
    if op in _COMPARISONS:
        return _compare(op, node.args[0], node.args[1], frame)
    if op == "in":
        parts = [_compare("=", node.args[0], item, frame) for item in node.args[1:]]
        out = parts[0]
        for p in parts[1:]:
            out = out | p
        return out
    if op == "between":
        return _compare(">=", node.args[0], node.args[1], frame) & \
            _compare("<=", node.args[0], node.args[2], frame)
    if op == "isnull":
        _, value = _operand(node.args[0], frame)
        isna = value.isna().to_numpy(bool) if isinstance(value, pd.Series) else \
            np.zeros(len(frame), dtype=bool)
        return _truth(isna, np.zeros(len(frame), dtype=bool), frame.index)
    if op == "like":
        kind, value = _operand(node.args[0], frame)
        pk, pattern = _operand(node.args[1], frame)
        if kind != "string" or pk != "string" or isinstance(pattern, pd.Series):
            raise InputError("LIKE compares a text property with a 'pattern'",
                             column="filter", expected="property LIKE 'text%'",
                             found=f"LIKE at {node.args[1].args[1] + 1}")
        if not isinstance(value, pd.Series):
            value = pd.Series([value] * len(frame), index=frame.index, dtype="str")
        text, unknown = _prepared("string", value, len(frame))
        return _truth(_like_mask(text, pattern) & ~unknown, unknown, frame.index)
    raise AssertionError(op)  # pragma: no cover


def filter_mask(frame: pd.DataFrame, text: str) -> np.ndarray:
    """Rows of ``frame`` for which the CQL2 text filter is true (unknown counts as false)."""
    return evaluate(parse(text), frame).fillna(False).to_numpy(bool)


# ------------------------------------------------------------------------------------------ #
# sortby
# ------------------------------------------------------------------------------------------ #

def parse_sortby(text: str | None, columns) -> list[tuple[str, bool]]:
    """``"-score,nama"`` -> ``[("score", False), ("nama", True)]`` (column, ascending).

    Raises
    ------
    InputError
        For an empty part or a column the layer does not have.
    """
    if text is None or not text.strip():
        return []
    out = []
    for raw in text.split(","):
        part = raw.strip()
        ascending = not part.startswith("-")
        name = part.lstrip("+-").strip()
        if " " in name:  # "score DESC" / "score ASC" (the Records style)
            name, _, order = name.partition(" ")
            ascending = order.strip().upper() != "DESC"
        if not name or name not in columns:
            raise InputError("unknown sort property", column="sortby",
                             expected="comma-separated properties, '-' for descending: "
                             + ", ".join(columns), found=repr(raw))
        out.append((name, ascending))
    return out


def sort_frame(frame: pd.DataFrame, keys: list[tuple[str, bool]]) -> pd.DataFrame:
    """``frame`` sorted by ``keys`` (stable; missing values last)."""
    if not keys:
        return frame
    return frame.sort_values([k for k, _ in keys], ascending=[a for _, a in keys],
                             kind="mergesort", na_position="last")
