"""Where the official specs are wrong, and what the sandboxes do instead: the one list.

The conformance test (`tests/test_conformance.py`) runs schemathesis over every in-scope operation of
both specs and excuses exactly the findings listed in `DEVIATIONS`, nothing else. Each entry names the
API, the kind of finding (schemathesis' failure class), the answer's status where that matters, the
operations it concerns (none listed = every in-scope operation that has the trait named), and why the
sandbox answers as it does. `KNOWN_DEFECTS` lists spec defects the sandbox works around that no check
trips over, so they are written down in the same place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Api = Literal["visma", "starweb"]


@dataclass(frozen=True)
class Deviation:
    """One spec defect: the findings it excuses and the reason."""

    api: Api
    finding: str  # schemathesis failure class: UndefinedStatusCode, JsonSchemaError, ...
    reason: str
    statuses: frozenset[int] = frozenset()  # the answer's status; empty = any
    operations: frozenset[str] = frozenset()  # "METHOD /template"; empty = every in-scope operation
    when: frozenset[str] = frozenset()  # traits the request must have: "path ids", "null body"

    def covers(self, api: str, operation: str, finding: str, status: int, traits: frozenset[str]) -> bool:
        return (
            self.api == api
            and self.finding == finding
            and (not self.statuses or status in self.statuses)
            and (not self.operations or operation in self.operations)
            and self.when <= traits
        )


DEVIATIONS: tuple[Deviation, ...] = (
    Deviation(
        "visma",
        "UndefinedStatusCode",
        "An id in the path that names nothing is answered 404 ResourceNotFound (ErrorCode 3000), as the "
        "API does; the spec lists the 404 on only 35 of its operations with ids in the path.",
        statuses=frozenset({404}),
        when=frozenset({"path ids"}),
    ),
    Deviation(
        "starweb",
        "UndefinedStatusCode",
        "A parent id in the path that names nothing (a product, variant, customer, order, pricelist) is a "
        "404 with Starweb's error body on every operation; the spec lists it on lookups of the item itself "
        "only, not on lists and creates under it.",
        statuses=frozenset({404}),
        when=frozenset({"path ids"}),
    ),
    Deviation(
        "starweb",
        "UndefinedStatusCode",
        "Query parameters are validated on reads too (page at least 1 and within int32, dates, sort "
        "fields) and refused with 400 and Starweb's error body; the spec documents 400 on writes only.",
        statuses=frozenset({400}),
    ),
    Deviation(
        "visma",
        "AcceptedNegativeData",
        "A JSON null body binds as no body (an empty object), as ASP.NET binds an optional body; every "
        "Visma body is optional in the spec, yet its schema (type object) does not allow null.",
        when=frozenset({"null body"}),
    ),
    Deviation(
        "visma",
        "JsonSchemaError",
        "GET /messagethreads/{id}/messages answers the thread's messages as a JSON array, as the "
        "operation's description says ('a list of messages'); its response schema names a single "
        "MessageApi.",
        operations=frozenset({"GET /messagethreads/{messageThreadId}/messages"}),
    ),
)

KNOWN_DEFECTS: tuple[tuple[Api, str], ...] = (
    (
        "visma",
        "/articlelabels/{articlelabelid} and /customerlabels/{customerlabelid} name their path parameter "
        "differently from their operations (articleLabelId, customerLabelId), so strict tools refuse the "
        "file: `load_spec` renames the placeholders (sandbox/common/spec.py).",
    ),
    (
        "visma",
        "TaxDeclarationDateApi bounds Month by 31 and Day by 12 (swapped). The sandbox validates as the "
        "spec says (the API is generated from the same annotations) and refuses a Month above 12.",
    ),
    (
        "visma",
        "Every schema is closed (additionalProperties: false); the sandbox refuses unknown fields at every "
        'depth accordingly (switch: POST /_sandbox/visma/company {"reject_unknown_fields": false}).',
    ),
)


def excuse(api: str, operation: str, finding: str, status: int, traits: frozenset[str]) -> Deviation | None:
    """The deviation that explains a finding, or None (then it is a sandbox bug).

    `traits` describe the request: "path ids" (the operation has ids in its path), "null body" (the
    body sent was JSON null).
    """
    return next((d for d in DEVIATIONS if d.covers(api, operation, finding, status, traits)), None)
