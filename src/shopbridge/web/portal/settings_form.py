"""Every connection setting as a form field: its meaning, its default, whether it was changed; and the
form read back into settings, checked by the same model the engine uses, one sentence per error.

The meanings are the descriptions in ``sync/settings.py`` (translated through the catalogues, which
take them in as well). Maps (status map, pricelist map, field maps, ...) are edited as rows of
key and value; price rules as rows of pricelist, factor, discount and rounding.
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from shopbridge.sync.context import COMPANY_SETTINGS
from shopbridge.sync.settings import ConnectionSettings, PriceRule

from .i18n import N_, _

__all__ = ["GROUPS", "SettingField", "fields", "parse_form", "sentences"]

EXTRA_MEANINGS = {
    "poll_interval_s": N_("Seconds between two syncs of this shop"),
}
STATUS_EVENTS = ("delivered", "invoiced", "paid", "cancelled")
GROUPS: list[tuple[str, tuple[str, ...]]] = [
    (
        N_("Orders"),
        (
            "document_type",
            "trigger_statuses",
            "start_date",
            "shop_time_zone",
            "zero_total",
            "update_documents",
            "edit_window_days",
            "reference_field",
            "reference_prefix",
            "missing_article",
            "fallback_article",
            "max_attempts",
            "totals_tolerance",
            "poll_interval_s",
        ),
    ),
    (
        N_("Customers"),
        ("collective_customer_number", "terms_of_payment_id", "customer_number_prefix", "update_customers"),
    ),
    (
        N_("Rows and VAT"),
        (
            "shipping_articles",
            "fee_articles",
            "discount_articles",
            "adjustment_articles",
            "foreign_charge_articles",
            "coding_by_rate",
            "uses_oss",
            "unit_id",
        ),
    ),
    (
        N_("Order status back to the shop"),
        (
            "status_map",
            "status_mail",
            "status_process_payment",
            "capture_on",
            "tracking_field",
            "tracking_pattern",
            "tracker_type",
            "paid_payment_methods",
            "payment_accounts",
            "invoice_delivery",
            "invoice_delivery_by_payment_method",
            "returned_statuses",
            "void_cancelled",
            "credit_cancelled",
            "deletion_check_interval_s",
        ),
    ),
    (
        N_("Products, prices and stock"),
        (
            "preset",
            "directions",
            "product_language",
            "articles_are_stock",
            "stock_source",
            "stock_location",
            "stock_buffer",
            "stock_reserve_days",
            "few_left_at",
            "stock_statuses",
            "campaign_prices",
            "pricelist_map",
            "price_rules",
            "catalog_full_check_s",
        ),
    ),
    (N_("Several shops"), ("cost_center_item_id", "project_id", "product_master")),
    (
        N_("Mappings and plugins"),
        (
            "field_map",
            "terms_by_payment_method",
            "delivery_method_by_shipping",
            "article_field_map",
            "plugins",
        ),
    ),
    (N_("Plan"), ("plan", "custom_quota", "custom_features", "shop_fee")),
]
EMPTY_ROWS = 2


@dataclass
class SettingField:
    """One setting as the form shows it."""

    name: str
    kind: str  # choice, bool, text, number, date, list, map, rules, status_map
    meaning: str
    default: Any
    value: Any
    changed: bool
    choices: list[str] = field(default_factory=list)
    optional: bool = False
    rows: list[tuple[str, Any]] = field(default_factory=list)  # maps and rules: existing + empty
    error: str | None = None

    @property
    def default_text(self) -> str:
        return display(self.default)

    @property
    def value_text(self) -> str:
        return display(self.value) if self.kind not in ("map", "rules", "status_map") else ""


def display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(
            f"{k}={v.model_dump(mode='json') if hasattr(v, 'model_dump') else v}" for k, v in value.items()
        )
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _kind(name: str, annotation: Any) -> tuple[str, list[str], bool]:
    args = typing.get_args(annotation)
    optional = type(None) in args
    inner = (
        [a for a in args if a is not type(None)] if args and typing.get_origin(annotation) is not dict else []
    )
    base = inner[0] if len(inner) == 1 else annotation
    if name == "status_map":
        return "status_map", [], False
    origin = typing.get_origin(base)
    if origin is typing.Literal:
        return "choice", [str(a) for a in typing.get_args(base)], optional
    if base is bool:
        return "bool", [], optional
    if base in (int, float, Decimal):
        return "number", [], optional
    if base is date:
        return "date", [], optional
    if origin is list:
        return "list", [], optional
    if origin is dict:
        value_type = typing.get_args(base)[1]
        return ("rules" if value_type is PriceRule else "map"), [], optional
    return "text", [], optional


def fields(
    own: dict[str, Any],
    effective: ConnectionSettings,
    *,
    further_shop: bool,
    errors: dict[str, str] | None = None,
) -> list[tuple[str, list[SettingField]]]:
    """The form's groups of fields (company settings left out for a further shop)."""
    errors = errors or {}
    defaults = ConnectionSettings()
    out = []
    for title, names in GROUPS:
        group = []
        for name in names:
            if further_shop and name in COMPANY_SETTINGS:
                continue
            info = ConnectionSettings.model_fields[name]
            kind, choices, optional = _kind(name, info.annotation)
            value = getattr(effective, name)
            default = getattr(defaults, name)
            rows: list[tuple[str, Any]] = []
            if kind in ("map", "rules"):
                rows = [(k, v) for k, v in value.items()] + [("", None)] * EMPTY_ROWS
            elif kind == "status_map":
                rows = [(event, value.get(event, "")) for event in STATUS_EVENTS]
            group.append(
                SettingField(
                    name=name,
                    kind=kind,
                    meaning=_(info.description or EXTRA_MEANINGS.get(name, name)),
                    default=default,
                    value=value,
                    changed=name in own and _jsonable(value) != _jsonable(default),
                    choices=choices,
                    optional=optional,
                    rows=rows,
                    error=errors.get(name),
                )
            )
        if group:
            out.append((title, group))
    return out


