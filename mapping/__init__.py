"""Mapping components of the incident-mapping system (live coordinator map, map assets)."""
