"""Load the official OpenAPI files and validate requests against them the way the real APIs do.

`load_spec(name)` returns the parsed (and repaired) spec; `SpecValidator` compiles one JSON-schema
validator per operation (cached) and reports `Violation`s in plain words.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Any, Literal

import jsonschema
import referencing
import yaml
from jsonschema import FormatChecker, ValidationError
from jsonschema import _keywords as _jsk
from referencing.jsonschema import DRAFT202012

from shopbridge.sandbox.common.defaults import STARWEB_API_PREFIX, VISMA_API_PREFIX
from shopbridge.sandbox.common.fastcheck import Check, compile_check

SPEC_FILES: dict[str, str] = {
    "starweb": "starweb-shop-api-v2.openapi.json",
    "visma": "visma-eaccounting-v2.openapi.yaml",
}
#: Path prefix the real API puts in front of the spec's path templates.
BASE_PATHS: dict[str, str] = {"starweb": STARWEB_API_PREFIX, "visma": VISMA_API_PREFIX}

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_PARAM_RE = re.compile(r"\{([^}/]+)\}")

Mode = Literal["request", "response"]
_MATCH_CACHE_SIZE = 4096


# --------------------------------------------------------------------------- loading


@functools.cache
def load_spec(name: str) -> dict[str, Any]:
    """Parsed spec for "starweb" or "visma" (cached; treat the result as read-only).

    The Visma file's known defect (path templates whose parameter name differs from the one
    the operations declare, e.g. `/articlelabels/{articlelabelid}`) is repaired on load: the
    template is renamed to the declared name and merged with its twin.
    """
    try:
        filename = SPEC_FILES[name]
    except KeyError:
        raise ValueError(f"unknown spec {name!r}; expected one of {sorted(SPEC_FILES)}") from None
    text = resources.files("shopbridge.sandbox").joinpath("specs", filename).read_text(encoding="utf-8")
    if filename.endswith(".json"):
        spec = json.loads(text)
    else:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        spec = yaml.load(text, Loader=loader)
    spec["paths"] = repair_path_params(spec.get("paths", {}))
    return spec


def repair_path_params(paths: Mapping[str, Any]) -> dict[str, Any]:
    """Rename template placeholders to the path parameter names the operations declare.

    Placeholders that match a declared name only case-insensitively are renamed; templates that
    become identical are merged (methods of the first one win). Templates that still do not match
    their declared parameters are dropped.
    """
    out: dict[str, Any] = {}
    for template, item in paths.items():
        if not isinstance(item, dict):
            continue
        declared: set[str] = {p["name"] for p in item.get("parameters", []) if p.get("in") == "path"}
        for method in HTTP_METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                declared |= {p["name"] for p in op.get("parameters", []) if p.get("in") == "path"}
        by_lower = {d.lower(): d for d in declared}
        placeholders = _PARAM_RE.findall(template)
        fixed = template
        ok = True
        for ph in placeholders:
            if ph in declared:
                continue
            if ph.lower() in by_lower:
                fixed = fixed.replace("{" + ph + "}", "{" + by_lower[ph.lower()] + "}")
            else:
                ok = False
        if not ok:
            continue
        if fixed in out:
            merged = dict(out[fixed])
            for key, value in item.items():
                merged.setdefault(key, value)
            out[fixed] = merged
        else:
            out[fixed] = item
    return out


# --------------------------------------------------------------------------- violations


@dataclass(frozen=True, slots=True)
class Violation:
    """One problem with a request: `field` is a dotted path (`Rows[0].Text`, `name`, "" = whole body)."""

    field: str
    message: str
    kind: str  # required, maxLength, minLength, type, enum, format, pattern, minimum, maximum, ...

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "kind": self.kind}


def format_path(parts: Iterable[str | int]) -> str:
    """`["Rows", 0, "Text"]` -> `Rows[0].Text`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_JSON_TYPE_NAMES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def _json_type(value: Any) -> str:
    if isinstance(value, Decimal):
        return "number"
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _short(value: Any, limit: int = 60) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _message(err: ValidationError, field: str) -> str:
    kind, vv, inst = err.validator, err.validator_value, err.instance
    label = field or "request body"
    if kind == "required":
        return f"{label}: required field is missing"
    if kind == "additionalProperties":
        return f"{label}: unknown field"
    if kind == "maxLength":
        return f"{label}: maximum length is {vv}, got {len(inst)}"
    if kind == "minLength":
        return f"{label}: minimum length is {vv}, got {len(inst)}"
    if kind == "type":
        types = vv if isinstance(vv, list) else [vv]
        return f"{label}: expected {' or '.join(map(str, types))}, got {_json_type(inst)}"
    if kind == "enum":
        shown = ", ".join(_short(x, 30) for x in list(vv)[:12]) + (", ..." if len(vv) > 12 else "")
        return f"{label}: must be one of {shown}, got {_short(inst)}"
    if kind == "format":
        return f"{label}: not a valid {vv}: {_short(inst)}"
    if kind == "pattern":
        return f"{label}: does not match the pattern {vv}, got {_short(inst)}"
    if kind == "maximum":
        return f"{label}: must be at most {vv}, got {inst}"
    if kind == "minimum":
        return f"{label}: must be at least {vv}, got {inst}"
    if kind == "exclusiveMaximum":
        return f"{label}: must be less than {vv}, got {inst}"
    if kind == "exclusiveMinimum":
        return f"{label}: must be greater than {vv}, got {inst}"
    if kind == "minItems":
        return f"{label}: needs at least {vv} items, got {len(inst)}"
    if kind == "maxItems":
        return f"{label}: allows at most {vv} items, got {len(inst)}"
    if kind in ("anyOf", "oneOf"):
        return f"{label}: does not match any allowed form" + _branch_summary(err)
    return f"{label}: {err.message}"


