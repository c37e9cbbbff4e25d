"""Wire models of the Starweb Shop API v2, from `starweb-shop-api-v2.openapi.json` (v2.11.0).

Field names are the spec's, camelCase as on the wire. Unknown fields are kept (`extra="allow"`), so
a field Starweb adds later never breaks a read. Every JSON *number* is a `Decimal` (the client
decodes JSON with `parse_float=Decimal`, so amounts arrive exactly); JSON integers stay `int`.
Timestamps are kept as the ISO-8601 strings Starweb sends.

Included children (`?include=items,addresses,...`) come wrapped as `{"data": ...}`; the models
unwrap them, so `order.items` is a list and `order.status` an `OrderStatus`. That is also the
shape the write models of the spec expect (`OrderUpdateModel.items` is a plain list), so a model
can be sent back with `to_wire()`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, TypeVar, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

T = TypeVar("T")


def _unwrap_data(value: Any) -> Any:
    """`{"data": X}` (an included child or a collection) -> X; anything else unchanged."""
    if isinstance(value, dict) and "data" in value and set(value) <= {"data", "meta"}:
        return value["data"]
    return value


Included = Annotated[T | None, BeforeValidator(_unwrap_data)]
"""A child that Starweb may send wrapped in `{"data": ...}` (includes) or bare (write models)."""


class StarwebModel(BaseModel):
    """Base of every Starweb wire model."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    READ_ONLY: ClassVar[frozenset[str]] = frozenset()
    """Fields the server sets; left out of request bodies by `to_wire()`."""
    DECIMAL_AS_STRING: ClassVar[frozenset[str]] = frozenset()
    """Decimal fields the spec types as strings (e.g. a variant's `costPrice`)."""

    def to_wire(self) -> dict[str, Any]:
        """The request body for this model: the fields that were set (None included, so a
        field can be cleared), without read-only fields, recursively. Decimals stay Decimals;
        the client encodes them as exact JSON numbers."""
        out: dict[str, Any] = {}
        pairs = [
            (info.alias or name, getattr(self, name))
            for name, info in type(self).model_fields.items()
            if name in self.model_fields_set
        ]
        pairs += list((self.model_extra or {}).items())
        for key, value in pairs:
            if key in self.READ_ONLY:
                continue
            if key in self.DECIMAL_AS_STRING and isinstance(value, Decimal):
                out[key] = str(value)
            else:
                out[key] = _to_wire(value)
        return out


