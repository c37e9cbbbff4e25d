"""Pieces shared by the Starweb and Visma sandbox servers.

Interface (import from `shopbridge.sandbox.common`):

spec.py
    load_spec(name) -> dict                    "starweb" | "visma"; cached, read-only; Visma paths repaired
    get_validator(name) -> SpecValidator       shared, cached per name
    SpecValidator(spec, *, base_path=None, case_insensitive_paths=None, reject_unknown_fields=True, fast=True)
        .validate_body(method, path_template, body) -> list[Violation]
        .validate_query(method, path_template, params) -> list[Violation]   declared params only
        .validate_response(method, path_template, status, body) -> list[Violation]   for tests
        .request_schema(method, t) / .response_schema(method, t, status) -> raw schema dict | None
        .match_path(method, path) -> (template | None, params)   path may carry /v2, /api/v2 or /<shop>/api/v2
        .strip_base(path), .operation(method, t), .operations(), .allowed_methods(t), .query_params(method, t)
    Violation(field, message, kind)      field "Rows[0].Text"; message "Name: maximum length is 50, got 60"
    Templates may be given with or without the API prefix. Visma paths match case-insensitively.
    OpenAPI 3.0 `nullable` and 3.1 type lists both work; readOnly fields are not required in
    requests; `additionalProperties: false` (Visma) rejects unknown fields unless switched off.
    Formats checked: uuid, date-time/date (ISO, lenient like .NET), email (one "@", not first or
    last; "" fails), int32/int64 (bodies and query parameters, e.g. a page number past int32).
    `validate_component(name, record)` checks a record against a component schema (computed values).
    Speed: a compiled pre-check (fastcheck.py) answers valid bodies in ~10-300 µs; jsonschema
    only runs to describe invalid ones.

ratelimit.py
    SlidingWindowLimiter(limit, window_s): .hit(key) -> None | seconds_to_wait; .reset(); .configure(...)

faults.py
    FaultInjector(FaultSettings): .decide(path) -> FaultDecision, .update(dict, replace=False),
        .token_ttl(default) -> float, .counts; reset_connection(send) (TCP RST via the uvicorn transport)

app.py
    install_common(app, settings, *, service, error_body, rate_key, limited_body,
                   validation_body=None, validator=None) -> SandboxRuntime
        error_body(status: int, message: str) -> dict        the API's own error JSON
        rate_key(request) -> str | None                       None = not limited
        limited_body(retry_after_s: float) -> (body, headers) the 429 answer
        validation_body(violations) -> dict                   optional 400 body for spec violations
      Adds: outermost pure-ASGI middleware (rate limit -> latency -> reset/5xx/hang -> app; counts
      every non-/_sandbox request), handlers turning SandboxValidationError, HTTPException (a dict
      `detail` is sent as-is) and FastAPI's RequestValidationError into the API's error body, and the
      admin router: GET/POST(patch)/PUT(replace) /_sandbox/faults, GET/POST /_sandbox/ratelimit
      (+ /reset), GET /_sandbox/stats, POST /_sandbox/stats/reset, GET /_sandbox/health.
      A hung request is still processed after `hang_s` (like a real slow server); 5xx and reset
      faults answer before the app runs (nothing stored). An unhandled error in a route is logged
      and answered with error_body(500, ...), keeping the connection open.
    SandboxRuntime: .settings .validator .limiter .faults .stats .token_ttl_s .check(...) .error_response(...)
    get_runtime(request | app) -> SandboxRuntime   (also app.state.sandbox)
    validate_or_raise(request, body, path_template=None, *, query=True)   raises SandboxValidationError
    read_json(request, *, decimals=False) -> Any                    (async; 400 on invalid JSON)
    validated_json(request, path_template=None, *, query=True, decimals=False) -> Any   (async)
    Stats: .count(route=None, status=None), .snapshot(), .reset(); route keys "POST /customers"

runner.py
    serve(app, host, port, *, banner=None); start_in_thread(app, host="127.0.0.1", port=0) -> RunningServer
        (.url, .port, .stop(), context manager); free_port()

defaults.py
    STARWEB_/VISMA_ CLIENT_ID, CLIENT_SECRET, PORT, RATE_LIMIT, RATE_WINDOW_S, API_PREFIX; ADMIN_PREFIX
"""

from shopbridge.sandbox.common.app import (
    SandboxMiddleware,
    SandboxRuntime,
    SandboxValidationError,
    Stats,
    get_runtime,
    install_common,
    new_error_id,
    read_json,
    validate_or_raise,
    validated_json,
)
from shopbridge.sandbox.common.faults import (
    ConnectionResetFault,
    FaultDecision,
    FaultInjector,
    reset_connection,
)
from shopbridge.sandbox.common.ratelimit import SlidingWindowLimiter
from shopbridge.sandbox.common.runner import RunningServer, free_port, serve, start_in_thread
from shopbridge.sandbox.common.spec import SpecValidator, Violation, get_validator, load_spec

__all__ = [
    "ConnectionResetFault",
    "FaultDecision",
    "FaultInjector",
    "RunningServer",
    "SandboxMiddleware",
    "SandboxRuntime",
    "SandboxValidationError",
    "SlidingWindowLimiter",
    "SpecValidator",
    "Stats",
    "Violation",
    "free_port",
    "get_runtime",
    "get_validator",
    "install_common",
    "load_spec",
    "new_error_id",
    "read_json",
    "reset_connection",
    "serve",
    "start_in_thread",
    "validate_or_raise",
    "validated_json",
]
