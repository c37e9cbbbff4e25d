"""OData query options on Visma list endpoints: `$filter`, `$orderby`, `$select`, `$page`, `$pagesize`.

`$filter` grammar (case-insensitive keywords)::

    expr       := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expr ")" | comparison | function
    comparison := Field op literal        op: eq ne gt ge lt le
    function   := contains|startswith|endswith "(" Field "," 'text' ")"
    literal    := 'text' ('' escapes a quote) | guid | datetime | number | true | false | null
                  (also guid'...' and datetime'...')

Fields are the top-level properties of the resource's schema (case-sensitive like Visma's); an unknown
field is a 400. Datetimes compare as instants, guids case-insensitively, strings exactly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .clock import parse_datetime
from .errors import validation_error
from .schemas import SpecModel

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^']|'')*')
      | (?P<typed>(?:guid|datetime|datetimeoffset)'[^']*')
      | (?P<dt>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)(?![\w-])
      | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?![\w-])
      | (?P<num>-?\d+(?:\.\d+)?)(?![\w-])
      | (?P<lp>\()
      | (?P<rp>\))
      | (?P<comma>,)
      | (?P<word>[A-Za-z_][A-Za-z0-9_/]*)
    )""",
    re.VERBOSE,
)
_OPS = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCS = {"contains", "startswith", "endswith", "substringof"}
_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass
class _Tok:
    kind: str
    text: str


@dataclass
class _Lit:
    kind: str  # str, guid, datetime, number, bool, null
    value: Any


Predicate = Callable[[dict[str, Any]], bool]


def _bad(message: str) -> Exception:
    return validation_error(f"Invalid $filter: {message}", "$filter")


