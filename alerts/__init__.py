"""Public warning: alert tiers, issuing, and push to subscribers."""
