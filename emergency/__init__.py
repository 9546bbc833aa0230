"""Core of the emergency common operating picture: events, settings, stream, store, API and CLI."""

__version__ = "0.1.0"
