"""``python -m conformance.backend``: the child-process entry of :func:`serve_in_process`.

The configuration comes as JSON in the ``CONFORMANCE_BACKEND_CONFIG`` environment
variable (defaults when it is absent); the root URL is announced on stdout.
"""

from __future__ import annotations

import os
import sys

from conformance.backend.config import BackendConfig
from conformance.backend.server import CONFIG_ENV, READY_PREFIX, run_server
from conformance.errors import ConfigError


def main() -> int:
    """Serve until terminated; 2 on a bad configuration."""
    try:
        raw = os.environ.pop(CONFIG_ENV, None)
        config = BackendConfig.from_json(raw) if raw else BackendConfig()

        def announce(url: str) -> None:
            print(READY_PREFIX + url, flush=True)

        run_server(config, announce)
    except ConfigError as exc:
        print(f"conformance backend: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
