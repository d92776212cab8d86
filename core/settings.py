"""All configuration, read once from the environment (and an optional ``.env``) at an entry point.

Keys use each provider's own conventional variable names (``ARK_API_KEY``, ``VOLC_ACCESSKEY`` …); everything
else is ``SEEDREAM_*``. Keys are ``SecretStr`` so they never print.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

APP_NAME = "seedream-studio"

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

def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)

class Settings(BaseSettings):
    """Configuration for the core. Build it in an entry point and pass it down."""

    # An empty variable is not set: hosts write "" for a field left empty (e.g. Claude Desktop's form).
    model_config = SettingsConfigDict(env_prefix="SEEDREAM_", env_file=".env", extra="ignore",
                                      populate_by_name=True, env_ignore_empty=True)

    provider: str | None = Field(None, description="default provider: ark, visual, chanjing, gateway, sandbox…")

    # Volcengine Ark
    ark_api_key: SecretStr | None = Field(None, validation_alias=_env("ARK_API_KEY", "SEEDREAM_ARK_API_KEY"))
    ark_base_url: str = "https://ark.cn-beijing.volces.com/api/v3"
    # Volcengine Visual (CVProcess)
    volc_accesskey: SecretStr | None = Field(None, validation_alias=_env("VOLC_ACCESSKEY", "SEEDREAM_VOLC_ACCESSKEY"))
    volc_secretkey: SecretStr | None = Field(None, validation_alias=_env("VOLC_SECRETKEY", "SEEDREAM_VOLC_SECRETKEY"))
    visual_base_url: str = "https://visual.volcengineapi.com"
    visual_region: str = "cn-north-1"
    visual_service: str = "cv"
    # Chanjing
    chanjing_app_id: SecretStr | None = Field(None, validation_alias=_env("CHANJING_APP_ID",
                                                                          "SEEDREAM_CHANJING_APP_ID"))
    chanjing_secret_key: SecretStr | None = Field(None, validation_alias=_env("CHANJING_SECRET_KEY",
                                                                              "SEEDREAM_CHANJING_SECRET_KEY"))
    chanjing_base_url: str = "https://open-api.chanjing.cc"
    chanjing_poll_interval: float = Field(4.0, gt=0)
    chanjing_deadline: float = Field(300.0, gt=0)
    # OpenAI-compatible gateway
    gateway_api_key: SecretStr | None = None
    gateway_base_url: str = "https://api-platform.ope.ai"

    # Where results go
    data_dir: Path = Field(default_factory=user_data_dir)
    output_dir: Path | None = None  # default: <data_dir>/images
    jobs_db: Path | None = None  # default: <data_dir>/jobs.sqlite3

    # Admission: the provider account's caps (0 = unlimited)
    ark_concurrency: int = Field(4, ge=0)
    ark_images_per_minute: int = Field(500, ge=0)
    visual_concurrency: int = Field(2, ge=0)
    visual_images_per_minute: int = Field(0, ge=0)
    chanjing_concurrency: int = Field(4, ge=0)
    chanjing_images_per_minute: int = Field(0, ge=0)
    gateway_concurrency: int = Field(4, ge=0)
    gateway_images_per_minute: int = Field(0, ge=0)

    # HTTP
    connect_timeout: float = Field(10.0, gt=0)
    image_timeout: float = Field(180.0, gt=0, description="read timeout per image; generations take ~30 s")
    max_retries: int = Field(3, ge=0)
    max_download_bytes: int = Field(64 * 1024 * 1024, gt=0)

    # Built-in sandbox (the emulator in-process)
    sandbox_latency: float = Field(0.0, ge=0, description="seconds per image the sandbox takes")

    @field_validator("data_dir", "output_dir", "jobs_db", mode="after")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().absolute() if value is not None else None

    @property
    def images_dir(self) -> Path:
        return self.output_dir or self.data_dir / "images"

    @property
    def jobs_path(self) -> Path:
        return self.jobs_db or self.data_dir / "jobs.sqlite3"

    def limits_for(self, provider: str) -> tuple[int, int]:
        """(concurrency, images per minute) for a provider kind; 0 means unlimited."""
        return getattr(self, f"{provider}_concurrency"), getattr(self, f"{provider}_images_per_minute")