def _tokenize(text: str) -> list[_Tok]:
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            raise _bad(f"syntax error at position {pos}: {text[pos : pos + 20]!r}")
        kind = m.lastgroup or ""
        out.append(_Tok(kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Parser:
    def __init__(self, text: str, spec: SpecModel, schema: str) -> None:
        self.toks = _tokenize(text)
        self.i = 0
        self.spec = spec
        self.schema = schema

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise _bad("unexpected end of expression")
        self.i += 1
        return tok

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok and tok.kind == "word" and tok.text.lower() == word:
            self.i += 1
            return True
        return False

    def parse(self) -> Predicate:
        pred = self.expr()
        if self.peek() is not None:
            raise _bad(f"unexpected {self.peek().text!r}")  # type: ignore[union-attr]
        return pred

    def expr(self) -> Predicate:
        parts = [self.term()]
        while self.keyword("or"):
            parts.append(self.term())
        if len(parts) == 1:
            return parts[0]
        return lambda rec: any(p(rec) for p in parts)

    def term(self) -> Predicate:
        parts = [self.factor()]
        while self.keyword("and"):
            parts.append(self.factor())
        if len(parts) == 1:
            return parts[0]
        return lambda rec: all(p(rec) for p in parts)

    def factor(self) -> Predicate:
        if self.keyword("not"):
            inner = self.factor()
            return lambda rec: not inner(rec)
        tok = self.peek()
        if tok and tok.kind == "lp":
            self.take()
            inner = self.expr()
            if self.take().kind != "rp":
                raise _bad("missing ')'")
            return inner
        if tok and tok.kind == "word" and tok.text.lower() in _FUNCS:
            return self.function()
        return self.comparison()

    def field(self) -> tuple[str, str]:
        tok = self.take()
        if tok.kind != "word":
            raise _bad(f"expected a property name, got {tok.text!r}")
        name = tok.text.split("/")[0]
        kind = self.spec.field_kind(self.schema, name)
        if kind is None:
            raise validation_error(
                f"Could not find a property named '{name}' on type '{self.schema}' ($filter).", "$filter"
            )
        if "/" in tok.text or kind in ("object", "array"):
            raise _bad(f"filtering on '{tok.text}' is not supported")
        return name, kind

    def literal(self) -> _Lit:
        tok = self.take()
        if tok.kind == "str":
            return _Lit("str", tok.text[1:-1].replace("''", "'"))
        if tok.kind == "typed":
            prefix, _, rest = tok.text.partition("'")
            raw = rest[:-1]
            if prefix.lower() == "guid":
                return _Lit("guid", raw.lower())
            return _Lit("datetime", self._dt(raw))
        if tok.kind == "dt":
            return _Lit("datetime", self._dt(tok.text))
        if tok.kind == "guid":
            return _Lit("guid", tok.text.lower())
        if tok.kind == "num":
            return _Lit("number", Decimal(tok.text))
        if tok.kind == "word" and tok.text.lower() in ("true", "false"):
            return _Lit("bool", tok.text.lower() == "true")
        if tok.kind == "word" and tok.text.lower() == "null":
            return _Lit("null", None)
        raise _bad(f"expected a value, got {tok.text!r}")

    @staticmethod
    def _dt(text: str) -> datetime:
        try:
            return parse_datetime(text)
        except ValueError as exc:
            raise _bad(f"invalid date-time {text!r}") from exc

    def comparison(self) -> Predicate:
        name, kind = self.field()
        op_tok = self.take()
        op = op_tok.text.lower()
        if op_tok.kind != "word" or op not in _OPS:
            raise _bad(f"expected an operator (eq, ne, gt, ge, lt, le), got {op_tok.text!r}")
        lit = self.literal()
        target = _coerce(lit, kind, name)
        return _compare(name, kind, op, target)

    def function(self) -> Predicate:
        func = self.take().text.lower()
        if self.take().kind != "lp":
            raise _bad(f"expected '(' after {func}")
        if func == "substringof":
            lit = self.literal()
            if self.take().kind != "comma":
                raise _bad("expected ','")
            name, kind = self.field()
        else:
            name, kind = self.field()
            if self.take().kind != "comma":
                raise _bad("expected ','")
            lit = self.literal()
        if self.take().kind != "rp":
            raise _bad("missing ')'")
        if lit.kind != "str" or kind not in ("string", "uuid"):
            raise _bad(f"{func} needs a text property and a quoted text")
        needle = str(lit.value).lower()

        def test(rec: dict[str, Any]) -> bool:
            value = rec.get(name)
            if not isinstance(value, str):
                return False
            hay = value.lower()
            if func in ("contains", "substringof"):
                return needle in hay
            if func == "startswith":
                return hay.startswith(needle)
            return hay.endswith(needle)

        return test


def _coerce(lit: _Lit, kind: str, name: str) -> Any:
    if lit.kind == "null":
        return None
    if kind == "datetime":
        if lit.kind == "datetime":
            return lit.value
        if lit.kind == "str":
            try:
                return parse_datetime(lit.value)
            except ValueError as exc:
                raise _bad(f"{name} needs a date-time, got {lit.value!r}") from exc
    elif kind == "uuid":
        if lit.kind == "guid" or (lit.kind == "str" and _GUID_RE.match(lit.value)):
            return str(lit.value).lower()
    elif kind in ("number", "integer"):
        if lit.kind == "number":
            return lit.value
        if lit.kind == "str":
            try:
                return Decimal(lit.value)
            except InvalidOperation:
                pass
    elif kind == "boolean":
        if lit.kind == "bool":
            return lit.value
    elif kind == "string":
        if lit.kind == "str":
            return lit.value
        if lit.kind == "number":
            return str(lit.value)
    raise _bad(f"{name} cannot be compared with {lit.kind} value {lit.value!r}")


def _value(rec: dict[str, Any], name: str, kind: str) -> Any:
    value = rec.get(name)
    if value is None:
        return None
    if kind == "datetime":
        if isinstance(value, datetime):
            return value
        try:
            return parse_datetime(value)
        except (ValueError, TypeError):
            return None
    if kind == "uuid":
        return str(value).lower()
    if kind in ("number", "integer"):
        return value if isinstance(value, Decimal) else Decimal(str(value))
    return value


def _compare(name: str, kind: str, op: str, target: Any) -> Predicate:
    def test(rec: dict[str, Any]) -> bool:
        value = _value(rec, name, kind)
        if op == "eq":
            return bool(value == target)
        if op == "ne":
            return bool(value != target)
        if value is None or target is None:
            return False
        try:
            if op == "gt":
                return bool(value > target)
            if op == "ge":
                return bool(value >= target)
            if op == "lt":
                return bool(value < target)
            return bool(value <= target)
        except TypeError:
            return False

    return test


def compile_filter(text: str, spec: SpecModel, schema: str) -> Predicate:
    """Compile a `$filter` expression for records of schema `schema` (raises a 400 VismaError)."""
    return _Parser(text, spec, schema).parse()


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float, Decimal)):
        return (1, Decimal(str(value)) if isinstance(value, float) else value)
    if isinstance(value, str):
        return (2, value.lower())
    return (3, str(value))


