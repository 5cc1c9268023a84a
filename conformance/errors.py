"""Errors that the command line turns into one line and exit code 2."""

from __future__ import annotations


class ConformanceError(Exception):
    """Base class of the harness's own errors."""


class ConfigError(ConformanceError):
    """Bad usage, bad configuration or an unreachable target.

    The message is shown to the user as one line and must say what to fix.
    """
