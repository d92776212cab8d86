"""All configuration, read once from the environment (and an optional ``.env``) at an entry point.

Keys use each provider's own conventional variable names (``ARK_API_KEY``, ``VOLC_ACCESSKEY`` …, also accepted
with a ``SEEDREAM_`` prefix); everything else is ``SEEDREAM_*``. Keys are ``SecretStr`` so they never print.

The per-provider fields (credentials, ``SEEDREAM_<KIND>_BASE_URL``, ``_CONCURRENCY``, ``_IMAGES_PER_MINUTE`` and
each provider's own options) are derived from the provider specs (``core.providers``): ``settings_class``
builds a settings class for any set of specs, and ``Settings`` is the one for the built-in providers.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, AliasChoices, Field, SecretStr, create_model, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.catalog import Catalog
from core.providers import BUILTIN_SPECS
from core.providers.spec import ProviderConfig, ProviderSpec

APP_NAME = "seedream-studio"
ENV_PREFIX = "SEEDREAM_"


def user_data_dir() -> Path:
    """The absolute per-user data directory for this platform (never the current directory)."""
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return (base / APP_NAME).absolute()


class CommonSettings(BaseSettings):
    """The settings every deployment has; ``settings_class`` adds the providers' own."""

    # An empty variable is not set: hosts write "" for a field left empty (e.g. Claude Desktop's form).
    # No NaN or infinity: a timeout of "nan" or a latency of "inf" is a typo, not a setting.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", populate_by_name=True,
                                      env_ignore_empty=True, allow_inf_nan=False)

    #: The providers these settings configure (set by ``settings_class``).
    specs: ClassVar[tuple[ProviderSpec, ...]] = ()

    provider: str | None = Field(None, description="default provider: ark, visual, chanjing, gateway, sandbox…")

    # Where results go
    data_dir: Path = Field(default_factory=user_data_dir)
    output_dir: Path | None = None  # default: <data_dir>/images
    jobs_db: Path | None = None  # default: <data_dir>/jobs.sqlite3

    # HTTP
    connect_timeout: float = Field(10.0, gt=0)
    image_timeout: float = Field(180.0, gt=0, description="read timeout per image; generations take ~30 s")
    max_retries: int = Field(3, ge=0)
    max_download_bytes: int = Field(64 * 1024 * 1024, gt=0)

    # Shared backends (several processes on one provider account); unset: the embedded SQLite file and
    # admission, pacing and job events in this process only.
    database_url: str | None = Field(None, description="postgresql://… shared job database (or sqlite:///path)")
    redis_url: str | None = Field(None, description="redis://… shared admission, pacing and job events")
    redis_prefix: str = Field("seedream", min_length=1, description="prefix of every Redis key (one per deployment)")
    lease_seconds: float = Field(30.0, gt=0, le=3600, description="how soon a dead process's slots and jobs are freed")
    cancel_poll_seconds: float = Field(0.5, gt=0, le=60, description="how often a process looks for cancels asked "
                                       "for its running jobs in another process")

    # Built-in sandbox (the emulator in-process)
    sandbox_latency: float = Field(0.0, ge=0, description="seconds per image the sandbox takes")

    @field_validator("data_dir", "output_dir", "jobs_db", mode="after")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().absolute() if value is not None else None

    @field_validator("database_url", mode="after")
    @classmethod
    def _database_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.strip()
        if text.split("://", 1)[0].split("+", 1)[0].lower() not in ("postgresql", "postgres", "sqlite"):
            raise ValueError("a postgresql://user@host:5432/database (or sqlite:///path) URL")
        return text

    @field_validator("redis_url", mode="after")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.strip()
        if urlsplit(text).scheme.lower() not in ("redis", "rediss", "unix"):
            raise ValueError("a redis://host:6379/0 (or rediss://, unix://) URL")
        return text

    @property
    def database(self) -> str | Path:
        """The job database: ``SEEDREAM_DATABASE_URL`` when set, else the embedded SQLite file."""
        return self.database_url or self.jobs_path

    @property
    def images_dir(self) -> Path:
        return self.output_dir or self.data_dir / "images"

    @property
    def jobs_path(self) -> Path:
        return self.jobs_db or self.data_dir / "jobs.sqlite3"

    @cached_property
    def catalog(self) -> Catalog:
        """The providers and models these settings configure, with their options (e.g. Ark's endpoint map)."""
        return Catalog(self.specs, options={spec.kind: self.provider_config(spec.kind).options for spec in self.specs})

    def provider_config(self, kind: str) -> ProviderConfig:
        """The settings of one provider kind (credentials revealed, blank when unset)."""
        spec = {s.kind: s for s in self.specs}[kind]
        names = FieldNames(spec)
        secrets = tuple(_reveal(getattr(self, name)) for name in names.credentials)
        return ProviderConfig(credentials=secrets, base_url=getattr(self, names.base_url),
                              concurrency=getattr(self, names.concurrency),
                              images_per_minute=getattr(self, names.images_per_minute),
                              options={option: getattr(self, field) for option, field in names.options.items()})

    def provider_limits(self) -> dict[str, tuple[int, int]]:
        """(concurrency, images per minute) of every configured provider kind; 0 means unlimited."""
        return {kind: self.limits_for(kind) for kind in self.catalog.providers}

    def limits_for(self, kind: str) -> tuple[int, int]:
        """(concurrency, images per minute) of a provider kind; 0 means unlimited."""
        config = self.provider_config(kind)
        return config.concurrency, config.images_per_minute


