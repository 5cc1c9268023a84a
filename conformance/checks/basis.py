"""The basis of a verdict: on what grounds a check judges a target of a given profile.

A user asks two questions of a provider's server: does it do what its own document
promises, and does it behave as OpenAI clients expect? Every check result says which one
it answers:

- ``document``: the provider's document states the rule (the result cites the section);
- ``openai``: the OpenAI specification, or what the official SDK and common clients
  need, beyond the provider's document (a compatibility finding);
- ``http``: HTTP and server-sent-events standards, which every server owes its clients.

A check declares the fact it judges (``@check(..., fact="auth")``, a name of
:data:`conformance.providers.facts.FACTS`) or a basis of its own (``basis="http"``, or
``basis="openai"`` for a rule only the OpenAI specification or SDK makes);
:func:`resolve_basis` turns that into the basis for one profile, from the profile's
``documented`` mapping. For the OpenAI profile, whose document is the OpenAI
specification, every rule but HTTP's is ``document`` and cites the check's source.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from conformance.providers.facts import FACTS

if TYPE_CHECKING:
    from conformance.providers.base import Provider

__all__ = [
    "DECLARED_BASES",
    "Basis",
    "Declared",
    "Resolved",
    "resolve_basis",
    "validate_declaration",
]


class Basis(StrEnum):
    """On what grounds a check judges the target."""

    #: the provider's document states the rule
    DOCUMENT = "document"
    #: the OpenAI specification or what OpenAI clients need, beyond the provider's document
    OPENAI = "openai"
    #: HTTP and SSE standards
    HTTP = "http"


#: the bases a check may declare instead of a fact
DECLARED_BASES: frozenset[Basis] = frozenset({Basis.HTTP, Basis.OPENAI})


@dataclass(frozen=True, slots=True)
class Resolved:
    """The basis of one check for one profile, and what it rests on in words."""

    basis: Basis
    #: the cited section of the provider's document, or the check's own source
    ref: str


def validate_declaration(check_id: str, fact: str | None, basis: str | None) -> None:
    """Raise ``ValueError`` unless a check declares exactly one known fact or basis."""
    if (fact is None) == (basis is None):
        raise ValueError(
            f"check {check_id!r} declares the fact it judges (fact='auth', one of "
            "conformance.providers.facts.FACTS) or its basis (basis='http' or 'openai'), "
            "exactly one of them"
        )
    if fact is not None and fact not in FACTS:
        raise ValueError(f"check {check_id!r}: unknown fact {fact!r}; see providers.facts")
    if basis is not None and basis not in {b.value for b in DECLARED_BASES}:
        raise ValueError(f"check {check_id!r}: basis {basis!r} is not 'http' or 'openai'")


class Declared(Protocol):
    """What a check declares about its grounds (a registered check's spec has it)."""

    @property
    def fact(self) -> str | None: ...
    @property
    def basis(self) -> Basis | None: ...
    @property
    def source(self) -> str: ...


def resolve_basis(spec: Declared, provider: type[Provider] | Provider) -> Resolved:
    """The basis of ``spec`` for ``provider``'s profile.

    ``basis="http"`` stays ``http``. For a profile whose document is the OpenAI
    specification everything else is ``document`` (citing the check's source). For any
    other profile a fact its ``documented`` mapping lists is ``document`` (citing the
    section); any other fact, and ``basis="openai"``, is ``openai``.
    """
    if spec.basis is Basis.HTTP:
        return Resolved(Basis.HTTP, spec.source)
    if provider.document_is_openai_spec:
        return Resolved(Basis.DOCUMENT, spec.source)
    if spec.fact is not None:
        cited = provider.documented.get(spec.fact)
        if cited is not None:
            return Resolved(Basis.DOCUMENT, f"{provider.name} document, {cited}")
    return Resolved(Basis.OPENAI, spec.source)
