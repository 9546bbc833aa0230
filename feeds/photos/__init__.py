"""Photos of citizen and agency reports: type by content, size and pixel limits, EXIF GPS as a location hint,
every metadata block stripped by re-encoding, stored by content hash under the data directory.

The one entry point for every intake path: :func:`feeds.photos.service.accept_photo`."""
