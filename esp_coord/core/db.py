"""Declarative base, naming convention, UUID primary keys and UTC timestamps for both engines."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, registry

from esp_coord.core.time import utc_now

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware datetimes stored as UTC; naive values are refused."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: use esp_coord.core.time.utc_now()")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    registry = registry(
        metadata=sa.MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime(), uuid.UUID: sa.Uuid(as_uuid=True)},
    )

    def __repr__(self) -> str:  # ids only, never personal data
        return f"<{type(self).__name__} {getattr(self, 'id', '?')}>"


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(as_uuid=True), primary_key=True, default=uuid.uuid4)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now, onupdate=utc_now, nullable=False)


def uuid_fk(target: str, *, nullable: bool = False, ondelete: str | None = None, index: bool = True):
    """A UUID foreign key column."""
    return mapped_column(
        sa.Uuid(as_uuid=True), sa.ForeignKey(target, ondelete=ondelete), nullable=nullable, index=index
    )


def parse_uuid(value) -> uuid.UUID | None:
    """Parse a UUID from a URL or form; None when malformed (callers answer 404/400)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None



class StrEnumType(sa.types.TypeDecorator):
    """A `StrEnum` stored as its value in a VARCHAR; rows come back as enum members.

        status: Mapped[MeetingStatus] = mapped_column(StrEnumType(MeetingStatus), nullable=False)
        __table_args__ = (enum_check("status", MeetingStatus),)

    The allowed values are enforced by the CHECK constraint of `enum_check` (declared in the model and
    created by the feature's migration), not by a database ENUM type, so adding a member is one migration
    that replaces the constraint on both engines.
    """

    impl = sa.String
    cache_ok = True

    def __init__(self, enum_cls: type[StrEnum], length: int | None = None) -> None:
        self.enum_cls = enum_cls
        super().__init__(length or max(len(m.value) for m in enum_cls))

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return self.enum_cls(value).value  # ValueError on an unknown value, before the database sees it

    def process_result_value(self, value: Any, dialect: Any) -> StrEnum | None:
        return None if value is None else self.enum_cls(value)


def enum_check(column: str, enum_cls: type[StrEnum], *, nullable: bool = False) -> sa.CheckConstraint:
    """CHECK constraint limiting ``column`` to the enum's values (named ``ck_<table>_<column>_enum``)."""
    values = ", ".join(f"'{member.value}'" for member in enum_cls)
    condition = f"{column} IN ({values})"
    if nullable:
        condition = f"{column} IS NULL OR {condition}"
    return sa.CheckConstraint(condition, name=f"{column}_enum")
