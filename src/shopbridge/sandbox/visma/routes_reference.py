"""Reference data endpoints: codings, units, terms, currencies, VAT codes, delivery methods and terms,
bank accounts, countries (company settings and fiscal years: `routes_company.py`)."""

from __future__ import annotations

from typing import Any

from .api_base import Api, Call, new_id, public
from .clock import iso_date, parse_datetime
from .errors import business_error, not_found, validation_error
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
    register_bank_accounts(api)
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


BANK_ACCOUNT_TYPES = {
    1: "ChequeAccount",
    2: "CashAccount",
    3: "SavingsAccount",
    4: "CurrencyAccount",
    5: "DigitalWalletAccount",
    6: "CashCreditAccount",
    7: "TaxAccount",
}


def register_bank_accounts(api: Api) -> None:
    """Create, change and delete bank accounts (scope ea:purchase, as listing them).

    Like Visma: the ledger account must be a bank account number of its own (1900-1999) not used by
    another bank account, one default cheque account at most, and an account that has payments on it
    cannot be deleted (only made inactive).
    """
    state = api.state
    table = "bankaccounts"

    def checked(body: dict[str, Any], own_id: str | None) -> dict[str, Any]:
        kind = body.get("BankAccountType")
        if kind not in BANK_ACCOUNT_TYPES:
            raise validation_error(f"BankAccountType: {kind} is not a bank account type", "BankAccountType")
        ledger = body.get("LedgerAccountNumber")
        if not isinstance(ledger, int) or not 1900 <= ledger <= 1999:
            raise validation_error(
                "LedgerAccountNumber: a bank account is booked on an account 1900-1999", "LedgerAccountNumber"
            )
        for other in state.table(table).values():
            if other["Id"] != own_id and other.get("LedgerAccountNumber") == ledger:
                raise business_error(
                    f"LedgerAccountNumber: account {ledger} belongs to bank account {other.get('Name')!r}",
                    "LedgerAccountNumber",
                )
        return body

    def store(rec: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        ro = api.spec.read_only("BankAccountApi")
        rec.update({k: v for k, v in body.items() if k in rec and k not in ro})
        rec["BankAccountTypeDescription"] = BANK_ACCOUNT_TYPES[rec["BankAccountType"]]
        if rec.get("IsDefaultChequeAccount"):
            for other in state.table(table).values():
                if other["Id"] != rec["Id"]:
                    other["IsDefaultChequeAccount"] = False
        state.table(table)[rec["Id"]] = rec
        state.touch()
        return public(rec)

    async def create(call: Call) -> Any:
        body = checked(dict(call.body or {}), None)
        rec = api.spec.blank("BankAccountApi")
        rec["Id"] = new_id()
        rec.setdefault("IsActive", True)
        return store(rec, {"IsActive": True, **body})

    def existing(call: Call) -> dict[str, Any]:
        rec = state.table(table).get(call.path["bankAccountId"])
        if rec is None:
            raise not_found("Bank account", call.path["bankAccountId"])
        return rec

    async def update(call: Call) -> Any:
        rec = existing(call)
        return store(rec, checked(dict(call.body or {}), rec["Id"]))

    async def delete(call: Call) -> Any:
        rec = existing(call)
        used = any(p.get("CompanyBankAccountId") == rec["Id"] for p in state.table("payments").values())
        if used:
            raise business_error("The bank account has payments booked on it; make it inactive instead")
        del state.table(table)[rec["Id"]]
        state.touch()
        return None

    api.route("POST", "/bankaccounts", create)
    api.route("PUT", "/bankaccounts/{bankAccountId}", update)
    api.route("DELETE", "/bankaccounts/{bankAccountId}", delete)
