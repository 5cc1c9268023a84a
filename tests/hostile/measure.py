"""Run a command as this process's only child and report its peak memory.

``python -m tests.hostile.measure OUT.json CMD...`` runs ``CMD``, passes its stdout and
stderr through, and writes ``{"returncode", "maxrss_kb", "wall_s"}`` to ``OUT.json``.
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` is the peak resident set of the largest
child waited for; a fresh process with a single child makes it the child's own peak.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

if __name__ == "__main__":
    out, cmd = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    code = subprocess.run(cmd, check=False).returncode
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    with open(out, "w", encoding="utf-8") as fh:
        json.dump({"returncode": code, "maxrss_kb": peak, "wall_s": wall}, fh)
    sys.exit(code)
