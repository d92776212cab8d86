"""The bot's own configuration: the Discord token, where Discord is, and the community policy (layer 1,
pure: no discord.py).

Read once at the entry point from the environment (``DISCORD_TOKEN`` and ``SEEDREAM_DISCORD_*``) and, when
given, a TOML or JSON file (``SEEDREAM_DISCORD_CONFIG`` or ``--config``) whose keys are the field names
below. Environment variables win over the file. Lists may be written comma-separated in the environment
(``SEEDREAM_DISCORD_ALLOWED_CHANNELS=123,456``) or as arrays in the file.

A key the bot does not know (in the file, or a ``SEEDREAM_DISCORD_*`` variable) is refused with the nearest
known one (``UnknownSettingError``, a ``ConfigurationError``): a typo must not silently leave a limit at its
default. Entry points read these settings with ``core.settings_errors.read_settings``, which turns an invalid
value into one line naming its variable.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    JsonConfigSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bots.discord.policy import PolicyConfig
from core.errors import ConfigurationError

CONFIG_ENV = "SEEDREAM_DISCORD_CONFIG"
ENV_PREFIX = "SEEDREAM_DISCORD_"
SHARD_COUNT_ENV = "SEEDREAM_DISCORD_SHARD_COUNT"
MAX_SHARDS = 100_000  # far above any bot's need; keeps a typo from launching a million connections


class UnknownSettingError(ConfigurationError):
    """A configuration key that is not a setting; the message names the nearest known one."""

    def __init__(self, key: str, *, where: str, known: Iterable[str]) -> None:
        known = sorted(set(known))
        nearest = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
        hint = f"did you mean {nearest[0]!r}?" if nearest else f"known keys: {', '.join(known)}"
        super().__init__(f"unknown setting {key!r} in {where}; {hint}", variables=nearest[:1])
        self.key = key
        self.nearest = nearest[0] if nearest else None

IdSet = Annotated[frozenset[int], NoDecode]
IdList = Annotated[tuple[int, ...], NoDecode]
NameList = Annotated[tuple[str, ...], NoDecode]


class BotSettings(BaseSettings):
    """Everything the Discord adapter needs besides the core ``Settings``."""

    model_config = SettingsConfigDict(
        env_prefix="SEEDREAM_DISCORD_", env_file=".env", extra="ignore", populate_by_name=True
    )

    token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("DISCORD_TOKEN", "SEEDREAM_DISCORD_TOKEN")
    )
    config_file: Path | None = Field(None, validation_alias=AliasChoices(CONFIG_ENV, "config_file"))
    # Where Discord is (default: discord.com). Any Discord-compatible server, e.g. a local fake Discord in
    # tests: the REST base (``…/api/v10``) and the gateway websocket URL. With only the REST base set, the
    # gateway is the one that server announces at ``GET /gateway/bot``.
    api_base: str | None = None
    gateway_url: str | None = None

    # Policy (see PolicyConfig for what each means)
    allowed_guilds: IdSet = frozenset()
    allowed_channels: IdSet = frozenset()
    generator_roles: NameList = ()
    allow_dms: bool = True
    nsfw_channels_only: bool = False
    always_spoiler: bool = False
    cooldown_seconds: float = Field(10.0, ge=0)
    max_concurrent_jobs: int = Field(3, ge=0)
    user_daily_images: int = Field(50, ge=0)
    guild_daily_images: int = Field(500, ge=0)
    owner_only_buttons: bool = False
    mod_log_channel: int | None = None

    # Shards (discord.py's sharded client): this process runs ``shard_ids`` (all when empty) of ``shard_count``.
    # Unset: one gateway connection, no sharding. Processes share their state through the backends.
    shard_count: int | None = Field(None, ge=1, le=MAX_SHARDS)
    shard_ids: IdList = ()

    # Runtime
    token_margin_seconds: float = Field(
        90.0, ge=0, description="leave the interaction this long before expiry"
    )
    guild_ready_timeout: float = Field(2.0, ge=0)
    log_level: str = "INFO"

    @field_validator("allowed_guilds", "allowed_channels", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            return frozenset(int(part) for part in _split(value))
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _shard_list(cls, value: Any) -> Any:
        if isinstance(value, int):
            return (value,)
        if isinstance(value, str):
            parts = _split(value)
            if not all(part.isdigit() for part in parts):
                raise ValueError("shard ids as whole numbers separated by commas, e.g. 0,1")
            return tuple(int(part) for part in parts)
        return value

    @field_validator("shard_ids")
    @classmethod
    def _shards_in_range(cls, value: tuple[int, ...], info: ValidationInfo) -> tuple[int, ...]:
        if not value or "shard_count" not in info.data:  # none given, or the count itself is invalid
            return value
        count = info.data["shard_count"]
        if count is None:
            raise ValueError(f"shard ids only with {SHARD_COUNT_ENV} set (the total number of shards)")
        outside = [i for i in value if not 0 <= i < count]
        if outside:
            raise ValueError(f"shard ids from 0 to {count - 1} ({SHARD_COUNT_ENV} is {count})")
        return tuple(sorted(set(value)))

    @field_validator("generator_roles", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(_split(value))
        if isinstance(value, list | tuple | set | frozenset):
            return tuple(str(v).strip() for v in value if str(v).strip())
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Init arguments, then the environment, then ``.env``, then the config file."""
        _refuse_unknown_variables(settings_cls)
        sources = [init_settings, env_settings, dotenv_settings]
        path = _config_path(init_settings)
        if path is not None:
            source = _file_source(settings_cls, path)
            unknown = sorted(set(source()) - set(settings_cls.model_fields) - {"config_file"})
            if unknown:
                raise UnknownSettingError(unknown[0], where=str(path), known=settings_cls.model_fields)
            sources.append(source)
        return (*sources, file_secret_settings)

    @property
    def sharded(self) -> bool:
        """Whether this process runs shards (``shard_count`` set) rather than one unsharded connection."""
        return self.shard_count is not None

    @property
    def own_shards(self) -> tuple[int, ...]:
        """The shards this process runs: ``shard_ids``, or every shard of ``shard_count`` (none unsharded)."""
        if self.shard_count is None:
            return ()
        return self.shard_ids or tuple(range(self.shard_count))

    def describe_shards(self) -> str:
        """The shards of this process, for the start-up log (``shards=0,1 of 4``)."""
        if self.shard_count is None:
            return "shards=off (one connection)"
        return f"shards={','.join(str(i) for i in self.own_shards)} of {self.shard_count}"

    def policy(self) -> PolicyConfig:
        """The policy part, as the immutable value the bot enforces."""
        return PolicyConfig(
            allowed_guilds=self.allowed_guilds,
            allowed_channels=self.allowed_channels,
            generator_roles=self.generator_roles,
            allow_dms=self.allow_dms,
            nsfw_channels_only=self.nsfw_channels_only,
            always_spoiler=self.always_spoiler,
            cooldown_seconds=self.cooldown_seconds,
            max_concurrent_jobs=self.max_concurrent_jobs,
            user_daily_images=self.user_daily_images,
            guild_daily_images=self.guild_daily_images,
            owner_only_buttons=self.owner_only_buttons,
            mod_log_channel=self.mod_log_channel,
        )


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]


