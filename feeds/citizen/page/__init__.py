"""The citizen report page ``/report`` (offline-first, from any phone), its service worker and the tracking page ``/r/{id}``."""
