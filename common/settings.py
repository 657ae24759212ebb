"""One way to validate a settings file, for the bot and the backend: a pydantic model of the
file's shape (types, ranges, and no key it does not know), and errors that name the key path,
the reason and, for a misspelled key, the nearest valid one (`chanel` -> did you mean `channel`?)."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class Strict(BaseModel):
    """A section of a settings file: unknown keys are errors, values are not silently converted."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def key_path(loc: tuple) -> str:
    """('groups', 1, 'name') -> groups[1].name"""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def first_problem(exc: ValidationError, model: type[BaseModel]) -> tuple[str, str]:
    """(key path, reason) of the first error, in the file's order of keys."""
    error = exc.errors(include_url=False)[0]
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    if error["type"] == "extra_forbidden":
        known = sorted(_fields_at(model, loc[:-1]))
        near = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.5)
        hint = f"did you mean {near[0]!r}?" if near else f"known keys: {', '.join(known)}"
        return key_path(loc), f"unknown setting ({hint})"
    if error["type"] == "missing":
        return key_path(loc), "is missing"
    message = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    if error["type"] not in ("value_error",) and not isinstance(value, (dict, list)):
        message += f", not {value!r}"
    return key_path(loc), message


def _fields_at(model: Any, loc: tuple) -> set[str]:
    """The keys a model allows at `loc` (through nested models, lists and optionals)."""
    current = model
    for part in loc:
        current = _model_of(current)
        if current is None:
            return set()
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part)
        if field is None:
            return set()
        current = field.annotation
    current = _model_of(current)
    return set(current.model_fields) if current is not None else set()


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as `list[Group] | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, typing.Union, types.UnionType, typing.Annotated) or origin is not None:
        for arg in typing.get_args(annotation):
            found = _model_of(arg)
            if found is not None:
                return found
    return None
