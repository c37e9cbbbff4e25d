"""Wire helpers for Visma eAccounting: the model base, exact-Decimal JSON in and out.

Visma sends and expects money as JSON numbers. We decode every number with a fraction as `Decimal`
(`loads`) and write `Decimal` back as the same digits (`dumps`), so no amount ever passes through
a float.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict


def loads(text: str | bytes) -> Any:
    """Parse JSON with every non-integer number as `Decimal`."""
    return json.loads(text, parse_float=Decimal)


def format_datetime(value: datetime) -> str:
    """RFC 3339 text for a datetime: aware values in UTC with `Z`, naive ones as they are."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
        suffix = "Z"
    else:
        suffix = ""
    text = value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
    return text + suffix


def _decimal(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"cannot send {value} as a JSON number")
    return format(value, "f")


def _encode(obj: Any, out: list[str]) -> None:
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, Enum):
        _encode(obj.value, out)
    elif isinstance(obj, int):
        out.append(str(int(obj)))
    elif isinstance(obj, Decimal):
        out.append(_decimal(obj))
    elif isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"cannot send {obj} as a JSON number")
        out.append(repr(obj))
    elif isinstance(obj, str):
        out.append(json.dumps(obj, ensure_ascii=False))
    elif isinstance(obj, datetime):
        out.append(json.dumps(format_datetime(obj)))
    elif isinstance(obj, date):
        out.append(json.dumps(obj.isoformat()))
    elif isinstance(obj, UUID):
        out.append(json.dumps(str(obj)))
    elif isinstance(obj, VismaModel):
        _encode(obj.to_wire(), out)
    elif isinstance(obj, BaseModel):
        _encode(obj.model_dump(mode="python", by_alias=True, exclude_unset=True), out)
    elif isinstance(obj, Mapping):
        out.append("{")
        for i, (key, value) in enumerate(obj.items()):
            if i:
                out.append(",")
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(":")
            _encode(value, out)
        out.append("}")
    elif isinstance(obj, list | tuple | set | frozenset):
        out.append("[")
        for i, value in enumerate(obj):
            if i:
                out.append(",")
            _encode(value, out)
        out.append("]")
    else:
        raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def dumps(obj: Any) -> str:
    """JSON text with `Decimal` written as its exact digits (never through float)."""
    out: list[str] = []
    _encode(obj, out)
    return "".join(out)


class VismaModel(BaseModel):
    """Base of every Visma wire model: PascalCase fields as on the wire, unknown fields kept.

    Every field is optional so a read never fails on a field the server left out; the spec's
    required fields, read-only fields and maximum lengths are on the class for writers and mappers.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    REQUIRED: ClassVar[frozenset[str]] = frozenset()
    READ_ONLY: ClassVar[frozenset[str]] = frozenset()
    MAX_LENGTHS: ClassVar[Mapping[str, int]] = {}

    def to_wire(self, *, read_only: bool = False) -> dict[str, Any]:
        """The fields that were set (parsed or assigned), as plain values for `dumps`.

        Read-only fields (ids, totals, timestamps) are left out unless `read_only=True`; fields
        that were never set are left out so a create sends only what the caller chose.
        """
        out: dict[str, Any] = {}
        extra = self.__pydantic_extra__ or {}
        for name in self.model_fields_set:
            if name in extra:
                continue
            if not read_only and name in self.READ_ONLY:
                continue
            out[name] = _plain(getattr(self, name), read_only)
        for name, value in extra.items():
            out[name] = _plain(value, read_only)
        return out

    def missing_required(self) -> list[str]:
        """Required fields (per the spec) that are not set or are None."""
        return sorted(name for name in self.REQUIRED if getattr(self, name, None) is None)


def _plain(value: Any, read_only: bool) -> Any:
    if isinstance(value, VismaModel):
        return value.to_wire(read_only=read_only)
    if isinstance(value, list):
        return [_plain(v, read_only) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v, read_only) for k, v in value.items()}
    return value
