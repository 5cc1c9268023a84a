"""Recorded exchanges (cassettes): the format, redaction, respx replay and verification.

Record a target once, then run the suites offline from the recording::

    conformance record --provider openai --base-url URL --out fixtures/mine
    conformance check --provider openai --replay fixtures/mine
    conformance verify fixtures/mine

In Python:

- :func:`record` sends the suites' probes and writes one YAML cassette per probe plus an
  ``index.yaml`` (:func:`write_recording`, :func:`read_cassettes`);
- :class:`Redactor` removes keys before anything is written;
- :class:`ReplayRouter` is the respx router built from cassettes,
  :class:`ReplaySender` / :func:`open_replay` plug it into the engine;
- :func:`verify_paths` validates cassettes against the current schemas.

The matching rules are documented in :mod:`conformance.cassettes.matching`, the file
format in :mod:`conformance.cassettes._format`.
"""

from __future__ import annotations

from conformance.cassettes._errors import CassetteError
from conformance.cassettes._format import (
    FORMAT_VERSION,
    Cassette,
    cassette_from_data,
    cassette_to_data,
    exchange_from_data,
    exchange_to_data,
)
from conformance.cassettes._io import (
    INDEX_NAME,
    CassetteSet,
    Recording,
    dump_yaml,
    read_cassette,
    read_cassettes,
    write_cassette,
    write_recording,
)
from conformance.cassettes.matching import MatchKey, request_key
from conformance.cassettes.recorder import arecord, record
from conformance.cassettes.redact import API_KEY, REDACTED, Redactor
from conformance.cassettes.replay import CassetteMiss, ReplayRouter, is_miss, restore
from conformance.cassettes.senders import (
    REPLAY_API_KEY,
    RecordingSender,
    ReplaySender,
    open_replay,
)
from conformance.cassettes.verify import Drift, VerifyReport, verify_paths

__all__ = [
    "API_KEY",
    "FORMAT_VERSION",
    "INDEX_NAME",
    "REDACTED",
    "REPLAY_API_KEY",
    "Cassette",
    "CassetteError",
    "CassetteMiss",
    "CassetteSet",
    "Drift",
    "MatchKey",
    "Recording",
    "RecordingSender",
    "Redactor",
    "ReplayRouter",
    "ReplaySender",
    "VerifyReport",
    "arecord",
    "cassette_from_data",
    "cassette_to_data",
    "dump_yaml",
    "exchange_from_data",
    "exchange_to_data",
    "is_miss",
    "open_replay",
    "read_cassette",
    "read_cassettes",
    "record",
    "request_key",
    "restore",
    "verify_paths",
    "write_cassette",
    "write_recording",
]
