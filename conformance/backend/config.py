"""How the embedded reference backend is configured."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from conformance.errors import ConfigError

#: the models the WeAI flavour knows (the seed documentation names exactly these)
WEAI_MODELS: tuple[str, ...] = ("llama3.1-8B", "llama3.1-70B")
#: the backend's own model names, served on the plain OpenAI path besides gpt-4o-mini
DEFAULT_MODELS: tuple[str, ...] = ("reference-small", "reference-large")
#: per flavour, the models it lists at GET .../models and answers for (the first being the
#: one its profile uses by default); any other name is refused with 404 model_not_found
FLAVOUR_MODELS: dict[str, tuple[str, ...]] = {
    "openai": ("gpt-4o-mini", *DEFAULT_MODELS),
    "nebulablock": ("meta-llama/Llama-3.3-70B-Instruct",),
    "weai": WEAI_MODELS,
}
#: the providers whose document the backend can serve alone (``--only-document``)
ONLY_DOCUMENTS: tuple[str, ...] = ("nebulablock", "weai")
#: ``owned_by`` of each flavour's model entries
FLAVOUR_OWNERS: dict[str, str] = {
    "openai": "conformance",
    "nebulablock": "nebulablock",
    "weai": "weai",
}


@dataclass(frozen=True, slots=True)
class BackendConfig:
    """Everything that shapes one run of the reference backend.

    ``ttft_ms`` is the delay from the request to its first content token and ``itl_ms``
    the delay between content tokens; both are scheduled against absolute deadlines.
    ``fault`` names a fault mode (see :data:`conformance.backend.FAULTS`) that every
    request gets unless it picks another one. With an empty ``api_keys`` any key (and
    none) is accepted; otherwise only those keys are.
    """

    host: str = "127.0.0.1"
    #: 0 picks a free port
    port: int = 0
    ttft_ms: float = 0.0
    itl_ms: float = 0.0
    fault: str | None = None
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    #: the natural length of an answer, in tokens, is drawn from this inclusive range
    min_natural_tokens: int = 20
    max_natural_tokens: int = 100
    #: the model's limit on completion tokens; a larger max_tokens is refused with 400
    max_output_tokens: int = 16384
    #: request bodies larger than this are refused with 413
    max_body_bytes: int = 4 * 1024 * 1024
    #: hang faults give up after this long (they also end when the client goes away)
    hang_s: float = 300.0
    #: the "huge body" fault stops after this many bytes (or when the client goes away)
    huge_body_bytes: int = 256 * 1024 * 1024
    #: uvicorn's log level; the access log is always off
    log_level: str = "warning"
    #: more model names every OpenAI-style path lists and answers for (after its own)
    models: tuple[str, ...] = ()
    #: serve one provider's document and nothing more instead of every dialect
    #: (``nebulablock`` or ``weai``: see :mod:`conformance.backend.document_only`)
    only_document: str | None = None

    def __post_init__(self) -> None:
        from conformance.backend.faults import FAULTS  # local: faults imports nothing of ours

        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be between 0 and 65535, got {self.port}")
        for name in ("ttft_ms", "itl_ms"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0 or value != value:
                raise ConfigError(f"{name.replace('_', '-')} must be a number >= 0, got {value!r}")
            if value > 600_000:
                raise ConfigError(f"{name.replace('_', '-')} must be at most 600000 ms")
        if self.fault is not None and self.fault not in FAULTS:
            raise ConfigError(
                f"unknown fault {self.fault!r}; choose one of: {', '.join(sorted(FAULTS))}"
            )
        if not 1 <= self.min_natural_tokens <= self.max_natural_tokens:
            raise ConfigError("need 1 <= min_natural_tokens <= max_natural_tokens")
        if self.max_output_tokens < 1:
            raise ConfigError("max_output_tokens must be at least 1")
        if any((not isinstance(k, str)) or not k or k != k.strip() for k in self.api_keys):
            raise ConfigError("API keys must be non-empty strings without surrounding spaces")
        if any(not isinstance(m, str) or not m.strip() or m != m.strip() for m in self.models):
            raise ConfigError("model names must be non-empty strings without surrounding spaces")
        if self.only_document is not None and self.only_document not in ONLY_DOCUMENTS:
            raise ConfigError(
                f"no document-only server for {self.only_document!r}; choose one of: "
                f"{', '.join(ONLY_DOCUMENTS)}"
            )
        if self.max_body_bytes < 1024 or self.huge_body_bytes < 1 or self.hang_s <= 0:
            raise ConfigError("max_body_bytes, huge_body_bytes and hang_s must be positive")

    def models_of(self, flavour: str) -> tuple[str, ...]:
        """The models a flavour lists and answers for: its own, then :attr:`models`."""
        own = FLAVOUR_MODELS.get(flavour, ())
        return own + tuple(m for m in self.models if m not in own)

    def replace(self, **changes: Any) -> BackendConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        """The configuration as JSON, keys included (only for handing to a child process)."""
        data = dataclasses.asdict(self)
        data["api_keys"] = list(self.api_keys)
        data["models"] = list(self.models)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> BackendConfig:
        """The inverse of :meth:`to_json`."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ConfigError("backend configuration must be a JSON object")
        data["api_keys"] = tuple(data.get("api_keys") or ())
        data["models"] = tuple(data.get("models") or ())
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown backend configuration fields: {sorted(unknown)}")
        return cls(**data)
