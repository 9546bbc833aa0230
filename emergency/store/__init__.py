"""The COP store: journal + outbox, the projection, and API tokens. Two backends, one interface."""

from emergency.store.base import EventQuery, OutboxRow, Store, TokenRecord
from emergency.store.factory import open_store

__all__ = ["EventQuery", "OutboxRow", "Store", "TokenRecord", "open_store"]
