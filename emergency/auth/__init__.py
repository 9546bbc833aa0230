"""API tokens with roles: random, stored hashed, revocable."""
