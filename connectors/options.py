"""A connection's options: one pydantic model per connector kind, checked when the connection is
added (a bad option is refused with its name and why) and parsed each time a connector is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from core.errors import Unprocessable


class ConnectorOptions(BaseModel):
    """Options every connector kind declares as a model: unknown names are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class InvalidOptions(Unprocessable):
    """Options a connector of this kind does not take, or a value it cannot use."""


OptionsT = TypeVar("OptionsT", bound=ConnectorOptions)


def parse_options(model: type[OptionsT], kind: str, options: Mapping[str, Any]) -> OptionsT:
    """``options`` as ``model``; each problem named by its option, e.g. ``page_size``."""
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        known = ", ".join(sorted(f.alias or name for name, f in model.model_fields.items()))
        raise InvalidOptions(f"{kind} connection: {'; '.join(_problems(exc, known))}") from None


# What pydantic says when a value is not the shape one member of a union (``true`` or an
# object) expects: worth saying only when no member got further than that.
_SHAPE_MISMATCHES = frozenset({"model_type", "dict_type", "literal_error", "bool_type"})


def _problems(exc: ValidationError, known: str) -> list[str]:
    by_option: dict[int | str, list[Any]] = {}
    for error in exc.errors():
        by_option.setdefault(error["loc"][0], []).append(error)
    problems = []
    for errors in by_option.values():
        deeper = [e for e in errors if e["type"] not in _SHAPE_MISMATCHES]
        if not deeper:
            message = " or ".join(dict.fromkeys(e["msg"] for e in errors))
            option = _option_path(errors[0]["loc"])
            problems.append(f"option {option!r}: {message} (got {errors[0]['input']!r})")
        for error in deeper:
            option = _option_path(error["loc"])
            if error["type"] != "extra_forbidden":
                problems.append(f"option {option!r}: {error['msg']} (got {error['input']!r})")
            elif "." in option:
                problems.append(f"unknown option {option!r}")
            else:
                problems.append(f"unknown option {option!r} (options: {known})")
    return problems


def _option_path(loc: tuple[int | str, ...]) -> str:
    """``booking.fields.start``: the location without the union members pydantic names."""
    parts = [
        str(part)
        for part in loc
        if not (isinstance(part, str) and (part[:1].isupper() or "[" in part or part == "bool"))
    ]
    return ".".join(parts)
