"""``python -m conformance.loadgen [locust options]``: Locust with the bench locustfile.

Equivalent to ``locust -f <package>/conformance/loadgen/locustfile.py [options]``.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> None:
    """Run Locust's own main with the packaged locustfile."""
    locustfile = str(Path(__file__).with_name("locustfile.py"))
    sys.argv = ["locust", "-f", locustfile, *sys.argv[1:]]
    from locust.main import main as locust_main

    locust_main()


if __name__ == "__main__":
    main()
