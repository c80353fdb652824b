"""Database engine and sessions. Routes and tasks open sessions; services only receive them."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import CursorResult, DateTime, Engine, Executable, create_engine, event, func, select, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from app.core.config import get_settings


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


def utcnow() -> datetime:
    return datetime.now(UTC)


def db_now(session: Session) -> datetime:
    """The database server's clock. Leases are stamped by one host and judged by another, so they use this one
    clock rather than each host's own, which may run ahead or behind."""
    if session.get_bind().dialect.name == "sqlite":
        # SQLite's clock is the host's, but it is the one clock every process of an embedded service shares.
        stamp = session.scalar(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"))
        return datetime.fromisoformat(str(stamp)).replace(tzinfo=UTC)
    # clock_timestamp, not now(): now() is frozen at the start of the transaction.
    clock: datetime = session.execute(select(func.clock_timestamp())).scalar_one()
    return clock.astimezone(UTC)


def affected_rows(session: Session, statement: Executable) -> int:
    """Run an UPDATE or DELETE and return how many rows matched: how a conditional write learns it won."""
    return cast(CursorResult[Any], session.execute(statement)).rowcount


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    # WAL lets the API read while the worker writes; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@lru_cache
def get_engine() -> Engine:
    return make_engine(get_settings().database_url)


@lru_cache
def session_factory() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


def get_session() -> Iterator[Session]:
    """FastAPI dependency: one session per request."""
    with session_factory()() as session:
        yield session


@contextmanager
def session_scope() -> Iterator[Session]:
    """For tasks and scripts: a session that commits on success and rolls back on error."""
    with session_factory()() as session, session.begin():
        yield session
