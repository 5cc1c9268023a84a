"""What `conformance check` prints: its summary names the checks, the time, the probes and
the requests, and nothing from a library's logging leaks onto the console."""

from __future__ import annotations

import os
import re
import subprocess
import sys


def _check(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "conformance", "check", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


def test_a_wetrocloud_check_prints_no_multipart_parser_line() -> None:
    """The robustness and error probes send malformed forms; the backend refuses them with a
    400, and the parser's own warning ("Expected boundary character ...") stays quiet."""
    done = _check("--provider", "wetrocloud")
    assert done.returncode == 0, done.stdout + done.stderr
    console = done.stdout + done.stderr
    assert "boundary" not in console.lower(), console
    assert not [line for line in done.stderr.splitlines() if "checking the embedded" not in line]


def test_the_summary_names_time_probes_and_requests() -> None:
    done = _check("--provider", "openai", "--only", "semantics.stop_*")
    assert done.returncode == 0, done.stdout + done.stderr
    summary = re.search(
        r"PASSED: 4 checks \(.*\) in \d+\.\d s, (\d+) probes, (\d+) requests", done.stdout
    )
    assert summary, done.stdout
    # the stop checks read two probes: the answer without stop and the ones built from it
    assert summary.group(1) == "2"
    assert int(summary.group(2)) == 10
