"""Open-loop load: requests start on a schedule (``--rate``), whatever the responses do.

    locust -f loadtests/open_loop.py --host http://127.0.0.1:8000/v1 --headless \\
        -u 1 -r 1 -t 60s --rate 100 --arrival poisson --seed 7

Run one driver per process (``-u`` equal to the number of processes). Results carry the
schedule delay and the latency measured from the scheduled time.
"""

from conformance.loadgen.users import OpenLoopUser

__all__ = ["OpenLoopUser"]
