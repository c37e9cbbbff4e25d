"""The one error the plugin layer raises: it names the plugin and the hook, in one sentence."""

from __future__ import annotations

CONFIG = "mappings"
"""The name the declarative mappings of the connection settings run under."""

HOOK_WORDS = {
    "shopbridge_order_document": "the Visma document",
    "shopbridge_customer_body": "the Visma customer",
    "shopbridge_article_body": "the Visma article",
    "shopbridge_product_body": "the Starweb product",
    "shopbridge_status_update": "the Starweb status change",
}


class PluginError(Exception):
    """A plugin (or a declarative mapping) failed; only the entity it was called for fails with it."""

    def __init__(self, plugin: str, message: str, *, hook: str | None = None) -> None:
        self.plugin = plugin
        self.hook = hook
        self.reason = message
        if plugin == CONFIG:
            text = f"the connection's mappings: {message}"
        else:
            where = f" on {HOOK_WORDS.get(hook, hook)}" if hook else ""
            text = (
                f"plugin {plugin!r} failed{where}: {message}; fix the plugin or leave it out of the "
                "connection's plugins setting"
            )
        super().__init__(text)

    @classmethod
    def from_exception(cls, plugin: str, hook: str, exc: BaseException) -> PluginError:
        if isinstance(exc, PluginError):
            return exc
        if isinstance(exc, MappingError) and plugin == CONFIG:
            return cls(plugin, str(exc), hook=hook)
        return cls(plugin, f"{type(exc).__name__}: {exc}", hook=hook)


class MappingError(ValueError):
    """A declarative mapping cannot be applied; the message says which setting to fix."""
