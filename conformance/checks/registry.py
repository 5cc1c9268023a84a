"""The check and probe registries.

A **probe** is a named request recipe (``@probe("stream")``): a function that, given the
target's profile, returns one or more :class:`ProbeRequest` objects. The engine sends each
probe once per run and caches the resulting :class:`~conformance.wire.exchange.Exchange`
records.

A **check** is a small function over those records (``@check(id="stream.done_sentinel",
...)``). It does no I/O: it reads exchanges from its :class:`CheckContext` and raises
:class:`Failed`, :class:`Warned` or :class:`Skipped`; returning means it passed (a returned
string becomes the pass detail). Any other exception is reported as ``error``.

See ``conformance/checks/README.md`` for how to add either.
"""

from __future__ import annotations

import fnmatch
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from conformance.checks.basis import Basis, validate_declaration
from conformance.providers.base import Capabilities, Dialect, Message

if TYPE_CHECKING:
    from conformance.providers.base import Provider
    from conformance.wire.exchange import Exchange

__all__ = [
    "ALL_DIALECTS",
    "CHECKS",
    "OPENAI_ONLY",
    "PROBES",
    "USE_DEFAULT_KEY",
    "CheckContext",
    "CheckFunc",
    "CheckSpec",
    "Errored",
    "Failed",
    "Outcome",
    "ProbeContext",
    "ProbeFunc",
    "ProbeRequest",
    "ProbeSpec",
    "Refused",
    "Severity",
    "Skipped",
    "Status",
    "Warned",
    "check",
    "get_check",
    "get_probe",
    "probe",
    "select_checks",
]


class Severity(StrEnum):
    """What a failure of the check breaks, from worst to mildest."""

    #: the official SDK raises or returns corrupted data
    SDK = "sdk"
    #: common clients (LangChain, LiteLLM, curl-and-jq scripts, UIs) misbehave
    CLIENT = "client"
    #: a deviation from the specification that no mainstream client notices
    COSMETIC = "cosmetic"


class Status(StrEnum):
    """The verdict of one check."""

    PASSED = "passed"
    FAILED = "failed"
    WARNED = "warned"
    SKIPPED = "skipped"
    ERROR = "error"


ALL_DIALECTS: Final[frozenset[Dialect]] = frozenset(Dialect)
#: the dialect of the OpenAI-shaped profiles, for checks of OpenAI Chat Completions rules
OPENAI_ONLY: Final[frozenset[Dialect]] = frozenset({Dialect.OPENAI})


# --------------------------------------------------------------------------- outcomes


