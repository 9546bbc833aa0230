"""Social signal: stream adapters, filter rules, relevance, places, near-duplicate collapse -> raw.social."""
