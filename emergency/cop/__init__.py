"""The common operating picture: layers, public features, processors and read API."""
