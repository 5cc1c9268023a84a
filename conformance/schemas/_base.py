"""The base model and the violation report shared by every schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class StrictModel(BaseModel):
    """Strict types (no ``"1"`` for 1, no ``1.0`` for an integer, no ``1`` for ``True``);
    unknown fields allowed, as servers add their own."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


@dataclass(frozen=True, slots=True)
class SchemaViolation:
    """One place where a document breaks its schema."""

    #: where, as a dotted path (``choices.0.finish_reason``); ``""`` for the document itself
    loc: str
    #: what is wrong, in pydantic's words
    message: str
    #: pydantic's error type, e.g. ``int_type`` or ``literal_error``
    type: str
    #: the offending value (cut to 200 characters when long)
    input: Any = None

    def __str__(self) -> str:
        where = self.loc or "(document)"
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"loc": self.loc, "message": self.message, "type": self.type, "input": self.input}


def _short(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value[:200] + "..." if isinstance(value, str) and len(value) > 200 else value
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def violations(model: type[BaseModel], data: Any) -> list[SchemaViolation]:
    """Validate parsed JSON ``data`` against ``model``; ``[]`` means it conforms."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return [
            SchemaViolation(
                loc=".".join(str(p) for p in err["loc"]),
                message=err["msg"],
                type=err["type"],
                input=_short(err.get("input")),
            )
            for err in exc.errors(include_url=False)
        ]
    return []
