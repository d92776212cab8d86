"""Reading settings at an entry point: a bad value becomes one line naming the environment variable.

``read_settings(Settings)`` (or any pydantic-settings class: ``McpSettings``, the bot's settings) builds the
settings, and turns pydantic's ``ValidationError`` — or a ``.env`` that is not UTF-8 text — into a
``ConfigurationError`` such as::

    Invalid SEEDREAM_ARK_CONCURRENCY: 'abc'. Allowed: a whole number ≥ 0.

naming the variable (``ARK_API_KEY``, not ``ark_api_key``), where it was set (the environment or a
``.env`` file), the value (never a secret's) and what is allowed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import annotated_types
from pydantic import AliasChoices, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from core.errors import ConfigurationError

S = TypeVar("S", bound=BaseSettings)

_TYPE_WORDS: dict[Any, str] = {int: "a whole number", float: "a number", bool: "true or false"}

_KIND_WORDS = {
    "int": "a whole number", "float": "a number", "finite_number": "a number", "bool": "true or false",
    "greater": "a number", "less": "a number", "multiple": "a number",
}


def read_settings(cls: type[S], /, **values: Any) -> S:
    """``cls(**values)``, reading the environment and ``.env`` as the class says.

    Raises:
        ConfigurationError: a value is invalid, or ``.env`` cannot be read; one line naming the variable.
    """
    env_file = values.get("_env_file", cls.model_config.get("env_file"))
    try:
        return cls(**values)
    except ValidationError as exc:
        raise ConfigurationError(settings_error_message(exc, cls, given=values.keys(), env_file=env_file),
                                 variables=tuple(_variables(exc, cls))) from None
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"{_shown_file(env_file)} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
                                 f"at offset {exc.start}); fix it or remove it.") from None
    except OSError as exc:
        raise ConfigurationError(f"{_shown_file(env_file)} cannot be read ({exc.strerror or exc}); fix its "
                                 "permissions or remove it.") from None


def settings_error_message(error: ValidationError, cls: type[BaseSettings], *, given: Iterable[str] = (),
                           env_file: Any = None) -> str:
    """One line for every invalid value in ``error``: the variable, where it was set, its value, what is allowed.

    ``given`` are the fields passed to the class directly (e.g. from command-line flags), which did not come
    from the environment.
    """
    passed = set(given)
    parts = []
    for item in error.errors(include_url=False):
        field = str(item["loc"][0]) if item["loc"] else ""
        info = cls.model_fields.get(field)
        name = variable_for(cls, field)
        where = "" if field in passed else _source(name, env_file)
        value = "(hidden)" if _is_secret(info) else _shown(item.get("input"))
        parts.append(f"Invalid {name}{where}: {value}. Allowed: {_allowed(item, info)}.")
    return " ".join(parts)


def variable_for(cls: type[BaseSettings], field: str) -> str:
    """The environment variable that sets ``field`` of ``cls`` (the one in use when it has several)."""
    info = cls.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    choices = [c for c in alias.choices if isinstance(c, str)] if isinstance(alias, AliasChoices) else \
        [alias] if isinstance(alias, str) else []
    names = [c.upper() for c in choices if c != field] or [f"{cls.model_config.get('env_prefix', '')}{field}".upper()]
    set_now = {key.upper() for key in os.environ}
    return next((n for n in names if n in set_now), names[0])


def _variables(error: ValidationError, cls: type[BaseSettings]) -> list[str]:
    return [variable_for(cls, str(item["loc"][0])) for item in error.errors(include_url=False) if item["loc"]]


def _source(name: str, env_file: Any) -> str:
    if name in {key.upper() for key in os.environ} or not env_file:
        return ""
    files = env_file if isinstance(env_file, list | tuple) else [env_file]
    found = [Path(f) for f in files if Path(f).is_file()]
    return f" (in {found[-1].absolute()})" if found else ""


def _allowed(item: Any, info: FieldInfo | None) -> str:
    kind = str(item["type"])
    message = str(item["msg"])
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    noun = next((words for prefix, words in _KIND_WORDS.items() if kind.startswith(prefix)), None)
    if noun is None:
        return message.removeprefix("Input should be ").rstrip(".")
    if info is not None and info.annotation in _TYPE_WORDS:
        noun = _TYPE_WORDS[info.annotation]
    bounds = _bounds(info)
    return f"{noun} {bounds}" if bounds else noun


def _bounds(info: FieldInfo | None) -> str:
    """The field's numeric limits in words: "≥ 0", "> 0", "from 0 to 65535"."""
    low: tuple[str, float] | None = None
    high: tuple[str, float] | None = None
    for rule in info.metadata if info is not None else ():
        if isinstance(rule, annotated_types.Ge):
            low = ("≥", rule.ge)  # type: ignore[assignment]
        elif isinstance(rule, annotated_types.Gt):
            low = (">", rule.gt)  # type: ignore[assignment]
        elif isinstance(rule, annotated_types.Le):
            high = ("≤", rule.le)  # type: ignore[assignment]
        elif isinstance(rule, annotated_types.Lt):
            high = ("<", rule.lt)  # type: ignore[assignment]
    if low and high and low[0] == "≥" and high[0] == "≤":
        return f"from {low[1]:g} to {high[1]:g}"
    return " and ".join(f"{b[0]} {b[1]:g}" for b in (low, high) if b)


def _is_secret(info: FieldInfo | None) -> bool:
    return info is not None and (info.annotation is SecretStr or "SecretStr" in repr(info.annotation))


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shown_file(env_file: Any) -> str:
    files = env_file if isinstance(env_file, list | tuple) else [env_file or ".env"]
    return str(Path(files[-1]).absolute())
