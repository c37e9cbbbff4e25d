"""Plumbing shared by every `/v2` endpoint: auth, company gates, scopes, body validation, lists, JSON.

Each endpoint is registered with `Api.route(method, spec_path, handler, ...)`. The wrapper runs, in order:
bearer token check (401, ErrorCode 4005), company gates (API module, startup guide), the scopes the spec
lists for the operation (403, 4006), module gates (order module, price lists), JSON parsing (numbers as
Decimal) and validation of the body against the spec (400, 2000, fields named in plain words), then
the handler. Handlers return a `Call`-independent JSON-able value (money as Decimal) or a Response.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import InvalidOperation
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from shopbridge.sandbox.settings import SandboxSettings

from . import odata
from .clock import iso, parse_datetime
from .errors import (
    DATA_MODEL_VALIDATION,
    NO_ACCESS_TO_SCOPES,
    STARTUP_GUIDE_NOT_COMPLETED,
    VismaError,
    no_module,
    unauthorized,
    validation_error,
    violations_body,
)
from .identity import TokenService
from .schemas import SpecModel
from .state import VismaState, dumps, loads

API_PREFIX = "/v2"
JSON_MEDIA = "application/json; charset=utf-8"


@dataclass
class Call:
    """One API request as the handlers see it."""

    request: Request
    path: dict[str, str]
    query: dict[str, str]
    body: Any
    token: dict[str, Any]

    def qbool(self, name: str, default: bool = False) -> bool:
        raw = self.query.get(name)
        if raw is None:
            return default
        return raw.lower() in ("true", "1")


Handler = Callable[[Call], Awaitable[Any]]


@dataclass
class LateAnswer:
    """Answer the next `times` calls of `method` on a path ending in `path_suffix` only after `after_s`
    seconds, once the call has taken effect: the caller sees a timeout for a write that happened."""

    method: str
    path_suffix: str
    after_s: float
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and method == self.method and path.rstrip("/").endswith(self.path_suffix)


def json_response(body: Any, status: int = 200) -> Response:
    return Response(content=dumps(body), status_code=status, media_type=JSON_MEDIA)


def new_id() -> str:
    return str(uuid.uuid4())


def public(rec: dict[str, Any]) -> dict[str, Any]:
    """A record without the sandbox's private `_...` keys."""
    return {k: v for k, v in rec.items() if not k.startswith("_")}


def norm_id(value: str) -> str:
    """Ids are GUIDs; compare them lower-case like .NET does (case-insensitively)."""
    return value.strip().lower()


def check_guid(value: str, name: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError) as exc:
        raise validation_error(f"{name}: the value '{value}' is not a valid GUID", name) from exc


_BOUNDS = frozenset(
    {"maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum", "maxLength", "minLength", "maxItems"}
)


def _raise_violations(violations: list[Any]) -> None:
    """400 DataModelValidation (2000) listing each violation (`Errors[].Field` names the field)."""
    if not violations:
        return
    message, errors = violations_body(violations)
    raise VismaError(400, DATA_MODEL_VALIDATION, message, errors) from None


