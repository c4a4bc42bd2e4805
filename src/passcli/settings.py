"""Settings from PASSCLI_* environment variables and the project's optional `.env` file.

Secrets are `SecretStr`, so they never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from passcli.errors import UsageError
from passcli.timeutil import InvalidTimestamp, parse_instant, zone

PROJECT_DIR_ENV = "PASSCLI_PROJECT_DIR"


class Settings(BaseSettings):
    """Every setting of SPEC §1; field `x` is read from PASSCLI_X."""

    model_config = SettingsConfigDict(
        env_prefix="PASSCLI_", extra="ignore", frozen=True, env_file_encoding="utf-8"
    )

    project_dir: Path = Field(default_factory=Path.cwd)
    database_url: str | None = None
    timezone: str = "UTC"
    now: str | None = None
    org_name: str = "Our Organization"
    dashboard_url: str = "https://example.com/pass/{customer_id}"
    unsubscribe_url: str = "https://example.com/unsubscribe"
    secret_key: SecretStr | None = None
    email_transport: Literal["outbox", "smtp", "console"] = "outbox"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    email_from: str = "passcli@example.com"
    sms_transport: Literal["outbox", "twilio", "console"] = "outbox"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    twilio_api_base: str = "https://api.twilio.com"
    public_url: str | None = None
    default_region: str = "US"
    segment_write_key: SecretStr | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value

    @field_validator(
        "secret_key", "smtp_password", "twilio_auth_token", "segment_write_key", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("default_region")
    @classmethod
    def _region_upper(cls, value: str) -> str:
        return value.upper()

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)

    @property
    def store_url(self) -> str:
        """The store's SQLAlchemy URL: PASSCLI_DATABASE_URL or the project's passcli.db."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.project_dir / 'passcli.db'}"

    def pinned_now(self) -> datetime | None:
        """PASSCLI_NOW as an aware instant, or None when the clock should be read."""
        if not self.now:
            return None
        try:
            return parse_instant(self.now, self.tz)
        except InvalidTimestamp as exc:
            raise UsageError(f"PASSCLI_NOW is {exc}") from None


def load_settings(project_dir: Path | None = None, **overrides: Any) -> Settings:
    """Settings for a project: environment, then `<project>/.env`, then explicit overrides.

    The project directory comes from the argument, else PASSCLI_PROJECT_DIR, else the cwd.
    """
    if project_dir is None:
        env_dir = os.environ.get(PROJECT_DIR_ENV)
        project_dir = Path(env_dir) if env_dir else Path.cwd()
    project_dir = project_dir.resolve()
    if not project_dir.is_dir():
        raise UsageError(f"project directory {project_dir} does not exist")
    env_file = project_dir / ".env"
    try:
        return Settings(
            _env_file=env_file if env_file.is_file() else None,
            project_dir=project_dir,
            **overrides,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "setting"
        raise UsageError(f"PASSCLI_{field.upper()} is invalid: {first['msg']}") from None
