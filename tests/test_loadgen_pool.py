"""The load generator's connection pool: reusing a keep-alive connection costs no wait.

Before each request the pool checks that its idle connection is still usable. That
check must not hand the greenlet back to the event loop: the request's send time is
already taken, so any wait there is the client's own delay counted as the server's TTFT.
It must still refuse a connection the server closed, or one with unread bytes on it.

Runs in a process of its own (gevent's monkey-patching stays out of pytest's process).
"""

from __future__ import annotations

import json
import subprocess
import sys

_SCRIPT = r"""
import json, socket
from gevent import monkey
monkey.patch_all()
import gevent
from conformance.loadgen.target import Target
from conformance.loadgen.users import new_client

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(8)
port = listener.getsockname()[1]
accepted = []
gevent.spawn(lambda: [accepted.append(listener.accept()[0]) for _ in range(8)])

target = Target("openai", f"http://127.0.0.1:{port}/v1", model="m", stream=True, max_tokens=8,
                conversations=[[{"role": "user", "content": "hi"}]], api_key="sk-x")
client = new_client(target, concurrency=1, timeout_s=5.0)
pool = client._connection_pool
out = {}

def checkout_yields():
    sock = pool.get_socket()
    ran = []
    gevent.spawn(ran.append, 1)  # ready to run as soon as the hub gets control
    pool.return_socket(sock)
    again = pool.get_socket()
    yielded = bool(ran)
    pool.return_socket(again)
    return again is sock, yielded

out["same_socket"], out["yielded"] = checkout_yields()
gevent.sleep(0.05)
alive = pool._is_socket_alive
sock = pool.get_socket()
gevent.sleep(0.05)
out["idle_alive"] = alive(sock)
accepted[0].sendall(b"HTTP/1.1 200 OK\r\n")  # bytes nobody asked for
gevent.sleep(0.05)
out["dirty_alive"] = alive(sock)
pool.release_socket(sock)
sock = pool.get_socket()  # a new connection
gevent.sleep(0.05)
accepted[1].close()  # the server closes the idle connection
gevent.sleep(0.05)
out["closed_by_server_alive"] = alive(sock)
sock.close()
out["closed_here_alive"] = alive(sock)
print(json.dumps(out))
"""


def test_reusing_a_pooled_connection_never_yields_and_refuses_dead_ones() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {
        "same_socket": True,
        "yielded": False,
        "idle_alive": True,
        "dirty_alive": False,
        "closed_by_server_alive": False,
        "closed_here_alive": False,
    }
