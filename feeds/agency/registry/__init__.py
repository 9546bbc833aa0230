"""The agencies admin: registering agencies (name, jurisdiction, contacts), changing them, and the audit log."""