class Outcome(Exception):
    """Raised by a check to end with a verdict other than ``passed``.

    ``detail`` is one or two sentences for the report; ``evidence`` is a JSON-able mapping
    (build it with :mod:`conformance.checks.evidence`, which bounds its size).
    """

    status: Status = Status.ERROR

    def __init__(self, detail: str, evidence: Mapping[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.evidence: dict[str, Any] = dict(evidence or {})


class Failed(Outcome):
    """The target broke the property the check is about."""

    status = Status.FAILED


class Warned(Outcome):
    """The target deviates from the specification in a way few or no clients notice."""

    status = Status.WARNED


class Skipped(Outcome):
    """The check cannot be judged (capability refused, probe not made, wrong dialect...)."""

    status = Status.SKIPPED


class Refused(Skipped):
    """The target refused an optional feature cleanly (a 4xx): not judged, by the target's
    choice. Unlike other skips it does not count against the run's coverage."""


class Errored(Outcome):
    """The harness itself could not judge (a probe that could not be built, a bug)."""

    status = Status.ERROR


# --------------------------------------------------------------------------- probes


class _UseDefaultKey:
    """Sentinel type: send the run's configured API key."""

    _instance: _UseDefaultKey | None = None

    def __new__(cls) -> _UseDefaultKey:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "USE_DEFAULT_KEY"


#: ``ProbeRequest.api_key`` value meaning "the key the run was configured with"
USE_DEFAULT_KEY: Final = _UseDefaultKey()


@dataclass(frozen=True, slots=True)
class ProbeRequest:
    """One request a probe wants sent.

    The engine builds it with ``provider.encode(messages, params, api_key=...)`` and then
    applies the overrides, so probes stay dialect-neutral unless they need not be.

    - ``params`` use OpenAI names (``{"max_tokens": 8, "stream": True}``).
    - ``stream``: read the response as a stream of SSE events. ``None`` (default) means
      "whatever ``params["stream"]`` says".
    - ``api_key``: :data:`USE_DEFAULT_KEY` (default), ``None`` to send no credentials at
      all, or a (fake) key string to send instead of the configured one.
    - ``headers``: extra or replacing headers; a ``None`` value removes the header.
    - ``body``: raw bytes replacing the encoded body (malformed input); ``content_type``
      replaces the Content-Type header (useful with ``body``).
    - ``method`` / ``path``: override the HTTP method, or the URL (``path`` starting with
      ``/`` is appended to the profile's base URL; a full ``http(s)://`` URL is used as is).
    - ``label`` tells the exchanges of a multi-request probe apart; ``meta`` is copied into
      ``Exchange.meta`` (for example, what the request is expected to provoke).
    """

    messages: Sequence[Message]
    params: Mapping[str, Any] = field(default_factory=dict)
    stream: bool | None = None
    api_key: str | _UseDefaultKey | None = USE_DEFAULT_KEY
    headers: Mapping[str, str | None] = field(default_factory=dict)
    body: bytes | None = None
    content_type: str | None = None
    method: str | None = None
    path: str | None = None
    label: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def streaming(self) -> bool:
        """Whether the response is to be read as a stream."""
        if self.stream is not None:
            return self.stream
        return self.params.get("stream") is True


@dataclass(frozen=True, slots=True)
class ProbeContext:
    """What a probe function may look at to build its requests."""

    provider: Provider
    #: seeded per probe and run, so generated requests are reproducible (and replayable)
    random: random.Random
    #: a short harmless prompt that yields a few tokens
    prompt: str = "Say hello in five words."

    @property
    def model(self) -> str:
        return self.provider.model

    @property
    def dialect(self) -> Dialect:
        return self.provider.dialect

    @property
    def capabilities(self) -> Capabilities:
        return self.provider.capabilities

    def messages(self, text: str | None = None) -> list[Message]:
        """A one-turn conversation with ``text`` (default: :attr:`prompt`)."""
        return [{"role": "user", "content": text if text is not None else self.prompt}]


ProbeFunc: TypeAlias = Callable[..., "ProbeRequest | Iterable[ProbeRequest]"]
"""``(ProbeContext) -> requests``, or for a probe sent ``after`` another one
``(ProbeContext, Sequence[Exchange]) -> requests`` (the parent's successful exchanges)."""


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    """A registered probe."""

    name: str
    func: ProbeFunc
    description: str
    dialects: frozenset[Dialect]
    #: a :class:`Capabilities` field that must be true for the probe to be sent
    requires: str | None
    #: probes are sent in ascending priority; the budget cuts the tail
    priority: int
    #: the probe whose answer this one's requests are built from (sent in a later wave)
    after: str | None = None
    #: requests of the ``--max-requests`` budget kept for this probe (sent ``after``
    #: another) when the first wave is planned, so that probes of a lower priority are
    #: cut before it is
    reserve: int = 0

    def applies_to(self, dialect: Dialect) -> bool:
        return dialect in self.dialects

    def build(
        self, pctx: ProbeContext, parent: Sequence[Exchange] | None = None
    ) -> list[ProbeRequest]:
        """The requests of this probe for one target.

        A probe sent ``after`` another is given the parent's successful exchanges; it may
        raise :class:`Skipped` (or :class:`Refused`) when they give it nothing to build on.
        """
        if self.after is not None:
            if parent is None:
                raise TypeError(f"probe {self.name!r} is built from the answer of {self.after!r}")
            produced = self.func(pctx, list(parent))
        else:
            produced = self.func(pctx)
        if isinstance(produced, ProbeRequest):
            return [produced]
        requests = list(produced)
        for item in requests:
            if not isinstance(item, ProbeRequest):
                raise TypeError(f"probe {self.name!r} produced {type(item).__name__}")
        return requests


PROBES: dict[str, ProbeSpec] = {}


def probe(
    name: str,
    *,
    dialects: Iterable[Dialect] | None = None,
    requires: str | None = None,
    priority: int = 50,
    after: str | None = None,
    reserve: int = 0,
) -> Callable[[ProbeFunc], ProbeFunc]:
    """Register a probe: a function ``(ProbeContext) -> ProbeRequest | Iterable[ProbeRequest]``.

    The docstring's first line describes the probe. Priority orders the probes (lower is
    sent first, so it survives a small ``--max-requests``); the core probes use 0-20.

    ``after="other"`` makes a probe whose requests depend on an answer: it is sent once
    ``other`` has been answered, and its function is
    ``(ProbeContext, Sequence[Exchange]) -> requests``, given ``other``'s successful
    exchanges. When ``other`` was not sent, failed or was refused, this probe is not sent
    and its checks are skipped with the reason. A check that reads a dependent probe
    declares it like any other (the engine adds the parent). ``reserve`` keeps that many
    requests of the budget for it while the first wave is planned (its priority then
    counts against the independent probes'); without it, it gets what is left.
    """
    _check_capability_name(requires)
    if after is not None and after == name:
        raise ValueError(f"probe {name!r} cannot be sent after itself")
    if reserve < 0 or (reserve and after is None):
        raise ValueError(
            f"probe {name!r}: reserve is a count of requests for a probe sent after another"
        )

    def decorate(func: ProbeFunc) -> ProbeFunc:
        if name in PROBES and PROBES[name].func is not func:
            raise ValueError(
                f"probe {name!r} is registered twice{_rerun_hint(PROBES[name].func, func)}"
            )
        PROBES[name] = ProbeSpec(
            name=name,
            func=func,
            description=_first_line(func.__doc__) or name,
            dialects=frozenset(dialects) if dialects is not None else ALL_DIALECTS,
            requires=requires,
            priority=priority,
            after=after,
            reserve=reserve,
        )
        return func

    return decorate


def get_probe(name: str) -> ProbeSpec:
    """The probe registered as ``name`` (``KeyError`` when there is none)."""
    return PROBES[name]


# --------------------------------------------------------------------------- checks


class CheckContext:
    """What a check may look at: the target's profile and the exchanges of its probes.

    Built by the engine (:func:`conformance.engine.evaluate_one`) for each check; checks
    never construct one. ``exchanges`` maps probe names to their exchanges,
    ``unavailable`` probe names to why they were not sent (the check is skipped) and
    ``broken`` probe names to why they could not be built (the check is an error).
    """

    def __init__(
        self,
        *,
        spec: CheckSpec,
        provider: Provider,
        exchanges: Mapping[str, Sequence[Exchange]],
        unavailable: Mapping[str, str],
        broken: Mapping[str, str] | None = None,
    ) -> None:
        self.spec = spec
        self.provider = provider
        self._exchanges = exchanges
        self._unavailable = unavailable
        self._broken = broken or {}
        #: the clean refusals :func:`conformance.checks._judge.accepted` met (a skip that
        #: reports one of them is a skip by design, even when the check re-raises it in its
        #: own words)
        self.refusals: list[str] = []

    @property
    def dialect(self) -> Dialect:
        return self.provider.dialect

    @property
    def capabilities(self) -> Capabilities:
        return self.provider.capabilities

    def _declared(self, probe_name: str) -> None:
        if probe_name not in self.spec.probes:
            raise KeyError(
                f"check {self.spec.id!r} reads probe {probe_name!r} without declaring it"
            )

    def exchanges(self, probe_name: str) -> list[Exchange]:
        """Every exchange of a probe (raises :class:`Skipped` when it was not made)."""
        self._declared(probe_name)
        bug = self._broken.get(probe_name)
        if bug is not None:
            raise Errored(bug)
        reason = self._unavailable.get(probe_name)
        if reason is not None:
            raise Skipped(reason)
        found = list(self._exchanges.get(probe_name, ()))
        if not found:
            raise Skipped(f"not judged: probe {probe_name!r} made no request")
        return found

    def exchange(self, probe_name: str, label: str | None = None) -> Exchange:
        """The (first, or labelled) exchange of a probe; :class:`Skipped` when absent."""
        found = self.exchanges(probe_name)
        if label is None:
            return found[0]
        for ex in found:
            if ex.meta.get("label") == label:
                return ex
        raise Skipped(f"not judged: probe {probe_name!r} has no request labelled {label!r}")

    def all_exchanges(self) -> list[Exchange]:
        """Every exchange of the run, whatever the probe (for cross-cutting checks)."""
        return [ex for exs in self._exchanges.values() for ex in exs]

    def completed(self, probe_name: str, label: str | None = None) -> Exchange:
        """The exchange, or :class:`Skipped` when it did not complete at the transport level.

        Transport trouble (timeouts, truncation, oversize bodies) and redirects are judged
        once by the ``robustness`` family; other checks are then not judged rather than
        failed twice.
        """
        ex = self.exchange(probe_name, label)
        if ex.error is not None:
            raise Skipped(
                f"not judged: probe {probe_name!r} did not complete "
                f"({ex.error.kind.value}: {ex.error.message})"
            )
        if ex.status is not None and 300 <= ex.status < 400:
            # a redirect that was not followed is judged once, by robustness.no_redirect
            where = ex.header("location")
            raise Skipped(
                f"not judged: probe {probe_name!r} was answered with a redirect "
                f"(HTTP {ex.status}{' to ' + where if where else ''}; see robustness.no_redirect)"
            )
        return ex

    def successful(self, probe_name: str, label: str | None = None) -> Exchange:
        """The exchange, or :class:`Skipped` unless it completed with a 2xx status."""
        ex = self.completed(probe_name, label)
        if ex.status is None or not 200 <= ex.status < 300:
            raise Skipped(
                f"not judged: probe {probe_name!r} was answered with HTTP {ex.status}, "
                "not a success"
            )
        return ex


CheckFunc: TypeAlias = Callable[[CheckContext], "str | None"]


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """A registered check."""

    id: str
    title: str
    #: what the check verifies, in the user's words (the function's docstring)
    description: str
    severity: Severity
    #: the specification or document the property comes from
    source: str
    dialects: frozenset[Dialect]
    probes: tuple[str, ...]
    #: a :class:`Capabilities` field that must be true, else the check is skipped
    requires: str | None
    #: the check can at most warn: ``Failed`` is reported as ``warned``
    warn_only: bool
    func: CheckFunc
    #: the fact of :data:`conformance.providers.facts.FACTS` the check judges (its basis
    #: is ``document`` for a profile whose document states it, ``openai`` otherwise)
    fact: str | None = None
    #: a basis of the check's own instead of a fact (``http``, or ``openai``: a rule only
    #: the OpenAI specification or SDK makes); see :mod:`conformance.checks.basis`
    basis: Basis | None = None

    @property
    def category(self) -> str:
        """The family, that is the id up to the first dot (``"stream"``)."""
        return self.id.split(".", 1)[0]

    def applies_to(self, dialect: Dialect) -> bool:
        return dialect in self.dialects


CHECKS: dict[str, CheckSpec] = {}


def check(
    *,
    id: str,
    title: str,
    severity: Severity,
    source: str,
    probes: Sequence[str] = (),
    dialects: Iterable[Dialect] | None = None,
    requires: str | None = None,
    warn_only: bool = False,
    fact: str | None = None,
    basis: str | None = None,
) -> Callable[[CheckFunc], CheckFunc]:
    """Register a check function ``(CheckContext) -> str | None``.

    ``id`` is stable and dotted (``family.property``); ``title`` is the one-line report
    text; the docstring is the description. ``probes`` names every probe the check reads
    (the engine sends only the probes that selected checks declare). Exactly one of
    ``fact`` (the documented fact judged, ``fact="auth"``) and ``basis`` (``"http"`` or
    ``"openai"``) says on what grounds the check judges (see :mod:`conformance.checks.basis`).
    """
    if "." not in id or id != id.strip() or " " in id:
        raise ValueError(f"check id {id!r} must be dotted, like 'stream.done_sentinel'")
    _check_capability_name(requires)
    validate_declaration(id, fact, basis)

    def decorate(func: CheckFunc) -> CheckFunc:
        if id in CHECKS and CHECKS[id].func is not func:
            raise ValueError(
                f"check {id!r} is registered twice{_rerun_hint(CHECKS[id].func, func)}"
            )
        description = " ".join((func.__doc__ or "").split())
        if not description:
            raise ValueError(f"check {id!r} needs a docstring (its description)")
        CHECKS[id] = CheckSpec(
            id=id,
            title=title,
            description=description,
            severity=Severity(severity),
            source=source,
            dialects=frozenset(dialects) if dialects is not None else ALL_DIALECTS,
            probes=tuple(probes),
            requires=requires,
            warn_only=warn_only,
            func=func,
            fact=fact,
            basis=Basis(basis) if basis is not None else None,
        )
        return func

    return decorate


def get_check(check_id: str) -> CheckSpec:
    """The check registered as ``check_id`` (``KeyError`` when there is none)."""
    return CHECKS[check_id]


def select_checks(
    *, dialect: Dialect | None = None, only: str | Sequence[str] | None = None
) -> list[CheckSpec]:
    """Registered checks for a dialect, optionally filtered.

    ``only`` is a comma-separated list (or a sequence) of glob patterns on the check id; a
    pattern without a dot or wildcard also matches a whole family (``"stream"`` ==
    ``"stream.*"``).
    """
    patterns: list[str] = []
    if only:
        items = only.split(",") if isinstance(only, str) else list(only)
        for item in (p.strip() for p in items):
            if item:
                patterns.append(item)
                if not any(c in item for c in ".*?["):
                    patterns.append(item + ".*")
    chosen = []
    for spec in sorted(CHECKS.values(), key=lambda s: s.id):
        if dialect is not None and not spec.applies_to(dialect):
            continue
        if patterns and not any(fnmatch.fnmatchcase(spec.id, p) for p in patterns):
            continue
        chosen.append(spec)
    return chosen


# --------------------------------------------------------------------------- helpers


def _rerun_hint(old: Callable[..., object], new: Callable[..., object]) -> str:
    """Why a name is registered twice when both functions are the same definition.

    The same module run a second time (it was removed from ``sys.modules``, as
    ``pytester`` does when its test ends) defines a new function object: still an error,
    as the registry would otherwise mix the two runs' objects, but one that says so.
    """
    where = (old.__module__, old.__qualname__)
    if where != (new.__module__, new.__qualname__):
        return ""
    return (
        f": module {old.__module__!r} was imported again after it left sys.modules;"
        " import it once (for tests: before a pytester snapshot)"
    )


def _first_line(doc: str | None) -> str:
    for line in (doc or "").strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def _check_capability_name(name: str | None) -> None:
    if name is not None and name not in Capabilities.__dataclass_fields__:
        raise ValueError(f"unknown capability {name!r}; see providers.base.Capabilities")