def _branch_summary(err: ValidationError) -> str:
    """` (Country Pricelist: name: required field is missing; form 2: ...)` for anyOf/oneOf errors."""
    branches = err.validator_value if isinstance(err.validator_value, list) else []
    firsts: dict[int, str] = {}
    for sub in err.context or ():
        idx = sub.relative_schema_path[0] if sub.relative_schema_path else None
        if isinstance(idx, int) and idx not in firsts and idx < len(branches):
            if _is_null_schema(branches[idx]):
                continue
            title = branches[idx].get("title") if isinstance(branches[idx], dict) else None
            sub_field = format_path(sub.absolute_path)
            firsts[idx] = f"{title or f'form {idx + 1}'}: {_message(sub, sub_field)}"
    if not firsts:
        return ""
    shown = [firsts[i] for i in sorted(firsts)][:4]
    return " (" + "; ".join(shown) + ")"


def _is_null_schema(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null" and len(schema) == 1


def _flatten(err: ValidationError) -> Iterator[ValidationError]:
    """Replace anyOf/oneOf errors by the errors of their most plausible branch.

    Null branches (`{"type": "null"}`, from nullable) are ignored; with one branch left its errors
    are reported; errors shared by every branch are reported directly; else the anyOf error stays.
    """
    if err.validator in ("anyOf", "oneOf") and err.context and isinstance(err.validator_value, list):
        branches: dict[int, list[ValidationError]] = {}
        for sub in err.context:
            idx = sub.relative_schema_path[0] if sub.relative_schema_path else -1
            if isinstance(idx, int) and 0 <= idx < len(err.validator_value):
                if _is_null_schema(err.validator_value[idx]):
                    continue
                branches.setdefault(idx, []).append(sub)
        chosen = next(iter(branches)) if len(branches) == 1 else None
        if chosen is None and branches and err.instance is not None:
            chosen = _single_type_match(branches)
        if chosen is not None:
            for sub in branches[chosen]:
                yield from _flatten(sub)
            return
        if len(branches) > 1:
            keys = [{(tuple(e.absolute_path), e.validator) for e in errs} for errs in branches.values()]
            common = set.intersection(*keys)
            if common:
                first = next(iter(branches.values()))
                for sub in first:
                    if (tuple(sub.absolute_path), sub.validator) in common:
                        yield from _flatten(sub)
                return
    yield err


def _single_type_match(branches: dict[int, list[ValidationError]]) -> int | None:
    """The one branch whose errors are not about the value's type, if exactly one exists."""
    candidates = [
        i for i, errs in branches.items() if not any(e.validator == "type" and not e.path for e in errs)
    ]
    return candidates[0] if len(candidates) == 1 else None


def errors_to_violations(
    errors: Iterable[ValidationError], prefix: Iterable[str | int] = ()
) -> list[Violation]:
    """Turn jsonschema errors into plain-words `Violation`s, sorted by field, without duplicates."""
    seen: set[tuple[str, str]] = set()
    found: list[tuple[tuple[tuple[int, int, str], ...], Violation]] = []
    for top in errors:
        for err in _flatten(top):
            parts = [*prefix, *err.absolute_path]
            field = format_path(parts)
            key = (field, str(err.validator))
            if key in seen:
                continue
            seen.add(key)
            order = tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in parts)
            found.append(
                (order, Violation(field=field, message=_message(err, field), kind=str(err.validator)))
            )
    found.sort(key=lambda item: item[0])  # Rows[2] before Rows[10]
    return [v for _, v in found]


