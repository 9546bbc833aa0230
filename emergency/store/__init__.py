"""The COP store: journal + outbox and the projection, plus per-domain repositories on the same
connection (``emergency.store.repository``). Two backends, one interface."""

from emergency.store.base import EventQuery, OutboxRow, Store
from emergency.store.factory import open_store

__all__ = ["EventQuery", "OutboxRow", "Store", "open_store"]
