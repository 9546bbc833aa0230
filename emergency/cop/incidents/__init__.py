"""Incidents: reports correlated into incidents, coordinators' actions on them, and their public status."""
