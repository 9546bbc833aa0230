"""External feeds: other agencies' public feeds (GeoJSON, GeoRSS/RSS/Atom, CAP Atom indexes) polled on
their interval, each new or changed item journaled to ``raw.feeds``, items that leave a feed ended."""
