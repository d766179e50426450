"""API keys: random tokens stored as SHA-256, each bound to a role and a scope."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlmodel import Field, SQLModel

from callsvc.api import RowId
from callsvc.db import UTCDateTime


class Role(StrEnum):
    admin = "admin"
    supervisor = "supervisor"
    rep = "rep"
    crm = "crm"


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    role: Role = Field(sa_type=String(20))
    team: str | None = Field(default=None, max_length=200)
    manager_id: int | None = Field(default=None, foreign_key="manager.id", index=True)
    key_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiKeyCreate(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    team: str | None = Field(default=None, min_length=1, max_length=200)
    manager_id: RowId | None = None


class ApiKeyRead(SQLModel):
    id: int
    name: str
    role: Role
    team: str | None
    manager_id: int | None
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The key itself. It is shown only once.")


class ApiKeyPage(SQLModel):
    items: list[ApiKeyRead]
    next_cursor: str | None
