"""Wetrocloud text generation under load (multipart form, not streamed).

    locust -f loadtests/wetrocloud.py --host https://api.wetrocloud.com
    locust -f loadtests/wetrocloud.py --host http://127.0.0.1:8000 --headless -u 8 -t 30s

The key comes from ``WETROCLOUD_API_KEY`` (or ``--api-key-env VAR``).
"""

from conformance.loadgen.users import WetrocloudUser

__all__ = ["WetrocloudUser"]
