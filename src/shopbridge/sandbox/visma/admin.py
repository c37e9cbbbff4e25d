"""Visma-specific admin routes under `/_sandbox/visma` (no auth, not rate limited, never faulted).

* `GET  /_sandbox/visma/state/summary`  table counts, company flags, number series, server time
* `GET  /_sandbox/visma/company`        company flags; `POST` patches them, e.g.
  `{"has_order_module": false}`, `{"api_module_enabled": false}`, `{"has_open_fiscal_year": false}`,
  `{"has_invoice_number_series": false}`, `{"show_prices_excl_vat_pc": false}`,
  `{"domestic_currency_rounding": 1}`, `{"reject_unknown_fields": false}` (unknown fields are refused
  at every depth by default, as the spec's closed schemas say; false ignores them)
* `POST /_sandbox/visma/identity`       `{"allow_loopback", "redirect_uris", "deny"}`
* `POST /_sandbox/visma/clock`          `{"advance_s": 301}` moves the server clock (codes/tokens expire)
* `POST /_sandbox/visma/tokens/expire`  every access token issued so far expires now (refresh tokens live)
* `POST /_sandbox/visma/reset`          `{"seed": "demo" | "empty"}` replaces the whole state
* `POST /_sandbox/visma/save`           write the state file now (when `--state` is used)
* `POST /_sandbox/visma/catalog`        bulk-create stock articles in memory (no rate limit):
  `{"articles": N, "prefix": "BULK", "net_price": "199.00", "stock": 10, "vat_rate": 25, "start": 1,
  "purchase_price": "0"}` (all but `articles` optional) -> active stock articles Number `BULK-000001` ..,
  Name "Bulk article i", the goods coding of that VAT rate, unit 'st', NetPrice/GrossPrice, StockBalance,
  one CreatedUtc/ChangedUtc. Answers `{created, first_number, last_number, CodingId, UnitId, ChangedUtc,
  articles_total}`; 400 when a Number exists already (nothing stored).
* `POST /_sandbox/visma/articles/stock` a POS sale or stock count made in Visma:
  `{"Number": "X", "StockBalance": "12"}` (set) or `{"Number": "X", "StockChange": "-1"}` (move), or
  `{"changes": [...]}` of those. Sets StockBalance, StockBalanceAvailable = Balance - Reserved, StockValue,
  ChangedUtc and StockBalanceManuallyChangedUtc.
* `POST /_sandbox/visma/articles/price` a price / campaign change made in Visma:
  `{"Number": "X", "NetPrice": "99.00", "NetPriceWithDiscount": "79.00"?}` or `{"changes": [...]}`;
  GrossPrice follows the article's coding, ChangedUtc bumps.
  Both answer `{"changed": [{Id, Number, Name, IsActive, NetPrice, NetPriceWithDiscount, GrossPrice,
  StockBalance, StockBalanceReserved, StockBalanceAvailable, StockBalanceManuallyChangedUtc, ChangedUtc}]}`;
  404 for an unknown Number, 400 for a bad body (nothing changed).

Admin errors are `{"error": "bad_request" | "not_found", "message": ...}`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, fields
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .api_base import Api, json_response
from .bulk import AdminError, change_price, change_stock, seed_articles
from .clock import iso
from .state import CompanyFlags, loads


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": "bad_request", "message": message}, status_code=400)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    data = json.loads(raw) if raw.strip() else {}
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def build_admin_router(api: Api, reseed: Callable[[str], None], save: Callable[[], bool]) -> APIRouter:
    router = APIRouter(prefix="/_sandbox/visma", include_in_schema=False)

    def flags() -> dict[str, Any]:
        return {**asdict(api.state.flags), "reject_unknown_fields": api.reject_unknown_fields}

    @router.get("/state/summary")
    async def summary() -> dict[str, Any]:
        state = api.state
        return {
            "company": state.company.get("Name"),
            "counts": state.counts(),
            "flags": flags(),
            "series": asdict(state.series),
            "server_time_utc": iso(state.clock.current()),
            "clock_offset_s": state.clock.offset.total_seconds(),
            "tokens": {"access": len(state.tokens.access), "refresh": len(state.tokens.refresh)},
        }

    @router.get("/company")
    async def get_company() -> dict[str, Any]:
        return flags()

    @router.post("/company")
    async def set_company(request: Request) -> Any:
        try:
            data = await _body(request)
        except ValueError as exc:
            return _bad(str(exc))
        known = {f.name: f for f in fields(CompanyFlags)}
        unknown = sorted(set(data) - set(known) - {"reject_unknown_fields"})
        if unknown:
            return _bad(
                f"unknown company flag(s): {', '.join(unknown)}; "
                f"known: {', '.join([*known, 'reject_unknown_fields'])}"
            )
        for name, value in data.items():
            if name == "domestic_currency_rounding":
                if value not in (0, 1):
                    return _bad("domestic_currency_rounding must be 0 or 1")
            elif not isinstance(value, bool):
                return _bad(f"{name} must be true or false")
        for name, value in data.items():
            if name == "reject_unknown_fields":
                api.reject_unknown_fields = value
            else:
                setattr(api.state.flags, name, value)
        api.state.touch()
        return flags()

    @router.post("/identity")
    async def set_identity(request: Request) -> Any:
        try:
            data = await _body(request)
        except ValueError as exc:
            return _bad(str(exc))
        config = api.tokens.config
        if "allow_loopback" in data:
            config.allow_loopback = bool(data["allow_loopback"])
        if "redirect_uris" in data:
            uris = data["redirect_uris"]
            if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
                return _bad("redirect_uris must be a list of strings")
            config.redirect_uris = list(uris)
        if "deny" in data:
            config.deny = bool(data["deny"])
        return asdict(config)

    @router.post("/clock")
    async def clock(request: Request) -> Any:
        try:
            data = await _body(request)
            seconds = float(data.get("advance_s", 0))
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
        if seconds < 0:
            return _bad("advance_s must not be negative (the server clock never goes back)")
        api.state.clock.advance(seconds)
        return {
            "server_time_utc": iso(api.state.clock.current()),
            "offset_s": api.state.clock.offset.total_seconds(),
        }

    @router.post("/tokens/expire")
    async def expire_tokens() -> dict[str, Any]:
        now = api.state.clock.epoch()
        for rec in api.state.tokens.access.values():
            rec["expires_at"] = min(rec["expires_at"], now)
        api.state.touch()
        return {"expired": len(api.state.tokens.access)}

    @router.post("/reset")
    async def reset(request: Request) -> Any:
        try:
            data = await _body(request)
            seed = str(data.get("seed", "demo"))
            reseed(seed)
        except ValueError as exc:
            return _bad(str(exc))
        return {"seed": seed, "counts": api.state.counts()}

    async def decimal_body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            data = loads(raw) if raw.strip() else {}
        except ValueError as exc:
            raise AdminError(400, f"the body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise AdminError(400, "expected a JSON object")
        return data

    async def run(request: Request, action: Callable[[Api, dict[str, Any]], dict[str, Any]]) -> Any:
        try:
            return json_response(action(api, await decimal_body(request)))
        except AdminError as exc:
            error = "not_found" if exc.status == 404 else "bad_request"
            return JSONResponse({"error": error, "message": exc.message}, status_code=exc.status)

    @router.post("/catalog")
    async def catalog(request: Request) -> Any:
        return await run(request, seed_articles)

    @router.post("/articles/stock")
    async def article_stock(request: Request) -> Any:
        return await run(request, change_stock)

    @router.post("/articles/price")
    async def article_price(request: Request) -> Any:
        return await run(request, change_price)

    @router.post("/save")
    async def save_now() -> dict[str, Any]:
        return {"saved": save()}

    return router
