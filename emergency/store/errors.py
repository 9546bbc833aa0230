"""Which driver errors mean the store cannot be reached right now (rather than a bug or a bad request).

Intake turns them into :class:`emergency.errors.StoreError`, which the HTTP edge answers with 503
and ``Retry-After`` (the submission was not journaled: the client should send it again); the
stream processors restart from their committed offset on them (``emergency.stream.consumer``).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

import asyncpg

from emergency.errors import StoreError

UNREACHABLE: tuple[type[BaseException], ...] = (
    StoreError, OSError, TimeoutError, sqlite3.OperationalError,
    asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.OperatorInterventionError, asyncpg.exceptions.InsufficientResourcesError,
)


@contextlib.contextmanager
def store_unreachable_is_store_error(what: str) -> Iterator[None]:
    """Re-raise an error of :data:`UNREACHABLE` inside the block as a StoreError saying ``what`` could not be done."""
    try:
        yield
    except StoreError:
        raise
    except UNREACHABLE as exc:
        raise StoreError(f"store: {what}: the store cannot be reached right now ({type(exc).__name__})") from exc