def _to_wire(value: Any) -> Any:
    if isinstance(value, StarwebModel):
        return value.to_wire()
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, exclude_unset=True)
    if isinstance(value, list | tuple):
        return [_to_wire(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_wire(v) for k, v in value.items()}
    return value


# -- auth, errors, paging -----------------------------------------------------------------------


class Token(StarwebModel):
    """`TokenModel`: the answer of `POST /token`."""

    access_token: str
    scope: str | None = None
    expires_in: int | None = None


class ErrorBody(StarwebModel):
    """`ErrorModel`: every 4xx body."""

    error: str | None = None
    error_description: str | None = None


class Pagination(StarwebModel):
    """`PaginationModel` (in `meta.pagination` of paged lists)."""

    current_page: int | None = None
    per_page: int | None = None
    total: int | None = None
    count: int | None = None
    total_pages: int | None = None


# -- shop ---------------------------------------------------------------------------------------


class Shop(StarwebModel):
    """`ShopModel` (`GET /shop`)."""

    name: str | None = None
    idCode: str | None = None
    status: str | None = None  # open, closed, inactive
    defaultLangCode: str | None = None
    activeLangCodes: list[str] | None = None
    baseCurrency: str | None = None
    defaultCustomerCountryCode: str | None = None
    generalDefaultVatRate: Decimal | None = None
    shopCompanyName: str | None = None
    shopAddress: str | None = None
    shopPostalCode: str | None = None
    shopCity: str | None = None
    shopOrgNo: str | None = None
    shopPhoneNo: str | None = None
    shopVatNo: str | None = None
    shopCountryCode: str | None = None


# -- addresses ----------------------------------------------------------------------------------


class Address(StarwebModel):
    """`AddressModel`."""

    companyName: str | None = None
    firstName: str | None = None
    lastName: str | None = None
    careOf: str | None = None
    attention: str | None = None
    reference: str | None = None
    address: str | None = None
    postalCode: str | None = None
    city: str | None = None
    state: str | None = None
    countryCode: str | None = None
    phoneNo: str | None = None
    mobilePhoneNo: str | None = None


class OrderAddresses(StarwebModel):
    """`OrderAddressModel`: the six addresses of an order."""

    originalInvoice: Address | None = None
    originalDelivery: Address | None = None
    customerInvoice: Address | None = None
    customerDelivery: Address | None = None
    paymentMethodInvoice: Address | None = None
    paymentMethodDelivery: Address | None = None


class CustomerAddresses(StarwebModel):
    """A customer's `{invoice, delivery}` addresses."""

    invoice: Address | None = None
    delivery: Address | None = None


# -- order statuses -----------------------------------------------------------------------------


class OrderStatusLanguage(StarwebModel):
    """`OrderStatusLanguageModel`."""

    langCode: str | None = None
    name: str | None = None


class OrderStatus(StarwebModel):
    """`OrderStatusModel`. Standard statuses carry `idCode` created, picking, completed, canceled."""

    READ_ONLY = frozenset({"statusId", "idCode"})

    statusId: int | None = None
    shouldSendEmail: bool | None = None
    idCode: str | None = None
    languages: Included[list[OrderStatusLanguage]] = None

    def name(self, lang: str = "sv") -> str | None:
        """The status name in `lang`, else the first one given."""
        for item in self.languages or []:
            if item.langCode == lang:
                return item.name
        return self.languages[0].name if self.languages else None


# -- customers ----------------------------------------------------------------------------------


class CustomerExternalService(StarwebModel):
    """`CustomerExternalServicesModel`."""

    serviceName: str | None = None
    externalIdValue: str | None = None


class CustomerTag(StarwebModel):
    """`CustomerAddedTagModel` / `CustomerTagModel`."""

    tagId: int | None = None
    name: str | None = None


class Customer(StarwebModel):
    """`CustomerModel` (read) and `CustomerUpdateModel` (write: `addresses`, `pricelistId`)."""

    READ_ONLY = frozenset(
        {"customerId", "modifiedAt", "approved", "approvedAt", "langCode", "tags", "externalServices"}
    )

    customerId: int | None = None
    createdAt: str | None = None
    type: str | None = None  # person | company
    email: str | None = None
    nationalIdNo: str | None = None
    vatNo: str | None = None
    customInfo1: str | None = None
    customInfo2: str | None = None
    modifiedAt: str | None = None
    approved: bool | None = None
    approvedAt: str | None = None
    pricelistId: int | None = None
    langCode: str | None = None
    addresses: Included[CustomerAddresses] = None
    tags: Included[list[CustomerTag]] = None
    externalServices: Included[list[CustomerExternalService]] = None


# -- orders -------------------------------------------------------------------------------------


class OrderItem(StarwebModel):
    """`OrderItemModel`. `unitPrice` is ex VAT; `discount` is percent or amount (`discountType`)."""

    READ_ONLY = frozenset({"itemId"})

    itemId: int | None = None
    sku: str | None = None
    description: str | None = None
    quantity: int | None = None
    unitSymbol: str | None = None
    unitPrice: Decimal | None = None
    vatRate: Decimal | None = None
    discount: Decimal | None = None
    discountType: Literal["amount", "percent"] | None = None
    sortIndex: int | None = None


class OrderExternalService(StarwebModel):
    """`OrderExternalServiceModel`: `serviceName` is unique per order."""

    READ_ONLY = frozenset({"readOnly"})

    serviceName: str | None = None
    externalIdValue: str | None = None
    readOnly: bool | None = None


class OrderComment(StarwebModel):
    """`OrderCommentModel`."""

    READ_ONLY = frozenset({"commentId"})

    commentId: int | None = None
    createdAt: str | None = None
    text: str | None = None
    from_: str | None = Field(None, alias="from")  # admin | customer


class Order(StarwebModel):
    """`OrderModel` (read) and `OrderUpdateModel` (write). Totals are computed by Starweb.

    Includes: `items`, `addresses`, `externalServices`, `customer`, `status`.
    """

    READ_ONLY = frozenset(
        {
            "orderId",
            "modifiedAt",
            "baseCurrencyCode",
            "shopCountryCode",
            "totalAmount",
            "totalVat",
            "amountToPay",
            "totalAmountInBaseCurrency",
            "totalVatInBaseCurrency",
            "amountToPayInBaseCurrency",
            "paymentMethodIdCode",
            "totalWeight",
            "amountPaidInBaseCurrency",
            "hasComments",
            "hasComment",
            "externalServices",
            "customer",
            "status",
        }
    )

    orderId: int | None = None
    modifiedAt: str | None = None
    baseCurrencyCode: str | None = None
    shopCountryCode: str | None = None
    totalAmount: Decimal | None = None
    totalVat: Decimal | None = None
    amountToPay: Decimal | None = None
    totalAmountInBaseCurrency: Decimal | None = None
    totalVatInBaseCurrency: Decimal | None = None
    amountToPayInBaseCurrency: Decimal | None = None
    createdAt: str | None = None
    customerId: int | None = None
    statusId: int | None = None
    onOrderStatusChangeSendEmail: bool | None = None
    onOrderStatusChangeProcessPayment: bool | None = None
    sendEmailsOnStatusChange: bool | None = None
    shippingMethodId: int | None = None
    paymentMethodId: int | None = None
    paymentMethodIdCode: str | None = None
    paymentMethodName: str | None = None
    paymentFee: Decimal | None = None
    paymentVatRate: Decimal | None = None
    shippingMethodName: str | None = None
    shippingCost: Decimal | None = None
    shippingVatRate: Decimal | None = None
    totalWeight: Decimal | None = None
    customInfo1: str | None = None
    customInfo2: str | None = None
    customInfo3: str | None = None
    customInfo4: str | None = None
    discountCode: str | None = None
    amountPaid: Decimal | None = None
    amountPaidInBaseCurrency: Decimal | None = None
    isComplete: bool | None = None
    currencyCode: str | None = None
    currencyExchangeRate: Decimal | None = None
    currencyPrecision: int | None = None
    langCode: str | None = None
    paymentReference: str | None = None
    paymentStatus: str | None = None
    isRead: bool | None = None
    hasComments: bool | None = None
    internalComment: str | None = None
    shippingTrackerType: int | None = None
    shippingTrackingNo: str | None = None
    originalCustomerEmail: str | None = None
    originalCustomerNationalIdNo: str | None = None
    originalCustomerVatNo: str | None = None
    originalCustomerCustomInfo1: str | None = None
    originalCustomerCustomInfo2: str | None = None
    items: Included[list[OrderItem]] = None
    addresses: Included[OrderAddresses] = None
    externalServices: Included[list[OrderExternalService]] = None
    customer: Included[Customer] = None
    status: Included[OrderStatus] = None

    def external_id(self, service_name: str) -> str | None:
        """The `externalIdValue` recorded under `service_name` (needs `include=externalServices`)."""
        for svc in self.externalServices or []:
            if svc.serviceName == service_name:
                return svc.externalIdValue
        return None


# -- products -----------------------------------------------------------------------------------


class VariantPrice(StarwebModel):
    """`ProductVariantPriceModel`: a variant's price in one pricelist, ex VAT."""

    pricelistId: int
    priceExVat: Decimal | None = None
    specialPriceExVat: Decimal | None = None  # campaign price; null = none


class VariantAttributeValue(StarwebModel):
    """`ProductVariantAttributeValueModel` (languages kept as given)."""

    attributeValueId: int | None = None
    skuSuffix: str | None = None
    sortIndex: int | None = None
    languages: Included[list[dict[str, Any]]] = None


class Variant(StarwebModel):
    """`ProductVariantModel`. Includes: `prices`, `attributeValues`.

    `variantId` is not in the published schema, but the paths use it and the API returns it.
    """

    READ_ONLY = frozenset({"variantId", "productId", "attributeValues"})
    DECIMAL_AS_STRING = frozenset({"costPrice"})

    variantId: int | None = None
    productId: int | None = None
    sku: str | None = None
    isActive: bool | None = None
    sortIndex: int | None = None
    stockStatusId: int | None = None
    stockQuantity: int | None = None
    weightInKg: Decimal | None = None
    costPrice: Decimal | None = None
    ean: str | None = None
    mpn: str | None = None
    imageFileId: int | None = None
    attributeValueLinks: list[int] | None = None
    volumePricingInheritancePricelistIds: list[int] | None = None
    prices: Included[list[VariantPrice]] = None
    attributeValues: Included[list[VariantAttributeValue]] = None

    def price(self, pricelist_id: int) -> VariantPrice | None:
        """This variant's price in one pricelist (needs `include=prices`)."""
        for p in self.prices or []:
            if p.pricelistId == pricelist_id:
                return p
        return None


class ProductLanguage(StarwebModel):
    """`ProductLanguageModel` / `ProductLanguageSlimModel`."""

    langCode: str | None = None
    name: str | None = None
    shortDescription: str | None = None
    longDescription: str | None = None
    permalink: str | None = None
    pageTitle: str | None = None
    pageMetaDescription: str | None = None


class ProductVatRate(StarwebModel):
    """`ProductVatRateModel`: a country-specific VAT rate of a product."""

    countryCode: str | None = None
    vatRate: Decimal | None = None


class ProductCategoryLink(StarwebModel):
    """`ProductCategoryLinkModel`."""

    categoryId: int | None = None
    sortIndex: int | None = None


class ProductUnit(StarwebModel):
    """`ProductUnitModel`."""

    READ_ONLY = frozenset({"unitId"})

    unitId: int | None = None
    languages: Included[list[dict[str, Any]]] = None


class Product(StarwebModel):
    """`ProductModel` (read), `ProductModelUpdatable` (POST/PUT), `ProductModelPatchable` (PATCH).

    `defaultVatRate` is a string on the wire (null = the shop default). Only the primary variant is
    included in product lists; use `list_variants` when `hasSeveralVariants` is true.
    """

    READ_ONLY = frozenset({"productId", "hasSeveralVariants", "modifiedAt", "unit", "primaryVariant"})
    DECIMAL_AS_STRING = frozenset({"defaultVatRate"})

    productId: int | None = None
    createdAt: str | None = None
    defaultVatRate: Decimal | None = None
    visibility: str | None = None  # hidden, visible, pricelists
    visibilityPricelistIds: list[int] | None = None
    moreInfoUrl: str | None = None
    manufacturerId: int | None = None
    unitId: int | None = None
    sortIndex: int | None = None
    type: Literal["basic", "bundle"] | None = None
    isBackInStockWatchable: bool | None = None
    bundleUseManualPrice: bool | None = None
    accounting: int | None = None
    hasSeveralVariants: bool | None = None
    modifiedAt: str | None = None
    variants: Included[list[Variant]] = None
    primaryVariant: Included[Variant] = None
    bundledProducts: Included[list[dict[str, Any]]] = None
    mediaFiles: Included[list[dict[str, Any]]] = None
    languages: Included[list[ProductLanguage]] = None
    vatRates: Included[list[ProductVatRate]] = None
    categories: Included[list[ProductCategoryLink]] = None
    unit: Included[ProductUnit] = None
    metaData: Included[list[dict[str, Any]]] = None

    def all_variants(self) -> list[Variant]:
        """The variants that came with this answer (`variants` and/or `primaryVariant`)."""
        if self.variants:
            return list(self.variants)
        return [self.primaryVariant] if self.primaryVariant is not None else []

    def name(self, lang: str = "sv") -> str | None:
        """The product name in `lang`, else the first one given (needs `include=languages`)."""
        for item in self.languages or []:
            if item.langCode == lang:
                return item.name
        return self.languages[0].name if self.languages else None


# -- prices, stock ------------------------------------------------------------------------------


class Pricelist(StarwebModel):
    """`PricelistModel`."""

    READ_ONLY = frozenset({"pricelistId", "isMaster"})

    pricelistId: int | None = None
    name: str | None = None
    isMaster: bool | None = None
    isActive: bool | None = None
    region: str | None = None  # all, EU, non-EU, selected
    countryCodes: list[str] | None = None
    currencyCode: str | None = None
    parentPricelistId: int | None = None
    isCustomerPricelist: bool | None = None
    isCountryPricelist: bool | None = None


class StockLocationLanguage(StarwebModel):
    """`StockLocationLanguagesModel`."""

    langCode: str | None = None
    name: str | None = None


class StockLocation(StarwebModel):
    """`StockLocationModel`."""

    READ_ONLY = frozenset({"stockLocationId"})

    stockLocationId: int | None = None
    visibility: str | None = None  # never_show_in_store, always_show_in_store, show_if_in_stock
    sortIndex: int | None = None
    ecommerceStockLocation: bool | None = None
    languages: Included[list[StockLocationLanguage]] = None

    def name(self, lang: str = "sv") -> str | None:
        """The location name in `lang`, else the first one given."""
        for item in self.languages or []:
            if item.langCode == lang:
                return item.name
        return self.languages[0].name if self.languages else None


class VariantStock(StarwebModel):
    """`ProductVariantStockResponseModel`: a variant's stock in one location."""

    READ_ONLY = frozenset({"stockLocationId"})

    stockLocationId: int | None = None
    stockStatusId: int | None = None
    stockQuantity: Decimal | None = None


class StockStatusLanguage(StarwebModel):
    """`ProductStockStatusLanguageModel`."""

    langCode: str | None = None
    name: str | None = None


class StockStatus(StarwebModel):
    """`ProductStockStatusModel` (`/product-stock-statuses`)."""

    READ_ONLY = frozenset({"stockStatusId", "idCode"})

    stockStatusId: int | None = None
    idCode: str | None = None
    sortIndex: int | None = None
    stockoutNewStatusId: int | None = None
    productBuyable: bool | None = None
    inStock: bool | None = None
    languages: Included[list[StockStatusLanguage]] = None


# -- settings-like lists ------------------------------------------------------------------------


class VatRate(StarwebModel):
    """`VatRateModel`: VAT rates for one country."""

    countryCode: str | None = None
    defaultVatRate: Decimal | None = None
    fixedOrderPaymentVatRate: Decimal | None = None
    fixedOrderShippingVatRate: Decimal | None = None
    fixedOrderDiscountVatRate: Decimal | None = None


class ShippingTrackingType(StarwebModel):
    """`ShippingTrackingTypeModel`: `type` is what `shippingTrackerType` takes."""

    type: int | None = None
    name: str | None = None


class MethodLanguage(StarwebModel):
    """`PaymentMethodLanguageModel` / `ShippingMethodLanguageModel`."""

    langCode: str | None = None
    name: str | None = None
    title: str | None = None
    shortDescription: str | None = None


class PaymentMethod(StarwebModel):
    """`PaymentMethodModel` (read only)."""

    paymentMethodId: int | None = None
    idCode: str | None = None
    active: bool | None = None
    fee: Decimal | None = None
    validForCountries: str | None = None
    validCountriesSelected: list[str] | None = None
    validForMinItemsSubtotal: Decimal | None = None
    validForMaxItemsSubtotal: Decimal | None = None
    validForMinWeight: Decimal | None = None
    validForMaxWeight: Decimal | None = None
    validForShippingMethods: str | None = None
    validForCustomerType: str | None = None
    isClickAndCollect: bool | None = None
    languages: Included[list[MethodLanguage]] = None


class ShippingMethod(StarwebModel):
    """`ShippingMethodModel` (read only)."""

    shippingMethodId: int | None = None
    active: bool | None = None
    validForCountries: str | None = None
    validCountriesSelected: list[str] | None = None
    validForMinItemsSubtotal: Decimal | None = None
    validForMaxItemsSubtotal: Decimal | None = None
    validForMinWeight: Decimal | None = None
    validForMaxWeight: Decimal | None = None
    validForCustomerType: str | None = None
    freeShippingMinItemsSubtotal: Decimal | None = None
    freeShippingMinWeight: Decimal | None = None
    isClickAndCollect: bool | None = None
    languages: Included[list[MethodLanguage]] = None


class Currency(StarwebModel):
    """`CurrencyModel`."""

    code: str | None = None
    exchangeRate: Decimal | None = None
    precision: int | None = None


# -- web hooks ----------------------------------------------------------------------------------

WebHookEventName = Literal[
    "product-created",
    "product-updated",
    "product-removed",
    "order-created",
    "order-completed",
    "order-updated",
    "order-deleted",
    "order-status-changed",
    "customer-created",
    "customer-updated",
    "customer-deleted",
    "shop-opened",
    "shop-closed",
    "shop-removed",
]
WEBHOOK_EVENTS: tuple[str, ...] = get_args(WebHookEventName)
"""Every web hook event Starweb sends."""


class WebHook(StarwebModel):
    """`WebHookModel`. `statusId` only with `order-status-changed`."""

    READ_ONLY = frozenset({"webHookId"})

    webHookId: int | None = None
    name: str | None = None
    event: str | None = None
    statusId: int | None = None
    url: str | None = None


class WebHookEvent(StarwebModel):
    """The body Starweb POSTs to a web hook URL (not in the OpenAPI file; from Starweb's docs).

    Not signed: authenticate by a secret in the URL, dedupe on `uuid` (the same on resends) and
    treat it only as a hint to fetch the object.
    """

    uuid: str | None = None
    eventId: str | int | None = None
    shopIdCode: str | None = None
    eventTimestamp: str | int | None = None
    orderId: int | None = None
    orderStatusId: int | None = None
    orderStatusIdCode: str | None = None
    totalAmount: Decimal | None = None
    currencyCode: str | None = None
    productId: int | None = None
    customerId: int | None = None

    @classmethod
    def from_json(cls, raw: bytes | str) -> WebHookEvent:
        """Parse a delivery's body, amounts as exact Decimals."""
        return cls.model_validate(json.loads(raw, parse_float=Decimal))
