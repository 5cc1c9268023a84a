"""The locustfile ``conformance bench`` runs (inside the package, so an installed harness works).

Two user classes; the command line picks one by name: ``BenchUser`` (closed loop, the
dialect and mode from ``--provider`` and ``--no-stream``) or ``OpenLoopUser`` (``--rate``).
"""

from __future__ import annotations

from conformance.loadgen.users import GenerationUser, OpenLoopUser

__all__ = ["BenchUser", "OpenLoopUser"]


class BenchUser(GenerationUser):
    """Closed loop: the provider from ``--provider``, streamed unless ``--no-stream``."""

    provider_name = None
    stream = None
