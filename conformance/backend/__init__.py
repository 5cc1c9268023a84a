"""The embedded reference backend: a local server that speaks every profile's dialect.

It answers with deterministic text, honest usage counts, configurable time to first
token and inter-token delay, and named fault modes (:data:`FAULTS`) that each break one
property. See ``conformance/backend/README.md`` for routes, behaviour and the fault table.

>>> with serve_in_thread(BackendConfig(ttft_ms=20)) as root:  # doctest: +SKIP
...     httpx.post(root + "/v1/chat/completions", json={...})
"""

from __future__ import annotations

from conformance.backend.app import BackendApp, create_app
from conformance.backend.config import BackendConfig
from conformance.backend.faults import FAULTS, Fault
from conformance.backend.server import run_server, serve_in_process, serve_in_thread

__all__ = [
    "FAULTS",
    "BackendApp",
    "BackendConfig",
    "Fault",
    "create_app",
    "run_server",
    "serve_in_process",
    "serve_in_thread",
]