def http_url(value: str) -> str:
    """An absolute http(s) URL with a host (a provider base URL), surrounding spaces removed.

    Raises:
        ValueError: anything else (pydantic reports it naming the variable).
    """
    text = value.strip()
    try:
        parts = urlsplit(text)
        valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and (parts.port or 0) >= 0
    except ValueError:  # e.g. a port that is not a number
        valid = False
    if not valid:
        raise ValueError("an absolute http(s) URL such as https://ark.cn-beijing.volces.com/api/v3")
    return text


HttpUrl = Annotated[str, AfterValidator(http_url)]


class FieldNames:
    """The settings field names of one provider spec (one rule, used to declare and to read them)."""

    def __init__(self, spec: ProviderSpec) -> None:
        self.credentials = tuple(variable.lower().removeprefix(ENV_PREFIX.lower()) for variable in spec.credentials)
        self.base_url = f"{spec.kind}_base_url"
        self.concurrency = f"{spec.kind}_concurrency"
        self.images_per_minute = f"{spec.kind}_images_per_minute"
        self.options = {option: f"{spec.kind}_{option}" for option in spec.options}


def provider_fields(spec: ProviderSpec) -> dict[str, Any]:
    """The pydantic field definitions of one provider's settings."""
    names = FieldNames(spec)
    fields: dict[str, Any] = {}
    for variable, name in zip(spec.credentials, names.credentials, strict=True):
        aliases = (variable,) if variable.startswith(ENV_PREFIX) else (variable, ENV_PREFIX + variable)
        fields[name] = (SecretStr | None, Field(None, validation_alias=AliasChoices(*aliases)))
    fields[names.base_url] = (HttpUrl, spec.base_url)
    fields[names.concurrency] = (int, Field(spec.concurrency, ge=0))
    fields[names.images_per_minute] = (int, Field(spec.images_per_minute, ge=0))
    for option, definition in spec.options.items():
        fields[names.options[option]] = definition
    return fields


def settings_class(specs: Sequence[ProviderSpec], *, name: str = "ProviderSettings") -> type[CommonSettings]:
    """A settings class with the common fields and the fields of every provider in ``specs``."""
    fields: dict[str, Any] = {}
    for spec in specs:
        fields.update(provider_fields(spec))
    cls = create_model(name, __base__=CommonSettings, __module__=__name__, **fields)
    cls.specs = tuple(specs)
    return cls


class Settings(settings_class(BUILTIN_SPECS)):  # type: ignore[misc]
    """Configuration for the core and the built-in providers. Build it in an entry point and pass it down."""


def _reveal(secret: SecretStr | None) -> str:
    return secret.get_secret_value().strip() if secret is not None else ""
