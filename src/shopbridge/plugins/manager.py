"""Finding, loading and calling plugins for one connection.

Where plugins come from:

- **entry points** in the group `shopbridge` (a package declares
  `[project.entry-points.shopbridge] myplugin = "mypackage.plugin"`);
- **a plugins folder**: every `*.py` (not starting with `_`) in `$SHOPBRIDGE_PLUGINS_DIR`, or else in
  `<data dir>/plugins` (`$SHOPBRIDGE_HOME/plugins`). The plugin's name is the file's stem.

The connection setting `plugins` lists the plugin names to run (empty: every one found); a listed
plugin that is missing, or a plugin that cannot be imported, fails every entity with a reason naming
it (rather than transferring without it). Code plugins run only when the connection's plan includes
them (`code_plugins_allowed`); the declarative mappings of the settings always run, first.

The flows call the manager (`ctx.plugins`) through these helpers; each returns the (possibly
replaced) body and raises `PluginError` naming the plugin when one fails:

    await plugins.document_body(document, order=order, wire=wire, kind=kind, reference_field=field)
    await plugins.customer_body(body, order=order, wire=None)   # wire: the order's, if not given
    await plugins.article_body(body, product=product_wire, line=None)   # catalogue: product → article
    await plugins.article_body(body, line=order_line)                   # missing_article=create
    await plugins.product_body(body, article=article_wire, product=current_product_wire_or_None)
    await plugins.status_update(update, event=event, order_id=order_id, details=event_details)

The catalogue flows call `article_body` before they create or update a Visma article from a Starweb
product (ecom-master), and `product_body` before they create or update a Starweb product from a Visma
article (erp-master), and turn a `PluginError` into that product's issue, as the order flow turns it
into the order's `waiting_for_fix` reason.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
from contextvars import ContextVar
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy
import structlog

from shopbridge import plans
from shopbridge.plugins import hookspecs
from shopbridge.plugins.declarative import DeclarativeMappings, DeliveryMethods
from shopbridge.plugins.errors import CONFIG, PluginError

log = structlog.get_logger("shopbridge.plugins")

ENTRY_POINT_GROUP = "shopbridge"
ENV_DIR = "SHOPBRIDGE_PLUGINS_DIR"

_current_wire: ContextVar[dict[str, Any] | None] = ContextVar("shopbridge_plugin_wire", default=None)
_modules: dict[Path, tuple[int, ModuleType | str]] = {}
_entry_points: dict[str, object | str] = {}


def code_plugins_allowed(settings: Any) -> bool:
    """Whether the connection's plan lets code plugins run (plan 800 and up, premium, custom with it).

    The declarative mappings run whatever the plan.
    """
    return plans.allows(settings, plans.PLUGINS)


def plugins_dir(data_dir: Path | str | None = None) -> Path | None:
    """`$SHOPBRIDGE_PLUGINS_DIR`, else `<data dir>/plugins`, else `$SHOPBRIDGE_HOME/plugins` (or None)."""
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env).expanduser()
    if data_dir is not None:
        return Path(data_dir) / "plugins"
    home = os.environ.get("SHOPBRIDGE_HOME")
    return Path(home).expanduser() / "plugins" if home else None


def load_file(path: Path) -> ModuleType:
    """Import one plugin file (again only when it changed since the last import)."""
    path = path.resolve()
    mtime = path.stat().st_mtime_ns
    cached = _modules.get(path)
    if cached is not None and cached[0] == mtime:
        if isinstance(cached[1], str):
            raise ImportError(cached[1])
        return cached[1]
    name = f"shopbridge_plugin_{path.stem}"
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path.name}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        reason = f"it could not be loaded ({type(exc).__name__}: {exc})"
        _modules[path] = (mtime, reason)
        raise ImportError(reason) from exc
    _modules[path] = (mtime, module)
    return module


def discover(data_dir: Path | str | None = None) -> tuple[dict[str, object], dict[str, str]]:
    """Every plugin found (name → plugin object) and every one that failed to load (name → reason)."""
    found: dict[str, object] = {}
    errors: dict[str, str] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _entry_points:
            try:
                _entry_points[ep.name] = ep.load()
            except Exception as exc:
                _entry_points[ep.name] = f"it could not be loaded ({type(exc).__name__}: {exc})"
        loaded = _entry_points[ep.name]
        if isinstance(loaded, str):
            errors[ep.name] = loaded
        else:
            found[ep.name] = loaded
    folder = plugins_dir(data_dir)
    if folder is not None and folder.is_dir():
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith("_"):
                continue
            try:
                found[path.stem] = load_file(path)
            except ImportError as exc:
                errors[path.stem] = str(exc)
    return found, errors


class Plugins:
    """The plugin manager of one connection: declarative mappings first, then the code plugins."""

    def __init__(
        self,
        settings: Any,
        *,
        plugins: dict[str, object] | None = None,
        load_errors: dict[str, str] | None = None,
        delivery_methods: DeliveryMethods | None = None,
    ) -> None:
        self.settings = settings
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.pm.register(DeclarativeMappings(settings, delivery_methods), name=CONFIG)
        self.load_errors: dict[str, str] = dict(load_errors or {})
        for name, plugin in (plugins or {}).items():
            try:
                self.pm.register(plugin, name=name)
            except Exception as exc:  # pluggy refuses a hook it does not know or wrong arguments
                self.load_errors[name] = f"it could not be registered ({type(exc).__name__}: {exc})"

    @classmethod
    def declarative_only(cls, settings: Any, visma: Any = None) -> Plugins:
        """Just the connection settings' mappings (no code plugins)."""
        return cls(settings, delivery_methods=_delivery_methods(visma))

    @classmethod
    def load(cls, settings: Any, *, data_dir: Path | str | None = None, visma: Any = None) -> Plugins:
        """The mappings plus the enabled code plugins from entry points and the plugins folder."""
        found, errors = discover(data_dir)
        wanted = list(settings.plugins)
        if wanted:
            found = {k: v for k, v in found.items() if k in wanted}
            errors = {k: v for k, v in errors.items() if k in wanted}
            for name in wanted:
                if name not in found and name not in errors:
                    errors[name] = "it is enabled in the connection's plugins setting but was not found"
        if not code_plugins_allowed(settings):
            if wanted:  # asked for by name: wait with the reason rather than transfer without them
                reason = f"the connection's plan ({settings.plan}) does not include plugins (plan 800 and up)"
                errors = dict.fromkeys(wanted, reason)
            elif found:  # the folder serves every connection: skip them for this one
                log.warning("plugins.not_in_plan", skipped=sorted(found))
            found = {}
        if found or errors:
            log.info("plugins.loaded", plugins=sorted(found), failed=sorted(errors))
        return cls(settings, plugins=found, load_errors=errors, delivery_methods=_delivery_methods(visma))

    @property
    def names(self) -> list[str]:
        """The code plugins registered, in call order."""
        return [n for n, _ in self.pm.list_name_plugin() if n != CONFIG]

    # ------------------------------------------------------------------ helpers the flows call
    def set_wire(self, wire: dict[str, Any] | None) -> None:
        """The raw Starweb order being transferred (for the hooks called deep inside the order flow)."""
        _current_wire.set(wire)

    async def document_body(
        self,
        document: dict[str, Any],
        *,
        order: Any,
        wire: dict[str, Any],
        kind: str,
        reference_field: str | None = None,
    ) -> dict[str, Any]:
        field = reference_field or getattr(self.settings, "reference_field", None)
        reference = document.get(field) if field else None

        def keep_reference(plugin: str, body: dict[str, Any]) -> None:
            if field and body.get(field) != reference:
                raise PluginError(
                    plugin,
                    f"it changed {field}, which carries the order reference that keeps transfers "
                    "exactly-once; write into another field",
                    hook="shopbridge_order_document",
                )

        return await self._run(
            "shopbridge_order_document",
            "document",
            document,
            check=keep_reference,
            order=order,
            wire=wire,
            kind=kind,
        )

    async def customer_body(
        self, body: dict[str, Any], *, order: Any, wire: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return await self._run(
            "shopbridge_customer_body",
            "body",
            body,
            customer=getattr(order, "customer", None),
            order=order,
            wire=wire if wire is not None else _current_wire.get(),
        )

    async def article_body(
        self, body: dict[str, Any], *, product: dict[str, Any] | None = None, line: Any = None
    ) -> dict[str, Any]:
        return await self._run("shopbridge_article_body", "body", body, product=product, line=line)

    async def product_body(
        self,
        body: dict[str, Any],
        *,
        article: dict[str, Any] | None = None,
        product: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return await self._run("shopbridge_product_body", "body", body, article=article, product=product)

    async def status_update(
        self, update: dict[str, Any], *, event: str, order_id: str, details: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return await self._run(
            "shopbridge_status_update",
            "update",
            update,
            event=event,
            order_id=str(order_id),
            details=dict(details or {}),
        )

    # ------------------------------------------------------------------ the loop
    async def _run(self, hook: str, key: str, value: dict[str, Any], *, check: Any = None, **kw: Any) -> Any:
        """Call each implementation in pluggy's order, passing the result on; name the one that fails."""
        if self.load_errors:
            name, reason = next(iter(self.load_errors.items()))
            raise PluginError(name, reason, hook=hook)
        kw["settings"] = self.settings
        for impl in reversed(getattr(self.pm.hook, hook).get_hookimpls()):
            args = {key: value, **kw}
            try:
                result = impl.function(**{a: args[a] for a in impl.argnames})
                if inspect.isawaitable(result):
                    result = await result
            except Exception as exc:
                log.warning("plugin.failed", plugin=impl.plugin_name, hook=hook, error=repr(exc))
                raise PluginError.from_exception(impl.plugin_name, hook, exc) from exc
            if result is not None:
                if not isinstance(result, dict):
                    what = f"it returned a {type(result).__name__}, not a dict or None"
                    raise PluginError(impl.plugin_name, what, hook=hook)
                value = result
            if check is not None:
                check(impl.plugin_name, value)
        return value


def _delivery_methods(visma: Any) -> DeliveryMethods | None:
    if visma is None:
        return None

    async def fetch() -> list[dict[str, Any]]:
        return [m.model_dump(by_alias=True) for m in await visma.delivery_methods.list()]

    return fetch
