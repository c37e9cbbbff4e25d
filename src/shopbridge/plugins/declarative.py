"""The declarative mappings of a connection's settings: the common cases, no code.

- `field_map`: Starweb order field → Visma document field, e.g. `customInfo1=YourReference`. The key
  is a field of the raw Starweb order, dotted for nested ones (`customer.email`,
  `addresses.customerDelivery.companyName`); blank values are left out. The value is a top-level
  field of the invoice draft or order. The field holding the order reference (`reference_field`)
  cannot be a target: set `reference_field=OurReference` to free YourReference.
- `terms_by_payment_method`: Starweb payment method (idCode, or id) → Visma `TermsOfPaymentId`.
- `delivery_method_by_shipping`: Starweb shipping method (id or name: Starweb shipping methods have
  no idCode) → Visma delivery method (Id or Code). An order gets `DeliveryMethodId`; an invoice
  draft, which has no such field, gets the method's `DeliveryMethodCode` and `DeliveryMethodName`.
- `article_field_map`: Starweb product field → Visma article field. `meta.<metaDataTypeId>` takes a
  product meta field's value (Swedish first, else the first language), any other key a dotted path
  in the product (`moreInfoUrl`, `variants.0.ean`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from shopbridge.plugins.errors import MappingError
from shopbridge.plugins.hookspecs import hookimpl

DeliveryMethods = Callable[[], Awaitable[list[dict[str, Any]]]]


def unwrap(value: Any) -> Any:
    """Starweb wraps included children as `{"data": ...}`."""
    if isinstance(value, dict) and set(value) and set(value) <= {"data", "meta"}:
        return value.get("data")
    return value


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted `path` in wire JSON (`{"data": ...}` wrappers and list indexes crossed)."""
    value = data
    for part in path.split("."):
        value = unwrap(value)
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return unwrap(value)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def meta_value(product: dict[str, Any], type_id: str) -> str | None:
    """The value of the product meta field of type `type_id` (Swedish first, else the first language)."""
    for entry in unwrap(product.get("metaData")) or []:
        if str(entry.get("metaDataTypeId")) != type_id:
            continue
        languages = unwrap(entry.get("languages")) or []
        languages = sorted(languages, key=lambda x: x.get("langCode") != "sv")
        for lang in languages:
            if _text(lang.get("value")):
                return _text(lang.get("value"))
    return None


class DeclarativeMappings:
    """The connection settings' mappings as a pluggy plugin (runs before code plugins)."""

    def __init__(self, settings: Any, delivery_methods: DeliveryMethods | None = None) -> None:
        self.settings = settings
        self._delivery_methods = delivery_methods
        self._methods: list[dict[str, Any]] | None = None

    @property
    def active(self) -> bool:
        s = self.settings
        return bool(
            s.field_map or s.terms_by_payment_method or s.delivery_method_by_shipping or s.article_field_map
        )

    @hookimpl(tryfirst=True)
    async def shopbridge_order_document(
        self, document: dict[str, Any], wire: dict[str, Any], kind: str
    ) -> None:
        s = self.settings
        for source, target in s.field_map.items():
            if target == s.reference_field:
                raise MappingError(
                    f"field_map writes {source} into {target}, which carries the order reference "
                    f"(reference_field); set reference_field to "
                    f"{'OurReference' if target == 'YourReference' else 'YourReference'} or map elsewhere"
                )
            value = _text(lookup(wire, source))
            if value is not None:
                document[target] = value
        method = _text(wire.get("paymentMethodIdCode"))
        terms = _pick(s.terms_by_payment_method, method, _text(wire.get("paymentMethodId")))
        if terms:
            document["TermsOfPaymentId"] = terms
        wanted = _pick(
            s.delivery_method_by_shipping,
            _text(wire.get("shippingMethodId")),
            _text(wire.get("shippingMethodName")),
        )
        if wanted:
            found = await self._delivery_method(wanted)
            if kind == "order":
                document["DeliveryMethodId"] = found["Id"]
            else:
                document.pop("DeliveryMethodId", None)
                if found.get("Code"):
                    document["DeliveryMethodCode"] = found["Code"]
                if found.get("Name"):
                    document["DeliveryMethodName"] = str(found["Name"])[:50]

    @hookimpl(tryfirst=True)
    def shopbridge_article_body(self, body: dict[str, Any], product: dict[str, Any] | None) -> None:
        if not product:
            return
        for source, target in self.settings.article_field_map.items():
            if source.startswith(("meta.", "meta:")):
                value = meta_value(product, source[5:])
            else:
                value = _text(lookup(product, source))
            if value is not None:
                body[target] = value

    async def _delivery_method(self, wanted: str) -> dict[str, Any]:
        if self._methods is None:
            if self._delivery_methods is None:
                raise MappingError("delivery_method_by_shipping needs the Visma delivery methods")
            self._methods = await self._delivery_methods()
        low = wanted.lower()
        for m in self._methods:
            if str(m.get("Id") or "").lower() == low or str(m.get("Code") or "").lower() == low:
                return m
        raise MappingError(
            f"delivery_method_by_shipping names {wanted!r}, which is no Visma delivery method (Id or Code)"
        )


def _pick(mapping: dict[str, str], *keys: str | None) -> str | None:
    """The mapping's value for the first key present (keys compared case-insensitively)."""
    if not mapping:
        return None
    folded = {k.strip().lower(): v for k, v in mapping.items()}
    for key in keys:
        if key is not None and key.lower() in folded:
            return folded[key.lower()] or None
    return None
