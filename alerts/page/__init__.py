"""The public alerts page ``/alerts``: active alerts around a place, subscribing, offline assets (mobile first)."""
