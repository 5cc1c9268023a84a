"""Timing definitions and mergeable histograms, shared by the load generator and reports.

This package imports neither Locust nor gevent; it is plain computation over timestamps.
"""

from __future__ import annotations

from conformance.metrics.aggregate import RunAggregate, Window
from conformance.metrics.histogram import (
    LatencyHistogram,
    Summary,
    empty_summary,
    summarize_values,
)
from conformance.metrics.reservoir import Reservoir
from conformance.metrics.timing import (
    FailureKind,
    RequestTiming,
    StreamTracker,
    chunk_has_content,
    chunk_usage_tokens,
    http_failure_kind,
    json_chunk_has_content,
    timeline_timing,
)

__all__ = [
    "FailureKind",
    "LatencyHistogram",
    "RequestTiming",
    "Reservoir",
    "RunAggregate",
    "StreamTracker",
    "Summary",
    "Window",
    "chunk_has_content",
    "chunk_usage_tokens",
    "empty_summary",
    "http_failure_kind",
    "json_chunk_has_content",
    "summarize_values",
    "timeline_timing",
]
