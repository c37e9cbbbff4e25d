"""Reference data endpoints: codings, units, terms, currencies, VAT codes, delivery methods and terms,
bank accounts, countries (company settings and fiscal years: `routes_company.py`)."""

from __future__ import annotations

from typing import Any

from .api_base import Api, Call, new_id, public
from .clock import iso_date, parse_datetime
from .errors import not_found, validation_error
from .pricing import dec


def register(api: Api) -> None:
    state = api.state

    def simple_list(path: str, table: str, schema: str, *, sort_key: str | None = None) -> None:
        async def handler(call: Call) -> Any:
            rows = [public(r) for r in state.table(table).values()]
            if sort_key:
                rows.sort(key=lambda r: str(r.get(sort_key) or ""))
            return api.list_response(call, rows, schema)

        api.route("GET", path, handler)

    def simple_get(path: str, table: str, param: str, what: str) -> None:
        async def handler(call: Call) -> Any:
            key = call.path[param]
            rec = state.table(table).get(key) or state.table(table).get(key.upper())
            if rec is None:
                raise not_found(what, call.path[param])
            return public(rec)

        api.route("GET", path, handler)

    simple_list("/articleaccountcodings", "articleaccountcodings", "ArticleAccountCodingApi")
    simple_get(
        "/articleaccountcodings/{articleAccountCodingId}",
        "articleaccountcodings",
        "articleAccountCodingId",
        "Article account coding",
    )
    simple_list("/units", "units", "UnitApi")
    simple_get("/units/{id}", "units", "id", "Unit")
    simple_list("/termsofpayments", "termsofpayments", "TermsOfPaymentApi")
    simple_get("/termsofpayments/{id}", "termsofpayments", "id", "Terms of payment")
    simple_list("/currencies", "currencies", "CurrencyApi")
    simple_list("/vatcodes", "vatcodes", "VatCodeApi")
    simple_get("/vatcodes/{id}", "vatcodes", "id", "VAT code")
    simple_list("/deliverymethods", "deliverymethods", "DeliveryMethodApi")
    simple_get(
        "/deliverymethods/{deliveryMethodId}", "deliverymethods", "deliveryMethodId", "Delivery method"
    )
    simple_list("/deliveryterms", "deliveryterms", "DeliveryTermApi")
    simple_get("/deliveryterms/{deliveryTermId}", "deliveryterms", "deliveryTermId", "Delivery term")
    simple_list("/bankaccounts", "bankaccounts", "BankAccountApi")
    simple_get("/bankaccounts/{bankAccountId}", "bankaccounts", "bankAccountId", "Bank account")
    simple_list("/countries", "countries", "CountryApi")
    simple_get("/countries/{countrycode}", "countries", "countrycode", "Country")

    async def vatcodesrates(call: Call) -> Any:
        rows = []
        for code in state.table("vatcodes").values():
            rows.append(
                {
                    "Id": code["Id"],
                    "Code": code["Code"],
                    "Description": code["Description"],
                    "VatRates": [{"VatRateDate": "2000-01-01T00:00:00Z", "VatRate": code["VatRate"]}],
                    "OssCodeType": code.get("OssCodeType", 0),
                    "RelatedAccounts": code.get("RelatedAccounts"),
                }
            )
        return api.list_response(call, rows, "VatCodeRateApi")

    api.route("GET", "/vatcodesrates", vatcodesrates)

    async def exchangerate(call: Call) -> Any:
        source = (call.query.get("sourceCurrencyCode") or "").upper()
        target = (call.query.get("targetCurrencyCode") or state.company.get("CurrencyCode") or "SEK").upper()
        currencies = state.table("currencies")
        for name, code in (("sourceCurrencyCode", source), ("targetCurrencyCode", target)):
            if code not in currencies:
                raise validation_error(f"{name}: unknown currency '{code}'", name)
        rate = dec(currencies[source].get("_Rate"), dec(1)) / dec(currencies[target].get("_Rate"), dec(1))
        when = call.query.get("date")
        day = parse_datetime(when) if when else api.now()
        return {
            "Date": iso_date(day),
            "SourceCurrency": source,
            "TargetCurrency": target,
            "Rate": rate.quantize(dec("0.000001")),
        }

    api.route("GET", "/currencies/exchangerate", exchangerate)

    def simple_post(path: str, table: str, schema: str) -> None:
        async def handler(call: Call) -> Any:
            rec = api.spec.blank(schema)
            ro = api.spec.read_only(schema)
            rec.update({k: v for k, v in (call.body or {}).items() if k in rec and k not in ro})
            rec["Id"] = new_id()
            if "Editable" in rec:
                rec["Editable"] = True
            state.table(table)[rec["Id"]] = rec
            state.touch()
            return rec

        api.route("POST", path, handler)

    simple_post("/deliverymethods", "deliverymethods", "DeliveryMethodApi")
    simple_post("/deliveryterms", "deliveryterms", "DeliveryTermApi")
