"""Social-media posts: keyword filter and replay of post files."""