def _jsonable(value: Any) -> Any:
    return json.loads(
        json.dumps(value, default=lambda v: v.model_dump(mode="json") if hasattr(v, "model_dump") else str(v))
    )


def parse_form(form: Any, *, further_shop: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings a submitted form gives (raw, to be validated), and errors found while reading it."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for _title, names in GROUPS:
        for name in names:
            if further_shop and name in COMPANY_SETTINGS:
                continue
            info = ConnectionSettings.model_fields[name]
            kind, _choices, optional = _kind(name, info.annotation)
            if kind in ("map", "status_map"):
                mapping: dict[str, str] = {}
                for k, v in zip(form.getlist(f"{name}.key"), form.getlist(f"{name}.value"), strict=False):
                    k, v = k.strip(), v.strip()
                    if k:
                        mapping[k] = v
                    elif v:
                        errors[name] = _("A row has a value but no key: fill in both or empty both.")
                if kind == "status_map" and not any(mapping.values()):
                    mapping = {}  # nothing mapped: status feedback off
                values[name] = mapping
                continue
            if kind == "rules":
                rules = {}
                for key, factor, discount, rounding in zip(
                    form.getlist(f"{name}.key"),
                    form.getlist(f"{name}.factor"),
                    form.getlist(f"{name}.discount"),
                    form.getlist(f"{name}.rounding"),
                    strict=False,
                ):
                    key = key.strip()
                    if not key:
                        if factor.strip() or discount.strip():
                            errors[name] = _("A price rule has no pricelist: fill in the pricelist id.")
                        continue
                    rules[key] = {
                        "factor": factor.strip() or "1",
                        "discount_percent": discount.strip() or "0",
                        "rounding": rounding or "0.01",
                    }
                values[name] = rules
                continue
            raw = form.get(name)
            raw = raw.strip() if isinstance(raw, str) else ""
            if kind == "bool":
                values[name] = raw == "true"
            elif kind == "list":
                values[name] = [part.strip() for part in raw.split(",") if part.strip()]
            elif raw == "" and (optional or info.default is None):
                values[name] = None
            elif raw == "" and kind == "text":
                values[name] = ""
            elif raw == "":
                values[name] = info.get_default(call_default_factory=True)
            else:
                values[name] = raw.replace(",", ".") if kind == "number" else raw
    return values, errors


def sentences(exc: ValidationError) -> dict[str, str]:
    """One sentence per setting that failed validation, in the user's language."""
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        name = loc[0] if loc else "settings"
        if name in out:
            continue
        kind = err.get("type", "")
        ctx = err.get("ctx") or {}
        if kind in ("int_parsing", "int_from_float"):
            text = _("Write a whole number.")
        elif kind in ("float_parsing", "decimal_parsing"):
            text = _("Write a number, for example 12.5.")
        elif kind in ("greater_than_equal",):
            text = _("It must be at least %(n)s.", n=ctx.get("ge"))
        elif kind in ("less_than_equal",):
            text = _("It must be at most %(n)s.", n=ctx.get("le"))
        elif kind == "literal_error":
            text = _("Pick one of: %(options)s.", options=ctx.get("expected", ""))
        elif kind.startswith("date"):
            text = _("Write a date as YYYY-MM-DD.")
        elif kind == "extra_forbidden":
            text = _("This is not a setting shopbridge knows.")
        elif kind == "value_error":
            text = str(ctx.get("error") or err.get("msg", "")).removeprefix("Value error, ")
        else:
            text = _("This value is not valid here (%(why)s).", why=err.get("msg", kind))
        if len(loc) > 1 and name in ("price_rules", "directions", "status_map"):
            text = f"{loc[1]}: {text}"
        out[name] = text
    return out
