"""What the sandbox reads from the Visma OpenAPI document: schema shapes, defaults, field types, scopes.

`SpecModel` takes the already loaded (and repaired) spec dict, so it never parses YAML itself.
Records are kept in wire shape (PascalCase dicts); `blank(name)` gives a record with every property
of a schema set to a type-correct default, so answers always carry the full shape the spec promises.
"""

from __future__ import annotations

import re
from typing import Any

_SCOPE_RE = re.compile(r"\* (ea:[a-z_]+)")


def _clone(value: Any) -> Any:
    """Copy nested dicts and lists of JSON scalars (much cheaper than copy.deepcopy)."""
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value


def _types(prop: dict[str, Any]) -> list[str]:
    t = prop.get("type")
    if t is None:
        return []
    return [t] if isinstance(t, str) else list(t)


class SpecModel:
    """Read-only view of the spec's component schemas and operations."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.schemas: dict[str, Any] = spec.get("components", {}).get("schemas", {})
        self._blank_cache: dict[str, dict[str, Any]] = {}
        self._read_only: dict[str, frozenset[str]] = {}
        self._nested: dict[str, tuple[str, ...]] = {}
        self._scopes: dict[tuple[str, str], frozenset[str]] = {}
        for path, item in spec.get("paths", {}).items():
            for method, op in item.items():
                if not isinstance(op, dict) or method == "parameters":
                    continue
                found = _SCOPE_RE.findall(op.get("description", "") or "")
                if found:
                    self._scopes[(method.upper(), path)] = frozenset(found)

    # ---- schemas -----------------------------------------------------------------------------
    def schema(self, name: str) -> dict[str, Any]:
        return self.schemas[name]

    def resolve(self, prop: dict[str, Any]) -> dict[str, Any]:
        ref = prop.get("$ref")
        if ref:
            return self.schemas[ref.rsplit("/", 1)[-1]]
        return prop

    def properties(self, name: str) -> dict[str, Any]:
        return self.schemas[name].get("properties", {})

    def read_only(self, name: str) -> frozenset[str]:
        """Properties of schema `name` marked readOnly (cached)."""
        found = self._read_only.get(name)
        if found is None:
            found = frozenset(k for k, v in self.properties(name).items() if v.get("readOnly"))
            self._read_only[name] = found
        return found

    def field_kind(self, name: str, field: str) -> str | None:
        """'datetime', 'uuid', 'string', 'number', 'integer', 'boolean', 'object', 'array'; None = unknown."""
        prop = self.properties(name).get(field)
        if prop is None:
            return None
        if "$ref" in prop:
            return "object"
        types = [t for t in _types(prop) if t != "null"]
        base = types[0] if types else "object"
        if base == "string":
            fmt = prop.get("format")
            if fmt == "date-time":
                return "datetime"
            if fmt == "uuid":
                return "uuid"
        return base

    def blank(self, name: str) -> dict[str, Any]:
        """A fresh record with every property of schema `name` set to a type-correct default."""
        cached = self._blank_cache.get(name)
        if cached is None:
            cached = self._default_object(self.schemas[name], depth=0)
            self._blank_cache[name] = cached
            self._nested[name] = tuple(k for k, v in cached.items() if isinstance(v, (dict, list)))
        rec = dict(cached)
        for key in self._nested[name]:
            rec[key] = _clone(rec[key])
        return rec

    def _default_object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        return {k: self._default(v, depth) for k, v in schema.get("properties", {}).items()}

    def _default(self, prop: dict[str, Any], depth: int) -> Any:
        if "$ref" in prop:
            target = self.resolve(prop)
            if depth >= 2:
                return None
            return (
                self._default_object(target, depth + 1) if target.get("type", "object") == "object" else None
            )
        types = _types(prop)
        if "null" in types:
            return None
        if "default" in prop:
            return prop["default"]
        base = types[0] if types else None
        if base == "boolean":
            return False
        if base in ("number", "integer"):
            if "enum" in prop:
                return prop["enum"][0]
            return prop.get("minimum", 0) if prop.get("minimum", 0) > 0 else 0
        if base == "string":
            if prop.get("format") == "uuid":
                return "00000000-0000-0000-0000-000000000000"
            if prop.get("format") == "date-time":
                return "0001-01-01T00:00:00Z"
            return ""
        if base == "array":
            return []
        if base == "object":
            return self._default_object(prop, depth + 1)
        return None

    # ---- operations --------------------------------------------------------------------------
    def scopes(self, method: str, path: str) -> frozenset[str]:
        """Scopes the spec lists for an operation (any one of them is enough); empty if none listed."""
        return self._scopes.get((method.upper(), path), frozenset())