def _config_path(init_settings: PydanticBaseSettingsSource) -> Path | None:
    given = getattr(init_settings, "init_kwargs", {})  # keyed by the alias when one matched
    path = given.get(CONFIG_ENV) or given.get("config_file") or os.environ.get(CONFIG_ENV)
    return Path(path).expanduser() if path else None


def _file_source(settings_cls: type[BaseSettings], path: Path) -> PydanticBaseSettingsSource:
    if not path.is_file():
        raise ConfigurationError(
            f"the Discord bot config file {path} does not exist (set by {CONFIG_ENV} or --config)",
            variables=(CONFIG_ENV,),
        )
    if path.suffix.lower() == ".json":
        return JsonConfigSettingsSource(settings_cls, json_file=path)
    return TomlConfigSettingsSource(settings_cls, toml_file=path)


def environment_names(settings_cls: type[BaseSettings]) -> dict[str, str]:
    """Every environment variable a settings class reads → its field name."""
    names: dict[str, str] = {}
    prefix = str(settings_cls.model_config.get("env_prefix") or "")
    for name, info in settings_cls.model_fields.items():
        alias = info.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias] if alias else []
        variables = [str(c) for c in choices if isinstance(c, str) and c.isupper()]
        for variable in variables or [(prefix + name).upper()]:
            names[variable] = name
    return names


def _refuse_unknown_variables(settings_cls: type[BaseSettings]) -> None:
    known = environment_names(settings_cls)
    for variable in sorted(os.environ):
        if variable.startswith(ENV_PREFIX) and variable not in known:
            raise UnknownSettingError(variable, where="the environment", known=known)

