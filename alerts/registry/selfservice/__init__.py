"""Public self-registration for the vulnerable-persons registry (New Jersey's Register Ready is self-service)."""
