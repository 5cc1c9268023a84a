"""conformance: conformance tests and benchmarks for text-generation HTTP APIs.

The public surface, for use from Python::

    import conformance

    provider = conformance.get_provider("openai", base_url="http://127.0.0.1:8000/v1")
    run = conformance.run_checks(conformance.RunConfig(provider=provider, api_key=None))
    print(run.exit_code)

Names are imported on first use, so ``import conformance`` stays cheap and never pulls
in the reference backend's server or the load generator.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from conformance._version import __version__

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from conformance.backend import FAULTS, BackendConfig, create_app, serve_in_thread
    from conformance.checks import CheckContext, Failed, Severity, Skipped, Warned, check
    from conformance.engine import RunConfig, run_checks
    from conformance.errors import ConfigError, ConformanceError
    from conformance.providers import PROVIDERS, Dialect, Provider, get_provider
    from conformance.report import load_result, render_html, render_markdown, write_reports
    from conformance.wire import Exchange, SSEEvent, SSEParser, WireClient

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "ConfigError": "conformance.errors",
    "ConformanceError": "conformance.errors",
    "PROVIDERS": "conformance.providers",
    "Dialect": "conformance.providers",
    "Provider": "conformance.providers",
    "get_provider": "conformance.providers",
    "Exchange": "conformance.wire",
    "SSEEvent": "conformance.wire",
    "SSEParser": "conformance.wire",
    "WireClient": "conformance.wire",
    "CheckContext": "conformance.checks",
    "Failed": "conformance.checks",
    "Severity": "conformance.checks",
    "Skipped": "conformance.checks",
    "Warned": "conformance.checks",
    "check": "conformance.checks",
    "RunConfig": "conformance.engine",
    "run_checks": "conformance.engine",
    "BackendConfig": "conformance.backend",
    "FAULTS": "conformance.backend",
    "create_app": "conformance.backend",
    "serve_in_thread": "conformance.backend",
    "load_result": "conformance.report",
    "render_html": "conformance.report",
    "render_markdown": "conformance.report",
    "write_reports": "conformance.report",
}

__all__ = [
    "FAULTS",
    "PROVIDERS",
    "BackendConfig",
    "CheckContext",
    "ConfigError",
    "ConformanceError",
    "Dialect",
    "Exchange",
    "Failed",
    "Provider",
    "RunConfig",
    "SSEEvent",
    "SSEParser",
    "Severity",
    "Skipped",
    "Warned",
    "WireClient",
    "__version__",
    "check",
    "create_app",
    "get_provider",
    "load_result",
    "render_html",
    "render_markdown",
    "run_checks",
    "serve_in_thread",
    "write_reports",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'conformance' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
