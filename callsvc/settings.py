"""Service settings, read once from CALLSVC_* environment variables."""

import base64
import binascii
import ipaddress
from functools import cached_property
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Depends, Request
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service, each with a default that works on a laptop."""

    model_config = SettingsConfigDict(env_prefix="CALLSVC_", frozen=True)

    database_url: str = "sqlite:///./callsvc.db"
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    forwarded_allow_ips: str = "127.0.0.1"
    timezone: str = "UTC"
    log_level: str = "info"
    default_region: str = "RU"
    min_talk_seconds: int = 0
    tag_outbound: bool = False
    tag_deadline_minutes: int = 10
    escalate_after_minutes: int = 60
    gate_max_overdue: int = 3
    retag_window_minutes: int = 60
    tick_seconds: float = Field(5, gt=0)
    scheduler_enabled: bool = True
    stale_call_hours: float = 4
    feed_settle_seconds: float = 2
    max_body_bytes: int = Field(1_048_576, gt=0)
    body_read_timeout_seconds: float = Field(10, gt=0)
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    db_statement_timeout_ms: int = Field(5000, gt=0)
    db_lock_timeout_ms: int = Field(2000, gt=0)
    # psycopg waits at least 2 s whatever it is told.
    db_connect_timeout_s: int = Field(5, ge=2)
    generic_secret: str | None = None
    twilio_auth_token: str | None = None
    zadarma_api_secret: str | None = None
    zadarma_timezone: str | None = None
    zadarma_allowed_ips: str | None = None
    mango_api_key: str | None = None
    mango_api_salt: str | None = None
    aircall_token: str | None = None

    @field_validator("timezone", "zadarma_timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("generic_secret")
    @classmethod
    def _standard_webhooks_key(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
        except binascii.Error as exc:
            raise ValueError("must be a whsec_-prefixed base64 key; `callsvc secret` prints one") from exc
        if len(key) < 16:
            raise ValueError("must hold at least 16 random bytes; `callsvc secret` prints a good one")
        return value

    @field_validator("zadarma_allowed_ips")
    @classmethod
    def _ip_networks(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            _networks(value)
        except ValueError as exc:
            raise ValueError(f"must be IP addresses or networks separated by commas: {exc}") from exc
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        if value.lower() not in {"critical", "error", "warning", "info", "debug"}:
            raise ValueError("log_level must be one of critical, error, warning, info, debug")
        return value.lower()

    @cached_property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @cached_property
    def zadarma_zone(self) -> ZoneInfo:
        """The time zone of Zadarma's call_start: the account's, CALLSVC_TIMEZONE unless told."""
        return ZoneInfo(self.zadarma_timezone or self.timezone)

    @cached_property
    def zadarma_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None:
        """Where Zadarma's webhooks may come from; None lets any address in."""
        return _networks(self.zadarma_allowed_ips) if self.zadarma_allowed_ips else None


def _networks(value: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip()]


async def get_settings(request: Request) -> Settings:
    """Return the settings the running app was built with."""
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]
