"""A small JSON-schema "is it valid?" compiler for the fast path of request validation.

`jsonschema` gives good error details but costs ~1 ms for an order with ten rows, mostly in its
generic machinery. Valid requests are the common case, so `SpecValidator` first runs the closure
compiled here (tens of µs) and only asks `jsonschema` for details when it says "invalid".

The compiled check must never be more lenient than `jsonschema`: a schema using any keyword not
handled here makes `compile_check` return None, and the caller always uses `jsonschema`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from jsonschema import FormatChecker

Check = Callable[[Any], bool]

# Keywords without validation meaning (annotations) in the schemas we compile.
_IGNORED = frozenset(
    {
        "title",
        "description",
        "default",
        "readOnly",
        "writeOnly",
        "deprecated",
        "example",
        "examples",
        "discriminator",
        "xml",
        "externalDocs",
        "$id",
        "$schema",
        "$comment",
        "$anchor",
        "$defs",
        "definitions",
        "components",
        "contentMediaType",
        "contentEncoding",
    }
)


class _Unsupported(Exception):
    pass


def _is_integer(x: Any) -> bool:
    t = type(x)
    if t is int:
        return True
    if t is float:
        return x.is_integer()
    if t is Decimal:
        return x.is_finite() and x == x.to_integral_value()
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    t = type(x)
    return t is int or t is float or t is Decimal or (isinstance(x, int | float) and not isinstance(x, bool))


def _enum_check(values: list[Any]) -> Check:
    strings = {v for v in values if type(v) is str}
    bools = {v for v in values if type(v) is bool}
    numbers = [v for v in values if _is_number(v)]
    has_null = any(v is None for v in values)
    complex_values = [v for v in values if isinstance(v, dict | list)]

    def check(x: Any) -> bool:
        t = type(x)
        if t is str:
            return x in strings
        if t is bool:
            return x in bools
        if x is None:
            return has_null
        if _is_number(x):
            return any(x == n for n in numbers)
        return any(x == c for c in complex_values)  # dicts/lists: plain equality (stricter is fine)

    return check


def _all_of(checks: list[Check]) -> Check:
    if not checks:
        return lambda x: True
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        a, b = checks
        return lambda x: a(x) and b(x)
    if len(checks) == 3:
        a, b, c = checks
        return lambda x: a(x) and b(x) and c(x)
    frozen = tuple(checks)

    def check(x: Any) -> bool:
        for c in frozen:  # noqa: SIM110 - a plain loop is faster than all(genexpr)
            if not c(x):
                return False
        return True

    return check


_PLAIN_TYPES: dict[str, type] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _type_check(names: list[Any]) -> Check:
    plain = frozenset(_PLAIN_TYPES[n] for n in names if n in _PLAIN_TYPES)
    numeric = [n for n in names if n not in _PLAIN_TYPES]
    for n in numeric:
        if n not in ("integer", "number"):
            raise _Unsupported(f"type {n!r}")
    test = _is_number if "number" in numeric else _is_integer if numeric else None
    if test is None:
        if len(plain) == 1:
            (only,) = plain
            return lambda x: type(x) is only
        return lambda x: type(x) in plain
    if not plain:
        return test
    return lambda x: type(x) in plain or test(x)


def _items_check(sub: Check) -> Check:
    def check(x: list[Any]) -> bool:
        for item in x:  # noqa: SIM110 - a plain loop is faster than all(genexpr)
            if not sub(item):
                return False
        return True

    return check


def _format_check(func: Callable[[Any], Any], raises: Any) -> Check:
    # same contract as FormatChecker.conforms, without its per-call lookups
    def check(x: Any) -> bool:
        try:
            return bool(func(x))
        except raises:
            return False

    return check


def _properties_check(props: dict[str, Check]) -> Check:
    get = props.get

    def check(x: dict[str, Any]) -> bool:
        for key, value in x.items():
            sub = get(key)
            if sub is not None and not sub(value):
                return False
        return True

    return check


class _Compiler:
    def __init__(
        self, resolve: Callable[[str], Any], format_checker: FormatChecker, reject_unknown: bool
    ) -> None:
        self.resolve = resolve
        self.format_checker = format_checker
        self.reject_unknown = reject_unknown
        self.refs: dict[str, list[Check]] = {}

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return lambda x: True
        if schema is False:
            return lambda x: False
        if not isinstance(schema, dict):
            raise _Unsupported(repr(schema))
        checks: list[Check] = []
        obj_checks: list[Check] = []
        str_checks: list[Check] = []
        num_checks: list[Check] = []
        arr_checks: list[Check] = []
        for key, value in schema.items():
            if key in _IGNORED or key.startswith("x-"):
                continue
            if key == "$ref":
                checks.append(self._ref(value))
            elif key == "type":
                checks.append(_type_check(value if isinstance(value, list) else [value]))
            elif key == "enum":
                if not isinstance(value, list):
                    raise _Unsupported("enum")
                checks.append(_enum_check(value))
            elif key == "const":
                checks.append(_enum_check([value]))
            elif key in ("allOf", "anyOf", "oneOf"):
                subs = [self.compile(s) for s in value]
                if key == "allOf":
                    checks.append(lambda x, subs=subs: all(s(x) for s in subs))
                elif key == "anyOf":
                    checks.append(lambda x, subs=subs: any(s(x) for s in subs))
                else:
                    checks.append(lambda x, subs=subs: sum(1 for s in subs if s(x)) == 1)
            elif key == "not":
                sub = self.compile(value)
                checks.append(lambda x, sub=sub: not sub(x))
            elif key == "format":
                if value in self.format_checker.checkers:
                    checks.append(_format_check(*self.format_checker.checkers[value]))
            # objects
            elif key == "properties":
                obj_checks.append(_properties_check({name: self.compile(sub) for name, sub in value.items()}))
            elif key == "required":
                req = list(value)
                obj_checks.append(lambda x, req=req: all(name in x for name in req))
            elif key == "additionalProperties":
                obj_checks.append(self._additional(schema, value))
            elif key == "patternProperties":
                pats = [(re.compile(p), self.compile(sub)) for p, sub in value.items()]
                obj_checks.append(
                    lambda x, pats=pats: all(c(v) for k, v in x.items() for p, c in pats if p.search(k))
                )
            elif key == "minProperties":
                obj_checks.append(lambda x, n=value: len(x) >= n)
            elif key == "maxProperties":
                obj_checks.append(lambda x, n=value: len(x) <= n)
            # strings
            elif key == "maxLength":
                str_checks.append(lambda x, n=value: len(x) <= n)
            elif key == "minLength":
                str_checks.append(lambda x, n=value: len(x) >= n)
            elif key == "pattern":
                pat = re.compile(value)
                str_checks.append(lambda x, pat=pat: pat.search(x) is not None)
            # numbers
            elif key == "minimum":
                num_checks.append(lambda x, n=value: x >= n)
            elif key == "maximum":
                num_checks.append(lambda x, n=value: x <= n)
            elif key == "exclusiveMinimum" and _is_number(value):
                num_checks.append(lambda x, n=value: x > n)
            elif key == "exclusiveMaximum" and _is_number(value):
                num_checks.append(lambda x, n=value: x < n)
            # arrays
            elif key == "items" and isinstance(value, dict | bool):
                arr_checks.append(_items_check(self.compile(value)))
            elif key == "minItems":
                arr_checks.append(lambda x, n=value: len(x) >= n)
            elif key == "maxItems":
                arr_checks.append(lambda x, n=value: len(x) <= n)
            else:
                raise _Unsupported(key)
        if obj_checks:
            obj = _all_of(obj_checks)
            checks.append(lambda x: type(x) is not dict or obj(x))
        if str_checks:
            text = _all_of(str_checks)
            checks.append(lambda x: type(x) is not str or text(x))
        if num_checks:
            num = _all_of(num_checks)
            checks.append(lambda x: not _is_number(x) or num(x))
        if arr_checks:
            arr = _all_of(arr_checks)
            checks.append(lambda x: type(x) is not list or arr(x))
        return _all_of(checks)

    def _additional(self, schema: dict[str, Any], value: Any) -> Check:
        known = frozenset(schema.get("properties", {}))
        pats = [re.compile(p) for p in schema.get("patternProperties", {})]

        def extras(x: dict[str, Any]) -> list[str]:
            return [k for k in x if k not in known and not any(p.search(k) for p in pats)]

        if value is False:
            if not self.reject_unknown:
                return lambda x: True
            if not pats:
                return lambda x: all(k in known for k in x)
            return lambda x: not extras(x)
        if value is True:
            return lambda x: True
        sub = self.compile(value)
        return lambda x: all(sub(x[k]) for k in extras(x))

    def _ref(self, ref: Any) -> Check:
        if not isinstance(ref, str):
            raise _Unsupported("$ref")
        cell = self.refs.get(ref)
        if cell is None:
            cell = self.refs[ref] = []
            try:
                target = self.resolve(ref)
            except (KeyError, TypeError, ValueError):
                raise _Unsupported(f"$ref {ref}") from None
            cell.append(self.compile(target))
        return lambda x, cell=cell: cell[0](x)


def compile_check(
    schema: Any,
    resolve: Callable[[str], Any],
    format_checker: FormatChecker,
    *,
    reject_unknown_fields: bool = True,
) -> Check | None:
    """A `valid(instance) -> bool` function for `schema`, or None if it uses unsupported keywords.

    `resolve(ref)` returns the schema a `$ref` points to.
    """
    try:
        return _Compiler(resolve, format_checker, reject_unknown_fields).compile(schema)
    except (_Unsupported, re.error):
        return None
