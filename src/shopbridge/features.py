"""The feature names a plan grants (see `plans.py` for which plan has which)."""

from __future__ import annotations

ORDERS = "orders"
"""Order information: shop orders become Visma documents."""
CUSTOMERS = "customers"
"""Customer information: customers found or created in Visma."""
PRODUCTS = "products"
"""Product information: articles and products between the two."""
ORDER_STATUS = "order_status"
"""Order status (and payments, credits) from Visma back to the shop."""
STOCK = "stock"
"""Stock levels."""
PRICES = "prices"
"""Price structures: prices and price lists."""
MULTISHOP = "multishop"
"""More than one Starweb shop on one Visma company."""
PLUGINS = "plugins"
"""Partner plugins and declarative mappings."""

FEATURES: tuple[str, ...] = (ORDERS, CUSTOMERS, PRODUCTS, ORDER_STATUS, STOCK, PRICES, MULTISHOP, PLUGINS)
"""Every feature name, in the order the plans add them."""
BASE_FEATURES = frozenset({ORDERS, CUSTOMERS, PRODUCTS})
"""What every plan has."""
