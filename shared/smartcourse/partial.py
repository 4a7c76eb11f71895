"""Partial updates (PATCH bodies, PUT of preferences): every field optional, at least one given,
and null only where it empties a value. The JSON schema states what the validator enforces."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel


def partial_schema(*not_nullable: str) -> Callable[[dict[str, Any]], None]:
    """`json_schema_extra` for a partial body: `minProperties: 1`, and no null for the fields that
    cannot be emptied (they stay optional)."""
    def edit(schema: dict[str, Any]) -> None:
        schema["minProperties"] = 1
        for name in not_nullable:
            prop = schema["properties"][name]
            options = [o for o in prop.pop("anyOf", []) if o.get("type") != "null"]
            prop.update(options[0] if len(options) == 1 else {"anyOf": options})
            prop.pop("default", None)
    return edit


def check_partial(model: BaseModel, not_nullable: tuple[str, ...]) -> None:
    """A partial body names at least one field; null clears only the fields that may be empty
    (call from a model validator: the ValueError becomes a 400 naming the body)."""
    if not model.model_fields_set:
        raise ValueError("name at least one field to change")
    for name in not_nullable:
        if name in model.model_fields_set and getattr(model, name) is None:
            raise ValueError(f"{name} cannot be null")
