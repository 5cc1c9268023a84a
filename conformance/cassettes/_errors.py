"""The errors of the cassette layer."""

from __future__ import annotations

from conformance.errors import ConfigError


class CassetteError(ConfigError):
    """A cassette file cannot be read: bad YAML, an unknown format version, a bad field.

    The message names the file and the field; the command line prints it as one line and
    exits 2.
    """
