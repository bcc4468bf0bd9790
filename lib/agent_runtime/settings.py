"""Typed settings from the environment: one frozen dataclass per component, read and checked once at start-up.

A settings class names its variable prefix (`PREFIX = "ORBIT_"`); its field `axon_timeout_ms` is read from
`ORBIT_AXON_TIMEOUT_MS`, converted to the field's type (str, int, float, bool, or `X | None`), and checked by the
class's `check()`. Any mistake stops the start-up with one line naming the variable, before a request is served.

Why hand-written: pydantic-settings does this, but it would put pydantic and its compiled core into the Lambda
package and both service images for what is about sixty lines here.
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields
from typing import Any, ClassVar, Protocol, TypeVar


class SettingsError(ValueError):
    """A setting that cannot be used; the message names the environment variable."""


class Settings(Protocol):
    PREFIX: ClassVar[str]

    def check(self) -> None: ...


S = TypeVar("S", bound=Settings)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def variable(cls: type[Any], name: str) -> str:
    """The environment variable of a field (`orbit`'s `axon_timeout_ms` -> ORBIT_AXON_TIMEOUT_MS)."""
    return f"{cls.PREFIX}{name.upper()}"


def _convert(raw: str, kind: Any, name: str) -> Any:
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
    text = raw.strip()
    try:
        if kind is bool:
            if text.lower() not in _TRUE | _FALSE:
                raise ValueError(text)
            return text.lower() in _TRUE
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
    except ValueError:
        expected = {bool: "true or false", int: "an integer", float: "a number"}[kind]
        raise SettingsError(f"{name} must be {expected}, not {raw!r}") from None
    return raw


def load(
    cls: type[S], environ: Mapping[str, str] | None = None, defaults: Mapping[str, Any] | None = None, **overrides: Any
) -> S:
    """An instance of `cls`: `overrides`, else the environment, else `defaults`, else the field's default."""
    environ = os.environ if environ is None else environ
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in fields(cls):  # type: ignore[arg-type]
        name = variable(cls, field.name)
        if field.name in overrides:
            values[field.name] = overrides[field.name]
        elif environ.get(name, "") != "":
            values[field.name] = _convert(environ[name], hints[field.name], name)
        elif defaults and field.name in defaults:
            values[field.name] = defaults[field.name]
        elif field.default is MISSING and field.default_factory is MISSING:
            raise SettingsError(f"{name} is required")
    unknown = set(overrides) - {f.name for f in fields(cls)}  # type: ignore[arg-type]
    if unknown:
        raise TypeError(f"{cls.__name__} has no setting {sorted(unknown)[0]!r}")
    settings = cls(**values)
    settings.check()
    return settings


def require(settings: Any, name: str, ok: Callable[[Any], bool], what: str) -> None:
    """Raise SettingsError naming the variable of `name` unless `ok(value)`."""
    value = getattr(settings, name)
    if not ok(value):
        raise SettingsError(f"{variable(type(settings), name)} {what}, not {value!r}")
