"""Pick the store backend from its URL."""

from __future__ import annotations

from emergency.errors import ConfigError
from emergency.store.base import Store


async def open_store(url: str) -> Store:
    """Open the store at ``url`` (``sqlite:///path`` or ``postgresql://...``) and create its schema."""
    store: Store
    if url.startswith("sqlite:"):
        from emergency.store.sqlite import SQLiteStore

        store = SQLiteStore(url)
    elif url.startswith(("postgresql://", "postgres://")):
        from emergency.store.postgis import PostGISStore

        store = PostGISStore(url)
    else:
        raise ConfigError(f"store URL must start with sqlite:/// or postgresql://, got {url.split(':')[0]!r}")
    await store.open()
    return store
