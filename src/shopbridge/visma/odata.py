"""Building Visma OData `$filter` expressions safely.

    odata_and(odata_gt("ChangedUtc", since), odata_eq("EmailAddress", "o'hara@example.com"))
    -> "ChangedUtc gt 2026-01-01T00:00:00Z and EmailAddress eq 'o''hara@example.com'"

Strings are quoted with `'` and embedded quotes doubled; datetimes are written in UTC with `Z`
(naive values are taken as UTC); `UUID` values are written bare (OData guid literal); field names
are checked so a value can never change the expression's structure.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from uuid import UUID

from shopbridge.visma.wire import format_datetime

_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")

Value = str | int | float | Decimal | bool | datetime | date | UUID | Enum | None


def odata_field(name: str) -> str:
    """`name` if it is a plain (optionally `/`-nested) property name; ValueError otherwise."""
    if not _FIELD.match(name):
        raise ValueError(f"not an OData property name: {name!r}")
    return name


def odata_datetime(value: datetime) -> str:
    """A datetime literal in UTC: `2026-01-01T00:00:00Z` (fractions kept when present)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return format_datetime(value)


def odata_literal(value: Value) -> str:
    """`value` as an OData literal."""
    if isinstance(value, Enum):
        value = value.value
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite number: {value}")
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return odata_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"cannot write {type(value).__name__} as an OData literal")


def _compare(field: str, op: str, value: Value) -> str:
    return f"{odata_field(field)} {op} {odata_literal(value)}"


def odata_eq(field: str, value: Value) -> str:
    """`field eq value`."""
    return _compare(field, "eq", value)


def odata_ne(field: str, value: Value) -> str:
    """`field ne value`."""
    return _compare(field, "ne", value)


def odata_gt(field: str, value: Value) -> str:
    """`field gt value`."""
    return _compare(field, "gt", value)


def odata_ge(field: str, value: Value) -> str:
    """`field ge value`."""
    return _compare(field, "ge", value)


def odata_lt(field: str, value: Value) -> str:
    """`field lt value`."""
    return _compare(field, "lt", value)


def odata_le(field: str, value: Value) -> str:
    """`field le value`."""
    return _compare(field, "le", value)


def odata_contains(field: str, text: str) -> str:
    """`contains(field,'text')`."""
    return f"contains({odata_field(field)},{odata_literal(text)})"


def _join(op: str, clauses: tuple[str | None, ...]) -> str:
    parts = [c for c in clauses if c]
    if len(parts) == 1:
        return parts[0]
    return f" {op} ".join(f"({p})" for p in parts)


def odata_and(*clauses: str | None) -> str:
    """Clauses joined with `and` (each parenthesised when there is more than one; None skipped)."""
    return _join("and", clauses)


def odata_or(*clauses: str | None) -> str:
    """Clauses joined with `or` (each parenthesised when there is more than one; None skipped)."""
    return _join("or", clauses)
