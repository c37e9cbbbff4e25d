"""Visma wire details that need no server: exact Decimal JSON, OData quoting, error bodies, schemas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest

from shopbridge.http import BadRequestError, PermissionDeniedError, RateLimitError, SlidingWindowLimiter
from shopbridge.visma import (
    VismaBadRequestError,
    VismaPermissionDeniedError,
    VismaRateLimitError,
    codegen,
    odata_and,
    odata_eq,
    odata_gt,
    odata_or,
)
from shopbridge.visma.errors import from_body, hint_for
from shopbridge.visma.schemas import Customer, CustomerInvoiceDraft, ListEnvelope
from shopbridge.visma.wire import dumps, loads


def test_money_round_trips_digit_for_digit() -> None:
    text = '{"UnitPrice": 100.45, "Quantity": 3, "Rows": [{"Amount": 0.10}], "Big": 12345678901234.5678}'
    data = loads(text)
    assert data["UnitPrice"] == Decimal("100.45") and isinstance(data["UnitPrice"], Decimal)
    assert data["Quantity"] == 3 and isinstance(data["Quantity"], int)
    assert (
        dumps(data) == '{"UnitPrice":100.45,"Quantity":3,"Rows":[{"Amount":0.10}],"Big":12345678901234.5678}'
    )
    assert dumps({"a": Decimal("1E+2"), "b": Decimal("-0.00")}) == '{"a":100,"b":-0.00}'
    with pytest.raises(ValueError):
        dumps({"a": Decimal("NaN")})


def test_models_send_only_what_was_set_and_never_read_only_fields() -> None:
    draft = CustomerInvoiceDraft.model_validate(
        loads('{"Id": "x", "CustomerId": "c", "TotalAmount": 376.69, "Rows": [], "Unknown": 1.5}')
    )
    assert draft.TotalAmount == Decimal("376.69")
    wire = draft.to_wire()
    assert "Id" not in wire and "TotalAmount" not in wire  # read-only per the spec
    assert wire == {"CustomerId": "c", "Rows": [], "Unknown": Decimal("1.5")}  # extras are kept
    assert draft.to_wire(read_only=True)["Id"] == "x"
    customer = Customer(Name="Kund", IsActive=True)
    assert customer.to_wire() == {"Name": "Kund", "IsActive": True}
    assert "TermsOfPaymentId" in customer.missing_required()
    assert Customer.MAX_LENGTHS["Name"] == 50 and Customer.MAX_LENGTHS["CustomerNumber"] == 16
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    assert dumps({"d": stamp}) == '{"d":"2026-01-02T02:04:05Z"}'


def test_list_envelope() -> None:
    body = loads(
        '{"Meta": {"CurrentPage": 1, "PageSize": 50, "TotalNumberOfPages": 1, "TotalNumberOfResults": 1,'
        ' "ServerTimeUtc": "2026-03-01T12:00:00.123Z"}, "Data": [{"Name": "A"}]}'
    )
    page = ListEnvelope[Customer].model_validate(body)
    assert page.Meta.ServerTimeUtc == datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert page.Data[0].Name == "A"


def test_odata_quoting() -> None:
    assert odata_eq("EmailAddress", "o'hara@example.com") == "EmailAddress eq 'o''hara@example.com'"
    assert odata_gt("ChangedUtc", datetime(2026, 1, 1)) == "ChangedUtc gt 2026-01-01T00:00:00Z"
    since = datetime(2026, 1, 1, 12, 0, 0, 250000, tzinfo=UTC)
    assert odata_gt("ModifiedUtc", since) == "ModifiedUtc gt 2026-01-01T12:00:00.250000Z"
    guid = UUID("6f1c2a8e-2b7d-4f0e-9a51-5e1f0c7a9d30")
    assert odata_eq("CustomerId", guid) == f"CustomerId eq {guid}"
    assert odata_eq("IsActive", True) == "IsActive eq true"
    assert odata_eq("NetPrice", Decimal("10.50")) == "NetPrice eq 10.50"
    assert odata_and("A eq 1", None, "B eq 2") == "(A eq 1) and (B eq 2)"
    assert odata_or("A eq 1") == "A eq 1"
    with pytest.raises(ValueError):
        odata_eq("Name eq 'x' or 1 eq 1", "y")


def test_error_bodies_become_typed_errors() -> None:
    err = from_body(
        400,
        {"ErrorCode": 2000, "DeveloperErrorMessage": "Name: maximum length is 50", "ErrorId": "e-1"},
        method="POST",
        path="customers",
    )
    assert isinstance(err, VismaBadRequestError) and isinstance(err, BadRequestError)
    assert (err.error_code, err.developer_message, err.error_id) == (
        2000,
        "Name: maximum length is 50",
        "e-1",
    )
    assert (err.code, err.request_id) == (2000, "e-1")
    assert "e-1" in str(err)
    quota = from_body(
        429,
        {
            "ErrorCode": 4010,
            "DeveloperErrorMessage": "API calls quota exceeded! maximum admitted 600 per Minute. "
            "Try again in 55 seconds.",
            "ErrorId": "e-2",
        },
    )
    assert isinstance(quota, VismaRateLimitError) and isinstance(quota, RateLimitError)
    assert quota.retry_after == 55
    module = from_body(403, {"ErrorCode": 4002, "DeveloperErrorMessage": "No access to module: api_standard"})
    assert isinstance(module, VismaPermissionDeniedError) and isinstance(module, PermissionDeniedError)
    assert module.hint and "API add-on (Integration) is not enabled" in module.hint
    assert "fiscal year" in (hint_for(3001, "") or "")
    assert "number series" in (hint_for(4002, "No invoice number series is set up") or "")
    assert hint_for(2000, "Name: too long") is None
    odd = from_body(502, "<html>bad gateway</html>")
    assert odd.status == 502 and odd.error_code is None


def test_committed_schemas_match_the_generator() -> None:
    committed = (Path(codegen.__file__).parent / "schemas.py").read_text(encoding="utf-8")
    assert committed == codegen.render(codegen.load_spec()), "run: python -m shopbridge.visma.codegen"


async def test_limiter_counts_a_call_from_its_answer() -> None:
    """The Visma client's zero-429 promise rests on this: a slow answer pushes the next window back."""
    now = [0.0]
    limiter = SlidingWindowLimiter(2, 1.0, margin_s=0.0, clock=lambda: now[0])
    first = await limiter.acquire("customers")
    await limiter.acquire("customers")
    now[0] = 0.3  # the first call's answer came late: it may have reached the server only now
    limiter.release(first)
    assert limiter.reserve("customers") == pytest.approx(1.0)  # 0.3 + 1.0 window - now