# --------------------------------------------------------------------------- schema conversion

_SCHEMA_MAP_KEYS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_SCHEMA_KEYS = frozenset(
    {
        "items",
        "additionalProperties",
        "not",
        "contains",
        "propertyNames",
        "if",
        "then",
        "else",
        "unevaluatedProperties",
        "unevaluatedItems",
        "additionalItems",
    }
)
_SCHEMA_LIST_KEYS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_ANNOTATIONS = frozenset({"example", "examples", "description", "xml", "externalDocs", "discriminator"})


def convert_schema(node: Any, *, mode: Mode, oas30: bool) -> Any:
    """OpenAPI schema -> JSON Schema 2020-12 for validating a request (or a response).

    Handles OpenAPI 3.0 `nullable` and boolean `exclusiveMinimum/Maximum`, drops annotations,
    and removes readOnly properties from `required` in requests (writeOnly ones in responses).
    """
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _ANNOTATIONS:
            continue
        if key in _SCHEMA_MAP_KEYS and isinstance(value, dict):
            out[key] = {n: convert_schema(s, mode=mode, oas30=oas30) for n, s in value.items()}
        elif key in _SCHEMA_KEYS:
            out[key] = convert_schema(value, mode=mode, oas30=oas30)
        elif key in _SCHEMA_LIST_KEYS and isinstance(value, list):
            out[key] = [convert_schema(s, mode=mode, oas30=oas30) for s in value]
        else:
            out[key] = value
    props, required = node.get("properties"), out.get("required")
    if isinstance(required, list) and isinstance(props, dict):
        flag = "readOnly" if mode == "request" else "writeOnly"
        kept = [r for r in required if not (isinstance(props.get(r), dict) and props[r].get(flag) is True)]
        if kept:
            out["required"] = kept
        else:
            out.pop("required")
    if not oas30:
        return out
    for bound, excl in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if isinstance(out.get(excl), bool) and out.pop(excl) and bound in out:
            out[excl] = out.pop(bound)
    if out.pop("nullable", False) is True:
        if "$ref" in out or ("type" not in out and any(k in out for k in _SCHEMA_LIST_KEYS)):
            return {"anyOf": [out, {"type": "null"}]}
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


# --------------------------------------------------------------------------- format checks


def _make_format_checker() -> FormatChecker:
    """Cheap, lenient format checks matching what .NET / PHP model binding would refuse."""
    fc = FormatChecker(formats=())

    @fc.checks("uuid", raises=ValueError)
    def _uuid(value: object) -> bool:
        if isinstance(value, str):
            uuid.UUID(value)
        return True

    @fc.checks("date-time", raises=ValueError)
    def _datetime(value: object) -> bool:
        if isinstance(value, str):
            dt.datetime.fromisoformat(value)  # accepts dates, offsets and "Z" (Python 3.11+)
        return True

    @fc.checks("date", raises=ValueError)
    def _date(value: object) -> bool:
        if isinstance(value, str):
            dt.datetime.fromisoformat(value)
        return True

    @fc.checks("email")
    def _email(value: object) -> bool:
        # .NET's EmailAddressAttribute (and PHP's validators): one "@", neither first nor last; "" fails
        if not isinstance(value, str):
            return True
        at = value.find("@")
        return 0 < at < len(value) - 1 and at == value.rfind("@")

    @fc.checks("int32")
    def _int32(value: object) -> bool:
        return not isinstance(value, int) or isinstance(value, bool) or -(2**31) <= value < 2**31

    @fc.checks("int64")
    def _int64(value: object) -> bool:
        return not isinstance(value, int) or isinstance(value, bool) or -(2**63) <= value < 2**63

    return fc


