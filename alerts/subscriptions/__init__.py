"""Citizens' alert subscriptions: areas, channels (confirmed before use), languages, tier choices."""
