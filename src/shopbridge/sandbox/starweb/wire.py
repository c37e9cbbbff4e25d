"""Wire helpers of the Starweb sandbox: JSON rendering, errors, paging, includes, timestamps."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.responses import JSONResponse, Response

SHOP_TZ = ZoneInfo("Europe/Stockholm")
PER_PAGE = 50  # Starweb's list page size (the API has no page-size parameter)
TWO = Decimal("0.01")
MAX_AMOUNT = Decimal(10) ** 12  # larger amounts are rejected (400), as a shop database would


def q2(value: Decimal) -> Decimal:
    """Round to öre / cent, half up (as a shop does)."""
    return value.quantize(TWO, rounding=ROUND_HALF_UP)


def dec(value: Any) -> Decimal:
    """Decimal from a JSON number without float noise (str() of the float)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ApiError(400, "validation_failed", "A number was expected")
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ApiError(400, "validation_failed", f"Invalid number: {value!r}") from exc
    if not number.is_finite() or abs(number) >= MAX_AMOUNT:
        raise ApiError(400, "validation_failed", f"Number out of range: {value!r}")
    return number


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return int(obj) if obj == obj.to_integral_value() and obj.as_tuple().exponent >= 0 else float(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def dumps(content: Any) -> bytes:
    """Compact UTF-8 JSON; Decimals become JSON numbers."""
    return json.dumps(content, default=_json_default, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8"
    )


class SwJSONResponse(JSONResponse):
    """JSON response that renders Decimal values as numbers."""

    def render(self, content: Any) -> bytes:
        return dumps(content)


class ApiError(Exception):
    """An error answered as Starweb does: `{"error": ..., "error_description": ...}`."""

    def __init__(self, status: int, error: str, description: str, headers: dict[str, str] | None = None):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.headers = headers or {}


def error_body(error: str, description: str) -> dict[str, str]:
    return {"error": error, "error_description": description}


def error_response(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> Response:
    return SwJSONResponse(error_body(error, description), status_code=status, headers=headers)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"The requested {what} could not be found")


def bad_request(description: str) -> ApiError:
    return ApiError(400, "validation_failed", description)


def item(data: Any, status: int = 200) -> Response:
    return SwJSONResponse({"data": data}, status_code=status)


def collection(data: list[Any]) -> Response:
    return SwJSONResponse({"data": data})


def no_content() -> Response:
    return Response(status_code=204)


def page_slice(
    rows: Sequence[Any], page: int, per_page: int = PER_PAGE
) -> tuple[Sequence[Any], dict[str, Any]]:
    """The rows of one page and the `meta` object Starweb sends with lists."""
    total = len(rows)
    chunk = rows[(page - 1) * per_page : page * per_page]
    meta = {
        "pagination": {
            "current_page": page,
            "per_page": per_page,
            "total": total,
            "count": len(chunk),
            "total_pages": max(1, math.ceil(total / per_page)),
        }
    }
    return chunk, meta


def paged(rows: list[Any], meta: dict[str, Any]) -> Response:
    return SwJSONResponse({"data": rows, "meta": meta})


def parse_include(include: str | None) -> set[str]:
    if not include:
        return set()
    return {part.strip() for part in include.split(",") if part.strip()}


def now() -> datetime:
    """Shop-local time, whole seconds."""
    return datetime.now(SHOP_TZ).replace(microsecond=0)


def fmt_ts(value: datetime) -> str:
    """ISO-8601 with the shop's UTC offset, e.g. 2026-03-01T14:05:09+01:00."""
    return value.astimezone(SHOP_TZ).isoformat(timespec="seconds")


def parse_ts(value: str, name: str = "timestamp") -> datetime:
    """Parse an ISO-8601 timestamp (or date); naive values are shop-local time. 400 when invalid."""
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    if "T" in text:
        text = text.replace(" ", "+")  # an unencoded '+' in a query string arrives as ' '
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ApiError(400, "validation_failed", f"{name} must be an ISO-8601 timestamp") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=SHOP_TZ)
    return parsed


def ts_epoch(value: str) -> float:
    """Epoch seconds of a stored ISO timestamp."""
    return datetime.fromisoformat(value).timestamp()


def days_ago(anchor: datetime, days: float) -> datetime:
    return anchor - timedelta(days=days)