FORMAT_CHECKER = _make_format_checker()


def _required(validator: Any, required: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for prop in required:
        if prop not in instance:
            yield ValidationError(f"{prop!r} is a required property", path=[prop])


def _additional_properties(validator: Any, aP: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if aP is not False or not validator.is_type(instance, "object"):
        yield from _jsk.additionalProperties(validator, aP, instance, schema)
        return
    props = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    for prop in instance:
        if prop in props or any(re.search(p, prop) for p in patterns):
            continue
        yield ValidationError(f"unknown field {prop!r}", path=[prop])


def _is_integer_type(checker: Any, instance: Any) -> bool:
    if isinstance(instance, Decimal):
        return instance.is_finite() and instance == instance.to_integral_value()
    return jsonschema.Draft202012Validator.TYPE_CHECKER.is_type(instance, "integer")


_StrictValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    {"required": _required, "additionalProperties": _additional_properties},
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer_type),
)


def _ignore_additional(validator: Any, aP: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if aP is False:
        return
    yield from _jsk.additionalProperties(validator, aP, instance, schema)


_LenientValidator = jsonschema.validators.extend(
    _StrictValidator, {"additionalProperties": _ignore_additional}
)


# --------------------------------------------------------------------------- validator


class SpecValidator:
    """Validates request bodies and query strings against one OpenAPI spec.

    `spec` is a parsed spec or a name for `load_spec` ("starweb" / "visma"). `base_path` is the
    prefix the real API puts in front of the spec's templates (defaults from `BASE_PATHS`).
    With `reject_unknown_fields=False`, `additionalProperties: false` is not enforced. `fast=False`
    skips the compiled pre-check (`fastcheck`) and always runs jsonschema (same results, slower).
    """

    def __init__(
        self,
        spec: dict[str, Any] | str,
        *,
        base_path: str | None = None,
        case_insensitive_paths: bool | None = None,
        reject_unknown_fields: bool = True,
        fast: bool = True,
    ) -> None:
        name = spec if isinstance(spec, str) else None
        self.spec: dict[str, Any] = load_spec(spec) if isinstance(spec, str) else spec
        self.name = name or ""
        self.base_path = (base_path if base_path is not None else BASE_PATHS.get(self.name, "")).rstrip("/")
        self.oas30 = str(self.spec.get("openapi", "3.0")).startswith("3.0")
        # ASP.NET routing (Visma) ignores case; Starweb's does not.
        self.case_insensitive = (
            (name == "visma") if case_insensitive_paths is None else case_insensitive_paths
        )
        self.reject_unknown_fields = reject_unknown_fields
        self.fast = fast  # pre-check with the compiled fast path; jsonschema only for invalid bodies
        self._lock = threading.Lock()
        self._registries: dict[str, referencing.Registry] = {}
        self._docs: dict[str, dict[str, Any]] = {}
        self._body_validators: dict[tuple[str, str], Any] = {}
        self._response_validators: dict[tuple[str, str, str], Any] = {}
        self._component_validators: dict[tuple[str, str], _Compiled] = {}
        self._ops: dict[tuple[str, str], dict[str, Any]] = {}
        self._params: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._match_cache: dict[tuple[str, str], tuple[str | None, dict[str, str]]] = {}
        self._templates_by_len: dict[int, list[tuple[tuple[int, ...], str, list[Any]]]] = {}
        self._index()

    # ------------------------------------------------------------------ paths

    def _index(self) -> None:
        for template, item in self.spec.get("paths", {}).items():
            common = [p for p in item.get("parameters", []) if isinstance(p, dict)]
            for method in HTTP_METHODS:
                op = item.get(method)
                if isinstance(op, dict):
                    key = (method.upper(), template)
                    self._ops[key] = op
                    own = [self._deref(p) for p in op.get("parameters", [])]
                    names = {(p.get("name"), p.get("in")) for p in own}
                    self._params[key] = own + [
                        self._deref(p) for p in common if (p.get("name"), p.get("in")) not in names
                    ]
            segments = [s for s in template.strip("/").split("/") if s]
            matchers: list[Any] = []
            specificity: list[int] = []
            for seg in segments:
                if seg.startswith("{") and seg.endswith("}") and seg.count("{") == 1:
                    matchers.append(("param", seg[1:-1]))
                    specificity.append(2)
                elif "{" in seg:
                    pattern = "".join(
                        f"(?P<{part[1:-1]}>[^/]+?)" if part.startswith("{") else re.escape(part)
                        for part in re.split(r"(\{[^}]+\})", seg)
                        if part
                    )
                    flags = re.IGNORECASE if self.case_insensitive else 0
                    matchers.append(("regex", re.compile(f"^{pattern}$", flags)))
                    specificity.append(1)
                else:
                    matchers.append(("lit", seg.lower() if self.case_insensitive else seg))
                    specificity.append(0)
            self._templates_by_len.setdefault(len(segments), []).append(
                (tuple(specificity), template, matchers)
            )
        for entries in self._templates_by_len.values():
            entries.sort(key=lambda e: e[0])

    def _deref(self, node: Any) -> Any:
        """Follow local `$ref`s (`#/components/...`) in the raw spec."""
        seen = 0
        while isinstance(node, dict) and "$ref" in node and seen < 20:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/"):
                break
            target: Any = self.spec
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
            seen += 1
        return node

    @property
    def templates(self) -> list[str]:
        return list(self.spec.get("paths", {}))

    def operations(self) -> list[tuple[str, str]]:
        """All `(METHOD, template)` pairs of the spec."""
        return list(self._ops)

    def operation(self, method: str, path_template: str) -> dict[str, Any] | None:
        return self._ops.get((method.upper(), self.strip_base(path_template)))

    def allowed_methods(self, path_template: str) -> list[str]:
        t = self.strip_base(path_template)
        return [m for (m, tpl) in self._ops if tpl == t]

    def strip_base(self, path: str) -> str:
        """Remove the API prefix (`/v2`, `/api/v2`, or anything up to and including it)."""
        if not self.base_path:
            return path
        if path.startswith(self.base_path + "/") or path == self.base_path:
            return path[len(self.base_path) :] or "/"
        idx = path.find(self.base_path + "/")
        if idx > 0:
            return path[idx + len(self.base_path) :]
        return path

    def match_path(self, method: str, path: str) -> tuple[str | None, dict[str, str]]:
        """Find the spec template for a concrete path: `("/customers/{customerId}", {"customerId": "42"})`.

        The path may carry the API prefix (`/v2/...`, `/api/v2/...`, `/shop/api/v2/...`). Literal
        segments win over parameters; a template that defines `method` wins over one that does not.
        Returns `(None, {})` when no template matches.
        """
        key = (method, path)
        hit = self._match_cache.get(key)
        if hit is None:
            hit = self._match(method, path)
            if len(self._match_cache) >= _MATCH_CACHE_SIZE:
                self._match_cache.clear()
            self._match_cache[key] = hit
        return hit[0], dict(hit[1])

    def _match(self, method: str, path: str) -> tuple[str | None, dict[str, str]]:
        rel = self.strip_base(path)
        segments = [s for s in rel.strip("/").split("/") if s]
        lowered = [s.lower() for s in segments] if self.case_insensitive else segments
        fallback: tuple[str | None, dict[str, str]] = (None, {})
        m = method.upper()
        for _spec, template, matchers in self._templates_by_len.get(len(segments), ()):
            params: dict[str, str] = {}
            for (kind, value), seg, low in zip(matchers, segments, lowered, strict=True):
                if kind == "lit":
                    if value != low:
                        break
                elif kind == "param":
                    params[value] = seg
                else:
                    found = value.match(seg)
                    if not found:
                        break
                    params.update(found.groupdict())
            else:
                if (m, template) in self._ops:
                    return template, params
                if fallback[0] is None:
                    fallback = (template, params)
        return fallback

    # ------------------------------------------------------------------ schemas

    def _registry(self, mode: Mode) -> referencing.Registry:
        reg = self._registries.get(mode)
        if reg is None:
            with self._lock:
                reg = self._registries.get(mode)
                if reg is None:
                    schemas = self.spec.get("components", {}).get("schemas", {})
                    doc = {
                        "components": {
                            "schemas": {
                                n: convert_schema(s, mode=mode, oas30=self.oas30) for n, s in schemas.items()
                            }
                        }
                    }
                    self._docs[mode] = doc
                    resource = referencing.Resource(contents=doc, specification=DRAFT202012)
                    reg = referencing.Registry().with_resource(self._uri(mode), resource).crawl()
                    self._registries[mode] = reg
        return reg

    def _uri(self, mode: Mode) -> str:
        return f"urn:shopbridge:spec:{self.name or id(self)}:{mode}"

    def _compile(self, schema: dict[str, Any], mode: Mode) -> _Compiled:
        # Local refs ("#/components/...") are made absolute so they resolve in the components document.
        root = _rebase_refs(convert_schema(schema, mode=mode, oas30=self.oas30), self._uri(mode))
        cls = _StrictValidator if self.reject_unknown_fields else _LenientValidator
        validator = cls(root, registry=self._registry(mode), format_checker=FORMAT_CHECKER)
        doc = self._docs[mode]

        def resolve(ref: str) -> Any:
            target: Any = doc
            for part in ref.partition("#")[2].lstrip("/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            return target

        fast = (
            compile_check(root, resolve, FORMAT_CHECKER, reject_unknown_fields=self.reject_unknown_fields)
            if self.fast
            else None
        )
        return _Compiled(validator, fast)

    def request_schema(self, method: str, path_template: str) -> dict[str, Any] | None:
        """The raw (unconverted) JSON request-body schema of an operation, or None."""
        op = self.operation(method, path_template)
        if op is None or "requestBody" not in op:
            return None
        body = self._deref(op["requestBody"])
        content = body.get("content", {})
        media = content.get("application/json") or next((v for k, v in content.items() if "json" in k), None)
        return media.get("schema") if isinstance(media, dict) else None

    def body_required(self, method: str, path_template: str) -> bool:
        op = self.operation(method, path_template)
        return bool(
            op
            and isinstance(self._deref(op.get("requestBody")), dict)
            and self._deref(op["requestBody"]).get("required")
        )

    def response_schema(self, method: str, path_template: str, status: int | str) -> dict[str, Any] | None:
        """The raw JSON schema of a response (`status` falls back to "default"), or None."""
        op = self.operation(method, path_template)
        if op is None:
            return None
        responses = op.get("responses", {})
        resp = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
        resp = self._deref(resp)
        if not isinstance(resp, dict):
            return None
        content = resp.get("content", {})
        media = content.get("application/json") or next((v for k, v in content.items() if "json" in k), None)
        return media.get("schema") if isinstance(media, dict) else None

    def _body_validator(self, method: str, template: str) -> _Compiled | None:
        key = (method.upper(), template)
        try:
            return self._body_validators[key]
        except KeyError:
            pass
        schema = self.request_schema(method, template)
        validator = self._compile(schema, "request") if schema is not None else None
        self._body_validators[key] = validator
        return validator

    def validate_body(self, method: str, path_template: str, body: Any) -> list[Violation]:
        """Check a parsed JSON request body against the operation's requestBody schema.

        Unknown operations and operations without a JSON body give `[]`. A missing body (None)
        where the spec requires one gives a single `required` violation.
        """
        template = self.strip_base(path_template)
        compiled = self._body_validator(method, template)
        if compiled is None:
            return []
        if body is None and self.body_required(method, template):
            return [Violation("", "request body: a JSON body is required", "required")]
        return compiled.violations(body)

    def validate_response(
        self, method: str, path_template: str, status: int | str, body: Any
    ) -> list[Violation]:
        """Check a response body against the spec (readOnly required, writeOnly not). For tests."""
        template = self.strip_base(path_template)
        key = (method.upper(), template, str(status))
        if key not in self._response_validators:
            schema = self.response_schema(method, template, status)
            self._response_validators[key] = self._compile(schema, "response") if schema is not None else None
        compiled = self._response_validators[key]
        return [] if compiled is None else compiled.violations(body)

    def validate_component(self, name: str, instance: Any, mode: Mode = "response") -> list[Violation]:
        """Check a record against `#/components/schemas/<name>` (e.g. values a server computed)."""
        key = (mode, name)
        compiled = self._component_validators.get(key)
        if compiled is None:
            compiled = self._compile({"$ref": f"#/components/schemas/{name}"}, mode)
            self._component_validators[key] = compiled
        return compiled.violations(instance)

    def query_params(self, method: str, path_template: str) -> list[dict[str, Any]]:
        """Declared query parameters (dereferenced) of an operation."""
        key = (method.upper(), self.strip_base(path_template))
        return [p for p in self._params.get(key, []) if p.get("in") == "query"]

    def validate_query(self, method: str, path_template: str, params: Mapping[str, Any]) -> list[Violation]:
        """Check declared query parameters: required, type (integer/number/boolean) and enum.

        Undeclared parameters are ignored, as the real APIs do. `params` may be a Starlette
        `QueryParams` (multi-valued) or a plain dict.
        """
        out: list[Violation] = []
        for p in self.query_params(method, path_template):
            name = p.get("name")
            if not name:
                continue
            if name not in params:
                if p.get("required"):
                    out.append(Violation(name, f"{name}: required query parameter is missing", "required"))
                continue
            schema = self._deref(p.get("schema") or {})
            if not isinstance(schema, dict):
                continue
            if hasattr(params, "getlist"):
                raw_values = params.getlist(name)
            else:
                raw = params[name]
                raw_values = raw if isinstance(raw, list) else [raw]
            types = schema.get("type")
            types = types if isinstance(types, list) else [types]
            if "array" in types:
                item_schema = self._deref(schema.get("items") or {})
                values = [v for raw in raw_values for v in str(raw).split(",")]
                for value in values:
                    problem = _check_scalar(
                        name, str(value), item_schema if isinstance(item_schema, dict) else {}
                    )
                    if problem:
                        out.append(problem)
                        break
                continue
            problem = _check_scalar(name, str(raw_values[0]) if raw_values else "", schema)
            if problem:
                out.append(problem)
        return out


class _Compiled:
    """One operation's validators: the fast yes/no check (if compilable) and jsonschema for details."""

    __slots__ = ("fast", "validator")

    def __init__(self, validator: Any, fast: Check | None) -> None:
        self.validator = validator
        self.fast = fast

    def violations(self, instance: Any) -> list[Violation]:
        if self.fast is not None and self.fast(instance):
            return []
        return errors_to_violations(self.validator.iter_errors(instance))


def _rebase_refs(node: Any, base: str) -> Any:
    """Make local refs (`#/components/...`) point into the components document at `base`."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#"):
                out[k] = base + v
            else:
                out[k] = _rebase_refs(v, base)
        return out
    if isinstance(node, list):
        return [_rebase_refs(x, base) for x in node]
    return node


_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


def _check_scalar(name: str, value: str, schema: dict[str, Any]) -> Violation | None:
    types = schema.get("type")
    types = [t for t in (types if isinstance(types, list) else [types]) if t and t != "null"]
    typed: Any = value
    if types and "string" not in types:
        typed = None
        for t in types:
            try:
                if t == "integer":
                    typed = int(value)
                elif t == "number":
                    typed = float(value)
                elif t == "boolean":
                    low = value.lower()
                    if low not in _TRUE | _FALSE:
                        raise ValueError(value)
                    typed = low in _TRUE
                else:
                    typed = value
                break
            except ValueError:
                continue
        if typed is None:
            return Violation(name, f"{name}: expected {' or '.join(types)}, got {value!r}", "type")
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and typed not in enum and value not in [str(e) for e in enum]:
        shown = ", ".join(str(e) for e in enum[:12])
        return Violation(name, f"{name}: must be one of {shown}, got {value!r}", "enum")
    if isinstance(typed, int) and not isinstance(typed, bool):
        fmt_range = _INT_RANGES.get(schema.get("format"))
        if fmt_range is not None and not fmt_range[0] <= typed <= fmt_range[1]:
            return Violation(name, f"{name}: out of range for {schema['format']}, got {value}", "format")
    if isinstance(typed, int | float) and not isinstance(typed, bool):
        if "minimum" in schema and typed < schema["minimum"]:
            return Violation(name, f"{name}: must be at least {schema['minimum']}, got {value}", "minimum")
        if "maximum" in schema and typed > schema["maximum"]:
            return Violation(name, f"{name}: must be at most {schema['maximum']}, got {value}", "maximum")
    fmt = schema.get("format")
    if (
        isinstance(typed, str)
        and fmt in ("uuid", "date-time", "date")
        and not FORMAT_CHECKER.conforms(typed, fmt)
    ):
        return Violation(name, f"{name}: not a valid {fmt}: {value!r}", "format")
    return None


@functools.cache
def get_validator(name: str) -> SpecValidator:
    """Shared `SpecValidator` per spec name (compiled validators are cached on it)."""
    return SpecValidator(name)
