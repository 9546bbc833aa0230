"""Storage per domain: each domain keeps its tables in its own small repository.

The ``Store`` holds only the kernel's journal/outbox and projection. Any other domain (API
tokens, social filter rules, stream cursors, and next subscriptions, shelters, incidents)
stores its rows through a *repository* that shares the store's connection, so a new domain
adds a repository and never a method on the store or its two backends.

How a domain adds one, in its own package (e.g. ``emergency/auth/repository.py``):

1. A ``Protocol`` naming what the domain needs (``TokenRepository``: ``put``, ``get``,
   ``revoke``), with domain objects in and out.
2. Two implementations side by side: one subclassing ``SQLiteRepository`` (calls
   ``await self.run(fn)``; ``fn(conn)`` runs on the store's owning thread with its
   ``sqlite3.Connection``, serialised with every other store call; use one ``fn`` per
   transaction) and one subclassing ``PostGISRepository`` (``pool = await self.pool()``, the
   store's asyncpg pool). Each sets ``schema``: its DDL for that dialect, idempotent
   (``CREATE TABLE IF NOT EXISTS ...``). Tables keep their names when a domain moves.
3. One ``RepositorySpec`` tying them together::

       TOKENS = RepositorySpec[TokenRepository]("tokens", sqlite=SQLiteTokens, postgis=PostGISTokens)

Callers then write ``store.repository(TOKENS).get(token_hash)``: the store builds the
implementation of its ``dialect`` ("sqlite" or "postgis") once and caches it; the
repository applies its ``schema`` before its first statement (once per store object, under
the same lock the store uses for its own schema on PostGIS). The kernel never imports a
domain's repository; tests run each one against both backends (``store_url`` fixture).

What each backend exposes for this: ``dialect``, ``repository(spec)``, ``apply_schema(ddl)``,
and its connection primitive (``SQLiteStore.run(fn)``, ``PostGISStore.pool``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Generic, Literal, TypeVar

if TYPE_CHECKING:
    import sqlite3

    import asyncpg

    from emergency.store.postgis import PostGISStore
    from emergency.store.sqlite import SQLiteStore

Dialect = Literal["sqlite", "postgis"]

R = TypeVar("R")
T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class RepositorySpec(Generic[R]):
    """One domain's storage: its name and the implementation of its interface ``R`` per dialect."""

    name: str
    sqlite: Callable[[SQLiteStore], R]
    postgis: Callable[[PostGISStore], R]


class SQLiteRepository:
    """Base of a domain repository on the SQLite store: ``run`` executes on the store's thread."""

    schema: ClassVar[str]

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        self._ready = False

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(conn)`` on the store's owning thread, after this repository's schema exists."""
        if not self._ready:
            await self.store.apply_schema(self.schema)
            self._ready = True
        return await self.store.run(fn)


class PostGISRepository:
    """Base of a domain repository on the PostGIS store: ``pool`` is the store's asyncpg pool."""

    schema: ClassVar[str]

    def __init__(self, store: PostGISStore) -> None:
        self.store = store
        self._ready = False

    async def pool(self) -> asyncpg.Pool:
        """The store's pool, after this repository's schema exists."""
        if not self._ready:
            await self.store.apply_schema(self.schema)
            self._ready = True
        return self.store.pool

