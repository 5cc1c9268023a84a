"""Interop tests start third-party servers; they run only under ``tox -e interop``.

The default ``pytest`` run does not collect them: they need extra packages
(``litellm[proxy]``) and take a minute. Set ``CONFORMANCE_INTEROP=1`` to collect them.
"""

from __future__ import annotations

import os

collect_ignore_glob = [] if os.environ.get("CONFORMANCE_INTEROP") == "1" else ["*.py"]
