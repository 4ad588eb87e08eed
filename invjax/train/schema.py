"""Typed configuration models (pydantic v2) and their one-line errors.

Pydantic checks types, ranges and unknown keys; `checked(section)` turns its
`ValidationError` into a `ValueError` of one line naming `section.field`, e.g.
`trainer.learning_rate: Input should be a valid number, ..., got 'abc'`.

References: SPEC §4 (run configurations); issue 12, item 6 (bad input).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Annotated, Any

import pydantic
from pydantic import AfterValidator, BeforeValidator, Field

_UNKNOWN = ("unexpected_keyword_argument", "extra_forbidden")


def one_line(error: pydantic.ValidationError, section: str, allowed=()) -> str:
    """Every error of `error` on one line, each naming `section.field`."""
    parts = []
    for item in error.errors():
        loc = _where(section, item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if not item["loc"]:  # a cross-field check: its message names the fields
            parts.append(message)
        elif item["type"] == "missing":
            parts.append(f"{loc}: required")
        elif item["type"] in _UNKNOWN:
            parts.append(f"{loc}: unknown key; allowed: {sorted(allowed)}")
        elif item["type"] == "value_error":
            parts.append(f"{loc}: {message}")
        else:
            parts.append(f"{loc}: {message} (got {item['input']!r})")
    return "; ".join(parts)


def _where(section: str, loc) -> str:
    """`trainer.train[2]` from section "trainer" and loc ("train", 2)."""
    out = section
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def checked(section: str):
    """Class decorator for a pydantic dataclass: a bad value raises a one-line
    `ValueError` naming `section.field` (also under `dataclasses.replace`)."""

    def wrap(cls):
        validate = cls.__init__
        allowed = [f.name for f in dataclasses.fields(cls)]

        @functools.wraps(validate)
        def __init__(self, *args, **kwargs):
            try:
                validate(self, *args, **kwargs)
            except pydantic.ValidationError as error:
                raise ValueError(one_line(error, section, allowed)) from None

        cls.__init__ = __init__
        return cls

    return wrap


def choice(*allowed):
    """A validator accepting only the values `allowed`."""

    def check(value):
        if value not in allowed:
            raise ValueError(f"{value!r}; allowed: {list(allowed)}")
        return value

    return AfterValidator(check)


def _no_bool(value):
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


Integer = Annotated[int, BeforeValidator(_no_bool)]
Positive = Annotated[float, Field(gt=0)]
AtLeastOne = Annotated[Integer, Field(ge=1)]


class RunConfig(pydantic.BaseModel):
    """The top level of a run configuration (the sections are checked by their owners:
    `problem` by the setting, `policy` by its factory, `trainer` by `TrainConfig`)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    setting: str
    problem: dict[str, Any] = {}
    policy: dict[str, Any] = {}
    trainer: dict[str, Any] = {}
    seed: Annotated[Integer, Field(ge=0)] = 0
    n_seeds: AtLeastOne = 1


def check_run(config: Any) -> RunConfig:
    """The validated top level of a run configuration (a mapping)."""
    if not isinstance(config, dict):
        raise ValueError(f"config: expected a mapping of keys to values, got {config!r}")
    try:
        return RunConfig(**config)
    except pydantic.ValidationError as error:
        raise ValueError(one_line(error, "", list(RunConfig.model_fields))) from None
