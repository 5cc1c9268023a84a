"""Added beside a plain locustfile by ``benchmarks/peers.py``: keeps what it reports, exactly.

Locust's own statistics round response times (to whole milliseconds below 100 ms), too
coarse for errors under a millisecond. This listener keeps every value the locustfile
reports, with the wall-clock time it was reported, and writes them when the process
stops to ``$PEER_RECORD_DIR/<pid>.json``. Appending a tuple per event is all it does
while the run goes on, so it adds next to nothing to the client's CPU.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from locust import events

_records: list[tuple[float, str, float, bool]] = []
#: how many records the file already holds (the run's stop and the process's quit both
#: write it: the second writes only when something came in between)
_written = 0


@events.request.add_listener
def _keep(request_type: str, response_time: float, exception: Any = None, **_kw: Any) -> None:
    _records.append((time.time(), request_type, response_time, exception is None))


def _write(**_kw: Any) -> None:
    global _written
    directory = os.environ.get("PEER_RECORD_DIR")
    if not directory or len(_records) == _written:
        return
    path = os.path.join(directory, f"{os.getpid()}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_records, f)
    _written = len(_records)


events.test_stop.add_listener(_write)
events.quit.add_listener(_write)