class Api:
    """Context shared by the endpoint modules."""

    def __init__(
        self,
        app: FastAPI,
        state: VismaState,
        spec: SpecModel,
        validator: Any,
        lenient_validator: Any,
        settings: SandboxSettings,
        tokens: TokenService,
    ) -> None:
        self.app = app
        self.state = state
        self.spec = spec
        self.validator = validator
        self.lenient_validator = lenient_validator
        self.settings = settings
        self.tokens = tokens
        # The spec closes every schema (`additionalProperties: false`): unknown fields are refused at
        # every depth, like the values it bounds. Admin-settable (`reject_unknown_fields`) to rehearse
        # a lenient server.
        self.reject_unknown_fields = True
        self.late_answers: list[LateAnswer] = []  # admin-settable (`POST /_sandbox/visma/late`)

    # ---- time ----------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.state.clock.now()

    def stamp(self) -> str:
        return iso(self.now()) or ""

    # ---- registration ----------------------------------------------------------------------------
    def route(
        self,
        method: str,
        spec_path: str,
        handler: Handler,
        *,
        status: int = 200,
        module: str | None = None,
        validate: bool = True,
        body_schema: tuple[str, str] | None = None,
    ) -> None:
        """Register `handler` for `method` on `/v2{spec_path}`.

        `module` names a company module the endpoint needs ("orders", "pricelists"); `body_schema`
        validates the body against another operation's request schema (for `/dryrun` variants the
        spec lists without operations).
        """
        scopes = self.spec.scopes(method, spec_path)
        check_path = body_schema or (method, spec_path)

        async def endpoint(request: Request) -> Response:
            token = self.authenticate(request)
            self.gates(module)
            if scopes and not scopes.intersection(token["scope"].split()):
                raise VismaError(
                    403,
                    NO_ACCESS_TO_SCOPES,
                    "NoAccessToScopesException - This endpoint requires one of the scopes: "
                    + ", ".join(sorted(scopes)),
                )
            violations = self.validator.validate_query(method, spec_path, request.query_params)
            if violations:
                raise validation_error(violations[0].message, violations[0].field)
            body: Any = None
            if method in ("POST", "PUT"):
                raw = await request.body()
                if raw.strip():
                    try:
                        body = loads(raw)
                    except ValueError as exc:
                        raise validation_error(f"The request body is not valid JSON: {exc}", "body") from exc
                if validate:
                    if body is None and self.validator.body_required(*check_path):
                        raise validation_error("A non-empty request body is required", "body")
                    # an optional body left out (or JSON null) binds as an empty object, like ASP.NET
                    self.validate(check_path[0], check_path[1], {} if body is None else body)
            call = Call(
                request=request,
                path={k: norm_id(v) for k, v in request.path_params.items()},
                query=dict(request.query_params),
                body=body,
                token=token,
            )
            try:
                result = await handler(call)
            except (InvalidOperation, ArithmeticError) as exc:
                raise validation_error(f"A number in the request is out of range: {exc!r}", "body") from None
            await self.answer_late(method, request.url.path)
            if isinstance(result, Response):
                return result
            return json_response(result, status)

        self.app.add_api_route(
            API_PREFIX + spec_path,
            endpoint,
            methods=[method],
            include_in_schema=False,
            name=f"{method} {spec_path}",
        )

    async def answer_late(self, method: str, path: str) -> None:
        """Hold the answer of a call that matches a `LateAnswer` (its effect is already stored)."""
        for late in self.late_answers:
            if late.matches(method, path.lower()):
                late.times -= 1
                await asyncio.sleep(late.after_s)
                return

    def authenticate(self, request: Request) -> dict[str, Any]:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            raise unauthorized()
        rec = self.tokens.check_access(header[7:].strip())
        if rec is None:
            raise unauthorized()
        return rec

    def gates(self, module: str | None) -> None:
        flags = self.state.flags
        if not flags.api_module_enabled:
            raise no_module("api_standard")
        if not flags.startup_guide_completed:
            raise VismaError(
                400,
                STARTUP_GUIDE_NOT_COMPLETED,
                "StartupGuideNotCompletedException - "
                "The startup guide has not been completed for this company.",
            )
        if module == "orders" and not flags.has_order_module:
            raise no_module("order")
        if module == "pricelists" and not flags.has_pricelist_module:
            raise no_module("sales_price_lists")

    def validate(self, method: str, spec_path: str, body: Any) -> None:
        validator = self.validator if self.reject_unknown_fields else self.lenient_validator
        _raise_violations(validator.validate_body(method, spec_path, body))

    def ensure_in_spec(self, rec: dict[str, Any], schema: str) -> None:
        """Refuse (400, 2000) a record whose computed values break the spec's bounds.

        A request can be valid and still lead to a value the spec does not allow, e.g. a NetPrice of
        98,000,000 whose GrossPrice at 25 % VAT exceeds GrossPrice's maximum of 99,000,000: the
        sandbox refuses it before storing, naming the computed field.
        """
        found = self.validator.validate_component(schema, rec)
        _raise_violations([v for v in found if v.kind in _BOUNDS])

    # ---- lists -----------------------------------------------------------------------------------
    def list_response(
        self,
        call: Call,
        records: list[dict[str, Any]],
        schema: str,
        *,
        extra: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """Apply `$filter`, `$orderby`, `$select`, `$page`, `$pagesize`; build `{Meta, Data}`."""
        q = call.query
        req = odata.page_request(q)
        rows = records
        flt = q.get("$filter")
        if flt:
            pred = odata.compile_filter(flt, self.spec, schema)
            rows = [r for r in rows if pred(r)]
        if extra is not None:
            rows = [r for r in rows if extra(r)]
        order = q.get("$orderby")
        if order:
            rows = odata.apply_orderby(rows, order, self.spec, schema)
        page, meta = odata.paginate(rows, req)
        select = q.get("$select")
        if select:
            page = odata.apply_select(page, select, self.spec, schema)
        meta["ServerTimeUtc"] = self.stamp()
        return {"Meta": meta, "Data": page}

    def since_filter(self, call: Call, param: str, field: str) -> Callable[[dict[str, Any]], bool] | None:
        raw = call.query.get(param)
        if not raw:
            return None
        try:
            since = parse_datetime(raw)
        except ValueError as exc:
            raise validation_error(f"{param}: '{raw}' is not a valid date-time", param) from exc

        def test(rec: dict[str, Any]) -> bool:
            value = rec.get(field)
            return bool(value) and parse_datetime(value) >= since

        return test
