"""Settings of the MCP adapter (``SEEDREAM_MCP_*``), read once at the entry point beside ``core.settings``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Claude Desktop rejects a tool result over 1,048,576 characters; inline base64 stays well under it.
DEFAULT_INLINE_BUDGET = 700_000


class McpSettings(BaseSettings):
    """How the MCP server shapes results, waits for jobs and listens."""

    # An empty variable is not set: Claude Desktop writes "" for a field left empty in the bundle's form.
    model_config = SettingsConfigDict(env_prefix="SEEDREAM_MCP_", env_file=".env", extra="ignore",
                                      env_ignore_empty=True, allow_inf_nan=False)

    transport: Literal["stdio", "http"] = "stdio"
    host: str = "127.0.0.1"
    port: int = Field(8791, ge=0, le=65535)
    token: SecretStr | None = Field(None, description="bearer token the HTTP transport requires")
    tokens_file: Path | None = Field(
        None, description='JSON file of named bearer tokens for the HTTP transport: {"<token>": "<user name>"}'
    )
    allowed_dirs: str | None = Field(
        None,
        description="os.pathsep-separated folders local reference images may come from "
        "(default: the home folder and the output folder)",
    )
    inline_budget: int = Field(
        DEFAULT_INLINE_BUDGET, ge=0, description="max base64 characters of previews per result"
    )
    preview_max_side: int = Field(1568, ge=64, description="long edge of an inline preview, at most")
    preview_max_pixels: int = Field(1_150_000, ge=4096, description="pixels of an inline preview, at most")
    preview_min_side: int = Field(384, ge=32, description="a preview that would be smaller is left out")
    max_inline_images: int = Field(8, ge=0, description="previews per result, at most")
    wait_seconds: float = Field(45.0, ge=0, description="wait this long for a job before returning its id")
    heartbeat_seconds: float = Field(5.0, gt=0, description="progress notification interval while waiting")
    task_poll_seconds: float = Field(2.0, gt=0, description="how often a task's client should poll (MCP Tasks)")
    user_daily_images: int = Field(
        0, ge=0, description="images each named user (SEEDREAM_MCP_TOKENS_FILE) may make per UTC day; 0: no limit"
    )
    follow_poll_seconds: float = Field(
        0.5, gt=0, description="how often a job another replica runs is re-read from the job store while waiting"
    )
    resource_max_bytes: int = Field(
        32 * 1024 * 1024, ge=0, description="largest image resources/read returns (larger: an error naming the preview)"
    )
