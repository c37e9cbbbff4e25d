"""Settings shared by both sandbox servers (Starweb and Visma)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class FaultSettings:
    """Faults the sandbox injects; changeable at run time through `POST /_sandbox/faults`.

    Every random choice comes from one `random.Random(seed)`, so a run is reproducible.
    """

    seed: int = 0
    latency_ms: float = 0.0  # added to every API request
    error_rate: float = 0.0  # share of API requests answered 500/502/503 (nothing is stored)
    hang_rate: float = 0.0  # share of requests that hang for `hang_s` seconds before being answered
    hang_s: float = 60.0
    reset_rate: float = 0.0  # share of requests whose connection is reset without an answer
    late_rate: float = 0.0  # share of writes applied only `late_s` seconds after they arrived (answer lost)
    late_s: float = 35.0  # longer than the client's timeout: it has given up before the write lands
    token_ttl_s: float | None = None  # override the lifetime of newly issued access tokens
    paths: list[str] = field(default_factory=list)  # only requests whose path contains one of these; [] = all


@dataclass
class RateLimitSettings:
    """Server-side limit: `limit` requests per `window_s` seconds (sliding window)."""

    limit: int
    window_s: float = 60.0
    enabled: bool = True


@dataclass
class SandboxSettings:
    """Everything a sandbox app needs to start. `create_app(settings)` of each sandbox takes this."""

    client_id: str
    client_secret: str
    seed: str | None = "demo"  # "demo" | "empty" | None (= empty)
    state_file: Path | None = None  # keep state across restarts when set
    rate_limit: RateLimitSettings = field(default_factory=lambda: RateLimitSettings(limit=600))
    faults: FaultSettings = field(default_factory=FaultSettings)
    token_ttl_s: float = 3600.0  # access token lifetime
    public_url: str = ""  # base URL the server is reachable at, e.g. http://127.0.0.1:8101 (for redirects)
    shops: int = 1  # Starweb: how many shops to serve (multishop); ignored by Visma