def apply_orderby(
    records: list[dict[str, Any]], text: str, spec: SpecModel, schema: str
) -> list[dict[str, Any]]:
    """Sort by `$orderby` ("Field [asc|desc], Field2 ..."); stable, nulls first ascending."""
    keys: list[tuple[str, bool]] = []
    for part in text.split(","):
        bits = part.split()
        if not bits:
            continue
        name = bits[0]
        desc = len(bits) > 1 and bits[1].lower() == "desc"
        if len(bits) > 2 or (len(bits) == 2 and bits[1].lower() not in ("asc", "desc")):
            raise validation_error(f"Invalid $orderby: {part.strip()!r}", "$orderby")
        if spec.field_kind(schema, name) is None:
            raise validation_error(
                f"Could not find a property named '{name}' on type '{schema}' ($orderby).", "$orderby"
            )
        keys.append((name, desc))
    out = list(records)
    for name, desc in reversed(keys):
        out.sort(key=lambda rec, n=name: _sort_key(rec.get(n)), reverse=desc)
    return out


def apply_select(
    records: list[dict[str, Any]], text: str, spec: SpecModel, schema: str
) -> list[dict[str, Any]]:
    """Keep only the `$select`-ed top-level properties."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if spec.field_kind(schema, name) is None:
            raise validation_error(
                f"Could not find a property named '{name}' on type '{schema}' ($select).", "$select"
            )
    return [{n: rec.get(n) for n in names} for rec in records]


@dataclass
class PageRequest:
    page: int
    page_size: int


def page_request(params: dict[str, str]) -> PageRequest:
    """`$page` (1-based, default 1) and `$pagesize` (default 50, at most 1000)."""

    def _int(name: str, default: int) -> int:
        raw = params.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError as exc:
            raise validation_error(f"{name} must be a whole number, got {raw!r}", name) from exc

    page = _int("$page", 1)
    size = _int("$pagesize", DEFAULT_PAGE_SIZE)
    if page < 1:
        raise validation_error("$page must be 1 or more", "$page")
    if size < 1:
        raise validation_error("$pagesize must be 1 or more", "$pagesize")
    return PageRequest(page=page, page_size=min(size, MAX_PAGE_SIZE))


def paginate(records: list[Any], req: PageRequest) -> tuple[list[Any], dict[str, int]]:
    """Slice one page and compute Meta counts (without ServerTimeUtc)."""
    total = len(records)
    pages = math.ceil(total / req.page_size) if total else 0
    start = (req.page - 1) * req.page_size
    meta = {
        "CurrentPage": req.page,
        "PageSize": req.page_size,
        "TotalNumberOfPages": pages,
        "TotalNumberOfResults": total,
    }
    return records[start : start + req.page_size], meta
