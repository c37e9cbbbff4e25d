"""The company itself: `/v2/companysettings` (and its ROT/RUT and accounting-lock parts), `/v2/fiscalyears`
and the first fiscal year's opening balances.

* `PUT /companysettings/rotrut` replaces `CompanyRotRutSettings`;
  `PUT /companysettings/accountinglocksettings` sets `AccountingLockInterval`, `AccountingLockedTo`
  (the last day of `AccountingLockedAsOf`'s month) and `TaxDeclarationDate`. Both answer the whole
  company settings record.
* Fiscal years follow the Swedish rules: a year starts on the first of a month and ends on the last
  day of a month, lasts 1 to 18 months, and joins its neighbours without gap or overlap (400, 2000).
  `PUT /fiscalyears/{id}` (`FiscalYearUpdateApi`) locks or unlocks a year for accounting.
  With the admin switch `has_open_fiscal_year` off, years reaching today are hidden; creating one that
  covers today opens it again.
* Opening balances (`/fiscalyears/openingbalances`, balance accounts 1000-2999 of the seed's chart)
  belong to the first fiscal year; a PUT sets the listed accounts and is refused unless all balances
  then sum to zero, or when the year is locked; an inactive account is activated unless
  `enableInactiveAccounts=false` (then 400).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from .api_base import Api, Call, json_response, new_id, public
from .clock import parse_datetime
from .errors import business_error, not_found, reference_not_found, validation_error
from .pricing import dec, q2

YEAR = "FiscalYearApi"


def company_settings(api: Api) -> dict[str, Any]:
    """The company settings record as answered by GET /v2/companysettings (derived fields filled in)."""
    state = api.state
    rec = dict(state.company)
    flags = state.flags
    modules = ["api_standard"] if flags.api_module_enabled else []
    if flags.has_order_module:
        modules.append("order")
    if flags.has_pricelist_module:
        modules.append("sales_price_lists")
    modules.append("stock")
    rec.update(
        {
            "ActivatedModules": modules,
            "ShowPricesExclVatPC": flags.show_prices_excl_vat_pc,
            "DomesticCurrencyRounding": flags.domestic_currency_rounding,
            "NextCustomerNumber": state.series.customer,
            "NextCustomerInvoiceNumber": state.series.invoice,
            "NextOrderNumber": state.series.order,
            "ProductVariant": 5 if flags.has_pricelist_module else 1,
        }
    )
    return public(rec)


def _day(value: Any, field: str) -> date:
    try:
        return parse_datetime(str(value)).date()
    except ValueError as exc:
        raise validation_error(f"{field}: '{value}' is not a valid date", field) from exc


def _stamp(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def register(api: Api) -> None:
    state = api.state
    years = state.table("fiscalyears")

    # ---- company settings ---------------------------------------------------------------------
    async def get_company(call: Call) -> Any:
        return company_settings(api)

    async def put_company(call: Call) -> Any:
        ro = api.spec.read_only("CompanySettingsApi")
        for key, value in (call.body or {}).items():
            if key in state.company and key not in ro:
                state.company[key] = value
        state.touch()
        return company_settings(api)

    async def put_rotrut(call: Call) -> Any:
        current = state.company.get("CompanyRotRutSettings") or api.spec.blank("CompanyRotRutSettingsApi")
        state.company["CompanyRotRutSettings"] = {**current, **(call.body or {})}
        state.touch()
        return company_settings(api)

    async def put_lock(call: Call) -> Any:
        body = call.body or {}
        interval = body.get("AccountingLockInterval")
        if interval is not None:
            state.company["AccountingLockInterval"] = interval
        as_of = body.get("AccountingLockedAsOf")
        if as_of:
            year, month = as_of.get("Year"), as_of.get("Month")
            if not isinstance(year, int) or not 1900 <= year <= 9999 or not isinstance(month, int):
                raise validation_error(
                    "AccountingLockedAsOf: Year and Month are both required", "AccountingLockedAsOf"
                )
            state.company["AccountingLockedTo"] = _stamp(_month_end(date(year, month, 1)))
        declaration = body.get("TaxDeclarationDate")
        if declaration:
            month, day = declaration.get("Month"), declaration.get("Day")
            if not isinstance(month, int) or not 1 <= month <= 12 or not isinstance(day, int):
                raise business_error(
                    f"TaxDeclarationDate.Month: {month} is not a month", "TaxDeclarationDate.Month"
                )
            state.company["TaxDeclarationDate"] = {"Month": month, "Day": day}
        state.touch()
        return company_settings(api)

    # ---- fiscal years -------------------------------------------------------------------------
    def visible_years() -> list[dict[str, Any]]:
        rows = sorted(years.values(), key=lambda y: y["StartDate"])
        if state.flags.has_open_fiscal_year:
            return rows
        now = state.clock.current()
        return [y for y in rows if parse_datetime(y["EndDate"]) < now]

    def year_or_404(year_id: str) -> dict[str, Any]:
        for year in visible_years():
            if year["Id"] == year_id:
                return year
        raise not_found("Fiscal year", year_id)

    async def list_years(call: Call) -> Any:
        return api.list_response(call, visible_years(), YEAR)

    async def get_year(call: Call) -> Any:
        return year_or_404(call.path["id"])

    async def create_year(call: Call) -> Any:
        body = call.body or {}
        for field in ("StartDate", "EndDate"):
            if not body.get(field):
                raise validation_error(f"{field}: the field is required", field)
        start, end = _day(body["StartDate"], "StartDate"), _day(body["EndDate"], "EndDate")
        if start.day != 1:
            raise validation_error("StartDate: a fiscal year starts on the first day of a month", "StartDate")
        if end != _month_end(end):
            raise validation_error("EndDate: a fiscal year ends on the last day of a month", "EndDate")
        months = (end.year - start.year) * 12 + end.month - start.month + 1
        if not 1 <= months <= 18:
            raise validation_error(f"EndDate: a fiscal year lasts 1 to 18 months, not {months}", "EndDate")
        shown = visible_years()
        if shown:
            first, last = _day(shown[0]["StartDate"], "StartDate"), _day(shown[-1]["EndDate"], "EndDate")
            if start != last + timedelta(days=1) and end != first - timedelta(days=1):
                raise validation_error(
                    f"StartDate: the fiscal year must start on {last + timedelta(days=1)} "
                    f"(after the last year) or end on {first - timedelta(days=1)} (before the first)",
                    "StartDate",
                )
        for hidden in [y for y in years.values() if y not in shown]:
            if _day(hidden["StartDate"], "StartDate") <= end and _day(hidden["EndDate"], "EndDate") >= start:
                del years[hidden["Id"]]
        method = shown[-1].get("BookkeepingMethod", 0) if shown else 0
        rec = {
            **api.spec.blank(YEAR),
            "Id": new_id(),
            "StartDate": _stamp(start),
            "EndDate": _stamp(end),
            "IsLockedForAccounting": False,
            "BookkeepingMethod": method,
        }
        years[rec["Id"]] = rec
        if start <= state.clock.current().date() <= end:
            state.flags.has_open_fiscal_year = True
        state.touch()
        return rec

    async def update_year(call: Call) -> Any:
        year = year_or_404(call.path["id"])
        locked = (call.body or {}).get("IsLockedForAccounting")
        if locked is not None:
            year["IsLockedForAccounting"] = bool(locked)
            state.touch()
        return year

    # ---- opening balances ---------------------------------------------------------------------
    accounts = state.table("accounts")
    balances = state.table("openingbalances")

    def balance_rows() -> list[dict[str, Any]]:
        rows = []
        for key in sorted(balances, key=int):
            account = accounts.get(key, {})
            rows.append(
                {"Name": account.get("Name"), "Number": int(key), "Balance": balances[key]["Balance"]}
            )
        return rows

    async def get_balances(call: Call) -> Any:
        return api.list_response(call, balance_rows(), "OpeningBalancesApi")

    async def put_balances(call: Call) -> Any:
        body = call.body if isinstance(call.body, list) else []
        shown = visible_years()
        if not shown:
            raise business_error("The company has no fiscal year to hold opening balances")
        if shown[0].get("IsLockedForAccounting"):
            raise business_error("The first fiscal year is locked for accounting; unlock it first")
        allow_inactive = call.qbool("enableInactiveAccounts", True)
        updated = {k: dec(v["Balance"]) for k, v in balances.items()}
        to_activate = []
        for idx, row in enumerate(body):
            field = f"[{idx}].AccountNumber"
            number = row.get("AccountNumber")
            account = accounts.get(str(number))
            if account is None:
                raise reference_not_found(field, "Account", number)
            if not 1000 <= int(number) <= 2999:
                raise business_error(f"{field}: {number} is not a balance sheet account", field)
            if not account["IsActive"]:
                if not allow_inactive:
                    raise business_error(f"{field}: account {number} is inactive", field)
                to_activate.append(account)
            updated[str(number)] = q2(dec(row.get("Balance")))
        total = sum(updated.values(), Decimal(0))
        if total != 0:
            raise business_error(f"The opening balances must sum to zero, they sum to {total}")
        for account in to_activate:
            account["IsActive"] = True
        balances.clear()
        for key, value in updated.items():
            if value != 0:
                balances[key] = {"AccountNumber": int(key), "Balance": value}
        state.touch()
        return json_response(balance_rows())

    api.route("GET", "/companysettings", get_company)
    api.route("PUT", "/companysettings", put_company)
    api.route("PUT", "/companysettings/rotrut", put_rotrut)
    api.route("PUT", "/companysettings/accountinglocksettings", put_lock)
    api.route("GET", "/fiscalyears", list_years)
    api.route("POST", "/fiscalyears", create_year, status=201)
    api.route("GET", "/fiscalyears/openingbalances", get_balances)
    api.route("PUT", "/fiscalyears/openingbalances", put_balances)
    api.route("GET", "/fiscalyears/{id}", get_year)
    api.route("PUT", "/fiscalyears/{id}", update_year)
