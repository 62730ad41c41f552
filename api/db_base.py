"""What every table module of the database shares: the declarative `Base` the tables register on, UTC timestamps.
Kept apart from api/db.py so the table modules (db_access, db_ledger, ...) import it without importing db.py,
which imports them all (the schema is whole once vigil.api.db is imported)."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime
from sqlalchemy.orm import DeclarativeBase


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def utc(dt: datetime) -> datetime:
    """`dt` as aware UTC; a naive value is taken as UTC (SQLite stores naive values; its text compares as UTC)."""
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


class Base(DeclarativeBase):
    pass


class UTCDateTime(DateTime):
    """Timezone-aware UTC timestamps on every backend (SQLite stores naive values)."""

    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)
