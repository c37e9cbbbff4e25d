"""Default sandbox credentials, ports and limits, shared by the CLI, clients, tests and the demo."""

from __future__ import annotations

STARWEB_CLIENT_ID = "sandbox-starweb"
STARWEB_CLIENT_SECRET = "sandbox-starweb-secret"
STARWEB_PORT = 8101
STARWEB_RATE_LIMIT = 300  # requests per STARWEB_RATE_WINDOW_S (Starweb does not document its limit)
STARWEB_RATE_WINDOW_S = 60.0
STARWEB_API_PREFIX = "/api/v2"

VISMA_CLIENT_ID = "sandbox-visma"
VISMA_CLIENT_SECRET = "sandbox-visma-secret"
VISMA_PORT = 8102
VISMA_RATE_LIMIT = 600  # Visma: 600 requests per minute per client and endpoint
VISMA_RATE_WINDOW_S = 60.0
VISMA_API_PREFIX = "/v2"

DEFAULT_HOST = "127.0.0.1"
ADMIN_PREFIX = "/_sandbox"
