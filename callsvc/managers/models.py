"""Managers (sales reps) and what each PBX calls them."""

from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints, field_validator
from sqlalchemy import UniqueConstraint
from sqlmodel import Field, Relationship, SQLModel

from callsvc.db import UTCDateTime

# Enough to catch a name typed into the e-mail box; the mail server is the real judge.
Email = Annotated[str, StringConstraints(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class Manager(SQLModel, table=True):
    __tablename__ = "manager"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=320)
    team: str | None = Field(default=None, max_length=200, index=True)
    active: bool = True
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)

    identities: list["ManagerIdentity"] = Relationship(
        back_populates="manager",
        sa_relationship_kwargs={
            "lazy": "selectin",
            "cascade": "all, delete-orphan",
            "order_by": "ManagerIdentity.id",
        },
    )


class ManagerIdentity(SQLModel, table=True):
    __tablename__ = "manager_identity"
    __table_args__ = (UniqueConstraint("provider", "identity"),)

    id: int | None = Field(default=None, primary_key=True)
    manager_id: int = Field(foreign_key="manager.id", index=True)
    provider: str = Field(max_length=20)
    identity: str = Field(max_length=200)

    manager: Manager = Relationship(back_populates="identities")


class IdentityIn(SQLModel):
    provider: str = Field(min_length=1, max_length=20)
    identity: str = Field(min_length=1, max_length=200)

    @field_validator("identity")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class ManagerCreate(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    email: Email | None = None
    team: str | None = Field(default=None, min_length=1, max_length=200)
    active: bool = True
    identities: list[IdentityIn] = []


class ManagerUpdate(SQLModel):
    # name and active may be left out but not sent as null (the None defaults only mark "not sent");
    # email and team may be null, which clears them.
    name: str = Field(default=None, min_length=1, max_length=200)
    email: Email | None = None
    team: str | None = Field(default=None, min_length=1, max_length=200)
    active: bool = None
    identities: list[IdentityIn] | None = None


class IdentityRead(SQLModel):
    provider: str
    identity: str


class ManagerRead(SQLModel):
    id: int
    name: str
    email: str | None
    team: str | None
    active: bool
    identities: list[IdentityRead]
    created_at: datetime
    updated_at: datetime


class ManagerPage(SQLModel):
    items: list[ManagerRead]
    next_cursor: str | None
