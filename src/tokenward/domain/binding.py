"""Cyclr-style binding: PascalCase names matched case-insensitively, strings accepted for numbers
and booleans, numbers accepted where text is expected."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator

__all__ = ["CyclrModel", "LaxText", "describe_errors"]


def _to_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


LaxText = Annotated[str, BeforeValidator(_to_text)]


class CyclrModel(BaseModel):
    """Base of request bodies: keys bound case-insensitively; unknown keys ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _case_insensitive(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        names: dict[str, str] = {}
        for name, info in cls.model_fields.items():
            names[name.lower()] = info.alias or name
            if info.alias:
                names[info.alias.lower()] = info.alias
        return {names.get(str(key).lower(), str(key)): value for key, value in data.items()}


def describe_errors(exc: ValidationError) -> str:
    """One readable line per problem, never echoing the input value (it may be a secret)."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)
